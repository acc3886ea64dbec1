//! HTTP mapping of methods described by a Thrift IDL (Thrift and Dubbo
//! backends): the routes of each method from its Kitex `api.*`
//! annotations (else `POST /{Service}/{method}`), and the binding of path,
//! query, header, cookie, form, raw-body and URI values to request fields,
//! as Hertz binds them (the annotated source first, then the JSON body, or
//! a form body when the request sends one).

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::header;
use axum::http::{HeaderMap, Uri};
use codecs::form::{self, FormKind, FormPart};
use codecs::thrift::{Bound, BoundValue};
use idl::{Binding, BodyFormat, Method, Schema, StructId, Type};

use super::{Route, RoutePath, RouteSpec};
use crate::error::{ApiError, Failure};
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

/// How a method's request binds HTTP: the fields bound to something other
/// than the JSON body, the body fields a form body may set, and the
/// method's body format.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    /// Fields bound to path, query, header, cookie, form, raw body or URI.
    fields: Vec<(usize, Binding)>,
    /// Body fields by JSON key: what a form body sets besides `api.form` fields.
    body_keys: Vec<(usize, String)>,
    /// Per field: whether it takes bytes as they are (string and binary).
    raw: Vec<bool>,
    format: BodyFormat,
    /// Whether the body is taken raw (`api.raw_body`): never read as a form.
    raw_body: bool,
    /// The request struct, when it (or one it holds) has `api.vd` rules.
    rules: Option<StructId>,
}

impl Bindings {
    pub fn of(schema: &Schema, method: &Method) -> Bindings {
        let sid = request_struct(schema, method);
        let fields = &schema.struct_def(sid).fields;
        let bound = |f: &&idl::Field| f.binding != Binding::Body;
        Bindings {
            fields: (fields.iter().enumerate())
                .filter(|(_, f)| bound(f))
                .map(|(i, f)| (i, f.binding.clone()))
                .collect(),
            body_keys: (fields.iter().enumerate())
                .filter(|(_, f)| !bound(f))
                .map(|(i, f)| (i, f.json_name.clone()))
                .collect(),
            raw: (fields.iter())
                .map(|f| matches!(f.ty, Type::String | Type::Binary))
                .collect(),
            format: method.body_format,
            raw_body: fields.iter().any(|f| f.binding == Binding::RawBody),
            rules: super::thrift_rules::has_rules(schema, sid).then_some(sid),
        }
    }

    /// Checks the request's `api.vd` rules: 400 naming the first field
    /// that fails one.
    pub fn check(&self, schema: &Schema, json: &[u8], bound: &[Bound<'_>]) -> Result<(), ApiError> {
        match self.rules {
            Some(sid) => super::thrift_rules::check(schema, sid, json, bound),
            None => Ok(()),
        }
    }

    /// The form in a request's body: its `Content-Type` names one, or
    /// names no JSON and the method's body format is a form. `None`: the
    /// body is JSON (or raw).
    pub fn form<'b>(
        &self,
        headers: &HeaderMap,
        body: &'b [u8],
    ) -> Result<Option<Vec<FormPart<'b>>>, ApiError> {
        if self.raw_body {
            return Ok(None);
        }
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let kind = match FormKind::of(ct) {
            Some(Ok(FormKind::UrlEncoded)) if form::looks_like_json(body) => return Ok(None),
            Some(kind) => kind.map_err(|e| Failure::Input(format!("$: {e}")))?,
            None if self.format == BodyFormat::Form
                && !ct.contains("json")
                && !form::looks_like_json(body) =>
            {
                FormKind::UrlEncoded
            }
            None => return Ok(None),
        };
        form::parse(&kind, body)
            .map(Some)
            .map_err(|e| ApiError::from(Failure::Input(format!("$: {e}"))))
    }

    /// The values bound to request fields, in field order; fields with no
    /// value in the request are left to the JSON body.
    pub fn bind<'a>(&self, http: &HttpValues<'a>) -> Vec<Bound<'a>> {
        if self.fields.is_empty() && http.form.is_none() {
            return Vec::new();
        }
        let query: Vec<(Cow<'a, str>, Cow<'a, str>)> = match http.uri.query() {
            Some(q) => form_urlencoded::parse(q.as_bytes()).collect(),
            None => Vec::new(),
        };
        let mut bound = Vec::with_capacity(self.fields.len());
        for (field, binding) in &self.fields {
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
                Binding::Form(name) => http.form.and_then(|f| self.form_value(*field, name, f)),
                Binding::RawBody => Some(BoundValue::Raw(http.body)),
                Binding::RawUri => http
                    .uri
                    .path_and_query()
                    .map(|pq| BoundValue::Text(Cow::Borrowed(pq.as_str()))),
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
        if let Some(form) = http.form {
            for (field, key) in &self.body_keys {
                if let Some(value) = self.form_value(*field, key, form) {
                    bound.push(Bound {
                        field: *field,
                        value,
                    });
                }
            }
            bound.sort_by_key(|b| b.field);
        }
        bound
    }

    /// The value of field `field` from the form parts named `name`: one
    /// part's bytes (as they are for string and binary fields), several
    /// parts' texts for a list; `file.filename` and `file.content_type`
    /// name what part `file` says of itself.
    fn form_value<'a>(
        &self,
        field: usize,
        name: &str,
        form: &'a [FormPart<'a>],
    ) -> Option<BoundValue<'a>> {
        let mut parts = form.iter().filter(|p| p.name == name);
        let Some(first) = parts.next() else {
            let (file, what) = name.rsplit_once('.')?;
            let part = form
                .iter()
                .find(|p| p.name == file && p.filename.is_some())?;
            return match what {
                "filename" => part
                    .filename
                    .as_deref()
                    .map(|f| BoundValue::Text(Cow::Borrowed(f))),
                "content_type" => part
                    .content_type
                    .map(|t| BoundValue::Text(Cow::Borrowed(t))),
                _ => None,
            };
        };
        let text = |p: &'a FormPart<'a>| String::from_utf8_lossy(&p.data);
        match parts.next() {
            None if self.raw.get(field).copied().unwrap_or(false) => {
                Some(BoundValue::Raw(&first.data))
            }
            None => Some(BoundValue::Text(text(first))),
            Some(second) => {
                let mut all = vec![text(first), text(second)];
                all.extend(parts.map(text));
                Some(BoundValue::List(all))
            }
        }
    }

    /// The JSON body of a request: none for a method whose body is raw,
    /// or a request whose body is a form.
    pub fn json_body<'a>(&self, http: &HttpValues<'a>) -> &'a [u8] {
        if self.raw_body || http.form.is_some() {
            b""
        } else {
            http.body
        }
    }
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
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The form the body holds, if it holds one ([`Bindings::form`]).
    pub form: Option<&'a [FormPart<'a>]>,
}

impl<'a> HttpValues<'a> {
    /// What a read request binds from, its form (if any) read.
    pub fn of(req: &'a super::ReadRequest, form: Option<&'a [FormPart<'a>]>) -> Self {
        HttpValues {
            params: &req.params,
            uri: &req.parts.uri,
            headers: &req.parts.headers,
            body: &req.body,
            form,
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
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

    fn values<'a>(
        uri: &'a Uri,
        headers: &'a HeaderMap,
        body: &'a [u8],
        form: Option<&'a [FormPart<'a>]>,
    ) -> HttpValues<'a> {
        HttpValues {
            params: &[],
            uri,
            headers,
            body,
            form,
        }
    }

    #[test]
    fn path_query_header_cookie_raw_body_and_uri() {
        let b = Bindings {
            fields: vec![
                (0, Binding::Path("id".into())),
                (1, Binding::Query("tag".into())),
                (2, Binding::Query("one".into())),
                (3, Binding::Header("x-tenant".into())),
                (4, Binding::Cookie("session".into())),
                (5, Binding::Query("absent".into())),
                (6, Binding::None),
                (7, Binding::RawBody),
                (8, Binding::HttpCode),
                (9, Binding::RawUri),
            ],
            raw_body: true,
            ..Default::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-tenant", HeaderValue::from_static("blue"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; session=\"s 2\""),
        );
        let params = vec![("id".to_string(), "a%2Fb%20c".to_string())];
        let uri: Uri = "/x/a%2Fb%20c?tag=x&tag=y%20z&one=%E2%9C%93"
            .parse()
            .unwrap();
        let http = HttpValues {
            params: &params,
            ..values(&uri, &headers, b"raw", None)
        };
        let bound = b.bind(&http);
        let fields: Vec<usize> = bound.iter().map(|b| b.field).collect();
        assert_eq!(fields, [0, 1, 2, 3, 4, 6, 7, 9]);
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
        assert_eq!(
            text(&bound[7]),
            "/x/a%2Fb%20c?tag=x&tag=y%20z&one=%E2%9C%93"
        );
        assert_eq!(b.json_body(&http), b"");
        let plain = Bindings::default();
        assert_eq!(plain.json_body(&values(&uri, &headers, b"{}", None)), b"{}");
    }

    #[test]
    fn form_bodies_bind_form_and_body_fields() {
        let b = Bindings {
            fields: vec![
                (0, Binding::Form("avatar".into())),
                (1, Binding::Form("avatar.filename".into())),
                (2, Binding::Form("avatar.content_type".into())),
                (4, Binding::Form("tags".into())),
            ],
            body_keys: vec![(3, "title".into()), (5, "absent".into())],
            raw: vec![true, true, true, false, false, false],
            ..Default::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=B"),
        );
        let body = b"--B\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n42\r\n\
            --B\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"me.png\"\r\n\
            Content-Type: image/png\r\n\r\n\x89PNG\r\n\
            --B\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\na\r\n\
            --B\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\nb\r\n--B--\r\n";
        let form = b.form(&headers, body).unwrap().expect("a form");
        let uri: Uri = "/up".parse().unwrap();
        let http = values(&uri, &headers, body, Some(&form));
        let bound = b.bind(&http);
        let fields: Vec<usize> = bound.iter().map(|b| b.field).collect();
        assert_eq!(fields, [0, 1, 2, 3, 4]);
        assert!(matches!(bound[0].value, BoundValue::Raw(b"\x89PNG")));
        assert_eq!(text(&bound[1]), "me.png");
        assert_eq!(text(&bound[2]), "image/png");
        assert_eq!(text(&bound[3]), "42");
        match &bound[4].value {
            BoundValue::List(l) => assert_eq!(l, &["a", "b"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(b.json_body(&http), b"", "a form body is not JSON");
    }

    #[test]
    fn which_bodies_are_forms() {
        let json = Bindings::default();
        let form = Bindings {
            format: BodyFormat::Form,
            ..Default::default()
        };
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            h
        };
        let none = HeaderMap::new();
        assert!(json.form(&none, b"a=1").unwrap().is_none());
        assert!(
            json.form(&with("application/json"), b"{}")
                .unwrap()
                .is_none()
        );
        let parts = json
            .form(&with("application/x-www-form-urlencoded"), b"a=1")
            .unwrap()
            .unwrap();
        assert_eq!(parts[0].name, "a");
        // `curl -d '{…}'` says URL-encoded: the body is JSON all the same.
        let urlencoded = with("application/x-www-form-urlencoded");
        assert!(json.form(&urlencoded, b" {\"a\":1}").unwrap().is_none());
        assert!(form.form(&urlencoded, b"[1]").unwrap().is_none());
        // api.serializer = "form": a body naming no format is a form …
        assert_eq!(form.form(&none, b"a=1").unwrap().unwrap().len(), 1);
        // … and one that says it is JSON is JSON.
        assert!(
            form.form(&with("application/json"), b"{}")
                .unwrap()
                .is_none()
        );
        let e = json.form(&with("multipart/form-data"), b"").unwrap_err();
        assert!(e.message().contains("boundary"), "{}", e.message());
        let raw = Bindings {
            raw_body: true,
            ..Default::default()
        };
        assert!(
            raw.form(&with("application/x-www-form-urlencoded"), b"a=1")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn no_bindings_bind_nothing() {
        let headers = HeaderMap::new();
        let uri: Uri = "/?a=1".parse().unwrap();
        assert!(
            Bindings::default()
                .bind(&values(&uri, &headers, b"{}", None))
                .is_empty()
        );
    }
}
