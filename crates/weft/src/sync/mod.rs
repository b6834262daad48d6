//! Shared-memory concurrency control: locks, semaphores, condition variables.
//!
//! Every type here blocks through the parking core ([`crate::park`]), so it works the
//! same from a weft green thread (a waiter parks its green thread, never its worker)
//! and from a plain kernel thread (it waits on a futex), and both kinds may contend for
//! one lock. Operations come in families: `op` blocks, `try_op` never blocks and fails
//! with [`WouldBlock`], `op_timeout`/`op_deadline` give up with [`TimedOut`].

pub mod barrier;
pub mod condvar;
mod error;
pub mod mutex;
pub mod rwlock;
pub mod semaphore;
pub mod spin;

pub use barrier::{Barrier, BarrierWaitResult, WaitGroup};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use error::{TimedOut, WouldBlock};
pub use mutex::{Mutex, MutexGuard};
pub use rwlock::*;
pub use semaphore::{AcquireError, AcquireTimeoutError, Permit, Semaphore, TryAcquireError};
pub use spin::{SpinLock, SpinLockGuard, TicketLock, TicketLockGuard};
