//! The worker loop: one kernel thread that runs green threads.
//!
//! # Queues
//!
//! Each worker has
//!
//! * a **run queue** of its started green threads that are ready (`runnable`, owned by
//!   the worker: no atomics on the yield path),
//! * an **inbox** (a lock-free MPSC queue) where other kernel threads put its started
//!   green threads when they unpark them,
//! * a **fresh deque** of green threads that have not started yet, which idle workers
//!   may steal from, and a timer heap for park deadlines of its own threads.
//!
//! Spawns from a green thread go to its worker's fresh deque, spawns from elsewhere to
//! the runtime's global injector.
//!
//! # Started green threads never migrate
//!
//! A green thread that has started running stays on the worker that started it until
//! it finishes. LLVM may compute the address of a thread-local variable once and keep it
//! in a register or a stack slot across a call that, for a stackful coroutine, is a
//! context switch (llvm/llvm-project#98479, rust-lang/rust#136044). If the coroutine
//! were resumed on another kernel thread, that cached address would still point at the
//! *first* kernel thread's thread-local storage: a data race in safe code (this is why
//! `may`'s `spawn` is `unsafe`). Threads that have not started have no such cached
//! state, so they are freely stolen. `corosensei::Coroutine` is `!Send`, and this module
//! keeps every coroutine in the worker's own slot table, so the type system holds the
//! line: only a slot index ever crosses threads.
//!
//! # Sleeping and waking
//!
//! A worker with nothing to do first searches (looks at the inbox, injector and other
//! workers' fresh deques a few times), then announces that it sleeps (`sleep` word =
//! [`ASLEEP`], or [`ASLEEP_IN_POLL`] when sockets are registered with its reactor, then a
//! `SeqCst` fence), looks once more, and waits with a timeout at its next timer: on the
//! word with `futex(2)`, or in `epoll_wait` (`reactor.rs`). A waker pushes its work,
//! fences, and swaps the word to 0: whoever sees it non-zero does the wake-up, a `futex`
//! wake or the reactor's eventfd. Either the sleeper's last look sees the work or
//! the waker sees the announcement (Dekker's argument with `SeqCst` fences), so no
//! wake-up is lost. An idle runtime uses no CPU: no thread wakes without a reason.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::ptr;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use corosensei::CoroutineResult;
use crossbeam_deque::{Steal, Worker as Deque};

use super::context::{self, Context, Request, Wake};
use super::hibernate;
use super::stack::GreenStack;
use super::{deadlock, Shared};
use crate::park::{futex, Unparked, WaitReason};
use crate::thread::{Thread, ThreadInner};

/// The smallest heap size at which stale timers are swept.
const SWEEP_MIN: usize = 1024;

/// Rounds of looking for work with spin hints before an idle worker gives up its CPU.
const SPIN_ROUNDS: u32 = 256;

/// The `sleep` word of a worker asleep on its futex.
pub(crate) const ASLEEP: u32 = 1;
/// The `sleep` word of a worker asleep in its reactor's `epoll_wait`.
pub(crate) const ASLEEP_IN_POLL: u32 = 2;

/// A green thread that has not started yet.
pub(crate) struct Fresh {
    pub(crate) thread: Thread,
    pub(crate) main: Box<dyn FnOnce() + Send>,
    pub(crate) stack: GreenStack,
}

/// The part of a worker that only its own kernel thread touches, reachable from green
/// code through a thread-local pointer.
pub(crate) struct Local {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) runnable: RefCell<VecDeque<u32>>,
    pub(crate) fresh: Deque<Fresh>,
    /// Set by a preempted green thread just before it yields (`preempt.rs`): its worker
    /// then looks at timers, sockets and its inbox before running it again.
    pub(crate) preempted: Cell<bool>,
}

thread_local! {
    /// The worker running on this kernel thread, if any.
    static LOCAL: Cell<*const Local> = const { Cell::new(ptr::null()) };
    /// The green thread running on this kernel thread right now, if any.
    static CURRENT: Cell<*const ThreadInner> = const { Cell::new(ptr::null()) };
}

/// The control block of the green thread running this code, if any.
#[inline]
pub(crate) fn current_green_inner() -> Option<*const ThreadInner> {
    let p = CURRENT.with(Cell::get);
    (!p.is_null()).then_some(p)
}

/// A handle to the green thread running this code, if any.
pub(crate) fn current_green() -> Option<Thread> {
    let p = current_green_inner()?;
    // SAFETY: `p` came from `Arc::as_ptr` of the running thread's control block, which
    // its slot keeps alive while it runs; taking one more strong count and rebuilding
    // an `Arc` from the same pointer is the documented way to clone through a raw
    // pointer.
    let inner = unsafe {
        Arc::increment_strong_count(p);
        Arc::from_raw(p)
    };
    Some(Thread { inner })
}

/// Runs `f` with this kernel thread's worker, if it is one.
#[inline]
pub(crate) fn with_local<R>(f: impl FnOnce(Option<&Local>) -> R) -> R {
    let p = LOCAL.with(Cell::get);
    // SAFETY: LOCAL is set by `run` to a `Local` that lives on `run`'s stack frame
    // until `run` returns, and is reset to null before that; this kernel thread is the
    // only one that reads it, and `Local` is only used through shared references.
    f(unsafe { p.as_ref() })
}

/// Parks the running green thread `me` (see `park::park_on`).
///
/// Inlined, as is everything between the caller and the switch: after a stack switch
/// the CPU's return-address predictor holds the *other* context's returns, so each
/// function return on the way back mispredicts. Keeping the chain flat measured 3.5x
/// faster switches here.
#[inline(always)]
pub(crate) fn park_green(
    me: &ThreadInner,
    reason: &'static WaitReason,
    deadline: Option<Instant>,
) -> Unparked {
    if me.park.try_consume() {
        return Unparked::Notified;
    }
    if deadline.is_some_and(|d| d <= Instant::now()) {
        return Unparked::TimedOut;
    }
    super::coop::reset_budget();
    // A switch is a critical section (`critical.rs`), and this thread's depth waits here.
    let depth = crate::critical::replace(1);
    me.waiting_on
        .store(reason as *const _ as *mut _, Ordering::Release);
    let req = match deadline {
        Some(d) => {
            context::DEADLINE.with(|c| c.set(Some(d)));
            Request::ParkUntil
        }
        None => Request::Park,
    };
    // SAFETY: `me` is the running green thread (the caller got it from CURRENT), and we
    // hold no worker-local borrow here.
    let wake = unsafe { context::suspend(me, req) };
    crate::critical::replace(depth);
    me.waiting_on.store(ptr::null_mut(), Ordering::Release);
    // Woken out of PARKED, the wake-up was the token (see park/state.rs); a failed
    // commit had its token consumed by the worker.
    match wake {
        Wake::Notified => Unparked::Notified,
        Wake::TimedOut => Unparked::TimedOut,
    }
}

/// Marks the running green thread as preempted, just before it yields (`preempt.rs`).
pub(crate) fn note_preempted() {
    with_local(|l| {
        if let Some(l) = l {
            l.preempted.set(true);
        }
    });
}

/// The preemption handler's turn gate, at a tick of this worker's timer at `now` (ns): a
/// green thread runs on this worker and its turn was first seen a slice ago or more. A
/// turn not seen before is noted with `now`. Async-signal-safe: thread-locals without
/// destructors and atomics only (written by this worker's handler alone).
pub(crate) fn preemption_due(now: u64) -> bool {
    let p = LOCAL.with(Cell::get);
    // SAFETY: as in `with_local`: a non-null LOCAL is this worker's `Local`, alive while
    // its loop runs, and its timer ticks only inside that loop.
    let Some(l) = (unsafe { p.as_ref() }) else {
        return false;
    };
    let w = &l.shared.workers[l.index];
    let turn = w.turn.load(Ordering::Relaxed);
    if turn as u32 == 0 || CURRENT.with(Cell::get).is_null() {
        return false;
    }
    if w.preempt.load(Ordering::Relaxed) != turn {
        w.preempt.store(turn, Ordering::Relaxed);
        w.preempt_seen.store(now, Ordering::Relaxed);
        return false;
    }
    now.wrapping_sub(w.preempt_seen.load(Ordering::Relaxed)) >= l.shared.preempt_slice_ns
}

/// The preemption handler's stack gate: `sp` lies in the running green thread's own
/// stack with at least `room` bytes below it. Async-signal-safe.
pub(crate) fn on_current_stack(sp: usize, room: usize) -> bool {
    let me = CURRENT.with(Cell::get);
    matches!(super::stack::room_below(sp), Some((owner, left)) if owner == me && left >= room)
}

/// Puts the running green thread at the back of its worker's run queue.
#[inline(always)]
pub(crate) fn yield_green(me: &ThreadInner) {
    super::coop::reset_budget();
    let depth = crate::critical::replace(1);
    // SAFETY: `me` is the running green thread, and no worker-local borrow is held.
    let _ = unsafe { context::suspend(me, Request::Yield) };
    crate::critical::replace(depth);
}

/// One slot of the worker's table of started green threads.
struct Slot {
    ctx: Context,
    thread: Thread,
    wake: Wake,
    /// The slot's last timed-park sequence number, with [`TIMED`] set while that park
    /// lasts, so a timer of an earlier park is told apart; see [`Timers`].
    park_seq: u32,
    /// The hibernation epoch of the thread's last turn (see [`Hibernation`]), in 16 bits
    /// so the slot keeps its 64 bytes: a wrap can only make a long-parked thread look
    /// recent (its hibernation waits a pass more), never a running one look old (it
    /// writes the epoch at every turn).
    ran: u16,
    /// Set while the thread is hibernated (its bytes are in [`Hibernation::saved`]).
    hibernated: bool,
}

/// A worker's hibernation sweep (`hibernate.rs`): passes over its slots, at most one
/// per threshold, each in batches of [`Hibernation::BATCH`] slots.
struct Hibernation {
    after: std::time::Duration,
    /// When the next pass may begin.
    next_pass: Instant,
    /// The next slot of the pass in progress (0: none in progress).
    cursor: usize,
    /// Threads of this worker hibernated now.
    count: usize,
    /// The live stack bytes of each hibernated thread, by slot (kept here, not in the
    /// slots, so that runtimes without hibernation do not pay for it per thread).
    saved: Vec<Option<hibernate::Saved>>,
}

impl Hibernation {
    /// Slots looked at per batch.
    const BATCH: usize = 512;
    /// Threads hibernated per batch at most when the worker has nothing else to do:
    /// each costs a copy and a `madvise` (a few microseconds), so this bounds the delay
    /// a batch adds to work that arrives meanwhile (to some tens of microseconds).
    const MOST_WHEN_IDLE: usize = 16;
    /// The same between turns of a busy worker (every few dozen turns): memory can wait,
    /// ready threads should not (a spawn storm ran at half speed with 16).
    const MOST_WHEN_BUSY: usize = 2;
}

/// Set in [`Slot::park_seq`] while the slot's thread is in a timed park.
const TIMED: u32 = 1 << 31;

/// A worker's timers: a min-heap of 16-byte entries (a million sleeping threads cost
/// 16 MiB of heap here, not 32), each the deadline in nanoseconds since the worker's
/// epoch and a key: the slot index in the high 32 bits, the park's sequence number in
/// the low 32.
///
/// Entries are deleted lazily: a park that ends early leaves its timer, which is
/// recognised as stale unless the slot's `park_seq` is its sequence number with
/// [`TIMED`] set. Sequence numbers (31 bits, from 1) count timed parks *per slot*, and
/// the count is carried over to the slot's next occupant (through the free list), so a
/// new thread in a reused slot never matches its predecessor's timers. At the wrap,
/// after 2^31 - 1 timed parks of one slot, the heap is swept with that slot's
/// `park_seq` at 0 (matching nothing) first, which removes every entry of the slot: so
/// no stale entry can ever match a later park.
struct Timers {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    epoch: Instant,
}

impl Timers {
    fn new() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            epoch: Instant::now(),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn instant(&self, nanos: u64) -> Instant {
        self.epoch + std::time::Duration::from_nanos(nanos)
    }

    /// The earliest deadline, if any.
    fn first(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| self.instant(*at))
    }

    fn len(&self) -> usize {
        self.heap.len()
    }
}

fn timer_key(slot: u32, seq: u32) -> u64 {
    (u64::from(slot) << 32) | u64::from(seq)
}

fn timer_parts(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

/// The worker's own state, owned by its loop.
struct Worker<'a> {
    local: &'a Local,
    slots: Vec<Option<Slot>>,
    /// Free slots, each with its last timed-park sequence number (see [`Timers`]).
    free: Vec<(u32, u32)>,
    timers: Timers,
    /// Heap size at which stale timers (of parks that ended early) are swept out.
    sweep_at: usize,
    tick: u32,
    /// The last green thread yielded: ready threads that have not started yet go
    /// before it, as the started ones in the run queue do.
    yielded: bool,
    /// This worker's published turn (see `watchdog.rs`); only this worker writes it.
    turn: &'a AtomicU64,
    /// The preemption timer, when the runtime preempts.
    ticker: Option<super::preempt::Ticker>,
    /// The hibernation epoch: passes begun, wrapping (see [`Hibernation`]).
    epoch: u16,
    hibernation: Option<Hibernation>,
}

/// The body of worker `index`'s kernel thread.
/// Runs a worker until its runtime shuts down; `true` when it left green threads parked
/// (abandoned: see [`Worker::abandon`]).
pub(crate) fn run(shared: Arc<Shared>, index: usize, fresh: Deque<Fresh>) -> bool {
    super::signal::ensure_altstack();
    let local = Local {
        index,
        shared,
        runnable: RefCell::new(VecDeque::with_capacity(256)),
        fresh,
        preempted: Cell::new(false),
    };
    LOCAL.with(|l| l.set(&local));
    // The worker's own code is one long critical section (`critical.rs`).
    crate::critical::replace(1);
    let me = &local.shared.workers[index];
    // SAFETY: gettid has no preconditions.
    me.tid.store(unsafe { libc::gettid() }, Ordering::Relaxed);
    // A preemptive runtime's timer (`preempt.rs`), armed while the worker runs.
    let ticker = (local.shared.preempt_slice_ns > 0)
        .then(|| {
            super::preempt::Ticker::for_this_thread(std::time::Duration::from_nanos(
                local.shared.preempt_slice_ns / 4,
            ))
        })
        .flatten();
    if let Some(t) = &ticker {
        t.arm();
    }
    let mut w = Worker {
        local: &local,
        slots: Vec::new(),
        free: Vec::new(),
        timers: Timers::new(),
        sweep_at: SWEEP_MIN,
        tick: 61,
        yielded: false,
        turn: &me.turn,
        ticker,
        epoch: 0,
        hibernation: local.shared.hibernate_after.map(|after| Hibernation {
            after,
            next_pass: Instant::now() + after,
            cursor: 0,
            count: 0,
            saved: Vec::new(),
        }),
    };
    w.main_loop();
    let abandoned = w.abandon();
    LOCAL.with(|l| l.set(ptr::null()));
    abandoned
}

impl Worker<'_> {
    fn shared(&self) -> &Shared {
        &self.local.shared
    }

    fn me(&self) -> &super::WorkerShared {
        &self.local.shared.workers[self.local.index]
    }

    fn main_loop(&mut self) {
        loop {
            // Every so often look outside, so a thread that keeps yielding cannot starve
            // the inbox, the timers or fresh threads.
            self.tick = self.tick.wrapping_sub(1);
            if self.tick == 0 {
                self.tick = 61;
                self.drain_inbox();
                self.fire_timers();
                self.poll_io(Some(std::time::Duration::ZERO));
                if self.hibernation.is_some() {
                    self.hibernate_some(Hibernation::MOST_WHEN_BUSY);
                }
                if let Some(f) = self.find_fresh() {
                    self.start(f);
                    continue;
                }
            }
            if std::mem::take(&mut self.yielded) && !self.local.fresh.is_empty() {
                if let Some(f) = self.local.fresh.pop() {
                    self.start(f);
                    continue;
                }
            }
            let next = self.local.runnable.borrow_mut().pop_front();
            if let Some(i) = next {
                self.run_slot(i);
                continue;
            }
            if self.drain_inbox()
                || self.fire_timers()
                || self.poll_io(Some(std::time::Duration::ZERO))
            {
                continue;
            }
            if let Some(f) = self.find_fresh() {
                self.start(f);
                continue;
            }
            if self.shared().shutdown.load(Ordering::Acquire) {
                return;
            }
            if self.hibernation.is_some() && self.hibernate_some(Hibernation::MOST_WHEN_IDLE) {
                continue;
            }
            self.idle();
        }
    }

    /// Delivers socket events (waiting at most `timeout`), when sockets are registered
    /// with this worker's reactor; `true` when any was delivered.
    fn poll_io(&self, timeout: Option<std::time::Duration>) -> bool {
        match self.me().reactor.get() {
            Some(r) if r.has_sources() => r.poll(timeout),
            _ => false,
        }
    }

    fn drain_inbox(&mut self) -> bool {
        let inbox = &self.local.shared.workers[self.local.index].inbox;
        let mut any = false;
        let mut q = self.local.runnable.borrow_mut();
        while let Some(i) = inbox.pop() {
            q.push_back(i);
            any = true;
        }
        any
    }

    fn fire_timers(&mut self) -> bool {
        let Some(&Reverse((first, _))) = self.timers.heap.peek() else {
            return false;
        };
        let now = self.timers.nanos(Instant::now());
        if first > now {
            return false;
        }
        let mut any = false;
        while let Some(Reverse((at, key))) = self.timers.heap.peek().copied() {
            if at > now {
                break;
            }
            self.timers.heap.pop();
            let (i, seq) = timer_parts(key);
            if let Some(Some(slot)) = self.slots.get_mut(i as usize) {
                if slot.park_seq == seq | TIMED && slot.thread.inner.park.time_out() {
                    slot.wake = Wake::TimedOut;
                    self.local.runnable.borrow_mut().push_back(i);
                    any = true;
                }
            }
        }
        self.me().timers.store(self.timers.len(), Ordering::Relaxed);
        any
    }

    /// Drops the timers of parks that already ended (unparked before their deadline).
    /// Timers are deleted lazily, so a program that parks with long timeouts and is
    /// woken early would otherwise grow the heap until the deadlines pass; sweeping
    /// when the heap doubles keeps it within twice the live timers, at amortised O(1).
    #[cold]
    fn sweep_timers(&mut self) {
        let slots = &self.slots;
        self.timers.heap.retain(|Reverse((_, key))| {
            let (i, seq) = timer_parts(*key);
            matches!(slots.get(i as usize), Some(Some(s)) if s.park_seq == seq | TIMED && s.thread.inner.park.is_parked())
        });
        self.sweep_at = (self.timers.len() * 2).max(SWEEP_MIN);
    }

    fn find_fresh(&self) -> Option<Fresh> {
        if let Some(f) = self.local.fresh.pop() {
            return Some(f);
        }
        let shared = self.shared();
        loop {
            let mut retry = false;
            match shared.injector.steal_batch_and_pop(&self.local.fresh) {
                Steal::Success(f) => return Some(f),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            let n = shared.workers.len();
            for k in 1..n {
                let other = &shared.workers[(self.local.index + k) % n];
                match other.stealer.steal_batch_and_pop(&self.local.fresh) {
                    Steal::Success(f) => return Some(f),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    fn has_work(&self) -> bool {
        let shared = self.shared();
        !self.local.runnable.borrow().is_empty()
            || !self.me().inbox.is_empty()
            || !self.local.fresh.is_empty()
            || !shared.injector.is_empty()
            || shared.workers.iter().any(|w| !w.stealer.is_empty())
            || self.timers.first().is_some_and(|at| at <= Instant::now())
            || shared.shutdown.load(Ordering::Acquire)
    }

    /// Search a little, then sleep until woken or the next timer is due.
    fn idle(&mut self) {
        // No green thread runs now (see `watchdog.rs`).
        let t = self.turn.load(Ordering::Relaxed);
        self.turn.store(t & !0xffff_ffff, Ordering::Relaxed);
        let local = self.local;
        let shared: &Shared = &local.shared;
        shared.searching.fetch_add(1, Ordering::SeqCst);
        let mut found = false;
        // Look for work for some microseconds first: waking a sleeping worker costs
        // tens of microseconds here, so work that arrives soon (a ping-pong partner,
        // a spawn) is picked up far sooner by a searching worker. Then give the CPU
        // away a few times, then sleep.
        for round in 0..SPIN_ROUNDS + 8 {
            if self.has_work() {
                found = true;
                break;
            }
            if round < SPIN_ROUNDS {
                // One spin hint per look: long runs of back-to-back PAUSEs make a
                // virtual CPU exit to its hypervisor (pause-loop exiting), which
                // measured 4x slower wake-ups here.
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        shared.searching.fetch_sub(1, Ordering::SeqCst);
        if found {
            return;
        }
        let me = &shared.workers[self.local.index];
        let reactor = me.reactor.get().filter(|r| r.has_sources());
        let word = if reactor.is_some() {
            ASLEEP_IN_POLL
        } else {
            ASLEEP
        };
        me.sleep.store(word, Ordering::SeqCst);
        shared.idle.fetch_add(1, Ordering::SeqCst);
        deadlock::worker_asleep();
        fence(Ordering::SeqCst);
        if !self.has_work() {
            if let Some(t) = &self.ticker {
                t.disarm();
            }
            let timer = self.timers.first();
            if timer.is_none() {
                deadlock::check_from_idle_worker();
            }
            // A hibernation pass is due when some thread here is not hibernated yet.
            let live = self.slots.len() - self.free.len();
            let pass = self
                .hibernation
                .as_ref()
                .filter(|h| h.count < live)
                .map(|h| h.next_pass);
            let deadline = match (timer, pass) {
                (Some(t), Some(p)) => Some(t.min(p)),
                (t, p) => t.or(p),
            };
            match reactor {
                Some(r) => {
                    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    r.poll(timeout);
                }
                None => {
                    futex::wait(&me.sleep, ASLEEP, deadline);
                }
            }
        }
        if let Some(t) = &self.ticker {
            t.arm();
        }
        // Woken by a waker (who already swapped the word and fixed the counts), or by
        // the timeout, a socket event, a spurious wake-up or the last look: then undo it
        // ourselves.
        if me.sleep.swap(0, Ordering::SeqCst) != 0 {
            shared.idle.fetch_sub(1, Ordering::SeqCst);
            deadlock::worker_awake();
        }
    }

    fn start(&mut self, f: Fresh) {
        let (i, last_seq) = match self.free.pop() {
            Some(free) => free,
            None => {
                self.slots.push(None);
                ((self.slots.len() - 1) as u32, 0)
            }
        };
        let Fresh {
            thread,
            main,
            stack,
        } = f;
        let g = thread.inner.green.as_ref().expect("fresh thread is green");
        g.home.store(self.local.index as u32, Ordering::Relaxed);
        g.slot.store(i, Ordering::Relaxed);
        stack.set_owner(Arc::as_ptr(&thread.inner));
        super::registry_insert(self.me(), i, &thread);
        let ctx = Context::new(stack, thread.inner.clone(), main);
        self.slots[i as usize] = Some(Slot {
            ctx,
            thread,
            wake: Wake::Notified,
            park_seq: last_seq,
            ran: self.epoch,
            hibernated: false,
        });
        self.run_slot(i);
    }

    /// Inlined into the loop for the same reason as `park_green`.
    #[inline(always)]
    fn run_slot(&mut self, i: u32) {
        let slot = self.slots[i as usize]
            .as_mut()
            .expect("a queued slot holds a thread");
        let wake = std::mem::replace(&mut slot.wake, Wake::Notified);
        slot.ran = self.epoch;
        if slot.hibernated {
            Self::wake_hibernated(slot, i, self.hibernation.as_mut(), &self.local.shared);
        }
        CURRENT.with(|c| c.set(Arc::as_ptr(&slot.thread.inner)));
        // Every turn starts with a full budget (the worker's own code runs unmetered).
        super::coop::reset_budget();
        // Every green thread runs its closure under `catch_unwind`; what can still panic
        // is a value dropped after it (a result or panic payload nobody joins, whose `Drop`
        // panics). Unwinding on would kill this worker with every thread parked on it
        // (their stacks freed while others borrow them): abort instead, as std does for a
        // thread result that panics on drop.
        // The turn: who runs, for the watchdog (one plain store to this worker's line;
        // `idle` clears the slot part).
        let turn = self.turn;
        let t = (turn.load(Ordering::Relaxed) & !0xffff_ffff).wrapping_add(1 << 32);
        turn.store(t | u64::from(i + 1), Ordering::Relaxed);
        let bomb = AbortOnUnwind;
        let r = slot.ctx.resume(wake);
        std::mem::forget(bomb);
        CURRENT.with(|c| c.set(ptr::null()));
        match r {
            CoroutineResult::Yield(Request::Yield) => {
                if self.local.preempted.replace(false) {
                    // Preempted: what waited outside (a timer due, a socket ready, a
                    // wake-up from another worker) goes before it, and the next turn of
                    // the loop looks for fresh threads (also on the global injector).
                    self.drain_inbox();
                    self.fire_timers();
                    self.poll_io(Some(std::time::Duration::ZERO));
                    self.tick = 1;
                }
                self.local.runnable.borrow_mut().push_back(i);
                self.yielded = true;
            }
            CoroutineResult::Yield(req @ (Request::Park | Request::ParkUntil)) => {
                let deadline = if req == Request::ParkUntil {
                    context::DEADLINE.with(|c| c.take())
                } else {
                    None
                };
                if !slot.thread.inner.park.commit_park() {
                    // A token arrived while switching: consume it and run again.
                    slot.thread.inner.park.consume();
                    self.local.runnable.borrow_mut().push_back(i);
                } else if let Some(at) = deadline {
                    let seq = self.next_seq(i);
                    let slot = self.slots[i as usize].as_mut().expect("a parked slot");
                    slot.park_seq = seq | TIMED;
                    let at = self.timers.nanos(at);
                    self.timers.heap.push(Reverse((at, timer_key(i, seq))));
                    if self.timers.len() >= self.sweep_at {
                        self.sweep_timers();
                    }
                    self.me().timers.store(self.timers.len(), Ordering::Relaxed);
                } else {
                    // No timer of an earlier park may fire into this one.
                    slot.park_seq &= !TIMED;
                }
            }
            CoroutineResult::Return(()) => self.finish(i),
        }
    }

    /// One batch of the hibernation pass (`hibernate.rs`), hibernating at most `most`
    /// threads, starting a pass when one is due; `true` while a pass is still in
    /// progress (the caller comes back before it sleeps).
    #[cold]
    #[inline(never)]
    fn hibernate_some(&mut self, most: usize) -> bool {
        let Some(h) = self.hibernation.as_mut() else {
            return false;
        };
        if h.cursor == 0 {
            let now = Instant::now();
            if now < h.next_pass || self.slots.len() == self.free.len() + h.count {
                return false;
            }
            h.next_pass = now + h.after;
            self.epoch = self.epoch.wrapping_add(1);
        }
        let slots = self.slots.len();
        let mut end = (h.cursor + Hibernation::BATCH).min(slots);
        let mut done = 0;
        for (i, slot) in self.slots.iter_mut().enumerate().take(end).skip(h.cursor) {
            let Some(slot) = slot else {
                continue;
            };
            // Parked since before the previous pass began: at least one threshold.
            if slot.hibernated || self.epoch.wrapping_sub(slot.ran) < 2 {
                continue;
            }
            if done == most {
                end = i;
                break;
            }
            let t = &slot.thread.inner;
            if !t.park.is_parked() || !hibernate::unpinned(t) {
                continue;
            }
            let Some((sp, low, top)) = slot.ctx.suspended() else {
                continue;
            };
            let guard = self.local.shared.hibernate_checked;
            // Flagged first, so a fault on the guarded range is named from its start.
            hibernate::set_hibernated(t, true);
            // SAFETY: `[low, top)` is the usable range of the slot's stack and its
            // coroutine is suspended at `sp` (`Context::suspended`). Only this worker
            // resumes it, and `run_slot` restores the bytes (with the same `sp`, which a
            // suspended coroutine keeps, and `top`) before it does; an unpark meanwhile
            // only queues the slot. No other code uses the stack while the thread is
            // parked: weft keeps its wait records off the stack, a pinned thread (a
            // scope's) was skipped above, and the runtime's builder contract
            // (`hibernate_after`'s `# Safety`) excludes the rest. (With `guard`, the
            // range faults until `restore` removes the guard.)
            let hibernated = unsafe { hibernate::hibernate(sp, low, top, guard) };
            if hibernated.is_err() {
                hibernate::set_hibernated(t, false);
            }
            if let Ok(saved) = hibernated {
                if h.saved.len() <= i {
                    h.saved.resize_with(slots, || None);
                }
                h.saved[i] = Some(saved);
                slot.hibernated = true;
                done += 1;
                h.count += 1;
                self.local.shared.hibernated.fetch_add(1, Ordering::Relaxed);
            }
        }
        h.cursor = if end >= self.slots.len() { 0 } else { end };
        h.cursor != 0
    }

    /// Copies a hibernated thread's stack back before it runs (`hibernate.rs`).
    #[cold]
    #[inline(never)]
    fn wake_hibernated(slot: &mut Slot, i: u32, h: Option<&mut Hibernation>, shared: &Shared) {
        slot.hibernated = false;
        let Some(h) = h else {
            return;
        };
        let Some(saved) = h.saved.get_mut(i as usize).and_then(Option::take) else {
            return;
        };
        let (sp, low, top) = slot
            .ctx
            .suspended()
            .expect("a hibernated thread is suspended");
        // SAFETY: `saved` was made by `hibernate` from this suspended coroutine's
        // `[sp, top)` of `[low, top)`, guarded as the runtime says (its saved stack
        // pointer has not changed: it has not run since).
        unsafe { hibernate::restore(sp, low, top, saved, shared.hibernate_checked) };
        hibernate::set_hibernated(&slot.thread.inner, false);
        h.count -= 1;
        shared.hibernated.fetch_sub(1, Ordering::Relaxed);
    }

    /// The next timed-park sequence number of slot `i` (see [`Timers`]).
    fn next_seq(&mut self, i: u32) -> u32 {
        let slot = self.slots[i as usize].as_mut().expect("a started slot");
        let next = (slot.park_seq & !TIMED) + 1;
        if next < TIMED {
            return next;
        }
        // Wrapped: drop every entry of the slot before numbers are used again.
        slot.park_seq = 0;
        self.sweep_timers();
        1
    }

    fn finish(&mut self, i: u32) {
        let slot = self.slots[i as usize].take().expect("finished slot");
        drop(slot.ctx.into_stack());
        super::registry_remove(self.me(), i);
        self.free.push((i, slot.park_seq & !TIMED));
        self.shared().live.fetch_sub(1, Ordering::Release);
    }

    /// At shutdown: green threads still parked are never resumed. Their contexts (and
    /// stacks) are leaked, not dropped: dropping would unwind them, running their code
    /// during shutdown; reusing their stacks could free memory others still borrow.
    /// Their entries in lock queues are dropped by the next unparker, which would
    /// otherwise hand them a lock (or permits) they could never give back. Their control
    /// blocks are leaked too (one count each): a channel's queue entry points to its
    /// owner's block without a count (`csp/waiter.rs`), so the block must outlive every
    /// queue the thread was left in. (Each leaked block also keeps the runtime's
    /// `Shared` alive through its `GreenInfo`, and that is needed too: a late partner's
    /// wake-up of such a thread goes through `wake_green`, which uses it.)
    /// Returns whether there were any.
    fn abandon(&mut self) -> bool {
        let mut any = false;
        for slot in self.slots.iter_mut().filter_map(Option::take) {
            slot.thread.inner.lot.abandon();
            std::mem::forget(slot.thread);
            std::mem::forget(slot.ctx);
            if slot.hibernated {
                // Its stack bytes are dropped with the worker: it never runs again.
                self.local.shared.hibernated.fetch_sub(1, Ordering::Relaxed);
            }
            any = true;
        }
        any
    }
}

/// Aborts the process if dropped: armed around a resume, disarmed (forgotten) after it.
struct AbortOnUnwind;

impl Drop for Worker<'_> {
    /// Unwinding out of the worker loop (a bug in the worker) drops its slots, and
    /// dropping a suspended coroutine unwinds its stack: a hibernated one would run on
    /// zeroed pages. Every stack gets its bytes back first. (A worker that ends normally
    /// has taken every slot in `abandon`: nothing to do.)
    fn drop(&mut self) {
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let Some(slot) = slot.as_mut().filter(|s| s.hibernated) {
                Self::wake_hibernated(
                    slot,
                    i as u32,
                    self.hibernation.as_mut(),
                    &self.local.shared,
                );
            }
        }
    }
}

impl Drop for AbortOnUnwind {
    #[cold]
    fn drop(&mut self) {
        use std::io::Write;
        let _ = std::io::stderr().write_all(
            b"weft: a panic escaped a green thread (a value dropped after its closure \
              returned, such as its unjoined result or panic payload, panicked on drop); \
              aborting\n",
        );
        std::process::abort();
    }
}

/// `true` when the caller runs on worker `home` of runtime `shared`.
#[inline(always)]
pub(crate) fn is_current_worker(shared: &Arc<Shared>, home: &AtomicU32) -> bool {
    with_local(|l| {
        l.is_some_and(|l| {
            l.index == home.load(Ordering::Relaxed) as usize && Arc::ptr_eq(&l.shared, shared)
        })
    })
}

/// Makes the started green thread (`home`, `slot`) runnable: on the current worker's
/// run queue when that is its home, else through its home's inbox.
///
/// The local push is inlined into the unparker (a ping-pong's every hop takes it); the
/// remote one is not.
#[inline(always)]
pub(crate) fn wake_green(shared: &Shared, home: &AtomicU32, slot: &AtomicU32) {
    let home = home.load(Ordering::Relaxed) as usize;
    let slot = slot.load(Ordering::Relaxed);
    let local_push = with_local(|l| match l {
        Some(l) if l.index == home && ptr::eq(&*l.shared, shared) => {
            let _c = crate::critical::Critical::new();
            l.runnable.borrow_mut().push_back(slot);
            true
        }
        _ => false,
    });
    if !local_push {
        wake_remote(shared, home, slot);
    }
}

/// [`wake_green`] of a thread whose home is the calling worker, known already (its
/// unparker checked `ThreadInner::is_home_here` in this turn): straight onto the run
/// queue, without checking again.
#[inline(always)]
pub(crate) fn wake_green_here(slot: &AtomicU32) {
    let slot = slot.load(Ordering::Relaxed);
    with_local(|l| {
        if let Some(l) = l {
            let _c = crate::critical::Critical::new();
            l.runnable.borrow_mut().push_back(slot);
        }
    });
}

/// [`wake_green`] of a thread whose home is another worker: through its inbox.
#[inline(never)]
fn wake_remote(shared: &Shared, home: usize, slot: u32) {
    let w = &shared.workers[home];
    w.inbox.push(slot);
    notify(shared, home);
}

/// Wakes worker `i` if it sleeps.
pub(crate) fn notify(shared: &Shared, i: usize) {
    let w = &shared.workers[i];
    fence(Ordering::SeqCst);
    if w.sleep.load(Ordering::Relaxed) == 0 {
        return;
    }
    let was = w.sleep.swap(0, Ordering::SeqCst);
    if was != 0 {
        shared.idle.fetch_sub(1, Ordering::SeqCst);
        deadlock::worker_awake();
        deadlock::bump();
        match (was, w.reactor.get()) {
            (ASLEEP_IN_POLL, Some(r)) => r.wake(),
            _ => futex::wake(&w.sleep, 1),
        }
    }
}

/// After new fresh work: wake one sleeping worker, unless one is already searching.
pub(crate) fn notify_any(shared: &Shared) {
    fence(Ordering::SeqCst);
    if shared.idle.load(Ordering::Relaxed) == 0 || shared.searching.load(Ordering::Relaxed) > 0 {
        return;
    }
    for i in 0..shared.workers.len() {
        if shared.workers[i].sleep.load(Ordering::Relaxed) != 0 {
            notify(shared, i);
            return;
        }
    }
}

#[cfg(all(test, not(miri)))]
mod size_tests {
    /// A worker keeps one slot per started green thread, so its size is part of every
    /// parked thread's cost: hibernation's bookkeeping (an epoch and a flag) fits in
    /// what was padding, and its saved bytes live outside the slots.
    #[test]
    fn a_slot_stays_small() {
        let size = std::mem::size_of::<Option<super::Slot>>();
        assert!(size <= 64, "{size} bytes");
    }

    /// The same for a thread's control block: hibernation's word (16 bits) fits in what
    /// was padding, so the block stays in its 160-byte malloc class with the `Arc`'s
    /// counts.
    #[test]
    fn a_control_block_stays_small() {
        let size = std::mem::size_of::<crate::thread::ThreadInner>();
        assert!(size <= 136, "{size} bytes");
    }
}
