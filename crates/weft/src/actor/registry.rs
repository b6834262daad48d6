//! The name registry: one process-wide map from names to addresses, typed on lookup.
//!
//! Entries hold the address as `dyn Any`, so [`whereis`] with the wrong message type
//! finds nothing rather than panicking. A name is released when its actor stops (the
//! actor's core lists its names; see `link.rs`), and registering under a taken name, or
//! registering an actor that has already stopped, is an error.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use super::{ActorId, Addr};
use crate::sync::Mutex;

struct Entry {
    id: ActorId,
    addr: Box<dyn Any + Send + Sync>,
}

fn table() -> &'static Mutex<HashMap<String, Entry>> {
    static TABLE: OnceLock<Mutex<HashMap<String, Entry>>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Why [`register`] refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// Another actor holds the name.
    Taken(ActorId),
    /// The actor has already stopped.
    Stopped,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Taken(id) => write!(f, "the name is taken by {id}"),
            RegisterError::Stopped => f.write_str("the actor has already stopped"),
        }
    }
}

impl std::error::Error for RegisterError {}

/// Registers `addr` under `name` until the actor stops (or [`unregister`]).
///
/// ```
/// use weft::actor;
/// let a = actor::spawn(|ctx: &mut actor::Ctx<u8>| { let _ = ctx.recv(); });
/// actor::register("doc-logger", &a).unwrap();
/// assert_eq!(actor::whereis::<u8>("doc-logger"), Some(a.clone()));
/// assert_eq!(actor::whereis::<String>("doc-logger"), None); // wrong message type
/// assert!(actor::register("doc-logger", &a).is_err());
/// # a.send(0).unwrap();
/// ```
///
/// # Errors
///
/// [`RegisterError::Taken`] when the name is in use, [`RegisterError::Stopped`] when
/// the actor has stopped.
pub fn register<M: Send + 'static>(name: &str, addr: &Addr<M>) -> Result<(), RegisterError> {
    // The actor's core lock first, then the table's: `release` takes the table's alone,
    // after the core has recorded the exit, so a name is never left to a stopped actor.
    let mut st = addr.shared.core.state.lock();
    if st.exited.is_some() {
        return Err(RegisterError::Stopped);
    }
    let mut t = table().lock();
    if let Some(e) = t.get(name) {
        return Err(RegisterError::Taken(e.id));
    }
    t.insert(
        name.to_string(),
        Entry {
            id: addr.id(),
            addr: Box::new(addr.clone()),
        },
    );
    st.names.push(name.to_string());
    Ok(())
}

/// The actor registered under `name`, if there is one and its messages are `M`.
pub fn whereis<M: Send + 'static>(name: &str) -> Option<Addr<M>> {
    table()
        .lock()
        .get(name)
        .and_then(|e| e.addr.downcast_ref::<Addr<M>>())
        .cloned()
}

/// Releases `name`; `true` if it was registered.
pub fn unregister(name: &str) -> bool {
    table().lock().remove(name).is_some()
}

/// Releases the names of the stopped actor `id` (those still its own).
pub(crate) fn release(names: &[String], id: ActorId) {
    if names.is_empty() {
        return;
    }
    let mut t = table().lock();
    for n in names {
        if t.get(n).is_some_and(|e| e.id == id) {
            t.remove(n);
        }
    }
}
