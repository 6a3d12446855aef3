//! The ground the twins' shared test bodies stand on: a *world* is where a
//! case's parties run (threads over the `threading` types, or child
//! processes over the `multiprocessing` types), *cells* are the shared
//! counters the parties report through (atomics both threads and processes
//! can see), and a *party* is one thread or child running a named party
//! body. The threading test files include this with the family modules
//! beside it (`tests/twins/*.rs`); `shared_memory_twins.rs` adds the
//! process world.

#![allow(dead_code)] // each test binary uses the part its families need

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

/// How many cells a case gets.
pub const CELLS: usize = 64;

/// Long enough never to expire on a loaded machine; only bounds a hang.
pub const LONG: Duration = Duration::from_secs(60);

/// Shared counters, zeroed at the start of a case: plain atomics for
/// threads, atomics in a shared block for processes.
pub trait Cells: Send + Sync + 'static {
    fn cell(&self, i: usize) -> &AtomicU64;

    fn get(&self, i: usize) -> u64 {
        self.cell(i).load(SeqCst)
    }
    fn set(&self, i: usize, v: u64) {
        self.cell(i).store(v, SeqCst)
    }
    /// Add `d`; the value before.
    fn add(&self, i: usize, d: u64) -> u64 {
        self.cell(i).fetch_add(d, SeqCst)
    }
    /// Subtract `d`; the value before.
    fn sub(&self, i: usize, d: u64) -> u64 {
        self.cell(i).fetch_sub(d, SeqCst)
    }
    /// Raise the cell to at least `v`.
    fn max(&self, i: usize, v: u64) {
        self.cell(i).fetch_max(v, SeqCst);
    }
    /// Yield until cell `i` reads at least `v`: waits for other parties
    /// to reach a point they count, never a timed sleep.
    fn wait_at_least(&self, i: usize, v: u64) {
        wait_until(|| self.get(i) >= v)
    }
}

/// Yield until `f()` holds; waits on state another party changes.
pub fn wait_until(f: impl Fn() -> bool) {
    while !f() {
        std::thread::yield_now();
    }
}

/// A world: where a case's parties run and what they share.
pub trait World: Send + Sync + 'static {
    type Cells: Cells;
    /// `n` fresh cells for one case.
    fn cells_n(&self, n: usize) -> Self::Cells;
    /// [`CELLS`] fresh cells for one case.
    fn cells(&self) -> Self::Cells {
        self.cells_n(CELLS)
    }
}

/// A party started by a case: a thread or a child process running a party
/// body, with its result (a `u64`) or what failed in it.
pub struct Party(Box<dyn FnOnce() -> Result<u64, String>>);

impl Party {
    /// A thread running `f`.
    pub fn thread(f: impl FnOnce() -> u64 + Send + 'static) -> Party {
        let t = std::thread::spawn(f);
        Party(Box::new(move || t.join().map_err(|e| panic_text(&*e))))
    }

    /// A party whose result comes from `join`.
    pub fn new(join: impl FnOnce() -> Result<u64, String> + 'static) -> Party {
        Party(Box::new(join))
    }

    /// Wait for the party; its result. A party that failed fails the case.
    pub fn join(self) -> u64 {
        self.try_join()
            .unwrap_or_else(|e| panic!("a party failed: {e}"))
    }

    /// Wait for the party; its result, or what failed in it (for the
    /// cases where a party is meant to fail).
    pub fn try_join(self) -> Result<u64, String> {
        (self.0)()
    }
}

/// Join every party; their results in order.
pub fn join_all(parties: Vec<Party>) -> Vec<u64> {
    parties.into_iter().map(Party::join).collect()
}

/// What a case hands its parties: its primitives and cells, in a world.
/// `start` runs the named party body of the kit's family in a new party.
pub trait Kit {
    fn start(&self, party: &'static str, arg: u64) -> Party;

    /// `n` parties running `party`, the `i`-th with argument `arg(i)`.
    fn start_n(&self, n: usize, party: &'static str, arg: impl Fn(usize) -> u64) -> Vec<Party> {
        (0..n).map(|i| self.start(party, arg(i))).collect()
    }
}

/// The text of a panic payload.
pub fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| e.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".into())
}

/// Run `f`, telling whether it panicked (Python: whether the `with` block
/// raised); the panic's message is not printed twice.
pub fn panics(f: impl FnOnce()) -> bool {
    catch_unwind(AssertUnwindSafe(f)).is_err()
}

/// The threads world: parties are threads of this process, over the
/// `threading` types.
#[derive(Clone, Copy)]
pub struct Threads;

/// Cells for threads: plain atomics.
#[derive(Clone)]
pub struct ThreadCells(Arc<Vec<AtomicU64>>);

impl Cells for ThreadCells {
    fn cell(&self, i: usize) -> &AtomicU64 {
        &self.0[i]
    }
}

impl World for Threads {
    type Cells = ThreadCells;
    fn cells_n(&self, n: usize) -> ThreadCells {
        ThreadCells(Arc::new((0..n).map(|_| AtomicU64::new(0)).collect()))
    }
}
