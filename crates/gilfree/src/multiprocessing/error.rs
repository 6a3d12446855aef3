//! The errors of `gilfree::multiprocessing`.

use std::io;

/// What went wrong in a `multiprocessing` call.
///
/// Python raises `OSError`, `EOFError`, `ValueError`, `RuntimeError`,
/// `multiprocessing.AuthenticationError`, `BufferTooShort` or
/// `ProcessError`; each case is one variant here with the same meaning.
///
/// ```
/// use gilfree::multiprocessing::{Error, Pipe};
/// let (a, b) = Pipe(true).unwrap();
/// drop(b);
/// assert!(matches!(a.recv_bytes(), Err(Error::Eof)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `OSError`: a system call failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// `EOFError`: the other end of a connection was closed (between
    /// messages).
    #[error("EOF: the other end of the connection was closed")]
    Eof,
    /// The other end closed, or died, in the middle of a message.
    #[error("connection closed in the middle of a message ({got} of {want} bytes)")]
    Truncated {
        /// Bytes of the frame received.
        got: usize,
        /// Bytes the frame announced (header included).
        want: usize,
    },
    /// A frame announced a length above the connection's message size
    /// limit (Python: `OSError: bad message length`). The connection is
    /// unusable afterwards.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    MessageTooLarge {
        /// The announced length.
        len: u64,
        /// The connection's limit.
        max: usize,
    },
    /// `multiprocessing.BufferTooShort`: `recv_bytes_into` was given a buffer
    /// smaller than the message; the message is returned here, not lost.
    #[error("buffer too short for a message of {} bytes", .0.len())]
    BufferTooShort(Vec<u8>),
    /// Bytes that do not decode as the expected type (a message, task
    /// arguments or a task result).
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// A task's arguments did not decode in the child, or its result did
    /// not encode there or decode here: the task's registry name, what
    /// failed, and the reason, a type's own message where it gave one
    /// (the "3 is odd" of a `#[serde(try_from = "u32")]` type). Python
    /// raises the unpickling error in the child.
    #[error("cannot {what} of task {task}: {reason}")]
    TaskData {
        /// The task's registry name.
        task: String,
        /// "decode the arguments", "encode the result" or "decode the
        /// result".
        what: &'static str,
        /// The decoder's (or encoder's) message.
        reason: String,
    },
    /// A value could not be encoded.
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's message.
        reason: String,
    },
    /// `multiprocessing.AuthenticationError`: the peer failed the HMAC
    /// challenge (wrong auth key), or refused ours.
    #[error("authentication failed: {0}")]
    Authentication(&'static str),
    /// `OSError: handle is closed`: the object was closed.
    #[error("handle is closed")]
    Closed,
    /// A timed call ran out of time.
    #[error("timed out")]
    Timeout,
    /// A child did not complete its start handshake: it died, or did not
    /// answer within the handshake timeout (Python would hang or raise
    /// from the pipe).
    #[error("process failed to start: {0}")]
    StartFailed(String),
    /// `AssertionError: cannot start a process twice`.
    #[error("cannot start a process twice")]
    AlreadyStarted,
    /// `AssertionError: can only join a started process`.
    #[error("can only join (or signal) a started process")]
    NotStarted,
    /// `ValueError: Cannot close a process while it is still running`.
    #[error("cannot close a process while it is still running")]
    StillRunning,
    /// The fork-closure opt-in refused: the parent has several threads
    /// (forking it could deadlock the child), or the start method is not
    /// `Fork`.
    #[error("refusing to fork a closure: {0}")]
    ForkRefused(String),
    /// Python's `RuntimeError` "An attempt has been made to start a new
    /// process before the current process has finished its bootstrapping
    /// phase": [`init`](super::init) was not called first in `main` (named:
    /// this process, or the child, or the fork server, which re-executed
    /// the program and reached user code). No process was left running.
    #[error(
        "cannot start a process: {0} did not call gilfree::multiprocessing::init() first; {INIT_FIX}"
    )]
    NoInit(&'static str),
    /// The child is not known to the registry of tasks (it runs another
    /// binary, or the task was renamed).
    #[error(
        "unknown task {0:?} (is the child the same binary, and did main call multiprocessing::init()?)"
    )]
    UnknownTask(String),
    /// The task panicked in the child (exit code 1); the panic message.
    #[error("task panicked: {0}")]
    Panicked(String),
    /// The child ended without sending a result: it exited with this
    /// Python-style exit code (negative: killed by that signal).
    #[error("process ended with exit code {0} without a result")]
    NoResult(i32),
    /// A pool worker died while it held this call (Python's `Pool` hangs;
    /// `ProcessPoolExecutor` breaks the whole pool): its pid and its
    /// Python-style exit code (negative: killed by that signal, named in
    /// the message). The pool replaced it and goes on.
    #[error("pool worker {pid} {}", describe_exit(*exitcode))]
    WorkerDied {
        /// The worker's pid.
        pid: i32,
        /// Its exit code; `-n` for signal `n`.
        exitcode: i32,
    },
    /// The pool cannot run calls any more: a worker's initializer failed,
    /// a worker could not be started, or the pool was terminated; the text
    /// says which (Python: `BrokenProcessPool`, or a hang).
    #[error("the pool is broken: {0}")]
    BrokenPool(String),
    /// `RuntimeError` / `ValueError`: a call not allowed in this state; the
    /// text says why.
    #[error("{0}")]
    Value(String),
}

/// A Python-style exit code in words: `"exited with code 3"`, or `"was
/// killed by SIGKILL"` for `-9`.
pub(crate) fn describe_exit(exitcode: i32) -> String {
    if exitcode >= 0 {
        return format!("exited with code {exitcode}");
    }
    let sig = -exitcode;
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("was killed by signal {sig}"),
    };
    format!("was killed by {name}")
}

/// The fix of a missing `init()`, as every refusal states it.
pub(crate) const INIT_FIX: &str = "add `gilfree::multiprocessing::init();` as the first line of \
     `main` (or put `#[gilfree::main]` on `main`)";

impl Error {
    pub(crate) fn decode(what: &'static str, e: impl std::fmt::Display) -> Self {
        Error::Decode {
            what,
            reason: e.to_string(),
        }
    }
    pub(crate) fn encode(what: &'static str, e: impl std::fmt::Display) -> Self {
        Error::Encode {
            what,
            reason: e.to_string(),
        }
    }
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::Io(e.into())
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
