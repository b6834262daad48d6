//! Spinlocks: a test-and-test-and-set lock with bounded exponential backoff, and a FIFO
//! ticket lock.
//!
//! # When a spinlock is the wrong choice
//!
//! A spinning thread burns its CPU until the holder lets go. That only pays when the
//! critical section is a few dozen nanoseconds *and* the holder is running on another
//! CPU right now. It is the wrong choice when
//!
//! * there are more threads than CPUs: a waiter may spin for a whole scheduler time
//!   slice while the holder waits for a CPU (the lab's Locks section times this hazard
//!   next to [`Mutex`](super::Mutex));
//! * the critical section can block (I/O, a park, an allocation that faults), or is
//!   long;
//! * waiters are green threads on the holder's own worker: the holder cannot run until
//!   they stop spinning. These locks therefore give up the CPU after their spinning
//!   budget (a green thread yields to its worker, a kernel thread to the kernel), which
//!   keeps them live but slow; prefer [`Mutex`](super::Mutex), which spins briefly and
//!   then parks.
//!
//! # Algorithms
//!
//! * [`SpinLock`]: one `AtomicBool`. Lock = `compare_exchange(false, true)`; while it
//!   reads taken, spin on a plain load (test-and-test-and-set: the cache line stays
//!   shared while it spins)
//!   with exponential backoff of spin hints, 1 to 64 per round, then yields.
//! * [`TicketLock`]: two counters; a locker takes the next ticket (`fetch_add`) and
//!   waits until `now_serving` reaches it, backing off in proportion to its distance
//!   from the head. First come, first served: no waiter is overtaken.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
// Under `--cfg loom` these are loom's atomics (see `loom.rs`).
use crate::loom::{AtomicBool, AtomicU32, Ordering};

use super::WouldBlock;

/// Spin hints per backoff round grow 1, 2, 4, ... up to this, then the thread yields.
const MAX_SPIN: u32 = 64;

#[cfg(loom)]
fn relax(_rounds: &mut u32) {
    // Under loom: let the model run the holder.
    ::loom::thread::yield_now();
}

#[cfg(not(loom))]
fn relax(rounds: &mut u32) {
    if *rounds < MAX_SPIN {
        for _ in 0..*rounds {
            std::hint::spin_loop();
        }
        *rounds = (*rounds * 2).max(1);
    } else {
        // Out of budget: let the holder run (it may be a green thread on this worker).
        crate::yield_now();
    }
}

/// A test-and-test-and-set spinlock with bounded exponential backoff.
///
/// ```
/// let lock = weft::sync::SpinLock::new(Vec::new());
/// lock.lock().push(1);
/// assert_eq!(*lock.lock(), [1]);
/// ```
pub struct SpinLock<T: ?Sized> {
    locked: AtomicBool,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one thread at a time: `T: Send` suffices.
unsafe impl<T: ?Sized + Send> Send for SpinLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for SpinLock<T> {}

/// Proof of holding a [`SpinLock`]; unlocks when dropped. `!Send`:
///
/// ```compile_fail
/// let m = weft::sync::SpinLock::new(0);
/// let g = m.lock();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(g));
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SpinLockGuard<'a, T: ?Sized, const MARKED: bool = true> {
    lock: &'a SpinLock<T>,
    not_send: PhantomData<*const ()>,
}

// SAFETY: sharing a guard shares `&T` only.
unsafe impl<T: ?Sized + Sync, const MARKED: bool> Sync for SpinLockGuard<'_, T, MARKED> {}

impl<T> SpinLock<T> {
    /// A new unlocked spinlock.
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            data: UnsafeCell::new(value),
        }
    }

    /// A new unlocked spinlock (not `const` under loom, whose atomics have no `const fn new`).
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock, returning the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> SpinLock<T> {
    /// Acquires the lock, spinning (then yielding) until it is free.
    ///
    /// While a green thread waits for or holds a spin lock it is never preempted (see
    /// `Runtime::builder().preemption`): as in an operating system's kernel, holding a
    /// spin lock disables preemption, so a holder never keeps its worker's other
    /// threads spinning for a whole slice.
    #[inline]
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        crate::critical::enter();
        self.acquire();
        SpinLockGuard {
            lock: self,
            not_send: PhantomData,
        }
    }

    /// Spins (then yields) until this thread has set `locked`.
    #[inline]
    fn acquire(&self) {
        let mut rounds = 1;
        while self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // Test before test-and-set: wait on plain reads, which leave the line shared,
            // and try again only once it reads free. A compare-exchange rather than a
            // swap: a failed swap still writes, and under loom a waiter that keeps
            // re-reading its own write never sees the release (the model never ended).
            while self.locked.load(Ordering::Relaxed) {
                relax(&mut rounds);
            }
        }
    }

    /// Acquires the lock if it is free right now.
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] when it is held.
    #[inline]
    pub fn try_lock(&self) -> Result<SpinLockGuard<'_, T>, WouldBlock> {
        crate::critical::enter();
        if !self.locked.load(Ordering::Relaxed)
            && self
                .locked
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            Ok(SpinLockGuard {
                lock: self,
                not_send: PhantomData,
            })
        } else {
            crate::critical::leave();
            Err(WouldBlock)
        }
    }

    /// The data, through an exclusive borrow.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// [`lock`](Self::lock) without the critical section: a holder may be preempted (its
    /// worker's other threads that want the lock then spin, then yield to it). For weft's
    /// own hot paths whose lock guards nothing per-kernel-thread (the CSP channels),
    /// where two thread-local writes per acquisition measured 8% of a ping-pong.
    #[inline]
    pub(crate) fn lock_unmarked(&self) -> SpinLockGuard<'_, T, false> {
        self.acquire();
        SpinLockGuard {
            lock: self,
            not_send: PhantomData,
        }
    }
}

impl<T: ?Sized, const MARKED: bool> Deref for SpinLockGuard<'_, T, MARKED> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves this thread holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized, const MARKED: bool> DerefMut for SpinLockGuard<'_, T, MARKED> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves exclusive ownership; `&mut self` makes this the only
        // reference derived from it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized, const MARKED: bool> Drop for SpinLockGuard<'_, T, MARKED> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
        if MARKED {
            crate::critical::leave();
        }
    }
}

/// A FIFO spinlock: waiters are served in the order they arrived.
///
/// ```
/// let lock = weft::sync::TicketLock::new(0u64);
/// *lock.lock() += 1;
/// assert_eq!(*lock.lock(), 1);
/// ```
pub struct TicketLock<T: ?Sized> {
    next: AtomicU32,
    serving: AtomicU32,
    data: UnsafeCell<T>,
}

// SAFETY: as for SpinLock: one `&mut T` at a time.
unsafe impl<T: ?Sized + Send> Send for TicketLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for TicketLock<T> {}

/// Proof of holding a [`TicketLock`]; serves the next ticket when dropped. `!Send`:
///
/// ```compile_fail
/// let m = weft::sync::TicketLock::new(0);
/// let g = m.lock();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(g));
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct TicketLockGuard<'a, T: ?Sized> {
    lock: &'a TicketLock<T>,
    not_send: PhantomData<*const ()>,
}

// SAFETY: sharing a guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for TicketLockGuard<'_, T> {}

impl<T> TicketLock<T> {
    /// A new unlocked ticket lock.
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        TicketLock {
            next: AtomicU32::new(0),
            serving: AtomicU32::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// A new unlocked ticket lock (not `const` under loom).
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        TicketLock {
            next: AtomicU32::new(0),
            serving: AtomicU32::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock, returning the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> TicketLock<T> {
    /// Takes a ticket and waits for its turn.
    #[inline]
    pub fn lock(&self) -> TicketLockGuard<'_, T> {
        // As for `SpinLock`: never preempted while waiting or holding.
        crate::critical::enter();
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        loop {
            let serving = self.serving.load(Ordering::Acquire);
            if serving == ticket {
                break;
            }
            // Back off in proportion to how many are ahead.
            // Next in line polls with a single hint, so the hand-over is seen at once.
            let ahead = ticket.wrapping_sub(serving);
            let mut rounds = (ahead.saturating_sub(1).saturating_mul(8)).clamp(1, MAX_SPIN);
            relax(&mut rounds);
        }
        TicketLockGuard {
            lock: self,
            not_send: PhantomData,
        }
    }

    /// Takes the lock only if nobody holds it or waits for it.
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] otherwise.
    pub fn try_lock(&self) -> Result<TicketLockGuard<'_, T>, WouldBlock> {
        crate::critical::enter();
        let serving = self.serving.load(Ordering::Acquire);
        self.next
            .compare_exchange(
                serving,
                serving.wrapping_add(1),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .map(|_| TicketLockGuard {
                lock: self,
                not_send: PhantomData,
            })
            .map_err(|_| {
                crate::critical::leave();
                WouldBlock
            })
    }

    /// The data, through an exclusive borrow.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: ?Sized> Deref for TicketLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves this thread holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for TicketLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves exclusive ownership; `&mut self` makes this the only
        // reference derived from it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for TicketLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Only the holder writes `serving`, so a plain increment is race-free.
        let s = self.lock.serving.load(Ordering::Relaxed);
        self.lock
            .serving
            .store(s.wrapping_add(1), Ordering::Release);
        crate::critical::leave();
    }
}

macro_rules! debug_lock {
    ($lock:ident, $guard:ident) => {
        impl<T: ?Sized + fmt::Debug> fmt::Debug for $lock<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.try_lock() {
                    Ok(g) => f
                        .debug_struct(stringify!($lock))
                        .field("data", &&*g)
                        .finish(),
                    Err(_) => f
                        .debug_struct(stringify!($lock))
                        .field("data", &format_args!("<locked>"))
                        .finish(),
                }
            }
        }

        impl<T: ?Sized + fmt::Debug> fmt::Debug for $guard<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }

        impl<T: Default> Default for $lock<T> {
            fn default() -> Self {
                $lock::new(T::default())
            }
        }
    };
}

debug_lock!(SpinLock, SpinLockGuard);
debug_lock!(TicketLock, TicketLockGuard);

/// Loom models of both spinlocks: mutual exclusion (the data is a loom `UnsafeCell`, so
/// loom reports any overlapping access), no lost hand-over (a lost unlock shows up as a
/// spinning thread that never gets the lock: loom reports the execution as too long), and
/// `try_lock` racing `lock`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::model::check;
    use ::loom::cell::UnsafeCell as LoomUnsafeCell;
    use ::loom::sync::Arc;
    use ::loom::thread;

    fn bump(cell: &LoomUnsafeCell<usize>) {
        // SAFETY: called with the lock held; loom checks that no other access overlaps.
        cell.with_mut(|p| unsafe { *p += 1 });
    }

    fn read(cell: &LoomUnsafeCell<usize>) -> usize {
        // SAFETY: as above.
        cell.with(|p| unsafe { *p })
    }

    /// Two lockers and a `try_lock` on a `$Lock`: exclusion, and the count is 2 or 3
    /// (the `try_lock` may or may not get in). Evaluates to the lock.
    macro_rules! two_lockers_and_a_try {
        ($Lock:ident) => {{
            let l = Arc::new($Lock::new(LoomUnsafeCell::new(0usize)));
            let l2 = l.clone();
            let t = thread::spawn(move || bump(&l2.lock()));
            bump(&l.lock());
            if let Ok(g) = l.try_lock() {
                bump(&g);
            }
            t.join().unwrap();
            let n = read(&l.lock());
            assert!(n == 2 || n == 3, "{n}");
            l
        }};
    }

    #[test]
    fn spin_lock_excludes() {
        check(3, || {
            let l = two_lockers_and_a_try!(SpinLock);
            assert!(!l.locked.load(Ordering::Relaxed));
        });
    }

    #[test]
    fn ticket_lock_excludes_and_hands_over() {
        check(3, || {
            two_lockers_and_a_try!(TicketLock);
        });
    }
}
