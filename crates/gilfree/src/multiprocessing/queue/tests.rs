//! The ring in one process: wrap-around, chunked items, shutdown, task
//! accounting, dead owners' records; and the record decoder against random
//! and corrupted headers (an error, never a panic or a hang).

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::ring::{FIRST, LAST, REC, decode, rec_size};
use super::*;

#[test]
fn wraps_around_many_times_in_order() {
    let q = Queue::<Vec<u8>>::with_capacity(0, 256).unwrap();
    for i in 0..2000u32 {
        let item = vec![i as u8; (i % 37) as usize];
        q.put(item.clone()).unwrap();
        assert_eq!(q.get().unwrap(), item);
    }
    assert!(q.empty());
}

#[test]
fn items_larger_than_the_ring_go_through() {
    let q = Arc::new(Queue::<Vec<u8>>::with_capacity(0, 256).unwrap());
    let q2 = q.clone();
    let items: Vec<Vec<u8>> = (0..20)
        .map(|i| (0..i * 300).map(|b| b as u8).collect())
        .collect();
    let expect = items.clone();
    let t = std::thread::spawn(move || {
        for it in items {
            q2.put(it).unwrap();
        }
    });
    for e in expect {
        assert_eq!(q.get().unwrap(), e);
    }
    t.join().unwrap();
}

#[test]
fn maxsize_counts_items() {
    let q = Queue::new(2).unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert!(q.full());
    assert!(q.try_put(3).unwrap_err().is_full());
    assert_eq!(q.get().unwrap(), 1);
    q.try_put(3).unwrap();
    assert_eq!(q.qsize(), 2);
}

#[test]
fn byte_capacity_blocks_a_put() {
    let q = Queue::<Vec<u8>>::with_capacity(0, 256).unwrap();
    q.put(vec![1; 100]).unwrap(); // 101 bytes encoded: a 128-byte record
    q.put(vec![1; 100]).unwrap();
    assert!(
        q.put_timeout(vec![2; 100], Duration::from_millis(5))
            .unwrap_err()
            .is_full()
    );
    assert_eq!(q.get().unwrap(), [1; 100]);
}

#[test]
fn wrong_type_is_a_decode_error() {
    let q = Queue::<u8>::new(0).unwrap();
    // The same block seen as a queue of another item type.
    let other: Queue<String> = Queue::wrap(Shm {
        shm: q.inner.shm.try_clone().unwrap(),
        cap: q.inner.cap,
    });
    q.put(0xff).unwrap(); // an unfinished varint for a String's length
    q.put(1).unwrap();
    assert!(matches!(other.get(), Err(GetError::Decode(_))));
    assert_eq!(q.get(), Ok(1)); // the bad item was consumed, nothing else
}

#[test]
fn shutdown_wakes_a_blocked_getter() {
    let q = Arc::new(Queue::<u8>::new(0).unwrap());
    let q2 = q.clone();
    let t = std::thread::spawn(move || q2.get());
    q.shutdown(false); // before or after the getter blocks: it fails

    assert_eq!(t.join().unwrap(), Err(GetError::ShutDown));
}

#[test]
fn immediate_shutdown_drops_and_counts_done() {
    let q = JoinableQueue::new(0).unwrap();
    q.put_many([1, 2, 3]).unwrap();
    q.shutdown(true);
    assert_eq!(q.try_get(), Err(GetError::ShutDown));
    assert_eq!(q.unfinished_tasks(), 0);
    q.join();
}

#[test]
fn task_done_and_join() {
    let q = JoinableQueue::new(0).unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert!(!q.join_timeout(Duration::ZERO));
    q.get().unwrap();
    q.task_done().unwrap();
    q.get().unwrap();
    q.task_done().unwrap();
    assert!(q.task_done().is_err());
    assert!(q.join_timeout(Duration::ZERO));
}

#[test]
fn a_dead_writers_claim_is_skipped() {
    let q = Arc::new(JoinableQueue::<u32>::with_capacity(0, 1024).unwrap());
    let q2 = q.clone();
    // A thread that claims a record and exits without committing: its tid
    // is dead once it is joined.
    std::thread::spawn(move || {
        q2.__put_stalled(7, || {
            // Exit the thread from inside the put (never commits).
            std::panic::resume_unwind(Box::new("stall"));
        })
        .ok();
    })
    .join()
    .unwrap_err();
    q.put(8).unwrap();
    assert_eq!(q.get().unwrap(), 8);
    assert_eq!(q.unfinished_tasks(), 1); // 7 counts as done (lost)
}

#[test]
fn a_dead_readers_record_is_reclaimed() {
    let q = Arc::new(Queue::<Vec<u8>>::with_capacity(0, 256).unwrap());
    q.put(vec![1; 64]).unwrap();
    let q2 = q.clone();
    std::thread::spawn(move || {
        q2.__get_stalled(|| std::panic::resume_unwind(Box::new("stall")))
            .ok();
    })
    .join()
    .unwrap_err();
    // The ring is 256 bytes: the taken record must be freed for these.
    for i in 0..10u8 {
        q.put(vec![i; 64]).unwrap();
        assert_eq!(q.get().unwrap(), [i; 64]);
    }
}

#[test]
fn decode_accepts_a_good_header() {
    let meta = FIRST | LAST | (5 << 2);
    let w = [2 << 29, 10, meta, 10 ^ meta ^ 0x9e37_79b9];
    let r = decode(w, 32, 64, 256).unwrap();
    assert_eq!(
        (r.len, r.flags, r.writer, r.size),
        (10, FIRST | LAST, 5, rec_size(10))
    );
}

proptest! {
    /// Random header words at a random place: an error, or a record that
    /// lies inside the ring and before the end.
    #[test]
    fn decode_random_words(w in any::<[u32; 4]>(), slot in 0u64..64, end_off in 0u64..4096, cap_log in 8u32..16) {
        let cap = 1u64 << cap_log;
        let pos = (slot * REC) % cap + cap * 3;
        let end = pos + end_off;
        if let Ok(r) = decode(w, pos, end, cap) {
            prop_assert!(pos % cap + r.size <= cap);
            prop_assert!(pos + r.size <= end);
            prop_assert!(r.size >= REC && r.size % REC == 0);
        }
    }

    /// A good header with one corrupted word is refused, or still fits.
    #[test]
    fn decode_corrupted_header(len in 0u32..200, flip in 0usize..4, bits in 1u32..) {
        let meta = FIRST | LAST | (9 << 2);
        let mut w = [2 << 29, len, meta, len ^ meta ^ 0x9e37_79b9];
        w[flip] ^= bits;
        let r = decode(w, 0, 4096, 4096);
        if flip == 1 || flip == 2 || flip == 3 {
            prop_assert!(r.is_err());
        } else if let Ok(r) = r {
            prop_assert!(r.size <= 4096);
        }
    }
}

/// Random garbage written over a live ring's records: every get returns
/// (an item, `Decode`, `Corrupt` or `Empty`), never panics or hangs.
#[test]
fn garbage_in_the_ring_never_hangs() {
    let mut rng = 0x1234_5678_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..200 {
        let q = Queue::<Vec<u16>>::with_capacity(0, 512).unwrap();
        for i in 0..(next() % 6) {
            q.put(vec![i as u16; (next() % 40) as usize]).unwrap();
        }
        let words = q.inner.words();
        for _ in 0..(1 + next() % 4) {
            let i = (next() % words.len() as u64) as usize;
            words[i].store(next() as u32, std::sync::atomic::Ordering::Relaxed);
        }
        for _ in 0..8 {
            match q.try_get() {
                Ok(_) | Err(GetError::Decode(_)) | Err(GetError::Empty) => {}
                Err(GetError::Corrupt(_)) => break,
                Err(GetError::ShutDown) => unreachable!(),
            }
        }
        let _ = q.try_put(vec![1]);
    }
}
