//! The protocols a backend can speak, and the one list of them.
//!
//! A protocol module says what it is ([`Protocol`]: name, IDL kind,
//! transports) and builds a backend from settings and IDL
//! ([`Protocol::build`]); the backend it builds ([`ProtocolBackend`]) gives
//! its routes, its methods for the admin API and its OpenAPI paths. Every
//! call a route makes goes through its backend's client stack (the
//! `pipeline`), which is the same for every protocol.
//!
//! Adding a protocol: one module here and one line in [`PROTOCOLS`].
//! Nothing outside this folder compares protocol names.

pub mod builtin;
pub mod dubbo;
pub mod grpc;
mod grpc_web;
pub mod kitex_pb;
pub(crate) mod proto;
pub mod thrift;
mod thrift_http;
mod thrift_rules;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Method as HttpVerb;
use axum::http::request::Parts;
use axum::response::Response;
use idl::proto::PathTemplate;
use serde_json::Value;

use crate::backend::{BackendSpec, BuildContext, Idl};
use crate::error::ApiError;

/// Which IDL describes a protocol's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdlKind {
    /// `.thrift` files.
    Thrift,
    /// `.proto` files.
    Proto,
}

/// What a protocol is: its names, IDL kind and transports.
#[derive(Debug)]
pub struct About {
    /// The name used in configuration, the admin API and the CLI.
    pub name: &'static str,
    /// Other names accepted for it.
    pub aliases: &'static [&'static str],
    pub idl: IdlKind,
    /// The transports (framings) a backend of this protocol may use.
    pub transports: &'static [&'static str],
}

/// What a backend is built from: its checked settings, its IDL, and what
/// backends share.
pub struct Build<'a> {
    pub spec: &'a Arc<BackendSpec>,
    pub idl: Idl,
    pub ctx: &'a BuildContext<'a>,
}

/// A built backend, or why it cannot be built.
pub type Built = Result<Arc<dyn ProtocolBackend>, String>;

/// What a backend's providers look like in a registry of provider URLs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Listing {
    /// The URL scheme of the providers it can call.
    pub scheme: &'static str,
    /// The service group and version its calls name.
    pub group: Option<String>,
    pub version: Option<String>,
}

/// What a protocol module says about itself.
pub trait Protocol: Send + Sync + 'static {
    fn about(&self) -> &About;
    /// Builds a backend: its connections, client stack and routes' state.
    fn build(&self, b: Build<'_>) -> Built;
    /// Whether a backend may come without an IDL file (generic calls only).
    fn idl_optional(&self, _settings: &crate::config::BackendConfig) -> bool {
        false
    }
    /// How a registry of provider URLs (Dubbo's) lists this backend's
    /// providers; `None`: the protocol is not listed there.
    fn listing(&self, _settings: &crate::config::BackendConfig) -> Option<Listing> {
        None
    }

    fn name(&self) -> &'static str {
        self.about().name
    }
    fn aliases(&self) -> &'static [&'static str] {
        self.about().aliases
    }
    fn idl(&self) -> IdlKind {
        self.about().idl
    }
    fn transports(&self) -> &'static [&'static str] {
        self.about().transports
    }
}

/// The protocols, in the order they are listed to users.
pub static PROTOCOLS: &[&dyn Protocol] = &[
    &thrift::THRIFT,
    &thrift::THRIFT_COMPACT,
    &kitex_pb::KitexPb,
    &grpc::Grpc,
    &dubbo::Dubbo,
];

/// The protocol of that name (or alias).
pub fn find(name: &str) -> Option<&'static dyn Protocol> {
    PROTOCOLS
        .iter()
        .copied()
        .find(|p| p.name() == name || p.aliases().contains(&name))
}

/// Every protocol name, for messages and the CLI (`thrift, thrift-compact, …`).
/// The protocols as the admin API lists them (`GET /admin/protocols`):
/// each name with its transports (the first is its default) and the IDL
/// it is described by.
pub fn listing() -> serde_json::Value {
    serde_json::Value::Array(
        PROTOCOLS
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name(),
                    "transports": p.transports(),
                    "idl": match p.idl() {
                        IdlKind::Thrift => "thrift",
                        IdlKind::Proto => "proto",
                    },
                })
            })
            .collect(),
    )
}

pub fn names() -> Vec<&'static str> {
    PROTOCOLS.iter().map(|p| p.name()).collect()
}

/// Every transport name some protocol accepts, for the CLI.
pub fn transport_names() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for t in PROTOCOLS.iter().flat_map(|p| p.transports()) {
        if !out.contains(t) {
            out.push(t);
        }
    }
    out
}

/// A built backend, as its protocol module made it.
pub trait ProtocolBackend: Send + Sync + 'static {
    /// Every route of the backend (prefix included).
    fn routes(self: Arc<Self>) -> Result<Vec<RouteSpec>, String>;
    /// The methods of its services for the admin API: `service`, `method`
    /// and the protocol's own flags (`oneway`, `client_streaming` …); the
    /// admin API adds each method's routes from [`ProtocolBackend::routes`].
    fn methods(&self) -> Vec<Value>;
    /// Adds the backend's operations to an OpenAPI document; protocols
    /// without a generator add nothing.
    fn openapi(&self, _doc: &mut crate::openapi::Document) {}
}

/// How a route's path is written.
#[derive(Debug, Clone)]
pub enum RoutePath {
    /// Hertz syntax (`/a/:id/*rest`), matched exactly.
    Hertz(String),
    /// A `google.api.http` template (`/v1/{name=shelves/*}:cancel`).
    Template(PathTemplate),
}

impl RoutePath {
    /// The path as written.
    pub fn as_str(&self) -> &str {
        match self {
            RoutePath::Hertz(p) => p,
            RoutePath::Template(t) => t.as_str(),
        }
    }
}

/// One route a backend offers.
pub struct RouteSpec {
    pub verb: HttpVerb,
    pub path: RoutePath,
    pub service: String,
    pub method: String,
    pub handler: Arc<dyn Route>,
}

/// What a route gets of an HTTP request.
pub struct HttpRequest {
    pub parts: Parts,
    pub body: Body,
    /// Path variables: (name, value as in the path, percent-encoded for
    /// Hertz routes, decoded for templates).
    pub params: Vec<(String, String)>,
    /// Largest request body (bytes).
    pub body_limit: usize,
}

pub type RouteFuture<'a> = Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send + 'a>>;

/// A route's handler: one HTTP request in, one response out (a streamed
/// one for streaming calls). Errors become the JSON error shape.
pub trait Route: Send + Sync + 'static {
    fn call(&self, req: HttpRequest) -> RouteFuture<'_>;

    /// Whether the route also takes a WebSocket upgrade (a `GET` on its
    /// path, whatever its own HTTP method).
    fn websocket(&self) -> bool {
        false
    }
}

/// Whether a request asks to upgrade to WebSocket.
pub fn wants_websocket(parts: &Parts) -> bool {
    let has = |name, token: &str| {
        parts.headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    parts.method == axum::http::Method::GET
        && has(axum::http::header::CONNECTION, "upgrade")
        && has(axum::http::header::UPGRADE, "websocket")
}

/// How a streamed answer is written, picked by the request's `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamShape {
    /// Newline-delimited JSON (`application/x-ndjson`): the default.
    Ndjson,
    /// Server-Sent Events (`text/event-stream`).
    Sse,
    /// One JSON array (`application/json`), written element by element.
    JsonArray,
}

impl StreamShape {
    /// `text/event-stream` asks for SSE; `application/json` (without
    /// `application/x-ndjson` beside it) for a JSON array; anything else,
    /// `*/*` included, gets newline-delimited JSON.
    pub fn of(parts: &Parts) -> StreamShape {
        let accept = parts
            .headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if accept.contains("text/event-stream") {
            StreamShape::Sse
        } else if accept.contains("application/json") && !accept.contains("application/x-ndjson") {
            StreamShape::JsonArray
        } else {
            StreamShape::Ndjson
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            StreamShape::Ndjson => "application/x-ndjson",
            StreamShape::Sse => "text/event-stream",
            StreamShape::JsonArray => "application/json",
        }
    }

    /// The bytes of one item: `first` says whether it opens the stream,
    /// `error` whether it is the error that ends it.
    pub fn item(self, item: &[u8], first: bool, error: bool) -> Vec<u8> {
        let mut c = Vec::with_capacity(item.len() + 16);
        match self {
            StreamShape::Sse => {
                if error {
                    c.extend_from_slice(b"event: error\n");
                }
                c.extend_from_slice(b"data: ");
                c.extend_from_slice(item);
                c.extend_from_slice(b"\n\n");
            }
            StreamShape::Ndjson => {
                c.extend_from_slice(item);
                c.push(b'\n');
            }
            StreamShape::JsonArray => {
                c.push(if first { b'[' } else { b',' });
                c.extend_from_slice(item);
            }
        }
        c
    }

    /// What ends the stream after its last item (`empty`: there was none).
    pub fn end(self, empty: bool) -> &'static [u8] {
        match (self, empty) {
            (StreamShape::JsonArray, true) => b"[]",
            (StreamShape::JsonArray, false) => b"]",
            _ => b"",
        }
    }
}

/// A route's answer, its failure named by backend and method.
pub fn answer<'a>(
    handled: impl Future<Output = Result<Response, ApiError>> + Send + 'a,
    backend: &'a str,
    method: &'a str,
) -> RouteFuture<'a> {
    Box::pin(async move { handled.await.map_err(|e| e.at(backend, method)) })
}

/// A request with its body read (within its limit).
pub struct ReadRequest {
    pub parts: Parts,
    pub params: Vec<(String, String)>,
    pub body: bytes::Bytes,
}

impl HttpRequest {
    /// Reads the whole body, at most `body_limit` bytes (413 past it).
    pub async fn read(self) -> Result<ReadRequest, ApiError> {
        let body = crate::error::read_body(
            &self.parts.headers,
            self.body,
            self.body_limit,
            "request body",
        )
        .await?;
        Ok(ReadRequest {
            parts: self.parts,
            params: self.params,
            body,
        })
    }
}

/// A JSON response with status `status`.
pub fn json_response(status: axum::http::StatusCode, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_list() {
        assert_eq!(
            names(),
            [
                "thrift",
                "thrift-compact",
                "kitex-protobuf",
                "grpc",
                "dubbo"
            ]
        );
        assert_eq!(find("thrift-binary").map(|p| p.name()), Some("thrift"));
        assert!(find("soap").is_none());
        for p in PROTOCOLS {
            assert_eq!(find(p.name()).map(|f| f.name()), Some(p.name()));
            assert!(!p.transports().is_empty(), "{}", p.name());
        }
        assert_eq!(find("grpc").unwrap().idl(), IdlKind::Proto);
        assert_eq!(find("dubbo").unwrap().idl(), IdlKind::Thrift);
        // Kitex Protobuf has no buffered form.
        assert!(
            !find("kitex-protobuf")
                .unwrap()
                .transports()
                .contains(&"buffered")
        );
    }
}
