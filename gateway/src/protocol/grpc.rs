//! gRPC backends (HTTP/2): unary calls, server streaming answered as
//! newline-delimited JSON or Server-Sent Events, client streaming and
//! bidirectional streaming from a newline-delimited JSON request body sent
//! as it arrives; request headers go out as metadata and response metadata
//! comes back as headers, as grpc-gateway names them. Every call, streams
//! included, opens through the backend's client stack (endpoint choice,
//! failover, timeout).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use codecs::protobuf::{self, PbDecodeOptions, grpc_code_name};
use idl::proto::{ProtoMethod, ProtoSchema};
use prost_reflect::MessageDescriptor;
use serde_json::{Value, json};

use super::proto::{self, ProtoRoute};
use super::{
    About, Build, Built, HttpRequest, IdlKind, Protocol, ProtocolBackend, Route, RouteFuture,
    RouteSpec,
};
use crate::backend::BackendSpec;
use crate::error::{ApiError, Failure, Remote};
use crate::pipeline::{self, CallMeta, Client};
use crate::transport::TransportError;
use crate::transport::grpc::{
    GrpcCall, GrpcCallKind, GrpcConfig, GrpcEndpoint, GrpcOutcome, GrpcReply, GrpcResponse,
    GrpcSender, GrpcStatus, GrpcStream,
};

pub struct Grpc;

static ABOUT: About = About {
    name: "grpc",
    aliases: &[],
    idl: IdlKind::Proto,
    // Always HTTP/2; the framing names stay accepted for registrations
    // that gave one.
    transports: &["http2", "framed", "buffered", "ttheader", "ttheader-framed"],
};

impl Protocol for Grpc {
    fn about(&self) -> &About {
        &ABOUT
    }

    fn build(&self, b: Build<'_>) -> Built {
        let (spec, ctx) = (b.spec, b.ctx);
        let proto = b.idl.proto(spec)?;
        let opts = &spec.settings.options;
        let cfg = GrpcConfig {
            connect_timeout: spec.connect_timeout,
            max_message: opts
                .max_frame
                .unwrap_or(codecs::framing::DEFAULT_MAX_FRAME_SIZE),
            accept_gzip: opts.accept_gzip,
            max_inflate_ratio: opts.max_inflate_ratio,
            max_stream_messages: opts.max_stream_messages,
            tls: spec.tls(&[b"h2"])?,
        };
        let endpoints = spec
            .settings
            .endpoints
            .iter()
            .map(|e| GrpcEndpoint::shared(ctx.endpoints, &e.addr, cfg.clone()))
            .collect();
        Ok(Arc::new(GrpcBackend {
            spec: spec.clone(),
            proto,
            client: pipeline::client(&spec.traffic, endpoints),
        }))
    }
}

/// A unary call's non-OK status is a remote error; a stream's status comes
/// after its try is recorded.
impl crate::transport::Answer for GrpcOutcome {
    fn remote_error(&self) -> bool {
        matches!(self, GrpcOutcome::Reply(r) if r.status.code != 0)
    }
}

pub struct GrpcBackend {
    spec: Arc<BackendSpec>,
    proto: Arc<ProtoSchema>,
    pub(super) client: Client<GrpcCall, GrpcOutcome>,
}

impl ProtocolBackend for GrpcBackend {
    fn routes(self: Arc<Self>) -> Result<Vec<RouteSpec>, String> {
        let b = &self;
        let route_of = |route: ProtoRoute, web_only: bool| -> Arc<dyn Route> {
            let path = format!(
                "/{}/{}",
                route.method.descriptor.parent_service().full_name(),
                route.method.name
            );
            Arc::new(GrpcRoute {
                path: path.into(),
                route: Arc::new(route),
                backend: b.clone(),
                web_only,
            })
        };
        let mut routes = proto::routes(&b.spec, &b.proto, true, |r| route_of(r, false))?;
        // gRPC-Web clients call `/package.Service/Method` whatever the
        // method's HTTP rules say; where no rule took that path, a route
        // serves gRPC-Web there alone.
        let taken: std::collections::HashSet<String> = routes
            .iter()
            .filter(|r| r.verb == axum::http::Method::POST)
            .map(|r| r.path.as_str().to_string())
            .collect();
        let extra = proto::default_routes(
            &b.spec,
            &b.proto,
            true,
            |path| !taken.contains(path),
            |r| route_of(r, true),
        )?;
        routes.extend(extra);
        Ok(routes)
    }

    fn methods(&self) -> Vec<Value> {
        proto::methods(&self.spec, &self.proto)
    }

    fn openapi(&self, doc: &mut crate::openapi::Document) {
        let decode = proto::decode_options(&self.spec.settings.options);
        doc.add_proto(&self.spec, &self.proto, &decode, true);
    }
}

#[derive(Clone)]
pub(super) struct GrpcRoute {
    pub(super) backend: Arc<GrpcBackend>,
    pub(super) route: Arc<ProtoRoute>,
    /// `/package.Service/Method`.
    path: Arc<str>,
    /// Serves gRPC-Web requests only (the method's rules put its JSON
    /// routes elsewhere).
    web_only: bool,
}

impl Route for GrpcRoute {
    fn call(&self, req: HttpRequest) -> RouteFuture<'_> {
        super::answer(self.handle(req), &self.backend.spec.name, &self.route.name)
    }

    fn websocket(&self) -> bool {
        self.route.method.client_streaming
    }
}

impl GrpcRoute {
    /// The call, with what is left of its deadline as its `grpc-timeout`.
    pub(super) fn call_of(
        &self,
        headers: &HeaderMap,
        kind: GrpcCallKind,
        meta: &CallMeta,
    ) -> GrpcCall {
        GrpcCall {
            path: self.path.clone(),
            metadata: self.outgoing_metadata(headers, meta),
            timeout: meta.remaining(),
            kind,
        }
    }

    pub(super) fn meta(
        &self,
        parts: &axum::http::request::Parts,
        body: &[u8],
    ) -> Result<CallMeta, ApiError> {
        (self.backend.spec.traffic).meta(&self.route.policy, parts, body)
    }

    /// The largest message either way.
    pub(super) fn backend_max_message(&self) -> usize {
        (self.backend.spec.settings.options.max_frame)
            .unwrap_or(codecs::framing::DEFAULT_MAX_FRAME_SIZE)
    }

    async fn handle(&self, req: HttpRequest) -> Result<Response, ApiError> {
        if let Some(flavour) = super::grpc_web::flavour(&req.parts.headers) {
            return Ok(self.grpc_web(req, flavour).await);
        }
        if self.web_only {
            return Err(Failure::NotFound(format!(
                "{} serves gRPC-Web requests only (content-type application/grpc-web or application/grpc-web-text); the method's HTTP rules give its JSON routes",
                self.path
            ))
            .into());
        }
        let shape = super::StreamShape::of(&req.parts);
        let m = &self.route.method;
        if m.client_streaming {
            if super::wants_websocket(&req.parts) {
                // One text frame per message each way (crate::websocket).
                let route = self.clone();
                return crate::websocket::upgrade(req, move |req| async move {
                    let named = (route.backend.spec.name.clone(), route.route.name.clone());
                    route
                        .client_stream(req, super::StreamShape::Ndjson)
                        .await
                        .map_err(|e| e.at(&named.0, &named.1))
                })
                .await;
            }
            return self.client_stream(req, shape).await;
        }
        let req = req.read().await?;
        let meta = self.meta(&req.parts, &req.body)?;
        let message = Bytes::from(self.route.encode(&req)?);
        let headers = &req.parts.headers;
        let policy = &self.route.policy;
        if m.server_streaming {
            let call = self.call_of(headers, GrpcCallKind::ServerStream(message), &meta);
            let GrpcOutcome::Stream(stream) =
                pipeline::send(&self.backend.client, call, policy, meta).await?
            else {
                unreachable!("a server-stream call answers a stream")
            };
            let mut resp_headers = HeaderMap::new();
            self.incoming_metadata(&stream.headers, &HeaderMap::new(), &mut resp_headers);
            if super::proto::is_http_body(&m.descriptor.output()) {
                return self.streamed_raw(Pending::Open(stream), resp_headers).await;
            }
            return Ok(self.streamed(Pending::Open(stream), None, shape, resp_headers));
        }
        let call = self.call_of(headers, GrpcCallKind::Unary(message), &meta);
        let GrpcOutcome::Reply(reply) =
            pipeline::send(&self.backend.client, call, policy, meta).await?
        else {
            unreachable!("a unary call answers a reply")
        };
        self.reply_response(reply)
    }

    /// The HTTP response of a call with one reply message.
    fn reply_response(&self, reply: GrpcReply) -> Result<Response, ApiError> {
        let r = &self.route;
        if reply.status.code != 0 {
            return Err(grpc_failure(&r.method, &r.decode, &reply.status));
        }
        let mut resp = r.response(&reply.body, "the backend")?;
        self.incoming_metadata(&reply.headers, &reply.trailers, resp.headers_mut());
        Ok(resp)
    }

    /// A client-streaming or bidirectional call: the HTTP request body is
    /// newline-delimited JSON, one request message per line (path variables
    /// and query parameters are merged into each), sent as it arrives. A
    /// client-streaming call answers with one JSON object; a bidirectional
    /// one streams its replies while the request body is still being read.
    async fn client_stream(
        &self,
        req: HttpRequest,
        shape: super::StreamShape,
    ) -> Result<Response, ApiError> {
        let b = &self.backend;
        let meta = self.meta(&req.parts, b"")?;
        let deadline = meta.deadline;
        let call = self.call_of(&req.parts.headers, GrpcCallKind::Open, &meta);
        let GrpcOutcome::Open(sender, response) =
            pipeline::send(&b.client, call, &self.route.policy, meta).await?
        else {
            unreachable!("an open call answers its two halves")
        };
        let (failed_tx, failed_rx) = tokio::sync::oneshot::channel();
        let pump = tokio::spawn(pump_requests(
            self.route.clone(),
            req.body,
            LineSources {
                vars: req.params,
                query: req.parts.uri.query().map(str::to_string),
                headers: req.parts.headers.clone(),
            },
            sender,
            Bounds {
                line: req.body_limit,
                messages: b.spec.settings.options.max_stream_messages,
            },
            failed_tx,
        ));
        if self.route.method.server_streaming {
            let mut resp_headers = HeaderMap::new();
            resp_headers.insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            return Ok(self.streamed(
                Pending::Waiting(response),
                Some(failed_rx),
                shape,
                resp_headers,
            ));
        }
        // Client streaming: every request goes first, then the one reply.
        let timeout = self.route.policy.timeout;
        let expired = || ApiError::from(TransportError::Timeout(timeout));
        let sent = tokio::time::timeout_at(deadline, pump)
            .await
            .map_err(|_| expired())?;
        if let Ok(Err(e)) = sent {
            return Err(e);
        }
        let reply =
            tokio::time::timeout_at(deadline, async { response.stream().await?.single().await })
                .await
                .map_err(|_| expired())??;
        self.reply_response(reply)
    }

    /// Request headers sent on as gRPC metadata: `authorization`,
    /// `x-request-id`, `grpc-metadata-<key>` as `<key>` (grpc-gateway's
    /// convention), and the backend's `forward_headers`. Names gRPC or
    /// HTTP/2 reserve are not. The call's trace context goes as
    /// `traceparent` and `tracestate`, as gRPC's OpenTelemetry
    /// instrumentations read it.
    fn outgoing_metadata(&self, headers: &HeaderMap, meta: &CallMeta) -> HeaderMap {
        let extra = &self.backend.spec.settings.options.forward_headers;
        let mut md = HeaderMap::new();
        for (k, v) in headers {
            let name = k.as_str();
            let key = match name.strip_prefix("grpc-metadata-") {
                Some(rest) => match HeaderName::from_bytes(rest.as_bytes()) {
                    Ok(n) => n,
                    Err(_) => continue,
                },
                None if name == "authorization"
                    || name == "x-request-id"
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
        if let Some(t) = &meta.trace {
            let mut put = |k: &'static str, v: &str| {
                if let Ok(v) = HeaderValue::from_str(v) {
                    md.insert(k, v);
                }
            };
            put("traceparent", t.traceparent());
            if let Some(state) = t.tracestate() {
                put("tracestate", state);
            }
        }
        // A verified token's claims replace whatever the client sent under their keys.
        for (k, v) in meta.claims.iter().flat_map(|c| c.pairs()) {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
                HeaderValue::from_str(v),
            ) {
                md.insert(k, v);
            }
        }
        md
    }

    /// Response metadata as HTTP headers: `grpc-metadata-<key>` for
    /// headers, `grpc-trailer-<key>` for trailers (grpc-gateway's names).
    fn incoming_metadata(&self, head: &HeaderMap, trailers: &HeaderMap, resp: &mut HeaderMap) {
        if self.backend.spec.settings.options.omit_response_metadata {
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

    /// The streamed HTTP response of a server-streaming call of
    /// `google.api.HttpBody`: each message's data as it comes, under the
    /// first message's content type, as grpc-gateway writes it. A failure
    /// before the first message is the call's error answer; one after it
    /// cuts the response short (raw bytes have no place for an error item).
    async fn streamed_raw(
        &self,
        pending: Pending,
        resp_headers: HeaderMap,
    ) -> Result<Response, ApiError> {
        let mut st = self.stream_state(pending, None, super::StreamShape::Ndjson);
        st.raw = true;
        let first = st.next_item().await;
        if st.done {
            return Err(st
                .failure
                .take()
                .unwrap_or_else(|| Failure::BadReply("the stream failed".into()).into()));
        }
        let ctype = st
            .content_type
            .take()
            .unwrap_or_else(|| "application/octet-stream".into());
        let first =
            futures_util::stream::iter(first.map(|b| Ok::<_, std::io::Error>(Bytes::from(b))));
        let rest = futures_util::stream::unfold(st, |mut st| async move {
            if st.done {
                return None;
            }
            let item = st.next_item().await?;
            if st.done {
                let e = st
                    .failure
                    .take()
                    .map(|e| e.message().to_string())
                    .unwrap_or_default();
                return Some((Err(std::io::Error::other(e)), st));
            }
            Some((Ok(Bytes::from(item)), st))
        });
        let body = futures_util::StreamExt::chain(first, rest);
        let mut resp = Response::new(axum::body::Body::from_stream(body));
        if let Ok(v) = HeaderValue::try_from(ctype) {
            resp.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        resp.headers_mut().extend(resp_headers);
        Ok(resp)
    }

    fn stream_state(
        &self,
        pending: Pending,
        request_failed: Option<tokio::sync::oneshot::Receiver<ApiError>>,
        shape: super::StreamShape,
    ) -> StreamState {
        StreamState {
            pending: Some(pending),
            request_failed,
            output: self.route.method.descriptor.output(),
            method_desc: self.route.method.clone(),
            opts: self.route.decode.clone(),
            shape,
            items: 0,
            done: false,
            ended: false,
            raw: false,
            content_type: None,
            failure: None,
            backend: self.backend.spec.name.clone(),
            method: self.route.name.clone(),
        }
    }

    /// The streamed HTTP response of a server-streaming or bidirectional call.
    fn streamed(
        &self,
        pending: Pending,
        request_failed: Option<tokio::sync::oneshot::Receiver<ApiError>>,
        shape: super::StreamShape,
        resp_headers: HeaderMap,
    ) -> Response {
        let state = self.stream_state(pending, request_failed, shape);
        let body = futures_util::stream::unfold(state, |mut st| async move {
            if st.ended {
                return None;
            }
            let item = if st.done { None } else { st.next_item().await };
            let chunk = match item {
                Some(item) => {
                    st.items += 1;
                    st.shape.item(&item, st.items == 1, st.done)
                }
                // After the last item: what closes the shape, if anything.
                None => {
                    st.ended = true;
                    let end = st.shape.end(st.items == 0);
                    if end.is_empty() {
                        return None;
                    }
                    end.to_vec()
                }
            };
            Some((Ok::<_, std::convert::Infallible>(Bytes::from(chunk)), st))
        });
        let ctype = shape.content_type();
        let mut resp = Response::new(axum::body::Body::from_stream(body));
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        resp.headers_mut().extend(resp_headers);
        resp
    }
}

/// A response stream, before or after its headers arrived.
enum Pending {
    Waiting(GrpcResponse),
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
    shape: super::StreamShape,
    /// Items written so far.
    items: usize,
    /// The error item was written: nothing but the shape's end follows.
    done: bool,
    /// The shape's end was written.
    ended: bool,
    /// Messages are `google.api.HttpBody`: items are their data, raw.
    raw: bool,
    /// The content type of the first raw message.
    content_type: Option<String>,
    /// The error that ended the stream.
    failure: Option<ApiError>,
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
            Ok(Some(msg)) if self.raw => {
                match prost_reflect::DynamicMessage::decode(self.output.clone(), &msg[..]) {
                    Ok(body) => {
                        if self.content_type.is_none()
                            && let Some(prost_reflect::Value::String(ct)) =
                                body.get_field_by_name("content_type").as_deref()
                            && !ct.is_empty()
                        {
                            self.content_type = Some(ct.clone());
                        }
                        match body.get_field_by_name("data").as_deref() {
                            Some(prost_reflect::Value::Bytes(b)) => b.to_vec(),
                            _ => Vec::new(),
                        }
                    }
                    Err(e) => self.end_with(Failure::BadReply(e.to_string()).into()),
                }
            }
            Ok(Some(msg)) => {
                let mut json = Vec::with_capacity(msg.len() * 2 + 16);
                match protobuf::message_to_json(&self.output, &msg, &self.opts, &mut json) {
                    Ok(()) => json,
                    Err(e) => self.end_with(Failure::BadReply(e.to_string()).into()),
                }
            }
            Ok(None) => match stream.finish().await {
                Ok(st) if st.code == 0 => return self.request_error(),
                Ok(st) => {
                    if let Some(e) = self.request_error() {
                        return Some(e);
                    }
                    let e = grpc_failure(&self.method_desc, &self.opts, &st);
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

    fn transport_fail(&mut self, e: TransportError) -> Vec<u8> {
        if let Some(item) = self.request_error() {
            return item;
        }
        // A stream cut mid-way is a broken reply, whatever cut it.
        self.end_with(Failure::BadReply(e.to_string()).into())
    }

    /// The last item of a failed stream: the JSON error shape, with the
    /// HTTP status it would have had (the response is already 200).
    fn end_with(&mut self, e: ApiError) -> Vec<u8> {
        self.done = true;
        let e = if e.backend.is_none() {
            e.at(&self.backend, &self.method)
        } else {
            e
        };
        let item = e.stream_item();
        self.failure = Some(e);
        item
    }
}

/// What a streamed request may hold: bytes per line (message), and
/// messages.
struct Bounds {
    line: usize,
    messages: Option<usize>,
}

/// What each request line of a stream is merged with.
struct LineSources {
    vars: Vec<(String, String)>,
    query: Option<String>,
    headers: HeaderMap,
}

/// Reads the newline-delimited JSON request body and sends each line as a
/// message; ends the request stream after the last one. A line that is not
/// a valid message cancels the call and is reported through `failed`.
async fn pump_requests(
    route: Arc<ProtoRoute>,
    body: axum::body::Body,
    sources: LineSources,
    mut sender: GrpcSender,
    bounds: Bounds,
    failed: tokio::sync::oneshot::Sender<ApiError>,
) -> Result<(), ApiError> {
    let line_limit = bounds.line;
    let too_many = |n: usize| match bounds.messages {
        Some(max) if n > max => Some(ApiError::from(Failure::TooLarge(format!(
            "more than {max} request messages in one stream (max_stream_messages)"
        )))),
        _ => None,
    };
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
            if let Some(e) = too_many(line_no) {
                err = Some(e);
                break;
            }
            if let Err(e) = send_line(&route, &mut sender, line, line_no, &sources).await {
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
                if let Some(e) = too_many(line_no) {
                    break Err(e);
                }
                let line = std::mem::take(&mut buf);
                if let Err(e) = send_line(&route, &mut sender, &line, line_no, &sources).await {
                    break Err(e);
                }
            }
            break sender.close().map_err(ApiError::from);
        }
        if buf.len() > line_limit {
            break Err(Failure::TooLarge(format!(
                "request line {} is over {line_limit} bytes",
                line_no + 1
            ))
            .into());
        }
        match data.next().await {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(e)) => {
                break Err(Failure::Input(format!("cannot read the request body: {e}")).into());
            }
            None => ended = true,
        }
    };
    if let Err(e) = &result {
        // The error first: the response stream, cut by the cancel, reports it.
        failed.send(e.clone()).ok();
        sender.cancel();
    }
    result
}

async fn send_line(
    route: &ProtoRoute,
    sender: &mut GrpcSender,
    line: &[u8],
    line_no: usize,
    sources: &LineSources,
) -> Result<(), ApiError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let prefix = format!("request line {line_no}: ");
    let request = route
        .request_body(
            &sources.vars,
            sources.query.as_deref(),
            &sources.headers,
            line,
        )
        .map_err(|e| e.prefixed(&prefix))?;
    let message = route
        .encode_request(&request)
        .map_err(|e| e.prefixed(&prefix))?;
    sender.send(&message).await.map_err(ApiError::from)
}

/// A failed call's status as the JSON error: the gRPC code (number and
/// name) and `details` from `grpc-status-details-bin`.
fn grpc_failure(method: &ProtoMethod, opts: &PbDecodeOptions, st: &GrpcStatus) -> ApiError {
    let e = ApiError::from(Failure::Remote(Remote::Grpc {
        code: st.code,
        message: st.message.clone(),
    }))
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
pub(super) fn reserved_metadata(name: &str) -> bool {
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
