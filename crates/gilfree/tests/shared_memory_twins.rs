//! The threading twins' test cases, written once and run twice: over the
//! `threading` type with threads as the parties (in the `threading_*.rs`
//! test files), and here over the `multiprocessing` type with child
//! processes as the parties, under each start method. The shared bodies
//! live in `tests/twins/` (one module per family, generic over a *world*);
//! this file adds the process world: its cells (atomics in a shared block),
//! and one task per family that runs a named party body in a child.
//! `harness = false`: `main` calls `multiprocessing::init()` first
//! (children re-execute this binary).
//!
//! The families not yet moved to `tests/twins/` keep a core subset of
//! their cases here, shared through the small traits below.
//!
//! Thread-only cases (they stay in the threading files), and why:
//! - `Semaphore`: `semaphore_test_repr`, `bounded_semaphore_test_repr` (the
//!   `Debug` text of the `threading` type, no parties);
//!   `guard_released_from_another_thread` (moves a guard, a borrow, to
//!   another thread; across processes a permit goes back with `release`,
//!   which the shared cases cover).

#[path = "twins/semaphore.rs"]
mod semaphore;
#[path = "twins/world.rs"]
mod world;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use gilfree::multiprocessing::{self as mp, SharedMemory, StartMethod, get_context};
use gilfree::threading;
use libtest_mimic::{Arguments, Failed, Trial};
use serde::{Deserialize, Serialize};

use semaphore::{Refused, SemKit, SemOps, SemWorld};
use world::{CELLS, Cells, Party, World};

// ---- the process world ----

/// The processes world: parties are child processes started with the
/// given method, over the `multiprocessing` types.
#[derive(Clone, Copy)]
struct Procs(StartMethod);

/// Cells for processes: atomics in an anonymous shared block, passed to
/// each child with the case's primitives.
#[derive(Serialize, Deserialize)]
struct ProcCells(SharedMemory);

impl ProcCells {
    fn share(&self) -> ProcCells {
        ProcCells(self.0.try_clone().expect("clone the cells' block"))
    }
}

impl Cells for ProcCells {
    fn cell(&self, i: usize) -> &AtomicU64 {
        assert!(i < CELLS && self.0.size() >= CELLS * 8);
        // SAFETY: the block is a page-aligned mapping of at least CELLS
        // u64s (checked), alive while `self` is; every process touches it
        // only through these atomics (`AtomicU64` has `u64`'s layout, and
        // any bit pattern is a valid one).
        unsafe { &*self.0.as_ptr().cast::<AtomicU64>().add(i) }
    }
}

impl World for Procs {
    type Cells = ProcCells;
    fn cells(&self) -> ProcCells {
        ProcCells(SharedMemory::anonymous(CELLS * 8).expect("a block for the cells"))
    }
}

impl Procs {
    /// A child process running `task` with `args`, as a party.
    fn party<A: Serialize>(&self, task: mp::Task<A, u64>, args: A) -> Party {
        let p = get_context(self.0)
            .process(task, args)
            .expect("make the party's process");
        p.start().expect("start the party's process");
        Party::new(move || p.result().map_err(|e| e.to_string()))
    }
}

// ---- Semaphore, BoundedSemaphore ----

/// Either kind of `multiprocessing` semaphore.
#[derive(Serialize, Deserialize)]
enum MpSem {
    Plain(mp::Semaphore),
    Bounded(mp::BoundedSemaphore),
}

macro_rules! on_mp_sem {
    ($s:expr, $x:ident => $e:expr) => {
        match $s {
            MpSem::Plain($x) => $e,
            MpSem::Bounded($x) => $e,
        }
    };
}

/// Python's `multiprocessing` semaphores raise `ValueError` for both: the
/// message tells them apart.
fn mp_refused(e: mp::Error) -> Refused {
    match e {
        mp::Error::Value(m) if m.contains("released too many times") => Refused::TooMany,
        mp::Error::Value(_) => Refused::Value,
        e => panic!("unexpected {e}"),
    }
}

impl SemOps for MpSem {
    fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        on_mp_sem!(self, s => s.acquire_unguarded(blocking, timeout))
    }
    fn try_acquire_forget(&self) -> bool {
        on_mp_sem!(self, s => s.try_acquire().map(|g| g.forget()).is_some())
    }
    fn acquire_timeout_forget(&self, t: Duration) -> bool {
        on_mp_sem!(self, s => s.acquire_timeout(t).map(|g| g.forget()).is_some())
    }
    fn acquire_forget(&self) {
        on_mp_sem!(self, s => s.acquire().forget())
    }
    fn with(&self, f: &mut dyn FnMut()) {
        on_mp_sem!(self, s => {
            let _g = s.acquire();
            f()
        })
    }
    fn release(&self) -> Result<(), Refused> {
        on_mp_sem!(self, s => s.release().map_err(mp_refused))
    }
    fn release_n(&self, n: u32) -> Result<(), Refused> {
        on_mp_sem!(self, s => s.release_n(n).map_err(mp_refused))
    }
    fn value(&self) -> u32 {
        on_mp_sem!(self, s => s.value())
    }
}

impl MpSem {
    fn share(&self) -> MpSem {
        match self {
            MpSem::Plain(s) => MpSem::Plain(s.try_clone().expect("clone")),
            MpSem::Bounded(s) => MpSem::Bounded(s.try_clone().expect("clone")),
        }
    }
}

#[gilfree::task]
fn sem_party(sem: MpSem, cells: ProcCells, name: String, arg: u64) -> u64 {
    let k = SemKit {
        world: Procs(StartMethod::Fork), // starts no parties of its own
        sem,
        cells,
    };
    semaphore::party(&k, &name, arg)
}

impl SemWorld for Procs {
    type Sem = MpSem;
    fn semaphore(&self, bounded: bool, value: u32) -> MpSem {
        if bounded {
            MpSem::Bounded(mp::BoundedSemaphore::new(value).expect("new"))
        } else {
            MpSem::Plain(mp::Semaphore::new(value).expect("new"))
        }
    }
    fn default_semaphore(&self, bounded: bool) -> MpSem {
        self.semaphore(bounded, 1)
    }
    fn start_sem(&self, k: &SemKit<Self>, name: &'static str, arg: u64) -> Party {
        self.party(
            sem_party::TASK,
            (k.sem.share(), k.cells.share(), name.to_owned(), arg),
        )
    }
}

/// Every shared case of a family, by name, for one world.
type Cases<W> = Vec<(String, Box<dyn Fn(&W) + Send + Sync>)>;

fn semaphore_cases<W: SemWorld + Clone>() -> Cases<W> {
    use semaphore as c;
    let mut v: Cases<W> = Vec::new();
    for (kind, bounded) in [
        ("semaphore_tests", false),
        ("bounded_semaphore_tests", true),
    ] {
        macro_rules! base {
            ($($name:ident),*) => {$(
                v.push((format!("{kind}::{}", stringify!($name)), Box::new(move |w: &W| c::$name(w, bounded))));
            )*};
        }
        base!(
            test_constructor,
            test_acquire,
            test_acquire_destroy,
            test_try_acquire,
            test_try_acquire_contended,
            test_acquire_timeout,
            test_default_value,
            test_with
        );
        v.push((
            format!("{kind}::test_acquire_contended"),
            Box::new(move |w: &W| c::contended_phases(w, bounded, false)),
        ));
        v.push((
            format!("{kind}::test_multirelease"),
            Box::new(move |w: &W| c::contended_phases(w, bounded, true)),
        ));
    }
    macro_rules! single {
        ($($name:ident),*) => {$(
            v.push((stringify!($name).to_owned(), Box::new(|w: &W| c::$name(w))));
        )*};
    }
    single!(
        semaphore_test_release_unacquired,
        semaphore_release_n_rejects_zero_and_overflow,
        bounded_semaphore_test_release_unacquired,
        bounded_semaphore_release_n_all_or_nothing,
        bounded_guard_drop_at_bound_keeps_bound
    );
    v.push((
        "stress_semaphore_bound_never_exceeded".into(),
        Box::new(|w: &W| c::stress_bound_never_exceeded(w, 3, 8, 3_000)),
    ));
    v.push((
        "stress_semaphore_release_n_nothing_lost".into(),
        Box::new(|w: &W| c::stress_release_n(w, 6, 5_000)),
    ));
    v.push((
        "stress_bounded_semaphore_over_release_race".into(),
        Box::new(|w: &W| c::stress_bounded_over_release(w, 3, 4, 2_000)),
    ));
    v
}

/// Run a shared case: its panic (or a party's failure) is the trial's.
fn run_case(f: impl FnOnce()) -> Result<(), Failed> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|e| Failed::from(world::panic_text(&*e)))
}

/// Generous: the machine is shared and busy; never legitimately reached.
const PATIENCE: Duration = Duration::from_secs(120);

/// Both events, as the shared bodies use them.
trait Ev {
    fn wait(&self) -> bool;
    fn set(&self);
    fn is_set(&self) -> bool;
}

impl Ev for Arc<threading::Event> {
    fn wait(&self) -> bool {
        self.wait_timeout(PATIENCE)
    }
    fn set(&self) {
        threading::Event::set(self)
    }
    fn is_set(&self) -> bool {
        threading::Event::is_set(self)
    }
}

impl Ev for mp::Event {
    fn wait(&self) -> bool {
        self.wait_timeout(PATIENCE)
    }
    fn set(&self) {
        mp::Event::set(self)
    }
    fn is_set(&self) -> bool {
        mp::Event::is_set(self)
    }
}

/// Both locks guarding a counter, as the shared bodies use them.
trait Lk {
    /// One increment under the lock, its read and write apart.
    fn bump(&self);
    fn count(&self) -> u64;
    /// Run `f` while the caller holds the lock.
    fn while_held<R>(&self, f: impl FnOnce() -> R) -> R;
    /// `try_acquire` and `acquire_timeout` both refused (it is held).
    fn refused(&self) -> bool;
}

/// Both data-less locks, as the release-by-another-party body uses them.
trait Unit {
    fn take(&self) -> bool;
    fn release(&self) -> bool;
    fn locked(&self) -> bool;
}

/// Both reentrant locks, as the shared bodies use them.
trait RLk {
    fn take(&self) -> bool;
    fn try_take(&self) -> bool;
    /// One level; `false` if refused (not the owner).
    fn release(&self) -> bool;
    fn owned(&self) -> bool;
    fn depth(&self) -> u32;
}

/// Both conditions over a `u32` state, as the shared bodies use them.
trait Cnd {
    /// `wait_for(state >= k)` under the lock; whether it held.
    fn wait_for_at_least(&self, k: u32) -> bool;
    /// Set the state to `v` under the lock, then notify one or all.
    fn set_and_notify(&self, v: u32, all: bool);
    /// A short `wait(timeout)` nobody notifies: its result.
    fn wait_unnotified(&self) -> bool;
}

/// Short: only ever waited out where the answer is "timed out".
const SHORT: Duration = Duration::from_millis(20);

impl Lk for Arc<threading::Lock<u64>> {
    fn bump(&self) {
        let mut g = self.acquire();
        let v = std::hint::black_box(*g);
        std::thread::yield_now();
        *g = v + 1;
    }
    fn count(&self) -> u64 {
        *self.acquire()
    }
    fn while_held<R>(&self, f: impl FnOnce() -> R) -> R {
        let _g = self.acquire();
        f()
    }
    fn refused(&self) -> bool {
        self.try_acquire().is_none() && self.acquire_timeout(SHORT).is_none()
    }
}

impl Lk for mp::Lock<u64> {
    fn bump(&self) {
        let mut g = self.acquire();
        let v = std::hint::black_box(*g);
        std::thread::yield_now();
        *g = v + 1;
    }
    fn count(&self) -> u64 {
        *self.acquire()
    }
    fn while_held<R>(&self, f: impl FnOnce() -> R) -> R {
        let _g = self.acquire();
        f()
    }
    fn refused(&self) -> bool {
        self.try_acquire().is_none() && self.acquire_timeout(SHORT).is_none()
    }
}

impl Unit for Arc<threading::Lock> {
    fn take(&self) -> bool {
        self.acquire_unguarded(true, Some(PATIENCE))
    }
    fn release(&self) -> bool {
        threading::Lock::release(self).is_ok()
    }
    fn locked(&self) -> bool {
        threading::Lock::locked(self)
    }
}

impl Unit for mp::Lock {
    fn take(&self) -> bool {
        self.acquire_unguarded(true, Some(PATIENCE))
    }
    fn release(&self) -> bool {
        mp::Lock::release(self).is_ok()
    }
    fn locked(&self) -> bool {
        mp::Lock::locked(self)
    }
}

impl RLk for Arc<threading::RLock> {
    fn take(&self) -> bool {
        self.acquire_unguarded(true, Some(PATIENCE))
    }
    fn try_take(&self) -> bool {
        self.acquire_unguarded(false, None)
    }
    fn release(&self) -> bool {
        threading::RLock::release(self).is_ok()
    }
    fn owned(&self) -> bool {
        self.is_owned()
    }
    fn depth(&self) -> u32 {
        self.recursion_count()
    }
}

/// `multiprocessing::RLock` has no guard-less acquire: a guard forgotten
/// is one, released level by level with `release` (as its docs say).
impl RLk for mp::RLock {
    fn take(&self) -> bool {
        self.acquire_timeout(PATIENCE)
            .map(std::mem::forget)
            .is_some()
    }
    fn try_take(&self) -> bool {
        self.try_acquire().map(std::mem::forget).is_some()
    }
    fn release(&self) -> bool {
        mp::RLock::release(self).is_ok()
    }
    fn owned(&self) -> bool {
        self.is_owned()
    }
    fn depth(&self) -> u32 {
        self.recursion_count()
    }
}

impl Cnd for Arc<threading::Condition<threading::Lock<u32>>> {
    fn wait_for_at_least(&self, k: u32) -> bool {
        let mut g = self.acquire();
        self.wait_for_guard_timeout(&mut g, |v| *v >= k, PATIENCE)
            .unwrap()
    }
    fn set_and_notify(&self, v: u32, all: bool) {
        let mut g = self.acquire();
        *g = v;
        if all {
            self.notify_all().unwrap();
        } else {
            self.notify(1).unwrap();
        }
    }
    fn wait_unnotified(&self) -> bool {
        let mut g = self.acquire();
        self.wait_guard_timeout(&mut g, SHORT).unwrap()
    }
}

impl Cnd for mp::Condition<u32> {
    fn wait_for_at_least(&self, k: u32) -> bool {
        let mut g = self.acquire();
        self.wait_for_guard_timeout(&mut g, |v| *v >= k, PATIENCE)
    }
    fn set_and_notify(&self, v: u32, all: bool) {
        let mut g = self.acquire();
        *g = v;
        if all {
            self.notify_all().unwrap();
        } else {
            self.notify(1).unwrap();
        }
    }
    fn wait_unnotified(&self) -> bool {
        let mut g = self.acquire();
        self.wait_guard_timeout(&mut g, SHORT)
    }
}

/// A party of the event case: wait for the set; whether it was seen.
fn event_party(e: &impl Ev) -> bool {
    e.wait()
}

#[gilfree::task]
fn event_party_task(e: mp::Event) -> bool {
    event_party(&e)
}

/// A party of the lock cases: `m` increments under the lock, or (`m` 0,
/// while another party holds it) whether both non-blocking and timed
/// acquires are refused.
fn lock_party(l: &impl Lk, m: u32) -> bool {
    if m == 0 {
        return l.refused();
    }
    for _ in 0..m {
        l.bump();
    }
    true
}

/// A party of the release case: release a lock another party acquired.
fn unit_party(u: &impl Unit) -> bool {
    u.release()
}

/// A party of the RLock case. While another party holds it (`free`
/// false): it cannot take or release it and does not own it. Once it is
/// fully released (`free`): it takes it twice, is two deep, and releases
/// both levels, a third release refused.
fn rlock_party(r: &impl RLk, free: bool) -> bool {
    if !free {
        return !r.try_take() && !r.release() && !r.owned() && r.depth() == 0;
    }
    r.take()
        && r.take()
        && r.depth() == 2
        && r.release()
        && r.release()
        && !r.owned()
        && !r.release()
}

/// A party of the condition cases: wait for the state to reach `k`, or
/// (`k` 0) a timed wait nobody notifies, which must say so.
fn cond_party(c: &impl Cnd, k: u32) -> bool {
    if k == 0 {
        return !c.wait_unnotified();
    }
    c.wait_for_at_least(k)
}

#[gilfree::task]
fn lock_party_task(l: mp::Lock<u64>, m: u32) -> bool {
    lock_party(&l, m)
}

#[gilfree::task]
fn unit_party_task(u: mp::Lock) -> bool {
    unit_party(&u)
}

#[gilfree::task]
fn rlock_party_task(r: mp::RLock, free: bool) -> bool {
    rlock_party(&r, free)
}

#[gilfree::task]
fn cond_party_task(c: mp::Condition<u32>, k: u32) -> bool {
    cond_party(&c, k)
}

type Join = Box<dyn FnOnce() -> Result<bool, Failed>>;

/// How a shared body makes the primitives and starts a party on them.
trait Twin {
    type E: Ev;
    fn event(&self) -> Result<Self::E, Failed>;
    fn start_event(&self, e: &Self::E) -> Result<Join, Failed>;
    type L: Lk;
    type U: Unit;
    type R: RLk;
    type C: Cnd;
    fn lock(&self) -> Result<Self::L, Failed>;
    fn unit_lock(&self) -> Result<Self::U, Failed>;
    fn rlock(&self) -> Result<Self::R, Failed>;
    fn condition(&self) -> Result<Self::C, Failed>;
    fn start_lock(&self, l: &Self::L, m: u32) -> Result<Join, Failed>;
    fn start_unit(&self, u: &Self::U) -> Result<Join, Failed>;
    fn start_rlock(&self, r: &Self::R, free: bool) -> Result<Join, Failed>;
    fn start_cond(&self, c: &Self::C, k: u32) -> Result<Join, Failed>;
}

/// A thread running `f`, joined as a party.
fn thread_party(f: impl FnOnce() -> bool + Send + 'static) -> Join {
    let t = std::thread::spawn(f);
    Box::new(move || t.join().map_err(|_| "party panicked".into()))
}

struct Threads;
impl Twin for Threads {
    type E = Arc<threading::Event>;
    fn event(&self) -> Result<Self::E, Failed> {
        Ok(Arc::new(threading::Event::new()))
    }
    fn start_event(&self, e: &Self::E) -> Result<Join, Failed> {
        let e = e.clone();
        let t = std::thread::spawn(move || event_party(&e));
        Ok(Box::new(move || {
            t.join().map_err(|_| "party panicked".into())
        }))
    }
    type L = Arc<threading::Lock<u64>>;
    type U = Arc<threading::Lock>;
    type R = Arc<threading::RLock>;
    type C = Arc<threading::Condition<threading::Lock<u32>>>;
    fn lock(&self) -> Result<Self::L, Failed> {
        Ok(Arc::new(threading::Lock::new(0)))
    }
    fn unit_lock(&self) -> Result<Self::U, Failed> {
        Ok(Arc::new(threading::Lock::new(())))
    }
    fn rlock(&self) -> Result<Self::R, Failed> {
        Ok(Arc::new(threading::RLock::new(())))
    }
    fn condition(&self) -> Result<Self::C, Failed> {
        Ok(Arc::new(threading::Condition::from_lock(
            threading::Lock::new(0),
        )))
    }
    fn start_lock(&self, l: &Self::L, m: u32) -> Result<Join, Failed> {
        let l = l.clone();
        Ok(thread_party(move || lock_party(&l, m)))
    }
    fn start_unit(&self, u: &Self::U) -> Result<Join, Failed> {
        let u = u.clone();
        Ok(thread_party(move || unit_party(&u)))
    }
    fn start_rlock(&self, r: &Self::R, free: bool) -> Result<Join, Failed> {
        let r = r.clone();
        Ok(thread_party(move || rlock_party(&r, free)))
    }
    fn start_cond(&self, c: &Self::C, k: u32) -> Result<Join, Failed> {
        let c = c.clone();
        Ok(thread_party(move || cond_party(&c, k)))
    }
}

struct Processes(StartMethod);

impl Processes {
    /// A child process running `task`, joined as a party.
    fn party<A>(&self, task: mp::Task<A, bool>, args: A) -> Result<Join, Failed>
    where
        A: serde::Serialize,
    {
        let p = get_context(self.0).process(task, args)?;
        p.start()?;
        Ok(Box::new(move || Ok(p.result()?)))
    }
}
impl Twin for Processes {
    type E = mp::Event;
    fn event(&self) -> Result<Self::E, Failed> {
        Ok(mp::Event::new()?)
    }
    fn start_event(&self, e: &Self::E) -> Result<Join, Failed> {
        let p = get_context(self.0).process(event_party_task::TASK, (e.try_clone()?,))?;
        p.start()?;
        Ok(Box::new(move || Ok(p.result()?)))
    }
    type L = mp::Lock<u64>;
    type U = mp::Lock;
    type R = mp::RLock;
    type C = mp::Condition<u32>;
    fn lock(&self) -> Result<Self::L, Failed> {
        Ok(mp::Lock::new(0)?)
    }
    fn unit_lock(&self) -> Result<Self::U, Failed> {
        Ok(mp::Lock::new(())?)
    }
    fn rlock(&self) -> Result<Self::R, Failed> {
        Ok(mp::RLock::new()?)
    }
    fn condition(&self) -> Result<Self::C, Failed> {
        Ok(mp::Condition::new(0)?)
    }
    fn start_lock(&self, l: &Self::L, m: u32) -> Result<Join, Failed> {
        self.party(lock_party_task::TASK, (l.try_clone()?, m))
    }
    fn start_unit(&self, u: &Self::U) -> Result<Join, Failed> {
        self.party(unit_party_task::TASK, (u.try_clone()?,))
    }
    fn start_rlock(&self, r: &Self::R, free: bool) -> Result<Join, Failed> {
        self.party(rlock_party_task::TASK, (r.try_clone()?, free))
    }
    fn start_cond(&self, c: &Self::C, k: u32) -> Result<Join, Failed> {
        self.party(cond_party_task::TASK, (c.try_clone()?, k))
    }
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

/// Python's event case: every party waiting (or about to) sees the set.
fn twin_event(t: &impl Twin) -> Result<(), Failed> {
    let e = t.event()?;
    let joins = (0..3)
        .map(|_| t.start_event(&e))
        .collect::<Result<Vec<_>, Failed>>()?;
    e.set();
    for j in joins {
        check(j()?, "a party missed the set")?;
    }
    check(e.is_set(), "set")
}

/// Python's Lock case: N parties × M increments under the lock (read and
/// write apart) add up exactly.
fn twin_lock_counter(t: &impl Twin) -> Result<(), Failed> {
    const N: usize = 3;
    const M: u32 = 500;
    let l = t.lock()?;
    let joins = (0..N)
        .map(|_| t.start_lock(&l, M))
        .collect::<Result<Vec<_>, Failed>>()?;
    for _ in 0..M {
        l.bump();
    }
    for j in joins {
        check(j()?, "a party did not finish")?;
    }
    let want = (N as u64 + 1) * u64::from(M);
    check(l.count() == want, format!("{} != {want}", l.count()))
}

/// Python's Lock case: while one party holds it, another's
/// `acquire(blocking=False)` and `acquire(timeout=t)` both fail; once
/// released, it is free.
fn twin_lock_held(t: &impl Twin) -> Result<(), Failed> {
    let l = t.lock()?;
    let refused = l.while_held(|| t.start_lock(&l, 0).and_then(|j| j()))?;
    check(refused, "acquired while held")?;
    check(lock_party(&l, 1), "taken after the release")?;
    check(l.count() == 1, format!("count {}", l.count()))
}

/// Python's Lock case: a lock acquired by one party may be released by
/// another; releasing it again is an error.
fn twin_lock_released_by_another(t: &impl Twin) -> Result<(), Failed> {
    let u = t.unit_lock()?;
    check(u.take(), "acquired")?;
    check(u.locked(), "locked")?;
    check(t.start_unit(&u)?()?, "the other party's release")?;
    check(!u.locked(), "unlocked after the other party's release")?;
    check(!u.release(), "releasing an unlocked lock")
}

/// Python's RLock case: the owner re-enters (depth counts); another party
/// can neither take nor release it while it is held at any depth; once
/// fully released, another party takes it (and re-enters) in turn.
fn twin_rlock(t: &impl Twin) -> Result<(), Failed> {
    let r = t.rlock()?;
    check(r.take() && r.take(), "re-entered")?;
    check(r.owned() && r.depth() == 2, format!("depth {}", r.depth()))?;
    check(t.start_rlock(&r, false)?()?, "another party at depth 2")?;
    check(r.release(), "one level")?;
    check(r.owned() && r.depth() == 1, format!("depth {}", r.depth()))?;
    check(t.start_rlock(&r, false)?()?, "another party at depth 1")?;
    check(r.release(), "the last level")?;
    check(!r.owned() && r.depth() == 0, "released")?;
    check(!r.release(), "released once too often")?;
    check(t.start_rlock(&r, true)?()?, "another party once free")?;
    check(r.try_take(), "free again after the other party")?;
    check(r.release(), "released")
}

/// Python's Condition case: `notify` wakes a party waiting for the
/// state's predicate.
fn twin_condition_notify(t: &impl Twin) -> Result<(), Failed> {
    let c = t.condition()?;
    let j = t.start_cond(&c, 1)?;
    c.set_and_notify(1, false);
    check(j()?, "the waiter did not see the change")
}

/// Python's Condition case: `notify_all` wakes every waiting party.
fn twin_condition_notify_all(t: &impl Twin) -> Result<(), Failed> {
    let c = t.condition()?;
    let joins = (0..3)
        .map(|_| t.start_cond(&c, 2))
        .collect::<Result<Vec<_>, Failed>>()?;
    c.set_and_notify(1, true); // not yet what they wait for
    c.set_and_notify(2, true);
    for j in joins {
        check(j()?, "a waiter did not see the change")?;
    }
    Ok(())
}

/// Python's Condition case: `wait(timeout)` with nobody notifying returns
/// false, in this party and in another.
fn twin_condition_wait_timeout(t: &impl Twin) -> Result<(), Failed> {
    let c = t.condition()?;
    check(cond_party(&c, 0), "a wait nobody notified said notified")?;
    check(
        t.start_cond(&c, 0)?()?,
        "another party's wait said notified",
    )
}

fn main() {
    gilfree::multiprocessing::init();
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let mut trials = Vec::new();
    for m in StartMethod::ALL {
        trials.push(Trial::test(format!("{m}::twin_event"), move || {
            twin_event(&Processes(m))
        }));
    }
    macro_rules! both {
        ($($case:ident),*) => {$(
            for m in StartMethod::ALL {
                trials.push(Trial::test(format!("{m}::{}", stringify!($case)), move || {
                    $case(&Processes(m))
                }));
            }
            trials.push(Trial::test(format!("threads::{}", stringify!($case)), || {
                $case(&Threads)
            }));
        )*};
    }
    both!(
        twin_lock_counter,
        twin_lock_held,
        twin_lock_released_by_another,
        twin_rlock,
        twin_condition_notify,
        twin_condition_notify_all,
        twin_condition_wait_timeout
    );
    trials.push(Trial::test("threads::twin_event", || twin_event(&Threads)));
    for m in StartMethod::ALL {
        for (name, case) in semaphore_cases::<Procs>() {
            trials.push(Trial::test(format!("{m}::semaphore::{name}"), move || {
                run_case(|| case(&Procs(m)))
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
