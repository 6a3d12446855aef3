//! Loom models of the ring's claim / commit / take / free protocol and of
//! its recovery from dead owners (a "ghost" owner id stands for a process
//! that died): blocking on both sides, producers racing for the claim, a
//! wrap-around with its skip record, a dead writer's claim skipped, a dead
//! reader's record reclaimed, a chunked item assembled while another
//! producer waits. A lost wake-up shows as a deadlock; a lost or duplicated
//! message as a failed assertion. (Checked once by hand: without the
//! commit's notify, `mp_ring_spsc_blocking_wrap` reports a deadlock.)

use super::ring::{Header, Ring};
use crate::sys::Deadline;
use crate::sys::atomic::AtomicU32;
use loom::sync::Arc;
use loom::thread;

/// A ring of the smallest size (256 bytes) in private memory.
struct Model {
    h: Header,
    words: Vec<AtomicU32>,
}

impl Model {
    fn new(maxsize: u64, joinable: bool, start: u64) -> Arc<Model> {
        let m = Model {
            h: Header::new(),
            words: (0..64).map(|_| AtomicU32::new(0)).collect(),
        };
        m.h.init(256, maxsize, joinable);
        m.ring().start_at(start);
        Arc::new(m)
    }

    fn ring(&self) -> Ring<'_> {
        Ring::new(&self.h, &self.words).unwrap()
    }

    fn put(&self, v: u32, len: u32) {
        let r = self.ring().put(
            len,
            Deadline::Never,
            |s| s[..4].copy_from_slice(&v.to_le_bytes()),
            || {},
        );
        assert_eq!(r, Ok(()));
    }

    fn get(&self) -> u32 {
        self.ring()
            .get(
                Deadline::Never,
                |s| u32::from_le_bytes(s[..4].try_into().unwrap()),
                || {},
            )
            .unwrap()
    }
}

fn builder(bound: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(bound);
    b
}

/// maxsize 1: the producer waits for room, the consumer for an item; the
/// second record wraps past the ring's end (a skip record first). Order
/// kept, nothing lost.
#[test]
fn mp_ring_spsc_blocking_wrap() {
    builder(2).check(|| {
        let m = Model::new(1, false, 240);
        let m2 = m.clone();
        let p = thread::spawn(move || {
            m2.put(1, 4);
            m2.put(2, 4);
        });
        let a = m.get();
        let b = m.get();
        p.join().unwrap();
        assert_eq!((a, b), (1, 2));
        assert_eq!(m.ring().len(), 0);
    });
}

/// Two producers race for the claim (maxsize 1: one waits for room).
#[test]
fn mp_ring_two_producers() {
    builder(2).check(|| {
        let m = Model::new(1, false, 0);
        let ps: Vec<_> = (1..=2)
            .map(|v| {
                let m = m.clone();
                thread::spawn(move || m.put(v, 4))
            })
            .collect();
        let a = m.get();
        let b = m.get();
        for p in ps {
            p.join().unwrap();
        }
        assert_eq!(a + b, 3);
        assert_ne!(a, b);
    });
}

/// A dead writer's claim sits ahead of a live producer's message: the
/// consumer skips it and gets the message; the lost one counts as done.
#[test]
fn mp_ring_dead_writer_skipped() {
    builder(3).check(|| {
        let m = Model::new(0, true, 0);
        m.ring().ghost_claim(4);
        let m2 = m.clone();
        let p = thread::spawn(move || m2.put(7, 4));
        assert_eq!(m.get(), 7);
        p.join().unwrap();
        assert_eq!(m.ring().unfinished(), 1);
        assert!(m.ring().task_done());
        assert!(m.ring().join(Deadline::now()));
    });
}

/// A dead reader's record holds the room a producer needs: the producer
/// frees it and goes on; the consumer gets the later messages in order.
#[test]
fn mp_ring_dead_reader_reclaimed() {
    builder(2).check(|| {
        // Records of 16 + 96 bytes: two fill the 256-byte ring.
        let m = Model::new(0, false, 0);
        m.put(1, 96);
        m.ring().ghost_take();
        let m2 = m.clone();
        let p = thread::spawn(move || {
            m2.put(2, 96);
            m2.put(3, 96);
        });
        let a = m.get();
        let b = m.get();
        p.join().unwrap();
        assert_eq!((a, b), (2, 3));
    });
}

/// Shutdown wakes a consumer blocked on an empty ring.
#[test]
fn mp_ring_shutdown_wakes_getter() {
    builder(3).check(|| {
        let m = Model::new(0, false, 0);
        let m2 = m.clone();
        let g = thread::spawn(move || m2.ring().get(Deadline::Never, |_| (), || {}));
        m.ring().shutdown(false);
        assert!(g.join().unwrap().is_err());
    });
}

/// An item larger than half the ring goes as chunks while a consumer
/// assembles it and a second producer waits for the producers' lock: the
/// item arrives whole, the other one after it.
#[test]
fn mp_ring_chunked_item() {
    builder(2).check(|| {
        let m = Model::new(0, false, 0);
        let big: Vec<u8> = (0..120u8).collect();
        let (m2, m3, b2) = (m.clone(), m.clone(), big.clone());
        let p = thread::spawn(move || {
            assert_eq!(m2.ring().put_chunked(&b2, Deadline::Never, || {}), Ok(()));
        });
        let q = thread::spawn(move || m3.put(9, 4));
        let first = m
            .ring()
            .get(Deadline::Never, |s| s.to_vec(), || {})
            .unwrap();
        let second = m
            .ring()
            .get(Deadline::Never, |s| s.to_vec(), || {})
            .unwrap();
        p.join().unwrap();
        q.join().unwrap();
        let small = 9u32.to_le_bytes().to_vec();
        assert!(
            (first == big && second[..4] == small[..])
                || (first[..4] == small[..] && second == big)
        );
    });
}
