//! HTTP mapping of methods described by a Thrift IDL (Thrift and Dubbo
//! backends): the routes of each method from its Kitex `api.*`
//! annotations (else `POST /{Service}/{method}`), and the binding of path,
//! query, header, cookie and raw-body values to request fields, as Hertz
//! binds them (the annotated source first, then the JSON body).

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header;
use codecs::thrift::{Bound, BoundValue};
use idl::{Binding, Method, Schema, StructId, Type};

use super::{Route, RoutePath, RouteSpec};
use crate::routes::method_routes;

/// The request struct whose fields a request binds: the one struct
/// argument's type for a method that takes its fields as the body, else
/// the arguments themselves.
pub fn request_struct(schema: &Schema, method: &Method) -> StructId {
    match method.body_struct_arg {
        Some(i) => match schema.struct_def(method.args).fields[i].ty {
            Type::Struct(sid) => sid,
            _ => method.args,
        },
        None => method.args,
    }
}

/// The fields of a method's request struct bound to something other than
/// the JSON body, by index.
pub fn bindings(schema: &Schema, method: &Method) -> Vec<(usize, Binding)> {
    schema
        .struct_def(request_struct(schema, method))
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.binding != Binding::Body)
        .map(|(i, f)| (i, f.binding.clone()))
        .collect()
}

/// The routes of every method of `services`, each served by `handler`'s
/// route for it.
pub fn routes(
    prefix: &str,
    schema: &Schema,
    services: &[String],
    mut handler: impl FnMut(&str, &Method) -> Arc<dyn Route>,
) -> Vec<RouteSpec> {
    let mut out = Vec::new();
    for svc_name in services {
        let Some(svc) = schema.service(svc_name) else {
            continue;
        };
        for m in &svc.methods {
            let route = handler(svc_name, m);
            for (verb, path) in method_routes(prefix, &svc.name, m) {
                out.push(RouteSpec {
                    verb,
                    path: RoutePath::Hertz(path),
                    service: svc_name.clone(),
                    method: m.name.clone(),
                    handler: route.clone(),
                });
            }
        }
    }
    out
}

/// The admin API's description of each method of `services`.
pub fn methods(schema: &Schema, services: &[String]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for svc_name in services {
        if let Some(svc) = schema.service(svc_name) {
            for m in &svc.methods {
                out.push(
                    serde_json::json!({"service": svc_name, "method": m.name, "oneway": m.oneway}),
                );
            }
        }
    }
    out
}

/// What a request is bound from besides its JSON body.
pub struct HttpValues<'a> {
    pub params: &'a [(String, String)],
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl<'a> HttpValues<'a> {
    /// What a read request binds from.
    pub fn of(req: &'a super::ReadRequest) -> Self {
        HttpValues {
            params: &req.params,
            query: req.parts.uri.query(),
            headers: &req.parts.headers,
            body: &req.body,
        }
    }
}

/// The values bound to request fields, in field order; fields with no
/// value in the request are left to the JSON body.
pub fn bind<'a>(bindings: &[(usize, Binding)], http: &HttpValues<'a>) -> Vec<Bound<'a>> {
    if bindings.is_empty() {
        return Vec::new();
    }
    let query: Vec<(Cow<'a, str>, Cow<'a, str>)> = match http.query {
        Some(q) => form_urlencoded::parse(q.as_bytes()).collect(),
        None => Vec::new(),
    };
    let mut bound = Vec::with_capacity(bindings.len());
    for (field, binding) in bindings {
        let value = match binding {
            Binding::Path(name) => http.params.iter().find(|(k, _)| k == name).map(|(_, v)| {
                BoundValue::Text(percent_encoding::percent_decode_str(v).decode_utf8_lossy())
            }),
            Binding::Query(name) => {
                let mut vals: Vec<Cow<'a, str>> = query
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
            Binding::Header(name) => http
                .headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .map(|v| BoundValue::Text(Cow::Borrowed(v))),
            Binding::Cookie(name) => cookie(http.headers, name).map(BoundValue::Text),
            Binding::RawBody => Some(BoundValue::Raw(http.body)),
            Binding::None => Some(BoundValue::Missing),
            // Response-only, or plain body fields.
            Binding::Body | Binding::HttpCode => continue,
        };
        if let Some(value) = value {
            bound.push(Bound {
                field: *field,
                value,
            });
        }
    }
    bound
}

/// The JSON body of a request: none for a method whose body is raw.
pub fn json_body<'a>(bindings: &[(usize, Binding)], body: &'a [u8]) -> &'a [u8] {
    if bindings.iter().any(|(_, b)| *b == Binding::RawBody) {
        b""
    } else {
        body
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| Cow::Borrowed(v.trim_matches('"')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn text<'a>(b: &'a Bound<'a>) -> &'a str {
        match &b.value {
            BoundValue::Text(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn path_query_header_cookie_and_raw_body() {
        let bindings = vec![
            (0, Binding::Path("id".into())),
            (1, Binding::Query("tag".into())),
            (2, Binding::Query("one".into())),
            (3, Binding::Header("x-tenant".into())),
            (4, Binding::Cookie("session".into())),
            (5, Binding::Query("absent".into())),
            (6, Binding::None),
            (7, Binding::RawBody),
            (8, Binding::HttpCode),
        ];
        let mut headers = HeaderMap::new();
        headers.insert("x-tenant", HeaderValue::from_static("blue"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; session=\"s 2\""),
        );
        let params = vec![("id".to_string(), "a%2Fb%20c".to_string())];
        let http = HttpValues {
            params: &params,
            query: Some("tag=x&tag=y%20z&one=%E2%9C%93"),
            headers: &headers,
            body: b"raw",
        };
        let bound = bind(&bindings, &http);
        let fields: Vec<usize> = bound.iter().map(|b| b.field).collect();
        assert_eq!(fields, [0, 1, 2, 3, 4, 6, 7]);
        assert_eq!(text(&bound[0]), "a/b c", "path values are percent-decoded");
        match &bound[1].value {
            BoundValue::List(l) => assert_eq!(l, &["x", "y z"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(text(&bound[2]), "✓");
        assert_eq!(text(&bound[3]), "blue");
        assert_eq!(text(&bound[4]), "s 2");
        assert!(matches!(bound[5].value, BoundValue::Missing));
        assert!(matches!(bound[6].value, BoundValue::Raw(b"raw")));
        assert_eq!(json_body(&bindings, b"{}"), b"");
        assert_eq!(json_body(&bindings[..1], b"{}"), b"{}");
    }

    #[test]
    fn no_bindings_bind_nothing() {
        let headers = HeaderMap::new();
        let http = HttpValues {
            params: &[],
            query: Some("a=1"),
            headers: &headers,
            body: b"{}",
        };
        assert!(bind(&[], &http).is_empty());
    }
}
