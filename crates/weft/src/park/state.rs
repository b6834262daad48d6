//! The park state machine shared by green and kernel threads.
//!
//! Every thread (green or kernel) owns one 32-bit word with three values:
//!
//! | value      | meaning                                                        |
//! |------------|----------------------------------------------------------------|
//! | `EMPTY`    | no wake-up token; the thread is running or about to park       |
//! | `NOTIFIED` | a token is available: the next (or current) park returns       |
//! | `PARKED`   | the thread is asleep and sits in no run queue                  |
//!
//! Invariants:
//!
//! 1. Only the thread itself (or, for a green thread, its home worker acting for it
//!    after the thread switched away) moves the word *into* `PARKED`, and only from
//!    `EMPTY` (`commit_park`).
//! 2. Exactly one party moves the word *out of* `PARKED`, always to `EMPTY`: either an
//!    unparker or the timer, each with a `compare_exchange` from `PARKED`, so only one
//!    can win. The winner, and no one else, makes the thread runnable again. So a
//!    parked thread is woken exactly once per park: never lost, never queued twice.
//! 3. The wake-up *is* the token: a thread woken out of `PARKED` finds `EMPTY` and has
//!    nothing to consume. A token is only stored (`EMPTY → NOTIFIED`) for a thread that
//!    is not parked, and the next park consumes it (`NOTIFIED → EMPTY`) without
//!    sleeping. Tokens do not accumulate.
//!
//! This keeps a park/unpark pair at two atomic read-modify-writes on the fast path
//! (the commit and the unparker's exchange). `unpark` publishes with `Release` and the
//! sleeper acquires (directly for a kernel thread, through the run queue for a green
//! one), so whatever the unparker wrote before `unpark` is visible to the woken thread.

use crate::loom::{AtomicU32, Ordering};

pub(crate) const EMPTY: u32 = 0;
pub(crate) const NOTIFIED: u32 = 1;
pub(crate) const PARKED: u32 = 2;

/// The park word of one thread.
#[derive(Debug)]
pub(crate) struct ParkState(pub(crate) AtomicU32);

impl ParkState {
    pub(crate) fn new() -> Self {
        Self(AtomicU32::new(EMPTY))
    }

    /// Consumes a pending token, if there is one (a load first: no write when none).
    #[inline]
    pub(crate) fn try_consume(&self) -> bool {
        self.0.load(Ordering::Relaxed) == NOTIFIED
            && self
                .0
                .compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Moves `EMPTY` to `PARKED`. Returns `false` when a token arrived first: the
    /// caller must not sleep, and consumes the token with [`consume`](Self::consume)
    /// (only `NOTIFIED` can be found here: no one else sets `PARKED`, invariant 1).
    #[inline]
    pub(crate) fn commit_park(&self) -> bool {
        self.0
            .compare_exchange(EMPTY, PARKED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Consumes the token that made `commit_park` fail.
    #[inline]
    pub(crate) fn consume(&self) {
        self.0.swap(EMPTY, Ordering::Acquire);
    }

    /// Wakes the thread or leaves it a token. Returns `true` when the thread was
    /// parked: the caller has taken it out of `PARKED` and must now make it runnable
    /// (invariant 2).
    #[inline]
    pub(crate) fn unpark(&self) -> bool {
        let mut s = self.0.load(Ordering::Relaxed);
        loop {
            let next = match s {
                PARKED => EMPTY,
                // Re-store the token so this unpark's writes are released to the
                // thread's acquiring consume, as a fresh token's would be.
                _ => NOTIFIED,
            };
            match self
                .0
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return s == PARKED,
                Err(now) => s = now,
            }
        }
    }

    /// The timer's claim: `PARKED` to `EMPTY`. Returns `true` when the timer won the
    /// race against every unparker and must make the thread runnable.
    #[inline]
    pub(crate) fn time_out(&self) -> bool {
        self.0
            .compare_exchange(PARKED, EMPTY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// `true` while the thread sleeps (for kernel threads after a futex wake-up).
    #[inline]
    pub(crate) fn is_parked(&self) -> bool {
        self.0.load(Ordering::Acquire) == PARKED
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;

    /// A green park racing one unparker and the timer: the thread is made runnable
    /// exactly once, and a thread that parked with no timer is never lost.
    #[test]
    fn park_unpark_timer_handoff() {
        loom::model(|| {
            let state = Arc::new(ParkState::new());
            let queued = Arc::new(AtomicUsize::new(0));
            let (s1, q1) = (state.clone(), queued.clone());
            let unparker = loom::thread::spawn(move || {
                if s1.unpark() {
                    q1.fetch_add(1, Ordering::SeqCst);
                }
            });
            let (s2, q2) = (state.clone(), queued.clone());
            let timer = loom::thread::spawn(move || {
                if s2.time_out() {
                    q2.fetch_add(1, Ordering::SeqCst);
                }
            });
            // The parking side: fast path, else commit after switching away.
            let slept = if state.try_consume() {
                false
            } else if state.commit_park() {
                true
            } else {
                state.consume();
                false
            };
            unparker.join().unwrap();
            timer.join().unwrap();
            let q = queued.load(Ordering::SeqCst);
            if slept {
                // Exactly one of unparker and timer woke it.
                assert_eq!(q, 1);
            } else {
                assert_eq!(q, 0);
            }
        });
    }

    /// Without a timer, an unpark that races the park is never lost.
    #[test]
    fn no_lost_wakeup() {
        loom::model(|| {
            let state = Arc::new(ParkState::new());
            let queued = Arc::new(AtomicUsize::new(0));
            let (s1, q1) = (state.clone(), queued.clone());
            let unparker = loom::thread::spawn(move || {
                if s1.unpark() {
                    q1.fetch_add(1, Ordering::SeqCst);
                }
            });
            let slept = if state.try_consume() {
                false
            } else if state.commit_park() {
                true
            } else {
                state.consume();
                false
            };
            unparker.join().unwrap();
            let q = queued.load(Ordering::SeqCst);
            // Either the park saw the token, or the unparker saw PARKED and queued it.
            assert_eq!(q, usize::from(slept));
            // Nothing is left parked, and no token is left over: the one unpark was
            // either consumed by the park or was the wake-up itself.
            assert!(!state.is_parked());
            assert!(!state.try_consume());
        });
    }
}
