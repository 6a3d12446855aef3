//! Actual deadlocks: `check` (cycles of threads blocked right now on
//! locks held by each other, confirmed by a second look) and the
//! `Watchdog` that runs it periodically.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::panic::Location;
use std::sync::atomic::Ordering::*;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use super::base::{Site, lock};
use super::report::LockInfo;
use super::threads::{REGISTRY, ThreadInfo};

/// One thread of a [`WaitCycle`]: blocked on `waits_on`, which `held_by`
/// holds. No Python equivalent.
///
/// ```
/// for cycle in gilfree::deadlock::check() {
///     for t in &cycle.threads {
///         eprintln!("{} waits for {} held by {}", t.name, t.waits_on, t.held_by);
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockedThread {
    /// The blocked thread's name.
    pub name: String,
    /// The lock it waits for.
    pub waits_on: LockInfo,
    /// Where it called acquire.
    pub at: &'static Location<'static>,
    /// The name of the thread holding `waits_on` (the next in the cycle).
    pub held_by: String,
}

impl fmt::Display for BlockedThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "thread '{}' waits at {} for {}, held by thread '{}'",
            self.name, self.at, self.waits_on, self.held_by
        )
    }
}

/// An actual deadlock: threads each blocked on a lock the next one holds.
/// No Python equivalent.
///
/// ```
/// for cycle in gilfree::deadlock::check() {
///     eprintln!("{cycle}");
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitCycle {
    /// The threads in cycle order: `threads[i]` waits for
    /// `threads[i + 1]` (and the last for the first).
    pub threads: Vec<BlockedThread>,
}

impl fmt::Display for WaitCycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gilfree: deadlock, threads blocked on each other:")?;
        for t in &self.threads {
            write!(f, "\n  {t}")?;
        }
        Ok(())
    }
}

/// What each waiting thread waits on: (waiter, owner, lock, kind, site, seq).
pub(super) type Snapshot = BTreeMap<u64, (u64, u64, &'static str, Site, u64)>;

pub(super) fn snapshot(threads: &[Arc<ThreadInfo>]) -> Snapshot {
    let mut snap = BTreeMap::new();
    for t in threads {
        let w = lock(&t.waiting);
        if let Some(w) = &*w {
            // SAFETY: see `Waiting`: the record is set, under this mutex, so
            // the waiter is still inside the acquire call borrowing the lock.
            let owner = unsafe { (*w.tag).owner.load(Relaxed) };
            if owner != 0 {
                snap.insert(t.serial, (owner, w.id, w.kind, w.site, w.seq));
            }
        }
    }
    snap
}

/// The cycles of threads blocked right now on locks held by each other
/// (actual deadlocks), each with every thread's name and what it waits on.
/// Empty if there is none. No Python equivalent (`faulthandler` dumps the
/// stacks of a hung program; this names the cycle).
///
/// Only threads blocked in gilfree locks with owners are seen. It is a
/// snapshot, confirmed by a second look, so a transient wait is not
/// reported; a real deadlock does not move and is.
///
/// ```
/// assert!(gilfree::deadlock::check().is_empty());
/// ```
pub fn check() -> Vec<WaitCycle> {
    let threads: Vec<Arc<ThreadInfo>> = lock(&REGISTRY).values().cloned().collect();
    let names: HashMap<u64, Arc<str>> =
        threads.iter().map(|t| (t.serial, t.name.clone())).collect();
    let first = snapshot(&threads);
    let mut cycles = Vec::new();
    let mut done: HashSet<u64> = HashSet::new();
    for &start in first.keys() {
        // Follow waiter → owner until we leave the waiters, revisit a
        // finished walk, or close a loop.
        let mut path: Vec<u64> = Vec::new();
        let mut at = start;
        while !done.contains(&at) {
            if let Some(pos) = path.iter().position(|&p| p == at) {
                let ring = path[pos..].to_vec();
                cycles.push(ring);
                break;
            }
            path.push(at);
            match first.get(&at) {
                Some(&(owner, ..)) => at = owner,
                None => break,
            }
        }
        done.extend(path);
    }
    if cycles.is_empty() {
        return Vec::new();
    }
    let second = snapshot(&threads);
    let name = |s: u64| -> String {
        names
            .get(&s)
            .map(|n| n.to_string())
            .unwrap_or_else(|| format!("<exited thread {s}>"))
    };
    cycles
        .into_iter()
        .filter(|ring| ring.iter().all(|t| first.get(t) == second.get(t)))
        .map(|ring| WaitCycle {
            threads: ring
                .iter()
                .map(|t| {
                    let (owner, id, kind, site, _) = first[t];
                    BlockedThread {
                        name: name(*t),
                        waits_on: LockInfo { id, kind },
                        at: site,
                        held_by: name(owner),
                    }
                })
                .collect(),
        })
        .collect()
}

/// A thread running [`check`] periodically; stops (and is joined) when
/// dropped or [`stop`](Watchdog::stop)ped. No Python equivalent.
///
/// ```
/// use std::time::Duration;
/// let dog = gilfree::deadlock::spawn_watchdog(Duration::from_millis(10), |cycles| {
///     for c in cycles { eprintln!("{c}"); }
/// });
/// dog.stop();
/// ```
#[derive(Debug)]
pub struct Watchdog {
    pub(super) stop: Option<mpsc::Sender<()>>,
    pub(super) thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Stop the watchdog and wait for its thread to end.
    ///
    /// ```
    /// gilfree::deadlock::spawn_watchdog(std::time::Duration::from_secs(1), |_| {}).stop();
    /// ```
    pub fn stop(mut self) {
        self.shutdown();
    }

    pub(super) fn shutdown(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Start a thread (named `gilfree-deadlock-watchdog`) that runs [`check`]
/// every `interval` and calls `on_deadlock` with the cycles whenever there
/// are any (every interval, for as long as they last). No Python
/// equivalent.
///
/// # Panics
/// If the OS cannot start a thread.
///
/// ```
/// use std::time::Duration;
/// let dog = gilfree::deadlock::spawn_watchdog(Duration::from_secs(5), |cycles| {
///     for c in cycles { eprintln!("{c}"); }
/// });
/// drop(dog); // stops it
/// ```
pub fn spawn_watchdog(
    interval: Duration,
    mut on_deadlock: impl FnMut(&[WaitCycle]) + Send + 'static,
) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("gilfree-deadlock-watchdog".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(interval) {
                let cycles = check();
                if !cycles.is_empty() {
                    on_deadlock(&cycles);
                }
            }
        })
        .expect("failed to spawn the deadlock watchdog thread");
    Watchdog {
        stop: Some(tx),
        thread: Some(thread),
    }
}
