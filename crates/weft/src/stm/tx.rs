//! One attempt of a transaction: its read set, its write set, and the TL2 commit.
//!
//! Invariants of an attempt (see the module docs of [`super`] for why they give opacity):
//! * every entry of `reads`, the `last` read (held out of `reads` until the next read),
//!   and every write entry's folded `read` word, was read with
//!   [`read_consistent`] at a word whose version is at most `rv`, and none has changed
//!   since, as of the last time `rv` was set (at the start, or by an extension that
//!   re-checked every one of them); together they are the attempt's read set;
//! * `writes` owns a boxed pending value per entry; an entry for a variable shadows the
//!   earlier entries for it (only [`Transaction::or_else`] makes two), and lookups scan from
//!   the back; `bloom` has a bit for every variable in `writes`;
//! * the attempt holds no variable's lock outside [`Transaction::commit`].

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::sync::atomic::Ordering;

use super::tvar::Pinned;

use super::tvar::{
    box_value, drop_boxed, drop_nothing, from_bits, is_inline, to_bits, TVar, VarPtr,
};
use super::vlock::{read_consistent, same_version, version, ReadFail, LOCKED, WAITERS};
use super::{StmError, StmResult, CLOCK};

/// How often a read spins on a locked variable before the attempt gives up.
const READ_SPINS: u32 = 32;
/// Extensions after which an attempt that has read `LONG_READS` variables gives up.
const LONG_EXTENSIONS: u32 = 4;
/// How often a commit spins on a locked variable before it gives up.
const LOCK_SPINS: u32 = 64;

#[derive(Clone, Copy)]
pub(crate) struct ReadEntry {
    pub(crate) var: VarPtr,
    pub(crate) word: u64,
}

pub(crate) struct WriteEntry {
    var: VarPtr,
    /// The pending value (a `Box<T>`), owned by the entry until a commit installs it;
    /// null for an inline `T`, whose pending value is `bits`.
    new: *mut (),
    bits: u64,
    drop_new: unsafe fn(*mut ()),
    /// The lock word before this commit locked it.
    seen: u64,
    /// The variable's header generation when the entry was made (through a live handle).
    generation: u64,
    /// The commit found the variable retired (generation moved on): the entry is skipped.
    dead: bool,
    /// The lock word this attempt read the variable at just before writing it, its read
    /// entry folded into this one (see [`Transaction::write`]); [`NOT_READ`] if none was.
    read: u64,
}

/// [`WriteEntry::read`] when no read entry was folded in (a read word is never locked).
const NOT_READ: u64 = LOCKED;

/// A value replaced by a commit, and its destructor.
type Retired = (*mut (), unsafe fn(*mut ()));

impl WriteEntry {
    /// Drops the pending value if the entry still owns one (it was never installed).
    fn drop_pending(&mut self) {
        if !self.new.is_null() {
            // SAFETY: a non-null `new` is a `Box` of the variable's `T` that the entry owns;
            // it is nulled right after, so it is dropped once.
            unsafe { super::drop_value(self.new, self.drop_new) };
            self.new = std::ptr::null_mut();
        }
    }

    /// The read this entry took over (read-for-write), as a read entry.
    #[inline]
    fn folded_read(&self) -> Option<ReadEntry> {
        (self.read != NOT_READ).then_some(ReadEntry {
            var: self.var,
            word: self.read,
        })
    }

    /// Records that a non-serial commit locked this entry's variable from word `w`;
    /// returns the version it had (0 for a retired variable, whose entry is marked dead).
    #[inline(always)]
    fn locked(&mut self, w: u64) -> u64 {
        let h = self.var.header();
        // The generation only changes under this lock: if it moved on since the write,
        // the variable was retired (no handle is left, nobody can read it): skip it.
        if h.generation.load(Ordering::Relaxed) != self.generation {
            return self.retired_under_lock(w);
        }
        self.seen = w;
        version(w)
    }

    #[cold]
    #[inline(never)]
    fn retired_under_lock(&mut self, w: u64) -> u64 {
        self.var.header().lock.unlock_unchanged(w);
        self.dead = true;
        0
    }
}

/// Locks a write entry's variable for a non-serial commit: `Some(version it had)`, or
/// `None` when the attempt must give up (a read the entry took over is stale, or the
/// variable stayed locked by another commit). A folded read is validated here: the lock
/// is taken only from the very word that was read.
#[inline(always)]
fn lock_entry(e: &mut WriteEntry) -> Option<u64> {
    let h = e.var.header();
    let w = h.lock.load();
    if w & LOCKED == 0 && (e.read == NOT_READ || same_version(w, e.read)) && h.lock.try_lock(w) {
        return Some(e.locked(w));
    }
    lock_entry_slow(e)
}

/// [`lock_entry`] when the first look found the variable locked, stale, or lost the CAS.
#[cold]
#[inline(never)]
fn lock_entry_slow(e: &mut WriteEntry) -> Option<u64> {
    let h = e.var.header();
    let mut spins = 0;
    loop {
        let w = h.lock.load();
        if w & LOCKED == 0 {
            if e.read != NOT_READ && !same_version(w, e.read) {
                return None;
            }
            if h.lock.try_lock(w) {
                return Some(e.locked(w));
            }
            continue;
        }
        if spins == LOCK_SPINS {
            return None;
        }
        spins += 1;
        crate::loom::spin_hint();
    }
}

/// Unlocks entries a failed commit locked, without a write.
#[cold]
fn unlock_all(locked: &[WriteEntry]) {
    for e in locked.iter().filter(|e| !e.dead) {
        e.var.header().lock.unlock_unchanged(e.seen);
    }
}

/// Checks that nothing in `reads` has changed (words equal, or locked by this commit,
/// which holds `writes`, at the version that was read).
///
/// A dead entry (its variable was retired) holds no lock: its header may be a new
/// variable's now, locked by another commit, which must not pass for this one's.
#[inline(always)]
fn validate(reads: &[ReadEntry], writes: &[WriteEntry]) -> bool {
    reads.iter().all(|r| {
        let w = r.var.header().lock.load();
        same_version(w, r.word)
            || (same_version(w, r.word | LOCKED)
                && writes.iter().any(|e| !e.dead && e.var == r.var))
    })
}

/// Reusable vectors of an attempt.
#[derive(Default)]
pub(crate) struct Buffers {
    pub(crate) reads: Vec<ReadEntry>,
    writes: Vec<WriteEntry>,
    /// Values replaced by a commit, retired once its locks are released.
    retired: Vec<Retired>,
}

impl Buffers {
    /// The larger capacity of the write vectors.
    pub(crate) fn writes_capacity(&self) -> usize {
        self.writes.capacity().max(self.retired.capacity())
    }
}

/// Why a commit failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CommitFail {
    /// Another transaction changed what this one read, or held a lock too long.
    Conflict,
    /// A serial transaction runs: wait for it, then run again.
    Serial,
}

/// The view of the shared variables one attempt of [`atomically`](super::atomically) has:
/// reads see a consistent snapshot (and this attempt's own writes); writes stay private
/// until the attempt commits.
///
/// A `Transaction` lives on the thread that runs the transaction; it is not `Send`:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<weft::stm::Transaction>();
/// ```
pub struct Transaction {
    /// Pinned at the first boxed read (or boxed retirement), until the attempt ends.
    guard: Option<Pinned>,
    /// The snapshot's time: reads accept versions up to it. `u64::MAX` for the serial
    /// transaction, which accepts every version (so a read needs one comparison, not two).
    pub(crate) rv: u64,
    pub(crate) serial: bool,
    pub(crate) bufs: ManuallyDrop<Box<Buffers>>,
    bloom: u64,
    /// Entries of `writes` below this index belong to an enclosing `or_else` level.
    mark: usize,
    /// Some variable has two entries in `writes`.
    shadowed: bool,
    /// Extensions so far.
    extensions: u32,
    /// The latest read, kept out of `bufs.reads` until the next read: a write that follows
    /// it (read-for-write) takes it over without touching the vector. Part of the read set
    /// everywhere the read set is used ([`Self::flush_last`]).
    last: Option<ReadEntry>,
    _not_send: PhantomData<*mut ()>,
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("read_version", &self.rv)
            .field("serial", &self.serial)
            .field(
                "reads",
                &(self.bufs.reads.len() + usize::from(self.last.is_some())),
            )
            .field("writes", &self.bufs.writes.len())
            .finish()
    }
}

impl Transaction {
    pub(crate) fn new(rv: u64, serial: bool, bufs: Box<Buffers>) -> Self {
        debug_assert!(bufs.reads.is_empty() && bufs.writes.is_empty());
        Transaction {
            guard: None,
            rv,
            serial,
            bufs: ManuallyDrop::new(bufs),
            bloom: 0,
            mark: 0,
            shadowed: false,
            extensions: 0,
            last: None,
            _not_send: PhantomData,
        }
    }

    /// Pins this attempt (once): boxed values it reads or retires stay valid until it ends.
    #[inline]
    fn pin(&mut self) -> &Pinned {
        self.guard.get_or_insert_with(super::tvar::pin)
    }

    /// The latest pending write of this attempt to `var`, if any.
    ///
    /// Matched by header *and* generation: the header of a variable this attempt wrote may
    /// be released (its last handle dropped, here or on another thread) and reused by a
    /// new variable, perhaps of another type, while the attempt runs; the old entry then
    /// belongs to a variable that is gone (its commit skips it), never to the new one.
    #[inline]
    fn find_write<T>(&self, var: &TVar<T>) -> Option<usize> {
        let p = var.ptr();
        if self.bloom & p.bloom_bit() == 0 {
            return None;
        }
        // Stable while `var` is alive: the generation changes only when the last handle
        // goes.
        let generation = var.header().generation.load(Ordering::Relaxed);
        self.bufs
            .writes
            .iter()
            .rposition(|e| e.var == p && e.generation == generation)
    }

    /// Reads `var`: this attempt's own pending write if it has one, else the value of the
    /// snapshot the attempt sees.
    ///
    /// Fails (and the attempt is re-run by `atomically`) when the variable changed after
    /// the snapshot in a way that cannot be reconciled with the rest of what was read.
    // Always inlined: left to itself the compiler inlines the first read of a transaction
    // and calls the others (callgrind: 28 instructions fewer per two-read transfer inlined).
    #[inline(always)]
    pub fn read<T: Clone + Send + Sync + 'static>(&mut self, var: &TVar<T>) -> StmResult<T> {
        let p = var.ptr();
        if let Some(i) = self.find_write(var) {
            let e = &self.bufs.writes[i];
            if is_inline::<T>() {
                // SAFETY: `find_write` matched the header and its generation, so the entry
                // was made through a handle of this very variable: its bits come from
                // `to_bits::<T>`.
                return Ok(unsafe { from_bits::<T>(e.bits) });
            }
            // SAFETY: an entry of this very variable (header and generation, see
            // `find_write`) holds a `Box<T>` of its `T`, owned by the entry and alive
            // until the entry is dropped or installed.
            return Ok(unsafe { &*e.new.cast::<T>() }.clone());
        }
        let h = var.header();
        if is_inline::<T>() {
            loop {
                match read_consistent(&h.lock, &h.bits, READ_SPINS) {
                    Ok((word, bits)) => {
                        if version(word) > self.rv {
                            self.extend(version(word))?;
                            continue;
                        }
                        self.log_read(ReadEntry { var: p, word });
                        // SAFETY: the slot of an inline `T` only holds `to_bits::<T>`.
                        return Ok(unsafe { from_bits::<T>(bits) });
                    }
                    Err(ReadFail::Locked) if self.serial => crate::yield_now(),
                    Err(ReadFail::Locked) => return Err(StmError::conflict()),
                }
            }
        }
        let value = self.read_published(var)?;
        // SAFETY: `read_published` returns the published value of a version no later than
        // the snapshot: a `Box<T>` never mutated after publication, kept alive by the
        // attempt's guard (pinned before the value was loaded) until the attempt ends.
        Ok(unsafe { &*value }.clone())
    }

    /// The boxed value of `var` in this attempt's snapshot, logged as a read, without a
    /// clone. The box is never mutated after publication and stays valid until the attempt
    /// ends (its guard is pinned first).
    #[inline(always)]
    fn read_published<T: Clone + Send + Sync + 'static>(
        &mut self,
        var: &TVar<T>,
    ) -> StmResult<*const T> {
        debug_assert!(!is_inline::<T>());
        let p = var.ptr();
        let h = var.header();
        self.pin();
        loop {
            match read_consistent(&h.lock, &h.value, READ_SPINS) {
                Ok((word, value)) => {
                    if version(word) > self.rv {
                        self.extend(version(word))?;
                        continue;
                    }
                    self.log_read(ReadEntry { var: p, word });
                    return Ok(value.cast::<T>().cast_const());
                }
                Err(ReadFail::Locked) if self.serial => crate::yield_now(),
                Err(ReadFail::Locked) => return Err(StmError::conflict()),
            }
        }
    }

    /// Like [`Self::read`], but lends the value instead of cloning it: a pointer to the
    /// value this attempt sees, for a boxed (not inline) `T`.
    ///
    /// The pointer is valid until the attempt ends, this attempt writes `var` again, or an
    /// [`or_else`](Self::or_else) branch that wrote `var` is dropped (the last two drop
    /// a pending value); the value is never mutated while it is valid.
    pub(crate) fn read_ptr<T: Clone + Send + Sync + 'static>(
        &mut self,
        var: &TVar<T>,
    ) -> StmResult<*const T> {
        assert!(!is_inline::<T>(), "read_ptr is for boxed values");
        if let Some(i) = self.find_write(var) {
            // The pending value: a `Box<T>` owned by the entry (see `read`).
            return Ok(self.bufs.writes[i].new.cast::<T>().cast_const());
        }
        self.read_published(var)
    }

    /// Adds a read to the read set (as `last`; the one it replaces goes to the vector).
    #[inline(always)]
    fn log_read(&mut self, r: ReadEntry) {
        if let Some(prev) = self.last.replace(r) {
            self.bufs.reads.push(prev);
        }
    }

    /// Moves `last` into `bufs.reads`, which is then the whole read set.
    #[inline]
    pub(crate) fn flush_last(&mut self) {
        if let Some(r) = self.last.take() {
            self.bufs.reads.push(r);
        }
    }

    /// Moves the snapshot forward to at least `to` (moving the clock there if it is
    /// behind), if nothing read so far has changed since it was read (TL2's timestamp
    /// extension); else the attempt conflicts.
    #[cold]
    fn extend(&mut self, to: u64) -> StmResult<()> {
        // Each extension re-reads every lock word read so far: a long attempt that keeps
        // meeting new commits would cost quadratic time and then likely fail anyway, so
        // it gives up early (and soon runs serially, see `run`).
        self.flush_last();
        self.extensions += 1;
        if self.extensions > LONG_EXTENSIONS && self.bufs.reads.len() >= super::LONG_READS {
            return Err(StmError::conflict());
        }
        let now = CLOCK.advance_to(to);
        for r in &self.bufs.reads {
            if !same_version(r.var.header().lock.load(), r.word) {
                return Err(StmError::conflict());
            }
        }
        for r in self.bufs.writes.iter().filter_map(WriteEntry::folded_read) {
            if !same_version(r.var.header().lock.load(), r.word) {
                return Err(StmError::conflict());
            }
        }
        self.rv = now;
        Ok(())
    }

    /// Writes `value` to `var`; other transactions see it only once this one commits.
    #[inline]
    pub fn write<T: Clone + Send + Sync + 'static>(
        &mut self,
        var: &TVar<T>,
        value: T,
    ) -> StmResult<()> {
        let p = var.ptr();
        if let Some(i) = self.find_write(var) {
            if i >= self.mark {
                let e = &mut self.bufs.writes[i];
                if is_inline::<T>() {
                    e.bits = to_bits(value);
                } else {
                    // SAFETY: as in `read`: an entry of this very variable owns a `Box<T>`
                    // of its `T`, valid for reads and writes.
                    let old = unsafe { std::ptr::replace(e.new.cast::<T>(), value) };
                    if std::mem::needs_drop::<T>() {
                        // A user value dropped inside the transaction: kept back until
                        // `atomically` returns, like the others (its destructor may run a
                        // transaction of its own).
                        // SAFETY: a fresh `Box<T>`, owned here; `drop_boxed::<T>` drops it.
                        unsafe { super::drop_value(box_value(old), drop_boxed::<T>) };
                    }
                }
                return Ok(());
            }
            self.shadowed = true;
        }
        self.bloom |= p.bloom_bit();
        let generation = var.header().generation.load(Ordering::Relaxed);
        // Read-for-write: a write right after a read of the same variable (`modify`, or a
        // transfer's read then write) takes over that read entry. Its commit then checks
        // the read by locking only from the word that was read, instead of validating it
        // separately; an extension checks it like a read entry, and an `or_else` branch
        // that drops the write puts the read entry back (so `retry` still waits on it).
        let read = match self.last {
            Some(r) if r.var == p => {
                self.last = None;
                r.word
            }
            _ => NOT_READ,
        };
        let entry = if is_inline::<T>() {
            WriteEntry {
                var: p,
                new: std::ptr::null_mut(),
                bits: to_bits(value),
                drop_new: drop_nothing,
                seen: 0,
                generation,
                dead: false,
                read,
            }
        } else {
            WriteEntry {
                var: p,
                new: box_value(value),
                bits: 0,
                drop_new: drop_boxed::<T>,
                seen: 0,
                generation,
                dead: false,
                read,
            }
        };
        self.bufs.writes.push(entry);
        Ok(())
    }

    /// Replaces the value of `var` with `f(value)`.
    #[inline]
    pub fn modify<T: Clone + Send + Sync + 'static>(
        &mut self,
        var: &TVar<T>,
        f: impl FnOnce(T) -> T,
    ) -> StmResult<()> {
        let v = self.read(var)?;
        self.write(var, f(v))
    }

    /// Writes `value` to `var` and returns the value it replaces.
    pub fn replace<T: Clone + Send + Sync + 'static>(
        &mut self,
        var: &TVar<T>,
        value: T,
    ) -> StmResult<T> {
        let old = self.read(var)?;
        self.write(var, value)?;
        Ok(old)
    }

    /// Left-biased choice (GHC's `orElse`): runs `first`; if it calls
    /// [`retry`](super::retry), its writes are undone and `second` runs instead. If both
    /// retry, the whole transaction retries and waits for a change to any variable
    /// *either* branch read.
    ///
    /// ```
    /// use weft::stm::{atomically, retry, StmResult, TVar, Transaction};
    /// fn take(tx: &mut Transaction, v: &TVar<Option<u32>>) -> StmResult<u32> {
    ///     match tx.read(v)? {
    ///         Some(x) => { tx.write(v, None)?; Ok(x) }
    ///         None => retry(),
    ///     }
    /// }
    /// let a = TVar::new(None);
    /// let b = TVar::new(Some(7));
    /// let got = atomically(|tx| tx.or_else(|tx| take(tx, &a), |tx| take(tx, &b)));
    /// assert_eq!(got, 7);
    /// ```
    pub fn or_else<R>(
        &mut self,
        first: impl FnOnce(&mut Transaction) -> StmResult<R>,
        second: impl FnOnce(&mut Transaction) -> StmResult<R>,
    ) -> StmResult<R> {
        let outer = self.mark;
        let start = self.bufs.writes.len();
        self.mark = start;
        let r = first(self);
        self.mark = outer;
        match r {
            Err(e) if e.is_retry() => {
                self.truncate_writes(start);
                second(self)
            }
            other => other,
        }
    }

    /// Drops the pending writes from index `len` on (giving back the read entries they
    /// took over).
    fn truncate_writes(&mut self, len: usize) {
        let bufs = &mut **self.bufs;
        for mut e in bufs.writes.drain(len..) {
            bufs.reads.extend(e.folded_read());
            e.drop_pending();
        }
    }

    /// Drops every pending write (the attempt ends without a commit).
    #[inline]
    pub(crate) fn abandon_writes(&mut self) {
        if !self.bufs.writes.is_empty() {
            self.truncate_writes(0);
        }
    }

    /// Keeps only the latest entry per variable (after `or_else` made duplicates).
    #[cold]
    fn dedupe_writes(&mut self) {
        let mut seen = std::collections::HashSet::new();
        let mut kept = Vec::with_capacity(self.bufs.writes.len());
        let bufs = &mut **self.bufs;
        for mut e in bufs.writes.drain(..).rev() {
            if seen.insert(e.var) {
                kept.push(e);
            } else {
                // Still validated at commit, as a read of a variable it locks.
                bufs.reads.extend(e.folded_read());
                e.drop_pending();
            }
        }
        kept.reverse();
        self.bufs.writes = kept;
        self.shadowed = false;
    }

    /// TL2's commit: lock the write set, take a write version, validate the read set,
    /// publish, unlock at the write version, wake the `retry` waiters of what it wrote.
    // The read-only case is decided inline: the out-of-line call alone (the writing
    // commit saves six registers) cost 20 instructions a read-only transaction.
    #[inline(always)]
    pub(crate) fn commit(&mut self) -> Result<(), CommitFail> {
        if self.bufs.writes.is_empty() {
            // Read-only: every read was checked against `rv` when it was made (and by
            // every extension), so the attempt is serialisable at `rv`.
            return Ok(());
        }
        self.commit_writes()
    }

    /// [`Self::commit`] of an attempt with at least one write.
    // The uncontended path is straight-line: each step's rare case (a locked variable, a
    // retired one, a serial transaction, boxed values to retire) is out of line.
    #[inline(always)]
    fn commit_writes(&mut self) -> Result<(), CommitFail> {
        if self.shadowed {
            self.dedupe_writes();
        }
        if self.serial {
            return self.commit_serial();
        }
        self.flush_last();
        let bufs = &mut **self.bufs;
        let writes = &mut bufs.writes[..];
        let mut newest = 0;
        for i in 0..writes.len() {
            match lock_entry(&mut writes[i]) {
                Some(v) => newest = newest.max(v),
                None => {
                    unlock_all(&writes[..i]);
                    return Err(CommitFail::Conflict);
                }
            }
        }
        let Ok(wv) = CLOCK.write_version(newest) else {
            unlock_all(&bufs.writes);
            return Err(CommitFail::Serial);
        };
        // Always validate: commits do not tick the clock, so `wv == rv + 1` says nothing
        // about commits in between. (Reads a write took over were validated by its lock.)
        if !validate(&bufs.reads, &bufs.writes) {
            unlock_all(&bufs.writes);
            return Err(CommitFail::Conflict);
        }
        self.publish(wv);
        Ok(())
    }

    /// [`Self::commit_writes`] of the serial (irrevocable) transaction: no other commit
    /// can start, so it waits for every lock and needs no validation.
    #[cold]
    #[inline(never)]
    fn commit_serial(&mut self) -> Result<(), CommitFail> {
        let mut newest = 0;
        for e in &mut self.bufs.writes {
            // A commit that took its version before this serial transaction began may be
            // finishing (or one that will see the serial bit backing off): wait for it.
            let w = e.var.header().lock.lock_spinning();
            newest = newest.max(e.locked(w));
        }
        let wv = CLOCK.leave_serial_tick(newest);
        self.publish(wv);
        Ok(())
    }

    /// Installs every locked entry's value, unlocks it at version `wv`, and wakes its
    /// `retry` waiters. The old boxed values are retired after the locks are released,
    /// because retiring can run destructors of user values.
    #[inline(always)]
    fn publish(&mut self, wv: u64) {
        let bufs = &mut **self.bufs;
        for e in &mut bufs.writes {
            if e.dead {
                e.drop_pending();
                continue;
            }
            let h = e.var.header();
            if e.new.is_null() {
                h.bits.store(e.bits, Ordering::Release);
            } else {
                let prev = h.value.swap(e.new, Ordering::AcqRel);
                bufs.retired.push((prev, h.drop_value()));
                e.new = std::ptr::null_mut();
            }
            h.lock.unlock_at(wv);
            // A `retry` waiter that registered before this commit's lock CAS set the
            // waiters bit in the word the CAS replaced (see `vlock`); one that registers
            // later sees the new version and does not park.
            if e.seen & WAITERS != 0 {
                h.wake_waiters();
            }
        }
        // Every entry's value now belongs to its variable (`new` is null or inline).
        bufs.writes.clear();
        if !bufs.retired.is_empty() {
            self.retire_replaced();
        }
    }

    /// Hands the boxed values a commit replaced to the epoch collector.
    #[inline(never)]
    fn retire_replaced(&mut self) {
        let guard = self.guard.get_or_insert_with(super::tvar::pin);
        for (p, drop_value) in self.bufs.retired.drain(..) {
            let p = SendValue(p);
            // SAFETY: `p` is no longer reachable from the variable (swapped out by the
            // commit); transactions pinned now may still read it, and the collector runs
            // the destructor only after they unpin. `drop_value` matches its type.
            unsafe {
                guard.defer_unchecked(move || {
                    let p = p;
                    // SAFETY: as above: the collector runs this once, after every
                    // attempt that could read `p` has unpinned.
                    super::drop_value(p.0, drop_value);
                });
            }
        }
    }

    /// Ends a committed attempt: what its drop does, always inlined (the commit path's
    /// `drop_in_place` was an out-of-line call: 22 instructions a transaction).
    #[inline(always)]
    pub(crate) fn finish(self) {
        debug_assert!(
            self.bufs.writes.is_empty(),
            "a committed attempt has no pending write"
        );
        let mut me = ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again after these two moves out of it
        // (it is a `ManuallyDrop`), so `bufs` and `guard` are each taken exactly once;
        // every other field has no drop glue.
        let (bufs, guard) =
            unsafe { (ManuallyDrop::take(&mut me.bufs), std::ptr::read(&me.guard)) };
        super::give_buffers(bufs);
        drop(guard);
    }
}

impl Drop for Transaction {
    #[inline]
    fn drop(&mut self) {
        self.abandon_writes();
        // SAFETY: `bufs` is not used after this (the transaction is being dropped).
        let bufs = unsafe { ManuallyDrop::take(&mut self.bufs) };
        super::give_buffers(bufs);
    }
}

/// A retired value pointer moved into a deferred destructor.
struct SendValue(*mut ());
// SAFETY: it points to a `T: Send + Sync` value that only the destructor touches.
unsafe impl Send for SendValue {}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A dead write entry (its variable was retired) whose header is now another
    /// variable's, read by this attempt and locked by *another* commit: validation must
    /// not take that lock for this commit's own.
    #[test]
    fn validation_does_not_count_a_dead_entry_as_a_lock_it_holds() {
        let b = TVar::new(1u64);
        let h = b.header();
        let word = h.lock.load();
        let reads = [ReadEntry { var: b.ptr(), word }];
        let dead = WriteEntry {
            var: b.ptr(),
            new: std::ptr::null_mut(),
            bits: 0,
            drop_new: drop_nothing,
            seen: 0,
            generation: h.generation.load(Ordering::Relaxed).wrapping_sub(1),
            dead: true,
            read: NOT_READ,
        };
        // Another commit to `b` holds its lock.
        assert!(h.lock.try_lock(word));
        let passed = validate(&reads, std::slice::from_ref(&dead));
        h.lock.unlock_unchanged(word);
        assert!(!passed, "validated a read another commit holds locked");
        // With the entry live (this commit's own lock), the same read validates.
        let live = WriteEntry {
            dead: false,
            generation: h.generation.load(Ordering::Relaxed),
            ..dead
        };
        assert!(h.lock.try_lock(word));
        let passed = validate(&reads, std::slice::from_ref(&live));
        h.lock.unlock_unchanged(word);
        assert!(passed);
    }
}
