//! What Kitex Protobuf and gRPC backends share, both described by a
//! `.proto` file: routes from `google.api.http` rules (or
//! `POST /{package.Service}/{Method}`), the request message assembled from
//! path variables, query parameters and the body as grpc-gateway does it,
//! and the message transcoding both ways.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::HeaderMap;
use codecs::form::{self, FormKind};
use codecs::protobuf::{self, PbDecodeOptions, PbEncodeOptions};
use idl::Binding;
use idl::proto::{PathTemplate, ProtoHttpRule, ProtoMethod, ProtoSchema};
use prost_reflect::{Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use super::{Route, RoutePath, RouteSpec};
use crate::backend::BackendSpec;
use crate::config::BackendOptions;
use crate::error::{ApiError, Failure};
use crate::pipeline::CallPolicy;
use axum::http::Method as HttpVerb;

/// The JSON options of a protobuf backend.
pub fn encode_options(opts: &BackendOptions) -> PbEncodeOptions {
    PbEncodeOptions {
        ignore_unknown_fields: !opts.reject_unknown_fields,
        ignore_unknown_enum_values: opts.ignore_unknown_enum_values,
        limits: opts.json_limits(),
    }
}

pub fn decode_options(opts: &BackendOptions) -> PbDecodeOptions {
    PbDecodeOptions {
        emit_defaults: opts.emit_defaults,
        proto_field_names: opts.proto_field_names,
        int64_as_number: !opts.i64_as_string,
        enum_as_number: !opts.enum_as_name,
    }
}

/// One HTTP rule of one protobuf method: what every call through it shares.
pub struct ProtoRoute {
    /// The IDL service name (`Hello`).
    pub service: String,
    pub method: ProtoMethod,
    /// `None` for the default `POST /{package.Service}/{Method}` route (body `*`).
    pub rule: Option<ProtoHttpRule>,
    /// `Service.Method`, as errors name it.
    pub name: String,
    pub encode: PbEncodeOptions,
    pub decode: PbDecodeOptions,
    /// What the call pipeline reads of the method.
    pub policy: Arc<CallPolicy>,
    /// Request fields bound to query parameters, headers or cookies, by
    /// field path: the method's Hertz options, then `[backends.bind]`.
    pub binds: Arc<[(String, Binding)]>,
    /// `options.query_brackets`: query keys may index maps and lists
    /// (`labels[env]=prod`, `items[0].id=1`).
    pub query_brackets: bool,
    /// The request message is `google.api.HttpBody`.
    pub http_body_input: bool,
}

/// Whether a method's options say it may run twice
/// (`idempotency_level = IDEMPOTENT` or `NO_SIDE_EFFECTS`).
pub fn idempotent(m: &ProtoMethod) -> bool {
    m.descriptor
        .method_descriptor_proto()
        .options
        .as_ref()
        .and_then(|o| o.idempotency_level)
        .is_some_and(|level| level == 1 || level == 2)
}

/// The methods of `services` a protobuf backend serves, with their
/// service; `streaming` says whether its protocol serves streaming methods.
pub fn served_proto_methods<'a>(
    services: &'a [String],
    proto: &'a idl::proto::ProtoSchema,
    streaming: bool,
) -> impl Iterator<Item = (&'a idl::proto::ProtoService, &'a idl::proto::ProtoMethod)> {
    proto
        .services
        .iter()
        .filter(|s| services.contains(&s.name))
        .flat_map(move |svc| {
            svc.methods
                .iter()
                .filter(move |m| streaming || (!m.client_streaming && !m.server_streaming))
                .map(move |m| (svc, m))
        })
}

/// The HTTP rules of one protobuf method (prefix not included): its
/// `google.api.http` rules (with their additional bindings), or `POST
/// /{package.Service}/{Method}` (`None`: the whole body is the message)
/// without any.
pub fn proto_method_routes(
    service_full_name: &str,
    m: &idl::proto::ProtoMethod,
) -> Vec<(HttpVerb, String, Option<idl::proto::ProtoHttpRule>)> {
    let mut rules: Vec<_> = m
        .http
        .iter()
        .flat_map(|r| {
            let verbs = if r.method == "ANY" {
                crate::routes::verbs(idl::HttpMethod::Any)
            } else {
                vec![HttpVerb::from_bytes(r.method.as_bytes()).unwrap_or(HttpVerb::POST)]
            };
            verbs
                .into_iter()
                .map(move |v| (v, r.template.as_str().to_string(), Some(r.clone())))
        })
        .collect();
    if rules.is_empty() {
        rules.push((
            HttpVerb::POST,
            format!("/{service_full_name}/{}", m.name),
            None,
        ));
    }
    rules
}

/// The routes of every method of the backend's services; `streaming`
/// says whether the protocol serves streaming methods. `handler` makes the
/// route of one rule.
pub fn routes(
    spec: &BackendSpec,
    proto: &ProtoSchema,
    streaming: bool,
    mut handler: impl FnMut(ProtoRoute) -> Arc<dyn Route>,
) -> Result<Vec<RouteSpec>, String> {
    let mut out = Vec::new();
    for (svc, m) in served_proto_methods(&spec.services, proto, streaming) {
        let rules = proto_method_routes(&svc.full_name, m);
        for (verb, template, rule) in rules {
            out.push(route_spec(
                spec,
                &svc.name,
                m,
                verb,
                &template,
                rule,
                &mut handler,
            )?);
        }
    }
    Ok(out)
}

/// The default `POST {prefix}/{package.Service}/{Method}` route of every
/// method whose path `wanted` accepts (body `*`).
pub fn default_routes(
    spec: &BackendSpec,
    proto: &ProtoSchema,
    streaming: bool,
    wanted: impl Fn(&str) -> bool,
    mut handler: impl FnMut(ProtoRoute) -> Arc<dyn Route>,
) -> Result<Vec<RouteSpec>, String> {
    let mut out = Vec::new();
    for (svc, m) in served_proto_methods(&spec.services, proto, streaming) {
        let template = format!("/{}/{}", svc.full_name, m.name);
        if wanted(&format!("{}{template}", spec.prefix)) {
            out.push(route_spec(
                spec,
                &svc.name,
                m,
                HttpVerb::POST,
                &template,
                None,
                &mut handler,
            )?);
        }
    }
    Ok(out)
}

fn route_spec(
    spec: &BackendSpec,
    service: &str,
    m: &ProtoMethod,
    verb: HttpVerb,
    template: &str,
    rule: Option<ProtoHttpRule>,
    handler: &mut impl FnMut(ProtoRoute) -> Arc<dyn Route>,
) -> Result<RouteSpec, String> {
    let opts = &spec.settings.options;
    let full = format!("{}{}", spec.prefix, template);
    let parsed = PathTemplate::parse(&full)
        .map_err(|e| format!("backend `{}`: route {full}: {e}", spec.name))?;
    let handler = handler(ProtoRoute {
        service: service.to_string(),
        method: m.clone(),
        rule,
        name: spec.method_name(service, &m.name),
        encode: encode_options(opts),
        decode: decode_options(opts),
        policy: spec.policy(service, &m.name, idempotent(m)),
        binds: binds_of(spec, m),
        query_brackets: opts.query_brackets,
        http_body_input: is_http_body(&m.descriptor.input()),
    });
    Ok(RouteSpec {
        verb,
        path: RoutePath::Template(parsed),
        service: service.to_string(),
        method: m.name.clone(),
        handler,
    })
}

/// The fields a method's requests bind from query, headers and cookies:
/// its Hertz options, then the backend's `[backends.bind]` headers for
/// the fields its request message has.
fn binds_of(spec: &BackendSpec, m: &ProtoMethod) -> Arc<[(String, Binding)]> {
    let input = m.descriptor.input();
    let mut out = m.binds.clone();
    for (header, path) in &spec.settings.bind {
        if idl::proto::field_at(&input, path).is_some() {
            out.push((path.clone(), Binding::Header(header.to_ascii_lowercase())));
        }
    }
    out.into()
}

/// The admin API's description of each method of the backend's services.
pub fn methods(spec: &BackendSpec, proto: &ProtoSchema) -> Vec<Value> {
    let mut out = Vec::new();
    for svc in proto
        .services
        .iter()
        .filter(|s| spec.services.contains(&s.name))
    {
        for m in &svc.methods {
            out.push(json!({"service": svc.name, "method": m.name,
                "client_streaming": m.client_streaming, "server_streaming": m.server_streaming}));
        }
    }
    out
}

fn bad(m: String) -> ApiError {
    ApiError::from(Failure::Input(m))
}

impl ProtoRoute {
    /// The request message as JSON text: the body itself when it is the
    /// whole message (`body: "*"` and no path variables), else assembled by
    /// [`ProtoRoute::request_json`].
    pub fn request_body<'b>(
        &self,
        vars: &[(String, String)],
        query: Option<&str>,
        headers: &HeaderMap,
        body: &'b [u8],
    ) -> Result<Cow<'b, [u8]>, ApiError> {
        let whole_body = match &self.rule {
            None => true,
            Some(r) => r.body.as_deref() == Some("*"),
        };
        let first = body.iter().find(|c| !c.is_ascii_whitespace());
        if whole_body
            && vars.is_empty()
            && self.binds.is_empty()
            && !self.http_body_input
            && matches!(first, None | Some(b'{'))
        {
            return Ok(Cow::Borrowed(body));
        }
        let v = self.request_json(vars, query, headers, body)?;
        Ok(Cow::Owned(serde_json::to_vec(&v).expect("JSON value")))
    }

    /// The request message as JSON: the body (per the rule's `body`), then
    /// query parameters for fields the path and body do not set, then
    /// the fields bound to query parameters, headers and cookies (Hertz
    /// options, `[backends.bind]`), then path variables (which win), as
    /// grpc-gateway merges them.
    pub fn request_json(
        &self,
        vars: &[(String, String)],
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input = self.method.descriptor.input();
        let body_rule = match &self.rule {
            None => Some("*"),
            Some(r) => r.body.as_deref(),
        };
        // A body that is a `google.api.HttpBody` (the request message, or
        // the field `body` names) is taken raw, with its content type.
        let raw_target = match body_rule {
            Some("*") => self.http_body_input,
            Some(field) => input
                .get_field_by_name(field)
                .and_then(|f| f.kind().as_message().map(is_http_body))
                .unwrap_or(false),
            None => false,
        };
        let ct = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let parsed = || -> Result<Value, ApiError> {
            use base64::Engine as _;
            let b64 = &base64::engine::general_purpose::STANDARD;
            if raw_target {
                return Ok(json!({"contentType": ct, "data": b64.encode(body)}));
            }
            // A form body, as Hertz binds one: each name a field path of the
            // body's message, repeated names a list; bytes fields take the
            // part's bytes (a file's content).
            let form_kind = match FormKind::of(ct) {
                Some(Ok(FormKind::UrlEncoded)) if form::looks_like_json(body) => None,
                // (api.serializer) = "form": a body naming no format is one.
                None if self.method.body_format == idl::BodyFormat::Form
                    && !ct.contains("json")
                    && !form::looks_like_json(body) =>
                {
                    Some(Ok(FormKind::UrlEncoded))
                }
                other => other,
            };
            if let Some(kind) = form_kind {
                let kind = kind.map_err(|e| bad(format!("$: {e}")))?;
                let parts = form::parse(&kind, body).map_err(|e| bad(format!("$: {e}")))?;
                let target = match body_rule {
                    Some("*") => Some(input.clone()),
                    Some(f) => input
                        .get_field_by_name(f)
                        .and_then(|f| f.kind().as_message().cloned()),
                    None => None,
                };
                let Some(target) = target else {
                    return Err(bad(
                        "$: a form body for a field that is not a message".into()
                    ));
                };
                let mut obj = Map::new();
                for p in &parts {
                    let Some(f) = idl::proto::field_at(&target, &p.name) else {
                        continue; // as unknown JSON keys are
                    };
                    let value = match f.kind() {
                        Kind::Bytes => Value::String(b64.encode(&p.data)),
                        kind => scalar(&kind, &String::from_utf8_lossy(&p.data)),
                    };
                    set_path(&mut obj, &p.name, value, f.is_list())
                        .map_err(|e| bad(format!("$.{}: {e}", p.name)))?;
                }
                return Ok(Value::Object(obj));
            }
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Object(Map::new()));
            }
            serde_json::from_slice(body).map_err(|e| bad(format!("$: {e}")))
        };
        let mut msg = match body_rule {
            Some("*") => match parsed()? {
                Value::Object(m) => m,
                other => {
                    return Err(bad(format!(
                        "$: expected an object, found {}",
                        kind_of(&other)
                    )));
                }
            },
            Some(field) => {
                let mut m = Map::new();
                m.insert(field.to_string(), parsed()?);
                m
            }
            None => Map::new(),
        };
        let mask = self.body_mask(&msg, body_rule);
        if body_rule != Some("*")
            && let Some(q) = query
        {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                if vars.iter().any(|(p, _)| *p == k) || body_rule == Some(k.as_ref()) {
                    continue;
                }
                if self.query_brackets && k.contains('[') {
                    set_bracketed(&input, &mut msg, &k, &v)
                        .map_err(|e| bad(format!("$.{k}: {e}")))?;
                    continue;
                }
                let Some((kind, repeated)) = field_kind(&input, &k) else {
                    continue; // unknown query parameters are ignored, as grpc-gateway does
                };
                let value = scalar(&kind, &v);
                set_path(&mut msg, &k, value, repeated).map_err(|e| bad(format!("$.{k}: {e}")))?;
            }
        }
        if !self.binds.is_empty() {
            let pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = query
                .map(|q| form_urlencoded::parse(q.as_bytes()).collect())
                .unwrap_or_default();
            for (path, binding) in self.binds.iter() {
                let values: Vec<Cow<'_, str>> = match binding {
                    Binding::Query(name) => pairs
                        .iter()
                        .filter(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                        .collect(),
                    Binding::Header(name) => headers
                        .get_all(name.as_str())
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .map(Cow::Borrowed)
                        .collect(),
                    Binding::Cookie(name) => super::thrift_http::cookie(headers, name)
                        .into_iter()
                        .collect(),
                    _ => continue,
                };
                let Some((kind, repeated)) = field_kind(&input, path) else {
                    continue;
                };
                if repeated {
                    for v in &values {
                        set_path(&mut msg, path, scalar(&kind, v), true)
                            .map_err(|e| bad(format!("$.{path}: {e}")))?;
                    }
                } else if let Some(v) = values.last() {
                    set_path(&mut msg, path, scalar(&kind, v), false)
                        .map_err(|e| bad(format!("$.{path}: {e}")))?;
                }
            }
        }
        for (path, v) in vars {
            let value = match field_kind(&input, path) {
                Some((kind, _)) => scalar(&kind, v),
                None => {
                    return Err(bad(format!(
                        "$.{path}: no such field in {}",
                        input.full_name()
                    )));
                }
            };
            set_path(&mut msg, path, value, false).map_err(|e| bad(format!("$.{path}: {e}")))?;
        }
        if let Some((mask, paths)) = mask
            && !msg.contains_key(&mask)
            && !msg.contains_key(&camel_of(&input, &mask))
        {
            msg.insert(mask, Value::String(paths));
        }
        Ok(Value::Object(msg))
    }

    /// A PATCH whose body is one field, and whose request has a
    /// `google.protobuf.FieldMask` field the client left unset, gets the
    /// mask of the keys its body sets, as grpc-gateway fills it: paths
    /// relative to the body's message (AIP-134's `update_mask`), one per
    /// leaf, through nested messages (a map, a list or a well-known type
    /// is a leaf).
    /// `None` when the request has no such mask field or the body is
    /// not one field of a PATCH; else the mask field's name and its paths
    /// (JSON form: comma-separated lowerCamel paths). Computed from the
    /// body alone, before query parameters and path variables join it.
    fn body_mask(
        &self,
        msg: &Map<String, Value>,
        body_rule: Option<&str>,
    ) -> Option<(String, String)> {
        let rule = self.rule.as_ref()?;
        let field = body_rule.filter(|b| *b != "*")?;
        if rule.method != "PATCH" {
            return None;
        }
        let input = self.method.descriptor.input();
        let mask = input.fields().find(|f| {
            f.kind()
                .as_message()
                .is_some_and(|m| m.full_name() == "google.protobuf.FieldMask")
        })?;
        let (Some(target), Some(Value::Object(body))) = (
            input
                .get_field_by_name(field)
                .and_then(|f| f.kind().as_message().cloned()),
            msg.get(field),
        ) else {
            return None;
        };
        fn walk(
            desc: &MessageDescriptor,
            obj: &Map<String, Value>,
            prefix: &str,
            out: &mut Vec<String>,
        ) {
            for (k, v) in obj {
                let Some(f) = desc
                    .get_field_by_name(k)
                    .or_else(|| desc.get_field_by_json_name(k))
                else {
                    continue;
                };
                let path = format!("{prefix}{}", f.json_name());
                match (f.kind().as_message(), v) {
                    (Some(m), Value::Object(inner))
                        if !f.is_map() && !f.is_list() && !is_wkt(m) =>
                    {
                        walk(m, inner, &format!("{path}."), out)
                    }
                    _ => out.push(path),
                }
            }
        }
        let mut paths = Vec::new();
        walk(&target, body, "", &mut paths);
        Some((mask.name().to_string(), paths.join(",")))
    }

    /// A read request (path variables, query, body) as protobuf bytes of
    /// the method's input.
    pub fn encode(&self, req: &super::ReadRequest) -> Result<Vec<u8>, ApiError> {
        let json = self.request_body(
            &req.params,
            req.parts.uri.query(),
            &req.parts.headers,
            &req.body,
        )?;
        self.encode_request(&json)
    }

    /// The request JSON as protobuf bytes of the method's input, its
    /// `(api.vd)` rules checked first.
    pub fn encode_request(&self, json: &[u8]) -> Result<Vec<u8>, ApiError> {
        let input = self.method.descriptor.input();
        if !self.method.rules.is_empty() {
            check_rules(&input, &self.method.rules, json)?;
        }
        let mut message = Vec::with_capacity(json.len() + 16);
        protobuf::json_to_message(&input, json, &self.encode, &mut message)
            .map_err(|e| bad(e.to_string()))?;
        Ok(message)
    }

    /// The HTTP response of one reply message: JSON (all of it, or its
    /// `response_body` field), or, when that is a `google.api.HttpBody`,
    /// its data with its content type.
    pub fn response(
        &self,
        message: &[u8],
        from: &str,
    ) -> Result<axum::response::Response, ApiError> {
        let output = self.method.descriptor.output();
        let field = self.rule.as_ref().and_then(|r| r.response_body.as_deref());
        let body_desc = match field {
            None => Some(output.clone()),
            Some(f) => output
                .get_field_by_name(f)
                .and_then(|f| f.kind().as_message().cloned()),
        };
        if body_desc.as_ref().is_some_and(is_http_body) {
            let bad_reply = |e: String| {
                ApiError::from(Failure::BadReply(format!("bad reply from {from}: {e}")))
            };
            let msg = prost_reflect::DynamicMessage::decode(output, message)
                .map_err(|e| bad_reply(e.to_string()))?;
            let body = match field {
                None => msg,
                Some(f) => match msg.get_field_by_name(f).as_deref() {
                    Some(prost_reflect::Value::Message(m)) => m.clone(),
                    _ => return Err(bad_reply(format!("no {f}"))),
                },
            };
            let ct = match body.get_field_by_name("content_type").as_deref() {
                Some(prost_reflect::Value::String(s)) if !s.is_empty() => s.clone(),
                _ => "application/octet-stream".to_string(),
            };
            let data = match body.get_field_by_name("data").as_deref() {
                Some(prost_reflect::Value::Bytes(b)) => b.clone(),
                _ => Default::default(),
            };
            let mut resp = axum::response::Response::new(axum::body::Body::from(data));
            if let Ok(v) = axum::http::HeaderValue::try_from(ct) {
                resp.headers_mut()
                    .insert(axum::http::header::CONTENT_TYPE, v);
            }
            return Ok(resp);
        }
        let full = self.decode_response(message, from)?;
        let mut out = Vec::with_capacity(full.len());
        self.write_response(&full, &mut out);
        Ok(super::json_response(crate::error::reply_status(None), out))
    }

    /// Decodes a response message to JSON (all of it; see `write_response`).
    pub fn decode_response(&self, body: &[u8], from: &str) -> Result<Vec<u8>, ApiError> {
        let output = self.method.descriptor.output();
        let mut full = Vec::with_capacity(body.len() * 2 + 16);
        protobuf::message_to_json(&output, body, &self.decode, &mut full)
            .map_err(|e| Failure::BadReply(format!("bad reply from {from}: {e}")))?;
        Ok(full)
    }

    /// Writes the response JSON, or only its `response_body` field.
    pub fn write_response(&self, full: &[u8], out: &mut Vec<u8>) {
        match self.rule.as_ref().and_then(|r| r.response_body.as_deref()) {
            None => out.extend_from_slice(full),
            Some(field) => {
                let output = self.method.descriptor.output();
                let v: Value = serde_json::from_slice(full).unwrap_or(Value::Null);
                let key = output.get_field_by_name(field).map(|f| {
                    if self.decode.proto_field_names {
                        f.name().to_string()
                    } else {
                        f.json_name().to_string()
                    }
                });
                let part = key.and_then(|k| v.get(&k).cloned()).unwrap_or(Value::Null);
                out.extend_from_slice(&serde_json::to_vec(&part).expect("JSON value"));
            }
        }
    }
}

/// The most elements a bracketed query key may index into one list.
const MAX_QUERY_INDEX: usize = 1000;

/// Sets the value a bracketed query key names (`labels[env]`,
/// `items[0].id`, `a.b[k].c`): `[key]` indexes a map field, `[i]` a list
/// field (indexes count up from 0: the next index appends, an earlier one
/// sets into that element), `.name` a message field. An unknown field is
/// ignored, as other query parameters are; a key that does not fit the
/// message is an error.
fn set_bracketed(
    input: &MessageDescriptor,
    msg: &mut Map<String, Value>,
    key: &str,
    value: &str,
) -> Result<(), String> {
    // Segments: names and bracketed texts, in order.
    enum Seg<'k> {
        Name(&'k str),
        Index(&'k str),
    }
    let mut segs = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or("an unclosed `[`")?;
            segs.push(Seg::Index(&r[..end]));
            rest = &r[end + 1..];
        } else {
            let r = rest.strip_prefix('.').unwrap_or(rest);
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err("an empty field name".into());
            }
            segs.push(Seg::Name(&r[..end]));
            rest = &r[end..];
        }
    }
    let mut desc = input.clone();
    let mut cur: &mut Value = &mut Value::Null;
    let mut root = Some(msg);
    let mut i = 0;
    while i < segs.len() {
        let Seg::Name(name) = segs[i] else {
            return Err("an index must follow a field name".into());
        };
        let Some(f) = desc
            .get_field_by_name(name)
            .or_else(|| desc.get_field_by_json_name(name))
        else {
            return Ok(());
        };
        let obj = match root.take() {
            Some(m) => m,
            None => match cur {
                Value::Object(m) => m,
                _ => return Err(format!("`{name}` is not in a message")),
            },
        };
        let last = i + 1 == segs.len();
        let slot = obj.entry(f.name().to_string()).or_insert(Value::Null);
        i += 1;
        let elem_kind = if f.is_map() {
            let Some(Seg::Index(k)) = segs.get(i) else {
                return Err(format!("map field `{name}` needs a [key]"));
            };
            i += 1;
            if slot.is_null() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(m) = slot else {
                return Err(format!("`{name}` is set both as a map and otherwise"));
            };
            let entry = f.kind();
            let value_field = entry
                .as_message()
                .expect("a map entry")
                .map_entry_value_field();
            cur = m.entry(k.to_string()).or_insert(Value::Null);
            value_field.kind()
        } else if f.is_list() {
            match segs.get(i) {
                Some(Seg::Index(n)) => {
                    i += 1;
                    let n: usize = n
                        .parse()
                        .map_err(|_| format!("`{name}[{n}]`: not a list index"))?;
                    if n >= MAX_QUERY_INDEX {
                        return Err(format!("`{name}[{n}]`: indexes stop at {MAX_QUERY_INDEX}"));
                    }
                    if slot.is_null() {
                        *slot = Value::Array(Vec::new());
                    }
                    let Value::Array(a) = slot else {
                        return Err(format!("`{name}` is set both as a list and otherwise"));
                    };
                    if n > a.len() {
                        return Err(format!("`{name}[{n}]` before `{name}[{}]`", a.len()));
                    }
                    if n == a.len() {
                        a.push(Value::Null);
                    }
                    cur = &mut a[n];
                    f.kind()
                }
                _ => {
                    // `tags=a&tags=b`, as without brackets.
                    if slot.is_null() {
                        *slot = Value::Array(Vec::new());
                    }
                    let Value::Array(a) = slot else {
                        return Err(format!("`{name}` is set both as a list and otherwise"));
                    };
                    if !last {
                        return Err(format!("list field `{name}` needs an [index]"));
                    }
                    a.push(scalar(&f.kind(), value));
                    return Ok(());
                }
            }
        } else {
            cur = slot;
            f.kind()
        };
        if i == segs.len() {
            *cur = scalar(&elem_kind, value);
            return Ok(());
        }
        match elem_kind {
            Kind::Message(m) => {
                if cur.is_null() {
                    *cur = Value::Object(Map::new());
                }
                desc = m;
            }
            _ => return Err(format!("`{name}` holds no fields")),
        }
    }
    Ok(())
}

/// Checks `(api.vd)` rules on a request message's JSON, nested messages
/// (in lists and map values too) included: a field the JSON leaves out is
/// its proto3 zero (`nil` for messages and `optional` fields); `(Name)$`
/// finds a sibling by proto, JSON or Go name. 400 naming the field and the
/// rule (or its message).
fn check_rules(
    input: &MessageDescriptor,
    rules: &[(String, String, Arc<idl::vd::Rule>)],
    json: &[u8],
) -> Result<(), ApiError> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(json) else {
        // The encoder names what is wrong with the body.
        return Ok(());
    };
    walk_rules(input, rules, &obj, &mut "$".to_string()).map_err(bad)
}

fn walk_rules(
    desc: &MessageDescriptor,
    rules: &[(String, String, Arc<idl::vd::Rule>)],
    obj: &Map<String, Value>,
    path: &mut String,
) -> Result<(), String> {
    let value_of = |f: &prost_reflect::FieldDescriptor| -> Value {
        let v = obj.get(f.name()).or_else(|| obj.get(f.json_name()));
        match (v, f.kind()) {
            (Some(Value::Null) | None, _) if f.supports_presence() => Value::Null,
            (Some(Value::Null) | None, _) if f.is_list() || f.is_map() => Value::Null,
            (Some(Value::Null) | None, Kind::Bool) => Value::Bool(false),
            (Some(Value::Null) | None, Kind::String | Kind::Bytes) => Value::String(String::new()),
            (Some(Value::Null) | None, Kind::Message(_)) => Value::Null,
            (Some(Value::Null) | None, _) => Value::from(0),
            (Some(Value::String(s)), k)
                if !matches!(k, Kind::String | Kind::Bytes | Kind::Enum(_)) =>
            {
                s.parse::<f64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(s.clone()))
            }
            (Some(v), _) => v.clone(),
        }
    };
    for (msg, name, rule) in rules {
        if msg != desc.full_name() {
            continue;
        }
        let Some(f) = desc.get_field_by_name(name) else {
            continue;
        };
        let sibling = |n: &str| {
            desc.fields()
                .find(|s| s.name() == n || s.json_name() == n || idl::vd::go_name(s.name()) == n)
                .map(|s| value_of(&s))
        };
        rule.check(&value_of(&f), &sibling)
            .map_err(|m| format!("{path}.{}: {m}", f.json_name()))?;
    }
    for f in desc.fields() {
        let Kind::Message(m) = f.kind() else { continue };
        let Some(v) = obj.get(f.name()).or_else(|| obj.get(f.json_name())) else {
            continue;
        };
        let len = path.len();
        match v {
            Value::Array(items) if f.is_list() => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Object(o) = item {
                        path.push_str(&format!(".{}[{i}]", f.json_name()));
                        walk_rules(&m, rules, o, path)?;
                        path.truncate(len);
                    }
                }
            }
            Value::Object(entries) if f.is_map() => {
                if let Some(vm) = m.map_entry_value_field().kind().as_message().cloned() {
                    for (k, item) in entries {
                        if let Value::Object(o) = item {
                            path.push_str(&format!(".{}[{k:?}]", f.json_name()));
                            walk_rules(&vm, rules, o, path)?;
                            path.truncate(len);
                        }
                    }
                }
            }
            Value::Object(o) => {
                path.push('.');
                path.push_str(f.json_name());
                walk_rules(&m, rules, o, path)?;
                path.truncate(len);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a message is `google.api.HttpBody`: a body of any content type.
pub(super) fn is_http_body(m: &MessageDescriptor) -> bool {
    m.full_name() == "google.api.HttpBody"
}

/// The JSON name of field `name` of `desc` (itself when there is none).
fn camel_of(desc: &MessageDescriptor, name: &str) -> String {
    desc.get_field_by_name(name)
        .map_or_else(|| name.to_string(), |f| f.json_name().to_string())
}

/// A well-known type with a JSON form of its own (a `Timestamp` is a
/// string, a `Struct` any object): a leaf of a field mask.
fn is_wkt(m: &MessageDescriptor) -> bool {
    m.package_name() == "google.protobuf"
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The kind of the field at a dotted path (proto or JSON names) and whether it repeats.
fn field_kind(desc: &MessageDescriptor, path: &str) -> Option<(Kind, bool)> {
    idl::proto::field_at(desc, path).map(|f| (f.kind(), f.is_list()))
}

/// A text value as the JSON the proto3 mapping expects for `kind`
/// (numbers and enums may stay strings; bools may not).
fn scalar(kind: &Kind, v: &str) -> Value {
    match kind {
        Kind::Bool => match v {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(v.to_string()),
        },
        // Enums by name, or by number as grpc-gateway reads them.
        Kind::Enum(_) => match v.parse::<i32>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::String(v.to_string()),
        },
        _ => Value::String(v.to_string()),
    }
}

/// Sets `a.b.c` in a JSON object, creating objects on the way; with
/// `append`, the value is pushed onto an array.
fn set_path(
    obj: &mut Map<String, Value>,
    path: &str,
    value: Value,
    append: bool,
) -> Result<(), String> {
    let mut cur = obj;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            if append {
                match cur
                    .entry(p.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    Value::Array(a) => a.push(value),
                    _ => return Err("set both as a list and as a value".into()),
                }
            } else {
                cur.insert(p.to_string(), value);
            }
            return Ok(());
        }
        let next = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        cur = match next {
            Value::Object(m) => m,
            _ => return Err(format!("`{p}` is not a message")),
        };
    }
    Ok(())
}
