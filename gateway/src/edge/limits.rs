//! Limits on the request head, checked before routing: the number of
//! headers and the size of the request line and headers. Past either the
//! answer is 431 with the JSON error shape. hyper enforces its own limits
//! while it reads a head and answers 431 itself, with no body, past them;
//! those are set well past these (`hyper_*`), so that a head over the
//! configured limit gets the JSON answer unless it is far over.

use axum::http::request::Parts;

use crate::error::{ApiError, Failure};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Request line and headers, bytes.
    pub max_bytes: usize,
    pub max_headers: usize,
}

impl HeadLimits {
    /// The request head's size as it came: the request line and each
    /// header line with its `: ` and CRLF.
    fn size(parts: &Parts) -> usize {
        let line = parts.method.as_str().len()
            + parts.uri.path_and_query().map_or(1, |p| p.as_str().len())
            + 11;
        parts
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>()
            + line
    }

    pub fn check(&self, parts: &Parts) -> Result<(), ApiError> {
        let n = parts.headers.len();
        if n > self.max_headers {
            return Err(Failure::HeadTooLarge(format!(
                "the request has {n} headers; the limit is {}",
                self.max_headers
            ))
            .into());
        }
        let size = Self::size(parts);
        if size > self.max_bytes {
            return Err(Failure::HeadTooLarge(format!(
                "the request head is {size} bytes; the limit is {}",
                self.max_bytes
            ))
            .into());
        }
        Ok(())
    }

    /// The head size past which hyper answers by itself.
    pub fn hyper_max_bytes(&self) -> usize {
        self.max_bytes * 2 + 16 * 1024
    }

    /// The header count past which hyper answers by itself.
    pub fn hyper_max_headers(&self) -> usize {
        self.max_headers * 2 + 16
    }
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_bytes: 32 * 1024,
            max_headers: 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: usize, value: usize) -> Parts {
        let mut b = axum::http::Request::builder().uri("/add");
        for i in 0..headers {
            b = b.header(format!("x-h{i}"), "v".repeat(value));
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn heads_past_a_limit_are_refused() {
        let l = HeadLimits {
            max_bytes: 1000,
            max_headers: 10,
        };
        assert!(l.check(&parts(10, 10)).is_ok());
        let e = l.check(&parts(11, 1)).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (431, "headers_too_large"));
        assert!(e.message().contains("11 headers"));
        let e = l.check(&parts(2, 600)).unwrap_err();
        assert!(
            e.message().contains("bytes; the limit is 1000"),
            "{}",
            e.message()
        );
    }
}
