//! The states the server's objects hold: [`State`], one variant per kind
//! of object, with its parts ([`Owner`], a lock's holder; [`Dict`], an
//! insertion-ordered map) and [`Caller`], who makes a call.

use std::collections::{HashMap, HashSet, VecDeque};

use super::custom::Erased;
use super::protocol::{Bytes, Fault};

/// Who calls: the thread (for `RLock` and `Condition` ownership) and the
/// connection (released when it closes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller {
    pub thread: u64,
    pub conn: u64,
}

/// A lock's holder: Python's `_owner` and `_count`, plus the connection
/// that acquired it.
#[derive(Default)]
pub(super) struct Owner {
    pub(super) holder: Option<Caller>,
    pub(super) count: u64,
}

impl Owner {
    pub(super) fn free(&self) -> bool {
        self.holder.is_none()
    }
    pub(super) fn held_by(&self, c: Caller) -> bool {
        self.holder.is_some_and(|h| h.thread == c.thread)
    }
    pub(super) fn take(&mut self, c: Caller, count: u64) {
        self.holder = Some(c);
        self.count = count;
    }
    /// Release an `RLock`-style hold by `c`.
    pub(super) fn release_by(&mut self, c: Caller) -> Result<(), Fault> {
        if !self.held_by(c) {
            return Err(Fault::NotHeld("cannot release un-acquired lock".into()));
        }
        self.count -= 1;
        if self.count == 0 {
            self.holder = None;
        }
        Ok(())
    }
}

/// A dict that keeps insertion order (as Python's): each entry carries the
/// sequence number of its first insertion.
#[derive(Default)]
pub(super) struct Dict {
    pub(super) map: HashMap<Bytes, (u64, Bytes)>,
    next: u64,
}

impl Dict {
    pub(super) fn set(&mut self, k: Bytes, v: Bytes) {
        let seq = self.next;
        match self.map.get_mut(&k) {
            Some(e) => e.1 = v,
            None => {
                self.next += 1;
                self.map.insert(k, (seq, v));
            }
        }
    }
    pub(super) fn items(&self) -> Vec<(Bytes, Bytes)> {
        let mut v: Vec<_> = self.map.iter().collect();
        v.sort_unstable_by_key(|(_, (seq, _))| *seq);
        v.into_iter()
            .map(|(k, (_, x))| (k.clone(), x.clone()))
            .collect()
    }
}

pub(super) enum State {
    Dict(Dict),
    List(Vec<Bytes>),
    Namespace(HashMap<String, Bytes>),
    Value(Bytes),
    Queue {
        items: VecDeque<Bytes>,
        maxsize: usize,
        unfinished: u64,
    },
    Lock(Owner),
    RLock(Owner),
    Semaphore {
        value: u64,
        bound: Option<u64>,
    },
    Event(bool),
    Condition {
        lock: Owner,
        waiting: VecDeque<u64>,
        woken: HashSet<u64>,
        next: u64,
    },
    Barrier {
        parties: u64,
        count: u64,
        generation: u64,
        resets: u64,
        broken: bool,
    },
    Custom(Box<dyn Erased>),
}
