//! The waiter record: what a blocked channel operation (or a whole `select`) leaves in
//! the wait queues of the channels it waits on.
//!
//! A waiter lives on the heap (an `Arc`), never on a green thread's stack. It holds the
//! thread to unpark and one *state word*, which is the single point where a blocked
//! operation is committed:
//!
//! | state | meaning |
//! |---|---|
//! | `WAITING` | registered; any partner may claim it |
//! | `ABORTED` | the owner gave up (timeout, or a `select` going back to its fast path) |
//! | `DONE(case)` | a partner completed case `case`, nothing to collect: a send was delivered, or a receive found the channel disconnected |
//! | `STASH(case)` | a partner completed case `case` and left a value in the channel's stash: a received value, or a send's value handed back because the channel disconnected |
//!
//! The word leaves `WAITING` exactly once, by a compare-and-swap: a partner's claim or
//! the owner's abort. Whoever wins decides; a partner that loses the race leaves the
//! operation alone. So a `select` registered on many channels commits exactly one case.
//!
//! Records are recycled through a small per-kernel-thread pool (shared by the green
//! threads of a worker, each taking a record out while it waits), so a blocking
//! operation allocates nothing in the steady state.

use std::cell::Cell;
#[cfg(not(loom))]
use std::cell::RefCell;
use std::sync::Arc;

// Under `--cfg loom` these are loom's atomics, model thread and model clock (`loom.rs`).
#[cfg(loom)]
use crate::loom::{current, Thread};
use crate::loom::{AtomicUsize, Instant, Ordering};
use crate::park::WaitReason;
#[cfg(not(loom))]
use crate::{current, thread::Thread};

pub(crate) const WAITING: usize = 0;
pub(crate) const ABORTED: usize = 1;
const KIND_DONE: usize = 2;
const KIND_STASH: usize = 3;

/// The state word after a partner completed `case` with nothing to collect.
#[inline]
pub(crate) const fn done(case: usize) -> usize {
    (case << 2) | KIND_DONE
}

/// The state word after a partner completed `case` and stashed a value for it.
#[inline]
pub(crate) const fn stash(case: usize) -> usize {
    (case << 2) | KIND_STASH
}

/// How a wait ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Outcome {
    /// The owner aborted (timed out) before any partner claimed it.
    Aborted,
    /// Case `.0` completed; `.1` is `true` when a value waits in the stash.
    Selected(usize, bool),
}

impl Outcome {
    fn of(state: usize) -> Self {
        match state & 3 {
            KIND_DONE => Outcome::Selected(state >> 2, false),
            KIND_STASH => Outcome::Selected(state >> 2, true),
            _ => Outcome::Aborted,
        }
    }
}

/// A blocked operation's record. See the module docs.
#[doc(hidden)]
pub struct Waiter {
    /// The owner; `None` only while the record sits in the pool.
    thread: Option<Thread>,
    state: AtomicUsize,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("thread", &self.thread)
            .field("state", &self.state)
            .finish()
    }
}

impl Waiter {
    /// The key of this record's values in a channel's stash (its address: unique while
    /// the record is alive, and never odd).
    #[inline]
    pub(crate) fn token(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    /// `true` when the owner is a green thread left parked by a runtime that was shut
    /// down: it never runs again, so nothing may be handed to it (a value "delivered"
    /// to it would be lost, and a rendezvous send would succeed with no receive).
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn is_abandoned(&self) -> bool {
        self.thread
            .as_ref()
            .is_some_and(|t| t.inner.lot.is_abandoned())
    }

    /// Under loom no thread is ever abandoned.
    #[cfg(loom)]
    #[inline]
    pub(crate) fn is_abandoned(&self) -> bool {
        false
    }

    /// `true` while the operation can still be committed by a partner: nobody claimed
    /// or aborted it, and its owner was not abandoned.
    #[inline]
    pub(crate) fn is_claimable(&self) -> bool {
        self.is_waiting() && !self.is_abandoned()
    }

    /// `true` while no one has claimed or aborted the operation.
    #[inline]
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// A partner's claim: moves `WAITING` to `to` (a [`done`] or [`stash`] word).
    /// Called with the lock of the channel holding the entry; `false` when the owner
    /// already committed (elsewhere) or aborted.
    #[inline]
    pub(crate) fn claim(&self, to: usize) -> bool {
        self.state
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The owner's abort: `Aborted` if it won, else how a partner completed it.
    #[inline]
    pub(crate) fn abort(&self) -> Outcome {
        match self
            .state
            .compare_exchange(WAITING, ABORTED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Outcome::Aborted,
            Err(s) => Outcome::of(s),
        }
    }

    /// The owner's handle, for a claimer to wake it (after a successful
    /// [`claim`](Self::claim), once the lock is released). Claimers wake through this
    /// clone and drop their reference to the record inside the critical section, so the
    /// owner finds its record unshared (and reusable) as soon as it can observe the
    /// claim and the lock is free.
    #[inline]
    pub(crate) fn owner(&self) -> Thread {
        self.thread.clone().expect("a record in use has an owner")
    }

    /// Blocks the owner until a partner claims the record or `deadline` passes (then
    /// it aborts, unless a claim wins that race).
    pub(crate) fn wait(&self, reason: &'static WaitReason, deadline: Option<Instant>) -> Outcome {
        // (Under loom the spin is left out: the model explores the park and the claim.)
        #[cfg(not(loom))]
        if !self.thread.as_ref().is_some_and(Thread::is_green) {
            // A kernel thread's partner is often running on another CPU right now: a
            // short spin saves a futex round trip. A green thread's partner may need
            // this very worker, so it parks at once.
            for _ in 0..SPIN {
                let s = self.state.load(Ordering::Acquire);
                if s != WAITING {
                    return Outcome::of(s);
                }
                std::hint::spin_loop();
            }
        }
        loop {
            let s = self.state.load(Ordering::Acquire);
            if s != WAITING {
                return Outcome::of(s);
            }
            // Parks may return spuriously or with a stale token: the loop re-reads the
            // state word, which only a claim (made before its unpark) changes.
            if park_timed_out(reason, deadline) {
                return self.abort();
            }
        }
    }
}

/// `park_on`, `true` when the deadline passed.
#[cfg(not(loom))]
#[inline]
fn park_timed_out(reason: &'static WaitReason, deadline: Option<Instant>) -> bool {
    crate::park::park_on(reason, deadline).timed_out()
}

/// `park_on`, `true` when the deadline passed (the loom stand-in returns that bool).
#[cfg(loom)]
fn park_timed_out(reason: &'static WaitReason, deadline: Option<Instant>) -> bool {
    crate::park::park_on(reason, deadline)
}

/// Spins of a kernel thread before it parks.
#[cfg(not(loom))]
const SPIN: u32 = 64;

/// Records kept per kernel thread.
const POOL_SIZE: usize = 8;

#[cfg(not(loom))]
thread_local! {
    static POOL: RefCell<Vec<Arc<Waiter>>> = const { RefCell::new(Vec::new()) };
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// A fresh (`WAITING`) record owned by the calling thread.
#[cfg(not(loom))]
pub(crate) fn take() -> Arc<Waiter> {
    let me = current();
    // A partner that claimed a record's last use may still hold a clone for a moment
    // (until it leaves the channel's critical section): such a record stays pooled and
    // an unshared one is taken.
    let pooled = POOL
        .try_with(|p| {
            let mut p = p.borrow_mut();
            let i = p.iter().rposition(|w| Arc::strong_count(w) == 1)?;
            Some(p.swap_remove(i))
        })
        .ok()
        .flatten();
    if let Some(mut w) = pooled {
        if let Some(m) = Arc::get_mut(&mut w) {
            m.thread = Some(me);
            m.state.store(WAITING, Ordering::Relaxed);
            return w;
        }
    }
    #[cfg(test)]
    ALLOCATED.with(|a| a.set(a.get() + 1));
    Arc::new(Waiter {
        thread: Some(me),
        state: AtomicUsize::new(WAITING),
    })
}

#[cfg(test)]
thread_local! {
    /// Records this kernel thread allocated (tests check the steady state allocates none).
    pub(crate) static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

/// Under loom: a new record every time (a pool in a thread-local would outlive the
/// model's executions).
#[cfg(loom)]
pub(crate) fn take() -> Arc<Waiter> {
    Arc::new(Waiter {
        thread: Some(current()),
        state: AtomicUsize::new(WAITING),
    })
}

/// Under loom: the record is dropped.
#[cfg(loom)]
pub(crate) fn put(w: Arc<Waiter>) {
    drop(w);
}

/// Returns a record whose operation is over (no channel queue holds it any more).
#[cfg(not(loom))]
pub(crate) fn put(mut w: Arc<Waiter>) {
    if let Some(m) = Arc::get_mut(&mut w) {
        // Do not keep a finished thread's control block alive from the pool.
        m.thread = None;
    }
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_SIZE {
            p.push(w);
        }
    });
}

/// Under loom: always 0 (loom needs every execution to make the same choices; the
/// order of cases is then a fixed permutation).
#[cfg(loom)]
pub(crate) fn random_below(_n: usize) -> usize {
    0
}

/// A cheap thread-local pseudo-random number below `n` (xorshift64*), for `select`'s
/// fairness. `n` must be non-zero.
#[cfg(not(loom))]
pub(crate) fn random_below(n: usize) -> usize {
    RNG.try_with(|r| {
        let mut x = r.get();
        if x == 0 {
            // Seed from the cell's address and the clock: distinct per kernel thread.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            x = (r as *const Cell<u64> as u64) ^ t ^ 0x9E37_79B9_7F4A_7C15;
            x |= 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        reduce(x.wrapping_mul(0x2545_F491_4F6C_DD1D), n)
    })
    .unwrap_or(0)
}

/// Maps a uniform 64-bit value to `0..n` without division (Lemire's multiply-shift;
/// the bias is below n / 2^64).
#[inline]
pub(crate) fn reduce(x: u64, n: usize) -> usize {
    ((u128::from(x) * n as u128) >> 64) as usize
}
