//! The lab: each section of the survey, measured here and now.
//!
//! A [`Section`] checks the claims of one section of the survey (`seed/000_…txt`) on this
//! machine and compares weft with the peers a user would otherwise pick. The lab runs the
//! selected sections one after the other, each with a progress bar, prints a table per
//! section, and writes the whole [`Report`] as `report.json` and as a
//! self-contained `report.html` (inline CSS and SVG charts, no external resources).
//!
//! Sections (one module each): [`threads`], [`locks`], [`stm`], [`csp`], [`actors`],
//! [`multitasking`], [`ccs`].
//!
//! Measuring rules: every printed figure is measured in the run, except figures labelled as
//! quoted (the survey's own, and peers' figures quoted in the issue). Large probes run in a
//! fresh child process ([`child`]) so memory figures are clean; a probe that fails becomes a
//! row or a note saying so. Times are medians of repeats; the machine is small and shared.

pub mod actors;
pub mod ccs;
pub mod child;
pub mod csp;
pub mod locks;
pub mod machine;
pub mod multitasking;
pub mod procfs;
pub mod progress;
pub mod render;
pub mod report;
pub mod stats;
pub mod stm;
pub mod threads;

use std::fmt;
use std::fs;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use progress::{LabProgress, Progress};
use report::{Report, SectionReport};

/// How large and how long the measurements are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Tiny counts, seconds in all: for smoke tests and CI, figures are not meaningful.
    Test,
    /// The default: the survey's counts where they fit, about a minute or two in all.
    Quick,
    /// The same counts with more repeats and longer samples: several minutes.
    Full,
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Test => "test",
            Profile::Quick => "quick",
            Profile::Full => "full",
        })
    }
}

/// One section of the survey, measured.
pub trait Section: fmt::Debug + Send + Sync {
    /// Short name, as given to `--section`.
    fn name(&self) -> &'static str;
    /// Human title.
    fn title(&self) -> &'static str;
    /// The survey's claims the section checks, quoted.
    fn claim(&self) -> &'static str;
    /// How many probes [`Section::run`] reports progress for under `profile`.
    fn steps(&self, profile: Profile) -> u64;
    /// Measures everything and reports it. Must not panic because a probe failed.
    fn run(&self, profile: Profile, progress: &Progress) -> SectionReport;
    /// Runs one probe in this (child) process: `spec` is the JSON the section's
    /// [`Section::run`] passed to [`child::run_probe`]; the result is printed as JSON.
    fn probe(&self, spec: &str) -> Result<serde_json::Value, String>;
}

/// Every section, in the survey's order.
pub fn all_sections() -> Vec<Box<dyn Section>> {
    vec![
        Box::new(threads::Threads),
        Box::new(locks::Locks),
        Box::new(stm::Stm),
        Box::new(csp::Csp),
        Box::new(actors::Actors),
        Box::new(multitasking::Multitasking),
        Box::new(ccs::Ccs),
    ]
}

/// The `--section` value parser: the names of the sections, with their titles as help.
fn section_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(
        all_sections()
            .iter()
            .map(|s| PossibleValue::new(s.name()).help(s.title())),
    )
}

/// Arguments of the lab (`weft` with no subcommand, or `weft lab`).
#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// How large and long the measurements are.
    #[arg(long, value_enum, default_value_t = Profile::Quick)]
    pub profile: Profile,
    /// Run only this section (repeat the flag for several). Default: every section.
    #[arg(long = "section", value_name = "NAME", value_parser = section_parser())]
    pub sections: Vec<String>,
    /// Print the JSON document on stdout instead of tables (and no progress bars).
    #[arg(long)]
    pub json: bool,
    /// Directory for report.json and report.html.
    #[arg(long, value_name = "DIR", default_value = "weft-report")]
    pub out: PathBuf,
    /// Write no report files.
    #[arg(long)]
    pub no_report: bool,
}

/// Runs the lab.
pub fn run(args: &LabArgs) -> ExitCode {
    let sections: Vec<Box<dyn Section>> = all_sections()
        .into_iter()
        .filter(|s| args.sections.is_empty() || args.sections.iter().any(|n| n == s.name()))
        .collect();
    if !args.no_report {
        if let Err(e) = fs::create_dir_all(&args.out) {
            eprintln!(
                "error: cannot create the report directory '{}': {e}\n(choose another with --out <DIR>, or pass --no-report)",
                args.out.display()
            );
            return ExitCode::from(2);
        }
    }

    let started = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let machine = machine::Machine::detect();
    let interactive = !args.json && std::io::stdout().is_terminal();
    let bars = LabProgress::new(interactive);
    if !args.json {
        println!("{}", render::terminal::header(&machine, args.profile));
    }

    let mut reports = Vec::new();
    for section in &sections {
        let bar = bars.section(section.name(), section.steps(args.profile));
        let section_start = Instant::now();
        let mut report = section.run(args.profile, &bar);
        report.seconds = section_start.elapsed().as_secs_f64();
        bar.finish();
        if !args.json {
            bars.suspend(|| {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(render::terminal::section(&report).as_bytes());
                let _ = out.flush();
            });
        }
        reports.push(report);
    }

    let report = Report {
        format: report::FORMAT,
        weft_version: env!("CARGO_PKG_VERSION"),
        profile: args.profile,
        started_unix,
        seconds: started.elapsed().as_secs_f64(),
        machine,
        sections: reports,
    };

    let json = match serde_json::to_string_pretty(&report) {
        Ok(json) => json,
        Err(e) => {
            eprintln!("error: cannot encode the report as JSON: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        println!("{json}");
    }
    let mut code = ExitCode::SUCCESS;
    if !args.no_report {
        let json_path = args.out.join("report.json");
        let html_path = args.out.join("report.html");
        let written = fs::write(&json_path, &json)
            .and_then(|()| fs::write(&html_path, render::html::document(&report)));
        match written {
            Ok(()) => {
                let paths = format!(
                    "report: {}\n        {}",
                    display_path(&html_path),
                    display_path(&json_path)
                );
                if args.json {
                    eprintln!("{paths}");
                } else {
                    println!("{paths}");
                }
            }
            Err(e) => {
                eprintln!(
                    "error: cannot write the report in '{}': {e}",
                    args.out.display()
                );
                code = ExitCode::FAILURE;
            }
        }
    }
    if !args.json {
        println!("lab finished in {:.1} s", report.seconds);
    }
    code
}

fn display_path(path: &std::path::Path) -> String {
    fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}
