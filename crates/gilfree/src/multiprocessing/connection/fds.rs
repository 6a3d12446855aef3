//! Descriptors inside values: a thread-local side table filled while a
//! value is encoded (each [`Connection`](super::Connection) inside it puts
//! a duplicate of its descriptor there and encodes its index) and consumed
//! while it is decoded (each takes its descriptor back by index).

use std::cell::RefCell;
use std::os::fd::OwnedFd;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::multiprocessing::codec;
use crate::multiprocessing::error::{Error, Result};
use crate::sys::os;

thread_local! {
    static FDS_OUT: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    static FDS_IN: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
}

/// Encode `v` with postcard, collecting the descriptors of any
/// [`Connection`](super::Connection) inside it.
pub(crate) fn encode_with_fds<T: Serialize + ?Sized>(
    v: &T,
    what: &'static str,
) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
    let prev = FDS_OUT.with(|c| c.replace(Some(Vec::new())));
    let r = postcard::to_allocvec(v);
    let fds = FDS_OUT.with(|c| c.replace(prev)).unwrap_or_default();
    let bytes = r.map_err(|e| Error::encode(what, e))?;
    if fds.len() > os::socket::MAX_FDS {
        return Err(Error::encode(what, "more than 16 connections in one value"));
    }
    Ok((bytes, fds))
}

/// Run `f` with the descriptors of every value it encodes appended to
/// `fds` (indices continue from `fds.len()`): several values encoded end
/// to end, such as the calls of one pool batch, share one table and one
/// message's descriptors. One scope for the whole run, not one per value.
/// The table is put back even if `f` panics (a value's `Serialize`).
pub(crate) fn collect_fds<R>(fds: &mut Vec<OwnedFd>, f: impl FnOnce() -> R) -> R {
    struct Restore<'a> {
        fds: &'a mut Vec<OwnedFd>,
        prev: Option<Vec<OwnedFd>>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let prev = self.prev.take();
            *self.fds = FDS_OUT.with(|c| c.replace(prev)).unwrap_or_default();
        }
    }
    let prev = FDS_OUT.with(|c| c.replace(Some(std::mem::take(fds))));
    let _restore = Restore { fds, prev };
    f()
}

/// Run `f` with `fds` available to the connections it decodes.
pub(crate) fn with_received_fds<R>(fds: Vec<OwnedFd>, f: impl FnOnce() -> R) -> R {
    if fds.is_empty() {
        // Nothing to hand over (the usual start): leave the thread-local
        // alone — its first use registers a destructor, which a freshly
        // forked child pays in copy-on-write faults. A connection among
        // the arguments then finds no descriptor, as it would in an empty
        // list.
        return f();
    }
    let prev = FDS_IN.with(|c| c.replace(Some(fds.into_iter().map(Some).collect())));
    let r = f();
    FDS_IN.with(|c| c.replace(prev));
    r
}

/// Decode `bytes` as `T`, handing `fds` to the connections inside it.
pub(crate) fn decode_with_fds<T: DeserializeOwned>(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
    what: &'static str,
) -> Result<T> {
    let prev = FDS_IN.with(|c| c.replace(Some(fds.into_iter().map(Some).collect())));
    let r = codec::from_bytes::<T>(bytes);
    FDS_IN.with(|c| c.replace(prev));
    r.map_err(|e| Error::decode(what, e))
}

/// Put `fd` in the table of the value being encoded: its index, or `None`
/// if no value with descriptors is being encoded on this thread.
pub(crate) fn put_outgoing(fd: OwnedFd) -> Option<u32> {
    FDS_OUT.with(|c| {
        c.borrow_mut().as_mut().map(|v| {
            v.push(fd);
            (v.len() - 1) as u32
        })
    })
}

/// Take descriptor `idx` of the value being decoded, if it came.
pub(crate) fn take_incoming(idx: u32) -> Option<OwnedFd> {
    FDS_IN.with(|c| {
        c.borrow_mut()
            .as_mut()
            .and_then(|v| v.get_mut(idx as usize).and_then(Option::take))
    })
}
