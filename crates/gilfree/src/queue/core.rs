//! The one queue algorithm behind all four front types: waiting, waking,
//! task accounting and shutdown, over any [`Buffer`] (the lock-free ring,
//! or a `Vec` / `VecDeque` / `BinaryHeap` behind a lock).
//!
//! # State encoding
//!
//! - The buffer holds the items and the *closed* mark (Python's
//!   `is_shutdown`), so "closed?" and "claim a place" are one atomic step.
//! - Three [`EventCount`]s — `not_empty` (getters), `not_full` (putters),
//!   `all_done` (joiners) — each one futex word on its own cache line.
//! - `tasks` (on its own cache line) gives Python's `unfinished_tasks`:
//!   for a buffer that counts its puts (the ring and the block list: their
//!   `tail` position), it counts tasks finished, and `unfinished = puts −
//!   tasks`, so a put pays no read-modify-write for it; for the others it
//!   is `unfinished` itself.
//!
//! # Memory ordering and why no wake-up is lost
//!
//! Every wait is `sys::event_count`'s protocol: the waiter announces,
//! fences, then re-tries its operation on the buffer; every state change
//! (push, pop, last task done, shutdown) is made first and then notifies
//! the matching event count, which costs a fence and a load while nobody
//! sleeps. The buffer's own operations are linearisable (see `ring` and
//! `locked`), so a re-try after the announce sees any change whose notify
//! did not see the announce.
//!
//! The block list claims every slot with a `SeqCst` CAS and says `Empty`
//! only after a fence and a read of `tail`, waiting for a claimed slot's
//! value ([`Buffer::handoff_sc`]), so its puts and gets notify with
//! `EventCount::notify_sc`: one load, no fence. The ring says `Empty` /
//! `Full` for a slot claimed but not yet written, and so keeps the fence
//! (a ring that waits instead was tried in round 4 and broke the loom
//! model `core_loom_tests_ring_two_consumers`; see docs/design-notes.md).
//!
//! An item is counted before any consumer can get it: the ring counts a
//! put at its claim, before the stamp store that hands the item over (the
//! block list at its claim too, before its `written` byte);
//! otherwise `tasks` is raised before the push (and lowered again if the
//! push fails). So `task_done` can never underflow on a correct program.
//! `task_done` is a CAS loop on `tasks` that refuses to pass the puts (or
//! go below zero): Python's `ValueError`. Since the puts only grow and are
//! read after `tasks`, a count checked against them is still valid at the
//! CAS. The one that leaves nothing unfinished notifies `all_done` (a
//! joiner's re-check reads `tasks` and the puts after its fence).

use crossbeam_utils::CachePadded;

use super::buffer::{Buffer, Pop, Push};
use crate::sys::atomic::{AtomicUsize, Ordering::*};
use crate::sys::spin::{self, Spin};
use crate::sys::wakers::WaitSlot;
use crate::sys::{Deadline, EventCount, Scope};

/// Run `attempt` until it gives `Some`, waiting on `ec` in between; `None`
/// once `deadline` passed (after one last attempt). Also the shared-memory
/// queue's wait (`multiprocessing::queue`), on a process-shared `ec`.
#[inline]
pub(crate) fn wait_until<S: Scope, R>(
    ec: &EventCount<S>,
    deadline: Deadline,
    mut attempt: impl FnMut() -> Option<R>,
) -> Option<R> {
    if let Some(r) = attempt() {
        return Some(r);
    }
    wait_slow(ec, deadline, &mut attempt)
}

#[cold]
fn wait_slow<S: Scope, R>(
    ec: &EventCount<S>,
    deadline: Deadline,
    attempt: &mut impl FnMut() -> Option<R>,
) -> Option<R> {
    if deadline.expired() {
        return None;
    }
    // Look a while before sleeping, for about what the sleep would cost in
    // syscalls, then yield a few times (`spin::queue` has the measurements).
    // The cross-process queue keeps its own numbers (`spin::QUEUE_SHARED`).
    let policy = if S::SHARED {
        &spin::QUEUE_SHARED
    } else {
        spin::queue()
    };
    let mut spin = Spin::new(policy);
    while spin.next() {
        if let Some(r) = attempt() {
            return Some(r);
        }
    }
    ec.block_until(deadline, attempt)
}

/// The queue algorithm over a buffer `B`.
pub(crate) struct Core<T, B> {
    buf: B,
    not_empty: CachePadded<EventCount>,
    not_full: CachePadded<EventCount>,
    all_done: CachePadded<EventCount>,
    /// The task count: if the buffer counts its puts
    /// ([`Buffer::counts_puts`]), the tasks finished (`task_done`, or
    /// discounted by `shutdown(immediate=True)`), and Python's
    /// `unfinished_tasks` is the buffer's puts minus this; otherwise
    /// `unfinished_tasks` itself, raised before each push.
    tasks: CachePadded<AtomicUsize>,
    /// Whether tasks are counted (not for `SimpleQueue`).
    track: bool,
    _items: core::marker::PhantomData<fn(T) -> T>,
}

/// A failed get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GetFail {
    Empty,
    ShutDown,
}

/// A failed put; the item comes back.
pub(crate) enum PutFail<T> {
    Full(T),
    ShutDown(T),
}

impl<T, B: Buffer<T>> Core<T, B> {
    pub(crate) fn new(buf: B, track: bool) -> Self {
        Core {
            buf,
            not_empty: CachePadded::new(EventCount::new()),
            not_full: CachePadded::new(EventCount::new()),
            all_done: CachePadded::new(EventCount::new()),
            tasks: CachePadded::new(AtomicUsize::new(0)),
            track,
            _items: core::marker::PhantomData,
        }
    }

    /// Wake getters after a push (fence-free if the buffer allows it).
    #[inline]
    fn pushed(&self) {
        if self.buf.handoff_sc() {
            self.not_empty.notify_sc();
        } else {
            self.not_empty.notify();
        }
    }

    /// Wake putters after a pop, if the buffer has a bound.
    #[inline]
    fn popped(&self) {
        if self.buf.capacity() == 0 {
            return;
        }
        if self.buf.handoff_sc() {
            self.not_full.notify_sc();
        } else {
            self.not_full.notify();
        }
    }

    #[inline]
    pub(crate) fn put(&self, item: T, deadline: Deadline) -> Result<(), PutFail<T>> {
        self.raise();
        let mut item = Some(item);
        let r = wait_until(&self.not_full, deadline, || {
            match self.buf.try_push(item.take().expect("item present")) {
                Ok(()) => Some(Ok(())),
                Err(Push::Closed(v)) => Some(Err(PutFail::ShutDown(v))),
                Err(Push::Full(v)) => {
                    item = Some(v);
                    None
                }
            }
        });
        let r = r.unwrap_or_else(|| Err(PutFail::Full(item.take().expect("item present"))));
        match r {
            Ok(()) => self.pushed(),
            Err(_) => self.unraise(),
        }
        r
    }

    /// Put every item, blocking while full; wakes getters once per run of
    /// items that fit, not once per item. On shutdown returns the items not
    /// put (the failed one first, then the rest in order).
    pub(crate) fn put_many(&self, items: impl IntoIterator<Item = T>) -> Result<(), Vec<T>> {
        let mut it = items.into_iter();
        let mut pushed = false;
        while let Some(v) = it.next() {
            self.raise();
            let v = match self.buf.try_push(v) {
                Ok(()) => {
                    pushed = true;
                    continue;
                }
                Err(Push::Full(v)) => v,
                Err(Push::Closed(v)) => {
                    self.unraise();
                    if pushed {
                        self.pushed();
                    }
                    return Err(core::iter::once(v).chain(it).collect());
                }
            };
            // Full: let the getters at what we have, then wait for room.
            if pushed {
                self.pushed();
                pushed = false;
            }
            self.unraise();
            match self.put(v, Deadline::Never) {
                Ok(()) => {}
                Err(PutFail::ShutDown(v) | PutFail::Full(v)) => {
                    return Err(core::iter::once(v).chain(it).collect());
                }
            }
        }
        if pushed {
            self.pushed();
        }
        Ok(())
    }

    #[inline]
    fn pop_attempt(&self) -> Option<Result<T, GetFail>> {
        match self.buf.try_pop() {
            Pop::Item(v) => Some(Ok(v)),
            Pop::Closed => Some(Err(GetFail::ShutDown)),
            Pop::Empty => None,
        }
    }

    #[inline]
    pub(crate) fn get(&self, deadline: Deadline) -> Result<T, GetFail> {
        // An item there at once takes this path alone, so the value stays
        // in registers: through `wait_until` it came back as an
        // `Option<Result<T, GetFail>>` that was copied through the stack
        // with overlapping moves, two failed store-to-load forwards per
        // get (docs/design-notes.md, "Unbounded queue, round 4").
        match self.buf.try_pop() {
            Pop::Item(v) => {
                self.popped();
                Ok(v)
            }
            Pop::Closed => Err(GetFail::ShutDown),
            Pop::Empty => self.get_waiting(deadline),
        }
    }

    /// `get` once the first look found the buffer empty: the rest of
    /// `wait_until` (the same buffer operations as a `get` through it).
    #[inline(never)]
    fn get_waiting(&self, deadline: Deadline) -> Result<T, GetFail> {
        let r = wait_slow(&self.not_empty, deadline, &mut || self.pop_attempt())
            .unwrap_or(Err(GetFail::Empty));
        if r.is_ok() {
            self.popped();
        }
        r
    }

    /// Wait (until `deadline`) for at least one item, then take up to `max`
    /// without waiting again.
    pub(crate) fn get_many(&self, max: usize, deadline: Deadline) -> Result<Vec<T>, GetFail> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let first = self.get_quiet(deadline)?;
        let mut out = Vec::with_capacity(max.min(self.buf.len() + 1).max(1));
        out.push(first);
        while out.len() < max {
            match self.buf.try_pop() {
                Pop::Item(v) => out.push(v),
                _ => break,
            }
        }
        self.popped();
        Ok(out)
    }

    /// `get` without waking putters (the caller does it in bulk).
    #[inline]
    fn get_quiet(&self, deadline: Deadline) -> Result<T, GetFail> {
        wait_until(&self.not_empty, deadline, || self.pop_attempt()).unwrap_or(Err(GetFail::Empty))
    }

    /// Count an item about to be pushed as a task, unless the buffer
    /// counts its puts itself (then a put pays nothing here).
    #[inline]
    fn raise(&self) {
        if self.track && !self.buf.counts_puts() {
            self.tasks.fetch_add(1, Relaxed);
        }
    }

    /// Undo [`raise`](Self::raise) for a push that failed.
    #[inline]
    fn unraise(&self) {
        if self.track && !self.buf.counts_puts() {
            self.discount(1);
        }
    }

    /// Finish up to `n` tasks (never below zero unfinished); wakes joiners
    /// if none are left. Returns how many it finished.
    fn discount(&self, n: usize) -> usize {
        if !self.track || n == 0 {
            return 0;
        }
        // `Acquire`: the puts read below must be at least those the thread
        // that wrote `cur` knew of (a `Relaxed` load lets a weakly ordered
        // CPU read `tail` first, older than `cur`: `puts - cur` underflows,
        // or equals 0 and a valid `task_done` is refused).
        let mut cur = self.tasks.load(Acquire);
        loop {
            // `puts` is read after `tasks` and only grows, so `cur <= puts`
            // holds at the CAS: the count never passes the puts. Below a
            // count of puts the buffer already knows of (for the list, one
            // a get has seen), a task is left after these: no need to
            // read the exact count, whose line the puts keep writing.
            let known = self.buf.puts_at_least();
            // At `known` itself the count may be exact: `left == 0` then
            // wakes the joiners, who look again (at worst a spurious wake).
            let (new, left) = if cur.checked_add(n).is_some_and(|s| s <= known) {
                (cur + n, known - cur - n)
            } else {
                match self.buf.puts() {
                    Some(puts) => {
                        let new = cur + n.min(puts - cur);
                        (new, puts - new)
                    }
                    None => {
                        let new = cur.saturating_sub(n);
                        (new, new)
                    }
                }
            };
            if new == cur {
                return 0;
            }
            match self.tasks.compare_exchange_weak(cur, new, AcqRel, Acquire) {
                Ok(_) => {
                    if left == 0 {
                        self.all_done.notify();
                    }
                    return cur.abs_diff(new);
                }
                Err(c) => cur = c,
            }
        }
    }

    /// Python's `task_done`; `false` if called more times than items put.
    #[inline]
    pub(crate) fn task_done(&self) -> bool {
        self.discount(1) == 1
    }

    /// Python's `join`; `false` if `deadline` passed first.
    pub(crate) fn join(&self, deadline: Deadline) -> bool {
        wait_until(&self.all_done, deadline, || {
            (self.unfinished_tasks() == 0).then_some(())
        })
        .is_some()
    }

    /// Python's `unfinished_tasks`.
    pub(crate) fn unfinished_tasks(&self) -> usize {
        // `tasks` first: the puts read after it are at least as many.
        let tasks = self.tasks.load(Acquire);
        match self.buf.puts() {
            Some(puts) => puts - tasks,
            None => tasks,
        }
    }

    /// Python 3.13's `shutdown(immediate)`.
    pub(crate) fn shutdown(&self, immediate: bool) {
        self.buf.close();
        if immediate {
            // Drain what is there (puts are refused now, so this ends), and
            // count each drained item as done, as CPython does.
            // `Empty` on a closed buffer means a put claimed a place before
            // the close and is still writing it: wait for it, so that nothing
            // is left behind after `shutdown(true)` returns.
            let mut drained = 0;
            let mut spin = Spin::new(&spin::UNTIL_PROGRESS);
            loop {
                match self.buf.try_pop() {
                    Pop::Item(v) => {
                        drop(v);
                        drained += 1;
                    }
                    Pop::Empty => spin.wait(),
                    Pop::Closed => break,
                }
            }
            self.discount(drained);
        }
        self.not_empty.notify();
        self.not_full.notify();
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.buf.is_closed()
    }

    pub(crate) fn qsize(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn maxsize(&self) -> usize {
        self.buf.capacity()
    }

    /// Change the bound (Python: assigning `q.maxsize`); `Err(largest)`
    /// if the buffer cannot take it. Putters are woken: a larger bound may
    /// have room for them (a smaller one sends them back to sleep).
    pub(crate) fn set_maxsize(&self, maxsize: usize) -> Result<(), usize> {
        self.buf.set_capacity(maxsize)?;
        self.not_full.notify();
        Ok(())
    }

    pub(crate) fn full(&self) -> bool {
        let cap = self.buf.capacity();
        cap != 0 && self.buf.len() >= cap
    }
}

/// The async side of a core (`put_async` / `get_async`), object-safe so
/// that the public futures hold `&dyn AsyncCore<T>` and need not name the
/// buffer. Each poll is the blocking call's attempt, then `EventCount`'s
/// announce-and-register instead of a sleep: `None` means "registered,
/// return `Pending`".
pub(crate) trait AsyncCore<T>: Sync {
    /// One poll of a put of `*item` (taken when it lands or is refused).
    fn poll_put(
        &self,
        item: &mut Option<T>,
        slot: &mut WaitSlot,
        waker: &core::task::Waker,
    ) -> Option<Result<(), PutFail<T>>>;

    /// One poll of a get.
    fn poll_get(
        &self,
        slot: &mut WaitSlot,
        waker: &core::task::Waker,
    ) -> Option<Result<T, GetFail>>;
}

impl<T, B: Buffer<T>> AsyncCore<T> for Core<T, B> {
    fn poll_put(
        &self,
        item: &mut Option<T>,
        slot: &mut WaitSlot,
        waker: &core::task::Waker,
    ) -> Option<Result<(), PutFail<T>>> {
        let r = self.not_full.poll_until(slot, waker, || {
            // Counted only while an attempt is in flight (a pending future
            // that is dropped leaves no count behind), raised before the
            // push as in `put`.
            self.raise();
            match self.buf.try_push(item.take().expect("item present")) {
                Ok(()) => Some(Ok(())),
                Err(Push::Closed(v)) => {
                    self.unraise();
                    Some(Err(PutFail::ShutDown(v)))
                }
                Err(Push::Full(v)) => {
                    self.unraise();
                    *item = Some(v);
                    None
                }
            }
        });
        if let Some(Ok(())) = r {
            self.pushed();
        }
        r
    }

    fn poll_get(
        &self,
        slot: &mut WaitSlot,
        waker: &core::task::Waker,
    ) -> Option<Result<T, GetFail>> {
        let r = self
            .not_empty
            .poll_until(slot, waker, || self.pop_attempt());
        if let Some(Ok(_)) = r {
            self.popped();
        }
        r
    }
}
