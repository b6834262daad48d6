//! Critical sections: stretches of code that preemption must never interrupt.
//!
//! With preemption on (`runtime/preempt.rs`), a green thread can be suspended between
//! any two instructions of application code, and the other green threads of its worker
//! then run *on the same kernel thread*. Per-kernel-thread state that is updated in
//! several instructions would then be seen half-updated, or updated twice: a worker's run
//! queue, a spin lock's holder waiting for itself, the STM's spare buffers, the epoch
//! collector's pin count, a mutex whose holder cannot run because the thread that waits
//! for it blocks the worker. Much of weft's code is inlined into the application's
//! functions, so the preemption handler cannot tell it apart by its address: it asks
//! this counter instead.
//!
//! # The invariant
//!
//! `DEPTH`, one count per kernel thread, is non-zero whenever that thread runs code that
//! must not be interleaved with other green threads of its worker:
//!
//! * a worker's own loop (a worker starts at 1 and stays there between green threads);
//! * every switch: a green thread saves its own count on its stack and sets 1 before it
//!   suspends, and puts its count back once resumed; a fresh green thread sets 0 as it
//!   starts and 1 as it ends; so the count is exactly 1 across every switch, seen from
//!   either side, and each green thread keeps its own count (one may suspend inside a
//!   critical section: a spin lock's waiter yields to let the holder run);
//! * every lock weft's own code takes (its spin locks, the parking lot's buckets, the
//!   other internal mutexes), from acquisition to release;
//! * the other short windows that touch per-kernel-thread state: a local wake-up's push
//!   onto the run queue, a spawn's push onto the worker's deque and its stack cache, the
//!   STM's spare buffers and epoch pins, a CSP wake-up between its claim and its delivery.
//!
//! The handler preempts only when the count is 0. Kernel threads keep counting too (it is
//! one add and one subtract of a thread-local); nothing reads the count there.
//!
//! Under loom these are no-ops (there is no preemption to model).

#[cfg(not(loom))]
thread_local! {
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Enters a critical section (see the module docs); pair with [`leave`].
///
/// The count is read by a signal handler on this very thread, so the compiler must not
/// move memory accesses across its updates (nor merge an enter with the next leave): a
/// compiler fence after each update, the signal-handler fence of C's
/// `atomic_signal_fence`. It emits no instruction.
#[inline(always)]
pub(crate) fn enter() {
    #[cfg(not(loom))]
    {
        DEPTH.with(|d| d.set(d.get() + 1));
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }
}

/// Leaves a critical section entered with [`enter`].
#[inline(always)]
pub(crate) fn leave() {
    #[cfg(not(loom))]
    {
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// The current depth (0: preemptible, if everything else allows it).
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn depth() -> u32 {
    DEPTH.with(std::cell::Cell::get)
}

/// Sets the depth, returning the old one: a switch saves the suspending green thread's
/// depth on its own stack and runs at 1, and the thread puts its depth back once it is
/// resumed; so each green thread keeps its own count although the counter is the
/// kernel thread's (a thread may suspend inside a critical section: a spin lock's waiter
/// yields to let the holder run).
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn replace(d: u32) -> u32 {
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    let old = DEPTH.with(|c| c.replace(d));
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    old
}

/// A critical section as a value: entered when made, left when dropped.
#[derive(Debug)]
#[must_use = "the section ends when this is dropped"]
pub(crate) struct Critical(());

impl Critical {
    #[inline(always)]
    pub(crate) fn new() -> Critical {
        enter();
        Critical(())
    }
}

impl Drop for Critical {
    #[inline(always)]
    fn drop(&mut self) {
        leave();
    }
}

/// A lock guard `G` that holds a critical section with the lock (its field order drops
/// the lock first, then leaves).
pub(crate) struct Held<G> {
    guard: G,
    _critical: Critical,
}

impl<G> Held<G> {
    /// Takes a lock with `take` inside a new critical section.
    #[inline(always)]
    pub(crate) fn take(take: impl FnOnce() -> G) -> Held<G> {
        let c = Critical::new();
        Held {
            guard: take(),
            _critical: c,
        }
    }
}

impl<G: std::ops::Deref> std::ops::Deref for Held<G> {
    type Target = G::Target;
    #[inline(always)]
    fn deref(&self) -> &G::Target {
        &self.guard
    }
}

impl<G: std::ops::DerefMut> std::ops::DerefMut for Held<G> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.guard
    }
}

/// A guard of one of weft's internal `std::sync::Mutex`es, in a critical section.
#[cfg(not(loom))]
pub(crate) type Locked<'a, T> = Held<std::sync::MutexGuard<'a, T>>;

/// Locks one of weft's internal mutexes, ignoring poisoning (what they guard stays
/// consistent across a panic), inside a critical section.
#[cfg(not(loom))]
#[inline]
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> Locked<'_, T> {
    Held::take(|| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
}
