//! OpenAPI 3.1 documents generated from the IDLs and routes: [`document`]
//! describes every route of the given backends as the gateway serves it.
//! Each protocol module adds its backend's operations and schemas
//! (`thrift.rs` for the protocols described by Thrift IDL, `proto.rs` for
//! those described by `.proto` files); what they share is here: the
//! document's components, its unique keys and operation ids, the gateway's
//! error shape (component `Error`) and the failure answers.

mod example;
mod proto;
mod thrift;

pub use example::example;

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::backend::{Backend, BackendSpec};

const SCHEMAS: &str = "#/components/schemas/";
const ERROR_REF: &str = "#/components/schemas/Error";
/// A decimal integer as text (i64 strings, `api.js_conv`, integer map keys).
const INTEGER_TEXT: &str = "^-?[0-9]+$";

/// The OpenAPI 3.1 document of `backends`' routes; `server_url` (the front
/// door's base URL) becomes the one entry of `servers`. Each backend's
/// protocol module adds its operations ([`Document::add_thrift`] for the
/// protocols described by Thrift IDL).
pub fn document(backends: &[Arc<Backend>], server_url: Option<&str>) -> Value {
    let mut doc = Document::default();
    doc.doc.keys.insert("Error".to_string());
    for b in backends {
        b.imp.openapi(&mut doc);
    }
    let Document { doc, paths, tags } = doc;
    let mut schemas = doc.schemas;
    schemas.insert("Error".into(), error_schema());
    let mut out = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "kitegate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "HTTP/JSON routes of kitegate's backends (Thrift, Kitex Protobuf, gRPC, Dubbo), generated from their IDL. \
                Every failure answers `{\"error\": {\"code\", \"message\", \"backend\", \"method\", ...}}` (schema `Error`).",
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": error_responses(),
        },
    });
    if let Some(url) = server_url {
        out["servers"] = json!([{ "url": url }]);
    }
    example::add_examples(&mut out);
    out
}

/// An OpenAPI document being built: paths, tags and components.
#[derive(Default)]
pub struct Document {
    doc: Doc,
    paths: Map<String, Value>,
    tags: Vec<Value>,
}

impl Document {
    /// Adds one operation a protocol module describes itself (a generic
    /// call), at `path` (OpenAPI syntax) under `verb`; its `operationId` is
    /// made unique and its tag is the backend's.
    pub fn add_operation(&mut self, spec: &BackendSpec, path: String, verb: &str, mut op: Value) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or("operation")
            .to_string();
        op["operationId"] = json!(unique(&mut self.doc.op_ids, id));
        op["tags"] = json!([spec.name]);
        let item = path_item(&mut self.paths, path);
        if item.get(verb).is_none() {
            item[verb] = op;
        }
    }

    /// The tag of one backend: its services, protocol, transport and prefix.
    fn tag(&mut self, spec: &BackendSpec) {
        self.tags.push(json!({
            "name": spec.name,
            "description": format!(
                "Backend `{}`: service{} {} over {} / {}{}",
                spec.name,
                if spec.services.len() == 1 { "" } else { "s" },
                spec.services.join(", "),
                spec.settings.protocol,
                spec.settings.transport,
                if spec.prefix.is_empty() {
                    String::new()
                } else {
                    format!(", routes under `{}`", spec.prefix)
                }
            ),
        }));
    }
}

/// The path item at `path` in `paths`, made empty if new.
fn path_item(paths: &mut Map<String, Value>, path: String) -> &mut Value {
    paths
        .entry(path)
        .or_insert_with(|| Value::Object(Map::new()))
}

/// What the whole document shares: component schemas, their keys, operation ids.
#[derive(Default)]
struct Doc {
    schemas: Map<String, Value>,
    keys: HashSet<String>,
    op_ids: HashSet<String>,
}

impl Doc {
    /// A new component key for `want`, made of `[a-zA-Z0-9._-]` and unique.
    fn new_key(&mut self, want: &str) -> String {
        let base: String = want
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        unique(&mut self.keys, base)
    }
}

impl Doc {
    /// The operation id of route `nth` of a method: `base`
    /// (`backend.Service.method`) for its first route, `base.{suffix}`
    /// after that; unique in the document.
    fn op_id(&mut self, base: String, nth: usize, suffix: impl std::fmt::Display) -> String {
        let id = if nth == 0 {
            base
        } else {
            format!("{base}.{suffix}")
        };
        unique(&mut self.op_ids, id)
    }
}

fn unique(taken: &mut HashSet<String>, base: String) -> String {
    let mut key = base.clone();
    let mut n = 2;
    while taken.contains(&key) {
        key = format!("{base}_{n}");
        n += 1;
    }
    taken.insert(key.clone());
    key
}

fn integer(format: &str, min: i64, max: i64) -> Value {
    json!({"type": "integer", "format": format, "minimum": min, "maximum": max})
}

fn response_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// The shape of every failure (README "Errors").
fn error_schema() -> Value {
    json!({
        "title": "Error",
        "description": "Every failure of the gateway or of a backend",
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "What failed, e.g. `invalid_request`, `not_found`, \
                    `method_not_allowed`, `payload_too_large`, `rate_limited`, `backend_exception`, \
                    `application_exception`, `biz_error`, `grpc_error`, `dubbo_error`, `backend_unavailable`, \
                    `no_healthy_endpoint`, `circuit_open`, `bad_gateway`, `backend_timeout` (README \"Errors\")"},
                "message": {"type": "string", "description": "For invalid_request it starts with the JSON path, e.g. `$.req.items[3].id`"},
                "backend": {"type": "string", "description": "The backend's name"},
                "method": {"type": "string", "description": "`Service.method`"},
                "exception": {"type": "string", "description": "backend_exception: the IDL type of the exception"},
                "field": {"type": "string", "description": "backend_exception: the throws field"},
                "detail": {"description": "backend_exception: the exception as JSON"},
                "type": {"type": "integer", "description": "application_exception: the TApplicationException type"},
                "biz_status": {"type": ["integer", "string"], "description": "biz_error: the TTHeader biz-status"},
                "biz_extra": {"description": "biz_error: the TTHeader biz-extra (JSON when it parses)"},
                "grpc_status": {"type": "integer", "description": "grpc_error: the gRPC status code"},
                "grpc_code": {"type": "string", "description": "grpc_error: the status code's name"},
                "details": {"type": "array", "description": "grpc_error: the status details (`google.rpc.Status.details`, each an `Any` in JSON)"},
                "dubbo_status": {"type": "integer", "description": "a Dubbo status other than OK: its number"},
                "dubbo_status_name": {"type": "string", "description": "a Dubbo status other than OK: its name"},
                "exception_message": {"type": "string", "description": "a Dubbo provider's exception: its message"},
                "http_status": {"type": "integer", "description": "the last item of a stream that failed: the status the error would have had"},
            },
        }},
    })
}

fn error_responses() -> Value {
    let r = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
        })
    };
    json!({
        "BadRequest": r("`invalid_request`: malformed JSON, a wrong type, an out-of-range integer, bad base64, \
            a missing required field, a union without exactly one field, or an unknown field when those are rejected"),
        "NotFound": r("`not_found`: no route"),
        "PayloadTooLarge": r("`payload_too_large`: the body is over the gateway's limit"),
        "InternalError": r("`application_exception` (a TApplicationException) or `biz_error` (a Kitex business error)"),
        "BadGateway": r("`backend_unavailable` (no endpoint accepted a connection) or `bad_gateway` \
            (the backend closed the connection or sent something that is not a valid reply)"),
        "GatewayTimeout": r("`backend_timeout`: no reply within the backend's timeout"),
        "RemoteStatus": r("`grpc_error` or `dubbo_error`: the server answered a status other than OK. \
            For gRPC the HTTP status is grpc-gateway's for the code (INVALID_ARGUMENT 400, NOT_FOUND 404, \
            PERMISSION_DENIED 403, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, ...), with `grpc_status`, \
            `grpc_code` and `details`; for Dubbo `dubbo_status` and its name"),
    })
}
