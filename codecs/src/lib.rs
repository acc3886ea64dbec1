//! Wire codecs for kitegate.
//!
//! - [`thrift`]: binary and compact protocols, one-pass JSON <-> Thrift
//!   transcoding driven by an [`idl::Schema`], and the RPC envelope.
//! - [`framing`]: buffered, framed and TTHeader framings.
//! - [`hessian2`]: Hessian 2.0 as Apache Dubbo uses it: a Java-exact writer, a
//!   bounded reader into an owned value tree, and JSON rendering.
//! - [`form`]: URL-encoded and multipart form bodies read into named parts.
//!
//! This crate is pure: bytes in, bytes out. It has no sockets and no
//! runtime, and knows nothing of HTTP routes or the admin API.

pub mod dubbo;
mod error;
pub mod form;
pub mod framing;
pub mod hessian2;
mod json_scan;
mod json_text;
pub mod protobuf;
mod seen;
#[cfg(test)]
mod test_rng;
pub mod thrift;

pub use error::CodecError;

/// Bounds on a JSON request beyond its size, which every JSON -> wire
/// encoder applies: how deep arrays and objects nest, how long one string
/// is (bytes, as written in the JSON, escapes included), and how many
/// elements one array or object has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    pub max_depth: usize,
    pub max_string: usize,
    pub max_items: usize,
}

impl Default for JsonLimits {
    /// Nesting 64 deep; strings and containers bounded by the body alone.
    fn default() -> Self {
        JsonLimits {
            max_depth: 64,
            max_string: usize::MAX,
            max_items: usize::MAX,
        }
    }
}

impl JsonLimits {
    /// The error text of a string over the limit, if `len` is.
    pub fn string(&self, len: usize) -> Result<(), String> {
        if len > self.max_string {
            return Err(format!(
                "a string of {len} bytes; the limit is {}",
                self.max_string
            ));
        }
        Ok(())
    }

    /// Checks a parsed value against every bound: the error names the
    /// path of the first value past one (`$.a[3]`).
    pub fn check(&self, v: &serde_json::Value) -> Result<(), String> {
        fn walk(
            l: &JsonLimits,
            v: &serde_json::Value,
            depth: usize,
            path: &mut String,
        ) -> Result<(), String> {
            use serde_json::Value as J;
            let len = path.len();
            let at = |path: &String, m: String| format!("{path}: {m}");
            match v {
                J::String(s) => l.string(s.len()).map_err(|m| at(path, m))?,
                J::Array(a) => {
                    if depth >= l.max_depth {
                        return Err(at(
                            path,
                            format!("nesting deeper than {} levels", l.max_depth),
                        ));
                    }
                    l.items(a.len()).map_err(|m| at(path, m))?;
                    for (i, x) in a.iter().enumerate() {
                        path.push('[');
                        path.push_str(itoa::Buffer::new().format(i));
                        path.push(']');
                        walk(l, x, depth + 1, path)?;
                        path.truncate(len);
                    }
                }
                J::Object(o) => {
                    if depth >= l.max_depth {
                        return Err(at(
                            path,
                            format!("nesting deeper than {} levels", l.max_depth),
                        ));
                    }
                    l.items(o.len()).map_err(|m| at(path, m))?;
                    for (k, x) in o {
                        l.string(k.len()).map_err(|m| at(path, m))?;
                        path.push('.');
                        path.push_str(k);
                        walk(l, x, depth + 1, path)?;
                        path.truncate(len);
                    }
                }
                _ => {}
            }
            Ok(())
        }
        walk(self, v, 0, &mut String::from("$"))
    }

    /// The error text of a container past its limit, once it has `n` elements.
    pub fn items(&self, n: usize) -> Result<(), String> {
        if n > self.max_items {
            return Err(format!(
                "more than {} elements in one array or object",
                self.max_items
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod limits_tests {
    use super::JsonLimits;

    #[test]
    fn parsed_values_are_checked_with_their_path() {
        let l = JsonLimits {
            max_depth: 3,
            max_string: 4,
            max_items: 2,
        };
        let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        l.check(&v(r#"{"a": ["abcd", {"b": 1}]}"#)).unwrap();
        let e = l.check(&v(r#"{"a": ["abcd", "abcde"]}"#)).unwrap_err();
        assert_eq!(e, "$.a[1]: a string of 5 bytes; the limit is 4");
        let e = l.check(&v(r#"{"a": [1, 2, 3]}"#)).unwrap_err();
        assert_eq!(e, "$.a: more than 2 elements in one array or object");
        let e = l.check(&v(r#"{"a": [[[1]]]}"#)).unwrap_err();
        assert_eq!(e, "$.a[0][0]: nesting deeper than 3 levels");
        let d = JsonLimits::default();
        d.check(&v(&format!("{}{}", "[".repeat(64), "]".repeat(64))))
            .unwrap();
        assert!(
            d.check(&v(&format!("{}{}", "[".repeat(65), "]".repeat(65))))
                .is_err()
        );
    }
}
