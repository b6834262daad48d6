//! Showing a [`Report`](super::report::Report): as terminal tables ([`terminal`]), as a
//! self-contained HTML page ([`html`]) with SVG charts ([`chart`]). Number formatting shared
//! by both lives in [`mod@format`].

pub mod chart;
pub mod format;
pub mod html;
pub mod terminal;
