//! `weft ccs ...`: exit codes, JSON output and error messages.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn weft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .output()
        .expect("the weft binary runs")
}

fn file(name: &str, text: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ccs_cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_str(stdout(o).trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

const VM: &str = "A = coin.(tea.A + coffee.A);\nB = coin.tea.B + coin.coffee.B;\nP = a.0 + b.0;\nQ = a.0 + tau.b.0;\n";

#[test]
fn lts_counts_states_and_transitions() {
    let f = file("vm1.ccs", VM);
    let o = weft(&["ccs", "lts", &f, "A"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "states: 2\ntransitions: 3\n");
    let j = json(&weft(&["ccs", "lts", &f, "a.0 | 'a.0", "--json"]));
    assert_eq!(j["states"], 4);
    assert_eq!(j["transitions"], 5);
    let dot = stdout(&weft(&["ccs", "lts", &f, "B", "--dot"]));
    assert!(dot.starts_with("digraph"), "{dot}");
    assert!(dot.contains("label=\"coin\""));
}

#[test]
fn equiv_exit_codes_and_witnesses() {
    let f = file("vm2.ccs", VM);
    let o = weft(&["ccs", "equiv", &f, "A", "B"]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("distinguishing formula: <coin>"),
        "{}",
        stdout(&o)
    );
    assert_eq!(code(&weft(&["ccs", "equiv", &f, "A", "B", "--traces"])), 0);
    let j = json(&weft(&["ccs", "equiv", &f, "P", "Q", "--weak", "--json"]));
    assert_eq!(j["equivalent"], false);
    assert!(j["formula"].as_str().unwrap().contains("<<"), "{j}");
    let j = json(&weft(&["ccs", "equiv", &f, "P", "Q", "--traces", "--json"]));
    assert_eq!(j["trace"], serde_json::json!(["tau"]));
    assert_eq!(j["trace_in"], "Q");
    assert_eq!(
        code(&weft(&["ccs", "equiv", &f, "P", "Q", "--weak-traces"])),
        0
    );
    // Two equivalence flags at once are a usage error.
    assert_eq!(
        code(&weft(&["ccs", "equiv", &f, "P", "Q", "--weak", "--strong"])),
        2
    );
}

#[test]
fn aut_files_stand_alone() {
    let a = file("a.aut", "des (0, 2, 2)\n(0, \"a\", 1)\n(1, \"b\", 0)\n");
    let b = file("b.aut", "des (0, 3, 3)\n(0, a, 1)\n(1, b, 2)\n(2, a, 1)\n");
    assert_eq!(code(&weft(&["ccs", "equiv", &a, &b])), 0);
    let o = weft(&["ccs", "minimize", &b, "--json"]);
    let j = json(&o);
    assert_eq!(
        (j["states"].as_u64(), j["transitions"].as_u64()),
        (Some(2), Some(2))
    );
    let o = weft(&["ccs", "lts", &a, "--aut"]);
    assert_eq!(stdout(&o), "des (0, 2, 2)\n(0,\"a\",1)\n(1,\"b\",0)\n");
    assert_eq!(code(&weft(&["ccs", "deadlock", &a])), 0);
    assert_eq!(code(&weft(&["ccs", "check", &a, "<a><b><a>tt"])), 0);
}

#[test]
fn deadlock_reports_a_shortest_trace() {
    let f = file("dl.ccs", "P = a.b.0 + c.P;\nQ = a.Q;\n");
    let o = weft(&["ccs", "deadlock", &f, "P"]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).starts_with("deadlock after 2 steps: a.b"),
        "{}",
        stdout(&o)
    );
    let o = weft(&["ccs", "deadlock", &f, "Q"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (0, "deadlock-free\n"));
    let j = json(&weft(&["ccs", "deadlock", &f, "P", "--json"]));
    assert_eq!(j["trace"], serde_json::json!(["a", "b"]));
}

#[test]
fn minimize_and_check() {
    let f = file("min.ccs", "A = a.A1; A1 = a.A;\nW = a.tau.W;\n");
    let o = weft(&["ccs", "minimize", &f, "A"]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).starts_with("states: 1\ntransitions: 1\n"),
        "{}",
        stdout(&o)
    );
    let j = json(&weft(&["ccs", "minimize", &f, "W", "--weak", "--json"]));
    assert_eq!(
        (j["states"].as_u64(), j["transitions"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(code(&weft(&["ccs", "check", &f, "A", "max X. <a>X"])), 0);
    assert_eq!(code(&weft(&["ccs", "check", &f, "A", "<b>tt"])), 1);
    let o = weft(&["ccs", "check", &f, "A", "<a>tt &&"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("expected a formula"), "{}", stderr(&o));
}

#[test]
fn run_is_seeded() {
    let f = file("run.ccs", VM);
    let a = stdout(&weft(&[
        "ccs", "run", &f, "A", "--steps", "10", "--seed", "5",
    ]));
    let b = stdout(&weft(&[
        "ccs", "run", &f, "A", "--steps", "10", "--seed", "5",
    ]));
    assert_eq!(a, b);
    assert!(a.starts_with("trace: coin "), "{a}");
    let j = json(&weft(&["ccs", "run", &f, "P", "--json"]));
    assert_eq!(j["deadlocked"], true);
    assert_eq!(j["steps"], 1);
}

#[test]
fn bad_input_is_exit_code_2_with_a_position() {
    let f = file("bad.ccs", "A = a.0;\nB = a.(b.0 +);\n");
    let o = weft(&["ccs", "lts", &f, "A"]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(err.contains("expected a process"), "{err}");
    assert!(err.contains("bad.ccs:2:13"), "{err}");
    let j = json(&weft(&["ccs", "lts", &f, "A", "--json"]));
    assert_eq!(
        (j["line"].as_u64(), j["column"].as_u64()),
        (Some(2), Some(13))
    );

    let f = file("unguarded.ccs", "X = X + a.0;\n");
    let o = weft(&["ccs", "lts", &f, "X"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("unguarded recursion"), "{}", stderr(&o));

    let f = file("ok.ccs", VM);
    let o = weft(&["ccs", "lts", &f, "Nope"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("undefined process `Nope`"),
        "{}",
        stderr(&o)
    );
    let o = weft(&["ccs", "lts", &f]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("which process?"), "{}", stderr(&o));
    let o = weft(&["ccs", "lts", "/nonexistent/x.ccs", "A"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
    let bad_aut = file("bad.aut", "des (0, 1, 1)\n(0, a, 3)\n");
    let o = weft(&["ccs", "lts", &bad_aut]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("out of range"), "{}", stderr(&o));
}

#[test]
fn max_states_stops_cleanly() {
    let f = file("big.ccs", "C = a.C | b.0;\nX = a.(X | X);\n");
    let o = weft(&["ccs", "lts", &f, "X", "--max-states", "1000"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("more than 1000 states"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--max-states"), "{}", stderr(&o));
    let j = json(&weft(&[
        "ccs",
        "deadlock",
        &f,
        "X",
        "--max-states",
        "50",
        "--json",
    ]));
    assert!(j["error"].as_str().unwrap().contains("50"), "{j}");
}
