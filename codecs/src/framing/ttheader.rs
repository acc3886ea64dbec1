//! Kitex TTHeader: fixed 14 bytes, then header info (protocol id,
//! transforms, key/value blocks, padding to 4 bytes), then the payload.
//! Source: cloudwego/gopkg `protocol/ttheader/{encode,decode}.go`
//! (`shared/specs/wire.md` §2).

use std::borrow::Cow;

use super::Frame;
use crate::CodecError;
use crate::thrift::Protocol;

/// Bytes 4..6 of every TTHeader frame.
pub const MAGIC: [u8; 2] = [0x10, 0x00];
/// Protocol ids in the header info: Thrift binary (also used by Kitex for Kitex Protobuf) and compact.
pub const PROTOCOL_BINARY: u8 = 0x00;
pub const PROTOCOL_COMPACT: u8 = 0x02;
/// Info block ids.
const INFO_PADDING: u8 = 0x00;
const INFO_STR_KV: u8 = 0x01;
const INFO_INT_KV: u8 = 0x10;
const INFO_ACL_TOKEN: u8 = 0x11;
/// Largest header info (`MaxHeaderSize`, 4 × 65535).
const MAX_HEADER_SIZE: usize = 4 * 65535;

/// Int keys (`gopkg protocol/ttheader/metakey.go`).
pub mod int_key {
    pub const TRANSPORT_TYPE: u16 = 1;
    pub const FROM_SERVICE: u16 = 3;
    pub const TO_SERVICE: u16 = 6;
    pub const TO_METHOD: u16 = 9;
    pub const RPC_TIMEOUT: u16 = 12;
    pub const FROM_METHOD: u16 = 20;
    pub const MSG_TYPE: u16 = 22;
}
/// String keys.
pub mod str_key {
    /// The IDL service name, used by multi-service Kitex servers to pick a service.
    pub const IDL_SERVICE_NAME: &str = "isn";
    pub const BIZ_STATUS: &str = "biz-status";
    pub const BIZ_MESSAGE: &str = "biz-message";
    pub const BIZ_EXTRA: &str = "biz-extra";
}

/// Metadata to send in a TTHeader.
#[derive(Debug, Clone, Default)]
pub struct TTHeaderMeta<'a> {
    pub protocol: u8,
    pub ints: Vec<(u16, Cow<'a, str>)>,
    pub strs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// Metadata read from a TTHeader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderInfo {
    pub seqid: i32,
    pub flags: u16,
    pub protocol: u8,
    pub ints: Vec<(u16, String)>,
    pub strs: Vec<(String, String)>,
    /// The payload was itself framed (TTHeader-framed).
    pub framed_payload: bool,
}

impl HeaderInfo {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.strs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn int(&self, key: u16) -> Option<&str> {
        self.ints
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub fn protocol_id(p: Protocol) -> u8 {
    match p {
        Protocol::Binary => PROTOCOL_BINARY,
        Protocol::Compact => PROTOCOL_COMPACT,
    }
}

/// What a client's TTHeader says of one call, as a Kitex client writes it.
#[derive(Debug, Clone, Copy)]
pub struct CallHeader<'a> {
    /// [`PROTOCOL_BINARY`] or [`PROTOCOL_COMPACT`] (Kitex Protobuf: binary).
    pub protocol: u8,
    /// The payload is itself framed (TTHeader-framed, Kitex Protobuf).
    pub framed_payload: bool,
    /// The IDL service name (`isn`), by which multi-service servers pick one.
    pub idl_service: &'a str,
    pub from_service: &'a str,
    pub to_service: &'a str,
    pub method: &'a str,
    pub oneway: bool,
    pub timeout_ms: u64,
}

/// The header info block of a call: the int keys transport type, from/to
/// service, method, message type and RPC timeout, and the `isn` string key
/// (`gopkg protocol/ttheader/metakey.go`). The block is left open (not
/// padded): [`begin_frame_with`](super::begin_frame_with) adds a call's own
/// string keys (trace context, request id) and the padding.
pub fn call_block(h: &CallHeader<'_>) -> Vec<u8> {
    open_block(&TTHeaderMeta {
        protocol: h.protocol,
        strs: vec![(
            Cow::Borrowed(str_key::IDL_SERVICE_NAME),
            Cow::Borrowed(h.idl_service),
        )],
        ints: vec![
            (
                int_key::TRANSPORT_TYPE,
                Cow::Borrowed(if h.framed_payload {
                    "framed"
                } else {
                    "unframed"
                }),
            ),
            (int_key::FROM_SERVICE, Cow::Borrowed(h.from_service)),
            (int_key::TO_SERVICE, Cow::Borrowed(h.to_service)),
            (int_key::TO_METHOD, Cow::Borrowed(h.method)),
            (
                int_key::MSG_TYPE,
                Cow::Borrowed(if h.oneway { "4" } else { "1" }),
            ),
            (int_key::RPC_TIMEOUT, Cow::Owned(h.timeout_ms.to_string())),
        ],
    })
}

/// Encodes the header info once (protocol id, transforms, key/values,
/// padding); it is the same for every call of a method, so callers cache it.
pub fn header_block(meta: &TTHeaderMeta<'_>) -> Vec<u8> {
    let mut b = open_block(meta);
    pad(&mut b, 0);
    b
}

/// The header info without its padding.
fn open_block(meta: &TTHeaderMeta<'_>) -> Vec<u8> {
    let mut b = vec![meta.protocol, 0];
    if !meta.strs.is_empty() {
        b.push(INFO_STR_KV);
        b.extend_from_slice(&(meta.strs.len() as u16).to_be_bytes());
        for (k, v) in &meta.strs {
            put_str(&mut b, k);
            put_str(&mut b, v);
        }
    }
    if !meta.ints.is_empty() {
        b.push(INFO_INT_KV);
        b.extend_from_slice(&(meta.ints.len() as u16).to_be_bytes());
        for (k, v) in &meta.ints {
            b.extend_from_slice(&k.to_be_bytes());
            put_str(&mut b, v);
        }
    }
    b
}

/// Pads the header info that starts at `from` to a multiple of 4 bytes.
fn pad(b: &mut Vec<u8>, from: usize) {
    while (b.len() - from) % 4 != 0 {
        b.push(INFO_PADDING);
    }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    b.extend_from_slice(&(s.len() as u16).to_be_bytes());
    b.extend_from_slice(s);
}

pub(crate) fn write_fixed(out: &mut Vec<u8>, seqid: i32, block: &[u8]) {
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&seqid.to_be_bytes());
    out.extend_from_slice(&((block.len() / 4) as u16).to_be_bytes());
    out.extend_from_slice(block);
}

/// The fixed header, an open header info block (see [`call_block`]), one
/// more string key/value block of `strs` (when there are any), and the
/// padding.
pub(crate) fn write_fixed_with(out: &mut Vec<u8>, seqid: i32, open: &[u8], strs: &[(&str, &str)]) {
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&seqid.to_be_bytes());
    let size_at = out.len();
    out.extend_from_slice(&[0, 0]);
    let from = out.len();
    out.extend_from_slice(open);
    if !strs.is_empty() {
        out.push(INFO_STR_KV);
        out.extend_from_slice(&(strs.len() as u16).to_be_bytes());
        for (k, v) in strs {
            put_str(out, k);
            put_str(out, v);
        }
    }
    pad(out, from);
    let words = ((out.len() - from) / 4) as u16;
    out[size_at..size_at + 2].copy_from_slice(&words.to_be_bytes());
}

const NAME: &str = "ttheader";

pub(crate) fn decode(buf: &[u8], max_frame: usize) -> Result<Option<Frame>, CodecError> {
    let Some(len) = super::frame_len(buf, max_frame)? else {
        return Ok(None);
    };
    let frame = &buf[4..4 + len];
    if frame.len() < 10 || frame[0..2] != MAGIC {
        return Err(CodecError::wire(NAME, "missing TTHeader magic"));
    }
    let flags = u16::from_be_bytes([frame[2], frame[3]]);
    let seqid = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let hs = u16::from_be_bytes([frame[8], frame[9]]) as usize * 4;
    if !(2..=MAX_HEADER_SIZE).contains(&hs) || 10 + hs > frame.len() {
        return Err(CodecError::wire(NAME, format!("bad header size {hs}")));
    }
    let mut info = HeaderInfo {
        seqid,
        flags,
        ..Default::default()
    };
    let mut c = Cursor {
        b: &frame[10..10 + hs],
        pos: 0,
    };
    info.protocol = c.u8()?;
    let transforms = c.u8()? as usize;
    c.take(transforms)?;
    while c.pos < c.b.len() {
        match c.u8()? {
            INFO_PADDING => break,
            INFO_STR_KV => {
                for _ in 0..c.u16()? {
                    let k = c.string()?;
                    let v = c.string()?;
                    info.strs.push((k, v));
                }
            }
            INFO_INT_KV => {
                for _ in 0..c.u16()? {
                    let k = c.u16()?;
                    let v = c.string()?;
                    info.ints.push((k, v));
                }
            }
            INFO_ACL_TOKEN => {
                c.string()?;
            }
            other => {
                return Err(CodecError::wire(
                    NAME,
                    format!("unknown info id {other:#04x}"),
                ));
            }
        }
    }
    let mut start = 4 + 10 + hs;
    let end = 4 + len;
    // Payload: an unframed message starts with a protocol byte; otherwise a 4-byte length.
    if start < end && Protocol::detect(buf[start]).is_none() {
        let Some(inner) = super::frame_len(&buf[start..end], max_frame)? else {
            return Err(CodecError::wire(
                NAME,
                "inner frame longer than its TTHeader frame",
            ));
        };
        info.framed_payload = true;
        start += 4;
        if start + inner != end {
            return Err(CodecError::wire(NAME, "inner frame length does not match"));
        }
    }
    Ok(Some(Frame {
        consumed: end,
        payload: start..end,
        header: Some(info),
    }))
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.b.len() - self.pos < n {
            return Err(CodecError::wire(NAME, "header info is truncated"));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn string(&mut self) -> Result<String, CodecError> {
        let n = self.u16()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}
