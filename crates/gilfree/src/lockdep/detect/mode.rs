//! What happens on a report: `Mode` (warn or panic), from
//! `GILFREE_DEADLOCK` or `set_mode`.

use std::sync::atomic::{AtomicU8, Ordering::*};

/// What happens when a potential deadlock is found: the environment variable
/// `GILFREE_DEADLOCK=warn|panic`, or [`set_mode`]. No Python equivalent.
///
/// ```
/// use gilfree::deadlock::{Mode, mode, set_mode};
/// set_mode(Mode::Warn);
/// assert_eq!(mode(), Mode::Warn);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Print the report to stderr and go on (the default).
    Warn,
    /// Panic in the thread whose acquisition closed the cycle, before it
    /// blocks.
    Panic,
}

pub(super) const MODE_UNSET: u8 = 0;
pub(super) const MODE_WARN: u8 = 1;
pub(super) const MODE_PANIC: u8 = 2;
pub(super) static MODE: AtomicU8 = AtomicU8::new(MODE_UNSET);

/// The current [`Mode`]. Unless [`set_mode`] was called, read once from
/// `GILFREE_DEADLOCK` (`warn` or `panic`; unset means `warn`; any other
/// value means `warn`, with a note on stderr).
///
/// ```
/// let _ = gilfree::deadlock::mode();
/// ```
pub fn mode() -> Mode {
    let m = match MODE.load(Relaxed) {
        MODE_UNSET => {
            let from_env = match std::env::var("GILFREE_DEADLOCK") {
                Ok(v) if v.eq_ignore_ascii_case("panic") => MODE_PANIC,
                Ok(v) if v.is_empty() || v.eq_ignore_ascii_case("warn") => MODE_WARN,
                Ok(v) => {
                    eprintln!("gilfree: GILFREE_DEADLOCK={v:?} is not warn|panic; using warn");
                    MODE_WARN
                }
                Err(_) => MODE_WARN,
            };
            // A concurrent set_mode wins over the environment.
            match MODE.compare_exchange(MODE_UNSET, from_env, Relaxed, Relaxed) {
                Ok(_) => from_env,
                Err(set) => set,
            }
        }
        m => m,
    };
    if m == MODE_PANIC {
        Mode::Panic
    } else {
        Mode::Warn
    }
}

/// Choose what happens on a report, overriding `GILFREE_DEADLOCK` (for the
/// whole process). No Python equivalent.
///
/// ```
/// gilfree::deadlock::set_mode(gilfree::deadlock::Mode::Panic);
/// # gilfree::deadlock::set_mode(gilfree::deadlock::Mode::Warn);
/// ```
pub fn set_mode(mode: Mode) {
    MODE.store(
        match mode {
            Mode::Warn => MODE_WARN,
            Mode::Panic => MODE_PANIC,
        },
        Relaxed,
    );
}
