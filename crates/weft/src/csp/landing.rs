//! The landing slot: where a sender writes its value straight into a blocked receiver.
//!
//! Every thread's control block holds one [`Landing`]: 32 bytes aligned to 8, untyped.
//! A *plain* blocking receive (not a `select` case) whose value type fits
//! ([`fits`]) registers its entry with the case [`LANDING`]; the partner that takes the
//! entry out of the queue writes the value into the receiver's landing and then claims
//! the operation (`STASH(LANDING)`, a release); the receiver reads the value back after
//! it observes that claim (an acquire). No second trip through the channel's lock, no
//! search of the stash, no allocation. A value that does not fit goes through the
//! channel's stash, as a `select`'s does.
//!
//! # The protocol, and why it is sound
//!
//! 1. **One writer at a time.** Only a partner holding the lock of the channel where the
//!    entry is queued writes, and only while it holds the entry it removed from the
//!    queue. A plain receive is queued on exactly one channel, so every writer holds the
//!    same lock.
//! 2. **Write, then claim.** The partner writes the value, then tries the claim
//!    (`WAITING` to `STASH(LANDING)`). If the claim fails (the owner aborted: its
//!    timeout won), the partner reads its value back before it releases the lock, and
//!    the landing is empty again. The owner never reads its landing after an abort, and
//!    after an abort it takes the channel's lock (to withdraw its entry) before it
//!    returns: so it cannot start another operation while the partner still reads.
//! 3. **One reader.** The owner reads the landing exactly once, after its wait returns
//!    `STASH(LANDING)`; the partner's write happens before its claim (release), which
//!    happens before the owner's acquire load of the state word.
//! 4. **Never two values.** A landing holds at most one value: an operation is claimed
//!    once, and when it returns no queue holds its entry (`waiter.rs`), so no writer for
//!    it is left when the thread starts its next operation.
//!
//! The slot is in the control block on the heap, never on the green thread's stack, so
//! a partner never writes into a stack (which stack hibernation may have released).
//!
//! What goes wrong if a rule is broken: a value written twice leaks the first; a value
//! read twice is a double drop. Both need a partner and an owner to disagree about the
//! claim, which the state word's single compare-and-swap rules out.

use std::mem::MaybeUninit;

/// The case number a plain receive registers with: values for it go to the owner's
/// landing (when they fit) or else to the stash under this case.
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
