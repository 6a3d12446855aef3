//! `gilfree-bench`: gilfree side by side with std, parking_lot,
//! crossbeam-channel, flume, rayon and CPython, in one run.
//!
//! ```text
//! cargo run --release -p gilfree-bench -- [--quick] [--json FILE] [--chart FILE]
//! ```
//!
//! Every shape (a benchmark such as `lock_uncontended`) is measured for
//! gilfree and each peer that has it, interleaved: each repetition runs
//! every impl once, in a rotating order. The table gives, per shape and
//! impl, the median time per operation over the repetitions, the spread
//! (fastest–slowest repetition) and gilfree's median over the peer's.
//! CPython runs as a `python3` subprocess (`python/cpython_peers.py`); with
//! no `python3`, its rows are skipped with a note. When that interpreter can
//! `import gilfree`, the `py_*` rows compare the Python bindings with the
//! stdlib too.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

mod harness;
mod peer;
mod report;
mod shapes;

use harness::{Bench, Config};

/// gilfree against std, parking_lot, crossbeam-channel, flume, rayon and
/// CPython, measured in one run.
#[derive(Parser, Debug)]
#[command(name = "gilfree-bench", version)]
struct Args {
    /// Small samples and few repetitions: every shape in well under two
    /// minutes (the test suite runs this).
    #[arg(long)]
    quick: bool,
    /// Write the rows as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Draw ns/op per shape and impl as an SVG chart to FILE.
    #[arg(long, value_name = "FILE")]
    chart: Option<PathBuf>,
    /// Draw gilfree ÷ the fastest peer, one bar per shape, as an SVG to
    /// FILE (default with `--chart X.svg`: `X-ratio.svg` beside it).
    #[arg(long, value_name = "FILE")]
    ratio_chart: Option<PathBuf>,
    /// Only these shapes (comma-separated ids, or patterns with `*` at
    /// either end: `queue_*`, `*_taskdone`, `*lock*`).
    #[arg(long, value_name = "SUBSTR,...", value_delimiter = ',')]
    only: Vec<String>,
    /// Only these impls (comma-separated ids, e.g. gilfree,parking_lot).
    #[arg(long = "impl", value_name = "IMPL,...", value_delimiter = ',')]
    impls: Vec<String>,
    /// Repetitions per impl (overrides the preset: 7 quick, 15 full).
    #[arg(long, value_name = "N")]
    reps: Option<usize>,
    /// Target wall time of one sample, in milliseconds (preset: 5 quick,
    /// 50 full).
    #[arg(long, value_name = "MS")]
    sample_ms: Option<u64>,
    /// Worker threads for the executor and CPU shapes (default: the cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Operations per sample, fixed instead of calibrated (for profiling:
    /// e.g. `valgrind --tool=callgrind gilfree-bench --only lock_uncontended
    /// --impl gilfree --no-python --fixed-n 1000000 --reps 1`).
    #[arg(long, value_name = "N")]
    fixed_n: Option<u64>,
    /// Leave CPython out.
    #[arg(long)]
    no_python: bool,
    /// MiB of heap (every page touched) this benchmark holds while it
    /// measures process starts and pipes. A fork copies the parent's page
    /// tables, so what a start costs — and its floors — depend on the
    /// parent's size: bare, this program is ~3 MiB resident, smaller than
    /// any real program that starts processes; the default makes it about
    /// as big as a bare CPython interpreter. 0 measures the bare program.
    #[arg(long, value_name = "MIB", default_value_t = harness::DEFAULT_PARENT_MIB)]
    parent_mib: usize,
}

fn main() -> ExitCode {
    // First line: a process started by gilfree's spawn or forkserver method
    // re-executes this binary and runs its task here.
    gilfree::multiprocessing::init();
    // Second: an `executor_10m_tasks` child runs its one measurement.
    if let Some(code) = shapes::scale::rss_child_main() {
        return code;
    }
    let args = Args::parse();
    let mut cfg = Config::new(args.quick);
    if let Some(r) = args.reps {
        cfg.reps = r.max(1);
    }
    if let Some(ms) = args.sample_ms {
        cfg.sample = std::time::Duration::from_millis(ms.max(1));
    }
    if let Some(t) = args.threads {
        cfg.threads = t.max(1);
    }
    cfg.fixed_n = args.fixed_n;
    cfg.parent_mib = args.parent_mib;
    cfg.only = args.only.clone();
    cfg.impls = args.impls.clone();

    let mut b = Bench::new(cfg);
    let mut py_version = None;
    if args.no_python {
        b.note("CPython left out (--no-python)");
    } else {
        match peer::Peer::python() {
            Ok(p) => {
                if !p.has_impl("gilfree") {
                    b.note(format!(
                        "py_* rows skipped: {} cannot import the gilfree bindings ({}); \
                         build them with scripts/test.sh or `maturin develop -m crates/gilfree-py/Cargo.toml`",
                        p.exe, p.gilfree
                    ));
                }
                py_version = Some(p.version.clone());
                b.add_peer(p);
            }
            Err(e) => b.note(format!("CPython rows skipped: {e}")),
        }
    }
    #[cfg(feature = "mpi")]
    if ["cluster_submit_result", "cluster_map_tiny"]
        .iter()
        .any(|s| b.wants(s))
        && let Some(ranks) = gilfree::cluster::world_size()
        && !args.no_python
    {
        match peer::Peer::mpi4py(ranks) {
            Ok(p) => b.add_peer(p),
            Err(e) => b.note(format!("mpi4py rows skipped: {e}")),
        }
    }
    let deadlock_wanted = shapes::deadlock_work::SHAPES
        .iter()
        .any(|(s, _, _)| b.wants(s))
        && (args.impls.is_empty() || args.impls.iter().any(|i| i == "gilfree_deadlock"));
    if deadlock_wanted {
        match peer::Peer::deadlock_on() {
            Ok(p) => b.add_peer(p),
            Err(e) => b.note(format!("deadlock-detection-on rows skipped: {e}")),
        }
    }

    let transfers = if b.cfg.quick { 20_000 } else { 200_000 };
    let line_before = harness::line_transfer_latency(transfers);
    let started = std::time::Instant::now();
    shapes::all(&mut b);
    let took = started.elapsed();
    let line_after = harness::line_transfer_latency(transfers);

    let wakeup = harness::wakeup_latency(if b.cfg.quick { 200 } else { 5000 });
    let header = format!(
        "gilfree-bench{}: {} samples per impl of ~{} ms each, interleaved; {} worker threads; {}; {:.0} s; \
         host wake-up latency {:.1} µs (futex ping-pong, median); \
         cache-line transfer {:.0} ns at the start, {:.0} ns at the end (spin ping-pong, mean)",
        if b.cfg.quick { " --quick" } else { "" },
        b.cfg.reps,
        b.cfg.sample.as_millis(),
        b.cfg.threads,
        py_version.as_deref().unwrap_or("no CPython"),
        took.as_secs_f64(),
        wakeup.as_secs_f64() * 1e6,
        line_before.as_secs_f64() * 1e9,
        line_after.as_secs_f64() * 1e9,
    );
    println!("\n{header}\n");
    print!("{}", report::table(&b));
    let speedups = report::speedups(&b);
    let deadlock = report::deadlock_cost(&b);
    if !deadlock.is_empty() {
        println!("\nDeadlock detection's cost (time with it on / off):\n{deadlock}");
    }
    if !speedups.is_empty() {
        println!("\nCPU-bound speedup (sequential time / time on N threads):\n{speedups}");
    }
    println!("\nTargets (gilfree/peer ≤ limit):\n{}", report::targets(&b));
    if !b.notes.is_empty() {
        println!("Notes:");
        for n in &b.notes {
            println!("- {n}");
        }
    }

    let mut ok = true;
    if let Some(path) = &args.json
        && let Err(e) = std::fs::write(path, report::json(&b.rows))
    {
        eprintln!("writing {}: {e}", path.display());
        ok = false;
    }
    if let Some(path) = &args.chart
        && let Err(e) = report::chart(&b, path, "gilfree and its peers: time per operation")
    {
        eprintln!("drawing {}: {e}", path.display());
        ok = false;
    }
    let ratio_path = args
        .ratio_chart
        .clone()
        .or_else(|| args.chart.as_deref().map(report::ratio_chart_path));
    if let Some(path) = &ratio_path
        && let Err(e) = report::ratio_chart(&b, path)
    {
        eprintln!("drawing {}: {e}", path.display());
        ok = false;
    }
    if b.rows.is_empty() {
        eprintln!("nothing was measured");
        ok = false;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
