//! The `Event` cases (CPython's `lock_tests.py` `EventTests`, and the
//! stress tests), written once: generic over the world (threads or
//! processes).
//!
//! Where Python sleeps "until the threads are blocked", these bodies wait
//! on counts the parties keep in cells and assert only what must hold
//! whether or not the parties have reached the futex yet.

use std::time::Duration;

use super::world::*;

/// Both events, as the bodies use them.
pub trait EventOps: Send + Sync + 'static {
    fn is_set(&self) -> bool;
    fn set(&self);
    fn clear(&self);
    fn wait(&self);
    fn wait_timeout(&self, t: Duration) -> bool;
}

/// A world with events.
pub trait EventWorld: World + Sized + Clone {
    type Event: EventOps;
    fn event(&self) -> Self::Event;
    /// A party running `party(kit, arg)` (a thread, or a child process
    /// handed the kit).
    fn start_event(&self, kit: &EventKit<Self>, party: &'static str, arg: u64) -> Party;
}

/// A case's events (two, for the ping-pong) and cells, in its world.
pub struct EventKit<W: EventWorld> {
    pub world: W,
    pub a: W::Event,
    pub b: W::Event,
    pub cells: W::Cells,
}

impl<W: EventWorld> Kit for EventKit<W> {
    fn start(&self, party: &'static str, arg: u64) -> Party {
        self.world.start_event(self, party, arg)
    }
}

fn kit<W: EventWorld>(w: &W) -> EventKit<W> {
    EventKit {
        world: w.clone(),
        a: w.event(),
        b: w.event(),
        cells: w.cells(),
    }
}

// Cells of the cases.
const STARTED: usize = 0;
/// Waits passed (first and second, in the notify case).
const RESULTS1: usize = 1;
const RESULTS2: usize = 2;
/// Waits that returned `true`; parties done.
const TRUES: usize = 3;
const DONE: usize = 4;
/// Data written before `set`.
const DATA: usize = 5;
/// Stress rounds: waiters through, and the round barrier.
const PASSED: usize = 6;
const ROUND: usize = 7;
const WAITERS: usize = 8;

/// A party body, by name: what a child process is told to run.
pub fn party<W: EventWorld>(k: &EventKit<W>, name: &str, arg: u64) -> u64 {
    let (evt, c) = (&k.a, &k.cells);
    match name {
        // Say it started; wait (timed, then plain), counting each pass.
        "wait_twice" => {
            c.add(STARTED, 1);
            assert!(evt.wait_timeout(LONG));
            c.add(RESULTS1, 1);
            evt.wait();
            c.add(RESULTS2, 1);
            0
        }
        // `wait(0)` and a timed wait both return `arg != 0`.
        "timed" => {
            let expect = arg != 0;
            assert_eq!(evt.wait_timeout(Duration::ZERO), expect);
            assert_eq!(evt.wait_timeout(Duration::from_millis(50)), expect);
            0
        }
        // One timed wait; count it if it said `true`.
        "wait_count" => {
            if evt.wait_timeout(LONG) {
                c.add(TRUES, 1);
            }
            c.add(DONE, 1);
            0
        }
        "wait" => {
            evt.wait();
            0
        }
        // Wait, then read what the setter wrote before `set`.
        "wait_read" => {
            evt.wait();
            c.get(DATA)
        }
        "rounds" => {
            let mut arrival = 0;
            for _ in 0..arg {
                assert!(evt.wait_timeout(LONG), "lost wake-up");
                c.add(PASSED, 1);
                round_barrier(c, &mut arrival); // all passed
                round_barrier(c, &mut arrival); // cleared
            }
            0
        }
        // The ping side of the ping-pong: `a` is ping, `b` is pong.
        "ping" => {
            for _ in 0..arg {
                assert!(k.a.wait_timeout(LONG), "lost wake-up");
                k.a.clear();
                k.b.set();
            }
            0
        }
        _ => panic!("no event party {name:?}"),
    }
}

pub fn test_is_set<W: EventWorld>(w: &W) {
    let evt = w.event();
    assert!(!evt.is_set());
    evt.set();
    assert!(evt.is_set());
    evt.set();
    assert!(evt.is_set());
    evt.clear();
    assert!(!evt.is_set());
    evt.clear();
    assert!(!evt.is_set());
}

/// Five parties wait twice; one `set` releases all of them from both
/// waits, and nobody passes before it.
fn check_notify<W: EventWorld>(k: &EventKit<W>) {
    const N: u64 = 5;
    let c = &k.cells;
    for i in [STARTED, RESULTS1, RESULTS2] {
        c.set(i, 0);
    }
    let parties = k.start_n(N as usize, "wait_twice", |_| 0);
    c.wait_at_least(STARTED, N);
    // Started, and whether asleep or not, none can have passed.
    assert_eq!(c.get(RESULTS1), 0);
    k.a.set();
    join_all(parties);
    assert_eq!(c.get(RESULTS1), N);
    assert_eq!(c.get(RESULTS2), N);
}

pub fn test_notify<W: EventWorld>(w: &W) {
    let k = kit(w);
    check_notify(&k);
    // Another time, after an explicit clear().
    k.a.set();
    k.a.clear();
    check_notify(&k);
}

/// An unset event: `wait(0)` and a timed wait both return `false`. A set
/// event: both return `true`.
pub fn test_timeout<W: EventWorld>(w: &W) {
    const N: usize = 5;
    let k = kit(w);
    join_all(k.start_n(N, "timed", |_| 0));
    k.a.set();
    join_all(k.start_n(N, "timed", |_| 1));
}

/// gh-57711: `wait()` returns `true` even when the event is cleared again
/// before the waiting party is woken up.
///
/// Python sleeps until the threads are blocked, then sets and clears once.
/// Without that sleep a party may begin its wait after the clear, and is
/// then rightly blocked; so the test sets and clears until every waiter has
/// returned. Each `wait` must return `true` although the flag is cleared
/// right after every set. (The exact single set-and-clear against a wait
/// that began before it is checked deterministically by the unit test
/// `threading::event::tests::wait_sees_set_then_clear` and by the loom model
/// `event_set_clear_still_wakes`.)
pub fn test_set_and_clear<W: EventWorld>(w: &W) {
    const N: usize = 5;
    let k = kit(w);
    let (event, c) = (&k.a, &k.cells);
    let parties = k.start_n(N, "wait_count", |_| 0);
    while c.get(DONE) < N as u64 {
        event.set();
        event.clear();
        std::thread::yield_now();
    }
    join_all(parties);
    assert_eq!(c.get(TRUES), N as u64);
    assert!(!event.is_set());
}

/// Python's `_at_fork_reinit` resets the internal Condition's lock; there
/// is none here. What remains: an event that had waiters behaves like a
/// fresh one (not set, a timed wait times out, a set is seen).
pub fn test_at_fork_reinit<W: EventWorld>(w: &W) {
    let k = kit(w);
    let evt = &k.a;
    let p = k.start("wait", 0);
    evt.set();
    p.join();
    evt.clear();
    assert!(!evt.is_set());
    assert!(!evt.wait_timeout(Duration::from_millis(1)));
    evt.set();
    assert!(evt.wait_timeout(Duration::ZERO));
}

/// What the setter wrote before `set` is seen by the waiter after `wait`.
pub fn set_publishes_writes<W: EventWorld>(w: &W) {
    let k = kit(w);
    let p = k.start("wait_read", 0);
    k.cells
        .cell(DATA)
        .store(42, std::sync::atomic::Ordering::Relaxed);
    k.a.set();
    assert_eq!(p.join(), 42);
}

// ---- stress ----

/// The round barrier of the rounds stress: the waiters and the test each
/// arrive twice per round (a counting barrier in a cell).
fn round_barrier<C: Cells>(c: &C, arrival: &mut u64) {
    *arrival += 1;
    let everyone = c.get(WAITERS) + 1;
    c.add(ROUND, 1);
    c.wait_at_least(ROUND, everyone * *arrival);
}

/// Rounds of set / wait-by-all / clear with `waiters` parties: every
/// waiter is released in every round (a lost wake-up fails the timed wait
/// instead of hanging), and the flag is cleared between rounds.
pub fn stress_rounds<W: EventWorld>(w: &W, waiters: usize, rounds: usize) {
    let k = kit(w);
    let (start, c) = (&k.a, &k.cells);
    c.set(WAITERS, waiters as u64);
    let parties = k.start_n(waiters, "rounds", |_| rounds as u64);
    let mut arrival = 0;
    for r in 0..rounds {
        start.set();
        round_barrier(c, &mut arrival);
        assert_eq!(c.get(PASSED), ((r + 1) * waiters) as u64);
        start.clear();
        round_barrier(c, &mut arrival);
    }
    join_all(parties);
}

/// Ping-pong on two events, each cleared by its waiter: a lost wake-up
/// would fail a timed wait.
pub fn stress_ping_pong<W: EventWorld>(w: &W, rounds: usize) {
    let k = kit(w);
    let (ping, pong) = (&k.a, &k.b);
    let p = k.start("ping", rounds as u64);
    for _ in 0..rounds {
        ping.set();
        assert!(pong.wait_timeout(LONG), "lost wake-up");
        pong.clear();
    }
    p.join();
    assert!(!ping.is_set() && !pong.is_set());
}

// ---- the threads world ----

impl EventOps for std::sync::Arc<gilfree::threading::Event> {
    fn is_set(&self) -> bool {
        gilfree::threading::Event::is_set(self)
    }
    fn set(&self) {
        gilfree::threading::Event::set(self)
    }
    fn clear(&self) {
        gilfree::threading::Event::clear(self)
    }
    fn wait(&self) {
        gilfree::threading::Event::wait(self);
    }
    fn wait_timeout(&self, t: Duration) -> bool {
        gilfree::threading::Event::wait_timeout(self, t)
    }
}

impl EventWorld for Threads {
    type Event = std::sync::Arc<gilfree::threading::Event>;
    fn event(&self) -> Self::Event {
        Default::default()
    }
    fn start_event(&self, k: &EventKit<Self>, name: &'static str, arg: u64) -> Party {
        let k = EventKit {
            world: Threads,
            a: k.a.clone(),
            b: k.b.clone(),
            cells: k.cells.clone(),
        };
        Party::thread(move || party(&k, name, arg))
    }
}
