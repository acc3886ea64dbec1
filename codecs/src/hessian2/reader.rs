//! Hessian 2.0 reader over a byte slice: every form of hessian-serialization
//! §3 as Java and Go write them (wire.md §5.6), decoded into owned [`Value`]s,
//! plus direct accessors (`read_string`, `read_int`, ...) for protocol parsing.
//!
//! Decoding is bounded by [`Limits`]: nesting depth, class definitions, type
//! names and references are capped, and every length is checked against the
//! remaining input before anything is allocated (each item, unit or field takes
//! at least one byte), so a hostile length cannot allocate more than the input
//! justifies. Any violation, malformed byte or truncation is an error, never a
//! panic. After an error the reader's position and tables are unspecified.

use std::sync::Arc;

use super::value::{ClassDef, List, Map, Object, RefTable, Value};
use super::*;
use crate::CodecError;

/// Bounds on what one stream may make the reader hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Lists, maps and objects nested inside one another. Decoding recurses
    /// once per level, so keep this modest.
    pub max_depth: usize,
    /// Class definitions (`C`) per stream.
    pub max_class_defs: usize,
    /// Type names (of typed lists and maps) per stream.
    pub max_types: usize,
    /// Lists, maps and objects per stream (the reference table's size).
    pub max_refs: usize,
}

/// Default [`Limits::max_depth`].
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// Default [`Limits::max_class_defs`].
pub const DEFAULT_MAX_CLASS_DEFS: usize = 4096;
/// Default [`Limits::max_types`].
pub const DEFAULT_MAX_TYPES: usize = 4096;
/// Default [`Limits::max_refs`]: about 32 MiB of table, more composites than an
/// 8 MiB Dubbo payload (Java's default limit) can carry in practice.
pub const DEFAULT_MAX_REFS: usize = 1 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_class_defs: DEFAULT_MAX_CLASS_DEFS,
            max_types: DEFAULT_MAX_TYPES,
            max_refs: DEFAULT_MAX_REFS,
        }
    }
}

/// Reads one Hessian 2.0 stream: call the `read_*` methods in the order the
/// values were written; class definitions, types and references carry over
/// from one call to the next.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: Limits,
    depth: usize,
    types: Vec<Arc<str>>,
    classes: Vec<Arc<ClassDef>>,
    refs: RefTable,
}

fn truncated() -> CodecError {
    CodecError::Truncated { protocol: PROTOCOL }
}

fn malformed(message: String) -> CodecError {
    CodecError::wire(PROTOCOL, message)
}

fn too_large(what: &'static str, size: usize, max: usize) -> CodecError {
    CodecError::TooLarge {
        what,
        size: size as u64,
        max: max as u64,
    }
}

/// What a tag starts, for error messages.
fn describe(tag: u8) -> &'static str {
    match tag {
        BC_NULL => "null",
        BC_TRUE | BC_FALSE => "boolean",
        0x80..=0xd7 | BC_INT => "int",
        0xd8..=0xff | 0x38..=0x3f | BC_LONG_INT | BC_LONG => "long",
        0x5b..=0x5f | BC_DOUBLE => "double",
        BC_DATE | BC_DATE_MINUTE => "date",
        0x00..=0x1f | 0x30..=0x33 | BC_STRING_CHUNK | BC_STRING => "string",
        0x20..=0x2f | 0x34..=0x37 | BC_BINARY_CHUNK | BC_BINARY => "binary",
        0x70..=0x7f
        | BC_LIST_FIXED
        | BC_LIST_FIXED_UNTYPED
        | BC_LIST_VARIABLE
        | BC_LIST_VARIABLE_UNTYPED => "list",
        BC_MAP | BC_MAP_UNTYPED => "map",
        BC_CLASS_DEF => "class definition",
        BC_OBJECT | 0x60..=0x6f => "object",
        BC_REF => "reference",
        BC_END => "end marker",
        _ => "unknown tag",
    }
}

fn is_string_tag(tag: u8) -> bool {
    matches!(tag, 0x00..=0x1f | 0x30..=0x33 | BC_STRING_CHUNK | BC_STRING)
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader::with_limits(buf, Limits::default())
    }

    pub fn with_limits(buf: &'a [u8], limits: Limits) -> Self {
        Reader {
            buf,
            pos: 0,
            limits,
            depth: 0,
            types: Vec::new(),
            classes: Vec::new(),
            refs: RefTable::default(),
        }
    }

    /// Offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The tag of the next value, without consuming it.
    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Every list, map and object read so far, for resolving [`Value::Ref`]s.
    pub fn refs(&self) -> &RefTable {
        &self.refs
    }

    pub fn into_refs(self) -> RefTable {
        self.refs
    }

    // --- bytes ---

    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.buf.get(self.pos).ok_or_else(truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.remaining() {
            return Err(truncated());
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u16(&mut self) -> Result<u16, CodecError> {
        self.array().map(u16::from_be_bytes)
    }

    fn i32(&mut self) -> Result<i32, CodecError> {
        self.array().map(i32::from_be_bytes)
    }

    fn i64(&mut self) -> Result<i64, CodecError> {
        self.array().map(i64::from_be_bytes)
    }

    fn unexpected(&self, at: usize, tag: u8, expected: &str) -> CodecError {
        malformed(format!(
            "expected {expected} at offset {at}, found tag 0x{tag:02x} ({})",
            describe(tag)
        ))
    }

    // --- scalars, after their tag ---

    /// The int whose tag was just read, or `None` if `tag` is not an int.
    fn int_body(&mut self, tag: u8) -> Result<Option<i32>, CodecError> {
        Ok(Some(match tag {
            0x80..=0xbf => i32::from(tag) - i32::from(BC_INT_ZERO),
            0xc0..=0xcf => {
                ((i32::from(tag) - i32::from(BC_INT_BYTE_ZERO)) << 8) + i32::from(self.byte()?)
            }
            0xd0..=0xd7 => {
                ((i32::from(tag) - i32::from(BC_INT_SHORT_ZERO)) << 16) + i32::from(self.u16()?)
            }
            BC_INT => self.i32()?,
            _ => return Ok(None),
        }))
    }

    /// The long whose tag was just read, or `None` if `tag` is not a long.
    fn long_body(&mut self, tag: u8) -> Result<Option<i64>, CodecError> {
        Ok(Some(match tag {
            0xd8..=0xef => i64::from(tag) - i64::from(BC_LONG_ZERO),
            0xf0..=0xff => {
                ((i64::from(tag) - i64::from(BC_LONG_BYTE_ZERO)) << 8) + i64::from(self.byte()?)
            }
            0x38..=0x3f => {
                ((i64::from(tag) - i64::from(BC_LONG_SHORT_ZERO)) << 16) + i64::from(self.u16()?)
            }
            BC_LONG_INT => i64::from(self.i32()?),
            BC_LONG => self.i64()?,
            _ => return Ok(None),
        }))
    }

    /// The double whose tag was just read, or `None` if `tag` is not a double.
    fn double_body(&mut self, tag: u8) -> Result<Option<f64>, CodecError> {
        Ok(Some(match tag {
            BC_DOUBLE_ZERO => 0.0,
            BC_DOUBLE_ONE => 1.0,
            BC_DOUBLE_BYTE => f64::from(self.byte()? as i8),
            BC_DOUBLE_SHORT => f64::from(i16::from_be_bytes(self.array()?)),
            // Java and Go: int32 milliunits (not the spec's float32).
            BC_DOUBLE_MILL => 0.001 * f64::from(self.i32()?),
            BC_DOUBLE => f64::from_bits(u64::from_be_bytes(self.array()?)),
            _ => return Ok(None),
        }))
    }

    /// An int used for structure (lengths, counts, indexes): any int form, or
    /// a long form in the int32 range, as Java's `readInt` accepts.
    fn structural_int(&mut self, expected: &str) -> Result<i32, CodecError> {
        let at = self.pos;
        let tag = self.byte()?;
        if let Some(v) = self.int_body(tag)? {
            return Ok(v);
        }
        match self.long_body(tag)? {
            Some(v) => i32::try_from(v)
                .map_err(|_| malformed(format!("{expected} {v} at offset {at} is out of range"))),
            None => Err(self.unexpected(at, tag, expected)),
        }
    }

    /// A count of things that each take at least one byte of the rest of the input.
    fn length(&mut self, what: &str) -> Result<usize, CodecError> {
        let at = self.pos;
        let n = self.structural_int(what)?;
        let n = usize::try_from(n)
            .map_err(|_| malformed(format!("negative {what} {n} at offset {at}")))?;
        if n > self.remaining() {
            return Err(truncated());
        }
        Ok(n)
    }

    // --- direct accessors ---

    /// `N`, if it is next (consumed); else `false` and nothing is consumed.
    pub fn read_null(&mut self) -> bool {
        if self.peek_tag() == Some(BC_NULL) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn read_bool(&mut self) -> Result<bool, CodecError> {
        let at = self.pos;
        match self.byte()? {
            BC_TRUE => Ok(true),
            BC_FALSE => Ok(false),
            tag => Err(self.unexpected(at, tag, "a boolean")),
        }
    }

    /// An int; a long in the int32 range is accepted too.
    pub fn read_int(&mut self) -> Result<i32, CodecError> {
        self.structural_int("an int")
    }

    /// A long or an int.
    pub fn read_long(&mut self) -> Result<i64, CodecError> {
        let at = self.pos;
        let tag = self.byte()?;
        if let Some(v) = self.long_body(tag)? {
            return Ok(v);
        }
        match self.int_body(tag)? {
            Some(v) => Ok(i64::from(v)),
            None => Err(self.unexpected(at, tag, "a long")),
        }
    }

    /// A double; an int or long is converted, as Java's `readDouble` does.
    pub fn read_double(&mut self) -> Result<f64, CodecError> {
        let at = self.pos;
        let tag = self.byte()?;
        if let Some(v) = self.double_body(tag)? {
            return Ok(v);
        }
        if let Some(v) = self.int_body(tag)? {
            return Ok(f64::from(v));
        }
        match self.long_body(tag)? {
            Some(v) => Ok(v as f64),
            None => Err(self.unexpected(at, tag, "a double")),
        }
    }

    /// A date, in milliseconds since the epoch.
    pub fn read_date(&mut self) -> Result<i64, CodecError> {
        let at = self.pos;
        match self.byte()? {
            BC_DATE => self.i64(),
            BC_DATE_MINUTE => Ok(i64::from(self.i32()?) * 60_000),
            tag => Err(self.unexpected(at, tag, "a date")),
        }
    }

    /// A string (not null).
    pub fn read_string(&mut self) -> Result<String, CodecError> {
        let mut s = String::new();
        self.read_string_into(&mut s)?;
        Ok(s)
    }

    /// A string, or `None` for null.
    pub fn read_opt_string(&mut self) -> Result<Option<String>, CodecError> {
        if self.read_null() {
            return Ok(None);
        }
        self.read_string().map(Some)
    }

    /// Appends a string (all its chunks) to `out`.
    pub fn read_string_into(&mut self, out: &mut String) -> Result<(), CodecError> {
        // A high surrogate waiting for its low half; pairs may straddle chunks.
        let mut high: Option<u32> = None;
        let first = self.pos;
        loop {
            let at = self.pos;
            let tag = self.byte()?;
            let (units, last) = match tag {
                0x00..=0x1f => (usize::from(tag - BC_STRING_DIRECT), true),
                0x30..=0x33 => (
                    usize::from(tag - BC_STRING_SHORT) << 8 | usize::from(self.byte()?),
                    true,
                ),
                BC_STRING => (usize::from(self.u16()?), true),
                BC_STRING_CHUNK => (usize::from(self.u16()?), false),
                _ if at == first => return Err(self.unexpected(at, tag, "a string")),
                _ => return Err(self.unexpected(at, tag, "a string chunk")),
            };
            // Every unit takes at least one byte.
            if units > self.remaining() {
                return Err(truncated());
            }
            out.reserve(units);
            self.decode_units(units, out, &mut high)?;
            if last {
                break;
            }
        }
        if high.is_some() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
        Ok(())
    }

    /// Decodes `units` UTF-16 code units of CESU-8 (or UTF-8) into `out`.
    fn decode_units(
        &mut self,
        mut units: usize,
        out: &mut String,
        high: &mut Option<u32>,
    ) -> Result<(), CodecError> {
        while units > 0 {
            let rest = &self.buf[self.pos..];
            let ascii = rest.iter().take(units).take_while(|b| b.is_ascii()).count();
            if ascii > 0 {
                if high.take().is_some() {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
                // ASCII is valid UTF-8: this cannot fail.
                if let Ok(s) = std::str::from_utf8(&rest[..ascii]) {
                    out.push_str(s);
                }
                self.pos += ascii;
                units -= ascii;
                continue;
            }
            let at = self.pos;
            let b0 = self.byte()?;
            match b0 {
                0xc0..=0xdf => {
                    let c = u32::from(b0 & 0x1f) << 6 | self.continuation(at)?;
                    push_unit(out, high, c);
                    units -= 1;
                }
                0xe0..=0xef => {
                    let c = u32::from(b0 & 0x0f) << 12
                        | self.continuation(at)? << 6
                        | self.continuation(at)?;
                    push_unit(out, high, c);
                    units -= 1;
                }
                // Plain UTF-8 for a supplementary character: two UTF-16 units.
                0xf0..=0xf4 if units >= 2 => {
                    let c = u32::from(b0 & 0x07) << 18
                        | self.continuation(at)? << 12
                        | self.continuation(at)? << 6
                        | self.continuation(at)?;
                    let ch = char::from_u32(c).filter(|_| c >= 0x1_0000).ok_or_else(|| {
                        malformed(format!("invalid utf-8 sequence in string at offset {at}"))
                    })?;
                    if high.take().is_some() {
                        out.push(char::REPLACEMENT_CHARACTER);
                    }
                    out.push(ch);
                    units -= 2;
                }
                _ => {
                    return Err(malformed(format!(
                        "invalid utf-8 byte 0x{b0:02x} in string at offset {at}"
                    )));
                }
            }
        }
        Ok(())
    }

    fn continuation(&mut self, start: usize) -> Result<u32, CodecError> {
        let b = self.byte()?;
        if b & 0xc0 != 0x80 {
            return Err(malformed(format!(
                "invalid utf-8 sequence in string at offset {start}"
            )));
        }
        Ok(u32::from(b & 0x3f))
    }

    /// Binary data (all its chunks).
    pub fn read_binary(&mut self) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        let first = self.pos;
        loop {
            let at = self.pos;
            let tag = self.byte()?;
            let (len, last) = match tag {
                0x20..=0x2f => (usize::from(tag - BC_BINARY_DIRECT), true),
                0x34..=0x37 => (
                    usize::from(tag - BC_BINARY_SHORT) << 8 | usize::from(self.byte()?),
                    true,
                ),
                BC_BINARY => (usize::from(self.u16()?), true),
                BC_BINARY_CHUNK => (usize::from(self.u16()?), false),
                _ if at == first => return Err(self.unexpected(at, tag, "binary data")),
                _ => return Err(self.unexpected(at, tag, "a binary chunk")),
            };
            out.extend_from_slice(self.take(len)?);
            if last {
                return Ok(out);
            }
        }
    }

    // --- values ---

    /// The next value. Class definitions before it are read and remembered;
    /// a back-reference is returned as [`Value::Ref`], unexpanded.
    pub fn read_value(&mut self) -> Result<Value, CodecError> {
        loop {
            let at = self.pos;
            let tag = self.byte()?;
            if let Some(v) = self.int_body(tag)? {
                return Ok(Value::Int(v));
            }
            if let Some(v) = self.long_body(tag)? {
                return Ok(Value::Long(v));
            }
            if let Some(v) = self.double_body(tag)? {
                return Ok(Value::Double(v));
            }
            return match tag {
                BC_NULL => Ok(Value::Null),
                BC_TRUE => Ok(Value::Bool(true)),
                BC_FALSE => Ok(Value::Bool(false)),
                BC_DATE => Ok(Value::Date(self.i64()?)),
                BC_DATE_MINUTE => Ok(Value::Date(i64::from(self.i32()?) * 60_000)),
                0x00..=0x1f | 0x30..=0x33 | BC_STRING_CHUNK | BC_STRING => {
                    self.pos = at;
                    self.read_string().map(Value::String)
                }
                0x20..=0x2f | 0x34..=0x37 | BC_BINARY_CHUNK | BC_BINARY => {
                    self.pos = at;
                    self.read_binary().map(Value::Binary)
                }
                BC_LIST_FIXED => {
                    let ty = self.read_type()?;
                    let len = self.length("list length")?;
                    self.read_list(Some(ty), Some(len))
                }
                BC_LIST_FIXED_UNTYPED => {
                    let len = self.length("list length")?;
                    self.read_list(None, Some(len))
                }
                0x70..=0x77 => {
                    let ty = self.read_type()?;
                    self.read_list(Some(ty), Some(usize::from(tag - BC_LIST_DIRECT)))
                }
                0x78..=0x7f => {
                    self.read_list(None, Some(usize::from(tag - BC_LIST_DIRECT_UNTYPED)))
                }
                BC_LIST_VARIABLE => {
                    let ty = self.read_type()?;
                    self.read_list(Some(ty), None)
                }
                BC_LIST_VARIABLE_UNTYPED => self.read_list(None, None),
                BC_MAP => {
                    let ty = self.read_type()?;
                    self.read_map(Some(ty))
                }
                BC_MAP_UNTYPED => self.read_map(None),
                BC_CLASS_DEF => {
                    self.read_class_def()?;
                    continue;
                }
                BC_OBJECT => {
                    let at = self.pos;
                    let n = self.structural_int("a class definition index")?;
                    self.read_object(at, n)
                }
                0x60..=0x6f => self.read_object(at, i32::from(tag - BC_OBJECT_DIRECT)),
                BC_REF => {
                    let at = self.pos;
                    let n = self.structural_int("a reference index")?;
                    match usize::try_from(n) {
                        Ok(n) if n < self.refs.len() => Ok(Value::Ref(n)),
                        _ => Err(malformed(format!(
                            "reference #{n} at offset {at} points past the {} list(s), map(s) and object(s) read so far",
                            self.refs.len()
                        ))),
                    }
                }
                BC_END => Err(malformed(format!(
                    "unexpected end marker 'Z' at offset {at}"
                ))),
                _ => Err(malformed(format!("unknown tag 0x{tag:02x} at offset {at}"))),
            };
        }
    }

    /// Skips the next value (and records what it defines, as reading does).
    pub fn skip_value(&mut self) -> Result<(), CodecError> {
        self.read_value().map(drop)
    }

    /// A list or map type: a string the first time, then an index into the table.
    fn read_type(&mut self) -> Result<Arc<str>, CodecError> {
        let at = self.pos;
        let tag = self.buf.get(self.pos).copied().ok_or_else(truncated)?;
        if is_string_tag(tag) {
            if self.types.len() >= self.limits.max_types {
                return Err(too_large(
                    "hessian2 type names",
                    self.types.len() + 1,
                    self.limits.max_types,
                ));
            }
            let t: Arc<str> = self.read_string()?.into();
            self.types.push(t.clone());
            return Ok(t);
        }
        let n = self.structural_int("a type name or type index")?;
        usize::try_from(n)
            .ok()
            .and_then(|n| self.types.get(n))
            .cloned()
            .ok_or_else(|| {
                malformed(format!(
                    "type index {n} at offset {at} is not among the {} type name(s) read so far",
                    self.types.len()
                ))
            })
    }

    fn read_class_def(&mut self) -> Result<(), CodecError> {
        if self.classes.len() >= self.limits.max_class_defs {
            return Err(too_large(
                "hessian2 class definitions",
                self.classes.len() + 1,
                self.limits.max_class_defs,
            ));
        }
        let name = self.read_string()?;
        let count = self.length("class field count")?;
        let mut fields = Vec::with_capacity(count);
        for _ in 0..count {
            fields.push(self.read_string()?);
        }
        self.classes.push(Arc::new(ClassDef { name, fields }));
        Ok(())
    }

    /// Enters a list, map or object: checks depth, takes its reference index.
    fn begin_composite(&mut self) -> Result<usize, CodecError> {
        if self.depth >= self.limits.max_depth {
            return Err(too_large(
                "hessian2 nesting depth",
                self.depth + 1,
                self.limits.max_depth,
            ));
        }
        if self.refs.len() >= self.limits.max_refs {
            return Err(too_large(
                "hessian2 lists, maps and objects",
                self.refs.len() + 1,
                self.limits.max_refs,
            ));
        }
        self.depth += 1;
        Ok(self.refs.start())
    }

    fn end_composite(&mut self, index: usize, v: Value) -> Value {
        self.depth -= 1;
        self.refs.finish(index, &v);
        v
    }

    /// Items of a list whose header was read; `len` `None` reads up to `Z`.
    fn read_list(
        &mut self,
        type_name: Option<Arc<str>>,
        len: Option<usize>,
    ) -> Result<Value, CodecError> {
        let index = self.begin_composite()?;
        let items = match len {
            Some(n) => {
                if n > self.remaining() {
                    return Err(truncated());
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.read_value()?);
                }
                items
            }
            None => {
                let mut items = Vec::new();
                while !self.at_end_marker()? {
                    items.push(self.read_value()?);
                }
                items
            }
        };
        let v = Value::List(Arc::new(List { type_name, items }));
        Ok(self.end_composite(index, v))
    }

    fn read_map(&mut self, type_name: Option<Arc<str>>) -> Result<Value, CodecError> {
        let index = self.begin_composite()?;
        let mut entries = Vec::new();
        while !self.at_end_marker()? {
            let k = self.read_value()?;
            let v = self.read_value()?;
            entries.push((k, v));
        }
        let v = Value::Map(Arc::new(Map { type_name, entries }));
        Ok(self.end_composite(index, v))
    }

    /// Consumes `Z` if it is next.
    fn at_end_marker(&mut self) -> Result<bool, CodecError> {
        match self.buf.get(self.pos) {
            None => Err(truncated()),
            Some(&BC_END) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    fn read_object(&mut self, at: usize, class: i32) -> Result<Value, CodecError> {
        let def = usize::try_from(class)
            .ok()
            .and_then(|n| self.classes.get(n))
            .cloned()
            .ok_or_else(|| {
                malformed(format!(
                    "object at offset {at} uses class definition #{class}, but {} are defined",
                    self.classes.len()
                ))
            })?;
        let n = def.fields.len();
        if n > self.remaining() {
            return Err(truncated());
        }
        let index = self.begin_composite()?;
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            values.push(self.read_value()?);
        }
        let v = Value::Object(Arc::new(Object { class: def, values }));
        Ok(self.end_composite(index, v))
    }
}

/// Appends one UTF-16 code unit, joining surrogate pairs; an unpaired
/// surrogate becomes U+FFFD.
fn push_unit(out: &mut String, high: &mut Option<u32>, c: u32) {
    match c {
        0xd800..=0xdbff => {
            if high.replace(c).is_some() {
                out.push(char::REPLACEMENT_CHARACTER);
            }
        }
        0xdc00..=0xdfff => match high.take() {
            Some(h) => out.push(
                char::from_u32(0x1_0000 + ((h - 0xd800) << 10) + (c - 0xdc00))
                    .unwrap_or(char::REPLACEMENT_CHARACTER),
            ),
            None => out.push(char::REPLACEMENT_CHARACTER),
        },
        _ => {
            if high.take().is_some() {
                out.push(char::REPLACEMENT_CHARACTER);
            }
            out.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
    }
}
