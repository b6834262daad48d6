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
//! **Reclamation (crossbeam-epoch).** A committer swaps in a new value and retires the old
//! one with the epoch collector; the last handle to go retires the header (and its value)
//! the same way. Every transaction attempt stays pinned from its first read to the end of
//! its commit, so every header and value pointer it picked up stays valid for as long as
//! it uses it, even if the last handle is dropped or a newer value is committed meanwhile.
//! A parked `retry` holds no pin: it keeps the variables it waits on alive with counted
//! references taken while it was still pinned ([`VarPtr::retain`]), never from zero.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_epoch::{self as epoch, Guard};

use super::vlock::{read_consistent, Slot, VLock};
use crate::Thread;

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

/// The untyped part of a variable, shared by every handle: 40 bytes, aligned to a cache
/// line of its own, so a commit to one variable never slows readers of its neighbour.
/// (Retry waiters are kept out of line, in [`WAITERS`].)
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
    /// Drops a `Box<T>` given as a raw pointer.
    pub(crate) drop_value: unsafe fn(*mut ()),
}

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

/// The retry waiters of every variable, in stripes keyed by the header's address: each
/// entry is (header address, token). Only `retry` and commits that found the waiters bit
/// touch it. An entry never outlives its variable: a waiter holds a count on each
/// variable it registered with and removes its entries before giving the counts back.
static WAITERS: [Mutex<Stripe>; 64] = [const { Mutex::new(Vec::new()) }; 64];

/// One stripe of [`WAITERS`]: (header address, token) pairs.
type Stripe = Vec<(usize, Arc<RetryToken>)>;

impl VarHeader {
    fn stripe(&self) -> std::sync::MutexGuard<'static, Stripe> {
        let addr = self as *const VarHeader as usize;
        WAITERS[(addr >> 6) % WAITERS.len()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
/// It does not keep the header alive by itself: it is valid while the epoch guard under
/// which it was obtained is pinned, or while it holds a count ([`VarPtr::retain`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct VarPtr(NonNull<VarHeader>);

impl VarPtr {
    /// The header.
    ///
    /// # Safety
    ///
    /// The header must still be alive: the pointer was obtained from a live handle while
    /// `_guard` was pinned (and it still is), or the caller holds a count on it.
    #[inline]
    pub(crate) unsafe fn header(self, _guard: &Guard) -> &VarHeader {
        // SAFETY: the caller promises the header is alive while the guard is (reclamation waits for
        // the guard, or for the count).
        unsafe { self.0.as_ref() }
    }

    /// The header, under a count the caller holds.
    ///
    /// # Safety
    ///
    /// The caller holds a count taken by [`VarPtr::retain`] and not yet released.
    #[inline]
    pub(crate) unsafe fn retained_header(&self) -> &VarHeader {
        // SAFETY: a held count keeps the header alive.
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
    /// # Safety
    ///
    /// As for [`VarPtr::header`]: pinned by `guard` and obtained from a live handle.
    pub(crate) unsafe fn retain(self, guard: &Guard) -> Option<VarPtr> {
        // SAFETY: forwarded to the caller.
        let h = unsafe { self.header(guard) };
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

    /// Gives back a count taken by [`VarPtr::retain`] (or held by a handle).
    ///
    /// # Safety
    ///
    /// The caller holds the count and does not use the pointer afterwards (unless it holds
    /// another count or a pinned guard from before the release).
    pub(crate) unsafe fn release(self) {
        // SAFETY: the count keeps the header alive until the decrement below.
        let h = unsafe { self.0.as_ref() };
        if h.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let p = SendPtr(self.0);
        let guard = epoch::pin();
        // SAFETY: the last count is gone, so no new pointer to the header can be made
        // (`retain` refuses zero); pointers held by pinned transactions stay valid
        // because the collector runs this only after every guard pinned now is gone.
        unsafe {
            guard.defer_unchecked(move || {
                let p = p;
                let header = Box::from_raw(p.0.as_ptr());
                let value = header.value.load(Ordering::Relaxed);
                if !value.is_null() {
                    (header.drop_value)(value);
                }
            });
        }
    }
}

/// A raw header pointer moved into a deferred destructor.
struct SendPtr(NonNull<VarHeader>);
// SAFETY: the header's contents are `Send` (atomics, a mutex of `Arc`s of `Send + Sync`
// tokens, a pointer to a `T: Send + Sync` value that only the destructor touches).
unsafe impl Send for SendPtr {}

/// A transactional variable: a shared handle to one value of type `T`.
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
pub struct TVar<T> {
    ptr: VarPtr,
    _value: PhantomData<T>,
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
        let header = Box::new(VarHeader {
            lock: VLock::new(0),
            value: AtomicPtr::new(ptr),
            bits: AtomicU64::new(bits),
            refs: AtomicUsize::new(1),
            drop_value,
        });
        TVar {
            ptr: VarPtr(NonNull::from(Box::leak(header))),
            _value: PhantomData,
        }
    }

    /// Reads the current value outside any transaction: the value of the latest commit
    /// that wrote it (waits, briefly, while a commit is writing it). Works inside a
    /// transaction too, but then it is not part of the transaction.
    pub fn load(&self) -> T {
        let guard = epoch::pin();
        let h = self.header(&guard);
        loop {
            if is_inline::<T>() {
                if let Ok((_, bits)) = read_consistent(&h.lock, &h.bits, 64) {
                    // SAFETY: the slot of an inline `T` only ever holds `to_bits::<T>`.
                    return unsafe { from_bits::<T>(bits) };
                }
            } else if let Ok((_, p)) = read_consistent(&h.lock, &h.value, 64) {
                // SAFETY: `p` is the published value of a consistent version: a `Box<T>`
                // never mutated after publication, kept alive by `guard`.
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

    /// The header, alive while this handle is.
    #[inline]
    pub(crate) fn header<'a>(&'a self, _guard: &Guard) -> &'a VarHeader {
        // SAFETY: this handle holds a count, so the header lives as long as `self`.
        unsafe { self.ptr.0.as_ref() }
    }

    /// `true` when both handles refer to the same variable.
    pub fn same(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }
}

impl<T> Clone for TVar<T> {
    fn clone(&self) -> Self {
        // SAFETY: this handle holds a count, so the header is alive.
        let h = unsafe { self.ptr.0.as_ref() };
        h.refs.fetch_add(1, Ordering::Relaxed);
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
