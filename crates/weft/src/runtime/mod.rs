//! The M:N runtime: N worker kernel threads running M green threads.
//!
//! * `stack`: guarded, lazily committed, pooled stacks.
//! * `context`: the context switch (corosensei).
//! * `worker`: run queues, stealing of unstarted threads, sleeping and waking, timers.
//! * `coop`: the cooperative budget.
//! * `signal`: the stack-overflow report.
//! * `deadlock`: the deadlock detector.
//! * `reactor`: socket readiness for green threads (epoll).
//! * `watchdog`: the monitor thread that names a green thread holding its worker.
//! * `preempt`: opt-in preemption, driven by the watchdog.
//!
//! A [`Runtime`] owns its workers; the first use of [`crate::spawn`] outside any
//! runtime starts a default one with one worker per available CPU, which lives until
//! the process exits.

pub(crate) mod context;
pub mod coop;
pub(crate) mod deadlock;
pub(crate) mod hibernate;
pub mod preempt;
pub(crate) mod reactor;
pub(crate) mod signal;
pub(crate) mod stack;
pub mod watchdog;
pub(crate) mod worker;

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crossbeam_deque::{Injector, Stealer, Worker as Deque};
use crossbeam_queue::SegQueue;

use crate::thread::Thread;
use crate::JoinHandle;
use worker::Fresh;

/// Locks one of the runtime's own mutexes, ignoring poisoning (what they guard stays
/// consistent across a panic: no critical section here calls user code), inside a
/// critical section (`critical.rs`: preemption never interrupts a holder).
pub(crate) fn lock<T>(m: &Mutex<T>) -> crate::critical::Locked<'_, T> {
    crate::critical::lock(m)
}

/// What other threads may touch of a worker.
pub(crate) struct WorkerShared {
    pub(crate) inbox: SegQueue<u32>,
    /// 1 while the worker sleeps (or is about to), else 0; the futex word.
    pub(crate) sleep: AtomicU32,
    pub(crate) stealer: Stealer<Fresh>,
    /// Started, unfinished green threads by slot, for diagnostics.
    pub(crate) registry: Mutex<Vec<Option<Thread>>>,
    /// Entries in the worker's timer heap.
    pub(crate) timers: AtomicUsize,
    /// The worker's reactor, made when one of its green threads first waits on a socket.
    pub(crate) reactor: OnceLock<reactor::Reactor>,
    /// Green threads resumed (high 32 bits) and the running one's slot plus one (low 32
    /// bits, 0 between turns); written by the worker only, read by the watchdog.
    pub(crate) turn: AtomicU64,
    /// The worker's kernel thread id (0 until it starts).
    pub(crate) tid: AtomicI32,
    /// The turn the preemption handler last noted, and when (`preempt.rs`; written by
    /// this worker's signal handler only).
    pub(crate) preempt: AtomicU64,
    pub(crate) preempt_seen: AtomicU64,
}

/// The state of a runtime shared by its workers and by every handle to it.
pub(crate) struct Shared {
    pub(crate) workers: Box<[WorkerShared]>,
    pub(crate) injector: Injector<Fresh>,
    pub(crate) idle: AtomicUsize,
    pub(crate) searching: AtomicUsize,
    pub(crate) shutdown: AtomicBool,
    /// Spawned green threads that have not finished.
    pub(crate) live: AtomicUsize,
    pub(crate) name: String,
    /// The preemption slice in nanoseconds (0: no preemption).
    pub(crate) preempt_slice_ns: u64,
    /// How long a green thread stays parked before it is hibernated (`None`: never).
    pub(crate) hibernate_after: Option<Duration>,
    /// Green threads hibernated now, over all workers.
    pub(crate) hibernated: AtomicUsize,
    /// Hibernated stacks are guarded, not just released (`hibernate_checked`).
    pub(crate) hibernate_checked: bool,
    /// Workers whose loop has ended (see [`Shared::worker_done`]), and the condition
    /// `Runtime::drop` waits on for them.
    pub(crate) done: std::sync::Mutex<usize>,
    pub(crate) done_cv: std::sync::Condvar,
}

/// Tells the runtime, when dropped, that a worker's loop has ended.
struct WorkerDone(Arc<Shared>);

impl Drop for WorkerDone {
    fn drop(&mut self) {
        self.0.worker_done();
    }
}

impl Shared {
    /// Called by each worker thread when its loop has ended.
    fn worker_done(&self) {
        *self
            .done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        self.done_cv.notify_all();
    }

    #[inline(always)]
    pub(crate) fn wake_green(&self, home: &AtomicU32, slot: &AtomicU32) {
        worker::wake_green(self, home, slot);
    }

    /// Queues a fresh green thread: on the current worker when it belongs to this
    /// runtime, else on the global injector; then wakes a worker if one sleeps.
    pub(crate) fn submit(self: &Arc<Self>, f: Fresh) {
        // The worker's deque has one owner: its kernel thread, whichever green thread
        // runs there; a push must not be interleaved with another (`critical.rs`).
        let _c = crate::critical::Critical::new();
        self.live.fetch_add(1, Ordering::Relaxed);
        let f = worker::with_local(|l| match l {
            Some(l) if std::ptr::eq(&*l.shared, &**self) => {
                l.fresh.push(f);
                None
            }
            _ => Some(f),
        });
        if let Some(f) = f {
            self.injector.push(f);
        }
        worker::notify_any(self);
    }
}

pub(crate) fn registry_insert(w: &WorkerShared, i: u32, t: &Thread) {
    let mut r = lock(&w.registry);
    let i = i as usize;
    if r.len() <= i {
        r.resize(i + 1, None);
    }
    r[i] = Some(t.clone());
}

pub(crate) fn registry_remove(w: &WorkerShared, i: u32) {
    let mut r = lock(&w.registry);
    if let Some(e) = r.get_mut(i as usize) {
        *e = None;
    }
}

/// A set of worker kernel threads that run green threads.
///
/// Dropping a runtime shuts it down: the workers finish the green threads that are
/// ready to run, then exit, and the drop returns once they have. Green threads still
/// parked at that moment are never resumed; their stacks are leaked (not reused), as
/// a detached kernel thread's stack is when a process exits.
///
/// ```
/// let rt = weft::Runtime::builder().workers(2).build()?;
/// let answer = rt.block_on(|| {
///     let h = weft::spawn(|| 6 * 7);
///     h.join().unwrap()
/// });
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
    watchdog: Option<watchdog::Watchdog>,
}

/// Configures and builds a [`Runtime`].
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RuntimeBuilder {
    workers: Option<usize>,
    name: String,
    watchdog: Option<Duration>,
    on_stall: Option<watchdog::Handler>,
    preemption: Option<Duration>,
    hibernate_after: Option<Duration>,
    hibernate_checked: bool,
}

impl fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("workers", &self.workers)
            .field("name", &self.name)
            .field("watchdog", &self.watchdog)
            .field("on_stall", &self.on_stall.as_ref().map(|_| "custom"))
            .field("preemption", &self.preemption)
            .field("hibernate_after", &self.hibernate_after)
            .field("hibernate_checked", &self.hibernate_checked)
            .finish()
    }
}

impl RuntimeBuilder {
    /// The number of worker kernel threads (default: available parallelism).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// A name prefix for the worker threads (default `weft-worker`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Starts a [`watchdog`] with this slice: a monitor thread that reports a
    /// green thread holding its worker for longer than `slice` without a switch
    /// (computing, or blocked in a system call), once when it is detected and once when
    /// it lets go, on standard error unless [`on_stall`](Self::on_stall) says otherwise.
    /// Off by default. The watchdog costs one thread that wakes four times per slice;
    /// the workers pay nothing more for it (they publish their turns anyway).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    ///
    /// let stalls = Arc::new(Mutex::new(Vec::new()));
    /// let seen = stalls.clone();
    /// let rt = weft::Runtime::builder()
    ///     .workers(1)
    ///     .watchdog(Duration::from_millis(10))
    ///     .on_stall(move |s| seen.lock().unwrap().push(s.clone()))
    ///     .build()?;
    /// // A blocking call in a green thread holds its worker: the watchdog names it.
    /// rt.block_on(|| std::thread::sleep(Duration::from_millis(100)));
    /// drop(rt); // stops the watchdog
    /// let stalls = stalls.lock().unwrap();
    /// assert!(stalls.iter().any(|s| matches!(s.kind, weft::runtime::watchdog::StallKind::Blocked { .. })));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn watchdog(mut self, slice: Duration) -> Self {
        self.watchdog = Some(slice);
        self
    }

    /// Turns preemption on: a green thread that runs longer than `slice` without a
    /// switch is suspended (as if it had called [`crate::yield_now`]) at an instruction
    /// of the application's own code, so the other green threads of its worker run. The
    /// [`watchdog`](Self::watchdog) runs with this slice, signals such a worker, and
    /// reports a computing thread only if it still holds the worker after
    /// [`watchdog::PREEMPT_REPORT_SLICES`] slices. See [`preempt`] for the algorithm.
    ///
    /// The worst delay a ready thread sees behind a thread that computes is then about
    /// 1.25 slices: the watchdog looks four times per slice.
    ///
    /// # Safety
    ///
    /// Preemption interleaves green threads *between any two instructions* of the
    /// application's code, on one kernel thread. weft never preempts its own critical
    /// sections, the standard library's functions, the C library (and its allocator),
    /// or code without a Rust symbol, but it cannot see the application's own
    /// per-kernel-thread state. The caller promises that no code running on this
    /// runtime's green threads, outside weft's and std's functions (which includes
    /// code of theirs and of other crates inlined into the application's functions),
    ///
    /// 1. is in the middle of an update of **thread-local storage** that another green
    ///    thread of the same worker could observe or make: a `RefCell` borrow, an `Rc`
    ///    clone or drop, a `Cell` read-modify-write or any invariant spread over several
    ///    writes, in a `thread_local!` (or a library's thread-local: an allocator's
    ///    per-thread cache written in Rust, an async runtime's context, a random number
    ///    generator's state) — wrap such code in [`preempt::critical`];
    /// 2. holds a guard of a **reentrant lock keyed by the kernel thread**
    ///    (`std::io::stdout().lock()` and the like) across code that may be preempted:
    ///    another green thread of the worker would enter it too;
    /// 3. relies on running uninterrupted for any other reason of soundness (timing
    ///    assumptions in `unsafe` code, signal masks, CPU state changed in inline
    ///    assembly).
    ///
    /// Holding a `std::sync::Mutex` (or any lock that blocks the kernel thread) across
    /// code that may be preempted is not unsound but can deadlock the worker, if another
    /// green thread of the worker then waits for it: use weft's locks, which park only
    /// the green thread. Safe code that uses no thread-locals, and all of weft's own
    /// primitives, meet the contract.
    ///
    /// weft takes the process's `SIGURG` handler (as Go's runtime does): a program that
    /// needs `SIGURG` for sockets' urgent data cannot use preemption. Blocking system
    /// calls made from green threads of a preemptive runtime may return `EINTR` more
    /// often (the handler is installed with `SA_RESTART`; std's wrappers retry).
    ///
    /// # Errors (at [`build`](Self::build))
    ///
    /// `Unsupported` when not on x86-64 Linux, or when the executable has no symbol
    /// table to tell the application's code apart (a stripped binary); a slice under
    /// [`watchdog::MIN_SLICE`] is `InvalidInput`.
    pub unsafe fn preemption(mut self, slice: Duration) -> Self {
        self.preemption = Some(slice);
        self
    }

    /// Hibernates green threads parked longer than `after`: each one's live stack bytes
    /// (a few hundred for a thread parked in a channel receive) are copied to the heap
    /// and its stack pages given back to the kernel; they are copied back, to the same
    /// addresses, before it runs again. A parked thread then costs about a kilobyte
    /// instead of a page or more of stack. Threads that run at least once per `after`
    /// are never hibernated; waking a hibernated one costs the copy and a page fault
    /// (microseconds). See `BENCHMARKS.md` for the figures.
    ///
    /// A thread is hibernated after between `after` and twice `after` parked (the
    /// workers look at their threads at most once per `after`, in small batches between
    /// turns and before they sleep). An `after` of zero is taken as one millisecond.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // SAFETY: no green thread of this runtime lends its stack to another thread
    /// // (no `std::thread::scope` around a park).
    /// let rt = unsafe { weft::Runtime::builder().hibernate_after(Duration::from_millis(10)) }
    ///     .workers(1)
    ///     .build()
    ///     .unwrap();
    /// let (tx, rx) = weft::csp::channel::<[u64; 4]>();
    /// let h = rt.spawn(move || {
    ///     let mine = [1u64, 2, 3, 4]; // on the stack, across the hibernation
    ///     let got = rx.recv().unwrap();
    ///     mine.iter().zip(got).map(|(a, b)| a * b).sum::<u64>()
    /// });
    /// while rt.hibernated() == 0 {
    ///     std::thread::sleep(Duration::from_millis(5));
    /// }
    /// tx.send([4, 3, 2, 1]).unwrap();
    /// assert_eq!(h.join().unwrap(), 4 + 6 + 6 + 4);
    /// ```
    ///
    /// # Safety
    ///
    /// While a green thread is hibernated, its stack reads as zeros and writes to it are
    /// lost. weft's own primitives never let another thread use a parked thread's stack
    /// (their wait records live in the heap), and [`crate::scope`] (with `par` and
    /// `par!`) pins its caller for as long as its children may borrow from it. The
    /// caller promises that no green thread of this runtime lends its stack in any other
    /// way and then parks in weft (a channel, a lock, a sleep, a join, a socket) while
    /// the borrower may still use it. Ways weft cannot see include:
    ///
    /// 1. **scoped threads of other libraries**: `std::thread::scope`, crossbeam's
    ///    scopes, `rayon::scope` and `rayon::join` (whose other half runs on the pool);
    /// 2. **references sent to another thread**, over a channel whose item type is not
    ///    `'static`, or as raw pointers;
    /// 3. **scoped thread-locals** set to a local around a park (`scoped-tls` and the
    ///    like): another green thread of the same worker would read it through the
    ///    worker's thread-local;
    /// 4. **intrusive wait nodes** of other libraries kept on the stack while parked
    ///    (a future polled by a hand-written `block_on` that parks through weft);
    /// 5. **foreign code or the kernel keeping a pointer** into the stack across a park:
    ///    asynchronous I/O submitted with a stack buffer (io_uring, `aio_read`), an
    ///    `epoll` registration whose data points to a local.
    pub unsafe fn hibernate_after(mut self, after: Duration) -> Self {
        self.hibernate_after = Some(after.max(Duration::from_millis(1)));
        self
    }

    /// Checks [`hibernate_after`](Self::hibernate_after)'s contract: a hibernated stack's
    /// range is turned into a guard region (`MADV_GUARD_INSTALL`) instead of just being
    /// released, so code on another thread that touches it faults, and the process
    /// aborts with a report naming the hibernated thread, instead of reading zeros or
    /// losing its writes. Waking costs one system call more. For tests and debugging.
    /// On kernels without guard regions (before Linux 6.13) nothing is hibernated in
    /// this mode. No effect without `hibernate_after`.
    pub fn hibernate_checked(mut self, on: bool) -> Self {
        self.hibernate_checked = on;
        self
    }

    /// Where the watchdog's reports go (default: one line each on standard error).
    /// Called on the watchdog's thread; it should return quickly. Has no effect without
    /// [`watchdog`](Self::watchdog).
    pub fn on_stall(mut self, f: impl Fn(&watchdog::Stall) + Send + Sync + 'static) -> Self {
        self.on_stall = Some(Arc::new(f));
        self
    }

    /// Starts the workers.
    ///
    /// # Errors
    ///
    /// `workers(0)`, more than 65 536 workers, a watchdog slice under
    /// [`watchdog::MIN_SLICE`], or a failure to start a kernel thread.
    pub fn build(mut self) -> io::Result<Runtime> {
        if let Some(p) = self.preemption {
            self.watchdog = Some(self.watchdog.map_or(p, |w| w.min(p)));
        }
        if let Some(slice) = self.watchdog {
            if slice < watchdog::MIN_SLICE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "a watchdog slice of {slice:?} is too short; the minimum is {:?}",
                        watchdog::MIN_SLICE
                    ),
                ));
            }
        }
        // Worker threads are named after it, and a thread name cannot hold a NUL.
        if self.name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a weft runtime name cannot contain a NUL byte: {:?}",
                    self.name
                ),
            ));
        }
        let n = match self.workers {
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a weft runtime needs at least one worker (workers(0) was given)",
                ))
            }
            Some(n) if n > 65_536 => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{n} workers requested; the maximum is 65536"),
                ))
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if self.preemption.is_some() {
            preempt::set_up()?;
        }
        signal::install();
        let deques: Vec<Deque<Fresh>> = (0..n).map(|_| Deque::new_fifo()).collect();
        let workers = deques
            .iter()
            .map(|d| WorkerShared {
                inbox: SegQueue::new(),
                sleep: AtomicU32::new(0),
                stealer: d.stealer(),
                registry: Mutex::new(Vec::new()),
                timers: AtomicUsize::new(0),
                reactor: OnceLock::new(),
                turn: AtomicU64::new(0),
                tid: AtomicI32::new(0),
                preempt: AtomicU64::new(0),
                preempt_seen: AtomicU64::new(0),
            })
            .collect();
        let shared = Arc::new(Shared {
            workers,
            injector: Injector::new(),
            idle: AtomicUsize::new(0),
            searching: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            name: self.name.clone(),
            preempt_slice_ns: self
                .preemption
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            hibernate_after: self.hibernate_after,
            hibernated: AtomicUsize::new(0),
            hibernate_checked: self.hibernate_checked,
            done: std::sync::Mutex::new(0),
            done_cv: std::sync::Condvar::new(),
        });
        deadlock::register_runtime(&shared);
        let mut threads = Vec::with_capacity(n);
        for (i, d) in deques.into_iter().enumerate() {
            let s = shared.clone();
            deadlock::worker_started();
            let t = std::thread::Builder::new()
                .name(format!("{}-{i}", self.name))
                .spawn(move || {
                    // Counts the loop as ended however it ends (a panic too), so
                    // `Runtime::drop` cannot wait for ever.
                    let done = WorkerDone(s.clone());
                    let abandoned = worker::run(s, i, d);
                    deadlock::worker_stopped();
                    if abandoned {
                        // Green threads left parked on this worker may hold references
                        // into its thread-locals (`with` borrows across a park): the
                        // kernel thread must never exit, or its thread-local destructors
                        // would free what they borrow. It sleeps for ever instead, leaked
                        // like their stacks.
                        deadlock::worker_retired();
                        drop(done);
                        loop {
                            std::thread::park();
                        }
                    }
                });
            match t {
                Ok(t) => threads.push(t),
                Err(e) => {
                    deadlock::worker_stopped();
                    let rt = Runtime {
                        shared,
                        threads,
                        watchdog: None,
                    };
                    drop(rt);
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot start weft worker thread {i}: {e}"),
                    ));
                }
            }
        }
        let mut rt = Runtime {
            shared,
            threads,
            watchdog: None,
        };
        if let Some(slice) = self.watchdog {
            let handler = self.on_stall.unwrap_or_else(watchdog::print_handler);
            rt.watchdog = Some(
                watchdog::Watchdog::start(&rt.shared, slice, handler, self.preemption.is_some())
                    .map_err(|e| {
                        io::Error::new(e.kind(), format!("cannot start the weft watchdog: {e}"))
                    })?,
            );
        }
        Ok(rt)
    }
}

impl Runtime {
    /// A builder with the defaults: one worker per available CPU.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder {
            workers: None,
            name: "weft-worker".into(),
            watchdog: None,
            on_stall: None,
            preemption: None,
            hibernate_after: None,
            hibernate_checked: false,
        }
    }

    /// A runtime with the defaults.
    ///
    /// # Errors
    ///
    /// As [`RuntimeBuilder::build`].
    pub fn new() -> io::Result<Runtime> {
        Self::builder().build()
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.shared.workers.len()
    }

    /// How many of this runtime's green threads are hibernated now (see
    /// [`RuntimeBuilder::hibernate_after`]); a racy snapshot.
    pub fn hibernated(&self) -> usize {
        self.shared.hibernated.load(Ordering::Relaxed)
    }

    /// Spawns a green thread on this runtime, with the default stack size.
    ///
    /// # Panics
    ///
    /// When no stack can be had (see [`crate::Builder::spawn_on`] for the error).
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        crate::Builder::new()
            .spawn_on(self, f)
            .unwrap_or_else(|e| panic!("weft: failed to spawn a green thread: {e}"))
    }

    /// Runs `f` as a green thread of this runtime and blocks the calling kernel thread
    /// until it returns its value. A panic in `f` is resumed here.
    ///
    /// Called from a green thread, it parks that green thread instead.
    #[track_caller]
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.spawn(f).join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    /// Entries in the workers' timer heaps (a snapshot, for diagnostics): sleeps and
    /// timed parks, including some of parks that already ended, which are swept out as
    /// the heaps grow.
    pub fn pending_timers(&self) -> usize {
        self.shared
            .workers
            .iter()
            .map(|w| w.timers.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("name", &self.shared.name)
            .field("workers", &self.shared.workers.len())
            .field(
                "live_green_threads",
                &self.shared.live.load(Ordering::Relaxed),
            )
            .field("pending_timers", &self.pending_timers())
            .finish()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            w.stop();
        }
        self.shared.shutdown.store(true, Ordering::Release);
        for i in 0..self.shared.workers.len() {
            worker::notify(&self.shared, i);
        }
        let on_own_worker =
            worker::with_local(|l| l.is_some_and(|l| Arc::ptr_eq(&l.shared, &self.shared)));
        if on_own_worker {
            // Joining our own worker would never return: let the workers exit alone.
            return;
        }
        // Wait for every worker's loop to end. Not `join`: a worker that left green
        // threads parked never exits (see `build`); the handles are detached.
        let n = self.threads.len();
        let mut done = self
            .shared
            .done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *done < n {
            done = self
                .shared
                .done_cv
                .wait(done)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        drop(done);
        self.threads.clear();
        deadlock::unregister_runtime(&self.shared);
    }
}

/// The runtime of the calling green thread, else the default runtime (started on
/// first use).
pub(crate) fn current_shared() -> io::Result<Arc<Shared>> {
    if let Some(s) = worker::with_local(|l| l.map(|l| l.shared.clone())) {
        return Ok(s);
    }
    default_runtime().map(|rt| rt.shared.clone())
}

static DEFAULT: OnceLock<Runtime> = OnceLock::new();
static DEFAULT_INIT: Mutex<()> = Mutex::new(());

/// The default runtime: one worker per available CPU, started on first use.
///
/// # Errors
///
/// When the workers cannot be started.
pub fn default_runtime() -> io::Result<&'static Runtime> {
    if let Some(rt) = DEFAULT.get() {
        return Ok(rt);
    }
    let _g = DEFAULT_INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = DEFAULT.get() {
        return Ok(rt);
    }
    let rt = Runtime::builder().build()?;
    Ok(DEFAULT.get_or_init(|| rt))
}
