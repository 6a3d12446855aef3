//! Pipe ping-pong between two processes, and throughput at 64 B and 1 MiB.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use gilfree::multiprocessing::{Connection, Pipe, Process, StartMethod, get_context};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure};

/// Echo `n` messages back.
#[gilfree::task]
fn echo(c: Connection, n: u64) {
    for _ in 0..n {
        let m = c.recv_bytes().expect("echo recv");
        c.send_bytes(&m).expect("echo send");
    }
}

/// Receive `n` messages; return the bytes received.
#[gilfree::task]
fn sink(c: Connection, n: u64) -> u64 {
    let mut total = 0;
    for _ in 0..n {
        total += c.recv_bytes().expect("sink recv").len() as u64;
    }
    total
}

fn per(d: Duration, n: u64) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6 / n as f64)
}

fn pipe_round_trip(n: u64) -> gilfree::multiprocessing::Result<Duration> {
    let (mine, theirs) = Pipe(true)?;
    let p = Process::new(echo::TASK, (theirs, n + 10))?;
    p.start()?;
    let msg = [1u8; 64];
    for _ in 0..10 {
        mine.send_bytes(&msg)?;
        mine.recv_bytes()?;
    }
    let t = Instant::now();
    for _ in 0..n {
        mine.send_bytes(&msg)?;
        mine.recv_bytes()?;
    }
    let d = t.elapsed();
    p.join()?;
    Ok(d)
}

/// The floor: a raw socketpair, 64-byte write and read, echoed by a forked
/// child (the lab is single-threaded, so the fork closure is allowed).
fn raw_round_trip(n: u64) -> Result<Duration, Box<dyn std::error::Error + Send + Sync>> {
    let (mut a, b) = UnixStream::pair()?;
    let p = get_context(StartMethod::Fork)
        .builder()
        .fork_closure(move || {
            let mut b = b;
            let mut buf = [0u8; 64];
            for _ in 0..n + 10 {
                if b.read_exact(&mut buf).is_err() || b.write_all(&buf).is_err() {
                    return false;
                }
            }
            true
        });
    p.start()?;
    let mut buf = [1u8; 64];
    for _ in 0..10 {
        a.write_all(&buf)?;
        a.read_exact(&mut buf)?;
    }
    let t = Instant::now();
    for _ in 0..n {
        a.write_all(&buf)?;
        a.read_exact(&mut buf)?;
    }
    let d = t.elapsed();
    if !p.result()? {
        return Err("raw echo failed".into());
    }
    Ok(d)
}

fn throughput(size: usize, n: u64) -> gilfree::multiprocessing::Result<f64> {
    let (mine, theirs) = Pipe(true)?;
    let p = Process::new(sink::TASK, (theirs, n))?;
    p.start()?;
    let msg = vec![5u8; size];
    let t = Instant::now();
    for _ in 0..n {
        mine.send_bytes(&msg)?;
    }
    let got = p.result()?;
    let d = t.elapsed();
    assert_eq!(got, size as u64 * n);
    Ok(got as f64 / d.as_secs_f64() / 1e6)
}

pub fn run(ctx: &Ctx) -> LessonResult {
    let n: u64 = if ctx.fast { 200 } else { 20_000 };
    let pipe = pipe_round_trip(n)?;
    let raw = raw_round_trip(n)?;
    measure("Pipe round trip, 64 B (process to process)", per(pipe, n));
    measure(
        "raw socketpair round trip, 64 B",
        format!(
            "{} (Pipe is {:.2}× it)",
            per(raw, n),
            pipe.as_secs_f64() / raw.as_secs_f64()
        ),
    );
    let (small, big) = if ctx.fast { (2_000, 8) } else { (200_000, 500) };
    measure(
        "throughput, 64 B messages",
        format!("{:.1} MB/s", throughput(64, small)?),
    );
    measure(
        "throughput, 1 MiB messages",
        format!("{:.0} MB/s", throughput(1 << 20, big)?),
    );
    explain(
        "A Pipe is a Unix socket pair carrying length-prefixed frames. A \
         small message costs one sendmsg and one recvmsg, the same syscalls \
         as the raw socket, so the round trip is the kernel's: two context \
         switches between processes. Small messages are bound by that \
         per-message cost (throughput grows with batching); large ones by \
         copying through the kernel, twice (into the socket, out of it). \
         Shared memory removes those copies — the next part of \
         multiprocessing.",
    );
    Ok(())
}
