//! Quick micro-measurements of the runtime's hot paths (the lab has the full set).
//! `cargo run --release -p weft --example quick_bench [threads]`
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().unwrap());
    let rt1 = weft::Runtime::builder().workers(1).build().unwrap();
    let iters = 2_000_000u64;
    let ns = rt1.block_on(move || {
        let a = weft::spawn(move || {
            for _ in 0..iters {
                weft::yield_now()
            }
        });
        let t = Instant::now();
        for _ in 0..iters {
            weft::yield_now()
        }
        a.join().unwrap();
        t.elapsed().as_nanos() as f64 / (2.0 * iters as f64)
    });
    println!("yield, one worker: {ns:.1} ns per switch");
    for (label, rt) in [
        ("one worker", &rt1),
        (
            "two workers",
            &weft::Runtime::builder().workers(2).build().unwrap(),
        ),
    ] {
        let rounds = 500_000usize;
        let ns = rt.block_on(move || {
            let turn = Arc::new(AtomicUsize::new(0));
            let me = weft::current();
            let t2 = turn.clone();
            let b = weft::spawn(move || {
                for r in 0..rounds {
                    while t2.load(Ordering::Acquire) != 2 * r + 1 {
                        weft::park::park();
                    }
                    t2.store(2 * r + 2, Ordering::Release);
                    me.unpark();
                }
            });
            let bt = b.thread().clone();
            let t = Instant::now();
            for r in 0..rounds {
                turn.store(2 * r + 1, Ordering::Release);
                bt.unpark();
                while turn.load(Ordering::Acquire) != 2 * r + 2 {
                    weft::park::park();
                }
            }
            let e = t.elapsed();
            b.join().unwrap();
            e.as_nanos() as f64 / rounds as f64
        });
        println!("park/unpark round trip, {label}: {ns:.1} ns");
    }
    // Spawn n threads that all park; memory per parked thread.
    let rt = weft::Runtime::builder().workers(2).build().unwrap();
    rt.block_on(|| ());
    for round in 0..2 {
        println!("round {round}");
        let base = status("VmRSS:") + status("VmPTE:");
        let parked = Arc::new(AtomicUsize::new(0));
        let go = Arc::new(AtomicBool::new(false));
        let t = Instant::now();
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let (p, g) = (parked.clone(), go.clone());
                rt.spawn(move || {
                    p.fetch_add(1, Ordering::Release);
                    while !g.load(Ordering::Acquire) {
                        weft::park::park();
                    }
                })
            })
            .collect();
        while parked.load(Ordering::Acquire) < n {
            std::thread::yield_now();
        }
        let e = t.elapsed();
        let mem = status("VmRSS:") + status("VmPTE:") - base;
        println!("spawn until parked: {n} in {e:?} = {:.0}/s; {:.0} bytes per parked thread (RSS+PTE, incl. JoinHandle)", n as f64 / e.as_secs_f64(), mem as f64 * 1024.0 / n as f64);
        go.store(true, Ordering::Release);
        let t = Instant::now();
        for h in &hs {
            h.thread().unpark();
        }
        for h in hs {
            h.join().unwrap();
        }
        println!("wake+join all: {:?}", t.elapsed());
    }
}
