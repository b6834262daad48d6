//! The packed state generation (leaves' local states in bit fields) against the plain one
//! over vectors of terms: same numbering, same transitions, same leaf terms.

use proptest::prelude::*;
use weft_ccs::bisim::Equivalence;
use weft_ccs::explore::explore_unpacked;
use weft_ccs::witness::compare;
use weft_ccs::{examples, explore, Error, Lts, Program, Semantics};

/// Explores `p` both ways and asserts the results agree; returns the number of states
/// (or `None` when both stopped at the bound).
fn agree(src: &str, p: &str, max: usize) -> Option<usize> {
    let program = Program::parse("t.ccs", src).expect("parses");
    let proc_ = program.process(p).expect("process");
    let mut sem1 = Semantics::new(&program);
    let r1 = sem1.compile(&proc_);
    let fast = explore(&mut sem1, r1, max);
    let mut sem2 = Semantics::new(&program);
    let r2 = sem2.compile(&proc_);
    let slow = explore_unpacked(&mut sem2, r2, max);
    match (fast, slow) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.lts, b.lts, "{p} in {src}");
            for s in 0..a.lts.num_states() as u32 {
                let la: Vec<String> = a.leaves(s).iter().map(|&t| sem1.show(t)).collect();
                let lb: Vec<String> = b.leaves(s).iter().map(|&t| sem2.show(t)).collect();
                assert_eq!(la, lb, "state {s} of {p}");
            }
            whole_terms_agree(src, p, &a.lts, max);
            Some(a.lts.num_states())
        }
        (Err(Error::TooManyStates { .. }), Err(Error::TooManyStates { .. })) => None,
        (a, b) => panic!("{p}: packed {:?}, unpacked {:?}", a.err(), b.err()),
    }
}

/// The network's LTS against the SOS rules applied to whole terms (`tau.P` is one
/// sequential leaf, so its states are whole terms and no wiring is involved): strongly
/// bisimilar. (Not always the same number of states: a constant and its body are two
/// terms.)
fn whole_terms_agree(src: &str, p: &str, lts: &Lts, max: usize) {
    let src = format!("{src}\nWholeTermOf = tau.{p};\n");
    let program = Program::parse("w.ccs", &src).expect("parses");
    let mut sem = Semantics::new(&program);
    let root = sem.compile(&program.process("WholeTermOf").expect("process"));
    let Ok(space) = explore(&mut sem, root, max + 1) else {
        panic!("{p} as a whole term exceeds the bound");
    };
    assert!(space.is_sequential());
    let w = space.lts;
    assert!(w.num_states() > lts.num_states(), "{p}");
    let start = w.successors(0)[0].target;
    let edges: Vec<(u32, u32, u32)> = w.edges().collect();
    let w = Lts::from_edges(w.num_states(), start, w.labels().to_vec(), &edges);
    let c = compare(lts, &w, Equivalence::Strong, usize::MAX, false).expect("compares");
    assert!(c.equivalent, "{p}: the network and the whole terms differ");
}

#[test]
fn packed_generation_agrees_on_the_classics() {
    assert_eq!(agree(&examples::scheduler(6), "Sched", 1 << 20), Some(576));
    assert_eq!(agree(&examples::scheduler(4), "Hidden", 1 << 20), Some(96));
    assert_eq!(
        agree(&examples::philosophers(5), "Table", 1 << 20),
        Some(392)
    );
    assert!(agree(&examples::philosophers(4), "Butler", 1 << 20).is_some());
    assert!(agree(examples::ABP, "ABP", 1 << 20).is_some());
    assert_eq!(agree(examples::VENDING, "A", 100), Some(2));
}

#[test]
fn packed_generation_agrees_with_relabelling_nesting_and_growing_leaves() {
    let src = "
        A = a.'b.A + tau.A;
        B = b.c.B;
        C = 'c.(D | E);
        D = d.0;
        E = e.0;
        R = ((A | B)[x/a] | C) \\ {b, c};
        G = a.(G | 'a.0);
        S = (G | G) \\ {a};
        H = 'a.H;
        T = (G | H) \\ {a};
        W = (A | B | 'x.0)[b/x] \\ {a};
    ";
    assert!(agree(src, "R", 10_000).is_some());
    assert!(agree(src, "W", 10_000).is_some());
    // G's local states grow without end (too many to pack), but blocked it stays put.
    assert_eq!(agree(src, "S", 500), Some(1));
    // Here it grows: both stop at the bound.
    assert_eq!(agree(src, "T", 500), None);
}

/// A random network of sequential components over the actions a..d.
fn network() -> impl Strategy<Value = String> {
    let prefix = (0usize..4, 0usize..3, any::<bool>(), 0usize..4);
    let def = proptest::collection::vec(prefix, 0..3);
    let comp = proptest::collection::vec(def, 1..4);
    (
        proptest::collection::vec(comp, 2..5),
        proptest::collection::vec(0usize..4, 0..3),
        any::<bool>(),
    )
        .prop_map(|(comps, hidden, relabel)| {
            let names = ["a", "b", "c", "d"];
            let mut s = String::new();
            for (c, defs) in comps.iter().enumerate() {
                for (d, alts) in defs.iter().enumerate() {
                    let mut terms: Vec<String> = alts
                        .iter()
                        .map(|&(a, to, co, kind)| {
                            let act = if kind == 3 {
                                "tau".to_owned()
                            } else if co {
                                format!("'{}", names[a])
                            } else {
                                names[a].to_owned()
                            };
                            format!("{act}.C{c}_{}", to % defs.len())
                        })
                        .collect();
                    if terms.is_empty() {
                        terms.push("0".to_owned());
                    }
                    s.push_str(&format!("C{c}_{d} = {};\n", terms.join(" + ")));
                }
            }
            let parts: Vec<String> = (0..comps.len()).map(|c| format!("C{c}_0")).collect();
            let (first, rest) = parts.split_at(2);
            let mut sys = format!("({})", first.join(" | "));
            if relabel {
                sys = format!("{sys}[d/a]");
            }
            if !rest.is_empty() {
                sys = format!("({sys} | {})", rest.join(" | "));
            }
            let hid: Vec<&str> = hidden.iter().map(|&h| names[h]).collect();
            s.push_str(&format!("Sys = {sys} \\ {{{}}};\n", hid.join(", ")));
            s
        })
}

proptest! {
    #[test]
    fn packed_generation_agrees_on_random_networks(src in network()) {
        agree(&src, "Sys", 5_000);
    }
}
