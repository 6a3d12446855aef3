//! The detector (feature `deadlock-detection`): per-lock tags, per-thread
//! held stacks, the global lock-order graph, the wait-for check.
//!
//! # Where the state lives, and what it costs
//!
//! - Each lock's [`Tag`]: its id (assigned at first acquisition from a
//!   global counter, never reused) and its current owner (a thread serial,
//!   0 for none). Written by the acquiring/releasing thread only, next to
//!   the lock word: no shared cache line beyond the lock's own.
//! - Each thread's `Local` (a thread-local): the stack of locks it holds
//!   with their acquisition sites, and a cache of the lock-order edges it
//!   has already recorded. An acquisition whose edges are all cached (the
//!   steady state of a program) touches no global state at all.
//! - The global [`Graph`] (a mutex): only locked when a thread records an
//!   edge new to it, and by [`to_dot`]/[`reports`]/[`reset`].
//! - The thread registry (a mutex): touched when a thread first uses a
//!   lock, when it exits, on a release by a thread that does not hold the
//!   lock (Python's Lock allows it), and by [`check`]. Each thread's
//!   "waiting on" record has its own mutex, taken only on the futex-sleeping
//!   slow path and by [`check`].
//!
//! # Why `check` may read a lock it does not own
//!
//! A thread publishes a pointer to the tag of the lock it waits on, under
//! its `waiting` mutex, and clears it under the same mutex before its
//! acquire call returns. The lock is borrowed by that call, so it outlives
//! the record; [`check`] dereferences the pointer only while holding the
//! mutex.
//!
//! # What is best-effort
//!
//! A [`check`] is a snapshot of a moving system; a cycle is returned only
//! if a second look finds the same waits (same wait serials, same owners).
//! A real deadlock does not move, so it is always confirmed. A Lock released
//! by a thread that does not hold it (a Lock used as a signal) is removed
//! from its holder's stack at the holder's next hook.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

type Site = &'static Location<'static>;

/// Whether the hooks do anything (for callers that must skip work, like
/// RLock's ownership check, when they do not).
pub(crate) const ENABLED: bool = true;

static NEXT_LOCK_ID: AtomicU64 = AtomicU64::new(1);
static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);
/// Bumped by [`reset`]; a thread whose edge cache is older clears it.
static EPOCH: AtomicU64 = AtomicU64::new(0);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these (none is expected: reports panic
    // after unlocking) must not disable the detector.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------- mode

/// What happens when a potential deadlock is found: the environment variable
/// `GILFREE_DEADLOCK=warn|panic`, or [`set_mode`]. No Python equivalent.
///
/// ```
/// use gilfree::deadlock::{Mode, mode, set_mode};
/// set_mode(Mode::Warn);
/// assert_eq!(mode(), Mode::Warn);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Print the report to stderr and go on (the default).
    Warn,
    /// Panic in the thread whose acquisition closed the cycle, before it
    /// blocks.
    Panic,
}

const MODE_UNSET: u8 = 0;
const MODE_WARN: u8 = 1;
const MODE_PANIC: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(MODE_UNSET);

/// The current [`Mode`]. Unless [`set_mode`] was called, read once from
/// `GILFREE_DEADLOCK` (`warn` or `panic`; unset means `warn`; any other
/// value means `warn`, with a note on stderr).
///
/// ```
/// let _ = gilfree::deadlock::mode();
/// ```
pub fn mode() -> Mode {
    let m = match MODE.load(Relaxed) {
        MODE_UNSET => {
            let from_env = match std::env::var("GILFREE_DEADLOCK") {
                Ok(v) if v.eq_ignore_ascii_case("panic") => MODE_PANIC,
                Ok(v) if v.is_empty() || v.eq_ignore_ascii_case("warn") => MODE_WARN,
                Ok(v) => {
                    eprintln!("gilfree: GILFREE_DEADLOCK={v:?} is not warn|panic; using warn");
                    MODE_WARN
                }
                Err(_) => MODE_WARN,
            };
            // A concurrent set_mode wins over the environment.
            match MODE.compare_exchange(MODE_UNSET, from_env, Relaxed, Relaxed) {
                Ok(_) => from_env,
                Err(set) => set,
            }
        }
        m => m,
    };
    if m == MODE_PANIC {
        Mode::Panic
    } else {
        Mode::Warn
    }
}

/// Choose what happens on a report, overriding `GILFREE_DEADLOCK` (for the
/// whole process). No Python equivalent.
///
/// ```
/// gilfree::deadlock::set_mode(gilfree::deadlock::Mode::Panic);
/// # gilfree::deadlock::set_mode(gilfree::deadlock::Mode::Warn);
/// ```
pub fn set_mode(mode: Mode) {
    MODE.store(
        match mode {
            Mode::Warn => MODE_WARN,
            Mode::Panic => MODE_PANIC,
        },
        Relaxed,
    );
}

// ---------------------------------------------------------------- tags

/// A lock's identity and owner, embedded in each owned lock.
#[derive(Debug, Default)]
pub(crate) struct Tag {
    /// 0 until the first acquisition, then a unique id.
    id: AtomicU64,
    /// The serial of the holding thread, 0 when free.
    owner: AtomicU64,
}

impl Tag {
    pub(crate) const fn new() -> Tag {
        Tag {
            id: AtomicU64::new(0),
            owner: AtomicU64::new(0),
        }
    }

    #[inline]
    fn id(&self) -> u64 {
        match self.id.load(Relaxed) {
            0 => self.assign_id(),
            id => id,
        }
    }

    #[cold]
    fn assign_id(&self) -> u64 {
        let new = NEXT_LOCK_ID.fetch_add(1, Relaxed);
        match self.id.compare_exchange(0, new, Relaxed, Relaxed) {
            Ok(_) => new,
            Err(winner) => winner,
        }
    }
}

impl Drop for Tag {
    fn drop(&mut self) {
        let id = *self.id.get_mut();
        if id != 0 {
            lock(&GRAPH).forget(id);
        }
    }
}

/// `acquire_all`'s order: the lock's id.
#[inline]
pub(crate) fn order_key(tag: &Tag, _addr: usize) -> u64 {
    tag.id()
}

// ---------------------------------------------------------------- threads

struct Waiting {
    tag: *const Tag,
    id: u64,
    kind: &'static str,
    site: Site,
    seq: u64,
}

// SAFETY: the pointer is only dereferenced under the `waiting` mutex, while
// the waiting thread's acquire call (which borrows the lock) is running; see
// the module comment.
unsafe impl Send for Waiting {}

struct ThreadInfo {
    serial: u64,
    name: Arc<str>,
    waiting: Mutex<Option<Waiting>>,
    /// Locks this thread holds that another thread released.
    foreign: Mutex<Vec<u64>>,
    has_foreign: AtomicBool,
}

static REGISTRY: Mutex<BTreeMap<u64, Arc<ThreadInfo>>> = Mutex::new(BTreeMap::new());

struct Held {
    id: u64,
    kind: &'static str,
    site: Site,
}

struct Local {
    info: Arc<ThreadInfo>,
    held: Vec<Held>,
    known: IdSet,
    epoch: u64,
    wait_seq: u64,
}

impl Local {
    fn new() -> Local {
        let t = std::thread::current();
        let name: Arc<str> = match t.name() {
            Some(n) => n.into(),
            None => format!("<unnamed {:?}>", t.id()).into(),
        };
        let info = Arc::new(ThreadInfo {
            serial: NEXT_THREAD.fetch_add(1, Relaxed),
            name,
            waiting: Mutex::new(None),
            foreign: Mutex::new(Vec::new()),
            has_foreign: AtomicBool::new(false),
        });
        lock(&REGISTRY).insert(info.serial, info.clone());
        Local {
            info,
            held: Vec::new(),
            known: IdSet::default(),
            epoch: EPOCH.load(Relaxed),
            wait_seq: 0,
        }
    }

    /// Forget the locks other threads released for us.
    #[inline]
    fn drain_foreign(&mut self) {
        if self.info.has_foreign.load(Acquire) {
            self.drain_foreign_slow();
        }
    }

    #[cold]
    fn drain_foreign_slow(&mut self) {
        self.info.has_foreign.store(false, Relaxed);
        let ids = std::mem::take(&mut *lock(&self.info.foreign));
        for id in ids {
            // The oldest entry: a re-acquisition may already be on top.
            if let Some(pos) = self.held.iter().position(|h| h.id == id) {
                self.held.remove(pos);
            }
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        lock(&REGISTRY).remove(&self.info.serial);
    }
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Run `f` on this thread's state; `None` while the thread-local is being
/// destroyed (a lock taken in another thread-local's destructor).
#[inline]
fn with_local<R>(f: impl FnOnce(&mut Local) -> R) -> Option<R> {
    LOCAL
        .try_with(|l| {
            let mut l = l.borrow_mut();
            match &mut *l {
                Some(l) => f(l),
                None => f(init_local(&mut l)),
            }
        })
        .ok()
}

#[cold]
#[inline(never)]
fn init_local(slot: &mut Option<Local>) -> &mut Local {
    slot.insert(Local::new())
}

/// The edge cache's hasher: lock ids are small unique integers, so one
/// multiply mixes enough (SipHash cost more than the rest of a hook).
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(26) ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdSet = HashSet<(u64, u64), std::hash::BuildHasherDefault<IdHasher>>;

// ---------------------------------------------------------------- hooks

/// Before acquiring: record the edges held → this lock; report a cycle they
/// close (before blocking). A try never waits, so it records nothing.
#[track_caller]
pub(crate) fn before_acquire(tag: &Tag, kind: &'static str, blocking: bool) {
    let id = tag.id();
    if blocking {
        record(id, kind, Location::caller(), true);
    }
}

/// [`before_acquire`] for a lock taken back inside an operation that cannot
/// stop half-way (a `Condition` wait reacquiring its lock): it reports, but
/// never panics, since the caller's guard must get its lock back.
#[track_caller]
#[allow(dead_code)] // for Condition
pub(crate) fn before_reacquire(tag: &Tag, kind: &'static str) {
    record(tag.id(), kind, Location::caller(), false);
}

fn record(id: u64, kind: &'static str, site: Site, may_panic: bool) {
    let found = with_local(|l| {
        l.drain_foreign();
        if l.held.is_empty() {
            return Vec::new();
        }
        let epoch = EPOCH.load(Relaxed);
        if l.epoch != epoch || l.known.len() > 4096 {
            l.known.clear();
            l.epoch = epoch;
        }
        let mut found = Vec::new();
        let mut graph = None;
        for h in &l.held {
            if h.id == id || !l.known.insert((h.id, id)) {
                continue;
            }
            let g = graph.get_or_insert_with(|| lock(&GRAPH));
            let edge = EdgeInfo {
                thread: l.info.name.clone(),
                held_at: h.site,
                acquired_at: site,
            };
            if let Some(r) = g.add_edge((h.id, h.kind), (id, kind), edge) {
                found.push(r);
            }
        }
        found
    })
    .unwrap_or_default();
    if let Some(first) = found.first() {
        // Panicking while unwinding would abort: report then as in warn mode.
        if may_panic && mode() == Mode::Panic && !std::thread::panicking() {
            panic!("{first}");
        }
        for r in &found {
            eprintln!("{r}");
        }
    }
}

/// After acquiring: push on the held stack, record the owner.
#[track_caller]
pub(crate) fn acquired(tag: &Tag, kind: &'static str) {
    let id = tag.id();
    let site = Location::caller();
    with_local(|l| {
        l.drain_foreign();
        l.held.push(Held { id, kind, site });
        tag.owner.store(l.info.serial, Relaxed);
    });
}

/// Before releasing the lock word: pop from the holder's stack.
pub(crate) fn released(tag: &Tag) {
    let id = tag.id.load(Relaxed);
    if id == 0 {
        return;
    }
    let owner = tag.owner.swap(0, Relaxed);
    let mine = with_local(|l| {
        // Usually the most recent acquisition (guards nest).
        if l.held.last().is_some_and(|h| h.id == id) {
            l.held.pop();
            return true;
        }
        match l.held.iter().rposition(|h| h.id == id) {
            Some(pos) => {
                l.held.remove(pos);
                true
            }
            None => false,
        }
    });
    if mine == Some(false) && owner != 0 {
        released_for(owner, id);
    }
}

/// A release by a thread that does not hold the lock: tell the holder.
#[cold]
fn released_for(owner: u64, id: u64) {
    let info = lock(&REGISTRY).get(&owner).cloned();
    if let Some(info) = info {
        lock(&info.foreign).push(id);
        info.has_foreign.store(true, Release);
    }
}

/// About to sleep on the lock's futex: publish what we wait on.
#[track_caller]
pub(crate) fn wait_begin(tag: &Tag, kind: &'static str) {
    let site = Location::caller();
    let id = tag.id();
    with_local(|l| {
        l.wait_seq += 1;
        *lock(&l.info.waiting) = Some(Waiting {
            tag,
            id,
            kind,
            site,
            seq: l.wait_seq,
        });
    });
}

/// Done waiting (acquired or timed out).
pub(crate) fn wait_end() {
    with_local(|l| *lock(&l.info.waiting) = None);
}

// ---------------------------------------------------------------- graph

#[derive(Clone)]
struct EdgeInfo {
    thread: Arc<str>,
    held_at: Site,
    acquired_at: Site,
}

struct Node {
    kind: &'static str,
    /// Where the graph first saw it acquired (names it in the picture).
    site: Site,
    succ: BTreeMap<u64, EdgeInfo>,
    pred: BTreeSet<u64>,
}

struct Graph {
    nodes: BTreeMap<u64, Node>,
    /// Reported cycles, as lock ids starting at the smallest.
    reported: BTreeSet<Vec<u64>>,
    reports: Vec<PotentialDeadlock>,
}

static GRAPH: Mutex<Graph> = Mutex::new(Graph {
    nodes: BTreeMap::new(),
    reported: BTreeSet::new(),
    reports: Vec::new(),
});

impl Graph {
    fn node(&mut self, id: u64, kind: &'static str, site: Site) -> &mut Node {
        self.nodes.entry(id).or_insert_with(|| Node {
            kind,
            site,
            succ: BTreeMap::new(),
            pred: BTreeSet::new(),
        })
    }

    /// Add `from → to`; if that closes a cycle not reported before, return
    /// its report.
    fn add_edge(
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

    fn info(&self, id: u64) -> LockInfo {
        LockInfo {
            id,
            kind: self.nodes[&id].kind,
        }
    }

    /// A path `start → … → goal` (the nodes after `start`, ending at
    /// `goal`), breadth-first so the reported cycle is a shortest one.
    fn path(&self, start: u64, goal: u64) -> Option<Vec<u64>> {
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
    fn forget(&mut self, id: u64) {
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

// ---------------------------------------------------------------- reports

/// A lock as the detector names it: `Lock#3`. No Python equivalent.
///
/// ```
/// use gilfree::threading::Lock;
/// gilfree::deadlock::set_mode(gilfree::deadlock::Mode::Warn);
/// let (a, b) = (Lock::new(()), Lock::new(()));
/// { let _a = a.acquire(); let _b = b.acquire(); }
/// { let _b = b.acquire(); let _a = a.acquire(); }
/// let report = gilfree::deadlock::reports().pop().unwrap();
/// assert_eq!(report.cycle[0].from.kind, "Lock");
/// assert!(report.cycle[0].from.to_string().starts_with("Lock#"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LockInfo {
    /// The lock's id: given at its first acquisition, never reused.
    pub id: u64,
    /// `"Lock"`, `"RLock"`, `"Condition"`.
    pub kind: &'static str,
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.kind, self.id)
    }
}

/// One edge of the lock-order graph: `thread` acquired `to` at
/// `acquired_at` while holding `from` (acquired at `held_at`). No Python
/// equivalent.
///
/// ```
/// use gilfree::threading::Lock;
/// let (a, b) = (Lock::new(()), Lock::new(()));
/// let _a = a.acquire();
/// let _b = b.acquire(); // records the edge a -> b
/// assert!(gilfree::deadlock::to_dot().contains("->"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderEdge {
    /// The lock that was held.
    pub from: LockInfo,
    /// The lock that was acquired.
    pub to: LockInfo,
    /// The acquiring thread's name (`<unnamed ThreadId(n)>` if it has none).
    pub thread: String,
    /// Where `from` had been acquired.
    pub held_at: &'static Location<'static>,
    /// Where `to` was acquired.
    pub acquired_at: &'static Location<'static>,
}

impl fmt::Display for OrderEdge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "thread '{}' acquired {} at {} while holding {} (acquired at {})",
            self.thread, self.to, self.acquired_at, self.from, self.held_at
        )
    }
}

/// A potential deadlock: a cycle in the lock-order graph. Python has none
/// (this is Linux lockdep's "possible circular locking dependency").
///
/// `cycle[0]` is the acquisition that closed the cycle (the one reported,
/// before it blocked); the others are the earlier acquisitions it
/// conflicts with, in cycle order, so `cycle[i].to == cycle[i + 1].from`.
///
/// ```
/// use gilfree::deadlock::{Mode, reports, set_mode};
/// use gilfree::threading::Lock;
///
/// set_mode(Mode::Warn);
/// let (a, b) = (Lock::new(()), Lock::new(()));
/// { let _a = a.acquire(); let _b = b.acquire(); }
/// { let _b = b.acquire(); let _a = a.acquire(); } // reported, no hang
/// let r = reports().pop().unwrap();
/// assert_eq!(r.cycle.len(), 2);
/// println!("{r}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PotentialDeadlock {
    /// The edges of the cycle, the closing one first.
    pub cycle: Vec<OrderEdge>,
}

impl fmt::Display for PotentialDeadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "gilfree: potential deadlock (lock-order inversion), reported before blocking:"
        )?;
        for (i, e) in self.cycle.iter().enumerate() {
            if i == 0 {
                writeln!(
                    f,
                    "  thread '{}' is acquiring {} at {}\n    while holding {} (acquired at {})",
                    e.thread, e.to, e.acquired_at, e.from, e.held_at
                )?;
            } else {
                writeln!(
                    f,
                    "  but thread '{}' acquired {} at {}\n    while holding {} (acquired at {})",
                    e.thread, e.to, e.acquired_at, e.from, e.held_at
                )?;
            }
        }
        write!(f, "  cycle: ")?;
        for e in &self.cycle {
            write!(f, "{} -> ", e.from)?;
        }
        match self.cycle.first() {
            Some(e) => write!(f, "{}", e.from),
            None => Ok(()),
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

fn escape(text: &str) -> String {
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

// ---------------------------------------------------------------- wait-for

/// One thread of a [`WaitCycle`]: blocked on `waits_on`, which `held_by`
/// holds. No Python equivalent.
///
/// ```
/// for cycle in gilfree::deadlock::check() {
///     for t in &cycle.threads {
///         eprintln!("{} waits for {} held by {}", t.name, t.waits_on, t.held_by);
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockedThread {
    /// The blocked thread's name.
    pub name: String,
    /// The lock it waits for.
    pub waits_on: LockInfo,
    /// Where it called acquire.
    pub at: &'static Location<'static>,
    /// The name of the thread holding `waits_on` (the next in the cycle).
    pub held_by: String,
}

impl fmt::Display for BlockedThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "thread '{}' waits at {} for {}, held by thread '{}'",
            self.name, self.at, self.waits_on, self.held_by
        )
    }
}

/// An actual deadlock: threads each blocked on a lock the next one holds.
/// No Python equivalent.
///
/// ```
/// for cycle in gilfree::deadlock::check() {
///     eprintln!("{cycle}");
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitCycle {
    /// The threads in cycle order: `threads[i]` waits for
    /// `threads[i + 1]` (and the last for the first).
    pub threads: Vec<BlockedThread>,
}

impl fmt::Display for WaitCycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gilfree: deadlock, threads blocked on each other:")?;
        for t in &self.threads {
            write!(f, "\n  {t}")?;
        }
        Ok(())
    }
}

/// What each waiting thread waits on: (waiter, owner, lock, kind, site, seq).
type Snapshot = BTreeMap<u64, (u64, u64, &'static str, Site, u64)>;

fn snapshot(threads: &[Arc<ThreadInfo>]) -> Snapshot {
    let mut snap = BTreeMap::new();
    for t in threads {
        let w = lock(&t.waiting);
        if let Some(w) = &*w {
            // SAFETY: see `Waiting`: the record is set, under this mutex, so
            // the waiter is still inside the acquire call borrowing the lock.
            let owner = unsafe { (*w.tag).owner.load(Relaxed) };
            if owner != 0 {
                snap.insert(t.serial, (owner, w.id, w.kind, w.site, w.seq));
            }
        }
    }
    snap
}

/// The cycles of threads blocked right now on locks held by each other
/// (actual deadlocks), each with every thread's name and what it waits on.
/// Empty if there is none. No Python equivalent (`faulthandler` dumps the
/// stacks of a hung program; this names the cycle).
///
/// Only threads blocked in gilfree locks with owners are seen. It is a
/// snapshot, confirmed by a second look, so a transient wait is not
/// reported; a real deadlock does not move and is.
///
/// ```
/// assert!(gilfree::deadlock::check().is_empty());
/// ```
pub fn check() -> Vec<WaitCycle> {
    let threads: Vec<Arc<ThreadInfo>> = lock(&REGISTRY).values().cloned().collect();
    let names: HashMap<u64, Arc<str>> =
        threads.iter().map(|t| (t.serial, t.name.clone())).collect();
    let first = snapshot(&threads);
    let mut cycles = Vec::new();
    let mut done: HashSet<u64> = HashSet::new();
    for &start in first.keys() {
        // Follow waiter → owner until we leave the waiters, revisit a
        // finished walk, or close a loop.
        let mut path: Vec<u64> = Vec::new();
        let mut at = start;
        while !done.contains(&at) {
            if let Some(pos) = path.iter().position(|&p| p == at) {
                let ring = path[pos..].to_vec();
                cycles.push(ring);
                break;
            }
            path.push(at);
            match first.get(&at) {
                Some(&(owner, ..)) => at = owner,
                None => break,
            }
        }
        done.extend(path);
    }
    if cycles.is_empty() {
        return Vec::new();
    }
    let second = snapshot(&threads);
    let name = |s: u64| -> String {
        names
            .get(&s)
            .map(|n| n.to_string())
            .unwrap_or_else(|| format!("<exited thread {s}>"))
    };
    cycles
        .into_iter()
        .filter(|ring| ring.iter().all(|t| first.get(t) == second.get(t)))
        .map(|ring| WaitCycle {
            threads: ring
                .iter()
                .map(|t| {
                    let (owner, id, kind, site, _) = first[t];
                    BlockedThread {
                        name: name(*t),
                        waits_on: LockInfo { id, kind },
                        at: site,
                        held_by: name(owner),
                    }
                })
                .collect(),
        })
        .collect()
}

/// A thread running [`check`] periodically; stops (and is joined) when
/// dropped or [`stop`](Watchdog::stop)ped. No Python equivalent.
///
/// ```
/// use std::time::Duration;
/// let dog = gilfree::deadlock::spawn_watchdog(Duration::from_millis(10), |cycles| {
///     for c in cycles { eprintln!("{c}"); }
/// });
/// dog.stop();
/// ```
#[derive(Debug)]
pub struct Watchdog {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Stop the watchdog and wait for its thread to end.
    ///
    /// ```
    /// gilfree::deadlock::spawn_watchdog(std::time::Duration::from_secs(1), |_| {}).stop();
    /// ```
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Start a thread (named `gilfree-deadlock-watchdog`) that runs [`check`]
/// every `interval` and calls `on_deadlock` with the cycles whenever there
/// are any (every interval, for as long as they last). No Python
/// equivalent.
///
/// # Panics
/// If the OS cannot start a thread.
///
/// ```
/// use std::time::Duration;
/// let dog = gilfree::deadlock::spawn_watchdog(Duration::from_secs(5), |cycles| {
///     for c in cycles { eprintln!("{c}"); }
/// });
/// drop(dog); // stops it
/// ```
pub fn spawn_watchdog(
    interval: Duration,
    mut on_deadlock: impl FnMut(&[WaitCycle]) + Send + 'static,
) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("gilfree-deadlock-watchdog".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(interval) {
                let cycles = check();
                if !cycles.is_empty() {
                    on_deadlock(&cycles);
                }
            }
        })
        .expect("failed to spawn the deadlock watchdog thread");
    Watchdog {
        stop: Some(tx),
        thread: Some(thread),
    }
}
