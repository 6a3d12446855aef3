//! `SharedMemory` across real processes, and its resource tracker: blocks
//! passed to and attached from children under every start method, and
//! whole programs (this binary re-run with a role) that are SIGKILLed,
//! only attach, or opt out of tracking. `harness = false`: `main` calls
//! `multiprocessing::init()` first (children re-execute this binary).

use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use gilfree::multiprocessing::shared_memory::__tracker_pid;
use gilfree::multiprocessing::{
    Array, BoundedSemaphore, Condition, Connection, Error, Event, Lock, Pipe, Process, RLock,
    RawArray, RawValue, Semaphore, SharedMemory, StartMethod, Value, get_context,
};
use libtest_mimic::{Arguments, Failed, Trial};

/// Generous: the machine is shared and busy; never legitimately reached.
const PATIENCE: Duration = Duration::from_secs(120);

/// Which program this binary plays when re-run by a test.
const ROLE: &str = "GILFREE_SHM_TEST_ROLE";

#[gilfree::task]
fn fill(m: SharedMemory, byte: u8) -> usize {
    for b in m.bytes() {
        b.store(byte, std::sync::atomic::Ordering::Relaxed);
    }
    m.size()
}

#[gilfree::task]
fn attach_and_write(name: String, data: Vec<u8>) -> usize {
    let m = SharedMemory::attach(&name).unwrap();
    m.write_at(0, &data);
    m.size()
}

#[gilfree::task]
fn create_and_leave(data: Vec<u8>) -> (String, Option<i32>) {
    let m = SharedMemory::create(data.len()).unwrap();
    m.write_at(0, &data);
    (m.name().unwrap().to_owned(), __tracker_pid())
}

/// Attaches to `name`, says so, then blocks until killed.
#[gilfree::task]
fn attach_and_wait(name: String, c: Connection) {
    let _m = SharedMemory::attach(&name).unwrap();
    c.send("attached").unwrap();
    loop {
        std::thread::park();
    }
}

#[gilfree::task]
fn bump_all(v: Value<u64>, a: Array<i32>, rv: RawValue<u16>, ra: RawArray<u8>) {
    *v.get_lock() += 5;
    for (i, x) in a.get_lock().iter_mut().enumerate() {
        *x = -(i as i32);
    }
    rv.set(rv.get() + 1);
    ra.set(0, 42);
}

#[gilfree::task]
fn increment(v: Value<u64>, n: u32) {
    for _ in 0..n {
        *v.get_lock() += 1;
    }
}

/// Takes the value's lock, says so, and dies holding it (killed).
#[gilfree::task]
fn hold_lock(v: Value<u64>, c: Connection) {
    let mut g = v.get_lock();
    *g = 99;
    c.send("holding").unwrap();
    loop {
        std::thread::park();
    }
}

/// Takes the lock, says so, and dies holding it (killed).
#[gilfree::task]
fn hold_plain_lock(l: Lock<u64>, c: Connection) {
    let mut g = l.acquire();
    *g = 99;
    c.send("holding").unwrap();
    loop {
        std::thread::park();
    }
}

/// Takes the array's lock, writes, says so, and dies holding it (killed).
#[gilfree::task]
fn hold_array_lock(a: Array<u64>, c: Connection) {
    let mut g = a.get_lock();
    g[0] = 99;
    c.send("holding").unwrap();
    loop {
        std::thread::park();
    }
}

/// Takes the condition's lock, writes, says so, and dies holding it
/// (killed).
#[gilfree::task]
fn hold_condition_lock(cond: Condition<u64>, c: Connection) {
    let mut g = cond.acquire();
    *g = 99;
    c.send("holding").unwrap();
    loop {
        std::thread::park();
    }
}

/// Releases a lock another process acquired (Python allows it).
#[gilfree::task]
fn release_it(l: Lock) -> bool {
    l.release().is_ok()
}

#[gilfree::task]
fn set_event(e: Event) {
    e.set();
}

/// Takes `k` permits and keeps them: the process exits holding them.
#[gilfree::task]
fn take_permits(s: Semaphore, k: u32) {
    for _ in 0..k {
        s.acquire().forget();
    }
}

#[gilfree::task]
fn give_back(s: Semaphore, k: u32) -> bool {
    s.release_n(k).is_ok()
}

#[gilfree::task]
fn over_release(s: BoundedSemaphore) -> (bool, u32) {
    (s.release().is_err(), s.value())
}

/// Waits (on the condition) for the state to become 1, answers 2.
#[gilfree::task]
fn answer_when_one(c: Condition<u32>) -> bool {
    let mut g = c.acquire();
    if !c.wait_for_guard_timeout(&mut g, |v| *v == 1, PATIENCE) {
        return false;
    }
    *g = 2;
    c.notify_all().unwrap();
    true
}

/// Takes the RLock twice (reentrant), says so, and dies holding it.
#[gilfree::task]
fn hold_rlock(l: RLock, c: Connection) {
    let _a = l.acquire();
    let _b = l.acquire();
    c.send(&l.recursion_count()).unwrap();
    loop {
        std::thread::park();
    }
}

/// Tries to release an RLock this process does not hold.
#[gilfree::task]
fn release_foreign_rlock(l: RLock) -> bool {
    l.release().is_err() && !l.is_owned()
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

fn dev_shm(name: &str) -> bool {
    Path::new("/dev/shm").join(name).exists()
}

fn pidfd(pid: i32) -> Option<OwnedFd> {
    rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid)?,
        rustix::process::PidfdFlags::empty(),
    )
    .ok()
}

/// Wait until process `pid` (not necessarily our child) has exited.
fn wait_gone(pid: i32) -> Result<(), Failed> {
    let Some(fd) = pidfd(pid) else {
        return Ok(()); // already gone
    };
    let fd = fd.as_fd();
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let t = rustix::time::Timespec {
        tv_sec: PATIENCE.as_secs() as i64,
        tv_nsec: 0,
    };
    let n = rustix::event::poll(&mut fds, Some(&t)).map_err(|e| Failed::from(e.to_string()))?;
    check(
        n == 1,
        format!("process {pid} still running after {PATIENCE:?}"),
    )
}

fn kill(pid: i32) {
    if let Some(fd) = pidfd(pid) {
        let _ = rustix::process::pidfd_send_signal(&fd, rustix::process::Signal::KILL);
    }
}

/// This binary, re-run as a separate program (its own process tree and
/// tracker) playing `role`; its stdout, line by line.
fn program(
    role: &str,
    args: &[&str],
) -> Result<(std::process::Child, impl Iterator<Item = String> + use<>), Failed> {
    let mut child = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .env(ROLE, role)
        .args(["--role-args"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let out = child.stdout.take().expect("piped");
    let lines = BufReader::new(out).lines().map_while(Result::ok);
    Ok((child, lines))
}

fn next(lines: &mut impl Iterator<Item = String>, what: &str) -> Result<String, Failed> {
    lines
        .next()
        .ok_or_else(|| Failed::from(format!("the program ended before printing {what}")))
}

// ---------------------------------------------------------------------------
// The roles (run in the re-run program, after `init()`).

fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

fn play(role: &str, args: &[String]) {
    match role {
        // Creates two tracked blocks, starts a child (start method
        // args[0]) that attaches to one, reports names and pids, then
        // waits to be SIGKILLed.
        "creator" => {
            let a = SharedMemory::create(64).unwrap();
            let b = SharedMemory::create(4096).unwrap();
            let (mine, theirs) = Pipe(true).unwrap();
            let m: StartMethod = args[0].parse().unwrap();
            let p = get_context(m)
                .process(
                    attach_and_wait::TASK,
                    (a.name().unwrap().to_owned(), theirs),
                )
                .unwrap();
            p.start().unwrap();
            let _: String = mine.recv().unwrap();
            say(a.name().unwrap());
            say(b.name().unwrap());
            say(__tracker_pid().unwrap());
            say(p.pid().unwrap());
            loop {
                std::thread::park();
            }
        }
        // Attaches to args[0] and writes a mark in it; creates a tracked
        // block of its own (so it has a tracker); reports; exits normally.
        "attacher" => {
            let theirs = SharedMemory::attach(&args[0]).unwrap();
            theirs.write_at(0, b"attached");
            let mine = SharedMemory::create(8).unwrap();
            say(mine.name().unwrap());
            say(__tracker_pid().unwrap());
        }
        // One untracked and one tracked block; reports; exits normally.
        "untracked" => {
            let u = SharedMemory::builder().track(false).create(8).unwrap();
            let t = SharedMemory::create(8).unwrap();
            say(u.name().unwrap());
            say(t.name().unwrap());
            say(__tracker_pid().unwrap());
        }
        other => panic!("unknown role {other}"),
    }
}

// ---------------------------------------------------------------------------
// Cases under each start method.

type Case = fn(StartMethod) -> Result<(), Failed>;
type Once = fn() -> Result<(), Failed>;

fn passed_as_argument(m: StartMethod) -> Result<(), Failed> {
    let named = SharedMemory::create(1000)?;
    let anon = SharedMemory::anonymous(3000)?;
    for (shm, byte) in [(&named, 7u8), (&anon, 9u8)] {
        let p = get_context(m).process(fill::TASK, (shm.try_clone()?, byte))?;
        p.start()?;
        check(p.result()? == shm.size(), "size seen by the child")?;
        check(
            shm.to_vec().iter().all(|&b| b == byte),
            "the child's writes are visible",
        )?;
    }
    named.unlink()?;
    Ok(())
}

fn attached_by_name_in_child(m: StartMethod) -> Result<(), Failed> {
    let shm = SharedMemory::create(32)?;
    let name = shm.name().unwrap().to_owned();
    let p = get_context(m).process(attach_and_write::TASK, (name, b"from child".to_vec()))?;
    p.start()?;
    check(p.result()? == 32, "size")?;
    let mut got = [0u8; 10];
    shm.read_at(0, &mut got);
    check(&got == b"from child", "written")?;
    // The child only attached: its exit unlinked nothing.
    check(
        SharedMemory::attach(shm.name().unwrap()).is_ok(),
        "still named",
    )?;
    shm.unlink()?;
    Ok(())
}

fn created_in_child_outlives_child(m: StartMethod) -> Result<(), Failed> {
    let p = get_context(m).process(create_and_leave::TASK, (b"left for parent".to_vec(),))?;
    p.start()?;
    let (name, tracker) = p.result()?;
    p.join()?;
    // The child registered with its program tree's tracker, not one of
    // its own that would unlink the block when the child exits.
    check(
        tracker.is_some() && tracker == __tracker_pid(),
        format!("child's tracker {tracker:?}, ours {:?}", __tracker_pid()),
    )?;
    // The child is gone, but the program tree is not: the block stays.
    let shm = SharedMemory::attach(&name)?;
    let mut got = [0u8; 15];
    shm.read_at(0, &mut got);
    check(&got == b"left for parent", "contents")?;
    shm.unlink()?;
    Ok(())
}

fn value_and_array_round_trip(m: StartMethod) -> Result<(), Failed> {
    let v = Value::new(1u64)?;
    let a = Array::<i32>::zeroed(4)?;
    let rv = RawValue::new(7u16)?;
    let ra = RawArray::<u8>::zeroed(2)?;
    let args = (
        v.try_clone()?,
        a.try_clone()?,
        rv.try_clone()?,
        ra.try_clone()?,
    );
    let p = get_context(m).process(bump_all::TASK, args)?;
    p.start()?;
    p.result()?;
    check(v.value() == 6, format!("value {}", v.value()))?;
    check(
        a.to_vec() == [0, -1, -2, -3],
        format!("array {:?}", a.to_vec()),
    )?;
    check(rv.get() == 8, format!("raw value {}", rv.get()))?;
    check(
        ra.to_vec() == [42, 0],
        format!("raw array {:?}", ra.to_vec()),
    )
}

fn locked_increments_are_exact(m: StartMethod) -> Result<(), Failed> {
    const N: usize = 3;
    const M: u32 = 2000;
    let v = Value::new(0u64)?;
    let mut ps = Vec::new();
    for _ in 0..N {
        let p = get_context(m).process(increment::TASK, (v.try_clone()?, M))?;
        p.start()?;
        ps.push(p);
    }
    for _ in 0..M {
        *v.get_lock() += 1;
    }
    for p in ps {
        p.result()?;
    }
    let got = v.value();
    check(
        got == (N as u64 + 1) * M as u64,
        format!("{got} != {}", (N as u64 + 1) * M as u64),
    )
}

/// A child SIGKILLed holding a lock (started by `start`, which gets the
/// other end of a pipe to say "holding"): a waiter already blocked in
/// `take` gets the lock back told `owner_died`, with the dead holder's
/// write (99) visible; the next `take` is not told again.
fn dead_holder_case(
    start: impl FnOnce(Connection) -> Result<Process<()>, Error>,
    take: impl Fn() -> Option<(bool, u64)> + Sync,
) -> Result<(), Failed> {
    let (mine, theirs) = Pipe(true)?;
    let p = start(theirs)?;
    let _: String = mine.recv()?;
    let got = std::thread::scope(|s| {
        let waiter = s.spawn(&take);
        let _ = p.kill();
        waiter.join().expect("waiter panicked")
    });
    let (died, seen) = got.ok_or("the waiter did not get the lock back")?;
    p.join()?;
    check(died, "owner_died not reported")?;
    check(seen == 99, format!("the dead holder's write: {seen}"))?;
    let (again, _) = take().ok_or("lock not free")?;
    check(!again, "owner_died reported twice")
}

fn value_dead_holder_reported(m: StartMethod) -> Result<(), Failed> {
    let v = Value::new(0u64)?;
    dead_holder_case(
        |c| {
            let p = get_context(m).process(hold_lock::TASK, (v.try_clone()?, c))?;
            p.start()?;
            Ok(p)
        },
        || v.get_lock_timeout(PATIENCE).map(|g| (g.owner_died(), *g)),
    )
}

fn lock_dead_holder_reported(m: StartMethod) -> Result<(), Failed> {
    let l = Lock::new(0u64)?;
    dead_holder_case(
        |c| {
            let p = get_context(m).process(hold_plain_lock::TASK, (l.try_clone()?, c))?;
            p.start()?;
            Ok(p)
        },
        || l.acquire_timeout(PATIENCE).map(|g| (g.owner_died(), *g)),
    )
}

fn array_dead_holder_reported(m: StartMethod) -> Result<(), Failed> {
    let a = Array::<u64>::zeroed(3)?;
    dead_holder_case(
        |c| {
            let p = get_context(m).process(hold_array_lock::TASK, (a.try_clone()?, c))?;
            p.start()?;
            Ok(p)
        },
        || a.get_lock_timeout(PATIENCE).map(|g| (g.owner_died(), g[0])),
    )
}

fn condition_dead_holder_reported(m: StartMethod) -> Result<(), Failed> {
    let cond = Condition::new(0u64)?;
    dead_holder_case(
        |c| {
            let p = get_context(m).process(hold_condition_lock::TASK, (cond.try_clone()?, c))?;
            p.start()?;
            Ok(p)
        },
        || cond.acquire_timeout(PATIENCE).map(|g| (g.owner_died(), *g)),
    )
}

fn lock_released_by_another_process(m: StartMethod) -> Result<(), Failed> {
    let l = Lock::new(())?;
    check(l.acquire_unguarded(true, None), "acquired")?;
    let p = get_context(m).process(release_it::TASK, (l.try_clone()?,))?;
    p.start()?;
    check(p.result()?, "the child's release")?;
    check(!l.locked(), "unlocked after the child's release")?;
    check(l.release().is_err(), "releasing an unlocked lock")
}

fn event_set_in_child(m: StartMethod) -> Result<(), Failed> {
    let e = Event::new()?;
    let p = get_context(m).process(set_event::TASK, (e.try_clone()?,))?;
    p.start()?;
    check(e.wait_timeout(PATIENCE), "the child's set was not seen")?;
    p.join()?;
    check(e.is_set(), "set")
}

/// Permits have no owner: a process that exits holding two loses them (as
/// in Python); another process's release makes them up.
fn semaphore_permits_across_processes(m: StartMethod) -> Result<(), Failed> {
    let s = Semaphore::new(3)?;
    let p = get_context(m).process(take_permits::TASK, (s.try_clone()?, 2))?;
    p.start()?;
    p.result()?;
    check(
        s.value() == 1,
        format!("value {} after the child", s.value()),
    )?;
    let p = get_context(m).process(give_back::TASK, (s.try_clone()?, 2))?;
    p.start()?;
    check(p.result()?, "the child's release")?;
    check(s.value() == 3, format!("value {}", s.value()))
}

fn bounded_semaphore_over_release_in_child(m: StartMethod) -> Result<(), Failed> {
    let s = BoundedSemaphore::new(1)?;
    let p = get_context(m).process(over_release::TASK, (s.try_clone()?,))?;
    p.start()?;
    let (refused, value) = p.result()?;
    check(
        refused && value == 1,
        format!("refused {refused}, value {value}"),
    )
}

/// A child waits on a Condition for the parent's change and answers with
/// its own; the parent waits for the answer.
fn condition_across_processes(m: StartMethod) -> Result<(), Failed> {
    let c = Condition::new(0u32)?;
    let p = get_context(m).process(answer_when_one::TASK, (c.try_clone()?,))?;
    p.start()?;
    {
        let mut g = c.acquire();
        *g = 1;
        c.notify_all().unwrap();
        check(
            c.wait_for_guard_timeout(&mut g, |v| *v == 2, PATIENCE),
            "no answer from the child",
        )?;
    }
    check(p.result()?, "the child saw the change")
}

/// A child dies holding an RLock two levels deep: the next acquirer gets
/// it, told `owner_died`, one level deep; a non-holder cannot release it.
fn rlock_across_processes(m: StartMethod) -> Result<(), Failed> {
    let l = RLock::new()?;
    let (mine, theirs) = Pipe(true)?;
    let p = get_context(m).process(hold_rlock::TASK, (l.try_clone()?, theirs))?;
    p.start()?;
    let depth: u32 = mine.recv()?;
    check(depth == 2, format!("the child's depth {depth}"))?;
    check(
        !l.is_owned(),
        "owned by the parent while the child holds it",
    )?;
    p.kill()?;
    p.join()?;
    let g = l
        .acquire_timeout(PATIENCE)
        .ok_or("the dead holder's RLock was not handed back")?;
    check(g.owner_died(), "owner_died not reported")?;
    check(l.recursion_count() == 1, "depth after the take-over")?;
    let p = get_context(m).process(release_foreign_rlock::TASK, (l.try_clone()?,))?;
    p.start()?;
    check(p.result()?, "a non-holder's release was refused")?;
    check(l.is_owned(), "still ours")?;
    drop(g);
    check(!l.is_owned(), "released")?;
    check(!l.acquire().owner_died(), "owner_died reported twice")
}

/// A program SIGKILLed after creating blocks leaves nothing in /dev/shm
/// once its whole tree (here also a child attached to one block) is gone.
fn killed_program_leaves_nothing(m: StartMethod) -> Result<(), Failed> {
    let (mut prog, mut lines) = program("creator", &[m.name()])?;
    let a = next(&mut lines, "a name")?;
    let b = next(&mut lines, "a name")?;
    let tracker: i32 = next(&mut lines, "the tracker pid")?
        .parse()
        .map_err(|_| "pid")?;
    let child: i32 = next(&mut lines, "the child pid")?
        .parse()
        .map_err(|_| "pid")?;
    check(dev_shm(&a) && dev_shm(&b), "created")?;
    let _ = prog.kill();
    let _ = prog.wait();
    // The child still lives, so the tree does: nothing unlinked yet.
    let kept = dev_shm(&a) && dev_shm(&b);
    kill(child);
    check(kept, "unlinked while the tree lives")?;
    wait_gone(tracker)?;
    check(!dev_shm(&a), format!("{a} left in /dev/shm"))?;
    check(!dev_shm(&b), format!("{b} left in /dev/shm"))
}

// ---------------------------------------------------------------------------
// Cases run once.

fn basics() -> Result<(), Failed> {
    let a = SharedMemory::create(10)?;
    let name = a.name().unwrap().to_owned();
    check(name.starts_with("psm_"), format!("generated name {name}"))?;
    check(dev_shm(&name), "in /dev/shm")?;
    let mode = std::fs::metadata(Path::new("/dev/shm").join(&name))
        .map(|md| std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o777)
        .map_err(|e| e.to_string())?;
    check(mode == 0o600, format!("mode {mode:o}"))?;
    check(a.to_vec() == [0; 10], "zeroed")?;
    a.write_at(3, b"xyz");
    let b = SharedMemory::attach(&format!("/{name}"))?; // Python accepts the slash
    check(
        b.name() == Some(name.as_str()) && b.size() == 10,
        "attached",
    )?;
    check(b.to_vec()[3..6] == *b"xyz", "same memory")?;
    check(
        matches!(SharedMemory::create_named(&name, 10), Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::AlreadyExists),
        "AlreadyExists",
    )?;
    a.unlink()?;
    check(!dev_shm(&name), "unlinked")?;
    check(
        matches!(a.unlink(), Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound),
        "second unlink NotFound",
    )?;
    // Mappings outlive the name.
    b.write_at(0, b"q");
    check(a.to_vec()[0] == b'q', "mapping after unlink")?;
    check(
        matches!(SharedMemory::attach(&name), Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound),
        "attach after unlink NotFound",
    )?;
    for bad in ["", "/", "a/b", ".."] {
        check(
            matches!(SharedMemory::create_named(bad, 1), Err(Error::Value(_))),
            format!("bad name {bad:?}"),
        )?;
    }
    check(
        matches!(SharedMemory::create(0), Err(Error::Value(_))),
        "size 0",
    )?;
    check(
        matches!(SharedMemory::anonymous(0), Err(Error::Value(_))),
        "anonymous size 0",
    )?;
    // A block is not a plain value: it only travels with its descriptor.
    check(
        postcard::to_allocvec(&b).is_err(),
        "encoded outside a connection",
    )?;
    Ok(())
}

/// Regression: a failed or timed-out acquire gives back nothing (a guard
/// built and dropped for a permit never taken added one).
fn failed_acquires_leave_the_value() -> Result<(), Failed> {
    let s = Semaphore::new(1)?;
    let held = s.acquire();
    check(s.try_acquire().is_none(), "try on an empty semaphore")?;
    check(s.acquire_timeout(Duration::ZERO).is_none(), "timed out")?;
    check(s.value() == 0, format!("value {} while held", s.value()))?;
    drop(held);
    let b = BoundedSemaphore::new(1)?;
    let held = b.acquire();
    check(b.try_acquire().is_none(), "bounded try")?;
    drop(held);
    check(b.value() == 1, format!("bounded value {}", b.value()))
}

/// `Condition::try_acquire` and `acquire_timeout`, as threading's: the
/// guard when the lock is free, `None` while another thread holds it.
fn condition_try_and_timed_acquire() -> Result<(), Failed> {
    let c = Condition::new(7u32)?;
    let g = c.try_acquire().ok_or("try on a free lock")?;
    check(!g.owner_died() && *g == 7, "a fresh guard over the state")?;
    std::thread::scope(|s| {
        s.spawn(|| {
            check(c.try_acquire().is_none(), "try while held elsewhere")?;
            check(
                c.acquire_timeout(Duration::from_millis(20)).is_none(),
                "timed out while held elsewhere",
            )
        })
        .join()
        .unwrap()
    })?;
    drop(g);
    let mut g = c
        .acquire_timeout(PATIENCE)
        .ok_or("timed acquire of a free lock")?;
    *g = 8;
    drop(g);
    check(*c.acquire() == 8, "the change kept")
}

/// `Condition::notify` and `notify_all` need the calling thread to hold
/// the lock (threading's `NotHeld`, Python's RuntimeError), also when
/// another thread holds it; held, they wake a waiter and return `Ok(0)`.
fn condition_notify_needs_the_lock() -> Result<(), Failed> {
    use gilfree::threading::Error as ThreadingError;
    let c = Condition::new(0u32)?;
    check(
        c.notify(1) == Err(ThreadingError::NotHeld("notify")),
        "notify not held",
    )?;
    check(
        c.notify_all() == Err(ThreadingError::NotHeld("notify")),
        "notify_all not held",
    )?;
    let g = c.acquire();
    std::thread::scope(|s| {
        s.spawn(|| {
            check(c.notify(1).is_err(), "notify while another thread holds")?;
            check(c.notify_all().is_err(), "notify_all while another holds")
        })
        .join()
        .unwrap()
    })?;
    check(c.notify(3) == Ok(0), "notify held")?;
    check(c.notify_all() == Ok(0), "notify_all held")?;
    drop(g);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut g = c.acquire();
            c.wait_for_guard_timeout(&mut g, |v| *v == 1, PATIENCE)
        });
        // One change and one notify under the lock: a waiter already
        // asleep is woken; one not yet waiting sees the change when it
        // checks its predicate under the lock, so nothing is missed.
        let mut g = c.acquire();
        *g = 1;
        c.notify(1).map_err(|e| e.to_string())?;
        drop(g);
        check(waiter.join().unwrap(), "the waiter woke to the change")
    })
}

/// `RLock::acquire_unguarded` with `release`, as threading's: re-entrant,
/// blocking or not, released one level at a time by the holder only.
fn rlock_acquire_unguarded() -> Result<(), Failed> {
    let l = RLock::new()?;
    check(l.acquire_unguarded(true, None), "first level")?;
    check(l.acquire_unguarded(false, None), "re-entered, not blocking")?;
    check(
        l.acquire_unguarded(true, Some(Duration::ZERO)),
        "re-entered, timed",
    )?;
    check(l.recursion_count() == 3, "three levels")?;
    std::thread::scope(|s| {
        s.spawn(|| {
            check(!l.acquire_unguarded(false, None), "try elsewhere")?;
            check(
                !l.acquire_unguarded(true, Some(Duration::from_millis(20))),
                "timed out elsewhere",
            )?;
            check(l.release().is_err(), "released by a non-holder")
        })
        .join()
        .unwrap()
    })?;
    for _ in 0..3 {
        l.release()?;
    }
    check(!l.is_owned(), "all levels released")?;
    check(l.release().is_err(), "one release too many")?;
    std::thread::scope(|s| {
        s.spawn(|| {
            check(l.acquire_unguarded(true, None), "taken elsewhere once free")?;
            l.release().map_err(|e| e.to_string())?;
            Ok::<(), Failed>(())
        })
        .join()
        .unwrap()
    })
}

/// A program that only attached to our block exits (its tracker with it):
/// our block is untouched; its own tracked block is gone.
fn attach_only_program_unlinks_nothing() -> Result<(), Failed> {
    let ours = SharedMemory::create(16)?;
    let name = ours.name().unwrap().to_owned();
    let (mut prog, mut lines) = program("attacher", &[&name])?;
    let theirs = next(&mut lines, "a name")?;
    let tracker: i32 = next(&mut lines, "the tracker pid")?
        .parse()
        .map_err(|_| "pid")?;
    let st = prog.wait().map_err(|e| e.to_string())?;
    check(st.success(), format!("attacher: {st}"))?;
    wait_gone(tracker)?;
    check(!dev_shm(&theirs), "its own block unlinked")?;
    check(dev_shm(&name), "our block unlinked by an attacher")?;
    let mut got = [0u8; 8];
    SharedMemory::attach(&name)?.read_at(0, &mut got);
    check(&got == b"attached", "its write")?;
    ours.unlink()?;
    Ok(())
}

/// `track(false)`: the block outlives its program.
fn untracked_outlives_program() -> Result<(), Failed> {
    let (mut prog, mut lines) = program("untracked", &[])?;
    let untracked = next(&mut lines, "a name")?;
    let tracked = next(&mut lines, "a name")?;
    let tracker: i32 = next(&mut lines, "the tracker pid")?
        .parse()
        .map_err(|_| "pid")?;
    let st = prog.wait().map_err(|e| e.to_string())?;
    check(st.success(), format!("program: {st}"))?;
    wait_gone(tracker)?;
    check(!dev_shm(&tracked), "tracked block unlinked")?;
    let still = dev_shm(&untracked);
    if still {
        SharedMemory::attach(&untracked)?.unlink()?;
    }
    check(still, "untracked block unlinked by the tracker")
}

fn main() {
    gilfree::multiprocessing::init();
    if let Ok(role) = std::env::var(ROLE) {
        let args: Vec<String> = std::env::args().skip(2).collect();
        play(&role, &args);
        return;
    }
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let per_method: &[(&str, Case)] = &[
        ("passed_as_argument", passed_as_argument),
        ("attached_by_name_in_child", attached_by_name_in_child),
        (
            "created_in_child_outlives_child",
            created_in_child_outlives_child,
        ),
        (
            "killed_program_leaves_nothing",
            killed_program_leaves_nothing,
        ),
        ("value_and_array_round_trip", value_and_array_round_trip),
        ("locked_increments_are_exact", locked_increments_are_exact),
        ("value_dead_holder_reported", value_dead_holder_reported),
        ("lock_dead_holder_reported", lock_dead_holder_reported),
        ("array_dead_holder_reported", array_dead_holder_reported),
        (
            "condition_dead_holder_reported",
            condition_dead_holder_reported,
        ),
        (
            "lock_released_by_another_process",
            lock_released_by_another_process,
        ),
        ("rlock_across_processes", rlock_across_processes),
        ("event_set_in_child", event_set_in_child),
        ("condition_across_processes", condition_across_processes),
        (
            "semaphore_permits_across_processes",
            semaphore_permits_across_processes,
        ),
        (
            "bounded_semaphore_over_release_in_child",
            bounded_semaphore_over_release_in_child,
        ),
    ];
    let once: &[(&str, Once)] = &[
        ("basics", basics),
        (
            "failed_acquires_leave_the_value",
            failed_acquires_leave_the_value,
        ),
        (
            "condition_try_and_timed_acquire",
            condition_try_and_timed_acquire,
        ),
        (
            "condition_notify_needs_the_lock",
            condition_notify_needs_the_lock,
        ),
        ("rlock_acquire_unguarded", rlock_acquire_unguarded),
        (
            "attach_only_program_unlinks_nothing",
            attach_only_program_unlinks_nothing,
        ),
        ("untracked_outlives_program", untracked_outlives_program),
    ];
    let mut trials = Vec::new();
    for m in StartMethod::ALL {
        for &(name, f) in per_method {
            trials.push(Trial::test(format!("{m}::{name}"), move || f(m)));
        }
    }
    for &(name, f) in once {
        trials.push(Trial::test(name, f));
    }
    libtest_mimic::run(&args, trials).exit();
}
