//! Trace equivalence and weak trace equivalence, with a shortest distinguishing trace.
//!
//! Both systems are determinised on the fly by the subset construction (for weak traces,
//! each subset is closed under `tau` steps and `tau` is not a letter), and the pair of
//! subsets reached by each trace is explored breadth first. Every state of an LTS accepts
//! (trace sets are prefix-closed), so the two are trace equivalent exactly when every
//! reachable pair enables the same letters; the first pair that does not gives a shortest
//! trace one side has and the other lacks.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::lts::Lts;

/// A trace of one system that the other does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceWitness {
    /// The labels of the trace.
    pub trace: Vec<String>,
    /// `true` when the first system has the trace (and the second not), `false` otherwise.
    pub in_first: bool,
}

fn close(lts: &Lts, set: &mut Vec<u32>, seen: &mut FxHashMap<u32, ()>) {
    seen.clear();
    for &s in set.iter() {
        seen.insert(s, ());
    }
    let mut i = 0;
    while i < set.len() {
        let s = set[i];
        i += 1;
        for t in lts.successors(s) {
            if t.label != Lts::TAU {
                break;
            }
            if seen.insert(t.target, ()).is_none() {
                set.push(t.target);
            }
        }
    }
    set.sort_unstable();
}

/// Compares the traces of states `s` and `t` of `lts` (weak: `tau` invisible). `None`
/// when they have the same traces.
///
/// ```
/// use weft_ccs::{traces, Lts};
/// // 0 -a-> 1 -b-> 2 versus 3 -a-> 4 (4 stuck).
/// let lts = Lts::from_edges(5, 0, vec!["tau".into(), "a".into(), "b".into()],
///     &[(0, 1, 1), (1, 2, 2), (3, 1, 4)]);
/// let w = traces::distinguish(&lts, 0, 3, false, usize::MAX).unwrap().unwrap();
/// assert_eq!(w.trace, ["a", "b"]);
/// assert!(w.in_first);
/// ```
///
/// # Errors
///
/// [`Error::TooLarge`] when the subset construction holds more than `limit` states in all.
pub fn distinguish(
    lts: &Lts,
    s: u32,
    t: u32,
    weak: bool,
    limit: usize,
) -> Result<Option<TraceWitness>> {
    let mut seen = FxHashMap::default();
    let mut start_a = vec![s];
    let mut start_b = vec![t];
    if weak {
        close(lts, &mut start_a, &mut seen);
        close(lts, &mut start_b, &mut seen);
    }
    let mut ids: FxHashMap<(Vec<u32>, Vec<u32>), u32> = FxHashMap::default();
    let mut parent: Vec<(u32, u32)> = Vec::new();
    let mut queue: VecDeque<(u32, Vec<u32>, Vec<u32>)> = VecDeque::new();
    ids.insert((start_a.clone(), start_b.clone()), 0);
    parent.push((u32::MAX, 0));
    queue.push_back((0, start_a, start_b));
    let mut held = 0usize;
    let mut step_a: Vec<(u32, u32)> = Vec::new();
    let mut step_b: Vec<(u32, u32)> = Vec::new();
    while let Some((id, a, b)) = queue.pop_front() {
        for (set, step) in [(&a, &mut step_a), (&b, &mut step_b)] {
            step.clear();
            for &x in set {
                for tr in lts.successors(x) {
                    if !(weak && tr.label == Lts::TAU) {
                        step.push((tr.label, tr.target));
                    }
                }
            }
            step.sort_unstable();
            step.dedup();
        }
        let (mut i, mut j) = (0, 0);
        while i < step_a.len() || j < step_b.len() {
            let la = step_a.get(i).map_or(u32::MAX, |x| x.0);
            let lb = step_b.get(j).map_or(u32::MAX, |x| x.0);
            if la != lb {
                let (label, in_first) = if la < lb { (la, true) } else { (lb, false) };
                let mut trace = vec![lts.label_name(label).to_owned()];
                let mut at = id;
                while parent[at as usize].0 != u32::MAX {
                    let (p, l) = parent[at as usize];
                    trace.push(lts.label_name(l).to_owned());
                    at = p;
                }
                trace.reverse();
                return Ok(Some(TraceWitness { trace, in_first }));
            }
            let mut na = Vec::new();
            while i < step_a.len() && step_a[i].0 == la {
                na.push(step_a[i].1);
                i += 1;
            }
            let mut nb = Vec::new();
            while j < step_b.len() && step_b[j].0 == lb {
                nb.push(step_b[j].1);
                j += 1;
            }
            if weak {
                close(lts, &mut na, &mut seen);
                close(lts, &mut nb, &mut seen);
            }
            let key = (na, nb);
            if !ids.contains_key(&key) {
                held += key.0.len() + key.1.len();
                if held > limit {
                    return Err(Error::TooLarge {
                        what: "the subset construction for traces".to_owned(),
                        limit,
                    });
                }
                let nid = parent.len() as u32;
                parent.push((id, la));
                ids.insert(key.clone(), nid);
                queue.push_back((nid, key.0, key.1));
            }
        }
    }
    Ok(None)
}
