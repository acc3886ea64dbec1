//! The admin API, on its own listener: register, replace, list and remove
//! backends at run time, list routes, and serve OpenAPI documents.
//!
//! | request | answer |
//! |---|---|
//! | `PUT /admin/backends/{name}` | 201 created / 200 replaced; body: JSON `Registration` (files inline) or `multipart/form-data` (a `settings` JSON part plus one part per IDL file, named by its filename) |
//! | `GET /admin/backends` | every backend |
//! | `GET /admin/backends/{name}` | one backend, with endpoint health, the pipeline's endpoint state and its traffic settings |
//! | `DELETE /admin/backends/{name}` | 200 `{"deleted": name}` |
//! | `GET /admin/routes` | every route with its backend and method |
//! | `GET /admin/openapi.json`, `GET /admin/backends/{name}/openapi.json` | OpenAPI 3.1 |
//! | `GET /metrics` | Prometheus metrics: the text format, or OpenMetrics when `Accept` asks for `application/openmetrics-text` |
//!
//! With a token configured every request needs `Authorization: Bearer <token>`.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::Gateway;
use crate::discovery::{self, Discovery};
use crate::error::{ApiError, Failure, read_body};
use crate::observe::metrics;
use crate::registry::{Entry, Registration};

pub fn admin_app(gw: Gateway) -> Router {
    Router::new()
        .route("/admin/backends", get(list))
        .route("/admin/backends/{name}", get(show).put(put).delete(remove))
        .route("/admin/backends/{name}/openapi.json", get(openapi_one))
        .route("/admin/routes", get(routes))
        .route("/admin/openapi.json", get(openapi_all))
        .route("/metrics", get(metrics))
        .fallback(|req: Request| async move {
            ApiError::from(Failure::NotFound(format!(
                "no route for {}",
                req.uri().path()
            )))
        })
        // Uploads are bounded by `admin_body_limit` as they are read, so the
        // multipart reader must not apply axum's own 2 MiB default on top.
        .layer(DefaultBodyLimit::max(gw.inner.admin.body_limit))
        .layer(middleware::from_fn_with_state(gw.clone(), auth))
        .with_state(gw)
}

async fn auth(State(gw): State<Gateway>, req: Request, next: Next) -> Response {
    if let Some(token) = &gw.inner.admin.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let ok = given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes()));
        if !ok {
            let message = if given.is_none() {
                "missing bearer token"
            } else {
                "wrong bearer token"
            };
            return ApiError::from(Failure::Unauthorized(message.into())).into_response();
        }
    } else if !loopback_host(
        req.headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok()),
    ) {
        // Without a token the admin API listens on loopback only; a web page
        // that rebinds its own name to 127.0.0.1 would still send its name
        // as `Host`, so only loopback names and addresses are answered.
        return ApiError::from(Failure::Forbidden(
            "the admin API without a token answers only requests to a loopback host (localhost, 127.0.0.1, [::1])".into(),
        ))
        .into_response();
    }
    next.run(req).await
}

/// Whether a `Host` header names the loopback interface: `localhost` (or a
/// name under `.localhost`), or a loopback address, with any port. A
/// request without one (HTTP/1.0) comes from no browser page.
fn loopback_host(host: Option<&str>) -> bool {
    let Some(host) = host else {
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        }),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the admin API says about one backend: its settings, and each
/// method with the routes the route table serves for it.
pub fn summary(e: &Entry) -> Value {
    let b = &e.backend;
    let s = &b.settings;
    let routes = b.imp.clone().routes().unwrap_or_default();
    let methods: Vec<Value> = b
        .imp
        .methods()
        .into_iter()
        .map(|mut m| {
            let served: Vec<Value> = routes
                .iter()
                .filter(|r| m["service"] == r.service.as_str() && m["method"] == r.method.as_str())
                .map(|r| json!({"http_method": r.verb.as_str(), "path": r.path.as_str()}))
                .collect();
            m["routes"] = json!(served);
            m
        })
        .collect();
    let mut v = json!({
        "name": b.name,
        "source": e.source,
        "protocol": s.protocol,
        "transport": s.transport,
        "endpoints": s.endpoints,
        "prefix": b.prefix,
        "services": b.services,
        "timeout_ms": b.timeout.as_millis() as u64,
        "options": s.options,
        "files": e.files,
        "methods": methods,
    });
    if let Some(d) = &e.discovery {
        v["discovery"] = d.json();
    }
    // The traffic sections that differ from the defaults, as they were given.
    if let Ok(Value::Object(all)) = serde_json::to_value(s) {
        for k in TRAFFIC_KEYS {
            if let Some(section) = all.get(*k) {
                v["traffic"][*k] = section.clone();
            }
        }
    }
    v
}

/// The keys of a backend's traffic settings (`pipeline::settings`).
const TRAFFIC_KEYS: &[&str] = &[
    "balance", "retry", "breaker", "outlier", "limit", "health", "methods",
];

async fn list(State(gw): State<Gateway>) -> Response {
    let reg = gw.inner.registry.lock().await;
    let all: Vec<Value> = reg.entries.iter().map(summary).collect();
    let mut v = json!({ "backends": all });
    if !reg.restore_errors.is_empty() {
        v["restore_errors"] = json!(reg.restore_errors);
    }
    axum::Json(v).into_response()
}

async fn show(State(gw): State<Gateway>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let entry = {
        let reg = gw.inner.registry.lock().await;
        reg.get(&name).cloned()
    };
    let entry = entry.ok_or_else(|| no_backend(&name))?;
    let mut v = summary(&entry);
    let mut health = Vec::new();
    for addr in entry.backend.settings.endpoints.iter().map(|e| &e.addr) {
        let t0 = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(addr.as_str()),
        )
        .await;
        health.push(match r {
            Ok(Ok(_)) => json!({"address": addr, "reachable": true, "connect_ms": t0.elapsed().as_secs_f64() * 1000.0}),
            Ok(Err(e)) => json!({"address": addr, "reachable": false, "error": e.to_string()}),
            Err(_) => json!({"address": addr, "reachable": false, "error": "connect timed out after 500 ms"}),
        });
    }
    v["endpoint_health"] = json!(health);
    // What the call pipeline knows of each endpoint: state, calls in
    // flight, recent error rate, breaker.
    let traffic = &entry.backend.spec.traffic;
    v["endpoint_state"] = json!(traffic.health.snapshot());
    if let Some(b) = &traffic.health.backend_breaker {
        v["breaker"] = b.json();
    }
    Ok(axum::Json(v).into_response())
}

async fn metrics(State(gw): State<Gateway>, headers: axum::http::HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let ctype = metrics::content_type(accept);
    let mut snap = metrics::Snapshot {
        routes: gw.routes().len() as i64,
        ..Default::default()
    };
    {
        let reg = gw.inner.registry.lock().await;
        snap.backends = reg.entries.len() as i64;
        for e in &reg.entries {
            let b = &e.backend;
            let traffic = &b.spec.traffic;
            for (ep, open) in traffic
                .health
                .endpoints
                .iter()
                .zip(traffic.open_connections())
            {
                snap.connections
                    .push((b.name.clone(), ep.addr.clone(), open as i64));
            }
            if let Some(d) = &e.discovery {
                let view = d.view();
                snap.discovery.push((
                    b.name.clone(),
                    d.config.kind(),
                    view.reachable,
                    view.endpoints.as_ref().map_or(0, Vec::len) as i64,
                    view.changes,
                ));
            }
            for ep in traffic.health.endpoints.iter() {
                snap.endpoints.push((
                    b.name.clone(),
                    ep.addr.clone(),
                    i64::from(ep.inflight.load(std::sync::atomic::Ordering::Relaxed)),
                    ep.metric_state(),
                ));
            }
        }
    }
    let body = metrics::render(&snap, ctype.starts_with("application/openmetrics-text"));
    ([(header::CONTENT_TYPE, ctype)], body).into_response()
}

async fn routes(State(gw): State<Gateway>) -> Response {
    axum::Json(json!({ "routes": gw.routes() })).into_response()
}

async fn put(
    State(gw): State<Gateway>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let reg = read_registration(&gw, req)
        .await
        .inspect_err(|_| metrics::record_registration("rejected"))?;
    let discovery = discover(&gw, &name, &reg)
        .await
        .inspect_err(|_| metrics::record_registration("rejected"))?;
    let mut registry = gw.inner.registry.lock().await;
    // Parsing the IDL and the fsync of the state file are blocking work: keep
    // them off the threads that serve requests.
    let (summary_v, created) = tokio::task::block_in_place(|| {
        let (entry, reg) = registry.build(&name, reg, discovery)?;
        let summary_v = summary(&entry);
        let (next, table, created) = registry.with(entry)?;
        registry.persist(&name, &reg)?;
        gw.inner.table.store(std::sync::Arc::new(table));
        registry.entries = next;
        Ok::<_, ApiError>((summary_v, created))
    })
    .inspect_err(|_| metrics::record_registration("rejected"))?;
    drop(registry);
    metrics::record_registration(if created { "created" } else { "replaced" });
    tracing::info!(backend = %name, created, "backend registered");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(json!({ "backend": summary_v }))).into_response())
}

/// The running discovery of a registration that has one: its settings and
/// IDL checked first (so a bad upload is refused at once), then its source
/// started and given [`discovery::FIRST_ANSWER`] to answer. The registry
/// is not locked meanwhile.
async fn discover(
    gw: &Gateway,
    name: &str,
    reg: &Registration,
) -> Result<Option<std::sync::Arc<Discovery>>, ApiError> {
    if reg.settings.discovery.is_none() {
        return Ok(None);
    }
    {
        let registry = gw.inner.registry.lock().await;
        tokio::task::block_in_place(|| registry.build(name, reg.clone(), None))?;
    }
    let settings = crate::config::BackendConfig {
        name: name.to_string(),
        ..reg.settings.clone()
    };
    let d = Discovery::start_and_wait(&settings, gw.changes(), discovery::FIRST_ANSWER)
        .await
        .map_err(|e| ApiError::from(Failure::InvalidSettings(e)))?;
    Ok(Some(d))
}

async fn remove(State(gw): State<Gateway>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let mut registry = gw.inner.registry.lock().await;
    tokio::task::block_in_place(|| {
        let (next, table, removed) = registry.without(&name)?;
        registry.persist_removal(&removed)?;
        gw.inner.table.store(std::sync::Arc::new(table));
        registry.entries = next;
        Ok::<_, ApiError>(())
    })?;
    metrics::record_registration("removed");
    tracing::info!(backend = %name, "backend removed");
    Ok(axum::Json(json!({ "deleted": name })).into_response())
}

async fn openapi_all(State(gw): State<Gateway>) -> Response {
    let backends = gw.inner.registry.lock().await.backends();
    axum::Json(crate::openapi::document(
        &backends,
        gw.inner.admin.front_url.as_deref(),
    ))
    .into_response()
}

async fn openapi_one(
    State(gw): State<Gateway>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let backend = gw
        .inner
        .registry
        .lock()
        .await
        .get(&name)
        .map(|e| e.backend.clone());
    let backend = backend.ok_or_else(|| no_backend(&name))?;
    Ok(axum::Json(crate::openapi::document(
        &[backend],
        gw.inner.admin.front_url.as_deref(),
    ))
    .into_response())
}

/// Reads a registration from a JSON document or a multipart upload, within the admin body limit.
async fn read_registration(gw: &Gateway, req: Request) -> Result<Registration, ApiError> {
    let limit = gw.inner.admin.body_limit;
    let (parts, body) = req.into_parts();
    let bytes = read_body(&parts.headers, body, limit, "upload").await?;
    let ctype = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ctype.starts_with("multipart/form-data") {
        let req = Request::from_parts(parts, Body::from(bytes));
        let mut mp = Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::from(Failure::InvalidSettings(e.body_text())))?;
        let bad = |e: axum::extract::multipart::MultipartError| {
            ApiError::from(Failure::InvalidSettings(format!(
                "bad multipart upload: {}",
                e.body_text()
            )))
        };
        let mut settings: Option<Registration> = None;
        let mut files = Vec::new();
        while let Some(field) = mp.next_field().await.map_err(bad)? {
            let part = field.name().unwrap_or("").to_string();
            let file = field.file_name().map(str::to_string);
            let text = field.text().await.map_err(bad)?;
            if part == "settings" && file.is_none() {
                settings = Some(serde_json::from_str(&text).map_err(|e| {
                    ApiError::from(Failure::InvalidSettings(format!("settings part: {e}")))
                })?);
            } else {
                files.push((file.unwrap_or(part), text));
            }
        }
        let mut reg = settings.ok_or_else(|| {
            ApiError::from(Failure::InvalidSettings(
                "missing the `settings` JSON part".into(),
            ))
        })?;
        if reg.main.is_empty()
            && let Some((first, _)) = files.first()
        {
            reg.main = first.clone();
        }
        reg.files.extend(files);
        Ok(reg)
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::from(Failure::InvalidSettings(format!("registration: {e}"))))
    }
}

fn no_backend(name: &str) -> ApiError {
    Failure::NotFound(format!("no backend named `{name}`")).into()
}

#[cfg(test)]
mod tests {
    use super::loopback_host;

    #[test]
    fn loopback_hosts() {
        for ok in [
            None,
            Some("localhost"),
            Some("localhost:9888"),
            Some("LOCALHOST."),
            Some("api.localhost:1"),
            Some("127.0.0.1"),
            Some("127.0.0.1:9888"),
            Some("127.8.9.10:80"),
            Some("[::1]:9888"),
            Some("[::1]"),
        ] {
            assert!(loopback_host(ok), "{ok:?}");
        }
        for bad in [
            Some("evil.example"),
            Some("evil.example:9888"),
            Some("localhost.evil.example"),
            Some("10.0.0.1:9888"),
            Some("[::2]:9888"),
            Some(""),
            Some("127.0.0.1.nip.io"),
        ] {
            assert!(!loopback_host(bad), "{bad:?}");
        }
    }
}
