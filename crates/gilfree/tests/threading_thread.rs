//! `gilfree::threading::Thread` against the scenarios of CPython's
//! `Lib/test/test_threading.py` that apply to Rust (named after the Python
//! test where there is one), plus join/excepthook/registry tests and a
//! stress test of many joiners per thread.
//!
//! Tests run concurrently in one process, so none counts all threads: they
//! look for their own threads in `enumerate()`. Tests that replace the
//! process-wide excepthook hold `HOOK_TESTS`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use gilfree::threading::{
    Error, ExceptHookArgs, Lock, Runnable, Thread, active_count, current_thread,
    default_excepthook, enumerate, excepthook, get_ident, get_native_id, main_thread,
    set_excepthook, wait_for_non_daemon_threads,
};

static HOOK_TESTS: Mutex<()> = Mutex::new(());

fn hook_lock() -> std::sync::MutexGuard<'static, ()> {
    HOOK_TESTS.lock().unwrap_or_else(|e| e.into_inner())
}

fn func() {}

/// Python's `int(s)` for the `N` of `Thread-N`.
fn thread_number(name: &str) -> u64 {
    let rest = name.strip_prefix("Thread-").expect(name);
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().expect(name)
}

#[test]
fn test_name() {
    let t = Thread::builder().name("myname1").target(func);
    assert_eq!(t.name(), "myname1");
    // Python: name=123 becomes "123".
    let t = Thread::builder().name(123.to_string()).target(func);
    assert_eq!(t.name(), "123");
    // The target's name is ignored if a name is given.
    let t = Thread::builder().name("myname2").target(func);
    assert_eq!(t.name(), "myname2");
    // An empty name means the default.
    let t = Thread::builder().name("").target(func);
    assert!(t.name().starts_with("Thread-"), "{}", t.name());
    // Default numbering: Thread-N (target), N increasing.
    let a = Thread::new(func);
    let b = Thread::new(func);
    assert!(a.name().ends_with(" (func)"), "{}", a.name());
    assert!(thread_number(b.name()) > thread_number(a.name()));
    // A Runnable (a subclass without target) is just Thread-N.
    struct R;
    impl Runnable for R {
        fn run(self) {}
    }
    let r = Thread::from_runnable(R);
    assert!(!r.name().contains(' '), "{}", r.name());
    assert!(thread_number(r.name()) > thread_number(b.name()));
    // A closure is named after the function it was written in.
    let c = Thread::new(|| ());
    assert!(
        c.name().ends_with("(<closure in test_name>)"),
        "{}",
        c.name()
    );
}

/// Python's `TestThread`: a Runnable that checks that no more than 3 run
/// inside the guarded region at once (a Lock-protected counter stands in
/// for Python's BoundedSemaphore).
struct TestThread {
    running: Arc<Lock<usize>>,
    max_seen: Arc<AtomicUsize>,
}

impl Runnable for TestThread {
    fn run(self) {
        let mut g = self.running.acquire();
        *g += 1;
        self.max_seen.fetch_max(*g, Ordering::SeqCst);
        *g -= 1;
    }
}

fn various_ops(stack_size: Option<usize>) {
    const NUMTASKS: usize = 10;
    let running = Arc::new(Lock::new(0usize));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for i in 0..NUMTASKS {
        let mut b = Thread::builder().name(format!("<thread {i}>"));
        if let Some(s) = stack_size {
            b = b.stack_size(s);
        }
        let t = b.runnable(TestThread {
            running: running.clone(),
            max_seen: max_seen.clone(),
        });
        assert_eq!(t.ident(), None);
        assert_eq!(t.native_id(), None);
        let r = format!("{t:?}");
        assert!(
            r.starts_with("<Thread(<thread ") && r.contains(", initial"),
            "{r}"
        );
        t.start().unwrap();
        threads.push(t);
    }
    let mut native: Vec<u64> = threads.iter().map(|t| t.native_id().unwrap()).collect();
    native.push(get_native_id());
    native.sort();
    native.dedup();
    assert_eq!(native.len(), NUMTASKS + 1, "native ids are distinct");
    for t in &threads {
        t.join().unwrap();
        assert!(!t.is_alive());
        assert!(t.ident().unwrap() != 0);
        let r = format!("{t:?}");
        assert!(r.contains(", stopped ") && r.ends_with(")>"), "{r}");
    }
    assert_eq!(*running.acquire(), 0);
    assert!(max_seen.load(Ordering::SeqCst) >= 1);
}

#[test]
fn test_various_ops() {
    various_ops(None);
}

#[test]
fn test_various_ops_small_stack() {
    various_ops(Some(256 * 1024));
}

#[test]
fn test_various_ops_large_stack() {
    various_ops(Some(1024 * 1024));
}

#[test]
fn test_ident_of_no_threading_threads() {
    // ident works for threads gilfree did not start.
    assert!(current_thread().ident().is_some());
    let (ident, tid) = std::thread::spawn(|| (current_thread().ident(), get_ident()))
        .join()
        .unwrap();
    assert_eq!(ident, Some(tid));
}

#[test]
fn test_foreign_thread() {
    // A foreign thread that calls current_thread() is listed, as a live,
    // daemonic _DummyThread; gilfree also unlists it when it exits.
    let (tx, rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let h = std::thread::spawn(move || {
        tx.send(current_thread()).unwrap();
        go_rx.recv().unwrap();
    });
    let dummy = rx.recv().unwrap();
    assert!(enumerate().contains(&dummy));
    assert!(dummy.is_alive());
    assert!(dummy.is_daemon());
    assert!(dummy.name().starts_with("Dummy-"));
    assert!(format!("{dummy:?}").starts_with("<_DummyThread("));
    go_tx.send(()).unwrap();
    // Joining a dummy thread waits for its OS thread to finish.
    dummy.join().unwrap();
    assert!(!dummy.is_alive());
    assert!(!enumerate().contains(&dummy));
    h.join().unwrap();
}

#[test]
fn test_enumerate_after_join() {
    // bpo-1703448: a joined thread is never still in enumerate().
    for _ in 0..100 {
        let t = Thread::new(|| ());
        t.start().unwrap();
        t.join().unwrap();
        assert!(!enumerate().contains(&t));
    }
}

#[test]
fn enumerate_and_active_count_list_a_running_thread() {
    let gate = Arc::new(Lock::new(()));
    let held = gate.acquire();
    let g = gate.clone();
    let t = Thread::new(move || drop(g.acquire()));
    t.start().unwrap();
    let listed = enumerate();
    assert!(listed.contains(&t));
    assert!(listed.contains(&main_thread()));
    assert_eq!(listed[0], main_thread(), "the main thread comes first");
    assert!(active_count() >= 2);
    drop(held);
    t.join().unwrap();
    assert!(!enumerate().contains(&t));
}

#[test]
fn test_repr_daemon() {
    let t = Thread::builder().daemon(false).target(func);
    assert!(!format!("{t:?}").contains("daemon"));
    let t = Thread::builder().daemon(true).target(func);
    assert!(format!("{t:?}").contains("daemon"));
}

#[test]
fn test_daemon_param() {
    assert!(!Thread::builder().daemon(false).target(func).is_daemon());
    assert!(Thread::builder().daemon(true).target(func).is_daemon());
    // The default is the creating thread's flag: a test thread is a
    // foreign (dummy, daemonic) thread...
    assert!(current_thread().is_daemon());
    assert!(Thread::new(func).is_daemon());
    // ...and a non-daemon gilfree thread makes non-daemon threads.
    let t = Thread::builder()
        .daemon(false)
        .target(|| Thread::new(func).is_daemon());
    t.start().unwrap();
    assert!(!*t.join().unwrap());
}

#[test]
fn test_main_thread() {
    let main = main_thread();
    assert_eq!(main.name(), "MainThread");
    assert!(main.is_alive());
    assert!(!main.is_daemon());
    assert!(format!("{main:?}").starts_with("<_MainThread(MainThread, started"));
    // Test threads are not the main thread.
    assert_ne!(main.ident(), current_thread().ident());
    assert_ne!(main.ident(), Some(get_ident()));
    let t = Thread::new(|| main_thread().ident() != current_thread().ident());
    t.start().unwrap();
    assert!(*t.join().unwrap());
}

#[test]
fn test_start_thread_again() {
    let t = Thread::new(func);
    t.start().unwrap();
    assert_eq!(t.start(), Err(Error::AlreadyStarted));
    t.join().unwrap();
    assert_eq!(t.start(), Err(Error::AlreadyStarted));
    // The main thread and foreign threads are started already.
    assert_eq!(main_thread().start(), Err(Error::AlreadyStarted));
    assert_eq!(current_thread().start(), Err(Error::AlreadyStarted));
}

#[test]
fn test_joining_current_thread() {
    assert_eq!(current_thread().join(), Err(Error::JoinSelf));
    assert_eq!(
        current_thread().join_timeout(Duration::from_millis(1)),
        Err(Error::JoinSelf)
    );
    let t = Thread::new(|| current_thread().join().err());
    t.start().unwrap();
    assert_eq!(*t.join().unwrap(), Some(Error::JoinSelf));
}

#[test]
fn test_joining_inactive_thread() {
    let t = Thread::new(func);
    assert_eq!(t.join(), Err(Error::NotStarted));
    assert_eq!(
        t.join_timeout(Duration::from_millis(1)),
        Err(Error::NotStarted)
    );
    assert!(t.into_result().is_err());
}

#[test]
fn join_hands_back_the_value() {
    let t = Thread::new(|| vec![1, 2, 3]);
    t.start().unwrap();
    assert_eq!(t.join().unwrap(), &[1, 2, 3]);
    // Joining again is fine and sees the same value, as Python allows.
    assert_eq!(t.join().unwrap(), &[1, 2, 3]);
    assert_eq!(t.into_result().unwrap(), vec![1, 2, 3]);
}

#[test]
fn join_timeout_on_a_running_thread() {
    let gate = Arc::new(Lock::new(()));
    let held = gate.acquire();
    let g = gate.clone();
    let t = Thread::new(move || {
        drop(g.acquire());
        "out"
    });
    t.start().unwrap();
    assert_eq!(t.join_timeout(Duration::ZERO), Ok(None));
    assert_eq!(t.join_timeout(Duration::from_millis(20)), Ok(None));
    assert!(t.is_alive());
    drop(held);
    assert_eq!(t.join_timeout(Duration::MAX), Ok(Some(&"out")));
    assert!(!t.is_alive());
    assert_eq!(t.join_timeout(Duration::ZERO), Ok(Some(&"out")));
}

#[test]
fn handles_join_the_same_thread() {
    let gate = Arc::new(Lock::new(()));
    let held = gate.acquire();
    let g = gate.clone();
    let t = Thread::new(move || drop(g.acquire()));
    let h = t.handle();
    assert_eq!(h, t);
    t.start().unwrap();
    assert!(h.is_alive());
    assert_eq!(h.ident(), t.ident());
    let joiner = std::thread::spawn(move || h.join().map(|_| ()));
    drop(held);
    joiner.join().unwrap().unwrap();
    t.join().unwrap();
}

#[test]
fn ident_and_native_id_are_the_threads_own() {
    let t = Thread::new(|| {
        (
            get_ident(),
            get_native_id(),
            current_thread().name().to_owned(),
        )
    });
    t.start().unwrap();
    let (ident, native, name) = t.join().unwrap().clone();
    assert_eq!(t.ident(), Some(ident));
    assert_eq!(t.native_id(), Some(native));
    assert_eq!(name, t.name());
    assert_ne!(ident, get_ident());
}

#[test]
fn runnable_runs_once() {
    struct Push(Arc<Lock<Vec<String>>>);
    impl Runnable for Push {
        fn run(self) {
            self.0.acquire().push(current_thread().name().to_owned());
        }
    }
    let log = Arc::new(Lock::new(Vec::new()));
    let t = Thread::builder().name("pusher").runnable(Push(log.clone()));
    t.start().unwrap();
    t.join().unwrap();
    assert_eq!(*log.acquire(), ["pusher"]);
}

#[test]
fn spawn_builds_and_starts() {
    let t = Thread::builder().name("s").spawn(|| 9).unwrap();
    assert_eq!(t.into_result(), Ok(9));
}

#[test]
fn non_daemon_threads_are_waited_for() {
    let done = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Lock::new(()));
    let held = gate.acquire();
    for _ in 0..3 {
        let (d, g) = (done.clone(), gate.clone());
        Thread::builder()
            .daemon(false)
            .spawn(move || {
                drop(g.acquire());
                d.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
    }
    // A daemon thread that never ends is not waited for.
    let forever = Arc::new(Lock::new(()));
    let f = forever.clone();
    let forever_held = forever.acquire();
    Thread::builder()
        .daemon(true)
        .spawn(move || drop(f.acquire()))
        .unwrap();
    drop(held);
    wait_for_non_daemon_threads();
    assert_eq!(done.load(Ordering::SeqCst), 3);
    drop(forever_held);
}

// ---------------------------------------------------------------- excepthook

#[test]
fn test_excepthook() {
    // Default hook: join reports the panic; the hook's text names the
    // thread.
    let _serial = hook_lock();
    set_excepthook(default_excepthook);
    let t = Thread::builder()
        .name("excepthook thread")
        .target(|| -> () { panic!("run failed") });
    t.start().unwrap();
    assert_eq!(
        t.join(),
        Err(Error::ThreadPanicked {
            name: "excepthook thread".into(),
            message: "run failed".into()
        })
    );
    assert!(!t.is_alive());
}

#[test]
fn test_excepthook_thread_none() {
    let args = ExceptHookArgs {
        thread: None,
        message: "bug".into(),
        location: Some("src/x.rs:1:2".into()),
        payload: &"bug",
    };
    let text = args.to_string();
    assert!(
        text.starts_with(&format!("Exception in thread {}:\n", get_ident())),
        "{text}"
    );
    assert!(text.contains("src/x.rs:1:2"));
    assert!(text.ends_with("bug"));
}

#[test]
fn test_custom_excepthook() {
    let _serial = hook_lock();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    set_excepthook(move |args| {
        *s.lock().unwrap() = Some((
            args.thread.clone(),
            args.message.clone(),
            args.location.clone(),
            args.payload.downcast_ref::<String>().cloned(),
            args.to_string(),
        ));
    });
    let t = Thread::builder().name("custom").target(|| -> () {
        let what = String::from("failed");
        panic!("run {what}")
    });
    t.start().unwrap();
    assert!(matches!(t.join(), Err(Error::ThreadPanicked { .. })));
    set_excepthook(default_excepthook);
    let (thread, message, location, payload, text) = seen.lock().unwrap().take().unwrap();
    assert_eq!(thread.unwrap(), t);
    assert_eq!(message, "run failed");
    assert!(location.unwrap().contains("threading_thread.rs"));
    assert_eq!(payload.as_deref(), Some("run failed"));
    assert!(text.starts_with("Exception in thread custom:\n"), "{text}");
    assert!(text.ends_with("run failed"));
}

#[test]
fn test_custom_excepthook_fail() {
    // A hook that panics itself is reported and does not disturb join.
    let _serial = hook_lock();
    set_excepthook(|_| panic!("threading_hook failed"));
    let t = Thread::new(|| -> () { panic!("run failed") });
    t.start().unwrap();
    let r = t.join();
    set_excepthook(default_excepthook);
    assert!(matches!(r, Err(Error::ThreadPanicked { message, .. }) if message == "run failed"));
}

#[test]
fn test_original_excepthook() {
    // The getter returns what is installed; the default can be restored.
    let _serial = hook_lock();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    set_excepthook(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    let current = excepthook();
    let payload: &(dyn std::any::Any + Send) = &"x";
    current(&ExceptHookArgs {
        thread: None,
        message: "x".into(),
        location: None,
        payload,
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let t = Thread::new(|| -> () { panic!("counted") });
    t.start().unwrap();
    assert!(t.join().is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    set_excepthook(default_excepthook);
    let t = Thread::new(|| -> () { panic!("not counted") });
    t.start().unwrap();
    assert!(t.join().is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_panic_leaves_other_threads_and_locks_working() {
    let _serial = hook_lock();
    set_excepthook(|_| {});
    let lock = Arc::new(Lock::new(0));
    let l = lock.clone();
    let t = Thread::new(move || {
        let _g = l.acquire();
        panic!("while holding the lock");
    });
    t.start().unwrap();
    assert!(t.join().is_err());
    set_excepthook(default_excepthook);
    // No poisoning: the guard released on unwind.
    *lock.acquire() += 1;
    assert_eq!(*lock.acquire(), 1);
}

// ------------------------------------------------------------------ stress

/// Many short threads, each joined at once by several waiters (blocking,
/// timed and polling): every joiner sees the thread's own value, no joiner
/// hangs (a lost wake-up would hang the test), and none is left alive.
fn join_stress(threads: usize, joiners: usize) {
    for i in 0..threads {
        let t = Arc::new(Thread::new(move || i * 3));
        let hs: Vec<_> = (0..joiners)
            .map(|j| {
                let t = t.clone();
                std::thread::spawn(move || {
                    // Until `start` has claimed the thread, join says
                    // NotStarted.
                    while t.join_timeout(Duration::ZERO) == Err(Error::NotStarted) {
                        std::thread::yield_now();
                    }
                    match j % 3 {
                        0 => *t.join().unwrap(),
                        1 => loop {
                            if let Some(v) = t.join_timeout(Duration::from_micros(100)).unwrap() {
                                break *v;
                            }
                        },
                        _ => loop {
                            match t.join_timeout(Duration::ZERO) {
                                Ok(Some(v)) => break *v,
                                Ok(None) => std::thread::yield_now(),
                                Err(e) => panic!("{e}"),
                            }
                        },
                    }
                })
            })
            .collect();
        t.start().unwrap();
        for h in hs {
            assert_eq!(h.join().unwrap(), i * 3);
        }
        assert!(!t.is_alive());
    }
}

#[test]
fn stress_many_joiners() {
    join_stress(200, 4);
}

#[test]
#[ignore = "long stress; run with --ignored"]
fn stress_many_joiners_long() {
    join_stress(5_000, 6);
}

/// The default hook's real output, seen from outside: this test runs
/// itself again in a child process (`GILFREE_EXCEPTHOOK_CHILD` set), whose
/// stderr must carry Python's `Exception in thread NAME:` report, and not
/// Rust's own panic message.
#[test]
fn test_excepthook_default_output() {
    if std::env::var_os("GILFREE_EXCEPTHOOK_CHILD").is_some() {
        let t = Thread::builder()
            .name("excepthook thread")
            .target(|| -> () { panic!("run failed") });
        t.start().unwrap();
        assert!(t.join().is_err());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "test_excepthook_default_output",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("GILFREE_EXCEPTHOOK_CHILD", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Exception in thread excepthook thread:\npanicked at "),
        "{err}"
    );
    assert!(err.contains("threading_thread.rs"), "{err}");
    assert!(err.contains("\nrun failed"), "{err}");
    assert!(!err.contains("thread 'excepthook thread'"), "{err}");
}
