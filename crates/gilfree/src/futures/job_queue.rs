//! The thread pool's job queue: an MPMC `VecDeque` behind a short
//! critical section (`threading::Lock`), closed with a reason when the pool
//! shuts down or breaks, and idle workers parked on an [`EventCount`].
//!
//! A push makes its change under the lock, then notifies the event count:
//! a fence and a load, no syscall, while every worker is busy. A worker
//! that finds the queue empty spins briefly on `queued` (no lock), then
//! waits with `sys::event_count`'s protocol (announce, re-check under the
//! lock, sleep), so a job pushed after its look is seen by that push's
//! notify. A push wakes one parked worker (`EventCount::notify_one`: any
//! idle worker can run any job, so waking them all would only send the
//! others back to sleep); closing the queue wakes them all.

use std::collections::VecDeque;

use super::Error;
use crate::sys::atomic::{AtomicUsize, Ordering::Relaxed};
use crate::sys::spin::{self, Spin};
use crate::sys::{Deadline, EventCount};
use crate::threading::Lock;

struct State<J> {
    jobs: VecDeque<J>,
    /// Why pushes fail, once closed (shut down or broken).
    closed: Option<Error>,
}

/// Jobs for the pool's workers.
pub(crate) struct JobQueue<J> {
    state: Lock<State<J>>,
    /// `jobs.len()`, for spinning without the lock.
    queued: AtomicUsize,
    /// Idle workers sleep here.
    arrived: EventCount,
}

impl<J> JobQueue<J> {
    pub(crate) fn new() -> Self {
        JobQueue {
            state: Lock::new(State {
                jobs: VecDeque::new(),
                closed: None,
            }),
            queued: AtomicUsize::new(0),
            arrived: EventCount::new(),
        }
    }

    /// Push `job` unless closed; `then` runs under the lock after a
    /// successful push (the pool starts threads there). A refused job is
    /// handed back with the reason.
    #[inline]
    pub(crate) fn push(&self, job: J, then: impl FnOnce()) -> Result<(), (J, Error)> {
        {
            let mut st = self.state.acquire();
            if let Some(e) = &st.closed {
                return Err((job, e.clone()));
            }
            st.jobs.push_back(job);
            self.queued.store(st.jobs.len(), Relaxed);
            then();
        }
        self.arrived.notify_one();
        Ok(())
    }

    /// `Some(Some(job))`, `Some(None)` once closed and empty, `None` if
    /// empty for now.
    fn try_pop(&self) -> Option<Option<J>> {
        let mut st = self.state.acquire();
        match st.jobs.pop_front() {
            Some(j) => {
                self.queued.store(st.jobs.len(), Relaxed);
                Some(Some(j))
            }
            None if st.closed.is_some() => Some(None),
            None => None,
        }
    }

    /// The next job, sleeping while there is none; `None` once the queue
    /// is closed and empty.
    pub(crate) fn pop(&self) -> Option<J> {
        loop {
            if let Some(r) = self.try_pop() {
                return r;
            }
            // Spin briefly: a busy producer refills the queue within a few
            // hundred nanoseconds far more often than not. Then give the
            // CPU away a few times before parking: with more runnable
            // threads than cores the producer may need this one, and a park
            // costs the producer a `futex_wake`.
            let mut spin = Spin::new(&spin::POOL_IDLE);
            loop {
                if self.queued.load(Relaxed) > 0 || !spin.next() {
                    break;
                }
            }
            if self.queued.load(Relaxed) > 0 {
                continue;
            }
            return self
                .arrived
                .block_until(Deadline::Never, || self.try_pop())
                .flatten();
        }
    }

    /// Refuse further pushes with `why` (the first reason sticks) and wake
    /// every worker; returns the jobs still queued if `drain`.
    pub(crate) fn close(&self, why: Error, drain: bool) -> Vec<J> {
        let jobs = {
            let mut st = self.state.acquire();
            if st.closed.is_none() {
                st.closed = Some(why);
            }
            let jobs = if drain {
                st.jobs.drain(..).collect()
            } else {
                Vec::new()
            };
            self.queued.store(st.jobs.len(), Relaxed);
            jobs
        };
        self.arrived.notify();
        jobs
    }

    /// Jobs waiting.
    pub(crate) fn len(&self) -> usize {
        self.queued.load(Relaxed)
    }
}
