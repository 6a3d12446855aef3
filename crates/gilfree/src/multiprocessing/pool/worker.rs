//! The worker's side of a pool: one task, [`pool_worker`], that a pool
//! starts in each worker process like any other task. It runs the
//! initializer, says [`Reply::Ready`], then serves batches from its own
//! channel — one batch at a time, each answered with one [`Reply::Done`] —
//! until an empty frame (retire, close) or the end of the channel. The
//! batch runner itself, [`Answer`], is shared with the cluster's servers.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;

use super::wire::{Bytes, Reply, Run, split};
use crate::multiprocessing::connection::Connection;
use crate::multiprocessing::task::{TaskEntry, TaskFailure, lookup};

/// One call of a registered task (`None`: unknown) on encoded `args`, with
/// a panic caught as [`TaskFailure::Panicked`].
fn call(entry: Option<&TaskEntry>, name: &str, args: &[u8]) -> Result<Vec<u8>, TaskFailure> {
    let entry = entry.ok_or_else(|| TaskFailure::Unknown(name.to_string()))?;
    catch_unwind(AssertUnwindSafe(|| (entry.run)(args)))
        .unwrap_or_else(|p| Err(TaskFailure::Panicked(panic_message(&*p))))
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    match (p.downcast_ref::<&str>(), p.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (_, Some(s)) => s.clone(),
        _ => "Box<dyn Any>".to_string(),
    }
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
        && let Err(why) = call(lookup(name), name, args)
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
    while let Ok(frame) = conn.recv_bytes() {
        if frame.is_empty() {
            return;
        }
        let reply = match answer.run(&frame) {
            Ok(r) => r,
            Err(why) => {
                eprintln!("gilfree pool worker: {why}; exiting");
                return;
            }
        };
        if conn.send_bytes(&reply).is_err() {
            return;
        }
    }
}

/// Runs batches and encodes their replies, reusing its buffers from batch
/// to batch: the one batch runner of pool workers and cluster servers
/// (`cluster`, feature `mpi`).
#[derive(Default)]
pub(crate) struct Answer {
    lens: Vec<u8>,
    failed: Vec<(u32, TaskFailure)>,
    data: Vec<u8>,
}

impl Answer {
    /// Run the batch in `frame` (a [`Run`]) and encode its
    /// [`Reply::Done`]. `Err` (why) for a frame that does not decode or
    /// whose lengths do not add up.
    pub(crate) fn run(&mut self, frame: &[u8]) -> Result<Vec<u8>, &'static str> {
        let run =
            postcard::from_bytes::<Run<'_>>(frame).map_err(|_| "a batch that does not decode")?;
        let calls = split(run.args.0, run.lens.0).ok_or("a batch whose lengths do not add up")?;
        let Answer { lens, failed, data } = self;
        lens.clear();
        failed.clear();
        data.clear();
        // Once per batch: the registry lookup is a scan.
        let entry = lookup(run.task);
        for (i, args) in calls.into_iter().enumerate() {
            let r = call(entry, run.task, args).and_then(|r| match u32::try_from(r.len()) {
                Ok(n) => Ok((n, r)),
                Err(_) => Err(TaskFailure::BadResult {
                    task: run.task.to_string(),
                    reason: "a result over 4 GiB".into(),
                }),
            });
            match r {
                Ok((n, r)) => {
                    lens.extend_from_slice(&n.to_le_bytes());
                    data.extend_from_slice(&r);
                }
                Err(f) => {
                    lens.extend_from_slice(&0u32.to_le_bytes());
                    failed.push((i as u32, f));
                }
            }
        }
        let reply = Reply::Done {
            id: run.id,
            lens: Bytes(lens),
            failed: std::mem::take(failed),
            data: Bytes(data),
        };
        postcard::to_allocvec(&reply).map_err(|_| "a reply that does not encode")
    }
}
