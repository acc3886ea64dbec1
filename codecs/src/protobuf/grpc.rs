//! gRPC Length-Prefixed-Message: `u8 compressed flag | u32 length | message`
//! (grpc `doc/PROTOCOL-HTTP2.md`; `shared/specs/wire.md` §4.2).

use std::ops::Range;

use crate::CodecError;

/// Bytes before each message.
pub const GRPC_PREFIX: usize = 5;

/// Appends `message` with an uncompressed-message prefix.
pub fn grpc_frame(message: &[u8], out: &mut Vec<u8>) {
    out.push(0);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
}

/// Reads one message off the front of `buf`: its range, the bytes it used
/// and whether its compressed flag is set; `Ok(None)` until it is all in.
/// Rejects flags other than 0 and 1 and lengths over `max`.
pub fn grpc_unframe(
    buf: &[u8],
    max: usize,
) -> Result<Option<(Range<usize>, usize, bool)>, CodecError> {
    let Some(&flag) = buf.first() else {
        return Ok(None);
    };
    if flag > 1 {
        return Err(CodecError::wire(
            "grpc",
            format!("bad compressed flag {flag:#04x}"),
        ));
    }
    if buf.len() < GRPC_PREFIX {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    if len as u64 > max as u64 {
        return Err(CodecError::TooLarge {
            what: "grpc message size",
            size: len as u64,
            max: max as u64,
        });
    }
    let end = GRPC_PREFIX + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some((GRPC_PREFIX..end, end, flag == 1)))
}
