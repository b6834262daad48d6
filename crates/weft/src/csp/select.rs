//! External choice: `select!`, `select_biased!` and the dynamic [`Select`] builder, all
//! on one core loop ([`run`]) over type-erased cases.

use std::fmt;
use std::time::Duration;

use super::chan::{spend, Chan, Receiver, RecvFail, SendFail, Sender, Wait};
use super::error::{RecvError, SelectError, SelectTimeoutError, SendError, TrySelectError};
use super::waiter::{self, Outcome, Waiter};
// Under `--cfg loom`: the model clock and model thread.
use crate::loom::Instant;
#[cfg(loom)]
use crate::loom::Thread;
use crate::park::WaitReason;
#[cfg(not(loom))]
use crate::thread::Thread;

pub(crate) static SELECT: WaitReason = WaitReason::new("select");

/// One case of a select, whatever its channel's type.
///
/// Not public API: the macros use it through `__private`.
#[doc(hidden)]
pub trait Case {
    /// Tries the operation without waiting; `true` when it completed (its result is
    /// kept in the case).
    fn try_now(&mut self) -> bool;
    /// Registers `w` for case number `case`; `true` (and no registration) when the
    /// case is ready now.
    fn register(&mut self, w: &Thread, case: usize) -> bool;
    /// Removes the registration of a case that was not selected.
    fn unregister(&mut self, w: &Thread, case: usize);
    /// A partner completed this case; `stashed`: a value waits in the channel's stash.
    fn complete(&mut self, w: &Thread, case: usize, stashed: bool);
    /// Moves the result's value (a received value, or a send's value handed back) into
    /// the channel's stash under (`token`, `case`): how [`SelectedOperation`] gets a
    /// typed result out of a type-erased case.
    fn deposit(&mut self, token: usize, case: usize);
    /// `true` for a send case of a reused [`Select`] that already completed: it is
    /// never ready again.
    fn is_spent(&self) -> bool {
        false
    }
}

/// A receive case: `recv(rx) -> msg`.
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    chan: &'a Chan<T>,
    result: Option<Result<T, RecvError>>,
}

/// A send case: `send(tx, value) -> res`.
#[doc(hidden)]
pub struct SendCase<'a, T> {
    chan: &'a Chan<T>,
    value: Option<T>,
    result: Option<Result<(), SendError<T>>>,
}

impl<'a, T> RecvCase<'a, T> {
    /// A case receiving from `rx` (a `Receiver` or a reference to one).
    pub fn new<R: AsReceiver<Item = T> + ?Sized>(rx: &'a R) -> Self {
        RecvCase {
            chan: &rx.as_receiver().chan,
            result: None,
        }
    }

    /// The result, if this case was the one selected.
    pub fn into_result(self) -> Option<Result<T, RecvError>> {
        self.result
    }
}

impl<'a, T> SendCase<'a, T> {
    /// A case sending `value` on `tx` (a `Sender` or a reference to one).
    pub fn new<S: AsSender<Item = T> + ?Sized>(tx: &'a S, value: T) -> Self {
        SendCase {
            chan: &tx.as_sender().chan,
            value: Some(value),
            result: None,
        }
    }

    /// The result, if this case was the one selected.
    pub fn into_result(self) -> Option<Result<(), SendError<T>>> {
        self.result
    }
}

/// What `recv(..)` in a select accepts: a [`Receiver`] or any reference to one.
#[doc(hidden)]
pub trait AsReceiver {
    type Item;
    fn as_receiver(&self) -> &Receiver<Self::Item>;
}

/// What `send(..)` in a select accepts: a [`Sender`] or any reference to one.
#[doc(hidden)]
pub trait AsSender {
    type Item;
    fn as_sender(&self) -> &Sender<Self::Item>;
}

impl<T> AsReceiver for Receiver<T> {
    type Item = T;
    fn as_receiver(&self) -> &Receiver<T> {
        self
    }
}

impl<R: AsReceiver + ?Sized> AsReceiver for &R {
    type Item = R::Item;
    fn as_receiver(&self) -> &Receiver<R::Item> {
        (**self).as_receiver()
    }
}

impl<T> AsSender for Sender<T> {
    type Item = T;
    fn as_sender(&self) -> &Sender<T> {
        self
    }
}

impl<S: AsSender + ?Sized> AsSender for &S {
    type Item = S::Item;
    fn as_sender(&self) -> &Sender<S::Item> {
        (**self).as_sender()
    }
}

impl<T> Case for RecvCase<'_, T> {
    fn try_now(&mut self) -> bool {
        match self.chan.recv_unmetered(Wait::Never) {
            Ok(v) => self.result = Some(Ok(v)),
            Err(RecvFail::Disconnected) => self.result = Some(Err(RecvError)),
            Err(RecvFail::Empty) => return false,
        }
        true
    }

    fn register(&mut self, w: &Thread, case: usize) -> bool {
        self.chan.register_recv(w, case)
    }

    fn unregister(&mut self, w: &Thread, case: usize) {
        self.chan.unregister_recv(w, case);
    }

    fn complete(&mut self, w: &Thread, case: usize, stashed: bool) {
        self.result = Some(if stashed {
            Ok(self
                .chan
                .take_stashed(w.token(), case)
                .expect("a value handed to a selected receive case"))
        } else {
            Err(RecvError)
        });
    }

    fn deposit(&mut self, token: usize, case: usize) {
        if let Some(Ok(v)) = self.result.take() {
            self.chan.put_stashed(token, case, v);
        }
    }
}

impl<T> Case for SendCase<'_, T> {
    fn try_now(&mut self) -> bool {
        let Some(v) = self.value.take() else {
            return false; // a spent case of a reused `Select`
        };
        match self.chan.send_unmetered(v, Wait::Never) {
            Ok(()) => self.result = Some(Ok(())),
            Err(SendFail::Disconnected(v)) => self.result = Some(Err(SendError(v))),
            Err(SendFail::Full(v)) => {
                self.value = Some(v);
                return false;
            }
        }
        true
    }

    fn is_spent(&self) -> bool {
        self.value.is_none()
    }

    fn register(&mut self, w: &Thread, case: usize) -> bool {
        let Some(v) = self.value.take() else {
            return false; // spent: never ready, nothing registered
        };
        match self.chan.register_send(w, case, v) {
            Ok(()) => false,
            Err(v) => {
                self.value = Some(v);
                true
            }
        }
    }

    fn unregister(&mut self, w: &Thread, case: usize) {
        if let Some(v) = self.chan.unregister_send(w, case) {
            self.value = Some(v);
        }
    }

    fn complete(&mut self, w: &Thread, case: usize, stashed: bool) {
        self.result = Some(if stashed {
            Err(SendError(
                self.chan
                    .take_stashed(w.token(), case)
                    .expect("a value handed back to a selected send case"),
            ))
        } else {
            Ok(())
        });
    }

    fn deposit(&mut self, token: usize, case: usize) {
        if let Some(Err(SendError(v))) = self.result.take() {
            self.chan.put_stashed(token, case, v);
        }
    }
}

impl<T> fmt::Debug for RecvCase<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecvCase { .. }")
    }
}

impl<T> fmt::Debug for SendCase<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendCase { .. }")
    }
}

/// How long a select may wait.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum Timeout {
    /// No `default`: wait for ever.
    Never,
    /// `default =>`: do not wait.
    Now,
    /// `default(timeout) =>` or a deadline.
    At(Option<Instant>),
}

impl Timeout {
    /// `default(timeout)`: `Duration::MAX` waits for ever.
    pub fn after(timeout: Duration) -> Self {
        Timeout::At(Instant::now().checked_add(timeout))
    }
}

/// Case order for one attempt: the cases in written order (biased) or a uniformly
/// random permutation (fair), so each ready case is equally likely to be found first.
struct Order {
    small: [u32; 16],
    big: Vec<u32>,
    n: usize,
}

impl Order {
    fn new(n: usize, biased: bool) -> Self {
        let mut o = Order {
            small: [0; 16],
            big: Vec::new(),
            n,
        };
        if n > o.small.len() {
            o.big = (0..n as u32).collect();
        } else {
            for (i, s) in o.small.iter_mut().enumerate() {
                *s = i as u32;
            }
        }
        if !biased {
            // Fisher-Yates.
            let s = o.as_mut();
            for i in (1..s.len()).rev() {
                s.swap(i, waiter::random_below(i + 1));
            }
        }
        o
    }

    fn as_mut(&mut self) -> &mut [u32] {
        if self.n > self.small.len() {
            &mut self.big
        } else {
            &mut self.small[..self.n]
        }
    }
}

/// The core of every select: `Some(i)` when case `i` completed (its result is in the
/// case), `None` when the timeout passed first (or, with `Timeout::Now`, nothing was
/// ready). With no case and `Timeout::Never` it would wait for ever: callers rule that
/// out (the macro at compile time, [`Select`] with an error).
#[doc(hidden)]
pub fn run<C>(cases: &mut [C], biased: bool, timeout: Timeout) -> Option<usize>
where
    C: std::ops::DerefMut,
    C::Target: Case,
{
    spend();
    let n = cases.len();
    let deadline = match timeout {
        Timeout::Never => None,
        Timeout::Now => Some(Instant::now()),
        Timeout::At(d) => d,
    };
    if n == 0 {
        match deadline {
            #[cfg(not(loom))]
            Some(d) => crate::sleep_until(d),
            #[cfg(loom)]
            Some(_) => {}
            // `select! { default(Duration::MAX) => .. }`: waits for ever, as documented
            // (the deadlock detector names it "select").
            #[cfg(not(loom))]
            None => loop {
                let _ = crate::park::park_on(&SELECT, None);
            },
            #[cfg(loom)]
            None => unreachable!("no loom model selects over no case"),
        }
        return None;
    }
    loop {
        let mut order = Order::new(n, biased);
        let order = order.as_mut();
        // 1. The fast path: the first case ready in `order` completes.
        for &i in order.iter() {
            if cases[i as usize].try_now() {
                return Some(i as usize);
            }
        }
        if matches!(timeout, Timeout::Now) || deadline.is_some_and(|d| d <= Instant::now()) {
            return None;
        }
        // 2. Register on every channel; a case found ready while registering sends us
        //    back to the fast path (after aborting, so that no partner commits us).
        // `Some(result)`: the select is over; `None`: a case became ready while
        // registering, back to the fast path.
        let done = {
            let me = waiter::begin();
            let w: &Thread = &me;
            let mut registered = 0;
            let mut ready = false;
            for &i in order.iter() {
                if cases[i as usize].register(w, i as usize) {
                    ready = true;
                    break;
                }
                registered += 1;
            }
            // 3. Wait for one claim (or abort): the state word leaves WAITING exactly once.
            let outcome = if ready {
                w.abort()
            } else {
                w.wait(&SELECT, deadline)
            };
            let selected = match outcome {
                Outcome::Selected(i, stashed) => Some((i, stashed)),
                Outcome::Aborted => None,
            };
            // 4. Withdraw every other registration, then collect the selected case.
            for &i in &order[..registered] {
                let i = i as usize;
                if selected.is_none_or(|(s, _)| s != i) {
                    cases[i].unregister(w, i);
                }
            }
            if let Some((i, stashed)) = selected {
                cases[i].complete(w, i, stashed);
                Some(Some(i))
            } else {
                // Aborted: timed out, unless a case was found ready.
                (!ready).then_some(None)
            }
        };
        if let Some(r) = done {
            return r;
        }
    }
}

/// Waits on several channel operations and runs the arm of the one that completes
/// first: CSP's **external choice**, Go's `select`, crossbeam-channel's syntax.
///
/// ```text
/// select! {
///     recv(rx) -> msg => ..,        // msg: Result<T, RecvError>
///     send(tx, value) -> res => ..,  // res: Result<(), SendError<T>>
///     default => ..,                 // none ready now (optional)
///     default(timeout) => ..,        // or: none ready within `timeout`
/// }
/// ```
///
/// Exactly one operation happens. When several are ready, one is chosen **uniformly
/// at random** (so no case starves; use [`select_biased!`](crate::select_biased) for a
/// priority order). A receive on a disconnected channel and a send on a closed or
/// disconnected one are ready (with their error). Every channel and value expression
/// is evaluated once, before the choice, as in Go; the value of a send that is not
/// chosen is dropped. Without `default`, the select waits for ever (the deadlock
/// detector names it "select"). `select! {}` does not compile; `default(Duration::MAX)`
/// waits for ever. Up to 32 arms.
///
/// ```
/// use std::time::Duration;
/// use weft::csp::{channel, select};
///
/// let (tx1, rx1) = channel::<u32>();
/// let (tx2, rx2) = channel::<&str>();
/// weft::spawn(move || tx2.send("two").unwrap());
/// let got = select! {
///     recv(rx1) -> n => format!("one: {:?}", n),
///     recv(rx2) -> s => format!("two: {}", s.unwrap()),
///     default(Duration::from_secs(10)) => "nothing".to_string(),
/// };
/// assert_eq!(got, "two: two");
/// # drop(tx1);
/// ```
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__csp_select!(
            @parse false
            [__c0 __c1 __c2 __c3 __c4 __c5 __c6 __c7 __c8 __c9 __c10 __c11 __c12 __c13 __c14
             __c15 __c16 __c17 __c18 __c19 __c20 __c21 __c22 __c23 __c24 __c25 __c26 __c27
             __c28 __c29 __c30 __c31]
            []
            $($tokens)*
        )
    };
}

/// [`select!`](crate::select) with a priority order: when several cases are ready,
/// the first one written wins (occam's `PRI ALT`).
///
/// ```
/// use weft::csp::{bounded, select_biased};
///
/// let (hi_tx, hi) = bounded(1);
/// let (lo_tx, lo) = bounded(1);
/// hi_tx.send("urgent").unwrap();
/// lo_tx.send("later").unwrap();
/// let first = select_biased! {
///     recv(hi) -> m => m.unwrap(),
///     recv(lo) -> m => m.unwrap(),
/// };
/// assert_eq!(first, "urgent");
/// ```
#[macro_export]
macro_rules! select_biased {
    ($($tokens:tt)*) => {
        $crate::__csp_select!(
            @parse true
            [__c0 __c1 __c2 __c3 __c4 __c5 __c6 __c7 __c8 __c9 __c10 __c11 __c12 __c13 __c14
             __c15 __c16 __c17 __c18 __c19 __c20 __c21 __c22 __c23 __c24 __c25 __c26 __c27
             __c28 __c29 __c30 __c31]
            []
            $($tokens)*
        )
    };
}

/// The implementation of `select!`: a muncher that gives each arm a name from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! __csp_select {
    // recv arms
    (@parse $b:tt [$c:ident $($names:ident)*] [$($acc:tt)*]
        recv($rx:expr) -> $p:pat => $body:block , $($rest:tt)*) => {
        $crate::__csp_select!(@parse $b [$($names)*]
            [$($acc)* ($c ($crate::csp::__private::RecvCase::new(&$rx)) $p, ($body))] $($rest)*)
    };
    (@parse $b:tt [$c:ident $($names:ident)*] [$($acc:tt)*]
        recv($rx:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::__csp_select!(@parse $b [$($names)*]
            [$($acc)* ($c ($crate::csp::__private::RecvCase::new(&$rx)) $p, ($body))] $($rest)*)
    };
    (@parse $b:tt [$c:ident $($names:ident)*] [$($acc:tt)*]
        recv($rx:expr) -> $p:pat => $body:expr , $($rest:tt)*) => {
        $crate::__csp_select!(@parse $b [$($names)*]
            [$($acc)* ($c ($crate::csp::__private::RecvCase::new(&$rx)) $p, ($body))] $($rest)*)
    };
    (@parse $b:tt [$c:ident $($names:ident)*] [$($acc:tt)*]
        recv($rx:expr) -> $p:pat => $body:expr) => {
        $crate::__csp_select!(@parse $b [$($names)*]
            [$($acc)* ($c ($crate::csp::__private::RecvCase::new(&$rx)) $p, ($body))])
    };
    // send arms
    (@parse $b:tt [$c:ident $($names:ident)*] [$($acc:tt)*]
        send($tx:expr, $v:expr) -> $p:pat => $body:block , $($rest:tt)*) => {
        $crate::__csp_select!(@parse $b [$($names)*]
            [$($acc)* ($c ($crate::csp::__private::SendCase::new(&$tx, $v)) $p, ($body))] $($rest)*)
    };
    (@parse $b:tt [$c:ident $($names:ident)*] [$($acc:tt)*]
        send($tx:expr, $v:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::__csp_select!(@parse $b [$($names)*]
            [$($acc)* ($c ($crate::csp::__private::SendCase::new(&$tx, $v)) $p, ($body))] $($rest)*)
    };
    (@parse $b:tt [$c:ident $($names:ident)*] [$($acc:tt)*]
        send($tx:expr, $v:expr) -> $p:pat => $body:expr , $($rest:tt)*) => {
        $crate::__csp_select!(@parse $b [$($names)*]
            [$($acc)* ($c ($crate::csp::__private::SendCase::new(&$tx, $v)) $p, ($body))] $($rest)*)
    };
    (@parse $b:tt [$c:ident $($names:ident)*] [$($acc:tt)*]
        send($tx:expr, $v:expr) -> $p:pat => $body:expr) => {
        $crate::__csp_select!(@parse $b [$($names)*]
            [$($acc)* ($c ($crate::csp::__private::SendCase::new(&$tx, $v)) $p, ($body))])
    };
    // default arms: the last arm
    (@parse $b:tt [$($names:ident)*] [$($acc:tt)*] default => $body:expr $(,)?) => {
        $crate::__csp_select!(@emit $b [$($acc)*]
            ($crate::csp::__private::Timeout::Now) ($body))
    };
    (@parse $b:tt [$($names:ident)*] [$($acc:tt)*] default($t:expr) => $body:expr $(,)?) => {
        $crate::__csp_select!(@emit $b [$($acc)*]
            ($crate::csp::__private::Timeout::after($t)) ($body))
    };
    // the end
    (@parse $b:tt [$($names:ident)*] []) => {
        ::core::compile_error!("select! needs at least one `recv`, `send` or `default` arm")
    };
    (@parse $b:tt [$($names:ident)*] [$($acc:tt)*]) => {
        $crate::__csp_select!(@emit $b [$($acc)*]
            ($crate::csp::__private::Timeout::Never)
            (::core::unreachable!("a select without default always completes a case")))
    };
    (@parse $b:tt [] [$($acc:tt)*] $($rest:tt)+) => {
        ::core::compile_error!("select! takes at most 32 arms")
    };
    (@parse $b:tt [$($names:ident)*] [$($acc:tt)*] $($rest:tt)+) => {
        ::core::compile_error!(
            "select! arms are `recv(rx) -> msg => ..`, `send(tx, value) -> res => ..`, \
             `default => ..` or `default(timeout) => ..` (default last)"
        )
    };
    (@emit $b:tt [$( ($c:ident ($new:expr) $p:pat, ($body:expr)) )*] ($timeout:expr) ($default:expr)) => {{
        $( let mut $c = $new; )*
        let _ = $crate::csp::__private::run::<&mut dyn $crate::csp::__private::Case>(
            &mut [$( &mut $c as &mut dyn $crate::csp::__private::Case ),*],
            $b,
            $timeout,
        );
        $( let $c = $c.into_result(); )*
        $( if let ::core::option::Option::Some(__r) = $c { let $p = __r; $body } else )* {
            $default
        }
    }};
}

/// A select over a set of cases built at run time (crossbeam's `Select`, Go's
/// `reflect.Select`).
///
/// Add cases with [`recv`](Self::recv) and [`send`](Self::send) (each returns the
/// case's index), then wait with [`select`](Self::select), [`try_select`](Self::try_select),
/// [`select_timeout`](Self::select_timeout) or [`select_deadline`](Self::select_deadline).
/// The result names the completed case; take its outcome with
/// [`SelectedOperation::recv`] or [`SelectedOperation::send`]. A `Select` can be
/// waited on again: receive cases stay, a send case whose value went (or came back
/// with an error) is spent and never ready again.
///
/// ```
/// use weft::csp::{channel, Select};
///
/// let chans: Vec<_> = (0..4).map(|_| channel::<usize>()).collect();
/// let tx = chans[2].0.clone();
/// weft::spawn(move || tx.send(42).unwrap());
/// let mut sel = Select::new();
/// for (_, rx) in &chans {
///     sel.recv(rx);
/// }
/// let op = sel.select().expect("there are cases");
/// let i = op.index();
/// assert_eq!(i, 2);
/// assert_eq!(op.recv(&chans[i].1), Ok(42));
/// ```
///
/// A select with no case at all, or whose cases are all sends it already completed (a
/// reused select), fails with [`SelectError`] instead of waiting for ever.
pub struct Select<'a> {
    cases: Vec<Box<dyn Case + 'a>>,
    /// Each case's channel, and whether the case is a send (for [`SelectedOperation`]'s
    /// checks).
    chans: Vec<(*const (), bool)>,
    biased: bool,
}

/// The case a [`Select`] completed; hand it the case's channel end to take the outcome.
#[must_use = "take the outcome with `recv` or `send` (a received value is dropped otherwise)"]
pub struct SelectedOperation<'s, 'a> {
    sel: &'s mut Select<'a>,
    index: usize,
}

impl Default for Select<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Select<'a> {
    /// An empty select; ready cases are chosen uniformly at random.
    ///
    /// ```
    /// let sel = weft::csp::Select::new();
    /// assert_eq!(sel.len(), 0);
    /// ```
    pub fn new() -> Self {
        Select {
            cases: Vec::new(),
            chans: Vec::new(),
            biased: false,
        }
    }

    /// An empty select that prefers ready cases in the order they were added.
    ///
    /// ```
    /// use weft::csp::{bounded, Select};
    /// let (t1, r1) = bounded(1);
    /// let (t2, r2) = bounded(1);
    /// t1.send(1).unwrap();
    /// t2.send(2).unwrap();
    /// let mut sel = Select::new_biased();
    /// sel.recv(&r2);
    /// sel.recv(&r1);
    /// assert_eq!(sel.select().unwrap().index(), 0);
    /// ```
    pub fn new_biased() -> Self {
        Select {
            biased: true,
            ..Self::new()
        }
    }

    /// Adds a case receiving from `rx`; returns its index.
    ///
    /// ```
    /// let (_tx, rx) = weft::csp::channel::<u8>();
    /// let mut sel = weft::csp::Select::new();
    /// assert_eq!(sel.recv(&rx), 0);
    /// ```
    pub fn recv<T>(&mut self, rx: &'a Receiver<T>) -> usize {
        self.cases.push(Box::new(RecvCase::new(rx)));
        self.chans
            .push((std::ptr::from_ref::<Chan<T>>(&rx.chan).cast(), false));
        self.cases.len() - 1
    }

    /// Adds a case sending `value` on `tx`; returns its index.
    ///
    /// ```
    /// let (tx, rx) = weft::csp::bounded(1);
    /// let mut sel = weft::csp::Select::new();
    /// let i = sel.send(&tx, "hello");
    /// let op = sel.select().unwrap();
    /// assert_eq!(op.index(), i);
    /// op.send(&tx).unwrap();
    /// assert_eq!(rx.recv(), Ok("hello"));
    /// ```
    pub fn send<T>(&mut self, tx: &'a Sender<T>, value: T) -> usize {
        self.cases.push(Box::new(SendCase::new(tx, value)));
        self.chans
            .push((std::ptr::from_ref::<Chan<T>>(&tx.chan).cast(), true));
        self.cases.len() - 1
    }

    /// The number of cases.
    ///
    /// ```
    /// assert!(weft::csp::Select::new().is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    /// `true` when there is no case.
    ///
    /// ```
    /// assert_eq!(weft::csp::Select::new().len(), 0);
    /// ```
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }

    /// No case can ever complete: there is none, or every one is a send that a
    /// reused select already completed.
    fn all_spent(&self) -> bool {
        self.cases.iter().all(|c| c.is_spent())
    }

    fn run(&mut self, timeout: Timeout) -> Option<usize> {
        run(&mut self.cases, self.biased, timeout)
    }

    /// Waits until a case completes.
    ///
    /// # Errors
    ///
    /// [`SelectError`] at once when no case can ever complete: there is none, or every
    /// one is a send this select already completed (it would wait for ever).
    ///
    /// ```
    /// let (tx, rx) = weft::csp::channel();
    /// weft::spawn(move || tx.send(1).unwrap());
    /// let mut sel = weft::csp::Select::new();
    /// sel.recv(&rx);
    /// assert_eq!(sel.select().unwrap().recv(&rx), Ok(1));
    /// ```
    pub fn select(&mut self) -> Result<SelectedOperation<'_, 'a>, SelectError> {
        if self.all_spent() {
            return Err(SelectError);
        }
        let index = self.run(Timeout::Never).expect("a select without timeout");
        Ok(SelectedOperation { sel: self, index })
    }

    /// Completes a case that is ready now, without waiting.
    ///
    /// # Errors
    ///
    /// [`TrySelectError`] when none is (or there is no case).
    ///
    /// ```
    /// let (tx, rx) = weft::csp::bounded(1);
    /// let mut sel = weft::csp::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.try_select().is_err());
    /// tx.send(5).unwrap();
    /// assert_eq!(sel.try_select().unwrap().recv(&rx), Ok(5));
    /// ```
    pub fn try_select(&mut self) -> Result<SelectedOperation<'_, 'a>, TrySelectError> {
        match self.run(Timeout::Now) {
            Some(index) => Ok(SelectedOperation { sel: self, index }),
            None => Err(TrySelectError),
        }
    }

    /// Waits at most `timeout` for a case to complete; `Duration::MAX` waits for ever.
    ///
    /// # Errors
    ///
    /// [`SelectTimeoutError`] when the time passed first. With no case, it waits out the
    /// timeout and fails (unless the timeout is `Duration::MAX`: then it fails at once).
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_tx, rx) = weft::csp::channel::<u8>();
    /// let mut sel = weft::csp::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.select_timeout(Duration::from_millis(2)).is_err());
    /// ```
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        self.select_until(Instant::now().checked_add(timeout))
    }

    /// Waits until `deadline` at most for a case to complete.
    ///
    /// # Errors
    ///
    /// [`SelectTimeoutError`] when the deadline passed first.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut sel = weft::csp::Select::new();
    /// let t = Instant::now() + Duration::from_millis(2);
    /// assert!(sel.select_deadline(t).is_err());
    /// assert!(Instant::now() >= t);
    /// ```
    pub fn select_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        self.select_until(Some(deadline))
    }

    fn select_until(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        if self.all_spent() && deadline.is_none() {
            return Err(SelectTimeoutError);
        }
        match self.run(Timeout::At(deadline)) {
            Some(index) => Ok(SelectedOperation { sel: self, index }),
            None => Err(SelectTimeoutError),
        }
    }
}

impl<'s, 'a> SelectedOperation<'s, 'a> {
    /// The index of the completed case (as returned by [`Select::recv`] or
    /// [`Select::send`]).
    ///
    /// ```
    /// let (tx, rx) = weft::csp::bounded(1);
    /// tx.send(()).unwrap();
    /// let mut sel = weft::csp::Select::new();
    /// let i = sel.recv(&rx);
    /// assert_eq!(sel.select().unwrap().index(), i);
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    fn check(&self, chan: *const (), send: bool) {
        let (c, is_send) = self.sel.chans[self.index];
        assert!(
            c == chan,
            "SelectedOperation: the channel end given is not the one of case {}",
            self.index
        );
        assert!(
            is_send == send,
            "SelectedOperation: case {} is a {}, not a {}",
            self.index,
            if is_send { "send" } else { "receive" },
            if send { "send" } else { "receive" }
        );
    }

    /// The outcome of the completed receive case; `rx` must be that case's receiver.
    ///
    /// # Errors
    ///
    /// [`RecvError`] when the case completed because the channel is disconnected.
    ///
    /// # Panics
    ///
    /// When `rx` is not the completed case's receiver, or the case is a send.
    ///
    /// ```
    /// let (tx, rx) = weft::csp::unbounded();
    /// tx.send('q').unwrap();
    /// let mut sel = weft::csp::Select::new();
    /// sel.recv(&rx);
    /// assert_eq!(sel.select().unwrap().recv(&rx), Ok('q'));
    /// ```
    pub fn recv<T>(mut self, rx: &Receiver<T>) -> Result<T, RecvError> {
        self.check(std::ptr::from_ref::<Chan<T>>(&rx.chan).cast(), false);
        let token = self.deposit_result();
        rx.chan.take_stashed(token, self.index).ok_or(RecvError)
    }

    /// The outcome of the completed send case; `tx` must be that case's sender.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value when the channel was closed or disconnected.
    ///
    /// # Panics
    ///
    /// When `tx` is not the completed case's sender, or the case is a receive.
    ///
    /// ```
    /// let (tx, rx) = weft::csp::bounded(1);
    /// drop(rx);
    /// let mut sel = weft::csp::Select::new();
    /// sel.send(&tx, 8);
    /// let op = sel.select().unwrap();
    /// assert_eq!(op.send(&tx).unwrap_err().into_inner(), 8);
    /// ```
    pub fn send<T>(mut self, tx: &Sender<T>) -> Result<(), SendError<T>> {
        self.check(std::ptr::from_ref::<Chan<T>>(&tx.chan).cast(), true);
        let token = self.deposit_result();
        match tx.chan.take_stashed(token, self.index) {
            Some(v) => Err(SendError(v)),
            None => Ok(()),
        }
    }

    /// Moves the completed case's value to its channel's stash; returns the key. The
    /// key is the case's own address, made odd: unique while the case lives (it does
    /// until the typed take that follows), and never a waiter record's token (an
    /// aligned address), so no other select's value can be confused with it.
    fn deposit_result(&mut self) -> usize {
        let case = &mut self.sel.cases[self.index];
        let token = (&**case as *const dyn Case).cast::<()>() as usize | 1;
        case.deposit(token, self.index);
        token
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("cases", &self.cases.len())
            .field("biased", &self.biased)
            .finish()
    }
}

impl fmt::Debug for SelectedOperation<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish()
    }
}
