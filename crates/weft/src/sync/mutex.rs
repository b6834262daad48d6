//! A mutual-exclusion lock of one byte, for green and kernel threads.
//!
//! # Algorithm
//!
//! The lock is one byte with four bits:
//!
//! | bit       | meaning                                                            |
//! |-----------|--------------------------------------------------------------------|
//! | `LOCKED`  | someone holds the lock                                             |
//! | `PARKED`  | threads may be queued for it in the parking lot (keyed by address) |
//! | `WOKEN`   | a waiter was woken and has not tried the lock yet (as in Go's mutex) |
//! | `CLAIMED` | a waiter that has waited too long has claimed the next acquisition |
//!
//! * **Lock**: one `compare_exchange` from `0` to `LOCKED` when free. Otherwise wait a
//!   little first (a kernel thread spins with a growing number of spin hints, about
//!   5 µs in all, and stops spinning once others park; a green thread spins a few
//!   rounds — the
//!   holder is most likely running on another worker and about to release — then
//!   yields to its worker's other green threads up to 16 times, which keeps the crowd
//!   of a hot lock runnable in round-robin order rather than queued one by one), then
//!   set `PARKED` and park in the parking lot, which re-checks under its bucket lock
//!   that the byte still reads `PARKED` and `LOCKED` or `CLAIMED` (so an unlock in
//!   between is never missed).
//! * **Claim** (no starvation by barging): a waiter that has waited longer than
//!   [`GREEN_CLAIM_AFTER`] (100 µs) on a green thread, or [`KERNEL_CLAIM_AFTER`] (1 ms,
//!   counted from its first park) on a kernel thread, sets `CLAIMED` if nobody has,
//!   and from then on nobody else takes the lock when it is free (`compare_exchange`
//!   from `0` fails, and the slow paths and `try_lock` treat a claimed free lock as
//!   taken). The claimant spins a few microseconds (`CLAIM_SPIN` looks) for the
//!   holder to release and takes it, clearing the claim: a hand-over without a
//!   wake-up, since the claimant is running. If the holder keeps the lock longer (it
//!   may be descheduled by the kernel, blocked, or a green thread waiting for the
//!   claimant's own worker), the claimant parks *as the claimant*, keeping the claim
//!   (its park token has `CLAIMANT` set), and the holder's unlock, which always
//!   looks in the parking lot while `CLAIMED` is set, hands the lock over to it. It
//!   never spins long: a spinning green thread holds its whole worker, and a spinner on
//!   a machine with other load keeps the CPU from the holder it waits for (a 50 µs
//!   claim spin measured a collapse to 0.2 M acquisitions/s with 1 000 green threads
//!   on 2 workers and one busy core). A claimant whose deadline passes gives the claim
//!   up while queued, with the bucket locked.
//! * **Unlock**: a green thread first charges [`LOCK_UNITS`] to its cooperative budget
//!   (still holding the lock), and yields right after the release if the budget ran out
//!   (see [`crate::runtime::coop`]). The release is one `compare_exchange` from `LOCKED`
//!   to `0` when no other bit is set.
//!   Otherwise, unless a woken waiter is still on its way (`WOKEN`: then the unlock
//!   just releases), the parking lot wakes the first waiter in FIFO order and, with its
//!   bucket locked, sets the byte to `WOKEN` plus `PARKED` if more wait (a claim is
//!   kept). The woken thread clears `WOKEN` and competes for the lock with newcomers
//!   (throughput first); if it loses, it parks again at the front of the queue, and
//!   once it has waited long enough, it claims. Except:
//! * **Eventual fairness for parked waiters**: if the woken waiter first parked longer
//!   ago than the parking lot's `FAIRNESS_BOUND` (0.5 ms) and the
//!   parking lot's fairness timer has run out (every 0.5 ms on average), or the unlock
//!   is [`MutexGuard::unlock_fair`], the lock is *handed over*: the byte stays
//!   `LOCKED` and the waiter returns owning it, so no newcomer can overtake it. The
//!   timer keeps hand-overs (each costs a wake-up the new owner must wait for) to
//!   about two per millisecond, so a crowd of overdue waiters does not turn the lock
//!   into a convoy (every acquisition a wake-up: measured here as a collapse to a
//!   microsecond per acquisition with 1 000 green threads).
//!
//! Invariants: `CLAIMED` is set by one waiter at a time and cleared only by that
//! waiter taking the free lock, by an unlock handing the lock to it, or by its own
//! time-out while queued (the last two with the bucket locked); so with the bucket
//! locked and the lock held, `CLAIMED` set means the claimant is either queued (and is
//! handed the lock) or running (and takes it once free: the unlock then wakes no one,
//! and the claimant's own unlock sees `PARKED`). A thread parks only while `PARKED`
//! and `LOCKED` or `CLAIMED` read set under its bucket lock (a claimant: while
//! `LOCKED` reads set), so a lock held, or about to be, whose unlock will see the
//! waiter; and every release of a lock with `PARKED` set either wakes a waiter or
//! leaves `WOKEN` or `CLAIMED` set (a woken waiter or the claimant is on its way and
//! will park again or take the lock).

//! # No poisoning
//!
//! A panic while the lock is held unlocks it (the guard's drop runs during unwinding),
//! and the next locker gets the data as the panicking thread left it. weft does not
//! poison, as `parking_lot` does not: poisoning turns one panic into a cascade of
//! panics in threads that could often carry on, and code that must know checks its own
//! invariants. Use `std::sync::Mutex` if you want poisoning.
//!
//! # Re-entrance
//!
//! Locking a mutex the current thread already holds waits forever (it is not
//! re-entrant). If that leaves every green thread parked while a kernel thread waits
//! in `join`, the runtime's deadlock detector reports it, naming the threads parked on
//! "mutex".

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::{TimedOut, WouldBlock};
// Under `--cfg loom` these are loom's atomics and a model clock: see `loom.rs`.
use crate::loom::{AtomicU8, Instant, Ordering};
use crate::park::lot::{self, FilterOp, ParkResult, ParkToken, UnparkToken};
use crate::park::WaitReason;

const LOCKED: u8 = 1;
const PARKED: u8 = 2;
/// A waiter has been woken and has not yet tried the lock again.
const WOKEN: u8 = 4;
/// A waiter that has waited long enough ([`claim_after`]) has claimed the next acquisition:
/// while it is set, nobody else takes the lock when it is free.
const CLAIMED: u8 = 8;

/// A green thread that has waited this long for the lock claims it (see the module
/// docs): it tries again only once per turn of its worker, so one failed turn is enough.
pub const GREEN_CLAIM_AFTER: Duration = Duration::from_micros(100);

/// Cooperative budget units a green thread spends on each acquisition of a [`Mutex`] (of
/// [`BUDGET`](crate::runtime::coop::BUDGET)): a thread takes a lock at most four times
/// per turn, so threads waiting for their turn on the same worker (often for this very
/// lock) wait four critical sections per thread ahead of them, not a hundred. Measured
/// with 1 000 green threads on one lock and 2 workers (the lab's Locks section), with
/// the waiters' spins of 112 spin hints per wait: at one unit per lock the longest wait
/// was 6 ms, at 16 units 0.4-0.6 ms, at 64 units 0.16-0.30 ms, for 6 -> 22 ns per
/// lock-unlock pair (tokio's mutex: 170 ns, 0.29 ms). With spins of 14 hints (a spin
/// hint takes 27 ns on this machine's CPU), in one session with a build running beside:
/// at 32 units 13-17 ns per pair and 0.15-0.36 ms longest waits, at 64 units 21-27 ns
/// and 0.23-1.1 ms.
pub const LOCK_UNITS: u32 = 32;
/// A kernel thread that has waited this long (since it first parked) claims the lock:
/// twice the parking lot's fairness bound, so that the bound's own hand-overs come
/// first and a claim is the backstop. Claims end bursts: two kernel threads hammering
/// one lock measured 10.0-10.2 ns per pair with no kernel claims and 10.6-11.8 ns with
/// claims after 0.5 ms (parking_lot: 8.7-9.8 ns in the same runs).
pub const KERNEL_CLAIM_AFTER: Duration = Duration::from_millis(1);

/// A claimant looks this many times (a spin hint between looks, about 2 us in all) for the holder to release, then parks as the claimant and is handed the lock.
/// A holder running on another CPU releases well within that; one that does not is
/// descheduled, blocked, or waiting for the claimant's own worker, and spinning on
/// would only keep it from running (with 2 workers on a loaded machine, a 50 us spin
/// here measured a collapse to 0.2 M acquisitions/s, most of the time spent spinning).
#[cfg(not(loom))]
const CLAIM_SPIN: u32 = 64;
/// Under loom: one look, then park (every interleaving of that look is explored).
#[cfg(loom)]
const CLAIM_SPIN: u32 = 1;

/// The bit of a park token that marks the claimant (the rest is its stamp).
const CLAIMANT: usize = 1 << (usize::BITS - 1);

/// An unpark token meaning "the lock was handed to you".
const HANDOFF: UnparkToken = UnparkToken(1);
const NORMAL: UnparkToken = UnparkToken(0);

static MUTEX: WaitReason = WaitReason::new("mutex");

/// A short wait before parking: rounds of spin hints on a kernel thread, a few yields
/// to the worker's other green threads on a green thread.
#[derive(Debug, Default)]
pub(crate) struct SpinWait {
    rounds: u32,
    /// The mutex's green-thread wait: spin hints first, then more yields.
    long_green: bool,
}

/// Rounds of spin hints (2, 4, ... 2^n) a kernel thread makes before it parks.
#[cfg(not(loom))]
const KERNEL_SPIN_ROUNDS: u32 = 7;

/// Yields a green thread waiting for a [`Mutex`] makes before it parks.
#[cfg(not(loom))]
const GREEN_YIELDS: u32 = 16;

impl SpinWait {
    /// The mutex's wait: on a green thread, a few rounds of spin hints (the holder is
    /// most likely running on another worker and about to release), then up to
    /// [`GREEN_YIELDS`] yields (each lets the worker's other green threads run, and
    /// one of them may be the holder) before parking.
    pub(crate) fn long_green() -> Self {
        SpinWait {
            rounds: 0,
            long_green: true,
        }
    }

    /// Waits a little; `false` when it is time to park instead.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn spin(&mut self) -> bool {
        self.rounds += 1;
        if crate::runtime::worker::current_green_inner().is_some() {
            if self.long_green {
                // 2, 4 and 8 spin hints, well under a microsecond in all: enough for a
                // holder running on another CPU, and little time lost when it is not
                // (a spin hint costs 27 ns on this machine's CPU; rounds of 16, 32 and 64
                // hints, 3 us a wait, made a worker of 500 waiting threads take
                // milliseconds to come round to a thread handed the lock).
                if self.rounds <= 3 {
                    for _ in 0..(1u32 << self.rounds) {
                        std::hint::spin_loop();
                    }
                    return true;
                }
                if self.rounds > 3 + GREEN_YIELDS {
                    return false;
                }
            } else if self.rounds > 3 {
                return false;
            }
            crate::yield_now();
            return true;
        }
        // Kernel thread: rounds of 2, 4, ... 128 spin hints (about 5 us in all), then park.
        // No `sched_yield` rounds (parking_lot has seven): with nothing else to run a
        // yield returns at once, so the waiter polls the lock's cache line every
        // microsecond or so and takes it away from the holder each time; measured with two
        // kernel threads on one lock, paired with parking_lot in one process: 0.99-1.04x
        // its throughput with yields, 1.11-1.13x without (and 1.27-1.31x with ten rounds,
        // ~45 us of spinning: more than a waiter should burn before it parks).
        if self.rounds > KERNEL_SPIN_ROUNDS {
            return false;
        }
        for _ in 0..(1u32 << self.rounds) {
            std::hint::spin_loop();
        }
        true
    }

    /// Under loom: one round that only re-reads the state, then park. Not a loom
    /// `yield_now`: loom would not run a yielding thread again until the others
    /// block or finish, which hides every race between a spinner and the holder.
    #[cfg(loom)]
    pub(crate) fn spin(&mut self) -> bool {
        self.rounds += 1;
        self.rounds <= 1
    }
}

/// A mutual-exclusion lock: one byte plus the data; see the module docs.
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::Mutex;
///
/// let count = Arc::new(Mutex::new(0));
/// let hs: Vec<_> = (0..100)
///     .map(|_| {
///         let count = count.clone();
///         weft::spawn(move || *count.lock() += 1)
///     })
///     .collect();
/// for h in hs {
///     h.join().unwrap();
/// }
/// assert_eq!(*count.lock(), 100);
/// ```
pub struct Mutex<T: ?Sized> {
    state: AtomicU8,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out `&mut T` to one thread at a time, so sending or sharing
// it only ever moves `T` between threads: `T: Send` suffices for both.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Proof of holding a [`Mutex`]; unlocks when dropped.
///
/// It is `!Send`, so a guard is released by the thread that took it:
///
/// ```compile_fail
/// let m = weft::sync::Mutex::new(0);
/// let g = m.lock();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(g));
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    not_send: PhantomData<*const ()>,
}

// SAFETY: sharing a guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        Mutex {
            state: AtomicU8::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// A new unlocked mutex (not `const` under loom, whose atomics have no `const fn new`).
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        Mutex {
            state: AtomicU8::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex, returning the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the lock, waiting as long as it takes.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow(None);
        }
        self.guard()
    }

    /// Acquires the lock if it is free right now.
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] when it is held.
    #[inline]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, WouldBlock> {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            // A claimed free lock is the claimant's.
            if s & (LOCKED | CLAIMED) != 0 {
                return Err(WouldBlock);
            }
            match self.state.compare_exchange_weak(
                s,
                s | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(self.guard()),
                Err(now) => s = now,
            }
        }
    }

    /// Acquires the lock, giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`TimedOut`] when the lock could not be had in time.
    pub fn lock_timeout(&self, timeout: Duration) -> Result<MutexGuard<'_, T>, TimedOut> {
        match Instant::now().checked_add(timeout) {
            Some(d) => self.lock_deadline(d),
            None => Ok(self.lock()),
        }
    }

    /// Acquires the lock, giving up at `deadline`.
    ///
    /// # Errors
    ///
    /// [`TimedOut`] when the lock could not be had in time.
    pub fn lock_deadline(&self, deadline: Instant) -> Result<MutexGuard<'_, T>, TimedOut> {
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            || self.lock_slow(Some(deadline))
        {
            Ok(self.guard())
        } else {
            Err(TimedOut)
        }
    }

    /// `true` while some thread holds the lock (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// The data, through an exclusive borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    fn guard(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            mutex: self,
            not_send: PhantomData,
        }
    }

    fn key(&self) -> usize {
        &self.state as *const AtomicU8 as usize
    }

    /// Returns `true` with the lock held, `false` at the deadline.
    #[cold]
    fn lock_slow(&self, deadline: Option<Instant>) -> bool {
        let mut spin = SpinWait::long_green();
        let green = is_green();
        // When this wait began, in the parking lot's microseconds: for the claim, and
        // (in the park token) for the parking lot's eventual fairness. A green thread
        // stamps at once (it looks at the claim at every round of its wait, each of
        // which yields anyway); a kernel thread when it first parks, so an acquisition
        // won by spinning reads no clock.
        let mut since = green.then(lot::stamp_now);
        let mut reparking = false;
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (LOCKED | CLAIMED) == 0 {
                match self.state.compare_exchange_weak(
                    s,
                    s | LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => {
                        s = now;
                        continue;
                    }
                }
            }
            if s & CLAIMED == 0 && since.is_some_and(|t| waited(t) >= claim_after(green)) {
                match self.state.compare_exchange_weak(
                    s,
                    s | CLAIMED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let stamp = since.unwrap_or_else(lot::stamp_now);
                        return self.lock_claimed(stamp, deadline);
                    }
                    Err(now) => {
                        s = now;
                        continue;
                    }
                }
            }
            // Kernel threads stop spinning once others park (parking_lot's rule);
            // green threads keep to their short wait: their yields let the worker run.
            if (s & PARKED == 0 || green) && spin.spin() {
                s = self.state.load(Ordering::Relaxed);
                continue;
            }
            if s & PARKED == 0 {
                if let Err(now) = self.state.compare_exchange_weak(
                    s,
                    s | PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    s = now;
                    continue;
                }
            }
            // A thread that was woken and lost the race parks again at the front.
            let park = if reparking { lot::repark } else { lot::park };
            reparking = true;
            let r = park(
                self.key(),
                &MUTEX,
                ParkToken(*since.get_or_insert_with(lot::stamp_now)),
                || {
                    // Taken, or free but claimed (the claimant takes it, keeping
                    // PARKED, so its unlock wakes us).
                    let s = self.state.load(Ordering::Relaxed);
                    s & (LOCKED | CLAIMED) != 0 && s & PARKED != 0
                },
                || {},
                |_, was_last| {
                    if was_last {
                        self.state.fetch_and(!PARKED, Ordering::Relaxed);
                    }
                },
                deadline,
            );
            match r {
                // The unlocker kept LOCKED set for us.
                ParkResult::Unparked(HANDOFF) => {
                    return true;
                }
                // Woken: we are the one woken waiter; let unlockers wake another again.
                ParkResult::Unparked(_) => {
                    self.state.fetch_and(!WOKEN, Ordering::Relaxed);
                }
                // The parking lot reports a time-out only once the deadline has passed.
                ParkResult::TimedOut => return false,
                _ => {}
            }
            spin = SpinWait::long_green();
            s = self.state.load(Ordering::Relaxed);
        }
    }

    /// With [`CLAIMED`] set by the caller: takes the lock when the holder releases it.
    /// Spins for [`CLAIM_SPIN`] (a holder running on another CPU releases within
    /// that), then parks *as the claimant* (its park token has [`CLAIMANT`] set) and
    /// the holder's unlock hands the lock over to it directly. The claim is given up
    /// only when the deadline passes while it is queued, under the bucket lock.
    ///
    /// Returns `true` with the lock held, `false` at the deadline (the claim cleared).
    fn lock_claimed(&self, stamp: usize, deadline: Option<Instant>) -> bool {
        loop {
            if self.take_claimed() {
                return true;
            }
            // The holder keeps the lock: it may be a green thread waiting for this
            // very worker, or its worker may be descheduled. Sleep until handed the
            // lock, so this worker runs its other threads (or sleeps).
            let mut s = self.state.load(Ordering::Relaxed);
            while s & LOCKED != 0 && s & PARKED == 0 {
                match self.state.compare_exchange_weak(
                    s,
                    s | PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => s = now,
                }
            }
            if s & LOCKED == 0 {
                continue;
            }
            let r = lot::park(
                self.key(),
                &MUTEX,
                ParkToken((stamp & !CLAIMANT) | CLAIMANT),
                || {
                    // Still held (so the holder's unlock, which must look for us since
                    // CLAIMED is set, has not happened yet).
                    self.state.load(Ordering::Relaxed) & LOCKED != 0
                },
                || {},
                |_, was_last| {
                    let clear = if was_last { CLAIMED | PARKED } else { CLAIMED };
                    self.state.fetch_and(!clear, Ordering::Relaxed);
                },
                deadline,
            );
            match r {
                ParkResult::Unparked(HANDOFF) => return true,
                ParkResult::TimedOut => return false,
                // Released before we queued (or a spurious unpark): take it.
                _ => {}
            }
        }
    }

    /// With [`CLAIMED`] set by the caller: spins up to [`CLAIM_SPIN`] for the lock to
    /// be free and takes it, clearing the claim. `false` (claim kept) when the holder
    /// still holds it.
    fn take_claimed(&self) -> bool {
        let mut looks = 0u32;
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & LOCKED == 0 {
                match self.state.compare_exchange_weak(
                    s,
                    (s & !CLAIMED) | LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => {
                        s = now;
                        continue;
                    }
                }
            }
            looks += 1;
            if looks > CLAIM_SPIN {
                return false;
            }
            crate::loom::spin_hint();
            s = self.state.load(Ordering::Relaxed);
        }
    }

    /// Releases the lock held by the caller.
    #[inline]
    fn unlock(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow(false);
        }
    }

    #[cold]
    fn unlock_slow(&self, force_fair: bool) {
        // Nobody to wake, or a woken waiter is already on its way (it will see the lock
        // free, or park again): just release. One woken waiter at a time keeps
        // releases from waking threads that would only lose the race to a newcomer.
        if !force_fair {
            let mut s = self.state.load(Ordering::Relaxed);
            // A claimant may be queued, due a hand-over: look in the parking lot.
            while s & CLAIMED == 0 && (s & PARKED == 0 || s & WOKEN != 0) {
                match self.state.compare_exchange_weak(
                    s,
                    s & !LOCKED,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(now) => s = now,
                }
            }
        }
        // A claimant queued for the lock is handed it (it is the only waiter allowed
        // to take a claimed lock). Otherwise wake the first waiter; it is due a
        // hand-over if it first parked (its token's stamp) longer than the fairness
        // bound ago, even if it re-parked since. CLAIMED is read with the bucket
        // locked: a claimant queues (and gives its claim up) only with it locked, and
        // nobody else clears the claim while we hold the lock.
        let mut taken = false;
        let mut claimed = None;
        let overdue = std::cell::Cell::new(false);
        let to_claimant = std::cell::Cell::new(false);
        let now = lot::stamp_now();
        let filter = |t: ParkToken| {
            if taken {
                return FilterOp::Stop;
            }
            let c =
                *claimed.get_or_insert_with(|| self.state.load(Ordering::Relaxed) & CLAIMED != 0);
            let claimant = t.0 & CLAIMANT != 0;
            if c != claimant {
                return FilterOp::Skip;
            }
            taken = true;
            to_claimant.set(claimant);
            overdue.set(lot::overdue(t.0 & !CLAIMANT, now, usize::BITS - 1));
            FilterOp::Unpark
        };
        // A claimant abandoned by its runtime (it never runs again) was dropped from the
        // queue: its claim must go with it, or the lock stays claimed for ever.
        let dead_claim = std::cell::Cell::new(false);
        let woke_nobody = std::cell::Cell::new(false);
        lot::unpark_filter(self.key(), filter, |r| {
            let keep = if r.abandoned_tokens & CLAIMANT != 0 {
                dead_claim.set(true);
                WOKEN
            } else {
                WOKEN | CLAIMED
            };
            woke_nobody.set(r.unparked_threads == 0 && r.have_more_threads);
            // Read-modify-writes: a woken thread may clear WOKEN at any moment.
            let parked = if r.have_more_threads { PARKED } else { 0 };
            if r.unparked_threads != 0 && to_claimant.get() {
                // The claim is used: the claimant returns owning the lock.
                let _ = self
                    .state
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                        Some(LOCKED | parked | (cur & WOKEN))
                    });
                return HANDOFF;
            }
            if r.unparked_threads != 0 && (force_fair || (r.be_fair && overdue.get())) {
                // Hand the lock over: it stays LOCKED for the woken thread.
                let _ = self
                    .state
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                        Some(LOCKED | parked | (cur & keep))
                    });
                return HANDOFF;
            }
            let woken = if r.unparked_threads != 0 { WOKEN } else { 0 };
            // With no claimant queued but CLAIMED set, nobody is woken: the claimant
            // is spinning (or about to queue, and will find the lock free) and takes
            // the lock, and its unlock wakes the waiters.
            let _ = self
                .state
                .fetch_update(Ordering::Release, Ordering::Relaxed, |cur| {
                    Some(parked | woken | (cur & keep))
                });
            NORMAL
        });
        if dead_claim.get() && woke_nobody.get() {
            // The waiters behind the dead claimant were skipped (the lock read as
            // claimed): take the now free lock and release it again, which wakes one.
            if self.try_lock_raw() {
                self.unlock_slow(false);
            }
        }
    }

    /// Takes the lock if it is free and unclaimed (no guard: the caller releases it).
    fn try_lock_raw(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & (LOCKED | CLAIMED) == 0 {
            match self.state.compare_exchange_weak(
                s,
                s | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }
}

/// How long ago `since` (a [`lot::stamp_now`]) was.
fn waited(since: usize) -> Duration {
    Duration::from_micros(lot::stamp_now().wrapping_sub(since) as u64)
}

/// How long the caller waits before it claims the lock: [`GREEN_CLAIM_AFTER`] on a
/// green thread, [`KERNEL_CLAIM_AFTER`] on a kernel thread (which spins and is woken
/// promptly, and whose bursts are what makes two kernel threads on one lock fast).
fn claim_after(green: bool) -> Duration {
    #[cfg(loom)]
    if crate::loom::model::eager_claims() {
        return Duration::ZERO;
    }
    if green {
        GREEN_CLAIM_AFTER
    } else {
        KERNEL_CLAIM_AFTER
    }
}

/// Whether the caller runs on a green thread.
#[inline]
fn is_green() -> bool {
    #[cfg(not(loom))]
    return crate::runtime::worker::current_green_inner().is_some();
    #[cfg(loom)]
    return false;
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// Unlocks and, if a thread is waiting, hands it the lock directly so that no other
    /// thread can take it first.
    pub fn unlock_fair(this: Self) {
        let m = this.mutex;
        std::mem::forget(this);
        if m.state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            m.unlock_slow(true);
        }
    }

    /// The mutex this guard holds (for condition variables).
    pub(crate) fn mutex(this: &Self) -> &'a Mutex<T> {
        this.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves this thread holds the lock, so no `&mut T` exists
        // elsewhere for the guard's lifetime.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves exclusive ownership of the lock, and `&mut self`
        // makes this the only reference derived from the guard.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Share the worker: charge the budget while still holding the lock, and yield once
        // the lock is released if it ran out. Charging here, not in `lock`, keeps the
        // instructions between this release and the thread's next acquisition as few as
        // a lock without a budget has: a releasing thread that retakes the lock at once
        // keeps it for a burst, and every extra instruction in that gap lets a spinning
        // waiter in more often (measured, paired with parking_lot in one process: 0.81-0.84x
        // its throughput with two kernel threads that way, 1.06-1.10x this way).
        #[cfg(not(loom))]
        let spent = crate::runtime::coop::charge(LOCK_UNITS);
        self.mutex.unlock();
        #[cfg(not(loom))]
        if spent {
            crate::runtime::coop::exhausted();
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_lock() {
            Ok(g) => f.debug_struct("Mutex").field("data", &&*g).finish(),
            Err(_) => f
                .debug_struct("Mutex")
                .field("data", &format_args!("<locked>"))
                .finish(),
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(v: T) -> Self {
        Mutex::new(v)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! Kernel threads only, so these also run under Miri.
    use super::*;
    use std::sync::Arc;

    #[test]
    fn kernel_threads_count_exactly_through_the_slow_path() {
        let per = if cfg!(miri) { 30 } else { 10_000 };
        let m = Arc::new(Mutex::new(0usize));
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..per {
                        let mut g = m.lock();
                        *g += 1;
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*m.lock(), 3 * per);
        assert!(!m.is_locked());
    }
}

/// Green threads (not under Miri, which cannot switch stacks).
#[cfg(all(test, not(loom), not(miri)))]
mod green_tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering as O};
    use std::sync::Arc;
    use std::time::Duration;

    /// A claimant whose holder does not release sleeps *as the claimant* and gives its
    /// worker back. The holder (a kernel thread) releases only once another green
    /// thread of the claimant's single worker has run ten turns with the claim set;
    /// before the fix the claimant spun 50 us with the worker held, then gave the
    /// claim up, so that thread never saw a claim and the holder never released (the
    /// test then fails at its bound instead of hanging). Each turn of that thread
    /// lasts 10 us while there is no claim, so the waiter's 16 yields take longer than
    /// `GREEN_CLAIM_AFTER` and it claims before it would park.
    #[test]
    fn claimant_gives_its_worker_back() {
        let rt = crate::Runtime::builder().workers(1).build().unwrap();
        let m = Arc::new(Mutex::new(0u32));
        let release = Arc::new(AtomicBool::new(false));
        let g = m.lock();
        let seen = Arc::new(AtomicU32::new(0));
        let other = {
            let (m, seen, release) = (m.clone(), seen.clone(), release.clone());
            rt.spawn(move || {
                // Spawned from here, the waiter runs on this worker, taking turns with
                // this thread from its first wait on.
                let waiter = {
                    let m = m.clone();
                    crate::spawn(move || *m.lock() += 1)
                };
                let bound = std::time::Instant::now() + Duration::from_secs(3);
                while std::time::Instant::now() < bound {
                    let s = m.state.load(O::Relaxed);
                    if s & CLAIMED != 0 && s & LOCKED != 0 {
                        if seen.fetch_add(1, O::Relaxed) + 1 >= 10 {
                            release.store(true, O::Release);
                            return Some(waiter);
                        }
                    } else {
                        let t = std::time::Instant::now();
                        while t.elapsed() < Duration::from_micros(10) {
                            std::hint::spin_loop();
                        }
                    }
                    crate::yield_now();
                }
                release.store(true, O::Release);
                drop(waiter);
                None
            })
        };
        while !release.load(O::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(g);
        let waiter = other.join().unwrap();
        assert!(
            waiter.is_some(),
            "the worker never ran another thread while the claim was set ({} turns)",
            seen.load(O::Relaxed)
        );
        waiter.unwrap().join().unwrap();
        assert_eq!(*m.lock(), 1);
        assert_eq!(
            m.state.load(O::Relaxed),
            0,
            "no claim or PARKED left behind"
        );
    }
}

/// Loom models of the protocol above, run on this file's code (the lock and unlock
/// paths, `unlock_fair`) and the real parking lot, on loom's atomics, threads and
/// bucket mutex (see `loom.rs`). The data is a loom `UnsafeCell`, so loom reports any
/// two critical sections that are not ordered by the lock (exclusion and visibility);
/// a lost wake-up shows up as loom's "deadlock: all threads blocked".
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::model::{advance, check};
    use ::loom::cell::UnsafeCell as LoomUnsafeCell;
    use ::loom::thread;
    use std::sync::Arc;

    fn add_one(m: &Mutex<LoomUnsafeCell<usize>>) {
        let g = m.lock();
        // SAFETY: the guard is held; loom checks that no other access overlaps.
        g.with_mut(|p| unsafe { *p += 1 });
    }

    /// Adds one if the lock can be had by a deadline that has already passed (it may
    /// still be free, or handed over); returns how much it added.
    fn add_one_by_now(m: &Mutex<LoomUnsafeCell<usize>>) -> usize {
        match m.lock_deadline(Instant::now()) {
            Ok(g) => {
                // SAFETY: the guard is held; loom checks that no other access overlaps.
                g.with_mut(|p| unsafe { *p += 1 });
                1
            }
            Err(TimedOut) => 0,
        }
    }

    fn value(m: &Mutex<LoomUnsafeCell<usize>>) -> usize {
        // SAFETY: the guard is held; loom checks that no other access overlaps.
        m.lock().with(|p| unsafe { *p })
    }

    /// Two threads locking once each: exclusion, no lost wake-up, and the byte ends
    /// at 0 (no `PARKED` left behind).
    #[test]
    fn two_lockers() {
        check(4, || {
            let m = Arc::new(Mutex::new(LoomUnsafeCell::new(0)));
            let m2 = m.clone();
            let t = thread::spawn(move || add_one(&m2));
            add_one(&m);
            t.join().unwrap();
            assert_eq!(m.state.load(Ordering::Relaxed), 0);
            assert_eq!(value(&m), 2);
        });
    }

    /// Three threads: one parks behind another waiter, so unlocks leave `PARKED` set
    /// for the waiters still queued.
    #[test]
    fn three_lockers() {
        check(3, || {
            let m = Arc::new(Mutex::new(LoomUnsafeCell::new(0)));
            let ts: Vec<_> = (0..2)
                .map(|_| {
                    let m = m.clone();
                    thread::spawn(move || add_one(&m))
                })
                .collect();
            add_one(&m);
            for t in ts {
                t.join().unwrap();
            }
            assert_eq!(m.state.load(Ordering::Relaxed), 0);
            assert_eq!(value(&m), 3);
        });
    }

    /// `unlock_fair` hands the lock over to a parked waiter (the byte stays
    /// `LOCKED`); a third thread trying to barge in never overlaps with it.
    #[test]
    fn unlock_fair_hands_over() {
        check(3, || {
            let m = Arc::new(Mutex::new(LoomUnsafeCell::new(0)));
            let m2 = m.clone();
            let waiter = thread::spawn(move || add_one(&m2));
            let m3 = m.clone();
            let barger = thread::spawn(move || {
                if let Ok(g) = m3.try_lock() {
                    // SAFETY: the guard is held; loom checks that no other access overlaps.
                    g.with_mut(|p| unsafe { *p += 1 });
                    MutexGuard::unlock_fair(g);
                }
            });
            {
                let g = m.lock();
                // SAFETY: the guard is held; loom checks that no other access overlaps.
                g.with_mut(|p| unsafe { *p += 1 });
                MutexGuard::unlock_fair(g);
            }
            waiter.join().unwrap();
            barger.join().unwrap();
            assert_eq!(m.state.load(Ordering::Relaxed), 0);
            let v = value(&m);
            assert!(v == 2 || v == 3, "{v}");
        });
    }

    /// Eventual fairness: the clock moves past the fairness bound while a thread
    /// waits, so the unlock hands the lock over rather than releasing it.
    #[test]
    fn overdue_waiter_is_handed_the_lock() {
        check(4, || {
            let m = Arc::new(Mutex::new(LoomUnsafeCell::new(0)));
            let m2 = m.clone();
            let t = thread::spawn(move || add_one(&m2));
            {
                let g = m.lock();
                advance(lot::FAIRNESS_BOUND * 2);
                // SAFETY: the guard is held; loom checks that no other access overlaps.
                g.with_mut(|p| unsafe { *p += 1 });
            }
            t.join().unwrap();
            assert_eq!(m.state.load(Ordering::Relaxed), 0);
            assert_eq!(value(&m), 2);
        });
    }

    /// Waiters claim the lock as soon as they wait (`set_eager_claims`) while the holder
    /// releases and a third thread tries to take it: exclusion holds, a claim is either
    /// used or given up (never left behind), and no wake-up is lost (loom would report
    /// the deadlock).
    #[test]
    fn waiters_claim() {
        check(3, || {
            crate::loom::model::set_eager_claims();
            let m = Arc::new(Mutex::new(LoomUnsafeCell::new(0)));
            let g = m.lock();
            let m2 = m.clone();
            let waiter = thread::spawn(move || add_one(&m2));
            let m3 = m.clone();
            let barger = thread::spawn(move || add_one(&m3));
            // SAFETY: the guard is held; loom checks that no other access overlaps.
            g.with_mut(|p| unsafe { *p += 1 });
            drop(g);
            waiter.join().unwrap();
            barger.join().unwrap();
            assert_eq!(m.state.load(Ordering::Relaxed), 0);
            assert_eq!(value(&m), 3);
        });
    }

    /// A claimant whose deadline has passed gives its claim up (only while the lock is
    /// held) or takes the lock, while a plain waiter also waits: neither is left parked
    /// with nobody to wake it, and no claim is left behind.
    #[test]
    fn timed_claimant() {
        check(3, || {
            crate::loom::model::set_eager_claims();
            let m = Arc::new(Mutex::new(LoomUnsafeCell::new(0)));
            let g = m.lock();
            let m2 = m.clone();
            let timed = thread::spawn(move || add_one_by_now(&m2));
            let m3 = m.clone();
            let plain = thread::spawn(move || add_one(&m3));
            // SAFETY: the guard is held; loom checks that no other access overlaps.
            g.with_mut(|p| unsafe { *p += 1 });
            drop(g);
            let got = timed.join().unwrap();
            plain.join().unwrap();
            assert_eq!(m.state.load(Ordering::Relaxed), 0);
            assert_eq!(value(&m), 2 + got);
        });
    }

    /// A timed lock whose deadline fires at its first sleep, racing the unlock: it
    /// either gets the lock or times out, and either way it leaves the queue and
    /// clears `PARKED` (the next lock is a fast-path one).
    #[test]
    fn timeout_races_unlock() {
        check(4, || {
            let m = Arc::new(Mutex::new(LoomUnsafeCell::new(0)));
            let m2 = m.clone();
            let t = thread::spawn(move || add_one_by_now(&m2));
            add_one(&m);
            let got = t.join().unwrap();
            assert_eq!(m.state.load(Ordering::Relaxed), 0);
            assert_eq!(value(&m), 1 + got);
        });
    }

    /// A timed waiter and an untimed one queued together: the time-out must leave
    /// `PARKED` set for the other waiter, or its wake-up would be lost.
    ///
    /// Bound 2, not more: from 3 preemptions loom reports a deadlock that cannot
    /// happen, its known modification-order bug (tokio-rs/loom#254, #282). The
    /// timed waiter times out and clears `PARKED`; the other sets it again with a CAS
    /// (reading `LOCKED`); *then* the unlocker, which found no one queued, stores 0
    /// under the bucket lock. Loom leaves that store and the CAS unordered, so the
    /// other waiter's `validate`, run under the same bucket lock after the store,
    /// reads `LOCKED | PARKED` and sleeps. In the memory model the CAS read `LOCKED`,
    /// so it precedes the store in the modification order, and a load that happens
    /// after the store reads 0: `validate` fails and the waiter retries.
    #[test]
    fn timeout_leaves_other_waiter_queued() {
        check(2, || {
            let m = Arc::new(Mutex::new(LoomUnsafeCell::new(0)));
            let g = m.lock();
            let m2 = m.clone();
            let timed = thread::spawn(move || m2.lock_deadline(Instant::now()).is_ok());
            let m3 = m.clone();
            let plain = thread::spawn(move || add_one(&m3));
            // SAFETY: the guard is held; loom checks that no other access overlaps.
            g.with_mut(|p| unsafe { *p += 1 });
            drop(g);
            let _ = timed.join().unwrap();
            plain.join().unwrap();
            assert_eq!(m.state.load(Ordering::Relaxed), 0);
            assert_eq!(value(&m), 2);
        });
    }
}
