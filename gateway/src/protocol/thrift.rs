//! Thrift backends (Apache Thrift, Kitex): binary or compact, over
//! buffered, framed or TTHeader connections from a pool. A route encodes
//! the bound request values and the JSON body into a Thrift call in one
//! pass, sends it through the backend's client stack, and decodes the reply
//! (result, declared exception, TApplicationException, Kitex business
//! status) into JSON.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use bytes::Bytes;
use codecs::framing::{self, DEFAULT_MAX_FRAME_SIZE, HeaderInfo, Transport, ttheader};
use codecs::thrift::{self, DecodeOptions, EncodeOptions, Protocol as Wire, Reply, ResponseMeta};
use idl::{Binding, Method, Schema};
use serde_json::json;

use super::thrift_http::{self, HttpValues};
use super::{
    About, Build, Built, HttpRequest, IdlKind, Protocol, ProtocolBackend, Route, RouteFuture,
    RouteSpec,
};
use crate::backend::{BackendSpec, BuildContext};
use crate::error::{ApiError, Failure, Remote, reply_status};
use crate::pipeline::{self, Client, ContextKeys};
use crate::transport::pool::{Exchange, PoolConfig, PoolEndpoint, Reply as FrameReply};

/// Idle connections kept per endpoint.
const MAX_IDLE_PER_ENDPOINT: usize = 256;

/// The TTHeader string keys of a call's request id and trace context, as
/// Kitex reads them: metainfo's persistent (`RPC_PERSIST_`, passed on
/// down the call chain) and transient (`RPC_TRANSIT_`, one hop, where
/// obs-opentelemetry's propagator looks for the W3C keys) prefixes.
pub(super) const TTHEADER_CONTEXT: ContextKeys = ContextKeys {
    request_id: "RPC_PERSIST_x-request-id",
    traceparent: "RPC_TRANSIT_traceparent",
    tracestate: "RPC_TRANSIT_tracestate",
};

/// The transports of a pooled Thrift or Kitex Protobuf backend.
pub(super) const TRANSPORTS: &[&str] = &["framed", "buffered", "ttheader", "ttheader-framed"];

/// Thrift in one of its two encodings.
pub struct ThriftProtocol {
    about: About,
    wire: Wire,
}

pub static THRIFT: ThriftProtocol = ThriftProtocol {
    about: About {
        name: "thrift",
        aliases: &["thrift-binary"],
        idl: IdlKind::Thrift,
        transports: TRANSPORTS,
    },
    wire: Wire::Binary,
};

pub static THRIFT_COMPACT: ThriftProtocol = ThriftProtocol {
    about: About {
        name: "thrift-compact",
        aliases: &[],
        idl: IdlKind::Thrift,
        transports: TRANSPORTS,
    },
    wire: Wire::Compact,
};

impl Protocol for ThriftProtocol {
    fn about(&self) -> &About {
        &self.about
    }

    fn build(&self, b: Build<'_>) -> Built {
        let (spec, ctx) = (b.spec, b.ctx);
        let schema = b.idl.thrift(spec)?;
        let transport = transport_of(spec)?;
        if self.wire == Wire::Compact && transport.is_ttheader() {
            tracing::warn!(backend = %spec.name, "Kitex does not accept compact inside TTHeader");
        }
        let client = pool_client(spec, ctx, transport, self.wire)?;
        let opts = &spec.settings.options;
        Ok(Arc::new(ThriftBackend {
            spec: spec.clone(),
            schema,
            wire: self.wire,
            transport,
            client,
            encode: EncodeOptions {
                reject_unknown_fields: opts.reject_unknown_fields,
                limits: opts.json_limits(),
            },
            decode: DecodeOptions {
                enum_as_name: opts.enum_as_name,
                i64_as_string: opts.i64_as_string,
                ..Default::default()
            },
            seq: SeqIds::default(),
        }))
    }
}

/// The framing a backend's settings name.
pub(super) fn transport_of(spec: &BackendSpec) -> Result<Transport, String> {
    Transport::parse(&spec.settings.transport).ok_or_else(|| {
        format!(
            "backend `{}`: unknown transport `{}`",
            spec.name, spec.settings.transport
        )
    })
}

/// The client stack of a pooled backend over its endpoints.
pub(super) fn pool_client(
    spec: &BackendSpec,
    ctx: &BuildContext<'_>,
    transport: Transport,
    wire: Wire,
) -> Result<Client<Exchange, Option<FrameReply>>, String> {
    let cfg = PoolConfig {
        transport,
        protocol: wire,
        connect_timeout: spec.connect_timeout,
        max_frame: spec
            .settings
            .options
            .max_frame
            .unwrap_or(DEFAULT_MAX_FRAME_SIZE),
        max_idle: MAX_IDLE_PER_ENDPOINT,
        tls: spec.tls(&[])?,
    };
    let endpoints = spec
        .settings
        .endpoints
        .iter()
        .map(|e| PoolEndpoint::shared(ctx.endpoints, &e.addr, cfg.clone()))
        .collect();
    Ok(pipeline::client(&spec.traffic, endpoints))
}

/// A pooled reply is a remote error when it is a TApplicationException
/// (Thrift's message type; Kitex Protobuf's envelope has the same header).
impl crate::transport::Answer for FrameReply {
    fn remote_error(&self) -> bool {
        thrift::is_app_exception(self.payload())
    }
}

/// Sequence ids of a backend's calls (never 0).
#[derive(Default)]
pub(super) struct SeqIds(AtomicI32);

impl SeqIds {
    pub(super) fn next(&self) -> i32 {
        let s = self.0.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if s == 0 { self.next() } else { s }
    }
}

/// A Kitex business status error carried in TTHeader (`biz-status` != 0).
pub(super) fn biz_error(header: Option<&HeaderInfo>) -> Option<ApiError> {
    let h = header?;
    let status = h.str(ttheader::str_key::BIZ_STATUS).filter(|s| *s != "0")?;
    let message = h
        .str(ttheader::str_key::BIZ_MESSAGE)
        .unwrap_or("business error")
        .to_string();
    let mut e = ApiError::from(Failure::Remote(Remote::Business { message })).with(
        "biz_status",
        status
            .parse::<i64>()
            .map(|n| json!(n))
            .unwrap_or_else(|_| json!(status)),
    );
    if let Some(extra) = h.str(ttheader::str_key::BIZ_EXTRA) {
        e = e.with(
            "biz_extra",
            serde_json::from_str(extra).unwrap_or_else(|_| json!(extra)),
        );
    }
    Some(e)
}

/// Whether a method's Kitex annotations mark it idempotent
/// (`kitegate.idempotent = "true"`).
pub(super) fn idl_idempotent(m: &Method) -> bool {
    m.annotations
        .get("kitegate.idempotent")
        .is_some_and(|v| v == "true")
}

pub struct ThriftBackend {
    spec: Arc<BackendSpec>,
    schema: Arc<Schema>,
    wire: Wire,
    transport: Transport,
    client: Client<Exchange, Option<FrameReply>>,
    encode: EncodeOptions,
    decode: DecodeOptions,
    seq: SeqIds,
}

impl ThriftBackend {
    /// The TTHeader info block of a call of `m` with `timeout_ms` left.
    fn header_block(&self, service: &str, m: &Method, timeout_ms: u64) -> Vec<u8> {
        ttheader::call_block(&ttheader::CallHeader {
            protocol: ttheader::protocol_id(self.wire),
            framed_payload: self.transport == Transport::TTHeaderFramed,
            idl_service: service,
            from_service: "kitegate",
            to_service: &self.spec.name,
            method: &m.name,
            oneway: m.oneway,
            timeout_ms,
        })
    }
}

impl ProtocolBackend for ThriftBackend {
    fn routes(self: Arc<Self>) -> Result<Vec<RouteSpec>, String> {
        let b = &self;
        Ok(thrift_http::routes(
            &b.spec.prefix,
            &b.schema,
            &b.spec.services,
            |service, m| {
                let policy = b.spec.policy(service, &m.name, idl_idempotent(m));
                Arc::new(ThriftRoute {
                    header_block: b.header_block(service, m, policy.timeout_ms()),
                    policy,
                    service: service.to_string(),
                    bindings: thrift_http::Bindings::of(&b.schema, m),
                    name: b.spec.method_name(service, &m.name),
                    method: m.clone(),
                    backend: b.clone(),
                })
            },
        ))
    }

    fn methods(&self) -> Vec<serde_json::Value> {
        thrift_http::methods(&self.schema, &self.spec.services)
    }

    fn openapi(&self, doc: &mut crate::openapi::Document) {
        doc.add_thrift(&self.spec, &self.schema, &self.decode);
    }
}

/// One method of a Thrift backend, with what every call of it shares.
struct ThriftRoute {
    backend: Arc<ThriftBackend>,
    method: Method,
    /// `Service.method`.
    name: String,
    /// The IDL service.
    service: String,
    /// TTHeader info block (service and method names, the method's
    /// timeout) for this method, open for each call's own keys.
    header_block: Vec<u8>,
    policy: Arc<pipeline::CallPolicy>,
    /// How the request struct binds HTTP.
    bindings: thrift_http::Bindings,
}

impl Route for ThriftRoute {
    fn call(&self, req: HttpRequest) -> RouteFuture<'_> {
        super::answer(self.handle(req), &self.backend.spec.name, &self.name)
    }
}

impl ThriftRoute {
    async fn handle(&self, req: HttpRequest) -> Result<axum::response::Response, ApiError> {
        let b = &self.backend;
        let req = req.read().await?;
        let meta = b.spec.traffic.meta(&self.policy, &req.parts, &req.body)?;
        let form = self.bindings.form(&req.parts.headers, &req.body)?;
        let http = HttpValues::of(&req, form.as_deref());
        let bound = self.bindings.bind(&http);
        let json = self.bindings.json_body(&http);
        self.bindings.check(&b.schema, json, &bound)?;
        let seqid = b.seq.next();
        // A client's shorter deadline travels in the header's timeout.
        let shorter = (b.transport.is_ttheader() && meta.remaining() < self.policy.timeout)
            .then(|| b.header_block(&self.service, &self.method, meta.remaining_ms()));
        let block = shorter.as_deref().unwrap_or(&self.header_block);
        let context = meta.context(&TTHEADER_CONTEXT);
        // Thrift is smaller than its JSON; the Vec grows if need be.
        let mut frame = Vec::with_capacity(json.len() / 2 + 128 + block.len() + context.wire_len());
        let mark =
            framing::begin_frame_with(b.transport, &mut frame, seqid, block, context.as_slice());
        thrift::encode_call(
            b.wire,
            &b.schema,
            &self.method,
            seqid,
            json,
            &bound,
            &b.encode,
            &mut frame,
        )
        .map_err(|e| Failure::Input(e.to_string()))?;
        framing::finish_frame(b.transport, &mut frame, mark);
        // The body is encoded: free it (and what borrows it) before the
        // reply, so waiting calls hold only their encoded request.
        drop(bound);
        drop(form);
        drop(req);
        let trace_at = (meta.trace.as_ref())
            .filter(|_| b.transport.is_ttheader())
            .and_then(|t| t.find_in(&frame, true));
        let exchange = Exchange {
            frame: Bytes::from(frame),
            oneway: self.method.oneway,
            idempotent: self.policy.idempotent,
            trace_at,
        };
        let Some(reply) = pipeline::send(&b.client, exchange, &self.policy, meta).await? else {
            return Ok(super::json_response(
                reply_status(Some(202)),
                b"null".to_vec(),
            ));
        };
        if let Some(e) = biz_error(reply.frame.header.as_ref()) {
            return Err(e);
        }
        // JSON text is larger than its Thrift (about 1.4x for typical
        // structs): room for that at once, so large replies do not double
        // their way up; rarer, denser JSON grows the buffer once more.
        let mut out = Vec::with_capacity(reply.payload().len() * 3 / 2 + 64);
        let mut meta = ResponseMeta::default();
        let decoded = thrift::decode_reply(
            b.wire,
            &b.schema,
            &self.method,
            reply.payload(),
            seqid,
            &b.decode,
            &mut out,
            &mut meta,
        )
        .map_err(|e| Failure::BadReply(format!("bad reply from {}: {e}", reply.addr)))?;
        match decoded {
            Reply::Success => {
                let mut resp = super::json_response(reply_status(meta.status), out);
                for (k, v) in meta.headers {
                    if let (Ok(k), Ok(v)) = (
                        axum::http::HeaderName::try_from(k),
                        axum::http::HeaderValue::try_from(v),
                    ) {
                        resp.headers_mut().append(k, v);
                    }
                }
                Ok(resp)
            }
            Reply::Exception { field, type_name } => {
                let detail: serde_json::Value =
                    serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null);
                let http_code = self.exception_http_code(&type_name, &detail);
                Err(ApiError::from(Failure::Remote(Remote::Exception {
                    message: format!("{} raised {type_name}", self.method.name),
                    http_code,
                }))
                .with("exception", json!(type_name))
                .with("field", json!(field))
                .with("detail", detail))
            }
            Reply::App(app) => Err(ApiError::from(Failure::Remote(Remote::Application {
                message: app.message,
                kind: app.kind,
            }))
            .with("type", json!(app.kind))),
        }
    }

    /// The value of the exception's field bound to `api.http_code`, if any.
    fn exception_http_code(&self, type_name: &str, detail: &serde_json::Value) -> Option<i64> {
        let schema = &self.backend.schema;
        let sid = schema.struct_by_name(type_name)?;
        let f = schema
            .struct_def(sid)
            .fields
            .iter()
            .find(|f| f.binding == Binding::HttpCode)?;
        detail.get(&f.json_name)?.as_i64()
    }
}
