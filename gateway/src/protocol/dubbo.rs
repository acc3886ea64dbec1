//! Dubbo backends (Dubbo 2 protocol, Hessian2), described by a Thrift IDL
//! with Kitex's codec-dubbo annotations: each method's routes come from its
//! `api.*` annotations; the request JSON (body, then bound path, query,
//! header and cookie values) becomes the Hessian2 arguments of the Java
//! method, and the result comes back as JSON guided by the IDL. Every Dubbo
//! backend also answers generic calls (`POST {prefix}/$invoke`), and one
//! without an IDL answers only those.

use std::sync::Arc;

use bytes::Bytes;
use codecs::dubbo::generic::{GenericCall, encode_generic_request};
use codecs::dubbo::mapping::{self, DubboJsonOptions, JavaSignature};
use codecs::dubbo::{Invocation, Outcome};
use codecs::hessian2::Limits;
use codecs::thrift::BoundValue;
use idl::{Method, Schema};
use serde_json::{Value, json};

use super::thrift_http::{self, HttpValues};
use super::{
    About, Build, Built, HttpRequest, IdlKind, Protocol, ProtocolBackend, Route, RouteFuture,
    RoutePath, RouteSpec,
};
use crate::backend::{BackendSpec, Idl};
use crate::config::BackendConfig;
use crate::error::{ApiError, Failure, Remote};
use crate::pipeline::{self, CallMeta, CallPolicy, Client, ContextKeys};
use crate::transport::dubbo::{DubboCall, DubboConfig, DubboEndpoint, DubboReply, next_request_id};

/// How much larger than the largest reply body (`max_frame`) its JSON may
/// be: Hessian references let a small reply stand for a huge tree, so its
/// expansion is bounded; plain values grow about 2x from Hessian to JSON.
const JSON_PER_BODY_BYTE: usize = 4;

pub struct Dubbo;

static ABOUT: About = About {
    name: "dubbo",
    aliases: &[],
    idl: IdlKind::Thrift,
    // The Dubbo header is the only framing; the Thrift names stay accepted
    // for registrations that gave one.
    transports: &["dubbo", "framed", "buffered", "ttheader", "ttheader-framed"],
};

impl Protocol for Dubbo {
    fn about(&self) -> &About {
        &ABOUT
    }

    fn idl_optional(&self, settings: &BackendConfig) -> bool {
        settings.options.java_interface.is_some()
    }

    fn listing(&self, settings: &BackendConfig) -> Option<super::Listing> {
        let o = &settings.options;
        Some(super::Listing {
            scheme: ABOUT.name,
            group: o.dubbo_group.clone(),
            version: o.dubbo_version.clone(),
        })
    }

    fn build(&self, b: Build<'_>) -> Built {
        let (spec, ctx) = (b.spec, b.ctx);
        let opts = &spec.settings.options;
        let schema = match b.idl {
            Idl::Thrift(s) => s,
            Idl::None if opts.java_interface.is_some() => Arc::new(Schema::default()),
            _ => {
                return Err(format!(
                    "backend `{}`: a Dubbo backend without an IDL needs options.java_interface (for generic calls)",
                    spec.name
                ));
            }
        };
        let cfg = DubboConfig {
            connect_timeout: spec.connect_timeout,
            max_body: opts.max_frame.unwrap_or(codecs::dubbo::DEFAULT_MAX_BODY),
            tls: spec.tls(&[])?,
            ..Default::default()
        };
        let endpoints = spec
            .settings
            .endpoints
            .iter()
            .map(|e| DubboEndpoint::shared(ctx.endpoints, &e.addr, cfg.clone()))
            .collect();
        // The Java interface: `options.java_interface`, else that of the first service.
        let interface = opts.java_interface.clone().or_else(|| {
            let svc = schema.service(spec.services.first()?)?;
            Some(mapping::java_interface(&schema, svc))
        });
        Ok(Arc::new(DubboBackend {
            spec: spec.clone(),
            client: pipeline::client(&spec.traffic, endpoints),
            json_limits: Some(opts.json_limits()).filter(|l| *l != codecs::JsonLimits::default()),
            max_json: (opts.max_reply_json)
                .unwrap_or(cfg.max_body.saturating_mul(JSON_PER_BODY_BYTE)),
            interface,
            json: DubboJsonOptions {
                i64_as_string: opts.i64_as_string,
                enum_as_name: opts.enum_as_name,
            },
            schema,
        }))
    }
}

pub struct DubboBackend {
    spec: Arc<BackendSpec>,
    schema: Arc<Schema>,
    client: Client<DubboCall, DubboReply>,
    /// Largest JSON rendering of one reply (bytes).
    max_json: usize,
    /// The JSON bounds its settings set; `None` for the defaults, which
    /// writing the Hessian already holds (nesting 64, no other bound).
    json_limits: Option<codecs::JsonLimits>,
    interface: Option<String>,
    json: DubboJsonOptions,
}

impl ProtocolBackend for DubboBackend {
    fn routes(self: Arc<Self>) -> Result<Vec<RouteSpec>, String> {
        let b = &self;
        let mut routes = Vec::new();
        if let Some(interface) = &b.interface {
            routes.push(RouteSpec {
                verb: axum::http::Method::POST,
                path: RoutePath::Hertz(format!("{}/$invoke", b.spec.prefix)),
                service: interface.clone(),
                method: codecs::dubbo::generic::GENERIC_METHOD.into(),
                handler: Arc::new(GenericRoute {
                    policy: b
                        .spec
                        .policy(interface, codecs::dubbo::generic::GENERIC_METHOD, false),
                    backend: b.clone(),
                    name: format!("{interface}.{}", codecs::dubbo::generic::GENERIC_METHOD),
                    interface: interface.clone(),
                }),
            });
        }
        routes.extend(thrift_http::routes(
            &b.spec.prefix,
            &b.schema,
            &b.spec.services,
            |service, m| {
                let interface = b
                    .spec
                    .settings
                    .options
                    .java_interface
                    .clone()
                    .or_else(|| {
                        b.schema
                            .service(service)
                            .map(|s| mapping::java_interface(&b.schema, s))
                    })
                    .unwrap_or_else(|| service.to_string());
                Arc::new(DubboRoute {
                    policy: b
                        .spec
                        .policy(service, &m.name, super::thrift::idl_idempotent(m)),
                    bindings: thrift_http::Bindings::of(&b.schema, m),
                    signature: mapping::signature(&b.schema, m),
                    interface,
                    name: b.spec.method_name(service, &m.name),
                    method: m.clone(),
                    backend: b.clone(),
                })
            },
        ));
        Ok(routes)
    }

    fn methods(&self) -> Vec<Value> {
        thrift_http::methods(&self.schema, &self.spec.services)
    }

    fn openapi(&self, doc: &mut crate::openapi::Document) {
        let decode = codecs::thrift::DecodeOptions {
            enum_as_name: self.json.enum_as_name,
            i64_as_string: self.json.i64_as_string,
            ..Default::default()
        };
        doc.add_thrift(&self.spec, &self.schema, &decode);
        if let Some(interface) = &self.interface {
            doc.add_operation(
                &self.spec,
                format!("{}/$invoke", self.spec.prefix),
                "post",
                generic_operation(&self.spec.name, interface),
            );
        }
    }
}

/// The OpenAPI operation of the generic-call route.
fn generic_operation(backend: &str, interface: &str) -> Value {
    let error = |name: &str| json!({"$ref": format!("#/components/responses/{name}")});
    json!({
        "operationId": format!("{backend}.{interface}.$invoke"),
        "summary": format!("{interface}.$invoke"),
        "description": format!(
            "Dubbo generic call on `{interface}`: `$invoke(method, types, args)` with attachment \
             `generic=true`. Objects go as maps, which the provider turns into the declared classes; \
             class results come back as objects with a `class` member."
        ),
        "requestBody": {
            "required": true,
            "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["method"],
                "properties": {
                    "method": {"type": "string", "description": "The Java method's name"},
                    "types": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "The Java parameter types (`java.lang.String`, `int`, `String`, \
                            `List`...), one per argument; when absent the provider finds the method by its name",
                    },
                    "args": {"type": "array", "description": "The arguments, as JSON"},
                },
            }}},
        },
        "responses": {
            "200": {
                "description": "The method's result, as JSON",
                "content": {"application/json": {"schema": {}}},
            },
            "400": error("BadRequest"),
            "413": error("PayloadTooLarge"),
            "500": error("InternalError"),
            "502": error("BadGateway"),
            "504": error("GatewayTimeout"),
            "default": error("RemoteStatus"),
        },
    })
}

/// A reply with an error status, or an exception in its body.
impl crate::transport::Answer for DubboReply {
    fn remote_error(&self) -> bool {
        codecs::dubbo::is_error_reply(&self.frame)
    }
}

/// The attachments a call's request id and trace context travel in (the
/// W3C keys Dubbo's OpenTelemetry tracing reads).
const CONTEXT_KEYS: ContextKeys = ContextKeys {
    request_id: "x-request-id",
    traceparent: "traceparent",
    tracestate: "tracestate",
};

impl DubboBackend {
    fn invocation<'a>(
        &'a self,
        interface: &'a str,
        method: &'a str,
        descriptor: &'a str,
        meta: &CallMeta,
        attachments: &'a [(&'a str, &'a str)],
    ) -> Invocation<'a> {
        let opts = &self.spec.settings.options;
        Invocation {
            interface,
            version: opts.dubbo_version.as_deref().unwrap_or(""),
            group: opts.dubbo_group.as_deref().unwrap_or(""),
            method,
            descriptor,
            // What is left of the call's deadline (Dubbo's `timeout`).
            timeout_ms: Some(meta.remaining_ms()),
            attachments,
        }
    }

    /// Sends a request frame and writes the result as JSON (guided by the
    /// method's IDL type, when there is one).
    async fn exchange(
        &self,
        id: u64,
        frame: Vec<u8>,
        method: Option<&Method>,
        policy: &Arc<CallPolicy>,
        meta: CallMeta,
    ) -> Result<axum::response::Response, ApiError> {
        // The attachments come last in the frame.
        let trace_at = meta.trace.as_ref().and_then(|t| t.find_in(&frame, false));
        let call = DubboCall {
            id,
            frame: Bytes::from(frame),
            trace_at,
        };
        let reply = pipeline::send(&self.client, call, policy, meta).await?;
        let resp = codecs::dubbo::decode_response(&reply.frame, Limits::default())
            .map_err(|e| Failure::BadReply(format!("bad reply from {}: {e}", reply.addr)))?;
        match resp.outcome {
            Outcome::Value(v) => {
                let ty = method.and_then(|m| m.result_type.as_ref());
                let mut out = Vec::with_capacity(reply.frame.len().min(self.max_json) * 2);
                mapping::write_json(
                    &v,
                    &resp.refs,
                    &self.schema,
                    ty,
                    None,
                    &self.json,
                    &mut out,
                    self.max_json,
                )
                .map_err(|e| Failure::BadReply(format!("reply from {}: {e}", reply.addr)))?;
                Ok(super::json_response(crate::error::reply_status(None), out))
            }
            Outcome::Exception { class, message, .. } => {
                Err(ApiError::from(Failure::Remote(Remote::Exception {
                    message: message.clone().unwrap_or_else(|| class.clone()),
                    http_code: None,
                }))
                .with("exception", json!(class))
                .with("exception_message", json!(message)))
            }
            Outcome::Status { status, message } => Err(ApiError::from(Failure::Remote(
                Remote::Dubbo { status, message },
            ))
            .with("dubbo_status", json!(status))
            .with(
                "dubbo_status_name",
                json!(codecs::dubbo::status::name(status)),
            )),
        }
    }
}

/// One method of a Dubbo backend.
struct DubboRoute {
    backend: Arc<DubboBackend>,
    policy: Arc<CallPolicy>,
    method: Method,
    name: String,
    interface: String,
    signature: JavaSignature,
    bindings: thrift_http::Bindings,
}

impl Route for DubboRoute {
    fn call(&self, req: HttpRequest) -> RouteFuture<'_> {
        super::answer(self.handle(req), &self.backend.spec.name, &self.name)
    }
}

impl DubboRoute {
    async fn handle(&self, req: HttpRequest) -> Result<axum::response::Response, ApiError> {
        let req = req.read().await?;
        let meta = (self.backend.spec.traffic).meta(&self.policy, &req.parts, &req.body)?;
        let form = self.bindings.form(&req.parts.headers, &req.body)?;
        let http = HttpValues::of(&req, form.as_deref());
        let (id, frame) = self.encode(self.bindings.json_body(&http), &http, &meta)?;
        drop(form);
        drop(req);
        (self.backend)
            .exchange(id, frame, Some(&self.method), &self.policy, meta)
            .await
    }

    /// The request JSON (body, then bound values) as the Hessian2
    /// arguments of the Java method, in a whole request frame.
    fn encode(
        &self,
        body: &[u8],
        http: &HttpValues<'_>,
        meta: &CallMeta,
    ) -> Result<(u64, Vec<u8>), ApiError> {
        let b = &self.backend;
        let schema = &b.schema;
        let bad = |m: String| ApiError::from(Failure::Input(m));
        let mut obj = if body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Map::new()
        } else {
            let parsed = serde_json::from_slice(body);
            if let (Ok(v), Some(limits)) = (&parsed, &b.json_limits) {
                limits.check(v).map_err(bad)?;
            }
            match parsed {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(bad("$: expected an object".into())),
                Err(e) => return Err(bad(format!("$: {e}"))),
            }
        };
        let fields = &schema
            .struct_def(thrift_http::request_struct(schema, &self.method))
            .fields;
        let bound = self.bindings.bind(http);
        self.bindings.check(schema, body, &bound)?;
        for bv in bound {
            let Some(f) = fields.get(bv.field) else {
                continue;
            };
            let v = match &bv.value {
                BoundValue::Text(t) => Value::String(t.to_string()),
                BoundValue::List(l) => l.iter().map(|t| json!(t)).collect(),
                BoundValue::Raw(r) => json!(String::from_utf8_lossy(r)),
                BoundValue::Missing => {
                    obj.remove(&f.json_name);
                    continue;
                }
            };
            obj.insert(f.json_name.clone(), v);
        }
        let sig = &self.signature;
        let context = meta.context(&CONTEXT_KEYS);
        let att = context.as_slice();
        let inv = b.invocation(&self.interface, &sig.method, &sig.descriptor, meta, att);
        let id = next_request_id();
        let mut req = Vec::with_capacity(body.len() + 256 + context.wire_len());
        let (start, mut w) = codecs::dubbo::begin_request(&inv, &mut req);
        let whole = Value::Object(obj);
        let args = schema.struct_def(self.method.args);
        for (j, f) in args.fields.iter().enumerate() {
            let value = match self.method.body_struct_arg {
                Some(i) if i == j => &whole,
                Some(_) => &Value::Null,
                None => whole
                    .get(&f.json_name)
                    .or_else(|| whole.get(&f.name))
                    .unwrap_or(&Value::Null),
            };
            let mut path = if self.method.body_struct_arg.is_some() {
                "$".to_string()
            } else {
                format!("$.{}", f.json_name)
            };
            mapping::write_value(
                &mut w,
                schema,
                &f.ty,
                sig.params.get(j).map(String::as_str),
                value,
                &mut path,
                0,
            )
            .map_err(|e| bad(e.to_string()))?;
        }
        codecs::dubbo::finish_request(&inv, id, start, w, &[]);
        Ok((id, req))
    }
}

/// The generic-call route of a Dubbo backend (`POST {prefix}/$invoke`):
/// `{"method": …, "types": [Java types], "args": [JSON values]}` calls
/// `$invoke(method, types, args)` on the interface, as Dubbo's generic
/// service does, for methods no IDL describes.
struct GenericRoute {
    backend: Arc<DubboBackend>,
    policy: Arc<CallPolicy>,
    interface: String,
    /// `interface.$invoke`.
    name: String,
}

impl Route for GenericRoute {
    fn call(&self, req: HttpRequest) -> RouteFuture<'_> {
        super::answer(self.handle(req), &self.backend.spec.name, &self.name)
    }
}

impl GenericRoute {
    async fn handle(&self, req: HttpRequest) -> Result<axum::response::Response, ApiError> {
        let req = req.read().await?;
        let meta = (self.backend.spec.traffic).meta(&self.policy, &req.parts, &req.body)?;
        let (id, frame) = self.encode(&req.body, &meta)?;
        drop(req);
        (self.backend)
            .exchange(id, frame, None, &self.policy, meta)
            .await
    }

    fn encode(&self, body: &[u8], meta: &CallMeta) -> Result<(u64, Vec<u8>), ApiError> {
        let bad = |m: String| ApiError::from(Failure::Input(m));
        let req: Value = serde_json::from_slice(body).map_err(|e| bad(format!("$: {e}")))?;
        if let Some(limits) = &self.backend.json_limits {
            limits.check(&req).map_err(bad)?;
        }
        let Some(method) = req.get("method").and_then(|m| m.as_str()) else {
            return Err(bad("$.method: a Java method name is required".into()));
        };
        let args: &[Value] = match req.get("args") {
            None | Some(Value::Null) => &[],
            Some(Value::Array(a)) => a,
            Some(_) => return Err(bad("$.args: expected an array".into())),
        };
        let types: Option<Vec<String>> = match req.get("types") {
            None | Some(Value::Null) => None,
            Some(Value::Array(t)) => Some(
                t.iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v.as_str()
                            .map(mapping::expand_java_type)
                            .ok_or_else(|| bad(format!("$.types[{i}]: expected a Java type name")))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => return Err(bad("$.types: expected an array".into())),
        };
        if let Some(t) = &types
            && t.len() != args.len()
        {
            return Err(bad(format!(
                "$.types: {} types for {} args",
                t.len(),
                args.len()
            )));
        }
        let context = meta.context(&CONTEXT_KEYS);
        let att = context.as_slice();
        let inv = self.backend.invocation(&self.interface, "", "", meta, att);
        let id = next_request_id();
        let mut frame = Vec::with_capacity(body.len() + 256 + context.wire_len());
        let call = GenericCall {
            method,
            types: types.as_deref(),
            args,
        };
        encode_generic_request(&inv, id, &call, &mut frame).map_err(|e| bad(e.to_string()))?;
        Ok((id, frame))
    }
}
