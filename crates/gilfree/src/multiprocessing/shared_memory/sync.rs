//! Python's `multiprocessing.Semaphore`, `BoundedSemaphore` and `Event`:
//! the process-shared homes of `raw::RawSemaphore<Shared>` and
//! `raw::RawEvent<Shared>` (their algorithms, state encodings and why no
//! wake-up is lost are in `raw/`), each in an anonymous shared block, with
//! their `threading` twins' API.

use std::fmt;
use std::marker::PhantomData;
use std::mem::size_of;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SharedMemory;
use crate::multiprocessing::error::{Error, Result};
use crate::raw::{RawEvent, RawSemaphore};
use crate::sys::atomic::{AtomicU32, Ordering::Relaxed};
use crate::sys::{Deadline, Shared};

pub(super) mod sealed {
    /// A header that may sit in a shared block: `#[repr(C)]` atomic words
    /// only, so every bit pattern another process may leave is a valid
    /// value of it.
    pub trait Header {}
}
pub(super) use sealed::Header;

/// A semaphore's words: the raw algorithm and its ceiling (`u32::MAX`:
/// unbounded), which a child needs too.
#[repr(C)]
pub(super) struct SemHeader {
    pub(super) raw: RawSemaphore<Shared>,
    ceiling: AtomicU32,
}
impl Header for SemHeader {}
impl Header for RawEvent<Shared> {}

/// A header `H` at the start of its own anonymous shared block.
pub(super) struct Home<H> {
    shm: SharedMemory,
    _h: PhantomData<H>,
}

impl<H: Header> Home<H> {
    pub(super) fn new(init: H) -> Result<Self> {
        let shm = SharedMemory::anonymous(size_of::<H>().max(1))?;
        // SAFETY: the block is fresh (no other handle, no other process
        // yet), page-aligned and at least size_of::<H>() bytes: writing the
        // initial header races with nothing.
        unsafe { shm.as_ptr().cast::<H>().write(init) };
        Ok(Home {
            shm,
            _h: PhantomData,
        })
    }

    pub(super) fn get(&self) -> &H {
        // SAFETY: the block is page-aligned, at least size_of::<H>() bytes
        // (checked when decoded), lives as long as `self`; H is atomic
        // words only (the sealed `Header`), so any bytes are a valid H and
        // sharing it with other processes is sharing atomics.
        unsafe { &*self.shm.as_ptr().cast::<H>() }
    }

    pub(super) fn try_clone(&self) -> Result<Self> {
        Ok(Home {
            shm: self.shm.try_clone()?,
            _h: PhantomData,
        })
    }
}

impl<H> Serialize for Home<H> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.shm.serialize(s)
    }
}

impl<'de, H: Header> Deserialize<'de> for Home<H> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let shm = SharedMemory::deserialize(d)?;
        if shm.size() < size_of::<H>() {
            return Err(D::Error::custom("shared block too small for its type"));
        }
        Ok(Home {
            shm,
            _h: PhantomData,
        })
    }
}

fn overflow() -> Error {
    Error::Value("semaphore value would pass u32::MAX".into())
}

/// One permit of a process-shared [`Semaphore`] or [`BoundedSemaphore`],
/// given back when dropped (the end of Python's `with sem:` block).
///
/// ```
/// let sem = gilfree::multiprocessing::Semaphore::new(1).unwrap();
/// let g = sem.acquire();
/// assert_eq!(sem.value(), 0);
/// drop(g);
/// assert_eq!(sem.value(), 1);
/// ```
#[must_use = "the permit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    pub(super) header: &'a SemHeader,
}

impl SemaphoreGuard<'_> {
    /// Keep the permit: drop the guard without giving it back; release it
    /// later with `release`, from any thread or process.
    ///
    /// ```
    /// let sem = gilfree::multiprocessing::Semaphore::new(1).unwrap();
    /// sem.acquire().forget();
    /// assert_eq!(sem.value(), 0);
    /// sem.release().unwrap();
    /// ```
    pub fn forget(self) {
        std::mem::forget(self)
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        // Over the ceiling only if someone over-released meanwhile; a
        // destructor cannot raise, so the value stays where it is.
        let _ = self
            .header
            .raw
            .release(1, self.header.ceiling.load(Relaxed));
    }
}

macro_rules! semaphore {
    ($(#[$doc:meta])* $name:ident, $py:literal) => {
        $(#[$doc])*
        pub struct $name(pub(super) Home<SemHeader>);

        impl $name {
            /// Python's `acquire()`: block until a permit is free.
            ///
            /// ```
            #[doc = concat!("let s = gilfree::multiprocessing::", stringify!($name), "::new(1).unwrap();")]
            /// let _permit = s.acquire();
            /// ```
            pub fn acquire(&self) -> SemaphoreGuard<'_> {
                let h = self.0.get();
                h.raw.acquire(Deadline::Never);
                SemaphoreGuard { header: h }
            }

            /// Python's `acquire(blocking=False)`.
            ///
            /// ```
            #[doc = concat!("let s = gilfree::multiprocessing::", stringify!($name), "::new(1).unwrap();")]
            /// let a = s.try_acquire();
            /// assert!(a.is_some() && s.try_acquire().is_none());
            /// ```
            pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
                let h = self.0.get();
                h.raw.try_acquire().then(|| SemaphoreGuard { header: h })
            }

            /// Python's `acquire(timeout=t)`.
            ///
            /// ```
            #[doc = concat!("let s = gilfree::multiprocessing::", stringify!($name), "::new(0).unwrap();")]
            /// assert!(s.acquire_timeout(std::time::Duration::from_millis(1)).is_none());
            /// ```
            pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
                let h = self.0.get();
                h.raw
                    .acquire(Deadline::after(timeout))
                    .then(|| SemaphoreGuard { header: h })
            }

            /// Python's `acquire(blocking, timeout)` without a guard: whether
            /// a permit was taken (give it back with `release`).
            ///
            /// ```
            #[doc = concat!("let s = gilfree::multiprocessing::", stringify!($name), "::new(1).unwrap();")]
            /// assert!(s.acquire_unguarded(false, None));
            /// s.release().unwrap();
            /// ```
            pub fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
                let raw = &self.0.get().raw;
                if blocking {
                    raw.acquire(timeout.map_or(Deadline::Never, Deadline::after))
                } else {
                    raw.try_acquire()
                }
            }

            /// Python's `release()`, from any thread or process.
            ///
            /// ```
            #[doc = concat!("let s = gilfree::multiprocessing::", stringify!($name), "::new(1).unwrap();")]
            /// s.acquire().forget();
            /// s.release().unwrap();
            /// assert_eq!(s.value(), 1);
            /// ```
            pub fn release(&self) -> Result<()> {
                self.release_n(1)
            }

            /// Python 3.9+'s `release(n)`: `n` permits at once (`n` ≥ 1).
            ///
            /// ```
            #[doc = concat!("let s = gilfree::multiprocessing::", stringify!($name), "::new(2).unwrap();")]
            /// s.acquire().forget();
            /// s.acquire().forget();
            /// s.release_n(2).unwrap();
            /// assert!(s.release_n(0).is_err());
            /// ```
            pub fn release_n(&self, n: u32) -> Result<()> {
                if n == 0 {
                    return Err(Error::Value("n must be one or more".into()));
                }
                let h = self.0.get();
                let ceiling = h.ceiling.load(Relaxed);
                h.raw.release(n, ceiling).map_err(|_| {
                    if ceiling == u32::MAX {
                        overflow()
                    } else {
                        Error::Value(concat!($py, " released too many times").into())
                    }
                })
            }

            /// The free permits now (a snapshot; Python's `get_value()`).
            ///
            /// ```
            #[doc = concat!("assert_eq!(gilfree::multiprocessing::", stringify!($name), "::new(3).unwrap().value(), 3);")]
            /// ```
            pub fn value(&self) -> u32 {
                self.0.get().raw.value()
            }

            /// Another handle to the same semaphore: keep one while passing
            /// one to a child.
            ///
            /// ```
            #[doc = concat!("let a = gilfree::multiprocessing::", stringify!($name), "::new(1).unwrap();")]
            /// let b = a.try_clone().unwrap();
            /// a.acquire().forget();
            /// assert_eq!(b.value(), 0);
            /// ```
            pub fn try_clone(&self) -> Result<Self> {
                Ok($name(self.0.try_clone()?))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "<multiprocessing.{}(value={})>", $py, self.value())
            }
        }

        /// Sent as its block (the descriptor travels): the receiver shares
        /// the same permits.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                self.0.serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                Ok($name(Home::deserialize(d)?))
            }
        }
    };
}

semaphore!(
    /// Python's `multiprocessing.Semaphore`: permits shared between
    /// processes, with [`threading::Semaphore`](crate::threading::Semaphore)'s
    /// API.
    ///
    /// A permit has no owner: a process that dies holding one does not give
    /// it back (as in Python, the permit is lost; [`release`](Self::release)
    /// from another process can make it up).
    ///
    /// ```
    /// use gilfree::multiprocessing::Semaphore;
    /// let sem = Semaphore::new(2).unwrap();
    /// let a = sem.acquire();
    /// let _b = sem.acquire();
    /// assert!(sem.try_acquire().is_none());
    /// drop(a);
    /// assert_eq!(sem.value(), 1);
    /// ```
    Semaphore,
    "Semaphore"
);

semaphore!(
    /// Python's `multiprocessing.BoundedSemaphore`: a [`Semaphore`] whose
    /// value may not pass its initial value; a release beyond it is an
    /// error (Python's `ValueError`) and changes nothing.
    ///
    /// ```
    /// use gilfree::multiprocessing::BoundedSemaphore;
    /// let sem = BoundedSemaphore::new(1).unwrap();
    /// assert!(sem.release().is_err());
    /// ```
    BoundedSemaphore,
    "BoundedSemaphore"
);

impl Semaphore {
    /// Python's `multiprocessing.Semaphore(value)`.
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::Semaphore::new(0).unwrap().value(), 0);
    /// ```
    pub fn new(value: u32) -> Result<Self> {
        Ok(Semaphore(Home::new(SemHeader {
            raw: RawSemaphore::new(value),
            ceiling: AtomicU32::new(u32::MAX),
        })?))
    }
}

impl BoundedSemaphore {
    /// Python's `multiprocessing.BoundedSemaphore(value)`.
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::BoundedSemaphore::new(2).unwrap().value(), 2);
    /// ```
    pub fn new(value: u32) -> Result<Self> {
        Ok(BoundedSemaphore(Home::new(SemHeader {
            raw: RawSemaphore::new(value),
            ceiling: AtomicU32::new(value),
        })?))
    }

    /// The initial value, which the value may not pass.
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::BoundedSemaphore::new(4).unwrap().initial_value(), 4);
    /// ```
    pub fn initial_value(&self) -> u32 {
        self.0.get().ceiling.load(Relaxed)
    }
}

/// Python's `multiprocessing.Event`: a flag shared between processes that
/// they can wait for, with [`threading::Event`](crate::threading::Event)'s
/// API.
///
/// ```
/// use gilfree::multiprocessing::Event;
/// let e = Event::new().unwrap();
/// assert!(!e.is_set());
/// e.set();
/// e.wait(); // returns at once
/// e.clear();
/// assert!(!e.wait_timeout(std::time::Duration::from_millis(1)));
/// ```
pub struct Event(pub(super) Home<RawEvent<Shared>>);

impl Event {
    /// Python's `multiprocessing.Event()`: a new, clear event.
    ///
    /// ```
    /// assert!(!gilfree::multiprocessing::Event::new().unwrap().is_set());
    /// ```
    pub fn new() -> Result<Self> {
        Ok(Event(Home::new(RawEvent::new())?))
    }

    /// Python's `is_set()`.
    ///
    /// ```
    /// let e = gilfree::multiprocessing::Event::new().unwrap();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.0.get().is_set()
    }

    /// Python's `set()`: set the flag and wake every waiter, in every
    /// process.
    ///
    /// ```
    /// let e = gilfree::multiprocessing::Event::new().unwrap();
    /// e.set();
    /// e.set(); // already set: nothing happens
    /// ```
    pub fn set(&self) {
        self.0.get().set()
    }

    /// Python's `clear()`.
    ///
    /// ```
    /// let e = gilfree::multiprocessing::Event::new().unwrap();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        self.0.get().clear()
    }

    /// Python's `wait()`: block until the flag is set.
    ///
    /// ```
    /// let e = gilfree::multiprocessing::Event::new().unwrap();
    /// e.set();
    /// e.wait();
    /// ```
    pub fn wait(&self) {
        self.0.get().wait(Deadline::Never);
    }

    /// Python's `wait(timeout)`: whether the flag was set (or was set at
    /// some point while waiting).
    ///
    /// ```
    /// let e = gilfree::multiprocessing::Event::new().unwrap();
    /// assert!(!e.wait_timeout(std::time::Duration::ZERO));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.0.get().wait(Deadline::after(timeout))
    }

    /// Another handle to the same event: keep one while passing one to a
    /// child.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Event::new().unwrap();
    /// a.try_clone().unwrap().set();
    /// assert!(a.is_set());
    /// ```
    pub fn try_clone(&self) -> Result<Self> {
        Ok(Event(self.0.try_clone()?))
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_set() { "set" } else { "unset" };
        write!(f, "<multiprocessing.Event({state})>")
    }
}

/// Sent as its block (the descriptor travels): the receiver shares the
/// same flag.
impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Event(Home::deserialize(d)?))
    }
}
