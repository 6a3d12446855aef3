//! `Local<T>`: the scenarios of CPython's `Lib/test/test_threading_local.py`
//! that apply to a typed value, and when values are dropped.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::ThreadId;

use gilfree::threading::{Event, Local};

/// Counts its drops and remembers the thread that dropped it.
struct Tracked {
    drops: Arc<AtomicUsize>,
    dropped_on: Arc<Mutex<Vec<ThreadId>>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
        self.dropped_on
            .lock()
            .unwrap()
            .push(std::thread::current().id());
    }
}

fn tracked_local() -> (Local<Tracked>, Arc<AtomicUsize>, Arc<Mutex<Vec<ThreadId>>>) {
    let drops = Arc::new(AtomicUsize::new(0));
    let on = Arc::new(Mutex::new(Vec::new()));
    let (d, o) = (drops.clone(), on.clone());
    let l = Local::new(move || Tracked {
        drops: d.clone(),
        dropped_on: o.clone(),
    });
    (l, drops, on)
}

/// `test_local_refs`: the values of threads that have ended are freed.
/// Python keeps the last one alive sometimes; a value reached only through
/// `with` is dropped, on its own thread, as that thread exits.
#[test]
fn test_local_refs() {
    for n in [20, 50, 100] {
        let (local, drops, on) = tracked_local();
        let mut ids = Vec::new();
        for _ in 0..n {
            let h = std::thread::scope(|s| {
                s.spawn(|| {
                    local.with(|_| ());
                    std::thread::current().id()
                })
                .join()
                .unwrap()
            });
            ids.push(h);
        }
        assert_eq!(drops.load(SeqCst), n);
        assert_eq!(*on.lock().unwrap(), ids, "each dropped by its own thread");
        drop(local);
        assert_eq!(drops.load(SeqCst), n);
    }
}

/// A value handed out by `get` may be referenced beyond its thread, so it
/// is kept until the `Local` is dropped, and then dropped exactly once.
#[test]
fn get_values_live_until_local_dropped() {
    let (local, drops, _) = tracked_local();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                local.get();
                local.with(|_| ()); // `with` after `get` does not unpin
            });
        }
    });
    assert_eq!(drops.load(SeqCst), 0);
    local.get();
    drop(local);
    assert_eq!(drops.load(SeqCst), 5);
}

/// `test_derived`: an `init` that yields mid-way (Python: a thread switch
/// inside a subclass's `__init__`) still gives every thread its own,
/// correctly set value.
#[test]
fn test_derived() {
    let local = Local::new(|| {
        std::thread::yield_now();
        Cell::new(usize::MAX)
    });
    std::thread::scope(|s| {
        for i in 0..10 {
            let local = &local;
            s.spawn(move || {
                local.get().set(i);
                std::thread::yield_now();
                assert_eq!(local.get().get(), i);
            });
        }
    });
}

/// `test_derived_cycle_dealloc`: new `Local`s (which may reuse the old
/// one's address) start empty in a thread that had a value in the old one.
#[test]
fn test_derived_cycle_dealloc() {
    let slot: Mutex<Option<Local<Cell<&str>>>> = Mutex::new(Some(Local::new(|| Cell::new(""))));
    let new_locals: Mutex<Vec<Local<Cell<&str>>>> = Mutex::new(Vec::new());
    let (e1, e2) = (Event::new(), Event::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            slot.lock().unwrap().as_ref().unwrap().get().set("bar");
            drop(slot.lock().unwrap().take());
            e1.set();
            e2.wait();
            for l in new_locals.lock().unwrap().iter() {
                assert!(l.try_get().is_none(), "a new Local saw an old value");
                assert_eq!(l.get().get(), "");
            }
        });
        e1.wait();
        new_locals
            .lock()
            .unwrap()
            .extend((0..10).map(|_| Local::new(|| Cell::new(""))));
        e2.set();
    });
}

/// `test_threading_local`: a value set in one thread is not seen in
/// another, which has none until it makes one.
#[test]
fn test_threading_local() {
    let obj = Local::new(|| Cell::new("unset"));
    let (e1, e2) = (Event::new(), Event::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            obj.get().set("foo");
            e1.set();
            e2.wait();
            assert_eq!(obj.get().get(), "foo");
        });
        e1.wait();
        s.spawn(|| {
            assert!(obj.try_get().is_none(), "saw another thread's value");
            assert_eq!(obj.get().get(), "unset");
        })
        .join()
        .unwrap();
        e2.set();
    });
}

/// `test_threading_local_subclass`: the same with a user type (Python: a
/// subclass of `local`) built by `Default`.
#[test]
fn test_threading_local_subclass() {
    #[derive(Default)]
    struct Mine {
        x: Cell<u32>,
    }
    let obj: Local<Mine> = Local::default();
    let (e1, e2) = (Event::new(), Event::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            obj.get().x.set(7);
            e1.set();
            e2.wait();
            assert_eq!(obj.get().x.get(), 7);
        });
        e1.wait();
        s.spawn(|| assert_eq!(obj.get().x.get(), 0)).join().unwrap();
        e2.set();
    });
}

/// `test_cycle_collection`: a value is freed with its `Local` (Python:
/// a cycle through the local object is collected).
#[test]
fn test_cycle_collection() {
    let marker = Arc::new(());
    let local = Local::new({
        let m = marker.clone();
        move || m.clone()
    });
    local.get();
    assert_eq!(Arc::strong_count(&marker), 3);
    drop(local);
    assert_eq!(Arc::strong_count(&marker), 1);
}

/// `test_threading_local_clear_race` (gh-100892): `Local`s are created and
/// dropped while threads that used them exit. Nothing is dropped twice or
/// lost, and no exiting thread touches a freed `Local`.
#[test]
fn test_threading_local_clear_race() {
    for _ in 0..20 {
        let (local, drops, _) = tracked_local();
        let local = Arc::new(local);
        let barrier = Arc::new(Barrier::new(5));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (local, barrier) = (local.clone(), barrier.clone());
                std::thread::spawn(move || {
                    local.with(|_| ());
                    drop(local);
                    barrier.wait();
                    // Exits now, racing the drop of the last `Local` handle.
                })
            })
            .collect();
        barrier.wait();
        drop(local);
        for _ in 0..100 {
            drop(Local::new(|| 0u8));
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(drops.load(SeqCst), 4);
    }
}

/// `init` may use the same `Local` recursively; the value kept is one of
/// the two made, the other is dropped, and nothing dangles.
#[test]
fn init_reentrancy_is_sound() {
    type Slot = Arc<Mutex<Option<Arc<Local<Vec<u32>>>>>>;
    let local: Slot = Arc::new(Mutex::new(None));
    let depth = Arc::new(AtomicUsize::new(0));
    let l = {
        let (me, depth) = (local.clone(), depth.clone());
        Arc::new(Local::new(move || {
            if depth.fetch_add(1, SeqCst) == 0 {
                let inner = me.lock().unwrap().clone().unwrap();
                assert_eq!(inner.get(), &[2]);
            }
            vec![depth.load(SeqCst) as u32]
        }))
    };
    *local.lock().unwrap() = Some(l.clone());
    assert_eq!(l.get(), &[2]);
    *local.lock().unwrap() = None;
}

/// Regression: when a reentrant `init` made the thread's value first, the
/// outer call's value was dropped with the `Local`'s write lock held, so a
/// destructor that used the same `Local` deadlocked. It is now dropped after
/// the lock is released.
#[test]
fn discarded_reentrant_value_is_dropped_outside_the_lock() {
    struct TouchOnDrop(u32);
    impl Drop for TouchOnDrop {
        fn drop(&mut self) {
            assert_eq!(L.try_get().map(|v| v.0), Some(1));
        }
    }
    static L: std::sync::LazyLock<Local<TouchOnDrop>> =
        std::sync::LazyLock::new(|| Local::new(|| TouchOnDrop(1)));
    let v = L.get_or(|| {
        L.get(); // the inner call makes and keeps TouchOnDrop(1)
        TouchOnDrop(2)
    });
    assert_eq!(v.0, 1);
}

#[test]
fn for_each_mut_and_take_values_see_every_thread() {
    let mut local = Local::new(|| 0u64);
    std::thread::scope(|s| {
        for i in 1..=4u64 {
            let local = &local;
            s.spawn(move || {
                local.get_or(|| i);
            });
        }
    });
    let mut sum = 0;
    local.for_each_mut(|v| sum += *v);
    assert_eq!(sum, 10);
    let mut values = local.take_values();
    values.sort();
    assert_eq!(values, [1, 2, 3, 4]);
    assert!(local.try_get().is_none());
}

/// Many threads hammer their own values at once: each sees only its own
/// updates, and all values come back.
#[test]
fn stress_local_values_stay_per_thread() {
    let mut local = Local::new(|| Cell::new(0usize));
    std::thread::scope(|s| {
        for t in 0..8 {
            let local = &local;
            s.spawn(move || {
                for i in 0..5_000 {
                    let c = local.get();
                    assert_eq!(c.get(), i * t);
                    c.set(c.get() + t);
                }
            });
        }
    });
    let mut sum = 0;
    local.for_each_mut(|c| sum += c.get());
    assert_eq!(sum, (0..8).map(|t| 5_000 * t).sum::<usize>());
}
