//! The threading lessons, run as a user would (`gilfree-lab LESSON --fast`),
//! checked for exit status and their key lines. Each run's `TMPDIR` is a
//! scratch directory removed when the run ends (the `deadlock` lesson writes
//! its lock-order graph there).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system's temp dir, removed (with what the
/// lesson wrote into it) on drop, so also when the run or a check fails.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gilfree-lab-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn lab(args: &[&str]) -> String {
    let scratch = Scratch::new();
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args(args)
        .env("TMPDIR", &scratch.0)
        .output()
        .expect("run gilfree-lab");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "gilfree-lab {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The value printed after `label` on its `measure` line.
fn value<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(label.trim_start()))
        .unwrap_or_else(|| panic!("no line {label:?} in:\n{out}"))
        .trim()
}

#[test]
fn lessons_are_listed_in_tour_order() {
    let out = lab(&["list"]);
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let pos = |n: &str| names.iter().position(|x| *x == n).expect(n);
    assert!(pos("threads") < pos("sequential-vs-threads"));
    assert!(pos("sequential-vs-threads") < pos("race"));
    assert!(pos("race") < pos("deadlock"));
}

#[test]
fn threads_lesson() {
    let out = lab(&["threads", "--fast"]);
    assert_eq!(value(&out, "current thread"), "MainThread");
    assert_eq!(value(&out, "it is the main thread"), "true");
    let listed = value(&out, "enumerate() while workers wait");
    assert!(listed.starts_with("MainThread"), "{listed}");
    for w in ["worker-0", "worker-1", "worker-2", "summer"] {
        assert!(listed.contains(w), "{listed}");
    }
    assert!(value(&out, "joined worker-2").contains("squared 2: 4"));
    assert!(value(&out, "joined summer (a Runnable)").contains("= 500500"));
    assert_eq!(value(&out, "alive after join"), "false");
    assert!(out.contains("excepthook: thread faulty panicked: no input"));
    assert!(value(&out, "join of a panicked thread").contains("ThreadPanicked"));
    assert_eq!(
        value(&out, "non-daemon thread waited for by threading::main"),
        "true"
    );
}

#[test]
fn sequential_vs_threads_lesson_with_chart() {
    let dir = std::env::temp_dir().join(format!("gilfree-lab-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("io.svg");
    let out = lab(&[
        "sequential-vs-threads",
        "--fast",
        "--chart",
        svg.to_str().unwrap(),
    ]);
    assert!(value(&out, "sequential").ends_with("ms"));
    for n in [1, 2, 4, 8, 16] {
        let line = value(&out, &format!("{n:>3} threads"));
        assert!(line.contains("speedup"), "{line}");
    }
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg") && text.contains("threads"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn race_lesson_loses_updates_only_without_the_lock() {
    let out = lab(&["race", "--fast"]);
    let lost: u64 = value(&out, "lost updates (no lock)").parse().unwrap();
    let lost_locked: u64 = value(&out, "lost updates (with Lock)").parse().unwrap();
    assert!(lost > 0, "{out}");
    assert_eq!(lost_locked, 0, "{out}");
}

#[test]
fn deadlock_lesson_times_out_then_completes_in_order() {
    let out = lab(&["deadlock", "--fast"]);
    assert!(value(&out, "opposite order, thread-1").contains("timed out"));
    assert!(value(&out, "opposite order, thread-2").contains("timed out"));
    assert_eq!(value(&out, "deadlock caught by timeout"), "true");
    assert_eq!(
        value(&out, "same order (A then B): threads finished"),
        "2 of 2"
    );
}
