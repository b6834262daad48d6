//! A counting semaphore, FIFO-fair, with multi-permit requests.
//!
//! # Algorithm
//!
//! One word: the number of available permits shifted left by two, plus two flags:
//!
//! | bits     | meaning                                                         |
//! |----------|-----------------------------------------------------------------|
//! | 0        | `CLOSED`: every waiter and every later request fails            |
//! | 1        | `WAITERS`: requests are queued in the parking lot                |
//! | 2..      | available permits                                               |
//!
//! * **Acquire** `n`: when nobody is queued and `n` permits are there, one
//!   `compare_exchange` takes them. Otherwise the request queues in the parking lot
//!   (carrying `n`), and the queue is strictly first come, first served: while
//!   `WAITERS` is set, no newcomer takes permits directly, so a large request at the
//!   head is never overtaken by small ones.
//! * **Release** `n`: with no waiters, one `compare_exchange` adds the permits. With
//!   waiters, the releaser walks the queue in order under the bucket lock, *handing*
//!   permits to each request that fits, and stops at the first that does not; what is
//!   left is added to the count, and `WAITERS` cleared if the queue emptied.
//! * Both sides change `WAITERS` only with `compare_exchange` against the word they
//!   examined, and a request only sets it with the bucket locked, so a release can
//!   never add permits unseen by a request that is about to queue.
//! * **Close** sets `CLOSED` and wakes everyone with a "closed" token.

use std::fmt;
use std::time::Duration;

// Under `--cfg loom` these are loom's atomics and a model clock: see `loom.rs`.
use crate::loom::{AtomicUsize, Instant, Ordering};
use crate::park::lot::{self, FilterOp, ParkResult, ParkToken, UnparkToken};
use crate::park::WaitReason;

const CLOSED: usize = 1;
const WAITERS: usize = 2;
const SHIFT: u32 = 2;

const GRANTED: UnparkToken = UnparkToken(1);
const CLOSED_TOKEN: UnparkToken = UnparkToken(2);

static SEMAPHORE: WaitReason = WaitReason::new("semaphore");

/// Why an acquire failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AcquireError {
    /// The semaphore was closed.
    Closed,
    /// More permits were requested than a semaphore can ever hold.
    TooMany {
        /// The request.
        requested: usize,
        /// [`Semaphore::MAX_PERMITS`].
        max: usize,
    },
}

/// Why a `try_acquire` failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits right now (or others are queued first).
    NoPermits,
    /// More permits were requested than a semaphore can ever hold.
    TooMany {
        /// The request.
        requested: usize,
        /// [`Semaphore::MAX_PERMITS`].
        max: usize,
    },
}

/// Why an `acquire_timeout` failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AcquireTimeoutError {
    /// The semaphore was closed.
    Closed,
    /// The permits did not come in time.
    TimedOut,
    /// More permits were requested than a semaphore can ever hold.
    TooMany {
        /// The request.
        requested: usize,
        /// [`Semaphore::MAX_PERMITS`].
        max: usize,
    },
}

macro_rules! display_error {
    ($t:ident) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $t::Closed => f.write_str("the semaphore is closed"),
                    $t::TooMany { requested, max } => write!(
                        f,
                        "{requested} permits requested; a semaphore holds at most {max}"
                    ),
                    #[allow(unreachable_patterns)]
                    _ => f.write_str(self.other()),
                }
            }
        }
        impl std::error::Error for $t {}
    };
}

impl AcquireError {
    fn other(&self) -> &'static str {
        ""
    }
}
impl TryAcquireError {
    fn other(&self) -> &'static str {
        "no permits available right now"
    }
}
impl AcquireTimeoutError {
    fn other(&self) -> &'static str {
        "the permits did not come in time"
    }
}
display_error!(AcquireError);
display_error!(TryAcquireError);
display_error!(AcquireTimeoutError);

/// A counting semaphore; see the module docs.
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::Semaphore;
///
/// // At most 3 of these 100 green threads work at once.
/// let sem = Arc::new(Semaphore::new(3));
/// let hs: Vec<_> = (0..100)
///     .map(|_| {
///         let sem = sem.clone();
///         weft::spawn(move || {
///             let _permit = sem.acquire(1).unwrap();
///             weft::yield_now();
///         })
///     })
///     .collect();
/// for h in hs {
///     h.join().unwrap();
/// }
/// assert_eq!(sem.available_permits(), 3);
/// ```
pub struct Semaphore {
    state: AtomicUsize,
}

/// Permits held from a [`Semaphore`]; dropping returns them.
#[must_use = "the permits are returned as soon as this is dropped"]
pub struct Permit<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl Semaphore {
    /// The most permits a semaphore can hold.
    pub const MAX_PERMITS: usize = usize::MAX >> (SHIFT + 1);

    /// A semaphore with `permits` permits (at most [`Self::MAX_PERMITS`]; more are
    /// capped).
    #[cfg(not(loom))]
    pub const fn new(permits: usize) -> Self {
        let p = if permits > Self::MAX_PERMITS {
            Self::MAX_PERMITS
        } else {
            permits
        };
        Semaphore {
            state: AtomicUsize::new(p << SHIFT),
        }
    }

    /// The same, not `const` under loom (whose atomics have no `const fn new`).
    #[cfg(loom)]
    pub fn new(permits: usize) -> Self {
        Semaphore {
            state: AtomicUsize::new(permits.min(Self::MAX_PERMITS) << SHIFT),
        }
    }

    fn key(&self) -> usize {
        &self.state as *const AtomicUsize as usize
    }

    /// Permits available right now (a snapshot).
    pub fn available_permits(&self) -> usize {
        self.state.load(Ordering::Acquire) >> SHIFT
    }

    /// `true` once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Takes `n` permits without waiting, if nobody is queued and they are there.
    fn take_now(&self, n: usize) -> Result<bool, ()> {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & CLOSED != 0 {
                return Err(());
            }
            if s & WAITERS != 0 || (s >> SHIFT) < n {
                return Ok(false);
            }
            match self.state.compare_exchange_weak(
                s,
                s - (n << SHIFT),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(true),
                Err(now) => s = now,
            }
        }
    }

    /// Waits for `n` permits.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`] if the semaphore is or becomes closed;
    /// [`AcquireError::TooMany`] if `n` exceeds [`Self::MAX_PERMITS`] (it could never
    /// be satisfied).
    pub fn acquire(&self, n: usize) -> Result<Permit<'_>, AcquireError> {
        match self.acquire_inner(n, None) {
            Ok(p) => Ok(p),
            Err(AcquireTimeoutError::Closed) => Err(AcquireError::Closed),
            Err(AcquireTimeoutError::TooMany { requested, max }) => {
                Err(AcquireError::TooMany { requested, max })
            }
            Err(AcquireTimeoutError::TimedOut) => unreachable!("no deadline was given"),
        }
    }

    /// Takes `n` permits if they are available now and nobody is queued before.
    ///
    /// # Errors
    ///
    /// See [`TryAcquireError`].
    pub fn try_acquire(&self, n: usize) -> Result<Permit<'_>, TryAcquireError> {
        if n > Self::MAX_PERMITS {
            return Err(TryAcquireError::TooMany {
                requested: n,
                max: Self::MAX_PERMITS,
            });
        }
        match self.take_now(n) {
            Ok(true) => Ok(Permit { sem: self, n }),
            Ok(false) => Err(TryAcquireError::NoPermits),
            Err(()) => Err(TryAcquireError::Closed),
        }
    }

    /// Waits for `n` permits, giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// See [`AcquireTimeoutError`].
    pub fn acquire_timeout(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Permit<'_>, AcquireTimeoutError> {
        self.acquire_inner(n, Instant::now().checked_add(timeout))
    }

    /// Waits for `n` permits, giving up at `deadline`.
    ///
    /// # Errors
    ///
    /// See [`AcquireTimeoutError`].
    pub fn acquire_deadline(
        &self,
        n: usize,
        deadline: Instant,
    ) -> Result<Permit<'_>, AcquireTimeoutError> {
        self.acquire_inner(n, Some(deadline))
    }

    fn acquire_inner(
        &self,
        n: usize,
        deadline: Option<Instant>,
    ) -> Result<Permit<'_>, AcquireTimeoutError> {
        if n > Self::MAX_PERMITS {
            return Err(AcquireTimeoutError::TooMany {
                requested: n,
                max: Self::MAX_PERMITS,
            });
        }
        loop {
            match self.take_now(n) {
                Ok(true) => return Ok(Permit { sem: self, n }),
                Err(()) => return Err(AcquireTimeoutError::Closed),
                Ok(false) => {}
            }
            let mut got = false;
            let r = lot::park(
                self.key(),
                &SEMAPHORE,
                ParkToken(n),
                || {
                    // With the bucket locked: take the permits after all, or mark the
                    // queue non-empty and sleep.
                    let mut s = self.state.load(Ordering::Acquire);
                    loop {
                        if s & CLOSED != 0 {
                            return false;
                        }
                        if s & WAITERS == 0 && (s >> SHIFT) >= n {
                            match self.state.compare_exchange_weak(
                                s,
                                s - (n << SHIFT),
                                Ordering::Acquire,
                                Ordering::Acquire,
                            ) {
                                Ok(_) => {
                                    got = true;
                                    return false;
                                }
                                Err(now) => s = now,
                            }
                        } else {
                            match self.state.compare_exchange_weak(
                                s,
                                s | WAITERS,
                                Ordering::AcqRel,
                                Ordering::Acquire,
                            ) {
                                Ok(_) => return true,
                                Err(now) => s = now,
                            }
                        }
                    }
                },
                || {},
                |_, was_last| {
                    if was_last {
                        self.state.fetch_and(!WAITERS, Ordering::AcqRel);
                    }
                },
                deadline,
            );
            match r {
                ParkResult::Unparked(GRANTED) => return Ok(Permit { sem: self, n }),
                ParkResult::Unparked(_) => return Err(AcquireTimeoutError::Closed),
                ParkResult::Invalid if got => return Ok(Permit { sem: self, n }),
                ParkResult::Invalid => {}
                ParkResult::TimedOut => {
                    // A large request leaving the head may let smaller ones through.
                    self.release(0);
                    return Err(AcquireTimeoutError::TimedOut);
                }
            }
        }
    }

    /// Adds `n` permits (the total is capped at [`Self::MAX_PERMITS`]), waking queued
    /// requests that now fit, in order.
    pub fn add_permits(&self, n: usize) {
        self.release(n);
    }

    fn release(&self, n: usize) {
        let n = n.min(Self::MAX_PERMITS);
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & WAITERS != 0 {
                break;
            }
            if n == 0 {
                return;
            }
            let p = ((s >> SHIFT) + n).min(Self::MAX_PERMITS);
            match self.state.compare_exchange_weak(
                s,
                (p << SHIFT) | (s & CLOSED),
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
        // Waiters: hand permits out in queue order, with the bucket locked (no other
        // release or acquire can change the count meanwhile: both see WAITERS and
        // queue up behind this bucket lock; only `close` may flip CLOSED).
        // `avail`: permits this release may hand out, read at the first waiter; `handed`:
        // how many it did. With waiters queued, WAITERS is set and nobody else changes
        // the count until the bucket unlocks; with none, fast-path acquires and releases
        // may run concurrently, so the final update is relative to the current count.
        let avail = std::cell::Cell::new(None::<usize>);
        let handed = std::cell::Cell::new(0usize);
        let start = || ((self.state.load(Ordering::Acquire) >> SHIFT) + n).min(Self::MAX_PERMITS);
        lot::unpark_filter(
            self.key(),
            |want| {
                let a = avail.get().unwrap_or_else(start);
                if want.0 <= a {
                    avail.set(Some(a - want.0));
                    handed.set(handed.get() + want.0);
                    FilterOp::Unpark
                } else {
                    avail.set(Some(a));
                    FilterOp::Stop
                }
            },
            |r| {
                let waiters = if r.have_more_threads { WAITERS } else { 0 };
                let _ = self
                    .state
                    .fetch_update(Ordering::Release, Ordering::Acquire, |cur| {
                        let p = ((cur >> SHIFT) + n)
                            .min(Self::MAX_PERMITS)
                            .saturating_sub(handed.get());
                        Some((p << SHIFT) | waiters | (cur & CLOSED))
                    });
                GRANTED
            },
        );
    }

    /// Closes the semaphore: queued and future acquires fail with `Closed`. Permits
    /// already held stay valid; returning them is harmless.
    pub fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        lot::unpark_all(self.key(), CLOSED_TOKEN);
    }
}

impl Permit<'_> {
    /// How many permits this holds.
    pub fn count(&self) -> usize {
        self.n
    }

    /// Keeps the permits out of the semaphore for good (they are not returned).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.sem.release(self.n);
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.load(Ordering::Relaxed);
        f.debug_struct("Semaphore")
            .field("available", &(s >> SHIFT))
            .field("waiters", &(s & WAITERS != 0))
            .field("closed", &(s & CLOSED != 0))
            .finish()
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("count", &self.n).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! Kernel threads only, so these also run under Miri.
    use super::*;
    use std::sync::Arc;

    #[test]
    fn permits_are_conserved_across_threads() {
        let per = if cfg!(miri) { 20 } else { 5_000 };
        let sem = Arc::new(Semaphore::new(2));
        let hs: Vec<_> = (0..3)
            .map(|k| {
                let sem = sem.clone();
                std::thread::spawn(move || {
                    for i in 0..per {
                        let p = sem.acquire(1 + (i + k) % 2).unwrap();
                        std::thread::yield_now();
                        drop(p);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(sem.available_permits(), 2);
    }
}

/// Loom models of the protocol above, run on this file's code and the real parking
/// lot, on loom's atomics, threads and bucket mutex (see `loom.rs`). Permits in use
/// are counted around each hold and checked against the total; a lost wake-up shows
/// up as loom's "deadlock: all threads blocked"; every model ends by checking that the
/// word is back to its full count with `WAITERS` clear.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::model::check;
    use ::loom::thread;
    use std::sync::atomic::AtomicUsize as Count;
    use std::sync::Arc;

    /// Permits held right now, checked against `total` (a plain counter: loom runs
    /// one thread at a time, so it is exact).
    struct Use(Arc<Count>, usize);

    impl Use {
        fn hold(&self, p: &Permit<'_>) {
            let now = self.0.fetch_add(p.count(), Ordering::Relaxed) + p.count();
            assert!(now <= self.1, "{now} permits in use of {}", self.1);
        }
        fn put(&self, p: Permit<'_>) {
            self.0.fetch_sub(p.count(), Ordering::Relaxed);
            drop(p);
        }
    }

    fn full(sem: &Semaphore, permits: usize) {
        assert_eq!(sem.state.load(Ordering::Relaxed), permits << SHIFT);
    }

    /// One permit, two threads: a lock built from a semaphore. Permits conserved,
    /// no lost wake-up.
    #[test]
    fn one_permit_two_threads() {
        check(4, || {
            let sem = Arc::new(Semaphore::new(1));
            let used = Arc::new(Count::new(0));
            let (s2, u2) = (sem.clone(), used.clone());
            let t = thread::spawn(move || {
                let u = Use(u2, 1);
                let p = s2.acquire(1).unwrap();
                u.hold(&p);
                u.put(p);
            });
            let u = Use(used, 1);
            let p = sem.acquire(1).unwrap();
            u.hold(&p);
            u.put(p);
            t.join().unwrap();
            full(&sem, 1);
        });
    }

    /// FIFO hand-off of several permits: a request for 2 and one for 1 against one
    /// permit, plus a release of one more. Whoever queues, the releases hand the
    /// permits out in order and nobody is left asleep.
    #[test]
    fn multi_permit_handoff() {
        check(3, || {
            let sem = Arc::new(Semaphore::new(1));
            let used = Arc::new(Count::new(0));
            let big = {
                let (sem, u) = (sem.clone(), Use(used.clone(), 2));
                thread::spawn(move || {
                    let p = sem.acquire(2).unwrap();
                    u.hold(&p);
                    u.put(p);
                })
            };
            let small = {
                let (sem, u) = (sem.clone(), Use(used.clone(), 2));
                thread::spawn(move || {
                    let p = sem.acquire(1).unwrap();
                    u.hold(&p);
                    u.put(p);
                })
            };
            sem.add_permits(1);
            big.join().unwrap();
            small.join().unwrap();
            full(&sem, 2);
        });
    }

    /// `close` racing a waiter: the waiter fails with `Closed` (it can never get a
    /// permit) and is never left asleep.
    #[test]
    fn close_wakes_waiter() {
        check(4, || {
            let sem = Arc::new(Semaphore::new(0));
            let s2 = sem.clone();
            let t = thread::spawn(move || s2.acquire(1).map(|_| ()));
            sem.close();
            assert_eq!(t.join().unwrap(), Err(AcquireError::Closed));
            assert!(sem.is_closed());
        });
    }

    /// `close` racing a release and two waiters: each waiter gets the one permit or
    /// `Closed`, nobody is left asleep, and the permit is neither lost nor doubled.
    #[test]
    fn close_races_release_and_waiters() {
        check(3, || {
            let sem = Arc::new(Semaphore::new(0));
            let used = Arc::new(Count::new(0));
            let ts: Vec<_> = (0..2)
                .map(|_| {
                    let (sem, u) = (sem.clone(), Use(used.clone(), 1));
                    thread::spawn(move || match sem.acquire(1) {
                        Ok(p) => {
                            u.hold(&p);
                            u.put(p);
                        }
                        Err(e) => assert_eq!(e, AcquireError::Closed),
                    })
                })
                .collect();
            sem.add_permits(1);
            sem.close();
            for t in ts {
                t.join().unwrap();
            }
            assert!(sem.is_closed());
            assert_eq!(sem.available_permits(), 1);
        });
    }

    /// Two releases racing a waiter that gives its permit straight back: the second
    /// release may take the slow path (it saw WAITERS) after the first emptied the
    /// queue, while the waiter's fast-path release runs; no permit may be lost.
    #[test]
    fn slow_release_races_fast_release() {
        check(3, || {
            let sem = Arc::new(Semaphore::new(0));
            let (s2, s3) = (sem.clone(), sem.clone());
            let w = thread::spawn(move || drop(s2.acquire(1).unwrap()));
            let a = thread::spawn(move || s3.add_permits(1));
            sem.add_permits(1);
            w.join().unwrap();
            a.join().unwrap();
            full(&sem, 2);
        });
    }

    /// A timed request whose deadline fires at its first sleep, racing the release
    /// that would satisfy it: it gets the permit or times out, and the permit is
    /// never lost either way (nor `WAITERS` left set).
    #[test]
    fn timeout_races_release() {
        check(4, || {
            let sem = Arc::new(Semaphore::new(0));
            let s2 = sem.clone();
            let t = thread::spawn(move || match s2.acquire_deadline(1, Instant::now()) {
                Ok(p) => drop(p),
                Err(e) => assert_eq!(e, AcquireTimeoutError::TimedOut),
            });
            sem.add_permits(1);
            t.join().unwrap();
            full(&sem, 1);
        });
    }

    /// A large timed request at the head holds back a small one; when it times out,
    /// the small one must be let through (the `release(0)` after a time-out).
    #[test]
    fn timed_out_head_lets_the_next_through() {
        check(4, || {
            let sem = Arc::new(Semaphore::new(1));
            let s2 = sem.clone();
            let big = thread::spawn(move || match s2.acquire_deadline(2, Instant::now()) {
                Ok(_) => panic!("only one permit exists"),
                Err(e) => assert_eq!(e, AcquireTimeoutError::TimedOut),
            });
            let s3 = sem.clone();
            let small = thread::spawn(move || drop(s3.acquire(1).unwrap()));
            big.join().unwrap();
            small.join().unwrap();
            full(&sem, 1);
        });
    }
}
