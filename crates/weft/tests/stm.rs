//! `weft::stm`: conservation and opacity under contention, retry wake-ups, or_else, aborts,
//! TQueue, and random histories against a sequential model.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use weft::stm::{
    atomically, atomically_deadline, atomically_result, atomically_timeout, check, retry,
    try_atomically, StmResult, TQueue, TVar, Transaction,
};

const ACCOUNTS: usize = 16;
const START: i64 = 100;

fn bank() -> Arc<Vec<TVar<i64>>> {
    Arc::new((0..ACCOUNTS).map(|_| TVar::new(START)).collect())
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// Transfers between random accounts by green and kernel threads while auditors (green
/// and kernel) check the total inside their transactions: the audit never sees a wrong
/// total (opacity), and the final total is conserved.
#[test]
fn transfers_conserve_money_and_audits_see_consistent_totals() {
    let accounts = bank();
    let total = START * ACCOUNTS as i64;
    let stop = Arc::new(AtomicBool::new(false));
    let transfers_per_thread = 3_000;
    let audits = Arc::new(AtomicUsize::new(0));

    let transfer = |seed: u64, accounts: Arc<Vec<TVar<i64>>>| {
        move || {
            let mut s = seed;
            for _ in 0..transfers_per_thread {
                let from = (xorshift(&mut s) % ACCOUNTS as u64) as usize;
                let to = (xorshift(&mut s) % ACCOUNTS as u64) as usize;
                let amount = (xorshift(&mut s) % 7) as i64;
                atomically(|tx| {
                    let a = tx.read(&accounts[from])?;
                    tx.write(&accounts[from], a - amount)?;
                    let b = tx.read(&accounts[to])?;
                    tx.write(&accounts[to], b + amount)?;
                    Ok(())
                });
            }
        }
    };
    let audit = |accounts: Arc<Vec<TVar<i64>>>, stop: Arc<AtomicBool>, n: Arc<AtomicUsize>| {
        move || {
            while !stop.load(Ordering::Relaxed) {
                let sum = atomically(|tx| {
                    let mut sum = 0;
                    for a in accounts.iter() {
                        sum += tx.read(a)?;
                    }
                    // An invariant check inside the transaction: with opacity it holds in
                    // every attempt, even one that would abort.
                    assert_eq!(sum, total, "an attempt saw an inconsistent snapshot");
                    Ok(sum)
                });
                assert_eq!(sum, total);
                n.fetch_add(1, Ordering::Relaxed);
                weft::yield_now();
            }
        }
    };

    let green: Vec<_> = (0..4)
        .map(|i| weft::spawn(transfer(0x9E37_79B9 + i, accounts.clone())))
        .collect();
    let kernel: Vec<_> = (0..2)
        .map(|i| std::thread::spawn(transfer(0x1234_5678 + i, accounts.clone())))
        .collect();
    let green_auditor = weft::spawn(audit(accounts.clone(), stop.clone(), audits.clone()));
    let kernel_auditor = std::thread::spawn(audit(accounts.clone(), stop.clone(), audits.clone()));
    for h in green {
        h.join().unwrap();
    }
    for h in kernel {
        h.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    green_auditor.join().unwrap();
    kernel_auditor.join().unwrap();
    let sum: i64 = accounts.iter().map(TVar::load).sum();
    assert_eq!(sum, total);
    assert!(audits.load(Ordering::Relaxed) >= 2, "both auditors ran");
}

/// Exact count: every increment of one hot counter lands once, whatever the conflicts
/// (this load also drives transactions into the serial fallback).
#[test]
fn hot_counter_counts_exactly() {
    let counter = TVar::new(0u64);
    let per = 2_000;
    let hs: Vec<_> = (0..6)
        .map(|_| {
            let c = counter.clone();
            weft::spawn(move || {
                for _ in 0..per {
                    atomically(|tx| tx.modify(&c, |v| v + 1));
                }
            })
        })
        .collect();
    let ks: Vec<_> = (0..2)
        .map(|_| {
            let c = counter.clone();
            std::thread::spawn(move || {
                for _ in 0..per {
                    atomically(|tx| tx.modify(&c, |v| v + 1));
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    for h in ks {
        h.join().unwrap();
    }
    assert_eq!(counter.load(), 8 * per);
}

/// Waits until `attempts` reaches `n` (the waiter ran its transaction that often).
fn wait_attempts(attempts: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while attempts.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "the waiter never ran attempt {n}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A retrying transaction is woken by a commit to a variable it read, and not by a
/// commit to one it did not read. Run with a green waiter and with a kernel waiter.
#[test]
fn retry_wakes_exactly_on_a_change_of_what_it_read() {
    for green in [true, false] {
        let a = TVar::new(0u32);
        let unrelated = TVar::new(0u32);
        let attempts = Arc::new(AtomicUsize::new(0));
        let body = {
            let (a, attempts) = (a.clone(), attempts.clone());
            move || {
                atomically(|tx| {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    let v = tx.read(&a)?;
                    check(v >= 2)?;
                    Ok(v)
                })
            }
        };
        let join: Box<dyn FnOnce() -> u32> = if green {
            let h = weft::spawn(body);
            Box::new(move || h.join().unwrap())
        } else {
            let h = std::thread::spawn(body);
            Box::new(move || h.join().unwrap())
        };
        wait_attempts(&attempts, 1);
        // Writes to a variable it did not read: no wake-up.
        for i in 0..5 {
            atomically(|tx| tx.write(&unrelated, i));
        }
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            1,
            "woken by an unrelated write"
        );
        // A write to what it read, still failing its condition: one more attempt.
        atomically(|tx| tx.write(&a, 1));
        wait_attempts(&attempts, 2);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        atomically(|tx| tx.write(&a, 2));
        assert_eq!(join(), 2);
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
    }
}

fn take(tx: &mut Transaction, v: &TVar<Option<u32>>) -> StmResult<u32> {
    match tx.read(v)? {
        Some(x) => {
            tx.write(v, None)?;
            Ok(x)
        }
        None => retry(),
    }
}

#[test]
fn or_else_left_wins_when_it_can() {
    let a = TVar::new(Some(1));
    let b = TVar::new(Some(2));
    let got = atomically(|tx| tx.or_else(|tx| take(tx, &a), |tx| take(tx, &b)));
    assert_eq!(got, 1);
    assert_eq!((a.load(), b.load()), (None, Some(2)));
}

#[test]
fn or_else_undoes_the_writes_of_a_branch_that_retried() {
    let a = TVar::new(5u32);
    let flag = TVar::new(false);
    let got = atomically(|tx| {
        tx.or_else(
            |tx| {
                tx.write(&a, 99)?; // undone: this branch retries
                tx.write(&flag, true)?;
                retry()
            },
            |tx| tx.read(&a),
        )
    });
    assert_eq!(got, 5);
    assert_eq!((a.load(), flag.load()), (5, false));
}

#[test]
fn or_else_keeps_the_outer_write_it_shadowed() {
    let a = TVar::new(0u32);
    atomically(|tx| {
        tx.write(&a, 1)?;
        tx.or_else(
            |tx| {
                tx.write(&a, 2)?;
                retry()
            },
            |_| Ok(()),
        )
    });
    assert_eq!(a.load(), 1);
    atomically(|tx| {
        tx.write(&a, 3)?;
        tx.or_else(|tx| tx.write(&a, 4), |_| Ok(()))?;
        assert_eq!(tx.read(&a)?, 4);
        Ok(())
    });
    assert_eq!(a.load(), 4);
}

/// Both branches retry: the thread waits on the reads of *both*, so a write to the first
/// branch's variable wakes it (waiting only on the second would hang here).
#[test]
fn or_else_waits_on_the_union_of_both_branches() {
    for first in [true, false] {
        let a = TVar::new(None);
        let b = TVar::new(None);
        let h = {
            let (a, b) = (a.clone(), b.clone());
            weft::spawn(move || atomically(|tx| tx.or_else(|tx| take(tx, &a), |tx| take(tx, &b))))
        };
        std::thread::sleep(Duration::from_millis(20));
        assert!(!h.is_finished());
        let target = if first { &a } else { &b };
        atomically(|tx| tx.write(target, Some(7)));
        assert_eq!(h.join().unwrap(), 7);
        assert_eq!((a.load(), b.load()), (None, None));
    }
}

/// A write takes over the read of its variable made just before it (read-for-write). When
/// the write belonged to an `or_else` branch that retried, the read must come back: the
/// whole transaction then waits on it (losing it would leave nothing to wait on, or miss
/// the wake-up).
#[test]
fn a_branch_that_retried_gives_back_the_read_its_write_took_over() {
    let x = TVar::new(0u32);
    let h = {
        let x = x.clone();
        weft::spawn(move || {
            atomically(|tx| {
                let v = tx.read(&x)?;
                tx.or_else(
                    |tx| {
                        tx.write(&x, v + 100)?;
                        retry()
                    },
                    |_| if v == 0 { retry() } else { Ok(v) },
                )
            })
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    assert!(!h.is_finished(), "nothing changed: it must still wait");
    atomically(|tx| tx.write(&x, 5));
    assert_eq!(h.join().unwrap(), 5);
    assert_eq!(x.load(), 5, "the retried branch's write left no trace");
}

/// Opacity for reads that a write took over: two variables always sum to the same total;
/// transactions read one, write it, then read the other and check the sum *inside* the
/// attempt, while others move amounts between them. An extension (the second read found a
/// newer version) must re-check the first read too, or an attempt would see a broken sum.
#[test]
fn reads_taken_over_by_writes_stay_consistent() {
    const TOTAL: i64 = 1_000;
    let vars = Arc::new([TVar::new(TOTAL), TVar::new(0)]);
    let broken = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let (vars, broken) = (vars.clone(), broken.clone());
            std::thread::spawn(move || {
                let (first, second) = if t % 2 == 0 { (0, 1) } else { (1, 0) };
                // Miri (see `.ci/run`) runs a few hundred: it checks the accesses, not speed.
                let rounds = if cfg!(miri) { 200 } else { 20_000i64 };
                for i in 0..rounds {
                    let amount = i % 5;
                    atomically(|tx| {
                        let a = tx.read(&vars[first])?;
                        tx.write(&vars[first], a - amount)?;
                        // Widen the window in which another commit can land.
                        for _ in 0..20 {
                            std::hint::spin_loop();
                        }
                        let b = tx.read(&vars[second])?;
                        if a + b != TOTAL {
                            broken.fetch_add(1, Ordering::Relaxed);
                        }
                        tx.write(&vars[second], b + amount)
                    });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        broken.load(Ordering::Relaxed),
        0,
        "an attempt saw a broken sum"
    );
    assert_eq!(vars[0].load() + vars[1].load(), TOTAL);
}

#[test]
fn a_panic_aborts_the_transaction_and_propagates() {
    let a = TVar::new(1u32);
    let r = catch_unwind(AssertUnwindSafe(|| {
        atomically(|tx| {
            tx.write(&a, 2)?;
            if tx.read(&a)? == 2 {
                panic!("boom");
            }
            Ok(())
        })
    }));
    let msg = r.unwrap_err();
    assert_eq!(msg.downcast_ref::<&str>(), Some(&"boom"));
    assert_eq!(a.load(), 1);
    // The thread can run transactions again afterwards.
    atomically(|tx| tx.write(&a, 3));
    assert_eq!(a.load(), 3);
}

#[test]
fn a_user_error_rolls_back() {
    let a = TVar::new(10i64);
    let b = TVar::new(0i64);
    let r: Result<(), &str> = atomically_result(|tx| {
        tx.modify(&b, |v| v + 20)?;
        let x = tx.read(&a)?;
        if x < 20 {
            return Ok(Err("insufficient"));
        }
        tx.write(&a, x - 20)?;
        Ok(Ok(()))
    });
    assert_eq!(r, Err("insufficient"));
    assert_eq!((a.load(), b.load()), (10, 0));
    let r: Result<i64, &str> = atomically_result(|tx| {
        tx.modify(&a, |v| v - 5)?;
        Ok(Ok(tx.read(&a)?))
    });
    assert_eq!(r, Ok(5));
    assert_eq!(a.load(), 5);
}

#[test]
fn nested_atomically_panics_with_a_message() {
    for green in [false, true] {
        let body = || {
            catch_unwind(|| atomically(|_| Ok(atomically(|_| Ok(1))))).map_err(|e| {
                e.downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            })
        };
        let r = if green {
            weft::spawn(body).join().unwrap()
        } else {
            body()
        };
        let msg = r.unwrap_err();
        assert!(msg.contains("inside a transaction"), "{msg}");
        // The flag was cleared on the way out.
        assert_eq!(atomically(|_| Ok(2)), 2);
    }
}

#[test]
fn retry_without_reads_panics_instead_of_hanging() {
    let r = catch_unwind(|| atomically(|_| retry::<()>()));
    let e = r.unwrap_err();
    let msg = e.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("read no TVar"), "{msg}");
}

#[test]
fn try_and_timeout_variants() {
    let a = TVar::new(0u32);
    let t = || try_atomically(|tx| tx.read(&a).and_then(|v| check(v > 0).map(|()| v)));
    assert!(t().is_err());
    let start = Instant::now();
    let r = atomically_timeout(Duration::from_millis(30), |tx| {
        let v = tx.read(&a)?;
        check(v > 0)?;
        Ok(v)
    });
    assert!(r.is_err());
    assert!(start.elapsed() >= Duration::from_millis(30));
    atomically(|tx| tx.write(&a, 4));
    assert_eq!(t(), Ok(4));
    let r = atomically_deadline(Instant::now() + Duration::from_secs(5), |tx| tx.read(&a));
    assert_eq!(r, Ok(4));
}

#[test]
fn timeout_from_a_green_thread_and_wake_before_it() {
    let a = TVar::new(0u32);
    let h = {
        let a = a.clone();
        weft::spawn(move || {
            atomically_timeout(Duration::from_secs(10), |tx| {
                let v = tx.read(&a)?;
                check(v == 9)?;
                Ok(v)
            })
        })
    };
    std::thread::sleep(Duration::from_millis(10));
    atomically(|tx| tx.write(&a, 9));
    assert_eq!(h.join().unwrap(), Ok(9));
}

/// Producers and consumers on one TQueue, green and kernel: every value arrives exactly
/// once, and each producer's values arrive in order.
#[test]
fn tqueue_delivers_everything_once_in_order() {
    let q: TQueue<(u32, u32)> = TQueue::new();
    let per = 2_000u32;
    let producers: Vec<Box<dyn FnOnce() + Send>> = (0..4u32)
        .map(|p| {
            let q = q.clone();
            Box::new(move || {
                for i in 0..per {
                    q.send((p, i));
                }
            }) as Box<dyn FnOnce() + Send>
        })
        .collect();
    let consumer = |q: TQueue<(u32, u32)>, n: u32| {
        move || {
            let mut got = Vec::with_capacity(n as usize);
            for _ in 0..n {
                got.push(q.recv());
            }
            got
        }
    };
    let c1 = weft::spawn(consumer(q.clone(), 2 * per));
    let c2 = std::thread::spawn(consumer(q.clone(), 2 * per));
    let mut ps = Vec::new();
    for (i, p) in producers.into_iter().enumerate() {
        if i % 2 == 0 {
            let h = weft::spawn(p);
            ps.push(Box::new(move || h.join().unwrap()) as Box<dyn FnOnce()>);
        } else {
            let h = std::thread::spawn(p);
            ps.push(Box::new(move || h.join().unwrap()) as Box<dyn FnOnce()>);
        }
    }
    for p in ps {
        p();
    }
    let mut all = c1.join().unwrap();
    let b = c2.join().unwrap();
    for got in [&all, &b] {
        let mut last = [None; 4];
        for &(p, i) in got {
            assert!(last[p as usize].is_none_or(|l| l < i), "out of order");
            last[p as usize] = Some(i);
        }
    }
    all.extend(b);
    all.sort_unstable();
    let want: Vec<_> = (0..4).flat_map(|p| (0..per).map(move |i| (p, i))).collect();
    assert_eq!(all, want);
    assert!(atomically(|tx| q.is_empty(tx)));
}

#[test]
fn tqueue_transactional_push_is_all_or_nothing() {
    let q = TQueue::new();
    let r: Result<(), ()> = atomically_result(|tx| {
        q.push(tx, 1)?;
        q.push(tx, 2)?;
        Ok(Err(()))
    });
    assert!(r.is_err());
    assert_eq!(atomically(|tx| q.try_pop(tx)), None);
    atomically(|tx| {
        q.push(tx, 1)?;
        q.push(tx, 2)?;
        Ok(())
    });
    assert_eq!(atomically(|tx| q.peek(tx)), 1);
    assert_eq!(atomically(|tx| Ok((q.pop(tx)?, q.pop(tx)?))), (1, 2));
}

/// A value whose destructor runs a transaction of its own (on a counter of its own).
#[derive(Clone)]
struct CountsItsDrops(Arc<TVar<u32>>);

impl Drop for CountsItsDrops {
    fn drop(&mut self) {
        atomically(|tx| tx.modify(&self.0, |n| n + 1));
    }
}

/// A pending write overwritten by a second write in the same transaction: the value it
/// replaces is dropped after the transaction, not inside it (where its destructor's own
/// transaction would be nested, and panic).
#[test]
fn a_pending_value_overwritten_is_dropped_after_the_transaction() {
    let drops = Arc::new(TVar::new(0u32));
    let v = TVar::new(CountsItsDrops(drops.clone()));
    atomically(|tx| {
        tx.write(&v, CountsItsDrops(drops.clone()))?;
        tx.write(&v, CountsItsDrops(drops.clone()))
    });
    // The first pending value, and the clones `atomically` made (none here: the closure
    // is run once) are dropped by now; the replaced initial value goes with the epoch.
    assert!(
        drops.load() >= 1,
        "the overwritten pending value was not dropped"
    );
    // The same through a queue: a push and a pop of the same slot in one transaction.
    let q = TQueue::new();
    let got = atomically(|tx| {
        q.push(tx, CountsItsDrops(drops.clone()))?;
        q.pop(tx)
    });
    drop(got);
    assert!(atomically(|tx| q.is_empty(tx)));
}

/// Values kept back from destruction by a transaction that panicked on a kernel thread
/// are destroyed when the thread exits, not leaked.
#[test]
fn values_kept_back_by_a_panicking_transaction_are_dropped_at_thread_exit() {
    let live = Arc::new(());
    let v = TVar::new(Some(live.clone()));
    let (v2, live2) = (v.clone(), live.clone());
    let r = std::thread::spawn(move || {
        atomically(|tx| {
            tx.write(&v2, Some(live2.clone()))?;
            panic!("a user panic inside a transaction");
            #[allow(unreachable_code)]
            Ok(())
        })
    })
    .join();
    assert!(r.is_err(), "the panic propagates");
    // `live` itself, the one in `v`, and `live2` (dropped when the closure was) remain;
    // the pending value's clone must be gone.
    assert_eq!(Arc::strong_count(&live), 2, "the pending value leaked");
    drop(v);
}

/// `retry` in a transaction whose every variable is dropped by the time it would wait
/// panics with a message instead of sleeping for ever.
#[test]
fn retry_on_variables_that_are_all_gone_panics() {
    let (tx_done, rx_done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = catch_unwind(|| {
            atomically(|tx| {
                let v = TVar::new(0u64);
                let x = tx.read(&v)?;
                check(x > 0)
            })
        });
        let msg = r
            .err()
            .and_then(|e| e.downcast::<&str>().ok().map(|s| s.to_string()));
        let _ = tx_done.send(msg);
    });
    let msg = rx_done
        .recv_timeout(Duration::from_secs(10))
        .expect("the retry slept instead of panicking");
    assert!(
        msg.as_deref().is_some_and(|m| m.contains("dropped")),
        "unexpected outcome: {msg:?}"
    );
}

/// A queue dropped with items in it (several chunks) destroys them all once the epoch
/// collector has moved on: nothing leaks, and the chain of chunks goes at once.
#[test]
fn tqueue_dropped_with_a_backlog_frees_its_items() {
    let item = Arc::new(());
    let q = TQueue::new();
    // 4 + 8 + 16 slots, and some of the 32-slot chunk.
    for _ in 0..40 {
        q.send(item.clone());
    }
    drop(q);
    let v = TVar::new(vec![0u8]);
    let deadline = Instant::now() + Duration::from_secs(if cfg!(miri) { 600 } else { 5 });
    let mut rounds = 0;
    while Arc::strong_count(&item) > 1 && Instant::now() < deadline && rounds < 100_000 {
        // Pins that make the collector advance and collect.
        atomically(|tx| tx.modify(&v, |x| x));
        rounds += 1;
    }
    assert_eq!(
        Arc::strong_count(&item),
        1,
        "items of a dropped queue still alive after {rounds} transactions"
    );
}

/// One transaction pops and pushes back the same items many times, through chunks it
/// makes and frees itself (whose variables' headers are reused by the next chunks it makes
/// in that very attempt): the order survives and nothing is lost.
#[test]
fn tqueue_rotated_within_one_transaction() {
    let q = TQueue::new();
    atomically(|tx| (0..10u64).try_for_each(|i| q.push(tx, i)));
    let seen = atomically(|tx| {
        (0..100)
            .map(|_| {
                let x = q.pop(tx)?;
                q.push(tx, x)?;
                Ok(x)
            })
            .collect::<StmResult<Vec<_>>>()
    });
    assert_eq!(seen, (0..100).map(|i| i % 10).collect::<Vec<u64>>());
    let rest: Vec<_> = (0..11).map(|_| atomically(|tx| q.try_pop(tx))).collect();
    assert_eq!(rest, (0..10).map(Some).chain([None]).collect::<Vec<_>>());
}

/// Transactions that push or pop many items at once cross the queue's internal chunk
/// boundaries (every 32 items) several times; one that is abandoned after crossing them
/// leaves the queue as it was.
#[test]
fn tqueue_many_items_per_transaction() {
    let q = TQueue::new();
    let mut next_in = 0u32;
    let mut next_out = 0u32;
    // Miri (see `.ci/run`) checks the borrowed chunks: fewer abandoned items, still more
    // than a chunk.
    let abandoned = if cfg!(miri) { 40 } else { 200 };
    for (push, pop) in [(100u32, 7u32), (1, 60), (33, 67), (64, 0), (5, 69)] {
        let r: Result<(), ()> = atomically_result(|tx| {
            for i in 0..abandoned {
                q.push(tx, 1_000_000 + i)?;
            }
            for _ in 0..3 {
                q.try_pop(tx)?;
            }
            Ok(Err(()))
        });
        assert!(r.is_err());
        atomically(|tx| {
            for i in 0..push {
                q.push(tx, next_in + i)?;
            }
            Ok(())
        });
        next_in += push;
        let got = atomically(|tx| (0..pop).map(|_| q.pop(tx)).collect::<StmResult<Vec<_>>>());
        assert_eq!(got, (next_out..next_out + pop).collect::<Vec<_>>());
        next_out += pop;
    }
    assert_eq!(next_in, next_out);
    assert!(atomically(|tx| q.is_empty(tx)));
    assert_eq!(atomically(|tx| q.try_pop(tx)), None);
}

// ---------------------------------------------------------------------------------------
// Random histories against a sequential model.

#[derive(Clone, Debug)]
enum Op {
    Read(usize),
    Write(usize, i64),
    Add(usize, i64),
    /// `or_else` whose first branch runs the ops and then retries (when `retry_first`),
    /// else commits to the first branch; the second branch runs its ops.
    OrElse(Vec<Op>, bool, Vec<Op>),
}

fn op() -> impl Strategy<Value = Op> {
    let leaf = prop_oneof![
        (0..4usize).prop_map(Op::Read),
        (0..4usize, -5..5i64).prop_map(|(v, x)| Op::Write(v, x)),
        (0..4usize, -5..5i64).prop_map(|(v, x)| Op::Add(v, x)),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        (
            prop::collection::vec(inner.clone(), 0..4),
            any::<bool>(),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(a, r, b)| Op::OrElse(a, r, b))
    })
}

/// Runs ops in a transaction, appending the values read to `out`.
fn run_tx(
    tx: &mut Transaction,
    vars: &[TVar<i64>],
    ops: &[Op],
    out: &mut Vec<i64>,
) -> StmResult<()> {
    for o in ops {
        match o {
            Op::Read(v) => out.push(tx.read(&vars[*v])?),
            Op::Write(v, x) => tx.write(&vars[*v], *x)?,
            Op::Add(v, x) => tx.modify(&vars[*v], |y| y + x)?,
            Op::OrElse(a, retry_first, b) => {
                let reads = RefCell::new(std::mem::take(out));
                let r = tx.or_else(
                    |tx| {
                        run_tx(tx, vars, a, &mut reads.borrow_mut())?;
                        if *retry_first {
                            retry()
                        } else {
                            Ok(())
                        }
                    },
                    |tx| run_tx(tx, vars, b, &mut reads.borrow_mut()),
                );
                *out = reads.into_inner();
                r?;
            }
        }
    }
    Ok(())
}

/// The model: a plain array; `or_else`'s first branch's writes vanish when it retries,
/// its reads are still reported.
fn model(state: &mut [i64; 4], ops: &[Op], out: &mut Vec<i64>) {
    for o in ops {
        match o {
            Op::Read(v) => out.push(state[*v]),
            Op::Write(v, x) => state[*v] = *x,
            Op::Add(v, x) => state[*v] += x,
            Op::OrElse(a, retry_first, b) => {
                let saved = *state;
                model(state, a, out);
                if *retry_first {
                    *state = saved;
                    model(state, b, out);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Sequential histories: each transaction's reads and the final state match the model;
    /// transactions rolled back by a user abort leave no effect.
    #[test]
    fn histories_match_a_sequential_model(
        txs in prop::collection::vec((prop::collection::vec(op(), 0..6), any::<bool>()), 1..8)
    ) {
        let vars: Vec<_> = (0..4).map(|i| TVar::new(i as i64)).collect();
        let mut state = [0, 1, 2, 3];
        for (ops, abort) in &txs {
            let got: Result<Vec<i64>, Vec<i64>> = atomically_result(|tx| {
                let mut out = Vec::new();
                run_tx(tx, &vars, ops, &mut out)?;
                Ok(if *abort { Err(out) } else { Ok(out) })
            });
            let mut want = Vec::new();
            let mut next = state;
            model(&mut next, ops, &mut want);
            let reads = match got { Ok(r) | Err(r) => r };
            prop_assert_eq!(reads, want);
            if !*abort {
                state = next;
            }
            let now: Vec<i64> = vars.iter().map(TVar::load).collect();
            prop_assert_eq!(now, state.to_vec());
        }
    }

    /// Concurrent histories of commuting transactions (adds) on 2 green and 2 kernel
    /// threads: the final state is the model's, whatever the interleaving.
    #[test]
    fn concurrent_adds_match_the_model(
        work in prop::collection::vec(prop::collection::vec((0..4usize, -5..5i64), 1..4), 4..5)
    ) {
        let vars: Arc<Vec<_>> = Arc::new((0..4).map(|_| TVar::new(0i64)).collect());
        let mut want = [0i64; 4];
        for tx in &work {
            for &(v, x) in tx {
                want[v] += 50 * x;
            }
        }
        let mut hs: Vec<Box<dyn FnOnce()>> = Vec::new();
        for (i, tx) in work.into_iter().enumerate() {
            let vars = vars.clone();
            let body = move || {
                for _ in 0..50 {
                    atomically(|t| {
                        for &(v, x) in &tx {
                            t.modify(&vars[v], |y| y + x)?;
                        }
                        Ok(())
                    });
                }
            };
            if i % 2 == 0 {
                let h = weft::spawn(body);
                hs.push(Box::new(move || h.join().unwrap()));
            } else {
                let h = std::thread::spawn(body);
                hs.push(Box::new(move || h.join().unwrap()));
            }
        }
        for h in hs {
            h();
        }
        let now: Vec<i64> = vars.iter().map(TVar::load).collect();
        prop_assert_eq!(now, want.to_vec());
    }
}

/// MVar-style hand-offs through one-place slots, every put and take blocking in `retry`
/// (green and kernel threads, several slots sharing the waiter table's stripes): every value
/// arrives exactly once, and no wait outlasts a generous deadline (a lost wake-up would).
#[test]
fn retry_handoffs_lose_no_wakeup() {
    const SLOTS: usize = 6;
    const PER: u64 = 1_500;
    let slots: Arc<Vec<TVar<Option<u64>>>> =
        Arc::new((0..SLOTS).map(|_| TVar::new(None)).collect());
    let limit = Duration::from_secs(20);
    let mut joins: Vec<Box<dyn FnOnce() -> u64>> = Vec::new();
    for i in 0..SLOTS {
        let put = {
            let slots = slots.clone();
            move || {
                for v in 1..=PER {
                    atomically_timeout(limit, |tx| {
                        if tx.read(&slots[i])?.is_some() {
                            return retry();
                        }
                        tx.write(&slots[i], Some(v))
                    })
                    .expect("a put waited past the deadline: lost wake-up");
                }
                0
            }
        };
        let take = {
            let slots = slots.clone();
            move || {
                let mut sum = 0;
                for _ in 0..PER {
                    sum += atomically_timeout(limit, |tx| match tx.read(&slots[i])? {
                        Some(v) => {
                            tx.write(&slots[i], None)?;
                            Ok(v)
                        }
                        None => retry(),
                    })
                    .expect("a take waited past the deadline: lost wake-up");
                }
                sum
            }
        };
        // Alternate which side is green.
        if i % 2 == 0 {
            let p = weft::spawn(put);
            let c = std::thread::spawn(take);
            joins.push(Box::new(move || p.join().unwrap()));
            joins.push(Box::new(move || c.join().unwrap()));
        } else {
            let p = std::thread::spawn(put);
            let c = weft::spawn(take);
            joins.push(Box::new(move || p.join().unwrap()));
            joins.push(Box::new(move || c.join().unwrap()));
        }
    }
    let total: u64 = joins.into_iter().map(|j| j()).sum();
    assert_eq!(total, SLOTS as u64 * PER * (PER + 1) / 2);
    assert!(slots.iter().all(|s| s.load().is_none()));
}

/// Variables created and dropped inside a transaction: the attempt commits (a write to a
/// variable nobody can see any more is skipped, not a conflict), and a header reused by a
/// new variable never receives the write meant for the dropped one.
#[test]
fn variables_dropped_inside_a_transaction_are_handled() {
    let keep = TVar::new(0u64);
    let (n, m) = if cfg!(miri) { (100, 30) } else { (2_000, 500) };
    for i in 0..n {
        let fresh = atomically(|tx| {
            let temp = TVar::new(i);
            let v = tx.read(&temp)?;
            tx.write(&temp, v + 1_000_000)?;
            drop(temp);
            // Likely to reuse the header just retired.
            let fresh = TVar::new(i + 7);
            tx.write(&keep, v)?;
            Ok(fresh)
        });
        assert_eq!(
            fresh.load(),
            i + 7,
            "a dropped variable's write landed elsewhere"
        );
        assert_eq!(keep.load(), i);
    }
    // Boxed values too.
    for i in 0..m as u32 {
        let fresh = atomically(|tx| {
            let temp = TVar::new(vec![i]);
            tx.modify(&temp, |mut v| {
                v.push(i);
                v
            })?;
            drop(temp);
            Ok(TVar::new(vec![i, i]))
        });
        assert_eq!(fresh.load(), vec![i, i]);
    }
}

/// A value whose destructor runs a transaction: the epoch collector runs old values'
/// destructors whenever it gets to them, often while this thread is inside another
/// transaction (before the runtime kept such drops back until `atomically` returns, this
/// panicked as a nested transaction within a few hundred writes).
#[test]
fn a_destructor_that_runs_a_transaction() {
    static DROPS: std::sync::OnceLock<TVar<u64>> = std::sync::OnceLock::new();
    let drops = DROPS.get_or_init(|| TVar::new(0u64));
    #[derive(Clone)]
    struct Noisy(#[allow(dead_code)] Vec<u8>);
    impl Drop for Noisy {
        fn drop(&mut self) {
            atomically(|tx| tx.modify(DROPS.get().unwrap(), |n| n + 1));
        }
    }
    let v = TVar::new(Noisy(vec![0; 16]));
    let n = 20_000u64;
    for _ in 0..n {
        atomically(|tx| tx.write(&v, Noisy(vec![1; 16])));
    }
    drop(v);
    // Each committed write retired one value; the epoch collector frees them in batches,
    // so the last few may still wait, and while other tests' threads hold the epoch back
    // it frees none: keep it busy (more retired values, more pins) for up to 5 s until
    // most have gone. Each destructor's transaction committed.
    let other = TVar::new(vec![0u8; 16]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while drops.load() < n / 2 && Instant::now() < deadline {
        for _ in 0..1_000 {
            atomically(|tx| tx.write(&other, vec![2u8; 16]));
        }
    }
    let done = drops.load();
    assert!(
        done >= n / 2 && done <= n + 1,
        "{done} drops of {n} values retired"
    );
}
