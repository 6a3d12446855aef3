//! The threading twins' test cases for `Semaphore` and `Event`, written
//! once and run twice: over the `threading` type with threads as the
//! parties, and over the `multiprocessing` type with child processes (under
//! each start method). One party body per case serves both (a task wraps
//! it for the children). `harness = false`: `main` calls
//! `multiprocessing::init()` first (children re-execute this binary).

use std::sync::Arc;
use std::time::Duration;

use gilfree::multiprocessing::{self as mp, StartMethod, get_context};
use gilfree::threading;
use libtest_mimic::{Arguments, Failed, Trial};

/// Generous: the machine is shared and busy; never legitimately reached.
const PATIENCE: Duration = Duration::from_secs(120);

/// Both semaphores, as the shared bodies use them.
trait Sem {
    fn take(&self) -> bool;
    fn give(&self, n: u32);
    fn value(&self) -> u32;
}

/// Both events, as the shared bodies use them.
trait Ev {
    fn wait(&self) -> bool;
    fn set(&self);
    fn is_set(&self) -> bool;
}

impl Sem for Arc<threading::Semaphore> {
    fn take(&self) -> bool {
        self.acquire_unguarded(true, Some(PATIENCE))
    }
    fn give(&self, n: u32) {
        self.release_n(n).unwrap()
    }
    fn value(&self) -> u32 {
        threading::Semaphore::value(self)
    }
}

impl Sem for mp::Semaphore {
    fn take(&self) -> bool {
        self.acquire_unguarded(true, Some(PATIENCE))
    }
    fn give(&self, n: u32) {
        self.release_n(n).unwrap()
    }
    fn value(&self) -> u32 {
        mp::Semaphore::value(self)
    }
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

/// A party of the semaphore case: take one permit and keep it.
fn sem_party(s: &impl Sem) -> bool {
    s.take()
}

/// A party of the event case: wait for the set; whether it was seen.
fn event_party(e: &impl Ev) -> bool {
    e.wait()
}

#[gilfree::task]
fn sem_party_task(s: mp::Semaphore) -> bool {
    sem_party(&s)
}

#[gilfree::task]
fn event_party_task(e: mp::Event) -> bool {
    event_party(&e)
}

type Join = Box<dyn FnOnce() -> Result<bool, Failed>>;

/// How a shared body makes the primitives and starts a party on them.
trait Twin {
    type S: Sem;
    type E: Ev;
    fn semaphore(&self, value: u32) -> Result<Self::S, Failed>;
    fn event(&self) -> Result<Self::E, Failed>;
    fn start_sem(&self, s: &Self::S) -> Result<Join, Failed>;
    fn start_event(&self, e: &Self::E) -> Result<Join, Failed>;
}

struct Threads;
impl Twin for Threads {
    type S = Arc<threading::Semaphore>;
    type E = Arc<threading::Event>;
    fn semaphore(&self, value: u32) -> Result<Self::S, Failed> {
        Ok(Arc::new(threading::Semaphore::new(value)))
    }
    fn event(&self) -> Result<Self::E, Failed> {
        Ok(Arc::new(threading::Event::new()))
    }
    fn start_sem(&self, s: &Self::S) -> Result<Join, Failed> {
        let s = s.clone();
        let t = std::thread::spawn(move || sem_party(&s));
        Ok(Box::new(move || {
            t.join().map_err(|_| "party panicked".into())
        }))
    }
    fn start_event(&self, e: &Self::E) -> Result<Join, Failed> {
        let e = e.clone();
        let t = std::thread::spawn(move || event_party(&e));
        Ok(Box::new(move || {
            t.join().map_err(|_| "party panicked".into())
        }))
    }
}

struct Processes(StartMethod);
impl Twin for Processes {
    type S = mp::Semaphore;
    type E = mp::Event;
    fn semaphore(&self, value: u32) -> Result<Self::S, Failed> {
        Ok(mp::Semaphore::new(value)?)
    }
    fn event(&self) -> Result<Self::E, Failed> {
        Ok(mp::Event::new()?)
    }
    fn start_sem(&self, s: &Self::S) -> Result<Join, Failed> {
        let p = get_context(self.0).process(sem_party_task::TASK, (s.try_clone()?,))?;
        p.start()?;
        Ok(Box::new(move || Ok(p.result()?)))
    }
    fn start_event(&self, e: &Self::E) -> Result<Join, Failed> {
        let p = get_context(self.0).process(event_party_task::TASK, (e.try_clone()?,))?;
        p.start()?;
        Ok(Box::new(move || Ok(p.result()?)))
    }
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

/// Python's semaphore case: parties blocked on an empty semaphore each get
/// one of the permits a release hands out, and none is lost or doubled.
fn twin_semaphore(t: &impl Twin) -> Result<(), Failed> {
    let s = t.semaphore(1)?;
    let joins = (0..3)
        .map(|_| t.start_sem(&s))
        .collect::<Result<Vec<_>, Failed>>()?;
    s.give(2);
    for j in joins {
        check(j()?, "a party got no permit")?;
    }
    check(s.value() == 0, format!("value {}", s.value()))?;
    s.give(1);
    check(s.value() == 1, "a release after the parties")
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

fn main() {
    gilfree::multiprocessing::init();
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let mut trials = Vec::new();
    for m in StartMethod::ALL {
        trials.push(Trial::test(format!("{m}::twin_semaphore"), move || {
            twin_semaphore(&Processes(m))
        }));
        trials.push(Trial::test(format!("{m}::twin_event"), move || {
            twin_event(&Processes(m))
        }));
    }
    trials.push(Trial::test("threads::twin_semaphore", || {
        twin_semaphore(&Threads)
    }));
    trials.push(Trial::test("threads::twin_event", || twin_event(&Threads)));
    libtest_mimic::run(&args, trials).exit();
}
