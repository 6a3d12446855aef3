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
