//! The manager's wire protocol: one [`Request`] frame from a proxy, one
//! [`Reply`] frame back, each the postcard encoding of these types (the
//! project's frame codec and serde encoding; no second codec). Values
//! travel as the postcard bytes of the proxy's `T`, which the server stores
//! without decoding.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Encoded bytes of one user value.
pub(crate) type Bytes = Vec<u8>;

/// One call: which object, who calls (for `RLock`/`Condition` ownership),
/// and what.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    /// The object's id (ignored by [`Op::Create`]).
    pub obj: u64,
    /// The calling thread's identity, unique across processes.
    pub caller: u64,
    /// The operation.
    pub op: Op,
}

/// How long a blocking operation may wait on the server.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum Wait {
    /// `block=False`.
    Now,
    /// `timeout=d`.
    For(Duration),
    /// `block=True, timeout=None`.
    Forever,
}

/// The kind of a new object, with its construction arguments.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Kind {
    Dict,
    List(Vec<Bytes>),
    Namespace,
    Value(Bytes),
    Queue {
        maxsize: usize,
    },
    Lock,
    RLock,
    Semaphore {
        value: u64,
        bounded: bool,
    },
    Event,
    Condition,
    Barrier {
        parties: u64,
    },
    /// A registered [`Shared`](super::Shared) type, by name.
    Custom {
        name: String,
        args: Bytes,
    },
}

/// An operation on one object.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Op {
    /// Make an object; the reply is its id.
    Create(Kind),
    /// Nothing: a round trip (`connect` checks the address and key).
    Ping,
    /// Len of a dict, list or queue.
    Len,
    /// Empty a dict or list.
    Clear,

    DictGet(Bytes),
    DictSet(Bytes, Bytes),
    DictDel(Bytes),
    DictPop(Bytes),
    DictContains(Bytes),
    DictSetDefault(Bytes, Bytes),
    DictUpdate(Vec<(Bytes, Bytes)>),
    DictItems,

    ListAppend(Bytes),
    ListExtend(Vec<Bytes>),
    ListGet(i64),
    ListSet(i64, Bytes),
    ListPop(i64),
    ListInsert(i64, Bytes),
    ListRemove(Bytes),
    ListIndex(Bytes),
    ListCount(Bytes),
    ListSnapshot,

    NsGet(String),
    NsSet(String, Bytes),
    NsDel(String),
    NsNames,

    ValueGet,
    ValueSet(Bytes),

    Put(Bytes, Wait),
    Get(Wait),
    TaskDone,
    Join(Wait),

    Acquire(Wait),
    Release,
    Locked,

    EventSet,
    EventClear,
    EventIsSet,
    EventWait(Wait),

    CondWait(Wait),
    Notify(u64),

    BarrierWait(Wait),
    BarrierAbort,
    BarrierReset,
    BarrierState,

    /// One call on a registered type.
    Custom(Bytes),
}

/// A successful call's result.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Out {
    Unit,
    Bool(bool),
    Int(u64),
    Bytes(Bytes),
    Maybe(Option<Bytes>),
    Many(Vec<Bytes>),
    Pairs(Vec<(Bytes, Bytes)>),
    Names(Vec<String>),
    /// A barrier's parties, waiting count and broken flag.
    Barrier(u64, u64, bool),
}

/// Why a call failed on the server: Python's exception, as a value.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Fault {
    KeyError,
    IndexError,
    ValueError(String),
    AttributeError(String),
    Empty,
    Full,
    Timeout,
    NotHeld(String),
    TooManyReleases,
    BrokenBarrier,
    NoSuchObject(u64),
    WrongType(String),
}

/// One reply frame.
pub(crate) type Reply = Result<Out, Fault>;
