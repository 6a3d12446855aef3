//! The `Semaphore` and `BoundedSemaphore` cases (CPython's
//! `lock_tests.py` `BaseSemaphoreTests`, `SemaphoreTests`,
//! `BoundedSemaphoreTests`, and the stress tests), written once: generic
//! over the world (threads or processes) and run over both kinds.
//!
//! Where Python sleeps "until the threads are blocked", these bodies wait
//! on counts the parties keep in cells and assert only what must hold
//! whether or not the parties have reached the futex yet.

use std::time::Duration;

use super::world::*;

/// Why a release was refused: Python's `ValueError` for `n < 1` or an
/// overflow, and a bounded semaphore released too often.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Value,
    TooMany,
}

/// Both kinds of semaphore, in both worlds, as the bodies use them.
pub trait SemOps: Send + Sync + 'static {
    fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool;
    /// `try_acquire()`: whether it gave a guard (forgotten: the permit is
    /// kept).
    fn try_acquire_forget(&self) -> bool;
    /// `acquire_timeout(t)`: whether it gave a guard (forgotten).
    fn acquire_timeout_forget(&self, t: Duration) -> bool;
    /// `acquire()`, the guard forgotten.
    fn acquire_forget(&self);
    /// Python's `with sem:` around `f`: a guard held while `f` runs,
    /// dropped after it, also when it panics.
    fn with(&self, f: &mut dyn FnMut());
    fn release(&self) -> Result<(), Refused>;
    fn release_n(&self, n: u32) -> Result<(), Refused>;
    fn value(&self) -> u32;
}

/// A world with semaphores.
pub trait SemWorld: World + Sized {
    type Sem: SemOps;
    /// `Semaphore(value)` or `BoundedSemaphore(value)`.
    fn semaphore(&self, bounded: bool, value: u32) -> Self::Sem;
    /// `Semaphore()` / `BoundedSemaphore()`: the default value.
    fn default_semaphore(&self, bounded: bool) -> Self::Sem;
    /// A party running `party(kit, arg)` (a thread, or a child process
    /// handed the kit).
    fn start_sem(&self, kit: &SemKit<Self>, party: &'static str, arg: u64) -> Party;
}

/// A case's semaphore and cells, in its world.
pub struct SemKit<W: SemWorld> {
    pub world: W,
    pub sem: W::Sem,
    pub cells: W::Cells,
}

impl<W: SemWorld> Kit for SemKit<W> {
    fn start(&self, party: &'static str, arg: u64) -> Party {
        self.world.start_sem(self, party, arg)
    }
}

fn kit<W: SemWorld + Clone>(w: &W, sem: W::Sem) -> SemKit<W> {
    SemKit {
        world: w.clone(),
        sem,
        cells: w.cells(),
    }
}

// Cells of the cases.
/// Parties started (or, in the try case, acquisitions that succeeded).
const STARTED: usize = 0;
/// Parties past their acquire (or tries that failed).
const FINISHED: usize = 1;
/// Acquisitions reported in the phases case.
const REPORTED: usize = 2;
/// The phase the test is in (phases case).
const PHASE: usize = 3;
/// Acquisitions per phase seen, from cell `BY_PHASE` on.
const BY_PHASE: usize = 4;
/// Stress: current holders, the most seen, acquisitions done.
const HOLDERS: usize = 10;
const MAX_HOLDERS: usize = 11;
const DONE: usize = 12;
/// Stress: the permits, and iterations per party.
const PERMITS: usize = 13;
const ITERS: usize = 14;
/// Over-release stress: successes, refusals, and the round barrier.
const OK: usize = 15;
const TOO_MANY: usize = 16;
const ROUND: usize = 17;
/// Over-release stress: the bound, the rounds, the parties.
const BOUND: usize = 18;
const ROUNDS: usize = 19;
const PARTIES: usize = 20;

/// A party body, by name: what a child process is told to run.
pub fn party<W: SemWorld>(k: &SemKit<W>, name: &str, arg: u64) -> u64 {
    let (sem, c) = (&k.sem, &k.cells);
    match name {
        // Two acquisitions, each reporting the phase it saw.
        "phases" => {
            for _ in 0..2 {
                assert!(sem.acquire_unguarded(true, None));
                c.add(BY_PHASE + c.get(PHASE) as usize, 1);
                c.add(REPORTED, 1);
            }
            0
        }
        // Two non-blocking tries, counted.
        "try_twice" => {
            for _ in 0..2 {
                if sem.acquire_unguarded(false, None) {
                    c.add(STARTED, 1);
                } else {
                    c.add(FINISHED, 1);
                }
            }
            0
        }
        // Say it started, block on `acquire`, say it passed.
        "acquire_once" => {
            c.add(STARTED, 1);
            sem.with(&mut || {
                c.add(FINISHED, 1);
            });
            0
        }
        "bound_stress" => {
            bound_stress_party(sem, c, arg as usize);
            0
        }
        // `arg` permits, each taken with a blocking (timed) acquire.
        "consume" => {
            for _ in 0..arg {
                assert!(sem.acquire_timeout_forget(LONG), "lost wake-up");
                c.add(DONE, 1);
            }
            0
        }
        "over_release" => {
            over_release_party(sem, c);
            0
        }
        _ => panic!("no semaphore party {name:?}"),
    }
}

/// Python: a negative value is a `ValueError`. Here the value is a `u32`,
/// so only the range's ends are left to check.
pub fn test_constructor<W: SemWorld>(w: &W, bounded: bool) {
    assert_eq!(w.semaphore(bounded, 0).value(), 0);
    assert_eq!(w.semaphore(bounded, u32::MAX).value(), u32::MAX);
    assert!(!w.semaphore(bounded, 0).try_acquire_forget());
}

pub fn test_acquire<W: SemWorld>(w: &W, bounded: bool) {
    let sem = w.semaphore(bounded, 1);
    assert!(sem.acquire_unguarded(true, None));
    sem.release().unwrap();
    let sem = w.semaphore(bounded, 2);
    assert!(sem.acquire_unguarded(true, None));
    assert!(sem.acquire_unguarded(true, None));
    sem.release().unwrap();
    sem.release().unwrap();
    assert_eq!(sem.value(), 2);
}

/// Dropping a semaphore whose permit is held is fine.
pub fn test_acquire_destroy<W: SemWorld>(w: &W, bounded: bool) {
    let sem = w.default_semaphore(bounded);
    assert!(sem.acquire_unguarded(true, None));
    drop(sem); // Python: `del sem`
}

/// Ten parties each take two permits of a semaphore of 7 (one held by the
/// test): the permits released in each phase let through exactly that
/// many acquisitions, and no more. With `multi`, each phase's permits go
/// back with one `release(n)` (Python 3.9+'s `test_multirelease`).
pub fn contended_phases<W: SemWorld + Clone>(w: &W, bounded: bool, multi: bool) {
    const SEM_VALUE: u32 = 7;
    const N: usize = 10;
    let k = kit(w, w.semaphore(bounded, SEM_VALUE));
    let (sem, c) = (&k.sem, &k.cells);
    assert!(sem.acquire_unguarded(true, None));
    let parties = k.start_n(N, "phases", |_| 0);
    let mut expected = [0u64; 4];
    // Wait for `count` more reports; then exactly `expected` per phase.
    let mut take = |phase: usize, count: u64| {
        expected[phase] += count;
        let want: u64 = expected.iter().sum();
        c.wait_at_least(REPORTED, want);
        assert_eq!(c.get(REPORTED), want, "more acquisitions than permits");
        let seen: Vec<u64> = (0..4).map(|p| c.get(BY_PHASE + p)).collect();
        assert_eq!(seen, expected, "acquisitions per phase");
    };
    let give = |n: u32| {
        if multi {
            sem.release_n(n).unwrap();
        } else {
            for _ in 0..n {
                sem.release().unwrap();
            }
        }
    };
    // Phase 0: the six free permits.
    take(0, u64::from(SEM_VALUE - 1));
    c.set(PHASE, 1);
    give(SEM_VALUE);
    take(1, u64::from(SEM_VALUE));
    c.set(PHASE, 2);
    give(SEM_VALUE - 1);
    take(2, u64::from(SEM_VALUE - 1));
    // The semaphore is still taken: 19 of 20 acquisitions done.
    assert!(!sem.acquire_unguarded(false, None));
    // Final release, to let the last party finish.
    c.set(PHASE, 3);
    sem.release().unwrap();
    take(3, 1);
    join_all(parties);
    assert_eq!(sem.value(), 0);
}

pub fn test_try_acquire<W: SemWorld>(w: &W, bounded: bool) {
    let sem = w.semaphore(bounded, 2);
    assert!(sem.acquire_unguarded(false, None));
    assert!(sem.try_acquire_forget());
    assert!(!sem.acquire_unguarded(false, None));
    assert!(!sem.try_acquire_forget());
    sem.release().unwrap();
    assert!(sem.acquire_unguarded(false, None));
}

/// Five parties each try twice on 3 free permits: exactly 3 succeed.
pub fn test_try_acquire_contended<W: SemWorld + Clone>(w: &W, bounded: bool) {
    let k = kit(w, w.semaphore(bounded, 4));
    assert!(k.sem.acquire_unguarded(true, None));
    join_all(k.start_n(5, "try_twice", |_| 0));
    assert_eq!((k.cells.get(STARTED), k.cells.get(FINISHED)), (3, 7));
}

/// Python's `acquire(False, timeout=1.0)` is a `ValueError`; here
/// non-blocking ignores the timeout (documented). The timed forms succeed
/// while permits are free and report a timeout when none is.
pub fn test_acquire_timeout<W: SemWorld>(w: &W, bounded: bool) {
    let sem = w.semaphore(bounded, 2);
    let t = Duration::from_millis(5);
    assert!(sem.acquire_unguarded(true, Some(t)));
    assert!(sem.acquire_timeout_forget(t), "a free permit");
    assert!(!sem.acquire_unguarded(true, Some(t)));
    assert!(!sem.acquire_timeout_forget(t));
    sem.release().unwrap();
    assert!(sem.acquire_unguarded(true, Some(t)));
    assert!(!sem.acquire_unguarded(true, Some(Duration::from_millis(50))));
    assert!(!sem.acquire_unguarded(false, Some(LONG)));
}

/// The default value is 1: a second acquirer blocks until the release.
pub fn test_default_value<W: SemWorld + Clone>(w: &W, bounded: bool) {
    let k = kit(w, w.default_semaphore(bounded));
    let (sem, c) = (&k.sem, &k.cells);
    assert!(sem.acquire_unguarded(true, None));
    let p = k.start("acquire_once", 0);
    c.wait_at_least(STARTED, 1);
    // Whether or not it is asleep yet, it cannot have passed.
    assert_eq!(c.get(FINISHED), 0);
    sem.release().unwrap();
    p.join();
    assert_eq!(c.get(FINISHED), 1);
    assert_eq!(sem.value(), 1);
}

/// `with sem:` is the guard; the permit comes back at the end of the
/// block, also when it ends with a panic (Python: an exception).
pub fn test_with<W: SemWorld>(w: &W, bounded: bool) {
    let sem = w.semaphore(bounded, 2);
    let with = |fail: bool| {
        sem.with(&mut || {
            assert!(sem.acquire_unguarded(false, None));
            sem.release().unwrap();
            sem.with(&mut || {
                assert!(!sem.acquire_unguarded(false, None));
                if fail {
                    panic!("TypeError");
                }
            });
        });
    };
    with(false);
    assert!(sem.acquire_unguarded(false, None));
    sem.release().unwrap();
    assert!(panics(|| with(true)));
    assert!(sem.acquire_unguarded(false, None));
    sem.release().unwrap();
    assert_eq!(sem.value(), 2);
}

// ---- SemaphoreTests ----

/// Unbounded releases are allowed and raise the value.
pub fn semaphore_test_release_unacquired<W: SemWorld>(w: &W) {
    let sem = w.semaphore(false, 1);
    sem.release().unwrap();
    assert!(sem.acquire_unguarded(true, None));
    assert!(sem.acquire_unguarded(true, None));
    sem.release().unwrap();
    assert_eq!(sem.value(), 1);
}

/// `release(n)` with `n < 1` is a `ValueError` and changes nothing; so is
/// overflowing the `u32` value (Python's ints do not overflow).
pub fn semaphore_release_n_rejects_zero_and_overflow<W: SemWorld>(w: &W) {
    let sem = w.semaphore(false, u32::MAX - 1);
    assert_eq!(sem.release_n(0), Err(Refused::Value));
    assert_eq!(sem.release_n(2), Err(Refused::Value));
    assert_eq!(sem.value(), u32::MAX - 1);
    sem.release_n(1).unwrap();
    // A single release past the top is the same error, not a panic, and
    // leaves the value (and a waiter-free semaphore) as it was.
    assert_eq!(sem.release(), Err(Refused::Value));
    assert_eq!(sem.value(), u32::MAX);
    assert!(sem.try_acquire_forget());
    sem.release().unwrap();
    assert_eq!(sem.value(), u32::MAX);
}

// ---- BoundedSemaphoreTests ----

/// Cannot go past the initial value.
pub fn bounded_semaphore_test_release_unacquired<W: SemWorld>(w: &W) {
    let sem = w.default_semaphore(true);
    assert_eq!(sem.release(), Err(Refused::TooMany));
    assert!(sem.acquire_unguarded(true, None));
    assert_eq!(sem.release(), Ok(()));
    assert_eq!(sem.release(), Err(Refused::TooMany));
    assert_eq!(sem.value(), 1);
}

/// `release(n)` is all or nothing against the bound.
pub fn bounded_semaphore_release_n_all_or_nothing<W: SemWorld>(w: &W) {
    let sem = w.semaphore(true, 3);
    for _ in 0..3 {
        sem.acquire_forget();
    }
    sem.release_n(1).unwrap();
    assert_eq!(sem.release_n(3), Err(Refused::TooMany));
    assert_eq!(sem.value(), 1);
    assert_eq!(sem.release_n(0), Err(Refused::Value));
    assert_eq!(sem.release_n(2), Ok(()));
    assert_eq!(sem.value(), 3);
}

/// A guard dropped when someone else has already over-released leaves the
/// value at the bound (a destructor cannot raise).
pub fn bounded_guard_drop_at_bound_keeps_bound<W: SemWorld>(w: &W) {
    let sem = w.semaphore(true, 1);
    sem.with(&mut || sem.release().unwrap());
    assert_eq!(sem.value(), 1);
}

// ---- stress ----

/// One party of the bound stress: `iters` acquisitions of every kind,
/// counting the holders at once.
fn bound_stress_party<C: Cells>(sem: &impl SemOps, c: &C, t: usize) {
    let permits = c.get(PERMITS);
    for i in 0..c.get(ITERS) as usize {
        match (t + i) % 3 {
            0 => sem.acquire_forget(),
            1 => assert!(sem.acquire_timeout_forget(LONG), "no permit within LONG"),
            _ => wait_until(|| sem.try_acquire_forget()),
        }
        let now = c.add(HOLDERS, 1) + 1;
        c.max(MAX_HOLDERS, now);
        assert!(now <= permits, "{now} holders of {permits} permits");
        if i % 7 == 0 {
            std::thread::yield_now();
        }
        c.sub(HOLDERS, 1);
        sem.release().unwrap();
        c.add(DONE, 1);
    }
}

/// N permits, M > N parties, every kind of acquire: the measured number of
/// concurrent holders never exceeds N, every acquisition completes (none is
/// lost), and all permits come back.
pub fn stress_bound_never_exceeded<W: SemWorld + Clone>(
    w: &W,
    permits: u32,
    parties: usize,
    iters: usize,
) {
    let k = kit(w, w.semaphore(false, permits));
    let c = &k.cells;
    c.set(PERMITS, u64::from(permits));
    c.set(ITERS, iters as u64);
    join_all(k.start_n(parties, "bound_stress", |t| t as u64));
    assert_eq!(c.get(DONE), (parties * iters) as u64);
    assert!(c.get(MAX_HOLDERS) <= u64::from(permits));
    assert_eq!(k.sem.value(), permits);
}

/// Producers `release(n)` permits in batches, consumers block on
/// `acquire`: every released permit is consumed exactly once and no
/// consumer is left asleep with permits free (a lost wake-up would hang
/// the join, bounded here by `LONG` per acquire).
pub fn stress_release_n<W: SemWorld + Clone>(w: &W, consumers: usize, per_consumer: usize) {
    let k = kit(w, w.semaphore(false, 0));
    let parties = k.start_n(consumers, "consume", |_| per_consumer as u64);
    let total = consumers * per_consumer;
    let mut left = total;
    let mut n = 1;
    while left > 0 {
        let m = n.min(left);
        k.sem.release_n(m as u32).unwrap();
        left -= m;
        n = n % 5 + 1;
        std::thread::yield_now();
    }
    join_all(parties);
    assert_eq!(k.cells.get(DONE), total as u64);
    assert_eq!(k.sem.value(), 0);
}

/// The round barrier of the over-release stress: the parties and the test
/// each arrive twice per round (a counting barrier in a cell).
fn round_barrier<C: Cells>(c: &C, arrival: &mut u64) {
    *arrival += 1;
    let everyone = c.get(PARTIES) + 1;
    c.add(ROUND, 1);
    c.wait_at_least(ROUND, everyone * *arrival);
}

fn over_release_party<C: Cells>(sem: &impl SemOps, c: &C) {
    let (bound, mut arrival) = (c.get(BOUND), 0);
    for _ in 0..c.get(ROUNDS) {
        round_barrier(c, &mut arrival);
        for _ in 0..2 {
            match sem.release() {
                Ok(()) => c.add(OK, 1),
                Err(Refused::TooMany) => c.add(TOO_MANY, 1),
                Err(e) => panic!("{e:?}"),
            };
            assert!(u64::from(sem.value()) <= bound);
        }
        round_barrier(c, &mut arrival);
    }
}

/// Rounds of racing over-releases on a drained bounded semaphore: in each
/// round exactly `bound` of the releases succeed, the value never reads
/// above the bound, and the rest fail with `TooManyReleases`.
pub fn stress_bounded_over_release<W: SemWorld + Clone>(
    w: &W,
    bound: u32,
    parties: usize,
    rounds: usize,
) {
    let k = kit(w, w.semaphore(true, bound));
    let (sem, c) = (&k.sem, &k.cells);
    c.set(BOUND, u64::from(bound));
    c.set(ROUNDS, rounds as u64);
    c.set(PARTIES, parties as u64);
    let ps = k.start_n(parties, "over_release", |_| 0);
    let mut arrival = 0;
    for _ in 0..rounds {
        for _ in 0..bound {
            sem.acquire_forget();
        }
        assert_eq!(sem.value(), 0);
        round_barrier(c, &mut arrival);
        round_barrier(c, &mut arrival);
        assert_eq!(
            c.cell(OK).swap(0, std::sync::atomic::Ordering::SeqCst),
            u64::from(bound)
        );
        assert_eq!(
            c.cell(TOO_MANY)
                .swap(0, std::sync::atomic::Ordering::SeqCst),
            (2 * parties) as u64 - u64::from(bound)
        );
        assert_eq!(sem.value(), bound);
    }
    join_all(ps);
}

// ---- the threads world ----

/// Either kind of `threading` semaphore.
#[derive(Clone)]
pub enum ThreadSem {
    Plain(std::sync::Arc<gilfree::threading::Semaphore>),
    Bounded(std::sync::Arc<gilfree::threading::BoundedSemaphore>),
}

fn refused(e: gilfree::threading::Error) -> Refused {
    match e {
        gilfree::threading::Error::TooManyReleases => Refused::TooMany,
        gilfree::threading::Error::Value(_) => Refused::Value,
        e => panic!("unexpected {e}"),
    }
}

macro_rules! on_sem {
    ($s:expr, $x:ident => $e:expr) => {
        match $s {
            ThreadSem::Plain($x) => $e,
            ThreadSem::Bounded($x) => $e,
        }
    };
}

impl SemOps for ThreadSem {
    fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        on_sem!(self, s => s.acquire_unguarded(blocking, timeout))
    }
    fn try_acquire_forget(&self) -> bool {
        on_sem!(self, s => s.try_acquire().map(|g| g.forget()).is_some())
    }
    fn acquire_timeout_forget(&self, t: Duration) -> bool {
        on_sem!(self, s => s.acquire_timeout(t).map(|g| g.forget()).is_some())
    }
    fn acquire_forget(&self) {
        on_sem!(self, s => s.acquire().forget())
    }
    fn with(&self, f: &mut dyn FnMut()) {
        on_sem!(self, s => {
            let _g = s.acquire();
            f()
        })
    }
    fn release(&self) -> Result<(), Refused> {
        on_sem!(self, s => s.release().map_err(refused))
    }
    fn release_n(&self, n: u32) -> Result<(), Refused> {
        on_sem!(self, s => s.release_n(n).map_err(refused))
    }
    fn value(&self) -> u32 {
        on_sem!(self, s => s.value())
    }
}

impl SemWorld for Threads {
    type Sem = ThreadSem;
    fn semaphore(&self, bounded: bool, value: u32) -> ThreadSem {
        use gilfree::threading::{BoundedSemaphore, Semaphore};
        if bounded {
            ThreadSem::Bounded(BoundedSemaphore::new(value).into())
        } else {
            ThreadSem::Plain(Semaphore::new(value).into())
        }
    }
    fn default_semaphore(&self, bounded: bool) -> ThreadSem {
        if bounded {
            ThreadSem::Bounded(Default::default())
        } else {
            ThreadSem::Plain(Default::default())
        }
    }
    fn start_sem(&self, k: &SemKit<Self>, name: &'static str, arg: u64) -> Party {
        let k = SemKit {
            world: Threads,
            sem: k.sem.clone(),
            cells: k.cells.clone(),
        };
        Party::thread(move || party(&k, name, arg))
    }
}
