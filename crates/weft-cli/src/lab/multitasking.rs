//! The survey's *Multitasking* (preemptive and cooperative scheduling) and its warning
//! about blocking calls in green threads, measured here and now.
//!
//! Every probe runs in a fresh child process ([`child::run_probe`]); [`probes`] describes
//! the workloads:
//! - **ticker**: a thread that wants to run every millisecond beside a hog on the same CPU:
//!   weft green threads on one worker with a hog that never calls the runtime
//!   (cooperative), the same with a hog that spends from the cooperative budget, the
//!   first again with weft's opt-in preemption (a 1 ms slice), and two kernel threads
//!   pinned to one CPU (the kernel preempts). The ticker's lateness says whether the hog
//!   kept it from running.
//! - **blocking call**: the same ticker on a 1-worker weft runtime with the watchdog on,
//!   beside a green thread that waits with `std::thread::sleep` (a blocking system call:
//!   the whole worker waits), `weft::sleep` (it parks) or `weft::blocking` (the call runs
//!   on the blocking pool); the watchdog's reports and how soon the first came.
//! - **echo**: an echo server on loopback holding C connections at once, one green
//!   thread (weft), task (tokio) or kernel thread (std) per connection, the clients in
//!   another process (a grandchild, through the same harness), with M request/response
//!   rounds on every connection: throughput and round-trip latency.
//!
//! The survey's *Cooperative* subsection is a heading without text; the claims checked are
//! its *Preemptive* paragraph and its warning that a blocking call blocks the whole kernel
//! thread unless the runtime coordinates non-blocking I/O.

pub mod probes;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::child::{self, ProbeFailure};
use super::progress::Progress;
use super::render::format::{grouped, nanos, number};
use super::report::{Cell, Chart, NoteKind, SectionReport, Table, Unit};
use super::stats::median;
use super::{Profile, Section};
use probes::{
    BlockingOutcome, BlockingSpec, ClientSpec, EchoOutcome, EchoSpec, Mode, Server, TickerOutcome,
    TickerSpec, Way,
};

const NAME: &str = "multitasking";

/// The *Multitasking* section.
#[derive(Debug, Clone, Copy)]
pub struct Multitasking;

/// The probes this section runs in child processes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "probe", rename_all = "snake_case")]
enum Probe {
    Ticker(TickerSpec),
    Blocking(BlockingSpec),
    Echo(EchoSpec),
    /// The clients of an echo probe: started by the server's process.
    EchoClients(ClientSpec),
}

/// The watchdog's slice in the blocking-call probes, milliseconds.
const SLICE_MS: u64 = 10;

/// How long the clients' process may take.
const CLIENTS_TIMEOUT: Duration = Duration::from_secs(100);

/// How long an echo probe (server and clients) may take.
const ECHO_TIMEOUT: Duration = Duration::from_secs(120);

/// Durations, counts and repeats for one profile.
#[derive(Debug, Clone)]
struct Plan {
    /// Processes per row.
    repeats: usize,
    /// How long the hog spins, milliseconds.
    hog_ms: u64,
    /// How long the ticker ticks alone before and after the hog or the wait, ms.
    pad_ms: u64,
    /// How long the blocking call waits, milliseconds.
    wait_ms: u64,
    /// Echo connections held at once.
    connections: usize,
    /// Echo rounds per connection.
    rounds: usize,
}

impl Plan {
    fn new(profile: Profile) -> Self {
        let base = Plan {
            repeats: 3,
            hog_ms: 300,
            pad_ms: 20,
            wait_ms: 100,
            connections: 10_000,
            rounds: 20,
        };
        match profile {
            Profile::Test => Plan {
                repeats: 1,
                hog_ms: 30,
                pad_ms: 10,
                wait_ms: 30,
                connections: 200,
                rounds: 3,
            },
            Profile::Quick => base,
            Profile::Full => Plan { repeats: 5, ..base },
        }
    }

    fn ticker_timeout(&self) -> Duration {
        Duration::from_millis(self.hog_ms + 2 * self.pad_ms) + Duration::from_secs(30)
    }

    fn blocking_timeout(&self) -> Duration {
        Duration::from_millis(self.wait_ms + 2 * self.pad_ms) + Duration::from_secs(30)
    }
}

/// weft's targets, from issue 15.
mod target {
    /// The watchdog reports a blocked worker within this many slices.
    pub const REPORT_WITHIN_SLICES: f64 = 2.0;
    /// With preemption on, the worst tick delay beside a hog is at most this many slices.
    pub const PREEMPT_WORST_SLICES: f64 = 2.0;
}

const CLAIM: &str = "Preemptive schedulers are by far the most common for popular operating \
systems. They operate by forcibly interrupting tasks to schedule a new one, trying to operate \
as fairly as possible generally. They usually make some kind of optimization whereby a task \
that makes an I/O request is \"blocked\" from running until the request returns with \
something useful. These are used for all kernel threads and Erlang's green threads (called \
\"processes\"). [The survey's Cooperative subsection has no text.] There is also the problem \
that if one green thread makes a blocking call, the whole kernel thread is blocked (i.e. \
descheduled by the operating system)! To fix this, all I/O operations need to be \
non-blocking, which the runtime needs to coordinate and this is no easy task.";

impl Section for Multitasking {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "Multitasking: cooperative, budgets, preemption, and blocking calls"
    }

    fn claim(&self) -> &'static str {
        CLAIM
    }

    fn steps(&self, profile: Profile) -> u64 {
        let plan = Plan::new(profile);
        (plan.repeats * (Mode::ALL.len() + Way::ALL.len() + Server::ALL.len())) as u64
    }

    fn run(&self, profile: Profile, progress: &Progress) -> SectionReport {
        let plan = Plan::new(profile);
        let mut report = SectionReport::new(NAME, self.title(), self.claim());
        let found = Found {
            ticker: measure_ticker(&plan, progress),
            blocking: measure_blocking(&plan, progress),
            echo: measure_echo(&plan, progress),
        };
        for (mode, r) in &found.ticker {
            if let Err(f) = r {
                report.note(
                    NoteKind::Failure,
                    format!("ticker beside a {} hog: {f}", mode.label()),
                );
            }
        }
        for (way, r) in &found.blocking {
            if let Err(f) = r {
                report.note(
                    NoteKind::Failure,
                    format!("ticker beside a green thread in {}: {f}", way.label()),
                );
            }
        }
        for (server, r) in &found.echo {
            match r {
                Err(f) => report.note(
                    NoteKind::Failure,
                    format!("echo, {} server: {f}", server.label()),
                ),
                Ok(runs) => echo_partial_failures(*server, runs, &plan, &mut report),
            }
        }
        report_ticker(&plan, &found, &mut report);
        report_blocking(&plan, &found, &mut report);
        report_echo(&plan, &found, &mut report);
        if profile == Profile::Test {
            report.note(
                NoteKind::Info,
                "Test profile: tiny counts and short waits, meant for smoke tests; the figures \
                 are not meaningful and weft's targets are not checked.",
            );
        } else {
            report_claims(&plan, &found, &mut report);
            report_targets(&plan, &found, &mut report);
        }
        report
    }

    fn probe(&self, spec: &str) -> Result<serde_json::Value, String> {
        let probe: Probe = serde_json::from_str(spec)
            .map_err(|e| format!("not a probe of the multitasking section: {e}"))?;
        let value = match probe {
            Probe::Ticker(s) => serde_json::to_value(probes::run_ticker(&s)?),
            Probe::Blocking(s) => serde_json::to_value(probes::run_blocking(&s)?),
            Probe::Echo(s) => serde_json::to_value(probes::run_echo(&s, |clients| {
                child::run_probe(NAME, &Probe::EchoClients(clients.clone()), CLIENTS_TIMEOUT)
                    .map_err(|f| format!("the clients' process {f}"))
            })?),
            Probe::EchoClients(s) => serde_json::to_value(probes::run_clients(&s)?),
        };
        value.map_err(|e| e.to_string())
    }
}

/// A row's runs, one per process, or the failure that ended them.
type Runs<K, R> = Vec<(K, Result<Vec<R>, ProbeFailure>)>;

struct Found {
    ticker: Runs<Mode, TickerOutcome>,
    blocking: Runs<Way, BlockingOutcome>,
    echo: Runs<Server, EchoOutcome>,
}

/// The successful runs of `key`'s row, when it had no failure.
fn runs_of<K: PartialEq, R>(runs: &Runs<K, R>, key: K) -> Option<&[R]> {
    runs.iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, r)| r.as_ref().ok())
        .map(Vec::as_slice)
        .filter(|v| !v.is_empty())
}

fn max_of(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    values.into_iter().reduce(f64::max)
}

fn median_of(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    median(&values.into_iter().collect::<Vec<_>>())
}

/// Runs `run` for every key, `repeats` times, the keys interleaved (every key once, then
/// again), so that a drift of the machine spreads over all rows alike. A key's first
/// failure ends its row; its remaining steps are counted as done.
fn gather<K: Copy, R>(
    keys: &[K],
    repeats: usize,
    progress: &Progress,
    label: impl Fn(K) -> String,
    run: impl Fn(K) -> Result<R, ProbeFailure>,
) -> Runs<K, R> {
    let mut out: Runs<K, R> = keys.iter().map(|&k| (k, Ok(Vec::new()))).collect();
    let repeats = repeats.max(1);
    for r in 0..repeats {
        for (k, acc) in &mut out {
            if acc.is_ok() {
                progress.probe(format!("{}, process {} of {repeats}", label(*k), r + 1));
                match run(*k) {
                    Ok(x) => {
                        if let Ok(v) = acc {
                            v.push(x);
                        }
                    }
                    Err(f) => *acc = Err(f),
                }
            }
            progress.done();
        }
    }
    out
}

fn measure_ticker(plan: &Plan, progress: &Progress) -> Runs<Mode, TickerOutcome> {
    gather(
        &Mode::ALL,
        plan.repeats,
        progress,
        |m| format!("ticker beside a hog: {}", m.label()),
        |mode| {
            let spec = TickerSpec {
                mode,
                hog_ms: plan.hog_ms,
                pad_ms: plan.pad_ms,
            };
            child::run_probe(NAME, &Probe::Ticker(spec), plan.ticker_timeout())
        },
    )
}

fn measure_blocking(plan: &Plan, progress: &Progress) -> Runs<Way, BlockingOutcome> {
    gather(
        &Way::ALL,
        plan.repeats,
        progress,
        |w| format!("a blocking call: {}", w.label()),
        |way| {
            let spec = BlockingSpec {
                way,
                wait_ms: plan.wait_ms,
                pad_ms: plan.pad_ms,
                slice_ms: SLICE_MS,
            };
            child::run_probe(NAME, &Probe::Blocking(spec), plan.blocking_timeout())
        },
    )
}

fn measure_echo(plan: &Plan, progress: &Progress) -> Runs<Server, EchoOutcome> {
    gather(
        &Server::ALL,
        plan.repeats,
        progress,
        |s| {
            format!(
                "echo, {} server, {} connections",
                s.label(),
                grouped(plan.connections as f64)
            )
        },
        |server| {
            let spec = EchoSpec {
                server,
                connections: plan.connections,
                rounds: plan.rounds,
            };
            child::run_probe(NAME, &Probe::Echo(spec), ECHO_TIMEOUT)
        },
    )
}

/// Failure notes for the connections of an echo run that failed although the run ended.
fn echo_partial_failures(
    server: Server,
    runs: &[EchoOutcome],
    plan: &Plan,
    out: &mut SectionReport,
) {
    for (i, o) in runs.iter().enumerate() {
        let c = &o.clients;
        if c.failed > 0 {
            out.note(
                NoteKind::Failure,
                format!(
                    "echo, {} server, process {}: {} of {} connections failed (first: {})",
                    server.label(),
                    i + 1,
                    c.failed,
                    plan.connections,
                    c.first_error.as_deref().unwrap_or("no error text")
                ),
            );
        }
        if o.server_errors > 0 {
            out.note(
                NoteKind::Failure,
                format!(
                    "echo, {} server, process {}: {} errors on the server's side (first: {})",
                    server.label(),
                    i + 1,
                    o.server_errors,
                    o.server_error.as_deref().unwrap_or("no error text")
                ),
            );
        }
    }
}

/// The ticker's figures of one row, over its runs: median ticks, median of medians,
/// median of p99s, worst of worsts, median hog iterations.
struct TickerRow {
    ticks: Option<f64>,
    median_ms: Option<f64>,
    p99_ms: Option<f64>,
    worst_ms: Option<f64>,
    hog_iterations: Option<f64>,
}

fn ticker_row(found: &Found, mode: Mode) -> TickerRow {
    let runs = runs_of(&found.ticker, mode).unwrap_or_default();
    TickerRow {
        ticks: median_of(runs.iter().map(|o| o.ticks.ticks as f64)),
        median_ms: median_of(runs.iter().map(|o| o.ticks.median_ms)),
        p99_ms: median_of(runs.iter().map(|o| o.ticks.p99_ms)),
        worst_ms: max_of(runs.iter().map(|o| o.ticks.worst_ms)),
        hog_iterations: median_of(runs.iter().map(|o| o.hog_iterations as f64)),
    }
}

fn report_ticker(plan: &Plan, found: &Found, out: &mut SectionReport) {
    let mut table = Table::new(
        "ticker",
        "A ticker beside a hog on the same CPU",
        format!(
            "A ticker sleeps 1 ms in a loop and records each sleep's overshoot (the time it \
             woke minus the time it went to sleep plus 1 ms); after {pad} ms a hog spins on the \
             same worker or CPU for {hog} ms, then the ticker goes on alone for {pad} ms. \
             cooperative: two weft green threads on a 1-worker runtime, the hog only reads the \
             clock; budget: the same, the hog also calls try_recv on an empty weft::csp \
             channel each iteration, which spends from the cooperative budget (a yield every \
             128 calls); kernel threads: two std threads pinned to one CPU, the kernel \
             preempts (the ticker sleeps with std::thread::sleep). {repeats} process(es) per \
             row, interleaved: ticks, hog iterations and the median lateness are medians over \
             the processes, p99 the median of the processes' p99s, worst the worst of all.",
            pad = plan.pad_ms,
            hog = plan.hog_ms,
            repeats = plan.repeats,
        ),
    )
    .column("mode", "mode", Unit::Text)
    .column("runs_on", "how", Unit::Text)
    .column("ticks", "ticks seen", Unit::Count)
    .column("median_ms", "median lateness", Unit::Milliseconds)
    .column("p99_ms", "p99 lateness", Unit::Milliseconds)
    .column("worst_ms", "worst lateness", Unit::Milliseconds)
    .column("hog_iterations", "hog iterations", Unit::Count);
    for mode in Mode::ALL {
        let r = ticker_row(found, mode);
        table.push(vec![
            mode.label().into(),
            mode.describe().into(),
            r.ticks.into(),
            r.median_ms.into(),
            r.p99_ms.into(),
            r.worst_ms.into(),
            r.hog_iterations.into(),
        ]);
    }
    out.tables.push(table);
}

/// The blocking call's figures of one row, over its runs: the worst lateness, the most
/// reports in one run, the slowest first report, and the first run's first report.
struct BlockingRow {
    worst_ms: Option<f64>,
    reports: Option<f64>,
    first_delay_ms: Option<f64>,
    kind: Option<String>,
    text: Option<String>,
}

fn blocking_row(found: &Found, way: Way) -> Option<BlockingRow> {
    let runs = runs_of(&found.blocking, way)?;
    let first = runs.iter().find(|o| o.reports > 0);
    Some(BlockingRow {
        worst_ms: max_of(runs.iter().map(|o| o.ticks.worst_ms)),
        reports: max_of(runs.iter().map(|o| o.reports as f64)),
        first_delay_ms: max_of(runs.iter().filter_map(|o| o.first_delay_ms)),
        kind: first.and_then(|o| o.first_kind.clone()),
        text: first.and_then(|o| o.first_text.clone()),
    })
}

fn report_blocking(plan: &Plan, found: &Found, out: &mut SectionReport) {
    let mut table = Table::new(
        "blocking_call",
        "A blocking call inside a green thread",
        format!(
            "A 1-worker weft runtime with the watchdog on (slice {SLICE_MS} ms, its reports \
             captured with on_stall), the same 1 ms ticker, and a green thread that waits \
             {wait} ms after {pad} ms: with std::thread::sleep (a blocking system call on the \
             worker's kernel thread), weft::sleep (the green thread parks), or \
             weft::blocking(|| std::thread::sleep(..)) (the call runs on the blocking pool). \
             Reports: the watchdog's reports made on detection (not those made when the \
             worker is let go), the most in one process; first report: from the instant \
             right before the call to the handler's call, the slowest over the processes \
             ({repeats} per row).",
            wait = plan.wait_ms,
            pad = plan.pad_ms,
            repeats = plan.repeats,
        ),
    )
    .column("way", "the wait", Unit::Text)
    .column("worst_ms", "worst tick lateness", Unit::Milliseconds)
    .column("reports", "watchdog reports", Unit::Count)
    .column("first_report_ms", "first report after", Unit::Milliseconds)
    .column("kind", "reported", Unit::Text);
    let mut printed = None;
    for way in Way::ALL {
        let r = blocking_row(found, way);
        let r = r.as_ref();
        table.push(vec![
            way.label().into(),
            r.and_then(|r| r.worst_ms).into(),
            r.and_then(|r| r.reports).into(),
            r.and_then(|r| r.first_delay_ms).into(),
            r.and_then(|r| r.kind.clone())
                .map_or(Cell::Empty, Cell::from),
        ]);
        if printed.is_none() {
            printed = r
                .and_then(|r| r.text.clone())
                .map(|t| format!("The watchdog's first report for {}: {t}", way.label()));
        }
    }
    out.tables.push(table);
    if let Some(text) = printed {
        out.note(NoteKind::Info, text);
    }
}

/// The echo figures of one server, over its processes: the fewest connections held at
/// once, and medians of the rest.
struct EchoRow {
    held: Option<f64>,
    setup_ms: Option<f64>,
    per_second: Option<f64>,
    p50_ns: Option<f64>,
    p99_ns: Option<f64>,
}

fn echo_row(found: &Found, server: Server) -> Option<EchoRow> {
    let runs = runs_of(&found.echo, server)?;
    Some(EchoRow {
        held: runs.iter().map(|o| o.peak as f64).reduce(f64::min),
        setup_ms: median_of(runs.iter().map(|o| o.clients.setup_ms)),
        per_second: median_of(runs.iter().filter_map(|o| o.clients.per_second())),
        p50_ns: median_of(runs.iter().filter_map(|o| o.clients.p50_ns)),
        p99_ns: median_of(runs.iter().filter_map(|o| o.clients.p99_ns)),
    })
}

/// Whether every process of `server` held all the connections at once and every
/// connection did all its rounds.
fn held_all(found: &Found, server: Server, plan: &Plan) -> bool {
    runs_of(&found.echo, server).is_some_and(|runs| {
        runs.iter().all(|o| {
            o.peak == plan.connections
                && o.clients.completed == plan.connections
                && o.clients.failed == 0
        })
    })
}

fn report_echo(plan: &Plan, found: &Found, out: &mut SectionReport) {
    let mut table = Table::new(
        "echo",
        "An echo server holding many connections on loopback",
        format!(
            "The server in one process, on 2 workers (std: a kernel thread per connection, \
             64 KiB stacks), one connection per green thread, task or kernel thread, reading up \
             to 64 bytes and writing them back until end of stream; listeners with a backlog of \
             128. The clients in another process: {c} connections on a 2-worker weft runtime, a \
             green thread each, set up at most {connecting} at a time (a connection is set up \
             once its first echo came back), then a barrier, then {m} rounds of a 64-byte \
             request and its echo on each (checked byte for byte), then a barrier, then close. \
             Held: the most connections the server held at once (the fewest over the \
             processes); set-up: until every connection was set up; messages/s: round trips \
             over the rounds phase, from the barrier's release to the last reply; latency: of \
             each round trip (every connection has one request in flight, so a round trip \
             waits its turn behind the other connections': about connections over \
             throughput). {repeats} process pair(s) per server, interleaved; medians over \
             them. Server and clients share this machine's CPUs.",
            c = grouped(plan.connections as f64),
            connecting = probes::CONNECTING,
            m = plan.rounds,
            repeats = plan.repeats,
        ),
    )
    .column("server", "server", Unit::Text)
    .column("runs_on", "per connection", Unit::Text)
    .column("held", "held at once", Unit::Count)
    .column("setup_ms", "set-up", Unit::Milliseconds)
    .column("per_second", "messages/s", Unit::PerSecond)
    .column("p50_ns", "p50 round trip", Unit::Nanoseconds)
    .column("p99_ns", "p99 round trip", Unit::Nanoseconds);
    let mut bars = Vec::new();
    for server in Server::ALL {
        let r = echo_row(found, server);
        let r = r.as_ref();
        table.push(vec![
            server.label().into(),
            server.runs_on().into(),
            r.and_then(|r| r.held).into(),
            r.and_then(|r| r.setup_ms).into(),
            r.and_then(|r| r.per_second).into(),
            r.and_then(|r| r.p50_ns).into(),
            r.and_then(|r| r.p99_ns).into(),
        ]);
        if let Some(v) = r.and_then(|r| r.per_second) {
            bars.push((server.label().to_owned(), server == Server::Weft, v));
        }
    }
    out.tables.push(table);
    if !bars.is_empty() {
        out.charts.push(Chart::weft_bars(
            "echo_throughput",
            &format!(
                "Echo round trips per second, {} connections held at once",
                grouped(plan.connections as f64)
            ),
            "round trips per second",
            Unit::PerSecond,
            bars,
            &[],
            15,
        ));
    }
}

fn ms_text(v: f64) -> String {
    number(v, Unit::Milliseconds)
}

/// How the figures compare with the survey's claims.
fn report_claims(plan: &Plan, found: &Found, out: &mut SectionReport) {
    let hog = plan.hog_ms as f64;
    let coop = ticker_row(found, Mode::Cooperative).worst_ms;
    let budget = ticker_row(found, Mode::Budget).worst_ms;
    let kernel = ticker_row(found, Mode::KernelThreads).worst_ms;
    if let (Some(c), Some(k)) = (coop, kernel) {
        let agrees = k < hog / 4.0 && c >= hog / 2.0;
        out.note(
            if agrees {
                NoteKind::Agrees
            } else {
                NoteKind::Disagrees
            },
            format!(
                "Preemption: two kernel threads on one CPU, the kernel interrupting the hog, \
                 kept the ticker's worst lateness to {}; two green threads on one worker, the \
                 hog never calling the runtime, left the ticker waiting {} of the hog's {} \
                 (nothing interrupts a green thread that does not switch).",
                ms_text(k),
                ms_text(c),
                ms_text(hog)
            ),
        );
    }
    if let Some(b) = budget {
        out.note(
            NoteKind::Info,
            format!(
                "The cooperative budget stands in for preemption when the hog calls the runtime: \
                 the ticker's worst lateness beside a hog calling try_recv was {} (a hog that \
                 never calls it is not helped: the cooperative row).",
                ms_text(b)
            ),
        );
    }
    let wait = plan.wait_ms as f64;
    let worst = |way| blocking_row(found, way).and_then(|r| r.worst_ms);
    if let (Some(blocked), Some(parked), Some(pooled)) = (
        worst(Way::ThreadSleep),
        worst(Way::WeftSleep),
        worst(Way::Blocking),
    ) {
        let agrees = blocked >= wait / 2.0;
        out.note(
            if agrees {
                NoteKind::Agrees
            } else {
                NoteKind::Disagrees
            },
            format!(
                "A blocking call blocks the whole kernel thread: while a green thread slept \
                 {} in std::thread::sleep, the ticker on its worker was up to {} late; with \
                 weft::sleep (the runtime coordinates the wait) it was at most {} late, and \
                 with weft::blocking (the call on another kernel thread) {}.",
                ms_text(wait),
                ms_text(blocked),
                ms_text(parked),
                ms_text(pooled)
            ),
        );
    }
}

fn report_targets(plan: &Plan, found: &Found, out: &mut SectionReport) {
    let pslice = probes::PREEMPT_SLICE_MS as f64;
    if let Some(w) = ticker_row(found, Mode::Preemptive).worst_ms {
        let bound = target::PREEMPT_WORST_SLICES * pslice;
        out.target(
            w <= bound,
            format!(
                "With preemption on, the worst tick delay while a hog spins: {} with a slice                  of {} (cooperative: {}; kernel threads on one CPU: {}) (target, from issue                  15: at most {}).",
                ms_text(w),
                ms_text(pslice),
                ticker_row(found, Mode::Cooperative)
                    .worst_ms
                    .map_or_else(|| "not measured".to_owned(), ms_text),
                ticker_row(found, Mode::KernelThreads)
                    .worst_ms
                    .map_or_else(|| "not measured".to_owned(), ms_text),
                ms_text(bound)
            ),
        );
    }
    let slice = SLICE_MS as f64;
    let bound = target::REPORT_WITHIN_SLICES * slice;
    match blocking_row(found, Way::ThreadSleep) {
        Some(r) => {
            let (met, said) = match r.first_delay_ms {
                Some(d) => (
                    d <= bound,
                    format!("its first report came {} after the call began", ms_text(d)),
                ),
                None => (false, "it made no report".to_owned()),
            };
            out.target(
                met,
                format!(
                    "The watchdog reports a blocked worker within 2x the slice: a green thread \
                     in std::thread::sleep for {} with a slice of {}: {said} (target, from \
                     issue 15: at most {}).",
                    ms_text(plan.wait_ms as f64),
                    ms_text(slice),
                    ms_text(bound)
                ),
            );
        }
        None => out.note(
            NoteKind::Info,
            "The watchdog's target (a report within 2x the slice) is not judged: the \
             std::thread::sleep probe did not run.",
        ),
    }
    let rate = |s| echo_row(found, s).and_then(|r| r.per_second);
    match (rate(Server::Weft), rate(Server::Tokio)) {
        (Some(w), Some(t)) => {
            let held = held_all(found, Server::Weft, plan);
            let held_text = echo_row(found, Server::Weft)
                .and_then(|r| r.held)
                .map_or_else(|| "—".to_owned(), grouped);
            out.target(
                w >= t && held,
                format!(
                    "Echo throughput at least tokio's in the same run, both on 2 workers, {} \
                     connections held: weft {} against tokio's {} (std threads: {}); weft's \
                     server held {} connections at once{} (target, from issue 15: at least \
                     tokio's throughput, 10 000 connections held).",
                    grouped(plan.connections as f64),
                    number(w, Unit::PerSecond),
                    number(t, Unit::PerSecond),
                    rate(Server::StdThreads)
                        .map_or_else(|| "not measured".to_owned(), |v| number(v, Unit::PerSecond)),
                    held_text,
                    if held {
                        ", every connection doing all its rounds"
                    } else {
                        ", not all of them in every process"
                    },
                ),
            );
            if let (Some(wr), Some(tr)) = (
                echo_row(found, Server::Weft),
                echo_row(found, Server::Tokio),
            ) {
                if let (Some(w50), Some(t50), Some(w99), Some(t99)) =
                    (wr.p50_ns, tr.p50_ns, wr.p99_ns, tr.p99_ns)
                {
                    out.note(
                        NoteKind::Info,
                        format!(
                            "Echo round trips: weft p50 {} and p99 {}, tokio p50 {} and p99 {}.",
                            nanos(w50),
                            nanos(w99),
                            nanos(t50),
                            nanos(t99)
                        ),
                    );
                }
            }
        }
        _ => out.note(
            NoteKind::Info,
            "The echo target (throughput at least tokio's, all connections held) is not \
             judged: weft's or tokio's server did not run.",
        ),
    }
}
