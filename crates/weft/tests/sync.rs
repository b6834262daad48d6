//! weft::sync from green and kernel threads together: exact counts, no lost wake-ups,
//! bounded waits, FIFO and fairness guarantees, the classic exercises.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft::sync::{
    AcquireError, AcquireTimeoutError, Barrier, Condvar, Mutex, Semaphore, SpinLock, TicketLock,
    TryAcquireError, WaitGroup, WouldBlock,
};

fn scaled(n: usize) -> usize {
    if cfg!(debug_assertions) {
        n / 5
    } else {
        n
    }
}

fn rt() -> weft::Runtime {
    weft::Runtime::builder().workers(2).build().unwrap()
}

/// Runs `green` green threads and `kernel` kernel threads of `body` and joins them.
fn mixed(green: usize, kernel: usize, body: impl Fn(usize) + Send + Sync + 'static) {
    let rt = rt();
    let body = Arc::new(body);
    let gs: Vec<_> = (0..green)
        .map(|i| {
            let b = body.clone();
            rt.spawn(move || b(i))
        })
        .collect();
    let ks: Vec<_> = (0..kernel)
        .map(|i| {
            let b = body.clone();
            std::thread::spawn(move || b(green + i))
        })
        .collect();
    for g in gs {
        g.join().unwrap();
    }
    for k in ks {
        k.join().unwrap();
    }
}

#[test]
fn mutex_counts_exactly_with_green_and_kernel_threads() {
    let per = scaled(20_000);
    let m = Arc::new(Mutex::new((0usize, 0usize)));
    let m2 = m.clone();
    mixed(50, 2, move |_| {
        for _ in 0..per / 10 {
            let mut g = m2.lock();
            // Two fields updated together: a torn critical section would split them.
            g.0 += 1;
            weft::yield_now(); // hold the lock across a switch sometimes
            g.1 += 1;
        }
    });
    let g = m.lock();
    assert_eq!(g.0, 52 * (per / 10));
    assert_eq!(g.0, g.1);
}

#[test]
fn mutex_try_lock_and_timeouts() {
    let m = Arc::new(Mutex::new(0));
    let g = m.lock();
    assert!(m.is_locked());
    assert_eq!(m.try_lock().err(), Some(WouldBlock));
    let t = Instant::now();
    assert!(m.lock_timeout(Duration::from_millis(20)).is_err());
    assert!(t.elapsed() >= Duration::from_millis(20));
    // From a green thread too.
    let m2 = m.clone();
    let timed_out = weft::spawn(move || m2.lock_timeout(Duration::from_millis(20)).is_err())
        .join()
        .unwrap();
    assert!(timed_out);
    drop(g);
    assert!(m.lock_timeout(Duration::from_millis(20)).is_ok());
}

/// Waiters with short timeouts race unlocks: every acquisition that succeeds is
/// counted, nobody hangs (all threads finish), and the lock ends up free.
#[test]
fn mutex_timeouts_racing_unlocks_lose_nothing() {
    let m = Arc::new(Mutex::new(0usize));
    let got = Arc::new(AtomicUsize::new(0));
    let (m2, got2) = (m.clone(), got.clone());
    let per = scaled(2_000);
    mixed(20, 2, move |i| {
        for k in 0..per / 10 {
            let d = Duration::from_micros(((i + k) % 5) as u64 * 20);
            if let Ok(mut g) = m2.lock_timeout(d) {
                *g += 1;
                got2.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    assert!(!m.is_locked());
    assert_eq!(*m.lock(), got.load(Ordering::Relaxed));
}

#[test]
fn unlock_fair_hands_the_lock_to_the_waiter() {
    let m = Arc::new(Mutex::new(Vec::new()));
    let g = m.lock();
    let m2 = m.clone();
    let waiter = std::thread::spawn(move || m2.lock().push("waiter"));
    // Let the waiter queue up.
    std::thread::sleep(Duration::from_millis(50));
    weft::sync::MutexGuard::unlock_fair(g);
    // The lock went straight to the waiter: a newcomer cannot take it first.
    let mut mine = m.lock();
    mine.push("newcomer");
    drop(mine);
    waiter.join().unwrap();
    assert_eq!(*m.lock(), ["waiter", "newcomer"]);
}

/// Under heavy contention from 1 000 green threads and a kernel thread, no acquisition
/// waits without bound: the handoff after 0.5 ms keeps the worst wait small.
#[test]
fn no_waiter_starves() {
    let m = Arc::new(Mutex::new(0u64));
    let worst = Arc::new(AtomicUsize::new(0));
    let (m2, w2) = (m.clone(), worst.clone());
    let per = if cfg!(debug_assertions) { 20 } else { 100 };
    mixed(1000, 1, move |_| {
        for _ in 0..per {
            let t = Instant::now();
            let mut g = m2.lock();
            w2.fetch_max(t.elapsed().as_micros() as usize, Ordering::Relaxed);
            *g += 1;
        }
    });
    assert_eq!(*m.lock(), 1001 * per as u64);
    let worst = Duration::from_micros(worst.load(Ordering::Relaxed) as u64);
    // Generous for a loaded 2-core CI machine; a starving waiter would wait for the
    // whole run (seconds).
    assert!(worst < Duration::from_millis(500), "worst wait {worst:?}");
}

#[test]
fn dining_philosophers_with_ordered_forks() {
    let n = 5;
    let meals = scaled(1_000);
    let forks: Arc<Vec<Mutex<usize>>> = Arc::new((0..n).map(|_| Mutex::new(0)).collect());
    let f2 = forks.clone();
    mixed(n, 0, move |p| {
        let (a, b) = (p, (p + 1) % n);
        let (first, second) = (a.min(b), a.max(b)); // ordered: no cycle, no deadlock
        for _ in 0..meals {
            let mut x = f2[first].lock();
            let mut y = f2[second].lock();
            *x += 1;
            *y += 1;
        }
    });
    let total: usize = forks.iter().map(|f| *f.lock()).sum();
    assert_eq!(total, 2 * n * meals);
}

#[test]
fn dining_philosophers_with_a_butler() {
    let n = 5;
    let meals = scaled(1_000);
    let forks: Arc<Vec<Mutex<usize>>> = Arc::new((0..n).map(|_| Mutex::new(0)).collect());
    // The butler seats at most n - 1 at the table: someone can always eat.
    let butler = Arc::new(Semaphore::new(n - 1));
    let (f2, b2) = (forks.clone(), butler.clone());
    mixed(n, 0, move |p| {
        for _ in 0..meals {
            let _seat = b2.acquire(1).unwrap();
            let mut left = f2[p].lock();
            weft::yield_now();
            let mut right = f2[(p + 1) % n].lock();
            *left += 1;
            *right += 1;
        }
    });
    let total: usize = forks.iter().map(|f| *f.lock()).sum();
    assert_eq!(total, 2 * n * meals);
    assert_eq!(butler.available_permits(), n - 1);
}

#[test]
fn condvar_producer_consumer_and_spurious_tolerance() {
    let items = scaled(10_000);
    let q = Arc::new((
        Mutex::new(std::collections::VecDeque::new()),
        Condvar::new(),
    ));
    let q2 = q.clone();
    let consumer = weft::spawn(move || {
        let mut sum = 0usize;
        for _ in 0..items {
            let (m, cv) = &*q2;
            let mut g = cv.wait_while(m.lock(), |q| q.is_empty());
            sum += g.pop_front().unwrap();
        }
        sum
    });
    let producer = std::thread::spawn({
        let q = q.clone();
        move || {
            for i in 0..items {
                q.0.lock().push_back(i);
                q.1.notify_one();
                // Extra notifications: the consumer must tolerate wake-ups with nothing.
                if i % 7 == 0 {
                    q.1.notify_all();
                }
            }
        }
    });
    producer.join().unwrap();
    assert_eq!(consumer.join().unwrap(), items * (items - 1) / 2);
}

#[test]
fn condvar_wait_timeout_times_out() {
    let m = Mutex::new(());
    let cv = Condvar::new();
    let t = Instant::now();
    let (g, r) = cv.wait_timeout(m.lock(), Duration::from_millis(20));
    assert!(r.timed_out());
    assert!(t.elapsed() >= Duration::from_millis(20));
    drop(g);
    let (g, r) = cv.wait_while_timeout(m.lock(), Duration::from_millis(5), |_| true);
    assert!(r.timed_out());
    drop(g);
    assert!(!cv.notify_one());
}

#[test]
fn semaphore_limits_concurrency_exactly() {
    let sem = Arc::new(Semaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (s2, i2, m2, d2) = (sem.clone(), inside.clone(), max.clone(), done.clone());
    let per = scaled(500);
    mixed(100, 2, move |_| {
        for _ in 0..per / 10 {
            let _p = s2.acquire(1).unwrap();
            let now = i2.fetch_add(1, Ordering::SeqCst) + 1;
            m2.fetch_max(now, Ordering::SeqCst);
            weft::yield_now();
            i2.fetch_sub(1, Ordering::SeqCst);
            d2.fetch_add(1, Ordering::Relaxed);
        }
    });
    assert!(max.load(Ordering::SeqCst) <= 3);
    assert_eq!(done.load(Ordering::Relaxed), 102 * (per / 10));
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn semaphore_is_fifo_for_large_requests() {
    let sem = Arc::new(Semaphore::new(0));
    let order = Arc::new(Mutex::new(Vec::new()));
    // A request for 5 queues first; then requests for 1 queue behind it.
    let big = {
        let (s, o) = (sem.clone(), order.clone());
        std::thread::spawn(move || {
            let p = s.acquire(5).unwrap();
            o.lock().push(5);
            drop(p);
        })
    };
    std::thread::sleep(Duration::from_millis(30));
    let smalls: Vec<_> = (0..3)
        .map(|_| {
            let (s, o) = (sem.clone(), order.clone());
            std::thread::spawn(move || {
                let p = s.acquire(1).unwrap();
                o.lock().push(1);
                drop(p);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(30));
    // Small releases do not let the small requests overtake the big one.
    for _ in 0..4 {
        sem.add_permits(1);
    }
    std::thread::sleep(Duration::from_millis(30));
    assert!(
        order.lock().is_empty(),
        "nobody may overtake the head request"
    );
    assert_eq!(sem.try_acquire(1).err(), Some(TryAcquireError::NoPermits));
    sem.add_permits(1);
    big.join().unwrap();
    for s in smalls {
        s.join().unwrap();
    }
    assert_eq!(order.lock()[0], 5);
    assert_eq!(order.lock().len(), 4);
    assert_eq!(sem.available_permits(), 5);
}

#[test]
fn semaphore_bad_input_and_close() {
    let sem = Arc::new(Semaphore::new(2));
    let too_many = Semaphore::MAX_PERMITS + 1;
    assert!(matches!(
        sem.acquire(too_many),
        Err(AcquireError::TooMany { .. })
    ));
    assert!(sem
        .acquire(too_many)
        .unwrap_err()
        .to_string()
        .contains("at most"));
    assert!(matches!(
        sem.acquire_timeout(3, Duration::from_millis(10)),
        Err(AcquireTimeoutError::TimedOut)
    ));
    let p = sem.try_acquire(2).unwrap();
    assert_eq!(p.count(), 2);
    p.forget();
    assert_eq!(sem.available_permits(), 0);
    // A waiter blocked on a closed semaphore gets an error, not a hang.
    let s2 = sem.clone();
    let waiter = weft::spawn(move || s2.acquire(1).err());
    std::thread::sleep(Duration::from_millis(20));
    sem.close();
    assert_eq!(waiter.join().unwrap(), Some(AcquireError::Closed));
    assert_eq!(sem.acquire(1).err(), Some(AcquireError::Closed));
    assert_eq!(sem.try_acquire(1).err(), Some(TryAcquireError::Closed));
    assert!(sem.is_closed());
}

#[test]
fn spinlocks_count_exactly() {
    let s = Arc::new(SpinLock::new(0usize));
    let t = Arc::new(TicketLock::new(0usize));
    let (s2, t2) = (s.clone(), t.clone());
    let per = scaled(5_000);
    mixed(8, 2, move |_| {
        for _ in 0..per / 10 {
            *s2.lock() += 1;
            *t2.lock() += 1;
        }
    });
    assert_eq!(*s.lock(), 10 * (per / 10));
    assert_eq!(*t.lock(), 10 * (per / 10));
    let g = s.lock();
    assert!(s.try_lock().is_err());
    drop(g);
    let g = t.lock();
    assert!(t.try_lock().is_err());
    drop(g);
    assert!(t.try_lock().is_ok());
}

#[test]
fn barrier_releases_each_generation_together() {
    let n = 8;
    let rounds = 50;
    let barrier = Arc::new(Barrier::new(n));
    let arrived = Arc::new(AtomicUsize::new(0));
    let leaders = Arc::new(AtomicUsize::new(0));
    let (b2, a2, l2) = (barrier.clone(), arrived.clone(), leaders.clone());
    mixed(n - 2, 2, move |_| {
        for r in 0..rounds {
            a2.fetch_add(1, Ordering::SeqCst);
            if b2.wait().is_leader() {
                l2.fetch_add(1, Ordering::SeqCst);
            }
            // Nobody passes the barrier before all n of this round arrived.
            assert!(a2.load(Ordering::SeqCst) >= (r + 1) * n);
        }
    });
    assert_eq!(leaders.load(Ordering::SeqCst), rounds);
}

#[test]
fn wait_group_waits_for_every_member() {
    let wg = WaitGroup::new();
    let done = Arc::new(AtomicUsize::new(0));
    let rt = rt();
    for _ in 0..200 {
        let (wg, done) = (wg.clone(), done.clone());
        // Detached on purpose: the wait group is what we wait on.
        let _detached = rt.spawn(move || {
            weft::sleep(Duration::from_millis(1));
            done.fetch_add(1, Ordering::SeqCst);
            drop(wg);
        });
    }
    wg.wait();
    assert_eq!(done.load(Ordering::SeqCst), 200);
}

#[test]
fn a_lock_held_by_a_parked_green_thread_does_not_block_its_worker() {
    // One worker: the holder parks while holding the lock; the waiter must park too
    // (not spin the worker), so the holder can be woken and finish.
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let m = Arc::new(Mutex::new(0));
    let flag = Arc::new(AtomicBool::new(false));
    let (m2, f2) = (m.clone(), flag.clone());
    let holder = rt.spawn(move || {
        let mut g = m2.lock();
        while !f2.load(Ordering::Acquire) {
            weft::park::park();
        }
        *g += 1;
    });
    let m3 = m.clone();
    let waiter = rt.spawn(move || *m3.lock() += 1);
    std::thread::sleep(Duration::from_millis(20));
    flag.store(true, Ordering::Release);
    holder.thread().unpark();
    holder.join().unwrap();
    waiter.join().unwrap();
    assert_eq!(*m.lock(), 2);
}

/// Many kernel threads taking 1 or 2 of 2 permits and giving them back, fast: a permit
/// lost or duplicated between a release's slow path and concurrent fast paths would
/// strand everyone (caught by the bounded waits) or let 3 in (caught by the count).
#[test]
fn semaphore_permits_are_conserved_under_churn() {
    let rounds = scaled(50_000);
    let sem = Arc::new(Semaphore::new(2));
    let inside = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..4)
        .map(|k| {
            let (sem, inside) = (sem.clone(), inside.clone());
            std::thread::spawn(move || {
                for i in 0..rounds {
                    let n = 1 + (i + k) % 2;
                    let p = sem
                        .acquire_timeout(n, Duration::from_secs(10))
                        .unwrap_or_else(|e| panic!("round {i}: {e}: permits were lost"));
                    let now = inside.fetch_add(n, Ordering::SeqCst) + n;
                    assert!(now <= 2, "{now} permits in use out of 2");
                    inside.fetch_sub(n, Ordering::SeqCst);
                    drop(p);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(sem.available_permits(), 2);
}

/// Green threads left parked on locks when their runtime shuts down never run again: an
/// unlock must not hand them the lock (or permits), which they could never give back.
#[test]
fn a_claimant_of_a_dropped_runtime_leaves_the_mutex_free() {
    // A green waiter that has waited past `GREEN_CLAIM_AFTER` before parking claims the
    // next acquisition; when its runtime is dropped it never runs again, and its claim
    // must not keep the lock from everyone else.
    use std::time::{Duration, Instant};
    use weft::sync::Mutex;
    let m = std::sync::Arc::new(Mutex::new(0u32));
    let g = m.lock();
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    // A neighbour that computes between yields: each yield of the waiter's spin phase
    // then lasts long enough for the waiter to claim.
    let _busy = rt.spawn(|| {
        let end = Instant::now() + Duration::from_millis(20);
        while Instant::now() < end {
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(300) {
                std::hint::spin_loop();
            }
            weft::yield_now();
        }
    });
    let m2 = m.clone();
    let _a = rt.spawn(move || *m2.lock() += 1);
    std::thread::sleep(Duration::from_millis(100));
    drop(rt);
    // A kernel thread queues behind the dead claimant; the unlock must wake it.
    let (tx, rx) = std::sync::mpsc::channel();
    let m3 = m.clone();
    std::thread::spawn(move || {
        *m3.lock() += 10;
        let _ = tx.send(());
    });
    std::thread::sleep(Duration::from_millis(50));
    drop(g);
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the waiter behind a dead claimant was never woken");
    assert!(
        m.try_lock().is_ok(),
        "the lock stayed claimed by a thread that will never run"
    );
    assert_eq!(*m.lock(), 10);
}

#[test]
fn threads_of_a_dropped_runtime_are_not_handed_locks() {
    use std::time::Duration;
    use weft::sync::{Mutex, Semaphore};
    let m = std::sync::Arc::new(Mutex::new(0u32));
    let s = std::sync::Arc::new(Semaphore::new(0));
    let g = m.lock();
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let (m2, s2) = (m.clone(), s.clone());
    let _a = rt.spawn(move || *m2.lock() += 1);
    let _b = rt.spawn(move || s2.acquire(1).map(|p| p.forget()));
    // Both park (and wait long enough that an unlock would hand the mutex over).
    std::thread::sleep(Duration::from_millis(100));
    drop(rt);
    drop(g);
    s.add_permits(1);
    assert!(
        m.try_lock().is_ok(),
        "the mutex went to a thread that will never run"
    );
    assert!(
        s.try_acquire(1).is_ok(),
        "the permit went to a thread that will never run"
    );
}

#[test]
fn a_draining_writer_of_a_dropped_runtime_leaves_the_rwlock_usable() {
    // A green writer that waits for readers to leave, then is abandoned with its
    // runtime, must not leave the lock held or draining for ever.
    use std::time::Duration;
    let l = std::sync::Arc::new(weft::sync::RwLock::new(0u32));
    let r = l.read();
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let l2 = l.clone();
    let _w = rt.spawn(move || *l2.write() += 1);
    std::thread::sleep(Duration::from_millis(100));
    drop(rt);
    drop(r);
    assert!(
        l.try_write().is_ok(),
        "the lock stayed taken by a writer that will never run"
    );
    assert!(
        l.try_read().is_ok(),
        "readers are kept out by a writer that will never run"
    );
}
