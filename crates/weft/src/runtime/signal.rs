//! The stack-overflow report: a `SIGSEGV`/`SIGBUS` handler on an alternate signal stack.
//!
//! When a green thread runs past the bottom of its stack it touches the guard page
//! below it and the kernel raises `SIGSEGV`. The handler runs on the worker's alternate
//! signal stack (the green stack is exhausted), looks up the faulting address among the
//! stack chunks (`stack::guard_hit`: atomics and arithmetic only), and if it is a guard,
//! writes which green thread overflowed and its stack size to standard error with
//! `write(2)`, then aborts, as Rust's runtime does for kernel threads. Everything it
//! calls is async-signal-safe: no allocation, no locks, no formatting machinery.
//!
//! Any other fault is passed on to the handler that was installed before ours (Rust's
//! own, which reports overflows of kernel-thread stacks), or to the default action.

use std::mem::MaybeUninit;
use std::ptr;
use std::sync::Once;

use super::stack;

static INSTALL: Once = Once::new();
/// The previous actions for SIGSEGV and SIGBUS; written once before our handler is
/// installed, read only by the handler.
static mut PREVIOUS: [MaybeUninit<libc::sigaction>; 2] = [MaybeUninit::uninit(); 2];

const ALTSTACK: usize = 64 * 1024;

/// Installs the handler once per process.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        for (k, sig) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
            // SAFETY: the sigaction struct is plain data, zero is a valid initial value;
            // `PREVIOUS[k]` is written here, inside `call_once`, before our handler is
            // installed for `sig`, so the handler never reads it uninitialised and no
            // one writes it afterwards. `handler` has the SA_SIGINFO signature.
            unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = handler as *const () as usize;
                act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut act.sa_mask);
                let prev = ptr::addr_of_mut!(PREVIOUS[k]).cast::<libc::sigaction>();
                libc::sigaction(sig, ptr::null(), prev);
                libc::sigaction(sig, &act, ptr::null_mut());
            }
        }
    });
}

/// Gives the calling worker thread an alternate signal stack if it has none (Rust's
/// runtime usually gave it one already). The stack is leaked with the thread: a few
/// dozen KiB per worker.
pub(crate) fn ensure_altstack() {
    // SAFETY: querying the current alternate stack into a zeroed struct.
    let mut cur: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cur` is a valid out-pointer.
    unsafe { libc::sigaltstack(ptr::null(), &mut cur) };
    if cur.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    // SAFETY: a fresh anonymous mapping, used only as this thread's signal stack.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            ALTSTACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return;
    }
    let st = libc::stack_t {
        ss_sp: p,
        ss_flags: 0,
        ss_size: ALTSTACK,
    };
    // SAFETY: `st` describes the mapping above, which is never unmapped.
    unsafe { libc::sigaltstack(&st, ptr::null_mut()) };
}

fn write_all(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writing from a valid buffer to fd 2; write(2) is async-signal-safe.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Writes `msg` and a newline to standard error and aborts (async-signal-safe).
pub(crate) fn fatal(msg: &[u8]) -> ! {
    write_all(msg);
    write_all(b"\n");
    // SAFETY: abort is async-signal-safe and never returns.
    unsafe { libc::abort() }
}

/// Writes "'name' (weft green thread N)" for `t`.
fn write_thread(t: &crate::thread::ThreadInner) {
    write_all(b"'");
    write_all(t.name.as_deref().unwrap_or("<unnamed>").as_bytes());
    write_all(b"' (weft green thread ");
    write_u64(t.id.as_u64().get());
    write_all(b")");
}

fn write_u64(mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    write_all(&buf[i..]);
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some((owner, size)) = stack::guard_hit(addr) {
        write_all(b"\nthread ");
        // SAFETY: the owner pointer is set by the worker while the thread runs on this
        // stack and cleared before the stack is reused; the overflowing thread is the
        // one running, so its control block is alive. Reading its name is a plain load.
        match unsafe { owner.as_ref() } {
            Some(t) => write_thread(t),
            None => write_all(b"'<unknown>' (weft green thread)"),
        }
        write_all(b" has overflowed its stack of ");
        write_u64(size as u64);
        write_all(b" bytes\nfatal runtime error: stack overflow, aborting\n");
        // SAFETY: abort is async-signal-safe and never returns.
        unsafe { libc::abort() };
    }
    if let Some((owner, _)) = stack::room_below(addr) {
        // SAFETY: as above: the owner of a stack in use is a live thread's control block
        // (a hibernated thread is parked in its worker's slot, which holds it).
        if let Some(t) = unsafe { owner.as_ref() } {
            if super::hibernate::is_hibernated(t) {
                // Only a checked hibernation (`hibernate_checked`) guards the stack, so
                // only it faults here: some code touched a parked thread's stack.
                write_all(b"\nweft: the stack of hibernated green thread ");
                write_thread(t);
                write_all(
                    b" was touched by another thread while it was parked: the contract of \
                      RuntimeBuilder::hibernate_after was broken (something lent this \
                      thread's stack and it parked); aborting",
                );
                fatal(b"");
            }
        }
    }
    let k = usize::from(sig == libc::SIGBUS);
    // SAFETY: PREVIOUS[k] was initialised before this handler was installed (see
    // `install`) and is never written again.
    let prev = unsafe { (*ptr::addr_of!(PREVIOUS[k])).assume_init_ref() };
    let h = prev.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction runs again
        // and the kernel applies it (a core dump).
        // SAFETY: resetting a signal's disposition to the default is async-signal-safe.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &act, ptr::null_mut());
        }
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this
        // signature; we pass on the arguments the kernel gave us.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: a handler installed without SA_SIGINFO takes only the signal number.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(h) };
        f(sig);
    }
}
