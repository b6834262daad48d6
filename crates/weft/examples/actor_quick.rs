//! Quick one-shot measurements of weft::actor's hot paths (the lab's Actors section has
//! the full set, next to actix, ractor and kameo; these are a sanity check, not a
//! benchmark).
//!
//! `cargo run --release -p weft --example actor_quick [HOPS]`
use std::time::{Duration, Instant};

use weft::actor::{self, Addr, Ctx, ReplyTo};

/// Erlang's ring: `n` actors in a circle, one token passed `hops` times; ns per hop.
fn ring(rt: &weft::Runtime, n: usize, hops: u64) -> f64 {
    rt.block_on(move || {
        let (done_tx, done_rx) = weft::csp::bounded::<()>(1);
        // The first actor learns its successor (the last one spawned) by message.
        let (close_tx, close_rx) = weft::csp::bounded::<Addr<u64>>(1);
        let d = done_tx.clone();
        let first = actor::spawn(move |ctx: &mut Ctx<u64>| {
            let next = close_rx.recv().unwrap();
            hop(ctx, &next, &d);
        });
        let mut next = first;
        for _ in 1..n {
            let (to, d) = (next, done_tx.clone());
            next = actor::spawn(move |ctx: &mut Ctx<u64>| hop(ctx, &to, &d));
        }
        close_tx.send(next.clone()).unwrap();
        let t = Instant::now();
        next.send(hops).unwrap();
        done_rx.recv().unwrap();
        let ns = t.elapsed().as_nanos() as f64 / hops as f64;
        next.send(u64::MAX).unwrap();
        ns
    })
}

/// A ring member: passes the token on, counting it down; `u64::MAX` stops the ring.
fn hop(ctx: &mut Ctx<u64>, next: &Addr<u64>, done: &weft::csp::Sender<()>) {
    loop {
        match ctx.recv() {
            u64::MAX => {
                let _ = next.send(u64::MAX);
                return;
            }
            0 => done.send(()).unwrap(),
            t => {
                let _ = next.send(t - 1);
            }
        }
    }
}

/// One sender, one receiver, `n` messages; ns per message.
fn tell(rt: &weft::Runtime, n: u64) -> f64 {
    rt.block_on(move || {
        let (done_tx, done_rx) = weft::csp::bounded::<u64>(1);
        let rx = actor::spawn(move |ctx: &mut Ctx<u64>| {
            let mut sum = 0u64;
            loop {
                let v = ctx.recv();
                if v == u64::MAX {
                    done_tx.send(sum).unwrap();
                    return;
                }
                sum += v;
            }
        });
        let t = Instant::now();
        for i in 0..n {
            rx.send(i).unwrap();
        }
        rx.send(u64::MAX).unwrap();
        let sum = done_rx.recv().unwrap();
        assert_eq!(sum, n * (n - 1) / 2);
        t.elapsed().as_nanos() as f64 / n as f64
    })
}

enum Req {
    Get(ReplyTo<u64>),
}

/// Round trip of a call; ns per call.
fn call(rt: &weft::Runtime, n: u64) -> f64 {
    rt.block_on(move || {
        let srv = actor::spawn(|ctx: &mut Ctx<Req>| {
            let mut k = 0;
            loop {
                let Req::Get(r) = ctx.recv();
                k += 1;
                if r.send(k).is_err() {
                    return;
                }
            }
        });
        let t = Instant::now();
        for i in 0..n {
            assert_eq!(srv.call(Req::Get, Duration::from_secs(5)), Ok(i + 1));
        }
        t.elapsed().as_nanos() as f64 / n as f64
    })
}

fn main() {
    let hops: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    if std::env::args().nth(2).as_deref() == Some("ring") {
        let rt = weft::Runtime::builder().workers(1).build().unwrap();
        println!("ring {:.1}", ring(&rt, 1000, hops));
        return;
    }
    for workers in [1, 2] {
        let rt = weft::Runtime::builder().workers(workers).build().unwrap();
        println!(
            "{workers} worker(s): ring 1000 {:.1} ns/hop, tell {:.1} ns/msg, call {:.1} ns",
            ring(&rt, 1000, hops),
            tell(&rt, hops),
            call(&rt, hops / 4)
        );
    }
}
