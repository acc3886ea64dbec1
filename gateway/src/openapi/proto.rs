//! The OpenAPI operations and schemas of backends described by `.proto`
//! files (Kitex Protobuf and gRPC), every route as the gateway serves it
//! (README "gRPC and Kitex Protobuf"): the `google.api.http` rules and their
//! additional bindings, or the default `POST /{package.Service}/{Method}`;
//! path variables as path parameters (with the pattern of their template),
//! the rule's `body` as the JSON body and the fields left as query
//! parameters (dotted for nested messages); `response_body` as the answer.
//! Server-streaming answers are described as newline-delimited JSON and
//! Server-Sent Events, client-streaming and bidirectional requests as
//! newline-delimited JSON, one message per line.
//!
//! Schemas follow the proto3 JSON mapping with the backend's options: every
//! message and enum reached is one component keyed `<backend>.<full name>`
//! (`hello-grpc.hello.AddRequest`); the well-known types are their JSON
//! forms (a `Timestamp` is an RFC 3339 string, a wrapper its value).

use std::collections::{HashMap, HashSet};

use codecs::protobuf::PbDecodeOptions;
use idl::proto::{ProtoMethod, ProtoSchema, field_at};
use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use super::{Doc, Document, INTEGER_TEXT, SCHEMAS, integer, path_item, response_ref};
use crate::backend::BackendSpec;
use crate::protocol::proto::{proto_method_routes, served_proto_methods};

/// How deep query parameters go into nested messages (`a.b.c`).
const QUERY_DEPTH: usize = 3;

impl Document {
    /// Adds every route of a backend described by `.proto` files;
    /// `streaming` says whether its protocol serves streaming methods.
    pub fn add_proto(
        &mut self,
        spec: &BackendSpec,
        proto: &ProtoSchema,
        decode: &PbDecodeOptions,
        streaming: bool,
    ) {
        let mut g = ProtoGen {
            name: &spec.name,
            opts: decode,
            doc: &mut self.doc,
            keys: HashMap::new(),
            pending: Vec::new(),
        };
        for (svc, m) in served_proto_methods(&spec.services, proto, streaming) {
            for (nth, (verb, template, rule)) in proto_method_routes(&svc.full_name, m)
                .into_iter()
                .enumerate()
            {
                let Ok(t) = idl::proto::PathTemplate::parse(&format!("{}{template}", spec.prefix))
                else {
                    continue; // refused when the routes were built
                };
                let (path, vars) = t.openapi();
                let verb = verb.as_str().to_ascii_lowercase();
                let item = path_item(&mut self.paths, path);
                if item.get(&verb).is_some() {
                    continue; // a route claimed twice never makes it into a route table
                }
                let body = match &rule {
                    None => Some("*"),
                    Some(r) => r.body.as_deref(),
                };
                let response = rule.as_ref().and_then(|r| r.response_body.as_deref());
                let op = g.operation(&svc.name, m, &verb, &vars, body, response, nth);
                item[verb.as_str()] = op;
            }
        }
        g.flush();
        self.tag(spec);
    }
}

/// Schemas of one protobuf backend: messages and enums become components on first use.
struct ProtoGen<'a> {
    name: &'a str,
    opts: &'a PbDecodeOptions,
    doc: &'a mut Doc,
    /// Full names of messages and enums to their component keys.
    keys: HashMap<String, String>,
    /// Messages referenced whose component is not written yet.
    pending: Vec<MessageDescriptor>,
}

/// The JSON form of a well-known type, when `m` is one.
fn well_known(m: &MessageDescriptor) -> Option<Value> {
    let wrapper = |s: Value| {
        let mut s = s;
        s["description"] = json!(format!("`{}`: the wrapped value", m.full_name()));
        Some(s)
    };
    match m.full_name() {
        "google.protobuf.Timestamp" => Some(json!({"type": "string", "format": "date-time",
            "description": "`google.protobuf.Timestamp`: RFC 3339, `Z` or an offset"})),
        "google.protobuf.Duration" => Some(json!({"type": "string",
            "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
            "description": "`google.protobuf.Duration`: seconds with an `s`, e.g. `1.5s`"})),
        "google.protobuf.FieldMask" => Some(json!({"type": "string",
            "description": "`google.protobuf.FieldMask`: paths in lowerCamelCase, comma separated"})),
        "google.protobuf.Struct" => Some(json!({"type": "object",
            "description": "`google.protobuf.Struct`: any JSON object"})),
        "google.protobuf.Value" => {
            Some(json!({"description": "`google.protobuf.Value`: any JSON value"}))
        }
        "google.protobuf.ListValue" => Some(json!({"type": "array",
            "description": "`google.protobuf.ListValue`: any JSON array"})),
        "google.protobuf.Empty" => Some(json!({"type": "object", "additionalProperties": false,
            "description": "`google.protobuf.Empty`: `{}`"})),
        "google.protobuf.Any" => Some(json!({"type": "object", "required": ["@type"],
            "properties": {"@type": {"type": "string", "description": "`type.googleapis.com/` and the message's full name"}},
            "examples": [{"@type": "type.googleapis.com/google.protobuf.Empty", "value": {}}],
            "description": "`google.protobuf.Any`: the message's JSON with its `@type` (a well-known type's JSON under `value`)"})),
        "google.protobuf.BoolValue" => wrapper(json!({"type": "boolean"})),
        "google.protobuf.StringValue" => wrapper(json!({"type": "string"})),
        "google.protobuf.BytesValue" => {
            wrapper(json!({"type": "string", "contentEncoding": "base64"}))
        }
        "google.protobuf.Int32Value" => wrapper(integer("int32", i32::MIN.into(), i32::MAX.into())),
        "google.protobuf.UInt32Value" => wrapper(integer("int32", 0, u32::MAX.into())),
        "google.protobuf.Int64Value" => wrapper(
            json!({"type": ["string", "integer"], "format": "int64", "pattern": INTEGER_TEXT}),
        ),
        "google.protobuf.UInt64Value" => wrapper(
            json!({"type": ["string", "integer"], "format": "uint64", "pattern": "^[0-9]+$"}),
        ),
        "google.protobuf.FloatValue" | "google.protobuf.DoubleValue" => wrapper(floating()),
        _ => None,
    }
}

fn floating() -> Value {
    json!({"oneOf": [
        {"type": "number"},
        {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]},
    ]})
}

impl ProtoGen<'_> {
    /// A message's schema: its well-known form, or a reference to its component.
    fn message(&mut self, m: &MessageDescriptor) -> Value {
        if let Some(s) = well_known(m) {
            return s;
        }
        let key = match self.keys.get(m.full_name()) {
            Some(k) => k.clone(),
            None => {
                let k = self
                    .doc
                    .new_key(&format!("{}.{}", self.name, m.full_name()));
                self.keys.insert(m.full_name().to_string(), k.clone());
                self.pending.push(m.clone());
                k
            }
        };
        json!({ "$ref": format!("{SCHEMAS}{key}") })
    }

    fn enum_ref(&mut self, e: &EnumDescriptor) -> Value {
        if e.full_name() == "google.protobuf.NullValue" {
            return json!({"type": "null"});
        }
        let key = match self.keys.get(e.full_name()) {
            Some(k) => k.clone(),
            None => {
                let k = self
                    .doc
                    .new_key(&format!("{}.{}", self.name, e.full_name()));
                self.keys.insert(e.full_name().to_string(), k.clone());
                let numbers = json!({"type": "integer", "format": "int32",
                    "enum": e.values().map(|v| v.number()).collect::<Vec<_>>()});
                let names = json!({"type": "string",
                    "enum": e.values().map(|v| v.name().to_string()).collect::<Vec<_>>()});
                let (any, written) = if self.opts.enum_as_number {
                    ([numbers, names], "numbers")
                } else {
                    ([names, numbers], "names")
                };
                let listing = e
                    .values()
                    .map(|v| format!("{} = {}", v.name(), v.number()))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.doc.schemas.insert(
                    k.clone(),
                    json!({"title": e.name(), "anyOf": any, "description": format!(
                        "Protobuf enum `{}`: {listing}. Written as {written}; names and numbers are accepted.",
                        e.full_name()
                    )}),
                );
                k
            }
        };
        json!({ "$ref": format!("{SCHEMAS}{key}") })
    }

    /// Writes the components of every message referenced so far (and of what they reference).
    fn flush(&mut self) {
        while let Some(m) = self.pending.pop() {
            let s = self.message_schema(&m);
            let key = self.keys[m.full_name()].clone();
            self.doc.schemas.insert(key, s);
        }
    }

    fn message_schema(&mut self, m: &MessageDescriptor) -> Value {
        let mut props = Map::new();
        for f in m.fields() {
            let mut s = self.field(&f);
            if let Some(o) = f.containing_oneof().filter(|o| !o.is_synthetic()) {
                // Which members exclude each other, for examples and forms.
                s["x-oneof"] = json!(o.name());
            }
            props.insert(self.json_name(&f), s);
        }
        let mut description = format!("Protobuf message `{}`", m.full_name());
        let oneofs: Vec<String> = m
            .oneofs()
            .filter(|o| !o.is_synthetic())
            .map(|o| {
                let names: Vec<String> = o
                    .fields()
                    .map(|f| format!("`{}`", self.json_name(&f)))
                    .collect();
                format!("`{}` ({})", o.name(), names.join(", "))
            })
            .collect();
        if !oneofs.is_empty() {
            description.push_str(&format!(
                "; at most one field of each oneof is set: {}",
                oneofs.join("; ")
            ));
        }
        json!({"title": m.name(), "type": "object", "properties": props, "description": description})
    }

    /// The key a field is written under (either name is accepted).
    fn json_name(&self, f: &FieldDescriptor) -> String {
        if self.opts.proto_field_names {
            f.name().to_string()
        } else {
            f.json_name().to_string()
        }
    }

    /// A field's schema, with its description.
    fn field(&mut self, f: &FieldDescriptor) -> Value {
        let mut s = if f.is_map() {
            let Kind::Message(entry) = f.kind() else {
                unreachable!("a map field's kind is its entry message")
            };
            let key = entry.map_entry_key_field();
            let value = entry.map_entry_value_field();
            let mut s = json!({"type": "object", "additionalProperties": self.kind(&value.kind())});
            if !matches!(key.kind(), Kind::String) {
                s["propertyNames"] = json!({"pattern": if matches!(key.kind(), Kind::Bool) {
                    "^(true|false)$"
                } else {
                    INTEGER_TEXT
                }});
            }
            s
        } else if f.is_list() {
            json!({"type": "array", "items": self.kind(&f.kind())})
        } else {
            self.kind(&f.kind())
        };
        let mut d = format!("Protobuf field {} `{}`", f.number(), f.name());
        if f.json_name() != f.name() {
            d.push_str(&format!(
                "; `{}` is accepted too",
                if self.opts.proto_field_names {
                    f.json_name()
                } else {
                    f.name()
                }
            ));
        }
        if f.field_descriptor_proto().proto3_optional() {
            d.push_str("; optional (presence kept)");
        }
        if s.get("$ref").is_some() {
            // Siblings of `$ref` are allowed in 3.1 and keep the description.
            s["description"] = json!(d);
        } else if s.get("description").is_none() {
            s["description"] = json!(d);
        }
        s
    }

    /// The schema of a value of kind `k`.
    fn kind(&mut self, k: &Kind) -> Value {
        let int64 = |format: &str, pattern: &str| {
            let types = if self.opts.int64_as_number {
                ["integer", "string"]
            } else {
                ["string", "integer"]
            };
            json!({"type": types, "format": format, "pattern": pattern})
        };
        match k {
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                integer("int32", i32::MIN.into(), i32::MAX.into())
            }
            Kind::Uint32 | Kind::Fixed32 => integer("int64", 0, u32::MAX.into()),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => int64("int64", INTEGER_TEXT),
            Kind::Uint64 | Kind::Fixed64 => int64("uint64", "^[0-9]+$"),
            Kind::Float | Kind::Double => floating(),
            Kind::Enum(e) => self.enum_ref(e),
            Kind::Message(m) => self.message(m),
        }
    }

    /// One operation: route `nth` of method `m`.
    #[allow(clippy::too_many_arguments)]
    fn operation(
        &mut self,
        service: &str,
        m: &ProtoMethod,
        verb: &str,
        vars: &[(String, String)],
        body: Option<&str>,
        response: Option<&str>,
        nth: usize,
    ) -> Value {
        let base_id = format!("{}.{service}.{}", self.name, m.name);
        let op_id = self.doc.op_id(base_id, nth, nth);
        let input = m.descriptor.input();
        let output = m.descriptor.output();
        let kind = match (m.client_streaming, m.server_streaming) {
            (false, false) => "unary",
            (false, true) => "server-streaming",
            (true, false) => "client-streaming",
            (true, true) => "bidirectional",
        };
        let mut op = json!({
            "operationId": op_id,
            "tags": [self.name],
            "summary": format!("{service}.{}", m.name),
            "description": format!(
                "Protobuf method `{}` ({kind}): `{}` to `{}`",
                m.descriptor.full_name(),
                input.full_name(),
                output.full_name()
            ),
        });

        // Path variables, then the fields neither the path nor the body sets as query parameters.
        let mut params = Vec::new();
        let mut taken: HashSet<String> = HashSet::new();
        for (name, pattern) in vars {
            let mut schema = match field_at(&input, name) {
                Some(f) if !f.is_list() && !f.is_map() => self.kind(&f.kind()),
                _ => json!({"type": "string"}),
            };
            schema.as_object_mut().map(|o| o.remove("description"));
            let mut p = json!({"name": name, "in": "path", "required": true, "schema": schema});
            if pattern != "^[^/]+$" {
                p["description"] =
                    json!(format!("Matches `{pattern}`; its `/` are sent as they are"));
                p["schema"] = json!({"type": "string", "pattern": pattern});
            }
            params.push(p);
            taken.insert(name.clone());
        }
        if body != Some("*") {
            if let Some(b) = body {
                taken.insert(b.to_string());
            }
            let mut seen = vec![input.full_name().to_string()];
            self.query(&input, "", &taken, &mut seen, &mut params);
        }
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }

        // The body: the whole message, one field of it, or none.
        let body_schema = match body {
            Some("*") => Some((self.message(&input), format!("`{}`", input.full_name()))),
            Some(field) => field_at(&input, field).map(|f| {
                let mut s = self.field(&f);
                s.as_object_mut().map(|o| o.remove("description"));
                (s, format!("field `{field}` of `{}`", input.full_name()))
            }),
            None => None,
        };
        let body_field = body.filter(|b| *b != "*");
        if m.client_streaming {
            let schema = self.message(&input);
            op["requestBody"] = json!({
                "description": format!(
                    "Newline-delimited JSON: one `{}` per line, sent to the server as it arrives \
                     (path variables and query parameters merged into each). Or a WebSocket upgrade \
                     (`GET`) on this path: one text frame per message each way, an empty frame ends \
                     the requests, the close frame carries the status (1000 OK, else 4000 + the gRPC \
                     code after the error as a text frame)",
                    input.full_name()
                ),
                "required": true,
                "content": {"application/x-ndjson": {"schema": schema}},
            });
        } else if let Some((schema, what)) = body_schema {
            let overridden = if vars.is_empty() {
                String::new()
            } else {
                "; path variables win over the body".to_string()
            };
            op["requestBody"] = json!({
                "description": format!("The JSON of {what}; absent fields take their default{overridden}"),
                "content": {"application/json": {"schema": schema}},
            });
            if let Some(f) = body_field {
                // The request field the body is (`google.api.http` `body`).
                op["requestBody"]["x-body-field"] = json!(f);
            }
        }

        let mut responses = Map::new();
        let (answer, what) = match response.and_then(|r| field_at(&output, r)) {
            Some(f) => {
                let mut s = self.field(&f);
                s.as_object_mut().map(|o| o.remove("description"));
                (
                    s,
                    format!("field `{}` of `{}`", f.name(), output.full_name()),
                )
            }
            None => (self.message(&output), format!("`{}`", output.full_name())),
        };
        if m.server_streaming {
            responses.insert(
                "200".into(),
                json!({
                    "description": format!(
                        "A stream of {what}: newline-delimited JSON, or Server-Sent Events (`data: {{…}}` \
                         per message) when the request says `Accept: text/event-stream`. A status other \
                         than OK ends the stream with one `{{\"error\": {{…}}}}` item carrying `http_status`"
                    ),
                    "content": {
                        "application/x-ndjson": {"schema": answer},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                }),
            );
        } else {
            responses.insert(
                "200".into(),
                json!({
                    "description": format!("Success: {what}"),
                    "content": {"application/json": {"schema": answer}},
                }),
            );
        }
        responses.insert("400".into(), response_ref("BadRequest"));
        responses.insert("404".into(), response_ref("NotFound"));
        if verb != "get" {
            responses.insert("413".into(), response_ref("PayloadTooLarge"));
        }
        responses.insert("500".into(), response_ref("InternalError"));
        responses.insert("502".into(), response_ref("BadGateway"));
        responses.insert("504".into(), response_ref("GatewayTimeout"));
        responses.insert("default".into(), response_ref("RemoteStatus"));
        op["responses"] = Value::Object(responses);
        op
    }

    /// Query parameters for the fields of `m` under `prefix` that `taken`
    /// (path variables, the body field) does not set.
    fn query(
        &mut self,
        m: &MessageDescriptor,
        prefix: &str,
        taken: &HashSet<String>,
        seen: &mut Vec<String>,
        out: &mut Vec<Value>,
    ) {
        for f in m.fields() {
            let name = format!("{prefix}{}", f.name());
            if taken.contains(&name) || f.is_map() {
                continue;
            }
            if let Kind::Message(sub) = f.kind()
                && well_known(&sub).is_none()
            {
                if !f.is_list()
                    && seen.len() < QUERY_DEPTH
                    && !seen.iter().any(|s| s == sub.full_name())
                {
                    seen.push(sub.full_name().to_string());
                    self.query(&sub, &format!("{name}."), taken, seen, out);
                    seen.pop();
                }
                continue;
            }
            let schema = self.field(&f);
            let mut p = json!({"name": name, "in": "query", "schema": schema});
            if let Some(d) = p["schema"]
                .as_object_mut()
                .and_then(|o| o.remove("description"))
            {
                p["description"] = d;
            }
            if f.is_list() {
                p["style"] = json!("form");
                p["explode"] = json!(true);
            }
            out.push(p);
        }
    }
}
