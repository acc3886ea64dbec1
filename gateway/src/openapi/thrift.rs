//! The OpenAPI operations and schemas of backends described by Thrift IDL
//! (Thrift and Dubbo), every route as the gateway serves it (README "HTTP
//! mapping"): parameters from the `api.path`,
//! `api.query`, `api.header` and `api.cookie` field bindings, the remaining
//! fields as the JSON request body, the result as the 200 body (202 for
//! oneway), and the gateway's error shape (component `Error`) for failures,
//! with a method's declared exceptions inside its 500 answer.
//!
//! Schemas follow the README's JSON forms. Every struct, union, exception and
//! enum reached from a route is one component, keyed `<backend>.<IDL name>`
//! (`rich.rich_base.Item`), so recursive types are plain `$ref`s and two
//! backends may both declare `Request`. Schemas say what the gateway accepts,
//! which is also what it writes: `i64` is an integer or a decimal string
//! whatever `i64_as_string` says (the option orders the types and is
//! described), enums take numbers or names.

use std::collections::{HashMap, HashSet};

use idl::{Binding, EnumId, Field, Method, Requiredness, Schema, StructId, StructKind, Type};
use serde_json::{Map, Value, json};

use codecs::thrift::DecodeOptions;

use super::{Doc, Document, ERROR_REF, INTEGER_TEXT, SCHEMAS, integer, path_item, response_ref};
use crate::backend::BackendSpec;
use crate::routes::method_routes;

impl Document {
    /// Adds every route of a backend described by a Thrift IDL.
    pub fn add_thrift(&mut self, spec: &BackendSpec, schema: &Schema, decode: &DecodeOptions) {
        let mut g = Gen {
            name: &spec.name,
            enum_as_name: decode.enum_as_name,
            i64_as_string: decode.i64_as_string,
            schema,
            doc: &mut self.doc,
            structs: HashMap::new(),
            enums: HashMap::new(),
            pending: Vec::new(),
        };
        for svc_name in &spec.services {
            let Some(svc) = schema.service(svc_name) else {
                continue;
            };
            for m in &svc.methods {
                let routes = method_routes(&spec.prefix, &svc.name, m);
                for (nth, (verb, path)) in routes.into_iter().enumerate() {
                    let (path, vars) = openapi_path(&path);
                    let verb = verb.as_str().to_ascii_lowercase();
                    let item = path_item(&mut self.paths, path);
                    // A route claimed twice never makes it into a route table; keep the first.
                    if item.get(&verb).is_some() {
                        continue;
                    }
                    let op = g.operation(&svc.name, m, &verb, &vars, nth);
                    item[verb.as_str()] = op;
                }
            }
        }
        g.flush();
        self.tag(spec);
    }
}

/// Hertz path syntax (`/a/:id/*rest`) to an OpenAPI path (`/a/{id}/{rest}`),
/// with its variables in order (name, whether it is a `*` wildcard).
fn openapi_path(path: &str) -> (String, Vec<(String, bool)>) {
    let mut vars = Vec::new();
    let out = path
        .split('/')
        .map(|seg| {
            if let Some(name) = seg.strip_prefix(':') {
                vars.push((name.to_string(), false));
                format!("{{{name}}}")
            } else if let Some(name) = seg.strip_prefix('*') {
                let name = if name.is_empty() { "rest" } else { name };
                vars.push((name.to_string(), true));
                format!("{{{name}}}")
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    (out, vars)
}

/// Schemas of one backend: its structs and enums become components on first use.
struct Gen<'a> {
    /// The backend's name (component keys, tags).
    name: &'a str,
    enum_as_name: bool,
    i64_as_string: bool,
    schema: &'a Schema,
    doc: &'a mut Doc,
    structs: HashMap<StructId, String>,
    enums: HashMap<EnumId, String>,
    /// Structs referenced whose component is not written yet.
    pending: Vec<StructId>,
}

fn is_required(f: &Field) -> bool {
    f.required == Requiredness::Required && f.default.is_none()
}

/// A description an IDL author gave in annotations, if any.
fn annotated_description(a: &idl::Annotations) -> Option<&str> {
    [
        "description",
        "api.description",
        "api.desc",
        "openapi.description",
    ]
    .iter()
    .find_map(|k| a.get(k))
    .filter(|d| !d.is_empty())
}

impl Gen<'_> {
    fn struct_ref(&mut self, sid: StructId) -> Value {
        let key = match self.structs.get(&sid) {
            Some(k) => k.clone(),
            None => {
                let name = &self.schema.struct_def(sid).name;
                let k = self.doc.new_key(&format!("{}.{name}", self.name));
                self.structs.insert(sid, k.clone());
                self.pending.push(sid);
                k
            }
        };
        json!({ "$ref": format!("{SCHEMAS}{key}") })
    }

    fn enum_ref(&mut self, eid: EnumId) -> Value {
        let key = match self.enums.get(&eid) {
            Some(k) => k.clone(),
            None => {
                let e = self.schema.enum_def(eid);
                let k = self.doc.new_key(&format!("{}.{}", self.name, e.name));
                self.enums.insert(eid, k.clone());
                let s = self.enum_schema(eid);
                self.doc.schemas.insert(k.clone(), s);
                k
            }
        };
        json!({ "$ref": format!("{SCHEMAS}{key}") })
    }

    /// Writes the components of every struct referenced so far (and of what they reference).
    fn flush(&mut self) {
        while let Some(sid) = self.pending.pop() {
            let s = self.struct_schema(sid);
            let key = self.structs[&sid].clone();
            self.doc.schemas.insert(key, s);
        }
    }

    fn enum_schema(&self, eid: EnumId) -> Value {
        let e = self.schema.enum_def(eid);
        let listing = e
            .values
            .iter()
            .map(|(n, v)| format!("{n} = {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let by_name = self.enum_as_name;
        let description = format!(
            "Thrift enum `{}`: {listing}. Written as {}; {} are accepted too.",
            e.name,
            if by_name {
                "names (a value without a name as its number)"
            } else {
                "numbers"
            },
            if by_name { "numbers" } else { "names" },
        );
        if e.values.is_empty() {
            return json!({"title": e.name, "description": description, "type": "integer", "format": "int32"});
        }
        let numbers = json!({
            "type": "integer",
            "format": "int32",
            "enum": e.values.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
        });
        let names = json!({
            "type": "string",
            "enum": e.values.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        });
        let any = if by_name {
            [names, numbers]
        } else {
            [numbers, names]
        };
        json!({"title": e.name, "description": description, "anyOf": any})
    }

    fn struct_schema(&mut self, sid: StructId) -> Value {
        let schema = self.schema;
        let def = schema.struct_def(sid);
        let mut s = self.object(&def.fields.iter().collect::<Vec<_>>());
        let kind = match def.kind {
            StructKind::Struct => "struct",
            StructKind::Union => "union",
            StructKind::Exception => "exception",
        };
        let mut description = format!("Thrift {kind} `{}`", def.name);
        if def.kind == StructKind::Union {
            description.push_str(": exactly one field is set");
            s["minProperties"] = json!(1);
            s["maxProperties"] = json!(1);
            if let Some(o) = s.as_object_mut() {
                o.remove("required");
            }
        }
        if let Some(d) = annotated_description(&def.annotations) {
            description = format!("{d}\n\n{description}");
        }
        s["title"] = json!(def.name);
        s["description"] = json!(description);
        s
    }

    /// An object schema of these fields, under their JSON names.
    fn object(&mut self, fields: &[&Field]) -> Value {
        let mut props = Map::new();
        let mut required = Vec::new();
        for f in fields {
            props.insert(f.json_name.clone(), self.field(f));
            if is_required(f) {
                required.push(json!(f.json_name));
            }
        }
        let mut s = json!({"type": "object", "properties": props});
        if !required.is_empty() {
            s["required"] = Value::Array(required);
        }
        s
    }

    /// A field's value schema, with its description and IDL default.
    fn field(&mut self, f: &Field) -> Value {
        let text_int = f.js_conv && matches!(f.ty, Type::I8 | Type::I16 | Type::I32 | Type::I64);
        let mut s = if text_int {
            self.integer_text(&f.ty)
        } else {
            self.ty(&f.ty)
        };
        let req = match f.required {
            Requiredness::Required => "required",
            Requiredness::Optional => "optional",
            Requiredness::Default => "default requiredness",
        };
        let mut d = format!(
            "Thrift field {} `{}`: {}, {req}",
            f.id,
            f.name,
            self.schema.type_name(&f.ty)
        );
        if text_int {
            d.push_str("; written as a string (api.js_conv)");
        }
        if f.json_name != f.name {
            d.push_str(&format!("; the key `{}` is accepted too", f.name));
        }
        if let Some(a) = annotated_description(&f.annotations) {
            d = format!("{a} ({d})");
        }
        s["description"] = json!(d);
        if let Some(default) = f
            .default
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
        {
            s["default"] = default;
        }
        s
    }

    /// An integer that travels as a decimal string (`api.js_conv`); numbers are accepted too.
    fn integer_text(&self, t: &Type) -> Value {
        let mut s = match t {
            Type::I8 => integer("int32", i8::MIN.into(), i8::MAX.into()),
            Type::I16 => integer("int32", i16::MIN.into(), i16::MAX.into()),
            Type::I32 => integer("int32", i32::MIN.into(), i32::MAX.into()),
            _ => json!({"format": "int64"}),
        };
        s["type"] = json!(["string", "integer"]);
        s["pattern"] = json!(INTEGER_TEXT);
        s
    }

    /// The JSON schema of a value of type `t` (README "JSON forms").
    fn ty(&mut self, t: &Type) -> Value {
        match t {
            Type::Bool => json!({"type": "boolean"}),
            Type::I8 => integer("int32", i8::MIN.into(), i8::MAX.into()),
            Type::I16 => integer("int32", i16::MIN.into(), i16::MAX.into()),
            Type::I32 => integer("int32", i32::MIN.into(), i32::MAX.into()),
            Type::I64 => {
                let types = if self.i64_as_string {
                    ["string", "integer"]
                } else {
                    ["integer", "string"]
                };
                json!({"type": types, "format": "int64", "pattern": INTEGER_TEXT})
            }
            Type::Double => json!({"oneOf": [
                {"type": "number", "format": "double"},
                {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]},
            ]}),
            Type::String => json!({"type": "string"}),
            Type::Binary => json!({"type": "string", "contentEncoding": "base64"}),
            Type::Uuid => json!({"type": "string", "format": "uuid"}),
            Type::List(e) => json!({"type": "array", "items": self.ty(e)}),
            Type::Set(e) => json!({"type": "array", "items": self.ty(e), "uniqueItems": true}),
            Type::Map(k, v) if k.is_object_key() => {
                let mut s = json!({"type": "object", "additionalProperties": self.ty(v)});
                match &**k {
                    Type::I8 | Type::I16 | Type::I32 | Type::I64 => {
                        s["propertyNames"] = json!({"pattern": INTEGER_TEXT});
                    }
                    Type::Enum(id) => {
                        let names: Vec<&str> = self
                            .schema
                            .enum_def(*id)
                            .values
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect();
                        s["propertyNames"] =
                            json!({"anyOf": [{"enum": names}, {"pattern": INTEGER_TEXT}]});
                    }
                    _ => {}
                }
                s
            }
            Type::Map(k, v) => json!({
                "type": "array",
                "description": "[key, value] pairs",
                "items": {
                    "type": "array",
                    "prefixItems": [self.ty(k), self.ty(v)],
                    "minItems": 2,
                    "maxItems": 2,
                },
            }),
            Type::Struct(id) => self.struct_ref(*id),
            Type::Enum(id) => self.enum_ref(*id),
        }
    }

    /// One operation: route `nth` of method `m`, at an OpenAPI path with variables `vars`.
    fn operation(
        &mut self,
        service: &str,
        m: &Method,
        verb: &str,
        vars: &[(String, bool)],
        nth: usize,
    ) -> Value {
        let schema = self.schema;
        let base_id = format!("{}.{service}.{}", self.name, m.name);
        let op_id = self.doc.op_id(base_id, nth, verb);
        let (req_id, body_struct) = match m.body_struct_arg {
            Some(i) => match schema.struct_def(m.args).fields[i].ty {
                Type::Struct(sid) => (sid, true),
                _ => (m.args, false),
            },
            None => (m.args, false),
        };
        let req = schema.struct_def(req_id);

        let mut op = json!({
            "operationId": op_id,
            "tags": [self.name],
            "summary": format!("{service}.{}", m.name),
        });
        let mut description = format!("Thrift method `{service}.{}`", m.name);
        if body_struct {
            description.push_str(&format!(
                "; the request is `{}` (its fields from the parameters and the JSON body)",
                req.name
            ));
        } else {
            description.push_str("; the JSON body holds the arguments by name");
        }
        if m.oneway {
            description.push_str("; oneway: answered 202 as soon as the call is written");
        }
        if let Some(d) = annotated_description(&m.annotations) {
            description = format!("{d}\n\n{description}");
        }
        op["description"] = json!(description);

        // Parameters: every path variable (bound to a field or not), then query, header and cookie fields.
        let mut params = Vec::new();
        let mut seen = HashSet::new();
        for (name, wildcard) in vars {
            if !seen.insert(("path", name.clone())) {
                continue;
            }
            let bound = Binding::Path(name.clone());
            let mut p = match req.fields.iter().find(|f| f.binding == bound) {
                Some(f) => self.parameter(f, name, "path"),
                None => json!({
                    "name": name, "in": "path", "schema": {"type": "string"},
                    "description": "Not bound to a field of the request",
                }),
            };
            p["required"] = json!(true);
            if *wildcard {
                let d = p["description"].as_str().unwrap_or("").to_string();
                p["description"] = json!(format!("{d} (the rest of the path: it may contain `/`)"));
            }
            params.push(p);
        }
        for f in &req.fields {
            let (place, name) = match &f.binding {
                Binding::Query(n) => ("query", n),
                Binding::Header(n) => ("header", n),
                Binding::Cookie(n) => ("cookie", n),
                _ => continue,
            };
            let key = if place == "header" {
                name.to_ascii_lowercase()
            } else {
                name.clone()
            };
            if seen.insert((place, key)) {
                params.push(self.parameter(f, name, place));
            }
        }
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }

        // The body: the fields bound to nothing else (or to a path variable this route lacks).
        if verb != "get" {
            if let Some(f) = req.fields.iter().find(|f| f.binding == Binding::RawBody) {
                let content = if f.ty == Type::String {
                    json!({"text/plain": {"schema": {"type": "string"}}})
                } else {
                    json!({"application/octet-stream": {}})
                };
                op["requestBody"] = json!({
                    "description": format!("The raw body is field `{}`", f.name),
                    "content": content,
                });
            } else {
                let in_body = |f: &Field| match &f.binding {
                    Binding::Body => true,
                    Binding::Path(n) => !vars.iter().any(|(v, _)| v == n),
                    _ => false,
                };
                let fields: Vec<&Field> = req.fields.iter().filter(|f| in_body(f)).collect();
                let body = if body_struct && fields.len() == req.fields.len() {
                    self.struct_ref(req_id)
                } else {
                    self.object(&fields)
                };
                op["requestBody"] = json!({
                    "description": if body_struct {
                        format!("Fields of `{}`; an empty body is `{{}}`, absent fields take their IDL default", req.name)
                    } else {
                        "The arguments by name; an empty body is `{}`, absent arguments take their IDL default".to_string()
                    },
                    "required": fields.iter().any(|f| is_required(f)),
                    "content": {"application/json": {"schema": body}},
                });
                // A form body sets the same fields by JSON key, and the
                // `api.form` fields by their form names.
                let mut form = self.object(&fields);
                let mut files = false;
                for f in &req.fields {
                    if let Binding::Form(name) = &f.binding {
                        let schema = if f.ty == Type::Binary {
                            files = true;
                            json!({"type": "string", "format": "binary"})
                        } else {
                            self.field(f)
                        };
                        form["properties"][name.as_str()] = schema;
                    }
                }
                let content = &mut op["requestBody"]["content"];
                content["multipart/form-data"] = json!({"schema": form.clone()});
                if !files {
                    content["application/x-www-form-urlencoded"] = json!({"schema": form});
                }
            }
        }

        let mut responses = Map::new();
        if m.oneway {
            responses.insert(
                "202".into(),
                json!({
                    "description": "Accepted: the oneway call was written; no reply is awaited",
                    "content": {"application/json": {"schema": {"type": "null"}}},
                }),
            );
        } else {
            responses.insert("200".into(), self.success(m));
        }
        responses.insert("400".into(), response_ref("BadRequest"));
        responses.insert("404".into(), response_ref("NotFound"));
        if verb != "get" {
            responses.insert("413".into(), response_ref("PayloadTooLarge"));
        }
        if !m.oneway {
            let (failure, other_status) = self.failure(m);
            if other_status {
                responses.insert("default".into(), failure.clone());
            }
            responses.insert("500".into(), failure);
        }
        responses.insert("502".into(), response_ref("BadGateway"));
        if !m.oneway {
            responses.insert("504".into(), response_ref("GatewayTimeout"));
        }
        op["responses"] = Value::Object(responses);
        op
    }

    /// A parameter for field `f` under `name` `in` `place`.
    fn parameter(&mut self, f: &Field, name: &str, place: &str) -> Value {
        let mut s = self.field(f);
        let mut p = json!({"name": name, "in": place});
        if let Some(d) = s.as_object_mut().and_then(|o| o.remove("description")) {
            p["description"] = d;
        }
        if is_required(f) {
            p["required"] = json!(true);
        }
        match &f.ty {
            // Structs and maps are parsed as JSON text.
            Type::Struct(_) | Type::Map(..) => {
                p["content"] = json!({"application/json": {"schema": s}});
            }
            Type::List(_) | Type::Set(_) if place == "query" => {
                // A repeated parameter (or one comma list) fills the list.
                p["style"] = json!("form");
                p["explode"] = json!(true);
                p["schema"] = s;
            }
            _ => p["schema"] = s,
        }
        p
    }

    /// The success answer: the result as JSON; struct fields bound to the
    /// status or to headers go there instead of into the body.
    fn success(&mut self, m: &Method) -> Value {
        let schema = self.schema;
        let Some(t) = &m.result_type else {
            return json!({
                "description": "Success (void): `null`",
                "content": {"application/json": {"schema": {"type": "null"}}},
            });
        };
        let out_of_body = |f: &Field| match &f.binding {
            Binding::HttpCode => true,
            Binding::Header(_) => matches!(f.ty, Type::String | Type::Binary),
            _ => false,
        };
        if let Type::Struct(sid) = t {
            let def = schema.struct_def(*sid);
            if def.fields.iter().any(out_of_body) {
                let body: Vec<&Field> = def.fields.iter().filter(|f| !out_of_body(f)).collect();
                let mut s = self.object(&body);
                s["title"] = json!(def.name);
                s["description"] = json!(format!(
                    "Thrift {} `{}` without its status and header fields",
                    if def.kind == StructKind::Union {
                        "union"
                    } else {
                        "struct"
                    },
                    def.name
                ));
                let mut headers = Map::new();
                let mut description = String::from("Success");
                for f in def.fields.iter().filter(|f| out_of_body(f)) {
                    match &f.binding {
                        Binding::Header(name) => {
                            headers.insert(
                                name.clone(),
                                json!({
                                    "description": format!("Field `{}` (when set)", f.name),
                                    "schema": {"type": "string"},
                                }),
                            );
                        }
                        _ => description.push_str(&format!(
                            "; field `{}` (api.http_code) sets the status when it is set",
                            f.name
                        )),
                    }
                }
                let mut r = json!({
                    "description": description,
                    "content": {"application/json": {"schema": s}},
                });
                if !headers.is_empty() {
                    r["headers"] = Value::Object(headers);
                }
                return r;
            }
        }
        json!({
            "description": format!("Success: the `{}` result", schema.type_name(t)),
            "content": {"application/json": {"schema": self.ty(t)}},
        })
    }

    /// The 500 answer of `m`, with its declared exceptions; and whether an
    /// exception may set another status (`api.http_code`).
    fn failure(&mut self, m: &Method) -> (Value, bool) {
        let schema = self.schema;
        let result = schema.struct_def(m.result);
        let throws: Vec<&Field> = result
            .fields
            .iter()
            .skip(usize::from(m.result_type.is_some()))
            .collect();
        if throws.is_empty() {
            return (response_ref("InternalError"), false);
        }
        let mut details = Vec::new();
        let mut names = Vec::new();
        let mut other_status = false;
        for f in &throws {
            details.push(self.ty(&f.ty));
            let name = schema.type_name(&f.ty);
            if !names.contains(&name) {
                names.push(name);
            }
            if let Type::Struct(sid) = f.ty {
                other_status |= schema
                    .struct_def(sid)
                    .fields
                    .iter()
                    .any(|x| x.binding == Binding::HttpCode);
            }
        }
        let listed = throws
            .iter()
            .map(|f| format!("`{}` ({})", f.name, schema.type_name(&f.ty)))
            .collect::<Vec<_>>()
            .join(", ");
        let detail = if details.len() == 1 {
            details.pop().unwrap_or_default()
        } else {
            json!({ "anyOf": details })
        };
        let mut description = format!(
            "The backend failed: a declared exception ({listed}; `code` is `backend_exception`, \
             `exception` names its type, `field` the throws field, `detail` holds it), \
             a TApplicationException (`application_exception`) or a Kitex business error (`biz_error`)"
        );
        if other_status {
            description.push_str(
                "; an exception's `api.http_code` field, when set, answers with that status instead",
            );
        }
        let r = json!({
            "description": description,
            "content": {"application/json": {"schema": {"allOf": [
                {"$ref": ERROR_REF},
                {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "exception": {"type": "string", "enum": names},
                    "field": {"type": "string", "enum": throws.iter().map(|f| f.name.as_str()).collect::<Vec<_>>()},
                    "detail": detail,
                }}}},
            ]}}},
        });
        (r, other_status)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::backend::Backend;
    use crate::config::BackendConfig;
    use crate::openapi::document;

    /// Every binding, a raw body, status and header results, a union,
    /// recursion, struct-keyed maps, an exception with a status, uuid.
    const IDL: &str = r#"
enum Kind { A = 1, B = 5 }
struct Node { 1: i32 value, 2: list<Node> children }
union Pick { 1: string text (api.body = "txt"), 2: Node node }
struct Req {
  1: i64 id (api.path = "id")
  2: string session (api.cookie = "sid")
  3: string who (api.header = "X-Who")
  4: string rest (api.path = "rest")
  5: list<string> tags (api.query = "tag")
  6: required string note
  7: string secret = "unset" (api.none = "true")
  8: map<Node, string> by_node
  9: map<Kind, double> by_kind
  10: optional Pick pick
  11: uuid key
  12: set<i16> small
  13: Node filter (api.query = "filter")
  14: i32 count = 3 (api.js_conv = "true", description = "how many")
}
struct Resp {
  1: i32 code (api.http_code = "")
  2: string loc (api.header = "Location")
  3: Req echoed
}
exception Gone { 1: string why, 2: i32 status (api.http_code = "") }
exception Bad { 1: string why }
struct Upload { 1: binary data (api.raw_body = "") 2: string name (api.query = "name") }
service Items {
  Resp get(1: Req req) (api.get = "/items/:id/*rest")
  Resp put(1: Req req) (api.put = "/items/:id", api.post = "/items/:id/again")
  void drop(1: i64 id, 2: Kind kind) throws (1: Gone gone, 2: Bad bad) (api.delete = "/items")
  oneway void poke(1: string msg)
  Node tree(1: Node root)
  i64 upload(1: Upload u) (api.post = "/upload")
}
"#;

    fn backend(name: &str, schema: Arc<Schema>, extra: &str) -> Arc<Backend> {
        let cfg: BackendConfig = toml::from_str(&format!(
            "name = \"{name}\"\ntransport = \"framed\"\nendpoints = [\"127.0.0.1:1\"]\nidl = \"{name}.thrift\"\n{extra}"
        ))
        .unwrap();
        Arc::new(Backend::new(&cfg, schema, 2000, 500).unwrap())
    }

    fn items() -> Arc<Backend> {
        let files = idl::MemoryFiles::new([("items.thrift", IDL)]);
        let schema = Arc::new(idl::thrift::load("items.thrift", &files).unwrap());
        backend("items", schema, "prefix = \"/v1\"")
    }

    fn rich(options: &str) -> Arc<Backend> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/idl/rich.thrift");
        let schema = Arc::new(idl::thrift::load_path(&path, &[]).unwrap());
        backend(
            "rich",
            schema,
            &format!("prefix = \"/rich\"\n[options]\n{options}"),
        )
    }

    fn hello() -> Arc<Backend> {
        backend("hello", examples::hello_schema(), "")
    }

    fn op<'a>(doc: &'a Value, path: &str, verb: &str) -> &'a Value {
        let o = &doc["paths"][path][verb];
        assert!(o.is_object(), "no {verb} {path} in {:#}", doc["paths"]);
        o
    }

    fn param<'a>(op: &'a Value, name: &str, place: &str) -> &'a Value {
        op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name && p["in"] == place)
            .unwrap_or_else(|| panic!("no {place} parameter {name} in {op:#}"))
    }

    /// Follows a local `$ref` (or returns the value itself).
    fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
        match v["$ref"].as_str() {
            Some(r) => doc
                .pointer(r.strip_prefix('#').unwrap())
                .unwrap_or_else(|| panic!("{r} does not resolve")),
            None => v,
        }
    }

    /// Every `$ref` resolves, every component key is allowed, operation ids are
    /// unique, path variables are declared. With `KITEGATE_OPENAPI_OUT=DIR` the
    /// document is also written to `DIR/{name}.json` (for validate_openapi.py).
    fn check_integrity(name: &str, doc: &Value) {
        if let Some(dir) = std::env::var_os("KITEGATE_OPENAPI_OUT") {
            let dir = std::path::PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join(format!("{name}.json")),
                serde_json::to_string_pretty(doc).unwrap(),
            )
            .unwrap();
        }
        fn walk<'a>(v: &'a Value, refs: &mut Vec<&'a str>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        refs.push(r);
                    }
                    o.values().for_each(|x| walk(x, refs));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, refs)),
                _ => {}
            }
        }
        let mut refs = Vec::new();
        walk(doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            assert!(r.starts_with("#/components/"), "{r}");
            assert!(doc.pointer(&r[1..]).is_some(), "{r} does not resolve");
        }
        for k in doc["components"]["schemas"].as_object().unwrap().keys() {
            assert!(
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')),
                "component key {k}"
            );
        }
        let mut ids = HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (verb, o) in item.as_object().unwrap() {
                let id = o["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_string()), "operationId {id} twice");
                // Every path variable is declared, and only those.
                let vars: HashSet<&str> = path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                    .collect();
                let declared: HashSet<&str> = o["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter(|p| p["in"] == "path")
                            .map(|p| p["name"].as_str().unwrap())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(vars, declared, "{verb} {path}");
                assert_eq!(
                    verb == "get",
                    o.get("requestBody").is_none(),
                    "{verb} {path}"
                );
            }
        }
    }

    #[test]
    fn bindings_become_parameters_and_the_rest_the_body() {
        let doc = document(&[items()], Some("http://127.0.0.1:8888"));
        check_integrity("items", &doc);
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "http://127.0.0.1:8888");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

        let get = op(&doc, "/v1/items/{id}/{rest}", "get");
        assert_eq!(get["operationId"], "items.Items.get");
        assert_eq!(get["tags"], json!(["items"]));
        let id = param(get, "id", "path");
        assert_eq!(id["required"], true);
        assert_eq!(id["schema"]["format"], "int64");
        assert!(
            param(get, "rest", "path")["description"]
                .as_str()
                .unwrap()
                .contains("may contain `/`")
        );
        assert_eq!(param(get, "sid", "cookie")["schema"]["type"], "string");
        assert_eq!(param(get, "X-Who", "header")["schema"]["type"], "string");
        let tag = param(get, "tag", "query");
        assert_eq!(
            (&tag["style"], &tag["explode"]),
            (&json!("form"), &json!(true))
        );
        assert_eq!(tag["schema"]["items"]["type"], "string");
        // A struct in the query is JSON text.
        assert_eq!(
            param(get, "filter", "query")["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/items.Node"
        );
        assert_eq!(get["parameters"].as_array().unwrap().len(), 6);
        // Status and header fields leave the body.
        let ok = &get["responses"]["200"];
        assert!(ok["headers"]["Location"].is_object(), "{ok:#}");
        assert!(ok["description"].as_str().unwrap().contains("`code`"));
        let props = &ok["content"]["application/json"]["schema"]["properties"];
        assert!(
            props.get("code").is_none() && props.get("loc").is_none(),
            "{props:#}"
        );
        assert_eq!(props["echoed"]["$ref"], "#/components/schemas/items.Req");
        for status in ["400", "404", "500", "502", "504"] {
            assert!(get["responses"][status].is_object(), "{status}");
        }
        assert!(get["responses"].get("413").is_none());

        // PUT /items/:id has no `rest` variable: that field is read from the body.
        let put = op(&doc, "/v1/items/{id}", "put");
        assert_eq!(put["operationId"], "items.Items.put");
        assert_eq!(
            op(&doc, "/v1/items/{id}/again", "post")["operationId"],
            "items.Items.put.post"
        );
        let body = &put["requestBody"];
        assert_eq!(body["required"], true);
        let s = &body["content"]["application/json"]["schema"];
        let mut keys: Vec<&str> = s["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "by_kind", "by_node", "count", "key", "note", "pick", "rest", "small"
            ]
        );
        assert_eq!(s["required"], json!(["note"]));
        let p = &s["properties"];
        assert_eq!(
            p["key"],
            json!({"type": "string", "format": "uuid", "description": "Thrift field 11 `key`: uuid, default requiredness"})
        );
        assert_eq!(p["small"]["uniqueItems"], true);
        assert_eq!(p["small"]["items"]["maximum"], 32767);
        assert_eq!(p["by_node"]["type"], "array");
        assert_eq!(
            p["by_node"]["items"]["prefixItems"][0]["$ref"],
            "#/components/schemas/items.Node"
        );
        assert_eq!(p["by_kind"]["type"], "object");
        assert_eq!(
            p["by_kind"]["propertyNames"]["anyOf"][0]["enum"],
            json!(["A", "B"])
        );
        assert_eq!(
            p["by_kind"]["additionalProperties"]["oneOf"][1]["enum"],
            json!(["NaN", "Infinity", "-Infinity"])
        );
        assert!(put["responses"]["413"].is_object());

        // The request struct as a component keeps every field; js_conv, defaults, descriptions.
        let req = &doc["components"]["schemas"]["items.Req"];
        assert_eq!(req["properties"].as_object().unwrap().len(), 14);
        let count = &req["properties"]["count"];
        assert_eq!(count["type"], json!(["string", "integer"]));
        assert_eq!(count["default"], 3);
        assert!(
            count["description"]
                .as_str()
                .unwrap()
                .starts_with("how many (")
        );
        assert_eq!(req["properties"]["secret"]["default"], "unset");
        // Recursion and unions.
        let node = &doc["components"]["schemas"]["items.Node"];
        assert_eq!(
            node["properties"]["children"]["items"]["$ref"],
            "#/components/schemas/items.Node"
        );
        let pick = &doc["components"]["schemas"]["items.Pick"];
        assert_eq!(
            (&pick["minProperties"], &pick["maxProperties"]),
            (&json!(1), &json!(1))
        );
        assert!(pick["properties"]["txt"].is_object());
        let kind = &doc["components"]["schemas"]["items.Kind"];
        assert_eq!(kind["anyOf"][0]["enum"], json!([1, 5]));

        // Arguments by name, void, declared exceptions (one with a status field).
        let drop = op(&doc, "/v1/items", "delete");
        let args = &drop["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(
            args["properties"]["kind"]["$ref"],
            "#/components/schemas/items.Kind"
        );
        // Method arguments are never required (absent ones are simply not sent).
        assert_eq!(args["required"], Value::Null);
        assert_eq!(drop["requestBody"]["required"], false);
        assert_eq!(
            drop["responses"]["200"]["content"]["application/json"]["schema"],
            json!({"type": "null"})
        );
        let err = &drop["responses"]["500"]["content"]["application/json"]["schema"]["allOf"];
        assert_eq!(err[0]["$ref"], "#/components/schemas/Error");
        let e = &err[1]["properties"]["error"]["properties"];
        assert_eq!(e["exception"]["enum"], json!(["Gone", "Bad"]));
        assert_eq!(e["field"]["enum"], json!(["gone", "bad"]));
        assert_eq!(
            e["detail"]["anyOf"][0]["$ref"],
            "#/components/schemas/items.Gone"
        );
        assert!(drop["responses"]["default"].is_object());

        // No annotation: POST /{Service}/{method}; oneway answers 202.
        let poke = op(&doc, "/v1/Items/poke", "post");
        assert!(poke["responses"]["202"].is_object());
        assert!(poke["responses"].get("200").is_none());
        assert_eq!(
            op(&doc, "/v1/Items/tree", "post")["requestBody"]["content"]["application/json"]["schema"]
                ["$ref"],
            "#/components/schemas/items.Node"
        );
        // Raw body.
        let up = op(&doc, "/v1/upload", "post");
        assert!(up["requestBody"]["content"]["application/octet-stream"].is_object());
        assert_eq!(param(up, "name", "query")["schema"]["type"], "string");
        assert_eq!(
            up["responses"]["200"]["content"]["application/json"]["schema"]["type"],
            json!(["integer", "string"])
        );
    }

    #[test]
    fn rich_and_hello_document() {
        let doc = document(&[hello(), rich("")], Some("http://127.0.0.1:1"));
        check_integrity("hello_rich", &doc);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for k in [
            "Error",
            "hello.AddRequest",
            "hello.HelloError",
            "rich.AllTypes",
            "rich.Nested",
            "rich.TreeNode",
            "rich.Choice",
            "rich.Defaults",
            "rich.RichError",
            "rich.rich_base.Item",
            "rich.rich_base.Color",
            "rich.rich_common.Level",
            "rich.Status",
        ] {
            assert!(schemas.contains_key(k), "{k} missing: {:?}", schemas.keys());
        }

        let add = op(&doc, "/add", "post");
        assert_eq!(add["operationId"], "hello.Hello.add");
        let body = deref(
            &doc,
            &add["requestBody"]["content"]["application/json"]["schema"],
        );
        assert_eq!(body["properties"]["first"]["format"], "int64");
        assert_eq!(op(&doc, "/hello", "get")["operationId"], "hello.Hello.echo");
        assert_eq!(
            param(op(&doc, "/hello", "get"), "message", "query")["schema"]["default"],
            "hello world"
        );
        assert_eq!(
            op(&doc, "/echo", "post")["operationId"],
            "hello.Hello.echo.post"
        );

        let cr = op(&doc, "/rich/rich/concat/{a}", "get");
        assert_eq!(cr["operationId"], "rich.RichService.concatReq");
        assert_eq!(param(cr, "b", "query")["schema"]["default"], 1);
        assert_eq!(param(cr, "c", "query")["schema"]["type"], "array");
        assert_eq!(param(cr, "X-Trace", "header")["required"], Value::Null);
        let ok = &cr["responses"]["200"];
        assert!(ok["headers"]["X-Trace"].is_object());
        let cpost = op(&doc, "/rich/rich/concat/{a}", "post");
        let props = &cpost["requestBody"]["content"]["application/json"]["schema"]["properties"];
        assert!(props["memo"].is_object() && props["id"]["type"] == json!(["string", "integer"]));

        let defaults = &schemas["rich.Defaults"];
        assert_eq!(defaults["required"], json!(["must"]));
        assert_eq!(
            defaults["properties"]["tags"]["default"],
            json!(["alpha", "beta"])
        );
        assert_eq!(
            defaults["properties"]["item"]["default"],
            json!({"id": 1, "name": "first"})
        );
        assert_eq!(
            defaults["properties"]["item"]["$ref"],
            "#/components/schemas/rich.rich_base.Item"
        );
        let all = &schemas["rich.AllTypes"]["properties"];
        assert_eq!(all["a_binary"]["contentEncoding"], "base64");
        assert_eq!(all["an_i8"]["minimum"], -128);
        assert_eq!(all["i32_map"]["propertyNames"]["pattern"], INTEGER_TEXT);
        assert_eq!(all["status"]["$ref"], "#/components/schemas/rich.Status");

        let fail = op(&doc, "/rich/rich/fail", "post");
        let e = &fail["responses"]["500"]["content"]["application/json"]["schema"]["allOf"][1];
        assert_eq!(
            e["properties"]["error"]["properties"]["detail"]["$ref"],
            "#/components/schemas/rich.RichError"
        );
        assert!(fail["responses"].get("default").is_none());
        assert_eq!(
            op(&doc, "/rich/rich/ping", "get")["responses"]["200"]["content"]["application/json"]["schema"],
            json!({"type": "null"})
        );
        assert!(op(&doc, "/rich/rich/fire", "post")["responses"]["202"].is_object());
        assert_eq!(
            op(&doc, "/rich/RichService/version", "post")["operationId"],
            "rich.RichService.version"
        );
        let sk = op(&doc, "/rich/RichService/echoStructKeys", "post");
        assert_eq!(
            sk["responses"]["200"]["content"]["application/json"]["schema"]["type"],
            "array"
        );
        let tags: Vec<&str> = doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(tags, ["hello", "rich"]);
    }

    #[test]
    fn one_backend_and_its_options() {
        let doc = document(&[rich("enum_as_name = true\ni64_as_string = true")], None);
        check_integrity("rich_options", &doc);
        assert!(doc.get("servers").is_none());
        assert!(doc["paths"].get("/add").is_none());
        let s = &doc["components"]["schemas"];
        assert_eq!(s["rich.Status"]["anyOf"][0]["type"], "string");
        assert!(
            s["rich.Status"]["description"]
                .as_str()
                .unwrap()
                .contains("Written as names")
        );
        assert_eq!(
            s["rich.AllTypes"]["properties"]["an_i64"]["type"],
            json!(["string", "integer"])
        );
        // The same IDL twice: component keys stay apart.
        let files = idl::MemoryFiles::new([("items.thrift", IDL)]);
        let schema = Arc::new(idl::thrift::load("items.thrift", &files).unwrap());
        let other = backend("items two", schema, "prefix = \"/v2\"");
        let doc = document(&[items(), other], None);
        check_integrity("items_twice", &doc);
        assert!(doc["components"]["schemas"]["items_two.Node"].is_object());
        assert!(doc["components"]["schemas"]["items.Node"].is_object());
        assert_eq!(
            op(&doc, "/v2/items/{id}/{rest}", "get")["operationId"],
            "items two.Items.get"
        );
    }
}
