//! Scoped green threads: threads that may borrow from the caller's stack, because
//! [`scope`] does not return until every one of them has finished.
//!
//! The scope counts its running threads. Each thread, once its closure and everything
//! it captured are dropped and its result is handed over, decrements the count and
//! unparks the scope's owner when it reaches zero. `scope` waits for zero even when its
//! own closure panics, which is what makes lending `'scope` borrows sound.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::Result as ThreadResult;

use crate::park::{park_on, WaitReason};
use crate::runtime::deadlock;
use crate::spawn::{Invariant, Packet};
use crate::thread::Thread;
use crate::Builder;

static SCOPE: WaitReason = WaitReason::new("scope end");

struct ScopeData {
    running: AtomicUsize,
    /// Panicked threads whose panic no `join` took.
    unjoined_panics: AtomicIsize,
    owner: Thread,
}

/// A scope to spawn green threads that borrow from the enclosing stack; see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    scope: Invariant<'scope>,
    env: Invariant<'env>,
}

/// The handle of a scoped green thread.
pub struct ScopedJoinHandle<'scope, T> {
    packet: Arc<Packet<T>>,
    thread: Thread,
    data: Arc<ScopeData>,
    scope: PhantomData<&'scope ()>,
}

/// Creates a scope in which green threads may borrow non-`'static` data; every thread
/// spawned in it is joined before `scope` returns.
///
/// If a thread panicked and its panic was not taken by `join`, `scope` panics after
/// all threads have finished, as `std::thread::scope` does.
///
/// ```
/// let mut counts = [0u32; 4];
/// let words = vec!["green", "threads", "borrow", "this"];
/// weft::scope(|s| {
///     for (c, w) in counts.iter_mut().zip(&words) {
///         s.spawn(move || *c = w.len() as u32);
///     }
/// });
/// assert_eq!(counts, [5, 7, 6, 4]);
/// ```
///
/// A scoped thread's handle cannot outlive the scope (so nothing it borrows can be
/// used after `scope` returns); this does not compile:
///
/// ```compile_fail
/// let data = vec![1, 2, 3];
/// let escaped = weft::scope(|s| s.spawn(|| data.len()));
/// escaped.join();
/// ```
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let data = Arc::new(ScopeData {
        running: AtomicUsize::new(0),
        unjoined_panics: AtomicIsize::new(0),
        owner: crate::current(),
    });
    let scope = Scope {
        data: data.clone(),
        scope: PhantomData,
        env: PhantomData,
    };
    // The children may borrow this thread's stack: it must not hibernate until they
    // are done (`runtime/hibernate.rs`).
    let _pin = crate::runtime::hibernate::Pin::new(&data.owner.inner);
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    let green = data.owner.is_green();
    let guard = (!green && data.running.load(Ordering::Acquire) != 0).then(deadlock::join_waiter);
    while data.running.load(Ordering::Acquire) != 0 {
        let _ = park_on(&SCOPE, None);
        if let Some(report) = guard.as_ref().and_then(|g| g.0.take_report()) {
            if data.running.load(Ordering::Acquire) != 0 {
                // The threads can never finish, so the borrows they hold can never end:
                // the only sound way out is to stop the process.
                eprintln!("{report}");
                std::process::abort();
            }
        }
    }
    drop(guard);
    match result {
        Err(e) => resume_unwind(e),
        Ok(_) if data.unjoined_panics.load(Ordering::Acquire) > 0 => {
            panic!("a scoped weft thread panicked")
        }
        Ok(r) => r,
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a green thread that may borrow anything that outlives the scope.
    ///
    /// # Panics
    ///
    /// When the thread cannot be created; see [`Scope::spawn_with`] for the errors.
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.spawn_with(Builder::new(), f)
            .unwrap_or_else(|e| panic!("weft: failed to spawn a scoped green thread: {e}"))
    }

    /// Spawns a scoped green thread configured by `builder`.
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`].
    pub fn spawn_with<F, T>(
        &'scope self,
        builder: Builder,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let shared = crate::runtime::current_shared()?;
        let packet: Arc<Packet<T>> = Arc::new(Packet::new());
        let theirs = packet.clone();
        let data = self.data.clone();
        data.running.fetch_add(1, Ordering::AcqRel);
        let main: Box<dyn FnOnce() + Send + 'scope> = Box::new(move || {
            let r = catch_unwind(AssertUnwindSafe(f));
            if r.is_err() {
                data.unjoined_panics.fetch_add(1, Ordering::AcqRel);
            }
            theirs.finish(r);
            drop(theirs);
            if data.running.fetch_sub(1, Ordering::AcqRel) == 1 {
                data.owner.unpark();
            }
        });
        // Only the lifetime is changed. Everything `main` borrows outlives 'scope, and
        // `scope()` does not return (nor unwind) before `running` is back to zero, which
        // this closure signals only after `f`, its captures and its packet reference are
        // gone; the packet's result is reachable only through a handle bounded by 'scope.
        // SAFETY: as above; if spawning fails, the box is dropped here, within 'scope.
        let main: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(main) };
        match builder.launch(&shared, main) {
            Ok(thread) => Ok(ScopedJoinHandle {
                packet,
                thread,
                data: self.data.clone(),
                scope: PhantomData,
            }),
            Err(e) => {
                self.data.running.fetch_sub(1, Ordering::AcqRel);
                Err(e)
            }
        }
    }
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the thread and returns its result or its panic's payload.
    pub fn join(self) -> ThreadResult<T> {
        let r = self.packet.wait();
        if r.is_err() {
            self.data.unjoined_panics.fetch_sub(1, Ordering::AcqRel);
        }
        r
    }

    /// `true` once the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.packet.is_finished()
    }

    /// The thread's handle.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("running", &self.data.running.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("thread", &self.thread)
            .field("finished", &self.is_finished())
            .finish()
    }
}
