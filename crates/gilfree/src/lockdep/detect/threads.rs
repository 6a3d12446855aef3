//! Each thread's state: its held-lock stack and edge cache (a
//! thread-local), its "waiting on" record, and the registry of threads
//! that `check` walks.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Arc, Mutex};

use super::base::{EPOCH, NEXT_THREAD, Site, lock};
use super::tags::Tag;

pub(super) struct Waiting {
    pub(super) tag: *const Tag,
    pub(super) id: u64,
    pub(super) kind: &'static str,
    pub(super) site: Site,
    pub(super) seq: u64,
}

// SAFETY: the pointer is only dereferenced under the `waiting` mutex, while
// the waiting thread's acquire call (which borrows the lock) is running; see
// the module comment.
unsafe impl Send for Waiting {}

pub(super) struct ThreadInfo {
    pub(super) serial: u64,
    pub(super) name: Arc<str>,
    pub(super) waiting: Mutex<Option<Waiting>>,
    /// Locks this thread holds that another thread released.
    pub(super) foreign: Mutex<Vec<u64>>,
    pub(super) has_foreign: AtomicBool,
}

pub(super) static REGISTRY: Mutex<BTreeMap<u64, Arc<ThreadInfo>>> = Mutex::new(BTreeMap::new());

pub(super) struct Held {
    pub(super) id: u64,
    pub(super) kind: &'static str,
    pub(super) site: Site,
}

pub(super) struct Local {
    pub(super) info: Arc<ThreadInfo>,
    pub(super) held: Vec<Held>,
    pub(super) known: IdSet,
    pub(super) epoch: u64,
    pub(super) wait_seq: u64,
}

impl Local {
    pub(super) fn new() -> Local {
        let t = std::thread::current();
        let name: Arc<str> = match t.name() {
            Some(n) => n.into(),
            None => format!("<unnamed {:?}>", t.id()).into(),
        };
        let info = Arc::new(ThreadInfo {
            serial: NEXT_THREAD.fetch_add(1, Relaxed),
            name,
            waiting: Mutex::new(None),
            foreign: Mutex::new(Vec::new()),
            has_foreign: AtomicBool::new(false),
        });
        lock(&REGISTRY).insert(info.serial, info.clone());
        Local {
            info,
            held: Vec::new(),
            known: IdSet::default(),
            epoch: EPOCH.load(Relaxed),
            wait_seq: 0,
        }
    }

    /// Forget the locks other threads released for us.
    #[inline]
    pub(super) fn drain_foreign(&mut self) {
        if self.info.has_foreign.load(Acquire) {
            self.drain_foreign_slow();
        }
    }

    #[cold]
    pub(super) fn drain_foreign_slow(&mut self) {
        self.info.has_foreign.store(false, Relaxed);
        let ids = std::mem::take(&mut *lock(&self.info.foreign));
        for id in ids {
            // The oldest entry: a re-acquisition may already be on top.
            if let Some(pos) = self.held.iter().position(|h| h.id == id) {
                self.held.remove(pos);
            }
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        lock(&REGISTRY).remove(&self.info.serial);
    }
}

thread_local! {
    pub(super) static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Run `f` on this thread's state; `None` while the thread-local is being
/// destroyed (a lock taken in another thread-local's destructor).
#[inline]
pub(super) fn with_local<R>(f: impl FnOnce(&mut Local) -> R) -> Option<R> {
    LOCAL
        .try_with(|l| {
            let mut l = l.borrow_mut();
            match &mut *l {
                Some(l) => f(l),
                None => f(init_local(&mut l)),
            }
        })
        .ok()
}

#[cold]
#[inline(never)]
pub(super) fn init_local(slot: &mut Option<Local>) -> &mut Local {
    slot.insert(Local::new())
}

/// The edge cache's hasher: lock ids are small unique integers, so one
/// multiply mixes enough (SipHash cost more than the rest of a hook).
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(26) ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(super) type IdSet = HashSet<(u64, u64), std::hash::BuildHasherDefault<IdHasher>>;
