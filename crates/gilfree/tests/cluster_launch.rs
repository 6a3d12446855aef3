//! How an MPI program starts and ends, seen from outside: the clear
//! errors when `MpiPoolExecutor` cannot run (not under `mpiexec`; `mpiexec
//! -n 1`, no worker ranks), a clean exit of every rank when `main`
//! returns, and what the user sees when a server rank dies or rank 0
//! panics: the job ends, nothing hangs. `harness = false`: `main` calls
//! `multiprocessing::init()` first; each test starts this binary again
//! under `mpiexec` with a scenario to play.

mod cluster_support;

use std::io::Read;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use gilfree::cluster::MpiPoolExecutor;
use gilfree::futures::{Error, ThreadPoolExecutor};
use libtest_mimic::{Arguments, Failed, Trial};

const SCENARIO: &str = "GILFREE_CLUSTER_SCENARIO";
/// How long a scenario may run before it counts as a hang.
const HANG_GUARD: Duration = Duration::from_secs(120);

#[gilfree::task]
fn square(x: u64) -> u64 {
    x * x
}

#[gilfree::task]
fn die() -> u8 {
    // SAFETY: raising a signal at ourselves.
    unsafe { libc::raise(libc::SIGKILL) };
    0
}

/// What rank 0 does in each scenario (ranks 1.. serve in `init()`).
fn scenario(name: &str) {
    match name {
        "one_rank" => match MpiPoolExecutor::new() {
            Err(Error::Mpi(m)) => println!("error: {m}"),
            other => println!("unexpected: {other:?}"),
        },
        "clean_exit" => {
            let p = MpiPoolExecutor::new().unwrap();
            let v: u64 = (0..50u64)
                .map(|i| p.submit(square::TASK, (i,)).unwrap().result().unwrap())
                .sum();
            println!("sum {v}");
            // Work still queued at exit is cancelled, not waited for
            // forever: leak an executor with calls in flight.
            let q = MpiPoolExecutor::new().unwrap();
            for i in 0..1000u64 {
                drop(q.submit(square::TASK, (i,)).unwrap());
            }
            std::mem::forget(q);
        }
        "rank_dies" => {
            let p = MpiPoolExecutor::new().unwrap();
            let f = p.submit(die::TASK, ()).unwrap();
            let r = f.result();
            println!("unreachable: rank 0 went on after {r:?}");
        }
        "main_panics" => {
            let p = MpiPoolExecutor::new().unwrap();
            assert_eq!(p.submit(square::TASK, (3,)).unwrap().result(), Ok(9));
            std::panic::set_hook(Box::new(|_| {}));
            panic!("rank 0 gives up");
        }
        other => panic!("unknown scenario {other}"),
    }
}

/// Run a scenario on `ranks` ranks; fail if it has not ended after two
/// minutes (a hang, not a slow machine).
fn play(name: &str, ranks: usize) -> Result<Output, Failed> {
    let mut child = cluster_support::mpiexec(ranks, &[], &[(SCENARIO, name)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run mpiexec: {e}"))?;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let so = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let se = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    // mpiexec's exit makes its pidfd readable: wait for that, not a poll
    // loop; a hang guard of two minutes.
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(child.id() as i32).expect("a child's pid"),
        rustix::process::PidfdFlags::empty(),
    )
    .map_err(|e| format!("pidfd_open: {e}"))?;
    let mut fds = [rustix::event::PollFd::new(
        &pidfd,
        rustix::event::PollFlags::IN,
    )];
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ts = rustix::time::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: left.subsec_nanos() as i64,
        };
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(1) => break,
            Ok(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("scenario {name} hung").into());
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(format!("poll: {e}").into()),
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    Ok(Output {
        status,
        stdout: so.join().unwrap(),
        stderr: se.join().unwrap(),
    })
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn not_under_mpiexec() -> Result<(), Failed> {
    let e = MpiPoolExecutor::new().unwrap_err();
    let Error::Mpi(m) = &e else {
        return Err(format!("{e:?}").into());
    };
    if !m.contains("not started by mpiexec") || !m.contains("mpiexec -n N") {
        return Err(m.clone().into());
    }
    // The binary itself runs normally.
    let t = ThreadPoolExecutor::new();
    assert_eq!(t.submit(|| 2 + 2).unwrap().result(), Ok(4));
    Ok(())
}

fn one_rank_has_no_workers() -> Result<(), Failed> {
    let o = play("one_rank", 1)?;
    let t = text(&o);
    if !o.status.success() || !t.contains("error: MpiPoolExecutor: no worker ranks") {
        return Err(t.into());
    }
    Ok(())
}

fn every_rank_exits_cleanly() -> Result<(), Failed> {
    let o = play("clean_exit", 3)?;
    let t = text(&o);
    if !o.status.success() || !t.contains("sum 40425") {
        return Err(format!("{:?}: {t}", o.status).into());
    }
    Ok(())
}

fn a_dying_rank_ends_the_job() -> Result<(), Failed> {
    let o = play("rank_dies", 3)?;
    let t = text(&o);
    if o.status.success() || t.contains("unreachable") || !t.contains("BAD TERMINATION") {
        return Err(format!("{:?}: {t}", o.status).into());
    }
    Ok(())
}

fn a_panic_in_main_ends_the_job() -> Result<(), Failed> {
    let o = play("main_panics", 3)?;
    if o.status.success() {
        return Err(text(&o).into());
    }
    Ok(())
}

fn main() {
    gilfree::multiprocessing::init();
    if let Ok(name) = std::env::var(SCENARIO) {
        scenario(&name);
        return;
    }
    let args = Arguments::from_args();
    let tests = vec![
        Trial::test("not_under_mpiexec", not_under_mpiexec),
        Trial::test("one_rank_has_no_workers", one_rank_has_no_workers),
        Trial::test("every_rank_exits_cleanly", every_rank_exits_cleanly),
        Trial::test("a_dying_rank_ends_the_job", a_dying_rank_ends_the_job),
        Trial::test("a_panic_in_main_ends_the_job", a_panic_in_main_ends_the_job),
    ];
    libtest_mimic::run(&args, tests).exit();
}
