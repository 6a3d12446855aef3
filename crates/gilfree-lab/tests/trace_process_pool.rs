//! The trace's process events: `GILFREE_TRACE=FILE gilfree-lab
//! process-pool --fast` writes a trace Perfetto can load, with each worker
//! process's start, exit and lifetime, and its pool batches on its own
//! track.

use std::collections::{HashMap, HashSet};
use std::process::Command;

use serde_json::Value;

/// The lesson starts pool workers, runs maps and `imap`s on them, and has
/// one worker SIGKILL itself mid-call: the trace shows every worker
/// started (pid, name, start method) and named as a track, each exit
/// (the killed one with its signal), a lifetime slice per exited worker,
/// and one `batch` slice per call or chunk on the track of the worker that
/// ran it — one at a time per worker — the killed worker's last one
/// failed.
#[test]
fn process_pool_lesson_traces_processes_and_batches() {
    let path = std::env::temp_dir().join(format!(
        "gilfree-lab-trace-process-test-{}.json",
        std::process::id()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args(["process-pool", "--fast"])
        .env("GILFREE_TRACE", &path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let events: Vec<Value> = serde_json::from_str(&text).expect("valid JSON array");
    for e in &events {
        assert!(
            e["ph"].is_string() && e["pid"].is_u64() && e["tid"].is_u64(),
            "{e}"
        );
        if e["ph"] != "M" {
            assert!(e["ts"].as_f64().is_some_and(|t| t >= 0.0), "{e}");
        }
    }
    let of = |ph: &str, name: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["ph"] == ph && e["name"] == name)
            .collect()
    };
    // Starts: on the parent's timeline, each naming a child.
    let starts = of("i", "process start");
    assert!(starts.len() >= 2, "{} process starts", starts.len());
    let parent = starts[0]["pid"].as_u64().unwrap();
    let mut children = HashSet::new();
    for s in &starts {
        assert_eq!(s["pid"], parent, "{s}");
        let a = &s["args"];
        assert!(a["name"].as_str().is_some_and(|n| !n.is_empty()), "{s}");
        assert!(
            ["fork", "spawn", "forkserver"].contains(&a["method"].as_str().unwrap_or("")),
            "{s}"
        );
        assert!(children.insert(a["pid"].as_u64().unwrap()), "{s}");
    }
    assert!(!children.contains(&parent));
    // Each child's track is named.
    let named: HashSet<u64> = of("M", "process_name")
        .iter()
        .map(|e| e["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(named, children);

    // Exits: on the parent's timeline, one per child at most; the killed
    // worker's with its signal. Each exited child has one lifetime slice
    // on its own track, with the same status.
    let exits = of("i", "process exit");
    assert!(!exits.is_empty());
    let mut status = HashMap::new();
    for e in &exits {
        assert_eq!(e["pid"], parent, "{e}");
        let pid = e["args"]["pid"].as_u64().unwrap();
        assert!(children.contains(&pid), "{e}");
        let code = e["args"]["exitcode"].as_i64().unwrap();
        assert!(status.insert(pid, code).is_none(), "two exits: {e}");
    }
    assert!(
        exits
            .iter()
            .any(|e| e["args"]["exitcode"] == -9 && e["args"]["signal"] == 9),
        "no SIGKILLed worker in {exits:?}"
    );
    let lives = of("X", "process");
    assert_eq!(lives.len(), exits.len());
    for l in &lives {
        let pid = l["pid"].as_u64().unwrap();
        assert_eq!(l["tid"], pid, "{l}");
        assert_eq!(l["args"]["exitcode"].as_i64(), status.get(&pid).copied());
        assert!(l["dur"].as_f64().is_some_and(|d| d >= 0.0), "{l}");
    }

    // Batches: on their worker's track, never two at once on one worker;
    // exactly one failed (the killed worker's call).
    let batches = of("X", "batch");
    assert!(batches.len() >= 8, "{} batches", batches.len());
    let mut per_worker: HashMap<u64, Vec<(f64, f64)>> = HashMap::new();
    for b in &batches {
        let pid = b["pid"].as_u64().unwrap();
        assert!(children.contains(&pid), "{b}");
        assert_eq!(b["tid"], pid, "{b}");
        let (ts, dur) = (b["ts"].as_f64().unwrap(), b["dur"].as_f64().unwrap());
        assert!(dur >= 0.0, "{b}");
        per_worker.entry(pid).or_default().push((ts, ts + dur));
    }
    for spans in per_worker.values_mut() {
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        for w in spans.windows(2) {
            // The times are rounded to the nanosecond.
            assert!(w[0].1 <= w[1].0 + 0.001, "overlapping batches: {w:?}");
        }
    }
    let failed: Vec<_> = batches
        .iter()
        .filter(|b| b["args"]["replied"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(status.get(&failed[0]["pid"].as_u64().unwrap()), Some(&-9));
}
