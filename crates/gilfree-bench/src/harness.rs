//! The measuring harness: calibration, interleaved repetitions, statistics.
//!
//! A *shape* is one benchmark (say, `lock_uncontended`); an *impl* is one
//! implementation of it (`gilfree`, `parking_lot`, `cpython`, …). A shape
//! function builds one [`Case`] per impl — a closure that performs `n`
//! operations and returns how long they took — and hands them all to
//! [`Bench::compare`], which
//!
//! 1. calibrates each case: runs it with growing `n` until one sample takes
//!    about the configured sample time (these runs are the warm-up, and are
//!    thrown away);
//! 2. runs `reps` rounds; in each round every case runs once, in an order
//!    rotated by one each round, so that a burst of noise from the rest of
//!    the machine lands on every impl alike rather than on whichever ran
//!    during it;
//! 3. records, per impl, the median and the min–max of the per-operation
//!    times of its samples.
//!
//! Cases served by a peer process (CPython; gilfree with deadlock detection
//! on) are added by `compare` itself whenever the peer has the shape, so a
//! shape function only lists the in-process impls.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::peer::Peer;

/// The default `--parent-mib`: with it this benchmark is about as big as a
/// bare CPython interpreter (13–14 MB resident).
pub const DEFAULT_PARENT_MIB: usize = 12;

/// How much to measure.
#[derive(Clone, Debug)]
pub struct Config {
    /// The `--quick` preset is in use.
    pub quick: bool,
    /// Timed samples per impl (after calibration).
    pub reps: usize,
    /// The wall time one sample should take.
    pub sample: Duration,
    /// Only these shapes (ids, or patterns with `*` at either end; all when
    /// empty).
    pub only: Vec<String>,
    /// Only these impls (all when empty).
    pub impls: Vec<String>,
    /// Worker threads for executor and CPU shapes.
    pub threads: usize,
    /// Operations per sample, fixed (no calibration): for profiling a shape
    /// under `valgrind --tool=callgrind` or `perf`, where a count must be
    /// the same from run to run.
    pub fixed_n: Option<u64>,
    /// MiB of touched heap the benchmark holds while it starts processes
    /// (see `--parent-mib`).
    pub parent_mib: usize,
}

impl Config {
    /// The presets: `--quick` (every shape well under two minutes in total,
    /// for the test suite and a first look) and the full run.
    pub fn new(quick: bool) -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2);
        if quick {
            Config {
                quick,
                reps: 7,
                sample: Duration::from_millis(5),
                only: Vec::new(),
                impls: Vec::new(),
                threads,
                fixed_n: None,
                parent_mib: DEFAULT_PARENT_MIB,
            }
        } else {
            Config {
                quick,
                reps: 15,
                sample: Duration::from_millis(50),
                only: Vec::new(),
                impls: Vec::new(),
                threads,
                fixed_n: None,
                parent_mib: DEFAULT_PARENT_MIB,
            }
        }
    }
}

/// One measured (shape, impl): per-operation nanoseconds.
#[derive(Clone, Debug)]
pub struct Row {
    /// Shape id, e.g. `lock_uncontended`.
    pub shape: String,
    /// Impl id, e.g. `parking_lot`.
    pub imp: String,
    /// Median over the samples.
    pub median_ns: f64,
    /// Fastest sample.
    pub min_ns: f64,
    /// Slowest sample.
    pub max_ns: f64,
    /// Operations per sample.
    pub n: u64,
    /// Samples taken.
    pub reps: usize,
}

/// What a case's closure returns: the time for `n` operations, or why it
/// could not run (the impl is then dropped from the shape, with a note).
pub type RunResult = Result<Duration, String>;

/// One implementation of a shape.
pub struct Case<'a> {
    imp: String,
    run: Box<dyn FnMut(u64) -> RunResult + 'a>,
    min_n: u64,
}

/// A case that cannot fail: `run(n)` performs `n` operations and returns
/// the time they took.
pub fn case<'a>(imp: &str, mut run: impl FnMut(u64) -> Duration + 'a) -> Case<'a> {
    Case {
        imp: imp.to_string(),
        run: Box::new(move |n| Ok(run(n))),
        min_n: 1,
    }
}

impl<'a> Case<'a> {
    /// A case that may fail (an external process, say).
    pub fn fallible(imp: &str, run: impl FnMut(u64) -> RunResult + 'a) -> Self {
        Case {
            imp: imp.to_string(),
            run: Box::new(run),
            min_n: 1,
        }
    }

    /// The impl's id.
    pub fn imp(&self) -> &str {
        &self.imp
    }

    /// Perform `n` operations once.
    pub fn run(&mut self, n: u64) -> RunResult {
        (self.run)(n)
    }

    /// Never run fewer than `n` operations per sample (e.g. a task count
    /// the issue fixes); calibration may still choose more.
    pub fn min_n(mut self, n: u64) -> Self {
        self.min_n = n;
        self
    }
}

/// Sizes a shape allows: calibration starts at `start` operations and never
/// goes past `max` (e.g. a queue shape's items must fit in memory).
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// First calibration size.
    pub start: u64,
    /// Largest `n` ever used.
    pub max: u64,
}

impl Sizes {
    /// Cheap operations (nanoseconds each).
    pub const FAST: Sizes = Sizes {
        start: 1_000,
        max: 1 << 28,
    };
    /// Operations that hand off between threads (micro- to milliseconds on
    /// a loaded machine).
    pub const HANDOFF: Sizes = Sizes {
        start: 64,
        max: 1 << 24,
    };
    /// Items that are held in memory at once (futures, results).
    pub const HELD: Sizes = Sizes {
        start: 256,
        max: 4_000_000,
    };
}

/// Time `f`.
#[inline]
pub fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Run `body(i)` on `k` scoped threads, released together by a barrier, and
/// return the time from the first thread's start until the last one's end.
///
/// The threads read the clock themselves: on a loaded machine the thread
/// that spawned them may not run again until they are done, so its clock
/// would miss most of the work.
pub fn run_threads(k: usize, body: impl Fn(usize) + Sync) -> Duration {
    let start = Barrier::new(k);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..k)
            .map(|i| {
                let (start, body) = (&start, &body);
                s.spawn(move || {
                    start.wait();
                    let t0 = Instant::now();
                    body(i);
                    (t0, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("benchmark thread panicked"))
            .collect()
    });
    let first = spans.iter().map(|s| s.0).min().expect("k > 0");
    let last = spans.iter().map(|s| s.1).max().expect("k > 0");
    last - first
}

/// The whole run: configuration, results, notes, and the peer processes.
pub struct Bench {
    /// What to measure.
    pub cfg: Config,
    /// Every row measured so far, in order.
    pub rows: Vec<Row>,
    /// Things the reader should know (skipped impls, failures).
    pub notes: Vec<String>,
    peers: Vec<Rc<RefCell<Peer>>>,
}

impl Bench {
    /// A run with `cfg`, and no peer processes yet.
    pub fn new(cfg: Config) -> Self {
        Bench {
            cfg,
            rows: Vec::new(),
            notes: Vec::new(),
            peers: Vec::new(),
        }
    }

    /// Add a peer process; its shapes join the matching `compare`s.
    pub fn add_peer(&mut self, peer: Peer) {
        self.peers.push(Rc::new(RefCell::new(peer)));
    }

    /// Whether `shape` is selected by `--only`: an exact id, or a pattern
    /// with `*` at its start and/or end (`queue_*`, `*_taskdone`, `*lock*`).
    pub fn wants(&self, shape: &str) -> bool {
        self.cfg.only.is_empty() || self.cfg.only.iter().any(|o| matches(o, shape))
    }

    fn wants_impl(&self, imp: &str) -> bool {
        self.cfg.impls.is_empty() || self.cfg.impls.iter().any(|i| i == imp)
    }

    /// Record a note for the report.
    pub fn note(&mut self, s: impl Into<String>) {
        let s = s.into();
        eprintln!("note: {s}");
        self.notes.push(s);
    }

    /// The cases the peer processes serve for `shape` (those `--impl`
    /// selects): `compare` adds them itself; a shape that measures on its
    /// own (`shapes::scale`) runs them through [`Case::run`].
    pub fn peer_cases(&self, shape: &str) -> Vec<Case<'static>> {
        let mut cases = Vec::new();
        for py in &self.peers {
            for imp in py.borrow().impls(shape) {
                if !self.wants_impl(&imp) {
                    continue;
                }
                let (py, id, name) = (py.clone(), shape.to_string(), imp.clone());
                cases.push(Case::fallible(&imp, move |n| {
                    py.borrow_mut().run(&name, &id, n)
                }));
            }
        }
        cases
    }

    /// Whether `--impl` selects `imp`.
    pub fn wants_imp(&self, imp: &str) -> bool {
        self.wants_impl(imp)
    }

    /// Measure every case of `shape`, interleaved, plus those of the peer
    /// processes that have this shape, and record one row per impl.
    pub fn compare(&mut self, shape: &str, sizes: Sizes, cases: Vec<Case<'_>>) {
        if !self.wants(shape) {
            return;
        }
        let mut cases: Vec<Case<'_>> = cases
            .into_iter()
            .filter(|c| self.wants_impl(&c.imp))
            .collect();
        cases.extend(self.peer_cases(shape));
        if cases.is_empty() {
            return;
        }
        eprint!("{shape:<34}");
        let began = Instant::now();

        // 1. Calibrate (and warm up) each case on its own.
        let mut sized: Vec<(Case<'_>, u64)> = Vec::new();
        for mut c in cases {
            let n = match self.cfg.fixed_n {
                Some(n) => Ok(n.max(1)),
                None => calibrate(&mut c, sizes, self.cfg.sample),
            };
            match n {
                Ok(n) => sized.push((c, n)),
                Err(e) => self.note(format!("{shape}/{}: not measured: {e}", c.imp)),
            }
        }

        // 2. Interleaved repetitions, in an order rotated every round.
        let k = sized.len();
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); k];
        let mut failed = vec![false; k];
        for rep in 0..self.cfg.reps {
            for j in 0..k {
                let i = (j + rep) % k;
                if failed[i] {
                    continue;
                }
                let (c, n) = &mut sized[i];
                match (c.run)(*n) {
                    Ok(d) => samples[i].push(d.as_nanos() as f64 / *n as f64),
                    Err(e) => {
                        failed[i] = true;
                        let msg = format!("{shape}/{}: failed: {e}", c.imp);
                        self.note(msg);
                    }
                }
            }
            eprint!(".");
        }
        eprintln!(" {:.1} s", began.elapsed().as_secs_f64());

        // 3. Statistics.
        for (i, (c, n)) in sized.iter().enumerate() {
            let mut s = std::mem::take(&mut samples[i]);
            if failed[i] || s.is_empty() {
                continue;
            }
            s.sort_by(f64::total_cmp);
            self.rows.push(Row {
                shape: shape.to_string(),
                imp: c.imp.clone(),
                median_ns: median(&s),
                min_ns: s[0],
                max_ns: s[s.len() - 1],
                n: *n,
                reps: s.len(),
            });
        }
    }
}

/// `pattern` against `id`: exact, or `*` as a wildcard at either end.
pub fn matches(pattern: &str, id: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(p), _) if p.ends_with('*') => id.contains(&p[..p.len() - 1]),
        (Some(p), _) => id.ends_with(p),
        (None, Some(p)) => id.starts_with(p),
        (None, None) => id == pattern,
    }
}

/// The median of sorted, non-empty samples.
pub fn median(s: &[f64]) -> f64 {
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// Grow `n` until one run takes at least a quarter of `sample`, then scale
/// it to take about `sample`. Every run here doubles as warm-up.
fn calibrate(c: &mut Case<'_>, sizes: Sizes, sample: Duration) -> Result<u64, String> {
    let target = sample.as_nanos() as f64;
    let mut n = sizes.start.max(1).min(sizes.max);
    loop {
        let t = (c.run)(n)?.as_nanos().max(1) as f64;
        if t >= target / 4.0 || n >= sizes.max {
            let scaled = (n as f64 * target / t).round() as u64;
            return Ok(scaled.clamp(1, sizes.max).max(c.min_n.min(sizes.max)));
        }
        // Jump most of the way at once, but no more than 16× (the first
        // runs are the noisiest).
        let grow = (target / 2.0 / t).clamp(2.0, 16.0);
        n = ((n as f64 * grow) as u64).min(sizes.max);
    }
}

/// The host's cache-line transfer latency: two threads, spinning, take
/// turns bumping one word, so every bump waits for the line to come over
/// from the other core; the mean of `n` one-way hand-offs. On this kind of
/// VM it is not a constant: the same host measured 31–42 ns in one hour
/// and 160–176 ns in the next (the two vCPUs placed further apart), and
/// every hand-off shape slows with it, so each run prints it at its start
/// and end (docs/design-notes.md, "Unbounded queue, round 6").
pub fn line_transfer_latency(n: u64) -> Duration {
    use std::sync::atomic::{AtomicU64, Ordering::*};
    let word = AtomicU64::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for me in 0..2u64 {
            let word = &word;
            s.spawn(move || {
                let mut i = me;
                while i < n {
                    while word.load(Acquire) != i {
                        std::hint::spin_loop();
                    }
                    word.store(i + 1, Release);
                    i += 2;
                }
            });
        }
    });
    t.elapsed() / n.max(1) as u32
}

/// The host's thread wake-up latency: two threads hand a futex word back
/// and forth, each sleeping in `FUTEX_WAIT` until the other flips it and
/// calls `FUTEX_WAKE`; the median of `rounds` round trips, halved (a round
/// trip is two wake-ups). Printed in each run's header: a floor that blocks
/// pays it, so runs on different hosts compare through it.
pub fn wakeup_latency(rounds: usize) -> Duration {
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    fn wait_while(word: &AtomicU32, v: u32) {
        while word.load(SeqCst) == v {
            // SAFETY: `word` is a live, aligned u32 for the whole call; a
            // spurious or EAGAIN return is handled by the loop.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    word.as_ptr(),
                    libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                    v,
                    std::ptr::null::<libc::timespec>(),
                );
            }
        }
    }
    fn set_and_wake(word: &AtomicU32, v: u32) {
        word.store(v, SeqCst);
        // SAFETY: as in `wait_while`; FUTEX_WAKE only reads the address.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                1,
            );
        }
    }
    let word = AtomicU32::new(0);
    let mut times = Vec::with_capacity(rounds);
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..rounds {
                wait_while(&word, 0); // ping
                set_and_wake(&word, 0); // pong
            }
        });
        for _ in 0..rounds {
            let t = Instant::now();
            set_and_wake(&word, 1);
            wait_while(&word, 1);
            times.push(t.elapsed());
        }
    });
    times.sort();
    times.get(rounds / 2).map_or(Duration::ZERO, |d| *d / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_patterns() {
        assert!(matches("lock_uncontended", "lock_uncontended"));
        assert!(!matches("lock_uncontended", "deadlock_lock_uncontended"));
        assert!(matches("queue_*", "queue_bounded_1p1c"));
        assert!(!matches("queue_*", "py_queue_bounded_1p1c"));
        assert!(matches("*_taskdone", "queue_unbounded_1p1c_taskdone"));
        assert!(matches("*lock*", "deadlock_lock_nested"));
        assert!(!matches("*lock*", "event_pingpong"));
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
    }

    #[test]
    fn calibration_scales_to_the_sample_time() {
        // A fake case whose op takes 1 µs: one sample of 10 ms is 10,000 ops.
        let mut c = Case::fallible("fake", |n| Ok(Duration::from_micros(n)));
        let n = calibrate(&mut c, Sizes::FAST, Duration::from_millis(10)).unwrap();
        assert_eq!(n, 10_000);
        let mut c = Case::fallible("fake", |n| Ok(Duration::from_micros(n))).min_n(50_000);
        let n = calibrate(&mut c, Sizes::FAST, Duration::from_millis(10)).unwrap();
        assert_eq!(n, 50_000);
    }
}
