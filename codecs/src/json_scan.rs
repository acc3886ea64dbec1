//! A pull scanner over JSON text for the one-pass encoders: the caller walks
//! the IDL type and asks for the token it expects, so no token stream, no
//! visitor indirection and no `serde_json::Value` stand between the body and
//! the output bytes.
//!
//! It accepts exactly RFC 8259 JSON (what `serde_json` accepts): no trailing
//! commas, no comments, no leading zeros, strings valid UTF-8 without raw
//! control characters and without lone surrogate escapes. Object keys
//! without escapes are handed out as raw bytes so that known field names are
//! matched without a UTF-8 pass; [`Key::as_str`] validates the others.

use std::borrow::Cow;

/// A syntax error: message plus byte offset.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub msg: &'static str,
    pub at: usize,
}

/// A number as written: integers exactly while they fit, floats otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// A non-negative integer.
    U(u64),
    /// A negative integer.
    I(i64),
    F(f64),
}

/// An object key.
pub(crate) enum Key<'a> {
    /// Written without escapes; not yet checked to be UTF-8.
    Raw(&'a [u8]),
    /// Had escapes; decoded (and therefore valid).
    Owned(String),
}

impl Key<'_> {
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match self {
            Key::Raw(b) => b,
            Key::Owned(s) => s.as_bytes(),
        }
    }

    /// The key as text; an error for a raw key that is not UTF-8.
    pub fn as_str(&self) -> Result<&str, &'static str> {
        match self {
            Key::Raw(b) => std::str::from_utf8(b).map_err(|_| "invalid unicode in string"),
            Key::Owned(s) => Ok(s),
        }
    }
}

pub(crate) struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

type R<T> = Result<T, SyntaxError>;

impl<'a> Scan<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Scan { b, i: 0 }
    }

    #[inline]
    pub fn pos(&self) -> usize {
        self.i
    }

    /// A syntax error at the cursor.
    #[cold]
    pub fn error(&self, msg: &'static str) -> SyntaxError {
        SyntaxError { msg, at: self.i }
    }

    #[cold]
    pub fn fail<T>(&self, msg: &'static str) -> R<T> {
        Err(self.error(msg))
    }

    /// `line L column C` of byte offset `at`, for messages.
    pub fn line_col(&self, at: usize) -> (usize, usize) {
        let before = &self.b[..at.min(self.b.len())];
        let line = 1 + before.iter().filter(|&&c| c == b'\n').count();
        let col = 1 + before.len()
            - before
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |p| p + 1);
        (line, col)
    }

    /// Skips whitespace; the next byte, if any.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(c);
            }
            self.i += 1;
        }
        None
    }

    /// Consumes the byte [`Scan::peek`] returned.
    #[inline]
    pub fn bump(&mut self) {
        self.i += 1;
    }

    /// Only whitespace left.
    pub fn end(&mut self) -> R<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.fail("trailing characters"),
        }
    }

    /// After `{` (consumed by the caller): the next key, or `None` at `}`.
    /// `first` tracks whether a `,` is due.
    #[inline]
    pub fn next_key(&mut self, first: &mut bool) -> R<Option<Key<'a>>> {
        match self.peek() {
            Some(b'}') => {
                self.i += 1;
                return Ok(None);
            }
            Some(b',') if !*first => {
                self.i += 1;
                self.peek();
            }
            Some(_) if !*first => return self.fail("expected `,` or `}`"),
            Some(_) => {}
            None => return self.fail("EOF while parsing an object"),
        }
        *first = false;
        match self.b.get(self.i) {
            Some(b'"') => {}
            Some(_) => return self.fail("key must be a string"),
            None => return self.fail("EOF while parsing an object"),
        }
        self.i += 1;
        let start = self.i;
        let key = match self.plain_run() {
            Some(end) => {
                self.i = end + 1;
                Key::Raw(&self.b[start..end])
            }
            None => Key::Owned(self.escaped(start)?),
        };
        match self.peek() {
            Some(b':') => {
                self.i += 1;
                Ok(Some(key))
            }
            Some(_) => self.fail("expected `:`"),
            None => self.fail("EOF while parsing an object"),
        }
    }

    /// After `[` (consumed by the caller): whether another element follows.
    #[inline]
    pub fn next_element(&mut self, first: &mut bool) -> R<bool> {
        match self.peek() {
            Some(b']') => {
                self.i += 1;
                Ok(false)
            }
            Some(b',') if !*first => {
                self.i += 1;
                Ok(true)
            }
            Some(_) if !*first => self.fail("expected `,` or `]`"),
            Some(_) => {
                *first = false;
                Ok(true)
            }
            None => self.fail("EOF while parsing a list"),
        }
    }

    /// From the byte after an opening quote: the index of the closing quote
    /// if the string has no escape and no control character.
    #[inline]
    fn plain_run(&self) -> Option<usize> {
        let rest = &self.b[self.i..];
        let n = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        (rest[n] == b'"').then_some(self.i + n)
    }

    /// A string value (at its opening quote).
    #[inline]
    pub fn string(&mut self) -> R<Cow<'a, str>> {
        self.i += 1;
        let start = self.i;
        match self.plain_run() {
            Some(end) => match std::str::from_utf8(&self.b[start..end]) {
                Ok(s) => {
                    self.i = end + 1;
                    Ok(Cow::Borrowed(s))
                }
                Err(e) => {
                    self.i = start + e.valid_up_to();
                    self.fail("invalid unicode in string")
                }
            },
            None => self.escaped(start).map(Cow::Owned),
        }
    }

    /// Decodes a string with escapes from `start` (just after the quote)
    /// through its closing quote.
    #[cold]
    fn escaped(&mut self, start: usize) -> R<String> {
        self.i = start;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return self.fail("EOF while parsing a string");
            };
            match c {
                b'"' => {
                    self.i += 1;
                    break;
                }
                b'\\' => {
                    self.i += 1;
                    let Some(&e) = self.b.get(self.i) else {
                        return self.fail("EOF while parsing a string");
                    };
                    self.i += 1;
                    let simple = match e {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let ch = self.unicode_escape()?;
                            let mut tmp = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                            continue;
                        }
                        _ => {
                            self.i -= 1;
                            return self.fail("invalid escape");
                        }
                    };
                    out.push(simple);
                }
                c if c < 0x20 => return self.fail("control character in string"),
                c => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out).or_else(|_| {
            self.i = start;
            self.fail("invalid unicode in string")
        })
    }

    fn hex4(&mut self) -> R<u32> {
        let Some(digits) = self.b.get(self.i..self.i + 4) else {
            self.i = self.b.len();
            return self.fail("EOF while parsing a string");
        };
        let mut v = 0u32;
        for &d in digits {
            let Some(x) = (d as char).to_digit(16) else {
                return self.fail("invalid escape");
            };
            v = v * 16 + x;
        }
        self.i += 4;
        Ok(v)
    }

    /// After `\u`: one code point (a surrogate pair counts as one).
    fn unicode_escape(&mut self) -> R<char> {
        let hi = self.hex4()?;
        let cp = match hi {
            0xD800..=0xDBFF => {
                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                    return self.fail("lone leading surrogate in hex escape");
                }
                self.i += 2;
                let lo = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return self.fail("lone leading surrogate in hex escape");
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            0xDC00..=0xDFFF => return self.fail("lone trailing surrogate in hex escape"),
            cp => cp,
        };
        char::from_u32(cp).map_or_else(|| self.fail("invalid escape"), Ok)
    }

    /// A number (at its first byte, `-` or a digit).
    #[inline]
    pub fn number(&mut self) -> R<Num> {
        let start = self.i;
        let neg = self.b.get(self.i) == Some(&b'-');
        if neg {
            self.i += 1;
        }
        let digits = self.i;
        let mut v: u64 = 0;
        let mut overflow = false;
        while let Some(&c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            match v
                .checked_mul(10)
                .and_then(|x| x.checked_add((c - b'0') as u64))
            {
                Some(x) => v = x,
                None => overflow = true,
            }
            self.i += 1;
        }
        let n = self.i - digits;
        if n == 0 {
            return self.fail("invalid number");
        }
        if n > 1 && self.b[digits] == b'0' {
            self.i = digits + 1;
            return self.fail("invalid number");
        }
        let mut float = overflow;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !self.digits() {
                return self.fail("invalid number");
            }
            float = true;
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !self.digits() {
                return self.fail("invalid number");
            }
            float = true;
        }
        if !float {
            if !neg {
                return Ok(Num::U(v));
            }
            if v == 0 {
                return Ok(Num::F(-0.0));
            }
            if v <= i64::MAX as u64 + 1 {
                return Ok(Num::I((v as i64).wrapping_neg()));
            }
        }
        // The grammar was checked above, so Rust's parser accepts the text;
        // it rounds correctly, like serde_json.
        let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Num::F(f)),
            _ => {
                self.i = start;
                self.fail("number out of range")
            }
        }
    }

    fn digits(&mut self) -> bool {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i > start
    }

    /// `true`, `false` or `null` at the cursor, whose first byte is known.
    #[inline]
    pub fn literal(&mut self, word: &'static [u8]) -> R<()> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else if self.b.len() - self.i < word.len() && word.starts_with(&self.b[self.i..]) {
            self.i = self.b.len();
            self.fail("EOF while parsing a value")
        } else {
            self.fail("expected value")
        }
    }

    /// Skips one value (checking its syntax), nesting at most `depth` deep.
    pub fn skip(&mut self, depth: usize) -> R<()> {
        match self.peek() {
            Some(b'{') => {
                if depth == 0 {
                    return self.fail("recursion limit exceeded");
                }
                self.i += 1;
                let mut first = true;
                while let Some(key) = self.next_key(&mut first)? {
                    if let Key::Raw(b) = key
                        && std::str::from_utf8(b).is_err()
                    {
                        return self.fail("invalid unicode in string");
                    }
                    self.skip(depth - 1)?;
                }
                Ok(())
            }
            Some(b'[') => {
                if depth == 0 {
                    return self.fail("recursion limit exceeded");
                }
                self.i += 1;
                let mut first = true;
                while self.next_element(&mut first)? {
                    self.skip(depth - 1)?;
                }
                Ok(())
            }
            Some(b'"') => self.string().map(drop),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(_) => self.fail("expected value"),
            None => self.fail("EOF while parsing a value"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the scanner accepts `text` as one JSON value.
    fn accepts(text: &[u8]) -> bool {
        let mut s = Scan::new(text);
        s.skip(128).and_then(|_| s.end()).is_ok()
    }

    #[test]
    fn numbers_match_serde_json() {
        for text in [
            "0",
            "-0",
            "7",
            "-7",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1.5",
            "-1.25e3",
            "1E2",
            "1e-2",
            "2.2250738585072014e-308",
            "0.1",
            "123456789012345678901234567890",
        ] {
            let want: serde_json::Value = serde_json::from_str(text).unwrap();
            let got = Scan::new(text.as_bytes()).number().unwrap();
            let got = match got {
                Num::U(u) => serde_json::Value::from(u),
                Num::I(i) => serde_json::Value::from(i),
                Num::F(f) => serde_json::Value::from(f),
            };
            assert_eq!(got, want, "{text}");
        }
        for bad in ["-", "01", "1.", "1e", "1e+", ".5", "-a", "1e400"] {
            let mut s = Scan::new(bad.as_bytes());
            assert!(s.number().and_then(|_| s.end()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn strings_decode_like_serde_json() {
        for text in [
            r#""plain""#,
            r#""tab\tquote\"slash\/back\\""#,
            r#""\u00e9\u4e2d\ud83d\ude00""#,
            "\"caf\u{e9} \u{1f600}\"",
            r#""\b\f\n\r""#,
        ] {
            let want: String = serde_json::from_str(text).unwrap();
            assert_eq!(Scan::new(text.as_bytes()).string().unwrap(), want);
        }
        for bad in [
            &b"\"open"[..],
            b"\"bad \\x escape\"",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"\\ud800\\u0041\"",
            b"\"\\u12\"",
            b"\"ctl \x01\"",
            b"\"\xff\"",
            b"\"\\n\xc3\"",
        ] {
            assert!(
                Scan::new(bad).string().is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
            assert!(serde_json::from_slice::<String>(bad).is_err());
        }
    }

    /// Structure accepted exactly when serde_json accepts it, over a corpus of
    /// valid documents and every truncation and single-byte change of them.
    #[test]
    fn syntax_agrees_with_serde_json() {
        let docs: [&[u8]; 6] = [
            br#"{"a":[1,2.5,-3e2,{"b":null}],"c":"x\"y","d":true,"e":false}"#,
            br#" [ {} , [ ] , "" , 0 ] "#,
            b"{\"k\":\"\xc3\xa9\\u00e9\",\"n\":[[[[1]]]]}",
            br#"{"a":1,"a":2}"#,
            br#"-0.0e-0"#,
            b"\"\\ud83d\\ude00\"",
        ];
        let swaps = b"{}[],:\"\\ 0-.eEtfnu\x01\xff";
        for doc in docs {
            assert!(accepts(doc), "{}", String::from_utf8_lossy(doc));
            for cut in 0..doc.len() {
                let t = &doc[..cut];
                assert_eq!(
                    accepts(t),
                    serde_json::from_slice::<serde_json::Value>(t).is_ok(),
                    "{}",
                    String::from_utf8_lossy(t)
                );
            }
            for i in 0..doc.len() {
                for &c in swaps {
                    let mut t = doc.to_vec();
                    t[i] = c;
                    assert_eq!(
                        accepts(&t),
                        serde_json::from_slice::<serde_json::Value>(&t).is_ok(),
                        "{}",
                        String::from_utf8_lossy(&t)
                    );
                    t.insert(i, c);
                    assert_eq!(
                        accepts(&t),
                        serde_json::from_slice::<serde_json::Value>(&t).is_ok(),
                        "{}",
                        String::from_utf8_lossy(&t)
                    );
                }
            }
        }
    }

    #[test]
    fn positions_are_reported_as_line_and_column() {
        let s = Scan::new(b"{\n  \"a\": x\n}");
        assert_eq!(s.line_col(9), (2, 8));
        assert_eq!(s.line_col(0), (1, 1));
    }
}
