//! `RawRLock`: the reentrant lock algorithm, a [`RawLock`] plus an owner
//! word, generic over `Scope`; `threading::RLock` is its private home.
//!
//! # State encoding
//!
//! - `lock`: a [`RawLock`] (one futex word) taken by the first acquire of
//!   the owning thread and released by its last release.
//! - `owner: AtomicU32`: the owning thread's id, `0` when nobody owns it.
//!   Written only by the thread that holds `lock` (or is about to release it).
//! - `count: AtomicU32`: the recursion depth, read and written only by the
//!   owner.
//!
//! Thread ids come from [`current_owner_id`]: in a shared mapping
//! (`S = Shared`) the kernel thread id (`gettid`), unique across processes
//! while the thread lives, so the algorithm tells threads of different
//! processes apart; for private locks a per-process counter value cached in
//! a thread-local (never reused, fork-safe; no syscall on a recursive
//! acquire).
//!
//! # Memory ordering
//!
//! All the ordering between owners goes through `lock` (an `Acquire` CAS
//! matched with a `Release` swap, see lock.rs). `owner` and `count` are
//! `Relaxed`: a thread only ever finds its *own* id in `owner` if it stored
//! it itself (program order makes that store visible to it, and no other
//! thread can store while it holds `lock`); any other value, stale or not,
//! means "not mine", which is the only question asked. The owner clears
//! `owner` before releasing `lock`, so the next owner's store comes after
//! it in the word's modification order.
//!
//! # Why no wake-up is lost
//!
//! Sleeping only happens inside [`RawLock`]; its argument applies unchanged.
//! A recursive acquire or a non-final release never touches `lock`.
//!
//! An uncontended first acquire is one CAS (in `RawLock`) plus two relaxed
//! stores; a recursive acquire is a thread-local read, a relaxed load and a
//! relaxed store — no read-modify-write at all.
//!
//! # Owners that are not threads (private scope)
//!
//! A task moves between threads, so its owner is a [`RawOwner`]: an id
//! drawn from the private thread ids' counter (so it never equals a
//! thread's id nor another token's), used in place of
//! [`current_owner_id`]. The argument above rests on "only the owner reads
//! or writes `count`, and it finds its id in `owner` only if it stored it".
//! A thread is one sequence of steps; a token may be used from several
//! threads at once (two futures of one task on a multi-thread executor, or
//! a token shared by reference), so each of a token's steps on `owner` and
//! `count` — nest, set after taking `lock`, release — runs under the
//! token's own small lock (`RawOwner::steps`), which makes them one
//! sequence again: a nest cannot read a stale `owner == me` after the
//! token's last release (the lock orders it after the `owner = 0` store),
//! nor interleave its `count` update with a release's.
//!
//! Ids are 32 bits and a program may make a token per task, so a token's
//! id is recycled: when a token that holds no level anywhere is dropped
//! (its steps lock counts the levels it holds, over all locks), its id goes
//! to a pool that only later tokens draw from. Every lock it held had its
//! `owner` cleared before that (program order, then the pool's lock), so a
//! new token with the id cannot see a stale `owner == me`. A token dropped
//! while holding a level (a forgotten guard) keeps its id out of use for
//! good, as a thread that exits holding one does. Thread ids are never
//! recycled.
//!
//! An async acquire ([`RLockWait`]) is `RawLock`'s ([`LockWait`]): the
//! same registration, re-check, hand-over and pass-on-when-dropped; this
//! file adds only the nest check before each poll and the owner stores
//! after it succeeds. So no wake-up is lost for the reason given in
//! `lock.rs` and `sys/wakers.rs`.

use super::lock::{LockWait, RawLock};
use crate::sys::atomic::{AtomicU32, Ordering::*, const_fn};
use crate::sys::sync::{Mutex, MutexGuard};
use crate::sys::{Deadline, Private, Scope};

/// A release by a thread that does not own the lock (Python's
/// `RuntimeError: cannot release un-acquired lock`); nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotOwner;

/// The id of the calling thread, as stored in an RLock's owner word; never 0.
///
/// For `S = Shared` this is the kernel thread id, unique across processes
/// while the thread lives (read afresh, so a forked child gets its own).
/// For `S = Private` it is a process-wide counter value cached in a
/// thread-local, which keeps a recursive acquire free of syscalls. Not the
/// cached kernel id: after `fork` the child's thread would keep its
/// parent's id, which the kernel may give to a new thread of the child once
/// the parent's thread exits — two threads would then both "own" a lock and
/// reach a `!Sync` `T` at once. A counter value is never given out twice in
/// a process (until 2^32 threads have asked), and a forked child continues
/// its parent's counter. Under loom, a per-model-thread id.
#[inline]
pub(crate) fn current_owner_id<S: Scope>() -> u32 {
    #[cfg(not(loom))]
    {
        if S::SHARED {
            return crate::sys::os::thread::gettid();
        }
        thread_local! {
            static TID: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
        }
        TID.with(|t| {
            let v = t.get();
            if v != 0 {
                v
            } else {
                let v = next_private_owner_id();
                t.set(v);
                v
            }
        })
    }
    #[cfg(loom)]
    {
        loom::thread_local! {
            static TID: u32 = next_private_owner_id();
        }
        TID.with(|t| *t)
    }
}

/// A fresh private owner id, never 0 and never given out before in this
/// process (until 2^32 have been): the one counter behind both threads'
/// ids and [`RawOwner`]s', so a token never collides with a thread.
fn next_private_owner_id() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    loop {
        let v = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if v != 0 {
            return v;
        }
    }
}

/// Ids of dropped tokens that held no level: given to later tokens only.
static FREE_OWNER_IDS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// An owner that is not a thread (a task's token; see "Owners that are not
/// threads" above): a private owner id, and the lock that keeps its steps
/// on an `RLock`'s `owner` and `count` one sequence, holding the number of
/// levels it holds over all locks.
#[derive(Debug)]
pub(crate) struct RawOwner {
    id: u32,
    steps: Mutex<u64>,
}

impl RawOwner {
    /// A new owner, with an id no thread or live owner has.
    pub(crate) fn new() -> Self {
        let recycled = FREE_OWNER_IDS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        RawOwner {
            id: recycled.unwrap_or_else(next_private_owner_id),
            steps: Mutex::new(0),
        }
    }

    /// Its id, as stored in an `RLock`'s owner word.
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// Its steps lock; the guarded value is the levels it holds (over
    /// every lock, the process-shared `RLock`'s too: `raw/robust_rlock.rs`).
    #[inline]
    pub(crate) fn steps(&self) -> MutexGuard<'_, u64> {
        // Nothing panics under it; do not let poison wedge the owner.
        self.steps.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for RawOwner {
    fn drop(&mut self) {
        let held = *self.steps.get_mut().unwrap_or_else(|e| e.into_inner());
        if held == 0 {
            FREE_OWNER_IDS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(self.id);
        }
    }
}

/// The reentrant lock algorithm without data, in private memory (threads) or
/// in a shared mapping (processes, `S = Shared`).
#[repr(C)]
pub struct RawRLock<S: Scope = Private> {
    lock: RawLock<S>,
    owner: AtomicU32,
    count: AtomicU32,
}

#[allow(dead_code)]
impl<S: Scope> RawRLock<S> {
    const_fn! {
        pub(crate) const fn new() -> Self {
            RawRLock { lock: RawLock::new(), owner: AtomicU32::new(0), count: AtomicU32::new(0) }
        }
    }

    /// Whether the calling thread owns the lock.
    #[inline]
    pub(crate) fn is_owned(&self) -> bool {
        self.owner.load(Relaxed) == current_owner_id::<S>()
    }

    /// Acquire (recursively if already owned), giving up at `deadline`.
    #[inline]
    pub(crate) fn lock(&self, deadline: Deadline) -> bool {
        self.lock_with(|raw| raw.lock(deadline))
    }

    /// Acquire only if that needs no waiting (free, or already ours).
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        self.lock_with(RawLock::try_lock)
    }

    #[inline]
    fn lock_with(&self, take: impl FnOnce(&RawLock<S>) -> bool) -> bool {
        let me = current_owner_id::<S>();
        if self.nest(me, 1) {
            return true;
        }
        if !take(&self.lock) {
            return false;
        }
        self.set_owner(me, 1);
        true
    }

    /// If `me` owns the lock, add `levels` to its count.
    #[inline]
    fn nest(&self, me: u32, levels: u32) -> bool {
        if self.owner.load(Relaxed) != me {
            return false;
        }
        // Python's RLock counts in an unsigned long and raises
        // OverflowError; four billion levels is a bug in the caller.
        let c = self.count.load(Relaxed).checked_add(levels);
        self.count
            .store(c.expect("RLock recursion count overflow"), Relaxed);
        true
    }

    /// Record `me` as the owner at `levels`, just after taking `lock`.
    #[inline]
    fn set_owner(&self, me: u32, levels: u32) {
        self.owner.store(me, Relaxed);
        self.count.store(levels, Relaxed);
    }

    /// Release one level. `Err(NotOwner)` (and no change) if the calling
    /// thread does not own the lock.
    #[inline]
    pub(crate) fn unlock(&self) -> Result<(), NotOwner> {
        self.unlock_by(current_owner_id::<S>())
    }

    #[inline]
    fn unlock_by(&self, me: u32) -> Result<(), NotOwner> {
        if self.owner.load(Relaxed) != me {
            return Err(NotOwner);
        }
        let c = self.count.load(Relaxed) - 1;
        self.count.store(c, Relaxed);
        if c == 0 {
            self.owner.store(0, Relaxed);
            self.lock.unlock();
        }
        Ok(())
    }

    /// Python's `_release_save`: release every level at once and return the
    /// recursion count, for [`acquire_restore`](Self::acquire_restore).
    pub(crate) fn release_save(&self) -> Result<u32, NotOwner> {
        self.release_save_by(current_owner_id::<S>())
    }

    fn release_save_by(&self, me: u32) -> Result<u32, NotOwner> {
        if self.owner.load(Relaxed) != me {
            return Err(NotOwner);
        }
        let c = self.count.load(Relaxed);
        self.count.store(0, Relaxed);
        self.owner.store(0, Relaxed);
        self.lock.unlock();
        Ok(c)
    }

    /// Python's `_acquire_restore`: block until acquired, then restore the
    /// recursion count saved by [`release_save`](Self::release_save).
    pub(crate) fn acquire_restore(&self, count: u32) {
        self.lock.lock(Deadline::Never);
        self.owner.store(current_owner_id::<S>(), Relaxed);
        self.count.store(count, Relaxed);
    }

    /// The calling thread's recursion depth (0 if it does not own the lock).
    #[inline]
    pub(crate) fn recursion_count(&self) -> u32 {
        if self.is_owned() {
            self.count.load(Relaxed)
        } else {
            0
        }
    }

    /// The owner's id, 0 if none (a snapshot, for `Debug`).
    #[inline]
    pub(crate) fn owner(&self) -> u32 {
        self.owner.load(Relaxed)
    }

    /// Whether any thread holds the lock (a snapshot).
    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }
}

/// The same operations for an owner that is not a thread (a task's
/// token); each runs its steps under the token's lock (see the head
/// comment).
#[allow(dead_code)]
impl RawRLock<Private> {
    /// Whether `o` owns the lock.
    pub(crate) fn is_owned_by(&self, o: &RawOwner) -> bool {
        let _steps = o.steps();
        self.owner.load(Relaxed) == o.id
    }

    /// `o`'s recursion depth (0 if it does not own the lock).
    pub(crate) fn recursion_count_by(&self, o: &RawOwner) -> u32 {
        let _steps = o.steps();
        if self.owner.load(Relaxed) == o.id {
            self.count.load(Relaxed)
        } else {
            0
        }
    }

    /// Acquire for `o` only if that needs no waiting (free, or `o`'s).
    pub(crate) fn try_lock_by(&self, o: &RawOwner) -> bool {
        let mut held = o.steps();
        if !self.nest(o.id, 1) {
            if !self.lock.try_lock() {
                return false;
            }
            self.set_owner(o.id, 1);
        }
        *held += 1;
        true
    }

    /// Release one of `o`'s levels; `Err(NotOwner)` (no change) if `o` does
    /// not own the lock.
    pub(crate) fn unlock_by_owner(&self, o: &RawOwner) -> Result<(), NotOwner> {
        let mut held = o.steps();
        self.unlock_by(o.id)?;
        *held -= 1;
        Ok(())
    }

    /// `_release_save` for `o`: release every level; the count.
    pub(crate) fn release_save_by_owner(&self, o: &RawOwner) -> Result<u32, NotOwner> {
        let mut held = o.steps();
        let c = self.release_save_by(o.id)?;
        *held -= u64::from(c);
        Ok(c)
    }
}

/// An async acquire of a [`RawRLock`] by a [`RawOwner`], adding `levels`
/// (1 for an acquire; a saved count when a `Condition` wait takes the lock
/// back): the nest check, then [`LockWait`] on the inner lock, then the
/// owner stores.
pub(crate) struct RLockWait<'a> {
    rlock: &'a RawRLock<Private>,
    owner: &'a RawOwner,
    levels: u32,
    wait: LockWait<'a>,
}

impl<'a> RLockWait<'a> {
    pub(crate) fn new(rlock: &'a RawRLock<Private>, owner: &'a RawOwner, levels: u32) -> Self {
        RLockWait {
            rlock,
            owner,
            levels,
            wait: LockWait::new(&rlock.lock),
        }
    }

    /// One poll: `true` once `owner` holds the lock with `levels` more.
    /// Then drop `self`: if this wait had registered and was handed a
    /// wake-up it did not use (it nested instead), the drop passes it on.
    pub(crate) fn poll(&mut self, waker: &core::task::Waker) -> bool {
        // Every poll, not just the first: another future of the same owner
        // (e.g. in one `join!`) may have taken the lock since; waiting for
        // our own release would never end.
        {
            let mut held = self.owner.steps();
            if self.rlock.nest(self.owner.id, self.levels) {
                *held += u64::from(self.levels);
                return true;
            }
        }
        if !self.wait.poll(waker) {
            return false;
        }
        let mut held = self.owner.steps();
        self.rlock.set_owner(self.owner.id, self.levels);
        *held += u64::from(self.levels);
        true
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two threads each take the lock twice (recursively) and bump a
    /// counter: mutual exclusion across recursion, no lost hand-off.
    #[test]
    fn rlock_reacquire_release_handoff() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let lock = Arc::new(RawRLock::<Private>::new());
            let data = Arc::new(crate::sys::atomic::UnsafeCell::new(0u32));
            let ths: Vec<_> = (0..2)
                .map(|_| {
                    let (lock, data) = (lock.clone(), data.clone());
                    thread::spawn(move || {
                        assert!(lock.lock(Deadline::Never));
                        assert!(lock.lock(Deadline::Never));
                        assert_eq!(lock.recursion_count(), 2);
                        // SAFETY: the lock is held.
                        data.with_mut(|p| unsafe { *p += 1 });
                        lock.unlock().unwrap();
                        assert!(lock.is_owned());
                        lock.unlock().unwrap();
                        assert!(!lock.is_owned());
                        assert_eq!(lock.unlock(), Err(NotOwner));
                    })
                })
                .collect();
            for t in ths {
                t.join().unwrap();
            }
            // SAFETY: every thread has joined.
            assert_eq!(data.with(|p| unsafe { *p }), 2);
            assert!(!lock.is_locked());
        });
    }

    /// The waker registration vs release race on the RLock path: a thread
    /// holds the lock at two levels, a task (its own token) waits through
    /// `RLockWait`, a second thread contends; the releases free it level
    /// by level. Loom reports a lost wake-up as a deadlock.
    #[test]
    fn rlock_async_register_vs_release() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let lock = Arc::new(RawRLock::<Private>::new());
            assert!(lock.lock(Deadline::Never));
            assert!(lock.lock(Deadline::Never));
            let l2 = lock.clone();
            let task = thread::spawn(move || {
                let me = RawOwner::new();
                let mut w = RLockWait::new(&l2, &me, 1);
                crate::sys::wakers::block_on_model(|waker| w.poll(waker).then_some(()));
                drop(w);
                assert_eq!(l2.recursion_count_by(&me), 1);
                assert_eq!(l2.unlock(), Err(NotOwner), "the thread is not the owner");
                l2.unlock_by_owner(&me).unwrap();
            });
            let l3 = lock.clone();
            let th = thread::spawn(move || {
                assert!(l3.lock(Deadline::Never));
                l3.unlock().unwrap();
            });
            lock.unlock().unwrap();
            lock.unlock().unwrap();
            task.join().unwrap();
            th.join().unwrap();
            assert!(!lock.is_locked());
        });
    }

    /// One token used from two threads at once: each takes a level
    /// (nesting if the other holds the lock, else waiting through
    /// `RLockWait`) and releases it. The token's steps lock keeps `count`
    /// whole: the lock ends free and no level is lost (without it, a nest
    /// racing the other's last release leaves the count torn or the lock
    /// held).
    #[test]
    fn rlock_one_token_two_threads() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let lock = Arc::new(RawRLock::<Private>::new());
            let me = Arc::new(RawOwner::new());
            let ths: Vec<_> = (0..2)
                .map(|_| {
                    let (lock, me) = (lock.clone(), me.clone());
                    thread::spawn(move || {
                        let mut w = RLockWait::new(&lock, &me, 1);
                        crate::sys::wakers::block_on_model(|waker| w.poll(waker).then_some(()));
                        drop(w);
                        assert!(lock.recursion_count_by(&me) >= 1);
                        lock.unlock_by_owner(&me).unwrap();
                    })
                })
                .collect();
            for t in ths {
                t.join().unwrap();
            }
            assert_eq!(lock.recursion_count_by(&me), 0);
            assert!(!lock.is_locked());
        });
    }

    /// A non-owner's release fails and changes nothing while the owner
    /// holds it; a try-acquire by a non-owner never succeeds while owned.
    #[test]
    fn rlock_non_owner_cannot_release() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let lock = Arc::new(RawRLock::<Private>::new());
            assert!(lock.lock(Deadline::Never));
            let l2 = lock.clone();
            let t = thread::spawn(move || {
                assert_eq!(l2.unlock(), Err(NotOwner));
                if l2.try_lock() {
                    l2.unlock().unwrap();
                    true
                } else {
                    false
                }
            });
            let c = lock.release_save().unwrap();
            lock.acquire_restore(c);
            lock.unlock().unwrap();
            t.join().unwrap();
            assert!(!lock.is_locked());
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Regression: private owner ids were cached kernel tids, which the
    /// kernel reuses (and which a forked child inherits stale), so two
    /// threads could both "own" an RLock. Threads that live one after
    /// another — when the kernel is free to reuse a tid — get distinct ids.
    #[test]
    fn private_owner_ids_are_never_reused() {
        let mut ids: Vec<u32> = (0..64)
            .map(|_| {
                std::thread::spawn(current_owner_id::<Private>)
                    .join()
                    .unwrap()
            })
            .collect();
        ids.push(current_owner_id::<Private>());
        assert!(!ids.contains(&0));
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 65);
    }

    /// A token that holds nothing gives its id back to later tokens (ids
    /// are 32 bits; a token per task would run out); one dropped holding a
    /// level keeps it out of use, and the lock stays held by it. No token
    /// ever gets a thread's id.
    #[test]
    fn owner_ids_recycle_only_when_nothing_is_held() {
        let lock = RawRLock::<Private>::new();
        let a = RawOwner::new();
        assert!(lock.try_lock_by(&a) && lock.try_lock_by(&a));
        lock.unlock_by_owner(&a).unwrap();
        assert_eq!(lock.release_save_by_owner(&a), Ok(1));
        let id = a.id();
        drop(a);
        let b = RawOwner::new();
        assert_eq!(b.id(), id, "recycled");
        assert_ne!(b.id(), current_owner_id::<Private>());
        assert!(lock.try_lock_by(&b));
        drop(b); // holds a level: its id is never given out again
        let c = RawOwner::new();
        assert_ne!(c.id(), id);
        assert_eq!(lock.owner(), id);
        assert!(!lock.try_lock_by(&c));
        assert_eq!(lock.unlock_by_owner(&c), Err(NotOwner));
    }
}
