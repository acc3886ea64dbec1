//! The one place where outcomes become HTTP: a call's failure is classified
//! once as a [`Failure`] (input, upstream unavailable, timeout, bad reply,
//! remote status with its protocol code, overload, …), and [`Failure::status`]
//! alone maps each class to the HTTP status and the JSON error code. Every
//! error answers the JSON shape `{"error": {"code", "message", "backend",
//! "method", …}}` ([`ApiError`]).
//!
//! | code | status | class |
//! |---|---|---|
//! | `invalid_request` | 400 | [`Failure::Input`]: malformed JSON, wrong type, missing required field (message names the JSON path) |
//! | `not_found` | 404 | [`Failure::NotFound`]: no route, no such backend |
//! | `method_not_allowed` | 405 | [`Failure::MethodNotAllowed`] (see `Allow`) |
//! | `payload_too_large` | 413 | [`Failure::TooLarge`]: body over its limit |
//! | `headers_too_large` | 431 | [`Failure::HeadTooLarge`]: request head over `max_header_bytes` or `max_headers` |
//! | `request_timeout` | 408 | [`Failure::BodyTimeout`]: the body stopped arriving for `body_read_timeout_ms` |
//! | `too_many_connections` | 429 | [`Failure::ClientConnections`]: `max_connections_per_ip` reached (past `max_connections` in total: 503 `overloaded`) |
//! | `not_implemented` | 501 | [`Failure::NotImplemented`] |
//! | `backend_exception` | 500, or the exception's `api.http_code` (100–599) | [`Remote::Exception`]: an exception declared in the IDL, or a Java exception |
//! | `application_exception` | 500 | [`Remote::Application`]: TApplicationException, Kitex Protobuf error |
//! | `biz_error` | 500 | [`Remote::Business`]: Kitex business status (TTHeader `biz-status`) |
//! | `grpc_error` | grpc-gateway's status for the code | [`Remote::Grpc`] |
//! | `backend_timeout`, `service_not_found`, `backend_busy`, `backend_rejected_request`, `dubbo_error` | 504, 502, 503, 502, 502 | [`Remote::Dubbo`] by status |
//! | `backend_unavailable` | 502 | [`Failure::Unavailable`]: no endpoint accepted a connection |
//! | `bad_gateway` | 502 | [`Failure::BadReply`]: the connection broke, or the reply is not valid (or too large) |
//! | `backend_timeout` | 504 | [`Failure::Timeout`] |
//! | `overloaded` | 503 | [`Failure::Overload`]: the backend's `limit.max_concurrency` calls are in flight |
//! | `rate_limited` | 429 (see `Retry-After`) | [`Failure::RateLimited`]: the route's token bucket is empty |
//! | `circuit_open` | 503 | [`Failure::CircuitOpen`]: the backend's breaker, or every endpoint's, is open |
//! | `no_healthy_endpoint` | 503 | [`Failure::NoHealthy`]: every endpoint is ejected or failed its probe, or discovery lists none |
//! | `invalid_settings`, `invalid_idl`, `route_conflict`, `unauthorized`, `forbidden`, `internal` | 400, 422, 409, 401, 403, 500 | admin API answers |
//! | `version_conflict` | 409 | [`Failure::VersionConflict`]: another writer changed the backend in the cluster store first |
//! | `store_unavailable` | 503 | [`Failure::StoreUnavailable`]: the cluster store does not answer |

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::transport::TransportError;

/// What went wrong, by side and kind; the data that the answer carries.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The request is not valid for the method.
    Input(String),
    NotFound(String),
    MethodNotAllowed {
        message: String,
        allow: String,
    },
    TooLarge(String),
    /// The request head (its header count or size) is over the front door's limit.
    HeadTooLarge(String),
    /// The request body stopped arriving for longer than the body-read timeout.
    BodyTimeout(String),
    /// The client has as many connections open as one client may.
    ClientConnections(String),
    NotImplemented(String),
    /// No connection could be made to any endpoint.
    Unavailable(String),
    /// The backend's reply is missing, broken or not valid.
    BadReply(String),
    Timeout(String),
    /// Too many calls: a limit of the gateway's or the backend's.
    Overload(String),
    /// The route's rate limit; the client may try again after `retry_after_s`.
    RateLimited {
        message: String,
        retry_after_s: u64,
    },
    /// A circuit breaker is open.
    CircuitOpen(String),
    /// No endpoint is healthy.
    NoHealthy(String),
    /// The backend answered with a failure of its protocol.
    Remote(Remote),
    // The admin API's own answers.
    InvalidSettings(String),
    InvalidIdl(String),
    Conflict(String),
    /// Cluster mode: the backend's version is not the one the change was based on.
    VersionConflict(String),
    /// Cluster mode: the store cannot be reached.
    StoreUnavailable(String),
    Unauthorized(String),
    Forbidden(String),
    Internal(String),
}

/// A failure the backend reported, with its protocol's code.
#[derive(Debug, Clone)]
pub enum Remote {
    /// A declared exception (Thrift `throws`, or a Java exception); `http_code`
    /// is the value of a field bound to `api.http_code`.
    Exception {
        message: String,
        http_code: Option<i64>,
    },
    /// A Thrift TApplicationException or Kitex Protobuf error (`type` code).
    Application { message: String, kind: i32 },
    /// A Kitex business status error.
    Business { message: String },
    /// A gRPC status other than OK.
    Grpc { code: u32, message: String },
    /// A Dubbo response status other than OK.
    Dubbo { status: u8, message: String },
}

impl Failure {
    /// The HTTP status and JSON code of this failure: the whole table.
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            Failure::Input(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Failure::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Failure::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            Failure::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Failure::HeadTooLarge(_) => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
            ),
            Failure::BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Failure::ClientConnections(_) => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_connections")
            }
            Failure::NotImplemented(_) => (StatusCode::NOT_IMPLEMENTED, "not_implemented"),
            Failure::Unavailable(_) => (StatusCode::BAD_GATEWAY, "backend_unavailable"),
            Failure::BadReply(_) => (StatusCode::BAD_GATEWAY, "bad_gateway"),
            Failure::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "backend_timeout"),
            Failure::Overload(_) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            Failure::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Failure::CircuitOpen(_) => (StatusCode::SERVICE_UNAVAILABLE, "circuit_open"),
            Failure::NoHealthy(_) => (StatusCode::SERVICE_UNAVAILABLE, "no_healthy_endpoint"),
            Failure::Remote(r) => r.status(),
            Failure::InvalidSettings(_) => (StatusCode::BAD_REQUEST, "invalid_settings"),
            Failure::InvalidIdl(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_idl"),
            Failure::Conflict(_) => (StatusCode::CONFLICT, "route_conflict"),
            Failure::VersionConflict(_) => (StatusCode::CONFLICT, "version_conflict"),
            Failure::StoreUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            Failure::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Failure::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Failure::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Input(m)
            | Failure::NotFound(m)
            | Failure::MethodNotAllowed { message: m, .. }
            | Failure::TooLarge(m)
            | Failure::HeadTooLarge(m)
            | Failure::BodyTimeout(m)
            | Failure::ClientConnections(m)
            | Failure::NotImplemented(m)
            | Failure::Unavailable(m)
            | Failure::BadReply(m)
            | Failure::Timeout(m)
            | Failure::Overload(m)
            | Failure::RateLimited { message: m, .. }
            | Failure::CircuitOpen(m)
            | Failure::NoHealthy(m)
            | Failure::InvalidSettings(m)
            | Failure::InvalidIdl(m)
            | Failure::Conflict(m)
            | Failure::VersionConflict(m)
            | Failure::StoreUnavailable(m)
            | Failure::Unauthorized(m)
            | Failure::Forbidden(m)
            | Failure::Internal(m) => m,
            Failure::Remote(r) => r.message(),
        }
    }
}

impl Remote {
    fn status(&self) -> (StatusCode, &'static str) {
        match self {
            Remote::Exception { http_code, .. } => (
                http_code
                    .filter(|c| (100..=599).contains(c))
                    .and_then(|c| StatusCode::from_u16(c as u16).ok())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "backend_exception",
            ),
            Remote::Application { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "application_exception")
            }
            Remote::Business { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "biz_error"),
            Remote::Grpc { code, .. } => (grpc_http_status(*code), "grpc_error"),
            Remote::Dubbo { status, .. } => dubbo_status_http(*status),
        }
    }

    fn message(&self) -> &str {
        match self {
            Remote::Exception { message, .. }
            | Remote::Application { message, .. }
            | Remote::Business { message }
            | Remote::Grpc { message, .. }
            | Remote::Dubbo { message, .. } => message,
        }
    }
}

/// grpc-gateway's mapping of gRPC codes to HTTP statuses
/// (`runtime/errors.go`, `HTTPStatusFromCode`).
fn grpc_http_status(code: u32) -> StatusCode {
    match code {
        0 => StatusCode::OK,
        1 => StatusCode::from_u16(499).expect("499"),
        3 | 9 | 11 => StatusCode::BAD_REQUEST,
        4 => StatusCode::GATEWAY_TIMEOUT,
        5 => StatusCode::NOT_FOUND,
        6 | 10 => StatusCode::CONFLICT,
        7 => StatusCode::FORBIDDEN,
        8 => StatusCode::TOO_MANY_REQUESTS,
        12 => StatusCode::NOT_IMPLEMENTED,
        14 => StatusCode::SERVICE_UNAVAILABLE,
        16 => StatusCode::UNAUTHORIZED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The HTTP status and error code for a Dubbo response status other than OK.
fn dubbo_status_http(status: u8) -> (StatusCode, &'static str) {
    use codecs::dubbo::status as s;
    match status {
        s::CLIENT_TIMEOUT | s::SERVER_TIMEOUT => (StatusCode::GATEWAY_TIMEOUT, "backend_timeout"),
        s::SERVICE_NOT_FOUND => (StatusCode::BAD_GATEWAY, "service_not_found"),
        s::SERVER_THREADPOOL_EXHAUSTED_ERROR => (StatusCode::SERVICE_UNAVAILABLE, "backend_busy"),
        s::BAD_REQUEST | s::SERIALIZATION_ERROR => {
            (StatusCode::BAD_GATEWAY, "backend_rejected_request")
        }
        _ => (StatusCode::BAD_GATEWAY, "dubbo_error"),
    }
}

impl From<TransportError> for Failure {
    /// How a failed exchange with a backend is classified.
    fn from(e: TransportError) -> Failure {
        match e {
            TransportError::Connect { .. } | TransportError::NoEndpoints => {
                Failure::Unavailable(e.to_string())
            }
            TransportError::Timeout(_) => Failure::Timeout(e.to_string()),
            TransportError::CircuitOpen => Failure::CircuitOpen(e.to_string()),
            TransportError::NoHealthy | TransportError::NoneDiscovered => {
                Failure::NoHealthy(e.to_string())
            }
            TransportError::Overloaded { .. } => Failure::Overload(e.to_string()),
            TransportError::RateLimited { retry_after } => Failure::RateLimited {
                message: e.to_string(),
                retry_after_s: retry_after.as_millis().div_ceil(1000).max(1) as u64,
            },
            TransportError::Io { .. }
            | TransportError::Closed { .. }
            | TransportError::Protocol { .. } => Failure::BadReply(e.to_string()),
        }
    }
}

/// An error answer: a classified failure, where it happened, and the extra
/// members of its JSON (`detail`, `type`, `grpc_status` …).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub failure: Failure,
    pub backend: Option<String>,
    pub method: Option<String>,
    pub extra: Map<String, Value>,
}

impl From<crate::cluster::StoreError> for ApiError {
    fn from(e: crate::cluster::StoreError) -> Self {
        use crate::cluster::StoreError as E;
        let failure = match e {
            E::Conflict(m) => Failure::VersionConflict(m),
            E::Unavailable(m) => Failure::StoreUnavailable(m),
            E::TooLarge(m) => Failure::TooLarge(m),
            E::Corrupt(m) => Failure::Internal(format!("cluster store: {m}")),
        };
        failure.into()
    }
}

impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        ApiError {
            failure,
            backend: None,
            method: None,
            extra: Map::new(),
        }
    }
}

impl From<TransportError> for ApiError {
    fn from(e: TransportError) -> Self {
        Failure::from(e).into()
    }
}

impl ApiError {
    pub fn at(mut self, backend: &str, method: &str) -> Self {
        self.backend = Some(backend.to_string());
        self.method = Some(method.to_string());
        self
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }

    /// Prefixes the message (`request line 3: …`).
    pub fn prefixed(mut self, prefix: &str) -> Self {
        let m = format!("{prefix}{}", self.failure.message());
        match &mut self.failure {
            Failure::Input(s)
            | Failure::NotFound(s)
            | Failure::MethodNotAllowed { message: s, .. }
            | Failure::TooLarge(s)
            | Failure::HeadTooLarge(s)
            | Failure::BodyTimeout(s)
            | Failure::ClientConnections(s)
            | Failure::NotImplemented(s)
            | Failure::Unavailable(s)
            | Failure::BadReply(s)
            | Failure::Timeout(s)
            | Failure::Overload(s)
            | Failure::RateLimited { message: s, .. }
            | Failure::CircuitOpen(s)
            | Failure::NoHealthy(s)
            | Failure::InvalidSettings(s)
            | Failure::InvalidIdl(s)
            | Failure::Conflict(s)
            | Failure::VersionConflict(s)
            | Failure::StoreUnavailable(s)
            | Failure::Unauthorized(s)
            | Failure::Forbidden(s)
            | Failure::Internal(s) => *s = m,
            Failure::Remote(_) => {}
        }
        self
    }

    pub fn status(&self) -> StatusCode {
        self.failure.status().0
    }

    pub fn code(&self) -> &'static str {
        self.failure.status().1
    }

    pub fn message(&self) -> &str {
        self.failure.message()
    }

    /// The JSON body of the answer.
    pub fn body(&self) -> Value {
        let mut e = Map::new();
        e.insert("code".into(), json!(self.code()));
        e.insert("message".into(), json!(self.message()));
        if let Some(b) = &self.backend {
            e.insert("backend".into(), json!(b));
        }
        if let Some(m) = &self.method {
            e.insert("method".into(), json!(m));
        }
        e.extend(self.extra.clone());
        json!({ "error": e })
    }

    /// The body of the last item of a stream that failed after its first
    /// message: the error, with the HTTP status it would have had.
    pub fn stream_item(&self) -> Vec<u8> {
        let mut v = self.body();
        v["error"]["http_status"] = json!(self.status().as_u16());
        serde_json::to_vec(&v).expect("JSON value")
    }
}

/// The error code of an answer made from an [`ApiError`], kept in the
/// response's extensions for the metrics and the access log.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = (self.status(), body).into_response();
        resp.extensions_mut().insert(ErrorCode(self.code()));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match &self.failure {
            Failure::MethodNotAllowed { allow, .. } => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    resp.headers_mut().insert(header::ALLOW, v);
                }
            }
            Failure::Unauthorized(_) => {
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Failure::RateLimited { retry_after_s, .. } => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
            }
            _ => {}
        }
        resp
    }
}

/// A successful JSON answer with a status other than 200 (a oneway call's
/// 202, an `api.http_code` of a reply).
pub fn reply_status(code: Option<u16>) -> StatusCode {
    code.and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK)
}

/// Reads a request body of at most `limit` bytes; a larger one (by its
/// `Content-Length`, or as it streams in) is a 413 naming `what`.
pub async fn read_body(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    limit: usize,
    what: &str,
) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError::from(Failure::TooLarge(format!(
            "{what} is larger than {limit} bytes"
        )))
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let e = e.into_inner();
        match crate::edge::limits::BodyStalled::within(&*e) {
            Some(stalled) => ApiError::from(Failure::BodyTimeout(format!("{what}: {stalled}"))),
            None => too_large(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_status() {
        let cases: Vec<(Failure, u16, &str)> = vec![
            (Failure::Input("x".into()), 400, "invalid_request"),
            (Failure::NotFound("x".into()), 404, "not_found"),
            (Failure::TooLarge("x".into()), 413, "payload_too_large"),
            (Failure::HeadTooLarge("x".into()), 431, "headers_too_large"),
            (Failure::BodyTimeout("x".into()), 408, "request_timeout"),
            (
                Failure::ClientConnections("x".into()),
                429,
                "too_many_connections",
            ),
            (Failure::Unavailable("x".into()), 502, "backend_unavailable"),
            (Failure::BadReply("x".into()), 502, "bad_gateway"),
            (Failure::Timeout("x".into()), 504, "backend_timeout"),
            (Failure::Overload("x".into()), 503, "overloaded"),
            (Failure::NotImplemented("x".into()), 501, "not_implemented"),
            (Failure::InvalidIdl("x".into()), 422, "invalid_idl"),
            (Failure::Conflict("x".into()), 409, "route_conflict"),
            (
                Failure::VersionConflict("x".into()),
                409,
                "version_conflict",
            ),
            (
                Failure::StoreUnavailable("x".into()),
                503,
                "store_unavailable",
            ),
            (Failure::CircuitOpen("x".into()), 503, "circuit_open"),
            (Failure::NoHealthy("x".into()), 503, "no_healthy_endpoint"),
            (
                Failure::RateLimited {
                    message: "x".into(),
                    retry_after_s: 1,
                },
                429,
                "rate_limited",
            ),
        ];
        for (f, status, code) in cases {
            assert_eq!(
                f.status(),
                (StatusCode::from_u16(status).unwrap(), code),
                "{f:?}"
            );
        }
    }

    #[test]
    fn transport_errors_are_classified_once() {
        let addr: std::sync::Arc<str> = "127.0.0.1:1".into();
        let refused = TransportError::Connect {
            addr: addr.clone(),
            message: "refused".into(),
        };
        assert_eq!(Failure::from(refused).status().1, "backend_unavailable");
        assert_eq!(
            Failure::from(TransportError::NoEndpoints).status().1,
            "backend_unavailable"
        );
        let t = TransportError::Timeout(std::time::Duration::from_millis(5));
        assert_eq!(Failure::from(t.clone()).status().1, "backend_timeout");
        assert_eq!(Failure::from(t).message(), "no reply within 5 ms");
        assert_eq!(
            Failure::from(TransportError::Closed { addr }).status().1,
            "bad_gateway"
        );
        let limited = ApiError::from(TransportError::RateLimited {
            retry_after: std::time::Duration::from_millis(1200),
        })
        .into_response();
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["retry-after"], "2");
        assert_eq!(
            Failure::from(TransportError::Overloaded { limit: 4 }).message(),
            "more than 4 calls in flight to this backend"
        );
    }

    #[test]
    fn remote_statuses() {
        let exc = |c| Remote::Exception {
            message: String::new(),
            http_code: c,
        };
        assert_eq!(exc(None).status().0, 500);
        assert_eq!(exc(Some(404)).status().0, 404);
        // Out of range: never wrapped into another status.
        for bad in [65736, 99, 600, -1, 0, i64::MAX] {
            assert_eq!(exc(Some(bad)).status().0, 500, "{bad}");
        }
        let grpc = |code| {
            Remote::Grpc {
                code,
                message: String::new(),
            }
            .status()
            .0
            .as_u16()
        };
        assert_eq!(
            (0..=16).map(grpc).collect::<Vec<_>>(),
            [
                200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401
            ]
        );
        assert_eq!(grpc(17), 500);
        let dubbo = |status| {
            Remote::Dubbo {
                status,
                message: String::new(),
            }
            .status()
        };
        assert_eq!(dubbo(31).1, "backend_timeout");
        assert_eq!(dubbo(60).1, "service_not_found");
        assert_eq!(dubbo(100).0, 503);
        assert_eq!(dubbo(90).1, "dubbo_error");
    }

    #[test]
    fn the_json_shape() {
        let e = ApiError::from(Failure::Input("$.a: expected i32".into()))
            .at("hello", "Hello.add")
            .with("field", json!("a"));
        assert_eq!(
            e.body(),
            json!({"error": {"code": "invalid_request", "message": "$.a: expected i32",
                "backend": "hello", "method": "Hello.add", "field": "a"}})
        );
        let item: Value = serde_json::from_slice(&e.stream_item()).unwrap();
        assert_eq!(item["error"]["http_status"], 400);
        let p = ApiError::from(Failure::Input("bad".into())).prefixed("request line 2: ");
        assert_eq!(p.message(), "request line 2: bad");
    }
}
