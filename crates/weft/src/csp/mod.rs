//! CSP: communicating sequential processes over channels, with both of CSP's choices.
//!
//! Processes are anonymous green (or kernel) threads; they share nothing and talk over
//! explicit channels. A channel made by [`channel`] has capacity 0, a **rendezvous**:
//! "the sender cannot transmit a message until the receiver is ready to accept it" — a
//! send returns only once a receiver has taken the value. [`bounded`] and
//! [`unbounded`] buffer. Both ends are cloneable (many senders, many receivers: each
//! value goes to exactly one receiver), `Send + Sync`, and work from green and kernel
//! threads at once.
//!
//! ```
//! use weft::csp::{channel, select};
//!
//! let (ping_tx, ping_rx) = channel();
//! let (pong_tx, pong_rx) = channel();
//! let pong = weft::spawn(move || {
//!     for n in ping_rx {
//!         pong_tx.send(n + 1).unwrap();
//!     }
//! });
//! for i in 0..3 {
//!     ping_tx.send(i).unwrap(); // returns once the other process took it
//!     assert_eq!(pong_rx.recv(), Ok(i + 1));
//! }
//! drop(ping_tx); // the other process's loop ends
//! pong.join().unwrap();
//! ```
//!
//! | CSP | here |
//! |---|---|
//! | `c!v`, `c?x` | [`Sender::send`], [`Receiver::recv`] (and `try_`, `_timeout`, `_deadline`) |
//! | external choice `□` (the environment decides) | [`select!`](crate::select), [`Select`] |
//! | priority choice (occam `PRI ALT`) | [`select_biased!`](crate::select_biased), [`Select::new_biased`] |
//! | internal choice `⊓` (the process decides) | [`internal_choice`] with a seedable [`Chooser`] |
//! | parallel `‖` | [`par!`](crate::par), [`par()`] |
//! | `STOP` after the last writer | [`Sender::close`], or dropping every sender |
//!
//! # Disconnection and closing
//!
//! * When every [`Sender`] is dropped, or on [`Sender::close`] (Go's `close`), the
//!   channel is *closed*: sends fail at once, handing their value back; receivers first
//!   get every buffered value, then [`RecvError`]. Senders blocked at that moment get
//!   their values back. Closing twice is a no-op that returns `false`.
//! * When every [`Receiver`] is dropped, sends fail (value handed back, blocked
//!   senders too) and buffered values are dropped.
//! * A process blocked on a channel whose other side is all gone is woken with the
//!   error: it never hangs. A true deadlock (two processes each sending to the other)
//!   is reported by the runtime's deadlock detector, naming each thread and what it
//!   waits in: `channel send`, `channel receive` or `select`.
//! * A green thread left parked when its runtime is dropped never runs again: it is
//!   never handed a value (a send passes its receive over, as if it had timed out), and
//!   the channel ends it holds are never dropped (they live on its leaked stack), so
//!   the other side never sees them disconnect.
//!
//! # The algorithm
//!
//! Each channel has one short critical section (a [`SpinLock`](crate::sync::SpinLock)
//! held for a few dozen instructions, never across a park, never while a user value is
//! dropped) over its buffer and two FIFO wait queues, one of blocked senders (each
//! entry holds its value) and one of blocked receivers. There is no global lock; a
//! channel allocates only when a queue or the buffer grows.
//!
//! A blocked operation leaves an *entry* in a queue pointing to a **waiter record** on
//! the heap (never on a green thread's stack): the thread to unpark and a *state word*.
//! A `select` leaves one entry per case, all pointing to one record, each tagged with
//! its case number. The state word starts `WAITING` and leaves it **exactly once**, by
//! compare-and-swap:
//!
//! * a partner *claims* it (`WAITING → DONE(case)` or `STASH(case)`), holding the lock
//!   of the channel where it found the entry, and then completes that case itself: a
//!   receiver takes the sender's value out of the entry (`DONE`: the send is delivered);
//!   a sender puts its value in the channel's *stash* under the record's key
//!   (`STASH`: the receiver takes it from there); a closer marks receivers `DONE`
//!   (nothing to receive: disconnected) and hands senders their values back through the
//!   stash (`STASH`);
//! * or the owner *aborts* it (`WAITING → ABORTED`) when its deadline passes, or when a
//!   `select` found a case ready while registering (it then withdraws and retries its
//!   non-blocking pass).
//!
//! A partner whose claim fails skips the entry (a sender's value from a skipped entry
//! goes to the stash, where its owner finds it). Hence the invariants:
//!
//! 1. **A select commits exactly one case.** Only the CAS winner acts, and a partner
//!    acts only after winning. A sender never believes a value was delivered that the
//!    selector did not take: delivery *is* the receiver's claim, made before it takes
//!    the value, under the lock that guards the entry.
//! 2. **No value is lost or duplicated.** A value is always in exactly one place: the
//!    sender's hands, a queue entry, the buffer, the stash (keyed by its owner), or the
//!    receiver's hands; each move happens under the channel's lock. Before its
//!    operation returns, the owner withdraws every entry it left and takes back every
//!    value stashed for it, so its record can be reused.
//! 3. **No wake-up is lost.** The owner enqueues its entry and releases the lock before
//!    it parks; a claimer changes the state word *before* it unparks the owner, and
//!    the owner re-reads the word after every return from `park` (which may be
//!    spurious). A token given before the park makes the park return at once.
//! 4. **A rendezvous send completes only after a receive has begun**: a send on a
//!    capacity-0 channel succeeds either by claiming a blocked receiver or by being
//!    claimed by one.
//! 5. **FIFO per channel** among blocked senders and among blocked receivers; when a
//!    buffered value is taken, the oldest blocked sender's value takes the freed slot.
//!
//! `select` itself: (1) try each case without blocking, in a uniformly random order
//! (a Fisher-Yates shuffle from a thread-local xorshift: each ready case is equally
//! likely to win) or in written order when biased; (2) otherwise register on every
//! channel in that order (a case already ready aborts the registration and goes back to
//! step 1); (3) park until claimed or timed out; (4) withdraw the other registrations
//! and collect the chosen case's result. A select never matches itself (a send and a
//! receive case on one channel).
//!
//! A blocked operation's record is its thread: a handle in each queue entry and one state
//! word in the thread's control block (`waiter.rs`), so a blocking send or receive
//! allocates nothing in the steady state. Every operation (a `select` once,
//! whatever its number of cases) spends one unit of the cooperative budget
//! ([`crate::runtime::coop`]), so a green thread polling with `try_recv` lets the
//! others of its worker run. A kernel thread spins briefly before it
//! parks (its partner is likely running on another CPU); a green thread parks at once
//! (its partner may need its worker).

// Under loom, the deadline operations take the model clock's (crate-private) Instant.
#[cfg_attr(loom, allow(private_interfaces))]
mod chan;
mod choice;
mod counted;
mod error;
pub(crate) mod landing;
#[cfg(all(test, loom))]
mod loom_tests;
#[cfg_attr(loom, allow(private_interfaces))]
mod select;
mod waiter;

pub use chan::{bounded, channel, unbounded, IntoIter, Iter, Receiver, Sender, TryIter};
#[cfg(not(loom))]
pub use choice::par;
pub use choice::{internal_choice, Branches, Chooser};
pub use error::{
    RecvError, RecvTimeoutError, SelectError, SelectTimeoutError, SendError, SendTimeoutError,
    TryRecvError, TrySelectError, TrySendError,
};
pub use select::{Select, SelectedOperation};

#[doc(inline)]
pub use crate::{par, select, select_biased};

/// What the macros expand to; not public API.
#[doc(hidden)]
pub mod __private {
    pub use super::choice::JoinAll;
    pub use super::select::{run, Case, RecvCase, SendCase, Timeout};
}
