//! Barriers and wait groups: wait until a number of threads have arrived or finished.
//!
//! * [`Barrier`]: `n` threads call [`Barrier::wait`]; all of them block until the
//!   `n`-th arrives, then all go on, and the barrier can be used again (a generation
//!   counter under a [`Mutex`] plus a [`Condvar`]).
//! * [`WaitGroup`]: every clone is one member; dropping a clone (or calling
//!   [`WaitGroup::wait`] on it) checks it out, and `wait` returns once all members
//!   have. A counter in an `Arc`, with waiters parked on its address; it cannot go
//!   negative, by construction.

use std::fmt;
// Under `--cfg loom` loom's atomics (see `loom.rs`).
use crate::loom::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{Condvar, Mutex};
use crate::park::lot::{self, ParkResult, ParkToken, UnparkToken};
use crate::park::WaitReason;

/// A reusable barrier for `n` threads.
///
/// ```
/// use std::sync::Arc;
/// let barrier = Arc::new(weft::sync::Barrier::new(10));
/// let hs: Vec<_> = (0..10)
///     .map(|_| {
///         let b = barrier.clone();
///         weft::spawn(move || b.wait().is_leader())
///     })
///     .collect();
/// let leaders = hs.into_iter().map(|h| h.join().unwrap());
/// assert_eq!(leaders.filter(|&l| l).count(), 1);
/// ```
pub struct Barrier {
    state: Mutex<(usize, u64)>,
    cv: Condvar,
    n: usize,
}

/// What [`Barrier::wait`] returns: one of the threads is the leader.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// `true` for exactly one thread of each generation (the last to arrive).
    pub fn is_leader(self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` threads (`0` and `1` never block).
    #[cfg(not(loom))]
    pub const fn new(n: usize) -> Self {
        Barrier {
            state: Mutex::new((0, 0)),
            cv: Condvar::new(),
            n,
        }
    }

    /// A barrier for `n` threads (not `const` under loom, whose atomics have none).
    #[cfg(loom)]
    pub fn new(n: usize) -> Self {
        Barrier {
            state: Mutex::new((0, 0)),
            cv: Condvar::new(),
            n,
        }
    }

    /// Blocks until `n` threads have called `wait` in this generation.
    pub fn wait(&self) -> BarrierWaitResult {
        let mut g = self.state.lock();
        let generation = g.1;
        g.0 += 1;
        if g.0 >= self.n {
            g.0 = 0;
            g.1 = g.1.wrapping_add(1);
            drop(g);
            self.cv.notify_all();
            return BarrierWaitResult(true);
        }
        let g = self.cv.wait_while(g, |s| s.1 == generation);
        drop(g);
        BarrierWaitResult(false)
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").field("n", &self.n).finish()
    }
}

static WAIT_GROUP: WaitReason = WaitReason::new("wait group");

struct Members {
    count: AtomicUsize,
}

/// Waits for a group of threads to finish: each holds a clone, and
/// [`wait`](Self::wait) returns when every clone has been dropped or waited on.
///
/// ```
/// let wg = weft::sync::WaitGroup::new();
/// for _ in 0..100 {
///     let wg = wg.clone();
///     weft::spawn(move || {
///         weft::yield_now();
///         drop(wg); // done
///     });
/// }
/// wg.wait(); // all 100 are done
/// ```
pub struct WaitGroup {
    members: Arc<Members>,
}

impl WaitGroup {
    /// A group with one member: this handle.
    pub fn new() -> Self {
        WaitGroup {
            members: Arc::new(Members {
                count: AtomicUsize::new(1),
            }),
        }
    }

    fn key(&self) -> usize {
        Arc::as_ptr(&self.members) as usize
    }

    /// Checks this member out and waits until every other member has too.
    pub fn wait(self) {
        let members = self.members.clone();
        let key = self.key();
        drop(self);
        while members.count.load(Ordering::Acquire) != 0 {
            let r = lot::park(
                key,
                &WAIT_GROUP,
                ParkToken(0),
                || members.count.load(Ordering::Acquire) != 0,
                || {},
                |_, _| {},
                None,
            );
            if r == ParkResult::Invalid {
                break;
            }
        }
    }

    /// How many members have not checked out (a snapshot).
    pub fn pending(&self) -> usize {
        self.members.count.load(Ordering::Acquire)
    }
}

impl Default for WaitGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for WaitGroup {
    fn clone(&self) -> Self {
        self.members.count.fetch_add(1, Ordering::AcqRel);
        WaitGroup {
            members: self.members.clone(),
        }
    }
}

impl Drop for WaitGroup {
    fn drop(&mut self) {
        if self.members.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            lot::unpark_all(self.key(), UnparkToken(0));
        }
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("pending", &self.pending())
            .finish()
    }
}

/// Loom models on the real parking lot: both threads pass the barrier with exactly one
/// leader; a wait group's `wait` returns once the other member has checked out (a lost
/// wake-up shows up as loom's "all threads blocked").
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::model::check;
    use ::loom::sync::atomic::AtomicBool;
    use ::loom::thread;

    /// Bound 1: from 2 preemptions loom panics inside its own mutex ("expected to be able
    /// to acquire lock", then a deadlock), the modification-order bug noted at the mutex's
    /// models (tokio-rs/loom#254, #282); the mutex and condvar models cover the parts.
    #[test]
    fn barrier_releases_both_with_one_leader() {
        check(1, || {
            let b = Arc::new(Barrier::new(2));
            let b2 = b.clone();
            let t = thread::spawn(move || b2.wait().is_leader());
            let mine = b.wait().is_leader();
            let theirs = t.join().unwrap();
            assert!(mine != theirs, "exactly one leader");
        });
    }

    #[test]
    fn wait_group_waits_for_the_other_member() {
        check(3, || {
            let done = Arc::new(AtomicBool::new(false));
            let wg = WaitGroup::new();
            let member = wg.clone();
            let d2 = done.clone();
            let t = thread::spawn(move || {
                d2.store(true, Ordering::Relaxed);
                drop(member);
            });
            wg.wait();
            assert!(
                done.load(Ordering::Relaxed),
                "wait returned before the member left"
            );
            t.join().unwrap();
        });
    }
}
