//! Milner's Calculus of Communicating Systems as a working tool.
//!
//! CCS files in CAAL's syntax are parsed and checked ([`Program`]), compiled into a
//! hash-consed term arena ([`Semantics`]) and explored into labelled transition systems
//! ([`explore()`], [`Lts`]). On those: strong and weak bisimilarity by partition refinement
//! and minimisation ([`bisim`]), trace and weak trace equivalence ([`traces`]),
//! distinguishing Hennessy–Milner formulas ([`witness`]), deadlocks
//! ([`Lts::find_deadlock`]), Hennessy–Milner logic with fixed points ([`hml`]), the
//! Aldebaran `.aut` format ([`aut`]) and random runs ([`run`]).
//!
//! ```
//! use weft_ccs::{bisim, explore, Program, Semantics};
//! let program = Program::parse("vm.ccs", "
//!     A = coin.(tea.0 + coffee.0);
//!     B = coin.tea.0 + coin.coffee.0;
//! ").unwrap();
//! let mut sem = Semantics::new(&program);
//! let a = sem.compile(&program.process("A").unwrap());
//! let b = sem.compile(&program.process("B").unwrap());
//! let a = explore(&mut sem, a, 1000).unwrap().lts;
//! let b = explore(&mut sem, b, 1000).unwrap().lts;
//! assert!(!bisim::equivalent(&a, &b, bisim::Equivalence::Strong));
//! assert!(bisim::equivalent(&a, &b, bisim::Equivalence::Traces));
//! ```

// Errors carry their source text and spans for miette; they are built only on the cold
// path of a user mistake, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod ast;
pub mod aut;
pub mod bisim;
pub mod error;
pub mod examples;
pub mod explore;
pub mod hml;
pub mod lts;
pub mod parse;
pub mod run;
pub mod term;
pub mod traces;
pub mod witness;

pub use error::{Error, Result};
pub use explore::{explore, StateSpace, DEFAULT_MAX_STATES};
pub use lts::{Lts, Transition};
pub use parse::Program;
pub use term::Semantics;
