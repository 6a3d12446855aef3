//! The `semaphore` and `event` lessons run in fast mode, succeed, and print
//! their key findings.

use std::process::Command;

fn lesson(name: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args([name, "--fast"])
        .output()
        .expect("run gilfree-lab");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn value_of<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no line {label:?} in:\n{out}"))
        .trim_start()[label.len()..]
        .trim()
}

#[test]
fn semaphore_lesson_fast() {
    let out = lesson("semaphore");
    let max: usize = value_of(&out, "max concurrent users (measured)")
        .parse()
        .unwrap();
    let pool: usize = value_of(&out, "pool size (Semaphore permits)")
        .parse()
        .unwrap();
    assert!(max <= pool, "{out}");
    assert_eq!(
        value_of(&out, "BoundedSemaphore extra release"),
        "caught: Semaphore released too many times"
    );
    assert_eq!(value_of(&out, "BoundedSemaphore value after it"), "2/2");
    assert_eq!(
        value_of(&out, "plain Semaphore value after the same bug"),
        "3/2"
    );
}

#[test]
fn event_lesson_fast() {
    let out = lesson("event");
    assert_eq!(
        value_of(&out, "workers waiting on the start Event"),
        value_of(&out, "workers released by one set()")
    );
    assert!(out.contains("wake-up latency, median"), "{out}");
    assert_eq!(value_of(&out, "timer that was left alone ran"), "yes");
    assert_eq!(value_of(&out, "cancel() stopped the one-hour timer"), "yes");
    assert_eq!(value_of(&out, "cancelled timer ran"), "no");
}
