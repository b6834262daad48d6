//! Spawning and joining green threads.
//!
//! A spawned green thread's result travels in a *packet* shared with its
//! [`JoinHandle`]. The packet's state word goes `RUNNING → WAITING` when a joiner has
//! stored its handle and is about to park, and to `DONE` when the thread has stored its
//! result; whoever moves it second learns of the other: the joiner finds the result, or
//! the finishing thread finds the joiner and unparks it.

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Once};
use std::thread::Result as ThreadResult;

use crate::park::{park_on, WaitReason};
use crate::runtime::stack::{self, GreenStack};
use crate::runtime::worker::Fresh;
use crate::runtime::{coop, deadlock, Runtime, Shared};
use crate::thread::Thread;

static JOIN: WaitReason = WaitReason::new("join");

const RUNNING: u8 = 0;
const WAITING: u8 = 1;
const DONE: u8 = 2;

/// The result slot shared by a green thread and its join handle.
pub(crate) struct Packet<T> {
    state: AtomicU8,
    /// Written once by the thread before `DONE`; read by the joiner after seeing `DONE`.
    result: UnsafeCell<Option<ThreadResult<T>>>,
    /// Written once by the joiner before `WAITING`; read by the thread after seeing
    /// `WAITING`.
    joiner: UnsafeCell<Option<Thread>>,
}

// The cells follow the state protocol above: `result` is written only by the green
// thread before it publishes `DONE` (release) and read only by the joiner after it
// observed `DONE` (acquire); `joiner` is written only by the joiner before it publishes
// `WAITING` and read only by the thread after it observed `WAITING`.
// SAFETY: so no cell is accessed by two threads without a happens-before edge; `T: Send`
// because the result moves from the green thread to the joiner.
unsafe impl<T: Send> Sync for Packet<T> {}
// SAFETY: as above; the packet only moves `T` values between threads.
unsafe impl<T: Send> Send for Packet<T> {}

impl<T> Packet<T> {
    pub(crate) fn new() -> Self {
        Packet {
            state: AtomicU8::new(RUNNING),
            result: UnsafeCell::new(None),
            joiner: UnsafeCell::new(None),
        }
    }

    /// Called once, by the green thread, when it has its result.
    pub(crate) fn finish(&self, r: ThreadResult<T>) {
        // SAFETY: only the green thread writes `result`, once, before publishing DONE;
        // no joiner reads it before observing DONE.
        unsafe { *self.result.get() = Some(r) };
        if self.state.swap(DONE, Ordering::AcqRel) == WAITING {
            // SAFETY: WAITING was published (release) after the joiner wrote `joiner`,
            // and the joiner does not touch it again.
            if let Some(j) = unsafe { (*self.joiner.get()).take() } {
                j.unpark();
            }
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// Blocks the calling thread (green or kernel) until the result is in, then takes it.
    /// Called at most once per packet.
    #[track_caller]
    pub(crate) fn wait(&self) -> ThreadResult<T> {
        if !self.is_finished() {
            let me = crate::current();
            let green = me.is_green();
            // SAFETY: the joiner is the only writer of `joiner`, and writes it before
            // publishing WAITING; the thread reads it only after seeing WAITING.
            unsafe { *self.joiner.get() = Some(me) };
            if self
                .state
                .compare_exchange(RUNNING, WAITING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                if green {
                    while !self.is_finished() {
                        let _ = park_on(&JOIN, None);
                    }
                } else {
                    let guard = deadlock::join_waiter();
                    while !self.is_finished() {
                        let _ = park_on(&JOIN, None);
                        if !self.is_finished() {
                            if let Some(report) = guard.0.take_report() {
                                drop(guard);
                                panic!("{report}");
                            }
                        }
                    }
                }
            }
        }
        // SAFETY: DONE was observed with acquire ordering, so the thread's write of
        // `result` happened before; the thread never touches it again, and `wait` is
        // called at most once, so this is the only access.
        unsafe { (*self.result.get()).take() }.expect("a finished packet holds its result")
    }
}

/// An owned permission to join a green thread (wait for it and take its result).
///
/// Dropping the handle detaches the thread: it keeps running, and its result is
/// dropped when it finishes.
#[must_use = "dropping a JoinHandle detaches the thread; call `join` to wait for it"]
pub struct JoinHandle<T> {
    packet: Arc<Packet<T>>,
    thread: Thread,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish and returns its result, or the payload of its
    /// panic. From a green thread this parks only that green thread; from a kernel
    /// thread it blocks, and panics with a report if the runtime proves a deadlock
    /// (see the crate docs).
    #[track_caller]
    pub fn join(self) -> ThreadResult<T> {
        self.packet.wait()
    }

    /// `true` once the thread has finished (its result is ready).
    pub fn is_finished(&self) -> bool {
        self.packet.is_finished()
    }

    /// The thread's handle.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.thread)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Configures a green thread before spawning it: its name and stack size.
///
/// ```
/// let h = weft::Builder::new()
///     .name("worker".into())
///     .stack_size(256 * 1024)
///     .spawn(|| weft::current().name().map(String::from))?;
/// assert_eq!(h.join().unwrap().as_deref(), Some("worker"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
#[must_use = "a builder does nothing until `spawn` is called"]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the default stack size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the thread (shown in panic messages, overflow and deadlock reports).
    pub fn name(mut self, name: String) -> Self {
        self.name = Some(name);
        self
    }

    /// The usable stack size in bytes, rounded up to a power of two; between
    /// [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE) and
    /// [`MAX_STACK_SIZE`](crate::MAX_STACK_SIZE). Only the pages the thread touches
    /// are committed.
    pub fn stack_size(mut self, size: usize) -> Self {
        self.stack_size = Some(size);
        self
    }

    /// Spawns the thread on the current runtime (the caller's, if it is a green thread;
    /// else the default runtime, started on first use).
    ///
    /// # Errors
    ///
    /// A stack size out of bounds, an exhausted stack reservation (the message names
    /// the limit), or a failure to start the default runtime.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = crate::runtime::current_shared()?;
        self.spawn_shared(&shared, f)
    }

    /// Spawns the thread on `rt`.
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`].
    pub fn spawn_on<F, T>(self, rt: &Runtime, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_shared(rt.shared(), f)
    }

    fn spawn_shared<F, T>(self, shared: &Arc<Shared>, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let packet = Arc::new(Packet::new());
        let theirs = packet.clone();
        let main = Box::new(move || {
            let r = catch_unwind(AssertUnwindSafe(f));
            theirs.finish(r);
        });
        let thread = self.launch(shared, main)?;
        Ok(JoinHandle { packet, thread })
    }

    /// Allocates the stack and queues the thread. The one place green threads are born.
    pub(crate) fn launch(
        self,
        shared: &Arc<Shared>,
        main: Box<dyn FnOnce() + Send + 'static>,
    ) -> io::Result<Thread> {
        let size = self.stack_size.unwrap_or(stack::DEFAULT_STACK_SIZE);
        let stack = GreenStack::new(size)?;
        if shared.shutdown.load(Ordering::Acquire) {
            return Err(io::Error::other("the weft runtime is shutting down"));
        }
        install_panic_hook();
        let thread = Thread::new_green(self.name, shared.clone(), stack.size());
        shared.submit(Fresh {
            thread: thread.clone(),
            main,
            stack,
        });
        coop::spend();
        Ok(thread)
    }
}

/// Spawns a green thread with the default settings and returns its handle.
///
/// Called from a green thread, the new thread joins that thread's runtime (a custom
/// [`Runtime`] included). Called from a kernel thread, it goes to the default runtime,
/// which the first such call starts (one worker per available CPU), so this works from
/// a plain `fn main` and from `#[test]`; use [`Runtime::spawn`] to pick a runtime.
///
/// # Panics
///
/// When the thread cannot be created (see [`Builder::spawn`]), as
/// `std::thread::spawn` does.
///
/// ```
/// let h = weft::spawn(|| 1 + 1);
/// assert_eq!(h.join().unwrap(), 2);
/// ```
///
/// A green thread may run on another kernel thread than its spawner, so what it takes
/// along must be `Send`; this does not compile:
///
/// ```compile_fail
/// let shared = std::rc::Rc::new(5);
/// weft::spawn(move || *shared + 1);
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new()
        .spawn(f)
        .unwrap_or_else(|e| panic!("weft: failed to spawn a green thread: {e}"))
}

/// Reports panics of green threads the way Rust reports those of kernel threads, with
/// the *green* thread's name (the default hook would name the worker).
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    // `take_hook`/`set_hook` panic on a thread that is panicking (a spawn from a `Drop`
    // during unwinding), which would abort: install it at a later spawn instead.
    if std::thread::panicking() {
        return;
    }
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let Some(me) = crate::runtime::worker::current_green() else {
                return previous(info);
            };
            static NOTE: AtomicBool = AtomicBool::new(false);
            let name = me.name().unwrap_or("<unnamed>");
            let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                *s
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.as_str()
            } else {
                "Box<dyn Any>"
            };
            let mut out = format!("\nthread '{name}' panicked");
            if let Some(l) = info.location() {
                out += &format!(" at {}:{}:{}", l.file(), l.line(), l.column());
            }
            out += &format!(":\n{msg}\n");
            let bt = std::backtrace::Backtrace::capture();
            if bt.status() == std::backtrace::BacktraceStatus::Captured {
                out += &format!("stack backtrace:\n{bt}\n");
            } else if !NOTE.swap(true, Ordering::Relaxed) {
                out += "note: run with `RUST_BACKTRACE=1` environment variable to display a \
                        backtrace\n";
            }
            use std::io::Write;
            let _ = std::io::stderr().lock().write_all(out.as_bytes());
        }));
    });
}

/// Marker making a type invariant in a lifetime (as `std::thread::Scope` is).
pub(crate) type Invariant<'a> = PhantomData<&'a mut &'a ()>;

#[cfg(test)]
mod tests {
    //! The join packet's protocol between kernel threads; also runs under Miri.
    use super::*;

    #[test]
    fn packet_hands_the_result_over_in_both_orders() {
        let rounds = if cfg!(miri) { 20 } else { 2_000 };
        for i in 0..rounds {
            let p = Arc::new(Packet::new());
            let q = p.clone();
            let finisher = std::thread::spawn(move || {
                if i % 2 == 0 {
                    std::thread::yield_now();
                }
                q.finish(Ok(vec![i; 3]));
            });
            if i % 3 == 0 {
                std::thread::yield_now();
            }
            assert_eq!(p.wait().unwrap(), vec![i; 3]);
            assert!(p.is_finished());
            finisher.join().unwrap();
        }
    }

    #[test]
    fn packet_carries_a_panic_payload() {
        let p: Arc<Packet<u8>> = Arc::new(Packet::new());
        let q = p.clone();
        std::thread::spawn(move || q.finish(Err(Box::new("payload"))))
            .join()
            .unwrap();
        let e = p.wait().unwrap_err();
        assert_eq!(*e.downcast::<&str>().unwrap(), "payload");
    }
}
