//! kitegate: an HTTP/JSON front door to RPC backends described by IDL files.
//!
//! A request goes: axum listener -> [`dispatch`] (route table lookup in
//! [`routes`]) -> the route of its backend's protocol module ([`protocol`]:
//! HTTP binding, `codecs` encode) -> the backend's client stack
//! ([`pipeline`]: timeout, failover, endpoint choice) over its connections
//! ([`transport`]) -> decode -> JSON response, with failures classified and
//! mapped in [`error`]. [`app`] builds the router for in-process tests;
//! [`run`] serves it.

// `ApiError` carries the whole JSON error; it is built on failure paths only.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod backend;
mod change;
pub mod cluster;
pub mod config;
mod console;
pub mod discovery;
mod dispatch;
pub mod edge;
pub mod error;
pub mod observe;
pub mod openapi;
pub mod pipeline;
pub mod protocol;
pub mod registry;
pub mod routes;
pub mod transport;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::backend::{Backend, BuildContext, Idl};
use crate::config::{BackendConfig, Config};
use crate::registry::{Entry, Limits, Registry, Source};
use crate::routes::RouteTable;

/// Shared state: the current route table (swapped whole), the registry
/// of backends it was built from, and limits.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    table: ArcSwap<RouteTable>,
    /// One change at a time; requests never take this lock.
    registry: tokio::sync::Mutex<Registry>,
    /// The registry's discovery notices (also reachable without its lock).
    changes: Arc<discovery::Changes>,
    /// Cluster mode: the store every registration is kept in.
    cluster: std::sync::OnceLock<Arc<cluster::Cluster>>,
    body_limit: usize,
    admin: AdminSettings,
    /// CORS at the front door, when the config has a `[cors]` section.
    cors: std::sync::OnceLock<tower_http::cors::CorsLayer>,
    /// Limits on each request (the defaults unless set).
    request_limits: std::sync::OnceLock<edge::limits::RequestLimits>,
}

/// Settings of the admin API.
#[derive(Debug, Clone, Default)]
pub struct AdminSettings {
    pub token: Option<String>,
    pub body_limit: usize,
    /// The front door's URL, for the `servers` of OpenAPI documents.
    pub front_url: Option<String>,
}

impl Gateway {
    pub fn new(body_limit: usize) -> Self {
        Gateway::with_registry(
            body_limit,
            Registry::new(
                None,
                Limits {
                    timeout_ms: 3000,
                    connect_timeout_ms: 1000,
                },
            ),
            AdminSettings {
                body_limit: 8 << 20,
                ..Default::default()
            },
        )
    }

    /// A gateway serving `registry`'s backends (their table must build).
    /// Discovered endpoint sets are followed when a tokio runtime is there.
    pub fn with_registry(body_limit: usize, registry: Registry, admin: AdminSettings) -> Self {
        let table = RouteTable::build(&registry.backends()).unwrap_or_else(|_| RouteTable::empty());
        let changes = registry.changes.clone();
        let gw = Gateway {
            inner: Arc::new(Inner {
                table: ArcSwap::from_pointee(table),
                registry: tokio::sync::Mutex::new(registry),
                changes: changes.clone(),
                cluster: Default::default(),
                body_limit,
                admin,
                cors: Default::default(),
                request_limits: Default::default(),
            }),
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(follow_discovery(Arc::downgrade(&gw.inner), changes));
        }
        gw
    }

    /// The source of discovered endpoints for backends registered at run
    /// time (started before the registry is locked).
    pub(crate) fn changes(&self) -> &Arc<discovery::Changes> {
        &self.inner.changes
    }

    /// Replaces the set of backends (as config-file backends): the new table
    /// is built first and swapped in atomically; on a conflict nothing changes.
    pub fn set_backends(&self, backends: Vec<Arc<Backend>>) -> Result<(), String> {
        let table = RouteTable::build(&backends)?;
        let mut reg = self
            .inner
            .registry
            .try_lock()
            .map_err(|_| "the registry is busy".to_string())?;
        reg.entries = backends
            .into_iter()
            .map(|backend| Entry {
                files: vec![backend.settings.idl.display().to_string()],
                backend,
                source: Source::Config,
                discovery: None,
                version: None,
            })
            .collect();
        self.inner.table.store(Arc::new(table));
        Ok(())
    }

    pub fn routes(&self) -> Vec<routes::RouteInfo> {
        self.inner.table.load().listing.clone()
    }
}

/// Rebuilds each backend whose discovered endpoints changed and swaps the
/// new route table in, until the gateway goes.
async fn follow_discovery(inner: std::sync::Weak<Inner>, changes: Arc<discovery::Changes>) {
    loop {
        let names = changes.next().await;
        let Some(inner) = inner.upgrade() else { return };
        let mut registry = inner.registry.lock().await;
        for name in names {
            match registry.rediscovered(&name) {
                Ok(Some((next, table))) => {
                    inner.table.store(Arc::new(table));
                    registry.entries = next;
                    tracing::info!(backend = %name, "backend rebuilt over its discovered endpoints");
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(backend = %name, error = %e, "cannot rebuild the backend over its discovered endpoints; it keeps the previous set")
                }
            }
        }
    }
}

/// The HTTP application: IDL routes plus `/healthz`, behind the edge
/// layers the gateway was given (CORS).
pub fn app(gw: Gateway) -> Router {
    let cors = gw.inner.cors.get().cloned();
    let router = Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }),
        )
        .fallback(dispatch::dispatch)
        .with_state(gw);
    let router = match cors {
        Some(layer) => router.layer(layer),
        None => router,
    };
    router.layer(TraceLayer::new_for_http())
}

impl Gateway {
    /// Sets the limits on each request (once, at start).
    pub fn set_request_limits(&self, limits: edge::limits::RequestLimits) {
        let _ = self.inner.request_limits.set(limits);
    }

    pub(crate) fn request_limits(&self) -> edge::limits::RequestLimits {
        self.inner.request_limits.get().copied().unwrap_or_default()
    }

    /// Answers CORS at the front door with these settings (once, at start).
    pub fn set_cors(&self, cfg: &edge::cors::CorsConfig) -> Result<(), String> {
        let layer = cfg.layer()?;
        let _ = self.inner.cors.set(layer);
        Ok(())
    }
}

/// Loads a config-file backend's IDL from disk and builds it; also returns
/// the IDL files read.
pub fn load_backend(
    cfg: &BackendConfig,
    top: &Config,
    endpoints: &crate::transport::EndpointCache,
    discovered: Option<&discovery::Discovery>,
) -> Result<(Arc<Backend>, Vec<String>), String> {
    // Backend names become file names in the state directory.
    registry::check_name(&cfg.name)?;
    discovery::check(cfg).map_err(|e| format!("backend `{}`: {e}", cfg.name))?;
    let mut cfg = cfg.clone();
    if let Some(d) = discovered {
        cfg.endpoints = d.endpoints();
    }
    let cfg = &cfg;
    let ctx = BuildContext {
        endpoints,
        timeout_ms: top.timeout_ms,
        connect_timeout_ms: top.connect_timeout_ms,
        previous: None,
    };
    let (backend, files) = Backend::load(cfg, &ctx)?;
    Ok((Arc::new(backend), files))
}

/// Starts the built-in hello backend in-process and returns its
/// registrations with their IDL file: `hello` over Thrift (no prefix) and
/// `hello-kitex-pb` over Kitex Protobuf under `/kitex-pb`, both on the same
/// port, `hello-grpc` over gRPC under `/grpc` and `hello-dubbo` over Dubbo
/// under `/dubbo`, each on its own port.
pub async fn start_builtin(
    cfg: &Config,
    endpoints: &crate::transport::EndpointCache,
) -> Result<Vec<(Arc<Backend>, &'static str)>, String> {
    let addr = examples::start_hello(&cfg.builtin_addr)
        .await
        .map_err(|e| {
            format!(
                "cannot start the built-in hello backend on {}: {e}",
                cfg.builtin_addr
            )
        })?;
    tracing::info!(%addr, transport = %cfg.builtin_transport, "built-in hello backend started");
    let grpc_addr = examples::start_hello_grpc("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot start the built-in gRPC hello backend: {e}"))?;
    let dubbo_addr = examples::start_hello_dubbo("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot start the built-in Dubbo hello backend: {e}"))?;
    let thrift = (
        examples::HELLO_THRIFT_NAME,
        Idl::Thrift(examples::hello_schema()),
    );
    let proto = (
        examples::HELLO_PROTO_NAME,
        Idl::Proto(examples::hello_proto()),
    );
    let builtins = protocol::builtin::builtins(&cfg.builtin_transport, addr, grpc_addr, dubbo_addr);
    let ctx = BuildContext {
        endpoints,
        timeout_ms: cfg.timeout_ms,
        connect_timeout_ms: cfg.connect_timeout_ms,
        previous: None,
    };
    let mut out = Vec::new();
    for b in builtins {
        let (file, idl) = if b.proto_idl { &proto } else { &thrift };
        let settings = BackendConfig {
            name: b.name.into(),
            protocol: b.protocol.into(),
            transport: b.transport.into(),
            endpoints: vec![b.addr.to_string().into()],
            idl: (*file).into(),
            include_dirs: Vec::new(),
            services: Vec::new(),
            prefix: b.prefix.into(),
            timeout_ms: None,
            connect_timeout_ms: None,
            options: Default::default(),
            ..Default::default()
        };
        out.push((
            Arc::new(Backend::build(&settings, idl.clone(), &ctx)?),
            *file,
        ));
    }
    Ok(out)
}

/// Checks where the admin API may listen: off loopback it needs a token.
fn admin_addr(cfg: &Config, token: &Option<String>) -> Result<Option<SocketAddr>, String> {
    if cfg.admin_listen == "off" {
        return Ok(None);
    }
    let addr: SocketAddr = cfg.admin_listen.parse().map_err(|e| {
        format!(
            "admin_listen `{}`: {e} (use IP:PORT or \"off\")",
            cfg.admin_listen
        )
    })?;
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(format!(
            "refusing to serve the admin API on {addr} without a token: set admin_token (or KITEGATE_ADMIN_TOKEN), or listen on 127.0.0.1"
        ));
    }
    Ok(Some(addr))
}

/// Runs the gateway until Ctrl-C or SIGTERM; in-flight requests finish first.
pub async fn run(cfg: Config) -> Result<(), String> {
    let token = cfg
        .admin_token
        .clone()
        .or_else(|| std::env::var("KITEGATE_ADMIN_TOKEN").ok())
        .filter(|t| !t.is_empty());
    let admin_addr = admin_addr(&cfg, &token)?;
    observe::trace::init(&cfg.tracing)?;
    if let Some(c) = &cfg.cors {
        let _ = c.layer()?;
        if let Some(b) = cfg.backends.iter().find(|b| b.cors.is_some()) {
            return Err(format!(
                "backend `{}` has [backends.cors] and the config has [cors]: use one or the other (both would answer)",
                b.name
            ));
        }
    }
    if !cfg.metrics {
        observe::metrics::disable();
    }
    let front_tls = cfg
        .tls
        .as_ref()
        .map(|t| edge::tls::Tls::load(t, "front door"))
        .transpose()?;
    let admin_tls = cfg
        .admin_tls
        .as_ref()
        .map(|t| edge::tls::Tls::load(t, "admin"))
        .transpose()?;
    edge::tls::watch(front_tls.iter().chain(&admin_tls).cloned().collect());
    let endpoints = crate::transport::EndpointCache::default();
    let changes = Arc::new(discovery::Changes::default());
    let mut entries = Vec::new();
    if cfg.builtin_hello {
        for (backend, file) in start_builtin(&cfg, &endpoints).await? {
            entries.push(Entry {
                backend,
                source: Source::Builtin,
                files: vec![file.into()],
                discovery: None,
                version: None,
            });
        }
    }
    for b in &cfg.backends {
        let discovery = match &b.discovery {
            Some(_) => Some(
                discovery::Discovery::start_and_wait(b, &changes, discovery::FIRST_ANSWER)
                    .await
                    .map_err(|e| format!("backend `{}`: {e}", b.name))?,
            ),
            None => None,
        };
        let (backend, files) = load_backend(b, &cfg, &endpoints, discovery.as_deref())?;
        if let Some(d) = &discovery {
            let v = d.view();
            if v.endpoints.is_none() {
                tracing::warn!(backend = %b.name, error = v.error.as_deref().unwrap_or("no answer yet"), "serving with no endpoints until its registry answers");
            }
        }
        entries.push(Entry {
            backend,
            source: Source::Config,
            files,
            discovery,
            version: None,
        });
    }
    RouteTable::build(
        &entries
            .iter()
            .map(|e| e.backend.clone())
            .collect::<Vec<_>>(),
    )?;
    let store: Option<cluster::StoreUrl> = cfg.store.as_deref().map(str::parse).transpose()?;
    // In cluster mode the store replaces the state directory.
    let mut registry = Registry {
        entries,
        endpoints,
        changes,
        ..Registry::new(
            store.is_none().then(|| cfg.state_dir.clone()),
            Limits {
                timeout_ms: cfg.timeout_ms,
                connect_timeout_ms: cfg.connect_timeout_ms,
            },
        )
    };
    registry.restore();

    let listener = TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if front_tls.is_some() { "https" } else { "http" };
    let front = if addr.ip().is_unspecified() {
        format!("{scheme}://127.0.0.1:{}", addr.port())
    } else {
        format!("{scheme}://{addr}")
    };
    let gw = Gateway::with_registry(
        cfg.body_limit,
        registry,
        AdminSettings {
            token,
            body_limit: cfg.admin_body_limit,
            front_url: Some(front),
        },
    );
    if let Some(c) = &cfg.cors {
        gw.set_cors(c)?;
    }
    let head = edge::limits::HeadLimits {
        max_bytes: cfg.max_header_bytes,
        max_headers: cfg.max_headers,
    };
    gw.set_request_limits(edge::limits::RequestLimits {
        head,
        body_read_timeout: Duration::from_millis(cfg.body_read_timeout_ms),
    });
    if let Some(url) = store {
        cluster::start(&gw, url, cluster::gateway_id(&cfg.admin_listen)).await?;
    }
    for r in gw.routes() {
        tracing::info!(method = %r.http_method, path = %r.path, backend = %r.backend, target = %format!("{}.{}", r.service, r.method), "route");
    }
    if let Some(admin_addr) = admin_addr {
        let admin = TcpListener::bind(admin_addr)
            .await
            .map_err(|e| format!("cannot listen on {admin_addr} (admin): {e}"))?;
        tracing::info!(addr = %admin_addr, tls = admin_tls.is_some(), "admin API listening");
        let settings = edge::serve::ServeSettings {
            tls: admin_tls,
            ..Default::default()
        };
        tokio::spawn(edge::serve::serve(
            admin,
            admin::admin_app(gw.clone()),
            settings,
            std::future::pending(),
        ));
    }
    tracing::info!(%addr, tls = front_tls.is_some(), "kitegate listening");
    let settings = edge::serve::ServeSettings {
        head,
        header_read_timeout: Duration::from_millis(cfg.header_read_timeout_ms),
        idle_timeout: Duration::from_millis(cfg.idle_timeout_ms),
        max_connections: cfg.max_connections,
        max_connections_per_ip: cfg.max_connections_per_ip,
        tls: front_tls,
    };
    edge::serve::serve(listener, app(gw), settings, shutdown()).await;
    let _ = tokio::task::spawn_blocking(observe::trace::shutdown).await;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.ok();
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Config-file names become state-directory file names too: a path-like
    /// one is refused before anything is built (or later deleted).
    #[test]
    fn config_file_backend_names_are_checked() {
        let cfg = Config::default();
        let endpoints = crate::transport::EndpointCache::default();
        for bad in ["../outside", "a/b", ".hidden", ""] {
            let b = BackendConfig {
                name: bad.into(),
                protocol: "thrift".into(),
                transport: "framed".into(),
                endpoints: vec!["127.0.0.1:1".into()],
                idl: "does-not-matter.thrift".into(),
                ..Default::default()
            };
            let err = load_backend(&b, &cfg, &endpoints, None)
                .err()
                .expect("refused");
            assert!(err.contains("invalid backend name"), "{bad}: {err}");
        }
    }
}
