//! The survey's section on CCS: process algebra as a tool, measured here and now (under construction).

use super::progress::Progress;
use super::report::{NoteKind, SectionReport};
use super::{Profile, Section};

const NAME: &str = "ccs";

/// The section.
#[derive(Debug, Clone, Copy)]
pub struct Ccs;

impl Section for Ccs {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "CCS: process algebra as a tool"
    }

    fn claim(&self) -> &'static str {
        ""
    }

    fn steps(&self, _profile: Profile) -> u64 {
        0
    }

    fn run(&self, _profile: Profile, _progress: &Progress) -> SectionReport {
        let mut report = SectionReport::new(NAME, self.title(), self.claim());
        report.note(NoteKind::Info, "Not measured yet.");
        report
    }

    fn probe(&self, _spec: &str) -> Result<serde_json::Value, String> {
        Err("this section has no probes yet".to_owned())
    }
}
