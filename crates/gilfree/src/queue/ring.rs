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
//! `head`/`tail` CASes only order claims among producers (or consumers);
//! the `SeqCst` fences before the "is it really full / empty?" re-reads are
//! what make those verdicts consistent with the other end (as in
//! crossbeam's `ArrayQueue`, which this follows in shape).
//!
//! # Why nothing is lost or duplicated
//!
//! A slot is claimed by exactly one CAS of `tail` (put) or `head` (get), and
//! the stamp hands it over only after the write (or read) is complete. A get
//! that finds an in-flight slot reports `Empty` (the put has not finished),
//! never `Closed`: `Closed` needs `tail == head` with the mark, so an item a
//! put has claimed is always delivered or drained. Neither side ever spins
//! waiting for the other: a half-finished operation on the other side reads
//! as `Full` / `Empty`, and the core's futex wait covers it (the other side
//! notifies after its stamp store).
//!
//! No waiting happens here: this type only says `Full`, `Empty` or
//! `Closed`. Sleeping and waking is the job of [`super::core`].

use core::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use super::buffer::{Buffer, Pop, Push};
use crate::sys::atomic::{AtomicUsize, Ordering::*, UnsafeCell, fence};

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

// `try_push` and `try_pop` are marked `#[inline]`: when LLVM left them out
// of line under the queues' buffer dispatch (`Fifo`), the async bounded
// hand-off (`queue_async_bounded_1p1c`) took 28 ns per item against 24.
impl<T: Send> Buffer<T> for Ring<T> {
    #[inline]
    fn try_push(&self, value: T) -> Result<(), Push<T>> {
        let limit = self.limit.load(Relaxed);
        if limit < self.cap && self.len() >= limit {
            // Shrunk below its slots (Python's `q.maxsize = n` on a live
            // queue): full until it drains below the new bound. Closed
            // wins over full, as in the ring's own check.
            return Err(if self.is_closed() {
                Push::Closed(value)
            } else {
                Push::Full(value)
            });
        }
        let mut tail = self.tail.load(Relaxed);
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
                        // SAFETY: the CAS gave this thread the slot for this
                        // lap: no get reads it until the stamp below says so,
                        // and no other put can claim it this lap.
                        slot.value.with_mut(|p| unsafe { (*p).write(value) });
                        slot.stamp.store(tail + 1, Release);
                        return Ok(());
                    }
                    Err(t) => tail = t,
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds last lap's item (no put can have
                // claimed it, so `tail` is current): full. If a get has
                // claimed the item but not finished reading it, it wakes
                // sleeping putters once it has. Saying `Full` rather than
                // spinning on another thread's progress keeps every wait in
                // one place (the core's futex); it is linearisable at the
                // stamp load above.
                return Err(Push::Full(value));
            } else {
                // Our `tail` is stale (another put claimed this position),
                // or last lap's put here has not finished writing (the ring
                // is full round to it). Catch up; if `tail` has not moved it
                // is the latter: full.
                let t = self.tail.load(Relaxed);
                if t == tail {
                    return Err(Push::Full(value));
                }
                tail = t;
            }
        }
    }

    #[inline]
    fn try_pop(&self) -> Pop<T> {
        let mut head = self.head.load(Relaxed);
        loop {
            let slot = &self.slots[head & (self.mark_bit - 1)];
            let stamp = slot.stamp.load(Acquire);
            if stamp == head + 1 {
                match self
                    .head
                    .compare_exchange_weak(head, self.next(head), SeqCst, Relaxed)
                {
                    Ok(_) => {
                        // SAFETY: the stamp (read with Acquire) says a put
                        // wrote this slot for this lap, and the CAS made this
                        // thread its only reader.
                        let value = slot.value.with(|p| unsafe { (*p).assume_init_read() });
                        slot.stamp.store(head.wrapping_add(self.one_lap), Release);
                        return Pop::Item(value);
                    }
                    Err(h) => head = h,
                }
            } else if stamp == head {
                // Nothing written here yet this lap: empty, unless a put has
                // claimed the slot and is writing it (then wait for it).
                fence(SeqCst);
                let tail = self.tail.load(Relaxed);
                if tail == head | self.mark_bit {
                    return Pop::Closed;
                }
                // Truly empty, or a put has claimed the slot and is still
                // writing it (it wakes sleeping getters once it has): empty
                // for now either way, linearisable at the stamp load above.
                // `Closed` is only ever said once nothing is in flight.
                return Pop::Empty;
            } else {
                // Our `head` is stale (another get took this position), or
                // last lap's get here has not finished reading (then nothing
                // is queued at `head` yet). Catch up; if `head` has not
                // moved it is the latter: empty, or closed.
                let h = self.head.load(Relaxed);
                if h == head {
                    fence(SeqCst);
                    let tail = self.tail.load(Relaxed);
                    return if tail == head | self.mark_bit {
                        Pop::Closed
                    } else {
                        Pop::Empty
                    };
                }
                head = h;
            }
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

    fn set_capacity(&self, cap: usize) -> Result<(), usize> {
        if cap == 0 || cap > self.cap {
            return Err(self.cap);
        }
        self.limit.store(cap, Relaxed);
        Ok(())
    }

    #[inline]
    fn counts_puts(&self) -> bool {
        cfg!(target_pointer_width = "64")
    }

    /// `tail` counts every put (lap × slots + index), from its claim, which
    /// is before the stamp store that hands the item to a get. A 64-bit
    /// position would take centuries to wrap; on a 32-bit target a few
    /// billion puts would wrap it at a multiple of `cap`, not of 2^32, so
    /// the core keeps its own count there.
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
