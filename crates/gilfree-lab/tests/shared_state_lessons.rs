//! The shared-state lessons run with `--fast`: exit status and the lines
//! that must hold whatever the timing (the unlocked count may or may not
//! lose updates on a given run; the locked one never does).

use std::process::Command;

fn lesson(name: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args([name, "--fast"])
        .output()
        .expect("run gilfree-lab");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn shared_memory_lesson() {
    let out = lesson("shared-memory");
    assert!(
        out.contains("a child's counter after 5 increments     5"),
        "{out}"
    );
    assert!(
        out.contains("the parent's counter                     0"),
        "{out}"
    );
    assert!(out.contains("no lock"), "{out}");
    assert!(out.contains("8000 of 8000 (0 lost)"), "{out}");
    assert!(
        out.contains("[1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4]"),
        "{out}"
    );
}

#[test]
fn process_locks_lesson() {
    let out = lesson("process-locks");
    assert!(
        out.contains("log entries                              120 (expected 120)"),
        "{out}"
    );
    assert!(
        out.contains("every turn's two entries adjacent        true"),
        "{out}"
    );
    assert!(
        out.contains("next acquire: owner_died                 true"),
        "{out}"
    );
    assert!(
        out.contains("and the one after: owner_died            false"),
        "{out}"
    );
}
