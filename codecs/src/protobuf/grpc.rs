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

/// Inflates one gzip-compressed message (`grpc-encoding: gzip`), refusing
/// output over `max` bytes.
pub fn grpc_gunzip(data: &[u8], max: usize) -> Result<Vec<u8>, CodecError> {
    use std::io::Read as _;
    let mut out = Vec::with_capacity(data.len().saturating_mul(2).min(max));
    let mut dec = flate2::read::GzDecoder::new(data).take(max as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| CodecError::wire("grpc", format!("bad gzip message: {e}")))?;
    if out.len() > max {
        return Err(CodecError::TooLarge {
            what: "inflated grpc message",
            size: out.len() as u64,
            max: max as u64,
        });
    }
    Ok(out)
}

/// The text of a `grpc-message` trailer: percent-encoded UTF-8
/// (`PROTOCOL-HTTP2.md`, "Status-Message"); a malformed escape is kept as is.
pub fn grpc_message_text(value: &[u8]) -> String {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%'
            && let Some(hex) = value.get(i + 1..i + 3)
            && let Some(v) = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(value[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A binary metadata value (`-bin` keys such as `grpc-status-details-bin`):
/// base64, padded or not.
pub fn grpc_binary_metadata(value: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = value.strip_suffix(b"==").unwrap_or(value);
    let text = text.strip_suffix(b"=").unwrap_or(text);
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_text_and_binary_metadata() {
        assert_eq!(grpc_message_text(b"a%20b%zz%4"), "a b%zz%4");
        assert_eq!(grpc_message_text("caf%C3%A9".as_bytes()), "café");
        assert_eq!(grpc_binary_metadata(b"AQID").unwrap(), [1, 2, 3]);
        assert_eq!(grpc_binary_metadata(b"AQI=").unwrap(), [1, 2]);
        assert_eq!(grpc_binary_metadata(b"AQ==").unwrap(), [1]);
        assert!(grpc_binary_metadata(b"!!").is_none());
    }

    #[test]
    fn gunzip_is_bounded() {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[7u8; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(grpc_gunzip(&gz, 10_000).unwrap().len(), 10_000);
        assert!(grpc_gunzip(&gz, 9_999).is_err());
        assert!(grpc_gunzip(b"not gzip", 100).is_err());
    }
}
