//! Thrift binary (strict) and compact protocols: the primitive writers and
//! readers that the transcoders are generic over, so each protocol's hot path
//! is monomorphic.
//!
//! Specs: apache/thrift `doc/specs/thrift-binary-protocol.md` and
//! `doc/specs/thrift-compact-protocol.md`.

use crate::CodecError;

/// Field and element types, protocol-neutral; each protocol maps them to its ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TType {
    Stop,
    Bool,
    I8,
    I16,
    I32,
    I64,
    Double,
    Binary,
    Struct,
    Map,
    Set,
    List,
    Uuid,
}

/// Thrift message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MessageType {
    Call = 1,
    Reply = 2,
    Exception = 3,
    Oneway = 4,
}

impl MessageType {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => MessageType::Call,
            2 => MessageType::Reply,
            3 => MessageType::Exception,
            4 => MessageType::Oneway,
            _ => return None,
        })
    }
}

/// Strict binary: version word `0x8001_0000 | type`.
pub const BINARY_VERSION_1: u32 = 0x8001_0000;
const BINARY_VERSION_MASK: u32 = 0xffff_0000;
/// Compact: protocol id byte, then `(type << 5) | version`.
pub const COMPACT_PROTOCOL_ID: u8 = 0x82;
const COMPACT_VERSION: u8 = 1;

/// Writes Thrift values into a byte buffer.
pub trait Writer {
    const NAME: &'static str;
    fn buf(&mut self) -> &mut Vec<u8>;
    fn message_begin(&mut self, name: &str, ty: MessageType, seqid: i32);
    /// Starts a struct; returns state to hand back to [`Writer::struct_end`].
    fn struct_begin(&mut self) -> i16;
    /// Writes the STOP field and restores the enclosing struct's state.
    fn struct_end(&mut self, saved: i16);
    fn field_begin(&mut self, ty: TType, id: i16);
    /// A bool field; compact folds the value into the field header.
    fn field_bool(&mut self, id: i16, v: bool);
    fn bool(&mut self, v: bool);
    fn i8(&mut self, v: i8);
    fn i16(&mut self, v: i16);
    fn i32(&mut self, v: i32);
    fn i64(&mut self, v: i64);
    fn double(&mut self, v: f64);
    fn bytes(&mut self, v: &[u8]);
    fn uuid(&mut self, v: &[u8; 16]) {
        self.buf().extend_from_slice(v);
    }
    /// Starts a list or set whose size is not known yet; returns a mark.
    fn list_begin(&mut self, elem: TType) -> usize;
    fn list_end(&mut self, mark: usize, elem: TType, count: u32);
    fn map_begin(&mut self, key: TType, value: TType) -> usize;
    fn map_end(&mut self, mark: usize, key: TType, value: TType, count: u32);
}

/// Reads Thrift values from a byte slice.
pub trait Reader<'a> {
    const NAME: &'static str;
    fn remaining(&self) -> usize;
    fn position(&self) -> usize;
    fn message_begin(&mut self) -> Result<(&'a str, MessageType, i32), CodecError>;
    fn struct_begin(&mut self) -> i16;
    fn struct_end(&mut self, saved: i16);
    /// The next field's type and id, or `None` at STOP.
    fn field_begin(&mut self) -> Result<Option<(TType, i16)>, CodecError>;
    fn bool(&mut self) -> Result<bool, CodecError>;
    fn i8(&mut self) -> Result<i8, CodecError>;
    fn i16(&mut self) -> Result<i16, CodecError>;
    fn i32(&mut self) -> Result<i32, CodecError>;
    fn i64(&mut self) -> Result<i64, CodecError>;
    fn double(&mut self) -> Result<f64, CodecError>;
    fn bytes(&mut self) -> Result<&'a [u8], CodecError>;
    fn uuid(&mut self) -> Result<&'a [u8], CodecError>;
    fn list_begin(&mut self) -> Result<(TType, u32), CodecError>;
    fn map_begin(&mut self) -> Result<(TType, TType, u32), CodecError>;
}

// === impl BinaryWriter ===

pub struct BinaryWriter<'b> {
    pub buf: &'b mut Vec<u8>,
}

impl<'b> BinaryWriter<'b> {
    pub fn new(buf: &'b mut Vec<u8>) -> Self {
        BinaryWriter { buf }
    }
}

pub(crate) fn binary_type_id(t: TType) -> u8 {
    match t {
        TType::Stop => 0,
        TType::Bool => 2,
        TType::I8 => 3,
        TType::Double => 4,
        TType::I16 => 6,
        TType::I32 => 8,
        TType::I64 => 10,
        TType::Binary => 11,
        TType::Struct => 12,
        TType::Map => 13,
        TType::Set => 14,
        TType::List => 15,
        TType::Uuid => 16,
    }
}

fn binary_type(id: u8) -> Result<TType, CodecError> {
    Ok(match id {
        0 => TType::Stop,
        2 => TType::Bool,
        3 => TType::I8,
        4 => TType::Double,
        6 => TType::I16,
        8 => TType::I32,
        10 => TType::I64,
        11 => TType::Binary,
        12 => TType::Struct,
        13 => TType::Map,
        14 => TType::Set,
        15 => TType::List,
        16 => TType::Uuid,
        other => {
            return Err(CodecError::wire(
                "thrift binary",
                format!("unknown type id {other}"),
            ));
        }
    })
}

impl Writer for BinaryWriter<'_> {
    const NAME: &'static str = "thrift binary";
    #[inline]
    fn buf(&mut self) -> &mut Vec<u8> {
        self.buf
    }
    fn message_begin(&mut self, name: &str, ty: MessageType, seqid: i32) {
        self.buf
            .extend_from_slice(&(BINARY_VERSION_1 | ty as u32).to_be_bytes());
        self.bytes(name.as_bytes());
        self.i32(seqid);
    }
    #[inline]
    fn struct_begin(&mut self) -> i16 {
        0
    }
    #[inline]
    fn struct_end(&mut self, _: i16) {
        self.buf.push(0);
    }
    #[inline]
    fn field_begin(&mut self, ty: TType, id: i16) {
        self.buf.push(binary_type_id(ty));
        self.buf.extend_from_slice(&id.to_be_bytes());
    }
    #[inline]
    fn field_bool(&mut self, id: i16, v: bool) {
        self.field_begin(TType::Bool, id);
        self.buf.push(v as u8);
    }
    #[inline]
    fn bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }
    #[inline]
    fn i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }
    #[inline]
    fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn double(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_be_bytes());
    }
    #[inline]
    fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(&(v.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(v);
    }
    #[inline]
    fn list_begin(&mut self, elem: TType) -> usize {
        self.buf.push(binary_type_id(elem));
        let mark = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        mark
    }
    #[inline]
    fn list_end(&mut self, mark: usize, _: TType, count: u32) {
        self.buf[mark..mark + 4].copy_from_slice(&count.to_be_bytes());
    }
    #[inline]
    fn map_begin(&mut self, key: TType, value: TType) -> usize {
        self.buf.push(binary_type_id(key));
        self.buf.push(binary_type_id(value));
        let mark = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        mark
    }
    #[inline]
    fn map_end(&mut self, mark: usize, _: TType, _: TType, count: u32) {
        self.buf[mark..mark + 4].copy_from_slice(&count.to_be_bytes());
    }
}

// === impl CompactWriter ===

pub struct CompactWriter<'b> {
    pub buf: &'b mut Vec<u8>,
    last_id: i16,
}

impl<'b> CompactWriter<'b> {
    pub fn new(buf: &'b mut Vec<u8>) -> Self {
        CompactWriter { buf, last_id: 0 }
    }
}

pub(crate) fn compact_type_id(t: TType) -> u8 {
    match t {
        TType::Stop => 0,
        TType::Bool => 1,
        TType::I8 => 3,
        TType::I16 => 4,
        TType::I32 => 5,
        TType::I64 => 6,
        TType::Double => 7,
        TType::Binary => 8,
        TType::List => 9,
        TType::Set => 10,
        TType::Map => 11,
        TType::Struct => 12,
        TType::Uuid => 13,
    }
}

fn compact_type(id: u8) -> Result<TType, CodecError> {
    Ok(match id {
        0 => TType::Stop,
        1 | 2 => TType::Bool,
        3 => TType::I8,
        4 => TType::I16,
        5 => TType::I32,
        6 => TType::I64,
        7 => TType::Double,
        8 => TType::Binary,
        9 => TType::List,
        10 => TType::Set,
        11 => TType::Map,
        12 => TType::Struct,
        13 => TType::Uuid,
        other => {
            return Err(CodecError::wire(
                "thrift compact",
                format!("unknown type id {other}"),
            ));
        }
    })
}

#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn zigzag32(v: i32) -> u64 {
    ((v << 1) ^ (v >> 31)) as u32 as u64
}

impl CompactWriter<'_> {
    #[inline]
    fn field_header(&mut self, type_id: u8, id: i16) {
        let delta = id as i32 - self.last_id as i32;
        if delta > 0 && delta <= 15 {
            self.buf.push(((delta as u8) << 4) | type_id);
        } else {
            self.buf.push(type_id);
            put_varint(self.buf, zigzag32(id as i32));
        }
        self.last_id = id;
    }
}

impl Writer for CompactWriter<'_> {
    const NAME: &'static str = "thrift compact";
    #[inline]
    fn buf(&mut self) -> &mut Vec<u8> {
        self.buf
    }
    fn message_begin(&mut self, name: &str, ty: MessageType, seqid: i32) {
        self.buf.push(COMPACT_PROTOCOL_ID);
        self.buf.push(((ty as u8) << 5) | COMPACT_VERSION);
        put_varint(self.buf, seqid as u32 as u64);
        self.bytes(name.as_bytes());
    }
    #[inline]
    fn struct_begin(&mut self) -> i16 {
        std::mem::replace(&mut self.last_id, 0)
    }
    #[inline]
    fn struct_end(&mut self, saved: i16) {
        self.buf.push(0);
        self.last_id = saved;
    }
    #[inline]
    fn field_begin(&mut self, ty: TType, id: i16) {
        self.field_header(compact_type_id(ty), id);
    }
    #[inline]
    fn field_bool(&mut self, id: i16, v: bool) {
        self.field_header(if v { 1 } else { 2 }, id);
    }
    #[inline]
    fn bool(&mut self, v: bool) {
        self.buf.push(if v { 1 } else { 2 });
    }
    #[inline]
    fn i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }
    #[inline]
    fn i16(&mut self, v: i16) {
        put_varint(self.buf, zigzag32(v as i32));
    }
    #[inline]
    fn i32(&mut self, v: i32) {
        put_varint(self.buf, zigzag32(v));
    }
    #[inline]
    fn i64(&mut self, v: i64) {
        put_varint(self.buf, zigzag64(v));
    }
    #[inline]
    fn double(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    #[inline]
    fn bytes(&mut self, v: &[u8]) {
        put_varint(self.buf, v.len() as u64);
        self.buf.extend_from_slice(v);
    }
    #[inline]
    fn list_begin(&mut self, _: TType) -> usize {
        let mark = self.buf.len();
        self.buf.push(0);
        mark
    }
    fn list_end(&mut self, mark: usize, elem: TType, count: u32) {
        let t = compact_type_id(elem);
        if count <= 14 {
            self.buf[mark] = ((count as u8) << 4) | t;
        } else {
            self.buf[mark] = 0xf0 | t;
            let mut v = Vec::with_capacity(5);
            put_varint(&mut v, count as u64);
            self.buf.splice(mark + 1..mark + 1, v);
        }
    }
    #[inline]
    fn map_begin(&mut self, _: TType, _: TType) -> usize {
        let mark = self.buf.len();
        self.buf.push(0);
        mark
    }
    fn map_end(&mut self, mark: usize, key: TType, value: TType, count: u32) {
        if count == 0 {
            self.buf[mark] = 0;
            return;
        }
        let mut v = Vec::with_capacity(6);
        put_varint(&mut v, count as u64);
        v.push((compact_type_id(key) << 4) | compact_type_id(value));
        self.buf.splice(mark..mark + 1, v);
    }
}

// === impl BinaryReader ===

pub struct BinaryReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BinaryReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BinaryReader { buf, pos: 0 }
    }
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.buf.len() - self.pos < n {
            return Err(CodecError::Truncated {
                protocol: Self::NAME,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        Ok(self.take(N)?.try_into().expect("length checked"))
    }
    fn size(&mut self, what: &'static str) -> Result<u32, CodecError> {
        let n = self.i32()?;
        if n < 0 {
            return Err(CodecError::wire(Self::NAME, format!("negative {what} {n}")));
        }
        check_size(what, n as u64, self.remaining())?;
        Ok(n as u32)
    }
}

/// Every element takes at least one byte, so a size larger than what is
/// left is a lie; rejecting it bounds the work before anything is read.
#[inline]
fn check_size(what: &'static str, n: u64, remaining: usize) -> Result<(), CodecError> {
    if n > remaining as u64 {
        return Err(CodecError::TooLarge {
            what,
            size: n,
            max: remaining as u64,
        });
    }
    Ok(())
}

/// Longest method name accepted: a longer one means the bytes are not Thrift.
const MAX_NAME_LEN: u64 = 64 * 1024;

impl<'a> BinaryReader<'a> {
    fn name(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.i32()?;
        if n < 0 || n as u64 > MAX_NAME_LEN {
            return Err(CodecError::wire(
                Self::NAME,
                format!("bad method name length {n}"),
            ));
        }
        self.take(n as usize)
    }
}

impl<'a> Reader<'a> for BinaryReader<'a> {
    const NAME: &'static str = "thrift binary";
    #[inline]
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    #[inline]
    fn position(&self) -> usize {
        self.pos
    }
    fn message_begin(&mut self) -> Result<(&'a str, MessageType, i32), CodecError> {
        let word = self.i32()? as u32;
        let (name, ty) = if word & 0x8000_0000 != 0 {
            if word & BINARY_VERSION_MASK != BINARY_VERSION_1 {
                return Err(CodecError::wire(
                    Self::NAME,
                    format!("bad version word {word:#010x}"),
                ));
            }
            let name = self.name()?;
            (name, (word & 0xff) as u8)
        } else {
            // Old non-strict form: name length, name, type byte.
            self.pos -= 4;
            let name = self.name()?;
            (name, self.i8()? as u8)
        };
        let ty = MessageType::from_u8(ty)
            .ok_or_else(|| CodecError::wire(Self::NAME, format!("bad message type {ty}")))?;
        let name = std::str::from_utf8(name)
            .map_err(|_| CodecError::wire(Self::NAME, "method name is not UTF-8"))?;
        Ok((name, ty, self.i32()?))
    }
    #[inline]
    fn struct_begin(&mut self) -> i16 {
        0
    }
    #[inline]
    fn struct_end(&mut self, _: i16) {}
    #[inline]
    fn field_begin(&mut self) -> Result<Option<(TType, i16)>, CodecError> {
        let t = binary_type(self.take(1)?[0])?;
        if t == TType::Stop {
            return Ok(None);
        }
        Ok(Some((t, self.i16()?)))
    }
    #[inline]
    fn bool(&mut self) -> Result<bool, CodecError> {
        Ok(self.take(1)?[0] != 0)
    }
    #[inline]
    fn i8(&mut self) -> Result<i8, CodecError> {
        Ok(self.take(1)?[0] as i8)
    }
    #[inline]
    fn i16(&mut self) -> Result<i16, CodecError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    #[inline]
    fn i32(&mut self) -> Result<i32, CodecError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    #[inline]
    fn i64(&mut self) -> Result<i64, CodecError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    #[inline]
    fn double(&mut self) -> Result<f64, CodecError> {
        Ok(f64::from_bits(u64::from_be_bytes(self.array()?)))
    }
    #[inline]
    fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.i32()?;
        if n < 0 {
            return Err(CodecError::wire(
                Self::NAME,
                format!("negative string length {n}"),
            ));
        }
        self.take(n as usize)
    }
    fn uuid(&mut self) -> Result<&'a [u8], CodecError> {
        self.take(16)
    }
    fn list_begin(&mut self) -> Result<(TType, u32), CodecError> {
        let t = binary_type(self.take(1)?[0])?;
        Ok((t, self.size("list size")?))
    }
    fn map_begin(&mut self) -> Result<(TType, TType, u32), CodecError> {
        let k = binary_type(self.take(1)?[0])?;
        let v = binary_type(self.take(1)?[0])?;
        Ok((k, v, self.size("map size")?))
    }
}

// === impl CompactReader ===

pub struct CompactReader<'a> {
    buf: &'a [u8],
    pos: usize,
    last_id: i16,
    pending_bool: Option<bool>,
}

impl<'a> CompactReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        CompactReader {
            buf,
            pos: 0,
            last_id: 0,
            pending_bool: None,
        }
    }
    #[inline]
    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.buf.get(self.pos).ok_or(CodecError::Truncated {
            protocol: Self::NAME,
        })?;
        self.pos += 1;
        Ok(b)
    }
    #[inline]
    fn varint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::wire(Self::NAME, "varint longer than 10 bytes"))
    }
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.buf.len() - self.pos < n {
            return Err(CodecError::Truncated {
                protocol: Self::NAME,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn size(&mut self, what: &'static str) -> Result<u32, CodecError> {
        let n = self.varint()?;
        check_size(what, n, self.remaining())?;
        Ok(n as u32)
    }
}

#[inline]
fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

impl<'a> Reader<'a> for CompactReader<'a> {
    const NAME: &'static str = "thrift compact";
    #[inline]
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    #[inline]
    fn position(&self) -> usize {
        self.pos
    }
    fn message_begin(&mut self) -> Result<(&'a str, MessageType, i32), CodecError> {
        let id = self.byte()?;
        if id != COMPACT_PROTOCOL_ID {
            return Err(CodecError::wire(
                Self::NAME,
                format!("bad protocol id {id:#04x}"),
            ));
        }
        let vt = self.byte()?;
        if vt & 0x1f != COMPACT_VERSION {
            return Err(CodecError::wire(
                Self::NAME,
                format!("bad version {}", vt & 0x1f),
            ));
        }
        let ty = MessageType::from_u8(vt >> 5)
            .ok_or_else(|| CodecError::wire(Self::NAME, format!("bad message type {}", vt >> 5)))?;
        let seqid = self.varint()? as u32 as i32;
        let n = self.varint()?;
        if n > MAX_NAME_LEN {
            return Err(CodecError::wire(
                Self::NAME,
                format!("bad method name length {n}"),
            ));
        }
        let name = self.take(n as usize)?;
        let name = std::str::from_utf8(name)
            .map_err(|_| CodecError::wire(Self::NAME, "method name is not UTF-8"))?;
        Ok((name, ty, seqid))
    }
    #[inline]
    fn struct_begin(&mut self) -> i16 {
        std::mem::replace(&mut self.last_id, 0)
    }
    #[inline]
    fn struct_end(&mut self, saved: i16) {
        self.last_id = saved;
    }
    #[inline]
    fn field_begin(&mut self) -> Result<Option<(TType, i16)>, CodecError> {
        let b = self.byte()?;
        if b == 0 {
            return Ok(None);
        }
        let t = compact_type(b & 0x0f)?;
        let delta = (b >> 4) as i16;
        let id = if delta == 0 {
            let v = unzigzag(self.varint()?);
            i16::try_from(v)
                .map_err(|_| CodecError::wire(Self::NAME, format!("field id {v} out of range")))?
        } else {
            self.last_id.wrapping_add(delta)
        };
        self.last_id = id;
        if t == TType::Bool {
            self.pending_bool = Some(b & 0x0f == 1);
        }
        Ok(Some((t, id)))
    }
    #[inline]
    fn bool(&mut self) -> Result<bool, CodecError> {
        if let Some(v) = self.pending_bool.take() {
            return Ok(v);
        }
        Ok(self.byte()? == 1)
    }
    #[inline]
    fn i8(&mut self) -> Result<i8, CodecError> {
        Ok(self.byte()? as i8)
    }
    #[inline]
    fn i16(&mut self) -> Result<i16, CodecError> {
        let v = unzigzag(self.varint()?);
        i16::try_from(v).map_err(|_| CodecError::wire(Self::NAME, format!("i16 {v} out of range")))
    }
    #[inline]
    fn i32(&mut self) -> Result<i32, CodecError> {
        let v = unzigzag(self.varint()?);
        i32::try_from(v).map_err(|_| CodecError::wire(Self::NAME, format!("i32 {v} out of range")))
    }
    #[inline]
    fn i64(&mut self) -> Result<i64, CodecError> {
        Ok(unzigzag(self.varint()?))
    }
    #[inline]
    fn double(&mut self) -> Result<f64, CodecError> {
        let b: [u8; 8] = self.take(8)?.try_into().expect("length checked");
        Ok(f64::from_bits(u64::from_le_bytes(b)))
    }
    #[inline]
    fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.varint()?;
        if n > self.remaining() as u64 {
            return Err(CodecError::Truncated {
                protocol: Self::NAME,
            });
        }
        self.take(n as usize)
    }
    fn uuid(&mut self) -> Result<&'a [u8], CodecError> {
        self.take(16)
    }
    fn list_begin(&mut self) -> Result<(TType, u32), CodecError> {
        let b = self.byte()?;
        let t = compact_type(b & 0x0f)?;
        let n = (b >> 4) as u32;
        if n == 15 {
            return Ok((t, self.size("list size")?));
        }
        check_size("list size", n as u64, self.remaining())?;
        Ok((t, n))
    }
    fn map_begin(&mut self) -> Result<(TType, TType, u32), CodecError> {
        let n = self.size("map size")?;
        if n == 0 {
            return Ok((TType::Stop, TType::Stop, 0));
        }
        let kv = self.byte()?;
        Ok((compact_type(kv >> 4)?, compact_type(kv & 0x0f)?, n))
    }
}
