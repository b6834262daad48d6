//! Memory per parked thread, and the spawn rate until all are parked.
//!
//! Each probe runs in a fresh child process. It first warms up its runtime (one thread
//! spawned and joined, so the runtime's own workers and tables exist), takes a baseline from
//! `/proc/self/status` (and the system-wide `KernelStack:` of `/proc/meminfo`), then spawns
//! N threads that each bump a shared atomic counter and park:
//!
//! - **std::thread** (kernel threads): block on a shared condition variable;
//! - **weft** green threads, spawned from a green thread: `weft::park::park()` in a loop
//!   until a shared flag is set; or (for the CSP section) each blocked in `recv` on a
//!   rendezvous channel of its own, whose `Sender` the spawner keeps, until a value comes;
//! - **tokio** tasks, spawned from a task on the multi-threaded runtime: await a shared
//!   `tokio::sync::Notify` (`notify_waiters` releases them all);
//! - **may** coroutines: `may::coroutine::park()` in a loop until a shared flag is set;
//!   spawned until a spawn fails (its `mprotect` guard pages run into `vm.max_map_count`)
//!   or a cap is reached.
//!
//! The spawn rate is N divided by the time from the first spawn until the counter reads N
//! (every thread bumps it just before parking). Then the child reads `/proc` again:
//! bytes per parked thread = (ΔVmRSS + ΔVmPTE) / N, i.e. resident memory plus page tables
//! over the baseline; it includes whatever the program keeps per thread (here a join handle
//! each), as a real program would. Virtual memory (ΔVmSize) and the kernel stacks (Δ
//! `KernelStack`, system-wide, so other processes add noise) are reported per thread too.
//! Finally the flag is set, every thread is unparked and joined.
//!
//! A spawn stops early at a time budget (the row then says how many were parked); a spawn
//! error stops it too, and the error is reported.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::lab::child::wait_for;
use crate::lab::procfs::{self, ProcStatus, Usage};

/// Which kind of thread to park.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `std::thread` (one kernel thread each).
    Kernel,
    /// weft green threads.
    Weft,
    /// weft green threads, each blocked in `recv` on its own rendezvous channel.
    WeftChannel,
    /// weft green threads parked on a runtime that hibernates them (their stacks copied
    /// to the heap, the pages released), measured once all are hibernated.
    WeftHibernated,
    /// tokio tasks (stackless).
    Tokio,
    /// may coroutines (stackful).
    May,
}

impl Kind {
    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Kernel => "std::thread (kernel)",
            Kind::Weft => "weft green thread",
            Kind::WeftChannel => "weft green thread in recv on its own channel",
            Kind::WeftHibernated => "weft green thread, hibernated",
            Kind::Tokio => "tokio task",
            Kind::May => "may coroutine",
        }
    }
}

/// Parameters of one probe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// What to park.
    pub kind: Kind,
    /// How many (for may: the cap).
    pub count: usize,
    /// Stop spawning after this long, milliseconds.
    pub budget_ms: u64,
}

/// What one probe found (all memory figures in bytes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// How many were asked for.
    pub requested: usize,
    /// How many were parked at once.
    pub parked: usize,
    /// Why fewer than requested, if so.
    pub stopped: Option<String>,
    /// Seconds from the first spawn until all were parked.
    pub spawn_seconds: f64,
    /// `/proc/self/status` before spawning.
    pub baseline: ProcStatus,
    /// `/proc/self/status` with all parked.
    pub with_parked: ProcStatus,
    /// Change of the system-wide `KernelStack`.
    pub kernel_stack_delta: Option<i64>,
    /// Seconds to release and join them all.
    pub teardown_seconds: f64,
    /// CPU time and page faults of the process from the first spawn until all were parked.
    pub spawn_usage: Option<Usage>,
    /// Microseconds per first touch of a fresh page, measured right after the spawn.
    pub fresh_page_micros: Option<f64>,
    /// Seconds for a second round (the same count spawned again after the first round was
    /// joined, so stacks and heap come back from the allocators): weft and tokio only.
    pub second_round_seconds: Option<f64>,
    /// CPU time and page faults of the second round until all were parked.
    pub second_round_usage: Option<Usage>,
}

impl Outcome {
    fn per_thread(&self, delta: i64) -> Option<f64> {
        (self.parked > 0).then(|| delta as f64 / self.parked as f64)
    }

    /// Resident memory plus page tables per parked thread, over the baseline.
    pub fn bytes_per_thread(&self) -> Option<f64> {
        let after = (self.with_parked.rss + self.with_parked.pte) as i64;
        let before = (self.baseline.rss + self.baseline.pte) as i64;
        self.per_thread(after - before)
    }

    /// Page tables per parked thread.
    pub fn page_tables_per_thread(&self) -> Option<f64> {
        self.per_thread(self.with_parked.pte as i64 - self.baseline.pte as i64)
    }

    /// Virtual memory per parked thread.
    pub fn virtual_per_thread(&self) -> Option<f64> {
        self.per_thread(self.with_parked.vm_size as i64 - self.baseline.vm_size as i64)
    }

    /// Kernel stack per parked thread (kernel threads only; system-wide figure).
    pub fn kernel_stack_per_thread(&self) -> Option<f64> {
        self.kernel_stack_delta.and_then(|d| self.per_thread(d))
    }

    /// Spawns per second until all were parked.
    pub fn spawn_rate(&self) -> Option<f64> {
        (self.spawn_seconds > 0.0 && self.parked > 0)
            .then(|| self.parked as f64 / self.spawn_seconds)
    }

    /// Spawns per second in the second round.
    pub fn second_round_rate(&self) -> Option<f64> {
        self.second_round_seconds
            .filter(|&s| s > 0.0 && self.parked > 0)
            .map(|s| self.parked as f64 / s)
    }

    /// Minor page faults per thread while spawning.
    pub fn faults_per_thread(&self) -> Option<f64> {
        let faults = self.spawn_usage?.minor_faults;
        self.per_thread(faults as i64)
    }

    /// The spawn rate that page faults alone would allow with `cpus` CPUs faulting in
    /// parallel: `cpus / (faults per thread × cost of a fresh page)`.
    pub fn fault_bound_rate(&self, cpus: usize) -> Option<f64> {
        let cost = self.faults_per_thread()? * self.fresh_page_micros? * 1e-6;
        (cost > 0.0).then(|| cpus as f64 / cost)
    }
}

/// How long the parent waits for all spawned threads to bump the counter.
const PARK_WAIT: Duration = Duration::from_secs(60);

/// Pages touched to time a first touch (16 MiB).
const FRESH_PAGES: usize = 4096;

#[derive(Debug)]
struct Snapshot {
    status: ProcStatus,
    kernel_stack: Option<u64>,
}

impl Snapshot {
    fn take() -> Result<Self, String> {
        Ok(Self {
            status: procfs::status().map_err(|e| format!("reading /proc/self/status: {e}"))?,
            kernel_stack: procfs::meminfo("KernelStack:").ok(),
        })
    }
}

/// What every parked thread shares.
#[derive(Debug, Default)]
struct Shared {
    parked: AtomicUsize,
    release: AtomicBool,
}

/// Runs the probe in this process (the child).
pub fn run(spec: &Spec) -> Result<Outcome, String> {
    match spec.kind {
        Kind::Kernel => kernel(spec),
        Kind::Weft | Kind::WeftChannel | Kind::WeftHibernated => weft_green(spec),
        Kind::Tokio => tokio_tasks(spec),
        Kind::May => may_coroutines(spec),
    }
}

fn budget_exceeded(i: usize, start: Instant, spec: &Spec) -> bool {
    i % 1024 == 1023 && start.elapsed() > Duration::from_millis(spec.budget_ms)
}

fn budget_message(parked: usize, spec: &Spec) -> String {
    format!(
        "stopped at {parked} by the {:.0} s spawn budget of this profile",
        spec.budget_ms as f64 / 1000.0
    )
}

fn outcome(
    spec: &Spec,
    parked: usize,
    stopped: Option<String>,
    spawn_time: Duration,
    before: &Snapshot,
    after: &Snapshot,
    teardown: Duration,
) -> Outcome {
    Outcome {
        requested: spec.count,
        parked,
        stopped,
        spawn_seconds: spawn_time.as_secs_f64(),
        baseline: before.status,
        with_parked: after.status,
        kernel_stack_delta: match (before.kernel_stack, after.kernel_stack) {
            (Some(b), Some(a)) => Some(a as i64 - b as i64),
            _ => None,
        },
        teardown_seconds: teardown.as_secs_f64(),
        spawn_usage: None,
        fresh_page_micros: None,
        second_round_seconds: None,
        second_round_usage: None,
    }
}

impl Outcome {
    /// Adds what the spawn cost (CPU time and faults, a first touch's cost) and the
    /// second round's seconds and usage.
    fn with_spawn_costs(
        self,
        usage: Option<Usage>,
        fresh_page_micros: Option<f64>,
        second: Option<(f64, Option<Usage>)>,
    ) -> Self {
        Outcome {
            spawn_usage: usage,
            fresh_page_micros,
            second_round_seconds: second.map(|(s, _)| s),
            second_round_usage: second.and_then(|(_, u)| u),
            ..self
        }
    }
}

/// The second round: after the first round's `parked` threads were joined, spawns as many
/// again with `round` and times them until all are parked, then releases them with
/// `release` (which returns how many failed). Seconds and usage of the round; `None` when
/// the first round stopped early (`first_stopped`) or this one did.
fn second_round<H>(
    parked: usize,
    first_stopped: bool,
    round: impl FnOnce(&Arc<Shared>) -> Result<(Instant, Vec<H>, Option<String>), String>,
    release: impl FnOnce(&Shared, Vec<H>) -> usize,
) -> Result<Option<(f64, Option<Usage>)>, String> {
    if first_stopped {
        return Ok(None);
    }
    let usage = Usage::now().ok();
    let shared = Arc::new(Shared::default());
    let (start, handles, stopped) = round(&shared)?;
    let count = handles.len();
    let waited = wait_for(|| shared.parked.load(Ordering::Acquire), count, PARK_WAIT);
    let seconds = start.elapsed().as_secs_f64();
    let usage = usage_since(usage);
    let failed = release(&shared, handles);
    waited?;
    if failed > 0 {
        return Err(format!("{failed} threads of the second round failed"));
    }
    Ok((stopped.is_none() && count == parked).then_some((seconds, usage)))
}

/// The process's usage since `before`, if both readings worked.
fn usage_since(before: Option<Usage>) -> Option<Usage> {
    Some(Usage::now().ok()?.since(&before?))
}

fn kernel(spec: &Spec) -> Result<Outcome, String> {
    let shared = Arc::new(Shared::default());
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    thread::spawn(|| ())
        .join()
        .map_err(|_| "the warm-up thread panicked")?;
    let before = Snapshot::take()?;

    let start = Instant::now();
    let mut handles = Vec::with_capacity(spec.count);
    let mut stopped = None;
    for i in 0..spec.count {
        let (shared, gate) = (Arc::clone(&shared), Arc::clone(&gate));
        let spawned = thread::Builder::new().spawn(move || {
            shared.parked.fetch_add(1, Ordering::Release);
            let (lock, cvar) = &*gate;
            let mut open = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while !*open {
                open = cvar.wait(open).unwrap_or_else(PoisonError::into_inner);
            }
        });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                stopped = Some(format!("spawn #{} failed: {e}", i + 1));
                break;
            }
        }
        if budget_exceeded(i, start, spec) {
            stopped = Some(budget_message(handles.len(), spec));
            break;
        }
    }
    let parked = handles.len();
    let waited = wait_for(|| shared.parked.load(Ordering::Acquire), parked, PARK_WAIT);
    let spawn_time = start.elapsed();
    let after = Snapshot::take();

    let teardown = Instant::now();
    *gate.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
    gate.1.notify_all();
    let panics = handles.into_iter().filter_map(|h| h.join().err()).count();
    let teardown = teardown.elapsed();
    waited?;
    if panics > 0 {
        return Err(format!("{panics} parked threads panicked"));
    }
    Ok(outcome(
        spec, parked, stopped, spawn_time, &before, &after?, teardown,
    ))
}

/// One parked weft green thread: its join handle, and for [`Kind::WeftChannel`] the
/// sending end of the channel it waits on.
type WeftParked = (weft::JoinHandle<()>, Option<weft::csp::Sender<()>>);

type WeftRound = (Instant, Vec<WeftParked>, Option<String>);

/// Spawns `spec.count` parking green threads from one green thread; returns when the
/// spawner is done (not necessarily all parked).
/// Spawns `spec.count` parked green threads from a green thread of `rt` (`None`: the
/// default runtime); the threads it spawns join its runtime.
fn weft_spawn_all(
    rt: Option<&weft::Runtime>,
    spec: &Spec,
    shared: &Arc<Shared>,
) -> Result<WeftRound, String> {
    let shared = Arc::clone(shared);
    let spec = spec.clone();
    let spawner = move || {
        let start = Instant::now();
        let mut handles = Vec::with_capacity(spec.count);
        let mut stopped = None;
        for i in 0..spec.count {
            let shared = Arc::clone(&shared);
            let spawned = if spec.kind == Kind::WeftChannel {
                let (tx, rx) = weft::csp::channel::<()>();
                weft::Builder::new()
                    .spawn(move || {
                        shared.parked.fetch_add(1, Ordering::Release);
                        // Blocks until the release sends (or the sender is dropped).
                        let _ = rx.recv();
                    })
                    .map(|h| (h, Some(tx)))
            } else {
                weft::Builder::new()
                    .spawn(move || {
                        shared.parked.fetch_add(1, Ordering::Release);
                        while !shared.release.load(Ordering::Acquire) {
                            weft::park::park();
                        }
                    })
                    .map(|h| (h, None))
            };
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stopped = Some(format!("spawn #{} failed: {e}", i + 1));
                    break;
                }
            }
            if budget_exceeded(i, start, &spec) {
                stopped = Some(budget_message(handles.len(), &spec));
                break;
            }
        }
        (start, handles, stopped)
    };
    match rt {
        Some(rt) => rt.spawn(spawner),
        None => weft::spawn(spawner),
    }
    .join()
    .map_err(|_| "the spawning green thread panicked".to_owned())
}

/// How long a parked thread waits before it is hibernated, in the probe.
const HIBERNATE_AFTER: Duration = Duration::from_millis(100);
/// How long the probe waits for all parked threads to be hibernated.
const HIBERNATE_WAIT: Duration = Duration::from_secs(60);

/// Releases and joins every parked green thread; the number that panicked (or, on a
/// channel, did not take the value sent to it).
fn weft_release(shared: &Shared, handles: Vec<WeftParked>) -> usize {
    shared.release.store(true, Ordering::Release);
    let mut failed = 0;
    for (h, tx) in &handles {
        match tx {
            Some(tx) => failed += usize::from(tx.send(()).is_err()),
            None => h.thread().unpark(),
        }
    }
    failed
        + handles
            .into_iter()
            .filter_map(|(h, _)| h.join().err())
            .count()
}

fn weft_green(spec: &Spec) -> Result<Outcome, String> {
    // The hibernated kind runs on a runtime of its own that hibernates; the others on the
    // default runtime.
    let own = if spec.kind == Kind::WeftHibernated {
        // SAFETY: the probe's green threads park in `weft::park::park` or a channel
        // receive and lend their stacks to no other thread.
        let rt = unsafe { weft::Runtime::builder().hibernate_after(HIBERNATE_AFTER) }
            .name("weft-hibernating")
            .build()
            .map_err(|e| format!("building a hibernating runtime: {e}"))?;
        Some(rt)
    } else {
        None
    };
    let rt = own.as_ref();
    let shared = Arc::new(Shared::default());
    // Starts the runtime.
    match rt {
        Some(rt) => rt.spawn(|| ()).join(),
        None => weft::spawn(|| ()).join(),
    }
    .map_err(|_| "the warm-up green thread panicked")?;
    let before = Snapshot::take()?;

    let usage = Usage::now().ok();
    let (start, handles, stopped) = weft_spawn_all(rt, spec, &shared)?;
    let parked = handles.len();
    let waited = wait_for(|| shared.parked.load(Ordering::Acquire), parked, PARK_WAIT);
    let spawn_time = start.elapsed();
    let usage = usage_since(usage);
    // Measured once every parked thread is hibernated, for the hibernated kind.
    let slept = match rt {
        Some(rt) => wait_for(|| rt.hibernated(), parked, HIBERNATE_WAIT)
            .map_err(|e| format!("hibernation: {e} (counting hibernated threads)")),
        None => Ok(()),
    };
    let after = Snapshot::take();
    let fresh = procfs::fresh_page_micros(FRESH_PAGES).ok();

    let teardown = Instant::now();
    let panics = weft_release(&shared, handles);
    let teardown = teardown.elapsed();
    waited?;
    slept?;
    if panics > 0 {
        return Err(format!("{panics} parked green threads panicked"));
    }

    // The same count again: now the stacks come from the pool, already touched.
    let second = second_round(
        parked,
        stopped.is_some(),
        |shared| weft_spawn_all(rt, spec, shared),
        weft_release,
    )?;
    Ok(outcome(
        spec, parked, stopped, spawn_time, &before, &after?, teardown,
    )
    .with_spawn_costs(usage, fresh, second))
}

type TokioRound = (Instant, Vec<tokio::task::JoinHandle<()>>, Option<String>);

/// Spawns `spec.count` parking tasks from one task; returns when the spawner is done.
fn tokio_spawn_all(
    rt: &tokio::runtime::Runtime,
    spec: &Spec,
    shared: &Arc<Shared>,
    notify: &Arc<tokio::sync::Notify>,
) -> Result<TokioRound, String> {
    let (shared, notify, spec) = (Arc::clone(shared), Arc::clone(notify), spec.clone());
    let spawner = rt.spawn(async move {
        let start = Instant::now();
        let mut handles = Vec::with_capacity(spec.count);
        let mut stopped = None;
        for i in 0..spec.count {
            let (shared, notify) = (Arc::clone(&shared), Arc::clone(&notify));
            handles.push(tokio::spawn(async move {
                // A `Notified` receives `notify_waiters` from its creation on, so creating
                // it before bumping the counter means no release can be missed.
                let released = notify.notified();
                shared.parked.fetch_add(1, Ordering::Release);
                if !shared.release.load(Ordering::Acquire) {
                    released.await;
                }
            }));
            if budget_exceeded(i, start, &spec) {
                stopped = Some(budget_message(handles.len(), &spec));
                break;
            }
        }
        (start, handles, stopped)
    });
    rt.block_on(spawner)
        .map_err(|e| format!("the spawning task failed: {e}"))
}

/// Releases and awaits every parked task; the number that failed.
fn tokio_release(
    rt: &tokio::runtime::Runtime,
    shared: &Shared,
    notify: &tokio::sync::Notify,
    handles: Vec<tokio::task::JoinHandle<()>>,
) -> usize {
    shared.release.store(true, Ordering::Release);
    notify.notify_waiters();
    rt.block_on(async {
        let mut failed = 0usize;
        for h in handles {
            failed += usize::from(h.await.is_err());
        }
        failed
    })
}

fn tokio_tasks(spec: &Spec) -> Result<Outcome, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("building the tokio runtime: {e}"))?;
    rt.block_on(async { tokio::spawn(async {}).await })
        .map_err(|e| format!("warm-up task: {e}"))?;
    let shared = Arc::new(Shared::default());
    let notify = Arc::new(tokio::sync::Notify::new());
    let before = Snapshot::take()?;

    let usage = Usage::now().ok();
    let (start, handles, stopped) = tokio_spawn_all(&rt, spec, &shared, &notify)?;
    let parked = handles.len();
    let waited = wait_for(|| shared.parked.load(Ordering::Acquire), parked, PARK_WAIT);
    let spawn_time = start.elapsed();
    let usage = usage_since(usage);
    let after = Snapshot::take();
    let fresh = procfs::fresh_page_micros(FRESH_PAGES).ok();

    let teardown = Instant::now();
    let failed = tokio_release(&rt, &shared, &notify, handles);
    let teardown = teardown.elapsed();
    waited?;
    if failed > 0 {
        return Err(format!("{failed} parked tasks failed"));
    }

    // The same count again, on memory the allocator has been given back.
    let notify = Arc::new(tokio::sync::Notify::new());
    let second = second_round(
        parked,
        stopped.is_some(),
        |shared| tokio_spawn_all(&rt, spec, shared, &notify),
        |shared, handles| tokio_release(&rt, shared, &notify, handles),
    )?;
    Ok(outcome(
        spec, parked, stopped, spawn_time, &before, &after?, teardown,
    )
    .with_spawn_costs(usage, fresh, second))
}

fn may_coroutines(spec: &Spec) -> Result<Outcome, String> {
    may::config().set_workers(crate::lab::machine::cpus());
    let spawn = |shared: Arc<Shared>| {
        // may's spawn is unsafe for two reasons, neither of which applies here:
        // 1. a coroutine may move between may's worker threads, so code that caches a
        //    thread-local address across a switch could read another thread's value: this
        //    closure touches no thread-local storage of its own (only the `Arc`'d atomics and
        //    may's own park, which may implements for coroutines);
        // 2. a coroutine's stack is small and overflowing it is not reliably reported.
        // SAFETY: (1) as above; (2) this closure has no recursion and a few words of
        // locals, far below may's default stack size.
        unsafe {
            may::coroutine::Builder::new().spawn(move || {
                shared.parked.fetch_add(1, Ordering::Release);
                while !shared.release.load(Ordering::Acquire) {
                    may::coroutine::park();
                }
            })
        }
    };
    spawn(Arc::new(Shared {
        parked: AtomicUsize::new(0),
        release: AtomicBool::new(true),
    }))
    .map_err(|e| format!("warm-up coroutine: {e}"))?
    .join()
    .map_err(|_| "the warm-up coroutine panicked")?;
    let shared = Arc::new(Shared::default());
    let before = Snapshot::take()?;

    // may panics (rather than returning an error) when it cannot map a stack; that is how
    // this probe finds its limit, so keep the panic message quiet and catch it.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(spec.count);
    let mut stopped = None;
    for i in 0..spec.count {
        let shared = Arc::clone(&shared);
        match panic::catch_unwind(AssertUnwindSafe(|| spawn(shared))) {
            Ok(Ok(h)) => handles.push(h),
            Ok(Err(e)) => {
                stopped = Some(format!("spawn #{} failed: {e}", i + 1));
                break;
            }
            Err(payload) => {
                let why = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a panic".to_owned());
                stopped = Some(format!("spawn #{} failed: {}", i + 1, shorten(&why)));
                break;
            }
        }
        if budget_exceeded(i, start, spec) {
            stopped = Some(budget_message(handles.len(), spec));
            break;
        }
    }
    panic::set_hook(hook);
    let parked = handles.len();
    let waited = wait_for(|| shared.parked.load(Ordering::Acquire), parked, PARK_WAIT);
    let spawn_time = start.elapsed();
    let after = Snapshot::take();

    let teardown = Instant::now();
    shared.release.store(true, Ordering::Release);
    for h in &handles {
        h.coroutine().unpark();
    }
    let panics = handles.into_iter().filter_map(|h| h.join().err()).count();
    let teardown = teardown.elapsed();
    waited?;
    if panics > 0 {
        return Err(format!("{panics} parked coroutines panicked"));
    }
    Ok(outcome(
        spec, parked, stopped, spawn_time, &before, &after?, teardown,
    ))
}

/// Shortens a panic message that embeds an `io::Error`'s debug form
/// (`... IoError(Os { code: 12, kind: OutOfMemory, message: "Cannot allocate memory" })`)
/// to `... (Cannot allocate memory)`.
fn shorten(why: &str) -> String {
    let message = why
        .split_once("message: \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(m, _)| m);
    match (message, why.split_once(": ")) {
        (Some(m), Some((head, _))) => format!("{head} ({m})"),
        _ => why.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{shorten, Outcome, ProcStatus, Usage};

    fn outcome(parked: usize, faults: u64, micros: f64) -> Outcome {
        let status = ProcStatus {
            rss: 0,
            pte: 0,
            vm_size: 0,
            threads: 1,
        };
        Outcome {
            requested: parked,
            parked,
            stopped: None,
            spawn_seconds: 2.0,
            baseline: status,
            with_parked: status,
            kernel_stack_delta: None,
            teardown_seconds: 0.0,
            spawn_usage: Some(Usage {
                user: 0.0,
                sys: 0.0,
                minor_faults: faults,
            }),
            fresh_page_micros: Some(micros),
            second_round_seconds: Some(0.5),
            second_round_usage: None,
        }
    }

    #[test]
    fn fault_bound_divides_cpus_by_fault_time_per_thread() {
        // 1.25 faults per thread at 4 us each: 5 us of faulting per thread, so two CPUs
        // faulting in parallel allow 400 000 spawns per second.
        let o = outcome(1_000_000, 1_250_000, 4.0);
        assert_eq!(o.faults_per_thread(), Some(1.25));
        let bound = o.fault_bound_rate(2).expect("bound");
        assert!((bound - 400_000.0).abs() < 1e-6, "{bound}");
        assert_eq!(o.spawn_rate(), Some(500_000.0));
        assert_eq!(o.second_round_rate(), Some(2_000_000.0));
        // No faults measured: no bound (not an infinite one).
        assert_eq!(outcome(10, 0, 4.0).fault_bound_rate(2), None);
        let mut unmeasured = outcome(10, 10, 4.0);
        unmeasured.fresh_page_micros = None;
        assert_eq!(unmeasured.fault_bound_rate(2), None);
    }

    #[test]
    fn shortens_io_errors() {
        let why = "failed to alloc sys stack: IoError(Os { code: 12, kind: OutOfMemory, \
                   message: \"Cannot allocate memory\" })";
        assert_eq!(
            shorten(why),
            "failed to alloc sys stack (Cannot allocate memory)"
        );
        assert_eq!(shorten("plain"), "plain");
    }
}
