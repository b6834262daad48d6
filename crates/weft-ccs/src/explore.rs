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
use crate::term::{Act, Net, Semantics, TermId, Wiring, NONE, TAU};

/// The default bound on states (50 million).
pub const DEFAULT_MAX_STATES: usize = 50_000_000;

/// The transition system of a process, with the terms of its states.
#[derive(Debug)]
pub struct StateSpace {
    /// The transition system (state 0 is the process).
    pub lts: Lts,
    storage: Storage,
    leaves_are_whole: bool,
}

/// How the states' leaf terms are kept.
#[derive(Debug)]
enum Storage {
    /// `width` terms per state.
    Terms { width: usize, states: Vec<TermId> },
    /// `words` 64-bit words per state holding each leaf's local state number in a bit
    /// field; `fields[i]` is leaf `i`'s (word, shift, bits) and `terms[i]` maps its local
    /// numbers back to terms.
    Packed {
        words: usize,
        states: Vec<u64>,
        fields: Vec<Field>,
        terms: Vec<Vec<TermId>>,
    },
}

impl StateSpace {
    /// The leaf terms of state `s` (its sequential components).
    #[must_use]
    pub fn leaves(&self, s: u32) -> Vec<TermId> {
        match &self.storage {
            Storage::Terms { width, states } => {
                let w = *width;
                states[s as usize * w..(s as usize + 1) * w].to_vec()
            }
            Storage::Packed {
                words,
                states,
                fields,
                terms,
            } => {
                let key = &states[s as usize * words..(s as usize + 1) * words];
                fields
                    .iter()
                    .zip(terms)
                    .map(|(f, ts)| ts[f.get(key) as usize])
                    .collect()
            }
        }
    }

    /// Bytes held by the state vectors (not counting the transition system).
    #[must_use]
    pub fn state_bytes(&self) -> usize {
        match &self.storage {
            Storage::Terms { states, .. } => states.capacity() * 4,
            Storage::Packed {
                states,
                fields,
                terms,
                ..
            } => {
                states.capacity() * 8
                    + fields.capacity() * std::mem::size_of::<Field>()
                    + terms.iter().map(|t| t.capacity() * 4 + 24).sum::<usize>()
            }
        }
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
    let max_states = max_states.min(u32::MAX as usize - 1);
    if let Some(local) = Local::build(sem, &net, &wiring, max_states.saturating_mul(4).max(4096)) {
        return match local.words() {
            1 => packed::<1>(sem, &net, &wiring, local, max_states),
            2 => packed::<2>(sem, &net, &wiring, local, max_states),
            3 => packed::<3>(sem, &net, &wiring, local, max_states),
            4 => packed::<4>(sem, &net, &wiring, local, max_states),
            _ => unpacked(sem, &net, &wiring, max_states),
        };
    }
    unpacked(sem, &net, &wiring, max_states)
}

/// The generation over whole state vectors of terms (no per-leaf closure), kept for
/// networks whose leaves have too many local states to pack, and for tests.
#[doc(hidden)]
pub fn explore_unpacked(
    sem: &mut Semantics,
    root: TermId,
    max_states: usize,
) -> Result<StateSpace> {
    let net = sem.network(root);
    let wiring = sem.wiring(&net);
    let max_states = max_states.min(u32::MAX as usize - 1);
    unpacked(sem, &net, &wiring, max_states)
}

fn unpacked(
    sem: &mut Semantics,
    net: &Net,
    wiring: &Wiring,
    max_states: usize,
) -> Result<StateSpace> {
    let w = net.leaves.len().max(1);

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
        storage: Storage::Terms { width: w, states },
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

/// A leaf's bit field in a packed state: word, shift and mask of its local state number.
#[derive(Debug, Clone, Copy)]
struct Field {
    word: u32,
    shift: u32,
    mask: u64,
}

impl Field {
    fn get(self, key: &[u64]) -> u64 {
        (key[self.word as usize] >> self.shift) & self.mask
    }

    fn set(self, key: &mut [u64], v: u64) {
        let w = &mut key[self.word as usize];
        *w = (*w & !(self.mask << self.shift)) | (v << self.shift);
    }
}

/// A leaf-local move: the leaf's own action, that action as seen at the root (`NONE` when
/// it can only synchronise), and the local number of the leaf's next term.
#[derive(Debug, Clone, Copy)]
struct Move {
    act: Act,
    root: Act,
    to: u32,
}

/// The local state spaces of a network's leaves (each leaf's terms reachable by its own
/// transitions, ignoring its partners: an over-approximation of what it can reach), so
/// a global state packs into a few words of bit fields.
struct Local {
    fields: Vec<Field>,
    words: usize,
    /// Per leaf: local number to term (local 0 is the leaf's initial term).
    terms: Vec<Vec<TermId>>,
    /// Per leaf: where its local states' entries start in `starts`.
    base: Vec<u32>,
    /// Per leaf and local state, where its moves start in `moves` (each leaf has one
    /// more entry at the end).
    starts: Vec<u32>,
    moves: Vec<Move>,
    /// The synchronising pairs (indices into the wiring's) whose leaves can ever meet.
    pairs: Vec<usize>,
}

/// At most this many local states in all (beyond, the state vectors stay unpacked).
const MAX_LOCAL: usize = 1 << 20;

fn syncs(x: Act) -> bool {
    x != NONE && x != TAU
}

fn act_at(map: &[Act], a: Act) -> Act {
    map.get(a as usize).copied().unwrap_or(NONE)
}

impl Local {
    fn words(&self) -> usize {
        self.words
    }

    /// The local state spaces, or `None` when there is only one leaf (nothing to pack) or
    /// they are too large (more than [`MAX_LOCAL`] states in all, or than `limit`).
    fn build(sem: &mut Semantics, net: &Net, wiring: &Wiring, limit: usize) -> Option<Local> {
        let w = net.leaves.len();
        if w < 2 {
            return None;
        }
        let limit = limit.min(MAX_LOCAL);
        let acts = sem.num_acts();
        // The actions a leaf can ever use: seen at the root, or synchronising in a pair.
        let mut usable: Vec<Vec<bool>> = (0..w)
            .map(|i| {
                (0..acts)
                    .map(|a| act_at(&wiring.to_root[i], a as Act) != NONE)
                    .collect()
            })
            .collect();
        for p in &wiring.pairs {
            for (leaf, map) in [(p.i, &p.map_i), (p.j, &p.map_j)] {
                for (a, u) in usable[leaf].iter_mut().enumerate() {
                    if syncs(act_at(map, a as Act)) {
                        *u = true;
                    }
                }
            }
        }
        let mut total = 0usize;
        let mut terms = Vec::with_capacity(w);
        let mut base = Vec::with_capacity(w);
        let mut starts: Vec<u32> = Vec::new();
        let mut ms: Vec<Move> = Vec::new();
        let mut leaf_moves = Vec::with_capacity(w);
        for (i, &leaf) in net.leaves.iter().enumerate() {
            let mut ix: rustc_hash::FxHashMap<TermId, u32> = rustc_hash::FxHashMap::default();
            let mut ts = vec![leaf];
            ix.insert(leaf, 0);
            base.push(u32::try_from(starts.len()).ok()?);
            let first = ms.len();
            starts.push(u32::try_from(ms.len()).ok()?);
            let mut k = 0;
            while k < ts.len() {
                let (a0, n) = sem.ensure(ts[k]);
                for e in a0..a0 + n {
                    let (a, t) = sem.store_slice()[e as usize];
                    if !usable[i].get(a as usize).copied().unwrap_or(false) {
                        continue;
                    }
                    let to = if let Some(&x) = ix.get(&t) {
                        x
                    } else {
                        if total + ts.len() >= limit {
                            return None;
                        }
                        let x = u32::try_from(ts.len()).ok()?;
                        ts.push(t);
                        ix.insert(t, x);
                        x
                    };
                    ms.push(Move {
                        act: a,
                        root: act_at(&wiring.to_root[i], a),
                        to,
                    });
                }
                starts.push(u32::try_from(ms.len()).ok()?);
                k += 1;
            }
            total += ts.len();
            terms.push(ts);
            leaf_moves.push(first..ms.len());
        }
        // Bit fields, none straddling two words.
        let mut fields = Vec::with_capacity(w);
        let (mut word, mut used) = (0u32, 0u32);
        for ts in &terms {
            let bits = usize::BITS - (ts.len() - 1).leading_zeros();
            if bits == 0 {
                fields.push(Field {
                    word: 0,
                    shift: 0,
                    mask: 0,
                });
                continue;
            }
            if used + bits > 64 {
                word += 1;
                used = 0;
            }
            fields.push(Field {
                word,
                shift: used,
                mask: (1u64 << bits) - 1,
            });
            used += bits;
        }
        let words = word as usize + 1;
        // Pairs whose leaves have complementary actions at their meeting point.
        let pairs = wiring
            .pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                let mut seen = vec![false; acts];
                for m in &ms[leaf_moves[p.i].clone()] {
                    let x = act_at(&p.map_i, m.act);
                    if syncs(x) {
                        seen[x as usize] = true;
                    }
                }
                ms[leaf_moves[p.j].clone()].iter().any(|m| {
                    let y = act_at(&p.map_j, m.act);
                    syncs(y) && seen.get((y ^ 1) as usize).copied().unwrap_or(false)
                })
            })
            .map(|(k, _)| k)
            .collect();
        Some(Local {
            fields,
            words,
            terms,
            base,
            starts,
            moves: ms,
            pairs,
        })
    }

    /// Where the moves of leaf `i` in local state `local` are in `moves`.
    #[inline]
    fn range(&self, i: usize, local: u64) -> (u32, u32) {
        let at = self.base[i] as usize + local as usize;
        (self.starts[at], self.starts[at + 1])
    }
}

fn hash_key<const K: usize>(key: &[u64; K]) -> u64 {
    let mut h = 0u64;
    for &x in key {
        h = (h.rotate_left(5) ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    h ^ (h >> 32)
}

/// Breadth-first generation over packed states of `K` words (same numbering and
/// transitions as [`unpacked`]: the local moves keep the order of the terms' transitions).
fn packed<const K: usize>(
    sem: &Semantics,
    net: &Net,
    wiring: &Wiring,
    local: Local,
    max_states: usize,
) -> Result<StateSpace> {
    let w = local.fields.len();
    let mut states: Vec<u64> = Vec::new();
    let mut table: HashTable<u32> = HashTable::new();
    let mut act_label: Vec<u32> = vec![u32::MAX; sem.num_acts()];
    let mut labels: Vec<String> = vec!["tau".to_owned()];
    act_label[TAU as usize] = 0;

    let mut offsets: Vec<u64> = vec![0];
    let mut transitions: Vec<Transition> = Vec::new();

    let init = [0u64; K];
    states.extend_from_slice(&init);
    let h = hash_key(&init);
    table.insert_unique(h, 0, |_| h);
    let mut count: usize = 1;

    let mut ranges = vec![(0u32, 0u32); w];
    let mut out: Vec<(Act, u32)> = Vec::new();
    let mut found: Vec<Transition> = Vec::new();
    let fields = &local.fields;
    let moves = &local.moves[..];
    let pairs: Vec<(usize, usize, &[Act], &[Act])> = local
        .pairs
        .iter()
        .map(|&k| {
            let p = &wiring.pairs[k];
            (p.i, p.j, &p.map_i[..], &p.map_j[..])
        })
        .collect();

    let mut s = 0usize;
    while s < count {
        let mut key = [0u64; K];
        key.copy_from_slice(&states[s * K..(s + 1) * K]);
        for (i, (r, f)) in ranges.iter_mut().zip(fields).enumerate() {
            *r = local.range(i, f.get(&key));
        }
        // Moves of one leaf.
        for (i, &(lo, hi)) in ranges.iter().enumerate() {
            for m in &moves[lo as usize..hi as usize] {
                if m.root == NONE {
                    continue;
                }
                let mut succ = key;
                fields[i].set(&mut succ, u64::from(m.to));
                let id = intern_key(&mut states, &mut table, &succ, &mut count, max_states)?;
                out.push((m.root, id));
            }
        }
        // Synchronisations.
        for &(i, j, map_i, map_j) in &pairs {
            let (li, hi) = ranges[i];
            let (lj, hj) = ranges[j];
            if li == hi || lj == hj {
                continue;
            }
            for a in &moves[li as usize..hi as usize] {
                let x = act_at(map_i, a.act);
                if !syncs(x) {
                    continue;
                }
                for b in &moves[lj as usize..hj as usize] {
                    if act_at(map_j, b.act) != x ^ 1 {
                        continue;
                    }
                    let mut succ = key;
                    fields[i].set(&mut succ, u64::from(a.to));
                    fields[j].set(&mut succ, u64::from(b.to));
                    let id = intern_key(&mut states, &mut table, &succ, &mut count, max_states)?;
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
        found.clear();
        offsets.push(transitions.len() as u64);
        s += 1;
    }
    states.shrink_to_fit();
    transitions.shrink_to_fit();
    Ok(StateSpace {
        lts: Lts::from_parts(0, labels, offsets, transitions),
        storage: Storage::Packed {
            words: K,
            states,
            fields: local.fields,
            terms: local.terms,
        },
        leaves_are_whole: net.leaves.len() == 1,
    })
}

fn intern_key<const K: usize>(
    states: &mut Vec<u64>,
    table: &mut HashTable<u32>,
    key: &[u64; K],
    count: &mut usize,
    max_states: usize,
) -> Result<u32> {
    let h = hash_key(key);
    if let Some(&id) = table.find(h, |&id| {
        let id = id as usize;
        states[id * K..(id + 1) * K] == key[..]
    }) {
        return Ok(id);
    }
    if *count >= max_states {
        return Err(Error::TooManyStates { limit: max_states });
    }
    let id = *count as u32;
    states.extend_from_slice(key);
    let st: &Vec<u64> = states;
    table.insert_unique(h, id, |&x| {
        let x = x as usize;
        let mut k = [0u64; K];
        k.copy_from_slice(&st[x * K..(x + 1) * K]);
        hash_key(&k)
    });
    *count += 1;
    Ok(id)
}
