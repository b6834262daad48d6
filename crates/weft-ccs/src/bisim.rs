//! Strong and weak bisimilarity by partition refinement, and minimisation.
//!
//! **Strong** ([`strong_partition`]): signature refinement with a work list. The partition
//! is kept as a permutation of the states grouped by block. The signature of a state is the
//! set of `(label, block of target)` pairs of its transitions; a block on the work list is
//! split into the groups of equal signatures (found by hashing, not sorting). The largest
//! group keeps the block's number and the others get new ones; only the blocks holding a
//! predecessor of a state that moved go back on the work list. Invariant: two states in
//! different blocks are not bisimilar; at the end (empty work list) every block is stable
//! with respect to every other, so the partition is the coarsest bisimulation.
//!
//! **Weak** ([`weak_partition`]): states on a `tau` cycle are weakly bisimilar, so the
//! `tau`-strongly-connected components are collapsed first (Tarjan, iteratively), leaving
//! a `tau`-acyclic system. Then rounds of signature refinement with weak signatures
//! `{(a, B) | s =a=> t, t in B}` (with `s =tau=> s` always), computed inductively in
//! reverse topological order of the `tau` graph, in two passes per round: first the set
//! `T(s)` of blocks `s` reaches by `tau*` (`{B(s)}` ∪ the `T` of its `tau` successors), then
//! the signature of `s`: `{(tau, B) | B in T(s)}` ∪ the signatures of its `tau` successors
//! ∪ `{(a, B) | s -a-> t, B in T(t)}`. No saturated relation is built. Rounds stop when the number of blocks does
//! not grow.
//!
//! **Quotients** ([`minimize`]): modulo strong bisimilarity, one state per block and the
//! distinct `(block, label, block)` transitions. Modulo weak bisimilarity, as mCRL2 and
//! `merc_reduction` do: the existential quotient without `tau` steps inside a block, then
//! without transitions that another path `tau* a tau*` of the quotient already implies.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use crate::error::{Error, Result};
use crate::lts::{Lts, Transition};

/// An equivalence of processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Equivalence {
    /// Strong bisimilarity.
    Strong,
    /// Weak bisimilarity (observational equivalence).
    Weak,
    /// Trace equivalence (`tau` counts as an action).
    Traces,
    /// Weak trace equivalence (`tau` is invisible).
    WeakTraces,
}

/// A partition of the states of an LTS into blocks numbered `0..num_blocks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The block of each state.
    pub block: Vec<u32>,
    /// The number of blocks.
    pub num_blocks: usize,
}

fn hash_of<T: Hash + ?Sized>(x: &T) -> u64 {
    FxBuildHasher.hash_one(x)
}

/// The coarsest strong bisimulation of `lts`.
///
/// ```
/// use weft_ccs::{bisim, Lts};
/// // 0 -a-> 1, 0 -a-> 2, 1 -b-> 3, 2 -b-> 3: states 1 and 2 are bisimilar.
/// let lts = Lts::from_edges(4, 0, vec!["tau".into(), "a".into(), "b".into()],
///     &[(0, 1, 1), (0, 1, 2), (1, 2, 3), (2, 2, 3)]);
/// let p = bisim::strong_partition(&lts);
/// assert_eq!(p.num_blocks, 3);
/// assert_eq!(p.block[1], p.block[2]);
/// ```
#[must_use]
pub fn strong_partition(lts: &Lts) -> Partition {
    let n = lts.num_states();
    if n == 0 {
        return Partition {
            block: Vec::new(),
            num_blocks: 0,
        };
    }
    let (poffs, psrc) = lts.predecessors();
    let mut block = vec![0u32; n];
    let mut elems: Vec<u32> = (0..n as u32).collect();
    let mut start: Vec<u32> = vec![0];
    let mut end: Vec<u32> = vec![n as u32];
    let mut dirty: Vec<u32> = vec![0];
    let mut is_dirty: Vec<bool> = vec![true];

    let mut sig: Vec<u64> = Vec::new();
    let mut sig_off: Vec<usize> = Vec::new();
    let mut group_of: Vec<u32> = Vec::new();
    let mut group_rep: Vec<usize> = Vec::new();
    let mut group_size: Vec<u32> = Vec::new();
    let mut table: HashTable<u32> = HashTable::new();
    let mut scratch: Vec<u32> = Vec::new();

    while let Some(b) = dirty.pop() {
        is_dirty[b as usize] = false;
        let (lo, hi) = (start[b as usize] as usize, end[b as usize] as usize);
        if hi - lo <= 1 {
            continue;
        }
        sig.clear();
        sig_off.clear();
        sig_off.push(0);
        for &s in &elems[lo..hi] {
            let st = sig.len();
            for t in lts.successors(s) {
                sig.push((u64::from(t.label) << 32) | u64::from(block[t.target as usize]));
            }
            let part = &mut sig[st..];
            part.sort_unstable();
            let mut w = 0;
            for k in 0..part.len() {
                if k == 0 || part[k] != part[w - 1] {
                    part[w] = part[k];
                    w += 1;
                }
            }
            sig.truncate(st + w);
            sig_off.push(sig.len());
        }
        table.clear();
        group_of.clear();
        group_rep.clear();
        group_size.clear();
        for k in 0..hi - lo {
            let key = &sig[sig_off[k]..sig_off[k + 1]];
            let h = hash_of(key);
            let g = match table.find(h, |&g| {
                let r = group_rep[g as usize];
                &sig[sig_off[r]..sig_off[r + 1]] == key
            }) {
                Some(&g) => g,
                None => {
                    let g = group_rep.len() as u32;
                    group_rep.push(k);
                    group_size.push(0);
                    let (so, gr) = (&sig_off, &group_rep);
                    let sg = &sig;
                    table.insert_unique(h, g, |&x| {
                        let r = gr[x as usize];
                        hash_of(&sg[so[r]..so[r + 1]])
                    });
                    g
                }
            };
            group_of.push(g);
            group_size[g as usize] += 1;
        }
        let groups = group_rep.len();
        if groups == 1 {
            continue;
        }
        // The largest group keeps `b`; the others become new blocks.
        let keep = (0..groups).max_by_key(|&g| group_size[g]).unwrap_or(0);
        let mut ids = vec![0u32; groups];
        let mut pos = vec![0usize; groups];
        let mut at = lo;
        for g in 0..groups {
            pos[g] = at;
            if g == keep {
                ids[g] = b;
                start[b as usize] = at as u32;
                end[b as usize] = (at + group_size[g] as usize) as u32;
            } else {
                ids[g] = start.len() as u32;
                start.push(at as u32);
                end.push((at + group_size[g] as usize) as u32);
                is_dirty.push(false);
            }
            at += group_size[g] as usize;
        }
        scratch.clear();
        scratch.extend_from_slice(&elems[lo..hi]);
        for (k, &s) in scratch.iter().enumerate() {
            let g = group_of[k] as usize;
            elems[pos[g]] = s;
            pos[g] += 1;
            block[s as usize] = ids[g];
        }
        for (k, &s) in scratch.iter().enumerate() {
            if group_of[k] as usize == keep {
                continue;
            }
            for &p in &psrc[poffs[s as usize] as usize..poffs[s as usize + 1] as usize] {
                let pb = block[p as usize];
                if !is_dirty[pb as usize] {
                    is_dirty[pb as usize] = true;
                    dirty.push(pb);
                }
            }
        }
    }
    Partition {
        num_blocks: start.len(),
        block,
    }
}

/// The `tau`-strongly-connected components: the component of each state, their number,
/// and the components in the order Tarjan's algorithm completes them (every component
/// after all components it reaches by `tau` steps).
pub(crate) fn tau_sccs(lts: &Lts) -> (Vec<u32>, usize, Vec<u32>) {
    let n = lts.num_states();
    let mut index = vec![u32::MAX; n];
    let mut low = vec![0u32; n];
    let mut comp = vec![u32::MAX; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut order: Vec<u32> = Vec::new();
    let mut next = 0u32;
    let mut ncomp = 0u32;
    let mut call: Vec<(u32, usize)> = Vec::new();
    for root in 0..n as u32 {
        if index[root as usize] != u32::MAX {
            continue;
        }
        call.push((root, 0));
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        while let Some(&mut (v, ref mut k)) = call.last_mut() {
            let succ = lts.successors(v);
            // Transitions are sorted by label, so the tau ones come first.
            if *k < succ.len() && succ[*k].label == Lts::TAU {
                let w = succ[*k].target;
                *k += 1;
                if index[w as usize] == u32::MAX {
                    index[w as usize] = next;
                    low[w as usize] = next;
                    next += 1;
                    stack.push(w);
                    call.push((w, 0));
                } else if comp[w as usize] == u32::MAX {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
            } else {
                call.pop();
                if let Some(&(u, _)) = call.last() {
                    low[u as usize] = low[u as usize].min(low[v as usize]);
                }
                if low[v as usize] == index[v as usize] {
                    while let Some(w) = stack.pop() {
                        comp[w as usize] = ncomp;
                        if w == v {
                            break;
                        }
                    }
                    order.push(ncomp);
                    ncomp += 1;
                }
            }
        }
    }
    (comp, ncomp as usize, order)
}

/// The coarsest weak bisimulation of `lts`.
///
/// ```
/// use weft_ccs::{bisim, Lts};
/// // 0 -tau-> 1 -a-> 2 and 3 -a-> 4: states 0, 1 and 3 are weakly bisimilar.
/// let lts = Lts::from_edges(5, 0, vec!["tau".into(), "a".into()],
///     &[(0, 0, 1), (1, 1, 2), (3, 1, 4)]);
/// let p = bisim::weak_partition(&lts, usize::MAX).unwrap();
/// assert_eq!(p.block[0], p.block[3]);
/// assert_eq!(p.num_blocks, 2);
/// ```
///
/// # Errors
///
/// [`Error::TooLarge`] when the weak signatures of one round hold more than `limit` pairs.
pub fn weak_partition(lts: &Lts, limit: usize) -> Result<Partition> {
    let n = lts.num_states();
    let (comp, nc, order) = tau_sccs(lts);
    // The collapsed system: per component, its tau successors and visible transitions.
    let mut members_off = vec![0usize; nc + 1];
    for &c in &comp {
        members_off[c as usize + 1] += 1;
    }
    for i in 0..nc {
        members_off[i + 1] += members_off[i];
    }
    let mut fill = members_off.clone();
    let mut members = vec![0u32; n];
    for (s, &c) in comp.iter().enumerate() {
        let c = c as usize;
        members[fill[c]] = s as u32;
        fill[c] += 1;
    }
    let mut tau_off = vec![0usize; nc + 1];
    let mut vis_off = vec![0usize; nc + 1];
    let mut tau_succ: Vec<u32> = Vec::new();
    let mut vis: Vec<(u32, u32)> = Vec::new();
    for c in 0..nc {
        let ts = tau_succ.len();
        let vs = vis.len();
        for &s in &members[members_off[c]..members_off[c + 1]] {
            for t in lts.successors(s) {
                let d = comp[t.target as usize];
                if t.label == Lts::TAU {
                    if d as usize != c {
                        tau_succ.push(d);
                    }
                } else {
                    vis.push((t.label, d));
                }
            }
        }
        tau_succ[ts..].sort_unstable();
        dedup_tail(&mut tau_succ, ts);
        vis[vs..].sort_unstable();
        dedup_tail(&mut vis, vs);
        tau_off[c + 1] = tau_succ.len();
        vis_off[c + 1] = vis.len();
    }

    let mut blk = vec![0u32; nc];
    let mut num_blocks = 1usize.min(nc);
    let mut sig: Vec<u64> = Vec::new();
    let mut sig_off: Vec<(usize, usize)> = vec![(0, 0); nc];
    let mut next_blk = vec![0u32; nc];
    let mut tmp: Vec<u64> = Vec::new();
    let mut table: HashTable<u32> = HashTable::new();
    let mut reps: Vec<u32> = Vec::new();
    let mut reach: Vec<u32> = Vec::new();
    let mut reach_off: Vec<(usize, usize)> = vec![(0, 0); nc];
    let mut tmp32: Vec<u32> = Vec::new();
    loop {
        // Pass 1: the blocks each component reaches by tau steps.
        reach.clear();
        for &c in &order {
            let c = c as usize;
            tmp32.clear();
            tmp32.push(blk[c]);
            for &d in &tau_succ[tau_off[c]..tau_off[c + 1]] {
                let (a, b) = reach_off[d as usize];
                tmp32.extend_from_slice(&reach[a..b]);
            }
            tmp32.sort_unstable();
            tmp32.dedup();
            let st = reach.len();
            reach.extend_from_slice(&tmp32);
            reach_off[c] = (st, reach.len());
        }
        // Pass 2: the weak signatures.
        sig.clear();
        for &c in &order {
            let c = c as usize;
            tmp.clear();
            let (a, b) = reach_off[c];
            tmp.extend(reach[a..b].iter().map(|&x| u64::from(x)));
            for &d in &tau_succ[tau_off[c]..tau_off[c + 1]] {
                let (a, b) = sig_off[d as usize];
                tmp.extend_from_slice(&sig[a..b]);
            }
            for &(l, d) in &vis[vis_off[c]..vis_off[c + 1]] {
                let (a, b) = reach_off[d as usize];
                tmp.extend(
                    reach[a..b]
                        .iter()
                        .map(|&x| (u64::from(l) << 32) | u64::from(x)),
                );
            }
            tmp.sort_unstable();
            tmp.dedup();
            let st = sig.len();
            sig.extend_from_slice(&tmp);
            sig_off[c] = (st, sig.len());
            if sig.len() + reach.len() > limit {
                return Err(Error::TooLarge {
                    what: "weak bisimilarity's signatures".to_owned(),
                    limit,
                });
            }
        }
        // New block = (old block, signature).
        table.clear();
        reps.clear();
        for c in 0..nc {
            let (a, b) = sig_off[c];
            let h = hash_of(&(blk[c], &sig[a..b]));
            let found = table.find(h, |&r| {
                let r = r as usize;
                let (x, y) = sig_off[r];
                blk[r] == blk[c] && sig[x..y] == sig[a..b]
            });
            next_blk[c] = match found {
                Some(&r) => next_blk[r as usize],
                None => {
                    let id = reps.len() as u32;
                    reps.push(c as u32);
                    let (so, bl, sg) = (&sig_off, &blk, &sig);
                    table.insert_unique(h, c as u32, |&r| {
                        let (x, y) = so[r as usize];
                        hash_of(&(bl[r as usize], &sg[x..y]))
                    });
                    id
                }
            };
        }
        let count = reps.len();
        std::mem::swap(&mut blk, &mut next_blk);
        if count == num_blocks {
            break;
        }
        num_blocks = count;
    }
    Ok(Partition {
        block: comp.iter().map(|&c| blk[c as usize]).collect(),
        num_blocks,
    })
}

fn dedup_tail<T: PartialEq + Copy>(v: &mut Vec<T>, from: usize) {
    let mut w = from;
    for k in from..v.len() {
        if k == from || v[k] != v[w - 1] {
            v[w] = v[k];
            w += 1;
        }
    }
    v.truncate(w);
}

/// The quotient modulo strong bisimilarity of `lts` by `partition` (a strong bisimulation).
#[must_use]
pub fn strong_quotient(lts: &Lts, p: &Partition) -> Lts {
    let mut rep = vec![u32::MAX; p.num_blocks];
    for s in 0..lts.num_states() {
        let b = p.block[s] as usize;
        if rep[b] == u32::MAX {
            rep[b] = s as u32;
        }
    }
    let mut edges = Vec::new();
    for (b, &s) in rep.iter().enumerate() {
        for t in lts.successors(s) {
            edges.push((b as u32, t.label, p.block[t.target as usize]));
        }
    }
    Lts::from_edges(
        p.num_blocks,
        p.block[lts.initial() as usize],
        lts.labels().to_vec(),
        &edges,
    )
}

/// The quotient modulo weak bisimilarity of `lts` by `partition` (a weak bisimulation),
/// with the same transitions as mCRL2's and `merc_reduction`'s: the existential quotient
/// without `tau` steps inside a block, then without transitions implied by another path.
#[must_use]
pub fn weak_quotient(lts: &Lts, p: &Partition) -> Lts {
    let mut edges = Vec::new();
    for (s, l, t) in lts.edges() {
        let (b, c) = (p.block[s as usize], p.block[t as usize]);
        if l == Lts::TAU && b == c {
            continue;
        }
        edges.push((b, l, c));
    }
    let q = Lts::from_edges(
        p.num_blocks,
        p.block[lts.initial() as usize],
        lts.labels().to_vec(),
        &edges,
    );
    let n = q.num_states();
    let mut kept = Vec::with_capacity(q.num_transitions());
    let mut mark = vec![0u32; n];
    let mut mark2 = vec![0u32; n];
    let mut stamp = 0u32;
    let mut stamp2 = 0u32;
    let mut reach: Vec<u32> = Vec::new();
    let mut stack: Vec<u32> = Vec::new();
    for b in 0..n as u32 {
        // tau* from b.
        stamp += 1;
        reach.clear();
        reach.push(b);
        mark[b as usize] = stamp;
        let mut i = 0;
        while i < reach.len() {
            let m = reach[i];
            i += 1;
            for t in q.successors(m) {
                if t.label != Lts::TAU {
                    break;
                }
                if mark[t.target as usize] != stamp {
                    mark[t.target as usize] = stamp;
                    reach.push(t.target);
                }
            }
        }
        for tr in q.successors(b) {
            let redundant = reach.iter().any(|&m| {
                q.successors(m).iter().any(|x| {
                    let same = if tr.label == Lts::TAU {
                        x.label == Lts::TAU
                    } else {
                        x.label == tr.label
                    };
                    if !same || (m == b && x == tr) || (x.label == Lts::TAU && x.target == m) {
                        return false;
                    }
                    // tau* from x.target reaches tr.target?
                    stamp2 += 1;
                    stack.clear();
                    stack.push(x.target);
                    mark2[x.target as usize] = stamp2;
                    while let Some(v) = stack.pop() {
                        if v == tr.target {
                            return true;
                        }
                        for y in q.successors(v) {
                            if y.label != Lts::TAU {
                                break;
                            }
                            if mark2[y.target as usize] != stamp2 {
                                mark2[y.target as usize] = stamp2;
                                stack.push(y.target);
                            }
                        }
                    }
                    false
                })
            });
            if !redundant {
                kept.push((b, tr.label, tr.target));
            }
        }
    }
    Lts::from_edges(n, q.initial(), q.labels().to_vec(), &kept)
}

/// Minimises the reachable part of `lts` modulo strong or weak bisimilarity.
///
/// ```
/// use weft_ccs::{bisim, Lts};
/// let lts = Lts::from_edges(3, 0, vec!["tau".into(), "a".into()],
///     &[(0, 1, 1), (1, 1, 2), (2, 1, 1)]);
/// let m = bisim::minimize(&lts, bisim::Equivalence::Strong, usize::MAX).unwrap();
/// assert_eq!((m.num_states(), m.num_transitions()), (1, 1));
/// ```
///
/// # Errors
///
/// [`Error::TooLarge`] from [`weak_partition`]; the trace equivalences are not
/// minimisation targets and give [`Error::TooLarge`] too.
pub fn minimize(lts: &Lts, eq: Equivalence, limit: usize) -> Result<Lts> {
    let r = lts.reachable();
    match eq {
        Equivalence::Strong => Ok(strong_quotient(&r, &strong_partition(&r))),
        Equivalence::Weak => Ok(weak_quotient(&r, &weak_partition(&r, limit)?)),
        Equivalence::Traces | Equivalence::WeakTraces => Err(Error::TooLarge {
            what: "minimisation modulo trace equivalence (not supported)".to_owned(),
            limit: 0,
        }),
    }
}

/// Whether the initial states of `a` and `b` are equivalent. Uses no bound; for a bound
/// and a witness, see [`crate::witness::compare`].
#[must_use]
pub fn equivalent(a: &Lts, b: &Lts, eq: Equivalence) -> bool {
    crate::witness::compare(a, b, eq, usize::MAX, false).is_ok_and(|c| c.equivalent)
}

/// Block-level check used by tests and the CLI: are states `s` and `t` of `lts` in the
/// same block of the partition for `eq` (strong or weak)?
///
/// # Errors
///
/// As [`weak_partition`].
pub fn same_block(lts: &Lts, s: u32, t: u32, eq: Equivalence, limit: usize) -> Result<bool> {
    let p = match eq {
        Equivalence::Weak => weak_partition(lts, limit)?,
        _ => strong_partition(lts),
    };
    Ok(p.block[s as usize] == p.block[t as usize])
}

/// Returns a transition list for tests: `(label name, target)` of state `s`.
#[must_use]
pub fn describe(lts: &Lts, s: u32) -> Vec<(String, u32)> {
    lts.successors(s)
        .iter()
        .map(|&Transition { label, target }| (lts.label_name(label).to_owned(), target))
        .collect()
}
