//! Custom shared types (Python's `BaseManager.register`): a type that
//! implements [`Shared`] and is registered with [`register_shared!`]
//! lives in the server, which finds it by name in a link-time table (as
//! tasks are found), builds it from encoded arguments and runs its calls;
//! [`Proxy`] is its typed handle.

use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{Handle, dec, enc, out_value};
use super::error::Result;
use super::protocol::{Bytes, Fault, Op};

/// A type whose value lives in a manager's server (Python's
/// `BaseManager.register(typeid, callable)`): built there from `Args`,
/// called with `Call` values (a request enum is the usual shape), each
/// answered with a `Reply`.
///
/// Register it once with [`register_shared!`](crate::register_shared);
/// the server is the same executable, so it finds the type by
/// [`NAME`](Shared::NAME). Calls on one object run one at a time (Python
/// runs them concurrently on the server's threads, so its types lock
/// themselves); a call should not block. A panic in `new` or `call` is a
/// [`Error::ValueError`](super::Error::ValueError) for that call; the
/// object stays.
///
/// ```
/// use gilfree::multiprocessing::manager::Shared;
/// use serde::{Deserialize, Serialize};
///
/// struct Counter(i64);
///
/// #[derive(Serialize, Deserialize)]
/// enum Req { Add(i64), Get }
///
/// impl Shared for Counter {
///     const NAME: &'static str = "doc::Counter";
///     type Args = i64;
///     type Call = Req;
///     type Reply = i64;
///     fn new(start: i64) -> Self { Counter(start) }
///     fn call(&mut self, r: Req) -> i64 {
///         if let Req::Add(n) = r { self.0 += n }
///         self.0
///     }
/// }
/// gilfree::register_shared!(Counter);
///
/// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
/// let c = m.create::<Counter>(&10).unwrap();
/// assert_eq!(c.call(&Req::Add(5)).unwrap(), 15);
/// assert_eq!(c.call(&Req::Get).unwrap(), 15);
/// ```
pub trait Shared: Send + 'static {
    /// The name the server knows it by; unique in the program (a module
    /// path is a good prefix).
    const NAME: &'static str;
    /// What [`new`](Shared::new) takes.
    type Args: Serialize + DeserializeOwned;
    /// One call.
    type Call: Serialize + DeserializeOwned;
    /// One call's answer.
    type Reply: Serialize + DeserializeOwned;
    /// Build the value (in the server).
    fn new(args: Self::Args) -> Self;
    /// Answer one call (in the server).
    fn call(&mut self, call: Self::Call) -> Self::Reply;
}

/// A registered type's value, called with encoded calls (the server's
/// view). Public only for [`register_shared!`](crate::register_shared).
#[doc(hidden)]
pub trait Erased: Send {
    /// Decode `call`, run it, encode the reply.
    fn call_bytes(&mut self, call: &[u8]) -> Result<Bytes, String>;
}

struct Holder<S>(S);

/// Run `f`; a panic becomes an error naming `what`.
fn guard<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("{what} panicked: {msg}")
    })
}

impl<S: Shared> Erased for Holder<S> {
    fn call_bytes(&mut self, call: &[u8]) -> Result<Bytes, String> {
        let call: S::Call = dec(call).map_err(|e| e.to_string())?;
        let reply = guard(S::NAME, || self.0.call(call))?;
        enc(&reply).map_err(|e| e.to_string())
    }
}

/// A registered type's constructor: decode the arguments and build.
#[doc(hidden)]
pub type Make = fn(&[u8]) -> Result<Box<dyn Erased>, String>;

/// One registered type: its name and its constructor.
#[doc(hidden)]
pub struct Entry {
    /// [`Shared::NAME`].
    pub name: &'static str,
    /// Decode the arguments and build.
    pub make: Make,
}

/// The table, filled at link time by `register_shared!`.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static SHARED: [Entry];

/// What `register_shared!` puts in the table: build an `S` from encoded
/// arguments.
#[doc(hidden)]
pub fn make<S: Shared>(args: &[u8]) -> Result<Box<dyn Erased>, String> {
    let args: S::Args = dec(args).map_err(|e| e.to_string())?;
    let s = guard(S::NAME, || S::new(args))?;
    Ok(Box::new(Holder(s)))
}

/// Build the registered type `name` (the server's side). A name
/// registered twice is refused rather than guessed.
pub(crate) fn build(name: &str, args: &[u8]) -> Result<Box<dyn Erased>, Fault> {
    let mut it = SHARED.iter().filter(|e| e.name == name);
    match (it.next(), it.next()) {
        (Some(e), None) => (e.make)(args).map_err(Fault::ValueError),
        (Some(_), Some(_)) => Err(Fault::ValueError(format!(
            "two shared types are registered as {name:?}"
        ))),
        (None, _) => Err(Fault::ValueError(format!(
            "no shared type is registered as {name:?} in the server (is it the same binary?)"
        ))),
    }
}

/// Register a [`Shared`](crate::multiprocessing::manager::Shared) type
/// with every manager server of this program (Python's
/// `BaseManager.register`); then `manager.create::<T>(&args)`.
///
/// ```
/// # use gilfree::multiprocessing::manager::Shared;
/// struct Total(u64);
/// impl Shared for Total {
///     const NAME: &'static str = "doc::Total";
///     type Args = ();
///     type Call = u64;
///     type Reply = u64;
///     fn new(_: ()) -> Self { Total(0) }
///     fn call(&mut self, n: u64) -> u64 { self.0 += n; self.0 }
/// }
/// gilfree::register_shared!(Total);
/// ```
#[macro_export]
macro_rules! register_shared {
    ($t:ty) => {
        const _: () = {
            #[$crate::multiprocessing::manager::__private::linkme::distributed_slice(
                $crate::multiprocessing::manager::__private::SHARED
            )]
            #[linkme(crate = $crate::multiprocessing::manager::__private::linkme)]
            static __GILFREE_SHARED_ENTRY: $crate::multiprocessing::manager::__private::Entry =
                $crate::multiprocessing::manager::__private::Entry {
                    name: <$t as $crate::multiprocessing::manager::Shared>::NAME,
                    make: $crate::multiprocessing::manager::__private::make::<$t>,
                };
        };
    };
}

/// Python's proxy of a registered type: [`call`](Proxy::call) sends one
/// `S::Call` and returns the `S::Reply`. Serializable like every proxy.
///
/// ```
/// # use gilfree::multiprocessing::manager::{Proxy, Shared};
/// # struct Max(i32);
/// # impl Shared for Max {
/// #     const NAME: &'static str = "doc::Max";
/// #     type Args = i32; type Call = i32; type Reply = i32;
/// #     fn new(v: i32) -> Self { Max(v) }
/// #     fn call(&mut self, v: i32) -> i32 { self.0 = self.0.max(v); self.0 }
/// # }
/// # gilfree::register_shared!(Max);
/// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
/// let p: Proxy<Max> = m.create(&0).unwrap();
/// assert_eq!(p.call(&7).unwrap(), 7);
/// assert_eq!(p.call(&3).unwrap(), 7);
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct Proxy<S> {
    h: Handle,
    #[serde(skip)]
    _t: PhantomData<fn() -> S>,
}

impl<S> Clone for Proxy<S> {
    fn clone(&self) -> Self {
        Proxy::from_handle(self.h.clone())
    }
}

impl<S> std::fmt::Debug for Proxy<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({:?})", self.h)
    }
}

impl<S> Proxy<S> {
    pub(crate) fn from_handle(h: Handle) -> Self {
        Proxy { h, _t: PhantomData }
    }
}

impl<S: Shared> Proxy<S> {
    /// One call on the shared value.
    ///
    /// ```
    /// # use gilfree::multiprocessing::manager::{Proxy, Shared};
    /// # struct Echo;
    /// # impl Shared for Echo {
    /// #     const NAME: &'static str = "doc::Echo";
    /// #     type Args = (); type Call = String; type Reply = String;
    /// #     fn new(_: ()) -> Self { Echo }
    /// #     fn call(&mut self, s: String) -> String { s }
    /// # }
    /// # gilfree::register_shared!(Echo);
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let p = m.create::<Echo>(&()).unwrap();
    /// assert_eq!(p.call(&"hi".into()).unwrap(), "hi");
    /// ```
    pub fn call(&self, call: &S::Call) -> Result<S::Reply> {
        out_value(self.h.call(Op::Custom(enc(call)?))?)
    }
}
