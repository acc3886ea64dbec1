//! kitegate: an HTTP/JSON front door to RPC backends described by IDL files.
//!
//! A request goes: axum listener -> [`dispatch`] (route table lookup,
//! HTTP bindings) -> [`backend::MethodRoute::call`] (codecs encode, pooled
//! transport, decode) -> JSON response, with failures mapped in [`error`].
//! [`app`] builds the router for in-process tests; [`run`] serves it.

// `ApiError` carries the whole JSON error; it is built on failure paths only.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod backend;
pub mod config;
mod dispatch;
pub mod error;
pub mod openapi;
pub mod protobuf;
pub mod registry;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use codecs::transport::Pools;

use crate::backend::{Backend, Idl};
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
    body_limit: usize,
    admin: AdminSettings,
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
            Registry {
                entries: Vec::new(),
                state_dir: None,
                limits: Limits {
                    timeout_ms: 3000,
                    connect_timeout_ms: 1000,
                },
                pools: Default::default(),
            },
            AdminSettings {
                body_limit: 8 << 20,
                ..Default::default()
            },
        )
    }

    /// A gateway serving `registry`'s backends (their table must build).
    pub fn with_registry(body_limit: usize, registry: Registry, admin: AdminSettings) -> Self {
        let table = RouteTable::build(&registry.backends()).unwrap_or_else(|_| RouteTable::empty());
        Gateway {
            inner: Arc::new(Inner {
                table: ArcSwap::from_pointee(table),
                registry: tokio::sync::Mutex::new(registry),
                body_limit,
                admin,
            }),
        }
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
            })
            .collect();
        self.inner.table.store(Arc::new(table));
        Ok(())
    }

    pub fn routes(&self) -> Vec<routes::RouteInfo> {
        self.inner.table.load().listing.clone()
    }
}

/// The HTTP application: IDL routes plus `/healthz`.
pub fn app(gw: Gateway) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }),
        )
        .fallback(dispatch::dispatch)
        .with_state(gw)
        .layer(TraceLayer::new_for_http())
}

/// Loads a backend's IDL from disk and builds it.
pub fn load_backend(
    cfg: &BackendConfig,
    top: &Config,
    pools: &Pools,
) -> Result<Arc<Backend>, String> {
    let err = |e: idl::IdlErrors| format!("backend `{}`: {e}", cfg.name);
    let idl = if cfg.idl.as_os_str().is_empty() {
        // A generic-only Dubbo backend (checked by `Backend::build`).
        Idl::Thrift(Arc::new(idl::Schema::default()))
    } else if backend::is_proto_protocol(&cfg.protocol) {
        Idl::Proto(Arc::new(
            idl::proto::load_path(&cfg.idl, &cfg.include_dirs).map_err(err)?,
        ))
    } else {
        Idl::Thrift(Arc::new(
            idl::thrift::load_path(&cfg.idl, &cfg.include_dirs).map_err(err)?,
        ))
    };
    Ok(Arc::new(Backend::build(
        cfg,
        idl,
        top.timeout_ms,
        top.connect_timeout_ms,
        pools,
    )?))
}

/// Starts the built-in hello backend in-process and returns its
/// registrations: `hello` over Thrift (no prefix) and `hello-kitex-pb` over
/// Kitex Protobuf under `/kitex-pb`, both on the same port, and `hello-grpc`
/// over gRPC under `/grpc` on a second port.
pub async fn start_builtin(cfg: &Config, pools: &Pools) -> Result<Vec<Arc<Backend>>, String> {
    let addr = examples::start_hello(&cfg.builtin_addr)
        .await
        .map_err(|e| {
            format!(
                "cannot start the built-in hello backend on {}: {e}",
                cfg.builtin_addr
            )
        })?;
    tracing::info!(%addr, transport = %cfg.builtin_transport, "built-in hello backend started");
    let settings =
        |name: &str, protocol: &str, transport: &str, idl: &str, prefix: &str| BackendConfig {
            name: name.into(),
            protocol: protocol.into(),
            transport: transport.into(),
            endpoints: vec![addr.to_string()],
            idl: idl.into(),
            include_dirs: Vec::new(),
            services: Vec::new(),
            prefix: prefix.into(),
            timeout_ms: None,
            connect_timeout_ms: None,
            options: Default::default(),
        };
    let grpc_addr = examples::start_hello_grpc("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot start the built-in gRPC hello backend: {e}"))?;
    let mut grpc = settings(
        "hello-grpc",
        backend::GRPC,
        "framed",
        examples::HELLO_PROTO_NAME,
        "/grpc",
    );
    grpc.endpoints = vec![grpc_addr.to_string()];
    let dubbo_addr = examples::start_hello_dubbo("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot start the built-in Dubbo hello backend: {e}"))?;
    let mut dubbo = settings(
        "hello-dubbo",
        backend::DUBBO,
        "framed",
        examples::HELLO_THRIFT_NAME,
        "/dubbo",
    );
    dubbo.endpoints = vec![dubbo_addr.to_string()];
    let thrift = settings(
        "hello",
        "thrift",
        &cfg.builtin_transport,
        examples::HELLO_THRIFT_NAME,
        "",
    );
    // Kitex Protobuf has no buffered form: framed unless TTHeader was asked for.
    let pb_transport = if cfg.builtin_transport.starts_with("ttheader") {
        "ttheader"
    } else {
        "framed"
    };
    let pb = settings(
        "hello-kitex-pb",
        backend::KITEX_PROTOBUF,
        pb_transport,
        examples::HELLO_PROTO_NAME,
        "/kitex-pb",
    );
    Ok(vec![
        Arc::new(Backend::build(
            &thrift,
            Idl::Thrift(examples::hello_schema()),
            cfg.timeout_ms,
            cfg.connect_timeout_ms,
            pools,
        )?),
        Arc::new(Backend::build(
            &pb,
            Idl::Proto(examples::hello_proto()),
            cfg.timeout_ms,
            cfg.connect_timeout_ms,
            pools,
        )?),
        Arc::new(Backend::build(
            &grpc,
            Idl::Proto(examples::hello_proto()),
            cfg.timeout_ms,
            cfg.connect_timeout_ms,
            pools,
        )?),
        Arc::new(Backend::build(
            &dubbo,
            Idl::Thrift(examples::hello_schema()),
            cfg.timeout_ms,
            cfg.connect_timeout_ms,
            pools,
        )?),
    ])
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
    let pools = Pools::default();
    let mut entries = Vec::new();
    if cfg.builtin_hello {
        for backend in start_builtin(&cfg, &pools).await? {
            let file = if backend.proto.is_some() {
                examples::HELLO_PROTO_NAME
            } else {
                examples::HELLO_THRIFT_NAME
            };
            entries.push(Entry {
                backend,
                source: Source::Builtin,
                files: vec![file.into()],
            });
        }
    }
    for b in &cfg.backends {
        let backend = load_backend(b, &cfg, &pools)?;
        let mut files = vec![b.idl.display().to_string()];
        files.extend(backend.schema.files.iter().skip(1).cloned());
        entries.push(Entry {
            backend,
            source: Source::Config,
            files,
        });
    }
    RouteTable::build(
        &entries
            .iter()
            .map(|e| e.backend.clone())
            .collect::<Vec<_>>(),
    )?;
    let mut registry = Registry {
        entries,
        state_dir: Some(cfg.state_dir.clone()),
        limits: Limits {
            timeout_ms: cfg.timeout_ms,
            connect_timeout_ms: cfg.connect_timeout_ms,
        },
        pools,
    };
    registry.restore();

    let listener = TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let front = if addr.ip().is_unspecified() {
        format!("http://127.0.0.1:{}", addr.port())
    } else {
        format!("http://{addr}")
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
    for r in gw.routes() {
        tracing::info!(method = %r.http_method, path = %r.path, backend = %r.backend, target = %format!("{}.{}", r.service, r.method), "route");
    }
    if let Some(admin_addr) = admin_addr {
        let admin = TcpListener::bind(admin_addr)
            .await
            .map_err(|e| format!("cannot listen on {admin_addr} (admin): {e}"))?;
        tracing::info!(addr = %admin_addr, "admin API listening");
        let app = admin::admin_app(gw.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(admin, app).await {
                tracing::error!(error = %e, "admin API stopped");
            }
        });
    }
    tracing::info!(%addr, "kitegate listening");
    serve_http1(listener, app(gw), shutdown()).await;
    Ok(())
}

/// Largest read buffer of one HTTP/1.1 connection, and so the largest
/// request head (431 past it; nginx's default total is the same). hyper's
/// default (about 400 KB) lets every connection that once received a large
/// body keep a buffer of that size; bodies larger than this arrive in
/// several reads.
const HTTP_READ_BUFFER_MAX: usize = 32 * 1024;

/// Serves HTTP/1.1 on `listener` until `stop` resolves, then lets the
/// requests in flight finish, for at most [`DRAIN_TIMEOUT`] (idle keep-alive
/// connections close at once).
async fn serve_http1(
    listener: TcpListener,
    app: axum::Router,
    stop: impl std::future::Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(HTTP_READ_BUFFER_MAX)
        .max_header_size(HTTP_READ_BUFFER_MAX)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(30));
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        stream.set_nodelay(true).ok();
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // Long streams (SSE, NDJSON) get a bounded drain, not an endless one.
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open after {} s; closing them",
            DRAIN_TIMEOUT.as_secs()
        );
    }
}

/// How long a graceful stop waits for requests in flight.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
