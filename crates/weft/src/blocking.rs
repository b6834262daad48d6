//! Offloading blocking calls: [`blocking`] runs a closure on a bounded pool of kernel
//! threads and parks the calling green thread until it returns.
//!
//! A green thread that calls something that blocks its kernel thread (a file read, a
//! DNS lookup, a C library, `std::thread::sleep`) stops its whole worker: every other
//! green thread of that worker waits too. Wrapping the call in [`blocking`] moves it to
//! a pool thread; only the caller waits, parked, and its worker runs the others.
//!
//! The pool starts empty, adds a thread when a job finds none idle (up to
//! [`MAX_THREADS`]; beyond that jobs queue in order), and a thread that has been idle
//! for [`KEEP_ALIVE`] exits. Called from a kernel thread, [`blocking`] simply runs the
//! closure there: that thread may block anyway.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// At most this many pool threads run at once.
pub const MAX_THREADS: usize = 512;

/// A pool thread idle this long exits.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    idle: usize,
    threads: usize,
}

#[derive(Default)]
struct Pool {
    state: Mutex<State>,
    ready: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::default)
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`. When no pool thread exists and none can be started, hands every
    /// queued job back (`job` among them) for the caller to run itself.
    fn submit(&'static self, job: Job) -> Result<(), Vec<Job>> {
        // Called from green threads: never preempted holding the pool's lock.
        let mut st = crate::critical::lock(&self.state);
        st.jobs.push_back(job);
        if st.idle > 0 {
            drop(st);
            self.ready.notify_one();
            return Ok(());
        }
        if st.threads >= MAX_THREADS {
            return Ok(());
        }
        st.threads += 1;
        drop(st);
        let spawned = std::thread::Builder::new()
            .name("weft-blocking".into())
            .spawn(move || self.work());
        if spawned.is_err() {
            let mut st = crate::critical::lock(&self.state);
            st.threads -= 1;
            if st.threads == 0 {
                // No thread would ever take them.
                return Err(st.jobs.drain(..).collect());
            }
        }
        Ok(())
    }

    fn work(&self) {
        let mut st = self.lock();
        loop {
            if let Some(job) = st.jobs.pop_front() {
                drop(st);
                job();
                st = self.lock();
                continue;
            }
            st.idle += 1;
            let (g, waited) = self
                .ready
                .wait_timeout(st, KEEP_ALIVE)
                .unwrap_or_else(PoisonError::into_inner);
            st = g;
            st.idle -= 1;
            if waited.timed_out() && st.jobs.is_empty() {
                st.threads -= 1;
                return;
            }
        }
    }
}

/// Runs `f` on a pool kernel thread and parks the calling green thread until it
/// returns; a panic in `f` is resumed in the caller. On a kernel thread, runs `f`
/// there.
///
/// ```
/// use std::time::Duration;
///
/// let h = weft::spawn(|| {
///     // Blocks a pool thread, not this green thread's worker.
///     weft::blocking(|| {
///         std::thread::sleep(Duration::from_millis(5));
///         std::thread::current().name().map(str::to_owned)
///     })
/// });
/// assert_eq!(h.join().unwrap().as_deref(), Some("weft-blocking"));
/// ```
///
/// # Panics
///
/// When `f` panics (the panic is `f`'s, resumed here).
pub fn blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    if crate::runtime::worker::current_green_inner().is_none() {
        return f();
    }
    let (tx, rx) = crate::csp::bounded(1);
    let job: Job = Box::new(move || {
        let r = panic::catch_unwind(AssertUnwindSafe(f));
        // The caller waits for this value; it cannot have gone (it parks until it comes).
        let _ = tx.send(r);
    });
    if let Err(jobs) = pool().submit(job) {
        for job in jobs {
            job();
        }
    }
    match rx.recv() {
        Ok(Ok(v)) => v,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        // The job always sends before its sender is dropped.
        Err(_) => unreachable!("a blocking job ended without its result"),
    }
}
