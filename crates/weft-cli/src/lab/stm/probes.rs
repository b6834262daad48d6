//! The STM section's workloads, run in a child process each.
//!
//! * [`Bank`]: `transfers` transfers of 1 between random accounts by `threads` threads
//!   (kernel threads, or weft green threads on a 2-worker runtime), optionally with
//!   `auditors` threads summing every account in a loop while the transfers run, or
//!   (`audits`) doing a fixed number of audits alongside them. The figures: transfers per
//!   second (from the start until the last transfer; with a fixed audit job, until the
//!   last transfer *and* the last audit), audits per second, audits that saw a wrong
//!   total, weft's conflicts, and the final total.
//! * [`ReadOnly`]: one thread, a read-only transaction over 4 variables (of 1 000).
//! * [`ReadMostly`]: one thread repeatedly sums 1 000 variables in read-only transactions
//!   while another keeps updating 8 of them.
//! * [`Queue`]: one producer and one consumer pass `items` integers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::lab::stats::{median, Rounds};

/// The implementations of the bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Imp {
    /// weft's STM.
    WeftStm,
    /// The `stm` crate (crates.io).
    StmCrate,
    /// One `parking_lot::Mutex` around every account.
    GlobalMutex,
    /// A `parking_lot::Mutex` per account, taken in index order.
    AccountMutexes,
    /// One `parking_lot::RwLock` around every variable (read-mostly load only).
    GlobalRwLock,
}

impl Imp {
    /// A few characters, for chart labels.
    pub fn short(self) -> &'static str {
        match self {
            Imp::WeftStm => "weft STM",
            Imp::StmCrate => "stm crate",
            Imp::GlobalMutex => "global lock",
            Imp::AccountMutexes => "lock/account",
            Imp::GlobalRwLock => "global RwLock",
        }
    }

    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            Imp::WeftStm => "weft STM",
            Imp::StmCrate => "stm crate",
            Imp::GlobalMutex => "global parking_lot Mutex",
            Imp::AccountMutexes => "per-account parking_lot Mutexes (ordered)",
            Imp::GlobalRwLock => "global parking_lot RwLock",
        }
    }
}

/// Parameters of a bank probe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bank {
    pub imp: Imp,
    pub threads: usize,
    /// Transfer threads are weft green threads (on `workers` workers) instead of kernel
    /// threads; so are the auditors.
    pub green: bool,
    pub workers: usize,
    pub accounts: usize,
    pub transfers: u64,
    pub auditors: usize,
    /// A fixed audit job: this many audits in all (shared among the auditors) instead of
    /// auditing until the transfers end; the timed run then ends when both the transfers
    /// and the audits are done, so neither side can win by starving the other.
    #[serde(default)]
    pub audits: Option<u64>,
    pub repeats: usize,
}

/// What a bank probe found (medians over the repeats).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BankOutcome {
    pub transfers_per_s: f64,
    pub min_per_s: f64,
    pub max_per_s: f64,
    pub audits_per_s: f64,
    /// Audits (over all repeats) whose total was wrong: must be 0.
    pub bad_audits: u64,
    /// Audits over all repeats.
    pub audits: u64,
    /// weft only: conflicts per committed transaction, over all repeats.
    pub conflict_rate: Option<f64>,
    /// weft only: transactions that ran serially.
    pub serial: Option<u64>,
    /// The total was conserved at the end of every repeat.
    pub conserved: bool,
}

const START: i64 = 1_000;

trait Accounts: Send + Sync + 'static {
    fn transfer(&self, from: usize, to: usize);
    fn audit(&self) -> i64;
}

struct WeftBank(Vec<weft::stm::TVar<i64>>);
impl Accounts for WeftBank {
    #[inline]
    fn transfer(&self, from: usize, to: usize) {
        weft::stm::atomically(|tx| {
            let a = tx.read(&self.0[from])?;
            tx.write(&self.0[from], a - 1)?;
            let b = tx.read(&self.0[to])?;
            tx.write(&self.0[to], b + 1)
        });
    }
    fn audit(&self) -> i64 {
        weft::stm::atomically(|tx| {
            let mut sum = 0;
            for a in &self.0 {
                sum += tx.read(a)?;
            }
            Ok(sum)
        })
    }
}

struct CrateBank(Vec<stm::TVar<i64>>);
impl Accounts for CrateBank {
    #[inline]
    fn transfer(&self, from: usize, to: usize) {
        stm::atomically(|tx| {
            let a = self.0[from].read(tx)?;
            self.0[from].write(tx, a - 1)?;
            let b = self.0[to].read(tx)?;
            self.0[to].write(tx, b + 1)
        });
    }
    fn audit(&self) -> i64 {
        stm::atomically(|tx| {
            let mut sum = 0;
            for a in &self.0 {
                sum += a.read(tx)?;
            }
            Ok(sum)
        })
    }
}

struct GlobalBank(parking_lot::Mutex<Vec<i64>>);
impl Accounts for GlobalBank {
    #[inline]
    fn transfer(&self, from: usize, to: usize) {
        let mut g = self.0.lock();
        g[from] -= 1;
        g[to] += 1;
    }
    fn audit(&self) -> i64 {
        self.0.lock().iter().sum()
    }
}

struct LockedBank(Vec<parking_lot::Mutex<i64>>);
impl Accounts for LockedBank {
    #[inline]
    fn transfer(&self, from: usize, to: usize) {
        let (lo, hi) = (from.min(to), from.max(to));
        let mut a = self.0[lo].lock();
        let mut b = self.0[hi].lock();
        if from < to {
            *a -= 1;
            *b += 1;
        } else {
            *a += 1;
            *b -= 1;
        }
    }
    fn audit(&self) -> i64 {
        let guards: Vec<_> = self.0.iter().map(|m| m.lock()).collect();
        guards.iter().map(|g| **g).sum()
    }
}

fn make_bank(imp: Imp, n: usize) -> Result<Arc<dyn Accounts>, String> {
    Ok(match imp {
        Imp::WeftStm => Arc::new(WeftBank(
            (0..n).map(|_| weft::stm::TVar::new(START)).collect(),
        )),
        Imp::StmCrate => Arc::new(CrateBank((0..n).map(|_| stm::TVar::new(START)).collect())),
        Imp::GlobalMutex => Arc::new(GlobalBank(parking_lot::Mutex::new(vec![START; n]))),
        Imp::AccountMutexes => Arc::new(LockedBank(
            (0..n).map(|_| parking_lot::Mutex::new(START)).collect(),
        )),
        Imp::GlobalRwLock => return Err("no bank on a read-write lock".to_owned()),
    })
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// Runs a body on a kernel thread or a green thread of `rt`; returns a joiner.
fn start(
    rt: Option<&weft::Runtime>,
    f: impl FnOnce() + Send + 'static,
) -> Result<Box<dyn FnOnce() -> Result<(), String>>, String> {
    match rt {
        Some(rt) => {
            let h = rt.spawn(f);
            Ok(Box::new(move || {
                h.join().map_err(|_| "a green thread panicked".to_owned())
            }))
        }
        None => {
            let h = std::thread::Builder::new()
                .spawn(f)
                .map_err(|e| format!("cannot start a thread: {e}"))?;
            Ok(Box::new(move || {
                h.join().map_err(|_| "a thread panicked".to_owned())
            }))
        }
    }
}

/// One repeat of the bank: (seconds, audits, bad audits, conserved).
fn bank_once(
    spec: &Bank,
    rt: Option<&weft::Runtime>,
    seed: u64,
) -> Result<(f64, u64, u64, bool), String> {
    let bank = make_bank(spec.imp, spec.accounts)?;
    let total = START * spec.accounts as i64;
    let done = Arc::new(AtomicBool::new(false));
    let audits = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let mut auditors = Vec::new();
    // A fixed audit job is timed from before its auditors start.
    let job_start = Instant::now();
    for i in 0..spec.auditors {
        let (bank, done, audits, bad) = (bank.clone(), done.clone(), audits.clone(), bad.clone());
        // This auditor's share of a fixed job (the first ones take the remainder).
        let share = spec.audits.map(|n| {
            let k = spec.auditors as u64;
            n / k + u64::from((i as u64) < n % k)
        });
        auditors.push(start(rt, move || {
            let mut mine = 0u64;
            loop {
                match share {
                    Some(n) if mine == n => break,
                    None if done.load(Ordering::Relaxed) => break,
                    _ => {}
                }
                if bank.audit() != total {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
                mine += 1;
                audits.fetch_add(1, Ordering::Relaxed);
                weft::yield_now();
            }
        })?);
    }
    let per = spec.transfers / spec.threads as u64;
    let n = spec.accounts as u64;
    let t0 = if spec.audits.is_some() {
        job_start
    } else {
        Instant::now()
    };
    let mut workers = Vec::new();
    for i in 0..spec.threads {
        let bank = bank.clone();
        let mut s = seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        workers.push(start(rt, move || {
            for _ in 0..per {
                let r = xorshift(&mut s);
                let from = (r % n) as usize;
                let mut to = ((r >> 32) % n) as usize;
                if to == from {
                    to = (to + 1) % n as usize;
                }
                bank.transfer(from, to);
            }
        })?);
    }
    for w in workers {
        w()?;
    }
    let mut secs = t0.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    for a in auditors {
        a()?;
    }
    if spec.audits.is_some() {
        secs = t0.elapsed().as_secs_f64();
    }
    let conserved = bank.audit() == total;
    Ok((
        secs,
        audits.load(Ordering::Relaxed),
        bad.load(Ordering::Relaxed),
        conserved,
    ))
}

/// Runs a bank probe.
pub fn bank(spec: &Bank) -> Result<BankOutcome, String> {
    if spec.threads == 0 || spec.accounts < 2 {
        return Err("a bank needs threads and at least 2 accounts".to_owned());
    }
    if spec.audits.is_some() && spec.auditors == 0 {
        return Err("a fixed audit job (\"audits\") needs at least one auditor".to_owned());
    }
    let rt = if spec.green {
        Some(
            weft::Runtime::builder()
                .workers(spec.workers)
                .build()
                .map_err(|e| format!("cannot start a weft runtime: {e}"))?,
        )
    } else {
        None
    };
    let mut rates = Vec::new();
    let mut audit_rates = Vec::new();
    let (mut audits, mut bad, mut conserved) = (0, 0, true);
    // One untimed warm-up round, then the repeats.
    bank_once(spec, rt.as_ref(), 1)?;
    let warm = weft::stm::stats();
    for r in 0..spec.repeats.max(1) {
        let (secs, a, b, c) = bank_once(spec, rt.as_ref(), 0x5EED + r as u64)?;
        let per = spec.transfers / spec.threads as u64 * spec.threads as u64;
        rates.push(per as f64 / secs);
        audit_rates.push(a as f64 / secs);
        audits += a;
        bad += b;
        conserved &= c;
    }
    let after = weft::stm::stats();
    let weft_used = spec.imp == Imp::WeftStm;
    let commits = after.commits.saturating_sub(warm.commits);
    Ok(BankOutcome {
        transfers_per_s: median(&rates).unwrap_or(f64::NAN),
        min_per_s: rates.iter().copied().fold(f64::INFINITY, f64::min),
        max_per_s: rates.iter().copied().fold(0.0, f64::max),
        audits_per_s: median(&audit_rates).unwrap_or(f64::NAN),
        bad_audits: bad,
        audits,
        conflict_rate: weft_used
            .then(|| (after.conflicts - warm.conflicts) as f64 / commits.max(1) as f64),
        serial: weft_used.then_some(after.serial - warm.serial),
        conserved,
    })
}

/// Parameters of a paired bank probe: two implementations of the bank with the same load,
/// measured in alternating rounds in one process (kernel threads, no auditors).
///
/// This machine's cross-CPU costs change between processes and over seconds, so two
/// implementations measured in separate processes may be measured on two different
/// machines; rounds alternating in one process meet the same states, and the ratio of
/// each round is a fair comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BankPair {
    /// The two implementations (the first is weft's).
    pub imps: [Imp; 2],
    pub threads: usize,
    pub accounts: usize,
    pub transfers: u64,
    /// Rounds (each runs both once).
    pub rounds: usize,
}

/// What a paired bank probe found: transfers per second of each implementation, one per
/// round.
pub type PairRates = Rounds;

/// Runs a paired bank probe.
pub fn bank_pair(spec: &BankPair) -> Result<PairRates, String> {
    if spec.imps[0] == spec.imps[1] {
        return Err(format!(
            "a paired probe needs two different implementations, got {} twice",
            spec.imps[0].label()
        ));
    }
    let bank_of = |imp| Bank {
        imp,
        threads: spec.threads,
        green: false,
        workers: 2,
        accounts: spec.accounts,
        transfers: spec.transfers,
        auditors: 0,
        audits: None,
        repeats: 1,
    };
    if spec.threads == 0 || spec.accounts < 2 {
        return Err("a bank needs threads and at least 2 accounts".to_owned());
    }
    let specs = [bank_of(spec.imps[0]), bank_of(spec.imps[1])];
    // One untimed warm-up round of each.
    for b in &specs {
        bank_once(b, None, 1)?;
    }
    let mut per_s = [Vec::new(), Vec::new()];
    let per = spec.transfers / spec.threads as u64 * spec.threads as u64;
    for round in 0..spec.rounds.max(1) {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (secs, _, _, conserved) = bank_once(&specs[i], None, 0x5EED + round as u64)?;
            if !conserved {
                return Err(format!("{}: money was not conserved", specs[i].imp.label()));
            }
            per_s[i].push(per as f64 / secs);
        }
    }
    Ok(Rounds { samples: per_s })
}

/// Parameters of the read-only probe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadOnly {
    pub imp: Imp,
    pub transactions: u64,
    pub repeats: usize,
}

/// Nanoseconds per read-only transaction over 4 variables: median, min, max.
pub fn read_only(spec: &ReadOnly) -> Result<(f64, f64, f64), String> {
    const VARS: usize = 1_000;
    let mut ns = Vec::new();
    let mut sink = 0i64;
    match spec.imp {
        Imp::WeftStm => {
            let vars: Vec<_> = (0..VARS).map(|i| weft::stm::TVar::new(i as i64)).collect();
            for r in 0..=spec.repeats {
                let t = Instant::now();
                for i in 0..spec.transactions {
                    let b = (i as usize * 4) % (VARS - 3);
                    sink += weft::stm::atomically(|tx| {
                        Ok(tx.read(&vars[b])?
                            + tx.read(&vars[b + 1])?
                            + tx.read(&vars[b + 2])?
                            + tx.read(&vars[b + 3])?)
                    });
                }
                if r > 0 {
                    ns.push(t.elapsed().as_nanos() as f64 / spec.transactions as f64);
                }
            }
        }
        Imp::StmCrate => {
            let vars: Vec<_> = (0..VARS).map(|i| stm::TVar::new(i as i64)).collect();
            for r in 0..=spec.repeats {
                let t = Instant::now();
                for i in 0..spec.transactions {
                    let b = (i as usize * 4) % (VARS - 3);
                    sink += stm::atomically(|tx| {
                        Ok(vars[b].read(tx)?
                            + vars[b + 1].read(tx)?
                            + vars[b + 2].read(tx)?
                            + vars[b + 3].read(tx)?)
                    });
                }
                if r > 0 {
                    ns.push(t.elapsed().as_nanos() as f64 / spec.transactions as f64);
                }
            }
        }
        other => return Err(format!("no read-only transaction for {}", other.label())),
    }
    std::hint::black_box(sink);
    Ok(spread(&ns))
}

fn spread(v: &[f64]) -> (f64, f64, f64) {
    (
        median(v).unwrap_or(f64::NAN),
        v.iter().copied().fold(f64::INFINITY, f64::min),
        v.iter().copied().fold(0.0, f64::max),
    )
}

/// Parameters of the read-mostly probe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadMostly {
    pub imp: Imp,
    pub vars: usize,
    pub hot: usize,
    pub millis: u64,
    pub repeats: usize,
}

/// What the read-mostly probe found (medians over the repeats).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadMostlyOutcome {
    /// Long read-only transactions (sums over every variable) per second.
    pub reads_per_s: f64,
    /// Updates of a hot variable per second.
    pub writes_per_s: f64,
    /// weft only: conflicts per committed transaction.
    pub conflict_rate: Option<f64>,
    /// Sums that did not match the writer's count: must be 0.
    pub bad_reads: u64,
}

trait Store: Send + Sync + 'static {
    fn sum(&self) -> i64;
    fn bump(&self, i: usize);
}

impl Store for Vec<weft::stm::TVar<i64>> {
    fn sum(&self) -> i64 {
        weft::stm::atomically(|tx| {
            let mut s = 0;
            for v in self {
                s += tx.read(v)?;
            }
            Ok(s)
        })
    }
    fn bump(&self, i: usize) {
        weft::stm::atomically(|tx| tx.modify(&self[i], |v| v + 1));
    }
}

impl Store for Vec<stm::TVar<i64>> {
    fn sum(&self) -> i64 {
        stm::atomically(|tx| {
            let mut s = 0;
            for v in self {
                s += v.read(tx)?;
            }
            Ok(s)
        })
    }
    fn bump(&self, i: usize) {
        stm::atomically(|tx| self[i].modify(tx, |v| v + 1));
    }
}

impl Store for parking_lot::RwLock<Vec<i64>> {
    fn sum(&self) -> i64 {
        self.read().iter().sum()
    }
    fn bump(&self, i: usize) {
        self.write()[i] += 1;
    }
}

/// Runs the read-mostly probe.
pub fn read_mostly(spec: &ReadMostly) -> Result<ReadMostlyOutcome, String> {
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    let mut bad = 0;
    let warm = weft::stm::stats();
    for _ in 0..spec.repeats.max(1) {
        let store: Arc<dyn Store> = match spec.imp {
            Imp::WeftStm => Arc::new(
                (0..spec.vars)
                    .map(|_| weft::stm::TVar::new(0i64))
                    .collect::<Vec<_>>(),
            ),
            Imp::StmCrate => Arc::new(
                (0..spec.vars)
                    .map(|_| stm::TVar::new(0i64))
                    .collect::<Vec<_>>(),
            ),
            Imp::GlobalRwLock => Arc::new(parking_lot::RwLock::new(vec![0i64; spec.vars])),
            other => return Err(format!("no read-mostly load for {}", other.label())),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let writer = {
            let (store, stop, written) = (store.clone(), stop.clone(), written.clone());
            let hot = spec.hot.max(1);
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    store.bump(n as usize % hot);
                    n += 1;
                    written.store(n, Ordering::Release);
                }
                n
            })
        };
        let t0 = Instant::now();
        let limit = Duration::from_millis(spec.millis);
        let mut r = 0u64;
        while t0.elapsed() < limit {
            // Every bump adds 1, so a consistent sum lies between the writer's count
            // before and after the read.
            let lo = written.load(Ordering::Acquire);
            let s = store.sum();
            let hi = written.load(Ordering::Acquire) + 1;
            if s < lo as i64 || s > hi as i64 {
                bad += 1;
            }
            r += 1;
        }
        let secs = t0.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let w = writer
            .join()
            .map_err(|_| "the writer panicked".to_owned())?;
        reads.push(r as f64 / secs);
        writes.push(w as f64 / secs);
    }
    let after = weft::stm::stats();
    Ok(ReadMostlyOutcome {
        reads_per_s: median(&reads).unwrap_or(f64::NAN),
        writes_per_s: median(&writes).unwrap_or(f64::NAN),
        conflict_rate: (spec.imp == Imp::WeftStm).then(|| {
            (after.conflicts - warm.conflicts) as f64 / (after.commits - warm.commits).max(1) as f64
        }),
        bad_reads: bad,
    })
}

/// The queues of the producer/consumer probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueImp {
    /// weft's `TQueue`, producer and consumer on kernel threads.
    TQueueKernel,
    /// weft's `TQueue`, producer and consumer green threads on 2 workers.
    TQueueGreen,
    /// `std::sync::mpsc::channel` between kernel threads.
    StdChannel,
}

impl QueueImp {
    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            QueueImp::TQueueKernel => "weft TQueue (kernel threads)",
            QueueImp::TQueueGreen => "weft TQueue (green threads, 2 workers)",
            QueueImp::StdChannel => "std::sync::mpsc channel (kernel threads)",
        }
    }
}

/// Parameters of the producer/consumer probe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    pub imp: QueueImp,
    pub items: u64,
    pub repeats: usize,
}

/// Nanoseconds per item (median, min, max); fails if an item is lost or reordered.
pub fn queue(spec: &Queue) -> Result<(f64, f64, f64), String> {
    let mut ns = Vec::new();
    let rt = match spec.imp {
        QueueImp::TQueueGreen => Some(
            weft::Runtime::builder()
                .workers(2)
                .build()
                .map_err(|e| format!("cannot start a weft runtime: {e}"))?,
        ),
        _ => None,
    };
    let items = spec.items;
    for r in 0..=spec.repeats {
        let t0 = Instant::now();
        let ok = match spec.imp {
            QueueImp::StdChannel => {
                let (tx, rx) = std::sync::mpsc::channel::<u64>();
                let p = std::thread::spawn(move || {
                    for i in 0..items {
                        let _ = tx.send(i);
                    }
                });
                let ok = (0..items).all(|i| rx.recv() == Ok(i));
                p.join().map_err(|_| "the producer panicked".to_owned())?;
                ok
            }
            QueueImp::TQueueKernel | QueueImp::TQueueGreen => {
                let q = weft::stm::TQueue::<u64>::new();
                let q2 = q.clone();
                let producer = start(rt.as_ref(), move || {
                    for i in 0..items {
                        q2.send(i);
                    }
                })?;
                let (res_tx, res_rx) = std::sync::mpsc::channel();
                let consumer = start(rt.as_ref(), move || {
                    let ok = (0..items).all(|i| q.recv() == i);
                    let _ = res_tx.send(ok);
                })?;
                producer()?;
                consumer()?;
                res_rx.recv().unwrap_or(false)
            }
        };
        if !ok {
            return Err("an item was lost or reordered".to_owned());
        }
        if r > 0 {
            ns.push(t0.elapsed().as_nanos() as f64 / items as f64);
        }
    }
    Ok(spread(&ns))
}
