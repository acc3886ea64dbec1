//! gRPC-Web framing (grpc `doc/PROTOCOL-WEB.md`): the messages of
//! gRPC's Length-Prefixed-Message, then the trailers as one more frame
//! whose flag has its top bit set (0x80) and whose body is an HTTP/1
//! header block (`name:value\r\n`, names lower-case); in the `-text`
//! variant, the bytes are base64, one padded run per chunk.

use base64::Engine as _;

use crate::CodecError;

/// The flag of the trailer frame.
pub const TRAILER_FLAG: u8 = 0x80;

/// Appends the trailer frame: `grpc-status`, `grpc-message`
/// (percent-encoded as gRPC wants it) when not empty, then `extra`.
pub fn grpc_web_trailers<'a>(
    code: u32,
    message: &str,
    extra: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.extend_from_slice(&[TRAILER_FLAG, 0, 0, 0, 0]);
    out.extend_from_slice(b"grpc-status:");
    out.extend_from_slice(itoa::Buffer::new().format(code).as_bytes());
    out.extend_from_slice(b"\r\n");
    if !message.is_empty() {
        out.extend_from_slice(b"grpc-message:");
        percent_encode_message(message, out);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in extra {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    let len = (out.len() - start - 5) as u32;
    out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
}

/// `grpc-message` encoding: bytes outside printable ASCII, and `%`, as
/// `%XX` (`PROTOCOL-HTTP2.md`, "Status-Message").
fn percent_encode_message(message: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in message.as_bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
    }
}

/// Decodes a `-text` body: base64, possibly several padded runs one after
/// the other (each chunk a client sent encoded on its own); whitespace is
/// not allowed. At most `max` bytes come out.
pub fn grpc_web_text_decode(text: &[u8], max: usize) -> Result<Vec<u8>, CodecError> {
    if text.len() / 4 * 3 > max.saturating_add(3) {
        return Err(CodecError::TooLarge {
            what: "grpc-web-text body",
            size: (text.len() / 4 * 3) as u64,
            max: max as u64,
        });
    }
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut rest = text;
    while !rest.is_empty() {
        // A run ends after its padding, or at the end.
        let end = match rest.iter().position(|&c| c == b'=') {
            Some(p) => {
                let pad = rest[p..].iter().take_while(|&&c| c == b'=').count();
                p + pad
            }
            None => rest.len(),
        };
        engine
            .decode_vec(&rest[..end], &mut out)
            .map_err(|e| CodecError::wire("grpc-web-text", format!("bad base64: {e}")))?;
        rest = &rest[end..];
    }
    if out.len() > max {
        return Err(CodecError::TooLarge {
            what: "grpc-web-text body",
            size: out.len() as u64,
            max: max as u64,
        });
    }
    Ok(out)
}

/// Encodes bytes for a `-text` response (one padded run).
pub fn grpc_web_text_encode(bytes: &[u8]) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .into_bytes()
}

/// The one message of a unary or server-streaming request body: its
/// bytes and whether its compressed flag is set. A body with no message,
/// more than one, a trailer frame or bytes left over is refused.
pub fn grpc_web_request(body: &[u8], max: usize) -> Result<(&[u8], bool), CodecError> {
    let bad = |m: &str| CodecError::wire("grpc-web", m.to_string());
    if body.first().is_some_and(|f| f & TRAILER_FLAG != 0) {
        return Err(bad("a request carries no trailer frame"));
    }
    let Some((range, used, compressed)) = super::grpc_unframe(body, max)? else {
        return Err(bad(if body.is_empty() {
            "the request has no message"
        } else {
            "the request message is cut short"
        }));
    };
    if used != body.len() {
        return Err(bad(
            "the request has more than one message (gRPC-Web carries no client streams)",
        ));
    }
    Ok((&body[range], compressed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_frames_as_the_spec_lays_them_out() {
        let mut out = Vec::new();
        grpc_web_trailers(5, "no item 7: 100%", [("x-extra", &b"1"[..])], &mut out);
        let block = b"grpc-status:5\r\ngrpc-message:no item 7: 100%25\r\nx-extra:1\r\n";
        assert_eq!(out[0], 0x80);
        assert_eq!(
            u32::from_be_bytes(out[1..5].try_into().unwrap()) as usize,
            block.len()
        );
        assert_eq!(&out[5..], block);
        let mut ok = Vec::new();
        grpc_web_trailers(0, "", [], &mut ok);
        assert_eq!(&ok[5..], b"grpc-status:0\r\n");
        let mut utf = Vec::new();
        grpc_web_trailers(2, "é", [], &mut utf);
        assert!(utf.ends_with(b"grpc-message:%C3%A9\r\n"));
    }

    #[test]
    fn text_bodies_in_one_run_or_several() {
        let mut framed = Vec::new();
        super::super::grpc_frame(b"\x08\x01", &mut framed);
        let one = grpc_web_text_encode(&framed);
        assert_eq!(grpc_web_text_decode(&one, 100).unwrap(), framed);
        // Two chunks encoded apart: "AAAAAA==" then "AggB".
        let mut two = grpc_web_text_encode(&framed[..4]);
        two.extend(grpc_web_text_encode(&framed[4..]));
        assert_eq!(grpc_web_text_decode(&two, 100).unwrap(), framed);
        assert!(grpc_web_text_decode(b"AA*A", 100).is_err());
        assert!(grpc_web_text_decode(b"AA AA===", 100).is_err());
        assert!(matches!(
            grpc_web_text_decode(&grpc_web_text_encode(&[0; 300]), 100),
            Err(CodecError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_request_is_one_message() {
        let mut framed = Vec::new();
        super::super::grpc_frame(b"\x08\x01", &mut framed);
        assert_eq!(
            grpc_web_request(&framed, 100).unwrap(),
            (&b"\x08\x01"[..], false)
        );
        let mut two = framed.clone();
        two.extend_from_slice(&framed);
        assert!(grpc_web_request(&two, 100).is_err());
        assert!(grpc_web_request(&framed[..4], 100).is_err());
        assert!(grpc_web_request(b"", 100).is_err());
        assert!(grpc_web_request(b"\x80\0\0\0\0", 100).is_err());
        assert!(matches!(
            grpc_web_request(&framed, 1),
            Err(CodecError::TooLarge { .. })
        ));
    }
}
