//! The lessons, one file each. Add a lesson: write `fn run(&Ctx) -> Result`,
//! then add a `Lesson` line to [`LESSONS`] (the tour runs them in this order).

mod asyncio;
mod cluster;
mod cpu_bound;
mod manager;
mod pipe;
mod pipe_vs_queue;
mod process_locks;
mod process_pool;
mod processes;
mod shared_memory;

use std::path::PathBuf;

mod barrier;
mod condition;
mod deadlock;
mod event;
mod producer_consumer;
mod race;
mod semaphore;
mod sequential_vs_threads;
mod thread_pool;
mod threads;

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
    /// Where to write a trace (Chrome trace events), if the lesson records
    /// one.
    pub trace: Option<PathBuf>,
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
        name: "threads",
        about: "Create, name, start and join threads; a Runnable type; enumerate, current_thread, main_thread",
        run: threads::run,
    },
    Lesson {
        name: "sequential-vs-threads",
        about: "Simulated I/O run sequentially, then on 1, 2, 4, … threads, with the speedup (--chart FILE.svg)",
        run: sequential_vs_threads::run,
    },
    Lesson {
        name: "race",
        about: "An unsynchronised read-modify-write loses updates; the same loop under a Lock loses none",
        run: race::run,
    },
    Lesson {
        name: "deadlock",
        about: "Two threads take two locks in opposite order: reported before it hangs (--features deadlock-detection), caught by a timeout, fixed by ordering and acquire_all",
        run: deadlock::run,
    },
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
    Lesson {
        name: "condition",
        about: "Consumers wait on a Condition for a producer's data; notify(1) vs notify_all",
        run: condition::run,
    },
    Lesson {
        name: "barrier",
        about: "Workers in phases behind a Barrier, an action per phase, a broken barrier",
        run: barrier::run,
    },
    Lesson {
        name: "thread-pool",
        about: "ThreadPoolExecutor: map, submit + as_completed, wait(FirstCompleted), a failing task",
        run: thread_pool::run,
    },
    Lesson {
        name: "producer-consumer",
        about: "Queue, LifoQueue and PriorityQueue with producers, consumers, task_done and join",
        run: producer_consumer::run,
    },
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
    Lesson {
        name: "pipe-vs-queue",
        about: "Pipe (two endpoints) vs Queue (many producers and consumers, shared memory): latency and throughput at 64 B and 1 MiB, four producers into one",
        run: pipe_vs_queue::run,
    },
    Lesson {
        name: "manager",
        about: "A Manager's dict, list, Namespace and Queue shared by worker processes; a proxy call's cost against a Pipe round trip and a shared-memory Value",
        run: manager::run,
    },
    Lesson {
        name: "process-pool",
        about: "A CPU-bound map on Pool, ProcessPoolExecutor and ThreadPoolExecutor; imap vs imap_unordered; a worker SIGKILLed mid-task",
        run: process_pool::run,
    },
    Lesson {
        name: "shared-memory",
        about: "No sharing by default; a Value incremented by N processes without and with get_lock(); an Array filled in parallel",
        run: shared_memory::run,
    },
    Lesson {
        name: "process-locks",
        about: "Processes take turns under a process Lock; a holder SIGKILLed, the next acquirer told owner_died",
        run: process_locks::run,
    },
    Lesson {
        name: "cluster",
        about: "The same CPU-bound map on ThreadPoolExecutor, ProcessPoolExecutor and MPI's MpiPoolExecutor, measured (feature mpi, under mpiexec; else it prints the command)",
        run: cluster::run,
    },
    Lesson {
        name: "asyncio",
        about: "10,000 downloads as threads vs async tasks (time, peak RSS); a producer/consumer on Queue.put_async/get_async; a blocking call stalling every task",
        run: asyncio::run,
    },
];
