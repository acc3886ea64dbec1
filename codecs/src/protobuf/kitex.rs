//! The Kitex Protobuf envelope (not gRPC): a framed message with a small
//! header before the protobuf bytes (`shared/specs/wire.md` §3; Kitex
//! `pkg/remote/codec/protobuf/protobuf.go`).
//!
//! ```text
//! u32 PayloadLen | 0x9001 | u16 type | u32 n, method name | i32 seqid | protobuf message
//! ```
//!
//! Inside TTHeader the whole framed layout (length included) is the TTHeader
//! payload, with protocol id 0 (wire.md §3.3): [`framing::decode_frame`]
//! with [`Transport::TTHeader`] or [`Transport::TTHeaderFramed`] reads it
//! (the payload range then starts at the magic), and [`encode_call_ttheader`]
//! writes it.
//!
//! The decoders here take a message with or without its 4-byte length.
//!
//! [`framing::decode_frame`]: crate::framing::decode_frame
//! [`Transport::TTHeader`]: crate::framing::Transport::TTHeader
//! [`Transport::TTHeaderFramed`]: crate::framing::Transport::TTHeaderFramed

use std::ops::Range;

use prost::Message;

use crate::CodecError;
use crate::framing::{Transport, begin_frame_with, finish_frame};

/// Bytes 4..6 of a framed Kitex Protobuf message (`ProtobufV1Magic`).
pub const MAGIC: [u8; 2] = [0x90, 0x01];
/// The `protocol` of envelope errors.
pub const KITEX_PB: &str = "kitex protobuf";
/// Header bytes after the length besides the method name: magic and type,
/// name length, seqid.
const FIXED: usize = 12;

/// Kitex's `remote.MessageType` has Thrift's values; the header carries it
/// in two bytes.
pub use crate::thrift::MessageType;

/// `ErrorProto` of Kitex's `error.proto`, the body of an EXCEPTION.
#[derive(Clone, PartialEq, Message)]
struct ErrorProto {
    #[prost(int32, tag = "1")]
    type_id: i32,
    /// Read as bytes so that invalid UTF-8 is shown, not refused.
    #[prost(bytes = "vec", tag = "2")]
    message: Vec<u8>,
}

/// Writes the length placeholder and the header of a framed message whose
/// protobuf bytes the caller appends next (e.g. with
/// [`json_to_message`](super::json_to_message)); then [`finish_message`].
/// Returns where the frame starts. `method` must not be empty (Kitex refuses it).
pub fn begin_message(out: &mut Vec<u8>, ty: MessageType, method: &str, seqid: i32) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(ty as u16).to_be_bytes());
    out.extend_from_slice(&(method.len() as u32).to_be_bytes());
    out.extend_from_slice(method.as_bytes());
    out.extend_from_slice(&seqid.to_be_bytes());
    start
}

/// Patches the length of a message begun at `start` by [`begin_message`].
pub fn finish_message(out: &mut [u8], start: usize) {
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

fn encode(ty: MessageType, method: &str, seqid: i32, message: &[u8], out: &mut Vec<u8>) {
    let start = begin_message(out, ty, method, seqid);
    out.extend_from_slice(message);
    finish_message(out, start);
}

/// Appends a framed CALL of `method` carrying the protobuf request `message`.
pub fn encode_call(method: &str, seqid: i32, message: &[u8], out: &mut Vec<u8>) {
    encode(MessageType::Call, method, seqid, message, out)
}

/// Appends a framed REPLY carrying the protobuf response `message`.
pub fn encode_reply(method: &str, seqid: i32, message: &[u8], out: &mut Vec<u8>) {
    encode(MessageType::Reply, method, seqid, message, out)
}

/// Appends a framed EXCEPTION whose body is `ErrorProto{type_id, message}`
/// (`type_id`: TApplicationException codes, e.g. 1 unknown method, 6 internal error).
pub fn encode_exception(method: &str, seqid: i32, type_id: i32, message: &str, out: &mut Vec<u8>) {
    let start = begin_message(out, MessageType::Exception, method, seqid);
    let body = ErrorProto {
        type_id,
        message: message.as_bytes().to_vec(),
    };
    body.encode_raw(out);
    finish_message(out, start);
}

/// Appends a whole TTHeader frame whose payload is a framed CALL, as Kitex
/// sends Kitex Protobuf over TTHeader. `open_block` comes from
/// [`ttheader::call_block`](crate::framing::ttheader::call_block) with
/// protocol id 0 ([`PROTOCOL_BINARY`](crate::framing::ttheader::PROTOCOL_BINARY));
/// `strs` are this call's own string keys.
pub fn encode_call_ttheader(
    open_block: &[u8],
    strs: &[(&str, &str)],
    method: &str,
    seqid: i32,
    message: &[u8],
    out: &mut Vec<u8>,
) {
    // The framed message carries its own length, so plain TTHeader framing
    // around it gives TTHeader-framed bytes.
    let mark = begin_frame_with(Transport::TTHeader, out, seqid, open_block, strs);
    encode_call(method, seqid, message, out);
    finish_frame(Transport::TTHeader, out, mark);
}

/// Reads the 4-byte length at the start of a framed Kitex Protobuf stream
/// and returns it (the bytes after it) once the whole frame is in `buf`,
/// `Ok(None)` before. Rejects lengths over `max` or too short for a header,
/// and a frame without the Kitex Protobuf magic.
pub fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, CodecError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len as u64 > max as u64 || len > i32::MAX as u32 {
        return Err(CodecError::TooLarge {
            what: "frame size",
            size: len as u64,
            max: max as u64,
        });
    }
    let len = len as usize;
    if buf.len() >= 6 && buf[4..6] != MAGIC {
        return Err(CodecError::wire(
            KITEX_PB,
            format!("bad magic {:02x?}", &buf[4..6]),
        ));
    }
    if len < FIXED {
        return Err(CodecError::wire(
            KITEX_PB,
            format!("frame of {len} bytes is shorter than a header"),
        ));
    }
    Ok((buf.len() >= 4 + len).then_some(len))
}

/// True if `buf` starts like a framed Kitex Protobuf message (length, then
/// the magic); needs 6 bytes.
pub fn is_framed(buf: &[u8]) -> bool {
    buf.len() >= 6 && buf[4..6] == MAGIC
}

/// One Kitex Protobuf message, its header read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitexPbMessage<'a> {
    pub ty: MessageType,
    pub method: &'a str,
    pub seqid: i32,
    /// The protobuf bytes, within the buffer given.
    pub body: Range<usize>,
}

/// Reads the header of one whole message: `buf` is the message with its
/// 4-byte length (then it must hold exactly that frame) or without it
/// (starting at the magic, as the framings return payloads).
pub fn decode_message(buf: &[u8]) -> Result<KitexPbMessage<'_>, CodecError> {
    let mut at = if buf.starts_with(&MAGIC) {
        0
    } else {
        let Some(len) = frame_len(buf, u32::MAX as usize)? else {
            return Err(CodecError::Truncated { protocol: KITEX_PB });
        };
        if buf.len() != 4 + len {
            return Err(CodecError::wire(
                KITEX_PB,
                format!("{} bytes after the frame", buf.len() - 4 - len),
            ));
        }
        4
    };
    let truncated = || CodecError::Truncated { protocol: KITEX_PB };
    if buf.len() < at + FIXED {
        return Err(truncated());
    }
    let ty = u16::from_be_bytes([buf[at + 2], buf[at + 3]]);
    let ty = u8::try_from(ty)
        .ok()
        .and_then(MessageType::from_u8)
        .ok_or_else(|| CodecError::wire(KITEX_PB, format!("unknown message type {ty}")))?;
    let n = u32::from_be_bytes([buf[at + 4], buf[at + 5], buf[at + 6], buf[at + 7]]) as usize;
    at += 8;
    if n > buf.len() - at - 4 {
        return Err(truncated());
    }
    let method = std::str::from_utf8(&buf[at..at + n])
        .map_err(|_| CodecError::wire(KITEX_PB, "method name is not UTF-8"))?;
    if method.is_empty() && ty != MessageType::Exception {
        return Err(CodecError::wire(KITEX_PB, "empty method name"));
    }
    at += n;
    let seqid = i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    at += 4;
    Ok(KitexPbMessage {
        ty,
        method,
        seqid,
        body: at..buf.len(),
    })
}

/// What a reply carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KitexPbReply {
    /// The response message's protobuf bytes, within the buffer given.
    Message(Range<usize>),
    /// An EXCEPTION: `ErrorProto` (TApplicationException type codes).
    Exception { type_id: i32, message: String },
}

/// Decodes a reply to `method` / `seqid` (framed or not, see
/// [`decode_message`]). EXCEPTION replies are returned whatever their
/// method name and seqid, as Kitex does.
pub fn decode_reply(buf: &[u8], method: &str, seqid: i32) -> Result<KitexPbReply, CodecError> {
    let m = decode_message(buf)?;
    match m.ty {
        MessageType::Exception => {
            let e = ErrorProto::decode(&buf[m.body])
                .map_err(|e| CodecError::wire(KITEX_PB, format!("bad exception body: {e}")))?;
            Ok(KitexPbReply::Exception {
                type_id: e.type_id,
                message: String::from_utf8_lossy(&e.message).into_owned(),
            })
        }
        MessageType::Reply => {
            if m.method != method {
                return Err(CodecError::wire(
                    KITEX_PB,
                    format!("reply is for method `{}`, expected `{method}`", m.method),
                ));
            }
            if m.seqid != seqid {
                return Err(CodecError::wire(
                    KITEX_PB,
                    format!("reply seqid {}, expected {seqid}", m.seqid),
                ));
            }
            Ok(KitexPbReply::Message(m.body))
        }
        ty => Err(CodecError::wire(
            KITEX_PB,
            format!("expected a REPLY, got {ty:?}"),
        )),
    }
}

/// A call read by a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitexPbCall<'a> {
    pub method: &'a str,
    pub seqid: i32,
    /// The request message's protobuf bytes, within the buffer given.
    pub message: Range<usize>,
    /// A ONEWAY message: send no reply.
    pub oneway: bool,
}

/// Decodes a CALL (or ONEWAY), framed or not (see [`decode_message`]).
pub fn decode_call(payload: &[u8]) -> Result<KitexPbCall<'_>, CodecError> {
    let m = decode_message(payload)?;
    match m.ty {
        MessageType::Call | MessageType::Oneway => Ok(KitexPbCall {
            method: m.method,
            seqid: m.seqid,
            message: m.body,
            oneway: m.ty == MessageType::Oneway,
        }),
        ty => Err(CodecError::wire(
            KITEX_PB,
            format!("expected a CALL, got {ty:?}"),
        )),
    }
}
