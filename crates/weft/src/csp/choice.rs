//! Internal choice (`P ⊓ Q`: the process decides by itself) and parallel composition
//! (`P ‖ Q`: run both, wait for both).

use std::fmt;
#[cfg(not(loom))]
use std::panic::resume_unwind;
#[cfg(not(loom))]
use std::thread::Result as ThreadResult;

use super::waiter::reduce;

/// The source of an internal choice's decisions: a small, fast, **seedable**
/// pseudo-random generator (xorshift64*), so a test can replay the same choices.
///
/// ```
/// use weft::csp::Chooser;
/// let mut a = Chooser::seeded(7);
/// let mut b = Chooser::seeded(7);
/// let xs: Vec<usize> = (0..8).map(|_| a.pick(10)).collect();
/// let ys: Vec<usize> = (0..8).map(|_| b.pick(10)).collect();
/// assert_eq!(xs, ys); // same seed, same choices
/// ```
#[derive(Clone)]
pub struct Chooser {
    state: u64,
}

impl Chooser {
    /// A chooser whose decisions are fixed by `seed` (any value, zero included).
    ///
    /// ```
    /// assert!(weft::csp::Chooser::seeded(0).pick(3) < 3);
    /// ```
    pub fn seeded(seed: u64) -> Self {
        // SplitMix64 of the seed: well-spread, and never the all-zero state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Chooser { state: z | 1 }
    }

    /// A chooser seeded from the clock and the thread (different in every run).
    ///
    /// ```
    /// let mut c = weft::csp::Chooser::from_entropy();
    /// assert!(c.pick(2) < 2);
    /// ```
    pub fn from_entropy() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let local = 0u8;
        Self::seeded(t ^ (&local as *const u8 as u64).rotate_left(32))
    }

    /// The next pseudo-random 64-bit value.
    ///
    /// ```
    /// let mut c = weft::csp::Chooser::seeded(1);
    /// assert_ne!(c.next_u64(), c.next_u64());
    /// ```
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`, uniformly (up to a bias below n / 2^64).
    ///
    /// # Panics
    ///
    /// When `n` is zero: there is nothing to choose from.
    ///
    /// ```
    /// let mut c = weft::csp::Chooser::seeded(3);
    /// assert!((0..100).all(|_| c.pick(6) < 6));
    /// ```
    pub fn pick(&mut self, n: usize) -> usize {
        assert!(n > 0, "Chooser::pick: nothing to choose from (n == 0)");
        reduce(self.next_u64(), n)
    }
}

impl fmt::Debug for Chooser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Chooser { .. }")
    }
}

/// The branches of an [`internal_choice`]: a tuple of 1 to 8 closures returning the
/// same type, an array of closures of one type, or a `Vec` of them.
pub trait Branches<R> {
    /// The number of branches.
    fn count(&self) -> usize;
    /// Runs branch `i` (`i < count()`), dropping the others.
    fn run(self, i: usize) -> R;
}

macro_rules! tuple_branches {
    ($n:expr; $($f:ident $i:tt),+) => {
        impl<R, $($f: FnOnce() -> R),+> Branches<R> for ($($f,)+) {
            fn count(&self) -> usize {
                $n
            }
            fn run(self, i: usize) -> R {
                match i {
                    $($i => (self.$i)(),)+
                    _ => panic!("branch {i} of {}", $n),
                }
            }
        }
    };
}

tuple_branches!(1; A 0);
tuple_branches!(2; A 0, B 1);
tuple_branches!(3; A 0, B 1, C 2);
tuple_branches!(4; A 0, B 1, C 2, D 3);
tuple_branches!(5; A 0, B 1, C 2, D 3, E 4);
tuple_branches!(6; A 0, B 1, C 2, D 3, E 4, F 5);
tuple_branches!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_branches!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

impl<R, F: FnOnce() -> R, const N: usize> Branches<R> for [F; N] {
    fn count(&self) -> usize {
        N
    }
    fn run(self, i: usize) -> R {
        self.into_iter().nth(i).expect("branch index in range")()
    }
}

impl<R, F: FnOnce() -> R> Branches<R> for Vec<F> {
    fn count(&self) -> usize {
        self.len()
    }
    fn run(mut self, i: usize) -> R {
        self.swap_remove(i)()
    }
}

/// CSP's **internal choice** `P ⊓ Q ⊓ …`: the process commits to one branch *by
/// itself*, before it communicates, and then runs only that branch. The environment has
/// no say (contrast [`select!`](crate::select), the external choice, where whichever
/// communication the environment offers first decides). So a branch that sends on a
/// channel nobody reads simply blocks: the process does not try another.
///
/// Each branch is chosen with equal probability, drawn from `chooser` (seed it with
/// [`Chooser::seeded`] to replay a run).
///
/// # Panics
///
/// When there is no branch (an empty array or `Vec`).
///
/// ```
/// use weft::csp::{internal_choice, unbounded, Chooser};
///
/// let (tx, rx) = unbounded();
/// let mut chooser = Chooser::seeded(42);
/// for _ in 0..10 {
///     internal_choice(&mut chooser, (
///         || tx.send("tea").unwrap(),
///         || tx.send("coffee").unwrap(),
///     ));
/// }
/// drop(tx);
/// let drinks: Vec<_> = rx.iter().collect();
/// assert_eq!(drinks.len(), 10);
///
/// // The same seed makes the same choices.
/// let replay = |seed| {
///     let mut c = Chooser::seeded(seed);
///     (0..10).map(|_| internal_choice(&mut c, (|| 'a', || 'b', || 'c'))).collect::<String>()
/// };
/// assert_eq!(replay(1), replay(1));
/// ```
pub fn internal_choice<R, B: Branches<R>>(chooser: &mut Chooser, branches: B) -> R {
    let n = branches.count();
    assert!(n > 0, "internal_choice: no branch to choose from");
    let i = chooser.pick(n);
    branches.run(i)
}

/// CSP's **parallel composition** over a runtime-sized set of processes: runs each
/// closure as a green thread (they may borrow from the caller), waits for all of them,
/// and returns their results in order. See [`par!`](crate::par) for processes of
/// different types.
///
/// # Panics
///
/// If a process panicked, `par` resumes the panic of the first one (in the order given)
/// once every process has finished; the others' results are dropped.
///
/// ```
/// use weft::csp::{channel, par};
///
/// let (tx, rx) = channel();
/// let total = std::sync::atomic::AtomicU32::new(0);
/// let mut procs: Vec<Box<dyn FnOnce() + Send + '_>> = Vec::new();
/// for i in 1..=3 {
///     let tx = tx.clone();
///     procs.push(Box::new(move || tx.send(i).unwrap()));
/// }
/// procs.push(Box::new(|| {
///     for v in rx.iter().take(3) {
///         total.fetch_add(v, std::sync::atomic::Ordering::Relaxed);
///     }
/// }));
/// drop(tx);
/// par(procs);
/// assert_eq!(total.into_inner(), 6);
/// ```
#[cfg(not(loom))]
pub fn par<F, R>(procs: impl IntoIterator<Item = F>) -> Vec<R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    let results: Vec<ThreadResult<R>> = crate::scope(|s| {
        let handles: Vec<_> = procs.into_iter().map(|f| s.spawn(f)).collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    finish(results)
}

/// Unwraps results in order, resuming the first panic.
#[cfg(not(loom))]
fn finish<R>(results: Vec<ThreadResult<R>>) -> Vec<R> {
    let mut out = Vec::with_capacity(results.len());
    let mut panic = None;
    for r in results {
        match r {
            Ok(v) => out.push(v),
            Err(p) => {
                panic.get_or_insert(p);
            }
        }
    }
    if let Some(p) = panic {
        resume_unwind(p);
    }
    out
}

/// Joins a tuple of scoped handles; used by [`par!`](crate::par).
#[doc(hidden)]
pub trait JoinAll {
    type Output;
    fn join_all(self) -> Self::Output;
}

macro_rules! tuple_join {
    ($($r:ident $i:tt),+) => {
        #[cfg(not(loom))]
        impl<'scope, $($r),+> JoinAll for ($(crate::ScopedJoinHandle<'scope, $r>,)+) {
            type Output = ($($r,)+);
            #[allow(non_snake_case)]
            fn join_all(self) -> ($($r,)+) {
                let results = ($(self.$i.join(),)+);
                // Every process has finished: resume the first panic, in argument order.
                $(let $r = match results.$i {
                    Ok(v) => v,
                    Err(p) => resume_unwind(p),
                };)+
                ($($r,)+)
            }
        }
    };
}

tuple_join!(A 0);
tuple_join!(A 0, B 1);
tuple_join!(A 0, B 1, C 2);
tuple_join!(A 0, B 1, C 2, D 3);
tuple_join!(A 0, B 1, C 2, D 3, E 4);
tuple_join!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_join!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_join!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_join!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_join!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_join!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_join!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

/// CSP's **parallel composition** `P ‖ Q ‖ …`: runs each closure as a green thread
/// (closures may borrow from the caller, as with [`scope`](crate::scope)), waits for
/// all of them, and returns their results as a tuple (1 to 12 processes). If any
/// panicked, the first one's panic (in argument order) is resumed once all have
/// finished.
///
/// ```
/// use weft::csp::{channel, par};
///
/// let (tx, rx) = channel();
/// let (sent, got) = par!(
///     move || { (0..5).for_each(|i| tx.send(i).unwrap()); "sent" },
///     || rx.iter().sum::<i32>(),
/// );
/// assert_eq!((sent, got), ("sent", 10));
/// ```
#[macro_export]
macro_rules! par {
    ($($f:expr),+ $(,)?) => {
        $crate::scope(|__s| {
            $crate::csp::__private::JoinAll::join_all(($(__s.spawn($f),)+))
        })
    };
}
