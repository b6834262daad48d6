//! Actors: green threads with identities and asynchronous mailboxes, Erlang-style links,
//! monitors and supervisors.
//!
//! The survey's *Actor Model*: an actor is known by its address ([`Addr`]), and sending
//! to it never waits for it ([`Addr::send`] on an unbounded mailbox). Each actor is a
//! green thread (its own stack, its name in panic, overflow and deadlock reports) that
//! receives from its mailbox with [`Ctx::recv`], [`Ctx::recv_timeout`] or the selective
//! [`Ctx::recv_match`], which leaves the messages it skips queued in order.
//!
//! ```
//! use weft::actor::{self, ReplyTo};
//!
//! enum Counter {
//!     Add(u64),
//!     Get(ReplyTo<u64>),
//! }
//!
//! let counter = actor::spawn(|ctx| {
//!     let mut total = 0;
//!     loop {
//!         match ctx.recv() {
//!             Counter::Add(n) => total += n,
//!             Counter::Get(reply) => {
//!                 let _ = reply.send(total);
//!             }
//!         }
//!     }
//! });
//! counter.send(Counter::Add(2)).unwrap();
//! counter.send(Counter::Add(3)).unwrap();
//! let total = counter.call(Counter::Get, std::time::Duration::from_secs(5));
//! assert_eq!(total, Ok(5));
//! ```
//!
//! # The mailbox
//!
//! A lock-free queue (`queue.rs`: many producers, one consumer, a linked list) with an
//! owner that parks when it is empty and a close that loses no message (`mailbox.rs`
//! states the protocol). Messages from one actor to another arrive in the order sent.
//! When an actor stops, its mailbox closes: later sends hand their message back
//! ([`SendError`]), and what was still queued is dropped.
//!
//! A mailbox is unbounded unless [`Builder::capacity`] bounds it: then [`Addr::send`]
//! waits for room (back-pressure), [`Addr::try_send`] reports [`TrySendError::Full`], and
//! [`Addr::send_timeout`] / [`Addr::send_deadline`] wait so long at most; every failed
//! send hands the message back.
//!
//! An idle actor costs a parked green thread plus its shared record (104 bytes: the
//! mailbox and the core, whose links, monitors and names are boxed on first use) and
//! the addresses others keep.
//!
//! # Links, monitors, exits
//!
//! As in Erlang (`link.rs`): an actor stops *normally* when its closure returns, with
//! [`ExitReason::Panic`] when it panics, or with a reason of its choice through
//! [`Ctx::exit`]. Linked actors ([`Ctx::link`], [`Ctx::spawn_link`]) that do not trap
//! exits stop with the same reason when a link stops abnormally (at their next receive:
//! a green thread is never interrupted in the middle of its code); a normal exit does not
//! propagate. An actor that traps exits ([`Ctx::trap_exits`]) gets an [`Exit`] message
//! instead. A monitor ([`Ctx::monitor`]) gets a [`Down`] message with the reason, however
//! the actor stopped. A panic stops only its actor (and, through links, those linked to
//! it): never a worker, never another actor.
//!
//! # Names
//!
//! [`register`] gives an actor a name, [`whereis`] finds it (typed: the wrong message
//! type is `None`); a name is released when its actor stops.
//!
//! # Supervisors
//!
//! [`Supervisor`] starts children from [`ChildSpec`]s and restarts them under the
//! `one_for_one`, `one_for_all` or `rest_for_one` strategy, within a restart intensity;
//! see its docs.

mod link;
mod mailbox;
mod queue;
mod registry;
mod supervisor;

use std::collections::VecDeque;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use link::{Core, Signals};
use mailbox::{Mailbox, Refused};

pub use registry::{register, unregister, whereis, RegisterError};
pub use supervisor::{ChildSpec, Restart, Strategy, Supervisor, SupervisorError};

/// An actor's identity: unique in the process, never reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId(u64);

impl ActorId {
    /// The sender of exit signals from outside any actor ([`exit`]).
    pub const OUTSIDE: ActorId = ActorId(0);

    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ActorId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<actor {}>", self.0)
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<actor {}>", self.0)
    }
}

/// Why an actor stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// Its closure returned. Links are not signalled (monitors are).
    Normal,
    /// It was asked to stop (by its supervisor's shutdown, or [`Ctx::exit`]).
    Shutdown,
    /// It panicked, with this message.
    Panic(Arc<str>),
    /// It stopped with a reason of its own ([`Ctx::exit`]).
    Error(Arc<str>),
}

impl ExitReason {
    /// `true` for [`ExitReason::Normal`].
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Panic(m) => write!(f, "panicked: {m}"),
            ExitReason::Error(m) => write!(f, "{m}"),
        }
    }
}

/// An exit signal received as a message by an actor that traps exits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// The linked actor that stopped.
    pub from: ActorId,
    /// Why.
    pub reason: ExitReason,
}

/// A monitor's notice that the watched actor stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Down {
    /// The monitor it answers ([`Ctx::monitor`]'s result).
    pub monitor: MonitorRef,
    /// The actor that stopped.
    pub actor: ActorId,
    /// Why.
    pub reason: ExitReason,
}

/// Identifies one monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MonitorRef(u64);

impl MonitorRef {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        MonitorRef(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A send to an actor that has stopped; the message is handed back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<M>(pub M);

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<M> fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending to an actor that has stopped")
    }
}

impl<M> std::error::Error for SendError<M> {}

/// Why [`Addr::try_send`] did not queue the message; the message is handed back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<M> {
    /// The actor's bounded mailbox is full.
    Full(M),
    /// The actor has stopped.
    Stopped(M),
}

/// Why [`Addr::send_timeout`] or [`Addr::send_deadline`] did not queue the message; the
/// message is handed back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendTimeoutError<M> {
    /// The actor's bounded mailbox stayed full until the deadline.
    Timeout(M),
    /// The actor has stopped.
    Stopped(M),
}

macro_rules! message_error {
    ($t:ident, $full:ident, $full_text:literal) => {
        impl<M> $t<M> {
            /// The message that was not sent.
            pub fn into_inner(self) -> M {
                match self {
                    $t::$full(m) | $t::Stopped(m) => m,
                }
            }
        }

        impl<M> fmt::Debug for $t<M> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self {
                    $t::$full(_) => concat!(stringify!($full), "(..)"),
                    $t::Stopped(_) => "Stopped(..)",
                })
            }
        }

        impl<M> fmt::Display for $t<M> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self {
                    $t::$full(_) => $full_text,
                    $t::Stopped(_) => "sending to an actor that has stopped",
                })
            }
        }

        impl<M> std::error::Error for $t<M> {}
    };
}

message_error!(TrySendError, Full, "the actor's mailbox is full");
message_error!(
    SendTimeoutError,
    Timeout,
    "the actor's mailbox stayed full until the deadline"
);

/// Why a [`Addr::call`] got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The actor had stopped before the request reached it.
    Stopped,
    /// The actor dropped the reply handle without answering (it stopped, or chose not to).
    NoReply,
    /// No answer within the timeout.
    Timeout,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CallError::Stopped => "the actor had stopped",
            CallError::NoReply => "the actor dropped the request without replying",
            CallError::Timeout => "no reply within the timeout",
        })
    }
}

impl std::error::Error for CallError {}

/// A receive that timed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no message within the timeout")
    }
}

impl std::error::Error for Timeout {}

/// Where an actor answers a [`Addr::call`]: send the reply once.
pub struct ReplyTo<R> {
    tx: crate::csp::Sender<R>,
}

impl<R> ReplyTo<R> {
    /// Sends the reply; `Err(r)` when the caller has given up (timed out).
    pub fn send(self, r: R) -> Result<(), R> {
        self.tx.try_send(r).map_err(|e| e.into_inner())
    }
}

impl<R> fmt::Debug for ReplyTo<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyTo { .. }")
    }
}

/// How a trapped exit signal becomes a message.
type TrapFn<M> = fn(Exit) -> M;

/// What an address points to: the mailbox and the core.
struct Shared<M> {
    mailbox: Mailbox<M>,
    core: Core,
}

impl<M: Send + 'static> Signals for Shared<M> {
    fn core(&self) -> &Core {
        &self.core
    }

    fn exit_signal(&self, from: ActorId, reason: &ExitReason) {
        let trap = self
            .core
            .state
            .lock()
            .trap
            .as_ref()
            .and_then(|t| t.downcast_ref::<TrapFn<M>>().copied());
        if let Some(conv) = trap {
            let _ = self
                .mailbox
                .push_signal(conv(link::as_message(from, reason)));
            return;
        }
        if !link::kills(reason) {
            return;
        }
        {
            let mut st = self.core.state.lock();
            if st.exited.is_some() || st.pending_exit.is_some() {
                return;
            }
            st.pending_exit = Some(reason.clone());
            self.mailbox.signalled.store(true, Ordering::Release);
        }
        self.mailbox.wake();
    }
}

/// An actor's address: its identity, and the door to its mailbox.
///
/// Clonable (a reference count), comparable and hashable by identity.
pub struct Addr<M> {
    shared: Arc<Shared<M>>,
}

impl<M> Clone for Addr<M> {
    fn clone(&self) -> Self {
        Addr {
            shared: self.shared.clone(),
        }
    }
}

impl<M> PartialEq for Addr<M> {
    fn eq(&self, other: &Self) -> bool {
        self.shared.core.id == other.shared.core.id
    }
}

impl<M> Eq for Addr<M> {}

impl<M> Hash for Addr<M> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.shared.core.id.hash(h);
    }
}

impl<M> fmt::Debug for Addr<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Addr")
            .field("id", &self.shared.core.id)
            .field("name", &self.shared.core.state.name())
            .finish()
    }
}

impl<M: Send + 'static> Addr<M> {
    /// The actor's identity.
    pub fn id(&self) -> ActorId {
        self.shared.core.id
    }

    /// Queues `m` for the actor. An unbounded mailbox (the default) never makes it wait;
    /// a bounded one ([`Builder::capacity`]) waits for room: back-pressure. `Err` (with the
    /// message) when the actor has stopped, also while waiting. Spends one unit of the
    /// cooperative budget.
    ///
    /// ```
    /// let a = weft::actor::spawn(|ctx: &mut weft::actor::Ctx<u32>| {
    ///     let _ = ctx.recv();
    /// });
    /// assert!(a.send(1).is_ok());
    /// ```
    #[inline]
    pub fn send(&self, m: M) -> Result<(), SendError<M>> {
        crate::runtime::coop::spend();
        self.shared
            .mailbox
            .push_waiting(m, None)
            .map_err(|r| match r {
                Refused::Closed(m) | Refused::Full(m) => SendError(m),
            })
    }

    /// Queues `m` if there is room now (an unbounded mailbox always has room).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] when the bounded mailbox is full, [`TrySendError::Stopped`]
    /// when the actor has stopped; both hand the message back.
    ///
    /// ```
    /// use weft::actor::{Builder, Ctx, TrySendError};
    /// let (go, wait) = weft::csp::channel::<()>();
    /// let a = Builder::new()
    ///     .capacity(1)
    ///     .spawn(move |ctx: &mut Ctx<u32>| {
    ///         wait.recv().unwrap();
    ///         let _ = ctx.recv();
    ///     })?;
    /// assert!(a.try_send(1).is_ok());
    /// assert_eq!(a.try_send(2), Err(TrySendError::Full(2)));
    /// go.send(()).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_send(&self, m: M) -> Result<(), TrySendError<M>> {
        crate::runtime::coop::spend();
        self.shared
            .mailbox
            .push_waiting(m, Some(Instant::now()))
            .map_err(|r| match r {
                Refused::Closed(m) => TrySendError::Stopped(m),
                Refused::Full(m) => TrySendError::Full(m),
            })
    }

    /// Queues `m`, waiting at most `timeout` for room in a bounded mailbox.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] when no room came in time,
    /// [`SendTimeoutError::Stopped`] when the actor has stopped; both hand the message back.
    pub fn send_timeout(&self, m: M, timeout: Duration) -> Result<(), SendTimeoutError<M>> {
        match Instant::now().checked_add(timeout) {
            Some(d) => self.send_deadline(m, d),
            // A timeout past the end of time: no deadline.
            None => self
                .send(m)
                .map_err(|SendError(m)| SendTimeoutError::Stopped(m)),
        }
    }

    /// Queues `m`, waiting until `deadline` at most for room in a bounded mailbox.
    ///
    /// # Errors
    ///
    /// As for [`send_timeout`](Self::send_timeout).
    pub fn send_deadline(&self, m: M, deadline: Instant) -> Result<(), SendTimeoutError<M>> {
        crate::runtime::coop::spend();
        self.shared
            .mailbox
            .push_waiting(m, Some(deadline))
            .map_err(|r| match r {
                Refused::Closed(m) => SendTimeoutError::Stopped(m),
                Refused::Full(m) => SendTimeoutError::Timeout(m),
            })
    }

    /// The capacity of the actor's mailbox; `None` when it is unbounded.
    pub fn capacity(&self) -> Option<usize> {
        self.shared.mailbox.capacity()
    }

    /// `true` once the actor has stopped.
    pub fn is_stopped(&self) -> bool {
        self.shared.mailbox.is_closed()
    }

    /// Messages waiting in the mailbox now (a racy count, for diagnostics).
    pub fn queued(&self) -> usize {
        self.shared.mailbox.len()
    }

    /// Request/reply: sends the message `make` builds around a reply handle, and waits up
    /// to `timeout` for the answer.
    ///
    /// # Errors
    ///
    /// [`CallError::Stopped`] when the actor had stopped, [`CallError::NoReply`] when it
    /// drops the handle (it stopped before answering), [`CallError::Timeout`].
    pub fn call<R: Send + 'static>(
        &self,
        make: impl FnOnce(ReplyTo<R>) -> M,
        timeout: Duration,
    ) -> Result<R, CallError> {
        let (tx, rx) = crate::csp::bounded(1);
        if self.send(make(ReplyTo { tx })).is_err() {
            return Err(CallError::Stopped);
        }
        rx.recv_timeout(timeout).map_err(|e| match e {
            crate::csp::RecvTimeoutError::Timeout => CallError::Timeout,
            crate::csp::RecvTimeoutError::Disconnected => CallError::NoReply,
        })
    }

    fn signals(&self) -> Arc<dyn Signals> {
        self.shared.clone()
    }
}

/// An actor's view of itself, handed to its closure: its mailbox, its links and monitors.
///
/// A `Ctx` stays on its actor's thread: it is neither `Send` nor `Sync` (the mailbox has
/// one consumer, the actor), so it cannot be handed to another thread, even borrowed:
///
/// ```compile_fail
/// fn needs_send<T: Send>(_: T) {}
/// let _ = weft::actor::spawn(|ctx: &mut weft::actor::Ctx<u32>| needs_send(ctx));
/// ```
pub struct Ctx<M> {
    me: Addr<M>,
    /// Messages a selective receive skipped, oldest first: always older than anything
    /// still in the mailbox.
    saved: VecDeque<M>,
    _on_its_thread: PhantomData<*const ()>,
}

impl<M> fmt::Debug for Ctx<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("me", &self.me)
            .field("saved", &self.saved.len())
            .finish()
    }
}

/// How an actor leaves through [`Ctx::exit`] or an exit signal (an unwinding payload,
/// not a panic: no panic message is printed).
struct ExitPayload(ExitReason);

impl<M: Send + 'static> Ctx<M> {
    /// This actor's address.
    pub fn me(&self) -> &Addr<M> {
        &self.me
    }

    /// Stops now if an exit signal is pending. The check (one load) is inlined into each
    /// receive; taking the signal is out of line.
    #[inline(always)]
    fn check_signals(&self) {
        if self.me.shared.mailbox.signalled.load(Ordering::Acquire) {
            self.take_signal();
        }
    }

    /// A pending exit signal stops the actor (an unwind to `run`).
    #[cold]
    #[inline(never)]
    fn take_signal(&self) {
        let pending = self.me.shared.core.state.lock().pending_exit.take();
        if let Some(r) = pending {
            resume_unwind(Box::new(ExitPayload(r)));
        }
    }

    fn next(&mut self, deadline: Option<Instant>) -> Result<M, Timeout> {
        if let Some(m) = self.saved.pop_front() {
            return Ok(m);
        }
        self.next_fresh(deadline)
    }

    /// The next message from the mailbox itself (not the saved ones).
    fn next_fresh(&mut self, deadline: Option<Instant>) -> Result<M, Timeout> {
        crate::runtime::coop::spend();
        loop {
            self.check_signals();
            // SAFETY: a `Ctx` is made once per actor, on its thread, and is neither `Send`
            // nor `Sync`, so this is the mailbox's one consumer.
            if let Some(m) = unsafe { self.me.shared.mailbox.pop() } {
                return Ok(m);
            }
            // SAFETY: as above.
            if !unsafe { self.me.shared.mailbox.sleep(deadline) } {
                self.check_signals();
                // SAFETY: as above.
                return unsafe { self.me.shared.mailbox.pop() }.ok_or(Timeout);
            }
        }
    }

    /// The next message, waiting as long as it takes.
    pub fn recv(&mut self) -> M {
        match self.next(None) {
            Ok(m) => m,
            Err(Timeout) => unreachable!("a receive without a deadline does not time out"),
        }
    }

    /// The next message, if one is there now.
    pub fn try_recv(&mut self) -> Option<M> {
        self.recv_deadline(Instant::now()).ok()
    }

    /// The next message within `timeout`.
    ///
    /// # Errors
    ///
    /// [`Timeout`] when none arrived in time.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<M, Timeout> {
        self.next(Instant::now().checked_add(timeout))
    }

    /// The next message before `deadline`.
    ///
    /// # Errors
    ///
    /// [`Timeout`] when none arrived in time.
    pub fn recv_deadline(&mut self, deadline: Instant) -> Result<M, Timeout> {
        self.next(Some(deadline))
    }

    /// Selective receive: the oldest message for which `pred` is true, waiting as long as
    /// it takes; the others stay queued, in order, for later receives.
    pub fn recv_match(&mut self, pred: impl FnMut(&M) -> bool) -> M {
        match self.match_until(pred, None) {
            Ok(m) => m,
            Err(Timeout) => unreachable!("a receive without a deadline does not time out"),
        }
    }

    /// Selective receive within `timeout`.
    ///
    /// # Errors
    ///
    /// [`Timeout`] when no matching message arrived in time (the others stay queued).
    pub fn recv_match_timeout(
        &mut self,
        pred: impl FnMut(&M) -> bool,
        timeout: Duration,
    ) -> Result<M, Timeout> {
        self.match_until(pred, Instant::now().checked_add(timeout))
    }

    fn match_until(
        &mut self,
        mut pred: impl FnMut(&M) -> bool,
        deadline: Option<Instant>,
    ) -> Result<M, Timeout> {
        if let Some(i) = self.saved.iter().position(&mut pred) {
            return Ok(self.saved.remove(i).expect("a found position"));
        }
        loop {
            let m = self.next_fresh(deadline)?;
            if pred(&m) {
                return Ok(m);
            }
            self.saved.push_back(m);
        }
    }

    /// Stops this actor with `reason` (links and monitors see it). Never returns.
    pub fn exit(&mut self, reason: ExitReason) -> ! {
        resume_unwind(Box::new(ExitPayload(reason)))
    }

    /// From now on, exit signals from linked actors arrive as messages instead of
    /// stopping this actor.
    pub fn trap_exits(&mut self)
    where
        M: From<Exit>,
    {
        let mut st = self.me.shared.core.state.lock();
        if st.trap.is_none() {
            let conv: TrapFn<M> = <M as From<Exit>>::from;
            st.trap = Some(Box::new(conv));
        }
    }

    /// Links this actor with `other` (both ways).
    pub fn link<N: Send + 'static>(&mut self, other: &Addr<N>) {
        link::link(&self.me.signals(), &other.signals());
    }

    /// Removes the link with `other`.
    pub fn unlink<N: Send + 'static>(&mut self, other: &Addr<N>) {
        link::unlink(&*self.me.shared, &*other.shared);
    }

    /// Watches `other`: when it stops (or if it already has), this actor receives a
    /// [`Down`] naming the returned reference.
    pub fn monitor<N: Send + 'static>(&mut self, other: &Addr<N>) -> MonitorRef
    where
        M: From<Down>,
    {
        let r = MonitorRef::next();
        let me = self.me.clone();
        link::monitor(
            &*other.shared,
            r,
            Box::new(move |d| {
                let _ = me.shared.mailbox.push(M::from(d));
            }),
        );
        r
    }

    /// Stops watching (no `Down` arrives for `r` afterwards, unless already queued).
    pub fn demonitor<N: Send + 'static>(&mut self, other: &Addr<N>, r: MonitorRef) {
        link::demonitor(&*other.shared, r);
    }

    /// Spawns an actor linked to this one (atomically: it cannot stop unlinked).
    pub fn spawn_link<N, F>(&mut self, f: F) -> Addr<N>
    where
        N: Send + 'static,
        F: FnOnce(&mut Ctx<N>) + Send + 'static,
    {
        Builder::new()
            .link_with(self.me.signals())
            .spawn_or_panic(f)
    }
}

/// Options for a new actor: name, stack size, kernel thread.
#[derive(Default)]
#[must_use = "a builder does nothing until `spawn` is called"]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
    kernel: bool,
    capacity: Option<usize>,
    link: Option<Arc<dyn Signals>>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("stack_size", &self.stack_size)
            .field("kernel", &self.kernel)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Builder {
    /// Default options: a green thread, no name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the actor (and its thread: panic, overflow and deadlock reports show it).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The green thread's stack size (see [`crate::Builder::stack_size`]).
    pub fn stack_size(mut self, size: usize) -> Self {
        self.stack_size = Some(size);
        self
    }

    /// Runs the actor on a kernel thread of its own, for work that blocks in system
    /// calls.
    pub fn kernel(mut self, yes: bool) -> Self {
        self.kernel = yes;
        self
    }

    /// Gives the actor a bounded mailbox of `n` messages: [`Addr::send`] then waits for
    /// room (back-pressure), [`Addr::try_send`] reports it full, and
    /// [`Addr::send_timeout`] waits at most so long. Exit signals an actor traps never
    /// wait: they take room if there is some and are queued beyond the bound otherwise.
    /// `n` must be between 1 and `u32::MAX` ([`Builder::spawn`] refuses others).
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = Some(n);
        self
    }

    fn link_with(mut self, to: Arc<dyn Signals>) -> Self {
        self.link = Some(to);
        self
    }

    /// Starts the actor.
    ///
    /// # Errors
    ///
    /// When its thread cannot be created (see [`crate::Builder::spawn`]), and an error
    /// of kind [`InvalidInput`](std::io::ErrorKind::InvalidInput) for a
    /// [`capacity`](Self::capacity) of 0 or above `u32::MAX`.
    pub fn spawn<M, F>(self, f: F) -> std::io::Result<Addr<M>>
    where
        M: Send + 'static,
        F: FnOnce(&mut Ctx<M>) + Send + 'static,
    {
        let capacity = match self.capacity {
            None => 0,
            Some(n) if (1..=Mailbox::<M>::MAX_CAPACITY).contains(&n) => n as u32,
            Some(n) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "an actor's mailbox capacity must be between 1 and {}, not {n}",
                        Mailbox::<M>::MAX_CAPACITY
                    ),
                ))
            }
        };
        let name: Option<Arc<str>> = self.name.as_deref().map(Arc::from);
        let addr = Addr {
            shared: Arc::new(Shared {
                mailbox: Mailbox::new(capacity),
                core: Core::new(name),
            }),
        };
        if let Some(to) = &self.link {
            link::link(to, &addr.signals());
        }
        let theirs = addr.clone();
        let body = move || run(theirs, f);
        // An unnamed actor's thread is unnamed too (a name is an allocation per actor).
        if self.kernel {
            let mut b = std::thread::Builder::new();
            if let Some(n) = &self.name {
                b = b.name(n.clone());
            }
            let _detached = b.spawn(body)?;
        } else {
            let mut b = crate::Builder::new();
            if let Some(n) = &self.name {
                b = b.name(n.clone());
            }
            if let Some(s) = self.stack_size {
                b = b.stack_size(s);
            }
            // No join handle and no join packet: an actor is known by its address, and
            // its record carries what a packet would (the exit reason, told to links and
            // monitors). `run` catches the actor's own panic; anything that escapes it
            // (a message's `Drop` panicking in the final drain) ends the thread here,
            // never its worker.
            let shared = crate::runtime::current_shared()?;
            let main = Box::new(move || drop(catch_unwind(AssertUnwindSafe(body))));
            let _detached = b.launch(&shared, main)?;
        }
        Ok(addr)
    }
}

impl Builder {
    /// [`Builder::spawn`] for the functions that panic as [`crate::spawn`] does.
    fn spawn_or_panic<M, F>(self, f: F) -> Addr<M>
    where
        M: Send + 'static,
        F: FnOnce(&mut Ctx<M>) + Send + 'static,
    {
        self.spawn(f)
            .unwrap_or_else(|e| panic!("weft: failed to spawn an actor: {e}"))
    }
}

/// An actor's thread: runs its closure, then closes its mailbox and signals its links
/// and monitors.
fn run<M: Send + 'static, F: FnOnce(&mut Ctx<M>)>(me: Addr<M>, f: F) {
    me.shared.mailbox.set_owner(crate::current());
    let mut ctx = Ctx {
        me,
        saved: VecDeque::new(),
        _on_its_thread: PhantomData,
    };
    let r = catch_unwind(AssertUnwindSafe(|| f(&mut ctx)));
    let reason = match r {
        Ok(()) => ExitReason::Normal,
        Err(p) => match p.downcast::<ExitPayload>() {
            Ok(e) => e.0,
            Err(p) => {
                let reason = ExitReason::Panic(panic_message(&*p).into());
                // A payload whose `Drop` panics must not keep the exit from links and
                // monitors either.
                drop(catch_unwind(AssertUnwindSafe(|| drop(p))));
                reason
            }
        },
    };
    let Ctx { me, saved, .. } = ctx;
    // Messages never received are dropped before anyone hears of the exit: a `Down`
    // means the mailbox is closed and emptied.
    // SAFETY: this is the actor's thread and its `Ctx` is gone: the one consumer.
    let left = unsafe { me.shared.mailbox.close() };
    // A message whose `Drop` panics must not keep the exit from links and monitors.
    for m in saved.into_iter().chain(left) {
        drop(catch_unwind(AssertUnwindSafe(|| drop(m))));
    }
    link::stopped(&*me.shared, &reason);
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// Starts an actor on a green thread; returns its address.
///
/// # Panics
///
/// When the thread cannot be created, as [`crate::spawn`] does; use [`Builder::spawn`]
/// for the error.
pub fn spawn<M, F>(f: F) -> Addr<M>
where
    M: Send + 'static,
    F: FnOnce(&mut Ctx<M>) + Send + 'static,
{
    Builder::new().spawn_or_panic(f)
}

/// Starts an actor on a kernel thread of its own (for work that blocks in system calls).
///
/// # Panics
///
/// When the thread cannot be created.
pub fn spawn_kernel<M, F>(f: F) -> Addr<M>
where
    M: Send + 'static,
    F: FnOnce(&mut Ctx<M>) + Send + 'static,
{
    Builder::new().kernel(true).spawn_or_panic(f)
}

/// Watches `target` from outside any actor: the returned receiver gets its [`Down`].
pub fn monitor<N: Send + 'static>(target: &Addr<N>) -> crate::csp::Receiver<Down> {
    let (tx, rx) = crate::csp::bounded(1);
    link::monitor(
        &*target.shared,
        MonitorRef::next(),
        Box::new(move |d| {
            let _ = tx.try_send(d);
        }),
    );
    rx
}

/// Sends `target` an exit signal with `reason`, as a linked actor stopping would: it
/// stops (at its next receive) unless it traps exits (then it gets an [`Exit`]) or the
/// reason is `Normal`.
/// The signal's `from` is [`ActorId::OUTSIDE`].
pub fn exit<N: Send + 'static>(target: &Addr<N>, reason: ExitReason) {
    target.shared.exit_signal(ActorId::OUTSIDE, &reason);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// An idle actor's record stays in malloc's 112-byte class: its shared part (mailbox
    /// and core, 88 bytes) and the `Arc`'s two counts, plus malloc's 8-byte header. The
    /// lab's figure for a million idle actors rests on it.
    #[test]
    fn an_actor_record_is_small() {
        assert!(
            std::mem::size_of::<Shared<u64>>() <= 88,
            "{} bytes",
            std::mem::size_of::<Shared<u64>>()
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "starts a runtime (context switches)")]
    fn an_unbounded_mailbox_has_no_bound() {
        let a = spawn(|ctx: &mut Ctx<u64>| {
            let _ = ctx.recv();
        });
        assert_eq!(
            a.capacity(),
            None,
            "unbounded by default: no bound allocated"
        );
        a.send(1).unwrap();
    }
}
