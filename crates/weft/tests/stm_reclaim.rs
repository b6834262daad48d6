//! Where `weft::stm` destroys replaced values: only inside its own calls (a transaction's
//! end, a variable's release, a load), never inside the runtime's scheduler or in other
//! code that happens to use crossbeam's default epoch collector. A destructor can run
//! anything, a transaction included; on a worker's scheduler loop that once blocked the
//! worker while the green thread it waited for sat in that worker's queue (a deadlock).
//! In a process of its own: the collectors are process-wide.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use weft::stm::{atomically, TVar};

static ON_SCHEDULER: AtomicUsize = AtomicUsize::new(0);
static DROPS: AtomicUsize = AtomicUsize::new(0);

/// A value that records where it was destroyed.
#[derive(Clone)]
struct Probe(#[allow(dead_code)] u64);

impl Drop for Probe {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::Relaxed);
        let kernel = std::thread::current();
        if !weft::current().is_green()
            && kernel.name().is_some_and(|n| n.starts_with("weft-worker"))
        {
            ON_SCHEDULER.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn replaced_values_are_never_destroyed_on_the_scheduler() {
    let v = TVar::new(Probe(0));
    let spawned = Arc::new(AtomicUsize::new(0));
    // Workers steal fresh green threads from each other (crossbeam-deque, which pins
    // crossbeam's default collector) while this thread keeps retiring values.
    let spawner = {
        let spawned = spawned.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                let hs: Vec<_> = (0..100)
                    .map(|_| {
                        let spawned = spawned.clone();
                        weft::spawn(move || {
                            spawned.fetch_add(1, Ordering::Relaxed);
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
            }
        })
    };
    let mut i = 1;
    while !spawner.is_finished() || i < 100_000 {
        atomically(|tx| tx.write(&v, Probe(i)));
        i += 1;
    }
    spawner.join().unwrap();
    assert_eq!(spawned.load(Ordering::Relaxed), 20_000);
    assert!(
        DROPS.load(Ordering::Relaxed) > 0,
        "no replaced value was destroyed"
    );
    assert_eq!(
        ON_SCHEDULER.load(Ordering::Relaxed),
        0,
        "replaced values were destroyed on a worker's scheduler loop"
    );
}
