//! `TQueue`: an unbounded FIFO queue made of [`TVar`]s (GHC's `TQueue`/`TChan`).
//!
//! The queue is a chain of *chunks* of slots (`TVar<Option<T>>`, created empty), each
//! with the index of its first slot (`base`) and a link to the next chunk. The first chunk
//! has [`FIRST_CHUNK`] slots and each next one twice as many, up to [`CHUNK`], so an empty
//! queue stays small. Two counters say where the queue is: `head` (the next index to pop)
//! and `tail` (the next index to push), plain `u64` variables, stored inline; two more
//! variables hold the chunks they fall in (`read`, `write`).
//!
//! * A push writes its value into slot `tail` and moves `tail` on. The push that fills a
//!   chunk's last slot also makes the next chunk, links it, and moves `write` there.
//! * A pop reads slot `head`. Empty (`None`) means the queue is empty: the pop
//!   [`retry`]s, so the popping thread sleeps until a push commits to that very slot.
//!   Otherwise it empties the slot (so the queue keeps no popped value) and moves `head`
//!   on, and after a chunk's last slot, `read` to the next chunk (which the push that
//!   filled that slot made, in the same commit), unlinking it from the chunk left behind.
//!
//! Invariants: `read.base <= head <= tail`, `head < read.base + read.len`, and the same
//! of `tail` and `write`; the slots from `head` to `tail` hold the queue's values, in
//! order, and every other slot is empty.
//!
//! A push and a pop on a non-empty queue touch disjoint variables (`tail`, its slot and
//! `write`, against `head`, its slot and `read`), so they commit in parallel; on an empty
//! queue they meet at slot `head == tail`. Per item, a push allocates one box (its value)
//! and a pop one (the empty slot), besides the chunk's own (an empty box per slot); the
//! epoch collector frees the boxes they replace.
//!
//! A dropped queue frees its whole chain of chunks at once: each chunk takes its link's
//! value out directly when it is dropped (there is no other handle to it), instead of
//! leaving it to the epoch collector, which would free one chunk per collection.
//!
//! The chunks are reached without cloning the `Arc` that holds them (which would make a
//! producer and a consumer on the same chunk bump one shared count for every item): an
//! operation borrows the chunk for as long as its transaction attempt keeps the `Arc` it
//! read alive ([`Transaction::read_ptr`]).

use std::fmt;
use std::sync::Arc;

use super::{atomically, retry, StmResult, TVar, Transaction};

/// Slots of the first chunk.
const FIRST_CHUNK: usize = 4;
/// Most slots per chunk.
const CHUNK: usize = 32;

/// Consecutive slots of the queue, from index `base` on.
struct Chunk<T> {
    base: u64,
    slots: Box<[TVar<Option<T>>]>,
    /// The chunk after this one, made by the push that fills this one's last slot.
    next: TVar<Option<Arc<Chunk<T>>>>,
}

impl<T: Clone + Send + Sync + 'static> Chunk<T> {
    fn new(base: u64, len: usize) -> Arc<Self> {
        Arc::new(Chunk {
            base,
            slots: (0..len).map(|_| TVar::new(None)).collect(),
            next: TVar::new(None),
        })
    }
}

impl<T> Drop for Chunk<T> {
    fn drop(&mut self) {
        // The link to the next chunk is this chunk's own variable. Left to the epoch
        // collector, a dropped queue's chain of chunks would go one chunk per collection
        // (each freed chunk retires the next one's last `Arc`); taken here, the chain goes
        // at once, in a loop rather than by recursion.
        // SAFETY: `next` is never lent by `read_ptr` (it is read with clones), and it is
        // dropped right after, with this chunk.
        let mut next = unsafe { self.next.take_unshared() }.flatten();
        while let Some(chunk) = next.take() {
            let Some(mut chunk) = Arc::into_inner(chunk) else {
                break; // still held elsewhere (by the queue, or an attempt)
            };
            // SAFETY: as above, for the chunk dropped at the end of this iteration.
            next = unsafe { chunk.next.take_unshared() }.flatten();
        }
    }
}

/// An unbounded FIFO queue of transactional variables: use it inside transactions with
/// [`push`](TQueue::push) and [`pop`](TQueue::pop) (which retries while the queue is empty),
/// or on its own with [`send`](TQueue::send) and [`recv`](TQueue::recv).
///
/// Cloning is cheap and gives another handle to the same queue.
///
/// ```
/// use weft::stm::{atomically, TQueue};
/// let q = TQueue::new();
/// let consumer = {
///     let q = q.clone();
///     weft::spawn(move || (0..3).map(|_| q.recv()).sum::<u32>())
/// };
/// atomically(|tx| {
///     for i in 1..=3 { q.push(tx, i)?; }   // all three appear at once
///     Ok(())
/// });
/// assert_eq!(consumer.join().unwrap(), 6);
/// ```
pub struct TQueue<T> {
    head: TVar<u64>,
    tail: TVar<u64>,
    read: TVar<Arc<Chunk<T>>>,
    write: TVar<Arc<Chunk<T>>>,
}

impl<T> Clone for TQueue<T> {
    fn clone(&self) -> Self {
        TQueue {
            head: self.head.clone(),
            tail: self.tail.clone(),
            read: self.read.clone(),
            write: self.write.clone(),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Default for TQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The chunk `var` holds in `tx`'s view, borrowed for the rest of the attempt.
///
/// # Safety
///
/// The reference must not be used after `tx` writes `var` again, after an `or_else` branch
/// that wrote `var` is dropped, or after the attempt ends.
unsafe fn chunk<'a, T: Clone + Send + Sync + 'static>(
    tx: &mut Transaction,
    var: &TVar<Arc<Chunk<T>>>,
) -> StmResult<&'a Chunk<T>> {
    let p = tx.read_ptr(var)?;
    // SAFETY: `read_ptr` lends the `Arc` this attempt sees, valid (and never mutated) until
    // the attempt ends or rewrites `var`, which the caller promises to outlast the
    // reference; the `Arc` keeps its chunk alive for at least as long.
    Ok(unsafe { &**p })
}

impl<T: Clone + Send + Sync + 'static> TQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        let first = Chunk::new(0, FIRST_CHUNK);
        TQueue {
            head: TVar::new(0),
            tail: TVar::new(0),
            read: TVar::new(first.clone()),
            write: TVar::new(first),
        }
    }

    /// Appends `value` (visible to others when the transaction commits).
    pub fn push(&self, tx: &mut Transaction, value: T) -> StmResult<()> {
        let tail = tx.read(&self.tail)?;
        // SAFETY: `c` is last used before this operation writes `self.write`.
        let c = unsafe { chunk(tx, &self.write)? };
        let i = slot_index(tail, c);
        tx.write(&c.slots[i], Some(value))?;
        tx.write(&self.tail, tail + 1)?;
        if i + 1 == c.slots.len() {
            let next = Chunk::new(tail + 1, (2 * c.slots.len()).min(CHUNK));
            tx.write(&c.next, Some(next.clone()))?;
            tx.write(&self.write, next)?;
        }
        Ok(())
    }

    /// Removes and returns the first value; [`retry`]s while the queue is empty.
    pub fn pop(&self, tx: &mut Transaction) -> StmResult<T> {
        match self.try_pop(tx)? {
            Some(v) => Ok(v),
            None => retry(),
        }
    }

    /// Removes and returns the first value, or `None` when the queue is empty.
    pub fn try_pop(&self, tx: &mut Transaction) -> StmResult<Option<T>> {
        let head = tx.read(&self.head)?;
        // SAFETY: `c` is last used before this operation writes `self.read`.
        let c = unsafe { chunk(tx, &self.read)? };
        let i = slot_index(head, c);
        let Some(value) = tx.read(&c.slots[i])? else {
            return Ok(None);
        };
        tx.write(&c.slots[i], None)?;
        tx.write(&self.head, head + 1)?;
        if i + 1 == c.slots.len() {
            // The push that filled this slot linked the next chunk in the same commit.
            let next = tx
                .read(&c.next)?
                .expect("weft::stm::TQueue: a full chunk has a next one (internal bug)");
            // Unlink it: a chunk freed while it still held the next one would free that
            // one only at the next epoch collection, and so on down the chain, one chunk
            // per collection, far slower than they are consumed.
            tx.write(&c.next, None)?;
            tx.write(&self.read, next)?;
        }
        Ok(Some(value))
    }

    /// The value at `head`, if any, in `tx`'s view.
    fn first(&self, tx: &mut Transaction) -> StmResult<Option<T>> {
        let head = tx.read(&self.head)?;
        // SAFETY: `c` is used only in this function, which writes nothing.
        let c = unsafe { chunk(tx, &self.read)? };
        tx.read(&c.slots[slot_index(head, c)])
    }

    /// The first value without removing it; [`retry`]s while the queue is empty.
    pub fn peek(&self, tx: &mut Transaction) -> StmResult<T> {
        match self.first(tx)? {
            Some(v) => Ok(v),
            None => retry(),
        }
    }

    /// `true` when the queue holds no value.
    pub fn is_empty(&self, tx: &mut Transaction) -> StmResult<bool> {
        Ok(self.first(tx)?.is_none())
    }

    /// Appends `value` in a transaction of its own.
    pub fn send(&self, value: T) {
        atomically(|tx| self.push(tx, value.clone()));
    }

    /// Removes the first value in a transaction of its own, blocking (green or kernel
    /// thread) while the queue is empty.
    pub fn recv(&self) -> T {
        atomically(|tx| self.pop(tx))
    }
}

/// The position of queue index `index` in chunk `c` (the invariants put it there, and
/// every attempt sees a consistent state).
#[inline]
fn slot_index<T>(index: u64, c: &Chunk<T>) -> usize {
    let i = index.wrapping_sub(c.base);
    debug_assert!(i < c.slots.len() as u64, "a TQueue index outside its chunk");
    i as usize
}

impl<T> fmt::Debug for TQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TQueue").finish_non_exhaustive()
    }
}
