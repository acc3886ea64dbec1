//! Kitex Protobuf backends: Kitex's own protobuf message protocol, framed
//! or inside TTHeader, over pooled connections; unary methods only (Kitex
//! Protobuf has no streaming).

use std::sync::Arc;

use bytes::Bytes;
use codecs::framing::{Transport, ttheader};
use codecs::protobuf::{self, KitexPbReply, kitex};
use idl::proto::ProtoSchema;
use serde_json::json;

use super::proto::{self, ProtoRoute};
use super::thrift::{SeqIds, biz_error, pool_client, transport_of};
use super::{
    About, Build, Built, HttpRequest, IdlKind, Protocol, ProtocolBackend, Route, RouteFuture,
    RouteSpec,
};
use crate::backend::BackendSpec;
use crate::error::{ApiError, Failure, Remote};
use crate::pipeline::{self, Client};
use crate::transport::pool::{Exchange, Reply};

pub struct KitexPb;

static ABOUT: About = About {
    name: "kitex-protobuf",
    aliases: &[],
    idl: IdlKind::Proto,
    // Always framed; in TTHeader the payload is the framed message.
    transports: &["framed", "ttheader", "ttheader-framed"],
};

impl Protocol for KitexPb {
    fn about(&self) -> &About {
        &ABOUT
    }

    fn build(&self, b: Build<'_>) -> Built {
        let (spec, ctx) = (b.spec, b.ctx);
        let proto = b.idl.proto(spec)?;
        let transport = match transport_of(spec)? {
            Transport::TTHeader | Transport::TTHeaderFramed => Transport::TTHeaderFramed,
            _ => Transport::Framed,
        };
        Ok(Arc::new(KitexPbBackend {
            spec: spec.clone(),
            proto,
            ttheader: transport.is_ttheader(),
            client: pool_client(spec, ctx, transport, codecs::thrift::Protocol::Binary)?,
            seq: SeqIds::default(),
        }))
    }
}

pub struct KitexPbBackend {
    spec: Arc<BackendSpec>,
    proto: Arc<ProtoSchema>,
    ttheader: bool,
    client: Client<Exchange, Option<Reply>>,
    seq: SeqIds,
}

impl KitexPbBackend {
    /// The TTHeader info block of a call of `route` with `timeout_ms` left.
    fn header_block(&self, route: &ProtoRoute, timeout_ms: u64) -> Vec<u8> {
        ttheader::call_block(&ttheader::CallHeader {
            protocol: ttheader::PROTOCOL_BINARY,
            framed_payload: true,
            idl_service: &route.service,
            from_service: "kitegate",
            to_service: &self.spec.name,
            method: &route.method.name,
            oneway: false,
            timeout_ms,
        })
    }
}

impl ProtocolBackend for KitexPbBackend {
    fn routes(self: Arc<Self>) -> Result<Vec<RouteSpec>, String> {
        let b = &self;
        proto::routes(&b.spec, &b.proto, false, |route| {
            let header_block = b.header_block(&route, route.policy.timeout_ms());
            Arc::new(KitexPbRoute {
                route,
                header_block,
                backend: b.clone(),
            })
        })
    }

    fn methods(&self) -> Vec<serde_json::Value> {
        proto::methods(&self.spec, &self.proto)
    }

    fn openapi(&self, doc: &mut crate::openapi::Document) {
        let decode = proto::decode_options(&self.spec.settings.options);
        doc.add_proto(&self.spec, &self.proto, &decode, false);
    }
}

struct KitexPbRoute {
    backend: Arc<KitexPbBackend>,
    route: ProtoRoute,
    header_block: Vec<u8>,
}

impl Route for KitexPbRoute {
    fn call(&self, req: HttpRequest) -> RouteFuture<'_> {
        super::answer(self.handle(req), &self.backend.spec.name, &self.route.name)
    }
}

impl KitexPbRoute {
    async fn handle(&self, req: HttpRequest) -> Result<axum::response::Response, ApiError> {
        let b = &self.backend;
        let r = &self.route;
        let req = req.read().await?;
        let meta = b.spec.traffic.meta(&r.policy, &req.parts, &req.body)?;
        let message = r.encode(&req)?;
        drop(req);
        let seqid = b.seq.next();
        let mut frame;
        if b.ttheader {
            // A client's shorter deadline travels in the header's timeout.
            let shorter = (meta.remaining() < r.policy.timeout)
                .then(|| b.header_block(r, meta.remaining_ms()));
            let block = shorter.as_deref().unwrap_or(&self.header_block);
            let context = meta.context(&super::thrift::TTHEADER_CONTEXT);
            frame = Vec::with_capacity(message.len() + 128 + block.len() + context.wire_len());
            kitex::encode_call_ttheader(
                block,
                context.as_slice(),
                &r.method.name,
                seqid,
                &message,
                &mut frame,
            );
        } else {
            frame = Vec::with_capacity(message.len() + 128);
            protobuf::encode_call(&r.method.name, seqid, &message, &mut frame);
        }
        let trace_at = (meta.trace.as_ref())
            .filter(|_| b.ttheader)
            .and_then(|t| t.find_in(&frame, true));
        let exchange = Exchange {
            frame: Bytes::from(frame),
            oneway: false,
            idempotent: r.policy.idempotent,
            trace_at,
        };
        let Some(reply) = pipeline::send(&b.client, exchange, &r.policy, meta).await? else {
            return Err(Failure::BadReply("no reply".into()).into());
        };
        if let Some(e) = biz_error(reply.frame.header.as_ref()) {
            return Err(e);
        }
        let payload = reply.payload();
        let decoded = kitex::decode_reply(payload, &r.method.name, seqid)
            .map_err(|e| Failure::BadReply(format!("bad reply from {}: {e}", reply.addr)))?;
        match decoded {
            KitexPbReply::Message(range) => r.response(&payload[range], &reply.addr),
            KitexPbReply::Exception { type_id, message } => {
                Err(ApiError::from(Failure::Remote(Remote::Application {
                    message,
                    kind: type_id,
                }))
                .with("type", json!(type_id)))
            }
        }
    }
}
