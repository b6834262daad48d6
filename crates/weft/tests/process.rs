//! Behaviours that end a process (or must not): each scenario runs in a child process
//! (this binary, re-run with `WEFT_SCENARIO`), and the parent checks its exit and
//! output. The harness is off so the child has no other threads (the deadlock
//! detector vetoes reports while unknown threads exist, by design).

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn main() {
    if let Ok(s) = std::env::var("WEFT_SCENARIO") {
        scenario(&s);
        return;
    }
    let mut failed = 0;
    for (name, env, check) in CASES {
        let out = run_bounded(
            Command::new(std::env::current_exe().unwrap())
                .env("WEFT_SCENARIO", name)
                .env("RUST_BACKTRACE", "0")
                .envs(env.iter().copied()),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        match check(&out.status, &stdout, &stderr) {
            Ok(()) => println!("test {name} ... ok"),
            Err(why) => {
                failed += 1;
                println!(
                    "test {name} ... FAILED: {why}\n--- status: {:?}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}",
                    out.status
                );
            }
        }
    }
    if failed > 0 {
        std::process::exit(1);
    }
}

/// Runs a scenario's child, killing it after two minutes (a scenario that hangs, such as
/// a deadlock that goes unreported, then fails instead of stalling the suite). Its output
/// is small, so the pipes cannot fill up before it exits.
fn run_bounded(cmd: &mut Command) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

type Check = fn(&std::process::ExitStatus, &str, &str) -> Result<(), String>;

fn expect(cond: bool, why: &str) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(why.to_string())
    }
}

type Case = (&'static str, &'static [(&'static str, &'static str)], Check);

const CASES: &[Case] = &[
    ("deadlock_is_reported", &[], |st, _, err| {
        expect(st.code() == Some(101), "the join must panic")?;
        expect(err.contains("deadlock detected"), "report headline")?;
        expect(
            err.contains("'waiter'") && err.contains("parked on join"),
            "waiter listed",
        )?;
        expect(
            err.contains("'stuck'") && err.contains("parked on park"),
            "stuck listed",
        )?;
        expect(
            err.contains("kernel thread 'main'"),
            "the joining kernel thread listed",
        )
    }),
    (
        "csp_processes_sending_to_each_other_are_reported",
        &[],
        |st, _, err| {
            expect(st.code() == Some(101), "the join must panic")?;
            expect(err.contains("deadlock detected"), "report headline")?;
            expect(
                err.contains("'left'") && err.contains("'right'"),
                "both processes named",
            )?;
            expect(
                err.matches("parked on channel send").count() >= 2,
                "each waits in a channel send",
            )
        },
    ),
    (
        "csp_receive_whose_senders_are_gone_is_disconnected_not_a_hang",
        &[],
        |st, out, err| {
            expect(st.success(), "must finish normally")?;
            expect(out.contains("disconnected"), "the receive got Disconnected")?;
            expect(!err.contains("deadlock"), "no deadlock report")
        },
    ),
    (
        "no_report_while_an_unknown_thread_lives",
        &[],
        |st, out, err| {
            expect(st.success(), "must finish normally")?;
            expect(out.contains("woken by the kernel thread"), "result")?;
            expect(!err.contains("deadlock"), "no deadlock report")
        },
    ),
    (
        "no_report_while_a_socket_waits_for_another_process",
        &[],
        |st, out, err| {
            expect(st.success(), "must finish normally")?;
            expect(out.contains("accepted"), "the connection was accepted")?;
            expect(!err.contains("deadlock"), "no deadlock report")
        },
    ),
    (
        "accept_out_of_descriptors_is_an_error_and_the_listener_recovers",
        &[],
        |st, out, err| {
            expect(st.success(), "must finish normally")?;
            expect(
                out.contains("EMFILE, then both accepted"),
                "accept failed with EMFILE, then served both pending connections",
            )?;
            expect(!err.contains("panicked"), "no panic")
        },
    ),
    ("no_report_while_a_timer_is_pending", &[], |st, out, err| {
        expect(st.success(), "must finish normally")?;
        expect(out.contains("slept"), "result")?;
        expect(!err.contains("deadlock"), "no deadlock report")
    }),
    ("stack_overflow_is_reported", &[], overflow_check),
    (
        "a_touch_of_a_hibernated_stack_is_reported",
        &[],
        |st, _, err| {
            use std::os::unix::process::ExitStatusExt;
            expect(st.signal() == Some(libc::SIGABRT), "must abort")?;
            expect(
                err.contains("the stack of hibernated green thread 'sleeper' (weft green thread"),
                "names the hibernated thread",
            )?;
            expect(
                err.contains("hibernate_after was broken"),
                "says which contract was broken",
            )
        },
    ),
    (
        "stack_overflow_is_reported",
        &[("WEFT_GUARD_MPROTECT", "1")],
        overflow_check,
    ),
    (
        "map_count_limit_is_named",
        &[("WEFT_GUARD_MPROTECT", "1")],
        |st, out, _| {
            expect(st.success(), "the spawn error is returned, not a crash")?;
            expect(out.contains("mechanism: mprotect"), "fallback in use")?;
            expect(
                out.contains("vm.max_map_count"),
                "the error names the limit",
            )
        },
    ),
    (
        "relocking_a_mutex_is_reported_as_deadlock",
        &[],
        |st, _, err| {
            expect(st.code() == Some(101), "the join must panic")?;
            expect(err.contains("deadlock detected"), "report headline")?;
            expect(
                err.contains("'relocker'") && err.contains("parked on mutex"),
                "names the wait",
            )
        },
    ),
    (
        "stm_retry_that_nothing_can_wake_is_reported",
        &[],
        |st, _, err| {
            expect(st.code() == Some(101), "the join must panic")?;
            expect(err.contains("deadlock detected"), "report headline")?;
            expect(
                err.contains("'consumer'") && err.contains("parked on stm retry"),
                "names the transaction's wait",
            )
        },
    ),
    (
        "exhausted_reservation_is_an_error",
        &[("WEFT_MAX_STACK_GIB", "1")],
        |st, out, _| {
            expect(st.success(), "the spawn error is returned, not a crash")?;
            expect(
                out.contains("spawned 3"),
                "three 256 MiB stacks fit in the 1 GiB",
            )?;
            expect(
                out.contains("reservation exhausted") && out.contains("WEFT_MAX_STACK_GIB"),
                "the error names the limit",
            )
        },
    ),
    (
        "unjoined_panic_is_reported_with_the_name",
        &[],
        |st, _, err| {
            expect(st.success(), "the process survives")?;
            expect(
                err.contains("thread 'crasher' panicked at") && err.contains("on purpose"),
                "std-like report with the green thread's name",
            )
        },
    ),
    (
        "a_lock_waited_on_in_a_thread_local_destructor",
        &[],
        |st, out, _| {
            expect(
                st.success(),
                "no abort: the destructor waits, then takes the lock",
            )?;
            expect(
                out.contains("locked at exit: 7"),
                "the destructor got the lock",
            )
        },
    ),
    (
        "deadlock_reported_after_a_runtime_dropped_itself",
        &[],
        |st, _, err| {
            expect(st.code() == Some(101), "the join must panic")?;
            expect(err.contains("deadlock detected"), "report headline")
        },
    ),
    ("first_spawn_while_unwinding", &[], |st, out, _| {
        expect(st.success(), "no abort from installing the panic hook")?;
        expect(
            out.contains("spawned while unwinding: 42"),
            "the spawn worked",
        )
    }),
    (
        "a_panic_escaping_a_green_thread_aborts_cleanly",
        &[],
        |st, _, err| {
            use std::os::unix::process::ExitStatusExt;
            expect(
                st.signal() == Some(libc::SIGABRT),
                "must abort, not unwind the worker",
            )?;
            expect(
                err.contains("a panic escaped a green thread"),
                "says why it aborts",
            )
        },
    ),
    (
        "a_panic_on_the_smallest_stack_with_backtraces",
        &[("RUST_BACKTRACE", "1")],
        |st, out, _| {
            expect(st.success(), "the panic is caught and returned by join")?;
            expect(out.contains("joined: Err"), "join returns the panic")
        },
    ),
];

fn overflow_check(st: &std::process::ExitStatus, _: &str, err: &str) -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;
    expect(st.signal() == Some(libc::SIGABRT), "must abort")?;
    expect(
        err.contains("thread 'deep' (weft green thread")
            && err.contains("has overflowed its stack of 65536 bytes"),
        "names the thread and its stack size",
    )?;
    expect(
        err.contains("fatal runtime error: stack overflow"),
        "std-like last line",
    )
}

fn scenario(name: &str) {
    match name {
        "deadlock_reported_after_a_runtime_dropped_itself" => {
            // A runtime dropped from one of its own green threads, whose handle (`h`)
            // keeps it allocated, must not veto a later report.
            let rt = weft::Runtime::builder().workers(1).build().unwrap();
            let holder = Arc::new(std::sync::Mutex::new(None::<weft::Runtime>));
            let h = {
                let holder = holder.clone();
                rt.spawn(move || loop {
                    let taken = holder.lock().unwrap().take();
                    if let Some(rt) = taken {
                        drop(rt);
                        break;
                    }
                    weft::sleep(Duration::from_millis(1));
                })
            };
            *holder.lock().unwrap() = Some(rt);
            while holder.lock().unwrap().is_some() {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(100));
            let stuck = weft::Builder::new()
                .name("stuck".into())
                .spawn(|| loop {
                    weft::park::park();
                })
                .unwrap();
            // Never returns: the detector makes this join panic.
            let _ = stuck.join();
            drop(h);
        }
        "accept_out_of_descriptors_is_an_error_and_the_listener_recovers" => {
            // Lowers its own RLIMIT_NOFILE to the descriptors it has open, so `accept`
            // cannot make one: the error is returned (not a hang, not a panic) and the
            // connections wait in the backlog until descriptors are free again.
            weft::spawn(|| ()).join().unwrap();
            let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let c1 = std::net::TcpStream::connect(addr).unwrap();
            let c2 = std::net::TcpStream::connect(addr).unwrap();
            // The limit bounds descriptor *numbers*: set it to the lowest free one (the
            // number a new descriptor would get), so no new one can be made.
            let lowest_free = {
                let f = std::fs::File::open("/dev/null").unwrap();
                std::os::fd::AsRawFd::as_raw_fd(&f)
            };
            let mut old = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: a valid out-pointer for getrlimit.
            assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
            let low = libc::rlimit {
                rlim_cur: lowest_free as libc::rlim_t,
                rlim_max: old.rlim_max,
            };
            // SAFETY: a valid rlimit value.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
            let r = weft::spawn(move || {
                let first = listener.accept().map(drop);
                // SAFETY: a valid rlimit value (the one read above).
                unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
                let a = listener.accept().map(drop);
                let b = listener.accept().map(drop);
                (first, a, b)
            })
            .join()
            .unwrap();
            let emfile = matches!(&r.0, Err(e) if e.raw_os_error() == Some(libc::EMFILE));
            if emfile && r.1.is_ok() && r.2.is_ok() {
                println!("EMFILE, then both accepted");
            } else {
                println!("unexpected: {r:?}");
            }
            drop((c1, c2));
        }
        "no_report_while_a_socket_waits_for_another_process" => {
            // The only thread that runs is a green one waiting in `accept`; the
            // connection comes from another process, which the detector cannot see: a
            // registered socket must keep it quiet.
            let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let acceptor = weft::spawn(move || {
                // Waits in `accept` only once `main` waits in `join`: the detector runs
                // when the last worker falls asleep, and reports here without the veto.
                weft::sleep(std::time::Duration::from_millis(100));
                listener.accept().map(|_| "accepted")
            });
            let mut peer = std::process::Command::new("bash")
                .arg("-c")
                .arg(format!(
                    "sleep 1; exec 3<>/dev/tcp/127.0.0.1/{port}; sleep 0.1"
                ))
                .spawn()
                .unwrap();
            // (The child is a process, not a thread of ours: it does not veto.)
            println!("{}", acceptor.join().unwrap().unwrap());
            let _ = peer.wait();
        }
        "deadlock_is_reported" => {
            let stuck = weft::Builder::new()
                .name("stuck".into())
                .spawn(|| loop {
                    weft::park::park();
                })
                .unwrap();
            let waiter = weft::Builder::new()
                .name("waiter".into())
                .spawn(move || stuck.join().is_ok())
                .unwrap();
            // Never returns: the detector makes this join panic.
            let _ = waiter.join();
        }
        "csp_processes_sending_to_each_other_are_reported" => {
            // Each waits to send to the other over a rendezvous: a true deadlock.
            let (a_tx, a_rx) = weft::csp::channel::<u8>();
            let (b_tx, b_rx) = weft::csp::channel::<u8>();
            let left = weft::Builder::new()
                .name("left".into())
                .spawn(move || {
                    let _ = a_tx.send(1);
                    let _ = b_rx.recv();
                })
                .unwrap();
            let _right = weft::Builder::new()
                .name("right".into())
                .spawn(move || {
                    let _ = b_tx.send(2);
                    let _ = a_rx.recv();
                })
                .unwrap();
            // Never returns: the detector makes this join panic.
            let _ = left.join();
        }
        "csp_receive_whose_senders_are_gone_is_disconnected_not_a_hang" => {
            // The only sender is dropped by another green thread while the receiver waits.
            let (tx, rx) = weft::csp::channel::<u8>();
            let receiver = weft::spawn(move || rx.recv());
            let dropper = weft::spawn(move || {
                weft::sleep(Duration::from_millis(20));
                drop(tx);
            });
            dropper.join().unwrap();
            match receiver.join().unwrap() {
                Err(weft::csp::RecvError) => println!("disconnected"),
                Ok(v) => println!("got {v}"),
            }
        }
        "stm_retry_that_nothing_can_wake_is_reported" => {
            // A consumer of an empty queue that no producer will ever fill.
            let q = weft::stm::TQueue::<u32>::new();
            let consumer = weft::Builder::new()
                .name("consumer".into())
                .spawn(move || q.recv())
                .unwrap();
            let _ = consumer.join();
        }
        "no_report_while_an_unknown_thread_lives" => {
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            let green = weft::spawn(move || {
                while !f.load(Ordering::Acquire) {
                    weft::park::park();
                }
                "woken by the kernel thread"
            });
            let target = green.thread().clone();
            // A thread weft knows nothing about, which will wake the green thread later.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(500));
                flag.store(true, Ordering::Release);
                target.unpark();
            });
            println!("{}", green.join().unwrap());
        }
        "no_report_while_a_timer_is_pending" => {
            let h = weft::spawn(|| {
                weft::sleep(Duration::from_millis(300));
                "slept"
            });
            println!("{}", h.join().unwrap());
        }
        "a_touch_of_a_hibernated_stack_is_reported" => {
            // A green thread lends the address of a local to this kernel thread, then
            // parks: breaking `hibernate_after`'s contract on purpose. In checked mode the
            // touch faults and is reported, instead of reading zeros.
            // SAFETY: not met, deliberately: this scenario checks that the break is caught.
            let rt = unsafe { weft::Runtime::builder().hibernate_after(Duration::from_millis(5)) }
                .hibernate_checked(true)
                .workers(1)
                .build()
                .unwrap();
            let (addr_tx, addr_rx) = std::sync::mpsc::channel::<usize>();
            let (_go_tx, go_rx) = weft::csp::channel::<()>();
            let _h = weft::Builder::new()
                .name("sleeper".into())
                .spawn_on(&rt, move || {
                    let local = std::hint::black_box([7u64; 8]);
                    addr_tx.send(local.as_ptr() as usize).unwrap();
                    let _ = go_rx.recv();
                    local[0]
                })
                .unwrap();
            let addr = addr_rx.recv().unwrap();
            while rt.hibernated() == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
            // SAFETY: not sound (that is the point): the thread is hibernated, its stack
            // is a guard region, and this read faults.
            let v = unsafe { std::ptr::read_volatile(addr as *const u64) };
            println!("read {v} from a hibernated stack: not caught");
        }
        "stack_overflow_is_reported" => {
            #[allow(unconditional_recursion)]
            fn recurse(n: u64) -> u64 {
                let buf = std::hint::black_box([n; 64]);
                recurse(n + 1) + buf[3]
            }
            let h = weft::Builder::new()
                .name("deep".into())
                .spawn(|| recurse(0))
                .unwrap();
            let _ = h.join();
            unreachable!("the overflow aborts the process");
        }
        "map_count_limit_is_named" => {
            let go = Arc::new(AtomicBool::new(false));
            let mut handles = Vec::new();
            let err = loop {
                let g = go.clone();
                match weft::Builder::new().spawn(move || {
                    while !g.load(Ordering::Acquire) {
                        weft::park::park();
                    }
                }) {
                    Ok(h) => handles.push(h),
                    Err(e) => break e,
                }
                if handles.len() > 70_000 {
                    println!("no limit hit after {} stacks", handles.len());
                    return;
                }
            };
            println!("mechanism: {}", weft::guard_mechanism());
            println!("after {} stacks: {err}", handles.len());
            go.store(true, Ordering::Release);
            for h in handles {
                h.thread().unpark();
                h.join().unwrap();
            }
        }
        "relocking_a_mutex_is_reported_as_deadlock" => {
            let h = weft::Builder::new()
                .name("relocker".into())
                .spawn(|| {
                    let m = weft::sync::Mutex::new(0);
                    let _first = m.lock();
                    let _second = m.lock(); // not re-entrant: waits forever
                })
                .unwrap();
            let _ = h.join();
        }
        "exhausted_reservation_is_an_error" => {
            let go = Arc::new(AtomicBool::new(false));
            let mut handles = Vec::new();
            let err = loop {
                let g = go.clone();
                let spawned =
                    weft::Builder::new()
                        .stack_size(weft::MAX_STACK_SIZE)
                        .spawn(move || {
                            while !g.load(Ordering::Acquire) {
                                weft::park::park();
                            }
                        });
                match spawned {
                    Ok(h) => handles.push(h),
                    Err(e) => break e,
                }
                assert!(handles.len() < 10, "no limit hit");
            };
            println!("spawned {}; then: {err}", handles.len());
            go.store(true, Ordering::Release);
            for h in handles {
                h.thread().unpark();
                h.join().unwrap();
            }
        }
        "unjoined_panic_is_reported_with_the_name" => {
            let h = weft::Builder::new()
                .name("crasher".into())
                .spawn(|| panic!("on purpose"))
                .unwrap();
            while !h.is_finished() {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(h);
        }
        "a_lock_waited_on_in_a_thread_local_destructor" => {
            // A thread-local whose destructor locks a contended weft mutex: it runs after
            // the thread's weft handle is gone, and must still be able to park.
            struct LocksAtExit(Arc<weft::sync::Mutex<u32>>);
            impl Drop for LocksAtExit {
                fn drop(&mut self) {
                    let v = *self.0.lock();
                    println!("locked at exit: {v}");
                }
            }
            thread_local! {
                static AT_EXIT: std::cell::RefCell<Option<LocksAtExit>> =
                    const { std::cell::RefCell::new(None) };
            }
            let m = Arc::new(weft::sync::Mutex::new(0u32));
            let mut g = m.lock();
            let t = {
                let m = m.clone();
                std::thread::spawn(move || {
                    // Thread-locals are destroyed in the reverse order of their first
                    // use: weft's handle, made after `AT_EXIT`, is gone before it.
                    AT_EXIT.with(|a| *a.borrow_mut() = Some(LocksAtExit(m)));
                    let _ = weft::current();
                })
            };
            std::thread::sleep(Duration::from_millis(100));
            *g = 7;
            drop(g);
            t.join().unwrap();
        }
        "first_spawn_while_unwinding" => {
            // The first spawn of the process happens in a destructor run by a panic.
            struct SpawnsOnDrop;
            impl Drop for SpawnsOnDrop {
                fn drop(&mut self) {
                    let h = weft::Builder::new().spawn(|| 41 + 1).unwrap();
                    println!("spawned while unwinding: {}", h.join().unwrap());
                }
            }
            let r = std::thread::spawn(|| {
                let _guard = SpawnsOnDrop;
                panic!("unwinding");
            })
            .join();
            assert!(r.is_err());
        }
        "a_panic_escaping_a_green_thread_aborts_cleanly" => {
            // A detached green thread's result panics when it is dropped, after the
            // thread's closure has returned.
            struct Bomb;
            impl Drop for Bomb {
                fn drop(&mut self) {
                    panic!("a result that panics on drop");
                }
            }
            let rt = weft::Runtime::builder().workers(1).build().unwrap();
            drop(rt.spawn(|| {
                weft::sleep(Duration::from_millis(20));
                Bomb
            }));
            std::thread::sleep(Duration::from_millis(500));
            println!("not reached");
        }
        "a_panic_on_the_smallest_stack_with_backtraces" => {
            let h = weft::Builder::new()
                .stack_size(weft::MIN_STACK_SIZE)
                .spawn(|| -> u32 { panic!("on a small stack") })
                .unwrap();
            println!("joined: {:?}", h.join().map_err(|_| "panicked"));
        }
        other => panic!("unknown scenario {other}"),
    }
}
