//! The cost of one `TQueue` item, for profiling: `N` sends then `N` receives on one
//! kernel thread (no contention, no blocking), in batches of `BATCH` (env vars).
//!
//! ```text
//! N=200000 BATCH=100 valgrind --tool=callgrind target/release/examples/stm_queue
//! ```
use std::time::Instant;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env("N", 1_000_000);
    let batch = env("BATCH", 100).max(1);
    let q = weft::stm::TQueue::<u64>::new();
    let t0 = Instant::now();
    let mut sum = 0u64;
    let mut i = 0;
    while i < n {
        let k = batch.min(n - i);
        for j in 0..k {
            q.send(i + j);
        }
        for _ in 0..k {
            sum += q.recv();
        }
        i += k;
    }
    let dt = t0.elapsed();
    assert_eq!(sum, n * (n - 1) / 2, "an item was lost");
    println!(
        "{n} items in batches of {batch}: {:.1} ns per item (send + recv)",
        dt.as_nanos() as f64 / n as f64
    );
    println!("{:?}", weft::stm::stats());
}
