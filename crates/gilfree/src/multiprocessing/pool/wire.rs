//! The pool's wire format: the messages between the pool and a worker, and
//! the batch and result views built on them.
//!
//! A *batch* is `n` calls of one task: its name, the calls' encoded
//! arguments laid end to end, and each call's length (a run of
//! little-endian `u32`s). The worker answers a batch with one reply: each
//! call's result length (0 for a failed call), the failures by index, and
//! the results laid end to end. So a batch of any
//! size is one frame each way and one allocation on either side, whatever
//! the codec of the arguments (postcard here; pickle bytes would do). The
//! messages themselves are postcard; byte runs are borrowed on decode.
//! Descriptors inside the calls (or the results) ride on the same frame
//! (`SCM_RIGHTS`, as a `Connection` message carries them), numbered over
//! the whole batch: at most one message's worth (16) per batch each way.
//!
//! Every decoder here takes bytes from another process: wrong bytes are an
//! error, never a panic (see the property tests at the end).

use std::os::fd::OwnedFd;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::multiprocessing::codec;
use crate::multiprocessing::connection::collect_fds;
use crate::multiprocessing::task::TaskFailure;
use crate::sys::os::socket::MAX_FDS;

/// A byte run encoded as one length and the bytes (postcard `bytes`), not
/// as a sequence of `u8`s; borrowed when decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Bytes<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a [u8]>::deserialize(d).map(Bytes)
    }
}

/// Pool → worker: run this batch. (The end of the stream means "exit".)
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct Run<'a> {
    pub(crate) id: u64,
    #[serde(borrow)]
    pub(crate) task: &'a str,
    /// Each call's argument length, `u32` little-endian.
    #[serde(borrow)]
    pub(crate) lens: Bytes<'a>,
    #[serde(borrow)]
    pub(crate) args: Bytes<'a>,
}

/// Worker → pool.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Reply<'a> {
    /// The initializer (if any) ran: the worker takes batches now.
    Ready,
    /// The initializer failed; the worker exits. Why.
    InitFailed(String),
    /// The outcomes of batch `id`: per call, the length of its result in
    /// `data` (`u32` little-endian; 0 for a failed call), and the failed
    /// calls by index with why.
    Done {
        id: u64,
        #[serde(borrow)]
        lens: Bytes<'a>,
        failed: Vec<(u32, TaskFailure)>,
        #[serde(borrow)]
        data: Bytes<'a>,
    },
}

/// Split `bytes` into runs of the lengths in `lens` (little-endian
/// `u32`s); `None` if `lens` is not whole `u32`s or the runs do not add up
/// to exactly `bytes.len()`.
#[cfg(all(test, not(loom)))]
pub(crate) fn split<'a>(bytes: &'a [u8], lens: &[u8]) -> Option<Vec<&'a [u8]>> {
    let mut out = Vec::new();
    split_into(bytes, lens, &mut out).then_some(out)
}

/// As `split`, into `out` (cleared first, its allocation reused);
/// `false` if the lengths do not add up.
pub(crate) fn split_into<'a>(bytes: &'a [u8], lens: &[u8], out: &mut Vec<&'a [u8]>) -> bool {
    out.clear();
    if !lens.len().is_multiple_of(4) {
        return false;
    }
    out.reserve(lens.len() / 4);
    let mut at = 0usize;
    for n in lens.chunks_exact(4) {
        let n = u32::from_le_bytes([n[0], n[1], n[2], n[3]]);
        let Some(run) = at
            .checked_add(n as usize)
            .and_then(|end| bytes.get(at..end))
        else {
            return false;
        };
        out.push(run);
        at += run.len();
    }
    at == bytes.len()
}

/// The calls of one batch, built by the parent: one task, arguments
/// encoded end to end, and the descriptors inside them (a `Connection`, a
/// `SharedMemory`), which travel with the batch's frame; their indices
/// run over the whole batch.
#[derive(Debug)]
pub(crate) struct Calls {
    pub(crate) task: &'static str,
    /// Each call's argument length, `u32` little-endian.
    pub(crate) lens: Vec<u8>,
    pub(crate) args: Vec<u8>,
    /// The descriptors inside the arguments, in encoding order.
    pub(crate) fds: Vec<OwnedFd>,
}

impl Calls {
    pub(crate) fn new(task: &'static str) -> Self {
        Calls {
            task,
            lens: Vec::new(),
            args: Vec::new(),
            fds: Vec::new(),
        }
    }

    /// Append one call's arguments (a tuple), encoded.
    pub(crate) fn push<A: Serialize>(&mut self, args: &A) -> Result<(), String> {
        self.push_each(std::iter::once(args))
    }

    /// Append each call's arguments (a tuple each), encoded; on an error
    /// the calls before the failed one stay. One descriptor scope for
    /// all of them (a thread-local swap per call would cost a map of tiny
    /// calls several nanoseconds each).
    pub(crate) fn push_each<A: Serialize>(
        &mut self,
        items: impl IntoIterator<Item = A>,
    ) -> Result<(), String> {
        let Calls {
            lens, args, fds, ..
        } = self;
        let r = collect_fds(fds, || {
            items.into_iter().try_for_each(|a| {
                let before = args.len();
                codec::append(&a, args)?;
                let n = u32::try_from(args.len() - before).map_err(|_| {
                    args.truncate(before);
                    "arguments over 4 GiB".to_string()
                })?;
                lens.extend_from_slice(&n.to_le_bytes());
                Ok(())
            })
        });
        if self.fds.len() > MAX_FDS {
            return Err(format!(
                "more than {MAX_FDS} descriptors in one batch (use a smaller chunksize)"
            ));
        }
        r
    }

    /// Duplicates of the batch's descriptors, to travel with a frame sent
    /// later (the batch may wait in the queue after its `Calls` are gone).
    pub(crate) fn dup_fds(&self) -> Result<Vec<OwnedFd>, String> {
        self.fds
            .iter()
            .map(|f| f.try_clone().map_err(|e| e.to_string()))
            .collect()
    }

    /// Calls in the batch.
    pub(crate) fn len(&self) -> usize {
        self.lens.len() / 4
    }

    /// The batch's frame, numbered `id`.
    pub(crate) fn frame(&self, id: u64) -> Result<Vec<u8>, String> {
        postcard::to_allocvec(&Run {
            id,
            task: self.task,
            lens: Bytes(&self.lens),
            args: Bytes(&self.args),
        })
        .map_err(|e| e.to_string())
    }
}

/// A batch's outcomes as the parent received them: one per call, each its
/// encoded result or why there is none. A view of the reply frame, checked
/// once ([`Outcomes::new`]) and read lazily ([`Outcomes::into_results`]): no
/// list of per-call outcomes is built (for a chunk of tiny calls that list
/// cost more than decoding the results).
#[derive(Debug)]
pub(crate) struct Outcomes<'a> {
    /// Each call's result length, `u32` little-endian (0 for a failure).
    lens: &'a [u8],
    /// The failed calls, by index, in increasing order.
    failed: Vec<(u32, TaskFailure)>,
    /// The results, end to end.
    data: &'a [u8],
}

impl<'a> Outcomes<'a> {
    /// Check a reply's parts against each other; `None` if they disagree
    /// (a broken worker): lengths that are not whole `u32`s or do not add
    /// up to the data, a failure index out of range or given twice.
    pub(crate) fn new(
        lens: &'a [u8],
        mut failed: Vec<(u32, TaskFailure)>,
        data: &'a [u8],
    ) -> Option<Self> {
        if !lens.len().is_multiple_of(4) {
            return None;
        }
        let total = lens.chunks_exact(4).try_fold(0usize, |at, n| {
            at.checked_add(u32::from_le_bytes([n[0], n[1], n[2], n[3]]) as usize)
        })?;
        if total != data.len() {
            return None;
        }
        failed.sort_unstable_by_key(|f| f.0);
        let n = lens.len() / 4;
        if failed.last().is_some_and(|f| f.0 as usize >= n)
            || failed.windows(2).any(|w| w[0].0 == w[1].0)
        {
            return None;
        }
        Some(Outcomes { lens, failed, data })
    }

    /// Calls in the batch.
    pub(crate) fn len(&self) -> usize {
        self.lens.len() / 4
    }

    /// The outcomes, in call order.
    pub(crate) fn into_results(self) -> impl Iterator<Item = Result<&'a [u8], TaskFailure>> {
        let Outcomes { lens, failed, data } = self;
        let mut failed = failed.into_iter().peekable();
        let mut at = 0usize;
        lens.chunks_exact(4).enumerate().map(move |(i, n)| {
            let end = at + u32::from_le_bytes([n[0], n[1], n[2], n[3]]) as usize;
            let run = &data[at..end];
            at = end;
            match failed.next_if(|f| f.0 as usize == i) {
                Some((_, f)) => Err(f),
                None => Ok(run),
            }
        })
    }

    /// The results in call order when no call failed (the usual case: no
    /// per-call `Result` to build and move); `None` if one did.
    pub(crate) fn all_ok(&self) -> Option<impl Iterator<Item = &'a [u8]> + use<'a>> {
        if !self.failed.is_empty() {
            return None;
        }
        let (lens, data) = (self.lens, self.data);
        let mut at = 0usize;
        Some(lens.chunks_exact(4).map(move |n| {
            let end = at + u32::from_le_bytes([n[0], n[1], n[2], n[3]]) as usize;
            let run = &data[at..end];
            at = end;
            run
        }))
    }

    /// The only outcome of a one-call batch; `None` for another count.
    pub(crate) fn single(self) -> Option<Result<&'a [u8], TaskFailure>> {
        if self.len() != 1 {
            return None;
        }
        self.into_results().next()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn run_round_trip() {
        let mut c = Calls::new("m::f");
        c.push(&(1u32, "a".to_string())).unwrap();
        c.push(&(2u32, "bc".to_string())).unwrap();
        let frame = c.frame(7).unwrap();
        let r: Run<'_> = postcard::from_bytes(&frame).unwrap();
        assert_eq!((r.id, r.task), (7, "m::f"));
        let runs = split(r.args.0, r.lens.0).unwrap();
        let a: (u32, String) = postcard::from_bytes(runs[1]).unwrap();
        assert_eq!(a, (2, "bc".to_string()));
    }

    fn lens(v: &[u32]) -> Vec<u8> {
        v.iter().flat_map(|n| n.to_le_bytes()).collect()
    }

    #[test]
    fn outcomes_must_add_up() {
        let l = lens(&[2, 0, 1]);
        let failed = vec![(1, TaskFailure::Panicked("x".into()))];
        let o: Vec<_> = Outcomes::new(&l, failed.clone(), b"abc")
            .unwrap()
            .into_results()
            .collect();
        assert_eq!(o[0], Ok(&b"ab"[..]));
        assert_eq!(o[1], Err(TaskFailure::Panicked("x".into())));
        assert_eq!(o[2], Ok(&b"c"[..]));
        let twice = vec![(1, TaskFailure::Panicked("x".into())); 2];
        assert!(Outcomes::new(&l, twice, b"abc").is_none());
        assert!(Outcomes::new(&l, failed.clone(), b"abcd").is_none());
        assert!(Outcomes::new(&l, failed.clone(), b"ab").is_none());
        assert!(Outcomes::new(&l[..5], failed, b"abc").is_none());
        let out_of_range = vec![(3, TaskFailure::Panicked("x".into()))];
        assert!(Outcomes::new(&l, out_of_range, b"abc").is_none());
    }

    proptest! {
        /// Random and truncated bytes: an error, never a panic.
        #[test]
        fn decoders_survive_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(r) = postcard::from_bytes::<Run<'_>>(&bytes) {
                let _ = split(r.args.0, r.lens.0);
            }
            if let Ok(Reply::Done { lens, failed, data, .. }) = postcard::from_bytes::<Reply<'_>>(&bytes)
                && let Some(o) = Outcomes::new(lens.0, failed, data.0)
            {
                let _ = o.into_results().count();
            }
        }

        #[test]
        fn truncated_frames_are_errors(cut in 0usize..64) {
            let mut c = Calls::new("m::f");
            c.push(&(5u64, vec![1u8; 20])).unwrap();
            let frame = c.frame(1).unwrap();
            let cut = cut.min(frame.len().saturating_sub(1));
            prop_assert!(postcard::from_bytes::<Run<'_>>(&frame[..cut]).is_err());
        }
    }
}
