//! Opt-in preemption: a green thread that holds its worker past its slice is suspended
//! at an instruction of the application's own code, as if it had called `yield_now`.
//!
//! # Algorithm
//!
//! 1. Each worker of a preemptive runtime has a POSIX timer (`timer_create` on the
//!    monotonic clock, delivered to the worker's own kernel thread as `SIGURG`) that
//!    fires every quarter slice while the worker runs, and is disarmed while it sleeps
//!    (an idle runtime stays idle). At each tick the handler reads the worker's turn
//!    (`WorkerShared::turn`): a turn it has not seen before is noted with the time; a
//!    turn it noted a slice ago or more is due for preemption. The signal comes from the
//!    timer interrupt of the very CPU that runs the worker, so no other thread needs to
//!    be scheduled for it (a monitor thread woke up to 2.7 ms late here, measured, on a
//!    machine whose other CPU was idle).
//! 2. The handler (on the worker's alternate signal stack) **only looks and redirects**.
//!    It declines unless every gate passes:
//!    * the kernel thread's critical depth is 0 (`critical.rs`: no switch, no lock of
//!      weft's, no per-kernel-thread state being updated);
//!    * a green thread runs, and its turn is due (seen a slice ago or more);
//!    * the interrupted instruction is the application's own code, by a table built once
//!      from the executable: an address in a Rust function of the executable (not in a
//!      shared library: the C library and its allocator, the dynamic loader, the vDSO;
//!      not C or assembly linked in), whose DWARF line table names a source file of the
//!      application (not the standard library's, not a dependency's from Cargo's
//!      registry or git checkouts, not weft's own). Line tables follow inlining, so
//!      weft's code inlined into the application's functions is excluded and the
//!      application's closures inlined into weft's spawn wrapper are included. Without
//!      line tables (a profile with `debug = 0` keeps none) the table falls back to
//!      symbols: functions whose crate is none of the runtime's (weft, std, core,
//!      alloc, the crossbeam crates, corosensei, mio, libc, ...), which misses
//!      application code inlined into runtime functions (then preempted less often,
//!      never wrongly). `debug = "line-tables-only"` in the release profile gives the
//!      precise table;
//!    * the stack pointer lies in the running green thread's own stack, with
//!      [`HEADROOM`] plus the register save area to spare above its guard.
//!
//!    When they pass, it writes the interrupted instruction's address just below the
//!    interrupted code's red zone (128 bytes under the stack pointer, which leaf code may
//!    use without moving the stack pointer), points the stack pointer at it and the
//!    instruction pointer at the trampoline, and returns: the kernel restores every
//!    other register as it was.
//! 3. The trampoline (assembly, below) saves the flags, the fifteen general registers
//!    and the whole extended state (`xsave`: x87, SSE, AVX and whatever else the kernel
//!    enabled) on the green stack, calls `preempted`, which yields the green thread
//!    (other threads of the worker run; its worker first looks at timers, sockets and
//!    its inbox), then restores everything and returns with `ret 128`: that pops the
//!    interrupted instruction's address and moves the stack pointer back over the red
//!    zone, to exactly where it was.
//!
//! # Invariants
//!
//! * The handler writes only the ucontext it was given and one word of the green stack
//!   below the red zone, which no code is using; it reads only atomics, thread-locals
//!   without destructors and the immutable table. It calls no function that is not
//!   async-signal-safe (none at all, apart from `critical::depth`).
//! * A thread is never suspended where the runtime is (gates 1 and 3), so the runtime's
//!   own invariants hold across preemption as across `yield_now`. What the gates cannot
//!   see (state of the application's own that must not be interleaved on one kernel
//!   thread) is the caller's promise, written in
//!   [`RuntimeBuilder::preemption`](super::RuntimeBuilder::preemption)'s `# Safety`.
//!
//! Supported on x86-64 Linux only; elsewhere, and for an executable without a symbol
//! table, building a preemptive runtime is an error.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Stack bytes the handler requires above the guard, besides the register save area:
/// `preempted` and the yield it calls run there.
pub const HEADROOM: usize = 16 * 1024;

/// Preemptions performed in this process (for diagnostics and tests).
static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);
/// Signals the handler declined.
static DECLINED: AtomicU64 = AtomicU64::new(0);

/// Bytes `xsave` writes for the features the kernel enabled (0 until set up).
#[no_mangle]
static WEFT_XSAVE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The application's code: sorted, disjoint `[start, end)` address ranges.
static APP_CODE: OnceLock<Box<[(usize, usize)]>> = OnceLock::new();

/// Counts of the handler's decisions, process-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Green threads suspended by preemption.
    pub preemptions: u64,
    /// Signals that found a gate closed (a critical section, runtime or library code,
    /// a thread that had already switched, too little stack): the watchdog tries again.
    pub declined: u64,
}

/// How often preemption happened and was declined in this process.
pub fn stats() -> Stats {
    Stats {
        preemptions: PREEMPTIONS.load(Ordering::Relaxed),
        declined: DECLINED.load(Ordering::Relaxed),
    }
}

/// Why preemption cannot be turned on here.
#[derive(Debug)]
pub(crate) struct Unsupported(String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Unsupported> for io::Error {
    fn from(u: Unsupported) -> io::Error {
        io::Error::new(io::ErrorKind::Unsupported, u.0)
    }
}

/// Sets preemption up for the process (once): the code table, the save area's size and
/// the `SIGURG` handler. Later calls return the first call's outcome.
pub(crate) fn set_up() -> io::Result<()> {
    static SET_UP: OnceLock<Result<(), String>> = OnceLock::new();
    SET_UP
        .get_or_init(|| imp::set_up().map_err(|u| u.0))
        .clone()
        .map_err(|e| io::Error::new(io::ErrorKind::Unsupported, e))
}

/// A worker's preemption timer (step 1): `SIGURG` to this kernel thread every quarter
/// slice while armed.
pub(crate) struct Ticker {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    timer: libc::timer_t,
    period: std::time::Duration,
}

impl Ticker {
    /// A disarmed timer for the calling kernel thread, ticking every `period` once
    /// armed; `None` if the kernel refuses one (the worker then runs unpreempted).
    pub(crate) fn for_this_thread(period: std::time::Duration) -> Option<Ticker> {
        imp::ticker(period)
    }

    /// Arms the timer (the worker runs).
    pub(crate) fn arm(&self) {
        imp::set(self, self.period);
    }

    /// Disarms it (the worker is about to sleep).
    pub(crate) fn disarm(&self) {
        imp::set(self, std::time::Duration::ZERO);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        imp::delete(self);
    }
}

impl fmt::Debug for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticker")
            .field("period", &self.period)
            .finish()
    }
}

/// The monotonic clock in nanoseconds (async-signal-safe: `clock_gettime`).
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Called by the trampoline on the preempted green thread's stack, all its registers
/// saved: yields it.
extern "C" fn preempted() {
    PREEMPTIONS.fetch_add(1, Ordering::Relaxed);
    if let Some(me) = super::worker::current_green_inner() {
        super::worker::note_preempted();
        // SAFETY: `me` is the running green thread's control block (from CURRENT); the
        // handler checked that its depth is 0, so no worker-local borrow is held.
        super::worker::yield_green(unsafe { &*me });
    }
}

/// Whether `pc` lies in the application's own code (see the module docs).
fn is_app_code(pc: usize) -> bool {
    let Some(table) = APP_CODE.get() else {
        return false;
    };
    let i = table.partition_point(|&(start, _)| start <= pc);
    i > 0 && pc < table[i - 1].1
}

/// Sorts and merges ranges (overlapping symbols, aliases, adjacent line rows).
fn merge(mut v: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    v.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// The intersection of two sorted, merged lists of ranges.
fn intersect(a: &[(usize, usize)], b: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let s = a[i].0.max(b[j].0);
        let e = a[i].1.min(b[j].1);
        if s < e {
            out.push((s, e));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Classifies a symbol with one demangling: `None` unless it is a Rust function that is
/// not an allocator's entry point; else whether it is also the application's by its
/// crate (the fallback without line tables): its path's first crate is none of
/// [`RUNTIME_CRATES`] (for an `impl` of a trait, the crate of the type it is for).
fn classify_symbol(mangled: &str) -> Option<bool> {
    let d = rustc_demangle::try_demangle(mangled).ok()?;
    let name = format!("{d:#}");
    if name.contains("GlobalAlloc") || name.contains("__rust") || name.contains("__rg_") {
        return None;
    }
    let first: String = name
        .trim_start_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .trim_start_matches("mut ")
        .trim_start_matches("const ")
        .trim_start_matches("dyn ")
        .trim_start_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    Some(!first.is_empty() && !RUNTIME_CRATES.contains(&first.as_str()))
}

/// Classifying code by its source file, from the executable's DWARF line tables.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod lines {
    use gimli::{EndianSlice, LittleEndian};
    use object::{Object, ObjectSection};

    /// Where weft's own sources are (code from them is the runtime's, wherever it was
    /// inlined).
    const WEFT_SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");

    /// Whether a source path is the application's: not the standard library's, not a
    /// dependency's (Cargo's registry and git checkouts), not weft's own.
    pub(super) fn is_app_path(path: &str) -> bool {
        !(path.contains("/.cargo/registry/")
            || path.contains("/.cargo/git/")
            || path.starts_with("/rustc/")
            || path.contains("/rustlib/src/")
            || path.contains("/library/core/src/")
            || path.contains("/library/std/src/")
            || path.contains("/library/alloc/src/")
            || path.starts_with(WEFT_SRC))
    }

    /// The address ranges whose line-table rows name an application source file;
    /// `None` without line tables.
    pub(super) fn app_ranges(file: &object::File<'_>, bias: usize) -> Option<Vec<(usize, usize)>> {
        let section = |name: &str| -> &[u8] {
            file.section_by_name(name)
                .and_then(|s| s.data().ok())
                .unwrap_or(&[])
        };
        if section(".debug_line").is_empty() {
            return None;
        }
        let dwarf = gimli::Dwarf::load(|id| {
            Ok::<_, gimli::Error>(EndianSlice::new(section(id.name()), LittleEndian))
        })
        .ok()?;
        let mut out = Vec::new();
        let mut units = dwarf.units();
        while let Ok(Some(header)) = units.next() {
            let Ok(unit) = dwarf.unit(header) else {
                continue;
            };
            let Some(program) = unit.line_program.clone() else {
                continue;
            };
            let comp_dir = unit
                .comp_dir
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut rows = program.rows();
            let mut open: Option<(u64, bool)> = None;
            let mut last_file = u64::MAX;
            let mut last_app = false;
            while let Ok(Some((header, row))) = rows.next_row() {
                let addr = row.address();
                if let Some((start, true)) = open {
                    if addr > start {
                        out.push((start as usize + bias, addr as usize + bias));
                    }
                }
                if row.end_sequence() {
                    open = None;
                    continue;
                }
                if row.file_index() != last_file {
                    last_file = row.file_index();
                    last_app = row.file(header).is_some_and(|f| {
                        let mut path = String::new();
                        if let Some(dir) = f.directory(header) {
                            if let Ok(d) = dwarf.attr_string(&unit, dir) {
                                path.push_str(&d.to_string_lossy());
                            }
                        }
                        if let Ok(n) = dwarf.attr_string(&unit, f.path_name()) {
                            let n = n.to_string_lossy();
                            if n.starts_with('/') {
                                path = n.into_owned();
                            } else {
                                path.push('/');
                                path.push_str(&n);
                            }
                        }
                        if !path.starts_with('/') {
                            path = format!("{comp_dir}/{path}");
                        }
                        is_app_path(&path)
                    });
                }
                open = Some((addr, last_app));
            }
        }
        Some(out)
    }
}

/// Crates whose functions are never interrupted: the runtime, the standard library
/// and what they are built on.
const RUNTIME_CRATES: &[&str] = &[
    "weft",
    "std",
    "core",
    "alloc",
    "corosensei",
    "crossbeam_deque",
    "crossbeam_epoch",
    "crossbeam_utils",
    "crossbeam_queue",
    "crossbeam_channel",
    "mio",
    "libc",
    "compiler_builtins",
    "std_detect",
    "rustc_demangle",
    "object",
    "panic_unwind",
    "panic_abort",
    "unwind",
    "gimli",
    "addr2line",
    "miniz_oxide",
    "hashbrown",
    "memchr",
    "adler2",
    "cfg_if",
];

/// Whether a symbol names a function of the application by its crate.
#[cfg(test)]
fn is_app_symbol(mangled: &str) -> bool {
    classify_symbol(mangled) == Some(true)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use std::ffi::c_void;
    use std::sync::atomic::Ordering;

    use object::{Object, ObjectKind, ObjectSymbol, SymbolKind};

    use super::{Unsupported, APP_CODE, DECLINED, HEADROOM, WEFT_XSAVE_SIZE};

    extern "C" {
        fn weft_preempt_trampoline();
    }

    // The trampoline (see the module docs, step 3). On entry the stack pointer is the
    // interrupted one minus 136 and holds the interrupted instruction's address; every
    // other register is the interrupted code's.
    std::arch::global_asm!(
        ".pushsection .text.weft_preempt_trampoline,\"ax\",@progbits",
        ".globl weft_preempt_trampoline",
        ".type weft_preempt_trampoline,@function",
        "weft_preempt_trampoline:",
        "pushfq",
        "cld",
        "push rax",
        "push rbx",
        "push rcx",
        "push rdx",
        "push rsi",
        "push rdi",
        "push rbp",
        "push r8",
        "push r9",
        "push r10",
        "push r11",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov rbp, rsp",
        "sub rsp, qword ptr [rip + WEFT_XSAVE_SIZE]",
        "and rsp, -64",
        // The xsave header (bytes 512-575) must be zero for xrstor; xsave writes only
        // its first field.
        "xor eax, eax",
        "mov qword ptr [rsp + 512], rax",
        "mov qword ptr [rsp + 520], rax",
        "mov qword ptr [rsp + 528], rax",
        "mov qword ptr [rsp + 536], rax",
        "mov qword ptr [rsp + 544], rax",
        "mov qword ptr [rsp + 552], rax",
        "mov qword ptr [rsp + 560], rax",
        "mov qword ptr [rsp + 568], rax",
        "mov eax, -1",
        "mov edx, -1",
        "xsave64 [rsp]",
        "call {preempted}",
        "mov eax, -1",
        "mov edx, -1",
        "xrstor64 [rsp]",
        "mov rsp, rbp",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop r11",
        "pop r10",
        "pop r9",
        "pop r8",
        "pop rbp",
        "pop rdi",
        "pop rsi",
        "pop rdx",
        "pop rcx",
        "pop rbx",
        "pop rax",
        "popfq",
        "ret 128",
        ".size weft_preempt_trampoline, . - weft_preempt_trampoline",
        ".popsection",
        preempted = sym super::preempted,
    );

    pub(super) fn ticker(period: std::time::Duration) -> Option<super::Ticker> {
        // SAFETY: a zeroed sigevent is valid plain data; the fields set make it a
        // thread-directed signal to this very thread; `timer` is a valid out-pointer.
        unsafe {
            let mut ev: libc::sigevent = std::mem::zeroed();
            ev.sigev_notify = libc::SIGEV_THREAD_ID;
            ev.sigev_signo = libc::SIGURG;
            ev.sigev_notify_thread_id = libc::gettid();
            let mut timer: libc::timer_t = std::ptr::null_mut();
            if libc::timer_create(libc::CLOCK_MONOTONIC, &mut ev, &mut timer) != 0 {
                return None;
            }
            Some(super::Ticker { timer, period })
        }
    }

    pub(super) fn set(t: &super::Ticker, period: std::time::Duration) {
        let ts = libc::timespec {
            tv_sec: period.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(period.subsec_nanos() as i32),
        };
        let spec = libc::itimerspec {
            it_interval: ts,
            it_value: ts,
        };
        // SAFETY: `t.timer` is a live timer of this process (deleted only on drop).
        unsafe { libc::timer_settime(t.timer, 0, &spec, std::ptr::null_mut()) };
    }

    pub(super) fn delete(t: &super::Ticker) {
        // SAFETY: as in `set`; deleted once, here.
        unsafe { libc::timer_delete(t.timer) };
    }

    pub(super) fn set_up() -> Result<(), Unsupported> {
        // The extended state's size, and that the kernel enabled xsave at all.
        let leaf1 = std::arch::x86_64::__cpuid(1);
        if leaf1.ecx & (1 << 27) == 0 {
            return Err(Unsupported(
                "preemption needs the XSAVE instructions enabled by the kernel (OSXSAVE)".into(),
            ));
        }
        // Leaf 0xD exists when OSXSAVE is set.
        let size = std::arch::x86_64::__cpuid_count(0xD, 0).ebx as usize;
        WEFT_XSAVE_SIZE.store(size.max(576), Ordering::Relaxed);
        let table = app_code()?;
        let _ = APP_CODE.set(table.into_boxed_slice());
        install();
        Ok(())
    }

    /// The application's functions, from the executable's symbol table.
    fn app_code() -> Result<Vec<(usize, usize)>, Unsupported> {
        let exe = std::fs::read("/proc/self/exe").map_err(|e| {
            Unsupported(format!(
                "preemption reads the executable's symbol table, and /proc/self/exe could not be read: {e}"
            ))
        })?;
        let file = object::File::parse(&*exe)
            .map_err(|e| Unsupported(format!("the executable could not be parsed as ELF: {e}")))?;
        // Where the executable is loaded: a position-independent one at a bias that
        // the trampoline's own address reveals.
        let tramp = weft_preempt_trampoline as *const () as usize;
        let bias = match file.kind() {
            ObjectKind::Dynamic => {
                let mut info: libc::Dl_info = unsafe_zeroed();
                // SAFETY: `info` is a valid out-pointer; the address is our own code.
                if unsafe { libc::dladdr(tramp as *const c_void, &mut info) } == 0 {
                    return Err(Unsupported(
                        "dladdr found no executable for weft's own code".into(),
                    ));
                }
                info.dli_fbase as usize
            }
            _ => 0,
        };
        let mut found_self = false;
        // Functions that are Rust and no allocator's (any crate), and functions of the
        // application by their symbol's crate (the fallback without line tables).
        let mut rust = Vec::new();
        let mut by_symbol = Vec::new();
        for sym in file.symbols() {
            if sym.kind() != SymbolKind::Text || sym.size() == 0 {
                continue;
            }
            let Ok(name) = sym.name() else { continue };
            let start = sym.address() as usize + bias;
            if name == "weft_preempt_trampoline" {
                found_self = start == tramp;
            }
            let range = (start, start + sym.size() as usize);
            if let Some(app) = super::classify_symbol(name) {
                rust.push(range);
                if app {
                    by_symbol.push(range);
                }
            }
        }
        if !found_self {
            return Err(Unsupported(
                "preemption needs the executable's symbol table to tell the application's \
                 code from the runtime's, and this executable has none that matches its \
                 code (is it stripped?)"
                    .into(),
            ));
        }
        let by_source = super::lines::app_ranges(&file, bias);
        Ok(match by_source {
            // Line tables say where each instruction's source is, inlined code
            // included: the application's own lines, in Rust functions.
            Some(lines) => super::intersect(&super::merge(lines), &super::merge(rust)),
            None => super::merge(by_symbol),
        })
    }

    fn unsafe_zeroed() -> libc::Dl_info {
        libc::Dl_info {
            dli_fname: std::ptr::null(),
            dli_fbase: std::ptr::null_mut(),
            dli_sname: std::ptr::null(),
            dli_saddr: std::ptr::null_mut(),
        }
    }

    fn install() {
        // SAFETY: a zeroed sigaction is a valid start; `handler` has the SA_SIGINFO
        // signature; SIGURG is otherwise ignored by default (it is sent for sockets'
        // urgent data only to processes that ask for it with F_SETOWN).
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = handler as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(libc::SIGURG, &act, std::ptr::null_mut());
        }
    }

    extern "C" fn handler(_sig: libc::c_int, _info: *mut libc::siginfo_t, ctx: *mut c_void) {
        // SAFETY: the kernel passes a valid ucontext to an SA_SIGINFO handler.
        let uc = unsafe { &mut *ctx.cast::<libc::ucontext_t>() };
        let gregs = &mut uc.uc_mcontext.gregs;
        let pc = gregs[libc::REG_RIP as usize] as usize;
        let sp = gregs[libc::REG_RSP as usize] as usize;
        let room = HEADROOM + WEFT_XSAVE_SIZE.load(Ordering::Relaxed) + 512;
        if !crate::runtime::worker::preemption_due(super::now_ns()) {
            return;
        }
        if crate::critical::depth() != 0
            || !super::is_app_code(pc)
            || !crate::runtime::worker::on_current_stack(sp, room)
        {
            DECLINED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let slot = sp - 136;
        // SAFETY: `slot` lies in the running green thread's stack (gate 4: at least
        // `room` bytes above its guard), below the interrupted code's red zone, where
        // nothing lives; it is 8-byte aligned as the stack pointer is.
        unsafe { (slot as *mut usize).write(pc) };
        gregs[libc::REG_RSP as usize] = slot as i64;
        gregs[libc::REG_RIP as usize] = weft_preempt_trampoline as *const () as usize as i64;
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    use super::Unsupported;

    pub(super) fn ticker(_: std::time::Duration) -> Option<super::Ticker> {
        None
    }

    pub(super) fn set(_: &super::Ticker, _: std::time::Duration) {}

    pub(super) fn delete(_: &super::Ticker) {}

    pub(super) fn set_up() -> Result<(), Unsupported> {
        Err(Unsupported(
            "weft's preemption is implemented for x86-64 Linux only".into(),
        ))
    }
}

/// Runs `f` as a critical section: preemption never interrupts it (see
/// [`RuntimeBuilder::preemption`](super::RuntimeBuilder::preemption)'s contract, point 1).
/// Cooperative switches inside `f` (blocking on a lock or channel) still happen.
///
/// ```
/// use std::cell::RefCell;
///
/// thread_local! {
///     static SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
/// }
/// // The borrow is never interleaved with another green thread's.
/// let sum = weft::runtime::preempt::critical(|| {
///     SCRATCH.with(|s| {
///         let mut s = s.borrow_mut();
///         s.clear();
///         s.extend(1..=10);
///         s.iter().sum::<u64>()
///     })
/// });
/// assert_eq!(sum, 55);
/// ```
pub fn critical<R>(f: impl FnOnce() -> R) -> R {
    let _c = crate::critical::Critical::new();
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_paths_of_the_runtime_and_its_dependencies_are_not_application_code() {
        for runtime in [
            "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/cell.rs",
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/mio-1.0.4/src/poll.rs",
            concat!(env!("CARGO_MANIFEST_DIR"), "/src/runtime/worker.rs"),
        ] {
            assert!(!lines::is_app_path(runtime), "{runtime}");
        }
        assert!(lines::is_app_path("/home/me/app/src/main.rs"));
        assert!(lines::is_app_path(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/preempt.rs"
        )));
    }

    #[test]
    fn ranges_merge_and_intersect() {
        assert_eq!(
            merge(vec![(5, 9), (1, 3), (2, 4), (9, 10)]),
            [(1, 4), (5, 10)]
        );
        assert_eq!(
            intersect(&[(0, 10), (20, 30)], &[(5, 25), (28, 40)]),
            [(5, 10), (20, 25), (28, 30)]
        );
    }

    #[test]
    fn symbols_of_the_runtime_and_of_c_are_not_application_code() {
        for runtime in [
            "_ZN4weft7runtime6worker6Worker8run_slot17h0123456789abcdefE",
            "_ZN3std2io5stdio6_print17h0123456789abcdefE",
            "_ZN4core3ptr13drop_in_place17h0123456789abcdefE",
            "_ZN5alloc7raw_vec11finish_grow17h0123456789abcdefE",
            "_ZN15crossbeam_epoch8internal5Local3pin17h0123456789abcdefE",
            "malloc",
            "memcpy",
            "__rust_alloc",
        ] {
            assert!(!is_app_symbol(runtime), "{runtime}");
        }
        for app in [
            "_ZN6my_app4main17h0123456789abcdefE",
            "_ZN6my_app4main28_$u7b$$u7b$closure$u7d$$u7d$17h0123456789abcdefE",
            "_ZN8weft_cli3lab4main17h0123456789abcdefE",
        ] {
            assert!(is_app_symbol(app), "{app}");
        }
    }
}
