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
//! # Entries hold no reference count
//!
//! An entry points to its owner's control block with a plain pointer ([`WaitRef`]).
//! While the entry is queued, and while a partner that removed it still holds the
//! channel's lock, the owner is inside its operation: it cannot return before a claim
//! (it waits for one) or after an abort without first taking that lock to withdraw the
//! entry. A running thread's control block is alive (its worker slot, or for a kernel
//! thread its own handle, holds it). So the pointer is valid wherever it is used under
//! the lock.
//!
//! A green thread abandoned by a runtime that was shut down never returns from its
//! operation: its worker leaks its control block with its stack, so its entries stay
//! valid in whatever queues hold them (`Worker::abandon`).
//!
//! The wake-up after a claim happens *after* the lock is released, and by then the
//! owner may have returned (a kernel thread spinning on its word, or a green thread
//! woken spuriously). A claim therefore yields a [`Waker`], which is one of:
//!
//! * **owned**: the claimer took one strong count of the control block *before* its
//!   claim (under the lock, while the block is surely alive) and gives it back after
//!   the unpark; or
//! * **local**: the owner is a green thread whose home worker is the one the claimer
//!   runs on, in its current turn. The owner cannot run before this turn ends, so it
//!   cannot return, finish and free its block before the unpark: no count is needed.
//!   The claimer must not switch away between the claim and the wake-up (a `Waker` is
//!   `!Send`, and the code between them never parks or yields; and preemption never
//!   falls in that window: a claim without a strong count enters a critical section,
//!   which the wake-up leaves, see `critical.rs`).
//!
//! The ping-pong of two green threads on one worker, the common case, so takes no
//! reference count at all. The owner itself waits through a borrowed handle
//! ([`crate::thread::current_ref`]); a blocking operation allocates nothing.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

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

#[cfg(loom)]
use crate::loom::model::ThreadInner;
#[cfg(not(loom))]
use crate::thread::ThreadInner;

/// A queue entry's pointer to its owner's control block, with no reference count.
/// Use it only under the lock of the channel whose queue holds (or, for a partner
/// that just removed it, held) the entry: see the module docs for why the block is
/// alive there.
pub(crate) struct WaitRef(NonNull<ThreadInner>);

// SAFETY: a `WaitRef` is a pointer to a control block, which is `Sync` (atomics, the
// landing's protocol, immutable fields); it is only dereferenced under the rules in
// the module docs, from whichever thread holds the channel's lock.
unsafe impl Send for WaitRef {}

impl WaitRef {
    /// The entry of `me`'s current operation.
    #[inline(always)]
    pub(crate) fn new(me: &Thread) -> Self {
        // `Arc::as_ptr`, not a reference: the pointer keeps the provenance of the whole
        // allocation, which `Arc::increment_strong_count` needs to reach the counts.
        let p = Arc::as_ptr(&me.inner).cast_mut();
        // SAFETY: `Arc::as_ptr` never returns null.
        WaitRef(unsafe { NonNull::new_unchecked(p) })
    }

    #[inline(always)]
    fn inner(&self) -> &ThreadInner {
        // SAFETY: callers hold the lock of the channel whose queue holds (or just held)
        // this entry, so its owner is inside the operation and its control block is
        // alive (module docs).
        unsafe { self.0.as_ref() }
    }

    /// The key of the owner's values in a stash (see [`Waiter::token`]): the control
    /// block's address.
    #[inline(always)]
    pub(crate) fn token(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// `true` when the entry is `t`'s.
    #[inline(always)]
    pub(crate) fn same(&self, t: &Thread) -> bool {
        std::ptr::eq(self.0.as_ptr(), Arc::as_ptr(&t.inner))
    }

    /// `true` when the owner is a green thread left parked by a runtime that was shut
    /// down: it never runs again, so nothing may be handed to it (a value "delivered"
    /// to it would be lost, and a rendezvous send would succeed with no receive). Under
    /// loom no thread is ever abandoned.
    #[inline(always)]
    pub(crate) fn is_abandoned(&self) -> bool {
        #[cfg(not(loom))]
        return self.inner().lot.is_abandoned();
        #[cfg(loom)]
        false
    }

    /// `true` while no one has claimed or aborted the operation.
    #[inline(always)]
    pub(crate) fn is_waiting(&self) -> bool {
        self.inner().chan.load(Ordering::Acquire) == WAITING
    }

    /// `true` while the operation can still be committed by a partner: nobody claimed
    /// or aborted it, and its owner was not abandoned.
    #[inline(always)]
    pub(crate) fn is_claimable(&self) -> bool {
        self.is_waiting() && !self.is_abandoned()
    }

    /// The owner's landing slot (`landing.rs`).
    #[inline(always)]
    pub(crate) fn landing(&self) -> &super::landing::Landing {
        &self.inner().landing
    }

    /// A partner's claim (`WAITING` to `to`), under the channel's lock: the [`Waker`]
    /// to wake the owner with after the lock is released, or `None` when the owner
    /// already committed elsewhere or aborted.
    #[inline(always)]
    pub(crate) fn claim(&self, to: usize) -> Option<Waker> {
        let inner = self.inner();
        #[cfg(not(loom))]
        let owned = !inner.is_home_here();
        #[cfg(loom)]
        let owned = true;
        if owned {
            // SAFETY: the block came from an `Arc` (a `Thread`) and is alive (see
            // `inner`); the count taken here is given back by the `Waker`, or below.
            unsafe { Arc::increment_strong_count(self.0.as_ptr()) };
        }
        if inner
            .chan
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            if !owned {
                // Until the wake-up, "in this turn" must stay true: no preemption
                // (`critical.rs`); `wake` or `drop` leaves.
                crate::critical::enter();
            }
            return Some(Waker {
                p: self.0,
                owned,
                _not_send: PhantomData,
            });
        }
        if owned {
            // SAFETY: gives back the count taken above; the owner still holds its own
            // (it has not returned: we hold the lock it needs to withdraw this entry).
            unsafe { Arc::decrement_strong_count(self.0.as_ptr()) };
        }
        None
    }
}

/// The right to wake the owner of a claimed operation, once, after the channel's lock
/// is released (see the module docs: it holds a strong count, or the owner is parked
/// on this very worker). `!Send`: it must be used on the thread that claimed.
#[must_use = "a claimed operation's owner waits for this wake-up"]
pub(crate) struct Waker {
    p: NonNull<ThreadInner>,
    /// `true`: holds one strong count of the block.
    owned: bool,
    _not_send: PhantomData<*const ()>,
}

impl Waker {
    /// Unparks the owner.
    #[inline(always)]
    pub(crate) fn wake(self) {
        let me = std::mem::ManuallyDrop::new(self);
        if me.owned {
            // SAFETY: `owned`: this `Waker` holds one strong count, taken in `claim`
            // from a block made by an `Arc`; the `Thread` rebuilt here owns it and gives
            // it back when dropped, and the `ManuallyDrop` keeps `Drop` from doing so
            // twice.
            let inner = unsafe { Arc::from_raw(me.p.as_ptr()) };
            let t = Thread { inner };
            t.unpark();
        } else {
            // (Under loom every `Waker` is owned.)
            #[cfg(not(loom))]
            // SAFETY: not owned: the owner is a green thread parked on the worker that
            // runs us, in this turn, so it has not run since the claim and its slot
            // still holds its block (module docs).
            unsafe { me.p.as_ref() }.unpark_here();
            crate::critical::leave();
        }
    }
}

impl Drop for Waker {
    /// A `Waker` dropped unused (only if a panic unwinds past it) gives its count back.
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: the count this `Waker` holds, given back once.
            unsafe { Arc::decrement_strong_count(self.p.as_ptr()) };
        } else {
            crate::critical::leave();
        }
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waker").field("owned", &self.owned).finish()
    }
}

/// The calling thread's handle, its channel state word reset to `WAITING`: the start
/// of a blocking operation (see the module docs for why the reset is sound).
#[inline(always)]
pub(crate) fn begin() -> Me {
    let me = current_ref();
    me.inner.chan.store(WAITING, Ordering::Relaxed);
    me
}

/// The handle a blocking operation waits through (`thread::CurrentRef`; under loom the
/// model thread's handle).
#[cfg(not(loom))]
pub(crate) type Me = crate::thread::CurrentRef;
#[cfg(not(loom))]
use crate::thread::current_ref;

#[cfg(loom)]
pub(crate) type Me = Thread;
#[cfg(loom)]
fn current_ref() -> Thread {
    crate::loom::current()
}

/// A waiting thread as its own operation sees it (partners see a [`WaitRef`]). See
/// the module docs.
pub(crate) trait Waiter {
    /// The key of this operation's values in a channel's stash (the control block's
    /// address: unique while the thread lives, and never odd).
    fn token(&self) -> usize;
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

    #[inline(always)]
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
#[inline(always)]
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
