//! `Event`: Python's `threading.Event`, the private home of [`RawEvent`]
//! (the algorithm, its state encoding and why no wake-up is lost are in
//! `raw/event.rs`).

use std::fmt;
use std::time::Duration;

use crate::raw::RawEvent;
use crate::sys::Deadline;
use crate::sys::atomic::const_fn;

/// A flag threads can wait for: Python's `threading.Event`.
///
/// [`set`](Event::set) raises the flag and wakes every waiter;
/// [`clear`](Event::clear) lowers it; [`wait`](Event::wait) blocks until it
/// is raised. `set` makes no syscall when nobody waits.
///
/// Differences from Python:
/// - `wait(timeout=None)` is two methods: [`wait`](Event::wait) (returns
///   nothing: it can only return once the flag was set) and
///   [`wait_timeout`](Event::wait_timeout) (returns the flag, `false` on
///   timeout). `event.wait(0)` is [`is_set`](Event::is_set).
/// - As in Python 3.13, a `wait` returns `true` if the flag was set while
///   it waited, even if it was cleared again before the waiter ran.
///
/// ```
/// use gilfree::threading::Event;
/// use std::sync::Arc;
///
/// let ready = Arc::new(Event::new());
/// let r = ready.clone();
/// let worker = std::thread::spawn(move || {
///     r.wait();
///     "went"
/// });
/// ready.set();
/// assert_eq!(worker.join().unwrap(), "went");
/// ```
pub struct Event {
    pub(super) raw: RawEvent,
}

impl Event {
    const_fn! {
        /// A new event, not set (Python: `threading.Event()`).
        ///
        /// ```
        /// static STOP: gilfree::threading::Event = gilfree::threading::Event::new();
        /// assert!(!STOP.is_set());
        /// ```
        pub const fn new() -> Self {
            Event { raw: RawEvent::new() }
        }
    }

    /// Whether the flag is set (Python: `event.is_set()`); a snapshot.
    ///
    /// ```
    /// let e = gilfree::threading::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.raw.is_set()
    }

    /// Set the flag and wake every thread waiting for it (Python:
    /// `event.set()`). Setting a set event does nothing.
    ///
    /// ```
    /// let e = gilfree::threading::Event::new();
    /// e.set();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    #[inline]
    pub fn set(&self) {
        self.raw.set()
    }

    /// Reset the flag, so later waits block until the next `set` (Python:
    /// `event.clear()`).
    ///
    /// ```
    /// let e = gilfree::threading::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    #[inline]
    pub fn clear(&self) {
        self.raw.clear()
    }

    /// Block until the flag is set (Python: `event.wait()`). Returns at once
    /// if it already is.
    ///
    /// ```
    /// let e = gilfree::threading::Event::new();
    /// e.set();
    /// e.wait();
    /// ```
    #[inline]
    pub fn wait(&self) {
        self.raw.wait(Deadline::Never);
    }

    /// Block until the flag is set or `timeout` passes (Python:
    /// `event.wait(timeout)`). Returns `true` if the flag was set (before or
    /// during the wait), `false` on timeout. A duration too large for the
    /// clock waits forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let e = gilfree::threading::Event::new();
    /// assert!(!e.wait_timeout(Duration::from_millis(1)));
    /// e.set();
    /// assert!(e.wait_timeout(Duration::ZERO));
    /// ```
    #[inline]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.raw.wait(Deadline::after(timeout))
    }

    /// Wait until the flag is set or `deadline` passes (for primitives built
    /// on an `Event`, such as `Timer`, and their loom models).
    pub(crate) fn wait_deadline(&self, deadline: Deadline) -> bool {
        self.raw.wait(deadline)
    }
}

impl Default for Event {
    /// A new event, not set.
    ///
    /// ```
    /// assert!(!gilfree::threading::Event::default().is_set());
    /// ```
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    /// Python's repr: `<threading.Event at 0x…: unset>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_set() { "set" } else { "unset" };
        write!(f, "<gilfree.Event at {:p}: {state}>", self)
    }
}
