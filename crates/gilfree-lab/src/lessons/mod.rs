//! The lessons, one file each. Add a lesson: write `fn run(&Ctx) -> Result`,
//! then add a `Lesson` line to [`LESSONS`] (the tour runs them in this order).

mod cpu_bound;
mod pipe;
mod processes;

use std::path::PathBuf;

/// What every lesson is given.
#[derive(Clone, Debug, Default)]
#[allow(dead_code)] // read by the lessons as they arrive
pub struct Ctx {
    /// Small sizes (tests, quick looks).
    pub fast: bool,
    /// Where to draw a chart, if the lesson has one.
    pub chart: Option<PathBuf>,
    /// Threads or processes to use, if the lesson takes a number.
    pub threads: Option<usize>,
}

/// A lesson's result: any error ends it with a message.
pub type LessonResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// One lesson of the lab.
pub struct Lesson {
    /// The subcommand.
    pub name: &'static str,
    /// One line on what it teaches.
    pub about: &'static str,
    /// Performs it.
    pub run: fn(&Ctx) -> LessonResult,
}

/// Every lesson, in tour order.
pub static LESSONS: &[Lesson] = &[
    Lesson {
        name: "processes",
        about: "Start, join, exit codes and pids; the start methods by start latency",
        run: processes::run,
    },
    Lesson {
        name: "cpu-bound",
        about: "CPU-bound work sequentially, on N threads and on N processes",
        run: cpu_bound::run,
    },
    Lesson {
        name: "pipe",
        about: "Pipe ping-pong between processes, and throughput at 64 B and 1 MiB",
        run: pipe::run,
    },
];
