//! `weft::sync::RwLock`: modes, upgrades and downgrades, timeouts racing unlocks,
//! starvation bounds, and exact-count stress with green and kernel threads mixed.
//! Stress sizes are bounded and scale down in debug builds.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use weft::sync::{
    RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard, TimedOut, WouldBlock,
};

fn scaled(n: usize) -> usize {
    if cfg!(debug_assertions) {
        (n / 8).max(1)
    } else {
        n
    }
}

fn runtime() -> weft::Runtime {
    weft::Runtime::builder().workers(2).build().unwrap()
}

/// Waits (bounded) until `cond` holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Two fields a writer always changes together: a torn read sees them differ.
#[derive(Debug, Default)]
struct Pair {
    a: usize,
    b: usize,
}

impl Pair {
    fn bump(&mut self) {
        self.a += 1;
        // Give a reader that got in wrongly a chance to see the pair torn.
        std::hint::black_box(&mut *self);
        self.b += 1;
    }

    fn check(&self) {
        assert_eq!(self.a, self.b, "torn read");
    }
}

#[test]
fn try_ops_follow_the_modes() {
    let mut l = RwLock::new(1);
    *l.get_mut() += 1;
    assert!(!l.is_locked());
    {
        let r1 = l.try_read().unwrap();
        let r2 = l.read();
        assert_eq!(*r1 + *r2, 4);
        assert!(l.is_locked() && !l.is_locked_exclusive());
        assert_eq!(l.try_write().unwrap_err(), WouldBlock);
        // The upgradable share coexists with plain readers, but not with another one.
        let u = l.try_upgradable_read().unwrap();
        assert!(l.try_upgradable_read().is_err());
        assert!(l.try_read().is_ok());
        // Other readers inside: no upgrade yet.
        let u = RwLockUpgradableReadGuard::try_upgrade(u).unwrap_err();
        drop((r1, r2));
        let w = RwLockUpgradableReadGuard::try_upgrade(u).unwrap();
        assert!(l.is_locked_exclusive());
        assert_eq!(l.try_read().unwrap_err(), WouldBlock);
        assert!(l.try_upgradable_read().is_err());
        assert!(l.try_write().is_err());
        assert_eq!(format!("{l:?}"), "RwLock { data: <locked> }");
        assert_eq!(format!("{w:?}"), "2");
    }
    assert_eq!(format!("{l:?}"), "RwLock { data: 2 }");
    let w = l.try_write().unwrap();
    assert!(l.read_timeout(Duration::from_millis(5)).is_err());
    assert_eq!(
        l.write_timeout(Duration::from_millis(5)).unwrap_err(),
        TimedOut
    );
    assert!(l
        .upgradable_read_deadline(Instant::now() + Duration::from_millis(5))
        .is_err());
    drop(w);
    assert!(!l.is_locked());
    assert_eq!(l.into_inner(), 2);
    assert_eq!(*RwLock::<Vec<u8>>::default().read(), Vec::<u8>::new());
    assert_eq!(*RwLock::from(7).write(), 7);
}

#[test]
fn unsized_data() {
    let l: Box<RwLock<[u32]>> = Box::new(RwLock::new([1, 2, 3]));
    l.write()[0] = 7;
    assert_eq!(l.read().iter().sum::<u32>(), 12);
    let s: &RwLock<dyn std::fmt::Debug> = &RwLock::new(5u8);
    assert_eq!(format!("{:?}", &*s.read()), "5");
}

#[test]
fn upgrade_waits_for_readers_and_shuts_out_new_ones() {
    let l = Arc::new(RwLock::new(0));
    let r = l.read();
    let upgraded = Arc::new(AtomicBool::new(false));
    let h = {
        let (l, upgraded) = (l.clone(), upgraded.clone());
        std::thread::spawn(move || {
            let u = l.upgradable_read();
            let mut w = RwLockUpgradableReadGuard::upgrade(u);
            upgraded.store(true, Ordering::SeqCst);
            *w += 1;
        })
    };
    // The upgrader owns the writer bit once new readers are refused.
    wait_until("the upgrade starts", || l.try_read().is_err());
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        !upgraded.load(Ordering::SeqCst),
        "upgraded with a reader inside"
    );
    assert_eq!(*r, 0);
    drop(r);
    h.join().unwrap();
    assert_eq!(*l.read(), 1);
}

/// Time for a just-spawned thread to reach its park in the lock's queue (threads spin
/// for microseconds first). It also exceeds the fairness bound, so the woken waiters
/// below are handed the lock and the outcome does not depend on wake-up races.
const SETTLE: Duration = Duration::from_millis(50);

#[test]
fn downgrade_lets_waiting_readers_in_but_not_writers() {
    let rt = runtime();
    let l = Arc::new(RwLock::new(0));
    let mut w = l.write();
    let read_seen = Arc::new(AtomicUsize::new(usize::MAX));
    // A green reader, then a kernel writer, queue up behind the write lock.
    let reader = {
        let (l, seen) = (l.clone(), read_seen.clone());
        rt.spawn(move || seen.store(*l.read(), Ordering::SeqCst))
    };
    std::thread::sleep(SETTLE);
    let writer = {
        let l = l.clone();
        std::thread::spawn(move || *l.write() += 10)
    };
    std::thread::sleep(SETTLE);
    *w = 1;
    let r = RwLockWriteGuard::downgrade(w);
    // The reader gets in alongside us and sees our write; the writer cannot.
    wait_until("the queued reader gets in", || {
        read_seen.load(Ordering::SeqCst) != usize::MAX
    });
    assert_eq!(read_seen.load(Ordering::SeqCst), 1);
    assert!(!writer.is_finished());
    assert_eq!(*r, 1);
    drop(r);
    reader.join().unwrap();
    writer.join().unwrap();
    assert_eq!(*l.read(), 11);
}

#[test]
fn downgrade_keeps_queue_order_a_writer_queued_first_goes_first() {
    let rt = runtime();
    let l = Arc::new(RwLock::new(0));
    let w = l.write();
    let writer = {
        let l = l.clone();
        rt.spawn(move || *l.write() += 10)
    };
    std::thread::sleep(SETTLE);
    let reader = {
        let l = l.clone();
        std::thread::spawn(move || *l.read())
    };
    std::thread::sleep(SETTLE);
    let r = RwLockWriteGuard::downgrade(w);
    // The writer, queued first, now owns the writer bit and waits for our share; the
    // reader queued behind it stays out.
    wait_until("the writer takes the writer bit", || {
        l.is_locked_exclusive()
    });
    std::thread::sleep(Duration::from_millis(10));
    assert!(!reader.is_finished() && !writer.is_finished());
    drop(r);
    writer.join().unwrap();
    assert_eq!(reader.join().unwrap(), 10);
}

#[test]
fn downgrade_to_upgradable_keeps_writers_and_upgraders_out() {
    let l = RwLock::new(0);
    let mut w = l.write();
    *w = 3;
    let u = RwLockWriteGuard::downgrade_to_upgradable(w);
    assert_eq!(*l.try_read().unwrap(), 3);
    assert!(l.try_upgradable_read().is_err());
    assert!(l.try_write().is_err());
    let r: RwLockReadGuard<'_, i32> = RwLockUpgradableReadGuard::downgrade(u);
    let u2 = l.try_upgradable_read().unwrap();
    drop(r);
    let mut w = RwLockUpgradableReadGuard::upgrade(u2);
    *w += 1;
    drop(w);
    assert_eq!(*l.read(), 4);
}

#[test]
fn fair_unlock_hands_over_to_queued_readers() {
    let l = Arc::new(RwLock::new(0));
    let w = l.write();
    let release = Arc::new(Barrier::new(4));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (l, release) = (l.clone(), release.clone());
            std::thread::spawn(move || {
                let g = l.read();
                release.wait();
                *g
            })
        })
        .collect();
    // Kernel threads spin for microseconds before parking; give them ample time.
    std::thread::sleep(Duration::from_millis(100));
    RwLockWriteGuard::unlock_fair(w);
    // Handed over: the queued readers own their shares before they run.
    assert!(l.try_write().is_err());
    release.wait();
    for r in readers {
        assert_eq!(r.join().unwrap(), 0);
    }
    assert!(l.try_write().is_ok());
}

/// A green thread blocked on the lock parks itself, not its worker: with one worker,
/// the green holder must still run and unlock.
#[test]
fn green_waiter_parks_its_green_thread_only() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let l = Arc::new(RwLock::new(0));
    let waiting = Arc::new(AtomicBool::new(false));
    let holder = {
        let (l, waiting) = (l.clone(), waiting.clone());
        rt.spawn(move || {
            let mut w = l.write();
            while !waiting.load(Ordering::SeqCst) {
                weft::yield_now();
            }
            weft::sleep(Duration::from_millis(10));
            *w += 1;
        })
    };
    let waiter = {
        let (l, waiting) = (l.clone(), waiting.clone());
        rt.spawn(move || {
            waiting.store(true, Ordering::SeqCst);
            let r = l.read();
            *r
        })
    };
    wait_until("both green threads finish", || {
        holder.is_finished() && waiter.is_finished()
    });
    holder.join().unwrap();
    assert_eq!(waiter.join().unwrap(), 1);
}

/// Green and kernel threads mixed, every mode: the pair is never torn and every
/// successful write is counted exactly once.
#[test]
fn stress_mixed_green_and_kernel_threads_counts_exactly() {
    let rt = runtime();
    let rounds = scaled(4_000);
    let greens = 64;
    let kernels = 3;
    let l = Arc::new(RwLock::new(Pair::default()));
    let work = move |l: Arc<RwLock<Pair>>, seed: usize| -> usize {
        let mut wrote = 0;
        for i in 0..rounds {
            match (i * 7 + seed) % 10 {
                0 | 1 => {
                    l.write().bump();
                    wrote += 1;
                }
                2 => {
                    let u = l.upgradable_read();
                    u.check();
                    if i % 3 == 0 {
                        RwLockUpgradableReadGuard::upgrade(u).bump();
                        wrote += 1;
                    }
                }
                3 => {
                    if let Ok(mut w) = l.write_timeout(Duration::from_micros(100)) {
                        w.bump();
                        wrote += 1;
                        RwLockWriteGuard::downgrade(w).check();
                    }
                }
                4 => {
                    if let Ok(r) = l.read_timeout(Duration::from_micros(50)) {
                        r.check();
                    }
                }
                5 => {
                    if let Ok(mut w) = l.try_write() {
                        w.bump();
                        wrote += 1;
                    }
                }
                6 => {
                    let mut w = l.write();
                    w.bump();
                    wrote += 1;
                    let u = RwLockWriteGuard::downgrade_to_upgradable(w);
                    u.check();
                    if let Ok(mut w) = RwLockUpgradableReadGuard::try_upgrade(u) {
                        w.bump();
                        wrote += 1;
                    }
                }
                7 => {
                    if let Ok(u) = l.try_upgradable_read() {
                        RwLockUpgradableReadGuard::downgrade(u).check();
                    }
                }
                _ => {
                    let r = l.read();
                    r.check();
                    if i % 16 == 0 {
                        weft::yield_now();
                    }
                    r.check();
                }
            }
        }
        wrote
    };
    let green: Vec<_> = (0..greens)
        .map(|g| {
            let l = l.clone();
            rt.spawn(move || work(l, g))
        })
        .collect();
    let kernel: Vec<_> = (0..kernels)
        .map(|k| {
            let l = l.clone();
            std::thread::spawn(move || work(l, 1000 + k))
        })
        .collect();
    let mut wrote: usize = green.into_iter().map(|h| h.join().unwrap()).sum();
    wrote += kernel.into_iter().map(|h| h.join().unwrap()).sum::<usize>();
    assert!(!l.is_locked());
    let l = Arc::try_unwrap(l).unwrap();
    let p = l.into_inner();
    p.check();
    assert_eq!(p.a, wrote);
}

/// Timed waits racing unlocks in every mode: each returns within its timeout plus a
/// bound (no lost wake-up leaves it hanging), and nobody leaves stale state behind
/// (the lock ends free and usable).
#[test]
fn timeouts_racing_unlocks_leave_no_stale_state() {
    let rt = runtime();
    let rounds = scaled(3_000);
    let l = Arc::new(RwLock::new(Pair::default()));
    let got = Arc::new(AtomicUsize::new(0));
    let timed_out = Arc::new(AtomicUsize::new(0));
    let work = {
        let (got, timed_out) = (got.clone(), timed_out.clone());
        move |l: Arc<RwLock<Pair>>, seed: usize| -> usize {
            let mut wrote = 0;
            for i in 0..rounds {
                let timeout = Duration::from_micros(((i * 13 + seed * 7) % 5) as u64 * 40);
                let start = Instant::now();
                let ok = match (i + seed) % 4 {
                    0 => l.read_timeout(timeout).map(|r| r.check()).is_ok(),
                    1 => l
                        .upgradable_read_timeout(timeout)
                        .map(|u| u.check())
                        .is_ok(),
                    2 => l
                        .write_timeout(timeout)
                        .map(|mut w| {
                            w.bump();
                            wrote += 1;
                        })
                        .is_ok(),
                    _ => {
                        // A holder that keeps the lock briefly, so timeouts happen.
                        let mut w = l.write();
                        w.bump();
                        wrote += 1;
                        let spin_until = Instant::now() + Duration::from_micros(60);
                        while Instant::now() < spin_until {
                            std::hint::spin_loop();
                        }
                        true
                    }
                };
                let took = start.elapsed();
                assert!(
                    took < timeout + Duration::from_secs(2),
                    "a timed wait of {timeout:?} took {took:?}"
                );
                if ok {
                    got.fetch_add(1, Ordering::Relaxed);
                } else {
                    timed_out.fetch_add(1, Ordering::Relaxed);
                }
            }
            wrote
        }
    };
    let green: Vec<_> = (0..8)
        .map(|g| {
            let (l, work) = (l.clone(), work.clone());
            rt.spawn(move || work(l, g))
        })
        .collect();
    let kernel: Vec<_> = (0..2)
        .map(|k| {
            let (l, work) = (l.clone(), work.clone());
            std::thread::spawn(move || work(l, 100 + k))
        })
        .collect();
    let mut wrote: usize = green.into_iter().map(|h| h.join().unwrap()).sum();
    wrote += kernel.into_iter().map(|h| h.join().unwrap()).sum::<usize>();
    let (got, timed_out) = (
        got.load(Ordering::Relaxed),
        timed_out.load(Ordering::Relaxed),
    );
    assert_eq!(got + timed_out, 10 * rounds);
    assert!(got > 0, "no timed attempt ever succeeded");
    // No stale state: free, and every mode is available at once.
    assert!(!l.is_locked());
    drop(l.try_write().unwrap());
    drop(l.try_upgradable_read().unwrap());
    drop(l.try_read().unwrap());
    assert_eq!(l.read().a, wrote);
    l.read().check();
}

/// A writer that gives up while readers are still inside gives the writer bit back and
/// lets in the readers it held back, without waiting for the readers inside.
#[test]
fn writer_timing_out_while_draining_lets_readers_back_in() {
    let l = Arc::new(RwLock::new(0));
    let r = l.read();
    let writer = {
        let l = l.clone();
        std::thread::spawn(move || l.write_timeout(Duration::from_millis(200)).map(|_| ()))
    };
    wait_until("the writer owns the writer bit", || l.is_locked_exclusive());
    // New readers wait behind the writer...
    let late_reader = {
        let l = l.clone();
        std::thread::spawn(move || *l.read())
    };
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        !late_reader.is_finished(),
        "a reader overtook a waiting writer"
    );
    // ...until it gives up; we still hold our read share all along.
    assert_eq!(writer.join().unwrap(), Err(TimedOut));
    wait_until("the held-back reader gets in", || late_reader.is_finished());
    assert_eq!(late_reader.join().unwrap(), 0);
    assert_eq!(*r, 0);
    drop(r);
    assert!(!l.is_locked());
    assert!(l.try_write().is_ok());
}

/// Writer preference: four threads (two green, two kernel) keep the lock read-locked
/// without a gap, and a writer still gets in within a second, every time.
#[test]
fn writer_not_starved_by_continuous_readers() {
    let rt = runtime();
    let l = Arc::new(RwLock::new(0usize));
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (l, stop, reads) = (l.clone(), stop.clone(), reads.clone());
        move || {
            while !stop.load(Ordering::Relaxed) {
                let g = l.read();
                // Hold it a little, so the readers' shares overlap.
                let until = Instant::now() + Duration::from_micros(20);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                drop(g);
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    let greens: Vec<_> = (0..2).map(|_| rt.spawn(reader.clone())).collect();
    let kernels: Vec<_> = (0..2).map(|_| std::thread::spawn(reader.clone())).collect();
    wait_until("the readers run", || reads.load(Ordering::Relaxed) > 100);
    let mut worst = Duration::ZERO;
    for i in 0..10 {
        let start = Instant::now();
        let mut w = l.write();
        let took = start.elapsed();
        *w += 1;
        drop(w);
        assert!(took < Duration::from_secs(1), "writer {i} waited {took:?}");
        worst = worst.max(took);
        let before = reads.load(Ordering::Relaxed);
        wait_until("the readers go on", || {
            reads.load(Ordering::Relaxed) > before
        });
    }
    eprintln!("longest writer wait among continuous readers: {worst:?}");
    stop.store(true, Ordering::Relaxed);
    greens.into_iter().for_each(|h| h.join().unwrap());
    kernels.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(*l.read(), 10);
}

/// Readers are not starved by a stream of writers: writers relock at once, yet each
/// waiting reader gets in within a second.
#[test]
fn readers_not_starved_by_continuous_writers() {
    let rt = runtime();
    let l = Arc::new(RwLock::new(0usize));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (l, stop) = (l.clone(), stop.clone());
        move || {
            while !stop.load(Ordering::Relaxed) {
                let mut g = l.write();
                *g += 1;
                let until = Instant::now() + Duration::from_micros(10);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
            }
        }
    };
    let greens: Vec<_> = (0..2).map(|_| rt.spawn(writer.clone())).collect();
    let kernels: Vec<_> = (0..2).map(|_| std::thread::spawn(writer.clone())).collect();
    wait_until("the writers run", || *l.read() > 100);
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        let start = Instant::now();
        let seen = if i % 2 == 0 {
            *l.read()
        } else {
            let l = l.clone();
            rt.spawn(move || *l.read()).join().unwrap()
        };
        let took = start.elapsed();
        assert!(seen > 0);
        assert!(took < Duration::from_secs(1), "reader {i} waited {took:?}");
        worst = worst.max(took);
    }
    eprintln!("longest reader wait among continuous writers: {worst:?}");
    stop.store(true, Ordering::Relaxed);
    greens.into_iter().for_each(|h| h.join().unwrap());
    kernels.into_iter().for_each(|h| h.join().unwrap());
}

/// A green thread's timed wait that succeeds early leaves its timer behind; a later
/// untimed wait must not take that timer's firing for its own time-out (and so must
/// not return without the lock).
#[test]
fn untimed_wait_outlives_an_earlier_timed_wait() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let l = Arc::new(RwLock::new(0));
    let read_done = Arc::new(AtomicBool::new(false));
    let relocked = Arc::new(AtomicBool::new(false));
    let released = Arc::new(AtomicBool::new(false));
    let w = l.write();
    let g = {
        let l = l.clone();
        let (read_done, relocked, released) =
            (read_done.clone(), relocked.clone(), released.clone());
        rt.spawn(move || {
            // Parks with a deadline 100 ms out, and gets the lock well before.
            drop(l.read_timeout(Duration::from_millis(100)).unwrap());
            read_done.store(true, Ordering::SeqCst);
            // (Yield, not sleep: a timed sleep would replace the timer.)
            while !relocked.load(Ordering::SeqCst) {
                weft::yield_now();
            }
            // Parks without a deadline while the stale timer fires.
            let mut w = l.write();
            assert!(released.load(Ordering::SeqCst), "write() returned unlocked");
            *w += 1;
        })
    };
    std::thread::sleep(Duration::from_millis(10));
    drop(w);
    wait_until("the timed reader is done", || {
        read_done.load(Ordering::SeqCst)
    });
    let w = l.write();
    relocked.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(250));
    released.store(true, Ordering::SeqCst);
    drop(w);
    g.join().unwrap();
    assert_eq!(*l.read(), 1);
}
