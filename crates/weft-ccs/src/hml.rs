//! Hennessy–Milner logic with weak modalities and fixed points, as in CAAL.
//!
//! Syntax (loosest first): `F || G`, `F && G`, then the prefix operators `!F`, `<A>F`,
//! `[A]F`, `<<A>>F`, `[[A]]F`, `min X. F` and `max X. F` (a fixed point's body extends as far
//! right as possible), and the atoms `tt`, `ff`, `X` and `(F)`. An action set `A` is `-`
//! (any action, `tau` included) or a list `a, 'b, tau`.
//!
//! Semantics over an [`Lts`]: `<A>F` holds in `s` when some `s -a-> t` with `a` in `A` has
//! `t |= F`; `[A]F` when all do. The weak `<<a>>F` uses `s =a=> t`, that is `tau* a tau*`
//! for a visible `a` and `tau*` (zero or more) for `tau`; `[[A]]F` is its dual. Formulas are
//! evaluated to the set of states satisfying them, bottom-up; a fixed point is iterated from
//! the empty set (`min`) or from all states (`max`) until it is stable. Bound variables
//! must occur positively (under an even number of `!`), which makes every body monotone
//! and the iteration correct.

use std::fmt;

use crate::error::{Error, Result};
use crate::lts::Lts;

/// A set of actions in a modality.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actions {
    /// `-`: every action.
    Any,
    /// A list of action names (`a`, `'a`, `tau`).
    List(Vec<String>),
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actions::Any => f.write_str("-"),
            Actions::List(l) => f.write_str(&l.join(",")),
        }
    }
}

/// A formula of Hennessy–Milner logic with fixed points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Formula {
    /// `tt`.
    True,
    /// `ff`.
    False,
    /// `!F`.
    Not(Box<Formula>),
    /// `F && G && ...`.
    And(Vec<Formula>),
    /// `F || G || ...`.
    Or(Vec<Formula>),
    /// `<A>F` (strong) or `<<A>>F` (weak, when the flag is set).
    Diamond(bool, Actions, Box<Formula>),
    /// `[A]F` (strong) or `[[A]]F` (weak, when the flag is set).
    Box(bool, Actions, Box<Formula>),
    /// A fixed-point variable.
    Var(String),
    /// `min X. F`.
    Min(String, Box<Formula>),
    /// `max X. F`.
    Max(String, Box<Formula>),
}

impl Formula {
    fn prec(&self) -> u8 {
        match self {
            Formula::Or(_) => 0,
            Formula::And(_) => 1,
            Formula::Min(..) | Formula::Max(..) => 0,
            _ => 2,
        }
    }
}

fn write_sub(f: &mut fmt::Formatter<'_>, x: &Formula, min: u8) -> fmt::Result {
    if x.prec() > min {
        write!(f, "{x}")
    } else {
        write!(f, "({x})")
    }
}

impl fmt::Display for Formula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Formula::True => f.write_str("tt"),
            Formula::False => f.write_str("ff"),
            Formula::Var(x) => f.write_str(x),
            Formula::Not(x) => {
                f.write_str("!")?;
                write_sub(f, x, 1)
            }
            Formula::And(xs) | Formula::Or(xs) => {
                let (sep, min) = if matches!(self, Formula::And(_)) {
                    (" && ", 1)
                } else {
                    (" || ", 0)
                };
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    write_sub(f, x, min)?;
                }
                Ok(())
            }
            Formula::Diamond(weak, a, x) => {
                if *weak {
                    write!(f, "<<{a}>>")?;
                } else {
                    write!(f, "<{a}>")?;
                }
                write_sub(f, x, 1)
            }
            Formula::Box(weak, a, x) => {
                if *weak {
                    write!(f, "[[{a}]]")?;
                } else {
                    write!(f, "[{a}]")?;
                }
                write_sub(f, x, 1)
            }
            Formula::Min(v, x) => write!(f, "min {v}. {x}"),
            Formula::Max(v, x) => write!(f, "max {v}. {x}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Tt,
    Ff,
    Min,
    Max,
    Upper(String),
    Act(String),
    Not,
    AndAnd,
    OrOr,
    Lt,
    Gt,
    LtLt,
    GtGt,
    LBr,
    RBr,
    LBrBr,
    RBrBr,
    LParen,
    RParen,
    Dot,
    Comma,
    Dash,
    Eof,
}

const MAX_DEPTH: usize = 100;

fn lex(src: &str) -> Result<Vec<(Tok, (usize, usize))>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let two = |x: u8| b.get(i + 1) == Some(&x);
        let (tok, len) = match c {
            b'<' if two(b'<') => (Tok::LtLt, 2),
            b'>' if two(b'>') => (Tok::GtGt, 2),
            b'[' if two(b'[') => (Tok::LBrBr, 2),
            b']' if two(b']') => (Tok::RBrBr, 2),
            b'&' if two(b'&') => (Tok::AndAnd, 2),
            b'|' if two(b'|') => (Tok::OrOr, 2),
            b'<' => (Tok::Lt, 1),
            b'>' => (Tok::Gt, 1),
            b'[' => (Tok::LBr, 1),
            b']' => (Tok::RBr, 1),
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'!' => (Tok::Not, 1),
            b'.' => (Tok::Dot, 1),
            b',' => (Tok::Comma, 1),
            b'-' => (Tok::Dash, 1),
            b'\'' | b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let mut j = i + usize::from(c == b'\'');
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                let word = &src[i..j];
                let tok = match word {
                    "tt" => Tok::Tt,
                    "ff" => Tok::Ff,
                    "min" => Tok::Min,
                    "max" => Tok::Max,
                    w if w.starts_with(|c: char| c.is_ascii_uppercase()) => Tok::Upper(w.into()),
                    "'" => {
                        return Err(Error::syntax(
                            "formula",
                            src,
                            (start, 1),
                            "expected an action name after `'`",
                            "co-actions are written `'a`",
                            None,
                        ))
                    }
                    w => Tok::Act(w.into()),
                };
                (tok, j - i)
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(Error::syntax(
                    "formula",
                    src,
                    (start, ch.len_utf8()),
                    format!("unexpected character `{ch}`"),
                    "not part of a formula",
                    None,
                ));
            }
        };
        i += len;
        out.push((tok, (start, len)));
    }
    out.push((Tok::Eof, (src.len(), 0)));
    Ok(out)
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(Tok, (usize, usize))>,
    at: usize,
    /// Bound variables, innermost last, with the number of negations above their binder.
    bound: Vec<(String, usize)>,
    negations: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.at].0
    }
    fn pos(&self) -> (usize, usize) {
        self.toks[self.at].1
    }
    fn bump(&mut self) {
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
    }
    fn err(&self, expected: &str) -> Error {
        let found = match self.peek() {
            Tok::Eof => "the end of the formula".to_owned(),
            _ => {
                let (o, l) = self.pos();
                format!("`{}`", &self.src[o..o + l])
            }
        };
        Error::syntax(
            "formula",
            self.src,
            self.pos(),
            format!("expected {expected}, found {found}"),
            format!("expected {expected}"),
            None,
        )
    }
    fn expect(&mut self, t: &Tok, what: &str) -> Result<()> {
        if self.peek() == t {
            self.bump();
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn or(&mut self, depth: usize) -> Result<Formula> {
        if depth > MAX_DEPTH {
            return Err(self.err("a less deeply nested formula"));
        }
        let mut xs = vec![self.and(depth)?];
        while *self.peek() == Tok::OrOr {
            self.bump();
            xs.push(self.and(depth)?);
        }
        Ok(if xs.len() == 1 {
            xs.remove(0)
        } else {
            Formula::Or(xs)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Formula> {
        let mut xs = vec![self.unary(depth)?];
        while *self.peek() == Tok::AndAnd {
            self.bump();
            xs.push(self.unary(depth)?);
        }
        Ok(if xs.len() == 1 {
            xs.remove(0)
        } else {
            Formula::And(xs)
        })
    }

    fn actions(&mut self) -> Result<Actions> {
        if *self.peek() == Tok::Dash {
            self.bump();
            return Ok(Actions::Any);
        }
        let mut l = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::Act(a) => {
                    self.bump();
                    l.push(a);
                }
                _ => return Err(self.err("an action (`a`, `'a`, `tau`) or `-`")),
            }
            if *self.peek() == Tok::Comma {
                self.bump();
            } else {
                return Ok(Actions::List(l));
            }
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Formula> {
        if depth > MAX_DEPTH {
            return Err(self.err("a less deeply nested formula"));
        }
        let d = depth + 1;
        match self.peek().clone() {
            Tok::Not => {
                self.bump();
                self.negations += 1;
                let x = self.unary(d);
                self.negations -= 1;
                Ok(Formula::Not(Box::new(x?)))
            }
            open @ (Tok::Lt | Tok::LtLt | Tok::LBr | Tok::LBrBr) => {
                self.bump();
                let a = self.actions()?;
                let (close, what) = match open {
                    Tok::Lt => (Tok::Gt, "`>`"),
                    Tok::LtLt => (Tok::GtGt, "`>>`"),
                    Tok::LBr => (Tok::RBr, "`]`"),
                    _ => (Tok::RBrBr, "`]]`"),
                };
                self.expect(&close, what)?;
                let x = Box::new(self.unary(d)?);
                Ok(match open {
                    Tok::Lt => Formula::Diamond(false, a, x),
                    Tok::LtLt => Formula::Diamond(true, a, x),
                    Tok::LBr => Formula::Box(false, a, x),
                    _ => Formula::Box(true, a, x),
                })
            }
            kind @ (Tok::Min | Tok::Max) => {
                self.bump();
                let Tok::Upper(v) = self.peek().clone() else {
                    return Err(self.err("a variable name (starting upper-case)"));
                };
                self.bump();
                self.expect(&Tok::Dot, "`.`")?;
                self.bound.push((v.clone(), self.negations));
                let body = self.or(d);
                self.bound.pop();
                let body = Box::new(body?);
                Ok(if kind == Tok::Min {
                    Formula::Min(v, body)
                } else {
                    Formula::Max(v, body)
                })
            }
            Tok::Tt => {
                self.bump();
                Ok(Formula::True)
            }
            Tok::Ff => {
                self.bump();
                Ok(Formula::False)
            }
            Tok::Upper(v) => {
                let pos = self.pos();
                let Some(&(_, negs)) = self.bound.iter().rev().find(|(b, _)| *b == v) else {
                    return Err(Error::syntax(
                        "formula",
                        self.src,
                        pos,
                        format!("unbound variable `{v}`"),
                        "not bound by `min` or `max`",
                        Some(format!("bind it: `max {v}. ...`")),
                    ));
                };
                if (self.negations - negs) % 2 == 1 {
                    return Err(Error::NotMonotone {
                        name: v,
                        src: miette::NamedSource::new("formula", self.src.to_owned()),
                        span: pos.into(),
                    });
                }
                self.bump();
                Ok(Formula::Var(v))
            }
            Tok::LParen => {
                self.bump();
                let x = self.or(d)?;
                self.expect(&Tok::RParen, "`)`")?;
                Ok(x)
            }
            _ => Err(self.err("a formula")),
        }
    }
}

impl Formula {
    /// Parses a formula.
    ///
    /// ```
    /// use weft_ccs::hml::Formula;
    /// let f = Formula::parse("<a>tt && [[b]]ff || max X. <->X").unwrap();
    /// assert_eq!(f.to_string(), "<a>tt && [[b]]ff || (max X. <->X)");
    /// assert!(Formula::parse("min X. !X").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Syntax`] at the offending token, [`Error::NotMonotone`] for a variable under
    /// an odd number of negations inside its fixed point.
    pub fn parse(src: &str) -> Result<Formula> {
        let mut p = Parser {
            src,
            toks: lex(src)?,
            at: 0,
            bound: Vec::new(),
            negations: 0,
        };
        let f = p.or(0)?;
        if *p.peek() != Tok::Eof {
            return Err(p.err("`&&`, `||` or the end of the formula"));
        }
        Ok(f)
    }
}

/// Evaluates formulas over one LTS (keeps the reverse transitions between evaluations).
#[derive(Debug)]
pub struct Checker<'a> {
    lts: &'a Lts,
    /// Predecessors: for each state, `(label, source)` of its incoming transitions.
    pred_off: Vec<usize>,
    pred: Vec<(u32, u32)>,
}

impl<'a> Checker<'a> {
    /// Prepares to check formulas on `lts`.
    #[must_use]
    pub fn new(lts: &'a Lts) -> Self {
        let n = lts.num_states();
        let mut pred_off = vec![0usize; n + 1];
        for (_, _, t) in lts.edges() {
            pred_off[t as usize + 1] += 1;
        }
        for i in 0..n {
            pred_off[i + 1] += pred_off[i];
        }
        let mut fill = pred_off.clone();
        let mut pred = vec![(0, 0); lts.num_transitions()];
        for (s, l, t) in lts.edges() {
            pred[fill[t as usize]] = (l, s);
            fill[t as usize] += 1;
        }
        Checker {
            lts,
            pred_off,
            pred,
        }
    }

    /// Whether state `s` satisfies `f`.
    ///
    /// ```
    /// use weft_ccs::{hml::{Checker, Formula}, Lts};
    /// // 0 -tau-> 1 -a-> 2
    /// let lts = Lts::from_edges(3, 0, vec!["tau".into(), "a".into()], &[(0, 0, 1), (1, 1, 2)]);
    /// let c = Checker::new(&lts);
    /// assert!(!c.holds(0, &Formula::parse("<a>tt").unwrap()));
    /// assert!(c.holds(0, &Formula::parse("<<a>>tt").unwrap()));
    /// assert!(c.holds(0, &Formula::parse("min X. [-]ff || <->X").unwrap()));
    /// ```
    #[must_use]
    pub fn holds(&self, s: u32, f: &Formula) -> bool {
        let mut env = Vec::new();
        self.eval(f, &mut env)[s as usize]
    }

    /// The set of states satisfying `f` (a closed formula), as one flag per state.
    #[must_use]
    pub fn states(&self, f: &Formula) -> Vec<bool> {
        let mut env = Vec::new();
        self.eval(f, &mut env)
    }

    fn matcher(&self, a: &Actions) -> Vec<bool> {
        let labels = self.lts.labels();
        let mut m = vec![false; labels.len()];
        match a {
            Actions::Any => m.iter_mut().for_each(|x| *x = true),
            Actions::List(l) => {
                for name in l {
                    if let Some(i) = self.lts.label(name) {
                        m[i as usize] = true;
                    }
                }
            }
        }
        m
    }

    /// States that reach a state of `set` by zero or more `tau` steps.
    fn pre_tau_star(&self, set: &[bool]) -> Vec<bool> {
        let mut out = set.to_vec();
        let mut stack: Vec<u32> = (0..set.len() as u32).filter(|&s| set[s as usize]).collect();
        while let Some(t) = stack.pop() {
            for &(l, s) in &self.pred[self.pred_off[t as usize]..self.pred_off[t as usize + 1]] {
                if l == Lts::TAU && !out[s as usize] {
                    out[s as usize] = true;
                    stack.push(s);
                }
            }
        }
        out
    }

    /// States with a step labelled in `m` into `set`.
    fn pre(&self, m: &[bool], set: &[bool]) -> Vec<bool> {
        (0..self.lts.num_states() as u32)
            .map(|s| {
                self.lts
                    .successors(s)
                    .iter()
                    .any(|t| m[t.label as usize] && set[t.target as usize])
            })
            .collect()
    }

    fn weak_pre(&self, m: &[bool], set: &[bool]) -> Vec<bool> {
        let after = self.pre_tau_star(set);
        let mut visible = m.to_vec();
        visible[Lts::TAU as usize] = false;
        let mid = self.pre(&visible, &after);
        let mut out = self.pre_tau_star(&mid);
        if m[Lts::TAU as usize] {
            for (o, a) in out.iter_mut().zip(&after) {
                *o |= *a;
            }
        }
        out
    }

    fn eval(&self, f: &Formula, env: &mut Vec<(String, Vec<bool>)>) -> Vec<bool> {
        let n = self.lts.num_states();
        match f {
            Formula::True => vec![true; n],
            Formula::False => vec![false; n],
            Formula::Var(v) => env
                .iter()
                .rev()
                .find(|(x, _)| x == v)
                .map_or_else(|| vec![false; n], |(_, s)| s.clone()),
            Formula::Not(x) => self.eval(x, env).into_iter().map(|b| !b).collect(),
            Formula::And(xs) => {
                let mut acc = vec![true; n];
                for x in xs {
                    for (a, b) in acc.iter_mut().zip(self.eval(x, env)) {
                        *a &= b;
                    }
                }
                acc
            }
            Formula::Or(xs) => {
                let mut acc = vec![false; n];
                for x in xs {
                    for (a, b) in acc.iter_mut().zip(self.eval(x, env)) {
                        *a |= b;
                    }
                }
                acc
            }
            Formula::Diamond(weak, a, x) => {
                let m = self.matcher(a);
                let set = self.eval(x, env);
                if *weak {
                    self.weak_pre(&m, &set)
                } else {
                    self.pre(&m, &set)
                }
            }
            Formula::Box(weak, a, x) => {
                let m = self.matcher(a);
                let not: Vec<bool> = self.eval(x, env).into_iter().map(|b| !b).collect();
                let some = if *weak {
                    self.weak_pre(&m, &not)
                } else {
                    self.pre(&m, &not)
                };
                some.into_iter().map(|b| !b).collect()
            }
            Formula::Min(v, x) | Formula::Max(v, x) => {
                let start = matches!(f, Formula::Max(..));
                env.push((v.clone(), vec![start; n]));
                loop {
                    let next = self.eval(x, env);
                    let last = env.len() - 1;
                    if env[last].1 == next {
                        break;
                    }
                    env[last].1 = next;
                }
                env.pop().map(|(_, s)| s).unwrap_or_default()
            }
        }
    }
}
