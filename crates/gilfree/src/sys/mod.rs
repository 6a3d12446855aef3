//! The sync core: atomics, futex wait/wake, deadlines and the event count.
//!
//! Every blocking primitive in gilfree is a small block of atomic words plus
//! futex wait/wake on them. Everything that touches an atomic or the futex
//! goes through this module, so that `--cfg loom` swaps the whole crate onto
//! loom's model checker in one place (the pattern of `tokio/src/loom/`).
//!
//! *One algorithm, two homes*: the futex calls are generic over a [`Scope`].
//! [`Private`] words live in this process's memory (threads);
//! [`Shared`] words live in a shared mapping (processes). A primitive's raw
//! algorithm is written once, generic over `S: Scope`.

pub(crate) mod atomic;
pub(crate) mod deadline;
pub(crate) mod event_count;
pub(crate) mod futex;
pub(crate) mod os;
pub(crate) mod sync;

pub(crate) use deadline::Deadline;
pub(crate) use event_count::EventCount;
#[allow(unused_imports)]
pub(crate) use futex::Shared;
pub(crate) use futex::{Private, Scope};

/// Spin briefly while `f` says the state is still worth spinning on.
///
/// Returns the last value seen. A short spin catches the common case of a
/// lock held for a few hundred nanoseconds without a syscall; it is bounded
/// (about 100 iterations, as std's futex mutex) so that a long hold parks
/// quickly. Under loom there is no spinning: it would only multiply the
/// interleavings without modelling anything new.
#[inline]
pub(crate) fn spin_while(word: &atomic::AtomicU32, mut f: impl FnMut(u32) -> bool) -> u32 {
    #[cfg(not(loom))]
    {
        let mut spin = 100;
        loop {
            let v = word.load(atomic::Ordering::Relaxed);
            if !f(v) || spin == 0 {
                return v;
            }
            core::hint::spin_loop();
            spin -= 1;
        }
    }
    #[cfg(loom)]
    {
        let _ = &mut f;
        word.load(atomic::Ordering::Relaxed)
    }
}
