//! The Dubbo 2 protocol (`dubbo://`) with Hessian2 bodies: the 16-byte
//! header, request and response bodies, heartbeats, and the mapping between
//! JSON and Java values driven by a Thrift IDL ([`mapping`]).
//!
//! Spec: `shared/specs/wire.md` §5.1–§5.5 (after Apache Dubbo's
//! `ExchangeCodec` and `DubboCodec`, and kitex-contrib/codec-dubbo).

pub mod generic;
#[cfg(test)]
mod java_vectors;
pub mod mapping;
#[cfg(test)]
mod tests;

use crate::CodecError;
use crate::hessian2::{Limits, Reader, RefTable, Value, Writer};

/// The protocol name in [`CodecError`]s.
pub const DUBBO: &str = "dubbo";
/// `0xdabb`, the first two bytes of every frame.
pub const MAGIC: [u8; 2] = [0xda, 0xbb];
/// Header length.
pub const HEADER_LEN: usize = 16;
/// Flag bits of byte 2.
pub const FLAG_REQUEST: u8 = 0x80;
pub const FLAG_TWO_WAY: u8 = 0x40;
pub const FLAG_EVENT: u8 = 0x20;
/// Serialization id of Hessian2 (bits 0–4 of byte 2).
pub const HESSIAN2: u8 = 2;
/// The Dubbo protocol version written in requests: 2.0.2 lets the provider
/// answer with attachments (`Version.isSupportResponseAttachment`).
pub const DUBBO_VERSION: &str = "2.0.2";
/// Java's default payload limit (`DEFAULT_PAYLOAD`, 8 MiB).
pub const DEFAULT_MAX_BODY: usize = 8 << 20;

/// Response status byte values (`Response.java`).
pub mod status {
    pub const OK: u8 = 20;
    pub const SERIALIZATION_ERROR: u8 = 25;
    pub const CLIENT_TIMEOUT: u8 = 30;
    pub const SERVER_TIMEOUT: u8 = 31;
    pub const CHANNEL_INACTIVE: u8 = 35;
    pub const BAD_REQUEST: u8 = 40;
    pub const BAD_RESPONSE: u8 = 50;
    pub const SERVICE_NOT_FOUND: u8 = 60;
    pub const SERVICE_ERROR: u8 = 70;
    pub const SERVER_ERROR: u8 = 80;
    pub const CLIENT_ERROR: u8 = 90;
    pub const SERVER_THREADPOOL_EXHAUSTED_ERROR: u8 = 100;

    /// The Java constant name of a status.
    pub fn name(s: u8) -> &'static str {
        match s {
            OK => "OK",
            SERIALIZATION_ERROR => "SERIALIZATION_ERROR",
            CLIENT_TIMEOUT => "CLIENT_TIMEOUT",
            SERVER_TIMEOUT => "SERVER_TIMEOUT",
            CHANNEL_INACTIVE => "CHANNEL_INACTIVE",
            BAD_REQUEST => "BAD_REQUEST",
            BAD_RESPONSE => "BAD_RESPONSE",
            SERVICE_NOT_FOUND => "SERVICE_NOT_FOUND",
            SERVICE_ERROR => "SERVICE_ERROR",
            SERVER_ERROR => "SERVER_ERROR",
            CLIENT_ERROR => "CLIENT_ERROR",
            SERVER_THREADPOOL_EXHAUSTED_ERROR => "SERVER_THREADPOOL_EXHAUSTED_ERROR",
            _ => "UNKNOWN",
        }
    }
}

/// Response body flags (`DubboCodec`): the first value of an OK response.
pub mod flag {
    pub const WITH_EXCEPTION: i32 = 0;
    pub const VALUE: i32 = 1;
    pub const NULL_VALUE: i32 = 2;
    pub const WITH_EXCEPTION_WITH_ATTACHMENTS: i32 = 3;
    pub const VALUE_WITH_ATTACHMENTS: i32 = 4;
    pub const NULL_VALUE_WITH_ATTACHMENTS: i32 = 5;
}

/// Whether a whole response frame (header and Hessian2 body) is an error:
/// a status other than OK, or an OK body whose flag says it carries an
/// exception. Flags are small ints, one byte each in Hessian2 (`0x90 + n`).
pub fn is_error_reply(frame: &[u8]) -> bool {
    const fn hessian_small_int(v: i32) -> u8 {
        (0x90 + v) as u8
    }
    if frame.get(3).is_some_and(|&st| st != status::OK) {
        return true;
    }
    frame.get(HEADER_LEN).is_some_and(|&first| {
        first == hessian_small_int(flag::WITH_EXCEPTION)
            || first == hessian_small_int(flag::WITH_EXCEPTION_WITH_ATTACHMENTS)
    })
}

/// The fixed header of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub flags: u8,
    pub status: u8,
    pub id: u64,
    pub body_len: u32,
}

impl Header {
    pub fn is_request(&self) -> bool {
        self.flags & FLAG_REQUEST != 0
    }
    pub fn is_event(&self) -> bool {
        self.flags & FLAG_EVENT != 0
    }
    pub fn is_two_way(&self) -> bool {
        self.flags & FLAG_TWO_WAY != 0
    }
    pub fn serialization(&self) -> u8 {
        self.flags & 0x1f
    }

    pub fn write(&self, out: &mut [u8]) {
        out[..2].copy_from_slice(&MAGIC);
        out[2] = self.flags;
        out[3] = self.status;
        out[4..12].copy_from_slice(&self.id.to_be_bytes());
        out[12..16].copy_from_slice(&self.body_len.to_be_bytes());
    }

    /// Reads a header; rejects a bad magic and bodies over `max_body`.
    pub fn read(buf: &[u8], max_body: usize) -> Result<Option<Header>, CodecError> {
        if buf.len() >= 2 && buf[..2] != MAGIC {
            return Err(CodecError::wire(
                DUBBO,
                format!("bad magic {:02x}{:02x}", buf[0], buf[1]),
            ));
        }
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let body_len = u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]);
        if body_len as u64 > max_body as u64 {
            return Err(CodecError::TooLarge {
                what: "dubbo body",
                size: body_len as u64,
                max: max_body as u64,
            });
        }
        Ok(Some(Header {
            flags: buf[2],
            status: buf[3],
            id: u64::from_be_bytes(buf[4..12].try_into().expect("8 bytes")),
            body_len,
        }))
    }
}

/// The length of the frame at the front of `buf` once it is all there.
pub fn frame_len(buf: &[u8], max_body: usize) -> Result<Option<usize>, CodecError> {
    Ok(Header::read(buf, max_body)?
        .map(|h| HEADER_LEN + h.body_len as usize)
        .filter(|&n| buf.len() >= n))
}

/// What a request names besides its arguments.
#[derive(Debug, Clone, Default)]
pub struct Invocation<'a> {
    /// The Java interface (`path` in the body and attachments).
    pub interface: &'a str,
    /// Service version (`""` when none).
    pub version: &'a str,
    /// Service group (attachment `group`; none when empty).
    pub group: &'a str,
    pub method: &'a str,
    /// JVM parameter descriptor, e.g. `Ljava/lang/String;J`.
    pub descriptor: &'a str,
    /// Attachment `timeout`, in milliseconds (a string, as Java sends it).
    pub timeout_ms: Option<u64>,
    /// More attachments (the request id, trace context).
    pub attachments: &'a [(&'a str, &'a str)],
}

/// Starts a two-way request frame in `out`: header placeholder and the
/// body up to the arguments. Write the arguments with the returned writer,
/// then call [`finish_request`].
pub fn begin_request<'o>(
    inv: &Invocation,
    out: &'o mut Vec<u8>,
) -> (usize, Writer<&'o mut Vec<u8>>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    let mut w = Writer::with_buf(out);
    w.write_string(DUBBO_VERSION);
    w.write_string(inv.interface);
    w.write_string(inv.version);
    w.write_string(inv.method);
    w.write_string(inv.descriptor);
    (start, w)
}

/// Writes the attachments and the header of a request begun with
/// [`begin_request`].
pub fn finish_request(
    inv: &Invocation,
    id: u64,
    start: usize,
    mut w: Writer<&mut Vec<u8>>,
    extra: &[(&str, &str)],
) {
    w.begin_map(None);
    for (k, v) in [("path", inv.interface), ("interface", inv.interface)] {
        w.write_string(k);
        w.write_string(v);
    }
    if !inv.version.is_empty() {
        w.write_string("version");
        w.write_string(inv.version);
    }
    if !inv.group.is_empty() {
        w.write_string("group");
        w.write_string(inv.group);
    }
    if let Some(t) = inv.timeout_ms {
        w.write_string("timeout");
        w.write_string(&t.to_string());
    }
    for (k, v) in inv.attachments.iter().chain(extra) {
        w.write_string(k);
        w.write_string(v);
    }
    w.end_map();
    let out = w.into_inner();
    write_header(out, start, FLAG_REQUEST | FLAG_TWO_WAY | HESSIAN2, 0, id);
}

/// Writes the header of the frame that starts at `out[start]`, its body
/// being everything after the header.
fn write_header(out: &mut [u8], start: usize, flags: u8, status: u8, id: u64) {
    let body_len = (out.len() - start - HEADER_LEN) as u32;
    Header {
        flags,
        status,
        id,
        body_len,
    }
    .write(&mut out[start..start + HEADER_LEN]);
}

/// A heartbeat request (`0xE2`, body Hessian null).
pub fn heartbeat_request(id: u64) -> Vec<u8> {
    let mut out = vec![0; HEADER_LEN];
    out.push(b'N');
    Header {
        flags: FLAG_REQUEST | FLAG_TWO_WAY | FLAG_EVENT | HESSIAN2,
        status: 0,
        id,
        body_len: 1,
    }
    .write(&mut out);
    out
}

/// The reply to a heartbeat (or other event) request `id`.
pub fn heartbeat_response(id: u64) -> Vec<u8> {
    let mut out = vec![0; HEADER_LEN];
    out.push(b'N');
    Header {
        flags: FLAG_EVENT | HESSIAN2,
        status: status::OK,
        id,
        body_len: 1,
    }
    .write(&mut out);
    out
}

/// A decoded response.
#[derive(Debug, Clone)]
pub struct DubboResponse {
    pub id: u64,
    pub outcome: Outcome,
    /// Response attachments (flags 3, 4 and 5), string values only.
    pub attachments: Vec<(String, String)>,
    /// The body's reference table, for [`Outcome::Value`] and exceptions.
    pub refs: RefTable,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// The method returned this value (`Value::Null` for null and void).
    Value(Value),
    /// The method threw: the Java exception class and its message.
    Exception {
        class: String,
        message: Option<String>,
        value: Value,
    },
    /// A status other than OK, with the provider's error text.
    Status { status: u8, message: String },
}

/// Decodes a whole response frame (header included).
pub fn decode_response(frame: &[u8], limits: Limits) -> Result<DubboResponse, CodecError> {
    let h = Header::read(frame, usize::MAX)?.ok_or(CodecError::Truncated { protocol: DUBBO })?;
    if h.is_request() {
        return Err(CodecError::wire(
            DUBBO,
            "a request where a response was due",
        ));
    }
    if h.serialization() != HESSIAN2 {
        return Err(CodecError::wire(
            DUBBO,
            format!("serialization id {} is not hessian2 (2)", h.serialization()),
        ));
    }
    let body = frame
        .get(HEADER_LEN..HEADER_LEN + h.body_len as usize)
        .ok_or(CodecError::Truncated { protocol: DUBBO })?;
    let mut r = Reader::with_limits(body, limits);
    if h.status != status::OK {
        let message = r.read_opt_string().ok().flatten().unwrap_or_default();
        return Ok(DubboResponse {
            id: h.id,
            outcome: Outcome::Status {
                status: h.status,
                message,
            },
            attachments: Vec::new(),
            refs: RefTable::default(),
        });
    }
    let flag = r.read_int()?;
    let (outcome, with_attachments) = match flag {
        flag::VALUE | flag::VALUE_WITH_ATTACHMENTS => (
            Outcome::Value(r.read_value()?),
            flag == flag::VALUE_WITH_ATTACHMENTS,
        ),
        flag::NULL_VALUE | flag::NULL_VALUE_WITH_ATTACHMENTS => (
            Outcome::Value(Value::Null),
            flag == flag::NULL_VALUE_WITH_ATTACHMENTS,
        ),
        flag::WITH_EXCEPTION | flag::WITH_EXCEPTION_WITH_ATTACHMENTS => {
            let value = r.read_value()?;
            let (class, message) = exception_parts(&value, r.refs());
            (
                Outcome::Exception {
                    class,
                    message,
                    value,
                },
                flag == flag::WITH_EXCEPTION_WITH_ATTACHMENTS,
            )
        }
        other => {
            return Err(CodecError::wire(
                DUBBO,
                format!("unknown response flag {other}"),
            ));
        }
    };
    let mut attachments = Vec::new();
    if with_attachments {
        let map = r.read_value()?;
        if let Some(m) = map.resolve(r.refs()).and_then(Value::as_map) {
            for (k, v) in &m.entries {
                if let (Some(k), Some(v)) = (k.as_str(), v.as_str()) {
                    attachments.push((k.to_string(), v.to_string()));
                }
            }
        }
    }
    Ok(DubboResponse {
        id: h.id,
        outcome,
        attachments,
        refs: r.into_refs(),
    })
}

/// The class and `detailMessage` of a Java exception object; for Dubbo's
/// `GenericException` (what generic calls throw), the wrapped exception's
/// `exceptionClass` and `exceptionMessage`.
fn exception_parts(v: &Value, refs: &RefTable) -> (String, Option<String>) {
    let text = |o: &crate::hessian2::Object, f: &str| {
        o.get(f)
            .and_then(|m| m.resolve(refs))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match v.resolve(refs).and_then(Value::as_object) {
        Some(o)
            if o.class_name().ends_with(".GenericException")
                && let Some(class) = text(o, "exceptionClass") =>
        {
            (class, text(o, "exceptionMessage"))
        }
        Some(o) => (
            o.class_name().to_string(),
            o.get("detailMessage")
                .and_then(|m| m.resolve(refs))
                .and_then(Value::as_str)
                .map(str::to_string),
        ),
        None => match v.resolve(refs) {
            Some(Value::String(s)) => ("java.lang.Throwable".into(), Some(s.clone())),
            _ => ("java.lang.Throwable".into(), None),
        },
    }
}

/// A decoded request (the server side: the built-in backend, tests).
#[derive(Debug, Clone)]
pub struct DubboRequest {
    pub id: u64,
    pub two_way: bool,
    /// A heartbeat or other event: no invocation follows.
    pub event: bool,
    pub dubbo_version: String,
    pub path: String,
    pub version: String,
    pub method: String,
    pub descriptor: String,
    pub args: Vec<Value>,
    pub attachments: Vec<(String, Value)>,
    pub refs: RefTable,
}

/// Decodes a whole request frame; the number of arguments comes from the descriptor.
pub fn decode_request(frame: &[u8], limits: Limits) -> Result<DubboRequest, CodecError> {
    let h = Header::read(frame, usize::MAX)?.ok_or(CodecError::Truncated { protocol: DUBBO })?;
    if !h.is_request() {
        return Err(CodecError::wire(
            DUBBO,
            "a response where a request was due",
        ));
    }
    if h.serialization() != HESSIAN2 {
        return Err(CodecError::wire(
            DUBBO,
            format!("serialization id {} is not hessian2 (2)", h.serialization()),
        ));
    }
    let body = frame
        .get(HEADER_LEN..HEADER_LEN + h.body_len as usize)
        .ok_or(CodecError::Truncated { protocol: DUBBO })?;
    let mut req = DubboRequest {
        id: h.id,
        two_way: h.is_two_way(),
        event: h.is_event(),
        dubbo_version: String::new(),
        path: String::new(),
        version: String::new(),
        method: String::new(),
        descriptor: String::new(),
        args: Vec::new(),
        attachments: Vec::new(),
        refs: RefTable::default(),
    };
    if req.event {
        return Ok(req);
    }
    let mut r = Reader::with_limits(body, limits);
    req.dubbo_version = r.read_string()?;
    req.path = r.read_string()?;
    req.version = r.read_opt_string()?.unwrap_or_default();
    req.method = r.read_string()?;
    req.descriptor = r.read_string()?;
    let n = mapping::descriptor_arity(&req.descriptor)
        .ok_or_else(|| CodecError::wire(DUBBO, format!("bad descriptor {:?}", req.descriptor)))?;
    for _ in 0..n {
        req.args.push(r.read_value()?);
    }
    if !r.is_empty() {
        let map = r.read_value()?;
        if let Some(m) = map.resolve(r.refs()).and_then(Value::as_map) {
            for (k, v) in &m.entries {
                if let Some(k) = k.as_str() {
                    req.attachments.push((k.to_string(), v.clone()));
                }
            }
        }
    }
    req.refs = r.into_refs();
    Ok(req)
}

/// A response frame for request `id`: status OK and flag 4 (value with
/// attachments, as Java answers a 2.0.2 request) or 1; `write` writes the value.
pub fn encode_response(
    id: u64,
    with_attachments: bool,
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Writer<&mut Vec<u8>>),
) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    let mut w = Writer::with_buf(&mut *out);
    w.write_int(if with_attachments {
        flag::VALUE_WITH_ATTACHMENTS
    } else {
        flag::VALUE
    });
    write(&mut w);
    if with_attachments {
        w.begin_map(None);
        w.write_string("dubbo");
        w.write_string(DUBBO_VERSION);
        w.end_map();
    }
    drop(w);
    write_header(out, start, HESSIAN2, status::OK, id);
}

/// A response frame with a status other than OK and an error message.
pub fn encode_error_response(id: u64, status: u8, message: &str, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    let mut w = Writer::with_buf(&mut *out);
    w.write_string(message);
    drop(w);
    write_header(out, start, HESSIAN2, status, id);
}

/// A response frame carrying a thrown Java exception (status OK, flag 0):
/// an object of `class` with Throwable's `detailMessage`.
pub fn encode_exception_response(id: u64, class: &str, message: &str, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    let mut w = Writer::with_buf(&mut *out);
    w.write_int(flag::WITH_EXCEPTION);
    w.write_object_start(class, &["detailMessage"]);
    w.write_string(message);
    drop(w);
    write_header(out, start, HESSIAN2, status::OK, id);
}
