//! Times the generation of a scaling family's state space (for profiling).
//!
//! `cargo run --release -p weft-ccs --example generate -- scheduler 14 [repeats] [unpacked]`
//! (`unpacked`: the generation over whole vectors of terms, without the packed states).

use std::time::Instant;

use weft_ccs::explore::explore_unpacked;
use weft_ccs::{examples, explore, Program, Semantics};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let family = args.get(1).map_or("scheduler", String::as_str);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let repeats: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let unpacked = args.get(4).is_some_and(|s| s == "unpacked");
    let (src, p) = match family {
        "philosophers" => (examples::philosophers(n), "Table"),
        _ => (examples::scheduler(n), "Sched"),
    };
    let program = match Program::parse("family.ccs", &src) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    for _ in 0..repeats.max(1) {
        let mut sem = Semantics::new(&program);
        let Ok(proc_) = program.process(p) else {
            return;
        };
        let t = sem.compile(&proc_);
        let start = Instant::now();
        let space = if unpacked {
            explore_unpacked(&mut sem, t, weft_ccs::DEFAULT_MAX_STATES)
        } else {
            explore(&mut sem, t, weft_ccs::DEFAULT_MAX_STATES)
        };
        match space {
            Ok(space) => {
                let secs = start.elapsed().as_secs_f64();
                let n = space.lts.num_states();
                println!(
                    "{family} {n}: {} states, {} transitions, {:.1} ms, {:.2} M states/s, {:.1} bytes/state",
                    n,
                    space.lts.num_transitions(),
                    secs * 1e3,
                    n as f64 / secs / 1e6,
                    (space.lts.memory_bytes() + space.state_bytes()) as f64 / n as f64
                );
            }
            Err(e) => eprintln!("{e}"),
        }
    }
}
