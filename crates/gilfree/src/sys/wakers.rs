//! The async waiters' futex: a table of `std::task::Waker`s keyed by the
//! address of the futex word they wait on, with the kernel futex's
//! contract, so that the raw algorithms treat a task exactly as a sleeping
//! thread.
//!
//! # The protocol (one for every primitive)
//!
//! An async wait is the thread's slow path with "sleep" replaced by
//! "register a waker and return `Pending`":
//! 1. fast path: the primitive's own atomic try (unchanged);
//! 2. mark the word the way a futex sleeper does (`RawLock`'s `CONTENDED`,
//!    the semaphore's waiter count, the event's `WAITERS` bit), so that the
//!    release/set takes its slow path, the one that calls `futex::wake`;
//! 3. [`WaitSlot::register`]`(word, expected, waker)`: under the bucket's
//!    lock, refuse if `*word != expected` (the caller re-checks and loops),
//!    else record the waker — the same check-and-enqueue, atomic with
//!    respect to [`wake`], that `futex_wait` makes in the kernel;
//! 4. the primitive's slow release calls [`wake`]`(word, n)` right beside
//!    its `futex::wake`: threads and tasks are woken from the same place.
//!
//! Why no wake-up is lost: a wake changes the word first, then takes the
//! bucket lock. A registration checks the word under that lock. If the
//! registration's critical section comes first, the wake finds the entry;
//! if the wake's comes first, the registration sees the changed word
//! (the lock orders both) and refuses. The global count of registered
//! wakers lets a wake skip the table when no task waits anywhere; it is the
//! store-buffer pattern (word, then count / count, then word), closed with
//! a `SeqCst` fence on each side. The fast paths of the primitives never
//! come here: only their slow paths (which already make a syscall) do.
//!
//! # Dropping a pending wait
//!
//! A [`WaitSlot`] dropped while its entry is still in the table removes it.
//! One dropped after a [`wake`] took its entry (it was *notified*) but
//! before its future used that notification passes it on: it wakes one
//! other task waiting on the same word. A future that completes calls
//! [`WaitSlot::finish`] first, consuming any notification it got.
//!
//! Process-shared words (`Scope = Shared`) are not served: another
//! process's `futex_wake` cannot reach this table. Awaiting those needs a
//! descriptor the runtime can watch (an eventfd doorbell), to come.

use std::task::Waker;

use super::atomic::{AtomicU32, AtomicUsize, Ordering::*, fence};
use super::sync::Mutex;

/// One registered async waiter.
struct Entry {
    addr: usize,
    id: u64,
    waker: Waker,
}

/// One bucket of the table: entries whose word hashes here.
struct Bucket {
    next_id: u64,
    entries: Vec<Entry>,
}

impl Bucket {
    const fn new() -> Self {
        Bucket {
            next_id: 0,
            entries: Vec::new(),
        }
    }
}

#[cfg(not(loom))]
mod table {
    use super::*;

    const BUCKETS: usize = 64;

    static TABLE: [Mutex<Bucket>; BUCKETS] = [const { Mutex::new(Bucket::new()) }; BUCKETS];
    static REGISTERED: AtomicUsize = AtomicUsize::new(0);

    #[inline]
    pub(super) fn bucket(addr: usize) -> &'static Mutex<Bucket> {
        // Words are 4-byte aligned and often 64-byte apart: mix the bits.
        let h = (addr >> 2).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize);
        &TABLE[h >> (usize::BITS - 6)]
    }

    #[inline]
    pub(super) fn registered() -> &'static AtomicUsize {
        &REGISTERED
    }
}

#[cfg(loom)]
mod table {
    //! One bucket per model execution (loom's statics are reset per run).
    use super::*;

    loom::lazy_static! {
        static ref TABLE: Mutex<Bucket> = Mutex::new(Bucket::new());
        static ref REGISTERED: AtomicUsize = AtomicUsize::new(0);
    }

    pub(super) fn bucket(_addr: usize) -> &'static Mutex<Bucket> {
        &TABLE
    }

    pub(super) fn registered() -> &'static AtomicUsize {
        &REGISTERED
    }
}

fn lock(addr: usize) -> crate::sys::sync::MutexGuard<'static, Bucket> {
    // A panic cannot happen while the lock is held (only Vec operations and
    // Waker clones run under it), but do not let poison wedge every waiter.
    table::bucket(addr)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Wake up to `n` tasks registered on `word` (oldest first). Call it after
/// changing the word, beside the primitive's `futex::wake`.
#[inline]
pub(crate) fn wake(word: &AtomicU32, n: u32) {
    // Pairs with the fence in `register`: see the head comment.
    fence(SeqCst);
    if table::registered().load(Relaxed) != 0 {
        wake_addr(word as *const AtomicU32 as usize, n);
    }
}

#[cold]
fn wake_addr(addr: usize, n: u32) {
    let mut woken: Vec<Waker> = Vec::new();
    {
        let mut b = lock(addr);
        // One pass that keeps the others in order (not `remove(i)` per
        // match: waking 10,000 tasks on one word was quadratic).
        b.entries.retain_mut(|e| {
            if woken.len() < n as usize && e.addr == addr {
                woken.push(core::mem::replace(&mut e.waker, Waker::noop().clone()));
                false
            } else {
                true
            }
        });
        if !woken.is_empty() {
            table::registered().fetch_sub(woken.len(), Relaxed);
        }
    }
    // Outside the lock: a waker may run the task inline and poll again.
    for w in woken {
        w.wake();
    }
}

/// A future's place in the table: empty, or registered on one word.
#[derive(Debug, Default)]
pub(crate) struct WaitSlot {
    /// The word's address and this registration's id, once registered.
    key: Option<(usize, u64)>,
}

impl WaitSlot {
    /// Not registered.
    pub(crate) const fn new() -> Self {
        WaitSlot { key: None }
    }

    /// Whether this wait has registered (and so may have been notified):
    /// a primitive whose wake hands over a "contended" mark (`RawLock`)
    /// must then take it only through its slow path.
    #[inline]
    pub(crate) fn has_registered(&self) -> bool {
        self.key.is_some()
    }

    /// Register `waker` to be woken by [`wake`] on `word`, unless `*word`
    /// no longer equals `expected` (checked under the bucket lock, as
    /// `futex_wait` does). Returns `true` if registered (return
    /// `Pending`), `false` if the word changed (re-check and retry). A slot
    /// still registered on `word` has its waker updated in place.
    pub(crate) fn register(&mut self, word: &AtomicU32, expected: u32, waker: &Waker) -> bool {
        let addr = word as *const AtomicU32 as usize;
        let mut b = lock(addr);
        if let Some((a, id)) = self.key {
            debug_assert_eq!(a, addr, "one WaitSlot waits on one word");
            if let Some(e) = b.entries.iter_mut().find(|e| e.id == id) {
                // Still registered (not yet notified).
                if word.load(SeqCst) != expected {
                    return false;
                }
                e.waker.clone_from(waker);
                return true;
            }
        }
        // Count first, then check the word: pairs with the fence in `wake`.
        table::registered().fetch_add(1, Relaxed);
        fence(SeqCst);
        if word.load(SeqCst) != expected {
            table::registered().fetch_sub(1, Relaxed);
            return false;
        }
        let id = b.next_id;
        b.next_id += 1;
        b.entries.push(Entry {
            addr,
            id,
            waker: waker.clone(),
        });
        self.key = Some((addr, id));
        true
    }

    /// The wait completed: drop the registration, consuming a notification
    /// it may have received.
    pub(crate) fn finish(&mut self) {
        if let Some((addr, id)) = self.key.take() {
            Self::remove(addr, id);
        }
    }

    /// Remove the entry; `false` if a wake had taken it already.
    fn remove(addr: usize, id: u64) -> bool {
        let mut b = lock(addr);
        match b.entries.iter().position(|e| e.id == id) {
            Some(i) => {
                b.entries.remove(i);
                table::registered().fetch_sub(1, Relaxed);
                true
            }
            None => false,
        }
    }
}

impl Drop for WaitSlot {
    fn drop(&mut self) {
        if let Some((addr, id)) = self.key.take()
            && !Self::remove(addr, id)
        {
            // Notified but never used: pass the notification on.
            wake_addr(addr, 1);
        }
    }
}

/// `block_on` for loom models: polls, and parks the model thread until its
/// waker unparks it, so loom reports a lost wake-up as a deadlock.
#[cfg(all(test, loom))]
pub(crate) fn block_on_model<T>(mut poll: impl FnMut(&Waker) -> Option<T>) -> T {
    struct Unpark(loom::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(loom::thread::current())));
    loop {
        if let Some(v) = poll(&waker) {
            return v;
        }
        loom::thread::park();
    }
}
