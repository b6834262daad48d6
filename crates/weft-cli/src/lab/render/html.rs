//! The self-contained HTML report: one page, inline CSS, inline SVG charts, no scripts and no
//! external resources, so it can be mailed or archived as a single file.

use std::fmt::Write;

use super::{chart, format};
use crate::lab::report::{NoteKind, Report, SectionReport, Table, Unit};

const STYLE: &str = r#"
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       max-width: 1100px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { border-bottom: 2px solid #d0d7de; padding-bottom: .2em; margin-top: 2.2em; }
h3 { margin: 1.6em 0 .4em; font-size: 1.08em; }
.meta { color: #57606a; }
blockquote { margin: .8em 0; padding: .5em 1em; background: #f6f8fa; border-left: 4px solid #8c959f; }
table { border-collapse: collapse; margin: .4em 0; font-size: .92em; }
th, td { padding: .3em .7em; border-bottom: 1px solid #e1e4e8; vertical-align: top; }
th { text-align: left; background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
p.caption { color: #57606a; font-size: .88em; margin: .2em 0 1em; max-width: 60em; }
ul.notes { list-style: none; padding: 0; }
ul.notes li { margin: .35em 0; padding: .35em .7em; border-radius: 4px; }
.agrees { background: #e6f4ea; } .disagrees { background: #fff4e5; }
.target_met { background: #e6f4ea; } .target_missed { background: #fde8e8; }
.info { background: #f6f8fa; } .failure { background: #fde8e8; }
.tag { font-weight: 600; margin-right: .5em; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
"#;

/// The whole report as an HTML document.
pub fn document(report: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>weft lab report</title><style>{STYLE}</style></head><body>\n"
    );
    let m = &report.machine;
    let _ = write!(
        out,
        "<h1>weft lab report</h1><p class=\"meta\">weft {} · profile <b>{}</b> · {} · {:.1} s<br>",
        esc(report.weft_version),
        report.profile,
        utc(report.started_unix),
        report.seconds
    );
    let _ = write!(out, "{} CPUs", m.cpus);
    if let Some(model) = &m.cpu_model {
        let _ = write!(out, " ({})", esc(model));
    }
    if let Some(mem) = m.memory_bytes {
        let _ = write!(out, " · {} memory", format::bytes(mem as f64));
    }
    if let Some(kernel) = &m.kernel {
        let _ = write!(out, " · Linux {}", esc(kernel));
    }
    if let Some(count) = m.max_map_count {
        let _ = write!(out, " · vm.max_map_count {}", format::grouped(count as f64));
    }
    out.push_str(
        "</p><p>Every figure was measured in this run on this machine, except those labelled \
         <i>quoted, not measured here</i>.</p>\n",
    );
    if report.sections.len() > 1 {
        out.push_str("<nav><ul>");
        for s in &report.sections {
            let _ = write!(
                out,
                "<li><a href=\"#{}\">{}</a></li>",
                esc(&s.name),
                esc(&s.title)
            );
        }
        out.push_str("</ul></nav>\n");
    }
    for s in &report.sections {
        section(&mut out, s);
    }
    out.push_str("</body></html>\n");
    out
}

fn section(out: &mut String, s: &SectionReport) {
    let _ = writeln!(
        out,
        "<section id=\"{}\"><h2>{}</h2><p class=\"meta\">{:.1} s</p>\
         <blockquote><b>The survey:</b> {}</blockquote>",
        esc(&s.name),
        esc(&s.title),
        s.seconds,
        esc(&s.claim)
    );
    if !s.notes.is_empty() {
        out.push_str("<h3>Findings</h3><ul class=\"notes\">");
        for note in &s.notes {
            let (class, tag) = match note.kind {
                NoteKind::Agrees => ("agrees", "agrees with the survey"),
                NoteKind::Disagrees => ("disagrees", "disagrees with the survey"),
                NoteKind::TargetMet => ("target_met", "target met"),
                NoteKind::TargetMissed => ("target_missed", "target missed"),
                NoteKind::Info => ("info", "note"),
                NoteKind::Failure => ("failure", "probe failed"),
            };
            let _ = write!(
                out,
                "<li class=\"{class}\"><span class=\"tag\">{tag}</span>{}</li>",
                esc(&note.text)
            );
        }
        out.push_str("</ul>\n");
    }
    for t in &s.tables {
        table(out, t);
    }
    for c in &s.charts {
        let _ = write!(out, "<figure id=\"{}\">", esc(&c.id));
        match chart::svg(c) {
            Ok(svg) => out.push_str(&svg),
            Err(e) => {
                let _ = write!(out, "<p>(chart could not be drawn: {})</p>", esc(&e));
            }
        }
        out.push_str("</figure>\n");
    }
    out.push_str("</section>\n");
}

fn table(out: &mut String, t: &Table) {
    let _ = write!(
        out,
        "<h3 id=\"{}\">{}</h3><table><thead><tr>",
        esc(&t.id),
        esc(&t.title)
    );
    for c in &t.columns {
        let _ = write!(out, "<th>{}</th>", esc(&c.label));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &t.rows {
        out.push_str("<tr>");
        for (cell, col) in row.iter().zip(&t.columns) {
            let class = if col.unit == Unit::Text {
                ""
            } else {
                " class=\"num\""
            };
            let _ = write!(
                out,
                "<td{class}>{}</td>",
                esc(&format::cell(cell, col.unit))
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    if !t.caption.is_empty() {
        let _ = write!(out, "<p class=\"caption\">{}</p>", esc(&t.caption));
    }
    out.push('\n');
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM UTC` (proleptic Gregorian calendar).
fn utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13 UTC");
    }

    #[test]
    fn escapes() {
        assert_eq!(
            esc("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
