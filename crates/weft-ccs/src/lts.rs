//! Labelled transition systems in compressed sparse row form.
//!
//! States are `0..n`; the outgoing transitions of state `s` are
//! `transitions[offsets[s]..offsets[s + 1]]`, sorted by label then target and without
//! duplicates, each a `(label, target)` pair of two `u32` (8 bytes). Label `0` is always
//! the internal action `tau` ([`Lts::TAU`]); the other labels are names (`a`, `'a`, or any
//! text read from an `.aut` file).

use std::collections::VecDeque;
use std::fmt::Write as _;

use rustc_hash::FxHashMap;

/// One outgoing transition: its label and its target state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Transition {
    /// Index into [`Lts::labels`].
    pub label: u32,
    /// The target state.
    pub target: u32,
}

/// A labelled transition system with an initial state.
///
/// ```
/// use weft_ccs::Lts;
/// // 0 -a-> 1 -tau-> 0
/// let lts = Lts::from_edges(2, 0, vec!["tau".into(), "a".into()], &[(0, 1, 1), (1, 0, 0)]);
/// assert_eq!(lts.num_transitions(), 2);
/// assert_eq!(lts.successors(0)[0].target, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lts {
    initial: u32,
    labels: Vec<String>,
    offsets: Vec<u64>,
    transitions: Vec<Transition>,
}

impl Lts {
    /// The label of internal transitions.
    pub const TAU: u32 = 0;

    /// Builds an LTS from parts already in CSR form (each state's transitions sorted and
    /// unique). `labels[0]` names `tau`.
    pub(crate) fn from_parts(
        initial: u32,
        labels: Vec<String>,
        offsets: Vec<u64>,
        transitions: Vec<Transition>,
    ) -> Self {
        debug_assert!(!offsets.is_empty());
        Lts {
            initial,
            labels,
            offsets,
            transitions,
        }
    }

    /// Builds an LTS from `(source, label, target)` triples; `labels[0]` is the internal
    /// action. Duplicates are removed. Triples naming states `>= num_states` or unknown labels
    /// are ignored.
    #[must_use]
    pub fn from_edges(
        num_states: usize,
        initial: u32,
        labels: Vec<String>,
        edges: &[(u32, u32, u32)],
    ) -> Self {
        let mut labels = labels;
        if labels.is_empty() {
            labels.push("tau".to_owned());
        }
        let mut counts = vec![0u64; num_states + 1];
        let valid = |&&(s, l, t): &&(u32, u32, u32)| {
            (s as usize) < num_states && (t as usize) < num_states && (l as usize) < labels.len()
        };
        for &(s, _, _) in edges.iter().filter(valid) {
            counts[s as usize + 1] += 1;
        }
        for i in 0..num_states {
            counts[i + 1] += counts[i];
        }
        let mut fill = counts.clone();
        let mut transitions = vec![
            Transition {
                label: 0,
                target: 0
            };
            counts[num_states] as usize
        ];
        for &(s, l, t) in edges.iter().filter(valid) {
            let at = &mut fill[s as usize];
            transitions[*at as usize] = Transition {
                label: l,
                target: t,
            };
            *at += 1;
        }
        // Sort and deduplicate each state's run, compacting in place.
        let mut offsets = Vec::with_capacity(num_states + 1);
        offsets.push(0u64);
        let mut write = 0usize;
        for s in 0..num_states {
            let (a, b) = (counts[s] as usize, counts[s + 1] as usize);
            transitions[a..b].sort_unstable();
            let mut last = None;
            for k in a..b {
                let t = transitions[k];
                if last != Some(t) {
                    transitions[write] = t;
                    write += 1;
                    last = Some(t);
                }
            }
            offsets.push(write as u64);
        }
        transitions.truncate(write);
        transitions.shrink_to_fit();
        Lts {
            initial: initial.min(u32::try_from(num_states.saturating_sub(1)).unwrap_or(0)),
            labels,
            offsets,
            transitions,
        }
    }

    /// The number of states.
    #[must_use]
    pub fn num_states(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The number of transitions.
    #[must_use]
    pub fn num_transitions(&self) -> usize {
        self.transitions.len()
    }

    /// The initial state.
    #[must_use]
    pub fn initial(&self) -> u32 {
        self.initial
    }

    /// The label names; index 0 is `tau`.
    #[must_use]
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The name of a label.
    #[must_use]
    pub fn label_name(&self, label: u32) -> &str {
        self.labels.get(label as usize).map_or("?", String::as_str)
    }

    /// The label with this name, if any (`tau` names the internal action, and so does `i`
    /// unless a visible label is called `i`).
    #[must_use]
    pub fn label(&self, name: &str) -> Option<u32> {
        if name == "tau" {
            return Some(Self::TAU);
        }
        let found = self
            .labels
            .iter()
            .skip(1)
            .position(|l| l == name)
            .and_then(|i| u32::try_from(i + 1).ok());
        found.or((name == "i").then_some(Self::TAU))
    }

    /// The outgoing transitions of state `s`, sorted by label then target.
    #[must_use]
    pub fn successors(&self, s: u32) -> &[Transition] {
        let a = self.offsets[s as usize] as usize;
        let b = self.offsets[s as usize + 1] as usize;
        &self.transitions[a..b]
    }

    /// Every transition as `(source, label, target)`.
    pub fn edges(&self) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
        (0..self.num_states()).flat_map(move |s| {
            let s = s as u32;
            self.successors(s)
                .iter()
                .map(move |t| (s, t.label, t.target))
        })
    }

    /// Bytes held by the structure (offsets, transitions, labels).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.offsets.capacity() * 8
            + self.transitions.capacity() * std::mem::size_of::<Transition>()
            + self.labels.iter().map(|l| l.capacity() + 24).sum::<usize>()
    }

    /// For each state, its predecessors (sources of transitions into it), as CSR.
    #[must_use]
    pub(crate) fn predecessors(&self) -> (Vec<u64>, Vec<u32>) {
        let n = self.num_states();
        let mut offs = vec![0u64; n + 1];
        for t in &self.transitions {
            offs[t.target as usize + 1] += 1;
        }
        for i in 0..n {
            offs[i + 1] += offs[i];
        }
        let mut fill = offs.clone();
        let mut src = vec![0u32; self.transitions.len()];
        for s in 0..n {
            for t in self.successors(s as u32) {
                let at = &mut fill[t.target as usize];
                src[*at as usize] = s as u32;
                *at += 1;
            }
        }
        (offs, src)
    }

    /// The part reachable from the initial state, renumbered in breadth-first order (the
    /// initial state becomes 0).
    #[must_use]
    pub fn reachable(&self) -> Lts {
        let n = self.num_states();
        let mut id = vec![u32::MAX; n];
        let mut order = Vec::new();
        id[self.initial as usize] = 0;
        order.push(self.initial);
        let mut head = 0;
        while head < order.len() {
            let s = order[head];
            head += 1;
            for t in self.successors(s) {
                if id[t.target as usize] == u32::MAX {
                    id[t.target as usize] = order.len() as u32;
                    order.push(t.target);
                }
            }
        }
        let mut offsets = Vec::with_capacity(order.len() + 1);
        offsets.push(0);
        let mut transitions = Vec::new();
        for &s in &order {
            let start = transitions.len();
            transitions.extend(self.successors(s).iter().map(|t| Transition {
                label: t.label,
                target: id[t.target as usize],
            }));
            transitions[start..].sort_unstable();
            offsets.push(transitions.len() as u64);
        }
        Lts::from_parts(0, self.labels.clone(), offsets, transitions)
    }

    /// The disjoint union of two systems, with labels matched by name: `self`'s states keep
    /// their numbers, `other`'s are shifted by `self.num_states()`. Returns the union and
    /// the number of `other`'s initial state in it.
    #[must_use]
    pub fn union(&self, other: &Lts) -> (Lts, u32) {
        let mut labels = self.labels.clone();
        let mut index: FxHashMap<String, u32> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), i as u32))
            .collect();
        let remap: Vec<u32> = other
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    return 0;
                }
                *index.entry(l.clone()).or_insert_with(|| {
                    labels.push(l.clone());
                    (labels.len() - 1) as u32
                })
            })
            .collect();
        let shift = self.num_states() as u32;
        let mut offsets = self.offsets.clone();
        let base = self.transitions.len() as u64;
        offsets.extend(other.offsets[1..].iter().map(|o| o + base));
        let mut transitions = self.transitions.clone();
        for s in 0..other.num_states() {
            let start = transitions.len();
            transitions.extend(other.successors(s as u32).iter().map(|t| Transition {
                label: remap[t.label as usize],
                target: t.target + shift,
            }));
            transitions[start..].sort_unstable();
        }
        (
            Lts::from_parts(self.initial, labels, offsets, transitions),
            other.initial + shift,
        )
    }

    /// The system as Graphviz DOT; `names` labels the states when given.
    #[must_use]
    pub fn to_dot(&self, names: Option<&dyn Fn(u32) -> String>) -> String {
        let mut out = String::from("digraph lts {\n  rankdir=LR;\n  node [shape=circle];\n");
        let _ = writeln!(out, "  init [shape=point];\n  init -> s{};", self.initial);
        for s in 0..self.num_states() as u32 {
            let label = names.map_or_else(|| s.to_string(), |f| f(s));
            let _ = writeln!(out, "  s{s} [label=\"{}\"];", dot_escape(&label));
        }
        for (s, l, t) in self.edges() {
            let _ = writeln!(
                out,
                "  s{s} -> s{t} [label=\"{}\"];",
                dot_escape(self.label_name(l))
            );
        }
        out.push_str("}\n");
        out
    }

    /// A shortest path (by number of transitions) from the initial state to a state with no
    /// outgoing transitions: the labels along it and the state. `None` when every reachable
    /// state has a transition.
    #[must_use]
    pub fn find_deadlock(&self) -> Option<(Vec<u32>, u32)> {
        let n = self.num_states();
        let mut parent: Vec<(u32, u32)> = vec![(u32::MAX, 0); n];
        let mut seen = vec![false; n];
        let mut queue = VecDeque::new();
        seen[self.initial as usize] = true;
        queue.push_back(self.initial);
        while let Some(s) = queue.pop_front() {
            if self.successors(s).is_empty() {
                let mut labels = Vec::new();
                let mut at = s;
                while at != self.initial {
                    let (p, l) = parent[at as usize];
                    labels.push(l);
                    at = p;
                }
                labels.reverse();
                return Some((labels, s));
            }
            for t in self.successors(s) {
                if !seen[t.target as usize] {
                    seen[t.target as usize] = true;
                    parent[t.target as usize] = (s, t.label);
                    queue.push_back(t.target);
                }
            }
        }
        None
    }
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
