//! Stack hibernation: parked green threads give their stack pages back and find their
//! stacks intact when they wake.

use std::hint::black_box;
use std::time::{Duration, Instant};

use weft::csp::{channel, Receiver};
use weft::Runtime;

const AFTER: Duration = Duration::from_millis(5);
const LONG: Duration = Duration::from_secs(20);

/// A hibernating runtime, checked: a hibernated stack is a guard region, so if any code
/// (weft's own included) touched one while its thread is parked, the test process would
/// abort with a report instead of passing on zeros.
fn runtime(workers: usize) -> Runtime {
    runtime_checked(workers, true)
}

fn runtime_checked(workers: usize, checked: bool) -> Runtime {
    // SAFETY: the green threads of these tests lend their stacks to no other thread
    // except through `weft::scope`, which pins them.
    unsafe { Runtime::builder().hibernate_after(AFTER) }
        .hibernate_checked(checked)
        .workers(workers)
        .build()
        .unwrap()
}

/// Waits until `rt` has `n` threads hibernated; panics after [`LONG`].
fn until_hibernated(rt: &Runtime, n: usize) {
    let t0 = Instant::now();
    while rt.hibernated() != n {
        assert!(
            t0.elapsed() < LONG,
            "{} of {n} threads hibernated after {LONG:?}",
            rt.hibernated()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A pattern that depends on the thread and the position.
fn word(seed: u64, i: usize) -> u64 {
    (seed + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// Fills a frame of 1 KiB per level `depth` levels deep (so the live stack spans
/// several pages), receives once at the bottom, then checks every level on the way
/// back. Returns the value received plus the number of words found intact.
fn deep(seed: u64, depth: usize, rx: &Receiver<u64>) -> (u64, usize) {
    let mut frame = [0u64; 128];
    for (i, w) in frame.iter_mut().enumerate() {
        *w = word(seed + depth as u64 * 1000, i);
    }
    black_box(&mut frame);
    let (got, intact) = if depth == 0 {
        (rx.recv().unwrap(), 0)
    } else {
        deep(seed, depth - 1, rx)
    };
    let here = frame
        .iter()
        .enumerate()
        .filter(|&(i, &w)| w == word(seed + depth as u64 * 1000, i))
        .count();
    (got, intact + here)
}

#[test]
fn hibernated_threads_wake_with_their_stacks_intact() {
    stacks_intact(true);
}

/// The same with the pages only released (the default mode).
#[test]
fn unchecked_hibernated_threads_wake_with_their_stacks_intact() {
    stacks_intact(false);
}

fn stacks_intact(checked: bool) {
    const N: usize = 200;
    const DEPTH: usize = 12; // 13 frames of 1 KiB and more: over three pages
    let rt = runtime_checked(1, checked);
    let mut txs = Vec::new();
    let mut hs = Vec::new();
    for t in 0..N as u64 {
        let (tx, rx) = channel::<u64>();
        txs.push(tx);
        // Debug builds' frames are several times larger than the 1 KiB of data.
        let b = weft::Builder::new().stack_size(512 * 1024);
        hs.push(b.spawn_on(&rt, move || deep(t, DEPTH, &rx)).unwrap());
    }
    until_hibernated(&rt, N);
    for (t, tx) in txs.iter().enumerate() {
        tx.send(t as u64 * 7).unwrap();
    }
    for (t, h) in hs.into_iter().enumerate() {
        let (got, intact) = h.join().unwrap();
        assert_eq!(got, t as u64 * 7);
        assert_eq!(
            intact,
            (DEPTH + 1) * 128,
            "thread {t}: every word of every frame"
        );
    }
    assert_eq!(rt.hibernated(), 0, "every thread woke");
}

/// Timed parks (sleeps and receive timeouts) time out from hibernation: the worker's
/// timer wakes them and they resume with their stacks.
#[test]
fn timers_wake_hibernated_threads() {
    const N: usize = 50;
    let rt = runtime(2);
    let hs: Vec<_> = (0..N as u64)
        .map(|t| {
            rt.spawn(move || {
                let mut frame = [0u64; 64];
                for (i, w) in frame.iter_mut().enumerate() {
                    *w = word(t, i);
                }
                black_box(&mut frame);
                if t % 2 == 0 {
                    weft::sleep(Duration::from_millis(300));
                } else {
                    let (_tx, rx) = channel::<()>();
                    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
                }
                frame.iter().enumerate().all(|(i, &w)| w == word(t, i))
            })
        })
        .collect();
    let t0 = Instant::now();
    let mut peak = 0;
    while t0.elapsed() < Duration::from_millis(250) {
        peak = peak.max(rt.hibernated());
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(peak > 0, "some sleeping threads were hibernated");
    for h in hs {
        assert!(h.join().unwrap(), "the frame survived");
    }
    assert_eq!(rt.hibernated(), 0);
}

/// A scope's owner lends its stack to its children, so it is never hibernated, while
/// a child parked as long is.
#[test]
fn a_scope_owner_is_pinned() {
    let rt = runtime(1);
    let (go_tx, go_rx) = channel::<()>();
    let h = rt.spawn(move || {
        let mut lent = [0u64; 256];
        for (i, w) in lent.iter_mut().enumerate() {
            *w = word(99, i);
        }
        black_box(&mut lent);
        let lent = &lent;
        weft::scope(|s| {
            s.spawn(move || {
                go_rx.recv().unwrap();
                // Reads the owner's stack, which must still be there.
                lent.iter().enumerate().all(|(i, &w)| w == word(99, i))
            })
            .join()
            .unwrap()
        })
    });
    // The child hibernates; the owner, parked as long in its join, does not.
    until_hibernated(&rt, 1);
    std::thread::sleep(AFTER * 10);
    assert_eq!(rt.hibernated(), 1, "only the child");
    go_tx.send(()).unwrap();
    assert!(h.join().unwrap(), "the child read the owner's stack intact");
}

/// Threads that keep running (a ping-pong) are never hibernated.
#[test]
fn running_threads_are_not_hibernated() {
    let rt = runtime(1);
    let (a_tx, a_rx) = channel::<u64>();
    let (b_tx, b_rx) = channel::<u64>();
    let echo = rt.spawn(move || {
        let mut n = 0;
        while let Ok(v) = a_rx.recv() {
            b_tx.send(v + 1).unwrap();
            n += 1;
        }
        n
    });
    let driver = rt.spawn(move || {
        let t0 = Instant::now();
        let mut rounds = 0u64;
        let mut seen = 0;
        while t0.elapsed() < AFTER * 40 {
            a_tx.send(rounds).unwrap();
            assert_eq!(b_rx.recv().unwrap(), rounds + 1);
            rounds += 1;
        }
        drop(a_tx);
        seen += rounds;
        seen
    });
    let t0 = Instant::now();
    while t0.elapsed() < AFTER * 30 {
        assert_eq!(
            rt.hibernated(),
            0,
            "a thread of the ping-pong was hibernated"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let rounds = driver.join().unwrap();
    assert_eq!(echo.join().unwrap(), rounds);
}

/// A runtime without the option never hibernates.
#[test]
fn off_by_default() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let (tx, rx) = channel::<()>();
    let h = rt.spawn(move || rx.recv().unwrap());
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(rt.hibernated(), 0);
    tx.send(()).unwrap();
    h.join().unwrap();
}
