//! Memory held by `weft::stm` variables stays bounded under churn. In a process of its own,
//! and one test function: the counters it reads are process-wide, and other tests'
//! variables (other test binaries, or tests running beside it) would move them.

use weft::stm::{stats, TQueue, TVar};

/// A queue passing many items one at a time reclaims its cells as they are consumed: the
/// headers allocated level off instead of growing with every item. (Before the fix, a
/// consumed cell kept the next one alive until it was itself reclaimed, one cell per
/// epoch collection: 100 000 items allocated ~99 000 headers and ~190 bytes each.)
#[test]
fn variables_are_reused() {
    a_queue_reuses_the_cells_it_consumed();
    dropped_variables_are_reused();
    a_header_reused_inside_a_transaction_is_a_new_variable();
    a_dropped_queue_frees_its_backlog_at_once();
}

/// A queue dropped with many items in it frees all its chunks after a collection or two,
/// not one chunk per epoch collection (each chunk holds the next one's last `Arc`).
fn a_dropped_queue_frees_its_backlog_at_once() {
    let items = 50_000u64;
    let q = TQueue::new();
    for i in 0..items {
        q.send(i);
    }
    let before = stats().reclaimed;
    drop(q);
    // Give the epoch collector work to do: it collects every so many pins.
    let v = TVar::new(vec![0u8]);
    for _ in 0..5_000 {
        weft::stm::atomically(|tx| {
            tx.modify(&v, |mut x| {
                x[0] = x[0].wrapping_add(1);
                x
            })
        });
    }
    let freed = stats().reclaimed - before;
    assert!(
        freed >= items,
        "{freed} variables freed of the dropped queue's more than {items}"
    );
}

/// A transaction writes a variable, drops its last handle, and creates new variables of
/// other types, which reuse the dropped one's header (the free list is emptied first, so
/// they do): each must read its own value, not the dropped variable's pending write (a
/// `String` read as a `u64`, or a `u64` entry's null box read as a `String`), and commit
/// its own writes.
fn a_header_reused_inside_a_transaction_is_a_new_variable() {
    let mut keep = Vec::new();
    let start = stats().headers;
    while stats().headers == start {
        keep.push(TVar::new(0u8));
    }
    // The free list is empty: `a` and `later` take new headers; `n` reuses `a`'s, `s`
    // reuses `n`'s.
    let before = stats().headers;
    let (n, s, later) = weft::stm::atomically(|tx| {
        let a = TVar::new(String::from("old"));
        tx.write(&a, String::from("pending"))?;
        drop(a);
        let n = TVar::new(7u64);
        let got_n = tx.read(&n)?;
        tx.write(&n, got_n + 1)?;
        drop(n);
        let s = TVar::new(String::from("fresh"));
        let got_s = tx.read(&s)?;
        let later = TVar::new(1u64);
        tx.write(&later, 2)?;
        Ok((got_n, got_s, later))
    });
    assert_eq!((n, s.as_str()), (7, "fresh"));
    assert_eq!(later.load(), 2, "a write to the new variable was lost");
    assert!(
        stats().headers - before <= 2,
        "the test meant the new variables to reuse the dropped ones' headers"
    );
    drop(keep);
}

fn a_queue_reuses_the_cells_it_consumed() {
    let q = TQueue::new();
    let items = 100_000u64;
    let before = stats();
    for i in 0..items {
        q.send(i);
        assert_eq!(q.recv(), i);
    }
    let after = stats();
    let allocated = after.headers - before.headers;
    let reclaimed = after.reclaimed - before.reclaimed;
    assert!(
        allocated < items / 10,
        "{allocated} headers allocated for {items} items: consumed cells are not reused"
    );
    assert!(
        reclaimed > items * 9 / 10,
        "only {reclaimed} of {items} consumed cells were reclaimed"
    );
}

/// Variables created and dropped in a loop reuse their headers.
fn dropped_variables_are_reused() {
    // Warm the free list, then count.
    drop(TVar::new(0u64));
    let before = stats();
    for i in 0..10_000u64 {
        let v = TVar::new(vec![i]);
        assert_eq!(v.load(), vec![i]);
    }
    let allocated = stats().headers - before.headers;
    assert!(
        allocated <= 1,
        "{allocated} headers allocated for one live variable at a time"
    );
}
