//! Lesson `threads`: make threads, name them, join them, run a type as a
//! thread, list them, and ask "who am I?".

use std::sync::Arc;

use gilfree::threading::{self, Lock, Runnable, Thread};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure};

/// Python's "subclass Thread and override run()": a type that runs.
struct Summer {
    upto: u64,
    gate: Arc<Lock>,
    out: Arc<Lock<Vec<String>>>,
}

impl Runnable for Summer {
    fn run(self) {
        drop(self.gate.acquire()); // wait at the gate
        let total: u64 = (1..=self.upto).sum();
        let me = threading::current_thread();
        self.out
            .acquire()
            .push(format!("{} summed 1..={} = {total}", me.name(), self.upto));
    }
}

pub fn run(ctx: &Ctx) -> LessonResult {
    let n = ctx.threads.unwrap_or(3).clamp(1, 64);
    let me = threading::current_thread();
    measure("current thread", me.name());
    measure("it is the main thread", me == threading::main_thread());

    // A gate keeps the workers alive while we list them.
    let gate = Arc::new(Lock::new(()));
    let held = gate.acquire();
    let mut workers = Vec::new();
    for i in 0..n {
        let g = gate.clone();
        let t = Thread::builder()
            .name(format!("worker-{i}"))
            .daemon(false)
            .target(move || {
                drop(g.acquire()); // wait at the gate
                let me = threading::current_thread();
                format!(
                    "{} (ident {}) squared {i}: {}",
                    me.name(),
                    threading::get_ident(),
                    i * i
                )
            });
        t.start()?;
        workers.push(t);
    }
    let g = gate.clone();
    let unnamed = Thread::new(move || {
        drop(g.acquire());
        6 * 7
    });
    measure("a thread without a name is called", unnamed.name());
    unnamed.start()?;

    let out = Arc::new(Lock::new(Vec::new()));
    let summer = Thread::builder().name("summer").runnable(Summer {
        upto: if ctx.fast { 1_000 } else { 1_000_000 },
        gate: gate.clone(),
        out: out.clone(),
    });
    summer.start()?;

    let listed: Vec<String> = threading::enumerate()
        .iter()
        .map(|t| t.name().to_owned())
        .collect();
    measure("enumerate() while workers wait", listed.join(", "));
    measure("active_count()", threading::active_count());

    drop(held); // open the gate
    for t in &workers {
        measure(&format!("joined {}", t.name()), t.join()?);
    }
    measure(&format!("joined {}", unnamed.name()), unnamed.join()?);
    summer.join()?;
    for line in out.acquire().iter() {
        measure("joined summer (a Runnable)", line);
    }
    measure("alive after join", workers.iter().any(|t| t.is_alive()));

    // A panicking thread: its excepthook reports it, join sees it.
    threading::set_excepthook(|args| {
        println!(
            "   excepthook: thread {} panicked: {}",
            args.thread.as_ref().map_or("?", |t| t.name()),
            args.message
        )
    });
    let bad = Thread::builder()
        .name("faulty")
        .target(|| -> u32 { panic!("no input") });
    bad.start()?;
    measure(
        "join of a panicked thread",
        format!("{:?}", bad.join().err()),
    );
    threading::set_excepthook(threading::default_excepthook);

    // Python waits for non-daemon threads at exit; Rust's main does not.
    let waited = Arc::new(Lock::new(false));
    let w = waited.clone();
    threading::main(|| {
        Thread::builder()
            .name("late")
            .daemon(false)
            .spawn(move || *w.acquire() = true)
    })?;
    measure(
        "non-daemon thread waited for by threading::main",
        *waited.acquire(),
    );

    explain(
        "A Thread is built (name, daemon flag, target or Runnable), started, and \
         joined; join hands back what the target returned, or the panic. \
         enumerate() lists the live threads, MainThread first; current_thread() \
         works in any thread. Unlike Python, a Rust program does not wait for \
         its threads when main returns: wrap main in threading::main (or hold \
         threading::exit_guard()) to wait for non-daemon threads as Python does.",
    );
    Ok(())
}
