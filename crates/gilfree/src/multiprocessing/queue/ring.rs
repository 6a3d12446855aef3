//! The ring of variable-length records behind the cross-process queues:
//! claim a place, write the message in place, commit it with one store; take
//! it, read it in place, free it with one store. Many producers and many
//! consumers, in any processes that map the block; a process that dies at
//! any point loses at most its own message and hangs nobody.
//!
//! # Layout
//!
//! A [`Header`] (cursors, two `RawRobustLock`s, counters, three
//! process-shared event counts, each group on its own cache line) and then
//! `cap` bytes of records (`cap` a power of two). Positions are byte counts
//! that only grow (`u64`, never wrap); a record lives at `pos % cap`, is
//! 16-aligned, and never runs past the end of the ring: where it would, the
//! producer first fills the rest with a *skip* record.
//!
//! A record is a 16-byte header of four words, then the payload:
//! - `state`: the kind (bits 29–31) and, while claimed or taken, the owner's
//!   thread id (bits 0–28): `FREE`, `CLAIMED | writer`, `READY`,
//!   `TAKEN | reader`, `SKIP`;
//! - `len`: payload bytes;
//! - `meta`: `FIRST` (bit 0), `LAST` (bit 1) and the writer's thread id
//!   (bits 2–31). A message is one record (`FIRST | LAST`) or, when larger
//!   than half the ring, a run of chunks written under the producers' lock
//!   (so nothing interleaves with them);
//! - `check`: `len ^ meta ^ SALT`, so a corrupted header is refused.
//!
//! The cursors: `reclaim <= head <= tail`. `[head, tail)` are the records
//! not yet taken; `[reclaim, head)` the taken ones, `TAKEN` while a reader
//! copies out, `FREE` once done; producers may overwrite only before
//! `reclaim`. `tail`, `reclaim` and `puts` change only under the producers'
//! lock, `head` and `gets` only under the consumers' lock. `puts - gets` is
//! the number of messages (Python's `qsize`).
//!
//! # The protocol
//!
//! *Put*: under the producers' lock, advance `reclaim` over `FREE` records,
//! check room (bytes, and `maxsize` messages), write the record header with
//! `CLAIMED | me`, then publish it by storing `tail` (`Release`). Unlock;
//! encode the message into the payload; store `READY` (`Release`); notify
//! `not_empty`. *Get*: under the consumers' lock, read `tail` (`Acquire`),
//! and the state at `head` (`Acquire`); if `READY`, mark it `TAKEN | me` and
//! advance `head` (`Release`). Unlock; decode in place; store `FREE`
//! (`Release`, so a producer's `Acquire` read of it orders the decode before
//! its overwrite); notify `not_full`.
//!
//! # Why no wake-up is lost
//!
//! Every wait is `sys::event_count`'s protocol through the queue core's
//! `wait_until` (announce, fence, re-try the whole attempt); every change a
//! waiter may wait for (a commit, a free, the last task done, shutdown) is
//! made first and then notified.
//!
//! # A process that dies
//!
//! Both locks take over from a dead holder (`RawRobustLock`), and each
//! locked step leaves the ring consistent at every store: the record header
//! is written before the cursor that publishes it, and a taken record is
//! marked before `head` moves past it. So:
//! - a producer dead between claim and commit leaves `CLAIMED | writer` at
//!   some position; the consumer that finds it at `head` while waiting checks
//!   the writer's liveness (at most every 64 ms, as `RawRobustLock` does)
//!   and skips it: that message is lost, nothing else;
//! - a consumer dead between take and free leaves `TAKEN | reader`; a
//!   producer short of room checks the reader and frees the record: that
//!   message is lost (it was never returned);
//! - a consumer dead inside the consumers' lock after marking `TAKEN` but
//!   before moving `head` leaves `TAKEN` at `head`: the next consumer (who
//!   took the lock over) delivers it again, since no one read it;
//! - a chunked message whose writer died or gave up (its deadline, or
//!   shutdown) is dropped by the consumer assembling it, which sees the next
//!   message begin, or the producers' lock no longer held by the writer;
//!   continuation chunks whose reader died are skipped.

use crossbeam_utils::CachePadded;

use crate::queue::core::wait_until;
use crate::raw::RawRobustLock;
use crate::raw::robust_lock::my_tid;
use crate::sys::atomic::{AtomicU32, AtomicU64, Ordering::*};
use crate::sys::{Deadline, EventCount, Shared};

/// The header's first word, and the layout's version.
pub(crate) const MAGIC: u64 = 0x6769_6c66_7265_0001;
/// Bytes in a record header; records are aligned to it.
pub(crate) const REC: u64 = 16;
/// Smallest ring (bytes).
pub(crate) const MIN_CAP: u64 = 256;
const SALT: u32 = 0x9e37_79b9;

const KIND_SHIFT: u32 = 29;
const OWNER: u32 = (1 << KIND_SHIFT) - 1;
/// Consumed: its place may be reused (only before `head`).
const FREE: u32 = 0;
/// Being written by the owner; not visible yet.
const CLAIMED: u32 = 1;
/// Committed: complete, waiting for a consumer.
const READY: u32 = 2;
/// Being read by the owner.
const TAKEN: u32 = 3;
/// Padding to the ring's end, or a dead writer's record: consumers pass it.
const SKIP: u32 = 4;

/// The first (or only) record of a message.
pub(crate) const FIRST: u32 = 1;
/// The last (or only) record of a message.
pub(crate) const LAST: u32 = 2;
const META_FLAGS: u32 = 3;

/// How often a waiter looks at a stuck record's owner (doubling from 1 ms).
#[cfg(not(loom))]
const FIRST_CHECK: std::time::Duration = std::time::Duration::from_millis(1);
#[cfg(not(loom))]
const CHECK: std::time::Duration = std::time::Duration::from_millis(64);
/// A non-blocking call still waits this long for a lock held for a few
/// instructions by another process.
#[cfg(not(loom))]
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_millis(2);

/// The producers' cache line.
#[repr(C)]
struct Producers {
    lock: RawRobustLock,
    tail: AtomicU64,
    reclaim: AtomicU64,
    /// Messages begun (first records claimed).
    puts: AtomicU64,
}

/// The consumers' cache line.
#[repr(C)]
struct Consumers {
    lock: RawRobustLock,
    head: AtomicU64,
    /// Messages taken (or dropped as lost).
    gets: AtomicU64,
    /// 1 while the lock's holder assembles a chunked message: if it dies,
    /// whoever takes the lock over counts that message lost.
    assembling: AtomicU32,
}

/// The ring's shared words; all-zero memory is a valid (uninitialised)
/// header, which [`Header::init`] fills in.
#[repr(C)]
pub(crate) struct Header {
    magic: AtomicU64,
    cap: AtomicU64,
    maxsize: AtomicU64,
    /// 1 if `unfinished` is kept (a `JoinableQueue`).
    joinable: AtomicU32,
    producers: CachePadded<Producers>,
    consumers: CachePadded<Consumers>,
    unfinished: CachePadded<AtomicU64>,
    /// 0 open, 1 shut down (Python 3.13's `shutdown`).
    shutdown: CachePadded<AtomicU32>,
    not_empty: CachePadded<EventCount<Shared>>,
    not_full: CachePadded<EventCount<Shared>>,
    all_done: CachePadded<EventCount<Shared>>,
}

impl Header {
    /// A zeroed header in private memory (loom models, unit tests).
    #[cfg(all(test, loom))]
    pub(crate) fn new() -> Self {
        Header {
            magic: AtomicU64::new(0),
            cap: AtomicU64::new(0),
            maxsize: AtomicU64::new(0),
            joinable: AtomicU32::new(0),
            producers: CachePadded::new(Producers {
                lock: RawRobustLock::new(),
                tail: AtomicU64::new(0),
                reclaim: AtomicU64::new(0),
                puts: AtomicU64::new(0),
            }),
            consumers: CachePadded::new(Consumers {
                lock: RawRobustLock::new(),
                head: AtomicU64::new(0),
                gets: AtomicU64::new(0),
                assembling: AtomicU32::new(0),
            }),
            unfinished: CachePadded::new(AtomicU64::new(0)),
            shutdown: CachePadded::new(AtomicU32::new(0)),
            not_empty: CachePadded::new(EventCount::new()),
            not_full: CachePadded::new(EventCount::new()),
            all_done: CachePadded::new(EventCount::new()),
        }
    }

    /// Fill in a fresh header (before anyone else sees it).
    pub(crate) fn init(&self, cap: u64, maxsize: u64, joinable: bool) {
        self.cap.store(cap, Relaxed);
        self.maxsize.store(maxsize, Relaxed);
        self.joinable.store(joinable as u32, Relaxed);
        self.magic.store(MAGIC, Release);
    }
}

/// A record header that does not make sense where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Corrupt(pub(crate) String);

/// A record header, decoded and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rec {
    pub(crate) kind: u32,
    pub(crate) owner: u32,
    pub(crate) len: u32,
    pub(crate) flags: u32,
    pub(crate) writer: u32,
    /// Header plus payload, rounded up to `REC`.
    pub(crate) size: u64,
}

/// Bytes a record of `len` payload bytes takes.
#[inline]
pub(crate) fn rec_size(len: u64) -> u64 {
    REC + len.div_ceil(REC) * REC
}

/// The record decoder: check the four header words of the record at `pos`
/// in a ring of `cap` bytes whose known records end at `end`. Any bit
/// pattern gives a record that lies inside the ring and before `end`, or an
/// error; never a panic.
pub(crate) fn decode(w: [u32; 4], pos: u64, end: u64, cap: u64) -> Result<Rec, Corrupt> {
    let [state, len, meta, check] = w;
    let kind = state >> KIND_SHIFT;
    if kind > SKIP {
        return Err(Corrupt(format!("record at {pos}: state {state:#x}")));
    }
    if check != len ^ meta ^ SALT {
        return Err(Corrupt(format!("record at {pos}: bad header check")));
    }
    let size = rec_size(u64::from(len));
    let off = pos % cap;
    if !off.is_multiple_of(REC)
        || size > cap - off
        || end.checked_sub(pos).is_none_or(|room| size > room)
    {
        return Err(Corrupt(format!(
            "record at {pos}: {len} bytes do not fit (ring {cap}, end {end})"
        )));
    }
    Ok(Rec {
        kind,
        owner: state & OWNER,
        len,
        flags: meta & META_FLAGS,
        writer: meta >> 2,
        size,
    })
}

/// Why a put did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PutFail {
    Full,
    ShutDown,
    Corrupt(Corrupt),
}

/// Why a get did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GetFail {
    Empty,
    ShutDown,
    Corrupt(Corrupt),
}

/// What a consumer found at `head`.
pub(crate) enum Took {
    /// A one-record message, marked taken: read it, then free it.
    One(u64, u32),
    /// A chunked message, assembled.
    Big(Vec<u8>),
}

/// What a chunk-assembling consumer found next.
enum Next {
    Rec(u64, Rec),
    Abandoned,
}

/// A view of a ring: its header and its record words.
pub(crate) struct Ring<'a> {
    h: &'a Header,
    words: &'a [AtomicU32],
    cap: u64,
}

impl<'a> Ring<'a> {
    /// The ring over `h` and `words` (`cap` bytes), if the header says so.
    pub(crate) fn new(h: &'a Header, words: &'a [AtomicU32]) -> Result<Self, Corrupt> {
        let cap = h.cap.load(Relaxed);
        if h.magic.load(Acquire) != MAGIC {
            return Err(Corrupt("not a gilfree queue (bad magic)".into()));
        }
        if !cap.is_power_of_two() || cap < MIN_CAP || cap != words.len() as u64 * 4 {
            return Err(Corrupt(format!(
                "ring of {cap} bytes in {} bytes",
                words.len() * 4
            )));
        }
        Ok(Ring { h, words, cap })
    }

    /// The ring over `h` and `words`, whose header [`new`](Self::new) has
    /// checked once: the size comes from the caller, not from the shared
    /// header, so a header changed since cannot make an access go astray.
    pub(crate) fn checked(h: &'a Header, words: &'a [AtomicU32]) -> Self {
        let cap = words.len() as u64 * 4;
        debug_assert!(cap.is_power_of_two() && cap >= MIN_CAP);
        Ring { h, words, cap }
    }

    /// Byte capacity.
    pub(crate) fn cap(&self) -> u64 {
        self.cap
    }

    /// The largest payload sent as one record (larger ones are chunked).
    pub(crate) fn max_record(&self) -> u64 {
        self.cap / 2 - REC
    }

    /// Payload bytes per chunk of a chunked message.
    fn chunk(&self) -> u64 {
        self.cap / 4 - REC
    }

    pub(crate) fn maxsize(&self) -> u64 {
        self.h.maxsize.load(Relaxed)
    }

    pub(crate) fn joinable(&self) -> bool {
        self.h.joinable.load(Relaxed) != 0
    }

    /// Messages in the ring (Python's approximate `qsize`).
    pub(crate) fn len(&self) -> u64 {
        let gets = self.h.consumers.gets.load(Relaxed);
        self.h.producers.puts.load(Relaxed).saturating_sub(gets)
    }

    pub(crate) fn is_full(&self) -> bool {
        let m = self.maxsize();
        m > 0 && self.len() >= m
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.h.shutdown.load(Acquire) != 0
    }

    pub(crate) fn unfinished(&self) -> u64 {
        self.h.unfinished.load(Acquire)
    }

    fn state(&self, pos: u64) -> &AtomicU32 {
        &self.words[((pos % self.cap) / 4) as usize]
    }

    /// Read and check the record at `pos` (state with `Acquire`).
    fn read(&self, pos: u64, end: u64) -> Result<Rec, Corrupt> {
        let i = ((pos % self.cap) / 4) as usize;
        let w = [
            self.words[i].load(Acquire),
            self.words[i + 1].load(Relaxed),
            self.words[i + 2].load(Relaxed),
            self.words[i + 3].load(Relaxed),
        ];
        decode(w, pos, end, self.cap)
    }

    fn write_header(&self, pos: u64, state: u32, len: u32, meta: u32) {
        let i = ((pos % self.cap) / 4) as usize;
        self.words[i + 1].store(len, Relaxed);
        self.words[i + 2].store(meta, Relaxed);
        self.words[i + 3].store(len ^ meta ^ SALT, Relaxed);
        self.words[i].store(state, Relaxed);
    }

    /// The payload of the record at `pos`, to write.
    ///
    /// # Safety
    /// The caller owns the record (claimed it): no one else touches its
    /// payload until it is committed.
    #[cfg(not(loom))]
    unsafe fn with_payload_mut<R>(&self, pos: u64, len: u32, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let off = (pos % self.cap + REC) as usize;
        // SAFETY: `decode`/claim keep `off + len` inside the ring's words;
        // the words are atomics (interior mutability), so writing through a
        // pointer derived from the slice is allowed, and the caller
        // guarantees no other access to these bytes meanwhile.
        let s = unsafe {
            std::slice::from_raw_parts_mut(
                self.words.as_ptr().cast::<u8>().cast_mut().add(off),
                len as usize,
            )
        };
        f(s)
    }

    /// The payload of the record at `pos`, to read.
    ///
    /// # Safety
    /// The caller owns the record (took it): no one writes its payload
    /// until it is freed.
    #[cfg(not(loom))]
    unsafe fn with_payload<R>(&self, pos: u64, len: u32, f: impl FnOnce(&[u8]) -> R) -> R {
        let off = (pos % self.cap + REC) as usize;
        // SAFETY: as for `with_payload_mut`; the caller guarantees no
        // writer meanwhile.
        let s = unsafe {
            std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>().add(off), len as usize)
        };
        f(s)
    }

    /// Under loom the payload goes word by word through the model's atomics.
    #[cfg(loom)]
    unsafe fn with_payload_mut<R>(&self, pos: u64, len: u32, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let first = ((pos % self.cap + REC) / 4) as usize;
        let mut buf = vec![0u8; (len as usize).div_ceil(4) * 4];
        let r = f(&mut buf[..len as usize]);
        for (k, w) in buf.chunks(4).enumerate() {
            self.words[first + k].store(u32::from_le_bytes(w.try_into().unwrap()), Relaxed);
        }
        r
    }

    #[cfg(loom)]
    unsafe fn with_payload<R>(&self, pos: u64, len: u32, f: impl FnOnce(&[u8]) -> R) -> R {
        let first = ((pos % self.cap + REC) / 4) as usize;
        let n = (len as usize).div_ceil(4);
        let buf: Vec<u8> = (0..n)
            .flat_map(|k| self.words[first + k].load(Relaxed).to_le_bytes())
            .collect();
        f(&buf[..len as usize])
    }

    /// Run `attempt` until it gives `Some`, waiting on `ec`; `None` at the
    /// deadline. `attempt(check)`: whether to check stuck records' owners
    /// for liveness (false for the first millisecond, then at every wake,
    /// which comes at least every 64 ms).
    fn wait<R>(
        &self,
        ec: &EventCount<Shared>,
        deadline: Deadline,
        mut attempt: impl FnMut(bool) -> Option<R>,
    ) -> Option<R> {
        #[cfg(loom)]
        {
            // No clock: owners are checked at every attempt.
            wait_until(ec, deadline, || attempt(true))
        }
        #[cfg(not(loom))]
        {
            // The first look costs no clock read.
            if let Some(r) = attempt(false) {
                return Some(r);
            }
            let mut interval = FIRST_CHECK;
            let mut check = false;
            loop {
                let wake = Deadline::after(interval);
                let until = match deadline.instant() {
                    Some(d) if wake.instant().is_some_and(|w| d < w) => deadline,
                    _ => wake,
                };
                if let Some(r) = wait_until(ec, until, || attempt(check)) {
                    return Some(r);
                }
                if deadline.expired() {
                    return None;
                }
                check = true;
                interval = (interval * 2).min(CHECK);
            }
        }
    }

    /// Take a lock, waiting at least a moment even for a non-blocking call
    /// (its holder is usually a few instructions from releasing it).
    #[inline]
    fn lock(lock: &RawRobustLock, deadline: Deadline) -> bool {
        lock.try_lock_free() || Self::lock_slow(lock, deadline)
    }

    #[cold]
    fn lock_slow(lock: &RawRobustLock, deadline: Deadline) -> bool {
        #[cfg(not(loom))]
        let deadline = match deadline.remaining() {
            Some(left) if left < LOCK_GRACE => Deadline::after(LOCK_GRACE),
            _ => deadline,
        };
        lock.lock(deadline)
    }

    // ----- producers -----

    /// Put one record of `len` payload bytes (`len <= max_record`): claim,
    /// `write` the payload in place, `before_commit` (the fault tests'
    /// hook), commit.
    pub(crate) fn put(
        &self,
        len: u32,
        deadline: Deadline,
        write: impl FnOnce(&mut [u8]),
        before_commit: impl FnOnce(),
    ) -> Result<(), PutFail> {
        debug_assert!(u64::from(len) <= self.max_record());
        let me = my_tid();
        let pos = self
            .wait(&self.h.not_full, deadline, |check| {
                self.claim_step(len, me, check, deadline)
            })
            .unwrap_or(Err(PutFail::Full))?;
        self.fill_and_commit(pos, len, write, before_commit);
        Ok(())
    }

    /// One attempt at claiming room for a one-record message of `len`
    /// bytes: `None` if there is none now (the queue's `put` waits on
    /// `not_full` and tries again; so does `put_async`).
    pub(crate) fn claim_step(
        &self,
        len: u32,
        me: u32,
        check: bool,
        deadline: Deadline,
    ) -> Option<Result<u64, PutFail>> {
        let p = &self.h.producers;
        if self.is_shutdown() {
            return Some(Err(PutFail::ShutDown));
        }
        if !Self::lock(&p.lock, deadline) {
            return Some(Err(PutFail::Full));
        }
        p.lock.take_owner_died();
        let r = self.claim_locked(len, FIRST | LAST, me, check);
        p.lock.unlock();
        match r {
            Ok(Some(pos)) => Some(Ok(pos)),
            Ok(None) => None,
            Err(c) => Some(Err(PutFail::Corrupt(c))),
        }
    }

    /// Write the payload of the record claimed at `pos`, then commit it.
    pub(crate) fn fill_and_commit(
        &self,
        pos: u64,
        len: u32,
        write: impl FnOnce(&mut [u8]),
        before_commit: impl FnOnce(),
    ) {
        // SAFETY: the record at `pos` is claimed by us; no one reads it
        // before the commit below.
        unsafe { self.with_payload_mut(pos, len, write) };
        before_commit();
        self.commit(pos);
    }

    /// Put a message of any size as chunks, holding the producers' lock so
    /// that nothing interleaves. On a deadline or shutdown part-way, the
    /// chunks already committed are dropped by their consumer (see the
    /// module doc) and the put fails.
    /// `after_first`: the fault tests' hook, run once the first chunk is
    /// committed (the producers' lock still held).
    pub(crate) fn put_chunked(
        &self,
        bytes: &[u8],
        deadline: Deadline,
        after_first: impl FnOnce(),
    ) -> Result<(), PutFail> {
        let mut after_first = Some(after_first);
        let me = my_tid();
        let p = &self.h.producers;
        if self.is_shutdown() {
            return Err(PutFail::ShutDown);
        }
        if !Self::lock(&p.lock, deadline) {
            return Err(PutFail::Full);
        }
        p.lock.take_owner_died();
        let chunk = self.chunk() as usize;
        let n = bytes.len().div_ceil(chunk).max(1);
        let mut result = Ok(());
        for (i, part) in bytes
            .chunks(chunk)
            .chain(bytes.is_empty().then_some(&[][..]))
            .enumerate()
        {
            let flags = if i == 0 { FIRST } else { 0 } | if i + 1 == n { LAST } else { 0 };
            let len = part.len() as u32;
            let claimed = self
                .wait(&self.h.not_full, deadline, |check| {
                    if self.is_shutdown() {
                        return Some(Err(PutFail::ShutDown));
                    }
                    match self.claim_locked(len, flags, me, check) {
                        Ok(Some(pos)) => Some(Ok(pos)),
                        Ok(None) => None,
                        Err(c) => Some(Err(PutFail::Corrupt(c))),
                    }
                })
                .unwrap_or(Err(PutFail::Full));
            match claimed {
                Ok(pos) => {
                    // SAFETY: claimed by us, unseen until committed.
                    unsafe { self.with_payload_mut(pos, len, |s| s.copy_from_slice(part)) };
                    self.commit(pos);
                    if let Some(f) = after_first.take() {
                        f();
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        p.lock.unlock();
        if result.is_err() {
            // A consumer assembling the message waits for its next chunk:
            // the lock changing hands tells it the writer gave up.
            self.h.not_empty.notify();
        }
        result
    }

    /// Under the producers' lock: claim room for a record of `len` bytes
    /// (writing skip records to the ring's end as needed). `Ok(None)`: no
    /// room now (bytes, or `maxsize` for a first record).
    fn claim_locked(
        &self,
        len: u32,
        flags: u32,
        me: u32,
        check: bool,
    ) -> Result<Option<u64>, Corrupt> {
        let p = &self.h.producers;
        let size = rec_size(u64::from(len));
        loop {
            let tail = p.tail.load(Relaxed);
            let off = tail % self.cap;
            let need = if off + size > self.cap {
                self.cap - off
            } else {
                size
            };
            // Look at the consumers' side only when the room known to be
            // free is not enough: a put in a roomy ring reads no line the
            // consumers write.
            let mut reclaim = p.reclaim.load(Relaxed);
            if self.cap - (tail - reclaim) < need {
                reclaim = self.reclaim(check)?;
            }
            let free = self.cap - (tail - reclaim);
            if off + size > self.cap {
                let pad = self.cap - off;
                if free < pad {
                    return Ok(None);
                }
                self.write_header(tail, SKIP << KIND_SHIFT, (pad - REC) as u32, 0);
                p.tail.store(tail + pad, Release);
                continue;
            }
            if free < size {
                return Ok(None);
            }
            if flags & FIRST != 0 {
                let m = self.maxsize();
                if m > 0 && self.len() >= m {
                    return Ok(None);
                }
            }
            self.write_header(
                tail,
                (CLAIMED << KIND_SHIFT) | (me & OWNER),
                len,
                flags | (me << 2),
            );
            p.tail.store(tail + size, Release);
            if flags & FIRST != 0 {
                p.puts.store(p.puts.load(Relaxed) + 1, Relaxed);
                if self.joinable() {
                    self.h.unfinished.fetch_add(1, Relaxed);
                }
            }
            return Ok(Some(tail));
        }
    }

    /// Commit the claimed record at `pos`: consumers may take it.
    fn commit(&self, pos: u64) {
        self.state(pos).store(READY << KIND_SHIFT, Release);
        self.h.not_empty.notify();
    }

    /// Under the producers' lock: move `reclaim` over freed records, and
    /// (with `check`) free records whose reader is dead.
    fn reclaim(&self, check: bool) -> Result<u64, Corrupt> {
        let p = &self.h.producers;
        let mut r = p.reclaim.load(Relaxed);
        let head = self.h.consumers.head.load(Acquire);
        while r < head {
            let rec = self.read(r, head)?;
            match rec.kind {
                FREE => {}
                TAKEN if check && !owner_alive(rec.owner) => {
                    let taken = (TAKEN << KIND_SHIFT) | rec.owner;
                    if self
                        .state(r)
                        .compare_exchange(taken, FREE, Acquire, Relaxed)
                        .is_err()
                    {
                        continue;
                    }
                    // Its reader died before returning it: lost.
                    self.task_lost();
                }
                _ => break,
            }
            r += rec.size;
            p.reclaim.store(r, Relaxed);
        }
        Ok(r)
    }

    // ----- consumers -----

    /// Take the next message and give `read` its bytes (in place for a
    /// one-record message). `after_take`: the fault tests' hook, between
    /// take and read.
    pub(crate) fn get<R>(
        &self,
        deadline: Deadline,
        read: impl FnOnce(&[u8]) -> R,
        after_take: impl FnOnce(),
    ) -> Result<R, GetFail> {
        let me = my_tid();
        let took = self
            .wait(&self.h.not_empty, deadline, |check| {
                self.try_take(me, check, deadline)
            })
            .unwrap_or(Err(GetFail::Empty))?;
        Ok(self.read_took(took, read, after_take))
    }

    /// Give `read` the bytes of a message taken by [`try_take`](Self::try_take)
    /// (in place for a one-record message, which is then freed).
    pub(crate) fn read_took<R>(
        &self,
        took: Took,
        read: impl FnOnce(&[u8]) -> R,
        after_take: impl FnOnce(),
    ) -> R {
        match took {
            Took::One(pos, len) => {
                after_take();
                // SAFETY: the record is taken by us; no one writes it until
                // we free it below.
                let r = unsafe { self.with_payload(pos, len, read) };
                self.state(pos).store(FREE, Release);
                self.h.not_full.notify();
                r
            }
            Took::Big(v) => read(&v),
        }
    }

    /// The event counts a get and a put wait on (`get_async`/`put_async`
    /// announce on them and wait through `sys::futex_bridge`).
    pub(crate) fn not_empty(&self) -> &EventCount<Shared> {
        &self.h.not_empty
    }

    pub(crate) fn not_full(&self) -> &EventCount<Shared> {
        &self.h.not_full
    }

    /// One attempt at taking a message: `None` if there is none now. A
    /// consumers' lock held past a short grace reads as `Empty`.
    pub(crate) fn try_take(
        &self,
        me: u32,
        check: bool,
        deadline: Deadline,
    ) -> Option<Result<Took, GetFail>> {
        let c = &self.h.consumers;
        if !Self::lock(&c.lock, deadline) {
            return Some(Err(GetFail::Empty));
        }
        let took_over = c.lock.take_owner_died();
        let r = self.take_locked(me, check, took_over);
        c.lock.unlock();
        match r {
            Ok(Some(t)) => Some(Ok(t)),
            Ok(None) if self.is_shutdown() => Some(Err(GetFail::ShutDown)),
            Ok(None) => None,
            Err(e) => Some(Err(GetFail::Corrupt(e))),
        }
    }

    /// Under the consumers' lock: take the message at `head`, passing
    /// skip records, dead writers' claims and orphaned chunks. `Ok(None)`:
    /// nothing to take now.
    fn take_locked(&self, me: u32, check: bool, took_over: bool) -> Result<Option<Took>, Corrupt> {
        let c = &self.h.consumers;
        if took_over && c.assembling.load(Relaxed) != 0 {
            // The dead holder was assembling a message: lost (its
            // remaining chunks are passed below as orphans).
            c.assembling.store(0, Relaxed);
            self.task_lost();
        }
        let mut freed = false;
        let r = loop {
            let head = c.head.load(Relaxed);
            let tail = self.h.producers.tail.load(Acquire);
            if head == tail {
                break None;
            }
            let rec = self.read(head, tail)?;
            match rec.kind {
                // TAKEN at head: its reader died before moving head, so
                // before reading it: deliver it again.
                READY | TAKEN if rec.flags & FIRST != 0 => {
                    c.gets.store(c.gets.load(Relaxed) + 1, Relaxed);
                    if rec.flags & LAST != 0 {
                        self.state(head)
                            .store((TAKEN << KIND_SHIFT) | (me & OWNER), Relaxed);
                        c.head.store(head + rec.size, Release);
                        break Some(Took::One(head, rec.len));
                    }
                    c.assembling.store(1, Relaxed);
                    let big = self.assemble(head, rec);
                    c.assembling.store(0, Relaxed);
                    let big = big?;
                    freed = true;
                    match big {
                        Some(v) => break Some(Took::Big(v)),
                        None => continue,
                    }
                }
                // A continuation whose reader died holding the lock.
                READY | TAKEN => self.pass(head, rec.size),
                SKIP => self.pass(head, rec.size),
                CLAIMED if check && !owner_alive(rec.owner) => {
                    if rec.flags & FIRST != 0 {
                        c.gets.store(c.gets.load(Relaxed) + 1, Relaxed);
                        self.task_lost();
                    }
                    self.pass(head, rec.size);
                }
                CLAIMED => break None,
                _ => {
                    return Err(Corrupt(format!(
                        "free record at {head}, before tail {tail}"
                    )));
                }
            }
            freed = true;
        };
        if freed {
            self.h.not_full.notify();
        }
        Ok(r)
    }

    /// Under the consumers' lock: free the record at `head` and move past it.
    fn pass(&self, head: u64, size: u64) {
        self.state(head).store(FREE, Release);
        self.h.consumers.head.store(head + size, Release);
    }

    /// Under the consumers' lock, `first` at head being a message's first
    /// chunk: read chunks as they come until the last. `None`: the message
    /// was abandoned (writer dead or gone); the next record is at head.
    fn assemble(&self, first: u64, rec: Rec) -> Result<Option<Vec<u8>>, Corrupt> {
        let c = &self.h.consumers;
        let mut buf = Vec::with_capacity(rec.len as usize * 2);
        let writer = rec.writer;
        let (mut pos, mut rec) = (first, rec);
        loop {
            // SAFETY: we hold the consumers' lock and the record is
            // committed at head: no one else reads or writes it until we
            // free it.
            unsafe { self.with_payload(pos, rec.len, |s| buf.extend_from_slice(s)) };
            self.pass(pos, rec.size);
            self.h.not_full.notify();
            if rec.flags & LAST != 0 {
                return Ok(Some(buf));
            }
            loop {
                let next = self
                    .wait(&self.h.not_empty, Deadline::Never, |check| {
                        let head = c.head.load(Relaxed);
                        let holder = self.h.producers.lock.holder();
                        let tail = self.h.producers.tail.load(Acquire);
                        if head == tail {
                            let gone = holder != writer || (check && !owner_alive(writer));
                            return gone.then_some(Ok(Next::Abandoned));
                        }
                        match self.read(head, tail) {
                            Err(e) => Some(Err(e)),
                            Ok(r) if r.kind == CLAIMED && (!check || owner_alive(r.owner)) => None,
                            Ok(r) => Some(Ok(Next::Rec(head, r))),
                        }
                    })
                    .expect("no deadline")?;
                match next {
                    Next::Rec(p, r) if r.kind == SKIP => self.pass(p, r.size),
                    Next::Rec(p, r) if r.kind == READY && r.flags & FIRST == 0 => {
                        (pos, rec) = (p, r);
                        break;
                    }
                    // The writer gave up or died, or another message
                    // begins: this one is abandoned (what is at head is
                    // left to the caller).
                    _ => {
                        self.task_lost();
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// A message that will never be delivered: it no longer counts for
    /// `join`.
    fn task_lost(&self) {
        if self.joinable() {
            self.task_done();
        }
    }

    // ----- tasks and shutdown -----

    /// Python's `task_done`: `false` if called more times than messages
    /// were put.
    pub(crate) fn task_done(&self) -> bool {
        let u = &self.h.unfinished;
        match u.fetch_update(AcqRel, Acquire, |n| n.checked_sub(1)) {
            Ok(1) => {
                self.h.all_done.notify();
                true
            }
            Ok(_) => true,
            Err(_) => false,
        }
    }

    /// Wait until `unfinished` is 0; `false` at the deadline.
    pub(crate) fn join(&self, deadline: Deadline) -> bool {
        wait_until(&*self.h.all_done, deadline, || {
            (self.h.unfinished.load(Acquire) == 0).then_some(())
        })
        .is_some()
    }

    /// Python 3.13's `shutdown(immediate)`: later puts fail; with
    /// `immediate`, the messages still queued are dropped (each counting as
    /// done); every waiter wakes.
    pub(crate) fn shutdown(&self, immediate: bool) {
        self.h.shutdown.store(1, Release);
        if immediate {
            let c = &self.h.consumers;
            if Self::lock(&c.lock, Deadline::Never) {
                let mut took_over = c.lock.take_owner_died();
                let me = my_tid();
                while let Ok(Some(t)) = self.take_locked(me, false, took_over) {
                    took_over = false;
                    if let Took::One(pos, _) = t {
                        self.state(pos).store(FREE, Release);
                    }
                    self.task_lost();
                }
                c.lock.unlock();
            }
        }
        self.h.not_empty.notify();
        self.h.not_full.notify();
        self.h.all_done.notify();
    }
}

/// Hooks for the loom models: start the cursors elsewhere than 0, and
/// play a process that claims or takes a record and dies (an owner at or
/// above [`GHOST`]).
#[cfg(all(test, loom))]
impl Ring<'_> {
    pub(crate) fn start_at(&self, pos: u64) {
        let p = &self.h.producers;
        p.tail.store(pos, Relaxed);
        p.reclaim.store(pos, Relaxed);
        self.h.consumers.head.store(pos, Relaxed);
    }

    /// Claim a one-record message of `len` bytes as a dead writer.
    pub(crate) fn ghost_claim(&self, len: u32) {
        let p = &self.h.producers;
        assert!(p.lock.lock(Deadline::Never));
        let r = self.claim_locked(len, FIRST | LAST, GHOST, true);
        p.lock.unlock();
        assert!(matches!(r, Ok(Some(_))));
    }

    /// Take the next message as a dead reader (never read nor freed).
    pub(crate) fn ghost_take(&self) {
        let c = &self.h.consumers;
        assert!(c.lock.lock(Deadline::Never));
        let r = self.take_locked(GHOST, true, false);
        c.lock.unlock();
        assert!(matches!(r, Ok(Some(Took::One(..)))));
    }
}

/// Whether the thread that owns a record still lives.
#[cfg(not(loom))]
fn owner_alive(tid: u32) -> bool {
    crate::sys::os::shm::thread_alive(tid)
}

/// Under loom, owners at or above [`GHOST`] are dead (a model's stand-in
/// for a process that died).
#[cfg(loom)]
fn owner_alive(tid: u32) -> bool {
    tid < GHOST
}

/// The first owner id a loom model treats as dead.
#[cfg(loom)]
pub(crate) const GHOST: u32 = 1 << 20;
