//! Framings: how Thrift messages sit on a byte stream.
//!
//! - **buffered**: messages back to back; the end of one is found by parsing it.
//! - **framed**: a 4-byte big-endian length before each message.
//! - **TTHeader** (Kitex): a header with sequence id and key/value metadata
//!   before an unframed message; **TTHeader-framed** puts a framed one there.
//!
//! Specs: apache/thrift `doc/specs/thrift-rpc.md`; Kitex TTHeader in
//! cloudwego/gopkg `protocol/ttheader` (see `shared/specs/wire.md` §1.4, §2).

pub mod ttheader;

use std::ops::Range;

use crate::CodecError;
use crate::thrift::{Protocol, message_len};
pub use ttheader::{HeaderInfo, TTHeaderMeta};

/// The Apache Thrift spec's bound on a framed message (bytes).
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16_384_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Buffered,
    Framed,
    TTHeader,
    TTHeaderFramed,
}

impl Transport {
    pub fn parse(s: &str) -> Option<Transport> {
        Some(match s {
            "buffered" => Transport::Buffered,
            "framed" => Transport::Framed,
            "ttheader" => Transport::TTHeader,
            "ttheader-framed" => Transport::TTHeaderFramed,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Transport::Buffered => "buffered",
            Transport::Framed => "framed",
            Transport::TTHeader => "ttheader",
            Transport::TTHeaderFramed => "ttheader-framed",
        }
    }
    pub fn is_ttheader(self) -> bool {
        matches!(self, Transport::TTHeader | Transport::TTHeaderFramed)
    }
}

/// One message taken off a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Bytes of the stream this frame used.
    pub consumed: usize,
    /// Where the Thrift message is within those bytes.
    pub payload: Range<usize>,
    /// The TTHeader part, for TTHeader framings.
    pub header: Option<HeaderInfo>,
}

/// Where a frame being written started, for [`finish_frame`].
#[derive(Debug, Clone, Copy)]
pub struct FrameMark {
    start: usize,
    inner: usize,
}

/// Starts a frame in `out`; the message is appended next, then [`finish_frame`].
/// `header_block` is the TTHeader info (see [`ttheader::header_block`]).
pub fn begin_frame(t: Transport, out: &mut Vec<u8>, seqid: i32, header_block: &[u8]) -> FrameMark {
    let start = out.len();
    match t {
        Transport::Buffered => {}
        Transport::Framed => out.extend_from_slice(&[0; 4]),
        Transport::TTHeader | Transport::TTHeaderFramed => {
            ttheader::write_fixed(out, seqid, header_block);
            if t == Transport::TTHeaderFramed {
                out.extend_from_slice(&[0; 4]);
            }
        }
    }
    FrameMark {
        start,
        inner: out.len(),
    }
}

/// Like [`begin_frame`], for a TTHeader call whose header info is an open
/// block ([`ttheader::call_block`]) and this call's string keys `strs`
/// (other transports carry neither).
pub fn begin_frame_with(
    t: Transport,
    out: &mut Vec<u8>,
    seqid: i32,
    open_block: &[u8],
    strs: &[(&str, &str)],
) -> FrameMark {
    if !t.is_ttheader() {
        return begin_frame(t, out, seqid, &[]);
    }
    let start = out.len();
    ttheader::write_fixed_with(out, seqid, open_block, strs);
    if t == Transport::TTHeaderFramed {
        out.extend_from_slice(&[0; 4]);
    }
    FrameMark {
        start,
        inner: out.len(),
    }
}

/// Patches the lengths of a frame begun with [`begin_frame`].
pub fn finish_frame(t: Transport, out: &mut [u8], mark: FrameMark) {
    let total = out.len();
    let put = |out: &mut [u8], at: usize, len: usize| {
        out[at..at + 4].copy_from_slice(&(len as u32).to_be_bytes())
    };
    match t {
        Transport::Buffered => {}
        Transport::Framed => put(out, mark.start, total - mark.start - 4),
        Transport::TTHeader => put(out, mark.start, total - mark.start - 4),
        Transport::TTHeaderFramed => {
            put(out, mark.start, total - mark.start - 4);
            put(out, mark.inner - 4, total - mark.inner);
        }
    }
}

/// Takes one frame off the front of `buf`: `Ok(None)` when more bytes are needed.
pub fn decode_frame(
    t: Transport,
    proto: Protocol,
    buf: &[u8],
    max_frame: usize,
) -> Result<Option<Frame>, CodecError> {
    match t {
        Transport::Buffered => {
            let Some(n) = message_len(proto, buf, 64)? else {
                if buf.len() > max_frame {
                    return Err(CodecError::TooLarge {
                        what: "message size",
                        size: buf.len() as u64,
                        max: max_frame as u64,
                    });
                }
                return Ok(None);
            };
            Ok(Some(Frame {
                consumed: n,
                payload: 0..n,
                header: None,
            }))
        }
        Transport::Framed => {
            let Some(len) = frame_len(buf, max_frame)? else {
                return Ok(None);
            };
            Ok(Some(Frame {
                consumed: 4 + len,
                payload: 4..4 + len,
                header: None,
            }))
        }
        Transport::TTHeader | Transport::TTHeaderFramed => ttheader::decode(buf, max_frame),
    }
}

/// Reads a 4-byte frame length and checks it: `Ok(None)` until the whole frame is in.
pub fn frame_len(buf: &[u8], max_frame: usize) -> Result<Option<usize>, CodecError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < 0 || len as usize > max_frame {
        return Err(CodecError::TooLarge {
            what: "frame size",
            size: len as u32 as u64,
            max: max_frame as u64,
        });
    }
    let len = len as usize;
    Ok((buf.len() >= 4 + len).then_some(len))
}

/// Recognizes a stream's framing and protocol from its first bytes, as a
/// Kitex server does per message; `Ok(None)` until enough bytes are in.
pub fn detect(buf: &[u8]) -> Result<Option<(Transport, Protocol)>, CodecError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if let Some(p) = Protocol::detect(first)
        && (buf.len() < 2 || first != 0x80 || buf[1] == 0x01)
    {
        return Ok(Some((Transport::Buffered, p)));
    }
    if buf.len() < 8 {
        return Ok(None);
    }
    if buf[4..6] == ttheader::MAGIC {
        // The header size is at 12..14, past the 8 bytes checked so far.
        let Some(size) = buf.get(12..14) else {
            return Ok(None);
        };
        // The payload's own first bytes tell binary/compact and framed or not.
        let hs = usize::from(u16::from_be_bytes([size[0], size[1]])) * 4;
        let at = 14 + hs;
        if buf.len() < at + 5 {
            return Ok(None);
        }
        let (framed, proto) = match Protocol::detect(buf[at]) {
            Some(p) => (false, p),
            None => (
                true,
                Protocol::detect(buf[at + 4]).unwrap_or(Protocol::Binary),
            ),
        };
        return Ok(Some((
            if framed {
                Transport::TTHeaderFramed
            } else {
                Transport::TTHeader
            },
            proto,
        )));
    }
    // A framed Kitex Protobuf message: its payload starts with magic 0x9001.
    if buf[4..6] == [0x90, 0x01] {
        return Ok(Some((Transport::Framed, Protocol::Binary)));
    }
    match Protocol::detect(buf[4]) {
        Some(p) => Ok(Some((Transport::Framed, p))),
        None => Err(CodecError::wire(
            "thrift",
            format!("unrecognized stream start {:02x?}", &buf[..8]),
        )),
    }
}

#[cfg(test)]
mod tests;
