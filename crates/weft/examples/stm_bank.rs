//! Bank transfers and read-only transactions on weft's STM (a quick look; the lab's STM
//! section is the full comparison): `cargo run --release -p weft --example stm_bank`
//! (`T` transfer threads, default 2, `GREEN=1` to make them green threads; `TRANSFERS` per
//! round, default 400 000; `DISJOINT=1` gives even and odd threads separate halves of the
//! accounts, so they share only the clock; `ONLY_BANK=1` skips the read-only part;
//! `LOCKS=1` runs the same transfers on per-account `parking_lot` mutexes taken in order
//! instead, the yardstick of issue 4).
use std::sync::Arc;
use std::time::Instant;

use weft::stm::{atomically, TVar};

fn main() {
    let accounts: Arc<Vec<TVar<i64>>> = Arc::new((0..1000).map(|_| TVar::new(1000)).collect());
    let transfers: u64 = std::env::var("TRANSFERS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(400_000);
    let threads: u64 = std::env::var("T")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    // GREEN=1: the transfer threads are weft green threads (on the default runtime).
    let green = std::env::var_os("GREEN").is_some_and(|v| v == "1");
    let disjoint = std::env::var_os("DISJOINT").is_some();
    let locks = std::env::var_os("LOCKS").is_some();
    let mutexes: Arc<Vec<parking_lot::Mutex<i64>>> =
        Arc::new((0..1000).map(|_| parking_lot::Mutex::new(1000)).collect());
    for round in 0..3 {
        let before = weft::stm::stats();
        let t = Instant::now();
        let hs: Vec<Box<dyn FnOnce()>> = (0..threads)
            .map(|i| {
                let accounts = accounts.clone();
                let mutexes = mutexes.clone();
                let body = move || {
                    let mut s = 0x9E37_79B9_7F4A_7C15u64 ^ ((i + 1) * 0x1234_5677);
                    for _ in 0..transfers / threads {
                        s ^= s << 13;
                        s ^= s >> 7;
                        s ^= s << 17;
                        let (from, to) = if disjoint {
                            let half = 500 * (i as usize % 2);
                            ((s % 500) as usize + half, ((s >> 20) % 500) as usize + half)
                        } else {
                            ((s % 1000) as usize, ((s >> 20) % 1000) as usize)
                        };
                        if locks {
                            if from != to {
                                let (lo, hi) = (from.min(to), from.max(to));
                                let mut a = mutexes[lo].lock();
                                let mut b = mutexes[hi].lock();
                                let d = if from < to { 1 } else { -1 };
                                *a -= d;
                                *b += d;
                            }
                            continue;
                        }
                        atomically(|tx| {
                            let a = tx.read(&accounts[from])?;
                            tx.write(&accounts[from], a - 1)?;
                            let b = tx.read(&accounts[to])?;
                            tx.write(&accounts[to], b + 1)
                        });
                    }
                };
                if green {
                    let h = weft::spawn(body);
                    Box::new(move || h.join().unwrap()) as Box<dyn FnOnce()>
                } else {
                    let h = std::thread::spawn(body);
                    Box::new(move || h.join().unwrap())
                }
            })
            .collect();
        for join in hs {
            join();
        }
        let dt = t.elapsed();
        let after = weft::stm::stats();
        println!(
            "round {round}: {:.1} M transfers/s, conflicts {}, serial {}",
            transfers as f64 / dt.as_secs_f64() / 1e6,
            after.conflicts - before.conflicts,
            after.serial - before.serial
        );
    }
    let total: i64 = accounts.iter().map(TVar::load).sum();
    assert_eq!(total, 1_000_000);
    let total: i64 = mutexes.iter().map(|m| *m.lock()).sum();
    assert_eq!(total, 1_000_000);
    // Read-only transaction over 4 TVars (skipped with ONLY_BANK=1, for profiling).
    let n = if std::env::var_os("ONLY_BANK").is_some() {
        0
    } else {
        2_000_000
    };
    for _ in 0..if n == 0 { 0 } else { 3 } {
        let t = Instant::now();
        let mut sum = 0;
        for i in 0..n {
            let base = (i * 4) % 996;
            sum += atomically(|tx| {
                Ok(tx.read(&accounts[base])?
                    + tx.read(&accounts[base + 1])?
                    + tx.read(&accounts[base + 2])?
                    + tx.read(&accounts[base + 3])?)
            });
        }
        println!(
            "read-only 4 TVars: {:.1} ns ({sum})",
            t.elapsed().as_nanos() as f64 / n as f64
        );
    }
}
