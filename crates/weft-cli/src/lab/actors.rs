//! The survey's *Actor Model* (message passing, part 2), measured here and now.
//!
//! `weft::actor` next to actix, ractor and kameo, each probe in a fresh child process
//! ([`child::run_probe`]), medians of the profile's repeats ([`probes`] describes the
//! workloads):
//! - Erlang's ring: a token passed round N actors, time per hop;
//! - one-to-one tell: one sender, one receiver, time per message;
//! - request/reply: the round trip of a call;
//! - idle actors: memory per actor with N of them waiting for their first message, beside
//!   the Threads section's parked green thread measured in the same run.
//!
//! Each timed load runs on one thread (weft: a 1-worker runtime; ractor, kameo: tokio's
//! current-thread runtime; actix: its System, which is one thread by design) and on two
//! (weft: 2 workers; ractor, kameo: tokio's multi-threaded runtime with 2 workers). The ring
//! and the tell are also measured against actix round by round in the same processes (the
//! lab's paired harness). Go's and Erlang's figures are quoted from issue 14 (measured on
//! this machine when the issue was written, not by this lab), and labelled so.

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
use probes::{Load, MemOutcome, MemSpec, PairSpec, Peer, Spec, Workers};

const NAME: &str = "actors";

/// The *Message passing: actors* section.
#[derive(Debug, Clone, Copy)]
pub struct Actors;

/// The probes this section runs in child processes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "probe", rename_all = "snake_case")]
enum Probe {
    Timed(Spec),
    Pair(PairSpec),
    Idle(MemSpec),
    /// The Threads section's parked green threads, for the baseline of the idle actors.
    Parked(parked_memory::Spec),
}

/// Durations, counts and repeats for one profile.
#[derive(Debug, Clone)]
struct Plan {
    target: Duration,
    repeats: usize,
    ring: usize,
    idle: usize,
    spawn_budget: Duration,
}

impl Plan {
    fn new(profile: Profile) -> Self {
        let base = Plan {
            target: Duration::from_millis(60),
            repeats: 3,
            ring: 1000,
            idle: 1_000_000,
            spawn_budget: Duration::from_secs(60),
        };
        match profile {
            Profile::Test => Plan {
                target: Duration::from_millis(2),
                repeats: 1,
                ring: 50,
                idle: 2_000,
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

    fn loads(&self) -> [Load; 3] {
        [Load::Ring { actors: self.ring }, Load::Tell, Load::Call]
    }

    /// Every timed (peer, load, workers) probe, in the order they run.
    fn timed(&self) -> Vec<(Peer, Load, Workers)> {
        let mut out = Vec::new();
        for load in self.loads() {
            for workers in [Workers::One, Workers::Two] {
                for peer in Peer::ALL {
                    if peer.supports(workers) {
                        out.push((peer, load, workers));
                    }
                }
            }
        }
        out
    }

    /// The loads measured against actix round by round (one thread each).
    fn pair_loads(&self) -> [Load; 2] {
        [Load::Ring { actors: self.ring }, Load::Tell]
    }

    fn memory_timeout(&self) -> Duration {
        self.spawn_budget * 3 + Duration::from_secs(60)
    }
}

/// Figures quoted from issue 14 (measured on this machine when it was written).
mod quoted {
    /// The ring, 1 000 actors x 10 000 laps, ns per hop.
    pub const RING: [(&str, f64); 2] = [("Go goroutines", 159.0), ("Erlang", 249.0)];
    /// One-to-one tell, ns per message (Erlang on one scheduler).
    pub const TELL: [(&str, f64); 1] = [("Erlang (one scheduler)", 97.0)];
}

/// weft's targets, from issue 14.
mod target {
    /// Ring, ns per hop.
    pub const RING: f64 = 50.0;
    /// Tell, ns per message.
    pub const TELL: f64 = 40.0;
    /// Idle actor over a parked green thread, bytes.
    pub const IDLE_OVER_PARKED: f64 = 64.0;
}

const CLAIM: &str = "The Actor Model: actors have identities and communicate by sending \
messages asynchronously; a send never waits for the receiver. Each actor is a green thread \
with a mailbox, as an Erlang process is; links and monitors let actors watch each other and \
supervisors restart the ones that fail.";

impl Section for Actors {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "Message passing: actors, mailboxes, ring, tell and call"
    }

    fn claim(&self) -> &'static str {
        CLAIM
    }

    fn steps(&self, profile: Profile) -> u64 {
        let plan = Plan::new(profile);
        (plan.timed().len() + plan.pair_loads().len() + Peer::ALL.len() + 1) as u64
    }

    fn run(&self, profile: Profile, progress: &Progress) -> SectionReport {
        let plan = Plan::new(profile);
        let mut report = SectionReport::new(NAME, self.title(), self.claim());
        let found = Found {
            timed: measure_timed(&plan, progress),
            pairs: measure_pairs(&plan, progress),
            idle: measure_idle(&plan, progress),
            parked: measure_parked(&plan, progress),
        };
        found.failures(&mut report);
        for load in plan.loads() {
            report_timed(&found, load, &mut report);
        }
        report_idle(&plan, &found, &mut report);
        if profile == Profile::Test {
            report.note(
                NoteKind::Info,
                "Test profile: tiny counts and short samples, meant for smoke tests; the figures \
                 are not meaningful and weft's targets are not checked.",
            );
        } else {
            report_targets(&plan, &found, &mut report);
        }
        report
    }

    fn probe(&self, spec: &str) -> Result<serde_json::Value, String> {
        let probe: Probe = serde_json::from_str(spec)
            .map_err(|e| format!("not a probe of the actors section: {e}"))?;
        let value = match probe {
            Probe::Timed(s) => serde_json::to_value(probes::run(&s)?),
            Probe::Pair(s) => serde_json::to_value(probes::run_pair(&s)?),
            Probe::Idle(s) => serde_json::to_value(probes::run_memory(&s)?),
            Probe::Parked(s) => serde_json::to_value(parked_memory::run(&s)?),
        };
        value.map_err(|e| e.to_string())
    }
}

type Timed = Vec<((Peer, Load, Workers), Result<Samples, ProbeFailure>)>;

struct Found {
    timed: Timed,
    /// weft against actix, round by round in the same processes (one thread).
    pairs: Vec<(Load, Result<Rounds, ProbeFailure>)>,
    idle: Vec<(Peer, Result<MemOutcome, ProbeFailure>)>,
    parked: Result<parked_memory::Outcome, ProbeFailure>,
}

impl Found {
    fn ns(&self, peer: Peer, load: Load, workers: Workers) -> Option<f64> {
        self.timed
            .iter()
            .find(|(k, _)| *k == (peer, load, workers))
            .and_then(|(_, r)| r.as_ref().ok())
            .and_then(Samples::median_ns)
    }

    /// actix's time over weft's, median of the paired rounds, with their range and count.
    fn paired(&self, load: Load) -> Option<(f64, f64, f64, usize)> {
        let r = self
            .pairs
            .iter()
            .find(|(l, _)| *l == load)
            .and_then(|(_, r)| r.as_ref().ok())?;
        r.summary(1)
    }

    fn paired_text(&self, load: Load) -> String {
        super::stats::pair_text(self.paired(load), "actix's time over weft's")
    }

    fn idle_of(&self, peer: Peer) -> Option<&MemOutcome> {
        self.idle
            .iter()
            .find(|(p, _)| *p == peer)
            .and_then(|(_, r)| r.as_ref().ok())
    }

    fn failures(&self, out: &mut SectionReport) {
        for ((peer, load, workers), r) in &self.timed {
            if let Err(f) = r {
                out.note(
                    NoteKind::Failure,
                    format!(
                        "{}, {} ({}): {f}",
                        peer.label(),
                        describe(*load),
                        threads(*workers)
                    ),
                );
            }
        }
        for (load, r) in &self.pairs {
            if let Err(f) = r {
                out.note(
                    NoteKind::Failure,
                    format!("weft::actor against actix, {}: {f}", describe(*load)),
                );
            }
        }
        for (peer, r) in &self.idle {
            if let Err(f) = r {
                out.note(
                    NoteKind::Failure,
                    format!("{}, idle actors: {f}", peer.label()),
                );
            }
        }
        if let Err(f) = &self.parked {
            out.note(
                NoteKind::Failure,
                format!("weft parked green threads (the idle actors' baseline): {f}"),
            );
        }
    }
}

fn describe(load: Load) -> String {
    match load {
        Load::Ring { actors } => format!("ring of {} actors", grouped(actors as f64)),
        Load::Tell => "tell".into(),
        Load::Call => "call".into(),
    }
}

fn threads(w: Workers) -> &'static str {
    match w {
        Workers::One => "one thread",
        Workers::Two => "two threads",
    }
}

fn timeout(plan: &Plan) -> Duration {
    plan.target * (2 * plan.repeats as u32 + 12) + Duration::from_secs(60)
}

fn measure_timed(plan: &Plan, progress: &Progress) -> Timed {
    plan.timed()
        .into_iter()
        .map(|(peer, load, workers)| {
            progress.probe(format!(
                "{}: {}, {}",
                peer.label(),
                describe(load),
                threads(workers)
            ));
            let spec = Spec {
                peer,
                load,
                workers,
                target_ms: plan.target.as_millis() as u64,
                repeats: plan.repeats,
            };
            let r = child::run_probe(NAME, &Probe::Timed(spec), timeout(plan));
            progress.done();
            ((peer, load, workers), r)
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
                "weft::actor against actix, alternating: {}",
                describe(load)
            ));
            let spec = PairSpec {
                peers: [Peer::Weft, Peer::Actix],
                load,
                workers: Workers::One,
                target_ms: plan.target.as_millis() as u64,
                rounds: PAIR_ROUNDS,
            };
            let r = child::run_pooled(
                NAME,
                &Probe::Pair(spec),
                plan.repeats.max(1),
                timeout(plan) * 2,
                Rounds::extend,
            );
            progress.done();
            (load, r)
        })
        .collect()
}

fn measure_idle(plan: &Plan, progress: &Progress) -> Vec<(Peer, Result<MemOutcome, ProbeFailure>)> {
    Peer::ALL
        .into_iter()
        .map(|peer| {
            progress.probe(format!(
                "{}: {} idle actors",
                peer.label(),
                grouped(plan.idle as f64)
            ));
            let spec = MemSpec {
                peer,
                count: plan.idle,
                budget_ms: plan.spawn_budget.as_millis() as u64,
            };
            let r = child::run_probe(NAME, &Probe::Idle(spec), plan.memory_timeout());
            progress.done();
            (peer, r)
        })
        .collect()
}

fn measure_parked(
    plan: &Plan,
    progress: &Progress,
) -> Result<parked_memory::Outcome, ProbeFailure> {
    progress.probe(format!(
        "weft: {} parked green threads (the baseline)",
        grouped(plan.idle as f64)
    ));
    let spec = parked_memory::Spec {
        kind: parked_memory::Kind::Weft,
        count: plan.idle,
        budget_ms: plan.spawn_budget.as_millis() as u64,
    };
    let r = child::run_probe(NAME, &Probe::Parked(spec), plan.memory_timeout());
    progress.done();
    r
}

fn report_timed(found: &Found, load: Load, out: &mut SectionReport) {
    let (id, title, caption, quoted): (&str, String, &str, &[(&str, f64)]) = match load {
        Load::Ring { actors } => (
            "ring",
            format!(
                "Erlang's ring: {} actors, one token",
                grouped(actors as f64)
            ),
            "N actors in a circle, each knowing the next; one token (a number) goes round, each \
             actor passing it on one less, until it reaches 0; time per hop (one message \
             delivered and forwarded), median of the repeats. One thread: weft on a 1-worker \
             runtime, ractor and kameo on tokio's current-thread runtime, actix on its System \
             (one thread by design); two threads: weft with 2 workers, ractor and kameo on a \
             2-worker tokio runtime. Go and Erlang quoted from issue 14 (1 000 actors x 10 000 \
             laps on this machine, their default schedulers).",
            &quoted::RING,
        ),
        Load::Tell => (
            "tell",
            "One-to-one tell".to_owned(),
            "One sender queues N numbers to one actor without waiting, then asks for the \
             receiver's count (checked to be exactly N); time per message, median of the \
             repeats. Unbounded mailboxes everywhere (actix: do_send). Threads as in the ring. \
             Erlang quoted from issue 14 (one scheduler).",
            &quoted::TELL,
        ),
        Load::Call => (
            "call",
            "Request/reply: the round trip of a call".to_owned(),
            "The driver calls one server actor, one request at a time (weft: Addr::call with a \
             ReplyTo; actix: Addr::send; ractor: ActorRef::call; kameo: ActorRef::ask), each \
             answer checked; time per round trip, median of the repeats. Threads as in the ring.",
            &[],
        ),
    };
    let mut table = Table::new(id, &title, caption)
        .column("library", "library", Unit::Text)
        .column("runs_on", "actors are", Unit::Text)
        .column("one", "one thread", Unit::Nanoseconds)
        .column("two", "two threads", Unit::Nanoseconds);
    for peer in Peer::ALL {
        table.push(vec![
            peer.label().into(),
            peer.runs_on().into(),
            found.ns(peer, load, Workers::One).into(),
            found.ns(peer, load, Workers::Two).into(),
        ]);
    }
    for (name, ns) in quoted {
        table.push(vec![
            format!("{name} (quoted)").into(),
            "its own".into(),
            Cell::Empty,
            (*ns).into(),
        ]);
    }
    out.tables.push(table);
}

fn report_idle(plan: &Plan, found: &Found, out: &mut SectionReport) {
    let mut table = Table::new(
        "idle_actors",
        "Memory per idle actor",
        format!(
            "{} actors spawned in a fresh process, each waiting for its first message; resident \
             memory plus page tables over a baseline taken before, per actor, with the address \
             the driver keeps of each. weft on its default runtime, ractor and kameo on a \
             2-worker tokio runtime, actix on its System. The first row is the Threads \
             section's probe run here: as many plain weft green threads, each parked.",
            grouped(plan.idle as f64)
        ),
    )
    .column("library", "library", Unit::Text)
    .column("idle", "idle at once", Unit::Count)
    .column("bytes", "bytes each", Unit::Bytes)
    .column("spawns_per_second", "spawns/s to idle", Unit::PerSecond);
    let parked = found.parked.as_ref().ok();
    table.push(vec![
        "weft green thread, parked (baseline)".into(),
        parked.map(|o| o.parked as f64).into(),
        parked
            .and_then(parked_memory::Outcome::bytes_per_thread)
            .into(),
        parked.and_then(parked_memory::Outcome::spawn_rate).into(),
    ]);
    for peer in Peer::ALL {
        let o = found.idle_of(peer);
        table.push(vec![
            peer.label().into(),
            o.map(|o| o.idle as f64).into(),
            o.and_then(MemOutcome::bytes_per_actor).into(),
            o.and_then(MemOutcome::spawn_rate).into(),
        ]);
    }
    for (peer, r) in &found.idle {
        if let Ok(o) = r {
            if let Some(why) = &o.stopped {
                out.note(NoteKind::Info, format!("{}: {why}", peer.label()));
            }
        }
    }
    out.tables.push(table);
}

fn report_targets(plan: &Plan, found: &Found, out: &mut SectionReport) {
    let opt = |v: Option<f64>| v.map(nanos).unwrap_or_else(|| "not measured".into());
    let ring = Load::Ring { actors: plan.ring };
    if let Some(w) = found.ns(Peer::Weft, ring, Workers::One) {
        out.target(
            w <= target::RING,
            format!(
                "Ring of {} actors: {} per hop with weft::actor on one thread ({} on two), \
                 against actix's {}, ractor's {} / {}, kameo's {} / {} (one / two threads) in \
                 the same run; {} (target, from issue 14: at most {}; Go {} and Erlang {} \
                 quoted).",
                grouped(plan.ring as f64),
                nanos(w),
                opt(found.ns(Peer::Weft, ring, Workers::Two)),
                opt(found.ns(Peer::Actix, ring, Workers::One)),
                opt(found.ns(Peer::Ractor, ring, Workers::One)),
                opt(found.ns(Peer::Ractor, ring, Workers::Two)),
                opt(found.ns(Peer::Kameo, ring, Workers::One)),
                opt(found.ns(Peer::Kameo, ring, Workers::Two)),
                found.paired_text(ring),
                nanos(target::RING),
                nanos(quoted::RING[0].1),
                nanos(quoted::RING[1].1),
            ),
        );
    }
    if let Some(w) = found.ns(Peer::Weft, Load::Tell, Workers::One) {
        let actix = found.ns(Peer::Actix, Load::Tell, Workers::One);
        out.target(
            w <= target::TELL,
            format!(
                "Tell: {} per message with weft::actor on one thread ({} on two), against \
                 actix's {}, ractor's {}, kameo's {} (one thread) in the same run; {} (target, \
                 from issue 14: at most {}, twice as fast as actix's figure in the issue; \
                 Erlang {} quoted).",
                nanos(w),
                opt(found.ns(Peer::Weft, Load::Tell, Workers::Two)),
                opt(actix),
                opt(found.ns(Peer::Ractor, Load::Tell, Workers::One)),
                opt(found.ns(Peer::Kameo, Load::Tell, Workers::One)),
                found.paired_text(Load::Tell),
                nanos(target::TELL),
                nanos(quoted::TELL[0].1),
            ),
        );
    }
    let parked = found
        .parked
        .as_ref()
        .ok()
        .and_then(parked_memory::Outcome::bytes_per_thread);
    let actor = found
        .idle_of(Peer::Weft)
        .and_then(MemOutcome::bytes_per_actor);
    if let (Some(p), Some(a)) = (parked, actor) {
        out.target(
            a - p <= target::IDLE_OVER_PARKED,
            format!(
                "Idle actors: {} each with weft::actor against {} for a parked weft green \
                 thread in the same run, {} more (target, from issue 14: at most {} more); \
                 actix {}, ractor {}, kameo {}.",
                bytes(a),
                bytes(p),
                bytes(a - p),
                bytes(target::IDLE_OVER_PARKED),
                found
                    .idle_of(Peer::Actix)
                    .and_then(MemOutcome::bytes_per_actor)
                    .map_or("not measured".into(), bytes),
                found
                    .idle_of(Peer::Ractor)
                    .and_then(MemOutcome::bytes_per_actor)
                    .map_or("not measured".into(), bytes),
                found
                    .idle_of(Peer::Kameo)
                    .and_then(MemOutcome::bytes_per_actor)
                    .map_or("not measured".into(), bytes),
            ),
        );
    }
}
