//! Opt-in preemption: a green thread that computes without ever calling the runtime is
//! suspended after its slice, its registers intact, and never inside a critical section.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft::runtime::preempt;

const SLICE: Duration = Duration::from_millis(2);

/// The tests read process-wide counts and time a worker: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn preemptive(workers: usize) -> weft::Runtime {
    // SAFETY: the green threads of these tests use no thread-local storage of their own
    // and hold no reentrant or kernel-blocking lock across their loops.
    unsafe { weft::Runtime::builder().workers(workers).preemption(SLICE) }
        .build()
        .unwrap()
}

/// A loop that keeps many integer and vector registers live and never calls the
/// runtime; returns a checksum that any corrupted register would change.
#[inline(never)]
fn churn(rounds: u64, seed: u64) -> (u64, u64) {
    let (mut a, mut b, mut c, mut d) = (seed, seed ^ 0x9E37, seed.rotate_left(7), !seed);
    let (mut x, mut y, mut z) = (seed as f64 * 0.5, 1.000_001f64, 3.25f64);
    let mut e = 0u64;
    for i in 0..rounds {
        a = a.wrapping_mul(6364136223846793005).wrapping_add(i);
        b ^= a.rotate_left(13);
        c = c.wrapping_add(b >> 3);
        d = d.rotate_right(5) ^ c;
        x = x * y + (i & 7) as f64;
        y = (y + 1e-9) * 0.999_999_9 + 1e-7;
        z = z.mul_add(0.5, x * 1e-12);
        e = e.wrapping_add(a ^ b ^ c ^ d);
        if x > 1e12 {
            x *= 1e-9;
        }
    }
    (e ^ a ^ b ^ c ^ d, (x + y + z).to_bits())
}

/// Rounds of `churn` that take about `d` on this machine (measured on a kernel thread).
fn rounds_for(d: Duration) -> u64 {
    let n = 1_000_000;
    let t = Instant::now();
    std::hint::black_box(churn(n, 1));
    let per = t.elapsed().as_secs_f64() / n as f64;
    ((d.as_secs_f64() / per) as u64).max(n)
}

#[test]
fn a_computing_thread_is_preempted_and_the_ticker_keeps_ticking() {
    let _s = serial();
    let rt = preemptive(1);
    let rounds = rounds_for(Duration::from_millis(300));
    let want = churn(rounds, 42);
    let before = preempt::stats();
    let go = Arc::new(AtomicBool::new(true));
    let ticks = Arc::new(AtomicUsize::new(0));
    let (g, t) = (go.clone(), ticks.clone());
    let ticker = rt.spawn(move || {
        while g.load(Ordering::Acquire) {
            weft::sleep(Duration::from_millis(1));
            t.fetch_add(1, Ordering::Relaxed);
        }
    });
    // Let the ticker start, then run the hog on the same (only) worker.
    std::thread::sleep(Duration::from_millis(20));
    let start = ticks.load(Ordering::Relaxed);
    let got = rt.spawn(move || churn(rounds, 42)).join().unwrap();
    let during = ticks.load(Ordering::Relaxed) - start;
    go.store(false, Ordering::Release);
    ticker.join().unwrap();
    let after = preempt::stats();
    assert_eq!(
        got, want,
        "the preempted computation's registers were disturbed"
    );
    assert!(
        after.preemptions > before.preemptions,
        "never preempted: {before:?} -> {after:?}"
    );
    // About 300 ms of hog at a 2 ms slice: the ticker runs after each preemption.
    assert!(
        during >= 40,
        "the ticker ran {during} times beside the hog ({after:?})"
    );
}

/// Two computing threads on one worker take turns through preemption alone; each one's
/// registers survive the other's use of them.
#[test]
fn two_computing_threads_share_a_worker_and_both_compute_correctly() {
    let _s = serial();
    let rt = preemptive(1);
    let rounds = rounds_for(Duration::from_millis(150));
    let want = [churn(rounds, 7), churn(rounds, 8)];
    let before = preempt::stats();
    let t = Instant::now();
    let a = rt.spawn(move || (churn(rounds, 7), Instant::now()));
    let b = rt.spawn(move || (churn(rounds, 8), Instant::now()));
    let (ra, ta) = a.join().unwrap();
    let (rb, tb) = b.join().unwrap();
    let after = preempt::stats();
    assert_eq!([ra, rb], want);
    // Interleaved: neither finished before the other had most of its work done (run
    // one after the other, the first would end at about half the total).
    let (first, last) = (ta.min(tb) - t, ta.max(tb) - t);
    assert!(
        first.as_secs_f64() > 0.7 * last.as_secs_f64(),
        "not interleaved: {first:?} then {last:?}"
    );
    assert!(
        after.preemptions >= before.preemptions + 20,
        "{before:?} -> {after:?}"
    );
}

/// A critical section is never preempted: the ticker beside it starves, as it would
/// without preemption.
#[test]
fn a_critical_section_is_never_preempted() {
    let _s = serial();
    let rt = preemptive(1);
    let go = Arc::new(AtomicBool::new(true));
    let ticks = Arc::new(AtomicUsize::new(0));
    let (g, t) = (go.clone(), ticks.clone());
    let ticker = rt.spawn(move || {
        while g.load(Ordering::Acquire) {
            weft::sleep(Duration::from_millis(1));
            t.fetch_add(1, Ordering::Relaxed);
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    let rounds = rounds_for(Duration::from_millis(100));
    let before = preempt::stats();
    let start = ticks.load(Ordering::Relaxed);
    let lock = Arc::new(weft::sync::SpinLock::new(0u64));
    let l = lock.clone();
    let (in_critical, under_lock_before) = rt
        .spawn(move || {
            // (Its result is stored inside the section: pure computation may be moved
            // across a section's edges, memory accesses may not.)
            let mut c = (0, 0);
            preempt::critical(|| c = std::hint::black_box(churn(rounds, 3)));
            let after_critical = preempt::stats();
            // Holding a spin lock disables preemption too.
            let mut g = l.lock();
            *g = churn(rounds, 4).0;
            drop(g);
            (c, after_critical)
        })
        .join()
        .unwrap();
    let during = ticks.load(Ordering::Relaxed) - start;
    let after = preempt::stats();
    go.store(false, Ordering::Release);
    ticker.join().unwrap();
    assert_eq!(in_critical, churn(rounds, 3));
    assert_eq!(*lock.lock(), churn(rounds, 4).0);
    assert_eq!(
        under_lock_before.preemptions, before.preemptions,
        "preempted in a critical section"
    );
    assert_eq!(
        after.preemptions, before.preemptions,
        "preempted holding a spin lock"
    );
    assert!(
        after.declined > before.declined,
        "the watchdog never asked: {after:?}"
    );
    // The ticker may run once between the two sections (the hog's lock() is no switch,
    // but its first tick may be due as the thread starts).
    assert!(
        during <= 2,
        "the ticker ran {during} times beside critical sections"
    );
}

/// Under preemption, green threads that talk over channels, share weft locks, run STM
/// transactions and spawn, beside computing threads that force preemption all the time,
/// lose nothing: every count is exact.
#[test]
fn nothing_is_lost_when_everything_is_preempted() {
    let _s = serial();
    let rt = preemptive(2);
    let rounds = rounds_for(Duration::from_millis(200));
    let hogs: Vec<_> = (0..2)
        .map(|i| rt.spawn(move || churn(rounds, 100 + i)))
        .collect();
    const N: u64 = 20_000;
    let counter = Arc::new(weft::sync::Mutex::new(0u64));
    let account = Arc::new(weft::stm::TVar::new(0u64));
    let (tx, rx) = weft::csp::bounded::<u64>(16);
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let tx = tx.clone();
            let counter = counter.clone();
            let account = account.clone();
            rt.spawn(move || {
                for i in 0..N {
                    tx.send(p * N + i).unwrap();
                    *counter.lock() += 1;
                    weft::stm::atomically(|t| {
                        let v = t.read(&account)?;
                        t.write(&account, v + 1)
                    });
                    if i % 1000 == 0 {
                        weft::spawn(|| 1u64).join().unwrap();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let consumer = rt.spawn(move || {
        let mut sum = 0u64;
        let mut n = 0u64;
        while let Ok(v) = rx.recv() {
            sum += v;
            n += 1;
        }
        (n, sum)
    });
    for p in producers {
        p.join().unwrap();
    }
    let (n, sum) = consumer.join().unwrap();
    for (i, h) in hogs.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), churn(rounds, 100 + i as u64));
    }
    assert_eq!(n, 2 * N);
    assert_eq!(sum, (0..2 * N).sum::<u64>());
    assert_eq!(*counter.lock(), 2 * N);
    assert_eq!(weft::stm::atomically(|t| t.read(&account)), 2 * N);
}

#[test]
fn a_slice_below_the_minimum_is_an_error() {
    // SAFETY: the runtime is never built.
    let e = unsafe { weft::Runtime::builder().preemption(Duration::from_micros(5)) }
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
}

/// A loop written inline in the spawned closure (which the compiler may inline into
/// weft's own spawn wrapper) is preempted as well.
#[test]
fn a_loop_written_in_the_spawned_closure_is_preempted() {
    let _s = serial();
    let rt = preemptive(1);
    let before = preempt::stats();
    let stop = Instant::now() + Duration::from_millis(100);
    let spins = rt
        .spawn(move || {
            let mut n = 0u64;
            // (The clock is read now and then: time spent in the vDSO's clock is not the
            // application's code and is never interrupted.)
            while n % 4096 != 0 || Instant::now() < stop {
                n = std::hint::black_box(n + 1);
            }
            n
        })
        .join()
        .unwrap();
    let after = preempt::stats();
    assert!(spins > 0);
    assert!(
        after.preemptions > before.preemptions,
        "{before:?} -> {after:?}"
    );
}
