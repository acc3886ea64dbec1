//! The one place where failures become HTTP: every error the gateway
//! answers with has a status from this table and the JSON shape
//! `{"error": {"code", "message", "backend", "method", …}}`.
//!
//! | code | status | meaning |
//! |---|---|---|
//! | `invalid_request` | 400 | malformed JSON, wrong type, missing required field (message names the JSON path) |
//! | `not_found` | 404 | no route for the path |
//! | `method_not_allowed` | 405 | the path exists for other HTTP methods (see `Allow`) |
//! | `payload_too_large` | 413 | body over the configured limit |
//! | `backend_exception` | 500, or the exception's `api.http_code` field | an exception declared in the IDL; its JSON is in `detail` |
//! | `application_exception` | 500 | a TApplicationException from the backend (`type` is its code) |
//! | `biz_error` | 500 | a Kitex business status error (TTHeader `biz-status`) |
//! | `backend_unavailable` | 502 | no connection could be made to any endpoint |
//! | `bad_gateway` | 502 | the backend closed the connection, or replied with bytes that are not a valid reply |
//! | `backend_timeout` | 504 | no reply within the backend's timeout |

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub backend: Option<String>,
    pub method: Option<String>,
    /// Extra members of the error object (`detail`, `type`, `biz_status` …).
    pub extra: Map<String, Value>,
    pub allow: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            backend: None,
            method: None,
            extra: Map::new(),
            allow: None,
        }
    }
    pub fn at(mut self, backend: &str, method: &str) -> Self {
        self.backend = Some(backend.to_string());
        self.method = Some(method.to_string());
        self
    }
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }
    pub fn not_found(path: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for {path}"),
        )
    }
    pub fn body(&self) -> Value {
        let mut e = Map::new();
        e.insert("code".into(), json!(self.code));
        e.insert("message".into(), json!(self.message));
        if let Some(b) = &self.backend {
            e.insert("backend".into(), json!(b));
        }
        if let Some(m) = &self.method {
            e.insert("method".into(), json!(m));
        }
        e.extend(self.extra.clone());
        json!({ "error": e })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(allow) = self.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            resp.headers_mut().insert(header::ALLOW, allow);
        }
        resp
    }
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
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("{what} is larger than {limit} bytes"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}
