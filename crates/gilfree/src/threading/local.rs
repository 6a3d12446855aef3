//! `Local<T>`: Python's `threading.local()`, a value per thread, per
//! instance.
//!
//! # Layout
//!
//! A `Local` owns a map from `ThreadId` to a boxed slot, behind a
//! reader-writer lock. A thread reads its own slot under the read lock
//! (threads never contend for a write except to create a slot), and the
//! box keeps the value at a fixed address while the map grows, so a `&T`
//! stays valid.
//!
//! # When values are dropped
//!
//! - Every value still held is dropped when the `Local` is dropped (on the
//!   dropping thread, hence `T: Send`).
//! - A thread's value is dropped when that thread exits **if it was only
//!   ever reached through [`Local::with`]**, whose `&T` cannot outlive the
//!   closure. A value handed out by [`Local::get`] (or `get_or`,
//!   `try_get`) is *pinned*: its `&T` lives as long as the borrow of the
//!   `Local`, which for a `static` (or an `Arc` kept by another thread) may
//!   outlast the thread, so dropping it at thread exit would be a
//!   use-after-free. A pinned value is kept until the `Local` is dropped.
//!   The `thread_local` crate makes the same choice for all of its values.
//!
//! Thread exit is noticed by one `thread_local!` registry per thread that
//! holds weak references to the `Local`s the thread used; a `Local`
//! dropped first is simply skipped. A value created during the thread's own
//! TLS destruction, after the registry is gone, is kept until the `Local`
//! is dropped.
//!
//! This type uses a plain reader-writer lock rather than the crate's futex
//! words: it is not a synchronisation primitive, only storage. The lock,
//! the thread ids and the thread-locals come from `crate::sys::sync` (std's
//! normally, loom's under `--cfg loom`), so `loom_tests` model-checks the
//! slot creation, the drop at thread exit and the drop with the `Local`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::{Arc, PoisonError, Weak};

use crate::sys::atomic::{AtomicBool, Ordering::Relaxed};
use crate::sys::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, ThreadId, current_thread};

/// One thread's value.
struct Slot<T> {
    value: Box<T>,
    /// A `&T` with the `Local`'s lifetime has been handed out.
    pinned: AtomicBool,
}

struct Inner<T> {
    init: Box<dyn Fn() -> T + Send + Sync>,
    slots: RwLock<HashMap<ThreadId, Slot<T>>>,
}

type Slots<T> = HashMap<ThreadId, Slot<T>>;

impl<T> Inner<T> {
    // Poison is ignored: the map is consistent at every unlock (only
    // `for_each_mut` runs user code under the lock, between whole-value
    // accesses).
    fn read(&self) -> RwLockReadGuard<'_, Slots<T>> {
        self.slots.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Slots<T>> {
        self.slots.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the per-thread registry calls when its thread exits.
trait ThreadExit {
    fn thread_exited(&self, id: ThreadId);
}

impl<T> ThreadExit for Inner<T> {
    fn thread_exited(&self, id: ThreadId) {
        let mut slots = self.write();
        let removed = match slots.get(&id) {
            Some(s) if !s.pinned.load(Relaxed) => slots.remove(&id),
            _ => None,
        };
        drop(slots);
        // Dropped outside the lock: `T`'s destructor may use this `Local`.
        drop(removed);
    }
}

/// The `Local`s this thread has a value in; tells them when it exits.
struct Registry {
    /// This thread's id, kept here (set on first registration) because the
    /// `ID` thread-local may be gone when this destructor runs (loom drops
    /// all of a thread's locals before running any destructor).
    id: Cell<Option<ThreadId>>,
    locals: RefCell<Vec<Weak<dyn ThreadExit>>>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let Some(id) = self.id.get() else { return };
        let locals = std::mem::take(&mut *self.locals.borrow_mut());
        for l in locals {
            if let Some(l) = l.upgrade() {
                l.thread_exited(id);
            }
        }
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static REGISTRY: Registry = const {
        Registry { id: Cell::new(None), locals: RefCell::new(Vec::new()) }
    };
    // No destructor, so it stays readable during TLS destruction.
    static ID: Cell<Option<ThreadId>> = const { Cell::new(None) };
}

// Loom's macro takes no `const { }` initialiser.
#[cfg(loom)]
loom::thread_local! {
    static REGISTRY: Registry = Registry { id: Cell::new(None), locals: RefCell::new(Vec::new()) };
    static ID: Cell<Option<ThreadId>> = Cell::new(None);
}

fn thread_id() -> Option<ThreadId> {
    ID.try_with(|c| match c.get() {
        Some(id) => id,
        None => {
            let id = current_thread().id();
            c.set(Some(id));
            id
        }
    })
    .ok()
}

fn current_id() -> ThreadId {
    thread_id().unwrap_or_else(|| current_thread().id())
}

/// A value per thread: Python's `threading.local()`.
///
/// Each thread that uses a `Local` gets its own value, made by the `init`
/// function on first use (Python: the attributes a thread sets on a
/// `local()` object are seen only by that thread; a subclass's `__init__`
/// runs once per thread). Unlike `thread_local!`, a `Local` is an ordinary
/// value: make as many as you like, keep them in structs, drop them.
///
/// Differences from Python:
/// - The value is one `T`, not a bag of attributes; use a struct of
///   `Cell`s/`RefCell`s for per-thread mutable fields.
/// - When values are dropped: all at once when the `Local` is dropped;
///   at thread exit only for values reached solely through
///   [`with`](Local::with) (a `&T` from [`get`](Local::get) may outlive the
///   thread). See the module notes.
///
/// ```
/// use gilfree::threading::Local;
/// use std::cell::Cell;
///
/// let hits = Local::new(|| Cell::new(0));
/// hits.get().set(hits.get().get() + 1);
/// std::thread::scope(|s| {
///     s.spawn(|| assert_eq!(hits.get().get(), 0)); // a fresh value there
/// });
/// assert_eq!(hits.get().get(), 1);
/// ```
pub struct Local<T: Send + 'static> {
    inner: Arc<Inner<T>>,
}

// SAFETY: each thread reaches only its own `T` (a `&T` crosses to another
// thread only if `T: Sync` makes `&T: Send`), so sharing a `Local` shares no
// `T`. All values are dropped by whichever thread drops the `Local`, and a
// value may be dropped on its own thread at exit: both need `T: Send`.
unsafe impl<T: Send + 'static> Sync for Local<T> {}
// SAFETY: sending the `Local` sends the `T`s it owns; `T: Send`.
unsafe impl<T: Send + 'static> Send for Local<T> {}

impl<T: Send + 'static> Drop for Local<T> {
    /// Drops every value now, on this thread. The shared `Inner` may outlive
    /// the `Local` for a moment: an exiting thread's registry can hold it
    /// (upgraded from its weak reference) while that thread's TLS destructor
    /// runs, which may be after `thread::scope` or `join` returned. Emptying
    /// the map here keeps "dropping the `Local` drops every value"
    /// deterministic; the late registry then finds nothing to drop.
    fn drop(&mut self) {
        let slots = std::mem::take(&mut *self.inner.write());
        drop(slots);
    }
}

impl<T: Send + 'static> Local<T> {
    /// A `Local` whose value in each thread is made by `init` on that
    /// thread's first use (Python: `threading.local()`, with `init` playing
    /// a subclass's `__init__`).
    ///
    /// ```
    /// let name = gilfree::threading::Local::new(|| String::from("unset"));
    /// assert_eq!(name.get(), "unset");
    /// ```
    pub fn new(init: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Local {
            inner: Arc::new(Inner {
                init: Box::new(init),
                slots: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The calling thread's value, made by `init` on first use. The value
    /// is kept until the `Local` is dropped (see the module notes).
    ///
    /// ```
    /// let l = gilfree::threading::Local::new(|| vec![1, 2]);
    /// assert_eq!(l.get(), &[1, 2]);
    /// ```
    pub fn get(&self) -> &T {
        self.get_or(|| (self.inner.init)())
    }

    /// The calling thread's value, made by `f` (instead of `init`) if the
    /// thread has none yet.
    ///
    /// ```
    /// let l = gilfree::threading::Local::new(|| 0);
    /// assert_eq!(*l.get_or(|| 5), 5);
    /// assert_eq!(*l.get_or(|| 6), 5);
    /// ```
    pub fn get_or(&self, f: impl FnOnce() -> T) -> &T {
        let p = self.slot(true, f);
        // SAFETY: the box behind `p` belongs to this thread's slot, which is
        // pinned: only dropping the `Local` (impossible while `&self` is
        // borrowed) or `&mut self` methods remove it.
        unsafe { &*p }
    }

    /// The calling thread's value if it has one, without making one
    /// (Python: `hasattr(local, ...)`). Pins it, like `get`.
    ///
    /// ```
    /// let l = gilfree::threading::Local::new(|| 1);
    /// assert!(l.try_get().is_none());
    /// l.get();
    /// assert_eq!(l.try_get(), Some(&1));
    /// ```
    pub fn try_get(&self) -> Option<&T> {
        let id = current_id();
        let slots = self.inner.read();
        let slot = slots.get(&id)?;
        slot.pinned.store(true, Relaxed);
        let p: *const T = &*slot.value;
        // SAFETY: as in `get_or`: the slot is pinned and boxed.
        Some(unsafe { &*p })
    }

    /// Run `f` on the calling thread's value (made by `init` on first use).
    /// A value only ever reached this way is dropped when its thread exits,
    /// as Python drops a thread's `local()` attributes.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// let log = gilfree::threading::Local::new(|| RefCell::new(Vec::new()));
    /// log.with(|l| l.borrow_mut().push("a"));
    /// assert_eq!(log.with(|l| l.borrow().len()), 1);
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let p = self.slot(false, || (self.inner.init)());
        // SAFETY: the slot is this thread's; an unpinned slot is removed
        // only by this thread's exit hook, which cannot run while `f`, on
        // this thread, is still running; pinned ones as in `get_or`. The
        // closure's `&T` cannot escape it.
        f(unsafe { &*p })
    }

    /// Run `f` on every thread's value, for aggregation once the threads
    /// are done (the `&mut self` proves no thread is using the `Local`).
    ///
    /// ```
    /// use std::cell::Cell;
    /// let mut n = gilfree::threading::Local::new(|| Cell::new(0));
    /// std::thread::scope(|s| {
    ///     for _ in 0..3 { s.spawn(|| n.get().set(1)); }
    /// });
    /// let mut total = 0;
    /// n.for_each_mut(|c| total += c.get());
    /// assert_eq!(total, 3);
    /// ```
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&mut T)) {
        // The lock is still taken: an exiting thread may be removing its
        // own unpinned value concurrently.
        let mut slots = self.inner.write();
        for s in slots.values_mut() {
            f(&mut s.value);
        }
    }

    /// Take every thread's value out (Python has no equivalent). The `Local`
    /// is left empty: each thread's next use makes a fresh value.
    ///
    /// ```
    /// let mut l = gilfree::threading::Local::new(|| 7);
    /// l.get();
    /// assert_eq!(l.take_values(), vec![7]);
    /// assert!(l.try_get().is_none());
    /// ```
    pub fn take_values(&mut self) -> Vec<T> {
        let mut slots = self.inner.write();
        slots.drain().map(|(_, s)| *s.value).collect()
    }

    /// Find or make this thread's slot; returns a pointer into its box.
    fn slot(&self, pin: bool, make: impl FnOnce() -> T) -> *const T {
        let id = current_id();
        {
            let slots = self.inner.read();
            if let Some(s) = slots.get(&id) {
                if pin {
                    s.pinned.store(true, Relaxed);
                }
                return &*s.value;
            }
        }
        // Made outside the lock: `make` may use this `Local` (or others).
        let value = Box::new(make());
        let mut slots = self.inner.write();
        let (p, unused): (*const T, _) = match slots.entry(id) {
            // `make` itself gave this thread a value (a reentrant init):
            // keep that one.
            Entry::Occupied(e) => {
                let s = e.into_mut();
                if pin {
                    s.pinned.store(true, Relaxed);
                }
                (&*s.value, Some(value))
            }
            Entry::Vacant(e) => {
                let s = e.insert(Slot {
                    value,
                    pinned: AtomicBool::new(pin),
                });
                (&*s.value, None)
            }
        };
        drop(slots);
        match unused {
            // Dropped outside the lock: `T`'s destructor may use this `Local`.
            Some(v) => drop(v),
            None => self.register(id),
        }
        p
    }

    /// Ask this thread's registry to tell us when the thread exits.
    fn register(&self, id: ThreadId) {
        let weak: Weak<dyn ThreadExit> = Arc::downgrade(&self.inner) as _;
        // Fails only during this thread's TLS destruction: the value then
        // stays until the `Local` is dropped.
        let _ = REGISTRY.try_with(|r| {
            r.id.set(Some(id));
            let mut locals = r.locals.borrow_mut();
            // Forget `Local`s dropped meanwhile, now and then.
            if locals.len() >= 16 && locals.len().is_power_of_two() {
                locals.retain(|w| w.strong_count() > 0);
            }
            locals.push(weak);
        });
    }
}

impl<T: Send + Default + 'static> Default for Local<T> {
    /// Each thread's value starts as `T::default()`.
    ///
    /// ```
    /// let l: gilfree::threading::Local<u8> = Default::default();
    /// assert_eq!(*l.get(), 0);
    /// ```
    fn default() -> Self {
        Local::new(T::default)
    }
}

impl<T: Send + 'static> fmt::Debug for Local<T> {
    /// Python's repr: `<_thread._local object at 0x…>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<gilfree.Local object at {:p}>", self)
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Loom's `JoinHandle::join` returns once the thread's closure is done,
    //! *before* loom runs its thread-local destructors (std's join waits
    //! for them). So the models never assume the exit hook has run at a
    //! join: they wait for drops on a condition variable instead. A value
    //! never dropped is a deadlock there (and a leaked loom `Arc`); a value
    //! dropped twice fails the assertion in its `drop`.
    use super::*;
    use crate::sys::sync::Mutex;
    use loom::sync::{Arc as LArc, Condvar};
    use loom::thread;

    fn bounded(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(f);
    }

    /// The serials of the values made and of those dropped.
    #[derive(Default)]
    struct Log {
        made: usize,
        dropped: Vec<usize>,
    }

    #[derive(Default)]
    struct Book {
        log: Mutex<Log>,
        changed: Condvar,
    }

    impl Book {
        /// Wait until `n` values have been dropped; returns their serials.
        fn wait_dropped(&self, n: usize) -> Vec<usize> {
            let mut log = self.log.lock().unwrap();
            while log.dropped.len() < n {
                log = self.changed.wait(log).unwrap();
            }
            let mut d = log.dropped.clone();
            d.sort_unstable();
            d
        }

        fn dropped_now(&self) -> usize {
            self.log.lock().unwrap().dropped.len()
        }
    }

    /// A value that records its drop in the book, once.
    struct Counted {
        serial: usize,
        book: LArc<Book>,
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            let mut log = self.book.log.lock().unwrap();
            assert!(!log.dropped.contains(&self.serial), "value dropped twice");
            log.dropped.push(self.serial);
            self.book.changed.notify_all();
        }
    }

    /// A `Local` whose `init` numbers its values in a book.
    fn counted() -> (LArc<Local<Counted>>, LArc<Book>) {
        let book = LArc::new(Book::default());
        let b = book.clone();
        let l = Local::new(move || {
            let serial = {
                let mut log = b.log.lock().unwrap();
                log.made += 1;
                log.made - 1
            };
            Counted {
                serial,
                book: b.clone(),
            }
        });
        (LArc::new(l), book)
    }

    /// Two threads make their values at the same time (both may miss under
    /// the read lock and race for the write lock): each gets a value of its
    /// own, sees the same one on its next use, and the values differ. The
    /// values are pinned by `get`, so their threads' exit does not drop
    /// them; they are dropped exactly once each, with the `Local`.
    #[test]
    fn local_concurrent_creation_distinct_and_dropped_once() {
        bounded(|| {
            let (l, book) = counted();
            let ths: Vec<_> = (0..2)
                .map(|_| {
                    let l = l.clone();
                    thread::spawn(move || {
                        let first = l.get().serial;
                        assert_eq!(l.get().serial, first, "a thread's value changed");
                        first
                    })
                })
                .collect();
            let serials: Vec<usize> = ths.into_iter().map(|t| t.join().unwrap()).collect();
            assert_ne!(serials[0], serials[1], "two threads shared a value");
            assert_eq!(book.log.lock().unwrap().made, 2);
            // Pinned: whatever the exiting threads' hooks have done so far,
            // nothing is dropped while the `Local` lives.
            assert_eq!(book.dropped_now(), 0);
            drop(LArc::try_unwrap(l).unwrap_or_else(|_| panic!("last handle")));
            assert_eq!(book.wait_dropped(2), vec![0, 1]);
        });
    }

    /// A value reached only through `with` is dropped by its thread's exit
    /// hook (loom runs thread-local destructors when a model thread ends)
    /// while the `Local` still lives and the main thread uses it; the main
    /// thread's value, pinned by `get`, is not. Each is dropped once.
    #[test]
    fn local_thread_exit_drops_unpinned_once() {
        bounded(|| {
            let (l, book) = counted();
            let l1 = l.clone();
            let t = thread::spawn(move || l1.with(|v| v.serial));
            let mine = l.get().serial;
            let theirs = t.join().unwrap();
            assert_ne!(mine, theirs);
            // Only the exit hook can drop it: the `Local` is alive.
            assert_eq!(book.wait_dropped(1), vec![theirs]);
            assert_eq!(l.get().serial, mine);
            drop(LArc::try_unwrap(l).unwrap_or_else(|_| panic!("last handle")));
            assert_eq!(book.wait_dropped(2), vec![0, 1]);
        });
    }

    /// The `Local` is dropped (by whichever thread lets go of it last)
    /// while a thread that used it through `with` exits: its value is
    /// dropped exactly once, by the exit hook or with the `Local`, never
    /// both and never neither.
    #[test]
    fn local_drop_races_thread_exit() {
        bounded(|| {
            let (l, book) = counted();
            let l1 = l.clone();
            let t = thread::spawn(move || {
                l1.with(|_| ());
                drop(l1);
            });
            drop(l);
            t.join().unwrap();
            assert_eq!(book.wait_dropped(1), vec![0]);
        });
    }
}
