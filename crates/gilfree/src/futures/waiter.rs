//! The waiter of one `wait` / `as_completed` call (CPython's `_Waiter`):
//! the futures it watches report their completions to it, and the waiting
//! thread sleeps on it until some arrive.
//!
//! Completions are `(index, failed)` events pushed to a list behind a lock
//! (and flagged in `any`, which the waiting thread spins on without the
//! lock); the sleeping and waking is `sys::event_count`'s protocol: a
//! completion pushes its event, then notifies (a fence and a load, no
//! syscall, while the waiting thread is busy taking results); the waiting
//! thread announces before it looks at the list, so an event pushed after
//! its look is seen by that event's notify.

use crate::sys::atomic::{AtomicBool, Ordering::Relaxed};
use crate::sys::spin::{BRIEF, Spin};
use crate::sys::{Deadline, EventCount};
use crate::threading::Lock;

/// Collects completions for one `wait` / `as_completed` call.
pub(crate) struct Waiter {
    events: Lock<Vec<(usize, bool)>>,
    /// `events` may be non-empty: a hint for spinning, set under the lock.
    any: AtomicBool,
    arrived: EventCount,
}

impl Waiter {
    pub(crate) fn new() -> Self {
        Waiter {
            events: Lock::new(Vec::new()),
            any: AtomicBool::new(false),
            arrived: EventCount::new(),
        }
    }

    /// Called by a completing future: the future at `index` is done.
    pub(crate) fn add(&self, index: usize, failed: bool) {
        {
            let mut ev = self.events.acquire();
            ev.push((index, failed));
            self.any.store(true, Relaxed);
        }
        self.arrived.notify();
    }

    /// Take the events so far, or sleep until some arrive or `deadline`.
    /// An empty result means the deadline passed.
    pub(crate) fn next_events(&self, deadline: Deadline) -> Vec<(usize, bool)> {
        let take = || {
            let mut list = self.events.acquire();
            self.any.store(false, Relaxed);
            let ev = core::mem::take(&mut *list);
            (!ev.is_empty()).then_some(ev)
        };
        if let Some(ev) = take() {
            return ev;
        }
        // Nothing yet: a completion may be a few hundred nanoseconds away;
        // watch the flag briefly before sleeping.
        let mut spin = Spin::new(&BRIEF);
        loop {
            if self.any.load(Relaxed) || !spin.next() {
                break;
            }
        }
        if let Some(ev) = take() {
            return ev;
        }
        self.arrived.block_until(deadline, take).unwrap_or_default()
    }
}
