//! `TQueue`: an unbounded FIFO queue made of [`TVar`]s (GHC's `TQueue`/`TChan`).
//!
//! The queue is a singly linked list whose links are variables: each cell is a
//! `TVar<Node<T>>` holding `Nil` (the hole at the end) or `Cons(value, next cell)`. Two
//! variables point into it: `read` at the first unread cell, `write` at the hole. A push
//! fills the hole with `Cons(value, new hole)` and moves `write`; a pop reads the cell at
//! `read`: `Nil` means empty (the pop [`retry`]s, so the popping thread sleeps until a push
//! commits to that very hole), `Cons` moves `read` on. A push and a pop on a non-empty queue
//! touch disjoint variables, so they commit in parallel; on an empty queue they meet at the
//! hole and the pop waits on it. Cells that have been read are reclaimed when the last
//! handle to them is gone.

use std::fmt;

use super::{atomically, retry, StmResult, TVar, Transaction};

#[derive(Clone)]
enum Node<T> {
    Nil,
    Cons(T, TVar<Node<T>>),
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
    read: TVar<TVar<Node<T>>>,
    write: TVar<TVar<Node<T>>>,
}

impl<T> Clone for TQueue<T> {
    fn clone(&self) -> Self {
        TQueue {
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

impl<T: Clone + Send + Sync + 'static> TQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        let hole = TVar::new(Node::Nil);
        TQueue {
            read: TVar::new(hole.clone()),
            write: TVar::new(hole),
        }
    }

    /// Appends `value` (visible to others when the transaction commits).
    pub fn push(&self, tx: &mut Transaction, value: T) -> StmResult<()> {
        let hole = tx.read(&self.write)?;
        let next = TVar::new(Node::Nil);
        tx.write(&hole, Node::Cons(value, next.clone()))?;
        tx.write(&self.write, next)
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
        let cell = tx.read(&self.read)?;
        match tx.read(&cell)? {
            Node::Nil => Ok(None),
            Node::Cons(value, next) => {
                tx.write(&self.read, next)?;
                // Unlink the consumed cell. Its value holds the next cell; left there, the
                // next cell could be reclaimed only after this one, and each reclamation
                // waits for the epoch collector: cells would go one per collection, far
                // slower than they are consumed (memory grew by ~190 bytes per item).
                tx.write(&cell, Node::Nil)?;
                Ok(Some(value))
            }
        }
    }

    /// The first value without removing it; [`retry`]s while the queue is empty.
    pub fn peek(&self, tx: &mut Transaction) -> StmResult<T> {
        let cell = tx.read(&self.read)?;
        match tx.read(&cell)? {
            Node::Nil => retry(),
            Node::Cons(value, _) => Ok(value),
        }
    }

    /// `true` when the queue holds no value.
    pub fn is_empty(&self, tx: &mut Transaction) -> StmResult<bool> {
        let cell = tx.read(&self.read)?;
        Ok(matches!(tx.read(&cell)?, Node::Nil))
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

impl<T> fmt::Debug for TQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TQueue").finish_non_exhaustive()
    }
}
