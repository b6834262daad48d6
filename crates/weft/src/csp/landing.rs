//! The landing slot: where a value waits in a blocked thread's own control block.
//!
//! Every thread's control block holds one [`Landing`]: 32 bytes aligned to 8, untyped.
//! It serves both directions of a *plain* blocking operation (not a `select` case)
//! whose value type fits ([`fits`]); the entry is registered with the case [`LANDING`]
//! and carries no value, so it can be kept inline in the channel (`chan.rs`):
//!
//! * **A blocked receive**: the partner that takes the entry out of the queue writes
//!   the value into the receiver's landing and then claims the operation
//!   (`STASH(LANDING)`, a release); the receiver reads the value back after it observes
//!   that claim (an acquire). No second trip through the channel's lock, no search of
//!   the stash, no allocation.
//! * **A blocked send**: the sender writes its own value into its landing before it
//!   queues its entry; the partner that takes the entry out moves the value out of the
//!   landing and then claims (`DONE(LANDING)`). When the channel hands the value back
//!   (disconnection, `STASH(LANDING)`), or the sender's timeout wins, the value is still
//!   in the sender's landing and the sender takes it back.
//!
//! A value that does not fit goes through the entry itself or the channel's stash, as a
//! `select`'s does.
//!
//! # The protocol, and why it is sound
//!
//! 1. **One accessor at a time.** Apart from the owner's final read (rule 3), the
//!    landing is accessed only under the lock of the channel where the operation is
//!    queued: by the owner (a sender's write before queueing, and its read back after
//!    an abort), and by a partner only while it holds the entry it removed from the
//!    queue. A plain operation is queued on exactly one channel, so all of them hold the
//!    same lock.
//! 2. **Move, then claim.** The partner writes the receiver's value (or takes the
//!    sender's) and then tries the claim (`WAITING` to its outcome). If the claim fails
//!    (the owner aborted: its timeout won), the partner undoes the move before it
//!    releases the lock: it reads its value back from a receiver's landing, or puts the
//!    value back into a sender's. After an abort the owner takes that lock (to withdraw
//!    its entry) before it reads or returns, so it sees the landing as it was before the
//!    partner came: a receiver's empty, a sender's holding its value.
//! 3. **One final read.** The owner reads its landing once at the end of the operation,
//!    when it holds a value for it: a receiver after its wait returns `STASH(LANDING)`
//!    (the partner's write happens before its claim, a release, which happens before
//!    the owner's acquire load of the state word); a sender after `STASH(LANDING)` (no
//!    partner touched the landing) or, under the lock, after its abort (rule 2). After a
//!    claim no partner touches the landing for that operation.
//! 4. **Never two values.** A landing holds at most one value, and none between
//!    operations: an operation is claimed once, and when it returns no queue holds its
//!    entry (`waiter.rs`) and its value has been moved out, so no partner for it is left
//!    when the thread starts its next operation.
//!
//! The slot is in the control block on the heap, never on the green thread's stack, so
//! a partner never writes into a stack (which stack hibernation may have released).
//!
//! What goes wrong if a rule is broken: a value written twice leaks the first; a value
//! read twice is a double drop. Both need a partner and an owner to disagree about the
//! claim, which the state word's single compare-and-swap rules out.

use std::mem::MaybeUninit;

/// The case number a plain operation registers with: its value travels through the
/// owner's landing (when it fits) or else through the entry or the stash under this case.
pub(crate) const LANDING: usize = usize::MAX >> 3;

/// Bytes a landing holds.
const SIZE: usize = 32;

type Bytes = MaybeUninit<[u64; SIZE / 8]>;

/// `true` when a `T` can travel through a landing.
#[inline(always)]
pub(crate) const fn fits<T>() -> bool {
    std::mem::size_of::<T>() <= SIZE && std::mem::align_of::<T>() <= std::mem::align_of::<Bytes>()
}

/// One thread's landing slot. See the module docs for the protocol.
pub(crate) struct Landing {
    #[cfg(not(loom))]
    cell: std::cell::UnsafeCell<Bytes>,
    #[cfg(loom)]
    cell: ::loom::cell::UnsafeCell<Bytes>,
}

// SAFETY: the cell is only accessed under the protocol in the module docs: one writer
// at a time (each holding the same channel lock), a reader ordered after the write by
// the state word's release/acquire. Values moved through it are `Send` (the channel's
// `T: Send` bound on the ends that move them between threads).
unsafe impl Sync for Landing {}

impl std::fmt::Debug for Landing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Landing { .. }")
    }
}

impl Landing {
    pub(crate) fn new() -> Self {
        Landing {
            #[cfg(not(loom))]
            cell: std::cell::UnsafeCell::new(MaybeUninit::uninit()),
            #[cfg(loom)]
            cell: ::loom::cell::UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    #[cfg(not(loom))]
    #[inline(always)]
    fn with_mut<R>(&self, f: impl FnOnce(*mut Bytes) -> R) -> R {
        f(self.cell.get())
    }

    #[cfg(loom)]
    fn with_mut<R>(&self, f: impl FnOnce(*mut Bytes) -> R) -> R {
        self.cell.with_mut(f)
    }

    /// Writes `v` into the empty landing.
    ///
    /// # Safety
    ///
    /// `fits::<T>()`; the landing holds no value; the caller is the only one accessing
    /// it until it claims the owner's operation or reads the value back with
    /// [`take`](Self::take) (rules 1 and 4 of the module docs).
    #[inline(always)]
    pub(crate) unsafe fn put<T>(&self, v: T) {
        debug_assert!(fits::<T>());
        self.with_mut(|p| {
            // SAFETY: `p` points to 32 bytes aligned to 8, which hold a `T` (`fits`);
            // the caller has exclusive access and the slot holds nothing to overwrite.
            unsafe { p.cast::<T>().write(v) }
        });
    }

    /// Moves the value out of the landing, leaving it empty.
    ///
    /// # Safety
    ///
    /// The landing holds a `T` written by [`put`](Self::put), the write happens before
    /// this call, and no one else accesses the landing during it (rules 2 and 3).
    #[inline(always)]
    pub(crate) unsafe fn take<T>(&self) -> T {
        self.with_mut(|p| {
            // SAFETY: by the caller's contract the slot holds an initialised `T`
            // written before this call, and reading it leaves it logically empty.
            unsafe { p.cast::<T>().read() }
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn what_fits() {
        assert!(fits::<u64>());
        assert!(fits::<String>());
        assert!(fits::<[u64; 4]>());
        assert!(!fits::<[u64; 5]>());
        assert!(!fits::<u128>() || std::mem::align_of::<u128>() <= 8);
    }

    /// A value with a destructor goes in and comes out once (Miri checks the reads and
    /// writes, and that nothing leaks).
    #[test]
    fn put_then_take_moves_the_value_once() {
        let l = Landing::new();
        for i in 0..3 {
            // SAFETY: empty slot, one thread, a `String` fits.
            unsafe { l.put(format!("v{i}")) };
            // SAFETY: it holds the `String` just written.
            let v: String = unsafe { l.take() };
            assert_eq!(v, format!("v{i}"));
        }
    }
}
