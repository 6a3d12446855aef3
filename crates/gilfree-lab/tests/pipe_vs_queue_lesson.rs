//! The pipe-vs-queue lesson runs with `--fast`: exit status and key lines.

use std::process::Command;

#[test]
fn pipe_vs_queue_lesson() {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args(["pipe-vs-queue", "--fast"])
        .output()
        .expect("run gilfree-lab");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "round trip, 64 B: Pipe",
        "round trip, 64 B: Queue",
        "throughput, 64 B: Queue",
        "throughput, 1 MiB: Queue",
        "4 producers, 64 B: one Queue",
    ] {
        assert!(stdout.contains(line), "missing {line:?}:\n{stdout}");
    }
}
