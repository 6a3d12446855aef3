//! Pipe vs Queue: what each is for (two endpoints vs many producers and
//! consumers), measured on the same messages: round-trip latency at 64 B,
//! throughput at 64 B and 1 MiB, and four producers into one consumer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gilfree::multiprocessing::connection::wait;
use gilfree::multiprocessing::{Connection, Pipe, Process, Queue};
use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure};

/// A message of raw bytes, encoded as one byte string (as `serde_bytes`
/// does): one copy in, one copy out. A plain `Vec<u8>` would be encoded
/// byte by byte. Shared, so re-sending it clones nothing.
#[derive(Clone)]
struct Blob(Arc<Vec<u8>>);

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Blob, E> {
                Ok(Blob(Arc::new(v.to_vec())))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// Echo `n` messages back on the pipe.
#[gilfree::task]
fn pipe_echo(c: Connection, n: u64) {
    for _ in 0..n {
        let m = c.recv_bytes().expect("recv");
        c.send_bytes(&m).expect("send");
    }
}

/// Echo `n` messages from one queue to the other.
#[gilfree::task]
fn queue_echo(inbox: Queue<Blob>, outbox: Queue<Blob>, n: u64) {
    for _ in 0..n {
        outbox.put(inbox.get().expect("get")).expect("put");
    }
}

/// Send `n` messages of `size` bytes on the pipe.
#[gilfree::task]
fn pipe_send(c: Connection, n: u64, size: usize) {
    let msg = vec![5u8; size];
    for _ in 0..n {
        c.send_bytes(&msg).expect("send");
    }
}

/// Put `n` messages of `size` bytes.
#[gilfree::task]
fn queue_send(q: Queue<Blob>, n: u64, size: usize) {
    let msg = Blob(Arc::new(vec![5u8; size]));
    for _ in 0..n {
        q.put(msg.clone()).expect("put");
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn micros(d: Duration, n: u64) -> f64 {
    d.as_secs_f64() * 1e6 / n as f64
}

fn pipe_round_trip(n: u64) -> Res<Duration> {
    let (mine, theirs) = Pipe(true)?;
    let p = Process::new(pipe_echo::TASK, (theirs, n + 1))?;
    p.start()?;
    let msg = [1u8; 64];
    mine.send_bytes(&msg)?; // the child has started
    mine.recv_bytes()?;
    let t = Instant::now();
    for _ in 0..n {
        mine.send_bytes(&msg)?;
        mine.recv_bytes()?;
    }
    let d = t.elapsed();
    p.join()?;
    Ok(d)
}

fn queue_round_trip(n: u64) -> Res<Duration> {
    let (to, back) = (Queue::<Blob>::new(0)?, Queue::<Blob>::new(0)?);
    let p = Process::new(
        queue_echo::TASK,
        (to.try_clone()?, back.try_clone()?, n + 1),
    )?;
    p.start()?;
    let msg = Blob(Arc::new(vec![1u8; 64]));
    to.put(msg.clone()).map_err(|e| e.to_string())?; // the child has started
    back.get()?;
    let t = Instant::now();
    for _ in 0..n {
        to.put(msg.clone()).map_err(|e| e.to_string())?;
        back.get()?;
    }
    let d = t.elapsed();
    p.join()?;
    Ok(d)
}

/// MB/s from `producers` children, each sending `n` messages of `size`
/// bytes on its own pipe, read here as they become ready.
fn pipe_stream(producers: usize, n: u64, size: usize) -> Res<f64> {
    let mut conns = Vec::new();
    let mut ps = Vec::new();
    for _ in 0..producers {
        let (mine, theirs) = Pipe(true)?;
        let p = Process::new(pipe_send::TASK, (theirs, n, size))?;
        p.start()?;
        conns.push(mine);
        ps.push(p);
    }
    let mut left = vec![n; producers];
    let mut total = 0u64;
    // The clock starts at the first message (after the process starts).
    let mut t = None;
    while left.iter().any(|&l| l > 0) {
        let live: Vec<usize> = (0..producers).filter(|&i| left[i] > 0).collect();
        let objs: Vec<&dyn gilfree::multiprocessing::connection::Waitable> =
            live.iter().map(|&i| &conns[i] as _).collect();
        for k in wait(&objs, None)? {
            let i = live[k];
            let len = conns[i].recv_bytes()?.len() as u64;
            left[i] -= 1;
            if t.is_none() {
                t = Some(Instant::now());
            } else {
                total += len;
            }
        }
    }
    let d = t.expect("n > 0").elapsed();
    for p in ps {
        p.join()?;
    }
    assert_eq!(total, (producers as u64 * n - 1) * size as u64);
    Ok(total as f64 / d.as_secs_f64() / 1e6)
}

/// MB/s from `producers` children putting `n` messages of `size` bytes
/// each into one queue, got here.
fn queue_stream(producers: usize, n: u64, size: usize) -> Res<f64> {
    let q = Queue::<Blob>::new(0)?;
    let mut ps = Vec::new();
    for _ in 0..producers {
        let p = Process::new(queue_send::TASK, (q.try_clone()?, n, size))?;
        p.start()?;
        ps.push(p);
    }
    // The clock starts at the first item (after the process starts).
    q.get()?;
    let t = Instant::now();
    let mut total = 0u64;
    for _ in 1..producers as u64 * n {
        total += q.get()?.0.len() as u64;
    }
    let d = t.elapsed();
    for p in ps {
        p.join()?;
    }
    assert_eq!(total, (producers as u64 * n - 1) * size as u64);
    Ok(total as f64 / d.as_secs_f64() / 1e6)
}

pub fn run(ctx: &Ctx) -> LessonResult {
    explain(
        "A Pipe connects exactly two endpoints: a socket pair carrying \
         length-prefixed frames through the kernel. A Queue is a ring of \
         records in shared memory that any number of processes put into and \
         get from; an item is encoded straight into the ring and decoded \
         straight out of it, and no system call is made while nobody sleeps. \
         Use a Pipe for a conversation between two processes (requests and \
         answers, passing descriptors); a Queue for work shared among many.",
    );
    let (rt, small, big) = if ctx.fast {
        (200, 2_000, 8)
    } else {
        (20_000, 200_000, 400)
    };
    let p = pipe_round_trip(rt)?;
    let q = queue_round_trip(rt)?;
    measure("round trip, 64 B: Pipe", format!("{:.2} µs", micros(p, rt)));
    measure(
        "round trip, 64 B: Queue (two queues)",
        format!(
            "{:.2} µs (Pipe/Queue {:.1}×)",
            micros(q, rt),
            p.as_secs_f64() / q.as_secs_f64()
        ),
    );
    for (label, size, n) in [("64 B", 64, small), ("1 MiB", 1 << 20, big)] {
        let p = pipe_stream(1, n, size)?;
        let q = queue_stream(1, n, size)?;
        measure(
            &format!("throughput, {label}: Pipe"),
            format!("{p:.0} MB/s"),
        );
        measure(
            &format!("throughput, {label}: Queue"),
            format!("{q:.0} MB/s (Queue/Pipe {:.1}×)", q / p),
        );
    }
    let p = pipe_stream(4, small / 4, 64)?;
    let q = queue_stream(4, small / 4, 64)?;
    measure(
        "4 producers, 64 B: 4 Pipes + wait()",
        format!("{p:.0} MB/s"),
    );
    measure(
        "4 producers, 64 B: one Queue",
        format!("{q:.0} MB/s (Queue/Pipes {:.1}×)", q / p),
    );
    explain(
        "Small messages through a Pipe pay two system calls each (and a \
         wake-up of the reader when it sleeps); through the Queue, a few \
         atomic operations on shared memory. Large messages through a Pipe \
         are copied into the kernel and out again, in socket-buffer-sized \
         pieces; through the Queue, into the ring and out, in one piece \
         each. Several producers need one Pipe each and a reader that waits \
         on all of them; a Queue takes them all, in order per producer, and \
         several consumers too. A Queue survives a process killed in the \
         middle of a put or get: at most that one item is lost.",
    );
    Ok(())
}
