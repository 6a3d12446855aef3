//! The errors of `gilfree::threading`, one variant per Python exception case.

/// What went wrong in a `threading` call.
///
/// Python raises `RuntimeError`, `ValueError` or
/// `threading.BrokenBarrierError`; each case is one variant here, with the
/// same meaning (and Python's message as its `Display`).
///
/// ```
/// use gilfree::threading::{Error, Lock};
/// let lock = Lock::new(());
/// assert_eq!(lock.release(), Err(Error::ReleaseUnlocked));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `RuntimeError: release unlocked lock` — `Lock.release()` on an
    /// unlocked lock.
    #[error("release unlocked lock")]
    ReleaseUnlocked,
    /// `RuntimeError: cannot release un-acquired lock` — an `RLock` released
    /// by a thread that does not own it.
    #[error("cannot release un-acquired lock")]
    NotOwner,
    /// `RuntimeError: cannot wait on un-acquired lock` (or notify) — a
    /// `Condition` used without holding its lock.
    #[error("cannot {0} on un-acquired lock")]
    NotHeld(&'static str),
    /// `ValueError: Semaphore released too many times` — a
    /// `BoundedSemaphore` released above its initial value.
    #[error("Semaphore released too many times")]
    TooManyReleases,
    /// `threading.BrokenBarrierError` — the barrier was broken (aborted,
    /// reset, an action failed or a wait timed out).
    #[error("barrier is broken")]
    BrokenBarrier,
    /// A timed wait ran out of time where Python would raise rather than
    /// return `False`.
    #[error("timed out")]
    Timeout,
    /// `RuntimeError: threads can only be started once`.
    #[error("threads can only be started once")]
    AlreadyStarted,
    /// `RuntimeError: cannot join thread before it is started`.
    #[error("cannot join thread before it is started")]
    NotStarted,
    /// `RuntimeError: cannot join current thread`.
    #[error("cannot join current thread")]
    JoinSelf,
    /// The thread's target panicked: what `join` reports (Python's `join`
    /// returns normally; the exception reaches only `threading.excepthook`).
    #[error("thread {name} panicked: {message}")]
    ThreadPanicked {
        /// The thread's name.
        name: String,
        /// The panic message.
        message: String,
    },
    /// The OS refused to create a thread (`RuntimeError: can't start new thread`).
    #[error("can't start new thread: {0}")]
    Spawn(String),
    /// `ValueError` for an argument out of range (a negative count, zero
    /// parties, …); the text says which.
    #[error("{0}")]
    Value(&'static str),
}
