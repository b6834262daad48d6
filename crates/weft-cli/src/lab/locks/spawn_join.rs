//! A whole job on one lock, spawns and joins included, as a new user would time it.
//!
//! From the probe process's main kernel thread: spawn `threads` weft green threads on a
//! `workers`-worker runtime with `Runtime::spawn`, each doing `pairs` increments
//! `*m.lock() += 1` of one shared `weft::sync::Mutex<u64>`, join them all; the time runs from
//! before the first spawn to after the last join. tokio: the same job with `tokio::spawn`ed
//! tasks on `tokio::sync::Mutex`, on a `workers`-worker multi-thread runtime, from
//! `block_on`. The rounds alternate weft, tokio, weft, ... in one process (both runtimes
//! built first, idle while the other runs); the process's figure for each is its best
//! round, as the job's first user measured it.
//!
//! Unlike the throughput probes, nothing here is calibrated or gated: the spawns from a
//! kernel thread (into the runtime's injector), the workers' first steals and the joins
//! are all in the time, and the count is checked exactly after every round.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::lab::stats::median;

/// Parameters of one process's rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    /// Green threads (tokio: tasks) per round.
    pub threads: usize,
    /// Lock/unlock pairs each of them does.
    pub pairs: u64,
    /// Workers of both runtimes.
    pub workers: usize,
    /// Rounds of each, alternating.
    pub rounds: usize,
}

/// What one process found: lock/unlock pairs per second of each round.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// weft's rounds, pairs per second.
    pub weft: Vec<f64>,
    /// tokio's rounds, pairs per second.
    pub tokio: Vec<f64>,
}

impl Outcome {
    /// The best round of weft's and of tokio's.
    pub fn best(&self) -> Option<(f64, f64)> {
        let w = self.weft.iter().copied().reduce(f64::max)?;
        let t = self.tokio.iter().copied().reduce(f64::max)?;
        Some((w, t))
    }

    /// weft's best round over tokio's: how many times tokio's throughput.
    pub fn ratio(&self) -> Option<f64> {
        self.best().map(|(w, t)| w / t)
    }
}

/// The processes of one run, in the order they ran.
#[derive(Debug, Clone, Default)]
pub struct Processes(pub Vec<Outcome>);

impl Processes {
    /// Each process's ratio (best weft round over best tokio round).
    pub fn ratios(&self) -> Vec<f64> {
        self.0.iter().filter_map(Outcome::ratio).collect()
    }

    /// Median and lowest process ratio.
    pub fn ratio_median_worst(&self) -> Option<(f64, f64)> {
        let r = self.ratios();
        Some((median(&r)?, r.iter().copied().reduce(f64::min)?))
    }
}

/// Runs the rounds in this (child) process.
pub fn run(spec: &Spec) -> Result<Outcome, String> {
    if spec.threads == 0 || spec.pairs == 0 || spec.workers == 0 || spec.rounds == 0 {
        return Err(format!("an empty spawn-and-join job: {spec:?}"));
    }
    let weft_rt = weft::Runtime::builder()
        .workers(spec.workers)
        .build()
        .map_err(|e| format!("building a weft runtime: {e}"))?;
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(spec.workers)
        .build()
        .map_err(|e| format!("building a tokio runtime: {e}"))?;
    let mut out = Outcome::default();
    for _ in 0..spec.rounds {
        out.weft.push(weft_round(&weft_rt, spec)?);
        out.tokio.push(tokio_round(&tokio_rt, spec)?);
    }
    Ok(out)
}

fn weft_round(rt: &weft::Runtime, spec: &Spec) -> Result<f64, String> {
    let m = Arc::new(weft::sync::Mutex::new(0u64));
    let pairs = spec.pairs;
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(spec.threads);
    for i in 0..spec.threads {
        let m = Arc::clone(&m);
        let h = weft::Builder::new()
            .spawn_on(rt, move || {
                for _ in 0..pairs {
                    *m.lock() += 1;
                }
            })
            .map_err(|e| format!("spawning green thread {} of {}: {e}", i + 1, spec.threads))?;
        handles.push(h);
    }
    for h in handles {
        h.join()
            .map_err(|_| "a green thread of the job panicked".to_owned())?;
    }
    let secs = t0.elapsed().as_secs_f64();
    check(*m.lock(), spec)?;
    Ok(total(spec) as f64 / secs)
}

fn tokio_round(rt: &tokio::runtime::Runtime, spec: &Spec) -> Result<f64, String> {
    let m = Arc::new(tokio::sync::Mutex::new(0u64));
    let pairs = spec.pairs;
    let threads = spec.threads;
    let t0 = Instant::now();
    let inner = Arc::clone(&m);
    rt.block_on(async move {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let m = Arc::clone(&inner);
                tokio::spawn(async move {
                    for _ in 0..pairs {
                        *m.lock().await += 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await
                .map_err(|e| format!("a task of the job failed: {e}"))?;
        }
        Ok::<(), String>(())
    })?;
    let secs = t0.elapsed().as_secs_f64();
    let n = *m.try_lock().map_err(|_| "the job's lock is still held")?;
    check(n, spec)?;
    Ok(total(spec) as f64 / secs)
}

fn total(spec: &Spec) -> u64 {
    spec.threads as u64 * spec.pairs
}

fn check(n: u64, spec: &Spec) -> Result<(), String> {
    if n == total(spec) {
        Ok(())
    } else {
        Err(format!(
            "the job counted {n} increments, not {} (lost updates)",
            total(spec)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_job_counts_exactly_and_rates_both() {
        let spec = Spec {
            threads: 20,
            pairs: 50,
            workers: 2,
            rounds: 2,
        };
        let o = run(&spec).unwrap();
        assert_eq!((o.weft.len(), o.tokio.len()), (2, 2));
        assert!(o.weft.iter().chain(&o.tokio).all(|r| *r > 0.0));
        let p = Processes(vec![o.clone(), o]);
        let (m, w) = p.ratio_median_worst().unwrap();
        assert_eq!(m, w);
    }

    #[test]
    fn an_empty_job_is_an_error() {
        let spec = Spec {
            threads: 0,
            pairs: 1,
            workers: 2,
            rounds: 1,
        };
        assert!(run(&spec).unwrap_err().contains("empty"));
    }
}
