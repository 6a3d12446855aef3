//! Stress: many threads take random subsets of a few locks, listed in random
//! order, with `acquire_all` and `acquire_all_timeout`. Invariants: the run
//! ends (no deadlock), no update is lost (each lock's counter equals the
//! number of successful acquisitions that included it), and nobody else is
//! inside a lock while we are (a per-lock "inside" flag).
//!
//! Runs with and without `deadlock-detection` (with it, it also checks that
//! `acquire_all` itself never creates an order inversion).

use std::sync::Arc;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::time::Duration;

use gilfree::deadlock::{Lockable, acquire_all, acquire_all_timeout};
use gilfree::threading::Lock;

struct Slot {
    lock: Lock<u64>,
    inside: AtomicBool,
    expected: AtomicU64,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn stress(threads: usize, locks: usize, rounds: usize, timed: bool) {
    let slots: Arc<Vec<Slot>> = Arc::new(
        (0..locks)
            .map(|_| Slot {
                lock: Lock::new(0),
                inside: AtomicBool::new(false),
                expected: AtomicU64::new(0),
            })
            .collect(),
    );
    let start = Arc::new(Barrier::new(threads));
    let ths: Vec<_> = (0..threads)
        .map(|t| {
            let (slots, start) = (slots.clone(), start.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ ((t as u64 + 1) * 0x9e37_79b9));
                start.wait();
                for round in 0..rounds {
                    // A random non-empty subset in a random order, sometimes
                    // with a lock listed twice.
                    let mut pick: Vec<usize> = (0..locks)
                        .filter(|_| rng.next().is_multiple_of(2))
                        .collect();
                    if pick.is_empty() {
                        pick.push(rng.next() as usize % locks);
                    }
                    for i in (1..pick.len()).rev() {
                        pick.swap(i, rng.next() as usize % (i + 1));
                    }
                    if round % 7 == 0 {
                        pick.push(pick[0]);
                    }
                    let list: Vec<&dyn Lockable> = pick
                        .iter()
                        .map(|&i| &slots[i].lock as &dyn Lockable)
                        .collect();
                    let all = if timed && round % 2 == 0 {
                        // Long enough to succeed in practice; a `None` is
                        // not a failure, just not counted.
                        match acquire_all_timeout(&list, Duration::from_millis(200)) {
                            Some(all) => all,
                            None => continue,
                        }
                    } else {
                        acquire_all(&list)
                    };
                    let mut all = all;
                    pick.sort_unstable();
                    pick.dedup();
                    assert_eq!(all.len(), pick.len());
                    let mut guards: Vec<_> = pick
                        .iter()
                        .map(|&i| (i, all.take(&slots[i].lock).expect("held")))
                        .collect();
                    assert!(all.is_empty());
                    for (i, g) in &mut guards {
                        let s = &slots[*i];
                        assert!(!s.inside.swap(true, Relaxed), "two holders of lock {i}");
                        **g += 1;
                        s.expected.fetch_add(1, Relaxed);
                    }
                    for (i, _) in &guards {
                        slots[*i].inside.store(false, Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in ths {
        t.join().unwrap();
    }
    for (i, s) in slots.iter().enumerate() {
        assert_eq!(*s.lock.acquire(), s.expected.load(Relaxed), "lock {i}");
    }
    #[cfg(feature = "deadlock-detection")]
    assert!(
        gilfree::deadlock::reports().is_empty(),
        "{:?}",
        gilfree::deadlock::reports()
    );
}

#[test]
fn acquire_all_random_subsets_never_deadlock() {
    stress(8, 6, 20_000, false);
}

#[test]
fn acquire_all_timeout_mixed_with_ordered_never_deadlocks() {
    stress(8, 6, 20_000, true);
}

#[test]
#[ignore = "long version of the stress tests"]
fn acquire_all_stress_long() {
    stress(16, 10, 200_000, false);
    stress(16, 10, 200_000, true);
}

#[test]
fn acquire_all_mixes_locks_and_rlocks() {
    use gilfree::threading::RLock;
    let (r, l) = (RLock::new(()), Lock::new(5));
    let outer = r.acquire(); // already ours: acquire_all re-enters it
    {
        let mut all = acquire_all(&[&r, &l, &r]);
        assert_eq!(all.len(), 2);
        assert_eq!(r.recursion_count(), 2);
        assert_eq!(*all.take(&l).unwrap(), 5);
    }
    assert_eq!(r.recursion_count(), 1);
    drop(outer);
    let all = acquire_all_timeout(&[&l, &r], Duration::from_secs(60)).unwrap();
    assert_eq!(all.len(), 2);
    drop(all);
    assert!(!r.locked() && !l.locked());
}
