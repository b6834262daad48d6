//! Transactional variables: the shared header, the typed handle, and memory reclamation.
//!
//! A [`TVar<T>`] is a counted handle to a heap [`VarHeader`], which holds the variable's
//! versioned lock ([`VLock`]), a pointer to its current value (a `Box<T>`, immutable once
//! published), and `T`'s drop function; `retry` waiters are kept in a striped table
//! keyed by the header's address. Everything a transaction keeps
//! about a variable is a [`VarPtr`] to the untyped header, so read and write sets are plain
//! vectors.
//!
//! **Inline values.** A primitive `T` (integers, floats, `bool`, `char`, `()`: at most 8
//! bytes, no padding, no drop glue; recognised by its `TypeId`, which the compiler folds
//! to a constant) is stored in the header's `bits` word instead of a box, and pending
//! writes keep it inline too: a transaction on such variables allocates nothing and
//! retires nothing. The read protocol is the same, with `bits` as the slot.
//!
//! **Type-stable headers.** A header's memory is never freed: when the last handle goes,
//! the header is *retired* — under its own lock its `generation` is bumped and its boxed
//! value (if any) handed to the epoch collector — and put on a free list, from which
//! [`TVar::new`] reuses it (keeping the lock word, so versions only ever grow). So any
//! header pointer a transaction picked up stays valid memory for ever, and a transaction
//! needs no epoch pin for its read and write sets:
//! * a read goes through a live handle (`&TVar`), so it reads the right variable;
//! * validation and extension only compare lock words: if a variable read was retired
//!   (and perhaps reused) without a commit in between, what was read is still its last
//!   value, which nobody can change any more, so the read stays valid; any commit to it
//!   (or to its reuse) moves the version on, and the read fails as usual;
//! * a write entry records the generation seen through its live handle; the commit, once
//!   it holds the header's lock (under which alone the generation changes), skips the
//!   entry if the generation moved on: the variable is gone and nobody can see the write.
//!
//! **Reclamation of boxed values (crossbeam-epoch).** A committer swaps in a new box and
//! retires the old one with the epoch collector. A transaction pins only when it reads a
//! boxed value (from then to its end) or retires one, so transactions on inline values
//! never pin. A parked `retry` keeps the variables it waits on alive with counted
//! references ([`VarPtr::retain`], never from zero).
//!
//! The collector is weft's own ([`pin`]), not crossbeam's default one. Whoever pins a
//! collector may be made to run its deferred destructors, which here are user `Drop`
//! code that can block or run transactions. crossbeam-deque pins the default collector on
//! every steal, including in a worker's scheduler loop: a destructor run there once
//! blocked the worker while the green thread it waited for sat in that worker's queue.
//! With a collector of its own, values are destroyed only inside weft's STM calls: at the
//! end of `atomically` (those collected during a transaction are kept back until then),
//! when a variable is released, or by [`TVar::load`].

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_epoch::{Collector, Guard, LocalHandle};

use super::vlock::{read_consistent, Slot, VLock};
use crate::Thread;

/// The epoch collector of replaced and released values (see the module docs).
fn collector() -> &'static Collector {
    static COLLECTOR: std::sync::OnceLock<Collector> = std::sync::OnceLock::new();
    COLLECTOR.get_or_init(Collector::new)
}

std::thread_local! {
    /// This kernel thread's handle on [`collector`].
    static HANDLE: LocalHandle = collector().register();
}

/// Pins the current kernel thread in weft's STM collector: values retired from now on
/// stay alive until the guard is dropped.
///
/// The pin count is the kernel thread's, shared by the green threads of its worker:
/// pinning, unpinning and deferring are critical sections (`critical.rs`), so preemption
/// never interleaves two of them; being pinned is not (pins nest).
#[inline]
pub(crate) fn pin() -> Pinned {
    let _c = crate::critical::Critical::new();
    // During thread exit the thread-local may be gone: pin through a handle of its own.
    Pinned(std::mem::ManuallyDrop::new(
        HANDLE
            .try_with(LocalHandle::pin)
            .unwrap_or_else(|_| collector().register().pin()),
    ))
}

/// An epoch guard whose unpinning is a critical section (see [`pin`]).
pub(crate) struct Pinned(std::mem::ManuallyDrop<Guard>);

impl Pinned {
    /// Defers `f` until no pinned thread can still see what it frees, as
    /// [`Guard::defer_unchecked`].
    ///
    /// # Safety
    ///
    /// As [`Guard::defer_unchecked`].
    pub(crate) unsafe fn defer_unchecked<F: FnOnce() -> R, R>(&self, f: F) {
        let _c = crate::critical::Critical::new();
        // SAFETY: the caller's contract.
        unsafe { self.0.defer_unchecked(f) }
    }
}

impl std::ops::Deref for Pinned {
    type Target = Guard;
    fn deref(&self) -> &Guard {
        &self.0
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _c = crate::critical::Critical::new();
        // SAFETY: dropped once, here.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.0) };
    }
}

/// A thread parked in `retry`, registered with every variable its attempt read.
pub(crate) struct RetryToken {
    pub(crate) fired: AtomicBool,
    pub(crate) thread: Thread,
}

impl RetryToken {
    /// Wakes the waiter once (later calls do nothing).
    pub(crate) fn fire(&self) {
        if !self.fired.swap(true, Ordering::AcqRel) {
            self.thread.unpark();
        }
    }
}

/// The untyped part of a variable, shared by every handle: 48 bytes, aligned to a cache
/// line of its own, so a commit to one variable never slows readers of its neighbour.
/// (Retry waiters are kept out of line, in [`WAITERS`].) Never freed: see the module docs.
#[repr(align(64))]
pub(crate) struct VarHeader {
    pub(crate) lock: VLock,
    /// The current value: a `Box<T>` turned into a raw pointer, never mutated in place
    /// (null for an inline `T`).
    pub(crate) value: AtomicPtr<()>,
    /// The current value of an inline `T` ([`is_inline`]), as [`to_bits`] makes it.
    pub(crate) bits: AtomicU64,
    /// Handles ([`TVar`]s and retained [`VarPtr`]s) alive.
    refs: AtomicUsize,
    /// Bumped (under the lock) each time the header is retired for reuse.
    pub(crate) generation: AtomicU64,
    /// Drops a `Box<T>` given as a raw pointer: an `unsafe fn(*mut ())` cast to a data
    /// pointer, set by [`TVar::new`] for each use of the header.
    drop_value: AtomicPtr<()>,
}

/// The free list of retired headers.
static FREE: crossbeam_queue::SegQueue<SendPtr> = crossbeam_queue::SegQueue::new();

impl Slot for AtomicPtr<()> {
    type Value = *mut ();
    #[inline]
    fn load_acquire(&self) -> *mut () {
        self.load(Ordering::Acquire)
    }
}

impl Slot for AtomicU64 {
    type Value = u64;
    #[inline]
    fn load_acquire(&self) -> u64 {
        self.load(Ordering::Acquire)
    }
}

/// `true` when `T` is kept inline in a `u64`: a primitive of at most 8 bytes with no
/// padding bytes, no drop glue, and every bit pattern of it a valid `u64` prefix.
#[inline(always)]
pub(crate) fn is_inline<T: 'static>() -> bool {
    use std::any::TypeId;
    let t = TypeId::of::<T>();
    t == TypeId::of::<u64>()
        || t == TypeId::of::<i64>()
        || t == TypeId::of::<u32>()
        || t == TypeId::of::<i32>()
        || t == TypeId::of::<usize>()
        || t == TypeId::of::<isize>()
        || t == TypeId::of::<u16>()
        || t == TypeId::of::<i16>()
        || t == TypeId::of::<u8>()
        || t == TypeId::of::<i8>()
        || t == TypeId::of::<f64>()
        || t == TypeId::of::<f32>()
        || t == TypeId::of::<bool>()
        || t == TypeId::of::<char>()
        || t == TypeId::of::<()>()
}

/// An inline value as a word (the low `size_of::<T>()` bytes, the rest zero).
#[inline(always)]
pub(crate) fn to_bits<T: 'static>(v: T) -> u64 {
    assert!(is_inline::<T>());
    let mut bits = 0u64;
    // SAFETY: `T` is one of the primitives of `is_inline`: at most 8 bytes, every byte
    // initialised (no padding), so copying its bytes into a `u64` yields initialised
    // bytes; `T` has no drop glue, so `v` needs no drop.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (&raw const v).cast::<u8>(),
            (&raw mut bits).cast::<u8>(),
            std::mem::size_of::<T>(),
        );
    }
    bits
}

/// The inverse of [`to_bits`].
///
/// # Safety
///
/// `bits` was made by [`to_bits::<T>`] (same `T`).
#[inline(always)]
pub(crate) unsafe fn from_bits<T: 'static>(bits: u64) -> T {
    debug_assert!(is_inline::<T>());
    // SAFETY: `size_of::<T>() <= 8` (`is_inline`), and the leading bytes are those of a
    // valid `T` written by `to_bits` (a bitwise copy of a primitive is a valid value).
    unsafe { std::mem::transmute_copy::<u64, T>(&bits) }
}

/// Drops nothing: the "destructor" of an inline value.
///
/// # Safety
///
/// None needed (it has the signature of [`drop_boxed`] and does nothing).
pub(crate) unsafe fn drop_nothing(_: *mut ()) {}

/// Drops a `Box<T>` made by [`box_value`].
///
/// # Safety
///
/// `p` came from [`box_value::<T>`] (same `T`) and is not used again.
pub(crate) unsafe fn drop_boxed<T>(p: *mut ()) {
    // SAFETY: the caller promises `p` is a `Box<T>` it owns.
    drop(unsafe { Box::from_raw(p.cast::<T>()) });
}

/// Boxes a value as the untyped pointer a header stores.
pub(crate) fn box_value<T>(v: T) -> *mut () {
    Box::into_raw(Box::new(v)).cast()
}

// One cache line per variable, no more.
const _: () = assert!(std::mem::size_of::<VarHeader>() == 64);

impl VarHeader {
    /// The drop function of the current use's `T`.
    #[inline]
    pub(crate) fn drop_value(&self) -> unsafe fn(*mut ()) {
        let f = self.drop_value.load(Ordering::Relaxed);
        // SAFETY: `drop_value` only ever holds an `unsafe fn(*mut ())` cast to `*mut ()` by
        // `TVar::new` (same size, provenance kept); transmuting back gives that function.
        unsafe { std::mem::transmute::<*mut (), unsafe fn(*mut ())>(f) }
    }
}

/// The retry waiters of every variable, in stripes keyed by the header's address: each
/// entry is (header address, token). Only `retry` and commits that found the waiters bit
/// touch it. An entry never outlives its variable: a waiter holds a count on each
/// variable it registered with and removes its entries before giving the counts back.
static WAITERS: [Mutex<Stripe>; 64] = [const { Mutex::new(Vec::new()) }; 64];

/// One stripe of [`WAITERS`]: (header address, token) pairs.
type Stripe = Vec<(usize, Arc<RetryToken>)>;

impl VarHeader {
    fn stripe(&self) -> crate::critical::Locked<'static, Stripe> {
        let addr = self as *const VarHeader as usize;
        crate::critical::lock(&WAITERS[(addr >> 6) % WAITERS.len()])
    }

    /// Registers a retry token.
    pub(crate) fn add_waiter(&self, token: &Arc<RetryToken>) {
        let addr = self as *const VarHeader as usize;
        self.stripe().push((addr, Arc::clone(token)));
    }

    /// Removes a retry token (if still registered).
    pub(crate) fn remove_waiter(&self, token: &Arc<RetryToken>) {
        let addr = self as *const VarHeader as usize;
        let mut w = self.stripe();
        if let Some(i) = w
            .iter()
            .position(|(a, t)| *a == addr && Arc::ptr_eq(t, token))
        {
            w.swap_remove(i);
        }
    }

    /// Wakes every registered waiter (a commit wrote this variable, and its lock CAS found
    /// the waiters bit set).
    pub(crate) fn wake_waiters(&self) {
        let addr = self as *const VarHeader as usize;
        let mut tokens = Vec::new();
        {
            let mut w = self.stripe();
            let mut i = 0;
            while i < w.len() {
                if w[i].0 == addr {
                    tokens.push(w.swap_remove(i).1);
                } else {
                    i += 1;
                }
            }
        }
        for t in tokens {
            t.fire();
        }
    }
}

/// An untyped pointer to a variable's header, as read and write sets keep it.
///
/// Headers are never freed (see the module docs), so the pointer is always valid memory;
/// which variable it belongs to is decided by the generation and the version, as above.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct VarPtr(NonNull<VarHeader>);

impl VarPtr {
    /// The header.
    #[inline]
    pub(crate) fn header(self) -> &'static VarHeader {
        // SAFETY: every `VarPtr` points to a header allocated by `TVar::new`, and headers
        // are never freed (retired ones are reused as headers), so the reference is valid
        // for ever; its fields are atomics.
        unsafe { self.0.as_ref() }
    }

    /// A bit for a 64-bit Bloom filter of pointers.
    #[inline]
    pub(crate) fn bloom_bit(self) -> u64 {
        let a = self.0.as_ptr() as usize;
        1u64 << ((a >> 6) & 63)
    }

    /// Takes a count on the header, unless it is already unreachable (no handle left: then
    /// no commit can ever write it again, and `None` is returned).
    ///
    /// (If the header was retired and reused meanwhile, the count is taken on the new
    /// variable; the caller then finds its version changed and gives the count back.)
    pub(crate) fn retain(self) -> Option<VarPtr> {
        let h = self.header();
        let mut n = h.refs.load(Ordering::Relaxed);
        loop {
            if n == 0 {
                return None;
            }
            match h
                .refs
                .compare_exchange_weak(n, n + 1, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(self),
                Err(now) => n = now,
            }
        }
    }

    /// Gives back a count taken by [`VarPtr::retain`] (or held by a handle); the last one
    /// retires the header (see the module docs).
    ///
    /// # Safety
    ///
    /// The caller holds the count.
    pub(crate) unsafe fn release(self) {
        let h = self.header();
        if h.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        // Lock the header (a commit holding it is one whose write entry is stale: it will
        // see the new generation, or has just written a value nobody can read).
        let seen = h.lock.lock_spinning();
        h.generation.fetch_add(1, Ordering::Relaxed);
        let value = h.value.swap(std::ptr::null_mut(), Ordering::Relaxed);
        let drop_value = h.drop_value();
        // The version stays: a transaction that read this variable read its last value,
        // which no commit can change any more; the generation is what tells a write entry
        // that its variable is gone.
        h.lock.unlock_unchanged(seen);
        FREE.push(SendPtr(self.0));
        super::counters::RECLAIMED.fetch_add(1, Ordering::Relaxed);
        if !value.is_null() {
            let value = SendValuePtr(value);
            let guard = pin();
            // SAFETY: the value is no longer reachable from the header; transactions that
            // read it are pinned, and the collector runs this after they unpin.
            // `drop_value` is the function of its type.
            unsafe {
                guard.defer_unchecked(move || {
                    let v = value;
                    // SAFETY: as above: run once, after every reader has unpinned.
                    super::drop_value(v.0, drop_value);
                });
            }
        }
    }
}

/// A retired header on the free list.
struct SendPtr(NonNull<VarHeader>);
// SAFETY: a header is shared between threads anyway (atomics only); the free list just
// moves the pointer.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// A retired boxed value moved into a deferred destructor.
struct SendValuePtr(*mut ());
// SAFETY: it points to a `T: Send + Sync` value that only the destructor touches.
unsafe impl Send for SendValuePtr {}

/// A transactional variable: a shared handle to one value of type `T`.
///
/// Each variable has a 64-byte header (plus a box for a value that is not a primitive);
/// headers are never returned to the allocator: those of dropped variables are reused by
/// new ones, so their memory stays at the high-water mark of variables alive at once
/// ([`stats`](super::stats) counts the headers allocated and the variables reclaimed).
///
/// A replaced or dropped value is destroyed once no transaction that could have read it
/// is running (epoch-based reclamation), so a value that holds the last handle of another
/// variable frees that variable one collection later, and a chain of variables linked
/// through their values (a linked list of `TVar`s) is freed one link per collection.
/// Unlink what you remove (write the link to a value without the handle), as
/// [`TQueue`](super::TQueue) does with the chunks it leaves behind.
///
/// Cloning is cheap (a reference count) and the clone refers to the same variable. Read
/// and write it inside [`atomically`](super::atomically) with
/// [`Transaction::read`](super::Transaction::read) and friends; outside, [`TVar::load`]
/// reads a consistent value (like GHC's `readTVarIO`).
///
/// ```
/// use weft::stm::{atomically, TVar};
/// let v = TVar::new(1u32);
/// let w = v.clone(); // the same variable
/// atomically(|tx| tx.write(&w, 2));
/// assert_eq!(v.load(), 2);
/// ```
///
/// `TVar<T>` is invariant in `T`: a handle cannot be turned into one of a subtype or a
/// supertype, which would let a function that keeps its `&'static` argument be stored
/// through one handle and called with a short-lived reference through the other:
///
/// ```compile_fail
/// use weft::stm::TVar;
/// fn ignore(_: &String) {}
/// let v: TVar<for<'a> fn(&'a String)> = TVar::new(ignore);
/// let w: TVar<fn(&'static String)> = v.clone();
/// ```
pub struct TVar<T> {
    ptr: VarPtr,
    /// Invariant in `T` (as `Cell<T>` is): a `TVar` both hands out and takes in `T`s, so
    /// turning a `TVar<T>` into a `TVar<U>` for a subtype or supertype `U` would let a
    /// value of one type be read as the other.
    _value: PhantomData<fn(T) -> T>,
}

// SAFETY: a `TVar<T>` hands out clones of `T` to any thread and moves `T`s in from any
// thread, and values are dropped on whichever thread reclaims them: `T: Send + Sync`
// makes both sound. The header is only touched through atomics and a mutex.
unsafe impl<T: Send + Sync> Send for TVar<T> {}
// SAFETY: as above; `&TVar<T>` allows nothing more than `TVar<T>` does.
unsafe impl<T: Send + Sync> Sync for TVar<T> {}

impl<T: Clone + Send + Sync + 'static> TVar<T> {
    /// A new variable holding `value`.
    pub fn new(value: T) -> Self {
        let (ptr, bits, drop_value): (_, _, unsafe fn(*mut ())) = if is_inline::<T>() {
            (std::ptr::null_mut(), to_bits(value), drop_nothing)
        } else {
            (box_value(value), 0, drop_boxed::<T>)
        };
        let header = match FREE.pop() {
            Some(SendPtr(p)) => {
                // SAFETY: headers are never freed; a retired one has no handle, so nothing
                // reads its value fields until this new handle is shared.
                let h = unsafe { p.as_ref() };
                h.value.store(ptr, Ordering::Relaxed);
                h.bits.store(bits, Ordering::Relaxed);
                h.drop_value.store(drop_value as *mut (), Ordering::Relaxed);
                h.refs.store(1, Ordering::Relaxed);
                p
            }
            None => {
                super::counters::HEADERS.fetch_add(1, Ordering::Relaxed);
                NonNull::from(Box::leak(Box::new(VarHeader {
                    lock: VLock::new(0),
                    value: AtomicPtr::new(ptr),
                    bits: AtomicU64::new(bits),
                    refs: AtomicUsize::new(1),
                    generation: AtomicU64::new(0),
                    drop_value: AtomicPtr::new(drop_value as *mut ()),
                })))
            }
        };
        TVar {
            ptr: VarPtr(header),
            _value: PhantomData,
        }
    }

    /// Reads the current value outside any transaction: the value of the latest commit
    /// that wrote it (waits, briefly, while a commit is writing it). Works inside a
    /// transaction too, but then it is not part of the transaction.
    pub fn load(&self) -> T {
        let h = self.header();
        let _guard = (!is_inline::<T>()).then(pin);
        loop {
            if is_inline::<T>() {
                if let Ok((_, bits)) = read_consistent(&h.lock, &h.bits, 64) {
                    // SAFETY: the slot of an inline `T` only ever holds `to_bits::<T>`.
                    return unsafe { from_bits::<T>(bits) };
                }
            } else if let Ok((_, p)) = read_consistent(&h.lock, &h.value, 64) {
                // SAFETY: `p` is the published value of a consistent version: a `Box<T>`
                // never mutated after publication, kept alive by `_guard` (pinned before the
                // load).
                return unsafe { &*p.cast::<T>() }.clone();
            }
            crate::yield_now();
        }
    }
}

impl<T> TVar<T> {
    /// The header pointer, for read and write sets.
    #[inline]
    pub(crate) fn ptr(&self) -> VarPtr {
        self.ptr
    }

    /// The header (of this variable while this handle lives).
    #[inline]
    pub(crate) fn header(&self) -> &'static VarHeader {
        self.ptr.header()
    }

    /// `true` when both handles refer to the same variable.
    pub fn same(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }

    /// Takes the (boxed) value out of a variable of which this is the only handle, now
    /// rather than through the epoch collector, and leaves the variable empty. `None` when
    /// another handle or count exists, or the value is inline.
    ///
    /// # Safety
    ///
    /// No pointer into the value lent by `Transaction::read_ptr` may be used after this
    /// call, and the variable must not be read through this handle again (drop it next).
    pub(crate) unsafe fn take_unshared(&mut self) -> Option<T> {
        let h = self.header();
        // `Acquire`: the handles that are gone gave their counts back with `Release`
        // after their last read, so those reads (and the clones they made of the value)
        // are over.
        if h.refs.load(Ordering::Acquire) != 1 {
            return None;
        }
        // No other handle: no read can start. A `retry` waiter may still take a count, but
        // waiters look only at the lock word. The lock keeps a stale commit out.
        let seen = h.lock.lock_spinning();
        let value = h.value.swap(std::ptr::null_mut(), Ordering::Relaxed);
        h.lock.unlock_unchanged(seen);
        // SAFETY: a non-null value of this variable is a `Box<T>` owned by the header
        // (inline values leave it null); swapped out, it is ours, and no reader can reach
        // it (above; `read_ptr` borrowers are excluded by the caller).
        (!value.is_null()).then(|| *unsafe { Box::from_raw(value.cast::<T>()) })
    }
}

impl<T> Clone for TVar<T> {
    fn clone(&self) -> Self {
        self.ptr.header().refs.fetch_add(1, Ordering::Relaxed);
        TVar {
            ptr: self.ptr,
            _value: PhantomData,
        }
    }
}

impl<T> Drop for TVar<T> {
    fn drop(&mut self) {
        // SAFETY: this handle's count is given back and the pointer not used again.
        unsafe { self.ptr.release() }
    }
}

impl<T: Clone + Send + Sync + fmt::Debug + 'static> fmt::Debug for TVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TVar").field("value", &self.load()).finish()
    }
}

impl<T: Clone + Send + Sync + Default + 'static> Default for TVar<T> {
    fn default() -> Self {
        TVar::new(T::default())
    }
}
