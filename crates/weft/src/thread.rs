//! Thread identities: one [`Thread`] handle for green and kernel threads alike.
//!
//! A `Thread` is a shared handle to a thread's control block: its id, its name and its
//! park word (see [`crate::park`]). The control block lives on the heap, never on a
//! green thread's stack, so waking a thread never writes into another thread's stack.

use std::cell::OnceCell;
use std::fmt;
use std::num::NonZeroU64;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::park::state::ParkState;
use crate::park::WaitReason;
use crate::runtime::Shared;

/// A unique identifier of a weft thread (green or kernel), never reused in a process.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ThreadId(NonZeroU64);

impl ThreadId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        ThreadId(NonZeroU64::new(id).expect("thread id counter overflowed"))
    }

    /// The id as a number.
    pub fn as_u64(self) -> NonZeroU64 {
        self.0
    }
}

/// Where a green thread lives once it has started.
pub(crate) struct GreenInfo {
    pub(crate) rt: Arc<Shared>,
    /// Index of the home worker; written once by that worker before the thread first
    /// runs, published to unparkers by the park word's release/acquire pair.
    pub(crate) home: AtomicU32,
    /// Index of the thread's slot on its home worker (same publication as `home`).
    pub(crate) slot: AtomicU32,
    /// The coroutine's yielder; written and read only on the home worker.
    pub(crate) yielder: AtomicPtr<()>,
    /// Usable stack bytes.
    pub(crate) stack_size: usize,
}

/// The control block of a thread.
pub(crate) struct ThreadInner {
    pub(crate) id: ThreadId,
    pub(crate) name: Option<Box<str>>,
    pub(crate) park: ParkState,
    /// What the thread waits on while parked (null when it does not say).
    pub(crate) waiting_on: AtomicPtr<WaitReason>,
    /// The parking lot's per-thread cell (see `park/lot.rs`).
    pub(crate) lot: crate::park::lot::LotCell,
    /// Index in the deadlock detector's list of parked kernel threads, or `usize::MAX`
    /// (only read and written with that list locked).
    pub(crate) parked_index: std::sync::atomic::AtomicUsize,
    /// Set while the thread runs an STM transaction (`stm::atomically`); only the thread
    /// itself reads and writes it.
    pub(crate) in_stm: std::sync::atomic::AtomicBool,
    /// Hibernation's word (`runtime/hibernate.rs`): the low 15 bits count the pins (while
    /// above zero the thread's stack is lent to others, by `weft::scope`, and is never
    /// hibernated; only the thread itself changes them), and the top bit is set while the
    /// thread is hibernated (its home worker writes it while the thread is suspended; the
    /// fault handler reads it). 16 bits, so it fits the block's padding.
    pub(crate) hib: std::sync::atomic::AtomicU16,
    /// The state word of the thread's current channel operation (see `csp/waiter.rs`).
    pub(crate) chan: std::sync::atomic::AtomicUsize,
    /// Where a sender writes a value for the thread's plain receive (`csp/landing.rs`).
    pub(crate) landing: crate::csp::landing::Landing,
    pub(crate) green: Option<GreenInfo>,
}

/// A handle to a green or kernel thread: its identity, and the door to wake it.
///
/// Cloning is cheap (a reference count). Obtain one with [`crate::current`] or
/// [`crate::JoinHandle::thread`].
#[derive(Clone)]
pub struct Thread {
    pub(crate) inner: Arc<ThreadInner>,
}

impl Thread {
    pub(crate) fn new_green(name: Option<String>, rt: Arc<Shared>, stack_size: usize) -> Self {
        Thread {
            inner: Arc::new(ThreadInner {
                id: ThreadId::next(),
                name: name.map(String::into_boxed_str),
                park: ParkState::new(),
                waiting_on: AtomicPtr::new(ptr::null_mut()),
                lot: crate::park::lot::LotCell::new(),
                parked_index: std::sync::atomic::AtomicUsize::new(usize::MAX),
                in_stm: std::sync::atomic::AtomicBool::new(false),
                hib: std::sync::atomic::AtomicU16::new(0),
                chan: std::sync::atomic::AtomicUsize::new(0),
                landing: crate::csp::landing::Landing::new(),
                green: Some(GreenInfo {
                    rt,
                    home: AtomicU32::new(u32::MAX),
                    slot: AtomicU32::new(u32::MAX),
                    yielder: AtomicPtr::new(ptr::null_mut()),
                    stack_size,
                }),
            }),
        }
    }

    fn new_kernel() -> Self {
        Thread {
            inner: Arc::new(ThreadInner {
                id: ThreadId::next(),
                name: std::thread::current().name().map(Box::from),
                park: ParkState::new(),
                waiting_on: AtomicPtr::new(ptr::null_mut()),
                lot: crate::park::lot::LotCell::new(),
                parked_index: std::sync::atomic::AtomicUsize::new(usize::MAX),
                in_stm: std::sync::atomic::AtomicBool::new(false),
                hib: std::sync::atomic::AtomicU16::new(0),
                chan: std::sync::atomic::AtomicUsize::new(0),
                landing: crate::csp::landing::Landing::new(),
                green: None,
            }),
        }
    }

    /// The thread's unique id.
    pub fn id(&self) -> ThreadId {
        self.inner.id
    }

    /// The thread's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The usable stack size of a green thread (`None` for a kernel thread).
    pub fn stack_size(&self) -> Option<usize> {
        self.inner.green.as_ref().map(|g| g.stack_size)
    }

    /// `true` for a weft green thread, `false` for a kernel thread.
    pub fn is_green(&self) -> bool {
        self.inner.green.is_some()
    }

    /// What the thread says it waits on, while it is parked.
    pub fn waiting_on(&self) -> Option<&'static str> {
        let p = self.inner.waiting_on.load(Ordering::Acquire);
        // SAFETY: the pointer is null or was made from a `&'static WaitReason` in
        // `park::park_on`, so it is valid for the whole program.
        unsafe { p.as_ref() }.map(|r| r.what())
    }

    /// Makes the thread's wake-up token available: if it is parked it becomes
    /// runnable; otherwise its next park returns at once. Tokens do not accumulate.
    ///
    /// A green thread is woken on its own worker (started green threads never move); a
    /// kernel thread is woken through its futex.
    #[inline]
    pub fn unpark(&self) {
        self.inner.unpark();
    }
}

impl ThreadInner {
    /// [`Thread::unpark`], through the control block.
    #[inline(always)]
    pub(crate) fn unpark(&self) {
        if self.park.unpark() {
            match &self.green {
                Some(g) => g.rt.wake_green(&g.home, &g.slot),
                None => {
                    crate::runtime::deadlock::bump();
                    crate::park::futex::wake(&self.park.0, 1);
                }
            }
        }
    }

    /// [`unpark`](Self::unpark) of a green thread for which
    /// [`is_home_here`](Self::is_home_here) held in the caller's current turn: its run
    /// queue is this worker's, so the wake-up skips `wake_green`'s second look at where
    /// it runs.
    #[inline(always)]
    pub(crate) fn unpark_here(&self) {
        if self.park.unpark() {
            if let Some(g) = &self.green {
                crate::runtime::worker::wake_green_here(&g.slot);
            }
        }
    }

    /// `true` when this is a green thread whose home worker is the one running the
    /// caller (on that worker's kernel thread, in its current turn).
    #[inline(always)]
    pub(crate) fn is_home_here(&self) -> bool {
        match &self.green {
            Some(g) => crate::runtime::worker::is_current_worker(&g.rt, &g.home),
            None => false,
        }
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("green", &self.is_green())
            .finish()
    }
}

thread_local! {
    static KERNEL: OnceCell<Thread> = const { OnceCell::new() };
    /// The handle for a kernel thread's last moments, once `KERNEL` has been destroyed
    /// (a thread-local's destructor that waits on a weft lock): made at most once per
    /// thread and leaked, so that every call returns the same handle (a parked thread
    /// must be woken through the handle it parked with). No drop glue, so it stays
    /// usable while the thread's other thread-locals are destroyed.
    static LATE: std::cell::Cell<Option<&'static Thread>> = const { std::cell::Cell::new(None) };
}

/// The handle of the calling thread: the green thread running this code, or else the
/// kernel thread (a handle is made for it on first use).
pub fn current() -> Thread {
    if let Some(t) = crate::runtime::worker::current_green() {
        return t;
    }
    current_kernel()
}

/// The calling thread's handle, for use on this thread only: a green thread's is
/// borrowed, with no reference count taken (a blocking operation's owner waits through
/// it; see `csp/waiter.rs`), a kernel thread's is a clone.
///
/// No closure: a blocking operation parks with this handle in its own frame, and every
/// frame that is live across a context switch costs a mispredicted return when the
/// thread is resumed (see `runtime/worker.rs`, `park_green`).
#[inline(always)]
pub(crate) fn current_ref() -> CurrentRef {
    if let Some(p) = crate::runtime::worker::current_green_inner() {
        // SAFETY: `p` came from `Arc::as_ptr` of the running green thread's control
        // block, which its worker slot keeps alive while the thread runs. A
        // `CurrentRef` is `!Send` (it holds a `PhantomData<*const ()>`), so it lives on
        // this thread, and within the running thread's lifetime. The handle rebuilt
        // from `p` is never dropped (`owned` is false), so the strong count it did not
        // take is never given back.
        let inner = unsafe { Arc::from_raw(p) };
        return CurrentRef {
            t: std::mem::ManuallyDrop::new(Thread { inner }),
            owned: false,
            _not_send: std::marker::PhantomData,
        };
    }
    // A kernel thread's wait is a futex round trip anyway: one clone is no cost there.
    CurrentRef {
        t: std::mem::ManuallyDrop::new(current_kernel()),
        owned: true,
        _not_send: std::marker::PhantomData,
    }
}

/// The calling thread's handle, borrowed or owned; see [`current_ref`].
pub(crate) struct CurrentRef {
    t: std::mem::ManuallyDrop<Thread>,
    /// `true`: `t` holds a strong count of its own (a kernel thread's clone).
    owned: bool,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl std::ops::Deref for CurrentRef {
    type Target = Thread;
    #[inline(always)]
    fn deref(&self) -> &Thread {
        &self.t
    }
}

impl Drop for CurrentRef {
    #[inline(always)]
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: `owned` says `t` holds its own strong count, and it is dropped
            // only here, once.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.t) }
        }
    }
}

/// The calling kernel thread's handle (never a green thread's).
pub(crate) fn current_kernel() -> Thread {
    KERNEL
        .try_with(|k| k.get_or_init(Thread::new_kernel).clone())
        .unwrap_or_else(|_| late_kernel())
}

/// [`current_kernel`] while the thread exits, after `KERNEL` is gone.
#[cold]
fn late_kernel() -> Thread {
    LATE.with(|l| {
        let t = l.get().unwrap_or_else(|| {
            let t: &'static Thread = Box::leak(Box::new(Thread::new_kernel()));
            l.set(Some(t));
            t
        });
        t.clone()
    })
}
