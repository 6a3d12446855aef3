//! The upgraded `deadlock` lesson, run as a user would. With the lab's
//! `deadlock-detection` feature (the test script runs this file both ways),
//! it also checks the report made before anything hangs and the DOT graph.
//! Every run gets its own scratch directory as `TMPDIR` (the lesson writes
//! its graph there when no `--chart` is given), removed when the test ends,
//! also when it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh directory under the system's temp dir, removed (with what the
/// lesson wrote into it) on drop, so also when an assertion fails.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("gilfree-lab-dl-test-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run the lab with `args` and `env`, its temp dir inside `scratch`.
fn lab(scratch: &Scratch, args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args(args)
        .envs(env.iter().copied())
        .env("TMPDIR", scratch.path())
        .output()
        .expect("run gilfree-lab");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "gilfree-lab {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// The value printed after `label` on its `measure` line.
fn value<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no line {label:?} in:\n{out}"))
        .trim()
}

#[test]
fn acquire_all_fix_is_shown() {
    let scratch = Scratch::new("acquire-all");
    let (out, _) = lab(&scratch, &["deadlock", "--fast"], &[]);
    assert_eq!(value(&out, "deadlock caught by timeout"), "true");
    assert_eq!(
        value(&out, "acquire_all, opposite lists: finished"),
        "2 of 2"
    );
    let reported = value(&out, "potential deadlock reported");
    if cfg!(feature = "deadlock-detection") {
        assert!(reported.starts_with("yes"), "{reported}");
    } else {
        assert!(
            reported.contains("--features deadlock-detection"),
            "{reported}"
        );
    }
}

#[cfg(feature = "deadlock-detection")]
#[test]
fn potential_deadlock_is_reported_and_drawn() {
    let scratch = Scratch::new("drawn");
    let dir = scratch.path();
    let svg = dir.join("graph.svg");
    // The lesson sets warn mode itself: even GILFREE_DEADLOCK=panic must not
    // end it.
    let (out, err) = lab(
        &scratch,
        &["deadlock", "--fast", "--chart", svg.to_str().unwrap()],
        &[("GILFREE_DEADLOCK", "panic")],
    );
    assert!(value(&out, "potential deadlock reported").starts_with("yes"));
    let closing = value(&out, "closing acquisition");
    assert!(closing.contains("thread 'thread-2'"), "{closing}");
    assert!(closing.contains("deadlock.rs"), "{closing}");
    assert!(err.contains("potential deadlock"), "{err}");
    assert!(
        err.contains("'thread-1'") && err.contains("'thread-2'"),
        "{err}"
    );
    // Reported once: the real deadlock later closes the same cycle.
    assert_eq!(err.matches("potential deadlock").count(), 1, "{err}");
    assert_eq!(value(&out, "acquire_all: new lock-order reports"), "0");

    let dot_path = dir.join("graph.dot");
    assert_eq!(
        value(&out, "lock-order graph (DOT)"),
        dot_path.display().to_string()
    );
    let dot = std::fs::read_to_string(&dot_path).unwrap();
    assert!(dot.starts_with("digraph"), "{dot}");
    assert_eq!(dot.matches("-> ").count(), 2, "{dot}");
    assert!(dot.contains("color=red"), "{dot}");
    let rendered = value(&out, "rendered with Graphviz");
    if rendered.starts_with("skipped") {
        assert!(rendered.contains("not installed"), "{rendered}");
    } else {
        assert_eq!(rendered, svg.display().to_string());
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    }
}
