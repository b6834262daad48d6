//! The waiter record: how a blocked channel operation (or a whole `select`) is known to
//! the wait queues of the channels it waits on.
//!
//! The record is the waiting *thread*: its handle ([`Thread`], a reference-counted
//! pointer to the control block on the heap, never into a green thread's stack) and one
//! *state word* in that control block (`ThreadInner::chan`), which is the single point
//! where a blocked operation is committed:
//!
//! | state | meaning |
//! |---|---|
//! | `WAITING` | registered; any partner may claim it |
//! | `ABORTED` | the owner gave up (timeout, or a `select` going back to its fast path) |
//! | `DONE(case)` | a partner completed case `case`, nothing to collect: a send was delivered, or a receive found the channel disconnected |
//! | `STASH(case)` | a partner completed case `case` and left a value in the channel's stash: a received value, or a send's value handed back because the channel disconnected |
//!
//! The word leaves `WAITING` exactly once per operation, by a compare-and-swap: a
//! partner's claim or the owner's abort. Whoever wins decides; a partner that loses the
//! race leaves the operation alone. So a `select` registered on many channels commits
//! exactly one case.
//!
//! A thread runs one channel operation at a time, so one word per thread suffices, and
//! the owner resets it to `WAITING` when it starts an operation ([`begin`]). That is
//! sound because of the invariant every operation keeps: **when an operation returns,
//! no queue holds an entry of it** (a claimer removes the entry it claims, and the owner
//! withdraws every other entry under the channel's lock before it returns; loom models
//! and `nothing_is_left_behind_by_timeouts_selects_and_close` check it). So no partner
//! can ever claim an operation with a stale entry. A partner that claimed the previous
//! operation may still unpark the thread after it returned; parks allow spurious
//! wake-ups, and every wait loop re-reads the word.
//!
//! Entries hold a clone of the handle (one reference count); a claimer moves it out of
//! the entry it removed and wakes the owner through it after releasing the channel's
//! lock, so the control block stays alive however quickly the owner returns. The
//! owner itself waits through a borrowed handle ([`crate::thread::with_current`]): a
//! blocking operation costs two reference-count updates and allocates nothing.

use std::cell::Cell;

// Under `--cfg loom` these are loom's atomics, model thread and model clock (`loom.rs`).
#[cfg(loom)]
use crate::loom::Thread;
use crate::loom::{Instant, Ordering};
use crate::park::WaitReason;
#[cfg(not(loom))]
use crate::thread::Thread;

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

/// Runs `f` with the calling thread's handle, its channel state word reset to
/// `WAITING`: the start of a blocking operation (see the module docs for why the reset
/// is sound).
#[inline]
pub(crate) fn begin<R>(f: impl FnOnce(&Thread) -> R) -> R {
    with_current(|me| {
        me.inner.chan.store(WAITING, Ordering::Relaxed);
        f(me)
    })
}

#[cfg(not(loom))]
use crate::thread::with_current;

#[cfg(loom)]
fn with_current<R>(f: impl FnOnce(&Thread) -> R) -> R {
    f(&crate::loom::current())
}

/// A waiting thread as the channels see it. See the module docs.
pub(crate) trait Waiter {
    /// The key of this operation's values in a channel's stash (the control block's
    /// address: unique while the thread lives, and never odd).
    fn token(&self) -> usize;
    /// `true` when `other` is the same thread.
    fn same(&self, other: &Self) -> bool;
    /// `true` when the owner is a green thread left parked by a runtime that was shut
    /// down: it never runs again, so nothing may be handed to it (a value "delivered"
    /// to it would be lost, and a rendezvous send would succeed with no receive).
    fn is_abandoned(&self) -> bool;
    /// `true` while no one has claimed or aborted the operation.
    fn is_waiting(&self) -> bool;
    /// `true` while the operation can still be committed by a partner: nobody claimed
    /// or aborted it, and its owner was not abandoned.
    fn is_claimable(&self) -> bool {
        self.is_waiting() && !self.is_abandoned()
    }
    /// A partner's claim: moves `WAITING` to `to` (a [`done`] or [`stash`] word).
    /// Called with the lock of the channel holding the entry; `false` when the owner
    /// already committed (elsewhere) or aborted.
    fn claim(&self, to: usize) -> bool;
    /// The owner's abort: `Aborted` if it won, else how a partner completed it.
    fn abort(&self) -> Outcome;
    /// Blocks the owner until a partner claims the operation or `deadline` passes (then
    /// it aborts, unless a claim wins that race).
    fn wait(&self, reason: &'static WaitReason, deadline: Option<Instant>) -> Outcome;
}

impl Waiter for Thread {
    #[inline]
    fn token(&self) -> usize {
        std::sync::Arc::as_ptr(&self.inner) as usize
    }

    #[inline]
    fn same(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.inner, &other.inner)
    }

    #[cfg(not(loom))]
    #[inline]
    fn is_abandoned(&self) -> bool {
        self.inner.lot.is_abandoned()
    }

    /// Under loom no thread is ever abandoned.
    #[cfg(loom)]
    #[inline]
    fn is_abandoned(&self) -> bool {
        false
    }

    #[inline]
    fn is_waiting(&self) -> bool {
        self.inner.chan.load(Ordering::Acquire) == WAITING
    }

    #[inline]
    fn claim(&self, to: usize) -> bool {
        self.inner
            .chan
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    #[inline]
    fn abort(&self) -> Outcome {
        match self.inner.chan.compare_exchange(
            WAITING,
            ABORTED,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Outcome::Aborted,
            Err(s) => Outcome::of(s),
        }
    }

    fn wait(&self, reason: &'static WaitReason, deadline: Option<Instant>) -> Outcome {
        let state = &self.inner.chan;
        // (Under loom the spin is left out: the model explores the park and the claim.)
        #[cfg(not(loom))]
        if !self.is_green() {
            // A kernel thread's partner is often running on another CPU right now: a
            // short spin saves a futex round trip. A green thread's partner may need
            // this very worker, so it parks at once.
            for _ in 0..SPIN {
                let s = state.load(Ordering::Acquire);
                if s != WAITING {
                    return Outcome::of(s);
                }
                std::hint::spin_loop();
            }
        }
        loop {
            let s = state.load(Ordering::Acquire);
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

#[cfg(not(loom))]
thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
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
