//! Proxies of sequences: [`List`] (Python's `manager.list()`) and
//! [`Array`] (`manager.Array()`, fixed length). Each method is one round
//! trip to the server; items travel as their postcard encoding.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{
    Handle, dec, enc, out_int as int, out_unit as unit, out_value as value, unexpected,
};
use super::collections::proxy;
#[allow(unused_imports)] // `Dict` is named by the docs' links
use super::dict::Dict;
#[allow(unused_imports)] // `Error` is named by the docs' links
use super::error::{Error, Result};
use super::protocol::{Op, Out};

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
