//! The survey's *Mutexes*, *Spinlock*, *Read-Write Lock* and *Semaphore* sections, measured
//! here and now.
//!
//! Every lock of `weft::sync` next to `std::sync`, `parking_lot`, the `spin` crate and
//! `tokio::sync` (tokio where it has the primitive: Mutex, RwLock, Semaphore), each probe in
//! a fresh child process ([`child::run_probe`]), medians of the profile's repeats:
//! - [`throughput`]: an uncontended lock/unlock pair; 2 kernel threads on one lock; 2 kernel
//!   threads on 64 locks picked at random (light contention); 1 000 green threads on a
//!   2-worker runtime on one lock (tokio: 1 000 tasks on 2 workers; also parking_lot's mutex
//!   used from weft green threads); a read-mostly read-write lock (95 % reads, 2 threads);
//!   semaphore-limited work (4 permits, 1 000 green threads or tasks). Each contended load
//!   also reports the longest single wait of a run: the fairness figure.
//! - [`spawn_join`]: the job as a new user times it, spawns and joins included: 1 000
//!   green threads spawned from a kernel thread, each doing 1 000 increments under one
//!   weft Mutex, beside tokio's tasks on tokio's Mutex, in many fresh processes (the
//!   worst process is the verdict).
//! - [`oversubscribed`]: the spinlock hazard, a fixed job under each spinlock and under the
//!   sleeping mutexes with 1×, 2× and 4× as many kernel threads as CPUs, each run capped in
//!   wall time.
//!
//! The peers' figures quoted from issue 3 (Go, parking_lot, std, tokio with 2 threads) and
//! weft's targets are labelled as quoted; everything else is measured in the run.

pub mod harness;
pub mod oversubscribed;
pub mod spawn_join;
pub mod throughput;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::child::{self, ProbeFailure};
use super::machine;
use super::progress::Progress;
use super::render::format::{grouped, nanos, number};
use super::report::{Cell, Chart, ChartKind, NoteKind, SectionReport, Series, Table, Unit};
use super::stats::median;
use super::{Profile, Section};
use harness::Primitive;
use throughput::Scenario;

const NAME: &str = "locks";

/// The *Locks* section.
#[derive(Debug, Clone, Copy)]
pub struct Locks;

/// The probes this section runs in child processes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "probe", rename_all = "snake_case")]
enum Probe {
    Throughput(throughput::Spec),
    Oversubscribed(oversubscribed::Spec),
    Pair(throughput::PairSpec),
    SpawnJoin(spawn_join::Spec),
}

/// Counts, durations and repeats for one profile.
#[derive(Debug, Clone)]
struct Plan {
    target: Duration,
    repeats: usize,
    /// Kernel threads (tokio: tasks and workers) of the contended kernel-thread loads.
    kernel_threads: usize,
    /// Locks of the light-contention load.
    light_locks: usize,
    /// Green threads (tokio: tasks) of the green-thread and semaphore loads.
    green_threads: usize,
    /// Workers of the runtimes of those loads.
    workers: usize,
    write_percent: u64,
    permits: usize,
    item_rounds: u64,
    /// Thread counts of the spinlock hazard.
    hazard_threads: Vec<usize>,
    hazard_pairs: u64,
    hold_rounds: u64,
    hazard_cap: Duration,
    hazard_repeats: usize,
    /// The spawn-and-join job: green threads (tasks), pairs each, rounds per process.
    job: spawn_join::Spec,
    /// Fresh processes the job runs in.
    job_processes: usize,
}

/// Seed of the threads' xorshift generators: a fixed one, so every run makes the same choices.
const SEED: u64 = 0x5EED_1CE5_0F7E_F7ED;

impl Plan {
    fn new(profile: Profile) -> Self {
        let cpus = machine::cpus();
        let base = Self {
            target: Duration::from_millis(100),
            repeats: 3,
            kernel_threads: 2,
            light_locks: 64,
            green_threads: 1_000,
            workers: 2,
            write_percent: 5,
            permits: 4,
            item_rounds: 32,
            hazard_threads: vec![cpus, 2 * cpus, 4 * cpus],
            hazard_pairs: 200_000,
            hold_rounds: 32,
            hazard_cap: Duration::from_millis(500),
            hazard_repeats: 3,
            job: spawn_join::Spec {
                threads: 1_000,
                pairs: 1_000,
                workers: 2,
                rounds: 3,
            },
            job_processes: 20,
        };
        match profile {
            Profile::Test => Self {
                target: Duration::from_millis(3),
                repeats: 1,
                green_threads: 100,
                hazard_pairs: 2_000,
                hazard_cap: Duration::from_millis(200),
                hazard_repeats: 1,
                job: spawn_join::Spec {
                    threads: 100,
                    pairs: 100,
                    workers: 2,
                    rounds: 1,
                },
                job_processes: 2,
                ..base
            },
            Profile::Quick => base,
            Profile::Full => Self {
                target: Duration::from_millis(300),
                repeats: 7,
                hazard_pairs: 1_000_000,
                hazard_cap: Duration::from_secs(2),
                hazard_repeats: 5,
                ..base
            },
        }
    }

    fn one_lock(&self) -> Scenario {
        Scenario::KernelThreads {
            threads: self.kernel_threads,
            locks: 1,
        }
    }

    fn light(&self) -> Scenario {
        Scenario::KernelThreads {
            threads: self.kernel_threads,
            locks: self.light_locks,
        }
    }

    fn green(&self) -> Scenario {
        Scenario::GreenThreads {
            threads: self.green_threads,
            workers: self.workers,
        }
    }

    fn read_mostly(&self) -> Scenario {
        Scenario::ReadMostly {
            threads: self.kernel_threads,
            write_percent: self.write_percent,
        }
    }

    fn semaphore_work(&self) -> Scenario {
        Scenario::SemaphoreWork {
            threads: self.green_threads,
            workers: self.workers,
            permits: self.permits,
            item_rounds: self.item_rounds,
        }
    }

    /// Every (lock, load) pair of the throughput probes, in the order they run.
    fn throughput_probes(&self) -> Vec<(Primitive, Scenario)> {
        let mut out = Vec::new();
        let all = Primitive::MUTEXES
            .iter()
            .chain(&Primitive::RWLOCKS)
            .chain(&Primitive::SEMAPHORES);
        out.extend(all.map(|&l| (l, Scenario::Uncontended)));
        out.extend(Primitive::MUTEXES.iter().map(|&l| (l, self.one_lock())));
        out.extend(Primitive::MUTEXES.iter().map(|&l| (l, self.light())));
        out.extend(GREEN_LOCKS.iter().map(|&l| (l, self.green())));
        out.extend(Primitive::RWLOCKS.iter().map(|&l| (l, self.read_mostly())));
        out.extend(
            Primitive::SEMAPHORES
                .iter()
                .map(|&l| (l, self.semaphore_work())),
        );
        out
    }

    /// The pairs measured round by round in the same processes, for the targets that compare
    /// weft with a peer under contention (see [`throughput::PairSpec`]).
    fn pair_probes(&self) -> Vec<([Primitive; 2], Scenario)> {
        vec![
            (
                [Primitive::WeftMutex, Primitive::ParkingLotMutex],
                self.one_lock(),
            ),
            ([Primitive::WeftMutex, Primitive::StdMutex], self.one_lock()),
            (
                [Primitive::WeftRwLock, Primitive::ParkingLotRwLock],
                self.read_mostly(),
            ),
        ]
    }

    fn hazard_probes(&self) -> Vec<(Primitive, usize)> {
        HAZARD_LOCKS
            .iter()
            .flat_map(|&l| self.hazard_threads.iter().map(move |&k| (l, k)))
            .collect()
    }
}

/// The locks measured with 1 000 green threads: weft's mutex, a kernel-thread mutex used
/// from green threads (a waiter blocks its worker), and tokio's with tasks.
const GREEN_LOCKS: [Primitive; 3] = [
    Primitive::WeftMutex,
    Primitive::ParkingLotMutex,
    Primitive::TokioMutex,
];

/// The locks of the spinlock hazard: every spinlock, and two sleeping mutexes.
const HAZARD_LOCKS: [Primitive; 6] = [
    Primitive::WeftSpinLock,
    Primitive::WeftTicketLock,
    Primitive::SpinMutex,
    Primitive::SpinTicketMutex,
    Primitive::WeftMutex,
    Primitive::StdMutex,
];

/// Peers' figures quoted from issue 3 (2 threads sharing one lock, 5 M lock/unlock pairs in
/// all, measured when the issue was written; not measured by this lab): label, the lock this
/// lab measures for the same row, nanoseconds per pair, remark.
const QUOTED: [(&str, Option<Primitive>, f64, &str); 4] = [
    ("Go sync.Mutex", None, 16.8, "2 goroutines"),
    (
        "parking_lot::Mutex",
        Some(Primitive::ParkingLotMutex),
        29.0,
        "",
    ),
    (
        "std::sync::Mutex",
        Some(Primitive::StdMutex),
        96.0,
        "noisy: 63–117",
    ),
    (
        "tokio::sync::Mutex",
        Some(Primitive::TokioMutex),
        146.0,
        "2 tasks, 2 workers",
    ),
];

/// weft's targets, quoted from issue 3.
mod target {
    /// Uncontended weft Mutex: at most this many times parking_lot's time.
    pub const UNCONTENDED_VS_PARKING_LOT: f64 = 1.1;
    /// 1 000 green threads: at least this many times tokio's throughput.
    pub const GREEN_VS_TOKIO: f64 = 3.0;
    /// The fairness bound's hand-off time (parking_lot's: 0.5 ms), nanoseconds.
    pub const HANDOFF_NS: f64 = 500_000.0;
}

const CLAIM: &str = "Under Concurrency Control → Shared Memory the survey lists Mutexes, \
Spinlock, Read-Write Lock and Semaphore (headings with no text of their own). And, on \
parallelism: once your number of threads exceeds the number of CPUs, performance actually \
degrades due to the overhead from context switching; for a spinlock this is the known \
hazard, since a waiter that spins keeps its CPU while the thread it waits for cannot run.";

impl Section for Locks {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "Locks: mutexes, spinlocks, read-write locks, semaphores"
    }

    fn claim(&self) -> &'static str {
        CLAIM
    }

    fn steps(&self, profile: Profile) -> u64 {
        let plan = Plan::new(profile);
        (plan.throughput_probes().len()
            + plan.pair_probes().len()
            + plan.job_processes
            + plan.hazard_probes().len()) as u64
    }

    fn run(&self, profile: Profile, progress: &Progress) -> SectionReport {
        let plan = Plan::new(profile);
        let mut report = SectionReport::new(NAME, self.title(), self.claim());
        let found = Found {
            runs: measure_throughput(&plan, progress),
            pairs: measure_pairs(&plan, progress),
            job: measure_job(&plan, progress),
            hazard: measure_hazard(&plan, progress),
            plan,
        };
        report_failures(&found, &mut report);
        report_mutexes(&found, &mut report);
        report_peers(&found, &mut report);
        report_green(&found, &mut report);
        report_job(&found, &mut report);
        report_rwlocks(&found, &mut report);
        report_semaphores(&found, &mut report);
        report_hazard(&found, &mut report);
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
            .map_err(|e| format!("not a probe of the locks section: {e}"))?;
        let value = match probe {
            Probe::Throughput(s) => serde_json::to_value(throughput::run(&s)?),
            Probe::Oversubscribed(s) => serde_json::to_value(oversubscribed::run(&s)?),
            Probe::Pair(s) => serde_json::to_value(throughput::run_pair(&s)?),
            Probe::SpawnJoin(s) => serde_json::to_value(spawn_join::run(&s)?),
        };
        value.map_err(|e| e.to_string())
    }
}

// ---------------------------------------------------------------------------------------
// Running the probes.

type Runs = Vec<(
    (Primitive, Scenario),
    Result<throughput::Outcome, ProbeFailure>,
)>;
type PairRuns = Vec<(
    ([Primitive; 2], Scenario),
    Result<throughput::PairOutcome, ProbeFailure>,
)>;
type HazardRuns = Vec<(
    (Primitive, usize),
    Result<oversubscribed::Outcome, ProbeFailure>,
)>;

/// What the probes found.
#[derive(Debug)]
struct Found {
    plan: Plan,
    runs: Runs,
    pairs: PairRuns,
    /// The spawn-and-join job's processes that ran, and the failures of the others.
    job: (spawn_join::Processes, Vec<ProbeFailure>),
    hazard: HazardRuns,
}

impl Found {
    /// The paired rounds of `locks` under `scenario`.
    fn pair(&self, locks: [Primitive; 2], scenario: Scenario) -> Option<&throughput::PairOutcome> {
        self.pairs
            .iter()
            .find(|((l, s), _)| *l == locks && *s == scenario)
            .and_then(|(_, r)| r.as_ref().ok())
    }

    /// "`ratio`x (rounds lo-hi)" of a pair: the peer's time over weft's, median of the
    /// rounds, or a note that the pair was not measured.
    fn pair_text(&self, locks: [Primitive; 2], scenario: Scenario) -> String {
        match self.pair(locks, scenario) {
            Some(p) => match (p.median_ratio(PEER), p.ratio_range(PEER)) {
                (Some(m), Some((lo, hi))) => format!(
                    "{:.2}x (rounds {:.2}x-{:.2}x; {} rounds, alternating, in {} processes)",
                    m,
                    lo,
                    hi,
                    p.len(),
                    self.plan.repeats.max(1)
                ),
                _ => "no rounds".to_owned(),
            },
            None => "not measured".to_owned(),
        }
    }
    fn outcome(&self, lock: Primitive, scenario: Scenario) -> Option<&throughput::Outcome> {
        self.runs
            .iter()
            .find(|((l, s), _)| *l == lock && *s == scenario)
            .and_then(|(_, r)| r.as_ref().ok())
    }

    /// Median nanoseconds per operation.
    fn ns(&self, lock: Primitive, scenario: Scenario) -> Option<f64> {
        self.outcome(lock, scenario).and_then(|o| o.ns_per_op())
    }

    /// Median longest wait, nanoseconds.
    fn wait(&self, lock: Primitive, scenario: Scenario) -> Option<f64> {
        self.outcome(lock, scenario).and_then(|o| o.worst_wait())
    }

    /// The fastest and slowest repeat, nanoseconds per operation.
    fn range(&self, lock: Primitive, scenario: Scenario) -> Option<(f64, f64)> {
        self.outcome(lock, scenario).and_then(|o| o.range())
    }

    /// "8.1 ns (repeats 7.5–9.0 ns)": the median with the spread of the repeats.
    fn spread(&self, lock: Primitive, scenario: Scenario) -> String {
        match (self.ns(lock, scenario), self.range(lock, scenario)) {
            (Some(m), Some((lo, hi))) if hi > lo => {
                format!("{} (repeats {}–{})", nanos(m), nanos(lo), nanos(hi))
            }
            (Some(m), _) => nanos(m),
            (None, _) => "—".to_owned(),
        }
    }

    /// A remark when the repeats of two locks overlap: their difference is within the noise.
    fn overlap(&self, a: Primitive, b: Primitive, scenario: Scenario) -> &'static str {
        match (self.range(a, scenario), self.range(b, scenario)) {
            (Some((alo, ahi)), Some((blo, bhi))) if alo <= bhi && blo <= ahi => {
                " The repeats of the two overlap: the difference is within this run's noise."
            }
            _ => "",
        }
    }

    fn hazard(&self, lock: Primitive, threads: usize) -> Option<&oversubscribed::Outcome> {
        self.hazard
            .iter()
            .find(|((l, k), _)| *l == lock && *k == threads)
            .and_then(|(_, r)| r.as_ref().ok())
    }
}

/// A few words for a load, for progress messages and notes.
fn describe(lock: Primitive, scenario: Scenario) -> String {
    let who = |n: usize, kernel: bool| {
        let n = grouped(n as f64);
        match (lock.is_tokio(), kernel) {
            (true, _) => format!("{n} tokio tasks"),
            (false, true) => format!("{n} kernel threads"),
            (false, false) => format!("{n} weft green threads"),
        }
    };
    match scenario {
        Scenario::Uncontended => "uncontended".to_owned(),
        Scenario::KernelThreads { threads, locks: 1 } => {
            format!("{}, one lock", who(threads, true))
        }
        Scenario::KernelThreads { threads, locks } => {
            format!("{}, {locks} locks", who(threads, true))
        }
        Scenario::GreenThreads { threads, workers } => {
            format!("{} on {workers} workers, one lock", who(threads, false))
        }
        Scenario::ReadMostly {
            threads,
            write_percent,
        } => format!(
            "{}, {}% reads",
            who(threads, true),
            100 - write_percent.min(100)
        ),
        Scenario::SemaphoreWork {
            threads, permits, ..
        } => format!("{}, {permits} permits", who(threads, false)),
    }
}

fn measure_throughput(plan: &Plan, progress: &Progress) -> Runs {
    plan.throughput_probes()
        .into_iter()
        .map(|(lock, scenario)| {
            progress.probe(format!("{}: {}", lock.label(), describe(lock, scenario)));
            let spec = throughput::Spec {
                lock,
                scenario,
                seed: SEED,
                target_ms: plan.target.as_millis() as u64,
                repeats: plan.repeats,
            };
            // Calibration takes a few samples' worth, then the untimed and the timed repeats;
            // allow ample slack.
            let timeout = plan.target * (2 * plan.repeats as u32 + 8) + Duration::from_secs(30);
            let result = child::run_probe(NAME, &Probe::Throughput(spec), timeout);
            progress.done();
            ((lock, scenario), result)
        })
        .collect()
}

/// Index of the peer in a pair (weft's lock is 0): the peer's time over weft's says how
/// much faster weft was.
const PEER: usize = 1;

/// Rounds of a paired probe in each of its processes.
const PAIR_ROUNDS: usize = 4;

fn measure_job(plan: &Plan, progress: &Progress) -> (spawn_join::Processes, Vec<ProbeFailure>) {
    let mut done = spawn_join::Processes::default();
    let mut failed = Vec::new();
    // Each round is at most a second or so even for a slow peer; allow ample slack.
    let timeout = Duration::from_secs(30 + 10 * plan.job.rounds as u64);
    for i in 0..plan.job_processes {
        progress.probe(format!(
            "spawn + join job, weft against tokio: process {} of {}",
            i + 1,
            plan.job_processes
        ));
        match child::run_probe(NAME, &Probe::SpawnJoin(plan.job), timeout) {
            Ok(o) => done.0.push(o),
            Err(f) => failed.push(f),
        }
        progress.done();
    }
    (done, failed)
}

fn measure_pairs(plan: &Plan, progress: &Progress) -> PairRuns {
    plan.pair_probes()
        .into_iter()
        .map(|(locks, scenario)| {
            progress.probe(format!(
                "{} against {}, alternating: {}",
                locks[0].label(),
                locks[1].label(),
                describe(locks[0], scenario)
            ));
            let spec = throughput::PairSpec {
                locks,
                scenario,
                seed: SEED,
                target_ms: plan.target.as_millis() as u64,
                rounds: PAIR_ROUNDS,
            };
            // Calibration of both, then the rounds; allow ample slack.
            let timeout = plan.target * (4 * PAIR_ROUNDS as u32 + 16) + Duration::from_secs(30);
            // One process per repeat, the rounds of all of them pooled: the two locks'
            // relative speed also varies from one process to the next (placement of
            // stacks and thread-local data), which rounds in one process cannot average.
            let result = child::run_pooled(
                NAME,
                &Probe::Pair(spec),
                plan.repeats.max(1),
                timeout,
                throughput::PairOutcome::extend,
            );
            progress.done();
            ((locks, scenario), result)
        })
        .collect()
}

fn measure_hazard(plan: &Plan, progress: &Progress) -> HazardRuns {
    plan.hazard_probes()
        .into_iter()
        .map(|(lock, threads)| {
            progress.probe(format!(
                "{}: {threads} kernel threads on {} CPUs",
                lock.label(),
                machine::cpus()
            ));
            let spec = oversubscribed::Spec {
                lock,
                threads,
                pairs: plan.hazard_pairs,
                hold_rounds: plan.hold_rounds,
                cap_ms: plan.hazard_cap.as_millis() as u64,
                repeats: plan.hazard_repeats,
            };
            // Each run stops starting pairs at the cap; the pairs already waiting still finish.
            let timeout =
                plan.hazard_cap * (2 * plan.hazard_repeats as u32) + Duration::from_secs(30);
            let result = child::run_probe(NAME, &Probe::Oversubscribed(spec), timeout);
            progress.done();
            ((lock, threads), result)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Reporting.

fn report_failures(found: &Found, out: &mut SectionReport) {
    for f in &found.job.1 {
        out.note(
            NoteKind::Failure,
            format!("spawn + join job, one process: {f}"),
        );
    }
    for ((locks, scenario), result) in &found.pairs {
        if let Err(f) = result {
            out.note(
                NoteKind::Failure,
                format!(
                    "{} against {}, {}: {f}",
                    locks[0].label(),
                    locks[1].label(),
                    describe(locks[0], *scenario)
                ),
            );
        }
    }
    for ((lock, scenario), result) in &found.runs {
        if let Err(f) = result {
            out.note(
                NoteKind::Failure,
                format!("{}, {}: {f}", lock.label(), describe(*lock, *scenario)),
            );
        }
    }
    for ((lock, threads), result) in &found.hazard {
        if let Err(f) = result {
            out.note(
                NoteKind::Failure,
                format!("{}, {threads} kernel threads (hazard): {f}", lock.label()),
            );
        }
    }
}

/// How a lock's waiters wait, for the tables.
fn waiter(lock: Primitive) -> &'static str {
    match lock {
        Primitive::WeftSpinLock | Primitive::SpinMutex => "spin",
        Primitive::WeftTicketLock | Primitive::SpinTicketMutex => "spin, FIFO",
        Primitive::TokioMutex | Primitive::TokioRwLock | Primitive::TokioSemaphore => {
            "task suspends"
        }
        Primitive::WeftMutex | Primitive::WeftRwLock | Primitive::WeftSemaphore => {
            "park (green or kernel)"
        }
        Primitive::StdMutex | Primitive::StdRwLock => "futex",
        Primitive::ParkingLotMutex | Primitive::ParkingLotRwLock => "spin briefly, park",
        Primitive::SpinRwLock => "spin",
    }
}

/// A bar chart of one figure per lock: weft's bars in one series, the peers' in another.
fn bars_by_lock(
    id: &str,
    title: &str,
    y_label: &str,
    figures: &[(Primitive, Option<f64>)],
    quoted: &[(&str, f64)],
) -> Chart {
    let bars = figures
        .iter()
        .filter_map(|(lock, v)| v.map(|v| (lock.short().to_owned(), lock.is_weft(), v)));
    Chart::weft_bars(id, title, y_label, Unit::Nanoseconds, bars, quoted, 3)
}

fn report_mutexes(found: &Found, out: &mut SectionReport) {
    let plan = &found.plan;
    let (one, light) = (plan.one_lock(), plan.light());
    let k = plan.kernel_threads;
    let mut table = Table::new(
        "mutexes",
        "Mutual exclusion: lock + unlock pairs",
        format!(
            "Each cell is the median of the profile's repeats in a fresh process, with the \
             number of pairs sized so a sample lasts about {}. Each pair increments the guarded \
             counter; the counts are checked after every run. Uncontended: one kernel thread \
             (tokio: a current-thread runtime). {k} threads: {k} kernel threads share the pairs, \
             each pinned to a CPU of its own when there are enough (tokio: {k} tasks on a \
             {k}-worker runtime, which may put both on one worker); time per pair is the wall \
             time over all pairs. {} locks: each pair on a lock picked at \
             random (seeded xorshift), each lock on its own cache lines. Worst wait: the longest time one thread took from one \
             unlock to its next (its longest wait for the lock, plus one short hold), in runs \
             of about the same duration that read the clock after every unlock, so no clock \
             read lengthens a hold (median over the runs; it includes any time the thread \
             itself was preempted).",
            nanos(plan.target.as_nanos() as f64),
            plan.light_locks
        ),
    )
    .column("lock", "lock", Unit::Text)
    .column("waiter", "a waiter", Unit::Text)
    .column("uncontended_ns", "uncontended", Unit::Nanoseconds)
    .column("one_lock_ns", &format!("{k} threads"), Unit::Nanoseconds)
    .column("one_lock_worst_wait", "worst wait", Unit::Nanoseconds)
    .column(
        "light_ns",
        &format!("{k} threads, {} locks", plan.light_locks),
        Unit::Nanoseconds,
    )
    .column("light_worst_wait", "worst wait", Unit::Nanoseconds);
    let locks = Primitive::MUTEXES;
    for &lock in &locks {
        table.push(vec![
            lock.label().into(),
            waiter(lock).into(),
            found.ns(lock, Scenario::Uncontended).into(),
            found.ns(lock, one).into(),
            found.wait(lock, one).into(),
            found.ns(lock, light).into(),
            found.wait(lock, light).into(),
        ]);
    }
    out.tables.push(table);

    let figures = |s: Scenario| -> Vec<(Primitive, Option<f64>)> {
        locks.iter().map(|&l| (l, found.ns(l, s))).collect()
    };
    out.charts.push(bars_by_lock(
        "uncontended",
        "Uncontended lock + unlock pair",
        "time per pair",
        &figures(Scenario::Uncontended),
        &[],
    ));
    out.charts.push(bars_by_lock(
        "one_lock",
        &format!("{k} kernel threads on one lock"),
        "time per pair (wall time / all pairs)",
        &figures(one),
        &[("Go Mutex", QUOTED[0].2)],
    ));

    // Fairness among kernel threads: the extremes of the worst waits.
    let waits: Vec<(Primitive, f64)> = locks
        .iter()
        .filter_map(|&l| found.wait(l, one).map(|w| (l, w)))
        .collect();
    let lowest = waits.iter().min_by(|a, b| a.1.total_cmp(&b.1));
    let highest = waits.iter().max_by(|a, b| a.1.total_cmp(&b.1));
    if let (Some(lo), Some(hi)) = (lowest, highest) {
        out.note(
            NoteKind::Info,
            format!(
                "Fairness with {k} kernel threads on one lock: the longest single wait ran from {} \
                 ({}) to {} ({}). A lock that lets the releasing thread take it straight back \
                 serves bursts from one thread (fast, unfair); a FIFO lock hands it to the waiter \
                 (fair, and every hand-off crosses CPUs).",
                nanos(lo.1),
                lo.0.label(),
                nanos(hi.1),
                hi.0.label()
            ),
        );
    }
    if let (Some(o), Some(l), Some(u)) = (
        found.ns(Primitive::WeftMutex, one),
        found.ns(Primitive::WeftMutex, light),
        found.ns(Primitive::WeftMutex, Scenario::Uncontended),
    ) {
        out.note(
            NoteKind::Info,
            format!(
                "Light contention: spread over {} locks (two threads pick the same lock once in \
                 {} picks), weft's Mutex took {} per pair, against {} on one lock and {} \
                 uncontended.",
                plan.light_locks,
                plan.light_locks,
                nanos(l),
                nanos(o),
                nanos(u)
            ),
        );
    }
}

fn report_peers(found: &Found, out: &mut SectionReport) {
    let plan = &found.plan;
    let one = plan.one_lock();
    let k = plan.kernel_threads;
    let mut table = Table::new(
        "peers",
        &format!("{k} threads sharing one lock, next to issue 3's figures"),
        format!(
            "Measured here: the \"{k} threads\" column above (this run). Quoted: issue 3's \
             figures for 2 threads sharing one lock, 5 M lock/unlock pairs in all, not measured \
             by this lab (Go has no row measured here)."
        ),
    )
    .column("lock", "lock", Unit::Text)
    .column("measured_ns", "measured here", Unit::Nanoseconds)
    .column("quoted_ns", "quoted (issue 3)", Unit::Nanoseconds)
    .column("remark", "remark", Unit::Text);
    table.push(vec![
        Primitive::WeftMutex.label().into(),
        found.ns(Primitive::WeftMutex, one).into(),
        Cell::Empty,
        "".into(),
    ]);
    for (name, lock, quoted, remark) in QUOTED {
        table.push(vec![
            name.into(),
            lock.and_then(|l| found.ns(l, one)).into(),
            quoted.into(),
            remark.into(),
        ]);
    }
    out.tables.push(table);

    // Where this run is far below the quoted figures, say what this loop rewards.
    let (pl, un) = (
        found.ns(Primitive::ParkingLotMutex, one),
        found.ns(Primitive::ParkingLotMutex, Scenario::Uncontended),
    );
    if let (Some(pl), Some(un), Some(wait)) = (pl, un, found.wait(Primitive::ParkingLotMutex, one))
    {
        let quoted = QUOTED[1].2;
        if pl < quoted / 2.0 {
            out.note(
                NoteKind::Info,
                format!(
                    "parking_lot's mutex took {} per pair with {k} threads here, against {} quoted \
                     from issue 3 (another harness) and {} uncontended. In this loop the lock is \
                     all there is: a lock that lets its holder take it straight back lets one \
                     thread run long bursts of uncontended pairs while the other waits (its \
                     longest wait here: {}), so the time per pair stays near the uncontended \
                     cost. How often the lock changes hands, not its code path, decides these \
                     figures; compare the worst waits, and the FIFO locks, which change hands \
                     on every pair.",
                    nanos(pl),
                    nanos(quoted),
                    nanos(un),
                    nanos(wait)
                ),
            );
        }
    }
}

fn report_green(found: &Found, out: &mut SectionReport) {
    let plan = &found.plan;
    let green = plan.green();
    let n = grouped(plan.green_threads as f64);
    let mut table = Table::new(
        "green_threads",
        &format!("{n} green threads on {} workers, one lock", plan.workers),
        format!(
            "{n} weft green threads on a {}-worker weft runtime (tokio: {n} tasks on a {}-worker \
             multi-thread runtime) share the pairs on one lock; time per pair is the wall time \
             over all pairs, median of the repeats; worst wait as above. parking_lot's mutex is \
             used here from weft green threads: a waiter blocks its worker's kernel thread, and \
             every other green thread of that worker with it.",
            plan.workers, plan.workers
        ),
    )
    .column("lock", "lock", Unit::Text)
    .column("threads", "used from", Unit::Text)
    .column("ns_per_pair", "time per pair", Unit::Nanoseconds)
    .column("worst_wait", "worst wait", Unit::Nanoseconds)
    .column("vs_tokio", "throughput vs tokio", Unit::Ratio);
    let tokio = found.ns(Primitive::TokioMutex, green);
    let mut figures = Vec::new();
    for lock in GREEN_LOCKS.into_iter() {
        let ns = found.ns(lock, green);
        let used_from = if lock.is_tokio() {
            format!("{n} tokio tasks")
        } else {
            format!("{n} weft green threads")
        };
        table.push(vec![
            lock.label().into(),
            used_from.into(),
            ns.into(),
            found.wait(lock, green).into(),
            tokio.zip(ns).map(|(t, x)| t / x).into(),
        ]);
        figures.push((lock, ns));
    }
    out.tables.push(table);
    out.charts.push(bars_by_lock(
        "green_threads",
        &format!(
            "{n} green threads (tokio: tasks) on {} workers, one lock",
            plan.workers
        ),
        "time per pair (wall time / all pairs)",
        &figures,
        &[],
    ));

    let weft = found.ns(Primitive::WeftMutex, green);
    if let (Some(pl), Some(w)) = (found.ns(Primitive::ParkingLotMutex, green), weft) {
        let kernel = found
            .ns(Primitive::ParkingLotMutex, plan.one_lock())
            .map(|k| {
                format!(
                    " (from {} kernel threads it took {})",
                    plan.kernel_threads,
                    nanos(k)
                )
            })
            .unwrap_or_default();
        out.note(
            NoteKind::Info,
            format!(
                "parking_lot's mutex from weft green threads took {} per pair{kernel}, weft's \
                 Mutex {}. It works here only because no green thread parks while holding it: \
                 a waiter blocks its worker's kernel thread, so the green threads queued on that \
                 worker stop too; had a holder parked inside the critical section (a channel \
                 receive, a sleep, a weft lock), the worker it needs could be the one blocked \
                 waiting for it, and the runtime would stall. weft's Mutex parks only the \
                 waiting green thread.",
                nanos(pl),
                nanos(w)
            ),
        );
    }
}

/// The spawn-and-join job: one row per statistic over the processes.
fn report_job(found: &Found, out: &mut SectionReport) {
    let plan = &found.plan;
    let job = &plan.job;
    let procs = &found.job.0;
    let mut table = Table::new(
        "spawn_join",
        &format!(
            "The whole job: {} green threads spawned from a kernel thread, {} increments each, \
             joined",
            grouped(job.threads as f64),
            grouped(job.pairs as f64)
        ),
        format!(
            "From the main kernel thread of a fresh process: {t} green threads spawned with \
             Runtime::spawn on a {w}-worker weft runtime, each doing {p} `*m.lock() += 1` on one \
             weft Mutex, all joined, timed from before the first spawn to after the last join \
             (tokio: {t} tokio::spawn tasks on tokio's Mutex, {w} workers). {r} rounds of each, \
             alternating, in each of {n} processes; a process's figure is its best round. The \
             ratio row is each process's weft figure over its tokio figure: the worst process \
             is the verdict, not the median.",
            t = grouped(job.threads as f64),
            w = job.workers,
            p = grouped(job.pairs as f64),
            r = job.rounds,
            n = procs.0.len()
        ),
    )
    .column("what", "figure", Unit::Text)
    .column("median", "median process", Unit::Text)
    .column("worst", "worst process", Unit::Text)
    .column("best", "best process", Unit::Text);
    let fmt_rate = |v: f64| format!("{:.2} M pairs/s", v / 1e6);
    let stats = |v: Vec<f64>| -> Option<(f64, f64, f64)> {
        let m = median(&v)?;
        let lo = v.iter().copied().reduce(f64::min)?;
        let hi = v.iter().copied().reduce(f64::max)?;
        Some((m, lo, hi))
    };
    let (w, t): (Vec<f64>, Vec<f64>) = procs.0.iter().filter_map(|o| o.best()).unzip();
    for (label, v) in [("weft Mutex, green threads", w), ("tokio Mutex, tasks", t)] {
        if let Some((m, lo, hi)) = stats(v) {
            table.push(vec![
                label.into(),
                fmt_rate(m).into(),
                fmt_rate(lo).into(),
                fmt_rate(hi).into(),
            ]);
        }
    }
    if let Some((m, lo, hi)) = stats(procs.ratios()) {
        table.push(vec![
            "weft over tokio".into(),
            format!("{m:.2}x").into(),
            format!("{lo:.2}x").into(),
            format!("{hi:.2}x").into(),
        ]);
    }
    out.tables.push(table);
}

fn report_rwlocks(found: &Found, out: &mut SectionReport) {
    let plan = &found.plan;
    let rm = plan.read_mostly();
    let k = plan.kernel_threads;
    let mut table = Table::new(
        "rwlocks",
        "Read-write locks",
        format!(
            "Uncontended: a read lock + unlock pair on one kernel thread (tokio: a current-thread \
             runtime). Read-mostly: {k} kernel threads (tokio: {k} tasks on {k} workers) share the \
             operations on one lock, each a write (an increment) with probability {}% and a read \
             otherwise (seeded xorshift); time per operation is the wall time over all \
             operations, median of the repeats; worst wait as above, over reads and writes.",
            plan.write_percent
        ),
    )
    .column("lock", "lock", Unit::Text)
    .column("waiter", "a waiter", Unit::Text)
    .column("uncontended_read_ns", "uncontended read", Unit::Nanoseconds)
    .column(
        "read_mostly_ns",
        &format!("{}% reads, {k} threads", 100 - plan.write_percent.min(100)),
        Unit::Nanoseconds,
    )
    .column("read_mostly_worst_wait", "worst wait", Unit::Nanoseconds);
    let mut figures = Vec::new();
    for lock in Primitive::RWLOCKS.into_iter() {
        table.push(vec![
            lock.label().into(),
            waiter(lock).into(),
            found.ns(lock, Scenario::Uncontended).into(),
            found.ns(lock, rm).into(),
            found.wait(lock, rm).into(),
        ]);
        figures.push((lock, found.ns(lock, rm)));
    }
    out.tables.push(table);
    out.charts.push(bars_by_lock(
        "read_mostly",
        &format!(
            "Read-mostly read-write lock ({}% reads), {k} threads",
            100 - plan.write_percent.min(100)
        ),
        "time per operation (wall time / all operations)",
        &figures,
        &[],
    ));
}

fn report_semaphores(found: &Found, out: &mut SectionReport) {
    let plan = &found.plan;
    let work = plan.semaphore_work();
    let n = grouped(plan.green_threads as f64);
    let mut table = Table::new(
        "semaphores",
        "Semaphores",
        format!(
            "Uncontended: acquire one permit and release it, on one kernel thread (tokio: a \
             current-thread runtime). Limited work: {n} weft green threads on {w} workers (tokio: \
             {n} tasks on {w} workers) share the work items; each item is {} rounds of a hash \
             loop done while holding one of {} permits; time per item is the wall time over all \
             items, median of the repeats; worst wait: the longest wait for a permit. The timed \
             runs also check that no more than {} holders were ever inside at once. std, \
             parking_lot and spin have no semaphore.",
            plan.item_rounds,
            plan.permits,
            plan.permits,
            w = plan.workers
        ),
    )
    .column("semaphore", "semaphore", Unit::Text)
    .column("uncontended_ns", "uncontended", Unit::Nanoseconds)
    .column("ns_per_item", "time per item", Unit::Nanoseconds)
    .column("worst_wait", "worst wait", Unit::Nanoseconds);
    for lock in Primitive::SEMAPHORES.into_iter() {
        table.push(vec![
            lock.label().into(),
            found.ns(lock, Scenario::Uncontended).into(),
            found.ns(lock, work).into(),
            found.wait(lock, work).into(),
        ]);
    }
    out.tables.push(table);
    if let (Some(w), Some(t)) = (
        found.ns(Primitive::WeftSemaphore, work),
        found.ns(Primitive::TokioSemaphore, work),
    ) {
        out.note(
            NoteKind::Info,
            format!(
                "Semaphore-limited work: {} per item with weft's Semaphore and green threads, {} \
                 with tokio's and tasks ({:.2}× tokio's throughput).",
                nanos(w),
                nanos(t),
                t / w
            ),
        );
    }
}

fn report_hazard(found: &Found, out: &mut SectionReport) {
    let plan = &found.plan;
    let cpus = machine::cpus();
    let cap = number(plan.hazard_cap.as_secs_f64() * 1e3, Unit::Milliseconds);
    let mut table = Table::new(
        "oversubscribed",
        "Spinlocks with more threads than CPUs",
        format!(
            "A fixed job of {} lock/unlock pairs, each holding the lock for {} rounds of a hash \
             loop, shared by k kernel threads on this machine's {cpus} CPUs (with as many threads as \
             CPUs each is pinned to its own; with more, the kernel places them, as it would for \
             a program); wall time from the common start to the last thread's end, median of \
             up to {} runs. Each run is capped: \
             after {cap} the threads start no new pair, and the cell says how far it got; an \
             unfinished run ends that cell's repeats. The last column compares the most threads \
             with as many threads as CPUs.",
            grouped(plan.hazard_pairs as f64),
            plan.hold_rounds,
            plan.hazard_repeats
        ),
    )
    .column("lock", "lock", Unit::Text)
    .column("waiter", "a waiter", Unit::Text);
    for k in &plan.hazard_threads {
        table = table.column(
            &format!("wall_{k}"),
            &format!("{k} threads"),
            Unit::Milliseconds,
        );
    }
    table = table.column("slowdown", "slowdown", Unit::Ratio);
    let (first, last) = (
        plan.hazard_threads.first().copied().unwrap_or(1),
        plan.hazard_threads.last().copied().unwrap_or(1),
    );
    let mut categories = Vec::new();
    let (mut spinning, mut sleeping) = (Vec::new(), Vec::new());
    for lock in HAZARD_LOCKS.into_iter() {
        let mut row: Vec<Cell> = vec![lock.label().into(), waiter(lock).into()];
        let mut bar = None;
        for &k in &plan.hazard_threads {
            let cell = match found.hazard(lock, k) {
                Some(o) => match o.unfinished() {
                    Some(r) => {
                        if k == last {
                            bar = Some(r.wall_ms);
                        }
                        Cell::Text(format!(
                            "> {}, {:.0}% done",
                            number(r.wall_ms, Unit::Milliseconds),
                            100.0 * r.pairs_done as f64 / plan.hazard_pairs.max(1) as f64
                        ))
                    }
                    None => {
                        if k == last {
                            bar = o.wall_ms();
                        }
                        o.wall_ms().into()
                    }
                },
                None => Cell::Empty,
            };
            row.push(cell);
        }
        let slowdown = match (found.hazard(lock, first), found.hazard(lock, last)) {
            (Some(a), Some(b)) => match (a.ns_per_pair(), b.ns_per_pair()) {
                (Some(x), Some(y)) if b.finished() => Cell::from(y / x),
                (Some(x), Some(y)) => Cell::Text(format!("> {:.1}×", y / x)),
                _ => Cell::Empty,
            },
            _ => Cell::Empty,
        };
        row.push(slowdown);
        table.push(row);
        if let Some(ms) = bar {
            let point = [categories.len() as f64, ms];
            if lock.spins() {
                spinning.push(point);
            } else {
                sleeping.push(point);
            }
            categories.push(lock.short().to_owned());
        }
    }
    out.tables.push(table);
    out.charts.push(Chart {
        id: "oversubscribed".to_owned(),
        title: format!(
            "A fixed job with {last} kernel threads on {cpus} CPUs (no new pair after {cap})"
        ),
        kind: ChartKind::Bars,
        x_label: String::new(),
        y_label: "wall time (a run that hit the cap did not finish)".to_owned(),
        x_unit: Unit::Text,
        y_unit: Unit::Milliseconds,
        categories,
        series: vec![
            Series {
                name: "spinlocks".to_owned(),
                points: spinning,
            },
            Series {
                name: "sleeping mutexes".to_owned(),
                points: sleeping,
            },
        ],
    });
    hazard_note(found, first, last, out);
}

/// Compares the spinlocks with the sleeping mutexes at the largest thread count.
fn hazard_note(found: &Found, first: usize, last: usize, out: &mut SectionReport) {
    let cpus = machine::cpus();
    let describe = |lock: Primitive| -> Option<(String, f64)> {
        let o = found.hazard(lock, last)?;
        let per = o.ns_per_pair()?;
        let text = match o.unfinished() {
            Some(r) => format!(
                "{} did not finish ({} of {} pairs in {})",
                lock.label(),
                grouped(r.pairs_done as f64),
                grouped(found.plan.hazard_pairs as f64),
                number(r.wall_ms, Unit::Milliseconds)
            ),
            None => format!(
                "{} took {}",
                lock.label(),
                number(o.wall_ms()?, Unit::Milliseconds)
            ),
        };
        Some((text, per))
    };
    let spinners: Vec<(String, f64)> = HAZARD_LOCKS
        .iter()
        .filter(|l| l.spins())
        .filter_map(|&l| describe(l))
        .collect();
    let sleepers: Vec<(String, f64)> = HAZARD_LOCKS
        .iter()
        .filter(|l| !l.spins())
        .filter_map(|&l| describe(l))
        .collect();
    if spinners.is_empty() || sleepers.is_empty() || last <= cpus {
        return;
    }
    let worst_spin = spinners.iter().map(|s| s.1).fold(0.0, f64::max);
    let worst_sleep = sleepers.iter().map(|s| s.1).fold(0.0, f64::max);
    let join = |v: &[(String, f64)]| v.iter().map(|s| s.0.clone()).collect::<Vec<_>>().join("; ");
    // Spinlocks that finished with the most threads within 1.5× of their time with the
    // fewest.
    let held_up: Vec<&str> = HAZARD_LOCKS
        .iter()
        .filter(|l| l.spins())
        .filter(|&&l| {
            let (a, b) = (found.hazard(l, first), found.hazard(l, last));
            match (a.and_then(|o| o.wall_ms()), b) {
                (Some(x), Some(b)) => b.finished() && b.wall_ms().is_some_and(|y| y <= 1.5 * x),
                _ => false,
            }
        })
        .map(|l| l.label())
        .collect();
    let held_up = if held_up.is_empty() {
        String::new()
    } else {
        format!(
            " {} held up (within 1.5× of {first} threads): with a hold this short a holder is \
             rarely preempted while holding, and any waiter may take the lock next, while a FIFO \
             lock must wait for one particular thread.",
            held_up.join(" and ")
        )
    };
    out.note(
        if worst_spin > 2.0 * worst_sleep {
            NoteKind::Agrees
        } else {
            NoteKind::Disagrees
        },
        format!(
            "With {last} kernel threads on {cpus} CPUs the job took, under the spinlocks: {}; \
             under the sleeping mutexes: {}. At least {} per pair under the worst spinlock \
             against {} under the slowest sleeping mutex. A spinning waiter keeps its CPU until \
             the kernel preempts it, so when the holder, or for a FIFO lock the next thread in \
             line, is not running, the spinners burn whole time slices waiting for it; a \
             sleeping mutex gives the CPU back.{held_up}",
            join(&spinners),
            join(&sleepers),
            nanos(worst_spin),
            nanos(worst_sleep)
        ),
    );
}

fn report_targets(found: &Found, out: &mut SectionReport) {
    let plan = &found.plan;
    let mut check = |met: bool, text: String| out.target(met, text);
    let un = Scenario::Uncontended;
    if let (Some(w), Some(p)) = (
        found.ns(Primitive::WeftMutex, un),
        found.ns(Primitive::ParkingLotMutex, un),
    ) {
        check(
            w <= target::UNCONTENDED_VS_PARKING_LOT * p,
            format!(
                "Uncontended: {} per weft Mutex lock + unlock against {} for parking_lot's \
                 ({:.2}×; target, quoted from issue 3: within {:.1}×).{}",
                found.spread(Primitive::WeftMutex, un),
                found.spread(Primitive::ParkingLotMutex, un),
                w / p,
                target::UNCONTENDED_VS_PARKING_LOT,
                found.overlap(Primitive::WeftMutex, Primitive::ParkingLotMutex, un)
            ),
        );
    }
    let one = plan.one_lock();
    if let (Some(w), Some(p), Some(s)) = (
        found.ns(Primitive::WeftMutex, one),
        found.ns(Primitive::ParkingLotMutex, one),
        found.ns(Primitive::StdMutex, one),
    ) {
        let vs_pl = [Primitive::WeftMutex, Primitive::ParkingLotMutex];
        let vs_std = [Primitive::WeftMutex, Primitive::StdMutex];
        // Judged on the paired rounds when they ran (same machine state for both), else on
        // the separate probes.
        let met = match (
            found.pair(vs_pl, one).and_then(|p| p.median_ratio(PEER)),
            found.pair(vs_std, one).and_then(|p| p.median_ratio(PEER)),
        ) {
            (Some(rp), Some(rs)) => rp >= 1.0 && rs >= 1.0,
            _ => w <= p && w <= s,
        };
        check(
            met,
            format!(
                "{} kernel threads on one lock: {} per pair with weft's Mutex, {} with \
                 parking_lot's, {} with std's, in separate processes; measured round by round \
                 in the same processes, parking_lot's time over weft's {}, std's over weft's {} (target, \
                 quoted from issue 3: at least the throughput of both, judged on the rounds; \
                 aiming at Go's sync.Mutex: {} per pair, quoted from issue 3, not measured \
                 here).",
                plan.kernel_threads,
                found.spread(Primitive::WeftMutex, one),
                found.spread(Primitive::ParkingLotMutex, one),
                found.spread(Primitive::StdMutex, one),
                found.pair_text(vs_pl, one),
                found.pair_text(vs_std, one),
                nanos(QUOTED[0].2)
            ),
        );
    }
    let procs = &found.job.0;
    if let Some((m, worst)) = procs.ratio_median_worst() {
        let failed = found.job.1.len();
        check(
            worst >= target::GREEN_VS_TOKIO && failed == 0,
            format!(
                "The whole job ({} green threads spawned from a kernel thread, {} increments \
                 each, joined): weft's best round over tokio's in each of {} fresh processes, \
                 median {m:.2}x, worst process {worst:.2}x{} (target, from issue 12: at least \
                 {:.0}x in every process).",
                grouped(plan.job.threads as f64),
                grouped(plan.job.pairs as f64),
                procs.0.len(),
                if failed > 0 {
                    format!("; {failed} processes failed")
                } else {
                    String::new()
                },
                target::GREEN_VS_TOKIO
            ),
        );
    }
    let green = plan.green();
    if let (Some(w), Some(t)) = (
        found.ns(Primitive::WeftMutex, green),
        found.ns(Primitive::TokioMutex, green),
    ) {
        check(
            t / w >= target::GREEN_VS_TOKIO,
            format!(
                "{} green threads on {} workers: {} per pair with weft's Mutex against {} for \
                 tokio's with as many tasks, {:.2}× tokio's throughput (target, quoted from \
                 issue 3: at least {:.0}×).",
                grouped(plan.green_threads as f64),
                plan.workers,
                found.spread(Primitive::WeftMutex, green),
                found.spread(Primitive::TokioMutex, green),
                t / w,
                target::GREEN_VS_TOKIO
            ),
        );
    }
    if let (Some(wait), Some(w)) = (
        found.wait(Primitive::WeftMutex, green),
        found.ns(Primitive::WeftMutex, green),
    ) {
        // The bound: the hand-off time, plus one turn for every other green thread of the
        // waiter's worker once it is handed the lock.
        let per_worker = plan.green_threads as f64 / plan.workers.max(1) as f64;
        let bound = target::HANDOFF_NS + per_worker * w;
        check(
            wait <= bound,
            format!(
                "Fairness with {} green threads: the longest single wait for weft's Mutex was {} \
                 (target, quoted from issue 3: no waiter starved beyond the fairness bound, {} \
                 hand-off plus scheduling; here {} = {} plus a turn of the {} other green threads \
                 of a worker at {} per pair).",
                grouped(plan.green_threads as f64),
                nanos(wait),
                nanos(target::HANDOFF_NS),
                nanos(bound),
                nanos(target::HANDOFF_NS),
                grouped(per_worker),
                nanos(w)
            ),
        );
    }
    let rm = plan.read_mostly();
    if let (Some(w), Some(p)) = (
        found.ns(Primitive::WeftRwLock, rm),
        found.ns(Primitive::ParkingLotRwLock, rm),
    ) {
        let pair = [Primitive::WeftRwLock, Primitive::ParkingLotRwLock];
        let met = match found.pair(pair, rm).and_then(|p| p.median_ratio(PEER)) {
            Some(r) => r >= 1.0,
            None => w <= p,
        };
        check(
            met,
            format!(
                "Read-mostly RwLock ({}% reads, {} threads): {} per operation with weft's against \
                 {} with parking_lot's, in separate processes; measured round by round in the \
                 same processes, parking_lot's time over weft's {} (target, quoted from issue 3: at \
                 least parking_lot's throughput, judged on the rounds).",
                100 - plan.write_percent.min(100),
                plan.kernel_threads,
                found.spread(Primitive::WeftRwLock, rm),
                found.spread(Primitive::ParkingLotRwLock, rm),
                found.pair_text(pair, rm)
            ),
        );
    }
}
