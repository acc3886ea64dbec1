//! HTML form bodies: `application/x-www-form-urlencoded` and
//! `multipart/form-data` (RFC 7578) read into named parts.
//!
//! Both read a body that is already in memory and borrow from it: a
//! multipart part's content is a slice of the body, a URL-encoded value
//! is borrowed unless it has escapes. What a parsed form holds besides the
//! body is one small record per part, and every part takes at least a
//! delimiter and a header in the body, so the memory of a form is bounded
//! by the body's size, whatever the number of parts.
//!
//! ```
//! use codecs::form::{self, FormKind};
//! let kind = FormKind::of("multipart/form-data; boundary=XyZ").unwrap().unwrap();
//! let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n";
//! let parts = form::parse(&kind, body).unwrap();
//! assert_eq!((parts[0].name.as_ref(), parts[0].data.as_ref()), ("a", &b"1"[..]));
//! ```

use std::borrow::Cow;

/// The largest header block of one multipart part.
pub const MAX_PART_HEAD: usize = 8 * 1024;

/// How a form body is encoded, from its `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormKind {
    UrlEncoded,
    Multipart { boundary: String },
}

impl FormKind {
    /// The form encoding a `Content-Type` names, if it names one; a
    /// multipart type without a usable boundary is an error.
    pub fn of(content_type: &str) -> Option<Result<FormKind, FormError>> {
        let mut params = content_type.split(';');
        let essence = params.next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Some(Ok(FormKind::UrlEncoded));
        }
        if !essence.eq_ignore_ascii_case("multipart/form-data") {
            return None;
        }
        let boundary = params.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| v.trim().trim_matches('"').to_string())
        });
        Some(match boundary {
            Some(b) if (1..=70).contains(&b.len()) && !b.contains(['\r', '\n']) => {
                Ok(FormKind::Multipart { boundary: b })
            }
            Some(_) => Err(FormError(
                "the multipart boundary must have 1 to 70 characters".into(),
            )),
            None => Err(FormError("multipart/form-data without a boundary".into())),
        })
    }
}

/// Whether a body sent as URL-encoded is JSON after all: it opens with
/// `{` or `[`, which no form field name does in practice. `curl -d` labels
/// every body URL-encoded, so JSON sent that way is read as JSON.
pub fn looks_like_json(body: &[u8]) -> bool {
    matches!(
        body.iter().find(|c| !c.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// One named value of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormPart<'a> {
    pub name: Cow<'a, str>,
    pub data: Cow<'a, [u8]>,
    /// The file name of a file part (multipart only).
    pub filename: Option<Cow<'a, str>>,
    /// The part's `Content-Type` (multipart only).
    pub content_type: Option<&'a str>,
}

impl FormPart<'_> {
    /// The value as text, if it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }
}

/// Why a form body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, FormError> {
    Err(FormError(m.into()))
}

/// The parts of a form body, in order.
pub fn parse<'a>(kind: &FormKind, body: &'a [u8]) -> Result<Vec<FormPart<'a>>, FormError> {
    match kind {
        FormKind::UrlEncoded => Ok(urlencoded(body)),
        FormKind::Multipart { boundary } => multipart(body, boundary),
    }
}

/// The pairs of a URL-encoded body: `+` is a space, `%XX` a byte. Values
/// keep their bytes (a binary field gets what was encoded); names, and
/// values read as text, are UTF-8 with U+FFFD for what is not, as browsers
/// and `serde_urlencoded` read them.
pub fn urlencoded(body: &[u8]) -> Vec<FormPart<'_>> {
    fn decode(s: &[u8]) -> Cow<'_, [u8]> {
        if !s.iter().any(|c| *c == b'+' || *c == b'%') {
            return Cow::Borrowed(s);
        }
        let spaced: Cow<'_, [u8]> = if s.contains(&b'+') {
            Cow::Owned(
                s.iter()
                    .map(|c| if *c == b'+' { b' ' } else { *c })
                    .collect(),
            )
        } else {
            Cow::Borrowed(s)
        };
        let decoded: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
        Cow::Owned(decoded)
    }
    body.split(|c| *c == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|c| *c == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            let name = match decode(name) {
                Cow::Borrowed(b) => String::from_utf8_lossy(b),
                Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
            };
            FormPart {
                name,
                data: decode(value),
                filename: None,
                content_type: None,
            }
        })
        .collect()
}

/// The parts of a `multipart/form-data` body with that boundary.
///
/// A preamble before the first delimiter and an epilogue after the last
/// are ignored, as RFC 2046 says. Each part needs a `Content-Disposition:
/// form-data` header with a `name`; its content runs to the next
/// CRLF-delimiter. Parameter values are read as browsers write them
/// (quoted, with `"` and newlines percent-encoded), without backslash
/// escapes.
pub fn multipart<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<FormPart<'a>>, FormError> {
    let dash = format!("--{boundary}");
    let delim = format!("\r\n--{boundary}");
    let finder = memchr::memmem::Finder::new(delim.as_bytes());
    // The first delimiter may open the body without a CRLF before it.
    let mut at = if body.starts_with(dash.as_bytes()) {
        dash.len()
    } else {
        match finder.find(body) {
            Some(i) => i + delim.len(),
            None => return err("no multipart boundary in the body"),
        }
    };
    let mut parts = Vec::new();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding, then the CRLF ending the delimiter line.
        let pad = rest
            .iter()
            .take_while(|c| **c == b' ' || **c == b'\t')
            .count();
        if !rest[pad..].starts_with(b"\r\n") {
            return err("a multipart delimiter is not followed by a line end");
        }
        at += pad + 2;
        let (head, skip) = if body[at..].starts_with(b"\r\n") {
            // A part with no headers starts with the empty line.
            (&body[at..at], 2)
        } else {
            let window = &body[at..body.len().min(at + MAX_PART_HEAD + 4)];
            match memchr::memmem::find(window, b"\r\n\r\n") {
                Some(i) => (&body[at..at + i], i + 4),
                None if window.len() > MAX_PART_HEAD => {
                    return err(format!(
                        "a multipart part's headers are longer than {MAX_PART_HEAD} bytes"
                    ));
                }
                None => return err("a multipart part's headers do not end"),
            }
        };
        let head = std::str::from_utf8(head)
            .map_err(|_| FormError("a multipart part's headers are not UTF-8".into()))?;
        at += skip;
        let end = match finder.find(&body[at..]) {
            Some(i) => at + i,
            None => return err("the multipart body ends before its closing boundary"),
        };
        let (name, filename, content_type) = part_head(head)?;
        parts.push(FormPart {
            name,
            data: Cow::Borrowed(&body[at..end]),
            filename,
            content_type,
        });
        at = end + delim.len();
    }
}

type Head<'a> = (Cow<'a, str>, Option<Cow<'a, str>>, Option<&'a str>);

/// The name, file name and content type in a part's header block.
fn part_head(head: &str) -> Result<Head<'_>, FormError> {
    let (mut name, mut filename, mut content_type) = (None, None, None);
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let Some((key, value)) = line.split_once(':') else {
            return err(format!("a multipart header line without a colon: {line:?}"));
        };
        let key = key.trim();
        if key.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim());
        } else if key.eq_ignore_ascii_case("content-disposition") {
            let mut params = Params(value);
            match params.token() {
                Some(kind) if kind.eq_ignore_ascii_case("form-data") => {}
                _ => return err("a multipart part whose disposition is not form-data"),
            }
            while let Some((k, v)) = params.next_param()? {
                if k.eq_ignore_ascii_case("name") {
                    name = Some(v);
                } else if k.eq_ignore_ascii_case("filename") {
                    filename = Some(v);
                }
            }
        }
    }
    match name {
        Some(n) => Ok((Cow::Borrowed(n), filename.map(Cow::Borrowed), content_type)),
        None => err("a multipart part without a Content-Disposition name"),
    }
}

/// The `; key=value` parameters of a header value.
struct Params<'a>(&'a str);

impl<'a> Params<'a> {
    fn token(&mut self) -> Option<&'a str> {
        let s = self.0.trim_start();
        let end = s.find(';').unwrap_or(s.len());
        let (t, rest) = s.split_at(end);
        self.0 = rest;
        let t = t.trim();
        (!t.is_empty()).then_some(t)
    }

    fn next_param(&mut self) -> Result<Option<(&'a str, &'a str)>, FormError> {
        let s = self.0.trim_start();
        let Some(s) = s.strip_prefix(';') else {
            return if s.is_empty() {
                Ok(None)
            } else {
                err("a malformed Content-Disposition")
            };
        };
        let s = s.trim_start();
        let Some(eq) = s.find('=') else {
            // A parameter without a value (`; x`): skip it.
            let end = s.find(';').unwrap_or(s.len());
            self.0 = &s[end..];
            return self.next_param();
        };
        let key = s[..eq].trim();
        let rest = s[eq + 1..].trim_start();
        let (value, rest) = match rest.strip_prefix('"') {
            Some(q) => match q.find('"') {
                Some(close) => (&q[..close], &q[close + 1..]),
                None => return err("an unterminated quoted Content-Disposition parameter"),
            },
            None => {
                let end = rest.find(';').unwrap_or(rest.len());
                (rest[..end].trim_end(), &rest[end..])
            }
        };
        self.0 = rest;
        Ok(Some((key, value)))
    }
}

#[cfg(test)]
mod tests;
