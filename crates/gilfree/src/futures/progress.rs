//! The optional progress bar of `map` and `as_completed` (indicatif), drawn
//! on stderr only when it is a terminal. Without the `progress` feature,
//! [`Bar`] has no values: `Option<Bar>` is always `None` and indicatif is
//! not built.

/// A progress bar, or nothing when it is off.
#[cfg(feature = "progress")]
pub(crate) struct Bar(indicatif::ProgressBar);

/// No progress bars in this build (the `progress` feature is off).
#[cfg(not(feature = "progress"))]
pub(crate) enum Bar {}

#[cfg(not(feature = "progress"))]
impl Bar {
    /// One more item done.
    pub(crate) fn inc(&self) {
        match *self {}
    }

    /// Stop drawing.
    pub(crate) fn finish(&self) {
        match *self {}
    }
}

#[cfg(feature = "progress")]
impl Bar {
    /// `None` unless `on` and stderr is a terminal. `len` is the number of
    /// items when known.
    pub(crate) fn new(on: bool, len: Option<u64>) -> Option<Bar> {
        use std::io::IsTerminal;
        if !on || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = match len {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::no_length(),
        };
        Some(Bar(bar))
    }

    /// One more item done.
    pub(crate) fn inc(&self) {
        self.0.inc(1);
    }

    /// Leave the bar as it is and stop drawing.
    pub(crate) fn finish(&self) {
        self.0.finish();
    }
}

#[cfg(feature = "progress")]
impl Drop for Bar {
    fn drop(&mut self) {
        if !self.0.is_finished() {
            self.0.abandon();
        }
    }
}
