//! The `proxy!` macro: the common part of every proxy type (a
//! [`Handle`], `Clone`, `Debug`, serde), shared by the data proxies
//! (`dict`, `list`, `namespace`, `queue`) and the `sync` ones.

#[allow(unused_imports)] // `Handle` is named by the docs' links
use super::client::Handle;

/// The common part of every proxy type: a [`Handle`], `Clone`, `Debug`,
/// and serde (a proxy is a task argument; the receiver reconnects).
macro_rules! proxy {
    ($(#[$m:meta])* $name:ident $(<$($t:ident),*>)?) => {
        $(#[$m])*
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(bound = "")]
        pub struct $name $(<$($t),*>)? {
            pub(crate) h: Handle,
            #[serde(skip)]
            _t: PhantomData<fn() -> ($($($t,)*)?)>,
        }

        impl $(<$($t),*>)? Clone for $name $(<$($t),*>)? {
            fn clone(&self) -> Self {
                Self::from_handle(self.h.clone())
            }
        }

        impl $(<$($t),*>)? std::fmt::Debug for $name $(<$($t),*>)? {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.h)
            }
        }

        impl $(<$($t),*>)? $name $(<$($t),*>)? {
            pub(crate) fn from_handle(h: Handle) -> Self {
                $name { h, _t: PhantomData }
            }
        }
    };
}
pub(crate) use proxy;
