//! The survey's *Communicating Sequential Processes* (message passing, part 1), measured
//! here and now.
//!
//! `weft::csp` channels next to crossbeam-channel, flume, kanal, `std::sync::mpsc` and
//! `tokio::sync::mpsc`, each probe in a fresh child process ([`child::run_probe`]), medians
//! of the profile's repeats ([`probes`] describes the workloads):
//! - ping-pong round trips over two rendezvous channels, on one worker and across two;
//! - throughput SPSC, MPSC (4 producers) and MPMC (4 × 4) for capacity 0, 64 and unbounded;
//! - one receiver selecting over 2, 4 and 8 channels;
//! - memory: a million green threads each blocked in `recv` on its own rendezvous channel,
//!   beside as many plain parked green threads (the Threads section's probe, run here).
//!
//! Go's, Erlang's and GHC's figures are quoted from issue 13 (measured on this machine when
//! the issue was written, not by this lab), and labelled so.

pub mod probes;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::child::{self, ProbeFailure};
use super::progress::Progress;
use super::render::format::{bytes, grouped, nanos};
use super::report::{Cell, NoteKind, SectionReport, Table, Unit};
use super::stats::{Rounds, Samples};
use super::threads::parked_memory;
use super::{Profile, Section};
use probes::{Cap, Load, PairSpec, Peer, Spec};

const NAME: &str = "csp";

/// The *Message passing: CSP* section.
#[derive(Debug, Clone, Copy)]
pub struct Csp;

/// The probes this section runs in child processes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "probe", rename_all = "snake_case")]
enum Probe {
    Channel(Spec),
    Pair(PairSpec),
    Parked(parked_memory::Spec),
}

/// Durations and repeats for one profile.
#[derive(Debug, Clone)]
struct Plan {
    target: Duration,
    repeats: usize,
    shapes: Vec<(usize, usize)>,
    caps: Vec<Cap>,
    selects: Vec<usize>,
    /// Green threads blocked at once in the memory probe.
    blocked: usize,
    spawn_budget: Duration,
}

impl Plan {
    fn new(profile: Profile) -> Self {
        let base = Plan {
            target: Duration::from_millis(60),
            repeats: 3,
            shapes: vec![(1, 1), (4, 1), (4, 4)],
            caps: vec![Cap::Rendezvous, Cap::Bounded64, Cap::Unbounded],
            selects: vec![2, 4, 8],
            blocked: 1_000_000,
            spawn_budget: Duration::from_secs(60),
        };
        match profile {
            Profile::Test => Plan {
                target: Duration::from_millis(2),
                repeats: 1,
                shapes: vec![(1, 1), (2, 2)],
                caps: vec![Cap::Rendezvous, Cap::Bounded64],
                selects: vec![2],
                blocked: 2_000,
                spawn_budget: Duration::from_secs(20),
            },
            Profile::Quick => base,
            Profile::Full => Plan {
                target: Duration::from_millis(200),
                repeats: 7,
                ..base
            },
        }
    }

    fn ping_pongs() -> [Load; 2] {
        [
            Load::PingPong { across: false },
            Load::PingPong { across: true },
        ]
    }

    fn throughputs(&self) -> Vec<Load> {
        let mut out = Vec::new();
        for &(producers, consumers) in &self.shapes {
            for &cap in &self.caps {
                out.push(Load::Throughput {
                    cap,
                    producers,
                    consumers,
                });
            }
        }
        out
    }

    /// Both forms of each select: the `select!` macro, then a built `Select`.
    fn select_loads(&self) -> Vec<Load> {
        let mut out = Vec::new();
        for dynamic in [false, true] {
            for &channels in &self.selects {
                out.push(Load::Select { channels, dynamic });
            }
        }
        out
    }

    /// The loads whose targets compare weft with crossbeam, measured round by round in
    /// the same processes too.
    fn pair_loads(&self) -> Vec<Load> {
        vec![
            Load::Throughput {
                cap: Cap::Bounded64,
                producers: 4,
                consumers: 4,
            },
            Load::Select {
                channels: 4,
                dynamic: false,
            },
        ]
    }

    /// The memory probes: plain parked green threads (the baseline), then green threads
    /// each blocked on a channel of its own.
    const MEMORY: [parked_memory::Kind; 2] =
        [parked_memory::Kind::Weft, parked_memory::Kind::WeftChannel];

    fn memory_timeout(&self) -> Duration {
        self.spawn_budget * 3 + Duration::from_secs(60)
    }

    /// Every (peer, load) probe, in the order they run. Kernel-thread peers run the
    /// ping-pong once (two kernel threads: there is no "one worker" for them).
    fn probes(&self) -> Vec<(Peer, Load)> {
        let mut out = Vec::new();
        for load in Self::ping_pongs() {
            for peer in Peer::ALL {
                let green = matches!(peer, Peer::Weft | Peer::Tokio);
                if green || load == (Load::PingPong { across: true }) {
                    out.push((peer, load));
                }
            }
        }
        for load in self.throughputs().into_iter().chain(self.select_loads()) {
            for peer in Peer::ALL {
                if peer.supports(load) {
                    out.push((peer, load));
                }
            }
        }
        out
    }
}

/// Figures quoted from issue 13 (measured on this machine when it was written).
mod quoted {
    /// Ping-pong round trips on one worker (one scheduler), ns.
    pub const PING_PONG: [(&str, f64); 5] = [
        ("GHC MVar", 64.0),
        ("tokio (issue's program)", 236.0),
        ("Go", 244.0),
        ("may", 372.0),
        ("Erlang", 511.0),
    ];
    /// Go's rendezvous SPSC, ns per message.
    pub const GO_RENDEZVOUS_SPSC: f64 = 129.0;
    /// Go's bounded(64) SPSC, ns per message.
    pub const GO_BOUNDED_SPSC: f64 = 36.0;
    /// Go's MPMC 4x4 bounded(64), ns per message.
    pub const GO_MPMC: f64 = 86.0;
    /// Go's select over 4 channels, ns per message.
    pub const GO_SELECT4: f64 = 138.0;
}

/// weft's targets, from issue 13.
mod target {
    /// Ping-pong round trip on one worker, ns.
    pub const PING_PONG_ONE_WORKER: f64 = 50.0;
    /// bounded(64) SPSC, ns per message.
    pub const BOUNDED_SPSC: f64 = 35.0;
    /// A green thread blocked on its own rendezvous channel, bytes over a parked one.
    pub const BLOCKED_OVER_PARKED: f64 = 64.0;
}

const CLAIM: &str = "Communicating Sequential Processes: processes are anonymous and talk \
over explicit channels; with a channel of capacity 0 (a rendezvous) the sender cannot \
transmit a message until the receiver is ready to accept it. CSP has two choices: external \
choice (the environment decides: whichever offered communication happens first) and \
internal choice (the process commits on its own).";

impl Section for Csp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "Message passing: CSP channels, rendezvous and select"
    }

    fn claim(&self) -> &'static str {
        CLAIM
    }

    fn steps(&self, profile: Profile) -> u64 {
        let plan = Plan::new(profile);
        (plan.probes().len() + plan.pair_loads().len() + Plan::MEMORY.len()) as u64
    }

    fn run(&self, profile: Profile, progress: &Progress) -> SectionReport {
        let plan = Plan::new(profile);
        let mut report = SectionReport::new(NAME, self.title(), self.claim());
        let runs = measure(&plan, progress);
        let pairs = measure_pairs(&plan, progress);
        let memory = measure_memory(&plan, progress);
        let found = Found {
            runs,
            pairs,
            memory,
        };
        for (kind, r) in &found.memory {
            if let Err(f) = r {
                report.note(NoteKind::Failure, format!("{}, memory: {f}", kind.label()));
            }
        }
        for (load, r) in &found.pairs {
            if let Err(f) = r {
                report.note(
                    NoteKind::Failure,
                    format!(
                        "weft::csp against crossbeam-channel, {}: {f}",
                        describe(*load)
                    ),
                );
            }
        }
        for ((peer, load), r) in &found.runs {
            if let Err(f) = r {
                report.note(
                    NoteKind::Failure,
                    format!(
                        "{} ({}), {}: {f}",
                        peer.label(),
                        peer.runs_on(),
                        describe(*load)
                    ),
                );
            }
        }
        report_ping_pong(&found, &mut report);
        report_throughput(&plan, &found, &mut report);
        report_select(&plan, &found, &mut report);
        report_memory(&plan, &found, &mut report);
        if profile == Profile::Test {
            report.note(
                NoteKind::Info,
                "Test profile: tiny counts and short samples, meant for smoke tests; the figures \
                 are not meaningful and weft's targets are not checked.",
            );
        } else {
            report_targets(&found, &mut report);
        }
        report
    }

    fn probe(&self, spec: &str) -> Result<serde_json::Value, String> {
        let probe: Probe = serde_json::from_str(spec)
            .map_err(|e| format!("not a probe of the csp section: {e}"))?;
        let value = match probe {
            Probe::Channel(s) => serde_json::to_value(probes::run(&s)?),
            Probe::Pair(s) => serde_json::to_value(probes::run_pair(&s)?),
            Probe::Parked(s) => serde_json::to_value(parked_memory::run(&s)?),
        };
        value.map_err(|e| e.to_string())
    }
}

type Runs = Vec<((Peer, Load), Result<Samples, ProbeFailure>)>;

struct Found {
    runs: Runs,
    /// weft against crossbeam, round by round in the same processes.
    pairs: Vec<(Load, Result<Rounds, ProbeFailure>)>,
    /// The memory probes, in the order of [`Plan::MEMORY`].
    memory: Vec<(
        parked_memory::Kind,
        Result<parked_memory::Outcome, ProbeFailure>,
    )>,
}

impl Found {
    /// Bytes per thread (resident plus page tables over the baseline) of a memory probe.
    fn bytes_per_thread(&self, kind: parked_memory::Kind) -> Option<f64> {
        self.memory
            .iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, r)| r.as_ref().ok())
            .and_then(parked_memory::Outcome::bytes_per_thread)
    }

    /// Median nanoseconds per message (round trip for ping-pong).
    fn ns(&self, peer: Peer, load: Load) -> Option<f64> {
        self.runs
            .iter()
            .find(|((p, l), _)| *p == peer && *l == load)
            .and_then(|(_, r)| r.as_ref().ok())
            .and_then(Samples::median_ns)
    }

    /// crossbeam's time over weft's, median of the paired rounds, with their range and
    /// count.
    fn paired(&self, load: Load) -> Option<(f64, f64, f64, usize)> {
        let r = self
            .pairs
            .iter()
            .find(|(l, _)| *l == load)
            .and_then(|(_, r)| r.as_ref().ok())?;
        r.summary(1)
    }

    fn paired_text(&self, load: Load) -> String {
        super::stats::pair_text(self.paired(load), "crossbeam's time over weft's")
    }

    /// A cell: the median, or a dash when it did not run.
    fn cell(&self, peer: Peer, load: Load) -> Cell {
        self.ns(peer, load).into()
    }
}

fn describe(load: Load) -> String {
    match load {
        Load::PingPong { across: false } => "ping-pong on one worker".into(),
        Load::PingPong { across: true } => "ping-pong across two workers".into(),
        Load::Throughput {
            cap,
            producers,
            consumers,
        } => format!("{} {producers}x{consumers}", cap.label()),
        Load::Select {
            channels,
            dynamic: false,
        } => format!("select! over {channels} channels"),
        Load::Select {
            channels,
            dynamic: true,
        } => format!("a built Select over {channels} channels"),
    }
}

fn measure(plan: &Plan, progress: &Progress) -> Runs {
    plan.probes()
        .into_iter()
        .map(|(peer, load)| {
            progress.probe(format!("{}: {}", peer.label(), describe(load)));
            let spec = Spec {
                peer,
                load,
                target_ms: plan.target.as_millis() as u64,
                repeats: plan.repeats,
            };
            let timeout = plan.target * (2 * plan.repeats as u32 + 12) + Duration::from_secs(30);
            let r = child::run_probe(NAME, &Probe::Channel(spec), timeout);
            progress.done();
            ((peer, load), r)
        })
        .collect()
}

/// Rounds of a paired probe in each of its processes.
const PAIR_ROUNDS: usize = 4;

fn measure_pairs(plan: &Plan, progress: &Progress) -> Vec<(Load, Result<Rounds, ProbeFailure>)> {
    plan.pair_loads()
        .into_iter()
        .map(|load| {
            progress.probe(format!(
                "weft::csp against crossbeam-channel, alternating: {}",
                describe(load)
            ));
            let spec = PairSpec {
                peers: [Peer::Weft, Peer::Crossbeam],
                load,
                target_ms: plan.target.as_millis() as u64,
                rounds: PAIR_ROUNDS,
            };
            let timeout = plan.target * (4 * PAIR_ROUNDS as u32 + 16) + Duration::from_secs(30);
            // One process per repeat, their rounds pooled: placement differs between
            // processes as much as rounds differ within one.
            let r = child::run_pooled(
                NAME,
                &Probe::Pair(spec),
                plan.repeats.max(1),
                timeout,
                Rounds::extend,
            );
            progress.done();
            (load, r)
        })
        .collect()
}

fn measure_memory(
    plan: &Plan,
    progress: &Progress,
) -> Vec<(
    parked_memory::Kind,
    Result<parked_memory::Outcome, ProbeFailure>,
)> {
    Plan::MEMORY
        .into_iter()
        .map(|kind| {
            progress.probe(format!(
                "{}: {} at once",
                kind.label(),
                grouped(plan.blocked as f64)
            ));
            let spec = parked_memory::Spec {
                kind,
                count: plan.blocked,
                budget_ms: plan.spawn_budget.as_millis() as u64,
            };
            let r = child::run_probe(NAME, &Probe::Parked(spec), plan.memory_timeout());
            progress.done();
            (kind, r)
        })
        .collect()
}

fn report_memory(plan: &Plan, found: &Found, out: &mut SectionReport) {
    let mut table = Table::new(
        "blocked_memory",
        "Memory per process blocked on a channel",
        format!(
            "{} green threads spawned from a green thread in a fresh process, each blocked in              recv on a rendezvous channel of its own whose sender the spawner keeps (with its              join handle); resident memory plus page tables over a baseline taken before, per              thread. The first row is the Threads section's probe run here: as many plain weft              green threads, each parked.",
            grouped(plan.blocked as f64)
        ),
    )
    .column("process", "process", Unit::Text)
    .column("count", "at once", Unit::Count)
    .column("bytes", "bytes each", Unit::Bytes)
    .column("spawns_per_second", "spawns/s until blocked", Unit::PerSecond);
    for (kind, r) in &found.memory {
        let o = r.as_ref().ok();
        table.push(vec![
            kind.label().into(),
            o.map(|o| o.parked as f64).into(),
            o.and_then(parked_memory::Outcome::bytes_per_thread).into(),
            o.and_then(parked_memory::Outcome::spawn_rate).into(),
        ]);
        if let Some(why) = o.and_then(|o| o.stopped.as_ref()) {
            out.note(NoteKind::Info, format!("{}: {why}", kind.label()));
        }
    }
    out.tables.push(table);
}

fn report_ping_pong(found: &Found, out: &mut SectionReport) {
    let mut table = Table::new(
        "ping_pong",
        "Ping-pong round trip over rendezvous channels",
        "Two processes, two channels of capacity 0 (tokio: capacity 1, it has no 0): one sends a \
         number and waits for it back, the other echoes; time per round trip, median of the \
         repeats. weft: two green threads on a 1-worker runtime (one worker), or one on each of \
         two 1-worker runtimes (across); tokio: a current-thread runtime, or a 2-worker one \
         (its tasks may share a worker); the others: two kernel threads. Go, Erlang and GHC are \
         quoted from issue 13 (their own ping-pong programs on this machine, one scheduler).",
    )
    .column("channel", "channel", Unit::Text)
    .column("runs_on", "processes", Unit::Text)
    .column("one_worker", "one worker", Unit::Nanoseconds)
    .column("across", "across workers / CPUs", Unit::Nanoseconds);
    for peer in Peer::ALL {
        table.push(vec![
            peer.label().into(),
            peer.runs_on().into(),
            found.cell(peer, Load::PingPong { across: false }),
            found.cell(peer, Load::PingPong { across: true }),
        ]);
    }
    for (name, ns) in quoted::PING_PONG {
        table.push(vec![
            format!("{name} (quoted)").into(),
            "its own".into(),
            ns.into(),
            Cell::Empty,
        ]);
    }
    out.tables.push(table);
}

fn report_throughput(plan: &Plan, found: &Found, out: &mut SectionReport) {
    let table = Table::new(
        "throughput",
        "Throughput: time per message",
        "p producers and c consumers on one channel; the producers send N numbers in all, the \
         consumers receive until it is closed (the count is checked); wall time over N, median \
         of the repeats. weft: green threads on a 2-worker runtime; tokio: tasks on a 2-worker \
         runtime (one consumer; no capacity 0); std: kernel threads, one consumer; the others: \
         kernel threads. A dash: the channel has no such form.",
    )
    .column("load", "load", Unit::Text);
    let mut table = Peer::ALL
        .iter()
        .fold(table.column("cap", "capacity", Unit::Text), |t, p| {
            t.column(
                &format!("{p:?}").to_lowercase(),
                p.label(),
                Unit::Nanoseconds,
            )
        });
    for load in plan.throughputs() {
        let Load::Throughput {
            cap,
            producers,
            consumers,
        } = load
        else {
            continue;
        };
        let shape = match (producers, consumers) {
            (1, 1) => "SPSC".to_owned(),
            (p, 1) => format!("MPSC {p}x1"),
            (p, c) => format!("MPMC {p}x{c}"),
        };
        let mut row: Vec<Cell> = vec![shape.into(), cap.label().into()];
        row.extend(Peer::ALL.iter().map(|&p| found.cell(p, load)));
        table.push(row);
    }
    out.tables.push(table);
}

fn report_select(plan: &Plan, found: &Found, out: &mut SectionReport) {
    let mut table = Table::new(
        "select",
        "External choice: one receiver selecting over k channels",
        "k channels of capacity 64, one producer each, one consumer selecting over all k until \
         it has N: with the select! macro, one arm per channel (as a Go select statement is \
         written: weft::select!, crossbeam_channel::select!), or with a select built for each \
         message (weft::csp::Select, crossbeam_channel::Select: a runtime-sized set of cases); \
         time per message, median of the repeats. weft: green threads on a 2-worker runtime; \
         crossbeam: kernel threads. Go quoted from issue 13 (its select statement, 4 channels).",
    )
    .column("form", "form", Unit::Text)
    .column("channels", "channels", Unit::Count)
    .column("weft", "weft::csp", Unit::Nanoseconds)
    .column("crossbeam", "crossbeam-channel", Unit::Nanoseconds)
    .column("go", "Go (quoted)", Unit::Nanoseconds);
    for load in plan.select_loads() {
        let Load::Select { channels, dynamic } = load else {
            continue;
        };
        table.push(vec![
            if dynamic { "built Select" } else { "select!" }.into(),
            Cell::from(channels as f64),
            found.cell(Peer::Weft, load),
            found.cell(Peer::Crossbeam, load),
            if channels == 4 && !dynamic {
                quoted::GO_SELECT4.into()
            } else {
                Cell::Empty
            },
        ]);
    }
    out.tables.push(table);
}

fn report_targets(found: &Found, out: &mut SectionReport) {
    let opt = |v: Option<f64>| v.map(nanos).unwrap_or_else(|| "not measured".into());
    if let (Some(p), Some(b)) = (
        found.bytes_per_thread(parked_memory::Kind::Weft),
        found.bytes_per_thread(parked_memory::Kind::WeftChannel),
    ) {
        out.target(
            b - p <= target::BLOCKED_OVER_PARKED,
            format!(
                "Green threads each blocked on its own rendezvous channel: {} each against {}                  for a parked weft green thread in the same run, {} more (target, from issue                  13: at most {} more).",
                bytes(b),
                bytes(p),
                bytes(b - p),
                bytes(target::BLOCKED_OVER_PARKED),
            ),
        );
    }
    let one = found.ns(Peer::Weft, Load::PingPong { across: false });
    if let Some(w) = one {
        out.target(
            w <= target::PING_PONG_ONE_WORKER,
            format!(
                "Ping-pong round trip on one worker: {} with weft::csp (tokio's two tasks on one \
                 worker {}; target, from issue 13: at most {}; GHC's MVar, quoted: 64 ns).",
                nanos(w),
                opt(found.ns(Peer::Tokio, Load::PingPong { across: false })),
                nanos(target::PING_PONG_ONE_WORKER)
            ),
        );
    }
    let spsc = |cap| Load::Throughput {
        cap,
        producers: 1,
        consumers: 1,
    };
    if let Some(w) = found.ns(Peer::Weft, spsc(Cap::Rendezvous)) {
        out.target(
            w <= quoted::GO_RENDEZVOUS_SPSC,
            format!(
                "Rendezvous SPSC: {} per message with weft::csp, against kanal's {}, crossbeam's \
                 {}, std's {} in the same run (target, from issue 13: at most Go's {}, quoted).",
                nanos(w),
                opt(found.ns(Peer::Kanal, spsc(Cap::Rendezvous))),
                opt(found.ns(Peer::Crossbeam, spsc(Cap::Rendezvous))),
                opt(found.ns(Peer::Std, spsc(Cap::Rendezvous))),
                nanos(quoted::GO_RENDEZVOUS_SPSC)
            ),
        );
    }
    if let Some(w) = found.ns(Peer::Weft, spsc(Cap::Bounded64)) {
        out.target(
            w <= target::BOUNDED_SPSC,
            format!(
                "bounded(64) SPSC: {} per message with weft::csp, against tokio's {}, \
                 crossbeam's {}, kanal's {} in the same run (target, from issue 13: at most {}; \
                 Go quoted: {}).",
                nanos(w),
                opt(found.ns(Peer::Tokio, spsc(Cap::Bounded64))),
                opt(found.ns(Peer::Crossbeam, spsc(Cap::Bounded64))),
                opt(found.ns(Peer::Kanal, spsc(Cap::Bounded64))),
                nanos(target::BOUNDED_SPSC),
                nanos(quoted::GO_BOUNDED_SPSC)
            ),
        );
    }
    let mpmc = Load::Throughput {
        cap: Cap::Bounded64,
        producers: 4,
        consumers: 4,
    };
    if let (Some(w), Some(c)) = (found.ns(Peer::Weft, mpmc), found.ns(Peer::Crossbeam, mpmc)) {
        // Judged on the paired rounds when they ran, else on the separate processes.
        let met = found.paired(mpmc).map_or(w <= c, |(m, ..)| m >= 1.0);
        out.target(
            met,
            format!(
                "MPMC 4x4 bounded(64): {} per message with weft::csp against crossbeam's {} in \
                 separate processes; {} (target, from issue 13: at most crossbeam's time, judged \
                 on the rounds; Go quoted: {}).",
                nanos(w),
                nanos(c),
                found.paired_text(mpmc),
                nanos(quoted::GO_MPMC)
            ),
        );
    }
    let sel4 = Load::Select {
        channels: 4,
        dynamic: false,
    };
    if let Some(w) = found.ns(Peer::Weft, sel4) {
        out.target(
            w <= quoted::GO_SELECT4,
            format!(
                "Select over 4 channels (select!, one arm each): {} per message with weft::csp, \
                 crossbeam's {} in separate processes, {}; with a Select built per message {} \
                 (crossbeam's {}) (target, from issue 13: at most Go's {}, quoted).",
                nanos(w),
                opt(found.ns(Peer::Crossbeam, sel4)),
                found.paired_text(sel4),
                opt(found.ns(
                    Peer::Weft,
                    Load::Select {
                        channels: 4,
                        dynamic: true
                    }
                )),
                opt(found.ns(
                    Peer::Crossbeam,
                    Load::Select {
                        channels: 4,
                        dynamic: true
                    }
                )),
                nanos(quoted::GO_SELECT4)
            ),
        );
    }
}
