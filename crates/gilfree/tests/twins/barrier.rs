//! The `Barrier` cases (CPython's `lock_tests.py` `BarrierTests`, gilfree
//! specifics, and the many-cycle stress), written once: generic over the
//! world (threads or processes).
//!
//! CPython's tests give every barrier a 2 s default timeout as a safety net;
//! here the barriers block without one (a bug shows as a hang in the test
//! runner, never as a timing-dependent failure), except where the timeout
//! is what is being tested.

use std::time::Duration;

use gilfree::threading::Error;

use super::world::*;

const N: usize = 5;

/// Both barriers, in both worlds, as the bodies use them.
pub trait BarrierOps: Send + Sync + 'static {
    fn wait(&self) -> Result<usize, Error>;
    fn wait_timeout(&self, t: Duration) -> Result<usize, Error>;
    fn reset(&self);
    fn abort(&self);
    fn parties(&self) -> usize;
    fn n_waiting(&self) -> usize;
    fn broken(&self) -> bool;
}

/// What a case's barrier does when the last party arrives.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum Action {
    None,
    /// Count the runs in [`ACTIONS`].
    Count,
    /// Panic (which breaks the barrier).
    Panic,
    /// Record `n_waiting` and `broken` as the action sees them, in
    /// [`SEEN_WAITING`] and [`SEEN_BROKEN`].
    ReadState,
}

/// What the action of `a` does to the cells (`b` is the barrier itself,
/// for [`Action::ReadState`]).
pub fn act<C: Cells>(action: Action, c: &C, b: &impl BarrierOps) {
    match action {
        Action::None => {}
        Action::Count => {
            c.add(ACTIONS, 1);
        }
        Action::Panic => panic!("action failed"),
        Action::ReadState => {
            c.set(SEEN_WAITING, b.n_waiting() as u64 + 1);
            c.set(SEEN_BROKEN, b.broken() as u64 + 1);
        }
    }
}

/// A world with barriers.
pub trait BarrierWorld: World + Sized + Clone {
    type Barrier: BarrierOps;
    /// Whether `Barrier(parties)` is refused (Python's `ValueError`).
    fn refuses(&self, parties: usize) -> bool;
    /// `Barrier(parties, action, timeout)`; the action works on `cells`.
    fn barrier(
        &self,
        parties: usize,
        action: Action,
        timeout: Option<Duration>,
        cells: &Self::Cells,
    ) -> Self::Barrier;
    /// A party running `party(kit, arg)` (a thread, or a child process
    /// handed the kit).
    fn start_barrier(&self, kit: &BarrierKit<Self>, party: &'static str, arg: u64) -> Party;
}

/// A case's barriers (`b` is a plain one, for the case that needs two),
/// its action and cells, in its world.
pub struct BarrierKit<W: BarrierWorld> {
    pub world: W,
    pub a: W::Barrier,
    pub b: W::Barrier,
    pub action: Action,
    pub cells: W::Cells,
}

impl<W: BarrierWorld> Kit for BarrierKit<W> {
    fn start(&self, party: &'static str, arg: u64) -> Party {
        self.world.start_barrier(self, party, arg)
    }
}

fn kit_n<W: BarrierWorld>(
    w: &W,
    parties: usize,
    action: Action,
    timeout: Option<Duration>,
    cells: usize,
) -> BarrierKit<W> {
    let cells = w.cells_n(cells);
    BarrierKit {
        world: w.clone(),
        a: w.barrier(parties, action, timeout, &cells),
        b: w.barrier(parties, Action::None, None, &cells),
        action,
        cells,
    }
}

fn kit<W: BarrierWorld>(w: &W, parties: usize, action: Action) -> BarrierKit<W> {
    kit_n(w, parties, action, None, CELLS)
}

// Cells of the cases.
/// Action runs.
pub const ACTIONS: usize = 0;
/// What the state-reading action saw (plus one: 0 is "not run").
pub const SEEN_WAITING: usize = 1;
pub const SEEN_BROKEN: usize = 2;
/// The multipass case's two counters.
const R0: usize = 3;
const R1: usize = 4;
/// Passes of the multipass case; cycles and parties of the stress.
const PASSES: usize = 5;
const CYCLES: usize = 6;
const PARTIES: usize = 7;
/// The stress's record of indices: `SEEN + cycle * parties + index`.
const SEEN: usize = 8;

/// Results of the parties that say how they left.
const PASSED: u64 = 1;
const BROKEN: u64 = 2;
const ABORTED: u64 = 3;
const RESET: u64 = 4;

fn outcome(r: Result<usize, Error>) -> u64 {
    match r {
        Ok(_) => PASSED,
        Err(Error::BrokenBarrier) => BROKEN,
        Err(e) => panic!("{e}"),
    }
}

/// A party body, by name: what a child process is told to run.
pub fn party<W: BarrierWorld>(k: &BarrierKit<W>, name: &str, arg: u64) -> u64 {
    let (b, c) = (&k.a, &k.cells);
    match name {
        "multipass" => {
            let m = b.parties() as u64;
            assert_eq!(m, N as u64);
            for i in 0..c.get(PASSES) {
                c.add(R0, 1);
                assert_eq!(c.get(R1), i * m);
                b.wait().unwrap();
                c.add(R1, 1);
                assert_eq!(c.get(R0), (i + 1) * m);
                b.wait().unwrap();
            }
            assert_eq!(b.n_waiting(), 0);
            assert!(!b.broken());
            0
        }
        "wait" => b.wait().unwrap() as u64,
        // Wait; the result as an outcome code (an error is a result here).
        "wait_outcome" => outcome(b.wait()),
        "wait_action_ran" => {
            b.wait().unwrap();
            // The action ran before anyone was released.
            assert_eq!(c.get(ACTIONS), 1);
            0
        }
        "abort_at_half" => abort_at_half(b),
        "reset_at_half" => {
            let i = b.wait().unwrap();
            let second = if i == N / 2 {
                // Wait until the other parties are all in the barrier.
                wait_until(|| b.n_waiting() >= N - 1);
                b.reset();
                RESET
            } else {
                outcome(b.wait())
            };
            // Now, pass the barrier again.
            b.wait().unwrap();
            second
        }
        "abort_and_reset" => {
            let second = abort_at_half(b);
            // Synchronise and reset: first so that everyone has left the
            // broken barrier, then so that no one enters it before the
            // reset.
            if k.b.wait().unwrap() == N / 2 {
                b.reset();
            }
            k.b.wait().unwrap();
            b.wait().unwrap();
            second
        }
        // One party is late: it only arrives once the barrier is broken,
        // so the others' short timed waits must time out (or see the
        // break).
        "late_one" => {
            let i = b.wait().unwrap();
            if i == N / 2 {
                wait_until(|| b.broken());
            }
            outcome(b.wait_timeout(Duration::from_millis(20)))
        }
        "cycles" => {
            let parties = c.get(PARTIES) as usize;
            for cycle in 0..c.get(CYCLES) as usize {
                let i = b.wait().unwrap();
                assert!(i < parties);
                // The action of this cycle has run; the next one cannot
                // have, since it needs this party to arrive again.
                assert_eq!(c.get(ACTIONS), cycle as u64 + 1);
                c.add(SEEN + cycle * parties + i, 1);
            }
            0
        }
        _ => panic!("no barrier party {name:?} ({arg})"),
    }
}

/// CPython's `try: i = wait(); if i == N//2: raise …; wait()` with the
/// `except BrokenBarrierError` / `except RuntimeError: abort()` arms. The
/// abort may come before a party of the first cycle has woken, so either
/// wait may report the break, as in CPython.
fn abort_at_half(b: &impl BarrierOps) -> u64 {
    let r = b.wait().and_then(|i| {
        if i == N / 2 {
            Ok(None)
        } else {
            b.wait().map(Some)
        }
    });
    match r {
        Ok(None) => {
            b.abort();
            ABORTED
        }
        Ok(Some(_)) => PASSED,
        Err(Error::BrokenBarrier) => BROKEN,
        Err(e) => panic!("{e}"),
    }
}

fn count(out: &[u64], what: u64) -> usize {
    out.iter().filter(|o| **o == what).count()
}

fn multipass<W: BarrierWorld>(w: &W, passes: u64) {
    let k = kit(w, N, Action::None);
    k.cells.set(PASSES, passes);
    join_all(k.start_n(N, "multipass", |_| 0));
}

pub fn barrier_test_constructor<W: BarrierWorld>(w: &W) {
    // Python: ValueError for parties < 1.
    assert!(w.refuses(0));
    let c = w.cells();
    assert_eq!(w.barrier(1, Action::None, None, &c).parties(), 1);
}

pub fn barrier_test_barrier<W: BarrierWorld>(w: &W) {
    multipass(w, 1);
}

pub fn barrier_test_barrier_10<W: BarrierWorld>(w: &W) {
    multipass(w, 10);
}

pub fn barrier_test_wait_return<W: BarrierWorld>(w: &W) {
    let k = kit(w, N, Action::None);
    let mut idx = join_all(k.start_n(N, "wait", |_| 0));
    idx.sort();
    assert_eq!(idx, (0..N as u64).collect::<Vec<_>>());
}

pub fn barrier_test_action<W: BarrierWorld>(w: &W) {
    let k = kit(w, N, Action::Count);
    join_all(k.start_n(N, "wait_action_ran", |_| 0));
    assert_eq!(k.cells.get(ACTIONS), 1);
}

pub fn barrier_test_abort<W: BarrierWorld>(w: &W) {
    let k = kit(w, N, Action::None);
    let out = join_all(k.start_n(N, "abort_at_half", |_| 0));
    assert_eq!(count(&out, PASSED), 0);
    assert_eq!(count(&out, BROKEN), N - 1);
    assert!(k.a.broken());
}

pub fn barrier_test_reset<W: BarrierWorld>(w: &W) {
    let k = kit(w, N, Action::None);
    let out = join_all(k.start_n(N, "reset_at_half", |_| 0));
    assert_eq!(count(&out, PASSED), 0);
    assert_eq!(count(&out, BROKEN), N - 1);
    assert!(!k.a.broken());
}

pub fn barrier_test_abort_and_reset<W: BarrierWorld>(w: &W) {
    let k = kit(w, N, Action::None);
    let out = join_all(k.start_n(N, "abort_and_reset", |_| 0));
    assert_eq!(count(&out, PASSED), 0);
    assert_eq!(count(&out, BROKEN), N - 1);
    assert!(!k.a.broken());
}

pub fn barrier_test_timeout<W: BarrierWorld>(w: &W) {
    let k = kit(w, N, Action::None);
    let out = join_all(k.start_n(N, "late_one", |_| 0));
    assert!(out.iter().all(|o| *o == BROKEN), "{out:?}");
    assert!(k.a.broken());
}

pub fn barrier_test_default_timeout<W: BarrierWorld>(w: &W) {
    let k = kit_n(w, 2, Action::None, Some(Duration::from_millis(100)), CELLS);
    assert_eq!(k.start("wait_outcome", 0).join(), BROKEN);
}

pub fn barrier_test_single_thread<W: BarrierWorld>(w: &W) {
    let c = w.cells();
    let b = w.barrier(1, Action::None, None, &c);
    assert_eq!(b.wait(), Ok(0));
    assert_eq!(b.wait(), Ok(0));
}

// ---- gilfree specifics ----

pub fn barrier_action_panic_breaks_barrier<W: BarrierWorld>(w: &W) {
    let k = kit(w, 3, Action::Panic);
    let results: Vec<_> = k
        .start_n(3, "wait_outcome", |_| 0)
        .into_iter()
        .map(Party::try_join)
        .collect();
    // Exactly one party ran the action and resumed its panic; the other
    // two were told the barrier broke.
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert_eq!(results.iter().filter(|r| **r == Ok(BROKEN)).count(), 2);
    let b = &k.a;
    assert!(b.broken());
    assert_eq!(b.n_waiting(), 0);
    // The state lock was released on unwind: the barrier still answers.
    b.reset();
    assert!(!b.broken());
}

/// Python reads `n_waiting` and `broken` without the lock, so an action
/// may look at them; here too (no self-deadlock on the state lock).
pub fn barrier_action_may_read_state<W: BarrierWorld>(w: &W) {
    let k = kit(w, 3, Action::ReadState);
    join_all(k.start_n(3, "wait", |_| 0));
    // All three had arrived when the action ran.
    assert_eq!(
        (k.cells.get(SEEN_WAITING), k.cells.get(SEEN_BROKEN)),
        (3 + 1, 1)
    );
}

pub fn barrier_broken_until_reset<W: BarrierWorld>(w: &W) {
    let k = kit(w, 2, Action::None);
    let b = &k.a;
    b.abort();
    assert_eq!(b.wait(), Err(Error::BrokenBarrier));
    assert_eq!(b.wait_timeout(Duration::ZERO), Err(Error::BrokenBarrier));
    assert_eq!(b.n_waiting(), 0);
    b.reset();
    assert!(!b.broken());
    let p = k.start("wait", 0);
    let mine = b.wait().unwrap() as u64;
    assert_eq!(mine + p.join(), 1);
}

pub fn barrier_reset_with_nobody_waiting_is_a_no_op<W: BarrierWorld>(w: &W) {
    let c = w.cells();
    let b = w.barrier(2, Action::None, None, &c);
    b.reset();
    assert!(!b.broken());
    assert_eq!(b.n_waiting(), 0);
}

pub fn barrier_abort_wakes_blocked_waiters<W: BarrierWorld>(w: &W) {
    let k = kit(w, 4, Action::None);
    let parties = k.start_n(3, "wait_outcome", |_| 0);
    wait_until(|| k.a.n_waiting() == 3);
    k.a.abort();
    assert_eq!(join_all(parties), [BROKEN; 3]);
}

// ---- stress ----

/// Many cycles: in every cycle each index `0..parties` is handed out exactly
/// once, the action runs exactly once per cycle and before anyone leaves.
pub fn stress_cycles<W: BarrierWorld>(w: &W, parties: usize, cycles: usize) {
    let k = kit_n(w, parties, Action::Count, None, SEEN + cycles * parties);
    let c = &k.cells;
    c.set(PARTIES, parties as u64);
    c.set(CYCLES, cycles as u64);
    join_all(k.start_n(parties, "cycles", |_| 0));
    assert_eq!(c.get(ACTIONS), cycles as u64);
    for i in 0..cycles * parties {
        assert_eq!(
            c.get(SEEN + i),
            1,
            "cycle {} index {}",
            i / parties,
            i % parties
        );
    }
    assert_eq!(k.a.n_waiting(), 0);
    assert!(!k.a.broken());
}

// ---- the threads world ----

impl BarrierOps for std::sync::Arc<gilfree::threading::Barrier> {
    fn wait(&self) -> Result<usize, Error> {
        gilfree::threading::Barrier::wait(self)
    }
    fn wait_timeout(&self, t: Duration) -> Result<usize, Error> {
        gilfree::threading::Barrier::wait_timeout(self, t)
    }
    fn reset(&self) {
        gilfree::threading::Barrier::reset(self)
    }
    fn abort(&self) {
        gilfree::threading::Barrier::abort(self)
    }
    fn parties(&self) -> usize {
        gilfree::threading::Barrier::parties(self)
    }
    fn n_waiting(&self) -> usize {
        gilfree::threading::Barrier::n_waiting(self)
    }
    fn broken(&self) -> bool {
        gilfree::threading::Barrier::broken(self)
    }
}

impl BarrierWorld for Threads {
    type Barrier = std::sync::Arc<gilfree::threading::Barrier>;
    fn refuses(&self, parties: usize) -> bool {
        panics(|| drop(gilfree::threading::Barrier::new(parties)))
    }
    fn barrier(
        &self,
        parties: usize,
        action: Action,
        timeout: Option<Duration>,
        cells: &ThreadCells,
    ) -> Self::Barrier {
        use std::sync::{Arc, OnceLock, Weak};
        let mut b = gilfree::threading::Barrier::new(parties);
        if let Some(t) = timeout {
            b = b.with_timeout(t);
        }
        if action == Action::None {
            return Arc::new(b);
        }
        // The action may look at its own barrier: a weak handle to it,
        // set once the barrier exists.
        let me: Arc<OnceLock<Weak<gilfree::threading::Barrier>>> = Arc::default();
        let (me2, c) = (me.clone(), cells.clone());
        let b = Arc::new(b.with_action(move || {
            let b = me2.get().and_then(Weak::upgrade).expect("the barrier");
            act(action, &c, &b)
        }));
        me.set(Arc::downgrade(&b)).unwrap();
        b
    }
    fn start_barrier(&self, k: &BarrierKit<Self>, name: &'static str, arg: u64) -> Party {
        let k = BarrierKit {
            world: Threads,
            a: k.a.clone(),
            b: k.b.clone(),
            action: k.action,
            cells: k.cells.clone(),
        };
        Party::thread(move || party(&k, name, arg))
    }
}
