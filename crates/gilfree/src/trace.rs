//! A trace you can look at: thread-pool tasks (submitted, running,
//! finished), child processes (started, exited), process-pool batches
//! and long waits on gilfree's primitives, written as Chrome
//! trace events that open in Perfetto (`ui.perfetto.dev`) or
//! `chrome://tracing`. No Python equivalent (the nearest are
//! `sys.setprofile`/`threading.setprofile` hooks you write yourself, or
//! viztracer).
//!
//! Two ways to record one:
//!
//! - the environment: `GILFREE_TRACE=trace.json ./my_program` starts a
//!   trace when the first `ThreadPoolExecutor`, `ProcessPoolExecutor` or
//!   `Pool` is built; the file is written whenever a thread pool is
//!   dropped or a process pool joined, and by [`flush`]. Child processes
//!   do not inherit it (they trace nothing).
//!   `GILFREE_TRACE_WAIT_US` sets the wait threshold (default 20 µs).
//! - the API: [`start`] returns a guard; the file is written when it is
//!   dropped or [`Trace::finish`]ed.
//!
//! What you see: per thread, a `task` slice for each pool task it ran, an
//! arrow from the `submit` mark on the thread that submitted it, and
//! `wait lock` / `wait` slices where a thread slept on a contended lock or
//! on an event count (a queue, `futures::wait`, an idle pool worker) for
//! at least the threshold; `process start` and `process exit` marks (pid,
//! name, start method; exit code, and the signal if killed) on the thread
//! that started or reaped a child; and a track per child process (named
//! after it, its pid as Perfetto's process id) with a `process` slice over
//! its life and a `batch` slice for each call or chunk a pool worker ran,
//! from the frame sent to the reply read (`replied: false` if it failed).
//! All of it is recorded in the process that writes the file; a child's
//! own threads are not traced.
//!
//! When no trace is on, each hook costs one relaxed load of a global flag
//! (measured in instructions per op against a build without the hooks: no
//! difference beyond code layout in `executor_submit_result` or
//! `lock_contended_2t`; see `docs/design-notes.md`). While one is on, events
//! are kept in memory until written, and every event takes a process-wide
//! mutex: a trace is for looking, not for timing.
//!
//! ```
//! use gilfree::futures::ThreadPoolExecutor;
//! let path = std::env::temp_dir().join(format!("gilfree-trace-doc-{}.json", std::process::id()));
//! let trace = gilfree::trace::start(&path).unwrap();
//! let pool = ThreadPoolExecutor::builder().max_workers(2).build().unwrap();
//! assert_eq!(pool.submit(|| 6 * 7).unwrap().result(), Ok(42));
//! drop(pool);
//! trace.finish().unwrap();
//! let json = std::fs::read_to_string(&path).unwrap();
//! assert!(json.contains(r#""name":"task""#));
//! # std::fs::remove_file(&path).unwrap();
//! ```

use std::path::Path;

use crate::sys::trace as rec;

/// A trace being recorded; written to its file when dropped or
/// [`finish`](Trace::finish)ed. Made by [`start`].
///
/// ```
/// let path = std::env::temp_dir().join(format!("gilfree-trace-guard-{}.json", std::process::id()));
/// {
///     let _trace = gilfree::trace::start(&path).unwrap();
///     assert!(gilfree::trace::is_on());
/// } // written here
/// assert!(!gilfree::trace::is_on());
/// assert!(std::fs::read_to_string(&path).unwrap().starts_with('['));
/// # std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Debug)]
#[must_use = "the trace stops when this guard is dropped"]
pub struct Trace {
    done: bool,
}

impl Trace {
    /// Stop recording and write the file, reporting a write error (a drop
    /// ignores it).
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("gilfree-trace-finish-{}.json", std::process::id()));
    /// let trace = gilfree::trace::start(&path).unwrap();
    /// trace.finish().unwrap();
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn finish(mut self) -> std::io::Result<()> {
        self.done = true;
        rec::stop()
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        if !self.done {
            let _ = rec::stop();
        }
    }
}

/// Start recording a trace to `path` (created now). Fails if the file
/// cannot be created, or with `AlreadyExists` while another trace (the
/// API's or `GILFREE_TRACE`'s) is on: there is one per process.
///
/// ```
/// let path = std::env::temp_dir().join(format!("gilfree-trace-start-{}.json", std::process::id()));
/// let t = gilfree::trace::start(&path).unwrap();
/// assert!(gilfree::trace::start(&path).is_err()); // one at a time
/// drop(t);
/// # std::fs::remove_file(&path).unwrap();
/// ```
pub fn start(path: impl AsRef<Path>) -> std::io::Result<Trace> {
    rec::start(path.as_ref().to_path_buf())?;
    Ok(Trace { done: false })
}

/// Write what has been recorded so far (a complete JSON array), without
/// stopping; does nothing when no trace is on.
///
/// ```
/// gilfree::trace::flush().unwrap();
/// ```
pub fn flush() -> std::io::Result<()> {
    rec::flush()
}

/// Whether a trace is being recorded.
///
/// ```
/// # let _ = gilfree::trace::is_on();
/// ```
pub fn is_on() -> bool {
    rec::on()
}

/// Record waits that last at least `threshold` (default 20 µs, or
/// `GILFREE_TRACE_WAIT_US`).
///
/// ```
/// gilfree::trace::set_wait_threshold(std::time::Duration::from_micros(100));
/// ```
pub fn set_wait_threshold(threshold: std::time::Duration) {
    rec::set_wait_threshold(threshold.as_nanos().min(u64::MAX as u128) as u64);
}
