//! Cooperative multitasking: a budget instead of preemption.
//!
//! A green thread keeps its worker until it blocks or yields. So that a thread that
//! spawns in a loop cannot monopolise its worker while others wait, spawning spends one
//! unit from a per-worker budget, and the thread yields when the budget runs out (as
//! tokio does with 128 operations and Erlang with 4 000 reductions); primitives of
//! your own can call [`spend`] too. Every switch refills the budget. Taking a
//! [`Mutex`](crate::sync::Mutex) spends a quarter of the budget
//! ([`LOCK_UNITS`](crate::sync::mutex::LOCK_UNITS)) per acquisition, and yields *after*
//! its unlock when that used the budget up (never while holding the lock), so a green
//! thread that takes a free lock in a loop lets the other green threads of its worker
//! run every fourth acquisition: they are often waiting for the same lock, and the time
//! each waits for its turn is the number of threads ahead of it times the length of a
//! turn ([`spend_units`] charges such costlier operations). Code that computes without
//! calling the runtime is not interrupted: it should call [`crate::yield_now`] now and
//! then (or run on a kernel thread), which is the cooperative contract.

use std::cell::Cell;

/// Operations a green thread may perform between two switches.
pub const BUDGET: u32 = 128;

/// The budget of a kernel thread that is not running a green thread: so large that
/// [`spend`] almost never takes its cold path there (it only resets the count).
const UNMETERED: u32 = u32::MAX;

thread_local! {
    static LEFT: Cell<u32> = const { Cell::new(UNMETERED) };
}

/// Refills the budget (called at every switch).
#[inline(always)]
pub(crate) fn reset_budget() {
    LEFT.with(|l| l.set(BUDGET));
}

/// Spends one unit; yields the current green thread when the budget is exhausted.
/// A no-op on kernel threads.
#[inline]
pub fn spend() {
    spend_units(1);
}

/// Spends `units` units (an operation that costs more than one); yields the current
/// green thread when the budget is exhausted. A no-op on kernel threads.
#[inline]
pub fn spend_units(units: u32) {
    if charge(units) {
        exhausted();
    }
}

/// Spends `units` without yielding: `true` when the budget ran out, and the caller must
/// call [`exhausted`] as soon as it may switch (a lock spends while it holds, so that the
/// gap between its release and the thread's next acquisition stays as short as a lock
/// without a budget has it, and yields after the release).
#[inline(always)]
pub(crate) fn charge(units: u32) -> bool {
    LEFT.with(|l| {
        let v = l.get().saturating_sub(units);
        l.set(v);
        v == 0
    })
}

/// The budget ran out: yields the current green thread (resetting the budget), or on a
/// kernel thread just resets it.
#[cold]
#[inline(never)]
pub(crate) fn exhausted() {
    let Some(me) = super::worker::current_green_inner() else {
        LEFT.with(|l| l.set(UNMETERED));
        return;
    };
    reset_budget();
    {
        // SAFETY: `me` is the running green thread's control block (from CURRENT).
        super::worker::yield_green(unsafe { &*me });
    }
}
