//! JSON -> Thrift in one pass: the encoder walks the IDL type and pulls the
//! tokens it expects from a JSON scanner, writing protocol bytes as it goes.
//! No `serde_json::Value` in between; no allocation for strings without
//! escapes; known keys matched as bytes.
//!
//! Errors carry the JSON path of the offending value (`$.req.items[3].id`),
//! built only while an error unwinds.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use idl::{Field, Requiredness, Schema, StructDef, StructId, StructKind, Type};

use super::protocol::{TType, Writer};
use crate::CodecError;
use crate::json_scan::{Num, Scan, SyntaxError};
use crate::seen::Seen;

/// How JSON is turned into Thrift.
#[derive(Debug, Clone, Default)]
pub struct EncodeOptions {
    /// Reject JSON keys that name no field (default: ignore them).
    pub reject_unknown_fields: bool,
    /// Nesting, string and container bounds.
    pub limits: crate::JsonLimits,
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

/// Why encoding stopped: bad JSON syntax (located by the scanner that found
/// it) or a value that does not fit the IDL.
enum Fail {
    Syntax(SyntaxError),
    Msg(String),
}

impl From<SyntaxError> for Fail {
    fn from(e: SyntaxError) -> Self {
        Fail::Syntax(e)
    }
}

type R<T> = Result<T, Fail>;

#[cold]
fn msg<T>(args: fmt::Arguments<'_>) -> R<T> {
    Err(Fail::Msg(args.to_string()))
}

impl Fail {
    /// The message, syntax errors located in `sc`'s text.
    fn text(self, sc: &Scan<'_>) -> String {
        match self {
            Fail::Msg(m) => m,
            Fail::Syntax(e) => {
                let (line, col) = sc.line_col(e.at);
                format!("{} at line {line} column {col}", e.msg)
            }
        }
    }
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
        let mut sc = Scan::new(json);
        let r = match sc.peek() {
            Some(b'{') => self
                .struct_body(&mut sc, sid, bound)
                .and_then(|()| Ok(sc.end()?)),
            other => {
                let found = found(other);
                msg(format_args!(
                    "invalid type: expected a JSON object for {}, found {found}",
                    self.schema.struct_def(sid).name
                ))
            }
        };
        r.map_err(|fail| {
            let message = fail.text(&sc);
            CodecError::Input {
                path: self.path_text(),
                message,
            }
        })
    }

    fn path_text(&mut self) -> String {
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
        path
    }

    #[inline]
    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > self.opts.limits.max_depth {
            return msg(format_args!(
                "nesting deeper than {} levels",
                self.opts.limits.max_depth
            ));
        }
        Ok(())
    }

    /// Parses `text` as one JSON value of `ty` (a bound value or an IDL default).
    fn value_from_text(&mut self, ty: &'s Type, field: Option<i16>, text: &str) -> R<bool> {
        let mut sc = Scan::new(text.as_bytes());
        self.value(&mut sc, ty, field)
            .and_then(|w| Ok(sc.end().map(|()| w)?))
            .map_err(|f| Fail::Msg(f.text(&sc)))
    }

    /// Writes a bound (HTTP-sourced) value for `field`.
    fn bound(&mut self, field: &'s Field, value: &BoundValue<'_>) -> R<()> {
        let r = match value {
            BoundValue::Raw(bytes) => match field.ty {
                Type::String | Type::Binary => {
                    self.w.field_begin(TType::Binary, field.id);
                    self.w.bytes(bytes);
                    Ok(())
                }
                _ => match std::str::from_utf8(bytes) {
                    Ok(s) => self.bound_text(field, s),
                    Err(_) => msg(format_args!("raw body is not UTF-8")),
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

    fn bound_text(&mut self, field: &'s Field, s: &str) -> R<()> {
        match &field.ty {
            Type::List(t) | Type::Set(t) if !s.trim_start().starts_with('[') => {
                self.bound_list(field, t, s.split(',').filter(|p| !p.is_empty()))
            }
            Type::List(_) | Type::Set(_) | Type::Map(..) | Type::Struct(_) => self
                .value_from_text(&field.ty, Some(field.id), s)
                .map(drop)
                .map_err(|f| match f {
                    Fail::Msg(m) => Fail::Msg(format!("invalid JSON value: {m}")),
                    f => f,
                }),
            ty => self.scalar_from_str(ty, Some(field.id), s, false),
        }
    }

    fn bound_list<'i>(
        &mut self,
        field: &'s Field,
        elem: &'s Type,
        items: impl Iterator<Item = &'i str>,
    ) -> R<()> {
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

    /// Writes a scalar given as text (a JSON string, a map key, or an
    /// HTTP-bound value). `base64_binary`: binary text is base64 (JSON)
    /// rather than raw bytes (HTTP).
    fn scalar_from_str(
        &mut self,
        ty: &'s Type,
        field: Option<i16>,
        s: &str,
        base64_binary: bool,
    ) -> R<()> {
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
                    _ => return msg(format_args!("expected bool, found \"{s}\"")),
                };
                match field {
                    Some(id) => self.w.field_bool(id, v),
                    None => self.w.bool(v),
                }
            }
            Type::I8 | Type::I16 | Type::I32 | Type::I64 => {
                let Ok(v) = s.trim().parse::<i64>() else {
                    return msg(format_args!(
                        "expected {}, found \"{s}\"",
                        self.schema.type_name(ty)
                    ));
                };
                self.int(ty, field, v)?;
            }
            Type::Double => {
                let Some(v) = parse_double(s) else {
                    return msg(format_args!("expected double, found \"{s}\""));
                };
                head(self.w, TType::Double);
                self.w.double(v);
            }
            Type::Enum(id) => {
                let e = self.schema.enum_def(*id);
                let v = match e.value_of(s) {
                    Some(v) => v,
                    None => match s.parse::<i32>() {
                        Ok(v) => v,
                        Err(_) => return msg(format_args!("unknown {} value \"{s}\"", e.name)),
                    },
                };
                head(self.w, TType::I32);
                self.w.i32(v);
            }
            Type::Uuid => {
                let Some(u) = parse_uuid(s) else {
                    return msg(format_args!("invalid uuid \"{s}\""));
                };
                head(self.w, TType::Uuid);
                self.w.uuid(&u);
            }
            Type::Binary => {
                let bytes = match BASE64.decode(s) {
                    Ok(b) => b,
                    Err(e) => return msg(format_args!("invalid base64: {e}")),
                };
                head(self.w, TType::Binary);
                self.w.bytes(&bytes);
            }
            Type::List(_) | Type::Set(_) | Type::Map(..) | Type::Struct(_) => {
                return msg(format_args!(
                    "{} cannot be written as text",
                    self.schema.type_name(ty)
                ));
            }
        }
        Ok(())
    }

    #[inline]
    fn int(&mut self, ty: &Type, field: Option<i16>, v: i64) -> R<()> {
        macro_rules! put {
            ($t:expr, $m:ident, $ty:ty) => {{
                let Ok(x) = <$ty>::try_from(v) else {
                    return self.out_of_range(ty, v);
                };
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
            Type::I64 => {
                if let Some(id) = field {
                    self.w.field_begin(TType::I64, id);
                }
                self.w.i64(v);
            }
            Type::Double => {
                if let Some(id) = field {
                    self.w.field_begin(TType::Double, id);
                }
                self.w.double(v as f64)
            }
            _ => return mismatch(self.schema, ty, "a number"),
        }
        Ok(())
    }

    #[cold]
    fn out_of_range<T>(&self, ty: &Type, v: impl fmt::Display) -> R<T> {
        msg(format_args!(
            "{v} is out of range for {}",
            self.schema.type_name(ty)
        ))
    }

    /// Writes IDL defaults of absent fields; checks required fields and unions.
    #[inline(never)]
    fn fill(&mut self, def: &'s StructDef, seen: &Seen) -> R<()> {
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
                self.value_from_text(&field.ty, Some(field.id), default)
                    .map_err(|f| match f {
                        Fail::Msg(m) => Fail::Msg(format!("bad default for `{}`: {m}", field.name)),
                        f => f,
                    })?;
            } else if field.required == Requiredness::Required {
                self.path.push(Seg::Key(field.json_name.clone()));
                return msg(format_args!("missing required field `{}`", field.json_name));
            }
        }
        if def.kind == StructKind::Union && set != 1 {
            return msg(format_args!(
                "union {} needs exactly one field set, found {set}",
                def.name
            ));
        }
        Ok(())
    }

    /// A struct, at its `{`.
    fn struct_body(&mut self, sc: &mut Scan<'_>, sid: StructId, bound: &[Bound<'_>]) -> R<()> {
        self.enter()?;
        sc.bump();
        let def: &'s StructDef = self.schema.struct_def(sid);
        let saved = self.w.struct_begin();
        let mut seen = Seen::new(def.fields.len());
        for b in bound {
            if !matches!(b.value, BoundValue::Missing) {
                self.bound(&def.fields[b.field], &b.value)?;
                seen.set(b.field);
            }
        }
        let mut first = true;
        while let Some(key) = sc.next_key(&mut first)? {
            let Some(idx) = def.field_by_json_bytes(key.bytes()) else {
                let at = sc.pos();
                let name = key.as_str().map_err(|m| SyntaxError { msg: m, at })?;
                if self.opts.reject_unknown_fields {
                    return msg(format_args!("unknown field `{name}` in {}", def.name));
                }
                sc.skip(self.opts.limits.max_depth.saturating_sub(self.depth))?;
                continue;
            };
            let field = &def.fields[idx];
            // Set from HTTP (or never settable): the body's value is ignored.
            if !bound.is_empty() && bound.iter().any(|b| b.field == idx) {
                sc.skip(self.opts.limits.max_depth.saturating_sub(self.depth))?;
                continue;
            }
            if seen.get(idx) {
                return msg(format_args!("duplicate field `{}`", field.json_name));
            }
            let written = self.value(sc, &field.ty, Some(field.id)).inspect_err(|_| {
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

    #[inline]
    fn head(&mut self, field: Option<i16>, t: TType) {
        if let Some(id) = field {
            self.w.field_begin(t, id);
        }
    }

    /// One value of `ty`; with `field` set, its field header is written first
    /// and JSON `null` means "absent" (returns `false`).
    fn value(&mut self, sc: &mut Scan<'_>, ty: &'s Type, field: Option<i16>) -> R<bool> {
        match sc.peek() {
            Some(b'-' | b'0'..=b'9') => {
                match sc.number()? {
                    Num::U(u) => match i64::try_from(u) {
                        Ok(v) => self.int(ty, field, v)?,
                        Err(_) if *ty == Type::Double => {
                            self.head(field, TType::Double);
                            self.w.double(u as f64);
                        }
                        Err(_) => return self.out_of_range(ty, u),
                    },
                    Num::I(v) => self.int(ty, field, v)?,
                    Num::F(v) => match ty {
                        Type::Double => {
                            self.head(field, TType::Double);
                            self.w.double(v);
                        }
                        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Enum(_)
                            if v.fract() == 0.0 && v >= i64::MIN as f64 && v <= i64::MAX as f64 =>
                        {
                            self.int(ty, field, v as i64)?
                        }
                        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Enum(_) => {
                            return msg(format_args!(
                                "expected {}, found {v}",
                                self.schema.type_name(ty)
                            ));
                        }
                        _ => return mismatch(self.schema, ty, "a number"),
                    },
                }
                Ok(true)
            }
            Some(b'"') => {
                let s = sc.string()?;
                if let Err(m) = self.opts.limits.string(s.len()) {
                    return msg(format_args!("{m}"));
                }
                match ty {
                    Type::String
                    | Type::Binary
                    | Type::Uuid
                    | Type::Enum(_)
                    | Type::Double
                    | Type::I64 => self.scalar_from_str(ty, field, &s, true)?,
                    // `api.js_conv` integers arrive as strings; accepted for every integer width.
                    Type::I8 | Type::I16 | Type::I32
                        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'-') =>
                    {
                        self.scalar_from_str(ty, field, &s, true)?
                    }
                    _ => return mismatch(self.schema, ty, "a string"),
                }
                Ok(true)
            }
            Some(b'{') => self.object(sc, ty, field),
            Some(b'[') => self.array(sc, ty, field),
            Some(c @ (b't' | b'f')) => {
                let v = c == b't';
                sc.literal(if v { b"true" } else { b"false" })?;
                if *ty != Type::Bool {
                    return mismatch(self.schema, ty, "a bool");
                }
                match field {
                    Some(id) => self.w.field_bool(id, v),
                    None => self.w.bool(v),
                }
                Ok(true)
            }
            Some(b'n') => {
                sc.literal(b"null")?;
                match field {
                    Some(_) => Ok(false),
                    None => mismatch(self.schema, ty, "null"),
                }
            }
            Some(_) => Err(sc.error("expected value").into()),
            None => Err(sc.error("EOF while parsing a value").into()),
        }
    }

    /// Enters a list, set or map at its `[` or `{`: one level deeper, the
    /// opening byte consumed, the field header (if any) written.
    fn open(&mut self, sc: &mut Scan<'_>, field: Option<i16>, t: TType) -> R<()> {
        self.enter()?;
        sc.bump();
        self.head(field, t);
        Ok(())
    }

    /// Leaves what [`Enc::open`] entered; the value was written.
    fn close(&mut self) -> R<bool> {
        self.depth -= 1;
        Ok(true)
    }

    /// A JSON object (at its `{`): a struct, or a map with text keys.
    fn object(&mut self, sc: &mut Scan<'_>, ty: &'s Type, field: Option<i16>) -> R<bool> {
        match ty {
            Type::Struct(sid) => {
                self.head(field, TType::Struct);
                self.struct_body(sc, *sid, &[])?;
                Ok(true)
            }
            Type::Map(k, v) if k.is_object_key() => {
                self.open(sc, field, TType::Map)?;
                let (kt, vt) = (ttype(k), ttype(v));
                let mark = self.w.map_begin(kt, vt);
                let mut n = 0u32;
                let mut first = true;
                while let Some(key) = sc.next_key(&mut first)? {
                    let at = sc.pos();
                    let key = key.as_str().map_err(|m| SyntaxError { msg: m, at })?;
                    self.scalar_from_str(k, None, key, true)
                        .and_then(|()| self.value(sc, v, None).map(drop))
                        .inspect_err(|_| {
                            self.path.push(Seg::Key(key.to_string()));
                        })?;
                    n += 1;
                    if let Err(m) = self.opts.limits.items(n as usize) {
                        return msg(format_args!("{m}"));
                    }
                }
                self.w.map_end(mark, kt, vt, n);
                self.close()
            }
            Type::Map(k, _) => msg(format_args!(
                "a map with {} keys is an array of [key, value] pairs",
                self.schema.type_name(k)
            )),
            _ => mismatch(self.schema, ty, "an object"),
        }
    }

    /// A JSON array (at its `[`): a list, a set, or a map as `[key, value]` pairs.
    fn array(&mut self, sc: &mut Scan<'_>, ty: &'s Type, field: Option<i16>) -> R<bool> {
        match ty {
            Type::List(t) | Type::Set(t) => {
                self.open(sc, field, ttype(ty))?;
                let et = ttype(t);
                let mark = self.w.list_begin(et);
                let mut n = 0u32;
                let mut first = true;
                while sc.next_element(&mut first)? {
                    self.value(sc, t, None).inspect_err(|_| {
                        self.path.push(Seg::Index(n as usize));
                    })?;
                    n += 1;
                    if let Err(m) = self.opts.limits.items(n as usize) {
                        return msg(format_args!("{m}"));
                    }
                }
                self.w.list_end(mark, et, n);
                self.close()
            }
            Type::Map(k, v) => {
                self.open(sc, field, TType::Map)?;
                let (kt, vt) = (ttype(k), ttype(v));
                let mark = self.w.map_begin(kt, vt);
                let mut n = 0u32;
                let mut first = true;
                while sc.next_element(&mut first)? {
                    self.pair(sc, k, v).inspect_err(|_| {
                        self.path.push(Seg::Index(n as usize));
                    })?;
                    n += 1;
                    if let Err(m) = self.opts.limits.items(n as usize) {
                        return msg(format_args!("{m}"));
                    }
                }
                self.w.map_end(mark, kt, vt, n);
                self.close()
            }
            _ => mismatch(self.schema, ty, "an array"),
        }
    }

    /// One `[key, value]` pair of a map whose keys cannot be JSON object keys.
    fn pair(&mut self, sc: &mut Scan<'_>, k: &'s Type, v: &'s Type) -> R<()> {
        let bad = || msg(format_args!("a map entry must be a [key, value] pair"));
        if sc.peek() != Some(b'[') {
            if sc.peek().is_none() {
                return Err(sc.error("EOF while parsing a value").into());
            }
            return bad();
        }
        sc.bump();
        let mut first = true;
        for ty in [k, v] {
            if !sc.next_element(&mut first)? {
                return bad();
            }
            self.value(sc, ty, None)?;
        }
        if sc.next_element(&mut first)? {
            return bad();
        }
        Ok(())
    }
}

/// How a value starting with `c` is named in type errors.
fn found(c: Option<u8>) -> &'static str {
    match c {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a bool",
        Some(b'n') => "null",
        Some(b'{') => "an object",
        Some(_) => "a number",
        None => "nothing",
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

#[cold]
fn mismatch<T>(schema: &Schema, ty: &Type, found: &str) -> R<T> {
    msg(format_args!(
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
