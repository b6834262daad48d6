//! A blocking channel operation allocates nothing in the steady state: the waiting
//! thread is its own wait record (issue 13: "a rendezvous send never allocates per
//! message"). Its own test binary, for the counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the count is a
// const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

/// Allocations on this kernel thread during 10 000 ping-pong round trips over two
/// rendezvous channels, after 100 to warm up (queues and handles made); the echo runs on
/// the thread `spawn` starts and is joined by the closure it returns.
fn ping_pong_allocations<J: FnOnce()>(spawn: impl FnOnce(Box<dyn FnOnce() + Send>) -> J) -> usize {
    let (ping_tx, ping_rx) = weft::csp::channel::<u64>();
    let (pong_tx, pong_rx) = weft::csp::channel::<u64>();
    let join = spawn(Box::new(move || {
        for v in ping_rx {
            if pong_tx.send(v + 1).is_err() {
                break;
            }
        }
    }));
    for i in 0..100 {
        ping_tx.send(i).unwrap();
        assert_eq!(pong_rx.recv(), Ok(i + 1));
    }
    let before = allocs();
    for i in 0..10_000 {
        ping_tx.send(i).unwrap();
        assert_eq!(pong_rx.recv(), Ok(i + 1));
    }
    let during = allocs() - before;
    drop(ping_tx);
    join();
    during
}

/// Between two kernel threads: this thread's blocking sends and receives allocate
/// nothing. (A kernel thread waking a *green* thread goes through its worker's inbox, a
/// segmented queue that allocates a block every few dozen wake-ups: that is the
/// runtime's cost, not the channel's, and not measured here.)
#[test]
fn blocking_rendezvous_operations_allocate_nothing() {
    let during = ping_pong_allocations(|echo| {
        let t = std::thread::spawn(echo);
        move || t.join().unwrap()
    });
    assert_eq!(during, 0, "{during} allocations in 10 000 round trips");
}

/// The same between two green threads on one worker (each operation parks; both run on
/// the worker's kernel thread, so the count covers both).
#[test]
fn green_blocking_operations_allocate_nothing() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let during = rt.block_on(|| {
        ping_pong_allocations(|echo| {
            let h = weft::spawn(echo);
            move || h.join().unwrap()
        })
    });
    assert_eq!(during, 0, "{during} allocations in 10 000 round trips");
}

/// A receiver that waits before each send (the sender yields it the worker first): every
/// value is written into the waiting receiver's landing slot, and nothing allocates.
#[test]
fn values_handed_to_waiting_receivers_allocate_nothing() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let (during, sum) = rt.block_on(|| {
        let (tx, rx) = weft::csp::channel::<u64>();
        let consumer = weft::spawn(move || {
            let mut sum = 0u64;
            for v in rx {
                sum += v;
            }
            sum
        });
        for i in 0..100 {
            weft::yield_now();
            tx.send(i).unwrap();
        }
        let before = allocs();
        for i in 100..10_100 {
            // The consumer runs and blocks in `recv` before this send.
            weft::yield_now();
            tx.send(i).unwrap();
        }
        let during = allocs() - before;
        drop(tx);
        (during, consumer.join().unwrap())
    });
    assert_eq!(sum, (0..10_100u64).sum::<u64>());
    assert_eq!(during, 0, "{during} allocations in 10 000 sends");
}
