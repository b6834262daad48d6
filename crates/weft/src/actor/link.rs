//! Links, monitors and exit signals: the part of an actor the others see whatever its
//! message type.
//!
//! Every actor has a [`Core`], type-erased behind [`Signals`]. The core's lock guards a
//! small record: the exit reason once the actor has stopped, its links, the monitors
//! others hold on it, a pending exit signal, and the names it is registered under.
//!
//! * **Exit.** When an actor stops, its core records the reason *under the lock* and
//!   takes its links and monitors out; after the lock it sends every linked actor an
//!   exit signal and every monitor a [`Down`](super::Down). A link or monitor made after
//!   that point finds the reason recorded and fires at once (Erlang's `noproc`), so none
//!   is ever missed.
//! * **Exit signals.** A linked actor that traps exits receives the signal as a message
//!   ([`Exit`](super::Exit), converted by the `From` its message type implements). One
//!   that does not trap exits ignores a `Normal` signal and otherwise stops with the same
//!   reason: the signal is recorded as pending and the actor woken; it stops at its next
//!   receive (green threads are not interrupted in the middle of their code).

use std::sync::Arc;

use super::{ActorId, Down, Exit, ExitReason, MonitorRef};
use crate::sync::{Mutex, MutexGuard};

/// What the others may do to an actor without knowing its message type.
pub(crate) trait Signals: Send + Sync {
    fn core(&self) -> &Core;
    /// Delivers an exit signal from a linked actor.
    fn exit_signal(&self, from: ActorId, reason: &ExitReason);
}

/// A monitor's delivery: sends the watcher its `Down`.
pub(crate) type Deliver = Box<dyn FnOnce(Down) + Send>;

#[derive(Default)]
pub(crate) struct CoreState {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) exited: Option<ExitReason>,
    pub(crate) links: Vec<Arc<dyn Signals>>,
    pub(crate) monitors: Vec<(MonitorRef, Deliver)>,
    pub(crate) pending_exit: Option<ExitReason>,
    pub(crate) names: Vec<String>,
    /// Set by `Ctx::trap_exits` (never unset): the actor's `fn(Exit) -> M`, how an exit
    /// signal becomes a message.
    pub(crate) trap: Option<Box<dyn std::any::Any + Send + Sync>>,
}

pub(crate) struct Core {
    pub(crate) id: ActorId,
    /// Allocated on first use (a name, a link, a monitor, a registration, the exit), so
    /// an actor nobody watches costs its lock and a null pointer until it stops.
    pub(crate) state: LazyState,
}

impl Core {
    pub(crate) fn new(name: Option<Arc<str>>) -> Self {
        let core = Core {
            id: ActorId::next(),
            state: LazyState(Mutex::new(None)),
        };
        if name.is_some() {
            core.state.lock().name = name;
        }
        core
    }
}

/// A core's record behind its lock, boxed on first use.
pub(crate) struct LazyState(Mutex<Option<Box<CoreState>>>);

impl LazyState {
    /// Locks the record, creating it if this is its first use.
    pub(crate) fn lock(&self) -> LazyGuard<'_> {
        let mut g = self.0.lock();
        g.get_or_insert_with(Box::default);
        LazyGuard(g)
    }

    /// The actor's name, without creating the record.
    pub(crate) fn name(&self) -> Option<Arc<str>> {
        self.0.lock().as_ref().and_then(|s| s.name.clone())
    }
}

/// The locked record (always created: see [`LazyState::lock`]).
pub(crate) struct LazyGuard<'a>(MutexGuard<'a, Option<Box<CoreState>>>);

impl std::ops::Deref for LazyGuard<'_> {
    type Target = CoreState;
    fn deref(&self) -> &CoreState {
        self.0
            .as_deref()
            .unwrap_or_else(|| unreachable!("created by `lock`"))
    }
}

impl std::ops::DerefMut for LazyGuard<'_> {
    fn deref_mut(&mut self) -> &mut CoreState {
        self.0
            .as_deref_mut()
            .unwrap_or_else(|| unreachable!("created by `lock`"))
    }
}

/// Links `a` and `b` both ways. If either has already stopped, the other gets its exit
/// signal now.
pub(crate) fn link(a: &Arc<dyn Signals>, b: &Arc<dyn Signals>) {
    if a.core().id == b.core().id {
        return;
    }
    let a_dead = add_link(a, b);
    if let Some(r) = a_dead {
        b.exit_signal(a.core().id, &r);
        return;
    }
    if let Some(r) = add_link(b, a) {
        // `b` had stopped: undo `a`'s half and signal `a`.
        a.core()
            .state
            .lock()
            .links
            .retain(|l| l.core().id != b.core().id);
        a.exit_signal(b.core().id, &r);
    }
}

/// Adds `to` to `on`'s links unless `on` has stopped (then returns its reason).
fn add_link(on: &Arc<dyn Signals>, to: &Arc<dyn Signals>) -> Option<ExitReason> {
    let mut st = on.core().state.lock();
    if let Some(r) = &st.exited {
        return Some(r.clone());
    }
    if !st.links.iter().any(|l| l.core().id == to.core().id) {
        st.links.push(to.clone());
    }
    None
}

/// Removes the link between `a` and `b`, both ways.
pub(crate) fn unlink(a: &dyn Signals, b: &dyn Signals) {
    let (ia, ib) = (a.core().id, b.core().id);
    a.core().state.lock().links.retain(|l| l.core().id != ib);
    b.core().state.lock().links.retain(|l| l.core().id != ia);
}

/// Registers a monitor on `target`; delivers `Down` at once if it has stopped.
pub(crate) fn monitor(target: &dyn Signals, r: MonitorRef, deliver: Deliver) {
    let mut st = target.core().state.lock();
    if let Some(reason) = st.exited.clone() {
        drop(st);
        deliver(Down {
            monitor: r,
            actor: target.core().id,
            reason,
        });
        return;
    }
    st.monitors.push((r, deliver));
}

/// Removes a monitor (no `Down` for it then).
pub(crate) fn demonitor(target: &dyn Signals, r: MonitorRef) {
    target.core().state.lock().monitors.retain(|(m, _)| *m != r);
}

/// Records that the actor stopped with `reason`, releases its names, then signals its
/// links and monitors.
pub(crate) fn stopped(me: &dyn Signals, reason: &ExitReason) {
    let (links, monitors, names) = {
        let mut st = me.core().state.lock();
        st.exited = Some(reason.clone());
        (
            std::mem::take(&mut st.links),
            std::mem::take(&mut st.monitors),
            std::mem::take(&mut st.names),
        )
    };
    let id = me.core().id;
    // Names first: whoever hears of the exit finds them free.
    super::registry::release(&names, id);
    for l in links {
        l.core().state.lock().links.retain(|x| x.core().id != id);
        l.exit_signal(id, reason);
    }
    for (r, deliver) in monitors {
        deliver(Down {
            monitor: r,
            actor: id,
            reason: reason.clone(),
        });
    }
}

/// `true` when an exit signal with `reason` stops a non-trapping actor.
pub(crate) fn kills(reason: &ExitReason) -> bool {
    !matches!(reason, ExitReason::Normal)
}

/// The exit signal as a trapping actor's message.
pub(crate) fn as_message(from: ActorId, reason: &ExitReason) -> Exit {
    Exit {
        from,
        reason: reason.clone(),
    }
}
