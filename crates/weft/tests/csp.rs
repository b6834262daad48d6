//! weft::csp from green and kernel threads: the rendezvous property, close and
//! disconnection case by case (after Go's chan_test.go), select's commit and fairness,
//! exact counts under stress, errors that hand values back, internal choice and par.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft::csp::{
    bounded, channel, internal_choice, par, unbounded, Chooser, Receiver, RecvError,
    RecvTimeoutError, Select, SelectError, SendError, SendTimeoutError, Sender, TryRecvError,
    TrySendError,
};

fn scaled(n: usize) -> usize {
    if cfg!(debug_assertions) {
        n / 5
    } else {
        n
    }
}

fn rt(workers: usize) -> weft::Runtime {
    weft::Runtime::builder().workers(workers).build().unwrap()
}

/// Where a test body runs.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Green,
    Kernel,
}

const KINDS: [Kind; 2] = [Kind::Green, Kind::Kernel];

/// Runs `f` on a green thread of `rt` or on a new kernel thread; join with `.join()`.
fn run_on<T: Send + 'static>(
    rt: &weft::Runtime,
    kind: Kind,
    f: impl FnOnce() -> T + Send + 'static,
) -> Box<dyn FnOnce() -> T> {
    match kind {
        Kind::Green => {
            let h = rt.spawn(f);
            Box::new(move || h.join().unwrap())
        }
        Kind::Kernel => {
            let h = std::thread::spawn(f);
            Box::new(move || h.join().unwrap())
        }
    }
}

/// A type with neither `Debug` nor `Clone`: errors and ends must not need them.
struct Opaque(u32);

/// Counts drops.
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn ends_are_send_sync_clone_debug_without_t_debug() {
    fn send_sync<T: Send + Sync>() {}
    fn debug<T: std::fmt::Debug>() {}
    fn error<T: std::error::Error>() {}
    send_sync::<Sender<Opaque>>();
    send_sync::<Receiver<Opaque>>();
    debug::<Sender<Opaque>>();
    debug::<Receiver<Opaque>>();
    error::<SendError<Opaque>>();
    error::<TrySendError<Opaque>>();
    error::<SendTimeoutError<Opaque>>();
    error::<RecvError>();
    error::<TryRecvError>();
    error::<RecvTimeoutError>();
    error::<SelectError>();
    let (tx, rx) = bounded::<Opaque>(3);
    tx.send(Opaque(1)).unwrap();
    let s = format!("{tx:?} {rx:?}");
    assert!(
        s.contains("capacity: Some(3)") && s.contains("len: 1"),
        "{s}"
    );
    assert_eq!(rx.recv().unwrap().0, 1);
    let e = SendError(Opaque(3));
    assert_eq!(format!("{e:?}"), "SendError(..)");
    assert_eq!(e.to_string(), "sending on a closed or disconnected channel");
}

#[test]
fn rendezvous_send_returns_only_after_a_receive_began() {
    let rt = rt(2);
    for (sk, rk) in [
        (Kind::Green, Kind::Green),
        (Kind::Green, Kind::Kernel),
        (Kind::Kernel, Kind::Green),
        (Kind::Kernel, Kind::Kernel),
    ] {
        let (tx, rx) = channel::<usize>();
        let began = Arc::new(Mutex::new(Vec::<Instant>::new()));
        let b = began.clone();
        let receiver = run_on(&rt, rk, move || {
            for i in 0..20 {
                if i % 5 == 0 {
                    weft::sleep(Duration::from_millis(2)); // the sender must wait for us
                }
                b.lock().unwrap().push(Instant::now());
                assert_eq!(rx.recv(), Ok(i));
            }
        });
        let b = began.clone();
        let sender = run_on(&rt, sk, move || {
            for i in 0..20 {
                tx.send(i).unwrap();
                let done = Instant::now();
                // The receive of message i has begun before this send returned.
                let stamps = b.lock().unwrap();
                assert!(
                    stamps.len() > i,
                    "send {i} returned before receive {i} began"
                );
                assert!(stamps[i] <= done);
            }
        });
        sender();
        receiver();
    }
}

#[test]
fn rendezvous_has_no_buffer() {
    let (tx, rx) = channel::<u8>();
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(tx.capacity(), Some(0));
    let t = Instant::now();
    assert_eq!(
        tx.send_timeout(2, Duration::from_millis(10)),
        Err(SendTimeoutError::Timeout(2))
    );
    assert!(t.elapsed() >= Duration::from_millis(10));
    // A waiting receiver makes try_send succeed.
    let h = weft::spawn(move || rx.recv());
    let mut v = 3;
    loop {
        match tx.try_send(v) {
            Ok(()) => break,
            Err(TrySendError::Full(back)) => {
                v = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(h.join().unwrap(), Ok(3));
}

#[test]
fn bounded_and_unbounded_buffer() {
    let (tx, rx) = bounded(2);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!(tx.len(), 2);
    assert_eq!(rx.recv(), Ok(1));
    tx.try_send(3).unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [2, 3]);

    // A blocked sender's value takes the slot a receive frees, in FIFO order.
    let (tx, rx) = bounded(1);
    tx.send(0).unwrap();
    let blocked: Vec<_> = (1..=3)
        .map(|i| {
            let tx = tx.clone();
            let h = std::thread::spawn(move || tx.send(i).unwrap());
            // Let each one block before the next, so the queue order is known.
            std::thread::sleep(Duration::from_millis(5));
            h
        })
        .collect();
    let got: Vec<_> = (0..4).map(|_| rx.recv().unwrap()).collect();
    assert_eq!(got, [0, 1, 2, 3]);
    for h in blocked {
        h.join().unwrap();
    }

    let (tx, rx) = unbounded();
    for i in 0..10_000 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(tx.capacity(), None);
    drop(tx);
    assert_eq!(rx.into_iter().count(), 10_000);
}

#[test]
fn close_drains_then_disconnects_and_is_idempotent() {
    for cap in [0, 1, 5] {
        let (tx, rx) = bounded(cap);
        for i in 0..cap {
            tx.send(i).unwrap();
        }
        assert!(tx.close());
        assert!(!tx.close(), "closing twice is a no-op");
        assert!(tx.is_disconnected());
        assert_eq!(tx.send(99), Err(SendError(99)));
        assert_eq!(tx.try_send(98), Err(TrySendError::Disconnected(98)));
        assert_eq!(
            tx.send_timeout(97, Duration::from_secs(5)),
            Err(SendTimeoutError::Disconnected(97))
        );
        for i in 0..cap {
            assert_eq!(rx.recv(), Ok(i));
        }
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(RecvTimeoutError::Disconnected)
        );
        assert!(rx.is_disconnected());
        // Closing through a clone closes for everyone.
        let (tx, _rx) = bounded::<u8>(cap);
        let tx2 = tx.clone();
        assert!(tx2.close());
        assert!(!tx.close());
        assert!(tx.send(1).is_err());
    }
}

#[test]
fn close_wakes_blocked_receivers_and_returns_blocked_senders_values() {
    let rt = rt(2);
    for kind in KINDS {
        // Receivers blocked on an empty channel get Disconnected.
        let (tx, rx) = channel::<u32>();
        let rs: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                run_on(&rt, kind, move || rx.recv())
            })
            .collect();
        std::thread::sleep(Duration::from_millis(10));
        assert!(tx.close());
        for r in rs {
            assert_eq!(r(), Err(RecvError));
        }
        // Senders blocked on a full channel get their values back.
        let (tx, rx) = bounded::<String>(1);
        tx.send("buffered".into()).unwrap();
        let ss: Vec<_> = (0..3)
            .map(|i| {
                let tx = tx.clone();
                run_on(&rt, kind, move || tx.send(format!("v{i}")))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(10));
        assert!(tx.close());
        let mut back: Vec<String> = ss.into_iter().map(|s| s().unwrap_err().0).collect();
        back.sort();
        assert_eq!(back, ["v0", "v1", "v2"]);
        assert_eq!(rx.recv().as_deref(), Ok("buffered"));
        assert_eq!(rx.recv(), Err(RecvError));
    }
}

#[test]
fn dropping_every_sender_or_receiver_disconnects() {
    let rt = rt(2);
    for kind in KINDS {
        // The last sender dropped by another process wakes a blocked receiver.
        let (tx, rx) = channel::<u8>();
        let r = run_on(&rt, kind, move || rx.recv());
        let tx2 = tx.clone();
        drop(tx);
        std::thread::sleep(Duration::from_millis(5));
        drop(tx2);
        assert_eq!(r(), Err(RecvError));

        // The last receiver dropped hands a blocked sender's value back.
        let (tx, rx) = channel::<Opaque>();
        let s = run_on(&rt, kind, move || tx.send(Opaque(7)).map_err(|e| e.0 .0));
        std::thread::sleep(Duration::from_millis(5));
        drop(rx);
        assert_eq!(s(), Err(7));

        // Buffered values are dropped with the last receiver, exactly once.
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded(4);
        for _ in 0..3 {
            tx.send(Counted(drops.clone())).unwrap();
        }
        let rx2 = rx.clone();
        drop(rx);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(rx2);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        let e = tx.send(Counted(drops.clone())).unwrap_err();
        assert_eq!(
            drops.load(Ordering::SeqCst),
            3,
            "the value came back, undropped"
        );
        drop(e);
        assert_eq!(drops.load(Ordering::SeqCst), 4);
    }
}

#[test]
fn a_green_thread_blocked_on_an_abandoned_channel_gets_disconnected() {
    let rt = rt(1);
    // Every other end is owned by a green thread that ends without using it.
    let (tx, rx) = channel::<u8>();
    let (tx_b, rx_b) = bounded::<u8>(1);
    let r = rt.spawn(move || rx.recv());
    let s = rt.spawn(move || {
        tx_b.send(1).unwrap();
        tx_b.send(2) // blocks on the full buffer until the receiver is dropped
    });
    std::thread::sleep(Duration::from_millis(10)); // both block
    let holder = rt.spawn(move || {
        drop(tx);
        drop(rx_b);
    });
    holder.join().unwrap();
    assert_eq!(r.join().unwrap(), Err(RecvError));
    assert_eq!(s.join().unwrap(), Err(SendError(2)));
}

#[test]
fn timeouts_and_duration_max() {
    let rt = rt(2);
    for kind in KINDS {
        run_on(&rt, kind, || {
            let (tx, rx) = channel::<u8>();
            let t = Instant::now();
            assert_eq!(
                rx.recv_timeout(Duration::from_millis(10)),
                Err(RecvTimeoutError::Timeout)
            );
            assert!(t.elapsed() >= Duration::from_millis(10));
            assert_eq!(
                rx.recv_deadline(Instant::now()),
                Err(RecvTimeoutError::Timeout)
            );
            assert_eq!(
                tx.send_deadline(4, Instant::now() - Duration::from_millis(1)),
                Err(SendTimeoutError::Timeout(4))
            );
            // Duration::MAX waits for ever: here, until the partner comes.
            let h = weft::spawn(move || {
                weft::sleep(Duration::from_millis(5));
                rx.recv_timeout(Duration::MAX)
            });
            tx.send_timeout(5, Duration::MAX).unwrap();
            assert_eq!(h.join().unwrap(), Ok(5));
            let (tx, rx) = channel::<u8>();
            let h = weft::spawn(move || rx.recv_timeout(Duration::MAX));
            weft::sleep(Duration::from_millis(5));
            drop(tx);
            assert_eq!(h.join().unwrap(), Err(RecvTimeoutError::Disconnected));
        })();
    }
}

#[test]
fn iterators() {
    let (tx, rx) = bounded(2);
    let h = weft::spawn(move || {
        for i in 0..50 {
            tx.send(i).unwrap();
        }
    });
    assert_eq!(rx.iter().sum::<i32>(), 49 * 50 / 2);
    h.join().unwrap();
    assert_eq!(rx.try_iter().count(), 0);
    let (tx, rx) = unbounded();
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    let mut n = 0;
    for v in &rx {
        n += v;
        if n == 3 {
            break;
        }
    }
    assert_eq!(n, 3);
}

/// MPMC over every kind of channel, green and kernel threads mixed: every value is
/// received exactly once.
#[test]
fn mpmc_conserves_every_value() {
    let rt = rt(2);
    let per = scaled(5_000);
    for cap in [0, 1, 16, usize::MAX] {
        let (tx, rx) = if cap == usize::MAX {
            unbounded()
        } else {
            bounded(cap)
        };
        let producers = 4;
        let consumers = 4;
        let mut ps = Vec::new();
        for p in 0..producers {
            let tx = tx.clone();
            let kind = if p % 2 == 0 {
                Kind::Green
            } else {
                Kind::Kernel
            };
            ps.push(run_on(&rt, kind, move || {
                for i in 0..per {
                    tx.send(p * per + i).unwrap();
                }
            }));
        }
        drop(tx);
        let mut cs = Vec::new();
        for c in 0..consumers {
            let rx = rx.clone();
            let kind = if c % 2 == 1 {
                Kind::Green
            } else {
                Kind::Kernel
            };
            cs.push(run_on(&rt, kind, move || rx.iter().collect::<Vec<usize>>()));
        }
        drop(rx);
        for p in ps {
            p();
        }
        let mut all: Vec<usize> = cs.into_iter().flat_map(|c| c()).collect();
        all.sort_unstable();
        assert_eq!(all.len(), producers * per, "cap {cap}");
        assert!(all.iter().enumerate().all(|(i, &v)| i == v), "cap {cap}");
    }
}

/// Senders and receivers that give up after short timeouts and retry: a value is
/// delivered exactly when its send reported success, and every one is received once.
#[test]
fn no_lost_wakeups_or_values_with_timeouts() {
    let rt = rt(2);
    let per = scaled(2_000);
    for cap in [0, 2] {
        let (tx, rx) = bounded::<usize>(cap);
        let received = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let mut ps = Vec::new();
        for p in 0..3 {
            let tx = tx.clone();
            let kind = if p == 0 { Kind::Kernel } else { Kind::Green };
            ps.push(run_on(&rt, kind, move || {
                let mut timeouts = 0;
                for i in 0..per {
                    let mut v = p * per + i;
                    loop {
                        match tx.send_timeout(v, Duration::from_micros(50 + (i % 7) as u64 * 30)) {
                            Ok(()) => break,
                            Err(SendTimeoutError::Timeout(back)) => {
                                timeouts += 1;
                                v = back;
                            }
                            Err(SendTimeoutError::Disconnected(_)) => panic!("disconnected"),
                        }
                    }
                }
                timeouts
            }));
        }
        drop(tx);
        let mut cs = Vec::new();
        for c in 0..3 {
            let rx = rx.clone();
            let received = received.clone();
            let done = done.clone();
            let kind = if c == 0 { Kind::Kernel } else { Kind::Green };
            cs.push(run_on(&rt, kind, move || {
                let mut mine = Vec::new();
                loop {
                    match rx.recv_timeout(Duration::from_micros(40 + (mine.len() % 5) as u64 * 40))
                    {
                        Ok(v) => mine.push(v),
                        Err(RecvTimeoutError::Timeout) => assert!(!done.load(Ordering::SeqCst)),
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                received.lock().unwrap().extend(mine);
            }));
        }
        drop(rx);
        let timeouts: usize = ps.into_iter().map(|p| p()).sum();
        done.store(true, Ordering::SeqCst);
        for c in cs {
            c();
        }
        let mut all = received.lock().unwrap().clone();
        all.sort_unstable();
        assert_eq!(all.len(), 3 * per, "cap {cap} ({timeouts} send timeouts)");
        assert!(all.iter().enumerate().all(|(i, &v)| i == v));
    }
}

#[test]
fn errors_hand_values_back() {
    let (tx, rx) = bounded::<Vec<u8>>(1);
    tx.send(vec![1]).unwrap();
    assert_eq!(tx.try_send(vec![2]).unwrap_err().into_inner(), [2]);
    assert_eq!(
        tx.send_timeout(vec![3], Duration::from_millis(1))
            .unwrap_err()
            .into_inner(),
        [3]
    );
    drop(rx);
    assert_eq!(tx.send(vec![4]).unwrap_err().into_inner(), [4]);
    assert!(tx.try_send(vec![5]).unwrap_err().is_disconnected());
    assert!(tx
        .send_timeout(vec![6], Duration::MAX)
        .unwrap_err()
        .is_disconnected());
}

// ---- select ----

#[test]
fn select_receives_sends_defaults_and_timeouts() {
    let (tx1, rx1) = bounded::<u32>(1);
    let (tx2, rx2) = bounded::<u32>(1);
    // Nothing ready: default.
    let r = weft::select! {
        recv(rx1) -> _m => "rx1",
        recv(rx2) -> _m => "rx2",
        default => "default",
    };
    assert_eq!(r, "default");
    // default(timeout) waits, then gives up.
    let t = Instant::now();
    let r = weft::csp::select! {
        recv(rx1) -> _m => "rx1",
        default(Duration::from_millis(10)) => "timeout",
    };
    assert_eq!(r, "timeout");
    assert!(t.elapsed() >= Duration::from_millis(10));
    // A ready receive.
    tx2.send(5).unwrap();
    let r = weft::select! {
        recv(rx1) -> m => m.map(|v| v + 100),
        recv(rx2) -> m => m,
    };
    assert_eq!(r, Ok(5));
    // A ready send (block bodies, trailing comma optional).
    let r = weft::select! {
        send(tx1, 9) -> res => { res.unwrap(); 1 }
        recv(rx2) -> _m => { 2 }
    };
    assert_eq!(r, 1);
    assert_eq!(rx1.recv(), Ok(9));
    // Disconnected channels are ready, with their errors.
    drop(tx2);
    let r = weft::select! { recv(rx2) -> m => m };
    assert_eq!(r, Err(RecvError));
    drop(rx1);
    let r = weft::select! { send(tx1, 3) -> res => res };
    assert_eq!(r, Err(SendError(3)));
    // References to ends work too.
    let (tx3, rx3) = bounded(1);
    tx3.send(1).unwrap();
    let rr = &rx3;
    assert_eq!(weft::select! { recv(rr) -> m => m }, Ok(1));
    // Bodies can leave a loop.
    let mut n = 0;
    loop {
        weft::select! {
            recv(rx3) -> _m => unreachable!(),
            default => { n += 1; if n == 3 { break; } }
        }
    }
    assert_eq!(n, 3);
    let r = weft::select! { default(Duration::from_millis(1)) => 7 };
    assert_eq!(r, 7);
}

#[test]
fn select_blocks_until_a_partner_commits() {
    let rt = rt(2);
    for kind in KINDS {
        let (tx1, rx1) = channel::<u32>();
        let (tx2, rx2) = channel::<u32>();
        let (tx3, rx3) = channel::<u32>();
        let h = run_on(&rt, kind, move || {
            weft::sleep(Duration::from_millis(5));
            tx2.send(20).unwrap();
            rx3.recv().unwrap()
        });
        let got = weft::select! {
            recv(rx1) -> m => m.unwrap() + 1000,
            recv(rx2) -> m => m.unwrap(),
        };
        assert_eq!(got, 20);
        let r = weft::select! {
            recv(rx1) -> _m => 0,
            send(tx3, 30) -> res => { res.unwrap(); 1 }
        };
        assert_eq!(r, 1);
        assert_eq!(h(), 30);
        drop(tx1);
    }
}

/// A chi-square test of `select!` over four always-ready channels, and the bias of
/// `select_biased!`.
#[test]
fn select_is_fair_and_biased_select_is_not() {
    let chans: Vec<_> = (0..4).map(|_| bounded::<usize>(1)).collect();
    for (i, (tx, _)) in chans.iter().enumerate() {
        tx.send(i).unwrap();
    }
    let rounds = 8_000;
    let mut counts = [0usize; 4];
    for _ in 0..rounds {
        let i = weft::select! {
            recv(chans[0].1) -> m => m.unwrap(),
            recv(chans[1].1) -> m => m.unwrap(),
            recv(chans[2].1) -> m => m.unwrap(),
            recv(chans[3].1) -> m => m.unwrap(),
        };
        counts[i] += 1;
        chans[i].0.send(i).unwrap();
    }
    let expected = rounds as f64 / 4.0;
    let chi2: f64 = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    // 3 degrees of freedom: P(chi2 > 16.27) = 0.001.
    assert!(chi2 < 16.27, "unfair select: {counts:?} (chi2 = {chi2:.1})");

    // Two of four ready: each of the two about half the time (a random start without
    // a shuffle would favour the one after the idle cases).
    let (t0, r0) = bounded::<u8>(1);
    let (_t1, r1) = bounded::<u8>(1);
    let (_t2, r2) = bounded::<u8>(1);
    let (t3, r3) = bounded::<u8>(1);
    t0.send(0).unwrap();
    t3.send(3).unwrap();
    let mut c = [0usize; 2];
    for _ in 0..rounds {
        weft::select! {
            recv(r0) -> _m => { c[0] += 1; t0.send(0).unwrap(); }
            recv(r1) -> _m => unreachable!(),
            recv(r2) -> _m => unreachable!(),
            recv(r3) -> _m => { c[1] += 1; t3.send(3).unwrap(); }
        }
    }
    let e = rounds as f64 / 2.0;
    let chi2 = c.iter().map(|&x| (x as f64 - e).powi(2) / e).sum::<f64>();
    // 1 degree of freedom: P(chi2 > 10.83) = 0.001.
    assert!(chi2 < 10.83, "unfair among ready cases: {c:?}");

    for _ in 0..100 {
        let i = weft::select_biased! {
            recv(chans[2].1) -> m => m.unwrap(),
            recv(chans[0].1) -> m => m.unwrap(),
            recv(chans[1].1) -> m => m.unwrap(),
        };
        assert_eq!(i, 2);
        chans[2].0.send(2).unwrap();
    }
}

/// One selector, many concurrent senders (green and kernel) on rendezvous channels:
/// every value sent is received exactly once, and a sender's send returned `Ok`
/// exactly for the values the selector took.
#[test]
fn a_selector_never_loses_or_duplicates_a_message() {
    let rt = rt(2);
    let per = scaled(3_000);
    let senders = 4;
    let chans: Vec<_> = (0..3).map(|_| channel::<usize>()).collect();
    let mut hs = Vec::new();
    for s in 0..senders {
        let tx = chans[s % 3].0.clone();
        let kind = if s == 0 { Kind::Kernel } else { Kind::Green };
        hs.push(run_on(&rt, kind, move || {
            let mut ok = 0;
            for i in 0..per {
                let mut v = s * per + i;
                // Sometimes give up and retry: a timed-out send must not have delivered.
                loop {
                    match tx.send_timeout(
                        v,
                        Duration::from_micros(if i % 3 == 0 { 20 } else { 5_000 }),
                    ) {
                        Ok(()) => {
                            ok += 1;
                            break;
                        }
                        Err(SendTimeoutError::Timeout(back)) => v = back,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            ok
        }));
    }
    // The test keeps one sender of each channel until the end: a channel whose own
    // senders are done is not disconnected (that would make its case ready with Err).
    let (mut rxs, mut txs): (Vec<_>, Vec<_>) = (Vec::new(), Vec::new());
    for (tx, rx) in chans {
        txs.push(tx);
        rxs.push(rx);
    }
    let mut seen = HashSet::new();
    let mut timeouts = 0;
    while seen.len() < senders * per {
        let v = weft::select! {
            recv(rxs[0]) -> m => m,
            recv(rxs[1]) -> m => m,
            recv(rxs[2]) -> m => m,
            default(Duration::from_micros(100)) => { timeouts += 1; continue; }
        };
        let v = v.expect("senders are alive");
        assert!(seen.insert(v), "duplicate {v}");
    }
    let delivered: usize = hs.into_iter().map(|h| h()).sum();
    assert_eq!(delivered, senders * per);
    drop(txs);
    for rx in &rxs {
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }
    let _ = timeouts;
    rxs.clear();
}

/// Selectors sending to concurrent receivers: a send case reports `Ok` exactly for
/// the values a receiver got.
#[test]
fn selector_sends_are_delivered_exactly_when_reported() {
    let rt = rt(2);
    let rounds = scaled(3_000);
    let (tx_a, rx_a) = channel::<usize>();
    let (tx_b, rx_b) = channel::<usize>();
    let mut receivers = Vec::new();
    for (k, rx) in [rx_a.clone(), rx_a, rx_b.clone(), rx_b]
        .into_iter()
        .enumerate()
    {
        let kind = if k == 0 { Kind::Kernel } else { Kind::Green };
        receivers.push(run_on(&rt, kind, move || {
            let mut got = Vec::new();
            loop {
                match rx.recv_timeout(Duration::from_micros(300)) {
                    Ok(v) => got.push(v),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return got,
                }
            }
        }));
    }
    let mut sent = Vec::new();
    for i in 0..rounds {
        let r = weft::select! {
            send(tx_a, 2 * i) -> res => res.map(|()| 2 * i),
            send(tx_b, 2 * i + 1) -> res => res.map(|()| 2 * i + 1),
            default(Duration::from_micros(200)) => continue,
        };
        sent.push(r.unwrap());
    }
    drop(tx_a);
    drop(tx_b);
    let mut got: Vec<usize> = receivers.into_iter().flat_map(|r| r()).collect();
    got.sort_unstable();
    sent.sort_unstable();
    assert_eq!(got, sent);
}

/// Two selectors that can only complete with each other (a send case of one matches
/// a receive case of the other, on two rendezvous channels).
#[test]
fn two_selectors_rendezvous_with_each_other() {
    let rt = rt(2);
    let rounds = scaled(2_000);
    for kind in KINDS {
        let (tx1, rx1) = channel::<usize>();
        let (tx2, rx2) = channel::<usize>();
        let other = run_on(&rt, kind, move || {
            let mut got = 0;
            for i in 0..rounds {
                weft::select! {
                    recv(rx1) -> m => got += m.unwrap(),
                    send(tx2, i) -> res => res.unwrap(),
                }
            }
            got
        });
        let mut got = 0;
        let mut sent_back = 0;
        for i in 0..rounds {
            weft::select! {
                send(tx1, i) -> res => { res.unwrap(); sent_back += i; }
                recv(rx2) -> m => got += m.unwrap(),
            }
        }
        let other_got = other();
        // Each round is one communication; what one side sent the other received.
        assert_eq!(other_got, sent_back);
        let _ = got;
    }
}

#[test]
fn a_select_does_not_match_itself() {
    let (tx, rx) = channel::<u8>();
    let r = weft::select! {
        send(tx, 1) -> _r => "sent",
        recv(rx) -> _m => "received",
        default(Duration::from_millis(5)) => "timeout",
    };
    assert_eq!(r, "timeout");
    // The unsent value was dropped, and the channel is still usable.
    let h = weft::spawn(move || rx.recv());
    tx.send(2).unwrap();
    assert_eq!(h.join().unwrap(), Ok(2));
}

#[test]
fn unsent_select_values_are_dropped_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx1, _rx1) = channel::<Counted>();
    let (tx2, rx2) = bounded::<Counted>(1);
    let r = weft::select! {
        send(tx1, Counted(drops.clone())) -> _r => 1,
        send(tx2, Counted(drops.clone())) -> r => { assert!(r.is_ok()); 2 }
    };
    assert_eq!(r, 2);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the unsent value");
    drop(rx2);
    assert_eq!(drops.load(Ordering::SeqCst), 2, "the buffered value");
}

#[test]
fn dynamic_select() {
    // No case: an error, not a hang.
    let mut sel = Select::new();
    assert_eq!(sel.select().unwrap_err(), SelectError);
    assert!(sel.try_select().is_err());
    assert!(sel.select_timeout(Duration::MAX).is_err());
    let t = Instant::now();
    assert!(sel.select_timeout(Duration::from_millis(5)).is_err());
    assert!(t.elapsed() >= Duration::from_millis(5));

    // A runtime-sized set, waited on repeatedly.
    let n = 20;
    let chans: Vec<_> = (0..n).map(|_| channel::<usize>()).collect();
    let senders: Vec<_> = chans
        .iter()
        .map(|(tx, _)| {
            let tx = tx.clone();
            weft::spawn(move || {
                for k in 0..5 {
                    tx.send(k).unwrap();
                }
            })
        })
        .collect();
    let mut sel = Select::new();
    for (_, rx) in &chans {
        sel.recv(rx);
    }
    let mut per = vec![0usize; n];
    for _ in 0..5 * n {
        let op = sel.select().unwrap();
        let i = op.index();
        let v = op.recv(&chans[i].1).unwrap();
        assert_eq!(v, per[i]);
        per[i] += 1;
    }
    assert!(per.iter().all(|&c| c == 5));
    for s in senders {
        s.join().unwrap();
    }
    drop(sel);

    // Send cases are spent once they complete.
    let (tx, rx) = bounded(4);
    let mut sel = Select::new_biased();
    let a = sel.send(&tx, "a");
    let b = sel.send(&tx, "b");
    let op = sel.select().unwrap();
    assert_eq!(op.index(), a);
    op.send(&tx).unwrap();
    let op = sel.select().unwrap();
    assert_eq!(op.index(), b);
    op.send(&tx).unwrap();
    assert!(sel.try_select().is_err(), "both send cases are spent");
    drop(sel);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), ["a", "b"]);

    // A send case that finds the receivers gone hands the value back.
    let (tx, rx) = channel::<String>();
    drop(rx);
    let mut sel = Select::new();
    sel.send(&tx, "back".to_string());
    assert_eq!(sel.select().unwrap().send(&tx).unwrap_err().0, "back");
}

#[test]
#[should_panic(expected = "not the one of case")]
fn selected_operation_checks_its_channel() {
    let (tx, rx) = bounded::<u8>(1);
    let (_tx2, rx2) = bounded::<u8>(1);
    tx.send(1).unwrap();
    let mut sel = Select::new();
    sel.recv(&rx);
    let _ = sel.select().unwrap().recv(&rx2);
}

// ---- internal choice and par ----

#[test]
fn internal_choice_is_reproducible_and_uniform() {
    let run = |seed| {
        let mut c = Chooser::seeded(seed);
        (0..200)
            .map(|_| internal_choice(&mut c, (|| 0u8, || 1, || 2)))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
    let mut c = Chooser::seeded(5);
    let mut counts = [0usize; 3];
    for _ in 0..3_000 {
        counts[internal_choice(&mut c, [|| 0usize, || 1, || 2])] += 1;
    }
    let e = 1_000.0;
    let chi2: f64 = counts.iter().map(|&x| (x as f64 - e).powi(2) / e).sum();
    assert!(chi2 < 13.82, "{counts:?}"); // 2 dof, p = 0.001
    let v: Vec<Box<dyn FnOnce() -> u8>> = vec![Box::new(|| 7)];
    assert_eq!(internal_choice(&mut c, v), 7);
}

#[test]
#[should_panic(expected = "no branch")]
fn internal_choice_of_nothing_panics_with_a_message() {
    let branches: Vec<fn() -> u8> = Vec::new();
    internal_choice(&mut Chooser::seeded(1), branches);
}

/// The internal choice commits before communicating: a branch offering a send nobody
/// takes blocks; it does not fall back on another branch (that would be external
/// choice).
#[test]
fn internal_choice_commits_before_communicating() {
    let (tx_a, rx_a) = channel::<&str>();
    let (tx_b, _rx_b) = channel::<&str>();
    // Find a seed whose first choice is the branch nobody serves (b).
    let seed = (0..).find(|&s| Chooser::seeded(s).pick(2) == 1).unwrap();
    let h = weft::spawn(move || {
        let mut c = Chooser::seeded(seed);
        internal_choice(
            &mut c,
            (
                || tx_a.send_timeout("a", Duration::from_millis(20)).is_ok(),
                || tx_b.send_timeout("b", Duration::from_millis(20)).is_ok(),
            ),
        )
    });
    // Someone is ready on a, yet the process chose b and timed out.
    let got = rx_a.recv_timeout(Duration::from_millis(100));
    assert!(got.is_err());
    assert!(!h.join().unwrap());
}

#[test]
fn par_runs_processes_in_parallel_and_waits_for_all() {
    let (tx, rx) = channel::<u32>();
    let (a, b, c) = weft::par!(
        move || {
            for i in 1..=4 {
                tx.send(i).unwrap();
            }
            "producer"
        },
        || rx.iter().sum::<u32>(),
        || 3,
    );
    assert_eq!((a, b, c), ("producer", 10, 3));

    // Processes may borrow, and the function form returns results in order.
    let data = [1, 2, 3];
    let out = par(data.iter().map(|&x| move || x * 10));
    assert_eq!(out, [10, 20, 30]);
    // A rendezvous between two processes of par needs them to run at once.
    let (tx, rx) = channel::<u8>();
    let (x, y) = weft::par!(move || tx.send(1).unwrap(), move || rx.recv().unwrap());
    assert_eq!((x, y), ((), 1));
}

#[test]
fn par_propagates_the_first_panic_after_all_finished() {
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let r = std::panic::catch_unwind(move || {
        weft::par!(
            || panic!("first"),
            move || {
                weft::sleep(Duration::from_millis(20));
                f.store(true, Ordering::SeqCst);
            },
            || panic!("second"),
        )
    });
    let p = r.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"first"));
    assert!(
        finished.load(Ordering::SeqCst),
        "par waited for the slow process"
    );
    let r = std::panic::catch_unwind(|| par([|| 1, || panic!("in vec"), || 3]));
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"in vec"));
}

// ---- after Go's runtime/chan_test.go (the cases, rewritten for weft) ----

/// Go's TestChan, for capacities 0 to 8, from green threads.
#[test]
fn go_chan_basics_for_each_capacity() {
    let rt = rt(2);
    for cap in 0..8usize {
        rt.block_on(move || {
            // A receive from an empty channel blocks; a non-blocking one does not.
            let (tx, rx) = bounded::<usize>(cap);
            let got = Arc::new(AtomicUsize::new(0));
            let rs: Vec<_> = (0..2)
                .map(|_| {
                    let (rx, got) = (rx.clone(), got.clone());
                    weft::spawn(move || {
                        rx.recv().unwrap();
                        got.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            weft::sleep(Duration::from_millis(1));
            assert_eq!(
                got.load(Ordering::SeqCst),
                0,
                "cap {cap}: received from empty"
            );
            assert!(weft::select! { recv(rx) -> _m => false, default => true });
            tx.send(0).unwrap();
            tx.send(0).unwrap();
            for r in rs {
                r.join().unwrap();
            }
            assert_eq!(got.load(Ordering::SeqCst), 2);

            // A send to a full channel blocks; a non-blocking one does not.
            let (tx, rx) = bounded::<usize>(cap);
            for i in 0..cap {
                tx.send(i).unwrap();
            }
            let sent = Arc::new(AtomicBool::new(false));
            let s = {
                let (tx, sent) = (tx.clone(), sent.clone());
                weft::spawn(move || {
                    tx.send(0).unwrap();
                    sent.store(true, Ordering::SeqCst);
                })
            };
            weft::sleep(Duration::from_millis(1));
            assert!(
                !sent.load(Ordering::SeqCst),
                "cap {cap}: sent to a full channel"
            );
            assert!(weft::select! { send(tx, 0) -> _r => false, default => true });
            rx.recv().unwrap();
            s.join().unwrap();
            assert!(sent.load(Ordering::SeqCst));

            // A closed channel drains, then reports the end (again and again).
            let (tx, rx) = bounded::<usize>(cap);
            for i in 0..cap {
                tx.send(i).unwrap();
            }
            tx.close();
            for i in 0..cap {
                assert_eq!(rx.recv(), Ok(i));
            }
            assert_eq!(rx.recv(), Err(RecvError));
            assert_eq!(rx.recv(), Err(RecvError));

            // Closing unblocks a receiver.
            let (tx, rx) = bounded::<usize>(cap);
            let r = weft::spawn(move || rx.recv());
            weft::sleep(Duration::from_millis(1));
            tx.close();
            assert_eq!(r.join().unwrap(), Err(RecvError));

            // 100 values arrive intact and in FIFO order.
            let (tx, rx) = bounded::<usize>(cap);
            let p = weft::spawn(move || (0..100).for_each(|i| tx.send(i).unwrap()));
            for i in 0..100 {
                assert_eq!(rx.recv(), Ok(i));
            }
            p.join().unwrap();

            // 4 producers of 0..L, 4 consumers of L each: every value arrives 4 times.
            const P: usize = 4;
            const L: usize = 250;
            let (tx, rx) = bounded::<usize>(cap);
            let ps: Vec<_> = (0..P)
                .map(|_| {
                    let tx = tx.clone();
                    weft::spawn(move || (0..L).for_each(|i| tx.send(i).unwrap()))
                })
                .collect();
            let cs: Vec<_> = (0..P)
                .map(|_| {
                    let rx = rx.clone();
                    weft::spawn(move || {
                        let mut counts = vec![0usize; L];
                        for _ in 0..L {
                            counts[rx.recv().unwrap()] += 1;
                        }
                        counts
                    })
                })
                .collect();
            let mut total = vec![0usize; L];
            for c in cs {
                for (t, n) in total.iter_mut().zip(c.join().unwrap()) {
                    *t += n;
                }
            }
            assert!(total.iter().all(|&n| n == P), "cap {cap}");
            ps.into_iter().for_each(|p| p.join().unwrap());

            // len and capacity.
            let (tx, rx) = bounded::<usize>(cap);
            assert_eq!((rx.len(), rx.capacity()), (0, Some(cap)));
            for i in 0..cap {
                tx.send(i).unwrap();
            }
            assert_eq!((tx.len(), tx.capacity()), (cap, Some(cap)));
        });
    }
}

/// Go's TestNonblockRecvRace: a buffered value stays receivable (by a non-blocking
/// select) while the channel is being closed.
#[test]
fn go_nonblock_recv_race() {
    let rt = rt(2);
    for _ in 0..scaled(2_000) {
        let (tx, rx) = bounded::<u8>(1);
        tx.send(1).unwrap();
        let rx2 = rx.clone();
        let h = rt.spawn(move || weft::select! { recv(rx2) -> m => m.is_ok(), default => false });
        tx.close();
        let _ = rx.try_recv();
        // Either the select took the value, or we did (after which it may see the end,
        // which is ready too): it never finds the channel "not ready".
        let _ = h.join().unwrap();
        assert!(rx.recv().is_err());
    }
}

/// Go's TestSelfSelect: two processes each selecting a send and a receive on one
/// channel; on a rendezvous channel no process ever receives its own value.
#[test]
fn go_self_select() {
    let rt = rt(2);
    for cap in [0, 10] {
        let (tx, rx) = bounded::<usize>(cap);
        let hs: Vec<_> = (0..2)
            .map(|p| {
                let (tx, rx) = (tx.clone(), rx.clone());
                rt.spawn(move || {
                    for i in 0..scaled(1_000) {
                        let got = if p == 0 || i % 2 == 0 {
                            weft::select! {
                                send(tx, p) -> r => { r.unwrap(); None }
                                recv(rx) -> m => Some(m.unwrap()),
                            }
                        } else {
                            weft::select! {
                                recv(rx) -> m => Some(m.unwrap()),
                                send(tx, p) -> r => { r.unwrap(); None }
                            }
                        };
                        if cap == 0 {
                            assert_ne!(got, Some(p), "self receive");
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    }
}

/// Go's TestSelectStress: plain senders and receivers on four channels (capacities 0,
/// 0, 2, 3), plus one process sending N values to each in a select and one receiving N
/// from each in a select, a case leaving its select once it has done its N (here with
/// the dynamic `Select`, rebuilt each round from the cases still open).
#[test]
fn go_select_stress() {
    let rt = rt(2);
    let n = scaled(2_000);
    let chans: Vec<_> = [0, 0, 2, 3].iter().map(|&c| bounded::<usize>(c)).collect();
    let mut hs = Vec::new();
    for (tx, rx) in &chans {
        let tx = tx.clone();
        hs.push(rt.spawn(move || (0..n).for_each(|_| tx.send(0).unwrap())));
        let rx = rx.clone();
        hs.push(rt.spawn(move || (0..n).for_each(|_| rx.recv().map(drop).unwrap())));
    }
    let txs: Vec<Sender<usize>> = chans.iter().map(|c| c.0.clone()).collect();
    hs.push(rt.spawn(move || {
        let mut done = [0usize; 4];
        for _ in 0..4 * n {
            let mut sel = Select::new();
            let mut which = Vec::new();
            for k in (0..4).rev() {
                if done[k] < n {
                    sel.send(&txs[k], 0);
                    which.push(k);
                }
            }
            let op = sel.select().unwrap();
            let k = which[op.index()];
            op.send(&txs[k]).unwrap();
            done[k] += 1;
        }
    }));
    let rxs: Vec<Receiver<usize>> = chans.iter().map(|c| c.1.clone()).collect();
    hs.push(rt.spawn(move || {
        let mut done = [0usize; 4];
        for _ in 0..4 * n {
            let mut sel = Select::new();
            let mut which = Vec::new();
            for (k, rx) in rxs.iter().enumerate() {
                if done[k] < n {
                    sel.recv(rx);
                    which.push(k);
                }
            }
            let op = sel.select().unwrap();
            let k = which[op.index()];
            op.recv(&rxs[k]).unwrap();
            done[k] += 1;
        }
    }));
    for h in hs {
        h.join().unwrap();
    }
    for (_, rx) in &chans {
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
}

/// Go's TestSelectDuplicateChannel: one select queued twice on the same channel
/// withdraws both entries, so a later sender wakes the next receiver, not the select.
#[test]
fn go_select_duplicate_channel() {
    let rt = rt(1);
    let (c_tx, c_rx) = channel::<u8>();
    let (d_tx, d_rx) = channel::<u8>();
    let (e_tx, e_rx) = channel::<u8>();
    let a = {
        let c_rx = c_rx.clone();
        rt.spawn(move || {
            let from = weft::select! {
                recv(c_rx) -> _m => 'c',
                recv(c_rx) -> _m => 'c',
                recv(d_rx) -> _m => 'd',
            };
            e_tx.send(9).unwrap();
            from
        })
    };
    std::thread::sleep(Duration::from_millis(2)); // a queues first on c, twice
    let b = rt.spawn(move || c_rx.recv());
    std::thread::sleep(Duration::from_millis(2)); // then b
    d_tx.send(7).unwrap(); // wakes a, which withdraws from c
    assert_eq!(e_rx.recv(), Ok(9));
    c_tx.send(8).unwrap(); // must reach b
    assert_eq!(a.join().unwrap(), 'd');
    assert_eq!(b.join().unwrap(), Ok(8));
}

/// Go's TestMultiConsumer: a feeder, 23 workers and a collector over buffered
/// channels, closed in turn; the sum and the count come out exact.
#[test]
fn go_multi_consumer() {
    let rt = rt(2);
    let workers = 23;
    let iters = scaled(20_000);
    let pn = [2usize, 3, 7, 11, 13, 17, 19, 23, 27, 31];
    let (q_tx, q_rx) = bounded::<usize>(workers * 3);
    let (r_tx, r_rx) = bounded::<usize>(workers * 3);
    let ws: Vec<_> = (0..workers)
        .map(|w| {
            let (q_rx, r_tx) = (q_rx.clone(), r_tx.clone());
            rt.spawn(move || {
                for v in q_rx {
                    if pn[w % pn.len()] == v {
                        weft::yield_now(); // disturb the FIFO-ish order
                    }
                    r_tx.send(v).unwrap();
                }
            })
        })
        .collect();
    drop((q_rx, r_tx));
    let feeder = rt.spawn(move || {
        let mut expect = 0;
        for i in 0..iters {
            let v = pn[i % pn.len()];
            expect += v;
            q_tx.send(v).unwrap();
        }
        q_tx.close();
        for w in ws {
            w.join().unwrap();
        }
        expect // every r sender is now gone: the collector's loop ends
    });
    let (mut n, mut s) = (0, 0);
    for v in r_rx {
        n += 1;
        s += v;
    }
    assert_eq!((n, s), (iters, feeder.join().unwrap()));
}

/// Go's TestPseudoRandomSend: a select of two sends on one channel picks both.
#[test]
fn go_pseudo_random_send() {
    for cap in [0, 100] {
        let (tx, rx) = bounded::<usize>(cap);
        let r = weft::spawn(move || {
            (0..100)
                .map(|_| {
                    weft::yield_now();
                    rx.recv().unwrap()
                })
                .collect::<Vec<_>>()
        });
        for _ in 0..100 {
            weft::select! {
                send(tx, 1) -> r => r.unwrap(),
                send(tx, 0) -> r => r.unwrap(),
            }
        }
        let got = r.join().unwrap();
        let ones = got.iter().sum::<usize>();
        assert!(
            ones > 10 && ones < 90,
            "not pseudo-random: {ones} ones of 100 (cap {cap})"
        );
    }
}

/// What the deadlock detector names: a process blocked in each kind of operation says
/// so through `Thread::waiting_on` (examples/csp_deadlock.rs shows a full report).
#[test]
fn blocked_processes_say_what_they_wait_in() {
    let rt = rt(2);
    let (a_tx, a_rx) = channel::<u8>();
    let (b_tx, b_rx) = channel::<u8>();
    // Each sends to the other first: a deadlock, broken here by the timeouts.
    let left = rt.spawn(move || a_tx.send_timeout(1, Duration::from_millis(300)));
    let right = rt.spawn(move || b_tx.send_timeout(2, Duration::from_millis(300)));
    let (_c_tx, c_rx) = channel::<u8>();
    let receiver = rt.spawn(move || c_rx.recv_timeout(Duration::from_millis(300)));
    let (_d_tx, d_rx) = channel::<u8>();
    let selector = rt.spawn(move || {
        weft::select! {
            recv(d_rx) -> _m => false,
            default(Duration::from_millis(300)) => true,
        }
    });
    let wait_for = |t: &weft::Thread, what: &str| {
        let start = Instant::now();
        while t.waiting_on() != Some(what) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{t:?}: {:?}",
                t.waiting_on()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait_for(left.thread(), "channel send");
    wait_for(right.thread(), "channel send");
    wait_for(receiver.thread(), "channel receive");
    wait_for(selector.thread(), "select");
    assert!(left.join().unwrap().unwrap_err().is_timeout());
    assert!(right.join().unwrap().unwrap_err().is_timeout());
    assert!(receiver.join().unwrap().unwrap_err().is_timeout());
    assert!(selector.join().unwrap());
    drop((a_rx, b_rx));
}

// ---- Found in review ----

/// A green thread blocked in `recv` whose runtime is dropped never runs again: a later
/// rendezvous send must not "deliver" to it (it would succeed with no receive, and the
/// value would be lost); a live receiver gets the value instead.
#[test]
fn an_abandoned_green_receiver_is_handed_nothing() {
    let (tx, rx) = channel::<u32>();
    let live = rx.clone();
    {
        let rt = rt(1);
        let _h = rt.spawn(move || rx.recv());
        std::thread::sleep(Duration::from_millis(20));
        drop(rt);
    }
    // Nobody receives: the send times out with its value, rather than "succeeding".
    assert_eq!(
        tx.send_timeout(7, Duration::from_millis(30)),
        Err(SendTimeoutError::Timeout(7))
    );
    let taker = std::thread::spawn(move || live.recv());
    tx.send(8).unwrap();
    assert_eq!(taker.join().unwrap(), Ok(8));
}

/// The same for a selector left parked by a dropped runtime, on a buffered channel: the
/// value is buffered for the live receiver, not stashed for the dead selector.
#[test]
fn an_abandoned_green_selector_is_handed_nothing() {
    let (tx, rx) = unbounded::<u32>();
    let live = rx.clone();
    {
        let rt = rt(1);
        let _h = rt.spawn(move || weft::select! { recv(rx) -> m => m.ok() });
        std::thread::sleep(Duration::from_millis(20));
        drop(rt);
    }
    tx.send(1).unwrap();
    assert_eq!(live.try_recv(), Ok(1));
}

/// A green sender left blocked by a dropped runtime never runs again: when the last
/// receiver goes, its value (waiting in the sender's own landing) is dropped, not kept
/// for ever (a value that owns the ends of another channel would keep it open).
#[test]
fn an_abandoned_green_senders_value_is_dropped_at_disconnection() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = channel::<Counted>();
    {
        let rt = rt(1);
        let d = drops.clone();
        let _h = rt.spawn(move || tx.send(Counted(d)).is_ok());
        std::thread::sleep(Duration::from_millis(20));
        drop(rt);
    }
    assert_eq!(
        drops.load(Ordering::Relaxed),
        0,
        "still waiting in its landing"
    );
    drop(rx);
    assert_eq!(
        drops.load(Ordering::Relaxed),
        1,
        "dropped with the last receiver"
    );
}

/// `select!` with only `default(Duration::MAX)` waits for ever, as documented (it used
/// to panic): the thread is still waiting after a while; its runtime is then dropped.
#[test]
fn select_with_only_a_default_of_duration_max_waits() {
    let rt = rt(1);
    let h = rt.spawn(|| weft::select! { default(Duration::MAX) => 1 });
    std::thread::sleep(Duration::from_millis(50));
    assert!(!h.is_finished(), "the select returned (or panicked)");
    assert_eq!(h.thread().waiting_on(), Some("select"));
    drop(rt);
}

/// `SelectedOperation::recv` on a send case (or `send` on a receive case) of the same
/// channel panics, as documented, instead of returning the case's own value.
#[test]
fn a_selected_operation_of_the_wrong_kind_panics() {
    let (tx, rx) = bounded::<u32>(1);
    tx.close();
    let mut sel = Select::new();
    sel.send(&tx, 99);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sel.select().unwrap().recv(&rx)
    }));
    assert!(r.is_err(), "recv on a send case returned {:?}", r.ok());

    let (tx, rx) = bounded::<u32>(1);
    tx.send(5).unwrap();
    let mut sel = Select::new();
    sel.recv(&rx);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sel.select().unwrap().send(&tx).map_err(|e| e.into_inner())
    }));
    assert!(r.is_err(), "send on a receive case returned {:?}", r.ok());
}

/// A reused `Select` whose only case is a send it already completed can never complete
/// again: `select` fails at once instead of waiting for ever.
#[test]
fn a_select_of_spent_send_cases_fails_instead_of_hanging() {
    let (tx, rx) = bounded::<u8>(1);
    let mut sel = Select::new();
    sel.send(&tx, 1);
    sel.select().unwrap().send(&tx).unwrap();
    assert_eq!(rx.recv(), Ok(1));
    assert!(sel.select().is_err());
    assert!(sel.select_timeout(Duration::MAX).is_err());
    assert!(sel.try_select().is_err());
}

/// The cooperative budget: a green thread that polls with `try_recv` and `try_send`
/// (never blocking) still lets the other green threads of its one worker run, so the
/// values it waits for arrive. Without the budget the poller would spin for ever.
#[test]
fn a_green_thread_polling_without_blocking_shares_its_worker() {
    // A regression would spin for ever: bound it.
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        if !d.load(Ordering::SeqCst) {
            eprintln!("the poller never let its worker go: the budget does not yield");
            std::process::exit(1);
        }
    });
    let rt = rt(1);
    let got = rt.block_on(|| {
        let (tx, rx) = bounded::<u32>(1);
        let (back_tx, back_rx) = bounded::<u32>(1);
        let producer = weft::spawn(move || {
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
            // Polls too: the consumer must be let run to free the slot.
            let mut v = 7;
            loop {
                match back_tx.try_send(v) {
                    Ok(()) => break,
                    Err(TrySendError::Full(x)) => v = x,
                    Err(e) => panic!("{e:?}"),
                }
            }
        });
        let mut sum = 0u64;
        let mut n = 0;
        while n < 1000 {
            match rx.try_recv() {
                Ok(v) => {
                    sum += u64::from(v);
                    n += 1;
                }
                Err(TryRecvError::Empty) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        let last = loop {
            if let Ok(v) = back_rx.try_recv() {
                break v;
            }
        };
        producer.join().unwrap();
        (sum, last)
    });
    done.store(true, Ordering::SeqCst);
    assert_eq!(got, (999 * 1000 / 2, 7));
}
