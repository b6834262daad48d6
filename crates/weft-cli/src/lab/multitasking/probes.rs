//! The multitasking workloads, run in a (child) process.
//!
//! - **Ticker beside a hog** ([`run_ticker`]): a ticker wants to run every millisecond; it
//!   sleeps [`TICK`] in a loop and records each sleep's *overshoot* (the time it woke
//!   minus the time it went to sleep plus [`TICK`]). A hog shares its CPU: after a pad it
//!   spins for the hog's duration, then the ticker goes on for another pad. The [`Mode`]
//!   says how the two share: two weft green threads on a 1-worker runtime, the hog never
//!   calling the runtime ([`Mode::Cooperative`]) or calling `try_recv` on an empty
//!   `weft::csp` channel every iteration, which spends from the cooperative budget and so
//!   yields every 128 calls ([`Mode::Budget`]); or two kernel threads pinned to the same
//!   CPU, which the kernel preempts ([`Mode::KernelThreads`]).
//! - **A blocking call inside a green thread** ([`run_blocking`]): the same ticker on a
//!   1-worker runtime with the watchdog on, beside a green thread that waits in one of
//!   three [`Way`]s. The watchdog's reports are captured with `on_stall` and timed from the
//!   instant right before the wait began.
//! - **Echo** ([`run_echo`], [`run_clients`]): a [`Server`] on loopback holding one
//!   connection per green thread, task or kernel thread, and clients in another process
//!   (the harness' grandchild): C connections on a 2-worker weft runtime, one green thread
//!   each, set up at most [`CONNECTING`] at a time (fewer than the listener's backlog of
//!   128, so no SYN is dropped and retried a second later; a connection counts as set up
//!   once its first echo came back), then all wait on a barrier, then M rounds of a
//!   64-byte request and its echo each (checked byte for byte, each round trip timed),
//!   then a barrier again, then they close. The server counts the connections it holds
//!   at once.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::lab::machine;

/// The ticker's period: it sleeps this long in a loop.
pub const TICK: Duration = Duration::from_millis(1);

/// The size of an echoed message, bytes.
pub const MSG: usize = 64;

/// Connections a client process sets up at once (the listeners' backlog is 128).
pub const CONNECTING: usize = 100;

/// Stack of a kernel thread of the thread-per-connection server.
pub const SERVER_THREAD_STACK: usize = 64 * 1024;

/// How long a client waits for a connection or a reply before it calls it a failure.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn as_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The value at quantile `q` (0 to 1) of sorted samples, by nearest rank; `None` if empty.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

// ---------------------------------------------------------------------------------------
// The ticker beside a hog.

/// How the ticker and the hog share one CPU. A new row of the ticker table is one
/// variant here and one arm in [`run_ticker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Two green threads on a 1-worker weft runtime; the hog never calls the runtime.
    Cooperative,
    /// Two green threads on a 1-worker weft runtime; the hog calls `try_recv` on an empty
    /// channel every iteration, spending from the budget (a yield every 128 calls).
    Budget,
    /// Two green threads on a 1-worker weft runtime with preemption on (a slice of
    /// [`PREEMPT_SLICE_MS`]); the hog never calls the runtime.
    Preemptive,
    /// Two kernel threads pinned to one CPU; the kernel preempts the hog.
    KernelThreads,
}

/// The preemptive mode's slice, milliseconds (issue 15: the worst tick delay at most
/// twice it).
pub const PREEMPT_SLICE_MS: u64 = 1;

impl Mode {
    /// Every mode, in table order.
    pub const ALL: [Mode; 4] = [
        Mode::Cooperative,
        Mode::Budget,
        Mode::Preemptive,
        Mode::KernelThreads,
    ];

    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Cooperative => "cooperative",
            Mode::Budget => "budget",
            Mode::Preemptive => "preemptive",
            Mode::KernelThreads => "kernel threads",
        }
    }

    /// What runs the two, and what the hog does.
    pub fn describe(self) -> &'static str {
        match self {
            Mode::Cooperative => "weft, 1 worker; the hog only reads the clock",
            Mode::Budget => "weft, 1 worker; the hog calls try_recv each iteration",
            Mode::Preemptive => {
                "weft, 1 worker, preemption with a 1 ms slice; the hog only reads the clock"
            }
            Mode::KernelThreads => "2 kernel threads pinned to one CPU; the OS preempts",
        }
    }
}

/// Parameters of a ticker probe.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TickerSpec {
    /// How the two share the CPU.
    pub mode: Mode,
    /// How long the hog spins, milliseconds.
    pub hog_ms: u64,
    /// How long the ticker ticks alone before and after the hog, milliseconds.
    pub pad_ms: u64,
}

/// What a ticker saw: its ticks and their lateness (each sleep's overshoot).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticks {
    /// Ticks in the whole run (pads and hog).
    pub ticks: usize,
    /// Median overshoot, milliseconds.
    pub median_ms: f64,
    /// 99th percentile of the overshoots, milliseconds.
    pub p99_ms: f64,
    /// The largest overshoot, milliseconds.
    pub worst_ms: f64,
}

impl Ticks {
    fn from_overshoots(mut late_ms: Vec<f64>) -> Result<Ticks, String> {
        late_ms.sort_by(f64::total_cmp);
        let at = |q| quantile(&late_ms, q).ok_or("the ticker never woke");
        Ok(Ticks {
            ticks: late_ms.len(),
            median_ms: at(0.5)?,
            p99_ms: at(0.99)?,
            worst_ms: at(1.0)?,
        })
    }
}

/// What one ticker probe found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TickerOutcome {
    /// The ticker's ticks.
    pub ticks: Ticks,
    /// Iterations of the hog's loop.
    pub hog_iterations: u64,
    /// How long the hog spun, milliseconds.
    pub hog_ms: f64,
}

/// Sleeps [`TICK`] with `sleep` until `end`; each sleep's overshoot, milliseconds.
fn tick_until(end: Instant, sleep: impl Fn(Duration)) -> Vec<f64> {
    let mut late = Vec::new();
    loop {
        let asked = Instant::now();
        if asked >= end {
            return late;
        }
        sleep(TICK);
        let woke = Instant::now();
        late.push(as_ms(woke.saturating_duration_since(asked + TICK)));
    }
}

/// Spins for `dur`: reading the clock only, or calling `try_recv` on an empty channel
/// too (`spend`); the iterations done and the time spun.
fn hog(spend: bool, dur: Duration) -> (u64, Duration) {
    let (tx, rx) = weft::csp::bounded::<u64>(1);
    let t0 = Instant::now();
    let end = t0 + dur;
    let mut n = 0u64;
    if spend {
        while Instant::now() < end {
            let _ = std::hint::black_box(rx.try_recv());
            n += 1;
        }
    } else {
        // The clock is read every 1 024 iterations: the hog computes, mostly (time in
        // the vDSO's clock is not the application's code, which preemption waits for).
        while n % 1024 != 0 || Instant::now() < end {
            n = std::hint::black_box(n + 1);
        }
    }
    drop(tx);
    (n, t0.elapsed())
}

/// Runs a ticker probe here.
pub fn run_ticker(spec: &TickerSpec) -> Result<TickerOutcome, String> {
    let (pad, dur) = (ms(spec.pad_ms), ms(spec.hog_ms));
    let (late, (hog_iterations, spun)) = match spec.mode {
        Mode::Cooperative | Mode::Budget | Mode::Preemptive => {
            let spend = spec.mode == Mode::Budget;
            let mut b = weft::Runtime::builder().workers(1);
            if spec.mode == Mode::Preemptive {
                // SAFETY: the ticker and the hog use no thread-local storage and hold no
                // reentrant or kernel-blocking lock (the contract of `preemption`).
                b = unsafe { b.preemption(Duration::from_millis(PREEMPT_SLICE_MS)) };
            }
            let rt = b
                .build()
                .map_err(|e| format!("building a 1-worker weft runtime: {e}"))?;
            // (After the build: preemption's set-up reads the executable's line tables.)
            let start = Instant::now();
            let end = start + pad + dur + pad;
            let ticker = weft::Builder::new()
                .spawn_on(&rt, move || tick_until(end, weft::sleep))
                .map_err(|e| format!("spawning the ticker: {e}"))?;
            let hogger = weft::Builder::new()
                .spawn_on(&rt, move || {
                    weft::sleep_until(start + pad);
                    hog(spend, dur)
                })
                .map_err(|e| format!("spawning the hog: {e}"))?;
            let late = ticker.join().map_err(|_| "the ticker panicked")?;
            let spun = hogger.join().map_err(|_| "the hog panicked")?;
            (late, spun)
        }
        Mode::KernelThreads => {
            let start = Instant::now();
            let end = start + pad + dur + pad;
            let cpus = machine::allowed_cpus().map_err(|e| format!("sched_getaffinity: {e}"))?;
            let cpu = *cpus.first().ok_or("no CPU is allowed to this process")?;
            let pin = move || {
                machine::pin_current_thread(cpu)
                    .map_err(|e| format!("pinning a thread to CPU {cpu}: {e}"))
            };
            let ticker = std::thread::Builder::new()
                .name("ticker".into())
                .spawn(move || -> Result<Vec<f64>, String> {
                    pin()?;
                    Ok(tick_until(end, std::thread::sleep))
                })
                .map_err(|e| format!("spawning the ticker: {e}"))?;
            let hogger = std::thread::Builder::new()
                .name("hog".into())
                .spawn(move || -> Result<(u64, Duration), String> {
                    pin()?;
                    std::thread::sleep((start + pad).saturating_duration_since(Instant::now()));
                    Ok(hog(false, dur))
                })
                .map_err(|e| format!("spawning the hog: {e}"))?;
            let late = ticker.join().map_err(|_| "the ticker panicked")??;
            let spun = hogger.join().map_err(|_| "the hog panicked")??;
            (late, spun)
        }
    };
    Ok(TickerOutcome {
        ticks: Ticks::from_overshoots(late)?,
        hog_iterations,
        hog_ms: as_ms(spun),
    })
}

// ---------------------------------------------------------------------------------------
// A blocking call inside a green thread.

/// How the waiting green thread waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Way {
    /// `std::thread::sleep`: a blocking system call on the worker's kernel thread.
    ThreadSleep,
    /// `weft::sleep`: the green thread parks, with a timer on its worker.
    WeftSleep,
    /// `weft::blocking(|| std::thread::sleep(..))`: the call runs on the blocking pool,
    /// the green thread parks.
    Blocking,
}

impl Way {
    /// Every way, in table order.
    pub const ALL: [Way; 3] = [Way::ThreadSleep, Way::WeftSleep, Way::Blocking];

    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            Way::ThreadSleep => "std::thread::sleep",
            Way::WeftSleep => "weft::sleep",
            Way::Blocking => "weft::blocking(std::thread::sleep)",
        }
    }

    fn wait(self, d: Duration) {
        match self {
            Way::ThreadSleep => std::thread::sleep(d),
            Way::WeftSleep => weft::sleep(d),
            Way::Blocking => weft::blocking(move || std::thread::sleep(d)),
        }
    }
}

/// Parameters of a blocking-call probe.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct BlockingSpec {
    /// How the green thread waits.
    pub way: Way,
    /// How long it waits, milliseconds.
    pub wait_ms: u64,
    /// How long the ticker ticks alone before and after the wait, milliseconds.
    pub pad_ms: u64,
    /// The watchdog's slice, milliseconds.
    pub slice_ms: u64,
}

/// What one blocking-call probe found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockingOutcome {
    /// The ticker's ticks.
    pub ticks: Ticks,
    /// How long the wait lasted, milliseconds.
    pub waited_ms: f64,
    /// The watchdog's reports made on detection (`ended == false`).
    pub reports: usize,
    /// The first such report's delay after the wait began, milliseconds.
    pub first_delay_ms: Option<f64>,
    /// What the first report said the worker was doing.
    pub first_kind: Option<String>,
    /// The first report as the watchdog prints it.
    pub first_text: Option<String>,
}

/// A watchdog report as this probe keeps it: when it came, and the report.
type Seen = (Instant, weft::runtime::watchdog::Stall);

fn kind_text(kind: &weft::runtime::watchdog::StallKind) -> String {
    use weft::runtime::watchdog::StallKind;
    match kind {
        StallKind::Running => "running (computing)".to_owned(),
        StallKind::Blocked { syscall: Some(s) } => format!("blocked in {s}"),
        StallKind::Blocked { syscall: None } => "blocked in a system call".to_owned(),
        other => format!("{other:?}"),
    }
}

/// Runs a blocking-call probe here.
pub fn run_blocking(spec: &BlockingSpec) -> Result<BlockingOutcome, String> {
    let (pad, wait) = (ms(spec.pad_ms), ms(spec.wait_ms));
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let rt = weft::Runtime::builder()
        .workers(1)
        .watchdog(ms(spec.slice_ms))
        .on_stall(move |s| {
            let now = Instant::now();
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((now, s.clone()));
        })
        .build()
        .map_err(|e| format!("building a 1-worker weft runtime with a watchdog: {e}"))?;
    let start = Instant::now();
    let end = start + pad + wait + pad;
    let ticker = weft::Builder::new()
        .spawn_on(&rt, move || tick_until(end, weft::sleep))
        .map_err(|e| format!("spawning the ticker: {e}"))?;
    let way = spec.way;
    let waiter = weft::Builder::new()
        .spawn_on(&rt, move || {
            weft::sleep_until(start + pad);
            let began = Instant::now();
            way.wait(wait);
            (began, began.elapsed())
        })
        .map_err(|e| format!("spawning the waiting green thread: {e}"))?;
    let late = ticker.join().map_err(|_| "the ticker panicked")?;
    let (began, waited) = waiter
        .join()
        .map_err(|_| "the waiting green thread panicked")?;
    drop(rt); // stops the watchdog
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    let detected: Vec<&Seen> = seen.iter().filter(|(_, s)| !s.ended).collect();
    let first = detected.first();
    Ok(BlockingOutcome {
        ticks: Ticks::from_overshoots(late)?,
        waited_ms: as_ms(waited),
        reports: detected.len(),
        first_delay_ms: first.map(|(at, _)| as_ms(at.saturating_duration_since(began))),
        first_kind: first.map(|(_, s)| kind_text(&s.kind)),
        first_text: first.map(|(_, s)| s.to_string()),
    })
}

// ---------------------------------------------------------------------------------------
// Echo: many connections held at once.

/// An echo server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Server {
    /// `weft::net` on a 2-worker weft runtime, a green thread per connection.
    Weft,
    /// `tokio::net` on a 2-worker multi-thread tokio runtime, a task per connection.
    Tokio,
    /// `std::net`, a kernel thread per connection (64 KiB stacks).
    StdThreads,
}

impl Server {
    /// Every server, in table order.
    pub const ALL: [Server; 3] = [Server::Weft, Server::Tokio, Server::StdThreads];

    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            Server::Weft => "weft",
            Server::Tokio => "tokio",
            Server::StdThreads => "std threads",
        }
    }

    /// What holds a connection.
    pub fn runs_on(self) -> &'static str {
        match self {
            Server::Weft => "a green thread each, 2 workers (weft::net)",
            Server::Tokio => "a task each, 2 workers (tokio::net)",
            Server::StdThreads => "a kernel thread each, 64 KiB stacks (std::net)",
        }
    }
}

/// Parameters of an echo probe (the server's process).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct EchoSpec {
    /// The server.
    pub server: Server,
    /// Connections the clients open.
    pub connections: usize,
    /// Request/response rounds on each connection.
    pub rounds: usize,
}

/// Parameters of the clients' process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientSpec {
    /// The server's address.
    pub addr: String,
    /// Connections to open.
    pub connections: usize,
    /// Rounds on each.
    pub rounds: usize,
}

/// What the clients found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientOutcome {
    /// Connections set up (their first echo came back).
    pub connected: usize,
    /// Connections that did every round.
    pub completed: usize,
    /// The first error of a connection, and how many failed.
    pub first_error: Option<String>,
    /// Connections that failed.
    pub failed: usize,
    /// Time to set every connection up, milliseconds.
    pub setup_ms: f64,
    /// Round trips done in the rounds phase.
    pub messages: u64,
    /// The rounds phase, from the barrier's release to the last reply, milliseconds.
    pub rounds_ms: f64,
    /// Median round trip, nanoseconds.
    pub p50_ns: Option<f64>,
    /// 99th percentile round trip, nanoseconds.
    pub p99_ns: Option<f64>,
}

impl ClientOutcome {
    /// Round trips per second over the rounds phase.
    pub fn per_second(&self) -> Option<f64> {
        (self.rounds_ms > 0.0 && self.messages > 0)
            .then(|| self.messages as f64 / (self.rounds_ms / 1e3))
    }
}

/// What one echo probe found: the server's counts and the clients' figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EchoOutcome {
    /// Connections the server held at once, at the most.
    pub peak: usize,
    /// Connections the server accepted.
    pub accepted: usize,
    /// Connections that ended with an error on the server's side (or accept errors).
    pub server_errors: usize,
    /// The first of those errors.
    pub server_error: Option<String>,
    /// The clients' figures.
    pub clients: ClientOutcome,
}

/// Raises the soft descriptor limit to at least `want` (to the hard limit at most).
///
/// # Errors
///
/// When the hard limit is below `want`, or the calls fail.
pub fn raise_nofile(want: u64) -> Result<(), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given, which is valid and writable.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!(
            "getrlimit(RLIMIT_NOFILE): {}",
            io::Error::last_os_error()
        ));
    }
    if lim.rlim_cur >= want {
        return Ok(());
    }
    if lim.rlim_max < want {
        return Err(format!(
            "RLIMIT_NOFILE's hard limit is {} here, and this process needs {want} descriptors \
             (raise it with ulimit -Hn, or run a smaller profile)",
            lim.rlim_max
        ));
    }
    let new = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads the struct it is given, which is valid.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
        return Err(format!(
            "setrlimit(RLIMIT_NOFILE, {want}): {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Descriptors a process with `connections` sockets needs, with room for the rest.
fn descriptors(connections: usize) -> u64 {
    connections as u64 + 256
}

/// The server's counts, shared by its connections.
#[derive(Debug, Default)]
struct Counters {
    live: AtomicUsize,
    closed: AtomicUsize,
    peak: AtomicUsize,
    accepted: AtomicUsize,
    errors: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

impl Counters {
    fn opened(&self) {
        self.accepted.fetch_add(1, Ordering::SeqCst);
        let now = self.live.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn finished(&self, r: io::Result<()>) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.closed.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = r {
            self.error(format!("a connection: {e}"));
        }
    }

    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::SeqCst);
        self.first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(e);
    }
}

/// Echoes until end of stream: reads up to [`MSG`] bytes, writes them back.
fn echo<S: Read + Write>(mut s: S) -> io::Result<()> {
    let mut buf = [0u8; MSG];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n])?;
    }
}

async fn echo_tokio(mut s: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; MSG];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n]).await?;
    }
}

/// A running server: what must live while the clients run.
enum Running {
    Weft(weft::Runtime),
    Tokio(tokio::runtime::Runtime),
    Threads,
}

impl Running {
    /// Stops the server (its accept loop is left waiting: the process ends next).
    fn stop(self) {
        match self {
            Running::Weft(rt) => drop(rt),
            Running::Tokio(rt) => rt.shutdown_timeout(Duration::from_secs(1)),
            Running::Threads => {}
        }
    }
}

/// Starts `server` on a loopback port; every listener is std's (backlog 128) or weft's
/// (the same backlog).
fn start(server: Server, c: &Arc<Counters>) -> Result<(SocketAddr, Running), String> {
    let bind = |e: io::Error| format!("binding 127.0.0.1:0: {e}");
    match server {
        Server::Weft => {
            let rt = weft::Runtime::builder()
                .workers(2)
                .build()
                .map_err(|e| format!("building a 2-worker weft runtime: {e}"))?;
            let listener = weft::net::TcpListener::bind("127.0.0.1:0").map_err(bind)?;
            let addr = listener.local_addr().map_err(bind)?;
            let c = Arc::clone(c);
            // Detached: the accept loop runs until the process ends.
            let _accept_loop = weft::Builder::new()
                .spawn_on(&rt, move || loop {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let _ = s.set_nodelay(true);
                            c.opened();
                            let c2 = Arc::clone(&c);
                            if let Err(e) = weft::Builder::new().spawn(move || c2.finished(echo(s)))
                            {
                                c.finished(Err(e));
                            }
                        }
                        Err(e) => {
                            c.error(format!("accept: {e}"));
                            weft::sleep(Duration::from_millis(1));
                        }
                    }
                })
                .map_err(|e| format!("spawning the accept loop: {e}"))?;
            Ok((addr, Running::Weft(rt)))
        }
        Server::Tokio => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| format!("building a 2-worker tokio runtime: {e}"))?;
            let std_listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(bind)?;
            let addr = std_listener.local_addr().map_err(bind)?;
            std_listener.set_nonblocking(true).map_err(bind)?;
            let listener = {
                let _in = rt.enter();
                tokio::net::TcpListener::from_std(std_listener).map_err(bind)?
            };
            let c = Arc::clone(c);
            rt.spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((s, _)) => {
                            let _ = s.set_nodelay(true);
                            c.opened();
                            let c2 = Arc::clone(&c);
                            tokio::spawn(async move { c2.finished(echo_tokio(s).await) });
                        }
                        Err(e) => {
                            c.error(format!("accept: {e}"));
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                }
            });
            Ok((addr, Running::Tokio(rt)))
        }
        Server::StdThreads => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(bind)?;
            let addr = listener.local_addr().map_err(bind)?;
            let c = Arc::clone(c);
            std::thread::Builder::new()
                .name("accept".into())
                .spawn(move || loop {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let _ = s.set_nodelay(true);
                            c.opened();
                            let c2 = Arc::clone(&c);
                            let spawned = std::thread::Builder::new()
                                .stack_size(SERVER_THREAD_STACK)
                                .spawn(move || c2.finished(echo(s)));
                            if let Err(e) = spawned {
                                c.finished(Err(e));
                            }
                        }
                        Err(e) => {
                            c.error(format!("accept: {e}"));
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                })
                .map_err(|e| format!("spawning the accept thread: {e}"))?;
            Ok((addr, Running::Threads))
        }
    }
}

/// Runs an echo probe here: starts the server, runs the clients with `clients` (in
/// another process), waits until the server has seen every connection close.
pub fn run_echo(
    spec: &EchoSpec,
    clients: impl FnOnce(&ClientSpec) -> Result<ClientOutcome, String>,
) -> Result<EchoOutcome, String> {
    raise_nofile(descriptors(spec.connections))?;
    let counters = Arc::new(Counters::default());
    let (addr, running) = start(spec.server, &counters)?;
    let outcome = clients(&ClientSpec {
        addr: addr.to_string(),
        connections: spec.connections,
        rounds: spec.rounds,
    })?;
    // The clients have closed: the server sees the ends of stream soon.
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters.closed.load(Ordering::SeqCst) < outcome.connected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let server_error = counters
        .first_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let found = EchoOutcome {
        peak: counters.peak.load(Ordering::SeqCst),
        accepted: counters.accepted.load(Ordering::SeqCst),
        server_errors: counters.errors.load(Ordering::SeqCst),
        server_error,
        clients: outcome,
    };
    running.stop();
    Ok(found)
}

/// The request of connection `id` in round `round`.
fn payload(id: usize, round: usize) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    for (i, b) in m.iter_mut().enumerate() {
        *b = (id.wrapping_mul(131) ^ round.wrapping_mul(17) ^ i.wrapping_mul(7)) as u8;
    }
    m
}

/// One client connection's figures.
#[derive(Debug)]
struct Conn {
    connected: bool,
    /// When it had set up (its first echo came back).
    set_up: Instant,
    /// When it left the barrier that starts the rounds.
    released: Instant,
    /// When its last reply came.
    last_reply: Option<Instant>,
    /// Round trips, nanoseconds.
    rtts: Vec<u32>,
    error: Option<String>,
}

/// One request and its echo, checked.
fn round_trip(s: &mut weft::net::TcpStream, msg: &[u8; MSG]) -> io::Result<()> {
    s.write_all(msg)?;
    let mut back = [0u8; MSG];
    s.read_exact(&mut back)?;
    if &back != msg {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the echo differs from the request",
        ));
    }
    Ok(())
}

fn set_up(
    id: usize,
    addr: SocketAddr,
    gate: &weft::sync::Semaphore,
) -> Result<weft::net::TcpStream, String> {
    let _permit = gate
        .acquire(1)
        .map_err(|e| format!("the connection gate: {e:?}"))?;
    let mut s = weft::net::TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true)
        .and_then(|()| s.set_read_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("setting the socket up: {e}"))?;
    round_trip(&mut s, &payload(id, usize::MAX)).map_err(|e| format!("first echo: {e}"))?;
    Ok(s)
}

fn client(
    id: usize,
    addr: SocketAddr,
    rounds: usize,
    gate: &weft::sync::Semaphore,
    barriers: &[weft::sync::Barrier; 2],
) -> Conn {
    let stream = set_up(id, addr, gate);
    let set_up = Instant::now();
    barriers[0].wait();
    let released = Instant::now();
    let mut conn = Conn {
        connected: stream.is_ok(),
        set_up,
        released,
        last_reply: None,
        rtts: Vec::with_capacity(rounds),
        error: None,
    };
    match stream {
        Ok(mut s) => {
            for round in 0..rounds {
                let msg = payload(id, round);
                let t = Instant::now();
                if let Err(e) = round_trip(&mut s, &msg) {
                    conn.error = Some(format!("round {round}: {e}"));
                    break;
                }
                let now = Instant::now();
                conn.rtts
                    .push(u32::try_from((now - t).as_nanos()).unwrap_or(u32::MAX));
                conn.last_reply = Some(now);
            }
            // Held open until every connection has done its rounds.
            barriers[1].wait();
            drop(s);
        }
        Err(e) => {
            conn.error = Some(e);
            barriers[1].wait();
        }
    }
    conn
}

/// Runs the clients here (the grandchild process of an echo probe).
pub fn run_clients(spec: &ClientSpec) -> Result<ClientOutcome, String> {
    let addr: SocketAddr = spec
        .addr
        .parse()
        .map_err(|e| format!("not a socket address: {:?}: {e}", spec.addr))?;
    if spec.connections == 0 {
        return Err("no connections to open".into());
    }
    raise_nofile(descriptors(spec.connections))?;
    let rt = weft::Runtime::builder()
        .workers(2)
        .build()
        .map_err(|e| format!("building the clients' 2-worker weft runtime: {e}"))?;
    let (n, rounds) = (spec.connections, spec.rounds);
    rt.block_on(move || -> Result<ClientOutcome, String> {
        let gate = Arc::new(weft::sync::Semaphore::new(CONNECTING));
        let barriers = Arc::new([weft::sync::Barrier::new(n), weft::sync::Barrier::new(n)]);
        let t0 = Instant::now();
        let mut handles = Vec::with_capacity(n);
        for id in 0..n {
            let (gate, barriers) = (Arc::clone(&gate), Arc::clone(&barriers));
            let h = weft::Builder::new()
                .spawn(move || client(id, addr, rounds, &gate, &barriers))
                .map_err(|e| {
                    // The others wait on the barriers for ever: end the process.
                    format!("spawning client {id} of {n}: {e}")
                })?;
            handles.push(h);
        }
        let mut conns = Vec::with_capacity(n);
        for h in handles {
            conns.push(h.join().map_err(|_| "a client green thread panicked")?);
        }
        Ok(summarize(t0, &conns))
    })
}

fn summarize(t0: Instant, conns: &[Conn]) -> ClientOutcome {
    let connected = conns.iter().filter(|c| c.connected).count();
    let failed: Vec<&String> = conns.iter().filter_map(|c| c.error.as_ref()).collect();
    let set_up = conns.iter().filter(|c| c.connected).map(|c| c.set_up).max();
    let released = conns.iter().map(|c| c.released).min();
    let last = conns.iter().filter_map(|c| c.last_reply).max();
    let mut rtts: Vec<u32> = conns.iter().flat_map(|c| c.rtts.iter().copied()).collect();
    rtts.sort_unstable();
    let rounds_ms = match (released, last) {
        (Some(r), Some(l)) => as_ms(l.saturating_duration_since(r)),
        _ => 0.0,
    };
    ClientOutcome {
        connected,
        completed: conns
            .iter()
            .filter(|c| c.connected && c.error.is_none())
            .count(),
        failed: failed.len(),
        first_error: failed.first().map(|e| (*e).clone()),
        setup_ms: set_up.map_or(0.0, |s| as_ms(s.saturating_duration_since(t0))),
        messages: rtts.len() as u64,
        rounds_ms,
        p50_ns: quantile(&rtts, 0.5).map(f64::from),
        p99_ns: quantile(&rtts, 0.99).map(f64::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), Some(50));
        assert_eq!(quantile(&v, 0.99), Some(99));
        assert_eq!(quantile(&v, 1.0), Some(100));
        assert_eq!(quantile(&v, 0.0), Some(1));
        assert_eq!(quantile::<u32>(&[], 0.5), None);
    }

    #[test]
    fn an_echo_probe_counts_its_connections() {
        let spec = EchoSpec {
            server: Server::Weft,
            connections: 20,
            rounds: 2,
        };
        // The clients in this process (the lab runs them in another).
        let o = run_echo(&spec, run_clients).unwrap();
        assert_eq!(o.peak, 20);
        assert_eq!(o.clients.completed, 20);
        assert_eq!(o.clients.messages, 40);
        assert!(o.clients.per_second().is_some_and(|r| r > 0.0));
    }
}
