//! `ThreadPoolExecutor::map` runs items in chunks: order, laziness, a
//! panicking item, explicit `chunksize`, empty input, the size hint, under
//! each way a chunk size is chosen (guided, measured, explicit).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use gilfree::futures::{Error, MapOptions, ThreadPoolExecutor};

fn pool(n: usize) -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(n)
        .build()
        .unwrap()
}

/// The option sets under test: eager (guided), lazy (measured), explicit.
fn option_sets() -> [MapOptions; 4] {
    [
        MapOptions::new(),
        MapOptions::new().buffersize(64),
        MapOptions::new().chunksize(7),
        MapOptions::new().chunksize(7).buffersize(5),
    ]
}

#[test]
fn results_come_in_input_order() {
    let p = pool(3);
    for o in option_sets() {
        let got: Vec<u64> = p
            .map_with(|x: u64| x * 3, 0..10_000, o)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, (0..10_000).map(|x| x * 3).collect::<Vec<_>>());
    }
}

#[test]
fn size_hint_never_promises_more_than_it_yields() {
    // Eager: every item is read, so at most the items left follow; only
    // the chunk being drained is certain (a later chunk could fail).
    let p = pool(2);
    for o in option_sets() {
        let mut it = p.map_with(|x: u64| x, 0..1000, o).unwrap();
        let mut left = 1000;
        loop {
            let (lo, hi) = it.size_hint();
            assert!(lo <= left, "lower bound {lo} > {left} left");
            if let Some(hi) = hi {
                assert!(hi >= left, "upper bound {hi} < {left} left");
            }
            if it.next().is_none() {
                break;
            }
            left -= 1;
        }
        assert_eq!((left, it.size_hint()), (0, (0, Some(0))));
    }
    // A panicking item ends the map early: the lower bound still holds.
    let mut it = p
        .map(|x: u64| if x == 500 { panic!("boom") } else { x }, 0..1000)
        .unwrap();
    let mut yielded = 0;
    while it.next().is_some() {
        yielded += 1;
        assert!(it.size_hint().0 <= 501 - yielded);
    }
    assert_eq!(yielded, 501);
}

#[test]
fn endless_input_is_read_lazily_within_buffersize() {
    // An endless input: memory stays bounded only if reading stays within
    // `buffersize` items of what has been yielded, whatever the chunks.
    let p = pool(2);
    for o in [
        MapOptions::new().buffersize(64),
        MapOptions::new().buffersize(64).chunksize(1000),
    ] {
        let read = Arc::new(AtomicUsize::new(0));
        let r = read.clone();
        let input = (0u64..).inspect(move |_| {
            r.fetch_add(1, SeqCst);
        });
        let mut it = p.map_with(|x: u64| x + 1, input, o).unwrap();
        for want in 1..=200_000u64 {
            assert_eq!(it.next(), Some(Ok(want)));
            let yielded = want as usize;
            assert!(read.load(SeqCst) <= yielded + 64, "read ahead too far");
        }
    }
}

#[test]
fn a_panicking_item_fails_only_its_own_result() {
    let p = pool(2);
    for o in option_sets() {
        let mut it = p
            .map_with(
                |x: u32| -> u32 { if x == 20 { panic!("no 20") } else { x } },
                0..100,
                o,
            )
            .unwrap();
        for want in 0..20 {
            assert_eq!(it.next(), Some(Ok(want)));
        }
        assert_eq!(it.next(), Some(Err(Error::Panicked("no 20".into()))));
        // As in Python, the iterator ends after an error.
        assert_eq!(it.next(), None);
    }
}

#[test]
fn explicit_chunksize_runs_each_chunk_on_one_thread() {
    let p = pool(4);
    let seen: Arc<Mutex<Vec<(u32, ThreadId)>>> = Arc::default();
    let s = seen.clone();
    let out: Vec<u32> = p
        .map_with(
            move |x: u32| {
                s.lock().unwrap().push((x, std::thread::current().id()));
                x
            },
            0..40,
            MapOptions::new().chunksize(10),
        )
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..40).collect::<Vec<_>>());
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by_key(|(x, _)| *x);
    for chunk in seen.chunks(10) {
        // A chunk's items run in order, one after another, on one worker.
        assert!(chunk.iter().all(|(_, t)| *t == chunk[0].1));
    }
}

#[test]
fn empty_input_yields_nothing() {
    let p = pool(2);
    for o in option_sets() {
        assert_eq!(p.map_with(|x: u8| x, Vec::new(), o).unwrap().count(), 0);
    }
}

#[test]
fn dropping_the_map_skips_items_not_yet_run() {
    // One worker, one chunk of 1000, the map dropped while item 0 runs:
    // the rest of the chunk is skipped, as cancelled single jobs would be.
    let p = pool(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let (open, wait) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    let gate = Mutex::new((wait, started_tx));
    let it = p
        .map_with(
            move |x: u32| {
                r.fetch_add(1, SeqCst);
                if x == 0 {
                    let g = gate.lock().unwrap();
                    g.1.send(()).unwrap();
                    let _ = g.0.recv();
                }
                x
            },
            0..1000,
            MapOptions::new().chunksize(1000),
        )
        .unwrap();
    started.recv().unwrap();
    drop(it);
    open.send(()).unwrap();
    p.shutdown(true, false);
    assert_eq!(ran.load(SeqCst), 1);
}
