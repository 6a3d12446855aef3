//! Thread-related OS calls: the kernel ids of the calling thread and of
//! the process (Linux: `gettid`, `getpid`).
#![cfg_attr(loom, allow(dead_code))]

/// The kernel's id of the calling thread (the Linux tid): unique across
/// processes while the thread lives, reused after it exits. Never 0.
#[inline]
pub(crate) fn gettid() -> u32 {
    rustix::thread::gettid().as_raw_nonzero().get() as u32
}

/// The calling process's id. Never 0.
#[inline]
pub(crate) fn getpid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// Whether the calling thread is the process's main thread (its tid is
/// the pid).
#[inline]
pub(crate) fn is_main_os_thread() -> bool {
    gettid() == getpid()
}

/// Ask the kernel to wake the calling thread's timed sleeps within `ns`
/// nanoseconds of their deadline (`PR_SET_TIMERSLACK`; the default slack
/// is 50 µs, which turns a 10 µs sleep into ~60 µs). For threads that poll
/// with short sleeps (the MPI ranks). Best effort: an error is ignored.
#[cfg(feature = "mpi")]
pub(crate) fn set_timer_slack(ns: u64) {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only
    // changes the calling thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0);
    }
}
