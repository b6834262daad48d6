//! Running a process: random steps among the enabled transitions, seeded.
//!
//! Each step picks one of the current state's transitions uniformly with a SplitMix64
//! generator, so a seed gives the same run every time. CCS terms are stepped through their
//! SOS transitions directly (no state space is built); `.aut` systems through their
//! transitions.

use crate::lts::Lts;
use crate::term::{Semantics, TermId, TAU};

/// A run: every action taken, and whether it ended in a deadlock.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Run {
    /// The actions, `tau` included, in order.
    pub actions: Vec<String>,
    /// True when the run stopped because nothing was enabled.
    pub deadlocked: bool,
}

impl Run {
    /// The visible actions (without `tau`).
    #[must_use]
    pub fn visible(&self) -> Vec<&str> {
        self.actions
            .iter()
            .map(String::as_str)
            .filter(|a| *a != "tau")
            .collect()
    }
}

/// SplitMix64.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z % n as u64) as usize
    }
}

/// Runs term `t` for at most `steps` steps.
///
/// ```
/// use weft_ccs::{run, Program, Semantics};
/// let program = Program::parse("c.ccs", "C = tick.C;").unwrap();
/// let mut sem = Semantics::new(&program);
/// let c = sem.compile(&program.process("C").unwrap());
/// let r = run::run_term(&mut sem, c, 3, 7);
/// assert_eq!(r.visible(), ["tick", "tick", "tick"]);
/// assert!(!r.deadlocked);
/// ```
pub fn run_term(sem: &mut Semantics, t: TermId, steps: usize, seed: u64) -> Run {
    let mut rng = Rng(seed);
    let mut at = t;
    let mut actions = Vec::new();
    for _ in 0..steps {
        let ts = sem.transitions(at);
        if ts.is_empty() {
            return Run {
                actions,
                deadlocked: true,
            };
        }
        let (a, next) = ts[rng.below(ts.len())];
        actions.push(if a == TAU {
            "tau".to_owned()
        } else {
            sem.act_name(a)
        });
        at = next;
    }
    let deadlocked = sem.transitions(at).is_empty();
    Run {
        actions,
        deadlocked,
    }
}

/// Runs `lts` from its initial state for at most `steps` steps.
pub fn run_lts(lts: &Lts, steps: usize, seed: u64) -> Run {
    let mut rng = Rng(seed);
    let mut at = lts.initial();
    let mut actions = Vec::new();
    for _ in 0..steps {
        let ts = lts.successors(at);
        if ts.is_empty() {
            return Run {
                actions,
                deadlocked: true,
            };
        }
        let tr = ts[rng.below(ts.len())];
        actions.push(lts.label_name(tr.label).to_owned());
        at = tr.target;
    }
    Run {
        actions,
        deadlocked: lts.successors(at).is_empty(),
    }
}
