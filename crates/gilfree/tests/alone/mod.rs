//! Running one case alone, in a fresh copy of its test binary: for the
//! cases whose outcome depends on the whole process (a fork closure needs
//! a single-threaded parent; a count of open descriptors needs no other
//! case opening or closing any), so that they pass under `cargo test`
//! (every case a thread of one process) as under nextest (a process each).

use std::process::Command;

use libtest_mimic::Failed;

/// Names the case a fresh copy runs alone (the copy's libtest-mimic is
/// filtered to it too).
const ENV: &str = "GILFREE_TEST_ALONE";

/// Run `body` as case `name` (its full trial name, e.g. `fork::x`) in a
/// process of its own: in the copy started for it, run it here; anywhere
/// else, start that copy (this binary, filtered to `name`, one test
/// thread) and pass on its verdict, with its output when it failed.
pub fn run(name: &str, body: impl FnOnce() -> Result<(), Failed>) -> Result<(), Failed> {
    if std::env::var_os(ENV).is_some_and(|v| v == name) {
        return body();
    }
    let out = Command::new(std::env::current_exe()?)
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(ENV, name)
        .output()?;
    // A filter that matched nothing passes: make sure the case ran.
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && stdout.contains("1 passed") {
        return Ok(());
    }
    Err(format!(
        "{name}, run alone: {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    )
    .into())
}
