//! `RawRobustLock`: the process-shared lock whose holder may die. It is
//! [`RawLock`](super::RawLock)'s algorithm with the holder's kernel thread
//! id in the word instead of a bare "locked", so that a waiter can see
//! whom it waits for, and take the lock over when that thread is gone
//! (the next holder is told: [`RawRobustLock::take_owner_died`]).
//!
//! # State encoding
//!
//! `state: AtomicU32`:
//! - `0`: free.
//! - `owner` (bits 0–30): held by `owner`, nobody sleeps on it. An owner
//!   is either a kernel thread id (bit 30 clear; Linux keeps them below
//!   2^22), or, with bit 30 (`TASK`) set, a *process* holding it through a
//!   task (see "Owners that are tasks"): its pid in bits 0–21 and a tag of
//!   the process's start time in bits 22–29.
//! - `owner | WAITERS` (bit 31): held, and a waiter may sleep on the word.
//!
//! `died: AtomicU32`: `1` from a take-over until the new holder reads it;
//! touched only by the holder (or the thread taking it over), so it needs
//! no ordering of its own.
//!
//! Thread ids are unique across the processes of a pid namespace while
//! the thread lives; Linux keeps them below 2^22 (`pid_max`), so bit 31 is
//! free. A thread's id is cached in a thread-local and refreshed after
//! `fork` (an `atfork` handler bumps a generation), so the fast path makes
//! no system call.
//!
//! # Memory ordering
//!
//! As `RawLock`: acquiring is an `Acquire` CAS that reads the `Release`
//! swap of the previous release (or the holder's last write, for a
//! take-over: the CAS reads the word the dead holder wrote with its own
//! acquire; what it wrote under the lock after that is not ordered — it
//! may be half done, which is what `owner died` tells the new holder).
//!
//! # Why no wake-up is lost
//!
//! As `RawLock`: a waiter sleeps only on a word it has itself seen with
//! `WAITERS` set (it sets the bit with a CAS from the exact value it read),
//! and `futex_wait` refuses to sleep if the word has changed since. A
//! release swaps in `0` and wakes one sleeper if `WAITERS` was set; the
//! woken thread takes the lock with `WAITERS` set (it cannot know whether
//! others sleep), so the next release wakes the next sleeper.
//!
//! # A holder that dies
//!
//! A sleeper does not sleep for ever: it wakes every [`CHECK`] at most
//! (doubling from 1 ms to 64 ms while the same holder keeps the lock), and
//! asks the OS whether the holder's thread still lives
//! (`/proc/<tid>/stat`: gone, or a zombie, is dead). If not, it takes the
//! lock over with a CAS from the exact word it read — a release that
//! happened meanwhile changed the word, so the CAS fails and nothing is
//! taken twice; of several waiters that saw the death, one CAS wins. The
//! winner keeps `WAITERS` set, so the others are woken in turn. A
//! non-blocking `try_lock` asks too when it finds the lock held, so a
//! polling loop also gets the lock back.
//!
//! A thread id can be reused once its thread is gone (and reaped); if a
//! new thread got the dead holder's id before any waiter checked, waiters
//! would wait for that thread instead. Ids are handed out in sequence, so
//! that needs `pid_max` threads and processes to start within one check
//! interval.
//!
//! The uncontended path is a thread-local read, one CAS to acquire and one
//! swap to release.
//!
//! # Owners that are tasks
//!
//! A task may move between threads while it holds the lock, so a thread id
//! cannot name it. A task's acquire ([`lock_step_as`](RawRobustLock::lock_step_as),
//! [`try_lock_as`](RawRobustLock::try_lock_as) with [`my_task_owner`])
//! stores its *process* instead: `TASK | tag << 22 | pid`, where `tag` is
//! 1 + the process's start time modulo 255 (`/proc/<pid>/stat` field 22,
//! in clock ticks since boot; 0 if it could not be read). Which task of that process holds it is the
//! caller's business (the shared `RLock` keeps it beside the word, see
//! `raw/rlock.rs`). The algorithm is unchanged: the owner value is only
//! compared, stored, and asked about. Liveness of a `TASK` owner is the
//! process's: `/proc/<pid>/stat` exists, is not a zombie, and its start
//! time has the tag; so a pid reused by a later process is not taken for
//! the dead holder unless that process also started in the same tick
//! modulo 255 (one chance in 255 per reuse, instead of always for a
//! thread id). A process holding the lock through a task is not on any
//! robust list the kernel keeps, and needs none: as for a thread id, death
//! is found by a waiter's own check, at the times above (1 ms, doubling to
//! 64 ms, after it starts waiting on that holder).

use crate::sys::atomic::{AtomicU32, Ordering::*, const_fn};
use crate::sys::futex::{self, Wake};
use crate::sys::spin::{self, Spin};
use crate::sys::{Deadline, Shared};

const FREE: u32 = 0;
/// Bit 31: a waiter may be sleeping on the word.
const WAITERS: u32 = 1 << 31;
/// Bits 0–29: the holder's kernel thread id.
const TID: u32 = (1 << 30) - 1;
/// Bit 30: the owner is a process holding the lock through a task (bits
/// 0–21 its pid, bits 22–29 its start-time tag), not a thread.
pub(crate) const TASK: u32 = 1 << 30;
/// Bits 0–30: who holds it (a thread id, or `TASK` and a process).
const OWNER: u32 = !WAITERS;
/// A task owner's pid bits (Linux's `PID_MAX_LIMIT` is 2^22).
#[cfg_attr(loom, allow(dead_code))]
const PID: u32 = (1 << 22) - 1;
/// Where a task owner's start-time tag sits.
#[cfg_attr(loom, allow(dead_code))]
const TAG_SHIFT: u32 = 22;

/// The longest a sleeper waits before it checks the holder is alive.
#[cfg(not(loom))]
const CHECK: std::time::Duration = std::time::Duration::from_millis(64);
/// The first check comes this soon.
#[cfg(not(loom))]
const FIRST_CHECK: std::time::Duration = std::time::Duration::from_millis(1);

/// The process-shared lock algorithm that survives a dead holder: two words
/// in a shared mapping (all zero is a free lock).
#[repr(C)]
pub struct RawRobustLock {
    state: AtomicU32,
    died: AtomicU32,
}

#[allow(dead_code)]
impl RawRobustLock {
    const_fn! {
        pub(crate) const fn new() -> Self {
            RawRobustLock { state: AtomicU32::new(FREE), died: AtomicU32::new(0) }
        }
    }

    /// Take the lock if it is free, or if its holder is dead (a take-over,
    /// reported by [`take_owner_died`](Self::take_owner_died)); never
    /// blocks.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        self.try_lock_as(my_tid())
    }

    /// [`try_lock`](Self::try_lock) for owner `me` (a thread id, or
    /// [`my_task_owner`] for a task).
    #[inline]
    pub(crate) fn try_lock_as(&self, me: u32) -> bool {
        match self.state.compare_exchange(FREE, me, Acquire, Relaxed) {
            Ok(_) => true,
            Err(s) => self.take_over_if_dead(s, me, s & WAITERS),
        }
    }

    /// Take the lock if it is free: one CAS, no take-over, no clock read
    /// (a caller's fast path before [`lock`](Self::lock) with a deadline).
    #[inline]
    pub(crate) fn try_lock_free(&self) -> bool {
        self.state
            .compare_exchange(FREE, my_tid(), Acquire, Relaxed)
            .is_ok()
    }

    /// Take the lock, giving up at `deadline`. Returns whether it was taken
    /// (then see [`take_owner_died`](Self::take_owner_died)).
    #[inline]
    pub(crate) fn lock(&self, deadline: Deadline) -> bool {
        let me = my_tid();
        self.state
            .compare_exchange(FREE, me, Acquire, Relaxed)
            .is_ok()
            || self.lock_contended(me, deadline)
    }

    #[cold]
    fn lock_contended(&self, me: u32, deadline: Deadline) -> bool {
        // Phase 1: while nobody sleeps, look at the word under the lock's
        // spin policy and take it when it is seen free.
        let mut spin = Spin::new(&spin::LOCK);
        let mut s;
        loop {
            s = self.state.load(Relaxed);
            if s == FREE {
                match self.state.compare_exchange(FREE, me, Acquire, Relaxed) {
                    Ok(_) => return true,
                    Err(now) => s = now,
                }
            }
            if s & WAITERS != 0 || spin.spent() {
                break;
            }
            if deadline.expired() {
                return false;
            }
            spin.wait();
        }
        // Phase 2: sleep on a word marked WAITERS, waking now and then to
        // check that its holder lives.
        #[cfg(not(loom))]
        let mut interval = FIRST_CHECK;
        let mut holder = s & OWNER;
        loop {
            if s == FREE {
                // Free: take it, marked (others may sleep).
                match self
                    .state
                    .compare_exchange(FREE, me | WAITERS, Acquire, Relaxed)
                {
                    Ok(_) => return true,
                    Err(now) => {
                        s = now;
                        continue;
                    }
                }
            }
            // Mark it before sleeping, from the exact value read.
            s = match futex::announce(&self.state, s, WAITERS, Relaxed) {
                Ok(s) => s,
                Err(now) => {
                    s = now;
                    continue;
                }
            };
            if s & OWNER != holder {
                holder = s & OWNER;
                #[cfg(not(loom))]
                {
                    interval = FIRST_CHECK;
                }
            }
            #[cfg(not(loom))]
            let wait_until = {
                let check = Deadline::after(interval);
                interval = (interval * 2).min(CHECK);
                match deadline.instant() {
                    Some(d) if check.instant().is_some_and(|c| d < c) => deadline,
                    _ => check,
                }
            };
            #[cfg(loom)]
            let wait_until = deadline;
            if futex::wait::<Shared>(&self.state, s, wait_until) == Wake::TimedOut {
                if deadline.expired() {
                    // One last look: freed as we gave up?
                    return self
                        .state
                        .compare_exchange(FREE, me | WAITERS, Acquire, Relaxed)
                        .is_ok();
                }
                let now = self.state.load(Relaxed);
                if now == s && self.take_over_if_dead(s, me, WAITERS) {
                    return true;
                }
            }
            s = self.state.load(Relaxed);
        }
    }

    /// If the word still reads `seen` and its holder is dead, take the lock
    /// over (`me | keep`) and record the death.
    #[cold]
    fn take_over_if_dead(&self, seen: u32, me: u32, keep: u32) -> bool {
        let holder = seen & OWNER;
        if holder == FREE || holder == me || holder_alive(holder) {
            return false;
        }
        if self
            .state
            .compare_exchange(seen, me | keep, Acquire, Relaxed)
            .is_err()
        {
            return false;
        }
        self.died.store(1, Relaxed);
        true
    }

    /// One step of an async acquire (`sys::futex_bridge`'s protocol):
    /// `Ok` once the lock is taken (then see
    /// [`take_owner_died`](Self::take_owner_died)); else `Err(s)` after
    /// marking the word `WAITERS`, as a sleeper does: wait while the state
    /// is `s`. Taken marked `WAITERS`, as by a woken sleeper, since the
    /// wake that reached this task may have consumed the mark. With
    /// `check`, a dead holder's lock is taken over (call it at the
    /// re-check times a sleeper uses: [`next_check`]).
    pub(crate) fn lock_step(&self, check: bool) -> Result<(), u32> {
        self.lock_step_as(my_tid(), check)
    }

    /// [`lock_step`](Self::lock_step) for owner `me` (a thread id, or
    /// [`my_task_owner`] for a task that may move between threads).
    pub(crate) fn lock_step_as(&self, me: u32, check: bool) -> Result<(), u32> {
        let mut s = self.state.load(Relaxed);
        loop {
            if s == FREE {
                match self
                    .state
                    .compare_exchange(FREE, me | WAITERS, Acquire, Relaxed)
                {
                    Ok(_) => return Ok(()),
                    Err(now) => s = now,
                }
                continue;
            }
            if check && self.take_over_if_dead(s, me, WAITERS) {
                return Ok(());
            }
            match futex::announce(&self.state, s, WAITERS, Relaxed) {
                Ok(s) => return Err(s),
                Err(now) => s = now,
            }
        }
    }

    /// The futex word (for an async waiter's registration).
    pub(crate) fn word(&self) -> &AtomicU32 {
        &self.state
    }

    /// After a successful acquire: whether the lock was taken over from a
    /// dead holder (the data it guards may be half-updated). Reported once.
    #[inline]
    pub(crate) fn take_owner_died(&self) -> bool {
        self.died.load(Relaxed) != 0 && self.died.swap(0, Relaxed) != 0
    }

    /// Release the lock. Returns `false` (and changes nothing) if it was
    /// not locked.
    #[inline]
    pub(crate) fn unlock(&self) -> bool {
        let old = self.state.swap(FREE, Release);
        if old & WAITERS != 0 {
            futex::wake_one::<Shared>(&self.state);
        }
        old != FREE
    }

    /// Whether the calling thread holds the lock. Only the holder can see
    /// its own id in the word (it stored it; no one else can store while it
    /// holds the lock), so the answer is exact for the caller.
    #[inline]
    pub(crate) fn held_by_me(&self) -> bool {
        self.held_by(my_tid())
    }

    /// Whether owner `me` holds the lock; exact for `me`'s own caller, as
    /// [`held_by_me`](Self::held_by_me). A `TASK` owner names a process
    /// only: which of its tasks holds it is the caller's to know
    /// (`raw/robust_rlock.rs`).
    #[inline]
    pub(crate) fn held_by(&self, me: u32) -> bool {
        self.state.load(Relaxed) & OWNER == me
    }

    /// Whether the lock is held (a snapshot).
    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Relaxed) != FREE
    }

    /// The holder (a thread id as [`my_tid`] gives it, or a `TASK` owner),
    /// 0 when free. An
    /// `Acquire` load: a reader that sees another holder (or none) after
    /// a release also sees what the releaser wrote before it.
    #[inline]
    pub(crate) fn holder(&self) -> u32 {
        self.state.load(Acquire) & OWNER
    }
}

/// An async waiter's next liveness check, `interval` after now: the
/// intervals a sleeper uses (1 ms doubling to [`CHECK`]), advanced.
#[cfg(not(loom))]
pub(crate) fn next_check(interval: &mut std::time::Duration) -> Deadline {
    let at = Deadline::after(*interval);
    *interval = (*interval * 2).min(CHECK);
    at
}

/// Under loom (no clock, no holder dies): no re-check.
#[cfg(loom)]
pub(crate) fn next_check(_interval: &mut std::time::Duration) -> Deadline {
    Deadline::Never
}

/// The first liveness-check interval of a waiter.
#[cfg(not(loom))]
pub(crate) const FIRST_CHECK_INTERVAL: std::time::Duration = FIRST_CHECK;
#[cfg(loom)]
pub(crate) const FIRST_CHECK_INTERVAL: std::time::Duration = std::time::Duration::ZERO;

/// The calling thread's kernel id, cached (refreshed after `fork`); the
/// owner id other process-shared structures record too (the shared
/// queue's records).
#[cfg(not(loom))]
#[inline]
pub(crate) fn my_tid() -> u32 {
    use std::cell::Cell;
    thread_local! {
        static CACHE: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
    }
    let generation = fork_generation::now();
    let (g, tid) = CACHE.with(Cell::get);
    if g == generation {
        return tid;
    }
    let generation = fork_generation::hooked();
    let tid = crate::sys::os::thread::gettid() & TID;
    CACHE.with(|c| c.set((generation, tid)));
    tid
}

/// The owner a task of this process writes: `TASK`, the start-time tag
/// and the pid (see "Owners that are tasks"); cached, refreshed after
/// `fork`.
#[cfg(not(loom))]
pub(crate) fn my_task_owner() -> u32 {
    use std::sync::atomic::{AtomicU64 as StdU64, Ordering as StdOrdering};
    /// `generation << 32 | owner`, 0 before the first use.
    static CACHE: StdU64 = StdU64::new(0);
    let generation = fork_generation::now();
    let c = CACHE.load(StdOrdering::Relaxed);
    if c >> 32 == u64::from(generation) {
        return c as u32;
    }
    let generation = fork_generation::hooked();
    let pid = std::process::id();
    debug_assert!(pid <= PID, "pid {pid} above Linux's PID_MAX_LIMIT");
    // Unreadable: tag 0, "not known" (a waiter checks the pid only).
    let tag = match crate::sys::os::shm::process_life(pid) {
        crate::sys::os::shm::Life::Alive(Some(start)) => start_tag(start),
        _ => 0,
    };
    let owner = TASK | (tag << TAG_SHIFT) | (pid & PID);
    CACHE.store(
        (u64::from(generation) << 32) | u64::from(owner),
        StdOrdering::Relaxed,
    );
    owner
}

/// A process start time's tag, 1–255 (0 means "not known").
#[cfg(not(loom))]
fn start_tag(start: u64) -> u32 {
    (start % 255) as u32 + 1
}

/// Under loom: one process, pid 1, tag 0.
#[cfg(loom)]
pub(crate) fn my_task_owner() -> u32 {
    TASK | 1
}

/// A counter of this process's `fork`s (an `atfork` handler bumps it in
/// the child), so per-process caches of OS ids know when to refresh.
#[cfg(not(loom))]
mod fork_generation {
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    static GENERATION: AtomicU32 = AtomicU32::new(1);
    static HOOK: std::sync::Once = std::sync::Once::new();
    extern "C" fn forked() {
        GENERATION.fetch_add(1, Relaxed);
    }
    /// The generation now (never 0).
    #[inline]
    pub(super) fn now() -> u32 {
        GENERATION.load(Relaxed)
    }
    /// The generation, with the hook installed first (a cache filled
    /// after this call is refreshed by the next `fork`).
    pub(super) fn hooked() -> u32 {
        HOOK.call_once(|| crate::sys::os::shm::at_fork_child(forked));
        now()
    }
}

/// Under loom: the raw layer's per-model-thread owner id (never 0).
#[cfg(loom)]
pub(crate) fn my_tid() -> u32 {
    super::rlock::current_owner_id::<Shared>() & TID
}

/// Whether owner `holder` (a thread id, or a `TASK` owner: a process)
/// still lives.
#[cfg(not(loom))]
fn holder_alive(holder: u32) -> bool {
    use crate::sys::os::shm::{Life, process_life};
    if holder & TASK == 0 {
        return crate::sys::os::shm::thread_alive(holder);
    }
    let tag = (holder >> TAG_SHIFT) & 0xff;
    match process_life(holder & PID) {
        Life::Gone => false,
        // A pid reused by a process that started at another time.
        Life::Alive(Some(start)) => tag == 0 || start_tag(start) == tag,
        Life::Alive(None) => true,
    }
}

/// Under loom no holder dies.
#[cfg(loom)]
fn holder_alive(_tid: u32) -> bool {
    true
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two threads increment a counter under the lock: mutual exclusion
    /// and no lost wake-up (loom reports a deadlock).
    #[test]
    fn robust_lock_mutual_exclusion() {
        loom::model(|| {
            let lock = Arc::new(RawRobustLock::new());
            let data = Arc::new(crate::sys::atomic::UnsafeCell::new(0u32));
            let ths: Vec<_> = (0..2)
                .map(|_| {
                    let (lock, data) = (lock.clone(), data.clone());
                    thread::spawn(move || {
                        lock.lock(Deadline::Never);
                        // SAFETY: under the lock.
                        data.with_mut(|p| unsafe { *p += 1 });
                        assert!(lock.unlock());
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

    /// Three contenders exercise the WAITERS hand-off chain.
    #[test]
    fn robust_lock_three_contenders() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let lock = Arc::new(RawRobustLock::new());
            let ths: Vec<_> = (0..3)
                .map(|_| {
                    let lock = lock.clone();
                    thread::spawn(move || {
                        lock.lock(Deadline::Never);
                        lock.unlock();
                    })
                })
                .collect();
            for t in ths {
                t.join().unwrap();
            }
            assert!(!lock.is_locked());
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn lock_try_unlock() {
        let l = RawRobustLock::new();
        assert!(l.lock(Deadline::Never));
        assert!(!l.take_owner_died());
        assert!(l.is_locked());
        assert!(l.unlock());
        assert!(!l.unlock());
        assert!(l.try_lock());
        assert!(l.unlock());
    }

    /// A holder that is gone (a thread that exited holding the lock): the
    /// next acquirer takes it over and is told, once.
    #[test]
    fn dead_holder_is_taken_over() {
        let l = std::sync::Arc::new(RawRobustLock::new());
        let l2 = l.clone();
        std::thread::spawn(move || assert!(l2.lock(Deadline::Never)))
            .join()
            .unwrap();
        assert!(l.is_locked());
        assert!(l.lock(Deadline::Never));
        assert!(l.take_owner_died());
        assert!(!l.take_owner_died());
        assert!(l.unlock());
        // And by a non-blocking acquire.
        let l3 = l.clone();
        std::thread::spawn(move || assert!(l3.lock(Deadline::Never)))
            .join()
            .unwrap();
        assert!(l.try_lock());
        assert!(l.take_owner_died());
        assert!(l.unlock());
    }

    /// A task owner is its process: alive while the process lives with
    /// the start time recorded; the same pid with another start time (a
    /// reused pid) or a reaped process is dead. Never a thread's id, even
    /// the main thread's (whose tid is the pid).
    #[test]
    fn task_owner_liveness() {
        let me = my_task_owner();
        assert_eq!(me & TASK, TASK);
        assert_eq!(me & PID, std::process::id());
        let tag = (me >> TAG_SHIFT) & 0xff;
        assert_ne!(tag, 0, "the start time was read");
        assert!(holder_alive(me));
        let other = (me & !(0xff << TAG_SHIFT)) | ((tag % 255 + 1) << TAG_SHIFT);
        assert!(!holder_alive(other), "a reused pid is not the holder");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!holder_alive(TASK | pid), "a reaped process is dead");

        let l = RawRobustLock::new();
        assert!(l.try_lock_as(me));
        assert!(l.held_by(me) && !l.held_by_me());
        assert!(!l.try_lock(), "this process lives: no take-over");
        assert!(l.unlock());
        // Held by a dead process's task: a thread takes it over.
        assert!(l.try_lock_as(TASK | pid));
        assert!(l.try_lock());
        assert!(l.take_owner_died() && l.held_by_me());
        assert!(l.unlock());
    }

    /// A live holder is waited for, not taken over, past several checks.
    #[test]
    fn live_holder_is_not_taken_over() {
        let l = RawRobustLock::new();
        assert!(l.lock(Deadline::Never));
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(!l.lock(Deadline::after(std::time::Duration::from_millis(10))));
                assert!(!l.try_lock());
            });
        });
        assert!(l.unlock());
    }
}
