//! Protobuf backends (Kitex Protobuf over framed or TTHeader): routes from
//! `google.api.http` rules (or `POST /{package.Service}/{Method}`), request
//! assembly from path variables, query parameters and the body as
//! grpc-gateway does it, and the call.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::StatusCode;
use codecs::framing::{self, Transport, ttheader};
use codecs::protobuf::{self, KitexPbReply, PbDecodeOptions, kitex};
use codecs::transport::{GrpcClient, GrpcError};
use idl::proto::{ProtoHttpRule, ProtoMethod};
use prost_reflect::{Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::backend::Backend;
use crate::error::ApiError;

/// One HTTP rule of one protobuf method.
pub struct PbRoute {
    pub backend: Arc<Backend>,
    /// The IDL service name (`Hello`), as Kitex expects it in TTHeader.
    pub service: String,
    pub method: ProtoMethod,
    /// `None` for the default `POST /{package.Service}/{Method}` route (body `*`).
    pub rule: Option<ProtoHttpRule>,
    header_block: Vec<u8>,
}

impl PbRoute {
    pub fn new(
        backend: Arc<Backend>,
        service: &str,
        method: &ProtoMethod,
        rule: Option<ProtoHttpRule>,
    ) -> PbRoute {
        let header_block = ttheader::header_block(&ttheader::TTHeaderMeta {
            protocol: ttheader::PROTOCOL_BINARY,
            strs: vec![(
                Cow::Borrowed(ttheader::str_key::IDL_SERVICE_NAME),
                Cow::Borrowed(service),
            )],
            ints: vec![
                (ttheader::int_key::TRANSPORT_TYPE, Cow::Borrowed("framed")),
                (ttheader::int_key::FROM_SERVICE, Cow::Borrowed("kitegate")),
                (ttheader::int_key::TO_SERVICE, Cow::Borrowed(&backend.name)),
                (ttheader::int_key::TO_METHOD, Cow::Borrowed(&method.name)),
                (ttheader::int_key::MSG_TYPE, Cow::Borrowed("1")),
                (
                    ttheader::int_key::RPC_TIMEOUT,
                    Cow::Owned(backend.timeout.as_millis().to_string()),
                ),
            ],
        });
        PbRoute {
            backend,
            service: service.to_string(),
            method: method.clone(),
            rule,
            header_block,
        }
    }

    fn error(
        &self,
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError::new(status, code, message).at(
            &self.backend.name,
            &format!("{}.{}", self.service, self.method.name),
        )
    }

    /// The request message as JSON: the body (per the rule's `body`), then
    /// query parameters for fields the path and body do not set, then path
    /// variables (which win), as grpc-gateway merges them.
    pub fn request_json(
        &self,
        vars: &[(String, String)],
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input = self.method.descriptor.input();
        let bad = |m: String| self.error(StatusCode::BAD_REQUEST, "invalid_request", m);
        let body_rule = match &self.rule {
            None => Some("*"),
            Some(r) => r.body.as_deref(),
        };
        let parsed = || -> Result<Value, ApiError> {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Object(Map::new()));
            }
            serde_json::from_slice(body).map_err(|e| bad(format!("$: {e}")))
        };
        let mut msg = match body_rule {
            Some("*") => match parsed()? {
                Value::Object(m) => m,
                other => {
                    return Err(bad(format!(
                        "$: expected an object, found {}",
                        kind_of(&other)
                    )));
                }
            },
            Some(field) => {
                let mut m = Map::new();
                m.insert(field.to_string(), parsed()?);
                m
            }
            None => Map::new(),
        };
        if body_rule != Some("*")
            && let Some(q) = query
        {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                if vars.iter().any(|(p, _)| *p == k) || body_rule == Some(k.as_ref()) {
                    continue;
                }
                let Some((kind, repeated)) = field_kind(&input, &k) else {
                    continue; // unknown query parameters are ignored, as grpc-gateway does
                };
                let value = scalar(&kind, &v);
                set_path(&mut msg, &k, value, repeated).map_err(|e| bad(format!("$.{k}: {e}")))?;
            }
        }
        for (path, v) in vars {
            let value = match field_kind(&input, path) {
                Some((kind, _)) => scalar(&kind, v),
                None => {
                    return Err(bad(format!(
                        "$.{path}: no such field in {}",
                        input.full_name()
                    )));
                }
            };
            set_path(&mut msg, path, value, false).map_err(|e| bad(format!("$.{path}: {e}")))?;
        }
        Ok(Value::Object(msg))
    }

    /// Encodes, sends and decodes one call; `out` gets the JSON response.
    pub async fn call(&self, request: &Value, out: &mut Vec<u8>) -> Result<(), ApiError> {
        let b = &self.backend;
        let input = self.method.descriptor.input();
        let mut message = Vec::with_capacity(128);
        let json = serde_json::to_vec(request).expect("JSON value");
        protobuf::json_to_message(&input, &json, &b.pb_encode, &mut message)
            .map_err(|e| self.error(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()))?;
        if let Some(grpc) = &b.grpc {
            return self.call_grpc(grpc, &message, out).await;
        }
        let seqid = b.next_seqid();
        let mut req = Vec::with_capacity(message.len() + 128);
        // Kitex Protobuf is always framed; in TTHeader it is the framed message as payload.
        if b.transport.is_ttheader() {
            let mark =
                framing::begin_frame(Transport::TTHeader, &mut req, seqid, &self.header_block);
            protobuf::encode_call(&self.method.name, seqid, &message, &mut req);
            framing::finish_frame(Transport::TTHeader, &mut req, mark);
        } else {
            protobuf::encode_call(&self.method.name, seqid, &message, &mut req);
        }
        let Some(resp) = b.send(&req, false, |s, c, m| self.error(s, c, m)).await? else {
            return Err(self.error(StatusCode::BAD_GATEWAY, "bad_gateway", "no reply"));
        };
        let payload = resp.payload();
        let reply = kitex::decode_reply(payload, &self.method.name, seqid).map_err(|e| {
            self.error(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                format!("bad reply from {}: {e}", resp.addr),
            )
        })?;
        match reply {
            KitexPbReply::Message(range) => {
                let output = self.method.descriptor.output();
                let mut full = Vec::with_capacity(range.len() * 2 + 16);
                protobuf::message_to_json(&output, &payload[range], &b.pb_decode, &mut full)
                    .map_err(|e| {
                        self.error(
                            StatusCode::BAD_GATEWAY,
                            "bad_gateway",
                            format!("bad reply from {}: {e}", resp.addr),
                        )
                    })?;
                match self.rule.as_ref().and_then(|r| r.response_body.as_deref()) {
                    None => out.extend_from_slice(&full),
                    Some(field) => {
                        let v: Value = serde_json::from_slice(&full).unwrap_or(Value::Null);
                        let key = output.get_field_by_name(field).map(|f| {
                            if b.pb_decode.proto_field_names {
                                f.name().to_string()
                            } else {
                                f.json_name().to_string()
                            }
                        });
                        let part = key.and_then(|k| v.get(&k).cloned()).unwrap_or(Value::Null);
                        out.extend_from_slice(&serde_json::to_vec(&part).expect("JSON value"));
                    }
                }
                Ok(())
            }
            KitexPbReply::Exception { type_id, message } => Err(self
                .error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "application_exception",
                    message,
                )
                .with("type", json!(type_id))),
        }
    }
}

impl PbRoute {
    /// Writes the response JSON, or only its `response_body` field.
    fn write_response(&self, full: &[u8], out: &mut Vec<u8>) {
        match self.rule.as_ref().and_then(|r| r.response_body.as_deref()) {
            None => out.extend_from_slice(full),
            Some(field) => {
                let output = self.method.descriptor.output();
                let v: Value = serde_json::from_slice(full).unwrap_or(Value::Null);
                let key = output.get_field_by_name(field).map(|f| {
                    if self.backend.pb_decode.proto_field_names {
                        f.name().to_string()
                    } else {
                        f.json_name().to_string()
                    }
                });
                let part = key.and_then(|k| v.get(&k).cloned()).unwrap_or(Value::Null);
                out.extend_from_slice(&serde_json::to_vec(&part).expect("JSON value"));
            }
        }
    }

    async fn call_grpc(
        &self,
        grpc: &GrpcClient,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        let b = &self.backend;
        let path = format!("/{}/{}", self.service_full_name(), self.method.name);
        let headers = axum::http::HeaderMap::new();
        let call = grpc.unary(&path, message, b.timeout, &headers);
        let reply = match tokio::time::timeout(b.timeout, call).await {
            Err(_) => {
                return Err(self.error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "backend_timeout",
                    format!("no reply within {} ms", b.timeout.as_millis()),
                ));
            }
            Ok(Err(e @ GrpcError::Connect { .. })) => {
                return Err(self.error(
                    StatusCode::BAD_GATEWAY,
                    "backend_unavailable",
                    e.to_string(),
                ));
            }
            Ok(Err(e)) => {
                return Err(self.error(StatusCode::BAD_GATEWAY, "bad_gateway", e.to_string()));
            }
            Ok(Ok(r)) => r,
        };
        if reply.status != 0 {
            return Err(self
                .error(grpc_http_status(reply.status), "grpc_error", reply.message)
                .with("grpc_status", json!(reply.status))
                .with("grpc_code", json!(grpc_code_name(reply.status))));
        }
        let output = self.method.descriptor.output();
        let mut full = Vec::with_capacity(reply.body.len() * 2 + 16);
        protobuf::message_to_json(&output, &reply.body, &b.pb_decode, &mut full).map_err(|e| {
            self.error(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                format!("bad reply: {e}"),
            )
        })?;
        self.write_response(&full, out);
        Ok(())
    }

    /// A server-streaming call answered as a streamed HTTP response:
    /// newline-delimited JSON, or Server-Sent Events when `sse`. A failure
    /// after the first message ends the stream with an `{"error": …}` item.
    pub async fn stream(
        &self,
        request: &Value,
        sse: bool,
    ) -> Result<axum::response::Response, ApiError> {
        let b = &self.backend;
        let Some(grpc) = &b.grpc else {
            return Err(self.error(
                StatusCode::NOT_IMPLEMENTED,
                "not_implemented",
                "streaming needs a gRPC backend",
            ));
        };
        let input = self.method.descriptor.input();
        let mut message = Vec::with_capacity(128);
        let json = serde_json::to_vec(request).expect("JSON value");
        protobuf::json_to_message(&input, &json, &b.pb_encode, &mut message)
            .map_err(|e| self.error(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()))?;
        let path = format!("/{}/{}", self.service_full_name(), self.method.name);
        let headers = axum::http::HeaderMap::new();
        let stream = match tokio::time::timeout(
            b.timeout,
            grpc.server_stream(&path, &message, b.timeout, &headers),
        )
        .await
        {
            Err(_) => {
                return Err(self.error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "backend_timeout",
                    format!("no reply within {} ms", b.timeout.as_millis()),
                ));
            }
            Ok(Err(e @ GrpcError::Connect { .. })) => {
                return Err(self.error(
                    StatusCode::BAD_GATEWAY,
                    "backend_unavailable",
                    e.to_string(),
                ));
            }
            Ok(Err(e)) => {
                return Err(self.error(StatusCode::BAD_GATEWAY, "bad_gateway", e.to_string()));
            }
            Ok(Ok(s)) => s,
        };
        let state = StreamState {
            stream,
            output: self.method.descriptor.output(),
            opts: b.pb_decode.clone(),
            sse,
            done: false,
            backend: b.name.clone(),
            method: format!("{}.{}", self.service, self.method.name),
        };
        let body = futures_util::stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            let item = match st.stream.next().await {
                Ok(Some(msg)) => {
                    let mut json = Vec::with_capacity(msg.len() * 2 + 16);
                    match protobuf::message_to_json(&st.output, &msg, &st.opts, &mut json) {
                        Ok(()) => json,
                        Err(e) => st.fail("bad_gateway", 502, e.to_string(), None),
                    }
                }
                Ok(None) => match st.stream.finish().await {
                    Ok((0, _)) => return None,
                    Ok((code, message)) => st.fail(
                        "grpc_error",
                        grpc_http_status(code).as_u16(),
                        message,
                        Some(code),
                    ),
                    Err(e) => st.fail("bad_gateway", 502, e.to_string(), None),
                },
                Err(e) => st.fail("bad_gateway", 502, e.to_string(), None),
            };
            let chunk = if st.sse {
                let event = if st.done { "event: error\n" } else { "" };
                let mut c = Vec::with_capacity(item.len() + 16);
                c.extend_from_slice(event.as_bytes());
                c.extend_from_slice(b"data: ");
                c.extend_from_slice(&item);
                c.extend_from_slice(b"\n\n");
                c
            } else {
                let mut c = item;
                c.push(b'\n');
                c
            };
            Some((
                Ok::<_, std::convert::Infallible>(bytes::Bytes::from(chunk)),
                st,
            ))
        });
        let ctype = if sse {
            "text/event-stream"
        } else {
            "application/x-ndjson"
        };
        let mut resp = axum::response::Response::new(axum::body::Body::from_stream(body));
        resp.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(ctype),
        );
        Ok(resp)
    }

    fn service_full_name(&self) -> String {
        self.method
            .descriptor
            .parent_service()
            .full_name()
            .to_string()
    }
}

/// What a response stream needs between items.
struct StreamState {
    stream: codecs::transport::GrpcStream,
    output: MessageDescriptor,
    opts: PbDecodeOptions,
    sse: bool,
    done: bool,
    backend: String,
    method: String,
}

impl StreamState {
    /// The last item of a failed stream: the JSON error shape.
    fn fail(&mut self, code: &str, status: u16, message: String, grpc: Option<u32>) -> Vec<u8> {
        self.done = true;
        let mut e = json!({"code": code, "message": message, "backend": self.backend, "method": self.method, "http_status": status});
        if let Some(g) = grpc {
            e["grpc_status"] = json!(g);
            e["grpc_code"] = json!(grpc_code_name(g));
        }
        serde_json::to_vec(&json!({ "error": e })).expect("JSON value")
    }
}

/// grpc-gateway's mapping of gRPC codes to HTTP statuses (runtime/errors.go).
pub fn grpc_http_status(code: u32) -> StatusCode {
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

fn grpc_code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(code as usize).copied().unwrap_or("UNKNOWN")
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The kind of the field at a dotted path (proto or JSON names) and whether it repeats.
fn field_kind(desc: &MessageDescriptor, path: &str) -> Option<(Kind, bool)> {
    let mut cur = desc.clone();
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        let f = cur
            .get_field_by_name(p)
            .or_else(|| cur.get_field_by_json_name(p))?;
        if parts.peek().is_none() {
            return Some((f.kind(), f.is_list()));
        }
        match f.kind() {
            Kind::Message(m) if !f.is_list() && !f.is_map() => cur = m,
            _ => return None,
        }
    }
    None
}

/// A text value as the JSON the proto3 mapping expects for `kind`
/// (numbers and enums may stay strings; bools may not).
fn scalar(kind: &Kind, v: &str) -> Value {
    match kind {
        Kind::Bool => match v {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(v.to_string()),
        },
        // Enums by name, or by number as grpc-gateway reads them.
        Kind::Enum(_) => match v.parse::<i32>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::String(v.to_string()),
        },
        _ => Value::String(v.to_string()),
    }
}

/// Sets `a.b.c` in a JSON object, creating objects on the way; with
/// `append`, the value is pushed onto an array.
fn set_path(
    obj: &mut Map<String, Value>,
    path: &str,
    value: Value,
    append: bool,
) -> Result<(), String> {
    let mut cur = obj;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            if append {
                match cur
                    .entry(p.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    Value::Array(a) => a.push(value),
                    _ => return Err("set both as a list and as a value".into()),
                }
            } else {
                cur.insert(p.to_string(), value);
            }
            return Ok(());
        }
        let next = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        cur = match next {
            Value::Object(m) => m,
            _ => return Err(format!("`{p}` is not a message")),
        };
    }
    Ok(())
}
