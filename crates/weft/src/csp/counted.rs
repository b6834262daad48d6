//! The channel's shared block and the counts of its two kinds of ends.
//!
//! A channel is one heap block shared by its [`Sender`](super::Sender)s and
//! [`Receiver`](super::Receiver)s. Instead of an `Arc` (a strong and a weak count, 16
//! bytes) beside two more counts of senders and receivers, the block carries one 64-bit
//! word: senders in the high half, receivers in the low half. The block is freed when
//! both halves are zero, so a channel costs 8 bytes of counts, and its whole block
//! (`Chan<u64>` and the word: 40 bytes) fits malloc's 48-byte class.
//!
//! # The protocol, and why it is sound
//!
//! 1. **Clones.** Cloning an end adds one to its half (`Relaxed`, as `Arc::clone`: the
//!    clone is made from a live end, which keeps the block alive). A half beyond
//!    2³¹ ends aborts the process, as `Arc` does on overflow: the other half must never
//!    be reached.
//! 2. **The last end of a kind runs its hook first.** An end being dropped reads the
//!    word. If its half is 1, the count is its own: no other end of that kind exists
//!    (each other one has already taken itself off the word), and none can appear (a
//!    clone needs a live end of the kind, and this one is being dropped). It then runs
//!    the kind's hook ([`Ends::last_sender_gone`] or [`Ends::last_receiver_gone`]: the
//!    disconnection) *while its count still holds the block*, and only then subtracts
//!    itself. Otherwise it subtracts itself with a compare-and-swap that fails if the
//!    word changed since it was read, so "my half was more than 1" holds at the moment
//!    of the subtraction, and that subtraction cannot bring the word to zero.
//! 3. **The block is freed by whoever brings the word to zero**, after an acquire fence
//!    that pairs with every end's releasing subtraction: every use of the block by every
//!    end happens before the free. Only a last-of-its-kind subtraction can reach zero
//!    (rule 2), and it does exactly when the other half is already zero.
//!
//! Anything that must outlive an end (a waiting thread's entry, a wake-up) holds no
//! count of the block: it lives under the block's lock or in the threads' control
//! blocks (`waiter.rs`).

use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;

use crate::loom::{AtomicU64, Ordering};

/// One sender in the word.
const TX: u64 = 1 << 32;
/// One receiver in the word.
const RX: u64 = 1;
/// The most ends of one kind.
const MAX_ENDS: u64 = 1 << 31;

/// What a block's contents do when the last end of a kind is gone (rule 2).
pub(crate) trait Ends {
    /// Every sender is gone.
    fn last_sender_gone(&self);
    /// Every receiver is gone.
    fn last_receiver_gone(&self);
}

struct Block<C> {
    ends: AtomicU64,
    value: C,
}

/// One end's share of a block: a sender's if `IS_TX`, else a receiver's.
pub(crate) struct End<C: Ends, const IS_TX: bool> {
    block: NonNull<Block<C>>,
    /// The end owns a share of a `Block<C>` (for the drop checker and auto traits).
    _owns: PhantomData<Block<C>>,
}

// SAFETY: an end gives shared access (`&C`) from any thread and may run `C`'s hooks and
// drop `C` on whichever thread holds the last end: exactly what `Arc<C>` needs, `C:
// Send + Sync`.
unsafe impl<C: Ends + Send + Sync, const IS_TX: bool> Send for End<C, IS_TX> {}
// SAFETY: as above.
unsafe impl<C: Ends + Send + Sync, const IS_TX: bool> Sync for End<C, IS_TX> {}

/// A new block holding `value`, with one sender and one receiver.
pub(crate) fn pair<C: Ends>(value: C) -> (End<C, true>, End<C, false>) {
    let block = Box::new(Block {
        ends: AtomicU64::new(TX | RX),
        value,
    });
    let block = NonNull::from(Box::leak(block));
    (
        End {
            block,
            _owns: PhantomData,
        },
        End {
            block,
            _owns: PhantomData,
        },
    )
}

impl<C: Ends, const IS_TX: bool> End<C, IS_TX> {
    const UNIT: u64 = if IS_TX { TX } else { RX };

    #[inline(always)]
    fn block(&self) -> &Block<C> {
        // SAFETY: this end's count keeps the block alive (rule 3: it is freed only when
        // the word is zero, and this end has not taken itself off yet).
        unsafe { self.block.as_ref() }
    }

    /// The number of ends of this end's kind (racy: a snapshot).
    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        let w = self.block().ends.load(Ordering::Relaxed);
        (w / Self::UNIT) & (TX - 1)
    }

    /// `true` when both ends share one block.
    pub(crate) fn same<const K: bool>(&self, other: &End<C, K>) -> bool {
        self.block == other.block
    }
}

impl<C: Ends, const IS_TX: bool> Deref for End<C, IS_TX> {
    type Target = C;
    #[inline(always)]
    fn deref(&self) -> &C {
        &self.block().value
    }
}

impl<C: Ends, const IS_TX: bool> Clone for End<C, IS_TX> {
    fn clone(&self) -> Self {
        let before = self.block().ends.fetch_add(Self::UNIT, Ordering::Relaxed);
        if (before / Self::UNIT) & (TX - 1) >= MAX_ENDS {
            // Rule 1: never let one half carry into the other.
            std::process::abort();
        }
        End {
            block: self.block,
            _owns: PhantomData,
        }
    }
}

impl<C: Ends, const IS_TX: bool> Drop for End<C, IS_TX> {
    fn drop(&mut self) {
        let ends = &self.block().ends;
        let mut word = ends.load(Ordering::Relaxed);
        loop {
            if (word / Self::UNIT) & (TX - 1) == 1 {
                break;
            }
            // Rule 2, not the last of its kind: the subtraction leaves this half above
            // zero, so it never frees.
            match ends.compare_exchange_weak(
                word,
                word - Self::UNIT,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => word = now,
            }
        }
        // Rule 2: the last of its kind; the hook runs while this count holds the block.
        // The count is given back even if the hook panics (a value's `Drop` in it), or
        // the block would never be freed.
        let release = Release::<C> {
            block: self.block,
            unit: Self::UNIT,
        };
        if IS_TX {
            self.block().value.last_sender_gone();
        } else {
            self.block().value.last_receiver_gone();
        }
        drop(release);
    }
}

/// Takes the last end of a kind off the word when dropped, freeing the block if the
/// word reaches zero (rule 3); runs on unwinding too.
struct Release<C: Ends> {
    block: NonNull<Block<C>>,
    unit: u64,
}

impl<C: Ends> Drop for Release<C> {
    fn drop(&mut self) {
        // SAFETY: the dropping end's count, which this guard gives back, keeps the block
        // alive until the subtraction below.
        let ends = unsafe { &(*self.block.as_ptr()).ends };
        if ends.fetch_sub(self.unit, Ordering::Release) == self.unit {
            // Rule 3: the word is zero; every end's use of the block happened before
            // its releasing subtraction, which this fence orders before the free.
            crate::loom::fence(Ordering::Acquire);
            // SAFETY: the block came from `Box::leak` in `pair`, and no end is left to
            // use it (the word is zero and no end can be made without one).
            drop(unsafe { Box::from_raw(self.block.as_ptr()) });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// Counts its hooks and its drop.
    struct Probe {
        tx_gone: AtomicUsize,
        rx_gone: AtomicUsize,
        dropped: Arc<AtomicUsize>,
    }

    impl Ends for Probe {
        fn last_sender_gone(&self) {
            self.tx_gone.fetch_add(1, Ordering::Relaxed);
        }
        fn last_receiver_gone(&self) {
            self.rx_gone.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            assert_eq!(*self.tx_gone.get_mut(), 1, "every sender's hook once");
            assert_eq!(*self.rx_gone.get_mut(), 1, "every receiver's hook once");
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn probe(dropped: &Arc<AtomicUsize>) -> Probe {
        Probe {
            tx_gone: AtomicUsize::new(0),
            rx_gone: AtomicUsize::new(0),
            dropped: dropped.clone(),
        }
    }

    #[test]
    fn the_last_end_frees_and_each_hook_runs_once() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = pair(probe(&dropped));
        let (tx2, rx2) = (tx.clone(), rx.clone());
        assert_eq!((tx.count(), rx.count()), (2, 2));
        assert!(tx.same(&rx2) && rx.same(&tx2));
        drop(tx);
        assert_eq!(tx2.tx_gone.load(Ordering::Relaxed), 0);
        drop(tx2);
        assert_eq!(rx.tx_gone.load(Ordering::Relaxed), 1);
        drop(rx2);
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
        drop(rx);
        assert_eq!(dropped.load(Ordering::Relaxed), 1);
    }

    /// Its receivers' hook panics (as a buffered value's `Drop` may).
    struct Bomb(Arc<AtomicUsize>);

    impl Ends for Bomb {
        fn last_sender_gone(&self) {}
        fn last_receiver_gone(&self) {
            panic!("a value's Drop panicked in the hook");
        }
    }

    impl Drop for Bomb {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A hook that panics still gives its count back, so the block is freed when the
    /// other kind's last end goes.
    #[test]
    fn a_panicking_hook_still_lets_the_block_go() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = pair(Bomb(dropped.clone()));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(rx)));
        assert!(r.is_err(), "the hook's panic reaches the dropper");
        assert_eq!(tx.count(), 1);
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
        drop(tx);
        assert_eq!(dropped.load(Ordering::Relaxed), 1, "freed once");
    }

    /// Ends of both kinds cloned and dropped on many threads at once: both hooks run
    /// exactly once and the block is freed exactly once (Miri checks the accesses).
    #[test]
    fn concurrent_drops_free_once() {
        let rounds = if cfg!(miri) { 4 } else { 200 };
        let dropped = Arc::new(AtomicUsize::new(0));
        for _ in 0..rounds {
            let (tx, rx) = pair(probe(&dropped));
            let ts: Vec<_> = (0..4)
                .map(|i| {
                    let (tx, rx) = (tx.clone(), rx.clone());
                    std::thread::spawn(move || {
                        if i % 2 == 0 {
                            drop(tx.clone());
                            drop(rx);
                            drop(tx);
                        } else {
                            drop(rx.clone());
                            drop(tx);
                            drop(rx);
                        }
                    })
                })
                .collect();
            drop((tx, rx));
            for t in ts {
                t.join().unwrap();
            }
        }
        assert_eq!(dropped.load(Ordering::Relaxed), rounds);
    }
}
