//! Loom models of the channel's handshakes: the rendezvous, a timeout racing a partner,
//! close racing blocked operations, and a select's commit racing two senders and its
//! own timeout. Every model checks that each value ends in exactly one place and that
//! each operation's result agrees with its partner's.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p weft --lib --release csp::loom_tests` (needs
//! `#[cfg(loom)] mod csp;` in `lib.rs`).
//!
//! Timeouts: the loom stand-in of `park_on` returns at once when the deadline has
//! passed and otherwise sleeps until unparked, with a model clock that moves only when a
//! model advances it. So a *timer* thread advances the clock past the deadlines and
//! then unparks the waiters, as the runtime's timer would; loom races that against
//! every partner.

use std::time::Duration;

use super::{bounded, channel, RecvError, RecvTimeoutError, SendError, SendTimeoutError};
use crate::loom::model::advance;
use crate::loom::Instant;

fn at(ns: u64) -> Instant {
    Instant::now()
        .checked_add(Duration::from_nanos(ns))
        .expect("a model deadline")
}

/// Runs `f` as a loom model (as `loom::model::check`, with room for the yield loop of
/// [`wait_done`] and the spin lock's retries in one execution).
fn check(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = ::loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b.max_branches = 100_000;
    b.check(move || {
        let _ = Instant::now(); // the model clock, made before any thread is spawned
        f();
    });
}

/// Spawns a model thread that counts itself done in `done` when `f` returns.
fn spawn<T: 'static>(
    done: &std::sync::Arc<::loom::sync::atomic::AtomicUsize>,
    f: impl FnOnce() -> T + 'static,
) -> ::loom::thread::JoinHandle<T> {
    let done = done.clone();
    ::loom::thread::spawn(move || {
        let r = f();
        done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        r
    })
}

/// Waits (yielding to the model) until `n` threads of [`spawn`] are done. A channel may
/// unpark a thread after it stopped waiting (a stale token, which weft's parks allow
/// for), and loom's `join` treats any wake-up as its own: so models join only threads
/// that have already finished.
fn wait_done(done: &::loom::sync::atomic::AtomicUsize, n: usize) {
    while done.load(std::sync::atomic::Ordering::SeqCst) < n {
        ::loom::thread::yield_now();
    }
}

fn counter() -> std::sync::Arc<::loom::sync::atomic::AtomicUsize> {
    std::sync::Arc::new(::loom::sync::atomic::AtomicUsize::new(0))
}

/// The timer: moves the clock past every deadline, then wakes the waiters.
fn timer(waiters: Vec<::loom::thread::Thread>) {
    advance(Duration::from_nanos(100));
    for w in waiters {
        w.unpark();
    }
}

/// Runs `send` on a model thread of its own while this thread receives on `rx` until
/// `deadline`, beside a timer thread that moves the clock past it and wakes both;
/// returns what the send and the receive saw.
fn send_against_timed_recv<T, S: 'static>(
    deadline: Instant,
    rx: &super::Receiver<T>,
    send: impl FnOnce() -> S + 'static,
) -> (S, Result<T, RecvTimeoutError>) {
    let done = counter();
    let s = spawn(&done, send);
    let me = ::loom::thread::current();
    let clock = {
        let s = s.thread().clone();
        spawn(&done, move || timer(vec![s, me]))
    };
    let got = rx.recv_deadline(deadline);
    wait_done(&done, 2);
    let sent = s.join().unwrap();
    clock.join().unwrap();
    (sent, got)
}

#[test]
fn rendezvous_handshake() {
    check(3, || {
        let done = counter();
        let (tx, rx) = channel::<u32>();
        let t = spawn(&done, move || tx.send(7));
        assert_eq!(rx.recv(), Ok(7));
        wait_done(&done, 1);
        assert_eq!(t.join().unwrap(), Ok(()));
    });
}

#[test]
fn rendezvous_both_ways_round() {
    check(2, || {
        let (tx, rx) = channel::<u32>();
        let (tx2, rx2) = channel::<u32>();
        let done = counter();
        let t = spawn(&done, move || {
            let v = rx.recv().unwrap();
            tx2.send(v + 1).unwrap();
        });
        tx.send(1).unwrap();
        assert_eq!(rx2.recv(), Ok(2));
        wait_done(&done, 1);
        t.join().unwrap();
    });
}

/// A send and a receive that both time out, racing each other and the timer: either
/// they met (both `Ok`, the value delivered once) or neither saw the other (the value
/// back with the sender).
#[test]
fn timeouts_race_the_rendezvous() {
    check(2, || {
        let deadline = at(10); // before any thread runs: the timer moves the clock past it
        let (tx, rx) = channel::<u32>();
        match send_against_timed_recv(deadline, &rx, move || tx.send_deadline(7, deadline)) {
            (Ok(()), Ok(7)) => {}
            // The value stayed with the sender; the receiver timed out, or saw the
            // channel disconnected by the sender's thread ending (its end dropped).
            (
                Err(SendTimeoutError::Timeout(7)),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected),
            ) => {}
            other => panic!("inconsistent: {other:?}"),
        }
    });
}

/// The landing slot's abort race (`landing.rs`, rule 2): a sender writes into the
/// landing of a receiver whose timed receive is giving up. The value arrives exactly
/// once: in the timed receive if its claim won, else in the plain receive that follows
/// (which reuses the same landing: rule 4). Loom's cell checks that no write and read
/// of the landing overlap.
#[test]
fn landing_write_races_the_receivers_timeout() {
    check(2, || {
        let done = counter();
        let deadline = at(10);
        let (tx, rx) = channel::<String>();
        let s = spawn(&done, move || tx.send("v".to_string()));
        let me = ::loom::thread::current();
        let clock = spawn(&done, move || timer(vec![me]));
        let got = match rx.recv_deadline(deadline) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => rx.recv().expect("the sender is still there"),
            Err(e) => panic!("unexpected {e:?}"),
        };
        assert_eq!(got, "v");
        wait_done(&done, 2);
        assert_eq!(s.join().unwrap(), Ok(()));
        clock.join().unwrap();
    });
}

/// `close` racing a blocked sender and a blocked receiver of a rendezvous channel:
/// the value is delivered exactly when the send reports success; otherwise the sender
/// gets it back and the receiver sees the end.
#[test]
fn close_races_blocked_operations() {
    check(1, || {
        let (tx, rx) = channel::<u32>();
        let closer = tx.clone();
        let done = counter();
        let s = spawn(&done, move || tx.send(5));
        let c = spawn(&done, move || closer.close());
        let got = rx.recv();
        wait_done(&done, 2);
        let sent = s.join().unwrap();
        assert!(c.join().unwrap());
        match (sent, got) {
            (Ok(()), Ok(5)) => {}
            (Err(SendError(5)), Err(RecvError)) => {}
            other => panic!("inconsistent: {other:?}"),
        }
    });
}

/// A select over two rendezvous channels, with a timeout, racing a sender on each
/// (both with timeouts) and the timer: the select commits at most one case, the sender
/// of the value it got (and only that one) reports success, the other gets its value
/// back.
#[test]
fn select_commits_exactly_one_case() {
    check(2, || {
        let (tx1, rx1) = channel::<u32>();
        let (tx2, rx2) = channel::<u32>();
        let done = counter();
        let deadline = at(10);
        let s1 = spawn(&done, move || tx1.send_deadline(1, deadline).is_ok());
        let s2 = spawn(&done, move || tx2.send_deadline(2, deadline).is_ok());
        let me = ::loom::thread::current();
        let clock = {
            let ws = vec![s1.thread().clone(), s2.thread().clone(), me];
            spawn(&done, move || timer(ws))
        };
        let got = crate::select! {
            recv(rx1) -> m => m.ok(),
            recv(rx2) -> m => m.ok(),
            // (the time left until `deadline`: zero once the timer has run)
            default(deadline.duration_since(Instant::now())) => None,
        };
        wait_done(&done, 3);
        let (ok1, ok2) = (s1.join().unwrap(), s2.join().unwrap());
        clock.join().unwrap();
        match got {
            Some(1) => assert!(ok1 && !ok2),
            Some(2) => assert!(ok2 && !ok1),
            None => assert!(!ok1 && !ok2),
            Some(v) => panic!("received {v}"),
        }
    });
}

/// A select's two send cases, one to a rendezvous receiver, one to a full buffer that
/// another thread drains: the value goes to exactly one place.
#[test]
fn select_send_case_is_taken_once() {
    check(2, || {
        let (tx1, rx1) = channel::<u32>();
        let (tx2, rx2) = bounded::<u32>(1);
        tx2.send(0).unwrap();
        let done = counter();
        let r = spawn(&done, move || rx1.recv());
        let rx2b = rx2.clone();
        let d = spawn(&done, move || rx2b.recv());
        let which = crate::select! {
            send(tx1, 10) -> res => { res.unwrap(); 1 }
            send(tx2, 20) -> res => { res.unwrap(); 2 }
        };
        drop(tx1); // lets the receiver finish if the select chose the buffer
        wait_done(&done, 2);
        let got1 = r.join().unwrap();
        assert_eq!(d.join().unwrap(), Ok(0));
        let got2 = rx2.try_recv().ok();
        match which {
            1 => assert_eq!((got1, got2), (Ok(10), None)),
            _ => assert_eq!((got1, got2), (Err(RecvError), Some(20))),
        }
    });
}

/// A sender's value waits in its own landing: a receiver that takes it and then loses
/// the claim to the sender's timeout puts it back, and the sender returns it. Either
/// the value is delivered or it comes back to the sender, never both or neither.
#[test]
fn senders_landing_races_its_timeout() {
    check(2, || {
        let deadline = at(10);
        let (tx, rx) = channel::<String>();
        // The sender's end is kept (returned) so the receive sees no disconnection.
        let send = move || (tx.send_deadline("v".to_string(), deadline), tx);
        let ((sent, _tx), got) = send_against_timed_recv(deadline, &rx, send);
        match (sent, got) {
            (Ok(()), Ok(v)) => assert_eq!(v, "v"),
            (Err(SendTimeoutError::Timeout(v)), Err(RecvTimeoutError::Timeout)) => {
                assert_eq!(v, "v");
            }
            other => panic!("inconsistent: {other:?}"),
        }
    });
}

/// The last receiver dropped beside a clone of its kind and the last sender: the
/// channel's block is freed once, after both disconnection hooks ran (`counted.rs`); a
/// value buffered when the receivers go is dropped once.
#[test]
fn last_ends_of_both_kinds_race() {
    check(2, || {
        let done = counter();
        let (tx, rx) = bounded::<String>(1);
        tx.send("buffered".to_string()).unwrap();
        let rx2 = rx.clone();
        let a = spawn(&done, move || drop(rx2));
        drop(rx);
        drop(tx);
        wait_done(&done, 1);
        a.join().unwrap();
    });
}
