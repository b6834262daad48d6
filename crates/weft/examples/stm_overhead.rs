//! The fixed cost of a transaction: N empty transactions, then N that read one variable
//! (`cargo run --release -p weft --example stm_overhead [N]`; under
//! `valgrind --tool=callgrind` the difference between two values of N gives the
//! instructions per pair of transactions, repeatably).
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().expect("N must be a number"));
    let v = weft::stm::TVar::new(1i64);
    let mut sum = 0;
    let t = Instant::now();
    for _ in 0..n {
        sum += weft::stm::atomically(|_tx| Ok(1i64));
    }
    let empty = t.elapsed();
    let t = Instant::now();
    for _ in 0..n {
        sum += weft::stm::atomically(|tx| tx.read(&v));
    }
    let one_read = t.elapsed();
    assert_eq!(sum, 2 * n as i64);
    println!(
        "empty transaction {:.1} ns, one read {:.1} ns",
        empty.as_nanos() as f64 / n as f64,
        one_read.as_nanos() as f64 / n as f64
    );
}
