//! The benchmark command's `--quick` run, as the test suite runs it: the
//! table is printed, the JSON rows parse with the expected shapes and impls,
//! and the chart is drawn. What the numbers are is not checked (timing is
//! the benchmark's business, not a test's); only that they are sane.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// Shapes with Rust rows (a peer's or a floor's): present in every run.
const RUST_SHAPES: &[&str] = &[
    "lock_uncontended",
    "lock_contended_2t",
    "rlock_reacquire",
    "semaphore_acquire_release",
    "event_pingpong",
    "condition_pingpong",
    "queue_bounded_1p1c",
    "queue_bounded_2p2c",
    "queue_unbounded_1p1c",
    "executor_submit_result",
    "executor_map",
    "executor_map_lazy",
    "executor_as_completed",
    "cpu_sequential",
    "process_start_fork",
    "process_start_spawn",
    "process_start_forkserver",
    "pipe_roundtrip",
    "pipe_throughput_64b",
    "pipe_throughput_1mib",
    "mp_lock_uncontended",
    "mp_lock_contended_2p",
    "value_increment",
    "manager_dict_set_get",
    "manager_queue_64b",
    "mp_queue_64b_1p1c",
    "mp_queue_64b_4p4c",
    "mp_queue_1mib",
];

/// The scale rows (`shapes/scale.rs`): Rust impls only (CPython has
/// `executor_10m_tasks` alone).
const SCALE_SHAPES: &[&str] = &[
    "lock_contended_64t",
    "lock_contended_64t_max_wait",
    "queue_bounded_8p8c",
    "executor_10m_tasks",
    "executor_10m_tasks_peak_rss",
    "event_pingpong_p50",
    "event_pingpong_p99",
    "event_pingpong_p999",
    "queue_bounded_1p1c_p50",
    "queue_bounded_1p1c_p99",
    "queue_bounded_1p1c_p999",
];

/// Shapes that, until gilfree's rows for them land, only CPython has.
const CPYTHON_ONLY_SHAPES: &[&str] = &[
    "queue_bounded_1p1c_taskdone",
    "queue_bounded_2p2c_taskdone",
    "queue_unbounded_1p1c_taskdone",
];

const IMPLS: &[&str] = &[
    "gilfree",
    "gilfree_tenth_n",
    "gilfree_16x_buffer",
    "std",
    "parking_lot",
    "crossbeam",
    "flume",
    "rayon",
    "cpython",
    "cpython-ppe",
    "raw",
    "raw_blocking",
    "gilfree_deadlock",
    "threading",
    "robust_pthread",
    // Issue 14: pool_map_cpu_2w against the same items run in one process.
    "sequential",
    // Issue 15's mp_queue rows.
    "gilfree_pipe",
    "memcpy",
    "faster-fifo",
    // Issue 17's async rows.
    "tokio",
    "tokio::sync",
    "async-channel",
    "threads",
    // Issue 16's cluster rows (built with the mpi feature).
    "gilfree-ppe",
    "mpi4py",
];

/// The run's own directory under the system's temp dir, removed with
/// everything in it on drop, so also when an assertion fails.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("gilfree-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn quick_run_prints_the_table_and_writes_json_and_chart() {
    let scratch = Scratch::new();
    let json_path = scratch.file("rows.json");
    let svg_path = scratch.file("chart.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-bench"))
        .arg("--quick")
        .arg("--json")
        .arg(&json_path)
        .arg("--chart")
        .arg(&svg_path)
        .output()
        .expect("run gilfree-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "gilfree-bench --quick failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // The table: header, a line per shape, the targets.
    assert!(stdout.contains("| shape"), "no table header:\n{stdout}");
    assert!(stdout.contains("median ns/op"), "{stdout}");
    assert!(stdout.contains("gilfree/impl"), "{stdout}");
    for shape in RUST_SHAPES {
        assert!(
            stdout.contains(&format!("| {shape} ")),
            "no table line for {shape}:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("Targets (gilfree/peer ≤ limit)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("lock_uncontended: gilfree/parking_lot"),
        "{stdout}"
    );

    // The JSON rows.
    let text = std::fs::read_to_string(&json_path).expect("JSON written");
    let rows: Vec<Value> = serde_json::from_str(&text).expect("JSON parses as a list");
    let mut seen: Vec<(String, String)> = Vec::new();
    for r in &rows {
        let shape = r["shape"].as_str().expect("shape is a string");
        let imp = r["impl"].as_str().expect("impl is a string");
        assert!(IMPLS.contains(&imp), "unknown impl id {imp}");
        assert_eq!(r["unit"], "op", "{r}");
        let (min, med, max) = (
            r["min_ns"].as_f64().expect("min_ns"),
            r["median_ns"].as_f64().expect("median_ns"),
            r["max_ns"].as_f64().expect("max_ns"),
        );
        assert!(
            0.0 < min && min <= med && med <= max && max.is_finite(),
            "{r}"
        );
        assert!(
            !seen.contains(&(shape.into(), imp.into())),
            "duplicate row {shape}/{imp}"
        );
        seen.push((shape.into(), imp.into()));
    }
    let has = |shape: &str, imp: &str| seen.iter().any(|(s, i)| s == shape && i == imp);
    let has_shape = |shape: &str| seen.iter().any(|(s, _)| s == shape);
    for shape in RUST_SHAPES.iter().chain(SCALE_SHAPES) {
        assert!(has_shape(shape), "no JSON row for {shape}");
    }
    for shape in SCALE_SHAPES {
        assert!(has(shape, "gilfree"), "no gilfree row for {shape}");
    }
    assert!(
        seen.iter().any(|(s, _)| s.starts_with("cpu_threads_")),
        "no cpu_threads_Nt rows"
    );
    // The peers every target compares against, and gilfree's rows so far.
    for (shape, imp) in [
        ("lock_uncontended", "gilfree"),
        ("lock_uncontended", "parking_lot"),
        ("lock_uncontended", "std"),
        ("lock_contended_2t", "gilfree"),
        ("lock_contended_2t", "parking_lot"),
        ("queue_bounded_1p1c", "crossbeam"),
        ("queue_bounded_1p1c", "flume"),
        ("queue_bounded_1p1c", "std"),
        ("queue_bounded_2p2c", "crossbeam"),
        ("executor_submit_result", "rayon"),
        ("process_start_fork", "raw"),
        ("pipe_roundtrip", "raw"),
        ("pipe_roundtrip", "raw_blocking"),
        ("deadlock_lock_uncontended", "gilfree"),
        ("deadlock_lock_uncontended", "gilfree_deadlock"),
        ("deadlock_lock_nested", "gilfree_deadlock"),
        ("mp_queue_64b_1p1c", "gilfree"),
        ("mp_queue_64b_1p1c", "gilfree_pipe"),
        ("mp_queue_64b_4p4c", "gilfree"),
        ("mp_queue_1mib", "gilfree"),
        ("mp_queue_1mib", "memcpy"),
    ] {
        assert!(has(shape, imp), "no JSON row for {shape}/{imp}");
    }
    // CPython's rows, unless the run said it had no python3.
    if stdout.contains("CPython rows skipped") {
        eprintln!("python3 unavailable: CPython rows not checked");
    } else {
        for shape in RUST_SHAPES.iter().chain(CPYTHON_ONLY_SHAPES) {
            assert!(has(shape, "cpython"), "no CPython row for {shape}");
        }
    }

    // The header names the host's wake-up latency and its cache-line
    // transfer latency, measured at the start and at the end.
    assert!(
        stdout.contains("host wake-up latency") && stdout.contains("µs (futex ping-pong"),
        "no wake-up latency in the header"
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("cache-line transfer"))
        .expect("no cache-line transfer latency in the header");
    let ns: Vec<f64> = line
        .split("cache-line transfer ")
        .nth(1)
        .expect("the latencies")
        .split(" ns")
        .take(2)
        .map(|p| {
            p.rsplit(' ')
                .next()
                .and_then(|x| x.parse().ok())
                .expect("a number of ns")
        })
        .collect();
    assert_eq!(ns.len(), 2, "start and end latencies: {line}");
    assert!(ns.iter().all(|&x| x > 0.0), "latencies measured: {line}");

    // The chart.
    let svg = std::fs::read_to_string(&svg_path).expect("chart written");
    assert!(svg.starts_with("<svg"), "not an SVG");
    assert!(
        svg.contains("lock_uncontended"),
        "chart has no shape labels"
    );

    // The ratio chart, written next to the chart: one bar per shape,
    // labelled with the fastest peer.
    let ratio_path = svg_path.with_file_name(format!(
        "{}-ratio.svg",
        svg_path.file_stem().unwrap().to_string_lossy()
    ));
    let ratio = std::fs::read_to_string(&ratio_path).expect("ratio chart written");
    assert!(ratio.starts_with("<svg"), "ratio chart is not an SVG");
    assert!(
        ratio.contains("lock_uncontended vs "),
        "ratio chart has no shape labels"
    );
    assert!(ratio.contains("fastest peer"), "ratio chart has no title");
}
