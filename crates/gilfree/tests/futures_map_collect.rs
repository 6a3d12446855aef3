//! `ThreadPoolExecutor::map_collect`: order, borrowing, edge sizes, panics
//! (no leaked or doubly dropped output), shutdown, calls from inside the
//! pool, and a stress of many maps with random panics.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use gilfree::futures::{Error, ThreadPoolExecutor};

fn pool(n: usize) -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(n)
        .build()
        .unwrap()
}

/// Counts its live instances in a shared counter.
struct Counted<'a>(&'a AtomicUsize, u64);

impl<'a> Counted<'a> {
    fn new(live: &'a AtomicUsize, v: u64) -> Self {
        live.fetch_add(1, SeqCst);
        Counted(live, v)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

#[test]
fn ordered_and_borrowing() {
    let p = pool(3);
    let table: Vec<u64> = (0..1000).map(|i| i * 3).collect();
    let v = p
        .map_collect(|i: usize| table[i] + 1, 0..table.len())
        .unwrap();
    assert_eq!(v, (0..1000).map(|i| i * 3 + 1).collect::<Vec<u64>>());
    // Borrowed inputs too.
    let words = ["a", "bb", "ccc"];
    let lens = p.map_collect(|w: &&str| w.len(), words.iter()).unwrap();
    assert_eq!(lens, [1, 2, 3]);
}

#[test]
fn empty_one_and_large() {
    let p = pool(2);
    assert_eq!(p.map_collect(|x: u32| x, 0..0).unwrap(), Vec::<u32>::new());
    assert_eq!(p.map_collect(|x: u32| x + 1, 0..1).unwrap(), [1]);
    let n = 1_000_003u64;
    let v = p.map_collect(|x: u64| x ^ 5, 0..n).unwrap();
    assert_eq!(v.len() as u64, n);
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 ^ 5));
}

#[test]
fn zero_sized_results() {
    let p = pool(2);
    let calls = AtomicUsize::new(0);
    let v = p
        .map_collect(
            |_: u32| {
                calls.fetch_add(1, SeqCst);
            },
            0..10_000,
        )
        .unwrap();
    assert_eq!(v.len(), 10_000);
    assert_eq!(calls.load(SeqCst), 10_000);
}

#[test]
fn not_exact_size_input() {
    let p = pool(2);
    let it = (0..5000u32).filter(|x| x % 3 == 0);
    assert_eq!(it.size_hint().1, Some(5000));
    let v = p.map_collect(|x: u32| x * 2, it).unwrap();
    assert_eq!(
        v,
        (0..5000)
            .filter(|x| x % 3 == 0)
            .map(|x| x * 2)
            .collect::<Vec<u32>>()
    );
}

/// An iterator whose `size_hint` says exactly `said` items but yields
/// `real`: safe code may lie, the map must stay sound and complete.
struct Liar {
    next: u32,
    real: u32,
    said: usize,
}

impl Iterator for Liar {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        (self.next < self.real).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.said, Some(self.said))
    }
}

#[test]
fn lying_size_hint() {
    let p = pool(2);
    for (real, said) in [
        (10, 100),
        (100, 10),
        (0, 5),
        (5, 0),
        (1000, 999),
        (999, 1000),
    ] {
        let v = p
            .map_collect(
                |x: u32| x + 1,
                Liar {
                    next: 0,
                    real,
                    said,
                },
            )
            .unwrap();
        assert_eq!(
            v,
            (1..=real).collect::<Vec<u32>>(),
            "real {real} said {said}"
        );
    }
}

#[test]
fn results_with_drop_are_kept_once() {
    let p = pool(2);
    let live = AtomicUsize::new(0);
    let v = p
        .map_collect(|x: u64| Counted::new(&live, x), 0..777)
        .unwrap();
    assert_eq!(live.load(SeqCst), 777);
    assert!(v.iter().enumerate().all(|(i, c)| c.1 == i as u64));
    drop(v);
    assert_eq!(live.load(SeqCst), 0);
}

#[test]
fn panic_drops_written_results_and_inputs() {
    let p = pool(2);
    let live_out = AtomicUsize::new(0);
    let live_in = AtomicUsize::new(0);
    let inputs: Vec<Counted> = (0..5000).map(|i| Counted::new(&live_in, i)).collect();
    let r = p.map_collect(
        |c: Counted| {
            if c.1 == 4321 {
                panic!("item 4321");
            }
            Counted::new(&live_out, c.1)
        },
        inputs,
    );
    match r {
        Err(Error::Panicked(m)) => assert!(m.contains("item 4321"), "{m}"),
        other => panic!("expected a panic error, got {:?}", other.map(|v| v.len())),
    }
    assert_eq!(live_out.load(SeqCst), 0, "outputs leaked");
    assert_eq!(live_in.load(SeqCst), 0, "inputs leaked");
    // The pool is still usable.
    assert_eq!(p.map_collect(|x: u8| x, 0..3).unwrap(), [0, 1, 2]);
}

#[test]
fn chunks_after_a_panic_do_not_run() {
    // One worker and the caller, 1000 one-item-per-call chunks at most: a
    // panic in the first item stops the rest well before the end.
    let p = pool(1);
    let ran = AtomicUsize::new(0);
    let read = AtomicUsize::new(0);
    let r = p.map_collect(
        |x: u32| {
            ran.fetch_add(1, SeqCst);
            if x == 0 {
                panic!("first");
            }
        },
        (0..100_000u32).inspect(|_| {
            read.fetch_add(1, SeqCst);
        }),
    );
    assert!(matches!(r, Err(Error::Panicked(_))));
    assert!(ran.load(SeqCst) < 100_000, "ran {}", ran.load(SeqCst));
    // The caller stops reading the input once a chunk has failed (it is at
    // most a few chunks ahead of the chunks started).
    assert!(read.load(SeqCst) < 100_000, "read {}", read.load(SeqCst));
}

#[test]
fn panicking_input_iterator_unwinds_cleanly() {
    let p = pool(2);
    let live = AtomicUsize::new(0);
    let it = (0..10_000u64).inspect(|&i| {
        if i == 9000 {
            panic!("input");
        }
    });
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p.map_collect(|x: u64| Counted::new(&live, x), it)
    }));
    assert!(r.is_err());
    assert_eq!(live.load(SeqCst), 0);
    assert_eq!(p.map_collect(|x: u8| x, 0..2).unwrap(), [0, 1]);
}

#[test]
fn after_shutdown_fails_as_map_does() {
    let p = pool(2);
    p.shutdown(true, false);
    let map_err = p.map(|x: u32| x, 0..10).err();
    assert_eq!(map_err, Some(Error::ShutDown));
    assert_eq!(p.map_collect(|x: u32| x, 0..10), Err(Error::ShutDown));
    assert_eq!(p.map_collect(|x: u32| x, 0..0), Ok(vec![]));
}

#[test]
fn from_inside_the_pool_does_not_deadlock() {
    // Every worker is inside a map_collect of the same pool: the nested
    // chunks cannot start on a worker, the callers run them.
    let p = pool(2);
    let outer = p
        .map_collect(
            |i: u64| {
                p.map_collect(|j: u64| i * 1000 + j, 0..500)
                    .unwrap()
                    .iter()
                    .sum::<u64>()
            },
            0..8,
        )
        .unwrap();
    for (i, s) in outer.iter().enumerate() {
        assert_eq!(*s, (0..500).map(|j| i as u64 * 1000 + j).sum::<u64>());
    }
    // And from a plain submitted job on a one-worker pool.
    let p1 = std::sync::Arc::new(pool(1));
    let q = p1.clone();
    let f = p1
        .submit(move || q.map_collect(|x: u32| x * 2, 0..100).unwrap())
        .unwrap();
    assert_eq!(
        f.result().unwrap(),
        (0..100).map(|x| x * 2).collect::<Vec<u32>>()
    );
}

#[test]
fn stress_random_panics_exact_drop_counts() {
    let p = pool(3);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..300 {
        let n = (rnd() % 3000) as usize;
        let bad = if rnd() % 2 == 0 {
            Some((rnd() % 3000) as usize)
        } else {
            None
        };
        let live = AtomicUsize::new(0);
        let r = p.map_collect(
            |i: usize| {
                if Some(i) == bad {
                    panic!("bad {i}");
                }
                Counted::new(&live, i as u64)
            },
            0..n,
        );
        match (bad, r) {
            (Some(b), Err(Error::Panicked(_))) if b < n => {}
            (Some(b), Ok(v)) if b >= n => assert_eq!(v.len(), n),
            (None, Ok(v)) => {
                assert_eq!(v.len(), n);
                assert_eq!(live.load(SeqCst), n);
                assert!(v.iter().enumerate().all(|(i, c)| c.1 == i as u64));
            }
            (b, r) => panic!(
                "round {round}: n {n} bad {b:?} gave {:?}",
                r.map(|v| v.len())
            ),
        }
        assert_eq!(live.load(SeqCst), 0, "round {round}");
    }
}
