//! Limits on a request, checked before and while it is routed: the
//! number of headers and the size of the request line and headers (431
//! past either, with the JSON error shape), and the longest pause while
//! its body arrives (408). hyper enforces its own head limits while it
//! reads a head and answers 431 itself, with no body, past them; those
//! are set well past these (`hyper_*`), so that a head over the
//! configured limit gets the JSON answer unless it is far over.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::request::Parts;
use http_body::{Body as _, Frame, SizeHint};

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

/// What the front door checks of each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    pub head: HeadLimits,
    /// The longest pause while a request body arrives (zero: none).
    pub body_read_timeout: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            head: HeadLimits::default(),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

impl RequestLimits {
    /// The body, failing with [`BodyStalled`] when no part of it arrives
    /// for the body-read timeout. A body that is already complete is left
    /// as it is.
    pub fn timed(&self, body: Body) -> Body {
        if self.body_read_timeout.is_zero() || body.is_end_stream() {
            return body;
        }
        Body::new(TimedBody {
            inner: body,
            gap: self.body_read_timeout,
            timer: None,
            armed: false,
        })
    }
}

/// The error of a body that stopped arriving.
#[derive(Debug)]
pub struct BodyStalled(pub Duration);

impl std::fmt::Display for BodyStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no part of the request body arrived for {} ms",
            self.0.as_millis()
        )
    }
}

impl std::error::Error for BodyStalled {}

impl BodyStalled {
    /// Whether an error (or one it wraps) is a stalled body.
    pub fn within<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyStalled> {
        let mut e = Some(e);
        while let Some(err) = e {
            if let Some(s) = err.downcast_ref::<BodyStalled>() {
                return Some(s);
            }
            e = err.source();
        }
        None
    }
}

/// A body with a timer that runs while it waits for the next frame. The
/// timer is made on the first wait, so a body that arrives with its head
/// costs none.
struct TimedBody {
    inner: Body,
    gap: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The timer runs for the current wait.
    armed: bool,
}

impl http_body::Body for TimedBody {
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let deadline = tokio::time::Instant::now() + this.gap;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !this.armed {
                    timer.as_mut().reset(deadline);
                    this.armed = true;
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled(this.gap))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
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

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_arriving_fails_after_the_gap() {
        let limits = RequestLimits {
            body_read_timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<bytes::Bytes>, Infallible>>(4);
        let stream = tokio_stream_of(rx);
        let body = limits.timed(Body::new(http_body_util::StreamBody::new(stream)));
        let sender = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                tx.send(Ok(Frame::data(bytes::Bytes::from_static(b"ab"))))
                    .await
                    .unwrap();
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(tx);
        });
        let started = tokio::time::Instant::now();
        let err = axum::body::to_bytes(body, 1 << 20).await.unwrap_err();
        let err = err.into_inner();
        let stalled = BodyStalled::within(&*err).expect("the stall is named");
        assert_eq!(stalled.0, Duration::from_secs(5));
        // Three parts 4 s apart, then 5 s of nothing.
        assert_eq!(started.elapsed(), Duration::from_secs(17));
        sender.abort();
        let done = limits.timed(Body::from("whole"));
        assert_eq!(axum::body::to_bytes(done, 100).await.unwrap(), "whole");
    }

    use std::convert::Infallible;

    fn tokio_stream_of<T>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
