//! A reader-writer lock of one word, for green and kernel threads: many readers or one
//! writer, plus one *upgradable* reader that may turn into the writer.
//!
//! # State
//!
//! The lock is one `AtomicUsize` next to the data:
//!
//! | bits  | name         | meaning                                                                  |
//! |-------|--------------|--------------------------------------------------------------------------|
//! | 0     | `WRITER`     | readers = 0: a writer holds the lock. readers > 0: a writer (or an upgrading reader) owns this bit and waits for those readers to leave |
//! | 1     | `UPGRADABLE` | an upgradable reader holds the lock (it is also counted as a reader)     |
//! | 2     | `QUEUED`     | threads may be queued in the parking lot under the lock's address        |
//! | 3     | `DRAINING`   | the owner of `WRITER` is parked under address + 1 until readers reach 0 |
//! | 4..   | readers      | the number of read holders (plain and upgradable), in units of 16        |
//!
//! # Algorithm
//!
//! Two wait queues in the parking lot (`park/lot.rs`): the *main queue*, keyed by
//! the state's address, where every blocked `read`, `upgradable_read` and `write`
//! waits, and the *drain queue* (address + 1), where the single owner of `WRITER`
//! waits for the readers still inside to leave.
//!
//! * **Read** adds one reader with a `compare_exchange` when `WRITER` is clear.
//! * **Upgradable read** adds one reader and sets `UPGRADABLE` when both `WRITER` and
//!   `UPGRADABLE` are clear.
//! * **Write** sets `WRITER` when `WRITER` and `UPGRADABLE` are clear, *even while
//!   readers are inside*: from then on no new reader enters (writer preference), and
//!   the writer waits for the reader count to reach zero (spinning briefly, then
//!   setting `DRAINING` and parking in the drain queue; the reader that brings the
//!   count to zero with `DRAINING` set unparks it).
//! * A thread that cannot proceed waits a little (as [`Mutex`](super::Mutex) does:
//!   rounds of spin hints on a kernel thread, yields to the worker's other green
//!   threads on a green thread), then sets `QUEUED` and parks in the main queue. The
//!   parking lot re-checks, under its bucket lock, that `QUEUED` is still set and the
//!   thread is still blocked, so a release in between is never missed.
//! * **Releases** that clear `WRITER` or `UPGRADABLE` (write unlock, upgradable unlock,
//!   downgrades, a writer giving up at its deadline) do so with a plain
//!   `compare_exchange` when `QUEUED` is clear. Otherwise they *walk* the main queue in
//!   FIFO order with the bucket locked and apply their state change in the walk's
//!   callback, under the same lock. In queue order, the walk wakes readers, the first
//!   upgradable reader that can be let in and the first writer that can be let in,
//!   and stops after that writer; a writer or second upgradable reader that cannot be
//!   let in (because an upgradable reader stays) is skipped and stays queued, as
//!   newcomers of its kind would be kept out. So when a writer unlocks, the readers
//!   queued before the next writer are woken together: readers are not starved by a
//!   stream of writers, and writers are not starved by a stream of readers.
//! * **Plain read unlock** subtracts one reader; if that was the last one and
//!   `DRAINING` is set, it unparks the drain queue (clearing `DRAINING`).
//!
//! # Fairness
//!
//! Woken threads normally compete with newcomers for the lock (throughput first). But
//! when one of them first parked for this acquisition longer ago than
//! the parking lot's `FAIRNESS_BOUND` *and* the parking lot's
//! fairness timer says it is time to be fair
//! (`UnparkResult::be_fair`, half a millisecond apart
//! on average, so hand-overs come at a bounded rate rather than as a convoy), the walk
//! *hands the lock over*: it adds the woken threads' shares (readers, `UPGRADABLE`, `WRITER`) to
//! the state itself and tells them so, and they return owning it; a writer handed
//! `WRITER` while readers are inside then drains them as above. The second test exists
//! because a thread that is woken, loses the race and parks again is queued afresh,
//! and the parking lot measures its wait from the new enqueue; each waiter therefore
//! carries the time of its *first* park in its `ParkToken`. [`RwLockWriteGuard::unlock_fair`]
//! always hands over.
//!
//! # Upgrades and downgrades
//!
//! * [`RwLockUpgradableReadGuard::upgrade`] turns `UPGRADABLE` plus its reader into
//!   `WRITER` in one atomic step (no other thread can hold `WRITER` or `UPGRADABLE`
//!   meanwhile), then drains the remaining readers like a writer. It cannot deadlock
//!   with another upgrade: there is only one upgradable reader.
//! * [`RwLockWriteGuard::downgrade`] turns `WRITER` into one reader,
//!   [`RwLockWriteGuard::downgrade_to_upgradable`] into one upgradable reader,
//!   [`RwLockUpgradableReadGuard::downgrade`] clears `UPGRADABLE`; each walks the main
//!   queue (when `QUEUED` is set) to let in whoever can now enter. The lock is never
//!   free in between.
//!
//! # Timeouts
//!
//! A waiter whose deadline passes removes itself from the queue under the bucket lock
//! and, if it was the last one, clears `QUEUED`; if a release dequeued it first, that
//! wake-up (and any hand-over) wins over the deadline, so a hand-over is never lost. A
//! writer that times out while draining readers clears `DRAINING` (under the drain
//! queue's lock), then gives `WRITER` back with a release walk, which wakes the readers
//! it had held back. A park that reports a time-out before the deadline (or with no
//! deadline) is taken as a spurious wake-up, and the wait goes on.
//!
//! # Invariants
//!
//! * `WRITER` and `UPGRADABLE` are never set together, and at most one thread owns
//!   each. The owner of `WRITER` has access to the data once readers = 0.
//! * Only the owner of `WRITER` sets `DRAINING`; it is cleared under the drain queue's
//!   bucket lock (by the unparker or by the drainer timing out).
//! * `QUEUED` is set before a thread parks in the main queue and cleared only with the
//!   main queue's bucket locked, when the queue holds no waiter of this lock. It may be
//!   set with an empty queue (a parker found the lock released meanwhile); that only
//!   costs the next release a walk.
//! * A release walk runs with `WRITER` or `UPGRADABLE` still owned by the releaser
//!   until its callback applies the change, so the set of threads it decides to let in
//!   is valid when the hand-over is applied.
//! * No reader stays queued while `WRITER` is clear past the next release: a reader
//!   parks only while `WRITER` is set, every clearing of `WRITER` walks the queue, and
//!   a walk leaves a reader queued only behind the writer it woke. If that writer was
//!   woken without a hand-over and finds an upgradable reader has taken the lock
//!   first, it wakes the readers queued behind it before parking again.
//! * The reader count stays below 2<sup>`usize::BITS` − 6</sup>: acquiring a read share
//!   beyond that panics (only reachable by leaking guards), so a walk can add the
//!   shares of its woken readers without overflow.
//!
//! # No poisoning, and re-entrance
//!
//! A panic while a guard is held releases the lock as the guard drops during
//! unwinding; the lock does not poison (see [`Mutex`](super::Mutex) for why). Locks are
//! not re-entrant: `write` while holding any guard of the same lock waits forever, and
//! so may a second `read` on a thread that already reads, because a writer that comes
//! in between shuts out new readers. If that leaves every green thread parked while a
//! kernel thread waits in `join`, the runtime's deadlock detector reports it, naming
//! the threads parked on "rwlock read", "rwlock write" and so on.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::mutex::SpinWait;
use super::{TimedOut, WouldBlock};
// Under `--cfg loom` these are loom's atomics and a model clock: see `loom.rs`.
use crate::loom::{AtomicUsize, Instant, Ordering};
use crate::park::lot::{self, FilterOp, ParkResult, ParkToken, UnparkResult, UnparkToken};
use crate::park::WaitReason;

const WRITER: usize = 1;
const UPGRADABLE: usize = 1 << 1;
const QUEUED: usize = 1 << 2;
const DRAINING: usize = 1 << 3;
const ONE_READER: usize = 1 << 4;
const READERS: usize = !(ONE_READER - 1);
/// Acquiring a read share at or above this state panics (see the invariants).
const READER_LIMIT: usize = 1 << (usize::BITS - 2);
/// The longest backoff after losing a race for the state word: `1 << BACKOFF_MAX` spin
/// hints.
#[cfg(not(loom))]
const BACKOFF_MAX: u32 = 6;

/// An unpark token meaning "your share was added to the state for you".
const HANDOFF: UnparkToken = UnparkToken(1);
const NORMAL: UnparkToken = UnparkToken(0);

static READ: WaitReason = WaitReason::new("rwlock read");
static UPGRADABLE_READ: WaitReason = WaitReason::new("rwlock upgradable read");
static WRITE: WaitReason = WaitReason::new("rwlock write");
static DRAIN: WaitReason = WaitReason::new("rwlock write (readers leaving)");

/// What a thread in the main queue waits for; the low bits of its [`ParkToken`], the
/// rest being the time of its first park ([`stamp_now`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Read = 0,
    Upgradable = 1,
    Write = 2,
}

const KIND_BITS: u32 = 2;
const KIND_MASK: usize = (1 << KIND_BITS) - 1;
const STAMP_MASK: usize = usize::MAX >> KIND_BITS;

impl Kind {
    /// The state bits that keep this kind out.
    const fn blocked_by(self) -> usize {
        match self {
            Kind::Read => WRITER,
            Kind::Upgradable | Kind::Write => WRITER | UPGRADABLE,
        }
    }

    /// What this kind adds to the state when it gets in.
    const fn share(self) -> usize {
        match self {
            Kind::Read => ONE_READER,
            Kind::Upgradable => ONE_READER | UPGRADABLE,
            Kind::Write => WRITER,
        }
    }

    fn reason(self) -> &'static WaitReason {
        match self {
            Kind::Read => &READ,
            Kind::Upgradable => &UPGRADABLE_READ,
            Kind::Write => &WRITE,
        }
    }

    fn token(self, stamp: usize) -> ParkToken {
        ParkToken((stamp << KIND_BITS) | self as usize)
    }

    fn of(token: ParkToken) -> Kind {
        match token.0 & KIND_MASK {
            0 => Kind::Read,
            1 => Kind::Upgradable,
            _ => Kind::Write,
        }
    }
}

/// Microseconds since a process-wide epoch, truncated to fit a token. Ages are taken
/// modulo the truncation, so on 32-bit targets (wrapping every ~18 min) a waiter can
/// look young again; that only delays a hand-over.
fn stamp_now() -> usize {
    lot::stamp_now() & STAMP_MASK
}

/// `true` when the waiter with `token` first parked more than the fairness bound
/// before `now`.
fn overdue(token: ParkToken, now: usize) -> bool {
    lot::overdue(token.0 >> KIND_BITS, now, usize::BITS - KIND_BITS)
}

/// A reader-writer lock: one word plus the data; see the module docs.
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::RwLock;
///
/// let table = Arc::new(RwLock::new(vec![1, 2, 3]));
/// let readers: Vec<_> = (0..10)
///     .map(|_| {
///         let table = table.clone();
///         weft::spawn(move || table.read().iter().sum::<i32>())
///     })
///     .collect();
/// table.write().push(4);
/// for r in readers {
///     let sum = r.join().unwrap();
///     assert!(sum == 6 || sum == 10);
/// }
/// assert_eq!(*table.read(), [1, 2, 3, 4]);
/// ```
///
/// It is `Sync` only when `T` is `Send + Sync`, since readers on several threads share
/// `&T`:
///
/// ```compile_fail
/// fn shared<T: Sync>(_: &T) {}
/// shared(&weft::sync::RwLock::new(std::cell::Cell::new(0)));
/// ```
pub struct RwLock<T: ?Sized> {
    state: AtomicUsize,
    data: UnsafeCell<T>,
}

// SAFETY: sending the lock sends the `T` inside; no guard can exist while it moves.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: a shared lock hands out `&T` to readers on several threads at once (needs
// `T: Sync`) and `&mut T` to one writer on any thread (needs `T: Send`).
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// Proof of a read share of a [`RwLock`]; releases it when dropped.
///
/// It is `!Send`, so a share is released by the thread that took it:
///
/// ```compile_fail
/// let l = weft::sync::RwLock::new(0);
/// let g = l.read();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(g));
/// });
/// ```
#[must_use = "the read share is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    not_send: PhantomData<*const ()>,
}

/// Proof of holding a [`RwLock`] exclusively; unlocks when dropped.
///
/// It is `!Send`, so the lock is released by the thread that took it:
///
/// ```compile_fail
/// let l = weft::sync::RwLock::new(0);
/// let g = l.write();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(g));
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    not_send: PhantomData<*const ()>,
}

/// Proof of the upgradable read share of a [`RwLock`]: read access that coexists with
/// plain readers, excludes writers and other upgradable readers, and can become write
/// access with [`upgrade`](Self::upgrade). Releases the share when dropped.
///
/// It is `!Send`, so the share is released by the thread that took it:
///
/// ```compile_fail
/// let l = weft::sync::RwLock::new(0);
/// let g = l.upgradable_read();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(g));
/// });
/// ```
#[must_use = "the upgradable share is released as soon as the guard is dropped"]
pub struct RwLockUpgradableReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    not_send: PhantomData<*const ()>,
}

// SAFETY: sharing a read guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: sharing a write guard shares `&T` only (`&mut T` needs `&mut` the guard).
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}
// SAFETY: sharing an upgradable guard shares `&T` only; upgrading consumes the guard.
unsafe impl<T: ?Sized + Sync> Sync for RwLockUpgradableReadGuard<'_, T> {}

impl<T> RwLock<T> {
    /// A new unlocked lock.
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        RwLock {
            state: AtomicUsize::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// A new unlocked lock (not `const` under loom, whose atomics have no `const fn new`).
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        RwLock {
            state: AtomicUsize::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock, returning the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Takes a read share, waiting while a writer holds the lock or waits for it.
    ///
    /// # Panics
    ///
    /// When the number of readers would overflow (only by leaking guards).
    #[inline]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        if !self.try_read_fast() {
            let ok = self.acquire_slow(Kind::Read, None);
            debug_assert!(ok);
        }
        self.read_guard()
    }

    /// Takes a read share if no writer holds the lock or waits for it right now.
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] otherwise.
    #[inline]
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, WouldBlock> {
        if self.try_acquire(Kind::Read) {
            Ok(self.read_guard())
        } else {
            Err(WouldBlock)
        }
    }

    /// Takes a read share, giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`TimedOut`] when no share could be had in time.
    pub fn read_timeout(&self, timeout: Duration) -> Result<RwLockReadGuard<'_, T>, TimedOut> {
        match Instant::now().checked_add(timeout) {
            Some(d) => self.read_deadline(d),
            None => Ok(self.read()),
        }
    }

    /// Takes a read share, giving up at `deadline`.
    ///
    /// # Errors
    ///
    /// [`TimedOut`] when no share could be had in time.
    pub fn read_deadline(&self, deadline: Instant) -> Result<RwLockReadGuard<'_, T>, TimedOut> {
        if self.try_read_fast() || self.acquire_slow(Kind::Read, Some(deadline)) {
            Ok(self.read_guard())
        } else {
            Err(TimedOut)
        }
    }

    /// Takes the upgradable read share, waiting while a writer or another upgradable
    /// reader holds the lock or waits for it. Plain readers may hold it meanwhile.
    ///
    /// # Panics
    ///
    /// When the number of readers would overflow (only by leaking guards).
    #[inline]
    pub fn upgradable_read(&self) -> RwLockUpgradableReadGuard<'_, T> {
        if !self.try_upgradable_fast() {
            let ok = self.acquire_slow(Kind::Upgradable, None);
            debug_assert!(ok);
        }
        self.upgradable_guard()
    }

    /// Takes the upgradable read share if it is available right now.
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] when a writer or an upgradable reader holds the lock or waits.
    #[inline]
    pub fn try_upgradable_read(&self) -> Result<RwLockUpgradableReadGuard<'_, T>, WouldBlock> {
        if self.try_acquire(Kind::Upgradable) {
            Ok(self.upgradable_guard())
        } else {
            Err(WouldBlock)
        }
    }

    /// Takes the upgradable read share, giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`TimedOut`] when it could not be had in time.
    pub fn upgradable_read_timeout(
        &self,
        timeout: Duration,
    ) -> Result<RwLockUpgradableReadGuard<'_, T>, TimedOut> {
        match Instant::now().checked_add(timeout) {
            Some(d) => self.upgradable_read_deadline(d),
            None => Ok(self.upgradable_read()),
        }
    }

    /// Takes the upgradable read share, giving up at `deadline`.
    ///
    /// # Errors
    ///
    /// [`TimedOut`] when it could not be had in time.
    pub fn upgradable_read_deadline(
        &self,
        deadline: Instant,
    ) -> Result<RwLockUpgradableReadGuard<'_, T>, TimedOut> {
        if self.try_upgradable_fast() || self.acquire_slow(Kind::Upgradable, Some(deadline)) {
            Ok(self.upgradable_guard())
        } else {
            Err(TimedOut)
        }
    }

    /// Locks exclusively, waiting as long as it takes. From the moment this call owns
    /// the writer bit, no new reader gets in; it then waits for the readers inside.
    #[inline]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        if !self.try_write_fast() {
            let ok = self.write_slow(None);
            debug_assert!(ok);
        }
        self.write_guard()
    }

    /// Locks exclusively if the lock is free right now.
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] when it is held in any mode.
    #[inline]
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, WouldBlock> {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (READERS | WRITER | UPGRADABLE) != 0 {
                return Err(WouldBlock);
            }
            match self.state.compare_exchange_weak(
                s,
                s | WRITER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(self.write_guard()),
                Err(now) => s = now,
            }
        }
    }

    /// Locks exclusively, giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`TimedOut`] when the lock could not be had in time; the readers it held back
    /// meanwhile are let in again.
    pub fn write_timeout(&self, timeout: Duration) -> Result<RwLockWriteGuard<'_, T>, TimedOut> {
        match Instant::now().checked_add(timeout) {
            Some(d) => self.write_deadline(d),
            None => Ok(self.write()),
        }
    }

    /// Locks exclusively, giving up at `deadline`.
    ///
    /// # Errors
    ///
    /// [`TimedOut`] when the lock could not be had in time; the readers it held back
    /// meanwhile are let in again.
    pub fn write_deadline(&self, deadline: Instant) -> Result<RwLockWriteGuard<'_, T>, TimedOut> {
        if self.try_write_fast() || self.write_slow(Some(deadline)) {
            Ok(self.write_guard())
        } else {
            Err(TimedOut)
        }
    }

    /// `true` while some thread holds the lock in any mode, or a writer owns the
    /// writer bit and waits for readers (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (READERS | WRITER) != 0
    }

    /// `true` while a writer holds the lock or owns the writer bit and waits for
    /// readers (a snapshot).
    pub fn is_locked_exclusive(&self) -> bool {
        self.state.load(Ordering::Relaxed) & WRITER != 0
    }

    /// The data, through an exclusive borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    fn read_guard(&self) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard {
            lock: self,
            not_send: PhantomData,
        }
    }

    fn upgradable_guard(&self) -> RwLockUpgradableReadGuard<'_, T> {
        RwLockUpgradableReadGuard {
            lock: self,
            not_send: PhantomData,
        }
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            lock: self,
            not_send: PhantomData,
        }
    }

    /// The main queue's key; the drain queue is `key() + 1`, inside the same word, so
    /// no other primitive can use it.
    fn key(&self) -> usize {
        &self.state as *const AtomicUsize as usize
    }

    /// One `fetch_add` that never fails: with readers on two CPUs, a compare-exchange
    /// loses the race for the word whenever the other reader came or went since the load,
    /// and retries. If a writer holds or claims the lock (or the count is at its limit),
    /// the share is given back at once, exactly as an unlock gives it back (waking a
    /// draining writer if this was the last reader): a writer never reads the count
    /// except to wait for it to reach zero, and every other change of the word is a
    /// read-modify-write, so a share that comes and goes is never lost.
    #[inline]
    fn try_read_fast(&self) -> bool {
        let prev = self.state.fetch_add(ONE_READER, Ordering::Acquire);
        if prev & WRITER == 0 && prev < READER_LIMIT {
            return true;
        }
        self.unlock_read();
        false
    }

    #[inline]
    fn try_upgradable_fast(&self) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        s & (WRITER | UPGRADABLE) == 0
            && s < READER_LIMIT
            && self
                .state
                .compare_exchange_weak(
                    s,
                    s + (ONE_READER | UPGRADABLE),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    #[inline]
    fn try_write_fast(&self) -> bool {
        self.state
            .compare_exchange_weak(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Adds `kind`'s share unless the state keeps it out; retries only on contention.
    /// For a writer this takes the writer bit, readers may still be inside.
    fn try_acquire(&self, kind: Kind) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & kind.blocked_by() == 0 {
            match self.state.compare_exchange_weak(
                s,
                add_share(s, kind),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    /// Gets `kind`'s share (for a writer: the writer bit) or returns `false` at the
    /// deadline.
    #[cold]
    fn acquire_slow(&self, kind: Kind, deadline: Option<Instant>) -> bool {
        let blocked = kind.blocked_by();
        let mut spin = SpinWait::default();
        let mut first_park = None;
        let mut woken = false;
        #[cfg(not(loom))]
        let mut backoff = 0u32;
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & blocked == 0 {
                match self.state.compare_exchange_weak(
                    s,
                    add_share(s, kind),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(_) => {
                        // Lost to another thread changing the count (readers coming and
                        // going): back off a little, growing, before the next attempt,
                        // so that contending readers do not keep the word's cache line
                        // bouncing between CPUs (parking_lot does the same).
                        // (Not under loom, where a yield would hide the very races the
                        // models look for.)
                        #[cfg(not(loom))]
                        {
                            backoff = (backoff + 1).min(BACKOFF_MAX);
                            for _ in 0..(1u32 << backoff) {
                                std::hint::spin_loop();
                            }
                        }
                        s = self.state.load(Ordering::Relaxed);
                        continue;
                    }
                }
            }
            if s & QUEUED == 0 && spin.spin() {
                s = self.state.load(Ordering::Relaxed);
                continue;
            }
            if s & QUEUED == 0 {
                if let Err(now) = self.state.compare_exchange_weak(
                    s,
                    s | QUEUED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    s = now;
                    continue;
                }
            }
            if woken && kind == Kind::Write && s & WRITER == 0 {
                // A release walk stopped at this writer, and an upgradable reader got
                // in before it: let the readers queued behind it go.
                self.wake_stranded_readers();
            }
            let stamp = *first_park.get_or_insert_with(stamp_now);
            let r = lot::park(
                self.key(),
                kind.reason(),
                kind.token(stamp),
                || {
                    let s = self.state.load(Ordering::Relaxed);
                    s & QUEUED != 0 && s & blocked != 0
                },
                || {},
                |_, was_last| {
                    if was_last {
                        self.state.fetch_and(!QUEUED, Ordering::Relaxed);
                    }
                },
                deadline,
            );
            match r {
                // The releaser added our share to the state.
                ParkResult::Unparked(HANDOFF) => return true,
                ParkResult::Unparked(_) => woken = true,
                // The parking lot reports a time-out only once the deadline has passed.
                ParkResult::TimedOut => return false,
                ParkResult::Invalid => woken = false,
            }
            spin = SpinWait::default();
            s = self.state.load(Ordering::Relaxed);
        }
    }

    /// The slow path of `write`: take the writer bit, then wait for readers to leave.
    #[cold]
    fn write_slow(&self, deadline: Option<Instant>) -> bool {
        if !self.acquire_slow(Kind::Write, deadline) {
            return false;
        }
        if self.drain(deadline) {
            return true;
        }
        // Give the writer bit back and let in the readers it held back.
        self.release(WRITER, 0, 0);
        false
    }

    /// With the writer bit owned, waits until no reader is inside. `false` at the
    /// deadline (the caller still owns the writer bit).
    fn drain(&self, deadline: Option<Instant>) -> bool {
        let mut spin = SpinWait::default();
        let mut s = self.state.load(Ordering::Acquire);
        while s & READERS != 0 {
            debug_assert!(s & WRITER != 0);
            if s & DRAINING == 0 {
                if spin.spin() {
                    s = self.state.load(Ordering::Acquire);
                    continue;
                }
                // Acquire on failure too: a failed exchange may show the last reader
                // gone, and then the loop ends on that value.
                if let Err(now) = self.state.compare_exchange_weak(
                    s,
                    s | DRAINING,
                    Ordering::Relaxed,
                    Ordering::Acquire,
                ) {
                    s = now;
                    continue;
                }
            }
            let r = lot::park(
                self.key() + 1,
                &DRAIN,
                ParkToken(0),
                || {
                    let s = self.state.load(Ordering::Relaxed);
                    s & READERS != 0 && s & DRAINING != 0
                },
                || {},
                |_, _| {
                    // Only the owner of the writer bit parks here: it was the last.
                    self.state.fetch_and(!DRAINING, Ordering::Relaxed);
                },
                deadline,
            );
            s = self.state.load(Ordering::Acquire);
            if r == ParkResult::TimedOut {
                // The last reader may have left as the clock ran out.
                return s & READERS == 0;
            }
        }
        true
    }

    /// Releases a plain read share.
    #[inline]
    fn unlock_read(&self) {
        let prev = self.state.fetch_sub(ONE_READER, Ordering::Release);
        if prev & (READERS | DRAINING) == ONE_READER | DRAINING {
            self.wake_drainer();
        }
    }

    /// Wakes the writer waiting for the last reader to leave.
    #[cold]
    fn wake_drainer(&self) {
        let dead = std::cell::Cell::new(false);
        lot::unpark_one(self.key() + 1, |r| {
            self.state.fetch_and(!DRAINING, Ordering::Relaxed);
            dead.set(r.unparked_threads == 0 && r.abandoned > 0);
            NORMAL
        });
        if dead.get() {
            // The drainer was abandoned by its dropped runtime: it owns the writer bit
            // and will never run again to give it back. Give it back for it (nobody
            // else can: only the owner releases `WRITER`), letting the queue in.
            self.release(WRITER, 0, 0);
        }
    }

    /// Changes the state by `- give_back + keep_share` (`give_back` holds `WRITER` or
    /// `UPGRADABLE`, which the caller owns), waking the main queue if `QUEUED` is set.
    /// `kept` are the `WRITER`/`UPGRADABLE` bits the caller still owns afterwards.
    #[inline]
    fn release(&self, give_back: usize, keep_share: usize, kept: usize) {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & QUEUED == 0 {
            match self.state.compare_exchange_weak(
                s,
                s - give_back + keep_share,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
        self.release_slow(give_back, keep_share, kept, false);
    }

    /// A release walk (see the module docs); the state change is applied in the
    /// callback, with the main queue's bucket locked.
    #[cold]
    fn release_slow(&self, give_back: usize, keep_share: usize, kept: usize, force_fair: bool) {
        // The WRITER/UPGRADABLE bits owned once the woken threads are in.
        let owned = Cell::new(kept);
        // The woken threads' shares, added to the state on a hand-over.
        let shares = Cell::new(0usize);
        let overdue_waiter = Cell::new(false);
        let mut now = None;
        let filter = |token: ParkToken| {
            let o = owned.get();
            if o & WRITER != 0 {
                return FilterOp::Stop;
            }
            let kind = Kind::of(token);
            if kind != Kind::Read && o & UPGRADABLE != 0 {
                return FilterOp::Skip;
            }
            let share = kind.share();
            owned.set(o | (share & (WRITER | UPGRADABLE)));
            shares.set(shares.get().wrapping_add(share));
            let now = *now.get_or_insert_with(stamp_now);
            if overdue(token, now) {
                overdue_waiter.set(true);
            }
            FilterOp::Unpark
        };
        let callback = |r: UnparkResult| {
            let fair = r.unparked_threads != 0
                && (force_fair || (r.be_fair && overdue_waiter.get()))
                && handover_allowed();
            let handed = if fair { shares.get() } else { 0 };
            let mut s = self.state.load(Ordering::Relaxed);
            loop {
                // Panic-free arithmetic: this runs with a bucket locked. The caller
                // owns `give_back`, and `handed` stays far below the reader limit.
                let mut next = s
                    .wrapping_sub(give_back)
                    .wrapping_add(keep_share)
                    .wrapping_add(handed);
                if r.have_more_threads {
                    next |= QUEUED;
                } else {
                    next &= !QUEUED;
                }
                match self.state.compare_exchange_weak(
                    s,
                    next,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => s = now,
                }
            }
            if fair {
                HANDOFF
            } else {
                NORMAL
            }
        };
        lot::unpark_filter(self.key(), filter, callback);
    }

    /// Wakes the queued readers (and no one else), without a hand-over.
    #[cold]
    fn wake_stranded_readers(&self) {
        lot::unpark_filter(
            self.key(),
            |token| match Kind::of(token) {
                Kind::Read => FilterOp::Unpark,
                Kind::Upgradable | Kind::Write => FilterOp::Skip,
            },
            |r| {
                if !r.have_more_threads {
                    self.state.fetch_and(!QUEUED, Ordering::Relaxed);
                }
                NORMAL
            },
        );
    }

    #[inline]
    fn unlock_write(&self) {
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.release(WRITER, 0, 0);
        }
    }

    #[inline]
    fn unlock_upgradable(&self) {
        self.release(ONE_READER | UPGRADABLE, 0, 0);
    }
}

#[cfg(test)]
thread_local! {
    /// Set by unit tests to keep this thread's release walks from handing over, so
    /// they can set up the races that only plain wake-ups allow.
    static NO_HANDOVER: Cell<bool> = const { Cell::new(false) };
}

#[inline(always)]
fn handover_allowed() -> bool {
    #[cfg(test)]
    return !NO_HANDOVER.with(Cell::get);
    #[cfg(not(test))]
    true
}

/// `s` plus `kind`'s share.
///
/// # Panics
///
/// When a read share would reach the reader limit.
fn add_share(s: usize, kind: Kind) -> usize {
    assert!(
        kind == Kind::Write || s < READER_LIMIT,
        "weft RwLock: too many readers"
    );
    s + kind.share()
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns write access into a read share without letting any writer in between;
    /// readers waiting for the lock are let in too.
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T> {
        let lock = this.lock;
        std::mem::forget(this);
        lock.release(WRITER, ONE_READER, 0);
        lock.read_guard()
    }

    /// Turns write access into the upgradable read share without letting any writer in
    /// between; readers waiting for the lock are let in too.
    pub fn downgrade_to_upgradable(this: Self) -> RwLockUpgradableReadGuard<'a, T> {
        let lock = this.lock;
        std::mem::forget(this);
        lock.release(WRITER, ONE_READER | UPGRADABLE, UPGRADABLE);
        lock.upgradable_guard()
    }

    /// Unlocks and, if threads are waiting, hands the lock directly to the next ones in
    /// line (the readers queued before the next writer, or that writer), so that no
    /// newcomer can take it first.
    pub fn unlock_fair(this: Self) {
        let lock = this.lock;
        std::mem::forget(this);
        if lock
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            lock.release_slow(WRITER, 0, 0, true);
        }
    }
}

impl<'a, T: ?Sized> RwLockUpgradableReadGuard<'a, T> {
    /// Turns the upgradable share into write access, waiting for the plain readers
    /// inside to leave; from the call on, no new reader gets in.
    pub fn upgrade(this: Self) -> RwLockWriteGuard<'a, T> {
        let lock = this.lock;
        std::mem::forget(this);
        // Nobody else can own WRITER or UPGRADABLE meanwhile, so one subtraction
        // trades our reader and UPGRADABLE for WRITER.
        let prev = lock
            .state
            .fetch_sub((ONE_READER | UPGRADABLE) - WRITER, Ordering::Acquire);
        if prev & READERS != ONE_READER {
            let ok = lock.drain(None);
            debug_assert!(ok);
        }
        lock.write_guard()
    }

    /// Turns the upgradable share into write access if no other reader is inside.
    ///
    /// # Errors
    ///
    /// Gives the guard back when other readers are inside.
    pub fn try_upgrade(this: Self) -> Result<RwLockWriteGuard<'a, T>, Self> {
        let lock = this.lock;
        let mut s = lock.state.load(Ordering::Relaxed);
        loop {
            if s & READERS != ONE_READER {
                return Err(this);
            }
            match lock.state.compare_exchange_weak(
                s,
                s - (ONE_READER | UPGRADABLE) + WRITER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    std::mem::forget(this);
                    return Ok(lock.write_guard());
                }
                Err(now) => s = now,
            }
        }
    }

    /// Turns the upgradable share into a plain read share, letting a waiting writer or
    /// upgradable reader take the writer or upgradable bit.
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T> {
        let lock = this.lock;
        std::mem::forget(this);
        lock.release(UPGRADABLE, 0, 0);
        lock.read_guard()
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves a read share, so no writer has access while it
        // lives, and readers only create shared references.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Deref for RwLockUpgradableReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the upgradable share is a read share: no writer has access while it
        // lives (upgrading consumes the guard).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves exclusive access: no other guard of the lock exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves exclusive access, and `&mut self` makes this the
        // only reference derived from the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.unlock_read();
    }
}

impl<T: ?Sized> Drop for RwLockUpgradableReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.unlock_upgradable();
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.unlock_write();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(g) => d.field("data", &&*g),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockUpgradableReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(v: T) -> Self {
        RwLock::new(v)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! The lock algorithm with kernel threads only; these also run under Miri
    //! (`MIRIFLAGS=-Zmiri-disable-isolation cargo +nightly miri test -p weft --lib rwlock`).
    use super::*;
    use std::sync::Arc;

    fn state<T>(l: &RwLock<T>) -> usize {
        l.state.load(Ordering::SeqCst)
    }

    /// Waits until the kernel thread `t` sleeps in a park on `reason` (it is then in
    /// the parking lot's queue, which it joins before sleeping).
    fn wait_parked_on(t: &crate::Thread, reason: &'static WaitReason) {
        while !std::ptr::eq(t.inner.waiting_on.load(Ordering::Acquire), reason) {
            std::thread::yield_now();
        }
    }

    #[test]
    fn modes_and_state_words() {
        let l = RwLock::new(5);
        {
            let a = l.read();
            let b = l.read();
            assert_eq!(state(&l), 2 * ONE_READER);
            assert!(l.try_write().is_err());
            let u = l.try_upgradable_read().unwrap();
            assert_eq!(state(&l), (3 * ONE_READER) | UPGRADABLE);
            assert!(l.try_upgradable_read().is_err());
            let u = RwLockUpgradableReadGuard::try_upgrade(u).unwrap_err();
            drop((a, b));
            let mut w = RwLockUpgradableReadGuard::try_upgrade(u).unwrap();
            assert_eq!(state(&l), WRITER);
            *w += 1;
            let u = RwLockWriteGuard::downgrade_to_upgradable(w);
            assert_eq!(state(&l), ONE_READER | UPGRADABLE);
            let r = RwLockUpgradableReadGuard::downgrade(u);
            assert_eq!(state(&l), ONE_READER);
            assert_eq!(*r, 6);
        }
        assert_eq!(state(&l), 0);
        assert_eq!(l.into_inner(), 6);
    }

    #[test]
    fn writer_drains_readers_and_shuts_out_new_ones() {
        let l = Arc::new(RwLock::new(0u32));
        let r = l.read();
        let w = {
            let l = l.clone();
            std::thread::spawn(move || *l.write() += 1)
        };
        while state(&l) & WRITER == 0 {
            std::thread::yield_now();
        }
        // A writer waits: new readers are kept out, the old one is still in.
        assert!(l.try_read().is_err());
        assert_eq!(*r, 0);
        drop(r);
        w.join().unwrap();
        assert_eq!(*l.read(), 1);
        assert_eq!(state(&l) & !QUEUED, 0);
    }

    #[test]
    fn fair_unlock_hands_readers_their_shares() {
        let l = Arc::new(RwLock::new(0u32));
        let w = l.write();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (who_tx, who_rx) = std::sync::mpsc::channel();
        let reader = {
            let l = l.clone();
            std::thread::spawn(move || {
                who_tx.send(crate::current()).unwrap();
                let g = l.read();
                rx.recv().unwrap();
                *g
            })
        };
        wait_parked_on(&who_rx.recv().unwrap(), &READ);
        RwLockWriteGuard::unlock_fair(w);
        // Handed over: the reader's share is in the state before it even runs, so no
        // newcomer can write.
        assert!(l.try_write().is_err());
        assert_eq!(state(&l), ONE_READER);
        tx.send(()).unwrap();
        assert_eq!(reader.join().unwrap(), 0);
        assert_eq!(state(&l), 0);
    }

    #[test]
    fn mixed_kernel_threads_count_exactly() {
        let (threads, rounds) = if cfg!(miri) { (3, 20) } else { (4, 2_000) };
        let l = Arc::new(RwLock::new((0usize, 0usize)));
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let l = l.clone();
                std::thread::spawn(move || {
                    let mut wrote = 0;
                    for i in 0..rounds {
                        match (i + t) % 4 {
                            0 => {
                                let mut g = l.write();
                                g.0 += 1;
                                g.1 += 1;
                                wrote += 1;
                            }
                            1 => {
                                let g = l.upgradable_read();
                                assert_eq!(g.0, g.1);
                                if i % 8 == 1 {
                                    let mut g = RwLockUpgradableReadGuard::upgrade(g);
                                    g.0 += 1;
                                    g.1 += 1;
                                    wrote += 1;
                                }
                            }
                            2 => {
                                if let Ok(mut g) = l.write_timeout(Duration::from_micros(50)) {
                                    g.0 += 1;
                                    g.1 += 1;
                                    wrote += 1;
                                    let g = RwLockWriteGuard::downgrade(g);
                                    assert_eq!(g.0, g.1);
                                }
                            }
                            _ => {
                                let g = l.read();
                                assert_eq!(g.0, g.1);
                            }
                        }
                    }
                    wrote
                })
            })
            .collect();
        let wrote: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
        let l = Arc::try_unwrap(l).unwrap();
        assert_eq!(state(&l) & !QUEUED, 0);
        assert_eq!(l.into_inner(), (wrote, wrote));
    }

    #[test]
    fn overdue_uses_the_first_park() {
        let now = stamp_now() + 10_000;
        let long_ago = Kind::Write.token(now - 1_000);
        let just_now = Kind::Read.token(now - 10);
        assert!(overdue(long_ago, now));
        assert!(!overdue(just_now, now));
        assert_eq!(Kind::of(long_ago), Kind::Write);
        assert_eq!(Kind::of(just_now), Kind::Read);
        assert_eq!(Kind::of(Kind::Upgradable.token(now)), Kind::Upgradable);
    }

    /// A release walk wakes a queued writer W and stops there, leaving a reader R
    /// queued behind it; an upgradable reader then gets in before W. R may enter now
    /// (only `UPGRADABLE` is held), so W, finding itself blocked, must wake R rather
    /// than leave it parked until the upgradable reader leaves.
    #[test]
    fn woken_writer_beaten_by_upgradable_frees_readers_behind_it() {
        NO_HANDOVER.with(|n| n.set(true));
        let l = Arc::new(RwLock::new(0u32));
        let attempts = if cfg!(miri) { 20 } else { 1_000 };
        for _ in 0..attempts {
            let w = l.write();
            let spawn_parked = |kind: Kind| {
                let (who_tx, who_rx) = std::sync::mpsc::channel();
                let l = l.clone();
                let h = std::thread::spawn(move || {
                    who_tx.send(crate::current()).unwrap();
                    match kind {
                        Kind::Write => *l.write() += 1,
                        _ => drop(l.read()),
                    }
                });
                wait_parked_on(&who_rx.recv().unwrap(), kind.reason());
                h
            };
            let writer = spawn_parked(Kind::Write);
            let reader = spawn_parked(Kind::Read);
            drop(w); // wakes the writer only, without a hand-over
            match l.try_upgradable_read() {
                Ok(u) => {
                    // The scenario: the reader must get in while `u` is held.
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while !reader.is_finished() {
                        assert!(Instant::now() < deadline, "the reader stayed parked");
                        std::thread::yield_now();
                    }
                    reader.join().unwrap();
                    drop(u);
                    writer.join().unwrap();
                    NO_HANDOVER.with(|n| n.set(false));
                    assert_eq!(state(&l) & !QUEUED, 0);
                    return;
                }
                Err(_) => {
                    // The writer was faster; try again.
                    writer.join().unwrap();
                    reader.join().unwrap();
                }
            }
        }
        panic!("never got the upgradable read share before the woken writer");
    }
}

/// Loom models (`RUSTFLAGS="--cfg loom" cargo test -p weft --lib --release`): the real
/// lock (fast and slow paths, drains, upgrades, timed writes) and the real parking
/// lot, on loom's atomics, threads and bucket mutex (see `loom.rs`). The data is a
/// loom `UnsafeCell`, so loom reports any access a guard fails to exclude; a lost
/// wake-up shows up as loom's "deadlock: all threads blocked". Each model ends with
/// the state word back at 0 (no `QUEUED` or `DRAINING` left behind).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::model::check;
    use ::loom::cell::UnsafeCell as LoomUnsafeCell;
    use ::loom::thread;
    use std::sync::Arc;

    type Pair = RwLock<LoomUnsafeCell<(usize, usize)>>;

    // A loom `UnsafeCell` is `!Sync`, so the lock is too; loom threads share it
    // anyway (they run on one kernel thread, and loom's `spawn` asks for no `Send`).
    #[allow(clippy::arc_with_non_send_sync)]
    fn new_pair() -> Arc<Pair> {
        Arc::new(RwLock::new(LoomUnsafeCell::new((0, 0))))
    }

    /// Increments both halves of the pair, in two separate accesses, so a reader
    /// let in between would see them differ (and loom would flag the overlap).
    fn bump(cell: &LoomUnsafeCell<(usize, usize)>) {
        // SAFETY: the caller holds write access; loom checks that no other access overlaps.
        cell.with_mut(|p| unsafe { (*p).0 += 1 });
        // SAFETY: as above.
        cell.with_mut(|p| unsafe { (*p).1 += 1 });
    }

    /// Reads the pair, asserting it is not half-written; returns the first half.
    fn read_pair(cell: &LoomUnsafeCell<(usize, usize)>) -> usize {
        // SAFETY: the caller holds a read share; loom checks that no write overlaps.
        let (a, b) = cell.with(|p| unsafe { *p });
        assert_eq!(a, b, "half-written pair");
        a
    }

    fn state(l: &Pair) -> usize {
        l.state.load(Ordering::Relaxed)
    }

    /// Two writers: exclusion, no lost wake-up, and the word ends at 0.
    #[test]
    fn two_writers() {
        check(4, || {
            let l = new_pair();
            let l2 = l.clone();
            let t = thread::spawn(move || bump(&l2.write()));
            bump(&l.write());
            t.join().unwrap();
            assert_eq!(state(&l), 0);
            assert_eq!(read_pair(&l.read()), 2);
        });
    }

    /// A reader and a writer: the reader sees the pair before or after the write,
    /// never half-written.
    #[test]
    fn reader_and_writer() {
        check(4, || {
            let l = new_pair();
            let l2 = l.clone();
            let t = thread::spawn(move || read_pair(&l2.read()));
            bump(&l.write());
            let seen = t.join().unwrap();
            assert!(seen <= 1);
            assert_eq!(state(&l), 0);
            assert_eq!(read_pair(&l.read()), 1);
        });
    }

    /// A writer takes `WRITER` while a reader is inside and drains it (spin, set
    /// `DRAINING`, park on the drain queue), racing the read unlock: the last reader
    /// must wake the drainer (no lost wake-up) and `DRAINING` must end up clear.
    #[test]
    fn writer_drains_racing_read_unlock() {
        check(4, || {
            let l = new_pair();
            let r = l.read();
            let l2 = l.clone();
            let t = thread::spawn(move || bump(&l2.write()));
            assert_eq!(read_pair(&r), 0);
            drop(r);
            t.join().unwrap();
            assert_eq!(state(&l), 0);
            assert_eq!(read_pair(&l.read()), 1);
        });
    }

    /// A reader arrives while a writer drains another reader: its fast path adds a share
    /// and, seeing `WRITER`, gives it back — possibly as the last share, so it must wake
    /// the drainer. No lost wake-up, no overlap, no share or `DRAINING` left behind.
    ///
    /// Run alone (`.ci/run` gives it a process of its own): after `reader_and_writer` or
    /// `timed_write_races_read_unlock` ran in the same process, loom fails inside itself at
    /// this model's first execution ("expected to be able to acquire lock", or a
    /// modification-order assertion), while alone the model passes every execution up to
    /// 4 preemptions. Some loom state outlives a model; not ours to fix here.
    #[test]
    #[ignore = "run alone, in its own process (see the doc comment)"]
    fn transient_reader_during_drain() {
        check(3, || {
            let l = new_pair();
            let r = l.read();
            let l2 = l.clone();
            let w = thread::spawn(move || bump(&l2.write()));
            let l3 = l.clone();
            let late = thread::spawn(move || read_pair(&l3.read()));
            assert_eq!(read_pair(&r), 0);
            drop(r);
            w.join().unwrap();
            let seen = late.join().unwrap();
            assert!(seen <= 1);
            assert_eq!(state(&l), 0);
            assert_eq!(read_pair(&l.read()), 1);
        });
    }

    /// An upgradable reader upgrades (draining a plain reader if it is inside) while
    /// the plain reader comes and goes: no overlap between the write and the read.
    #[test]
    fn upgrade_races_reader() {
        check(3, || {
            let l = new_pair();
            let l2 = l.clone();
            let t = thread::spawn(move || read_pair(&l2.read()));
            {
                let u = l.upgradable_read();
                assert_eq!(read_pair(&u), 0);
                let w = RwLockUpgradableReadGuard::upgrade(u);
                bump(&w);
            }
            let seen = t.join().unwrap();
            assert!(seen <= 1);
            assert_eq!(state(&l), 0);
            assert_eq!(read_pair(&l.read()), 1);
        });
    }

    /// A timed write whose deadline has already passed (it fires at the drainer's
    /// first sleep) racing the read unlock: it either gets the lock or gives `WRITER`
    /// back, and either way `DRAINING` is cleared and the word ends at 0.
    #[test]
    fn timed_write_races_read_unlock() {
        check(4, || {
            let l = new_pair();
            let r = l.read();
            let l2 = l.clone();
            let t = thread::spawn(move || match l2.write_deadline(Instant::now()) {
                Ok(w) => {
                    bump(&w);
                    1
                }
                Err(TimedOut) => 0,
            });
            assert_eq!(read_pair(&r), 0);
            drop(r);
            let got = t.join().unwrap();
            assert_eq!(state(&l), 0);
            assert_eq!(read_pair(&l.read()), got);
        });
    }
}
