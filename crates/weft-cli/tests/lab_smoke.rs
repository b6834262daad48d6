//! Smoke tests of the `weft` binary: the lab's JSON document on the tiny test profile, and
//! the usage errors a user can make.

use std::process::{Command, Output};

use serde_json::Value;

fn weft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .output()
        .expect("the weft binary runs")
}

fn table<'a>(section: &'a Value, id: &str) -> &'a Value {
    section["tables"]
        .as_array()
        .expect("tables is an array")
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no table `{id}`"))
}

fn column(table: &Value, key: &str) -> usize {
    table["columns"]
        .as_array()
        .expect("columns is an array")
        .iter()
        .position(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("table `{}` has no column `{key}`", table["id"]))
}

fn rows(table: &Value) -> &Vec<Value> {
    table["rows"].as_array().expect("rows is an array")
}

/// The number in `key` of the row whose first cell is `label`; panics unless it is positive.
fn positive(table: &Value, label: &str, key: &str) -> f64 {
    let col = column(table, key);
    let row = rows(table)
        .iter()
        .find(|r| r[0] == label)
        .unwrap_or_else(|| panic!("table `{}` has no row `{label}`", table["id"]));
    let value = row[col].as_f64().unwrap_or_else(|| {
        panic!(
            "`{key}` of `{label}` in `{}` is not a number: {row}",
            table["id"]
        )
    });
    assert!(value > 0.0, "`{key}` of `{label}` is {value}");
    value
}

#[test]
fn threads_section_reports_positive_figures_as_json() {
    let out = weft(&[
        "--profile",
        "test",
        "--no-report",
        "--json",
        "--section",
        "threads",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "weft failed: {stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["format"], "weft-lab/1");
    assert_eq!(doc["profile"], "test");
    assert!(doc["machine"]["cpus"].as_u64().unwrap_or(0) >= 1);

    let sections = doc["sections"].as_array().expect("sections is an array");
    assert_eq!(sections.len(), 1);
    let s = &sections[0];
    assert_eq!(s["name"], "threads");
    assert!(!s["claim"].as_str().unwrap_or("").is_empty());

    // Every row has one cell per column.
    for t in s["tables"].as_array().expect("tables") {
        let width = t["columns"].as_array().expect("columns").len();
        for row in rows(t) {
            assert_eq!(
                row.as_array().map(Vec::len),
                Some(width),
                "row {row} of {}",
                t["id"]
            );
        }
    }

    // No probe failed.
    let failures: Vec<&Value> = s["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter(|n| n["kind"] == "failure")
        .collect();
    assert!(failures.is_empty(), "failed probes: {failures:?}");

    let stacks = table(s, "stack_sizes");
    assert!(positive(stacks, "Rust std::thread", "here") >= 4096.0);
    positive(stacks, "pthread_create (C)", "here");
    positive(stacks, "weft green thread", "here");

    let memory = table(s, "parked_memory");
    for label in [
        "std::thread (kernel)",
        "weft green thread",
        "tokio task",
        "may coroutine",
    ] {
        positive(memory, label, "parked");
        positive(memory, label, "bytes_per_thread");
        positive(memory, label, "spawns_per_second");
    }
    positive(memory, "std::thread (kernel)", "virtual_per_thread");

    let switches = table(s, "switch_costs");
    for label in ["weft green threads", "tokio tasks", "std::thread (kernel)"] {
        for key in [
            "spawn_join_per_second",
            "yield_ns",
            "ping_pong_one_ns",
            "ping_pong_across_ns",
        ] {
            positive(switches, label, key);
        }
    }

    let peers = table(s, "peers");
    positive(peers, "weft green thread", "bytes_per_parked");
    positive(peers, "Go 1.19", "bytes_per_parked");

    let oversub = table(s, "oversubscription");
    let wall = column(oversub, "wall_ms");
    assert!(rows(oversub).len() >= 4);
    for row in rows(oversub) {
        assert!(row[wall].as_f64().unwrap_or(0.0) > 0.0, "{row}");
    }

    let charts = s["charts"].as_array().expect("charts");
    assert_eq!(charts.len(), 2);
    for chart in charts {
        let points: usize = chart["series"]
            .as_array()
            .expect("series")
            .iter()
            .map(|s| s["points"].as_array().map_or(0, Vec::len))
            .sum();
        assert!(points > 0, "chart {} has no points", chart["id"]);
    }
}

/// The one section of a `--json` run of `section` on the test profile, after the checks every
/// section passes: every row as wide as its table, and no failed probe.
fn run_section(section: &str) -> Value {
    let out = weft(&[
        "--profile",
        "test",
        "--no-report",
        "--json",
        "--section",
        section,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "weft failed: {stderr}");
    let mut doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["format"], "weft-lab/1");
    let sections = doc["sections"]
        .as_array_mut()
        .expect("sections is an array");
    assert_eq!(sections.len(), 1);
    let s = sections.remove(0);
    assert_eq!(s["name"], section);
    assert!(!s["claim"].as_str().unwrap_or("").is_empty());
    for t in s["tables"].as_array().expect("tables") {
        let width = t["columns"].as_array().expect("columns").len();
        for row in rows(t) {
            assert_eq!(
                row.as_array().map(Vec::len),
                Some(width),
                "row {row} of {}",
                t["id"]
            );
        }
    }
    let failures: Vec<&Value> = s["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter(|n| n["kind"] == "failure")
        .collect();
    assert!(failures.is_empty(), "failed probes: {failures:?}");
    s
}

#[test]
fn locks_section_reports_positive_figures_as_json() {
    let s = run_section("locks");

    let mutexes = table(&s, "mutexes");
    for label in [
        "weft::sync::Mutex",
        "weft::sync::SpinLock",
        "weft::sync::TicketLock",
        "std::sync::Mutex",
        "parking_lot::Mutex",
        "spin::mutex::SpinMutex",
        "spin::mutex::TicketMutex",
        "tokio::sync::Mutex",
    ] {
        for key in [
            "uncontended_ns",
            "one_lock_ns",
            "one_lock_worst_wait",
            "light_ns",
            "light_worst_wait",
        ] {
            positive(mutexes, label, key);
        }
    }

    let peers = table(&s, "peers");
    positive(peers, "weft::sync::Mutex", "measured_ns");
    positive(peers, "parking_lot::Mutex", "measured_ns");
    positive(peers, "Go sync.Mutex", "quoted_ns");

    let green = table(&s, "green_threads");
    for label in [
        "weft::sync::Mutex",
        "parking_lot::Mutex",
        "tokio::sync::Mutex",
    ] {
        positive(green, label, "ns_per_pair");
        positive(green, label, "worst_wait");
        positive(green, label, "vs_tokio");
    }

    let rwlocks = table(&s, "rwlocks");
    for label in [
        "weft::sync::RwLock",
        "std::sync::RwLock",
        "parking_lot::RwLock",
        "spin::RwLock",
        "tokio::sync::RwLock",
    ] {
        positive(rwlocks, label, "uncontended_read_ns");
        positive(rwlocks, label, "read_mostly_ns");
        positive(rwlocks, label, "read_mostly_worst_wait");
    }

    let semaphores = table(&s, "semaphores");
    for label in ["weft::sync::Semaphore", "tokio::sync::Semaphore"] {
        positive(semaphores, label, "uncontended_ns");
        positive(semaphores, label, "ns_per_item");
    }

    // The hazard: every cell is a wall time or says how far a capped run got.
    let hazard = table(&s, "oversubscribed");
    let walls: Vec<usize> = hazard["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .enumerate()
        .filter(|(_, c)| c["key"].as_str().is_some_and(|k| k.starts_with("wall_")))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(walls.len(), 3, "three thread counts");
    assert_eq!(rows(hazard).len(), 6);
    for row in rows(hazard) {
        for &i in &walls {
            let cell = &row[i];
            assert!(
                cell.as_f64().is_some_and(|v| v > 0.0)
                    || cell.as_str().is_some_and(|t| t.starts_with("> ")),
                "{row}"
            );
        }
    }

    let charts = s["charts"].as_array().expect("charts");
    assert_eq!(charts.len(), 5);
    for chart in charts {
        let points: usize = chart["series"]
            .as_array()
            .expect("series")
            .iter()
            .map(|s| s["points"].as_array().map_or(0, Vec::len))
            .sum();
        assert!(points > 0, "chart {} has no points", chart["id"]);
    }
}

#[test]
fn unknown_section_is_a_usage_error() {
    let out = weft(&["--section", "nope", "--no-report"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'nope'"), "{stderr}");
    assert!(
        stderr.contains("threads"),
        "the message lists the sections: {stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_profile_is_a_usage_error() {
    let out = weft(&["--profile", "huge", "--no-report"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("quick"),
        "the message lists the profiles: {stderr}"
    );
}

#[test]
fn unusable_report_directory_is_a_usage_error() {
    let file = std::env::temp_dir().join(format!("weft-lab-smoke-{}", std::process::id()));
    std::fs::write(&file, b"not a directory").expect("temp file");
    let out_dir = file.join("report");
    let out = weft(&[
        "--profile",
        "test",
        "--out",
        out_dir.to_str().expect("utf-8 path"),
    ]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--out"),
        "the message says what to do: {stderr}"
    );
}

#[test]
fn stm_section_reports_positive_figures_and_right_totals() {
    let s = run_section("stm");

    let bank = table(&s, "bank");
    let rate = column(bank, "rate");
    let check = column(bank, "check");
    let measured: Vec<&Value> = rows(bank)
        .iter()
        .filter(|r| !r[0].as_str().unwrap_or("").contains("quoted"))
        .collect();
    assert_eq!(measured.len(), 18, "every bank probe has a row");
    let auditors = column(bank, "auditors");
    let audits = column(bank, "audits");
    let mut jobs = 0;
    for row in measured {
        assert!(row[rate].as_f64().is_some_and(|v| v > 0.0), "{row}");
        assert!(
            row[check].as_str().is_some_and(|c| c.starts_with("right")),
            "a wrong total: {row}"
        );
        if row[auditors].as_str().is_some_and(|a| a.contains("audits")) {
            // A fixed audit job: its audits all ran, so its audit rate is positive.
            jobs += 1;
            assert!(row[audits].as_f64().is_some_and(|v| v > 0.0), "{row}");
        }
    }
    assert_eq!(jobs, 4, "one fixed audit job per implementation");
    positive(table(&s, "read_only"), "weft STM", "ns");
    positive(table(&s, "read_only"), "stm crate", "ns");
    let mostly = table(&s, "read_mostly");
    positive(mostly, "weft STM", "reads");
    positive(mostly, "weft STM", "writes");
    let sums = column(mostly, "check");
    for row in rows(mostly) {
        assert_eq!(row[sums], "consistent", "{row}");
    }
    let queue = table(&s, "queue");
    positive(queue, "weft TQueue (kernel threads)", "ns");
    positive(queue, "weft TQueue (green threads, 2 workers)", "ns");
}

/// Runs `weft probe stm` on a bank of weft's STM with 2 transfer threads, 100 accounts and
/// the given extra fields; returns the exit code and the JSON it printed.
fn stm_bank_probe(fields: &str) -> (Option<i32>, Value) {
    let spec = format!(
        r#"{{"probe":"bank","imp":"weft_stm","threads":2,"green":false,"workers":2,"accounts":100,{fields}}}"#
    );
    let out = weft(&["probe", "stm", &spec]);
    let doc = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    (out.status.code(), doc)
}

#[test]
fn a_fixed_audit_job_without_auditors_is_an_error() {
    let (code, doc) = stm_bank_probe(r#""transfers":1000,"auditors":0,"audits":5,"repeats":1"#);
    assert_eq!(code, Some(1));
    let msg = doc["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("auditor"),
        "the message says what is missing: {doc}"
    );
}

#[test]
fn a_fixed_audit_job_does_exactly_its_audits() {
    let (code, doc) = stm_bank_probe(r#""transfers":2000,"auditors":2,"audits":7,"repeats":2"#);
    assert_eq!(code, Some(0));
    let ok = &doc["ok"];
    // 7 audits shared by 2 auditors, in each of the 2 repeats (the warm-up is not counted).
    assert_eq!(ok["audits"], 14, "{doc}");
    assert_eq!(ok["bad_audits"], 0, "{doc}");
    assert_eq!(ok["conserved"], true, "{doc}");
}

#[test]
fn csp_section_reports_every_channel_with_positive_figures() {
    let s = run_section("csp");
    let pp = table(&s, "ping_pong");
    assert!(positive(pp, "weft::csp", "one_worker") > 0.0);
    assert!(positive(pp, "weft::csp", "across") > 0.0);
    assert!(positive(pp, "kanal", "across") > 0.0);
    let tp = table(&s, "throughput");
    // One row per load of the test profile (2 shapes x 2 capacities), a figure for weft in
    // each, and a dash where a channel has no such form (tokio has no capacity 0).
    assert_eq!(rows(tp).len(), 4);
    let weft = column(tp, "weft");
    let tokio = column(tp, "tokio");
    for row in rows(tp) {
        assert!(row[weft].as_f64().is_some_and(|v| v > 0.0), "{row}");
        if row[1] == "rendezvous" {
            assert!(row[tokio].is_null(), "{row}");
        }
    }
    let sel = table(&s, "select");
    assert!(rows(sel).len() >= 2);
    let w = column(sel, "weft");
    assert!(rows(sel)
        .iter()
        .all(|r| r[w].as_f64().is_some_and(|v| v > 0.0)));
    // The test profile blocks 2 000 green threads at once, parked and on channels alike.
    let mem = table(&s, "blocked_memory");
    for process in [
        "weft green thread",
        "weft green thread in recv on its own channel",
    ] {
        assert_eq!(positive(mem, process, "count"), 2000.0);
        assert!(positive(mem, process, "bytes") > 0.0);
    }
}

#[test]
fn actors_section_reports_every_library_with_positive_figures() {
    let s = run_section("actors");
    for id in ["ring", "tell", "call"] {
        let t = table(&s, id);
        for lib in ["weft::actor", "actix", "ractor", "kameo"] {
            assert!(positive(t, lib, "one") > 0.0);
        }
        // actix's actors share one thread: no two-thread figure.
        let two = column(t, "two");
        let actix = rows(t)
            .iter()
            .find(|r| r[0] == "actix")
            .expect("an actix row");
        assert!(actix[two].is_null(), "{actix}");
        assert!(positive(t, "weft::actor", "two") > 0.0);
    }
    let idle = table(&s, "idle_actors");
    for lib in ["weft::actor", "actix", "ractor", "kameo"] {
        // The test profile spawns 2 000 of each, all idle at once.
        assert_eq!(positive(idle, lib, "idle"), 2000.0);
        assert!(positive(idle, lib, "bytes") > 0.0);
    }
    assert_eq!(
        positive(idle, "weft green thread, parked (baseline)", "idle"),
        2000.0
    );
}

/// Probes of the actors section that cannot run say why, as an error document.
#[test]
fn impossible_actor_probes_are_errors_not_panics() {
    for (spec, says) in [
        (
            r#"{"probe":"timed","peer":"actix","load":"tell","workers":"two","target_ms":1,"repeats":1}"#,
            "actix",
        ),
        (
            r#"{"probe":"timed","peer":"weft","load":{"ring":{"actors":1}},"workers":"one","target_ms":1,"repeats":1}"#,
            "at least 2",
        ),
        (
            r#"{"probe":"pair","peers":["weft","weft"],"load":"tell","workers":"one","target_ms":1,"rounds":1}"#,
            "two different",
        ),
    ] {
        let out = weft(&["probe", "actors", spec]);
        assert_eq!(out.status.code(), Some(1), "{spec}");
        let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
        let msg = doc["error"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{spec}: {doc}");
    }
}

/// The number in `key` of the row whose first cell is `label` (`None` for a dash).
fn cell(table: &Value, label: &str, key: &str) -> Option<f64> {
    let col = column(table, key);
    rows(table)
        .iter()
        .find(|r| r[0] == label)
        .unwrap_or_else(|| panic!("table `{}` has no row `{label}`", table["id"]))[col]
        .as_f64()
}

#[test]
fn multitasking_section_reports_starvation_blocking_and_echoes() {
    let s = run_section("multitasking");

    // The test profile's hog spins 30 ms beside a ticker that wants to run every 1 ms.
    let ticker = table(&s, "ticker");
    assert_eq!(rows(ticker).len(), 4);
    for mode in ["cooperative", "budget", "preemptive", "kernel threads"] {
        positive(ticker, mode, "ticks");
        positive(ticker, mode, "hog_iterations");
        positive(ticker, mode, "worst_ms");
    }
    // Nothing interrupts a hog that never calls the runtime: the ticker waits for most of it.
    let coop = positive(ticker, "cooperative", "worst_ms");
    assert!(coop >= 15.0, "cooperative worst lateness {coop} ms");
    // A hog that spends from the budget yields every 128 calls.
    let budget = positive(ticker, "budget", "worst_ms");
    // Preemption interrupts a hog that never calls the runtime.
    let preemptive = positive(ticker, "preemptive", "worst_ms");
    assert!(
        preemptive < coop / 4.0,
        "preemptive worst lateness {preemptive} ms (cooperative {coop} ms)"
    );
    assert!(
        budget < coop / 4.0,
        "budget worst lateness {budget} ms (cooperative {coop} ms)"
    );

    // A green thread waits 30 ms in three ways on a 1-worker runtime with a 10 ms watchdog.
    let blocking = table(&s, "blocking_call");
    assert_eq!(rows(blocking).len(), 3);
    assert!(positive(blocking, "std::thread::sleep", "reports") >= 1.0);
    positive(blocking, "std::thread::sleep", "first_report_ms");
    let kind = column(blocking, "kind");
    let blocked = rows(blocking)
        .iter()
        .find(|r| r[0] == "std::thread::sleep")
        .expect("a std::thread::sleep row");
    assert!(
        blocked[kind].as_str().unwrap_or("").starts_with("blocked"),
        "{blocked}"
    );
    for way in ["weft::sleep", "weft::blocking(std::thread::sleep)"] {
        assert_eq!(cell(blocking, way, "reports"), Some(0.0), "{way}");
        assert_eq!(cell(blocking, way, "first_report_ms"), None, "{way}");
    }
    let blocked_late = positive(blocking, "std::thread::sleep", "worst_ms");
    let parked_late = positive(blocking, "weft::sleep", "worst_ms");
    assert!(
        parked_late < blocked_late,
        "weft::sleep {parked_late} ms, std::thread::sleep {blocked_late} ms"
    );

    // 200 connections held at once by each server, every one echoing its rounds.
    let echo = table(&s, "echo");
    assert_eq!(rows(echo).len(), 3);
    for server in ["weft", "tokio", "std threads"] {
        assert_eq!(positive(echo, server, "held"), 200.0, "{server}");
        positive(echo, server, "per_second");
        positive(echo, server, "p50_ns");
        positive(echo, server, "p99_ns");
    }
}
