//! What waking a hibernated green thread costs: a green driver does a round trip with
//! each of N parked green threads in turn (a send to the thread's own channel, its
//! reply), once on a runtime that has hibernated them all and once on one that
//! hibernates nothing; the difference is the wake from hibernation (the copy back and
//! the page faults on its stack).
//!
//! `cargo run --release -p weft --example hibernate_quick -- [N] [checked]` (default
//! 10 000; `checked`: the hibernating runtime guards hibernated stacks).

use std::time::{Duration, Instant};

use weft::csp::{channel, Sender};
use weft::Runtime;

/// Parks `n` green threads on `rt`, each waiting on its own channel; returns their
/// senders and the channel they reply on.
fn park_all(rt: &Runtime, n: usize) -> (Vec<Sender<u64>>, weft::csp::Receiver<u64>) {
    let (reply_tx, reply_rx) = channel::<u64>();
    let txs = (0..n)
        .map(|_| {
            let (tx, rx) = channel::<u64>();
            let reply = reply_tx.clone();
            // Detached: each ends when its channel's sender is dropped.
            let _detached = rt.spawn(move || {
                // Some stack in use, as a real thread would have.
                let mut frame = [0u64; 64];
                frame[0] = 1;
                std::hint::black_box(&mut frame);
                while let Ok(v) = rx.recv() {
                    if reply.send(v + frame[0]).is_err() {
                        break;
                    }
                }
            });
            tx
        })
        .collect();
    (txs, reply_rx)
}

/// One round trip with each thread, from a green thread of `rt`; ns per round trip.
fn visit_all(rt: &Runtime, txs: Vec<Sender<u64>>, replies: weft::csp::Receiver<u64>) -> f64 {
    rt.block_on(move || {
        let t0 = Instant::now();
        for (i, tx) in txs.iter().enumerate() {
            tx.send(i as u64).unwrap();
            assert_eq!(replies.recv().unwrap(), i as u64 + 1);
        }
        let ns = t0.elapsed().as_nanos() as f64 / txs.len() as f64;
        drop(txs);
        ns
    })
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);

    let plain = Runtime::builder().workers(1).build().unwrap();
    let (txs, replies) = park_all(&plain, n);
    std::thread::sleep(Duration::from_millis(100));
    let warm = visit_all(&plain, txs, replies);

    let checked = std::env::args().nth(2).as_deref() == Some("checked");
    // SAFETY: these green threads lend their stacks to no other thread.
    let hib = unsafe { Runtime::builder().hibernate_after(Duration::from_millis(20)) }
        .hibernate_checked(checked)
        .workers(1)
        .build()
        .unwrap();
    let (txs, replies) = park_all(&hib, n);
    let t0 = Instant::now();
    while hib.hibernated() < n {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "hibernation too slow"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let slept = visit_all(&hib, txs, replies);

    println!("round trip with a parked thread:      {warm:.0} ns");
    println!("round trip with a hibernated thread:  {slept:.0} ns");
    println!(
        "waking from hibernation costs:        {:.0} ns ({n} threads)",
        slept - warm
    );
}
