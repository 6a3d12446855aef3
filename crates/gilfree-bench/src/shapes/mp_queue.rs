//! The cross-process queue (issue 15): 64-byte messages with one producer
//! and one consumer process (`mp_queue_64b_1p1c`) and with four of each
//! (`mp_queue_64b_4p4c`); 1 MiB messages, one of each (`mp_queue_1mib`).
//! One op is one message, put by a producer and got by a consumer.
//!
//! Impls: `gilfree` (`multiprocessing::Queue`), every side a long-lived
//! child told over a control `Connection` how many messages to put or get,
//! a sample ending when every side has answered (CPython's rows, from the
//! peer, are built the same way: `multiprocessing.Queue` as `cpython`,
//! PyPI's faster-fifo as `faster-fifo` when the peer's interpreter has it);
//! `gilfree_pipe`, the same messages through gilfree's `Pipe` to one child
//! (the two-endpoint channel; no 4×4 row); and `memcpy` of 1 MiB, the
//! floor for the large messages (a queue copies each message twice: into
//! the ring and out of it).
//!
//! The message is a byte string serialised with serde's `serialize_bytes`
//! ([`Blob`]), as `serde_bytes` would: a `Vec<u8>` field is encoded byte by
//! byte, which is what Python's pickle of `bytes` is not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gilfree::multiprocessing::{Connection, Pipe, Process, Queue, get_context};
use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::process::GilfreePipe;
use crate::harness::{Bench, Sizes, case};

/// A message: bytes encoded as one byte string (one copy each way). Shared,
/// so that a producer puts the same message many times without cloning it.
#[derive(Clone)]
pub struct Blob(Arc<Vec<u8>>);

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
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Blob, E> {
                Ok(Blob(Arc::new(v)))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// Puts `n` messages of `size` bytes per request; answers `n` when done.
#[gilfree::task]
fn mpq_producer(ctl: Connection, q: Queue<Blob>, size: usize) {
    let msg = Blob(Arc::new(vec![5u8; size]));
    while let Ok(n) = ctl.recv::<u64>() {
        for _ in 0..n {
            q.put(msg.clone()).expect("put");
        }
        ctl.send(&n).expect("answer");
    }
}

/// Gets `n` messages per request; answers the bytes it got.
#[gilfree::task]
fn mpq_consumer(ctl: Connection, q: Queue<Blob>) {
    while let Ok(n) = ctl.recv::<u64>() {
        let mut total = 0u64;
        for _ in 0..n {
            total += q.get().expect("get").0.len() as u64;
        }
        ctl.send(&total).expect("answer");
    }
}

/// `producers` and `consumers` children around one gilfree queue.
struct Rig {
    sides: Vec<(Connection, Process<()>, bool)>,
    producers: u64,
    consumers: u64,
    size: u64,
}

impl Rig {
    fn start(producers: u64, consumers: u64, size: usize) -> gilfree::multiprocessing::Result<Rig> {
        let q = Queue::<Blob>::new(0)?;
        let ctx = get_context(gilfree::multiprocessing::get_start_method());
        let mut sides = Vec::new();
        for i in 0..producers + consumers {
            let (mine, theirs) = Pipe(true)?;
            let p = if i < producers {
                ctx.process(mpq_producer::TASK, (theirs, q.try_clone()?, size))?
            } else {
                ctx.process(mpq_consumer::TASK, (theirs, q.try_clone()?))?
            };
            p.start()?;
            sides.push((mine, p, i < producers));
        }
        Ok(Rig {
            sides,
            producers,
            consumers,
            size: size as u64,
        })
    }

    fn run(&self, n: u64) -> Duration {
        let share = |k: u64, i: u64| n / k + u64::from(i < n % k);
        let t = Instant::now();
        let (mut pi, mut ci) = (0, 0);
        for (c, _, producer) in &self.sides {
            if *producer {
                c.send(&share(self.producers, pi)).expect("request");
                pi += 1;
            } else {
                c.send(&share(self.consumers, ci)).expect("request");
                ci += 1;
            }
        }
        let mut got = 0;
        for (c, _, producer) in &self.sides {
            let v: u64 = c.recv().expect("answer");
            if !producer {
                got += v;
            }
        }
        let d = t.elapsed();
        assert_eq!(got, n * self.size, "bytes delivered");
        d
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for (c, p, _) in self.sides.drain(..) {
            drop(c); // EOF: the child's loop ends
            let _ = p.join();
        }
    }
}

/// 1 MiB copied from one buffer to another, `n` times.
fn memcpy_1mib(n: u64) -> Duration {
    let src = vec![5u8; 1 << 20];
    let mut dst = vec![0u8; 1 << 20];
    let t = Instant::now();
    for _ in 0..n {
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
    }
    t.elapsed()
}

/// The three rows, side by side with the peers.
pub fn mp_queue_rows(b: &mut Bench) {
    let wanted = ["mp_queue_64b_1p1c", "mp_queue_64b_4p4c", "mp_queue_1mib"];
    if !wanted.iter().any(|s| b.wants(s)) {
        return;
    }
    let pipe = match GilfreePipe::start() {
        Ok(p) => std::cell::RefCell::new(p),
        Err(e) => {
            b.note(format!("mp_queue rows skipped: {e}"));
            return;
        }
    };
    let pipe = &pipe;
    let small = [5u8; 64];
    let big = vec![5u8; 1 << 20];
    for (shape, producers, consumers, size) in [
        ("mp_queue_64b_1p1c", 1, 1, 64),
        ("mp_queue_64b_4p4c", 4, 4, 64),
        ("mp_queue_1mib", 1, 1, 1 << 20),
    ] {
        if !b.wants(shape) {
            continue;
        }
        let rig = match Rig::start(producers, consumers, size) {
            Ok(r) => r,
            Err(e) => {
                b.note(format!("{shape}/gilfree: not measured: {e}"));
                continue;
            }
        };
        let mut cases = vec![case("gilfree", |n| rig.run(n))];
        let sizes = if size == 64 {
            Sizes::HANDOFF
        } else {
            Sizes {
                start: 4,
                max: 4096,
            }
        };
        if producers == 1 {
            let msg: &[u8] = if size == 64 { &small } else { &big[..] };
            cases.push(case("gilfree_pipe", move |n| {
                pipe.borrow_mut().stream(n, msg)
            }));
        }
        if size == 1 << 20 {
            cases.push(case("memcpy", memcpy_1mib));
        }
        b.compare(shape, sizes, cases);
    }
}
