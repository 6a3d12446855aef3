//! The worker's side of a pool: one task, [`pool_worker`], that a pool
//! starts in each worker process like any other task. It runs the
//! initializer, says [`Reply::Ready`], then serves batches from its own
//! channel — one batch at a time, each answered with one [`Reply::Done`] —
//! until an empty frame (retire, close) or the end of the channel. The
//! batch runner itself, [`Answer`], is shared with the cluster's servers.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;

use super::wire::{Bytes, Reply, Run, split_into};
use crate::multiprocessing::codec;
use crate::multiprocessing::connection::{Connection, collect_fds, with_received_fds};
use crate::multiprocessing::task::{BatchOut, TaskEntry, TaskFailure, lookup, panic_message};
use crate::sys::Deadline;
use crate::sys::os::socket::MAX_FDS;

/// One call of a registered task (`None`: unknown) on encoded `args`, its
/// result encoded at the end of `out` (left as it was on a failure), with
/// a panic caught as [`TaskFailure::Panicked`].
fn call(
    entry: Option<&TaskEntry>,
    name: &str,
    args: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), TaskFailure> {
    let entry = entry.ok_or_else(|| TaskFailure::Unknown(name.to_string()))?;
    let before = out.len();
    catch_unwind(AssertUnwindSafe(|| (entry.run)(args, out))).unwrap_or_else(|p| {
        // A panic inside the result's `Serialize` may leave half a value.
        out.truncate(before);
        Err(TaskFailure::Panicked(panic_message(&*p)))
    })
}

fn send(conn: &Connection, r: &Reply<'_>) -> bool {
    postcard::to_allocvec(r)
        .ok()
        .is_some_and(|b| conn.send_bytes(&b).is_ok())
}

/// What a pool sends a worker at its start: the initializer to run first
/// (a task name and its encoded arguments), if any.
#[derive(Serialize, serde::Deserialize, Debug, Clone)]
pub(crate) struct Init {
    pub(crate) initializer: Option<(String, Vec<u8>)>,
}

/// A pool worker's whole life. Not for direct use: a pool starts it.
#[crate::task]
pub(crate) fn pool_worker(conn: Connection, init: Init) {
    if let Some((name, args)) = &init.initializer
        && let Err(why) = call(lookup(name), name, args, &mut Vec::new())
    {
        send(&conn, &Reply::InitFailed(why.to_string()));
        return;
    }
    if !send(&conn, &Reply::Ready) {
        return;
    }
    let mut answer = Answer::default();
    // An empty frame (retire, close) or the end of the channel ends the
    // worker.
    while let Ok((frame, fds)) = conn.recv_frame(Deadline::Never) {
        if frame.is_empty() {
            return;
        }
        let (reply, fds) = match answer.run_with_fds(&frame, fds) {
            Ok(r) => r,
            Err(why) => {
                eprintln!("gilfree pool worker: {why}; exiting");
                return;
            }
        };
        let fds: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
        if conn.send_with_fds(reply, &fds).is_err() {
            return;
        }
    }
}

/// Runs batches and encodes their replies, reusing its buffers from batch
/// to batch: the one batch runner of pool workers and cluster servers
/// (`cluster`, feature `mpi`).
#[derive(Default)]
pub(crate) struct Answer {
    out: BatchOut,
    /// The calls' byte runs: only its allocation outlives a batch (a
    /// fresh one per batch was a large, never-touched allocation each
    /// time: page faults on every batch of a big map).
    runs: Vec<&'static [u8]>,
    /// The reply frame, reused likewise.
    reply: Vec<u8>,
}

/// An empty vector of byte runs of any lifetime, in `v`'s allocation (an
/// empty in-place `collect`: nothing is mapped, the buffer is kept).
fn recycle<'b>(mut v: Vec<&[u8]>) -> Vec<&'b [u8]> {
    v.clear();
    v.into_iter().map(|_| &[][..]).collect()
}

impl Answer {
    /// Run the batch in `frame` (a [`Run`]) and encode its
    /// [`Reply::Done`], with no descriptors either way (a cluster rank: a
    /// `Connection` among the arguments or results is the call's error).
    /// `Err` (why) for a frame that does not decode or whose lengths do
    /// not add up.
    #[cfg(feature = "mpi")]
    pub(crate) fn run(&mut self, frame: &[u8]) -> Result<&[u8], &'static str> {
        self.run_batch(frame, None)
    }

    /// As `run` (a cluster rank's), with `fds`, the descriptors that came
    /// with the frame, handed to the calls' arguments (by their index in
    /// the batch), and the descriptors inside the results returned with
    /// the reply. Descriptors no call took are closed.
    pub(crate) fn run_with_fds(
        &mut self,
        frame: &[u8],
        fds: Vec<OwnedFd>,
    ) -> Result<(&[u8], Vec<OwnedFd>), &'static str> {
        let mut out_fds = Vec::new();
        with_received_fds(fds, || self.run_batch(frame, Some(&mut out_fds)))?;
        Ok((&self.reply, out_fds))
    }

    /// The batch runner; with `out_fds`, the results' descriptors are
    /// collected there (at most one message's worth: more fail every
    /// call of the batch).
    fn run_batch(
        &mut self,
        frame: &[u8],
        out_fds: Option<&mut Vec<OwnedFd>>,
    ) -> Result<&[u8], &'static str> {
        let run =
            postcard::from_bytes::<Run<'_>>(frame).map_err(|_| "a batch that does not decode")?;
        let mut calls = recycle(std::mem::take(&mut self.runs));
        if !split_into(run.args.0, run.lens.0, &mut calls) {
            return Err("a batch whose lengths do not add up");
        }
        let out = &mut self.out;
        out.clear();
        // Once per batch: the registry lookup is a scan, and the task's
        // own batch loop runs every call (results encoded straight into
        // the reply's buffer).
        match lookup(run.task) {
            Some(entry) => match out_fds {
                Some(fds) => {
                    collect_fds(fds, || (entry.run_batch)(&calls, out));
                    if fds.len() > MAX_FDS {
                        fds.clear();
                        out.clear();
                        for i in 0..calls.len() {
                            out.fail(
                                i,
                                TaskFailure::BadResult {
                                    task: run.task.to_string(),
                                    reason: format!(
                                        "more than {MAX_FDS} descriptors in one chunk's results"
                                    ),
                                },
                            );
                        }
                    }
                }
                None => (entry.run_batch)(&calls, out),
            },
            None => {
                for i in 0..calls.len() {
                    out.fail(i, TaskFailure::Unknown(run.task.to_string()));
                }
            }
        }
        self.runs = recycle(calls);
        let reply = Reply::Done {
            id: run.id,
            lens: Bytes(&out.lens),
            failed: std::mem::take(&mut out.failed),
            data: Bytes(&out.data),
        };
        self.reply.clear();
        codec::append(&reply, &mut self.reply).map_err(|_| "a reply that does not encode")?;
        Ok(&self.reply)
    }
}
