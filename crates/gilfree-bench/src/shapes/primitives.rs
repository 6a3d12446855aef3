//! The other threading primitives: RLock reacquire, Semaphore
//! acquire/release, Event and Condition ping-pong.
//!
//! std and parking_lot have no semaphore or event, so their rows are the
//! textbook construction a Rust programmer would write instead: a counter
//! or flag in a `Mutex`, with a `Condvar`. CPython's are `threading`'s.

use std::hint::black_box;

use crate::harness::{Bench, Sizes, case, run_threads, timed};

/// Reacquire an RLock the thread already holds, and release it again (the
/// cost of reentrancy). One op is one acquire+release. std has no stable
/// reentrant lock; parking_lot's is `ReentrantMutex`.
pub fn rlock_reacquire(b: &mut Bench) {
    let g = gilfree::threading::RLock::new(());
    let p = parking_lot::ReentrantMutex::new(());
    b.compare(
        "rlock_reacquire",
        Sizes::FAST,
        vec![
            case("gilfree", |n| {
                let _outer = g.acquire();
                timed(|| {
                    for _ in 0..n {
                        drop(black_box(&g).acquire());
                    }
                })
            }),
            case("parking_lot", |n| {
                let _outer = p.lock();
                timed(|| {
                    for _ in 0..n {
                        drop(black_box(&p).lock());
                    }
                })
            }),
        ],
    );
}

// A counting semaphore and an event from a mutex and a condvar: what std
// and parking_lot users write. Same code twice, one per library.

struct StdSemaphore {
    count: std::sync::Mutex<usize>,
    cv: std::sync::Condvar,
}

impl StdSemaphore {
    fn new(n: usize) -> Self {
        StdSemaphore {
            count: std::sync::Mutex::new(n),
            cv: std::sync::Condvar::new(),
        }
    }
    fn acquire(&self) {
        let mut c = self.count.lock().unwrap();
        while *c == 0 {
            c = self.cv.wait(c).unwrap();
        }
        *c -= 1;
    }
    fn release(&self) {
        *self.count.lock().unwrap() += 1;
        self.cv.notify_one();
    }
}

struct PlSemaphore {
    count: parking_lot::Mutex<usize>,
    cv: parking_lot::Condvar,
}

impl PlSemaphore {
    fn new(n: usize) -> Self {
        PlSemaphore {
            count: parking_lot::Mutex::new(n),
            cv: parking_lot::Condvar::new(),
        }
    }
    fn acquire(&self) {
        let mut c = self.count.lock();
        while *c == 0 {
            self.cv.wait(&mut c);
        }
        *c -= 1;
    }
    fn release(&self) {
        *self.count.lock() += 1;
        self.cv.notify_one();
    }
}

pub(crate) struct StdEvent {
    flag: std::sync::Mutex<bool>,
    cv: std::sync::Condvar,
}

impl StdEvent {
    pub(crate) fn new() -> Self {
        StdEvent {
            flag: std::sync::Mutex::new(false),
            cv: std::sync::Condvar::new(),
        }
    }
    pub(crate) fn set(&self) {
        *self.flag.lock().unwrap() = true;
        self.cv.notify_all();
    }
    pub(crate) fn clear(&self) {
        *self.flag.lock().unwrap() = false;
    }
    pub(crate) fn wait(&self) {
        let mut f = self.flag.lock().unwrap();
        while !*f {
            f = self.cv.wait(f).unwrap();
        }
    }
}

pub(crate) struct PlEvent {
    flag: parking_lot::Mutex<bool>,
    cv: parking_lot::Condvar,
}

impl PlEvent {
    pub(crate) fn new() -> Self {
        PlEvent {
            flag: parking_lot::Mutex::new(false),
            cv: parking_lot::Condvar::new(),
        }
    }
    pub(crate) fn set(&self) {
        *self.flag.lock() = true;
        self.cv.notify_all();
    }
    pub(crate) fn clear(&self) {
        *self.flag.lock() = false;
    }
    pub(crate) fn wait(&self) {
        let mut f = self.flag.lock();
        while !*f {
            self.cv.wait(&mut f);
        }
    }
}

/// Acquire and release a semaphore of value 1, uncontended. One op is one
/// acquire+release.
pub fn semaphore_acquire_release(b: &mut Bench) {
    let g = gilfree::threading::Semaphore::new(1);
    let s = StdSemaphore::new(1);
    let p = PlSemaphore::new(1);
    b.compare(
        "semaphore_acquire_release",
        Sizes::FAST,
        vec![
            case("gilfree", |n| {
                timed(|| {
                    for _ in 0..n {
                        drop(black_box(&g).acquire());
                    }
                })
            }),
            case("std", |n| {
                timed(|| {
                    for _ in 0..n {
                        black_box(&s).acquire();
                        s.release();
                    }
                })
            }),
            case("parking_lot", |n| {
                timed(|| {
                    for _ in 0..n {
                        black_box(&p).acquire();
                        p.release();
                    }
                })
            }),
        ],
    );
}

/// Two events bounce a turn between two threads: A sets `ping` and waits
/// for `pong`; B waits for `ping`, clears it and sets `pong`. One op is one
/// round trip (two hand-offs, each a wake-up of a thread that may sleep).
pub fn event_pingpong(b: &mut Bench) {
    macro_rules! pingpong {
        ($ev:expr) => {
            |n| {
                let (ping, pong) = ($ev, $ev);
                run_threads(2, |i| {
                    for _ in 0..n {
                        if i == 0 {
                            ping.set();
                            pong.wait();
                            pong.clear();
                        } else {
                            ping.wait();
                            ping.clear();
                            pong.set();
                        }
                    }
                })
            }
        };
    }
    b.compare(
        "event_pingpong",
        Sizes::HANDOFF,
        vec![
            case("gilfree", pingpong!(gilfree::threading::Event::new())),
            case("std", pingpong!(StdEvent::new())),
            case("parking_lot", pingpong!(PlEvent::new())),
        ],
    );
}

/// The turn passes A → B → A under one mutex and condvar: each side waits
/// for its turn, hands it over and notifies. One op is one round trip.
pub fn condition_pingpong(b: &mut Bench) {
    b.compare(
        "condition_pingpong",
        Sizes::HANDOFF,
        vec![
            case("gilfree", |n| {
                // The data-guarding form, like std's Mutex + Condvar.
                let cond =
                    gilfree::threading::Condition::from_lock(gilfree::threading::Lock::new(0usize));
                run_threads(2, |me| {
                    for _ in 0..n {
                        let mut turn = cond.acquire();
                        while *turn != me {
                            cond.wait_guard(&mut turn).unwrap();
                        }
                        *turn = 1 - me;
                        cond.notify(1).unwrap();
                    }
                })
            }),
            case("std", |n| {
                let (m, cv) = (std::sync::Mutex::new(0usize), std::sync::Condvar::new());
                run_threads(2, |me| {
                    for _ in 0..n {
                        let mut turn = m.lock().unwrap();
                        while *turn != me {
                            turn = cv.wait(turn).unwrap();
                        }
                        *turn = 1 - me;
                        cv.notify_one();
                    }
                })
            }),
            case("parking_lot", |n| {
                let (m, cv) = (parking_lot::Mutex::new(0usize), parking_lot::Condvar::new());
                run_threads(2, |me| {
                    for _ in 0..n {
                        let mut turn = m.lock();
                        while *turn != me {
                            cv.wait(&mut turn);
                        }
                        *turn = 1 - me;
                        cv.notify_one();
                    }
                })
            }),
        ],
    );
}
