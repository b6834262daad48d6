//! The survey's *Threads* and *Parallelism* sections, measured here and now.
//!
//! What is measured, one module each:
//! - [`stack_sizes`]: default stack sizes of std threads, pthreads and weft green threads,
//!   next to the survey's figures;
//! - [`parked_memory`]: memory per parked thread and the spawn rate until all are parked, for
//!   10 000 kernel threads, 1 000 000 weft green threads, 1 000 000 tokio tasks and as many
//!   may coroutines as it can make (each in a fresh child process);
//! - [`switch_costs`]: spawn rate, yield cost on one worker, park/unpark round trips on one
//!   worker and across workers, for weft, tokio and std threads (medians of repeats);
//! - [`oversubscription`]: a fixed CPU-bound job split over 1…256 kernel threads and
//!   1…100 000 green threads, against the claim that more threads than CPUs degrade
//!   performance.
//!
//! This module plans the probes for the profile, runs them (in child processes, through
//! [`child::run_probe`]) and turns their results into tables, notes and charts. Figures for
//! Go, Erlang and GHC, and weft's targets, are quoted from issue 2 and labelled so.

pub mod oversubscription;
pub mod parked_memory;
pub mod stack_sizes;
pub mod switch_costs;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::child::{self, ProbeFailure};
use super::machine;
use super::progress::Progress;
use super::render::format::{bytes, grouped, nanos, number};
use super::report::{Cell, Chart, ChartKind, NoteKind, SectionReport, Series, Table, Unit};
use super::stats::median;
use super::{Profile, Section};
use parked_memory::Kind as ParkKind;
use switch_costs::{Metric, Runtime};

const NAME: &str = "threads";

/// The *Threads* section.
#[derive(Debug, Clone, Copy)]
pub struct Threads;

/// The probes this section runs in child processes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "probe", rename_all = "snake_case")]
enum Probe {
    ParkedMemory(parked_memory::Spec),
    SwitchCost(switch_costs::Spec),
    Oversubscription(oversubscription::Spec),
}

/// Counts, durations and repeats for one profile.
#[derive(Debug, Clone)]
struct Plan {
    kernel_threads: usize,
    green_threads: usize,
    tokio_tasks: usize,
    may_cap: usize,
    memory_repeats: usize,
    spawn_budget: Duration,
    memory_timeout: Duration,
    switch_target: Duration,
    switch_repeats: usize,
    job: Duration,
    job_repeats: usize,
    kernel_splits: Vec<usize>,
    green_splits: Vec<usize>,
}

impl Plan {
    fn new(profile: Profile) -> Self {
        let powers = |base: usize, last: usize| {
            std::iter::successors(Some(1usize), move |k| Some(k * base))
                .take_while(move |k| *k <= last)
                .collect::<Vec<_>>()
        };
        match profile {
            Profile::Test => Self {
                kernel_threads: 200,
                green_threads: 2_000,
                tokio_tasks: 2_000,
                may_cap: 300,
                memory_repeats: 1,
                spawn_budget: Duration::from_secs(10),
                memory_timeout: Duration::from_secs(60),
                switch_target: Duration::from_millis(5),
                switch_repeats: 3,
                job: Duration::from_millis(10),
                job_repeats: 1,
                kernel_splits: powers(2, 4),
                green_splits: powers(10, 100),
            },
            Profile::Quick => Self {
                kernel_threads: 10_000,
                green_threads: 1_000_000,
                tokio_tasks: 1_000_000,
                may_cap: 40_000,
                memory_repeats: 1,
                spawn_budget: Duration::from_secs(20),
                memory_timeout: Duration::from_secs(90),
                switch_target: Duration::from_millis(150),
                switch_repeats: 3,
                job: Duration::from_millis(400),
                job_repeats: 3,
                kernel_splits: powers(2, 256),
                green_splits: powers(10, 100_000),
            },
            Profile::Full => Self {
                kernel_threads: 10_000,
                green_threads: 1_000_000,
                tokio_tasks: 1_000_000,
                may_cap: 40_000,
                memory_repeats: 3,
                spawn_budget: Duration::from_secs(60),
                memory_timeout: Duration::from_secs(240),
                switch_target: Duration::from_millis(300),
                switch_repeats: 7,
                job: Duration::from_secs(1),
                job_repeats: 5,
                kernel_splits: powers(2, 256),
                green_splits: powers(10, 100_000),
            },
        }
    }

    fn parked_count(&self, kind: ParkKind) -> usize {
        match kind {
            ParkKind::Kernel => self.kernel_threads,
            ParkKind::Weft | ParkKind::WeftChannel | ParkKind::WeftHibernated => self.green_threads,
            ParkKind::Tokio => self.tokio_tasks,
            ParkKind::May => self.may_cap,
        }
    }
}

const PARK_KINDS: [ParkKind; 5] = [
    ParkKind::Kernel,
    ParkKind::Weft,
    ParkKind::WeftHibernated,
    ParkKind::Tokio,
    ParkKind::May,
];

/// Peers' figures quoted from issue 2's table (measured earlier on this machine with the same
/// workload; not measured by this lab): name, bytes per parked task, spawns/s until all
/// parked, yield on one worker (ns), ping-pong round trip (ns), remark.
const QUOTED_PEERS: [(&str, f64, f64, f64, f64, &str); 3] = [
    ("Go 1.19", 2_704.0, 365_000.0, 52.0, 242.0, ""),
    ("Erlang 25", 2_725.0, 476_000.0, 113.0, 507.0, ""),
    (
        "GHC 9.0 (one capability)",
        1_374.0,
        505_000.0,
        25.0,
        67.0,
        "2 208 B per task at peak; ping-pong over an MVar",
    ),
];

/// weft's targets, quoted from issue 2.
mod target {
    pub const PARKED: usize = 1_000_000;
    pub const BYTES_PER_PARKED: f64 = 4.5 * 1024.0;
    /// Issue 16: a hibernated parked green thread.
    pub const BYTES_PER_HIBERNATED: f64 = 1024.0;
    pub const SPAWNS_PER_SECOND: f64 = 500_000.0;
    pub const PING_PONG_NS: f64 = 50.0;
    pub const YIELD_NS: f64 = 20.0;
}

const CLAIM: &str = "Kernel threads get their own stack: Rust allocates a default thread stack \
of around 2 MB, Java 1 MB, POSIX threads (pthread_create) 2 MB, so one million threads would \
need 2 terabytes of RAM. Green threads are multiplexed onto kernel threads (M:N) with much \
smaller stacks: Go 2 KB, Haskell 1 KB, Erlang 233 bytes, so even at Go's size one million \
threads need just 2 GB. And: once your number of threads exceeds the number of CPUs, \
performance actually degrades due to the overhead from context switching.";

impl Section for Threads {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "Threads: kernel and green, and parallelism"
    }

    fn claim(&self) -> &'static str {
        CLAIM
    }

    fn steps(&self, profile: Profile) -> u64 {
        let plan = Plan::new(profile);
        (1 + PARK_KINDS.len() * plan.memory_repeats
            + Runtime::ALL.len() * Metric::ALL.len()
            + 1
            + 2) as u64
    }

    fn run(&self, profile: Profile, progress: &Progress) -> SectionReport {
        let plan = Plan::new(profile);
        let mut report = SectionReport::new(NAME, self.title(), self.claim());

        progress.probe("default stack sizes");
        let stacks = stack_sizes::measure();
        stack_sizes::report(&stacks, &mut report);
        progress.done();

        let memory = measure_memory(&plan, progress);
        let switches = measure_switches(&plan, progress);
        let oversub = measure_oversubscription(&plan, progress);

        report_memory(&plan, &memory, &mut report);
        report_switches(&switches, &mut report);
        report_comparison(&memory, &switches, &mut report);
        report_oversubscription(&oversub, &switches, &mut report);
        if profile == Profile::Test {
            report.note(
                NoteKind::Info,
                "Test profile: tiny counts and short samples, meant for smoke tests; the figures \
                 are not meaningful and weft's targets are not checked.",
            );
        } else {
            report_targets(&memory, &switches, &mut report);
        }
        report
    }

    fn probe(&self, spec: &str) -> Result<serde_json::Value, String> {
        let probe: Probe = serde_json::from_str(spec)
            .map_err(|e| format!("not a probe of the threads section: {e}"))?;
        let value = match probe {
            Probe::ParkedMemory(s) => serde_json::to_value(parked_memory::run(&s)?),
            Probe::SwitchCost(s) => serde_json::to_value(switch_costs::run(&s)?),
            Probe::Oversubscription(s) => serde_json::to_value(oversubscription::run(&s)?),
        };
        value.map_err(|e| e.to_string())
    }
}

// ---------------------------------------------------------------------------------------
// Running the probes.

type MemoryRuns = Vec<(ParkKind, Vec<Result<parked_memory::Outcome, ProbeFailure>>)>;

fn measure_memory(plan: &Plan, progress: &Progress) -> MemoryRuns {
    PARK_KINDS
        .iter()
        .map(|&kind| {
            let count = plan.parked_count(kind);
            let runs = (0..plan.memory_repeats)
                .map(|r| {
                    let of = if plan.memory_repeats > 1 {
                        format!(" (run {} of {})", r + 1, plan.memory_repeats)
                    } else {
                        String::new()
                    };
                    progress.probe(format!(
                        "parking {} × {}{of}",
                        grouped(count as f64),
                        kind.label()
                    ));
                    let spec = parked_memory::Spec {
                        kind,
                        count,
                        budget_ms: plan.spawn_budget.as_millis() as u64,
                    };
                    let result =
                        child::run_probe(NAME, &Probe::ParkedMemory(spec), plan.memory_timeout);
                    progress.done();
                    result
                })
                .collect();
            (kind, runs)
        })
        .collect()
}

type SwitchRuns = Vec<(
    (Runtime, Metric),
    Result<switch_costs::Outcome, ProbeFailure>,
)>;

fn measure_switches(plan: &Plan, progress: &Progress) -> SwitchRuns {
    let mut out = Vec::new();
    for runtime in Runtime::ALL {
        for metric in Metric::ALL {
            progress.probe(format!("{}: {}", runtime.label(), metric.label()));
            let spec = switch_costs::Spec {
                runtime,
                metric,
                target_ms: plan.switch_target.as_millis() as u64,
                repeats: plan.switch_repeats,
            };
            // Calibration takes a few samples' worth, then the repeats; allow ample slack.
            let timeout =
                plan.switch_target * (plan.switch_repeats as u32 + 8) + Duration::from_secs(30);
            let result = child::run_probe(NAME, &Probe::SwitchCost(spec), timeout);
            progress.done();
            out.push(((runtime, metric), result));
        }
    }
    out
}

#[derive(Debug)]
struct Oversubscription {
    work: u64,
    runs: Vec<(
        oversubscription::Kind,
        Result<Vec<oversubscription::Point>, ProbeFailure>,
    )>,
}

fn measure_oversubscription(plan: &Plan, progress: &Progress) -> Oversubscription {
    progress.probe("sizing the CPU-bound job");
    let work = oversubscription::calibrate(plan.job);
    progress.done();
    let runs = [
        (oversubscription::Kind::Kernel, &plan.kernel_splits),
        (oversubscription::Kind::Green, &plan.green_splits),
    ]
    .into_iter()
    .map(|(kind, splits)| {
        let last = splits.last().copied().unwrap_or(1);
        progress.probe(format!(
            "fixed CPU-bound job over 1…{} {}",
            grouped(last as f64),
            kind.label()
        ));
        let spec = oversubscription::Spec {
            kind,
            splits: splits.clone(),
            work,
            repeats: plan.job_repeats,
        };
        let timeout =
            plan.job * (4 * splits.len() * plan.job_repeats) as u32 + Duration::from_secs(60);
        let result = child::run_probe(NAME, &Probe::Oversubscription(spec), timeout);
        progress.done();
        (kind, result)
    })
    .collect();
    Oversubscription { work, runs }
}

// ---------------------------------------------------------------------------------------
// Reporting.

/// The successful runs' median of `f`.
fn med<T>(runs: &[&T], f: impl Fn(&T) -> Option<f64>) -> Option<f64> {
    let values: Vec<f64> = runs.iter().filter_map(|r| f(r)).collect();
    median(&values)
}

fn successes<T, E>(runs: &[Result<T, E>]) -> Vec<&T> {
    runs.iter().filter_map(|r| r.as_ref().ok()).collect()
}

fn first_failure<T>(runs: &[Result<T, ProbeFailure>]) -> Option<&ProbeFailure> {
    runs.iter().find_map(|r| r.as_ref().err())
}

/// The median figures of one kind's parked-memory runs.
#[derive(Debug, Default, Clone, Copy)]
struct ParkedFigures {
    parked: Option<f64>,
    bytes_per_thread: Option<f64>,
    spawn_rate: Option<f64>,
    virtual_per_thread: Option<f64>,
    kernel_stack_per_thread: Option<f64>,
    second_round_rate: Option<f64>,
    faults_per_thread: Option<f64>,
    fresh_page_micros: Option<f64>,
    fault_bound_rate: Option<f64>,
}

fn parked_figures(memory: &MemoryRuns, kind: ParkKind) -> ParkedFigures {
    let Some((_, runs)) = memory.iter().find(|(k, _)| *k == kind) else {
        return ParkedFigures::default();
    };
    let ok = successes(runs);
    ParkedFigures {
        parked: ok.iter().map(|o| o.parked as f64).reduce(f64::min),
        bytes_per_thread: med(&ok, parked_memory::Outcome::bytes_per_thread),
        spawn_rate: med(&ok, parked_memory::Outcome::spawn_rate),
        virtual_per_thread: med(&ok, parked_memory::Outcome::virtual_per_thread),
        kernel_stack_per_thread: med(&ok, parked_memory::Outcome::kernel_stack_per_thread),
        second_round_rate: med(&ok, parked_memory::Outcome::second_round_rate),
        faults_per_thread: med(&ok, parked_memory::Outcome::faults_per_thread),
        fresh_page_micros: med(&ok, |o| o.fresh_page_micros),
        fault_bound_rate: med(&ok, |o| o.fault_bound_rate(machine::cpus())),
    }
}

fn report_memory(plan: &Plan, memory: &MemoryRuns, out: &mut SectionReport) {
    let repeats = if plan.memory_repeats > 1 {
        format!("Medians of {} runs, each", plan.memory_repeats)
    } else {
        "Each row is one run".to_owned()
    };
    let mut table = Table::new(
        "parked_memory",
        "Memory per parked thread",
        format!(
            "{repeats} in a fresh process: N threads spawned, each bumps a counter and parks \
             (std: condition variable; weft: weft::park::park; tokio: a shared Notify; may: \
             may::coroutine::park). Memory is read from /proc/self/status with all N parked, \
             over a baseline taken in the same process before the first spawn: resident (VmRSS) \
             plus page tables (VmPTE; \"PT\"), including the join handle the program keeps per \
             thread. Kernel stacks (\"kstack\") come from /proc/meminfo KernelStack (system-wide). \
             The spawn rate runs from the first spawn until all N are parked; \"faults each\" \
             counts the process's minor page faults (first touches) meanwhile, and \"memory\" \
             says whether the run was on cold memory (a first touch, timed in the same process \
             right after the spawns, costing 5 µs or more: the host backs the pages on first \
             use, and faults bound the spawn rate) or warm. weft and tokio \
             then release and join all N and spawn N again (\"2nd round\"): their memory now \
             comes back from their own pools and the allocator, already touched."
        ),
    )
    .column("runtime", "runtime", Unit::Text)
    .column("asked", "asked", Unit::Count)
    .column("parked", "parked", Unit::Count)
    .column("bytes_per_thread", "resident+PT each", Unit::Bytes)
    .column("page_tables_per_thread", "PT each", Unit::Bytes)
    .column("virtual_per_thread", "virtual each", Unit::Bytes)
    .column("kernel_stack_per_thread", "kstack each", Unit::Bytes)
    .column("spawns_per_second", "spawns/s to parked", Unit::PerSecond)
    .column("faults_per_thread", "faults each", Unit::Ratio)
    .column("memory", "memory (first touch)", Unit::Text)
    .column(
        "second_round_per_second",
        "2nd round spawns/s",
        Unit::PerSecond,
    )
    .column("status", "status", Unit::Text);

    for (kind, runs) in memory {
        let ok = successes(runs);
        let figures = parked_figures(memory, *kind);
        // Details (why a spawn stopped, why a run failed) are in the notes.
        let failed = runs.len() - ok.len();
        let status = if ok.is_empty() {
            "failed".to_owned()
        } else if ok.iter().any(|o| o.stopped.is_some()) {
            "stopped early".to_owned()
        } else {
            "all parked".to_owned()
        };
        let status = if failed > 0 && !ok.is_empty() {
            format!("{status}; {failed} of {} runs failed", runs.len())
        } else {
            status
        };
        if let Some(why) = ok.iter().find_map(|o| o.stopped.as_ref()) {
            if *kind != ParkKind::May {
                out.note(NoteKind::Info, format!("{}: {why}.", kind.label()));
            }
        }
        let kernel_stack = if *kind == ParkKind::Kernel {
            figures.kernel_stack_per_thread
        } else {
            None
        };
        table.push(vec![
            kind.label().into(),
            Cell::from(plan.parked_count(*kind) as f64),
            figures.parked.into(),
            figures.bytes_per_thread.into(),
            med(&ok, parked_memory::Outcome::page_tables_per_thread).into(),
            figures.virtual_per_thread.into(),
            kernel_stack.into(),
            figures.spawn_rate.into(),
            figures.faults_per_thread.into(),
            memory_regime(figures.fresh_page_micros),
            figures.second_round_rate.into(),
            status.into(),
        ]);
        if let Some(f) = first_failure(runs) {
            out.note(
                NoteKind::Failure,
                format!(
                    "Parking {} × {}: {f}",
                    grouped(plan.parked_count(*kind) as f64),
                    kind.label()
                ),
            );
        }
    }
    out.tables.push(table);

    // The survey's "one million kernel threads need 2 TB".
    let k = parked_figures(memory, ParkKind::Kernel);
    if let (Some(virt), Some(res)) = (k.virtual_per_thread, k.bytes_per_thread) {
        let kstack = k.kernel_stack_per_thread.unwrap_or(0.0).max(0.0);
        let million = 1e6;
        out.note(
            NoteKind::Disagrees,
            format!(
                "The survey: a million kernel threads need 2 TB of RAM. Here a parked std::thread \
                 reserves {} of virtual memory ({} for a million: address space, not RAM) but \
                 occupies {} resident with its page tables plus {} of kernel stack, so a million \
                 would take about {} of RAM.",
                bytes(virt),
                bytes(virt * million),
                bytes(res),
                bytes(kstack),
                bytes((res + kstack) * million)
            ),
        );
    }
    // The survey's "at Go's size one million green threads need 2 GB".
    let w = parked_figures(memory, ParkKind::Weft);
    if let (Some(b), Some(n)) = (w.bytes_per_thread, w.parked) {
        out.note(
            NoteKind::Info,
            format!(
                "The survey: at Go's 2 KB a million green threads need 2 GB. Here {} parked weft \
                 green threads took {} each (resident + page tables), {} for a million.",
                grouped(n),
                bytes(b),
                bytes(b * 1e6)
            ),
        );
    }
    let t = parked_figures(memory, ParkKind::Tokio);
    if let (Some(wb), Some(tb)) = (w.bytes_per_thread, t.bytes_per_thread) {
        out.note(
            NoteKind::Info,
            format!(
                "A parked tokio task (stackless: its state is the future) took {} against {} for \
                 a weft green thread with its own stack ({:.1}×).",
                bytes(tb),
                bytes(wb),
                wb / tb
            ),
        );
    }
    if let Some((_, runs)) = memory.iter().find(|(k, _)| *k == ParkKind::May) {
        if let Some(o) = successes(runs).first() {
            let why = o.stopped.clone().unwrap_or_else(|| {
                format!(
                    "it reached this profile's cap of {}",
                    grouped(o.requested as f64)
                )
            });
            out.note(
                NoteKind::Info,
                format!(
                    "may parked {} coroutines at most here: {why}. may guards each stack with \
                     mprotect, two memory mappings per coroutine, and a process may have {} \
                     mappings (vm.max_map_count).",
                    grouped(o.parked as f64),
                    machine::max_map_count()
                        .map_or("a limited number of".to_owned(), |m| grouped(m as f64))
                ),
            );
        }
    }
}

fn switch_figure(switches: &SwitchRuns, runtime: Runtime, metric: Metric) -> Option<f64> {
    switches
        .iter()
        .find(|((r, m), _)| *r == runtime && *m == metric)
        .and_then(|(_, res)| res.as_ref().ok())
        .and_then(|o| o.samples.median_ns())
}

fn report_switches(switches: &SwitchRuns, out: &mut SectionReport) {
    let mut table = Table::new(
        "switch_costs",
        "Spawn, yield and park/unpark",
        "Each cell is the median of the profile's repeats in a fresh process, with the iteration \
         count sized so a sample lasts the profile's target time. spawn + join: empty threads \
         spawned then joined (weft and tokio from one of their own threads). yield: two threads \
         alternating on one worker (std: two kernel threads pinned to one CPU), time per yield. \
         Round trip: two threads handing a turn back and forth with park/unpark (tokio: a pair \
         of Notify).",
    )
    .column("runtime", "runtime", Unit::Text)
    .column("spawn_join_per_second", "spawn + join", Unit::PerSecond)
    .column("yield_ns", "yield, one worker", Unit::Nanoseconds)
    .column(
        "ping_pong_one_ns",
        "round trip, one worker",
        Unit::Nanoseconds,
    )
    .column(
        "ping_pong_across_ns",
        "round trip, across workers",
        Unit::Nanoseconds,
    )
    .column("placement", "placement", Unit::Text);
    for runtime in Runtime::ALL {
        let fig = |m| switch_figure(switches, runtime, m);
        let mut remarks = Vec::new();
        for ((r, m), res) in switches {
            if *r != runtime {
                continue;
            }
            match res {
                Ok(o) => {
                    if let Some(p) = &o.placement {
                        remarks.push(format!("{}: {p}", m.short()));
                    }
                }
                Err(f) => {
                    remarks.push(format!("{}: failed (see notes)", m.short()));
                    out.note(
                        NoteKind::Failure,
                        format!("{}, {}: {f}", runtime.label(), m.label()),
                    );
                }
            }
        }
        table.push(vec![
            runtime.label().into(),
            fig(Metric::SpawnJoin).map(|ns| 1e9 / ns).into(),
            fig(Metric::YieldOneWorker).into(),
            fig(Metric::PingPongOneWorker).into(),
            fig(Metric::PingPongAcrossWorkers).into(),
            remarks.join("; ").into(),
        ]);
    }
    out.tables.push(table);

    if let (Some(one), Some(across)) = (
        switch_figure(switches, Runtime::Std, Metric::PingPongOneWorker),
        switch_figure(switches, Runtime::Std, Metric::PingPongAcrossWorkers),
    ) {
        out.note(
            NoteKind::Info,
            format!(
                "Waking a kernel thread: a park/unpark round trip between two std threads costs \
                 {} on one CPU and {} across CPUs, where the sleeping CPU must be woken too.",
                nanos(one),
                nanos(across)
            ),
        );
    }
    if let (Some(w), Some(s)) = (
        switch_figure(switches, Runtime::Weft, Metric::PingPongOneWorker),
        switch_figure(switches, Runtime::Std, Metric::PingPongOneWorker),
    ) {
        out.note(
            NoteKind::Info,
            format!(
                "On one core a weft park/unpark round trip costs {} against {} for kernel \
                 threads ({:.0}× cheaper): switching stacks in user space versus going through \
                 the kernel's scheduler.",
                nanos(w),
                nanos(s),
                s / w
            ),
        );
    }
}

fn report_comparison(memory: &MemoryRuns, switches: &SwitchRuns, out: &mut SectionReport) {
    let mut table = Table::new(
        "peers",
        "weft next to its peers",
        format!(
            "Measured rows come from the tables above (this run; may's yield and round trip are \
             not measured by this lab). The Go, Erlang and GHC rows are quoted from issue 2's \
             table (measured earlier on this machine with the same workload: N tasks parked on a \
             channel), not measured here.{}",
            QUOTED_PEERS
                .iter()
                .filter(|p| !p.5.is_empty())
                .map(|p| format!(" {}: {}.", p.0, p.5))
                .collect::<String>()
        ),
    )
    .column("runtime", "runtime", Unit::Text)
    .column("bytes_per_parked", "bytes per parked task", Unit::Bytes)
    .column("spawns_per_second", "spawns/s to parked", Unit::PerSecond)
    .column("yield_ns", "yield, one worker", Unit::Nanoseconds)
    .column("ping_pong_ns", "round trip, one worker", Unit::Nanoseconds)
    .column("source", "source", Unit::Text);
    let rows = [
        (ParkKind::Weft, Some(Runtime::Weft)),
        (ParkKind::WeftHibernated, None),
        (ParkKind::Tokio, Some(Runtime::Tokio)),
        (ParkKind::May, None),
        (ParkKind::Kernel, Some(Runtime::Std)),
    ];
    let mut measured = Vec::new();
    let mut categories = Vec::new();
    for (kind, runtime) in rows {
        let f = parked_figures(memory, kind);
        let sw = |m| runtime.and_then(|r| switch_figure(switches, r, m));
        let source = match f.parked {
            Some(n) => format!("measured here ({} parked)", grouped(n)),
            None => "measured here (parking failed)".to_owned(),
        };
        table.push(vec![
            kind.label().into(),
            f.bytes_per_thread.into(),
            f.spawn_rate.into(),
            sw(Metric::YieldOneWorker).into(),
            sw(Metric::PingPongOneWorker).into(),
            source.into(),
        ]);
        if let Some(b) = f.bytes_per_thread {
            measured.push([categories.len() as f64, b]);
            categories.push(short_label(kind.label()));
        }
    }
    let mut quoted = Vec::new();
    for (name, b, rate, y, pp, _) in QUOTED_PEERS {
        table.push(vec![
            name.into(),
            b.into(),
            rate.into(),
            y.into(),
            pp.into(),
            "quoted (issue 2), not measured here".into(),
        ]);
        quoted.push([categories.len() as f64, b]);
        categories.push(name.split(" (").next().unwrap_or(name).to_owned());
    }
    out.tables.push(table);
    out.charts.push(Chart {
        id: "bytes_per_parked".to_owned(),
        title: "Memory per parked thread".to_owned(),
        kind: ChartKind::Bars,
        x_label: String::new(),
        y_label: "resident + page tables per parked thread".to_owned(),
        x_unit: Unit::Text,
        y_unit: Unit::Bytes,
        categories,
        series: vec![
            Series {
                name: "measured here".to_owned(),
                points: measured,
            },
            Series {
                name: "quoted, not measured here".to_owned(),
                points: quoted,
            },
        ],
    });
}

fn short_label(label: &str) -> String {
    label.split(" (").next().unwrap_or(label).to_owned()
}

fn report_oversubscription(o: &Oversubscription, switches: &SwitchRuns, out: &mut SectionReport) {
    let cpus = machine::cpus();
    let mut table = Table::new(
        "oversubscription",
        "A fixed CPU-bound job split over more and more threads",
        format!(
            "The same job ({} iterations of an integer hash loop) is split into k equal chunks \
             run by k threads; wall time from the first spawn to the last join, median of the \
             profile's repeats. This machine has {cpus} CPUs; weft runs one worker per CPU. A \
             green thread here never yields while it computes, so it runs to completion once \
             started.",
            grouped(o.work as f64)
        ),
    )
    .column("kind", "threads are", Unit::Text)
    .column("threads", "k", Unit::Count)
    .column("wall_ms", "wall time", Unit::Milliseconds)
    .column("vs_best", "vs best split", Unit::Ratio);
    let mut series = Vec::new();
    for (kind, result) in &o.runs {
        match result {
            Ok(points) => {
                let medians: Vec<(usize, f64)> = points
                    .iter()
                    .filter_map(|p| p.median_ms().map(|m| (p.threads, m)))
                    .collect();
                let best = medians.iter().map(|m| m.1).fold(f64::INFINITY, f64::min);
                for (k, ms) in &medians {
                    table.push(vec![
                        kind.label().into(),
                        Cell::from(*k as f64),
                        Cell::from(*ms),
                        Cell::from(ms / best),
                    ]);
                }
                series.push(Series {
                    name: kind.label().to_owned(),
                    points: medians.iter().map(|(k, ms)| [*k as f64, *ms]).collect(),
                });
                oversubscription_notes(*kind, &medians, cpus, switches, out);
            }
            Err(f) => {
                table.push(vec![
                    kind.label().into(),
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Empty,
                ]);
                out.note(
                    NoteKind::Failure,
                    format!("The CPU-bound job over {}: {f}", kind.label()),
                );
            }
        }
    }
    out.tables.push(table);
    out.charts.push(Chart {
        id: "oversubscription".to_owned(),
        title: "Fixed CPU-bound job: wall time by number of threads".to_owned(),
        kind: ChartKind::LinesLogX,
        x_label: "threads the job is split over (log scale)".to_owned(),
        y_label: "wall time".to_owned(),
        x_unit: Unit::Count,
        y_unit: Unit::Milliseconds,
        categories: Vec::new(),
        series,
    });
}

fn oversubscription_notes(
    kind: oversubscription::Kind,
    medians: &[(usize, f64)],
    cpus: usize,
    switches: &SwitchRuns,
    out: &mut SectionReport,
) {
    let at = |k: usize| medians.iter().find(|m| m.0 == k).map(|m| m.1);
    let (Some(&(k_max, t_max)), Some(t_1)) = (medians.last(), at(1)) else {
        return;
    };
    // The reference: the smallest split that can use every CPU.
    let Some(&(k_ref, t_ref)) = medians.iter().find(|m| m.0 >= cpus) else {
        return;
    };
    let ms = |v: f64| number(v, Unit::Milliseconds);
    match kind {
        oversubscription::Kind::Kernel => {
            if k_ref > 1 {
                out.note(
                    if t_1 / t_ref > 1.2 {
                        NoteKind::Agrees
                    } else {
                        NoteKind::Disagrees
                    },
                    format!(
                        "Parallelism: split over {k_ref} kernel threads on {cpus} CPUs the job took \
                         {} against {} on one thread ({:.2}× faster).",
                        ms(t_ref),
                        ms(t_1),
                        t_1 / t_ref
                    ),
                );
            }
            let ratio = t_max / t_ref;
            let switch = switch_figure(switches, Runtime::Std, Metric::PingPongAcrossWorkers)
                .map(|ns| {
                    format!(
                        " (a wake-up round trip between kernel threads costs {} here)",
                        nanos(ns)
                    )
                })
                .unwrap_or_default();
            if ratio > 1.10 {
                out.note(
                    NoteKind::Agrees,
                    format!(
                        "More kernel threads than CPUs did cost here: {k_max} threads took {} \
                         against {} with {k_ref}, {ratio:.2}× the time for the same work{switch}.",
                        ms(t_max),
                        ms(t_ref)
                    ),
                );
            } else {
                out.note(
                    NoteKind::Disagrees,
                    format!(
                        "More kernel threads than CPUs did not degrade this CPU-bound job: \
                         {k_max} threads took {} against {} with {k_ref} ({ratio:.2}×). Threads \
                         that never block are switched only when their time slice ends, so \
                         switching costs little next to the work{switch}; the claim bites when \
                         threads block and wake often.",
                        ms(t_max),
                        ms(t_ref)
                    ),
                );
            }
        }
        oversubscription::Kind::Green => {
            let Some((k_best, t_best)) = medians.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1))
            else {
                return;
            };
            let ratio = t_max / t_best;
            let spawn = switch_figure(switches, Runtime::Weft, Metric::SpawnJoin)
                .map(|ns| {
                    format!(
                        "; spawning and joining {} green threads alone takes about {} at the \
                         spawn + join rate measured above",
                        grouped(k_max as f64),
                        nanos(ns * k_max as f64)
                    )
                })
                .unwrap_or_default();
            out.note(
                if ratio > 1.10 {
                    NoteKind::Agrees
                } else {
                    NoteKind::Disagrees
                },
                format!(
                    "{} weft green threads took {} against {} with {}, the best split \
                     ({ratio:.2}×){spawn}. They run on {cpus} worker threads, so the kernel never \
                     sees more threads than CPUs, and a green thread that never yields is never \
                     switched out: what more green threads cost is creating them, not switching.",
                    grouped(k_max as f64),
                    ms(t_max),
                    ms(t_best),
                    grouped(k_best as f64)
                ),
            );
            // Splits with at least one thread per worker that still took much longer than the
            // best: the workers' shares of the job were unequal.
            let uneven = medians
                .iter()
                .filter(|(k, t)| *k >= cpus && *k < k_best && *t > 1.3 * t_best)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some(&(k, t)) = uneven {
                out.note(
                    NoteKind::Info,
                    format!(
                        "With {k} green threads for {cpus} workers the job took {} ({:.2}× the best \
                         split): the workers' shares were unequal. A green thread that has started \
                         stays on its worker and only unstarted ones are stolen, so an idle worker \
                         must steal early to even out few long chunks.",
                        ms(t),
                        t / t_best
                    ),
                );
            }
        }
    }
}

/// A first touch above this many microseconds is memory being backed for the first time
/// (on this machine 1.5-2 µs a page is the warm cost, 10-12 µs the cold one).
const COLD_PAGE_MICROS: f64 = 5.0;

/// Which regime a run's spawns measured: "cold" (memory the host backs on first use,
/// where page faults bound the spawn rate) or "warm", with the first touch's cost; empty
/// when the probe did not time a first touch.
fn memory_regime(fresh_page_micros: Option<f64>) -> Cell {
    match fresh_page_micros {
        Some(m) if m >= COLD_PAGE_MICROS => format!("cold ({m:.1} µs)").into(),
        Some(m) => format!("warm ({m:.1} µs)").into(),
        None => Cell::Empty,
    }
}

/// What bounds weft's spawn rate in this run: the page faults it took, what a first touch
/// costs on this machine now, and the second round's rate on reused stacks.
fn spawn_context(rate: f64, w: &ParkedFigures, tokio: &ParkedFigures) -> String {
    let mut text = String::new();
    if let (Some(faults), Some(micros), Some(bound)) =
        (w.faults_per_thread, w.fresh_page_micros, w.fault_bound_rate)
    {
        text.push_str(&format!(
            " Each spawn took {faults:.2} page faults (first touches: its stack's top page and \
             its share of heap); a first touch costs {micros:.1} µs here now (timed in the same \
             process), so faults alone allow at most {}/s on {} CPUs faulting in parallel: this \
             run reached {:.0}% of that bound.",
            grouped(bound),
            machine::cpus(),
            100.0 * rate / bound
        ));
        if micros >= COLD_PAGE_MICROS {
            text.push_str(
                " A first touch this dear usually means a virtual machine whose host backs the \
                 guest's memory only when it is first used: run the section again once the \
                 memory has been used and the same spawns cost several times less.",
            );
        }
    }
    if let Some(second) = w.second_round_rate {
        let peer = tokio
            .second_round_rate
            .map(|t| format!(" (tokio's second round: {}/s)", grouped(t)))
            .unwrap_or_default();
        text.push_str(&format!(
            " The second round, on stacks back from the pool (no fresh page each), ran {}/s{peer}.",
            grouped(second)
        ));
    }
    text
}

fn report_targets(memory: &MemoryRuns, switches: &SwitchRuns, out: &mut SectionReport) {
    let w = parked_figures(memory, ParkKind::Weft);
    let mut check = |met: bool, text: String| out.target(met, text);
    if let Some(n) = w.parked {
        check(
            n >= target::PARKED as f64,
            format!(
                "{} weft green threads parked at once (target, quoted from issue 2: {}).",
                grouped(n),
                grouped(target::PARKED as f64)
            ),
        );
    }
    if let Some(b) = w.bytes_per_thread {
        check(
            b <= target::BYTES_PER_PARKED,
            format!(
                "{} resident per parked weft green thread (target, quoted from issue 2: at most {}).",
                bytes(b),
                bytes(target::BYTES_PER_PARKED)
            ),
        );
    }
    let h = parked_figures(memory, ParkKind::WeftHibernated);
    if let (Some(b), Some(n)) = (h.bytes_per_thread, h.parked) {
        let t = parked_figures(memory, ParkKind::Tokio);
        let tokio = t
            .bytes_per_thread
            .map(|tb| format!("; tokio's tasks {} in this run", bytes(tb)))
            .unwrap_or_default();
        check(
            b <= target::BYTES_PER_HIBERNATED && n >= target::PARKED as f64,
            format!(
                "{} hibernated weft green threads took {} each (target, from issue 16: a \
                 million at most {} each; Go {}, Erlang {}, GHC {} quoted{tokio}).",
                grouped(n),
                bytes(b),
                bytes(target::BYTES_PER_HIBERNATED),
                bytes(QUOTED_PEERS[0].1),
                bytes(QUOTED_PEERS[1].1),
                bytes(QUOTED_PEERS[2].1),
            ),
        );
    }
    if let Some(r) = w.spawn_rate {
        let t = parked_figures(memory, ParkKind::Tokio);
        check(
            r >= target::SPAWNS_PER_SECOND,
            format!(
                "{}/s weft spawns until all parked (target, quoted from issue 2: at least {}/s).{}",
                grouped(r),
                grouped(target::SPAWNS_PER_SECOND),
                spawn_context(r, &w, &t)
            ),
        );
    }
    if let Some(pp) = switch_figure(switches, Runtime::Weft, Metric::PingPongOneWorker) {
        check(
            pp <= target::PING_PONG_NS,
            format!(
                "{} per weft park/unpark round trip on one worker (target, quoted from issue 2: \
                 at most {}).",
                nanos(pp),
                nanos(target::PING_PONG_NS)
            ),
        );
    }
    if let Some(y) = switch_figure(switches, Runtime::Weft, Metric::YieldOneWorker) {
        check(
            y <= target::YIELD_NS,
            format!(
                "{} per weft yield on one worker (target, quoted from issue 2: at most {}).",
                nanos(y),
                nanos(target::YIELD_NS)
            ),
        );
    }
}
