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
use std::sync::atomic::{AtomicUsize, Ordering};
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
    pub const fn new(n: usize) -> Self {
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
