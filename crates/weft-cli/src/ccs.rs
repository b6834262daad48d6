//! `weft ccs ...`: the CCS tool on the command line.
//!
//! Every subcommand takes a CCS file and a process (`FILE P`; `P` may be any process
//! expression over the file's definitions), or an Aldebaran `.aut` file alone. Exit codes:
//! 0 for "yes" (equivalent, deadlock-free, satisfied, or simply done), 1 for "no", 2 for an
//! error (malformed input, unknown names, a state space beyond `--max-states`). Errors are
//! printed as diagnostics with the line and column of the offending text; `--json` prints
//! one JSON document on stdout instead of text (errors then also as `{"error": ...}`).

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};
use miette::{GraphicalReportHandler, GraphicalTheme};
use serde_json::{json, Value};
use weft_ccs::bisim::{self, Equivalence};
use weft_ccs::hml::{Checker, Formula};
use weft_ccs::witness::{self, Witness};
use weft_ccs::{aut, explore, run as ccs_run, Lts, Program, Semantics, DEFAULT_MAX_STATES};

/// Arguments of `weft ccs`.
#[derive(Debug, Clone, Args)]
pub struct CcsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CcsCommand,
}

/// Options every subcommand has.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Stop with an error (exit code 2) when the state space exceeds this many states.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_STATES)]
    pub max_states: usize,
}

/// The subcommands of `weft ccs`.
#[derive(Debug, Clone, Subcommand)]
pub enum CcsCommand {
    /// The transition system of a process: `states: N` and `transitions: M`, or DOT.
    Lts {
        /// A CCS file (or an `.aut` file, then without P).
        file: String,
        /// The process (a name or expression over the file's definitions).
        process: Option<String>,
        /// Also print labels, memory and generation time.
        #[arg(long)]
        stats: bool,
        /// Print the system as Graphviz DOT.
        #[arg(long)]
        dot: bool,
        /// Write the system in Aldebaran format to FILE (`-` or no value: stdout).
        #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
        aut: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Decide whether two processes are equivalent (exit 0) or not (exit 1, with a witness).
    Equiv {
        /// A CCS file, or the first of two `.aut` files.
        file: String,
        /// `P Q` for a CCS file, or the second `.aut` file.
        #[arg(num_args = 1..=2, required = true)]
        rest: Vec<String>,
        /// Strong bisimilarity (the default).
        #[arg(long, group = "eq")]
        strong: bool,
        /// Weak bisimilarity (observational equivalence).
        #[arg(long, group = "eq")]
        weak: bool,
        /// Trace equivalence.
        #[arg(long, group = "eq")]
        traces: bool,
        /// Weak trace equivalence.
        #[arg(long, group = "eq")]
        weak_traces: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Find a deadlock: exit 0 when there is none, 1 with a shortest trace to one.
    Deadlock {
        /// A CCS file (or an `.aut` file, then without P).
        file: String,
        /// The process.
        process: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Minimise a process modulo strong (default) or weak bisimilarity.
    Minimize {
        /// A CCS file (or an `.aut` file, then without P).
        file: String,
        /// The process.
        process: Option<String>,
        /// Strong bisimilarity (the default).
        #[arg(long, group = "eq")]
        strong: bool,
        /// Weak bisimilarity.
        #[arg(long, group = "eq")]
        weak: bool,
        /// Print the minimised system as Graphviz DOT.
        #[arg(long)]
        dot: bool,
        /// Write the minimised system in Aldebaran format to FILE (`-` or no value: stdout).
        #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
        aut: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Check a Hennessy–Milner formula: exit 0 when the process satisfies it, 1 when not.
    Check {
        /// A CCS file (or an `.aut` file).
        file: String,
        /// `P FORMULA` for a CCS file, `FORMULA` for an `.aut` file.
        #[arg(num_args = 1..=2, required = true)]
        rest: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Run a process step by step, choosing among enabled transitions at random (seeded).
    Run {
        /// A CCS file (or an `.aut` file, then without P).
        file: String,
        /// The process.
        process: Option<String>,
        /// At most this many steps.
        #[arg(long, value_name = "N", default_value_t = 100)]
        steps: usize,
        /// The seed of the random choices.
        #[arg(long, value_name = "S", default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        common: Common,
    },
}

/// A failure: a diagnostic, or a plain message.
enum Failure {
    Diagnostic(Box<weft_ccs::Error>),
    Message(String),
}

impl From<weft_ccs::Error> for Failure {
    fn from(e: weft_ccs::Error) -> Self {
        Failure::Diagnostic(Box::new(e))
    }
}

/// What a command prints: text or JSON, and its exit code.
struct Outcome {
    text: String,
    json: Value,
    code: u8,
}

/// Runs `weft ccs ...`.
pub fn run(args: &CcsArgs) -> ExitCode {
    let json = match &args.command {
        CcsCommand::Lts { common, .. }
        | CcsCommand::Equiv { common, .. }
        | CcsCommand::Deadlock { common, .. }
        | CcsCommand::Minimize { common, .. }
        | CcsCommand::Check { common, .. }
        | CcsCommand::Run { common, .. } => common.json,
    };
    match dispatch(&args.command) {
        Ok(out) => {
            if json {
                println!("{}", out.json);
            } else {
                print!("{}", out.text);
            }
            ExitCode::from(out.code)
        }
        Err(failure) => {
            let (message, rendered, position) = match &failure {
                Failure::Diagnostic(e) => (e.to_string(), render(e), e.line_col()),
                Failure::Message(m) => (m.clone(), format!("error: {m}\n"), None),
            };
            eprint!("{rendered}");
            if json {
                let mut v = json!({ "error": message });
                if let Some((line, column)) = position {
                    v["line"] = json!(line);
                    v["column"] = json!(column);
                }
                println!("{v}");
            }
            ExitCode::from(2)
        }
    }
}

fn render(e: &weft_ccs::Error) -> String {
    let theme = if std::io::stderr().is_terminal() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    match GraphicalReportHandler::new_themed(theme).render_report(&mut out, e) {
        Ok(()) => out,
        Err(_) => format!("error: {e}\n"),
    }
}

/// A loaded system: its LTS, and the names of its states when it came from CCS.
struct Loaded {
    lts: Lts,
    names: Option<Vec<String>>,
    seconds: f64,
}

fn is_aut(file: &str) -> bool {
    Path::new(file)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("aut"))
}

fn read(file: &str) -> Result<String, Failure> {
    std::fs::read_to_string(file)
        .map_err(|e| Failure::Message(format!("cannot read '{file}': {e}")))
}

fn program(file: &str) -> Result<Program, Failure> {
    let text = read(file)?;
    Ok(Program::parse(file, &text)?)
}

fn need_process<'a>(process: Option<&'a str>, cmd: &str) -> Result<&'a str, Failure> {
    process.ok_or_else(|| {
        Failure::Message(format!(
            "which process? give one after the file: `weft ccs {cmd} FILE P` (only .aut files stand alone)"
        ))
    })
}

fn load(
    file: &str,
    process: Option<&str>,
    max_states: usize,
    cmd: &str,
    names: bool,
) -> Result<Loaded, Failure> {
    let start = Instant::now();
    if is_aut(file) {
        if let Some(p) = process {
            return Err(Failure::Message(format!(
                "an .aut file is a single process; drop the extra argument `{p}`"
            )));
        }
        let lts = aut::read(file, &read(file)?)?;
        if lts.num_states() > max_states {
            return Err(weft_ccs::Error::TooManyStates { limit: max_states }.into());
        }
        return Ok(Loaded {
            lts,
            names: None,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    let prog = program(file)?;
    let p = prog.process(need_process(process, cmd)?)?;
    let mut sem = Semantics::new(&prog);
    let root = sem.compile(&p);
    let space = explore(&mut sem, root, max_states)?;
    let seconds = start.elapsed().as_secs_f64();
    let names = names.then(|| {
        (0..space.lts.num_states() as u32)
            .map(|s| {
                let parts: Vec<String> = space.leaves(s).iter().map(|&t| sem.show(t)).collect();
                parts.join(" || ")
            })
            .collect()
    });
    Ok(Loaded {
        lts: space.lts,
        names,
        seconds,
    })
}

fn write_aut(target: &str, lts: &Lts, text: &mut String) -> Result<(), Failure> {
    let data = aut::write(lts);
    if target == "-" {
        text.push_str(&data);
        Ok(())
    } else {
        std::fs::write(target, data)
            .map_err(|e| Failure::Message(format!("cannot write '{target}': {e}")))
    }
}

fn equivalence(strong: bool, weak: bool, traces: bool, weak_traces: bool) -> Equivalence {
    let _ = strong;
    if weak {
        Equivalence::Weak
    } else if traces {
        Equivalence::Traces
    } else if weak_traces {
        Equivalence::WeakTraces
    } else {
        Equivalence::Strong
    }
}

fn eq_name(eq: Equivalence) -> &'static str {
    match eq {
        Equivalence::Strong => "strong bisimilarity",
        Equivalence::Weak => "weak bisimilarity",
        Equivalence::Traces => "trace equivalence",
        Equivalence::WeakTraces => "weak trace equivalence",
    }
}

fn eq_key(eq: Equivalence) -> &'static str {
    match eq {
        Equivalence::Strong => "strong",
        Equivalence::Weak => "weak",
        Equivalence::Traces => "traces",
        Equivalence::WeakTraces => "weak-traces",
    }
}

fn dispatch(cmd: &CcsCommand) -> Result<Outcome, Failure> {
    match cmd {
        CcsCommand::Lts {
            file,
            process,
            stats,
            dot,
            aut,
            common,
        } => {
            let l = load(file, process.as_deref(), common.max_states, "lts", *dot)?;
            let (n, m) = (l.lts.num_states(), l.lts.num_transitions());
            let mut text = String::new();
            if *dot {
                let names = l.names.clone();
                let f = move |s: u32| {
                    names
                        .as_ref()
                        .map_or_else(|| s.to_string(), |v| v[s as usize].clone())
                };
                text.push_str(&l.lts.to_dot(Some(&f)));
            } else if aut.as_deref() != Some("-") {
                let _ = writeln!(text, "states: {n}\ntransitions: {m}");
                if *stats {
                    let _ = writeln!(
                        text,
                        "labels: {}\nmemory: {} bytes ({:.1} per state)\ntime: {:.3} s ({:.0} states/s)",
                        l.lts.labels().len() - 1,
                        l.lts.memory_bytes(),
                        l.lts.memory_bytes() as f64 / n.max(1) as f64,
                        l.seconds,
                        n as f64 / l.seconds.max(1e-9)
                    );
                }
            }
            if let Some(target) = aut {
                write_aut(target, &l.lts, &mut text)?;
            }
            Ok(Outcome {
                text,
                json: json!({
                    "states": n,
                    "transitions": m,
                    "labels": l.lts.labels()[1..].to_vec(),
                    "memory_bytes": l.lts.memory_bytes(),
                    "seconds": l.seconds,
                }),
                code: 0,
            })
        }
        CcsCommand::Equiv {
            file,
            rest,
            strong,
            weak,
            traces,
            weak_traces,
            common,
        } => {
            let eq = equivalence(*strong, *weak, *traces, *weak_traces);
            let (a, b, na, nb) = if is_aut(file) {
                let [other] = rest.as_slice() else {
                    return Err(Failure::Message(
                        "with .aut files, compare two: `weft ccs equiv A.aut B.aut`".to_owned(),
                    ));
                };
                if !is_aut(other) {
                    return Err(Failure::Message(format!("`{other}` is not an .aut file")));
                }
                let a = load(file, None, common.max_states, "equiv", false)?.lts;
                let b = load(other, None, common.max_states, "equiv", false)?.lts;
                (a, b, file.clone(), other.clone())
            } else {
                let [p, q] = rest.as_slice() else {
                    return Err(Failure::Message(
                        "give two processes: `weft ccs equiv FILE P Q`".to_owned(),
                    ));
                };
                let a = load(file, Some(p), common.max_states, "equiv", false)?.lts;
                let b = load(file, Some(q), common.max_states, "equiv", false)?.lts;
                (a, b, p.clone(), q.clone())
            };
            let limit = common.max_states.saturating_mul(8);
            let c = witness::compare(&a, &b, eq, limit, true)?;
            let mut text = if c.equivalent {
                format!("{na} and {nb} are equivalent ({})\n", eq_name(eq))
            } else {
                format!("{na} and {nb} are not equivalent ({})\n", eq_name(eq))
            };
            let mut j = json!({
                "equivalent": c.equivalent,
                "equivalence": eq_key(eq),
                "left": na,
                "right": nb,
            });
            match &c.witness {
                Some(Witness::Formula(f)) => {
                    let _ = writeln!(
                        text,
                        "distinguishing formula: {f}\n  ({na} satisfies it, {nb} does not)"
                    );
                    j["formula"] = json!(f.to_string());
                }
                Some(Witness::Trace(t)) => {
                    let (has, lacks) = if t.in_first { (&na, &nb) } else { (&nb, &na) };
                    let shown = if t.trace.is_empty() {
                        "(empty)".to_owned()
                    } else {
                        t.trace.join(".")
                    };
                    let _ = writeln!(
                        text,
                        "distinguishing trace: {shown}\n  ({has} has it, {lacks} does not)"
                    );
                    j["trace"] = json!(t.trace);
                    j["trace_in"] = json!(has);
                }
                None => {}
            }
            Ok(Outcome {
                text,
                json: j,
                code: u8::from(!c.equivalent),
            })
        }
        CcsCommand::Deadlock {
            file,
            process,
            common,
        } => {
            let l = load(
                file,
                process.as_deref(),
                common.max_states,
                "deadlock",
                true,
            )?;
            match l.lts.find_deadlock() {
                None => Ok(Outcome {
                    text: "deadlock-free\n".to_owned(),
                    json: json!({ "deadlock": false, "states": l.lts.num_states() }),
                    code: 0,
                }),
                Some((trace, state)) => {
                    let names: Vec<&str> = trace.iter().map(|&x| l.lts.label_name(x)).collect();
                    let shown = if names.is_empty() {
                        "(empty: the process itself)".to_owned()
                    } else {
                        names.join(".")
                    };
                    let mut text = format!("deadlock after {} steps: {shown}\n", names.len());
                    let state_name = l.names.as_ref().map(|v| v[state as usize].clone());
                    if let Some(s) = &state_name {
                        let _ = writeln!(text, "deadlocked state: {s}");
                    }
                    Ok(Outcome {
                        text,
                        json: json!({ "deadlock": true, "trace": names, "state": state_name }),
                        code: 1,
                    })
                }
            }
        }
        CcsCommand::Minimize {
            file,
            process,
            strong,
            weak,
            dot,
            aut,
            common,
        } => {
            let eq = equivalence(*strong, *weak, false, false);
            let l = load(
                file,
                process.as_deref(),
                common.max_states,
                "minimize",
                false,
            )?;
            let start = Instant::now();
            let m = bisim::minimize(&l.lts, eq, common.max_states.saturating_mul(8))?;
            let secs = start.elapsed().as_secs_f64();
            let mut text = String::new();
            if *dot {
                text.push_str(&m.to_dot(None));
            } else if aut.as_deref() != Some("-") {
                let _ = writeln!(
                    text,
                    "states: {}\ntransitions: {}\n(modulo {}; from {} states and {} transitions)",
                    m.num_states(),
                    m.num_transitions(),
                    eq_name(eq),
                    l.lts.num_states(),
                    l.lts.num_transitions()
                );
            }
            if let Some(target) = aut {
                write_aut(target, &m, &mut text)?;
            }
            Ok(Outcome {
                text,
                json: json!({
                    "equivalence": eq_key(eq),
                    "states": m.num_states(),
                    "transitions": m.num_transitions(),
                    "original_states": l.lts.num_states(),
                    "original_transitions": l.lts.num_transitions(),
                    "seconds": secs,
                }),
                code: 0,
            })
        }
        CcsCommand::Check { file, rest, common } => {
            let (process, formula) = match (is_aut(file), rest.as_slice()) {
                (true, [f]) => (None, f),
                (false, [p, f]) => (Some(p.as_str()), f),
                (true, _) => return Err(Failure::Message(
                    "with an .aut file, give only the formula: `weft ccs check FILE.aut FORMULA`"
                        .to_owned(),
                )),
                (false, _) => {
                    return Err(Failure::Message(
                        "give a process and a formula: `weft ccs check FILE P FORMULA`".to_owned(),
                    ))
                }
            };
            let f = Formula::parse(formula)?;
            let l = load(file, process, common.max_states, "check", false)?;
            let ok = Checker::new(&l.lts).holds(l.lts.initial(), &f);
            let who = process.unwrap_or(file);
            Ok(Outcome {
                text: if ok {
                    format!("{who} satisfies {f}\n")
                } else {
                    format!("{who} does not satisfy {f}\n")
                },
                json: json!({ "satisfied": ok, "formula": f.to_string() }),
                code: u8::from(!ok),
            })
        }
        CcsCommand::Run {
            file,
            process,
            steps,
            seed,
            common,
        } => {
            let r = if is_aut(file) {
                let l = load(file, process.as_deref(), common.max_states, "run", false)?;
                ccs_run::run_lts(&l.lts, *steps, *seed)
            } else {
                let prog = program(file)?;
                let p = prog.process(need_process(process.as_deref(), "run")?)?;
                let mut sem = Semantics::new(&prog);
                let t = sem.compile(&p);
                ccs_run::run_term(&mut sem, t, *steps, *seed)
            };
            let visible = r.visible();
            let mut text = format!("trace: {}\n", visible.join(" "));
            let _ = writeln!(
                text,
                "steps: {} ({} visible, {} tau)",
                r.actions.len(),
                visible.len(),
                r.actions.len() - visible.len()
            );
            if r.deadlocked {
                text.push_str("deadlocked: no transition is enabled\n");
            }
            Ok(Outcome {
                text,
                json: json!({
                    "trace": visible,
                    "actions": r.actions,
                    "steps": r.actions.len(),
                    "deadlocked": r.deadlocked,
                    "seed": seed,
                }),
                code: 0,
            })
        }
    }
}
