//! Runs the `thread-pool` lesson with `--fast` and checks its key lines.

use std::process::Command;

#[test]
fn thread_pool_lesson_runs_fast() {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args(["thread-pool", "--fast"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "pool.map (in input order)",
        "submit + as_completed",
        "wait(FirstCompleted) returned after",
        "job 3 failed with",
        "job 3 hit bad input",
        "other jobs succeeded",
        "5 of 6",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}

/// `thread-pool --trace FILE` writes a trace Perfetto can load: a JSON
/// array of Chrome trace events, with the workers named, one `submit` mark
/// and one flow start per task, and for each a `task` slice on a worker
/// with the flow's end bound to it.
#[test]
fn thread_pool_lesson_writes_a_trace() {
    let path = std::env::temp_dir().join(format!(
        "gilfree-lab-trace-test-{}.json",
        std::process::id()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args(["thread-pool", "--fast", "--trace"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("trace written"), "{stdout}");
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let events: Vec<serde_json::Value> = serde_json::from_str(&text).expect("valid JSON array");
    let of = |ph: &str, name: &str| -> Vec<&serde_json::Value> {
        events
            .iter()
            .filter(|e| e["ph"] == ph && e["name"] == name)
            .collect()
    };
    for e in &events {
        assert!(
            e["ph"].is_string() && e["pid"].is_u64() && e["tid"].is_u64(),
            "{e}"
        );
        if e["ph"] != "M" {
            assert!(e["ts"].as_f64().is_some_and(|t| t >= 0.0), "{e}");
        }
    }
    let names: Vec<&str> = of("M", "thread_name")
        .iter()
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("lab_")),
        "workers not named: {names:?}"
    );

    let submits = of("i", "submit");
    let starts = of("s", "task");
    let slices = of("X", "task");
    let ends = of("f", "task");
    // The lesson submits 6 failing-task jobs, 2 for wait, 16 for
    // as_completed and some map chunks: more than 24 in all.
    assert!(submits.len() > 24, "{} submits", submits.len());
    assert_eq!(starts.len(), submits.len());
    // Every task ran (the pool was shut down with wait before the file was
    // written), the panicking one included.
    assert_eq!(slices.len(), submits.len());
    assert_eq!(ends.len(), submits.len());
    let mut started: Vec<u64> = starts.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    let mut ended: Vec<u64> = ends.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    started.sort_unstable();
    ended.sort_unstable();
    assert_eq!(started, ended, "every flow arrow has both ends");
    for s in &slices {
        assert!(s["dur"].as_f64().is_some_and(|d| d >= 0.0), "{s}");
    }
}

/// `GILFREE_TRACE=FILE` records the same trace without the API: the file
/// is written when the lesson's pool is dropped.
#[test]
fn gilfree_trace_env_writes_a_trace() {
    let path = std::env::temp_dir().join(format!(
        "gilfree-lab-trace-env-test-{}.json",
        std::process::id()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args(["thread-pool", "--fast"])
        .env("GILFREE_TRACE", &path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let events: Vec<serde_json::Value> = serde_json::from_str(&text).expect("valid JSON array");
    let tasks = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["name"] == "task")
        .count();
    assert!(tasks > 24, "{tasks} task slices");
}
