//! The parser: round trips, error positions, and no panics on any input.

use proptest::prelude::*;
use weft_ccs::ast::{Action, Expr, Process, RestrictSet};
use weft_ccs::hml::Formula;
use weft_ccs::parse::{parse_module, parse_process};
use weft_ccs::{aut, Error, Program};

fn at(p: Expr) -> Process {
    Process {
        expr: p,
        pos: (0, 0),
    }
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Tau),
        "[a-d]".prop_map(Action::Name),
        "[a-d]".prop_map(Action::CoName),
    ]
}

fn process() -> impl Strategy<Value = Process> {
    let leaf = prop_oneof![Just(at(Expr::Nil)), "[A-C]".prop_map(|n| at(Expr::Name(n)))];
    leaf.prop_recursive(5, 40, 3, |inner| {
        prop_oneof![
            (action(), inner.clone()).prop_map(|(a, p)| at(Expr::Prefix(a, Box::new(p)))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| at(Expr::Sum(v))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| at(Expr::Par(v))),
            (inner.clone(), prop::collection::vec("[a-d]", 0..3))
                .prop_map(|(p, l)| at(Expr::Restrict(Box::new(p), RestrictSet::Literal(l)))),
            (inner.clone(), "[A-C]")
                .prop_map(|(p, n)| at(Expr::Restrict(Box::new(p), RestrictSet::Named(n, (0, 0))))),
            (inner, prop::collection::vec(("[a-d]", "[a-d]"), 1..3))
                .prop_map(|(p, m)| at(Expr::Relabel(Box::new(p), m))),
        ]
    })
}

proptest! {
    #[test]
    fn printing_then_parsing_gives_the_same_tree(p in process()) {
        let text = p.to_string();
        let back = parse_process("p", &text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, p, "{}", text);
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(s in "\\PC{0,80}") {
        let _ = Program::parse("fuzz", &s);
        let _ = parse_process("fuzz", &s);
        let _ = Formula::parse(&s);
        let _ = aut::read("fuzz.aut", &s);
    }

    #[test]
    fn the_parser_never_panics_on_token_soup(toks in prop::collection::vec(prop::sample::select(vec![
        "A", "B", "a", "'", "'b", "tau", "0", "1", ".", "+", "|", "\\", "{", "}", "[", "]", "/",
        ",", "(", ")", "=", ";", "set", "L", "*", "\n", " ", "<", ">", "<<", ">>", "[[", "]]",
        "&&", "||", "!", "-", "tt", "ff", "min", "max", "X", "des", "é",
    ]), 0..40)) {
        let s: String = toks.concat();
        if let Ok(p) = Program::parse("soup", &s) {
            // What parses also prints and parses back.
            let again = parse_module("again", &p.module.to_string()).unwrap();
            prop_assert_eq!(again, p.module);
        }
        let _ = parse_process("soup", &s);
        if let Ok(f) = Formula::parse(&s) {
            prop_assert_eq!(Formula::parse(&f.to_string()).unwrap(), f);
        }
        let _ = aut::read("soup.aut", &s);
    }
}

fn position(src: &str) -> (usize, usize) {
    Program::parse("t.ccs", src)
        .expect_err("should fail")
        .line_col()
        .expect("has a position")
}

#[test]
fn errors_point_at_the_offending_text() {
    assert_eq!(position("A = a.0;\nB = a.(b.0 +);\n"), (2, 13));
    assert_eq!(position("A = a.0\nB = b.0;"), (2, 1)); // missing `;`
    assert_eq!(position("A = a;"), (1, 6)); // action without `.P`
    assert_eq!(position("A = 2.0;"), (1, 5));
    assert_eq!(position("A = a.0;\n  B = c.Undefined;"), (2, 9));
    assert_eq!(position("A = a.0;\nA = b.0;"), (2, 1));
    assert_eq!(position("X = a.0 + (X | b.0);"), (1, 12));
    assert_eq!(position("A = a.0 \\ L;"), (1, 11));
    assert_eq!(position("A = a.0 [x];"), (1, 11));
}

#[test]
fn each_kind_of_mistake_has_its_own_error() {
    assert!(
        matches!(Program::parse("t", "A = B;"), Err(Error::UndefinedProcess { ref name, .. }) if name == "B")
    );
    assert!(matches!(
        Program::parse("t", "A = 0; A = 0;"),
        Err(Error::DuplicateDefinition { .. })
    ));
    assert!(
        matches!(Program::parse("t", "X = Y; Y = a.0 + X;"), Err(Error::UnguardedRecursion { ref cycle, .. }) if cycle == "X -> Y -> X")
    );
    assert!(matches!(
        Program::parse("t", "X = a.X | X;"),
        Err(Error::UnguardedRecursion { .. })
    ));
    // Guarded recursion through restriction and relabelling is fine.
    assert!(Program::parse("t", "X = (a.X) \\ {b} [c/a];").is_ok());
    let e = Program::parse("t", "A = B + C;").unwrap_err();
    assert!(matches!(e, Error::Many { ref related, .. } if related.len() == 2));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("A = {}0{};", "(".repeat(10_000), ")".repeat(10_000));
    assert!(matches!(
        Program::parse("t", &deep),
        Err(Error::Syntax { .. })
    ));
    let long = format!("A = {}0;", "a.".repeat(10_000));
    assert!(Program::parse("t", &long).is_err());
    let f = format!("{}tt", "<a>".repeat(10_000));
    assert!(Formula::parse(&f).is_err());
}

#[test]
fn comments_sets_and_precedence() {
    let p = Program::parse(
        "t",
        "* a comment\nset L = {a, b}; * trailing\nA = a.b.0 | c.0 + d.0 \\ L;",
    )
    .unwrap();
    assert_eq!(p.module.sets[0].actions, ["a", "b"]);
    assert_eq!(
        p.module.definitions[0].body.to_string(),
        "a.b.0 | c.0 + d.0 \\ L"
    );
    match &p.module.definitions[0].body.expr {
        Expr::Sum(items) => {
            assert!(matches!(items[0].expr, Expr::Par(_)));
            assert!(matches!(items[1].expr, Expr::Prefix(..)));
        }
        other => panic!("expected a sum, got {other:?}"),
    }
}

#[test]
fn hml_errors_have_positions() {
    let e = Formula::parse("<a>tt && [b ff").unwrap_err();
    assert_eq!(e.line_col(), Some((1, 13)));
    let e = Formula::parse("max X. <a>Y").unwrap_err();
    assert_eq!(e.line_col(), Some((1, 11)));
    assert!(matches!(
        Formula::parse("max X. !<a>X"),
        Err(Error::NotMonotone { .. })
    ));
    assert!(Formula::parse("max X. !!<a>X").is_ok());
}

#[test]
fn aut_errors_have_positions() {
    let e = aut::read("x.aut", "des (0, 1, 2)\n(0, a, 2)\n").unwrap_err();
    assert_eq!(e.line_col(), Some((2, 8)));
    let e = aut::read("x.aut", "des (0, 2, 2)\n(0, a, 1)\n").unwrap_err();
    assert!(e.to_string().contains("declares 2 transitions"), "{e}");
    let e = aut::read("x.aut", "hello").unwrap_err();
    assert_eq!(e.line_col(), Some((1, 1)));
    let e = aut::read("x.aut", "des (0, 1, 2)\n(x, a, 1)\n").unwrap_err();
    assert_eq!(e.line_col(), Some((2, 2)));
}
