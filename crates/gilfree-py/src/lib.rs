//! `import gilfree`: gilfree's threading, queue and futures objects for
//! Python, with the stdlib's signatures, exceptions and context managers.
//!
//! Every call that blocks releases the GIL, and waits in slices so that
//! Ctrl-C (a pending signal) interrupts it as it does CPython's own locks.

use pyo3::prelude::*;

mod condition;
mod locks;
mod wait;

/// The extension module `gilfree`.
#[pymodule]
#[pyo3(name = "gilfree")]
fn gilfree_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("TIMEOUT_MAX", wait::TIMEOUT_MAX)?;
    locks::register(m)?;
    condition::register(m)?;
    Ok(())
}
