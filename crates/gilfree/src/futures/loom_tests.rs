//! Loom models of `futures`: completion racing cancel and callbacks, the
//! `result()` sleepers, `wait`/`as_completed` against racing completions,
//! and the pool's job queue hand-off. A lost wake-up shows as a deadlock.

use super::job_queue::JobQueue;
use super::{Error, Future, ReturnWhen, as_completed, wait};
use crate::sys::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

/// Completion races a cancel and a callback registration: exactly one
/// of finish/cancel wins, the callback runs exactly once, and the main
/// thread blocked in `exception()` is woken.
#[test]
fn future_complete_cancel_callback() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(|| {
        let f: Future<u32> = Future::new();
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let (f1, f2) = (f.clone(), f.clone());
        let completer = thread::spawn(move || {
            if f1.set_running_or_notify_cancel().unwrap() {
                f1.set_result(5).unwrap();
            }
        });
        let canceller = thread::spawn(move || f2.cancel());
        let c = calls.clone();
        f.add_done_callback(move |_| {
            c.fetch_add(1, SeqCst);
        });
        let r = f.exception();
        let cancelled = canceller.join().unwrap();
        completer.join().unwrap();
        assert_eq!(calls.load(SeqCst), 1);
        assert!(f.done());
        if cancelled {
            assert_eq!(r, Err(Error::Cancelled));
        } else {
            assert_eq!(r, Ok(None));
            assert_eq!(f.into_result(), Ok(5));
        }
    });
}

/// Two sleepers in `result()` and a completer: the PARKED hand-off
/// wakes both.
#[test]
fn future_result_wakes_sleepers() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(|| {
        let f: Future<u32> = Future::new();
        let (f1, f2) = (f.clone(), f.clone());
        let t = thread::spawn(move || f1.set_result(1).unwrap());
        let w = thread::spawn(move || f2.exception());
        let a = f.exception();
        t.join().unwrap();
        assert_eq!(a, Ok(None));
        assert_eq!(w.join().unwrap(), Ok(None));
        assert_eq!(f.into_result(), Ok(1));
    });
}

/// Completions race the registration of `wait`'s waiter: every
/// completion is seen and the waiting thread is woken (a lost wake-up
/// is a loom deadlock).
#[test]
fn wait_all_completed_sees_racing_completions() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(|| {
        let (x, y) = (Future::<u32>::new(), Future::<u32>::new());
        let (x1, y1) = (x.clone(), y.clone());
        let t = thread::spawn(move || {
            x1.set_result(1).unwrap();
            y1.cancel();
        });
        let r = wait([&x, &y], None, ReturnWhen::AllCompleted);
        assert_eq!(r.done.len(), 2);
        t.join().unwrap();
    });
}

/// `as_completed` against two completers: each future is yielded once.
#[test]
fn as_completed_yields_each_once() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(|| {
        let (x, y) = (Future::<u32>::new(), Future::<u32>::new());
        let (x1, y1) = (x.clone(), y.clone());
        let t1 = thread::spawn(move || x1.set_result(1).unwrap());
        let t2 = thread::spawn(move || y1.set_exception(Error::Panicked("p".into())).unwrap());
        let got: Vec<_> = as_completed([&x, &y], None).map(Result::unwrap).collect();
        assert_eq!(got.len(), 2);
        assert!(!got[0].ptr_eq(&got[1]));
        t1.join().unwrap();
        t2.join().unwrap();
    });
}

/// A producer pushes two jobs and closes while two workers pop and
/// park: every job is taken exactly once and no worker sleeps forever
/// (loom reports a lost wake-up as a deadlock).
#[test]
fn job_queue_submit_park_handoff() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(|| {
        let q = Arc::new(JobQueue::<u32>::new());
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || {
                    let mut got = 0;
                    while let Some(j) = q.pop() {
                        got += j;
                    }
                    got
                })
            })
            .collect();
        q.push(1, || {}).unwrap();
        q.push(2, || {}).unwrap();
        q.close(Error::ShutDown, false);
        assert!(q.push(4, || {}).is_err());
        let total: u32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(total, 3);
    });
}

/// One worker, one job, no close: the worker must be woken for the job
/// (the hand-off that a lost wake-up would break), then is told to stop.
#[test]
fn job_queue_single_job_wakes_parked_worker() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let q = Arc::new(JobQueue::<u32>::new());
        let q2 = q.clone();
        let (tx, rx) = loom::sync::mpsc::channel();
        let w = thread::spawn(move || {
            let j = q2.pop();
            tx.send(j).unwrap();
            q2.pop()
        });
        q.push(7, || {}).unwrap();
        assert_eq!(rx.recv().unwrap(), Some(7));
        q.close(Error::ShutDown, false);
        assert_eq!(w.join().unwrap(), None);
    });
}

/// `map_collect`'s chunk claims: two and three one-item chunks, each
/// chunk's job on its own thread (the pool's push and pop are the spawn),
/// racing the caller, who claims what is left from the last chunk
/// backwards and waits on the latch. Every chunk runs exactly once, the
/// caller sees every output (loom checks the slots' cells), and it is
/// woken (a lost wake-up is a deadlock). The jobs are joined after the call
/// returned: a job that lost its claim touches nothing of the caller's
/// frame.
///
/// The last case has one worker, so at most two chunks are pulled and
/// unstarted: at the third the caller runs the oldest unstarted chunk
/// itself (a no-op if its job claimed it) and frees the input buffers of
/// chunks that are over; no buffer may be freed while its chunk can run.
#[test]
fn map_collect_claims_and_latch() {
    use super::collect::{Job, collect_exact};
    // (threads, items, preemption bound)
    for (threads, n, bound) in [(2, 2u32, 3), (3, 3, 3), (1, 3, 2)] {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(bound);
        b.check(move || {
            let runs = AtomicUsize::new(0);
            let f = |x: u32| {
                runs.fetch_add(1, SeqCst);
                x + 10
            };
            let mut handles = Vec::new();
            let mut submit = |job: Job| {
                handles.push(thread::spawn(move || job.run()));
                Ok(())
            };
            let v = collect_exact(&mut submit, threads, &f, &mut (0..n), n as usize);
            assert_eq!(v, Ok((10..10 + n).collect::<Vec<u32>>()));
            assert_eq!(runs.load(SeqCst), n as usize);
            for h in handles {
                h.join().unwrap();
            }
        });
    }
}

/// `map_collect` with a panic in one chunk racing the other chunk: the
/// call returns the panic, and the output the other chunk may have made
/// is dropped exactly once, whoever ran it.
#[test]
fn map_collect_panic_drops_outputs() {
    use super::collect::{Job, collect_exact};
    use std::sync::atomic::{AtomicUsize as Counter, Ordering::SeqCst as Sc};
    struct Counted<'a>(&'a Counter);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Sc);
        }
    }
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let live = Counter::new(0);
        let f = |x: u32| {
            if x == 0 {
                panic!("chunk 0");
            }
            live.fetch_add(1, Sc);
            Counted(&live)
        };
        let mut handles = Vec::new();
        let mut submit = |job: Job| {
            handles.push(thread::spawn(move || job.run()));
            Ok(())
        };
        let v = collect_exact(&mut submit, 2, &f, &mut (0..2u32), 2);
        assert!(matches!(v, Err(Error::Panicked(_))));
        assert_eq!(live.load(Sc), 0);
        for h in handles {
            h.join().unwrap();
        }
    });
}
