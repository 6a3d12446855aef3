//! The `condition` and `barrier` lessons run in fast mode and say what they
//! should.

use std::process::Command;

fn run(lesson: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args([lesson, "--fast"])
        .output()
        .expect("run gilfree-lab");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{lesson} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn value(out: &str, label: &str) -> String {
    out.lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no line {label:?} in:\n{out}"))
        .trim_start()[label.len()..]
        .trim()
        .to_string()
}

#[test]
fn condition_lesson_consumes_everything() {
    let out = run("condition");
    assert!(
        out.contains("-- producer calls notify(1) per item"),
        "{out}"
    );
    assert!(
        out.contains("-- producer calls notify_all() per item"),
        "{out}"
    );
    // Both runs: produced = consumed.
    let produced: Vec<_> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("produced"))
        .collect();
    let consumed: Vec<_> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("consumed"))
        .collect();
    assert_eq!(produced.len(), 2, "{out}");
    assert_eq!(consumed.len(), 2, "{out}");
    for (p, c) in produced.iter().zip(&consumed) {
        let p: u64 = p.split_whitespace().last().unwrap().parse().unwrap();
        let c: u64 = c.split_whitespace().last().unwrap().parse().unwrap();
        assert_eq!(p, c, "{out}");
    }
    assert!(out.contains("wake-ups that found nothing"), "{out}");
}

#[test]
fn barrier_lesson_runs_phases_and_breaks() {
    let out = run("barrier");
    assert!(out.contains("[action] phase 0 complete"), "{out}");
    assert!(out.contains("[action] phase 2 complete"), "{out}");
    assert_eq!(value(&out, "phases completed"), "3", "{out}");
    assert!(value(&out, "timeout demo").contains("broken=true"), "{out}");
    assert_eq!(value(&out, "after reset(): broken"), "false", "{out}");
}
