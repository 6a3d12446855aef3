//! Real child processes under every start method. `harness = false`: the
//! binary's own `main` calls `multiprocessing::init()` first (children
//! re-execute this binary), and runs the cases on the main thread
//! (libtest-mimic, forced to one test thread, so the fork-closure cases see
//! a single-threaded parent). nextest and `cargo test` both list and count
//! the cases; a failure exits non-zero.

use std::time::Duration;

use gilfree::multiprocessing::connection::{Waitable, wait};
use gilfree::multiprocessing::{
    Connection, Error, Fault, Pipe, Process, StartMethod, Task, active_children, cpu_count,
    current_process, get_context, parent_process, process_cpu_count,
};
use libtest_mimic::{Arguments, Failed, Trial};

/// Generous: the machine is shared and busy; a start never legitimately
/// takes this long, so hitting it means a bug.
const PATIENCE: Duration = Duration::from_secs(120);

#[gilfree::task]
fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[gilfree::task]
fn join_words(words: Vec<String>, sep: String) -> (String, usize) {
    (words.join(&sep), words.len())
}

#[gilfree::task]
fn exit_with(code: i32) {
    std::process::exit(code)
}

#[gilfree::task]
fn panics(msg: String) {
    // Quiet: the message is checked through `result()`.
    std::panic::set_hook(Box::new(|_| {}));
    panic!("{msg}")
}

#[gilfree::task]
fn aborts() {
    std::process::abort()
}

/// Tells the parent it runs, then blocks until killed.
#[gilfree::task]
fn wait_forever(c: Connection) {
    c.send("running").unwrap();
    loop {
        std::thread::park();
    }
}

#[gilfree::task]
fn shout(c: Connection) {
    let s: String = c.recv().unwrap();
    c.send(&s.to_uppercase()).unwrap();
}

#[gilfree::task]
fn who_am_i() -> (String, i32, Option<i32>, bool) {
    let me = current_process();
    (me.name, me.pid, parent_process().map(|p| p.pid), me.daemon)
}

/// Sends "started", then a 64 MiB message that cannot fit in the socket
/// buffer: the parent kills us in the middle of it.
#[gilfree::task]
fn big_message(c: Connection) {
    c.send("started").unwrap();
    let _ = c.send_bytes(&vec![7u8; 64 << 20]);
}

/// Starts a daemon grandchild, reports its pid, then exits (`killed`:
/// waits to be SIGKILLed instead, so no exit handler runs).
#[gilfree::task]
fn daemon_parent(method: String, c: Connection, killed: bool) {
    let (mine, theirs) = Pipe(true).unwrap();
    let p = get_context(method.parse().unwrap())
        .builder()
        .daemon(true)
        .target(wait_forever::TASK, (theirs,))
        .unwrap();
    p.start().unwrap();
    let _: String = mine.recv().unwrap();
    c.send(&p.pid().unwrap()).unwrap();
    if killed {
        loop {
            std::thread::park();
        }
    }
}

/// An even number: refuses odd ones with its own message.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(try_from = "u32")]
struct Even(u32);

impl TryFrom<u32> for Even {
    type Error = String;
    fn try_from(n: u32) -> Result<Self, String> {
        if n.is_multiple_of(2) {
            Ok(Even(n))
        } else {
            Err(format!("{n} is odd"))
        }
    }
}

#[gilfree::task]
fn halve(n: Even) -> u32 {
    n.0 / 2
}

#[gilfree::task]
fn reply_half(c: Connection, n: Even) {
    c.send(&(n.0 / 2)).unwrap();
}

#[gilfree::task]
fn index(i: u32) -> u32 {
    i * 3 + 1
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

fn run(r: Result<(), Error>) -> Result<(), Failed> {
    r.map_err(|e| Failed::from(e.to_string()))
}

type Case = fn(StartMethod) -> Result<(), Failed>;

fn args_and_results(m: StartMethod) -> Result<(), Failed> {
    let ctx = get_context(m);
    let p = ctx.process(add::TASK, (2, 40))?;
    p.start()?;
    check(p.pid().is_some(), "pid after start")?;
    check(p.result()? == 42, "2 + 40")?;
    check(
        p.exitcode() == Some(0),
        format!("exitcode {:?}", p.exitcode()),
    )?;
    let words = vec!["a".to_string(), "b".into(), "c".into()];
    let p = ctx.process(join_words::TASK, (words, "-".into()))?;
    p.start()?;
    check(p.result()? == ("a-b-c".to_string(), 3), "join_words")?;
    Ok(())
}

fn exit_codes(m: StartMethod) -> Result<(), Failed> {
    let p = get_context(m).process(exit_with::TASK, (7,))?;
    p.start()?;
    p.join()?;
    check(
        p.exitcode() == Some(7),
        format!("exitcode {:?}", p.exitcode()),
    )?;
    check(matches!(p.result(), Err(Error::NoResult(7))), "no result")?;
    check(!p.is_alive(), "dead")?;
    run(p.close())
}

fn panic_gives_exitcode_1(m: StartMethod) -> Result<(), Failed> {
    let p = get_context(m).process(panics::TASK, ("boom 42".into(),))?;
    p.start()?;
    match p.result() {
        Err(Error::Panicked(msg)) => check(msg == "boom 42", format!("message {msg:?}"))?,
        other => return Err(format!("expected a panic, got {other:?}").into()),
    }
    check(
        p.exitcode() == Some(1),
        format!("exitcode {:?}", p.exitcode()),
    )
}

fn signal_gives_negative_exitcode(m: StartMethod) -> Result<(), Failed> {
    let p = get_context(m).process(aborts::TASK, ())?;
    p.start()?;
    p.join()?;
    check(
        p.exitcode() == Some(-6),
        format!("SIGABRT: exitcode {:?}", p.exitcode()),
    )
}

fn terminate_and_kill(m: StartMethod) -> Result<(), Failed> {
    for (sig, code) in [(15, -15), (9, -9)] {
        let (mine, theirs) = Pipe(true)?;
        let p = get_context(m).process(wait_forever::TASK, (theirs,))?;
        p.start()?;
        let _: String = mine.recv()?;
        check(p.is_alive(), "alive before the signal")?;
        check(p.exitcode().is_none(), "no exitcode while running")?;
        check(
            matches!(p.close(), Err(Error::StillRunning)),
            "close while running",
        )?;
        if sig == 15 {
            p.terminate()?
        } else {
            p.kill()?
        }
        p.join()?;
        check(
            p.exitcode() == Some(code),
            format!("exitcode {:?}", p.exitcode()),
        )?;
        p.terminate()?; // already dead: a no-op, as in Python
    }
    Ok(())
}

fn join_timeout_times_out(m: StartMethod) -> Result<(), Failed> {
    let (mine, theirs) = Pipe(true)?;
    let p = get_context(m).process(wait_forever::TASK, (theirs,))?;
    p.start()?;
    let _: String = mine.recv()?;
    check(
        !p.join_timeout(Duration::from_millis(20))?,
        "join_timeout on a running child",
    )?;
    check(p.is_alive(), "still alive")?;
    p.kill()?;
    check(p.join_timeout(PATIENCE)?, "joined after kill")?;
    check(
        active_children().iter().all(|c| c.pid() != p.pid()),
        "not active",
    )
}

fn connection_as_argument(m: StartMethod) -> Result<(), Failed> {
    let (mine, theirs) = Pipe(true)?;
    let p = get_context(m).process(shout::TASK, (theirs,))?;
    p.start()?;
    mine.send("hello")?;
    check(mine.recv::<String>()? == "HELLO", "echo")?;
    p.join()?;
    check(p.exitcode() == Some(0), "exit 0")
}

fn identity(m: StartMethod) -> Result<(), Failed> {
    let p = get_context(m)
        .builder()
        .name("worker-x")
        .target(who_am_i::TASK, ())?;
    p.start()?;
    let (name, pid, parent, daemon) = p.result()?;
    check(name == "worker-x", format!("name {name}"))?;
    check(Some(pid) == p.pid(), "pid")?;
    check(parent == Some(std::process::id() as i32), "parent pid")?;
    check(!daemon, "not daemon")
}

fn active_children_lists_running(m: StartMethod) -> Result<(), Failed> {
    let (mine, theirs) = Pipe(true)?;
    let p = get_context(m).process(wait_forever::TASK, (theirs,))?;
    p.start()?;
    let _: String = mine.recv()?;
    check(
        active_children().iter().any(|c| c.pid() == p.pid()),
        "listed",
    )?;
    p.kill()?;
    p.join()?;
    check(active_children().iter().all(|c| c.pid() != p.pid()), "gone")
}

fn bad_args_are_an_error(m: StartMethod) -> Result<(), Failed> {
    // The same name with the wrong argument types: the child must refuse
    // the bytes cleanly.
    let wrong: Task<(u8,), i32> = Task::__new(add::TASK.name());
    let p = get_context(m).process(wrong, (1,))?;
    p.start()?;
    check(
        matches!(p.result(), Err(Error::TaskData { .. })),
        "decode error",
    )?;
    check(p.exitcode() == Some(1), "exit 1")?;
    // A type that refuses the bytes: its own reason, and the task's name.
    let odd: Task<(u32,), u32> = Task::__new(halve::TASK.name());
    let p = get_context(m).process(odd, (3,))?;
    p.start()?;
    match p.result() {
        Err(Error::TaskData { task, what, reason }) => check(
            task == halve::TASK.name() && what == "decode the arguments" && reason == "3 is odd",
            format!("arguments: {task} {what}: {reason}"),
        )?,
        other => return Err(format!("expected TaskData, got {other:?}").into()),
    }
    // The same after a connection among the arguments (decoded, then the
    // decode fails after it).
    let (_mine, theirs) = Pipe(true)?;
    let odd: Task<(Connection, u32), ()> = Task::__new(reply_half::TASK.name());
    let p = get_context(m).process(odd, (theirs, 5))?;
    p.start()?;
    match p.result() {
        Err(Error::TaskData { reason, .. }) => check(reason == "5 is odd", reason)?,
        other => return Err(format!("expected TaskData, got {other:?}").into()),
    }
    // A result that does not decode here: the same.
    let as_even: Task<(Even,), Even> = Task::__new(halve::TASK.name());
    let p = get_context(m).process(as_even, (Even(6),))?;
    p.start()?;
    match p.result() {
        Err(e @ Error::TaskData { .. }) => check(
            e.to_string()
                == format!(
                    "cannot decode the result of task {}: 3 is odd",
                    halve::TASK.name()
                ),
            format!("result: {e}"),
        )?,
        other => return Err(format!("expected TaskData, got {other:?}").into()),
    }
    let unknown: Task<(), ()> = Task::__new("no::such::task");
    let p = get_context(m).process(unknown, ())?;
    p.start()?;
    check(
        matches!(p.result(), Err(Error::UnknownTask(_))),
        "unknown task",
    )
}

fn handshake_death_is_an_error(m: StartMethod) -> Result<(), Failed> {
    let p = get_context(m)
        .builder()
        .handshake_timeout(PATIENCE)
        .__fault(Fault::ExitInHandshake)
        .target(add::TASK, (1, 1))?;
    match p.start() {
        Err(Error::StartFailed(msg)) => check(msg.contains("died"), msg),
        other => Err(format!("expected StartFailed, got {other:?}").into()),
    }
}

fn handshake_timeout_is_an_error(m: StartMethod) -> Result<(), Failed> {
    let p = get_context(m)
        .builder()
        .handshake_timeout(Duration::from_millis(300))
        .__fault(Fault::HangInHandshake)
        .target(add::TASK, (1, 1))?;
    match p.start() {
        Err(Error::StartFailed(msg)) => check(msg.contains("in time") || msg.contains("died"), msg),
        other => Err(format!("expected StartFailed, got {other:?}").into()),
    }
}

fn peer_killed_mid_message(m: StartMethod) -> Result<(), Failed> {
    let (mine, theirs) = Pipe(true)?;
    let p = get_context(m).process(big_message::TASK, (theirs,))?;
    p.start()?;
    check(mine.recv::<String>()? == "started", "started")?;
    // The big frame has begun once bytes are readable.
    check(mine.poll(PATIENCE)?, "frame begins")?;
    p.kill()?;
    p.join()?;
    drop(p); // our copy of the child's end is closed with the process handle
    match mine.recv_bytes() {
        Err(Error::Truncated { got, want }) => check(got < want, "partial"),
        other => Err(format!("expected Truncated, got {:?}", other.map(|v| v.len())).into()),
    }
}

fn daemon_cleanup(m: StartMethod, killed: bool) -> Result<(), Failed> {
    let (mine, theirs) = Pipe(true)?;
    let p = get_context(m).process(daemon_parent::TASK, (m.to_string(), theirs, killed))?;
    p.start()?;
    let grandchild: i32 = mine.recv()?;
    let pidfd = match rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(grandchild).unwrap(),
        rustix::process::PidfdFlags::empty(),
    ) {
        Ok(fd) => fd,
        Err(_) => return Ok(()), // already gone and reaped
    };
    if killed {
        p.kill()?;
    }
    p.join()?;
    // The grandchild must die: its pidfd becomes readable.
    let mut fds = [rustix::event::PollFd::new(
        &pidfd,
        rustix::event::PollFlags::IN,
    )];
    let ts = rustix::time::Timespec {
        tv_sec: PATIENCE.as_secs() as i64,
        tv_nsec: 0,
    };
    loop {
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(n) => return check(n == 1, "daemon grandchild outlived its parent"),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.to_string().into()),
        }
    }
}

fn daemon_cleaned_up_at_exit(m: StartMethod) -> Result<(), Failed> {
    daemon_cleanup(m, false)
}

fn daemon_cleaned_up_when_killed(m: StartMethod) -> Result<(), Failed> {
    daemon_cleanup(m, true)
}

fn fork_closure_refused_with_threads(_: StartMethod) -> Result<(), Failed> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || rx.recv());
    let p = get_context(StartMethod::Fork).builder().fork_closure(|| 1);
    let r = p.start();
    drop(tx);
    let _ = t.join();
    match r {
        Err(Error::ForkRefused(msg)) => check(msg.contains("threads"), msg),
        other => Err(format!("expected ForkRefused, got {other:?}").into()),
    }
}

fn fork_closure_runs_single_threaded(_: StartMethod) -> Result<(), Failed> {
    let data: Vec<u64> = (1..=4).collect();
    let p = get_context(StartMethod::Fork)
        .builder()
        .fork_closure(move || data.iter().sum::<u64>());
    p.start()?;
    check(p.result()? == 10, "sum")?;
    let p = get_context(StartMethod::Spawn).builder().fork_closure(|| 1);
    check(
        matches!(p.start(), Err(Error::ForkRefused(_))),
        "spawn refuses closures",
    )
}

fn many_at_once(m: StartMethod) -> Result<(), Failed> {
    // Invariant: every child's result comes back once, to its own handle.
    let n = 16;
    let ps: Vec<Process<u32>> = (0..n)
        .map(|i| get_context(m).process(index::TASK, (i,)))
        .collect::<Result<_, _>>()?;
    for p in &ps {
        p.start()?;
    }
    for (i, p) in ps.iter().enumerate() {
        check(p.result()? == i as u32 * 3 + 1, format!("child {i}"))?;
    }
    Ok(())
}

fn started_from_threads(m: StartMethod) -> Result<(), Failed> {
    // Invariant: with 4 threads starting children at once, every child's
    // result comes back once, to the thread that started it.
    let results: Vec<Result<Vec<u32>, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4u32)
            .map(|t| {
                s.spawn(move || {
                    let mut got = Vec::new();
                    for k in 0..6u32 {
                        let i = t * 100 + k;
                        let p = get_context(m)
                            .process(index::TASK, (i,))
                            .map_err(|e| e.to_string())?;
                        p.start().map_err(|e| format!("start: {e}"))?;
                        got.push(p.result().map_err(|e| format!("result: {e}"))?);
                    }
                    Ok(got)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    for (t, r) in results.into_iter().enumerate() {
        let got = r?;
        let want: Vec<u32> = (0..6).map(|k| (t as u32 * 100 + k) * 3 + 1).collect();
        check(got == want, format!("thread {t}: {got:?}"))?;
    }
    Ok(())
}

/// Fork starts from many threads while other threads open and close
/// descriptors and drop finished children: a forked child must never drop
/// a descriptor it inherited without owning it (its copy of the parent's
/// memory can be newer than its copy of the descriptor table, so a handle
/// registered during the fork names a descriptor the child does not have:
/// Rust's debug check aborts the child, exit -6). Invariant: every start
/// succeeds and every result comes back to its own handle. 8 threads x 4
/// starts in the suite; `GILFREE_FORK_STRESS=N` runs N starts a thread.
fn fork_starts_amid_descriptor_churn(_: StartMethod) -> Result<(), Failed> {
    let rounds: u32 = std::env::var("GILFREE_FORK_STRESS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let churn: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    // Recycle descriptor numbers and reap (closing the
                    // descriptors of) children whose handles are gone.
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let pipes: Vec<_> = (0..4).filter_map(|_| Pipe(true).ok()).collect();
                        drop(pipes);
                        drop(active_children());
                    }
                })
            })
            .collect();
        let starters: Vec<_> = (0..8u32)
            .map(|t| {
                s.spawn(move || {
                    for k in 0..rounds {
                        let i = t * 10_000 + k;
                        let p = get_context(StartMethod::Fork)
                            .process(index::TASK, (i,))
                            .map_err(|e| e.to_string())?;
                        p.start().map_err(|e| format!("start {i}: {e}"))?;
                        let got = p.result().map_err(|e| format!("result {i}: {e}"))?;
                        if got != i * 3 + 1 {
                            return Err(format!("child {i} answered {got}"));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let r = starters
            .into_iter()
            .map(|h| h.join().expect("starter"))
            .collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for h in churn {
            h.join().expect("churn");
        }
        r
    });
    for r in results {
        r?;
    }
    Ok(())
}

/// Kill the fork server: the next start launches another.
fn forkserver_survives_its_server(_: StartMethod) -> Result<(), Failed> {
    let ctx = get_context(StartMethod::ForkServer);
    let p = ctx.process(add::TASK, (1, 2))?;
    p.start()?;
    check(p.result()? == 3, "first server")?;
    let pid = gilfree::multiprocessing::__forkserver_pid().ok_or("no server")?;
    // SAFETY: `pid` is our fork server (our child, not reaped: its pid
    // cannot have been reused); kill has no memory-safety preconditions.
    check(unsafe { libc::kill(pid, libc::SIGKILL) } == 0, "kill")?;
    // Wait (no sleep: the state is polled) until it is a zombie.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        if matches!(state, Some("Z") | None) {
            break;
        }
        check(std::time::Instant::now() < deadline, "server never died")?;
        std::thread::yield_now();
    }
    let q = ctx.process(add::TASK, (2, 3))?;
    q.start()?;
    check(q.result()? == 5, "second server")?;
    check(
        gilfree::multiprocessing::__forkserver_pid() != Some(pid),
        "a new server",
    )
}

fn cpu_counts(_: StartMethod) -> Result<(), Failed> {
    check(cpu_count() >= 1 && process_cpu_count() >= 1, "counts")?;
    check(
        process_cpu_count() <= cpu_count().max(process_cpu_count()),
        "affinity",
    )
}

/// A forked task that calls `exit()` runs the inherited exit handler: it
/// must not wait for its siblings nor remove the parent's fork server.
fn forked_exit_leaves_the_parent_alone(_: StartMethod) -> Result<(), Failed> {
    let (mine, theirs) = Pipe(true)?;
    let sibling = get_context(StartMethod::ForkServer).process(wait_forever::TASK, (theirs,))?;
    sibling.start()?;
    let _: String = mine.recv()?;
    let p = get_context(StartMethod::Fork).process(exit_with::TASK, (5,))?;
    p.start()?;
    check(
        p.join_timeout(PATIENCE)?,
        "the forked child exited while its sibling runs",
    )?;
    check(p.exitcode() == Some(5), "exit 5")?;
    // The fork server still works.
    let q = get_context(StartMethod::ForkServer).process(add::TASK, (1, 2))?;
    q.start()?;
    check(q.result()? == 3, "forkserver after a forked exit")?;
    sibling.kill()?;
    run(sibling.join())
}

fn fds_do_not_leak(m: StartMethod) -> Result<(), Failed> {
    let count = || {
        std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count())
            .unwrap_or(0)
    };
    // Warm up (a forkserver keeps its alive socket).
    let p = get_context(m).process(add::TASK, (1, 1))?;
    p.start()?;
    p.result()?;
    drop(p);
    let before = count();
    for _ in 0..5 {
        let p = get_context(m).process(add::TASK, (1, 1))?;
        p.start()?;
        p.result()?;
    }
    let after = count();
    check(after <= before, format!("fds {before} -> {after}"))
}

/// `connection::wait` on a running process and an idle pipe: nothing
/// ready until the process ends, by a kill or by itself; then the process.
fn wait_sees_a_process_end(m: StartMethod) -> Result<(), Failed> {
    let (mine, theirs) = Pipe(true)?;
    let p = get_context(m).process(wait_forever::TASK, (theirs,))?;
    check(p.sentinel().is_err(), "no sentinel before start")?;
    p.start()?;
    let _: String = mine.recv()?;
    let (idle, _other) = Pipe(true)?;
    let ready = wait(&[&idle, &p], Some(Duration::ZERO))?;
    check(ready.is_empty(), format!("running: {ready:?}"))?;
    p.kill()?;
    let ready = wait(&[&idle, &p], Some(PATIENCE))?;
    check(ready == [1], format!("killed: {ready:?}"))?;
    p.join()?;
    let q = get_context(m).process(exit_with::TASK, (0,))?;
    q.start()?;
    let ready = wait(&[&idle, &q], Some(PATIENCE))?;
    check(ready == [1], format!("exited: {ready:?}"))?;
    run(q.join())
}

/// `connection::wait` on connections, a listener and a plain socket: the
/// ready ones in the order given, a timeout, a closed peer as ready, a
/// message already buffered as ready.
fn wait_on_connections(_: StartMethod) -> Result<(), Failed> {
    use gilfree::multiprocessing::{Address, Client, Listener};
    let pipes = [Pipe(true)?, Pipe(true)?, Pipe(true)?];
    let ends: Vec<&Connection> = pipes.iter().map(|(a, _)| a).collect();
    let all: Vec<&dyn Waitable> = ends.iter().map(|c| *c as &dyn Waitable).collect();
    check(
        wait(&all, Some(Duration::from_millis(1)))?.is_empty(),
        "timed out: none ready",
    )?;
    pipes[2].1.send_bytes(b"two")?;
    pipes[0].1.send_bytes(b"zero")?;
    let ready = wait(&all, None)?;
    check(ready == [0, 2], format!("ready in order given: {ready:?}"))?;
    // Two messages, one read: the second may sit in the reader's buffer.
    pipes[1].1.send_bytes(b"a")?;
    pipes[1].1.send_bytes(b"b")?;
    check(pipes[1].0.recv_bytes()? == b"a", "first")?;
    check(wait(&[&pipes[1].0], Some(PATIENCE))? == [0], "buffered")?;
    check(pipes[1].0.recv_bytes()? == b"b", "second")?;
    // A closed peer is ready; the read then says EOF.
    let (lone, peer) = Pipe(true)?;
    drop(peer);
    check(wait(&[&lone], Some(PATIENCE))? == [0], "closed peer")?;
    check(matches!(lone.recv_bytes(), Err(Error::Eof)), "eof")?;
    // A listener is ready when a client waits; a plain socket too.
    let l = Listener::bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(), None)?;
    check(wait(&[&l], Some(Duration::ZERO))?.is_empty(), "no client")?;
    let addr: Address = l.address().clone();
    let _c = Client(&addr, None)?;
    check(wait(&[&l], Some(PATIENCE))? == [0], "a client waits")?;
    let (x, mut y) = std::os::unix::net::UnixStream::pair()?;
    std::io::Write::write_all(&mut y, b"raw")?;
    check(wait(&[&x, &lone], Some(PATIENCE))? == [0, 1], "raw socket")?;
    Ok(())
}

fn main() {
    gilfree::multiprocessing::init();
    let mut args = Arguments::from_args();
    // One thread: the cases run on main, which the fork closure needs.
    args.test_threads = Some(1);
    let per_method: &[(&str, Case)] = &[
        ("args_and_results", args_and_results),
        ("exit_codes", exit_codes),
        ("panic_gives_exitcode_1", panic_gives_exitcode_1),
        (
            "signal_gives_negative_exitcode",
            signal_gives_negative_exitcode,
        ),
        ("terminate_and_kill", terminate_and_kill),
        ("join_timeout_times_out", join_timeout_times_out),
        ("connection_as_argument", connection_as_argument),
        ("identity", identity),
        (
            "active_children_lists_running",
            active_children_lists_running,
        ),
        ("bad_args_are_an_error", bad_args_are_an_error),
        ("handshake_death_is_an_error", handshake_death_is_an_error),
        (
            "handshake_timeout_is_an_error",
            handshake_timeout_is_an_error,
        ),
        ("peer_killed_mid_message", peer_killed_mid_message),
        ("daemon_cleaned_up_at_exit", daemon_cleaned_up_at_exit),
        (
            "daemon_cleaned_up_when_killed",
            daemon_cleaned_up_when_killed,
        ),
        ("many_at_once", many_at_once),
        ("started_from_threads", started_from_threads),
        ("fds_do_not_leak", fds_do_not_leak),
        ("wait_sees_a_process_end", wait_sees_a_process_end),
    ];
    let once: &[(&str, Case)] = &[
        (
            "fork_closure_refused_with_threads",
            fork_closure_refused_with_threads,
        ),
        (
            "fork_closure_runs_single_threaded",
            fork_closure_runs_single_threaded,
        ),
        ("cpu_counts", cpu_counts),
        ("wait_on_connections", wait_on_connections),
        (
            "forkserver_survives_its_server",
            forkserver_survives_its_server,
        ),
        (
            "fork_starts_amid_descriptor_churn",
            fork_starts_amid_descriptor_churn,
        ),
        (
            "forked_exit_leaves_the_parent_alone",
            forked_exit_leaves_the_parent_alone,
        ),
    ];
    let mut trials = Vec::new();
    for m in StartMethod::ALL {
        for &(name, f) in per_method {
            trials.push(Trial::test(format!("{m}::{name}"), move || f(m)));
        }
    }
    for &(name, f) in once {
        trials.push(Trial::test(name, move || f(StartMethod::Fork)));
    }
    libtest_mimic::run(&args, trials).exit();
}
