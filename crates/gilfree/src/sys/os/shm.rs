//! The OS calls behind shared memory and its resource tracker: POSIX
//! shared-memory names (`shm_open`/`shm_unlink`), anonymous segments
//! (`memfd_create`), sizing and mapping them, and the resource tracker's
//! calls: its message socket (`SOCK_SEQPACKET`: one `send` is one
//! message, and a receive returns 0 only once every sender's descriptor
//! is closed) and the async-signal-safe calls it makes after `fork`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, fstat, ftruncate, memfd_create};
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

/// `shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600)` (close-on-exec):
/// a new named segment of size 0, or `AlreadyExists`. `name` starts
/// with `/`.
pub(crate) fn shm_create(name: &str) -> io::Result<OwnedFd> {
    shm_open(name, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL)
}

/// `shm_open(name, O_RDWR)`: an existing named segment, or `NotFound`.
pub(crate) fn shm_attach(name: &str) -> io::Result<OwnedFd> {
    shm_open(name, libc::O_RDWR)
}

fn shm_open(name: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = c_name(name)?;
    // SAFETY: `c` is a NUL-terminated string that lives across the call;
    // glibc's shm_open opens with O_CLOEXEC.
    let fd = unsafe { libc::shm_open(c.as_ptr(), flags, 0o600 as libc::mode_t) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: shm_open returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `shm_unlink(name)`: remove the name (mappings stay valid).
pub(crate) fn shm_unlink(name: &str) -> io::Result<()> {
    let c = c_name(name)?;
    // SAFETY: `c` is a NUL-terminated string that lives across the call.
    if unsafe { libc::shm_unlink(c.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An anonymous segment (`memfd_create`, close-on-exec): no name to leak,
/// gone with its last descriptor and mapping. `tag` shows in
/// `/proc/<pid>/fd` only.
pub(crate) fn memfd(tag: &str) -> io::Result<OwnedFd> {
    Ok(memfd_create(tag, MemfdFlags::CLOEXEC)?)
}

/// Set the segment's size (`ftruncate`; new bytes read as zero).
pub(crate) fn set_len(fd: BorrowedFd<'_>, len: usize) -> io::Result<()> {
    Ok(ftruncate(fd, len as u64)?)
}

/// The segment's size (`fstat`).
pub(crate) fn len_of(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let st = fstat(fd)?;
    usize::try_from(st.st_size).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Map `len` bytes of `fd` read-write and shared (`len` > 0).
pub(crate) fn map_shared(fd: BorrowedFd<'_>, len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a fresh mapping at an address the kernel chooses aliases no
    // Rust object; `fd` is open for reading and writing.
    let p = unsafe {
        mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            fd,
            0,
        )?
    };
    NonNull::new(p.cast()).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))
}

/// Unmap what [`map_shared`] mapped.
///
/// # Safety
/// `ptr`/`len` are one mapping from [`map_shared`], unmapped once, and no
/// reference into it outlives this call.
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller's contract.
    let _ = unsafe { munmap(ptr.as_ptr().cast(), len) };
}

/// A connected pair of Unix `SOCK_SEQPACKET` sockets, close-on-exec.
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Send one message; a gone peer is `EPIPE`, never SIGPIPE.
pub(crate) fn send_message(fd: BorrowedFd<'_>, msg: &[u8]) -> io::Result<()> {
    loop {
        match rustix::net::send(fd, msg, SendFlags::NOSIGNAL) {
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receive one message into `buf` (blocking); `Ok(0)` once every peer
/// descriptor is closed.
pub(crate) fn recv_message(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::net::recv(fd, &mut *buf, RecvFlags::empty()) {
            Ok((n, _)) => return Ok(n),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// In a freshly forked helper process: keep only `keep` (moved to
/// descriptor 3, which is returned), point 0, 1 and 2 at `/dev/null`,
/// close every other descriptor (so the helper holds none of its parent's
/// pipes or sockets open), and ignore SIGINT and SIGTERM (a Ctrl-C of
/// the terminal's process group must not end it).
///
/// Async-signal-safe: raw system calls only, no allocation and no lock,
/// so it is sound right after `fork` in a multi-threaded parent.
pub(crate) fn become_helper(keep: RawFd) -> RawFd {
    // SAFETY: plain system calls on descriptor numbers; a failure leaves a
    // descriptor open or not redirected, which costs nothing unsound.
    unsafe {
        let high = libc::fcntl(keep, libc::F_DUPFD, 10);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for std_fd in 0..3 {
                libc::dup2(null, std_fd);
            }
        }
        libc::dup2(high, 3);
        if libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32) != 0 {
            for fd in 4..4096 {
                libc::close(fd);
            }
        }
        for sig in [libc::SIGINT, libc::SIGTERM] {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
    3
}

/// Remove the POSIX shared-memory object `name` (`/…`, at most 255 bytes)
/// without allocating: async-signal-safe (the helper after `fork`).
pub(crate) fn shm_unlink_raw(name: &[u8]) {
    const DIR: &[u8] = b"/dev/shm";
    let mut path = [0u8; 8 + 256 + 1];
    if name.first() != Some(&b'/') || name.len() > 256 || name.contains(&0) {
        return;
    }
    path[..DIR.len()].copy_from_slice(DIR);
    path[DIR.len()..DIR.len() + name.len()].copy_from_slice(name);
    // SAFETY: `path` is NUL-terminated (the byte after the name is 0) and
    // lives across the call.
    unsafe {
        libc::unlink(path.as_ptr().cast());
    }
}

/// `len` bytes of zeroed private memory, reserved lazily (pages cost
/// nothing until touched): a helper's table after `fork`, without the
/// allocator.
pub(crate) fn scratch_pages(len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a fresh anonymous mapping at an address the kernel chooses
    // aliases nothing.
    let p = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE | MapFlags::NORESERVE,
        )?
    };
    NonNull::new(p.cast()).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))
}

/// Take ownership of inherited descriptor `raw` if it is open and a
/// socket (a number from the environment is checked, not trusted).
pub(crate) fn adopt_socket(raw: RawFd) -> Option<OwnedFd> {
    if raw < 0 {
        return None;
    }
    // SAFETY: only borrowed for the fstat below; fstat of a closed number
    // fails with EBADF.
    let b = unsafe { BorrowedFd::borrow_raw(raw) };
    let st = fstat(b).ok()?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Socket {
        return None;
    }
    // SAFETY: the number is open and was passed to us for our sole use;
    // nothing else in this process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(b.as_raw_fd()) };
    let flags = rustix::io::fcntl_getfd(&fd).ok()?;
    rustix::io::fcntl_setfd(&fd, flags | rustix::io::FdFlags::CLOEXEC).ok()?;
    Some(fd)
}

/// Whether kernel thread `tid` (of any process in our pid namespace) is
/// alive: `/proc/<tid>/stat` exists and its state is not zombie or dead.
/// A holder of a process-shared lock is checked this way while others wait
/// for it. When the answer cannot be read, it is "alive" (waiting on is
/// the safe side).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn thread_alive(tid: u32) -> bool {
    !matches!(process_life(tid), Life::Gone)
}

/// What `/proc/<id>/stat` says of a thread or process.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) enum Life {
    /// No such id, or a zombie (dead, not yet reaped).
    Gone,
    /// Alive, or not known to be dead (unreadable: waiting on is the safe
    /// side), with its start time (clock ticks after boot) if read.
    Alive(Option<u64>),
}

/// Whether thread or process `id` lives, and since when (its start time
/// tells a reused id from the one that was recorded). A process's id is its
/// main thread's: a process whose main thread has exited while others run
/// reads as a zombie, hence gone.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn process_life(id: u32) -> Life {
    let stat = match std::fs::read(format!("/proc/{id}/stat")) {
        Ok(s) => s,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH)) => {
            return Life::Gone;
        }
        Err(_) => return Life::Alive(None),
    };
    // "id (comm) S …": the state follows the last ')' (comm may hold any
    // byte, ')' included); the start time is field 22, the 20th after it.
    let Some(i) = stat.iter().rposition(|&b| b == b')') else {
        return Life::Alive(None);
    };
    if matches!(stat.get(i + 2), Some(b'Z' | b'X' | b'x')) {
        return Life::Gone;
    }
    let start = stat
        .get(i + 2..)
        .and_then(|rest| rest.split(|&b| b == b' ').nth(19))
        .and_then(|f| std::str::from_utf8(f).ok()?.trim().parse().ok());
    Life::Alive(start)
}

/// Run `f` in the child after every `fork` of this process (a cache of
/// per-thread OS ids must be refreshed there).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn at_fork_child(f: extern "C" fn()) {
    // SAFETY: `f` is a plain function with no captured state, valid for
    // the program's whole life; no prepare or parent handler.
    unsafe {
        libc::pthread_atfork(None, None, Some(f));
    }
}
