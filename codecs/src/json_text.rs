//! The JSON text writers every decoder shares (Thrift, Protobuf, Hessian),
//! producing the very text `serde_json::Serializer` writes for the same
//! values (escapes, number formats).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::ser::{CompactFormatter, Formatter};

/// For each byte: 0 copies it as is; otherwise the character after `\`
/// (`u` for `\u00XX`).
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Appends `s` as a JSON string literal.
#[inline]
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if esc == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends `bytes` as a quoted standard base64 string (with padding).
#[inline]
pub(crate) fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let start = out.len();
    let n = base64::encoded_len(bytes.len(), true).expect("length of a message field");
    out.resize(start + n, 0);
    let written = STANDARD
        .encode_slice(bytes, &mut out[start..])
        .expect("sized by encoded_len");
    out.truncate(start + written);
    out.push(b'"');
}

#[inline]
pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

#[inline]
pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

#[inline]
pub(crate) fn write_quoted_i64(out: &mut Vec<u8>, v: i64) {
    out.push(b'"');
    write_i64(out, v);
    out.push(b'"');
}

#[inline]
pub(crate) fn write_quoted_u64(out: &mut Vec<u8>, v: u64) {
    out.push(b'"');
    write_u64(out, v);
    out.push(b'"');
}

/// Finite floats are formatted by serde_json's own formatter (the shortest
/// text that reads back to the same value, in serde_json's exponent style).
#[inline]
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        // Writing to a Vec cannot fail.
        let _ = CompactFormatter.write_f64(out, v);
    } else {
        write_non_finite(out, v.is_nan(), v > 0.0);
    }
}

#[inline]
pub(crate) fn write_f32(out: &mut Vec<u8>, v: f32) {
    if v.is_finite() {
        let _ = CompactFormatter.write_f32(out, v);
    } else {
        write_non_finite(out, v.is_nan(), v > 0.0);
    }
}

/// Appends a 16-byte UUID in its canonical hyphenated lowercase form, quoted.
pub(crate) fn write_uuid(out: &mut Vec<u8>, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(HEX[(x >> 4) as usize]);
        out.push(HEX[(x & 0xf) as usize]);
    }
    out.push(b'"');
}

#[cold]
fn write_non_finite(out: &mut Vec<u8>, nan: bool, positive: bool) {
    out.extend_from_slice(if nan {
        b"\"NaN\""
    } else if positive {
        b"\"Infinity\""
    } else {
        b"\"-Infinity\""
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_as_serde_json() {
        for s in [
            "",
            "plain",
            "q\"b\\s/",
            "ctl\u{1}\u{1f}\u{7f}\n\t\r\u{8}\u{c}",
            "ünï😀",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
        for v in [
            0.0f64,
            -0.0,
            1.5,
            1e20,
            1e-7,
            123456789.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            0.1,
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            assert_eq!(out, serde_json::to_vec(&v).unwrap());
        }
        for v in [0.0f32, -0.0, 1.5, 1e20, 0.1, f32::MAX] {
            let mut out = Vec::new();
            write_f32(&mut out, v);
            assert_eq!(out, serde_json::to_vec(&v).unwrap());
        }
        let mut out = Vec::new();
        write_base64(&mut out, &[1, 2, 3, 255]);
        assert_eq!(out, b"\"AQID/w==\"");
    }
}
