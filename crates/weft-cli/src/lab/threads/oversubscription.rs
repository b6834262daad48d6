//! The survey's claim that "once your number of threads exceeds the number of CPUs,
//! performance actually degrades due to the overhead from context switching".
//!
//! A fixed CPU-bound job (a fixed number of iterations of an integer hash loop, sized so it
//! takes a profile-dependent time on one thread of this machine) is split into k equal
//! chunks run by k threads, and the wall time from the first spawn to the last join is
//! measured: over k = 1, 2, 4, …, 256 kernel threads (`std::thread`) and k = 1, 10, 100, …,
//! 100 000 weft green threads (the default runtime, one worker per CPU, spawned from a green
//! thread). The total work is the same for every k, so any growth of the wall time beyond
//! k = CPUs is the cost of the extra threads: creating them and switching between them.
//! Each point is the median of the profile's repeats; each kind runs in a child process.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::lab::stats::median;

/// Which kind of thread to split the job over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `std::thread`.
    Kernel,
    /// weft green threads.
    Green,
}

impl Kind {
    /// The series label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Kernel => "kernel threads (std::thread)",
            Kind::Green => "weft green threads",
        }
    }
}

/// Parameters of one probe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// Which kind of thread.
    pub kind: Kind,
    /// The thread counts to try.
    pub splits: Vec<usize>,
    /// Iterations of the hash loop in the whole job.
    pub work: u64,
    /// Samples per split.
    pub repeats: usize,
}

/// The wall times of one split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    /// Threads the job was split over.
    pub threads: usize,
    /// Wall time of each sample, milliseconds.
    pub samples_ms: Vec<f64>,
}

impl Point {
    /// Median wall time, milliseconds.
    pub fn median_ms(&self) -> Option<f64> {
        median(&self.samples_ms)
    }
}

/// The CPU-bound work: `iterations` rounds of xorshift and multiply. Nothing in it can be
/// folded away or vectorised across iterations, and it touches no memory.
#[inline(never)]
pub fn spin(iterations: u64, seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..black_box(iterations) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
    }
    x
}

/// The number of iterations that take about `target` on one thread of this machine. The
/// fastest of a few timings is used: on a shared machine the others were slowed by others.
pub fn calibrate(target: Duration) -> u64 {
    let mut n: u64 = 1 << 16;
    let time = |n: u64| {
        let start = Instant::now();
        black_box(spin(n, 7));
        start.elapsed()
    };
    while time(n) < Duration::from_millis(20) && n < 1 << 40 {
        n *= 2;
    }
    let fastest = (0..5)
        .map(|_| time(n))
        .min()
        .unwrap_or(Duration::from_millis(20));
    let per_iteration = fastest.as_secs_f64() / n as f64;
    ((target.as_secs_f64() / per_iteration) as u64).max(1)
}

/// The share of the job for chunk `i` of `k`.
fn chunk(work: u64, k: usize, i: usize) -> u64 {
    let k = k as u64;
    work / k + u64::from((i as u64) < work % k)
}

/// Runs the probe in this process (the child).
pub fn run(spec: &Spec) -> Result<Vec<Point>, String> {
    let mut points = Vec::with_capacity(spec.splits.len());
    for &k in &spec.splits {
        let mut samples_ms = Vec::with_capacity(spec.repeats);
        for _ in 0..spec.repeats.max(1) {
            let elapsed = match spec.kind {
                Kind::Kernel => kernel(spec.work, k)?,
                Kind::Green => green(spec.work, k)?,
            };
            samples_ms.push(elapsed.as_secs_f64() * 1e3);
        }
        points.push(Point {
            threads: k,
            samples_ms,
        });
    }
    Ok(points)
}

fn kernel(work: u64, k: usize) -> Result<Duration, String> {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(k);
    for i in 0..k {
        let share = chunk(work, k, i);
        handles.push(
            thread::Builder::new()
                .spawn(move || spin(share, i as u64))
                .map_err(|e| format!("spawning kernel thread {} of {k}: {e}", i + 1))?,
        );
    }
    let mut sum = 0u64;
    for h in handles {
        sum = sum.wrapping_add(h.join().map_err(|_| "a worker thread panicked")?);
    }
    let elapsed = start.elapsed();
    black_box(sum);
    Ok(elapsed)
}

fn green(work: u64, k: usize) -> Result<Duration, String> {
    weft::spawn(move || {
        let start = Instant::now();
        let mut handles = Vec::with_capacity(k);
        for i in 0..k {
            let share = chunk(work, k, i);
            handles.push(
                weft::Builder::new()
                    .spawn(move || spin(share, i as u64))
                    .map_err(|e| format!("spawning green thread {} of {k}: {e}", i + 1))?,
            );
        }
        let mut sum = 0u64;
        for h in handles {
            sum = sum.wrapping_add(h.join().map_err(|_| "a green thread panicked")?);
        }
        let elapsed = start.elapsed();
        black_box(sum);
        Ok(elapsed)
    })
    .join()
    .map_err(|_| "the spawning green thread panicked".to_owned())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_add_up() {
        for (work, k) in [(10u64, 3usize), (7, 7), (5, 8), (1_000_003, 256)] {
            let total: u64 = (0..k).map(|i| chunk(work, k, i)).sum();
            assert_eq!(total, work);
        }
    }
}
