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
//! Thread-only cases (they stay in the threading files), and why:
//! - `Semaphore`: `semaphore_test_repr`, `bounded_semaphore_test_repr` (the
//!   `Debug` text of the `threading` type, no parties);
//!   `guard_released_from_another_thread` (moves a guard, a borrow, to
//!   another thread; across processes a permit goes back with `release`,
//!   which the shared cases cover).
//! - `Event`: `test_repr` (the `Debug` text, no parties).
//! - `Lock`: `test_repr`, `test_locked_repr` (the `Debug` text);
//!   `test_thread_leak` (whether lock use registers a *thread* with
//!   `threading.enumerate`); `test_weakref_exists`, `test_weakref_deleted`
//!   (an `Arc`'s weak references, not the lock's). The exact error of a
//!   release of an unlocked lock is each twin's own (Python's
//!   `RuntimeError` vs `ValueError`); the shared case checks it is one.
//! - `RLock`: `rlock_test_repr`, `rlock_test_locked_repr` (the `Debug`
//!   text); `rlock_test_weakref_deleted` (an `Arc`'s weak reference);
//!   `rlock_guards_data_with_shared_refs` (`threading::RLock<T>` guards
//!   data; `multiprocessing::RLock` guards none, as in Python);
//!   `rlock_test_release_save_unacquired` (a `threading::Condition` over
//!   an `RLock`: `multiprocessing::Condition` has its own lock).
//! - `Condition` (its twin here is `multiprocessing::Condition<u32>`, and
//!   the threading side's `Condition<Lock<u32>>`): `condition_test_acquire`,
//!   `condition_wait_releases_every_rlock_level_and_restores_them`,
//!   `condition_test_unacquired_wait_other_thread_owner`,
//!   `condition_stress_python_shaped_rlock` (the default `RLock` and its
//!   owner: `multiprocessing::Condition` has its own plain lock — Python's
//!   defaults to an `RLock`); `condition_test_unacquired_wait`
//!   (the guard-less `wait()`, which the guard API rules out);
//!   `condition_test_notify`, `condition_test_notify_over_lock`,
//!   `condition_test_notify_wait_timeout`,
//!   `condition_stress_timeouts_do_not_swallow_notifies` (exact waiter
//!   counts: `multiprocessing::Condition` keeps no `n_waiting` and its
//!   `notify` returns no count); `condition_two_conditions_share_one_lock`,
//!   `condition_stress_producer_consumer_notify_one` (two conditions over
//!   one lock: no such constructor). The shared `unacquired_notify` case
//!   runs over the data lock; the threading file adds the `RLock` one.
//! - `Barrier`: `barrier_test_repr` (the `Debug` text). The action is each
//!   process's own (a closure cannot travel): every party's handle gets
//!   the same one, working on the shared cells.

#[path = "twins/barrier.rs"]
mod barrier;
#[path = "twins/condition.rs"]
mod condition;
#[path = "twins/event.rs"]
mod event;
#[path = "twins/lock.rs"]
mod lock;
#[path = "twins/rlock.rs"]
mod rlock;
#[path = "twins/semaphore.rs"]
mod semaphore;
#[path = "twins/world.rs"]
mod world;

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use gilfree::multiprocessing::{self as mp, SharedMemory, StartMethod, get_context};
use gilfree::threading;
use libtest_mimic::{Arguments, Failed, Trial};
use serde::{Deserialize, Serialize};

use barrier::{Action, BarrierKit, BarrierWorld};
use condition::{CondKit, CondWorld};
use event::{EventKit, EventWorld};
use lock::{LockKit, LockWorld};
use rlock::{RLockKit, RLockWorld};
use semaphore::{Refused, SemKit, SemOps, SemWorld};
use world::{Cells, Party, World};

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
        assert!((i + 1) * 8 <= self.0.size(), "cell {i} out of range");
        // SAFETY: the block is a page-aligned mapping holding cell `i`
        // (checked), alive while `self` is; every process touches it only
        // through these atomics (`AtomicU64` has `u64`'s layout, and any
        // bit pattern is a valid one).
        unsafe { &*self.0.as_ptr().cast::<AtomicU64>().add(i) }
    }
}

impl World for Procs {
    type Cells = ProcCells;
    fn cells_n(&self, n: usize) -> ProcCells {
        ProcCells(SharedMemory::anonymous(n * 8).expect("a block for the cells"))
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

/// Every shared case of a family, by name, for one world.
type Cases<W> = Vec<(String, Box<dyn Fn(&W) + Send + Sync>)>;

/// The named cases of a family module, for the world `W` in scope.
macro_rules! cases {
    ($module:ident, $($name:ident),* $(,)?) => {{
        let v: Cases<W> = vec![$((
            stringify!($name).to_owned(),
            Box::new(|w: &W| $module::$name(w)),
        )),*];
        v
    }};
}

/// Run a shared case: its panic (or a party's failure) is the trial's.
fn run_case(f: impl FnOnce()) -> Result<(), Failed> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|e| Failed::from(world::panic_text(&*e)))
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
    v.extend(cases!(
        semaphore,
        semaphore_test_release_unacquired,
        semaphore_release_n_rejects_zero_and_overflow,
        bounded_semaphore_test_release_unacquired,
        bounded_semaphore_release_n_all_or_nothing,
        bounded_guard_drop_at_bound_keeps_bound,
    ));
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

// ---- Event ----

impl event::EventOps for mp::Event {
    fn is_set(&self) -> bool {
        mp::Event::is_set(self)
    }
    fn set(&self) {
        mp::Event::set(self)
    }
    fn clear(&self) {
        mp::Event::clear(self)
    }
    fn wait(&self) {
        mp::Event::wait(self)
    }
    fn wait_timeout(&self, t: Duration) -> bool {
        mp::Event::wait_timeout(self, t)
    }
}

#[gilfree::task]
fn event_party(a: mp::Event, b: mp::Event, cells: ProcCells, name: String, arg: u64) -> u64 {
    let k = EventKit {
        world: Procs(StartMethod::Fork), // starts no parties of its own
        a,
        b,
        cells,
    };
    event::party(&k, &name, arg)
}

impl EventWorld for Procs {
    type Event = mp::Event;
    fn event(&self) -> mp::Event {
        mp::Event::new().expect("new")
    }
    fn start_event(&self, k: &EventKit<Self>, name: &'static str, arg: u64) -> Party {
        let clone = |e: &mp::Event| e.try_clone().expect("clone");
        self.party(
            event_party::TASK,
            (
                clone(&k.a),
                clone(&k.b),
                k.cells.share(),
                name.to_owned(),
                arg,
            ),
        )
    }
}

fn event_cases<W: EventWorld>() -> Cases<W> {
    use event as c;
    let mut v = cases!(
        event,
        test_is_set,
        test_notify,
        test_timeout,
        test_set_and_clear,
        test_at_fork_reinit,
        set_publishes_writes
    );
    v.push((
        "stress_event_set_clear_wait_rounds".into(),
        Box::new(|w: &W| c::stress_rounds(w, 4, 2_000)),
    ));
    v.push((
        "stress_event_ping_pong".into(),
        Box::new(|w: &W| c::stress_ping_pong(w, 20_000)),
    ));
    v
}

// ---- Lock ----

impl lock::LockOps for mp::Lock {
    fn locked(&self) -> bool {
        mp::Lock::locked(self)
    }
    fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        mp::Lock::acquire_unguarded(self, blocking, timeout)
    }
    fn try_acquire(&self) -> bool {
        mp::Lock::try_acquire(self).is_some()
    }
    fn acquire_timeout(&self, t: Duration) -> bool {
        mp::Lock::acquire_timeout(self, t).is_some()
    }
    fn with(&self, f: &mut dyn FnMut()) {
        let _g = self.acquire();
        f()
    }
    fn release(&self) -> Result<(), ()> {
        mp::Lock::release(self).map_err(|_| ())
    }
}

#[gilfree::task]
fn lock_party(lock: mp::Lock, cells: ProcCells, name: String, arg: u64) -> u64 {
    let k = LockKit {
        world: Procs(StartMethod::Fork), // starts no parties of its own
        lock,
        cells,
    };
    lock::party(&k, &name, arg)
}

impl LockWorld for Procs {
    type Lock = mp::Lock;
    fn lock(&self) -> mp::Lock {
        mp::Lock::new(()).expect("new")
    }
    fn start_lock(&self, k: &LockKit<Self>, name: &'static str, arg: u64) -> Party {
        self.party(
            lock_party::TASK,
            (
                k.lock.try_clone().expect("clone"),
                k.cells.share(),
                name.to_owned(),
                arg,
            ),
        )
    }
}

fn lock_cases<W: LockWorld>() -> Cases<W> {
    use lock as c;
    let mut v = cases!(
        lock,
        test_constructor,
        test_acquire_destroy,
        test_acquire_release,
        test_try_acquire,
        test_try_acquire_contended,
        test_acquire_contended,
        test_with,
        test_timeout,
        test_reacquire,
        test_different_thread,
        test_state_after_timeout,
        test_releasing_unacquired_lock,
        stress_timeouts_do_not_lose_wakeups
    );
    v.push((
        "stress_counter_exact".into(),
        Box::new(|w: &W| c::counter_stress(w, 8, 20_000)),
    ));
    v.push((
        "stress_handoff_any_thread_releases".into(),
        Box::new(|w: &W| c::handoff_stress(w, 4, 3, 5_000)),
    ));
    v
}

// ---- RLock ----

impl rlock::RLockOps for mp::RLock {
    fn locked(&self) -> bool {
        mp::RLock::locked(self)
    }
    fn is_owned(&self) -> bool {
        mp::RLock::is_owned(self)
    }
    fn recursion_count(&self) -> u32 {
        mp::RLock::recursion_count(self)
    }
    fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        mp::RLock::acquire_unguarded(self, blocking, timeout)
    }
    fn acquire_forget(&self) {
        std::mem::forget(self.acquire());
    }
    fn try_acquire_forget(&self) -> bool {
        mp::RLock::try_acquire(self).map(std::mem::forget).is_some()
    }
    fn acquire_timeout_forget(&self, t: Duration) -> bool {
        mp::RLock::acquire_timeout(self, t)
            .map(std::mem::forget)
            .is_some()
    }
    fn try_acquire(&self) -> bool {
        mp::RLock::try_acquire(self).is_some()
    }
    fn acquire_timeout(&self, t: Duration) -> bool {
        mp::RLock::acquire_timeout(self, t).is_some()
    }
    fn with(&self, f: &mut dyn FnMut()) {
        let _g = self.acquire();
        f()
    }
    fn release(&self) -> Result<(), ()> {
        mp::RLock::release(self).map_err(|_| ())
    }
}

#[gilfree::task]
fn rlock_party(lock: mp::RLock, cells: ProcCells, name: String, arg: u64) -> u64 {
    let k = RLockKit {
        world: Procs(StartMethod::Fork), // starts no parties of its own
        lock,
        cells,
    };
    rlock::party(&k, &name, arg)
}

impl RLockWorld for Procs {
    type RLock = mp::RLock;
    fn rlock(&self) -> mp::RLock {
        mp::RLock::new().expect("new")
    }
    fn start_rlock(&self, k: &RLockKit<Self>, name: &'static str, arg: u64) -> Party {
        self.party(
            rlock_party::TASK,
            (
                k.lock.try_clone().expect("clone"),
                k.cells.share(),
                name.to_owned(),
                arg,
            ),
        )
    }
}

fn rlock_cases<W: RLockWorld>() -> Cases<W> {
    use rlock as c;
    let mut v = cases!(
        rlock,
        rlock_test_constructor,
        rlock_test_acquire_destroy,
        rlock_test_acquire_release,
        rlock_test_try_acquire,
        rlock_test_try_acquire_contended,
        rlock_test_acquire_contended,
        rlock_test_with,
        rlock_test_thread_leak,
        rlock_test_timeout,
        rlock_test_reacquire,
        rlock_test_release_unacquired,
        rlock_test_recursion_count,
        rlock_test_different_thread,
        rlock_test_is_owned,
        rlock_try_acquire_reenters_without_waiting
    );
    v.push((
        "rlock_stress_mutual_exclusion_with_recursion".into(),
        Box::new(|w: &W| c::stress(w, 4, 20_000)),
    ));
    v
}

// ---- Barrier ----

impl barrier::BarrierOps for mp::Barrier {
    fn wait(&self) -> Result<usize, threading::Error> {
        mp::Barrier::wait(self)
    }
    fn wait_timeout(&self, t: Duration) -> Result<usize, threading::Error> {
        mp::Barrier::wait_timeout(self, t)
    }
    fn reset(&self) {
        mp::Barrier::reset(self)
    }
    fn abort(&self) {
        mp::Barrier::abort(self)
    }
    fn parties(&self) -> usize {
        mp::Barrier::parties(self)
    }
    fn n_waiting(&self) -> usize {
        mp::Barrier::n_waiting(self)
    }
    fn broken(&self) -> bool {
        mp::Barrier::broken(self)
    }
}

/// `b` with this process's copy of the case's action.
fn with_action(b: mp::Barrier, action: Action, cells: &ProcCells) -> mp::Barrier {
    if action == Action::None {
        return b;
    }
    let (me, c) = (b.try_clone().expect("clone"), cells.share());
    b.with_action(move || barrier::act(action, &c, &me))
}

#[gilfree::task]
fn barrier_party(
    a: mp::Barrier,
    b: mp::Barrier,
    action: Action,
    cells: ProcCells,
    name: String,
    arg: u64,
) -> u64 {
    let k = BarrierKit {
        world: Procs(StartMethod::Fork), // starts no parties of its own
        a: with_action(a, action, &cells),
        b,
        action,
        cells,
    };
    barrier::party(&k, &name, arg)
}

impl BarrierWorld for Procs {
    type Barrier = mp::Barrier;
    fn refuses(&self, parties: usize) -> bool {
        mp::Barrier::new(parties).is_err()
    }
    fn barrier(
        &self,
        parties: usize,
        action: Action,
        timeout: Option<Duration>,
        cells: &ProcCells,
    ) -> mp::Barrier {
        let mut b = mp::Barrier::new(parties).expect("new");
        if let Some(t) = timeout {
            b = b.with_timeout(t);
        }
        with_action(b, action, cells)
    }
    fn start_barrier(&self, k: &BarrierKit<Self>, name: &'static str, arg: u64) -> Party {
        let clone = |b: &mp::Barrier| b.try_clone().expect("clone");
        self.party(
            barrier_party::TASK,
            (
                clone(&k.a),
                clone(&k.b),
                k.action,
                k.cells.share(),
                name.to_owned(),
                arg,
            ),
        )
    }
}

fn barrier_cases<W: BarrierWorld>() -> Cases<W> {
    use barrier as c;
    let mut v = cases!(
        barrier,
        barrier_test_constructor,
        barrier_test_barrier,
        barrier_test_barrier_10,
        barrier_test_wait_return,
        barrier_test_action,
        barrier_test_abort,
        barrier_test_reset,
        barrier_test_abort_and_reset,
        barrier_test_timeout,
        barrier_test_default_timeout,
        barrier_test_single_thread,
        barrier_action_panic_breaks_barrier,
        barrier_action_may_read_state,
        barrier_broken_until_reset,
        barrier_reset_with_nobody_waiting_is_a_no_op,
        barrier_abort_wakes_blocked_waiters
    );
    v.push((
        "barrier_stress_many_cycles".into(),
        Box::new(|w: &W| c::stress_cycles(w, 4, 3_000)),
    ));
    v
}

// ---- Condition ----

/// The `multiprocessing` twin: a condition whose lock guards a `u32`.
impl condition::CondOps for mp::Condition<u32> {
    fn with(&self, f: &mut dyn FnMut(&mut u32)) {
        let mut g = self.acquire();
        f(&mut g)
    }
    fn notify(&self, n: usize) -> Result<Option<usize>, ()> {
        // Its count is unknown (always 0, as its docs say).
        mp::Condition::notify(self, n).map(|_| None).map_err(|_| ())
    }
    fn notify_all(&self) -> Result<Option<usize>, ()> {
        mp::Condition::notify_all(self)
            .map(|_| None)
            .map_err(|_| ())
    }
    fn n_waiting(&self) -> Option<usize> {
        None
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
        };
        *seen = *g;
        held
    }
    fn wait_timeout(&self, t: Duration) -> bool {
        let mut g = self.acquire();
        self.wait_guard_timeout(&mut g, t)
    }
    /// Its waits have no error to return: they panic.
    fn wait_with_foreign_guard_refused(&self) -> bool {
        let other = mp::Lock::new(0u32).expect("new");
        let mut g = other.acquire();
        world::panics(|| self.wait_guard(&mut g))
            && world::panics(|| {
                self.wait_guard_timeout(&mut g, Duration::ZERO);
            })
            && other.locked()
    }
}

#[gilfree::task]
fn cond_party(cond: mp::Condition<u32>, cells: ProcCells, name: String, arg: u64) -> u64 {
    let k = CondKit {
        world: Procs(StartMethod::Fork), // starts no parties of its own
        cond,
        cells,
    };
    condition::party(&k, &name, arg)
}

impl CondWorld for Procs {
    type Cond = mp::Condition<u32>;
    fn condition(&self, state: u32) -> mp::Condition<u32> {
        mp::Condition::new(state).expect("new")
    }
    fn start_cond(&self, k: &CondKit<Self>, name: &'static str, arg: u64) -> Party {
        self.party(
            cond_party::TASK,
            (
                k.cond.try_clone().expect("clone"),
                k.cells.share(),
                name.to_owned(),
                arg,
            ),
        )
    }
}

fn condition_cases<W: CondWorld>() -> Cases<W> {
    cases!(
        condition,
        condition_test_unacquired_notify,
        condition_test_timeout,
        condition_test_waitfor,
        condition_test_waitfor_timeout,
        condition_guard_api_over_lock_data,
        condition_wait_guard_of_another_lock_is_not_held,
        condition_wait_guard_timeout_returns_false,
        condition_notify_more_than_waiting_is_harmless,
        twin_condition_notify,
        twin_condition_notify_all,
        twin_condition_wait_timeout,
    )
}

fn main() {
    gilfree::multiprocessing::init();
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let mut trials = Vec::new();
    for m in StartMethod::ALL {
        for (family, cases) in [
            ("semaphore", semaphore_cases::<Procs>()),
            ("event", event_cases::<Procs>()),
            ("lock", lock_cases::<Procs>()),
            ("rlock", rlock_cases::<Procs>()),
            ("barrier", barrier_cases::<Procs>()),
            ("condition", condition_cases::<Procs>()),
        ] {
            for (name, case) in cases {
                trials.push(Trial::test(format!("{m}::{family}::{name}"), move || {
                    run_case(|| case(&Procs(m)))
                }));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
