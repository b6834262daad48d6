//! Two green threads yielding to each other on one worker (for instruction counting:
//! `valgrind --tool=callgrind target/release/examples/yield_only 100000`).
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(100_000, |s| s.parse().unwrap());
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    rt.block_on(move || {
        let a = weft::spawn(move || {
            for _ in 0..n {
                weft::yield_now()
            }
        });
        for _ in 0..n {
            weft::yield_now()
        }
        a.join().unwrap();
    });
}
