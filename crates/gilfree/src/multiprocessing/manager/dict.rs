//! The proxy of a `dict`: [`Dict`], a map in the server typed here, in
//! insertion order. Each method is one round trip to the server; keys and
//! values travel as their postcard encoding.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{
    Handle, dec, enc, out_bool as boolean, out_int as int, out_maybe as maybe, out_unit as unit,
    out_value as value, unexpected,
};
use super::collections::proxy;
#[allow(unused_imports)] // `Error` is named by the docs' links
use super::error::{Error, Result};
use super::protocol::{Op, Out};

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
