//! The request path, one for every protocol: look the route up in the
//! current table and hand the request to it; the route reads the body
//! within its limit, calls its backend and answers. Every exchange is
//! measured and logged ([`Exchange`]), matched or not, and carries a
//! request id.

use std::sync::LazyLock;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};

use crate::Gateway;
use crate::error::{ApiError, ErrorCode, Failure};
use crate::observe::access;
use crate::observe::exchange::Exchange;
use crate::observe::metrics::RouteMetrics;
use crate::protocol::{self, HttpRequest};
use crate::routes::Lookup;

/// The series of requests that matched no route (empty labels: their paths
/// are not a bounded set).
static UNROUTED: LazyLock<&'static RouteMetrics> = LazyLock::new(|| RouteMetrics::of("", "", ""));

pub async fn dispatch(State(gw): State<Gateway>, req: Request) -> Response {
    let started = Instant::now();
    let (mut parts, body) = req.into_parts();
    // The head as the client sent it, before the request id is added.
    let limits = gw.request_limits();
    let head = limits.head.check(&parts);
    let request_id = access::request_id(&mut parts.headers);
    if let Err(e) = head {
        let exchange = Exchange::bodiless(*UNROUTED, started, request_id);
        return exchange.finish(e.into_response());
    }
    let table = gw.inner.table.load_full();
    let path = parts.uri.path();
    // A preflight for a route of a backend with its own CORS: its answer.
    if let Some(m) = crate::edge::cors::preflight_of(&parts)
        && let Lookup::Found(route, _) = table.lookup(&m, path)
        && let Some(cors) = &route.cors
    {
        let mut exchange = Exchange::bodiless(route.metrics, started, request_id);
        exchange.log(&parts.method, path, &parts.headers);
        let resp = crate::edge::cors::apply(cors, &parts, Response::default()).await;
        return exchange.finish(resp);
    }
    let mut found = table.lookup(&parts.method, path);
    if matches!(found, Lookup::WrongMethod(_)) && protocol::wants_websocket(&parts) {
        // A WebSocket upgrade is a GET; a streaming route takes it on its own verb.
        if let Lookup::Found(route, params) = table.lookup(&Method::POST, path)
            && route.handler.websocket()
        {
            found = Lookup::Found(route, params);
        }
    }
    let (route, params) = match found {
        Lookup::Found(route, params) => (route, params),
        other => {
            let e = match other {
                Lookup::WrongMethod(allowed) => {
                    let allow = allowed.join(", ");
                    ApiError::from(Failure::MethodNotAllowed {
                        message: format!(
                            "{} is not allowed on {path}; allowed: {allow}",
                            parts.method
                        ),
                        allow,
                    })
                }
                _ => ApiError::from(Failure::NotFound(format!("no route for {path}"))),
            };
            let mut exchange = Exchange::bodiless(*UNROUTED, started, request_id);
            exchange.log(&parts.method, path, &parts.headers);
            return exchange.finish(e.into_response());
        }
    };
    let length = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let body = limits.timed(body);
    let (mut exchange, body) = Exchange::start(route.metrics, started, request_id, body, length);
    let record = exchange.log(&parts.method, path, &parts.headers);
    // The request head the backend's CORS answers by.
    let cors = route.cors.as_ref().map(|c| (c, head_of(&parts)));
    match route.auth.as_ref().map(|a| a.check(&parts.headers)) {
        Some(Err(e)) => {
            let labels = route.metrics.labels();
            let resp = e.at(&labels.backend, &labels.method).into_response();
            return exchange.finish(with_cors(cors, resp).await);
        }
        Some(Ok(Some(claims))) => {
            parts.extensions.insert(claims);
        }
        _ => {}
    }
    let req = HttpRequest {
        parts,
        body,
        params,
        body_limit: gw.inner.body_limit,
    };
    let handled = route.handler.call(req);
    let outcome = match record {
        Some(r) => access::with_record(r, handled).await,
        None => handled.await,
    };
    let resp = match outcome {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if resp
        .extensions()
        .get::<ErrorCode>()
        .is_some_and(|c| c.0 == "rate_limited")
    {
        route.metrics.record_rate_limited();
    }
    exchange.finish(with_cors(cors, resp).await)
}

/// What CORS reads of a request: its method, URI and headers.
fn head_of(parts: &axum::http::request::Parts) -> axum::http::request::Parts {
    let mut head = axum::http::Request::new(()).into_parts().0;
    head.method = parts.method.clone();
    head.uri = parts.uri.clone();
    head.headers = parts.headers.clone();
    head
}

async fn with_cors(
    cors: Option<(&tower_http::cors::CorsLayer, axum::http::request::Parts)>,
    resp: Response,
) -> Response {
    match cors {
        Some((layer, head)) => crate::edge::cors::apply(layer, &head, resp).await,
        None => resp,
    }
}
