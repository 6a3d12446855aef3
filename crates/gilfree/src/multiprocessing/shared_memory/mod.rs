//! Python's `multiprocessing.shared_memory`: a block of memory that several
//! processes map at once ([`SharedMemory`]), and the resource tracker that
//! unlinks a program's named blocks once its process tree is gone; and
//! Python's `Value`/`Array`/`RawValue`/`RawArray` (plain-old-data in an
//! anonymous block, with or without a lock that survives a dead holder).
//!
//! A named block is a POSIX shared-memory object (`shm_open`, mode 0600,
//! a `/psm_…` name as CPython's) that any process may attach to by name;
//! an anonymous block ([`SharedMemory::anonymous`], `memfd_create`) has no
//! name to leak and reaches other processes only as a descriptor, as a
//! task argument. Either kind travels as a task argument (or through a
//! [`Connection`](super::Connection)): its descriptor goes along, as a
//! `Connection`'s does.

mod aio;
mod barrier;
mod block;
mod condition;
mod lock;
mod rlock;
mod sync;
pub(crate) mod tracker;
mod value;

pub use barrier::Barrier;
pub use block::{ArrayGuard, Elem, Guard, Single, ValueGuard};
pub use condition::Condition;
pub use lock::{Lock, LockGuard};
pub use rlock::{AsyncRLockGuard, RLock, RLockGuard};
pub use sync::{BoundedSemaphore, Event, Semaphore, SemaphoreGuard};
pub use value::{Array, RawArray, RawValue, Value};

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::codec;
use super::connection::{put_outgoing, take_incoming};
use super::error::{Error, Result};
use crate::sys::os;
use crate::sys::os::shm;

/// Longest name accepted (the OS allows 255 bytes with the leading `/`).
const MAX_NAME: usize = 250;

/// Python's `multiprocessing.shared_memory.SharedMemory`: a block of bytes
/// mapped by every process that creates or attaches to it.
///
/// - [`create`](Self::create)`(size)` — Python's `SharedMemory(create=True,
///   size=n)`: a new block with a generated name (`psm_…`).
/// - [`create_named`](Self::create_named)`(name, size)`,
///   [`attach`](Self::attach)`(name)` — `SharedMemory(name, create=True,
///   size=n)` and `SharedMemory(name)`.
/// - [`anonymous`](Self::anonymous)`(size)` — no Python equivalent: a
///   block without a name (`memfd`), shared only by passing it to a child.
/// - [`builder`](Self::builder)`().track(false)` — Python 3.13's
///   `track=False`.
///
/// The block lives while any process maps it; its *name* lives until
/// [`unlink`](Self::unlink), or until the program's whole process tree is
/// gone (the resource tracker unlinks what was left, even after a
/// SIGKILL).
///
/// # Reading and writing
///
/// Other processes may write the block at any moment, so this handle
/// hands out no plain `&[u8]`/`&mut [u8]` safely: [`bytes`](Self::bytes)
/// is a view of atomic bytes, [`read_at`](Self::read_at) /
/// [`write_at`](Self::write_at) / [`to_vec`](Self::to_vec) copy through
/// it, and [`as_slice`](Self::as_slice) / [`as_mut_slice`](Self::as_mut_slice)
/// are `unsafe`, for when the program knows no one else writes (or
/// touches) the block meanwhile. Structured data with a lock is
/// `Value`/`Array`'s job.
///
/// # Differences from Python
///
/// - `close()` is dropping the handle ([`close`](Self::close) consumes it).
/// - Attaching never registers the block with the resource tracker (in
///   Python ≤ 3.12 it did, and the tracker unlinked blocks that the process
///   had only attached to, gh-82300; 3.13 added `track=False`). Only the
///   creator's program tree is responsible for the name.
/// - [`name`](Self::name) is `None` for an anonymous block.
/// - Errors are [`Error::Io`] with kind `AlreadyExists` (Python's
///   `FileExistsError`) and `NotFound` (`FileNotFoundError`).
///
/// ```
/// use gilfree::multiprocessing::SharedMemory;
///
/// let a = SharedMemory::create(16).unwrap();
/// a.write_at(0, b"hello");
/// let b = SharedMemory::attach(a.name().unwrap()).unwrap(); // any process
/// let mut got = [0u8; 5];
/// b.read_at(0, &mut got);
/// assert_eq!(&got, b"hello");
/// assert_eq!(b.size(), 16);
/// drop(b);
/// a.unlink().unwrap();
/// ```
pub struct SharedMemory {
    ptr: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
    /// Without the leading `/`; `None` for an anonymous block.
    name: Option<String>,
}

// SAFETY: the handle owns a process-wide mapping and a descriptor; every
// safe access to the bytes is atomic, and the unsafe ones put the
// no-concurrent-access obligation on their caller, so sharing or moving the
// handle between threads adds nothing that other processes cannot already do.
unsafe impl Send for SharedMemory {}
// SAFETY: as above.
unsafe impl Sync for SharedMemory {}

/// Options for a new [`SharedMemory`]: Python's keyword arguments `name=`
/// and `track=`.
///
/// ```
/// use gilfree::multiprocessing::SharedMemory;
/// let m = SharedMemory::builder().track(false).create(8).unwrap();
/// // Not tracked: this program must unlink it (or it stays in /dev/shm).
/// m.unlink().unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct SharedMemoryBuilder {
    name: Option<String>,
    track: bool,
}

impl SharedMemoryBuilder {
    /// Python's `name=`: the block's name (a leading `/` is optional, as in
    /// Python). Without it, a name is generated.
    ///
    /// ```
    /// use gilfree::multiprocessing::SharedMemory;
    /// let name = format!("gilfree_doc_builder_{}", std::process::id());
    /// let m = SharedMemory::builder().name(&name).create(8).unwrap();
    /// assert_eq!(m.name(), Some(name.as_str()));
    /// m.unlink().unwrap();
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Python 3.13's `track=`: whether this program's resource tracker
    /// unlinks the block when the program's process tree is gone (default
    /// `true`). With `false` the block outlives the program until someone
    /// calls [`SharedMemory::unlink`].
    ///
    /// ```
    /// use gilfree::multiprocessing::SharedMemory;
    /// let m = SharedMemory::builder().track(false).create(8).unwrap();
    /// m.unlink().unwrap();
    /// ```
    pub fn track(mut self, track: bool) -> Self {
        self.track = track;
        self
    }

    /// Create the block: `size` zero bytes (`size` > 0). A name already in
    /// use is `AlreadyExists`.
    ///
    /// ```
    /// use gilfree::multiprocessing::SharedMemory;
    /// let m = SharedMemory::builder().create(3).unwrap();
    /// assert_eq!(m.to_vec(), [0, 0, 0]);
    /// # m.unlink().unwrap();
    /// ```
    pub fn create(self, size: usize) -> Result<SharedMemory> {
        if size == 0 {
            return Err(Error::Value(
                "'size' must be a positive number different from zero".into(),
            ));
        }
        let (fd, name) = match self.name {
            Some(n) => {
                let n = check_name(&n)?;
                (shm::shm_create(&os_name(&n))?, n)
            }
            None => loop {
                let tag: String = os::system::random_bytes(4)?
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let n = format!("psm_{tag}");
                match shm::shm_create(&os_name(&n)) {
                    Ok(fd) => break (fd, n),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e.into()),
                }
            },
        };
        let unlink_on_error = |e: Error| {
            let _ = shm::shm_unlink(&os_name(&name));
            e
        };
        shm::set_len(fd.as_fd(), size).map_err(|e| unlink_on_error(e.into()))?;
        if self.track {
            tracker::register(&os_name(&name)).map_err(|e| unlink_on_error(e.into()))?;
        }
        SharedMemory::map(fd, size, Some(name))
    }
}

fn os_name(name: &str) -> String {
    format!("/{name}")
}

/// Python strips one leading `/`; the rest must be a plain file name.
fn check_name(name: &str) -> Result<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    if n.is_empty()
        || n.len() > MAX_NAME
        || n.contains('/')
        || n.contains('\0')
        || n == "."
        || n == ".."
    {
        return Err(Error::Value(format!("bad shared memory name {name:?}")));
    }
    Ok(n.to_owned())
}

impl SharedMemory {
    /// Options for a new block (name, tracking).
    ///
    /// ```
    /// let m = gilfree::multiprocessing::SharedMemory::builder().create(4).unwrap();
    /// # m.unlink().unwrap();
    /// ```
    pub fn builder() -> SharedMemoryBuilder {
        SharedMemoryBuilder {
            name: None,
            track: true,
        }
    }

    /// Python's `SharedMemory(create=True, size=size)`: a new block of
    /// `size` zero bytes with a generated name, tracked.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::SharedMemory::create(4096).unwrap();
    /// assert!(m.name().unwrap().starts_with("psm_"));
    /// # m.unlink().unwrap();
    /// ```
    pub fn create(size: usize) -> Result<SharedMemory> {
        Self::builder().create(size)
    }

    /// Python's `SharedMemory(name, create=True, size=size)`: a new block
    /// under `name`; a name in use is `AlreadyExists`.
    ///
    /// ```
    /// use gilfree::multiprocessing::SharedMemory;
    /// let name = format!("gilfree_doc_named_{}", std::process::id());
    /// let m = SharedMemory::create_named(&name, 10).unwrap();
    /// let again = SharedMemory::create_named(&name, 10);
    /// assert_eq!(again.unwrap_err().to_string(), "File exists (os error 17)");
    /// m.unlink().unwrap();
    /// ```
    pub fn create_named(name: &str, size: usize) -> Result<SharedMemory> {
        Self::builder().name(name).create(size)
    }

    /// Python's `SharedMemory(name)`: attach to an existing block. A name
    /// that does not exist is `NotFound`. Attaching never makes this
    /// process responsible for unlinking it.
    ///
    /// ```
    /// use gilfree::multiprocessing::{Error, SharedMemory};
    /// let e = SharedMemory::attach("gilfree_doc_no_such_block").unwrap_err();
    /// assert!(matches!(e, Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound));
    /// ```
    pub fn attach(name: &str) -> Result<SharedMemory> {
        let n = check_name(name)?;
        let fd = shm::shm_attach(&os_name(&n))?;
        let size = shm::len_of(fd.as_fd())?;
        if size == 0 {
            return Err(Error::Value(format!(
                "shared memory {n:?} has size 0 (its creator has not sized it yet)"
            )));
        }
        Self::map(fd, size, Some(n))
    }

    /// A block without a name (`memfd_create`): nothing to unlink or leak;
    /// other processes get it only as a task argument (or through a
    /// [`Connection`](super::Connection)). Not in Python.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::SharedMemory::anonymous(64).unwrap();
    /// assert_eq!(m.name(), None);
    /// assert_eq!(m.size(), 64);
    /// ```
    pub fn anonymous(size: usize) -> Result<SharedMemory> {
        if size == 0 {
            return Err(Error::Value(
                "'size' must be a positive number different from zero".into(),
            ));
        }
        let fd = shm::memfd("gilfree-shm")?;
        shm::set_len(fd.as_fd(), size)?;
        Self::map(fd, size, None)
    }

    /// Another handle to the same block: its own descriptor and mapping
    /// (as `File::try_clone`). Handy to keep a block while passing it to a
    /// child, since a task takes its arguments by value.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::SharedMemory::anonymous(4).unwrap();
    /// let b = a.try_clone().unwrap();
    /// b.write_at(0, &[1]);
    /// assert_eq!(a.to_vec()[0], 1);
    /// ```
    pub fn try_clone(&self) -> Result<SharedMemory> {
        Self::map(
            os::socket::dup(self.fd.as_fd())?,
            self.len,
            self.name.clone(),
        )
    }

    fn map(fd: OwnedFd, len: usize, name: Option<String>) -> Result<SharedMemory> {
        let ptr = shm::map_shared(fd.as_fd(), len)?;
        Ok(SharedMemory { ptr, len, fd, name })
    }

    /// Python's `name`: the block's name, without a leading `/` (as
    /// Python shows it); `None` for an anonymous block.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::SharedMemory::create(1).unwrap();
    /// assert!(m.name().is_some());
    /// # m.unlink().unwrap();
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Python's `size`: the block's length in bytes.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::SharedMemory::anonymous(100).unwrap();
    /// assert_eq!(m.size(), 100);
    /// ```
    pub fn size(&self) -> usize {
        self.len
    }

    /// The first byte of the mapping, valid while this handle lives. What
    /// is sound to do through it is the caller's to prove (other processes
    /// may write the block at any moment).
    ///
    /// ```
    /// let m = gilfree::multiprocessing::SharedMemory::anonymous(8).unwrap();
    /// assert!(!m.as_ptr().is_null());
    /// ```
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The block as atomic bytes (Python's `buf`, a `memoryview`): sound
    /// whatever other processes do meanwhile, each byte read or written
    /// whole. Order between processes needs a lock or an acquire/release
    /// pair, as between threads.
    ///
    /// ```
    /// use std::sync::atomic::Ordering;
    /// let m = gilfree::multiprocessing::SharedMemory::anonymous(4).unwrap();
    /// m.bytes()[2].store(7, Ordering::Relaxed);
    /// assert_eq!(m.to_vec(), [0, 0, 7, 0]);
    /// ```
    pub fn bytes(&self) -> &[AtomicU8] {
        // SAFETY: the mapping is `len` bytes, readable and writable, and
        // lives as long as `self`; AtomicU8 has u8's size and alignment and
        // permits shared mutation, so other handles or processes writing
        // the same bytes (atomically, or through the unsafe views under
        // their contract) are no data race on this view.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<AtomicU8>(), self.len) }
    }

    /// Copy `buf.len()` bytes from `offset` into `buf` (Python's
    /// `bytes(shm.buf[offset:offset+n])`).
    ///
    /// # Panics
    /// If the range runs past [`size`](Self::size), as slice indexing does.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::SharedMemory::anonymous(4).unwrap();
    /// m.write_at(1, &[5, 6]);
    /// let mut two = [0; 2];
    /// m.read_at(1, &mut two);
    /// assert_eq!(two, [5, 6]);
    /// ```
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) {
        let src = &self.bytes()[offset..offset + buf.len()];
        for (d, s) in buf.iter_mut().zip(src) {
            *d = s.load(Ordering::Relaxed);
        }
    }

    /// Copy `data` into the block at `offset` (Python's
    /// `shm.buf[offset:offset+n] = data`).
    ///
    /// # Panics
    /// If the range runs past [`size`](Self::size).
    ///
    /// ```
    /// let m = gilfree::multiprocessing::SharedMemory::anonymous(3).unwrap();
    /// m.write_at(0, b"abc");
    /// assert_eq!(m.to_vec(), b"abc");
    /// ```
    pub fn write_at(&self, offset: usize, data: &[u8]) {
        let dst = &self.bytes()[offset..offset + data.len()];
        for (d, s) in dst.iter().zip(data) {
            d.store(*s, Ordering::Relaxed);
        }
    }

    /// A copy of the whole block (Python's `bytes(shm.buf)`).
    ///
    /// ```
    /// let m = gilfree::multiprocessing::SharedMemory::anonymous(2).unwrap();
    /// assert_eq!(m.to_vec(), [0, 0]);
    /// ```
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len];
        self.read_at(0, &mut v);
        v
    }

    /// The block as a plain byte slice.
    ///
    /// # Safety
    /// While the slice lives, nothing writes the block: no other process,
    /// no other handle to it in this process, no atomic view.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::SharedMemory::anonymous(2).unwrap();
    /// m.write_at(0, &[1, 2]);
    /// // SAFETY: this block was never shared; nothing else writes it.
    /// assert_eq!(unsafe { m.as_slice() }, &[1, 2]);
    /// ```
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes for `self`'s life;
        // the caller guarantees nothing mutates them meanwhile.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The block as a plain mutable byte slice.
    ///
    /// # Safety
    /// While the slice lives, nothing else reads or writes the block: no
    /// other process, no other handle to it in this process.
    ///
    /// ```
    /// let mut m = gilfree::multiprocessing::SharedMemory::anonymous(2).unwrap();
    /// // SAFETY: this block was never shared; nothing else touches it.
    /// unsafe { m.as_mut_slice() }.copy_from_slice(&[3, 4]);
    /// assert_eq!(m.to_vec(), [3, 4]);
    /// ```
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` writable bytes for `self`'s life;
        // `&mut self` excludes this handle's other views, and the caller
        // guarantees no one else touches the bytes meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Python's `close()`: unmap the block in this process (it stays for
    /// the others, and its name stays until [`unlink`](Self::unlink)).
    /// Dropping the handle does the same.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::SharedMemory::create(8).unwrap();
    /// let name = m.name().unwrap().to_owned();
    /// m.close();
    /// let again = gilfree::multiprocessing::SharedMemory::attach(&name).unwrap();
    /// again.unlink().unwrap();
    /// ```
    pub fn close(self) {}

    /// Python's `unlink()`: remove the block's name (mappings stay valid;
    /// the memory goes with the last of them), and tell the resource
    /// tracker it has nothing left to do for it. Call it once, from one
    /// process; a second call is `NotFound`. An anonymous block has no name:
    /// `Ok(())`.
    ///
    /// ```
    /// use gilfree::multiprocessing::SharedMemory;
    /// let m = SharedMemory::create(8).unwrap();
    /// m.unlink().unwrap();
    /// assert!(m.unlink().is_err());
    /// ```
    pub fn unlink(&self) -> Result<()> {
        let Some(n) = &self.name else {
            return Ok(());
        };
        let os_name = os_name(n);
        shm::shm_unlink(&os_name)?;
        tracker::unregister(&os_name);
        Ok(())
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are this handle's one mapping, unmapped only
        // here; every view borrowed `self`, so none outlives it.
        unsafe { shm::unmap(self.ptr, self.len) };
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name)
            .field("size", &self.len)
            .finish()
    }
}

/// As a task argument or in a message, a block travels as its descriptor
/// (plus its name and size): the receiver maps the same memory, and is
/// not responsible for unlinking it.
impl Serialize for SharedMemory {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let dup = os::socket::dup(self.fd.as_fd()).map_err(S::Error::custom)?;
        let idx = put_outgoing(dup).ok_or_else(|| {
            S::Error::custom(
                "a SharedMemory can only be sent through a Connection or as a task argument",
            )
        })?;
        (idx, &self.name, self.len as u64).serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedMemory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let (idx, name, len) = <(u32, Option<String>, u64)>::deserialize(d)?;
        let fd = match take_incoming(idx) {
            Some(fd) => fd,
            // Decoding again to find why a decode failed: the descriptor
            // went to the first attempt's value; a stand-in lets the
            // decode reach the real reason.
            None if codec::finding_reason() => {
                return SharedMemory::anonymous(1).map_err(D::Error::custom);
            }
            None => {
                return Err(D::Error::custom(
                    "no descriptor came with this SharedMemory (sent outside a Connection?)",
                ));
            }
        };
        let len = usize::try_from(len).map_err(D::Error::custom)?;
        let actual = shm::len_of(fd.as_fd()).map_err(D::Error::custom)?;
        if len == 0 || actual < len {
            return Err(D::Error::custom(format!(
                "shared memory of {actual} bytes announced as {len}"
            )));
        }
        SharedMemory::map(fd, len, name).map_err(D::Error::custom)
    }
}

/// The pid of this process tree's resource tracker, if it has one (for
/// tests that wait for it to finish). Not a public API.
#[doc(hidden)]
pub fn __tracker_pid() -> Option<i32> {
    tracker::tracker_pid()
}
