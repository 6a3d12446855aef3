//! Deadlock detection's cost (issue 5): the same Lock work with gilfree's
//! `deadlock-detection` feature off (impl `gilfree`, this process) and on
//! (impl `gilfree_deadlock`, the `deadlock-on/` peer process), interleaved.
//! The ratio column then reads off/on; the summary prints on/off.

use crate::harness::{Bench, Sizes, case};
use crate::shapes::deadlock_work::SHAPES;

/// Every deadlock shape, detection off here and on in the peer.
pub fn deadlock_rows(b: &mut Bench) {
    for &(shape, work, handoff) in SHAPES {
        let sizes = if handoff { Sizes::HANDOFF } else { Sizes::FAST };
        b.compare(shape, sizes, vec![case("gilfree", work)]);
    }
}
