//! Protobuf wire primitives for the one-pass transcoders: varints, keys,
//! zigzag, and the reader that checks every length against the buffer.
//!
//! Spec: <https://protobuf.dev/programming-guides/encoding/>. Reading follows
//! prost's rules (`prost::encoding`) so that the one-pass decoder accepts and
//! rejects exactly the bytes `DynamicMessage::decode` does: at most 10 varint
//! bytes with the last one at most 1, keys within `u32`, field number >= 1.

use std::fmt;

pub(super) const VARINT: u8 = 0;
pub(super) const FIXED64: u8 = 1;
pub(super) const LEN: u8 = 2;
pub(super) const START_GROUP: u8 = 3;
pub(super) const END_GROUP: u8 = 4;
pub(super) const FIXED32: u8 = 5;

/// prost's default recursion limit, which the reference decoder applies.
pub(super) const RECURSION_LIMIT: u32 = 100;

/// Appends `v` as a varint.
#[inline]
pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    out.reserve(10);
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub(super) fn varint_len(v: u64) -> usize {
    // 1 byte per started 7 bits, at least 1.
    ((((v | 1).ilog2()) * 9 + 73) / 64) as usize
}

#[inline]
pub(super) fn zigzag32(v: i32) -> u64 {
    ((v << 1) ^ (v >> 31)) as u32 as u64
}

#[inline]
pub(super) fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub(super) fn unzigzag32(v: u64) -> i32 {
    let n = v as u32;
    ((n >> 1) as i32) ^ (-((n & 1) as i32))
}

#[inline]
pub(super) fn unzigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ (-((v & 1) as i64))
}

/// A field key (tag and wire type) as its varint bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Key {
    bytes: [u8; 5],
    len: u8,
}

impl Key {
    pub(super) fn new(number: u32, wire_type: u8) -> Key {
        let mut v = Vec::with_capacity(5);
        put_varint(&mut v, (u64::from(number) << 3) | u64::from(wire_type));
        let mut bytes = [0u8; 5];
        bytes[..v.len()].copy_from_slice(&v);
        Key {
            bytes,
            len: v.len() as u8,
        }
    }

    #[inline]
    pub(super) fn put(&self, out: &mut Vec<u8>) {
        if self.len == 1 {
            out.push(self.bytes[0]);
        } else {
            out.extend_from_slice(&self.bytes[..self.len as usize]);
        }
    }
}

/// Marks where a length-delimited value starts: [`end_len`] writes its
/// length in front of it once it is complete.
#[inline]
pub(super) fn begin_len(out: &mut Vec<u8>) -> usize {
    // One byte is reserved: most nested values are shorter than 128 bytes.
    out.push(0);
    out.len()
}

/// Writes the length of the value begun at `mark`, moving the value if the
/// length takes more than the byte reserved for it.
#[inline]
pub(super) fn end_len(out: &mut Vec<u8>, mark: usize) {
    let len = out.len() - mark;
    if len < 0x80 {
        out[mark - 1] = len as u8;
        return;
    }
    end_len_long(out, mark, len);
}

#[cold]
#[inline(never)]
fn end_len_long(out: &mut Vec<u8>, mark: usize, len: usize) {
    let n = varint_len(len as u64);
    let end = out.len();
    out.resize(end + n - 1, 0);
    out.copy_within(mark..end, mark + n - 1);
    let mut v = len as u64;
    let mut i = mark - 1;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
}

/// Why bytes are not a valid message; shown as prost shows its errors
/// (without their values: a one-byte error keeps results in registers on
/// the hot path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WireError {
    InvalidVarint,
    InvalidKey,
    InvalidWireTypeValue,
    InvalidTag,
    WrongWireType,
    BufferUnderflow,
    UnexpectedEndGroup,
    RecursionLimit,
    InvalidUtf8,
    /// prost-reflect, which reads and writes well-known types, failed (its
    /// message is kept by the decoder).
    Reference,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failed to decode Protobuf message: ")?;
        f.write_str(match self {
            WireError::InvalidVarint => "invalid varint",
            WireError::InvalidKey => "invalid key value",
            WireError::InvalidWireTypeValue => "invalid wire type value",
            WireError::InvalidTag => "invalid tag value: 0",
            WireError::WrongWireType => "invalid wire type",
            WireError::BufferUnderflow => "buffer underflow",
            WireError::UnexpectedEndGroup => "unexpected end group tag",
            WireError::RecursionLimit => "recursion limit reached",
            WireError::InvalidUtf8 => "invalid string value: data is not UTF-8 encoded",
            WireError::Reference => "well-known type",
        })
    }
}

/// Reads a slice of the message bytes; positions are absolute offsets into
/// the whole buffer, so that ranges can be kept and read again later.
pub(super) struct Reader<'b> {
    pub(super) buf: &'b [u8],
    pub(super) pos: usize,
    pub(super) end: usize,
}

impl<'b> Reader<'b> {
    #[inline]
    pub(super) fn new(buf: &'b [u8], start: usize, end: usize) -> Self {
        Reader {
            buf,
            pos: start,
            end,
        }
    }

    #[inline]
    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    #[inline]
    pub(super) fn varint(&mut self) -> Result<u64, WireError> {
        let bytes = &self.buf[self.pos..self.end];
        if let Some(&b0) = bytes.first() {
            if b0 < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b0));
            }
            if let Some(&b1) = bytes.get(1)
                && b1 < 0x80
            {
                self.pos += 2;
                return Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7));
            }
        }
        self.varint_slow()
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, WireError> {
        let bytes = &self.buf[self.pos..self.end];
        let mut v = 0u64;
        for (i, &b) in bytes.iter().take(10).enumerate() {
            v |= u64::from(b & 0x7f) << (i * 7);
            if b < 0x80 {
                // The tenth byte may only carry the top bit of a u64.
                if i == 9 && b >= 0x02 {
                    return Err(WireError::InvalidVarint);
                }
                self.pos += i + 1;
                return Ok(v);
            }
        }
        Err(WireError::InvalidVarint)
    }

    /// Reads a field key: (field number, wire type).
    #[inline]
    pub(super) fn key(&mut self) -> Result<(u32, u8), WireError> {
        let k = self.varint()?;
        if k > u64::from(u32::MAX) {
            return Err(WireError::InvalidKey);
        }
        let wt = k & 7;
        if wt > 5 {
            return Err(WireError::InvalidWireTypeValue);
        }
        let number = (k >> 3) as u32;
        if number == 0 {
            return Err(WireError::InvalidTag);
        }
        Ok((number, wt as u8))
    }

    #[inline]
    pub(super) fn fixed32(&mut self) -> Result<u32, WireError> {
        let b = self
            .buf
            .get(self.pos..self.pos + 4)
            .filter(|_| self.pos + 4 <= self.end)
            .ok_or(WireError::BufferUnderflow)?;
        self.pos += 4;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline]
    pub(super) fn fixed64(&mut self) -> Result<u64, WireError> {
        let b = self
            .buf
            .get(self.pos..self.pos + 8)
            .filter(|_| self.pos + 8 <= self.end)
            .ok_or(WireError::BufferUnderflow)?;
        self.pos += 8;
        Ok(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    /// Reads a length prefix and returns the (start, end) of the bytes it
    /// announces, which must lie within this reader.
    #[inline]
    pub(super) fn len_delimited(&mut self) -> Result<(usize, usize), WireError> {
        let len = self.varint()?;
        if len > (self.end - self.pos) as u64 {
            return Err(WireError::BufferUnderflow);
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok((start, self.pos))
    }

    /// Skips a field of a message that names no known field, as
    /// prost-reflect's `UnknownField::decode_value` reads it; `ctx` is
    /// prost's remaining recursion budget.
    pub(super) fn skip_unknown(&mut self, number: u32, wt: u8, ctx: u32) -> Result<(), WireError> {
        match wt {
            VARINT => self.varint().map(drop),
            FIXED64 => self.fixed64().map(drop),
            FIXED32 => self.fixed32().map(drop),
            LEN => self.len_delimited().map(drop),
            START_GROUP => {
                if ctx == 0 {
                    return Err(WireError::RecursionLimit);
                }
                loop {
                    let (n, t) = self.key()?;
                    if t == END_GROUP {
                        if n != number {
                            return Err(WireError::UnexpectedEndGroup);
                        }
                        return Ok(());
                    }
                    self.skip_unknown(n, t, ctx - 1)?;
                }
            }
            _ => Err(WireError::WrongWireType),
        }
    }

    /// Skips a field as `prost::encoding::skip_field` does (inside map
    /// entries): every field checks the recursion budget.
    pub(super) fn skip_field(&mut self, number: u32, wt: u8, ctx: u32) -> Result<(), WireError> {
        if ctx == 0 {
            return Err(WireError::RecursionLimit);
        }
        match wt {
            START_GROUP => loop {
                let (n, t) = self.key()?;
                if t == END_GROUP {
                    if n != number {
                        return Err(WireError::UnexpectedEndGroup);
                    }
                    return Ok(());
                }
                self.skip_field(n, t, ctx - 1)?;
            },
            END_GROUP => Err(WireError::UnexpectedEndGroup),
            _ => self.skip_unknown(number, wt, ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_prost() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut a = Vec::new();
            put_varint(&mut a, v);
            let mut b = Vec::new();
            prost::encoding::encode_varint(v, &mut b);
            assert_eq!(a, b);
            assert_eq!(varint_len(v), b.len(), "{v}");
            let mut r = Reader::new(&a, 0, a.len());
            assert_eq!(r.varint().unwrap(), v);
            assert!(r.at_end());
        }
        for bad in [
            &[0x80u8][..],
            &[0xff; 10],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
        ] {
            assert_eq!(
                Reader::new(bad, 0, bad.len()).varint(),
                Err(WireError::InvalidVarint)
            );
        }
        for v in [0i32, 1, -1, i32::MIN, i32::MAX] {
            assert_eq!(unzigzag32(zigzag32(v)), v);
        }
        for v in [0i64, 1, -1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag64(zigzag64(v)), v);
        }
    }

    #[test]
    fn long_lengths_move_the_value() {
        for n in [0usize, 1, 127, 128, 300, 20_000] {
            let mut out = vec![9u8];
            let mark = begin_len(&mut out);
            out.extend(std::iter::repeat_n(7u8, n));
            end_len(&mut out, mark);
            let mut want = vec![9u8];
            prost::encoding::encode_varint(n as u64, &mut want);
            want.extend(std::iter::repeat_n(7u8, n));
            assert_eq!(out, want, "{n}");
        }
    }
}
