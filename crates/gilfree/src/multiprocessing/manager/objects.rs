//! The server's objects: each is one state behind one monitor (a
//! `threading::Condition` over a `threading::Lock`), and every operation
//! runs under it. A blocking operation waits on the monitor with the
//! project's predicate wait and its deadline; every change notifies all
//! waiters, which re-check their predicate (no wake-up is lost: the state
//! and the wait share one lock). Values are the proxies' encoded bytes; the
//! server never decodes them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use super::custom::build;
use super::protocol::{Fault, Kind, Op, Out, Reply, Wait};
use super::state::{Caller, Dict, Owner, State};
use crate::sys::Deadline;
use crate::threading::{Condition, Lock, LockGuard};

/// How often a sleeping wait checks that its client is still connected.
const LIVENESS: Duration = Duration::from_millis(200);

/// One managed object.
pub(crate) struct Object {
    mon: Condition<Lock<State>>,
}

/// The part of a state a predicate looks at; a state of another kind
/// never satisfies it (the kind of an object never changes).
macro_rules! part {
    ($s:expr, $pat:pat => $e:expr) => {
        match $s {
            $pat => $e,
            #[allow(unreachable_patterns)]
            _ => unreachable!("an object's kind never changes"),
        }
    };
}

/// The start of `op`'s `Debug` text, for an error: formatting stops at
/// 40 bytes, so an operation carrying a large value costs no more.
fn short(op: &Op) -> String {
    use std::fmt::Write;
    struct Cap(String);
    impl Write for Cap {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for ch in s.chars() {
                if self.0.len() >= 40 {
                    return Err(std::fmt::Error);
                }
                self.0.push(ch);
            }
            Ok(())
        }
    }
    let mut c = Cap(String::new());
    let _ = write!(c, "{op:?}");
    c.0
}

/// A Python list index (negative counts from the end) checked against `len`.
fn index(i: i64, len: usize) -> Result<usize, Fault> {
    let i = if i < 0 { i + len as i64 } else { i };
    if i < 0 || i as usize >= len {
        Err(Fault::IndexError)
    } else {
        Ok(i as usize)
    }
}

impl Object {
    pub(crate) fn new(kind: Kind) -> Result<Self, Fault> {
        let state = match kind {
            Kind::Custom { name, args } => State::Custom(build(&name, &args)?),
            Kind::Dict => State::Dict(Dict::default()),
            Kind::List(v) => State::List(v),
            Kind::Namespace => State::Namespace(HashMap::new()),
            Kind::Value(v) => State::Value(v),
            Kind::Queue { maxsize } => State::Queue {
                items: VecDeque::new(),
                maxsize,
                unfinished: 0,
            },
            Kind::Lock => State::Lock(Owner::default()),
            Kind::RLock => State::RLock(Owner::default()),
            Kind::Semaphore { value, bounded } => State::Semaphore {
                value,
                bound: bounded.then_some(value),
            },
            Kind::Event => State::Event(false),
            Kind::Condition => State::Condition {
                lock: Owner::default(),
                waiting: VecDeque::new(),
                woken: HashSet::new(),
                next: 0,
            },
            Kind::Barrier { parties } => State::Barrier {
                parties: parties.max(1),
                count: 0,
                generation: 0,
                resets: 0,
                broken: false,
            },
        };
        Ok(Object {
            mon: Condition::from_lock(Lock::new(state)),
        })
    }

    /// Wait under the monitor until `pred` holds, as `w` allows; whether
    /// it holds. A wait that has to sleep wakes every [`LIVENESS`] to ask
    /// `alive` whether its client is still connected, and asks again
    /// before it succeeds: a dead client's wait ends without taking
    /// anything (a queue item, a lock) that a live client should get.
    fn wait(
        &self,
        g: &mut LockGuard<'_, State>,
        alive: &dyn Fn() -> bool,
        w: Wait,
        mut pred: impl FnMut(&mut State) -> bool,
    ) -> bool {
        if self
            .mon
            .wait_for_guard_deadline(g, &mut pred, Deadline::now())
        {
            return true;
        }
        let deadline = match w {
            Wait::Now => return false,
            Wait::For(d) => Deadline::after(d),
            Wait::Forever => Deadline::Never,
        };
        loop {
            let slice = Deadline::after(LIVENESS);
            let until = match (deadline.instant(), slice.instant()) {
                (Some(d), Some(s)) if d < s => deadline,
                _ => slice,
            };
            let ok = self.mon.wait_for_guard_deadline(g, &mut pred, until);
            if !alive() {
                return false;
            }
            if ok {
                return true;
            }
            if deadline.expired() {
                return false;
            }
        }
    }

    /// Release whatever lock `conn` holds here (its client is gone).
    /// Whether there was one.
    pub(crate) fn release_conn(&self, conn: u64) -> bool {
        let mut g = self.mon.acquire();
        let owner = match &mut *g {
            State::Lock(o) | State::RLock(o) => o,
            State::Condition { lock, .. } => lock,
            _ => return false,
        };
        if owner.holder.is_some_and(|h| h.conn == conn) {
            *owner = Owner::default();
            let _ = self.mon.notify_all();
            true
        } else {
            false
        }
    }

    /// Run `op` for `c`; `alive` tells whether `c`'s connection is still
    /// open (asked by a wait that sleeps).
    pub(crate) fn call(&self, op: Op, c: Caller, alive: &dyn Fn() -> bool) -> Reply {
        let mut g = self.mon.acquire();
        let r = self.run(&mut g, op, c, alive);
        // Every change may unblock a waiter; they re-check.
        let _ = self.mon.notify_all();
        r
    }

    fn run(
        &self,
        g: &mut LockGuard<'_, State>,
        op: Op,
        c: Caller,
        alive: &dyn Fn() -> bool,
    ) -> Reply {
        use State as S;
        let wrong = |op: &Op| Err(Fault::WrongType(short(op)));
        match (&mut **g, op) {
            (S::Dict(d), Op::Len) => Ok(Out::Int(d.map.len() as u64)),
            (S::List(l), Op::Len) => Ok(Out::Int(l.len() as u64)),
            (S::Queue { items, .. }, Op::Len) => Ok(Out::Int(items.len() as u64)),
            (S::Dict(d), Op::Clear) => {
                d.map.clear();
                Ok(Out::Unit)
            }
            (S::List(l), Op::Clear) => {
                l.clear();
                Ok(Out::Unit)
            }

            (S::Dict(d), Op::DictGet(k)) => Ok(Out::Maybe(d.map.get(&k).map(|e| e.1.clone()))),
            (S::Dict(d), Op::DictSet(k, v)) => {
                d.set(k, v);
                Ok(Out::Unit)
            }
            (S::Dict(d), Op::DictDel(k)) => {
                d.map.remove(&k).map(|_| Out::Unit).ok_or(Fault::KeyError)
            }
            (S::Dict(d), Op::DictPop(k)) => Ok(Out::Maybe(d.map.remove(&k).map(|e| e.1))),
            (S::Dict(d), Op::DictContains(k)) => Ok(Out::Bool(d.map.contains_key(&k))),
            (S::Dict(d), Op::DictSetDefault(k, v)) => {
                if let Some(e) = d.map.get(&k) {
                    return Ok(Out::Bytes(e.1.clone()));
                }
                d.set(k, v.clone());
                Ok(Out::Bytes(v))
            }
            (S::Dict(d), Op::DictUpdate(kvs)) => {
                for (k, v) in kvs {
                    d.set(k, v);
                }
                Ok(Out::Unit)
            }
            (S::Dict(d), Op::DictItems) => Ok(Out::Pairs(d.items())),

            (S::List(l), Op::ListAppend(v)) => {
                l.push(v);
                Ok(Out::Unit)
            }
            (S::List(l), Op::ListExtend(vs)) => {
                l.extend(vs);
                Ok(Out::Unit)
            }
            (S::List(l), Op::ListGet(i)) => Ok(Out::Bytes(l[index(i, l.len())?].clone())),
            (S::List(l), Op::ListSet(i, v)) => {
                let i = index(i, l.len())?;
                l[i] = v;
                Ok(Out::Unit)
            }
            (S::List(l), Op::ListPop(i)) => {
                let i = index(i, l.len())?;
                Ok(Out::Bytes(l.remove(i)))
            }
            (S::List(l), Op::ListInsert(i, v)) => {
                // Python's insert clamps the index.
                let n = l.len() as i64;
                let i = if i < 0 { (i + n).max(0) } else { i.min(n) };
                l.insert(i as usize, v);
                Ok(Out::Unit)
            }
            (S::List(l), Op::ListRemove(v)) => match l.iter().position(|x| *x == v) {
                Some(i) => {
                    l.remove(i);
                    Ok(Out::Unit)
                }
                None => Err(Fault::ValueError("list.remove(x): x not in list".into())),
            },
            (S::List(l), Op::ListIndex(v)) => match l.iter().position(|x| *x == v) {
                Some(i) => Ok(Out::Int(i as u64)),
                None => Err(Fault::ValueError("x is not in list".into())),
            },
            (S::List(l), Op::ListCount(v)) => {
                Ok(Out::Int(l.iter().filter(|x| **x == v).count() as u64))
            }
            (S::List(l), Op::ListSnapshot) => Ok(Out::Many(l.clone())),

            (S::Namespace(n), Op::NsGet(k)) => n
                .get(&k)
                .cloned()
                .map(Out::Bytes)
                .ok_or(Fault::AttributeError(k)),
            (S::Namespace(n), Op::NsSet(k, v)) => {
                n.insert(k, v);
                Ok(Out::Unit)
            }
            (S::Namespace(n), Op::NsDel(k)) => match n.remove(&k) {
                Some(_) => Ok(Out::Unit),
                None => Err(Fault::AttributeError(k)),
            },
            (S::Namespace(n), Op::NsNames) => {
                let mut v: Vec<String> = n.keys().cloned().collect();
                v.sort_unstable();
                Ok(Out::Names(v))
            }

            (S::Value(x), Op::ValueGet) => Ok(Out::Bytes(x.clone())),
            (S::Value(x), Op::ValueSet(v)) => {
                *x = v;
                Ok(Out::Unit)
            }

            (S::Queue { .. }, Op::Put(v, w)) => {
                let room = |s: &mut State| part!(s, S::Queue { items, maxsize, .. } => *maxsize == 0 || items.len() < *maxsize);
                if !self.wait(g, alive, w, room) {
                    return Err(Fault::Full);
                }
                part!(&mut **g, S::Queue { items, unfinished, .. } => {
                    items.push_back(v);
                    *unfinished += 1;
                });
                Ok(Out::Unit)
            }
            (S::Queue { .. }, Op::Get(w)) => {
                let any = |s: &mut State| part!(s, S::Queue { items, .. } => !items.is_empty());
                if !self.wait(g, alive, w, any) {
                    return Err(Fault::Empty);
                }
                Ok(Out::Bytes(
                    part!(&mut **g, S::Queue { items, .. } => items.pop_front().expect("not empty")),
                ))
            }
            (S::Queue { unfinished, .. }, Op::TaskDone) => {
                if *unfinished == 0 {
                    return Err(Fault::ValueError(
                        "task_done() called too many times".into(),
                    ));
                }
                *unfinished -= 1;
                Ok(Out::Unit)
            }
            (S::Queue { .. }, Op::Join(w)) => {
                let done =
                    |s: &mut State| part!(s, S::Queue { unfinished, .. } => *unfinished == 0);
                if self.wait(g, alive, w, done) {
                    Ok(Out::Unit)
                } else {
                    Err(Fault::Timeout)
                }
            }

            (S::Lock(_), Op::Acquire(w)) => {
                let free = |s: &mut State| part!(s, S::Lock(o) => o.free());
                let got = self.wait(g, alive, w, free);
                if got {
                    part!(&mut **g, S::Lock(o) => o.take(c, 1));
                }
                Ok(Out::Bool(got))
            }
            (S::Lock(o), Op::Release) => {
                if o.free() {
                    return Err(Fault::NotHeld("release unlocked lock".into()));
                }
                *o = Owner::default();
                Ok(Out::Unit)
            }
            (S::Lock(o) | S::RLock(o), Op::Locked) => Ok(Out::Bool(!o.free())),
            (S::RLock(o) | S::Condition { lock: o, .. }, Op::Acquire(w)) => {
                if o.held_by(c) {
                    o.count += 1;
                    return Ok(Out::Bool(true));
                }
                let free = |s: &mut State| part!(s, S::RLock(o) | S::Condition { lock: o, .. } => o.free());
                let got = self.wait(g, alive, w, free);
                if got {
                    part!(&mut **g, S::RLock(o) | S::Condition { lock: o, .. } => o.take(c, 1));
                }
                Ok(Out::Bool(got))
            }
            (S::RLock(o) | S::Condition { lock: o, .. }, Op::Release) => {
                o.release_by(c).map(|()| Out::Unit)
            }

            (S::Semaphore { .. }, Op::Acquire(w)) => {
                let pos = |s: &mut State| part!(s, S::Semaphore { value, .. } => *value > 0);
                let got = self.wait(g, alive, w, pos);
                if got {
                    part!(&mut **g, S::Semaphore { value, .. } => *value -= 1);
                }
                Ok(Out::Bool(got))
            }
            (S::Semaphore { value, bound }, Op::Release) => {
                if bound.is_some_and(|b| *value >= b) {
                    return Err(Fault::TooManyReleases);
                }
                *value += 1;
                Ok(Out::Unit)
            }

            (S::Event(f), Op::EventSet) => {
                *f = true;
                Ok(Out::Unit)
            }
            (S::Event(f), Op::EventClear) => {
                *f = false;
                Ok(Out::Unit)
            }
            (S::Event(f), Op::EventIsSet) => Ok(Out::Bool(*f)),
            (S::Event(_), Op::EventWait(w)) => {
                let set = |s: &mut State| part!(s, S::Event(f) => *f);
                Ok(Out::Bool(self.wait(g, alive, w, set)))
            }

            (
                S::Condition {
                    lock,
                    waiting,
                    next,
                    ..
                },
                Op::CondWait(w),
            ) => {
                if !lock.held_by(c) {
                    return Err(Fault::NotHeld("cannot wait on un-acquired lock".into()));
                }
                let count = lock.count;
                *lock = Owner::default();
                let ticket = *next;
                *next += 1;
                waiting.push_back(ticket);
                let _ = self.mon.notify_all();
                let woken =
                    |s: &mut State| part!(s, S::Condition { woken, .. } => woken.contains(&ticket));
                self.wait(g, alive, w, woken);
                let notified = part!(&mut **g, S::Condition { waiting, woken, .. } => {
                    waiting.retain(|t| *t != ticket);
                    woken.remove(&ticket)
                });
                // Python re-acquires however the wait ended.
                let free = |s: &mut State| part!(s, S::Condition { lock, .. } => lock.free());
                if !self.wait(g, alive, Wait::Forever, free) {
                    // The client is gone: nobody to give the lock back to.
                    return Err(Fault::Timeout);
                }
                part!(&mut **g, S::Condition { lock, .. } => lock.take(c, count));
                Ok(Out::Bool(notified))
            }
            (
                S::Condition {
                    lock,
                    waiting,
                    woken,
                    ..
                },
                Op::Notify(n),
            ) => {
                if !lock.held_by(c) {
                    return Err(Fault::NotHeld("cannot notify on un-acquired lock".into()));
                }
                let mut k = 0;
                while k < n {
                    let Some(t) = waiting.pop_front() else { break };
                    woken.insert(t);
                    k += 1;
                }
                Ok(Out::Int(k))
            }

            (
                S::Barrier {
                    parties,
                    count,
                    generation,
                    resets,
                    broken,
                },
                Op::BarrierWait(w),
            ) => {
                if *broken {
                    return Err(Fault::BrokenBarrier);
                }
                let index = *count;
                *count += 1;
                if *count == *parties {
                    *count = 0;
                    *generation += 1;
                    return Ok(Out::Int(index));
                }
                let (gen0, res0) = (*generation, *resets);
                let moved = |s: &mut State| {
                    part!(s, S::Barrier { generation, resets, broken, .. } =>
                        *generation != gen0 || *resets != res0 || *broken)
                };
                let ended = self.wait(g, alive, w, moved);
                part!(&mut **g, S::Barrier { count, generation, broken, .. } => {
                    if *generation != gen0 {
                        Ok(Out::Int(index))
                    } else {
                        if !ended {
                            // Python: a timed-out wait breaks the barrier.
                            *broken = true;
                            *count = 0;
                        }
                        Err(Fault::BrokenBarrier)
                    }
                })
            }
            (S::Barrier { count, broken, .. }, Op::BarrierAbort) => {
                *broken = true;
                *count = 0;
                Ok(Out::Unit)
            }
            (
                S::Barrier {
                    count,
                    resets,
                    broken,
                    ..
                },
                Op::BarrierReset,
            ) => {
                *resets += 1;
                *count = 0;
                *broken = false;
                Ok(Out::Unit)
            }
            (
                S::Barrier {
                    parties,
                    count,
                    broken,
                    ..
                },
                Op::BarrierState,
            ) => Ok(Out::Barrier(*parties, *count, *broken)),

            (S::Custom(x), Op::Custom(call)) => x
                .call_bytes(&call)
                .map(Out::Bytes)
                .map_err(Fault::ValueError),

            (_, op) => wrong(&op),
        }
    }
}
