//! A program that forgets `multiprocessing::init()` ends at once with the
//! fix named (no process storm), and no program leaves a `gilfree-*` entry
//! in its temporary directory or a fork server behind, however it ends.
//!
//! `harness = false`: the program under test is this binary, re-executed
//! with a role in its environment ([`ROLE`]); without one it runs the cases.
//! A role's `main` deliberately does not start with `init()`. Each case
//! runs its program in a fresh process group with its own `TMPDIR`, under
//! a timeout guard that kills the whole group.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use gilfree::multiprocessing::{Error, Process, StartMethod, get_context};
use libtest_mimic::{Arguments, Failed, Trial};

/// The role this binary plays when re-executed by a case.
const ROLE: &str = "GILFREE_TEST_ROLE";
/// A file every process that runs a role's `main` appends its pid to.
const MARK: &str = "GILFREE_TEST_MARK";
/// Set by a role's parent after its own `init()`: its re-executed
/// children then skip `init()`.
const SKIP_INIT: &str = "GILFREE_TEST_SKIP_INIT";
/// Far more than any of these programs needs; reaching it is the storm.
const GUARD: Duration = Duration::from_secs(60);

#[gilfree::task]
fn idle() {}

/// The program under test (see the roles in [`cases`]).
fn act(role: &str) -> ! {
    if let Ok(mark) = std::env::var(MARK) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(mark)
            .unwrap();
        writeln!(f, "{}", std::process::id()).unwrap();
    }
    let (what, method) = role.split_once(':').unwrap();
    let method: StartMethod = method.parse().unwrap();
    match what {
        // `main` without init(): the start must be refused here.
        "no-init" => {}
        // init() in the parent only: the re-executed child reaches this
        // start without it.
        "child-skips" => {
            if std::env::var_os(SKIP_INIT).is_none() {
                gilfree::multiprocessing::init();
                // SAFETY: no other thread exists yet.
                unsafe { std::env::set_var(SKIP_INIT, "1") };
            }
        }
        // A correct program that ends by returning, panicking, or being
        // killed, after its fork server is up.
        how => {
            gilfree::multiprocessing::init();
            let p = get_context(method).process(idle::TASK, ()).unwrap();
            p.start().unwrap();
            p.join().unwrap();
            let server = gilfree::multiprocessing::__forkserver_pid().unwrap_or(0);
            println!("server {server}");
            std::io::stdout().flush().unwrap();
            match how {
                "exit" => std::process::exit(0),
                "panic" => panic!("the program panics"),
                "sigkill" => {
                    let me = rustix::process::getpid();
                    rustix::process::kill_process(me, rustix::process::Signal::KILL).unwrap();
                    unreachable!("killed")
                }
                _ => unreachable!("unknown role {role}"),
            }
        }
    }
    match Process::builder()
        .start_method(method)
        .target(idle::TASK, ())
        .and_then(|p| p.start())
    {
        Err(e @ Error::NoInit(_)) => {
            eprintln!("refused: {e}");
            std::process::exit(2)
        }
        other => {
            eprintln!("not refused: {other:?}");
            std::process::exit(0)
        }
    }
}

/// One run of a role: its output, and how many processes ran its `main`.
struct Run {
    out: Output,
    mains: usize,
    tmp: PathBuf,
}

/// Run `role` in a fresh process group with its own `TMPDIR`; kill the
/// group if it outlives [`GUARD`].
fn run_role(role: &str) -> Result<Run, Failed> {
    let base = std::env::temp_dir().join(format!(
        "gf-init-test-{}-{}",
        std::process::id(),
        role.replace(':', "-")
    ));
    let _ = std::fs::remove_dir_all(&base);
    let tmp = base.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let mark = base.join("mark");
    let child = Command::new(std::env::current_exe()?)
        .env(ROLE, role)
        .env(MARK, &mark)
        .env("TMPDIR", &tmp)
        .env_remove(SKIP_INIT)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let group = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let waited = rx.recv_timeout(GUARD);
    // Whatever is left of the group (nothing, if all went well) goes.
    // SAFETY: kill(2) on a process group we created; no memory involved.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    let out = match waited {
        Ok(out) => out?,
        Err(_) => return Err(format!("{role}: still running after {GUARD:?}").into()),
    };
    let mains = std::fs::read_to_string(&mark)
        .map(|s| s.lines().count())
        .unwrap_or(0);
    Ok(Run { out, mains, tmp })
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

/// What `TMPDIR` holds that gilfree made (nothing, after any end).
fn leftovers(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("gilfree"))
                .collect()
        })
        .unwrap_or_default()
}

/// A forgotten `init()` is refused with the fix named: the program ends,
/// at most one child ran its `main`, nothing is left behind.
fn refused(role: &str, who: &str) -> Result<(), Failed> {
    let r = run_role(role)?;
    let err = String::from_utf8_lossy(&r.out.stderr);
    check(
        r.out.status.code() == Some(2),
        format!("{role}: exit status {:?}, stderr:\n{err}", r.out.status),
    )?;
    check(
        err.contains("init()") && err.contains(who) && err.contains("first line of `main`"),
        format!("{role}: the message names neither init() nor {who:?}:\n{err}"),
    )?;
    check(
        r.mains <= 2,
        format!("{role}: {} processes ran main", r.mains),
    )?;
    let left = leftovers(&r.tmp);
    check(left.is_empty(), format!("{role}: left behind {left:?}"))
}

/// A program that starts a forkserver child and ends `how`: nothing in
/// its `TMPDIR`, and its fork server exits.
fn ends_clean(how: &str) -> Result<(), Failed> {
    let role = format!("{how}:forkserver");
    let r = run_role(&role)?;
    let out = String::from_utf8_lossy(&r.out.stdout);
    let server: i32 = out
        .lines()
        .find_map(|l| l.strip_prefix("server "))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("{role}: no server pid in {out:?}"))?;
    check(server > 0, format!("{role}: no fork server"))?;
    // The server is not our child: watch it through a pidfd (an error
    // means it is gone already).
    if let Some(pid) = rustix::process::Pid::from_raw(server)
        && let Ok(fd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
    {
        let mut p = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let t = rustix::time::Timespec {
            tv_sec: GUARD.as_secs() as i64,
            tv_nsec: 0,
        };
        let _ = rustix::event::poll(&mut p, Some(&t));
        check(
            !p[0].revents().is_empty(),
            format!("{role}: the fork server {server} outlived its program"),
        )?;
    }
    let left = leftovers(&r.tmp);
    check(left.is_empty(), format!("{role}: left behind {left:?}"))
}

fn cases() -> Vec<Trial> {
    let mut v = Vec::new();
    for m in StartMethod::ALL {
        let role = format!("no-init:{m}");
        v.push(Trial::test(format!("no_init_is_refused::{m}"), move || {
            refused(&role, "this process")
        }));
    }
    for (m, who) in [
        (StartMethod::Spawn, "the child"),
        (StartMethod::ForkServer, "the fork server"),
    ] {
        let role = format!("child-skips:{m}");
        v.push(Trial::test(
            format!("child_without_init_is_refused::{m}"),
            move || refused(&role, who),
        ));
    }
    for how in ["exit", "panic", "sigkill"] {
        v.push(Trial::test(
            format!("nothing_left_after::{how}"),
            move || ends_clean(how),
        ));
    }
    v
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        act(&role);
    }
    let args = Arguments::from_args();
    libtest_mimic::run(&args, cases()).exit();
}
