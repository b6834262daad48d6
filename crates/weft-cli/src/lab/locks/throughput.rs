//! Throughput and fairness of one lock under one load, in this (child) process.
//!
//! The loads ([`Scenario`]):
//! - **uncontended**: one kernel thread locks and unlocks (incrementing the value) over and
//!   over; for a read-write lock, read lock + unlock; for a semaphore, acquire one permit and
//!   release it. tokio's types run on a current-thread runtime.
//! - **kernel threads**: k kernel threads (tokio: k tasks on a k-worker runtime) each do their
//!   share of the lock/unlock pairs, each pair on one of m locks picked at random with a
//!   seeded xorshift generator (m = 1: all on one lock; m = 64: light contention).
//! - **green threads**: 1 000 weft green threads on a 2-worker runtime (tokio: 1 000 tasks on a
//!   2-worker runtime) on one lock. std's and parking_lot's locks can be used from green
//!   threads too: a waiter then blocks its worker's kernel thread.
//! - **read-mostly**: k kernel threads (tokio: tasks) on one read-write lock, 95 % reads.
//! - **semaphore work**: 1 000 green threads (tokio: tasks) on 2 workers each doing tiny work
//!   items (a few dozen rounds of a hash loop), holding one of 4 permits during each.
//!
//! Figures: nanoseconds per operation overall (wall time from the common start to the last
//! thread's end, over all operations of all threads), with the iteration count sized so one
//! sample lasts the profile's target time (and cut short at three times that), median of the
//! repeats; and for contended loads the longest single wait (the longest time a thread took
//! from one unlock to its next: its longest wait for the lock plus one hold) of a timed run
//! lasting about as long, one per repeat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::harness::{
    check_count, exclusive_loop, green_gang, kernel_gang, read_mostly_loop, semaphore_loop, share,
    tokio_exclusive_loop, tokio_gang, tokio_read_mostly_loop, tokio_semaphore_loop, with_exclusive,
    with_shared, Done, Exclusive, GangRun, Items, Occupancy, Padded, Primitive, Shared, Start,
    WeftSemaphore, XorShift,
};
use crate::lab::stats::{self, median, Rounds, Samples};

/// The load a lock is measured under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// One kernel thread, no one else.
    Uncontended,
    /// `threads` kernel threads (tokio: tasks on as many workers), each pair on one of `locks`
    /// locks picked at random.
    KernelThreads {
        /// Contending threads.
        threads: usize,
        /// Locks they pick from.
        locks: usize,
    },
    /// `threads` weft green threads on `workers` workers (tokio: tasks) on one lock.
    GreenThreads {
        /// Contending green threads or tasks.
        threads: usize,
        /// Runtime workers.
        workers: usize,
    },
    /// `threads` kernel threads (tokio: tasks on as many workers) on one read-write lock.
    ReadMostly {
        /// Contending threads.
        threads: usize,
        /// Share of writes, percent.
        write_percent: u64,
    },
    /// `threads` green threads (tokio: tasks) on `workers` workers doing work items, each
    /// while holding one of `permits` permits.
    SemaphoreWork {
        /// Green threads or tasks.
        threads: usize,
        /// Runtime workers.
        workers: usize,
        /// Permits of the semaphore.
        permits: usize,
        /// Rounds of the hash loop per work item.
        item_rounds: u64,
    },
}

/// Parameters of one probe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// The lock.
    pub lock: Primitive,
    /// The load.
    pub scenario: Scenario,
    /// Seed of the threads' random choices.
    pub seed: u64,
    /// Target duration of one sample, milliseconds.
    pub target_ms: u64,
    /// Samples to take.
    pub repeats: usize,
}

/// What one probe found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// Nanoseconds per operation, per sample.
    pub samples: Samples,
    /// Operations in the last timed run (zero when uncontended).
    pub timed_iterations: u64,
    /// Longest single wait of each timed run, nanoseconds (empty when uncontended).
    pub worst_wait_ns: Vec<f64>,
}

impl Outcome {
    /// Median nanoseconds per operation.
    pub fn ns_per_op(&self) -> Option<f64> {
        self.samples.median_ns()
    }

    /// Median over the timed runs of the longest wait, nanoseconds.
    pub fn worst_wait(&self) -> Option<f64> {
        median(&self.worst_wait_ns)
    }

    /// The fastest and the slowest repeat, nanoseconds per operation.
    pub fn range(&self) -> Option<(f64, f64)> {
        let v = &self.samples.ns_per_op;
        let lo = v.iter().copied().reduce(f64::min)?;
        let hi = v.iter().copied().reduce(f64::max)?;
        Some((lo, hi))
    }
}

const MAX_OPS: u64 = 50_000_000;

/// A run stops starting operations once this many targets have passed: a lock that turns
/// a hundred times slower between runs cannot make one run last a hundred targets.
const LIMIT_TARGETS: u32 = 3;

/// One run of a load.
#[derive(Debug, Clone)]
struct Run {
    /// Operations to do in all (fewer if the time limit passes first).
    n: u64,
    /// Whether the loops read the clock for the waits.
    timed: bool,
    /// Seed of the threads' choices.
    seed: u64,
    /// The common start and the time limit.
    start: Arc<Start>,
}

/// A run's wall time and what its loops did.
type Timed = (Duration, Done);

/// Runs the probe in this process (the child).
pub fn run(spec: &Spec) -> Result<Outcome, String> {
    match spec.scenario {
        Scenario::Uncontended => uncontended(spec),
        Scenario::KernelThreads { threads, locks } => {
            let locks = locks.max(1);
            if spec.lock == Primitive::TokioMutex {
                let rt = tokio_runtime(threads)?;
                contended(spec, threads, |r| tokio_exclusive(&rt, threads, locks, r))
            } else {
                with_exclusive!(spec.lock, L => contended(spec, threads, |r| {
                    exclusive::<L>(Gang::Kernel, threads, locks, r)
                }))
            }
        }
        Scenario::GreenThreads { threads, workers } => {
            if spec.lock == Primitive::TokioMutex {
                let rt = tokio_runtime(workers)?;
                contended(spec, threads, |r| tokio_exclusive(&rt, threads, 1, r))
            } else {
                let rt = weft_runtime(workers)?;
                with_exclusive!(spec.lock, L => contended(spec, threads, |r| {
                    exclusive::<L>(Gang::Green(&rt), threads, 1, r)
                }))
            }
        }
        Scenario::ReadMostly {
            threads,
            write_percent,
        } => {
            if spec.lock == Primitive::TokioRwLock {
                let rt = tokio_runtime(threads)?;
                contended(spec, threads, |r| {
                    tokio_read_mostly(&rt, threads, write_percent, r)
                })
            } else {
                with_shared!(spec.lock, L => contended(spec, threads, |r| {
                    read_mostly::<L>(threads, write_percent, r)
                }))
            }
        }
        Scenario::SemaphoreWork {
            threads,
            workers,
            permits,
            item_rounds,
        } => {
            let work = Work {
                threads,
                permits,
                item_rounds,
            };
            match spec.lock {
                Primitive::WeftSemaphore => {
                    let rt = weft_runtime(workers)?;
                    contended(spec, threads, |r| work.weft(&rt, r))
                }
                Primitive::TokioSemaphore => {
                    let rt = tokio_runtime(workers)?;
                    contended(spec, threads, |r| work.tokio(&rt, r))
                }
                other => Err(format!("{} is not a semaphore", other.label())),
            }
        }
    }
}

fn weft_runtime(workers: usize) -> Result<weft::Runtime, String> {
    weft::Runtime::builder()
        .workers(workers)
        .build()
        .map_err(|e| format!("building a {workers}-worker weft runtime: {e}"))
}

fn tokio_runtime(workers: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("building a {workers}-worker tokio runtime: {e}"))
}

fn current_thread() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("building the tokio runtime: {e}"))
}

/// Samples the untimed runs, then takes as many timed runs of about the same duration for
/// the waits.
fn contended(
    spec: &Spec,
    threads: usize,
    mut load: impl FnMut(&Run) -> Result<Timed, String>,
) -> Result<Outcome, String> {
    let sized = Sized {
        target: Duration::from_millis(spec.target_ms),
        min_n: 64 * threads.max(1) as u64,
        seed: spec.seed,
    };
    let first = sized.calibrate(&mut load)?;
    let (samples, _) = sized.repeat(spec.repeats, first, false, &mut load)?;
    // Reading the clock once per operation adds work, so the timed runs are sized on their
    // own: a first one of a quarter of the untimed count (also a warm-up) gives their cost.
    let quarter = (samples.iterations / 4).max(sized.min_n);
    let (elapsed, done) = load(&sized.run(quarter, true))?;
    let per_op = elapsed.as_secs_f64() / done.ops.max(1) as f64;
    let (timed, worst_wait_ns) =
        sized.repeat(spec.repeats, sized.scale(quarter, per_op), true, &mut load)?;
    Ok(Outcome {
        samples,
        timed_iterations: timed.iterations,
        worst_wait_ns,
    })
}

/// Runs sized to last about `target` each.
///
/// A contended lock can change regime between runs (bursts at a few nanoseconds per pair,
/// or a hand-off on every pair, a hundred times slower), so a count sized on one run can
/// be far off for the next. Each run stops at [`LIMIT_TARGETS`] targets whatever its count,
/// and after a run that lasted over twice or under half the target the count is scaled
/// again; each run's time per operation is its wall time over the operations it did.
#[derive(Debug, Clone, Copy)]
struct Sized {
    target: Duration,
    min_n: u64,
    seed: u64,
}

impl Sized {
    fn run(&self, n: u64, timed: bool) -> Run {
        Run {
            n,
            timed,
            seed: self.seed,
            start: Start::new(self.target * LIMIT_TARGETS),
        }
    }

    /// Grows the count until a run lasts a quarter of the target (this also warms up);
    /// returns the count that lasts about the target.
    fn calibrate(
        &self,
        load: &mut impl FnMut(&Run) -> Result<Timed, String>,
    ) -> Result<u64, String> {
        let mut n = self.min_n;
        loop {
            let (elapsed, done) = load(&self.run(n, false))?;
            if elapsed >= self.target / 4 || n >= MAX_OPS || done.ops < n {
                let per_op = elapsed.as_secs_f64() / done.ops.max(1) as f64;
                return Ok(self.scale(n, per_op));
            }
            n = (n * 4).min(MAX_OPS);
        }
    }

    /// The count that lasts about the target at `per_op` seconds per operation.
    fn scale(&self, n: u64, per_op: f64) -> u64 {
        if per_op > 0.0 {
            ((self.target.as_secs_f64() / per_op) as u64).clamp(self.min_n, MAX_OPS)
        } else {
            n
        }
    }

    /// The samples (nanoseconds per operation; `iterations` is the count asked of the last
    /// run) and each run's longest wait in nanoseconds.
    fn repeat(
        &self,
        repeats: usize,
        first: u64,
        timed: bool,
        load: &mut impl FnMut(&Run) -> Result<Timed, String>,
    ) -> Result<(Samples, Vec<f64>), String> {
        let mut n = first;
        let mut last = n;
        let (mut ns_per_op, mut waits) = (Vec::new(), Vec::new());
        for _ in 0..repeats.max(1) {
            let (elapsed, done) = load(&self.run(n, timed))?;
            let per_op = elapsed.as_secs_f64() / done.ops.max(1) as f64;
            ns_per_op.push(per_op * 1e9);
            waits.push(done.worst.as_nanos() as f64);
            last = n;
            if elapsed > self.target * 2 || elapsed < self.target / 2 {
                n = self.scale(n, per_op);
            }
        }
        Ok((
            Samples {
                iterations: last,
                ns_per_op,
            },
            waits,
        ))
    }
}

/// Where the threads of a load run.
#[derive(Debug, Clone, Copy)]
enum Gang<'a> {
    Kernel,
    Green(&'a weft::Runtime),
}

impl Gang<'_> {
    fn run<T, F>(self, n: usize, start: &Arc<Start>, f: F) -> Result<GangRun<T>, String>
    where
        T: Send + 'static,
        F: Fn(usize) -> T + Send + Sync + 'static,
    {
        match self {
            Gang::Kernel => kernel_gang(n, start, f),
            Gang::Green(rt) => green_gang(rt, n, start, f),
        }
    }
}

fn exclusive<L: Exclusive>(
    gang: Gang<'_>,
    threads: usize,
    locks: usize,
    run: &Run,
) -> Result<Timed, String> {
    let table: Arc<Vec<Padded<L>>> =
        Arc::new((0..locks).map(|_| Padded(L::with_value(0))).collect());
    let (shared, start) = (Arc::clone(&table), Arc::clone(&run.start));
    let Run { n, timed, seed, .. } = *run;
    let (elapsed, done) = gang.run(threads, &run.start, move |i| {
        let mut rng = XorShift::for_thread(seed, i);
        let mine = share(n, threads, i);
        if timed {
            exclusive_loop::<L, true>(&shared, mine, &mut rng, &start)
        } else {
            exclusive_loop::<L, false>(&shared, mine, &mut rng, &start)
        }
    })?;
    let done = Done::total(&done);
    check_count(&table, done.ops)?;
    Ok((elapsed, done))
}

fn tokio_exclusive(
    rt: &tokio::runtime::Runtime,
    tasks: usize,
    locks: usize,
    run: &Run,
) -> Result<Timed, String> {
    let table: Arc<Vec<Padded<tokio::sync::Mutex<u64>>>> = Arc::new(
        (0..locks)
            .map(|_| Padded(tokio::sync::Mutex::new(0)))
            .collect(),
    );
    let Run { n, timed, seed, .. } = *run;
    let (elapsed, done) = tokio_gang(rt, tasks, &run.start, |i| {
        let (shared, start) = (Arc::clone(&table), Arc::clone(&run.start));
        async move {
            let mut rng = XorShift::for_thread(seed, i);
            let mine = share(n, tasks, i);
            if timed {
                tokio_exclusive_loop::<true>(&shared, mine, &mut rng, &start).await
            } else {
                tokio_exclusive_loop::<false>(&shared, mine, &mut rng, &start).await
            }
        }
    })?;
    let done = Done::total(&done);
    let total: u64 = table.iter().map(|l| l.0.try_lock().map_or(0, |g| *g)).sum();
    if total != done.ops {
        return Err(format!(
            "the lock lost updates: {total} increments recorded for {} acquisitions",
            done.ops
        ));
    }
    Ok((elapsed, done))
}

fn check_writes(value: u64, done: &Done) -> Result<(), String> {
    if value == done.writes {
        Ok(())
    } else {
        Err(format!(
            "the lock lost updates: {value} increments recorded for {} writes",
            done.writes
        ))
    }
}

fn read_mostly<L: Shared>(threads: usize, write_percent: u64, run: &Run) -> Result<Timed, String> {
    // On cache lines of its own: a neighbour on the heap (whatever the allocator put
    // next to it in this process) would otherwise share the lock's line, and how much
    // that costs changes from one process to the next.
    let lock = Arc::new(Padded(L::with_value(0)));
    let (shared, start) = (Arc::clone(&lock), Arc::clone(&run.start));
    let Run { n, timed, seed, .. } = *run;
    let (elapsed, done) = kernel_gang(threads, &run.start, move |i| {
        let mut rng = XorShift::for_thread(seed, i);
        let mine = share(n, threads, i);
        if timed {
            read_mostly_loop::<L, true>(&shared.0, mine, write_percent, &mut rng, &start)
        } else {
            read_mostly_loop::<L, false>(&shared.0, mine, write_percent, &mut rng, &start)
        }
    })?;
    let done = Done::total(&done);
    let value = *lock.0.read_access();
    check_writes(value, &done)?;
    Ok((elapsed, done))
}

fn tokio_read_mostly(
    rt: &tokio::runtime::Runtime,
    tasks: usize,
    write_percent: u64,
    run: &Run,
) -> Result<Timed, String> {
    // On cache lines of its own, as in `read_mostly`.
    let lock = Arc::new(Padded(tokio::sync::RwLock::new(0u64)));
    let Run { n, timed, seed, .. } = *run;
    let (elapsed, done) = tokio_gang(rt, tasks, &run.start, |i| {
        let (shared, start) = (Arc::clone(&lock), Arc::clone(&run.start));
        async move {
            let mut rng = XorShift::for_thread(seed, i);
            let mine = share(n, tasks, i);
            if timed {
                tokio_read_mostly_loop::<true>(&shared.0, mine, write_percent, &mut rng, &start)
                    .await
            } else {
                tokio_read_mostly_loop::<false>(&shared.0, mine, write_percent, &mut rng, &start)
                    .await
            }
        }
    })?;
    let done = Done::total(&done);
    let value = lock.0.try_read().map_or(u64::MAX, |g| *g);
    check_writes(value, &done)?;
    Ok((elapsed, done))
}

/// The semaphore-limited work load.
#[derive(Debug, Clone, Copy)]
struct Work {
    threads: usize,
    permits: usize,
    item_rounds: u64,
}

impl Work {
    fn check(&self, occupancy: &Occupancy, timed: bool) -> Result<(), String> {
        let peak = occupancy.peak();
        if timed && peak > self.permits {
            return Err(format!(
                "{peak} holders were inside at once with {} permits",
                self.permits
            ));
        }
        Ok(())
    }

    fn items(&self, seed: u64, i: usize) -> Items {
        Items {
            rounds: self.item_rounds,
            seed: seed ^ i as u64,
        }
    }

    fn weft(&self, rt: &weft::Runtime, run: &Run) -> Result<Timed, String> {
        // Each on cache lines of its own, as the locks are.
        let sem = Arc::new(Padded(WeftSemaphore::new(self.permits)));
        let occupancy = Arc::new(Padded(Occupancy::default()));
        let (w, o, start) = (*self, Arc::clone(&occupancy), Arc::clone(&run.start));
        let Run { n, timed, seed, .. } = *run;
        let (elapsed, results) = green_gang(rt, self.threads, &run.start, move |i| {
            let mine = share(n, w.threads, i);
            if timed {
                semaphore_loop::<true>(&sem.0, &o.0, mine, w.items(seed, i), &start)
            } else {
                semaphore_loop::<false>(&sem.0, &o.0, mine, w.items(seed, i), &start)
            }
        })?;
        let done = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        self.check(&occupancy.0, timed)?;
        Ok((elapsed, Done::total(&done)))
    }

    fn tokio(&self, rt: &tokio::runtime::Runtime, run: &Run) -> Result<Timed, String> {
        let sem = Arc::new(Padded(tokio::sync::Semaphore::new(self.permits)));
        let occupancy = Arc::new(Padded(Occupancy::default()));
        let w = *self;
        let Run { n, timed, seed, .. } = *run;
        let (elapsed, results) = tokio_gang(rt, self.threads, &run.start, |i| {
            let (sem, o, start) = (
                Arc::clone(&sem),
                Arc::clone(&occupancy),
                Arc::clone(&run.start),
            );
            async move {
                let mine = share(n, w.threads, i);
                if timed {
                    tokio_semaphore_loop::<true>(&sem.0, &o.0, mine, w.items(seed, i), &start).await
                } else {
                    tokio_semaphore_loop::<false>(&sem.0, &o.0, mine, w.items(seed, i), &start)
                        .await
                }
            }
        })?;
        let done = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        self.check(&occupancy.0, timed)?;
        Ok((elapsed, Done::total(&done)))
    }
}

// ---------------------------------------------------------------------------------------
// Uncontended.

// ---------------------------------------------------------------------------------------
// Paired probes.

/// Parameters of a paired probe: two locks under one kernel-thread load, measured in
/// alternating rounds in one process.
///
/// This virtual machine moves between a fast and a slow state (cross-CPU work runs 1.5-3x
/// slower in the slow one, for seconds at a time, and a fresh process may start in either),
/// so two locks measured in two processes can be measured in two different machines. A
/// pair measured round by round in one process (the order alternating, so neither always
/// goes first) meets the same states; the ratio of each round is a fair comparison, and
/// their median is what a target is judged on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairSpec {
    /// The two locks (the first is the one judged: weft's).
    pub locks: [Primitive; 2],
    /// The load: [`Scenario::KernelThreads`] or [`Scenario::ReadMostly`].
    pub scenario: Scenario,
    /// Seed of the threads' random choices.
    pub seed: u64,
    /// Target duration of one run, milliseconds.
    pub target_ms: u64,
    /// Rounds (each runs both locks once).
    pub rounds: usize,
}

/// What a paired probe found: nanoseconds per operation of each lock, one per round.
pub type PairOutcome = Rounds;

/// One lock's load, ready to run.
type Load = Box<dyn FnMut(&Run) -> Result<Timed, String>>;

/// The load of `lock` under `scenario` (kernel-thread loads only).
fn load_for(lock: Primitive, scenario: Scenario) -> Result<Load, String> {
    match scenario {
        Scenario::KernelThreads { threads, locks } => {
            let locks = locks.max(1);
            if lock == Primitive::TokioMutex {
                let rt = tokio_runtime(threads)?;
                Ok(Box::new(move |r: &Run| {
                    tokio_exclusive(&rt, threads, locks, r)
                }))
            } else {
                with_exclusive!(lock, L => Ok(Box::new(move |r: &Run| {
                    exclusive::<L>(Gang::Kernel, threads, locks, r)
                }) as Load))
            }
        }
        Scenario::ReadMostly {
            threads,
            write_percent,
        } => {
            if lock == Primitive::TokioRwLock {
                let rt = tokio_runtime(threads)?;
                Ok(Box::new(move |r: &Run| {
                    tokio_read_mostly(&rt, threads, write_percent, r)
                }))
            } else {
                with_shared!(lock, L => Ok(Box::new(move |r: &Run| {
                    read_mostly::<L>(threads, write_percent, r)
                }) as Load))
            }
        }
        _ => {
            Err("a paired probe takes a kernel-thread load (kernel_threads or read_mostly)".into())
        }
    }
}

/// Runs a paired probe in this process (the child).
pub fn run_pair(spec: &PairSpec) -> Result<PairOutcome, String> {
    if spec.locks[0] == spec.locks[1] {
        return Err(format!(
            "a paired probe needs two different locks, got {} twice",
            spec.locks[0].label()
        ));
    }
    let threads = match spec.scenario {
        Scenario::KernelThreads { threads, .. } | Scenario::ReadMostly { threads, .. } => threads,
        _ => 1,
    };
    let sized = Sized {
        target: Duration::from_millis(spec.target_ms),
        min_n: 64 * threads.max(1) as u64,
        seed: spec.seed,
    };
    let mut loads = [
        load_for(spec.locks[0], spec.scenario)?,
        load_for(spec.locks[1], spec.scenario)?,
    ];
    let mut n = [0; 2];
    for (n, load) in n.iter_mut().zip(loads.iter_mut()) {
        *n = sized.calibrate(load)?;
    }
    let mut ns_per_op = [Vec::new(), Vec::new()];
    for round in 0..spec.rounds.max(1) {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (elapsed, done) = loads[i](&sized.run(n[i], false))?;
            let per_op = elapsed.as_secs_f64() / done.ops.max(1) as f64;
            ns_per_op[i].push(per_op * 1e9);
            if elapsed > sized.target * 2 || elapsed < sized.target / 2 {
                n[i] = sized.scale(n[i], per_op);
            }
        }
    }
    Ok(Rounds { samples: ns_per_op })
}

fn uncontended(spec: &Spec) -> Result<Outcome, String> {
    let target = Duration::from_millis(spec.target_ms);
    let sample = |run: &mut dyn FnMut(u64) -> Result<Duration, String>| {
        stats::sample(run, target, spec.repeats, 1024, MAX_OPS)
    };
    let samples = match spec.lock {
        Primitive::TokioMutex => {
            let rt = current_thread()?;
            sample(&mut |n| {
                let locks = [Padded(tokio::sync::Mutex::new(0u64))];
                let mut rng = XorShift::for_thread(spec.seed, 0);
                let forever = Start::new(Duration::MAX);
                let elapsed = rt.block_on(async {
                    let start = Instant::now();
                    tokio_exclusive_loop::<false>(&locks, n, &mut rng, &forever).await;
                    start.elapsed()
                });
                let [lock] = locks;
                match lock.0.into_inner() {
                    v if v == n => Ok(elapsed),
                    v => Err(format!("the lock lost updates: {v} of {n}")),
                }
            })?
        }
        Primitive::TokioRwLock => {
            let rt = current_thread()?;
            let lock = tokio::sync::RwLock::new(0u64);
            sample(&mut |n| {
                Ok(rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..n {
                        std::hint::black_box(*lock.read().await);
                    }
                    start.elapsed()
                }))
            })?
        }
        Primitive::WeftSemaphore => {
            let sem = WeftSemaphore::new(1);
            sample(&mut |n| {
                let start = Instant::now();
                for _ in 0..n {
                    let permit = sem
                        .acquire(1)
                        .map_err(|e| format!("acquiring a permit: {e}"))?;
                    drop(permit);
                }
                Ok(start.elapsed())
            })?
        }
        Primitive::TokioSemaphore => {
            let rt = current_thread()?;
            let sem = tokio::sync::Semaphore::new(1);
            sample(&mut |n| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..n {
                        let permit = sem
                            .acquire()
                            .await
                            .map_err(|e| format!("acquiring a permit: {e}"))?;
                        drop(permit);
                    }
                    Ok(start.elapsed())
                })
            })?
        }
        lock if Primitive::RWLOCKS.contains(&lock) => with_shared!(lock, L => {
            let lock = L::with_value(0);
            sample(&mut |n| {
                let start = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(*lock.read_access());
                }
                Ok(start.elapsed())
            })
        })?,
        lock => with_exclusive!(lock, L => {
            sample(&mut |n| {
                let locks = [Padded(L::with_value(0))];
                let mut rng = XorShift::for_thread(spec.seed, 0);
                let forever = Start::new(Duration::MAX);
                let start = Instant::now();
                exclusive_loop::<L, false>(&locks, n, &mut rng, &forever);
                let elapsed = start.elapsed();
                check_count(&locks, n)?;
                Ok(elapsed)
            })
        })?,
    };
    Ok(Outcome {
        samples,
        timed_iterations: 0,
        worst_wait_ns: Vec::new(),
    })
}
