//! The bounded FIFO core: a Vyukov MPMC ring with per-slot sequence stamps.
//!
//! # State encoding
//!
//! `head` and `tail` are positions `lap | index`: the low bits are the slot
//! index (`< cap`), the bits from `one_lap` up count laps round the ring.
//! `mark_bit` (between the two) is set on `tail` by [`Ring::close`]:
//! Python's `shutdown()`. Because the mark lives in the word every put must
//! CAS, a put either claimed its slot before the close (and the item is in
//! the queue, counted by every later "drained?" check) or sees the mark in
//! the same CAS and fails — there is no window between "checked the flag"
//! and "claimed the slot".
//!
//! Each slot's `stamp` says whose turn it is:
//! - `stamp == tail`: empty, a put of this lap may claim it;
//! - `stamp == head + 1`: full, a get of this lap may take it;
//! - anything else: another lap is still using it (full ring, or an empty
//!   ring whose slot a put has claimed but not yet written: "in flight").
//!
//! # Memory ordering
//!
//! The value is written, then published by a `Release` store of the stamp;
//! the other side reads the stamp with `Acquire` before touching the value.
//! A claim is a `SeqCst` CAS of `tail` (put) or `head` (get). A put says
//! `Full` only after a `SeqCst` fence and a read of `head` a whole lap
//! behind its `tail`; a get says `Empty` (or `Closed`) only after a `SeqCst`
//! fence and a read of `tail` equal to its `head`. When the slot is not
//! ready but the other end has moved (a claim whose value is not written,
//! or read, yet), the operation waits for that claim to finish
//! (`spin::UNTIL_PROGRESS`: it is one store away) instead of failing — as
//! crossbeam's `ArrayQueue` does.
//!
//! # Why the notify after a put or get needs no fence
//!
//! The core wakes the other side with `EventCount::notify_sc`, a `SeqCst`
//! load of the event count's word, right after the stamp store: no fence
//! ([`Buffer::handoff_sc`]). Take a get that will sleep on `not_empty`: it
//! announces (`fetch_or` on the word), fences (`F`), then tries once more.
//! A put claims with its CAS (`C`, a `SeqCst` RMW of `tail`), writes, and
//! then loads the word (`L`, `SeqCst`); `C` is before `L` in the single
//! total order `S` of `SeqCst` operations (program order). Either:
//! - `L` precedes `F` in `S`: then `C` precedes `F`, and the get's read of
//!   `tail` after `F` sees `C` (or later). So the get does not say `Empty`
//!   for this slot: it takes the item, or sees it claimed and waits for the
//!   stamp. It does not sleep through this put.
//! - `F` precedes `L`: the announce is sequenced before `F`, so `L` reads
//!   the word with `SLEEPY` set (or a later word, whose notifier woke the
//!   sleepers): the put wakes the get.
//!
//! The same with the roles swapped for a put sleeping on `not_full` (the
//! get's CAS of `head`; the put's read of `head` after its fence, or the
//! `SeqCst` reads of `len` when the bound was lowered). The waiting is what
//! makes the first case hold: a get that said `Empty` on seeing `tail`
//! moved but the stamp not yet stored (as this ring did until round 4)
//! could sleep after `L` read no `SLEEPY` — the stamp store is only
//! `Release`, and on x86 it can still sit in the store buffer while `L`
//! runs. (That version paid a `SeqCst` fence in every notify instead.)
//! The loom model `ring_loom_tests_notify_sc` checks this: loom models
//! `SeqCst` accesses as `AcqRel`, so under loom a claim is followed by a
//! `SeqCst` fence standing for the CAS's place in `S` ([`claimed`]), and it
//! finds the lost wake-up when `try_pop` says `Empty` for a claimed slot.
//!
//! # Why nothing is lost or duplicated
//!
//! A slot is claimed by exactly one CAS of `tail` (put) or `head` (get), and
//! the stamp hands it over only after the write (or read) is complete.
//! `Closed` needs `tail == head` with the mark, after a fence: nothing is
//! claimed and unread, so an item a put has claimed is always delivered or
//! drained. A half-finished operation on the other side is waited for (it
//! is one store from done), never reported as `Full` / `Empty`, so those
//! verdicts are linearisable at the fenced read of the other end.
//!
//! `tail` also counts the puts (`lap × cap + index`, [`Buffer::puts`]): the
//! core derives Python's `unfinished_tasks` from it, so a put pays nothing
//! for task accounting. The count includes a claim whose value is not yet
//! written, which is before any get can return that item.
//!
//! No sleeping happens here: this type says `Full`, `Empty` or `Closed`
//! (waiting only for a claim in flight). Sleeping and waking is the job of
//! [`super::core`].

use core::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use super::buffer::{Buffer, Pop, Push};
use crate::sys::atomic::{AtomicUsize, Ordering::*, UnsafeCell, fence};
use crate::sys::spin::{self, Spin};

/// Right after a successful claim (a `SeqCst` CAS of `tail` or `head`).
/// Nothing on real hardware; under loom, which models `SeqCst` accesses as
/// `AcqRel`, a `SeqCst` fence stands in for the CAS's place in the single
/// total order, so that the models check the fence-free notify (see the
/// head comment) rather than a stronger one.
#[inline(always)]
fn claimed() {
    #[cfg(loom)]
    fence(SeqCst);
}

struct Slot<T> {
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A bounded multi-producer multi-consumer FIFO ring that can be closed.
pub(crate) struct Ring<T> {
    /// Next position to take from.
    head: CachePadded<AtomicUsize>,
    /// Next position to put into; `mark_bit` set once closed.
    tail: CachePadded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    /// The number of slots.
    cap: usize,
    /// The bound now (`1..=cap`): below `cap` after `set_capacity`, a put
    /// also checks `len() < limit`. Read-mostly, next to the read-only
    /// fields, so the common `limit == cap` costs one cached load.
    limit: AtomicUsize,
    /// A power of two above every index; set on `tail` when closed.
    mark_bit: usize,
    /// Added to a position to move it one lap on (`2 * mark_bit`).
    one_lap: usize,
}

// SAFETY: each value is moved in by one put and out by one get, handed over
// by the stamp protocol; the ring never gives out references to values, so
// it is `Send` and `Sync` whenever the values may be sent between threads.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring holding at most `cap` items (`cap >= 1`).
    pub(crate) fn new(cap: usize) -> Self {
        assert!(cap >= 1, "ring capacity must be at least 1");
        let mark_bit = (cap + 1).next_power_of_two();
        let one_lap = mark_bit * 2;
        let slots = (0..cap)
            .map(|i| Slot {
                stamp: AtomicUsize::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            slots,
            cap,
            limit: AtomicUsize::new(cap),
            mark_bit,
            one_lap,
        }
    }

    /// The position after `pos` (next index, or index 0 of the next lap).
    #[inline]
    fn next(&self, pos: usize) -> usize {
        let index = pos & (self.mark_bit - 1);
        if index + 1 < self.cap {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }
}

impl<T: Send> Buffer<T> for Ring<T> {
    #[inline]
    fn try_push(&self, value: T) -> Result<(), Push<T>> {
        let limit = self.limit.load(Relaxed);
        if limit < self.cap && self.len() >= limit {
            // Shrunk below its slots (Python's `q.maxsize = n` on a live
            // queue): full until it drains below the new bound. Closed
            // wins over full, as in the ring's own check. (`len` reads both
            // ends `SeqCst`: a get's claim of `head` is seen, as below.)
            return Err(if self.is_closed() {
                Push::Closed(value)
            } else {
                Push::Full(value)
            });
        }
        let mut tail = self.tail.load(Relaxed);
        let mut busy = None;
        loop {
            if tail & self.mark_bit != 0 {
                return Err(Push::Closed(value));
            }
            let slot = &self.slots[tail & (self.mark_bit - 1)];
            let stamp = slot.stamp.load(Acquire);
            if stamp == tail {
                match self
                    .tail
                    .compare_exchange_weak(tail, self.next(tail), SeqCst, Relaxed)
                {
                    Ok(_) => {
                        claimed();
                        // SAFETY: the CAS gave this thread the slot for this
                        // lap: no get reads it until the stamp below says so,
                        // and no other put can claim it this lap.
                        slot.value.with_mut(|p| unsafe { (*p).write(value) });
                        slot.stamp.store(tail + 1, Release);
                        return Ok(());
                    }
                    Err(t) => {
                        tail = t;
                        continue;
                    }
                }
            }
            // Not free for this lap. `Full` only if `head` (read after a
            // fence, so that a get's claim — its `SeqCst` CAS — is seen:
            // see the head comment) is a whole lap behind: `cap` items are
            // claimed. Otherwise our `tail` is stale, or a get has claimed
            // the slot and is reading it: look again (waiting for that get).
            fence(SeqCst);
            let head = self.head.load(Relaxed);
            if head.wrapping_add(self.one_lap) == tail {
                return Err(Push::Full(value));
            }
            let t = self.tail.load(Relaxed);
            if t == tail {
                busy.get_or_insert_with(|| Spin::new(&spin::UNTIL_PROGRESS))
                    .wait();
            }
            tail = t;
        }
    }

    #[inline]
    fn try_pop(&self) -> Pop<T> {
        let mut head = self.head.load(Relaxed);
        let mut busy = None;
        loop {
            let slot = &self.slots[head & (self.mark_bit - 1)];
            let stamp = slot.stamp.load(Acquire);
            if stamp == head + 1 {
                match self
                    .head
                    .compare_exchange_weak(head, self.next(head), SeqCst, Relaxed)
                {
                    Ok(_) => {
                        claimed();
                        // SAFETY: the stamp (read with Acquire) says a put
                        // wrote this slot for this lap, and the CAS made this
                        // thread its only reader.
                        let value = slot.value.with(|p| unsafe { (*p).assume_init_read() });
                        slot.stamp.store(head.wrapping_add(self.one_lap), Release);
                        return Pop::Item(value);
                    }
                    Err(h) => {
                        head = h;
                        continue;
                    }
                }
            }
            // Nothing to take here. `Empty` (or `Closed`) only if `tail`,
            // read after a fence so that a put's claim is seen, is `head`:
            // nothing is claimed. Otherwise our `head` is stale, or a put
            // has claimed the slot and is writing it: look again (waiting
            // for that put).
            fence(SeqCst);
            let tail = self.tail.load(Relaxed);
            if tail & !self.mark_bit == head {
                return if tail & self.mark_bit != 0 {
                    Pop::Closed
                } else {
                    Pop::Empty
                };
            }
            let h = self.head.load(Relaxed);
            if h == head {
                busy.get_or_insert_with(|| Spin::new(&spin::UNTIL_PROGRESS))
                    .wait();
            }
            head = h;
        }
    }

    fn close(&self) -> bool {
        self.tail.fetch_or(self.mark_bit, SeqCst) & self.mark_bit == 0
    }

    fn is_closed(&self) -> bool {
        self.tail.load(SeqCst) & self.mark_bit != 0
    }

    fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(SeqCst);
            let head = self.head.load(SeqCst);
            // A consistent pair: `tail` did not move while `head` was read.
            if self.tail.load(SeqCst) == tail {
                let tail = tail & !self.mark_bit;
                let hix = head & (self.mark_bit - 1);
                let tix = tail & (self.mark_bit - 1);
                return if hix < tix {
                    tix - hix
                } else if hix > tix {
                    self.cap - hix + tix
                } else if tail == head {
                    0
                } else {
                    self.cap
                };
            }
        }
    }

    fn capacity(&self) -> usize {
        self.limit.load(Relaxed)
    }

    /// Every claim is a `SeqCst` CAS, and `Empty` / `Full` are said only
    /// after a fence and a read of the other end that shows no claim in
    /// flight (see the head comment).
    #[inline]
    fn handoff_sc(&self) -> bool {
        true
    }

    #[inline]
    fn counts_puts(&self) -> bool {
        cfg!(target_pointer_width = "64")
    }

    /// `tail` counts every put (lap × slots + index). A 64-bit position
    /// would take centuries to wrap; on a 32-bit target a few billion puts
    /// would wrap it at a multiple of `cap`, not of 2^32, so the core keeps
    /// its own count there.
    #[inline]
    fn puts(&self) -> Option<usize> {
        if self.counts_puts() {
            let tail = self.tail.load(SeqCst) & !self.mark_bit;
            let lap = tail >> self.one_lap.trailing_zeros();
            Some(lap * self.cap + (tail & (self.mark_bit - 1)))
        } else {
            None
        }
    }

    fn set_capacity(&self, cap: usize) -> Result<(), usize> {
        if cap == 0 || cap > self.cap {
            return Err(self.cap);
        }
        self.limit.store(cap, Relaxed);
        Ok(())
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        if !core::mem::needs_drop::<T>() {
            return;
        }
        // `&mut self`: no other thread is here; drop what is left in order.
        let head = self.head.load(Relaxed);
        let tail = self.tail.load(Relaxed) & !self.mark_bit;
        let mut pos = head;
        while pos != tail {
            let slot = &self.slots[pos & (self.mark_bit - 1)];
            // SAFETY: positions in `head..tail` hold written values (every put
            // finished: we have `&mut self`), each dropped exactly once here.
            slot.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
            pos = self.next(pos);
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// The raw ring, capacity 1, one producer pushing two items and one
    /// consumer popping them, retrying on Full / Empty: both ends wrap a
    /// lap, every item arrives once and in order (loom's cell tracking
    /// checks that no slot is read while written).
    #[test]
    fn ring_loom_tests_spsc_wraps() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let r = Arc::new(Ring::new(1));
            let r2 = r.clone();
            let p = thread::spawn(move || {
                for i in 0..2 {
                    let mut v = i;
                    loop {
                        match r2.try_push(v) {
                            Ok(()) => break,
                            Err(Push::Full(x)) => {
                                v = x;
                                thread::yield_now();
                            }
                            Err(Push::Closed(_)) => unreachable!(),
                        }
                    }
                }
            });
            let mut got = Vec::new();
            while got.len() < 2 {
                match r.try_pop() {
                    Pop::Item(v) => got.push(v),
                    Pop::Empty => thread::yield_now(),
                    Pop::Closed => unreachable!(),
                }
            }
            p.join().unwrap();
            assert_eq!(got, [0, 1]);
            assert_eq!(r.len(), 0);
        });
    }

    /// The fence-free notify (head comment): a put and a get on a ring of
    /// one slot, each waiting on its event count when the ring is full /
    /// empty, each notifying the other with `notify_sc` — under loom with
    /// no fence but the claim's stand-in, as on hardware. Two items, so
    /// both sides wait. A lost wake-up shows as a deadlock: with `try_pop`
    /// saying `Empty` for a claimed slot (the old ring), this fails.
    #[test]
    fn ring_loom_tests_notify_sc() {
        use crate::sys::{Deadline, EventCount};
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let r = Arc::new(Ring::new(1));
            let not_empty = Arc::new(EventCount::<crate::sys::Private>::new());
            let not_full = Arc::new(EventCount::<crate::sys::Private>::new());
            let (r2, ne2, nf2) = (r.clone(), not_empty.clone(), not_full.clone());
            let p = thread::spawn(move || {
                for i in 0..2 {
                    let mut v = Some(i);
                    let put =
                        nf2.block_until(Deadline::Never, || match r2.try_push(v.take().unwrap()) {
                            Ok(()) => Some(()),
                            Err(Push::Full(x)) => {
                                v = Some(x);
                                None
                            }
                            Err(Push::Closed(_)) => unreachable!(),
                        });
                    assert_eq!(put, Some(()));
                    ne2.notify_sc_bare();
                }
            });
            for i in 0..2 {
                let got = not_empty.block_until(Deadline::Never, || match r.try_pop() {
                    Pop::Item(v) => Some(v),
                    Pop::Empty => None,
                    Pop::Closed => unreachable!(),
                });
                assert_eq!(got, Some(i));
                not_full.notify_sc_bare();
            }
            p.join().unwrap();
        });
    }

    /// `close` racing a push: the push either lands before the close (and
    /// is popped, then `Closed`) or fails with `Closed` — never both, never
    /// an item behind `Closed`.
    #[test]
    fn ring_loom_tests_close_races_push() {
        loom::model(|| {
            let r = Arc::new(Ring::new(2));
            let r2 = r.clone();
            let p = thread::spawn(move || r2.try_push(7).is_ok());
            r.close();
            let pushed = p.join().unwrap();
            let first = r.try_pop();
            match (pushed, first) {
                (true, Pop::Item(7)) => assert!(matches!(r.try_pop(), Pop::Closed)),
                (false, Pop::Closed) => {}
                _ => panic!("push and close disagree"),
            }
        });
    }
}
