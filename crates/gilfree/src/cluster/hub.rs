//! Rank 0's communication thread, the *hub*: it makes rank 0's MPI calls
//! after `init()`, but one, under its wire lock: a thread posting a batch
//! while the hub sleeps with nothing in flight sends it itself
//! ([`Hub::post`]).
//!
//! Executors (any thread) push batches onto the hub's inbox and bump
//! `posted`; the hub takes them in order and sends each to a server rank
//! with room, at most [`DEPTH`] batches per rank (one running, one queued
//! behind it, so a rank never waits a round trip for its next batch). A
//! batch's sink is started (`Sink::start`) only when it is sent: until
//! then its future can be cancelled, and `shutdown(cancel_futures)` takes
//! it back out of the inbox.
//!
//! Sends are `Isend`s, so the hub never blocks on a busy rank: it keeps
//! taking replies from every rank while a large argument is in flight (a
//! blocking send to a rank that is itself blocked sending a large reply
//! would deadlock both). A server answers its batches in order, so a reply
//! belongs to the oldest batch in flight on that rank.
//!
//! # Waiting
//!
//! With nothing in flight, the hub sleeps on an event count until a batch
//! is posted, at once, without spinning and without a timeout: no message
//! can come (servers only answer batches), and the thread the last reply
//! woke is the one that will post next, so the core is its. With work in flight it polls
//! `Iprobe` on the [`Backoff`] schedule, its sleeps cut short by a new
//! batch; with every rank full (each has its next batch queued) it skips
//! the spin and only sleeps between polls, leaving the cores to the
//! ranks. So of rank 0's two threads only one wants a core during a
//! `submit(...).result()` round trip (design-notes, "Cluster"). Every
//! check of the inbox is preceded by a read of `posted`, and the wait
//! condition is "`posted` moved since", so a batch posted at any moment is
//! either seen by the check or wakes the wait.
//!
//! # Stopping
//!
//! At the program's exit (`atexit`), `stop` is set: the hub cancels what
//! is still in the inbox, tells every server to stop (after the batches it
//! holds), takes the replies still due, completes its sends and returns;
//! the main thread then finalises MPI.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::request::{Request, StaticScope};
use mpi::topology::{Communicator, SimpleCommunicator};

use super::backoff::Backoff;
use super::{RUN, STOP};
use crate::multiprocessing::pool::core::{Failure, Sink, deliver};
use crate::multiprocessing::pool::wire::{Outcomes, Reply};
use crate::sys::{Deadline, EventCount};
use crate::threading::Lock;

/// Batches in flight per server rank.
const DEPTH: usize = 2;

/// The most one MPI message carries here (its count is a C `int`).
const MAX_MESSAGE: usize = i32::MAX as usize;

/// One executor's batches not finished yet: `shutdown(wait=True)` waits
/// for none.
pub(super) struct Owner {
    live: AtomicUsize,
    idle: EventCount,
}

impl Owner {
    pub(super) fn new() -> Arc<Owner> {
        Arc::new(Owner {
            live: AtomicUsize::new(0),
            idle: EventCount::new(),
        })
    }

    /// Wait until every batch taken so far is done or dropped.
    pub(super) fn wait_idle(&self) {
        let idle = || (self.live.load(Ordering::Acquire) == 0).then_some(());
        if idle().is_none() {
            self.idle.block_until(Deadline::Never, idle);
        }
    }
}

/// Counts one batch in its owner's `live` until dropped (delivered,
/// cancelled or refused).
pub(super) struct Ticket(Arc<Owner>);

impl Ticket {
    pub(super) fn new(owner: &Arc<Owner>) -> Ticket {
        owner.live.fetch_add(1, Ordering::Relaxed);
        Ticket(owner.clone())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify();
        }
    }
}

/// A batch on its way: its frame, where its outcomes go, whose it is.
pub(super) struct Batch {
    pub(super) id: u64,
    pub(super) frame: Vec<u8>,
    pub(super) sink: Box<dyn Sink>,
    pub(super) ticket: Ticket,
}

/// The batches on the wire, and who may put more there: held by the
/// thread making MPI calls (the hub, or a poster sending for an idle hub),
/// so that MPI sees one call at a time (`MPI_THREAD_SERIALIZED`).
struct Wire {
    /// Per rank, the batches sent and not answered, oldest first.
    flights: Vec<VecDeque<Flight>>,
    sends: Vec<Sending>,
    /// The servers were told to stop: nothing more is sent.
    stopping: bool,
}

/// What rank 0's threads share with the hub.
pub(super) struct Hub {
    inbox: Lock<VecDeque<Batch>>,
    /// Bumped after every push onto the inbox, and by `stop`.
    posted: AtomicU64,
    wake: EventCount,
    /// The hub sleeps with nothing in flight: a poster sends its batch
    /// itself (see [`post`](Hub::post)).
    idle: AtomicBool,
    wire: Lock<Wire>,
    stop: AtomicBool,
    next_id: AtomicU64,
    /// Server ranks.
    pub(super) servers: usize,
}

impl Hub {
    pub(super) fn new(servers: usize) -> Hub {
        Hub {
            inbox: Lock::new(VecDeque::new()),
            posted: AtomicU64::new(0),
            wake: EventCount::new(),
            idle: AtomicBool::new(false),
            wire: Lock::new(Wire {
                flights: (0..=servers).map(|_| VecDeque::new()).collect(),
                sends: Vec::new(),
                stopping: false,
            }),
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            servers,
        }
    }

    pub(super) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Queue a batch for the hub. A frame too large for one MPI message
    /// is refused here.
    ///
    /// When the hub sleeps with nothing in flight, the poster sends the
    /// batch itself (under the wire lock, so still one MPI call at a time)
    /// before it wakes the hub: the batch is on its way to a rank while the
    /// hub wakes up to take the reply, instead of after. A `submit().
    /// result()` round trip then has one wake-up on its path (the caller's,
    /// on its future), not two (design-notes, "Cluster: the round trip").
    /// A poster never waits for the wire lock: if the hub (or another
    /// poster) holds it, the hub sends the batch as before.
    pub(super) fn post(&self, b: Batch) -> Result<(), Failure> {
        if b.frame.len() > MAX_MESSAGE {
            return Err(Failure::Io(format!(
                "a batch of {} bytes: one MPI message carries at most {MAX_MESSAGE} bytes",
                b.frame.len()
            )));
        }
        self.inbox.acquire().push_back(b);
        self.posted.fetch_add(1, Ordering::Release);
        if self.idle.load(Ordering::Acquire)
            && let Some(mut wire) = self.wire.try_acquire()
            && !wire.stopping
        {
            self.dispatch(&SimpleCommunicator::world(), &mut wire);
        }
        self.wake.notify();
        Ok(())
    }

    /// Take `owner`'s batches not sent yet out of the inbox and cancel
    /// them: `shutdown(cancel_futures=True)`.
    pub(super) fn cancel_pending(&self, owner: &Arc<Owner>) {
        let taken: Vec<Batch> = {
            let mut inbox = self.inbox.acquire();
            let (mine, rest): (VecDeque<Batch>, VecDeque<Batch>) = std::mem::take(&mut *inbox)
                .into_iter()
                .partition(|b| Arc::ptr_eq(&b.ticket.0, owner));
            *inbox = rest;
            mine.into()
        };
        for b in taken {
            b.sink.cancel();
        }
    }

    /// Ask the hub to finish (see the module doc); the caller joins it.
    pub(super) fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.posted.fetch_add(1, Ordering::Release);
        self.wake.notify();
    }

    /// The hub's whole life, on its own thread.
    pub(super) fn run(&self) {
        let world = SimpleCommunicator::world();
        let mut backoff = Backoff::new();
        let mut replies: Vec<(Flight, usize, Vec<u8>)> = Vec::new();
        loop {
            let seen = self.posted.load(Ordering::Acquire);
            let (sent, busy, full, stopping) = {
                let mut wire = self.wire.acquire();
                let w = &mut *wire;
                // Replies first: they make room for the next batches.
                while let Some(probed) = world.any_process().immediate_matched_probe() {
                    let (frame, status) = probed.matched_receive_vec::<u8>();
                    let rank = status.source_rank() as usize;
                    match w.flights.get_mut(rank).and_then(VecDeque::pop_front) {
                        Some(f) => replies.push((f, rank, frame)),
                        None => {
                            eprintln!(
                                "gilfree cluster: a reply from rank {rank} that nobody awaits"
                            )
                        }
                    }
                }
                let sent = !w.stopping && self.dispatch(&world, w);
                w.sends.retain_mut(|s| !s.test());
                if !w.stopping && self.stop.load(Ordering::Acquire) {
                    w.stopping = true;
                    self.cancel_all();
                    for rank in 1..=self.servers {
                        w.sends.push(Sending::start(&world, rank, Vec::new(), STOP));
                    }
                }
                let busy = !w.sends.is_empty() || w.flights.iter().any(|f| !f.is_empty());
                let full = w.flights[1..].iter().all(|f| f.len() >= DEPTH);
                (sent, busy, full, w.stopping)
            };
            // Delivered outside the wire lock: a done-callback may post.
            let progress = sent || !replies.is_empty();
            for (f, rank, frame) in replies.drain(..) {
                f.finish(rank, &frame);
            }
            if stopping && !busy {
                return;
            }
            if progress {
                backoff.reset();
                continue;
            }
            // Spin only while a reply may come. With nothing in flight no
            // message can arrive (servers only answer batches) and the next
            // event is a post: block on the event count at once, so that the
            // thread that will post (which the last reply woke) has the core.
            // With every rank full there is nothing to send until a reply
            // comes, and each rank has its next batch queued: sleep instead
            // of spinning, leaving the cores to the ranks (on one machine
            // they share them).
            if busy && !full && backoff.spin() {
                continue;
            }
            let posted = || (self.posted.load(Ordering::Acquire) != seen).then_some(());
            // Idle, the wait has no timeout: a post wakes it (the event
            // count's protocol), and nothing else can give the hub work.
            // (The CI hang once blamed on this wait was the test's own: a
            // call it expected to run was cancelled by its
            // `shutdown(cancel_futures)` before the hub sent it; the hub was
            // not even idle. Design-notes, "Cluster: the shutdown hang".)
            let deadline = if busy {
                Deadline::after(backoff.next_sleep())
            } else {
                Deadline::Never
            };
            // Idle, a poster sends for the hub; the hub still wakes (every
            // post notifies) to take the reply.
            self.idle.store(!busy, Ordering::Release);
            let woken = self.wake.block_until(deadline, posted).is_some();
            self.idle.store(false, Ordering::Relaxed);
            if woken {
                backoff.reset();
            }
        }
    }

    /// Send inbox batches to ranks with room; whether any went.
    fn dispatch(&self, world: &SimpleCommunicator, wire: &mut Wire) -> bool {
        let Wire { flights, sends, .. } = wire;
        let mut sent = false;
        loop {
            // The rank with the fewest batches in flight, if it has room.
            let Some(rank) = (1..flights.len())
                .min_by_key(|&r| flights[r].len())
                .filter(|&r| flights[r].len() < DEPTH)
            else {
                return sent;
            };
            let batch = {
                let mut inbox = self.inbox.acquire();
                loop {
                    match inbox.pop_front() {
                        None => return sent,
                        Some(mut b) => {
                            if b.sink.start() {
                                break b;
                            }
                            // Cancelled: dropped unsent.
                        }
                    }
                }
            };
            let Batch {
                id,
                frame,
                sink,
                ticket,
            } = batch;
            sends.push(Sending::start(world, rank, frame, RUN));
            flights[rank].push_back(Flight {
                id,
                sink,
                _ticket: ticket,
            });
            sent = true;
        }
    }

    fn cancel_all(&self) {
        let taken = std::mem::take(&mut *self.inbox.acquire());
        for b in taken {
            b.sink.cancel();
        }
    }
}

/// A batch sent to a rank, waiting for its reply.
struct Flight {
    id: u64,
    sink: Box<dyn Sink>,
    _ticket: Ticket,
}

impl Flight {
    /// Hand the reply `frame` from `rank` to the batch's sink.
    fn finish(self, rank: usize, frame: &[u8]) {
        let r = match postcard::from_bytes::<Reply<'_>>(frame) {
            Ok(Reply::Done {
                id,
                lens,
                failed,
                data,
            }) if id == self.id => Outcomes::new(lens.0, failed, data.0).ok_or_else(|| {
                Failure::Io(format!("a reply from rank {rank} that does not add up"))
            }),
            _ => Err(Failure::Io(format!(
                "a reply from rank {rank} that is not batch {}'s",
                self.id
            ))),
        };
        deliver(self.sink, r);
    }
}

/// An `Isend` in progress and the buffer it reads. The buffer is leaked
/// into a `'static` slice for MPI while the send runs, and freed once the
/// send is complete.
struct Sending {
    req: Option<Request<'static, [u8]>>,
    buf: *mut [u8],
}

// SAFETY: the buffer is owned by the `Sending` alone (nothing else points
// into it but the request), and the request handle (a pointer with Open
// MPI) may be tested from any thread as long as MPI calls are made one at a
// time, which the wire lock that holds every `Sending` ensures.
unsafe impl Send for Sending {}

impl Sending {
    fn start(world: &SimpleCommunicator, rank: usize, frame: Vec<u8>, tag: i32) -> Sending {
        let buf = Box::into_raw(frame.into_boxed_slice());
        // SAFETY: `buf` comes from `Box::into_raw` and is freed only in
        // `test`, after the request that reads it is complete; nothing
        // writes to it meanwhile.
        let data: &'static [u8] = unsafe { &*buf };
        let req =
            world
                .process_at_rank(rank as i32)
                .immediate_send_with_tag(StaticScope, data, tag);
        Sending {
            req: Some(req),
            buf,
        }
    }

    /// Whether the send is complete (its buffer then freed).
    fn test(&mut self) -> bool {
        let Some(req) = self.req.take() else {
            return true;
        };
        match req.test() {
            Ok(_) => {
                // SAFETY: the request is complete, so MPI no longer reads
                // the buffer, and the `'static` slice made from it went
                // with the request: this is the only reference left.
                drop(unsafe { Box::from_raw(self.buf) });
                true
            }
            Err(req) => {
                self.req = Some(req);
                false
            }
        }
    }
}
