//! Known answers from the literature, for every equivalence and check.

use weft_ccs::bisim::{self, Equivalence};
use weft_ccs::hml::{Checker, Formula};
use weft_ccs::witness::{compare, Witness};
use weft_ccs::{aut, examples, explore, Lts, Program, Semantics};

fn lts(src: &str, p: &str) -> Lts {
    let program = Program::parse("test.ccs", src).expect("parses");
    let mut sem = Semantics::new(&program);
    let t = sem.compile(&program.process(p).expect("process"));
    explore(&mut sem, t, 1_000_000).expect("explores").lts
}

fn equiv(src: &str, p: &str, q: &str, eq: Equivalence) -> bool {
    let c = compare(&lts(src, p), &lts(src, q), eq, usize::MAX, true).expect("compares");
    // A witness exactly when not equivalent.
    assert_eq!(c.equivalent, c.witness.is_none(), "{p} vs {q} ({eq:?})");
    c.equivalent
}

const ALL: [Equivalence; 4] = [
    Equivalence::Strong,
    Equivalence::Weak,
    Equivalence::Traces,
    Equivalence::WeakTraces,
];

#[test]
fn vending_machines_have_equal_traces_but_are_not_bisimilar() {
    let s = examples::VENDING;
    assert!(!equiv(s, "A", "B", Equivalence::Strong));
    assert!(!equiv(s, "A", "B", Equivalence::Weak));
    assert!(equiv(s, "A", "B", Equivalence::Traces));
    assert!(equiv(s, "A", "B", Equivalence::WeakTraces));
}

#[test]
fn the_distinguishing_formula_holds_in_one_and_not_the_other() {
    let s = examples::VENDING;
    let (a, b) = (lts(s, "A"), lts(s, "B"));
    for eq in [Equivalence::Strong, Equivalence::Weak] {
        let c = compare(&a, &b, eq, usize::MAX, true).unwrap();
        let Some(Witness::Formula(f)) = c.witness else {
            panic!("no formula for {eq:?}")
        };
        assert!(Checker::new(&a).holds(a.initial(), &f), "{f}");
        assert!(!Checker::new(&b).holds(b.initial(), &f), "{f}");
        // and it reads back
        assert_eq!(Formula::parse(&f.to_string()).unwrap(), f);
    }
}

#[test]
fn expansion_law() {
    let s = "Par = a.0 | b.0; Sum = a.b.0 + b.a.0; Sync = a.0 | 'a.0; SyncSum = a.'a.0 + 'a.a.0 + tau.0;";
    for eq in ALL {
        assert!(equiv(s, "Par", "Sum", eq), "{eq:?}");
        assert!(equiv(s, "Sync", "SyncSum", eq), "{eq:?}");
    }
    // Restricting the synchronising pair leaves only tau.
    let s2 = "P = (a.0 | 'a.0) \\ {a}; Q = tau.0;";
    assert!(equiv(s2, "P", "Q", Equivalence::Strong));
}

#[test]
fn tau_laws_of_weak_bisimilarity() {
    // a.tau.P = a.P;  P + tau.P = tau.P;  a.(P + tau.Q) + a.Q = a.(P + tau.Q)
    let s = "
        L1 = a.tau.b.0;        R1 = a.b.0;
        L2 = b.0 + tau.b.0;    R2 = tau.b.0;
        L3 = a.(b.0 + tau.c.0) + a.c.0;  R3 = a.(b.0 + tau.c.0);
    ";
    for (l, r) in [("L1", "R1"), ("L2", "R2"), ("L3", "R3")] {
        assert!(equiv(s, l, r, Equivalence::Weak), "{l} ~~ {r}");
        assert!(!equiv(s, l, r, Equivalence::Strong), "{l} not ~ {r}");
    }
    // tau.P is not weakly bisimilar to P in a choice context: a.0 + b.0 vs a.0 + tau.b.0.
    let s2 = "P = a.0 + b.0; Q = a.0 + tau.b.0;";
    assert!(!equiv(s2, "P", "Q", Equivalence::Weak));
    assert!(equiv(s2, "P", "Q", Equivalence::WeakTraces));
    assert!(!equiv(s2, "P", "Q", Equivalence::Traces));
}

#[test]
fn milners_scheduler_meets_its_specification() {
    for n in 2..=4 {
        let s = examples::scheduler(n);
        assert!(equiv(&s, "Hidden", "Spec", Equivalence::Weak), "n = {n}");
        assert!(!equiv(&s, "Hidden", "Spec", Equivalence::Strong), "n = {n}");
        assert!(
            equiv(&s, "Hidden", "Spec", Equivalence::WeakTraces),
            "n = {n}"
        );
        // The scheduler never deadlocks.
        assert_eq!(lts(&s, "Sched").find_deadlock(), None);
    }
}

#[test]
fn alternating_bit_protocol_is_a_one_place_buffer() {
    let s = examples::ABP;
    assert!(equiv(s, "ABP", "Buf", Equivalence::Weak));
    assert!(!equiv(s, "ABP", "Buf", Equivalence::Strong));
    let m = bisim::minimize(&lts(s, "ABP"), Equivalence::Weak, usize::MAX).unwrap();
    assert_eq!((m.num_states(), m.num_transitions()), (2, 2));
}

#[test]
fn philosophers_deadlock_unless_a_butler_seats_them() {
    for n in 2..=4 {
        let s = examples::philosophers(n);
        let table = lts(&s, "Table");
        let (trace, state) = table.find_deadlock().expect("deadlocks");
        // The shortest way: each philosopher takes the left fork (a synchronisation, tau).
        assert_eq!(trace.len(), n, "n = {n}");
        assert!(trace.iter().all(|&l| l == Lts::TAU));
        assert!(table.successors(state).is_empty());
        assert_eq!(lts(&s, "Butler").find_deadlock(), None, "n = {n}");
    }
}

#[test]
fn shortest_deadlock_trace() {
    let l = lts("P = a.b.c.0 + d.0 + e.f.P;", "P");
    let (trace, _) = l.find_deadlock().unwrap();
    assert_eq!(
        trace.iter().map(|&x| l.label_name(x)).collect::<Vec<_>>(),
        ["d"]
    );
}

#[test]
fn restriction_and_relabelling() {
    let s = "
        set L = {b};
        P = (a.b.0) \\ L;
        Q = a.0;
        R = (a.b.0) [x/a, y/b];
        R2 = a.b.0 [x/a, y/b];
        S = x.y.0;
        T = (a.0 | 'b.0) [b/a] \\ {b};
        U = ((a.0) [b/a] | 'b.0) \\ {b};
    ";
    assert!(equiv(s, "P", "Q", Equivalence::Strong));
    assert!(equiv(s, "R", "S", Equivalence::Strong));
    // Postfix operators bind tighter than prefix: R2 relabels only the final 0.
    assert!(equiv(s, "R2", "a.b.0", Equivalence::Strong));
    // Relabelling above a parallel composition does not make its parts synchronise...
    assert!(equiv(s, "T", "0", Equivalence::Strong));
    // ...below it, it does.
    assert!(equiv(s, "U", "tau.0", Equivalence::Strong));
}

#[test]
fn hml_with_fixed_points() {
    let s = examples::VENDING;
    let (a, b) = (lts(s, "A"), lts(s, "B"));
    let holds = |l: &Lts, f: &str| Checker::new(l).holds(l.initial(), &Formula::parse(f).unwrap());
    assert!(holds(&a, "[coin](<tea>tt && <coffee>tt)"));
    assert!(!holds(&b, "[coin](<tea>tt && <coffee>tt)"));
    assert!(holds(&b, "<coin>[coffee]ff"));
    // Always (max) some action is possible: no deadlock.
    assert!(holds(&a, "max X. <->tt && [-]X"));
    // On every path, eventually a state that offers tea: A yes (after the coin), B no (it
    // may take the coffee branch forever).
    let eventually_tea = "min X. <tea>tt || ([-]X && <->tt)";
    assert!(holds(&a, eventually_tea));
    assert!(!holds(&b, eventually_tea));
    assert!(holds(&a, "<coin,tea>tt && !<tea>tt"));
    let p = lts("P = a.0 + tau.b.0;", "P");
    assert!(holds(&p, "<<b>>tt"));
    assert!(!holds(&p, "<b>tt"));
    assert!(holds(&p, "[[tau]](<<a>>tt || <<b>>tt)"));
    assert!(!holds(&p, "[[tau]]<<a>>tt"));
    // Deadlock reachable: min X. [-]ff || <->X
    let phil = lts(&examples::philosophers(3), "Table");
    assert!(holds(&phil, "min X. [-]ff || <->X"));
}

#[test]
fn aut_round_trip_and_minimisation_agree() {
    let l = lts(&examples::scheduler(3), "Sched");
    let back = aut::read("s.aut", &aut::write(&l)).unwrap();
    assert_eq!(back.num_states(), l.num_states());
    assert_eq!(back.num_transitions(), l.num_transitions());
    assert!(
        compare(&l, &back, Equivalence::Strong, usize::MAX, false)
            .unwrap()
            .equivalent
    );
    let m = bisim::minimize(&l, Equivalence::Strong, usize::MAX).unwrap();
    assert!(
        compare(&l, &m, Equivalence::Strong, usize::MAX, false)
            .unwrap()
            .equivalent
    );
    assert!(m.num_states() <= l.num_states());
}

#[test]
fn too_many_states_is_an_error_not_a_crash() {
    let s = examples::philosophers(4);
    let program = Program::parse("p.ccs", &s).unwrap();
    let mut sem = Semantics::new(&program);
    let t = sem.compile(&program.process("Table").unwrap());
    let err = explore(&mut sem, t, 10).unwrap_err();
    assert!(matches!(err, weft_ccs::Error::TooManyStates { limit: 10 }));
    // An infinite system stops at the bound too.
    let program = Program::parse("q.ccs", "X = a.(X | X);").unwrap();
    let mut sem = Semantics::new(&program);
    let t = sem.compile(&program.process("X").unwrap());
    assert!(explore(&mut sem, t, 1000).is_err());
}

#[test]
fn dynamic_parallel_terms_are_explored_by_the_sos_rules() {
    // The body of X unfolds into a parallel composition only after a step.
    let l = lts("X = a.(b.0 | c.0);", "X");
    assert_eq!((l.num_states(), l.num_transitions()), (5, 5));
}

#[test]
fn run_is_reproducible_and_follows_transitions() {
    use weft_ccs::run;
    let program = Program::parse("r.ccs", examples::VENDING).unwrap();
    let mut sem = Semantics::new(&program);
    let t = sem.compile(&program.process("A").unwrap());
    let r1 = run::run_term(&mut sem, t, 20, 42);
    let r2 = run::run_term(&mut sem, t, 20, 42);
    assert_eq!(r1, r2);
    assert_eq!(r1.actions.len(), 20);
    for (k, a) in r1.actions.iter().enumerate() {
        if k % 2 == 0 {
            assert_eq!(a, "coin");
        } else {
            assert!(a == "tea" || a == "coffee");
        }
    }
    let choices: std::collections::HashSet<Vec<String>> = (0..20)
        .map(|seed| run::run_term(&mut sem, t, 2, seed).actions)
        .collect();
    assert_eq!(choices.len(), 2, "both drinks are chosen by some seed");
}
