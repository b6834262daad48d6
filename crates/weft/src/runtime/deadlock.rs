//! The deadlock detector: "all green threads are asleep", reported to the kernel
//! threads waiting in `join` or `block_on` instead of a silent hang.
//!
//! # The condition
//!
//! A deadlock is reported only when *nothing in the process can run*:
//!
//! 1. every worker of every weft runtime sleeps with empty queues (so every started
//!    green thread is parked, and no unstarted one waits),
//! 2. no worker has a timer pending (no green thread parks with a deadline or sleeps)
//!    or a socket registered with its reactor (a peer could write to it at any time),
//! 3. every kernel thread registered as parked in weft without a deadline is still
//!    `PARKED` (its token not yet given), and at least one of them waits in `join` or
//!    `block_on`,
//! 4. the process has no other thread: the count of its threads in `/proc/self/stat`
//!    equals the workers plus the parked kernel threads. A thread weft does not know
//!    about (the test harness, another library's pool, a thread that will send on a
//!    channel later) could wake someone, so its mere existence vetoes the report,
//! 5. conditions 1–3 hold in two snapshots taken before and after reading the thread
//!    count, and a global *epoch*, bumped whenever a sleeping worker or a parked kernel
//!    thread is woken or a kernel thread parks, did not move between them. Nothing can
//!    wake in that window without moving the epoch, so the snapshot is of a state the
//!    process cannot leave.
//!
//! Each of these only errs towards *not* reporting: a real deadlock involving a thread
//! weft cannot see (point 4) goes unreported, but a reported deadlock is always one.
//! The check runs in the last worker to fall asleep, only when conditions 1–3 already
//! hold cheaply, so it costs nothing while the program makes progress.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::Shared;
use crate::park::state::PARKED;
use crate::thread::{Thread, ThreadInner};

static EPOCH: AtomicU64 = AtomicU64::new(0);
static WORKERS: AtomicUsize = AtomicUsize::new(0);
/// Kernel threads of stopped workers that never exit (see `worker_retired`).
static RETIRED: AtomicUsize = AtomicUsize::new(0);
static ASLEEP: AtomicUsize = AtomicUsize::new(0);
static JOINERS: AtomicUsize = AtomicUsize::new(0);

static RUNTIMES: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());
static KERNEL_PARKED: Mutex<Vec<Arc<ThreadInner>>> = Mutex::new(Vec::new());
static WAITERS: Mutex<Vec<Arc<Waiter>>> = Mutex::new(Vec::new());

use super::lock;

/// A kernel thread waiting in `join`/`block_on`; the detector leaves its report here.
#[derive(Debug)]
pub(crate) struct Waiter {
    thread: Thread,
    report: Mutex<Option<String>>,
}

impl Waiter {
    /// The deadlock report, if one was delivered.
    pub(crate) fn take_report(&self) -> Option<String> {
        lock(&self.report).take()
    }
}

/// Registers the calling kernel thread as waiting in `join`/`block_on`.
pub(crate) fn join_waiter() -> WaiterGuard {
    let w = Arc::new(Waiter {
        thread: crate::thread::current_kernel(),
        report: Mutex::new(None),
    });
    lock(&WAITERS).push(w.clone());
    JOINERS.fetch_add(1, Ordering::SeqCst);
    WaiterGuard(w)
}

/// Unregisters a join waiter when dropped.
#[derive(Debug)]
pub(crate) struct WaiterGuard(pub(crate) Arc<Waiter>);

impl Drop for WaiterGuard {
    fn drop(&mut self) {
        JOINERS.fetch_sub(1, Ordering::SeqCst);
        lock(&WAITERS).retain(|w| !Arc::ptr_eq(w, &self.0));
    }
}

#[inline]
pub(crate) fn bump() {
    EPOCH.fetch_add(1, Ordering::SeqCst);
}

pub(crate) fn worker_started() {
    WORKERS.fetch_add(1, Ordering::SeqCst);
}
pub(crate) fn worker_stopped() {
    WORKERS.fetch_sub(1, Ordering::SeqCst);
    bump();
}
/// A stopped worker whose kernel thread stays (asleep for ever: it left green threads
/// parked); it is no unknown thread that could wake anyone.
pub(crate) fn worker_retired() {
    RETIRED.fetch_add(1, Ordering::SeqCst);
}
pub(crate) fn worker_asleep() {
    ASLEEP.fetch_add(1, Ordering::SeqCst);
}
pub(crate) fn worker_awake() {
    ASLEEP.fetch_sub(1, Ordering::SeqCst);
}

pub(crate) fn register_runtime(s: &Arc<Shared>) {
    let mut r = lock(&RUNTIMES);
    r.retain(|w| w.strong_count() > 0);
    r.push(Arc::downgrade(s));
}

pub(crate) fn unregister_runtime(s: &Arc<Shared>) {
    lock(&RUNTIMES).retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), &**s));
}

/// A kernel thread committed to an indefinite park (its word is `PARKED`).
pub(crate) fn kernel_parked(t: &Arc<ThreadInner>) {
    let mut k = lock(&KERNEL_PARKED);
    t.parked_index.store(k.len(), Ordering::Relaxed);
    k.push(t.clone());
    drop(k);
    bump();
}

/// Removes `t` in O(1): each entry knows its index, and the entry moved into the hole
/// learns its new one.
pub(crate) fn kernel_unparked(t: &Arc<ThreadInner>) {
    let mut k = lock(&KERNEL_PARKED);
    let i = t.parked_index.swap(usize::MAX, Ordering::Relaxed);
    if i < k.len() {
        k.swap_remove(i);
        if let Some(moved) = k.get(i) {
            moved.parked_index.store(i, Ordering::Relaxed);
        }
    }
    drop(k);
    bump();
}

#[derive(PartialEq, Eq)]
struct Snapshot {
    epoch: u64,
    kernel_parked: usize,
}

/// Conditions 1–3, cheaply; `None` when any fails.
fn snapshot() -> Option<Snapshot> {
    let epoch = EPOCH.load(Ordering::SeqCst);
    if JOINERS.load(Ordering::SeqCst) == 0 {
        return None;
    }
    if ASLEEP.load(Ordering::SeqCst) != WORKERS.load(Ordering::SeqCst) {
        return None;
    }
    for rt in lock(&RUNTIMES).iter().filter_map(Weak::upgrade) {
        // A runtime that has shut down runs nothing (its live workers, still counted in
        // `WORKERS`, are exiting); its entry may outlive it (a runtime dropped from one of
        // its own green threads, whose handles keep it allocated).
        if rt.shutdown.load(Ordering::SeqCst) {
            continue;
        }
        let quiet = rt.injector.is_empty()
            && rt.workers.iter().all(|w| {
                w.sleep.load(Ordering::SeqCst) != 0
                    && w.reactor.get().is_none_or(|r| !r.has_sources())
                    && w.inbox.is_empty()
                    && w.stealer.is_empty()
                    && w.timers.load(Ordering::SeqCst) == 0
            });
        if !quiet {
            return None;
        }
    }
    let parked = lock(&KERNEL_PARKED);
    if !parked
        .iter()
        .all(|t| t.park.0.load(Ordering::SeqCst) == PARKED)
    {
        return None;
    }
    let waiters = lock(&WAITERS);
    if waiters.is_empty()
        || !waiters
            .iter()
            .all(|w| parked.iter().any(|t| Arc::ptr_eq(t, &w.thread.inner)))
    {
        return None;
    }
    Some(Snapshot {
        epoch,
        kernel_parked: parked.len(),
    })
}

/// The number of threads in this process, from `/proc/self/stat` (field 20).
fn process_threads() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; fields after it follow ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(17)?.parse().ok()
}

/// Called by a worker that is about to sleep with no timer pending.
pub(crate) fn check_from_idle_worker() {
    if JOINERS.load(Ordering::SeqCst) == 0 {
        return;
    }
    let Some(first) = snapshot() else { return };
    let Some(threads) = process_threads() else {
        return;
    };
    let workers = WORKERS.load(Ordering::SeqCst);
    let Some(second) = snapshot() else { return };
    if first != second || EPOCH.load(Ordering::SeqCst) != first.epoch {
        return;
    }
    if threads != workers + RETIRED.load(Ordering::SeqCst) + first.kernel_parked {
        return;
    }
    deliver(build_report());
}

fn build_report() -> String {
    let mut s = String::from(
        "weft: deadlock detected: all green threads are asleep and nothing can wake them \
         (no timers pending, every other thread waits in weft)\n",
    );
    let mut green = 0usize;
    for rt in lock(&RUNTIMES).iter().filter_map(Weak::upgrade) {
        for w in rt.workers.iter() {
            for t in lock(&w.registry).iter().flatten() {
                green += 1;
                if green <= 50 {
                    describe(&mut s, "green thread", t);
                }
            }
        }
    }
    if green > 50 {
        let _ = writeln!(s, "  ... and {} more green threads", green - 50);
    }
    if green == 0 {
        s.push_str("  (no green thread is alive)\n");
    }
    for t in lock(&KERNEL_PARKED).iter() {
        describe(
            &mut s,
            "kernel thread",
            &Thread {
                inner: Arc::clone(t),
            },
        );
    }
    s
}

fn describe(s: &mut String, kind: &str, t: &Thread) {
    let _ = writeln!(
        s,
        "  {kind} '{}' (id {}) parked on {}",
        t.name().unwrap_or("<unnamed>"),
        t.id().as_u64(),
        t.waiting_on().unwrap_or("<unknown>")
    );
}

fn deliver(report: String) {
    let waiters: Vec<Arc<Waiter>> = lock(&WAITERS).clone();
    for w in &waiters {
        *lock(&w.report) = Some(report.clone());
    }
    for w in &waiters {
        w.thread.unpark();
    }
}
