//! The report model: what a lab run found, independent of how it is shown.
//!
//! A [`Report`] holds one [`SectionReport`] per section that ran. A section reports
//! [`Table`]s (columns with a [`Unit`], rows of [`Cell`]s), [`Note`]s that compare the
//! figures with the survey's claims and the issue's targets, and [`Chart`]s (series of
//! points). The terminal printer, the JSON writer and the HTML report all read this model;
//! none of them computes a figure.
//!
//! Everything in a report was measured in the run that wrote it, except what a table or note
//! labels as quoted (the survey's own figures, and the peers' figures quoted in the issue).

use serde::Serialize;

use super::machine::Machine;
use super::Profile;

/// Version tag of the JSON document, bumped when its shape changes incompatibly.
pub const FORMAT: &str = "weft-lab/1";

/// Everything one run of the lab found.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Shape of this document ([`FORMAT`]).
    pub format: &'static str,
    /// Version of the `weft` binary that ran.
    pub weft_version: &'static str,
    /// Profile the run used.
    pub profile: Profile,
    /// When the run started, seconds since the Unix epoch.
    pub started_unix: u64,
    /// Wall time of the whole run, seconds.
    pub seconds: f64,
    /// The machine the figures were measured on.
    pub machine: Machine,
    /// One report per section that ran, in the order they ran.
    pub sections: Vec<SectionReport>,
}

/// What one section of the survey measured.
#[derive(Debug, Serialize)]
pub struct SectionReport {
    /// Short name, as given to `--section`.
    pub name: String,
    /// Human title.
    pub title: String,
    /// The survey's claims this section checks, quoted.
    pub claim: String,
    /// Wall time of the section, seconds.
    pub seconds: f64,
    /// Tables of figures.
    pub tables: Vec<Table>,
    /// Comparisons with the survey's claims and the issue's targets; failures of probes.
    pub notes: Vec<Note>,
    /// Charts, drawn in the HTML report.
    pub charts: Vec<Chart>,
}

impl SectionReport {
    /// An empty report for a section.
    pub fn new(name: &str, title: &str, claim: &str) -> Self {
        Self {
            name: name.to_owned(),
            title: title.to_owned(),
            claim: claim.to_owned(),
            seconds: 0.0,
            tables: Vec::new(),
            notes: Vec::new(),
            charts: Vec::new(),
        }
    }

    /// Adds a note.
    pub fn note(&mut self, kind: NoteKind, text: impl Into<String>) {
        self.notes.push(Note {
            kind,
            text: text.into(),
        });
    }

    /// Adds the verdict on a target: met or missed, and the text that says why.
    pub fn target(&mut self, met: bool, text: impl Into<String>) {
        let kind = if met {
            NoteKind::TargetMet
        } else {
            NoteKind::TargetMissed
        };
        self.note(kind, text);
    }
}

/// A table of figures: every cell of a column shares the column's unit.
#[derive(Debug, Serialize)]
pub struct Table {
    /// Stable identifier (used by tests and by readers of the JSON).
    pub id: String,
    /// Human title.
    pub title: String,
    /// What the table shows and how it was measured.
    pub caption: String,
    /// The columns, left to right.
    pub columns: Vec<Column>,
    /// The rows; each has one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with no columns and no rows yet.
    pub fn new(id: &str, title: &str, caption: impl Into<String>) -> Self {
        Self {
            id: id.to_owned(),
            title: title.to_owned(),
            caption: caption.into(),
            columns: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Adds a column (builder style).
    pub fn column(mut self, key: &str, label: &str, unit: Unit) -> Self {
        self.columns.push(Column {
            key: key.to_owned(),
            label: label.to_owned(),
            unit,
        });
        self
    }

    /// Adds a row; it must have one cell per column.
    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len(), "row width in {}", self.id);
        self.rows.push(row);
    }
}

/// One column of a table.
#[derive(Debug, Serialize)]
pub struct Column {
    /// Stable identifier.
    pub key: String,
    /// Human label.
    pub label: String,
    /// Unit of the numbers in this column.
    pub unit: Unit,
}

/// The unit of a column's numbers, which decides how they are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Free text (numbers, if any, printed as they are).
    Text,
    /// A count of things.
    Count,
    /// Bytes.
    Bytes,
    /// Nanoseconds.
    Nanoseconds,
    /// Milliseconds.
    Milliseconds,
    /// Events per second.
    PerSecond,
    /// A dimensionless ratio.
    Ratio,
}

/// One cell: a number (in the column's unit), text, or nothing.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Cell {
    /// A figure, in the column's unit.
    Number(f64),
    /// Text.
    Text(String),
    /// No figure (the reason is in another cell or a note).
    Empty,
}

impl From<f64> for Cell {
    fn from(value: f64) -> Self {
        if value.is_finite() {
            Cell::Number(value)
        } else {
            Cell::Empty
        }
    }
}

impl From<Option<f64>> for Cell {
    fn from(value: Option<f64>) -> Self {
        value.map_or(Cell::Empty, Cell::from)
    }
}

impl From<&str> for Cell {
    fn from(value: &str) -> Self {
        Cell::Text(value.to_owned())
    }
}

impl From<String> for Cell {
    fn from(value: String) -> Self {
        Cell::Text(value)
    }
}

/// A remark about the figures.
#[derive(Debug, Serialize)]
pub struct Note {
    /// What kind of remark.
    pub kind: NoteKind,
    /// The remark.
    pub text: String,
}

/// The kind of a [`Note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// This machine agrees with the survey's claim.
    Agrees,
    /// This machine disagrees with the survey's claim.
    Disagrees,
    /// One of the issue's targets for weft was met.
    TargetMet,
    /// One of the issue's targets for weft was missed.
    TargetMissed,
    /// Context for reading the figures.
    Info,
    /// A probe failed; its figures are missing.
    Failure,
}

/// A chart, drawn as inline SVG in the HTML report.
#[derive(Debug, Serialize)]
pub struct Chart {
    /// Stable identifier.
    pub id: String,
    /// Human title.
    pub title: String,
    /// How to draw it.
    pub kind: ChartKind,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Unit of the x values (for the axis' tick labels).
    pub x_unit: Unit,
    /// Unit of the y values.
    pub y_unit: Unit,
    /// For bar charts: the label of each bar, indexed by the points' x.
    pub categories: Vec<String>,
    /// The data.
    pub series: Vec<Series>,
}

/// One bar of [`Chart::weft_bars`]: its label, whether it is weft's, its value.
pub type Bar = (String, bool, f64);

impl Chart {
    /// Bars comparing weft with its peers: weft's bars in one series, the peers measured
    /// here in another, then the figures `quoted` from issue `issue` (not measured here),
    /// in a third series when there are any.
    pub fn weft_bars(
        id: &str,
        title: &str,
        y_label: &str,
        y_unit: Unit,
        bars: impl IntoIterator<Item = Bar>,
        quoted: &[(&str, f64)],
        issue: u32,
    ) -> Self {
        let mut categories = Vec::new();
        let (mut weft, mut peers, mut quoted_points) = (Vec::new(), Vec::new(), Vec::new());
        for (label, is_weft, value) in bars {
            let point = [categories.len() as f64, value];
            if is_weft {
                weft.push(point);
            } else {
                peers.push(point);
            }
            categories.push(label);
        }
        for (label, value) in quoted {
            quoted_points.push([categories.len() as f64, *value]);
            categories.push((*label).to_owned());
        }
        let mut series = vec![
            Series {
                name: "weft".to_owned(),
                points: weft,
            },
            Series {
                name: "peers, measured here".to_owned(),
                points: peers,
            },
        ];
        if !quoted_points.is_empty() {
            series.push(Series {
                name: format!("quoted from issue {issue}, not measured here"),
                points: quoted_points,
            });
        }
        Chart {
            id: id.to_owned(),
            title: title.to_owned(),
            kind: ChartKind::Bars,
            x_label: String::new(),
            y_label: y_label.to_owned(),
            x_unit: Unit::Text,
            y_unit,
            categories,
            series,
        }
    }
}

/// How a [`Chart`] is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// Lines through points, x on a logarithmic axis.
    LinesLogX,
    /// Bars, one per category (x is the category's index).
    Bars,
}

/// One named series of `[x, y]` points.
#[derive(Debug, Serialize)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// The points.
    pub points: Vec<[f64; 2]>,
}
