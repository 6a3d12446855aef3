//! The waiter of one `wait` / `as_completed` call (CPython's `_Waiter`):
//! the futures it watches report their completions to it, and the waiting
//! thread sleeps on it until some arrive.
//!
//! Completions are `(index, failed)` events pushed to a list behind a lock;
//! the sleeping and waking is `sys::event_count`'s protocol: a completion
//! pushes its event, then notifies (a fence and a load, no syscall, while
//! the waiting thread is busy taking results); the waiting thread announces
//! before it looks at the list, so an event pushed after its look is seen
//! by that event's notify.

use crate::sys::{Deadline, EventCount};
use crate::threading::Lock;

/// Collects completions for one `wait` / `as_completed` call.
pub(crate) struct Waiter {
    events: Lock<Vec<(usize, bool)>>,
    arrived: EventCount,
}

impl Waiter {
    pub(crate) fn new() -> Self {
        Waiter {
            events: Lock::new(Vec::new()),
            arrived: EventCount::new(),
        }
    }

    /// Called by a completing future: the future at `index` is done.
    pub(crate) fn add(&self, index: usize, failed: bool) {
        self.events.acquire().push((index, failed));
        self.arrived.notify();
    }

    /// Take the events so far, or sleep until some arrive or `deadline`.
    /// An empty result means the deadline passed.
    pub(crate) fn next_events(&self, deadline: Deadline) -> Vec<(usize, bool)> {
        let take = || {
            let ev = core::mem::take(&mut *self.events.acquire());
            (!ev.is_empty()).then_some(ev)
        };
        if let Some(ev) = take() {
            return ev;
        }
        // Nothing yet: a completion may be a few hundred nanoseconds away;
        // look again a few times before sleeping.
        #[cfg(not(loom))]
        for _ in 0..4 {
            for _ in 0..25 {
                core::hint::spin_loop();
            }
            if let Some(ev) = take() {
                return ev;
            }
        }
        self.arrived.block_until(deadline, take).unwrap_or_default()
    }
}
