//! Supervisors: an actor that starts children, links to them, traps their exits and
//! restarts them, as OTP's `supervisor` does.
//!
//! * **Strategies.** `OneForOne` restarts the child that stopped; `OneForAll` stops the
//!   others (in reverse start order) and restarts all (in start order); `RestForOne`
//!   does that for the child and those started after it.
//! * **Restart types.** A `Permanent` child is always restarted, a `Transient` one only
//!   after an abnormal exit, a `Temporary` one never.
//! * **Intensity.** At most `max_restarts` restarts within `period`: the one beyond that
//!   makes the supervisor stop its children and stop itself with an
//!   [`ExitReason::Error`], which its own supervisor (if it has one) sees through their
//!   link.
//! * **Start failures.** A start function that panics counts as a restart (and is tried
//!   again, within the intensity); at [`Supervisor::start`] it is an error.
//! * **Shutdown.** [`Supervisor::shutdown`], or an exit signal from a parent, stops the
//!   children in reverse start order: each gets an exit signal `Shutdown` and up to the
//!   child's shutdown timeout to stop (a green thread is never killed in the middle of
//!   its code: one that does not stop in time is unlinked and left, and the shutdown
//!   goes on).
//!
//! A supervisor is itself a child for another supervisor (`ChildSpec::new` takes any
//! start function returning a [`Supervisor`] or an [`Addr`]), so trees are built the
//! same way.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::link::{self, Signals};
use super::{ActorId, Addr, Builder, CallError, Ctx, Exit, ExitReason, ReplyTo};

/// Which children a supervisor restarts when one stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Only the child that stopped.
    OneForOne,
    /// Every child.
    OneForAll,
    /// The child that stopped and those started after it.
    RestForOne,
}

/// When a child is restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Always.
    Permanent,
    /// After an abnormal exit only.
    Transient,
    /// Never.
    Temporary,
}

/// A started child as its supervisor holds it: any actor or supervisor.
pub struct ChildRef(Arc<dyn Signals>);

impl fmt::Debug for ChildRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChildRef({})", self.0.core().id)
    }
}

impl<M: Send + 'static> From<Addr<M>> for ChildRef {
    fn from(a: Addr<M>) -> Self {
        ChildRef(a.signals())
    }
}

impl From<Supervisor> for ChildRef {
    fn from(s: Supervisor) -> Self {
        ChildRef(s.addr.signals())
    }
}

type StartFn = Arc<dyn Fn() -> ChildRef + Send + Sync>;

/// How to start (and restart) one child.
#[derive(Clone)]
pub struct ChildSpec {
    name: String,
    start: StartFn,
    restart: Restart,
    shutdown: Duration,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .finish()
    }
}

impl ChildSpec {
    /// A permanent child named `name`, started by `start` (which spawns it and returns
    /// its address or supervisor), with 5 s to stop at shutdown.
    pub fn new<C: Into<ChildRef>>(
        name: impl Into<String>,
        start: impl Fn() -> C + Send + Sync + 'static,
    ) -> Self {
        ChildSpec {
            name: name.into(),
            start: Arc::new(move || start().into()),
            restart: Restart::Permanent,
            shutdown: Duration::from_secs(5),
        }
    }

    /// When to restart it.
    pub fn restart(mut self, r: Restart) -> Self {
        self.restart = r;
        self
    }

    /// How long it gets to stop at shutdown.
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown = d;
        self
    }
}

/// Why a supervisor did not start or did not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SupervisorError {
    /// A child's start function panicked at the first start.
    StartFailed {
        /// The child's name.
        child: String,
        /// The panic's message.
        reason: String,
    },
    /// The supervisor's thread could not be created.
    Spawn(String),
    /// The supervisor did not answer: it has stopped, or took too long.
    Call(CallError),
}

impl fmt::Display for SupervisorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SupervisorError::StartFailed { child, reason } => {
                write!(f, "child {child:?} failed to start: {reason}")
            }
            SupervisorError::Spawn(e) => write!(f, "cannot spawn the supervisor: {e}"),
            SupervisorError::Call(e) => write!(f, "the supervisor did not answer: {e}"),
        }
    }
}

impl std::error::Error for SupervisorError {}

/// A supervisor's messages (use the [`Supervisor`] methods).
pub(crate) enum SupMsg {
    Exit(Exit),
    Children(ReplyTo<Vec<(String, Option<ActorId>)>>),
    Shutdown(ReplyTo<()>),
    Restarts(ReplyTo<usize>),
}

impl From<Exit> for SupMsg {
    fn from(e: Exit) -> Self {
        SupMsg::Exit(e)
    }
}

/// A running supervisor. See the module docs of `weft::actor`.
///
/// ```
/// use std::time::Duration;
/// use weft::actor::{self, ChildSpec, Strategy, Supervisor};
///
/// let sup = Supervisor::builder(Strategy::OneForOne)
///     .intensity(3, Duration::from_secs(5))
///     .child(ChildSpec::new("worker", || {
///         actor::spawn(|ctx: &mut actor::Ctx<u32>| loop {
///             if ctx.recv() == 0 {
///                 panic!("zero"); // the supervisor restarts it
///             }
///         })
///     }))
///     .start()
///     .unwrap();
/// let children = sup.children().unwrap();
/// assert_eq!(children[0].0, "worker");
/// assert!(children[0].1.is_some());
/// sup.shutdown(Duration::from_secs(5)).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Supervisor {
    addr: Addr<SupMsg>,
}

/// Builds a [`Supervisor`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct SupervisorBuilder {
    strategy: Strategy,
    max_restarts: usize,
    period: Duration,
    children: Vec<ChildSpec>,
    name: Option<String>,
}

impl Supervisor {
    /// A supervisor with `strategy`, allowing 3 restarts in 5 s (OTP's defaults: 1 in 5).
    pub fn builder(strategy: Strategy) -> SupervisorBuilder {
        SupervisorBuilder {
            strategy,
            max_restarts: 3,
            period: Duration::from_secs(5),
            children: Vec::new(),
            name: None,
        }
    }

    /// The supervisor's identity.
    pub fn id(&self) -> ActorId {
        self.addr.id()
    }

    /// `true` once it has stopped.
    pub fn is_stopped(&self) -> bool {
        self.addr.is_stopped()
    }

    /// Watches the supervisor from outside any actor.
    pub fn monitor(&self) -> crate::csp::Receiver<super::Down> {
        super::monitor(&self.addr)
    }

    /// Each child's name and current identity (`None`: not running), in start order.
    ///
    /// # Errors
    ///
    /// [`SupervisorError::Call`] when the supervisor has stopped or does not answer
    /// within 5 s.
    pub fn children(&self) -> Result<Vec<(String, Option<ActorId>)>, SupervisorError> {
        self.addr
            .call(SupMsg::Children, Duration::from_secs(5))
            .map_err(SupervisorError::Call)
    }

    /// Restarts made so far.
    ///
    /// # Errors
    ///
    /// As [`children`](Self::children).
    pub fn restarts(&self) -> Result<usize, SupervisorError> {
        self.addr
            .call(SupMsg::Restarts, Duration::from_secs(5))
            .map_err(SupervisorError::Call)
    }

    /// Stops the children in reverse start order, then the supervisor; waits up to
    /// `timeout` for that.
    ///
    /// # Errors
    ///
    /// [`SupervisorError::Call`] when it had already stopped or took longer.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), SupervisorError> {
        self.addr
            .call(SupMsg::Shutdown, timeout)
            .map_err(SupervisorError::Call)
    }
}

impl SupervisorBuilder {
    /// At most `max_restarts` restarts within `period`.
    pub fn intensity(mut self, max_restarts: usize, period: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.period = period;
        self
    }

    /// Adds a child (started in the order added).
    pub fn child(mut self, spec: ChildSpec) -> Self {
        self.children.push(spec);
        self
    }

    /// Names the supervisor's actor.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Starts the supervisor and its children, in order; returns when all have started.
    ///
    /// # Errors
    ///
    /// [`SupervisorError::StartFailed`] when a start function panics (the children
    /// already started are stopped), [`SupervisorError::Spawn`].
    pub fn start(self) -> Result<Supervisor, SupervisorError> {
        let (tx, rx) = crate::csp::bounded::<Result<(), SupervisorError>>(1);
        let mut b = Builder::new();
        if let Some(n) = &self.name {
            b = b.name(n.clone());
        }
        let addr = b
            .spawn(move |ctx: &mut Ctx<SupMsg>| supervise(ctx, self, tx))
            .map_err(|e| SupervisorError::Spawn(e.to_string()))?;
        match rx.recv() {
            Ok(Ok(())) => Ok(Supervisor { addr }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SupervisorError::Call(CallError::NoReply)),
        }
    }
}

struct Running {
    spec: ChildSpec,
    child: Option<Arc<dyn Signals>>,
}

struct State {
    strategy: Strategy,
    max_restarts: usize,
    period: Duration,
    children: Vec<Running>,
    restarts: VecDeque<Instant>,
    total: usize,
}

/// Starts one child and links to it; `Err(message)` when its start function panicked.
fn start_child(ctx: &mut Ctx<SupMsg>, spec: &ChildSpec) -> Result<Arc<dyn Signals>, String> {
    match catch_unwind(AssertUnwindSafe(|| (spec.start)())) {
        Ok(ChildRef(c)) => {
            link::link(&ctx.me.signals(), &c);
            Ok(c)
        }
        Err(p) => Err(super::panic_message(&*p)),
    }
}

/// Stops one child: an exit signal `Shutdown`, then its `Exit` (we trap them) or the
/// timeout (then it is unlinked and left).
fn stop_child(ctx: &mut Ctx<SupMsg>, child: &Arc<dyn Signals>, timeout: Duration) {
    let id = child.core().id;
    if child.core().state.lock().exited.is_some() {
        // Stopped already: its `Exit` is (or will be) in our mailbox; take it.
        let _ = ctx.recv_match_timeout(
            |m| matches!(m, SupMsg::Exit(e) if e.from == id),
            Duration::from_millis(100),
        );
        return;
    }
    child.exit_signal(ctx.me.id(), &ExitReason::Shutdown);
    let got = ctx.recv_match_timeout(|m| matches!(m, SupMsg::Exit(e) if e.from == id), timeout);
    if got.is_err() {
        link::unlink(&*ctx.me.shared, &**child);
    }
}

fn stop_all(ctx: &mut Ctx<SupMsg>, st: &mut State, from: usize) {
    for i in (from..st.children.len()).rev() {
        if let Some(c) = st.children[i].child.take() {
            let t = st.children[i].spec.shutdown;
            stop_child(ctx, &c, t);
        }
    }
}

/// Counts a restart; `false` when it exceeds the intensity.
fn allow_restart(st: &mut State) -> bool {
    let now = Instant::now();
    while st
        .restarts
        .front()
        .is_some_and(|t| now.duration_since(*t) > st.period)
    {
        st.restarts.pop_front();
    }
    st.restarts.push_back(now);
    st.total += 1;
    st.restarts.len() <= st.max_restarts
}

/// Restarts children `which` (in order); `false` when the intensity is exceeded.
fn restart(ctx: &mut Ctx<SupMsg>, st: &mut State, which: std::ops::Range<usize>) -> bool {
    for i in which {
        if st.children[i].spec.restart == Restart::Temporary && st.children[i].child.is_none() {
            continue; // never restarted
        }
        loop {
            match start_child(ctx, &st.children[i].spec) {
                Ok(c) => {
                    st.children[i].child = Some(c);
                    break;
                }
                // A start that panics counts as a restart; try again within the limit.
                Err(_) => {
                    if !allow_restart(st) {
                        return false;
                    }
                }
            }
        }
    }
    true
}

fn supervise(
    ctx: &mut Ctx<SupMsg>,
    b: SupervisorBuilder,
    started: crate::csp::Sender<Result<(), SupervisorError>>,
) {
    ctx.trap_exits();
    let mut st = State {
        strategy: b.strategy,
        max_restarts: b.max_restarts,
        period: b.period,
        children: Vec::new(),
        restarts: VecDeque::new(),
        total: 0,
    };
    for spec in b.children {
        match start_child(ctx, &spec) {
            Ok(c) => st.children.push(Running {
                spec,
                child: Some(c),
            }),
            Err(reason) => {
                stop_all(ctx, &mut st, 0);
                let _ = started.send(Err(SupervisorError::StartFailed {
                    child: spec.name.clone(),
                    reason,
                }));
                return;
            }
        }
    }
    let _ = started.send(Ok(()));
    drop(started);
    loop {
        match ctx.recv() {
            SupMsg::Children(r) => {
                let _ = r.send(
                    st.children
                        .iter()
                        .map(|c| (c.spec.name.clone(), c.child.as_ref().map(|c| c.core().id)))
                        .collect(),
                );
            }
            SupMsg::Restarts(r) => {
                let _ = r.send(st.total);
            }
            SupMsg::Shutdown(r) => {
                stop_all(ctx, &mut st, 0);
                let _ = r.send(());
                return;
            }
            SupMsg::Exit(e) => {
                let Some(i) = st
                    .children
                    .iter()
                    .position(|c| c.child.as_ref().is_some_and(|c| c.core().id == e.from))
                else {
                    // Not a child: the parent (or another link) stopped. Stop everything
                    // and go with the same reason.
                    if e.reason.is_normal() {
                        continue;
                    }
                    stop_all(ctx, &mut st, 0);
                    ctx.exit(e.reason);
                };
                st.children[i].child = None;
                let again = match st.children[i].spec.restart {
                    Restart::Permanent => true,
                    Restart::Transient => !e.reason.is_normal(),
                    Restart::Temporary => false,
                };
                if !again {
                    continue;
                }
                if !allow_restart(&mut st) {
                    stop_all(ctx, &mut st, 0);
                    ctx.exit(ExitReason::Error(
                        "reached the maximum restart intensity".into(),
                    ));
                }
                let range = match st.strategy {
                    Strategy::OneForOne => i..i + 1,
                    Strategy::OneForAll => {
                        stop_all(ctx, &mut st, 0);
                        0..st.children.len()
                    }
                    Strategy::RestForOne => {
                        stop_all(ctx, &mut st, i + 1);
                        i..st.children.len()
                    }
                };
                if !restart(ctx, &mut st, range) {
                    stop_all(ctx, &mut st, 0);
                    ctx.exit(ExitReason::Error(
                        "reached the maximum restart intensity".into(),
                    ));
                }
            }
        }
    }
}
