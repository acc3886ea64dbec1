//! Protobuf backends (Kitex Protobuf over framed or TTHeader, and gRPC):
//! routes from `google.api.http` rules (or `POST /{package.Service}/{Method}`),
//! request assembly from path variables, query parameters and the body as
//! grpc-gateway does it, and the call: unary, server streaming, client
//! streaming and bidirectional streaming (newline-delimited JSON both ways),
//! with headers and metadata passed across.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use codecs::framing::{self, Transport, ttheader};
use codecs::protobuf::{self, KitexPbReply, PbDecodeOptions, kitex};
use codecs::transport::{GrpcClient, GrpcError, GrpcStatus, GrpcStream};
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
    /// The request message as JSON text: the body itself when it is the
    /// whole message (`body: "*"` and no path variables), else assembled by
    /// [`PbRoute::request_json`].
    pub fn request_body<'b>(
        &self,
        vars: &[(String, String)],
        query: Option<&str>,
        body: &'b [u8],
    ) -> Result<Cow<'b, [u8]>, ApiError> {
        let whole_body = match &self.rule {
            None => true,
            Some(r) => r.body.as_deref() == Some("*"),
        };
        let first = body.iter().find(|c| !c.is_ascii_whitespace());
        if whole_body && vars.is_empty() && matches!(first, None | Some(b'{')) {
            return Ok(Cow::Borrowed(body));
        }
        let v = self.request_json(vars, query, body)?;
        Ok(Cow::Owned(serde_json::to_vec(&v).expect("JSON value")))
    }

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
    /// `headers` are the HTTP request's; `resp_headers` gets what the
    /// backend returns as metadata (gRPC).
    pub async fn call(
        &self,
        request: &[u8],
        headers: &HeaderMap,
        out: &mut Vec<u8>,
        resp_headers: &mut HeaderMap,
    ) -> Result<(), ApiError> {
        let b = &self.backend;
        let message = self.encode_request(request)?;
        if let Some(grpc) = &b.grpc {
            return self
                .call_grpc(grpc, &message, headers, out, resp_headers)
                .await;
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
                self.write_response(&full, out);
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

    /// The request JSON as protobuf bytes of the method's input.
    fn encode_request(&self, json: &[u8]) -> Result<Vec<u8>, ApiError> {
        let input = self.method.descriptor.input();
        let mut message = Vec::with_capacity(json.len() + 16);
        protobuf::json_to_message(&input, json, &self.backend.pb_encode, &mut message)
            .map_err(|e| self.error(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()))?;
        Ok(message)
    }

    fn grpc_path(&self) -> String {
        format!("/{}/{}", self.service_full_name(), self.method.name)
    }

    /// Request headers sent on as gRPC metadata: `authorization`,
    /// `grpc-metadata-<key>` as `<key>` (grpc-gateway's convention), and the
    /// backend's `forward_headers`. Names gRPC or HTTP/2 reserve are not.
    pub fn outgoing_metadata(&self, headers: &HeaderMap) -> HeaderMap {
        let extra = &self.backend.settings.options.forward_headers;
        let mut md = HeaderMap::new();
        for (k, v) in headers {
            let name = k.as_str();
            let key = match name.strip_prefix("grpc-metadata-") {
                Some(rest) => match HeaderName::from_bytes(rest.as_bytes()) {
                    Ok(n) => n,
                    Err(_) => continue,
                },
                None if name == "authorization"
                    || extra.iter().any(|h| h.eq_ignore_ascii_case(name)) =>
                {
                    k.clone()
                }
                None => continue,
            };
            if !reserved_metadata(key.as_str()) {
                md.append(key, v.clone());
            }
        }
        md
    }

    /// Response metadata as HTTP headers: `grpc-metadata-<key>` for
    /// headers, `grpc-trailer-<key>` for trailers (grpc-gateway's names).
    fn incoming_metadata(&self, head: &HeaderMap, trailers: &HeaderMap, resp: &mut HeaderMap) {
        if self.backend.settings.options.omit_response_metadata {
            return;
        }
        for (map, prefix) in [(head, "grpc-metadata-"), (trailers, "grpc-trailer-")] {
            for (k, v) in map {
                if reserved_metadata(k.as_str()) {
                    continue;
                }
                if let Ok(name) = HeaderName::try_from(format!("{prefix}{}", k.as_str())) {
                    resp.append(name, v.clone());
                }
            }
        }
    }

    /// A failed call's status as the JSON error: grpc-gateway's HTTP
    /// status, the gRPC code, and `details` from `grpc-status-details-bin`.
    fn grpc_failure(&self, status: &GrpcStatus) -> ApiError {
        grpc_status_error(
            self.error(
                grpc_http_status(status.code),
                "grpc_error",
                status.message.clone(),
            ),
            &self.method,
            &self.backend.pb_decode,
            status,
        )
    }

    fn transport_failure(&self, e: GrpcError) -> ApiError {
        match e {
            GrpcError::Connect { .. } => self.error(
                StatusCode::BAD_GATEWAY,
                "backend_unavailable",
                e.to_string(),
            ),
            _ => self.error(StatusCode::BAD_GATEWAY, "bad_gateway", e.to_string()),
        }
    }

    fn deadline_failure(&self) -> ApiError {
        self.error(
            StatusCode::GATEWAY_TIMEOUT,
            "backend_timeout",
            format!("no reply within {} ms", self.backend.timeout.as_millis()),
        )
    }

    /// Decodes a response message to JSON (all of it; see `write_response`).
    fn decode_response(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let output = self.method.descriptor.output();
        let mut full = Vec::with_capacity(body.len() * 2 + 16);
        protobuf::message_to_json(&output, body, &self.backend.pb_decode, &mut full).map_err(
            |e| {
                self.error(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    format!("bad reply: {e}"),
                )
            },
        )?;
        Ok(full)
    }

    async fn call_grpc(
        &self,
        grpc: &GrpcClient,
        message: &[u8],
        headers: &HeaderMap,
        out: &mut Vec<u8>,
        resp_headers: &mut HeaderMap,
    ) -> Result<(), ApiError> {
        let b = &self.backend;
        let md = self.outgoing_metadata(headers);
        let path = self.grpc_path();
        let call = grpc.unary(&path, message, b.timeout, &md);
        let reply = match tokio::time::timeout(b.timeout, call).await {
            Err(_) => return Err(self.deadline_failure()),
            Ok(Err(e)) => return Err(self.transport_failure(e)),
            Ok(Ok(r)) => r,
        };
        if reply.status.code != 0 {
            return Err(self.grpc_failure(&reply.status));
        }
        let full = self.decode_response(&reply.body)?;
        self.write_response(&full, out);
        self.incoming_metadata(&reply.headers, &reply.trailers, resp_headers);
        Ok(())
    }

    /// A server-streaming call answered as a streamed HTTP response:
    /// newline-delimited JSON, or Server-Sent Events when `sse`. A failure
    /// after the first message ends the stream with an `{"error": …}` item.
    pub async fn stream(
        &self,
        request: &[u8],
        headers: &HeaderMap,
        sse: bool,
    ) -> Result<Response, ApiError> {
        let grpc = self.grpc_only()?;
        let b = &self.backend;
        let message = self.encode_request(request)?;
        let md = self.outgoing_metadata(headers);
        let path = self.grpc_path();
        let call = grpc.server_stream(&path, &message, b.timeout, &md);
        let stream = match tokio::time::timeout(b.timeout, call).await {
            Err(_) => return Err(self.deadline_failure()),
            Ok(Err(e)) => return Err(self.transport_failure(e)),
            Ok(Ok(s)) => s,
        };
        let mut resp_headers = HeaderMap::new();
        self.incoming_metadata(&stream.headers, &HeaderMap::new(), &mut resp_headers);
        Ok(self.streamed(Pending::Open(Box::new(stream)), None, sse, resp_headers))
    }

    fn grpc_only(&self) -> Result<&GrpcClient, ApiError> {
        self.backend.grpc.as_ref().ok_or_else(|| {
            self.error(
                StatusCode::NOT_IMPLEMENTED,
                "not_implemented",
                "streaming needs a gRPC backend",
            )
        })
    }

    /// A client-streaming or bidirectional call: the HTTP request body is
    /// newline-delimited JSON, one request message per line (path variables
    /// and query parameters are merged into each), sent as it arrives. A
    /// client-streaming call answers with one JSON object; a bidirectional
    /// one streams its replies like [`PbRoute::stream`] while the request
    /// body is still being read.
    pub async fn client_stream(
        self: Arc<Self>,
        body: axum::body::Body,
        vars: Vec<(String, String)>,
        query: Option<String>,
        headers: &HeaderMap,
        sse: bool,
        line_limit: usize,
    ) -> Result<Response, ApiError> {
        let grpc = self.grpc_only()?;
        let b = &self.backend;
        let md = self.outgoing_metadata(headers);
        let (sender, response) =
            tokio::time::timeout(b.timeout, grpc.open(&self.grpc_path(), b.timeout, &md))
                .await
                .map_err(|_| self.deadline_failure())?
                .map_err(|e| self.transport_failure(e))?;
        let (failed_tx, failed_rx) = tokio::sync::oneshot::channel();
        let pump = tokio::spawn(pump_requests(
            self.clone(),
            body,
            vars,
            query,
            sender,
            line_limit,
            failed_tx,
        ));
        if self.method.server_streaming {
            let mut resp_headers = HeaderMap::new();
            resp_headers.insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            return Ok(self.streamed(
                Pending::Waiting(response),
                Some(failed_rx),
                sse,
                resp_headers,
            ));
        }
        // Client streaming: every request goes first, then the one reply.
        let deadline = tokio::time::Instant::now() + b.timeout;
        let sent = tokio::time::timeout_at(deadline, pump)
            .await
            .map_err(|_| self.deadline_failure())?;
        if let Ok(Err(e)) = sent {
            return Err(e);
        }
        let reply =
            tokio::time::timeout_at(deadline, async { response.stream().await?.single().await })
                .await
                .map_err(|_| self.deadline_failure())?
                .map_err(|e| self.transport_failure(e))?;
        if reply.status.code != 0 {
            return Err(self.grpc_failure(&reply.status));
        }
        let full = self.decode_response(&reply.body)?;
        let mut out = Vec::with_capacity(full.len());
        self.write_response(&full, &mut out);
        let mut resp = (StatusCode::OK, axum::body::Body::from(out)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.incoming_metadata(&reply.headers, &reply.trailers, resp.headers_mut());
        Ok(resp)
    }

    /// The streamed HTTP response of a server-streaming or bidirectional call.
    fn streamed(
        &self,
        pending: Pending,
        request_failed: Option<tokio::sync::oneshot::Receiver<ApiError>>,
        sse: bool,
        resp_headers: HeaderMap,
    ) -> Response {
        let state = StreamState {
            pending: Some(pending),
            request_failed,
            output: self.method.descriptor.output(),
            method_desc: self.method.clone(),
            opts: self.backend.pb_decode.clone(),
            sse,
            done: false,
            backend: self.backend.name.clone(),
            method: format!("{}.{}", self.service, self.method.name),
        };
        let body = futures_util::stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            let item = st.next_item().await?;
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
        let mut resp = Response::new(axum::body::Body::from_stream(body));
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        resp.headers_mut().extend(resp_headers);
        resp
    }

    fn service_full_name(&self) -> String {
        self.method
            .descriptor
            .parent_service()
            .full_name()
            .to_string()
    }
}

/// A response stream, before or after its headers arrived.
enum Pending {
    Waiting(codecs::transport::GrpcResponse),
    Open(Box<GrpcStream>),
}

/// What a response stream needs between items.
struct StreamState {
    pending: Option<Pending>,
    /// Reports a request line that could not be sent (bidirectional calls).
    request_failed: Option<tokio::sync::oneshot::Receiver<ApiError>>,
    output: MessageDescriptor,
    method_desc: ProtoMethod,
    opts: PbDecodeOptions,
    sse: bool,
    done: bool,
    backend: String,
    method: String,
}

impl StreamState {
    /// The next item of the stream: a message's JSON, or the error that
    /// ends it; `None` after a clean end.
    async fn next_item(&mut self) -> Option<Vec<u8>> {
        let stream = match self.pending.take()? {
            Pending::Open(s) => Ok(s),
            Pending::Waiting(r) => r.stream().await.map(Box::new),
        };
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => return Some(self.transport_fail(e)),
        };
        let item = match stream.next().await {
            Ok(Some(msg)) => {
                let mut json = Vec::with_capacity(msg.len() * 2 + 16);
                match protobuf::message_to_json(&self.output, &msg, &self.opts, &mut json) {
                    Ok(()) => json,
                    Err(e) => self.bad_gateway(e.to_string()),
                }
            }
            Ok(None) => match stream.finish().await {
                Ok(st) if st.code == 0 => return self.request_error(),
                Ok(st) => {
                    if let Some(e) = self.request_error() {
                        return Some(e);
                    }
                    let e =
                        ApiError::new(grpc_http_status(st.code), "grpc_error", st.message.clone())
                            .at(&self.backend, &self.method);
                    let e = grpc_status_error(e, &self.method_desc, &self.opts, &st);
                    self.end_with(e)
                }
                Err(e) => self.transport_fail(e),
            },
            Err(e) => self.transport_fail(e),
        };
        self.pending = Some(Pending::Open(stream));
        Some(item)
    }

    /// The error of a request line that could not be sent, if there was one.
    fn request_error(&mut self) -> Option<Vec<u8>> {
        let e = self.request_failed.as_mut()?.try_recv().ok()?;
        Some(self.end_with(e))
    }

    fn transport_fail(&mut self, e: GrpcError) -> Vec<u8> {
        if let Some(item) = self.request_error() {
            return item;
        }
        self.bad_gateway(e.to_string())
    }

    fn bad_gateway(&mut self, message: String) -> Vec<u8> {
        let e = ApiError::new(StatusCode::BAD_GATEWAY, "bad_gateway", message)
            .at(&self.backend, &self.method);
        self.end_with(e)
    }

    /// The last item of a failed stream: the JSON error shape, with the
    /// HTTP status it would have had (the response is already 200).
    fn end_with(&mut self, e: ApiError) -> Vec<u8> {
        self.done = true;
        let mut v = e.body();
        v["error"]["http_status"] = json!(e.status.as_u16());
        serde_json::to_vec(&v).expect("JSON value")
    }
}

/// Reads the newline-delimited JSON request body and sends each line as a
/// message; ends the request stream after the last one. A line that is not
/// a valid message cancels the call and is reported through `failed`.
async fn pump_requests(
    route: Arc<PbRoute>,
    body: axum::body::Body,
    vars: Vec<(String, String)>,
    query: Option<String>,
    mut sender: codecs::transport::GrpcSender,
    line_limit: usize,
    failed: tokio::sync::oneshot::Sender<ApiError>,
) -> Result<(), ApiError> {
    use futures_util::StreamExt as _;
    let mut data = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut line_no = 0usize;
    let mut ended = false;
    let result = loop {
        // Send every complete line in the buffer.
        let mut sent_upto = 0;
        let mut err = None;
        while let Some(nl) = buf[sent_upto..].iter().position(|&c| c == b'\n') {
            let line = &buf[sent_upto..sent_upto + nl];
            sent_upto += nl + 1;
            line_no += 1;
            if let Err(e) = send_line(&route, &mut sender, line, line_no, &vars, &query).await {
                err = Some(e);
                break;
            }
        }
        buf.drain(..sent_upto);
        if let Some(e) = err {
            break Err(e);
        }
        if ended {
            if !buf.is_empty() {
                line_no += 1;
                let line = std::mem::take(&mut buf);
                if let Err(e) = send_line(&route, &mut sender, &line, line_no, &vars, &query).await
                {
                    break Err(e);
                }
            }
            break sender.close().map_err(|e| route.transport_failure(e));
        }
        if buf.len() > line_limit {
            break Err(route.error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request line {} is over {line_limit} bytes", line_no + 1),
            ));
        }
        match data.next().await {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(e)) => {
                break Err(route.error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("cannot read the request body: {e}"),
                ));
            }
            None => ended = true,
        }
    };
    if let Err(e) = &result {
        sender.cancel();
        failed.send(e.clone()).ok();
    }
    result
}

async fn send_line(
    route: &PbRoute,
    sender: &mut codecs::transport::GrpcSender,
    line: &[u8],
    line_no: usize,
    vars: &[(String, String)],
    query: &Option<String>,
) -> Result<(), ApiError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let at_line = |mut e: ApiError| {
        e.message = format!("request line {line_no}: {}", e.message);
        e
    };
    let request = route
        .request_body(vars, query.as_deref(), line)
        .map_err(at_line)?;
    let message = route.encode_request(&request).map_err(at_line)?;
    sender
        .send(&message)
        .await
        .map_err(|e| route.transport_failure(e))
}

/// A failed call's status on its JSON error: the gRPC code (number and
/// name) and `details` from `grpc-status-details-bin`.
fn grpc_status_error(
    e: ApiError,
    method: &ProtoMethod,
    opts: &PbDecodeOptions,
    st: &GrpcStatus,
) -> ApiError {
    let e = e
        .with("grpc_status", json!(st.code))
        .with("grpc_code", json!(grpc_code_name(st.code)));
    match status_details(method, opts, st) {
        Some(d) => e.with("details", d),
        None => e,
    }
}

/// The `details` of a failed call's `grpc-status-details-bin`, in JSON.
fn status_details(method: &ProtoMethod, opts: &PbDecodeOptions, st: &GrpcStatus) -> Option<Value> {
    let bytes = st.details.as_ref()?;
    let pool = method.descriptor.parent_pool();
    match protobuf::decode_status_details(bytes, pool, opts) {
        Ok(d) => Some(Value::Array(d.details)),
        Err(e) => Some(json!([{ "error": e.to_string() }])),
    }
}

/// Metadata keys that are not copied between HTTP headers and gRPC metadata.
fn reserved_metadata(name: &str) -> bool {
    name.starts_with("grpc-")
        || name.starts_with(':')
        || matches!(
            name,
            "content-type"
                | "te"
                | "host"
                | "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "upgrade"
                | "content-length"
        )
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
