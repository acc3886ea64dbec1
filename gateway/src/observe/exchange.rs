//! One HTTP exchange at the front door, measured: the request body's bytes
//! as the route reads them, the answer's as they are written, and, when the
//! exchange ends (a whole answer handed to the connection, the last byte of
//! a streamed one sent, or the client gone), one record in its route's
//! metrics, when the access log is on, one access line, and when tracing
//! is on, the end of its server span. A client that
//! leaves before the answer is counted with status 499, as nginx and Envoy
//! count it. The answer carries the request id.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use super::access::{self, CallRecord, REQUEST_ID};
use super::metrics::RouteMetrics;
use super::trace::ServerSpan;
use crate::error::ErrorCode;

/// The status recorded for an exchange whose client left first.
const CLIENT_GONE: u16 = 499;

/// An exchange in progress; recorded when dropped.
pub struct Exchange {
    metrics: &'static RouteMetrics,
    started: Instant,
    request_bytes: RequestBytes,
    status: u16,
    response_bytes: u64,
    request_id: HeaderValue,
    error_code: Option<&'static str>,
    /// What only the access line needs, when the access log is on.
    line: Option<Box<Line>>,
    /// The server span, when tracing is on.
    span: Option<ServerSpan>,
}

/// The request body's size: its `Content-Length`, or counted as read.
enum RequestBytes {
    Known(u64),
    Counted(Arc<AtomicU64>),
}

impl RequestBytes {
    fn get(&self) -> u64 {
        match self {
            RequestBytes::Known(n) => *n,
            RequestBytes::Counted(c) => c.load(Ordering::Relaxed),
        }
    }
}

struct Line {
    verb: Method,
    path: String,
    trace_id: Option<String>,
    span_id: Option<String>,
    record: Arc<CallRecord>,
}

impl Exchange {
    /// Starts measuring a request routed to `metrics`; returns the request
    /// body, counted as it is read unless `Content-Length` gives its size
    /// (which hyper holds the body to).
    pub fn start(
        metrics: &'static RouteMetrics,
        started: Instant,
        request_id: HeaderValue,
        body: Body,
        content_length: Option<u64>,
    ) -> (Exchange, Body) {
        let (request_bytes, body) = match content_length {
            Some(n) => (RequestBytes::Known(n), body),
            None => {
                let bytes = Arc::new(AtomicU64::new(0));
                let body = Body::new(Counted {
                    inner: body,
                    tally: bytes.clone(),
                });
                (RequestBytes::Counted(bytes), body)
            }
        };
        (
            Exchange {
                metrics,
                started,
                request_bytes,
                status: CLIENT_GONE,
                response_bytes: 0,
                request_id,
                error_code: None,
                line: None,
                span: None,
            },
            body,
        )
    }

    /// Starts the server span when tracing is on, and keeps what the access
    /// line needs when the access log is on; returns the call record the
    /// pipeline is to fill, when either is.
    pub fn log(
        &mut self,
        verb: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<Arc<CallRecord>> {
        let span = ServerSpan::start(headers, verb, &self.metrics.labels().route, path);
        if span.is_none() && !access::enabled() {
            return None;
        }
        let record = Arc::new(CallRecord::new(span.clone()));
        if access::enabled() {
            let (trace_id, span_id) = match &span {
                Some(s) => {
                    let (t, s) = s.ids();
                    (Some(t), Some(s))
                }
                None => (access::trace_id(headers).map(str::to_string), None),
            };
            self.line = Some(Box::new(Line {
                verb: verb.clone(),
                path: path.to_string(),
                trace_id,
                span_id,
                record: record.clone(),
            }));
        }
        self.span = span;
        Some(record)
    }

    /// An exchange with no request body to count (one that matched no route).
    pub fn bodiless(
        metrics: &'static RouteMetrics,
        started: Instant,
        request_id: HeaderValue,
    ) -> Exchange {
        Exchange {
            metrics,
            started,
            request_bytes: RequestBytes::Known(0),
            status: CLIENT_GONE,
            response_bytes: 0,
            request_id,
            error_code: None,
            line: None,
            span: None,
        }
    }

    /// The answer, whose body now carries the exchange to its end.
    pub fn finish(mut self, mut resp: Response) -> Response {
        self.status = resp.status().as_u16();
        self.error_code = resp.extensions().get::<ErrorCode>().map(|c| c.0);
        resp.headers_mut()
            .insert(REQUEST_ID.clone(), self.request_id.clone());
        let (parts, body) = resp.into_parts();
        if let Some(n) = body.size_hint().exact() {
            // A whole answer, written at once: recorded now, its body
            // untouched.
            self.response_bytes = n;
            return Response::from_parts(parts, body);
        }
        Response::from_parts(
            parts,
            Body::new(Counted {
                inner: body,
                tally: self,
            }),
        )
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let took = self.started.elapsed();
        let request_bytes = self.request_bytes.get();
        self.metrics
            .record(self.status, took, request_bytes, self.response_bytes);
        if let Some(span) = &self.span {
            span.end(self.status, self.error_code);
        }
        let Some(line) = &self.line else {
            return;
        };
        let (tries, backend, endpoint) = line.record.read();
        let labels = self.metrics.labels();
        let (service, method) = labels.method.split_once('.').unwrap_or(("", ""));
        tracing::info!(
            target: access::TARGET,
            method = %line.verb,
            route = %labels.route,
            path = %line.path,
            backend = %labels.backend,
            service,
            idl_method = method,
            status = self.status,
            error_code = self.error_code.unwrap_or(""),
            duration_ms = took.as_secs_f64() * 1e3,
            backend_ms = backend.as_secs_f64() * 1e3,
            tries,
            endpoint = endpoint.as_deref().unwrap_or(""),
            request_bytes,
            response_bytes = self.response_bytes,
            request_id = self.request_id.to_str().unwrap_or(""),
            trace_id = line.trace_id.as_deref().unwrap_or(""),
            span_id = line.span_id.as_deref().unwrap_or(""),
            "access"
        );
    }
}

/// Where a counted body adds the bytes of its data frames.
trait Tally {
    fn add(&mut self, n: u64);
}

impl Tally for Arc<AtomicU64> {
    fn add(&mut self, n: u64) {
        self.fetch_add(n, Ordering::Relaxed);
    }
}

impl Tally for Exchange {
    fn add(&mut self, n: u64) {
        self.response_bytes += n;
    }
}

/// A body whose data bytes are counted into `tally` as they pass.
struct Counted<T> {
    inner: Body,
    tally: T,
}

impl<T: Tally + Send + Unpin + 'static> HttpBody for Counted<T> {
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
            self.tally.add(data.len() as u64);
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
