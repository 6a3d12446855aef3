//! `ThreadPoolExecutor::map_collect`: an eager, ordered map on the pool
//! whose results are written in place into the output `Vec` (rayon's
//! `par_iter().map(f).collect()`), with no per-item hand-off.
//!
//! # How
//!
//! The output `Vec` gets its full capacity up front, and the input is cut
//! into `m` chunks of `k` items (at most [`MAX_CHUNK`]); chunk `c` owns the
//! output's spare capacity `[c·k, c·k + len)`. The caller pulls each
//! chunk's inputs into a small `Vec` (its slot) and submits one pool job
//! per chunk as it goes, so the workers start while the input is still
//! being read. It stays at most [`AHEAD_PER_THREAD`] chunks per thread
//! ahead of the chunks started (running the oldest unstarted one itself
//! when it would go further) and frees the input buffers of finished
//! chunks as it goes, so the inputs held at once are a few small buffers
//! that malloc reuses, never a copy of the whole input in fresh pages. A chunk runs once,
//! by whoever wins its `claimed` flag: the job submitted for it, or the
//! caller, who, once every chunk is submitted, claims what is left from the
//! last chunk backwards and runs it. It then waits (the scope's [`Latch`])
//! only for chunks that other threads claimed and are running, so a call
//! from inside one of the pool's own jobs cannot wait for jobs that never
//! start.
//!
//! # Why it is sound
//!
//! The pool's jobs must be `'static`, but the chunks borrow `f`, the slots
//! and the output from the caller's frame. A job holds only an
//! `Arc<Shared>` (the flags, the latch and an erased pointer to the frame's
//! [`Ctx`]) and dereferences the pointer only after winning a claim. The
//! caller claims every chunk nobody has claimed and waits until every
//! claimed chunk is counted out of the latch before its frame can go (also
//! on unwind: the [`Finish`] guard). A job that runs later loses its claim
//! and touches nothing but `Shared`. Chunks own disjoint slots and output
//! ranges, so no two threads write the same memory.
//!
//! # Failure
//!
//! A panic in `f` ends its chunk (its inputs and the outputs it wrote are
//! dropped during the unwind) and sets `failed`: chunks that start later
//! run nothing, and once all are finished the caller drops the outputs of
//! the chunks that completed and returns the panic as
//! [`Error::Panicked`]. A refused submit (shutdown, broken pool) fails the
//! same way with the pool's error.

use core::mem::MaybeUninit;
use std::sync::Arc;

use super::future::panic_message;
use super::scope::Latch;
use super::task::run_quietly;
use super::{Error, ThreadPoolExecutor};
use crate::sys::atomic::{AtomicBool, Ordering::*, UnsafeCell};
use crate::threading::Lock;

/// Chunks per thread that may run them (the pool's workers and the
/// caller): enough that a thread that is descheduled holding a chunk, or a
/// slow item, delays the end by a small share of the work.
const CHUNKS_PER_THREAD: usize = 8;

/// Most items in a chunk: its input buffer stays small (32 KiB of `u64`s),
/// so buffers freed by the caller as chunks finish are reused by malloc for
/// the next ones instead of the input being materialised whole in fresh
/// pages (a page fault per 4 KiB, taken serially by the caller: 5.3 ns per
/// item on a 4M-item map in a fresh process, against 0.7 with warm pages).
const MAX_CHUNK: usize = 4096;

/// Chunks per thread that may be pulled and not yet started: past that
/// the caller runs the oldest unstarted chunk itself before pulling more,
/// so the inputs in memory stay a few chunks per thread, not the input.
const AHEAD_PER_THREAD: usize = 2;

/// One chunk's input and what its run left in the output.
struct Slot<A> {
    /// Written by the caller before the chunk's job is submitted (or before
    /// the caller claims it); taken by the chunk's run.
    input: UnsafeCell<Vec<A>>,
    /// Outputs the chunk wrote and kept (its input's length on success, 0
    /// if it was skipped or panicked); read by the caller after the latch.
    written: UnsafeCell<usize>,
}

/// The call's state in the caller's frame; reached by other threads only
/// through `Shared::ctx`, after a claim.
struct Ctx<'f, A, T, F> {
    f: &'f F,
    /// Items per chunk (the last may have fewer).
    k: usize,
    /// The output's buffer (capacity ≥ `m · k` items, or `n`).
    out: *mut MaybeUninit<T>,
    slots: Box<[Slot<A>]>,
    /// Set by the first failure: chunks that start later run nothing.
    failed: AtomicBool,
    error: Lock<Option<Error>>,
}

/// What the pool's jobs hold: `'static`, nothing borrowed.
struct Shared {
    /// One per chunk: the one thread that swaps it to `true` runs it.
    claimed: Box<[AtomicBool]>,
    /// One per chunk: set (`Release`) when its run is over, after its last
    /// touch of the slot; the caller then frees the slot's input buffer.
    done: Box<[AtomicBool]>,
    /// Chunks not yet finished.
    latch: Latch,
    /// The caller's `Ctx`, dereferenced only by `run` after a claim.
    ctx: *const (),
    /// `run_chunk` for the `Ctx`'s types.
    run: unsafe fn(*const (), usize),
}

// SAFETY: `ctx` is dereferenced only after winning a chunk's claim, while
// the caller is blocked in `Finish` waiting for that chunk (see the module
// documentation). What it reaches is safe to share: `map_collect` requires
// `F: Sync` (only `&F` is shared), `A: Send` (a slot's inputs move to the
// claiming thread) and `T: Send` (outputs are made there and read by the
// caller); each slot and output range is touched by its claimant only.
unsafe impl Send for Shared {}
// SAFETY: as for `Send`: every field is an atomic, the latch, or the
// erased pointer whose uses are gated by the claims.
unsafe impl Sync for Shared {}

/// The pool job of one chunk: run it unless it is claimed already.
pub(super) struct Job {
    shared: Arc<Shared>,
    chunk: usize,
}

impl Job {
    /// Run the chunk unless another thread claimed it.
    pub(super) fn run(self) {
        self.shared.claim_and_run(self.chunk);
    }
}

impl Shared {
    /// Run chunk `c` unless another thread already claimed it.
    fn claim_and_run(&self, c: usize) {
        if !self.claimed[c].swap(true, AcqRel) {
            // SAFETY: the claim is won, so the caller's `Ctx` is alive
            // (the caller waits for this chunk's `done` before leaving its
            // frame) and slot `c` and its output range are ours alone.
            unsafe { (self.run)(self.ctx, c) };
            self.done[c].store(true, Release);
            self.latch.done();
        }
    }
}

/// # Safety
///
/// `ctx` points to a live `Ctx<A, T, F>` and the caller won chunk `c`'s
/// claim.
unsafe fn run_chunk<A, T, F: Fn(A) -> T>(ctx: *const (), c: usize) {
    // SAFETY: see the function's contract.
    let ctx = unsafe { &*(ctx as *const Ctx<'_, A, T, F>) };
    let slot = &ctx.slots[c];
    // SAFETY: the claim makes this thread the slot's only user; the caller
    // wrote it before submitting this chunk's job (the queue's push and pop
    // order the write before this read) or is this thread.
    let input = slot.input.with_mut(|p| unsafe { &mut *p });
    // The inputs are moved out of the slot's `Vec` in place (`drain`), and
    // the emptied `Vec` stays in the slot for the caller to free: a buffer
    // the caller allocated and a worker freed would go back to the caller's
    // malloc arena under its lock while the caller allocates the next
    // chunk from it — after a million small frees (the benchmark's previous
    // row) that contention and glibc's consolidation made this map ~100×
    // slower (design-notes, "executor_map, round 4").
    if ctx.failed.load(Relaxed) || input.is_empty() {
        input.clear();
        return;
    }
    // SAFETY: chunk `c`'s range `[c·k, c·k + len)` lies inside the output's
    // capacity (len ≤ k, and the last chunk holds the rest of the `n`
    // items), and no other chunk's range overlaps it.
    let out = unsafe { core::slice::from_raw_parts_mut(ctx.out.add(c * ctx.k), input.len()) };
    let len = input.len();
    match run_quietly(|| write_chunk(ctx.f, input.drain(..), out)) {
        // SAFETY: the slot is ours (the claim); the caller reads it after
        // the latch, which orders this write before its read.
        Ok(()) => slot.written.with_mut(|p| unsafe { *p = len }),
        Err(p) => fail(ctx, Error::Panicked(panic_message(&*p))),
    }
}

/// Record the first failure; later chunks run nothing.
fn fail<A, T, F>(ctx: &Ctx<'_, A, T, F>, e: Error) {
    ctx.error.acquire().get_or_insert(e);
    ctx.failed.store(true, Relaxed);
}

/// `out[i] = f(input[i])`; on a panic, the outputs written so far are
/// dropped (and the inputs not yet used, with the iterator).
#[inline]
fn write_chunk<A, T, F: Fn(A) -> T>(
    f: &F,
    input: impl Iterator<Item = A>,
    out: &mut [MaybeUninit<T>],
) {
    /// Drops `out[..n]` if `f` unwinds.
    struct Written<'a, T> {
        out: &'a mut [MaybeUninit<T>],
        n: usize,
    }
    impl<T> Drop for Written<'_, T> {
        fn drop(&mut self) {
            for o in &mut self.out[..self.n] {
                // SAFETY: the first `n` outputs were written.
                unsafe { o.assume_init_drop() };
            }
        }
    }
    let mut w = Written { out, n: 0 };
    for (i, a) in input.enumerate() {
        w.out[i].write(f(a));
        w.n = i + 1;
    }
    core::mem::forget(w);
}

/// Finishes the call when dropped (also on unwind): claims and runs (or,
/// once failed, skips) every chunk nobody claimed, waits for the others,
/// and on failure drops what the finished chunks wrote.
struct Finish<'c, 'f, A, T, F> {
    shared: &'c Shared,
    ctx: &'c Ctx<'f, A, T, F>,
    finished: bool,
}

impl<A, T, F> Finish<'_, '_, A, T, F> {
    /// Run what is left and wait; `Err` with the first failure.
    fn finish(&mut self) -> Result<(), Error> {
        if !self.finished {
            self.finished = true;
            for c in (0..self.shared.claimed.len()).rev() {
                self.shared.claim_and_run(c);
            }
            self.shared.latch.wait();
        }
        match self.ctx.error.acquire().clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl<A, T, F> Drop for Finish<'_, '_, A, T, F> {
    fn drop(&mut self) {
        if !self.finished && std::thread::panicking() {
            // The caller's input panicked: run nothing more.
            self.ctx.failed.store(true, Relaxed);
        }
        let _ = self.finish();
        if !self.ctx.failed.load(Relaxed) {
            return;
        }
        for (c, slot) in self.ctx.slots.iter().enumerate() {
            // SAFETY: every chunk has finished (the latch): the slots are
            // the caller's again.
            let n = slot
                .written
                .with_mut(|p| core::mem::replace(unsafe { &mut *p }, 0));
            for i in 0..n {
                // SAFETY: chunk `c` wrote and kept its first `n` outputs;
                // the output `Vec`'s length is still 0, so they are dropped
                // here only.
                unsafe { (*self.ctx.out.add(c * self.ctx.k + i)).assume_init_drop() };
            }
        }
    }
}

/// [`ThreadPoolExecutor::map_collect`].
pub(super) fn map_collect<A, T, F, I>(
    pool: &ThreadPoolExecutor,
    f: &F,
    items: I,
) -> Result<Vec<T>, Error>
where
    F: Fn(A) -> T + Sync,
    A: Send,
    T: Send,
    I: IntoIterator<Item = A>,
{
    let threads = pool.max_workers() + 1;
    let mut submit = |job: Job| pool.submit(move || job.run()).map(drop);
    let mut input = items.into_iter();
    match input.size_hint() {
        (lo, Some(hi)) if lo == hi => collect_exact(&mut submit, threads, f, &mut input, lo),
        _ => {
            let v: Vec<A> = input.collect();
            let n = v.len();
            collect_exact(&mut submit, threads, f, &mut v.into_iter(), n)
        }
    }
}

/// The map of an input that says it has `n` items (if it has fewer, the
/// output is shorter; if more, the rest is mapped by a second call).
/// `submit` hands a chunk's job to the `threads - 1` workers.
pub(super) fn collect_exact<A, T, F, I, S>(
    submit: &mut S,
    threads: usize,
    f: &F,
    input: &mut I,
    n: usize,
) -> Result<Vec<T>, Error>
where
    F: Fn(A) -> T + Sync,
    A: Send,
    T: Send,
    I: Iterator<Item = A>,
    S: FnMut(Job) -> Result<(), Error>,
{
    let mut out: Vec<T> = Vec::with_capacity(n);
    let mut len = 0;
    if n > 0 {
        let k = n
            .div_ceil(n.min(CHUNKS_PER_THREAD * threads))
            .min(MAX_CHUNK);
        let m = n.div_ceil(k);
        let ctx = Ctx {
            f,
            k,
            out: out.spare_capacity_mut().as_mut_ptr(),
            slots: (0..m)
                .map(|_| Slot {
                    input: UnsafeCell::new(Vec::new()),
                    written: UnsafeCell::new(0),
                })
                .collect(),
            failed: AtomicBool::new(false),
            error: Lock::new(None),
        };
        let shared = Arc::new(Shared {
            claimed: (0..m).map(|_| AtomicBool::new(false)).collect(),
            done: (0..m).map(|_| AtomicBool::new(false)).collect(),
            latch: Latch::new(m),
            ctx: &ctx as *const Ctx<'_, A, T, F> as *const (),
            run: run_chunk::<A, T, F>,
        });
        let mut finish = Finish {
            shared: &shared,
            ctx: &ctx,
            finished: false,
        };
        // Chunks before `started` are claimed (by a job or by us); those
        // before `freed` have had their emptied input buffers freed here.
        let (mut started, mut freed) = (0, 0);
        let ahead = AHEAD_PER_THREAD * threads;
        for c in 0..m {
            if ctx.failed.load(Relaxed) {
                // A chunk failed: the rest would run nothing, so read no
                // more input (the chunks not pulled stay empty).
                break;
            }
            while c - started >= ahead {
                // Too many pulled and unstarted: run the oldest (a no-op if
                // a job has claimed it meanwhile).
                shared.claim_and_run(started);
                started += 1;
            }
            while freed < started && shared.done[freed].load(Acquire) {
                // SAFETY: chunk `freed` is over (`done`, read with `Acquire`
                // after its runner's `Release`): nobody touches its slot
                // again, so the caller may free its buffer. Freed by the
                // thread that allocated it, never by a worker.
                ctx.slots[freed]
                    .input
                    .with_mut(|p| drop(core::mem::take(unsafe { &mut *p })));
                freed += 1;
            }
            let want = k.min(n - c * k);
            let chunk: Vec<A> = input.by_ref().take(want).collect();
            let short = chunk.len() < want;
            // SAFETY: chunk `c` is not submitted yet and the caller claims
            // only after this loop, so no other thread reaches slot `c`.
            ctx.slots[c].input.with_mut(|p| unsafe { *p = chunk });
            let job = Job {
                shared: shared.clone(),
                chunk: c,
            };
            if let Err(e) = submit(job) {
                fail(&ctx, e);
                break;
            }
            if short {
                // The input had fewer items than it said: the chunks after
                // this one stay empty, so the output is still contiguous.
                break;
            }
        }
        finish.finish()?;
        // SAFETY: every chunk finished (`finish` waited) and none failed.
        len = ctx
            .slots
            .iter()
            .map(|s| s.written.with(|p| unsafe { *p }))
            .sum();
    }
    // SAFETY: no chunk failed, so chunks `0..m` wrote all their inputs, and
    // only a short last non-empty chunk (the input ran out) wrote fewer
    // than `k`: the first `len` outputs are initialised, contiguously.
    unsafe { out.set_len(len) };
    if len == n
        && let Some(a) = input.next()
    {
        // The input had more items than it said: map the rest too.
        let rest: Vec<A> = core::iter::once(a).chain(input).collect();
        let m = rest.len();
        out.extend(collect_exact(submit, threads, f, &mut rest.into_iter(), m)?);
    }
    Ok(out)
}
