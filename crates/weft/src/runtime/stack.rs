//! Green-thread stacks: carved from large lazily-committed reservations, guarded, pooled.
//!
//! # Layout
//!
//! Stacks come in power-of-two size classes from [`MIN_STACK_SIZE`] to
//! [`MAX_STACK_SIZE`]. Each class carves *slots* out of 1 GiB *chunks* reserved with
//! `mmap(MAP_NORESERVE)`: nothing is committed until a page is first touched, so a
//! parked thread that used one page of its stack costs one page of memory.
//!
//! ```text
//!   chunk (1 GiB, MAP_NORESERVE)
//!   ┌───────┬──────────────────┬───────┬──────────────────┬─────
//!   │ guard │ stack 0  ← grows │ guard │ stack 1  ← grows │ ...
//!   └───────┴──────────────────┴───────┴──────────────────┴─────
//!   low addresses                                   high addresses
//! ```
//!
//! Every slot starts with a one-page guard. On Linux ≥ 6.13 it is installed with
//! `madvise(MADV_GUARD_INSTALL)`, which costs no extra mapping. On older kernels it
//! falls back to `mprotect(PROT_NONE)`, which splits the chunk's mapping, so each stack
//! costs two entries of `vm.max_map_count` (65 530 by default): near 32 000 stacks the
//! kernel refuses, and the spawn fails with an error that says so. Rust code probes
//! its stack page by page (stack probes on x86_64 and aarch64), so a one-page guard is
//! enough to catch every overflow; `runtime/signal.rs` reports it.
//!
//! # Pooling
//!
//! Freed stacks go to a per-kernel-thread cache (then a global list per class) and are
//! reused as they are, their touched pages still committed, so reuse faults no page.
//! When a stack is freed, the pages deeper than [`HIGH_WATER`] below its top are
//! released with `MADV_DONTNEED` if they were touched (checked with `mincore` on the
//! page just below the mark: stacks are touched contiguously from the top, so if that
//! page is absent, no deeper page is present).
//!
//! # Invariants
//!
//! * A slot is owned by exactly one [`GreenStack`] or one pool list at a time.
//! * Chunks are never unmapped, so a stack address stays valid for the whole process
//!   (the signal handler relies on it) and a leaked stack (a green thread that never
//!   finished) stays harmless.

use std::cell::RefCell;
use std::io;
use std::num::NonZeroUsize;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::thread::ThreadInner;

/// The smallest stack a green thread may ask for (32 KiB): enough for the runtime's own
/// frames and the panic machinery, with room to spare for small closures. (16 KiB was
/// not: a panic with `RUST_BACKTRACE=1` overflowed it while formatting the backtrace.)
pub const MIN_STACK_SIZE: usize = 32 * 1024;
/// The largest stack a green thread may ask for (256 MiB).
pub const MAX_STACK_SIZE: usize = 256 * 1024 * 1024;
/// The default stack size of a green thread (64 KiB). See the crate docs for why.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;
/// Pages deeper than this below a freed stack's top are given back to the kernel.
pub const HIGH_WATER: usize = 16 * 1024;

const PAGE: usize = 4096;
const GUARD: usize = PAGE;
const CHUNK: usize = 1 << 30;
/// The most 1 GiB chunks that may be reserved: 4 TiB of address space (lower it with
/// the `WEFT_MAX_STACK_GIB` environment variable).
pub const MAX_CHUNKS: usize = 4096;
const CLASSES: usize =
    (MAX_STACK_SIZE.trailing_zeros() - MIN_STACK_SIZE.trailing_zeros() + 1) as usize;
/// Per-kernel-thread cache length per class.
const CACHE: usize = 64;
/// Stacks moved between a cache and the global list at a time.
const BATCH: usize = 32;

const MADV_GUARD_INSTALL: libc::c_int = 102;

/// How guards are installed: 0 = not decided yet, 1 = madvise, 2 = mprotect.
static GUARD_MODE: AtomicU8 = AtomicU8::new(0);

/// One reserved chunk, as the signal handler sees it.
struct ChunkInfo {
    base: AtomicUsize,
    slot: AtomicUsize,
    /// One owner pointer per slot (the running thread's control block, or null).
    owners: AtomicPtr<AtomicPtr<ThreadInner>>,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_CHUNK: ChunkInfo = ChunkInfo {
    base: AtomicUsize::new(0),
    slot: AtomicUsize::new(0),
    owners: AtomicPtr::new(ptr::null_mut()),
};
static CHUNKS: [ChunkInfo; MAX_CHUNKS] = [EMPTY_CHUNK; MAX_CHUNKS];
/// Number of fully published entries of `CHUNKS`.
static CHUNK_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Serialises chunk reservation (the slow path).
static RESERVE: Mutex<()> = Mutex::new(());

/// A free stack: its slot's lowest address (the guard's start) and its chunk.
#[derive(Clone, Copy, Debug)]
struct Slot {
    low: usize,
    chunk: u32,
    index: u32,
}

struct Class {
    free: Mutex<Vec<Slot>>,
    bump: Mutex<Bump>,
}

#[derive(Default)]
struct Bump {
    chunk: u32,
    next: usize,
    end: usize,
    has_chunk: bool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_CLASS: Class = Class {
    free: Mutex::new(Vec::new()),
    bump: Mutex::new(Bump {
        chunk: 0,
        next: 0,
        end: 0,
        has_chunk: false,
    }),
};
static POOL: [Class; CLASSES] = [EMPTY_CLASS; CLASSES];

struct Cache([Vec<Slot>; CLASSES]);

impl Drop for Cache {
    fn drop(&mut self) {
        for (class, list) in self.0.iter_mut().enumerate() {
            if !list.is_empty() {
                trim_batch(list, class);
                lock(&POOL[class].free).append(list);
            }
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Cache> = RefCell::new(Cache(std::array::from_fn(|_| Vec::new())));
}

use super::lock;

/// The usable size a request gets: rounded up to a power of two. Errors name the limits.
pub(crate) fn class_of(size: usize) -> io::Result<(usize, usize)> {
    if size < MIN_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "green thread stack size {size} bytes is below the safe minimum of \
                 {MIN_STACK_SIZE} bytes (weft::MIN_STACK_SIZE)"
            ),
        ));
    }
    if size > MAX_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "green thread stack size {size} bytes is above the maximum of \
                 {MAX_STACK_SIZE} bytes (weft::MAX_STACK_SIZE); use a kernel thread \
                 for deeper stacks"
            ),
        ));
    }
    let rounded = size.next_power_of_two();
    let class = (rounded.trailing_zeros() - MIN_STACK_SIZE.trailing_zeros()) as usize;
    Ok((class, rounded))
}

const fn class_size(class: usize) -> usize {
    MIN_STACK_SIZE << class
}

const fn slot_size(class: usize) -> usize {
    class_size(class) + GUARD
}

/// An owned green-thread stack. Dropping it returns it to the pool.
#[derive(Debug)]
pub(crate) struct GreenStack {
    slot: Slot,
    class: u8,
}

impl GreenStack {
    /// Takes a stack of at least `size` usable bytes from the pool, reserving address
    /// space and installing a guard when the pool is empty.
    pub(crate) fn new(size: usize) -> io::Result<GreenStack> {
        let (class, _) = class_of(size)?;
        // The cache is the kernel thread's (`critical.rs`).
        let _c = crate::critical::Critical::new();
        let cached = LOCAL
            .try_with(|c| {
                let mut c = c.borrow_mut();
                let list = &mut c.0[class];
                if list.is_empty() {
                    let mut global = lock(&POOL[class].free);
                    let take = global.len().min(BATCH);
                    let from = global.len() - take;
                    list.extend(global.drain(from..));
                }
                list.pop()
            })
            .ok()
            .flatten();
        let slot = match cached {
            Some(s) => s,
            None => carve(class)?,
        };
        Ok(GreenStack {
            slot,
            class: class as u8,
        })
    }

    /// Usable bytes (the guard excluded).
    pub(crate) fn size(&self) -> usize {
        class_size(self.class as usize)
    }

    fn top(&self) -> usize {
        self.slot.low + slot_size(self.class as usize)
    }

    /// The usable bytes, `[low, top)`: the slot above its guard, page-aligned.
    pub(crate) fn usable(&self) -> (usize, usize) {
        (self.slot.low + GUARD, self.top())
    }

    /// Records which thread runs on this stack, for the overflow report.
    pub(crate) fn set_owner(&self, owner: *const ThreadInner) {
        let info = &CHUNKS[self.slot.chunk as usize];
        let owners = info.owners.load(Ordering::Acquire);
        // SAFETY: `owners` was published (Release) before this chunk's slots were handed
        // out and points to `CHUNK / slot` atomics that are never freed; `index` is
        // below that count because it was carved from this chunk.
        let cell = unsafe { &*owners.add(self.slot.index as usize) };
        cell.store(owner as *mut _, Ordering::Release);
    }
}

/// Gives back the pages of a free slot deeper than [`HIGH_WATER`] below its top, if any
/// were touched. Done when a stack leaves a kernel thread's cache for the global pool
/// (it is going cold), not on every release: a stack reused at once keeps its pages,
/// and the common release costs no system call.
fn trim(slot: Slot, class: usize) {
    if class_size(class) <= HIGH_WATER {
        return;
    }
    let mark = slot.low + slot_size(class) - HIGH_WATER;
    let probe = mark - PAGE;
    let mut resident = 0u8;
    // SAFETY: `probe` is a page-aligned address inside this slot's mapping, and
    // `resident` has room for the one page asked about.
    let r = unsafe { libc::mincore(probe as *mut libc::c_void, PAGE, &mut resident) };
    if r == 0 && resident & 1 == 0 {
        return;
    }
    let low = slot.low + GUARD;
    // SAFETY: [low, mark) lies inside this slot's usable area; the slot is free (in a
    // pool list owned by the caller), so no thread runs on it and no frame lives there.
    // MADV_DONTNEED only drops the pages' contents, keeping the mapping and guards.
    unsafe {
        libc::madvise(low as *mut libc::c_void, mark - low, libc::MADV_DONTNEED);
    }
}

/// [`trim`] for a batch of free slots of one class, with one `mincore` call per run of
/// slots that lie within 4 MiB of each other in one chunk (slots are carved in address
/// order, so a batch going cold usually is one or two such runs).
fn trim_batch(slots: &mut [Slot], class: usize) {
    if class_size(class) <= HIGH_WATER || slots.is_empty() {
        return;
    }
    const SPAN: usize = 1024; // pages per mincore call
    let probe = |s: &Slot| s.low + slot_size(class) - HIGH_WATER - PAGE;
    slots.sort_unstable_by_key(|s| s.low);
    let mut start = 0;
    while start < slots.len() {
        let first = probe(&slots[start]);
        let mut end = start + 1;
        while end < slots.len()
            && slots[end].chunk == slots[start].chunk
            && (probe(&slots[end]) - first) / PAGE < SPAN
        {
            end += 1;
        }
        let pages = (probe(&slots[end - 1]) - first) / PAGE + 1;
        let mut resident = [0u8; SPAN];
        // SAFETY: [first, first + pages * PAGE) lies inside one chunk's mapping (all the
        // slots of the run are in that chunk), `first` is page-aligned, and `resident`
        // has room for `pages` <= SPAN entries.
        let r = unsafe {
            libc::mincore(
                first as *mut libc::c_void,
                pages * PAGE,
                resident.as_mut_ptr(),
            )
        };
        for s in &slots[start..end] {
            let touched = r != 0 || resident[(probe(s) - first) / PAGE] & 1 != 0;
            if touched {
                let low = s.low + GUARD;
                let mark = s.low + slot_size(class) - HIGH_WATER;
                // SAFETY: as in `trim`: [low, mark) is the usable area of a free slot the
                // caller owns; MADV_DONTNEED keeps the mapping and the guards.
                unsafe {
                    libc::madvise(low as *mut libc::c_void, mark - low, libc::MADV_DONTNEED);
                }
            }
        }
        start = end;
    }
}

impl Drop for GreenStack {
    fn drop(&mut self) {
        self.set_owner(ptr::null());
        let class = self.class as usize;
        let slot = self.slot;
        let _c = crate::critical::Critical::new();
        let cached = LOCAL.try_with(|c| {
            let mut c = c.borrow_mut();
            let list = &mut c.0[class];
            list.push(slot);
            if list.len() > CACHE {
                // The oldest go to the global pool, trimmed.
                let mut cold: Vec<Slot> = list.drain(..BATCH).collect();
                trim_batch(&mut cold, class);
                lock(&POOL[class].free).extend(cold);
            }
        });
        if cached.is_err() {
            trim(slot, class);
            lock(&POOL[class].free).push(slot);
        }
    }
}

// SAFETY: `base` is the top of the slot and `limit` its lowest address (the guard
// included), both 4096-aligned and so aligned to STACK_ALIGNMENT; the slot has a guard
// page at `limit` and at least MIN_STACK_SIZE (32 KiB > corosensei's 4 KiB minimum)
// usable bytes above it, mapped read-write for as long as this value exists (chunks are
// never unmapped).
unsafe impl corosensei::stack::Stack for GreenStack {
    fn base(&self) -> corosensei::stack::StackPointer {
        NonZeroUsize::new(self.top()).expect("stack top is never null")
    }

    fn limit(&self) -> corosensei::stack::StackPointer {
        NonZeroUsize::new(self.slot.low).expect("stack slot is never null")
    }
}

/// Carves fresh slots of `class` (up to [`BATCH`], all from one chunk, reserving a
/// chunk when needed) and guards them; returns one and caches the rest.
fn carve(class: usize) -> io::Result<Slot> {
    let slot_len = slot_size(class);
    let mut slots = Vec::with_capacity(BATCH);
    {
        let mut b = lock(&POOL[class].bump);
        if !b.has_chunk || b.next + slot_len > b.end {
            let (chunk, base) = reserve_chunk(slot_len)?;
            *b = Bump {
                chunk,
                next: base,
                end: base + CHUNK,
                has_chunk: true,
            };
        }
        let base = CHUNKS[b.chunk as usize].base.load(Ordering::Relaxed);
        while slots.len() < BATCH && b.next + slot_len <= b.end {
            let low = b.next;
            b.next += slot_len;
            slots.push(Slot {
                low,
                chunk: b.chunk,
                index: ((low - base) / slot_len) as u32,
            });
        }
    }
    let guarded = install_guards(&slots);
    // Slots whose guard could not be installed are not handed out (their address
    // space stays reserved, unused).
    let first = slots[0];
    if guarded == 0 {
        return Err(guard_error());
    }
    if guarded > 1 {
        let rest = &slots[1..guarded];
        let pushed = LOCAL.try_with(|c| c.borrow_mut().0[class].extend_from_slice(rest));
        if pushed.is_err() {
            lock(&POOL[class].free).extend_from_slice(rest);
        }
    }
    Ok(first)
}

/// Reserves and publishes one chunk for slots of `slot_len` bytes.
fn reserve_chunk(slot_len: usize) -> io::Result<(u32, usize)> {
    let _g = lock(&RESERVE);
    let n = CHUNK_COUNT.load(Ordering::Relaxed);
    let limit = chunk_limit();
    if n >= limit {
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "green thread stack reservation exhausted: all {limit} GiB of address space \
                 for stacks are in use (the limit is WEFT_MAX_STACK_GIB when set, else \
                 {MAX_CHUNKS} GiB); finish some green threads or use smaller stacks"
            ),
        ));
    }
    // SAFETY: a fresh anonymous private mapping at an address of the kernel's choice;
    // it overlaps nothing and is never unmapped.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            CHUNK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!(
                "cannot reserve {} MiB of address space for green thread stacks: {e}",
                CHUNK >> 20
            ),
        ));
    }
    // Where transparent huge pages are on for every mapping, a first touch could commit a
    // 2 MiB page covering dozens of stacks; a stack must cost only the pages it touches.
    // Advice only: on a kernel without THP the call fails harmlessly.
    // SAFETY: advice on the mapping made above, which nothing else uses yet; it changes
    // no contents.
    unsafe { libc::madvise(p, CHUNK, libc::MADV_NOHUGEPAGE) };
    let owners: Box<[AtomicPtr<ThreadInner>]> = (0..CHUNK / slot_len)
        .map(|_| AtomicPtr::new(ptr::null_mut()))
        .collect();
    let info = &CHUNKS[n];
    info.base.store(p as usize, Ordering::Relaxed);
    info.slot.store(slot_len, Ordering::Relaxed);
    info.owners
        .store(Box::leak(owners).as_mut_ptr(), Ordering::Relaxed);
    // Publish the entry to the signal handler's scan.
    CHUNK_COUNT.store(n + 1, Ordering::Release);
    Ok((n as u32, p as usize))
}

/// The most 1 GiB chunks this process may reserve: `WEFT_MAX_STACK_GIB` when set to a
/// number from 1 to [`MAX_CHUNKS`], else [`MAX_CHUNKS`].
fn chunk_limit() -> usize {
    static LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("WEFT_MAX_STACK_GIB")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n >= 1)
            .map_or(MAX_CHUNKS, |n| n.min(MAX_CHUNKS))
    })
}

/// Forces the `mprotect` fallback (for tests of older kernels' behaviour).
fn forced_mprotect() -> bool {
    std::env::var_os("WEFT_GUARD_MPROTECT").is_some_and(|v| v == "1")
}

thread_local! {
    /// Why the last guard installation on this thread failed.
    static GUARD_ERROR: RefCell<Option<io::Error>> = const { RefCell::new(None) };
}

fn guard_error() -> io::Error {
    GUARD_ERROR
        .with(|e| e.borrow_mut().take())
        .unwrap_or_else(|| io::Error::other("cannot install a green thread stack guard"))
}

/// A pidfd for this process, for `process_madvise`; -1 when unavailable.
fn self_pidfd() -> libc::c_int {
    static FD: std::sync::OnceLock<libc::c_int> = std::sync::OnceLock::new();
    *FD.get_or_init(|| {
        // SAFETY: pidfd_open on our own pid has no memory effects; a failure is -1.
        unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) as libc::c_int }
    })
}

/// Installs the guard page of every slot, as many as possible in one system call
/// (`process_madvise` with an iovec per guard, Linux ≥ 6.13 for guards on oneself),
/// else one `madvise` per slot, else `mprotect`. Returns how many leading slots are
/// guarded; when fewer than all, the reason is left for [`guard_error`].
fn install_guards(slots: &[Slot]) -> usize {
    let mut mode = GUARD_MODE.load(Ordering::Relaxed);
    if mode == 0 {
        mode = if forced_mprotect() { 2 } else { 1 };
        GUARD_MODE.store(mode, Ordering::Relaxed);
    }
    if mode == 1 && BATCH_GUARDS.load(Ordering::Relaxed) && slots.len() > 1 {
        let iov: Vec<libc::iovec> = slots
            .iter()
            .map(|s| libc::iovec {
                iov_base: s.low as *mut libc::c_void,
                iov_len: GUARD,
            })
            .collect();
        let fd = self_pidfd();
        if fd >= 0 {
            // SAFETY: `iov` lists the first page of each slot, all carved by this
            // call's caller and owned by it; installing guards only makes those pages
            // fault on access. The kernel reads `iov` during the call only.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_process_madvise,
                    fd,
                    iov.as_ptr(),
                    iov.len(),
                    MADV_GUARD_INSTALL,
                    0,
                )
            };
            if r == (iov.len() * GUARD) as i64 {
                return slots.len();
            }
            // Partial or refused (older kernels restrict process_madvise's advice):
            // stop batching, and guard one by one (re-installing a guard is harmless).
            BATCH_GUARDS.store(false, Ordering::Relaxed);
        }
    }
    for (k, s) in slots.iter().enumerate() {
        if let Err(e) = install_guard(s.low) {
            GUARD_ERROR.with(|g| *g.borrow_mut() = Some(e));
            return k;
        }
    }
    slots.len()
}

/// Whether `process_madvise` batching of guards works here (assumed until refused).
static BATCH_GUARDS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

fn install_guard(low: usize) -> io::Result<()> {
    let mode = GUARD_MODE.load(Ordering::Relaxed);
    if mode == 1 {
        // SAFETY: [low, low + GUARD) is the first page of a slot this thread just carved
        // and owns; installing a guard there only makes that page fault on access.
        let r = unsafe { libc::madvise(low as *mut libc::c_void, GUARD, MADV_GUARD_INSTALL) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot install a green thread stack guard: {e}"),
            ));
        }
        // The kernel predates MADV_GUARD_INSTALL (Linux < 6.13).
        GUARD_MODE.store(2, Ordering::Relaxed);
    }
    // SAFETY: as above: the page is the guard of a slot this thread owns.
    let r = unsafe { libc::mprotect(low as *mut libc::c_void, GUARD, libc::PROT_NONE) };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOMEM) {
        let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "cannot install a green thread stack guard: the kernel's limit on memory \
                 mappings (vm.max_map_count = {limit}) is reached. Without \
                 MADV_GUARD_INSTALL (Linux >= 6.13) each guard page costs two \
                 mappings; raise the limit with `sysctl vm.max_map_count=...` or run on a \
                 newer kernel"
            ),
        ));
    }
    Err(io::Error::new(
        e.kind(),
        format!("cannot install a green thread stack guard: {e}"),
    ))
}

/// Which guard mechanism is in use: `"MADV_GUARD_INSTALL"`, `"mprotect"`, or
/// `"undecided"` before the first stack.
pub fn guard_mechanism() -> &'static str {
    match GUARD_MODE.load(Ordering::Relaxed) {
        1 => "MADV_GUARD_INSTALL",
        2 => "mprotect",
        _ => "undecided",
    }
}

/// The stack slot holding `addr`: its owner (possibly null), `addr`'s offset from the
/// slot's lowest address (its guard's start) and the slot's size. Async-signal-safe:
/// atomics and arithmetic only.
fn slot_of(addr: usize) -> Option<(*const ThreadInner, usize, usize)> {
    let n = CHUNK_COUNT.load(Ordering::Acquire);
    for info in &CHUNKS[..n] {
        let base = info.base.load(Ordering::Relaxed);
        if addr < base || addr >= base + CHUNK {
            continue;
        }
        let slot = info.slot.load(Ordering::Relaxed);
        let index = (addr - base) / slot;
        if index >= CHUNK / slot {
            return None;
        }
        let owners = info.owners.load(Ordering::Relaxed);
        // SAFETY: `owners` has CHUNK / slot entries (published before CHUNK_COUNT) and
        // `index` is below that.
        let owner = unsafe { &*owners.add(index) }.load(Ordering::Acquire);
        return Some((owner as *const _, (addr - base) % slot, slot));
    }
    None
}

/// If `addr` lies in a stack guard, the owner of that stack (possibly null) and the
/// stack's usable size. Async-signal-safe.
pub(crate) fn guard_hit(addr: usize) -> Option<(*const ThreadInner, usize)> {
    match slot_of(addr)? {
        (owner, offset, slot) if offset < GUARD => Some((owner, slot - GUARD)),
        _ => None,
    }
}

/// If `addr` lies in the usable part of a green stack, the stack's owner (possibly null)
/// and the bytes between `addr` and the stack's guard (the room left below `addr`).
/// Async-signal-safe (the preemption handler's stack gate).
pub(crate) fn room_below(addr: usize) -> Option<(*const ThreadInner, usize)> {
    match slot_of(addr)? {
        (owner, offset, _) if offset >= GUARD => Some((owner, offset - GUARD)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_round_up_and_reject_bad_sizes() {
        assert_eq!(class_of(MIN_STACK_SIZE).unwrap(), (0, MIN_STACK_SIZE));
        assert_eq!(class_of(MIN_STACK_SIZE + 1).unwrap().1, 2 * MIN_STACK_SIZE);
        assert_eq!(class_of(DEFAULT_STACK_SIZE).unwrap().1, DEFAULT_STACK_SIZE);
        assert_eq!(class_of(MAX_STACK_SIZE).unwrap().0, CLASSES - 1);
        let low = class_of(1024).unwrap_err();
        assert!(
            low.to_string()
                .contains(&format!("minimum of {MIN_STACK_SIZE}")),
            "{low}"
        );
        let high = class_of(MAX_STACK_SIZE + 1).unwrap_err();
        assert!(high.to_string().contains("maximum"), "{high}");
    }

    #[test]
    #[cfg_attr(miri, ignore = "mmap and madvise")]
    fn stacks_are_writable_guarded_and_reused() {
        let s = GreenStack::new(DEFAULT_STACK_SIZE).unwrap();
        let top = s.top();
        assert_eq!(s.size(), DEFAULT_STACK_SIZE);
        // The whole usable area is writable.
        // SAFETY: [top - size, top) is this stack's usable area, owned by `s`.
        unsafe {
            ptr::write_bytes((top - s.size()) as *mut u8, 0xAB, s.size());
        }
        assert!(guard_hit(s.slot.low).is_some());
        assert!(guard_hit(s.slot.low + GUARD).is_none());
        let low = s.slot.low;
        drop(s);
        // Freed stacks come back from this thread's cache first, pages and all.
        let again = GreenStack::new(DEFAULT_STACK_SIZE).unwrap();
        assert_eq!(again.slot.low, low);
        let resident = |addr: usize| {
            let mut v = 0u8;
            // SAFETY: probing the residency of one page of a stack this test owns.
            unsafe { libc::mincore(addr as *mut _, PAGE, &mut v) };
            v & 1 == 1
        };
        assert!(
            resident(again.slot.low + GUARD),
            "hot reuse keeps the pages"
        );
        // Going cold (to the global pool), the deep pages are released, the top kept.
        let (slot, class) = (again.slot, again.class as usize);
        std::mem::forget(again);
        trim(slot, class);
        assert!(
            !resident(slot.low + GUARD),
            "pages below the high-water mark are released"
        );
        assert!(
            resident(slot.low + slot_size(class) - PAGE),
            "the top pages stay"
        );

        // A batch: only the stacks whose deep pages were touched are trimmed, and all of
        // them are.
        let stacks: Vec<GreenStack> = (0..6)
            .map(|_| GreenStack::new(DEFAULT_STACK_SIZE).unwrap())
            .collect();
        for (k, st) in stacks.iter().enumerate() {
            let len = if k % 2 == 0 { st.size() } else { PAGE };
            // SAFETY: the top `len` bytes of a stack this test owns.
            unsafe { ptr::write_bytes((st.top() - len) as *mut u8, 1, len) };
        }
        let mut slots: Vec<Slot> = stacks.iter().map(|st| st.slot).collect();
        for st in stacks {
            std::mem::forget(st);
        }
        trim_batch(&mut slots, class);
        for s in &slots {
            assert!(!resident(s.low + GUARD), "deep pages released");
            assert!(resident(s.low + slot_size(class) - PAGE), "top page kept");
        }
    }
}
