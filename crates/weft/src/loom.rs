//! The loom shim: every atomic the lock-free state machines use comes from here, so
//! the same code runs under the `loom` model checker (`RUSTFLAGS="--cfg loom"`).
//!
//! Outside loom everything here is a plain re-export of `std` (no wrapper, no
//! indirection). Under `--cfg loom` the crate builds only the parking lot
//! (`park/lot.rs`), `sync::Mutex`, `sync::Semaphore` and `sync::RwLock` (plus `park/state.rs`), the
//! production code unchanged, on top of the stand-ins in [`model`]: loom's atomics and
//! mutex, a thread handle whose park and unpark are loom's, and a model clock.
#![allow(unused_imports)]

#[cfg(loom)]
pub(crate) use ::loom::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
};

pub(crate) use std::sync::atomic::Ordering;

#[cfg(loom)]
pub(crate) use ::loom::sync::atomic::fence;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::fence;

/// A spin-wait hint: the CPU's under `std`, a yield to the model's scheduler under loom
/// (so a spinning model thread lets the others run).
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    ::loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

#[cfg(loom)]
pub(crate) use ::loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use model::Instant;
#[cfg(not(loom))]
pub(crate) use std::time::Instant;

#[cfg(loom)]
pub(crate) use model::{current, park_on, Thread, WaitReason};

/// What the parking lot and the locks need from the runtime, modelled with loom.
///
/// * [`Thread`]/[`current`]: one handle per loom thread (a loom thread-local), carrying
///   the parking lot's per-thread cell as the real thread control block does; its
///   `unpark` is loom's (a token, as weft's park word keeps one).
/// * [`park_on`]: loom's `park` (which may return spuriously, as weft's may). A park
///   with a deadline that has passed returns at once: that is the timer firing. There
///   is no timer thread: a park whose deadline has *not* passed sleeps until unparked,
///   so models use deadlines that have already passed (the timer then fires at the
///   waiter's first sleep, and loom races it against every unparker).
/// * [`Instant`]: a model clock that starts at zero in every execution and moves only
///   when a model calls [`advance`], so fairness decisions (`be_fair`, the first-park
///   stamps) are deterministic, as loom requires.
///
/// What loom cannot check here: its `unpark` hands the unparker's view of memory to
/// the woken thread at once, even while that thread still runs, so the lot's
/// release/acquire pair on the `queued` flag (for a waiter that finds itself dequeued
/// before it sleeps) is not tested: weakening that store to `Relaxed` goes unnoticed.
/// Loom's mutex (the bucket lock) is also sequentially consistent, stronger than
/// `std`'s promise.
#[cfg(loom)]
pub(crate) mod model {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use crate::park::lot::LotCell;

    /// A loom thread as the parking lot sees it.
    #[derive(Clone, Debug)]
    pub(crate) struct Thread {
        pub(crate) inner: Arc<ThreadInner>,
    }

    #[derive(Debug)]
    pub(crate) struct ThreadInner {
        pub(crate) lot: LotCell,
        /// The channel operation's state word (`csp/waiter.rs`).
        pub(crate) chan: ::loom::sync::atomic::AtomicUsize,
        /// The landing slot (`csp/landing.rs`).
        pub(crate) landing: crate::csp::landing::Landing,
        handle: ::loom::thread::Thread,
    }

    impl Thread {
        pub(crate) fn id(&self) -> ::loom::thread::ThreadId {
            self.inner.handle.id()
        }

        pub(crate) fn unpark(&self) {
            self.inner.handle.unpark();
        }
    }

    ::loom::thread_local! {
        static CURRENT: Thread = Thread {
            inner: Arc::new(ThreadInner {
                lot: LotCell::new(),
                chan: ::loom::sync::atomic::AtomicUsize::new(0),
                landing: crate::csp::landing::Landing::new(),
                handle: ::loom::thread::current(),
            }),
        };
    }

    /// The current loom thread's handle (the same one for every call on a thread).
    pub(crate) fn current() -> Thread {
        CURRENT.with(Thread::clone)
    }

    /// Stands in for `park::WaitReason`.
    #[derive(Debug)]
    pub(crate) struct WaitReason(#[allow(dead_code)] &'static str);

    impl WaitReason {
        pub(crate) const fn new(what: &'static str) -> Self {
            WaitReason(what)
        }
    }

    /// Stands in for `park::park_on` (see the module docs for deadlines); `true`
    /// when the deadline has passed, as the real one returns `Unparked::TimedOut`.
    pub(crate) fn park_on(_reason: &'static WaitReason, deadline: Option<Instant>) -> bool {
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return true;
        }
        ::loom::thread::park();
        false
    }

    ::loom::lazy_static! {
        static ref CLOCK: AtomicU64 = AtomicU64::new(0);
    }

    /// A point on the model clock, in nanoseconds.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
    pub(crate) struct Instant(u64);

    impl Instant {
        pub(crate) fn now() -> Self {
            Instant(CLOCK.load(Ordering::Relaxed))
        }

        pub(crate) fn checked_add(self, d: Duration) -> Option<Self> {
            u64::try_from(d.as_nanos())
                .ok()
                .and_then(|d| self.0.checked_add(d))
                .map(Instant)
        }

        pub(crate) fn duration_since(self, earlier: Self) -> Duration {
            Duration::from_nanos(self.0.saturating_sub(earlier.0))
        }

        /// Microseconds since the start of the execution (for `lot::stamp_now`).
        pub(crate) fn micros(self) -> usize {
            (self.0 / 1_000) as usize
        }
    }

    ::loom::lazy_static! {
        static ref EAGER_CLAIMS: std::sync::atomic::AtomicBool =
            std::sync::atomic::AtomicBool::new(false);
    }

    /// Makes every `Mutex` waiter of this execution claim the lock at once (the clock
    /// is invisible to loom's scheduler, so "a waiter whose wait crossed the bound" is
    /// not an interleaving it would find by itself).
    pub(crate) fn set_eager_claims() {
        EAGER_CLAIMS.store(true, Ordering::Relaxed);
    }

    /// Whether [`set_eager_claims`] was called in this execution.
    pub(crate) fn eager_claims() -> bool {
        EAGER_CLAIMS.load(Ordering::Relaxed)
    }

    /// Moves the model clock forward.
    pub(crate) fn advance(d: Duration) {
        CLOCK.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Runs `f` as a loom model with at most `preemptions` preemptions per execution.
    /// The parking lot's table and the clock are created first, on the model's main
    /// thread before it spawns anyone, so their lazy initialisation adds no
    /// happens-before edge between the threads under test.
    pub(crate) fn check(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
        let mut b = ::loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(preemptions);
        }
        b.check(move || {
            let _ = Instant::now();
            crate::park::lot::touch_table();
            f();
        });
    }
}
