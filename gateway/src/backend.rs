//! A backend: its schema, connection pool and options, and the call path
//! from an HTTP request's parts to a decoded reply.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use codecs::dubbo::mapping::{self, DubboJsonOptions, JavaSignature};
use codecs::dubbo::{Invocation, Outcome};
use codecs::framing::{self, DEFAULT_MAX_FRAME_SIZE, Transport, ttheader};
use codecs::hessian2::Limits;
use codecs::protobuf::{PbDecodeOptions, PbEncodeOptions};
use codecs::thrift::{
    self, Bound, BoundValue, DecodeOptions, EncodeOptions, Protocol, Reply, ResponseMeta,
};
use codecs::transport::{
    Client, ClientConfig, DubboClient, DubboClientConfig, GrpcClient, Pools, TransportError,
};
use idl::proto::ProtoSchema;
use idl::{Binding, Method, Schema, Type};
use serde_json::json;

use crate::config::BackendConfig;
use crate::error::ApiError;

/// The HTTP status and error code for a Dubbo response status other than OK.
fn dubbo_status_http(status: u8) -> (StatusCode, &'static str) {
    use codecs::dubbo::status as s;
    match status {
        s::CLIENT_TIMEOUT | s::SERVER_TIMEOUT => (StatusCode::GATEWAY_TIMEOUT, "backend_timeout"),
        s::SERVICE_NOT_FOUND => (StatusCode::BAD_GATEWAY, "service_not_found"),
        s::SERVER_THREADPOOL_EXHAUSTED_ERROR => (StatusCode::SERVICE_UNAVAILABLE, "backend_busy"),
        s::BAD_REQUEST | s::SERIALIZATION_ERROR => {
            (StatusCode::BAD_GATEWAY, "backend_rejected_request")
        }
        _ => (StatusCode::BAD_GATEWAY, "dubbo_error"),
    }
}

/// Idle connections kept per endpoint.
const MAX_IDLE_PER_ENDPOINT: usize = 256;

pub struct Backend {
    pub name: String,
    /// The Thrift schema (empty for protobuf backends).
    pub schema: Arc<Schema>,
    /// The protobuf schema of protobuf backends.
    pub proto: Option<Arc<ProtoSchema>>,
    /// The HTTP/2 client of gRPC backends.
    pub grpc: Option<GrpcClient>,
    /// The multiplexing client of Dubbo backends.
    pub dubbo: Option<DubboClient>,
    pub pb_encode: PbEncodeOptions,
    pub pb_decode: PbDecodeOptions,
    pub protocol: Protocol,
    pub transport: Transport,
    pub client: Client,
    pub timeout: Duration,
    pub encode: EncodeOptions,
    pub decode: DecodeOptions,
    pub prefix: String,
    /// Services of the IDL that are exposed.
    pub services: Vec<String>,
    /// The settings it was built from.
    pub settings: BackendConfig,
    seq: AtomicI32,
}

/// Parses the Thrift protocol names used in config and CLI.
pub fn parse_protocol(s: &str) -> Option<Protocol> {
    match s {
        "thrift" | "thrift-binary" => Some(Protocol::Binary),
        "thrift-compact" => Some(Protocol::Compact),
        _ => None,
    }
}

/// The protocol name of Kitex's own protobuf message protocol.
pub const KITEX_PROTOBUF: &str = "kitex-protobuf";
/// gRPC over HTTP/2.
pub const GRPC: &str = "grpc";

/// The Dubbo 2 protocol with Hessian2, described by a Thrift IDL.
pub const DUBBO: &str = "dubbo";

/// Every protocol name a backend may have.
pub fn known_protocol(s: &str) -> bool {
    parse_protocol(s).is_some() || s == KITEX_PROTOBUF || s == GRPC || s == DUBBO
}

/// Whether the protocol is described by a .proto file.
pub fn is_proto_protocol(s: &str) -> bool {
    s == KITEX_PROTOBUF || s == GRPC
}

/// Which IDL a backend is described by.
pub enum Idl {
    Thrift(Arc<Schema>),
    Proto(Arc<ProtoSchema>),
}

/// A Kitex business status error carried in TTHeader (`biz-status` != 0).
pub fn biz_error(
    header: Option<&codecs::framing::HeaderInfo>,
    error: impl Fn(StatusCode, &'static str, String) -> ApiError,
) -> Option<ApiError> {
    let h = header?;
    let status = h.str(ttheader::str_key::BIZ_STATUS).filter(|s| *s != "0")?;
    let mut e = error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "biz_error",
        h.str(ttheader::str_key::BIZ_MESSAGE)
            .unwrap_or("business error")
            .to_string(),
    );
    e = e.with(
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

impl Backend {
    pub fn new(
        cfg: &BackendConfig,
        schema: Arc<Schema>,
        default_timeout_ms: u64,
        default_connect_ms: u64,
    ) -> Result<Backend, String> {
        Backend::with_pools(
            cfg,
            schema,
            default_timeout_ms,
            default_connect_ms,
            &Pools::default(),
        )
    }

    /// Like [`Backend::new`], reusing idle connections from `pools`.
    pub fn with_pools(
        cfg: &BackendConfig,
        schema: Arc<Schema>,
        default_timeout_ms: u64,
        default_connect_ms: u64,
        pools: &Pools,
    ) -> Result<Backend, String> {
        Backend::build(
            cfg,
            Idl::Thrift(schema),
            default_timeout_ms,
            default_connect_ms,
            pools,
        )
    }

    /// A backend of any protocol, described by `idl`.
    pub fn build(
        cfg: &BackendConfig,
        idl: Idl,
        default_timeout_ms: u64,
        default_connect_ms: u64,
        pools: &Pools,
    ) -> Result<Backend, String> {
        let name = &cfg.name;
        let mut transport = Transport::parse(&cfg.transport).ok_or_else(|| {
            format!("backend `{name}`: unknown transport `{}` (buffered, framed, ttheader, ttheader-framed)", cfg.transport)
        })?;
        let (schema, proto, protocol) = match idl {
            Idl::Thrift(schema) if cfg.protocol == DUBBO => (schema, None, Protocol::Binary),
            Idl::Thrift(schema) => {
                let protocol = parse_protocol(&cfg.protocol).ok_or_else(|| {
                    format!(
                        "backend `{name}`: protocol `{}` needs a .proto IDL, or is unknown (thrift, thrift-compact, dubbo, kitex-protobuf, grpc)",
                        cfg.protocol
                    )
                })?;
                if protocol == Protocol::Compact && transport.is_ttheader() {
                    tracing::warn!(backend = %name, "Kitex does not accept compact inside TTHeader");
                }
                (schema, None, protocol)
            }
            Idl::Proto(proto) => {
                if !is_proto_protocol(&cfg.protocol) {
                    return Err(format!(
                        "backend `{name}`: a .proto IDL needs protocol `kitex-protobuf` or `grpc`, not `{}`",
                        cfg.protocol
                    ));
                }
                // Kitex Protobuf is always framed; in TTHeader the payload is the framed message.
                transport = match transport {
                    Transport::Framed => Transport::Framed,
                    Transport::TTHeader | Transport::TTHeaderFramed => Transport::TTHeaderFramed,
                    Transport::Buffered if cfg.protocol == GRPC => Transport::Framed,
                    Transport::Buffered => {
                        return Err(format!(
                            "backend `{name}`: Kitex Protobuf is framed only: use framed or ttheader"
                        ));
                    }
                };
                (Arc::new(Schema::default()), Some(proto), Protocol::Binary)
            }
        };
        if !cfg.prefix.is_empty() && !cfg.prefix.starts_with('/') {
            return Err(format!(
                "backend `{name}`: prefix `{}` must start with `/`",
                cfg.prefix
            ));
        }
        if cfg.timeout_ms == Some(0) || cfg.connect_timeout_ms == Some(0) {
            return Err(format!("backend `{name}`: timeouts must be at least 1 ms"));
        }
        if cfg.endpoints.is_empty() {
            return Err(format!("backend `{name}`: no endpoints"));
        }
        let declared: Vec<String> = match &proto {
            Some(p) => p.services.iter().map(|s| s.name.clone()).collect(),
            None => schema.services.iter().map(|s| s.name.clone()).collect(),
        };
        let services = if cfg.services.is_empty() {
            declared
        } else {
            for s in &cfg.services {
                if !declared.contains(s) {
                    return Err(format!("backend `{name}`: the IDL has no service `{s}`"));
                }
            }
            cfg.services.clone()
        };
        let generic_only = cfg.protocol == DUBBO && cfg.idl.as_os_str().is_empty();
        if generic_only && cfg.options.java_interface.is_none() {
            return Err(format!(
                "backend `{name}`: a Dubbo backend without an IDL needs options.java_interface (for generic calls)"
            ));
        }
        if cfg.idl.as_os_str().is_empty() && !generic_only {
            return Err(format!("backend `{name}`: no IDL file"));
        }
        if services.is_empty() && !generic_only {
            return Err(format!("backend `{name}`: the IDL declares no service"));
        }
        let client = Client::with_pools(
            ClientConfig {
                transport,
                protocol,
                connect_timeout: Duration::from_millis(
                    cfg.connect_timeout_ms.unwrap_or(default_connect_ms),
                ),
                max_frame: cfg.options.max_frame.unwrap_or(DEFAULT_MAX_FRAME_SIZE),
                max_idle: MAX_IDLE_PER_ENDPOINT,
            },
            cfg.endpoints.iter().cloned(),
            pools,
        );
        Ok(Backend {
            name: cfg.name.clone(),
            schema,
            dubbo: (cfg.protocol == DUBBO).then(|| {
                DubboClient::new(
                    cfg.endpoints.iter().cloned(),
                    DubboClientConfig {
                        connect_timeout: Duration::from_millis(
                            cfg.connect_timeout_ms.unwrap_or(default_connect_ms),
                        ),
                        max_body: cfg
                            .options
                            .max_frame
                            .unwrap_or(codecs::dubbo::DEFAULT_MAX_BODY),
                        ..Default::default()
                    },
                )
            }),
            grpc: (cfg.protocol == GRPC).then(|| {
                GrpcClient::new(
                    cfg.endpoints.iter().cloned(),
                    Duration::from_millis(cfg.connect_timeout_ms.unwrap_or(default_connect_ms)),
                    cfg.options.max_frame.unwrap_or(DEFAULT_MAX_FRAME_SIZE),
                )
                .accept_gzip(cfg.options.accept_gzip)
            }),
            proto,
            pb_encode: PbEncodeOptions {
                ignore_unknown_fields: !cfg.options.reject_unknown_fields,
            },
            pb_decode: PbDecodeOptions {
                emit_defaults: cfg.options.emit_defaults,
                proto_field_names: cfg.options.proto_field_names,
                int64_as_number: !cfg.options.i64_as_string,
                enum_as_number: !cfg.options.enum_as_name,
            },
            protocol,
            transport,
            client,
            timeout: Duration::from_millis(cfg.timeout_ms.unwrap_or(default_timeout_ms)),
            encode: EncodeOptions {
                reject_unknown_fields: cfg.options.reject_unknown_fields,
                ..Default::default()
            },
            decode: DecodeOptions {
                enum_as_name: cfg.options.enum_as_name,
                i64_as_string: cfg.options.i64_as_string,
                ..Default::default()
            },
            prefix: cfg.prefix.trim_end_matches('/').to_string(),
            services,
            settings: cfg.clone(),
            seq: AtomicI32::new(0),
        })
    }
}

impl Backend {
    /// Sends one framed request and waits for the reply (`None` for oneway)
    /// within the backend's timeout; failures become 504 or 502 errors
    /// built by `error`, and a TTHeader business status error its own error.
    pub(crate) async fn send(
        &self,
        req: &[u8],
        oneway: bool,
        error: impl Fn(StatusCode, &'static str, String) -> ApiError,
    ) -> Result<Option<codecs::transport::Response>, ApiError> {
        let resp = self
            .within_timeout(self.client.call(req, oneway), &error)
            .await?;
        if let Some(r) = &resp
            && let Some(e) = biz_error(r.frame.header.as_ref(), &error)
        {
            return Err(e);
        }
        Ok(resp)
    }

    /// Awaits a backend exchange within the backend's timeout: past it a 504
    /// `backend_timeout`, a failed connect 502 `backend_unavailable`, any
    /// other transport failure 502 `bad_gateway`, built by `error`.
    pub(crate) async fn within_timeout<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, TransportError>>,
        error: impl Fn(StatusCode, &'static str, String) -> ApiError,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => {
                let m = format!("no reply within {} ms", self.timeout.as_millis());
                Err(error(StatusCode::GATEWAY_TIMEOUT, "backend_timeout", m))
            }
            Ok(Err(e)) => {
                let code = match e {
                    TransportError::Connect { .. } | TransportError::NoEndpoints => {
                        "backend_unavailable"
                    }
                    _ => "bad_gateway",
                };
                Err(error(StatusCode::BAD_GATEWAY, code, e.to_string()))
            }
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// The next sequence id of a call (never 0).
    pub fn next_seqid(&self) -> i32 {
        let s = self.seq.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if s == 0 { self.next_seqid() } else { s }
    }
}

/// A call encoded for its backend, not yet sent.
pub enum Prepared {
    Thrift {
        req: Vec<u8>,
        seqid: i32,
    },
    Dubbo {
        id: u64,
        req: Vec<u8>,
        /// Decode the result by the method's IDL type (not a generic call).
        typed: bool,
    },
}

/// One method of one backend, with what every call of it shares, computed once.
pub struct MethodRoute {
    pub backend: Arc<Backend>,
    pub service: String,
    pub method: Method,
    /// TTHeader info block (service and method names) for this method.
    header_block: Vec<u8>,
    /// Fields of the request struct bound to path, query, header, cookie or raw body.
    pub bindings: Vec<(usize, Binding)>,
    /// Dubbo backends: the Java interface and the method's signature.
    dubbo: Option<(String, JavaSignature)>,
    /// A generic (`$invoke`) route of a Dubbo backend: its Java interface.
    generic: Option<String>,
}

impl MethodRoute {
    pub fn new(backend: Arc<Backend>, service: &str, method: &Method) -> MethodRoute {
        let header_block = ttheader::header_block(&ttheader::TTHeaderMeta {
            protocol: ttheader::protocol_id(backend.protocol),
            strs: vec![(
                Cow::Borrowed(ttheader::str_key::IDL_SERVICE_NAME),
                Cow::Borrowed(service),
            )],
            ints: vec![
                (
                    ttheader::int_key::TRANSPORT_TYPE,
                    Cow::Borrowed(if backend.transport == Transport::TTHeaderFramed {
                        "framed"
                    } else {
                        "unframed"
                    }),
                ),
                (ttheader::int_key::FROM_SERVICE, Cow::Borrowed("kitegate")),
                (ttheader::int_key::TO_SERVICE, Cow::Borrowed(&backend.name)),
                (ttheader::int_key::TO_METHOD, Cow::Borrowed(&method.name)),
                (
                    ttheader::int_key::MSG_TYPE,
                    Cow::Borrowed(if method.oneway { "4" } else { "1" }),
                ),
                (
                    ttheader::int_key::RPC_TIMEOUT,
                    Cow::Owned(backend.timeout.as_millis().to_string()),
                ),
            ],
        });
        let schema = &backend.schema;
        let request_struct = match method.body_struct_arg {
            Some(i) => match schema.struct_def(method.args).fields[i].ty {
                Type::Struct(sid) => sid,
                _ => method.args,
            },
            None => method.args,
        };
        let bindings = schema
            .struct_def(request_struct)
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.binding != Binding::Body)
            .map(|(i, f)| (i, f.binding.clone()))
            .collect();
        let dubbo = backend.dubbo.as_ref().map(|_| {
            let interface = backend
                .settings
                .options
                .java_interface
                .clone()
                .or_else(|| {
                    schema
                        .service(service)
                        .map(|s| mapping::java_interface(schema, s))
                })
                .unwrap_or_else(|| service.to_string());
            (interface, mapping::signature(schema, method))
        });
        MethodRoute {
            backend: backend.clone(),
            service: service.to_string(),
            method: method.clone(),
            header_block,
            bindings,
            dubbo,
            generic: None,
        }
    }

    /// The generic-call route of a Dubbo backend (`POST {prefix}/$invoke`):
    /// `{"method": …, "types": [Java types], "args": [JSON values]}` calls
    /// `$invoke(method, types, args)` on `interface`, as Dubbo's generic
    /// service does, for methods no IDL describes.
    pub fn generic(backend: Arc<Backend>, interface: &str) -> MethodRoute {
        MethodRoute {
            service: interface.to_string(),
            method: Method {
                name: "$invoke".into(),
                args: 0,
                result: 0,
                result_type: None,
                oneway: false,
                body_struct_arg: None,
                annotations: Default::default(),
                http: Vec::new(),
            },
            header_block: Vec::new(),
            bindings: Vec::new(),
            dubbo: None,
            generic: Some(interface.to_string()),
            backend,
        }
    }

    /// The Java interface of a Dubbo backend: `options.java_interface`, else
    /// that of its first service.
    pub fn dubbo_interface(backend: &Backend) -> Option<String> {
        backend.dubbo.as_ref()?;
        backend.settings.options.java_interface.clone().or_else(|| {
            let svc = backend.schema.service(backend.services.first()?)?;
            Some(mapping::java_interface(&backend.schema, svc))
        })
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

    /// Encodes one call for the backend. Nothing is sent yet: the caller may
    /// free the request body before [`Route::complete`] awaits the reply.
    pub fn prepare(&self, body: &[u8], bound: &[Bound<'_>]) -> Result<Prepared, ApiError> {
        let b = &self.backend;
        if let (Some(client), Some((interface, sig))) = (&b.dubbo, &self.dubbo) {
            let (id, req) = self.encode_dubbo(client, interface, sig, body, bound)?;
            return Ok(Prepared::Dubbo {
                id,
                req,
                typed: true,
            });
        }
        if let (Some(client), Some(interface)) = (&b.dubbo, &self.generic) {
            let (id, req) = self.encode_generic(client, interface, body)?;
            return Ok(Prepared::Dubbo {
                id,
                req,
                typed: false,
            });
        }
        let seqid = b.next_seqid();
        // Thrift is smaller than its JSON; the Vec grows if need be.
        let mut req = Vec::with_capacity(body.len() / 2 + 256);
        let mark = framing::begin_frame(b.transport, &mut req, seqid, &self.header_block);
        thrift::encode_call(
            b.protocol,
            &b.schema,
            &self.method,
            seqid,
            body,
            bound,
            &b.encode,
            &mut req,
        )
        .map_err(|e| self.error(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()))?;
        framing::finish_frame(b.transport, &mut req, mark);
        Ok(Prepared::Thrift { req, seqid })
    }

    /// Sends a prepared call and decodes the reply. On success `out` holds
    /// the JSON body; `meta` any status or headers the reply asks for.
    pub async fn complete(
        &self,
        prepared: Prepared,
        out: &mut Vec<u8>,
        meta: &mut ResponseMeta,
    ) -> Result<(), ApiError> {
        let b = &self.backend;
        let (req, seqid) = match prepared {
            Prepared::Thrift { req, seqid } => (req, seqid),
            Prepared::Dubbo { id, req, typed } => {
                let client = b.dubbo.as_ref().expect("a Dubbo call has a Dubbo client");
                let ty = if typed {
                    self.method.result_type.clone()
                } else {
                    None
                };
                return self.dubbo_exchange(client, id, req, ty.as_ref(), out).await;
            }
        };
        let Some(resp) = b
            .send(&req, self.method.oneway, |s, c, m| self.error(s, c, m))
            .await?
        else {
            out.extend_from_slice(b"null");
            meta.status = Some(StatusCode::ACCEPTED.as_u16());
            return Ok(());
        };
        // JSON text is larger than its Thrift (about 1.4x for typical
        // structs): room for that at once, so large replies do not double
        // their way up; rarer, denser JSON grows the buffer once more.
        out.reserve(resp.payload().len() * 3 / 2 + 64);
        let reply = thrift::decode_reply(
            b.protocol,
            &b.schema,
            &self.method,
            resp.payload(),
            seqid,
            &b.decode,
            out,
            meta,
        )
        .map_err(|e| {
            self.error(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                format!("bad reply from {}: {e}", resp.addr),
            )
        })?;
        match reply {
            Reply::Success => Ok(()),
            Reply::Exception { field, type_name } => {
                let detail: serde_json::Value =
                    serde_json::from_slice(out).unwrap_or(serde_json::Value::Null);
                let status = self.exception_status(&type_name, &detail);
                Err(self
                    .error(
                        status,
                        "backend_exception",
                        format!("{} raised {type_name}", self.method.name),
                    )
                    .with("exception", json!(type_name))
                    .with("field", json!(field))
                    .with("detail", detail))
            }
            Reply::App(app) => Err(self
                .error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "application_exception",
                    app.message,
                )
                .with("type", json!(app.kind))),
        }
    }

    /// A call to a Dubbo provider: the request JSON (body, then bound path,
    /// query, header and cookie values) as Hessian2 arguments of the Java
    /// method, the result back as JSON.
    fn encode_dubbo(
        &self,
        client: &DubboClient,
        interface: &str,
        sig: &JavaSignature,
        body: &[u8],
        bound: &[Bound<'_>],
    ) -> Result<(u64, Vec<u8>), ApiError> {
        let b = &self.backend;
        let schema = &b.schema;
        let bad = |m: String| self.error(StatusCode::BAD_REQUEST, "invalid_request", m);
        let mut obj = if body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Map::new()
        } else {
            match serde_json::from_slice(body) {
                Ok(serde_json::Value::Object(m)) => m,
                Ok(_) => return Err(bad("$: expected an object".into())),
                Err(e) => return Err(bad(format!("$: {e}"))),
            }
        };
        let args = schema.struct_def(self.method.args);
        let request_struct = match self.method.body_struct_arg {
            Some(i) => match args.fields[i].ty {
                Type::Struct(sid) => sid,
                _ => self.method.args,
            },
            None => self.method.args,
        };
        let fields = &schema.struct_def(request_struct).fields;
        for bv in bound {
            let Some(f) = fields.get(bv.field) else {
                continue;
            };
            let v = match &bv.value {
                BoundValue::Text(t) => serde_json::Value::String(t.to_string()),
                BoundValue::List(l) => l.iter().map(|t| json!(t)).collect(),
                BoundValue::Raw(r) => json!(String::from_utf8_lossy(r)),
                BoundValue::Missing => {
                    obj.remove(&f.json_name);
                    continue;
                }
            };
            obj.insert(f.json_name.clone(), v);
        }
        let opts = &b.settings.options;
        let inv = Invocation {
            interface,
            version: opts.dubbo_version.as_deref().unwrap_or(""),
            group: opts.dubbo_group.as_deref().unwrap_or(""),
            method: &sig.method,
            descriptor: &sig.descriptor,
            timeout_ms: Some(b.timeout.as_millis() as u64),
        };
        let id = client.next_id();
        let mut req = Vec::with_capacity(body.len() + 256);
        let (start, mut w) = codecs::dubbo::begin_request(&inv, &mut req);
        let whole = serde_json::Value::Object(obj);
        for (j, f) in args.fields.iter().enumerate() {
            let value = match self.method.body_struct_arg {
                Some(i) if i == j => &whole,
                Some(_) => &serde_json::Value::Null,
                None => whole
                    .get(&f.json_name)
                    .or_else(|| whole.get(&f.name))
                    .unwrap_or(&serde_json::Value::Null),
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

    /// A generic call: `$invoke(method, types, args)` with JSON arguments
    /// written as Hessian by their JSON shape (objects as maps, which Dubbo's
    /// `PojoUtils` turns into the declared POJOs).
    fn encode_generic(
        &self,
        client: &DubboClient,
        interface: &str,
        body: &[u8],
    ) -> Result<(u64, Vec<u8>), ApiError> {
        let b = &self.backend;
        let bad = |m: String| self.error(StatusCode::BAD_REQUEST, "invalid_request", m);
        let req: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("$: {e}")))?;
        let Some(method) = req.get("method").and_then(|m| m.as_str()) else {
            return Err(bad("$.method: a Java method name is required".into()));
        };
        let args: &[serde_json::Value] = match req.get("args") {
            None | Some(serde_json::Value::Null) => &[],
            Some(serde_json::Value::Array(a)) => a,
            Some(_) => return Err(bad("$.args: expected an array".into())),
        };
        let types: Option<Vec<String>> = match req.get("types") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Array(t)) => Some(
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
        let opts = &b.settings.options;
        let inv = Invocation {
            interface,
            version: opts.dubbo_version.as_deref().unwrap_or(""),
            group: opts.dubbo_group.as_deref().unwrap_or(""),
            method: "$invoke",
            descriptor: "Ljava/lang/String;[Ljava/lang/String;[Ljava/lang/Object;",
            timeout_ms: Some(b.timeout.as_millis() as u64),
        };
        let id = client.next_id();
        let mut frame = Vec::with_capacity(body.len() + 256);
        let (start, mut w) = codecs::dubbo::begin_request(&inv, &mut frame);
        w.write_string(method);
        match &types {
            Some(t) => {
                w.begin_list(Some("[string"), Some(t.len()));
                for ty in t {
                    w.write_string(ty);
                }
            }
            None => w.write_null(),
        }
        w.begin_list(Some("[object"), Some(args.len()));
        for (i, a) in args.iter().enumerate() {
            mapping::write_generic(&mut w, a, 0).map_err(|e| bad(format!("$.args[{i}]: {e}")))?;
        }
        codecs::dubbo::finish_request(&inv, id, start, w, &[("generic", "true")]);
        Ok((id, frame))
    }

    /// Sends a Dubbo request and writes the result as JSON (guided by `ty`).
    async fn dubbo_exchange(
        &self,
        client: &DubboClient,
        id: u64,
        req: Vec<u8>,
        ty: Option<&Type>,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        let b = &self.backend;
        let schema = &b.schema;
        let opts = &b.settings.options;
        let reply = b
            .within_timeout(client.call(id, req), |s, c, m| self.error(s, c, m))
            .await?;
        let resp =
            codecs::dubbo::decode_response(&reply.frame, Limits::default()).map_err(|e| {
                self.error(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    format!("bad reply from {}: {e}", reply.addr),
                )
            })?;
        let json_opts = DubboJsonOptions {
            i64_as_string: opts.i64_as_string,
            enum_as_name: opts.enum_as_name,
        };
        match resp.outcome {
            Outcome::Value(v) => {
                let j = mapping::to_json(&v, &resp.refs, schema, ty, None, &json_opts);
                serde_json::to_writer(&mut *out, &j).expect("JSON value");
                Ok(())
            }
            Outcome::Exception { class, message, .. } => Err(self
                .error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "backend_exception",
                    message.clone().unwrap_or_else(|| class.clone()),
                )
                .with("exception", json!(class))
                .with("exception_message", json!(message))),
            Outcome::Status { status, message } => {
                let (http, code) = dubbo_status_http(status);
                Err(self
                    .error(http, code, message)
                    .with("dubbo_status", json!(status))
                    .with(
                        "dubbo_status_name",
                        json!(codecs::dubbo::status::name(status)),
                    ))
            }
        }
    }

    /// A declared exception answers 500, unless a field of it is bound to `api.http_code`.
    fn exception_status(&self, type_name: &str, detail: &serde_json::Value) -> StatusCode {
        let schema = &self.backend.schema;
        schema
            .struct_by_name(type_name)
            .and_then(|sid| {
                schema
                    .struct_def(sid)
                    .fields
                    .iter()
                    .find(|f| f.binding == Binding::HttpCode)
            })
            .and_then(|f| detail.get(&f.json_name)?.as_u64())
            .and_then(|c| StatusCode::from_u16(c as u16).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}
