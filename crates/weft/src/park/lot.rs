//! The parking lot: wait queues keyed by an address, for primitives that keep no queue
//! of their own (a weft `Mutex` is one byte plus its data).
//!
//! Private to the crate: the tokens it hands over mean "you now own the lock" to weft's
//! primitives, so code outside weft must not be able to unpark (or park on) their keys,
//! and its callbacks are weft's own (none may panic: a waiter queued by a panicking
//! `before_sleep` would stay queued).
//!
//! # Algorithm
//!
//! A fixed table of buckets, each a short lock around a FIFO queue of waiters. A key
//! (usually the address of the primitive) hashes to one bucket; waiters of different
//! keys may share a bucket and are told apart by their key.
//!
//! * [`park`] locks the key's bucket, asks the caller's `validate` whether it should
//!   still sleep (the primitive's state cannot change meanwhile in a way that matters,
//!   because every unparker takes the same bucket lock), enqueues the caller, unlocks,
//!   and parks the thread with [`park_on`] until an unparker dequeues
//!   it, or until its deadline.
//! * The `unpark_*` functions lock the bucket, dequeue waiters, let a callback update
//!   the primitive's state *while the bucket is still locked* (so a concurrent `park`
//!   validates against the updated state), hand each dequeued waiter a token (for
//!   example "you now own the lock"), and unpark them after unlocking.
//!
//! # Invariants
//!
//! * A waiter is in a queue exactly while its thread's `queued` flag is set; the flag is
//!   only changed with the bucket locked. An unparker writes the token before clearing
//!   the flag (release), the waiter reads the flag (acquire) before the token.
//! * A waiter that times out takes the bucket lock and removes itself if still queued;
//!   if an unparker dequeued it first, the wake-up (and its token) wins over the
//!   timeout. Either way the waiter leaves exactly once.
//! * Waiter records live in the bucket queue on the heap, never on a green thread's
//!   stack.
//!
//! Callbacks run with a bucket locked: they must be short and must not call into the
//! parking lot (that would deadlock on the bucket lock; it cannot cause memory errors).

use std::collections::VecDeque;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::{park_on, WaitReason};
// Under `--cfg loom` these are loom's (and a model clock and thread): see `loom.rs`.
#[cfg(loom)]
use crate::loom::{current, Thread};
use crate::loom::{AtomicBool, AtomicUsize, Instant, Mutex, MutexGuard, Ordering};
#[cfg(not(loom))]
use crate::{current, thread::Thread};

/// A waiter that has waited longer than this is reported as due for fairness
/// ([`UnparkResult::overdue`]), and primitives hand it the resource directly when the
/// bucket's fairness timer also says so ([`UnparkResult::be_fair`]).
pub const FAIRNESS_BOUND: Duration = Duration::from_micros(500);

#[cfg(not(loom))]
const BUCKET_BITS: u32 = 10;
// Two buckets under loom: every loom mutex costs each execution.
#[cfg(loom)]
const BUCKET_BITS: u32 = 1;

/// Microseconds since a process-wide epoch: a primitive that re-parks after losing a
/// race keeps the stamp of its *first* park in its [`ParkToken`], so its unparkers can
/// see how long it has really waited ([`overdue`]); [`UnparkResult::overdue`] only
/// sees the current park.
#[cfg(not(loom))]
pub fn stamp_now() -> usize {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as usize
}

/// Under loom: the model clock, which starts at zero in every execution.
#[cfg(loom)]
pub fn stamp_now() -> usize {
    Instant::now().micros()
}

/// `true` when a waiter whose first park was stamped `first` (by [`stamp_now`], kept
/// to the low `bits` bits) has waited longer than [`FAIRNESS_BOUND`] at `now`.
pub fn overdue(first: usize, now: usize, bits: u32) -> bool {
    let mask = if bits >= usize::BITS {
        usize::MAX
    } else {
        (1 << bits) - 1
    };
    let age = now.wrapping_sub(first) & mask;
    age as u128 > FAIRNESS_BOUND.as_micros()
}

/// The parking lot's per-thread cell.
#[derive(Debug)]
pub(crate) struct LotCell {
    queued: AtomicBool,
    token: AtomicUsize,
    /// The thread will never run again (a green thread left parked when its runtime
    /// shut down): unparkers drop its queue entry instead of handing it anything, such
    /// as the ownership of a lock it could never release.
    abandoned: AtomicBool,
}

impl LotCell {
    pub(crate) fn new() -> Self {
        LotCell {
            queued: AtomicBool::new(false),
            token: AtomicUsize::new(0),
            abandoned: AtomicBool::new(false),
        }
    }

    /// Marks the thread as never to run again (see `abandoned`).
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }

    /// Whether the thread was abandoned (see `abandoned`): for other wait queues (the
    /// channels') that must not hand such a thread anything either.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Relaxed)
    }
}

/// A value a parking thread leaves with its queue entry, for unparkers to inspect
/// (for example what it waits for: a reader, a writer, a number of permits).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ParkToken(pub usize);

/// A value an unparker hands to a thread it wakes (for example "the lock is yours").
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct UnparkToken(pub usize);

/// How a [`park`] ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use]
pub enum ParkResult {
    /// An unparker dequeued this thread and handed it a token.
    Unparked(UnparkToken),
    /// `validate` said not to sleep.
    Invalid,
    /// The deadline passed first.
    TimedOut,
}

/// What an unpark did, as its callback sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct UnparkResult {
    /// How many threads are being woken.
    pub unparked_threads: usize,
    /// Whether threads remain queued on the key.
    pub have_more_threads: bool,
    /// Whether it is time to be fair: the bucket's fairness timer (a random 0–1 ms,
    /// half a millisecond on average) has run out. A primitive that hands its resource
    /// over only when this is set *and* the woken thread is overdue keeps hand-overs
    /// (each costs a wake-up the new owner must wait for) at a bounded rate, instead of
    /// falling into a convoy of hand-overs once every waiter is overdue.
    pub be_fair: bool,
    /// Whether a thread being woken has waited longer than [`FAIRNESS_BOUND`] since it
    /// last queued (see [`stamp_now`] for the wait since its *first* park).
    pub overdue: bool,
    /// The tokens of waiters dropped from the queue in this call because their runtime
    /// abandoned them (they never run again), or-ed together: a primitive whose state
    /// records something about one of them (a mutex's claim) must forget it.
    pub abandoned_tokens: usize,
    /// How many such abandoned waiters were dropped.
    pub abandoned: usize,
}

/// What an [`unpark_filter`] does with one waiter.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FilterOp {
    /// Wake it.
    Unpark,
    /// Leave it queued and look at the next one.
    Skip,
    /// Leave it and every later waiter queued.
    Stop,
}

struct Waiter {
    key: usize,
    thread: Thread,
    token: ParkToken,
    since: Instant,
}

/// A bucket's queue and its fairness timer.
struct Queue {
    waiters: VecDeque<Waiter>,
    /// When unparkers may next be told to be fair (see [`UnparkResult::be_fair`]).
    fair_at: Instant,
    /// xorshift state for the timer's jitter.
    seed: u32,
}

impl std::ops::Deref for Queue {
    type Target = VecDeque<Waiter>;
    fn deref(&self) -> &VecDeque<Waiter> {
        &self.waiters
    }
}

impl std::ops::DerefMut for Queue {
    fn deref_mut(&mut self) -> &mut VecDeque<Waiter> {
        &mut self.waiters
    }
}

impl Queue {
    /// Whether it is time to be fair; if so, sets the next time, a random 0–2 bounds
    /// ahead (half a millisecond on average, as parking_lot does), so hand-overs, which
    /// cost a wake-up each, come at a bounded rate instead of on every release.
    fn fair_due(&mut self, now: Instant) -> bool {
        if now < self.fair_at {
            return false;
        }
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 17;
        self.seed ^= self.seed << 5;
        let jitter = FAIRNESS_BOUND.as_nanos() as u64 * 2 * u64::from(self.seed % 1024) / 1024;
        self.fair_at = now.checked_add(Duration::from_nanos(jitter)).unwrap_or(now);
        true
    }
}

struct Bucket {
    queue: Mutex<Queue>,
}

fn new_table() -> Box<[CachePadded<Bucket>]> {
    let now = Instant::now();
    (0..1usize << BUCKET_BITS)
        .map(|i| {
            CachePadded::new(Bucket {
                queue: Mutex::new(Queue {
                    waiters: VecDeque::new(),
                    fair_at: now,
                    seed: 0x9E37_79B9 ^ (i as u32).wrapping_mul(0x85EB_CA6B) | 1,
                }),
            })
        })
        .collect()
}

#[cfg(not(loom))]
#[inline]
fn table() -> &'static [CachePadded<Bucket>] {
    static TABLE: std::sync::OnceLock<Box<[CachePadded<Bucket>]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(new_table)
}

// Under loom the table (of loom mutexes) is made afresh for every execution.
#[cfg(loom)]
fn table() -> &'static [CachePadded<Bucket>] {
    ::loom::lazy_static! {
        static ref TABLE: Box<[CachePadded<Bucket>]> = new_table();
    }
    &TABLE
}

/// Creates this execution's table (see `loom::model::check`).
#[cfg(loom)]
pub(crate) fn touch_table() {
    let _ = table();
}

fn bucket(key: usize) -> &'static Bucket {
    let table = table();
    // Fibonacci hashing of the key.
    let h = (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BUCKET_BITS);
    &table[h as usize]
}

/// Locks a bucket, in a critical section (`critical.rs`: a green thread is never
/// preempted while it holds one).
fn lock(b: &Bucket) -> crate::critical::Held<MutexGuard<'_, Queue>> {
    // Callbacks cannot poison a bucket in a way that matters: the queue is consistent
    // between operations.
    crate::critical::Held::take(|| b.queue.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Parks the current thread (green or kernel) in the queue of `key`.
///
/// * `validate` runs with the bucket locked; returning `false` returns
///   [`ParkResult::Invalid`] at once without sleeping.
/// * `before_sleep` runs after the thread is queued and the bucket unlocked (a condition
///   variable releases its mutex here).
/// * `timed_out(key, was_last)` runs with the bucket locked when the deadline passes and
///   the thread removes itself; `was_last` says no other waiter of `key` remains.
pub fn park(
    key: usize,
    reason: &'static WaitReason,
    token: ParkToken,
    validate: impl FnOnce() -> bool,
    before_sleep: impl FnOnce(),
    timed_out: impl FnOnce(usize, bool),
    deadline: Option<Instant>,
) -> ParkResult {
    park_at(
        false,
        key,
        reason,
        token,
        validate,
        before_sleep,
        timed_out,
        deadline,
    )
}

/// Like [`park`], but queues the thread *first* among the waiters of `key`: for a
/// thread that was woken, lost the race for the resource to a newcomer, and parks
/// again. Queued at the back it would wait behind everyone who came after it; at the
/// front it keeps (about) the place it had.
pub fn repark(
    key: usize,
    reason: &'static WaitReason,
    token: ParkToken,
    validate: impl FnOnce() -> bool,
    before_sleep: impl FnOnce(),
    timed_out: impl FnOnce(usize, bool),
    deadline: Option<Instant>,
) -> ParkResult {
    park_at(
        true,
        key,
        reason,
        token,
        validate,
        before_sleep,
        timed_out,
        deadline,
    )
}

#[allow(clippy::too_many_arguments)]
fn park_at(
    front: bool,
    key: usize,
    reason: &'static WaitReason,
    token: ParkToken,
    validate: impl FnOnce() -> bool,
    before_sleep: impl FnOnce(),
    timed_out: impl FnOnce(usize, bool),
    deadline: Option<Instant>,
) -> ParkResult {
    let me = current();
    let b = bucket(key);
    {
        let mut q = lock(b);
        if !validate() {
            return ParkResult::Invalid;
        }
        me.inner.lot.queued.store(true, Ordering::Relaxed);
        let w = Waiter {
            key,
            thread: me.clone(),
            token,
            since: Instant::now(),
        };
        if front {
            // Before the first waiter of this key (other keys' order is irrelevant).
            let at = q.iter().position(|x| x.key == key).unwrap_or(q.len());
            q.insert(at, w);
        } else {
            q.push_back(w);
        }
    }
    before_sleep();
    let cell = &me.inner.lot;
    loop {
        if !cell.queued.load(Ordering::Acquire) {
            return ParkResult::Unparked(UnparkToken(cell.token.load(Ordering::Relaxed)));
        }
        let _ = park_on(reason, deadline);
        // Only the clock decides a time-out: a park may return early for any reason.
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let mut q = lock(b);
            if cell.queued.load(Ordering::Relaxed) {
                let at = q
                    .iter()
                    .position(|w| w.key == key && w.thread.id() == me.id())
                    .expect("a queued thread is in its bucket");
                q.remove(at);
                let was_last = !q.iter().any(|w| w.key == key);
                timed_out(key, was_last);
                cell.queued.store(false, Ordering::Relaxed);
                return ParkResult::TimedOut;
            }
            // An unparker dequeued us first: its wake-up wins.
            drop(q);
            return ParkResult::Unparked(UnparkToken(cell.token.load(Ordering::Acquire)));
        }
    }
}

/// Wakes the waiters of `key` that `filter` picks, in queue order. `callback` runs
/// with the bucket locked, after the choice and before anyone wakes, and returns the
/// token every woken thread receives. Returns the number woken.
pub fn unpark_filter(
    key: usize,
    mut filter: impl FnMut(ParkToken) -> FilterOp,
    callback: impl FnOnce(UnparkResult) -> UnparkToken,
) -> usize {
    let b = bucket(key);
    let mut woken = Vec::new();
    let mut q = lock(b);
    let now = Instant::now();
    let mut overdue = false;
    let mut abandoned_tokens = 0;
    let mut abandoned = 0;
    let mut i = 0;
    while i < q.len() {
        if q[i].key != key {
            i += 1;
            continue;
        }
        if q[i].thread.inner.lot.abandoned.load(Ordering::Relaxed) {
            // Gone for good: out of the queue, offered nothing (its `queued` flag is never
            // looked at again).
            abandoned_tokens |= q[i].token.0;
            abandoned += 1;
            q.remove(i);
            continue;
        }
        match filter(q[i].token) {
            FilterOp::Unpark => {
                let w = q.remove(i).expect("index in range");
                overdue |= now.duration_since(w.since) > FAIRNESS_BOUND;
                woken.push(w.thread);
            }
            FilterOp::Skip => i += 1,
            FilterOp::Stop => break,
        }
    }
    let be_fair = !woken.is_empty() && q.fair_due(now);
    let result = UnparkResult {
        unparked_threads: woken.len(),
        have_more_threads: q.iter().any(|w| w.key == key),
        be_fair,
        overdue,
        abandoned_tokens,
        abandoned,
    };
    let token = callback(result);
    for t in &woken {
        t.inner.lot.token.store(token.0, Ordering::Relaxed);
        t.inner.lot.queued.store(false, Ordering::Release);
    }
    drop(q);
    for t in &woken {
        t.unpark();
    }
    woken.len()
}

/// Wakes the first waiter of `key`, if any. See [`unpark_filter`] for `callback`.
pub fn unpark_one(key: usize, callback: impl FnOnce(UnparkResult) -> UnparkToken) -> usize {
    let mut taken = false;
    unpark_filter(
        key,
        |_| {
            if taken {
                FilterOp::Stop
            } else {
                taken = true;
                FilterOp::Unpark
            }
        },
        callback,
    )
}

/// Wakes every waiter of `key`, handing each `token`. Returns how many.
pub fn unpark_all(key: usize, token: UnparkToken) -> usize {
    unpark_filter(key, |_| FilterOp::Unpark, |_| token)
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! Also run under Miri (kernel threads only).
    use super::*;
    use std::sync::Arc;

    static TEST: WaitReason = WaitReason::new("lot test");

    #[test]
    fn park_validate_and_timeout() {
        let key = 0x1000;
        let r = park(key, &TEST, ParkToken(0), || false, || {}, |_, _| {}, None);
        assert_eq!(r, ParkResult::Invalid);
        let mut last = None;
        let r = park(
            key,
            &TEST,
            ParkToken(0),
            || true,
            || {},
            |_, was_last| last = Some(was_last),
            Some(Instant::now() + Duration::from_millis(5)),
        );
        assert_eq!(r, ParkResult::TimedOut);
        assert_eq!(last, Some(true));
        assert_eq!(
            unpark_one(key, |r| {
                assert_eq!(r.unparked_threads, 0);
                UnparkToken(0)
            }),
            0
        );
    }

    #[test]
    fn unpark_hands_tokens_in_fifo_order() {
        let key = 0x2000;
        let n = if cfg!(miri) { 3 } else { 8 };
        let queued = Arc::new(AtomicUsize::new(0));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut hs = Vec::new();
        for i in 0..n {
            let (q2, order) = (queued.clone(), order.clone());
            // Enqueue one at a time so the queue order is known.
            hs.push(std::thread::spawn(move || {
                let r = park(
                    key,
                    &TEST,
                    ParkToken(i),
                    || true,
                    || {
                        q2.fetch_add(1, Ordering::SeqCst);
                    },
                    |_, _| {},
                    None,
                );
                order.lock().unwrap().push(i);
                r
            }));
            while queued.load(Ordering::SeqCst) != i + 1 {
                std::thread::yield_now();
            }
        }
        for i in 0..n {
            let mut seen = None;
            let woke = unpark_filter(
                key,
                |t| {
                    if seen.is_none() {
                        seen = Some(t.0);
                        FilterOp::Unpark
                    } else {
                        FilterOp::Stop
                    }
                },
                |r| {
                    assert_eq!(r.have_more_threads, i + 1 < n);
                    UnparkToken(100 + i)
                },
            );
            assert_eq!(woke, 1);
            assert_eq!(seen, Some(i), "first in, first out");
        }
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(
                h.join().unwrap(),
                ParkResult::Unparked(UnparkToken(100 + i))
            );
        }
    }
}
