//! The parking core: block the current thread, green or kernel, until someone unparks
//! it or a deadline passes.
//!
//! Every blocking primitive in weft (join, sleep, and later locks, STM `retry`, channels
//! and mailboxes) is built on these few functions, and so are users' own primitives.
//! The rule is the one of [`std::thread::park`]: each thread has one wake-up token;
//! [`Thread::unpark`](crate::Thread::unpark) makes it available, a park consumes it, and
//! a park may also return spuriously, so callers park in a loop around their condition:
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//!
//! let ready = Arc::new(AtomicBool::new(false));
//! let waiter = {
//!     let ready = ready.clone();
//!     weft::spawn(move || {
//!         while !ready.load(Ordering::Acquire) {
//!             weft::park::park();
//!         }
//!         "woken"
//!     })
//! };
//! ready.store(true, Ordering::Release);
//! waiter.thread().unpark();
//! assert_eq!(waiter.join().unwrap(), "woken");
//! ```
//!
//! # How each kind of thread parks
//!
//! * A **green thread** switches to its worker's scheduler. The worker then moves the
//!   park word from `EMPTY` to `PARKED`; if a token arrived in between, the thread is
//!   put straight back on the run queue. An unparker that takes the word out of
//!   `PARKED` (to `EMPTY`: the wake-up is the token) pushes the thread onto its home worker's queue (directly when it runs on that worker, else
//!   through the worker's inbox, waking the worker if it sleeps). A deadline becomes an
//!   entry in the home worker's timer heap.
//! * A **kernel thread** waits on the same word with `futex(2)`.
//!
//! The word's state machine and its invariants are in `park/state.rs`; loom checks
//! that a park racing an unpark and a timer is woken exactly once.
//!
//! Wait nodes are never on a green thread's stack: the park word and the
//! [`WaitReason`] pointer live in the thread's control block on the heap.

pub(crate) mod futex;
pub(crate) mod lot;
pub(crate) mod state;

use std::time::{Duration, Instant};

use crate::runtime::{deadlock, worker};
use crate::thread::ThreadInner;

/// What a parked thread waits on, for deadlock reports and diagnostics.
///
/// Declare one `static` per kind of wait:
///
/// ```
/// use weft::park::{park_on, WaitReason};
/// static MY_EVENT: WaitReason = WaitReason::new("my event");
/// // ... later, in a loop around the condition:
/// let _ = park_on(&MY_EVENT, Some(std::time::Instant::now()));
/// ```
#[derive(Debug)]
pub struct WaitReason {
    what: &'static str,
}

impl WaitReason {
    /// A reason with a short description ("mutex", "channel receive", ...).
    pub const fn new(what: &'static str) -> Self {
        WaitReason { what }
    }

    /// The description.
    pub const fn what(&self) -> &'static str {
        self.what
    }
}

/// How a park ended.
#[must_use = "a park can return spuriously: check your condition"]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unparked {
    /// A token was consumed (or the wake-up was spurious).
    Notified,
    /// The deadline passed first.
    TimedOut,
}

impl Unparked {
    /// `true` when the deadline passed.
    pub fn timed_out(self) -> bool {
        self == Unparked::TimedOut
    }
}

pub(crate) static PARK: WaitReason = WaitReason::new("park");

/// Blocks the current thread until its token is made available by
/// [`Thread::unpark`](crate::Thread::unpark). May return spuriously.
#[inline]
pub fn park() {
    let _ = park_on(&PARK, None);
}

/// Like [`park`], but gives up after `timeout`.
pub fn park_timeout(timeout: Duration) -> Unparked {
    park_on(&PARK, Instant::now().checked_add(timeout))
}

/// Like [`park`], but gives up at `deadline`.
pub fn park_deadline(deadline: Instant) -> Unparked {
    park_on(&PARK, Some(deadline))
}

/// The general form: park, saying what the thread waits on, until unparked or until
/// `deadline` (`None`: no deadline).
#[inline(always)]
pub fn park_on(reason: &'static WaitReason, deadline: Option<Instant>) -> Unparked {
    if let Some(me) = worker::current_green_inner() {
        // SAFETY: `current_green_inner` returns the control block of the green thread
        // running this code; its home worker keeps it alive while it runs.
        let me = unsafe { &*me };
        return worker::park_green(me, reason, deadline);
    }
    park_kernel(&crate::thread::current_kernel().inner, reason, deadline)
}

/// Parks a kernel thread on its futex (kept out of line so the green path stays small).
#[inline(never)]
fn park_kernel(
    me: &std::sync::Arc<ThreadInner>,
    reason: &'static WaitReason,
    deadline: Option<Instant>,
) -> Unparked {
    let st = &me.park;
    if st.try_consume() {
        return Unparked::Notified;
    }
    if deadline.is_some_and(|d| d <= Instant::now()) {
        return Unparked::TimedOut;
    }
    if !st.commit_park() {
        st.consume();
        return Unparked::Notified;
    }
    me.waiting_on.store(
        reason as *const _ as *mut _,
        std::sync::atomic::Ordering::Release,
    );
    let registered = deadline.is_none();
    if registered {
        deadlock::kernel_parked(me);
    }
    let result = loop {
        let in_time = futex::wait(&st.0, state::PARKED, deadline);
        if !st.is_parked() {
            // An unparker took us out of PARKED: that was the token.
            break Unparked::Notified;
        }
        if !in_time {
            if st.time_out() {
                break Unparked::TimedOut;
            }
            // An unpark won the race against the clock.
            break Unparked::Notified;
        }
        // Spurious futex wake-up: still PARKED, wait again.
    };
    if registered {
        deadlock::kernel_unparked(me);
    }
    me.waiting_on
        .store(std::ptr::null_mut(), std::sync::atomic::Ordering::Release);
    result
}

#[cfg(test)]
mod tests {
    //! The kernel-thread side of the parking core; these also run under Miri.
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn kernel_park_unpark_handoff_counts_exactly() {
        let rounds = if cfg!(miri) { 50 } else { 10_000 };
        // Nobody's turn until the first store.
        let turn = Arc::new(AtomicUsize::new(usize::MAX));
        let me = crate::current();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = turn.clone();
        let other = std::thread::spawn(move || {
            tx.send(crate::current()).unwrap();
            for r in 0..rounds {
                while t.load(Ordering::Acquire) != 2 * r {
                    park();
                }
                t.store(2 * r + 1, Ordering::Release);
                me.unpark();
            }
        });
        let them = rx.recv().unwrap();
        for r in 0..rounds {
            turn.store(2 * r, Ordering::Release);
            them.unpark();
            while turn.load(Ordering::Acquire) != 2 * r + 1 {
                park();
            }
        }
        other.join().unwrap();
        assert_eq!(turn.load(Ordering::Acquire), 2 * rounds - 1);
    }

    #[test]
    fn kernel_park_times_out_and_keeps_late_tokens() {
        let r = park_timeout(Duration::from_millis(5));
        assert_eq!(r, Unparked::TimedOut);
        crate::current().unpark();
        crate::current().unpark(); // tokens merge
        assert_eq!(park_timeout(Duration::from_secs(5)), Unparked::Notified);
        assert_eq!(park_timeout(Duration::from_millis(1)), Unparked::TimedOut);
    }
}
