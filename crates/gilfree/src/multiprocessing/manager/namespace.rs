//! Proxies of single values: [`Namespace`] (named attributes) and
//! [`Value`] (one value). Each method is one round trip to the server;
//! values travel as their postcard encoding.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{Handle, enc, out_unit as unit, out_value as value, unexpected};
use super::collections::proxy;
#[allow(unused_imports)] // `Error` is named by the docs' links
use super::error::{Error, Result};
use super::protocol::{Op, Out};

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
