//! Spawns N green threads from a green thread, each parking at once; reports the rate
//! until all are parked, the CPU split and the page faults; then releases and joins them
//! and does it again on the pooled stacks (`cargo run --release -p weft --example
//! spawn_parked [N] [ROUNDS]`).
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn cpu() -> (f64, f64, i64) {
    // SAFETY: rusage is plain data; all-zero is a valid value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid out-pointer for getrusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(u.ru_utime), t(u.ru_stime), u.ru_minflt)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().unwrap());
    let rounds: usize = std::env::args().nth(2).map_or(2, |s| s.parse().unwrap());
    weft::spawn(|| ()).join().unwrap();
    for _ in 0..rounds {
        round(n);
    }
}

fn round(n: usize) {
    let parked = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(AtomicBool::new(false));
    let (u0, s0, f0) = cpu();
    let t = Instant::now();
    let (p, g) = (parked.clone(), go.clone());
    let handles = weft::spawn(move || {
        (0..n)
            .map(|_| {
                let (p, g) = (p.clone(), g.clone());
                weft::spawn(move || {
                    p.fetch_add(1, Ordering::Release);
                    while !g.load(Ordering::Acquire) {
                        weft::park::park();
                    }
                })
            })
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    while parked.load(Ordering::Acquire) < n {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    let e = t.elapsed();
    let (u1, s1, f1) = cpu();
    println!(
        "{n} spawned until parked in {e:?}: {:.0}/s; cpu user {:.2}s sys {:.2}s; {:.2} faults each",
        n as f64 / e.as_secs_f64(),
        u1 - u0,
        s1 - s0,
        (f1 - f0) as f64 / n as f64
    );
    go.store(true, Ordering::Release);
    for h in &handles {
        h.thread().unpark();
    }
    for h in handles {
        h.join().unwrap();
    }
}
