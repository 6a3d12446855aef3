//! The sync core: atomics, futex wait/wake, deadlines, the spin policy and
//! the event count.
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
pub(crate) mod futex_bridge;
pub(crate) mod os;
pub(crate) mod spin;
pub(crate) mod sync;
pub(crate) mod trace;
pub(crate) mod wakers;

pub(crate) use deadline::Deadline;
pub(crate) use event_count::EventCount;
#[allow(unused_imports)]
pub(crate) use futex::Shared;
pub(crate) use futex::{Private, Scope};
pub(crate) use spin::spin_while;
