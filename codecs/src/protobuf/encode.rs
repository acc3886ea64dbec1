//! JSON -> protobuf in one pass: a serde `DeserializeSeed` walks the
//! message's [plan](super::plan) while serde_json tokenizes the body, and
//! writes wire bytes as it goes (nested messages and packed lists get their
//! length written in front once they are complete). No `DynamicMessage`, no
//! `serde_json::Value`, no allocation for strings.
//!
//! The JSON mapping is the canonical proto3 one
//! (<https://protobuf.dev/programming-guides/json/>) as prost-reflect's
//! serde support implements it, which stays the reference: the visitors
//! below accept what its visitors accept and fail with the same messages;
//! the differential tests (`differential.rs`) hold the two together. What
//! differs is only the order of fields on the wire (JSON order here, field
//! number order there) — both decode to the same message.
//!
//! Well-known types are handed to prost-reflect for their subtree
//! (`DynamicMessage::deserialize_with_options` on the same deserializer),
//! and a JSON object naming one field twice makes the caller start again
//! on the reference path ([`Encoded::Fallback`]): prost-reflect replaces the
//! earlier value, which a stream of bytes already written cannot do.
//!
//! Errors carry the JSON path of the offending value (`$.items[3].price`),
//! built only while an error unwinds.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use prost::Message;
use prost_reflect::{DeserializeOptions, DynamicMessage};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::json::{MAX_DEPTH, PbEncodeOptions};
use super::path::{State, Track};
use super::plan::{Card, EnumPlan, FieldPlan, Kind, MsgPlan, Plans};
use super::wire::{Key, begin_len, end_len, put_varint, zigzag32, zigzag64};
use crate::CodecError;
use crate::seen::Seen;

/// Whether the one-pass encoder did the work.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Encoded {
    Done,
    /// The JSON needs the reference path (see the module docs); nothing
    /// was appended.
    Fallback,
}

/// Encodes the JSON object `json` as the root message of `plans`,
/// appending the bytes to `out` (left as it was on error).
pub(super) fn encode(
    plans: &Plans,
    json: &[u8],
    opts: &PbEncodeOptions,
    out: &mut Vec<u8>,
) -> Result<Encoded, Box<CodecError>> {
    let start = out.len();
    let mut e = Enc {
        plans,
        out,
        ignore_unknown: opts.ignore_unknown_fields,
        ignore_unknown_enums: opts.ignore_unknown_enum_values,
        depth: 0,
        path: Vec::new(),
        fallback: false,
        limits: crate::JsonLimits {
            max_depth: opts.limits.max_depth.min(MAX_DEPTH),
            ..opts.limits
        },
    };
    let mut de = serde_json::Deserializer::from_slice(json);
    let r = MessageSeed {
        e: &mut e,
        msg: plans.root,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    match r {
        Ok(()) => Ok(Encoded::Done),
        Err(err) => {
            e.out.truncate(start);
            if e.fallback {
                Ok(Encoded::Fallback)
            } else {
                Err(Box::new(e.input_error(err)))
            }
        }
    }
}

enum Seg {
    Key(String),
    Index(usize),
    /// A path inside a subtree prost-reflect read (`.a[1]`).
    Sub(String),
}

struct Enc<'p, 'o> {
    plans: &'p Plans,
    out: &'o mut Vec<u8>,
    ignore_unknown: bool,
    /// Drop enum names the enum does not declare instead of failing.
    ignore_unknown_enums: bool,
    /// JSON containers open around the current value.
    depth: usize,
    /// Path segments, innermost first, pushed while an error unwinds.
    path: Vec<Seg>,
    /// Set with the error that asks for the reference path.
    fallback: bool,
    /// Nesting (within [`MAX_DEPTH`]), string and container bounds.
    limits: crate::JsonLimits,
}

impl<'p> Enc<'p, '_> {
    fn input_error(&mut self, err: serde_json::Error) -> CodecError {
        let mut path = String::from("$");
        for seg in self.path.drain(..).rev() {
            match seg {
                Seg::Key(k) => {
                    path.push('.');
                    path.push_str(&k);
                }
                Seg::Index(i) => {
                    path.push('[');
                    path.push_str(itoa::Buffer::new().format(i));
                    path.push(']');
                }
                Seg::Sub(s) => path.push_str(&s),
            }
        }
        let mut message = err.to_string();
        if err.is_data()
            && let Some(cut) = message.rfind(" at line ")
        {
            message.truncate(cut);
        }
        CodecError::Input { path, message }
    }

    /// Enters a JSON container; the bound is the one `path::Track` applies
    /// on the reference path.
    #[inline]
    fn enter<E: de::Error>(&mut self) -> Result<(), E> {
        if self.depth > self.limits.max_depth {
            return Err(E::custom(format_args!(
                "nesting deeper than {} levels",
                self.limits.max_depth
            )));
        }
        self.depth += 1;
        Ok(())
    }

    // Inlined into each `MapAccess` it is instantiated for: left out of
    // line, a small message costs about a quarter more
    // (`pb_add_request/dynamic/json_to_protobuf`).
    #[inline]
    fn message_body<'de, A: MapAccess<'de>>(
        &mut self,
        msg: u32,
        mut map: A,
    ) -> Result<(), A::Error> {
        self.enter()?;
        let plans = self.plans;
        let m: &'p MsgPlan = &plans.msgs[msg as usize];
        let mut seen = Seen::new(m.fields.len());
        let mut oneofs = Seen::new(m.oneofs.len());
        while let Some(key) = map.next_key_seed(KeySeed {
            m,
            ignore: self.ignore_unknown,
        })? {
            let (idx, by_json) = match key {
                FieldKey::Known(i, by_json) => (i as usize, by_json),
                FieldKey::Ignored => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                FieldKey::Unknown(name) => {
                    let err = de::Error::custom(format_args!("unrecognized field name '{name}'"));
                    self.path.push(Seg::Key(name));
                    return Err(err);
                }
            };
            if seen.get(idx) {
                self.fallback = true;
                return Err(de::Error::custom("field given twice"));
            }
            seen.set(idx);
            let f = &m.fields[idx];
            let set = match map.next_value_seed(FieldSeed { e: self, f }) {
                Ok(set) => set,
                Err(err) => {
                    let name = if by_json { &f.json_name } else { &f.name };
                    self.path.push(Seg::Key(name.to_string()));
                    return Err(err);
                }
            };
            if set && let Some(o) = f.oneof {
                if oneofs.get(o as usize) {
                    return Err(de::Error::custom(format_args!(
                        "multiple fields provided for oneof '{}'",
                        m.oneofs[o as usize]
                    )));
                }
                oneofs.set(o as usize);
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// `null` for a field: absent, except for `google.protobuf.Value`
    /// (prost-reflect's `OptionalFieldDescriptorSeed`).
    fn null_field(&mut self, f: &FieldPlan) -> bool {
        if let (Card::Single, Kind::Message(m)) = (f.card, f.kind)
            && self.plans.msgs[m as usize].desc.full_name() == "google.protobuf.Value"
        {
            // Value { null_value: NULL_VALUE }
            f.key.put(self.out);
            self.out.extend_from_slice(&[0x02, 0x08, 0x00]);
            return true;
        }
        false
    }

    /// One value of a non-repeated field (or a map value); `false` when it
    /// sets nothing (an enum name the enum does not declare, discarded).
    #[inline]
    fn single<'de, D: Deserializer<'de>>(
        &mut self,
        f: &'p FieldPlan,
        d: D,
    ) -> Result<bool, D::Error> {
        match f.kind {
            Kind::String => d.deserialize_string(StrValue {
                out: self.out,
                key: Some(f.key),
                presence: f.presence,
                max: self.limits.max_string,
            })?,
            Kind::Bytes => d.deserialize_str(BytesValue {
                out: self.out,
                key: Some(f.key),
                presence: f.presence,
                max: self.limits.max_string,
            })?,
            Kind::Enum(id) => {
                let Some(v) = d.deserialize_any(EnumValue {
                    plan: &self.plans.enums[id as usize],
                    deny: !self.ignore_unknown_enums,
                })?
                else {
                    return Ok(false);
                };
                if f.presence || v != f.default_enum {
                    f.key.put(self.out);
                    put_varint(self.out, v as i64 as u64);
                }
            }
            Kind::Message(m) => self.message_value(f.key, m, d)?,
            Kind::Int64 => {
                let v = d.deserialize_any(Int64Visitor)?;
                if f.presence || v != 0 {
                    f.key.put(self.out);
                    put_varint(self.out, v as u64);
                }
            }
            Kind::Int32 => {
                let v = d.deserialize_any(Int32Visitor)?;
                if f.presence || v != 0 {
                    f.key.put(self.out);
                    put_varint(self.out, v as i64 as u64);
                }
            }
            k => {
                let n = read_num(k, d)?;
                if f.presence || !n.is_zero() {
                    f.key.put(self.out);
                    put_num(self.out, k, n);
                }
            }
        }
        Ok(true)
    }

    /// A message value with its key and length.
    #[inline]
    fn message_value<'de, D: Deserializer<'de>>(
        &mut self,
        key: Key,
        msg: u32,
        d: D,
    ) -> Result<(), D::Error> {
        if self.plans.msgs[msg as usize].delegate {
            return self.delegated(key, msg, d);
        }
        key.put(self.out);
        let mark = begin_len(self.out);
        d.deserialize_map(MessageSeed { e: self, msg })?;
        end_len(self.out, mark);
        Ok(())
    }

    /// A well-known type, read by prost-reflect (through the same path
    /// tracking and depth bound as the reference path).
    #[cold]
    #[inline(never)]
    fn delegated<'de, D: Deserializer<'de>>(
        &mut self,
        key: Key,
        msg: u32,
        d: D,
    ) -> Result<(), D::Error> {
        let desc = &self.plans.msgs[msg as usize].desc;
        let st = State::nested(self.limits.max_depth, self.depth);
        let opts = DeserializeOptions::new().deny_unknown_fields(!self.ignore_unknown);
        match DynamicMessage::deserialize_with_options(desc.clone(), Track::new(d, &st), &opts) {
            Ok(m) => {
                key.put(self.out);
                put_varint(self.out, m.encoded_len() as u64);
                m.encode_raw(self.out);
                Ok(())
            }
            Err(err) => {
                let p = st.error_path();
                if p.len() > 1 {
                    self.path.push(Seg::Sub(p[1..].to_string()));
                }
                Err(err)
            }
        }
    }

    fn list<'de, A: SeqAccess<'de>>(
        &mut self,
        f: &'p FieldPlan,
        mut seq: A,
    ) -> Result<(), A::Error> {
        self.enter()?;
        let packed_at = self.out.len();
        let mark = if f.packed {
            f.len_key.put(self.out);
            begin_len(self.out)
        } else {
            0
        };
        let mut i = 0;
        loop {
            match seq.next_element_seed(ElemSeed { e: self, f }) {
                Ok(Some(())) => {
                    i += 1;
                    self.limits.items(i).map_err(de::Error::custom)?;
                }
                Ok(None) => break,
                Err(err) => {
                    self.path.push(Seg::Index(i));
                    return Err(err);
                }
            }
        }
        if f.packed {
            if self.out.len() == mark {
                self.out.truncate(packed_at);
            } else {
                end_len(self.out, mark);
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn element<'de, D: Deserializer<'de>>(
        &mut self,
        f: &'p FieldPlan,
        d: D,
    ) -> Result<(), D::Error> {
        match f.kind {
            Kind::String => d.deserialize_string(StrValue {
                out: self.out,
                key: Some(f.key),
                presence: true,
                max: self.limits.max_string,
            }),
            Kind::Bytes => d.deserialize_str(BytesValue {
                out: self.out,
                key: Some(f.key),
                presence: true,
                max: self.limits.max_string,
            }),
            Kind::Message(m) => self.message_value(f.key, m, d),
            Kind::Enum(id) => {
                let v = d.deserialize_any(EnumValue {
                    plan: &self.plans.enums[id as usize],
                    deny: !self.ignore_unknown_enums,
                })?;
                if let Some(v) = v {
                    if !f.packed {
                        f.key.put(self.out);
                    }
                    put_varint(self.out, v as i64 as u64);
                }
                Ok(())
            }
            k => {
                let n = read_num(k, d)?;
                if !f.packed {
                    f.key.put(self.out);
                }
                put_num(self.out, k, n);
                Ok(())
            }
        }
    }

    fn map<'de, A: MapAccess<'de>>(
        &mut self,
        f: &'p FieldPlan,
        mut map: A,
    ) -> Result<(), A::Error> {
        self.enter()?;
        let Kind::Message(entry) = f.kind else {
            unreachable!("a map field's kind is its entry message")
        };
        let plans = self.plans;
        let entry = &plans.msgs[entry as usize];
        let (kf, vf) = (&entry.fields[0], &entry.fields[1]);
        let mut n = 0;
        while let Some(key) = map.next_key_seed(StrKey)? {
            n += 1;
            self.limits.items(n).map_err(de::Error::custom)?;
            let at = self.out.len();
            f.key.put(self.out);
            let mark = begin_len(self.out);
            if let Err(msg) = put_map_key(self.out, kf, &key) {
                self.path.push(Seg::Key(key.into_owned()));
                return Err(de::Error::custom(msg));
            }
            match map.next_value_seed(MapValueSeed { e: self, f: vf }) {
                Ok(true) => end_len(self.out, mark),
                // An enum name the enum does not declare, ignored: no entry.
                Ok(false) => self.out.truncate(at),
                Err(err) => {
                    self.path.push(Seg::Key(key.into_owned()));
                    return Err(err);
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }
}

/// A map key from its JSON object key text (prost-reflect's `MapVisitor`).
fn put_map_key(out: &mut Vec<u8>, kf: &FieldPlan, s: &str) -> Result<(), String> {
    let n = match kf.kind {
        Kind::String => {
            if kf.presence || !s.is_empty() {
                kf.key.put(out);
                put_varint(out, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
            return Ok(());
        }
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Num::I32(s.parse().map_err(|e| format!("{e}"))?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Num::I64(s.parse().map_err(|e| format!("{e}"))?)
        }
        Kind::Uint32 | Kind::Fixed32 => Num::U32(s.parse().map_err(|e| format!("{e}"))?),
        Kind::Uint64 | Kind::Fixed64 => Num::U64(s.parse().map_err(|e| format!("{e}"))?),
        Kind::Bool => Num::Bool(s.parse().map_err(|e| format!("{e}"))?),
        _ => unreachable!("invalid type for map key"),
    };
    if kf.presence || !n.is_zero() {
        kf.key.put(out);
        put_num(out, kf.kind, n);
    }
    Ok(())
}

/// A scalar number (or bool) read from JSON.
#[derive(Debug, Clone, Copy)]
enum Num {
    F64(f64),
    F32(f32),
    I32(i32),
    I64(i64),
    U32(u32),
    U64(u64),
    Bool(bool),
}

impl Num {
    /// The proto3 default, which fields without presence leave out
    /// (`-0.0 == 0.0`, as prost-reflect's `Value` equality has it).
    #[inline]
    fn is_zero(self) -> bool {
        match self {
            Num::F64(v) => v == 0.0,
            Num::F32(v) => v == 0.0,
            Num::I32(v) => v == 0,
            Num::I64(v) => v == 0,
            Num::U32(v) => v == 0,
            Num::U64(v) => v == 0,
            Num::Bool(v) => !v,
        }
    }
}

#[inline]
fn read_num<'de, D: Deserializer<'de>>(kind: Kind, d: D) -> Result<Num, D::Error> {
    Ok(match kind {
        Kind::Double => Num::F64(d.deserialize_any(DoubleVisitor)?),
        Kind::Float => Num::F32(d.deserialize_any(FloatVisitor)?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Num::I32(d.deserialize_any(Int32Visitor)?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Num::I64(d.deserialize_any(Int64Visitor)?),
        Kind::Uint32 | Kind::Fixed32 => Num::U32(d.deserialize_any(Uint32Visitor)?),
        Kind::Uint64 | Kind::Fixed64 => Num::U64(d.deserialize_any(Uint64Visitor)?),
        Kind::Bool => Num::Bool(d.deserialize_any(BoolVisitor)?),
        Kind::String | Kind::Bytes | Kind::Enum(_) | Kind::Message(_) => {
            unreachable!("not a number kind")
        }
    })
}

/// Writes a number as a value of `kind` (no key).
#[inline]
fn put_num(out: &mut Vec<u8>, kind: Kind, n: Num) {
    match (kind, n) {
        (Kind::Double, Num::F64(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (Kind::Float, Num::F32(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (Kind::Int32, Num::I32(v)) => put_varint(out, v as i64 as u64),
        (Kind::Sint32, Num::I32(v)) => put_varint(out, zigzag32(v)),
        (Kind::Sfixed32, Num::I32(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (Kind::Int64, Num::I64(v)) => put_varint(out, v as u64),
        (Kind::Sint64, Num::I64(v)) => put_varint(out, zigzag64(v)),
        (Kind::Sfixed64, Num::I64(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (Kind::Uint32, Num::U32(v)) => put_varint(out, u64::from(v)),
        (Kind::Fixed32, Num::U32(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (Kind::Uint64, Num::U64(v)) => put_varint(out, v),
        (Kind::Fixed64, Num::U64(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (Kind::Bool, Num::Bool(v)) => out.push(u8::from(v)),
        _ => unreachable!("read_num reads the kind's number"),
    }
}

// === seeds ===

struct MessageSeed<'e, 'p, 'o> {
    e: &'e mut Enc<'p, 'o>,
    msg: u32,
}

impl<'de> DeserializeSeed<'de> for MessageSeed<'_, '_, '_> {
    type Value = ();
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MessageSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map")
    }
    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.e.message_body(self.msg, map)
    }
}

enum FieldKey {
    /// (field index, named by its JSON name)
    Known(u32, bool),
    Ignored,
    Unknown(String),
}

struct KeySeed<'p> {
    m: &'p MsgPlan,
    ignore: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = FieldKey;
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<FieldKey, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = FieldKey;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    #[inline]
    fn visit_str<E: de::Error>(self, key: &str) -> Result<FieldKey, E> {
        Ok(match self.m.field_by_name(key) {
            Some((i, by_json)) => FieldKey::Known(i, by_json),
            None if self.ignore => FieldKey::Ignored,
            None => FieldKey::Unknown(key.to_string()),
        })
    }
}

/// A map key, borrowed from the input when it has no escapes.
struct StrKey;

impl<'de> DeserializeSeed<'de> for StrKey {
    type Value = Cow<'de, str>;
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for StrKey {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    #[inline]
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

/// A field's value, `null` included (`true` when it sets the field).
struct FieldSeed<'e, 'p, 'o> {
    e: &'e mut Enc<'p, 'o>,
    f: &'p FieldPlan,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_, '_, '_> {
    type Value = bool;
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_, '_, '_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("option")
    }
    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(self.e.null_field(self.f))
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        self.visit_none()
    }
    #[inline]
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        match self.f.card {
            Card::Single => self.e.single(self.f, d),
            Card::List => d
                .deserialize_any(ListVisitor {
                    e: self.e,
                    f: self.f,
                })
                .map(|()| true),
            Card::Map => d
                .deserialize_any(MapVisitor {
                    e: self.e,
                    f: self.f,
                })
                .map(|()| true),
        }
    }
}

struct ListVisitor<'e, 'p, 'o> {
    e: &'e mut Enc<'p, 'o>,
    f: &'p FieldPlan,
}

impl<'de> Visitor<'de> for ListVisitor<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.e.list(self.f, seq)
    }
}

struct ElemSeed<'e, 'p, 'o> {
    e: &'e mut Enc<'p, 'o>,
    f: &'p FieldPlan,
}

impl<'de> DeserializeSeed<'de> for ElemSeed<'_, '_, '_> {
    type Value = ();
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.e.element(self.f, d)
    }
}

struct MapVisitor<'e, 'p, 'o> {
    e: &'e mut Enc<'p, 'o>,
    f: &'p FieldPlan,
}

impl<'de> Visitor<'de> for MapVisitor<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.e.map(self.f, map)
    }
}

/// A map value: no `null` handling of its own (prost-reflect reads it with
/// `FieldDescriptorSeed`, not the optional seed).
struct MapValueSeed<'e, 'p, 'o> {
    e: &'e mut Enc<'p, 'o>,
    f: &'p FieldPlan,
}

impl<'de> DeserializeSeed<'de> for MapValueSeed<'_, '_, '_> {
    type Value = bool;
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        self.e.single(self.f, d)
    }
}

// === value visitors (prost-reflect's, writing instead of returning) ===

fn too_long(len: usize, max: usize) -> String {
    format!("a string of {len} bytes; the limit is {max}")
}

/// A string value, written with its key unless it is empty and the field
/// has no presence.
struct StrValue<'o> {
    out: &'o mut Vec<u8>,
    key: Option<Key>,
    presence: bool,
    /// The longest string accepted.
    max: usize,
}

impl Visitor<'_> for StrValue<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    #[inline]
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if v.len() > self.max {
            return Err(E::custom(too_long(v.len(), self.max)));
        }
        if self.presence || !v.is_empty() {
            if let Some(k) = self.key {
                k.put(self.out);
            }
            put_varint(self.out, v.len() as u64);
            self.out.extend_from_slice(v.as_bytes());
        }
        Ok(())
    }
}

const BASE64_CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_allow_trailing_bits(true)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64_STANDARD: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::STANDARD, BASE64_CONFIG);
const BASE64_URL_SAFE: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::URL_SAFE, BASE64_CONFIG);

/// Base64 (standard or URL-safe, padded or not) decoded straight into the
/// output.
struct BytesValue<'o> {
    out: &'o mut Vec<u8>,
    key: Option<Key>,
    presence: bool,
    /// The longest base64 text accepted.
    max: usize,
}

impl Visitor<'_> for BytesValue<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a base64-encoded string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if v.len() > self.max {
            return Err(E::custom(too_long(v.len(), self.max)));
        }
        let out = self.out;
        let at = out.len();
        if let Some(k) = self.key {
            k.put(out);
        }
        let mark = begin_len(out);
        let r = match BASE64_STANDARD.decode_vec(v, out) {
            Err(base64::DecodeError::InvalidByte(_, b'-' | b'_')) => {
                out.truncate(mark);
                BASE64_URL_SAFE.decode_vec(v, out)
            }
            r => r,
        };
        if let Err(err) = r {
            out.truncate(at);
            return Err(E::custom(format!("invalid base64: {err}")));
        }
        if !self.presence && out.len() == mark {
            out.truncate(at);
        } else {
            end_len(out, mark);
        }
        Ok(())
    }
}

struct EnumValue<'p> {
    plan: &'p EnumPlan,
    deny: bool,
}

impl Visitor<'_> for EnumValue<'_> {
    type Value = Option<i32>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or integer")
    }
    #[inline]
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match self.plan.number_of(v) {
            Some(n) => Ok(Some(n)),
            None if self.deny => Err(E::custom(format!("unrecognized enum value '{v}'"))),
            None => Ok(None),
        }
    }
    fn visit_i32<E: de::Error>(self, v: i32) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.visit_i32(v.try_into().map_err(E::custom)?)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.visit_i32(v.try_into().map_err(E::custom)?)
    }
}

struct DoubleVisitor;
struct FloatVisitor;
struct Int32Visitor;
struct Uint32Visitor;
struct Int64Visitor;
struct Uint64Visitor;
struct BoolVisitor;

impl Visitor<'_> for DoubleVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a 64-bit floating point value")
    }
    #[inline]
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    #[inline]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    #[inline]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v.parse::<f64>() {
            Ok(value) => Ok(value),
            Err(_) if v == "Infinity" => Ok(f64::INFINITY),
            Err(_) if v == "-Infinity" => Ok(f64::NEG_INFINITY),
            Err(_) if v == "NaN" => Ok(f64::NAN),
            Err(err) => Err(E::custom(err)),
        }
    }
}

impl Visitor<'_> for FloatVisitor {
    type Value = f32;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a 32-bit floating point value")
    }
    fn visit_f32<E: de::Error>(self, v: f32) -> Result<f32, E> {
        Ok(v)
    }
    #[inline]
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f32, E> {
        if v < (f32::MIN as f64) || v > (f32::MAX as f64) {
            Err(E::custom("float value out of range"))
        } else {
            Ok(v as f32)
        }
    }
    #[inline]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f32, E> {
        Ok(v as f32)
    }
    #[inline]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f32, E> {
        Ok(v as f32)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f32, E> {
        match v.parse::<f32>() {
            Ok(value) => Ok(value),
            Err(_) if v == "Infinity" => Ok(f32::INFINITY),
            Err(_) if v == "-Infinity" => Ok(f32::NEG_INFINITY),
            Err(_) if v == "NaN" => Ok(f32::NAN),
            Err(err) => Err(E::custom(err)),
        }
    }
}

/// prost-reflect's integer visitors: numbers, decimal strings, and floats
/// with no fractional part within range.
/// (serde_json calls only `visit_i64`, `visit_u64`, `visit_f64` and
/// `visit_str`.)
macro_rules! int_visitor {
    ($visitor:ident, $ty:ty, $expecting:literal) => {
        #[allow(clippy::useless_conversion)]
        impl Visitor<'_> for $visitor {
            type Value = $ty;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str($expecting)
            }
            #[inline]
            fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                v.parse().map_err(E::custom)
            }
            #[inline]
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<$ty, E> {
                v.try_into().map_err(E::custom)
            }
            #[inline]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                v.try_into().map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<$ty, E> {
                if v.fract() != 0.0 {
                    return Err(E::custom("expected integer value"));
                }
                if v < (<$ty>::MIN as f64) || v > (<$ty>::MAX as f64) {
                    return Err(E::custom("float value out of range"));
                }
                Ok(v as $ty)
            }
        }
    };
}

int_visitor!(Int32Visitor, i32, "a 32-bit signed integer");
int_visitor!(
    Uint32Visitor,
    u32,
    "a 32-bit unsigned integer or decimal string"
);
int_visitor!(
    Int64Visitor,
    i64,
    "a 64-bit signed integer or decimal string"
);
int_visitor!(
    Uint64Visitor,
    u64,
    "a 64-bit unsigned integer or decimal string"
);

impl Visitor<'_> for BoolVisitor {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a boolean")
    }
    #[inline]
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
}
