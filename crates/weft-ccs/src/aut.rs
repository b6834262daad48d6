//! The Aldebaran `.aut` format of CADP and mCRL2.
//!
//! ```text
//! des (0, 3, 3)
//! (0, "a", 1)
//! (1, tau, 2)
//! (2, "b", 0)
//! ```
//!
//! The header gives the initial state, the number of transitions and the number of states;
//! each further line is one transition `(from, label, to)`, the label quoted or not. The
//! labels `tau` and `i` are internal. Reading checks every number against the header and
//! reports mistakes with their line and column.

use std::fmt::Write as _;

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::lts::Lts;

fn number(
    name: &str,
    text: &str,
    line_start: usize,
    part: &str,
    at: usize,
    what: &str,
) -> Result<u64> {
    let trimmed = part.trim();
    let lead = part.len() - part.trim_start().len();
    trimmed.parse::<u64>().map_err(|_| {
        Error::syntax(
            name,
            text,
            (line_start + at + lead, trimmed.len().max(1)),
            format!("expected {what} (a natural number), found `{trimmed}`"),
            format!("expected {what}"),
            None,
        )
    })
}

/// Reads an LTS in `.aut` format; `name` names the text in diagnostics.
///
/// ```
/// let lts = weft_ccs::aut::read("x.aut", "des (0, 2, 2)\n(0, \"a\", 1)\n(1, i, 0)\n").unwrap();
/// assert_eq!((lts.num_states(), lts.num_transitions()), (2, 2));
/// assert_eq!(lts.successors(1)[0].label, weft_ccs::Lts::TAU);
/// let err = weft_ccs::aut::read("x.aut", "des (0, 1, 2)\n(0, a, 7)\n").unwrap_err();
/// assert_eq!(err.line_col(), Some((2, 8)));
/// ```
///
/// # Errors
///
/// [`Error::Syntax`] for a malformed header or line, a state out of range, or a number of
/// transitions that differs from the header's.
pub fn read(name: &str, text: &str) -> Result<Lts> {
    let mut offset = 0usize;
    let mut lines = text.split_inclusive('\n').map(|l| {
        let start = offset;
        offset += l.len();
        (start, l.trim_end_matches(['\n', '\r']))
    });
    let (hstart, header) = loop {
        match lines.next() {
            Some((s, l)) if l.trim().is_empty() => {
                let _ = s;
            }
            Some(x) => break x,
            None => {
                return Err(Error::syntax(
                    name,
                    text,
                    (0, 0),
                    "empty .aut file",
                    "expected `des (initial, transitions, states)`",
                    None,
                ))
            }
        }
    };
    let bad_header = || {
        Error::syntax(
            name,
            text,
            (hstart, header.len()),
            "malformed .aut header",
            "expected `des (initial, transitions, states)`",
            None,
        )
    };
    let h = header.trim_start();
    let hlead = header.len() - h.len();
    let rest = h.strip_prefix("des").ok_or_else(bad_header)?;
    let open = rest.find('(').ok_or_else(bad_header)?;
    let close = rest.rfind(')').ok_or_else(bad_header)?;
    if close < open {
        return Err(bad_header());
    }
    let inner = &rest[open + 1..close];
    let base = hstart + hlead + 3 + open + 1;
    let parts: Vec<&str> = inner.split(',').collect();
    if parts.len() != 3 {
        return Err(bad_header());
    }
    let mut at = 0;
    let mut nums = [0u64; 3];
    for (k, (p, what)) in parts
        .iter()
        .zip([
            "the initial state",
            "the number of transitions",
            "the number of states",
        ])
        .enumerate()
    {
        nums[k] = number(name, text, base, p, at, what)?;
        at += p.len() + 1;
    }
    let [initial, ntrans, nstates] = nums;
    if nstates == 0 || initial >= nstates || nstates > u64::from(u32::MAX) {
        return Err(Error::syntax(
            name,
            text,
            (hstart, header.len()),
            format!("the initial state {initial} is not one of the {nstates} states"),
            "in this header",
            None,
        ));
    }
    let mut labels = vec!["tau".to_owned()];
    let mut index: FxHashMap<String, u32> = FxHashMap::default();
    let mut edges: Vec<(u32, u32, u32)> = Vec::with_capacity(ntrans.min(1 << 26) as usize);
    for (start, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: &str| {
            Error::syntax(
                name,
                text,
                (start, line.len()),
                msg.to_owned(),
                "expected `(from, label, to)`",
                None,
            )
        };
        let open = line.find('(').ok_or_else(|| bad("malformed transition"))?;
        let close = line.rfind(')').ok_or_else(|| bad("malformed transition"))?;
        let c1 = line.find(',').ok_or_else(|| bad("malformed transition"))?;
        let c2 = line.rfind(',').ok_or_else(|| bad("malformed transition"))?;
        if !(open < c1 && c1 < c2 && c2 < close) {
            return Err(bad("malformed transition"));
        }
        let from = number(
            name,
            text,
            start,
            &line[open + 1..c1],
            open + 1,
            "a source state",
        )?;
        let to = number(
            name,
            text,
            start,
            &line[c2 + 1..close],
            c2 + 1,
            "a target state",
        )?;
        for (s, part, off) in [
            (from, &line[open + 1..c1], open + 1),
            (to, &line[c2 + 1..close], c2 + 1),
        ] {
            if s >= nstates {
                let lead = part.len() - part.trim_start().len();
                return Err(Error::syntax(
                    name,
                    text,
                    (start + off + lead, part.trim().len()),
                    format!("state {s} is out of range (the header declares {nstates} states)"),
                    "no such state",
                    None,
                ));
            }
        }
        let raw = line[c1 + 1..c2].trim();
        let label = raw
            .strip_prefix('"')
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or(raw);
        let l = if label == "tau" || label == "i" {
            Lts::TAU
        } else if let Some(&l) = index.get(label) {
            l
        } else {
            let l = labels.len() as u32;
            labels.push(label.to_owned());
            index.insert(label.to_owned(), l);
            l
        };
        edges.push((from as u32, l, to as u32));
    }
    if edges.len() as u64 != ntrans {
        return Err(Error::syntax(
            name,
            text,
            (hstart, header.len()),
            format!(
                "the header declares {ntrans} transitions but the file has {}",
                edges.len()
            ),
            "in this header",
            None,
        ));
    }
    Ok(Lts::from_edges(
        nstates as usize,
        initial as u32,
        labels,
        &edges,
    ))
}

/// Writes `lts` in `.aut` format (labels quoted, `tau` for internal steps).
///
/// ```
/// let lts = weft_ccs::Lts::from_edges(2, 0, vec!["tau".into(), "a".into()], &[(0, 1, 1)]);
/// assert_eq!(weft_ccs::aut::write(&lts), "des (0, 1, 2)\n(0,\"a\",1)\n");
/// ```
#[must_use]
pub fn write(lts: &Lts) -> String {
    let mut out = String::with_capacity(lts.num_transitions() * 12 + 32);
    let _ = writeln!(
        out,
        "des ({}, {}, {})",
        lts.initial(),
        lts.num_transitions(),
        lts.num_states()
    );
    for (s, l, t) in lts.edges() {
        let _ = writeln!(out, "({s},\"{}\",{t})", lts.label_name(l));
    }
    out
}
