//! `multiprocessing::Manager` with real processes under every start
//! method: every proxy type used from a child, exact counts under a managed
//! `Lock`, TCP and Unix sockets, `connect` from an unrelated process, and
//! the fault cases (wrong key, silent clients, random bytes, a client or
//! the server SIGKILLed). `harness = false`: `main` calls `init()` first,
//! as children re-execute this binary; cases run one at a time on main.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use gilfree::multiprocessing::manager::{
    Array, Barrier, BoundedSemaphore, Condition, Dict, Error, Event, JoinableQueue, List, Lock,
    Namespace, Proxy, Queue, RLock, Semaphore, Shared, Value,
};
use gilfree::multiprocessing::{
    Address, Client, Connection, Listener, Manager, Pipe, Process, StartMethod, get_context,
};
use libtest_mimic::{Arguments, Failed, Trial};

mod alone;

/// Generous: the machine is shared and busy; hitting it means a bug.
const PATIENCE: Duration = Duration::from_secs(120);

fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

fn tcp_any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn start(m: StartMethod) -> Result<Manager, Failed> {
    Ok(Manager::builder().start_method(m).start()?)
}

/// The data proxies a child works on.
type Data = (
    Dict<String, i32>,
    List<i32>,
    Namespace,
    Value<u64>,
    Queue<String>,
    JoinableQueue<u32>,
    Array<u8>,
);

/// The synchronisation proxies a child works on.
type Sync = (
    Lock,
    RLock,
    Semaphore,
    BoundedSemaphore,
    Event,
    Condition,
    Barrier,
);

/// Uses every proxy type's methods from a child; the parent checks the
/// effects. Returns what the child read.
#[gilfree::task]
fn exercise(data: Data, sync: Sync) -> Result<Vec<String>, String> {
    let (d, l, ns, v, q, jq, a) = data;
    let (lock, rlock, sem, bsem, ev, cond, bar) = sync;
    let e = |e: Error| e.to_string();
    let mut seen = Vec::new();
    // dict
    seen.push(format!("{:?}", d.get(&"parent".into()).map_err(e)?));
    d.set(&"child".into(), &2).map_err(e)?;
    d.update([("a".to_string(), 10), ("b".to_string(), 20)])
        .map_err(e)?;
    d.del(&"a".into()).map_err(e)?;
    seen.push(format!("{:?}", d.pop(&"b".into()).map_err(e)?));
    seen.push(format!(
        "{}",
        d.setdefault(&"parent".into(), &99).map_err(e)?
    ));
    seen.push(format!("{}", d.contains(&"child".into()).map_err(e)?));
    // list
    l.append(&4).map_err(e)?;
    l.extend([5, 6, 7]).map_err(e)?;
    l.insert(0, &0).map_err(e)?;
    seen.push(format!("{}", l.pop(-1).map_err(e)?));
    l.remove(&5).map_err(e)?;
    l.set(1, &1).map_err(e)?;
    seen.push(format!(
        "{} {} {}",
        l.index(&6).map_err(e)?,
        l.count(&6).map_err(e)?,
        l.len().map_err(e)?
    ));
    // namespace, value
    ns.set("child", &vec!["x".to_string()]).map_err(e)?;
    seen.push(ns.get::<String>("parent").map_err(e)?);
    v.set(&(v.get().map_err(e)? + 1)).map_err(e)?;
    a.set(0, &(a.get(-1).map_err(e)? + a.len().map_err(e)? as u8))
        .map_err(e)?;
    // queues
    seen.push(q.get_timeout(PATIENCE).map_err(e)?);
    q.put(&"from child".into()).map_err(e)?;
    let n = jq.get().map_err(e)?;
    jq.task_done().map_err(e)?;
    seen.push(n.to_string());
    // locks and semaphores
    {
        let _g = lock.acquire().map_err(e)?;
        let _a = rlock.acquire().map_err(e)?;
        let _b = rlock.acquire().map_err(e)?;
        let _s = sem.acquire().map_err(e)?;
    }
    seen.push(format!(
        "{}",
        matches!(bsem.release(), Err(Error::TooManyReleases))
    ));
    // event, then the barrier and condition handshake with the parent
    seen.push(format!("{}", ev.wait_timeout(PATIENCE).map_err(e)?));
    let g = cond.acquire().map_err(e)?;
    seen.push(format!("{}", bar.wait_timeout(PATIENCE).map_err(e)?));
    seen.push(format!("{}", cond.wait_timeout(PATIENCE).map_err(e)?));
    drop(g);
    Ok(seen)
}

fn every_proxy_across_processes(m: StartMethod) -> Result<(), Failed> {
    let mgr = start(m)?;
    let d = mgr.dict::<String, i32>()?;
    d.set(&"parent".into(), &1)?;
    let l = mgr.list_from([9, 8])?;
    let ns = mgr.namespace()?;
    ns.set("parent", &"hello")?;
    let v = mgr.value(&41u64)?;
    let q = mgr.queue::<String>(0)?;
    let jq = mgr.joinable_queue::<u32>(1)?;
    let sync = (
        mgr.lock()?,
        mgr.rlock()?,
        mgr.semaphore(1)?,
        mgr.bounded_semaphore(1)?,
        mgr.event()?,
        mgr.condition()?,
        mgr.barrier(2)?,
    );
    let a = mgr.array([0u8, 0, 40])?;
    let data = (
        d.clone(),
        l.clone(),
        ns.clone(),
        v.clone(),
        q.clone(),
        jq.clone(),
        a.clone(),
    );
    let p = get_context(m).process(exercise::TASK, (data, sync.clone()))?;
    p.start()?;
    q.put(&"from parent".into())?;
    jq.put(&7)?;
    sync.4.set()?;
    // The child holds the condition's lock until it waits on it.
    check(sync.6.wait_timeout(PATIENCE)? < 2, "barrier index")?;
    let g = sync.5.acquire()?;
    check(sync.5.notify(1)? == 1, "one waiter notified")?;
    drop(g);
    let seen = p.result()?.map_err(Failed::from)?;
    let want = [
        "Some(1)",
        "Some(20)",
        "1",
        "true",
        "7",
        "4 1 5",
        "hello",
        "from parent",
        "7",
        "true",
        "true",
    ];
    check(seen[..11] == want, format!("child saw {seen:?}"))?;
    check(seen[12] == "true", format!("notified: {seen:?}"))?;
    check(
        d.items()? == vec![("parent".into(), 1), ("child".into(), 2)],
        format!("{:?}", d.items()?),
    )?;
    check(
        l.snapshot()? == vec![0, 1, 8, 4, 6],
        format!("{:?}", l.snapshot()?),
    )?;
    check(ns.get::<Vec<String>>("child")? == ["x"], "namespace")?;
    check(ns.names()? == ["child", "parent"], "names")?;
    check(v.get()? == 42, "value")?;
    check(
        a.snapshot()? == [43, 0, 40],
        format!("array {:?}", a.snapshot()?),
    )?;
    check(q.get_timeout(PATIENCE)? == "from child", "queue back")?;
    jq.join_timeout(PATIENCE)?;
    check(!sync.0.locked()?, "lock released")?;
    check(sync.2.try_acquire()?.is_some(), "semaphore released")?;
    mgr.shutdown()?;
    Ok(())
}

#[gilfree::task]
fn add_locked(
    counter: Value<u64>,
    lock: Lock,
    log: List<u32>,
    me: u32,
    n: u32,
) -> Result<(), String> {
    for _ in 0..n {
        let _g = lock.acquire().map_err(|e| e.to_string())?;
        let c = counter.get().map_err(|e| e.to_string())?;
        counter.set(&(c + 1)).map_err(|e| e.to_string())?;
    }
    log.append(&me).map_err(|e| e.to_string())
}

fn four_processes_exact_count(m: StartMethod) -> Result<(), Failed> {
    let mgr = start(m)?;
    let (counter, lock, log) = (mgr.value(&0u64)?, mgr.lock()?, mgr.list::<u32>()?);
    let n = 150;
    let ps = (0..4)
        .map(|i| {
            get_context(m).process(
                add_locked::TASK,
                (counter.clone(), lock.clone(), log.clone(), i, n),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    for p in &ps {
        p.start()?;
    }
    for p in &ps {
        p.result()?.map_err(Failed::from)?;
    }
    check(
        counter.get()? == 4 * u64::from(n),
        format!("count {}", counter.get()?),
    )?;
    let mut who = log.snapshot()?;
    who.sort_unstable();
    check(who == [0, 1, 2, 3], format!("{who:?}"))
}

#[gilfree::task]
fn produce(q: Queue<Option<u32>>, from: u32, n: u32) -> Result<(), String> {
    for i in from..from + n {
        q.put(&Some(i)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[gilfree::task]
fn consume(q: Queue<Option<u32>>) -> Result<Vec<u32>, String> {
    let mut got = Vec::new();
    while let Some(i) = q.get_timeout(PATIENCE).map_err(|e| e.to_string())? {
        got.push(i);
    }
    Ok(got)
}

/// Two producer and two consumer processes on a bounded managed queue:
/// every item arrives exactly once.
fn queue_stress_nothing_lost(m: StartMethod) -> Result<(), Failed> {
    let mgr = start(m)?;
    let q = mgr.queue::<Option<u32>>(8)?;
    let n = 300;
    let ctx = get_context(m);
    let producers = (0..2)
        .map(|k| ctx.process(produce::TASK, (q.clone(), k * n, n)))
        .collect::<Result<Vec<_>, _>>()?;
    let consumers = (0..2)
        .map(|_| ctx.process(consume::TASK, (q.clone(),)))
        .collect::<Result<Vec<_>, _>>()?;
    for p in &producers {
        p.start()?;
    }
    for c in &consumers {
        c.start()?;
    }
    for p in &producers {
        p.result()?.map_err(Failed::from)?;
    }
    q.put(&None)?;
    q.put(&None)?;
    let mut all = Vec::new();
    for c in &consumers {
        all.extend(c.result()?.map_err(Failed::from)?);
    }
    all.sort_unstable();
    check(
        all == (0..2 * n).collect::<Vec<_>>(),
        format!("{} items, not each once", all.len()),
    )
}

/// A nested proxy: a list stored in a dict, reached by the child through
/// the dict.
#[gilfree::task]
fn append_through(d: Dict<String, List<String>>) -> Result<(), String> {
    let l = d
        .get(&"inner".into())
        .map_err(|e| e.to_string())?
        .ok_or("no inner")?;
    l.append(&"child".into()).map_err(|e| e.to_string())
}

fn nested_proxies(m: StartMethod) -> Result<(), Failed> {
    let mgr = start(m)?;
    let d = mgr.dict::<String, List<String>>()?;
    let inner = mgr.list::<String>()?;
    d.set(&"inner".into(), &inner)?;
    let p = get_context(m).process(append_through::TASK, (d,))?;
    p.start()?;
    p.result()?.map_err(Failed::from)?;
    check(
        inner.snapshot()? == ["child"],
        "the child appended to the inner list",
    )
}

#[gilfree::task]
fn hold_lock(lock: Lock, c: Connection) {
    let _held = lock.acquire().unwrap();
    c.send("held").unwrap();
    loop {
        std::thread::park();
    }
}

fn client_killed_holding_lock(m: StartMethod) -> Result<(), Failed> {
    let mgr = start(m)?;
    let lock = mgr.lock()?;
    let (mine, theirs) = Pipe(true)?;
    let p = get_context(m).process(hold_lock::TASK, (lock.clone(), theirs))?;
    p.start()?;
    check(mine.recv::<String>()? == "held", "child holds the lock")?;
    check(lock.try_acquire()?.is_none(), "held by the child")?;
    p.kill()?;
    p.join()?;
    let g = lock.acquire_timeout(PATIENCE)?;
    check(g.is_some(), "released when its holder died")
}

#[gilfree::task]
fn get_forever(q: Queue<u32>, c: Connection) {
    q.qsize().unwrap(); // connected: the get below is one frame away
    c.send("waiting").unwrap();
    let _ = q.get();
}

/// A client killed while its `get` waits on the server takes nothing: the
/// next item goes to a live client.
fn client_killed_waiting_takes_nothing(m: StartMethod) -> Result<(), Failed> {
    let mgr = start(m)?;
    let q = mgr.queue::<u32>(0)?;
    let (mine, theirs) = Pipe(true)?;
    let p = get_context(m).process(get_forever::TASK, (q.clone(), theirs))?;
    p.start()?;
    check(
        mine.recv::<String>()? == "waiting",
        "the child is about to get",
    )?;
    p.kill()?;
    p.join()?;
    q.put(&5)?;
    let got = q.get_timeout(PATIENCE);
    check(
        matches!(got, Ok(5)),
        format!("the live client gets the item: {got:?}"),
    )
}

fn server_killed_calls_fail(m: StartMethod) -> Result<(), Failed> {
    let mgr = start(m)?;
    let (d, q) = (mgr.dict::<u8, u8>()?, mgr.queue::<u8>(0)?);
    d.set(&1, &1)?;
    let q2 = q.clone();
    let blocked = std::thread::spawn(move || q2.get_timeout(PATIENCE));
    let pid = mgr.pid().ok_or("a server process")?;
    // SAFETY: kill(2) on the server's pid; no memory is involved.
    check(unsafe { libc::kill(pid, libc::SIGKILL) } == 0, "kill")?;
    let r = blocked.join().unwrap();
    check(
        matches!(r, Err(Error::ServerGone { .. })),
        format!("blocked get: {r:?}"),
    )?;
    let r = d.get(&1);
    check(
        matches!(r, Err(Error::ServerGone { .. })),
        format!("get: {r:?}"),
    )?;
    let msg = r.unwrap_err().to_string();
    check(msg.contains("is gone"), msg)?;
    drop(mgr); // joins the dead server
    Ok(())
}

/// A proxy used after fork (the parent's connection is not shared). Run
/// alone: the fork closure needs a single-threaded parent, and earlier
/// cases leave threads behind when they share one process (`cargo test`).
fn used_after_fork(_: StartMethod) -> Result<(), Failed> {
    alone::run("used_after_fork", || {
        let mgr = start(StartMethod::Fork)?;
        let l = mgr.list::<u32>()?;
        l.append(&1)?; // the parent now holds a pooled connection
        let child = l.clone();
        let p = Process::builder()
            .start_method(StartMethod::Fork)
            .fork_closure(move || {
                child.append(&2).unwrap();
                child.len().unwrap()
            });
        p.start()?;
        check(p.result()? == 2, "the child's view")?;
        l.append(&3)?;
        check(l.snapshot()? == [1, 2, 3], format!("{:?}", l.snapshot()?))
    })
}

fn tcp_and_unix_addresses(_: StartMethod) -> Result<(), Failed> {
    use std::os::unix::fs::PermissionsExt;
    let tcp = Manager::builder()
        .address(tcp_any())
        .authkey(b"k")
        .start()?;
    check(
        matches!(tcp.address(), Address::Tcp(a) if a.port() != 0),
        "tcp port",
    )?;
    let d = tcp.dict::<u8, u8>()?;
    d.set(&1, &2)?;
    check(d.get(&1)? == Some(2), "tcp round trip")?;
    let unix = Manager::start()?;
    let Address::Unix(path) = unix.address().clone() else {
        return Err("a unix socket by default".into());
    };
    let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
    check(mode == 0o600, format!("socket mode {mode:o}"))?;
    let v = unix.value(&"x".to_string())?;
    check(v.get()? == "x", "unix round trip")?;
    unix.shutdown()?;
    check(!path.exists(), "the socket is removed at shutdown")
}

/// Serves a manager in this process (one nobody `start`ed), after
/// telling the parent where.
#[gilfree::task]
fn serve_here(path: std::path::PathBuf, key: Vec<u8>, c: Connection) {
    let server = Manager::server(path, &key).unwrap();
    c.send(&format!("{:?}", server.address())).unwrap();
    server.serve_forever().unwrap();
}

fn serve_in_a_plain_process(m: StartMethod) -> Result<(), Failed> {
    let dir = std::env::temp_dir().join(format!("gf-mgr-serve-{}-{m}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("socket");
    let (mine, theirs) = Pipe(true)?;
    let p = get_context(m).process(serve_here::TASK, (path.clone(), b"k2".to_vec(), theirs))?;
    p.start()?;
    let said: String = mine.recv()?;
    check(said.contains("socket"), said)?;
    let mgr = Manager::connect(path.clone(), b"k2")?;
    let d = mgr.dict::<String, String>()?;
    d.set(&"k".into(), &"v".into())?;
    check(d.get(&"k".into())? == Some("v".into()), "served")?;
    p.kill()?;
    p.join()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Connects with only an address and a key; returns a proxy it made.
#[gilfree::task]
fn connect_and_make(address: SocketAddr, key: Vec<u8>) -> Result<Dict<String, u32>, String> {
    let m = Manager::connect(address, &key).map_err(|e| e.to_string())?;
    let d = m.dict().map_err(|e| e.to_string())?;
    d.set(&"made by".into(), &std::process::id())
        .map_err(|e| e.to_string())?;
    Ok(d)
}

fn connect_from_another_process(m: StartMethod) -> Result<(), Failed> {
    let mgr = Manager::builder()
        .address(tcp_any())
        .authkey(b"shared secret")
        .start_method(m)
        .start()?;
    let Address::Tcp(a) = mgr.address().clone() else {
        unreachable!()
    };
    let p = get_context(m).process(connect_and_make::TASK, (a, b"shared secret".to_vec()))?;
    p.start()?;
    let pid = p.pid().ok_or("pid")?;
    let d = p.result()?.map_err(Failed::from)?;
    check(
        d.get(&"made by".into())? == Some(pid as u32),
        "the child's dict, read here",
    )
}

/// A manager's private socket and its directory go with it: a server
/// process's at `shutdown`, an in-thread server's when its handle drops.
fn private_socket_removed(m: StartMethod) -> Result<(), Failed> {
    for in_thread in [false, true] {
        let mgr = if in_thread {
            Manager::start_in_thread()?
        } else {
            Manager::builder().start_method(m).start()?
        };
        let Address::Unix(path) = mgr.address().clone() else {
            return Err("a private Unix socket expected".into());
        };
        let dir = path.parent().expect("a directory").to_path_buf();
        check(path.exists(), format!("{path:?} missing while in use"))?;
        drop(mgr);
        check(
            !path.exists() && !dir.exists(),
            format!("in_thread={in_thread}: {dir:?} left behind"),
        )?;
    }
    Ok(())
}

fn wrong_key_rejected(_: StartMethod) -> Result<(), Failed> {
    let mgr = Manager::builder()
        .address(tcp_any())
        .authkey(b"right")
        .start()?;
    let r = Manager::connect(mgr.address().clone(), b"wrong");
    check(
        matches!(
            r,
            Err(Error::Multiprocessing(
                gilfree::multiprocessing::Error::Authentication(_)
            ))
        ),
        format!("{r:?}"),
    )?;
    let ok = Manager::connect(mgr.address().clone(), b"right")?;
    check(ok.list_from([1])?.len()? == 1, "the server goes on")
}

fn silent_clients_delay_nobody(_: StartMethod) -> Result<(), Failed> {
    let mgr = Manager::builder()
        .address(tcp_any())
        .authkey(b"k")
        .start()?;
    let Address::Tcp(a) = mgr.address().clone() else {
        unreachable!()
    };
    let mut idle = Vec::new();
    for i in 0..50 {
        let mut s = TcpStream::connect(a)?;
        if i % 2 == 0 {
            s.write_all(b"\x01")?; // one byte, then nothing
        }
        idle.push(s);
    }
    // All 50 are still connected (well within the auth timeout) while a
    // correct client connects and is served.
    let ok = Manager::connect(a, b"k")?;
    check(ok.value(&5u8)?.get()? == 5, "served")?;
    drop(idle);
    Ok(())
}

fn listener_auth_timeout(_: StartMethod) -> Result<(), Failed> {
    let mut l = Listener::bind(tcp_any(), Some(b"k"))?;
    l.set_auth_timeout(Duration::from_millis(100));
    let Address::Tcp(a) = l.address().clone() else {
        unreachable!()
    };
    let silent = TcpStream::connect(a)?;
    let r = l.accept();
    check(
        matches!(r, Err(gilfree::multiprocessing::Error::Timeout)),
        format!("{r:?}"),
    )?;
    drop(silent);
    let addr = l.address().clone();
    let t = std::thread::spawn(move || Client(&addr, Some(b"k")).map(|c| c.send(&1u8)));
    let c = l.accept()?;
    check(c.recv::<u8>()? == 1, "the next client is accepted")?;
    t.join().unwrap()??;
    Ok(())
}

fn random_bytes_never_crash(_: StartMethod) -> Result<(), Failed> {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let mgr = Manager::builder()
        .address(tcp_any())
        .authkey(b"k")
        .start()?;
    let addr = mgr.address().clone();
    let Address::Tcp(a) = addr.clone() else {
        unreachable!()
    };
    let probe = mgr.value(&1u32)?;
    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    runner
        .run(
            &(
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..300),
            ),
            |(authed, bytes)| {
                if authed {
                    // A frame of junk from an authenticated client, or raw junk after auth.
                    let c = Client(&addr, Some(b"k")).unwrap();
                    let _ = c.send_bytes(&bytes);
                    let _ = c.recv_bytes();
                } else {
                    // Junk where the challenge's answer belongs.
                    let mut s = TcpStream::connect(a).unwrap();
                    let _ = s.write_all(&bytes);
                }
                prop_assert_eq!(probe.get().unwrap(), 1);
                Ok(())
            },
        )
        .map_err(|e| Failed::from(e.to_string()))?;
    // Oversized and truncated frames too.
    let c = Client(&addr, Some(b"k"))?;
    let _ = c.send_bytes(&[]);
    let mut s = TcpStream::connect(a)?;
    s.write_all(&u32::MAX.to_le_bytes())?;
    drop(s);
    check(probe.get()? == 1, "the server is still there")
}

/// A registered shared type: a tally of words.
struct Tally(std::collections::BTreeMap<String, u32>);

#[derive(serde::Serialize, serde::Deserialize)]
enum TallyCall {
    Add(String),
    Count(String),
    Boom,
}

impl Shared for Tally {
    const NAME: &'static str = "tests::manager::Tally";
    type Args = Vec<String>;
    type Call = TallyCall;
    type Reply = u32;
    fn new(words: Vec<String>) -> Self {
        let mut t = Tally(Default::default());
        for w in words {
            t.call(TallyCall::Add(w));
        }
        t
    }
    fn call(&mut self, c: TallyCall) -> u32 {
        match c {
            TallyCall::Add(w) => {
                let n = self.0.entry(w).or_default();
                *n += 1;
                *n
            }
            TallyCall::Count(w) => self.0.get(&w).copied().unwrap_or(0),
            TallyCall::Boom => panic!("boom"),
        }
    }
}
gilfree::register_shared!(Tally);

#[gilfree::task]
fn tally_words(t: Proxy<Tally>, words: Vec<String>) -> Result<(), String> {
    for w in words {
        t.call(&TallyCall::Add(w)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn custom_type_across_processes(m: StartMethod) -> Result<(), Failed> {
    let mgr = start(m)?;
    let t = mgr.create::<Tally>(&vec!["a".into()])?;
    let p = get_context(m).process(tally_words::TASK, (t.clone(), vec!["a".into(), "b".into()]))?;
    p.start()?;
    p.result()?.map_err(Failed::from)?;
    check(t.call(&TallyCall::Count("a".into()))? == 2, "a twice")?;
    check(t.call(&TallyCall::Count("b".into()))? == 1, "b once")?;
    // A panic in the server's call is that call's error; the object stays.
    std::panic::set_hook(Box::new(|_| {}));
    let r = t.call(&TallyCall::Boom);
    let _ = std::panic::take_hook();
    check(
        matches!(&r, Err(Error::ValueError(m)) if m.contains("boom")),
        format!("{r:?}"),
    )?;
    check(t.call(&TallyCall::Count("a".into()))? == 2, "still there")
}

/// A proxy of the wrong kind (a dict's token read as a list's) gets an
/// error naming the operation, and the object is unharmed.
fn wrong_kind_is_an_error(_: StartMethod) -> Result<(), Failed> {
    let mgr = start(StartMethod::ForkServer)?;
    let d = mgr.dict::<u8, u8>()?;
    d.set(&1, &1)?;
    let l: List<u8> = postcard::from_bytes(&postcard::to_allocvec(&d)?)?;
    let r = l.append(&2);
    check(
        matches!(&r, Err(Error::Protocol(m)) if m.contains("ListAppend")),
        format!("{r:?}"),
    )?;
    check(d.get(&1)? == Some(1), "the dict is unharmed")
}

type Case = fn(StartMethod) -> Result<(), Failed>;

fn main() {
    gilfree::multiprocessing::init();
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let per_method: &[(&str, Case)] = &[
        ("every_proxy_across_processes", every_proxy_across_processes),
        ("four_processes_exact_count", four_processes_exact_count),
        ("nested_proxies", nested_proxies),
        ("queue_stress_nothing_lost", queue_stress_nothing_lost),
        ("client_killed_holding_lock", client_killed_holding_lock),
        ("server_killed_calls_fail", server_killed_calls_fail),
        (
            "client_killed_waiting_takes_nothing",
            client_killed_waiting_takes_nothing,
        ),
        ("connect_from_another_process", connect_from_another_process),
        ("custom_type_across_processes", custom_type_across_processes),
        ("serve_in_a_plain_process", serve_in_a_plain_process),
        ("private_socket_removed", private_socket_removed),
    ];
    let once: &[(&str, Case)] = &[
        ("used_after_fork", used_after_fork),
        ("tcp_and_unix_addresses", tcp_and_unix_addresses),
        ("wrong_key_rejected", wrong_key_rejected),
        ("silent_clients_delay_nobody", silent_clients_delay_nobody),
        ("listener_auth_timeout", listener_auth_timeout),
        ("random_bytes_never_crash", random_bytes_never_crash),
        ("wrong_kind_is_an_error", wrong_kind_is_an_error),
    ];
    let mut trials = Vec::new();
    for m in StartMethod::ALL {
        for &(name, f) in per_method {
            trials.push(Trial::test(format!("{m}::{name}"), move || f(m)));
        }
    }
    for &(name, f) in once {
        trials.push(Trial::test(name, move || f(StartMethod::Fork)));
    }
    libtest_mimic::run(&args, trials).exit();
}
