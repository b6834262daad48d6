//! The watchdog: a monitor thread that names a green thread holding its worker too long.
//!
//! A green thread keeps its worker until it switches (blocks, yields or spends its
//! [budget](super::coop)). One that computes for a long time without calling the
//! runtime, or that makes a blocking system call (`std::thread::sleep`, a blocking
//! `read`), stops every other green thread of that worker, which is the survey's warning
//! about green threads. The watchdog makes that visible instead of silent.
//!
//! # Algorithm
//!
//! Each worker publishes one word, its *turn*: the number of green threads it has
//! resumed (high 32 bits) and the slot of the one running now plus one (low 32 bits; 0
//! while the worker runs its own loop or sleeps). The worker writes it with two relaxed
//! stores per switch, one before the resume and one after; nothing else.
//!
//! The watchdog thread wakes every quarter of the slice and reads every worker's turn. A
//! turn that names a green thread and has not changed since it was first seen, at
//! least a slice ago, is a *stall*: that green thread has held its worker for at least
//! the time between the first sighting and now, and at most a quarter of a slice more.
//! The watchdog then reads the worker's kernel thread state from
//! `/proc/self/task/<tid>/stat`: running (`R`) means the green thread computes (a
//! *hog*); anything else means the worker waits in the kernel, and
//! `/proc/self/task/<tid>/syscall` says in which system call.
//!
//! Each stall is reported twice at most: once when it is detected (with the time held
//! so far, between one slice and 1.25 slices plus the watchdog's own scheduling delay),
//! and once when the turn finally changes (with the whole time held, to a quarter of a
//! slice). A turn is never reported again after that: the count of resumes moved on.
//!
//! The thread is named from the worker's registry of started threads (its slot). A
//! thread that ends between the sighting and the look-up is reported without a name.
//!
//! The watchdog only reads: it never stops, signals or slows a worker.

use std::fmt;
use std::io::Read as _;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use super::{lock, Shared};
use crate::thread::Thread;

/// The shortest slice the watchdog accepts (it samples four times per slice).
pub const MIN_SLICE: Duration = Duration::from_micros(100);

/// What a stalled worker was doing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StallKind {
    /// The green thread runs on the CPU without switching (a loop that never calls the
    /// runtime): it should call [`crate::yield_now`] now and then, or run on a kernel
    /// thread.
    Running,
    /// The worker's kernel thread waits in the kernel: a blocking system call made from
    /// a green thread (use [`crate::blocking`], [`crate::sleep`] or [`crate::net`]).
    /// `syscall` is the system call's name when known, else its number.
    Blocked {
        /// The system call, as `/proc/self/task/<tid>/syscall` names it.
        syscall: Option<String>,
    },
}

/// One report of the watchdog: a green thread that held its worker longer than the slice.
#[derive(Clone)]
#[non_exhaustive]
pub struct Stall {
    /// The worker's index in its runtime.
    pub worker: usize,
    /// The green thread that holds (or held) the worker, when it could be looked up.
    pub thread: Option<Thread>,
    /// What the worker was doing when the stall was detected.
    pub kind: StallKind,
    /// How long the thread has held its worker: so far when `ended` is `false`, in all
    /// when it is `true` (both to a quarter of the slice).
    pub held: Duration,
    /// `false` for the report made on detection, `true` for the one made when the
    /// thread finally let its worker go.
    pub ended: bool,
    /// The watchdog's slice.
    pub slice: Duration,
}

impl fmt::Debug for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stall")
            .field("worker", &self.worker)
            .field("thread", &self.thread.as_ref().map(Thread::id))
            .field("name", &self.thread.as_ref().and_then(Thread::name))
            .field("kind", &self.kind)
            .field("held", &self.held)
            .field("ended", &self.ended)
            .field("slice", &self.slice)
            .finish()
    }
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match &self.thread {
            Some(t) => match t.name() {
                Some(n) => format!("green thread '{n}' ({:?})", t.id()),
                None => format!("green thread {:?}", t.id()),
            },
            None => "a green thread".to_string(),
        };
        let held = self.held;
        let w = self.worker;
        if self.ended {
            return write!(f, "{who} let worker {w} go after holding it for {held:.1?}");
        }
        match &self.kind {
            StallKind::Running => write!(
                f,
                "{who} has held worker {w} for {held:.1?} without a switch (slice {:.1?}); \
                 the worker's other green threads wait: call weft::yield_now in long \
                 loops, or run the work on a kernel thread",
                self.slice
            ),
            StallKind::Blocked { syscall } => write!(
                f,
                "worker {w} is blocked in the kernel ({}) for {held:.1?}, called from \
                 {who} (slice {:.1?}); the worker's other green threads wait: use \
                 weft::blocking, weft::sleep or weft::net instead",
                syscall.as_deref().unwrap_or("a system call"),
                self.slice
            ),
        }
    }
}

/// Where reports go.
pub(crate) type Handler = Arc<dyn Fn(&Stall) + Send + Sync>;

/// The default handler: one line on standard error per report.
pub(crate) fn print_handler() -> Handler {
    Arc::new(|s: &Stall| eprintln!("weft watchdog: {s}"))
}

/// The runtime's end of its watchdog thread.
pub(crate) struct Watchdog {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    /// Starts the watchdog of `shared`.
    /// With `preempt`, a thread found computing past its slice is also signalled
    /// (`preempt.rs`), and reported only if it still holds its worker after
    /// [`PREEMPT_REPORT_SLICES`] slices (preemption kept being declined).
    pub(crate) fn start(
        shared: &Arc<Shared>,
        slice: Duration,
        handler: Handler,
        preempt: bool,
    ) -> std::io::Result<Watchdog> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let weak = Arc::downgrade(shared);
        let st = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("{}-watchdog", shared.name))
            .spawn(move || watch(&weak, slice, &handler, &st, preempt))?;
        Ok(Watchdog {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(&mut self) {
        *self
            .stop
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The watchdog's memory of one worker.
struct Seen {
    turn: u64,
    since: Instant,
    /// Set once the stall of this turn was reported: what was reported.
    reported: Option<(Option<Thread>, StallKind)>,
}

/// With preemption on, a computing thread is reported only past this many slices.
pub const PREEMPT_REPORT_SLICES: u32 = 4;

fn watch(
    shared: &Weak<Shared>,
    slice: Duration,
    handler: &Handler,
    stop: &(Mutex<bool>, Condvar),
    preempt: bool,
) {
    let period = slice / 4;
    let mut seen: Vec<Seen> = Vec::new();
    // The watchdog's own kernel thread: a plain lock, for the condition variable.
    let mut stopped = stop
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        stopped = stop
            .1
            .wait_timeout(stopped, period)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
        if *stopped {
            return;
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        if seen.is_empty() {
            seen = (0..shared.workers.len())
                .map(|_| Seen {
                    turn: 0,
                    since: now,
                    reported: None,
                })
                .collect();
        }
        for (index, (w, s)) in shared.workers.iter().zip(seen.iter_mut()).enumerate() {
            let turn = w.turn.load(std::sync::atomic::Ordering::Relaxed);
            if turn != s.turn {
                if let Some((thread, kind)) = s.reported.take() {
                    handler(&Stall {
                        worker: index,
                        thread,
                        kind,
                        held: now - s.since,
                        ended: true,
                        slice,
                    });
                }
                *s = Seen {
                    turn,
                    since: now,
                    reported: None,
                };
                continue;
            }
            let slot = turn as u32;
            if slot == 0 || s.reported.is_some() {
                continue;
            }
            let held = now - s.since;
            if held < slice {
                continue;
            }
            let tid = w.tid.load(std::sync::atomic::Ordering::Relaxed);
            let kind = kernel_state(tid);
            if preempt && kind == StallKind::Running && held < slice * PREEMPT_REPORT_SLICES {
                // The worker's own timer preempts it (`preempt.rs`); reported only if
                // that keeps being declined.
                continue;
            }
            let stall = Stall {
                worker: index,
                thread: thread_in(w, slot - 1),
                kind,
                held,
                ended: false,
                slice,
            };
            handler(&stall);
            s.reported = Some((stall.thread, stall.kind));
        }
    }
}

fn thread_in(w: &super::WorkerShared, slot: u32) -> Option<Thread> {
    lock(&w.registry).get(slot as usize).cloned().flatten()
}

/// Reads whether kernel thread `tid` of this process runs or waits, and in what.
fn kernel_state(tid: i32) -> StallKind {
    let mut stat = String::new();
    let path = format!("/proc/self/task/{tid}/stat");
    if std::fs::File::open(&path)
        .and_then(|mut f| f.read_to_string(&mut stat))
        .is_err()
    {
        // Without procfs a stall cannot be told apart: say it runs.
        return StallKind::Running;
    }
    // The state is the first field after the command name's closing parenthesis.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .unwrap_or("R");
    if state == "R" {
        return StallKind::Running;
    }
    let mut sys = String::new();
    let syscall = std::fs::File::open(format!("/proc/self/task/{tid}/syscall"))
        .and_then(|mut f| f.read_to_string(&mut sys))
        .ok()
        .and_then(|_| sys.split_whitespace().next().map(str::to_owned))
        .and_then(|nr| nr.parse::<i64>().ok())
        .map(|nr| syscall_name(nr).map_or_else(|| format!("system call {nr}"), str::to_owned));
    StallKind::Blocked { syscall }
}

/// Names of the system calls a blocked green thread is most likely in.
fn syscall_name(nr: i64) -> Option<&'static str> {
    let names: &[(i64, &str)] = if cfg!(target_arch = "x86_64") {
        &[
            (0, "read"),
            (1, "write"),
            (7, "poll"),
            (23, "select"),
            (35, "nanosleep"),
            (43, "accept"),
            (44, "sendto"),
            (45, "recvfrom"),
            (61, "wait4"),
            (202, "futex"),
            (230, "clock_nanosleep"),
            (232, "epoll_wait"),
            (270, "pselect6"),
            (271, "ppoll"),
            (281, "epoll_pwait"),
            (288, "accept4"),
            (42, "connect"),
            (17, "pread64"),
            (18, "pwrite64"),
            (74, "fsync"),
        ]
    } else if cfg!(target_arch = "aarch64") {
        &[
            (63, "read"),
            (64, "write"),
            (67, "pread64"),
            (68, "pwrite64"),
            (73, "ppoll"),
            (82, "fsync"),
            (98, "futex"),
            (101, "nanosleep"),
            (115, "clock_nanosleep"),
            (22, "epoll_pwait"),
            (202, "accept"),
            (203, "connect"),
            (206, "sendto"),
            (207, "recvfrom"),
            (242, "accept4"),
            (260, "wait4"),
        ]
    } else {
        &[]
    };
    names.iter().find(|(n, _)| *n == nr).map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_of_a_sleeping_thread_is_blocked_in_its_sleep() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() }).unwrap();
            std::thread::sleep(Duration::from_millis(300));
        });
        let tid = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let kind = kernel_state(tid);
        t.join().unwrap();
        match kind {
            StallKind::Blocked { syscall } => {
                let s = syscall.expect("the system call is readable");
                assert!(s.contains("sleep"), "{s}");
            }
            k => panic!("a sleeping thread read as {k:?}"),
        }
    }

    #[test]
    fn the_state_of_a_spinning_thread_is_running() {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = stop.clone();
        let t = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() }).unwrap();
            while !st.load(std::sync::atomic::Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        let tid = rx.recv().unwrap();
        // A spinning thread can be descheduled for a moment on a busy machine: it reads
        // as running in most of a few looks.
        let running = (0..20)
            .filter(|_| {
                std::thread::sleep(Duration::from_millis(2));
                kernel_state(tid) == StallKind::Running
            })
            .count();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        t.join().unwrap();
        assert!(running >= 18, "running in {running} of 20 looks");
    }
}
