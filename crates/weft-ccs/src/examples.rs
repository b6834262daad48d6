//! Classic CCS systems, as source text: known answers for tests and families for scaling.
//!
//! Each function returns a CCS file; the process to explore is named in its docs.

use std::fmt::Write as _;

/// Two vending machines with the same traces that are not bisimilar: `A` lets the user
/// choose after the coin, `B` chooses when the coin goes in.
pub const VENDING: &str = "\
* Same traces, not bisimilar.
A = coin.(tea.A + coffee.A);
B = coin.tea.B + coin.coffee.B;
";

/// The alternating-bit protocol over lossy channels (`ABP`), weakly bisimilar to a
/// one-place buffer (`Buf`): `acc` accepts a message, `'del` delivers it.
pub const ABP: &str = "\
* Sender: accept, send the frame with bit b, wait for the ack b (resend on a timeout or a stale ack).
S0 = acc.SS0;
SS0 = 's0.W0;
W0 = ra0.S1 + ra1.SS0 + tau.SS0;
S1 = acc.SS1;
SS1 = 's1.W1;
W1 = ra1.S0 + ra0.SS1 + tau.SS1;
* Lossy data channel.
K = s0.('d0.K + tau.K) + s1.('d1.K + tau.K);
* Receiver: deliver a frame with the expected bit and ack it; ack a repeated frame again.
R0 = d0.'del.'ack0.R1 + d1.'ack1.R0;
R1 = d1.'del.'ack1.R0 + d0.'ack0.R1;
* Lossy ack channel.
L = ack0.('ra0.L + tau.L) + ack1.('ra1.L + tau.L);
set Internal = {s0, s1, d0, d1, ack0, ack1, ra0, ra1};
ABP = (S0 | K | R0 | L) \\ Internal;
Buf = acc.'del.Buf;
";

/// Dining philosophers around a table of `n` forks: `Table` (which deadlocks when every
/// philosopher holds the left fork) and, with a butler seating at most `n - 1`, `Butler`
/// (deadlock-free).
#[must_use]
pub fn philosophers(n: usize) -> String {
    let n = n.max(2);
    let mut s = String::from("* Dining philosophers.\n");
    for i in 0..n {
        let j = (i + 1) % n;
        let _ = writeln!(s, "P{i} = 'up{i}.'up{j}.eat.'dn{i}.'dn{j}.P{i};");
        let _ = writeln!(s, "Q{i} = sit.'up{i}.'up{j}.eat.'dn{i}.'dn{j}.leave.Q{i};");
        let _ = writeln!(s, "F{i} = up{i}.dn{i}.F{i};");
    }
    let forks: Vec<String> = (0..n)
        .flat_map(|i| [format!("up{i}"), format!("dn{i}")])
        .collect();
    let _ = writeln!(s, "set Forks = {{{}}};", forks.join(", "));
    let all = |p: &str| {
        (0..n)
            .map(|i| format!("{p}{i}"))
            .chain((0..n).map(|i| format!("F{i}")))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let _ = writeln!(s, "Table = ({}) \\ Forks;", all("P"));
    for k in 0..n {
        let mut alts = Vec::new();
        if k + 1 < n {
            alts.push(format!("'sit.B{}", k + 1));
        }
        if k > 0 {
            alts.push(format!("'leave.B{}", k - 1));
        }
        let _ = writeln!(s, "B{k} = {};", alts.join(" + "));
    }
    let _ = writeln!(
        s,
        "Butler = (({}) \\ Forks | B0) \\ {{sit, leave}};",
        all("Q")
    );
    s
}

/// Milner's scheduler of `n` cyclers: `Sched` performs `a1 ... an` cyclically, each `bi`
/// between `ai` and the next `ai`. `Hidden` absorbs the `b`s into `tau`s and is weakly
/// bisimilar to `Spec = a1. ... .an.Spec`.
#[must_use]
pub fn scheduler(n: usize) -> String {
    let n = n.max(2);
    let mut s = String::from("* Milner's scheduler.\n");
    for i in 1..=n {
        let next = i % n + 1;
        let _ = writeln!(s, "C{i} = c{i}.D{i};");
        let _ = writeln!(s, "D{i} = a{i}.(b{i}.'c{next}.C{i} + 'c{next}.b{i}.C{i});");
    }
    let tokens: Vec<String> = (1..=n).map(|i| format!("c{i}")).collect();
    let _ = writeln!(s, "set Tokens = {{{}}};", tokens.join(", "));
    let cyclers: Vec<String> = (1..=n)
        .map(|i| {
            if i == 1 {
                "D1".to_owned()
            } else {
                format!("C{i}")
            }
        })
        .collect();
    let _ = writeln!(s, "Sched = ({}) \\ Tokens;", cyclers.join(" | "));
    let eat: Vec<String> = (1..=n).map(|i| format!("'b{i}.Eater")).collect();
    let _ = writeln!(s, "Eater = {};", eat.join(" + "));
    let bs: Vec<String> = (1..=n).map(|i| format!("b{i}")).collect();
    let _ = writeln!(s, "Hidden = (Sched | Eater) \\ {{{}}};", bs.join(", "));
    let spec: Vec<String> = (1..=n).map(|i| format!("a{i}")).collect();
    let _ = writeln!(s, "Spec = {}.Spec;", spec.join("."));
    s
}
