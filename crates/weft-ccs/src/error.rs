//! Errors: every user mistake is a typed [`Error`] that renders as a miette diagnostic
//! pointing at the line and column of the offending text.

use miette::{Diagnostic, NamedSource, SourceSpan};

/// A byte range in a source text, as `(offset, length)`.
pub type Span = SourceSpan;

/// What went wrong, with the source text and the place when there is one.
///
/// Rendered with a miette report handler, each variant shows the file name, the line and
/// column and the offending text underlined. [`Error::line_col`] gives the position for
/// callers that print errors on their own.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum Error {
    /// The text does not follow the grammar (of CCS, of an HML formula or of `.aut`).
    #[error("{message}")]
    #[diagnostic(code(ccs::syntax))]
    Syntax {
        /// What is wrong.
        message: String,
        /// The text.
        #[source_code]
        src: NamedSource<String>,
        /// Where.
        #[label("{label}")]
        span: Span,
        /// The label under the offending text.
        label: String,
        /// How to fix it, when known.
        #[help]
        help: Option<String>,
    },
    /// A process name is used but never defined.
    #[error("undefined process `{name}`")]
    #[diagnostic(code(ccs::undefined_process))]
    UndefinedProcess {
        /// The name.
        name: String,
        /// The text.
        #[source_code]
        src: NamedSource<String>,
        /// Where it is used.
        #[label("not defined anywhere")]
        span: Span,
        /// Suggestions.
        #[help]
        help: Option<String>,
    },
    /// An action set name (`P \ L`) is used but never defined with `set L = {...};`.
    #[error("undefined action set `{name}`")]
    #[diagnostic(
        code(ccs::undefined_set),
        help("define it with `set {name} = {{a, b}};`")
    )]
    UndefinedSet {
        /// The name.
        name: String,
        /// The text.
        #[source_code]
        src: NamedSource<String>,
        /// Where it is used.
        #[label("not defined anywhere")]
        span: Span,
    },
    /// A process or set is defined twice.
    #[error("`{name}` is defined twice")]
    #[diagnostic(code(ccs::duplicate_definition))]
    DuplicateDefinition {
        /// The name.
        name: String,
        /// The text.
        #[source_code]
        src: NamedSource<String>,
        /// The first definition.
        #[label("first defined here")]
        first: Span,
        /// The second definition.
        #[label("defined again here")]
        second: Span,
    },
    /// A process can reach itself without performing an action first (`X = X + a.0;`): its
    /// transitions would be defined in terms of themselves.
    #[error("unguarded recursion: {cycle}")]
    #[diagnostic(
        code(ccs::unguarded_recursion),
        help("put the recursive call under a prefix, as in `X = a.X;`")
    )]
    UnguardedRecursion {
        /// The cycle of names, as `X -> Y -> X`.
        cycle: String,
        /// The text.
        #[source_code]
        src: NamedSource<String>,
        /// The unguarded occurrence that closes the cycle.
        #[label("unguarded occurrence")]
        span: Span,
    },
    /// A fixed-point variable of an HML formula occurs under an odd number of negations.
    #[error("variable `{name}` occurs negatively in its fixed point")]
    #[diagnostic(
        code(ccs::hml_not_monotone),
        help("fixed points need monotone bodies; use the dual operators instead of `!`")
    )]
    NotMonotone {
        /// The variable.
        name: String,
        /// The formula.
        #[source_code]
        src: NamedSource<String>,
        /// The negative occurrence.
        #[label("under a negation")]
        span: Span,
    },
    /// The state space grew beyond the bound given to the generator.
    #[error("the state space has more than {limit} states")]
    #[diagnostic(
        code(ccs::too_many_states),
        help("raise the bound with --max-states, or make the system smaller")
    )]
    TooManyStates {
        /// The bound.
        limit: usize,
    },
    /// A computation needs more memory than its bound allows (a subset construction or a
    /// saturation that would blow up).
    #[error("{what} needs more than {limit} entries")]
    #[diagnostic(
        code(ccs::too_large),
        help("raise the bound with --max-states, or compare smaller systems")
    )]
    TooLarge {
        /// What grew.
        what: String,
        /// The bound.
        limit: usize,
    },
    /// Several errors at once (all the semantic errors of one file).
    #[error("{} errors in {name}", related.len())]
    #[diagnostic(code(ccs::errors))]
    Many {
        /// The file.
        name: String,
        /// The errors.
        #[related]
        related: Vec<Error>,
    },
}

impl Error {
    /// A syntax error at `span` in `src` (named `name`).
    pub(crate) fn syntax(
        name: &str,
        src: &str,
        span: (usize, usize),
        message: impl Into<String>,
        label: impl Into<String>,
        help: Option<String>,
    ) -> Self {
        Error::Syntax {
            message: message.into(),
            src: NamedSource::new(name, src.to_owned()),
            span: span.into(),
            label: label.into(),
            help,
        }
    }

    /// The 1-based line and column where the error is, when it has a place.
    #[must_use]
    pub fn line_col(&self) -> Option<(usize, usize)> {
        let (src, span) = match self {
            Error::Syntax { src, span, .. }
            | Error::UndefinedProcess { src, span, .. }
            | Error::UndefinedSet { src, span, .. }
            | Error::UnguardedRecursion { src, span, .. }
            | Error::NotMonotone { src, span, .. } => (src, span),
            Error::DuplicateDefinition { src, second, .. } => (src, second),
            Error::Many { related, .. } => return related.first().and_then(Error::line_col),
            Error::TooManyStates { .. } | Error::TooLarge { .. } => return None,
        };
        Some(line_col(src.inner(), span.offset()))
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
#[must_use]
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
