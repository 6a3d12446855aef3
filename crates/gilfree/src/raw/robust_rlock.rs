//! `RawRobustRLock`: the process-shared reentrant lock whose holder may
//! die — a [`RawRobustLock`] (its word names the holder), a recursion
//! count, and which task holds it when a task does; `multiprocessing::RLock`
//! is its home. Owners are threads (their kernel id in the word) or tasks
//! (a [`RawOwner`] token, which may move between threads while it holds
//! the lock).
//!
//! # State encoding
//!
//! - `lock`: a [`RawRobustLock`]. Its owner bits are the holding thread's
//!   kernel id, or, when a task holds it, its process's task owner
//!   ([`my_task_owner`]: `TASK`, a start-time tag, the pid). Taken by an
//!   owner's first level, released by its last.
//! - `count: AtomicU32`: the levels held, read and written by the holder
//!   only (a thread, or a token under its steps lock); a take-over from a
//!   dead holder starts it at 1.
//! - `task: AtomicU64`: while a task holds the lock, its identity
//!   `owner << 32 | token id` (the token's id is a per-process counter's,
//!   so the process's owner makes it unique across processes). Stored by
//!   the task just after it takes `lock`, cleared to 0 by it just before
//!   its last release. Threads never touch it (their paths are the
//!   thread-only lock's), so after a thread, or a task of a process that
//!   died, it may hold a stale identity.
//!
//! # Who owns it
//!
//! A thread owns it iff the word's owner bits are its id
//! ([`RawRobustLock::held_by_me`], exact for the caller as there). A token
//! `o` of process `P` owns it iff the owner bits are `P`'s task owner *and*
//! `task == P << 32 | o.id`. Exact for `o` (every step of `o` runs under
//! its steps lock, so `o`'s steps are one sequence, wherever they run):
//! if `o` does not hold the lock, the last value `o` stored to `task` is
//! `0` (each of its holdings ended with the clear before the release), so
//! `o` reads `0` or a later store — another token's identity (another id
//! of `P`: ids are unique among a process's live tokens, and recycled only
//! after a token that held nothing was dropped, behind the id pool's lock),
//! another process's, or `0`. The one exception is a process that died
//! holding it whose pid *and* tag a later process `P` has again, with a
//! token of the same id (see `robust_lock.rs`, "Owners that are tasks").
//! Without the clear, `o` could read its own stale identity while another
//! token of `P` is between its take and its store, and both would hold the
//! lock (loom `robust_rlock_tokens_exclude` fails so).
//!
//! # Memory ordering
//!
//! Between owners, as [`RawRobustLock`]: the `Acquire` take reads the
//! `Release` release. `count` and `task` are `Relaxed`: only the holder
//! writes `count`, and the `task` argument above rests on coherence only.
//!
//! # Why no wake-up is lost
//!
//! Waiting happens only inside [`RawRobustLock`]: a thread in its `lock`,
//! a task in its [`lock_step_as`](RawRobustLock::lock_step_as) (the
//! futex bridge's protocol: announce `WAITERS`, then register on the
//! word), so its argument applies unchanged; a release is its `unlock`,
//! whose `futex_wake` reaches a sleeping thread or a process's bridge
//! alike. A nest or a non-final release never touches the word.
//!
//! # Cancellation
//!
//! An async step either takes the lock and records the owner in one step
//! (under the token's lock, inside one poll) or leaves only the `WAITERS`
//! mark, whose cost is one wake-up for nobody at the next release (as a
//! sleeper that timed out leaves it). A wake-up a dropped task had been
//! handed is passed on by its bridge registration.

use super::rlock::{NotOwner, RawOwner};
use super::robust_lock::{RawRobustLock, my_task_owner};
use crate::sys::Deadline;
use crate::sys::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed, const_fn};

/// The process-shared reentrant lock algorithm (see the module comment):
/// atomic words only, all zero is a free lock.
#[repr(C)]
pub(crate) struct RawRobustRLock {
    lock: RawRobustLock,
    count: AtomicU32,
    task: AtomicU64,
}

impl RawRobustRLock {
    const_fn! {
        pub(crate) const fn new() -> Self {
            RawRobustRLock {
                lock: RawRobustLock::new(),
                count: AtomicU32::new(0),
                task: AtomicU64::new(0),
            }
        }
    }

    /// The inner lock (its word, `is_locked`, `take_owner_died`).
    pub(crate) fn lock(&self) -> &RawRobustLock {
        &self.lock
    }

    // Threads.

    /// Whether the calling thread holds it.
    #[inline]
    pub(crate) fn held_by_me(&self) -> bool {
        self.lock.held_by_me()
    }

    /// Nest if the calling thread holds it, else take it if free (or its
    /// holder is dead); never blocks.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        if self.lock.held_by_me() {
            self.nest();
            return true;
        }
        self.first_level(self.lock.try_lock())
    }

    /// Take it for the calling thread (not held by it), waiting until
    /// `deadline`.
    pub(crate) fn lock_contended(&self, deadline: Deadline) -> bool {
        self.first_level(self.lock.lock(deadline))
    }

    /// Whether the calling thread holds exactly one level.
    #[inline]
    pub(crate) fn last_level(&self) -> bool {
        self.lock.held_by_me() && self.count.load(Relaxed) == 1
    }

    /// Release one of the calling thread's levels.
    #[inline]
    pub(crate) fn unlock(&self) -> Result<(), NotOwner> {
        if !self.lock.held_by_me() {
            return Err(NotOwner);
        }
        self.drop_level(false);
        Ok(())
    }

    /// The calling thread's levels (0 if it does not hold it).
    #[inline]
    pub(crate) fn recursion_count(&self) -> u32 {
        if self.lock.held_by_me() {
            self.count.load(Relaxed)
        } else {
            0
        }
    }

    fn nest(&self) {
        // Python counts in an unsigned long and raises OverflowError; four
        // billion levels is a bug in the caller.
        let c = self.count.load(Relaxed).checked_add(1);
        self.count
            .store(c.expect("RLock recursion count overflow"), Relaxed);
    }

    /// The lock was just taken (if `taken`), not re-entered: depth 1.
    #[inline]
    fn first_level(&self, taken: bool) -> bool {
        if taken {
            self.count.store(1, Relaxed);
        }
        taken
    }

    /// The holder drops one level; the last one releases (a task's clears
    /// its identity first: see "Who owns it").
    fn drop_level(&self, task: bool) {
        let c = self.count.load(Relaxed).saturating_sub(1);
        self.count.store(c, Relaxed);
        if c == 0 {
            if task {
                self.task.store(0, Relaxed);
            }
            self.lock.unlock();
        }
    }

    // Tasks: each step under the token's steps lock, whose value counts
    // the levels it holds over all locks.

    /// `o`'s identity in `task`, for this process.
    fn identity(o: &RawOwner) -> (u32, u64) {
        let owner = my_task_owner();
        (owner, (u64::from(owner) << 32) | u64::from(o.id()))
    }

    /// Whether `o` holds it (call under `o`'s steps lock).
    fn owned_by(&self, o: &RawOwner) -> bool {
        let (owner, id) = Self::identity(o);
        self.lock.held_by(owner) && self.task.load(Relaxed) == id
    }

    /// `o` just took the lock: record it, at depth 1.
    fn set_task(&self, o: &RawOwner) {
        self.task.store(Self::identity(o).1, Relaxed);
        self.count.store(1, Relaxed);
    }

    /// Whether `o` holds it.
    pub(crate) fn is_owned_by(&self, o: &RawOwner) -> bool {
        let _steps = o.steps();
        self.owned_by(o)
    }

    /// `o`'s levels (0 if it does not hold it).
    pub(crate) fn recursion_count_by(&self, o: &RawOwner) -> u32 {
        let _steps = o.steps();
        if self.owned_by(o) {
            self.count.load(Relaxed)
        } else {
            0
        }
    }

    /// One level for `o` if that needs no waiting (it holds it, it is
    /// free, or its holder is dead): `Some(owner died)`, else `None`.
    pub(crate) fn try_lock_by(&self, o: &RawOwner) -> Option<bool> {
        self.step_by(o, |me| {
            if self.lock.try_lock_as(me) {
                Ok(())
            } else {
                Err(0)
            }
        })
        .ok()
    }

    /// One step of `o`'s async acquire: `Ok(owner died)` once it holds one
    /// more level; else `Err(s)` with the word marked `WAITERS` — wait
    /// (through the futex bridge) while it reads `s`. With `check`, a dead
    /// holder is taken over (at a sleeper's re-check times).
    pub(crate) fn lock_step_by(&self, o: &RawOwner, check: bool) -> Result<bool, u32> {
        self.step_by(o, |me| self.lock.lock_step_as(me, check))
    }

    /// Nest, or take with `take` and record `o`; one sequence under `o`'s
    /// steps lock. Re-checked on every call: another future of the same
    /// token may have taken the lock since (waiting for its own release
    /// would never end).
    fn step_by(
        &self,
        o: &RawOwner,
        take: impl FnOnce(u32) -> Result<(), u32>,
    ) -> Result<bool, u32> {
        let mut held = o.steps();
        let died = if self.owned_by(o) {
            self.nest();
            false
        } else {
            take(my_task_owner())?;
            self.set_task(o);
            self.lock.take_owner_died()
        };
        *held += 1;
        Ok(died)
    }

    /// Release one of `o`'s levels; `Err(NotOwner)` (no change) if `o`
    /// does not hold it.
    pub(crate) fn unlock_by(&self, o: &RawOwner) -> Result<(), NotOwner> {
        let mut held = o.steps();
        if !self.owned_by(o) {
            return Err(NotOwner);
        }
        self.drop_level(true);
        *held -= 1;
        Ok(())
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sys::futex_bridge::loom_tests::{block_on, leak, with_bridge};
    use crate::sys::futex_bridge::{BridgeWait, Step};
    use loom::sync::Arc;
    use loom::thread;

    /// Two tokens of one process, on two threads, only try: they never
    /// hold it together (loom reports two unordered writes of the cell).
    /// Token A takes and releases, then tries again while B may be between
    /// its take and its identity store. (Checked by hand: without the
    /// clear of `task` in `drop_level`, A reads its own stale identity
    /// there, nests, and loom reports the race.)
    #[test]
    fn robust_rlock_tokens_exclude() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let lock = Arc::new(RawRobustRLock::new());
            let data = Arc::new(crate::sys::atomic::UnsafeCell::new(0u32));
            let (l2, d2) = (lock.clone(), data.clone());
            let other = thread::spawn(move || {
                let b = RawOwner::new();
                if l2.try_lock_by(&b).is_some() {
                    // SAFETY: the lock is held.
                    d2.with_mut(|p| unsafe { *p += 1 });
                    l2.unlock_by(&b).unwrap();
                }
            });
            let a = RawOwner::new();
            for _ in 0..2 {
                if lock.try_lock_by(&a).is_some() {
                    // SAFETY: the lock is held.
                    data.with_mut(|p| unsafe { *p += 1 });
                    lock.unlock_by(&a).unwrap();
                }
            }
            other.join().unwrap();
            assert!(!lock.lock().is_locked());
        });
    }

    /// A thread takes two levels and releases them, then takes one again;
    /// a task (a token) waits through the futex bridge, nests once it has
    /// the lock, and releases: hand-overs both ways, in either order. A
    /// lost wake-up shows as a deadlock. (Checked by hand: without the
    /// `WAITERS` announce in `lock_step_as`, it deadlocks.)
    #[test]
    fn robust_rlock_task_and_thread_hand_over() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            with_bridge(|bridge| {
                let lock = leak(RawRobustRLock::new());
                let holder = thread::spawn(move || {
                    assert!(lock.lock_contended(Deadline::Never));
                    assert!(lock.try_lock());
                    lock.unlock().unwrap();
                    lock.unlock().unwrap();
                    assert!(lock.lock_contended(Deadline::Never));
                    lock.unlock().unwrap();
                });
                let me = RawOwner::new();
                let mut w = BridgeWait::on(bridge);
                block_on(|waker| {
                    w.poll(waker, true, || match lock.lock_step_by(&me, false) {
                        Ok(_) => Step::Ready(()),
                        Err(s) => Step::Wait {
                            word: lock.lock().word(),
                            expected: s,
                            recheck: Deadline::Never,
                        },
                    })
                });
                drop(w);
                assert_eq!(lock.try_lock_by(&me), Some(false));
                assert_eq!(lock.recursion_count_by(&me), 2);
                assert_eq!(lock.unlock(), Err(NotOwner)); // not the thread's
                lock.unlock_by(&me).unwrap();
                lock.unlock_by(&me).unwrap();
                assert_eq!(lock.unlock_by(&me), Err(NotOwner));
                holder.join().unwrap();
            });
        });
    }
}
