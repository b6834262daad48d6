//! The message-passing workloads, run in a (child) process.
//!
//! - **Ping-pong**: two processes, two channels; one sends a number and waits for it back,
//!   the other echoes. A figure is one round trip. weft runs both as green threads on one
//!   1-worker runtime ("one worker": every hand-over is a switch on one kernel thread) or
//!   one on each of two 1-worker runtimes ("across": every hand-over wakes the other
//!   worker); tokio as two tasks on a current-thread runtime or on a 2-worker runtime
//!   (tokio has no capacity 0: capacity 1); the kernel-thread channels between two kernel
//!   threads.
//! - **Throughput**: p producers and c consumers share one channel of a capacity
//!   (rendezvous, 64, unbounded); the producers send `n` numbers in all, the consumers
//!   receive until the channel is closed; a figure is wall time over `n`, and the number
//!   received is checked to be exactly `n`. weft's processes are green threads on a
//!   2-worker runtime, tokio's tasks on a 2-worker runtime, the others kernel threads.
//! - **Select**: k channels (capacity 64), one producer each, one consumer that selects
//!   over all k (a select built each time, as with a runtime-sized set of cases) until it
//!   has `n` messages.
//!
//! Each figure is calibrated so that one sample lasts the target time, then repeated;
//! the median is the probe's figure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::lab::stats::{self, Rounds, Samples};

/// A channel implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// `weft::csp`, from weft green threads.
    Weft,
    /// `crossbeam-channel`, kernel threads.
    Crossbeam,
    /// `flume`, kernel threads.
    Flume,
    /// `kanal` (its blocking API), kernel threads.
    Kanal,
    /// `std::sync::mpsc`, kernel threads.
    Std,
    /// `tokio::sync::mpsc`, tasks.
    Tokio,
}

impl Peer {
    /// Every peer, in table order.
    pub const ALL: [Peer; 6] = [
        Peer::Weft,
        Peer::Crossbeam,
        Peer::Flume,
        Peer::Kanal,
        Peer::Std,
        Peer::Tokio,
    ];

    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            Peer::Weft => "weft::csp",
            Peer::Crossbeam => "crossbeam-channel",
            Peer::Flume => "flume",
            Peer::Kanal => "kanal",
            Peer::Std => "std::sync::mpsc",
            Peer::Tokio => "tokio::sync::mpsc",
        }
    }

    /// What runs the processes.
    pub fn runs_on(self) -> &'static str {
        match self {
            Peer::Weft => "green threads",
            Peer::Tokio => "tasks",
            _ => "kernel threads",
        }
    }

    /// Whether the peer can run `load` (std and tokio have one consumer; tokio has no
    /// capacity 0).
    pub fn supports(self, load: Load) -> bool {
        match load {
            Load::PingPong { .. } => true,
            Load::Throughput { cap, consumers, .. } => match self {
                Peer::Std => consumers == 1,
                Peer::Tokio => consumers == 1 && cap != Cap::Rendezvous,
                _ => true,
            },
            Load::Select { .. } => matches!(self, Peer::Weft | Peer::Crossbeam),
        }
    }
}

/// A channel's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cap {
    /// Capacity 0.
    Rendezvous,
    /// Capacity 64.
    Bounded64,
    /// No bound.
    Unbounded,
}

impl Cap {
    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            Cap::Rendezvous => "rendezvous",
            Cap::Bounded64 => "bounded(64)",
            Cap::Unbounded => "unbounded",
        }
    }
}

/// A workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    /// Round trips over two rendezvous channels.
    PingPong {
        /// Both processes on one worker (weft, tokio), or one each on two.
        across: bool,
    },
    /// `producers` and `consumers` on one channel of capacity `cap`.
    Throughput {
        /// Capacity.
        cap: Cap,
        /// Producers.
        producers: usize,
        /// Consumers.
        consumers: usize,
    },
    /// One consumer selecting over `channels` channels, one producer each.
    Select {
        /// Channels (2, 4 or 8 for the `select!` form).
        channels: usize,
        /// A select built for each message (`Select`), or the `select!` macro with one
        /// arm per channel (as a Go `select` statement is written).
        dynamic: bool,
    },
}

/// Parameters of one probe.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Spec {
    /// The channel.
    pub peer: Peer,
    /// The workload.
    pub load: Load,
    /// Target duration of one sample, milliseconds.
    pub target_ms: u64,
    /// Samples.
    pub repeats: usize,
}

/// Runs one probe here.
pub fn run(spec: &Spec) -> Result<Samples, String> {
    if !spec.peer.supports(spec.load) {
        return Err(format!("{} cannot run {:?}", spec.peer.label(), spec.load));
    }
    let target = Duration::from_millis(spec.target_ms.max(1));
    let mut env = Env::new(spec.peer, spec.load)?;
    stats::sample(|n| env.run(n), target, spec.repeats, 200, 50_000_000)
}

/// Two channels measured round by round in the same process, alternating (the first is
/// the one judged: weft's).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PairSpec {
    /// The two channels.
    pub peers: [Peer; 2],
    /// The workload.
    pub load: Load,
    /// Target duration of one round of each, milliseconds.
    pub target_ms: u64,
    /// Rounds (each runs both once, in alternating order).
    pub rounds: usize,
}

/// Runs a paired probe here: nanoseconds per message of each peer, one per round.
pub fn run_pair(spec: &PairSpec) -> Result<Rounds, String> {
    if spec.peers[0] == spec.peers[1] {
        return Err(format!(
            "a paired probe needs two different channels, got {} twice",
            spec.peers[0].label()
        ));
    }
    for p in spec.peers {
        if !p.supports(spec.load) {
            return Err(format!("{} cannot run {:?}", p.label(), spec.load));
        }
    }
    let target = Duration::from_millis(spec.target_ms.max(1));
    let [mut a, mut b] = [
        Env::new(spec.peers[0], spec.load)?,
        Env::new(spec.peers[1], spec.load)?,
    ];
    stats::alternate(
        [&mut |n| a.run(n), &mut |n| b.run(n)],
        target,
        spec.rounds,
        200,
        50_000_000,
    )
}

/// The runtimes a probe needs, built once.
struct Env {
    peer: Peer,
    load: Load,
    /// weft: one 2-worker runtime (throughput, select) or one or two 1-worker runtimes.
    weft: Vec<weft::Runtime>,
    tokio: Option<tokio::runtime::Runtime>,
}

impl Env {
    fn new(peer: Peer, load: Load) -> Result<Self, String> {
        let mut env = Env {
            peer,
            load,
            weft: Vec::new(),
            tokio: None,
        };
        match peer {
            Peer::Weft => {
                let shape: &[usize] = match load {
                    Load::PingPong { across: false } => &[1],
                    Load::PingPong { across: true } => &[1, 1],
                    _ => &[2],
                };
                for &w in shape {
                    env.weft.push(
                        weft::Runtime::builder()
                            .workers(w)
                            .build()
                            .map_err(|e| format!("building a weft runtime: {e}"))?,
                    );
                }
            }
            Peer::Tokio => {
                let rt = match load {
                    Load::PingPong { across: false } => {
                        tokio::runtime::Builder::new_current_thread().build()
                    }
                    _ => tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .build(),
                };
                env.tokio = Some(rt.map_err(|e| format!("building a tokio runtime: {e}"))?);
            }
            _ => {}
        }
        Ok(env)
    }

    fn run(&mut self, n: u64) -> Result<Duration, String> {
        match (self.peer, self.load) {
            (Peer::Tokio, Load::PingPong { .. }) => tokio_ping_pong(self.tokio_rt(), n),
            (Peer::Tokio, Load::Throughput { cap, producers, .. }) => {
                tokio_throughput(self.tokio_rt(), cap, producers, n)
            }
            (Peer::Tokio, Load::Select { .. }) => Err("tokio: no select probe".into()),
            (Peer::Weft, Load::Select { channels, dynamic }) => select_load::<WeftChan>(
                &self.spawner(false),
                (channels, dynamic),
                weft_select_once,
                n,
            ),
            (Peer::Crossbeam, Load::Select { channels, dynamic }) => select_load::<CrossbeamChan>(
                &Spawner::Kernel,
                (channels, dynamic),
                crossbeam_select_once,
                n,
            ),
            (_, Load::Select { .. }) => Err("no select probe for this peer".into()),
            (peer, Load::PingPong { .. }) => {
                let spawn = self.spawner(true);
                match peer {
                    Peer::Weft => ping_pong::<WeftChan>(&spawn, n),
                    Peer::Crossbeam => ping_pong::<CrossbeamChan>(&spawn, n),
                    Peer::Flume => ping_pong::<FlumeChan>(&spawn, n),
                    Peer::Kanal => ping_pong::<KanalChan>(&spawn, n),
                    _ => ping_pong::<StdChan>(&spawn, n),
                }
            }
            (
                peer,
                Load::Throughput {
                    cap,
                    producers,
                    consumers,
                },
            ) => {
                let spawn = self.spawner(false);
                let shape = (cap, producers, consumers);
                match peer {
                    Peer::Weft => throughput::<WeftChan>(&spawn, shape, n),
                    Peer::Crossbeam => throughput::<CrossbeamChan>(&spawn, shape, n),
                    Peer::Flume => throughput::<FlumeChan>(&spawn, shape, n),
                    Peer::Kanal => throughput::<KanalChan>(&spawn, shape, n),
                    _ => throughput::<StdChan>(&spawn, shape, n),
                }
            }
        }
    }

    fn tokio_rt(&self) -> &tokio::runtime::Runtime {
        self.tokio.as_ref().expect("a tokio probe has its runtime")
    }

    /// Where the processes run: green threads (on the probe's runtimes, the ping-pong's
    /// second process on the second runtime when there is one) or kernel threads.
    fn spawner(&self, ping_pong: bool) -> Spawner<'_> {
        if self.peer == Peer::Weft {
            Spawner::Green {
                rts: &self.weft,
                ping_pong,
            }
        } else {
            Spawner::Kernel
        }
    }
}

/// Runs a process: a weft green thread or a kernel thread.
enum Spawner<'a> {
    Green {
        rts: &'a [weft::Runtime],
        ping_pong: bool,
    },
    Kernel,
}

type Joiner<T> = Box<dyn FnOnce() -> Result<T, String>>;

impl Spawner<'_> {
    /// Spawns process number `k` of the load.
    fn spawn<T, F>(&self, k: usize, f: F) -> Result<Joiner<T>, String>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        match self {
            Spawner::Green { rts, ping_pong } => {
                let rt = if *ping_pong {
                    &rts[k.min(rts.len() - 1)]
                } else {
                    &rts[0]
                };
                let h = weft::Builder::new()
                    .spawn_on(rt, f)
                    .map_err(|e| format!("spawning a green thread: {e}"))?;
                Ok(Box::new(move || {
                    h.join()
                        .map_err(|_| "a green thread of the probe panicked".to_owned())
                }))
            }
            Spawner::Kernel => {
                let h = std::thread::Builder::new()
                    .spawn(f)
                    .map_err(|e| format!("spawning a kernel thread: {e}"))?;
                Ok(Box::new(move || {
                    h.join()
                        .map_err(|_| "a kernel thread of the probe panicked".to_owned())
                }))
            }
        }
    }
}

/// The few operations the workloads need from a blocking channel.
/// One channel library, as the probes drive it. The operations are inlined into the
/// probes for every library alike (a green thread's frames that are live across a
/// context switch each cost a mispredicted return when it resumes).
trait Chan {
    type S: Clone + Send + 'static;
    type R: Send + 'static;
    fn make(cap: Cap) -> (Self::S, Self::R);
    fn send(s: &Self::S, v: u64) -> bool;
    fn recv(r: &Self::R) -> Option<u64>;
    /// Another receiving end, where the channel has several.
    fn clone_rx(r: &Self::R) -> Option<Self::R>;
}

struct WeftChan;
impl Chan for WeftChan {
    type S = weft::csp::Sender<u64>;
    type R = weft::csp::Receiver<u64>;
    fn make(cap: Cap) -> (Self::S, Self::R) {
        match cap {
            Cap::Rendezvous => weft::csp::channel(),
            Cap::Bounded64 => weft::csp::bounded(64),
            Cap::Unbounded => weft::csp::unbounded(),
        }
    }
    #[inline(always)]
    fn send(s: &Self::S, v: u64) -> bool {
        s.send(v).is_ok()
    }
    #[inline(always)]
    fn recv(r: &Self::R) -> Option<u64> {
        r.recv().ok()
    }
    fn clone_rx(r: &Self::R) -> Option<Self::R> {
        Some(r.clone())
    }
}

struct CrossbeamChan;
impl Chan for CrossbeamChan {
    type S = crossbeam_channel::Sender<u64>;
    type R = crossbeam_channel::Receiver<u64>;
    fn make(cap: Cap) -> (Self::S, Self::R) {
        match cap {
            Cap::Rendezvous => crossbeam_channel::bounded(0),
            Cap::Bounded64 => crossbeam_channel::bounded(64),
            Cap::Unbounded => crossbeam_channel::unbounded(),
        }
    }
    #[inline(always)]
    fn send(s: &Self::S, v: u64) -> bool {
        s.send(v).is_ok()
    }
    #[inline(always)]
    fn recv(r: &Self::R) -> Option<u64> {
        r.recv().ok()
    }
    fn clone_rx(r: &Self::R) -> Option<Self::R> {
        Some(r.clone())
    }
}

struct FlumeChan;
impl Chan for FlumeChan {
    type S = flume::Sender<u64>;
    type R = flume::Receiver<u64>;
    fn make(cap: Cap) -> (Self::S, Self::R) {
        match cap {
            Cap::Rendezvous => flume::bounded(0),
            Cap::Bounded64 => flume::bounded(64),
            Cap::Unbounded => flume::unbounded(),
        }
    }
    #[inline(always)]
    fn send(s: &Self::S, v: u64) -> bool {
        s.send(v).is_ok()
    }
    #[inline(always)]
    fn recv(r: &Self::R) -> Option<u64> {
        r.recv().ok()
    }
    fn clone_rx(r: &Self::R) -> Option<Self::R> {
        Some(r.clone())
    }
}

struct KanalChan;
impl Chan for KanalChan {
    type S = kanal::Sender<u64>;
    type R = kanal::Receiver<u64>;
    fn make(cap: Cap) -> (Self::S, Self::R) {
        match cap {
            Cap::Rendezvous => kanal::bounded(0),
            Cap::Bounded64 => kanal::bounded(64),
            Cap::Unbounded => kanal::unbounded(),
        }
    }
    #[inline(always)]
    fn send(s: &Self::S, v: u64) -> bool {
        s.send(v).is_ok()
    }
    #[inline(always)]
    fn recv(r: &Self::R) -> Option<u64> {
        r.recv().ok()
    }
    fn clone_rx(r: &Self::R) -> Option<Self::R> {
        Some(r.clone())
    }
}

/// std's `sync_channel(0)`, `sync_channel(64)` and `channel()` (one receiver).
struct StdChan;

/// Either kind of std sender.
#[derive(Clone)]
enum StdSender {
    Sync(std::sync::mpsc::SyncSender<u64>),
    Async(std::sync::mpsc::Sender<u64>),
}

impl Chan for StdChan {
    type S = StdSender;
    type R = std::sync::mpsc::Receiver<u64>;
    fn make(cap: Cap) -> (Self::S, Self::R) {
        match cap {
            Cap::Rendezvous => {
                let (s, r) = std::sync::mpsc::sync_channel(0);
                (StdSender::Sync(s), r)
            }
            Cap::Bounded64 => {
                let (s, r) = std::sync::mpsc::sync_channel(64);
                (StdSender::Sync(s), r)
            }
            Cap::Unbounded => {
                let (s, r) = std::sync::mpsc::channel();
                (StdSender::Async(s), r)
            }
        }
    }
    #[inline(always)]
    fn send(s: &Self::S, v: u64) -> bool {
        match s {
            StdSender::Sync(s) => s.send(v).is_ok(),
            StdSender::Async(s) => s.send(v).is_ok(),
        }
    }
    #[inline(always)]
    fn recv(r: &Self::R) -> Option<u64> {
        r.recv().ok()
    }
    fn clone_rx(_: &Self::R) -> Option<Self::R> {
        None
    }
}

fn ping_pong<C: Chan>(spawn: &Spawner<'_>, n: u64) -> Result<Duration, String> {
    let (ping_tx, ping_rx) = C::make(Cap::Rendezvous);
    let (pong_tx, pong_rx) = C::make(Cap::Rendezvous);
    let echo = spawn.spawn(1, move || {
        let mut k = 0u64;
        while let Some(v) = C::recv(&ping_rx) {
            if !C::send(&pong_tx, v) {
                break;
            }
            k += 1;
        }
        k
    })?;
    let timed = spawn.spawn(0, move || {
        let t0 = Instant::now();
        for i in 0..n {
            if !C::send(&ping_tx, i) || C::recv(&pong_rx) != Some(i) {
                return Err("the echo process stopped early".to_owned());
            }
        }
        Ok(t0.elapsed())
    })?;
    let dt = timed()??;
    let echoed = echo()?;
    if echoed != n {
        return Err(format!("{echoed} round trips echoed, not {n}"));
    }
    Ok(dt)
}

fn throughput<C: Chan>(
    spawn: &Spawner<'_>,
    (cap, producers, consumers): (Cap, usize, usize),
    n: u64,
) -> Result<Duration, String> {
    let producers = producers.max(1);
    let (tx, rx) = C::make(cap);
    let mut rxs = Vec::with_capacity(consumers.max(1));
    for _ in 1..consumers.max(1) {
        rxs.push(C::clone_rx(&rx).ok_or("this channel has one receiver")?);
    }
    rxs.push(rx);
    let gate = Arc::new(std::sync::Barrier::new(1));
    let t0 = Instant::now();
    let mut joins = Vec::new();
    for (k, rx) in rxs.into_iter().enumerate() {
        let _g = Arc::clone(&gate);
        joins.push(spawn.spawn(producers + k, move || {
            let mut got = 0u64;
            let mut sum = 0u64;
            while let Some(v) = C::recv(&rx) {
                got += 1;
                sum = sum.wrapping_add(v);
            }
            (got, sum)
        })?);
    }
    let mut sends = Vec::new();
    for p in 0..producers as u64 {
        let tx = tx.clone();
        let share = n / producers as u64 + u64::from(p < n % producers as u64);
        sends.push(spawn.spawn(p as usize, move || {
            for i in 0..share {
                if !C::send(&tx, i) {
                    return false;
                }
            }
            true
        })?);
    }
    drop(tx);
    for s in sends {
        if !s()? {
            return Err("a send failed: the consumers stopped early".into());
        }
    }
    let mut got = 0;
    for j in joins {
        got += j()?.0;
    }
    let dt = t0.elapsed();
    if got != n {
        return Err(format!("{got} messages received, {n} sent"));
    }
    Ok(dt)
}

/// One `weft::select!` over the first 2, 4 or 8 receivers: `Some(ok)`, or `None` for
/// another count.
fn weft_select_static(rxs: &[weft::csp::Receiver<u64>]) -> Option<bool> {
    Some(match rxs.len() {
        2 => weft::select! {
            recv(rxs[0]) -> m => m.is_ok(),
            recv(rxs[1]) -> m => m.is_ok(),
        },
        4 => weft::select! {
            recv(rxs[0]) -> m => m.is_ok(),
            recv(rxs[1]) -> m => m.is_ok(),
            recv(rxs[2]) -> m => m.is_ok(),
            recv(rxs[3]) -> m => m.is_ok(),
        },
        8 => weft::select! {
            recv(rxs[0]) -> m => m.is_ok(),
            recv(rxs[1]) -> m => m.is_ok(),
            recv(rxs[2]) -> m => m.is_ok(),
            recv(rxs[3]) -> m => m.is_ok(),
            recv(rxs[4]) -> m => m.is_ok(),
            recv(rxs[5]) -> m => m.is_ok(),
            recv(rxs[6]) -> m => m.is_ok(),
            recv(rxs[7]) -> m => m.is_ok(),
        },
        _ => return None,
    })
}

/// One `crossbeam_channel::select!` over 2, 4 or 8 receivers, as [`weft_select_static`].
fn crossbeam_select_static(rxs: &[crossbeam_channel::Receiver<u64>]) -> Option<bool> {
    Some(match rxs.len() {
        2 => crossbeam_channel::select! {
            recv(rxs[0]) -> m => m.is_ok(),
            recv(rxs[1]) -> m => m.is_ok(),
        },
        4 => crossbeam_channel::select! {
            recv(rxs[0]) -> m => m.is_ok(),
            recv(rxs[1]) -> m => m.is_ok(),
            recv(rxs[2]) -> m => m.is_ok(),
            recv(rxs[3]) -> m => m.is_ok(),
        },
        8 => crossbeam_channel::select! {
            recv(rxs[0]) -> m => m.is_ok(),
            recv(rxs[1]) -> m => m.is_ok(),
            recv(rxs[2]) -> m => m.is_ok(),
            recv(rxs[3]) -> m => m.is_ok(),
            recv(rxs[4]) -> m => m.is_ok(),
            recv(rxs[5]) -> m => m.is_ok(),
            recv(rxs[6]) -> m => m.is_ok(),
            recv(rxs[7]) -> m => m.is_ok(),
        },
        _ => return None,
    })
}

fn check_static(channels: usize, dynamic: bool) -> Result<(), String> {
    if dynamic || matches!(channels, 2 | 4 | 8) {
        Ok(())
    } else {
        Err(format!(
            "the select! form is written for 2, 4 or 8 channels, not {channels}"
        ))
    }
}

/// One select over all of `rxs`, by the macro (`dynamic == false`, 2, 4 or 8 channels)
/// or by a select built for this one message; `true` when it received a value.
type SelectOnce<R> = fn(&[R], bool) -> bool;

fn weft_select_once(rxs: &[weft::csp::Receiver<u64>], dynamic: bool) -> bool {
    if !dynamic {
        return weft_select_static(rxs).unwrap_or(false);
    }
    let mut sel = weft::csp::Select::new();
    for rx in rxs {
        sel.recv(rx);
    }
    match sel.select() {
        Ok(op) => {
            let i = op.index();
            op.recv(&rxs[i]).is_ok()
        }
        Err(_) => false,
    }
}

fn crossbeam_select_once(rxs: &[crossbeam_channel::Receiver<u64>], dynamic: bool) -> bool {
    if !dynamic {
        return crossbeam_select_static(rxs).unwrap_or(false);
    }
    let mut sel = crossbeam_channel::Select::new();
    for rx in rxs {
        sel.recv(rx);
    }
    let op = sel.select();
    let i = op.index();
    op.recv(&rxs[i]).is_ok()
}

/// `channels` channels of capacity 64, one producer each (each keeps its sender until
/// joined: a closed channel would be ready for ever), one consumer selecting until it
/// has `n` messages.
fn select_load<C: Chan>(
    spawn: &Spawner<'_>,
    (channels, dynamic): (usize, bool),
    once: SelectOnce<C::R>,
    n: u64,
) -> Result<Duration, String> {
    check_static(channels, dynamic)?;
    let k = channels.max(1);
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..k).map(|_| C::make(Cap::Bounded64)).unzip();
    let t0 = Instant::now();
    let receiver = spawn.spawn(0, move || {
        for got in 0..n {
            if !once(&rxs, dynamic) {
                return Err(format!("a producer's channel closed after {got} messages"));
            }
        }
        Ok(())
    })?;
    let mut senders = Vec::with_capacity(k);
    for (p, tx) in txs.into_iter().enumerate() {
        let share = n / k as u64 + u64::from((p as u64) < n % k as u64);
        senders.push(spawn.spawn(1 + p, move || {
            for i in 0..share {
                if !C::send(&tx, i) {
                    break;
                }
            }
            tx
        })?);
    }
    receiver()??;
    let dt = t0.elapsed();
    for s in senders {
        drop(s()?);
    }
    Ok(dt)
}

fn tokio_ping_pong(rt: &tokio::runtime::Runtime, n: u64) -> Result<Duration, String> {
    rt.block_on(async move {
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let echo = tokio::spawn(async move {
            let mut k = 0u64;
            while let Some(v) = ping_rx.recv().await {
                if pong_tx.send(v).await.is_err() {
                    break;
                }
                k += 1;
            }
            k
        });
        let timed = tokio::spawn(async move {
            let t0 = Instant::now();
            for i in 0..n {
                if ping_tx.send(i).await.is_err() || pong_rx.recv().await != Some(i) {
                    return Err("the echo task stopped early".to_owned());
                }
            }
            Ok(t0.elapsed())
        });
        let dt = timed.await.map_err(|e| e.to_string())??;
        let k = echo.await.map_err(|e| e.to_string())?;
        if k != n {
            return Err(format!("{k} round trips echoed, not {n}"));
        }
        Ok(dt)
    })
}

fn tokio_throughput(
    rt: &tokio::runtime::Runtime,
    cap: Cap,
    producers: usize,
    n: u64,
) -> Result<Duration, String> {
    let producers = producers.max(1);
    rt.block_on(async move {
        let t0 = Instant::now();
        let consumer;
        let mut sends = Vec::new();
        match cap {
            Cap::Unbounded => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
                consumer = tokio::spawn(async move {
                    let mut got = 0u64;
                    while rx.recv().await.is_some() {
                        got += 1;
                    }
                    got
                });
                for p in 0..producers as u64 {
                    let tx = tx.clone();
                    let share = n / producers as u64 + u64::from(p < n % producers as u64);
                    sends.push(tokio::spawn(async move {
                        for i in 0..share {
                            if tx.send(i).is_err() {
                                return false;
                            }
                        }
                        true
                    }));
                }
            }
            _ => {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(64);
                consumer = tokio::spawn(async move {
                    let mut got = 0u64;
                    while rx.recv().await.is_some() {
                        got += 1;
                    }
                    got
                });
                for p in 0..producers as u64 {
                    let tx = tx.clone();
                    let share = n / producers as u64 + u64::from(p < n % producers as u64);
                    sends.push(tokio::spawn(async move {
                        for i in 0..share {
                            if tx.send(i).await.is_err() {
                                return false;
                            }
                        }
                        true
                    }));
                }
            }
        }
        for s in sends {
            if !s.await.map_err(|e| e.to_string())? {
                return Err("a send failed".to_owned());
            }
        }
        let got = consumer.await.map_err(|e| e.to_string())?;
        let dt = t0.elapsed();
        if got != n {
            return Err(format!("{got} received, {n} sent"));
        }
        Ok(dt)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(peer: Peer, load: Load) {
        let spec = Spec {
            peer,
            load,
            target_ms: 1,
            repeats: 1,
        };
        let s = run(&spec).unwrap_or_else(|e| panic!("{peer:?} {load:?}: {e}"));
        assert!(s.ns_per_op.iter().all(|x| *x > 0.0));
    }

    #[test]
    fn every_supported_load_runs_and_counts_exactly() {
        let loads = [
            Load::PingPong { across: false },
            Load::PingPong { across: true },
            Load::Throughput {
                cap: Cap::Rendezvous,
                producers: 2,
                consumers: 2,
            },
            Load::Throughput {
                cap: Cap::Bounded64,
                producers: 2,
                consumers: 1,
            },
            Load::Throughput {
                cap: Cap::Unbounded,
                producers: 1,
                consumers: 1,
            },
            Load::Select {
                channels: 3,
                dynamic: true,
            },
            Load::Select {
                channels: 2,
                dynamic: false,
            },
        ];
        for load in loads {
            for peer in Peer::ALL {
                if peer.supports(load) {
                    tiny(peer, load);
                }
            }
        }
    }

    #[test]
    fn a_paired_probe_alternates_both_channels() {
        let spec = PairSpec {
            peers: [Peer::Weft, Peer::Crossbeam],
            load: Load::Select {
                channels: 2,
                dynamic: false,
            },
            target_ms: 1,
            rounds: 3,
        };
        let r = run_pair(&spec).unwrap();
        assert_eq!(r.len(), 3);
        assert!(r.samples.iter().flatten().all(|x| *x > 0.0));
        let same = PairSpec {
            peers: [Peer::Weft, Peer::Weft],
            ..spec
        };
        assert!(run_pair(&same).unwrap_err().contains("two different"));
    }

    #[test]
    fn unsupported_loads_are_errors() {
        let spec = Spec {
            peer: Peer::Std,
            load: Load::Throughput {
                cap: Cap::Bounded64,
                producers: 2,
                consumers: 2,
            },
            target_ms: 1,
            repeats: 1,
        };
        assert!(run(&spec).unwrap_err().contains("cannot run"));
    }
}
