//! Every OS call of `multiprocessing`, in one place (rustix, plus libc for
//! the three calls rustix does not offer: `fork`, `_exit` and `atexit`).
//! A macOS port replaces this file: pidfds become kqueue `EVFILT_PROC`,
//! `PR_SET_PDEATHSIG` a watcher pipe.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::{Errno, FdFlags, fcntl_getfd, fcntl_setfd};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType, recvmsg, sendmsg,
};
use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions};

use crate::sys::Deadline;

/// At most this many descriptors ride on one message.
pub(crate) const MAX_FDS: usize = 16;

/// A connected pair of Unix stream sockets, both close-on-exec.
pub(crate) fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Set or clear close-on-exec.
pub(crate) fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let mut f = fcntl_getfd(fd)?;
    f.set(FdFlags::CLOEXEC, on);
    Ok(fcntl_setfd(fd, f)?)
}

/// A close-on-exec duplicate.
pub(crate) fn dup(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}

/// Send all of `bufs` (one `sendmsg` in the common case), with `fds` riding
/// on the first byte. Never raises SIGPIPE: a closed peer is `EPIPE`.
pub(crate) fn send_all(
    fd: BorrowedFd<'_>,
    bufs: &[&[u8]],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    assert!(fds.len() <= MAX_FDS, "too many descriptors on one message");
    let mut sent = 0usize;
    let mut fds_pending = !fds.is_empty();
    while sent < total {
        // The iovec of what is left past `sent`.
        let mut skip = sent;
        let mut iov: [IoSlice<'_>; 4] = [IoSlice::new(&[]); 4];
        let mut n = 0;
        for b in bufs {
            if skip >= b.len() {
                skip -= b.len();
                continue;
            }
            if n < iov.len() {
                iov[n] = IoSlice::new(&b[skip..]);
                n += 1;
            }
            skip = 0;
        }
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if fds_pending {
            control.push(SendAncillaryMessage::ScmRights(fds));
        }
        match sendmsg(fd, &iov[..n], &mut control, SendFlags::NOSIGNAL) {
            Ok(k) => {
                sent += k;
                fds_pending &= k == 0;
            }
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Send all of `buf` with plain `send` (no descriptors). Never raises
/// SIGPIPE: a closed peer is `EPIPE`.
pub(crate) fn send_plain(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<()> {
    let mut sent = 0;
    while sent < buf.len() {
        match rustix::net::send(fd, &buf[sent..], SendFlags::NOSIGNAL) {
            Ok(k) => sent += k,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// One `recvmsg`: bytes into `buf`, any descriptors (close-on-exec) into
/// `fds`. `Ok(0)` is EOF.
pub(crate) fn recv_some(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
    nonblocking: bool,
) -> io::Result<usize> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut flags = RecvFlags::CMSG_CLOEXEC;
    if nonblocking {
        flags |= RecvFlags::DONTWAIT;
    }
    loop {
        match recvmsg(fd, &mut [IoSliceMut::new(buf)], &mut control, flags) {
            Ok(r) => {
                for m in control.drain() {
                    if let RecvAncillaryMessage::ScmRights(it) = m {
                        fds.extend(it);
                    }
                }
                return Ok(r.bytes);
            }
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Wait until one of `fds` is readable (or hung up), or `deadline`.
/// Returns a readiness flag per fd; all `false` means timed out.
pub(crate) fn poll_readable(fds: &[BorrowedFd<'_>], deadline: Deadline) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN))
        .collect();
    loop {
        let ts;
        let timeout = match deadline.remaining() {
            None => None,
            Some(d) => {
                ts = timespec(d);
                Some(&ts)
            }
        };
        match poll(&mut pfds, timeout) {
            Ok(_) => {
                return Ok(pfds.iter().map(|p| !p.revents().is_empty()).collect());
            }
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn timespec(d: Duration) -> rustix::time::Timespec {
    rustix::time::Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos() as _,
    }
}

/// Whether `fd` is readable now.
pub(crate) fn readable_now(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(poll_readable(&[fd], Deadline::now())?[0])
}

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

/// Online CPUs of the machine.
pub(crate) fn cpu_count() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 { n as usize } else { 1 }
}

/// CPUs this process may run on (its affinity mask).
pub(crate) fn affinity_cpu_count() -> usize {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => (set.count() as usize).max(1),
        Err(_) => cpu_count(),
    }
}

/// `n` bytes from the kernel's CSPRNG.
pub(crate) fn random_bytes(n: usize) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut v = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut v)?;
    Ok(v)
}

/// Set the mode bits of a path (the forkserver's socket: 0600).
pub(crate) fn chmod(path: &std::path::Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
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
