//! Process terms in a compact, hash-consed arena, and their transitions by the SOS rules.
//!
//! Every term is a [`TermId`] (a `u32`) naming a node of the [`Semantics`] arena; equal
//! terms get equal ids (hash-consing), so a state of a transition system is one integer and
//! two states are equal exactly when their ids are. Sums and parallel compositions are
//! n-ary (their operands live in interned lists), restriction sets are bit vectors over
//! the action names and relabellings are arrays over them, both interned too.
//!
//! Actions are integers ([`Act`]): `0` is `tau`, `2n` is the `n`-th name and `2n + 1` its
//! co-action, so the complement of a visible action is `a ^ 1`.
//!
//! The transitions of a term follow Milner's SOS rules (prefix, choice, the three rules of
//! parallel composition with `a` and `'a` synchronising into `tau`, restriction, relabelling,
//! and a constant behaving as its body). They are computed on demand and memoised per term,
//! sorted and without duplicates. Recursion terminates because [`crate::Program`] rejects
//! unguarded recursion.

use std::rc::Rc;

use rustc_hash::FxHashMap;

use crate::ast::{Action, Expr, Process, RestrictSet};
use crate::parse::Program;

/// A term of the arena.
pub type TermId = u32;

/// An action: `0` is `tau`, `2n` the name `n`, `2n + 1` its co-action.
pub type Act = u32;

/// The internal action.
pub const TAU: Act = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Node {
    Nil,
    Prefix(Act, TermId),
    Sum(u32),
    Par(u32),
    Restrict(TermId, u32),
    Relabel(TermId, u32),
    Var(u32),
}

/// The arena of terms of one program, with the memoised transitions of each.
#[derive(Debug)]
pub struct Semantics {
    names: Vec<String>,
    name_ix: FxHashMap<String, u32>,
    nodes: Vec<Node>,
    node_ix: FxHashMap<Node, TermId>,
    lists: Vec<Box<[TermId]>>,
    list_ix: FxHashMap<Box<[TermId]>, u32>,
    sets: Vec<Box<[bool]>>,
    set_ix: FxHashMap<Box<[bool]>, u32>,
    maps: Vec<Box<[u32]>>,
    map_ix: FxHashMap<Box<[u32]>, u32>,
    defs: Vec<TermId>,
    def_names: Vec<String>,
    def_ix: FxHashMap<String, u32>,
    set_defs: FxHashMap<String, Vec<String>>,
    /// Per term: where its transitions are in `store`, or `u32::MAX` when not computed.
    cached: Vec<(u32, u32)>,
    store: Vec<(Act, TermId)>,
}

const NOT_COMPUTED: (u32, u32) = (u32::MAX, 0);

impl Semantics {
    /// Compiles every definition of `program` into the arena.
    ///
    /// ```
    /// use weft_ccs::{Program, Semantics};
    /// let program = Program::parse("m.ccs", "A = a.A;").unwrap();
    /// let mut sem = Semantics::new(&program);
    /// let a = sem.compile(&program.process("A").unwrap());
    /// let ts = sem.transitions(a).to_vec();
    /// assert_eq!(ts.len(), 1);
    /// assert_eq!(sem.act_name(ts[0].0), "a");
    /// ```
    #[must_use]
    pub fn new(program: &Program) -> Self {
        let mut sem = Semantics {
            names: vec!["tau".to_owned()],
            name_ix: FxHashMap::default(),
            nodes: Vec::new(),
            node_ix: FxHashMap::default(),
            lists: Vec::new(),
            list_ix: FxHashMap::default(),
            sets: Vec::new(),
            set_ix: FxHashMap::default(),
            maps: Vec::new(),
            map_ix: FxHashMap::default(),
            defs: Vec::new(),
            def_names: Vec::new(),
            def_ix: FxHashMap::default(),
            set_defs: FxHashMap::default(),
            cached: Vec::new(),
            store: Vec::new(),
        };
        // Collect every action name first, so sets and maps have their final width.
        for s in &program.module.sets {
            for a in &s.actions {
                sem.name(a);
            }
            sem.set_defs.insert(s.name.clone(), s.actions.clone());
        }
        for d in &program.module.definitions {
            sem.collect_names(&d.body);
        }
        for (i, d) in program.module.definitions.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            sem.def_ix.entry(d.name.clone()).or_insert(i);
            sem.def_names.push(d.name.clone());
        }
        let bodies: Vec<TermId> = program
            .module
            .definitions
            .iter()
            .map(|d| sem.compile(&d.body))
            .collect();
        sem.defs = bodies;
        sem
    }

    fn name(&mut self, a: &str) -> u32 {
        if let Some(&i) = self.name_ix.get(a) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(a.to_owned());
        self.name_ix.insert(a.to_owned(), i);
        i
    }

    fn collect_names(&mut self, p: &Process) {
        match &p.expr {
            Expr::Nil | Expr::Name(_) => {}
            Expr::Prefix(a, q) => {
                match a {
                    Action::Tau => {}
                    Action::Name(n) | Action::CoName(n) => {
                        self.name(n);
                    }
                }
                self.collect_names(q);
            }
            Expr::Sum(ps) | Expr::Par(ps) => ps.iter().for_each(|q| self.collect_names(q)),
            Expr::Restrict(q, set) => {
                if let RestrictSet::Literal(ns) = set {
                    for n in ns {
                        self.name(n);
                    }
                }
                self.collect_names(q);
            }
            Expr::Relabel(q, pairs) => {
                for (new, old) in pairs {
                    self.name(new);
                    self.name(old);
                }
                self.collect_names(q);
            }
        }
    }

    /// The number of action ids in use (`2 * names`, tau included as id 0).
    #[must_use]
    pub fn num_acts(&self) -> usize {
        2 * self.names.len()
    }

    /// The name of an action (`tau`, `a`, `'a`).
    #[must_use]
    pub fn act_name(&self, a: Act) -> String {
        if a == TAU {
            return "tau".to_owned();
        }
        let n = &self.names[(a >> 1) as usize];
        if a & 1 == 1 {
            format!("'{n}")
        } else {
            n.clone()
        }
    }

    /// The action with this name (`tau`, `a`, `'a`), if the program mentions it.
    #[must_use]
    pub fn act(&self, name: &str) -> Option<Act> {
        if name == "tau" {
            return Some(TAU);
        }
        let (co, bare) = match name.strip_prefix('\'') {
            Some(b) => (1, b),
            None => (0, name),
        };
        self.name_ix.get(bare).map(|&n| (n << 1) | co)
    }

    /// The number of terms in the arena.
    #[must_use]
    pub fn num_terms(&self) -> usize {
        self.nodes.len()
    }

    fn intern(&mut self, node: Node) -> TermId {
        if let Some(&t) = self.node_ix.get(&node) {
            return t;
        }
        let t = TermId::try_from(self.nodes.len()).unwrap_or(TermId::MAX);
        self.nodes.push(node);
        self.cached.push(NOT_COMPUTED);
        self.node_ix.insert(node, t);
        t
    }

    fn list(&mut self, items: &[TermId]) -> u32 {
        if let Some(&l) = self.list_ix.get(items) {
            return l;
        }
        let l = u32::try_from(self.lists.len()).unwrap_or(u32::MAX);
        self.lists.push(items.into());
        self.list_ix.insert(items.into(), l);
        l
    }

    fn set(&mut self, names: &[String]) -> u32 {
        let mut bits = vec![false; self.names.len()];
        for n in names {
            if let Some(&i) = self.name_ix.get(n.as_str()) {
                bits[i as usize] = true;
            }
        }
        let bits: Box<[bool]> = bits.into();
        if let Some(&s) = self.set_ix.get(&bits) {
            return s;
        }
        let s = u32::try_from(self.sets.len()).unwrap_or(u32::MAX);
        self.sets.push(bits.clone());
        self.set_ix.insert(bits, s);
        s
    }

    fn map(&mut self, pairs: &[(String, String)]) -> u32 {
        let mut m: Vec<u32> = (0..u32::try_from(self.names.len()).unwrap_or(u32::MAX)).collect();
        // The first pair for an old name wins, as in CAAL.
        for (new, old) in pairs.iter().rev() {
            let (Some(&n), Some(&o)) = (self.name_ix.get(new), self.name_ix.get(old)) else {
                continue;
            };
            m[o as usize] = n;
        }
        let m: Box<[u32]> = m.into();
        if let Some(&i) = self.map_ix.get(&m) {
            return i;
        }
        let i = u32::try_from(self.maps.len()).unwrap_or(u32::MAX);
        self.maps.push(m.clone());
        self.map_ix.insert(m, i);
        i
    }

    /// Compiles a process expression of the program into the arena.
    ///
    /// Names must be defined in the program given to [`Semantics::new`] (a
    /// [`Program::process`] result is); an unknown name compiles to `0`.
    pub fn compile(&mut self, p: &Process) -> TermId {
        self.collect_names(p);
        match &p.expr {
            Expr::Nil => self.intern(Node::Nil),
            Expr::Name(n) => match self.def_ix.get(n) {
                Some(&d) => self.intern(Node::Var(d)),
                None => self.intern(Node::Nil),
            },
            Expr::Prefix(a, q) => {
                let act = match a {
                    Action::Tau => TAU,
                    Action::Name(n) => self.name(n) << 1,
                    Action::CoName(n) => (self.name(n) << 1) | 1,
                };
                let q = self.compile(q);
                self.intern(Node::Prefix(act, q))
            }
            Expr::Sum(ps) | Expr::Par(ps) => {
                let items: Vec<TermId> = ps.iter().map(|q| self.compile(q)).collect();
                let l = self.list(&items);
                if matches!(p.expr, Expr::Sum(_)) {
                    self.intern(Node::Sum(l))
                } else {
                    self.intern(Node::Par(l))
                }
            }
            Expr::Restrict(q, set) => {
                let q = self.compile(q);
                let names = match set {
                    RestrictSet::Literal(ns) => ns.clone(),
                    RestrictSet::Named(n, _) => self.set_defs.get(n).cloned().unwrap_or_default(),
                };
                let s = self.set(&names);
                self.intern(Node::Restrict(q, s))
            }
            Expr::Relabel(q, pairs) => {
                let q = self.compile(q);
                let m = self.map(pairs);
                self.intern(Node::Relabel(q, m))
            }
        }
    }

    /// The transitions of term `t`, sorted by action then target, without duplicates.
    pub fn transitions(&mut self, t: TermId) -> &[(Act, TermId)] {
        let (start, len) = self.ensure(t);
        &self.store[start as usize..(start + len) as usize]
    }

    /// Where the transitions of `t` are in the store (computing them if needed).
    pub(crate) fn ensure(&mut self, t: TermId) -> (u32, u32) {
        let c = self.cached[t as usize];
        if c != NOT_COMPUTED {
            return c;
        }
        let mut out: Vec<(Act, TermId)> = Vec::new();
        match self.nodes[t as usize] {
            Node::Nil => {}
            Node::Prefix(a, p) => out.push((a, p)),
            Node::Var(d) => {
                let body = self.defs[d as usize];
                let (s, l) = self.ensure(body);
                out.extend_from_slice(&self.store[s as usize..(s + l) as usize]);
            }
            Node::Sum(l) => {
                let items = self.lists[l as usize].clone();
                for &x in items.iter() {
                    let (s, n) = self.ensure(x);
                    out.extend_from_slice(&self.store[s as usize..(s + n) as usize]);
                }
            }
            Node::Par(l) => {
                let items = self.lists[l as usize].clone();
                let ranges: Vec<(u32, u32)> = items.iter().map(|&x| self.ensure(x)).collect();
                let mut scratch = items.to_vec();
                for (i, &(s, n)) in ranges.iter().enumerate() {
                    for k in s..s + n {
                        let (a, p) = self.store[k as usize];
                        scratch[i] = p;
                        let l = self.list(&scratch);
                        out.push((a, self.intern(Node::Par(l))));
                    }
                    scratch[i] = items[i];
                }
                for i in 0..items.len() {
                    for j in i + 1..items.len() {
                        let (si, ni) = ranges[i];
                        let (sj, nj) = ranges[j];
                        for ki in si..si + ni {
                            let (a, p) = self.store[ki as usize];
                            if a == TAU {
                                continue;
                            }
                            for kj in sj..sj + nj {
                                let (b, q) = self.store[kj as usize];
                                if b == a ^ 1 {
                                    scratch[i] = p;
                                    scratch[j] = q;
                                    let l = self.list(&scratch);
                                    out.push((TAU, self.intern(Node::Par(l))));
                                    scratch[i] = items[i];
                                    scratch[j] = items[j];
                                }
                            }
                        }
                    }
                }
            }
            Node::Restrict(p, set) => {
                let (s, n) = self.ensure(p);
                for k in s..s + n {
                    let (a, q) = self.store[k as usize];
                    if a == TAU || !self.blocked(a, set) {
                        out.push((a, self.intern(Node::Restrict(q, set))));
                    }
                }
            }
            Node::Relabel(p, map) => {
                let (s, n) = self.ensure(p);
                for k in s..s + n {
                    let (a, q) = self.store[k as usize];
                    let b = self.relabel(a, map);
                    out.push((b, self.intern(Node::Relabel(q, map))));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        let start = u32::try_from(self.store.len()).unwrap_or(u32::MAX);
        let len = u32::try_from(out.len()).unwrap_or(u32::MAX);
        self.store.extend_from_slice(&out);
        self.cached[t as usize] = (start, len);
        (start, len)
    }

    /// All memoised transitions (ranges from [`Semantics::ensure`] index into this).
    pub(crate) fn store_slice(&self) -> &[(Act, TermId)] {
        &self.store
    }

    /// A readable form of term `t` (for state names in DOT output and traces).
    #[must_use]
    pub fn show(&self, t: TermId) -> String {
        let mut out = String::new();
        self.show_into(t, 0, &mut out);
        out
    }

    fn show_into(&self, t: TermId, min: u8, out: &mut String) {
        let prec = match self.nodes[t as usize] {
            Node::Sum(_) => 0,
            Node::Par(_) => 1,
            Node::Prefix(..) => 2,
            Node::Restrict(..) | Node::Relabel(..) => 3,
            Node::Nil | Node::Var(_) => 4,
        };
        let paren = prec <= min && prec < 4;
        if paren {
            out.push('(');
        }
        match self.nodes[t as usize] {
            Node::Nil => out.push('0'),
            Node::Var(d) => out.push_str(&self.def_names[d as usize]),
            Node::Prefix(a, p) => {
                out.push_str(&self.act_name(a));
                out.push('.');
                self.show_into(p, 1, out);
            }
            Node::Sum(l) | Node::Par(l) => {
                let sep = if prec == 0 { " + " } else { " | " };
                for (i, &x) in self.lists[l as usize].iter().enumerate() {
                    if i > 0 {
                        out.push_str(sep);
                    }
                    self.show_into(x, prec, out);
                }
            }
            Node::Restrict(p, s) => {
                self.show_into(p, 2, out);
                let names: Vec<&str> = self.sets[s as usize]
                    .iter()
                    .enumerate()
                    .filter(|&(_, &b)| b)
                    .map(|(i, _)| self.names[i].as_str())
                    .collect();
                out.push_str(&format!(" \\ {{{}}}", names.join(", ")));
            }
            Node::Relabel(p, m) => {
                self.show_into(p, 2, out);
                let pairs: Vec<String> = self.maps[m as usize]
                    .iter()
                    .enumerate()
                    .filter(|&(i, &n)| i as u32 != n)
                    .map(|(i, &n)| format!("{}/{}", self.names[n as usize], self.names[i]))
                    .collect();
                out.push_str(&format!(" [{}]", pairs.join(", ")));
            }
        }
        if paren {
            out.push(')');
        }
    }

    fn relabel(&self, a: Act, map: u32) -> Act {
        if a == TAU {
            TAU
        } else {
            let n = a >> 1;
            let m = self.maps[map as usize]
                .get(n as usize)
                .copied()
                .unwrap_or(n);
            (m << 1) | (a & 1)
        }
    }

    fn blocked(&self, a: Act, set: u32) -> bool {
        self.sets[set as usize]
            .get((a >> 1) as usize)
            .copied()
            .unwrap_or(false)
    }

    /// The static structure of a term: parallel compositions, restrictions and
    /// relabellings at its top (constants unfolded once each), with sequential leaves.
    pub(crate) fn network(&self, t: TermId) -> Net {
        let mut leaves = Vec::new();
        let mut unfolded = Vec::new();
        let root = self.net_of(t, &mut leaves, &mut unfolded);
        Net { root, leaves }
    }

    fn net_of(&self, t: TermId, leaves: &mut Vec<TermId>, unfolded: &mut Vec<u32>) -> NetNode {
        match self.nodes[t as usize] {
            Node::Par(l) => NetNode::Par(
                self.lists[l as usize]
                    .iter()
                    .map(|&x| self.net_of(x, leaves, unfolded))
                    .collect(),
            ),
            Node::Restrict(p, s) => {
                NetNode::Restrict(Box::new(self.net_of(p, leaves, unfolded)), s)
            }
            Node::Relabel(p, m) => NetNode::Relabel(Box::new(self.net_of(p, leaves, unfolded)), m),
            Node::Var(d)
                if !unfolded.contains(&d)
                    && matches!(
                        self.nodes[self.defs[d as usize] as usize],
                        Node::Par(_) | Node::Restrict(..) | Node::Relabel(..) | Node::Var(_)
                    ) =>
            {
                unfolded.push(d);
                let n = self.net_of(self.defs[d as usize], leaves, unfolded);
                unfolded.pop();
                n
            }
            _ => {
                leaves.push(t);
                NetNode::Leaf(leaves.len() - 1)
            }
        }
    }

    /// Action maps from each leaf of `net` up to the root, and the synchronising pairs: the
    /// pairs of leaves under a common parallel composition where one can perform an action
    /// and the other its complement (by their sorts, see [`Semantics::sorts`]).
    pub(crate) fn wiring(&self, net: &Net) -> Wiring {
        let acts = self.num_acts();
        let sorts = self.sorts(&net.leaves);
        let mut pairs = Vec::new();
        let tops = self.wire(&net.root, acts, &sorts, &mut pairs);
        let mut to_root = vec![Vec::new(); net.leaves.len()];
        for (leaf, map) in tops {
            to_root[leaf] = map;
        }
        Wiring { to_root, pairs }
    }

    /// For each term of `roots`, its sort: the visible actions it or any term it can
    /// become may perform (an over-approximation read off the syntax: the least fixed
    /// point over the terms reachable through prefixes, sums, parallel compositions,
    /// constants, restrictions and relabellings), sorted.
    pub(crate) fn sorts(&self, roots: &[TermId]) -> Vec<Vec<Act>> {
        let words = self.num_acts().div_ceil(64).max(1);
        // The terms reachable from the roots, in depth-first post-order.
        let mut index: FxHashMap<TermId, usize> = FxHashMap::default();
        let mut order: Vec<TermId> = Vec::new();
        let mut stack: Vec<(TermId, bool)> = roots.iter().map(|&t| (t, false)).collect();
        while let Some((t, done)) = stack.pop() {
            if done {
                index.insert(t, order.len());
                order.push(t);
                continue;
            }
            if index.contains_key(&t) || order.len() > u32::MAX as usize {
                continue;
            }
            // Mark as being visited (usize::MAX) so cycles stop here.
            if index.insert(t, usize::MAX).is_some() {
                continue;
            }
            stack.push((t, true));
            for c in self.children(t) {
                if !index.contains_key(&c) {
                    stack.push((c, false));
                }
            }
        }
        let mut bits = vec![0u64; order.len() * words];
        let mut scratch = vec![0u64; words];
        loop {
            let mut changed = false;
            for (k, &t) in order.iter().enumerate() {
                scratch.fill(0);
                let set = |s: &mut [u64], a: Act| {
                    if a != TAU && a != NONE {
                        if let Some(w) = s.get_mut(a as usize / 64) {
                            *w |= 1 << (a % 64);
                        }
                    }
                };
                let child = |c: TermId| index.get(&c).copied().filter(|&i| i != usize::MAX);
                match self.nodes[t as usize] {
                    Node::Nil => {}
                    Node::Prefix(a, p) => {
                        set(&mut scratch, a);
                        if let Some(i) = child(p) {
                            for (x, y) in scratch.iter_mut().zip(&bits[i * words..]) {
                                *x |= y;
                            }
                        }
                    }
                    Node::Sum(l) | Node::Par(l) => {
                        for &c in self.lists[l as usize].iter() {
                            if let Some(i) = child(c) {
                                for (x, y) in scratch.iter_mut().zip(&bits[i * words..]) {
                                    *x |= y;
                                }
                            }
                        }
                    }
                    Node::Var(d) => {
                        if let Some(i) = child(self.defs[d as usize]) {
                            scratch.copy_from_slice(&bits[i * words..(i + 1) * words]);
                        }
                    }
                    Node::Restrict(p, r) => {
                        if let Some(i) = child(p) {
                            scratch.copy_from_slice(&bits[i * words..(i + 1) * words]);
                            for a in 1..(words * 64) as Act {
                                if self.blocked(a, r) {
                                    scratch[a as usize / 64] &= !(1 << (a % 64));
                                }
                            }
                        }
                    }
                    Node::Relabel(p, m) => {
                        if let Some(i) = child(p) {
                            for a in 1..(words * 64) as Act {
                                if bits[i * words + a as usize / 64] >> (a % 64) & 1 == 1 {
                                    set(&mut scratch, self.relabel(a, m));
                                }
                            }
                        }
                    }
                }
                let mine = &mut bits[k * words..(k + 1) * words];
                for (x, y) in mine.iter_mut().zip(&scratch) {
                    if *y & !*x != 0 {
                        *x |= y;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        roots
            .iter()
            .map(|t| {
                let k = index.get(t).copied().unwrap_or(usize::MAX);
                if k == usize::MAX {
                    return Vec::new();
                }
                (0..(words * 64) as Act)
                    .filter(|&a| bits[k * words + a as usize / 64] >> (a % 64) & 1 == 1)
                    .collect()
            })
            .collect()
    }

    /// The terms a term is built from (a constant's body for a constant).
    fn children(&self, t: TermId) -> Vec<TermId> {
        match self.nodes[t as usize] {
            Node::Nil => Vec::new(),
            Node::Prefix(_, p) | Node::Restrict(p, _) | Node::Relabel(p, _) => vec![p],
            Node::Sum(l) | Node::Par(l) => self.lists[l as usize].to_vec(),
            Node::Var(d) => vec![self.defs[d as usize]],
        }
    }

    fn wire(
        &self,
        n: &NetNode,
        acts: usize,
        sorts: &[Vec<Act>],
        pairs: &mut Vec<SyncPair>,
    ) -> Vec<(usize, Vec<Act>)> {
        match n {
            NetNode::Leaf(i) => vec![(*i, (0..u32::try_from(acts).unwrap_or(u32::MAX)).collect())],
            NetNode::Restrict(c, s) => {
                let mut v = self.wire(c, acts, sorts, pairs);
                for (_, m) in &mut v {
                    for a in m.iter_mut() {
                        if *a != NONE && *a != TAU && self.blocked(*a, *s) {
                            *a = NONE;
                        }
                    }
                }
                v
            }
            NetNode::Relabel(c, r) => {
                let mut v = self.wire(c, acts, sorts, pairs);
                for (_, m) in &mut v {
                    for a in m.iter_mut() {
                        if *a != NONE {
                            *a = self.relabel(*a, *r);
                        }
                    }
                }
                v
            }
            NetNode::Par(cs) => {
                let parts: Vec<Vec<(usize, Vec<Act>)>> = cs
                    .iter()
                    .map(|c| self.wire(c, acts, sorts, pairs))
                    .collect();
                // Each leaf's visible actions as seen here, sorted, and its map shared by
                // all its pairs.
                let seen: Vec<Vec<Vec<Act>>> = parts
                    .iter()
                    .map(|part| {
                        part.iter()
                            .map(|(leaf, m)| {
                                let mut v: Vec<Act> = sorts[*leaf]
                                    .iter()
                                    .map(|&a| m.get(a as usize).copied().unwrap_or(NONE))
                                    .filter(|&a| a != NONE && a != TAU)
                                    .collect();
                                v.sort_unstable();
                                v.dedup();
                                v
                            })
                            .collect()
                    })
                    .collect();
                let mut shared: Vec<Vec<Option<Rc<[Act]>>>> =
                    parts.iter().map(|p| vec![None; p.len()]).collect();
                let mut share = |x: usize, k: usize, m: &Vec<Act>| -> Rc<[Act]> {
                    shared[x][k]
                        .get_or_insert_with(|| Rc::from(m.as_slice()))
                        .clone()
                };
                for x in 0..parts.len() {
                    for y in x + 1..parts.len() {
                        for (ki, (i, mi)) in parts[x].iter().enumerate() {
                            for (kj, (j, mj)) in parts[y].iter().enumerate() {
                                // Only pairs that can ever meet.
                                let sj = &seen[y][kj];
                                let can = seen[x][ki]
                                    .iter()
                                    .any(|&a| sj.binary_search(&(a ^ 1)).is_ok());
                                if can {
                                    pairs.push(SyncPair {
                                        i: *i,
                                        j: *j,
                                        map_i: share(x, ki, mi),
                                        map_j: share(y, kj, mj),
                                    });
                                }
                            }
                        }
                    }
                }
                parts.into_iter().flatten().collect()
            }
        }
    }
}

/// "No action": the action is blocked by a restriction.
pub(crate) const NONE: Act = u32::MAX;

/// The static top of a term (see [`Semantics::network`]).
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) root: NetNode,
    /// The initial term of each leaf.
    pub(crate) leaves: Vec<TermId>,
}

#[derive(Debug)]
pub(crate) enum NetNode {
    Leaf(usize),
    Par(Vec<NetNode>),
    Restrict(Box<NetNode>, u32),
    Relabel(Box<NetNode>, u32),
}

/// Two leaves under a common parallel composition, with the maps of their actions up to it.
#[derive(Debug)]
pub(crate) struct SyncPair {
    pub(crate) i: usize,
    pub(crate) j: usize,
    pub(crate) map_i: Rc<[Act]>,
    pub(crate) map_j: Rc<[Act]>,
}

/// How the leaves of a network are wired (see [`Semantics::wiring`]).
#[derive(Debug)]
pub(crate) struct Wiring {
    /// Per leaf: its actions as seen at the root (`NONE` when restricted on the way).
    pub(crate) to_root: Vec<Vec<Act>>,
    pub(crate) pairs: Vec<SyncPair>,
}
