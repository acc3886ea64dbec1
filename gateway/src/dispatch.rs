//! The request path: look the route up, bind path/query/header/cookie
//! values, read the body within its limit, call the backend, answer.

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use codecs::thrift::{Bound, BoundValue, ResponseMeta};
use idl::Binding;

use crate::Gateway;
use crate::error::{ApiError, read_body};
use crate::routes::Lookup;

pub async fn dispatch(State(gw): State<Gateway>, req: Request) -> Response {
    match handle(gw, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(gw: Gateway, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let table = gw.inner.table.load_full();
    let path = parts.uri.path();
    let (route, params) = match table.lookup(&parts.method, path) {
        Lookup::Found(r, p) => (r, p),
        Lookup::WrongMethod(allowed) => {
            let mut e = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!(
                    "{} is not allowed on {path}; allowed: {}",
                    parts.method,
                    allowed.join(", ")
                ),
            );
            e.allow = Some(allowed.join(", "));
            return Err(e);
        }
        Lookup::NotFound => return Err(ApiError::not_found(path)),
        Lookup::Pb(route, vars) => {
            let sse = parts
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("text/event-stream"));
            if route.method.client_streaming {
                return route
                    .clone()
                    .client_stream(
                        body,
                        vars,
                        parts.uri.query().map(str::to_string),
                        &parts.headers,
                        sse,
                        gw.inner.body_limit,
                    )
                    .await;
            }
            let body = read_body(&parts.headers, body, gw.inner.body_limit, "request body").await?;
            let request = route.request_body(&vars, parts.uri.query(), &body)?;
            if route.method.server_streaming {
                return route.stream(&request, &parts.headers, sse).await;
            }
            let mut out = Vec::with_capacity(256);
            let mut resp = Response::new(Body::empty());
            route
                .call(&request, &parts.headers, &mut out, resp.headers_mut())
                .await?;
            *resp.body_mut() = Body::from(out);
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return Ok(resp);
        }
    };

    let limit = gw.inner.body_limit;
    let body = read_body(&parts.headers, body, limit, "request body").await?;

    let query: Vec<(Cow<str>, Cow<str>)> = match (route.bindings.is_empty(), parts.uri.query()) {
        (false, Some(q)) => form_urlencoded::parse(q.as_bytes()).collect(),
        _ => Vec::new(),
    };
    let mut bound = Vec::with_capacity(route.bindings.len());
    for (field, binding) in &route.bindings {
        let value = match binding {
            Binding::Path(name) => params.get(name).map(|v| {
                BoundValue::Text(percent_encoding::percent_decode_str(v).decode_utf8_lossy())
            }),
            Binding::Query(name) => {
                let mut vals: Vec<Cow<str>> = query
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .collect();
                match vals.len() {
                    0 => None,
                    1 => Some(BoundValue::Text(vals.pop().expect("one"))),
                    _ => Some(BoundValue::List(vals)),
                }
            }
            Binding::Header(name) => parts
                .headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .map(|v| BoundValue::Text(Cow::Borrowed(v))),
            Binding::Cookie(name) => cookie(&parts.headers, name).map(BoundValue::Text),
            Binding::RawBody => Some(BoundValue::Raw(&body)),
            Binding::None => Some(BoundValue::Missing),
            // Response-only, or plain body fields.
            Binding::Body | Binding::HttpCode => continue,
        };
        // As Hertz binds: the annotated source first, then the JSON body.
        if let Some(value) = value {
            bound.push(Bound {
                field: *field,
                value,
            });
        }
    }
    // A raw-body method sends no JSON body.
    let json: &[u8] = if route.bindings.iter().any(|(_, b)| *b == Binding::RawBody) {
        b""
    } else {
        &body
    };

    let prepared = route.prepare(json, &bound)?;
    // The body is encoded: free it (and what borrows it) before the reply,
    // so waiting calls hold only their encoded request.
    drop(bound);
    drop(body);
    let mut out = Vec::with_capacity(256);
    let mut meta = ResponseMeta::default();
    route.complete(prepared, &mut out, &mut meta).await?;

    let status = meta
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut resp = (status, Body::from(out)).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (k, v) in meta.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            headers.append(k, v);
        }
    }
    Ok(resp)
}

fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| Cow::Borrowed(v.trim_matches('"')))
}
