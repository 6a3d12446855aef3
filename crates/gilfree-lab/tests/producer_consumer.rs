//! Runs the `producer-consumer` lesson with `--fast` and checks what it
//! reports: every kind lost nothing, and each gives its own order.

use std::process::Command;

#[test]
fn producer_consumer_fast() {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args(["producer-consumer", "--fast"])
        .output()
        .expect("run gilfree-lab");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for kind in [
        "Queue (FIFO)",
        "LifoQueue (LIFO)",
        "PriorityQueue (smallest first)",
    ] {
        assert!(stdout.contains(kind), "missing {kind}:\n{stdout}");
    }
    assert_eq!(
        stdout.matches("nothing lost, nothing duplicated").count(),
        3,
        "{stdout}"
    );
    assert!(
        stdout.contains("[5, 1, 7, 3, 8, 2, 6, 4]"),
        "FIFO order:\n{stdout}"
    );
    assert!(
        stdout.contains("[4, 6, 2, 8, 3, 7, 1, 5]"),
        "LIFO order:\n{stdout}"
    );
    assert!(
        stdout.contains("[1, 2, 3, 4, 5, 6, 7, 8]"),
        "priority order:\n{stdout}"
    );
    assert!(stdout.contains("items put / got"), "{stdout}");
    assert!(stdout.contains("M items/s"), "{stdout}");
}
