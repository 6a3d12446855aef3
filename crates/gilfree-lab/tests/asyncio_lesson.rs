//! The `asyncio` lesson, run as a user would (`gilfree-lab asyncio
//! --fast`): it exits cleanly, measures both download runs in their child
//! processes, and its producer/consumer on async waits loses nothing.

use std::process::Command;

#[test]
fn asyncio_lesson_runs() {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args(["asyncio", "--fast"])
        .output()
        .expect("run gilfree-lab");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "1000 threads",
        "1000 tasks on one thread",
        "peak RSS +",
        "8000/8000 items, sum exact",
        "one task blocks",
        "moved to spawn_blocking",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
}

#[test]
fn asyncio_is_in_the_tour() {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .arg("list")
        .output()
        .expect("run gilfree-lab");
    assert!(String::from_utf8_lossy(&out.stdout).contains("asyncio"));
}
