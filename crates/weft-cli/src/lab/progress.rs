//! Progress bars: one per section, its message naming the probe that is running.
//!
//! Bars are drawn on stderr only when stdout is a terminal and the JSON document is not being
//! printed; otherwise they are hidden and cost nothing.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// All the lab's bars.
#[derive(Debug)]
pub struct LabProgress {
    multi: MultiProgress,
    visible: bool,
}

impl LabProgress {
    /// Bars drawn on stderr when `visible`, hidden otherwise.
    pub fn new(visible: bool) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            multi: MultiProgress::with_draw_target(target),
            visible,
        }
    }

    /// A bar for a section with `steps` probes.
    pub fn section(&self, name: &str, steps: u64) -> Progress {
        if !self.visible {
            return Progress::hidden();
        }
        let bar = self.multi.add(ProgressBar::new(steps));
        let style = ProgressStyle::with_template(
            "{prefix:>10} {spinner} [{bar:30}] {pos:>2}/{len:2} {elapsed:>4}  {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(name.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar }
    }

    /// Runs `f` (which prints) with the bars cleared, then redraws them.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }
}

/// The progress of one section, handed to [`super::Section::run`].
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar that draws nothing.
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }

    /// Says which probe is running.
    pub fn probe(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
    }

    /// Counts one probe as done.
    pub fn done(&self) {
        self.bar.inc(1);
    }

    /// Removes the bar (the section's tables, printed next, say how long it took).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
