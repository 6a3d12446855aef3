//! The lessons, one file each. Add a lesson: write `fn run(&Ctx) -> Result`,
//! then add a `Lesson` line to [`LESSONS`] (the tour runs them in this order).

use std::path::PathBuf;

mod event;
mod semaphore;

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
        name: "semaphore",
        about: "A pool of N resources shared by M > N threads; a BoundedSemaphore catches an over-release",
        run: semaphore::run,
    },
    Lesson {
        name: "event",
        about: "Workers wait for a start Event (wake-up latency measured); a Timer cancelled before it fires",
        run: event::run,
    },
];
