//! Deadlines: Python's `(block, timeout)` as one absolute instant.
//!
//! A timeout is turned into a [`Deadline`] once, at the start of a call.
//! Every retry after a spurious wake-up waits only for what is left, so
//! retries never stretch a timeout. A duration too large to add to `now`
//! saturates to "never" instead of panicking (Python's `threading.TIMEOUT_MAX`
//! is a limit; ours is the clock's range).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One instant in the past, the same for every `block=False` call: taken
/// from the clock once per process, so that a `try_get`, `try_acquire` or
/// `poll()` never reads the clock to say "don't wait" (a clock read is
/// ~25 ns here, as much as the whole uncontended `get`).
fn past() -> Instant {
    static PAST: OnceLock<Instant> = OnceLock::new();
    *PAST.get_or_init(Instant::now)
}

/// When a blocking call gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Block until the condition holds (`block=True, timeout=None`).
    Never,
    /// Give up at this instant (`timeout=t`). An instant in the past means
    /// "try once" (`block=False`).
    At(Instant),
}

#[allow(dead_code)]
impl Deadline {
    /// `block=True, timeout=None`.
    #[inline]
    pub(crate) const fn never() -> Self {
        Deadline::Never
    }

    /// `block=False`: the deadline has already passed. Not the current
    /// time (that is `Instant::now()`): a fixed instant in the past, so
    /// that making and checking it reads no clock.
    #[inline]
    pub(crate) fn now() -> Self {
        Deadline::At(past())
    }

    /// `timeout=d`, computed once from now; saturates to [`Deadline::Never`].
    #[inline]
    pub(crate) fn after(d: Duration) -> Self {
        match Instant::now().checked_add(d) {
            Some(t) => Deadline::At(t),
            None => Deadline::Never,
        }
    }

    /// Python's `(block, timeout)` pair: a `None` timeout blocks forever.
    pub(crate) fn from_python(block: bool, timeout: Option<Duration>) -> Self {
        match (block, timeout) {
            (false, _) => Deadline::now(),
            (true, None) => Deadline::Never,
            (true, Some(d)) => Deadline::after(d),
        }
    }

    /// Time left, `None` for never. Zero once expired.
    #[inline]
    pub(crate) fn remaining(&self) -> Option<Duration> {
        match self {
            Deadline::Never => None,
            Deadline::At(t) if *t == past() => Some(Duration::ZERO),
            Deadline::At(t) => Some(t.saturating_duration_since(Instant::now())),
        }
    }

    /// Whether the deadline has passed.
    #[inline]
    pub(crate) fn expired(&self) -> bool {
        match self {
            Deadline::Never => false,
            Deadline::At(t) => *t == past() || Instant::now() >= *t,
        }
    }

    /// The absolute instant, `None` for never.
    #[inline]
    pub(crate) fn instant(&self) -> Option<Instant> {
        match self {
            Deadline::Never => None,
            Deadline::At(t) => Some(*t),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate() {
        assert_eq!(Deadline::after(Duration::MAX), Deadline::Never);
        assert_eq!(Deadline::after(Duration::MAX).remaining(), None);
        assert!(!Deadline::after(Duration::from_secs(u64::MAX)).expired());
    }

    #[test]
    fn zero_and_now_are_expired() {
        assert!(Deadline::now().expired());
        // One fixed instant, already past: made and checked without a clock.
        assert_eq!(Deadline::now(), Deadline::now());
        assert!(Deadline::now().instant().unwrap() <= Instant::now());
        assert!(Deadline::after(Duration::ZERO).expired());
        assert_eq!(
            Deadline::from_python(false, None).remaining(),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn remaining_never_grows() {
        let d = Deadline::after(Duration::from_secs(5));
        let a = d.remaining().unwrap();
        let b = d.remaining().unwrap();
        assert!(b <= a && a <= Duration::from_secs(5));
        assert_eq!(Deadline::from_python(true, None), Deadline::Never);
    }
}
