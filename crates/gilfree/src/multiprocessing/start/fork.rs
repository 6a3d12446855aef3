//! Fork: the child is a copy of this process and runs its job at once.

use super::forkserver;
use crate::multiprocessing::child::{self, Job};
use crate::multiprocessing::children::{self, Started};
use crate::multiprocessing::connection::Connection;
use crate::multiprocessing::error::Result;
use crate::sys::os;

/// Fork: the child runs `job` on its end of a fresh socket pair.
pub(super) fn start(job: Job) -> Result<Started> {
    // A daemon child sets its death signal from its identity.
    let (ours, theirs) = os::socket::socketpair()?;
    child::flush_stdio();
    let parent = os::process::getpid();
    // Held across the fork, in this order (a fork server start holds its
    // slot for a round trip; the registry is only ever held briefly).
    let server = forkserver::hold_for_fork();
    let registry = children::hold_for_fork();
    // SAFETY: the child only runs the job and `_exit`s. A closure job is
    // refused unless this process has one thread; a task job in a
    // multi-threaded parent carries the risk documented on `Fork`.
    let forked = unsafe { os::process::fork() };
    match forked {
        Err(e) => Err(e.into()),
        Ok(os::process::Forked::Child) => {
            drop(ours);
            // The parent's children and fork server are not ours: forget
            // them, so that our exit handler does not wait for our
            // siblings and the server still sees the parent's exit. A
            // forked child never drops an inherited owner it cannot vouch
            // for: these were held across the fork.
            registry.forget_in_child();
            server.forget_in_child();
            crate::sys::trace::forget_after_fork();
            child::run_forked(theirs, job, parent)
        }
        Ok(os::process::Forked::Parent(pid)) => {
            drop(registry);
            drop(server);
            drop(theirs);
            // The child has its own copy of the job. Close our copies of
            // its descriptors now (their peers must see EOF when the child
            // is done with them), but free the request's memory with the
            // process handle: freeing it now writes heap pages the running
            // child still shares, a copy-on-write fault each.
            let parents_copy = match job {
                Job::Local(start, fds) => {
                    drop(fds);
                    Some(start)
                }
                other => {
                    drop(other);
                    None
                }
            };
            let pidfd = os::process::pidfd_open(pid)?;
            Ok(Started {
                pid,
                pidfd,
                conn: Connection::from_fd(ours),
                via_server: false,
                _parents_copy: parents_copy,
            })
        }
    }
}
