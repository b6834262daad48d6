//! The mailbox's queue: unbounded, many producers, one consumer, a linked list of nodes
//! (Dmitry Vyukov's non-intrusive MPSC queue), with its first node inline.
//!
//! Why not crossbeam's `SegQueue`, which the mailbox used first: it is built for many
//! consumers, so every pop pays a compare-and-swap and a look at the producers' end, and
//! an empty queue costs 256 bytes (two cache-padded ends). A ring of actors spent about
//! 100 instructions per hop in it (`valgrind --tool=callgrind`, BENCHMARKS.md), and a
//! million idle actors a quarter of a kilobyte each. This queue is 32 bytes and a pop is
//! a few loads and stores. The price is an allocation per message, which costs about 130
//! instructions with glibc's malloc and free; a *spare* node softens it: when a pop
//! empties the queue, the consumer leaves the node it would free in `spare` (if that is
//! empty), and the next push takes it instead of allocating. In a ring (one message per
//! mailbox at a time) no message allocates; a stream of messages is left to malloc, so the
//! spare does not travel between the producer's and the consumer's cores each time.
//!
//! **Layout.** Every node starts with a [`Link`] (its `next` pointer); a message's node
//! is a `Node<M>`: the link, then the message. The queue holds `tail` (the last node, or
//! null for the inline `stub` link before anything was pushed), `head` (the consumer's:
//! the node *before* the next message, null for the stub) and the stub.
//!
//! **Push** (any thread): take the spare node if there is one (a swap with null,
//! acquire), else allocate one; write the message and a null `next` into it; swap it into
//! `tail` (acquire-release); store it into the previous tail's `next` (release).
//!
//! **Pop** (the consumer only): read `head`'s `next` (acquire). Null: nothing to take now.
//! Otherwise move the message out of that node, make it the new `head`, and retire the
//! old head (unless it is the stub): its message left when it became the head. Retiring
//! stores it in `spare` if the queue is now empty as far as the consumer sees and `spare`
//! is null (release; only the consumer ever fills `spare`, producers only empty it, so a
//! plain store after a null load is race-free), else frees it.
//!
//! Invariants:
//! 1. Nodes from `head` to `tail` form a list; every node after `head` holds a message
//!    not yet taken, and `head`'s own message (if it is a node) has been taken.
//! 2. Between a producer's swap and its link store, the messages from its node on are
//!    invisible to `pop` (it reports empty). The mailbox copes: a send counts itself in
//!    flight until its push returns, and a sleeping owner is woken after the link is
//!    stored (`mailbox.rs`), so nothing waits on a message it cannot see.
//! 3. A node is retired (freed or made the spare) only once it is `head` and its `next`
//!    is set: no producer touches a node after storing into its `next`, and none holds a
//!    node it has not linked (a producer only ever holds the node it swapped out of
//!    `tail`, whose `next` it has yet to store). A spare node is owned by whichever
//!    producer swaps it out, alone (the swap hands it to one).
//!
//! Order: messages of one producer come out in the order it pushed them (its swaps are
//! ordered); between producers, in the order of their swaps.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr;

use crate::loom::{AtomicPtr, Ordering};

#[cfg(loom)]
use ::loom::cell::UnsafeCell;
#[cfg(not(loom))]
use std::cell::UnsafeCell;

/// The part every node shares: where the next one is.
struct Link {
    next: AtomicPtr<Link>,
}

/// A message's node. `repr(C)`: the link comes first, so a `*mut Link` to a node's link is
/// a `*mut Node<M>`.
#[repr(C)]
struct Node<M> {
    link: Link,
    value: UnsafeCell<MaybeUninit<M>>,
}

/// See the module docs.
pub(crate) struct Queue<M> {
    tail: AtomicPtr<Link>,
    /// Read and written by the consumer only (relaxed: it is one thread's variable; an
    /// atomic so the type needs no cell of its own).
    head: AtomicPtr<Link>,
    stub: Link,
    /// A retired node kept for the next push (null: none).
    spare: AtomicPtr<Link>,
    _owns: PhantomData<Box<Node<M>>>,
}

// SAFETY: the queue moves `M`s between threads (so `M: Send`); producers share it through
// `&self` and touch only `tail`, their own new node and the previous tail's `next` (atomics);
// `pop` is `unsafe` and requires a single consumer, so the messages themselves are never
// reached by two threads at once.
unsafe impl<M: Send> Send for Queue<M> {}
// SAFETY: as above.
unsafe impl<M: Send> Sync for Queue<M> {}

impl<M> Queue<M> {
    pub(crate) fn new() -> Self {
        Queue {
            tail: AtomicPtr::new(ptr::null_mut()),
            head: AtomicPtr::new(ptr::null_mut()),
            stub: Link {
                next: AtomicPtr::new(ptr::null_mut()),
            },
            spare: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// The stub's address: what a null `tail` or `head` stands for.
    #[inline(always)]
    fn stub(&self) -> *mut Link {
        ptr::from_ref(&self.stub).cast_mut()
    }

    /// Appends `v`. Any thread.
    #[inline]
    pub(crate) fn push(&self, v: M) {
        let spare = if self.spare.load(Ordering::Relaxed).is_null() {
            ptr::null_mut()
        } else {
            self.spare.swap(ptr::null_mut(), Ordering::Acquire)
        };
        let node = if spare.is_null() {
            Box::into_raw(Box::new(Node {
                link: Link {
                    next: AtomicPtr::new(ptr::null_mut()),
                },
                value: UnsafeCell::new(MaybeUninit::new(v)),
            }))
            .cast::<Link>()
        } else {
            let n = spare.cast::<Node<M>>();
            // SAFETY: the swap handed this retired node to us alone (invariant 3); the
            // acquire made the consumer's last use of it happen before. Its message was
            // moved out, so writing over it drops nothing.
            unsafe {
                (*n).link.next.store(ptr::null_mut(), Ordering::Relaxed);
                write_value(n, v);
            }
            spare
        };
        let prev = self.tail.swap(node, Ordering::AcqRel);
        let prev = if prev.is_null() { self.stub() } else { prev };
        // SAFETY: `prev` is the stub (part of `self`) or a node some producer swapped into
        // `tail` before us; it is not freed before its `next` is set (invariant 3), which
        // only we do. Release: our node's contents are visible to whoever reads this.
        unsafe { (*prev).next.store(node, Ordering::Release) };
    }

    /// The node the next message is in, if it is linked already.
    #[inline(always)]
    fn first(&self) -> (*mut Link, *mut Link) {
        let head = self.head.load(Ordering::Relaxed);
        let head = if head.is_null() { self.stub() } else { head };
        // SAFETY: `head` is the stub or a node only the consumer frees (invariant 3), and
        // the consumer is the caller.
        let next = unsafe { (*head).next.load(Ordering::Acquire) };
        (head, next)
    }

    /// Takes the oldest message whose push has finished linking.
    ///
    /// # Safety
    ///
    /// Only one thread is ever the consumer: no two calls of `pop` or `has_linked` run at
    /// once, on any threads.
    #[inline]
    pub(crate) unsafe fn pop(&self) -> Option<M> {
        let (head, next) = self.first();
        if next.is_null() {
            return None;
        }
        let node = next.cast::<Node<M>>();
        // SAFETY: `next` is a `Node<M>` (only the stub is a bare link, and it is never
        // anyone's `next`) whose message has not been taken (invariant 1) and whose
        // contents the acquire load of the link made visible; we are the only consumer.
        let v = unsafe { read_value(node) };
        self.head.store(next, Ordering::Relaxed);
        if head != self.stub() {
            // Keep a spare only when this pop emptied the queue (as in a ring, or a
            // request and its reply): while messages stream in, the spare would move
            // between the cores of the producer and the consumer with every message.
            // SAFETY: `next` is the new head, a live node only the consumer retires.
            let emptied = unsafe { (*next).next.load(Ordering::Relaxed) }.is_null();
            if emptied && self.spare.load(Ordering::Relaxed).is_null() {
                // Only the consumer fills `spare`: it stays null until this store.
                self.spare.store(head, Ordering::Release);
            } else {
                // SAFETY: `head` is a node (not the stub) whose message was taken when it
                // became the head and whose `next` is set: no producer touches it any more
                // (invariant 3). It was allocated by `push` as a `Box<Node<M>>`; its value
                // is `MaybeUninit`, so nothing is dropped twice.
                drop(unsafe { Box::from_raw(head.cast::<Node<M>>()) });
            }
        }
        Some(v)
    }

    /// `true` if a message is linked and ready for [`pop`](Self::pop).
    ///
    /// # Safety
    ///
    /// As for [`pop`](Self::pop): the caller is the one consumer.
    #[inline]
    pub(crate) unsafe fn has_linked(&self) -> bool {
        !self.first().1.is_null()
    }
}

/// Moves the message out of `node`.
///
/// # Safety
///
/// `node` is live, its message is initialised and visible to this thread, and nobody else
/// reads it; afterwards it counts as moved out.
#[inline(always)]
unsafe fn read_value<M>(node: *mut Node<M>) -> M {
    #[cfg(not(loom))]
    // SAFETY: the caller's promises.
    unsafe {
        (*(*node).value.get()).assume_init_read()
    }
    #[cfg(loom)]
    // SAFETY: the caller's promises.
    unsafe {
        (*node).value.with(|p| (*p).assume_init_read())
    }
}

/// Writes `v` into the message slot of `node`.
///
/// # Safety
///
/// `node` is live, owned by the caller alone, and its slot holds no message.
#[inline(always)]
unsafe fn write_value<M>(node: *mut Node<M>, v: M) {
    #[cfg(not(loom))]
    // SAFETY: the caller's promises.
    unsafe {
        (*(*node).value.get()).write(v);
    }
    #[cfg(loom)]
    // SAFETY: the caller's promises.
    unsafe {
        (*node).value.with_mut(|p| {
            (*p).write(v);
        })
    }
}

impl<M> Drop for Queue<M> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no producer is left, and this thread is the only consumer.
        while unsafe { self.pop() }.is_some() {}
        for p in [
            self.head.load(Ordering::Relaxed),
            self.spare.load(Ordering::Relaxed),
        ] {
            if !p.is_null() {
                // SAFETY: the last head and the spare are nodes whose messages were taken
                // and that nothing links to any more (two different nodes: the spare was
                // retired, the head was not). Allocated by `push` as `Box<Node<M>>`s.
                drop(unsafe { Box::from_raw(p.cast::<Node<M>>()) });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn fifo_on_one_thread_and_drops_what_is_left() {
        let q = Queue::new();
        // This thread is the queue's only consumer throughout.
        let pop = |q: &Queue<String>| {
            // SAFETY: the only consumer (above).
            unsafe { q.pop() }
        };
        // SAFETY: the only consumer.
        let linked = |q: &Queue<String>| unsafe { q.has_linked() };
        assert!(!linked(&q));
        assert_eq!(pop(&q), None);
        for i in 0..10 {
            q.push(i.to_string());
        }
        assert!(linked(&q));
        for i in 0..7 {
            assert_eq!(pop(&q), Some(i.to_string()));
        }
        q.push("x".to_string());
        // Three strings and the "x" are dropped with the queue (Miri checks for leaks).
        drop(q);
    }

    /// Producers on kernel threads, one consumer: every message arrives once, each
    /// producer's in order.
    #[test]
    fn many_producers_one_consumer_in_order() {
        let (producers, each) = if cfg!(miri) { (3, 40) } else { (4, 20_000) };
        let q = Arc::new(Queue::<(usize, usize)>::new());
        let threads: Vec<_> = (0..producers)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..each {
                        q.push((p, i));
                    }
                })
            })
            .collect();
        let mut next = vec![0; producers];
        let mut got = 0;
        while got < producers * each {
            // SAFETY: this thread is the only consumer.
            match unsafe { q.pop() } {
                Some((p, i)) => {
                    assert_eq!(i, next[p], "producer {p}'s messages out of order");
                    next[p] += 1;
                    got += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        // SAFETY: the only consumer.
        assert_eq!(unsafe { q.pop() }, None);
        assert!(next.iter().all(|&n| n == each));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Two producers racing the consumer: each message is taken exactly once, each
    /// producer's in order, and a node is never freed while a producer may touch it
    /// (loom's cell tracking and the leak check at the end).
    #[test]
    fn two_producers_race_the_consumer() {
        loom::model(|| {
            let q = Arc::new(Queue::<u32>::new());
            let producers: Vec<_> = [10u32, 20]
                .into_iter()
                .map(|base| {
                    let q = q.clone();
                    loom::thread::spawn(move || {
                        q.push(base);
                        q.push(base + 1);
                    })
                })
                .collect();
            let mut got = Vec::new();
            for _ in 0..3 {
                // SAFETY: this thread is the only consumer.
                if let Some(v) = unsafe { q.pop() } {
                    got.push(v);
                }
            }
            for p in producers {
                p.join().unwrap();
            }
            // SAFETY: as above.
            while let Some(v) = unsafe { q.pop() } {
                got.push(v);
            }
            assert_eq!(got.len(), 4);
            for base in [10u32, 20] {
                let mine: Vec<_> = got.iter().filter(|v| **v / 10 * 10 == base).collect();
                assert_eq!(mine, [&base, &(base + 1)]);
            }
        });
    }
}
