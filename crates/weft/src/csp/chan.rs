//! The channel: one lock-protected state per channel, wait queues of heap waiter records,
//! and the typed [`Sender`]/[`Receiver`] ends. The algorithm is described in the module
//! docs of [`crate::csp`].

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use super::counted::{self, End, Ends};
use super::error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use super::landing::{self, LANDING};
use super::waiter::{self, done, stash, Outcome, WaitRef, Waiter, Waker};
// Under `--cfg loom` these are loom's atomics, model thread and model clock (`loom.rs`).
use crate::loom::Instant;
#[cfg(loom)]
use crate::loom::Thread;
use crate::park::WaitReason;
use crate::sync::SpinLock;
#[cfg(not(loom))]
use crate::thread::Thread;

/// One unit of the cooperative budget (nothing under loom, which has no runtime).
#[inline]
pub(crate) fn spend() {
    #[cfg(not(loom))]
    crate::runtime::coop::spend();
}

pub(crate) static SEND: WaitReason = WaitReason::new("channel send");
pub(crate) static RECV: WaitReason = WaitReason::new("channel receive");

/// The capacity that stands for "unbounded".
const UNBOUNDED: u32 = u32::MAX;

/// A registration in a wait queue: whose (the waiting thread, see `waiter.rs`), for
/// which case of its operation, and (for a sender) the value it offers.
pub(crate) struct Entry<T> {
    pub(crate) w: WaitRef,
    pub(crate) case: usize,
    pub(crate) value: Option<T>,
}

/// A collection allocated on first use (see [`Extras`]).
pub(crate) struct Lazy<C>(Option<Box<C>>);

impl<C> Default for Lazy<C> {
    fn default() -> Self {
        Lazy(None)
    }
}

impl<C: Default> Lazy<C> {
    /// The collection, allocated if it was not yet.
    #[inline]
    fn get_mut(&mut self) -> &mut C {
        self.0.get_or_insert_with(Box::default)
    }
}

/// The parts of a channel's state that a rendezvous with at most one blocked process
/// on each side never needs, allocated together on first use: such a channel (a
/// million of them, each with one process blocked on it) allocates nothing but itself.
pub(crate) struct Extras<T> {
    buf: VecDeque<T>,
    /// Values addressed to one waiter record's case: a value handed to a claimed
    /// receiver, or a sender's value handed back (claimed on disconnection, or found
    /// already committed or aborted by a partner). Keyed by (token, case); the owner
    /// always takes its values out before its operation returns.
    stash: Vec<(usize, usize, T)>,
    /// Blocked senders after the first, oldest first.
    senders: VecDeque<Entry<T>>,
    /// Blocked receivers after the first, oldest first.
    receivers: VecDeque<Entry<T>>,
}

impl<T> Default for Extras<T> {
    fn default() -> Self {
        Extras {
            buf: VecDeque::new(),
            stash: Vec::new(),
            senders: VecDeque::new(),
            receivers: VecDeque::new(),
        }
    }
}

/// Which of a channel's two wait queues.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    /// Blocked senders (and `select` send cases); each entry holds its value.
    Tx,
    /// Blocked receivers (and `select` receive cases).
    Rx,
}

/// Everything the channel's lock protects.
///
/// Each wait queue is FIFO. The oldest entry of one of them may be kept inline
/// (`inline`) when it carries no value (a plain receive, or a plain send whose value
/// waits in its owner's landing, `landing.rs`); the other entries are in [`Extras`].
/// An inline entry is older than every entry of its queue in [`Extras`]: an entry goes
/// inline only when its queue is empty. An idle `Chan<u64>` is 32 bytes, 40 with the
/// ends' counts (`counted.rs`): malloc's 48-byte class, with or without one blocked
/// process (crossbeam's zero-capacity channel takes 160 bytes idle).
pub(crate) struct State<T> {
    extras: Lazy<Extras<T>>,
    /// The oldest entry of queue `inline_side`, when it is a plain operation's.
    inline: Option<WaitRef>,
    inline_side: Side,
    /// The buffer's capacity; [`UNBOUNDED`] for no limit.
    cap: u32,
    /// No more sends: `close` was called or every sender is gone.
    closed: bool,
    /// Every receiver is gone.
    rx_gone: bool,
}

impl<T> State<T> {
    #[inline(always)]
    fn rest(&mut self, side: Side) -> Option<&mut VecDeque<Entry<T>>> {
        let x = self.extras.0.as_deref_mut()?;
        Some(match side {
            Side::Tx => &mut x.senders,
            Side::Rx => &mut x.receivers,
        })
    }

    /// Queues an entry at the back.
    #[inline(always)]
    fn push_waiter(&mut self, side: Side, e: Entry<T>) {
        if self.inline.is_none()
            && e.case == LANDING
            && e.value.is_none()
            && self.rest(side).is_none_or(|r| r.is_empty())
        {
            self.inline = Some(e.w);
            self.inline_side = side;
            return;
        }
        let x = self.extras.get_mut();
        match side {
            Side::Tx => x.senders.push_back(e),
            Side::Rx => x.receivers.push_back(e),
        }
    }

    /// Takes the oldest entry out.
    #[inline(always)]
    fn pop_waiter(&mut self, side: Side) -> Option<Entry<T>> {
        if self.inline_side == side {
            if let Some(w) = self.inline.take() {
                return Some(Entry {
                    w,
                    case: LANDING,
                    value: None,
                });
            }
        }
        self.rest(side)?.pop_front()
    }

    /// The owners of the queued entries, oldest first.
    fn waiters(&self, side: Side) -> impl Iterator<Item = &WaitRef> {
        let x = self.extras.0.as_deref();
        let rest = match side {
            Side::Tx => x.map(|x| &x.senders),
            Side::Rx => x.map(|x| &x.receivers),
        };
        let inline = self.inline.as_ref().filter(|_| self.inline_side == side);
        inline
            .into_iter()
            .chain(rest.into_iter().flatten().map(|e| &e.w))
    }

    /// Takes out `w`'s entry for `case`, if it is queued.
    fn remove_waiter(&mut self, side: Side, w: &Thread, case: usize) -> Option<Entry<T>> {
        if self.inline_side == side
            && case == LANDING
            && self.inline.as_ref().is_some_and(|i| i.same(w))
        {
            return self.pop_waiter(side);
        }
        let rest = self.rest(side)?;
        let i = rest.iter().position(|e| e.w.same(w) && e.case == case)?;
        rest.remove(i)
    }

    /// Empties a queue; the entries, oldest first.
    fn take_waiters(&mut self, side: Side) -> Vec<Entry<T>> {
        let mut all: Vec<Entry<T>> = Vec::new();
        if self.inline_side == side {
            all.extend(self.inline.take().map(|w| Entry {
                w,
                case: LANDING,
                value: None,
            }));
        }
        if let Some(rest) = self.rest(side) {
            all.extend(rest.drain(..));
        }
        all
    }

    #[inline(always)]
    fn buf_len(&self) -> usize {
        self.extras.0.as_ref().map_or(0, |x| x.buf.len())
    }

    #[inline(always)]
    fn buf_push(&mut self, v: T) {
        self.extras.get_mut().buf.push_back(v);
    }

    #[inline(always)]
    fn buf_pop(&mut self) -> Option<T> {
        self.extras.0.as_mut()?.buf.pop_front()
    }

    #[inline]
    fn stash_push(&mut self, token: usize, case: usize, v: T) {
        self.extras.get_mut().stash.push((token, case, v));
    }
}

/// The shared part of a channel, behind its ends' counts (`counted.rs`).
pub(crate) struct Chan<T> {
    state: SpinLock<State<T>>,
}

impl<T> Ends for Chan<T> {
    fn last_sender_gone(&self) {
        self.close();
    }

    fn last_receiver_gone(&self) {
        self.disconnect_receivers();
    }
}

/// Why a non-blocking or timed send failed.
pub(crate) enum SendFail<T> {
    Full(T),
    Disconnected(T),
}

/// Why a non-blocking or timed receive failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RecvFail {
    Empty,
    Disconnected,
}

/// How long an operation may wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// Not at all (`try_`).
    Never,
    /// Until this deadline, or for ever (`None`).
    Until(Option<Instant>),
}

impl<T> State<T> {
    /// Hands `v` to the oldest claimable receiver, stashing it under the receiver's
    /// token; gives `v` back when no receiver can be claimed. Stale entries (whose
    /// owners committed elsewhere or aborted) are dropped on the way.
    #[inline(always)]
    fn give_to_receiver(&mut self, mut v: T) -> Result<Waker, T> {
        while let Some(e) = self.pop_waiter(Side::Rx) {
            // An abandoned receiver never runs again: its entry is dropped, unclaimed.
            if e.w.is_abandoned() {
                continue;
            }
            if e.case == LANDING && landing::fits::<T>() {
                // Write, then claim (`landing.rs`, rule 2).
                // SAFETY: `T` fits; we hold this channel's lock, the only one under
                // which the entry's landing is written (a plain receive is queued on
                // this channel alone), and the entry we removed is the operation's
                // only one, so the landing is empty (rules 1 and 4).
                unsafe { e.w.landing().put(v) };
                if let Some(waker) = e.w.claim(stash(LANDING)) {
                    return Ok(waker);
                }
                // SAFETY: the owner aborted, so it never reads the landing for this
                // operation, and it cannot leave before it takes this lock (rule 2);
                // it holds the value we just wrote.
                v = unsafe { e.w.landing().take() };
            } else if let Some(waker) = e.w.claim(stash(e.case)) {
                self.stash_push(e.w.token(), e.case, v);
                return Ok(waker);
            }
        }
        Err(v)
    }

    /// Takes the value of the oldest claimable sender. The values of stale entries go to
    /// the stash, where their owners find them (or stay in their owners' landings).
    #[inline(always)]
    fn take_from_sender(&mut self) -> Option<(T, Waker)> {
        while let Some(mut e) = self.pop_waiter(Side::Tx) {
            if e.case == LANDING && landing::fits::<T>() {
                // Take, then claim (`landing.rs`, rule 2).
                // SAFETY: a plain send's entry with the case `LANDING` has its value in
                // its owner's landing, written before the entry was queued under this
                // lock, which we hold; we removed the operation's only entry, so no one
                // else takes it.
                let v = unsafe { e.w.landing().take::<T>() };
                if let Some(waker) = e.w.claim(done(LANDING)) {
                    return Some((v, waker));
                }
                // SAFETY: the owner aborted; it takes its value back only under this
                // lock, after we release it, and we just emptied the landing.
                unsafe { e.w.landing().put(v) };
                continue;
            }
            let v = e.value.take().expect("a sender's entry holds its value");
            if let Some(waker) = e.w.claim(done(e.case)) {
                return Some((v, waker));
            }
            self.stash_push(e.w.token(), e.case, v);
        }
        None
    }

    fn take_stash(&mut self, token: usize, case: usize) -> Option<T> {
        let stash = &mut self.extras.0.as_mut()?.stash;
        let i = stash
            .iter()
            .position(|&(t, c, _)| t == token && c == case)?;
        Some(stash.swap_remove(i).2)
    }

    /// Removes a receive registration, if it is still queued.
    fn remove_receiver(&mut self, w: &Thread, case: usize) {
        self.remove_waiter(Side::Rx, w, case);
    }

    /// Removes a send registration that holds its value and gives the value back: from
    /// the queue, or from the stash where a partner that found it stale left it.
    fn remove_sender(&mut self, w: &Thread, case: usize) -> Option<T> {
        if let Some(e) = self.remove_waiter(Side::Tx, w, case) {
            return e.value;
        }
        self.take_stash(w.token(), case)
    }
}

/// Wakes the owners of claimed records; called after the lock is released.
fn wake_all(ts: Vec<Waker>) {
    for t in ts {
        t.wake();
    }
}

impl<T> Chan<T> {
    fn new(cap: u32) -> Self {
        Chan {
            state: SpinLock::new(State {
                extras: Lazy::default(),
                inline: None,
                inline_side: Side::Rx,
                cap,
                closed: false,
                rx_gone: false,
            }),
        }
    }

    /// The capacity: `None` for unbounded.
    fn capacity(&self) -> Option<usize> {
        let cap = self.state.lock_unmarked().cap;
        (cap != UNBOUNDED).then_some(cap as usize)
    }

    /// The non-blocking part of a send, under the lock. `Ok(Some(w))`: handed to the
    /// receiver `w`, which the caller wakes after unlocking.
    #[inline(always)]
    fn send_now(&self, st: &mut State<T>, v: T) -> Result<Option<Waker>, SendFail<T>> {
        if st.closed || st.rx_gone {
            return Err(SendFail::Disconnected(v));
        }
        let v = match st.give_to_receiver(v) {
            Ok(w) => return Ok(Some(w)),
            Err(v) => v,
        };
        if st.buf_len() < st.cap as usize {
            st.buf_push(v);
            return Ok(None);
        }
        Err(SendFail::Full(v))
    }

    /// The non-blocking part of a receive, under the lock. The second value is a sender
    /// to wake after unlocking.
    #[inline(always)]
    fn recv_now(&self, st: &mut State<T>) -> Result<(T, Option<Waker>), RecvFail> {
        if let Some(v) = st.buf_pop() {
            // A slot came free: the oldest blocked sender's value takes it.
            let woken = st.take_from_sender().map(|(sv, t)| {
                st.buf_push(sv);
                t
            });
            return Ok((v, woken));
        }
        if let Some((v, t)) = st.take_from_sender() {
            return Ok((v, Some(t)));
        }
        if st.closed {
            return Err(RecvFail::Disconnected);
        }
        Err(RecvFail::Empty)
    }

    /// A send, spending one unit of the cooperative budget.
    #[inline(always)]
    pub(crate) fn send(&self, v: T, wait: Wait) -> Result<(), SendFail<T>> {
        spend();
        self.send_unmetered(v, wait)
    }

    /// A send that spends nothing (a `select` spends once for all its cases).
    #[inline(always)]
    pub(crate) fn send_unmetered(&self, v: T, wait: Wait) -> Result<(), SendFail<T>> {
        let mut st = self.state.lock_unmarked();
        let v = match self.send_now(&mut st, v) {
            Ok(woken) => {
                drop(st);
                if let Some(t) = woken {
                    t.wake();
                }
                return Ok(());
            }
            Err(SendFail::Full(v)) => v,
            Err(e) => return Err(e),
        };
        let deadline = match wait {
            Wait::Never => return Err(SendFail::Full(v)),
            Wait::Until(d) if d.is_some_and(|d| d <= Instant::now()) => {
                return Err(SendFail::Full(v))
            }
            Wait::Until(d) => d,
        };
        let w = waiter::begin();
        let entry = if landing::fits::<T>() {
            // SAFETY: `T` fits; the landing is our own and empty (`landing.rs`, rule 4),
            // and we hold the lock of the one channel this operation is queued on.
            unsafe { w.inner.landing.put(v) };
            Entry {
                w: WaitRef::new(&w),
                case: LANDING,
                value: None,
            }
        } else {
            Entry {
                w: WaitRef::new(&w),
                case: 0,
                value: Some(v),
            }
        };
        st.push_waiter(Side::Tx, entry);
        drop(st);
        match w.wait(&SEND, deadline) {
            Outcome::Selected(_, false) => Ok(()),
            Outcome::Selected(_, true) if landing::fits::<T>() => {
                // SAFETY: `STASH(LANDING)`: the channel handed our value back, which is
                // still in our landing (a partner takes it only to complete the send,
                // and it did not); no partner touches it after the claim.
                Err(SendFail::Disconnected(unsafe {
                    w.inner.landing.take::<T>()
                }))
            }
            Outcome::Selected(_, true) => {
                let v = self.state.lock_unmarked().take_stash(w.token(), 0);
                Err(SendFail::Disconnected(v.expect("a handed-back value")))
            }
            Outcome::Aborted if landing::fits::<T>() => {
                let mut st = self.state.lock_unmarked();
                st.remove_waiter(Side::Tx, &w, LANDING);
                // SAFETY: we aborted, so no partner completed the send: the value is in
                // our landing (a partner that took it to claim, and lost, put it back
                // under this lock, which we now hold, and no entry of ours is left).
                let v = unsafe { w.inner.landing.take::<T>() };
                drop(st);
                Err(SendFail::Full(v))
            }
            Outcome::Aborted => {
                let v = self.state.lock_unmarked().remove_sender(&w, 0);
                Err(SendFail::Full(v.expect("an aborted sender's value")))
            }
        }
    }

    /// A receive, spending one unit of the cooperative budget.
    #[inline(always)]
    pub(crate) fn recv(&self, wait: Wait) -> Result<T, RecvFail> {
        spend();
        self.recv_unmetered(wait)
    }

    /// A receive that spends nothing (a `select` spends once for all its cases).
    #[inline(always)]
    pub(crate) fn recv_unmetered(&self, wait: Wait) -> Result<T, RecvFail> {
        let mut st = self.state.lock_unmarked();
        match self.recv_now(&mut st) {
            Ok((v, woken)) => {
                drop(st);
                if let Some(t) = woken {
                    t.wake();
                }
                return Ok(v);
            }
            Err(RecvFail::Empty) => {}
            Err(e) => return Err(e),
        }
        let deadline = match wait {
            Wait::Never => return Err(RecvFail::Empty),
            Wait::Until(d) if d.is_some_and(|d| d <= Instant::now()) => {
                return Err(RecvFail::Empty)
            }
            Wait::Until(d) => d,
        };
        let w = waiter::begin();
        st.push_waiter(
            Side::Rx,
            Entry {
                w: WaitRef::new(&w),
                case: LANDING,
                value: None,
            },
        );
        drop(st);
        match w.wait(&RECV, deadline) {
            Outcome::Selected(_, true) if landing::fits::<T>() => {
                // SAFETY: the wait returned `STASH(LANDING)`: a partner wrote a `T`
                // into our landing before its claim, which our wait acquired, and
                // nobody touches the landing again for this operation (`landing.rs`,
                // rule 3).
                Ok(unsafe { w.inner.landing.take::<T>() })
            }
            Outcome::Selected(_, true) => {
                let v = self.state.lock_unmarked().take_stash(w.token(), LANDING);
                Ok(v.expect("a value handed to a claimed receiver"))
            }
            Outcome::Selected(_, false) => Err(RecvFail::Disconnected),
            Outcome::Aborted => {
                self.state.lock_unmarked().remove_receiver(&w, LANDING);
                Err(RecvFail::Empty)
            }
        }
    }

    /// No more sends: wakes every receiver (they drain the buffer, then see the end)
    /// and hands every blocked sender its value back. `false` if already closed.
    fn close(&self) -> bool {
        let mut st = self.state.lock_unmarked();
        if st.closed {
            return false;
        }
        st.closed = true;
        let mut woken = Vec::new();
        for e in st.take_waiters(Side::Rx) {
            if e.w.is_abandoned() {
                continue;
            }
            if let Some(waker) = e.w.claim(done(e.case)) {
                woken.push(waker);
            }
        }
        let orphans = Self::hand_back_senders(&mut st, &mut woken);
        drop(st);
        wake_all(woken);
        drop(orphans);
        true
    }

    /// Hands every blocked sender its value back. Returns the values of senders whose
    /// runtime abandoned them (they never run again), for the caller to drop once the
    /// lock is released.
    fn hand_back_senders(st: &mut State<T>, woken: &mut Vec<Waker>) -> Vec<T> {
        let mut orphans = Vec::new();
        for mut e in st.take_waiters(Side::Tx) {
            if e.case == LANDING && landing::fits::<T>() {
                if e.w.is_abandoned() {
                    // SAFETY: a plain send's `LANDING` entry has its value in its
                    // owner's landing, and we removed the operation's only entry under
                    // the lock we hold; the owner never runs again (abandoned), so no
                    // one else reads that landing.
                    orphans.push(unsafe { e.w.landing().take::<T>() });
                    continue;
                }
                // The value stays in the owner's landing, which `STASH(LANDING)` tells
                // it to take back; if the claim fails, the owner aborted and takes it
                // back itself.
                if let Some(waker) = e.w.claim(stash(LANDING)) {
                    woken.push(waker);
                }
                continue;
            }
            let v = e.value.take().expect("a sender's entry holds its value");
            st.stash_push(e.w.token(), e.case, v);
            if let Some(waker) = e.w.claim(stash(e.case)) {
                woken.push(waker);
            }
        }
        orphans
    }

    /// The last receiver is gone: blocked senders get their values back, buffered values
    /// are dropped (after the lock is released: a destructor may use the channel).
    fn disconnect_receivers(&self) {
        let mut st = self.state.lock_unmarked();
        st.rx_gone = true;
        let buffered = st.extras.0.as_mut().map(|x| std::mem::take(&mut x.buf));
        let mut woken = Vec::new();
        let orphans = Self::hand_back_senders(&mut st, &mut woken);
        drop(st);
        wake_all(woken);
        drop(orphans);
        drop(buffered);
    }

    // ---- for `select` ----

    /// `select`'s registration of a receive case: `true` (and no registration) when the
    /// case is ready now, ignoring `w`'s own send entries.
    pub(crate) fn register_recv(&self, w: &Thread, case: usize) -> bool {
        let mut st = self.state.lock_unmarked();
        let ready = st.buf_len() > 0
            || st.closed
            || st
                .waiters(Side::Tx)
                // An abandoned sender's value is still taken (its send never returns):
                // only a receiver must not be handed anything once abandoned.
                .any(|o| !o.same(w) && o.is_waiting());
        if !ready {
            st.push_waiter(
                Side::Rx,
                Entry {
                    w: WaitRef::new(w),
                    case,
                    value: None,
                },
            );
        }
        ready
    }

    /// `select`'s registration of a send case; `Err(v)` (not registered) when the case
    /// is ready now, ignoring `w`'s own receive entries.
    pub(crate) fn register_send(&self, w: &Thread, case: usize, v: T) -> Result<(), T> {
        let mut st = self.state.lock_unmarked();
        let ready = st.closed
            || st.rx_gone
            || st.buf_len() < st.cap as usize
            || st.waiters(Side::Rx).any(|o| !o.same(w) && o.is_claimable());
        if ready {
            return Err(v);
        }
        st.push_waiter(
            Side::Tx,
            Entry {
                w: WaitRef::new(w),
                case,
                value: Some(v),
            },
        );
        Ok(())
    }

    pub(crate) fn unregister_recv(&self, w: &Thread, case: usize) {
        self.state.lock_unmarked().remove_receiver(w, case);
    }

    pub(crate) fn unregister_send(&self, w: &Thread, case: usize) -> Option<T> {
        self.state.lock_unmarked().remove_sender(w, case)
    }

    /// Takes the value stashed for (`token`, `case`).
    pub(crate) fn take_stashed(&self, token: usize, case: usize) -> Option<T> {
        self.state.lock_unmarked().take_stash(token, case)
    }

    /// Leaves `v` in the stash under (`token`, `case`).
    pub(crate) fn put_stashed(&self, token: usize, case: usize, v: T) {
        self.state.lock_unmarked().stash_push(token, case, v);
    }
}

/// Creates a **rendezvous** channel (capacity 0): a send completes only when a receiver
/// takes the value, CSP's synchronous communication.
///
/// ```
/// let (tx, rx) = weft::csp::channel();
/// let h = weft::spawn(move || tx.send("ping").unwrap()); // waits for the receiver
/// assert_eq!(rx.recv(), Ok("ping"));
/// h.join().unwrap();
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    bounded(0)
}

/// Creates a channel buffering up to `cap` values; a send waits while the buffer is
/// full. `bounded(0)` is [`channel`], the rendezvous. A capacity of 2³² − 1 or more is
/// kept as unbounded (as [`unbounded`]; `capacity()` then says `None`): the capacity is
/// stored in 32 bits to keep a channel in 40 bytes.
///
/// ```
/// let (tx, rx) = weft::csp::bounded(2);
/// tx.send(1).unwrap();
/// tx.send(2).unwrap(); // buffered: no receiver needed yet
/// assert!(tx.try_send(3).is_err());
/// assert_eq!(rx.recv(), Ok(1));
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    // The capacity is kept in 32 bits; larger ones mean unbounded (documented above).
    let cap = u32::try_from(cap).unwrap_or(UNBOUNDED);
    let (tx, rx) = counted::pair(Chan::new(cap));
    (Sender { chan: tx }, Receiver { chan: rx })
}

/// Creates a channel with an unbounded buffer: a send never waits.
///
/// ```
/// let (tx, rx) = weft::csp::unbounded();
/// for i in 0..1000 {
///     tx.send(i).unwrap();
/// }
/// drop(tx);
/// assert_eq!(rx.iter().sum::<i32>(), 999 * 1000 / 2);
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    bounded(usize::MAX)
}

/// The sending end of a channel. Clone it for more senders (MPMC); the channel
/// disconnects for receivers when the last one is dropped (or on [`Sender::close`]).
///
/// ```
/// let (tx, rx) = weft::csp::unbounded();
/// let tx2 = tx.clone();
/// tx.send(1).unwrap();
/// tx2.send(2).unwrap();
/// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
/// ```
pub struct Sender<T> {
    pub(crate) chan: End<Chan<T>, true>,
}

/// The receiving end of a channel. Clone it for more receivers (MPMC: each value goes
/// to exactly one of them); the channel disconnects for senders when the last one is
/// dropped.
///
/// ```
/// let (tx, rx) = weft::csp::bounded(4);
/// let rx2 = rx.clone();
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// assert_eq!(rx.recv().unwrap() + rx2.recv().unwrap(), 3);
/// ```
pub struct Receiver<T> {
    pub(crate) chan: End<Chan<T>, false>,
}

fn deadline_after(timeout: Duration) -> Option<Instant> {
    // `None` (wait for ever) when the deadline is not representable: Duration::MAX.
    Instant::now().checked_add(timeout)
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full (on a rendezvous channel: until
    /// a receiver takes it).
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value when the channel is closed or every receiver is
    /// gone, also when that happens while waiting.
    ///
    /// ```
    /// let (tx, rx) = weft::csp::bounded(1);
    /// tx.send(5).unwrap();
    /// drop(rx);
    /// assert_eq!(tx.send(6).unwrap_err().into_inner(), 6);
    /// ```
    #[inline(always)]
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        match self.chan.send(value, Wait::Until(None)) {
            Ok(()) => Ok(()),
            Err(SendFail::Disconnected(v) | SendFail::Full(v)) => Err(SendError(v)),
        }
    }

    /// Sends `value` if that needs no waiting: there is room in the buffer, or (on a
    /// rendezvous channel) a receiver is already waiting.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] or [`TrySendError::Disconnected`], with the value.
    ///
    /// ```
    /// use weft::csp::TrySendError;
    /// let (tx, rx) = weft::csp::channel();
    /// assert_eq!(tx.try_send(1), Err(TrySendError::Full(1))); // no receiver waits
    /// drop(rx);
    /// assert_eq!(tx.try_send(1), Err(TrySendError::Disconnected(1)));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.send(value, Wait::Never).map_err(|e| match e {
            SendFail::Full(v) => TrySendError::Full(v),
            SendFail::Disconnected(v) => TrySendError::Disconnected(v),
        })
    }

    /// Like [`send`](Self::send), giving up after `timeout`. `Duration::MAX` (or any
    /// timeout past the clock's range) waits for ever.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] or [`SendTimeoutError::Disconnected`], with the
    /// value.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (tx, rx) = weft::csp::channel();
    /// let h = weft::spawn(move || rx.recv().unwrap());
    /// tx.send_timeout(3, Duration::MAX).unwrap();
    /// assert_eq!(h.join().unwrap(), 3);
    /// ```
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, deadline_after(timeout))
    }

    /// Like [`send`](Self::send), giving up at `deadline`.
    ///
    /// # Errors
    ///
    /// As [`send_timeout`](Self::send_timeout).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (tx, _rx) = weft::csp::channel();
    /// let late = Instant::now() + Duration::from_millis(2);
    /// assert!(tx.send_deadline(1, late).unwrap_err().is_timeout());
    /// ```
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, Some(deadline))
    }

    fn send_until(&self, value: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        self.chan
            .send(value, Wait::Until(deadline))
            .map_err(|e| match e {
                SendFail::Full(v) => SendTimeoutError::Timeout(v),
                SendFail::Disconnected(v) => SendTimeoutError::Disconnected(v),
            })
    }

    /// Closes the channel, as Go's `close`: no send succeeds any more (blocked senders
    /// get their values back with a disconnection error), and receivers get what is
    /// buffered, then [`RecvError`]. Returns `true` if this call closed the channel;
    /// closing a closed channel (or one whose senders are all gone) is a no-op that
    /// returns `false`.
    ///
    /// ```
    /// let (tx, rx) = weft::csp::bounded(4);
    /// tx.send(1).unwrap();
    /// assert!(tx.close());
    /// assert!(!tx.close()); // closing twice: a no-op
    /// assert!(tx.send(2).is_err());
    /// assert_eq!(rx.recv(), Ok(1)); // drained
    /// assert!(rx.recv().is_err()); // then disconnected
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// `true` once the channel is closed or every receiver is gone (a send would fail).
    ///
    /// ```
    /// let (tx, rx) = weft::csp::channel::<u8>();
    /// assert!(!tx.is_disconnected());
    /// drop(rx);
    /// assert!(tx.is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        let st = self.chan.state.lock_unmarked();
        st.closed || st.rx_gone
    }

    /// The number of buffered values.
    ///
    /// ```
    /// let (tx, _rx) = weft::csp::unbounded();
    /// tx.send(()).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.state.lock_unmarked().buf_len()
    }

    /// `true` when nothing is buffered.
    ///
    /// ```
    /// let (tx, _rx) = weft::csp::bounded::<u8>(1);
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity: `Some(0)` for a rendezvous, `None` for unbounded.
    ///
    /// ```
    /// assert_eq!(weft::csp::channel::<u8>().0.capacity(), Some(0));
    /// assert_eq!(weft::csp::unbounded::<u8>().0.capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// `true` when both ends belong to the same channel.
    ///
    /// ```
    /// let (a, _ra) = weft::csp::channel::<u8>();
    /// let (b, _rb) = weft::csp::channel::<u8>();
    /// assert!(a.same_channel(&a.clone()) && !a.same_channel(&b));
    /// ```
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        self.chan.same(&other.chan)
    }
}

impl<T> Receiver<T> {
    /// Receives a value, waiting until one arrives.
    ///
    /// # Errors
    ///
    /// [`RecvError`] when the channel is empty and closed (or every sender is gone),
    /// also when that happens while waiting.
    ///
    /// ```
    /// let (tx, rx) = weft::csp::channel();
    /// weft::spawn(move || tx.send(9).unwrap());
    /// assert_eq!(rx.recv(), Ok(9));
    /// assert!(rx.recv().is_err()); // the sender is gone
    /// ```
    #[inline(always)]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv(Wait::Until(None)).map_err(|_| RecvError)
    }

    /// Receives a value if one is there now (on a rendezvous channel: a sender waits).
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] or [`TryRecvError::Disconnected`].
    ///
    /// ```
    /// let (tx, rx) = weft::csp::bounded(1);
    /// tx.send('x').unwrap();
    /// assert_eq!(rx.try_recv(), Ok('x'));
    /// assert!(rx.try_recv().unwrap_err().is_empty());
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.recv(Wait::Never).map_err(|e| match e {
            RecvFail::Empty => TryRecvError::Empty,
            RecvFail::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// Like [`recv`](Self::recv), giving up after `timeout`. `Duration::MAX` (or any
    /// timeout past the clock's range) waits for ever.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] or [`RecvTimeoutError::Disconnected`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let (tx, rx) = weft::csp::channel::<u8>();
    /// assert!(rx.recv_timeout(Duration::from_millis(1)).unwrap_err().is_timeout());
    /// drop(tx);
    /// assert!(rx.recv_timeout(Duration::MAX).unwrap_err().is_disconnected());
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(deadline_after(timeout))
    }

    /// Like [`recv`](Self::recv), giving up at `deadline`.
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Self::recv_timeout).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (_tx, rx) = weft::csp::channel::<u8>();
    /// let soon = Instant::now() + Duration::from_millis(2);
    /// assert!(rx.recv_deadline(soon).is_err());
    /// ```
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Some(deadline))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        self.chan.recv(Wait::Until(deadline)).map_err(|e| match e {
            RecvFail::Empty => RecvTimeoutError::Timeout,
            RecvFail::Disconnected => RecvTimeoutError::Disconnected,
        })
    }

    /// A blocking iterator: yields values until the channel is empty and disconnected.
    ///
    /// ```
    /// let (tx, rx) = weft::csp::channel();
    /// weft::spawn(move || (1..=3).for_each(|i| tx.send(i).unwrap()));
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 2, 3]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// A non-blocking iterator: yields what can be received now.
    ///
    /// ```
    /// let (tx, rx) = weft::csp::unbounded();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_iter().count(), 2);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// `true` once the channel is empty and closed (a receive would fail).
    ///
    /// ```
    /// let (tx, rx) = weft::csp::unbounded();
    /// tx.send(1).unwrap();
    /// tx.close();
    /// assert!(!rx.is_disconnected()); // a value is still buffered
    /// rx.recv().unwrap();
    /// assert!(rx.is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        let st = self.chan.state.lock_unmarked();
        st.closed && st.buf_len() == 0
    }

    /// The number of buffered values.
    ///
    /// ```
    /// let (tx, rx) = weft::csp::unbounded();
    /// tx.send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.state.lock_unmarked().buf_len()
    }

    /// `true` when nothing is buffered.
    ///
    /// ```
    /// let (_tx, rx) = weft::csp::unbounded::<u8>();
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity: `Some(0)` for a rendezvous, `None` for unbounded.
    ///
    /// ```
    /// assert_eq!(weft::csp::bounded::<u8>(3).1.capacity(), Some(3));
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// `true` when both ends belong to the same channel.
    ///
    /// ```
    /// let (_t, a) = weft::csp::channel::<u8>();
    /// assert!(a.same_channel(&a.clone()));
    /// ```
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        self.chan.same(&other.chan)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("disconnected", &self.is_disconnected())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("disconnected", &self.is_disconnected())
            .finish()
    }
}

/// The blocking iterator of [`Receiver::iter`].
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

/// The non-blocking iterator of [`Receiver::try_iter`].
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

/// The owning blocking iterator of `Receiver`'s [`IntoIterator`].
///
/// ```
/// let (tx, rx) = weft::csp::unbounded();
/// tx.send(4).unwrap();
/// drop(tx);
/// for v in rx {
///     assert_eq!(v, 4);
/// }
/// ```
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    #[inline(always)]
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    #[inline(always)]
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Iter { .. }")
    }
}

impl<T> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TryIter { .. }")
    }
}

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IntoIter { .. }")
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! The channel's internal invariants, from kernel threads.
    use super::*;

    fn assert_clean<T>(chan: &Chan<T>) {
        let st = chan.state.lock_unmarked();
        let senders = st.waiters(Side::Tx).count();
        assert_eq!(senders, 0, "{senders} sender entries left");
        let receivers = st.waiters(Side::Rx).count();
        assert_eq!(receivers, 0, "{receivers} receiver entries left");
        let stashed = st.extras.0.as_ref().map_or(0, |x| x.stash.len());
        assert_eq!(stashed, 0, "{stashed} stashed values left");
    }

    /// Capacities beyond 32 bits are unbounded; the largest 32-bit one is bounded.
    #[test]
    fn capacities_beyond_32_bits_are_unbounded() {
        assert_eq!(bounded::<u8>(usize::MAX).0.capacity(), None);
        assert_eq!(bounded::<u8>(1 << 40).1.capacity(), None);
        let cap = u32::MAX as usize - 1;
        assert_eq!(bounded::<u8>(cap).0.capacity(), Some(cap));
    }

    /// Every owner withdraws its entries and takes its stashed values before it returns:
    /// after timed-out sends and receives, selects and a close, nothing is left behind.
    #[test]
    fn nothing_is_left_behind_by_timeouts_selects_and_close() {
        let rounds = if cfg!(miri) { 20 } else { 400 };
        let (tx, rx) = channel::<usize>();
        let (tx2, rx2) = bounded::<usize>(1);
        let t = {
            let (tx, rx2) = (tx.clone(), rx2.clone());
            std::thread::spawn(move || {
                let mut sent = 0;
                for i in 0..rounds {
                    if tx.send_timeout(i, Duration::from_micros(30)).is_ok() {
                        sent += 1;
                    }
                    let _ = rx2.recv_timeout(Duration::from_micros(20));
                }
                sent
            })
        };
        let mut got = 0;
        for i in 0..rounds {
            crate::select! {
                recv(rx) -> m => if m.is_ok() { got += 1 },
                send(tx2, i) -> _r => {},
                default(Duration::from_micros(25)) => {},
            }
        }
        let sent = t.join().unwrap();
        while rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, sent);
        assert_clean(&rx.chan);
        assert_clean(&rx2.chan);
        // Blocked senders handed their values back by close leave nothing either.
        let (tx, rx) = bounded::<String>(0);
        let ts: Vec<_> = (0..3)
            .map(|i| {
                let tx = tx.clone();
                std::thread::spawn(move || tx.send(i.to_string()).unwrap_err().0)
            })
            .collect();
        while tx.chan.state.lock_unmarked().waiters(Side::Tx).count() < 3 {
            std::thread::yield_now();
        }
        assert!(tx.close());
        let mut back: Vec<String> = ts.into_iter().map(|t| t.join().unwrap()).collect();
        back.sort();
        assert_eq!(back, ["0", "1", "2"]);
        assert_clean(&rx.chan);
    }

    /// Waits until `n` receivers are queued on `chan` (they are parked, or about to).
    fn until_receivers_wait<T>(chan: &Chan<T>, n: usize) {
        while chan.state.lock_unmarked().waiters(Side::Rx).count() < n {
            std::thread::yield_now();
        }
    }

    /// A receiver that waits first gets each value through its landing slot (a `String`
    /// fits) or, for a value too large for it, through the stash: every value arrives
    /// once and in order, and nothing is left behind (Miri checks each value is dropped
    /// exactly once).
    #[test]
    fn values_reach_waiting_receivers_through_the_landing_or_the_stash() {
        let n = if cfg!(miri) { 10 } else { 500 };
        let (tx, rx) = channel::<String>();
        let (big_tx, big_rx) = channel::<[u64; 8]>();
        assert!(landing::fits::<String>() && !landing::fits::<[u64; 8]>());
        let t = std::thread::spawn(move || {
            for i in 0..n {
                assert_eq!(rx.recv(), Ok(format!("v{i}")));
                assert_eq!(big_rx.recv(), Ok([i as u64; 8]));
            }
            (rx, big_rx)
        });
        for i in 0..n {
            until_receivers_wait(&tx.chan, 1);
            tx.send(format!("v{i}")).unwrap();
            until_receivers_wait(&big_tx.chan, 1);
            big_tx.send([i as u64; 8]).unwrap();
        }
        let (rx, big_rx) = t.join().unwrap();
        assert_clean(&rx.chan);
        assert_clean(&big_rx.chan);
    }

    /// What a channel costs: the shared block behind both ends (one queue's oldest
    /// entry inline; the buffer, the stash and further entries behind one pointer),
    /// with the ends' counts: it must fit malloc's 48-byte class (crossbeam's
    /// zero-capacity channel takes 160 bytes), and it stays there with one process
    /// blocked on it, receiving or sending.
    #[test]
    fn a_channel_is_small() {
        let size = std::mem::size_of::<Chan<u64>>();
        assert!(size + 8 <= 40, "Chan<u64> is {size} bytes");
        let (tx, rx) = channel::<u64>();
        let t = std::thread::spawn(move || tx.send(3).map(|()| tx));
        while rx.chan.state.lock_unmarked().waiters(Side::Tx).count() < 1 {
            std::thread::yield_now();
        }
        assert!(
            rx.chan.state.lock_unmarked().extras.0.is_none(),
            "one blocked sender needs no allocation"
        );
        assert_eq!(rx.recv(), Ok(3));
        let tx = t.join().unwrap().unwrap();
        let t = std::thread::spawn(move || rx.recv());
        until_receivers_wait(&tx.chan, 1);
        assert!(
            tx.chan.state.lock_unmarked().extras.0.is_none(),
            "one blocked receiver needs no allocation"
        );
        tx.send(7).unwrap();
        assert_eq!(t.join().unwrap(), Ok(7));
    }
}
