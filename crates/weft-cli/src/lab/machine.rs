//! The machine the lab runs on, read at run time (CPUs, memory, kernel, limits), and the one
//! system call the probes need to place threads: CPU affinity.

use std::fs;
use std::io;

use serde::Serialize;

use super::procfs;

/// What the lab knows about this machine; every field is read at run time.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs this process may run on (`std::thread::available_parallelism`).
    pub cpus: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: Option<String>,
    /// `MemTotal` from `/proc/meminfo`, bytes.
    pub memory_bytes: Option<u64>,
    /// Page size, bytes.
    pub page_size: Option<u64>,
    /// Soft `RLIMIT_STACK`, bytes (`None`: unlimited or unreadable).
    pub rlimit_stack: Option<u64>,
    /// `vm.max_map_count`: how many memory mappings one process may have.
    pub max_map_count: Option<u64>,
    /// `kernel.threads-max`.
    pub threads_max: Option<u64>,
}

impl Machine {
    /// Reads the machine's description.
    pub fn detect() -> Self {
        Self {
            cpus: cpus(),
            cpu_model: fs::read_to_string("/proc/cpuinfo").ok().and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .and_then(|rest| rest.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            }),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            memory_bytes: procfs::meminfo("MemTotal:").ok(),
            page_size: page_size(),
            rlimit_stack: rlimit_stack().ok().flatten(),
            max_map_count: max_map_count(),
            threads_max: read_trimmed("/proc/sys/kernel/threads-max").and_then(|s| s.parse().ok()),
        }
    }
}

/// `vm.max_map_count`: how many memory mappings one process may have.
pub fn max_map_count() -> Option<u64> {
    read_trimmed("/proc/sys/vm/max_map_count").and_then(|s| s.parse().ok())
}

fn read_trimmed(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

/// CPUs available to this process.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The page size, from `sysconf(_SC_PAGESIZE)`.
pub fn page_size() -> Option<u64> {
    // SAFETY: sysconf only reads a configuration value; it has no memory-safety preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0)
}

/// The soft `RLIMIT_STACK` in bytes; `Ok(None)` when it is unlimited.
pub fn rlimit_stack() -> io::Result<Option<u64>> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit` for the duration of the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut limit) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur))
}

/// The CPUs the calling thread may run on, in increasing order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid and writable, and the size passed is its size; pid 0 is the
    // calling thread.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, so the bit it names lies inside `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Restricts the calling kernel thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::other(format!("CPU {cpu} is beyond CPU_SETSIZE")));
    }
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above), so the bit lies inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid, initialised cpu_set_t and the size passed is its size; pid 0 is
    // the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's id of the calling kernel thread (on a green thread: its worker's).
pub fn kernel_thread_id() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}
