//! How an MPI rank waits for messages: MPI has no descriptor to sleep on,
//! so a rank polls (`Iprobe`). It yields between polls for a short while
//! (the [`MPI_POLL`](crate::sys::spin::MPI_POLL) spin: a reply within it
//! costs no sleep), then sleeps between polls, each sleep twice the last,
//! from 10 µs up to 1 ms (mpi4py.futures' ceiling). So an idle server rank
//! polls about a thousand times a second and uses well under 5% of a core,
//! and the first message after a long idle spell waits at most ~1 ms.
//! Any message resets the schedule.

use std::time::Duration;

use crate::sys::spin::{MPI_POLL, Spin};

const FIRST_SLEEP: Duration = Duration::from_micros(10);
const LAST_SLEEP: Duration = Duration::from_millis(1);

/// One rank's place in the schedule.
pub(super) struct Backoff {
    spin: Spin,
    sleep: Duration,
}

impl Backoff {
    pub(super) fn new() -> Self {
        Backoff {
            spin: Spin::new(&MPI_POLL),
            sleep: FIRST_SLEEP,
        }
    }

    /// Something arrived: start again from the spin.
    pub(super) fn reset(&mut self) {
        *self = Backoff::new();
    }

    /// Yield before the next poll while the spin lasts (`true`); `false`
    /// once it is spent: the caller sleeps [`next_sleep`](Self::next_sleep).
    pub(super) fn spin(&mut self) -> bool {
        if self.spin.spent() {
            return false;
        }
        self.spin.wait();
        true
    }

    /// How long to sleep before the next poll; doubles up to 1 ms.
    pub(super) fn next_sleep(&mut self) -> Duration {
        let d = self.sleep;
        self.sleep = (d * 2).min(LAST_SLEEP);
        d
    }
}
