//! The public API of green threads, from green and kernel threads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft::park::{park_deadline, park_timeout, Unparked};

#[test]
fn spawn_and_join_return_the_value() {
    let h = weft::spawn(|| String::from("green"));
    assert_eq!(h.join().unwrap(), "green");
}

#[test]
fn join_from_a_green_thread_parks_it() {
    let outer = weft::spawn(|| {
        let inner = weft::spawn(|| {
            weft::sleep(Duration::from_millis(5));
            7
        });
        assert!(weft::current().is_green());
        inner.join().unwrap() * 6
    });
    assert_eq!(outer.join().unwrap(), 42);
}

#[test]
fn panics_are_returned_by_join_and_do_not_kill_workers() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    for i in 0..20 {
        let r = rt.spawn(move || -> u32 { panic!("boom {i}") }).join();
        let payload = r.unwrap_err();
        let msg = payload.downcast_ref::<String>().unwrap();
        assert_eq!(msg, &format!("boom {i}"));
    }
    // The single worker survived all of them.
    assert_eq!(rt.block_on(|| 5), 5);
}

#[test]
fn block_on_resumes_a_panic() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(|| panic!("inside block_on"))
    }));
    assert!(r.is_err());
}

#[test]
fn is_finished_and_thread_handle() {
    let gate = Arc::new(AtomicBool::new(false));
    let g = gate.clone();
    let h = weft::Builder::new()
        .name("named".into())
        .spawn(move || {
            while !g.load(Ordering::Acquire) {
                weft::park::park();
            }
            weft::current().name().map(String::from)
        })
        .unwrap();
    assert_eq!(h.thread().name(), Some("named"));
    assert!(h.thread().is_green());
    assert_eq!(h.thread().stack_size(), Some(weft::DEFAULT_STACK_SIZE));
    assert!(!h.is_finished());
    gate.store(true, Ordering::Release);
    h.thread().unpark();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !h.is_finished() {
        assert!(Instant::now() < deadline, "thread never finished");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(h.join().unwrap().as_deref(), Some("named"));
}

#[test]
fn current_on_kernel_threads() {
    let t = std::thread::Builder::new()
        .name("kernel-one".into())
        .spawn(|| {
            let me = weft::current();
            assert!(!me.is_green());
            assert_eq!(me.stack_size(), None);
            // Stable identity within a thread.
            assert_eq!(me.id(), weft::current().id());
            me.name().map(String::from)
        })
        .unwrap();
    assert_eq!(t.join().unwrap().as_deref(), Some("kernel-one"));
}

#[test]
fn ids_are_unique() {
    let hs: Vec<_> = (0..100)
        .map(|_| weft::spawn(|| weft::current().id()))
        .collect();
    let mut ids: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100);
}

#[test]
fn yield_now_interleaves_threads_on_one_worker() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    rt.block_on(move || {
        let hs: Vec<_> = (0..2)
            .map(|k| {
                let l = l.clone();
                weft::spawn(move || {
                    for i in 0..3 {
                        l.lock().unwrap().push((k, i));
                        weft::yield_now();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let log = log.lock().unwrap();
    // Strict alternation: each yield lets the other thread run.
    assert_eq!(*log, vec![(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]);
    // Also valid on a kernel thread.
    weft::yield_now();
}

#[test]
fn sleep_orders_wakeups_and_respects_bounds() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    rt.block_on(move || {
        let hs: Vec<_> = [30u64, 10, 20]
            .into_iter()
            .map(|ms| {
                let o = o.clone();
                weft::spawn(move || {
                    let t = Instant::now();
                    weft::sleep(Duration::from_millis(ms));
                    let slept = t.elapsed();
                    assert!(slept >= Duration::from_millis(ms), "woke early: {slept:?}");
                    o.lock().unwrap().push(ms);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    assert_eq!(*order.lock().unwrap(), vec![10, 20, 30]);
    // Kernel-thread sleep.
    let t = Instant::now();
    weft::sleep(Duration::from_millis(5));
    assert!(t.elapsed() >= Duration::from_millis(5));
}

#[test]
fn sleeping_green_threads_do_not_block_their_worker() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let elapsed = rt.block_on(|| {
        let t = Instant::now();
        let hs: Vec<_> = (0..200)
            .map(|_| weft::spawn(|| weft::sleep(Duration::from_millis(50))))
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        t.elapsed()
    });
    // 200 sleeps of 50 ms on one worker overlap (a blocking sleep would take 10 s).
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn park_timeout_green_and_kernel() {
    let h = weft::spawn(|| {
        let t = Instant::now();
        let r = park_timeout(Duration::from_millis(20));
        (r, t.elapsed())
    });
    let (r, e) = h.join().unwrap();
    assert_eq!(r, Unparked::TimedOut);
    assert!(e >= Duration::from_millis(20));

    let t = Instant::now();
    let r = park_deadline(t + Duration::from_millis(20));
    assert_eq!(r, Unparked::TimedOut);
    assert!(t.elapsed() >= Duration::from_millis(20));
}

#[test]
fn a_token_given_before_park_is_not_lost() {
    // Kernel thread: unpark self, then park returns at once.
    weft::current().unpark();
    assert_eq!(park_timeout(Duration::from_secs(10)), Unparked::Notified);
    // Green thread: the same.
    let r = weft::spawn(|| {
        weft::current().unpark();
        park_timeout(Duration::from_secs(10))
    })
    .join()
    .unwrap();
    assert_eq!(r, Unparked::Notified);
}

#[test]
fn kernel_thread_wakes_green_thread_and_back() {
    let me = weft::current();
    let flag = Arc::new(AtomicUsize::new(0));
    let f = flag.clone();
    let h = weft::spawn(move || {
        while f.load(Ordering::Acquire) != 1 {
            weft::park::park();
        }
        f.store(2, Ordering::Release);
        me.unpark();
    });
    flag.store(1, Ordering::Release);
    h.thread().unpark();
    while flag.load(Ordering::Acquire) != 2 {
        weft::park::park();
    }
    h.join().unwrap();
}

#[test]
fn scope_borrows_and_joins() {
    let data: Vec<u64> = (1..=100).collect();
    let total = AtomicUsize::new(0);
    weft::scope(|s| {
        for chunk in data.chunks(10) {
            let total = &total;
            s.spawn(move || {
                total.fetch_add(chunk.iter().sum::<u64>() as usize, Ordering::Relaxed);
            });
        }
        let h = s.spawn(|| data.len());
        assert_eq!(h.join().unwrap(), 100);
    });
    assert_eq!(total.load(Ordering::Relaxed), 5050);
}

#[test]
fn scope_from_a_green_thread() {
    let r = weft::spawn(|| {
        let mut v = vec![0u32; 8];
        weft::scope(|s| {
            for (i, x) in v.iter_mut().enumerate() {
                s.spawn(move || {
                    weft::yield_now();
                    *x = i as u32;
                });
            }
        });
        v
    })
    .join()
    .unwrap();
    assert_eq!(r, (0..8).collect::<Vec<_>>());
}

#[test]
fn scope_panics_when_an_unjoined_thread_panicked() {
    let r = std::panic::catch_unwind(|| {
        weft::scope(|s| {
            s.spawn(|| panic!("scoped boom"));
        })
    });
    assert!(r.is_err());
    // A joined panic does not make the scope panic.
    weft::scope(|s| {
        let h = s.spawn(|| panic!("taken"));
        assert!(h.join().is_err());
    });
}

#[test]
fn bad_stack_sizes_are_errors_naming_the_limit() {
    let e = weft::Builder::new()
        .stack_size(1024)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("minimum"), "{e}");
    assert!(
        e.to_string().contains(&weft::MIN_STACK_SIZE.to_string()),
        "{e}"
    );
    let e = weft::Builder::new()
        .stack_size(weft::MAX_STACK_SIZE + 1)
        .spawn(|| ())
        .unwrap_err();
    assert!(e.to_string().contains("maximum"), "{e}");
    // A large but valid stack works and really is usable.
    let h = weft::Builder::new()
        .stack_size(8 << 20)
        .spawn(|| {
            let buf = [1u8; 4 << 20];
            std::hint::black_box(&buf)
                .iter()
                .map(|&b| b as u64)
                .sum::<u64>()
        })
        .unwrap();
    assert_eq!(h.join().unwrap(), 4 << 20);
}

#[test]
fn weft_spawn_panics_with_the_message_on_bad_input() {
    // `weft::spawn` cannot take a bad stack size, so check the documented panic path
    // through Runtime::spawn's sibling: Builder errors become panics with the message.
    let r = std::panic::catch_unwind(|| {
        weft::Builder::new()
            .stack_size(1)
            .spawn(|| ())
            .unwrap_or_else(|e| panic!("{e}"))
    });
    let msg = r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("below the safe minimum"), "{msg}");
}

#[test]
fn zero_workers_is_an_error() {
    let e = weft::Runtime::builder().workers(0).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("at least one worker"), "{e}");
}

#[test]
fn dropping_a_runtime_shuts_it_down() {
    let before = thread_count();
    for _ in 0..5 {
        let rt = weft::Runtime::builder().workers(3).build().unwrap();
        let n = rt.block_on(|| {
            let hs: Vec<_> = (0..100).map(|i| weft::spawn(move || i)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<i32>()
        });
        assert_eq!(n, 4950);
        drop(rt);
    }
    // Worker threads are gone (other tests may run threads concurrently, so allow
    // slack, but not the 15 workers of five leaked runtimes).
    assert!(
        thread_count() < before + 15,
        "{} vs {before}",
        thread_count()
    );
}

#[test]
fn runtime_spawn_runs_on_that_runtime() {
    let rt = weft::Runtime::builder()
        .workers(2)
        .name("mine")
        .build()
        .unwrap();
    assert_eq!(rt.workers(), 2);
    let h = rt.spawn(|| std::thread::current().name().map(String::from));
    let worker = h.join().unwrap().unwrap();
    assert!(worker.starts_with("mine-"), "{worker}");
    assert!(format!("{rt:?}").contains("mine"));
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// CPU time (user + system, in clock ticks) of this process's threads whose name
/// starts with `prefix`.
fn cpu_ticks_of(prefix: &str) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (open, close) = (stat.find('(').unwrap(), stat.rfind(')').unwrap());
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        total += f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    }
    total
}

#[test]
fn an_idle_runtime_uses_no_cpu() {
    let rt = weft::Runtime::builder()
        .workers(2)
        .name("idlers")
        .build()
        .unwrap();
    // Some work first, so the workers have been awake.
    rt.block_on(|| {
        weft::spawn(|| weft::sleep(Duration::from_millis(5)))
            .join()
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(50));
    let before = cpu_ticks_of("idlers");
    std::thread::sleep(Duration::from_millis(1000));
    let used = cpu_ticks_of("idlers") - before;
    // Clock ticks are 10 ms: an idle runtime may show at most one tick of noise.
    assert!(
        used <= 1,
        "idle workers used {used} ticks of CPU in one second"
    );
    // And they still wake promptly.
    let t = Instant::now();
    rt.block_on(|| ());
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_yielding_thread_lets_a_thread_spawned_from_outside_start() {
    // Spawned from a kernel thread, the second thread goes through the global
    // injector; the first one's yield loop must not starve it.
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let arrived = Arc::new(AtomicUsize::new(0));
    let spawn = |rt: &weft::Runtime| {
        let a = arrived.clone();
        rt.spawn(move || {
            a.fetch_add(1, Ordering::AcqRel);
            while a.load(Ordering::Acquire) < 2 {
                weft::yield_now();
            }
        })
    };
    let first = spawn(&rt);
    while arrived.load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
    let second = spawn(&rt);
    first.join().unwrap();
    second.join().unwrap();
}

#[test]
fn an_earlier_timer_never_fires_into_a_later_untimed_park() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let h = rt.spawn(|| {
        // A timed park, ended early by an unpark...
        weft::current().unpark();
        assert_eq!(park_timeout(Duration::from_millis(50)), Unparked::Notified);
        // ...then an untimed park: the first park's timer (due at 50 ms) must not end it.
        static R: weft::WaitReason = weft::WaitReason::new("test");
        let t = Instant::now();
        let r = weft::park::park_on(&R, None);
        (r, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(150));
    h.thread().unpark();
    let (r, waited) = h.join().unwrap();
    assert_eq!(r, Unparked::Notified);
    assert!(
        waited >= Duration::from_millis(100),
        "woken after {waited:?}"
    );
}

/// Timers are matched to parks by a per-slot sequence number: a thread that starts in
/// a slot freed by a finished thread must not be timed out by that thread's stale timer
/// (its timed park's sequence number continues the slot's count, not restart it).
#[test]
fn a_finished_threads_timer_never_fires_into_its_slots_next_thread() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    // A timed park (due at 50 ms) ended early; then the thread finishes, freeing its slot.
    rt.spawn(|| {
        weft::current().unpark();
        assert_eq!(park_timeout(Duration::from_millis(50)), Unparked::Notified);
    })
    .join()
    .unwrap();
    // The next thread on the one worker takes the freed slot, and parks with a longer
    // deadline: a time-out may only be reported once its own deadline has passed.
    let h = rt.spawn(|| {
        let t = Instant::now();
        loop {
            let r = park_timeout(Duration::from_millis(300));
            if r == Unparked::TimedOut {
                return t.elapsed();
            }
        }
    });
    let waited = h.join().unwrap();
    assert!(
        waited >= Duration::from_millis(300),
        "timed out after {waited:?}, before its deadline"
    );
}

#[test]
fn timers_of_parks_that_ended_early_do_not_pile_up() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let rounds = 20_000;
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let sleeper = rt.spawn(move || {
        let mut n = 0;
        while !d2.load(Ordering::Acquire) {
            // A long timeout, always ended early by the waker below.
            let _ = park_timeout(Duration::from_secs(3600));
            n += 1;
        }
        n
    });
    let target = sleeper.thread().clone();
    let waker = rt.spawn(move || {
        for _ in 0..rounds {
            target.unpark();
            weft::yield_now();
        }
    });
    waker.join().unwrap();
    // Thousands of hour-long timers were set and abandoned; the heap holds few.
    let pending = rt.pending_timers();
    done.store(true, Ordering::Release);
    sleeper.thread().unpark();
    let parks = sleeper.join().unwrap();
    assert!(parks > 1_000, "only {parks} parks");
    assert!(
        pending <= 2_100,
        "{pending} timers pending after {parks} early wake-ups"
    );
}

/// A runtime name with a NUL byte (which no thread name can hold) is an error, not a
/// panic inside `build`.
#[test]
fn a_runtime_name_with_a_nul_is_an_error() {
    let e = weft::Runtime::builder().name("a\0b").build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("NUL"), "{e}");
}

/// A worker that leaves green threads parked when its runtime is dropped keeps its kernel
/// thread, so the thread-locals they may borrow (`with` across a park) are not destroyed
/// under them.
#[test]
fn a_dropped_runtime_keeps_the_thread_locals_its_parked_threads_use() {
    struct SetsOnDrop(Arc<AtomicBool>);
    impl Drop for SetsOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    thread_local! {
        static ON_WORKER: std::cell::RefCell<Option<SetsOnDrop>> =
            const { std::cell::RefCell::new(None) };
    }
    let destroyed = Arc::new(AtomicBool::new(false));
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let d = destroyed.clone();
    let _parked = rt.spawn(move || {
        ON_WORKER.with(|t| *t.borrow_mut() = Some(SetsOnDrop(d)));
        loop {
            weft::park::park();
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    drop(rt);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !destroyed.load(Ordering::SeqCst),
        "the worker's thread-locals were destroyed under a parked green thread"
    );
}
