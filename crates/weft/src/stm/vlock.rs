//! TL2's two clocks: the global version clock and the per-variable versioned lock.
//!
//! * [`Clock`]: one global counter. A writing transaction takes its write version `wv` with
//!   one `fetch_add` after it has locked its write set; every transaction samples it at its
//!   start as its read version `rv`. Bit 63 ([`SERIAL`]) is set while an irrevocable (serial)
//!   transaction runs: a writer whose `fetch_add` returns it set gives up its commit.
//! * [`VLock`]: one word per variable, `version << 2 | waiters << 1 | locked`. `version` is
//!   the `wv` of the commit that wrote the current value. A committer locks the word
//!   (keeping the rest of it), installs the new value, and stores `wv << 2` (unlocked, no
//!   waiters) with `Release`. `waiters` is set by a thread parking in `retry` once it has
//!   registered with the variable, with a CAS from the very word it read: so a committer's
//!   lock CAS either comes first (the waiter's CAS fails: it sees the change and does not
//!   park) or returns the bit (the committer wakes the registered waiters after publishing).
//!   No fence is needed on the commit path. Comparisons of words for validation ignore
//!   the bit ([`same_version`]).
//!
//! [`read_consistent`] is the seqlock-style read every transaction uses: load the word
//! (`Acquire`), load the value slot (`Acquire`), load the word again. If both words are
//! equal and unlocked, the slot holds the value of that version: a writer locks the word
//! *before* it swaps the slot with `Release`, so a reader whose slot load sees the new value
//! also sees the lock (or a later word) on its second load; and a reader that sees an
//! unlocked word synchronises with the unlock that published the slot's value.
//! Both halves are checked by the loom models at the end of this file.

use crate::loom::{AtomicU64, Ordering};

/// Set in the clock while a serial (irrevocable) transaction runs.
pub(crate) const SERIAL: u64 = 1 << 63;

/// The global version clock.
pub(crate) struct Clock(AtomicU64);

impl Clock {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Clock(AtomicU64::new(0))
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Clock(AtomicU64::new(0))
    }

    /// The read version of a transaction starting now (without the serial bit), and
    /// whether a serial transaction runs.
    #[inline]
    pub(crate) fn sample(&self) -> (u64, bool) {
        let c = self.0.load(Ordering::Acquire);
        (c & !SERIAL, c & SERIAL != 0)
    }

    /// Takes a write version: `Err` when a serial transaction runs (the caller must give
    /// up its commit).
    #[inline]
    pub(crate) fn tick(&self) -> Result<u64, ()> {
        let c = self.0.fetch_add(1, Ordering::AcqRel);
        if c & SERIAL != 0 {
            Err(())
        } else {
            Ok(c + 1)
        }
    }

    /// Sets the serial bit; returns the read version of the serial transaction.
    pub(crate) fn enter_serial(&self) -> u64 {
        let c = self.0.fetch_or(SERIAL, Ordering::AcqRel);
        debug_assert_eq!(c & SERIAL, 0, "two serial transactions at once");
        c & !SERIAL
    }

    /// Clears the serial bit and takes the serial transaction's write version.
    pub(crate) fn leave_serial_tick(&self) -> u64 {
        let prev = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                Some((c & !SERIAL) + 1)
            })
            .unwrap_or_else(|c| c);
        (prev & !SERIAL) + 1
    }

    /// Clears the serial bit without a write (the serial transaction retried or panicked).
    pub(crate) fn leave_serial(&self) {
        self.0.fetch_and(!SERIAL, Ordering::AcqRel);
    }
}

/// A versioned lock word: `version << 2 | waiters << 1 | locked`.
pub(crate) struct VLock(AtomicU64);

/// The lock bit of a [`VLock`] word.
pub(crate) const LOCKED: u64 = 1;
/// The waiters bit of a [`VLock`] word: some `retry` may be registered.
pub(crate) const WAITERS: u64 = 2;

/// The version of a lock word.
#[inline]
pub(crate) const fn version(word: u64) -> u64 {
    word >> 2
}

/// `true` when two words have the same version and lock state (the waiters bit aside).
#[inline]
pub(crate) const fn same_version(a: u64, b: u64) -> bool {
    (a ^ b) & !WAITERS == 0
}

impl VLock {
    pub(crate) fn new(version: u64) -> Self {
        VLock(AtomicU64::new(version << 2))
    }

    /// The current word (`Acquire`).
    #[inline]
    pub(crate) fn load(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Locks the word if it still is `seen` and unlocked.
    #[inline]
    pub(crate) fn try_lock(&self, seen: u64) -> bool {
        seen & LOCKED == 0
            && self
                .0
                .compare_exchange(seen, seen | LOCKED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Publishes a commit: unlocked, at version `wv`, no waiters (the committer wakes
    /// those registered, having seen the bit in the word its lock replaced).
    #[inline]
    pub(crate) fn unlock_at(&self, wv: u64) {
        self.0.store(wv << 2, Ordering::Release);
    }

    /// Gives the lock up without a write (the word as it was before `try_lock`, waiters
    /// bit included).
    #[inline]
    pub(crate) fn unlock_unchanged(&self, seen: u64) {
        self.0.store(seen & !LOCKED, Ordering::Release);
    }

    /// For a `retry` waiter registered with the variable: sets the waiters bit if the word
    /// still has the version and lock state of `read` (then `true`: a later commit will see
    /// the bit); `false` when the variable has changed (or is being changed) since.
    pub(crate) fn mark_waiters(&self, read: u64) -> bool {
        let mut w = self.0.load(Ordering::Acquire);
        loop {
            if !same_version(w, read) {
                return false;
            }
            if w & WAITERS != 0 {
                return true;
            }
            match self
                .0
                .compare_exchange_weak(w, w | WAITERS, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => w = now,
            }
        }
    }
}

/// A value slot: what [`read_consistent`] reads between two loads of the lock word.
pub(crate) trait Slot {
    type Value: Copy;
    /// Loads the slot with `Acquire`.
    fn load_acquire(&self) -> Self::Value;
}

/// Why a read found no consistent value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadFail {
    /// The variable is locked by a committer.
    Locked,
}

/// Reads `slot` consistently with `lock`: the word (version, unlocked) and the value that
/// version published. Spins `spins` times on a locked word before reporting it.
#[inline]
pub(crate) fn read_consistent<S: Slot>(
    lock: &VLock,
    slot: &S,
    spins: u32,
) -> Result<(u64, S::Value), ReadFail> {
    let mut tries = 0;
    loop {
        let w1 = lock.load();
        if w1 & LOCKED == 0 {
            let v = slot.load_acquire();
            // Ordered after the `Acquire` load of the slot: sees the committer's lock if
            // the slot load saw its value.
            let w2 = lock.0.load(Ordering::Relaxed);
            if same_version(w1, w2) {
                return Ok((w1, v));
            }
        }
        if tries >= spins {
            return Err(ReadFail::Locked);
        }
        tries += 1;
        crate::loom::spin_hint();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Two accounts, transfers and audits under TL2, with values in plain atomics: every
    //! audit that validates sees the total; every transfer is applied exactly once.
    use super::*;
    use crate::loom::model::check;
    use ::loom::sync::Arc;
    use ::loom::thread;

    struct Var {
        lock: VLock,
        val: AtomicU64,
    }

    impl Slot for AtomicU64 {
        type Value = u64;
        fn load_acquire(&self) -> u64 {
            self.load(Ordering::Acquire)
        }
    }

    struct World {
        clock: Clock,
        vars: [Var; 2],
    }

    fn world() -> Arc<World> {
        Arc::new(World {
            clock: Clock::new(),
            vars: [
                Var {
                    lock: VLock::new(0),
                    val: AtomicU64::new(10),
                },
                Var {
                    lock: VLock::new(0),
                    val: AtomicU64::new(10),
                },
            ],
        })
    }

    /// One attempt to move 1 from `from` to `to`; `None` on abort.
    fn transfer(w: &World, from: usize, to: usize) -> Option<()> {
        let (rv, _) = w.clock.sample();
        let mut reads = [(0u64, 0u64); 2];
        for (i, r) in reads.iter_mut().enumerate() {
            let (word, v) = read_consistent(&w.vars[i].lock, &w.vars[i].val, 0).ok()?;
            if version(word) > rv {
                return None;
            }
            *r = (word, v);
        }
        // Opacity: what this attempt saw is a consistent snapshot.
        assert_eq!(reads[0].1 + reads[1].1, 20, "inconsistent snapshot");
        // Commit: lock both (in index order), tick, validate, write, unlock.
        let mut locked = 0;
        for i in 0..2 {
            if !w.vars[i].lock.try_lock(reads[i].0) {
                for j in 0..locked {
                    w.vars[j].lock.unlock_unchanged(reads[j].0);
                }
                return None;
            }
            locked += 1;
        }
        let wv = w.clock.tick().ok()?;
        // Both read words are now locked by us with their versions unchanged (the
        // try_lock compared them): validation succeeds by construction here.
        let new = [
            reads[0].1 - u64::from(from == 0) + u64::from(to == 0),
            reads[1].1 - u64::from(from == 1) + u64::from(to == 1),
        ];
        for i in 0..2 {
            w.vars[i].val.store(new[i], Ordering::Release);
            w.vars[i].lock.unlock_at(wv);
        }
        Some(())
    }

    /// A read-only audit; `None` on abort.
    fn audit(w: &World) -> Option<u64> {
        let (rv, _) = w.clock.sample();
        let mut sum = 0;
        for v in &w.vars {
            let (word, x) = read_consistent(&v.lock, &v.val, 0).ok()?;
            if version(word) > rv {
                return None;
            }
            sum += x;
        }
        Some(sum)
    }

    #[test]
    fn transfers_and_audit() {
        check(3, || {
            let w = world();
            let w2 = w.clone();
            let t = thread::spawn(move || {
                let mut done = false;
                for _ in 0..2 {
                    if transfer(&w2, 0, 1).is_some() {
                        done = true;
                        break;
                    }
                }
                done
            });
            let mut done = false;
            for _ in 0..2 {
                if transfer(&w, 1, 0).is_some() {
                    done = true;
                    break;
                }
            }
            if let Some(sum) = audit(&w) {
                assert_eq!(sum, 20, "audit saw a broken total");
            }
            let other = t.join().unwrap();
            let a = w.vars[0].val.load(Ordering::Acquire);
            let b = w.vars[1].val.load(Ordering::Acquire);
            assert_eq!(a + b, 20);
            let expect_a = 10 + u64::from(done) - u64::from(other);
            assert_eq!(a, expect_a, "a transfer was lost or applied twice");
        });
    }
}
