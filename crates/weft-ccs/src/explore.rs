//! On-the-fly generation of the transition system of a process, breadth first.
//!
//! The process is first split into its static network ([`Semantics`] unfolds parallel
//! compositions, restrictions and relabellings at the top, which the SOS rules preserve
//! forever) and sequential leaves. A state is then the vector of its leaves' terms: `w`
//! `u32`s in one flat array, interned through a hash table of state numbers
//! (`hashbrown::HashTable<u32>`, keyed by the vector's hash), so a state costs `4w` bytes
//! plus about 5 bytes of table. The transitions of a state are its leaves' memoised
//! transitions, lifted through the precomputed action maps (a leaf's action as seen at the
//! root, or as seen at the parallel composition where it meets a partner) — the SOS rules
//! applied once per leaf instead of once per state.
//!
//! States are numbered in the order they are discovered and expanded in that order, so the
//! transitions come out already grouped by source and the LTS is written directly in CSR
//! form. Exceeding the bound on states stops the search with [`Error::TooManyStates`]
//! before the memory is spent.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use crate::error::{Error, Result};
use crate::lts::{Lts, Transition};
use crate::term::{Act, Semantics, TermId, NONE, TAU};

/// The default bound on states (50 million).
pub const DEFAULT_MAX_STATES: usize = 50_000_000;

/// The transition system of a process, with the terms of its states.
#[derive(Debug)]
pub struct StateSpace {
    /// The transition system (state 0 is the process).
    pub lts: Lts,
    width: usize,
    states: Vec<TermId>,
    leaves_are_whole: bool,
}

impl StateSpace {
    /// The leaf terms of state `s` (its sequential components).
    #[must_use]
    pub fn leaves(&self, s: u32) -> &[TermId] {
        let w = self.width;
        &self.states[s as usize * w..(s as usize + 1) * w]
    }

    /// Bytes held by the state vectors (not counting the transition system).
    #[must_use]
    pub fn state_bytes(&self) -> usize {
        self.states.capacity() * 4
    }

    /// Whether each state is one whole term (no static parallel structure was found).
    #[must_use]
    pub fn is_sequential(&self) -> bool {
        self.leaves_are_whole
    }
}

fn hash_slice(s: &[TermId]) -> u64 {
    FxBuildHasher.hash_one(s)
}

/// Generates the transition system of term `root`.
///
/// ```
/// use weft_ccs::{explore, Program, Semantics};
/// let program = Program::parse("m.ccs", "A = a.'b.A; B = b.c.B; S = (A | B) \\ {b};").unwrap();
/// let mut sem = Semantics::new(&program);
/// let root = sem.compile(&program.process("S").unwrap());
/// let space = explore(&mut sem, root, 1000).unwrap();
/// assert_eq!(space.lts.num_states(), 4);
/// ```
///
/// # Errors
///
/// [`Error::TooManyStates`] when more than `max_states` states are reachable.
pub fn explore(sem: &mut Semantics, root: TermId, max_states: usize) -> Result<StateSpace> {
    let net = sem.network(root);
    let wiring = sem.wiring(&net);
    let w = net.leaves.len().max(1);
    let max_states = max_states.min(u32::MAX as usize - 1);

    let mut states: Vec<TermId> = Vec::new();
    let mut table: HashTable<u32> = HashTable::new();
    let mut act_label: Vec<u32> = vec![u32::MAX; sem.num_acts()];
    let mut labels: Vec<String> = vec!["tau".to_owned()];
    act_label[TAU as usize] = 0;

    let mut offsets: Vec<u64> = vec![0];
    let mut transitions: Vec<Transition> = Vec::new();

    // Intern the initial state.
    states.extend_from_slice(&net.leaves);
    let h = hash_slice(&net.leaves);
    table.insert_unique(h, 0, |_| h);
    let mut count: usize = 1;

    let mut current = vec![0 as TermId; w];
    let mut succ = vec![0 as TermId; w];
    let mut ranges: Vec<(u32, u32)> = vec![(0, 0); w];
    let mut out: Vec<(Act, TermId)> = Vec::new();
    let mut found: Vec<Transition> = Vec::new();

    let mut s = 0usize;
    while s < count {
        current.copy_from_slice(&states[s * w..(s + 1) * w]);
        for (i, &t) in current.iter().enumerate() {
            ranges[i] = sem.ensure(t);
        }
        let store = sem.store_slice();
        found.clear();
        // Moves of one leaf.
        for i in 0..w {
            let (a0, n) = ranges[i];
            let map = &wiring.to_root[i];
            for &(a, t) in &store[a0 as usize..(a0 + n) as usize] {
                let b = map.get(a as usize).copied().unwrap_or(NONE);
                if b == NONE {
                    continue;
                }
                succ.copy_from_slice(&current);
                succ[i] = t;
                let id = intern(&mut states, &mut table, &succ, w, &mut count, max_states)?;
                out.push((b, id));
            }
        }
        // Synchronisations.
        for p in &wiring.pairs {
            let (ai, ni) = ranges[p.i];
            let (aj, nj) = ranges[p.j];
            if ni == 0 || nj == 0 {
                continue;
            }
            for &(a, t) in &store[ai as usize..(ai + ni) as usize] {
                let x = p.map_i.get(a as usize).copied().unwrap_or(NONE);
                if x == NONE || x == TAU {
                    continue;
                }
                for &(b, u) in &store[aj as usize..(aj + nj) as usize] {
                    if p.map_j.get(b as usize).copied().unwrap_or(NONE) != x ^ 1 {
                        continue;
                    }
                    succ.copy_from_slice(&current);
                    succ[p.i] = t;
                    succ[p.j] = u;
                    let id = intern(&mut states, &mut table, &succ, w, &mut count, max_states)?;
                    out.push((TAU, id));
                }
            }
        }
        for &(a, id) in &out {
            let slot = &mut act_label[a as usize];
            if *slot == u32::MAX {
                *slot = labels.len() as u32;
                labels.push(sem.act_name(a));
            }
            found.push(Transition {
                label: *slot,
                target: id,
            });
        }
        out.clear();
        found.sort_unstable();
        found.dedup();
        transitions.extend_from_slice(&found);
        offsets.push(transitions.len() as u64);
        s += 1;
    }
    states.shrink_to_fit();
    transitions.shrink_to_fit();
    Ok(StateSpace {
        lts: Lts::from_parts(0, labels, offsets, transitions),
        width: w,
        states,
        leaves_are_whole: net.leaves.len() == 1,
    })
}

fn intern(
    states: &mut Vec<TermId>,
    table: &mut HashTable<u32>,
    succ: &[TermId],
    w: usize,
    count: &mut usize,
    max_states: usize,
) -> Result<u32> {
    let h = hash_slice(succ);
    if let Some(&id) = table.find(h, |&id| {
        let id = id as usize;
        &states[id * w..(id + 1) * w] == succ
    }) {
        return Ok(id);
    }
    if *count >= max_states {
        return Err(Error::TooManyStates { limit: max_states });
    }
    let id = *count as u32;
    states.extend_from_slice(succ);
    let st: &Vec<TermId> = states;
    table.insert_unique(h, id, |&x| {
        let x = x as usize;
        hash_slice(&st[x * w..(x + 1) * w])
    });
    *count += 1;
    Ok(id)
}
