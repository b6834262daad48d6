//! Two green threads on one worker waking each other with park/unpark (for instruction
//! counting: `valgrind --tool=callgrind target/release/examples/pingpong_only 100000`).
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |s| s.parse().unwrap());
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
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
        for r in 0..rounds {
            turn.store(2 * r + 1, Ordering::Release);
            bt.unpark();
            while turn.load(Ordering::Acquire) != 2 * r + 2 {
                weft::park::park();
            }
        }
        b.join().unwrap();
    });
}
