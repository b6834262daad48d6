//! Plain-text tables for the terminal: text columns left-aligned, figures right-aligned,
//! captions and notes wrapped.

use std::fmt::Write;

use super::format;
use crate::lab::machine::Machine;
use crate::lab::report::{NoteKind, SectionReport, Table, Unit};
use crate::lab::Profile;

const WIDTH: usize = 100;

/// The lines printed before the first section: what machine, which profile.
pub fn header(machine: &Machine, profile: Profile) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "weft lab {} — profile {profile}\nmachine: {} CPU{}",
        env!("CARGO_PKG_VERSION"),
        machine.cpus,
        if machine.cpus == 1 { "" } else { "s" }
    );
    if let Some(model) = &machine.cpu_model {
        let _ = write!(out, " ({model})");
    }
    if let Some(mem) = machine.memory_bytes {
        let _ = write!(out, ", {} memory", format::bytes(mem as f64));
    }
    if let Some(kernel) = &machine.kernel {
        let _ = write!(out, ", Linux {kernel}");
    }
    out.push('\n');
    out
}

/// One section: title, the survey's claim, its tables and notes.
pub fn section(report: &SectionReport) -> String {
    let mut out = String::new();
    let rule = "═".repeat(WIDTH.min(report.title.chars().count() + 8));
    let _ = writeln!(
        out,
        "\n{rule}\n  {}  ({:.1} s)\n{rule}",
        report.title, report.seconds
    );
    for line in wrap(&format!("The survey: {}", report.claim), WIDTH - 2) {
        let _ = writeln!(out, "  {line}");
    }
    for table in &report.tables {
        out.push('\n');
        out.push_str(&self::table(table));
    }
    if !report.charts.is_empty() {
        let names: Vec<_> = report.charts.iter().map(|c| c.title.as_str()).collect();
        let _ = writeln!(out, "\n  Charts in the HTML report: {}.", names.join("; "));
    }
    if !report.notes.is_empty() {
        let _ = writeln!(out, "\n  Notes");
        for note in &report.notes {
            let mark = match note.kind {
                NoteKind::Agrees => "agrees   ",
                NoteKind::Disagrees => "disagrees",
                NoteKind::TargetMet => "target ok",
                NoteKind::TargetMissed => "target ✗ ",
                NoteKind::Info => "note     ",
                NoteKind::Failure => "FAILED   ",
            };
            let mut first = true;
            for line in wrap(&note.text, WIDTH - 16) {
                if first {
                    let _ = writeln!(out, "  {mark}  {line}");
                    first = false;
                } else {
                    let _ = writeln!(out, "  {:9}  {line}", "");
                }
            }
        }
    }
    out
}

/// One table, with its title and caption.
pub fn table(table: &Table) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  {}", table.title);
    let cells: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(&table.columns)
                .map(|(cell, col)| format::cell(cell, col.unit))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, col)| {
            cells
                .iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain(std::iter::once(col.label.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |out: &mut String, items: &[String]| {
        let mut text = String::from("  ");
        for (i, (item, col)) in items.iter().zip(&table.columns).enumerate() {
            let pad = widths[i].saturating_sub(item.chars().count());
            if i > 0 {
                text.push_str("  ");
            }
            if col.unit == Unit::Text {
                text.push_str(item);
                text.push_str(&" ".repeat(pad));
            } else {
                text.push_str(&" ".repeat(pad));
                text.push_str(item);
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    let labels: Vec<String> = table.columns.iter().map(|c| c.label.clone()).collect();
    line(&mut out, &labels);
    let rules: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
    line(&mut out, &rules);
    for row in &cells {
        line(&mut out, row);
    }
    if !table.caption.is_empty() {
        for l in wrap(&table.caption, WIDTH - 4) {
            let _ = writeln!(out, "    {l}");
        }
    }
    out
}

/// Greedy word wrap to `width` characters.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::report::Cell;

    #[test]
    fn wraps() {
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
    }

    #[test]
    fn aligns() {
        let mut t = Table::new("t", "T", "")
            .column("name", "name", Unit::Text)
            .column("n", "count", Unit::Count);
        t.push(vec![Cell::from("a"), Cell::from(1000.0)]);
        let text = table(&t);
        assert!(text.contains("  a     1 000"), "{text}");
    }
}
