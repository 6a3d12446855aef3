//! Sockets and descriptors: socket pairs, close-on-exec, and the one
//! `sendmsg`/`recvmsg` pair that carries bytes with descriptors
//! (`SCM_RIGHTS`) for every connection.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::io::{Errno, FdFlags, fcntl_getfd, fcntl_setfd};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType, recvmsg, sendmsg,
};

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

/// One plain `recv` (no control buffer: cheaper than `recvmsg`). Any
/// descriptors riding on the bytes it takes are closed by the kernel, so
/// only for bytes known to carry none. `Ok(0)` is EOF.
pub(crate) fn recv_plain(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    nonblocking: bool,
) -> io::Result<usize> {
    let flags = if nonblocking {
        RecvFlags::DONTWAIT
    } else {
        RecvFlags::empty()
    };
    loop {
        match rustix::net::recv(fd, &mut *buf, flags) {
            Ok((n, _)) => return Ok(n),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
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

/// Close a descriptor by its number.
///
/// # Safety
/// No live `OwnedFd` of this process owns `fd` that will still be used or
/// dropped (a forked worker closing the server's descriptors before it
/// ends with `_exit`).
pub(crate) unsafe fn close_raw(fd: i32) {
    // SAFETY: the caller guarantees nothing else will use or close `fd`.
    unsafe { libc::close(fd) };
}
