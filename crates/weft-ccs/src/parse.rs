//! The parser of CCS files in CAAL's syntax, and the checks that follow it.
//!
//! A hand-written lexer and a recursive-descent parser with one function per precedence
//! level (`+`, `|`, prefix, postfix). Nesting is bounded ([`MAX_DEPTH`]) so that no input
//! can overflow the stack; every error carries the byte span of the offending token.
//!
//! After parsing, [`Program::parse`] checks the module: duplicate definitions, undefined
//! process and set names, and unguarded recursion (a name reachable from its own body
//! without passing under a prefix, found by a depth-first search over the "occurs
//! unguarded in" graph).

use std::collections::HashMap;

use crate::ast::{Action, Definition, Expr, Module, Pos, Process, RestrictSet, SetDefinition};
use crate::error::{Error, Result};

/// The deepest nesting of parentheses and prefixes the parser accepts.
pub const MAX_DEPTH: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Upper(String),
    Lower(String),
    Tau,
    Zero,
    Set,
    Quote,
    Dot,
    Plus,
    Bar,
    Backslash,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Slash,
    Comma,
    LParen,
    RParen,
    Eq,
    Semi,
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Upper(s) => format!("process name `{s}`"),
            Tok::Lower(s) => format!("action `{s}`"),
            Tok::Tau => "`tau`".into(),
            Tok::Zero => "`0`".into(),
            Tok::Set => "`set`".into(),
            Tok::Quote => "`'`".into(),
            Tok::Dot => "`.`".into(),
            Tok::Plus => "`+`".into(),
            Tok::Bar => "`|`".into(),
            Tok::Backslash => "`\\`".into(),
            Tok::LBrace => "`{`".into(),
            Tok::RBrace => "`}`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Slash => "`/`".into(),
            Tok::Comma => "`,`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Eq => "`=`".into(),
            Tok::Semi => "`;`".into(),
            Tok::Eof => "the end of the input".into(),
        }
    }
}

fn lex(name: &str, src: &str) -> Result<Vec<(Tok, Pos)>> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'*' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        let tok = match c {
            b'\'' => Tok::Quote,
            b'.' => Tok::Dot,
            b'+' => Tok::Plus,
            b'|' => Tok::Bar,
            b'\\' => Tok::Backslash,
            b'{' => Tok::LBrace,
            b'}' => Tok::RBrace,
            b'[' => Tok::LBracket,
            b']' => Tok::RBracket,
            b'/' => Tok::Slash,
            b',' => Tok::Comma,
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'=' => Tok::Eq,
            b';' => Tok::Semi,
            b'0' if !bytes.get(i + 1).is_some_and(|b| b.is_ascii_alphanumeric()) => Tok::Zero,
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &src[start..i];
                out.push((
                    match word {
                        "tau" => Tok::Tau,
                        "set" => Tok::Set,
                        w if w.starts_with(|c: char| c.is_ascii_uppercase()) => {
                            Tok::Upper(w.to_owned())
                        }
                        w => Tok::Lower(w.to_owned()),
                    },
                    (start, i - start),
                ));
                continue;
            }
            _ => {
                let ch = src[start..].chars().next().unwrap_or('?');
                let help = if ch.is_ascii_digit() {
                    Some("the only number in CCS is `0`, the stopped process".to_owned())
                } else {
                    None
                };
                return Err(Error::syntax(
                    name,
                    src,
                    (start, ch.len_utf8()),
                    format!("unexpected character `{ch}`"),
                    "not part of CCS",
                    help,
                ));
            }
        };
        i += 1;
        out.push((tok, (start, i - start)));
    }
    out.push((Tok::Eof, (src.len(), 0)));
    Ok(out)
}

struct Parser<'a> {
    name: &'a str,
    src: &'a str,
    toks: Vec<(Tok, Pos)>,
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(name: &'a str, src: &'a str) -> Result<Self> {
        Ok(Parser {
            name,
            src,
            toks: lex(name, src)?,
            at: 0,
        })
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.at.min(self.toks.len() - 1)].0
    }

    fn pos(&self) -> Pos {
        self.toks[self.at.min(self.toks.len() - 1)].1
    }

    fn bump(&mut self) -> (Tok, Pos) {
        let t = self.toks[self.at.min(self.toks.len() - 1)].clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn error(&self, expected: &str, help: Option<&str>) -> Error {
        let found = self.peek().describe();
        Error::syntax(
            self.name,
            self.src,
            self.pos(),
            format!("expected {expected}, found {found}"),
            format!("expected {expected}"),
            help.map(str::to_owned),
        )
    }

    fn expect(&mut self, tok: &Tok, expected: &str, help: Option<&str>) -> Result<Pos> {
        if self.peek() == tok {
            Ok(self.bump().1)
        } else {
            Err(self.error(expected, help))
        }
    }

    /// A plain action name.
    fn lower(&mut self, help: &str) -> Result<String> {
        if let Tok::Lower(a) = self.peek().clone() {
            self.bump();
            Ok(a)
        } else {
            Err(self.error("an action name", Some(help)))
        }
    }

    fn too_deep(&self) -> Error {
        Error::syntax(
            self.name,
            self.src,
            self.pos(),
            format!("the expression nests more than {MAX_DEPTH} levels deep"),
            "too deep here",
            Some("split it into named definitions".to_owned()),
        )
    }

    fn module(&mut self) -> Result<Module> {
        let mut module = Module::default();
        loop {
            match self.peek().clone() {
                Tok::Eof => return Ok(module),
                Tok::Set => {
                    self.bump();
                    let name_pos = self.pos();
                    let Tok::Upper(name) = self.peek().clone() else {
                        return Err(self.error(
                            "a set name (starting upper-case)",
                            Some("write `set L = {a, b};`"),
                        ));
                    };
                    self.bump();
                    self.expect(&Tok::Eq, "`=`", Some("write `set L = {a, b};`"))?;
                    let actions = self.name_set()?;
                    self.expect(&Tok::Semi, "`;` after the set", None)?;
                    module.sets.push(SetDefinition {
                        name,
                        name_pos,
                        actions,
                    });
                }
                Tok::Upper(name) => {
                    let (_, name_pos) = self.bump();
                    self.expect(&Tok::Eq, "`=`", Some("a definition reads `Name = P;`"))?;
                    let body = self.expr(0)?;
                    self.expect(
                        &Tok::Semi,
                        "`;` or an operator",
                        Some("each definition ends with `;`"),
                    )?;
                    module.definitions.push(Definition {
                        name,
                        name_pos,
                        body,
                    });
                }
                Tok::Lower(_) => {
                    return Err(self.error(
                        "a definition",
                        Some(
                            "process names start upper-case (`Name = P;`); actions are lower-case",
                        ),
                    ))
                }
                _ => return Err(self.error("a definition `Name = P;` or `set L = {...};`", None)),
            }
        }
    }

    /// `{a, b, ...}`: plain action names.
    fn name_set(&mut self) -> Result<Vec<String>> {
        self.expect(&Tok::LBrace, "`{`", None)?;
        let mut names = Vec::new();
        if *self.peek() == Tok::RBrace {
            self.bump();
            return Ok(names);
        }
        loop {
            names.push(self.lower(
                "sets hold plain action names such as `a`; `tau` and `'a` are not allowed",
            )?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RBrace => {
                    self.bump();
                    return Ok(names);
                }
                _ => return Err(self.error("`,` or `}`", None)),
            }
        }
    }

    fn expr(&mut self, depth: usize) -> Result<Process> {
        if depth > MAX_DEPTH {
            return Err(self.too_deep());
        }
        let first = self.par(depth)?;
        if *self.peek() != Tok::Plus {
            return Ok(first);
        }
        let start = first.pos.0;
        let mut items = vec![first];
        while *self.peek() == Tok::Plus {
            self.bump();
            items.push(self.par(depth)?);
        }
        Ok(self.node(Expr::Sum(items), start))
    }

    fn node(&self, expr: Expr, start: usize) -> Process {
        let end = if self.at == 0 {
            start
        } else {
            let (o, l) = self.toks[self.at - 1].1;
            o + l
        };
        Process {
            expr,
            pos: (start, end.saturating_sub(start)),
        }
    }

    fn par(&mut self, depth: usize) -> Result<Process> {
        let first = self.prefix(depth)?;
        if *self.peek() != Tok::Bar {
            return Ok(first);
        }
        let start = first.pos.0;
        let mut items = vec![first];
        while *self.peek() == Tok::Bar {
            self.bump();
            items.push(self.prefix(depth)?);
        }
        Ok(self.node(Expr::Par(items), start))
    }

    fn prefix(&mut self, depth: usize) -> Result<Process> {
        if depth > MAX_DEPTH {
            return Err(self.too_deep());
        }
        let start = self.pos().0;
        let action = match self.peek().clone() {
            Tok::Tau => Action::Tau,
            Tok::Lower(a) => Action::Name(a),
            Tok::Quote => {
                self.bump();
                match self.peek().clone() {
                    Tok::Lower(a) => Action::CoName(a),
                    _ => {
                        return Err(self.error(
                            "an action name after `'`",
                            Some("co-actions are written `'a`"),
                        ))
                    }
                }
            }
            _ => return self.postfix(depth),
        };
        self.bump();
        self.expect(
            &Tok::Dot,
            "`.` after the action",
            Some("an action prefixes a process: `a.P` (use `a.0` to stop)"),
        )?;
        let body = self.prefix(depth + 1)?;
        Ok(self.node(Expr::Prefix(action, Box::new(body)), start))
    }

    fn postfix(&mut self, depth: usize) -> Result<Process> {
        let start = self.pos().0;
        let mut p = self.atom(depth)?;
        loop {
            match self.peek() {
                Tok::Backslash => {
                    self.bump();
                    let set = match self.peek().clone() {
                        Tok::LBrace => RestrictSet::Literal(self.name_set()?),
                        Tok::Upper(n) => {
                            let (_, pos) = self.bump();
                            RestrictSet::Named(n, pos)
                        }
                        _ => return Err(self.error("an action set `{a, b}` or a set name", None)),
                    };
                    p = self.node(Expr::Restrict(Box::new(p), set), start);
                }
                Tok::LBracket => {
                    self.bump();
                    let mut pairs = Vec::new();
                    loop {
                        let new = self.lower("relabelling reads `P [new/old, ...]`")?;
                        self.expect(
                            &Tok::Slash,
                            "`/`",
                            Some("relabelling reads `P [new/old, ...]`"),
                        )?;
                        let old = self.lower("relabelling reads `P [new/old, ...]`")?;
                        pairs.push((new, old));
                        match self.peek() {
                            Tok::Comma => {
                                self.bump();
                            }
                            Tok::RBracket => {
                                self.bump();
                                break;
                            }
                            _ => return Err(self.error("`,` or `]`", None)),
                        }
                    }
                    p = self.node(Expr::Relabel(Box::new(p), pairs), start);
                }
                _ => return Ok(p),
            }
        }
    }

    fn atom(&mut self, depth: usize) -> Result<Process> {
        let start = self.pos().0;
        match self.peek().clone() {
            Tok::Zero => {
                self.bump();
                Ok(self.node(Expr::Nil, start))
            }
            Tok::Upper(n) => {
                self.bump();
                Ok(self.node(Expr::Name(n), start))
            }
            Tok::LParen => {
                self.bump();
                let mut inner = self.expr(depth + 1)?;
                self.expect(&Tok::RParen, "`)` or an operator", None)?;
                inner.pos = self.node(Expr::Nil, start).pos;
                Ok(inner)
            }
            _ => Err(self.error(
                "a process",
                Some("a process is `0`, a name, `a.P`, or an expression in parentheses"),
            )),
        }
    }
}

/// Parses a CCS module without checking names (see [`Program::parse`] for the checks).
///
/// # Errors
///
/// [`Error::Syntax`] at the first token that does not fit the grammar.
pub fn parse_module(name: &str, src: &str) -> Result<Module> {
    let mut p = Parser::new(name, src)?;
    p.module()
}

/// Parses one process expression (`a.P | Q`), without checking names.
///
/// # Errors
///
/// [`Error::Syntax`] at the first token that does not fit the grammar, or when text is left
/// after the expression.
pub fn parse_process(name: &str, src: &str) -> Result<Process> {
    let mut p = Parser::new(name, src)?;
    let e = p.expr(0)?;
    if *p.peek() != Tok::Eof {
        return Err(p.error("an operator or the end of the process", None));
    }
    Ok(e)
}

/// A checked CCS file: every name is defined once and all recursion is guarded.
#[derive(Debug, Clone)]
pub struct Program {
    /// The definitions.
    pub module: Module,
    /// The file name (for diagnostics).
    pub name: String,
    /// The source text.
    pub source: String,
}

impl Program {
    /// Parses and checks a CCS file.
    ///
    /// ```
    /// let p = weft_ccs::Program::parse("vm.ccs", "VM = coin.('tea.VM + 'coffee.VM);").unwrap();
    /// assert_eq!(p.module.definitions.len(), 1);
    /// let err = weft_ccs::Program::parse("x.ccs", "X = X + a.0;").unwrap_err();
    /// assert!(err.to_string().contains("unguarded"));
    /// ```
    ///
    /// # Errors
    ///
    /// A syntax error, or every semantic error at once ([`Error::Many`] when more than one).
    pub fn parse(name: &str, source: &str) -> Result<Self> {
        let module = parse_module(name, source)?;
        let mut errors = check(&module, name, source);
        match errors.len() {
            0 => Ok(Program {
                module,
                name: name.to_owned(),
                source: source.to_owned(),
            }),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Many {
                name: name.to_owned(),
                related: errors,
            }),
        }
    }

    /// Parses a process expression (given on a command line, say) in this program's
    /// context: its names must be defined here.
    ///
    /// # Errors
    ///
    /// A syntax error in `text`, or an undefined name (reported against `text`).
    pub fn process(&self, text: &str) -> Result<Process> {
        let p = parse_process("process", text)?;
        let procs = self.process_names();
        let sets: HashMap<&str, Pos> = self
            .module
            .sets
            .iter()
            .map(|s| (s.name.as_str(), s.name_pos))
            .collect();
        let mut errors = Vec::new();
        names_in(&p, &mut |n, pos, is_set| {
            let known = if is_set {
                sets.contains_key(n)
            } else {
                procs.contains_key(n)
            };
            if !known {
                errors.push(undefined(n, pos, is_set, "process", text, &procs));
            }
        });
        match errors.len() {
            0 => Ok(p),
            _ => Err(errors.remove(0)),
        }
    }

    fn process_names(&self) -> HashMap<&str, Pos> {
        self.module
            .definitions
            .iter()
            .map(|d| (d.name.as_str(), d.name_pos))
            .collect()
    }
}

fn undefined(
    name: &str,
    pos: Pos,
    is_set: bool,
    file: &str,
    src: &str,
    procs: &HashMap<&str, Pos>,
) -> Error {
    let src_named = miette::NamedSource::new(file, src.to_owned());
    if is_set {
        return Error::UndefinedSet {
            name: name.to_owned(),
            src: src_named,
            span: pos.into(),
        };
    }
    let mut near: Vec<&str> = procs
        .keys()
        .copied()
        .filter(|k| {
            let allowed = match name.len() {
                0..=2 => 0,
                3..=5 => 1,
                _ => 2,
            };
            k.eq_ignore_ascii_case(name) || edit_distance(k, name) <= allowed
        })
        .collect();
    near.sort_unstable();
    let help = if near.is_empty() {
        let mut all: Vec<&str> = procs.keys().copied().collect();
        all.sort_unstable();
        all.truncate(8);
        (!all.is_empty()).then(|| format!("defined processes: {}", all.join(", ")))
    } else {
        Some(format!("did you mean {}?", near.join(" or ")))
    };
    Error::UndefinedProcess {
        name: name.to_owned(),
        src: src_named,
        span: pos.into(),
        help,
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Calls `f(name, pos, is_set)` for every process and set name used in `p`.
fn names_in(p: &Process, f: &mut dyn FnMut(&str, Pos, bool)) {
    match &p.expr {
        Expr::Nil => {}
        Expr::Name(n) => f(n, p.pos, false),
        Expr::Prefix(_, q) | Expr::Relabel(q, _) => names_in(q, f),
        Expr::Restrict(q, set) => {
            names_in(q, f);
            if let RestrictSet::Named(n, pos) = set {
                f(n, *pos, true);
            }
        }
        Expr::Sum(ps) | Expr::Par(ps) => ps.iter().for_each(|q| names_in(q, f)),
    }
}

/// Names occurring unguarded (not under a prefix) in `p`.
fn unguarded<'a>(p: &'a Process, out: &mut Vec<(&'a str, Pos)>) {
    match &p.expr {
        Expr::Nil | Expr::Prefix(..) => {}
        Expr::Name(n) => out.push((n, p.pos)),
        Expr::Restrict(q, _) | Expr::Relabel(q, _) => unguarded(q, out),
        Expr::Sum(ps) | Expr::Par(ps) => ps.iter().for_each(|q| unguarded(q, out)),
    }
}

fn check(module: &Module, name: &str, src: &str) -> Vec<Error> {
    let mut errors = Vec::new();
    let named = || miette::NamedSource::new(name, src.to_owned());
    let mut procs: HashMap<&str, Pos> = HashMap::new();
    for d in &module.definitions {
        if let Some(first) = procs.get(d.name.as_str()) {
            errors.push(Error::DuplicateDefinition {
                name: d.name.clone(),
                src: named(),
                first: (*first).into(),
                second: d.name_pos.into(),
            });
        } else {
            procs.insert(&d.name, d.name_pos);
        }
    }
    let mut sets: HashMap<&str, Pos> = HashMap::new();
    for s in &module.sets {
        if let Some(first) = sets.get(s.name.as_str()) {
            errors.push(Error::DuplicateDefinition {
                name: s.name.clone(),
                src: named(),
                first: (*first).into(),
                second: s.name_pos.into(),
            });
        } else {
            sets.insert(&s.name, s.name_pos);
        }
    }
    for d in &module.definitions {
        names_in(&d.body, &mut |n, pos, is_set| {
            let known = if is_set {
                sets.contains_key(n)
            } else {
                procs.contains_key(n)
            };
            if !known {
                errors.push(undefined(n, pos, is_set, name, src, &procs));
            }
        });
    }
    // Unguarded recursion: a cycle in the graph X -> Y (Y occurs unguarded in X's body).
    let index: HashMap<&str, usize> = module
        .definitions
        .iter()
        .enumerate()
        .rev()
        .map(|(i, d)| (d.name.as_str(), i))
        .collect();
    let edges: Vec<Vec<(usize, Pos)>> = module
        .definitions
        .iter()
        .map(|d| {
            let mut out = Vec::new();
            unguarded(&d.body, &mut out);
            out.into_iter()
                .filter_map(|(n, pos)| index.get(n).map(|&j| (j, pos)))
                .collect()
        })
        .collect();
    // Iterative DFS with colours; on a back edge, report the cycle on the stack.
    let n = edges.len();
    let mut colour = vec![0u8; n]; // 0 white, 1 on stack, 2 done
    let mut reported = vec![false; n];
    for root in 0..n {
        if colour[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        colour[root] = 1;
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&(w, pos)) = edges[v].get(*next) {
                *next += 1;
                match colour[w] {
                    0 => {
                        colour[w] = 1;
                        stack.push((w, 0));
                    }
                    1 if !reported[w] => {
                        reported[w] = true;
                        let from = stack.iter().position(|&(u, _)| u == w).unwrap_or(0);
                        let mut cycle: Vec<&str> = stack[from..]
                            .iter()
                            .map(|&(u, _)| module.definitions[u].name.as_str())
                            .collect();
                        cycle.push(&module.definitions[w].name);
                        errors.push(Error::UnguardedRecursion {
                            cycle: cycle.join(" -> "),
                            src: named(),
                            span: pos.into(),
                        });
                    }
                    _ => {}
                }
            } else {
                colour[v] = 2;
                stack.pop();
            }
        }
    }
    errors
}
