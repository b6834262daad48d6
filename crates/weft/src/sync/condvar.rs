//! Condition variables for weft's [`Mutex`].
//!
//! # Algorithm
//!
//! A waiter enqueues itself in the parking lot under the condition variable's address
//! and only *then* releases the mutex (the lot's `before_sleep` step), so a notifier
//! that changes the state under the mutex and then notifies always finds it queued:
//! no wake-up is lost between the unlock and the sleep. After waking (or timing out)
//! the waiter locks the mutex again. `notify_one` wakes the longest waiter,
//! `notify_all` every waiter; they then compete for the mutex.
//!
//! A wait may also end without a notification when it times out. As with every
//! condition variable, wait in a loop around the condition, or use
//! [`Condvar::wait_while`].

use std::fmt;
use std::time::Duration;

// Under `--cfg loom` the model clock (see `loom.rs`).
use crate::loom::Instant;

use super::{Mutex, MutexGuard};
use crate::park::lot::{self, ParkResult, ParkToken, UnparkToken};
use crate::park::WaitReason;

static CONDVAR: WaitReason = WaitReason::new("condition variable");

/// Whether a timed wait ended by timing out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// `true` when the wait timed out.
    pub fn timed_out(self) -> bool {
        self.0
    }
}

/// A condition variable: wait for a condition on data guarded by a [`Mutex`].
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p2 = pair.clone();
/// let h = weft::spawn(move || {
///     *p2.0.lock() = true;
///     p2.1.notify_one();
/// });
/// let (ready, cv) = &*pair;
/// let guard = cv.wait_while(ready.lock(), |ready| !*ready);
/// assert!(*guard);
/// drop(guard);
/// h.join().unwrap();
/// ```
#[derive(Default)]
pub struct Condvar {
    /// Gives the condition variable an address of its own (its parking-lot key).
    _key: u8,
}

impl Condvar {
    /// A new condition variable.
    pub const fn new() -> Self {
        Condvar { _key: 0 }
    }

    fn key(&self) -> usize {
        self as *const Condvar as usize
    }

    /// Releases the guard's mutex, waits for a notification, and locks it again.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_inner(guard, None).0
    }

    /// Waits until `condition` returns `false` (checked under the lock first, then
    /// after every wake-up).
    pub fn wait_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`.
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        self.wait_inner(guard, Instant::now().checked_add(timeout))
    }

    /// Like [`wait_while`](Self::wait_while), giving up after `timeout`; the result
    /// says whether the condition still held when it gave up.
    pub fn wait_while_timeout<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let deadline = Instant::now().checked_add(timeout);
        while condition(&mut *guard) {
            let (g, r) = self.wait_inner(guard, deadline);
            guard = g;
            if r.timed_out() {
                let still = condition(&mut *guard);
                return (guard, WaitTimeoutResult(still));
            }
        }
        (guard, WaitTimeoutResult(false))
    }

    fn wait_inner<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let mutex: &'a Mutex<T> = MutexGuard::mutex(&guard);
        let mut guard = Some(guard);
        let r = lot::park(
            self.key(),
            &CONDVAR,
            ParkToken(0),
            || true,
            // Queued: now release the mutex.
            || drop(guard.take()),
            |_, _| {},
            deadline,
        );
        (mutex.lock(), WaitTimeoutResult(r == ParkResult::TimedOut))
    }

    /// Wakes one waiter, if any; returns whether one was woken.
    pub fn notify_one(&self) -> bool {
        lot::unpark_one(self.key(), |_| UnparkToken(0)) != 0
    }

    /// Wakes every waiter; returns how many.
    pub fn notify_all(&self) -> usize {
        lot::unpark_all(self.key(), UnparkToken(0))
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

/// Loom models on the real parking lot: a notification is never lost (a lost wake-up
/// shows up as loom's "all threads blocked"), and a time-out racing a notification ends
/// the wait either way with the mutex held.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::model::check;
    use ::loom::sync::Arc;
    use ::loom::thread;

    #[test]
    fn notify_one_is_never_lost() {
        check(2, || {
            let pair = Arc::new((Mutex::new(false), Condvar::new()));
            let p2 = pair.clone();
            let t = thread::spawn(move || {
                *p2.0.lock() = true;
                p2.1.notify_one();
            });
            let g = pair.1.wait_while(pair.0.lock(), |ready| !*ready);
            assert!(*g);
            drop(g);
            t.join().unwrap();
        });
    }

    #[test]
    fn timeout_racing_a_notification() {
        check(2, || {
            let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
            let p2 = pair.clone();
            let t = thread::spawn(move || {
                *p2.0.lock() += 1;
                p2.1.notify_all();
            });
            // A zero time-out: the model's timer fires at the first sleep, racing the
            // notifier; the wait must return holding the lock whichever wins.
            let (mut g, _) = pair.1.wait_timeout(pair.0.lock(), Duration::ZERO);
            *g += 1;
            drop(g);
            t.join().unwrap();
            assert_eq!(*pair.0.lock(), 2);
        });
    }
}
