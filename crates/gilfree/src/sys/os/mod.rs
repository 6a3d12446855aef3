//! Every call into the operating system that gilfree makes, in one place
//! (Linux today), so that another platform is one more module here rather
//! than a hunt through the crate. One file per area; the rest of the crate
//! calls these functions and never `rustix`/`libc` directly (the futex calls
//! live beside the futex words in `sys::futex`).

pub(crate) mod poll;
pub(crate) mod process;
pub(crate) mod shm;
pub(crate) mod socket;
pub(crate) mod system;
pub(crate) mod thread;
