//! Processes: fork, exec (`posix_spawn` of this binary), exit, pidfds
//! (signal, reap), the parent-death signal. A macOS port replaces pidfds
//! with kqueue `EVFILT_PROC` and `PR_SET_PDEATHSIG` with a watcher pipe.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions};

/// What `fork` returned.
pub(crate) enum Forked {
    /// In the parent: the child's pid.
    Parent(i32),
    /// In the child.
    Child,
}

/// `fork()`.
///
/// # Safety
/// In the child only async-signal-safe work is sound if the parent had
/// other threads; the caller guarantees that, or accepts the risk
/// documented on the fork start method.
pub(crate) unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: the caller upholds fork's contract (see above).
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// `_exit(code)`: leave at once, without running `atexit` handlers or
/// flushing the parent's inherited stdio buffers (a forked child).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is always safe to call; it does not return.
    unsafe { libc::_exit(code) }
}

/// Register `f` to run at normal process exit.
pub(crate) fn at_exit(f: extern "C" fn()) {
    // SAFETY: `f` is a plain function with no captured state, valid for the
    // program's whole life.
    unsafe {
        libc::atexit(f);
    }
}

/// This process's id.
pub(crate) fn getpid() -> i32 {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// The parent's id (0 if none).
pub(crate) fn getppid() -> i32 {
    rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get())
}

/// Ask the kernel to SIGKILL us when our parent (the thread that forked us)
/// dies; then check the parent did not die already (the race window).
pub(crate) fn kill_me_with_parent(expected_parent: i32) -> io::Result<()> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
    if getppid() != expected_parent {
        exit_now(1);
    }
    Ok(())
}

/// A pidfd for `pid` (close-on-exec).
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    Ok(rustix::process::pidfd_open(pid, PidfdFlags::empty())?)
}

/// Send signal number `sig` through a pidfd (no pid-reuse race).
/// A process already gone is not an error.
pub(crate) fn pidfd_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: `sig` is SIGTERM or SIGKILL or another valid signal number
    // chosen by the caller; from_raw_unchecked only skips validation.
    let s = unsafe { Signal::from_raw_unchecked(sig) };
    match rustix::process::pidfd_send_signal(pidfd, s) {
        Ok(()) | Err(Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Python's exit code from a wait status: the exit status, or minus the
/// signal that killed it.
fn python_code(st: &rustix::process::WaitIdStatus) -> i32 {
    if let Some(sig) = st.terminating_signal() {
        -sig
    } else {
        st.exit_status().unwrap_or(0)
    }
}

/// Reap our child through its pidfd: `Some(exitcode)` if it has exited
/// (and is now reaped), `None` if it is still running.
pub(crate) fn reap(pidfd: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    loop {
        match rustix::process::waitid(
            WaitId::PidFd(pidfd),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        ) {
            Ok(Some(st)) if st.exited() || st.killed() || st.dumped() => {
                return Ok(Some(python_code(&st)));
            }
            Ok(_) => return Ok(None),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// How many threads this process has (`/proc/self/task`).
pub(crate) fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Re-execute this binary (`/proc/self/exe`) as a child with `posix_spawn`,
/// its environment plus each `var=value` of `vars`, and the descriptors `keep`
/// inherited (close-on-exec cleared in the child only). Returns its pid.
///
/// glibc's `posix_spawn` is `clone(CLONE_VM | CLONE_VFORK)` + `exec`: no
/// copy of the parent's page tables (a plain `fork` of a large parent
/// costs more than the exec), and an exec failure comes back as the
/// return value instead of through a pipe. The child starts with an empty
/// signal mask and `SIGPIPE` at its default, as `std::process::Command`
/// gives it.
pub(crate) fn spawn_self(vars: &[(&str, &str)], keep: &[BorrowedFd<'_>]) -> io::Result<i32> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;

    let cstr = |b: &[u8]| {
        CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in argument"))
    };
    let path = c"/proc/self/exe";
    let arg0 = match std::env::args_os().next() {
        Some(a) => cstr(a.as_bytes())?,
        None => cstr(b"gilfree-child")?,
    };
    let mut env: Vec<CString> = Vec::new();
    for (k, v) in std::env::vars_os() {
        if vars.iter().any(|(var, _)| k.as_bytes() == var.as_bytes()) {
            continue;
        }
        let mut e = k.as_bytes().to_vec();
        e.push(b'=');
        e.extend_from_slice(v.as_bytes());
        env.push(cstr(&e)?);
    }
    for (var, value) in vars {
        env.push(cstr(format!("{var}={value}").as_bytes())?);
    }
    let argv = [arg0.as_ptr().cast_mut(), std::ptr::null_mut()];
    let mut envp: Vec<*mut libc::c_char> = env.iter().map(|e| e.as_ptr().cast_mut()).collect();
    envp.push(std::ptr::null_mut());

    /// Owns the attribute and file-action objects; destroys them on drop.
    struct Spawn {
        attr: libc::posix_spawnattr_t,
        fa: libc::posix_spawn_file_actions_t,
    }
    impl Drop for Spawn {
        fn drop(&mut self) {
            // SAFETY: both were initialised in `spawn_self` before this
            // value was built, and are destroyed once, here.
            unsafe {
                libc::posix_spawn_file_actions_destroy(&mut self.fa);
                libc::posix_spawnattr_destroy(&mut self.attr);
            }
        }
    }
    let check = |r: libc::c_int| {
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(r))
        }
    };
    // SAFETY: the objects are zeroed plain C structs, initialised by the
    // `_init` calls before any other use; every pointer passed to
    // `posix_spawn` (path, argv, envp and their strings) lives until it
    // returns; `keep` are open descriptors borrowed for the call.
    unsafe {
        let mut s = Spawn {
            attr: std::mem::zeroed(),
            fa: std::mem::zeroed(),
        };
        check(libc::posix_spawnattr_init(&mut s.attr))?;
        if let Err(e) = check(libc::posix_spawn_file_actions_init(&mut s.fa)) {
            libc::posix_spawnattr_destroy(&mut s.attr);
            return Err(e);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        check(libc::posix_spawnattr_setsigmask(&mut s.attr, &set))?;
        libc::sigaddset(&mut set, libc::SIGPIPE);
        check(libc::posix_spawnattr_setsigdefault(&mut s.attr, &set))?;
        check(libc::posix_spawnattr_setflags(
            &mut s.attr,
            (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as _,
        ))?;
        for fd in keep {
            // dup2 of a descriptor onto itself clears its close-on-exec
            // flag in the child (POSIX, Austin Group issue 411; glibc
            // ≥ 2.29, musl).
            let raw = fd.as_raw_fd();
            check(libc::posix_spawn_file_actions_adddup2(&mut s.fa, raw, raw))?;
        }
        let mut pid: libc::pid_t = 0;
        check(libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            &s.fa,
            &s.attr,
            argv.as_ptr(),
            envp.as_ptr(),
        ))?;
        Ok(pid)
    }
}

/// `SIGTERM`, for [`pidfd_signal`].
pub(crate) const SIGTERM: i32 = libc::SIGTERM;

/// `SIGKILL`, for [`pidfd_signal`].
pub(crate) const SIGKILL: i32 = libc::SIGKILL;
