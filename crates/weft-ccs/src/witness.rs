//! Comparing two processes, and explaining a difference.
//!
//! [`compare`] decides an [`Equivalence`] on the disjoint union of the two systems. When
//! they differ it gives a witness, as CAAL does: a shortest distinguishing trace for the
//! trace equivalences ([`crate::traces`]), and for bisimilarity a Hennessy–Milner formula
//! the first process satisfies and the second does not.
//!
//! The formula comes from the history of a naive (round by round) signature refinement:
//! if `s` and `t` are first separated in round `k`, their signatures of round `k - 1`
//! differ, so one has a move `a` into a block `B` that the other cannot match. If `s` has it
//! (`s -a-> s'`, `s'` in `B`), the formula is `<a>(φ1 && ... && φn)` where each `φi`
//! separates `s'` from one of `t`'s `a`-successors (all outside `B`, separated earlier);
//! if `t` has it, `[a](ψ1 || ... || ψn)` with each `ψi` separating one of `s`'s
//! `a`-successors from `t`'s. Weak bisimilarity does the same on the saturated relation
//! `=a=>` with the weak modalities `<<a>>` and `[[a]]`.

use rustc_hash::FxHashMap;

use crate::bisim::{self, Equivalence};
use crate::error::{Error, Result};
use crate::hml::{Actions, Formula};
use crate::lts::Lts;
use crate::traces;

/// Why two processes are not equivalent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Witness {
    /// A trace one has and the other has not.
    Trace(traces::TraceWitness),
    /// A formula the first process satisfies and the second does not.
    Formula(Formula),
}

/// The verdict of [`compare`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Comparison {
    /// Whether the two are equivalent.
    pub equivalent: bool,
    /// When not, why (if a witness was asked for and could be built within the bound).
    pub witness: Option<Witness>,
}

/// Compares the initial states of `a` and `b` modulo `eq`.
///
/// ```
/// use weft_ccs::{bisim::Equivalence, witness::{compare, Witness}, Lts};
/// let labels = || vec!["tau".to_owned(), "a".to_owned(), "b".to_owned(), "c".to_owned()];
/// // a.(b.0 + c.0) versus a.b.0 + a.c.0
/// let p = Lts::from_edges(4, 0, labels(), &[(0, 1, 1), (1, 2, 2), (1, 3, 3)]);
/// let q = Lts::from_edges(5, 0, labels(), &[(0, 1, 1), (0, 1, 2), (1, 2, 3), (2, 3, 4)]);
/// let c = compare(&p, &q, Equivalence::Strong, 1_000_000, true).unwrap();
/// assert!(!c.equivalent);
/// let Some(Witness::Formula(f)) = c.witness else { panic!() };
/// assert_eq!(f.to_string(), "<a>(<c>tt && <b>tt)");
/// ```
///
/// # Errors
///
/// [`Error::TooLarge`] when a computation needs more than `limit` entries.
pub fn compare(
    a: &Lts,
    b: &Lts,
    eq: Equivalence,
    limit: usize,
    want_witness: bool,
) -> Result<Comparison> {
    let (u, tb) = a.union(b);
    let ta = a.initial();
    match eq {
        Equivalence::Traces | Equivalence::WeakTraces => {
            let w = traces::distinguish(&u, ta, tb, eq == Equivalence::WeakTraces, limit)?;
            Ok(Comparison {
                equivalent: w.is_none(),
                witness: w.map(Witness::Trace),
            })
        }
        Equivalence::Strong | Equivalence::Weak => {
            let p = if eq == Equivalence::Strong {
                bisim::strong_partition(&u)
            } else {
                bisim::weak_partition(&u, limit)?
            };
            let equivalent = p.block[ta as usize] == p.block[tb as usize];
            let witness = if equivalent || !want_witness {
                None
            } else {
                let weak = eq == Equivalence::Weak;
                let r = restrict_to(&u, &[ta, tb]);
                let sys = if weak { saturate(&r.0, limit)? } else { r.0 };
                Some(Witness::Formula(formula(
                    &sys, r.1[0], r.1[1], weak, limit,
                )?))
            };
            Ok(Comparison {
                equivalent,
                witness,
            })
        }
    }
}

/// The part of `lts` reachable from `roots`, and the roots' new numbers.
fn restrict_to(lts: &Lts, roots: &[u32]) -> (Lts, Vec<u32>) {
    let n = lts.num_states();
    let mut id = vec![u32::MAX; n];
    let mut order = Vec::new();
    for &r in roots {
        if id[r as usize] == u32::MAX {
            id[r as usize] = order.len() as u32;
            order.push(r);
        }
    }
    let mut i = 0;
    while i < order.len() {
        let s = order[i];
        i += 1;
        for t in lts.successors(s) {
            if id[t.target as usize] == u32::MAX {
                id[t.target as usize] = order.len() as u32;
                order.push(t.target);
            }
        }
    }
    let mut edges = Vec::new();
    for (k, &s) in order.iter().enumerate() {
        for t in lts.successors(s) {
            edges.push((k as u32, t.label, id[t.target as usize]));
        }
    }
    let new_roots = roots.iter().map(|&r| id[r as usize]).collect();
    (
        Lts::from_edges(order.len(), 0, lts.labels().to_vec(), &edges),
        new_roots,
    )
}

/// The saturated system: `s =tau=> t` for `s tau* t` (including `s = t`) and `s =a=> t`
/// for `s tau* a tau* t`.
///
/// # Errors
///
/// [`Error::TooLarge`] when it would have more than `limit` transitions.
pub fn saturate(lts: &Lts, limit: usize) -> Result<Lts> {
    let n = lts.num_states();
    let closure: Vec<Vec<u32>> = (0..n as u32)
        .map(|s| {
            let mut seen = vec![s];
            let mut i = 0;
            while i < seen.len() {
                let x = seen[i];
                i += 1;
                for t in lts.successors(x) {
                    if t.label != Lts::TAU {
                        break;
                    }
                    if !seen.contains(&t.target) {
                        seen.push(t.target);
                    }
                }
            }
            seen
        })
        .collect();
    let mut edges = Vec::new();
    for s in 0..n {
        for &m in &closure[s] {
            edges.push((s as u32, Lts::TAU, m));
            for t in lts.successors(m) {
                if t.label == Lts::TAU {
                    continue;
                }
                for &e in &closure[t.target as usize] {
                    edges.push((s as u32, t.label, e));
                }
            }
            if edges.len() > limit {
                return Err(Error::TooLarge {
                    what: "the weak transition relation".to_owned(),
                    limit,
                });
            }
        }
    }
    Ok(Lts::from_edges(
        n,
        lts.initial(),
        lts.labels().to_vec(),
        &edges,
    ))
}

/// A formula `s` satisfies and `t` does not, on `lts` (saturated when `weak`); `s` and
/// `t` must not be bisimilar in `lts`.
fn formula(lts: &Lts, s: u32, t: u32, weak: bool, limit: usize) -> Result<Formula> {
    let n = lts.num_states();
    // Naive refinement, keeping every round's blocks.
    let mut history: Vec<Vec<u32>> = vec![vec![0; n]];
    let mut count = 1usize;
    loop {
        let prev = history.last().map_or(&[][..], Vec::as_slice);
        let mut ids: FxHashMap<(u32, Vec<u64>), u32> = FxHashMap::default();
        let mut next = Vec::with_capacity(n);
        for x in 0..n as u32 {
            let mut sig: Vec<u64> = lts
                .successors(x)
                .iter()
                .map(|tr| (u64::from(tr.label) << 32) | u64::from(prev[tr.target as usize]))
                .collect();
            sig.sort_unstable();
            sig.dedup();
            let len = ids.len() as u32;
            next.push(*ids.entry((prev[x as usize], sig)).or_insert(len));
        }
        let c = ids.len();
        history.push(next);
        if history.len() * n > limit {
            return Err(Error::TooLarge {
                what: "the refinement history for a distinguishing formula".to_owned(),
                limit,
            });
        }
        if c == count {
            break;
        }
        count = c;
    }
    let mut memo = FxHashMap::default();
    Ok(distinguish(lts, &history, s, t, weak, &mut memo))
}

fn distinguish(
    lts: &Lts,
    history: &[Vec<u32>],
    s: u32,
    t: u32,
    weak: bool,
    memo: &mut FxHashMap<(u32, u32), Formula>,
) -> Formula {
    if let Some(f) = memo.get(&(s, t)) {
        return f.clone();
    }
    let Some(k) = history.iter().position(|h| h[s as usize] != h[t as usize]) else {
        return Formula::True; // not separated: cannot happen for non-bisimilar states
    };
    let prev = &history[k - 1];
    let moves = |x: u32| -> Vec<(u32, u32)> {
        lts.successors(x)
            .iter()
            .map(|tr| (tr.label, prev[tr.target as usize]))
            .collect()
    };
    let (ms, mt) = (moves(s), moves(t));
    let f = if let Some(&(a, blk)) = ms.iter().find(|m| !mt.contains(m)) {
        let s2 = lts
            .successors(s)
            .iter()
            .find(|tr| tr.label == a && prev[tr.target as usize] == blk)
            .map_or(s, |tr| tr.target);
        let mut parts: Vec<Formula> = Vec::new();
        for tr in lts.successors(t).iter().filter(|tr| tr.label == a) {
            let g = distinguish(lts, history, s2, tr.target, weak, memo);
            if !parts.contains(&g) {
                parts.push(g);
            }
        }
        let body = match parts.len() {
            0 => Formula::True,
            1 => parts.remove(0),
            _ => Formula::And(parts),
        };
        Formula::Diamond(
            weak,
            Actions::List(vec![lts.label_name(a).to_owned()]),
            Box::new(body),
        )
    } else if let Some(&(a, blk)) = mt.iter().find(|m| !ms.contains(m)) {
        let t2 = lts
            .successors(t)
            .iter()
            .find(|tr| tr.label == a && prev[tr.target as usize] == blk)
            .map_or(t, |tr| tr.target);
        let mut parts: Vec<Formula> = Vec::new();
        for tr in lts.successors(s).iter().filter(|tr| tr.label == a) {
            let g = distinguish(lts, history, tr.target, t2, weak, memo);
            if !parts.contains(&g) {
                parts.push(g);
            }
        }
        let body = match parts.len() {
            0 => Formula::False,
            1 => parts.remove(0),
            _ => Formula::Or(parts),
        };
        Formula::Box(
            weak,
            Actions::List(vec![lts.label_name(a).to_owned()]),
            Box::new(body),
        )
    } else {
        Formula::True
    };
    memo.insert((s, t), f.clone());
    f
}
