//! Quick one-shot measurements of weft::csp's hot paths (the lab has the full set, next
//! to the peers; these are a sanity check, not a benchmark).
//!
//! `cargo run --release -p weft --example csp_quick [N] [pingpong]`
use std::time::Instant;

use weft::csp::{bounded, channel, select};

/// Ping-pong over two rendezvous channels between two green threads; ns per round trip.
fn ping_pong(rt: &weft::Runtime, rounds: usize) -> f64 {
    rt.block_on(move || {
        let (ping_tx, ping_rx) = channel::<usize>();
        let (pong_tx, pong_rx) = channel::<usize>();
        let echo = weft::spawn(move || {
            for v in ping_rx {
                pong_tx.send(v).unwrap();
            }
        });
        let t = Instant::now();
        for i in 0..rounds {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv(), Ok(i));
        }
        let ns = t.elapsed().as_nanos() as f64 / rounds as f64;
        drop(ping_tx);
        echo.join().unwrap();
        ns
    })
}

/// One producer and one consumer green thread over a channel of capacity `cap`; ns per
/// message.
fn spsc(rt: &weft::Runtime, cap: usize, n: usize) -> f64 {
    rt.block_on(move || {
        let (tx, rx) = bounded::<usize>(cap);
        let t = Instant::now();
        let p = weft::spawn(move || {
            for i in 0..n {
                tx.send(i).unwrap();
            }
        });
        let mut sum = 0usize;
        for v in rx {
            sum = sum.wrapping_add(v);
        }
        p.join().unwrap();
        assert_eq!(sum, n * (n - 1) / 2);
        t.elapsed().as_nanos() as f64 / n as f64
    })
}

/// send + recv on one thread, nobody else touching the channel; ns per pair.
fn uncontended(n: usize) -> f64 {
    let (tx, rx) = bounded::<usize>(64);
    let t = Instant::now();
    for i in 0..n {
        tx.send(i).unwrap();
        assert_eq!(rx.recv(), Ok(i));
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

/// One receiver selecting over 4 channels fed by 4 green senders; ns per message.
fn select4(rt: &weft::Runtime, n: usize) -> f64 {
    rt.block_on(move || {
        let chans: Vec<_> = (0..4).map(|_| bounded::<usize>(64)).collect();
        let t = Instant::now();
        let senders: Vec<_> = chans
            .iter()
            .map(|(tx, _)| {
                let tx = tx.clone();
                weft::spawn(move || {
                    for i in 0..n / 4 {
                        tx.send(i).unwrap();
                    }
                })
            })
            .collect();
        for _ in 0..(n / 4) * 4 {
            select! {
                recv(chans[0].1) -> m => m.unwrap(),
                recv(chans[1].1) -> m => m.unwrap(),
                recv(chans[2].1) -> m => m.unwrap(),
                recv(chans[3].1) -> m => m.unwrap(),
            };
        }
        for s in senders {
            s.join().unwrap();
        }
        t.elapsed().as_nanos() as f64 / n as f64
    })
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let one = weft::Runtime::builder().workers(1).build().unwrap();
    if std::env::args().nth(2).as_deref() == Some("pingpong") {
        // The ping-pong alone (for instruction counts under callgrind).
        println!(
            "ping-pong round trip, one worker:  {:.1} ns",
            ping_pong(&one, n)
        );
        return;
    }
    if std::env::args().nth(2).as_deref() == Some("select") {
        // The select over 4 alone, one worker (for instruction counts under callgrind).
        println!(
            "select over 4, one worker:         {:.1} ns/msg",
            select4(&one, n)
        );
        let two = weft::Runtime::builder().workers(2).build().unwrap();
        println!(
            "select over 4, two workers:        {:.1} ns/msg",
            select4(&two, n)
        );
        return;
    }
    let two = weft::Runtime::builder().workers(2).build().unwrap();
    println!(
        "uncontended bounded(64) send+recv: {:.1} ns",
        uncontended(n)
    );
    println!(
        "ping-pong round trip, one worker:  {:.1} ns",
        ping_pong(&one, n)
    );
    println!(
        "ping-pong round trip, two workers: {:.1} ns",
        ping_pong(&two, n / 10)
    );
    println!(
        "SPSC rendezvous, one worker:       {:.1} ns/msg",
        spsc(&one, 0, n)
    );
    println!(
        "SPSC bounded(64), one worker:      {:.1} ns/msg",
        spsc(&one, 64, n)
    );
    println!(
        "select over 4, one worker:         {:.1} ns/msg",
        select4(&one, n)
    );
}
