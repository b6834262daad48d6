//! The one door to the `futex(2)` system call: wait on a 32-bit word while it holds an
//! expected value, and wake waiters on it. Kernel threads park here, and idle workers
//! sleep here.

use std::sync::atomic::AtomicU32;
use std::time::Instant;

/// Blocks while `*word == expected`, until woken, a spurious wake-up, or `deadline`.
/// Returns `false` when the deadline has passed.
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> bool {
    let timeout = match deadline {
        Some(d) => {
            let now = Instant::now();
            if d <= now {
                return false;
            }
            let left = d - now;
            Some(libc::timespec {
                tv_sec: left.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            })
        }
        None => None,
    };
    let ts_ptr = timeout
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned 32-bit atomic that lives for the whole call;
    // FUTEX_WAIT only reads it atomically in the kernel. `ts_ptr` is null or points to a
    // timespec on this stack that outlives the call. A relative timeout is what
    // FUTEX_WAIT expects.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ts_ptr,
        );
    }
    deadline.is_none_or(|d| Instant::now() < d)
}

/// Wakes up to `n` threads waiting on `word`.
pub(crate) fn wake(word: &AtomicU32, n: i32) {
    // SAFETY: `word` is a valid, aligned 32-bit atomic; FUTEX_WAKE does not access
    // memory beyond looking up waiters keyed by its address.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            n,
        );
    }
}
