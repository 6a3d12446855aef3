//! The `RLock` cases (CPython's `lock_tests.py` `RLockTests` and the
//! `BaseLockTests` that apply, and the stress test), written once: generic
//! over the world (threads or processes).

use std::time::Duration;

use super::world::*;

/// Both reentrant locks, in both worlds, as the bodies use them.
pub trait RLockOps: Send + Sync + 'static {
    fn locked(&self) -> bool;
    fn is_owned(&self) -> bool;
    fn recursion_count(&self) -> u32;
    fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool;
    /// `acquire()`, the guard forgotten (a level kept, to `release`).
    fn acquire_forget(&self);
    /// `try_acquire()`: whether it gave a guard (forgotten).
    fn try_acquire_forget(&self) -> bool;
    /// `acquire_timeout(t)`: whether it gave a guard (forgotten).
    fn acquire_timeout_forget(&self, t: Duration) -> bool;
    /// `try_acquire()`: whether it gave a guard (dropped at once).
    fn try_acquire(&self) -> bool;
    /// `acquire_timeout(t)`: whether it gave a guard (dropped at once).
    fn acquire_timeout(&self, t: Duration) -> bool;
    /// Python's `with rlock:` around `f`: a guard (one level) held while
    /// `f` runs, dropped after it, also when it panics.
    fn with(&self, f: &mut dyn FnMut());
    /// One level; `Err` if the caller does not own it (each twin's own
    /// error is checked by its own tests).
    fn release(&self) -> Result<(), ()>;
}

/// A world with reentrant locks.
pub trait RLockWorld: World + Sized + Clone {
    type RLock: RLockOps;
    fn rlock(&self) -> Self::RLock;
    /// A party running `party(kit, arg)` (a thread, or a child process
    /// handed the kit).
    fn start_rlock(&self, kit: &RLockKit<Self>, party: &'static str, arg: u64) -> Party;
}

/// A case's lock and cells, in its world.
pub struct RLockKit<W: RLockWorld> {
    pub world: W,
    pub lock: W::RLock,
    pub cells: W::Cells,
}

impl<W: RLockWorld> Kit for RLockKit<W> {
    fn start(&self, party: &'static str, arg: u64) -> Party {
        self.world.start_rlock(self, party, arg)
    }
}

fn kit<W: RLockWorld>(w: &W) -> RLockKit<W> {
    RLockKit {
        world: w.clone(),
        lock: w.rlock(),
        cells: w.cells(),
    }
}

// Cells of the cases.
const STARTED: usize = 0;
const FINISHED: usize = 1;
/// The holding party's report (its recursion count, plus one), and the
/// test's word to let go.
const HELD: usize = 2;
const GO: usize = 3;
/// Stress: the counter (only the owner touches it), whether someone is
/// inside, parties ready.
const COUNT: usize = 4;
const INSIDE: usize = 5;
const READY: usize = 6;
const PARTIES: usize = 7;
/// Stress: iterations per party.
const ITERS: usize = 8;

/// A party body, by name: what a child process is told to run.
pub fn party<W: RLockWorld>(k: &RLockKit<W>, name: &str, arg: u64) -> u64 {
    let (lock, c) = (&k.lock, &k.cells);
    match name {
        "try" => lock.try_acquire().into(),
        "try_unguarded" => lock.acquire_unguarded(false, None).into(),
        "timed_50ms" => lock.acquire_timeout(Duration::from_millis(50)).into(),
        "unguarded_10ms" => lock
            .acquire_unguarded(true, Some(Duration::from_millis(10)))
            .into(),
        "is_owned" => lock.is_owned().into(),
        // Say it started; take and drop it; say so.
        "acquire" => {
            c.add(STARTED, 1);
            lock.with(&mut || {});
            c.add(FINISHED, 1);
            0
        }
        // Take it (a guard, or with `arg` 1 a level without one), report
        // the recursion count, hold it until told to go, release.
        "hold" => {
            let mut body = || {
                c.set(HELD, u64::from(lock.recursion_count()) + 1);
                c.wait_at_least(GO, 1);
            };
            if arg == 0 {
                lock.with(&mut body);
            } else {
                assert!(lock.acquire_unguarded(true, None));
                body();
                lock.release().unwrap();
            }
            0
        }
        "stress" => {
            stress_party(lock, c, arg as usize);
            0
        }
        _ => panic!("no rlock party {name:?}"),
    }
}

// ---- BaseLockTests ----

pub fn rlock_test_constructor<W: RLockWorld>(w: &W) {
    let lock = w.rlock();
    assert!(!lock.locked());
    drop(lock); // Python: `del lock`
}

/// Python: acquire, then `del lock`. A held lock may be dropped.
pub fn rlock_test_acquire_destroy<W: RLockWorld>(w: &W) {
    let lock = w.rlock();
    lock.acquire_forget();
    assert!(lock.locked() && lock.is_owned());
    drop(lock);
}

pub fn rlock_test_acquire_release<W: RLockWorld>(w: &W) {
    let lock = w.rlock();
    assert!(lock.acquire_unguarded(true, None));
    lock.release().unwrap();
    lock.with(&mut || {});
    assert!(!lock.locked());
}

pub fn rlock_test_try_acquire<W: RLockWorld>(w: &W) {
    let lock = w.rlock();
    assert!(lock.acquire_unguarded(false, None));
    lock.release().unwrap();
    assert!(lock.try_acquire());
}

pub fn rlock_test_try_acquire_contended<W: RLockWorld>(w: &W) {
    let k = kit(w);
    k.lock
        .with(&mut || assert_eq!(k.start("try_unguarded", 0).join(), 0));
}

pub fn rlock_test_acquire_contended<W: RLockWorld>(w: &W) {
    const N: usize = 5;
    let k = kit(w);
    let (lock, c) = (&k.lock, &k.cells);
    let mut parties = Vec::new();
    lock.with(&mut || {
        parties = k.start_n(N, "acquire", |_| 0);
        c.wait_at_least(STARTED, N as u64);
        // They cannot get past acquire while we hold it.
        assert_eq!(c.get(FINISHED), 0);
    });
    join_all(parties);
    assert_eq!(c.get(FINISHED), N as u64);
}

pub fn rlock_test_with<W: RLockWorld>(w: &W) {
    let k = kit(w);
    let lock = &k.lock;
    let other_party_can_take = || k.start("try", 0).join() == 1;
    lock.with(&mut || {});
    assert!(other_party_can_take());
    // A panic inside the "with" block releases the lock (no poisoning).
    assert!(panics(
        || lock.with(&mut || lock.with(&mut || panic!("TypeError")))
    ));
    assert!(other_party_can_take());
    assert!(!lock.locked());
}

/// Fifteen parties take and drop it in turn: it ends free.
pub fn rlock_test_thread_leak<W: RLockWorld>(w: &W) {
    let k = kit(w);
    join_all(k.start_n(15, "acquire", |_| 0));
    assert_eq!(k.cells.get(FINISHED), 15);
    assert!(!k.lock.locked());
}

pub fn rlock_test_timeout<W: RLockWorld>(w: &W) {
    let k = kit(w);
    let lock = &k.lock;
    // A huge timeout saturates (Python: TIMEOUT_MAX is fine).
    assert!(lock.acquire_timeout(Duration::MAX));
    assert!(lock.acquire_timeout(Duration::from_secs(5)));
    lock.with(&mut || {
        assert_eq!(k.start("timed_50ms", 0).join(), 0);
        assert_eq!(k.start("unguarded_10ms", 0).join(), 0);
    });
}

// ---- RLockTests ----

pub fn rlock_test_reacquire<W: RLockWorld>(w: &W) {
    let lock = w.rlock();
    assert!(lock.acquire_unguarded(true, None));
    assert!(lock.acquire_unguarded(true, None));
    lock.release().unwrap();
    assert!(lock.acquire_unguarded(true, None));
    lock.release().unwrap();
    lock.release().unwrap();
    assert!(!lock.locked());
}

pub fn rlock_test_release_unacquired<W: RLockWorld>(w: &W) {
    let lock = w.rlock();
    assert_eq!(lock.release(), Err(()));
    assert!(lock.acquire_unguarded(true, None));
    assert!(lock.acquire_unguarded(true, None));
    lock.release().unwrap();
    assert!(lock.acquire_unguarded(true, None));
    lock.release().unwrap();
    lock.release().unwrap();
    assert_eq!(lock.release(), Err(()));
}

pub fn rlock_test_recursion_count<W: RLockWorld>(w: &W) {
    let k = kit(w);
    let (lock, c) = (&k.lock, &k.cells);
    assert_eq!(lock.recursion_count(), 0);
    assert!(lock.acquire_unguarded(true, None));
    assert_eq!(lock.recursion_count(), 1);
    assert!(lock.acquire_unguarded(true, None));
    assert!(lock.acquire_unguarded(true, None));
    assert_eq!(lock.recursion_count(), 3);
    lock.release().unwrap();
    assert_eq!(lock.recursion_count(), 2);
    lock.release().unwrap();
    lock.release().unwrap();
    assert_eq!(lock.recursion_count(), 0);

    // Another party owning it does not count for us.
    let p = k.start("hold", 0);
    c.wait_at_least(HELD, 1);
    assert_eq!(c.get(HELD), 1 + 1, "its own count is 1");
    assert_eq!(lock.recursion_count(), 0);
    c.set(GO, 1);
    p.join();
    assert_eq!(lock.recursion_count(), 0);
}

pub fn rlock_test_different_thread<W: RLockWorld>(w: &W) {
    let k = kit(w);
    let (lock, c) = (&k.lock, &k.cells);
    let p = k.start("hold", 1);
    c.wait_at_least(HELD, 1);
    assert_eq!(lock.release(), Err(()));
    assert!(lock.locked(), "a failed release changes nothing");
    c.set(GO, 1);
    p.join();
    assert!(!lock.locked());
}

pub fn rlock_test_is_owned<W: RLockWorld>(w: &W) {
    let k = kit(w);
    let lock = &k.lock;
    assert!(!lock.is_owned());
    assert!(lock.acquire_unguarded(true, None));
    assert!(lock.is_owned());
    assert!(lock.acquire_unguarded(true, None));
    assert!(lock.is_owned());
    assert_eq!(k.start("is_owned", 0).join(), 0);
    lock.release().unwrap();
    assert!(lock.is_owned());
    lock.release().unwrap();
    assert!(!lock.is_owned());
}

// ---- Rust-side API ----

/// Re-entry through `try_acquire` and a zero timeout never waits.
pub fn rlock_try_acquire_reenters_without_waiting<W: RLockWorld>(w: &W) {
    let lock = w.rlock();
    lock.acquire_forget();
    assert!(lock.try_acquire_forget(), "re-entry never waits");
    assert!(lock.acquire_timeout_forget(Duration::ZERO), "nor here");
    assert_eq!(lock.recursion_count(), 3);
    for _ in 0..3 {
        lock.release().unwrap();
    }
    assert!(!lock.locked());
}

// ---- stress ----

/// One party of the stress: `iters` rounds at depths 1 to 3; the counter
/// is a plain read-modify-write by the owner, so a failure of mutual
/// exclusion across recursion would lose updates (and `INSIDE` would see
/// two owners at once).
fn stress_party<C: Cells>(lock: &impl RLockOps, c: &C, t: usize) {
    c.add(READY, 1);
    c.wait_at_least(READY, c.get(PARTIES));
    for i in 0..c.get(ITERS) as usize {
        let depth = 1 + (i + t) % 3;
        for _ in 0..depth {
            lock.acquire_forget();
        }
        assert_eq!(c.add(INSIDE, 1), 0, "two owners at once");
        assert_eq!(lock.recursion_count() as usize, depth);
        let v = c.get(COUNT);
        c.set(COUNT, v + 1);
        c.sub(INSIDE, 1);
        for _ in 0..depth {
            lock.release().unwrap();
        }
        if i % 7 == 0 {
            // The Python-shaped path too, with a try in between.
            if lock.try_acquire_forget() {
                let v = c.get(COUNT);
                c.set(COUNT, v + 1);
                c.set(COUNT, v);
                lock.release().unwrap();
            }
        }
    }
}

/// Parties at depths 1 to 3, each round a plain increment by the owner:
/// the count is exact and no two parties ever own it at once.
pub fn stress<W: RLockWorld>(w: &W, parties: usize, iters: usize) {
    let k = kit(w);
    let c = &k.cells;
    c.set(PARTIES, parties as u64);
    c.set(ITERS, iters as u64);
    join_all(k.start_n(parties, "stress", |t| t as u64));
    assert!(!k.lock.locked());
    assert_eq!(c.get(COUNT), (parties * iters) as u64);
}

// ---- the threads world ----

impl RLockOps for std::sync::Arc<gilfree::threading::RLock> {
    fn locked(&self) -> bool {
        gilfree::threading::RLock::locked(self)
    }
    fn is_owned(&self) -> bool {
        gilfree::threading::RLock::is_owned(self)
    }
    fn recursion_count(&self) -> u32 {
        gilfree::threading::RLock::recursion_count(self)
    }
    fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        gilfree::threading::RLock::acquire_unguarded(self, blocking, timeout)
    }
    fn acquire_forget(&self) {
        std::mem::forget(self.acquire());
    }
    fn try_acquire_forget(&self) -> bool {
        gilfree::threading::RLock::try_acquire(self)
            .map(std::mem::forget)
            .is_some()
    }
    fn acquire_timeout_forget(&self, t: Duration) -> bool {
        gilfree::threading::RLock::acquire_timeout(self, t)
            .map(std::mem::forget)
            .is_some()
    }
    fn try_acquire(&self) -> bool {
        gilfree::threading::RLock::try_acquire(self).is_some()
    }
    fn acquire_timeout(&self, t: Duration) -> bool {
        gilfree::threading::RLock::acquire_timeout(self, t).is_some()
    }
    fn with(&self, f: &mut dyn FnMut()) {
        let _g = self.acquire();
        f()
    }
    fn release(&self) -> Result<(), ()> {
        gilfree::threading::RLock::release(self).map_err(|_| ())
    }
}

impl RLockWorld for Threads {
    type RLock = std::sync::Arc<gilfree::threading::RLock>;
    fn rlock(&self) -> Self::RLock {
        std::sync::Arc::new(gilfree::threading::RLock::new(()))
    }
    fn start_rlock(&self, k: &RLockKit<Self>, name: &'static str, arg: u64) -> Party {
        let k = RLockKit {
            world: Threads,
            lock: k.lock.clone(),
            cells: k.cells.clone(),
        };
        Party::thread(move || party(&k, name, arg))
    }
}
