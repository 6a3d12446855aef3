//! Direct calls: a one-call batch whose caller waits for it (`Pool::apply`)
//! reads the worker's reply itself, instead of the supervisor reading it
//! and waking the caller. The round trip is then the pipe's: no second
//! thread wakes on the way back.
//!
//! # Who owns the channel
//!
//! A worker's channel has one reader at a time, decided under the core
//! lock. A direct call takes an idle worker (marked `direct`) only if the
//! supervisor is not reading its channel at that moment (`reading`), and
//! the supervisor reads a channel only while it is not `direct`, with
//! `reading` set — so the reply of a direct call can only be read by its
//! caller, and a reply meant for the supervisor never by a caller. The
//! supervisor leaves a `direct` worker's channel out of its wait.
//!
//! # Death
//!
//! The caller waits on the channel and the worker's pidfd. If the pidfd
//! fires first, the caller reads the last words (a reply written just
//! before the death counts); with none, it hands the worker back
//! (`direct` cleared, supervisor woken), and the supervisor handles the
//! death as for any batch: reap, replace, fail the call with
//! `WorkerDied`. A supervisor that sees the pidfd during a direct call
//! only marks it (`died`) and leaves it to the caller. `terminate` takes
//! the worker away from under a direct call; the caller then finds the
//! call already failed and leaves it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::core::{
    Core, Failure, Held, Phase, Sink, deliver, deliver_with_fds, dispatch, wait_ready,
};
use super::wire::{Calls, Outcomes, Reply};
use crate::multiprocessing::connection::Waitable;
use crate::multiprocessing::error::Error;
use crate::sys::spin::{SOCKET_READ, Spin};

impl Core {
    /// Run a one-call batch, reading its reply on this thread when an
    /// idle worker can take it at once; else queue it as
    /// [`submit`](Core::submit) does. Either way the outcome goes to
    /// `sink`: on this thread before this returns, or later on the
    /// supervisor's (wait on the sink).
    pub(crate) fn call_direct(
        &self,
        calls: &Calls,
        mut sink: Box<dyn Sink>,
    ) -> Result<(), Failure> {
        // Recycling replaces a worker from the supervisor thread (its
        // death signal follows that thread): leave it the whole batch.
        if self.cfg.max_tasks.is_some() {
            return self.submit(calls, sink);
        }
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let frame = calls.frame(id).map_err(Failure::Io)?;
        let taken = {
            let mut st = self.st.acquire();
            if let Some(why) = &st.broken {
                return Err(Failure::Broken(why.clone()));
            }
            if st.phase != Phase::Run {
                return Err(Failure::Closed);
            }
            let free = st.pending.is_empty().then(|| {
                st.slots.iter_mut().find(|s| {
                    s.ready
                        && s.busy.is_empty()
                        && !s.eof
                        && !s.died
                        && !s.reading
                        && s.conn.is_some()
                })
            });
            match free.flatten() {
                Some(s) => {
                    if !sink.start() {
                        return Ok(()); // cancelled: dropped unsent
                    }
                    s.busy.push_back(Held {
                        id,
                        sink,
                        map: None,
                        sent: true,
                        frame: None,
                    });
                    s.direct = true;
                    let conn = s.conn.clone().expect("checked above");
                    Ok((s.pid, conn, s.proc.clone()))
                }
                None => Err(sink),
            }
        };
        let (pid, conn, proc) = match taken {
            Ok(t) => t,
            Err(sink) => return self.submit(calls, sink),
        };
        if crate::sys::trace::on() {
            crate::sys::trace::batch_sent(pid, id);
        }
        // The caller's `calls` outlive the send: their descriptors go as
        // they are.
        let fds: Vec<BorrowedFd<'_>> = calls.fds.iter().map(AsFd::as_fd).collect();
        match conn.send_with_fds(&frame, &fds) {
            Ok(()) => {}
            Err(e @ Error::MessageTooLarge { .. }) => {
                // Refused before a byte was written: the worker is fine,
                // the call fails.
                if let Some(sink) = self.end_direct(pid, id, false) {
                    deliver(sink, Err(Failure::Io(e.to_string())));
                }
                return Ok(());
            }
            Err(_) => {
                // Half a frame may be out: the channel is unusable. Its
                // death is handled below.
                let _ = proc.kill();
            }
        }
        // A short call's reply is looked for first with plain nonblocking
        // reads, as a `Connection` receive does (a `poll` of both
        // descriptors per look costs more); a death in that time is seen
        // by the wait below at once.
        let mut eof = false;
        let mut spin = Spin::new(&SOCKET_READ);
        loop {
            match conn.recv_frame_nonblocking() {
                Ok(Some((frame, fds))) => {
                    self.direct_reply(pid, id, &frame, fds, &proc);
                    return Ok(());
                }
                Ok(None) => {}
                Err(_) => break,
            }
            if !spin.next() {
                break;
            }
        }
        loop {
            let objects: Vec<&dyn Waitable> = if eof {
                vec![&proc]
            } else {
                vec![&*conn, &proc]
            };
            let ready = match wait_ready(&objects, false) {
                Ok(r) => r,
                Err(_) => {
                    // Cannot wait here: the supervisor can.
                    self.hand_back(pid, id);
                    return Ok(());
                }
            };
            let died = ready.contains(&(objects.len() - 1));
            if !eof {
                match conn.recv_frame_nonblocking() {
                    Ok(Some((frame, fds))) => {
                        self.direct_reply(pid, id, &frame, fds, &proc);
                        return Ok(());
                    }
                    Ok(None) => {}
                    Err(_) => {
                        // The end of its stream: it is exiting (or broke
                        // its channel); make sure, and wait for its death.
                        eof = true;
                        let _ = proc.kill();
                    }
                }
            }
            if died {
                self.hand_back(pid, id);
                return Ok(());
            }
        }
    }

    /// The reply of direct call `id`: complete it (on this thread).
    fn direct_reply(
        &self,
        pid: i32,
        id: u64,
        frame: &[u8],
        fds: Vec<OwnedFd>,
        proc: &crate::multiprocessing::Process<()>,
    ) {
        let outcomes = match postcard::from_bytes::<Reply<'_>>(frame) {
            Ok(Reply::Done {
                id: got,
                lens,
                failed,
                data,
            }) if got == id => Outcomes::new(lens.0, failed, data.0)
                .ok_or_else(|| Failure::Io("a reply that does not add up".into())),
            _ => {
                // Not the reply of this call: a broken worker. Its death
                // fails the call.
                let _ = proc.kill();
                self.hand_back(pid, id);
                return;
            }
        };
        if let Some(sink) = self.end_direct(pid, id, true) {
            deliver_with_fds(sink, outcomes, fds);
        }
    }

    /// End direct call `id` on worker `pid`: the worker is the
    /// supervisor's again, idle, and takes the next queued batch. The
    /// call's sink, unless it was taken away (`terminate`).
    fn end_direct(&self, pid: i32, id: u64, served: bool) -> Option<Box<dyn Sink>> {
        let (sink, wake, sends) = {
            let mut st = self.st.acquire();
            let s = st.slots.iter_mut().find(|s| s.pid == pid)?;
            if !s.direct || s.busy.front().is_none_or(|h| h.id != id) {
                return None;
            }
            s.direct = false;
            s.served += usize::from(served);
            if crate::sys::trace::on() {
                crate::sys::trace::batch_done(pid, id, served);
            }
            let sink = s.busy.pop_front().map(|h| h.sink);
            // The supervisor waits for something else: wake it if it must
            // see this worker die, or finish a close.
            let wake = s.died || st.phase != Phase::Run || st.broken.is_some();
            (sink, wake, dispatch(&mut st))
        };
        self.send_all(sends);
        if wake {
            self.wake();
        }
        sink
    }

    /// Give a direct call's worker back to the supervisor with the call
    /// still held: the worker died (or broke the protocol) without a
    /// reply, and the supervisor fails the call as for any batch.
    fn hand_back(&self, pid: i32, id: u64) {
        {
            let mut st = self.st.acquire();
            let Some(s) = st.slots.iter_mut().find(|s| s.pid == pid) else {
                return;
            };
            if !s.direct || s.busy.front().is_none_or(|h| h.id != id) {
                return;
            }
            s.direct = false;
        }
        self.wake();
    }
}
