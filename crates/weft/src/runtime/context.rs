//! The context switch: the one door to `corosensei`.
//!
//! A green thread is a `corosensei` coroutine running on a [`GreenStack`]. The worker
//! resumes it with a [`Wake`] (why it runs again) and it suspends with a [`Request`]
//! (what the worker should do with it). The coroutine's `Yielder` lives at the top of
//! the green stack; its address is stored in the thread's control block so that code
//! deep inside the green thread can suspend it.
//!
//! Coroutines are `!Send`: a [`Context`] is created, resumed and dropped only on its
//! home worker (see the scheduler's module docs for why that matters).

use std::time::Instant;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::stack::GreenStack;
use crate::thread::ThreadInner;

/// Why a green thread runs again.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Wake {
    /// First run, a yield, or an unpark.
    Notified,
    /// Its park deadline passed.
    TimedOut,
}

/// What a green thread asks of its worker when it switches away. One byte, so the
/// switch passes it in a register (a park's deadline goes through [`DEADLINE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Request {
    /// Put me at the back of the run queue.
    Yield,
    /// Park me (unless a token arrived meanwhile).
    Park,
    /// Park me, and wake me at the deadline in [`DEADLINE`].
    ParkUntil,
}

thread_local! {
    /// The deadline of a `Request::ParkUntil`: written by the green thread just before
    /// it switches away, read by its worker right after, on the same kernel thread.
    pub(crate) static DEADLINE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

type Co = Coroutine<Wake, Request, (), GreenStack>;
type GreenYielder = Yielder<Wake, Request>;

/// A started or startable green thread's execution context.
pub(crate) struct Context {
    co: Co,
}

impl Context {
    /// Prepares `main` to run on `stack` as the green thread `me`. Writes the initial
    /// frame at the top of the stack (its first touch).
    pub(crate) fn new(
        stack: GreenStack,
        me: std::sync::Arc<ThreadInner>,
        main: Box<dyn FnOnce() + Send>,
    ) -> Context {
        let co = Coroutine::with_stack(stack, move |y: &GreenYielder, _first: Wake| {
            if let Some(g) = &me.green {
                g.yielder.store(
                    y as *const GreenYielder as *mut (),
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            drop(me);
            // The thread's own code starts outside any critical section, and the switch
            // back to the worker at its end is one (`critical.rs`).
            crate::critical::replace(0);
            main();
            crate::critical::replace(1);
        });
        Context { co }
    }

    /// Runs the green thread until it suspends or returns.
    #[inline(always)]
    pub(crate) fn resume(&mut self, wake: Wake) -> CoroutineResult<Request, ()> {
        self.co.resume(wake)
    }

    /// A suspended green thread's live stack: its saved stack pointer and the stack's
    /// usable range `[low, top)`; `None` when it has not started or has finished.
    /// Everything it will read again when resumed lies in `[sp, top)`.
    pub(crate) fn suspended(&self) -> Option<(usize, usize, usize)> {
        let sp = self.co.suspended_stack_ptr()?.get();
        let (low, top) = self.co.stack().usable();
        Some((sp, low, top))
    }

    /// Takes the stack back from a finished green thread.
    pub(crate) fn into_stack(self) -> GreenStack {
        self.co.into_stack()
    }
}

/// Switches the running green thread `me` back to its worker with `req`, returning
/// the reason it was resumed.
///
/// # Safety
///
/// * `me` must be the control block of the green thread that is running this code,
///   and that thread must have started (its yielder is recorded).
/// * No borrow of worker-local state may be held across this call.
#[inline(always)]
pub(crate) unsafe fn suspend(me: &ThreadInner, req: Request) -> Wake {
    let g = me
        .green
        .as_ref()
        .expect("suspend called for a kernel thread");
    let y = g.yielder.load(std::sync::atomic::Ordering::Relaxed) as *const GreenYielder;
    // SAFETY: by the contract, `me` is the running green thread, so `y` is the yielder
    // that its coroutine stored at start; it lives at the top of this very stack and so
    // outlives this call. We are on the coroutine's stack and on its home worker, which
    // is what `Yielder::suspend` requires.
    unsafe { (*y).suspend(req) }
}
