//! Memory figures read from `/proc`: the process's own `/proc/self/status` (resident set,
//! page tables, virtual size, thread count) and the system-wide `/proc/meminfo`
//! (`KernelStack:`, the kernel stacks of every thread on the machine).
//!
//! The kernel reports these in kB (KiB); this module returns bytes.
//!
//! It also reads the process's CPU time and page faults (`getrusage`) and times the
//! first touch of fresh anonymous pages, the cost that bounds how fast threads whose
//! stacks each need a new page can be spawned.

use std::fs;
use std::io;

/// A snapshot of `/proc/self/status`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcStatus {
    /// `VmRSS`: resident memory.
    pub rss: u64,
    /// `VmPTE`: page tables.
    pub pte: u64,
    /// `VmSize`: virtual memory.
    pub vm_size: u64,
    /// `Threads`: kernel threads in the process.
    pub threads: u64,
}

/// Reads `/proc/self/status`.
pub fn status() -> io::Result<ProcStatus> {
    let text = fs::read_to_string("/proc/self/status")?;
    Ok(ProcStatus {
        rss: kb_field(&text, "VmRSS:")?,
        pte: kb_field(&text, "VmPTE:")?,
        vm_size: kb_field(&text, "VmSize:")?,
        threads: plain_field(&text, "Threads:")?,
    })
}

/// Reads one `kB` field of `/proc/meminfo`, such as `"KernelStack:"` or `"MemTotal:"`.
pub fn meminfo(key: &str) -> io::Result<u64> {
    let text = fs::read_to_string("/proc/meminfo")?;
    kb_field(&text, key)
}

fn line_value<'a>(text: &'a str, key: &str) -> io::Result<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .map(str::trim)
        .ok_or_else(|| io::Error::other(format!("no `{key}` line in /proc")))
}

fn kb_field(text: &str, key: &str) -> io::Result<u64> {
    let value = line_value(text, key)?;
    let number = value.strip_suffix("kB").unwrap_or(value).trim();
    number
        .parse::<u64>()
        .map(|kib| kib * 1024)
        .map_err(|e| io::Error::other(format!("`{key}` is not a number of kB: {e}")))
}

fn plain_field(text: &str, key: &str) -> io::Result<u64> {
    line_value(text, key)?
        .parse::<u64>()
        .map_err(|e| io::Error::other(format!("`{key}` is not a number: {e}")))
}

/// CPU time and minor page faults of the whole process so far (`getrusage(RUSAGE_SELF)`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// User CPU time, seconds.
    pub user: f64,
    /// System CPU time, seconds.
    pub sys: f64,
    /// Minor page faults (a page mapped without I/O, such as a first touch).
    pub minor_faults: u64,
}

impl Usage {
    /// Reads the process's usage now.
    pub fn now() -> io::Result<Self> {
        // SAFETY: `rusage` is plain data (integers and `timeval`s); all-zero is valid.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `u` is a valid, writable `rusage` for the call to fill in.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Ok(Self {
            user: seconds(u.ru_utime),
            sys: seconds(u.ru_stime),
            minor_faults: u.ru_minflt.max(0) as u64,
        })
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            user: self.user - earlier.user,
            sys: self.sys - earlier.sys,
            minor_faults: self.minor_faults.saturating_sub(earlier.minor_faults),
        }
    }
}

/// Microseconds to touch one fresh anonymous page for the first time: maps `pages` pages,
/// writes one byte to each on this thread, unmaps them, and returns the mean.
///
/// The kernel hands out the pages the process would have received next, so the figure
/// says what a first touch costs in the machine's current state (on a virtual machine,
/// guest memory the host has not backed yet costs several times more than memory it has).
pub fn fresh_page_micros(pages: usize) -> io::Result<f64> {
    const PAGE: usize = 4096;
    let len = pages.max(1) * PAGE;
    // SAFETY: a fresh private anonymous mapping at an address the kernel picks; no
    // existing memory is affected.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // Where transparent huge pages are on for every mapping, one touch would map 2 MiB.
    // SAFETY: advice on the mapping just made, which nothing else uses; no contents change.
    unsafe { libc::madvise(base, len, libc::MADV_NOHUGEPAGE) };
    let base = base.cast::<u8>();
    let start = std::time::Instant::now();
    for page in 0..len / PAGE {
        // SAFETY: `page * PAGE < len`, so the byte lies inside the mapping made above,
        // which is readable and writable and referenced by nothing else.
        unsafe { base.add(page * PAGE).write_volatile(1) };
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / (len / PAGE) as f64;
    // SAFETY: unmaps exactly the mapping made above; no reference into it survives.
    unsafe { libc::munmap(base.cast(), len) };
    Ok(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_own_status() {
        let s = status().expect("status");
        assert!(s.rss > 0 && s.vm_size >= s.rss && s.threads >= 1);
    }

    #[test]
    fn usage_counts_first_touches() {
        let before = Usage::now().expect("getrusage");
        let micros = fresh_page_micros(64).expect("mmap");
        let spent = Usage::now().expect("getrusage").since(&before);
        assert!(micros > 0.0);
        // 64 first touches fault at least 64 times (other threads of the test binary may
        // fault too, never fewer).
        assert!(spent.minor_faults >= 64, "{spent:?}");
        assert!(spent.user >= 0.0 && spent.sys >= 0.0);
    }

    #[test]
    fn parses_fields() {
        let text = "Name:\tx\nVmRSS:\t    1234 kB\nThreads:\t7\n";
        assert_eq!(kb_field(text, "VmRSS:").unwrap(), 1234 * 1024);
        assert_eq!(plain_field(text, "Threads:").unwrap(), 7);
        assert!(kb_field(text, "VmPTE:").is_err());
    }
}
