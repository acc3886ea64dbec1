//! Where in the JSON a deserialization failed.
//!
//! prost-reflect's serde errors do not say which field they are about, so the
//! `serde_json` deserializer is wrapped (in the manner of the
//! `serde_path_to_error` crate, written here to avoid a dependency): every
//! object key and array index entered is pushed on a stack, and the first
//! (innermost) layer an error passes through renders the stack as a
//! `$.field[2].sub` path. The wrapper also bounds container nesting.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

enum Seg {
    Key(String),
    Index(usize),
}

/// Shared by every layer of one deserialization.
pub(super) struct State {
    stack: RefCell<Vec<Seg>>,
    /// The key just read by a map, until it is pushed.
    key: RefCell<Option<String>>,
    /// The path of the first failure.
    error_path: RefCell<Option<String>>,
    max_depth: usize,
    /// Containers enclosing the value deserialized (when it is a part of a
    /// larger document): they count towards `max_depth`.
    base: usize,
}

impl State {
    pub(super) fn new(max_depth: usize) -> Self {
        Self::nested(max_depth, 0)
    }

    /// For a value inside `base` enclosing containers; paths are relative
    /// to the value.
    pub(super) fn nested(max_depth: usize, base: usize) -> Self {
        State {
            stack: RefCell::new(Vec::new()),
            key: RefCell::new(None),
            error_path: RefCell::new(None),
            max_depth,
            base,
        }
    }

    /// The path of the failure, `$` when none was recorded.
    pub(super) fn error_path(&self) -> String {
        self.error_path
            .borrow()
            .clone()
            .unwrap_or_else(|| "$".to_string())
    }

    fn record(&self) {
        let mut slot = self.error_path.borrow_mut();
        if slot.is_some() {
            return;
        }
        let mut path = String::from("$");
        for seg in self.stack.borrow().iter() {
            match seg {
                Seg::Key(k) => {
                    path.push('.');
                    path.push_str(k);
                }
                Seg::Index(i) => {
                    path.push('[');
                    path.push_str(itoa::Buffer::new().format(*i));
                    path.push(']');
                }
            }
        }
        *slot = Some(path);
    }

    fn pop(&self) {
        self.stack.borrow_mut().pop();
    }
}

/// A deserializer that records where errors happen into `st`.
pub(super) struct Track<'s, D> {
    de: D,
    st: &'s State,
    /// This deserializer reads an object key: remember its text.
    key: bool,
}

impl<'s, D> Track<'s, D> {
    pub(super) fn new(de: D, st: &'s State) -> Self {
        Track { de, st, key: false }
    }
}

macro_rules! forward {
    ($($method:ident ( $($arg:ident : $ty:ty),* );)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
                let st = self.st;
                let v = Wrap { v: visitor, st, key: self.key };
                self.de.$method($($arg,)* v).inspect_err(|_| st.record())
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Track<'_, D> {
    type Error = D::Error;

    forward! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// A visitor that hands containers on wrapped and remembers keys.
struct Wrap<'s, V> {
    v: V,
    st: &'s State,
    key: bool,
}

impl<V> Wrap<'_, V> {
    fn note_key(&self, k: impl fmt::Display) {
        if self.key {
            *self.st.key.borrow_mut() = Some(k.to_string());
        }
    }
}

macro_rules! visit_scalar {
    ($($method:ident ( $ty:ty );)*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.note_key(v);
                self.v.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.v.expecting(f)
    }

    visit_scalar! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        self.note_key(&v);
        self.v.visit_string(v)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<V::Value, E> {
        self.note_key(String::from_utf8_lossy(v));
        self.v.visit_bytes(v)
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        self.note_key(String::from_utf8_lossy(v));
        self.v.visit_borrowed_bytes(v)
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<V::Value, E> {
        self.note_key(String::from_utf8_lossy(&v));
        self.v.visit_byte_buf(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.v.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.v.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.v.visit_some(Track {
            de: d,
            st: self.st,
            key: self.key,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.v.visit_newtype_struct(Track {
            de: d,
            st: self.st,
            key: self.key,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.enter::<A::Error>()?;
        self.v.visit_seq(TrackSeq {
            seq,
            st: self.st,
            index: 0,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.enter::<A::Error>()?;
        self.v.visit_map(TrackMap { map, st: self.st })
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.v.visit_enum(data)
    }
}

impl<V> Wrap<'_, V> {
    fn enter<E: de::Error>(&self) -> Result<(), E> {
        if self.st.base + self.st.stack.borrow().len() > self.st.max_depth {
            return Err(E::custom(format_args!(
                "nesting deeper than {} levels",
                self.st.max_depth
            )));
        }
        Ok(())
    }
}

struct TrackSeq<'s, A> {
    seq: A,
    st: &'s State,
    index: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for TrackSeq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let st = self.st;
        st.stack.borrow_mut().push(Seg::Index(self.index));
        let r = self
            .seq
            .next_element_seed(Seed {
                seed,
                st,
                key: false,
            })
            .inspect_err(|_| st.record())?;
        st.pop();
        self.index += 1;
        Ok(r)
    }

    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}

struct TrackMap<'s, A> {
    map: A,
    st: &'s State,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for TrackMap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let st = self.st;
        st.key.borrow_mut().take();
        let r = self
            .map
            .next_key_seed(Seed {
                seed,
                st,
                key: true,
            })
            .inspect_err(|_| st.record())?;
        if r.is_some() {
            // Pushed until the value is read, so that a complaint about the
            // key itself (an unknown field) points at it.
            let k = st.key.borrow_mut().take().unwrap_or_default();
            st.stack.borrow_mut().push(Seg::Key(k));
        }
        Ok(r)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let st = self.st;
        let r = self
            .map
            .next_value_seed(Seed {
                seed,
                st,
                key: false,
            })
            .inspect_err(|_| st.record())?;
        st.pop();
        Ok(r)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

struct Seed<'s, T> {
    seed: T,
    st: &'s State,
    key: bool,
}

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T::Value, D::Error> {
        self.seed.deserialize(Track {
            de: d,
            st: self.st,
            key: self.key,
        })
    }
}
