//! The mailbox: a lock-free multi-producer queue with one owner that parks when it is
//! empty, and a close that loses no message.
//!
//! Messages go through a [`SegQueue`] (crossbeam's segmented lock-free queue: one
//! allocation per 31 messages, FIFO for each producer). One *state word* coordinates the
//! owner's sleep, the senders and the close:
//!
//! | bits | meaning |
//! |---|---|
//! | `CLOSED` | the actor has stopped: sends fail and hand their message back |
//! | `SLEEPING` | the owner found the queue empty and parks (or is about to) |
//! | `>> 2` | senders between their check of `CLOSED` and the end of their push |
//!
//! **Send.** Add one sender (`fetch_add`); if `CLOSED` was set, take it back and fail.
//! Else push, then remove the sender (`fetch_sub`); if that saw `SLEEPING`, clear it
//! (`fetch_and`) and, if this sender is the one that cleared it, unpark the owner.
//!
//! **Receive.** Pop; when empty, set `SLEEPING` (`fetch_or`), pop once more, then park
//! until `SLEEPING` is cleared. No wake-up is lost: the owner's `fetch_or` and a sender's
//! `fetch_sub` are read-modify-writes of one word, so one comes first. If the sender's
//! came first, its push happens before the owner's second pop, which finds it; if the
//! owner's came first, the sender sees `SLEEPING` and wakes it.
//!
//! **Close.** Set `CLOSED`, wait for the senders in flight to finish (each is a few
//! instructions away from done), then drain the queue. Every message a send reported as
//! sent was pushed before the close finished waiting, so it was either received or is
//! dropped by the drain, never left behind; every other send handed its message back.
//! The drained messages are returned to the closer, which drops them (counted by the
//! lab and the tests: sent = received + dropped at exit, exactly).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use crossbeam_queue::SegQueue;

use crate::park::WaitReason;
use crate::thread::Thread;

const CLOSED: usize = 1;
const SLEEPING: usize = 2;
const SENDER: usize = 4;

pub(crate) static RECEIVE: WaitReason = WaitReason::new("actor receive");

/// See the module docs.
pub(crate) struct Mailbox<M> {
    queue: SegQueue<M>,
    state: AtomicUsize,
    /// The thread that receives; set when it starts, before it can ever sleep.
    owner: OnceLock<Thread>,
}

impl<M> Mailbox<M> {
    pub(crate) fn new() -> Self {
        Mailbox {
            queue: SegQueue::new(),
            state: AtomicUsize::new(0),
            owner: OnceLock::new(),
        }
    }

    /// Records the receiving thread (the actor's own, when it starts).
    pub(crate) fn set_owner(&self, t: Thread) {
        let _ = self.owner.set(t);
    }

    /// Queues `m`; `Err(m)` once the mailbox is closed.
    #[inline]
    pub(crate) fn push(&self, m: M) -> Result<(), M> {
        if self.state.fetch_add(SENDER, Ordering::AcqRel) & CLOSED != 0 {
            self.state.fetch_sub(SENDER, Ordering::AcqRel);
            return Err(m);
        }
        self.queue.push(m);
        if self.state.fetch_sub(SENDER, Ordering::AcqRel) & SLEEPING != 0 {
            self.wake();
        }
        Ok(())
    }

    /// Clears `SLEEPING` and unparks the owner if this call cleared it.
    #[inline]
    pub(crate) fn wake(&self) {
        if self.state.fetch_and(!SLEEPING, Ordering::AcqRel) & SLEEPING != 0 {
            if let Some(t) = self.owner.get() {
                t.unpark();
            }
        }
    }

    /// The owner's non-blocking pop.
    #[inline]
    pub(crate) fn pop(&self) -> Option<M> {
        self.queue.pop()
    }

    /// The owner waits until a message may be there, `wake` is called, or `deadline`
    /// passes (`false`). Returns `true` when it should look again.
    pub(crate) fn sleep(&self, deadline: Option<Instant>) -> bool {
        self.state.fetch_or(SLEEPING, Ordering::AcqRel);
        if !self.queue.is_empty() {
            self.state.fetch_and(!SLEEPING, Ordering::AcqRel);
            return true;
        }
        loop {
            if self.state.load(Ordering::Acquire) & SLEEPING == 0 {
                return true;
            }
            if crate::park::park_on(&RECEIVE, deadline).timed_out() {
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
    pub(crate) fn close(&self) -> Vec<M> {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        while self.state.load(Ordering::Acquire) >> 2 != 0 {
            // A sender between its check and its push: it finishes in a few steps
            // unless its kernel thread was descheduled; let it run.
            crate::yield_now();
        }
        let mut left = Vec::new();
        while let Some(m) = self.queue.pop() {
            left.push(m);
        }
        left
    }

    /// Messages queued now (racy: for diagnostics).
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Senders racing a close: every message is received, dropped at the close, or
    /// handed back, exactly once.
    #[test]
    fn close_loses_nothing_and_keeps_nothing() {
        let rounds = if cfg!(miri) { 3 } else { 200 };
        for _ in 0..rounds {
            let mb = Arc::new(Mailbox::<u32>::new());
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
                if mb.pop().is_some() {
                    got += 1;
                }
            }
            let left = mb.close().len();
            let back: usize = senders.into_iter().map(|t| t.join().unwrap()).sum();
            assert_eq!(got + left + back, 150);
            assert!(mb.pop().is_none());
        }
    }
}
