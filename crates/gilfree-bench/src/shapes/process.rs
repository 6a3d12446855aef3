//! Processes and pipes (issue 4): process start per start method, Pipe
//! round trip (64 B) and Pipe throughput (64 B and 1 MiB messages), process
//! to process.
//!
//! Impls: `raw`, the floors (a bare `fork` + `_exit` + `waitpid`; `fork` +
//! `exec` of `/bin/true`; a socketpair echoed or drained by a forked child
//! with plain `read`/`write`), CPython's `multiprocessing`, and gilfree's
//! `multiprocessing` (the default start method for the pipe child). One op
//! is one start+join, one round trip, or one message.
//!
//! The round trip has two floors. gilfree's `Connection` retries a read
//! that would block for up to 20 µs, yielding between tries, before it
//! sleeps (`sys::spin::SOCKET_READ`), so `raw` does the same on both ends
//! (nonblocking `recv`, `sched_yield`, 20 µs, then a blocking `recv`): the
//! fair floor, and the target's. `raw_blocking` blocks in `read` at once,
//! so each round trip pays two wake-ups: on a host where those are slow it
//! is far above `raw` (compare with the wake-up latency in the header).

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use gilfree::multiprocessing::{Connection, Pipe, Process, StartMethod, get_context};

use crate::harness::{Bench, Case, Sizes, case};

/// Heap held (every page written) while processes start: see
/// `--parent-mib`.
struct Ballast {
    _mem: Vec<u8>,
}

impl Ballast {
    fn new(mib: usize) -> Ballast {
        let mut v = vec![0u8; mib << 20];
        for (i, page) in v.chunks_mut(4096).enumerate() {
            page[0] = i as u8 | 1; // touched: resident, not the shared zero page
        }
        Ballast {
            _mem: std::hint::black_box(v),
        }
    }
}

/// This process's resident set (VmRSS), in MiB.
fn resident_mib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<usize>().ok()
        })
        .map_or(0, |kb| kb / 1024)
}

/// The smallest task: what a start costs, and nothing else.
#[gilfree::task]
fn nothing() {}

/// gilfree's side of the pipe shapes, as `RawPipe`'s child: requests
/// `(op, n, size)`; op 1 echoes `n` messages, op 2 takes `n` and answers
/// their total size. The peer's close ends it.
#[gilfree::task]
fn pipe_server(c: Connection) {
    let mut buf = vec![0u8; 1 << 20];
    while let Ok((op, n, _size)) = c.recv::<(u64, u64, u64)>() {
        if op == 1 {
            for _ in 0..n {
                let k = c.recv_bytes_into(&mut buf).expect("echo recv");
                c.send_bytes(&buf[..k]).expect("echo send");
            }
        } else {
            let mut total = 0u64;
            for _ in 0..n {
                total += c.recv_bytes_into(&mut buf).expect("sink recv") as u64;
            }
            c.send(&total).expect("sink answer");
        }
    }
}

/// Start and join an empty task with start method `m`.
fn gilfree_start<'a>(m: StartMethod) -> Case<'a> {
    case("gilfree", move |n| {
        let ctx = get_context(m);
        let t = Instant::now();
        for _ in 0..n {
            let p = ctx.process(nothing::TASK, ()).expect("process");
            p.start().expect("start");
            p.join().expect("join");
        }
        t.elapsed()
    })
}

/// A gilfree `Pipe` to a `pipe_server` child (default start method).
pub(super) struct GilfreePipe {
    conn: Option<Connection>,
    child: Process<()>,
    buf: Vec<u8>,
}

impl GilfreePipe {
    pub(super) fn start() -> gilfree::multiprocessing::Result<GilfreePipe> {
        let (mine, theirs) = Pipe(true)?;
        let child = Process::new(pipe_server::TASK, (theirs,))?;
        child.start()?;
        Ok(GilfreePipe {
            conn: Some(mine),
            child,
            buf: vec![0u8; 1 << 20],
        })
    }

    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("open")
    }

    pub(super) fn round_trips(&mut self, n: u64) -> Duration {
        let msg = [1u8; 64];
        self.conn().send(&(1u64, n, 64u64)).unwrap();
        let t = Instant::now();
        for _ in 0..n {
            self.conn().send_bytes(&msg).unwrap();
            let c = self.conn.as_ref().expect("open");
            c.recv_bytes_into(&mut self.buf).unwrap();
        }
        t.elapsed()
    }

    pub(super) fn stream(&mut self, n: u64, msg: &[u8]) -> Duration {
        self.conn().send(&(2u64, n, msg.len() as u64)).unwrap();
        let t = Instant::now();
        for _ in 0..n {
            self.conn().send_bytes(msg).unwrap();
        }
        let total: u64 = self.conn().recv().unwrap();
        let d = t.elapsed();
        assert_eq!(total, n * msg.len() as u64);
        d
    }
}

impl Drop for GilfreePipe {
    fn drop(&mut self) {
        drop(self.conn.take()); // EOF: the child's loop ends
        let _ = self.child.join();
    }
}

/// Sizes for process starts (a millisecond or more each).
const STARTS: Sizes = Sizes {
    start: 1,
    max: 100_000,
};

/// Fork a child that runs `child` (which must only make async-signal-safe
/// calls: no allocation, no locks) and then `_exit`s; returns its pid.
fn fork_with(child: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child runs only `child`, which by this function's contract
    // makes async-signal-safe calls, then `_exit`s: nothing a lock held by
    // another thread at the fork could block.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child();
        // SAFETY: `_exit` is async-signal-safe and ends the child here.
        unsafe { libc::_exit(code) };
    }
    pid
}

fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: `pid` is our child, `status` a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

/// The fork floor: fork, `_exit(0)` in the child, `waitpid`.
fn raw_fork<'a>() -> Case<'a> {
    case("raw", |n| {
        let t = Instant::now();
        for _ in 0..n {
            reap(fork_with(|| 0));
        }
        t.elapsed()
    })
}

/// The fork+exec floor: fork, exec `/bin/true`, `waitpid`.
fn raw_fork_exec<'a>() -> Case<'a> {
    let path = CString::new("/bin/true").expect("no NUL");
    case("raw", move |n| {
        let argv = [path.as_ptr(), std::ptr::null()];
        let t = Instant::now();
        for _ in 0..n {
            reap(fork_with(|| {
                // SAFETY: `argv` is a NULL-terminated array of pointers to
                // NUL-terminated strings made before the fork; execv is
                // async-signal-safe.
                unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
                127
            }));
        }
        t.elapsed()
    })
}

/// Start and join a process per start method (gilfree's start + join of an
/// empty task; CPython's `Process(target=nothing)`), against its floor.
pub fn process_start(b: &mut Bench) {
    let wanted = [
        "process_start_fork",
        "process_start_spawn",
        "process_start_forkserver",
    ];
    if !wanted.iter().any(|s| b.wants(s)) {
        return;
    }
    let ballast = Ballast::new(b.cfg.parent_mib);
    b.note(format!(
        "process starts measured with this program holding {} MiB resident (--parent-mib {})",
        resident_mib(),
        b.cfg.parent_mib
    ));
    b.compare(
        "process_start_fork",
        STARTS,
        vec![gilfree_start(StartMethod::Fork), raw_fork()],
    );
    b.compare(
        "process_start_spawn",
        STARTS,
        vec![gilfree_start(StartMethod::Spawn), raw_fork_exec()],
    );
    b.compare(
        "process_start_forkserver",
        STARTS,
        vec![gilfree_start(StartMethod::ForkServer), raw_fork()],
    );
    drop(ballast);
}

/// A forked child serving the raw pipe shapes on a socketpair: each request
/// is `[op, n, size]` (u64s): op 1 echoes `n` messages of `size` bytes, op 2
/// reads `n * size` bytes and answers one byte. EOF ends it.
struct RawPipe {
    sock: UnixStream,
    pid: libc::pid_t,
}

impl RawPipe {
    fn start() -> std::io::Result<RawPipe> {
        let (mine, theirs) = UnixStream::pair()?;
        // Allocated before the fork: the child must not allocate.
        let mut buf = vec![0u8; 1 << 20];
        let mine_fd = std::os::fd::AsRawFd::as_raw_fd(&mine);
        // In the parent the closure is dropped unrun, closing `theirs`.
        let pid = fork_with(move || {
            // SAFETY: the child's copy of the parent's end, closed so that
            // the parent's shutdown is an EOF here; close is
            // async-signal-safe.
            unsafe { libc::close(mine_fd) };
            let mut s = theirs;
            let mut head = [0u8; 24];
            loop {
                if s.read_exact(&mut head).is_err() {
                    return 0;
                }
                let word =
                    |i: usize| u64::from_ne_bytes(head[i * 8..i * 8 + 8].try_into().unwrap());
                let (op, n, size) = (word(0), word(1), word(2) as usize);
                let msg = &mut buf[..size];
                if op == 1 || op == 3 {
                    for _ in 0..n {
                        let read = if op == 3 {
                            spin_read_exact(&s, msg)
                        } else {
                            s.read_exact(msg)
                        };
                        if read.is_err() || s.write_all(msg).is_err() {
                            return 1;
                        }
                    }
                } else {
                    for _ in 0..n {
                        if s.read_exact(msg).is_err() {
                            return 1;
                        }
                    }
                    if s.write_all(&[1]).is_err() {
                        return 1;
                    }
                }
            }
        });
        Ok(RawPipe { sock: mine, pid })
    }

    fn request(&mut self, op: u64, n: u64, size: usize) {
        let mut head = [0u8; 24];
        for (i, w) in [op, n, size as u64].into_iter().enumerate() {
            head[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
        }
        self.sock.write_all(&head).expect("raw pipe child gone");
    }

    /// `n` round trips of 64 bytes; with `spin`, both ends read as
    /// [`spin_read_exact`] does.
    fn round_trips(&mut self, n: u64, spin: bool) -> Duration {
        let mut msg = [1u8; 64];
        self.request(if spin { 3 } else { 1 }, n, msg.len());
        let t = Instant::now();
        for _ in 0..n {
            self.sock.write_all(&msg).unwrap();
            if spin {
                spin_read_exact(&self.sock, &mut msg).unwrap();
            } else {
                self.sock.read_exact(&mut msg).unwrap();
            }
        }
        t.elapsed()
    }

    pub(super) fn stream(&mut self, n: u64, msg: &[u8]) -> Duration {
        self.request(2, n, msg.len());
        let t = Instant::now();
        for _ in 0..n {
            self.sock.write_all(msg).unwrap();
        }
        let mut ack = [0u8];
        self.sock.read_exact(&mut ack).unwrap();
        t.elapsed()
    }
}

/// How long a read that would block is retried before it sleeps: gilfree's
/// `sys::spin::SOCKET_READ` budget.
const SPIN_READ: Duration = Duration::from_micros(20);

/// `read_exact` as gilfree's `Connection` reads: nonblocking `recv`s with a
/// `sched_yield` between them for up to [`SPIN_READ`], then a blocking
/// `recv`. Allocates nothing (the pipe child calls it after `fork`).
fn spin_read_exact(s: &UnixStream, mut buf: &mut [u8]) -> std::io::Result<()> {
    let fd = std::os::fd::AsRawFd::as_raw_fd(s);
    let mut since: Option<Instant> = None;
    while !buf.is_empty() {
        let spinning = since.is_none_or(|t| t.elapsed() < SPIN_READ);
        let flags = if spinning { libc::MSG_DONTWAIT } else { 0 };
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes and `fd`
        // is open for as long as `s` is borrowed.
        let got = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
        if got > 0 {
            buf = &mut buf[got as usize..];
            continue;
        }
        if got == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let e = std::io::Error::last_os_error();
        match e.kind() {
            std::io::ErrorKind::WouldBlock => {
                since.get_or_insert_with(Instant::now);
                std::thread::yield_now();
            }
            std::io::ErrorKind::Interrupted => {}
            _ => return Err(e),
        }
    }
    Ok(())
}

impl Drop for RawPipe {
    fn drop(&mut self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        reap(self.pid);
    }
}

/// Pipe round trip of a 64-byte message, and throughput at 64 B and 1 MiB.
pub fn pipes(b: &mut Bench) {
    let wanted = [
        "pipe_roundtrip",
        "pipe_throughput_64b",
        "pipe_throughput_1mib",
    ];
    if !wanted.iter().any(|s| b.wants(s)) {
        return;
    }
    let raw = match RawPipe::start() {
        Ok(r) => std::cell::RefCell::new(r),
        Err(e) => {
            b.note(format!("raw pipe rows skipped: {e}"));
            return;
        }
    };
    let ours = match GilfreePipe::start() {
        Ok(g) => std::cell::RefCell::new(g),
        Err(e) => {
            b.note(format!("gilfree pipe rows skipped: {e}"));
            return;
        }
    };
    b.compare(
        "pipe_roundtrip",
        Sizes::HANDOFF,
        vec![
            case("gilfree", |n| ours.borrow_mut().round_trips(n)),
            case("raw", |n| raw.borrow_mut().round_trips(n, true)),
            case("raw_blocking", |n| raw.borrow_mut().round_trips(n, false)),
        ],
    );
    let small = [5u8; 64];
    b.compare(
        "pipe_throughput_64b",
        Sizes::HANDOFF,
        vec![
            case("gilfree", |n| ours.borrow_mut().stream(n, &small)),
            case("raw", |n| raw.borrow_mut().stream(n, &small)),
        ],
    );
    let big = vec![5u8; 1 << 20];
    b.compare(
        "pipe_throughput_1mib",
        Sizes {
            start: 4,
            max: 4096,
        },
        vec![
            case("gilfree", |n| ours.borrow_mut().stream(n, &big)),
            case("raw", |n| raw.borrow_mut().stream(n, &big)),
        ],
    );
}
