//! One HTTP exchange at the front door, measured: the request body's bytes
//! as the route reads them, the answer's as they are written, and, when the
//! exchange ends (a whole answer handed to the connection, the last byte of
//! a streamed one sent, or the client gone), one record in its route's
//! metrics. A client that leaves before the answer is counted with
//! status 499, as nginx and Envoy count it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use super::metrics::RouteMetrics;

/// The status recorded for an exchange whose client left first.
const CLIENT_GONE: u16 = 499;

/// An exchange in progress; recorded when dropped.
pub struct Exchange {
    metrics: Arc<RouteMetrics>,
    started: Instant,
    request_bytes: Arc<AtomicU64>,
    status: u16,
    response_bytes: u64,
}

impl Exchange {
    /// Starts measuring a request routed to `metrics`; returns the request
    /// body, counted as it is read unless `Content-Length` gives its size
    /// (which hyper holds the body to).
    pub fn start(
        metrics: Arc<RouteMetrics>,
        started: Instant,
        body: Body,
        content_length: Option<u64>,
    ) -> (Exchange, Body) {
        let request_bytes = Arc::new(AtomicU64::new(content_length.unwrap_or(0)));
        let body = if content_length.is_some() {
            body
        } else {
            Body::new(CountedRequest {
                inner: body,
                bytes: request_bytes.clone(),
            })
        };
        (
            Exchange {
                metrics,
                started,
                request_bytes,
                status: CLIENT_GONE,
                response_bytes: 0,
            },
            body,
        )
    }

    /// An exchange with no request body to count (one that matched no route).
    pub fn bodiless(metrics: Arc<RouteMetrics>, started: Instant) -> Exchange {
        Exchange {
            metrics,
            started,
            request_bytes: Arc::new(AtomicU64::new(0)),
            status: CLIENT_GONE,
            response_bytes: 0,
        }
    }

    /// The answer, whose body now carries the exchange to its end.
    pub fn finish(mut self, resp: Response) -> Response {
        self.status = resp.status().as_u16();
        let (parts, body) = resp.into_parts();
        if let Some(n) = body.size_hint().exact() {
            // A whole answer, written at once: recorded now, its body
            // untouched.
            self.response_bytes = n;
            return Response::from_parts(parts, body);
        }
        Response::from_parts(
            parts,
            Body::new(CountedResponse {
                inner: body,
                exchange: self,
            }),
        )
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.metrics.record(
            self.status,
            self.started.elapsed(),
            self.request_bytes.load(Ordering::Relaxed),
            self.response_bytes,
        );
    }
}

struct CountedRequest {
    inner: Body,
    bytes: Arc<AtomicU64>,
}

impl HttpBody for CountedRequest {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

struct CountedResponse {
    inner: Body,
    exchange: Exchange,
}

impl HttpBody for CountedResponse {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.exchange.response_bytes += data.len() as u64;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
