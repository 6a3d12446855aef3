//! The manager lesson runs with `--fast`: exit status and key lines.

use std::process::Command;

#[test]
fn manager_lesson() {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args(["manager", "--fast"])
        .output()
        .expect("run gilfree-lab");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "manager failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("words counted (queue reports)            11"),
        "{stdout}"
    );
    assert!(
        stdout.contains("words in the managed dict                11"),
        "{stdout}"
    );
    assert!(
        stdout.contains("most common word                         \"the\" × 3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("workers in the managed list              [0, 1, 2, 3]"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "namespace fields                         worker0, worker1, worker2, worker3"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("Pipe round trip (the floor)"), "{stdout}");
    assert!(stdout.contains("shared-memory Value set"), "{stdout}");
}
