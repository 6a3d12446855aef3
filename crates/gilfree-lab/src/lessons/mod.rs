//! The lessons, one file each. Add a lesson: write `fn run(&Ctx) -> Result`,
//! then add a `Lesson` line to [`LESSONS`] (the tour runs them in this order).

use std::path::PathBuf;

mod producer_consumer;

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
pub static LESSONS: &[Lesson] = &[Lesson {
    name: "producer-consumer",
    about: "Queue, LifoQueue and PriorityQueue with producers, consumers, task_done and join",
    run: producer_consumer::run,
}];
