//! The errors of `gilfree::futures`, one variant per Python exception case.

/// What went wrong with a future or an executor.
///
/// Python raises `concurrent.futures.CancelledError`, `TimeoutError`,
/// `BrokenThreadPool`, `InvalidStateError` or `RuntimeError`, or re-raises
/// the task's own exception; each case is one variant here, with the same
/// meaning (and Python's message as its `Display`). A task's panic plays the
/// part of a task's exception: [`Error::Panicked`] carries its message.
///
/// ```
/// use gilfree::futures::{Error, Future};
/// let f: Future<u32> = Future::new();
/// assert!(f.cancel());
/// assert_eq!(f.result(), Err(Error::Cancelled));
/// assert_eq!(Error::ShutDown.to_string(), "cannot schedule new futures after shutdown");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `concurrent.futures.CancelledError`: the future was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// `TimeoutError`: a timed wait (`result_timeout`, `map`'s or
    /// `as_completed`'s timeout) ran out of time.
    #[error("timed out")]
    Timeout,
    /// `concurrent.futures.thread.BrokenThreadPool`: a worker's initializer
    /// failed, so the pool is unusable; the text says why.
    #[error("{0}")]
    BrokenThreadPool(String),
    /// `concurrent.futures.process.BrokenProcessPool`: a worker's
    /// initializer failed or a worker could not be started, so the process
    /// pool is unusable; the text says why.
    #[error("{0}")]
    BrokenProcessPool(String),
    /// A process-pool worker died while it ran this call (Python breaks the
    /// whole pool instead): its pid and Python-style exit code (negative:
    /// the signal, named in the message). The pool replaced it.
    #[error("process pool worker {pid} {}", crate::multiprocessing::describe_exit(*exitcode))]
    WorkerDied {
        /// The worker's pid.
        pid: i32,
        /// Its exit code; `-n` for signal `n`.
        exitcode: i32,
    },
    /// A process-pool call failed for another reason than a panic: its
    /// result did not decode, its task is unknown to the worker, ...; the
    /// text says which.
    #[error("{0}")]
    Process(String),
    /// `RuntimeError: cannot schedule new futures after shutdown`.
    #[error("cannot schedule new futures after shutdown")]
    ShutDown,
    /// The task raised: in Rust, it panicked. Carries the panic message.
    #[error("task panicked: {0}")]
    Panicked(String),
    /// `concurrent.futures.InvalidStateError`: an operation not allowed in
    /// the future's state (setting a result twice, taking a result that
    /// was already taken).
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// The MPI cluster executor cannot run (feature `mpi`): the program
    /// was not started by `mpiexec`, has no worker ranks (`mpiexec -n 1`),
    /// or MPI was initialised by someone else; the text says which and
    /// what to run.
    #[error("{0}")]
    Mpi(String),
    /// `ValueError` for an argument out of range; the text says which.
    #[error("{0}")]
    Value(&'static str),
}
