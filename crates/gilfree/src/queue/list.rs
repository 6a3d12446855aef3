//! The unbounded FIFO core: a lock-free linked list of fixed-size blocks
//! (the design of crossbeam's list channel and `SegQueue`), with the
//! shutdown mark in the tail and one spare block kept for reuse.
//!
//! # State encoding
//!
//! A *position* counts slots from the start, shifted left by one: bit 0 is
//! a flag. Positions run in laps of [`LAP`]; within a lap, offsets
//! `0..BLOCK_CAP` are the slots of one block and offset `BLOCK_CAP` (the
//! last of the lap) is a gap no item ever uses: a thread that reads it
//! knows another thread is moving the position on to the next block.
//!
//! - `tail.index`: the next position to put into; bit 0 (`CLOSED`) is set
//!   by [`List::close`] (Python's `shutdown()`), in the word every put must
//!   CAS, so a put either claimed its slot before the close or fails. It
//!   also counts the puts (position minus one gap per lap), from which the
//!   core derives `unfinished_tasks` without a counter of its own.
//! - `head.index`: the next position to take from; bit 0 (`HAS_NEXT`) says
//!   the head's block already has a successor, so the queue is certainly
//!   not empty up to that block's end and a get need not read `tail`.
//! - `head.block` / `tail.block`: the block the position is in.
//! - Each slot's `state`: `WRITE` (the put wrote the value), then `READ`
//!   (the get moved it out). Each is set by a plain store of the one thread
//!   that owns the slot at that point (the put, then the get), never by a
//!   read-modify-write.
//!
//! # Protocol
//!
//! A put claims a position by CAS on `tail.index`, then writes its slot and
//! sets `WRITE`. The put that claims a block's last slot links in the next
//! block (allocated before its CAS, so the others wait only for a few
//! stores) and moves `tail` past the gap. A get checks `head` against
//! `tail` (empty? closed?), claims a position by CAS on `head.index`, waits
//! for `WRITE` (the put has claimed the slot and is a few instructions from
//! done: [`spin::UNTIL_PROGRESS`]), then moves the value out and sets
//! `READ`. The get of a block's last slot moves `head` to the next block and
//! retires the block: it waits until every other slot of the block is
//! `READ` (each such get has claimed its slot, and so has its put: both are
//! a few instructions from done and wait for nothing but the put), so
//! exactly one thread retires the block, after every get in it is done.
//!
//! crossbeam's list (and this one up to round 4) has the last get mark the
//! unread slots `DESTROY` instead and the late get finish the retirement,
//! which needs `fetch_or` for `WRITE` and for `READ`: two locked
//! instructions per item that this waiting retirement does without, so an
//! item costs one locked instruction on each side (the claims). What it
//! gives up: a block's last get may wait for a preempted get or put of the
//! same block (a get already waits for its own slot's put).
//!
//! A retired block becomes the *spare* (slots reset, kept for the next put
//! that needs a block) unless there already is one; then it is freed. In a
//! steady hand-off the list lives in two blocks and allocates nothing.
//!
//! # Memory ordering
//!
//! The value is written before a `Release` store of `WRITE` and read after
//! an `Acquire` load that saw it; `READ` is stored with `Release` after the
//! read and the retiring thread waits for it with `Acquire`, so every get's
//! read happens before the block's reset and reuse. Nobody but the slot's
//! put writes its state before `WRITE`, and nobody but its get after, so
//! plain stores lose nothing. The `next` link and
//! `head`/`tail` block pointers are published with `Release` before the
//! index that makes them reachable. The `SeqCst` fence before a get's
//! emptiness check orders it with the puts' `SeqCst` claims (as the ring's
//! verdicts are ordered). A retired block enters the spare slot with
//! `Release` after its reset, and leaves it with `Acquire`.
//!
//! # Why nothing is lost or duplicated
//!
//! A slot is claimed by exactly one CAS of `tail` (put) and one of `head`
//! (get), and `head` never passes `tail`: a get claims position `p` only
//! after seeing `tail > p`, so a put has claimed it and will write it.
//! `Closed` needs `head == tail` with the mark: every claimed item is
//! delivered or drained first. Positions only grow, so a stale `head` or
//! `tail` read never wins a CAS; no block memory is touched before the CAS
//! that makes it safe (a claimed, unread slot keeps its block alive).
//!
//! No sleeping happens here: [`super::core`] does it.

use core::mem::MaybeUninit;
use core::ptr;

use crossbeam_utils::CachePadded;

use super::buffer::{Buffer, Pop, Push};
use crate::sys::atomic::{AtomicPtr, AtomicUsize, Ordering::*, UnsafeCell, fence};
use crate::sys::spin::{self, Spin};

/// Positions per lap: one block's slots and the gap. Small under loom so
/// that a model with a handful of items crosses block boundaries.
#[cfg(not(loom))]
const LAP: usize = 32;
#[cfg(loom)]
const LAP: usize = 3;
/// Slots in a block.
const BLOCK_CAP: usize = LAP - 1;
/// Positions are shifted by this; the bit below is a flag.
const SHIFT: usize = 1;
/// One position.
const ONE: usize = 1 << SHIFT;
/// `tail.index` flag: closed (shut down).
const CLOSED: usize = 1;
/// `head.index` flag: the head's block has a successor.
const HAS_NEXT: usize = 1;

/// Slot state bits.
const WRITE: usize = 1;
const READ: usize = 2;

struct Slot<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    state: AtomicUsize,
}

struct Block<T> {
    next: AtomicPtr<Block<T>>,
    slots: [Slot<T>; BLOCK_CAP],
}

impl<T> Block<T> {
    fn boxed() -> *mut Block<T> {
        Box::into_raw(Box::new(Block {
            next: AtomicPtr::new(ptr::null_mut()),
            slots: core::array::from_fn(|_| Slot {
                value: UnsafeCell::new(MaybeUninit::uninit()),
                state: AtomicUsize::new(0),
            }),
        }))
    }

    /// Wait for the put of the block's last slot to link the next block.
    ///
    /// # Safety
    /// `this` is alive for the duration (the caller holds a claimed slot).
    unsafe fn wait_next(this: *const Block<T>) -> *mut Block<T> {
        let mut spin = Spin::new(&spin::UNTIL_PROGRESS);
        loop {
            // SAFETY: the caller's claim keeps the block alive.
            let next = unsafe { (*this).next.load(Acquire) };
            if !next.is_null() {
                return next;
            }
            spin.wait();
        }
    }
}

impl<T> Slot<T> {
    /// Wait until this slot's state has `bit`: `WRITE` (the put that
    /// claimed it wrote it) or `READ` (the get that claimed it is done).
    fn wait_for(&self, bit: usize) {
        let mut spin = Spin::new(&spin::UNTIL_PROGRESS);
        while self.state.load(Acquire) & bit == 0 {
            spin.wait();
        }
    }
}

/// A position and the block it is in.
struct End<T> {
    index: AtomicUsize,
    block: AtomicPtr<Block<T>>,
}

/// An unbounded multi-producer multi-consumer FIFO that can be closed.
pub(crate) struct List<T> {
    head: CachePadded<End<T>>,
    tail: CachePadded<End<T>>,
    /// A retired block kept for the next put that needs one (or null).
    spare: CachePadded<AtomicPtr<Block<T>>>,
    /// A bound set by `set_capacity` (0: none): puts check `len() < limit`
    /// first, as the ring does below its slots. Read-mostly.
    limit: AtomicUsize,
}

// SAFETY: each value is moved in by one put and out by one get, handed over
// by the slot states; the list never gives out references to values, so it
// is `Send` and `Sync` whenever the values may be sent between threads.
unsafe impl<T: Send> Send for List<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for List<T> {}

impl<T> List<T> {
    /// An empty list with its first block.
    pub(crate) fn new() -> Self {
        let first = Block::<T>::boxed();
        List {
            head: CachePadded::new(End {
                index: AtomicUsize::new(0),
                block: AtomicPtr::new(first),
            }),
            tail: CachePadded::new(End {
                index: AtomicUsize::new(0),
                block: AtomicPtr::new(first),
            }),
            spare: CachePadded::new(AtomicPtr::new(ptr::null_mut())),
            limit: AtomicUsize::new(0),
        }
    }

    /// A block for the next lap: the spare if there is one, else a new one.
    fn take_block(&self) -> *mut Block<T> {
        let b = self.spare.swap(ptr::null_mut(), Acquire);
        if b.is_null() { Block::boxed() } else { b }
    }

    /// A block taken by `take_block` and not used: back to the spare slot,
    /// or freed.
    ///
    /// # Safety
    /// `b` is unreachable from the list and owned by the caller; its slots
    /// hold no values.
    unsafe fn give_block(&self, b: *mut Block<T>) {
        if self
            .spare
            .compare_exchange(ptr::null_mut(), b, Release, Relaxed)
            .is_err()
        {
            // SAFETY: `b` came from `Box::into_raw` and is owned here.
            drop(unsafe { Box::from_raw(b) });
        }
    }

    /// Retire `block`: wait until every get of its other slots is done, then
    /// reset it and keep or free it.
    ///
    /// # Safety
    /// The caller is the get of `block`'s last slot and has read it, so
    /// `block` is unreachable from `head` and `tail`, every slot has been
    /// claimed by a get, and only this thread frees it.
    unsafe fn retire(&self, block: *mut Block<T>) {
        // The last slot's get is this thread, done already.
        for i in 0..BLOCK_CAP - 1 {
            // SAFETY: the block is this thread's to free, not yet freed.
            let slot = unsafe { &(*block).slots[i] };
            slot.wait_for(READ);
        }
        // Every get in the block is done and nobody else can reach it.
        // SAFETY: exclusive from here; reset to a fresh block's state (no
        // values: every one was moved out).
        unsafe {
            for s in &(*block).slots {
                s.state.store(0, Relaxed);
            }
            (*block).next.store(ptr::null_mut(), Relaxed);
            self.give_block(block);
        }
    }
}

impl<T: Send> Buffer<T> for List<T> {
    fn try_push(&self, value: T) -> Result<(), Push<T>> {
        let limit = self.limit.load(Relaxed);
        if limit != 0 && self.len() >= limit {
            // A bound set on a live unbounded queue (Python's
            // `q.maxsize = n`): full until it drains below it.
            return Err(if self.is_closed() {
                Push::Closed(value)
            } else {
                Push::Full(value)
            });
        }
        let mut spin = Spin::new(&spin::UNTIL_PROGRESS);
        let mut tail = self.tail.index.load(Acquire);
        let mut block = self.tail.block.load(Acquire);
        let mut next_block: *mut Block<T> = ptr::null_mut();
        loop {
            if tail & CLOSED != 0 {
                if !next_block.is_null() {
                    // SAFETY: taken by `take_block` below, never published.
                    unsafe { self.give_block(next_block) };
                }
                return Err(Push::Closed(value));
            }
            let offset = (tail >> SHIFT) % LAP;
            if offset == BLOCK_CAP {
                // The put of the last slot is linking the next block.
                spin.wait();
                tail = self.tail.index.load(Acquire);
                block = self.tail.block.load(Acquire);
                continue;
            }
            // About to take the last slot: have the next block ready, so
            // the others wait only for the link, not for an allocation.
            if offset + 1 == BLOCK_CAP && next_block.is_null() {
                next_block = self.take_block();
            }
            let new_tail = tail + ONE;
            match self
                .tail
                .index
                .compare_exchange_weak(tail, new_tail, SeqCst, Acquire)
            {
                Ok(_) => {
                    if offset + 1 == BLOCK_CAP {
                        // Past the gap, into the new block.
                        self.tail.block.store(next_block, Release);
                        self.tail.index.fetch_add(ONE, Release);
                        // SAFETY: our claimed slot keeps `block` alive.
                        unsafe { (*block).next.store(next_block, Release) };
                    } else if !next_block.is_null() {
                        // SAFETY: taken by `take_block`, never published.
                        unsafe { self.give_block(next_block) };
                    }
                    // SAFETY: the CAS gave this thread the slot; no get
                    // reads it before `WRITE`, and our unread slot keeps
                    // the block alive.
                    unsafe {
                        let slot = &(*block).slots[offset];
                        slot.value.with_mut(|p| (*p).write(value));
                        slot.state.store(WRITE, Release);
                    }
                    return Ok(());
                }
                Err(t) => {
                    tail = t;
                    block = self.tail.block.load(Acquire);
                }
            }
        }
    }

    fn try_pop(&self) -> Pop<T> {
        let mut spin = Spin::new(&spin::UNTIL_PROGRESS);
        let mut head = self.head.index.load(Acquire);
        let mut block = self.head.block.load(Acquire);
        loop {
            let offset = (head >> SHIFT) % LAP;
            if offset == BLOCK_CAP {
                // The get of the last slot is moving `head` on.
                spin.wait();
                head = self.head.index.load(Acquire);
                block = self.head.block.load(Acquire);
                continue;
            }
            let mut new_head = head + ONE;
            if head & HAS_NEXT == 0 {
                fence(SeqCst);
                let tail = self.tail.index.load(Relaxed);
                if head >> SHIFT == tail >> SHIFT {
                    return if tail & CLOSED != 0 {
                        Pop::Closed
                    } else {
                        Pop::Empty
                    };
                }
                // `tail` is in a later block: this one is full to its end.
                if (head >> SHIFT) / LAP != (tail >> SHIFT) / LAP {
                    new_head |= HAS_NEXT;
                }
            }
            match self
                .head
                .index
                .compare_exchange_weak(head, new_head, SeqCst, Acquire)
            {
                Ok(_) => {
                    // SAFETY: the CAS gave this thread the slot at `offset`
                    // of `block` (the `head.block` published with or before
                    // this position); a put has claimed it (`tail` was
                    // past it), and the unread slot keeps the block alive.
                    unsafe {
                        if offset + 1 == BLOCK_CAP {
                            // Move `head` past the gap, into the next block.
                            let next = Block::wait_next(block);
                            let mut next_index = (new_head & !HAS_NEXT) + ONE;
                            if !(*next).next.load(Relaxed).is_null() {
                                next_index |= HAS_NEXT;
                            }
                            self.head.block.store(next, Release);
                            self.head.index.store(next_index, Release);
                        }
                        let slot = &(*block).slots[offset];
                        slot.wait_for(WRITE);
                        let value = slot.value.with(|p| (*p).assume_init_read());
                        if offset + 1 == BLOCK_CAP {
                            self.retire(block);
                        } else {
                            slot.state.store(WRITE | READ, Release);
                        }
                        return Pop::Item(value);
                    }
                }
                Err(h) => {
                    head = h;
                    block = self.head.block.load(Acquire);
                }
            }
        }
    }

    fn close(&self) -> bool {
        self.tail.index.fetch_or(CLOSED, SeqCst) & CLOSED == 0
    }

    fn is_closed(&self) -> bool {
        self.tail.index.load(SeqCst) & CLOSED != 0
    }

    fn len(&self) -> usize {
        loop {
            let tail = self.tail.index.load(SeqCst);
            let head = self.head.index.load(SeqCst);
            // A consistent pair: `tail` did not move while `head` was read.
            if self.tail.index.load(SeqCst) != tail {
                continue;
            }
            let mut tail = tail >> SHIFT;
            let mut head = head >> SHIFT;
            // A position on the gap counts as the next block's start.
            if tail % LAP == BLOCK_CAP {
                tail += 1;
            }
            if head % LAP == BLOCK_CAP {
                head += 1;
            }
            // Count from the start of head's lap, minus one gap per lap.
            let base = head - head % LAP;
            let (tail, head) = (tail - base, head - base);
            return tail - head - tail / LAP;
        }
    }

    fn capacity(&self) -> usize {
        self.limit.load(Relaxed)
    }

    fn set_capacity(&self, cap: usize) -> Result<(), usize> {
        self.limit.store(cap, Relaxed);
        Ok(())
    }

    /// Puts and gets claim with `SeqCst` CASes; a get says `Empty` only
    /// after a `SeqCst` fence and a read of `tail`, and waits for the value
    /// of a claimed slot; a bounded put's `len` reads both ends `SeqCst`.
    #[inline]
    fn handoff_sc(&self) -> bool {
        true
    }

    #[inline]
    fn counts_puts(&self) -> bool {
        cfg!(target_pointer_width = "64")
    }

    /// `tail`'s position counts every claimed slot plus one gap per lap
    /// passed, so a put is counted from its claim, before any get can take
    /// its item. On a 32-bit target positions wrap after 2^31, which is not
    /// where the count would (it drops a gap per lap), so the core keeps
    /// its own count there.
    #[inline]
    fn puts(&self) -> Option<usize> {
        if self.counts_puts() {
            let pos = self.tail.index.load(SeqCst) >> SHIFT;
            Some(pos - pos / LAP)
        } else {
            None
        }
    }
}

impl<T> Drop for List<T> {
    fn drop(&mut self) {
        // `&mut self`: no other thread is here; every claimed slot was
        // written, so drop the values in `head..tail` and free the blocks.
        let mut head = self.head.index.load(Relaxed) & !HAS_NEXT;
        let tail = self.tail.index.load(Relaxed) & !CLOSED;
        let mut block = self.head.block.load(Relaxed);
        // SAFETY: exclusive access; each value in `head..tail` is written
        // and dropped once, each block freed once (the chain from `head`'s
        // block is the list's own, the spare is unreachable from it).
        unsafe {
            while head != tail {
                let offset = (head >> SHIFT) % LAP;
                if offset < BLOCK_CAP {
                    (*block).slots[offset]
                        .value
                        .with_mut(|p| (*p).assume_init_drop());
                } else {
                    let next = (*block).next.load(Relaxed);
                    drop(Box::from_raw(block));
                    block = next;
                }
                head += ONE;
            }
            if !block.is_null() {
                drop(Box::from_raw(block));
            }
            let spare = self.spare.load(Relaxed);
            if !spare.is_null() {
                drop(Box::from_raw(spare));
            }
        }
    }
}
