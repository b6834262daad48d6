//! Spawn rate, yield cost and park/unpark round trips, for weft, tokio and std threads.
//!
//! Each (runtime, metric) pair runs in its own child process. The number of iterations is
//! chosen on the spot so one sample lasts about the profile's target time, then several
//! samples are taken and the median is reported.
//!
//! - **spawn + join**: spawn N threads that do nothing, then join them all (weft: from a green
//!   thread of the default runtime; tokio: from a task of the multi-threaded runtime; std:
//!   from the main thread). Reported as spawns per second.
//! - **yield, one worker**: two threads call yield N times each, alternating (weft: a runtime
//!   with one worker; tokio: the current-thread runtime and `tokio::task::yield_now`; std:
//!   two kernel threads pinned to the same CPU and `std::thread::yield_now`). Reported as
//!   nanoseconds per yield, i.e. per switch from one thread to the other.
//! - **park/unpark round trip**: two threads ping-pong: A hands the turn to B and unparks it,
//!   then parks until the turn comes back (weft: `weft::park::park` and `Thread::unpark`;
//!   tokio: a pair of `Notify`; std: `std::thread::park` and `Thread::unpark`). On one worker
//!   (weft one worker, tokio current-thread, std both pinned to one CPU) and across workers
//!   (weft two workers, checked by each player's kernel thread id; tokio two workers, where
//!   the scheduler may still put both tasks on one; std pinned to two different CPUs).
//!   Reported as nanoseconds per round trip A → B → A.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::lab::machine;
use crate::lab::stats::{self, Samples};

/// Whose threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    /// weft green threads.
    Weft,
    /// tokio tasks.
    Tokio,
    /// std kernel threads.
    Std,
}

impl Runtime {
    /// Every runtime, in table order.
    pub const ALL: [Runtime; 3] = [Runtime::Weft, Runtime::Tokio, Runtime::Std];

    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            Runtime::Weft => "weft green threads",
            Runtime::Tokio => "tokio tasks",
            Runtime::Std => "std::thread (kernel)",
        }
    }
}

/// What to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Spawn and join empty threads (ns per spawn).
    SpawnJoin,
    /// Two threads yielding to each other on one worker (ns per yield).
    YieldOneWorker,
    /// Park/unpark ping-pong on one worker (ns per round trip).
    PingPongOneWorker,
    /// Park/unpark ping-pong across two workers (ns per round trip).
    PingPongAcrossWorkers,
}

impl Metric {
    /// Every metric, in column order.
    pub const ALL: [Metric; 4] = [
        Metric::SpawnJoin,
        Metric::YieldOneWorker,
        Metric::PingPongOneWorker,
        Metric::PingPongAcrossWorkers,
    ];

    /// Short description for progress messages.
    pub fn label(self) -> &'static str {
        match self {
            Metric::SpawnJoin => "spawn + join",
            Metric::YieldOneWorker => "yield, one worker",
            Metric::PingPongOneWorker => "park/unpark ping-pong, one worker",
            Metric::PingPongAcrossWorkers => "park/unpark ping-pong, across workers",
        }
    }

    /// A few words, for remarks in a table cell.
    pub fn short(self) -> &'static str {
        match self {
            Metric::SpawnJoin => "spawn",
            Metric::YieldOneWorker => "yield",
            Metric::PingPongOneWorker => "one worker",
            Metric::PingPongAcrossWorkers => "across",
        }
    }
}

/// Parameters of one probe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// Whose threads.
    pub runtime: Runtime,
    /// What to time.
    pub metric: Metric,
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
    /// How the threads were placed, when it matters.
    pub placement: Option<String>,
}

const MAX_ITERATIONS: u64 = 50_000_000;

/// Runs the probe in this process (the child).
pub fn run(spec: &Spec) -> Result<Outcome, String> {
    let target = Duration::from_millis(spec.target_ms);
    let mut placement = None;
    let samples = match (spec.runtime, spec.metric) {
        (Runtime::Weft, Metric::SpawnJoin) => sample(spec, target, 64, weft_impl::spawn_join)?,
        (Runtime::Weft, Metric::YieldOneWorker) => {
            let rt = weft_impl::runtime(1)?;
            sample(spec, target, 256, |n| weft_impl::yield_pair(&rt, n))?
        }
        (Runtime::Weft, Metric::PingPongOneWorker) => {
            let rt = weft_impl::runtime(1)?;
            sample(spec, target, 256, |n| {
                weft_impl::ping_pong(&rt, n, false).map(|(d, _)| d)
            })?
        }
        (Runtime::Weft, Metric::PingPongAcrossWorkers) => {
            let rt = weft_impl::runtime(2)?;
            let (mut apart, mut runs) = (0, 0);
            let s = sample(spec, target, 64, |n| {
                // A run whose players shared a worker measured the wrong thing: run it again
                // (a few times at most; the placement remark tells how often it happened).
                let mut attempt = 0;
                loop {
                    let (d, different) = weft_impl::ping_pong(&rt, n, true)?;
                    runs += 1;
                    apart += usize::from(different);
                    attempt += 1;
                    if different || attempt == 3 {
                        break Ok(d);
                    }
                }
            })?;
            placement = Some(format!("on different workers in {apart}/{runs} runs"));
            s
        }
        (Runtime::Tokio, Metric::SpawnJoin) => {
            let rt = tokio_impl::multi_thread(None)?;
            sample(spec, target, 64, |n| tokio_impl::spawn_join(&rt, n))?
        }
        (Runtime::Tokio, Metric::YieldOneWorker) => {
            let rt = tokio_impl::current_thread()?;
            sample(spec, target, 256, |n| tokio_impl::yield_pair(&rt, n))?
        }
        (Runtime::Tokio, Metric::PingPongOneWorker) => {
            let rt = tokio_impl::current_thread()?;
            sample(spec, target, 256, |n| tokio_impl::ping_pong(&rt, n))?
        }
        (Runtime::Tokio, Metric::PingPongAcrossWorkers) => {
            let rt = tokio_impl::multi_thread(Some(2))?;
            placement = Some("the tasks may share a worker".to_owned());
            sample(spec, target, 64, |n| tokio_impl::ping_pong(&rt, n))?
        }
        (Runtime::Std, Metric::SpawnJoin) => sample(spec, target, 16, std_impl::spawn_join)?,
        (Runtime::Std, Metric::YieldOneWorker) => {
            let cpus = std_impl::two_cpus()?;
            placement = Some(format!("CPU {}", cpus.0));
            sample(spec, target, 64, |n| std_impl::yield_pair(cpus.0, n))?
        }
        (Runtime::Std, Metric::PingPongOneWorker) => {
            let cpus = std_impl::two_cpus()?;
            placement = Some(format!("CPU {}", cpus.0));
            sample(spec, target, 64, |n| {
                std_impl::ping_pong((cpus.0, cpus.0), n)
            })?
        }
        (Runtime::Std, Metric::PingPongAcrossWorkers) => {
            let cpus = std_impl::two_cpus()?;
            if cpus.0 == cpus.1 {
                return Err("this process may run on only one CPU".to_owned());
            }
            placement = Some(format!("CPUs {} and {}", cpus.0, cpus.1));
            sample(spec, target, 64, |n| std_impl::ping_pong(cpus, n))?
        }
    };
    Ok(Outcome { samples, placement })
}

fn sample(
    spec: &Spec,
    target: Duration,
    min_n: u64,
    run: impl FnMut(u64) -> Result<Duration, String>,
) -> Result<Samples, String> {
    let max_n = match spec.metric {
        // Every spawned handle is kept until the join; bound the memory this takes.
        Metric::SpawnJoin => 2_000_000,
        _ => MAX_ITERATIONS,
    };
    stats::sample(run, target, spec.repeats, min_n, max_n)
}

/// The operations a ping-pong player needs from a kind of thread.
///
/// Implementations are `#[inline]` so that the harness adds no call of its own around
/// the operation measured (a user calls `park` or `yield_now` directly).
trait Parking {
    type Handle: Clone + Send + Sync + 'static;
    fn current() -> Self::Handle;
    fn park();
    fn unpark(handle: &Self::Handle);
    fn yield_now();
}

/// The state two players (of ping-pong or of yield) share.
#[derive(Debug)]
struct Table<H> {
    players: [OnceLock<H>; 2],
    /// How many players have arrived.
    arrived: AtomicUsize,
    /// Whose turn it is (0 or 1).
    turn: AtomicUsize,
    /// Kernel thread id each player ran on.
    kernel_ids: [AtomicI32; 2],
}

impl<H> Table<H> {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            players: [OnceLock::new(), OnceLock::new()],
            arrived: AtomicUsize::new(0),
            turn: AtomicUsize::new(0),
            kernel_ids: [AtomicI32::new(0), AtomicI32::new(0)],
        })
    }

    fn on_different_kernel_threads(&self) -> bool {
        self.kernel_ids[0].load(Ordering::Relaxed) != self.kernel_ids[1].load(Ordering::Relaxed)
    }
}

/// Waits until both players have arrived; returns the other player's handle.
///
/// The first to arrive parks (so that on one worker the other can start), or, with
/// `hold_worker`, spins for a while first: that keeps its worker busy, so a runtime with a
/// second worker has to start the other player there. The second to arrive unparks it.
fn meet<P: Parking>(table: &Table<P::Handle>, me: usize, hold_worker: bool) -> P::Handle {
    table.kernel_ids[me].store(machine::kernel_thread_id(), Ordering::Relaxed);
    let _ = table.players[me].set(P::current());
    // Each player publishes its handle before it counts itself in, so the second one to
    // arrive finds the first one's handle.
    if table.arrived.fetch_add(1, Ordering::AcqRel) == 0 {
        let spin_until = Instant::now() + Duration::from_millis(if hold_worker { 200 } else { 0 });
        while table.arrived.load(Ordering::Acquire) < 2 {
            if Instant::now() < spin_until {
                std::hint::spin_loop();
            } else {
                P::park();
            }
        }
    }
    let other = table.players[1 - me]
        .get()
        .expect("a player publishes its handle before it arrives")
        .clone();
    P::unpark(&other);
    other
}

/// Plays `n` rounds of ping-pong; player 0 returns the time they took.
fn player<P: Parking>(table: &Table<P::Handle>, me: usize, n: u64, hold_worker: bool) -> Duration {
    let other = meet::<P>(table, me, hold_worker);
    let start = Instant::now();
    for _ in 0..n {
        if me == 0 {
            table.turn.store(1, Ordering::Release);
            P::unpark(&other);
        }
        while table.turn.load(Ordering::Acquire) != me {
            P::park();
        }
        if me == 1 {
            table.turn.store(0, Ordering::Release);
            P::unpark(&other);
        }
    }
    start.elapsed()
}

/// Yields `n` times once both players are there; returns the time it took.
fn yielder<P: Parking>(table: &Table<P::Handle>, me: usize, n: u64) -> Duration {
    meet::<P>(table, me, false);
    let start = Instant::now();
    for _ in 0..n {
        P::yield_now();
    }
    start.elapsed()
}

mod weft_impl {
    use super::*;

    #[derive(Debug)]
    pub(super) struct Weft;

    impl Parking for Weft {
        type Handle = weft::Thread;
        #[inline]
        fn current() -> weft::Thread {
            weft::current()
        }
        #[inline]
        fn park() {
            weft::park::park();
        }
        #[inline]
        fn unpark(handle: &weft::Thread) {
            handle.unpark();
        }
        #[inline]
        fn yield_now() {
            weft::yield_now();
        }
    }

    pub(super) fn runtime(workers: usize) -> Result<weft::Runtime, String> {
        weft::Runtime::builder()
            .workers(workers)
            .build()
            .map_err(|e| format!("building a {workers}-worker weft runtime: {e}"))
    }

    pub(super) fn spawn_join(n: u64) -> Result<Duration, String> {
        weft::spawn(move || {
            let start = Instant::now();
            let handles: Vec<_> = (0..n).map(|_| weft::spawn(|| ())).collect();
            let panics = handles
                .into_iter()
                .map(weft::JoinHandle::join)
                .filter(Result::is_err)
                .count();
            (start.elapsed(), panics)
        })
        .join()
        .map_err(|_| "the spawning green thread panicked".to_owned())
        .and_then(|(d, panics)| match panics {
            0 => Ok(d),
            p => Err(format!("{p} empty green threads panicked")),
        })
    }

    pub(super) fn yield_pair(rt: &weft::Runtime, n: u64) -> Result<Duration, String> {
        let table = Table::<weft::Thread>::new();
        let spawn = |me: usize| {
            let table = Arc::clone(&table);
            rt.spawn(move || yielder::<Weft>(&table, me, n))
        };
        let (a, b) = (spawn(0), spawn(1));
        let (a, b) = (a.join(), b.join());
        match (a, b) {
            // 2n yields in all: the time per yield is half the time per round of both.
            (Ok(a), Ok(b)) => Ok(a.max(b) / 2),
            _ => Err("a yielding green thread panicked".to_owned()),
        }
    }

    /// Returns the time of `n` round trips and whether the players ran on different workers.
    pub(super) fn ping_pong(
        rt: &weft::Runtime,
        n: u64,
        across: bool,
    ) -> Result<(Duration, bool), String> {
        let table = Table::<weft::Thread>::new();
        let spawn = |me: usize| {
            let table = Arc::clone(&table);
            rt.spawn(move || player::<Weft>(&table, me, n, across))
        };
        let (a, b) = (spawn(0), spawn(1));
        let (a, b) = (a.join(), b.join());
        match (a, b) {
            (Ok(d), Ok(_)) => Ok((d, table.on_different_kernel_threads())),
            _ => Err("a ping-pong green thread panicked".to_owned()),
        }
    }
}

mod tokio_impl {
    use super::*;
    use tokio::sync::Notify;

    pub(super) fn current_thread() -> Result<tokio::runtime::Runtime, String> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("building the tokio runtime: {e}"))
    }

    pub(super) fn multi_thread(workers: Option<usize>) -> Result<tokio::runtime::Runtime, String> {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if let Some(w) = workers {
            b.worker_threads(w);
        }
        b.enable_all()
            .build()
            .map_err(|e| format!("building the tokio runtime: {e}"))
    }

    pub(super) fn spawn_join(rt: &tokio::runtime::Runtime, n: u64) -> Result<Duration, String> {
        let spawner = rt.spawn(async move {
            let start = Instant::now();
            let handles: Vec<_> = (0..n).map(|_| tokio::spawn(async {})).collect();
            for h in handles {
                h.await.map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(start.elapsed())
        });
        rt.block_on(spawner).map_err(|e| e.to_string())?
    }

    pub(super) fn yield_pair(rt: &tokio::runtime::Runtime, n: u64) -> Result<Duration, String> {
        rt.block_on(async move {
            let ready = Arc::new(AtomicUsize::new(0));
            let task = |ready: Arc<AtomicUsize>| {
                tokio::spawn(async move {
                    ready.fetch_add(1, Ordering::AcqRel);
                    while ready.load(Ordering::Acquire) < 2 {
                        tokio::task::yield_now().await;
                    }
                    let start = Instant::now();
                    for _ in 0..n {
                        tokio::task::yield_now().await;
                    }
                    start.elapsed()
                })
            };
            let a = task(Arc::clone(&ready));
            let b = task(ready);
            let (a, b) = (a.await, b.await);
            match (a, b) {
                (Ok(a), Ok(b)) => Ok(a.max(b) / 2),
                _ => Err("a yielding task failed".to_owned()),
            }
        })
    }

    pub(super) fn ping_pong(rt: &tokio::runtime::Runtime, n: u64) -> Result<Duration, String> {
        let (to_a, to_b) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let a = {
            let (to_a, to_b) = (Arc::clone(&to_a), Arc::clone(&to_b));
            rt.spawn(async move {
                let start = Instant::now();
                for _ in 0..n {
                    to_b.notify_one();
                    to_a.notified().await;
                }
                start.elapsed()
            })
        };
        let b = rt.spawn(async move {
            for _ in 0..n {
                to_b.notified().await;
                to_a.notify_one();
            }
        });
        rt.block_on(async move {
            let d = a.await.map_err(|e| e.to_string())?;
            b.await.map_err(|e| e.to_string())?;
            Ok(d)
        })
    }
}

mod std_impl {
    use super::*;
    use std::thread;

    #[derive(Debug)]
    struct Std;

    impl Parking for Std {
        type Handle = thread::Thread;
        #[inline]
        fn current() -> thread::Thread {
            thread::current()
        }
        #[inline]
        fn park() {
            thread::park();
        }
        #[inline]
        fn unpark(handle: &thread::Thread) {
            handle.unpark();
        }
        #[inline]
        fn yield_now() {
            thread::yield_now();
        }
    }

    /// Two CPUs this process may run on (the same one twice if it has only one).
    pub(super) fn two_cpus() -> Result<(usize, usize), String> {
        let cpus = machine::allowed_cpus().map_err(|e| format!("sched_getaffinity: {e}"))?;
        match cpus.as_slice() {
            [] => Err("sched_getaffinity returned no CPU".to_owned()),
            [only] => Ok((*only, *only)),
            [first, second, ..] => Ok((*first, *second)),
        }
    }

    fn pinned<T: Send + 'static>(
        cpu: usize,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> thread::JoinHandle<Result<T, String>> {
        thread::spawn(move || {
            machine::pin_current_thread(cpu).map_err(|e| format!("pinning to CPU {cpu}: {e}"))?;
            Ok(f())
        })
    }

    fn joined<T>(h: thread::JoinHandle<Result<T, String>>) -> Result<T, String> {
        h.join().map_err(|_| "a probe thread panicked".to_owned())?
    }

    pub(super) fn spawn_join(n: u64) -> Result<Duration, String> {
        let start = Instant::now();
        let mut handles = Vec::with_capacity(n as usize);
        for _ in 0..n {
            handles.push(
                thread::Builder::new()
                    .spawn(|| ())
                    .map_err(|e| format!("spawning a thread: {e}"))?,
            );
        }
        for h in handles {
            h.join()
                .map_err(|_| "an empty thread panicked".to_owned())?;
        }
        Ok(start.elapsed())
    }

    pub(super) fn yield_pair(cpu: usize, n: u64) -> Result<Duration, String> {
        let table = Table::<thread::Thread>::new();
        let spawn = |me: usize| {
            let table = Arc::clone(&table);
            pinned(cpu, move || yielder::<Std>(&table, me, n))
        };
        let (a, b) = (spawn(0), spawn(1));
        let (a, b) = (joined(a)?, joined(b)?);
        Ok(a.max(b) / 2)
    }

    pub(super) fn ping_pong(cpus: (usize, usize), n: u64) -> Result<Duration, String> {
        let table = Table::<thread::Thread>::new();
        let spawn = |me: usize, cpu: usize| {
            let table = Arc::clone(&table);
            pinned(cpu, move || player::<Std>(&table, me, n, false))
        };
        let a = spawn(0, cpus.0);
        let b = spawn(1, cpus.1);
        let (a, _) = (joined(a)?, joined(b)?);
        Ok(a)
    }
}
