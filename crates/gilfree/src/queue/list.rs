//! The unbounded FIFO core: a lock-free linked list of fixed-size blocks
//! (the design of crossbeam's list channel and `SegQueue`), with the
//! shutdown mark in the tail and a small pool of retired blocks.
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
//! - `head.seen`: a value `tail.index` had (`tail` only grows; `seen` is
//!   stored without a CAS, so it may step back to an older value, which
//!   only costs a read of `tail`); a get below it need not read `tail`
//!   either. Only gets write it, in their own line.
//! - `head.block` / `tail.block`: the block the position is in.
//! - Each slot has two state bytes, apart from its value: `written[i]` (set
//!   once, by the put that claimed the slot, when the value is in) and
//!   `taken[i]`: `READ` (the get moved the value out) and `DESTROY` (the
//!   block's last get asked this slot's get to finish retiring the block,
//!   because it had not read yet).
//!
//! # Layout
//!
//! A block (`repr(C)`) is `next`, the 31 `written` bytes (39 bytes: one
//! line, or two where the allocator's 16-byte alignment splits them;
//! blocks aligned to 64 measured no different), the values, then the 31
//! `taken` bytes. crossbeam keeps a word of state
//! beside each value, 16 bytes per word-sized item; here it is 10.3. A
//! put writes only its value and its `written` byte, a get writes only
//! its `taken` byte: the byte the put sets has one writer, so it is a
//! plain store, and a put makes one locked instruction (its claim), not
//! two. What this buys is in docs/design-notes.md, "Unbounded queue,
//! round 6": the consumer keeps up with the producer, so a hand-off
//! stays a few blocks long instead of a backlog of megabytes.
//!
//! # Protocol
//!
//! A put claims a position by CAS on `tail.index`, then writes its value
//! and sets `written`. The put that claims a block's last slot links in the
//! next block (taken before its CAS, so the others wait only for a few
//! stores) and moves `tail` past the gap. A get checks `head` against
//! `head.seen`, and only if it is not below it against `tail` (empty?
//! closed?), claims a position by CAS on `head.index`, waits for `written`
//! (the put has claimed the slot and is a few instructions from done:
//! [`spin::UNTIL_PROGRESS`]), then moves the value out and sets `READ`.
//! The get of a block's last slot moves `head` to the next block and
//! retires the block: it marks every slot not yet read `DESTROY`, and the
//! get that finds `DESTROY` when it sets `READ` carries on from there, so
//! exactly one thread retires the block, after every get in it is done.
//!
//! A retired block is reset and goes to the *pool* (a stack of up to
//! [`POOL_BYTES`] of blocks, at least two) for the next put that needs
//! one; a full pool frees it. A hand-off in which the consumer keeps up
//! allocates nothing once the pool holds the few blocks it spans. Many
//! threads push onto the pool (a CAS), one at a time pops from it (a
//! try-lock: a put that finds it taken allocates), so a popped block can
//! never have left and come back under the popper (no ABA).
//!
//! # Memory ordering
//!
//! The value is written before a `Release` store of `written` and read
//! after an `Acquire` load that saw it; `READ` is set with `AcqRel` so the
//! retiring thread sees every get's read finished. The `next` link and
//! `head`/`tail` block pointers are published with `Release` before the
//! index that makes them reachable. The `SeqCst` fence before a get's
//! emptiness check orders it with the puts' `SeqCst` claims (as the ring's
//! verdicts are ordered); a get that trusts `head.seen` says "not empty",
//! which a stale value never makes wrong. `head.seen` is stored with
//! `Release` after the read of `tail` (or the `Acquire` read of a
//! `written` byte, or of the next block's `next`) it comes from, and
//! loaded with `Acquire`, so a later read of `tail` by any thread that
//! learned of it is at least as far on: `task_done` counts up to it
//! without reading `tail` ([`Buffer::puts_at_least`]) and
//! `unfinished_tasks` never goes below zero. A retired block enters the
//! pool with a `Release` CAS after its reset, and leaves it with `Acquire`.
//!
//! # Why nothing is lost or duplicated
//!
//! A slot is claimed by exactly one CAS of `tail` (put) and one of `head`
//! (get), and `head` never passes `tail`: a get claims position `p` only
//! after seeing `tail > p` (now, or earlier through `head.seen`), so a put
//! has claimed it and will write it. `Closed` needs `head == tail` with the
//! mark: every claimed item is delivered or drained first. Positions only
//! grow, so a stale `head` or `tail` read never wins a CAS; no block memory
//! is touched before the CAS that makes it safe (a claimed, unread slot
//! keeps its block alive).
//!
//! No sleeping happens here: [`super::core`] does it.

use core::mem::MaybeUninit;
use core::ptr;

use crossbeam_utils::CachePadded;

use super::buffer::{Buffer, Pop, Push};
use crate::sys::atomic::{
    AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering::*, UnsafeCell, fence,
};
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

/// `written[i]`: the value is in.
const WRITTEN: u8 = 1;
/// `taken[i]` bits.
const READ: u8 = 2;
const DESTROY: u8 = 4;
/// How far position `to` is past position `from` (negative: behind), from
/// two indexes whose bit 0 is a flag (`CLOSED`, `HAS_NEXT`). A wrapping
/// distance, as positions wrap on 32-bit targets.
#[inline]
fn distance(from: usize, to: usize) -> isize {
    (to & !1).wrapping_sub(from & !1) as isize
}

/// Whether a get below `head.seen` skips reading `tail` (64-bit targets:
/// see `try_pop`).
const TRUST_SEEN: bool = cfg!(target_pointer_width = "64");
/// The most a list keeps in retired blocks for reuse (at least two blocks).
const POOL_BYTES: usize = 64 << 10;

/// A block: the link and the puts' state bytes, the values, then the
/// gets' state bytes (see "Layout" above).
/// `repr(C)`: otherwise rustc sorts the fields by alignment and puts
/// `written` and `taken` side by side after the values (for `T = u64`,
/// offsets 256 and 287: one line written by both puts and gets).
#[repr(C)]
struct Block<T> {
    next: AtomicPtr<Block<T>>,
    written: [AtomicU8; BLOCK_CAP],
    values: [UnsafeCell<MaybeUninit<T>>; BLOCK_CAP],
    taken: [AtomicU8; BLOCK_CAP],
}

impl<T> Block<T> {
    fn boxed() -> *mut Block<T> {
        Box::into_raw(Box::new(Block {
            next: AtomicPtr::new(ptr::null_mut()),
            written: core::array::from_fn(|_| AtomicU8::new(0)),
            values: core::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
            taken: core::array::from_fn(|_| AtomicU8::new(0)),
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

    /// Wait for the put that claimed slot `i` to finish writing it.
    fn wait_write(&self, i: usize) {
        let mut spin = Spin::new(&spin::UNTIL_PROGRESS);
        while self.written[i].load(Acquire) != WRITTEN {
            spin.wait();
        }
    }
}

/// Retired blocks: a stack linked through their `next`.
struct Pool<T> {
    top: AtomicPtr<Block<T>>,
    /// Blocks in the stack, give or take the pushes and pops under way.
    len: AtomicUsize,
    /// Held by the one thread popping.
    popping: AtomicBool,
}

impl<T> Pool<T> {
    /// Blocks the pool keeps: [`POOL_BYTES`] of them, at least two.
    const CAP: usize = {
        let n = POOL_BYTES / core::mem::size_of::<Block<T>>();
        if n < 2 { 2 } else { n }
    };
}

/// A position and the block it is in.
struct End<T> {
    index: AtomicUsize,
    block: AtomicPtr<Block<T>>,
    /// For `head`: a position `tail` has reached (`tail` only grows), so a
    /// get below it need not read `tail`. Unused for `tail`.
    seen: AtomicUsize,
}

/// An unbounded multi-producer multi-consumer FIFO that can be closed.
pub(crate) struct List<T> {
    head: CachePadded<End<T>>,
    tail: CachePadded<End<T>>,
    /// Retired blocks kept for the puts that need one.
    pool: CachePadded<Pool<T>>,
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
                seen: AtomicUsize::new(0),
            }),
            tail: CachePadded::new(End {
                index: AtomicUsize::new(0),
                block: AtomicPtr::new(first),
                seen: AtomicUsize::new(0),
            }),
            pool: CachePadded::new(Pool {
                top: AtomicPtr::new(ptr::null_mut()),
                len: AtomicUsize::new(0),
                popping: AtomicBool::new(false),
            }),
            limit: AtomicUsize::new(0),
        }
    }

    /// A block for the next lap: one from the pool if there is one, else a
    /// new one.
    fn take_block(&self) -> *mut Block<T> {
        let pool = &*self.pool;
        if !pool.top.load(Relaxed).is_null() && !pool.popping.swap(true, Acquire) {
            let mut top = pool.top.load(Acquire);
            while !top.is_null() {
                // SAFETY: only the holder of `popping` removes blocks from
                // the pool, so `top` stays there (alive) until our CAS.
                let next = unsafe { (*top).next.load(Relaxed) };
                match pool.top.compare_exchange_weak(top, next, Acquire, Acquire) {
                    Ok(_) => {
                        pool.popping.store(false, Release);
                        pool.len.fetch_sub(1, Relaxed);
                        // SAFETY: ours now.
                        unsafe { (*top).next.store(ptr::null_mut(), Relaxed) };
                        return top;
                    }
                    Err(t) => top = t,
                }
            }
            pool.popping.store(false, Release);
        }
        Block::boxed()
    }

    /// A block taken by `take_block` and not used, or retired: into the
    /// pool, or freed if the pool is full.
    ///
    /// # Safety
    /// `b` is unreachable from the list and owned by the caller; its slots
    /// hold no values.
    unsafe fn give_block(&self, b: *mut Block<T>) {
        let pool = &*self.pool;
        if pool.len.load(Relaxed) >= Pool::<T>::CAP {
            // SAFETY: `b` came from `Box::into_raw` and is owned here.
            drop(unsafe { Box::from_raw(b) });
            return;
        }
        pool.len.fetch_add(1, Relaxed);
        let mut top = pool.top.load(Relaxed);
        loop {
            // SAFETY: `b` is ours until the CAS publishes it.
            unsafe { (*b).next.store(top, Relaxed) };
            match pool.top.compare_exchange_weak(top, b, Release, Relaxed) {
                Ok(_) => return,
                Err(t) => top = t,
            }
        }
    }

    /// A get holding slot `offset` of `block` (not yet read, so the block
    /// is alive) looks at the `written` bytes after it, in the line it has
    /// just read, and records in `head.seen` how far they show puts have
    /// claimed: the next gets up to there need not read `tail`, whose line
    /// then stays with the puts. `next` is the position after `offset`.
    ///
    /// # Safety
    /// The caller holds slot `offset` of `block`, unread.
    #[inline]
    unsafe fn note_written(&self, block: *const Block<T>, offset: usize, next: usize) {
        // Start where `head.seen` stops, if it is already past `next`: a
        // run of gets reads each byte about once, not once per get.
        let ahead = distance(next, self.head.seen.load(Relaxed));
        let start = offset + 1 + if ahead > 0 { ahead as usize / ONE } else { 0 };
        let mut j = start;
        // SAFETY: the caller's unread slot keeps the block alive.
        while j < BLOCK_CAP && unsafe { (*block).written[j].load(Acquire) } == WRITTEN {
            j += 1;
        }
        if j > start {
            // Slot `j - 1` is written, so a put claimed it: `tail` has
            // reached slot `j`'s position.
            self.head.seen.store(next + (j - offset - 1) * ONE, Release);
        }
    }

    /// Retire `block` from slot `start` on: mark the slots whose get is not
    /// done yet, and stop at the first (its get will carry on); if every get
    /// is done, this thread owns the block: reset it and keep or free it.
    ///
    /// # Safety
    /// `block` is unreachable from `head` and `tail`, and every slot from
    /// `start` on has been claimed by a get (the caller's own, or one that
    /// found `DESTROY`).
    unsafe fn retire(&self, block: *mut Block<T>, start: usize) {
        // The last slot's get starts the retirement, so it is done already.
        for i in start..BLOCK_CAP - 1 {
            // SAFETY: the block is alive until the thread that owns it
            // (the last to finish) retires it, which is not yet decided.
            let state = unsafe { &(*block).taken[i] };
            if state.load(Acquire) & READ == 0 && state.fetch_or(DESTROY, AcqRel) & READ == 0 {
                // That get will carry on when it sets READ.
                return;
            }
        }
        // Every get in the block is done and nobody else can reach it.
        // SAFETY: exclusive from here; reset to a fresh block's state (no
        // values: every one was moved out).
        unsafe {
            for s in &(*block).written {
                s.store(0, Relaxed);
            }
            for s in &(*block).taken {
                s.store(0, Relaxed);
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
                    // reads it before `written`, and our unread slot keeps
                    // the block alive.
                    unsafe {
                        (*block).values[offset].with_mut(|p| (*p).write(value));
                        (*block).written[offset].store(WRITTEN, Release);
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
                // A put has claimed this position if `tail` was past it
                // when some get last read it: then `tail` need not be read
                // (its line stays with the puts). Not trusted on 32-bit
                // targets: there a get preempted between its read of
                // `tail` and its store could, 2^30 items later, store a
                // value that looks ahead again once positions wrap.
                let mut tail = self.head.seen.load(Acquire);
                if !TRUST_SEEN || distance(head, tail) <= 0 {
                    fence(SeqCst);
                    tail = self.tail.index.load(Relaxed);
                    self.head.seen.store(tail, Release);
                }
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
                            if !(*next).next.load(Acquire).is_null() {
                                next_index |= HAS_NEXT;
                                // Every slot of `next` is claimed: record
                                // it for `puts_at_least`, if it is news.
                                // (Without `HAS_NEXT`: bit 0 of `seen`
                                // is `tail`'s `CLOSED`.)
                                let end = (next_index & !HAS_NEXT) + BLOCK_CAP * ONE;
                                let seen = self.head.seen.load(Relaxed);
                                if distance(seen, end) > 0 {
                                    self.head.seen.store(end, Release);
                                }
                            }
                            self.head.block.store(next, Release);
                            self.head.index.store(next_index, Release);
                        }
                        (*block).wait_write(offset);
                        if new_head & HAS_NEXT == 0 {
                            self.note_written(block, offset, new_head);
                        }
                        let value = (*block).values[offset].with(|p| (*p).assume_init_read());
                        if offset + 1 == BLOCK_CAP {
                            self.retire(block, 0);
                        } else if (*block).taken[offset].fetch_or(READ, AcqRel) & DESTROY != 0 {
                            self.retire(block, offset + 1);
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
    fn puts_at_least(&self) -> usize {
        if self.counts_puts() {
            // `head.seen` is a value `tail` had: the puts it counted.
            let pos = self.head.seen.load(Acquire) >> SHIFT;
            pos - pos / LAP
        } else {
            0
        }
    }

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
        // block is the list's own, the pooled ones are unreachable from it).
        unsafe {
            while head != tail {
                let offset = (head >> SHIFT) % LAP;
                if offset < BLOCK_CAP {
                    (*block).values[offset].with_mut(|p| (*p).assume_init_drop());
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
            let mut b = self.pool.top.load(Relaxed);
            while !b.is_null() {
                let next = (*b).next.load(Relaxed);
                drop(Box::from_raw(b));
                b = next;
            }
        }
    }
}
