//! The trace's process events for plain `Process`es under every start
//! method: `process start` (pid, name, method) and `process exit` (exit
//! code, signal) on the parent's timeline, a `process` slice on each
//! child's own track; and a traced parent's children write nothing of
//! their own. `harness = false`: `main` calls `multiprocessing::init()`
//! first, and the one case runs alone (a trace is process-wide).

use gilfree::futures::ThreadPoolExecutor;
use gilfree::multiprocessing::{StartMethod, get_context};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

#[gilfree::task]
fn exit_with(code: i32) {
    std::process::exit(code)
}

#[gilfree::task]
fn killed() {
    // SAFETY: raising a signal at ourselves.
    unsafe { libc::raise(libc::SIGKILL) };
}

/// Builds and drops a thread pool, and panics (exit code 1) if the trace
/// is on here: on in a child (a forked copy of the parent's), its pool
/// would write the child's events over the parent's file.
#[gilfree::task]
fn uses_a_pool() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    assert_eq!(pool.submit(|| 1).unwrap().result(), Ok(1));
    drop(pool);
    assert!(!gilfree::trace::is_on(), "the child traces");
}

fn check(ok: bool, what: impl Into<String>) -> Result<(), Failed> {
    if ok { Ok(()) } else { Err(what.into().into()) }
}

fn traced_children() -> Result<(), Failed> {
    let path = std::env::temp_dir().join(format!(
        "gilfree-trace-process-test-{}.json",
        std::process::id()
    ));
    let trace = gilfree::trace::start(&path)?;
    // (pid, method, expected exit code)
    let mut started = Vec::new();
    for m in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::ForkServer,
    ] {
        let ctx = get_context(m);
        let a = ctx.process(exit_with::TASK, (3,))?;
        a.start()?;
        a.join()?;
        started.push((a.pid().unwrap(), m.name(), 3));
        let b = ctx.process(killed::TASK, ())?;
        b.start()?;
        b.join()?;
        started.push((b.pid().unwrap(), m.name(), -9));
        let c = ctx.process(uses_a_pool::TASK, ())?;
        c.start()?;
        c.join()?;
        check(
            c.exitcode() == Some(0),
            format!("pool child: {:?}", c.exitcode()),
        )?;
        started.push((c.pid().unwrap(), m.name(), 0));
    }
    trace.finish()?;
    let text = std::fs::read_to_string(&path)?;
    let _ = std::fs::remove_file(&path);
    let events: Vec<Value> = serde_json::from_str(&text)?;
    let me = u64::from(std::process::id());
    let find = |ph: &str, name: &str, pid: i32| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| {
                e["ph"] == ph
                    && e["name"] == name
                    && (e["args"]["pid"] == pid || (ph == "X" && e["pid"] == pid))
            })
            .collect()
    };
    for &(pid, method, code) in &started {
        let s = find("i", "process start", pid);
        check(s.len() == 1, format!("{pid}: {} starts", s.len()))?;
        check(s[0]["pid"] == me, format!("start not ours: {}", s[0]))?;
        check(s[0]["args"]["method"] == method, format!("{}", s[0]))?;
        check(s[0]["args"]["name"].is_string(), format!("{}", s[0]))?;
        let x = find("i", "process exit", pid);
        check(x.len() == 1, format!("{pid}: {} exits", x.len()))?;
        check(x[0]["pid"] == me, format!("exit not ours: {}", x[0]))?;
        check(x[0]["args"]["exitcode"] == code, format!("{}", x[0]))?;
        let signal = (code < 0).then_some(-code);
        check(
            x[0]["args"]["signal"].as_i64() == signal.map(i64::from),
            format!("{}", x[0]),
        )?;
        let life = find("X", "process", pid);
        check(life.len() == 1, format!("{pid}: {} lifetimes", life.len()))?;
        check(life[0]["tid"] == pid, format!("{}", life[0]))?;
        check(life[0]["args"]["exitcode"] == code, format!("{}", life[0]))?;
        check(
            life[0]["dur"].as_f64().is_some_and(|d| d >= 0.0),
            format!("{}", life[0]),
        )?;
    }
    // The children's pools recorded nothing here (the fork child's copy of
    // the trace is off), and nothing but this process's pids appears.
    for e in &events {
        let pid = e["pid"].as_u64().unwrap_or(0);
        check(
            pid == me || started.iter().any(|s| s.0 as u64 == pid),
            format!("an event of another process: {e}"),
        )?;
        check(e["name"] != "task", format!("a child's task: {e}"))?;
    }
    Ok(())
}

fn main() {
    gilfree::multiprocessing::init();
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let trials = vec![Trial::test("traced_children", traced_children)];
    libtest_mimic::run(&args, trials).exit();
}
