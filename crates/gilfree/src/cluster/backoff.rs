//! How an MPI rank waits for messages: MPI has no descriptor to sleep on,
//! so a rank polls (`Iprobe`). For [`SPIN_TIME`] (50 µs) after a message it polls
//! without sleeping (rounds of the [`MPI_POLL`](crate::sys::spin::MPI_POLL)
//! spin: the next message of an exchange costs no sleep and no wake-up;
//! no yields, which under load gave the core away for a whole run-queue
//! round), then sleeps between polls: [`SHORT_SLEEPS`] sleeps of 10 µs
//! (a few ms of short naps, so a busy exchange on a loaded machine stays
//! quick), then each sleep twice the last, up to 1 ms (mpi4py.futures'
//! ceiling). So an idle server rank polls about a thousand times a second
//! and uses well under 5% of a core, and the first message after a long
//! idle spell waits at most ~1 ms. Any message resets the schedule.
//!
//! Every polling thread asks for a timer slack of 1 µs, so that its short
//! sleeps are short (the default slack of 50 µs makes a 10 µs sleep ~60).

use std::time::{Duration, Instant};

use crate::sys::os;
use crate::sys::spin::{MPI_POLL, Spin};

/// Make the calling thread's short sleeps short: it is about to poll.
pub(super) fn poller_thread() {
    os::thread::set_timer_slack(1_000);
}

/// How long a rank polls without sleeping after a message. It burns this
/// much CPU after each exchange, never while idle. Long enough for the
/// next message of a quiet exchange (a `submit().result()` loop sends
/// rank 1 its next batch 10–15 µs after the reply), short enough that a
/// loaded machine does not see the rank as a CPU hog: with 500 µs, runs
/// under a load of 13 on 2 cores settled near 2 ms per round trip, with
/// 50 µs at 0.4–0.8 ms (design-notes, "Cluster").
const SPIN_TIME: Duration = Duration::from_micros(50);
const FIRST_SLEEP: Duration = Duration::from_micros(10);
const LAST_SLEEP: Duration = Duration::from_millis(1);
/// Sleeps of [`FIRST_SLEEP`] before the sleeps grow.
const SHORT_SLEEPS: u32 = 32;

/// One rank's place in the schedule.
pub(super) struct Backoff {
    spin: Spin,
    /// Spin until then.
    spin_until: Instant,
    sleep: Duration,
    short_left: u32,
}

impl Backoff {
    pub(super) fn new() -> Self {
        Backoff {
            spin: Spin::new(&MPI_POLL),
            spin_until: Instant::now() + SPIN_TIME,
            sleep: FIRST_SLEEP,
            short_left: SHORT_SLEEPS,
        }
    }

    /// Something arrived: start again from the spin.
    pub(super) fn reset(&mut self) {
        *self = Backoff::new();
    }

    /// Pause before the next poll while the spin lasts (`true`); `false`
    /// once it is spent: the caller sleeps [`next_sleep`](Self::next_sleep).
    pub(super) fn spin(&mut self) -> bool {
        if self.spin.spent() {
            // One round done: another while the window lasts.
            if Instant::now() >= self.spin_until {
                return false;
            }
            self.spin = Spin::new(&MPI_POLL);
        }
        self.spin.wait();
        true
    }

    /// How long to sleep before the next poll: short at first, then
    /// doubling up to 1 ms.
    pub(super) fn next_sleep(&mut self) -> Duration {
        if self.short_left > 0 {
            self.short_left -= 1;
            return FIRST_SLEEP;
        }
        let d = self.sleep;
        self.sleep = (d * 2).min(LAST_SLEEP);
        d
    }
}
