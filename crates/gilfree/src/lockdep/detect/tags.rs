//! Each owned lock's `Tag`: its id (given at first acquisition, never
//! reused) and its owner; the order key `acquire_all` uses.

use std::sync::atomic::{AtomicU64, Ordering::*};

use super::base::{NEXT_LOCK_ID, lock};
use super::graph::GRAPH;

/// A lock's identity and owner, embedded in each owned lock.
#[derive(Debug, Default)]
pub(crate) struct Tag {
    /// 0 until the first acquisition, then a unique id.
    pub(super) id: AtomicU64,
    /// The serial of the holding thread, 0 when free.
    pub(super) owner: AtomicU64,
}

impl Tag {
    pub(crate) const fn new() -> Tag {
        Tag {
            id: AtomicU64::new(0),
            owner: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(super) fn id(&self) -> u64 {
        match self.id.load(Relaxed) {
            0 => self.assign_id(),
            id => id,
        }
    }

    #[cold]
    pub(super) fn assign_id(&self) -> u64 {
        let new = NEXT_LOCK_ID.fetch_add(1, Relaxed);
        match self.id.compare_exchange(0, new, Relaxed, Relaxed) {
            Ok(_) => new,
            Err(winner) => winner,
        }
    }
}

impl Drop for Tag {
    fn drop(&mut self) {
        let id = *self.id.get_mut();
        if id != 0 {
            lock(&GRAPH).forget(id);
        }
    }
}

/// `acquire_all`'s order: the lock's id.
#[inline]
pub(crate) fn order_key(tag: &Tag, _addr: usize) -> u64 {
    tag.id()
}
