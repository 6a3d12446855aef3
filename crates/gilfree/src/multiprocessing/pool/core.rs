//! The pool core: worker processes, each on its own channel, fed batches of
//! opaque encoded calls, watched through their pidfds. Both `Pool` and
//! `ProcessPoolExecutor` are front ends of this one core.
//!
//! # Who does what
//!
//! - A *submitter* (any thread) queues a batch and, if a worker is idle,
//!   hands it over at once: the worker is marked busy under the core lock
//!   and the frame is sent after the lock is released, by the submitter
//!   itself (no thread hop on the way out).
//! - The *supervisor* (one thread per pool) sleeps in
//!   [`connection::wait`](crate::multiprocessing::connection::wait) on
//!   every worker's channel and sentinel (pidfd), plus a wake-up channel. It reads replies
//!   (completing the batch's [`Sink`], then handing the worker the next
//!   pending batch), starts the workers (so their death signal follows this
//!   long-lived thread), replaces dead and retired ones, and carries out
//!   `close`, `terminate` and a broken pool.
//!
//! # A worker holds at most two batches
//!
//! A batch goes first to an idle worker; once every worker has one, a
//! small chunk of a map also goes *behind* a worker's running chunk
//! (`Held`), so a worker that finishes a chunk starts the next from its
//! own channel
//! instead of idling for the reply → supervisor → dispatch → send → wake-up
//! hop (design-notes, "Pool: two batches in flight"). A worker runs its
//! batches in the order sent, one at a time, so of what it holds only the
//! first can have started. When its pidfd fires, the supervisor first reads
//! what it sent (a reply written just before its death still counts), then
//! reaps it, fails the first batch it still held with
//! [`Failure::WorkerDied`] (pid and exit code), puts the one behind it back
//! at the head of the queue (it never ran), and starts a replacement.
//! Nothing else is lost and nothing runs twice.
//!
//! A batch goes behind another only if both are chunks of one map
//! ([`Sink::map_id`]: pieces of one job, which waits for all of them
//! anyway; a single call, or another job, may run for any time, and what
//! waits behind it would wait even when another worker is free — a frame
//! in a worker's channel cannot be taken back), the one before it was sent (so the frames reach
//! the worker in the order held), it carries no descriptors, its frame is
//! at most [`BEHIND_MAX`] bytes (it waits in the socket's buffer: a send
//! never blocks on a worker that is busy) and, with `max_tasks`, the
//! worker's limit leaves room for it.
//!
//! # No respawn loops
//!
//! A worker that reports a failed initializer, or dies before it said it
//! was ready, breaks the pool ([`Failure::Broken`]) instead of being
//! replaced by a worker that would fail the same way; so does a worker
//! that cannot be started.
//!
//! # Recycling
//!
//! With `max_tasks`, a worker that has completed that many batches is told
//! to exit (an empty frame) and is replaced at once, as Python's
//! `maxtasksperchild` (a chunk counts as one task).

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use super::wire::{Calls, Outcomes};
use crate::multiprocessing::connection::{Connection, Pipe, Waitable, wait, with_received_fds};
use crate::multiprocessing::error::Error;
use crate::multiprocessing::method::StartMethod;
use crate::multiprocessing::process::Process;
use crate::sys::spin::{SOCKET_READ, Spin};
use crate::threading::{Event, Lock};

/// Why a batch did not produce outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The worker running it died: its pid and Python-style exit code.
    WorkerDied { pid: i32, exitcode: i32 },
    /// The pool is broken (initializer failed, a start failed); why.
    Broken(String),
    /// `terminate()` stopped the pool before the batch finished.
    Terminated,
    /// The pool no longer accepts work (`close`/`terminate` called).
    Closed,
    /// The batch could not be sent or its reply read; why.
    Io(String),
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f {
            Failure::WorkerDied { pid, exitcode } => Error::WorkerDied { pid, exitcode },
            Failure::Broken(why) => Error::BrokenPool(why),
            Failure::Terminated => Error::BrokenPool("the pool was terminated".into()),
            Failure::Closed => Error::Value("Pool not running".into()),
            Failure::Io(why) => Error::Value(why),
        }
    }
}

/// Where a batch's outcomes go. Runs on the supervisor thread (or on a
/// submitter's, for a failed send), never under the core lock.
pub(crate) trait Sink: Send {
    /// Called under the core lock just before the batch is sent; `false`
    /// drops it unsent (its futures were cancelled).
    fn start(&mut self) -> bool {
        true
    }
    /// The batch was dropped unsent (`shutdown(cancel_futures=True)`).
    fn cancel(self: Box<Self>) {}
    /// The outcomes, one per call in order, or why there are none.
    fn done(self: Box<Self>, r: Result<Outcomes<'_>, Failure>);
    /// For a map's chunk, the map's identity (its shared state's
    /// address): a chunk may wait in a busy worker's channel behind a
    /// chunk of the same map ([`start`](Sink::start) is then called when
    /// it is sent there). `None` for a single call (`apply_async`, an
    /// executor's future): it may run for any time, and a batch committed
    /// to wait behind it would wait while another worker is free (and a
    /// future would be marked running before it runs).
    fn map_id(&self) -> Option<usize> {
        None
    }
}

/// The largest frame that goes behind a worker's running batch: it waits
/// in the channel's socket buffer (about 200 KiB on Linux) beside at most
/// one other such frame, so its send never blocks on a busy worker.
pub(super) const BEHIND_MAX: usize = 32 * 1024;

/// Something that takes batches: the pool core, or the cluster's hub
/// (feature `mpi`). The lazy map ([`IMap`](super::IMap)) feeds either.
pub(crate) trait Submit: Send + Sync {
    /// Queue a batch; its outcomes go to `sink`. On an error the sink is
    /// dropped without a call.
    fn submit(&self, calls: &Calls, sink: Box<dyn Sink>) -> Result<(), Failure>;
}

impl Submit for Core {
    fn submit(&self, calls: &Calls, sink: Box<dyn Sink>) -> Result<(), Failure> {
        Core::submit(self, calls, sink)
    }
}

/// What a pool is made of.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) processes: usize,
    pub(crate) method: StartMethod,
    /// An initializer task and its encoded arguments.
    pub(crate) initializer: Option<(&'static str, Vec<u8>)>,
    /// Batches a worker completes before it is replaced.
    pub(crate) max_tasks: Option<usize>,
    /// Worker names are `{name}-{n}` (Python: `ForkPoolWorker-n`).
    pub(crate) name: String,
}

pub(super) struct Batch {
    pub(super) id: u64,
    pub(super) frame: Arc<Vec<u8>>,
    /// The descriptors inside the calls, sent with the frame.
    pub(super) fds: Vec<OwnedFd>,
    pub(super) sink: Box<dyn Sink>,
    /// Its sink's [`start`](Sink::start) was called: it was sent behind
    /// a batch whose worker died, and is queued again.
    pub(super) started: bool,
}

/// A batch a worker holds: sent (or being sent) to it.
pub(super) struct Held {
    pub(super) id: u64,
    pub(super) sink: Box<dyn Sink>,
    /// Its map, for a map's chunk ([`Sink::map_id`]): a chunk of the same
    /// map may wait behind it.
    pub(super) map: Option<usize>,
    /// Its frame is out (until then no batch goes behind it: the frames
    /// must reach the worker in this order).
    pub(super) sent: bool,
    /// Behind another batch, it cannot have started: its frame, to queue
    /// it again if the worker dies. `None` once first.
    pub(super) frame: Option<Arc<Vec<u8>>>,
}

pub(super) struct Slot {
    pub(super) proc: Process<()>,
    pub(super) pid: i32,
    /// `None` once retired (told to exit).
    pub(super) conn: Option<Arc<Connection>>,
    /// The channel ended (the worker is exiting): stop polling it.
    pub(super) eof: bool,
    /// It said [`Reply::Ready`].
    pub(super) ready: bool,
    /// What it holds, in the order sent: the first is running (or about
    /// to), a second waits behind it.
    pub(super) busy: VecDeque<Held>,
    pub(super) served: usize,
    /// Its batch is a direct call (`direct`): the caller, not the
    /// supervisor, reads this channel and watches this pidfd until it
    /// hands the worker back.
    pub(super) direct: bool,
    /// The supervisor's current wait includes this channel; a batch sent
    /// to a worker whose channel it does not watch must wake it.
    pub(super) watched: bool,
    /// The supervisor is reading this channel: no direct call may start
    /// (it could take the direct call's reply).
    pub(super) reading: bool,
    /// Its pidfd fired: no direct call may start; during one, the
    /// supervisor leaves the death to it until it hands the worker back.
    pub(super) died: bool,
}

impl Slot {
    pub(super) fn new(proc: Process<()>, pid: i32, conn: Connection) -> Slot {
        Slot {
            proc,
            pid,
            conn: Some(Arc::new(conn)),
            eof: false,
            ready: false,
            busy: VecDeque::new(),
            served: 0,
            direct: false,
            watched: false,
            reading: false,
            died: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Run,
    Close,
    Terminate,
}

pub(super) struct State {
    pub(super) slots: Vec<Slot>,
    pub(super) pending: VecDeque<Batch>,
    pub(super) phase: Phase,
    pub(super) broken: Option<String>,
    /// The supervisor has exited: every worker is gone.
    pub(super) finished: bool,
    /// `terminate` sends SIGKILL at once, not SIGTERM first
    /// (`kill_workers`).
    pub(super) kill: bool,
    /// The config's `max_tasks`: no batch goes behind beyond it.
    pub(super) max_tasks: Option<usize>,
}

/// A frame to send once the lock is released.
pub(super) struct Outgoing {
    conn: Arc<Connection>,
    proc: Process<()>,
    /// The worker's pid: the batch is marked sent on this worker only (if
    /// it died meanwhile, the batch may be queued again on another).
    pid: i32,
    id: u64,
    frame: Arc<Vec<u8>>,
    /// Closed once sent: the worker has its own copies.
    fds: Vec<OwnedFd>,
    /// Whether the supervisor watches the channel (else it must be woken
    /// to read the reply).
    watched: bool,
}

pub(crate) struct Core {
    pub(super) cfg: Config,
    pub(super) st: Lock<State>,
    pub(super) next_id: AtomicU64,
    pub(super) started: AtomicUsize,
    wake_tx: Connection,
    pub(super) wake_rx: Connection,
    supervisor: Lock<Option<JoinHandle<()>>>,
    supervisor_id: OnceLock<ThreadId>,
    /// Set when the supervisor is done (every worker gone).
    pub(super) done: Event,
    /// Set once the first workers are started...
    pub(super) up: Event,
    /// ...with why one could not be, if so.
    pub(super) start_failed: Lock<Option<String>>,
}

impl Core {
    /// Start a pool: the supervisor starts the workers; returns once they
    /// are all started (not yet initialised), or the first start error.
    pub(crate) fn start(cfg: Config) -> Result<Arc<Core>, Error> {
        if cfg.processes == 0 {
            return Err(Error::Value(
                "Number of processes must be at least 1".into(),
            ));
        }
        crate::sys::trace::start_from_env();
        let (wake_tx, wake_rx) = Pipe(true)?;
        let max_tasks = cfg.max_tasks;
        let core = Arc::new(Core {
            cfg,
            st: Lock::new(State {
                slots: Vec::new(),
                pending: VecDeque::new(),
                phase: Phase::Run,
                broken: None,
                finished: false,
                kill: false,
                max_tasks,
            }),
            next_id: AtomicU64::new(0),
            started: AtomicUsize::new(0),
            wake_tx,
            wake_rx,
            supervisor: Lock::new(None),
            supervisor_id: OnceLock::new(),
            done: Event::new(),
            up: Event::new(),
            start_failed: Lock::new(None),
        });
        let me = core.clone();
        let h = std::thread::Builder::new()
            .name(format!("{}-supervisor", core.cfg.name))
            .spawn(move || me.supervise())
            .map_err(Error::Io)?;
        let _ = core.supervisor_id.set(h.thread().id());
        *core.supervisor.acquire() = Some(h);
        core.up.wait();
        let failed = core.start_failed.acquire().take();
        if let Some(why) = failed {
            core.join();
            return Err(Error::StartFailed(why));
        }
        Ok(core)
    }

    pub(crate) fn processes(&self) -> usize {
        self.cfg.processes
    }

    /// The live workers' pids (retiring ones included).
    pub(crate) fn pids(&self) -> Vec<i32> {
        self.st.acquire().slots.iter().map(|s| s.pid).collect()
    }

    /// Workers started so far, replacements included.
    pub(crate) fn workers_started(&self) -> usize {
        self.started.load(Relaxed)
    }

    /// Queue a batch; it goes to an idle worker at once if there is one,
    /// else (if it may) behind a busy worker's running batch.
    /// On an error the sink is dropped without a call.
    pub(crate) fn submit(&self, calls: &Calls, sink: Box<dyn Sink>) -> Result<(), Failure> {
        let id = self.next_id.fetch_add(1, Relaxed);
        let frame = Arc::new(calls.frame(id).map_err(Failure::Io)?);
        let fds = calls.dup_fds().map_err(Failure::Io)?;
        let sends = {
            let mut st = self.st.acquire();
            if let Some(why) = &st.broken {
                return Err(Failure::Broken(why.clone()));
            }
            if st.phase != Phase::Run {
                return Err(Failure::Closed);
            }
            st.pending.push_back(Batch {
                id,
                frame,
                fds,
                sink,
                started: false,
            });
            dispatch(&mut st)
        };
        self.send_all(sends);
        Ok(())
    }

    /// Python's `close()`: no new work; workers exit once the queue is
    /// done.
    pub(crate) fn close(&self) {
        let mut st = self.st.acquire();
        if st.phase == Phase::Run {
            st.phase = Phase::Close;
        }
        let finished = st.finished;
        drop(st);
        if !finished {
            self.wake();
        }
    }

    /// Python's `terminate()`: stop the workers now; what they held and
    /// what is queued fails with [`Failure::Terminated`]. Returns once they
    /// are gone (unless called from the supervisor, i.e. a callback).
    pub(crate) fn terminate(&self) {
        self.stop_workers(false);
    }

    /// As [`terminate`](Core::terminate), with SIGKILL at once
    /// (`kill_workers`).
    pub(crate) fn kill(&self) {
        self.stop_workers(true);
    }

    fn stop_workers(&self, kill: bool) {
        let mut st = self.st.acquire();
        st.phase = Phase::Terminate;
        st.kill |= kill;
        let finished = st.finished;
        drop(st);
        if !finished {
            self.wake();
        }
        self.join();
    }

    /// Whether `close` or `terminate` was called.
    pub(crate) fn running(&self) -> bool {
        self.st.acquire().phase == Phase::Run
    }

    /// Cancel the batches not yet sent and drop them:
    /// `shutdown(cancel_futures=True)`.
    pub(crate) fn cancel_pending(&self) {
        let pending = std::mem::take(&mut self.st.acquire().pending);
        for b in pending {
            b.sink.cancel();
        }
    }

    /// Wait until the supervisor and every worker are gone (from any
    /// number of threads). From the supervisor itself (a callback),
    /// returns at once.
    pub(crate) fn join(&self) {
        if self.on_supervisor() {
            return;
        }
        let h = self.supervisor.acquire().take();
        match h {
            Some(h) => {
                let _ = h.join();
            }
            None if self.supervisor_id.get().is_some() => self.done.wait(),
            None => {}
        }
        if crate::sys::trace::on() {
            // `GILFREE_TRACE`'s file is written as each pool ends.
            let _ = crate::sys::trace::flush();
        }
    }

    /// Wake the supervisor: it looks at the state again.
    pub(super) fn wake(&self) {
        let _ = self.wake_tx.send_bytes(&[]);
    }

    /// Whether this is the supervisor thread (which looks at the state
    /// again before it waits, so needs no wake-up).
    pub(super) fn on_supervisor(&self) -> bool {
        self.supervisor_id.get() == Some(&std::thread::current().id())
    }

    pub(super) fn send_all(&self, sends: Vec<Outgoing>) {
        if sends.iter().any(|s| !s.watched) && !self.on_supervisor() {
            self.wake();
        }
        for s in sends {
            if crate::sys::trace::on() {
                crate::sys::trace::batch_sent(s.proc.pid().unwrap_or(0), s.id);
            }
            let fds: Vec<BorrowedFd<'_>> = s.fds.iter().map(AsFd::as_fd).collect();
            match s.conn.send_with_fds(&s.frame, &fds) {
                Ok(()) => {
                    // A batch may now go behind this one.
                    let more = {
                        let mut st = self.st.acquire();
                        if let Some(h) = st
                            .slots
                            .iter_mut()
                            .filter(|sl| sl.pid == s.pid)
                            .flat_map(|sl| sl.busy.iter_mut())
                            .find(|h| h.id == s.id)
                        {
                            h.sent = true;
                        }
                        if st.pending.is_empty() {
                            Vec::new()
                        } else {
                            dispatch(&mut st)
                        }
                    };
                    self.send_all(more);
                }
                Err(e @ Error::MessageTooLarge { .. }) => {
                    // Refused before a byte was written: the worker is
                    // fine, the batch fails. (Nothing is behind it: a
                    // batch goes behind only a sent one.)
                    let (sink, more) = {
                        let mut st = self.st.acquire();
                        let sink = st.slots.iter_mut().find_map(|sl| {
                            if sl.pid != s.pid {
                                return None;
                            }
                            let i = sl.busy.iter().position(|h| h.id == s.id)?;
                            sl.busy.remove(i).map(|h| h.sink)
                        });
                        (sink, dispatch(&mut st))
                    };
                    if let Some(sink) = sink {
                        if crate::sys::trace::on() {
                            crate::sys::trace::batch_done(s.proc.pid().unwrap_or(0), s.id, false);
                        }
                        deliver(sink, Err(Failure::Io(e.to_string())));
                    }
                    self.send_all(more);
                }
                Err(_) => {
                    // Half a frame may be out: the channel is unusable.
                    // The supervisor sees the death and fails the batch.
                    let _ = s.proc.kill();
                }
            }
        }
    }
}

/// Wait until one of `objects` is ready; their indices. With `soon` (a
/// reply is due), look without sleeping first, yielding between looks
/// ([`SOCKET_READ`]): a sleep and its wake-up cost more than a short call.
pub(super) fn wait_ready(objects: &[&dyn Waitable], soon: bool) -> Result<Vec<usize>, Error> {
    if soon {
        let mut spin = Spin::new(&SOCKET_READ);
        loop {
            let ready = wait(objects, Some(Duration::ZERO))?;
            if !ready.is_empty() {
                return Ok(ready);
            }
            if !spin.next() {
                break;
            }
        }
    }
    wait(objects, None)
}

/// Hand a batch's outcomes to its sink. A panic there (a user's callback,
/// a result type's `Deserialize`) is reported and contained: the
/// supervisor must outlive it, or every other caller would wait forever.
pub(crate) fn deliver(sink: Box<dyn Sink>, r: Result<Outcomes<'_>, Failure>) {
    deliver_with_fds(sink, r, Vec::new());
}

/// [`deliver`] a reply that came with descriptors: the results decoded
/// in the sink take theirs by index; the rest are closed after.
pub(crate) fn deliver_with_fds(
    sink: Box<dyn Sink>,
    r: Result<Outcomes<'_>, Failure>,
    fds: Vec<OwnedFd>,
) {
    let done = std::panic::AssertUnwindSafe(|| with_received_fds(fds, || sink.done(r)));
    if let Err(p) = std::panic::catch_unwind(done) {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("gilfree pool: a result's delivery panicked: {msg}");
    }
}

/// Hand pending batches to idle, ready workers, then (what is left) to
/// busy ones behind their running batch (see the head comment). Under the
/// lock; the returned frames are sent after it is released.
pub(super) fn dispatch(st: &mut State) -> Vec<Outgoing> {
    let mut out = Vec::new();
    if st.broken.is_some() || st.phase == Phase::Terminate {
        return out;
    }
    let State {
        slots,
        pending,
        max_tasks,
        ..
    } = st;
    // First every idle worker, then behind the busy ones: a batch waits
    // behind another only when no worker is free to start it.
    for behind in [false, true] {
        for s in slots.iter_mut() {
            if pending.is_empty() {
                return out;
            }
            if !s.ready || s.eof || s.died {
                continue;
            }
            let Some(conn) = &s.conn else { continue };
            if behind {
                let room = max_tasks.is_none_or(|m| s.served + s.busy.len() < m);
                let behind_ok = s.busy.len() == 1 && s.busy[0].sent && s.busy[0].map.is_some();
                if s.direct || !behind_ok || !room {
                    continue;
                }
            } else if !s.busy.is_empty() {
                continue;
            }
            while let Some(mut b) = pending.pop_front() {
                if behind
                    && (!b.fds.is_empty()
                        || b.frame.len() > BEHIND_MAX
                        || b.sink.map_id() != s.busy[0].map)
                {
                    // Not behind this worker's batch (another's may
                    // do); the queue's order stays.
                    pending.push_front(b);
                    break;
                }
                if !b.started && !b.sink.start() {
                    continue; // cancelled: dropped unsent
                }
                let map = b.sink.map_id();
                s.busy.push_back(Held {
                    id: b.id,
                    sink: b.sink,
                    map,
                    sent: false,
                    frame: behind.then(|| b.frame.clone()),
                });
                out.push(Outgoing {
                    conn: conn.clone(),
                    proc: s.proc.clone(),
                    pid: s.pid,
                    id: b.id,
                    frame: b.frame,
                    fds: b.fds,
                    watched: s.watched,
                });
                break;
            }
        }
    }
    out
}
