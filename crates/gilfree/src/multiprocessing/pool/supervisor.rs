//! The pool's supervisor: the one thread per pool that starts the
//! workers, waits on their channels and pidfds, reads their replies,
//! replaces dead and retired workers, and carries out `close`,
//! `terminate` and a broken pool (see `core`'s head comment).

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::core::{
    Batch, Core, Failure, Held, Phase, Slot, deliver, deliver_with_fds, dispatch, wait_ready,
};
use super::wire::{Outcomes, Reply};
use super::worker::{Init, pool_worker};
use crate::multiprocessing::builder::ProcessBuilder;
use crate::multiprocessing::connection::{Connection, Pipe, Waitable};
use crate::multiprocessing::error::{Error, describe_exit};
use crate::multiprocessing::process::Process;

/// A worker as the supervisor watches it: pid, channel (unless ended or
/// retired), process.
type Watched = (i32, Option<Arc<Connection>>, Option<Process<()>>);

impl Core {
    pub(super) fn supervise(self: Arc<Self>) {
        for _ in 0..self.cfg.processes {
            if !self.add_worker() {
                *self.start_failed.acquire() = self.st.acquire().broken.clone();
                break;
            }
        }
        self.up.set();
        loop {
            let (phase, broken, idle) = {
                let st = self.st.acquire();
                let idle = st.pending.is_empty() && st.slots.iter().all(|s| s.busy.is_empty());
                (st.phase, st.broken.clone(), idle)
            };
            if let Some(why) = broken {
                self.stop(Failure::Broken(why));
                break;
            }
            if phase == Phase::Terminate {
                self.stop(Failure::Terminated);
                break;
            }
            if phase == Phase::Close && idle {
                self.retire_all();
                break;
            }
            self.watch_once();
        }
        self.st.acquire().finished = true;
        self.done.set();
    }

    /// One wait over the wake-up channel and every worker's channel and
    /// sentinel; handle what it reports.
    fn watch_once(&self) {
        // A channel is watched unless a direct call reads it; a pidfd
        // unless it fired during a direct call (the caller sees it too,
        // and hands the worker back).
        let (watched, busy): (Vec<Watched>, bool) = {
            let mut st = self.st.acquire();
            let w = st
                .slots
                .iter_mut()
                .map(|s| {
                    let c = if s.eof || s.direct {
                        None
                    } else {
                        s.conn.clone()
                    };
                    s.watched = c.is_some();
                    let p = (!(s.direct && s.died)).then(|| s.proc.clone());
                    (s.pid, c, p)
                })
                .collect();
            let busy = st.slots.iter().any(|s| !s.busy.is_empty() && !s.direct);
            (w, busy)
        };
        // What each waited object is: the wake-up channel, a worker's
        // channel, or a worker's sentinel.
        enum What {
            Wake,
            Channel(usize),
            Sentinel(usize),
        }
        let mut objects: Vec<&dyn Waitable> = vec![&self.wake_rx];
        let mut what = vec![What::Wake];
        for (i, (_, c, p)) in watched.iter().enumerate() {
            if let Some(c) = c {
                objects.push(&**c);
                what.push(What::Channel(i));
            }
            if let Some(p) = p {
                objects.push(p);
                what.push(What::Sentinel(i));
            }
        }
        let ready = match wait_ready(&objects, busy) {
            Ok(r) => r,
            Err(e) => {
                self.st.acquire().broken = Some(format!("waiting on the workers failed: {e}"));
                return;
            }
        };
        let mut dead = Vec::new();
        for i in ready {
            match what[i] {
                What::Wake => while let Ok(Some(_)) = self.wake_rx.recv_frame_nonblocking() {},
                What::Channel(w) => {
                    let (pid, c, _) = &watched[w];
                    if let Some(c) = c {
                        self.read_replies(*pid, c);
                    }
                }
                What::Sentinel(w) => dead.push(watched[w].0),
            }
        }
        for pid in dead {
            self.worker_died(pid);
        }
    }

    /// Read every whole reply a worker has sent, unless a direct call
    /// reads its channel (each read is marked `reading` under the lock,
    /// so no direct call starts during it and takes the reply away).
    fn read_replies(&self, pid: i32, c: &Connection) {
        loop {
            let proc = {
                let mut st = self.st.acquire();
                let Some(s) = st.slots.iter_mut().find(|s| s.pid == pid) else {
                    return;
                };
                if s.direct {
                    return;
                }
                s.reading = true;
                s.proc.clone()
            };
            let got = c.recv_frame_nonblocking();
            if let Some(s) = self.st.acquire().slots.iter_mut().find(|s| s.pid == pid) {
                s.reading = false;
                if got.is_err() {
                    s.eof = true;
                }
            }
            match got {
                Ok(Some((frame, fds))) => {
                    if !self.reply(pid, &frame, fds) {
                        let _ = proc.kill();
                        return;
                    }
                }
                Ok(None) => return,
                Err(_) => {
                    // The end of its stream: it is exiting (or broke its
                    // channel); make sure, and let the pidfd report it.
                    let _ = proc.kill();
                    return;
                }
            }
        }
    }

    /// Handle one reply; `false` if it breaks the protocol.
    fn reply(&self, pid: i32, frame: &[u8], fds: Vec<OwnedFd>) -> bool {
        let Ok(reply) = postcard::from_bytes::<Reply<'_>>(frame) else {
            return false;
        };
        match reply {
            Reply::Ready => {
                let sends = {
                    let mut st = self.st.acquire();
                    if let Some(s) = st.slots.iter_mut().find(|s| s.pid == pid) {
                        s.ready = true;
                    }
                    dispatch(&mut st)
                };
                self.send_all(sends);
                true
            }
            Reply::InitFailed(why) => {
                let mut st = self.st.acquire();
                st.broken
                    .get_or_insert(format!("the initializer failed in worker {pid}: {why}"));
                true
            }
            Reply::Done {
                id,
                lens,
                failed,
                data,
            } => {
                let (sink, retired, sends) = {
                    let mut st = self.st.acquire();
                    let Some(s) = st.slots.iter_mut().find(|s| s.pid == pid) else {
                        return false;
                    };
                    // Replies come in the order the batches were sent.
                    if s.busy.front().is_none_or(|h| h.id != id) {
                        return false;
                    }
                    let sink = s.busy.pop_front().expect("checked above").sink;
                    if let Some(next) = s.busy.front_mut() {
                        // Running now: it cannot be queued again.
                        next.frame = None;
                    }
                    s.served += 1;
                    if crate::sys::trace::on() {
                        crate::sys::trace::batch_done(pid, id, true);
                    }
                    let retire = self.cfg.max_tasks.is_some_and(|m| s.served >= m);
                    let retired = if retire { s.conn.take() } else { None };
                    (sink, retired, dispatch(&mut st))
                };
                if let Some(c) = &retired {
                    stop_worker(c);
                }
                let retired = retired.is_some();
                self.send_all(sends);
                let outcomes = Outcomes::new(lens.0, failed, data.0);
                let ok = outcomes.is_some();
                deliver_with_fds(
                    sink,
                    outcomes.ok_or_else(|| Failure::Io("a reply that does not add up".into())),
                    fds,
                );
                if retired && self.wanted() {
                    self.add_worker();
                }
                ok
            }
        }
    }

    /// Whether a dead or retired worker should be replaced.
    fn wanted(&self) -> bool {
        let st = self.st.acquire();
        st.broken.is_none()
            && (st.phase == Phase::Run || (st.phase == Phase::Close && !st.pending.is_empty()))
    }

    /// A worker's pidfd fired: take its last words, reap it, fail what it
    /// held, replace it.
    fn worker_died(&self, pid: i32) {
        let found = {
            let mut st = self.st.acquire();
            match st.slots.iter_mut().find(|s| s.pid == pid) {
                None => None,
                Some(s) => {
                    s.died = true;
                    // A direct call reads the last words and hands the
                    // worker back; it is handled then.
                    (!s.direct).then(|| (s.conn.clone(), s.proc.clone()))
                }
            }
        };
        let Some((conn, proc)) = found else { return };
        if let Some(c) = &conn {
            self.read_replies(pid, c);
        }
        let _ = proc.join();
        let exitcode = proc.exitcode().unwrap_or(255);
        let slot = {
            let mut st = self.st.acquire();
            let i = st.slots.iter().position(|s| s.pid == pid);
            i.map(|i| st.slots.remove(i))
        };
        let Some(mut slot) = slot else { return };
        // The first batch it held may have run; those behind it never
        // did (a worker runs its batches in order, and its last words are
        // read): they go back to the head of the queue.
        // (A batch behind another always keeps its frame; one without
        // is failed as the first, never lost.)
        let mut failed: Vec<Held> = slot.busy.pop_front().into_iter().collect();
        let again = {
            let mut st = self.st.acquire();
            for h in slot.busy.drain(..).rev() {
                match h.frame {
                    Some(frame) => st.pending.push_front(Batch {
                        id: h.id,
                        frame,
                        fds: Vec::new(),
                        sink: h.sink,
                        started: true,
                    }),
                    None => failed.push(h),
                }
            }
            dispatch(&mut st)
        };
        self.send_all(again);
        let retired = slot.conn.is_none();
        if !slot.ready && !retired {
            let mut st = self.st.acquire();
            if st.phase != Phase::Terminate {
                st.broken.get_or_insert(format!(
                    "worker {pid} {} before it was ready",
                    describe_exit(exitcode)
                ));
            }
        } else if !retired && self.wanted() {
            // Replaced before its caller hears of it: whoever sees the
            // `WorkerDied` finds the pool whole again.
            self.add_worker();
        }
        // Its channel and pidfd are closed before the call's owner hears
        // of the death: whoever sees the `WorkerDied` finds no descriptor
        // of the dead worker left in this process.
        drop((slot.conn, slot.proc, conn, proc));
        for Held { id, sink, .. } in failed {
            if crate::sys::trace::on() {
                crate::sys::trace::batch_done(pid, id, false);
            }
            deliver(sink, Err(Failure::WorkerDied { pid, exitcode }));
        }
    }

    /// Start one worker and add it; on failure the pool is broken.
    fn add_worker(&self) -> bool {
        match self.start_worker() {
            Ok(slot) => {
                self.st.acquire().slots.push(slot);
                true
            }
            Err(e) => {
                self.st
                    .acquire()
                    .broken
                    .get_or_insert(format!("cannot start a worker: {e}"));
                false
            }
        }
    }

    fn start_worker(&self) -> Result<Slot, Error> {
        let n = self.started.fetch_add(1, Relaxed) + 1;
        let (ours, theirs) = Pipe(true)?;
        let init = Init {
            initializer: self
                .cfg
                .initializer
                .as_ref()
                .map(|(t, a)| (t.to_string(), a.clone())),
        };
        // `target` sends a duplicate of `theirs`; ours is closed when the
        // tuple is dropped, so the worker's end lives only in the worker.
        let proc = ProcessBuilder::new()
            .name(format!("{}-{n}", self.cfg.name))
            .daemon(true)
            .start_method(self.cfg.method)
            .target(pool_worker::TASK, (theirs, init))?;
        proc.start()?;
        let pid = proc.pid().ok_or(Error::NotStarted)?;
        Ok(Slot::new(proc, pid, ours))
    }

    /// Terminate (SIGTERM, SIGKILL after a second; or SIGKILL at once) or
    /// break: stop every worker, fail what they held and what
    /// is queued with `why`.
    fn stop(&self, why: Failure) {
        let (slots, pending, kill) = {
            let mut st = self.st.acquire();
            (
                std::mem::take(&mut st.slots),
                std::mem::take(&mut st.pending),
                st.kill,
            )
        };
        for s in &slots {
            let _ = if kill {
                s.proc.kill()
            } else {
                s.proc.terminate()
            };
        }
        for s in slots {
            if !matches!(s.proc.join_timeout(Duration::from_secs(1)), Ok(true)) {
                let _ = s.proc.kill();
                let _ = s.proc.join();
            }
            for h in s.busy {
                deliver(h.sink, Err(why.clone()));
            }
        }
        for b in pending {
            deliver(b.sink, Err(why.clone()));
        }
    }

    /// Close: everything is done; close every channel and wait for the
    /// workers to exit.
    fn retire_all(&self) {
        let mut slots = std::mem::take(&mut self.st.acquire().slots);
        for s in &mut slots {
            if let Some(c) = s.conn.take() {
                stop_worker(&c);
            }
        }
        for s in slots {
            let _ = s.proc.join();
        }
    }
}

/// Tell a worker to exit: an empty frame. (Not just the end of its
/// channel: with the fork start method, workers forked later hold copies
/// of our end, so the worker might never see the end.)
fn stop_worker(c: &Connection) {
    let _ = c.send_bytes(&[]);
}
