//! Stack hibernation: a green thread parked for long gives its stack pages back.
//!
//! # The algorithm
//!
//! A parked green thread costs the pages of stack it touched (at least one, 4 KiB) plus
//! its control block. Most of a page is dead: what the thread will read again when it
//! resumes is only `[sp, top)`, from the stack pointer it was suspended at
//! (`corosensei` saves it; `Coroutine::suspended_stack_ptr`, an accessor weft adds in
//! its vendored copy) to the top of its stack, a few hundred bytes for a thread parked
//! in a channel receive. Hibernating a thread
//!
//! 1. copies `[sp, top)` into a heap buffer of exactly that length, then
//! 2. releases the stack's usable range `[low, top)` with `madvise(MADV_DONTNEED)`: the
//!    pages go back to the kernel, the address range stays reserved (the guard too), and
//!    the next touch of a page maps a fresh zeroed one.
//!
//! Waking it copies the buffer back to `[sp, top)` (faulting in the pages it covers) and
//! frees the buffer, before the thread is resumed. The bytes land at the same addresses,
//! so every pointer the thread's frames hold into its own stack is valid again.
//!
//! # Who does it, and when (`worker.rs`)
//!
//! Only a thread's home worker resumes it, on its own kernel thread, and a started green
//! thread never migrates. So the worker that hibernates a thread and the one that wakes
//! it are the same, and nothing else can run the thread in between: an unpark from
//! anywhere only queues it, and the worker restores the stack before it resumes it. No
//! synchronisation beyond the worker's own program order is needed for the stack bytes.
//!
//! The worker sweeps its slots in bounded batches (every few dozen turns, and before it
//! sleeps; at most 512 slots looked at per batch, and 16 threads hibernated when the
//! worker is idle or 2 between a busy worker's turns, so a batch delays ready threads by
//! tens of microseconds at most), one pass at most per threshold. Each pass first advances an epoch; a slot records
//! the epoch at each resume. A thread is hibernated when it is parked (its park word is
//! `PARKED`: it sits in no run queue), has not run since the epoch before this pass (so
//! it has been parked at least one threshold, and at most two plus a pass), and is not
//! pinned (below).
//!
//! # Soundness: nothing but the owner points into a hibernated stack
//!
//! While a thread is hibernated its stack reads as zeros and writes to it are lost (the
//! copy-back overwrites them). So no code but the thread itself may use its stack from
//! the moment it parks until it runs again. weft's own parts meet that:
//!
//! - Wait-queue entries, the parking lot's cells, a channel operation's state word and
//!   its value's landing live in the thread's control block (heap), never on its stack;
//!   a value a sender waits with is in its landing or in the channel's queue entry.
//! - A worker touches a suspended thread only through its control block and its
//!   coroutine (whose saved stack pointer and stack bounds are outside the stack). The
//!   parent link `corosensei` writes at the top of the stack is written by the resume,
//!   after the copy-back.
//! - `weft::blocking` takes a `'static` closure, and sockets use readiness (the kernel
//!   writes into a green thread's buffer only during a system call the thread makes).
//! - [`weft::scope`](crate::scope) (and `par`, built on it) lends the parent's stack to
//!   its children: a thread inside a scope is *pinned* (a count in its control block)
//!   and never hibernated.
//!
//! - The worker restores a thread's stack before *every* resume: `run_slot`, and the
//!   worker's `Drop`, which gives every hibernated stack its bytes back before its slots
//!   (and so their coroutines, which unwind when dropped) go, should the loop unwind.
//!   Abandoned threads (a runtime dropped with threads still parked) never run again;
//!   their bytes are simply freed.
//! - The pass never counts as a pending timer (it only shortens a worker's sleep), so
//!   it never hides a deadlock from the detector.
//!
//! What weft cannot see is user code that lends a green thread's stack and then parks
//! in weft: a `std::thread::scope` (or rayon's, or crossbeam's) whose body parks on a
//! channel while a scoped kernel thread reads the green thread's locals, a reference
//! sent over a channel of non-`'static` items, a scoped thread-local set to a local
//! around a park (another green thread of the worker reads it), another library's
//! intrusive wait node on the stack, or the kernel holding a stack buffer (asynchronous
//! I/O). That is why hibernation is an `unsafe` opt-in
//! (`RuntimeBuilder::hibernate_after`), whose contract lists these. (The audit that
//! found them also found every one of weft's own structures off the stack.)
//!
//! **Checked mode** (`RuntimeBuilder::hibernate_checked`) makes a broken contract loud:
//! the released range becomes a guard region (`MADV_GUARD_INSTALL`, which discards the
//! pages as `MADV_DONTNEED` does and makes every touch fault), removed before the bytes
//! are copied back. The fault handler (`signal.rs`) finds the stack's owner, sees its
//! hibernated bit (set before the guard goes in, cleared after the copy back) and
//! aborts with a report naming the thread. weft's own hibernation tests run checked, so
//! a touch by weft itself would fail them.
//!
//! # Costs
//!
//! Hibernating costs the copy and one `madvise` (1.4-2.5 µs per call on this machine);
//! waking costs the copy back and a page fault per page it covers, on pages just freed
//! (about 1.5-1.9 µs here, against 3.5-4.6 µs for a never-touched page). A thread that
//! runs at least once per threshold is never hibernated, so hot threads pay one store
//! per resume (the epoch) and one test (is it hibernated?).

use std::io;
use std::sync::atomic::Ordering;

use crate::thread::ThreadInner;

/// Keeps the current thread from being hibernated while it lives (its stack is lent to
/// other threads). Not `Send`: it unpins the thread that made it.
pub(crate) struct Pin<'a> {
    me: &'a ThreadInner,
    _not_send: std::marker::PhantomData<*const ()>,
}

/// The hibernated bit of [`ThreadInner::hib`]; the bits below it count the pins.
pub(crate) const HIBERNATED: u16 = 1 << 15;

impl<'a> Pin<'a> {
    /// Pins `me`, which must be the calling thread's own control block.
    pub(crate) fn new(me: &'a ThreadInner) -> Self {
        // Only the thread itself changes the count, and its worker changes the flag
        // only while the thread is suspended: a look before the add is exact.
        if me.hib.load(Ordering::Relaxed) & !HIBERNATED == HIBERNATED - 1 {
            // The count would carry into the flag.
            crate::runtime::signal::fatal(b"weft: 32 767 nested scopes on one thread");
        }
        me.hib.fetch_add(1, Ordering::Relaxed);
        Pin {
            me,
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        self.me.hib.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `true` when `t` may be hibernated as far as pins go. Read by its home worker while
/// the thread is suspended, on the kernel thread it last ran on: program order
/// publishes the thread's own `Relaxed` updates.
pub(crate) fn unpinned(t: &ThreadInner) -> bool {
    t.hib.load(Ordering::Relaxed) & !HIBERNATED == 0
}

/// Marks `t` hibernated or not (its home worker, while it is suspended).
pub(crate) fn set_hibernated(t: &ThreadInner, on: bool) {
    if on {
        t.hib.fetch_or(HIBERNATED, Ordering::Release);
    } else {
        t.hib.fetch_and(!HIBERNATED, Ordering::Release);
    }
}

/// `true` while `t` is hibernated (async-signal-safe: one load).
pub(crate) fn is_hibernated(t: &ThreadInner) -> bool {
    t.hib.load(Ordering::Acquire) & HIBERNATED != 0
}

/// The live bytes of a hibernated stack, `[sp, top)`.
pub(crate) struct Saved(Box<[u8]>);

impl Saved {
    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// `madvise` advice: turn a range into a guard region (Linux 6.13), discarding its pages.
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// `madvise` advice: remove guard regions from a range.
const MADV_GUARD_REMOVE: libc::c_int = 103;

/// Copies `[sp, top)` into a new buffer and releases `[low, top)`; with `guard`, the
/// range becomes a guard region instead (its pages are discarded the same way, and any
/// touch faults until [`restore`]). On error (the `madvise` refused: no guard regions
/// before Linux 6.13) nothing is released and the thread's stack is untouched.
///
/// # Safety
///
/// `[low, top)` is the usable range of a green stack (mapped read-write, page-aligned)
/// whose coroutine is suspended at `sp`, with `low <= sp <= top`; the thread is not
/// resumed until [`restore`] has run with the result and the same `sp` and `top`; and no
/// code reads or writes `[low, top)` meanwhile (the module docs).
pub(crate) unsafe fn hibernate(
    sp: usize,
    low: usize,
    top: usize,
    guard: bool,
) -> io::Result<Saved> {
    debug_assert!(low <= sp && sp <= top && low % 4096 == 0 && top % 4096 == 0);
    let len = top - sp;
    let mut buf = Box::<[u8]>::new_uninit_slice(len);
    // SAFETY: `[sp, top)` is mapped and readable (the caller), and nothing writes it
    // while we copy (the thread is suspended and no one else uses its stack); the buffer
    // is a fresh allocation of `len` bytes, so the two do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(sp as *const u8, buf.as_mut_ptr().cast::<u8>(), len);
    }
    // SAFETY: every byte was just written.
    let buf = unsafe { buf.assume_init() };
    let advice = if guard {
        MADV_GUARD_INSTALL
    } else {
        libc::MADV_DONTNEED
    };
    // SAFETY: `[low, top)` is a page-aligned range of a private anonymous mapping that
    // only this thread's stack uses; discarding its pages loses nothing but what we
    // copied (everything below `sp` is dead: the thread is suspended there).
    let r = unsafe { libc::madvise(low as *mut libc::c_void, top - low, advice) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Saved(buf))
}

/// Copies a hibernated stack's bytes back to `[sp, top)` (first removing the guard
/// region from `[low, top)`, with `guard`).
///
/// # Safety
///
/// `saved` came from [`hibernate`] with the same `sp`, `low`, `top` and `guard`, and the
/// thread has not run since.
pub(crate) unsafe fn restore(sp: usize, low: usize, top: usize, saved: Saved, guard: bool) {
    debug_assert_eq!(top - sp, saved.0.len());
    if guard {
        // SAFETY: the range `hibernate` turned into a guard region; removing the guard
        // leaves it as released pages.
        let r = unsafe { libc::madvise(low as *mut libc::c_void, top - low, MADV_GUARD_REMOVE) };
        if r != 0 {
            // The thread cannot run on a stack that faults; nothing sound is left to do.
            crate::runtime::signal::fatal(b"weft: cannot remove the guard of a hibernated stack");
        }
    }
    // SAFETY: `[sp, top)` is the same mapped, writable range `hibernate` copied (the
    // caller), now holding zeroed pages that no one uses; the buffer is a separate heap
    // allocation of exactly that length.
    unsafe {
        std::ptr::copy_nonoverlapping(saved.0.as_ptr(), sp as *mut u8, saved.0.len());
    }
}

#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    /// A copy and release of a mapped range, then the copy back: the live bytes come
    /// back exactly, the dead ones as zeros, and the pages were really released.
    #[test]
    fn bytes_come_back_and_pages_go() {
        const LEN: usize = 4 * 4096;
        // SAFETY: a fresh private anonymous mapping, checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        let low = p as usize;
        let top = low + LEN;
        let sp = top - 5000;
        // SAFETY: the mapping is ours and `LEN` bytes long.
        let bytes = unsafe { std::slice::from_raw_parts_mut(low as *mut u8, LEN) };
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i % 251) as u8 | 1;
        }
        // SAFETY: as the contract asks: no one else uses the range.
        let saved = unsafe { hibernate(sp, low, top, false) }.unwrap();
        assert_eq!(saved.len(), 5000);
        let mut resident = vec![0u8; LEN / 4096];
        // SAFETY: `mincore` on our own page-aligned mapping, with one byte per page.
        assert_eq!(unsafe { libc::mincore(p, LEN, resident.as_mut_ptr()) }, 0);
        assert!(
            resident.iter().all(|r| r & 1 == 0),
            "pages released: {resident:?}"
        );
        // SAFETY: the same range, not used since.
        unsafe { restore(sp, low, top, saved, false) };
        // SAFETY: as above.
        let bytes = unsafe { std::slice::from_raw_parts(low as *const u8, LEN) };
        for (i, &b) in bytes.iter().enumerate() {
            let want = if low + i >= sp {
                (i % 251) as u8 | 1
            } else {
                0
            };
            assert_eq!(b, want, "byte {i}");
        }
        // SAFETY: unmapping what we mapped.
        assert_eq!(unsafe { libc::munmap(p, LEN) }, 0);
    }
}
