//! The mailbox: a lock-free multi-producer queue with one owner that parks when it is
//! empty, and a close that loses no message.
//!
//! Messages go through a [`Queue`] (`queue.rs`: many producers, one consumer, FIFO for
//! each producer, one allocation per message). One *state word* coordinates the owner's
//! sleep, the senders and the close:
//!
//! | bits | meaning |
//! |---|---|
//! | `CLOSED` (bit 0) | the actor has stopped: sends fail and hand their message back |
//! | `SLEEPING` (bit 1) | the owner found the queue empty and parks (or is about to) |
//! | bits 2-31 | senders between their check of `CLOSED` and the end of their push |
//! | bits 32-63 | messages pushed, wrapping (with the owner's count of those it took, the racy [`len`](Mailbox::len)) |
//!
//! **Send.** Add one sender (`fetch_add`); if `CLOSED` was set, take it back and fail.
//! Else push, then remove the sender and count the message, in one `fetch_add`; if that
//! saw `SLEEPING`, clear it (`fetch_and`) and, if this sender is the one that cleared it,
//! unpark the owner.
//!
//! **Receive** (the owner only: the queue has one consumer). Pop; when empty, set
//! `SLEEPING` (`fetch_or`), look once more, then park until `SLEEPING` is cleared. No
//! wake-up is lost: the owner's `fetch_or` and a sender's closing `fetch_add` are
//! read-modify-writes of one word, so one comes first. If the sender's came first, its
//! push (linked before it) is seen by the owner's second look; if the owner's came first,
//! the sender sees `SLEEPING` and wakes it. A push still being linked when the owner looks
//! is invisible to it (`queue.rs`, invariant 2), but its sender is then still in flight,
//! so its closing `fetch_add` comes after the owner's `fetch_or` and wakes it.
//!
//! **Bounded mailboxes** (a capacity given at spawn) add a [`Semaphore`] of that many
//! permits. A send takes a permit *before* it counts itself in flight (so a close never
//! waits on a sender that waits for room), and keeps it in the queue with its message; each
//! pop returns one. Exit signals that become messages must never wait, so they take a
//! permit only if one is free and otherwise push without one and count it in `owed`; a pop
//! then pays that debt first instead of returning a permit. So, at all times, free permits
//! plus messages holding one equal the capacity. The close also closes the semaphore:
//! senders waiting for room fail and get their message back.
//!
//! **Close.** Set `CLOSED`, wait for the senders in flight to finish (each is a few
//! instructions away from done), then drain the queue. Every message a send reported as
//! sent was pushed before the close finished waiting, so it was either received or is
//! dropped by the drain, never left behind; every other send handed its message back.
//! The drained messages are returned to the closer, which drops them (counted by the
//! lab and the tests: sent = received + dropped at exit, exactly).

use super::queue::Queue;
#[cfg(loom)]
use crate::loom::Thread;
use crate::loom::{AtomicBool, AtomicU32, AtomicU64, Instant, Ordering};
use crate::park::WaitReason;
use crate::sync::Semaphore;
#[cfg(not(loom))]
use crate::thread::Thread;

const CLOSED: u64 = 1;
const SLEEPING: u64 = 2;
const SENDER: u64 = 4;
/// The senders-in-flight field.
const SENDERS: u64 = 0xFFFF_FFFC;
/// One message pushed (the high half counts them).
const PUSHED: u64 = 1 << 32;

pub(crate) static RECEIVE: WaitReason = WaitReason::new("actor receive");

/// See the module docs.
///
/// The receiving operations (`pop`, `sleep`, `close`) are `unsafe`: the queue has one
/// consumer, and the caller promises to be it (the actor's own thread, through its
/// `Ctx`, which is neither `Send` nor `Sync`, and then its exit path).
pub(crate) struct Mailbox<M> {
    queue: Queue<M>,
    state: AtomicU64,
    /// Messages the owner took, wrapping (written by the owner only).
    taken: AtomicU32,
    /// Set (after `pending_exit`, under the core's lock) when an exit signal is pending:
    /// every receive checks this flag, and takes the lock only when it is set.
    pub(crate) signalled: AtomicBool,
    /// The bound, for a bounded mailbox (boxed: an unbounded one, the common case, pays
    /// a null pointer for it).
    bounded: Option<Box<Bounded>>,
    /// The thread that receives; set when it starts, before it can ever sleep.
    owner: Owner,
}

/// What a bounded mailbox adds.
struct Bounded {
    /// The capacity (at least 1); `room` holds the free places.
    capacity: u32,
    /// Messages queued without a permit (exit signals when there was no room).
    owed: AtomicU32,
    room: Semaphore,
}

/// Why a bounded mailbox had no room.
pub(crate) enum Refused<M> {
    /// The mailbox is closed.
    Closed(M),
    /// No room now (a `try_` send), or not before the deadline.
    Full(M),
}

impl<M> Mailbox<M> {
    /// A mailbox; `capacity` 0 is unbounded (callers check the bound: at most
    /// [`Mailbox::MAX_CAPACITY`]).
    pub(crate) fn new(capacity: u32) -> Self {
        Mailbox {
            queue: Queue::new(),
            state: AtomicU64::new(0),
            taken: AtomicU32::new(0),
            signalled: AtomicBool::new(false),
            bounded: (capacity != 0).then(|| {
                Box::new(Bounded {
                    capacity,
                    owed: AtomicU32::new(0),
                    room: Semaphore::new(capacity as usize),
                })
            }),
            owner: Owner::new(),
        }
    }

    /// The capacity; `None`: unbounded.
    pub(crate) fn capacity(&self) -> Option<usize> {
        self.bounded.as_ref().map(|b| b.capacity as usize)
    }

    /// The largest capacity.
    pub(crate) const MAX_CAPACITY: usize = u32::MAX as usize;

    /// Queues `m`, waiting (until `deadline`, `None`: for ever; a deadline already past:
    /// not at all) for room in a bounded mailbox.
    #[inline]
    pub(crate) fn push_waiting(&self, m: M, deadline: Option<Instant>) -> Result<(), Refused<M>> {
        match &self.bounded {
            None => self.push(m).map_err(Refused::Closed),
            Some(b) => self.push_bounded(b, m, deadline),
        }
    }

    /// [`push_waiting`](Self::push_waiting) for a bounded mailbox (out of line: the
    /// unbounded path stays small).
    #[inline(never)]
    fn push_bounded(&self, b: &Bounded, m: M, deadline: Option<Instant>) -> Result<(), Refused<M>> {
        let permit = match deadline {
            None => b.room.acquire(1).map_err(|_| ()),
            Some(d) if d <= Instant::now() => b.room.try_acquire(1).map_err(|_| ()),
            Some(d) => b.room.acquire_deadline(1, d).map_err(|_| ()),
        };
        let Ok(permit) = permit else {
            return Err(if b.room.is_closed() || self.is_closed() {
                Refused::Closed(m)
            } else {
                Refused::Full(m)
            });
        };
        match self.push(m) {
            Ok(()) => {
                // The permit travels with the message; the pop that takes it returns it.
                permit.forget();
                Ok(())
            }
            Err(m) => Err(Refused::Closed(m)),
        }
    }

    /// Queues `m` without waiting for room (an exit signal): takes a permit if one is
    /// free, else counts the message as owed. `Err(m)` once closed.
    pub(crate) fn push_signal(&self, m: M) -> Result<(), M> {
        if let Some(b) = &self.bounded {
            match b.room.try_acquire(1) {
                Ok(p) => p.forget(),
                Err(_) => {
                    b.owed.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        self.push(m)
    }

    /// Records the receiving thread (the actor's own, when it starts).
    pub(crate) fn set_owner(&self, t: Thread) {
        self.owner.set(t);
    }

    /// Queues `m`; `Err(m)` once the mailbox is closed.
    #[inline]
    pub(crate) fn push(&self, m: M) -> Result<(), M> {
        if self.state.fetch_add(SENDER, Ordering::AcqRel) & CLOSED != 0 {
            self.state.fetch_sub(SENDER, Ordering::AcqRel);
            return Err(m);
        }
        self.queue.push(m);
        let counted = PUSHED.wrapping_sub(SENDER);
        if self.state.fetch_add(counted, Ordering::AcqRel) & SLEEPING != 0 {
            self.wake();
        }
        Ok(())
    }

    /// Clears `SLEEPING` and unparks the owner if this call cleared it.
    #[inline]
    pub(crate) fn wake(&self) {
        if self.state.fetch_and(!SLEEPING, Ordering::AcqRel) & SLEEPING != 0 {
            self.owner.unpark();
        }
    }

    /// The owner's non-blocking pop.
    ///
    /// # Safety
    ///
    /// The caller is the mailbox's one consumer (see the type's docs): no two of `pop`,
    /// `sleep` and `close` ever run at once.
    #[inline]
    pub(crate) unsafe fn pop(&self) -> Option<M> {
        // SAFETY: the caller is the one consumer.
        let m = unsafe { self.queue.pop() }?;
        let taken = self.taken.load(Ordering::Relaxed);
        self.taken.store(taken.wrapping_add(1), Ordering::Relaxed);
        if let Some(b) = &self.bounded {
            b.give_back_room();
        }
        Some(m)
    }

    /// The owner waits until a message may be there, `wake` is called, or `deadline`
    /// passes (`false`). Returns `true` when it should look again.
    ///
    /// # Safety
    ///
    /// As for [`pop`](Self::pop).
    pub(crate) unsafe fn sleep(&self, deadline: Option<Instant>) -> bool {
        self.state.fetch_or(SLEEPING, Ordering::AcqRel);
        // SAFETY: the caller is the one consumer.
        if unsafe { self.queue.has_linked() } {
            self.state.fetch_and(!SLEEPING, Ordering::AcqRel);
            return true;
        }
        loop {
            if self.state.load(Ordering::Acquire) & SLEEPING == 0 {
                return true;
            }
            if park_timed_out(deadline) {
                self.state.fetch_and(!SLEEPING, Ordering::AcqRel);
                return false;
            }
        }
    }

    /// `true` once closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Closes the mailbox and returns what was left in it (see the module docs).
    ///
    /// # Safety
    ///
    /// As for [`pop`](Self::pop).
    pub(crate) unsafe fn close(&self) -> Vec<M> {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        // Senders waiting for room give up (they had not counted themselves in flight).
        if let Some(b) = &self.bounded {
            b.room.close();
        }
        while self.state.load(Ordering::Acquire) & SENDERS != 0 {
            // A sender between its check and its push: it finishes in a few steps
            // unless its kernel thread was descheduled; let it run.
            let_others_run();
        }
        let mut left = Vec::new();
        // SAFETY: the caller is the one consumer.
        while let Some(m) = unsafe { self.pop() } {
            left.push(m);
        }
        left
    }

    /// Messages queued now (racy, for diagnostics: a send is counted when its push has
    /// returned, so a message taken just before its sender counted it reads as none).
    pub(crate) fn len(&self) -> usize {
        let pushed = (self.state.load(Ordering::Acquire) >> 32) as u32;
        let queued = pushed.wrapping_sub(self.taken.load(Ordering::Relaxed)) as i32;
        queued.max(0) as usize
    }
}

impl Bounded {
    /// A message left the mailbox: pay a debt, else return a permit.
    #[inline(never)]
    fn give_back_room(&self) {
        let paid = self
            .owed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |o| o.checked_sub(1))
            .is_ok();
        if !paid {
            self.room.add_permits(1);
        }
    }
}

/// The receiving thread, set once: a pointer to its control block holding one count
/// (8 bytes, where a `OnceLock<Thread>` takes 16).
#[cfg(not(loom))]
struct Owner(std::sync::atomic::AtomicPtr<crate::thread::ThreadInner>);

#[cfg(not(loom))]
impl Owner {
    fn new() -> Self {
        Owner(std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()))
    }

    /// Records `t`; a second call changes nothing.
    fn set(&self, t: Thread) {
        let p = std::sync::Arc::into_raw(t.inner).cast_mut();
        if self
            .0
            .compare_exchange(std::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: `p` came from `Arc::into_raw` just above and was not stored.
            drop(unsafe { std::sync::Arc::from_raw(p) });
        }
    }

    /// Unparks the owner, if it is recorded.
    fn unpark(&self) {
        let p = self.0.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: a non-null pointer was stored by `set` with the count it took, and
            // that count is given back only by `drop`, which has `&mut self`: the block
            // is alive while `&self` is.
            unsafe { (*p).unpark() };
        }
    }
}

#[cfg(not(loom))]
impl Drop for Owner {
    fn drop(&mut self) {
        let p = *self.0.get_mut();
        if !p.is_null() {
            // SAFETY: stored by `set` from `Arc::into_raw`, with its count, once.
            drop(unsafe { std::sync::Arc::from_raw(p) });
        }
    }
}

/// The receiving thread, set once (loom's threads are not weft's).
#[cfg(loom)]
struct Owner(std::sync::OnceLock<Thread>);

#[cfg(loom)]
impl Owner {
    fn new() -> Self {
        Owner(std::sync::OnceLock::new())
    }

    fn set(&self, t: Thread) {
        let _ = self.0.set(t);
    }

    fn unpark(&self) {
        if let Some(t) = self.0.get() {
            t.unpark();
        }
    }
}

/// Parks the owner for a receive; `true` when the deadline passed.
#[cfg(not(loom))]
#[inline]
fn park_timed_out(deadline: Option<Instant>) -> bool {
    crate::park::park_on(&RECEIVE, deadline).timed_out()
}

/// Parks the owner for a receive; `true` when the deadline passed (the loom stand-in
/// returns that bool).
#[cfg(loom)]
fn park_timed_out(deadline: Option<Instant>) -> bool {
    crate::park::park_on(&RECEIVE, deadline)
}

/// Lets a sender in flight finish (a yield of the green or kernel thread; loom's yield
/// under the model).
fn let_others_run() {
    #[cfg(not(loom))]
    crate::yield_now();
    #[cfg(loom)]
    crate::loom::spin_hint();
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// The owner's receive loop: `n` messages, sleeping whenever it finds nothing (the
    /// caller is the mailbox's one consumer).
    fn receive(mb: &Mailbox<u32>, n: usize) -> Vec<u32> {
        let mut got = Vec::new();
        while got.len() < n {
            // SAFETY: the caller is the only consumer.
            match unsafe { mb.pop() } {
                Some(v) => got.push(v),
                // SAFETY: as above.
                None => while !unsafe { mb.sleep(None) } {},
            }
        }
        got
    }

    /// Two senders and the owner, which sleeps whenever it finds nothing: it receives
    /// both messages, in every interleaving (a lost wake-up would leave it parked for
    /// ever, which loom reports as a deadlock).
    #[test]
    fn no_wake_up_is_lost() {
        crate::loom::model::check(3, || {
            let mb = Arc::new(Mailbox::<u32>::new(0));
            mb.set_owner(crate::loom::current());
            let senders: Vec<_> = [1u32, 2]
                .into_iter()
                .map(|v| {
                    let mb = mb.clone();
                    loom::thread::spawn(move || assert!(mb.push(v).is_ok()))
                })
                .collect();
            receive(&mb, 2);
            for s in senders {
                s.join().unwrap();
            }
        });
    }

    /// A bounded mailbox of one place: the second send waits for the owner's pop, and
    /// neither that wait nor the owner's sleep loses its wake-up.
    #[test]
    fn back_pressure_loses_no_wake_up() {
        crate::loom::model::check(2, || {
            let mb = Arc::new(Mailbox::<u32>::new(1));
            mb.set_owner(crate::loom::current());
            let sender = {
                let mb = mb.clone();
                loom::thread::spawn(move || {
                    for v in [1, 2] {
                        assert!(mb.push_waiting(v, None).is_ok());
                    }
                })
            };
            let got = receive(&mb, 2);
            sender.join().unwrap();
            assert_eq!(got, [1, 2]);
            assert_eq!(mb.bounded.as_ref().unwrap().room.available_permits(), 1);
        });
    }

    /// A sender racing the close: its message is received, dropped by the close, or
    /// handed back, exactly once.
    #[test]
    fn a_send_racing_the_close_is_counted_once() {
        crate::loom::model::check(3, || {
            let mb = Arc::new(Mailbox::<u32>::new(0));
            mb.set_owner(crate::loom::current());
            let sender = {
                let mb = mb.clone();
                loom::thread::spawn(move || mb.push(7).is_err())
            };
            // SAFETY: this thread is the only consumer.
            let got = usize::from(unsafe { mb.pop() }.is_some());
            // SAFETY: as above.
            let left = unsafe { mb.close() }.len();
            let back = usize::from(sender.join().unwrap());
            assert_eq!(got + left + back, 1);
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Kernel-thread senders against a mailbox of two places, one sending as an exit
    /// signal would: never more than two queued with permits, every message received
    /// once, and the room exactly two again at the end.
    #[test]
    fn bounded_room_is_conserved() {
        let each = if cfg!(miri) { 20 } else { 2_000 };
        let mb = Arc::new(Mailbox::<u32>::new(2));
        mb.set_owner(crate::current());
        let senders: Vec<_> = (0..2)
            .map(|k| {
                let mb = mb.clone();
                std::thread::spawn(move || {
                    for i in 0..each {
                        let r = if k == 0 {
                            mb.push_waiting(i, None).map_err(|_| ())
                        } else {
                            mb.push_signal(i).map_err(|_| ())
                        };
                        assert!(r.is_ok());
                    }
                })
            })
            .collect();
        let mut got = 0;
        while got < 2 * each {
            // SAFETY: this thread is the only consumer.
            match unsafe { mb.pop() } {
                Some(_) => got += 1,
                None => std::thread::yield_now(),
            }
        }
        for s in senders {
            s.join().unwrap();
        }
        let b = mb.bounded.as_ref().expect("bounded");
        assert_eq!(b.room.available_permits(), 2);
        assert_eq!(b.owed.load(Ordering::Relaxed), 0);
        // SAFETY: as above.
        assert!(unsafe { mb.pop() }.is_none());
    }

    /// Senders racing a close: every message is received, dropped at the close, or
    /// handed back, exactly once.
    #[test]
    fn close_loses_nothing_and_keeps_nothing() {
        let rounds = if cfg!(miri) { 3 } else { 200 };
        for _ in 0..rounds {
            let mb = Arc::new(Mailbox::<u32>::new(0));
            mb.set_owner(crate::current());
            let senders: Vec<_> = (0..3)
                .map(|k| {
                    let mb = mb.clone();
                    std::thread::spawn(move || {
                        let mut back = 0;
                        for i in 0..50 {
                            if mb.push(k * 100 + i).is_err() {
                                back += 1;
                            }
                        }
                        back
                    })
                })
                .collect();
            let mut got = 0;
            for _ in 0..20 {
                // SAFETY: this thread is the only consumer.
                if unsafe { mb.pop() }.is_some() {
                    got += 1;
                }
            }
            // SAFETY: as above.
            let left = unsafe { mb.close() }.len();
            let back: usize = senders.into_iter().map(|t| t.join().unwrap()).sum();
            assert_eq!(got + left + back, 150);
            assert_eq!(mb.len(), 0);
            // SAFETY: as above.
            assert!(unsafe { mb.pop() }.is_none());
        }
    }
}
