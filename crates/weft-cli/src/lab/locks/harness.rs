//! What every locks probe shares: the locks under test behind two small traits, gangs of
//! threads that start together (kernel threads, weft green threads, tokio tasks), and the
//! loops they run.
//!
//! Every lock guards a `u64` that each exclusive acquisition increments, so after a run the
//! values must add up to the number of acquisitions: a lock that let two holders in at once
//! would lose increments, and the probe reports that as an error instead of a figure.
//!
//! A loop comes in two builds, chosen by the `TIMED` parameter. The untimed build is what
//! the throughput figures come from. The timed build gives the fairness figure: it reads the
//! clock once per iteration, right after the unlock, and keeps the longest interval between
//! two consecutive releases of one thread, that is the longest wait for the lock plus one hold
//! (a few nanoseconds here). Reading the clock inside the critical section instead would make
//! every hold longer and so the lock more contended than in the untimed runs. The clock read
//! still adds a little work outside the lock, so the two figures come from separate runs of
//! about the same duration.
//!
//! Every loop also stops early once its gang's time limit has passed ([`Start`]), so a lock
//! that turns slow cannot stretch a run far beyond its plan; figures are over the operations
//! actually done.

use std::hint::black_box;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::lab::threads::oversubscription::spin;
use crate::lab::{child, machine};
use weft::sync as wsync;

/// Every lock, read-write lock and semaphore the section measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Primitive {
    /// `weft::sync::Mutex`.
    WeftMutex,
    /// `weft::sync::SpinLock` (test-and-test-and-set with backoff).
    WeftSpinLock,
    /// `weft::sync::TicketLock` (FIFO spinlock).
    WeftTicketLock,
    /// `std::sync::Mutex`.
    StdMutex,
    /// `parking_lot::Mutex`.
    ParkingLotMutex,
    /// `spin::mutex::SpinMutex` (the spin crate's default `Mutex`).
    SpinMutex,
    /// `spin::mutex::TicketMutex`.
    SpinTicketMutex,
    /// `tokio::sync::Mutex`.
    TokioMutex,
    /// `weft::sync::RwLock`.
    WeftRwLock,
    /// `std::sync::RwLock`.
    StdRwLock,
    /// `parking_lot::RwLock`.
    ParkingLotRwLock,
    /// `spin::RwLock`.
    SpinRwLock,
    /// `tokio::sync::RwLock`.
    TokioRwLock,
    /// `weft::sync::Semaphore`.
    WeftSemaphore,
    /// `tokio::sync::Semaphore`.
    TokioSemaphore,
}

impl Primitive {
    /// Mutual-exclusion locks, weft's first.
    pub const MUTEXES: [Primitive; 8] = [
        Primitive::WeftMutex,
        Primitive::WeftSpinLock,
        Primitive::WeftTicketLock,
        Primitive::StdMutex,
        Primitive::ParkingLotMutex,
        Primitive::SpinMutex,
        Primitive::SpinTicketMutex,
        Primitive::TokioMutex,
    ];
    /// Read-write locks, weft's first.
    pub const RWLOCKS: [Primitive; 5] = [
        Primitive::WeftRwLock,
        Primitive::StdRwLock,
        Primitive::ParkingLotRwLock,
        Primitive::SpinRwLock,
        Primitive::TokioRwLock,
    ];
    /// Semaphores (std, parking_lot and spin have none).
    pub const SEMAPHORES: [Primitive; 2] = [Primitive::WeftSemaphore, Primitive::TokioSemaphore];

    /// The type's path, as a row label.
    pub fn label(self) -> &'static str {
        match self {
            Primitive::WeftMutex => "weft::sync::Mutex",
            Primitive::WeftSpinLock => "weft::sync::SpinLock",
            Primitive::WeftTicketLock => "weft::sync::TicketLock",
            Primitive::StdMutex => "std::sync::Mutex",
            Primitive::ParkingLotMutex => "parking_lot::Mutex",
            Primitive::SpinMutex => "spin::mutex::SpinMutex",
            Primitive::SpinTicketMutex => "spin::mutex::TicketMutex",
            Primitive::TokioMutex => "tokio::sync::Mutex",
            Primitive::WeftRwLock => "weft::sync::RwLock",
            Primitive::StdRwLock => "std::sync::RwLock",
            Primitive::ParkingLotRwLock => "parking_lot::RwLock",
            Primitive::SpinRwLock => "spin::RwLock",
            Primitive::TokioRwLock => "tokio::sync::RwLock",
            Primitive::WeftSemaphore => "weft::sync::Semaphore",
            Primitive::TokioSemaphore => "tokio::sync::Semaphore",
        }
    }

    /// A short name, for chart axes (at most 12 characters).
    pub fn short(self) -> &'static str {
        match self {
            Primitive::WeftMutex => "weft Mutex",
            Primitive::WeftSpinLock => "weft Spin",
            Primitive::WeftTicketLock => "weft Ticket",
            Primitive::StdMutex => "std Mutex",
            Primitive::ParkingLotMutex => "parking_lot",
            Primitive::SpinMutex => "spin Spin",
            Primitive::SpinTicketMutex => "spin Ticket",
            Primitive::TokioMutex => "tokio Mutex",
            Primitive::WeftRwLock => "weft RwLock",
            Primitive::StdRwLock => "std RwLock",
            Primitive::ParkingLotRwLock => "parking_lot",
            Primitive::SpinRwLock => "spin RwLock",
            Primitive::TokioRwLock => "tokio RwLock",
            Primitive::WeftSemaphore => "weft",
            Primitive::TokioSemaphore => "tokio",
        }
    }

    /// Whether it is one of weft's own.
    pub fn is_weft(self) -> bool {
        self.label().starts_with("weft::")
    }

    /// Whether it is tokio's (used from tasks, with `.await`).
    pub fn is_tokio(self) -> bool {
        self.label().starts_with("tokio::")
    }

    /// Whether waiters spin instead of sleeping.
    pub fn spins(self) -> bool {
        matches!(
            self,
            Primitive::WeftSpinLock
                | Primitive::WeftTicketLock
                | Primitive::SpinMutex
                | Primitive::SpinTicketMutex
        )
    }
}

/// A value on its own cache lines (128 bytes: the adjacent-line prefetcher pairs lines), so
/// that threads using different locks of an array do not share a line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

/// A mutual-exclusion lock guarding a `u64`, as the loops use it.
pub trait Exclusive: Send + Sync + 'static {
    /// The guard; the value is reachable through it while it lives.
    type Guard<'a>: DerefMut<Target = u64>
    where
        Self: 'a;
    /// A lock holding `value`.
    fn with_value(value: u64) -> Self;
    /// Blocks (or spins) until the lock is held.
    fn acquire(&self) -> Self::Guard<'_>;
}

/// A read-write lock guarding a `u64`, as the loops use it.
pub trait Shared: Send + Sync + 'static {
    /// A read guard.
    type Read<'a>: Deref<Target = u64>
    where
        Self: 'a;
    /// A write guard.
    type Write<'a>: DerefMut<Target = u64>
    where
        Self: 'a;
    /// A lock holding `value`.
    fn with_value(value: u64) -> Self;
    /// Blocks until read access is held.
    fn read_access(&self) -> Self::Read<'_>;
    /// Blocks until write access is held.
    fn write_access(&self) -> Self::Write<'_>;
}

macro_rules! exclusive_impl {
    ($ty:ty, $guard:ty, |$l:ident| $acquire:expr) => {
        impl Exclusive for $ty {
            type Guard<'a> = $guard;
            #[inline]
            fn with_value(value: u64) -> Self {
                <$ty>::new(value)
            }
            #[inline]
            fn acquire(&self) -> Self::Guard<'_> {
                let $l = self;
                $acquire
            }
        }
    };
}

exclusive_impl!(wsync::Mutex<u64>, wsync::MutexGuard<'a, u64>, |l| l.lock());
exclusive_impl!(wsync::SpinLock<u64>, wsync::SpinLockGuard<'a, u64>, |l| l
    .lock());
exclusive_impl!(
    wsync::TicketLock<u64>,
    wsync::TicketLockGuard<'a, u64>,
    |l| l.lock()
);
// A panic never happens while these loops hold a lock, so poisoning cannot occur; were it
// to, the count check after the run would still catch a lost update.
exclusive_impl!(std::sync::Mutex<u64>, std::sync::MutexGuard<'a, u64>, |l| l
    .lock()
    .unwrap_or_else(PoisonError::into_inner));
exclusive_impl!(
    parking_lot::Mutex<u64>,
    parking_lot::MutexGuard<'a, u64>,
    |l| l.lock()
);
exclusive_impl!(
    spin::mutex::SpinMutex<u64>,
    spin::mutex::SpinMutexGuard<'a, u64>,
    |l| l.lock()
);
exclusive_impl!(
    spin::mutex::TicketMutex<u64>,
    spin::mutex::TicketMutexGuard<'a, u64>,
    |l| l.lock()
);

macro_rules! shared_impl {
    ($ty:ty, $read:ty, $write:ty, |$l:ident| $r:expr, $w:expr) => {
        impl Shared for $ty {
            type Read<'a> = $read;
            type Write<'a> = $write;
            #[inline]
            fn with_value(value: u64) -> Self {
                <$ty>::new(value)
            }
            #[inline]
            fn read_access(&self) -> Self::Read<'_> {
                let $l = self;
                $r
            }
            #[inline]
            fn write_access(&self) -> Self::Write<'_> {
                let $l = self;
                $w
            }
        }
    };
}

shared_impl!(
    wsync::RwLock<u64>,
    wsync::RwLockReadGuard<'a, u64>,
    wsync::RwLockWriteGuard<'a, u64>,
    |l| l.read(),
    l.write()
);
shared_impl!(
    std::sync::RwLock<u64>,
    std::sync::RwLockReadGuard<'a, u64>,
    std::sync::RwLockWriteGuard<'a, u64>,
    |l| l.read().unwrap_or_else(PoisonError::into_inner),
    l.write().unwrap_or_else(PoisonError::into_inner)
);
shared_impl!(
    parking_lot::RwLock<u64>,
    parking_lot::RwLockReadGuard<'a, u64>,
    parking_lot::RwLockWriteGuard<'a, u64>,
    |l| l.read(),
    l.write()
);
shared_impl!(
    spin::RwLock<u64>,
    spin::RwLockReadGuard<'a, u64>,
    spin::RwLockWriteGuard<'a, u64>,
    |l| l.read(),
    l.write()
);

/// Runs `$body` with `$L` standing for the type of the mutual-exclusion lock `$lock`; an
/// `Err` for a lock that is not one (or is tokio's, which needs a runtime).
macro_rules! with_exclusive {
    ($lock:expr, $L:ident => $body:expr) => {{
        use $crate::lab::locks::harness::Primitive as K;
        match $lock {
            K::WeftMutex => {
                type $L = $crate::lab::locks::harness::WeftMutex;
                $body
            }
            K::WeftSpinLock => {
                type $L = $crate::lab::locks::harness::WeftSpinLock;
                $body
            }
            K::WeftTicketLock => {
                type $L = $crate::lab::locks::harness::WeftTicketLock;
                $body
            }
            K::StdMutex => {
                type $L = std::sync::Mutex<u64>;
                $body
            }
            K::ParkingLotMutex => {
                type $L = parking_lot::Mutex<u64>;
                $body
            }
            K::SpinMutex => {
                type $L = spin::mutex::SpinMutex<u64>;
                $body
            }
            K::SpinTicketMutex => {
                type $L = spin::mutex::TicketMutex<u64>;
                $body
            }
            other => Err(format!(
                "{} is not a mutual-exclusion lock usable from plain threads",
                other.label()
            )),
        }
    }};
}
pub(crate) use with_exclusive;

/// Runs `$body` with `$L` standing for the type of the read-write lock `$lock`.
macro_rules! with_shared {
    ($lock:expr, $L:ident => $body:expr) => {{
        use $crate::lab::locks::harness::Primitive as K;
        match $lock {
            K::WeftRwLock => {
                type $L = $crate::lab::locks::harness::WeftRwLock;
                $body
            }
            K::StdRwLock => {
                type $L = std::sync::RwLock<u64>;
                $body
            }
            K::ParkingLotRwLock => {
                type $L = parking_lot::RwLock<u64>;
                $body
            }
            K::SpinRwLock => {
                type $L = spin::RwLock<u64>;
                $body
            }
            other => Err(format!(
                "{} is not a read-write lock usable from plain threads",
                other.label()
            )),
        }
    }};
}
pub(crate) use with_shared;

/// weft's lock types as the dispatch macros name them.
pub type WeftMutex = wsync::Mutex<u64>;
/// See [`WeftMutex`].
pub type WeftSpinLock = wsync::SpinLock<u64>;
/// See [`WeftMutex`].
pub type WeftTicketLock = wsync::TicketLock<u64>;
/// See [`WeftMutex`].
pub type WeftRwLock = wsync::RwLock<u64>;
/// See [`WeftMutex`].
pub type WeftSemaphore = wsync::Semaphore;

/// xorshift64: the seeded choices of the loops (which lock, read or write).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// The generator of thread `index`, from the run's seed.
    pub fn for_thread(seed: u64, index: usize) -> Self {
        Self((seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    /// The next value.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n` (multiply-shift: no division in the loop).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// The share of `total` for thread `i` of `n`.
pub fn share(total: u64, n: usize, i: usize) -> u64 {
    let n = n.max(1) as u64;
    total / n + u64::from((i as u64) < total % n)
}

/// The wall time of a gang run and what each of its threads returned.
pub type GangRun<T> = (Duration, Vec<T>);

/// The common start of a gang's threads, and the time limit after which their loops stop
/// early: threads wait at the start until all have arrived, so the clock starts with all of
/// them running.
#[derive(Debug)]
pub struct Start {
    ready: AtomicUsize,
    go: AtomicBool,
    at: OnceLock<Instant>,
    /// When the first thread finished its share: waits are measured up to then.
    finished: OnceLock<Instant>,
    limit: Duration,
}

impl Start {
    /// A start whose loops stop once `limit` has passed since it opened.
    pub fn new(limit: Duration) -> Arc<Self> {
        Arc::new(Self {
            ready: AtomicUsize::new(0),
            go: AtomicBool::new(false),
            at: OnceLock::new(),
            finished: OnceLock::new(),
            limit,
        })
    }

    /// Whether the time limit has passed (a loop looks every [`CHECK_EVERY`] iterations).
    #[inline]
    pub fn expired(&self) -> bool {
        self.at.get().is_some_and(|at| at.elapsed() >= self.limit)
    }

    /// Called by each thread when its loop ends: the first call ends the measurement of
    /// waits ([`Interval::lap`]).
    pub fn mark_finished(&self) {
        self.finished.get_or_init(Instant::now);
    }

    /// Counts the caller in and waits for the start (yielding: on a green thread this lets
    /// the other green threads of the worker arrive too).
    fn arrive(&self) {
        self.ready.fetch_add(1, Ordering::AcqRel);
        while !self.go.load(Ordering::Acquire) {
            weft::yield_now();
        }
    }

    /// Waits until `n` threads have arrived, then starts the clock and opens.
    fn open_when(&self, n: usize) -> Result<Instant, String> {
        let waited = child::wait_for(
            || self.ready.load(Ordering::Acquire),
            n,
            Duration::from_secs(60),
        );
        let at = *self.at.get_or_init(Instant::now);
        // Open even on failure, so the threads that did arrive can finish and be joined.
        self.go.store(true, Ordering::Release);
        waited.map(|()| at)
    }

    /// Lets arrived threads go without a measurement (a spawn failed).
    fn abandon(&self) {
        self.at.get_or_init(Instant::now);
        self.go.store(true, Ordering::Release);
    }
}

/// How many iterations a loop runs between looks at its time limit.
pub const CHECK_EVERY: u64 = 1024;

/// Whether a loop at iteration `i` should stop for the time limit.
#[inline]
fn stop(i: u64, start: &Start) -> bool {
    i % CHECK_EVERY == CHECK_EVERY - 1 && start.expired()
}

/// Runs `f(i)` for `i` in `0..n` on `n` kernel threads started together; the wall time runs
/// from the start to the last thread's end.
///
/// With no more threads than CPUs, each thread is pinned to a CPU of its own: new threads
/// may start on one CPU, and then one of them can do its whole share within a time slice
/// before the other runs at all (or, under a FIFO spinlock, spin through time slices waiting
/// for a thread queued behind it on its own CPU), which measures placement, not the lock.
/// With more threads than CPUs the kernel places them, as it would for a program.
pub fn kernel_gang<T, F>(n: usize, start: &Arc<Start>, f: F) -> Result<GangRun<T>, String>
where
    T: Send + 'static,
    F: Fn(usize) -> T + Send + Sync + 'static,
{
    let cpus = machine::allowed_cpus().map_err(|e| format!("sched_getaffinity: {e}"))?;
    let pins: Vec<Option<usize>> = (0..n).map(|i| (n <= cpus.len()).then(|| cpus[i])).collect();
    let f = Arc::new(f);
    let gate = Arc::clone(start);
    let mut handles = Vec::with_capacity(n);
    for (i, pin) in pins.into_iter().enumerate() {
        let (f, g) = (Arc::clone(&f), Arc::clone(&gate));
        let spawned = thread::Builder::new().spawn(move || {
            let pinned = pin.map_or(Ok(()), |cpu| {
                machine::pin_current_thread(cpu).map_err(|e| format!("pinning to CPU {cpu}: {e}"))
            });
            g.arrive();
            pinned.map(|()| f(i))
        });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                // Let the threads already started run their share so they can be joined.
                gate.abandon();
                for h in handles {
                    let _ = h.join();
                }
                return Err(format!("spawning kernel thread {} of {n}: {e}", i + 1));
            }
        }
    }
    let start = gate.open_when(n)?;
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.join().map_err(|_| "a probe thread panicked".to_owned())?);
    }
    let elapsed = start.elapsed();
    Ok((elapsed, out.into_iter().collect::<Result<_, _>>()?))
}

/// As [`kernel_gang`], on `n` green threads of `rt`.
pub fn green_gang<T, F>(
    rt: &weft::Runtime,
    n: usize,
    start: &Arc<Start>,
    f: F,
) -> Result<GangRun<T>, String>
where
    T: Send + 'static,
    F: Fn(usize) -> T + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let gate = Arc::clone(start);
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let (f, g) = (Arc::clone(&f), Arc::clone(&gate));
        let spawned = weft::Builder::new().spawn_on(rt, move || {
            g.arrive();
            f(i)
        });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                gate.abandon();
                for h in handles {
                    let _ = h.join();
                }
                return Err(format!("spawning green thread {} of {n}: {e}", i + 1));
            }
        }
    }
    let start = gate.open_when(n)?;
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(
            h.join()
                .map_err(|_| "a probe green thread panicked".to_owned())?,
        );
    }
    Ok((start.elapsed(), out))
}

/// As [`kernel_gang`], on `n` tasks of the tokio runtime `rt`.
pub fn tokio_gang<T, F, Fut>(
    rt: &tokio::runtime::Runtime,
    n: usize,
    start: &Arc<Start>,
    f: F,
) -> Result<GangRun<T>, String>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let gate = Arc::clone(start);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let gate = Arc::clone(&gate);
            let work = f(i);
            rt.spawn(async move {
                gate.ready.fetch_add(1, Ordering::AcqRel);
                while !gate.go.load(Ordering::Acquire) {
                    tokio::task::yield_now().await;
                }
                work.await
            })
        })
        .collect();
    let start = gate.open_when(n)?;
    let out = rt.block_on(async move {
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(h.await.map_err(|e| format!("a probe task failed: {e}"))?);
        }
        Ok::<_, String>(out)
    })?;
    Ok((start.elapsed(), out))
}

// ---------------------------------------------------------------------------------------
// The loops.

/// Keeps the longest interval between consecutive calls of [`Interval::lap`], counted
/// only up to the moment the first thread of the gang finished its loop.
///
/// Waits are a measure of fairness among threads that all contend; once threads finish,
/// the ones still running also wait for the finished ones to exit (for green threads, the
/// runtime's clean-up of a finished thread runs on the worker), which is not the lock's
/// doing. A wait that began before the cut-off still counts up to it, so a thread starved
/// across the cut-off is not hidden.
#[derive(Debug)]
pub struct Interval {
    last: Instant,
    longest: Duration,
}

impl Interval {
    /// Starts the clock.
    #[inline]
    pub fn start() -> Self {
        Self {
            last: Instant::now(),
            longest: Duration::ZERO,
        }
    }

    /// Ends an interval and starts the next.
    #[inline]
    pub fn lap(&mut self, start: &Start) {
        let now = Instant::now();
        let end = start.finished.get().map_or(now, |&f| f.min(now));
        self.longest = self.longest.max(end.saturating_duration_since(self.last));
        self.last = now;
    }

    /// The longest interval so far.
    pub fn longest(&self) -> Duration {
        self.longest
    }
}

/// What a loop did: how many operations (fewer than asked if it hit the time limit), and
/// the longest wait (zero unless timed).
#[derive(Debug, Clone, Copy, Default)]
pub struct Done {
    /// Operations done.
    pub ops: u64,
    /// The longest interval between two consecutive releases.
    pub worst: Duration,
    /// Writes among the operations (read-write loops only).
    pub writes: u64,
}

impl Done {
    /// The total of a gang's loops: operations and writes added, the longest wait kept.
    pub fn total(all: &[Done]) -> Done {
        all.iter().fold(Done::default(), |a, d| Done {
            ops: a.ops + d.ops,
            worst: a.worst.max(d.worst),
            writes: a.writes + d.writes,
        })
    }
}

/// Up to `n` acquisitions, each of a lock of `locks` picked at random (the only one if
/// there is one), incrementing its value.
#[inline(never)]
pub fn exclusive_loop<L: Exclusive, const TIMED: bool>(
    locks: &[Padded<L>],
    n: u64,
    rng: &mut XorShift,
    start: &Start,
) -> Done {
    let many = locks.len() > 1;
    let count = locks.len() as u64;
    let mut clock = TIMED.then(Interval::start);
    let mut ops = 0;
    while ops < n {
        let lock = if many {
            &locks[rng.below(count) as usize].0
        } else {
            &locks[0].0
        };
        *lock.acquire() += 1;
        if let Some(clock) = clock.as_mut() {
            clock.lap(start);
        }
        ops += 1;
        if stop(ops, start) {
            break;
        }
    }
    start.mark_finished();
    Done {
        ops,
        worst: clock.map_or(Duration::ZERO, |c| c.longest()),
        writes: 0,
    }
}

/// Checks that the values of `locks` add up to `expected` acquisitions.
pub fn check_count<L: Exclusive>(locks: &[Padded<L>], expected: u64) -> Result<(), String> {
    let total: u64 = locks.iter().map(|l| *l.0.acquire()).sum();
    if total == expected {
        Ok(())
    } else {
        Err(format!(
            "the lock lost updates: {total} increments recorded for {expected} acquisitions"
        ))
    }
}

/// The tokio counterpart of [`exclusive_loop`].
pub async fn tokio_exclusive_loop<const TIMED: bool>(
    locks: &[Padded<tokio::sync::Mutex<u64>>],
    n: u64,
    rng: &mut XorShift,
    start: &Start,
) -> Done {
    let many = locks.len() > 1;
    let count = locks.len() as u64;
    let mut clock = TIMED.then(Interval::start);
    let mut ops = 0;
    while ops < n {
        let lock = if many {
            &locks[rng.below(count) as usize].0
        } else {
            &locks[0].0
        };
        *lock.lock().await += 1;
        if let Some(clock) = clock.as_mut() {
            clock.lap(start);
        }
        ops += 1;
        if stop(ops, start) {
            break;
        }
    }
    start.mark_finished();
    Done {
        ops,
        worst: clock.map_or(Duration::ZERO, |c| c.longest()),
        writes: 0,
    }
}

/// Up to `n` operations on a read-write lock, `write_percent` % of them writes (an
/// increment), the rest reads.
#[inline(never)]
pub fn read_mostly_loop<L: Shared, const TIMED: bool>(
    lock: &L,
    n: u64,
    write_percent: u64,
    rng: &mut XorShift,
    start: &Start,
) -> Done {
    let mut clock = TIMED.then(Interval::start);
    let (mut ops, mut writes) = (0, 0);
    while ops < n {
        if rng.below(100) < write_percent {
            *lock.write_access() += 1;
            writes += 1;
        } else {
            black_box(*lock.read_access());
        }
        if let Some(clock) = clock.as_mut() {
            clock.lap(start);
        }
        ops += 1;
        if stop(ops, start) {
            break;
        }
    }
    start.mark_finished();
    Done {
        ops,
        worst: clock.map_or(Duration::ZERO, |c| c.longest()),
        writes,
    }
}

/// The tokio counterpart of [`read_mostly_loop`].
pub async fn tokio_read_mostly_loop<const TIMED: bool>(
    lock: &tokio::sync::RwLock<u64>,
    n: u64,
    write_percent: u64,
    rng: &mut XorShift,
    start: &Start,
) -> Done {
    let mut clock = TIMED.then(Interval::start);
    let (mut ops, mut writes) = (0, 0);
    while ops < n {
        if rng.below(100) < write_percent {
            *lock.write().await += 1;
            writes += 1;
        } else {
            black_box(*lock.read().await);
        }
        if let Some(clock) = clock.as_mut() {
            clock.lap(start);
        }
        ops += 1;
        if stop(ops, start) {
            break;
        }
    }
    start.mark_finished();
    Done {
        ops,
        worst: clock.map_or(Duration::ZERO, |c| c.longest()),
        writes,
    }
}

/// Counts how many holders of a permit are inside at once (timed runs only, where the extra
/// shared counter does not distort a throughput figure).
#[derive(Debug, Default)]
pub struct Occupancy {
    inside: AtomicUsize,
    peak: AtomicUsize,
}

impl Occupancy {
    #[inline]
    fn enter(&self) {
        let now = self.inside.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::AcqRel);
    }

    #[inline]
    fn leave(&self) {
        self.inside.fetch_sub(1, Ordering::AcqRel);
    }

    /// The most holders seen inside at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }
}

/// The work-item size and seed of a semaphore loop.
#[derive(Debug, Clone, Copy)]
pub struct Items {
    /// Rounds of the hash loop per item.
    pub rounds: u64,
    /// Seed of the hash loop.
    pub seed: u64,
}

/// Up to `n` work items, each `items.rounds` rounds of the CPU-bound hash loop done while
/// holding one permit of `sem`.
#[inline(never)]
pub fn semaphore_loop<const TIMED: bool>(
    sem: &WeftSemaphore,
    occupancy: &Occupancy,
    n: u64,
    items: Items,
    start: &Start,
) -> Result<Done, String> {
    let mut clock = TIMED.then(Interval::start);
    let mut ops = 0;
    while ops < n {
        let permit = sem
            .acquire(1)
            .map_err(|e| format!("acquiring a permit: {e}"))?;
        if TIMED {
            occupancy.enter();
        }
        black_box(spin(items.rounds, items.seed ^ ops));
        if TIMED {
            occupancy.leave();
        }
        drop(permit);
        if let Some(clock) = clock.as_mut() {
            clock.lap(start);
        }
        ops += 1;
        if stop(ops, start) {
            break;
        }
    }
    start.mark_finished();
    Ok(Done {
        ops,
        worst: clock.map_or(Duration::ZERO, |c| c.longest()),
        writes: 0,
    })
}

/// The tokio counterpart of [`semaphore_loop`].
pub async fn tokio_semaphore_loop<const TIMED: bool>(
    sem: &tokio::sync::Semaphore,
    occupancy: &Occupancy,
    n: u64,
    items: Items,
    start: &Start,
) -> Result<Done, String> {
    let mut clock = TIMED.then(Interval::start);
    let mut ops = 0;
    while ops < n {
        let permit = sem
            .acquire()
            .await
            .map_err(|e| format!("acquiring a permit: {e}"))?;
        if TIMED {
            occupancy.enter();
        }
        black_box(spin(items.rounds, items.seed ^ ops));
        if TIMED {
            occupancy.leave();
        }
        drop(permit);
        if let Some(clock) = clock.as_mut() {
            clock.lap(start);
        }
        ops += 1;
        if stop(ops, start) {
            break;
        }
    }
    start.mark_finished();
    Ok(Done {
        ops,
        worst: clock.map_or(Duration::ZERO, |c| c.longest()),
        writes: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (total, n) in [(10u64, 3usize), (7, 7), (5, 8), (1_000_003, 1000)] {
            assert_eq!((0..n).map(|i| share(total, n, i)).sum::<u64>(), total);
        }
    }

    #[test]
    fn below_stays_below() {
        let mut rng = XorShift::for_thread(42, 0);
        let mut seen = [false; 64];
        for _ in 0..10_000 {
            let v = rng.below(64);
            assert!(v < 64);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s), "every lock gets picked");
    }

    #[test]
    fn every_lock_counts_exactly() {
        fn run<L: Exclusive>() {
            let locks: Arc<Vec<Padded<L>>> =
                Arc::new((0..4).map(|_| Padded(L::with_value(0))).collect());
            let l2 = Arc::clone(&locks);
            let start = Start::new(Duration::from_secs(60));
            let s2 = Arc::clone(&start);
            let (_, done) = kernel_gang(2, &start, move |i| {
                let mut rng = XorShift::for_thread(1, i);
                exclusive_loop::<L, true>(&l2, 10_000, &mut rng, &s2)
            })
            .unwrap();
            assert_eq!(Done::total(&done).ops, 20_000);
            check_count(&locks, 20_000).unwrap();
        }
        for lock in Primitive::MUTEXES.into_iter().filter(|l| !l.is_tokio()) {
            let r: Result<(), String> = with_exclusive!(lock, L => {
                run::<L>();
                Ok(())
            });
            r.unwrap();
        }
    }
}
