//! The hooks themselves: what the guard layer calls around each acquire
//! and release (see `lockdep/mod.rs` for the order of calls).

use std::panic::Location;
use std::sync::atomic::Ordering::*;

use super::base::{EPOCH, Site, lock};
use super::graph::{EdgeInfo, GRAPH};
use super::mode::{Mode, mode};
use super::tags::Tag;
use super::threads::{Held, REGISTRY, Waiting, with_local};

/// Before acquiring: record the edges held → this lock; report a cycle they
/// close (before blocking). A try never waits, so it records nothing.
#[track_caller]
pub(crate) fn before_acquire(tag: &Tag, kind: &'static str, blocking: bool) {
    let id = tag.id();
    if blocking {
        record(id, kind, Location::caller(), true);
    }
}

/// [`before_acquire`] for a lock taken back inside an operation that cannot
/// stop half-way (a `Condition` wait reacquiring its lock): it reports, but
/// never panics, since the caller's guard must get its lock back.
#[track_caller]
#[allow(dead_code)] // for Condition
pub(crate) fn before_reacquire(tag: &Tag, kind: &'static str) {
    record(tag.id(), kind, Location::caller(), false);
}

pub(super) fn record(id: u64, kind: &'static str, site: Site, may_panic: bool) {
    let found = with_local(|l| {
        l.drain_foreign();
        if l.held.is_empty() {
            return Vec::new();
        }
        let epoch = EPOCH.load(Relaxed);
        if l.epoch != epoch || l.known.len() > 4096 {
            l.known.clear();
            l.epoch = epoch;
        }
        let mut found = Vec::new();
        let mut graph = None;
        for h in &l.held {
            if h.id == id || !l.known.insert((h.id, id)) {
                continue;
            }
            let g = graph.get_or_insert_with(|| lock(&GRAPH));
            let edge = EdgeInfo {
                thread: l.info.name.clone(),
                held_at: h.site,
                acquired_at: site,
            };
            if let Some(r) = g.add_edge((h.id, h.kind), (id, kind), edge) {
                found.push(r);
            }
        }
        found
    })
    .unwrap_or_default();
    if let Some(first) = found.first() {
        // Panicking while unwinding would abort: report then as in warn mode.
        if may_panic && mode() == Mode::Panic && !std::thread::panicking() {
            panic!("{first}");
        }
        for r in &found {
            eprintln!("{r}");
        }
    }
}

/// After acquiring: push on the held stack, record the owner.
#[track_caller]
pub(crate) fn acquired(tag: &Tag, kind: &'static str) {
    let id = tag.id();
    let site = Location::caller();
    with_local(|l| {
        l.drain_foreign();
        l.held.push(Held { id, kind, site });
        tag.owner.store(l.info.serial, Relaxed);
    });
}

/// Before releasing the lock word: pop from the holder's stack.
pub(crate) fn released(tag: &Tag) {
    let id = tag.id.load(Relaxed);
    if id == 0 {
        return;
    }
    let owner = tag.owner.swap(0, Relaxed);
    let mine = with_local(|l| {
        // Usually the most recent acquisition (guards nest).
        if l.held.last().is_some_and(|h| h.id == id) {
            l.held.pop();
            return true;
        }
        match l.held.iter().rposition(|h| h.id == id) {
            Some(pos) => {
                l.held.remove(pos);
                true
            }
            None => false,
        }
    });
    if mine == Some(false) && owner != 0 {
        released_for(owner, id);
    }
}

/// A release by a thread that does not hold the lock: tell the holder.
#[cold]
pub(super) fn released_for(owner: u64, id: u64) {
    let info = lock(&REGISTRY).get(&owner).cloned();
    if let Some(info) = info {
        lock(&info.foreign).push(id);
        info.has_foreign.store(true, Release);
    }
}

/// About to sleep on the lock's futex: publish what we wait on.
#[track_caller]
pub(crate) fn wait_begin(tag: &Tag, kind: &'static str) {
    let site = Location::caller();
    let id = tag.id();
    with_local(|l| {
        l.wait_seq += 1;
        *lock(&l.info.waiting) = Some(Waiting {
            tag,
            id,
            kind,
            site,
            seq: l.wait_seq,
        });
    });
}

/// Done waiting (acquired or timed out).
pub(crate) fn wait_end() {
    with_local(|l| *lock(&l.info.waiting) = None);
}
