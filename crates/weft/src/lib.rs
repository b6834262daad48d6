//! # weft: green threads and every classic concurrency mechanism, on one parking core
//!
//! weft runs M stackful **green threads** on N worker kernel threads. A green thread is
//! written as plain blocking code; when it blocks, only it stops, and its worker runs
//! another one. A million of them fit in a few GiB.
//!
//! ```
//! use std::time::Duration;
//!
//! let handles: Vec<_> = (0..1000)
//!     .map(|i| weft::spawn(move || {
//!         weft::sleep(Duration::from_millis(1)); // parks this green thread only
//!         i * 2
//!     }))
//!     .collect();
//! let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(sum, 999 * 1000);
//! ```
//!
//! ## The map: one module per mechanism of the survey
//!
//! | mechanism | where |
//! |---|---|
//! | green threads, M:N scheduling, parallelism | [`spawn`], [`Builder`], [`Runtime`], [`scope`] |
//! | cooperative multitasking | [`yield_now`], [`runtime::coop`] (the budget), [`runtime::watchdog`] (names a thread that holds its worker) |
//! | preemptive multitasking (opt-in) | [`RuntimeBuilder::preemption`], [`runtime::preempt`] |
//! | the parking core every primitive stands on | [`park`] (and, inside the crate, a parking lot: wait queues keyed by address) |
//! | mutexes, spinlocks, read-write locks, semaphores | [`sync::Mutex`], [`sync::SpinLock`], [`sync::TicketLock`], [`sync::RwLock`], [`sync::Semaphore`] |
//! | condition variables, barriers, wait groups | [`sync::Condvar`], [`sync::Barrier`], [`sync::WaitGroup`] |
//! | software transactional memory | [`stm::TVar`], [`stm::atomically`], [`stm::retry`], [`stm::Transaction::or_else`], [`stm::TQueue`] |
//! | CSP: rendezvous channels, external choice (`select`), internal choice, `par` | [`csp::channel`], [`csp::bounded`], [`csp::unbounded`], [`select!`], [`csp::Select`], [`csp::internal_choice`], [`par!`] |
//! | non-blocking I/O for green threads (the survey's fix for blocking calls) | [`net::TcpListener`], [`net::TcpStream`], [`net::UdpSocket`], [`blocking`], [`fs`] (files, through the blocking pool) |
//! | actors: identities, mailboxes, links, monitors, supervisors | [`actor::spawn`], [`actor::Addr`], [`actor::Supervisor`] |
//! | kernel threads | `std::thread`; every weft primitive also works from them |
//! | CCS (process algebra as a tool) | the `weft-ccs` crate and `weft ccs` |
//!
//! Every blocking primitive here parks through [`park`], so each works the same from
//! green and kernel threads.
//!
//! ## Stacks
//!
//! Each green thread has its own stack carved from a large `MAP_NORESERVE` reservation,
//! with a guard page below it (`MADV_GUARD_INSTALL` on Linux ≥ 6.13, else `mprotect`).
//! Only touched pages cost memory: a parked thread that used under 4 KiB of stack costs
//! one page. The default size, [`DEFAULT_STACK_SIZE`] = 64 KiB, is a trade-off: Go and
//! Erlang grow stacks on demand, which a Rust runtime cannot do (Rust code may hold
//! pointers into its stack), so the default must fit ordinary blocking code, formatting
//! and panics, in debug builds too; yet each stack's slot also costs page-table memory
//! in proportion to its size (about 4 KiB of page table per 2 MiB of slots touched:
//! ~136 bytes per thread at 64 KiB). Overflowing a stack is caught by its guard and
//! reported (thread name and stack size) before the process aborts, as Rust does for
//! kernel threads. Use [`Builder::stack_size`] for deep recursion. Stacks come from
//! 1 GiB reservations, at most 4 TiB of address space in all, or `WEFT_MAX_STACK_GIB`
//! GiB when that environment variable is set; a spawn beyond it fails with an error.
//!
//! ## Started green threads never migrate
//!
//! Idle workers steal green threads that have *not started*; a started one stays on its
//! worker until it ends, because compiled code may cache thread-local addresses across
//! what is, for a stackful coroutine, a context switch (see `runtime/worker.rs`).
//!
//! ## Deadlock detection
//!
//! When a kernel thread waits in [`JoinHandle::join`] or [`Runtime::block_on`] and the
//! runtime can prove that nothing in the process can ever run again (every green thread
//! parked, no timer pending, every other thread of the process parked in weft), that
//! wait panics with a report listing the parked threads and what each waits on, as Go
//! prints "all goroutines are asleep". It never reports a deadlock that is not one: any
//! thread weft does not know about vetoes the report (see `runtime/deadlock.rs`).
//!
//! ## Panics
//!
//! A panic in a green thread is caught, reported on standard error as Rust reports a
//! kernel thread's panic (with the green thread's name), and returned by `join`. It
//! never takes a worker down.

#![warn(missing_docs)]
// Under `--cfg loom` only the lock-free state machines are built (the park word, the
// parking lot, `sync::Mutex`, `sync::Semaphore`, `sync::RwLock`, the CSP channels, the actor
// mailbox and its queue), with loom's atomics and the stand-ins
// of `loom.rs`, for `RUSTFLAGS="--cfg loom" cargo test -p weft --lib --release`.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

mod critical;
mod loom;
#[cfg(loom)]
mod park {
    //! Under loom: the parking lot on the stand-ins of `loom::model`.
    pub(crate) use crate::loom::{park_on, WaitReason};
    pub(crate) mod lot;
    pub(crate) mod state;
}
#[cfg(loom)]
mod actor {
    //! Under loom: the mailbox and its queue.
    pub(crate) mod mailbox;
    pub(crate) mod queue;
}
#[cfg(loom)]
mod csp;
#[cfg(loom)]
mod sync;
#[cfg(loom)]
mod stm {
    //! Under loom: TL2's clock and versioned locks.
    pub(crate) mod vlock;
}

#[cfg(not(loom))]
pub mod actor;
#[cfg(not(loom))]
mod blocking;
#[cfg(not(loom))]
pub mod csp;
#[cfg(not(loom))]
pub mod fs;
#[cfg(not(loom))]
pub mod net;
#[cfg(not(loom))]
pub mod park;
#[cfg(not(loom))]
pub mod runtime;
#[cfg(not(loom))]
mod scope;
#[cfg(not(loom))]
mod spawn;
#[cfg(not(loom))]
pub mod stm;
#[cfg(not(loom))]
pub mod sync;
#[cfg(not(loom))]
mod thread;

#[cfg(not(loom))]
pub use api::*;

#[cfg(not(loom))]
mod api {
    use std::time::{Duration, Instant};

    pub use crate::blocking::blocking;
    pub use crate::park::WaitReason;
    pub use crate::runtime::stack::{
        guard_mechanism, DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE,
    };
    pub use crate::runtime::{default_runtime, Runtime, RuntimeBuilder};
    pub use crate::scope::{scope, Scope, ScopedJoinHandle};
    pub use crate::spawn::{spawn, Builder, JoinHandle};
    pub use crate::thread::{current, Thread, ThreadId};
    use crate::{park, runtime};

    /// Gives up the processor: a green thread goes to the back of its worker's run queue
    /// (other ready green threads run first); a kernel thread calls
    /// [`std::thread::yield_now`].
    #[inline]
    pub fn yield_now() {
        match runtime::worker::current_green_inner() {
            // SAFETY: the pointer is the running green thread's control block.
            Some(me) => runtime::worker::yield_green(unsafe { &*me }),
            None => std::thread::yield_now(),
        }
    }

    static SLEEP: WaitReason = WaitReason::new("sleep");

    /// Puts the current thread to sleep for at least `dur`: a green thread parks (its
    /// worker runs others) with a timer on its worker; a kernel thread sleeps in the kernel.
    pub fn sleep(dur: Duration) {
        if runtime::worker::current_green_inner().is_none() {
            return std::thread::sleep(dur);
        }
        if dur.is_zero() {
            return yield_now();
        }
        match Instant::now().checked_add(dur) {
            Some(deadline) => sleep_until(deadline),
            None => loop {
                park::park_on(&SLEEP, None).timed_out();
            },
        }
    }

    /// Puts the current thread to sleep until `deadline`.
    pub fn sleep_until(deadline: Instant) {
        if runtime::worker::current_green_inner().is_none() {
            let now = Instant::now();
            if deadline > now {
                std::thread::sleep(deadline - now);
            }
            return;
        }
        while Instant::now() < deadline {
            let _ = park::park_on(&SLEEP, Some(deadline));
        }
    }
}
