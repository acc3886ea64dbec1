//! The admin API, on its own listener: register, replace, list and remove
//! backends at run time, list routes, and serve OpenAPI documents.
//!
//! | request | answer |
//! |---|---|
//! | `PUT /admin/backends/{name}` | 201 created / 200 replaced; body: JSON `Registration` (files inline) or `multipart/form-data` (a `settings` JSON part plus one part per IDL file, named by its filename) |
//! | `GET /admin/backends` | every backend |
//! | `GET /admin/backends/{name}` | one backend, with endpoint health, the pipeline's endpoint state and its traffic settings |
//! | `DELETE /admin/backends/{name}` | 200 `{"deleted": name}` |
//! | `GET /admin/backends/{name}/history` | cluster mode: every version the store keeps |
//! | `POST /admin/backends/{name}/rollback` | cluster mode: body `{"to": N}` or empty (the version before); the restored version is written as the next one |
//! | `GET /admin/cluster` | cluster mode: the store, its watch, records this gateway could not apply |
//! | `GET /admin/routes` | every route with its backend and method |
//! | `GET /admin/protocols` | every protocol with its transports and IDL kind |
//! | `GET /admin/openapi.json`, `GET /admin/backends/{name}/openapi.json` | OpenAPI 3.1 |
//! | `GET /admin/ui` | the browser console (`crate::console`); its files need no token |
//! | `ANY /admin/try/{path}` | the console's try-it: the request handed to the front door's routes |
//! | `GET /metrics` | Prometheus metrics: the text format, or OpenMetrics when `Accept` asks for `application/openmetrics-text`; 404 with `metrics = false` |
//!
//! In cluster mode a PUT or DELETE may carry `If-Match: "N"`, the version it
//! replaces (409 `version_conflict` when the store holds another); its
//! answer carries the new version as `ETag`.
//!
//! With a token configured every request needs `Authorization: Bearer <token>`.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::Gateway;
use crate::change::{Origin, no_backend};
use crate::cluster::Cluster;
use crate::error::{ApiError, Failure, read_body};
use crate::observe::metrics;
use crate::registry::{Entry, Registration};

pub fn admin_app(gw: Gateway) -> Router {
    Router::new()
        .route("/admin/backends", get(list))
        .route("/admin/backends/{name}", get(show).put(put).delete(remove))
        .route("/admin/backends/{name}/openapi.json", get(openapi_one))
        .route("/admin/backends/{name}/history", get(history))
        .route("/admin/backends/{name}/rollback", post(rollback))
        .route("/admin/cluster", get(cluster))
        .route("/admin/routes", get(routes))
        .route(
            "/admin/protocols",
            get(|| async { axum::Json(crate::protocol::listing()) }),
        )
        .route("/admin/openapi.json", get(openapi_all))
        .route("/metrics", get(metrics))
        .merge(crate::console::routes())
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
    let token = gw.inner.admin.token.as_ref();
    if token.is_some() && crate::console::is_asset(&req) {
        // The console's files: open, as the page that asks for the token.
    } else if let Some(token) = token {
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

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
    if let Some(n) = e.version {
        v["version"] = json!(n);
    }
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
    if !reg.store_errors.is_empty() {
        v["store_errors"] = json!(reg.store_errors);
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
    if !metrics::enabled() {
        return ApiError::from(Failure::NotFound(
            "metrics are off (metrics = false in the config)".into(),
        ))
        .into_response();
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let ctype = metrics::content_type(accept);
    let mut snap = metrics::Snapshot {
        routes: gw.routes().len() as i64,
        tasks: tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks() as i64,
        ..Default::default()
    };
    {
        let reg = gw.inner.registry.lock().await;
        snap.backends = reg.entries.len() as i64;
        if let Some(c) = gw.inner.cluster.get() {
            let st = c.status();
            snap.store = Some((
                st.reachable,
                st.revision,
                reg.store_errors.len() as i64,
                st.relists,
            ));
        }
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
    let result = async {
        let expect = if_match(req.headers())?;
        let reg = read_registration(&gw, req).await?;
        let origin = Origin::Admin {
            expect,
            rollback_of: None,
        };
        gw.register(&name, reg, origin)
            .await?
            .ok_or_else(|| ApiError::from(Failure::Internal("the change was not applied".into())))
    }
    .await
    .inspect_err(|_| metrics::record_registration("rejected"))?;
    metrics::record_registration(if result.created {
        "created"
    } else {
        "replaced"
    });
    tracing::info!(backend = %name, created = result.created, version = ?result.version, "backend registered");
    let status = if result.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_version(
        (status, axum::Json(json!({ "backend": result.summary }))).into_response(),
        result.version,
    ))
}

/// The version a change is based on, from `If-Match: "N"` (cluster mode:
/// 409 when the backend is at another version; 0 means "not registered").
fn if_match(headers: &axum::http::HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("").trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse().map(Some).map_err(|_| {
        ApiError::from(Failure::InvalidSettings(format!(
            "If-Match `{text}`: give the version to replace, as \"N\""
        )))
    })
}

/// Answers a change with the backend's version as its `ETag` (cluster mode).
fn with_version(mut resp: Response, version: Option<u64>) -> Response {
    if let Some(v) = version
        && let Ok(h) = header::HeaderValue::from_str(&format!("\"{v}\""))
    {
        resp.headers_mut().insert(header::ETAG, h);
    }
    resp
}

async fn remove(
    State(gw): State<Gateway>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let origin = Origin::Admin {
        expect: if_match(&headers)?,
        rollback_of: None,
    };
    let version = gw.unregister(&name, origin).await?.flatten();
    metrics::record_registration("removed");
    tracing::info!(backend = %name, ?version, "backend removed");
    let mut v = json!({ "deleted": name });
    if let Some(n) = version {
        v["version"] = json!(n);
    }
    Ok(with_version(axum::Json(v).into_response(), version))
}

/// The cluster store of a gateway in cluster mode, or 404.
fn cluster_of(gw: &Gateway) -> Result<std::sync::Arc<Cluster>, ApiError> {
    gw.inner.cluster.get().cloned().ok_or_else(|| {
        Failure::NotFound(
            "versions are kept in cluster mode only: start the gateway with a store (`store` or --store)"
                .into(),
        )
        .into()
    })
}

async fn history(
    State(gw): State<Gateway>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let c = cluster_of(&gw)?;
    Ok(axum::Json(c.history(&name).await?).into_response())
}

/// `POST /admin/backends/{name}/rollback`, body `{"to": N}` or nothing
/// (the version before the current one): writes that version's
/// registration again as the next version.
async fn rollback(
    State(gw): State<Gateway>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let c = cluster_of(&gw)?;
    let (parts, body) = req.into_parts();
    let bytes = read_body(&parts.headers, body, 4096, "rollback").await?;
    let to: Option<u64> = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::from(Failure::InvalidSettings(format!("rollback: {e}"))))?;
        match v.get("to") {
            None | Some(Value::Null) => None,
            Some(n) => Some(n.as_u64().ok_or_else(|| {
                ApiError::from(Failure::InvalidSettings(
                    "rollback: `to` is a version number".into(),
                ))
            })?),
        }
    };
    let done = crate::cluster::rollback(&gw, &c, &name, to)
        .await
        .inspect_err(|_| metrics::record_registration("rejected"))?;
    metrics::record_registration("rolled_back");
    tracing::info!(backend = %name, to = done.to, version = done.version, "backend rolled back");
    let v = json!({
        "backend": done.summary,
        "version": done.version,
        "rollback_of": done.to,
    });
    Ok(with_version(
        axum::Json(v).into_response(),
        Some(done.version),
    ))
}

/// `GET /admin/cluster`: the store, how following it goes, and the records
/// this gateway could not apply.
async fn cluster(State(gw): State<Gateway>) -> Result<Response, ApiError> {
    let c = cluster_of(&gw)?;
    let errors = gw.inner.registry.lock().await.store_errors.clone();
    let mut v = json!({
        "store": c.store.url.to_string(),
        "id": c.store.id,
        "errors": errors,
    });
    if let (Value::Object(m), Ok(Value::Object(s))) = (&mut v, serde_json::to_value(c.status())) {
        m.extend(s);
    }
    Ok(axum::Json(v).into_response())
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

#[cfg(test)]
mod tests {
    use super::{if_match, loopback_host};

    #[test]
    fn if_match_versions() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(if_match(&h).unwrap(), None);
        for (given, want) in [("\"3\"", 3), ("W/\"4\"", 4), ("5", 5), ("\"0\"", 0)] {
            h.insert("if-match", given.parse().unwrap());
            assert_eq!(if_match(&h).unwrap(), Some(want), "{given}");
        }
        h.insert("if-match", "\"abc\"".parse().unwrap());
        assert_eq!(if_match(&h).unwrap_err().status(), 400);
    }

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
