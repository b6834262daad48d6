//! Properties of the equivalences on random small transition systems.

#![allow(clippy::needless_range_loop)] // index loops read as the definitions

use proptest::prelude::*;
use weft_ccs::bisim::{self, Equivalence};
use weft_ccs::hml::Checker;
use weft_ccs::witness::{compare, Witness};
use weft_ccs::Lts;

fn lts() -> impl Strategy<Value = Lts> {
    (1usize..7).prop_flat_map(|n| {
        let edge = (0..n as u32, 0u32..3, 0..n as u32);
        prop::collection::vec(edge, 0..16).prop_map(move |edges| {
            Lts::from_edges(n, 0, vec!["tau".into(), "a".into(), "b".into()], &edges)
        })
    })
}

fn eq(a: &Lts, b: &Lts, e: Equivalence) -> bool {
    compare(a, b, e, usize::MAX, false).unwrap().equivalent
}

const ALL: [Equivalence; 4] = [
    Equivalence::Strong,
    Equivalence::Weak,
    Equivalence::Traces,
    Equivalence::WeakTraces,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn equivalences_are_equivalence_relations(a in lts(), b in lts(), c in lts()) {
        for e in ALL {
            prop_assert!(eq(&a, &a, e));
            prop_assert_eq!(eq(&a, &b, e), eq(&b, &a, e));
            if eq(&a, &b, e) && eq(&b, &c, e) {
                prop_assert!(eq(&a, &c, e), "{:?}", e);
            }
        }
    }

    #[test]
    fn strong_implies_weak_implies_weak_traces(a in lts(), b in lts()) {
        if eq(&a, &b, Equivalence::Strong) {
            prop_assert!(eq(&a, &b, Equivalence::Weak));
            prop_assert!(eq(&a, &b, Equivalence::Traces));
        }
        if eq(&a, &b, Equivalence::Weak) {
            prop_assert!(eq(&a, &b, Equivalence::WeakTraces));
        }
        if eq(&a, &b, Equivalence::Traces) {
            prop_assert!(eq(&a, &b, Equivalence::WeakTraces));
        }
    }

    #[test]
    fn minimisation_preserves_the_equivalence_and_is_minimal(a in lts()) {
        for e in [Equivalence::Strong, Equivalence::Weak] {
            let m = bisim::minimize(&a, e, usize::MAX).unwrap();
            prop_assert!(eq(&a, &m, e), "{:?}", e);
            prop_assert!(m.num_states() <= a.reachable().num_states());
            // No two states of the quotient are equivalent.
            let p = if e == Equivalence::Strong {
                bisim::strong_partition(&m)
            } else {
                bisim::weak_partition(&m, usize::MAX).unwrap()
            };
            prop_assert_eq!(p.num_blocks, m.num_states());
            // Minimising again changes nothing.
            let m2 = bisim::minimize(&m, e, usize::MAX).unwrap();
            prop_assert_eq!((m2.num_states(), m2.num_transitions()), (m.num_states(), m.num_transitions()));
        }
    }

    #[test]
    fn witnesses_really_distinguish(a in lts(), b in lts()) {
        for e in ALL {
            let c = compare(&a, &b, e, usize::MAX, true).unwrap();
            match c.witness {
                None => prop_assert!(c.equivalent),
                Some(Witness::Formula(f)) => {
                    prop_assert!(Checker::new(&a).holds(a.initial(), &f), "{} on a", f);
                    prop_assert!(!Checker::new(&b).holds(b.initial(), &f), "{} on b", f);
                }
                Some(Witness::Trace(t)) => {
                    let (has, lacks) = if t.in_first { (&a, &b) } else { (&b, &a) };
                    let weak = e == Equivalence::WeakTraces;
                    prop_assert!(has_trace(has, &t.trace, weak));
                    prop_assert!(!has_trace(lacks, &t.trace, weak));
                }
            }
        }
    }

    #[test]
    fn strong_partition_is_the_naive_fixed_point(a in lts()) {
        // Compare with the definition: s ~ t iff same-label moves match up to ~, by
        // iterating the relation down from "all pairs".
        let n = a.num_states();
        let mut rel = vec![vec![true; n]; n];
        loop {
            let mut changed = false;
            for s in 0..n {
                for t in 0..n {
                    if !rel[s][t] { continue; }
                    let ok = |x: usize, y: usize, rel: &Vec<Vec<bool>>| a.successors(x as u32).iter().all(|m| {
                        a.successors(y as u32).iter().any(|k| k.label == m.label && rel[m.target as usize][k.target as usize])
                    });
                    if !(ok(s, t, &rel) && ok(t, s, &rel)) {
                        rel[s][t] = false;
                        changed = true;
                    }
                }
            }
            if !changed { break; }
        }
        let p = bisim::strong_partition(&a);
        for s in 0..n {
            for t in 0..n {
                prop_assert_eq!(rel[s][t], p.block[s] == p.block[t]);
            }
        }
    }
}

fn has_trace(l: &Lts, trace: &[String], weak: bool) -> bool {
    let close = |set: Vec<u32>| -> Vec<u32> {
        let mut out = set;
        if weak {
            let mut i = 0;
            while i < out.len() {
                for t in l.successors(out[i]) {
                    if t.label == Lts::TAU && !out.contains(&t.target) {
                        out.push(t.target);
                    }
                }
                i += 1;
            }
        }
        out
    };
    let mut cur = close(vec![l.initial()]);
    for name in trace {
        let label = l.label(name);
        let mut next = Vec::new();
        for &s in &cur {
            for t in l.successors(s) {
                if Some(t.label) == label && !next.contains(&t.target) {
                    next.push(t.target);
                }
            }
        }
        cur = close(next);
        if cur.is_empty() {
            return false;
        }
    }
    true
}
