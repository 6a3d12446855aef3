//! Values to bytes and back: postcard, with the reason of a failed decode
//! kept.
//!
//! postcard drops the message of serde's `Error::custom` (a type's own
//! "3 is odd" becomes "Serde Deserialization Error"). A decode runs as
//! plain postcard; only when it fails does [`from_bytes`] decode the same
//! bytes again through [`Wrap`], a deserializer whose error type keeps the
//! message. postcard still stands between a type's `Deserialize` and its
//! caller and drops what passes through it, so the first message a type
//! gives (or postcard's own, the first time it passes back down) is also
//! put aside ([`REASON`]) and reported. Success costs nothing more than
//! postcard.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};

thread_local! {
    /// The first custom message of the current reason-finding decode.
    static REASON: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Whether a reason-finding decode is running on this thread.
    static FINDING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is decoding again only to find why a decode
/// failed (a type whose decode has side effects, such as taking a received
/// descriptor, may then skip them).
pub(crate) fn finding_reason() -> bool {
    FINDING.with(Cell::get)
}

/// Decode `bytes` as `T`; the error is the type's own message when it
/// gave one, else postcard's.
pub(crate) fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match postcard::from_bytes(bytes) {
        Ok(v) => Ok(v),
        Err(e) => Err(reason::<T>(bytes).unwrap_or_else(|| e.to_string())),
    }
}

/// Encode `v` at the end of `out`, in place (postcard's own `to_extend`
/// pushes byte by byte); on an error `out` is as it was. Lets a batch of
/// values be encoded end to end into one buffer, with no allocation per
/// value.
pub(crate) fn append<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) -> Result<(), String> {
    let before = out.len();
    postcard::serialize_with_flavor(v, Append(out)).map_err(|e| {
        out.truncate(before);
        e.to_string()
    })
}

/// A postcard output that appends to a `Vec`.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        // postcard writes every integer as a varint of 1–10 bytes through
        // here: `extend_from_slice` would call `memcpy` for each (measured:
        // the largest single cost of encoding a map's tiny items). Short
        // runs are pushed byte by byte, inline.
        if data.len() <= 16 {
            self.0.reserve(data.len());
            for &b in data {
                self.0.push(b);
            }
        } else {
            self.0.extend_from_slice(data);
        }
        Ok(())
    }

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Decode `bytes` again through [`Wrap`]: the first custom message, if
/// any.
#[cold]
fn reason<T: DeserializeOwned>(bytes: &[u8]) -> Option<String> {
    let was = FINDING.with(|f| f.replace(true));
    REASON.with(|r| r.borrow_mut().take());
    let mut de = postcard::Deserializer::from_bytes(bytes);
    let r = T::deserialize(Wrap(&mut de)).err();
    FINDING.with(|f| f.set(was));
    REASON.with(|r| r.borrow_mut().take()).or(r.map(|e| e.0))
}

/// A decode error that keeps its message.
#[derive(Debug)]
struct Reason(String);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reason {}

impl de::Error for Reason {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let msg = msg.to_string();
        keep(&msg);
        Reason(msg)
    }
}

/// Put `msg` aside unless a message is already: the first is the
/// innermost, the one that says why.
fn keep(msg: &str) {
    REASON.with(|r| {
        r.borrow_mut().get_or_insert_with(|| msg.to_string());
    });
}

/// An error of the deserializer underneath, as a [`Reason`].
fn up<E: fmt::Display>(e: E) -> Reason {
    Reason(e.to_string())
}

/// A [`Reason`] handed back down to the deserializer underneath, which
/// may drop its text: [`REASON`] keeps it (a type's message is there
/// already; an error of the deserializer itself is put there now).
fn down<E: de::Error>(e: Reason) -> E {
    keep(&e.0);
    E::custom(e.0)
}

/// A deserializer whose error is a [`Reason`]; every value inside is read
/// through wrappers too, so every `Deserialize` sees a [`Reason`].
struct Wrap<D>(D);

macro_rules! forward {
    ($($method:ident $(($($arg:ident: $ty:ty),*))?;)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($($arg: $ty,)*)? v: V) -> Result<V::Value, Reason> {
            self.0.$method($($($arg,)*)? Vis(v)).map_err(up)
        }
    )*};
}

impl<'de, D: de::Deserializer<'de>> de::Deserializer<'de> for Wrap<D> {
    type Error = Reason;

    forward! {
        deserialize_any; deserialize_bool; deserialize_i8; deserialize_i16; deserialize_i32;
        deserialize_i64; deserialize_i128; deserialize_u8; deserialize_u16; deserialize_u32;
        deserialize_u64; deserialize_u128; deserialize_f32; deserialize_f64; deserialize_char;
        deserialize_str; deserialize_string; deserialize_bytes; deserialize_byte_buf;
        deserialize_option; deserialize_unit; deserialize_seq; deserialize_map;
        deserialize_identifier; deserialize_ignored_any;
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A visitor that hands the values it is given on through wrappers.
struct Vis<V>(V);

macro_rules! visit {
    ($($method:ident($ty:ty);)*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.0.$method::<Reason>(v).map_err(down)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Vis<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    visit! {
        visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i64(i64);
        visit_i128(i128); visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u64(u64);
        visit_u128(u128); visit_f32(f32); visit_f64(f64); visit_char(char);
        visit_str(&str); visit_borrowed_str(&'de str); visit_string(String);
        visit_bytes(&[u8]); visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_none::<Reason>().map_err(down)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_unit::<Reason>().map_err(down)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.visit_some(Wrap(d)).map_err(down)
    }

    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.visit_newtype_struct(Wrap(d)).map_err(down)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(Wrap(a)).map_err(down)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(Wrap(a)).map_err(down)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
        self.0.visit_enum(Wrap(a)).map_err(down)
    }
}

/// A seed whose value is read through a [`Wrap`].
struct Seed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(Wrap(d)).map_err(down)
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Wrap<A> {
    type Error = Reason;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Reason> {
        self.0.next_element_seed(Seed(seed)).map_err(up)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Wrap<A> {
    type Error = Reason;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Reason> {
        self.0.next_key_seed(Seed(seed)).map_err(up)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Reason> {
        self.0.next_value_seed(Seed(seed)).map_err(up)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Wrap<A> {
    type Error = Reason;
    type Variant = Wrap<A::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Reason> {
        let (v, variant) = self.0.variant_seed(Seed(seed)).map_err(up)?;
        Ok((v, Wrap(variant)))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Wrap<A> {
    type Error = Reason;

    fn unit_variant(self) -> Result<(), Reason> {
        self.0.unit_variant().map_err(up)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Reason> {
        self.0.newtype_variant_seed(Seed(seed)).map_err(up)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, Reason> {
        self.0.tuple_variant(len, Vis(v)).map_err(up)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Reason> {
        self.0.struct_variant(fields, Vis(v)).map_err(up)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::from_bytes;

    /// Refuses odd numbers, with its own message.
    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(try_from = "u32")]
    struct Even(u32);

    impl TryFrom<u32> for Even {
        type Error = String;
        fn try_from(n: u32) -> Result<Self, String> {
            if n.is_multiple_of(2) {
                Ok(Even(n))
            } else {
                Err(format!("{n} is odd"))
            }
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Shape {
        Pair(String, Even),
        Named { inner: Option<Vec<Even>> },
    }

    #[test]
    fn a_types_own_message_is_kept_however_deep() {
        let bytes = postcard::to_allocvec(&(1u8, 3u32)).unwrap();
        assert_eq!(from_bytes::<(u8, Even)>(&bytes).unwrap_err(), "3 is odd");
        // Pair("x", 5): variant 0, a string, then the number.
        let bytes = postcard::to_allocvec(&(0u8, "x", 5u32)).unwrap();
        assert_eq!(from_bytes::<Shape>(&bytes).unwrap_err(), "5 is odd");
        // Named { inner: Some([2, 7]) }.
        let bytes = postcard::to_allocvec(&(1u8, Some(vec![2u32, 7]))).unwrap();
        assert_eq!(from_bytes::<Shape>(&bytes).unwrap_err(), "7 is odd");
    }

    #[test]
    fn good_bytes_decode_and_short_ones_say_so() {
        let bytes = postcard::to_allocvec(&(1u8, 4u32)).unwrap();
        assert_eq!(from_bytes::<(u8, Even)>(&bytes).unwrap(), (1, Even(4)));
        let e = from_bytes::<(u8, Even)>(&bytes[..1]).unwrap_err();
        assert!(e.contains("end"), "{e}");
    }
}
