//! The futex bridge: lets a task (`std::task::Waker`) wait on a futex word
//! that another *process* wakes — the process-shared primitives' words,
//! which `sys::wakers`' in-process table cannot serve (another process's
//! `futex_wake` never reaches it).
//!
//! One thread per process (started at the first wait, then kept) sleeps in
//! `futex_waitv` (Linux ≥ 5.16) on every word some task of this process
//! waits on, plus a private *roster* word of its own that a registration
//! bumps when it adds a word. When `futex_waitv` returns, the thread looks
//! at every registered word and wakes the wakers of each one that moved
//! (or that the kernel woke it for). So any number of tasks wait on one
//! thread, on any runtime, with no change to the words' layout and nothing
//! passed between processes. This is not `spawn_blocking`: no thread is
//! held per wait, and a wait costs a registration, not a thread hand-off.
//! Each bridge thread waits on at most 127 distinct (word, value) pairs; a
//! further thread starts for each 127 more, each waiting on its share of
//! the roster (a removal then bumps the roster word too, since keys move
//! between shares). A child made by `fork` inherits the roster but no
//! thread: the first registration there starts afresh.
//!
//! # The protocol (the same as a thread's, with "sleep" replaced)
//!
//! A task's poll is the primitive's non-blocking attempt; if that fails it
//! *announces* itself exactly as a sleeping thread does (the robust lock's
//! `WAITERS` bit, the semaphore's `waiters` count, the event's `WAITERS`
//! bit, the event count's `SLEEPY` bit), re-tries, and then
//! [`BridgeWait::register`]s `(word, expected)`: under the roster lock it
//! refuses if `*word != expected` (the caller re-tries), else records the
//! waker. The releaser is unchanged: it changes the word and calls
//! `futex_wake`, which reaches the bridge thread like any sleeper.
//!
//! # Why no wake-up is lost
//!
//! - *Register vs the bridge's snapshot.* The bridge reads the roster word
//!   and copies the roster under the roster lock, then waits on the copy
//!   plus the roster word at the value it read. A registration that adds a
//!   word bumps the roster word under that lock: if it came before the
//!   copy, the copy has the word; if after, `futex_waitv` finds the roster
//!   word changed and returns at once (or is woken by the bump's wake).
//! - *Register vs the change.* The registration saw `*word == expected`.
//!   A change after that either precedes the bridge's `futex_waitv`, which
//!   then finds a word differing from the copy and returns, or follows it,
//!   and the changer's `futex_wake` finds the bridge queued — the kernel
//!   orders the compare and the wake, as for any futex sleeper.
//! - *After a return* the bridge wakes every word that differs from its
//!   expected value, and the one the kernel says it was woken on even if
//!   it reads equal (a wake is a notification even when the word came
//!   back: `release(1)` then a barging `acquire`).
//! - *One kernel waiter for many tasks.* A `wake(1)` (a lock release, one
//!   permit) may pick the bridge over a sleeping thread. The bridge passes
//!   it to all its tasks on that word; a task that then gives up (its
//!   future dropped) after being woken passes the wake on with
//!   `futex_wake(word, 1)`, as `sys::wakers` does within a process; and a
//!   bridge woken on a word none of its tasks waits for any more passes it
//!   on the same way. Extra wake-ups are re-checks, never losses.
//! - *Time.* A registration may carry a re-check time (the robust lock's
//!   liveness check of a holder that may have died, the queue's check of a
//!   stuck record's owner): the bridge waits with the earliest as its
//!   timeout and wakes those waiters when it passes.
//!
//! # Memory
//!
//! The bridge reads a word only while it is registered, under the roster
//! lock; a waiter is registered only while its future (which borrows the
//! primitive, hence the mapping) lives. The kernel may still hold the
//! address of a word whose wait went away: `futex_waitv` and the pass-on
//! take raw pointers (`EFAULT`, or a spurious wake-up, if the mapping is
//! gone), never a Rust reference.

use std::task::Waker;

use super::Deadline;
use super::atomic::{AtomicU32, Ordering::*};
use super::futex::{self, WAITV_MAX, WaitOn, Waitv};
use super::sync::Mutex;

/// Words one bridge thread waits on (one slot is its roster word).
const PER_THREAD: usize = WAITV_MAX - 1;

/// One task waiting on a key.
struct Waiter {
    id: u64,
    waker: Waker,
    /// Wake it then even if the word has not moved.
    recheck: Deadline,
}

/// A (word, expected value) pair some tasks wait on.
struct Key {
    addr: usize,
    expected: u32,
    shared: bool,
    waiters: Vec<Waiter>,
}

struct Roster {
    next_id: u64,
    keys: Vec<Key>,
    /// Bridge threads started.
    threads: usize,
    /// Whether `register` starts threads (not in loom models, which run
    /// [`Bridge::serve`] themselves).
    spawn: bool,
    /// Loom models: make `serve` return.
    stop: bool,
    /// The process whose bridge threads these are: a child made by `fork`
    /// inherits the roster but no thread, and starts afresh.
    pid: u32,
}

/// A futex bridge: the roster and its change word. The process has one
/// ([`Bridge::global`]); loom models make their own.
pub(crate) struct Bridge {
    roster: Mutex<Roster>,
    /// Bumped (under the roster lock) whenever a key is added.
    changed: AtomicU32,
}

impl Bridge {
    fn new(spawn: bool) -> Self {
        Bridge {
            roster: Mutex::new(Roster {
                next_id: 0,
                keys: Vec::new(),
                threads: 0,
                spawn,
                stop: false,
                pid: 0,
            }),
            changed: AtomicU32::new(0),
        }
    }

    /// The process's bridge.
    #[cfg(not(loom))]
    pub(crate) fn global() -> &'static Bridge {
        static BRIDGE: std::sync::OnceLock<Bridge> = std::sync::OnceLock::new();
        BRIDGE.get_or_init(|| Bridge::new(true))
    }

    /// Under loom: one per model run, starting no thread (models that use
    /// a bridge make their own and serve it).
    #[cfg(loom)]
    pub(crate) fn global() -> &'static Bridge {
        loom::lazy_static! {
            static ref BRIDGE: Bridge = Bridge::new(false);
        }
        &BRIDGE
    }

    fn lock(&self) -> crate::sys::sync::MutexGuard<'_, Roster> {
        // Nothing under the lock panics; do not let poison wedge waiters.
        self.roster.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bridge thread number `shard`'s loop: wait on its share of the
    /// roster, wake what moved. Returns only when a loom model stops it.
    fn serve(&self, shard: usize) {
        let mut ons: Vec<WaitOn> = Vec::with_capacity(WAITV_MAX);
        loop {
            let until;
            {
                let r = self.lock();
                if r.stop {
                    return;
                }
                let seen = self.changed.load(SeqCst);
                ons.clear();
                let mut earliest: Option<std::time::Instant> = None;
                for k in r.keys.iter().skip(shard * PER_THREAD).take(PER_THREAD) {
                    ons.push(WaitOn {
                        word: k.addr as *const AtomicU32,
                        expected: k.expected,
                        shared: k.shared,
                    });
                    for w in &k.waiters {
                        if let Some(t) = w.recheck.instant() {
                            earliest = Some(earliest.map_or(t, |e| e.min(t)));
                        }
                    }
                }
                ons.push(WaitOn {
                    word: &self.changed,
                    expected: seen,
                    shared: false,
                });
                until = earliest.map_or(Deadline::Never, Deadline::At);
            }
            let woke = futex::waitv(&ons, until);
            let woken_on = match woke {
                Waitv::Woken(i) if i + 1 < ons.len() => Some(ons[i]),
                _ => None,
            };
            self.dispatch(woken_on);
        }
    }

    /// After a `futex_waitv` return: wake the waiters of every key whose
    /// word moved or that the kernel woke us for, and those whose re-check
    /// time has come.
    fn dispatch(&self, woken_on: Option<WaitOn>) {
        let mut wake: Vec<Waker> = Vec::new();
        let mut pass_on = woken_on;
        {
            let mut r = self.lock();
            let now = std::time::Instant::now();
            r.keys.retain_mut(|k| {
                let was_woken = woken_on
                    .is_some_and(|on| on.word as usize == k.addr && on.expected == k.expected);
                if was_woken {
                    pass_on = None;
                }
                // SAFETY: a registered key's word is alive (see the module
                // doc, "Memory"): its waiters' futures borrow the primitive
                // that owns the mapping, and drop their entries (under this
                // lock) before it goes.
                let word = unsafe { &*(k.addr as *const AtomicU32) };
                if was_woken || word.load(SeqCst) != k.expected {
                    wake.extend(k.waiters.drain(..).map(|w| w.waker));
                    return false;
                }
                k.waiters.retain_mut(|w| {
                    let due = w.recheck.instant().is_some_and(|t| t <= now);
                    if due {
                        wake.push(core::mem::replace(&mut w.waker, Waker::noop().clone()));
                    }
                    !due
                });
                !k.waiters.is_empty()
            });
        }
        // Outside the lock: a waker may poll its task inline.
        for w in wake {
            w.wake();
        }
        if let Some(on) = pass_on {
            // Woken on a word nobody here waits for any more: the wake was
            // meant for someone else (see the module doc).
            futex::wake_ptr(on.word, on.shared, 1);
        }
    }

    /// Loom models: stop every `serve` loop.
    #[cfg(all(test, loom))]
    fn stop(&self) {
        self.lock().stop = true;
        self.changed.fetch_add(1, SeqCst);
        futex::wake_all::<super::Private>(&self.changed);
    }
}

/// A task's place in a [`Bridge`]: empty, or registered on one word.
/// Keep it across polls; drop it with the future.
pub(crate) struct BridgeWait {
    bridge: &'static Bridge,
    /// (word address, shared, id) while registered.
    key: Option<(usize, bool, u64)>,
}

impl BridgeWait {
    /// Not registered, on the process's bridge.
    pub(crate) fn new() -> Self {
        Self::on(Bridge::global())
    }

    /// Not registered, on `bridge`.
    pub(crate) fn on(bridge: &'static Bridge) -> Self {
        BridgeWait { bridge, key: None }
    }

    /// Register `waker` to be woken once `*word != expected` (or the word
    /// is woken), or at `recheck`. `false` if the word differs already:
    /// re-try the attempt and call again. `shared`: the word is in a
    /// shared mapping (another process may wake it).
    pub(crate) fn register(
        &mut self,
        word: &AtomicU32,
        expected: u32,
        shared: bool,
        recheck: Deadline,
        waker: &Waker,
    ) -> bool {
        let addr = word as *const AtomicU32 as usize;
        let mut added = false;
        let mut start = None;
        {
            let mut r = self.bridge.lock();
            if r.spawn && r.pid != std::process::id() {
                // First use in this process (or a forked child's): the
                // roster and threads are the parent's.
                r.pid = std::process::id();
                r.keys.clear();
                r.threads = 0;
            }
            if let Some((a, _, id)) = self.key.take() {
                remove(self.bridge, &mut r, a, id);
            }
            if word.load(SeqCst) != expected {
                return false;
            }
            let id = r.next_id;
            r.next_id += 1;
            let waiter = Waiter {
                id,
                waker: waker.clone(),
                recheck,
            };
            match r
                .keys
                .iter_mut()
                .find(|k| k.addr == addr && k.expected == expected)
            {
                Some(k) => k.waiters.push(waiter),
                None => {
                    r.keys.push(Key {
                        addr,
                        expected,
                        shared,
                        waiters: vec![waiter],
                    });
                    self.bridge.changed.fetch_add(1, SeqCst);
                    added = true;
                    if r.spawn && r.threads * PER_THREAD < r.keys.len() {
                        start = Some(r.threads);
                        r.threads += 1;
                    }
                }
            }
            self.key = Some((addr, shared, id));
        }
        if added {
            futex::wake_all::<super::Private>(&self.bridge.changed);
        }
        if let Some(shard) = start {
            let bridge = self.bridge;
            std::thread::Builder::new()
                .name(format!("gilfree-futex-bridge-{shard}"))
                .spawn(move || bridge.serve(shard))
                .expect("cannot start the futex bridge thread");
        }
        true
    }

    /// The wait completed: drop the registration (and any wake-up it got).
    pub(crate) fn finish(&mut self) {
        if let Some((addr, _, id)) = self.key.take() {
            remove(self.bridge, &mut self.bridge.lock(), addr, id);
        }
    }
}

/// Remove waiter `id` from the key on `addr`; `false` if the bridge had
/// taken it already (it was woken).
fn remove(bridge: &Bridge, r: &mut Roster, addr: usize, id: u64) -> bool {
    for (i, k) in r.keys.iter_mut().enumerate() {
        if k.addr != addr {
            continue;
        }
        if let Some(j) = k.waiters.iter().position(|w| w.id == id) {
            k.waiters.swap_remove(j);
            if k.waiters.is_empty() {
                r.keys.swap_remove(i);
                if r.threads > 1 {
                    // A key moved into another thread's share: every
                    // thread must copy its share again (one thread's
                    // share is the whole roster, which needs no news of a
                    // removal: a stale word only costs a spurious wake).
                    bridge.changed.fetch_add(1, SeqCst);
                    futex::wake_all::<super::Private>(&bridge.changed);
                }
            }
            return true;
        }
    }
    false
}

impl Drop for BridgeWait {
    fn drop(&mut self) {
        if let Some((addr, shared, id)) = self.key.take()
            && !remove(self.bridge, &mut self.bridge.lock(), addr, id)
        {
            // Woken but never used: the wake-up may have been one a
            // sleeping thread (here or in another process) needed.
            futex::wake_ptr(addr as *const AtomicU32, shared, 1);
        }
    }
}

/// What one step of an async wait found: done, or the word to wait on.
pub(crate) enum Step<R> {
    /// The wait is over.
    Ready(R),
    /// Wait until `*word != expected` (or `recheck`), then step again.
    Wait {
        word: *const AtomicU32,
        expected: u32,
        recheck: Deadline,
    },
}

impl BridgeWait {
    /// Drive `step` (the primitive's attempt-then-announce) until it is
    /// ready or a registration holds: `Some` when done, `None` when
    /// registered (return `Pending`). `shared`: the words are in a shared
    /// mapping.
    pub(crate) fn poll<R>(
        &mut self,
        waker: &Waker,
        shared: bool,
        mut step: impl FnMut() -> Step<R>,
    ) -> Option<R> {
        loop {
            match step() {
                Step::Ready(r) => {
                    self.finish();
                    return Some(r);
                }
                Step::Wait {
                    word,
                    expected,
                    recheck,
                } => {
                    // SAFETY: `step` returns a word of the primitive it
                    // borrows, alive for this call.
                    let word = unsafe { &*word };
                    if self.register(word, expected, shared, recheck, waker) {
                        return None;
                    }
                }
            }
        }
    }
}

/// Where an async waiter that runs a raw algorithm's own poll registers:
/// the in-process waker table (`sys::wakers`, private words) or the futex
/// bridge (shared words). Lets one async state machine (the barrier's)
/// serve both homes.
pub(crate) trait TaskSlot {
    /// Register to be woken once `*word != expected`; `false` if it
    /// differs already (re-check and call again).
    fn register(&mut self, word: &AtomicU32, expected: u32, waker: &Waker) -> bool;
    /// The wait completed: drop the registration.
    fn finish(&mut self);
}

impl TaskSlot for super::wakers::WaitSlot {
    fn register(&mut self, word: &AtomicU32, expected: u32, waker: &Waker) -> bool {
        super::wakers::WaitSlot::register(self, word, expected, waker)
    }
    fn finish(&mut self) {
        super::wakers::WaitSlot::finish(self)
    }
}

impl TaskSlot for BridgeWait {
    fn register(&mut self, word: &AtomicU32, expected: u32, waker: &Waker) -> bool {
        BridgeWait::register(self, word, expected, true, Deadline::Never, waker)
    }
    fn finish(&mut self) {
        BridgeWait::finish(self)
    }
}

#[cfg(all(test, loom))]
pub(crate) mod loom_tests {
    //! The bridge's register-vs-wake race, on private words (the loom
    //! futex model serves `waitv` as the kernel does): a task registers on
    //! a flag word while another thread sets it and wakes; a bridge thread
    //! serves. The task is always woken (loom reports a lost wake-up as a
    //! deadlock). (Checked once by hand: with the roster word's bump in
    //! `register` removed, `bridge_register_vs_wake` deadlocks.)
    use super::*;
    use crate::sys::Private;
    use loom::sync::Arc;
    use loom::thread;

    pub(crate) fn leak<T>(v: T) -> &'static T {
        Box::leak(Box::new(v))
    }

    /// `block_on` for the model, on loom's `Notify` (a permit): a lost
    /// wake-up shows as a deadlock.
    pub(crate) fn block_on(mut poll: impl FnMut(&Waker) -> Option<()>) {
        struct Flag(loom::sync::Notify);
        impl std::task::Wake for Flag {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.notify();
            }
        }
        let flag = std::sync::Arc::new(Flag(loom::sync::Notify::new()));
        let waker = Waker::from(flag.clone());
        while poll(&waker).is_none() {
            flag.0.wait();
        }
    }

    /// Run `body` with a bridge that its own model thread serves, then
    /// stop it: for the raw primitives' models of a task waiting through
    /// the bridge (`raw/semaphore.rs`).
    pub(crate) fn with_bridge(body: impl FnOnce(&'static Bridge)) {
        let bridge = leak(Bridge::new(false));
        let server = thread::spawn(move || bridge.serve(0));
        body(bridge);
        bridge.stop();
        server.join().unwrap();
    }

    fn wait_for(bridge: &'static Bridge, flag: &AtomicU32) {
        let mut w = BridgeWait::on(bridge);
        block_on(|waker| {
            w.poll(waker, false, || {
                if flag.load(SeqCst) != 0 {
                    Step::Ready(())
                } else {
                    Step::Wait {
                        word: flag,
                        expected: 0,
                        recheck: Deadline::Never,
                    }
                }
            })
        });
    }

    #[test]
    fn bridge_register_vs_wake() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let bridge = leak(Bridge::new(false));
            let flag = Arc::new(AtomicU32::new(0));
            let server = thread::spawn(move || bridge.serve(0));
            let f2 = flag.clone();
            let setter = thread::spawn(move || {
                f2.store(1, SeqCst);
                futex::wake_all::<Private>(&f2);
            });
            wait_for(bridge, &flag);
            setter.join().unwrap();
            bridge.stop();
            server.join().unwrap();
        });
    }

    /// Two tasks on two words, two setters: both wake (two keys in one
    /// `waitv`, and a key added while the bridge sleeps on the other).
    #[test]
    fn bridge_two_words() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(1);
        b.check(|| {
            let bridge = leak(Bridge::new(false));
            let flags = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
            let server = thread::spawn(move || bridge.serve(0));
            let f2 = flags.clone();
            let task = thread::spawn(move || wait_for(bridge, &f2[1]));
            let f3 = flags.clone();
            let setter = thread::spawn(move || {
                for f in f3.iter() {
                    f.store(1, SeqCst);
                    futex::wake_all::<Private>(f);
                }
            });
            wait_for(bridge, &flags[0]);
            task.join().unwrap();
            setter.join().unwrap();
            bridge.stop();
            server.join().unwrap();
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sys::Private;
    use std::sync::mpsc;

    /// A waker that sends its number on a channel.
    struct Send(usize, std::sync::Mutex<mpsc::Sender<usize>>);
    impl std::task::Wake for Send {
        fn wake(self: std::sync::Arc<Self>) {
            let _ = self.1.lock().unwrap().send(self.0);
        }
    }

    /// More distinct words than one bridge thread can wait on (300 > 127):
    /// further threads start, and every waiter is woken when its word
    /// moves, including after removals have moved keys between threads'
    /// shares.
    #[test]
    fn many_words_need_several_threads() {
        const N: usize = 300;
        let words: &'static [AtomicU32] = Box::leak(
            (0..N)
                .map(|_| AtomicU32::new(0))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let (tx, rx) = mpsc::channel();
        let mut waits: Vec<BridgeWait> = (0..N)
            .map(|i| {
                let waker = Waker::from(std::sync::Arc::new(Send(
                    i,
                    std::sync::Mutex::new(tx.clone()),
                )));
                let mut w = BridgeWait::new();
                assert!(w.register(&words[i], 0, false, Deadline::Never, &waker));
                w
            })
            .collect();
        // Withdraw every third waiter (keys move between shares).
        for (i, w) in waits.iter_mut().enumerate() {
            if i % 3 == 0 {
                w.finish();
            }
        }
        for (i, word) in words.iter().enumerate() {
            if i % 3 != 0 {
                word.store(1, SeqCst);
                futex::wake_all::<Private>(word);
            }
        }
        let mut woken = vec![false; N];
        for _ in 0..N - N.div_ceil(3) {
            woken[rx.recv().unwrap()] = true;
        }
        assert!((0..N).all(|i| woken[i] == (i % 3 != 0)));
        drop(waits);
    }

    /// A word that has moved is refused; a re-check time wakes a waiter
    /// whose word has not moved.
    #[test]
    fn refused_and_recheck() {
        let word: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(5)));
        let (tx, rx) = mpsc::channel();
        let waker = Waker::from(std::sync::Arc::new(Send(7, std::sync::Mutex::new(tx))));
        let mut w = BridgeWait::new();
        assert!(!w.register(word, 4, true, Deadline::Never, &waker));
        let at = Deadline::after(std::time::Duration::from_millis(2));
        assert!(w.register(word, 5, true, at, &waker));
        assert_eq!(rx.recv().unwrap(), 7);
        assert!(at.expired());
    }
}
