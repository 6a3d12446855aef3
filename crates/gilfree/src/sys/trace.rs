//! The trace recorder: thread-pool tasks, child processes, process-pool
//! batches and long waits as Chrome trace events (the JSON that
//! `ui.perfetto.dev` and `chrome://tracing` open).
//! `crate::trace` is its public face; this file sits in `sys` so that the
//! primitives below `futures` can report their waits without importing
//! upward.
//!
//! # Zero cost when off
//!
//! Every hook starts with [`on`], one relaxed load of a global flag, and
//! does nothing else while it reads `false`; the hooks sit on slow paths
//! (a lock's contended path, an event count's sleep, a process start or
//! reap, a pool batch's send and reply) or behind one branch (a
//! thread-pool submit).
//!
//! Measured in instructions, which load does not change (`valgrind
//! --tool=callgrind`, `gilfree-bench --fixed-n`, the per-op slope between
//! two run sizes, 3 runs each), against a build with the hooks compiled
//! out (`RUSTFLAGS="--cfg gilfree_trace_off"`, which makes [`on`] a
//! constant `false`): `executor_submit_result` 853.6–856.7 instructions
//! per task with the hooks, 867.2–875.5 without (the difference is the
//! compiler's inlining and layout, in the other direction);
//! `lock_contended_2t` 9.9–10.3 per acquisition with, 9.9–10.1 without.
//!
//! # What is recorded
//!
//! - a submitted task: an instant `submit` on the submitting thread and the
//!   start of a flow arrow (`ph: "s"`) to where it runs;
//! - a task running: a complete slice `task` (`ph: "X"`) on the worker,
//!   bound to the arrow's end (`ph: "f"`); its end is the task finishing;
//! - a wait on a gilfree primitive (a contended lock, an event-count sleep:
//!   queues, `wait`, idle pool workers) that lasted at least the threshold
//!   (`GILFREE_TRACE_WAIT_US`, default 20 µs): a slice `wait …`;
//! - each thread's name, once (`ph: "M"`);
//! - a child process started or seen to exit (`Process::start`, its
//!   reaping): instants `process start` (pid, name, start method) and
//!   `process exit` (pid, exit code, the signal if killed) on the thread
//!   that did it, and on the child's own track (Perfetto's process id =
//!   the child's pid, named after it) a slice `process` over its lifetime;
//! - a process-pool batch (one call, or a chunk of calls): a slice `batch`
//!   on its worker's track, from the frame sent (or, for a batch queued
//!   behind another, the end of the one before it) to the reply read (or
//!   the failure: `replied: false`).
//!
//! All of it is recorded in the process that writes the file (the parent):
//! a worker's own threads are not traced.
//!
//! Events are kept in memory (one JSON line each) and the file is written
//! whole, as a valid JSON array, by `flush` and `stop`.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

static ON: AtomicBool = AtomicBool::new(false);
static RECORDER: Mutex<Option<Recorder>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static NEXT_TID: AtomicU64 = AtomicU64::new(1);
/// Waits shorter than this are not recorded.
static WAIT_THRESHOLD_NS: AtomicU64 = AtomicU64::new(DEFAULT_WAIT_US * 1000);

/// The default wait threshold, in µs.
pub(crate) const DEFAULT_WAIT_US: u64 = 20;

/// The environment variable that starts a trace: the file to write.
pub(crate) const ENV: &str = "GILFREE_TRACE";
/// The environment variable for the wait threshold, in µs.
pub(crate) const ENV_WAIT_US: &str = "GILFREE_TRACE_WAIT_US";

struct Recorder {
    path: PathBuf,
    base: Instant,
    /// The events so far, each a JSON object followed by ",\n".
    events: String,
    /// The trace's generation: a thread names itself once per trace.
    generation: u64,
    /// Child processes started during the trace: pid → start time (their
    /// lifetime slice is recorded when they exit).
    children: HashMap<i32, Instant>,
    /// The pool batches each worker holds, in the order sent (a worker
    /// holds up to two: the one it runs and the next, queued in its
    /// channel), and when its last batch ended: pid → batches.
    batches: HashMap<i32, WorkerBatches>,
}

/// One pool worker's batches in the trace: those sent and not yet over,
/// oldest first, and the end of its last slice. A worker runs its batches
/// one at a time in the order sent, so a batch's slice starts when it was
/// sent or when the one before it ended, whichever is later: its track
/// shows what it ran, never two slices at once.
#[derive(Default)]
struct WorkerBatches {
    sent: std::collections::VecDeque<(u64, Instant)>,
    free_at: Option<Instant>,
}

static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's trace id and the generation it last named itself in.
    static THREAD: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Whether a trace is being recorded: the one check every hook makes.
/// Built with `--cfg gilfree_trace_off` it is a constant `false`, so every
/// hook compiles away: that build exists only to measure what the hooks
/// cost when off (see the module doc).
#[inline(always)]
pub(crate) fn on() -> bool {
    #[cfg(gilfree_trace_off)]
    return false;
    #[cfg(not(gilfree_trace_off))]
    ON.load(Relaxed)
}

/// Start recording to `path` (created now, so a bad path fails here).
/// Fails with `AlreadyExists` if a trace is already being recorded.
pub(crate) fn start(path: PathBuf) -> std::io::Result<()> {
    let mut r = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    if r.is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "a gilfree trace is already being recorded",
        ));
    }
    std::fs::write(&path, "[]\n")?;
    *r = Some(Recorder {
        path,
        base: Instant::now(),
        events: String::new(),
        generation: GENERATION.fetch_add(1, Relaxed) + 1,
        children: HashMap::new(),
        batches: HashMap::new(),
    });
    ON.store(true, Relaxed);
    Ok(())
}

/// Start recording if `GILFREE_TRACE` names a file (once per process;
/// called when a thread pool is built). A file that cannot be created is
/// reported on stderr, and nothing is recorded.
pub(crate) fn start_from_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Some(us) = std::env::var(ENV_WAIT_US)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        {
            WAIT_THRESHOLD_NS.store(us.saturating_mul(1000), Relaxed);
        }
        if let Some(path) = std::env::var_os(ENV).filter(|p| !p.is_empty())
            && let Err(e) = start(path.clone().into())
            && e.kind() != std::io::ErrorKind::AlreadyExists
        {
            eprintln!("gilfree: {ENV}={}: {e}", path.to_string_lossy());
        }
    });
}

/// In a forked child: the parent's trace is not ours (its events and its
/// file are the parent's), so stop recording without touching the
/// recorder (another thread of the parent may have held its mutex at the
/// fork).
pub(crate) fn forget_after_fork() {
    ON.store(false, Relaxed);
}

/// Set the wait threshold.
pub(crate) fn set_wait_threshold(ns: u64) {
    WAIT_THRESHOLD_NS.store(ns, Relaxed);
}

fn write(r: &Recorder) -> std::io::Result<()> {
    let body = r.events.trim_end_matches(",\n");
    std::fs::write(&r.path, format!("[\n{body}\n]\n"))
}

/// Write the events so far to the file (a complete JSON array).
pub(crate) fn flush() -> std::io::Result<()> {
    let r = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    match &*r {
        Some(r) => write(r),
        None => Ok(()),
    }
}

/// Stop recording and write the file.
pub(crate) fn stop() -> std::io::Result<()> {
    ON.store(false, Relaxed);
    let r = RECORDER.lock().unwrap_or_else(|e| e.into_inner()).take();
    match r {
        Some(r) => write(&r),
        None => Ok(()),
    }
}

/// A fresh id for a task (a flow arrow's id).
#[inline]
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Relaxed)
}

/// Append JSON `s` with `"`, `\` and control characters escaped.
fn escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Where an event goes: the calling thread's track, or the track of a
/// child process (its pid as Perfetto's process and thread id), in the
/// parent's file.
#[derive(Clone, Copy)]
enum Track {
    Thread,
    Child(i32),
}

/// Record one event on this thread's track (see [`emit`]).
fn record(ph: char, name: &str, cat: &str, at: Instant, more: impl FnOnce(&mut String)) {
    let mut guard = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = guard.as_mut() {
        emit(r, Track::Thread, ph, name, cat, at, more);
    }
}

/// Append one event: `ph`, `name` and category `cat` at `at` on `track`,
/// with `more` appending further `"key": value` pairs (each preceded by a
/// comma). The first event of a thread in this trace names it first.
fn emit(
    r: &mut Recorder,
    track: Track,
    ph: char,
    name: &str,
    cat: &str,
    at: Instant,
    more: impl FnOnce(&mut String),
) {
    let (pid, tid) = match track {
        Track::Child(pid) => (pid.unsigned_abs(), u64::from(pid.unsigned_abs())),
        Track::Thread => {
            let pid = std::process::id();
            let (mut tid, named) = THREAD.with(Cell::get);
            if tid == 0 {
                tid = NEXT_TID.fetch_add(1, Relaxed);
            }
            if named != r.generation {
                THREAD.with(|t| t.set((tid, r.generation)));
                let cur = std::thread::current();
                let name = cur
                    .name()
                    .map_or_else(|| format!("thread {tid}"), String::from);
                let _ = write!(
                    r.events,
                    r#"{{"ph":"M","name":"thread_name","pid":{pid},"tid":{tid},"args":{{"name":""#
                );
                escaped(&mut r.events, &name);
                r.events.push_str("\"}},\n");
            }
            (pid, tid)
        }
    };
    let ts = at.saturating_duration_since(r.base).as_nanos() as f64 / 1000.0;
    let _ = write!(r.events, r#"{{"ph":"{ph}","name":""#);
    escaped(&mut r.events, name);
    let _ = write!(
        r.events,
        r#"","cat":"{cat}","ts":{ts:.3},"pid":{pid},"tid":{tid}"#
    );
    more(&mut r.events);
    r.events.push_str("},\n");
}

/// Microseconds from `from` to `to`, for a slice's `dur`.
fn micros(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_nanos() as f64 / 1000.0
}

/// A task `id` was submitted (called before it is queued).
#[cold]
pub(crate) fn task_submitted(id: u64) {
    let now = Instant::now();
    record('i', "submit", "pool", now, |s| {
        let _ = write!(s, r#","s":"t","args":{{"task":{id}}}"#);
    });
    record('s', "task", "pool", now, |s| {
        let _ = write!(s, r#","id":{id}"#);
    });
}

/// Run task `id`'s `job`, recording it as a slice (also if it panics).
#[cold]
pub(crate) fn task_run<T>(id: u64, job: impl FnOnce() -> T) -> T {
    struct Slice(u64, Instant);
    impl Drop for Slice {
        fn drop(&mut self) {
            let (id, start) = (self.0, self.1);
            let dur = start.elapsed().as_nanos() as f64 / 1000.0;
            record('f', "task", "pool", start, |s| {
                let _ = write!(s, r#","id":{id},"bp":"e""#);
            });
            record('X', "task", "pool", start, |s| {
                let _ = write!(s, r#","dur":{dur:.3},"args":{{"task":{id}}}"#);
            });
        }
    }
    let _slice = Slice(id, Instant::now());
    job()
}

/// A wait of kind `what` (e.g. `"wait lock"`) began at `since` and has just
/// ended: recorded if it lasted at least the threshold.
#[cold]
pub(crate) fn waited(what: &'static str, since: Instant) {
    let took = since.elapsed();
    if (took.as_nanos() as u64) < WAIT_THRESHOLD_NS.load(Relaxed) {
        return;
    }
    let dur = took.as_nanos() as f64 / 1000.0;
    record('X', what, "wait", since, |s| {
        let _ = write!(s, r#","dur":{dur:.3}"#);
    });
}

/// Child process `pid` (named `name`) was started with `method`: an
/// instant `process start` on this thread, and the child's own track,
/// named after it, where its lifetime slice and its pool batches go.
#[cold]
pub(crate) fn process_started(pid: i32, name: &str, method: &str) {
    let now = Instant::now();
    let mut guard = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = guard.as_mut() else { return };
    r.children.insert(pid, now);
    let track = pid.unsigned_abs();
    let _ = write!(
        r.events,
        r#"{{"ph":"M","name":"process_name","pid":{track},"tid":{track},"args":{{"name":""#
    );
    escaped(&mut r.events, name);
    r.events.push_str("\"}},\n");
    emit(
        r,
        Track::Thread,
        'i',
        "process start",
        "process",
        now,
        |s| {
            let _ = write!(s, r#","s":"t","args":{{"pid":{pid},"name":""#);
            escaped(s, name);
            let _ = write!(s, r#"","method":"{method}"}}"#);
        },
    );
}

/// Child process `pid` was seen to exit with Python's `exitcode` (`-N`:
/// killed by signal N): an instant `process exit` on this thread, and, if
/// it was started during the trace, a slice `process` over its lifetime
/// on its track.
#[cold]
pub(crate) fn process_exited(pid: i32, exitcode: i32) {
    let now = Instant::now();
    let mut guard = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = guard.as_mut() else { return };
    let status = |s: &mut String| {
        let _ = write!(s, r#""exitcode":{exitcode}"#);
        if exitcode < 0 {
            let _ = write!(s, r#","signal":{}"#, -exitcode);
        }
    };
    emit(r, Track::Thread, 'i', "process exit", "process", now, |s| {
        let _ = write!(s, r#","s":"t","args":{{"pid":{pid},"#);
        status(s);
        s.push('}');
    });
    if let Some(start) = r.children.remove(&pid) {
        let dur = micros(start, now);
        emit(
            r,
            Track::Child(pid),
            'X',
            "process",
            "process",
            start,
            |s| {
                let _ = write!(s, r#","dur":{dur:.3},"args":{{"#);
                status(s);
                s.push('}');
            },
        );
    }
}

/// Pool batch `id` was sent to worker `pid` (called just before the send).
#[cold]
pub(crate) fn batch_sent(pid: i32, id: u64) {
    let now = Instant::now();
    let mut guard = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = guard.as_mut() {
        r.batches.entry(pid).or_default().sent.push_back((id, now));
    }
}

/// Worker `pid`'s batch `id` is over: replied (`ok`), or failed (the
/// worker died, or the send was refused). A slice `batch` on the worker's
/// track, from the send to now.
#[cold]
pub(crate) fn batch_done(pid: i32, id: u64, ok: bool) {
    let now = Instant::now();
    let mut guard = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = guard.as_mut() else { return };
    let Some(w) = r.batches.get_mut(&pid) else {
        return;
    };
    let Some(k) = w.sent.iter().position(|b| b.0 == id) else {
        return;
    };
    // A batch queued behind a dead worker's and sent again elsewhere
    // never ends here: whatever was sent before this one is over.
    let sent = w.sent.drain(..=k).next_back().map_or(now, |b| b.1);
    let sent = w.free_at.map_or(sent, |f| f.max(sent));
    w.free_at = Some(now);
    if w.sent.is_empty() && !ok {
        r.batches.remove(&pid);
    }
    let dur = micros(sent, now);
    emit(r, Track::Child(pid), 'X', "batch", "pool", sent, |s| {
        let _ = write!(
            s,
            r#","dur":{dur:.3},"args":{{"batch":{id},"replied":{ok}}}"#
        );
    });
}
