//! Small statistics for timing: medians of repeats, and choosing an iteration count so one
//! sample lasts about a target duration on this machine (so the same probe is neither too
//! short to time on a slow machine nor too long on a fast one).

use std::time::Duration;

/// Median of the samples (mean of the middle two for an even count); `None` if empty or any
/// sample is NaN.
pub fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() || samples.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 0 {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// Two things measured round by round in the same processes (see the paired probes of the
/// locks and STM sections): one figure per round for each.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Rounds {
    /// `samples[i][r]`: the figure of thing `i` in round `r`.
    pub samples: [Vec<f64>; 2],
}

impl Rounds {
    /// Adds the rounds of another process.
    pub fn extend(&mut self, other: Rounds) {
        let [a, b] = other.samples;
        self.samples[0].extend(a);
        self.samples[1].extend(b);
    }

    /// Rounds measured.
    pub fn len(&self) -> usize {
        self.samples[0].len()
    }

    /// Per round, thing `num`'s figure over the other's (rounds where the other's is not
    /// positive are left out).
    pub fn ratios(&self, num: usize) -> Vec<f64> {
        let (n, d) = (&self.samples[num & 1], &self.samples[1 - (num & 1)]);
        n.iter()
            .zip(d)
            .filter(|(_, d)| **d > 0.0)
            .map(|(n, d)| n / d)
            .collect()
    }

    /// The median of [`Rounds::ratios`].
    pub fn median_ratio(&self, num: usize) -> Option<f64> {
        median(&self.ratios(num))
    }

    /// The smallest and largest of [`Rounds::ratios`].
    pub fn ratio_range(&self, num: usize) -> Option<(f64, f64)> {
        let r = self.ratios(num);
        let lo = r.iter().copied().reduce(f64::min)?;
        let hi = r.iter().copied().reduce(f64::max)?;
        Some((lo, hi))
    }

    /// [`Rounds::median_ratio`], [`Rounds::ratio_range`] and the number of rounds.
    pub fn summary(&self, num: usize) -> Option<(f64, f64, f64, usize)> {
        let (lo, hi) = self.ratio_range(num)?;
        Some((self.median_ratio(num)?, lo, hi, self.len()))
    }
}

/// A [`Rounds::summary`] in words: "`what`, round by round in the same processes: 1.39x
/// (rounds 0.43x-5.03x, 12 rounds)", or that there were no paired rounds.
pub fn pair_text(summary: Option<(f64, f64, f64, usize)>, what: &str) -> String {
    match summary {
        Some((m, lo, hi, n)) => format!(
            "{what}, round by round in the same processes: {m:.2}x (rounds {lo:.2}x-{hi:.2}x, \
             {n} rounds)"
        ),
        None => "no paired rounds".to_owned(),
    }
}

/// Iteration count and per-iteration nanoseconds of each repeat.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Samples {
    /// Iterations per sample.
    pub iterations: u64,
    /// Nanoseconds per iteration, one per repeat.
    pub ns_per_op: Vec<f64>,
}

impl Samples {
    /// The median nanoseconds per iteration.
    pub fn median_ns(&self) -> Option<f64> {
        median(&self.ns_per_op)
    }
}

/// Runs `run(n)` (which performs `n` iterations and returns how long they took) first with
/// growing `n` until a sample lasts at least a quarter of `target` (this also warms up), then
/// `repeats` times with `n` scaled so a sample lasts about `target`.
pub fn sample<F>(
    mut run: F,
    target: Duration,
    repeats: usize,
    min_n: u64,
    max_n: u64,
) -> Result<Samples, String>
where
    F: FnMut(u64) -> Result<Duration, String>,
{
    let n = calibrate(&mut run, target, min_n, max_n)?;
    let mut ns_per_op = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let elapsed = run(n)?;
        ns_per_op.push(elapsed.as_nanos() as f64 / n as f64);
    }
    Ok(Samples {
        iterations: n,
        ns_per_op,
    })
}

/// The iteration count for which `run(n)` lasts about `target` (at most `max_n`): `n` is
/// quadrupled from `min_n` until a run lasts a quarter of the target (this also warms
/// up), then scaled by the last run's time per iteration.
pub fn calibrate<F>(run: &mut F, target: Duration, min_n: u64, max_n: u64) -> Result<u64, String>
where
    F: FnMut(u64) -> Result<Duration, String> + ?Sized,
{
    let mut n = min_n.max(1);
    let mut last;
    loop {
        last = run(n)?;
        if last >= target / 4 || n >= max_n {
            break;
        }
        n = (n * 4).min(max_n);
    }
    let per_op = last.as_secs_f64() / n as f64;
    if per_op > 0.0 {
        n = ((target.as_secs_f64() / per_op) as u64).clamp(1, max_n);
    }
    Ok(n)
}

/// Two workloads measured round by round in the same process: each is calibrated to
/// `target` per round (at least `min_n` iterations), then `rounds` rounds run both, in
/// alternating order; nanoseconds per iteration, one figure per round each.
pub fn alternate(
    runs: [&mut dyn FnMut(u64) -> Result<Duration, String>; 2],
    target: Duration,
    rounds: usize,
    min_n: u64,
    max_n: u64,
) -> Result<Rounds, String> {
    let [a, b] = runs;
    let n = [
        calibrate(a, target, min_n, max_n)?.max(min_n),
        calibrate(b, target, min_n, max_n)?.max(min_n),
    ];
    let mut samples = [Vec::new(), Vec::new()];
    for round in 0..rounds.max(1) {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let dt = if i == 0 { a(n[0])? } else { b(n[1])? };
            samples[i].push(dt.as_nanos() as f64 / n[i] as f64);
        }
    }
    Ok(Rounds { samples })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn sample_scales_to_target() {
        // A fake workload costing 1 µs per iteration.
        let s = sample(
            |n| Ok(Duration::from_micros(n)),
            Duration::from_millis(10),
            3,
            1,
            u64::MAX,
        )
        .unwrap();
        assert_eq!(s.iterations, 10_000);
        assert_eq!(s.median_ns(), Some(1000.0));
    }
}
