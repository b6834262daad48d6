//! Probes in fresh child processes.
//!
//! A large probe (a million parked threads, say) runs in a new process started from this
//! very binary (`std::env::current_exe()`) as `weft probe <section> <spec-json>`, so its
//! memory figures start from a clean baseline and nothing it leaves behind (mappings, worker
//! threads, a runtime that cannot be shut down) disturbs the next probe. The child prints
//! exactly one JSON line on stdout, `{"ok": <result>}` or `{"error": "<why>"}`.
//!
//! The parent waits with a deadline. A child that fails, crashes, prints nothing usable or
//! overruns its deadline (it is then killed) becomes a [`ProbeFailure`], which the section
//! turns into a row saying so; the lab itself never crashes because of a probe.

use std::fmt;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::all_sections;

/// Arguments of the hidden `weft probe` subcommand.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// The section that owns the probe.
    pub section: String,
    /// The probe's parameters, as JSON (the section defines their shape).
    pub spec: String,
}

/// Runs one probe in this process and prints its result as one JSON line (`weft probe`).
pub fn serve(args: &ProbeArgs) -> ExitCode {
    let sections = all_sections();
    let Some(section) = sections.iter().find(|s| s.name() == args.section) else {
        let names: Vec<_> = sections.iter().map(|s| s.name()).collect();
        eprintln!(
            "error: no section named '{}' (sections: {})",
            args.section,
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let (line, code) = match section.probe(&args.spec) {
        Ok(value) => (serde_json::json!({ "ok": value }), ExitCode::SUCCESS),
        Err(error) => (serde_json::json!({ "error": error }), ExitCode::FAILURE),
    };
    println!("{line}");
    code
}

/// Why a probe in a child process produced no result.
#[derive(Debug, Clone)]
pub enum ProbeFailure {
    /// The child could not be started.
    Spawn(String),
    /// The child overran its deadline and was killed.
    Timeout(Duration),
    /// The child ran and reported an error of its own.
    Reported(String),
    /// The child ended without a usable result line.
    Died {
        /// How it ended.
        status: String,
        /// The end of what it printed on stderr.
        stderr_tail: String,
    },
}

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFailure::Spawn(e) => write!(f, "could not start the probe process: {e}"),
            ProbeFailure::Timeout(d) => {
                write!(f, "timed out after {:.0} s and was killed", d.as_secs_f64())
            }
            ProbeFailure::Reported(e) => write!(f, "failed: {e}"),
            ProbeFailure::Died {
                status,
                stderr_tail,
            } if stderr_tail.is_empty() => write!(f, "{status}"),
            ProbeFailure::Died {
                status,
                stderr_tail,
            } => write!(f, "{status}: {stderr_tail}"),
        }
    }
}

/// Runs the probe `spec` in `processes` fresh child processes, one after the other, and
/// pools what they found with `merge`: for measurements whose spread between processes
/// (placement of stacks and data, the machine's state) matters as much as the spread
/// within one. The first failure ends it.
pub fn run_pooled<S, R>(
    section: &str,
    spec: &S,
    processes: usize,
    timeout: Duration,
    merge: impl Fn(&mut R, R),
) -> Result<R, ProbeFailure>
where
    S: Serialize,
    R: DeserializeOwned,
{
    let mut pooled: R = run_probe(section, spec, timeout)?;
    for _ in 1..processes {
        merge(&mut pooled, run_probe(section, spec, timeout)?);
    }
    Ok(pooled)
}

/// Runs a probe of `section` with parameters `spec` in a fresh child process, waiting at most
/// `timeout`.
pub fn run_probe<S, R>(section: &str, spec: &S, timeout: Duration) -> Result<R, ProbeFailure>
where
    S: Serialize,
    R: DeserializeOwned,
{
    let exe = std::env::current_exe().map_err(|e| ProbeFailure::Spawn(e.to_string()))?;
    let spec = serde_json::to_string(spec).map_err(|e| ProbeFailure::Spawn(e.to_string()))?;
    let mut child = Command::new(exe)
        .arg("probe")
        .arg(section)
        .arg(&spec)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ProbeFailure::Spawn(e.to_string()))?;

    // Drain both pipes on their own threads so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ProbeFailure::Spawn(e.to_string()));
            }
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(ProbeFailure::Timeout(timeout));
    };

    let result_line = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok());
    match result_line {
        Some(mut value) if value.get("ok").is_some() => serde_json::from_value(value["ok"].take())
            .map_err(|e| ProbeFailure::Died {
                status: format!("printed a result this lab cannot read ({e})"),
                stderr_tail: tail(&stderr),
            }),
        Some(value) if value.get("error").is_some() => Err(ProbeFailure::Reported(
            value["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_owned(),
        )),
        _ => Err(ProbeFailure::Died {
            status: describe(status),
            stderr_tail: tail(&stderr),
        }),
    }
}

/// The last meaningful lines of a child's stderr, on one line.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    // A panic report (with RUST_BACKTRACE set, a backtrace follows it): the report's two
    // lines say more than the backtrace's last frames.
    let panic = lines
        .iter()
        .rposition(|l| l.starts_with("thread '") && l.contains("panicked at"));
    let picked = match panic {
        Some(i) => &lines[i..(i + 2).min(lines.len())],
        None => &lines[lines.len().saturating_sub(3)..],
    };
    let mut text = picked.join(" / ");
    if text.chars().count() > 300 {
        text = text.chars().take(300).collect::<String>() + "…";
    }
    text
}

fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code} without a result");
    }
    match status.signal() {
        Some(signal) => {
            let name = match signal {
                libc::SIGSEGV => " (SIGSEGV)",
                libc::SIGABRT => " (SIGABRT)",
                libc::SIGKILL => " (SIGKILL: out of memory?)",
                libc::SIGBUS => " (SIGBUS)",
                libc::SIGILL => " (SIGILL)",
                _ => "",
            };
            format!("killed by signal {signal}{name}")
        }
        None => format!("ended without a result ({status})"),
    }
}

/// Waits until `counter()` reaches `target`, polling; gives up after `limit`.
pub fn wait_for(counter: impl Fn() -> usize, target: usize, limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    let mut spins = 0u32;
    while counter() < target {
        let waited = start.elapsed();
        if waited > limit {
            return Err(format!(
                "only {} of {target} threads reached the barrier within {:.0} s",
                counter(),
                limit.as_secs_f64()
            ));
        }
        if spins < 100 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            // Poll often at first, then at most every millisecond (about 0.1 % of the wait).
            thread::sleep(
                (waited / 1000).clamp(Duration::from_micros(50), Duration::from_millis(1)),
            );
        }
    }
    Ok(())
}
