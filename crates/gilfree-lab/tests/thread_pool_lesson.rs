//! Runs the `thread-pool` lesson with `--fast` and checks its key lines.

use std::process::Command;

#[test]
fn thread_pool_lesson_runs_fast() {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args(["thread-pool", "--fast"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "pool.map (in input order)",
        "submit + as_completed",
        "wait(FirstCompleted) returned after",
        "job 3 failed with",
        "job 3 hit bad input",
        "other jobs succeeded",
        "5 of 6",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}
