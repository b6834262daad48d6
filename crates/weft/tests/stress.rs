//! Bounded stress tests with exact invariants: nothing lost, nothing counted twice.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use weft::park::{park_timeout, Unparked};

fn scaled(n: usize) -> usize {
    if cfg!(debug_assertions) {
        n / 4
    } else {
        n
    }
}

/// 100 000 green threads parked at once, then all woken: each wakes exactly once.
#[test]
fn hundred_thousand_parked_threads() {
    let n = 100_000;
    let rt = weft::Runtime::builder().workers(2).build().unwrap();
    let parked = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(AtomicBool::new(false));
    let woke = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..n)
        .map(|i| {
            let (parked, go, woke) = (parked.clone(), go.clone(), woke.clone());
            rt.spawn(move || {
                parked.fetch_add(1, Ordering::AcqRel);
                while !go.load(Ordering::Acquire) {
                    weft::park::park();
                }
                woke.fetch_add(1, Ordering::AcqRel);
                i
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while parked.load(Ordering::Acquire) < n {
        assert!(
            Instant::now() < deadline,
            "only {} parked",
            parked.load(Ordering::Acquire)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    go.store(true, Ordering::Release);
    for h in &hs {
        h.thread().unpark();
    }
    let sum: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, n * (n - 1) / 2);
    assert_eq!(woke.load(Ordering::Acquire), n);
}

/// A spawn storm: green threads spawning green threads, recursively, on 2 workers.
/// Every thread runs exactly once.
#[test]
fn spawn_storm_counts_exactly() {
    fn tree(depth: u32, count: Arc<AtomicUsize>) -> usize {
        count.fetch_add(1, Ordering::Relaxed);
        if depth == 0 {
            return 1;
        }
        let kids: Vec<_> = (0..4)
            .map(|_| {
                let c = count.clone();
                weft::spawn(move || tree(depth - 1, c))
            })
            .collect();
        1 + kids.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
    }
    let rt = weft::Runtime::builder().workers(2).build().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let depth = if cfg!(debug_assertions) { 6 } else { 8 };
    let total = rt.block_on(move || tree(depth, c));
    let expected = (4usize.pow(depth + 1) - 1) / 3;
    assert_eq!(total, expected);
    assert_eq!(count.load(Ordering::Relaxed), expected);
}

/// Waits until `turn == want`, parking; a park that times out means a lost wake-up.
fn wait_turn(turn: &AtomicUsize, want: usize) {
    while turn.load(Ordering::Acquire) != want {
        if park_timeout(Duration::from_secs(10)) == Unparked::TimedOut
            && turn.load(Ordering::Acquire) != want
        {
            panic!("lost wake-up waiting for turn {want}");
        }
    }
}

fn side(turn: Arc<AtomicUsize>, peer: Arc<OnceLock<weft::Thread>>, first: usize, rounds: usize) {
    if !weft::current().is_green() {
        KERNEL_HANDLES
            .lock()
            .unwrap()
            .push((std::thread::current().id(), weft::current()));
    }
    while peer.get().is_none() {
        weft::yield_now();
    }
    let peer = peer.get().unwrap();
    for r in 0..rounds {
        wait_turn(&turn, 2 * r + first);
        turn.store(2 * r + first + 1, Ordering::Release);
        peer.unpark();
    }
}

/// Ping-pong between green threads on one worker, across workers, and between a green
/// and a kernel thread: every round trip completes, no wake-up is lost.
#[test]
fn ping_pong_loses_no_wakeup() {
    let rounds = scaled(100_000);
    for (workers, kernel_pong) in [(1, false), (2, false), (2, true)] {
        let rt = weft::Runtime::builder().workers(workers).build().unwrap();
        let turn = Arc::new(AtomicUsize::new(0));
        let ping_slot = Arc::new(OnceLock::new());
        let pong_slot = Arc::new(OnceLock::new());
        let ping = {
            let (t, p) = (turn.clone(), pong_slot.clone());
            rt.spawn(move || side(t, p, 0, rounds))
        };
        ping_slot.set(ping.thread().clone()).unwrap();
        let (t, p) = (turn.clone(), ping_slot.clone());
        if kernel_pong {
            let h = std::thread::spawn(move || side(t, p, 1, rounds));
            pong_slot.set(weft::Thread::clone(&thread_of(&h))).unwrap();
            h.join().unwrap();
        } else {
            let h = rt.spawn(move || side(t, p, 1, rounds));
            pong_slot.set(h.thread().clone()).unwrap();
            h.join().unwrap();
        }
        ping.join().unwrap();
        assert_eq!(turn.load(Ordering::Acquire), 2 * rounds);
    }
}

/// The weft handle of a kernel thread, fetched from inside it.
fn thread_of(h: &std::thread::JoinHandle<()>) -> weft::Thread {
    let id = h.thread().id();
    loop {
        if let Some(t) = KERNEL_HANDLES
            .lock()
            .unwrap()
            .iter()
            .find(|(i, _)| *i == id)
        {
            return t.1.clone();
        }
        std::thread::yield_now();
    }
}

static KERNEL_HANDLES: std::sync::Mutex<Vec<(std::thread::ThreadId, weft::Thread)>> =
    std::sync::Mutex::new(Vec::new());

/// Timeouts racing unparks: each round sends exactly one token, timed to land near
/// the park's deadline. Whether the token or the clock ends the first park, the token
/// is consumed exactly once in the round: by the first park, or (if the clock won) by
/// a second park. A lost token would hang the second park (caught by its 10 s bound);
/// a duplicated one would end the next round's first park early with no token sent.
#[test]
fn timeouts_racing_unparks() {
    let rounds = scaled(4_000);
    let rt = weft::Runtime::builder().workers(2).build().unwrap();
    let round = Arc::new(AtomicUsize::new(0)); // 2k: waiter ready for round k; 2k+1: done
    let r2 = round.clone();
    let waiter = rt.spawn(move || {
        let (mut first, mut second) = (0usize, 0usize);
        for k in 0..rounds {
            r2.store(2 * k, Ordering::Release);
            let t = Instant::now();
            match park_timeout(Duration::from_micros(30)) {
                Unparked::Notified => first += 1,
                Unparked::TimedOut => {
                    assert!(t.elapsed() >= Duration::from_micros(30));
                    assert_eq!(
                        park_timeout(Duration::from_secs(10)),
                        Unparked::Notified,
                        "round {k}: the token was lost"
                    );
                    second += 1;
                }
            }
            r2.store(2 * k + 1, Ordering::Release);
            // Wait for the sender to acknowledge before starting the next round.
            while r2.load(Ordering::Acquire) == 2 * k + 1 {
                weft::yield_now();
            }
        }
        (first, second)
    });
    let target = waiter.thread().clone();
    for k in 0..rounds {
        while round.load(Ordering::Acquire) != 2 * k {
            std::hint::spin_loop();
        }
        // Land the token before, near or after the 30 us deadline.
        let delay = Duration::from_micros((k % 7) as u64 * 10);
        let t = Instant::now();
        while t.elapsed() < delay {
            std::hint::spin_loop();
        }
        target.unpark();
        while round.load(Ordering::Acquire) != 2 * k + 1 {
            std::hint::spin_loop();
        }
        round.store(usize::MAX, Ordering::Release);
    }
    let (first, second) = waiter.join().unwrap();
    assert_eq!(first + second, rounds);
}
