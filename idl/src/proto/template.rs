//! `google.api.http` path templates, read as Envoy's gRPC-JSON transcoder and
//! grpc-gateway read them:
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb     = ":" LITERAL ;
//! ```
//!
//! A template is parsed once into a flat list of segment matchers; variables
//! are ranges over that list, so matching a request path is one pass over its
//! segments with no backtracking (`**` may only be the last segment).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// A literal segment, percent-decoded.
    Literal(String),
    /// `*`: exactly one non-empty segment.
    Single,
    /// `**`: zero or more segments; only ever the last one.
    Multi,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Variable {
    field_path: String,
    /// Range of [`PathTemplate::segments`] the variable captures.
    start: usize,
    end: usize,
}

/// A parsed `google.api.http` path template such as
/// `/v1/{name=shelves/*/books/*}` or `/v1/{name=operations/**}:cancel`.
///
/// ```
/// use idl::proto::PathTemplate;
/// let t = PathTemplate::parse("/v1/{name=shelves/*/books/*}").unwrap();
/// assert_eq!(
///     t.matches("/v1/shelves/1/books/2"),
///     Some(vec![("name".to_string(), "shelves/1/books/2".to_string())])
/// );
/// assert_eq!(t.matches("/v1/shelves/1"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    source: String,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    verb: Option<String>,
}

impl PathTemplate {
    /// Parses a template; the error says what is wrong and at which byte.
    pub fn parse(template: &str) -> Result<PathTemplate, String> {
        Parser::new(template).parse()
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The custom verb (`cancel` in `/v1/{name=operations/**}:cancel`), if any.
    pub fn verb(&self) -> Option<&str> {
        self.verb.as_deref()
    }

    /// The field paths bound by the template's variables, in order (`sub.subfield`).
    pub fn field_paths(&self) -> impl Iterator<Item = &str> {
        self.variables.iter().map(|v| v.field_path.as_str())
    }

    /// The template as an OpenAPI path: each variable as `{field.path}`, a
    /// wildcard outside any variable as `{_N}` (N: its segment); with each
    /// of those parameters and a regular expression of the values it
    /// matches (a variable over several segments takes their `/` as it is).
    ///
    /// ```
    /// use idl::proto::PathTemplate;
    /// let t = PathTemplate::parse("/v1/{name=shelves/*}:get").unwrap();
    /// assert_eq!(
    ///     t.openapi(),
    ///     ("/v1/{name}:get".to_string(), vec![("name".to_string(), "^shelves/[^/]+$".to_string())])
    /// );
    /// ```
    pub fn openapi(&self) -> (String, Vec<(String, String)>) {
        let pattern = |segs: &[Segment]| {
            let parts: Vec<String> = segs
                .iter()
                .map(|s| match s {
                    Segment::Literal(l) => regex_escape(l),
                    Segment::Single => "[^/]+".to_string(),
                    Segment::Multi => ".*".to_string(),
                })
                .collect();
            format!("^{}$", parts.join("/"))
        };
        let mut path = String::new();
        let mut params = Vec::new();
        let mut i = 0;
        while i < self.segments.len() {
            path.push('/');
            if let Some(v) = self.variables.iter().find(|v| v.start == i) {
                path.push_str(&format!("{{{}}}", v.field_path));
                params.push((
                    v.field_path.clone(),
                    pattern(&self.segments[v.start..v.end]),
                ));
                i = v.end.max(i + 1);
                continue;
            }
            match &self.segments[i] {
                Segment::Literal(l) => path.push_str(l),
                wild => {
                    let name = format!("_{i}");
                    path.push_str(&format!("{{{name}}}"));
                    params.push((name, pattern(std::slice::from_ref(wild))));
                }
            }
            i += 1;
        }
        if path.is_empty() {
            path.push('/');
        }
        if let Some(verb) = &self.verb {
            path.push(':');
            path.push_str(verb);
        }
        (path, params)
    }

    /// Whether the template has no wildcard or variable (a fixed path).
    pub fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// Matches a request path (anything from `?` on is ignored). On a match,
    /// returns each variable's field path with its value: percent-decoded, and
    /// for a variable over several segments the `/`-joined segments (there
    /// `%2F` stays encoded, as `google.api.http` specifies).
    ///
    /// Without a verb in the template a `:` is an ordinary character of the
    /// last segment; with one, the path must end in `:verb`.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let path = match path.find('?') {
            Some(i) => &path[..i],
            None => path,
        };
        let mut rest = path.strip_prefix('/')?;
        if let Some(verb) = &self.verb {
            rest = rest.strip_suffix(verb.as_str())?.strip_suffix(':')?;
        }
        if self.segments.is_empty() {
            return rest.is_empty().then(Vec::new);
        }

        let multi = matches!(self.segments.last(), Some(Segment::Multi));
        let fixed = self.segments.len() - usize::from(multi);
        // Byte ranges of the path's segments within `rest`.
        let mut bounds: Vec<(usize, usize)> = Vec::with_capacity(self.segments.len());
        let mut start = 0;
        for (i, b) in rest.bytes().enumerate() {
            if b == b'/' {
                bounds.push((start, i));
                if !multi && bounds.len() >= self.segments.len() {
                    return None;
                }
                start = i + 1;
            }
        }
        bounds.push((start, rest.len()));
        if bounds.len() < fixed || (!multi && bounds.len() != fixed) {
            return None;
        }

        for (seg, &(s, e)) in self.segments[..fixed].iter().zip(&bounds) {
            let text = &rest[s..e];
            let ok = match seg {
                Segment::Literal(lit) => {
                    if text.contains('%') {
                        decode(text, false) == *lit
                    } else {
                        text == lit
                    }
                }
                Segment::Single => !text.is_empty(),
                Segment::Multi => true,
            };
            if !ok {
                return None;
            }
        }

        let mut out = Vec::with_capacity(self.variables.len());
        for var in &self.variables {
            let value = if multi && var.end == self.segments.len() {
                let from = bounds.get(var.start).map_or(rest.len(), |b| b.0);
                decode(&rest[from..], true)
            } else {
                let text = &rest[bounds[var.start].0..bounds[var.end - 1].1];
                let single =
                    var.end - var.start == 1 && matches!(self.segments[var.start], Segment::Single);
                decode(text, !single)
            };
            out.push((var.field_path.clone(), value));
        }
        Some(out)
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for PathTemplate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PathTemplate::parse(s)
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser {
            src,
            pos: 0,
            segments: Vec::new(),
            variables: Vec::new(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!(
            "invalid path template \"{}\": {what} at byte {}",
            self.src, self.pos
        ))
    }

    fn parse(mut self) -> Result<PathTemplate, String> {
        if self.peek() != Some(b'/') {
            return self.err("expected '/'");
        }
        self.pos = 1;
        let mut verb = None;
        // "/" alone is the root path: no segments.
        if self.src.len() > 1 {
            self.segments_list(false)?;
            if self.peek() == Some(b':') {
                self.pos += 1;
                let start = self.pos;
                let v = self.literal();
                if v.is_empty() || self.pos != self.src.len() {
                    return self.err("expected a verb after ':'");
                }
                verb = Some(self.src[start..self.pos].to_string());
            }
            if self.pos != self.src.len() {
                return self.err("unexpected character");
            }
        }
        if let Some(i) = self.segments.iter().position(|s| *s == Segment::Multi)
            && i + 1 != self.segments.len()
        {
            return Err(format!(
                "invalid path template \"{}\": '**' must be the last segment",
                self.src
            ));
        }
        for (i, v) in self.variables.iter().enumerate() {
            if self.variables[..i]
                .iter()
                .any(|o| o.field_path == v.field_path)
            {
                return Err(format!(
                    "invalid path template \"{}\": variable '{}' appears twice",
                    self.src, v.field_path
                ));
            }
        }
        Ok(PathTemplate {
            source: self.src.to_string(),
            segments: self.segments,
            variables: self.variables,
            verb,
        })
    }

    /// `Segments = Segment { "/" Segment }`.
    fn segments_list(&mut self, in_variable: bool) -> Result<(), String> {
        loop {
            self.segment(in_variable)?;
            if self.peek() == Some(b'/') {
                self.pos += 1;
            } else {
                return Ok(());
            }
        }
    }

    fn segment(&mut self, in_variable: bool) -> Result<(), String> {
        match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                if self.peek() == Some(b'*') {
                    self.pos += 1;
                    self.segments.push(Segment::Multi);
                } else {
                    self.segments.push(Segment::Single);
                }
                match self.peek() {
                    None | Some(b'/') | Some(b':') => Ok(()),
                    Some(b'}') if in_variable => Ok(()),
                    _ => self.err("a wildcard must be a whole segment"),
                }
            }
            Some(b'{') if !in_variable => self.variable(),
            Some(b'{') => self.err("variables cannot nest"),
            _ => {
                let lit = self.literal();
                if lit.is_empty() {
                    return self.err("expected a segment");
                }
                let lit = decode(lit, false);
                self.segments.push(Segment::Literal(lit));
                Ok(())
            }
        }
    }

    /// `Variable = "{" FieldPath [ "=" Segments ] "}"`.
    fn variable(&mut self) -> Result<(), String> {
        self.pos += 1; // '{'
        let path_start = self.pos;
        loop {
            let ident_start = self.pos;
            while let Some(c) = self.peek() {
                let ok = c == b'_'
                    || c.is_ascii_alphabetic()
                    || (c.is_ascii_digit() && self.pos > ident_start);
                if !ok {
                    break;
                }
                self.pos += 1;
            }
            if self.pos == ident_start {
                return self.err("expected a field name");
            }
            if self.peek() == Some(b'.') {
                self.pos += 1;
            } else {
                break;
            }
        }
        let field_path = self.src[path_start..self.pos].to_string();
        let start = self.segments.len();
        if self.peek() == Some(b'=') {
            self.pos += 1;
            self.segments_list(true)?;
        } else {
            self.segments.push(Segment::Single);
        }
        if self.peek() != Some(b'}') {
            return self.err("expected '}'");
        }
        self.pos += 1;
        match self.peek() {
            None | Some(b'/') | Some(b':') => {}
            _ => return self.err("a variable must be a whole segment"),
        }
        self.variables.push(Variable {
            field_path,
            start,
            end: self.segments.len(),
        });
        Ok(())
    }

    /// A run of literal characters (anything but the template's syntax).
    fn literal(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if matches!(
                c,
                b'/' | b'{' | b'}' | b'*' | b'=' | b':' | b'?' | b'#' | b' '
            ) || c.is_ascii_control()
            {
                break;
            }
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }
}

/// Percent-decodes `s`; with `keep_slash`, `%2F` stays encoded (multi-segment
/// variables). Malformed escapes are kept as written; invalid UTF-8 is replaced.
fn decode(s: &str, keep_slash: bool) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            let v = h << 4 | l;
            if keep_slash && v == b'/' {
                out.extend_from_slice(&b[i..i + 3]);
            } else {
                out.push(v);
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `s` with the characters a regular expression gives a meaning escaped.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_paths_name_every_variable_and_wildcard() {
        let o = |t: &str| PathTemplate::parse(t).unwrap().openapi();
        let p = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            o("/v1/items/{id}"),
            ("/v1/items/{id}".into(), p(&[("id", "^[^/]+$")]))
        );
        assert_eq!(
            o("/v1/{name=shelves/*/books/*}"),
            (
                "/v1/{name}".into(),
                p(&[("name", "^shelves/[^/]+/books/[^/]+$")])
            )
        );
        assert_eq!(
            o("/v1/{op.name=operations/**}:cancel"),
            (
                "/v1/{op.name}:cancel".into(),
                p(&[("op.name", "^operations/.*$")])
            )
        );
        assert_eq!(
            o("/a.b/*/{x}"),
            (
                "/a.b/{_1}/{x}".into(),
                p(&[("_1", "^[^/]+$"), ("x", "^[^/]+$")])
            )
        );
    }

    fn m(t: &str, path: &str) -> Option<Vec<(String, String)>> {
        PathTemplate::parse(t).unwrap().matches(path)
    }

    fn vars(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn grammar_accepts_the_documented_forms() {
        for t in [
            "/",
            "/v1/messages",
            "/v1/*",
            "/v1/**",
            "/v1/{name}",
            "/v1/{name=messages/*}",
            "/v1/messages/{message_id}/{sub.subfield}",
            "/v1/{name=shelves/*/books/*}",
            "/v1/users/{user_id}/messages/{message_id}",
            "/v1/{name=operations/**}:cancel",
            "/v1/{a.b_c.d9=x/*/y}:do",
            "/v1/a:b",
            "/v1/{path=**}",
        ] {
            PathTemplate::parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        }
    }

    #[test]
    fn grammar_rejects_malformed_templates() {
        for t in [
            "",
            "v1/x",
            "/v1/",
            "//x",
            "/v1/{name",
            "/v1/{}",
            "/v1/{1x}",
            "/v1/{a..b}",
            "/v1/{a={b}}",
            "/v1/{a=}",
            "/v1/x*",
            "/v1/{a}x",
            "/v1/**/x",
            "/v1/{a=**}/x",
            "/v1/x:",
            "/v1/x:a/b",
            "/v1/{a}/{a}",
            "/v1/***",
            "/v1/x?y",
        ] {
            assert!(PathTemplate::parse(t).is_err(), "{t} should not parse");
        }
        let e = PathTemplate::parse("/v1/{name").unwrap_err();
        assert!(e.contains("expected '}'"), "{e}");
    }

    #[test]
    fn http_proto_examples() {
        assert_eq!(
            m("/v1/{name=messages/*}", "/v1/messages/123456"),
            vars(&[("name", "messages/123456")])
        );
        assert_eq!(m("/v1/{name=messages/*}", "/v1/messages"), None);
        assert_eq!(m("/v1/{name=messages/*}", "/v1/messages/1/2"), None);
        assert_eq!(
            m(
                "/v1/messages/{message_id}/{sub.subfield}",
                "/v1/messages/123456/foo"
            ),
            vars(&[("message_id", "123456"), ("sub.subfield", "foo")])
        );
        assert_eq!(
            m("/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/books/b2"),
            vars(&[("name", "shelves/s1/books/b2")])
        );
        assert_eq!(
            m("/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/tomes/b2"),
            None
        );
        assert_eq!(
            m(
                "/v1/users/{user_id}/messages/{message_id}",
                "/v1/users/me/messages/123456"
            ),
            vars(&[("user_id", "me"), ("message_id", "123456")])
        );
        assert_eq!(
            m(
                "/v1/{name=operations/**}:cancel",
                "/v1/operations/a/b/c:cancel"
            ),
            vars(&[("name", "operations/a/b/c")])
        );
        assert_eq!(
            m("/v1/{name=operations/**}:cancel", "/v1/operations:cancel"),
            vars(&[("name", "operations")])
        );
        assert_eq!(
            m("/v1/{name=operations/**}:cancel", "/v1/operations/a/b"),
            None
        );
        assert_eq!(
            m("/v1/{name=operations/**}:cancel", "/v1/operations/a:delete"),
            None
        );
    }

    #[test]
    fn wildcards_literals_and_verbs() {
        assert_eq!(m("/v1/messages", "/v1/messages"), vars(&[]));
        assert_eq!(m("/v1/messages", "/v1/messages/"), None);
        assert_eq!(m("/v1/messages", "/v1/message"), None);
        assert_eq!(m("/v1/messages", "v1/messages"), None);
        assert_eq!(m("/v1/*", "/v1/x"), vars(&[]));
        assert_eq!(m("/v1/*", "/v1/"), None);
        assert_eq!(m("/v1/*", "/v1/x/y"), None);
        assert_eq!(m("/v1/**", "/v1"), vars(&[]));
        assert_eq!(m("/v1/**", "/v1/x/y/z"), vars(&[]));
        assert_eq!(m("/v1/{path=**}", "/v1/x/y/z"), vars(&[("path", "x/y/z")]));
        assert_eq!(m("/v1/{path=**}", "/v1"), vars(&[("path", "")]));
        assert_eq!(m("/v1/{id}", "/v1/x?y=1"), vars(&[("id", "x")]));
        assert_eq!(m("/v1/{id}", "/v1/"), None);
        assert_eq!(m("/", "/"), vars(&[]));
        assert_eq!(m("/", "/x"), None);
        // Without a verb in the template, ':' belongs to the segment.
        assert_eq!(m("/v1/{id}", "/v1/a:b"), vars(&[("id", "a:b")]));
        assert_eq!(m("/v1/{id}:get", "/v1/a:get"), vars(&[("id", "a")]));
        assert_eq!(m("/v1/{id}:get", "/v1/a"), None);
        assert_eq!(m("/v1/x:get", "/v1/x:get"), vars(&[]));
        let t = PathTemplate::parse("/v1/{a.b=x/*}/{c}:do").unwrap();
        assert_eq!(t.verb(), Some("do"));
        assert_eq!(t.field_paths().collect::<Vec<_>>(), ["a.b", "c"]);
        assert!(!t.is_literal());
        assert!(PathTemplate::parse("/v1/x").unwrap().is_literal());
        assert_eq!(t.to_string(), "/v1/{a.b=x/*}/{c}:do");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(m("/v1/{id}", "/v1/a%20b%2Fc"), vars(&[("id", "a b/c")]));
        assert_eq!(
            m("/v1/{name=books/*}", "/v1/books/a%2Fb%20c"),
            vars(&[("name", "books/a%2Fb c")])
        );
        assert_eq!(
            m("/v1/{rest=**}", "/v1/a%2fb/%C3%A9"),
            vars(&[("rest", "a%2fb/é")])
        );
        assert_eq!(m("/v1/{id}", "/v1/100%"), vars(&[("id", "100%")]));
        assert_eq!(m("/v1/{id}", "/v1/%zz"), vars(&[("id", "%zz")]));
        assert_eq!(m("/v1/caf%C3%A9", "/v1/caf%c3%a9"), vars(&[]));
        assert_eq!(m("/v1/messages", "/v1/%6Dessages"), vars(&[]));
    }
}
