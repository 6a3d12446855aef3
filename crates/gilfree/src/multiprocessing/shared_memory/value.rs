//! Python's `multiprocessing.Value`/`Array` and `sharedctypes.RawValue`/
//! `RawArray`: plain-old-data (`bytemuck::Pod`) in an anonymous shared
//! block, with a process-shared lock that survives a holder's death
//! (`Value`, `Array`) or without one (`RawValue`, `RawArray`).
//!
//! One layout for all four (`block.rs`): a 64-byte header whose first
//! words are the lock, the values at offset 64. A block travels to a child
//! as a task argument (its descriptor goes along, as a `SharedMemory`'s
//! does).

use std::fmt;

use bytemuck::Pod;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::block::{ArrayGuard, Block, Elem, Single, ValueGuard};
use crate::multiprocessing::error::{Error, Result};
use crate::sys::Deadline;

// ---------------------------------------------------------------------------

/// Python's `multiprocessing.Value`: one plain-old-data value in shared
/// memory, with its own process-shared lock.
///
/// `T` is any [`bytemuck::Pod`] type (integers, floats, arrays of them,
/// `#[repr(C)]` structs deriving `Pod`): Python's typecodes. Reading and
/// writing through [`value`](Self::value)/[`set_value`](Self::set_value)
/// take the lock for the one access (as Python's synchronized wrapper
/// does); a read-modify-write needs the lock held across it:
/// [`get_lock`](Self::get_lock), whose guard gives `&mut T`.
///
/// Passed to a child as a task argument, it is the same value (its block's
/// descriptor goes along).
///
/// Differences from Python: no `lock=False` (that is [`RawValue`]); the
/// lock survives a holder's death — the next holder's guard reports
/// [`owner_died`](super::Guard::owner_died) instead of everyone hanging.
///
/// ```
/// use gilfree::multiprocessing::Value;
/// let v = Value::new(0i64).unwrap();
/// {
///     let mut n = v.get_lock(); // Python: with v.get_lock(): v.value += 1
///     *n += 1;
/// }
/// v.set_value(v.value() + 1); // two locked accesses, not one atomic step
/// assert_eq!(v.value(), 2);
/// ```
pub struct Value<T>(Block<Single<T>>);

impl<T: Pod> Value<T> {
    /// Python's `Value(typecode, v)`: a new shared value.
    ///
    /// ```
    /// let v = gilfree::multiprocessing::Value::new(2.5f64).unwrap();
    /// assert_eq!(v.value(), 2.5);
    /// ```
    pub fn new(v: T) -> Result<Self> {
        Ok(Value(Block::from_slice(&[Single(v)])?))
    }

    /// Python's `with v.get_lock():`: block until the value's lock is
    /// ours; the guard gives `&mut T` and releases on drop.
    ///
    /// ```
    /// let v = gilfree::multiprocessing::Value::new(10u32).unwrap();
    /// *v.get_lock() *= 3;
    /// assert_eq!(v.value(), 30);
    /// ```
    pub fn get_lock(&self) -> ValueGuard<'_, T> {
        self.0.guard(Deadline::Never).expect("no deadline")
    }

    /// Python's `v.get_lock().acquire(timeout=t)`: the guard, or `None`
    /// if the lock stayed held by a live holder until `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let v = gilfree::multiprocessing::Value::new(0u8).unwrap();
    /// let g = v.get_lock();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(v.get_lock_timeout(Duration::ZERO).is_none()));
    /// });
    /// drop(g);
    /// ```
    pub fn get_lock_timeout(&self, timeout: std::time::Duration) -> Option<ValueGuard<'_, T>> {
        self.0.guard(Deadline::after(timeout))
    }

    /// Python's `v.value` (read, under the lock).
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::Value::new(7u16).unwrap().value(), 7);
    /// ```
    pub fn value(&self) -> T {
        *self.get_lock()
    }

    /// Python's `v.value = x` (write, under the lock).
    ///
    /// ```
    /// let v = gilfree::multiprocessing::Value::new(0i32).unwrap();
    /// v.set_value(-4);
    /// assert_eq!(v.value(), -4);
    /// ```
    pub fn set_value(&self, x: T) {
        *self.get_lock() = x;
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut v = [Single(T::zeroed())];
        self.0.read(0, &mut v);
        f.debug_tuple("Value").field(&v[0].0).finish()
    }
}

/// Python's `multiprocessing.Array`: a fixed number of plain-old-data
/// values in shared memory, with one process-shared lock.
///
/// Single reads and writes ([`get`](Self::get), [`set`](Self::set),
/// [`to_vec`](Self::to_vec)) take the lock for the one access; for several
/// steps at once hold [`get_lock`](Self::get_lock), whose guard gives
/// `&mut [T]`. `Array<u8>` has Python's `c_char` array views,
/// [`value`](Array::value) and [`raw`](Array::raw).
///
/// Differences from Python: the lock survives a holder's death (see
/// [`Guard::owner_died`](super::Guard::owner_died)); out-of-range indices panic, as slice indexing
/// does (Python raises `IndexError`).
///
/// ```
/// use gilfree::multiprocessing::Array;
/// let a = Array::from_slice(&[1u32, 2, 3]).unwrap();
/// a.set(0, 10);
/// for x in a.get_lock().iter_mut() {
///     *x *= 2;
/// }
/// assert_eq!(a.to_vec(), [20, 4, 6]);
/// ```
pub struct Array<T>(Block<Elem<T>>);

impl<T: Pod> Array<T> {
    /// Python's `Array(typecode, size)`: `len` zeroed values.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Array::<f32>::zeroed(4).unwrap();
    /// assert_eq!(a.to_vec(), [0.0; 4]);
    /// ```
    pub fn zeroed(len: usize) -> Result<Self> {
        Ok(Array(Block::zeroed(len)?))
    }

    /// Python's `Array(typecode, initializer)`.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Array::from_slice(&[5i8, 6]).unwrap();
    /// assert_eq!(a.len(), 2);
    /// ```
    pub fn from_slice(values: &[T]) -> Result<Self> {
        Ok(Array(Block::from_slice(
            bytemuck::cast_slice::<T, Elem<T>>(values),
        )?))
    }

    /// Python's `len(a)`.
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::Array::<u64>::zeroed(3).unwrap().len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.0.len
    }

    /// Whether it has no elements.
    ///
    /// ```
    /// assert!(gilfree::multiprocessing::Array::<u8>::zeroed(0).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    /// Python's `with a.get_lock():` — the guard gives `&mut [T]`.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Array::<i32>::zeroed(2).unwrap();
    /// a.get_lock().copy_from_slice(&[3, 4]);
    /// assert_eq!(a.to_vec(), [3, 4]);
    /// ```
    pub fn get_lock(&self) -> ArrayGuard<'_, T> {
        self.0.guard(Deadline::Never).expect("no deadline")
    }

    /// The guard, or `None` if the lock stayed held by a live holder until
    /// `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let a = gilfree::multiprocessing::Array::<u8>::zeroed(1).unwrap();
    /// assert!(a.get_lock_timeout(Duration::ZERO).is_some());
    /// ```
    pub fn get_lock_timeout(&self, timeout: std::time::Duration) -> Option<ArrayGuard<'_, T>> {
        self.0.guard(Deadline::after(timeout))
    }

    /// Python's `a[i]` (under the lock).
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Array::from_slice(&[9u8, 8]).unwrap();
    /// assert_eq!(a.get(1), 8);
    /// ```
    pub fn get(&self, i: usize) -> T {
        self.get_lock()[i]
    }

    /// Python's `a[i] = x` (under the lock).
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Array::<u8>::zeroed(2).unwrap();
    /// a.set(1, 5);
    /// assert_eq!(a.to_vec(), [0, 5]);
    /// ```
    pub fn set(&self, i: usize, x: T) {
        self.get_lock()[i] = x;
    }

    /// Python's `a[:]` (a copy, under the lock).
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Array::from_slice(&[1u16, 2]).unwrap();
    /// assert_eq!(a.to_vec(), vec![1, 2]);
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        self.get_lock().to_vec()
    }
}

impl Array<u8> {
    /// Python's `c_char` array `.value`: the bytes up to the first NUL.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Array::from_slice(b"hi\0there").unwrap();
    /// assert_eq!(a.value(), b"hi");
    /// ```
    pub fn value(&self) -> Vec<u8> {
        let g = self.get_lock();
        let end = g.iter().position(|&b| b == 0).unwrap_or(g.len());
        g[..end].to_vec()
    }

    /// Python's `a.value = b`: the bytes, then a NUL if there is room. A
    /// longer `b` is an error (Python's `ValueError: byte string too
    /// long`), and changes nothing.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Array::<u8>::zeroed(4).unwrap();
    /// a.set_value(b"ab").unwrap();
    /// assert_eq!(a.value(), b"ab");
    /// assert!(a.set_value(b"abcde").is_err());
    /// ```
    pub fn set_value(&self, b: &[u8]) -> Result<()> {
        let mut g = self.get_lock();
        if b.len() > g.len() {
            return Err(Error::Value("byte string too long".into()));
        }
        g[..b.len()].copy_from_slice(b);
        if b.len() < g.len() {
            g[b.len()] = 0;
        }
        Ok(())
    }

    /// Python's `c_char` array `.raw`: every byte.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Array::from_slice(b"a\0b").unwrap();
    /// assert_eq!(a.raw(), b"a\0b");
    /// ```
    pub fn raw(&self) -> Vec<u8> {
        self.to_vec()
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut v = vec![Elem(T::zeroed()); self.0.len];
        self.0.read(0, &mut v);
        f.debug_list().entries(v.iter().map(|e| &e.0)).finish()
    }
}

/// Python's `multiprocessing.sharedctypes.RawValue`: a shared value with
/// no lock. Each [`get`](Self::get)/[`set`](Self::set) copies the bytes
/// (soundly, whatever other processes do, but not as one step: a value
/// wider than a byte may be read half-written), and a read-modify-write
/// from two processes loses updates — use [`Value`] for that.
///
/// ```
/// let r = gilfree::multiprocessing::RawValue::new(5u64).unwrap();
/// r.set(r.get() + 1);
/// assert_eq!(r.get(), 6);
/// ```
pub struct RawValue<T>(Block<T>);

impl<T: Pod> RawValue<T> {
    /// Python's `RawValue(typecode, v)`.
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::RawValue::new(1u8).unwrap().get(), 1);
    /// ```
    pub fn new(v: T) -> Result<Self> {
        Ok(RawValue(Block::from_slice(&[v])?))
    }

    /// Python's `r.value` (read).
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::RawValue::new(3i16).unwrap().get(), 3);
    /// ```
    pub fn get(&self) -> T {
        let mut v = [T::zeroed()];
        self.0.read(0, &mut v);
        v[0]
    }

    /// Python's `r.value = x`.
    ///
    /// ```
    /// let r = gilfree::multiprocessing::RawValue::new(0u32).unwrap();
    /// r.set(8);
    /// assert_eq!(r.get(), 8);
    /// ```
    pub fn set(&self, x: T) {
        self.0.write(0, &[x]);
    }
}

/// Python's `multiprocessing.sharedctypes.RawArray`: shared values with no
/// lock (each element copied byte by byte; see [`RawValue`]).
///
/// ```
/// let a = gilfree::multiprocessing::RawArray::from_slice(&[1i32, 2]).unwrap();
/// a.set(1, 7);
/// assert_eq!(a.to_vec(), [1, 7]);
/// ```
pub struct RawArray<T>(Block<T>);

impl<T: Pod> RawArray<T> {
    /// Python's `RawArray(typecode, size)`.
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::RawArray::<u8>::zeroed(2).unwrap().to_vec(), [0, 0]);
    /// ```
    pub fn zeroed(len: usize) -> Result<Self> {
        Ok(RawArray(Block::zeroed(len)?))
    }

    /// Python's `RawArray(typecode, initializer)`.
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::RawArray::from_slice(&[4u8]).unwrap().get(0), 4);
    /// ```
    pub fn from_slice(values: &[T]) -> Result<Self> {
        Ok(RawArray(Block::from_slice(values)?))
    }

    /// Python's `len(a)`.
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::RawArray::<u8>::zeroed(5).unwrap().len(), 5);
    /// ```
    pub fn len(&self) -> usize {
        self.0.len
    }

    /// Whether it has no elements.
    ///
    /// ```
    /// assert!(!gilfree::multiprocessing::RawArray::<u8>::zeroed(1).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    /// Python's `a[i]`.
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::RawArray::from_slice(&[2u8, 3]).unwrap().get(1), 3);
    /// ```
    pub fn get(&self, i: usize) -> T {
        let mut v = [T::zeroed()];
        self.0.read(i, &mut v);
        v[0]
    }

    /// Python's `a[i] = x`.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::RawArray::<u8>::zeroed(1).unwrap();
    /// a.set(0, 1);
    /// assert_eq!(a.get(0), 1);
    /// ```
    pub fn set(&self, i: usize, x: T) {
        self.0.write(i, &[x]);
    }

    /// Python's `a[:]` (a copy).
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::RawArray::<u8>::zeroed(1).unwrap().to_vec(), [0]);
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        let mut v = vec![T::zeroed(); self.0.len];
        self.0.read(0, &mut v);
        v
    }
}

macro_rules! try_clone {
    ($($t:ident: $make:literal),*) => {$(
        impl<T: Pod> $t<T> {
            /// Another handle to the same shared values (and lock): its own
            /// descriptor and mapping. Handy to keep them while passing
            /// them to a child (a task takes its arguments by value).
            ///
            /// ```
            #[doc = concat!("let a = gilfree::multiprocessing::", $make, ".unwrap();")]
            /// let b = a.try_clone().unwrap();
            /// # let _ = b;
            /// ```
            pub fn try_clone(&self) -> Result<Self> {
                Ok($t(self.0.try_clone()?))
            }
        }
    )*};
}
try_clone!(
    Value: "Value::new(0u8)",
    Array: "Array::<u8>::zeroed(1)",
    RawValue: "RawValue::new(0u8)",
    RawArray: "RawArray::<u8>::zeroed(1)"
);

macro_rules! serde_as_block {
    ($($t:ident),*) => {$(
        /// Sent as its block (the descriptor travels): the receiver shares
        /// the same memory and lock.
        impl<T: Pod> Serialize for $t<T> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                self.0.serialize(s)
            }
        }
        impl<'de, T: Pod> Deserialize<'de> for $t<T> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                Ok($t(Block::deserialize(d)?))
            }
        }
    )*};
}
serde_as_block!(Value, Array, RawValue, RawArray);
