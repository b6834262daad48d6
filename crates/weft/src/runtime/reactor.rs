//! The reactor: socket readiness for green threads, on epoll (through `mio`).
//!
//! # Why epoll, and why per worker
//!
//! weft's sockets are shaped like `std::net`: `read(&mut buf)` with the caller's buffer,
//! which lives on the green thread's stack. A readiness model fits that directly: wait
//! until the socket is readable, then do the ordinary non-blocking `read` into the
//! buffer, on the thread that owns it. A completion model (io_uring) would hand the
//! buffer to the kernel while the thread is parked, so the kernel could write into a
//! stack that hibernation (issue 16) may have released, or that the thread abandons on a
//! timeout; that needs owned buffers and a copy, which is a later step. `mio` is the
//! well-kept epoll binding tokio itself uses.
//!
//! Each worker has its own reactor, made the first time one of its green threads waits
//! for a socket. The worker polls it without blocking every few dozen turns and whenever
//! its run queue runs dry, and when it has nothing to do it sleeps *in* `epoll_wait`
//! (with its next timer as the timeout) instead of on its futex; a waker (an eventfd,
//! `mio::Waker`) takes the futex's place in [`super::worker::notify`]. A socket is
//! registered with the reactor of the worker whose green thread first waits on it.
//!
//! # Readiness without lost wake-ups
//!
//! Each registered socket has an [`IoState`]: readiness bits and a tick in one atomic
//! word, and the threads waiting on it. Registration is edge-triggered, so an event is
//! reported once per change; the protocol keeps every edge:
//!
//! 1. An operation reads the word (`observed`), then tries the non-blocking system call.
//! 2. On `WouldBlock` it clears its readiness bit *only if the word still equals
//!    `observed`* (a compare-and-swap): an event that arrived since, which bumped the
//!    tick, is not erased.
//! 3. It then waits: under the waiter lock it checks the bit again and, if clear, adds
//!    itself to the waiters and parks. The dispatcher sets the bits (bumping the tick)
//!    *before* it takes the waiter lock and wakes the waiters, so either the waiter sees
//!    the bit in step 3 or the dispatcher sees the waiter.
//! 4. A woken waiter retries the system call; spurious wake-ups only cost a retry.
//!
//! Tokens are slab indices with a generation, so an event for a socket that was closed
//! meanwhile (its slot freed, perhaps reused) is recognised and dropped: no pointer is
//! ever taken from the kernel.
//!
//! # Kernel threads
//!
//! On a kernel thread the same socket behaves as std's does: the operation waits in
//! `poll(2)` on the descriptor, with the timeout if one is set.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use super::Shared;
use crate::park::WaitReason;
use crate::sync::SpinLock;
use crate::thread::Thread;

/// Readable (or closed for reading, or in error).
pub(crate) const READ: usize = 1;
/// Writable (or closed for writing, or in error).
pub(crate) const WRITE: usize = 2;
/// One tick: the part of the word above the readiness bits.
const TICK: usize = 4;

/// The waker's token (slab tokens never reach it: their index is below 2^32).
const WAKE: Token = Token(usize::MAX);

/// Events taken per `epoll_wait`.
const EVENTS: usize = 256;

pub(crate) static READING: WaitReason = WaitReason::new("socket read");
pub(crate) static WRITING: WaitReason = WaitReason::new("socket write");

use super::lock;

/// One worker's reactor.
pub(crate) struct Reactor {
    /// Polled by its worker only (the lock is never contended), with its event buffer.
    poll: Mutex<(Poll, Events)>,
    registry: mio::Registry,
    waker: mio::Waker,
    slab: Mutex<Slab>,
    /// Registered sockets: while any is, the deadlock detector keeps quiet (a socket
    /// can wake a green thread at any time).
    sources: AtomicUsize,
}

/// Registered sockets by slot, each with the generation of its occupant.
#[derive(Default)]
struct Slab {
    slots: Vec<(u32, Option<Arc<IoState>>)>,
    free: Vec<u32>,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(&registry, WAKE)?;
        Ok(Reactor {
            poll: Mutex::new((poll, Events::with_capacity(EVENTS))),
            registry,
            waker,
            slab: Mutex::new(Slab::default()),
            sources: AtomicUsize::new(0),
        })
    }

    /// Wakes the worker out of `epoll_wait` (or makes its next one return at once).
    pub(crate) fn wake(&self) {
        // An eventfd write fails only if the counter would overflow, and then the
        // worker has a wake-up pending anyway.
        let _ = self.waker.wake();
    }

    /// `true` while a socket is registered.
    pub(crate) fn has_sources(&self) -> bool {
        self.sources.load(Ordering::SeqCst) > 0
    }

    /// Waits for events (at most `timeout`; `Some(ZERO)` only looks) and wakes the
    /// threads waiting on them. `true` when a socket event was delivered.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> bool {
        let mut guard = lock(&self.poll);
        let (poll, events) = &mut *guard;
        if poll.poll(events, timeout).is_err() {
            // EINTR (a signal, such as a profiler's): the caller simply looks again.
            return false;
        }
        let mut any = false;
        for e in events.iter() {
            if e.token() == WAKE {
                continue;
            }
            let mut bits = 0;
            if e.is_readable() || e.is_read_closed() || e.is_error() {
                bits |= READ;
            }
            if e.is_writable() || e.is_write_closed() || e.is_error() {
                bits |= WRITE;
            }
            if let Some(io) = self.lookup(e.token()) {
                io.set_ready(bits);
                any = true;
            }
        }
        any
    }

    fn lookup(&self, token: Token) -> Option<Arc<IoState>> {
        let (index, generation) = (token.0 & 0xffff_ffff, (token.0 >> 32) as u32);
        let slab = lock(&self.slab);
        match slab.slots.get(index) {
            Some((g, Some(io))) if *g == generation => Some(io.clone()),
            _ => None,
        }
    }

    /// Registers `source` for read and write readiness (edge-triggered).
    fn register(&self, source: &mut impl mio::event::Source) -> io::Result<(Token, Arc<IoState>)> {
        let io = Arc::new(IoState::default());
        let token = {
            let mut slab = lock(&self.slab);
            let index = match slab.free.pop() {
                Some(i) => i,
                None => {
                    let i = u32::try_from(slab.slots.len()).map_err(|_| {
                        io::Error::other("more than 2^32 sockets registered on one worker")
                    })?;
                    slab.slots.push((0, None));
                    i
                }
            };
            let slot = &mut slab.slots[index as usize];
            slot.0 = slot.0.wrapping_add(1);
            slot.1 = Some(io.clone());
            Token((u64::from(slot.0) << 32 | u64::from(index)) as usize)
        };
        if let Err(e) =
            self.registry
                .register(source, token, Interest::READABLE | Interest::WRITABLE)
        {
            self.free(token);
            return Err(e);
        }
        self.sources.fetch_add(1, Ordering::SeqCst);
        Ok((token, io))
    }

    fn free(&self, token: Token) {
        let index = token.0 & 0xffff_ffff;
        let mut slab = lock(&self.slab);
        if let Some(slot) = slab.slots.get_mut(index) {
            slot.1 = None;
            slab.free.push(index as u32);
        }
    }
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("sources", &self.sources.load(Ordering::Relaxed))
            .finish()
    }
}

/// The readiness of one registered socket and the threads waiting on it (see the
/// module docs for the protocol).
#[derive(Default)]
pub(crate) struct IoState {
    /// Readiness bits, and above them a tick bumped by every event.
    word: AtomicUsize,
    waiters: SpinLock<Vec<(Thread, usize)>>,
}

impl IoState {
    fn set_ready(&self, bits: usize) {
        self.word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                Some((w | bits).wrapping_add(TICK))
            })
            .ok();
        let woken: Vec<Thread> = {
            let mut w = self.waiters.lock();
            let mut woken = Vec::new();
            w.retain(|(t, interest)| {
                if interest & bits != 0 {
                    woken.push(t.clone());
                    false
                } else {
                    true
                }
            });
            woken
        };
        for t in woken {
            t.unpark();
        }
    }

    /// Clears `interest` if no event came since `observed` was read (step 2).
    fn clear(&self, interest: usize, observed: usize) {
        let _ = self.word.compare_exchange(
            observed,
            observed & !interest,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }

    /// Parks the calling green thread until `interest` is ready or `deadline` passes
    /// (then `false`).
    fn wait(&self, interest: usize, deadline: Option<Instant>) -> bool {
        let me = crate::thread::current();
        let reason = if interest == READ { &READING } else { &WRITING };
        loop {
            {
                let mut w = self.waiters.lock();
                w.retain(|(t, _)| !std::sync::Arc::ptr_eq(&t.inner, &me.inner));
                if self.word.load(Ordering::Acquire) & interest != 0 {
                    return true;
                }
                w.push((me.clone(), interest));
            }
            let timed_out = crate::park::park_on(reason, deadline).timed_out();
            if self.word.load(Ordering::Acquire) & interest != 0 {
                self.forget(&me);
                return true;
            }
            if timed_out {
                self.forget(&me);
                return false;
            }
        }
    }

    fn forget(&self, me: &Thread) {
        self.waiters
            .lock()
            .retain(|(t, _)| !std::sync::Arc::ptr_eq(&t.inner, &me.inner));
    }
}

/// A socket's registration with one worker's reactor. Dropping it takes the
/// descriptor out of epoll and frees its slot, so a socket declares its [`RegCell`]
/// *before* the descriptor: fields drop in order, and the descriptor is still open here.
pub(crate) struct Registration {
    rt: Arc<Shared>,
    worker: usize,
    fd: RawFd,
    token: Token,
    io: Arc<IoState>,
}

impl Registration {
    fn reactor(&self) -> &Reactor {
        self.rt.workers[self.worker]
            .reactor
            .get()
            .expect("a registration's reactor exists")
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("worker", &self.worker)
            .finish()
    }
}

/// Registers the socket `fd` with the reactor of the worker running the calling green
/// thread, making that reactor if this is the first socket there.
fn register_here(fd: RawFd) -> io::Result<Registration> {
    let (rt, worker) = super::worker::with_local(|l| l.map(|l| (l.shared.clone(), l.index)))
        .ok_or_else(|| io::Error::other("registering a socket outside a weft worker"))?;
    let w = &rt.workers[worker];
    if w.reactor.get().is_none() {
        // Only this worker's own green threads make its reactor, one at a time, so the
        // cell is still empty here.
        let _ = w.reactor.set(Reactor::new()?);
    }
    let reactor = w.reactor.get().expect("the reactor was just made");
    // mio registers through `&mut` of a source; a `SourceFd` of the descriptor stands
    // in for the socket, which we only borrow.
    let (token, io) = reactor.register(&mut mio::unix::SourceFd(&fd))?;
    Ok(Registration {
        rt: rt.clone(),
        worker,
        fd,
        token,
        io,
    })
}

/// A socket's registration cell: empty until a green thread first waits on it; a
/// failed registration is kept as its error.
pub(crate) type RegCell = std::sync::OnceLock<Result<Registration, io::ErrorKind>>;

/// Runs the non-blocking operation `op` on a socket until it does not return
/// `WouldBlock`, waiting for `interest` in between: in the reactor on a green thread
/// (`reg` holds the socket's registration, made on first need), in
/// `poll(2)` on a kernel thread. Past `deadline` it fails with `WouldBlock`, as std's
/// timed-out socket operations do on Linux.
pub(crate) fn io_op<R>(
    fd: RawFd,
    reg: &RegCell,
    interest: usize,
    deadline: Option<Instant>,
    mut op: impl FnMut() -> io::Result<R>,
) -> io::Result<R> {
    crate::runtime::coop::spend();
    loop {
        let observed = match reg.get() {
            Some(Ok(r)) => Some(r.io.word.load(Ordering::Acquire)),
            _ => None,
        };
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(timed_out());
        }
        if crate::runtime::worker::current_green_inner().is_none() {
            poll_fd(fd, interest, deadline)?;
            continue;
        }
        let Some(observed) = observed else {
            // First wait on a green thread: register (once, even when several threads
            // race here: `get_or_init` runs one initialiser). The kernel reports the
            // current readiness as an event, so the operation is tried again at once.
            let made = reg.get_or_init(|| register_here(fd).map_err(|e| e.kind()));
            if let Err(kind) = made {
                return Err(io::Error::new(
                    *kind,
                    "registering the socket with the worker's reactor failed",
                ));
            }
            continue;
        };
        let Some(Ok(r)) = reg.get() else {
            unreachable!("an observed word comes from a registration")
        };
        r.io.clear(interest, observed);
        if !r.io.wait(interest, deadline) {
            return Err(timed_out());
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::WouldBlock, "the socket operation timed out")
}

/// Waits in `poll(2)` until `fd` is ready for `interest` or `deadline` passes (then a
/// timed-out error).
fn poll_fd(fd: RawFd, interest: usize, deadline: Option<Instant>) -> io::Result<()> {
    let mut events = 0;
    if interest & READ != 0 {
        events |= libc::POLLIN;
    }
    if interest & WRITE != 0 {
        events |= libc::POLLOUT;
    }
    loop {
        let timeout = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(timed_out());
                }
                // Round up, so the wait never ends early.
                i32::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
            }
        };
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: `p` is one valid, initialised `pollfd` that outlives the call, and we
        // pass a count of 1; `poll` only reads `fd`/`events` and writes `revents`.
        let n = unsafe { libc::poll(&mut p, 1, timeout) };
        match n {
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            0 => {}
            _ => return Ok(()),
        }
    }
}

impl Drop for Registration {
    /// Takes the descriptor out of epoll and frees the slot: late events for it are
    /// dropped.
    fn drop(&mut self) {
        let r = self.reactor();
        let _ = r.registry.deregister(&mut mio::unix::SourceFd(&self.fd));
        r.free(self.token);
        r.sources.fetch_sub(1, Ordering::SeqCst);
    }
}
