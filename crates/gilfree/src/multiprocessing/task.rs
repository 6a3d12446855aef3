//! Tasks: functions registered by a stable name, so that another process
//! (the same executable) can run them. `#[gilfree::task]` registers them in
//! a link-time table ([`linkme`]); a child looks the name up there, never a
//! function-pointer offset.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A typed handle to a registered task: Python's `target=` function.
///
/// `#[gilfree::task]` on `fn f(a: A, b: B) -> R` makes `f::TASK`, a
/// `Task<(A, B), R>`. Start it with [`Process::new`](super::Process::new);
/// call `f` itself as usual. [`Task::name`] is its registry name, module
/// path plus function name.
///
/// Difference from Python: the target must be a registered function (Rust
/// closures cannot cross into another process), except with the fork
/// closure opt-in ([`ProcessBuilder::fork_closure`](super::ProcessBuilder::fork_closure)).
///
/// ```
/// #[gilfree::task]
/// fn add(a: i32, b: i32) -> i32 {
///     a + b
/// }
/// assert!(add::TASK.name().ends_with("::add"));
/// assert_eq!(add(1, 2), 3);
/// ```
pub struct Task<A, R> {
    name: &'static str,
    _sig: PhantomData<fn(A) -> R>,
}

impl<A, R> Clone for Task<A, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A, R> Copy for Task<A, R> {}

impl<A, R> fmt::Debug for Task<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Task({})", self.name)
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFailure::BadArgs { task, reason } => {
                write!(f, "cannot decode the arguments of task {task}: {reason}")
            }
            TaskFailure::BadResult { task, reason } => {
                write!(f, "cannot encode the result of task {task}: {reason}")
            }
            TaskFailure::Panicked(m) => write!(f, "task panicked: {m}"),
            TaskFailure::Unknown(n) => write!(f, "unknown task {n:?}"),
        }
    }
}

impl<A, R> Task<A, R> {
    #[doc(hidden)]
    pub const fn __new(name: &'static str) -> Self {
        Task {
            name,
            _sig: PhantomData,
        }
    }

    /// The registry name: module path and function name.
    ///
    /// ```
    /// #[gilfree::task]
    /// fn hello() {}
    /// assert!(hello::TASK.name().ends_with("hello"));
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Why a task did not produce a result in the child.
#[doc(hidden)]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum TaskFailure {
    /// Its arguments did not decode (a type refused them, a different
    /// binary, or a bug): the task and the decoder's reason.
    BadArgs {
        /// The task's registry name.
        task: String,
        /// The decoder's message.
        reason: String,
    },
    /// Its result did not encode: the task and the encoder's reason.
    BadResult {
        /// The task's registry name.
        task: String,
        /// The encoder's message.
        reason: String,
    },
    /// It panicked; the message.
    Panicked(String),
    /// No task of that name in the child's registry.
    Unknown(String),
}

/// One registered task.
#[doc(hidden)]
pub struct TaskEntry {
    /// Module path + function name.
    pub name: &'static str,
    /// Decode the arguments, run, and encode the result at the end of the
    /// buffer (a pool worker encodes a whole batch's results into one).
    pub run: fn(&[u8], &mut Vec<u8>) -> Result<(), TaskFailure>,
    /// Run a batch of calls (their encoded arguments), each outcome into
    /// the batch's reply ([`run_batch`], compiled for this task).
    pub run_batch: fn(&[&[u8]], &mut BatchOut),
}

impl TaskEntry {
    /// One call on encoded `args`: its encoded result.
    pub(crate) fn call(&self, args: &[u8]) -> Result<Vec<u8>, TaskFailure> {
        let mut out = Vec::new();
        (self.run)(args, &mut out).map(|()| out)
    }
}

/// The registry, filled at link time by `#[gilfree::task]`.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static TASKS: [TaskEntry];

/// Find a task by name (the child's side). A name registered twice (two
/// same-named tasks in one module, in different function bodies) is
/// refused rather than guessed.
pub(crate) fn lookup(name: &str) -> Option<&'static TaskEntry> {
    let mut it = TASKS.iter().filter(|t| t.name == name);
    let first = it.next()?;
    if it.next().is_some() {
        return None;
    }
    Some(first)
}

/// Decode the argument tuple of task `task`; wrong bytes are an error
/// with the decoder's reason (a type's own message), never UB.
#[doc(hidden)]
pub fn decode_args<A: DeserializeOwned>(task: &str, bytes: &[u8]) -> Result<A, TaskFailure> {
    super::codec::from_bytes(bytes).map_err(|reason| TaskFailure::BadArgs {
        task: task.to_string(),
        reason,
    })
}

/// A batch's outcomes, laid out as the pool's reply carries them: each
/// call's result length (`u32` little-endian; 0 for a failed call), the
/// failed calls by index, and the results end to end. Reused from batch to
/// batch.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct BatchOut {
    /// Each call's result length.
    pub lens: Vec<u8>,
    /// The failed calls, by index, with why.
    pub failed: Vec<(u32, TaskFailure)>,
    /// The results, end to end.
    pub data: Vec<u8>,
}

impl BatchOut {
    /// Empty, for the next batch (keeping the buffers).
    pub(crate) fn clear(&mut self) {
        self.lens.clear();
        self.failed.clear();
        self.data.clear();
    }

    /// Call `i` failed: why.
    pub(crate) fn fail(&mut self, i: usize, why: TaskFailure) {
        self.lens.extend_from_slice(&0u32.to_le_bytes());
        self.failed.push((i as u32, why));
    }

    /// Call `i` of task `task` is done: its result is what `data` gained
    /// since `before` (dropped on a failure).
    #[inline]
    fn done(&mut self, task: &str, i: usize, before: usize, r: Result<(), TaskFailure>) {
        let r = r.and_then(|()| {
            u32::try_from(self.data.len() - before).map_err(|_| TaskFailure::BadResult {
                task: task.to_string(),
                reason: "a result over 4 GiB".into(),
            })
        });
        match r {
            Ok(n) => self.lens.extend_from_slice(&n.to_le_bytes()),
            Err(why) => {
                self.data.truncate(before);
                self.fail(i, why);
            }
        }
    }
}

/// Run task `task` (`f` on its decoded argument tuple) on each of a
/// batch's encoded calls, each result encoded straight into `out.data`.
/// A panic fails only its call. `#[gilfree::task]` compiles this once per
/// task, so a batch costs one indirect call, not one per call.
#[doc(hidden)]
#[inline]
pub fn run_batch<A: DeserializeOwned, R: Serialize>(
    task: &str,
    calls: &[&[u8]],
    out: &mut BatchOut,
    f: impl Fn(A) -> R,
) {
    for (i, args) in calls.iter().enumerate() {
        let before = out.data.len();
        let data = &mut out.data;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let a = decode_args(task, args)?;
            encode_result(task, &f(a), data)
        }))
        .unwrap_or_else(|p| Err(TaskFailure::Panicked(panic_message(&*p))));
        out.done(task, i, before, r);
    }
}

/// A caught panic's message.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    match (p.downcast_ref::<&str>(), p.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (_, Some(s)) => s.clone(),
        _ => "Box<dyn Any>".to_string(),
    }
}

/// Encode the result of task `task` at the end of `out` (left as it was
/// on an error).
#[doc(hidden)]
pub fn encode_result<R: Serialize>(
    task: &str,
    r: &R,
    out: &mut Vec<u8>,
) -> Result<(), TaskFailure> {
    super::codec::append(r, out).map_err(|reason| TaskFailure::BadResult {
        task: task.to_string(),
        reason,
    })
}
