//! The syntax tree of CCS in CAAL's syntax, and its printer.
//!
//! Operators, from the loosest to the tightest: `+` (choice), `|` (parallel), prefix `a.P`,
//! then the postfix restriction `P \ {a, b}` / `P \ L` and relabelling `P [x/a]`. Choice and
//! parallel composition are n-ary in the tree (`P + Q + R` is one [`Expr::Sum`] of three).
//!
//! Invariant of the printer: [`Process`]'s `Display` output parses back to the same tree
//! (spans aside): nested sums and parallels are parenthesised, so `(P + Q) + R` stays a
//! sum inside a sum.

use std::fmt;

/// A byte range `(offset, length)` in the source.
pub type Pos = (usize, usize);

/// An action of a prefix: `tau`, `a` or its co-action `'a`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// The internal action.
    Tau,
    /// An action `a`.
    Name(String),
    /// A co-action `'a`.
    CoName(String),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Tau => f.write_str("tau"),
            Action::Name(a) => f.write_str(a),
            Action::CoName(a) => write!(f, "'{a}"),
        }
    }
}

/// The set of a restriction: literal or named.
#[derive(Debug, Clone, Eq)]
pub enum RestrictSet {
    /// `{a, b}`.
    Literal(Vec<String>),
    /// `L`, defined by `set L = {...};`.
    Named(String, Pos),
}

impl PartialEq for RestrictSet {
    /// Equality of the sets as written, ignoring positions.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (RestrictSet::Literal(a), RestrictSet::Literal(b)) => a == b,
            (RestrictSet::Named(a, _), RestrictSet::Named(b, _)) => a == b,
            _ => false,
        }
    }
}

/// A process expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `0`.
    Nil,
    /// `a.P`.
    Prefix(Action, Box<Process>),
    /// `P + Q + ...` (two or more).
    Sum(Vec<Process>),
    /// `P | Q | ...` (two or more).
    Par(Vec<Process>),
    /// `P \ L`.
    Restrict(Box<Process>, RestrictSet),
    /// `P [new/old, ...]`.
    Relabel(Box<Process>, Vec<(String, String)>),
    /// A process name.
    Name(String),
}

/// A process expression with its place in the source.
#[derive(Debug, Clone)]
pub struct Process {
    /// The expression.
    pub expr: Expr,
    /// Where it is.
    pub pos: Pos,
}

impl PartialEq for Process {
    /// Equality of the trees, ignoring positions.
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

impl Eq for Process {}

/// `Name = P;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The process name.
    pub name: String,
    /// Where the name is.
    pub name_pos: Pos,
    /// The body.
    pub body: Process,
}

/// `set L = {a, b};`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetDefinition {
    /// The set name.
    pub name: String,
    /// Where the name is.
    pub name_pos: Pos,
    /// The actions.
    pub actions: Vec<String>,
}

/// A parsed CCS file: its definitions, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Module {
    /// Process definitions.
    pub definitions: Vec<Definition>,
    /// Action set definitions.
    pub sets: Vec<SetDefinition>,
}

const PREC_SUM: u8 = 0;
const PREC_PAR: u8 = 1;
const PREC_PREFIX: u8 = 2;
const PREC_POSTFIX: u8 = 3;

impl Expr {
    fn precedence(&self) -> u8 {
        match self {
            Expr::Sum(_) => PREC_SUM,
            Expr::Par(_) => PREC_PAR,
            Expr::Prefix(..) => PREC_PREFIX,
            Expr::Restrict(..) | Expr::Relabel(..) => PREC_POSTFIX,
            Expr::Nil | Expr::Name(_) => PREC_POSTFIX + 1,
        }
    }
}

/// Writes `p`, in parentheses unless it binds tighter than `min`.
fn write_at(f: &mut fmt::Formatter<'_>, p: &Process, min: u8) -> fmt::Result {
    if p.expr.precedence() > min {
        write!(f, "{p}")
    } else {
        write!(f, "({p})")
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.expr {
            Expr::Nil => f.write_str("0"),
            Expr::Name(n) => f.write_str(n),
            Expr::Prefix(a, p) => {
                write!(f, "{a}.")?;
                write_at(f, p, PREC_PAR)
            }
            Expr::Sum(ps) | Expr::Par(ps) => {
                let (sep, min) = if matches!(self.expr, Expr::Sum(_)) {
                    (" + ", PREC_SUM)
                } else {
                    (" | ", PREC_PAR)
                };
                for (i, p) in ps.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    write_at(f, p, min)?;
                }
                Ok(())
            }
            Expr::Restrict(p, set) => {
                write_at(f, p, PREC_PREFIX)?;
                match set {
                    RestrictSet::Literal(names) => write!(f, " \\ {{{}}}", names.join(", ")),
                    RestrictSet::Named(n, _) => write!(f, " \\ {n}"),
                }
            }
            Expr::Relabel(p, pairs) => {
                write_at(f, p, PREC_PREFIX)?;
                f.write_str(" [")?;
                for (i, (new, old)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{new}/{old}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.sets {
            writeln!(f, "set {} = {{{}}};", s.name, s.actions.join(", "))?;
        }
        for d in &self.definitions {
            writeln!(f, "{} = {};", d.name, d.body)?;
        }
        Ok(())
    }
}
