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
//!
//! The clock and the lock words rely on the single total order of `SeqCst` operations in
//! two store-then-load patterns: a committer locks (CAS) then loads the clock, while a
//! reader loads the clock then a lock word; and the serial transaction sets its bit then
//! reads. C++20 (which Rust follows) forbids each side from missing the other's store,
//! even though lock words are also written with `Release` stores (`unlock_at`). Miri's
//! weak-memory emulation of this nightly does not model that rule for locations that mix
//! `SeqCst` and `Release` stores (rust-lang/miri#5104): it lets a `SeqCst` load read a
//! `Release` store older than a `SeqCst` CAS that precedes the load in the total order, and
//! so produced lost updates no C++20 execution has. Loom does not model the total
//! order of `SeqCst` accesses at all (tokio-rs/loom#180: both sides of a store-buffering
//! test may miss each other's store). Under the checkers only,
//! [`checker_sc_fence`] adds `SeqCst` fences (which both model faithfully) at those
//! points; they add nothing to the C++20 semantics, and native builds have none.

use crate::loom::{AtomicU64, Ordering};

/// A `SeqCst` fence for the checkers only (Miri and loom), at each store-then-load point
/// of the protocol (see the module docs): redundant under C++20, where the accesses around
/// it are already `SeqCst`, but neither checker models their total order on its own.
#[inline(always)]
fn checker_sc_fence() {
    #[cfg(miri)]
    std::sync::atomic::fence(Ordering::SeqCst);
    #[cfg(loom)]
    ::loom::sync::atomic::fence(Ordering::SeqCst);
}

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
        let c = self.0.load(Ordering::SeqCst);
        checker_sc_fence();
        (c & !SERIAL, c & SERIAL != 0)
    }

    /// Moves the clock forward to at least `v` (a reader met a version newer than its
    /// snapshot); returns the clock afterwards, without the serial bit.
    #[inline]
    pub(crate) fn advance_to(&self, v: u64) -> u64 {
        let prev = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                ((c & !SERIAL) < v).then_some((c & SERIAL) | v)
            })
            .unwrap_or_else(|c| c);
        checker_sc_fence();
        (prev & !SERIAL).max(v)
    }

    /// The write version of a commit that has locked its write set, whose newest version
    /// is `newest`: newer than the clock and than `newest` (so every variable's version
    /// grows with each commit to it). The clock itself is not written: readers move it
    /// when they meet a newer version ([`Clock::advance_to`]). `Err` when a serial
    /// transaction runs (the caller must give up its commit).
    ///
    /// Why a reader never accepts half of this commit: the clock is loaded (`SeqCst`)
    /// after the write set was locked (`SeqCst`). A reader whose snapshot time `rv` was
    /// sampled (start, or extension after moving the clock) *after* that load in the single
    /// total order sees every one of those locks in its later reads and in the validation
    /// that follows an extension; a reader that sampled *before* it has `rv <= clock <
    /// wv`, so it treats this commit's values as too new (extension, which re-validates).
    #[inline]
    pub(crate) fn write_version(&self, newest: u64) -> Result<u64, ()> {
        checker_sc_fence();
        let c = self.0.load(Ordering::SeqCst);
        if c & SERIAL != 0 {
            return Err(());
        }
        Ok(c.max(newest) + 1)
    }

    /// Sets the serial bit.
    pub(crate) fn enter_serial(&self) {
        let c = self.0.fetch_or(SERIAL, Ordering::SeqCst);
        checker_sc_fence();
        debug_assert_eq!(c & SERIAL, 0, "two serial transactions at once");
    }

    /// Clears the serial bit and takes the serial transaction's write version (newer than
    /// the clock and than `newest`, the newest version in its write set); the clock moves to
    /// it.
    pub(crate) fn leave_serial_tick(&self, newest: u64) -> u64 {
        let prev = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                Some((c & !SERIAL).max(newest) + 1)
            })
            .unwrap_or_else(|c| c);
        (prev & !SERIAL).max(newest) + 1
    }

    /// Clears the serial bit without a write (the serial transaction retried or panicked).
    pub(crate) fn leave_serial(&self) {
        self.0.fetch_and(!SERIAL, Ordering::SeqCst);
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

    /// The current word (`SeqCst`: see the module docs on the clock).
    #[inline]
    pub(crate) fn load(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Locks the word if it still is `seen` and unlocked.
    #[inline]
    pub(crate) fn try_lock(&self, seen: u64) -> bool {
        seen & LOCKED == 0
            && self
                .0
                .compare_exchange(seen, seen | LOCKED, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
    }

    /// Locks the word whatever its version, spinning while someone else holds it; returns
    /// the word it locked (for [`VLock::unlock_unchanged`] or the caller's checks).
    #[inline]
    pub(crate) fn lock_spinning(&self) -> u64 {
        loop {
            let w = self.load();
            if self.try_lock(w) {
                return w;
            }
            crate::loom::spin_hint();
        }
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
        vars: Vec<Var>,
    }

    fn world() -> Arc<World> {
        Arc::new(World {
            clock: Clock::new(),
            vars: (0..3)
                .map(|_| Var {
                    lock: VLock::new(0),
                    val: AtomicU64::new(10),
                })
                .collect(),
        })
    }

    /// A transactional read with timestamp extension, as `Transaction::read` does it.
    fn tx_read(w: &World, i: usize, rv: &mut u64, reads: &mut Vec<(usize, u64)>) -> Option<u64> {
        loop {
            let (word, x) = read_consistent(&w.vars[i].lock, &w.vars[i].val, 0).ok()?;
            if version(word) > *rv {
                let now = w.clock.advance_to(version(word));
                for &(j, seen) in reads.iter() {
                    if !same_version(w.vars[j].lock.load(), seen) {
                        return None;
                    }
                }
                *rv = now;
                continue;
            }
            reads.push((i, word));
            return Some(x);
        }
    }

    /// One attempt to move 1 from `from` to `to`; `None` on abort.
    fn transfer(w: &World, from: usize, to: usize) -> Option<()> {
        let (mut rv, _) = w.clock.sample();
        let mut reads = Vec::new();
        let a = tx_read(w, 0, &mut rv, &mut reads)?;
        let b = tx_read(w, 1, &mut rv, &mut reads)?;
        // Opacity: what this attempt saw is a consistent snapshot.
        assert_eq!(a + b, 20, "inconsistent snapshot");
        // Commit: lock both (in index order), take the write version, validate (the
        // lock CAS from the word that was read is the validation here), write, unlock.
        let mut locked = 0;
        for i in 0..2 {
            if !w.vars[i].lock.try_lock(reads[i].1) {
                for j in 0..locked {
                    w.vars[j].lock.unlock_unchanged(reads[j].1);
                }
                return None;
            }
            locked += 1;
        }
        let newest = version(reads[0].1).max(version(reads[1].1));
        let wv = w.clock.write_version(newest).ok()?;
        let new = [
            a - u64::from(from == 0) + u64::from(to == 0),
            b - u64::from(from == 1) + u64::from(to == 1),
        ];
        for i in 0..2 {
            w.vars[i].val.store(new[i], Ordering::Release);
            w.vars[i].lock.unlock_at(wv);
        }
        Some(())
    }

    /// A read-only audit; `None` on abort.
    fn audit(w: &World) -> Option<u64> {
        let (mut rv, _) = w.clock.sample();
        let mut reads = Vec::new();
        let a = tx_read(w, 0, &mut rv, &mut reads)?;
        let b = tx_read(w, 1, &mut rv, &mut reads)?;
        Some(a + b)
    }

    /// One attempt to add 1 to variable 2 (a blind write: lock, version, write).
    fn bump(w: &World) -> Option<()> {
        let v = &w.vars[2];
        let seen = v.lock.load();
        if !v.lock.try_lock(seen) {
            return None;
        }
        let wv = w.clock.write_version(version(seen)).ok()?;
        let x = v.val.load(Ordering::Acquire);
        v.val.store(x + 1, Ordering::Release);
        v.lock.unlock_at(wv);
        Some(())
    }

    /// An auditor that reads 0, then 2 (which a third thread keeps rewriting, so its
    /// version may run ahead and drag the snapshot forward), then 1, while a transfer
    /// between 0 and 1 commits: it must never see half the transfer.
    #[test]
    fn extension_never_skips_an_unfinished_commit() {
        check(2, || {
            let w = world();
            let (w1, w2) = (w.clone(), w.clone());
            let mover = thread::spawn(move || transfer(&w1, 0, 1).is_some());
            let bumper = thread::spawn(move || {
                let _ = bump(&w2);
                let _ = bump(&w2);
            });
            let audit = || {
                let (mut rv, _) = w.clock.sample();
                let mut reads = Vec::new();
                let a = tx_read(&w, 0, &mut rv, &mut reads)?;
                tx_read(&w, 2, &mut rv, &mut reads)?;
                let b = tx_read(&w, 1, &mut rv, &mut reads)?;
                Some(a + b)
            };
            if let Some(sum) = audit() {
                assert_eq!(sum, 20, "the audit saw half a transfer");
            }
            mover.join().unwrap();
            bumper.join().unwrap();
        });
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
