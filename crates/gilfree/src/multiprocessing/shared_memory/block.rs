//! The one layout of `Value`, `Array`, `RawValue`, `RawArray`, `Lock` and
//! `Condition`: an anonymous shared block whose 64-byte header holds the
//! lock (`RawRobustLock`, offset 0) and a condition's word (offset 32),
//! with the values at offset 64; and the guard that holds the lock and
//! gives the values. The lock goes through the guard layer's `Hooked`
//! (the deadlock hooks), with a tag of this handle's, in this process's
//! memory: a tag in the block would be one process's id in every process.

use std::fmt;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use bytemuck::Pod;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SharedMemory;
use crate::guard::{Hooked, RawMutex};
use crate::multiprocessing::error::{Error, Result};
use crate::raw::{RawCondvar, RawRobustLock};
use crate::sys::{Deadline, Shared};

/// Where the values start (the lock lives before it).
const DATA: usize = 64;
/// Where a `Condition`'s word lives in the header.
const CONDVAR: usize = 32;

const _: () = assert!(std::mem::size_of::<RawRobustLock>() <= CONDVAR);
const _: () = assert!(CONDVAR + std::mem::size_of::<RawCondvar<Shared>>() <= DATA);

/// The block's lock as the guard layer drives it: a pointer to the
/// `RawRobustLock` at offset 0 of a mapping that outlives it (both are
/// fields of one [`Block`]).
pub(super) struct BlockLock(NonNull<RawRobustLock>);

// SAFETY: the pointee is atomic words shared only through atomic
// operations (with other processes too); the pointer is only dereferenced
// while its `Block`, which owns the mapping, lives.
unsafe impl Send for BlockLock {}
// SAFETY: as for `Send`.
unsafe impl Sync for BlockLock {}

impl BlockLock {
    pub(super) fn get(&self) -> &RawRobustLock {
        // SAFETY: see the type: the mapping outlives `self`, its first
        // bytes are a RawRobustLock (atomic words, any bits valid).
        unsafe { self.0.as_ref() }
    }
}

impl RawMutex for BlockLock {
    type Unlocked = bool;
    const KIND: &'static str = "Lock";
    const REENTRANT: bool = false;
    fn owned(&self) -> bool {
        false
    }
    fn try_lock(&self) -> bool {
        self.get().try_lock()
    }
    fn lock_contended(&self, deadline: Deadline) -> bool {
        self.get().lock(deadline)
    }
    fn lock(&self, deadline: Deadline) -> bool {
        self.get().lock(deadline)
    }
    fn last_level(&self) -> bool {
        true
    }
    fn unlock(&self) -> bool {
        self.get().unlock()
    }
}

/// `len` values of `T` after a lock header, in an anonymous shared block.
pub(super) struct Block<T> {
    /// Declared before `shm`: it points into the mapping.
    lock: Hooked<BlockLock>,
    shm: SharedMemory,
    pub(super) len: usize,
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
        Ok(Block::over(SharedMemory::anonymous(bytes)?, len))
    }

    pub(super) fn from_slice(values: &[T]) -> Result<Self> {
        let b = Self::zeroed(values.len())?;
        b.shm.write_at(DATA, bytemuck::cast_slice(values));
        Ok(b)
    }

    pub(super) fn try_clone(&self) -> Result<Self> {
        Ok(Block::over(self.shm.try_clone()?, self.len))
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

    /// The lock, through the deadlock hooks (`.raw().get()` for the raw
    /// lock).
    pub(super) fn lock(&self) -> &Hooked<BlockLock> {
        &self.lock
    }

    fn data(&self) -> *mut T {
        // SAFETY: DATA is within the block; the result is aligned for T
        // (page-aligned block, DATA a multiple of T's alignment, checked).
        unsafe { self.shm.as_ptr().add(DATA).cast::<T>() }
    }

    /// The values' bytes, copied out through atomic bytes (sound whatever
    /// other processes do meanwhile).
    pub(super) fn read(&self, first: usize, out: &mut [T]) {
        assert!(first + out.len() <= self.len, "index out of range");
        self.shm
            .read_at(DATA + first * size_of::<T>(), bytemuck::cast_slice_mut(out));
    }

    pub(super) fn write(&self, first: usize, values: &[T]) {
        assert!(first + values.len() <= self.len, "index out of range");
        self.shm
            .write_at(DATA + first * size_of::<T>(), bytemuck::cast_slice(values));
    }

    pub(super) fn guard(&self, deadline: Deadline) -> Option<Guard<'_, T>> {
        self.guard_with(|l| l.lock(deadline))
    }

    /// The guard, if `take` takes the lock.
    pub(super) fn guard_with(
        &self,
        take: impl FnOnce(&Hooked<BlockLock>) -> bool,
    ) -> Option<Guard<'_, T>> {
        let lock = self.lock();
        if !take(lock) {
            return None;
        }
        Some(Guard {
            lock,
            data: self.data(),
            len: self.len,
            owner_died: lock.raw().get().take_owner_died(),
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
        Ok(Block::over(shm, len))
    }

    /// The block over `shm` (at least `DATA` bytes, checked by the
    /// callers), with a fresh deadlock tag.
    fn over(shm: SharedMemory, len: usize) -> Self {
        let raw = NonNull::new(shm.as_ptr().cast::<RawRobustLock>()).expect("mapped");
        Block {
            lock: Hooked::new(BlockLock(raw)),
            shm,
            len,
            _t: PhantomData,
        }
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

/// The lock of a [`Value`](super::Value) or [`Array`](super::Array), held: gives the data (`&mut T`
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
    lock: &'a Hooked<BlockLock>,
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
        self.lock.released_if(true);
        self.lock.raw().get().unlock();
        let r = f();
        self.lock.relock(|l| {
            l.get().lock(Deadline::Never);
        });
        if self.lock.raw().get().take_owner_died() {
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

/// A [`Value`](super::Value)'s guard: dereferences to the value.
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

/// An [`Array`](super::Array)'s guard: dereferences to the slice.
pub type ArrayGuard<'a, T> = Guard<'a, Elem<T>>;

/// The element type of an [`ArrayGuard`]: the guard dereferences to `[T]`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct Elem<T>(pub(super) T);

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

// SAFETY: Single<T> is repr(transparent) over a Pod T: any bit pattern is
// valid, no padding, no pointers.
unsafe impl<T: Pod> bytemuck::Zeroable for Single<T> {}
// SAFETY: as above.
unsafe impl<T: Pod> Pod for Single<T> {}
// SAFETY: Elem<T> is repr(transparent) over a Pod T, as Single.
unsafe impl<T: Pod> bytemuck::Zeroable for Elem<T> {}
// SAFETY: as above.
unsafe impl<T: Pod> Pod for Elem<T> {}
