//! The `Condition` cases that both twins can run (CPython's
//! `lock_tests.py` `ConditionTests` and gilfree's Rust-API tests), written
//! once: generic over the world (threads or processes), over a condition
//! whose lock guards a `u32` state (`threading::Condition<Lock<u32>>`,
//! `multiprocessing::Condition<u32>`). Plus the twins' own notify cases.
//!
//! `multiprocessing::Condition` does not count its waiters: `n_waiting`
//! and the counts `notify` returns are checked where a twin knows them
//! (`None` says it does not).

use std::time::Duration;

use super::world::*;

/// Both conditions over a `u32` state, as the bodies use them.
pub trait CondOps: Send + Sync + 'static {
    /// Python's `with cond:` around `f`, which gets the state.
    fn with(&self, f: &mut dyn FnMut(&mut u32));
    /// `notify(n)` (the caller holds the lock, inside `with`, or not):
    /// `Err` if the lock is not held; the count woken where known.
    fn notify(&self, n: usize) -> Result<Option<usize>, ()>;
    fn notify_all(&self) -> Result<Option<usize>, ()>;
    /// Waiters queued, where counted.
    fn n_waiting(&self) -> Option<usize>;
    /// Take the lock and `wait_for(pred)` on the state (with a timeout, or
    /// none); whether it held. The final state goes to `seen`.
    fn wait_for(
        &self,
        pred: &mut dyn FnMut(u32) -> bool,
        t: Option<Duration>,
        seen: &mut u32,
    ) -> bool;
    /// Take the lock and `wait(t)` once: whether it was notified.
    fn wait_timeout(&self, t: Duration) -> bool;
    /// `wait_guard` and `wait_guard_timeout` given a guard of another lock
    /// (over the same type): whether both refused (an error, or a panic
    /// where the twin's signature has no error), that lock still held.
    fn wait_with_foreign_guard_refused(&self) -> bool;
}

/// A world with conditions.
pub trait CondWorld: World + Sized + Clone {
    type Cond: CondOps;
    /// A condition whose lock guards `state`.
    fn condition(&self, state: u32) -> Self::Cond;
    /// A party running `party(kit, arg)` (a thread, or a child process
    /// handed the kit).
    fn start_cond(&self, kit: &CondKit<Self>, party: &'static str, arg: u64) -> Party;
}

/// A case's condition and cells, in its world.
pub struct CondKit<W: CondWorld> {
    pub world: W,
    pub cond: W::Cond,
    pub cells: W::Cells,
}

impl<W: CondWorld> Kit for CondKit<W> {
    fn start(&self, party: &'static str, arg: u64) -> Party {
        self.world.start_cond(self, party, arg)
    }
}

fn kit<W: CondWorld>(w: &W) -> CondKit<W> {
    CondKit {
        world: w.clone(),
        cond: w.condition(0),
        cells: w.cells(),
    }
}

/// Generous: only ever waited out by a broken implementation.
const SHORT: Duration = Duration::from_millis(20);

/// A party body, by name: what a child process is told to run.
pub fn party<W: CondWorld>(k: &CondKit<W>, name: &str, arg: u64) -> u64 {
    let cond = &k.cond;
    let mut seen = 0;
    match name {
        // A timed wait nobody notifies: whether it said notified.
        "wait_timeout_50ms" => cond.wait_timeout(Duration::from_millis(50)).into(),
        "wait_unnotified" => cond.wait_timeout(SHORT).into(),
        // `wait_for(state == arg)`, without a timeout or with 100 ms:
        // whether it held, and the state seen, as `held * 1000 + state`.
        "wait_for_eq" => {
            let held = cond.wait_for(&mut |s| u64::from(s) == arg, None, &mut seen);
            u64::from(held) * 1000 + u64::from(seen)
        }
        "wait_for_eq_100ms" => {
            let held = cond.wait_for(
                &mut |s| u64::from(s) == arg,
                Some(Duration::from_millis(100)),
                &mut seen,
            );
            u64::from(held) * 1000 + u64::from(seen)
        }
        // `wait_for(state >= arg)`, no timeout (a long one): the state.
        "wait_at_least" => {
            assert!(cond.wait_for(&mut |s| u64::from(s) >= arg, Some(LONG), &mut seen));
            seen.into()
        }
        _ => panic!("no condition party {name:?}"),
    }
}

/// `notify` without the lock is an error (Python's `RuntimeError`).
pub fn condition_test_unacquired_notify<W: CondWorld>(w: &W) {
    let cond = w.condition(0);
    assert_eq!(cond.notify(1), Err(()));
    assert_eq!(cond.notify_all(), Err(()));
}

/// Five parties in a timed wait nobody notifies: each says it timed out
/// (no spurious wake-ups here), and none is left queued.
pub fn condition_test_timeout<W: CondWorld>(w: &W) {
    const N: usize = 5;
    let k = kit(w);
    assert_eq!(join_all(k.start_n(N, "wait_timeout_50ms", |_| 0)), [0; N]);
    if let Some(n) = k.cond.n_waiting() {
        assert_eq!(n, 0, "timed-out waiters removed themselves");
    }
}

pub fn condition_test_waitfor<W: CondWorld>(w: &W) {
    let k = kit(w);
    let p = k.start("wait_for_eq", 4);
    for _ in 0..4 {
        k.cond.with(&mut |s| {
            *s += 1;
            k.cond.notify(1).unwrap();
        });
    }
    assert_eq!(p.join(), 1000 + 4, "held, with the state at 4");
}

pub fn condition_test_waitfor_timeout<W: CondWorld>(w: &W) {
    let k = kit(w);
    let p = k.start("wait_for_eq_100ms", 4);
    // Only three increments, so state == 4 is never reached.
    for _ in 0..3 {
        k.cond.with(&mut |s| {
            *s += 1;
            k.cond.notify(1).unwrap();
        });
    }
    assert!(p.join() < 1000, "did not hold");
}

// ---- Rust-side API ----

/// The state is the lock's data: a waiter's predicate reads it under the
/// lock, the notifier changes it under the lock.
pub fn condition_guard_api_over_lock_data<W: CondWorld>(w: &W) {
    let k = kit(w);
    let p = k.start("wait_at_least", 100);
    for i in 1..=3 {
        k.cond.with(&mut |s| {
            *s = *s * 10 + i; // "push" i: 1, 12, 123
            k.cond.notify_all().unwrap();
        });
    }
    assert_eq!(p.join(), 123);
}

/// A wait given another lock's guard is refused, and leaves nobody queued.
pub fn condition_wait_guard_of_another_lock_is_not_held<W: CondWorld>(w: &W) {
    let cond = w.condition(0);
    assert!(cond.wait_with_foreign_guard_refused());
    if let Some(n) = cond.n_waiting() {
        assert_eq!(n, 0);
    }
}

pub fn condition_wait_guard_timeout_returns_false<W: CondWorld>(w: &W) {
    let cond = w.condition(0);
    let mut seen = 0;
    assert!(!cond.wait_timeout(Duration::from_millis(5)));
    assert!(!cond.wait_for(&mut |s| s == 1, Some(Duration::from_millis(5)), &mut seen));
    cond.with(&mut |s| *s = 1);
    assert!(cond.wait_for(&mut |s| s == 1, Some(Duration::from_millis(5)), &mut seen));
    if let Some(n) = cond.n_waiting() {
        assert_eq!(n, 0);
    }
}

pub fn condition_notify_more_than_waiting_is_harmless<W: CondWorld>(w: &W) {
    let cond = w.condition(0);
    cond.with(&mut |_| {
        assert!(matches!(cond.notify(100), Ok(Some(0) | None)));
        assert!(matches!(cond.notify(0), Ok(Some(0) | None)));
    });
    if let Some(n) = cond.n_waiting() {
        assert_eq!(n, 0);
    }
}

// ---- the twins' own cases ----

/// `notify` wakes a party waiting for the state's predicate.
pub fn twin_condition_notify<W: CondWorld>(w: &W) {
    let k = kit(w);
    let p = k.start("wait_at_least", 1);
    k.cond.with(&mut |s| {
        *s = 1;
        k.cond.notify(1).unwrap();
    });
    assert_eq!(p.join(), 1, "the waiter saw the change");
}

/// `notify_all` wakes every waiting party.
pub fn twin_condition_notify_all<W: CondWorld>(w: &W) {
    let k = kit(w);
    let parties = k.start_n(3, "wait_at_least", |_| 2);
    for v in [1, 2] {
        // 1 is not yet what they wait for.
        k.cond.with(&mut |s| {
            *s = v;
            k.cond.notify_all().unwrap();
        });
    }
    assert_eq!(join_all(parties), [2; 3], "every waiter saw the change");
}

/// `wait(timeout)` with nobody notifying returns false, in this party and
/// in another.
pub fn twin_condition_wait_timeout<W: CondWorld>(w: &W) {
    let k = kit(w);
    assert!(!k.cond.wait_timeout(SHORT), "a wait nobody notified");
    assert_eq!(k.start("wait_unnotified", 0).join(), 0, "another party's");
}

// ---- the threads world ----

/// The `threading` twin: a condition over a `Lock<u32>`.
pub type ThreadCond = std::sync::Arc<gilfree::threading::Condition<gilfree::threading::Lock<u32>>>;

impl CondOps for ThreadCond {
    fn with(&self, f: &mut dyn FnMut(&mut u32)) {
        let mut g = self.acquire();
        f(&mut g)
    }
    fn notify(&self, n: usize) -> Result<Option<usize>, ()> {
        gilfree::threading::Condition::notify(self, n)
            .map(Some)
            .map_err(|_| ())
    }
    fn notify_all(&self) -> Result<Option<usize>, ()> {
        gilfree::threading::Condition::notify_all(self)
            .map(Some)
            .map_err(|_| ())
    }
    fn n_waiting(&self) -> Option<usize> {
        Some(gilfree::threading::Condition::n_waiting(self))
    }
    fn wait_for(
        &self,
        pred: &mut dyn FnMut(u32) -> bool,
        t: Option<Duration>,
        seen: &mut u32,
    ) -> bool {
        let mut g = self.acquire();
        let held = match t {
            Some(t) => self.wait_for_guard_timeout(&mut g, |s| pred(*s), t),
            None => self.wait_for_guard(&mut g, |s| pred(*s)),
        }
        .unwrap();
        *seen = *g;
        held
    }
    fn wait_timeout(&self, t: Duration) -> bool {
        let mut g = self.acquire();
        self.wait_guard_timeout(&mut g, t).unwrap()
    }
    fn wait_with_foreign_guard_refused(&self) -> bool {
        use gilfree::threading::Error;
        let other = gilfree::threading::Lock::new(0u32);
        let mut g = other.acquire();
        self.wait_guard(&mut g) == Err(Error::NotHeld("wait"))
            && self.wait_guard_timeout(&mut g, Duration::ZERO) == Err(Error::NotHeld("wait"))
            && other.locked()
    }
}

impl CondWorld for Threads {
    type Cond = ThreadCond;
    fn condition(&self, state: u32) -> ThreadCond {
        std::sync::Arc::new(gilfree::threading::Condition::from_lock(
            gilfree::threading::Lock::new(state),
        ))
    }
    fn start_cond(&self, k: &CondKit<Self>, name: &'static str, arg: u64) -> Party {
        let k = CondKit {
            world: Threads,
            cond: k.cond.clone(),
            cells: k.cells.clone(),
        };
        Party::thread(move || party(&k, name, arg))
    }
}
