//! Python's `multiprocessing.Value`/`Array` and `sharedctypes.RawValue`/
//! `RawArray`: plain-old-data (`bytemuck::Pod`) in an anonymous shared
//! block, with a process-shared lock that survives a holder's death
//! (`Value`, `Array`) or without one (`RawValue`, `RawArray`).
//!
//! One layout for all four: the block starts with a 64-byte header whose
//! first words are a [`RawRobustLock`] (all zero: free), and the values
//! follow at offset 64. A block travels to a child as a task argument (its
//! descriptor goes along, as [`SharedMemory`]'s does).

use std::fmt;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ops::{Deref, DerefMut};

use bytemuck::Pod;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SharedMemory;
use crate::multiprocessing::error::{Error, Result};
use crate::raw::{RawCondvar, RawRobustLock};
use crate::sys::{Deadline, Shared};

/// Where the values start (the lock lives before it).
const DATA: usize = 64;
/// Where a `Condition`'s word lives in the header.
const CONDVAR: usize = 32;

const _: () = assert!(std::mem::size_of::<RawRobustLock>() <= CONDVAR);
const _: () = assert!(CONDVAR + std::mem::size_of::<RawCondvar<Shared>>() <= DATA);

/// `len` values of `T` after a lock header, in an anonymous shared block.
pub(super) struct Block<T> {
    shm: SharedMemory,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Pod> Block<T> {
    fn check_type() -> Result<()> {
        if align_of::<T>() > DATA {
            return Err(Error::Value(format!(
                "alignment {} is above the 64 bytes a shared value gets",
                align_of::<T>()
            )));
        }
        Ok(())
    }

    pub(super) fn zeroed(len: usize) -> Result<Self> {
        Self::check_type()?;
        let bytes = len
            .checked_mul(size_of::<T>())
            .and_then(|n| n.checked_add(DATA))
            .ok_or_else(|| Error::Value("shared array too large".into()))?;
        Ok(Block {
            shm: SharedMemory::anonymous(bytes)?,
            len,
            _t: PhantomData,
        })
    }

    pub(super) fn from_slice(values: &[T]) -> Result<Self> {
        let b = Self::zeroed(values.len())?;
        b.shm.write_at(DATA, bytemuck::cast_slice(values));
        Ok(b)
    }

    pub(super) fn try_clone(&self) -> Result<Self> {
        Ok(Block {
            shm: self.shm.try_clone()?,
            len: self.len,
            _t: PhantomData,
        })
    }

    /// A condition variable's word, after the lock in the header (zero
    /// until a `Condition` uses it; the other types never touch it).
    pub(super) fn condvar(&self) -> &RawCondvar<Shared> {
        // SAFETY: offset CONDVAR (32) + 4 bytes is inside the 64-byte
        // header, 4-aligned (the block is page-aligned), past the lock's
        // 8 bytes; RawCondvar is one atomic word (any bits valid), shared
        // only through atomic operations, for `self`'s life.
        unsafe { &*self.shm.as_ptr().add(CONDVAR).cast::<RawCondvar<Shared>>() }
    }

    pub(super) fn lock(&self) -> &RawRobustLock {
        // SAFETY: the block is at least DATA bytes, page-aligned, and
        // lives as long as `self`; its first bytes are a RawRobustLock
        // (atomic words, all-zero = free, any bit pattern a valid state),
        // shared only through atomic operations.
        unsafe { &*self.shm.as_ptr().cast::<RawRobustLock>() }
    }

    fn data(&self) -> *mut T {
        // SAFETY: DATA is within the block; the result is aligned for T
        // (page-aligned block, DATA a multiple of T's alignment, checked).
        unsafe { self.shm.as_ptr().add(DATA).cast::<T>() }
    }

    /// The values' bytes, copied out through atomic bytes (sound whatever
    /// other processes do meanwhile).
    fn read(&self, first: usize, out: &mut [T]) {
        assert!(first + out.len() <= self.len, "index out of range");
        self.shm
            .read_at(DATA + first * size_of::<T>(), bytemuck::cast_slice_mut(out));
    }

    fn write(&self, first: usize, values: &[T]) {
        assert!(first + values.len() <= self.len, "index out of range");
        self.shm
            .write_at(DATA + first * size_of::<T>(), bytemuck::cast_slice(values));
    }

    fn guard(&self, deadline: Deadline) -> Option<Guard<'_, T>> {
        self.guard_with(|l| l.lock(deadline))
    }

    /// The guard, if `take` takes the lock.
    pub(super) fn guard_with(
        &self,
        take: impl FnOnce(&RawRobustLock) -> bool,
    ) -> Option<Guard<'_, T>> {
        let lock = self.lock();
        if !take(lock) {
            return None;
        }
        Some(Guard {
            lock,
            data: self.data(),
            len: self.len,
            owner_died: lock.take_owner_died(),
            _b: PhantomData,
        })
    }

    fn from_parts(shm: SharedMemory, len: u64) -> std::result::Result<Self, String> {
        Self::check_type().map_err(|e| e.to_string())?;
        let len = usize::try_from(len).map_err(|e| e.to_string())?;
        let need = len
            .checked_mul(size_of::<T>())
            .and_then(|n| n.checked_add(DATA));
        if need.is_none_or(|n| n > shm.size()) {
            return Err(format!(
                "a shared block of {} bytes cannot hold {len} values of {} bytes",
                shm.size(),
                size_of::<T>()
            ));
        }
        Ok(Block {
            shm,
            len,
            _t: PhantomData,
        })
    }
}

impl<T> Serialize for Block<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (&self.shm, self.len as u64).serialize(s)
    }
}

impl<'de, T: Pod> Deserialize<'de> for Block<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let (shm, len) = <(SharedMemory, u64)>::deserialize(d)?;
        Block::from_parts(shm, len).map_err(D::Error::custom)
    }
}

/// The lock of a [`Value`] or [`Array`], held: gives the data (`&mut T`
/// for a `Value`, `&mut [T]` for an `Array`) and releases the lock when
/// dropped (Python's `with v.get_lock():` block).
///
/// [`owner_died`](Self::owner_died) says the previous holder died holding
/// the lock (a process killed in its critical section): the lock was taken
/// over rather than waited for for ever, and the data may be half-updated.
///
/// ```
/// let v = gilfree::multiprocessing::Value::new(1u32).unwrap();
/// let mut g = v.get_lock();
/// assert!(!g.owner_died());
/// *g += 1;
/// drop(g);
/// assert_eq!(v.value(), 2);
/// ```
pub struct Guard<'a, T> {
    lock: &'a RawRobustLock,
    data: *mut T,
    len: usize,
    owner_died: bool,
    _b: PhantomData<&'a mut T>,
}

impl<T> Guard<'_, T> {
    /// Whether the lock was taken over from a holder that died holding it
    /// (Python has no such report: its lock would stay held for ever).
    ///
    /// ```
    /// let v = gilfree::multiprocessing::Value::new(0u8).unwrap();
    /// assert!(!v.get_lock().owner_died());
    /// ```
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    fn slice(&self) -> &[T] {
        // SAFETY: `data` points at `len` aligned values of T in the block,
        // which outlives 'a; every access to them from any process goes
        // through this lock (the Raw types have blocks of their own), and
        // we hold it, so nothing writes them meanwhile.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }

    fn slice_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `slice`; `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.data, self.len) }
    }
}

impl<T> Guard<'_, T> {
    /// Release the lock, run `f` (a condition's sleep), and take the lock
    /// back; a take-over from a holder that died meanwhile sets
    /// [`owner_died`](Self::owner_died).
    pub(super) fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.lock.unlock();
        let r = f();
        self.lock.lock(Deadline::Never);
        if self.lock.take_owner_died() {
            self.owner_died = true;
        }
        r
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl<T: fmt::Debug> fmt::Debug for Guard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("data", &self.slice())
            .field("owner_died", &self.owner_died)
            .finish()
    }
}

/// A [`Value`]'s guard: dereferences to the value.
pub type ValueGuard<'a, T> = Guard<'a, Single<T>>;

/// The element type of a [`ValueGuard`]: a single `T` (the guard
/// dereferences to `T` itself).
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct Single<T>(pub(super) T);

impl<T> Deref for Guard<'_, Single<T>> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.slice()[0].0
    }
}

impl<T> DerefMut for Guard<'_, Single<T>> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.slice_mut()[0].0
    }
}

/// An [`Array`]'s guard: dereferences to the slice.
pub type ArrayGuard<'a, T> = Guard<'a, Elem<T>>;

/// The element type of an [`ArrayGuard`]: the guard dereferences to `[T]`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct Elem<T>(T);

impl<T> Deref for Guard<'_, Elem<T>> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        let s = self.slice();
        // SAFETY: Elem<T> is repr(transparent) over T: same layout.
        unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<T>(), s.len()) }
    }
}

impl<T> DerefMut for Guard<'_, Elem<T>> {
    fn deref_mut(&mut self) -> &mut [T] {
        let s = self.slice_mut();
        // SAFETY: Elem<T> is repr(transparent) over T: same layout.
        unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<T>(), s.len()) }
    }
}

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
/// [`owner_died`](Guard::owner_died) instead of everyone hanging.
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

// SAFETY: Single<T> is repr(transparent) over a Pod T: any bit pattern is
// valid, no padding, no pointers.
unsafe impl<T: Pod> bytemuck::Zeroable for Single<T> {}
// SAFETY: as above.
unsafe impl<T: Pod> Pod for Single<T> {}
// SAFETY: Elem<T> is repr(transparent) over a Pod T, as Single.
unsafe impl<T: Pod> bytemuck::Zeroable for Elem<T> {}
// SAFETY: as above.
unsafe impl<T: Pod> Pod for Elem<T> {}

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
/// [`Guard::owner_died`]); out-of-range indices panic, as slice indexing
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
