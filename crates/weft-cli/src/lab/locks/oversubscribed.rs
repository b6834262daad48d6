//! The survey's spinlock hazard: more spinning threads than CPUs.
//!
//! A fixed job of lock/unlock pairs, each holding the lock for a short piece of work (a few
//! dozen rounds of the hash loop), is shared by k kernel threads, k = 2, 4, 8 on a machine
//! with fewer CPUs than that, under each lock. A sleeping lock hands the CPU to the holder
//! when a waiter cannot get in; a spinning waiter keeps its CPU until the kernel preempts it,
//! so when the holder (or, for a FIFO lock, the thread whose turn is next) is not running,
//! everyone spins through whole time slices.
//!
//! That can be catastrophically slow, so each run is bounded: the threads stop starting new
//! pairs once a wall-time cap has passed, and the run reports how many pairs it finished. A
//! run that did not finish ends the repeats for that lock and thread count.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::harness::{kernel_gang, share, with_exclusive, Exclusive, Padded, Primitive, Start};
use crate::lab::stats::median;
use crate::lab::threads::oversubscription::spin;

/// Parameters of one probe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// The lock.
    pub lock: Primitive,
    /// Kernel threads sharing the job.
    pub threads: usize,
    /// Lock/unlock pairs in the whole job.
    pub pairs: u64,
    /// Rounds of the hash loop done while holding the lock.
    pub hold_rounds: u64,
    /// Wall-time cap of one run, milliseconds.
    pub cap_ms: u64,
    /// Runs to take (fewer if one does not finish).
    pub repeats: usize,
}

/// One run of the job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// Wall time from the common start to the last thread's end, milliseconds.
    pub wall_ms: f64,
    /// Pairs done (all of them if it finished).
    pub pairs_done: u64,
    /// Whether it did the whole job within the cap.
    pub finished: bool,
}

/// What one probe found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// The runs, in order; only the last may be unfinished.
    pub runs: Vec<Run>,
}

impl Outcome {
    /// Whether every run finished.
    pub fn finished(&self) -> bool {
        !self.runs.is_empty() && self.runs.iter().all(|r| r.finished)
    }

    /// Median wall time of the finished runs, milliseconds.
    pub fn wall_ms(&self) -> Option<f64> {
        let walls: Vec<f64> = self
            .runs
            .iter()
            .filter(|r| r.finished)
            .map(|r| r.wall_ms)
            .collect();
        median(&walls)
    }

    /// The unfinished run, if any.
    pub fn unfinished(&self) -> Option<&Run> {
        self.runs.iter().find(|r| !r.finished)
    }

    /// Nanoseconds per pair: the median of the finished runs, or, if a run did not finish, a
    /// lower bound from it (its wall time over the pairs it did).
    pub fn ns_per_pair(&self) -> Option<f64> {
        if let Some(r) = self.unfinished() {
            return (r.pairs_done > 0).then(|| r.wall_ms * 1e6 / r.pairs_done as f64);
        }
        let per: Vec<f64> = self
            .runs
            .iter()
            .filter(|r| r.pairs_done > 0)
            .map(|r| r.wall_ms * 1e6 / r.pairs_done as f64)
            .collect();
        median(&per)
    }
}

/// Runs the probe in this process (the child).
pub fn run(spec: &Spec) -> Result<Outcome, String> {
    if spec.threads == 0 || spec.pairs == 0 {
        return Err("the job needs at least one thread and one pair".to_owned());
    }
    with_exclusive!(spec.lock, L => {
        let mut runs = Vec::with_capacity(spec.repeats);
        for _ in 0..spec.repeats.max(1) {
            let run = once::<L>(spec)?;
            let stop = !run.finished;
            runs.push(run);
            if stop {
                break;
            }
        }
        Ok(Outcome { runs })
    })
}

/// How many pairs a thread does between looks at the clock.
const CLOCK_EVERY: u64 = 16;

fn once<L: Exclusive>(spec: &Spec) -> Result<Run, String> {
    let lock = Arc::new(Padded(L::with_value(0)));
    let (threads, pairs, hold) = (spec.threads, spec.pairs, spec.hold_rounds);
    let start = Start::new(Duration::from_millis(spec.cap_ms));
    let (l, st) = (Arc::clone(&lock), Arc::clone(&start));
    let (elapsed, done) = kernel_gang(threads, &start, move |i| {
        let mine = share(pairs, threads, i);
        let mut done = 0u64;
        while done < mine {
            if done % CLOCK_EVERY == 0 && st.expired() {
                break;
            }
            let mut guard = l.0.acquire();
            *guard += 1;
            black_box(spin(hold, *guard));
            drop(guard);
            done += 1;
        }
        done
    })?;
    let pairs_done: u64 = done.iter().sum();
    let counted = *lock.0.acquire();
    if counted != pairs_done {
        return Err(format!(
            "the lock lost updates: {counted} increments recorded for {pairs_done} pairs"
        ));
    }
    Ok(Run {
        wall_ms: elapsed.as_secs_f64() * 1e3,
        pairs_done,
        finished: pairs_done == pairs,
    })
}
