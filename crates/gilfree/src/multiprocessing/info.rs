//! Who this process is, and the machine: Python's `current_process()`,
//! `parent_process()`, `cpu_count()`, `os.process_cpu_count()`.

use super::child;
use crate::sys::os;

/// What [`current_process`] and [`parent_process`] describe: Python's
/// `multiprocessing.current_process()` object's `name`, `pid`, `daemon`.
///
/// ```
/// let me = gilfree::multiprocessing::current_process();
/// assert_eq!(me.pid, std::process::id() as i32);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Python's `name` (`"MainProcess"` in the main process).
    pub name: String,
    /// Python's `pid`.
    pub pid: i32,
    /// Python's `daemon`.
    pub daemon: bool,
}

/// Python's `multiprocessing.current_process()`.
///
/// ```
/// assert_eq!(gilfree::multiprocessing::current_process().name, "MainProcess");
/// ```
pub fn current_process() -> ProcessInfo {
    match child::current_identity() {
        Some(id) => ProcessInfo {
            name: id.name,
            pid: os::process::getpid(),
            daemon: id.daemon,
        },
        None => ProcessInfo {
            name: "MainProcess".into(),
            pid: os::process::getpid(),
            daemon: false,
        },
    }
}

/// Python's `multiprocessing.parent_process()`: `None` in the main process;
/// in a child, the process that started it (for a forkserver child, the
/// program, not the server).
///
/// ```
/// assert!(gilfree::multiprocessing::parent_process().is_none());
/// ```
pub fn parent_process() -> Option<ProcessInfo> {
    child::current_identity().map(|id| ProcessInfo {
        name: id.parent_name,
        pid: id.parent_pid,
        daemon: false,
    })
}

/// Python's `os.cpu_count()` / `multiprocessing.cpu_count()`: the
/// machine's online CPUs.
///
/// ```
/// assert!(gilfree::multiprocessing::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    os::system::cpu_count()
}

/// Python 3.13's `os.process_cpu_count()`: the CPUs this process may run
/// on (its affinity mask), at most [`cpu_count`].
///
/// ```
/// use gilfree::multiprocessing::{cpu_count, process_cpu_count};
/// assert!(process_cpu_count() >= 1 && process_cpu_count() <= cpu_count().max(process_cpu_count()));
/// ```
pub fn process_cpu_count() -> usize {
    os::system::affinity_cpu_count()
}
