//! `set_maxsize`: Python's `q.maxsize = n` on a live queue. A smaller bound
//! makes puts wait until the queue drains below it; a larger one lets
//! waiting putters in.

use std::sync::Arc;

use gilfree::queue::{LifoQueue, MaxsizeError, PriorityQueue, PutError, Queue};

/// CPython's `test_shrinking_queue`, for each bounded queue type.
macro_rules! shrinking {
    ($name:ident, $make:expr) => {
        #[test]
        fn $name() {
            let q = $make;
            q.put(1).unwrap();
            q.put(2).unwrap();
            q.put(3).unwrap();
            assert_eq!(q.try_put(4), Err(PutError::Full(4)));
            assert_eq!(q.qsize(), 3);
            q.set_maxsize(2).unwrap();
            assert_eq!(q.maxsize(), 2);
            assert!(q.full());
            assert_eq!(q.try_put(4), Err(PutError::Full(4)));
            q.get().unwrap();
            assert_eq!(q.try_put(4), Err(PutError::Full(4))); // 2 left: not below 2
            q.get().unwrap();
            assert!(q.try_put(4).is_ok());
            assert_eq!(q.try_put(5), Err(PutError::Full(5)));
        }
    };
}

shrinking!(shrinking_ring_queue, Queue::new(3));
shrinking!(shrinking_resizable_queue, Queue::resizable(3));
shrinking!(shrinking_lifo_queue, LifoQueue::new(3));
shrinking!(shrinking_priority_queue, PriorityQueue::new(3));

#[test]
fn a_ring_takes_bounds_up_to_its_slots_only() {
    let q = Queue::<u8>::new(4);
    assert!(q.set_maxsize(1).is_ok());
    assert!(q.set_maxsize(4).is_ok());
    assert_eq!(
        q.set_maxsize(5),
        Err(MaxsizeError {
            requested: 5,
            slots: 4
        })
    );
    assert_eq!(q.set_maxsize(0).unwrap_err().slots, 4);
    assert_eq!(q.maxsize(), 4); // a refused bound changes nothing
}

#[test]
fn growing_and_unbounding_a_resizable_queue() {
    let q = Queue::resizable(1);
    q.put(0).unwrap();
    assert!(q.try_put(1).is_err());
    q.set_maxsize(3).unwrap();
    q.put_many([1, 2]).unwrap();
    assert!(q.full());
    q.set_maxsize(0).unwrap();
    q.put_many(3..100).unwrap();
    assert!(!q.full());
    assert_eq!(q.get_many(1000).unwrap(), (0..100).collect::<Vec<_>>());
}

/// A putter waiting on a full queue gets in once the bound grows (whether
/// it was already asleep or not; the loom model in `queue::loom_tests`
/// covers the asleep case exhaustively).
#[test]
fn growing_the_bound_lets_a_waiting_putter_in() {
    for q in [
        Arc::new(Queue::resizable(1)),
        Arc::new(Queue::new(2)), // a ring, shrunk then grown back
    ] {
        if q.maxsize() == 2 {
            q.set_maxsize(1).unwrap();
        }
        q.put(1).unwrap();
        let q2 = q.clone();
        let putter = std::thread::spawn(move || q2.put(2));
        q.set_maxsize(2).unwrap();
        assert!(putter.join().unwrap().is_ok());
        assert_eq!(q.get_many(2).unwrap(), [1, 2]);
    }
}
