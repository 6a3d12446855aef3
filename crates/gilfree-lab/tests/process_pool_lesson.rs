//! The process-pool lesson runs with `--fast`: exit status and key lines.

use std::process::Command;

#[test]
fn process_pool_lesson() {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args(["process-pool", "--fast"])
        .output()
        .expect("run gilfree-lab");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: [&str; 8] = [
        "primes found (all four agree)",
        "multiprocessing::Pool.map",
        "ProcessPoolExecutor.map",
        "ThreadPoolExecutor.map",
        &format!("{:<40} [0, 1, 2, 3, 4, 5, 6, 7]", "imap order"),
        &format!("{:<40} 7 of 8", "SIGKILL mid-task: results"),
        "was killed by SIGKILL",
        "the next map",
    ];
    for line in lines {
        assert!(stdout.contains(line), "missing {line:?}:\n{stdout}");
    }
}
