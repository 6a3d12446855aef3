//! The `py_*` shapes: gilfree's Python bindings against the stdlib, both
//! driven from Python (issue 7): Lock uncontended, Queue bounded(1024) with
//! 1 producer / 1 consumer, ThreadPoolExecutor submit+result. The work is
//! in `python/cpython_peers.py`; these rows exist only when the interpreter
//! can `import gilfree` (see `python.rs`).

use crate::harness::{Bench, Sizes};

/// The Python-side shapes, each served for impls `gilfree` and `cpython`.
pub const SHAPES: &[(&str, Sizes)] = &[
    ("py_lock_uncontended", Sizes::FAST),
    ("py_queue_bounded_1p1c", Sizes::HANDOFF),
    ("py_executor_submit_result", Sizes::HELD),
];

/// Measure every Python-side shape the peer script serves.
pub fn py_rows(b: &mut Bench) {
    for (shape, sizes) in SHAPES {
        b.compare(shape, *sizes, Vec::new());
    }
}
