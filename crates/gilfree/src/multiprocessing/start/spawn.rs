//! Spawn: re-execute this binary; the child's `init()` receives the start
//! message and runs the task.

use std::os::fd::{AsFd, AsRawFd};

use crate::multiprocessing::children::Started;
use crate::multiprocessing::connection::Connection;
use crate::multiprocessing::error::Result;
use crate::multiprocessing::guard::ENV_CHILD;
use crate::multiprocessing::shared_memory::tracker;
use crate::sys::os;

/// Spawn: re-execute this binary (`posix_spawn`, i.e. vfork + exec) with
/// the child's socket and our pid in [`ENV_CHILD`]; its `init()` runs the
/// task.
pub(super) fn start() -> Result<Started> {
    // A daemon child sets its parent-death signal itself once it has its
    // start message (`child::run`), then checks that its parent is still
    // this process (our pid rides in `ENV_CHILD`): a parent that died
    // before that point is seen, as a death signal set before the exec
    // would have seen it.
    let (ours, theirs) = os::socket::socketpair()?;
    let child = format!("{},{}", theirs.as_raw_fd(), os::process::getpid());
    // The child joins this program tree's resource tracker.
    let pid = match tracker::for_child() {
        Some((fd, v)) => os::process::spawn_self(
            &[(ENV_CHILD, &child), (tracker::ENV_MEMBER, &v)],
            &[theirs.as_fd(), fd.as_fd()],
        )?,
        None => os::process::spawn_self(&[(ENV_CHILD, &child)], &[theirs.as_fd()])?,
    };
    drop(theirs);
    // The child is reaped through its pidfd (posix_spawn left no other
    // handle to it).
    let pidfd = os::process::pidfd_open(pid)?;
    Ok(Started {
        pid,
        pidfd,
        conn: Connection::from_fd(ours),
        via_server: false,
        _parents_copy: None,
    })
}
