//! The one spin policy: how long a waiter looks before it sleeps.
//!
//! A waiter that expects its condition within a few hundred nanoseconds
//! looks again a few times before it pays for a futex sleep (and its waker
//! for a futex wake). *How* it looks is a [`Policy`], a `const` value with
//! four numbers; the loop that carries it out is [`Spin`], written once here.
//! A spin runs in rounds:
//!
//! 1. the **ramp** (first round only): looks after 1, 2, 4, … 2^(ramp−1)
//!    pauses, to catch a wait that is about to end;
//! 2. `polls` looks, each `gap` pauses after the previous one;
//! 3. then, while yields are left (`yields`, and `limit` time if set), the
//!    waiter gives its core away (`sched_yield`), looks, and takes
//!    `yield_polls` more looks `gap` pauses apart: one more round.
//!
//! A pause is one `spin_loop` hint (~26 ns on the machine the measured
//! numbers come from). Under `--cfg loom` a bounded policy does not spin at
//! all (the model explores interleavings, not time); an unbounded one
//! ([`UNTIL_PROGRESS`]) yields to the model, which needs that to let the
//! thread it waits for run.
//!
//! # Which policy
//!
//! Use [`BRIEF`] (through [`spin_while`] for a single word) unless a
//! measurement shows a place needs other numbers; then name a policy here
//! with the numbers and a pointer to the measurement. The named policies
//! below carry each call site's numbers as they were when this module was
//! written, so converting a call site changes nothing; [`LOCK`]
//! (`docs/spin-policy.md`) and [`queue`] (measured on the host at run time)
//! are the ones with measurements.
//!
//! # How to use it
//!
//! On one atomic word (the common case), spin while the value says "not
//! yet" and get the last value read back:
//!
//! ```ignore
//! let v = sys::spin::spin_word(&word, &sys::spin::BRIEF, |v| v == EMPTY);
//! ```
//!
//! For anything else (an attempt that is not one load, a deadline to
//! honour, a try that may fail after the look), drive a [`Spin`]:
//!
//! ```ignore
//! let mut spin = Spin::new(&sys::spin::QUEUE);
//! loop {
//!     if let Some(r) = attempt() { return Some(r); }
//!     if spin.spent() { break; }           // budget used up: go and sleep
//!     if deadline.expired() { return None; } // the caller's own deadline
//!     spin.wait();                          // pause or yield, then look again
//! }
//! // ... futex sleep protocol ...
//! ```
//!
//! `spin.next()` is `!spent()` followed by `wait()`, for loops that have no
//! deadline to check in between.

#[cfg(not(loom))]
use std::time::Instant;

use super::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

/// How a waiter looks before it sleeps; see the module comment for the
/// round structure.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(loom, allow(dead_code))] // under loom only `yields` and `limit` are read
pub(crate) struct Policy {
    /// First-round looks after 1, 2, 4, … 2^(ramp−1) pauses.
    pub(crate) ramp: u32,
    /// First-round looks after the ramp, `gap` pauses apart.
    pub(crate) polls: u32,
    /// Pauses between two polls.
    pub(crate) gap: u32,
    /// How many times the waiter yields its core, each yield opening a
    /// round; [`UNBOUNDED`] yields until the caller stops looking.
    pub(crate) yields: u32,
    /// Looks after the one that follows each yield, `gap` pauses apart.
    pub(crate) yield_polls: u32,
    /// Stop yielding once this much time has passed since [`Spin::new`]
    /// (read only before a yield).
    pub(crate) limit: Option<Duration>,
}

/// `yields` value for a wait that only ends when the caller sees progress.
pub(crate) const UNBOUNDED: u32 = u32::MAX;

/// The plain bounded spin, for every place without a measurement of its
/// own: 100 looks one pause apart (~3 µs), no yields (as std's futex mutex).
pub(crate) const BRIEF: Policy = Policy {
    ramp: 0,
    polls: 100,
    gap: 1,
    yields: 0,
    yield_polls: 0,
    limit: None,
};

/// `threading::Lock`'s contended acquire while the word reads "held, nobody
/// sleeps": ramp 1, 2, 4 pauses; then sparse looks 50 pauses (~1.3 µs)
/// apart, 3 per round; 16 yields. Measured: `docs/spin-policy.md`.
pub(crate) const LOCK: Policy = Policy {
    ramp: 3,
    polls: 2,
    gap: 50,
    yields: 16,
    yield_polls: 2,
    limit: None,
};

/// The lock after a futex wake: one sparse round of [`LOCK`] without ramp
/// or yields, before it marks the word contended again.
pub(crate) const LOCK_AFTER_WAKE: Policy = Policy {
    ramp: 0,
    yields: 0,
    ..LOCK
};

/// The cross-process queue's wait before it sleeps (`queue::core::
/// wait_until` on a shared event count): ramp 1 … 32 pauses, then 4 yields
/// with one look after each — the thread queues' numbers before [`queue`]
/// replaced them, kept as they were: no run here measured the cross-process
/// rows with [`queue`]'s ramp (an earlier version of it, without yields,
/// made 1.3–2.3× the futex calls in `mp_queue_64b_1p1c`).
pub(crate) const QUEUE_SHARED: Policy = Policy {
    ramp: 6,
    polls: 0,
    gap: 0,
    yields: 4,
    yield_polls: 0,
    limit: None,
};

/// The thread queues' wait before it sleeps (`queue::core`): looks on a
/// ramp of 1, 2, 4, … pauses for about as long as the sleep it may save
/// would cost in syscalls — the waiter's `futex_wait` and the `futex_wake`
/// of whoever ends the wait — then yields [`QUEUE_YIELDS`] times, then
/// sleeps. The syscall cost is measured on the host, once per process (at
/// the first wait that spins; a few µs): the cheapest of 8 `futex_wake`s
/// on a word nobody waits on, in pauses (here 15–31 pauses: ramp 4 or 5).
pub(crate) fn queue() -> &'static Policy {
    #[cfg(loom)]
    {
        // A bounded policy does not spin under loom: the numbers are moot.
        &BRIEF
    }
    #[cfg(not(loom))]
    {
        static QUEUE: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
        QUEUE.get_or_init(|| queue_policy(sleep_cost_in_pauses()))
    }
}

/// Yields of [`queue`] after its ramp, each followed by a look. A yield
/// costs about one `futex_wake` here, and when the other side shares this
/// core it is the cheap hand-off: measured (docs/design-notes.md, "Queue
/// wait/wake, round 3"), at load 7–10 on 2 cores the bounded 1p1c row's
/// best samples were 28–39 ns per item with 4 yields and 45–62 ns with
/// none (≈10 futex calls per 1,000 items instead of 2 yields). The price:
/// under heavier load (12) a yield waits out other processes' time slices,
/// and then sleeping at once was 10–40× faster; the rows that matter are
/// measured quiet, so the yields stay.
const QUEUE_YIELDS: u32 = 4;

/// [`queue`]'s policy for a sleep that costs `pauses` pause instructions:
/// the shortest ramp that spans them (`2^ramp − 1 ≥ pauses`), 1 to 10
/// steps (1 to 1023 pauses).
#[cfg_attr(loom, allow(dead_code))]
fn queue_policy(pauses: u64) -> Policy {
    let ramp = (u64::BITS - pauses.leading_zeros()).clamp(1, 10);
    Policy {
        ramp,
        polls: 0,
        gap: 0,
        yields: QUEUE_YIELDS,
        yield_polls: 0,
        limit: None,
    }
}

/// What a futex sleep costs on this host in pauses: two syscalls (the
/// waiter's wait, the notifier's wake), each measured as the cheapest of 8
/// `futex_wake`s nobody waits on, over the cheapest of 4 runs of 64 pauses.
#[cfg(not(loom))]
#[cold]
fn sleep_cost_in_pauses() -> u64 {
    use super::futex::{self, Private};
    let word = AtomicU32::new(0);
    let wake = (0..8)
        .map(|_| {
            let t = Instant::now();
            futex::wake_all::<Private>(&word);
            t.elapsed()
        })
        .min()
        .unwrap_or_default();
    let pause64 = (0..4)
        .map(|_| {
            let t = Instant::now();
            pause(64);
            t.elapsed()
        })
        .min()
        .unwrap_or_default();
    let pause_ns = (pause64.as_nanos() / 64).max(1);
    u64::try_from(2 * wake.as_nanos() / pause_ns).unwrap_or(u64::MAX)
}

/// An idle thread-pool worker: 64 looks one pause apart, then 16 yields
/// with one look after each (a park costs the producer a wake per job).
pub(crate) const POOL_IDLE: Policy = Policy {
    ramp: 0,
    polls: 64,
    gap: 1,
    yields: 16,
    yield_polls: 0,
    limit: None,
};

/// A socket read that would block: retry, yielding between tries, for up to
/// 20 µs (a reply within that costs no sleep and no wake-up).
pub(crate) const SOCKET_READ: Policy = Policy {
    ramp: 0,
    polls: 0,
    gap: 0,
    yields: UNBOUNDED,
    yield_polls: 0,
    limit: Some(Duration::from_micros(20)),
};

/// An MPI rank polling for messages (`cluster`, feature `mpi`): 100
/// `Iprobe`s 4 pauses apart (some tens of µs; a small round trip is
/// 1.2–6 µs, `notes/mpi.md`), then the caller sleeps with backoff. No
/// yields: on a loaded machine a `sched_yield` gives the core away for a
/// whole round of the run queue, while a short sleep is woken with the
/// scheduler's credit for sleepers (measured: round trips of ms with
/// yields under load 20 on 2 cores).
#[cfg(feature = "mpi")]
pub(crate) const MPI_POLL: Policy = Policy {
    ramp: 0,
    polls: 100,
    gap: 4,
    yields: 0,
    yield_polls: 0,
    limit: None,
};

/// Waiting for another thread's progress that is certain to come soon (a
/// writer that claimed a slot is finishing it): ramp 1 … 64 pauses, then
/// yield until it is seen. Never sleeps; there is nothing to sleep on.
pub(crate) const UNTIL_PROGRESS: Policy = Policy {
    ramp: 7,
    polls: 0,
    gap: 0,
    yields: UNBOUNDED,
    yield_polls: 0,
    limit: None,
};

/// One waiter's progress through a [`Policy`].
#[cfg_attr(loom, allow(dead_code))] // under loom a spin keeps no count
pub(crate) struct Spin {
    policy: &'static Policy,
    /// Ramp steps taken.
    ramped: u32,
    /// Polls left in the current round.
    polls_left: u32,
    /// Yields taken.
    yielded: u32,
    /// When the spin began, if the policy has a time limit.
    #[cfg(not(loom))]
    start: Option<Instant>,
}

impl Spin {
    /// A spin at its start; the caller has usually looked once already.
    #[inline]
    pub(crate) fn new(policy: &'static Policy) -> Self {
        Spin {
            policy,
            ramped: 0,
            polls_left: policy.polls,
            yielded: 0,
            #[cfg(not(loom))]
            start: policy.limit.map(|_| Instant::now()),
        }
    }

    /// Whether the budget is used up: the caller should sleep (or give up)
    /// instead of calling [`wait`](Self::wait) again. Always true under loom
    /// for a bounded policy.
    #[inline]
    pub(crate) fn spent(&self) -> bool {
        let p = self.policy;
        #[cfg(loom)]
        {
            !(p.yields == UNBOUNDED && p.limit.is_none())
        }
        #[cfg(not(loom))]
        {
            if self.ramped < p.ramp || self.polls_left > 0 {
                return false;
            }
            if p.yields != UNBOUNDED && self.yielded >= p.yields {
                return true;
            }
            match (p.limit, self.start) {
                (Some(limit), Some(start)) => start.elapsed() >= limit,
                _ => false,
            }
        }
    }

    /// Wait before the next look: the next ramp step, a poll gap, or a
    /// yield that opens a new round.
    #[inline]
    pub(crate) fn wait(&mut self) {
        #[cfg(loom)]
        {
            loom::thread::yield_now();
        }
        #[cfg(not(loom))]
        {
            let p = self.policy;
            if self.ramped < p.ramp {
                pause(1 << self.ramped);
                self.ramped += 1;
            } else if self.polls_left > 0 {
                pause(p.gap);
                self.polls_left -= 1;
            } else {
                std::thread::yield_now();
                self.yielded = self.yielded.saturating_add(1);
                self.polls_left = p.yield_polls;
            }
        }
    }

    /// `wait` unless the budget is spent; returns whether it waited (so
    /// `false` means "sleep now").
    #[inline]
    pub(crate) fn next(&mut self) -> bool {
        if self.spent() {
            return false;
        }
        self.wait();
        true
    }
}

#[cfg(not(loom))]
#[inline]
fn pause(n: u32) {
    for _ in 0..n {
        core::hint::spin_loop();
    }
}

/// Look at `word` under `policy` while `f` says the value is still worth
/// waiting on; returns the last value read (which `f` rejected, or the one
/// read when the budget ran out).
#[inline]
pub(crate) fn spin_word(
    word: &AtomicU32,
    policy: &'static Policy,
    mut f: impl FnMut(u32) -> bool,
) -> u32 {
    let mut spin = Spin::new(policy);
    loop {
        let v = word.load(Relaxed);
        if !f(v) || !spin.next() {
            return v;
        }
    }
}

/// [`spin_word`] with [`BRIEF`]: the default short spin on one word before
/// a futex sleep.
#[inline]
pub(crate) fn spin_while(word: &AtomicU32, f: impl FnMut(u32) -> bool) -> u32 {
    spin_word(word, &BRIEF, f)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Counts the looks a policy allows (one before the first wait).
    fn looks(p: &'static Policy) -> u32 {
        let mut spin = Spin::new(p);
        let mut n = 1;
        while spin.next() {
            n += 1;
        }
        n
    }

    /// Each policy gives the number of looks its call site had before it
    /// was expressed here.
    #[test]
    fn policies_keep_their_call_sites_numbers() {
        assert_eq!(looks(&BRIEF), 101);
        // Ramp 3 + 2 polls, then 16 rounds of 1 + 2 looks.
        assert_eq!(looks(&LOCK), 1 + 3 + 2 + 16 * 3);
        assert_eq!(looks(&LOCK_AFTER_WAKE), 3);
        assert_eq!(looks(&QUEUE_SHARED), 1 + 6 + 4);
        assert_eq!(looks(&POOL_IDLE), 1 + 64 + 16);
    }

    /// The queue's policy spans the measured sleep cost with its ramp
    /// (1 to 1023 pauses), then yields `QUEUE_YIELDS` times.
    #[test]
    fn queue_policy_spans_the_sleep_cost() {
        for (pauses, ramp) in [
            (0, 1),
            (1, 1),
            (2, 2),
            (31, 5),
            (32, 6),
            (45, 6),
            (5000, 10),
        ] {
            let p = queue_policy(pauses);
            assert_eq!((p.ramp, p.yields), (ramp, QUEUE_YIELDS), "{pauses} pauses");
            assert!((1u64 << ramp) > pauses.min(1023));
        }
        let p = queue();
        assert!((1..=10).contains(&p.ramp) && p.yields == QUEUE_YIELDS);
        assert!(std::ptr::eq(p, queue()), "measured once");
    }

    /// A policy with unbounded yields and a time limit ends (the test
    /// finishing is the assertion).
    #[test]
    fn time_limit_ends_an_unbounded_spin() {
        assert!(looks(&SOCKET_READ) >= 1);
    }

    #[test]
    fn spin_word_returns_the_value_that_ended_it() {
        let w = AtomicU32::new(7);
        assert_eq!(spin_while(&w, |v| v == 0), 7);
        assert_eq!(spin_while(&w, |v| v == 7), 7);
    }
}
