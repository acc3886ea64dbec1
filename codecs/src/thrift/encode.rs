//! JSON -> Thrift in one pass: a serde `DeserializeSeed` walks the IDL type
//! while serde_json tokenizes the body, and writes protocol bytes as it goes.
//! No `serde_json::Value` in between; no allocation for borrowed strings.
//!
//! Errors carry the JSON path of the offending value (`$.req.items[3].id`),
//! built only while an error unwinds.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use idl::{Field, Requiredness, Schema, StructDef, StructId, StructKind, Type};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::protocol::{TType, Writer};
use crate::CodecError;

/// How JSON is turned into Thrift.
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    /// Reject JSON keys that name no field (default: ignore them).
    pub reject_unknown_fields: bool,
    /// Deepest nesting of structs and containers accepted.
    pub max_depth: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            reject_unknown_fields: false,
            max_depth: 64,
        }
    }
}

/// A field value taken from the HTTP request rather than the JSON body
/// (path parameter, query, header, cookie or raw body).
#[derive(Debug, Clone)]
pub struct Bound<'a> {
    /// Index of the field in its struct's `fields`.
    pub field: usize,
    pub value: BoundValue<'a>,
}

#[derive(Debug, Clone)]
pub enum BoundValue<'a> {
    /// One text value; lists take it comma-separated, structs and maps as JSON.
    Text(Cow<'a, str>),
    /// Several values (a repeated query parameter), for list and set fields.
    List(Vec<Cow<'a, str>>),
    /// Raw bytes (`api.raw_body`), for string and binary fields.
    Raw(&'a [u8]),
    /// Never set from HTTP (`api.none`): the JSON body may not set it
    /// either; the IDL default (or nothing) applies.
    Missing,
}

pub(crate) const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

enum Seg {
    Key(String),
    Index(usize),
}

pub(crate) struct Enc<'s, 'w, W> {
    schema: &'s Schema,
    w: &'w mut W,
    opts: &'s EncodeOptions,
    depth: usize,
    /// Path segments, innermost first, pushed while an error unwinds.
    path: Vec<Seg>,
}

impl<'s, 'w, W: Writer> Enc<'s, 'w, W> {
    pub(crate) fn new(schema: &'s Schema, w: &'w mut W, opts: &'s EncodeOptions) -> Self {
        Enc {
            schema,
            w,
            opts,
            depth: 0,
            path: Vec::new(),
        }
    }

    /// Encodes struct `sid` from `json` (an empty body counts as `{}`), with
    /// `bound` fields taken from elsewhere; writes a complete struct.
    pub(crate) fn struct_from_json(
        &mut self,
        sid: StructId,
        json: &[u8],
        bound: &[Bound<'_>],
    ) -> Result<(), CodecError> {
        let json = if json.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            json
        };
        let mut de = serde_json::Deserializer::from_slice(json);
        let r = StructSeed {
            e: self,
            sid,
            bound,
        }
        .deserialize(&mut de)
        .and_then(|_| de.end());
        r.map_err(|err| self.input_error(err))
    }

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

    fn enter<E: de::Error>(&mut self) -> Result<(), E> {
        self.depth += 1;
        if self.depth > self.opts.max_depth {
            return Err(E::custom(format_args!(
                "nesting deeper than {} levels",
                self.opts.max_depth
            )));
        }
        Ok(())
    }

    /// Writes a bound (HTTP-sourced) value for `field`.
    fn bound<E: de::Error>(&mut self, field: &'s Field, value: &BoundValue<'_>) -> Result<(), E> {
        let r = match value {
            BoundValue::Raw(bytes) => match field.ty {
                Type::String | Type::Binary => {
                    self.w.field_begin(TType::Binary, field.id);
                    self.w.bytes(bytes);
                    Ok(())
                }
                _ => match std::str::from_utf8(bytes) {
                    Ok(s) => self.bound_text(field, s),
                    Err(_) => Err(E::custom("raw body is not UTF-8")),
                },
            },
            BoundValue::Text(s) => self.bound_text(field, s),
            BoundValue::Missing => Ok(()),
            BoundValue::List(items) => match &field.ty {
                Type::List(t) | Type::Set(t) => {
                    self.bound_list(field, t, items.iter().map(|c| c.as_ref()))
                }
                _ => match items.last() {
                    Some(s) => self.bound_text(field, s),
                    None => Ok(()),
                },
            },
        };
        r.inspect_err(|_| {
            self.path.push(Seg::Key(field.json_name.clone()));
        })
    }

    fn bound_text<E: de::Error>(&mut self, field: &'s Field, s: &str) -> Result<(), E> {
        match &field.ty {
            Type::List(t) | Type::Set(t) if !s.trim_start().starts_with('[') => {
                self.bound_list(field, t, s.split(',').filter(|p| !p.is_empty()))
            }
            Type::List(_) | Type::Set(_) | Type::Map(..) | Type::Struct(_) => {
                let mut de = serde_json::Deserializer::from_str(s);
                ValueSeed {
                    e: self,
                    ty: &field.ty,
                    field: Some(field.id),
                }
                .deserialize(&mut de)
                .and_then(|_| de.end())
                .map_err(|err| E::custom(format_args!("invalid JSON value: {err}")))
            }
            ty => self.scalar_from_str(ty, Some(field.id), s, false),
        }
    }

    fn bound_list<'i, E: de::Error>(
        &mut self,
        field: &'s Field,
        elem: &'s Type,
        items: impl Iterator<Item = &'i str>,
    ) -> Result<(), E> {
        let outer = if matches!(field.ty, Type::Set(_)) {
            TType::Set
        } else {
            TType::List
        };
        self.w.field_begin(outer, field.id);
        let et = ttype(elem);
        let mark = self.w.list_begin(et);
        let mut n = 0u32;
        for (i, item) in items.enumerate() {
            self.scalar_from_str(elem, None, item, false)
                .inspect_err(|_| {
                    self.path.push(Seg::Index(i));
                })?;
            n += 1;
        }
        self.w.list_end(mark, et, n);
        Ok(())
    }

    /// Writes a scalar given as text (a map key, or an HTTP-bound value).
    /// `base64_binary`: binary text is base64 (JSON) rather than raw bytes (HTTP).
    fn scalar_from_str<E: de::Error>(
        &mut self,
        ty: &'s Type,
        field: Option<i16>,
        s: &str,
        base64_binary: bool,
    ) -> Result<(), E> {
        let head = |w: &mut W, t: TType| {
            if let Some(id) = field {
                w.field_begin(t, id);
            }
        };
        match ty {
            Type::String => {
                head(self.w, TType::Binary);
                self.w.bytes(s.as_bytes());
            }
            Type::Binary if !base64_binary => {
                head(self.w, TType::Binary);
                self.w.bytes(s.as_bytes());
            }
            Type::Bool => {
                let v = match s {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(E::custom(format_args!("expected bool, found \"{s}\""))),
                };
                match field {
                    Some(id) => self.w.field_bool(id, v),
                    None => self.w.bool(v),
                }
            }
            Type::I8 | Type::I16 | Type::I32 | Type::I64 => {
                let v: i64 = s.trim().parse().map_err(|_| {
                    E::custom(format_args!(
                        "expected {}, found \"{s}\"",
                        self.schema.type_name(ty)
                    ))
                })?;
                self.int(ty, field, v)?;
            }
            Type::Double => {
                let v = parse_double(s)
                    .ok_or_else(|| E::custom(format_args!("expected double, found \"{s}\"")))?;
                head(self.w, TType::Double);
                self.w.double(v);
            }
            Type::Enum(id) => {
                let e = self.schema.enum_def(*id);
                let v = match e.value_of(s) {
                    Some(v) => v,
                    None => s
                        .parse::<i32>()
                        .map_err(|_| E::custom(format_args!("unknown {} value \"{s}\"", e.name)))?,
                };
                head(self.w, TType::I32);
                self.w.i32(v);
            }
            Type::Uuid => {
                let u =
                    parse_uuid(s).ok_or_else(|| E::custom(format_args!("invalid uuid \"{s}\"")))?;
                head(self.w, TType::Uuid);
                self.w.uuid(&u);
            }
            Type::Binary => {
                let bytes = BASE64
                    .decode(s)
                    .map_err(|e| E::custom(format_args!("invalid base64: {e}")))?;
                head(self.w, TType::Binary);
                self.w.bytes(&bytes);
            }
            Type::List(_) | Type::Set(_) | Type::Map(..) | Type::Struct(_) => {
                return Err(E::custom(format_args!(
                    "{} cannot be written as text",
                    self.schema.type_name(ty)
                )));
            }
        }
        Ok(())
    }

    fn int<E: de::Error>(&mut self, ty: &Type, field: Option<i16>, v: i64) -> Result<(), E> {
        let out_of_range = || {
            E::custom(format_args!(
                "{v} is out of range for {}",
                self.schema.type_name(ty)
            ))
        };
        macro_rules! put {
            ($t:expr, $m:ident, $ty:ty) => {{
                let x = <$ty>::try_from(v).map_err(|_| out_of_range())?;
                if let Some(id) = field {
                    self.w.field_begin($t, id);
                }
                self.w.$m(x);
            }};
        }
        match ty {
            Type::I8 => put!(TType::I8, i8, i8),
            Type::I16 => put!(TType::I16, i16, i16),
            Type::I32 | Type::Enum(_) => put!(TType::I32, i32, i32),
            Type::I64 => put!(TType::I64, i64, i64),
            Type::Double => {
                if let Some(id) = field {
                    self.w.field_begin(TType::Double, id);
                }
                self.w.double(v as f64)
            }
            _ => return Err(mismatch(self.schema, ty, "number")),
        }
        Ok(())
    }

    /// Writes IDL defaults of absent fields; checks required fields and unions.
    #[inline(never)]
    fn fill<E: de::Error>(&mut self, def: &'s StructDef, seen: &Seen) -> Result<(), E> {
        let mut set = 0usize;
        for (idx, field) in def.fields.iter().enumerate() {
            if seen.get(idx) {
                set += 1;
                continue;
            }
            if def.kind == StructKind::Union {
                continue;
            }
            if let Some(default) = &field.default {
                let mut de = serde_json::Deserializer::from_str(default);
                ValueSeed {
                    e: self,
                    ty: &field.ty,
                    field: Some(field.id),
                }
                .deserialize(&mut de)
                .map_err(|err| {
                    E::custom(format_args!("bad default for `{}`: {err}", field.name))
                })?;
            } else if field.required == Requiredness::Required {
                self.path.push(Seg::Key(field.json_name.clone()));
                return Err(E::custom(format_args!(
                    "missing required field `{}`",
                    field.json_name
                )));
            }
        }
        if def.kind == StructKind::Union && set != 1 {
            return Err(E::custom(format_args!(
                "union {} needs exactly one field set, found {set}",
                def.name
            )));
        }
        Ok(())
    }

    fn struct_body<'de, A: MapAccess<'de>>(
        &mut self,
        sid: StructId,
        mut map: A,
        bound: &[Bound<'_>],
    ) -> Result<(), A::Error> {
        self.enter()?;
        let def: &'s StructDef = self.schema.struct_def(sid);
        let saved = self.w.struct_begin();
        let mut seen = Seen::new(def.fields.len());
        for b in bound {
            if !matches!(b.value, BoundValue::Missing) {
                self.bound(&def.fields[b.field], &b.value)?;
                seen.set(b.field);
            }
        }
        while let Some(key) = map.next_key_seed(KeySeed {
            def,
            reject: self.opts.reject_unknown_fields,
        })? {
            let Some(idx) = key else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let field = &def.fields[idx];
            // Set from HTTP (or never settable): the body's value is ignored.
            if bound.iter().any(|b| b.field == idx) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if seen.get(idx) {
                return Err(de::Error::custom(format_args!(
                    "duplicate field `{}`",
                    field.json_name
                )));
            }
            let written = map
                .next_value_seed(ValueSeed {
                    e: self,
                    ty: &field.ty,
                    field: Some(field.id),
                })
                .inspect_err(|_| {
                    self.path.push(Seg::Key(field.json_name.clone()));
                })?;
            if written {
                seen.set(idx);
            }
        }
        if def.needs_fill {
            self.fill(def, &seen)?;
        }
        self.w.struct_end(saved);
        self.depth -= 1;
        Ok(())
    }
}

/// Thrift type id a value of `ty` travels as.
#[inline]
pub(crate) fn ttype(ty: &Type) -> TType {
    match ty {
        Type::Bool => TType::Bool,
        Type::I8 => TType::I8,
        Type::I16 => TType::I16,
        Type::I32 | Type::Enum(_) => TType::I32,
        Type::I64 => TType::I64,
        Type::Double => TType::Double,
        Type::String | Type::Binary => TType::Binary,
        Type::Uuid => TType::Uuid,
        Type::List(_) => TType::List,
        Type::Set(_) => TType::Set,
        Type::Map(..) => TType::Map,
        Type::Struct(_) => TType::Struct,
    }
}

fn mismatch<E: de::Error>(schema: &Schema, ty: &Type, found: &str) -> E {
    E::custom(format_args!(
        "expected {}, found {found}",
        schema.type_name(ty)
    ))
}

pub(crate) fn parse_double(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => s.trim().parse().ok(),
    }
}

/// Parses `8-4-4-4-12` hex (or 32 bare hex digits).
pub(crate) fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = s.bytes().filter(|&b| b != b'-').collect();
    if hex.len() != 32 || (s.len() != 32 && s.len() != 36) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Which fields of a struct were written; no allocation up to 128 fields.
enum Seen {
    Small(u128),
    Large(Vec<bool>),
}

impl Seen {
    fn new(n: usize) -> Self {
        if n <= 128 {
            Seen::Small(0)
        } else {
            Seen::Large(vec![false; n])
        }
    }
    #[inline]
    fn set(&mut self, i: usize) {
        match self {
            Seen::Small(b) => *b |= 1 << i,
            Seen::Large(v) => v[i] = true,
        }
    }
    #[inline]
    fn get(&self, i: usize) -> bool {
        match self {
            Seen::Small(b) => *b & (1 << i) != 0,
            Seen::Large(v) => v[i],
        }
    }
}

// === seeds ===

struct StructSeed<'e, 's, 'w, 'b, 'x, W> {
    e: &'e mut Enc<'s, 'w, W>,
    sid: StructId,
    bound: &'b [Bound<'x>],
}

impl<'de, W: Writer> DeserializeSeed<'de> for StructSeed<'_, '_, '_, '_, '_, W> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, W: Writer> Visitor<'de> for StructSeed<'_, '_, '_, '_, '_, W> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "a JSON object for {}",
            self.e.schema.struct_def(self.sid).name
        )
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.e.struct_body(self.sid, map, self.bound)
    }
}

struct KeySeed<'s> {
    def: &'s StructDef,
    reject: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        match self.def.field_by_json(key) {
            Some(i) => Ok(Some(i)),
            None if self.reject => Err(E::custom(format_args!(
                "unknown field `{key}` in {}",
                self.def.name
            ))),
            None => Ok(None),
        }
    }
}

struct StrKey;

impl<'de> DeserializeSeed<'de> for StrKey {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for StrKey {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

/// One value of `ty`; with `field` set, its field header is written first
/// and JSON `null` means "absent" (the seed returns `false`).
struct ValueSeed<'e, 's, 'w, W> {
    e: &'e mut Enc<'s, 'w, W>,
    ty: &'s Type,
    field: Option<i16>,
}

impl<W: Writer> ValueSeed<'_, '_, '_, W> {
    #[inline]
    fn head(&mut self, t: TType) {
        if let Some(id) = self.field {
            self.e.w.field_begin(t, id);
        }
    }
}

impl<'de, W: Writer> DeserializeSeed<'de> for ValueSeed<'_, '_, '_, W> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, W: Writer> Visitor<'de> for ValueSeed<'_, '_, '_, W> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.e.schema.type_name(self.ty))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        match self.ty {
            Type::Bool => {
                match self.field {
                    Some(id) => self.e.w.field_bool(id, v),
                    None => self.e.w.bool(v),
                }
                Ok(true)
            }
            _ => Err(mismatch(self.e.schema, self.ty, "a bool")),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.e.int(self.ty, self.field, v)?;
        Ok(true)
    }

    fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<bool, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) if *self.ty == Type::Double => {
                self.head(TType::Double);
                self.e.w.double(v as f64);
                Ok(true)
            }
            Err(_) => Err(E::custom(format_args!(
                "{v} is out of range for {}",
                self.e.schema.type_name(self.ty)
            ))),
        }
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<bool, E> {
        match self.ty {
            Type::Double => {
                self.head(TType::Double);
                self.e.w.double(v);
                Ok(true)
            }
            Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Enum(_)
                if v.fract() == 0.0 && v >= i64::MIN as f64 && v <= i64::MAX as f64 =>
            {
                self.visit_i64(v as i64)
            }
            Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Enum(_) => Err(E::custom(
                format_args!("expected {}, found {v}", self.e.schema.type_name(self.ty)),
            )),
            _ => Err(mismatch(self.e.schema, self.ty, "a number")),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match self.ty {
            Type::String | Type::Binary | Type::Uuid | Type::Enum(_) | Type::Double | Type::I64 => {
                self.e.scalar_from_str(self.ty, self.field, v, true)?;
                Ok(true)
            }
            // `api.js_conv` integers arrive as strings; accepted for every integer width.
            Type::I8 | Type::I16 | Type::I32
                if v.bytes().all(|b| b.is_ascii_digit() || b == b'-') && !v.is_empty() =>
            {
                self.e.scalar_from_str(self.ty, self.field, v, true)?;
                Ok(true)
            }
            _ => Err(mismatch(self.e.schema, self.ty, "a string")),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        match self.field {
            Some(_) => Ok(false),
            None => Err(mismatch(self.e.schema, self.ty, "null")),
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<bool, A::Error> {
        match self.ty {
            Type::List(t) | Type::Set(t) => {
                self.e.enter()?;
                self.head(if matches!(self.ty, Type::Set(_)) {
                    TType::Set
                } else {
                    TType::List
                });
                let et = ttype(t);
                let mark = self.e.w.list_begin(et);
                let mut n = 0u32;
                loop {
                    let r = seq.next_element_seed(ValueSeed {
                        e: self.e,
                        ty: t,
                        field: None,
                    });
                    match r {
                        Ok(Some(_)) => n += 1,
                        Ok(None) => break,
                        Err(err) => {
                            self.e.path.push(Seg::Index(n as usize));
                            return Err(err);
                        }
                    }
                }
                self.e.w.list_end(mark, et, n);
                self.e.depth -= 1;
                Ok(true)
            }
            Type::Map(k, v) => {
                self.e.enter()?;
                self.head(TType::Map);
                let (kt, vt) = (ttype(k), ttype(v));
                let mark = self.e.w.map_begin(kt, vt);
                let mut n = 0u32;
                loop {
                    match seq.next_element_seed(PairSeed { e: self.e, k, v }) {
                        Ok(Some(())) => n += 1,
                        Ok(None) => break,
                        Err(err) => {
                            self.e.path.push(Seg::Index(n as usize));
                            return Err(err);
                        }
                    }
                }
                self.e.w.map_end(mark, kt, vt, n);
                self.e.depth -= 1;
                Ok(true)
            }
            _ => Err(mismatch(self.e.schema, self.ty, "an array")),
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<bool, A::Error> {
        match self.ty {
            Type::Struct(sid) => {
                self.head(TType::Struct);
                self.e.struct_body(*sid, map, &[])?;
                Ok(true)
            }
            Type::Map(k, v) if k.is_object_key() => {
                self.e.enter()?;
                self.head(TType::Map);
                let (kt, vt) = (ttype(k), ttype(v));
                let mark = self.e.w.map_begin(kt, vt);
                let mut n = 0u32;
                while let Some(key) = map.next_key_seed(StrKey)? {
                    self.e
                        .scalar_from_str(k, None, &key, true)
                        .inspect_err(|_| {
                            self.e.path.push(Seg::Key(key.to_string()));
                        })?;
                    map.next_value_seed(ValueSeed {
                        e: self.e,
                        ty: v,
                        field: None,
                    })
                    .inspect_err(|_| {
                        self.e.path.push(Seg::Key(key.to_string()));
                    })?;
                    n += 1;
                }
                self.e.w.map_end(mark, kt, vt, n);
                self.e.depth -= 1;
                Ok(true)
            }
            Type::Map(k, _) => Err(de::Error::custom(format_args!(
                "a map with {} keys is an array of [key, value] pairs",
                self.e.schema.type_name(k)
            ))),
            _ => Err(mismatch(self.e.schema, self.ty, "an object")),
        }
    }
}

/// One `[key, value]` pair of a map whose keys cannot be JSON object keys.
struct PairSeed<'e, 's, 'w, W> {
    e: &'e mut Enc<'s, 'w, W>,
    k: &'s Type,
    v: &'s Type,
}

impl<'de, W: Writer> DeserializeSeed<'de> for PairSeed<'_, '_, '_, W> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, W: Writer> Visitor<'de> for PairSeed<'_, '_, '_, W> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a [key, value] pair")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let missing = || de::Error::custom("a map entry must be a [key, value] pair");
        seq.next_element_seed(ValueSeed {
            e: self.e,
            ty: self.k,
            field: None,
        })?
        .ok_or_else(missing)?;
        seq.next_element_seed(ValueSeed {
            e: self.e,
            ty: self.v,
            field: None,
        })?
        .ok_or_else(missing)?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(missing());
        }
        Ok(())
    }
}
