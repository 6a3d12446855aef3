//! Process-shared locks and values (issue 13): `multiprocessing::Lock`
//! uncontended against `threading::Lock` and a robust pthread mutex in
//! shared memory; two processes contending for it; `Value` increments
//! under its lock. CPython's `multiprocessing.Lock`/`Value` are the
//! Python peers (`python/cpython_peers.py`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::harness::{Bench, Sizes, case, timed};

/// A robust, process-shared pthread mutex and a counter after it, in one
/// shared anonymous page: the OS's own "lock that survives its owner".
struct Robust {
    page: *mut u8,
}

impl Robust {
    fn new() -> Robust {
        // SAFETY: a fresh shared anonymous mapping; the mutex is
        // initialised in it before any use, the counter is zero.
        unsafe {
            let page = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(page, libc::MAP_FAILED, "mmap");
            let mut a: libc::pthread_mutexattr_t = std::mem::zeroed();
            libc::pthread_mutexattr_init(&mut a);
            libc::pthread_mutexattr_setpshared(&mut a, libc::PTHREAD_PROCESS_SHARED);
            libc::pthread_mutexattr_setrobust(&mut a, libc::PTHREAD_MUTEX_ROBUST);
            libc::pthread_mutex_init(page.cast(), &a);
            libc::pthread_mutexattr_destroy(&mut a);
            Robust { page: page.cast() }
        }
    }

    /// Lock, add one to the counter, unlock.
    #[inline]
    fn increment(&self) {
        // SAFETY: the mutex was initialised in `new`; the counter (64 bytes
        // in, past the mutex) is only touched while it is held.
        unsafe {
            let m = self.page.cast::<libc::pthread_mutex_t>();
            libc::pthread_mutex_lock(m);
            *self.page.add(64).cast::<u64>() += 1;
            libc::pthread_mutex_unlock(m);
        }
    }

    fn count(&self) -> u64 {
        // SAFETY: read while no other process runs (after the children
        // were reaped).
        unsafe { *self.page.add(64).cast::<u64>() }
    }
}

impl Drop for Robust {
    fn drop(&mut self) {
        // SAFETY: the page from `new`, unmapped once.
        unsafe {
            libc::munmap(self.page.cast(), 4096);
        }
    }
}

/// Run `work` in two forked processes at once (released together through
/// a shared word) and return the time from the release to the later end.
/// The children only run `work` and `_exit`.
fn two_processes(work: impl Fn()) -> Duration {
    let go = gilfree::multiprocessing::RawValue::new(0u64).expect("shared word");
    let mut pids = Vec::new();
    for _ in 0..2 {
        // SAFETY: the child spins on a shared word, runs `work` (locks and
        // plain memory) and `_exit`s: nothing that another thread of the
        // parent could have left locked.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            while go.get() == 0 {
                std::hint::spin_loop();
            }
            work();
            // SAFETY: `_exit` is always safe.
            unsafe { libc::_exit(0) };
        }
        pids.push(pid);
    }
    let t = Instant::now();
    go.set(1);
    for pid in pids {
        let mut st = 0;
        // SAFETY: `pid` is our child; `st` a valid out-pointer.
        unsafe { libc::waitpid(pid, &mut st, 0) };
    }
    t.elapsed()
}

/// Acquire and release, one thread, nobody else near the lock.
pub fn mp_lock_uncontended(b: &mut Bench) {
    let mp = gilfree::multiprocessing::Lock::new(()).expect("shared lock");
    let th = gilfree::threading::Lock::new(());
    let robust = Robust::new();
    b.compare(
        "mp_lock_uncontended",
        Sizes::FAST,
        vec![
            case("gilfree", |n| {
                timed(|| {
                    for _ in 0..n {
                        drop(black_box(&mp).acquire());
                    }
                })
            }),
            case("threading", |n| {
                timed(|| {
                    for _ in 0..n {
                        drop(black_box(&th).acquire());
                    }
                })
            }),
            case("robust_pthread", |n| {
                timed(|| {
                    for _ in 0..n {
                        black_box(&robust).increment();
                    }
                })
            }),
        ],
    );
}

/// Two processes increment one shared counter under the lock, `n / 2`
/// times each. One op is one acquire+increment+release.
pub fn mp_lock_contended_2p(b: &mut Bench) {
    b.compare(
        "mp_lock_contended_2p",
        Sizes::HANDOFF,
        vec![
            case("gilfree", |n| {
                let l = gilfree::multiprocessing::Lock::new(0u64).expect("shared lock");
                drop(l.acquire()); // cache this thread's id before forking
                let d = two_processes(|| {
                    for _ in 0..n / 2 {
                        *l.acquire() += 1;
                    }
                });
                assert_eq!(*l.acquire(), n / 2 * 2, "lost increments");
                d
            }),
            case("robust_pthread", |n| {
                let r = Robust::new();
                let d = two_processes(|| {
                    for _ in 0..n / 2 {
                        r.increment();
                    }
                });
                assert_eq!(r.count(), n / 2 * 2, "lost increments");
                d
            }),
        ],
    );
}

/// `Value` incremented under its lock, one process: Python's
/// `with v.get_lock(): v.value += 1`.
pub fn value_increment(b: &mut Bench) {
    let v = gilfree::multiprocessing::Value::new(0u64).expect("shared value");
    b.compare(
        "value_increment",
        Sizes::FAST,
        vec![case("gilfree", |n| {
            timed(|| {
                for _ in 0..n {
                    *black_box(&v).get_lock() += 1;
                }
            })
        })],
    );
}
