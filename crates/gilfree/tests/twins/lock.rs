//! The `Lock` cases (CPython's `Lib/test/lock_tests.py` `BaseLockTests` and
//! `LockTests`, and the stress tests), written once: generic over the
//! world (threads or processes). The data a case guards lives in cells,
//! read and written apart under the lock, so a lost update shows.
//!
//! Python's `Bunch` (a group of threads) is a group of parties here; where
//! Python sleeps "until the threads are blocked", these bodies assert only
//! what must hold whether or not the parties have blocked yet.

use std::time::Duration;

use super::world::*;

/// Both data-less locks, in both worlds, as the bodies use them.
pub trait LockOps: Send + Sync + 'static {
    fn locked(&self) -> bool;
    fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool;
    /// `try_acquire()`: whether it gave a guard (dropped at once).
    fn try_acquire(&self) -> bool;
    /// `acquire_timeout(t)`: whether it gave a guard (dropped at once).
    fn acquire_timeout(&self, t: Duration) -> bool;
    /// Python's `with lock:` around `f`: a guard held while `f` runs,
    /// dropped after it, also when it panics.
    fn with(&self, f: &mut dyn FnMut());
    /// `release()`; `Err` if it was not locked (each twin's own error is
    /// checked by its own tests).
    fn release(&self) -> Result<(), ()>;
}

/// A world with locks.
pub trait LockWorld: World + Sized + Clone {
    type Lock: LockOps;
    fn lock(&self) -> Self::Lock;
    /// A party running `party(kit, arg)` (a thread, or a child process
    /// handed the kit).
    fn start_lock(&self, kit: &LockKit<Self>, party: &'static str, arg: u64) -> Party;
}

/// A case's lock and cells, in its world.
pub struct LockKit<W: LockWorld> {
    pub world: W,
    pub lock: W::Lock,
    pub cells: W::Cells,
}

impl<W: LockWorld> Kit for LockKit<W> {
    fn start(&self, party: &'static str, arg: u64) -> Party {
        self.world.start_lock(self, party, arg)
    }
}

fn kit<W: LockWorld>(w: &W) -> LockKit<W> {
    LockKit {
        world: w.clone(),
        lock: w.lock(),
        cells: w.cells(),
    }
}

// Cells of the cases.
const STARTED: usize = 0;
const FINISHED: usize = 1;
const PHASE: usize = 2;
/// The guarded counter, and how many parties are inside at once.
const COUNT: usize = 3;
const INSIDE: usize = 4;
/// Hand-off stress: releases asked for, claimed, done; acquirers done.
const SENT: usize = 5;
const CLAIMED: usize = 6;
const RELEASED: usize = 7;
const ACQUIRERS_LEFT: usize = 8;
/// Timeouts stress: successful acquisitions.
const GOT: usize = 9;

/// A party body, by name: what a child process is told to run.
pub fn party<W: LockWorld>(k: &LockKit<W>, name: &str, arg: u64) -> u64 {
    let (lock, c) = (&k.lock, &k.cells);
    match name {
        "try" => lock.try_acquire().into(),
        "timed_50ms" => lock.acquire_timeout(Duration::from_millis(50)).into(),
        // Say it started; take and drop the lock; say so.
        "acquire" => {
            c.add(STARTED, 1);
            lock.with(&mut || {});
            c.add(FINISHED, 1);
            0
        }
        // A Lock is not reentrant: the second acquire blocks until
        // another party releases.
        "reacquire" => {
            assert!(lock.acquire_unguarded(true, None));
            c.set(PHASE, 1);
            assert!(lock.acquire_unguarded(true, None));
            c.set(PHASE, 2);
            0
        }
        "release" => lock.release().is_ok().into(),
        "counter" => {
            counter_party(lock, c, arg);
            0
        }
        "handoff_acquire" => {
            let mut last = 0;
            for _ in 0..arg {
                assert!(lock.acquire_unguarded(true, None));
                // A logical read-modify-write: correct only because the
                // lock is held.
                let v = c.get(COUNT);
                c.set(COUNT, v + 1);
                last = c.add(SENT, 1) + 1;
            }
            // Stay until the last acquisition is released (one is held at
            // a time, so `last` releases include it): a process that ends
            // holding a `multiprocessing` lock is a dead holder, and the
            // next acquirer would take the lock over (with `OwnerDied`)
            // from under the releaser it was handed to.
            c.wait_at_least(RELEASED, last);
            c.sub(ACQUIRERS_LEFT, 1);
            0
        }
        "handoff_release" => {
            handoff_releaser(lock, c);
            0
        }
        "timeouts" => {
            for _ in 0..5_000 {
                let got = if arg.is_multiple_of(2) {
                    lock.acquire_unguarded(true, None)
                } else {
                    lock.acquire_unguarded(true, Some(Duration::from_micros(50)))
                };
                if got {
                    let v = c.get(COUNT);
                    c.set(COUNT, v + 1);
                    c.add(GOT, 1);
                    lock.release().unwrap();
                }
            }
            0
        }
        _ => panic!("no lock party {name:?}"),
    }
}

// ---------------------------------------------------------------- BaseLockTests

pub fn test_constructor<W: LockWorld>(w: &W) {
    let lock = w.lock();
    assert!(!lock.locked());
    drop(lock);
}

pub fn test_acquire_destroy<W: LockWorld>(w: &W) {
    let lock = w.lock();
    assert!(lock.acquire_unguarded(true, None));
    drop(lock); // destroying a held lock is fine
}

pub fn test_acquire_release<W: LockWorld>(w: &W) {
    let lock = w.lock();
    assert!(lock.acquire_unguarded(true, None));
    lock.release().unwrap();
    drop(lock);
}

pub fn test_try_acquire<W: LockWorld>(w: &W) {
    let lock = w.lock();
    assert!(lock.acquire_unguarded(false, None));
    lock.release().unwrap();
    assert!(lock.try_acquire());
}

pub fn test_try_acquire_contended<W: LockWorld>(w: &W) {
    let k = kit(w);
    k.lock.with(&mut || assert_eq!(k.start("try", 0).join(), 0));
}

pub fn test_acquire_contended<W: LockWorld>(w: &W) {
    const N: usize = 5;
    let k = kit(w);
    let (lock, c) = (&k.lock, &k.cells);
    let mut parties = Vec::new();
    lock.with(&mut || {
        parties = k.start_n(N, "acquire", |_| 0);
        c.wait_at_least(STARTED, N as u64);
        // All started, none can have finished: the lock is held.
        assert_eq!(c.get(FINISHED), 0);
    });
    join_all(parties);
    assert_eq!(c.get(FINISHED), N as u64);
}

pub fn test_with<W: LockWorld>(w: &W) {
    let k = kit(w);
    let lock = &k.lock;
    let check_free = || {
        let before = k.cells.get(FINISHED);
        k.start("acquire", 0).join();
        assert_eq!(k.cells.get(FINISHED), before + 1);
    };
    // `with lock: pass` releases.
    lock.with(&mut || {});
    check_free();
    // An exception (panic) inside `with` still releases.
    assert!(panics(|| lock.with(&mut || panic!("TypeError"))));
    assert!(!lock.locked());
    check_free();
}

pub fn test_timeout<W: LockWorld>(w: &W) {
    let k = kit(w);
    let lock = &k.lock;
    // TIMEOUT_MAX is ok: a huge timeout saturates to "forever".
    assert!(lock.acquire_timeout(Duration::MAX));
    assert!(lock.acquire_unguarded(true, Some(Duration::MAX)));
    lock.release().unwrap();
    // A free lock is taken at once, whatever the timeout.
    assert!(lock.acquire_timeout(Duration::from_secs(5)));
    // `acquire(False, timeout)` is a ValueError in Python; here the
    // non-blocking form ignores the timeout.
    assert!(lock.acquire_unguarded(false, Some(Duration::from_secs(1))));
    assert_eq!(k.start("timed_50ms", 0).join(), 0, "a held lock times out");
    lock.release().unwrap();
}

// -------------------------------------------------------------------- LockTests

/// A Lock is not reentrant: the second acquire blocks until another party
/// releases.
pub fn test_reacquire<W: LockWorld>(w: &W) {
    let k = kit(w);
    let (lock, c) = (&k.lock, &k.cells);
    let p = k.start("reacquire", 0);
    c.wait_at_least(PHASE, 1);
    // Still held by the party, so phase 2 cannot have been reached.
    assert_eq!(c.get(PHASE), 1);
    lock.release().unwrap();
    c.wait_at_least(PHASE, 2);
    p.join();
    assert!(lock.locked());
    lock.release().unwrap();
}

/// A Lock can be released from a different party.
pub fn test_different_thread<W: LockWorld>(w: &W) {
    let k = kit(w);
    let lock = &k.lock;
    assert!(lock.acquire_unguarded(true, None));
    assert_eq!(k.start("release", 0).join(), 1);
    assert!(lock.acquire_unguarded(true, None));
    lock.release().unwrap();
}

/// bpo-11618: the lock is in a proper state after a non-zero timeout.
pub fn test_state_after_timeout<W: LockWorld>(w: &W) {
    let lock = w.lock();
    assert!(lock.acquire_unguarded(true, None));
    assert!(!lock.acquire_unguarded(true, Some(Duration::from_millis(10))));
    lock.release().unwrap();
    assert!(!lock.locked());
    assert!(lock.acquire_unguarded(false, None));
    lock.release().unwrap();
}

/// `test_threading.ThreadingExceptionTests.test_releasing_unacquired_lock`.
pub fn test_releasing_unacquired_lock<W: LockWorld>(w: &W) {
    let lock = w.lock();
    assert_eq!(lock.release(), Err(()));
    assert!(!lock.locked());
}

// ------------------------------------------------------------------ stress

/// One party of the counter stress: `iters` increments of a plain
/// (non-atomic) counter under the lock, never two parties inside.
fn counter_party<C: Cells>(lock: &impl LockOps, c: &C, iters: u64) {
    for i in 0..iters {
        assert!(lock.acquire_unguarded(true, None));
        assert_eq!(c.add(INSIDE, 1), 0, "two parties inside");
        let v = c.get(COUNT);
        if i.is_multiple_of(64) {
            // Widen the critical section now and then to provoke
            // contention (not synchronisation).
            std::thread::yield_now();
        }
        c.set(COUNT, v + 1);
        c.sub(INSIDE, 1);
        lock.release().unwrap();
    }
}

/// N parties × M increments of a plain (non-atomic) counter under the
/// lock: the count is exact, and no two parties are ever inside together.
pub fn counter_stress<W: LockWorld>(w: &W, parties: usize, iters: u64) {
    let k = kit(w);
    join_all(k.start_n(parties, "counter", |_| iters));
    assert_eq!(k.cells.get(COUNT), parties as u64 * iters);
    assert!(!k.lock.locked());
}

/// A releaser of the hand-off stress: claim each release asked for (one
/// claim per acquisition, whichever releaser gets it) and do it, until
/// the acquirers are done and every release is claimed.
fn handoff_releaser<C: Cells>(lock: &impl LockOps, c: &C) {
    loop {
        let claimed = c.get(CLAIMED);
        if claimed < c.get(SENT) {
            if c.cell(CLAIMED)
                .compare_exchange(
                    claimed,
                    claimed + 1,
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                )
                .is_ok()
            {
                lock.release().expect("the lock was held by an acquirer");
                c.add(RELEASED, 1);
            }
        } else if c.get(ACQUIRERS_LEFT) == 0 && c.get(CLAIMED) == c.get(SENT) {
            return;
        } else {
            std::thread::yield_now();
        }
    }
}

/// Python semantics: acquire in one party, release in another. Acquirers
/// take the lock, do a load-then-store increment of a counter under it,
/// and hand the release to whichever releaser claims it. The count is
/// exact, no release finds the lock unlocked, and it ends free.
pub fn handoff_stress<W: LockWorld>(w: &W, acquirers: usize, releasers: usize, iters: u64) {
    let k = kit(w);
    let c = &k.cells;
    c.set(ACQUIRERS_LEFT, acquirers as u64);
    let mut parties = k.start_n(releasers, "handoff_release", |_| 0);
    parties.extend(k.start_n(acquirers, "handoff_acquire", |_| iters));
    join_all(parties);
    let total = acquirers as u64 * iters;
    assert_eq!(c.get(COUNT), total);
    assert_eq!(c.get(RELEASED), total);
    assert!(!k.lock.locked());
}

/// Timed acquirers mixed with blocking ones: a timed-out waiter never
/// swallows the wake-up a blocking one needs (the test would hang), and the
/// count of successful increments is exact.
pub fn stress_timeouts_do_not_lose_wakeups<W: LockWorld>(w: &W) {
    let k = kit(w);
    join_all(k.start_n(6, "timeouts", |i| i as u64));
    assert_eq!(k.cells.get(COUNT), k.cells.get(GOT));
}

// ---- the threads world ----

impl LockOps for std::sync::Arc<gilfree::threading::Lock> {
    fn locked(&self) -> bool {
        gilfree::threading::Lock::locked(self)
    }
    fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        gilfree::threading::Lock::acquire_unguarded(self, blocking, timeout)
    }
    fn try_acquire(&self) -> bool {
        gilfree::threading::Lock::try_acquire(self).is_some()
    }
    fn acquire_timeout(&self, t: Duration) -> bool {
        gilfree::threading::Lock::acquire_timeout(self, t).is_some()
    }
    fn with(&self, f: &mut dyn FnMut()) {
        let _g = self.acquire();
        f()
    }
    fn release(&self) -> Result<(), ()> {
        gilfree::threading::Lock::release(self).map_err(|_| ())
    }
}

impl LockWorld for Threads {
    type Lock = std::sync::Arc<gilfree::threading::Lock>;
    fn lock(&self) -> Self::Lock {
        std::sync::Arc::new(gilfree::threading::Lock::new(()))
    }
    fn start_lock(&self, k: &LockKit<Self>, name: &'static str, arg: u64) -> Party {
        let k = LockKit {
            world: Threads,
            lock: k.lock.clone(),
            cells: k.cells.clone(),
        };
        Party::thread(move || party(&k, name, arg))
    }
}
