//! Software transactional memory: [`TVar`], [`atomically`], [`retry`], [`Transaction::or_else`],
//! and a transactional queue ([`TQueue`]); the semantics of GHC's `stm` package.
//!
//! ```
//! use weft::stm::{atomically, retry, StmResult, TVar};
//! let a = TVar::new(10i64);
//! let b = TVar::new(0i64);
//! let moved: i64 = atomically(|tx| {
//!     let x = tx.read(&a)?;
//!     if x < 5 { return retry(); }     // wait until `a` holds at least 5
//!     tx.write(&a, x - 5)?;
//!     tx.modify(&b, |v| v + 5)?;
//!     Ok(5)
//! });
//! assert_eq!((moved, a.load(), b.load()), (5, 5, 5));
//! ```
//!
//! Transactions run from green threads and kernel threads alike; `retry` parks either kind
//! through the parking core.
//!
//! # Algorithm: TL2, with timestamp extension
//!
//! Of the two reference algorithms, TL2 (Dice, Shalev, Shavit 2006) is used rather than
//! NOrec: NOrec serialises every writing commit on one global sequence lock and revalidates
//! readers by value whenever any commit happens, which is cheapest for a single writer but
//! makes commits to disjoint variables (the bank-transfer load: 1 000 accounts, transfers
//! touching two) wait for each other. TL2 keeps a lock and a version per variable, so
//! disjoint commits run in parallel and only the global clock is shared. Read-only
//! transactions (the auditors) keep no locks and need no commit-time validation.
//!
//! * A global version clock; every variable has a versioned lock (`version << 2 | waiters
//!   << 1 | locked`) holding the write version of the commit that wrote its current value.
//! * An attempt samples the clock as its read version `rv`. Each read loads the lock word,
//!   the value (inline word or pointer), and the word again; equal, unlocked words with a
//!   version `<= rv` mean the value belongs to the snapshot at `rv`. A locked word makes the
//!   read spin briefly, then abort the attempt. A version `> rv` triggers an *extension*:
//!   move the clock up to that version (if it is behind), check that every variable read
//!   so far still has the word it was read at, and if so move the snapshot to the clock's
//!   new time; else the attempt aborts.
//! * Writes are buffered (a pending value per variable); reads see the attempt's own
//!   writes first.
//! * Commit: read-only attempts are done. Others lock their write set (spin briefly on a
//!   locked variable, then abort), load the clock, take `wv = max(clock, newest version in
//!   the write set) + 1`, validate the read set, publish the new values, and unlock each
//!   variable at version `wv`. A write that follows a read of the same variable (a
//!   `modify`, a transfer's read-then-write) takes that read over: the commit locks the
//!   variable only from the very word that was read, which validates the read at once
//!   (TL2's read-for-write case, without a separate pass). Headers of variables are never
//!   freed (retired ones are reused, see `tvar.rs`), so read and write sets need no
//!   protection; boxed values are reclaimed by crossbeam-epoch (a collector of weft's own,
//!   see `tvar.rs`), and an attempt pins only from its first boxed read (or when it
//!   retires a boxed value) to its end: transactions on inline values never pin.
//!
//! **A lazy clock (TL2's "GV5" idea).** Writers never write the clock: in the classic TL2
//! every commit increments it with a `fetch_add`, and with two threads on two cores that
//! one cache line, bounced between them on every commit, capped bank transfers at about
//! 17 M/s here; lazily it is about 24 M/s (`cargo run --release -p weft --example
//! stm_bank`). Instead the reader that meets a version newer than its snapshot moves the
//! clock forward (on the bank load about once per 20 transactions). Versions of a variable
//! still grow with every commit to it (`wv` exceeds the newest version it replaces), which
//! is what validation needs, and because `wv` is no longer unique, validation always runs.
//!
//! **Opacity.** Every value an attempt reads — including attempts that will abort — comes
//! from the snapshot at its current `rv`: a read returns only a value whose version is
//! `<= rv` and that was not being replaced (unlocked, unchanged across the value load), and
//! an extension moves `rv` only after checking that every earlier read is still the latest
//! value. A commit is never half-visible: its writer locks every variable and then loads
//! the clock (both sequentially consistent). A reader whose `rv` was sampled after that
//! load (at its start, or at an extension, after which it re-validates) sees every lock
//! in its later reads and validations; a reader that sampled before it has `rv <= clock <
//! wv`, so the commit's values are too new for its snapshot and reading one forces an
//! extension, which fails if the reader saw any of the commit's variables before it. The
//! loom models in `vlock.rs` check this, including a reader dragged forward by a third
//! thread's newer version while a commit is under way. User code inside a transaction
//! therefore never sees a broken invariant, and a panic raised by it is a real one (it
//! propagates; the attempt leaves no effect).
//!
//! # Blocking: `retry`
//!
//! [`retry`] ends the attempt; its pending writes are dropped. The thread registers a wake
//! token with every variable the attempt read and sets the variable's *waiters* bit with a
//! CAS from the very lock word it read; if every CAS succeeds it parks (green: its worker
//! runs others; kernel: futex), else something it read has changed and it runs again at
//! once. A committer's lock CAS on that word comes after the waiter's CAS (and then returns
//! the bit: the committer wakes the variable's tokens after publishing) or before it (and
//! then the waiter's CAS fails) — no lost wake-up, and no fence on the commit path. The
//! thread is woken exactly when a commit writes a variable it read, and then runs the
//! transaction again. [`Transaction::or_else`] keeps the reads of a branch that retried, so
//! when both branches retry the thread waits on the union of their reads.
//!
//! # Progress: contention management
//!
//! A conflict aborts and re-runs the attempt after a randomised exponential backoff (green
//! threads yield to their worker's other threads). After [`SERIAL_AFTER`] consecutive
//! conflicts (2 for a transaction that read 256 variables or more: such an attempt keeps
//! meeting commits, and each extension re-validates all it read) the transaction becomes
//! *irrevocable*: it takes the global serial lock (a
//! [`Mutex`](crate::sync::Mutex), eventually fair) and sets the clock's serial bit, which
//! makes every other writing commit back off until it is done; its reads wait for commits
//! already under way instead of aborting, and need no version checks (a commit under way
//! locked its variables before it could have seen the serial bit, so the serial reads,
//! which come after that bit, find each of them locked or already published). So every transaction that does not `retry`
//! commits after at most `SERIAL_AFTER` conflicts plus its wait for the serial lock
//! (read-only transactions are never stopped by a serial one). The guarantee assumes
//! transactions end: a transaction that loops forever or blocks inside holds up writers
//! while it is serial.
//!
//! # What is the user's responsibility
//!
//! * **Side effects.** The closure may run several times and an attempt may be abandoned at
//!   any read; I/O, locks or other blocking calls inside a transaction are the user's
//!   responsibility (do them after `atomically` returns). Only `Transaction` operations are
//!   undone.
//! * **Nesting.** Calling `atomically` (or a sibling) inside a transaction panics with a
//!   message: it cannot be made atomic with the outer one, and waiting on it could deadlock.
//!   Compose with functions taking `&mut Transaction` instead. A value the *runtime*
//!   drops — an old value the epoch collector retires, a pending write of an abandoned
//!   attempt — may have a destructor that runs a transaction: such drops are kept back
//!   while the thread is inside a transaction and run when its `atomically` returns (on a
//!   panic, at the end of the next transaction on that kernel thread). Values the closure
//!   itself drops (a clone returned by `read`, say) are dropped where the closure drops
//!   them, inside the transaction.
//! * **`retry` without reads.** A transaction that retries having read no variable can never
//!   be woken; `atomically` panics with a message instead of hanging forever (GHC throws
//!   `BlockedIndefinitelyOnSTM`).
//! * **User errors.** Returning a user error from `atomically` commits the writes; use
//!   [`atomically_result`], which rolls the attempt back when the closure returns `Ok(Err(e))`.

mod queue;
mod tvar;
mod tx;
pub(crate) mod vlock;

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use queue::TQueue;
pub use tvar::TVar;
pub use tx::Transaction;

use crate::park::{self, WaitReason};
use crate::sync::{TimedOut, WouldBlock};
use tvar::{RetryToken, VarPtr};
use tx::{Buffers, CommitFail};
use vlock::Clock;

/// The global version clock.
pub(crate) static CLOCK: crossbeam_utils::CachePadded<Clock> =
    crossbeam_utils::CachePadded::new(Clock::new());

/// Consecutive conflicts after which a transaction runs irrevocably (serially).
pub const SERIAL_AFTER: u32 = 8;
/// An attempt that read at least this many variables counts as long...
pub(crate) const LONG_READS: usize = 256;
/// ...and a long transaction runs serially after this many consecutive conflicts.
const LONG_SERIAL_AFTER: u32 = 2;

/// What a transactional operation returns: `Err` means the attempt cannot go on (it must
/// `retry`, or it conflicted); pass it on with `?`.
pub type StmResult<T> = Result<T, StmError>;

/// Why a transaction attempt stops early. Returned by [`retry`] and by
/// [`Transaction`] operations; pass it on with `?`, and [`atomically`] handles it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct StmError {
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Retry,
    Conflict,
}

impl StmError {
    pub(crate) fn conflict() -> Self {
        StmError {
            kind: Kind::Conflict,
        }
    }

    /// `true` for the error made by [`retry`] (block until something read changes);
    /// `false` for a conflict (the attempt saw a concurrent commit and will be re-run).
    pub fn is_retry(&self) -> bool {
        self.kind == Kind::Retry
    }
}

impl fmt::Display for StmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            Kind::Retry => "the transaction retries (waits for a variable it read to change)",
            Kind::Conflict => "the transaction conflicted with another and will run again",
        })
    }
}

impl std::error::Error for StmError {}

/// Abandons this attempt and blocks until another transaction commits a write to a
/// variable the attempt read; then the transaction runs again (GHC's `retry`).
pub fn retry<T>() -> StmResult<T> {
    Err(StmError { kind: Kind::Retry })
}

/// [`retry`] unless `cond` holds (GHC's `check`).
pub fn check(cond: bool) -> StmResult<()> {
    if cond {
        Ok(())
    } else {
        retry()
    }
}

/// Runs `f` as one atomic transaction and returns its result.
///
/// `f` may run several times: again after a conflict with another transaction, and after
/// [`retry`] once a variable it read has changed. Its effects on [`TVar`]s become visible
/// to other threads all at once, when it commits. Works on green and kernel threads.
///
/// # Panics
///
/// If called inside another transaction, or if `f` retries having read no variable. A
/// panic inside `f` aborts the attempt (no effect) and propagates.
pub fn atomically<R>(f: impl Fn(&mut Transaction) -> StmResult<R>) -> R {
    match run(&f, Wait::Forever) {
        Ok(r) => r,
        Err(Stopped::WouldBlock | Stopped::TimedOut) => unreachable!("no deadline"),
    }
}

/// Like [`atomically`], but instead of blocking in [`retry`] returns [`WouldBlock`].
pub fn try_atomically<R>(f: impl Fn(&mut Transaction) -> StmResult<R>) -> Result<R, WouldBlock> {
    run(&f, Wait::Never).map_err(|_| WouldBlock)
}

/// Like [`atomically`], but a [`retry`] waits at most `timeout` in all.
pub fn atomically_timeout<R>(
    timeout: Duration,
    f: impl Fn(&mut Transaction) -> StmResult<R>,
) -> Result<R, TimedOut> {
    match Instant::now().checked_add(timeout) {
        Some(d) => atomically_deadline(d, f),
        None => Ok(atomically(f)),
    }
}

/// Like [`atomically`], but a [`retry`] waits until `deadline` at most.
pub fn atomically_deadline<R>(
    deadline: Instant,
    f: impl Fn(&mut Transaction) -> StmResult<R>,
) -> Result<R, TimedOut> {
    run(&f, Wait::Until(deadline)).map_err(|_| TimedOut)
}

/// Like [`atomically`], with a user abort: when `f` returns `Ok(Err(e))` the attempt is
/// rolled back (none of its writes happen) and `Err(e)` is returned.
///
/// ```
/// use weft::stm::{atomically_result, TVar};
/// #[derive(Debug, PartialEq)]
/// struct Overdrawn;
/// let from = TVar::new(3u64);
/// let to = TVar::new(0u64);
/// let r = atomically_result(|tx| {
///     tx.modify(&to, |v| v + 5)?;          // undone below
///     let x = tx.read(&from)?;
///     if x < 5 { return Ok(Err(Overdrawn)); }
///     tx.write(&from, x - 5)?;
///     Ok(Ok(()))
/// });
/// assert_eq!(r, Err(Overdrawn));
/// assert_eq!((from.load(), to.load()), (3, 0));
/// ```
pub fn atomically_result<R, E>(
    f: impl Fn(&mut Transaction) -> StmResult<Result<R, E>>,
) -> Result<R, E> {
    let g = |tx: &mut Transaction| match f(tx)? {
        Ok(r) => Ok(Ok(r)),
        Err(e) => {
            tx.abandon_writes();
            Ok(Err(e))
        }
    };
    atomically(g)
}

#[derive(Clone, Copy)]
enum Wait {
    Forever,
    Never,
    Until(Instant),
}

enum Stopped {
    WouldBlock,
    TimedOut,
}

thread_local! {
    /// Spare vectors for the next attempt on this kernel thread.
    /// (A raw pointer, not an `Option<Box<_>>`: a thread-local without drop glue is read
    /// without the lazy-registration check, which cost ~25 instructions per transaction;
    /// `SPARE_OWNER` frees it when the thread exits.)
    static SPARE: Cell<*mut Buffers> = const { Cell::new(std::ptr::null_mut()) };
    /// Frees `SPARE` at thread exit; registered by the thread's first transaction.
    static SPARE_OWNER: SpareOwner = const { SpareOwner };
    /// `atomically` is running on this kernel thread (kernel threads only: a green
    /// thread keeps the flag in its control block, since its worker runs many).
    static IN_STM_KERNEL: Cell<bool> = const { Cell::new(false) };
}

/// Owner of this thread's spare buffers, for its destructor.
struct SpareOwner;

impl Drop for SpareOwner {
    fn drop(&mut self) {
        let p = SPARE.with(|s| s.replace(std::ptr::null_mut()));
        if !p.is_null() {
            // SAFETY: a non-null `SPARE` is a `Box` leaked by `give_buffers`, owned by the
            // slot; it was just taken out of it, so nothing else frees it.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

#[inline]
fn take_buffers() -> Box<Buffers> {
    // The spare is the kernel thread's: taking it is a critical section (`critical.rs`).
    let p = {
        let _c = crate::critical::Critical::new();
        SPARE.with(|s| s.replace(std::ptr::null_mut()))
    };
    if p.is_null() {
        // First transaction of this thread (or interleaved green threads): register the
        // owner that frees the spare at exit, and start with fresh vectors.
        let _ = SPARE_OWNER.try_with(|_| ());
        Box::default()
    } else {
        // SAFETY: as in `SpareOwner::drop`: taken out of the slot that owned it.
        unsafe { Box::from_raw(p) }
    }
}

/// Returns an attempt's vectors (emptied) for the next attempt on this kernel thread.
#[inline]
pub(crate) fn give_buffers(mut b: Box<Buffers>) {
    b.reads.clear();
    // Not the vectors of a huge transaction: they would stay with the thread for good.
    if b.reads.capacity() <= 4096 && b.writes_capacity() <= 4096 {
        let old = {
            let _c = crate::critical::Critical::new();
            SPARE.with(|s| s.replace(Box::into_raw(b)))
        };
        if !old.is_null() {
            // SAFETY: as in `SpareOwner::drop`.
            drop(unsafe { Box::from_raw(old) });
        }
    }
}

/// A value kept back from destruction, with its destructor.
type KeptBack = (*mut (), unsafe fn(*mut ()));

/// Values kept back from destruction on one kernel thread. Those still here when the
/// thread exits (a transaction panicked, and no transaction ran on the thread since) are
/// destroyed then.
struct KeptBackList(std::cell::RefCell<Vec<KeptBack>>);

impl Drop for KeptBackList {
    fn drop(&mut self) {
        // A destructor that runs a transaction now finds the list gone and drops what it
        // would have kept back at once (see `drop_value`).
        for (p, drop_fn) in self.0.get_mut().drain(..) {
            // SAFETY: `drop_value`'s caller handed over `p` with its destructor; each is
            // taken out of the list once.
            unsafe { drop_fn(p) };
        }
    }
}

std::thread_local! {
    /// Values whose destruction the runtime started while this kernel thread was inside a
    /// transaction (see [`drop_value`]), with their destructors.
    static DEFERRED: KeptBackList = const { KeptBackList(std::cell::RefCell::new(Vec::new())) };
    /// `DEFERRED` may be non-empty (one flag for the hot path to look at).
    static ANY_DEFERRED: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread (green or kernel) is inside `atomically`.
fn in_transaction() -> bool {
    match crate::runtime::worker::current_green_inner() {
        // SAFETY: the running green thread's control block, alive while it runs.
        Some(me) => unsafe { &*me }.in_stm.load(Ordering::Relaxed),
        None => IN_STM_KERNEL.with(Cell::get),
    }
}

/// Drops a user value the runtime owns (an old value the epoch collector retires, a
/// pending write of an abandoned attempt) — or, if this thread is inside a transaction,
/// keeps it until that transaction's `atomically` returns: the value's destructor may run
/// a transaction of its own, which would otherwise be nested in a transaction it has
/// nothing to do with (and panic), or wait for a serial transaction that waits for it.
///
/// # Safety
///
/// `p` must be a value that `drop_fn` drops, owned by the caller and dropped by nobody
/// else; `drop_fn` must be safe to call for it on this thread (its type is `Send`).
pub(crate) unsafe fn drop_value(p: *mut (), drop_fn: unsafe fn(*mut ())) {
    // (While the thread exits, the list may be gone already: then it is dropped at once.)
    // The list is the kernel thread's: a critical section (`critical.rs`).
    if in_transaction() {
        let _c = crate::critical::Critical::new();
        if DEFERRED
            .try_with(|d| d.0.borrow_mut().push((p, drop_fn)))
            .is_ok()
        {
            ANY_DEFERRED.with(|a| a.set(true));
            return;
        }
    }
    // SAFETY: the caller's contract.
    unsafe { drop_fn(p) };
}

/// Runs the destructors [`drop_value`] kept back on this thread (once the current
/// `atomically` has returned, outside any transaction). A destructor that runs a
/// transaction may keep back more; they run in the next round.
#[inline]
fn drop_deferred() {
    if ANY_DEFERRED.with(Cell::get) {
        drop_deferred_now();
    }
}

#[cold]
#[inline(never)]
fn drop_deferred_now() {
    // Not while a panic unwinds: one of them panicking too would abort; the next
    // transaction on this thread runs them.
    if std::thread::panicking() {
        return;
    }
    ANY_DEFERRED.with(|a| a.set(false));
    loop {
        let taken = {
            let _c = crate::critical::Critical::new();
            DEFERRED.try_with(|d| std::mem::take(&mut *d.0.borrow_mut()))
        };
        let Ok(batch) = taken else {
            return;
        };
        if batch.is_empty() {
            return;
        }
        for (p, drop_fn) in batch {
            // SAFETY: `drop_value`'s caller handed over `p` with its destructor; each is
            // taken out of the list once.
            unsafe { drop_fn(p) };
        }
    }
}

/// Marks the current thread as running a transaction, for as long as it lives.
struct NestGuard {
    green: Option<*const crate::thread::ThreadInner>,
}

impl NestGuard {
    #[inline]
    fn enter() -> Self {
        let green = crate::runtime::worker::current_green_inner();
        let was = match green {
            // Only the thread itself touches its flag, so a load and a store do (a swap
            // is a locked instruction: ~20 cycles a transaction for nothing).
            Some(me) => {
                // SAFETY: the running green thread's control block, alive while it runs
                // (and this guard lives on its stack).
                let flag = &unsafe { &*me }.in_stm;
                let was = flag.load(Ordering::Relaxed);
                flag.store(true, Ordering::Relaxed);
                was
            }
            None => IN_STM_KERNEL.with(|f| f.replace(true)),
        };
        assert!(
            !was,
            "weft::stm::atomically called inside a transaction: a nested transaction \
             cannot be atomic with the outer one; pass the `&mut Transaction` to a \
             function instead"
        );
        NestGuard { green }
    }
}

impl Drop for NestGuard {
    #[inline]
    fn drop(&mut self) {
        match self.green {
            // SAFETY: as in `enter`: the same green thread runs this drop.
            Some(me) => unsafe { &*me }.in_stm.store(false, Ordering::Relaxed),
            None => IN_STM_KERNEL.with(|f| f.set(false)),
        }
        // Out of the transaction now: run the destructors kept back meanwhile.
        drop_deferred();
    }
}

/// The global serial lock, held by the irrevocable transaction.
static SERIAL_LOCK: crate::sync::Mutex<()> = crate::sync::Mutex::new(());

/// Holds the serial lock and the clock's serial bit; clears the bit on drop (a writing
/// commit has cleared it already; clearing again is harmless, since only the holder of
/// the serial lock ever sets it).
struct SerialGuard {
    _lock: crate::sync::MutexGuard<'static, ()>,
}

impl SerialGuard {
    fn enter() -> Self {
        let lock = SERIAL_LOCK.lock();
        CLOCK.enter_serial();
        SerialGuard { _lock: lock }
    }
}

impl Drop for SerialGuard {
    fn drop(&mut self) {
        CLOCK.leave_serial();
    }
}

static RETRY_WAIT: WaitReason = WaitReason::new("stm retry");

/// Counters of this process's transactions (for the lab and for tuning).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Attempts that committed.
    pub commits: u64,
    /// Attempts aborted by a conflict.
    pub conflicts: u64,
    /// Attempts that ended in `retry` (and waited, or returned `WouldBlock`).
    pub retries: u64,
    /// Transactions that ran irrevocably.
    pub serial: u64,
    /// Variable headers allocated: each [`TVar::new`] that found no reclaimed header to
    /// reuse. Headers are never freed (see [`TVar`]), so this bounds the memory variables
    /// hold: a program that keeps creating and dropping variables should see it level off.
    pub headers: u64,
    /// Variables reclaimed: their last handle went, and their header is free for reuse.
    pub reclaimed: u64,
}

pub(crate) mod counters {
    use std::sync::atomic::{AtomicU64, Ordering};
    pub(super) static COMMITS: AtomicU64 = AtomicU64::new(0);
    pub(super) static CONFLICTS: AtomicU64 = AtomicU64::new(0);
    pub(super) static RETRIES: AtomicU64 = AtomicU64::new(0);
    pub(super) static SERIAL: AtomicU64 = AtomicU64::new(0);
    pub(crate) static HEADERS: AtomicU64 = AtomicU64::new(0);
    pub(crate) static RECLAIMED: AtomicU64 = AtomicU64::new(0);
    std::thread_local! {
        /// Commits on this thread not yet added to `COMMITS` (batched: one shared add per
        /// 64 commits keeps the counter off the hot path).
        pub(super) static LOCAL_COMMITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    #[inline]
    pub(super) fn commit() {
        LOCAL_COMMITS.with(|c| {
            let n = c.get() + 1;
            if n == 64 {
                COMMITS.fetch_add(n, Ordering::Relaxed);
                c.set(0);
            } else {
                c.set(n);
            }
        });
    }
    pub(super) fn flush() {
        let n = LOCAL_COMMITS.with(|c| c.replace(0));
        COMMITS.fetch_add(n, Ordering::Relaxed);
    }
}

/// This process's transaction counters so far. Commits are counted in batches per
/// kernel thread; the calling thread's own are flushed first.
pub fn stats() -> Stats {
    counters::flush();
    Stats {
        commits: counters::COMMITS.load(Ordering::Relaxed),
        conflicts: counters::CONFLICTS.load(Ordering::Relaxed),
        retries: counters::RETRIES.load(Ordering::Relaxed),
        serial: counters::SERIAL.load(Ordering::Relaxed),
        headers: counters::HEADERS.load(Ordering::Relaxed),
        reclaimed: counters::RECLAIMED.load(Ordering::Relaxed),
    }
}

/// The transaction loop behind every `atomically` variant.
fn run<R>(f: &impl Fn(&mut Transaction) -> StmResult<R>, wait: Wait) -> Result<R, Stopped> {
    let _nest = NestGuard::enter();
    let mut conflicts = 0u32;
    let mut rng: Option<Backoff> = None;
    loop {
        let serial = if conflicts >= SERIAL_AFTER {
            counters::SERIAL.fetch_add(1, Ordering::Relaxed);
            Some(SerialGuard::enter())
        } else {
            None
        };
        // A serial transaction accepts every version: no commit can run beside it.
        let rv = match &serial {
            Some(_) => u64::MAX,
            None => CLOCK.sample().0,
        };
        let mut tx = Transaction::new(rv, serial.is_some(), take_buffers());
        let outcome = f(&mut tx);
        let failed = match outcome {
            Ok(r) => match tx.commit() {
                Ok(()) => {
                    drop(serial);
                    tx.finish();
                    counters::commit();
                    return Ok(r);
                }
                Err(e) => e,
            },
            Err(e) if e.is_retry() => {
                counters::RETRIES.fetch_add(1, Ordering::Relaxed);
                drop(serial);
                tx.abandon_writes();
                if let Wait::Never = wait {
                    return Err(Stopped::WouldBlock);
                }
                // Take counts on what was read, then end the attempt (and its pin).
                tx.flush_last();
                let mut vars: Vec<(VarPtr, u64)> = Vec::with_capacity(tx.bufs.reads.len());
                for r in &tx.bufs.reads {
                    if let Some(p) = r.var.retain() {
                        vars.push((p, r.word));
                    }
                }
                let read_any = !tx.bufs.reads.is_empty();
                drop(tx);
                assert!(
                    read_any,
                    "weft::stm::retry in a transaction that read no TVar: nothing can ever \
                     wake it"
                );
                assert!(
                    !vars.is_empty(),
                    "weft::stm::retry in a transaction whose TVars have all been dropped \
                     (the last handle of each is gone): nothing can ever wake it"
                );
                let woke = wait_for_change(&mut vars, wait);
                if !woke {
                    return Err(Stopped::TimedOut);
                }
                conflicts = 0;
                continue;
            }
            Err(_) => CommitFail::Conflict,
        };
        // The attempt conflicted (at a read or at commit), or met a serial transaction.
        drop(serial);
        tx.abandon_writes();
        tx.flush_last();
        let long = tx.bufs.reads.len() >= LONG_READS;
        drop(tx);
        match failed {
            CommitFail::Conflict => {
                counters::CONFLICTS.fetch_add(1, Ordering::Relaxed);
                conflicts += 1;
                if long && conflicts >= LONG_SERIAL_AFTER {
                    // A long transaction that keeps meeting commits would keep failing
                    // (each of its extensions re-validates everything it read): run it
                    // serially now rather than after `SERIAL_AFTER` long attempts.
                    conflicts = SERIAL_AFTER;
                } else {
                    rng.get_or_insert_with(Backoff::new).wait(conflicts);
                }
            }
            CommitFail::Serial => {
                while CLOCK.sample().1 {
                    crate::yield_now();
                }
            }
        }
    }
}

/// Parks until a commit writes one of `vars` (each with the lock word it was read at and
/// a count held on it), or the deadline passes. Returns `false` on time-out. Releases the
/// counts.
fn wait_for_change(vars: &mut Vec<(VarPtr, u64)>, wait: Wait) -> bool {
    vars.sort_unstable_by_key(|v| v.0);
    vars.dedup_by_key(|v| v.0);
    // The change is often only a moment away (a producer on the other CPU, or a green
    // thread of this worker): watch the words briefly before paying for a park and a
    // wake-up.
    if watch_briefly(vars) {
        for (p, _) in vars.drain(..) {
            // SAFETY: `vars` holds a count on each; released after its last use.
            unsafe { p.release() };
        }
        return true;
    }
    let token = Arc::new(RetryToken {
        fired: AtomicBool::new(false),
        thread: crate::current(),
    });
    // Register with each variable, then set its waiters bit with a CAS from the word the
    // attempt read: if that fails, the variable changed since, and the thread must not park.
    let mut changed = false;
    for (p, word) in vars.iter() {
        let h = p.header();
        h.add_waiter(&token);
        if !h.lock.mark_waiters(*word) {
            changed = true;
            break;
        }
    }
    let deadline = match wait {
        Wait::Until(d) => Some(d),
        _ => None,
    };
    let mut woke = true;
    if !changed {
        while !token.fired.load(Ordering::Acquire) {
            if park::park_on(&RETRY_WAIT, deadline).timed_out()
                && !token.fired.load(Ordering::Acquire)
            {
                woke = false;
                break;
            }
        }
    }
    for (p, _) in vars.drain(..) {
        p.header().remove_waiter(&token);
        // SAFETY: `vars` holds a count on each, given back here once.
        unsafe { p.release() };
    }
    woke
}

/// Watches the lock words of `vars` (each with a count held) for a short while: `true`
/// as soon as one of them has changed since it was read. A green thread yields to the
/// other threads of its worker between looks; a kernel thread spins (about a microsecond
/// or two in all).
fn watch_briefly(vars: &[(VarPtr, u64)]) -> bool {
    let changed = || {
        vars.iter()
            .any(|(p, word)| !vlock::same_version(p.header().lock.load(), *word))
    };
    let green = crate::runtime::worker::current_green_inner().is_some();
    for round in 0..if green { 2 } else { 8 } {
        if green {
            crate::yield_now();
        } else {
            for _ in 0..(1u32 << round) {
                std::hint::spin_loop();
            }
        }
        if changed() {
            return true;
        }
    }
    false
}

/// Randomised exponential backoff between conflicting attempts.
struct Backoff(u64);

impl Backoff {
    fn new() -> Self {
        // Seeded from a stack address and the clock, so threads spread out.
        let local = 0u8;
        let seed = (&raw const local as u64) ^ CLOCK.sample().0.rotate_left(17);
        Backoff(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn wait(&mut self, conflicts: u32) {
        let cap = 1u64 << conflicts.min(10);
        let spins = self.next() % cap;
        for _ in 0..spins {
            std::hint::spin_loop();
        }
        if conflicts >= 3 {
            crate::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_write_commit() {
        let a = TVar::new(1u64);
        let b = TVar::new(String::from("x"));
        let r = atomically(|tx| {
            let x = tx.read(&a)?;
            tx.write(&a, x + 1)?;
            tx.modify(&b, |s| s + "y")?;
            Ok(tx.read(&a)? * 10)
        });
        assert_eq!(r, 20);
        assert_eq!(a.load(), 2);
        assert_eq!(b.load(), "xy");
    }

    /// Kernel threads only (what Miri runs): heap values moved between variables by two
    /// threads while a third audits inside its transactions; a retry woken by a commit.
    #[test]
    fn kernel_threads_move_heap_values_consistently() {
        let vars: Arc<Vec<TVar<Vec<u32>>>> =
            Arc::new((0..3).map(|i| TVar::new(vec![i; 4])).collect());
        let n = if cfg!(miri) { 20 } else { 2_000 };
        let movers: Vec<_> = (0..2)
            .map(|t| {
                let vars = vars.clone();
                std::thread::spawn(move || {
                    for i in 0..n {
                        let (a, b) = ((i + t) % 3, (i + t + 1) % 3);
                        atomically(|tx| {
                            let mut x = tx.read(&vars[a])?;
                            let mut y = tx.read(&vars[b])?;
                            if let Some(v) = x.pop() {
                                y.push(v);
                            }
                            tx.write(&vars[a], x)?;
                            tx.write(&vars[b], y)
                        });
                    }
                })
            })
            .collect();
        let audit = {
            let vars = vars.clone();
            std::thread::spawn(move || {
                for _ in 0..n / 2 {
                    atomically(|tx| {
                        let mut total = 0;
                        for v in vars.iter() {
                            total += tx.read(v)?.len();
                        }
                        assert_eq!(total, 12, "inconsistent snapshot");
                        Ok(())
                    });
                }
            })
        };
        for m in movers {
            m.join().unwrap();
        }
        audit.join().unwrap();
        let mut all: Vec<u32> = vars.iter().flat_map(TVar::load).collect();
        all.sort_unstable();
        assert_eq!(all, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);

        let flag = TVar::new(0u8);
        let waiter = {
            let flag = flag.clone();
            std::thread::spawn(move || {
                atomically(|tx| {
                    let v = tx.read(&flag)?;
                    check(v != 0)?;
                    Ok(v)
                })
            })
        };
        atomically(|tx| tx.write(&flag, 5));
        assert_eq!(waiter.join().unwrap(), 5);
    }
}
