//! A rough, ignored comparison (not a benchmark, not asserted): submit +
//! result of a tiny task on `ThreadPoolExecutor` against `rayon::spawn` +
//! a channel. Run with
//! `cargo test -p gilfree --release --test futures_bench -- --ignored --nocapture`.

use std::time::Instant;

use gilfree::futures::ThreadPoolExecutor;

const N: usize = 200_000;

#[test]
#[ignore = "rough timing, run by hand"]
fn compare_submit_result_with_rayon_spawn_and_channel() {
    let workers = 2;
    let p = ThreadPoolExecutor::builder()
        .max_workers(workers)
        .build()
        .unwrap();
    let rp = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .unwrap();

    for round in 0..3 {
        // One at a time: submit, then wait for the result (latency).
        let t = Instant::now();
        for i in 0..N / 10 {
            assert_eq!(p.submit(move || i).unwrap().into_result(), Ok(i));
        }
        let ours_seq = t.elapsed() / (N / 10) as u32;
        let t = Instant::now();
        for i in 0..N / 10 {
            let (tx, rx) = crossbeam_channel::bounded(1);
            rp.spawn(move || tx.send(i).unwrap());
            assert_eq!(rx.recv().unwrap(), i);
        }
        let rayon_seq = t.elapsed() / (N / 10) as u32;

        // Batches: submit many, then collect (throughput).
        let t = Instant::now();
        let fs: Vec<_> = (0..N).map(|i| p.submit(move || i).unwrap()).collect();
        let s: usize = fs.into_iter().map(|f| f.into_result().unwrap()).sum();
        let ours_batch = t.elapsed() / N as u32;
        let t = Instant::now();
        let rxs: Vec<_> = (0..N)
            .map(|i| {
                let (tx, rx) = crossbeam_channel::bounded(1);
                rp.spawn(move || tx.send(i).unwrap());
                rx
            })
            .collect();
        let s2: usize = rxs.into_iter().map(|r| r.recv().unwrap()).sum();
        let rayon_batch = t.elapsed() / N as u32;
        assert_eq!(s, s2);
        println!(
            "round {round}: one-at-a-time ours {ours_seq:?} rayon+channel {rayon_seq:?}; \
             batch ours {ours_batch:?}/task rayon+channel {rayon_batch:?}/task"
        );
    }
}
