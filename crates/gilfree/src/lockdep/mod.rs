//! Lock-order bookkeeping below the locks (in the spirit of Linux's
//! lockdep): the hooks an owned lock calls, and the per-lock [`Tag`] they
//! work on. The guard layer (`crate::guard`) is their one caller; the
//! detector behind them is `detect/` (feature `deadlock-detection`), and its
//! public face is `gilfree::deadlock`.
//!
//! A lock that has an owner (Lock, RLock, Condition's lock) embeds a `Tag`
//! and calls, in this order:
//!
//! ```text
//! before_acquire(tag, kind, blocking)   // may report (warn or panic) before blocking
//!   (or before_reacquire(tag, kind): a Condition wait taking its lock back;
//!    reports but never panics)
//! [wait_begin(tag, kind) … wait_end()]  // only around the futex-sleeping slow path
//! acquired(tag, kind)                   // only if it was taken
//! …
//! released(tag)                         // before the lock word is released
//! ```
//!
//! All of them are `#[track_caller]` so the detector sees the user's call
//! site; the acquire paths of the locks are `#[track_caller]` too.
//!
//! Without the `deadlock-detection` feature (and always under `--cfg loom`,
//! whose threads share one OS thread's thread-locals), `Tag` is a zero-sized
//! type and every hook is an empty `#[inline(always)]` function: the
//! compiled lock is the same as without any hooks.

#[cfg(all(feature = "deadlock-detection", not(loom)))]
pub(crate) mod detect;

#[cfg(all(feature = "deadlock-detection", not(loom)))]
pub(crate) use detect::{
    ENABLED, Tag, acquired, before_acquire, before_reacquire, order_key, released, wait_begin,
    wait_end,
};

#[cfg(not(all(feature = "deadlock-detection", not(loom))))]
pub(crate) use off::*;

#[cfg(not(all(feature = "deadlock-detection", not(loom))))]
#[allow(dead_code)]
mod off {
    /// Whether the hooks do anything.
    pub(crate) const ENABLED: bool = false;

    /// No bookkeeping without the feature: zero bytes.
    #[derive(Debug, Default)]
    pub(crate) struct Tag;

    impl Tag {
        #[inline(always)]
        pub(crate) const fn new() -> Tag {
            Tag
        }
    }

    #[inline(always)]
    pub(crate) fn before_acquire(_tag: &Tag, _kind: &'static str, _blocking: bool) {}

    #[inline(always)]
    pub(crate) fn before_reacquire(_tag: &Tag, _kind: &'static str) {}

    #[inline(always)]
    pub(crate) fn acquired(_tag: &Tag, _kind: &'static str) {}

    #[inline(always)]
    pub(crate) fn released(_tag: &Tag) {}

    #[inline(always)]
    pub(crate) fn wait_begin(_tag: &Tag, _kind: &'static str) {}

    #[inline(always)]
    pub(crate) fn wait_end() {}

    /// The global order [`acquire_all`](crate::deadlock::acquire_all) takes
    /// locks in. Without ids, the address of the lock's state word: stable
    /// while the lock is borrowed, which is whenever two threads can contend
    /// for it, and distinct for distinct locks.
    #[inline(always)]
    pub(crate) fn order_key(_tag: &Tag, addr: usize) -> u64 {
        addr as u64
    }
}
