//! Quick micro-measurements of the runtime's hot paths (the lab has the full set, next
//! to the peers).
//!
//! `cargo run --release -p weft --example quick_bench [all|yield|pingpong|spawn] [N]`
//!
//! `yield` and `pingpong` alone suit instruction counting:
//! `valgrind --tool=callgrind target/release/examples/quick_bench yield 100000`.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Two green threads yielding to each other `n` times each; ns per switch.
fn yields(rt: &weft::Runtime, n: u64) -> f64 {
    rt.block_on(move || {
        let a = weft::spawn(move || {
            for _ in 0..n {
                weft::yield_now()
            }
        });
        let t = Instant::now();
        for _ in 0..n {
            weft::yield_now()
        }
        a.join().unwrap();
        t.elapsed().as_nanos() as f64 / (2.0 * n as f64)
    })
}

/// Two green threads handing a turn back and forth `rounds` times; ns per round trip.
fn ping_pong(rt: &weft::Runtime, rounds: usize) -> f64 {
    rt.block_on(move || {
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
    })
}

/// Spawns `n` threads that all park, twice (fresh stacks, then pooled ones).
fn spawn_parked(n: usize) {
    let rt = weft::Runtime::builder().workers(2).build().unwrap();
    rt.block_on(|| ());
    for round in 0..2 {
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
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        let e = t.elapsed();
        let mem = status("VmRSS:") + status("VmPTE:") - base;
        println!(
            "spawn until parked, round {round} ({}): {n} in {e:?} = {:.0}/s; {:.0} bytes per \
             parked thread (RSS+PTE over the round's start, incl. JoinHandle)",
            if round == 0 {
                "fresh stacks"
            } else {
                "pooled stacks"
            },
            n as f64 / e.as_secs_f64(),
            mem as f64 * 1024.0 / n as f64
        );
        go.store(true, Ordering::Release);
        for h in &hs {
            h.thread().unpark();
        }
        for h in hs {
            h.join().unwrap();
        }
    }
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let n: Option<u64> = std::env::args()
        .nth(2)
        .map(|s| s.parse().expect("N is a number"));
    let rt1 = weft::Runtime::builder().workers(1).build().unwrap();
    if what == "all" || what == "yield" {
        let ns = yields(&rt1, n.unwrap_or(2_000_000));
        println!("yield, one worker: {ns:.1} ns per switch");
    }
    if what == "all" || what == "pingpong" {
        let rounds = n.unwrap_or(500_000) as usize;
        println!(
            "park/unpark round trip, one worker: {:.1} ns",
            ping_pong(&rt1, rounds)
        );
        if what == "all" {
            let rt2 = weft::Runtime::builder().workers(2).build().unwrap();
            println!(
                "park/unpark round trip, two workers (placement not controlled): {:.1} ns",
                ping_pong(&rt2, rounds)
            );
        }
    }
    if what == "all" || what == "spawn" {
        spawn_parked(n.unwrap_or(1_000_000) as usize);
    }
}
