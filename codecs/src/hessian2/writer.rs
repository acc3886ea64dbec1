//! Hessian 2.0 writer producing the bytes dubbo-hessian-lite's `Hessian2Output`
//! produces (wire.md §5.6): smallest int/long/double/date forms exactly as Java
//! chooses them, strings in CESU-8 chunked at 0x8000 UTF-16 units, and the
//! per-stream class-definition and type tables.
//!
//! The writer does not detect shared values: the caller decides when to write
//! a [`Writer::write_ref`], using [`Writer::ref_count`] to learn the index a
//! list, map or object gets.

use std::collections::HashMap;

use bytes::BufMut;

use super::value::Value;
use super::*;

/// A class definition registered with one [`Writer`]; only valid for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClassId(u32);

struct ClassSlot {
    name: Box<str>,
    fields: Box<[Box<str>]>,
    /// Index on the wire, once the `C` definition has been written.
    wire: Option<u32>,
}

/// Writes one Hessian 2.0 stream into `B` (a `Vec<u8>`, a `BytesMut`, or a
/// `&mut` to either).
pub struct Writer<B = Vec<u8>> {
    buf: B,
    /// Type name -> index in the stream's type table.
    types: HashMap<Box<str>, u32>,
    classes: Vec<ClassSlot>,
    /// Class name -> ids of definitions with that name (normally one).
    class_ids: HashMap<Box<str>, Vec<u32>>,
    defs_written: u32,
    refs: usize,
}

impl Writer<Vec<u8>> {
    /// A writer into a new `Vec<u8>`.
    pub fn new() -> Self {
        Writer::with_buf(Vec::new())
    }
}

impl Default for Writer<Vec<u8>> {
    fn default() -> Self {
        Writer::new()
    }
}

impl<B: BufMut> Writer<B> {
    /// A writer appending to `buf`; its tables start empty (a new stream).
    pub fn with_buf(buf: B) -> Self {
        Writer {
            buf,
            types: HashMap::new(),
            classes: Vec::new(),
            class_ids: HashMap::new(),
            defs_written: 0,
            refs: 0,
        }
    }

    pub fn get_ref(&self) -> &B {
        &self.buf
    }

    pub fn get_mut(&mut self) -> &mut B {
        &mut self.buf
    }

    pub fn into_inner(self) -> B {
        self.buf
    }

    /// The reference index the next list, map or object will get (the number
    /// started so far); pass it to [`Writer::write_ref`] to point back at it.
    pub fn ref_count(&self) -> usize {
        self.refs
    }

    pub fn write_null(&mut self) {
        self.buf.put_u8(BC_NULL);
    }

    pub fn write_bool(&mut self, v: bool) {
        self.buf.put_u8(if v { BC_TRUE } else { BC_FALSE });
    }

    /// An int in its shortest form (1, 2, 3 or 5 bytes).
    pub fn write_int(&mut self, v: i32) {
        put_int(&mut self.buf, v);
    }

    /// A long in its shortest form (1, 2, 3, 5 or 9 bytes).
    pub fn write_long(&mut self, v: i64) {
        match v {
            -0x08..=0x0f => self.buf.put_u8((v + i64::from(BC_LONG_ZERO)) as u8),
            -0x800..=0x7ff => {
                self.buf
                    .put_u8((i64::from(BC_LONG_BYTE_ZERO) + (v >> 8)) as u8);
                self.buf.put_u8(v as u8);
            }
            -0x40000..=0x3ffff => {
                self.buf
                    .put_u8((i64::from(BC_LONG_SHORT_ZERO) + (v >> 16)) as u8);
                self.buf.put_u16(v as u16);
            }
            _ if i32::try_from(v).is_ok() => {
                self.buf.put_u8(BC_LONG_INT);
                self.buf.put_i32(v as i32);
            }
            _ => {
                self.buf.put_u8(BC_LONG);
                self.buf.put_i64(v);
            }
        }
    }

    /// A double, choosing the form as Java's `writeDouble` does: integral
    /// values in byte/short range as `5b`..`5e`; values equal to
    /// `0.001 * (int)(v * 1000)` as `5f` + int32 milliunits; else `D` + 8 bytes.
    pub fn write_double(&mut self, v: f64) {
        // `as i32` saturates and maps NaN to 0, exactly like Java's (int) cast.
        let int = v as i32;
        if f64::from(int) == v {
            match int {
                0 => return self.buf.put_u8(BC_DOUBLE_ZERO),
                1 => return self.buf.put_u8(BC_DOUBLE_ONE),
                -0x80..=0x7f => {
                    self.buf.put_u8(BC_DOUBLE_BYTE);
                    self.buf.put_i8(int as i8);
                    return;
                }
                -0x8000..=0x7fff => {
                    self.buf.put_u8(BC_DOUBLE_SHORT);
                    self.buf.put_i16(int as i16);
                    return;
                }
                _ => {}
            }
        }
        let mills = (v * 1000.0) as i32;
        if 0.001 * f64::from(mills) == v {
            self.buf.put_u8(BC_DOUBLE_MILL);
            self.buf.put_i32(mills);
            return;
        }
        self.buf.put_u8(BC_DOUBLE);
        self.buf.put_u64(v.to_bits());
    }

    /// A string: length in UTF-16 units, supplementary characters as CESU-8
    /// surrogate pairs; over 0x8000 units it is split into `R` chunks of 0x8000
    /// units (0x7fff where a surrogate pair would straddle the boundary) and a
    /// final chunk in the shortest form, as Java does.
    pub fn write_string(&mut self, s: &str) {
        put_string(&mut self.buf, s);
    }

    /// Bytes: `0x20+n` up to 15, `0x34..` up to 1023, else `B` len16; over
    /// 0x8000 bytes, `A` chunks of 0x8000 and a final chunk in the shortest form.
    pub fn write_binary(&mut self, b: &[u8]) {
        let mut rest = b;
        while rest.len() > BINARY_CHUNK_LEN {
            self.buf.put_u8(BC_BINARY_CHUNK);
            self.buf.put_u16(BINARY_CHUNK_LEN as u16);
            self.buf.put_slice(&rest[..BINARY_CHUNK_LEN]);
            rest = &rest[BINARY_CHUNK_LEN..];
        }
        let n = rest.len();
        if n <= BINARY_DIRECT_MAX {
            self.buf.put_u8(BC_BINARY_DIRECT + n as u8);
        } else if n <= BINARY_SHORT_MAX {
            self.buf.put_u8(BC_BINARY_SHORT + (n >> 8) as u8);
            self.buf.put_u8(n as u8);
        } else {
            self.buf.put_u8(BC_BINARY);
            self.buf.put_u16(n as u16);
        }
        self.buf.put_slice(rest);
    }

    /// A date (ms since the epoch, UTC): `4b` + int32 minutes when `ms` is a
    /// whole number of minutes that fits, as Java does, else `4a` + i64 ms.
    pub fn write_date_millis(&mut self, ms: i64) {
        if ms % 60_000 == 0 {
            if let Ok(minutes) = i32::try_from(ms / 60_000) {
                self.buf.put_u8(BC_DATE_MINUTE);
                self.buf.put_i32(minutes);
                return;
            }
        }
        self.buf.put_u8(BC_DATE);
        self.buf.put_i64(ms);
    }

    /// Starts a list. With `len` `Some(n)` it is fixed-length (`0x70+n`/`V` typed,
    /// `0x78+n`/`X` untyped): write exactly `n` items and do not call
    /// [`Writer::end_list`]. With `None` it is variable-length (`U` typed, `W`
    /// untyped): write the items, then call [`Writer::end_list`]. An empty
    /// `type_name` is written untyped (Java rejects empty types).
    ///
    /// # Panics
    /// If `len` exceeds `i32::MAX`.
    pub fn begin_list(&mut self, type_name: Option<&str>, len: Option<usize>) {
        self.refs += 1;
        let type_name = type_name.filter(|t| !t.is_empty());
        match (len, type_name) {
            (None, Some(t)) => {
                self.buf.put_u8(BC_LIST_VARIABLE);
                self.write_type(t);
            }
            (None, None) => self.buf.put_u8(BC_LIST_VARIABLE_UNTYPED),
            (Some(n), Some(t)) if n <= LIST_DIRECT_MAX => {
                self.buf.put_u8(BC_LIST_DIRECT + n as u8);
                self.write_type(t);
            }
            (Some(n), None) if n <= LIST_DIRECT_MAX => {
                self.buf.put_u8(BC_LIST_DIRECT_UNTYPED + n as u8);
            }
            (Some(n), t) => {
                let n = i32::try_from(n).expect("hessian2 list length exceeds i32::MAX");
                match t {
                    Some(t) => {
                        self.buf.put_u8(BC_LIST_FIXED);
                        self.write_type(t);
                    }
                    None => self.buf.put_u8(BC_LIST_FIXED_UNTYPED),
                }
                self.write_int(n);
            }
        }
    }

    /// Ends a variable-length list (`Z`).
    pub fn end_list(&mut self) {
        self.buf.put_u8(BC_END);
    }

    /// Starts a map: `H` untyped or `M` + type. Write key, value pairs, then
    /// call [`Writer::end_map`]. An empty `type_name` is written untyped.
    pub fn begin_map(&mut self, type_name: Option<&str>) {
        self.refs += 1;
        match type_name.filter(|t| !t.is_empty()) {
            Some(t) => {
                self.buf.put_u8(BC_MAP);
                self.write_type(t);
            }
            None => self.buf.put_u8(BC_MAP_UNTYPED),
        }
    }

    /// Ends a map (`Z`).
    pub fn end_map(&mut self) {
        self.buf.put_u8(BC_END);
    }

    /// A type name: a string the first time in this stream, its index after.
    fn write_type(&mut self, t: &str) {
        if let Some(&i) = self.types.get(t) {
            self.write_int(i as i32);
        } else {
            let i = self.types.len() as u32;
            self.types.insert(t.into(), i);
            self.write_string(t);
        }
    }

    /// The id of the definition `(class, fields)`, registering it if new;
    /// writes nothing. Keep the id to start instances without hashing strings.
    pub fn class_id<S: AsRef<str>>(&mut self, class: &str, fields: &[S]) -> ClassId {
        if let Some(ids) = self.class_ids.get(class) {
            for &id in ids {
                let def = &self.classes[id as usize];
                if def.fields.len() == fields.len()
                    && def
                        .fields
                        .iter()
                        .zip(fields)
                        .all(|(a, b)| **a == *b.as_ref())
                {
                    return ClassId(id);
                }
            }
        }
        let id = u32::try_from(self.classes.len()).expect("too many hessian2 class definitions");
        self.classes.push(ClassSlot {
            name: class.into(),
            fields: fields.iter().map(|f| f.as_ref().into()).collect(),
            wire: None,
        });
        self.class_ids.entry(class.into()).or_default().push(id);
        ClassId(id)
    }

    /// Starts an object of `class` with `fields`: writes the `C` definition the
    /// first time this (class, fields) pair is used in the stream, then the
    /// instance header. Write one value per field next, in order.
    pub fn write_object_start<S: AsRef<str>>(&mut self, class: &str, fields: &[S]) -> ClassId {
        let id = self.class_id(class, fields);
        self.write_object_start_id(id);
        id
    }

    /// Like [`Writer::write_object_start`] for a definition already registered.
    ///
    /// # Panics
    /// If `id` does not come from this writer.
    pub fn write_object_start_id(&mut self, id: ClassId) {
        self.refs += 1;
        let slot = &mut self.classes[id.0 as usize];
        let wire = match slot.wire {
            Some(wire) => wire,
            None => {
                let wire = self.defs_written;
                self.defs_written += 1;
                slot.wire = Some(wire);
                self.buf.put_u8(BC_CLASS_DEF);
                put_string(&mut self.buf, &slot.name);
                put_int(&mut self.buf, slot.fields.len() as i32);
                for f in slot.fields.iter() {
                    put_string(&mut self.buf, f);
                }
                wire
            }
        };
        if wire <= OBJECT_DIRECT_MAX {
            self.buf.put_u8(BC_OBJECT_DIRECT + wire as u8);
        } else {
            self.buf.put_u8(BC_OBJECT);
            self.write_int(wire as i32);
        }
    }

    /// A back-reference (`0x51` + int) to the `index`-th list, map or object
    /// started in this stream.
    ///
    /// # Panics
    /// If `index` exceeds `i32::MAX`.
    pub fn write_ref(&mut self, index: usize) {
        let index = i32::try_from(index).expect("hessian2 reference index exceeds i32::MAX");
        self.buf.put_u8(BC_REF);
        self.write_int(index);
    }

    /// Writes a whole tree. Lists are written fixed-length; `Ref`s are written
    /// as they are, so a tree decoded from a stream and written to a fresh
    /// writer in the same order keeps its reference numbers. An object with
    /// fewer values than fields is padded with nulls (extra values are dropped)
    /// so the stream stays well-formed.
    pub fn write_value(&mut self, v: &Value) {
        match v {
            Value::Null => self.write_null(),
            Value::Bool(b) => self.write_bool(*b),
            Value::Int(i) => self.write_int(*i),
            Value::Long(l) => self.write_long(*l),
            Value::Double(d) => self.write_double(*d),
            Value::String(s) => self.write_string(s),
            Value::Binary(b) => self.write_binary(b),
            Value::Date(ms) => self.write_date_millis(*ms),
            Value::List(l) => {
                self.begin_list(l.type_name.as_deref(), Some(l.items.len()));
                for item in &l.items {
                    self.write_value(item);
                }
            }
            Value::Map(m) => {
                self.begin_map(m.type_name.as_deref());
                for (k, v) in &m.entries {
                    self.write_value(k);
                    self.write_value(v);
                }
                self.end_map();
            }
            Value::Object(o) => {
                debug_assert_eq!(o.values.len(), o.class.fields.len());
                self.write_object_start(&o.class.name, &o.class.fields);
                for i in 0..o.class.fields.len() {
                    self.write_value(o.values.get(i).unwrap_or(&Value::Null));
                }
            }
            Value::Ref(n) => self.write_ref(*n),
        }
    }
}

fn put_int<B: BufMut>(buf: &mut B, v: i32) {
    match v {
        -0x10..=0x2f => buf.put_u8((v + i32::from(BC_INT_ZERO)) as u8),
        -0x800..=0x7ff => {
            buf.put_u8((i32::from(BC_INT_BYTE_ZERO) + (v >> 8)) as u8);
            buf.put_u8(v as u8);
        }
        -0x40000..=0x3ffff => {
            buf.put_u8((i32::from(BC_INT_SHORT_ZERO) + (v >> 16)) as u8);
            buf.put_u16(v as u16);
        }
        _ => {
            buf.put_u8(BC_INT);
            buf.put_i32(v);
        }
    }
}

fn put_string<B: BufMut>(buf: &mut B, s: &str) {
    let mut units = utf16_len(s);
    let mut rest = s;
    while units > STRING_CHUNK_UNITS {
        let (end, chunk_units) = split_at_units(rest, STRING_CHUNK_UNITS);
        buf.put_u8(BC_STRING_CHUNK);
        buf.put_u16(chunk_units as u16);
        put_cesu8(buf, &rest[..end]);
        rest = &rest[end..];
        units -= chunk_units;
    }
    if units <= STRING_DIRECT_MAX {
        buf.put_u8(BC_STRING_DIRECT + units as u8);
    } else if units <= STRING_SHORT_MAX {
        buf.put_u8(BC_STRING_SHORT + (units >> 8) as u8);
        buf.put_u8(units as u8);
    } else {
        buf.put_u8(BC_STRING);
        buf.put_u16(units as u16);
    }
    put_cesu8(buf, rest);
}

/// UTF-8 with each 4-byte sequence rewritten as two 3-byte surrogates.
fn put_cesu8<B: BufMut>(buf: &mut B, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] < 0xf0 {
            i += 1;
            continue;
        }
        buf.put_slice(&bytes[start..i]);
        let c = (u32::from(bytes[i] & 0x07) << 18
            | u32::from(bytes[i + 1] & 0x3f) << 12
            | u32::from(bytes[i + 2] & 0x3f) << 6
            | u32::from(bytes[i + 3] & 0x3f))
            - 0x1_0000;
        for unit in [0xd800 | (c >> 10), 0xdc00 | (c & 0x3ff)] {
            buf.put_slice(&[
                0xe0 | (unit >> 12) as u8,
                0x80 | ((unit >> 6) & 0x3f) as u8,
                0x80 | (unit & 0x3f) as u8,
            ]);
        }
        i += 4;
        start = i;
    }
    buf.put_slice(&bytes[start..]);
}

/// Length in UTF-16 code units.
fn utf16_len(s: &str) -> usize {
    // One unit per character, plus one more for each 4-byte (supplementary) one.
    s.bytes()
        .map(|b| usize::from((b & 0xc0) != 0x80) + usize::from(b >= 0xf0))
        .sum()
}

/// The longest prefix of `s` of at most `max` UTF-16 units that does not
/// split a surrogate pair: (byte length, units).
fn split_at_units(s: &str, max: usize) -> (usize, usize) {
    let bytes = s.as_bytes();
    let (mut i, mut units) = (0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        let (len, w) = match b {
            0..=0x7f => (1, 1),
            0xc0..=0xdf => (2, 1),
            0xe0..=0xef => (3, 1),
            _ => (4, 2),
        };
        if units + w > max {
            break;
        }
        units += w;
        i += len;
    }
    (i, units)
}
