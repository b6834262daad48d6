//! Actors: mailboxes, selective receive, request/reply, names, links, monitors and
//! supervisors, case by case against Erlang/OTP's documented behaviour.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weft::actor::{
    self, Addr, CallError, ChildSpec, Ctx, Down, Exit, ExitReason, RegisterError, ReplyTo,
    SendError, SendTimeoutError, Strategy, Supervisor, TrySendError,
};

const LONG: Duration = Duration::from_secs(10);

/// Waits for `a` to stop; its exit reason.
fn wait_down<M: Send + 'static>(a: &Addr<M>) -> ExitReason {
    let rx = actor::monitor(a);
    rx.recv_timeout(LONG).expect("the actor stops").reason
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Addr<u32>>();
    send_sync::<ReplyTo<u32>>();
    send_sync::<Supervisor>();
    send_sync::<ChildSpec>();
    send_sync::<ExitReason>();
    send_sync::<Down>();
    send_sync::<Exit>();
    send_sync::<SendError<u32>>();
    send_sync::<TrySendError<u32>>();
    send_sync::<SendTimeoutError<u32>>();
    fn send<T: Send>() {}
    send::<actor::Builder>();
    // `Ctx` is neither `Send` nor `Sync`: the compile-fail doctest on `Ctx` checks it.
}

/// Per-sender FIFO: four actors each send 5 000 numbered messages to one receiver, which
/// sees every sender's sequence in order and nothing missing.
#[test]
fn messages_from_one_sender_arrive_in_order() {
    const N: u64 = 5_000;
    let (done_tx, done_rx) = weft::csp::bounded(1);
    let receiver = actor::spawn(move |ctx: &mut Ctx<(u64, u64)>| {
        let mut next = [0u64; 4];
        for _ in 0..4 * N {
            let (who, i) = ctx.recv();
            assert_eq!(i, next[who as usize], "sender {who} out of order");
            next[who as usize] += 1;
        }
        done_tx.send(next).unwrap();
    });
    for who in 0..4 {
        let r = receiver.clone();
        actor::spawn(move |_: &mut Ctx<()>| {
            for i in 0..N {
                r.send((who, i)).unwrap();
            }
        });
    }
    assert_eq!(done_rx.recv_timeout(LONG), Ok([N; 4]));
}

/// Selective receive takes the first match and leaves the rest queued in order.
#[test]
fn selective_receive_keeps_the_others_in_order() {
    let (tx, rx) = weft::csp::unbounded();
    let a = actor::spawn(move |ctx: &mut Ctx<u32>| {
        // Wait until all six are queued, so the order is the mailbox's.
        let first_even = ctx.recv_match(|m| m % 2 == 0);
        let big = ctx.recv_match(|m| *m >= 5);
        let mut rest = Vec::new();
        for _ in 0..4 {
            rest.push(ctx.recv());
        }
        let none = ctx.recv_match_timeout(|m| *m == 99, Duration::from_millis(20));
        tx.send((first_even, big, rest, none.is_err())).unwrap();
    });
    for m in [1, 3, 4, 6, 5, 2] {
        a.send(m).unwrap();
    }
    assert_eq!(rx.recv_timeout(LONG), Ok((4, 6, vec![1, 3, 5, 2], true)));
}

/// `queued` counts what waits in the mailbox: exactly, once the senders are done.
#[test]
fn queued_counts_the_waiting_messages() {
    let (go_tx, go_rx) = weft::csp::channel::<()>();
    let (tx, rx) = weft::csp::unbounded();
    let a = actor::spawn(move |ctx: &mut Ctx<u32>| {
        go_rx.recv().unwrap();
        for _ in 0..3 {
            let _ = ctx.recv();
        }
        tx.send(()).unwrap();
        go_rx.recv().unwrap();
    });
    assert_eq!(a.queued(), 0);
    for m in 0..5 {
        a.send(m).unwrap();
    }
    assert_eq!(a.queued(), 5);
    go_tx.send(()).unwrap();
    rx.recv_timeout(LONG).unwrap();
    assert_eq!(a.queued(), 2);
    go_tx.send(()).unwrap();
    assert_eq!(wait_down(&a), ExitReason::Normal);
}

#[test]
fn a_send_to_a_stopped_actor_hands_the_message_back() {
    let a = actor::spawn(|_: &mut Ctx<String>| {});
    assert_eq!(wait_down(&a), ExitReason::Normal);
    assert!(a.is_stopped());
    assert_eq!(
        a.send("hello".to_string()),
        Err(SendError("hello".to_string()))
    );
}

#[test]
// `Addr` hashes by its actor's id, which never changes: the mailbox behind it is what
// clippy sees as interior mutability.
#[allow(clippy::mutable_key_type)]
fn addresses_compare_and_hash_by_identity() {
    let a = actor::spawn(|ctx: &mut Ctx<()>| ctx.recv());
    let b = actor::spawn(|ctx: &mut Ctx<()>| ctx.recv());
    let set: std::collections::HashSet<_> = [a.clone(), a.clone(), b.clone()].into();
    assert_eq!(set.len(), 2);
    assert_ne!(a, b);
    assert_ne!(a.id(), b.id());
    a.send(()).unwrap();
    b.send(()).unwrap();
}

#[test]
fn me_is_the_actors_own_address() {
    let (tx, rx) = weft::csp::bounded(1);
    let a = actor::spawn(move |ctx: &mut Ctx<()>| {
        tx.send(ctx.me().clone()).unwrap();
    });
    assert_eq!(rx.recv_timeout(LONG).unwrap(), a);
}

enum Kv {
    Get(ReplyTo<u32>),
    Ignore(ReplyTo<u32>),
    Die(ReplyTo<u32>),
}

#[test]
fn call_answers_times_out_and_sees_a_death() {
    let a = actor::spawn(|ctx: &mut Ctx<Kv>| {
        let mut kept = Vec::new();
        loop {
            match ctx.recv() {
                Kv::Get(r) => {
                    let _ = r.send(7);
                }
                Kv::Ignore(r) => kept.push(r), // never answered: the caller times out
                Kv::Die(_r) => panic!("asked to die"),
            }
        }
    });
    assert_eq!(a.call(Kv::Get, LONG), Ok(7));
    assert_eq!(
        a.call(Kv::Ignore, Duration::from_millis(30)),
        Err(CallError::Timeout)
    );
    // The reply handle is dropped by the panic's unwinding: no hang.
    assert_eq!(a.call(Kv::Die, LONG), Err(CallError::NoReply));
    assert!(matches!(wait_down(&a), ExitReason::Panic(_)));
    assert_eq!(a.call(Kv::Get, LONG), Err(CallError::Stopped));
}

#[test]
fn receive_with_a_timeout() {
    let (tx, rx) = weft::csp::bounded(1);
    let a = actor::spawn(move |ctx: &mut Ctx<u8>| {
        let first = ctx.recv_timeout(Duration::from_millis(20));
        let second = ctx.recv_timeout(LONG);
        let third = ctx.try_recv();
        tx.send((first.is_err(), second.ok(), third)).unwrap();
    });
    std::thread::sleep(Duration::from_millis(60));
    a.send(5).unwrap();
    assert_eq!(rx.recv_timeout(LONG), Ok((true, Some(5), None)));
}

#[test]
fn registry_is_typed_unique_and_released_at_exit() {
    let a = actor::spawn(|ctx: &mut Ctx<u64>| {
        let _ = ctx.recv();
    });
    actor::register("test-registry-a", &a).unwrap();
    assert_eq!(actor::whereis::<u64>("test-registry-a"), Some(a.clone()));
    assert_eq!(actor::whereis::<u32>("test-registry-a"), None);
    assert_eq!(actor::whereis::<u64>("test-registry-nobody"), None);
    let b = actor::spawn(|ctx: &mut Ctx<u64>| {
        let _ = ctx.recv();
    });
    assert_eq!(
        actor::register("test-registry-a", &b),
        Err(RegisterError::Taken(a.id()))
    );
    a.send(1).unwrap();
    wait_down(&a);
    assert_eq!(actor::whereis::<u64>("test-registry-a"), None);
    assert_eq!(
        actor::register("test-registry-dead", &a),
        Err(RegisterError::Stopped)
    );
    actor::register("test-registry-a", &b).unwrap();
    assert!(actor::unregister("test-registry-a"));
    assert!(!actor::unregister("test-registry-a"));
    b.send(1).unwrap();
}

/// A link from a panicking actor stops a linked actor that does not trap exits, with the
/// same reason; it does not stop one that traps them (that one gets an `Exit` message).
#[test]
fn a_panic_propagates_through_links_unless_trapped() {
    #[derive(Debug)]
    enum M {
        Exit(Exit),
        Go,
    }
    impl From<Exit> for M {
        fn from(e: Exit) -> Self {
            M::Exit(e)
        }
    }
    let (tx, rx) = weft::csp::unbounded();
    let (ready_tx, ready_rx) = weft::csp::channel::<()>();
    let victim = actor::spawn(|ctx: &mut Ctx<M>| loop {
        let _ = ctx.recv();
    });
    let trapper = actor::spawn(move |ctx: &mut Ctx<M>| {
        ctx.trap_exits();
        ready_tx.send(()).unwrap();
        loop {
            if let M::Exit(e) = ctx.recv() {
                tx.send(e).unwrap();
            }
        }
    });
    // Traps exits before the crasher can crash (OTP's init handshake; else the exit
    // signal could reach it first and kill it).
    ready_rx.recv().unwrap();
    let (v, t) = (victim.clone(), trapper.clone());
    let crasher = actor::spawn(move |ctx: &mut Ctx<M>| {
        ctx.link(&v);
        ctx.link(&t);
        if let M::Go = ctx.recv() {
            panic!("boom");
        }
    });
    crasher.send(M::Go).unwrap();
    let reason = wait_down(&crasher);
    assert_eq!(reason, ExitReason::Panic("boom".into()));
    assert_eq!(wait_down(&victim), reason);
    let e = rx.recv_timeout(LONG).unwrap();
    assert_eq!(e.from, crasher.id());
    assert_eq!(e.reason, reason);
    assert!(!trapper.is_stopped());
}

/// A normal exit does not stop linked actors.
#[test]
fn a_normal_exit_does_not_kill_links() {
    let survivor = actor::spawn(|ctx: &mut Ctx<u8>| {
        let _ = ctx.recv();
    });
    let s = survivor.clone();
    let leaver = actor::spawn(move |ctx: &mut Ctx<u8>| {
        ctx.link(&s);
    });
    assert_eq!(wait_down(&leaver), ExitReason::Normal);
    std::thread::sleep(Duration::from_millis(20));
    assert!(!survivor.is_stopped());
    survivor.send(0).unwrap();
    assert_eq!(wait_down(&survivor), ExitReason::Normal);
}

/// `spawn_link`, and a link made to an actor that has already stopped (abnormally):
/// the exit signal arrives at once.
#[test]
fn linking_to_a_stopped_actor_signals_at_once() {
    let dead = actor::spawn(|ctx: &mut Ctx<()>| ctx.exit(ExitReason::Error("gone".into())));
    assert_eq!(wait_down(&dead), ExitReason::Error("gone".into()));
    let d = dead.clone();
    let late = actor::spawn(move |ctx: &mut Ctx<()>| {
        ctx.link(&d);
        ctx.recv();
    });
    assert_eq!(wait_down(&late), ExitReason::Error("gone".into()));

    let (tx, rx) = weft::csp::bounded(1);
    let parent = actor::spawn(move |ctx: &mut Ctx<()>| {
        let child = ctx.spawn_link(|c: &mut Ctx<()>| {
            c.recv();
            panic!("child fails");
        });
        tx.send(child).unwrap();
        ctx.recv();
    });
    let child = rx.recv_timeout(LONG).unwrap();
    child.send(()).unwrap();
    assert_eq!(wait_down(&parent), ExitReason::Panic("child fails".into()));
}

/// Monitors get `Down` with the reason however the actor stopped, once, and even when
/// the actor had already stopped when the monitor was made.
#[test]
fn monitors_receive_down_with_the_reason() {
    #[derive(Debug)]
    enum W {
        Down(Down),
    }
    impl From<Down> for W {
        fn from(d: Down) -> Self {
            W::Down(d)
        }
    }
    let (tx, rx) = weft::csp::unbounded();
    let targets: Vec<Addr<u8>> = (0..3)
        .map(|k| {
            actor::spawn(move |ctx: &mut Ctx<u8>| {
                ctx.recv();
                match k {
                    0 => {}
                    1 => panic!("one"),
                    _ => ctx.exit(ExitReason::Shutdown),
                }
            })
        })
        .collect();
    let ts = targets.clone();
    let watcher = actor::spawn(move |ctx: &mut Ctx<W>| {
        let refs: Vec<_> = ts.iter().map(|t| ctx.monitor(t)).collect();
        for t in &ts {
            t.send(0).unwrap();
        }
        for _ in 0..3 {
            let W::Down(d) = ctx.recv();
            let k = refs.iter().position(|r| *r == d.monitor).unwrap();
            assert_eq!(d.actor, ts[k].id());
            tx.send((k, d.reason)).unwrap();
        }
        // Monitoring a stopped actor: `Down` at once.
        let r = ctx.monitor(&ts[0]);
        let W::Down(d) = ctx.recv();
        assert_eq!(d.monitor, r);
        tx.send((9, d.reason)).unwrap();
    });
    let mut got: Vec<_> = (0..4).map(|_| rx.recv_timeout(LONG).unwrap()).collect();
    got.sort_by_key(|(k, _)| *k);
    assert_eq!(
        got,
        [
            (0, ExitReason::Normal),
            (1, ExitReason::Panic("one".into())),
            (2, ExitReason::Shutdown),
            (9, ExitReason::Normal),
        ]
    );
    assert_eq!(wait_down(&watcher), ExitReason::Normal);
    // The watcher's own monitors are gone with it; the linked-nothing targets are down.
    assert!(targets.iter().all(Addr::is_stopped));
}

/// A panicking actor takes down nothing but itself: others on the same workers go on.
#[test]
fn a_panic_stops_only_its_actor() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let n = rt.block_on(|| {
        let counter = actor::spawn(|ctx: &mut Ctx<ReplyTo<u32>>| {
            let mut n = 0;
            loop {
                let r = ctx.recv();
                n += 1;
                let _ = r.send(n);
            }
        });
        for _ in 0..10 {
            let a = actor::spawn(|_: &mut Ctx<()>| panic!("alone"));
            assert!(matches!(wait_down(&a), ExitReason::Panic(_)));
        }
        counter.call(|r| r, LONG).unwrap()
    });
    assert_eq!(n, 1);
}

/// Messages left in a stopped actor's mailbox are dropped at its exit; one whose `Drop`
/// panics neither keeps the `Down` from its monitor nor takes the worker down.
#[test]
fn a_message_that_panics_when_dropped_at_exit_is_contained() {
    struct Bomb(Arc<AtomicUsize>);
    impl Drop for Bomb {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
            panic!("a message that explodes when dropped");
        }
    }
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let reason = rt.block_on(move || {
        let (go_tx, go_rx) = weft::csp::channel::<()>();
        let a = actor::spawn(move |_: &mut Ctx<Bomb>| {
            // Stop only once both messages are queued, without receiving them.
            go_rx.recv().unwrap();
        });
        let down = actor::monitor(&a);
        a.send(Bomb(d.clone())).ok().unwrap();
        a.send(Bomb(d.clone())).ok().unwrap();
        go_tx.send(()).unwrap();
        let reason = down.recv_timeout(LONG).expect("the Down arrives").reason;
        // The worker still runs threads.
        assert_eq!(weft::spawn(|| 7).join().unwrap(), 7);
        reason
    });
    assert!(matches!(reason, ExitReason::Normal), "{reason:?}");
    assert_eq!(drops.load(Ordering::Relaxed), 2, "both messages dropped");
}

/// An actor that panics with a payload whose `Drop` panics still stops properly: its
/// monitor gets the `Down`, with the panic as the reason.
#[test]
fn a_panic_payload_that_panics_when_dropped_is_contained() {
    struct Payload;
    impl Drop for Payload {
        fn drop(&mut self) {
            panic!("a payload that explodes when dropped");
        }
    }
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let reason = rt.block_on(|| {
        let (go_tx, go_rx) = weft::csp::channel::<()>();
        let a = actor::spawn(move |_: &mut Ctx<()>| {
            go_rx.recv().unwrap();
            std::panic::panic_any(Payload);
        });
        let down = actor::monitor(&a);
        go_tx.send(()).unwrap();
        down.recv_timeout(LONG).expect("the Down arrives").reason
    });
    assert!(matches!(reason, ExitReason::Panic(_)), "{reason:?}");
}

/// An actor on a kernel thread of its own behaves the same.
#[test]
fn kernel_actors_receive_and_reply() {
    let a = actor::spawn_kernel(|ctx: &mut Ctx<ReplyTo<&'static str>>| {
        let r = ctx.recv();
        let _ = r.send(if weft::current().is_green() {
            "green"
        } else {
            "kernel"
        });
    });
    assert_eq!(a.call(|r| r, LONG), Ok("kernel"));
}

/// No message is lost or kept when senders race the receiver's exit: every send either
/// hands its message back, or the message is received, or it is dropped when the
/// mailbox closes. Counted exactly, with a destructor.
#[test]
fn no_message_is_lost_when_senders_race_an_exit() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for round in 0..20 {
        let dropped = Arc::new(AtomicUsize::new(0));
        let (rtx, rrx) = weft::csp::bounded(1);
        let receiver = actor::spawn(move |ctx: &mut Ctx<Counted>| {
            let mut got = 0;
            for _ in 0..(round * 37) % 400 {
                let m = ctx.recv();
                std::mem::forget(m); // received, not dropped
                got += 1;
            }
            rtx.send(got).unwrap();
        });
        let senders: Vec<_> = (0..3)
            .map(|_| {
                let r = receiver.clone();
                let d = dropped.clone();
                std::thread::spawn(move || {
                    let (mut ok, mut back) = (0, 0);
                    for _ in 0..300 {
                        match r.send(Counted(d.clone())) {
                            Ok(()) => ok += 1,
                            Err(SendError(m)) => {
                                std::mem::forget(m);
                                back += 1;
                            }
                        }
                    }
                    (ok, back)
                })
            })
            .collect();
        let (mut ok, mut back) = (0, 0);
        for s in senders {
            let (o, b) = s.join().unwrap();
            ok += o;
            back += b;
        }
        let got = rrx.recv_timeout(LONG).unwrap();
        wait_down(&receiver);
        assert_eq!(ok + back, 900);
        assert_eq!(
            got + dropped.load(Ordering::SeqCst),
            ok,
            "round {round}: {got} received + dropped at exit != {ok} sent"
        );
    }
}

// ---- supervisors ----

fn child_ids(s: &Supervisor) -> Vec<weft::actor::ActorId> {
    s.children()
        .unwrap()
        .into_iter()
        .map(|(_, id)| id.expect("running"))
        .collect()
}

/// The child registered under `name` (the test's children register themselves).
fn addr_of(name: &str) -> Addr<u32> {
    actor::whereis::<u32>(name).expect("registered")
}

/// A child that registers itself under `name` at each start and panics on 0.
fn registering(name: &'static str) -> ChildSpec {
    ChildSpec::new(name, move || {
        let a = actor::spawn(move |ctx: &mut Ctx<u32>| loop {
            if ctx.recv() == 0 {
                panic!("{name} fails");
            }
        });
        let _ = actor::unregister(name);
        actor::register(name, &a).unwrap();
        a
    })
}

/// Waits until the supervisor's children differ from `old` (a restart happened).
fn until_restarted(
    s: &Supervisor,
    old: &[weft::actor::ActorId],
    which: &[usize],
) -> Vec<weft::actor::ActorId> {
    for _ in 0..1000 {
        if let Ok(list) = s.children() {
            if list.iter().all(|(_, id)| id.is_some()) {
                let ids: Vec<_> = list.into_iter().map(|(_, id)| id.unwrap()).collect();
                if which.iter().all(|&i| ids[i] != old[i]) {
                    return ids;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("no restart");
}

#[test]
fn one_for_one_restarts_only_the_failed_child() {
    let s = Supervisor::builder(Strategy::OneForOne)
        .child(registering("o41-a"))
        .child(registering("o41-b"))
        .start()
        .unwrap();
    let before = child_ids(&s);
    addr_of("o41-a").send(0).unwrap();
    let after = until_restarted(&s, &before, &[0]);
    assert_eq!(after[1], before[1], "the other child was not touched");
    assert_eq!(s.restarts().unwrap(), 1);
    s.shutdown(LONG).unwrap();
}

#[test]
fn one_for_all_restarts_every_child() {
    let s = Supervisor::builder(Strategy::OneForAll)
        .child(registering("ofa-a"))
        .child(registering("ofa-b"))
        .child(registering("ofa-c"))
        .start()
        .unwrap();
    let before = child_ids(&s);
    addr_of("ofa-b").send(0).unwrap();
    until_restarted(&s, &before, &[0, 1, 2]);
    s.shutdown(LONG).unwrap();
}

#[test]
fn rest_for_one_restarts_the_child_and_those_after_it() {
    let s = Supervisor::builder(Strategy::RestForOne)
        .child(registering("rfo-a"))
        .child(registering("rfo-b"))
        .child(registering("rfo-c"))
        .start()
        .unwrap();
    let before = child_ids(&s);
    addr_of("rfo-b").send(0).unwrap();
    let after = until_restarted(&s, &before, &[1, 2]);
    assert_eq!(after[0], before[0]);
    s.shutdown(LONG).unwrap();
}

/// Beyond `max_restarts` within the period the supervisor stops its children and stops
/// itself with an error.
#[test]
fn restart_intensity_stops_the_supervisor() {
    let s = Supervisor::builder(Strategy::OneForOne)
        .intensity(2, Duration::from_secs(60))
        .child(registering("int-a"))
        .start()
        .unwrap();
    let down = s.monitor();
    let mut ids = child_ids(&s);
    for _ in 0..2 {
        addr_of("int-a").send(0).unwrap();
        ids = until_restarted(&s, &ids, &[0]);
    }
    addr_of("int-a").send(0).unwrap();
    let d = down.recv_timeout(LONG).unwrap();
    assert!(matches!(d.reason, ExitReason::Error(_)), "{:?}", d.reason);
    assert!(s.is_stopped());
    assert!(s.children().is_err());
}

/// A start function that panics: an error at start (children started before it are
/// stopped); during a restart it counts as one.
#[test]
fn a_panicking_start_function() {
    let started = Arc::new(AtomicUsize::new(0));
    let st = started.clone();
    let first = actor::spawn(|ctx: &mut Ctx<u32>| {
        ctx.recv();
    });
    let f = first.clone();
    let err = Supervisor::builder(Strategy::OneForOne)
        .child(ChildSpec::new("ok", move || f.clone()))
        .child(ChildSpec::new("bad", move || -> Addr<u32> {
            st.fetch_add(1, Ordering::SeqCst);
            panic!("cannot start")
        }))
        .start()
        .unwrap_err();
    assert_eq!(
        err,
        weft::actor::SupervisorError::StartFailed {
            child: "bad".into(),
            reason: "cannot start".into()
        }
    );
    assert_eq!(started.load(Ordering::SeqCst), 1);
    assert_eq!(wait_down(&first), ExitReason::Shutdown);

    // Fails on its second start and later: each failed start counts, and the
    // supervisor gives up at the intensity.
    let starts = Arc::new(AtomicUsize::new(0));
    let n = starts.clone();
    let s = Supervisor::builder(Strategy::OneForOne)
        .intensity(3, Duration::from_secs(60))
        .child(ChildSpec::new("flaky", move || {
            if n.fetch_add(1, Ordering::SeqCst) > 0 {
                panic!("flaky start");
            }
            let a = actor::spawn(|ctx: &mut Ctx<u32>| {
                ctx.recv();
                panic!("first run fails");
            });
            actor::register("flaky", &a).unwrap();
            a
        }))
        .start()
        .unwrap();
    let down = s.monitor();
    // The first instance fails; every restart's start panics; the third failed start
    // exceeds the intensity (3 restarts: the crash's and two failed starts').
    actor::whereis::<u32>("flaky")
        .expect("registered")
        .send(0)
        .unwrap();
    let d = down.recv_timeout(LONG).unwrap();
    assert!(matches!(d.reason, ExitReason::Error(_)));
    assert_eq!(starts.load(Ordering::SeqCst), 1 + 3);
}

/// Shutdown stops the children in reverse start order, each with reason `Shutdown`.
#[test]
fn shutdown_stops_children_in_reverse_order() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let spec = |name: &'static str| {
        let order = order.clone();
        ChildSpec::new(name, move || {
            let order = order.clone();
            // OTP's init handshake: the start returns once the child traps exits.
            let (ready_tx, ready_rx) = weft::csp::bounded(1);
            let a = actor::spawn(move |ctx: &mut Ctx<Exit>| {
                ctx.trap_exits();
                ready_tx.send(()).unwrap();
                let e = ctx.recv();
                order.lock().unwrap().push((name, e.reason));
            });
            ready_rx.recv().unwrap();
            a
        })
    };
    let s = Supervisor::builder(Strategy::OneForOne)
        .child(spec("first"))
        .child(spec("second"))
        .child(spec("third"))
        .start()
        .unwrap();
    s.shutdown(LONG).unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        [
            ("third", ExitReason::Shutdown),
            ("second", ExitReason::Shutdown),
            ("first", ExitReason::Shutdown)
        ]
    );
    assert!(s.shutdown(LONG).is_err(), "already stopped");
}

// ---------------------------------------------------------------------------------------
// Bounded mailboxes.

/// An actor that waits for a go-ahead before it takes anything, then takes `n` messages
/// and reports them.
fn gated(
    capacity: usize,
    n: usize,
) -> (
    Addr<u32>,
    weft::csp::Sender<()>,
    weft::csp::Receiver<Vec<u32>>,
) {
    let (go_tx, go_rx) = weft::csp::channel::<()>();
    let (tx, rx) = weft::csp::unbounded();
    let a = actor::Builder::new()
        .capacity(capacity)
        .spawn(move |ctx: &mut Ctx<u32>| {
            if go_rx.recv().is_err() {
                return;
            }
            let got: Vec<u32> = (0..n).map(|_| ctx.recv()).collect();
            tx.send(got).unwrap();
            let _ = go_rx.recv();
        })
        .unwrap();
    (a, go_tx, rx)
}

#[test]
fn a_full_mailbox_refuses_try_send_and_times_out_send_timeout() {
    let (a, go, got) = gated(2, 2);
    assert_eq!(a.capacity(), Some(2));
    assert_eq!(a.try_send(1), Ok(()));
    assert_eq!(a.send_timeout(2, Duration::from_millis(5)), Ok(()));
    assert_eq!(a.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!(
        a.send_timeout(4, Duration::from_millis(20)),
        Err(SendTimeoutError::Timeout(4))
    );
    assert_eq!(a.queued(), 2);
    go.send(()).unwrap();
    assert_eq!(got.recv_timeout(LONG), Ok(vec![1, 2]));
    // Both places are free again, and no more than both.
    assert_eq!(a.try_send(5), Ok(()));
    assert_eq!(a.try_send(6), Ok(()));
    assert_eq!(a.try_send(7), Err(TrySendError::Full(7)));
    drop(go);
    assert_eq!(wait_down(&a), ExitReason::Normal);
    assert_eq!(a.try_send(8), Err(TrySendError::Stopped(8)));
    assert_eq!(
        a.send_timeout(9, Duration::MAX),
        Err(SendTimeoutError::Stopped(9))
    );
    let unbounded = actor::spawn(|ctx: &mut Ctx<u32>| {
        let _ = ctx.recv();
    });
    assert_eq!(unbounded.capacity(), None);
}

/// Back-pressure: a fast sender never has more than the capacity queued, and every
/// message arrives, in order.
#[test]
fn a_bounded_mailbox_holds_a_fast_sender_back() {
    const N: u32 = 2_000;
    const CAP: usize = 4;
    let (tx, rx) = weft::csp::bounded(1);
    let a = actor::Builder::new()
        .capacity(CAP)
        .spawn(move |ctx: &mut Ctx<u32>| {
            for i in 0..N {
                assert_eq!(ctx.recv(), i);
                if i % 64 == 0 {
                    weft::sleep(Duration::from_micros(50));
                }
            }
            tx.send(()).unwrap();
        })
        .unwrap();
    let mut most = 0;
    for i in 0..N {
        a.send(i).unwrap();
        most = most.max(a.queued());
    }
    assert_eq!(rx.recv_timeout(LONG), Ok(()));
    assert!(most <= CAP, "{most} queued in a mailbox of {CAP}");
    assert!(most >= 1);
}

/// Senders waiting for room get their messages back when the actor stops: none hangs,
/// none is lost.
#[test]
fn senders_waiting_for_room_get_their_messages_back_at_exit() {
    let (a, go, _got) = gated(1, 0);
    a.send(0).unwrap();
    let waiting: Vec<_> = (1..=3u32)
        .map(|i| {
            let a = a.clone();
            weft::spawn(move || a.send(i))
        })
        .collect();
    // Let them block on the full mailbox (a sender that comes later finds the actor
    // stopped: the same outcome), then stop the actor without receiving.
    std::thread::sleep(Duration::from_millis(20));
    drop(go);
    assert_eq!(wait_down(&a), ExitReason::Normal);
    let mut back: Vec<u32> = waiting
        .into_iter()
        .map(|w| w.join().unwrap().unwrap_err().0)
        .collect();
    back.sort_unstable();
    assert_eq!(back, [1, 2, 3]);
}

#[test]
fn a_mailbox_capacity_out_of_range_is_an_error() {
    for n in [0, u32::MAX as usize + 1] {
        let e = actor::Builder::new()
            .capacity(n)
            .spawn(|_: &mut Ctx<u32>| {})
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{n}");
        assert!(e.to_string().contains("capacity"), "{e}");
    }
}

/// An exit signal trapped into a full bounded mailbox is queued at once (the dying actor
/// does not wait), and the room it borrowed is not handed out twice.
#[test]
fn trapped_exits_never_wait_for_room() {
    enum M {
        Exit(Exit),
        N(u32),
    }
    impl From<Exit> for M {
        fn from(e: Exit) -> Self {
            M::Exit(e)
        }
    }
    let (go_tx, go_rx) = weft::csp::channel::<()>();
    let (ready_tx, ready_rx) = weft::csp::channel::<()>();
    let (tx, rx) = weft::csp::unbounded();
    let trapper = actor::Builder::new()
        .capacity(1)
        .spawn(move |ctx: &mut Ctx<M>| {
            ctx.trap_exits();
            ready_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            for _ in 0..2 {
                tx.send(match ctx.recv() {
                    M::Exit(e) => format!("exit from {}", e.from.as_u64()),
                    M::N(n) => format!("n {n}"),
                })
                .unwrap();
            }
            go_rx.recv().unwrap();
            go_rx.recv().unwrap();
        })
        .unwrap();
    // Traps exits before the crasher exists (else the signal would kill it).
    ready_rx.recv().unwrap();
    assert!(trapper.try_send(M::N(1)).is_ok());
    let t = trapper.clone();
    let crasher = actor::spawn(move |ctx: &mut Ctx<u8>| {
        ctx.link(&t);
        panic!("boom");
    });
    // The crasher stops although the trapper's mailbox is full.
    assert!(matches!(wait_down(&crasher), ExitReason::Panic(_)));
    // A monitor made after the crasher began to stop gets its `Down` at once, possibly
    // before the crasher has signalled its links (as in Erlang, signals to different
    // actors are not ordered): the exit signal arrives soon after, without room.
    let t0 = std::time::Instant::now();
    while trapper.queued() < 2 && t0.elapsed() < LONG {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(trapper.queued(), 2);
    go_tx.send(()).unwrap();
    assert_eq!(rx.recv_timeout(LONG), Ok("n 1".to_string()));
    assert_eq!(
        rx.recv_timeout(LONG),
        Ok(format!("exit from {}", crasher.id().as_u64()))
    );
    go_tx.send(()).unwrap();
    // Both messages are gone; the mailbox has exactly its one place again.
    assert!(trapper.try_send(M::N(2)).is_ok());
    assert!(matches!(
        trapper.try_send(M::N(3)),
        Err(TrySendError::Full(_))
    ));
    go_tx.send(()).unwrap();
    assert_eq!(wait_down(&trapper), ExitReason::Normal);
}
