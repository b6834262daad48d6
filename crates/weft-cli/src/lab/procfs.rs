//! Memory figures read from `/proc`: the process's own `/proc/self/status` (resident set,
//! page tables, virtual size, thread count) and the system-wide `/proc/meminfo`
//! (`KernelStack:`, the kernel stacks of every thread on the machine).
//!
//! The kernel reports these in kB (KiB); this module returns bytes.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_own_status() {
        let s = status().expect("status");
        assert!(s.rss > 0 && s.vm_size >= s.rss && s.threads >= 1);
    }

    #[test]
    fn parses_fields() {
        let text = "Name:\tx\nVmRSS:\t    1234 kB\nThreads:\t7\n";
        assert_eq!(kb_field(text, "VmRSS:").unwrap(), 1234 * 1024);
        assert_eq!(plain_field(text, "Threads:").unwrap(), 7);
        assert!(kb_field(text, "VmPTE:").is_err());
    }
}
