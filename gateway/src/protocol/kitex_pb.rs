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
use super::{HttpRequest, IdlKind, Protocol, ProtocolBackend, Route, RouteFuture, RouteSpec};
use crate::backend::{BackendSpec, BuildContext, Idl};
use crate::error::{ApiError, Failure, Remote, read_body, reply_status};
use crate::pipeline::{self, Client};
use crate::transport::pool::{Exchange, Reply};

pub struct KitexPb;

impl Protocol for KitexPb {
    fn name(&self) -> &'static str {
        "kitex-protobuf"
    }
    fn idl(&self) -> IdlKind {
        IdlKind::Proto
    }
    fn transports(&self) -> &'static [&'static str] {
        // Always framed; in TTHeader the payload is the framed message.
        &["framed", "ttheader", "ttheader-framed"]
    }
    fn build(
        &self,
        spec: &Arc<BackendSpec>,
        idl: Idl,
        ctx: &BuildContext<'_>,
    ) -> Result<Arc<dyn ProtocolBackend>, String> {
        let Idl::Proto(proto) = idl else {
            return Err(format!("backend `{}`: no .proto IDL", spec.name));
        };
        let transport = match transport_of(spec)? {
            Transport::TTHeader | Transport::TTHeaderFramed => Transport::TTHeaderFramed,
            _ => Transport::Framed,
        };
        Ok(Arc::new(KitexPbBackend {
            spec: spec.clone(),
            proto,
            ttheader: transport.is_ttheader(),
            client: pool_client(spec, ctx, transport, codecs::thrift::Protocol::Binary),
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

impl ProtocolBackend for KitexPbBackend {
    fn routes(self: Arc<Self>) -> Result<Vec<RouteSpec>, String> {
        let b = &self;
        proto::routes(&b.spec, &b.proto, false, |route| {
            let header_block = ttheader::call_block(&ttheader::CallHeader {
                protocol: ttheader::PROTOCOL_BINARY,
                framed_payload: true,
                idl_service: &route.service,
                from_service: "kitegate",
                to_service: &b.spec.name,
                method: &route.method.name,
                oneway: false,
                timeout_ms: b.spec.timeout.as_millis() as u64,
            });
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
}

struct KitexPbRoute {
    backend: Arc<KitexPbBackend>,
    route: ProtoRoute,
    header_block: Vec<u8>,
}

impl Route for KitexPbRoute {
    fn call(&self, req: HttpRequest) -> RouteFuture<'_> {
        Box::pin(async move {
            self.handle(req)
                .await
                .map_err(|e| e.at(&self.backend.spec.name, &self.route.name))
        })
    }
}

impl KitexPbRoute {
    async fn handle(&self, req: HttpRequest) -> Result<axum::response::Response, ApiError> {
        let b = &self.backend;
        let r = &self.route;
        let body = read_body(&req.parts.headers, req.body, req.body_limit, "request body").await?;
        let json = r.request_body(&req.params, req.parts.uri.query(), &body)?;
        let message = r.encode_request(&json)?;
        drop(json);
        drop(body);
        let seqid = b.seq.next();
        let mut frame = Vec::with_capacity(message.len() + 128);
        if b.ttheader {
            kitex::encode_call_ttheader(
                &self.header_block,
                &r.method.name,
                seqid,
                &message,
                &mut frame,
            );
        } else {
            protobuf::encode_call(&r.method.name, seqid, &message, &mut frame);
        }
        let exchange = Exchange {
            frame: Bytes::from(frame),
            oneway: false,
            idempotent: false,
        };
        let Some(reply) = pipeline::send(&b.client, exchange, false).await? else {
            return Err(Failure::BadReply("no reply".into()).into());
        };
        if let Some(e) = biz_error(reply.frame.header.as_ref()) {
            return Err(e);
        }
        let payload = reply.payload();
        let decoded = kitex::decode_reply(payload, &r.method.name, seqid)
            .map_err(|e| Failure::BadReply(format!("bad reply from {}: {e}", reply.addr)))?;
        match decoded {
            KitexPbReply::Message(range) => {
                let full = r.decode_response(&payload[range], &reply.addr)?;
                let mut out = Vec::with_capacity(full.len());
                r.write_response(&full, &mut out);
                Ok(super::json_response(reply_status(None), out))
            }
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
