//! The global lock-order graph: edges "acquired while holding", cycle
//! search on each new edge, the kept reports; `reports`, `reset`, `to_dot`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::Ordering::*;
use std::sync::{Arc, Mutex};

use super::base::{EPOCH, Site, lock};
use super::report::{LockInfo, OrderEdge, PotentialDeadlock};

#[derive(Clone)]
pub(super) struct EdgeInfo {
    pub(super) thread: Arc<str>,
    pub(super) held_at: Site,
    pub(super) acquired_at: Site,
}

pub(super) struct Node {
    pub(super) kind: &'static str,
    /// Where the graph first saw it acquired (names it in the picture).
    pub(super) site: Site,
    pub(super) succ: BTreeMap<u64, EdgeInfo>,
    pub(super) pred: BTreeSet<u64>,
}

pub(super) struct Graph {
    pub(super) nodes: BTreeMap<u64, Node>,
    /// Reported cycles, as lock ids starting at the smallest.
    pub(super) reported: BTreeSet<Vec<u64>>,
    pub(super) reports: Vec<PotentialDeadlock>,
}

pub(super) static GRAPH: Mutex<Graph> = Mutex::new(Graph {
    nodes: BTreeMap::new(),
    reported: BTreeSet::new(),
    reports: Vec::new(),
});

impl Graph {
    pub(super) fn node(&mut self, id: u64, kind: &'static str, site: Site) -> &mut Node {
        self.nodes.entry(id).or_insert_with(|| Node {
            kind,
            site,
            succ: BTreeMap::new(),
            pred: BTreeSet::new(),
        })
    }

    /// Add `from → to`; if that closes a cycle not reported before, return
    /// its report.
    pub(super) fn add_edge(
        &mut self,
        (from, from_kind): (u64, &'static str),
        (to, to_kind): (u64, &'static str),
        edge: EdgeInfo,
    ) -> Option<PotentialDeadlock> {
        self.node(to, to_kind, edge.acquired_at);
        if self
            .node(from, from_kind, edge.held_at)
            .succ
            .contains_key(&to)
        {
            return None; // another thread recorded it first
        }
        let path = self.path(to, from);
        let (held_at, acquired_at) = (edge.held_at, edge.acquired_at);
        self.node(from, from_kind, held_at).succ.insert(to, edge);
        self.node(to, to_kind, acquired_at).pred.insert(from);
        let path = path?;
        // The cycle: from → to → … → from.
        let mut ids = vec![from, to];
        ids.extend(&path[..path.len() - 1]);
        let min = ids.iter().enumerate().min_by_key(|&(_, id)| *id).unwrap().0;
        let mut key = ids.clone();
        key.rotate_left(min);
        if !self.reported.insert(key) {
            return None;
        }
        let mut cycle = Vec::with_capacity(ids.len());
        for (i, &a) in ids.iter().enumerate() {
            let b = ids[(i + 1) % ids.len()];
            let e = &self.nodes[&a].succ[&b];
            cycle.push(OrderEdge {
                from: self.info(a),
                to: self.info(b),
                thread: e.thread.to_string(),
                held_at: e.held_at,
                acquired_at: e.acquired_at,
            });
        }
        let report = PotentialDeadlock { cycle };
        self.reports.push(report.clone());
        Some(report)
    }

    pub(super) fn info(&self, id: u64) -> LockInfo {
        LockInfo {
            id,
            kind: self.nodes[&id].kind,
        }
    }

    /// A path `start → … → goal` (the nodes after `start`, ending at
    /// `goal`), breadth-first so the reported cycle is a shortest one.
    pub(super) fn path(&self, start: u64, goal: u64) -> Option<Vec<u64>> {
        let mut parent: HashMap<u64, u64> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(n) = queue.pop_front() {
            if n == goal {
                let mut path = vec![goal];
                let mut at = goal;
                while at != start {
                    at = parent[&at];
                    path.push(at);
                }
                path.pop(); // start
                path.reverse();
                return Some(path);
            }
            for &s in self
                .nodes
                .get(&n)
                .map(|n| n.succ.keys())
                .into_iter()
                .flatten()
            {
                if s != start && !parent.contains_key(&s) {
                    parent.insert(s, n);
                    queue.push_back(s);
                }
            }
        }
        None
    }

    /// A dropped lock: remove it and its edges.
    pub(super) fn forget(&mut self, id: u64) {
        if let Some(node) = self.nodes.remove(&id) {
            for p in node.pred {
                if let Some(n) = self.nodes.get_mut(&p) {
                    n.succ.remove(&id);
                }
            }
            for s in node.succ.keys() {
                if let Some(n) = self.nodes.get_mut(s) {
                    n.pred.remove(&id);
                }
            }
        }
    }
}

/// Every potential deadlock reported so far in this process (since the last
/// [`reset`]), in both modes. No Python equivalent.
///
/// ```
/// let before = gilfree::deadlock::reports().len();
/// # let _ = before;
/// ```
pub fn reports() -> Vec<PotentialDeadlock> {
    lock(&GRAPH).reports.clone()
}

/// Forget the lock-order graph and the reports (for tests: each starts from
/// an empty graph). Locks keep their ids and threads their held locks; the
/// edges already recorded are recorded again as they recur.
///
/// ```
/// gilfree::deadlock::reset();
/// assert!(gilfree::deadlock::to_dot().contains("digraph"));
/// ```
pub fn reset() {
    let mut g = lock(&GRAPH);
    g.nodes.clear();
    g.reported.clear();
    g.reports.clear();
    EPOCH.fetch_add(1, Relaxed);
}

/// The lock-order graph in Graphviz DOT: a node per lock, an edge per
/// "acquired while holding" (labelled with thread and site), and every
/// reported cycle in red. Render it with `dot -Tsvg`. No Python equivalent.
///
/// ```
/// use gilfree::threading::Lock;
/// let (a, b) = (Lock::new(()), Lock::new(()));
/// { let _a = a.acquire(); let _b = b.acquire(); }
/// let dot = gilfree::deadlock::to_dot();
/// assert!(dot.starts_with("digraph"));
/// assert!(dot.contains("->"));
/// ```
pub fn to_dot() -> String {
    let g = lock(&GRAPH);
    let mut hot: HashSet<(u64, u64)> = HashSet::new();
    let mut hot_nodes: HashSet<u64> = HashSet::new();
    for r in &g.reports {
        for e in &r.cycle {
            hot.insert((e.from.id, e.to.id));
            hot_nodes.insert(e.from.id);
        }
    }
    let mut s = String::from("digraph gilfree_lock_order {\n");
    s.push_str("  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    s.push_str("  edge [fontname=\"monospace\", fontsize=10];\n");
    for (&id, n) in &g.nodes {
        let color = if hot_nodes.contains(&id) {
            ", color=red, fontcolor=red, penwidth=2"
        } else {
            ""
        };
        let label = escape(&format!("{}#{id}\nfirst seen at {}", n.kind, n.site));
        let _ = writeln!(s, "  n{id} [label=\"{label}\"{color}];");
    }
    for (&id, n) in &g.nodes {
        for (&to, e) in &n.succ {
            let label = escape(&format!(
                "thread {:?}\nholding at {}\nacquired at {}",
                e.thread, e.held_at, e.acquired_at
            ));
            let color = if hot.contains(&(id, to)) {
                ", color=red, fontcolor=red, penwidth=2.5"
            } else {
                ""
            };
            let _ = writeln!(s, "  n{id} -> n{to} [label=\"{label}\"{color}];");
        }
    }
    s.push_str("}\n");
    s
}

pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\l"),
            c => out.push(c),
        }
    }
    out.push_str("\\l");
    out
}
