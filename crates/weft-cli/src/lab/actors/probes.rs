//! The actor workloads, run in a (child) process.
//!
//! - **Ring** (Erlang's classic): N actors in a circle, each knowing the next; one token,
//!   a number, goes round and round. Each actor passes it on, one less; the actor that
//!   receives 0 reports to the driver. A figure is one hop (one message delivered and
//!   forwarded). The ring is built once per probe and reused by every sample.
//! - **Tell**: one sender (the driver) and one receiver; the sender queues `n` numbers
//!   without waiting, then asks the receiver for its count, which must be exactly `n`. A
//!   figure is one message.
//! - **Call**: request/reply round trips from the driver to one server actor, one at a
//!   time, each answer checked. A figure is one round trip.
//! - **Idle actors**: N actors spawned, each waiting for its first message; memory is read
//!   from `/proc/self/status` with all N started (resident memory plus page tables over a
//!   baseline taken before, per actor, the addresses the driver keeps included), then every
//!   actor is sent a message and the probe waits until all have stopped.
//!
//! weft's actors are green threads on a weft runtime of one or two workers, the driver a
//! green thread on it; actix's actors live on its `System` (one thread, its design); ractor's
//! and kameo's are tasks on a tokio runtime, current-thread ("one worker") or multi-threaded
//! with two workers, the driver the runtime's `block_on` future. Every mailbox is unbounded
//! (actix: `do_send`, which ignores the mailbox's capacity; kameo: `mailbox::unbounded`), so
//! no sender waits for room.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::lab::child::wait_for;
use crate::lab::procfs::{self, ProcStatus};
use crate::lab::stats::{self, Rounds, Samples};

/// An actor library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// `weft::actor`: green threads.
    Weft,
    /// actix: actors on one `System` thread.
    Actix,
    /// ractor: tokio tasks.
    Ractor,
    /// kameo: tokio tasks.
    Kameo,
}

impl Peer {
    /// Every peer, in table order.
    pub const ALL: [Peer; 4] = [Peer::Weft, Peer::Actix, Peer::Ractor, Peer::Kameo];

    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            Peer::Weft => "weft::actor",
            Peer::Actix => "actix",
            Peer::Ractor => "ractor",
            Peer::Kameo => "kameo",
        }
    }

    /// What runs the actors.
    pub fn runs_on(self) -> &'static str {
        match self {
            Peer::Weft => "green threads",
            Peer::Actix => "futures on one System thread",
            Peer::Ractor | Peer::Kameo => "tokio tasks",
        }
    }

    /// Whether the peer runs on `workers` threads (actix's actors share one `System`
    /// thread: it has no two-worker form).
    pub fn supports(self, workers: Workers) -> bool {
        !(self == Peer::Actix && workers == Workers::Two)
    }
}

/// How many threads run the actors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workers {
    /// One (weft: a 1-worker runtime; tokio: current-thread; actix: its System).
    One,
    /// Two (weft: a 2-worker runtime; tokio: multi-threaded with 2 workers).
    Two,
}

/// A timed workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    /// A token passed round a ring of `actors`; a figure is one hop.
    Ring {
        /// Actors in the ring.
        actors: usize,
    },
    /// One sender, one receiver; a figure is one message.
    Tell,
    /// Request/reply round trips; a figure is one round trip.
    Call,
}

/// Parameters of one timed probe.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Spec {
    /// The library.
    pub peer: Peer,
    /// The workload.
    pub load: Load,
    /// Threads running the actors.
    pub workers: Workers,
    /// Target duration of one sample, milliseconds.
    pub target_ms: u64,
    /// Samples.
    pub repeats: usize,
}

/// Largest count of one sample.
const MAX_N: u64 = 50_000_000;

/// Runs one timed probe here.
pub fn run(spec: &Spec) -> Result<Samples, String> {
    let mut env = bench(spec.peer, spec.load, spec.workers)?;
    let target = Duration::from_millis(spec.target_ms.max(1));
    let samples = stats::sample(|n| env.run(n), target, spec.repeats, 200, MAX_N);
    env.stop()?;
    samples
}

/// Two libraries measured round by round in the same process, alternating (the first is
/// the one judged: weft's).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PairSpec {
    /// The two libraries.
    pub peers: [Peer; 2],
    /// The workload.
    pub load: Load,
    /// Threads running the actors (both).
    pub workers: Workers,
    /// Target duration of one round of each, milliseconds.
    pub target_ms: u64,
    /// Rounds (each runs both once, in alternating order).
    pub rounds: usize,
}

/// Runs a paired probe here: the figure of each library, one per round.
pub fn run_pair(spec: &PairSpec) -> Result<Rounds, String> {
    if spec.peers[0] == spec.peers[1] {
        return Err(format!(
            "a paired probe needs two different libraries, got {} twice",
            spec.peers[0].label()
        ));
    }
    let target = Duration::from_millis(spec.target_ms.max(1));
    let mut a = bench(spec.peers[0], spec.load, spec.workers)?;
    let mut b = bench(spec.peers[1], spec.load, spec.workers)?;
    let rounds = stats::alternate(
        [&mut |n| a.run(n), &mut |n| b.run(n)],
        target,
        spec.rounds,
        200,
        MAX_N,
    )?;
    a.stop()?;
    b.stop()?;
    Ok(rounds)
}

/// A timed workload, set up once (its runtime and actors), run many times.
trait Bench {
    /// Performs `n` hops, messages or round trips; how long they took.
    fn run(&mut self, n: u64) -> Result<Duration, String>;
    /// Stops the workload's actors.
    fn stop(self: Box<Self>) -> Result<(), String>;
}

/// The workload `load` of `peer`, set up.
fn bench(peer: Peer, load: Load, workers: Workers) -> Result<Box<dyn Bench>, String> {
    if !peer.supports(workers) {
        return Err(format!(
            "{} has no form with {workers:?} workers",
            peer.label()
        ));
    }
    if let Load::Ring { actors } = load {
        if actors < 2 {
            return Err(format!("a ring needs at least 2 actors, not {actors}"));
        }
    }
    match peer {
        Peer::Weft => weft_peer::bench(load, workers),
        Peer::Actix => actix_peer::bench(load),
        Peer::Ractor => ractor_peer::bench(load, tokio_rt(workers)?),
        Peer::Kameo => kameo_peer::bench(load, tokio_rt(workers)?),
    }
}

fn tokio_rt(workers: Workers) -> Result<tokio::runtime::Runtime, String> {
    match workers {
        Workers::One => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Workers::Two => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
    }
    .map_err(|e| format!("building a tokio runtime: {e}"))
}

/// How long a driver waits for an answer before calling the probe failed.
const PATIENCE: Duration = Duration::from_secs(60);

/// The exact count a tell's receiver must report.
fn check_count(got: u64, want: u64) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "the receiver counted {got} messages, {want} were sent"
        ))
    }
}

/// Checks that a call's answer grew (the servers count the calls).
fn rising(last: &mut u64, k: u64) -> Result<(), String> {
    if k <= *last {
        return Err(format!("reply {k} after {}", *last));
    }
    *last = k;
    Ok(())
}

/// The tokio-based drivers (actix, ractor, kameo): `n` calls, one at a time, each
/// answer checked to grow.
async fn timed_calls<F, Fut>(n: u64, mut call: F) -> Result<Duration, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, String>>,
{
    let t = Instant::now();
    let mut last = 0;
    for _ in 0..n {
        rising(&mut last, call().await?)?;
    }
    Ok(t.elapsed())
}

/// `n` tells, then the receiver's count, which must be `n`; the time of both.
async fn timed_tells<Fut>(
    n: u64,
    mut tell: impl FnMut(u64) -> Result<(), String>,
    count: impl FnOnce() -> Fut,
) -> Result<Duration, String>
where
    Fut: std::future::Future<Output = Result<u64, String>>,
{
    let t = Instant::now();
    for i in 0..n {
        tell(i)?;
    }
    let got = count().await?;
    let dt = t.elapsed();
    check_count(got, n)?;
    Ok(dt)
}

/// A token's trip round a ring: `start` sends it, `done` hears of its end.
async fn timed_token(
    start: impl FnOnce() -> Result<(), String>,
    done: &mut tokio::sync::mpsc::UnboundedReceiver<()>,
) -> Result<Duration, String> {
    let t = Instant::now();
    start()?;
    match tokio::time::timeout(PATIENCE, done.recv()).await {
        Ok(Some(())) => Ok(t.elapsed()),
        _ => Err("the token did not come back".to_owned()),
    }
}

/// The sign that stops a ring: every member passes it on once and stops.
const STOP: u64 = u64::MAX;

mod weft_peer {
    use super::*;
    use weft::actor::{self, Addr, Ctx, ReplyTo};
    use weft::csp;

    pub(super) fn bench(load: Load, workers: Workers) -> Result<Box<dyn Bench>, String> {
        let rt = weft::Runtime::builder()
            .workers(match workers {
                Workers::One => 1,
                Workers::Two => 2,
            })
            .build()
            .map_err(|e| format!("building a weft runtime: {e}"))?;
        Ok(match load {
            Load::Ring { actors } => {
                let (head, done) = rt.block_on(move || ring(actors))?;
                Box::new(Ring { rt, head, done })
            }
            Load::Tell => {
                let to = rt
                    .block_on(|| actor::Builder::new().spawn(counter))
                    .map_err(|e| format!("spawning an actor: {e}"))?;
                Box::new(Tell { rt, to })
            }
            Load::Call => {
                let to = rt
                    .block_on(|| actor::Builder::new().spawn(server))
                    .map_err(|e| format!("spawning an actor: {e}"))?;
                Box::new(Call { rt, to })
            }
        })
    }

    /// A ring member's closure.
    type Body = Box<dyn FnOnce(&mut Ctx<u64>) + Send>;

    /// Builds the ring; returns the member the driver sends to, and where the member that
    /// receives 0 reports.
    fn ring(actors: usize) -> Result<(Addr<u64>, csp::Receiver<()>), String> {
        let (done_tx, done_rx) = csp::bounded(1);
        // The first member learns its successor, the last one spawned, by a message.
        let (close_tx, close_rx) = csp::bounded::<Addr<u64>>(1);
        let d = done_tx.clone();
        let spawn = |f: Body| {
            actor::Builder::new()
                .spawn(f)
                .map_err(|e| format!("spawning an actor: {e}"))
        };
        let mut next = spawn(Box::new(move |ctx| {
            if let Ok(next) = close_rx.recv() {
                member(ctx, &next, &d);
            }
        }))?;
        for _ in 1..actors {
            let (to, d) = (next, done_tx.clone());
            next = spawn(Box::new(move |ctx| member(ctx, &to, &d)))?;
        }
        close_tx
            .send(next.clone())
            .map_err(|_| "the ring's first member stopped".to_owned())?;
        Ok((next, done_rx))
    }

    fn member(ctx: &mut Ctx<u64>, next: &Addr<u64>, done: &csp::Sender<()>) {
        loop {
            match ctx.recv() {
                STOP => {
                    let _ = next.send(STOP);
                    return;
                }
                0 => {
                    if done.send(()).is_err() {
                        return;
                    }
                }
                t => {
                    let _ = next.send(t - 1);
                }
            }
        }
    }

    struct Ring {
        rt: weft::Runtime,
        head: Addr<u64>,
        done: csp::Receiver<()>,
    }

    impl Bench for Ring {
        fn run(&mut self, n: u64) -> Result<Duration, String> {
            let (head, done) = (self.head.clone(), self.done.clone());
            self.rt.block_on(move || {
                let t = Instant::now();
                head.send(n).map_err(|_| "the ring stopped".to_owned())?;
                done.recv_timeout(PATIENCE)
                    .map_err(|e| format!("the token did not come back: {e}"))?;
                Ok(t.elapsed())
            })
        }
        fn stop(self: Box<Self>) -> Result<(), String> {
            let _ = self.head.send(STOP);
            Ok(())
        }
    }

    /// A tell's receiver: counts numbers; `Flush` reports the count and starts again.
    enum Count {
        One(u64),
        Flush(ReplyTo<u64>),
    }

    fn counter(ctx: &mut Ctx<Count>) {
        let mut seen = 0u64;
        loop {
            match ctx.recv() {
                Count::One(v) => seen += std::hint::black_box(v) & 1 | 1,
                Count::Flush(r) => {
                    if r.send(seen).is_err() {
                        return;
                    }
                    seen = 0;
                }
            }
        }
    }

    struct Tell {
        rt: weft::Runtime,
        to: Addr<Count>,
    }

    impl Bench for Tell {
        fn run(&mut self, n: u64) -> Result<Duration, String> {
            let to = self.to.clone();
            self.rt.block_on(move || {
                let t = Instant::now();
                for i in 0..n {
                    to.send(Count::One(i))
                        .map_err(|_| "the receiver stopped".to_owned())?;
                }
                let got = to
                    .call(Count::Flush, PATIENCE)
                    .map_err(|e| format!("asking for the count: {e}"))?;
                let dt = t.elapsed();
                check_count(got, n)?;
                Ok(dt)
            })
        }
        fn stop(self: Box<Self>) -> Result<(), String> {
            actor::exit(&self.to, actor::ExitReason::Shutdown);
            Ok(())
        }
    }

    fn server(ctx: &mut Ctx<ReplyTo<u64>>) {
        let mut k = 0u64;
        loop {
            let r = ctx.recv();
            k += 1;
            if r.send(k).is_err() {
                return;
            }
        }
    }

    struct Call {
        rt: weft::Runtime,
        to: Addr<ReplyTo<u64>>,
    }

    impl Bench for Call {
        fn run(&mut self, n: u64) -> Result<Duration, String> {
            let to = self.to.clone();
            self.rt.block_on(move || {
                let t = Instant::now();
                let mut last = 0;
                for _ in 0..n {
                    let k = to
                        .call(|r| r, PATIENCE)
                        .map_err(|e| format!("a call failed: {e}"))?;
                    rising(&mut last, k)?;
                }
                Ok(t.elapsed())
            })
        }
        fn stop(self: Box<Self>) -> Result<(), String> {
            actor::exit(&self.to, actor::ExitReason::Shutdown);
            Ok(())
        }
    }
}

mod actix_peer {
    use super::*;
    use actix::prelude::*;
    use tokio::sync::{mpsc, oneshot};

    pub(super) fn bench(load: Load) -> Result<Box<dyn Bench>, String> {
        let sys = System::new();
        Ok(match load {
            Load::Ring { actors } => {
                let (done_tx, done) = mpsc::unbounded_channel();
                let head = sys.block_on(async move {
                    let first = Member {
                        next: None,
                        done: done_tx.clone(),
                    }
                    .start();
                    let mut next = first.clone();
                    for _ in 1..actors {
                        next = Member {
                            next: Some(next),
                            done: done_tx.clone(),
                        }
                        .start();
                    }
                    first.do_send(SetNext(next.clone()));
                    next
                });
                Box::new(Ring { sys, head, done })
            }
            Load::Tell => {
                let to = sys.block_on(async { Counter(0).start() });
                Box::new(Tell { sys, to })
            }
            Load::Call => {
                let to = sys.block_on(async { Server(0).start() });
                Box::new(Call { sys, to })
            }
        })
    }

    struct Member {
        next: Option<Addr<Member>>,
        done: mpsc::UnboundedSender<()>,
    }

    impl Actor for Member {
        type Context = Context<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Token(u64);

    #[derive(Message)]
    #[rtype(result = "()")]
    struct SetNext(Addr<Member>);

    impl Handler<SetNext> for Member {
        type Result = ();
        fn handle(&mut self, m: SetNext, _: &mut Context<Self>) {
            self.next = Some(m.0);
        }
    }

    impl Handler<Token> for Member {
        type Result = ();
        fn handle(&mut self, Token(t): Token, ctx: &mut Context<Self>) {
            match t {
                STOP => {
                    if let Some(next) = self.next.take() {
                        next.do_send(Token(STOP));
                    }
                    ctx.stop();
                }
                0 => {
                    let _ = self.done.send(());
                }
                t => {
                    if let Some(next) = &self.next {
                        next.do_send(Token(t - 1));
                    }
                }
            }
        }
    }

    struct Ring {
        sys: SystemRunner,
        head: Addr<Member>,
        done: mpsc::UnboundedReceiver<()>,
    }

    impl Bench for Ring {
        fn run(&mut self, n: u64) -> Result<Duration, String> {
            let (head, done) = (&self.head, &mut self.done);
            self.sys.block_on(timed_token(
                || {
                    head.do_send(Token(n));
                    Ok(())
                },
                done,
            ))
        }
        fn stop(self: Box<Self>) -> Result<(), String> {
            self.head.do_send(Token(STOP));
            Ok(())
        }
    }

    struct Counter(u64);

    impl Actor for Counter {
        type Context = Context<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct One(u64);

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Flush(oneshot::Sender<u64>);

    impl Handler<One> for Counter {
        type Result = ();
        fn handle(&mut self, One(v): One, _: &mut Context<Self>) {
            self.0 += std::hint::black_box(v) & 1 | 1;
        }
    }

    impl Handler<Flush> for Counter {
        type Result = ();
        fn handle(&mut self, Flush(r): Flush, _: &mut Context<Self>) {
            let _ = r.send(std::mem::take(&mut self.0));
        }
    }

    struct Tell {
        sys: SystemRunner,
        to: Addr<Counter>,
    }

    impl Bench for Tell {
        fn run(&mut self, n: u64) -> Result<Duration, String> {
            let to = &self.to;
            self.sys.block_on(timed_tells(
                n,
                |i| {
                    to.do_send(One(i));
                    Ok(())
                },
                || async {
                    let (tx, rx) = oneshot::channel();
                    to.do_send(Flush(tx));
                    match tokio::time::timeout(PATIENCE, rx).await {
                        Ok(Ok(got)) => Ok(got),
                        _ => Err("the receiver did not report its count".to_owned()),
                    }
                },
            ))
        }
        fn stop(self: Box<Self>) -> Result<(), String> {
            Ok(())
        }
    }

    struct Server(u64);

    impl Actor for Server {
        type Context = Context<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "u64")]
    struct Get;

    impl Handler<Get> for Server {
        type Result = u64;
        fn handle(&mut self, _: Get, _: &mut Context<Self>) -> u64 {
            self.0 += 1;
            self.0
        }
    }

    struct Call {
        sys: SystemRunner,
        to: Addr<Server>,
    }

    impl Bench for Call {
        fn run(&mut self, n: u64) -> Result<Duration, String> {
            let to = &self.to;
            self.sys.block_on(timed_calls(n, || async {
                to.send(Get)
                    .await
                    .map_err(|e| format!("a call failed: {e}"))
            }))
        }
        fn stop(self: Box<Self>) -> Result<(), String> {
            Ok(())
        }
    }

    /// Idle actors: each bumps `started` when it starts, and stops at its first message.
    pub(super) struct Idle {
        pub(super) started: Arc<AtomicUsize>,
        pub(super) stopped: Arc<AtomicUsize>,
    }

    impl Actor for Idle {
        type Context = Context<Self>;
        fn started(&mut self, _: &mut Context<Self>) {
            self.started.fetch_add(1, Ordering::Release);
        }
        fn stopped(&mut self, _: &mut Context<Self>) {
            self.stopped.fetch_add(1, Ordering::Release);
        }
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    pub(super) struct Wake;

    impl Handler<Wake> for Idle {
        type Result = ();
        fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
            ctx.stop();
        }
    }
}

mod ractor_peer {
    use super::*;
    use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
    use tokio::runtime::Runtime;
    use tokio::sync::mpsc;

    pub(super) fn bench(load: Load, rt: Runtime) -> Result<Box<dyn Bench>, String> {
        Ok(match load {
            Load::Ring { actors } => {
                let (done_tx, done) = mpsc::unbounded_channel();
                let head = rt.block_on(ring(actors, done_tx))?;
                Box::new(Ring { rt, head, done })
            }
            Load::Tell => {
                let to = rt.block_on(spawn(Counter, ()))?;
                Box::new(Tell { rt, to })
            }
            Load::Call => {
                let to = rt.block_on(spawn(Server, ()))?;
                Box::new(Call { rt, to })
            }
        })
    }

    async fn spawn<A: Actor>(a: A, args: A::Arguments) -> Result<ActorRef<A::Msg>, String> {
        A::spawn(None, a, args)
            .await
            .map(|(r, _join)| r)
            .map_err(|e| format!("spawning an actor: {e}"))
    }

    async fn ring(
        actors: usize,
        done: mpsc::UnboundedSender<()>,
    ) -> Result<ActorRef<RingMsg>, String> {
        let first = spawn(Member, (None, done.clone())).await?;
        let mut next = first.clone();
        for _ in 1..actors {
            next = spawn(Member, (Some(next), done.clone())).await?;
        }
        first
            .cast(RingMsg::SetNext(next.clone()))
            .map_err(|e| format!("closing the ring: {e}"))?;
        Ok(next)
    }

    struct Member;

    enum RingMsg {
        Token(u64),
        SetNext(ActorRef<RingMsg>),
    }

    struct MemberState {
        next: Option<ActorRef<RingMsg>>,
        done: mpsc::UnboundedSender<()>,
    }

    impl Actor for Member {
        type Msg = RingMsg;
        type State = MemberState;
        type Arguments = (Option<ActorRef<RingMsg>>, mpsc::UnboundedSender<()>);

        async fn pre_start(
            &self,
            _: ActorRef<RingMsg>,
            (next, done): Self::Arguments,
        ) -> Result<MemberState, ActorProcessingErr> {
            Ok(MemberState { next, done })
        }

        async fn handle(
            &self,
            me: ActorRef<RingMsg>,
            msg: RingMsg,
            st: &mut MemberState,
        ) -> Result<(), ActorProcessingErr> {
            match msg {
                RingMsg::SetNext(n) => st.next = Some(n),
                RingMsg::Token(STOP) => {
                    if let Some(next) = st.next.take() {
                        let _ = next.cast(RingMsg::Token(STOP));
                    }
                    me.stop(None);
                }
                RingMsg::Token(0) => {
                    let _ = st.done.send(());
                }
                RingMsg::Token(t) => {
                    if let Some(next) = &st.next {
                        let _ = next.cast(RingMsg::Token(t - 1));
                    }
                }
            }
            Ok(())
        }
    }

    struct Ring {
        rt: Runtime,
        head: ActorRef<RingMsg>,
        done: mpsc::UnboundedReceiver<()>,
    }

    impl Bench for Ring {
        fn run(&mut self, n: u64) -> Result<Duration, String> {
            let (head, done) = (&self.head, &mut self.done);
            self.rt.block_on(timed_token(
                || {
                    head.cast(RingMsg::Token(n))
                        .map_err(|e| format!("the ring stopped: {e}"))
                },
                done,
            ))
        }
        fn stop(self: Box<Self>) -> Result<(), String> {
            let _ = self.head.cast(RingMsg::Token(STOP));
            Ok(())
        }
    }

    struct Counter;

    enum Count {
        One(u64),
        Flush(RpcReplyPort<u64>),
    }

    impl Actor for Counter {
        type Msg = Count;
        type State = u64;
        type Arguments = ();

        async fn pre_start(&self, _: ActorRef<Count>, (): ()) -> Result<u64, ActorProcessingErr> {
            Ok(0)
        }

        async fn handle(
            &self,
            _: ActorRef<Count>,
            msg: Count,
            seen: &mut u64,
        ) -> Result<(), ActorProcessingErr> {
            match msg {
                Count::One(v) => *seen += std::hint::black_box(v) & 1 | 1,
                Count::Flush(r) => {
                    let _ = r.send(std::mem::take(seen));
                }
            }
            Ok(())
        }
    }

    struct Tell {
        rt: Runtime,
        to: ActorRef<Count>,
    }

    impl Bench for Tell {
        fn run(&mut self, n: u64) -> Result<Duration, String> {
            let to = &self.to;
            self.rt.block_on(timed_tells(
                n,
                |i| {
                    to.cast(Count::One(i))
                        .map_err(|e| format!("the receiver stopped: {e}"))
                },
                || async {
                    match to.call(Count::Flush, Some(PATIENCE)).await {
                        Ok(ractor::rpc::CallResult::Success(got)) => Ok(got),
                        _ => Err("the receiver did not report its count".to_owned()),
                    }
                },
            ))
        }
        fn stop(self: Box<Self>) -> Result<(), String> {
            self.to.stop(None);
            Ok(())
        }
    }

    struct Server;

    impl Actor for Server {
        type Msg = RpcReplyPort<u64>;
        type State = u64;
        type Arguments = ();

        async fn pre_start(
            &self,
            _: ActorRef<Self::Msg>,
            (): (),
        ) -> Result<u64, ActorProcessingErr> {
            Ok(0)
        }

        async fn handle(
            &self,
            _: ActorRef<Self::Msg>,
            r: RpcReplyPort<u64>,
            k: &mut u64,
        ) -> Result<(), ActorProcessingErr> {
            *k += 1;
            let _ = r.send(*k);
            Ok(())
        }
    }

    struct Call {
        rt: Runtime,
        to: ActorRef<RpcReplyPort<u64>>,
    }

    impl Bench for Call {
        fn run(&mut self, n: u64) -> Result<Duration, String> {
            let to = &self.to;
            self.rt.block_on(timed_calls(n, || async {
                match to.call(|r| r, Some(PATIENCE)).await {
                    Ok(ractor::rpc::CallResult::Success(k)) => Ok(k),
                    _ => Err("a call failed".to_owned()),
                }
            }))
        }
        fn stop(self: Box<Self>) -> Result<(), String> {
            self.to.stop(None);
            Ok(())
        }
    }

    /// Idle actors: each bumps `started` when it starts and stops at its first message.
    pub(super) struct Idle;

    pub(super) struct IdleArgs {
        pub(super) started: Arc<AtomicUsize>,
        pub(super) stopped: Arc<AtomicUsize>,
    }

    impl Actor for Idle {
        type Msg = ();
        type State = Arc<AtomicUsize>;
        type Arguments = IdleArgs;

        async fn pre_start(
            &self,
            _: ActorRef<()>,
            a: IdleArgs,
        ) -> Result<Arc<AtomicUsize>, ActorProcessingErr> {
            a.started.fetch_add(1, Ordering::Release);
            Ok(a.stopped)
        }

        async fn handle(
            &self,
            me: ActorRef<()>,
            (): (),
            _: &mut Arc<AtomicUsize>,
        ) -> Result<(), ActorProcessingErr> {
            me.stop(None);
            Ok(())
        }

        async fn post_stop(
            &self,
            _: ActorRef<()>,
            stopped: &mut Arc<AtomicUsize>,
        ) -> Result<(), ActorProcessingErr> {
            stopped.fetch_add(1, Ordering::Release);
            Ok(())
        }
    }

    pub(super) async fn spawn_idle(args: IdleArgs) -> Result<ActorRef<()>, String> {
        spawn(Idle, args).await
    }
}

mod kameo_peer {
    use super::*;
    use kameo::actor::{ActorRef, Spawn};
    use kameo::error::Infallible;
    use kameo::mailbox;
    use kameo::message::{Context, Message};
    use kameo::Actor;
    use tokio::runtime::Runtime;
    use tokio::sync::mpsc;

    pub(super) fn bench(load: Load, rt: Runtime) -> Result<Box<dyn Bench>, String> {
        Ok(match load {
            Load::Ring { actors } => {
                let (done_tx, done) = mpsc::unbounded_channel();
                let head = rt.block_on(ring(actors, done_tx))?;
                Box::new(Ring { rt, head, done })
            }
            Load::Tell => {
                let to = rt.block_on(async {
                    Counter::spawn_with_mailbox(Counter(0), mailbox::unbounded())
                });
                Box::new(Tell { rt, to })
            }
            Load::Call => {
                let to = rt.block_on(async {
                    Server::spawn_with_mailbox(Server(0), mailbox::unbounded())
                });
                Box::new(Call { rt, to })
            }
        })
    }

    async fn ring(
        actors: usize,
        done: mpsc::UnboundedSender<()>,
    ) -> Result<ActorRef<Member>, String> {
        let spawn =
            |next, done| Member::spawn_with_mailbox(Member { next, done }, mailbox::unbounded());
        let first = spawn(None, done.clone());
        let mut next = first.clone();
        for _ in 1..actors {
            next = spawn(Some(next), done.clone());
        }
        first
            .tell(SetNext(next.clone()))
            .try_send()
            .map_err(|e| format!("closing the ring: {e}"))?;
        Ok(next)
    }

    #[derive(Actor)]
    struct Member {
        next: Option<ActorRef<Member>>,
        done: mpsc::UnboundedSender<()>,
    }

    struct Token(u64);
    struct SetNext(ActorRef<Member>);

    impl Message<SetNext> for Member {
        type Reply = ();
        async fn handle(&mut self, SetNext(n): SetNext, _: &mut Context<Self, ()>) {
            self.next = Some(n);
        }
    }

    impl Message<Token> for Member {
        type Reply = ();
        async fn handle(&mut self, Token(t): Token, ctx: &mut Context<Self, ()>) {
            match t {
                STOP => {
                    if let Some(next) = self.next.take() {
                        let _ = next.tell(Token(STOP)).try_send();
                    }
                    ctx.actor_ref().kill();
                }
                0 => {
                    let _ = self.done.send(());
                }
                t => {
                    if let Some(next) = &self.next {
                        let _ = next.tell(Token(t - 1)).try_send();
                    }
                }
            }
        }
    }

    struct Ring {
        rt: Runtime,
        head: ActorRef<Member>,
        done: mpsc::UnboundedReceiver<()>,
    }

    impl Bench for Ring {
        fn run(&mut self, n: u64) -> Result<Duration, String> {
            let (head, done) = (&self.head, &mut self.done);
            self.rt.block_on(timed_token(
                || {
                    head.tell(Token(n))
                        .try_send()
                        .map_err(|e| format!("the ring stopped: {e}"))
                },
                done,
            ))
        }
        fn stop(self: Box<Self>) -> Result<(), String> {
            let _ = self.head.tell(Token(STOP)).try_send();
            Ok(())
        }
    }

    #[derive(Actor)]
    struct Counter(u64);
    struct One(u64);
    struct Flush;

    impl Message<One> for Counter {
        type Reply = ();
        async fn handle(&mut self, One(v): One, _: &mut Context<Self, ()>) {
            self.0 += std::hint::black_box(v) & 1 | 1;
        }
    }

    impl Message<Flush> for Counter {
        type Reply = u64;
        async fn handle(&mut self, _: Flush, _: &mut Context<Self, u64>) -> u64 {
            std::mem::take(&mut self.0)
        }
    }

    struct Tell {
        rt: Runtime,
        to: ActorRef<Counter>,
    }

    impl Bench for Tell {
        fn run(&mut self, n: u64) -> Result<Duration, String> {
            let to = &self.to;
            self.rt.block_on(timed_tells(
                n,
                |i| {
                    to.tell(One(i))
                        .try_send()
                        .map_err(|e| format!("the receiver stopped: {e}"))
                },
                || async {
                    to.ask(Flush)
                        .await
                        .map_err(|e| format!("asking for the count: {e}"))
                },
            ))
        }
        fn stop(self: Box<Self>) -> Result<(), String> {
            self.to.kill();
            Ok(())
        }
    }

    #[derive(Actor)]
    struct Server(u64);
    struct Get;

    impl Message<Get> for Server {
        type Reply = u64;
        async fn handle(&mut self, _: Get, _: &mut Context<Self, u64>) -> u64 {
            self.0 += 1;
            self.0
        }
    }

    struct Call {
        rt: Runtime,
        to: ActorRef<Server>,
    }

    impl Bench for Call {
        fn run(&mut self, n: u64) -> Result<Duration, String> {
            let to = &self.to;
            self.rt.block_on(timed_calls(n, || async {
                to.ask(Get).await.map_err(|e| format!("a call failed: {e}"))
            }))
        }
        fn stop(self: Box<Self>) -> Result<(), String> {
            self.to.kill();
            Ok(())
        }
    }

    /// Idle actors: each bumps `started` when it starts and stops at its first message.
    pub(super) struct Idle {
        stopped: Arc<AtomicUsize>,
    }

    pub(super) struct IdleArgs {
        pub(super) started: Arc<AtomicUsize>,
        pub(super) stopped: Arc<AtomicUsize>,
    }

    impl Actor for Idle {
        type Args = IdleArgs;
        type Error = Infallible;

        async fn on_start(a: IdleArgs, _: ActorRef<Self>) -> Result<Self, Infallible> {
            a.started.fetch_add(1, Ordering::Release);
            Ok(Idle { stopped: a.stopped })
        }
    }

    impl Drop for Idle {
        fn drop(&mut self) {
            self.stopped.fetch_add(1, Ordering::Release);
        }
    }

    pub(super) struct Wake;

    impl Message<Wake> for Idle {
        type Reply = ();
        async fn handle(&mut self, _: Wake, ctx: &mut Context<Self, ()>) {
            ctx.actor_ref().kill();
        }
    }

    pub(super) fn spawn_idle(args: IdleArgs) -> ActorRef<Idle> {
        Idle::spawn_with_mailbox(args, mailbox::unbounded())
    }

    pub(super) fn wake(a: &ActorRef<Idle>) -> bool {
        a.tell(Wake).try_send().is_ok()
    }
}

/// Parameters of an idle-actor memory probe.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct MemSpec {
    /// The library.
    pub peer: Peer,
    /// How many actors.
    pub count: usize,
    /// Stop spawning after this long, milliseconds.
    pub budget_ms: u64,
}

/// What an idle-actor probe found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemOutcome {
    /// How many were asked for.
    pub requested: usize,
    /// How many were started and idle at once.
    pub idle: usize,
    /// Why fewer than requested, if so.
    pub stopped: Option<String>,
    /// Seconds from the first spawn until all had started.
    pub spawn_seconds: f64,
    /// `/proc/self/status` before spawning.
    pub baseline: ProcStatus,
    /// `/proc/self/status` with all idle.
    pub with_idle: ProcStatus,
    /// Seconds to wake and stop them all.
    pub teardown_seconds: f64,
}

impl MemOutcome {
    /// Resident memory plus page tables per idle actor, over the baseline.
    pub fn bytes_per_actor(&self) -> Option<f64> {
        let after = (self.with_idle.rss + self.with_idle.pte) as f64;
        let before = (self.baseline.rss + self.baseline.pte) as f64;
        (self.idle > 0).then(|| (after - before) / self.idle as f64)
    }

    /// Spawns per second until all had started.
    pub fn spawn_rate(&self) -> Option<f64> {
        (self.spawn_seconds > 0.0 && self.idle > 0).then(|| self.idle as f64 / self.spawn_seconds)
    }
}

/// What each idle actor shares with the driver.
#[derive(Debug, Default)]
struct Counters {
    started: Arc<AtomicUsize>,
    stopped: Arc<AtomicUsize>,
}

/// How long the driver waits for every actor to start, or to stop.
const SETTLE: Duration = Duration::from_secs(120);

/// Runs an idle-actor memory probe here (the child).
pub fn run_memory(spec: &MemSpec) -> Result<MemOutcome, String> {
    let c = Counters::default();
    match spec.peer {
        Peer::Weft => {
            use weft::actor::{self, Ctx};
            // Starts the default runtime.
            weft::spawn(|| ())
                .join()
                .map_err(|_| "the warm-up green thread panicked")?;
            let (started, finished) = (c.started.clone(), c.stopped.clone());
            idle_probe(
                spec,
                &c,
                move |count, over| {
                    // Spawned from a green thread, as the parked threads of the baseline are.
                    weft::spawn(move || {
                        let mut addrs = Vec::with_capacity(count);
                        for i in 0..count {
                            let (s, d) = (started.clone(), finished.clone());
                            let a = actor::Builder::new()
                                .spawn(move |ctx: &mut Ctx<()>| {
                                    s.fetch_add(1, Ordering::Release);
                                    ctx.recv();
                                    d.fetch_add(1, Ordering::Release);
                                })
                                .map_err(|e| format!("spawning actor {i}: {e}"))?;
                            addrs.push(a);
                            if over.over(i) {
                                break;
                            }
                        }
                        Ok::<_, String>(addrs)
                    })
                    .join()
                    .map_err(|_| "the spawning green thread panicked".to_owned())?
                },
                |addrs| {
                    for a in addrs {
                        a.send(()).map_err(|_| "an idle actor had stopped")?;
                    }
                    Ok(())
                },
            )
        }
        Peer::Actix => {
            use actix::prelude::*;
            let sys = System::new();
            sys.block_on(async {});
            idle_probe(
                spec,
                &c,
                |count, over| {
                    Ok(sys.block_on(async {
                        let mut addrs = Vec::with_capacity(count);
                        for i in 0..count {
                            addrs.push(
                                actix_peer::Idle {
                                    started: c.started.clone(),
                                    stopped: c.stopped.clone(),
                                }
                                .start(),
                            );
                            if over.over(i) {
                                break;
                            }
                        }
                        yield_until(&c.started, addrs.len()).await;
                        addrs
                    }))
                },
                |addrs| {
                    sys.block_on(async {
                        for a in addrs {
                            a.do_send(actix_peer::Wake);
                        }
                        yield_until(&c.stopped, addrs.len()).await;
                    });
                    Ok(())
                },
            )
        }
        Peer::Ractor => {
            let rt = warm_tokio()?;
            idle_probe(
                spec,
                &c,
                |count, over| {
                    rt.block_on(async {
                        let mut v = Vec::with_capacity(count);
                        for i in 0..count {
                            v.push(
                                ractor_peer::spawn_idle(ractor_peer::IdleArgs {
                                    started: c.started.clone(),
                                    stopped: c.stopped.clone(),
                                })
                                .await?,
                            );
                            if over.over(i) {
                                break;
                            }
                        }
                        Ok(v)
                    })
                },
                |refs| {
                    for a in refs {
                        a.cast(())
                            .map_err(|e| format!("waking an idle actor: {e}"))?;
                    }
                    Ok(())
                },
            )
        }
        Peer::Kameo => {
            let rt = warm_tokio()?;
            idle_probe(
                spec,
                &c,
                |count, over| {
                    Ok(rt.block_on(async {
                        let mut v = Vec::with_capacity(count);
                        for i in 0..count {
                            v.push(kameo_peer::spawn_idle(kameo_peer::IdleArgs {
                                started: c.started.clone(),
                                stopped: c.stopped.clone(),
                            }));
                            if over.over(i) {
                                break;
                            }
                        }
                        v
                    }))
                },
                |refs| {
                    if refs.iter().all(kameo_peer::wake) {
                        Ok(())
                    } else {
                        Err("an idle actor had stopped".into())
                    }
                },
            )
        }
    }
}

/// Yields to the actors on this thread (actix's) until `counter` reaches `n`, or
/// [`SETTLE`] passes.
async fn yield_until(counter: &AtomicUsize, n: usize) {
    let since = Instant::now();
    while counter.load(Ordering::Acquire) < n && since.elapsed() < SETTLE {
        tokio::task::yield_now().await;
    }
}

/// A 2-worker tokio runtime that has run a task.
fn warm_tokio() -> Result<tokio::runtime::Runtime, String> {
    let rt = tokio_rt(Workers::Two)?;
    rt.block_on(async { tokio::spawn(async {}).await })
        .map_err(|e| format!("warming tokio up: {e}"))?;
    Ok(rt)
}

/// The spawn's time budget: [`Budget::over`] after each spawn (with its index) says
/// when to stop early.
#[derive(Debug, Clone, Copy)]
struct Budget {
    start: Instant,
    budget: Duration,
}

impl Budget {
    fn over(self, i: usize) -> bool {
        i % 1024 == 1023 && self.start.elapsed() > self.budget
    }
}

/// The measurement around one library's spawning and waking: a baseline, `spawn` (given
/// the count and the budget), all started, the snapshot, `wake`, all stopped.
fn idle_probe<W: AsRef<[A]>, A>(
    spec: &MemSpec,
    c: &Counters,
    spawn: impl FnOnce(usize, Budget) -> Result<W, String>,
    wake: impl FnOnce(&[A]) -> Result<(), String>,
) -> Result<MemOutcome, String> {
    let snapshot = || procfs::status().map_err(|e| format!("reading /proc/self/status: {e}"));
    let settle =
        |counter: &AtomicUsize, n: usize| wait_for(|| counter.load(Ordering::Acquire), n, SETTLE);
    let baseline = snapshot()?;
    let start = Instant::now();
    let spawned = spawn(
        spec.count,
        Budget {
            start,
            budget: Duration::from_millis(spec.budget_ms),
        },
    )?;
    let actors = spawned.as_ref();
    let idle = actors.len();
    settle(&c.started, idle)?;
    let spawn_seconds = start.elapsed().as_secs_f64();
    let with_idle = snapshot()?;
    let t = Instant::now();
    wake(actors)?;
    settle(&c.stopped, idle)?;
    let teardown_seconds = t.elapsed().as_secs_f64();
    drop(spawned);
    Ok(MemOutcome {
        requested: spec.count,
        idle,
        stopped: (idle < spec.count).then(|| {
            format!(
                "stopped at {idle} actors: the spawn took longer than the {} s budget",
                spec.budget_ms / 1000
            )
        }),
        spawn_seconds,
        baseline,
        with_idle,
        teardown_seconds,
    })
}
