//! Configuration: a TOML file, overridden by command-line flags.
//!
//! ```toml
//! listen = "0.0.0.0:8888"       # HTTP front door
//! body_limit = 4194304          # bytes
//! max_header_bytes = 32768       # request line and headers (431 past it)
//! max_headers = 100
//! header_read_timeout_ms = 30000 # to send a request head (idle HTTP/1.1 keep-alive too) or finish TLS
//! body_read_timeout_ms = 30000  # the longest pause in a request body (408 past it); 0: none
//! idle_timeout_ms = 60000       # a connection moving no byte is closed; 0: never
//! max_connections = 10000       # open at once (503 past it)
//! max_connections_per_ip = 0    # open at once per client IP (429 past it); 0: no limit
//! timeout_ms = 3000             # default backend timeout
//! builtin_hello = true          # start and register the built-in hello backend
//! builtin_transport = "ttheader"
//!
//! admin_listen = "127.0.0.1:9888"   # admin API; "off" disables it
//! admin_token = "secret"          # or KITEGATE_ADMIN_TOKEN; required off loopback
//! state_dir = "kitegate-state"    # registrations made at run time, relative to this file
//! # store = "etcd://127.0.0.1:2379,127.0.0.1:22379/kitegate" # cluster mode (`crate::cluster`):
//! #   registrations shared by every gateway on this etcd prefix, instead of state_dir
//! access_log = "access.log"       # one JSON line per request (else with --log-json, in the log)
//! metrics = true                  # Prometheus metrics at GET /metrics on the admin listener
//!
//! [tls]                           # TLS on `listen` (ALPN h2, http/1.1), `crate::edge::tls`
//! cert = "certs/gw.pem"
//! key = "certs/gw.key"
//! # client_ca = "certs/ca.pem"   # require client certificates it signed
//! # [admin_tls]                   # the same for the admin listener (mTLS with client_ca)
//!
//! [tracing]                       # OpenTelemetry traces, off without an endpoint
//! otlp_endpoint = "http://127.0.0.1:4317" # an OTLP/gRPC collector
//! sample_ratio = 1.0              # share of new traces recorded
//! service_name = "kitegate"
//!
//! [[backends]]
//! name = "rich"
//! protocol = "thrift"           # thrift (binary) | thrift-compact | dubbo
//!                               # (.proto files: kitex-protobuf | grpc)
//! transport = "framed"          # buffered | framed | ttheader | ttheader-framed
//!                               # (grpc: http2; dubbo: dubbo)
//! endpoints = ["127.0.0.1:9090"] # or { addr = "…", weight = 3 }
//! # discovery = { kind = "etcd", endpoints = ["127.0.0.1:2379"], service = "rich" }
//! #   instead of endpoints: etcd | zookeeper | zookeeper-kitex | dns (`crate::discovery`)
//! idl = "idl/rich.thrift"       # relative to this file
//! include_dirs = ["idl/common"]
//! services = ["RichService"]    # default: every service of the main file
//! prefix = "/rich"
//! timeout_ms = 1000
//! # tls = { ca = "certs/ca.pem", server_name = "rich.internal" } # TLS to the endpoints
//! #   (`crate::transport::tls`; with cert and key, a client certificate too)
//! # [backends.cors] …           # CORS of its routes alone (`crate::edge::cors`)
//! # [backends.auth] …           # API keys, JWTs, forwarded claims (`crate::edge::auth`)
//! [backends.options]
//! enum_as_name = false          # write enums by name
//! i64_as_string = false         # write i64 as strings (JavaScript clients)
//! reject_unknown_fields = false # 400 on JSON keys the IDL does not know
//! max_frame = 16384000          # largest reply frame (Thrift, Kitex Protobuf), message (gRPC) or body (Dubbo)
//! max_json_depth = 64           # JSON request bodies: nesting, longest string (bytes), most
//! max_json_string = 65536       #   elements per array or object; past any, 400 (default: none
//! max_json_items = 10000        #   but the body limit for strings and elements)
//! ignore_unknown_enum_values = false # protobuf: drop unknown enum names (else 400)
//! forward_headers = ["x-tenant"] # gRPC: more request headers sent as metadata
//! omit_response_metadata = false # gRPC: no grpc-metadata-*/grpc-trailer-* headers
//! accept_gzip = false           # gRPC: let the server gzip its replies
//! max_inflate_ratio = 100       # gRPC: a gzip reply inflates at most this many times (gzip bombs)
//! max_stream_messages = 10000   # gRPC: most messages each way in one stream
//! java_interface = "com.x.Api"  # Dubbo: the Java interface (default from the IDL)
//! dubbo_version = "1.0.0"       # Dubbo: service version
//! dubbo_group = "blue"          # Dubbo: service group
//! max_reply_json = 33554432     # Dubbo: most JSON one reply may expand to (Hessian references)
//! ```
//!
//! Traffic sections (`[backends.balance]`, `retry`, `breaker`, `outlier`,
//! `limit`, `health`, `methods.NAME`) are described in
//! [`crate::pipeline::settings`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::discovery::DiscoveryConfig;
pub use crate::observe::trace::TracingConfig;
pub use crate::pipeline::settings::Endpoint;
use crate::pipeline::settings::{
    BalanceConfig, BreakerConfig, HealthConfig, LimitConfig, MethodConfig, OutlierConfig,
    RetryConfig, is_default,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default = "default_body_limit")]
    pub body_limit: usize,
    /// The largest request head (request line and headers, bytes) and the
    /// most headers a request may have; past either the answer is 431
    /// with the JSON error shape.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    #[serde(default = "default_max_headers")]
    pub max_headers: usize,
    /// The time to send a request head (also how long an idle HTTP/1.1
    /// keep-alive connection stays) and to finish a TLS handshake.
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// The longest pause while a request body arrives; past it, 408.
    #[serde(default = "default_body_read_timeout_ms")]
    pub body_read_timeout_ms: u64,
    /// A connection that moves no byte for this long is closed (0: never).
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Connections open at once on the front door; past it, 503.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections open at once from one client IP; past it, 429 (0: no limit).
    #[serde(default)]
    pub max_connections_per_ip: usize,
    /// TLS on `listen`.
    #[serde(default)]
    pub tls: Option<crate::edge::tls::TlsConfig>,
    /// TLS on `admin_listen` (with `client_ca`, client certificates are required).
    #[serde(default)]
    pub admin_tls: Option<crate::edge::tls::TlsConfig>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "yes")]
    pub builtin_hello: bool,
    #[serde(default = "default_builtin_transport")]
    pub builtin_transport: String,
    /// Where the built-in backend listens (loopback, a free port by default).
    #[serde(default = "default_builtin_addr")]
    pub builtin_addr: String,
    /// Admin API listener; `"off"` disables it.
    #[serde(default = "default_admin_listen")]
    pub admin_listen: String,
    /// Bearer token for the admin API (also `KITEGATE_ADMIN_TOKEN`); required off loopback.
    #[serde(default)]
    pub admin_token: Option<String>,
    /// Largest admin upload (bytes); larger ones get 413.
    #[serde(default = "default_admin_body_limit")]
    pub admin_body_limit: usize,
    /// Where registrations made through the admin API are kept across restarts.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Cluster mode: `etcd://HOST:PORT[,HOST:PORT…][/PREFIX]`, in place of `state_dir`.
    #[serde(default)]
    pub store: Option<String>,
    /// A file the access log is appended to (JSON lines), relative to this
    /// file; without it, `--log-json` writes access lines with the log.
    #[serde(default)]
    pub access_log: Option<PathBuf>,
    /// Prometheus metrics (`GET /metrics` on the admin listener); with
    /// `false` none are recorded and that path answers 404.
    #[serde(default = "yes")]
    pub metrics: bool,
    /// OpenTelemetry traces (off without an `otlp_endpoint`).
    #[serde(default)]
    pub tracing: TracingConfig,
    /// CORS at the front door (`crate::edge::cors`); none without the section.
    #[serde(default)]
    pub cors: Option<crate::edge::cors::CorsConfig>,
    #[serde(default)]
    pub backends: Vec<BackendConfig>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    pub name: String,
    #[serde(default = "default_protocol")]
    pub protocol: String,
    #[serde(default = "default_transport")]
    pub transport: String,
    /// Fixed endpoints; with `discovery`, left out.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Where the endpoints come from instead (`crate::discovery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryConfig>,
    /// The IDL file; may be left out only by a Dubbo backend with
    /// `options.java_interface`, which then offers generic calls alone.
    #[serde(default, skip_serializing_if = "is_empty_path")]
    pub idl: PathBuf,
    #[serde(default)]
    pub include_dirs: Vec<PathBuf>,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub prefix: String,
    pub timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    #[serde(default)]
    pub options: BackendOptions,
    // Traffic management (`pipeline::settings`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub balance: BalanceConfig,
    #[serde(default, skip_serializing_if = "is_default")]
    pub retry: RetryConfig,
    /// Present: per-endpoint and per-backend breakers are on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<BreakerConfig>,
    /// Present: passive ejection of failing endpoints is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier: Option<OutlierConfig>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub limit: LimitConfig,
    #[serde(default, skip_serializing_if = "is_default")]
    pub health: HealthConfig,
    /// CORS of its routes (`crate::edge::cors`), the `[cors]` keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<crate::edge::cors::CorsConfig>,
    /// TLS to its endpoints (`crate::transport::tls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::transport::tls::BackendTls>,
    /// Request headers bound to request fields of methods described by a
    /// `.proto` file: header name -> field path (`"x-user-id" = "user.id"`), set in every
    /// method whose request message has that field; the header wins over
    /// the body, path variables over the header.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub bind: std::collections::BTreeMap<String, String>,
    /// Edge authentication of the backend's routes (`crate::edge::auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<crate::edge::auth::AuthConfig>,
    /// Per-method overrides, by method name (`echo`, or `Service.echo`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub methods: BTreeMap<String, MethodConfig>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackendOptions {
    #[serde(default)]
    pub enum_as_name: bool,
    #[serde(default)]
    pub i64_as_string: bool,
    #[serde(default)]
    pub reject_unknown_fields: bool,
    /// Protobuf: drop enum names the enum does not declare instead of
    /// answering 400 (protojson's `DiscardUnknown` does both).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_unknown_enum_values: bool,
    /// Largest reply frame accepted from the backend (bytes).
    pub max_frame: Option<usize>,
    /// JSON request bodies: deepest nesting (default 64), longest string
    /// (bytes) and most elements in one array or object (default: the
    /// body limit alone); past any, 400 naming the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_json_depth: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_json_string: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_json_items: Option<usize>,
    /// Dubbo: the most JSON one reply may become (Hessian references let a
    /// small reply stand for a large tree); default 4 × `max_frame`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_reply_json: Option<usize>,
    /// gRPC: most messages each way in one stream (past it the stream
    /// ends with an error item, or 413 before the first reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stream_messages: Option<usize>,
    /// gRPC: a gzip reply message may inflate to at most this many times
    /// its compressed size (and never past `max_frame`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_inflate_ratio: Option<usize>,
    /// `.proto` IDL: query keys may index maps and lists of the request
    /// (`labels[env]=prod`, `items[0].id=1`, `filter.tags[1]=x`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub query_brackets: bool,
    /// Protobuf: write fields holding their default value.
    #[serde(default)]
    pub emit_defaults: bool,
    /// Protobuf: key fields by their .proto names instead of lowerCamelCase.
    #[serde(default)]
    pub proto_field_names: bool,
    /// gRPC: request headers sent on as metadata, besides `authorization`
    /// and `grpc-metadata-*` (sent without that prefix), which always are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward_headers: Vec<String>,
    /// gRPC: do not return response metadata as `grpc-metadata-*` and
    /// `grpc-trailer-*` HTTP headers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub omit_response_metadata: bool,
    /// gRPC: advertise gzip (`grpc-accept-encoding`) so the server may
    /// compress replies; they are inflated whether or not this is set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accept_gzip: bool,
    /// Dubbo: the Java interface (default: the service's `JavaClassName`
    /// annotation, else `namespace java` + the service name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub java_interface: Option<String>,
    /// Dubbo: the service version (attachment and body `version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dubbo_version: Option<String>,
    /// Dubbo: the service group (attachment `group`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dubbo_group: Option<String>,
}

impl BackendOptions {
    /// The bounds its JSON request bodies are held to.
    pub fn json_limits(&self) -> codecs::JsonLimits {
        let d = codecs::JsonLimits::default();
        codecs::JsonLimits {
            max_depth: self.max_json_depth.unwrap_or(d.max_depth),
            max_string: self.max_json_string.unwrap_or(d.max_string),
            max_items: self.max_json_items.unwrap_or(d.max_items),
        }
    }
}

fn is_empty_path(p: &Path) -> bool {
    p.as_os_str().is_empty()
}

fn default_listen() -> String {
    "0.0.0.0:8888".into()
}
fn default_body_limit() -> usize {
    4 * 1024 * 1024
}
fn default_max_header_bytes() -> usize {
    32 * 1024
}
fn default_max_headers() -> usize {
    100
}
fn default_header_read_timeout_ms() -> u64 {
    30_000
}
fn default_body_read_timeout_ms() -> u64 {
    30_000
}
fn default_idle_timeout_ms() -> u64 {
    60_000
}
fn default_max_connections() -> usize {
    10_000
}
fn default_timeout_ms() -> u64 {
    3000
}
/// Kitex's default: a loopback or LAN peer connects well within it, and a
/// dead one is left for the next endpoint quickly.
fn default_connect_timeout_ms() -> u64 {
    50
}
fn yes() -> bool {
    true
}
fn default_builtin_transport() -> String {
    crate::protocol::builtin::DEFAULT_BUILTIN_TRANSPORT.into()
}
fn default_builtin_addr() -> String {
    "127.0.0.1:0".into()
}
fn default_admin_listen() -> String {
    "127.0.0.1:9888".into()
}
fn default_admin_body_limit() -> usize {
    8 * 1024 * 1024
}
fn default_state_dir() -> PathBuf {
    "kitegate-state".into()
}
fn default_protocol() -> String {
    crate::protocol::builtin::DEFAULT_PROTOCOL.into()
}
fn default_transport() -> String {
    crate::protocol::builtin::DEFAULT_TRANSPORT.into()
}

impl Default for Config {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

impl Config {
    /// Reads a config file; relative IDL paths resolve against its directory.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut cfg: Config =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        if cfg.state_dir.is_relative() {
            cfg.state_dir = base.join(&cfg.state_dir);
        }
        for t in [&mut cfg.tls, &mut cfg.admin_tls].into_iter().flatten() {
            t.relative_to(base);
        }
        if let Some(a) = &mut cfg.access_log
            && a.is_relative()
        {
            *a = base.join(&*a);
        }
        for b in &mut cfg.backends {
            if b.idl.is_relative() && !b.idl.as_os_str().is_empty() {
                b.idl = base.join(&b.idl);
            }
            if let Some(t) = &mut b.tls {
                t.relative_to(base);
            }
            for d in &mut b.include_dirs {
                if d.is_relative() {
                    *d = base.join(&*d);
                }
            }
        }
        Ok(cfg)
    }
}
