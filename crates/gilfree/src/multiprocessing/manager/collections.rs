//! Proxies of data: `dict`, `list`, `Namespace`, `Value`, `Queue` and
//! `JoinableQueue`. Each method is one round trip to the server; values
//! travel as their postcard encoding.

use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{
    Handle, dec, enc, out_bool as boolean, out_int as int, out_maybe as maybe, out_unit as unit,
    out_value as value, unexpected,
};
#[allow(unused_imports)] // `Error` is named by the docs' links
use super::error::{Error, Result};
use super::protocol::{Op, Out, Wait};

/// The common part of every proxy type: a [`Handle`], `Clone`, `Debug`,
/// and serde (a proxy is a task argument; the receiver reconnects).
macro_rules! proxy {
    ($(#[$m:meta])* $name:ident $(<$($t:ident),*>)?) => {
        $(#[$m])*
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(bound = "")]
        pub struct $name $(<$($t),*>)? {
            pub(crate) h: Handle,
            #[serde(skip)]
            _t: PhantomData<fn() -> ($($($t,)*)?)>,
        }

        impl $(<$($t),*>)? Clone for $name $(<$($t),*>)? {
            fn clone(&self) -> Self {
                Self::from_handle(self.h.clone())
            }
        }

        impl $(<$($t),*>)? std::fmt::Debug for $name $(<$($t),*>)? {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.h)
            }
        }

        impl $(<$($t),*>)? $name $(<$($t),*>)? {
            pub(crate) fn from_handle(h: Handle) -> Self {
                $name { h, _t: PhantomData }
            }
        }
    };
}
pub(crate) use proxy;

proxy! {
    /// Python's `manager.dict()`: a dict in the server, typed here.
    ///
    /// Keys are compared by their encoded bytes (postcard): equal values
    /// must encode alike, which holds for integers, strings, tuples, enums
    /// and derived structs, but not for floats' `-0.0`/`0.0` or `NaN`, nor
    /// for maps whose iteration order varies (`HashMap` keys). Order is
    /// insertion order, as in Python.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<String, i32>().unwrap();
    /// d.set(&"a".into(), &1).unwrap();
    /// assert_eq!(d.get(&"a".into()).unwrap(), Some(1));
    /// assert_eq!(d.len().unwrap(), 1);
    /// ```
    Dict<K, V>
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> Dict<K, V> {
    /// `d.get(k)`: the value, or `None`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<u8, u8>().unwrap();
    /// assert_eq!(d.get(&1).unwrap(), None);
    /// ```
    pub fn get(&self, k: &K) -> Result<Option<V>> {
        maybe(self.h.call(Op::DictGet(enc(k)?))?)
    }

    /// `d[k] = v`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<u8, u8>().unwrap();
    /// d.set(&1, &2).unwrap();
    /// assert_eq!(d.get(&1).unwrap(), Some(2));
    /// ```
    pub fn set(&self, k: &K, v: &V) -> Result<()> {
        unit(self.h.call(Op::DictSet(enc(k)?, enc(v)?))?)
    }

    /// `del d[k]`; [`Error::KeyError`] if absent.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<u8, u8>().unwrap();
    /// assert!(matches!(d.del(&1), Err(gilfree::multiprocessing::manager::Error::KeyError)));
    /// ```
    pub fn del(&self, k: &K) -> Result<()> {
        unit(self.h.call(Op::DictDel(enc(k)?))?)
    }

    /// `k in d`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<u8, u8>().unwrap();
    /// d.set(&1, &1).unwrap();
    /// assert!(d.contains(&1).unwrap());
    /// ```
    pub fn contains(&self, k: &K) -> Result<bool> {
        boolean(self.h.call(Op::DictContains(enc(k)?))?)
    }

    /// `len(d)`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert_eq!(m.dict::<u8, u8>().unwrap().len().unwrap(), 0);
    /// ```
    pub fn len(&self) -> Result<usize> {
        int(self.h.call(Op::Len)?)
    }

    /// `len(d) == 0`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert!(m.dict::<u8, u8>().unwrap().is_empty().unwrap());
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `d.pop(k, None)`: remove and return the value, if any.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<u8, u8>().unwrap();
    /// d.set(&1, &5).unwrap();
    /// assert_eq!(d.pop(&1).unwrap(), Some(5));
    /// assert_eq!(d.pop(&1).unwrap(), None);
    /// ```
    pub fn pop(&self, k: &K) -> Result<Option<V>> {
        maybe(self.h.call(Op::DictPop(enc(k)?))?)
    }

    /// `d.setdefault(k, v)`: the value at `k`, inserting `v` first if
    /// absent (one atomic step on the server).
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<u8, u8>().unwrap();
    /// assert_eq!(d.setdefault(&1, &7).unwrap(), 7);
    /// assert_eq!(d.setdefault(&1, &9).unwrap(), 7);
    /// ```
    pub fn setdefault(&self, k: &K, v: &V) -> Result<V> {
        value(self.h.call(Op::DictSetDefault(enc(k)?, enc(v)?))?)
    }

    /// `d.update(pairs)`, in one call.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<u8, u8>().unwrap();
    /// d.update([(1, 2), (3, 4)]).unwrap();
    /// assert_eq!(d.items().unwrap(), vec![(1, 2), (3, 4)]);
    /// ```
    pub fn update(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        let kvs = pairs
            .into_iter()
            .map(|(k, v)| Ok((enc(&k)?, enc(&v)?)))
            .collect::<Result<Vec<_>>>()?;
        unit(self.h.call(Op::DictUpdate(kvs))?)
    }

    /// `d.items()`: a snapshot of the pairs, in insertion order.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<u8, u8>().unwrap();
    /// d.set(&2, &0).unwrap();
    /// assert_eq!(d.items().unwrap(), vec![(2, 0)]);
    /// ```
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        match self.h.call(Op::DictItems)? {
            Out::Pairs(p) => p.iter().map(|(k, v)| Ok((dec(k)?, dec(v)?))).collect(),
            o => Err(unexpected(o)),
        }
    }

    /// `d.keys()`: a snapshot, in insertion order.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<u8, u8>().unwrap();
    /// d.set(&2, &0).unwrap();
    /// assert_eq!(d.keys().unwrap(), vec![2]);
    /// ```
    pub fn keys(&self) -> Result<Vec<K>> {
        Ok(self.items()?.into_iter().map(|(k, _)| k).collect())
    }

    /// `d.values()`: a snapshot, in insertion order.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<u8, u8>().unwrap();
    /// d.set(&2, &9).unwrap();
    /// assert_eq!(d.values().unwrap(), vec![9]);
    /// ```
    pub fn values(&self) -> Result<Vec<V>> {
        Ok(self.items()?.into_iter().map(|(_, v)| v).collect())
    }

    /// `d.copy()`: a local copy (Python returns a plain dict too).
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<u8, u8>().unwrap();
    /// d.set(&1, &1).unwrap();
    /// let local: std::collections::BTreeMap<u8, u8> = d.copy().unwrap();
    /// assert_eq!(local.len(), 1);
    /// ```
    pub fn copy<C: FromIterator<(K, V)>>(&self) -> Result<C> {
        Ok(self.items()?.into_iter().collect())
    }

    /// `d.clear()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<u8, u8>().unwrap();
    /// d.set(&1, &1).unwrap();
    /// d.clear().unwrap();
    /// assert_eq!(d.len().unwrap(), 0);
    /// ```
    pub fn clear(&self) -> Result<()> {
        unit(self.h.call(Op::Clear)?)
    }
}

proxy! {
    /// Python's `manager.list()`: a list in the server, typed here.
    /// Indexes are Python's (negative counts from the end); iteration is
    /// over a [`snapshot`](List::snapshot). Equality (`remove`, `index`,
    /// `count`) compares encoded bytes, as [`Dict`] keys do.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list::<i32>().unwrap();
    /// l.extend([1, 2, 3]).unwrap();
    /// assert_eq!(l.get(-1).unwrap(), 3);
    /// assert_eq!(l.snapshot().unwrap(), vec![1, 2, 3]);
    /// ```
    List<T>
}

impl<T: Serialize + DeserializeOwned> List<T> {
    /// `l.append(x)`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list::<u8>().unwrap();
    /// l.append(&1).unwrap();
    /// assert_eq!(l.len().unwrap(), 1);
    /// ```
    pub fn append(&self, x: &T) -> Result<()> {
        unit(self.h.call(Op::ListAppend(enc(x)?))?)
    }

    /// `l.extend(xs)`, in one call.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list::<u8>().unwrap();
    /// l.extend([1, 2]).unwrap();
    /// assert_eq!(l.len().unwrap(), 2);
    /// ```
    pub fn extend(&self, xs: impl IntoIterator<Item = T>) -> Result<()> {
        let v = xs
            .into_iter()
            .map(|x| enc(&x))
            .collect::<Result<Vec<_>>>()?;
        unit(self.h.call(Op::ListExtend(v))?)
    }

    /// `l[i]`; [`Error::IndexError`] out of range.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list::<u8>().unwrap();
    /// assert!(l.get(0).is_err());
    /// ```
    pub fn get(&self, i: i64) -> Result<T> {
        value(self.h.call(Op::ListGet(i))?)
    }

    /// `l[i] = x`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list::<u8>().unwrap();
    /// l.append(&1).unwrap();
    /// l.set(0, &5).unwrap();
    /// assert_eq!(l.get(0).unwrap(), 5);
    /// ```
    pub fn set(&self, i: i64, x: &T) -> Result<()> {
        unit(self.h.call(Op::ListSet(i, enc(x)?))?)
    }

    /// `l.pop(i)` (Python's default `i` is `-1`).
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list::<u8>().unwrap();
    /// l.extend([1, 2]).unwrap();
    /// assert_eq!(l.pop(-1).unwrap(), 2);
    /// ```
    pub fn pop(&self, i: i64) -> Result<T> {
        value(self.h.call(Op::ListPop(i))?)
    }

    /// `l.insert(i, x)` (the index is clamped, as in Python).
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list::<u8>().unwrap();
    /// l.insert(10, &1).unwrap();
    /// l.insert(0, &0).unwrap();
    /// assert_eq!(l.snapshot().unwrap(), vec![0, 1]);
    /// ```
    pub fn insert(&self, i: i64, x: &T) -> Result<()> {
        unit(self.h.call(Op::ListInsert(i, enc(x)?))?)
    }

    /// `l.remove(x)`: the first equal item; [`Error::ValueError`] if none.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list::<u8>().unwrap();
    /// l.extend([1, 2, 1]).unwrap();
    /// l.remove(&1).unwrap();
    /// assert_eq!(l.snapshot().unwrap(), vec![2, 1]);
    /// ```
    pub fn remove(&self, x: &T) -> Result<()> {
        unit(self.h.call(Op::ListRemove(enc(x)?))?)
    }

    /// `l.index(x)`; [`Error::ValueError`] if absent.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list::<u8>().unwrap();
    /// l.extend([4, 5]).unwrap();
    /// assert_eq!(l.index(&5).unwrap(), 1);
    /// ```
    pub fn index(&self, x: &T) -> Result<usize> {
        int(self.h.call(Op::ListIndex(enc(x)?))?)
    }

    /// `l.count(x)`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list::<u8>().unwrap();
    /// l.extend([4, 4]).unwrap();
    /// assert_eq!(l.count(&4).unwrap(), 2);
    /// ```
    pub fn count(&self, x: &T) -> Result<usize> {
        int(self.h.call(Op::ListCount(enc(x)?))?)
    }

    /// `len(l)`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert_eq!(m.list::<u8>().unwrap().len().unwrap(), 0);
    /// ```
    pub fn len(&self) -> Result<usize> {
        int(self.h.call(Op::Len)?)
    }

    /// `len(l) == 0`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert!(m.list::<u8>().unwrap().is_empty().unwrap());
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `list(l)`: a snapshot of the items, in one call (iterate over it).
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list::<u8>().unwrap();
    /// l.extend([1, 2]).unwrap();
    /// let sum: u8 = l.snapshot().unwrap().iter().sum();
    /// assert_eq!(sum, 3);
    /// ```
    pub fn snapshot(&self) -> Result<Vec<T>> {
        match self.h.call(Op::ListSnapshot)? {
            Out::Many(v) => v.iter().map(|b| dec(b)).collect(),
            o => Err(unexpected(o)),
        }
    }

    /// `l.clear()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list::<u8>().unwrap();
    /// l.append(&1).unwrap();
    /// l.clear().unwrap();
    /// assert!(l.is_empty().unwrap());
    /// ```
    pub fn clear(&self) -> Result<()> {
        unit(self.h.call(Op::Clear)?)
    }
}

proxy! {
    /// Python's `manager.Array(typecode, sequence)`: a fixed-length
    /// sequence in the server (a list that cannot grow or shrink).
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let a = m.array([0.0f64; 4]).unwrap();
    /// a.set(2, &1.5).unwrap();
    /// assert_eq!(a.get(2).unwrap(), 1.5);
    /// assert_eq!(a.len().unwrap(), 4);
    /// ```
    Array<T>
}

impl<T: Serialize + DeserializeOwned> Array<T> {
    /// `a[i]`; [`Error::IndexError`] out of range.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let a = m.array([1u8, 2]).unwrap();
    /// assert_eq!(a.get(-1).unwrap(), 2);
    /// ```
    pub fn get(&self, i: i64) -> Result<T> {
        value(self.h.call(Op::ListGet(i))?)
    }

    /// `a[i] = x`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let a = m.array([1u8, 2]).unwrap();
    /// a.set(0, &9).unwrap();
    /// assert!(a.set(5, &9).is_err());
    /// ```
    pub fn set(&self, i: i64, x: &T) -> Result<()> {
        unit(self.h.call(Op::ListSet(i, enc(x)?))?)
    }

    /// `len(a)`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert_eq!(m.array([1u8, 2]).unwrap().len().unwrap(), 2);
    /// ```
    pub fn len(&self) -> Result<usize> {
        int(self.h.call(Op::Len)?)
    }

    /// `len(a) == 0`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert!(m.array(Vec::<u8>::new()).unwrap().is_empty().unwrap());
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `a[:]`: a snapshot of the items, in one call.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert_eq!(m.array([1u8, 2]).unwrap().snapshot().unwrap(), [1, 2]);
    /// ```
    pub fn snapshot(&self) -> Result<Vec<T>> {
        match self.h.call(Op::ListSnapshot)? {
            Out::Many(v) => v.iter().map(|b| dec(b)).collect(),
            o => Err(unexpected(o)),
        }
    }
}

proxy! {
    /// Python's `manager.Namespace()`: named fields, each of any serde
    /// type (`ns.x = 1` is `ns.set("x", &1)`, `ns.x` is `ns.get::<i32>("x")`).
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let ns = m.namespace().unwrap();
    /// ns.set("x", &1).unwrap();
    /// ns.set("name", &"job").unwrap();
    /// assert_eq!(ns.get::<i32>("x").unwrap(), 1);
    /// assert_eq!(ns.names().unwrap(), vec!["name", "x"]);
    /// ```
    Namespace
}

impl Namespace {
    /// `ns.name`; [`Error::AttributeError`] if unset.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let ns = m.namespace().unwrap();
    /// assert!(ns.get::<u8>("nope").is_err());
    /// ```
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        value(self.h.call(Op::NsGet(name.into()))?)
    }

    /// `ns.name = v`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let ns = m.namespace().unwrap();
    /// ns.set("v", &vec![1u8]).unwrap();
    /// assert_eq!(ns.get::<Vec<u8>>("v").unwrap(), [1]);
    /// ```
    pub fn set<T: Serialize + ?Sized>(&self, name: &str, v: &T) -> Result<()> {
        unit(self.h.call(Op::NsSet(name.into(), enc(v)?))?)
    }

    /// `del ns.name`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let ns = m.namespace().unwrap();
    /// ns.set("v", &1u8).unwrap();
    /// ns.del("v").unwrap();
    /// assert!(ns.del("v").is_err());
    /// ```
    pub fn del(&self, name: &str) -> Result<()> {
        unit(self.h.call(Op::NsDel(name.into()))?)
    }

    /// The field names, sorted (Python's `vars(ns)` keys).
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert!(m.namespace().unwrap().names().unwrap().is_empty());
    /// ```
    pub fn names(&self) -> Result<Vec<String>> {
        match self.h.call(Op::NsNames)? {
            Out::Names(v) => Ok(v),
            o => Err(unexpected(o)),
        }
    }
}

proxy! {
    /// Python's `manager.Value(typecode, v)`: one value in the server,
    /// read and written whole (`.value`). Not atomic across a get and a
    /// set: guard a read-modify-write with a managed [`Lock`](super::Lock).
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let v = m.value(&1.5f64).unwrap();
    /// v.set(&2.5).unwrap();
    /// assert_eq!(v.get().unwrap(), 2.5);
    /// ```
    Value<T>
}

impl<T: Serialize + DeserializeOwned> Value<T> {
    /// `v.value`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert_eq!(m.value(&3u8).unwrap().get().unwrap(), 3);
    /// ```
    pub fn get(&self) -> Result<T> {
        value(self.h.call(Op::ValueGet)?)
    }

    /// `v.value = x`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let v = m.value(&3u8).unwrap();
    /// v.set(&4).unwrap();
    /// assert_eq!(v.get().unwrap(), 4);
    /// ```
    pub fn set(&self, x: &T) -> Result<()> {
        unit(self.h.call(Op::ValueSet(enc(x)?))?)
    }
}

proxy! {
    /// Python's `manager.Queue(maxsize)` (and, with
    /// [`task_done`](Queue::task_done)/[`join`](Queue::join), its
    /// `JoinableQueue`): a FIFO in the server. A blocking `get`/`put`
    /// waits on the server, on this caller's own connection, so other
    /// clients are not held up.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<String>(0).unwrap();
    /// q.put(&"job".into()).unwrap();
    /// assert_eq!(q.get().unwrap(), "job");
    /// assert!(q.try_get().is_err());
    /// ```
    Queue<T>
}

/// Python's `manager.JoinableQueue()`: the same proxy as [`Queue`], whose
/// `task_done`/`join` Python reserves to this kind.
///
/// ```
/// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
/// let q: gilfree::multiprocessing::manager::JoinableQueue<u8> = m.joinable_queue(0).unwrap();
/// q.put(&1).unwrap();
/// q.get().unwrap();
/// q.task_done().unwrap();
/// q.join().unwrap();
/// ```
pub type JoinableQueue<T> = Queue<T>;

impl<T: Serialize + DeserializeOwned> Queue<T> {
    fn put_wait(&self, x: &T, w: Wait) -> Result<()> {
        unit(self.h.call(Op::Put(enc(x)?, w))?)
    }
    fn get_wait(&self, w: Wait) -> Result<T> {
        value(self.h.call(Op::Get(w))?)
    }

    /// `q.put(x)`: waits for room in a bounded queue.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<u8>(1).unwrap();
    /// q.put(&1).unwrap();
    /// assert_eq!(q.qsize().unwrap(), 1);
    /// ```
    pub fn put(&self, x: &T) -> Result<()> {
        self.put_wait(x, Wait::Forever)
    }

    /// `q.put(x, block=False)`; [`Error::Full`] if no room.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<u8>(1).unwrap();
    /// q.try_put(&1).unwrap();
    /// assert!(matches!(q.try_put(&2), Err(gilfree::multiprocessing::manager::Error::Full)));
    /// ```
    pub fn try_put(&self, x: &T) -> Result<()> {
        self.put_wait(x, Wait::Now)
    }

    /// `q.put(x, timeout=t)`; [`Error::Full`] when it runs out.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<u8>(1).unwrap();
    /// q.put(&1).unwrap();
    /// assert!(q.put_timeout(&2, std::time::Duration::from_millis(10)).is_err());
    /// ```
    pub fn put_timeout(&self, x: &T, timeout: Duration) -> Result<()> {
        self.put_wait(x, Wait::For(timeout))
    }

    /// `q.get()`: waits for an item.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<u8>(0).unwrap();
    /// q.put(&7).unwrap();
    /// assert_eq!(q.get().unwrap(), 7);
    /// ```
    pub fn get(&self) -> Result<T> {
        self.get_wait(Wait::Forever)
    }

    /// `q.get(block=False)`; [`Error::Empty`] if none.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<u8>(0).unwrap();
    /// assert!(matches!(q.try_get(), Err(gilfree::multiprocessing::manager::Error::Empty)));
    /// ```
    pub fn try_get(&self) -> Result<T> {
        self.get_wait(Wait::Now)
    }

    /// `q.get(timeout=t)`; [`Error::Empty`] when it runs out.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<u8>(0).unwrap();
    /// assert!(q.get_timeout(std::time::Duration::from_millis(10)).is_err());
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_wait(Wait::For(timeout))
    }

    /// `q.qsize()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert_eq!(m.queue::<u8>(0).unwrap().qsize().unwrap(), 0);
    /// ```
    pub fn qsize(&self) -> Result<usize> {
        int(self.h.call(Op::Len)?)
    }

    /// `q.empty()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert!(m.queue::<u8>(0).unwrap().empty().unwrap());
    /// ```
    pub fn empty(&self) -> Result<bool> {
        Ok(self.qsize()? == 0)
    }

    /// `q.task_done()`; [`Error::ValueError`] if called more often than
    /// items were put.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.joinable_queue::<u8>(0).unwrap();
    /// assert!(q.task_done().is_err());
    /// ```
    pub fn task_done(&self) -> Result<()> {
        unit(self.h.call(Op::TaskDone)?)
    }

    /// `q.join()`: waits until every item put has had its `task_done`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.joinable_queue::<u8>(0).unwrap();
    /// q.put(&1).unwrap();
    /// q.get().unwrap();
    /// q.task_done().unwrap();
    /// q.join().unwrap();
    /// ```
    pub fn join(&self) -> Result<()> {
        unit(self.h.call(Op::Join(Wait::Forever))?)
    }

    /// `q.join()` with a limit; [`Error::Timeout`] when it runs out.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.joinable_queue::<u8>(0).unwrap();
    /// q.put(&1).unwrap();
    /// assert!(q.join_timeout(std::time::Duration::from_millis(10)).is_err());
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        unit(self.h.call(Op::Join(Wait::For(timeout)))?)
    }
}
