//! What a `Condition` needs of its lock: [`ConditionLock`] (Python's
//! `_is_owned`, `_release_save`, `_acquire_restore` for `Lock` and `RLock`,
//! through the guard layer's hooks) and [`DataLess`] (the locks on which
//! Python's unguarded `wait()` is sound).

use std::time::Duration;

use crate::raw::NotOwner;
use crate::sys::Deadline;
use crate::threading::error::Error;
use crate::threading::lock::Lock;
use crate::threading::rlock::RLock;

mod sealed {
    use super::*;
    use crate::guard::sealed::Owned;

    /// The operations a [`Condition`](super::Condition) needs from its lock.
    pub trait Sealed: Owned + Send + Sync {
        /// Python's `_is_owned`: owned by this thread (RLock) or held by
        /// anyone (Lock, which has no owner).
        fn cond_is_owned(&self) -> bool;
        /// Python's `_release_save`: release fully; the saved state.
        fn cond_release_save(&self) -> Result<u32, Error>;
        /// Python's `_acquire_restore`.
        #[track_caller]
        fn cond_acquire_restore(&self, saved: u32);
        /// One level of release.
        fn cond_release(&self) -> Result<(), Error>;
        /// One level of acquire, with a deadline.
        #[track_caller]
        fn cond_acquire(&self, blocking: bool, timeout: Option<Duration>) -> bool {
            if blocking {
                self.hooked().lock(Deadline::from_python(true, timeout))
            } else {
                self.hooked().try_lock()
            }
        }
    }

    impl<T: ?Sized + Send> Sealed for Lock<T> {
        fn cond_is_owned(&self) -> bool {
            self.hooked().raw().is_locked()
        }
        fn cond_release_save(&self) -> Result<u32, Error> {
            // Through the deadlock hooks (no-ops without the feature).
            if self.hooked().unlock() {
                Ok(0)
            } else {
                Err(Error::ReleaseUnlocked)
            }
        }
        #[track_caller]
        fn cond_acquire_restore(&self, _: u32) {
            self.hooked().relock(|raw| {
                raw.lock(Deadline::Never);
            });
        }
        fn cond_release(&self) -> Result<(), Error> {
            self.cond_release_save().map(drop)
        }
    }

    impl<T: ?Sized + Send> Sealed for RLock<T> {
        fn cond_is_owned(&self) -> bool {
            self.hooked().raw().is_owned()
        }
        fn cond_release_save(&self) -> Result<u32, Error> {
            // Through the deadlock hooks (no-ops without the feature).
            let h = self.hooked();
            h.released_if(h.raw().is_owned());
            h.raw().release_save().map_err(|NotOwner| Error::NotOwner)
        }
        #[track_caller]
        fn cond_acquire_restore(&self, saved: u32) {
            self.hooked().relock(|raw| raw.acquire_restore(saved));
        }
        fn cond_release(&self) -> Result<(), Error> {
            self.hooked().unlock().map_err(|NotOwner| Error::NotOwner)
        }
    }
}

/// A lock a [`Condition`](super::Condition) can be built on: [`Lock`] or [`RLock`] (sealed).
///
/// Python accepts any object with `acquire`/`release`; gilfree accepts its
/// two locks, whose ownership it can check and whose recursion it can save
/// and restore while waiting.
///
/// ```
/// use gilfree::threading::{Condition, Lock, RLock};
/// let _over_rlock: Condition<RLock> = Condition::new();
/// let _over_lock: Condition<Lock> = Condition::from_lock(Lock::new(()));
/// ```
pub trait ConditionLock: sealed::Sealed {}
impl<T: ?Sized + Send> ConditionLock for Lock<T> {}
impl<T: ?Sized + Send> ConditionLock for RLock<T> {}

mod dataless {
    pub trait Sealed {}
    impl Sealed for crate::threading::lock::Lock<()> {}
    impl Sealed for crate::threading::rlock::RLock<()> {}
}

/// A lock guarding no data (`Lock<()>` or `RLock<()>`), on which a
/// [`Condition`](super::Condition) offers Python's unguarded `wait()` (sealed): with data
/// inside, a reference into it could outlive the release inside `wait`.
///
/// ```
/// use gilfree::threading::{Condition, Lock};
/// let cond = Condition::from_lock(Lock::new(()));
/// let _g = cond.acquire();
/// assert!(cond.wait_timeout(std::time::Duration::ZERO).is_ok());
/// ```
pub trait DataLess: dataless::Sealed {}
impl DataLess for Lock<()> {}
impl DataLess for RLock<()> {}
