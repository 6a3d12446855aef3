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
//! # A worker holds at most one batch
//!
//! A batch goes to a worker only when it is idle, so the calls a worker
//! holds are exactly the batch it runs. When its pidfd fires, the
//! supervisor first reads what it sent (a reply written just before its
//! death still counts), then reaps it, fails the batch it still held with
//! [`Failure::WorkerDied`] (pid and exit code), and starts a replacement.
//! Nothing else is lost and nothing runs twice: a batch still queued was
//! never sent.
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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use super::wire::{Calls, Outcomes, Reply};
use super::worker::{Init, pool_worker};
use crate::multiprocessing::builder::ProcessBuilder;
use crate::multiprocessing::connection::{Connection, Pipe, Waitable, wait};
use crate::multiprocessing::error::{Error, describe_exit};
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

struct Batch {
    id: u64,
    frame: Vec<u8>,
    sink: Box<dyn Sink>,
}

struct Slot {
    proc: Process<()>,
    pid: i32,
    /// `None` once retired (told to exit).
    conn: Option<Arc<Connection>>,
    /// The channel ended (the worker is exiting): stop polling it.
    eof: bool,
    /// It said [`Reply::Ready`].
    ready: bool,
    busy: Option<(u64, Box<dyn Sink>)>,
    served: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Run,
    Close,
    Terminate,
}

struct State {
    slots: Vec<Slot>,
    pending: VecDeque<Batch>,
    phase: Phase,
    broken: Option<String>,
    /// The supervisor has exited: every worker is gone.
    finished: bool,
}

/// A worker as the supervisor watches it: pid, channel (unless ended or
/// retired), process.
type Watched = (i32, Option<Arc<Connection>>, Process<()>);

/// A frame to send once the lock is released.
struct Outgoing {
    conn: Arc<Connection>,
    proc: Process<()>,
    id: u64,
    frame: Vec<u8>,
}

pub(crate) struct Core {
    cfg: Config,
    st: Lock<State>,
    next_id: AtomicU64,
    started: AtomicUsize,
    wake_tx: Connection,
    wake_rx: Connection,
    supervisor: Lock<Option<JoinHandle<()>>>,
    supervisor_id: OnceLock<ThreadId>,
    /// Set when the supervisor is done (every worker gone).
    done: Event,
    /// Set once the first workers are started...
    up: Event,
    /// ...with why one could not be, if so.
    start_failed: Lock<Option<String>>,
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
        let (wake_tx, wake_rx) = Pipe(true)?;
        let core = Arc::new(Core {
            cfg,
            st: Lock::new(State {
                slots: Vec::new(),
                pending: VecDeque::new(),
                phase: Phase::Run,
                broken: None,
                finished: false,
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

    /// Queue a batch; it goes to an idle worker at once if there is one.
    /// On an error the sink is dropped without a call.
    pub(crate) fn submit(&self, calls: &Calls, sink: Box<dyn Sink>) -> Result<(), Failure> {
        let id = self.next_id.fetch_add(1, Relaxed);
        let frame = calls.frame(id).map_err(Failure::Io)?;
        let sends = {
            let mut st = self.st.acquire();
            if let Some(why) = &st.broken {
                return Err(Failure::Broken(why.clone()));
            }
            if st.phase != Phase::Run {
                return Err(Failure::Closed);
            }
            st.pending.push_back(Batch { id, frame, sink });
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
        let mut st = self.st.acquire();
        st.phase = Phase::Terminate;
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
        if self.supervisor_id.get() == Some(&std::thread::current().id()) {
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
    }

    fn wake(&self) {
        let _ = self.wake_tx.send_bytes(&[]);
    }

    fn send_all(&self, sends: Vec<Outgoing>) {
        for s in sends {
            match s.conn.send_bytes(&s.frame) {
                Ok(()) => {}
                Err(e @ Error::MessageTooLarge { .. }) => {
                    // Refused before a byte was written: the worker is
                    // fine, the batch fails.
                    let (sink, more) = {
                        let mut st = self.st.acquire();
                        let sink = st.slots.iter_mut().find_map(|sl| {
                            if sl.busy.as_ref().is_some_and(|b| b.0 == s.id) {
                                sl.busy.take().map(|b| b.1)
                            } else {
                                None
                            }
                        });
                        (sink, dispatch(&mut st))
                    };
                    if let Some(sink) = sink {
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

    // -----------------------------------------------------------------
    // The supervisor.

    fn supervise(self: Arc<Self>) {
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
                let idle = st.pending.is_empty() && st.slots.iter().all(|s| s.busy.is_none());
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
        let (watched, busy): (Vec<Watched>, bool) = {
            let st = self.st.acquire();
            let w = st
                .slots
                .iter()
                .map(|s| {
                    let c = if s.eof { None } else { s.conn.clone() };
                    (s.pid, c, s.proc.clone())
                })
                .collect();
            (w, st.slots.iter().any(|s| s.busy.is_some()))
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
            objects.push(p);
            what.push(What::Sentinel(i));
        }
        // A reply due soon is looked for (yielding between looks) before
        // the thread sleeps: a sleep and its wake-up cost more than a
        // short call.
        let mut spin = Spin::new(&SOCKET_READ);
        let mut ready = Ok(Vec::new());
        if busy {
            loop {
                ready = wait(&objects, Some(Duration::ZERO));
                if !matches!(&ready, Ok(r) if r.is_empty()) || !spin.next() {
                    break;
                }
            }
        }
        if matches!(&ready, Ok(r) if r.is_empty()) {
            ready = wait(&objects, None);
        }
        let ready = match ready {
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
                    let (pid, c, p) = &watched[w];
                    if let Some(c) = c {
                        self.read_replies(*pid, c, p);
                    }
                }
                What::Sentinel(w) => dead.push(watched[w].0),
            }
        }
        for pid in dead {
            self.worker_died(pid);
        }
    }

    /// Read every whole reply a worker has sent.
    fn read_replies(&self, pid: i32, c: &Connection, p: &Process<()>) {
        loop {
            match c.recv_frame_nonblocking() {
                Ok(Some((frame, _fds))) => {
                    if !self.reply(pid, &frame) {
                        let _ = p.kill();
                        return;
                    }
                }
                Ok(None) => return,
                Err(_) => {
                    // The end of its stream: it is exiting (or broke its
                    // channel); make sure, and let the pidfd report it.
                    if let Some(s) = self.st.acquire().slots.iter_mut().find(|s| s.pid == pid) {
                        s.eof = true;
                    }
                    let _ = p.kill();
                    return;
                }
            }
        }
    }

    /// Handle one reply; `false` if it breaks the protocol.
    fn reply(&self, pid: i32, frame: &[u8]) -> bool {
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
                    let Some(sink) = s.busy.take_if(|b| b.0 == id).map(|b| b.1) else {
                        return false;
                    };
                    s.served += 1;
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
                deliver(
                    sink,
                    outcomes.ok_or_else(|| Failure::Io("a reply that does not add up".into())),
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
            let st = self.st.acquire();
            st.slots
                .iter()
                .find(|s| s.pid == pid)
                .map(|s| (s.conn.clone(), s.proc.clone()))
        };
        let Some((conn, proc)) = found else { return };
        if let Some(c) = &conn {
            self.read_replies(pid, c, &proc);
        }
        let _ = proc.join();
        let exitcode = proc.exitcode().unwrap_or(255);
        let slot = {
            let mut st = self.st.acquire();
            let i = st.slots.iter().position(|s| s.pid == pid);
            i.map(|i| st.slots.remove(i))
        };
        let Some(slot) = slot else { return };
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
        if let Some((_, sink)) = slot.busy {
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
        Ok(Slot {
            proc,
            pid,
            conn: Some(Arc::new(ours)),
            eof: false,
            ready: false,
            busy: None,
            served: 0,
        })
    }

    /// Terminate or break: stop every worker, fail what they held and what
    /// is queued with `why`.
    fn stop(&self, why: Failure) {
        let (slots, pending) = {
            let mut st = self.st.acquire();
            (
                std::mem::take(&mut st.slots),
                std::mem::take(&mut st.pending),
            )
        };
        for s in &slots {
            let _ = s.proc.terminate();
        }
        for s in slots {
            if !matches!(s.proc.join_timeout(Duration::from_secs(1)), Ok(true)) {
                let _ = s.proc.kill();
                let _ = s.proc.join();
            }
            if let Some((_, sink)) = s.busy {
                deliver(sink, Err(why.clone()));
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

/// Hand a batch's outcomes to its sink. A panic there (a user's callback,
/// a result type's `Deserialize`) is reported and contained: the
/// supervisor must outlive it, or every other caller would wait forever.
fn deliver(sink: Box<dyn Sink>, r: Result<Outcomes<'_>, Failure>) {
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink.done(r))) {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("gilfree pool: a result's delivery panicked: {msg}");
    }
}

/// Tell a worker to exit: an empty frame. (Not just the end of its
/// channel: with the fork start method, workers forked later hold copies
/// of our end, so the worker might never see the end.)
fn stop_worker(c: &Connection) {
    let _ = c.send_bytes(&[]);
}

/// Hand pending batches to idle, ready workers. Under the lock; the
/// returned frames are sent after it is released.
fn dispatch(st: &mut State) -> Vec<Outgoing> {
    let mut out = Vec::new();
    if st.broken.is_some() || st.phase == Phase::Terminate {
        return out;
    }
    let State { slots, pending, .. } = st;
    for s in slots.iter_mut() {
        if pending.is_empty() {
            break;
        }
        if !s.ready || s.busy.is_some() || s.eof {
            continue;
        }
        let Some(conn) = &s.conn else { continue };
        while let Some(mut b) = pending.pop_front() {
            if !b.sink.start() {
                continue; // cancelled: dropped unsent
            }
            s.busy = Some((b.id, b.sink));
            out.push(Outgoing {
                conn: conn.clone(),
                proc: s.proc.clone(),
                id: b.id,
                frame: b.frame,
            });
            break;
        }
    }
    out
}
