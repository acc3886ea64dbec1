//! The Thrift RPC envelope: message header (name, type, seqid) around the
//! `{method}_args` / `{method}_result` structs, and TApplicationException.
//! Spec: apache/thrift `doc/specs/thrift-rpc.md`.

use idl::{Method, Schema, StructId, Type};

use super::decode::{Dec, DecodeOptions, ResponseMeta, skip};
use super::encode::{Bound, Enc, EncodeOptions};
use super::protocol::*;
use crate::CodecError;

/// Which Thrift protocol a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Binary,
    Compact,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Binary => "thrift binary",
            Protocol::Compact => "thrift compact",
        }
    }
    /// Recognizes a message's protocol from its first byte.
    pub fn detect(first: u8) -> Option<Protocol> {
        match first {
            0x80 => Some(Protocol::Binary),
            COMPACT_PROTOCOL_ID => Some(Protocol::Compact),
            _ => None,
        }
    }
}

macro_rules! with_writer {
    ($proto:expr, $out:expr, |$w:ident| $body:expr) => {
        match $proto {
            Protocol::Binary => {
                let mut $w = BinaryWriter::new($out);
                $body
            }
            Protocol::Compact => {
                let mut $w = CompactWriter::new($out);
                $body
            }
        }
    };
}

macro_rules! with_reader {
    ($proto:expr, $buf:expr, |$r:ident| $body:expr) => {
        match $proto {
            Protocol::Binary => {
                let mut $r = BinaryReader::new($buf);
                $body
            }
            Protocol::Compact => {
                let mut $r = CompactReader::new($buf);
                $body
            }
        }
    };
}

/// TApplicationException type codes (thrift-rpc.md; 20 and 21 are Kitex's).
pub mod app_error {
    pub const UNKNOWN: i32 = 0;
    pub const UNKNOWN_METHOD: i32 = 1;
    pub const INVALID_MESSAGE_TYPE: i32 = 2;
    pub const WRONG_METHOD_NAME: i32 = 3;
    pub const BAD_SEQUENCE_ID: i32 = 4;
    pub const MISSING_RESULT: i32 = 5;
    pub const INTERNAL_ERROR: i32 = 6;
    pub const PROTOCOL_ERROR: i32 = 7;
}

/// A TApplicationException: the server failed outside the IDL's contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppException {
    pub kind: i32,
    pub message: String,
}

/// What a reply carried; the JSON of a success or declared exception is in the output buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Success,
    /// A declared exception: the `throws` field's name and the exception type's name.
    Exception {
        field: String,
        type_name: String,
    },
    App(AppException),
}

/// Encodes a CALL (or ONEWAY) of `method` whose arguments come from the JSON
/// `body` and the HTTP-`bound` values. When the method's only argument is a
/// struct, the body is that struct's fields (Kitex HTTP generic convention);
/// otherwise an object keyed by argument names.
#[allow(clippy::too_many_arguments)]
pub fn encode_call(
    proto: Protocol,
    schema: &Schema,
    method: &Method,
    seqid: i32,
    body: &[u8],
    bound: &[Bound<'_>],
    opts: &EncodeOptions,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let ty = if method.oneway {
        MessageType::Oneway
    } else {
        MessageType::Call
    };
    with_writer!(proto, out, |w| {
        w.message_begin(&method.name, ty, seqid);
        match method.body_struct_arg {
            Some(i) => {
                let arg = &schema.struct_def(method.args).fields[i];
                let Type::Struct(sid) = arg.ty else {
                    unreachable!("body_struct_arg is a struct")
                };
                let saved = w.struct_begin();
                w.field_begin(TType::Struct, arg.id);
                Enc::new(schema, &mut w, opts).struct_from_json(sid, body, bound)?;
                w.struct_end(saved);
            }
            None => Enc::new(schema, &mut w, opts).struct_from_json(method.args, body, bound)?,
        }
        Ok(())
    })
}

/// Encodes struct `sid` from JSON on its own (no envelope).
pub fn encode_struct(
    proto: Protocol,
    schema: &Schema,
    sid: StructId,
    json: &[u8],
    opts: &EncodeOptions,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    with_writer!(proto, out, |w| Enc::new(schema, &mut w, opts)
        .struct_from_json(sid, json, &[]))
}

/// Whether a message is an EXCEPTION (a TApplicationException), told from
/// its first bytes without knowing its protocol: strict binary
/// (`0x80 0x01 .. type`) or compact (`0x82`, type in the top three bits of
/// the second byte). Non-strict binary messages are never told apart.
pub fn is_app_exception(payload: &[u8]) -> bool {
    let exception = MessageType::Exception as u8;
    match payload {
        [0x80, 0x01, _, ty, ..] => ty & 0x07 == exception,
        [0x82, b, ..] => (b >> 5) & 0x07 == exception,
        _ => false,
    }
}

/// Decodes a reply to `method` into JSON in `out`: the success value
/// (`null` for void), or a declared exception, or a TApplicationException.
#[allow(clippy::too_many_arguments)]
pub fn decode_reply(
    proto: Protocol,
    schema: &Schema,
    method: &Method,
    payload: &[u8],
    seqid: i32,
    opts: &DecodeOptions,
    out: &mut Vec<u8>,
    meta: &mut ResponseMeta,
) -> Result<Reply, CodecError> {
    with_reader!(proto, payload, |r| {
        let (name, ty, got_seq) = r.message_begin()?;
        if ty == MessageType::Exception {
            // Proxies may answer with seqid 0; Kitex does not check it either.
            return Ok(Reply::App(read_app_exception(&mut r)?));
        }
        if ty != MessageType::Reply {
            return Err(CodecError::wire(
                proto.name(),
                format!("expected a REPLY, got {ty:?}"),
            ));
        }
        if name != method.name {
            return Err(CodecError::wire(
                proto.name(),
                format!("reply is for method `{name}`, expected `{}`", method.name),
            ));
        }
        if got_seq != seqid {
            return Err(CodecError::wire(
                proto.name(),
                format!("reply seqid {got_seq}, expected {seqid}"),
            ));
        }
        let result = schema.struct_def(method.result);
        let mut dec = Dec::new(schema, opts, out);
        let mut outcome = None;
        let saved = r.struct_begin();
        while let Some((wt, id)) = r.field_begin()? {
            let field = result.field_by_id(id).map(|i| &result.fields[i]);
            match field {
                Some(f) if outcome.is_none() && wt == super::encode::ttype(&f.ty) => {
                    if id == 0 {
                        match f.ty {
                            Type::Struct(sid) => dec.struct_value(&mut r, sid, Some(meta))?,
                            _ => dec.value(&mut r, &f.ty)?,
                        }
                        outcome = Some(Reply::Success);
                    } else {
                        dec.value(&mut r, &f.ty)?;
                        outcome = Some(Reply::Exception {
                            field: f.name.clone(),
                            type_name: schema.type_name(&f.ty),
                        });
                    }
                }
                _ => skip(&mut r, wt, opts.max_depth)?,
            }
        }
        r.struct_end(saved);
        match outcome {
            Some(o) => Ok(o),
            None if method.result_type.is_none() => {
                dec.out.extend_from_slice(b"null");
                Ok(Reply::Success)
            }
            None => Ok(Reply::App(AppException {
                kind: app_error::MISSING_RESULT,
                message: format!("{} failed: unknown result", method.name),
            })),
        }
    })
}

fn read_app_exception<'a, R: Reader<'a>>(r: &mut R) -> Result<AppException, CodecError> {
    let mut e = AppException {
        kind: app_error::UNKNOWN,
        message: String::new(),
    };
    let saved = r.struct_begin();
    while let Some((t, id)) = r.field_begin()? {
        match (id, t) {
            (1, TType::Binary) => e.message = String::from_utf8_lossy(r.bytes()?).into_owned(),
            (2, TType::I32) => e.kind = r.i32()?,
            _ => skip(r, t, 16)?,
        }
    }
    r.struct_end(saved);
    Ok(e)
}

/// The header of a message, and where its body starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    pub name: String,
    pub ty: MessageType,
    pub seqid: i32,
    pub body_offset: usize,
}

pub fn read_message_header(proto: Protocol, payload: &[u8]) -> Result<MessageHeader, CodecError> {
    with_reader!(proto, payload, |r| {
        let (name, ty, seqid) = r.message_begin()?;
        Ok(MessageHeader {
            name: name.to_string(),
            ty,
            seqid,
            body_offset: r.position(),
        })
    })
}

/// Decodes struct `sid` (no envelope) into JSON; returns the bytes consumed.
pub fn decode_struct(
    proto: Protocol,
    schema: &Schema,
    sid: StructId,
    bytes: &[u8],
    opts: &DecodeOptions,
    out: &mut Vec<u8>,
) -> Result<usize, CodecError> {
    with_reader!(proto, bytes, |r| {
        Dec::new(schema, opts, out).struct_value(&mut r, sid, None)?;
        Ok(r.position())
    })
}

/// Encodes a REPLY whose `{method}_result` struct is given as JSON
/// (`{"success": …}` or `{"<exception field>": …}`).
pub fn encode_reply(
    proto: Protocol,
    schema: &Schema,
    method: &Method,
    seqid: i32,
    result_json: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    with_writer!(proto, out, |w| {
        w.message_begin(&method.name, MessageType::Reply, seqid);
        Enc::new(schema, &mut w, &EncodeOptions::default()).struct_from_json(
            method.result,
            result_json,
            &[],
        )
    })
}

/// Encodes an EXCEPTION message carrying a TApplicationException.
pub fn encode_app_exception(
    proto: Protocol,
    name: &str,
    seqid: i32,
    e: &AppException,
    out: &mut Vec<u8>,
) {
    with_writer!(proto, out, |w| {
        w.message_begin(name, MessageType::Exception, seqid);
        let saved = w.struct_begin();
        w.field_begin(TType::Binary, 1);
        w.bytes(e.message.as_bytes());
        w.field_begin(TType::I32, 2);
        w.i32(e.kind);
        w.struct_end(saved);
    })
}

/// Length of the complete message at the start of `buf`, `None` if more
/// bytes are needed: how an unframed (buffered) stream is cut into messages.
pub fn message_len(
    proto: Protocol,
    buf: &[u8],
    max_depth: usize,
) -> Result<Option<usize>, CodecError> {
    fn measure<'a, R: Reader<'a>>(mut r: R, max_depth: usize) -> Result<usize, CodecError> {
        r.message_begin()?;
        skip(&mut r, TType::Struct, max_depth)?;
        Ok(r.position())
    }
    let r = match proto {
        Protocol::Binary => measure(BinaryReader::new(buf), max_depth),
        Protocol::Compact => measure(CompactReader::new(buf), max_depth),
    };
    match r {
        Ok(n) => Ok(Some(n)),
        Err(CodecError::Truncated { .. }) => Ok(None),
        // A size larger than the bytes so far may just be bytes still in flight.
        Err(CodecError::TooLarge { what, .. }) if what.ends_with("size") => Ok(None),
        Err(e) => Err(e),
    }
}
