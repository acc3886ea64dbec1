//! kitegate: an HTTP/JSON front door to RPC backends described by IDL files.
//!
//! A request goes: axum listener -> [`dispatch`] (route table lookup,
//! HTTP bindings) -> [`backend::MethodRoute::call`] (codecs encode, pooled
//! transport, decode) -> JSON response, with failures mapped in [`error`].
//! [`app`] builds the router for in-process tests; [`run`] serves it.

pub mod backend;
pub mod config;
mod dispatch;
pub mod error;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::backend::Backend;
use crate::config::{BackendConfig, Config};
use crate::routes::RouteTable;

/// Shared state: the current route table (swapped whole) and limits.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    table: ArcSwap<RouteTable>,
    backends: std::sync::Mutex<Vec<Arc<Backend>>>,
    body_limit: usize,
}

impl Gateway {
    pub fn new(body_limit: usize) -> Self {
        Gateway {
            inner: Arc::new(Inner {
                table: ArcSwap::from_pointee(RouteTable::empty()),
                backends: std::sync::Mutex::new(Vec::new()),
                body_limit,
            }),
        }
    }

    /// Replaces the set of backends: the new table is built first and swapped
    /// in atomically; on a conflict nothing changes.
    pub fn set_backends(&self, backends: Vec<Arc<Backend>>) -> Result<(), String> {
        let table = RouteTable::build(&backends)?;
        let mut current = self.inner.backends.lock().expect("backends lock");
        self.inner.table.store(Arc::new(table));
        *current = backends;
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
pub fn load_backend(cfg: &BackendConfig, top: &Config) -> Result<Arc<Backend>, String> {
    let schema = idl::thrift::load_path(&cfg.idl, &cfg.include_dirs)
        .map_err(|e| format!("backend `{}`: {e}", cfg.name))?;
    Ok(Arc::new(Backend::new(
        cfg,
        Arc::new(schema),
        top.timeout_ms,
        top.connect_timeout_ms,
    )?))
}

/// Starts the built-in hello backend in-process and returns its registration.
pub async fn start_builtin(cfg: &Config) -> Result<Arc<Backend>, String> {
    let addr = examples::start_hello(&cfg.builtin_addr)
        .await
        .map_err(|e| {
            format!(
                "cannot start the built-in hello backend on {}: {e}",
                cfg.builtin_addr
            )
        })?;
    tracing::info!(%addr, transport = %cfg.builtin_transport, "built-in hello backend started");
    let bc = BackendConfig {
        name: "hello".into(),
        protocol: "thrift".into(),
        transport: cfg.builtin_transport.clone(),
        endpoints: vec![addr.to_string()],
        idl: examples::HELLO_THRIFT_NAME.into(),
        include_dirs: Vec::new(),
        services: Vec::new(),
        prefix: String::new(),
        timeout_ms: None,
        connect_timeout_ms: None,
        options: Default::default(),
    };
    Ok(Arc::new(Backend::new(
        &bc,
        examples::hello_schema(),
        cfg.timeout_ms,
        cfg.connect_timeout_ms,
    )?))
}

/// Runs the gateway until Ctrl-C or SIGTERM; in-flight requests finish first.
pub async fn run(cfg: Config) -> Result<(), String> {
    let mut backends = Vec::new();
    if cfg.builtin_hello {
        backends.push(start_builtin(&cfg).await?);
    }
    for b in &cfg.backends {
        backends.push(load_backend(b, &cfg)?);
    }
    let gw = Gateway::new(cfg.body_limit);
    gw.set_backends(backends)?;
    for r in gw.routes() {
        tracing::info!(method = %r.http_method, path = %r.path, backend = %r.backend, target = %format!("{}.{}", r.service, r.method), "route");
    }
    let listener = TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, "kitegate listening");
    axum::serve(listener, app(gw))
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| e.to_string())
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
