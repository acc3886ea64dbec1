//! Kitex/Hertz HTTP annotations read from the IDL: method routes
//! (`api.get = "/path/:id"` …) and field bindings (`api.query`, `api.path` …).
//! See <https://www.cloudwego.io/docs/kitex/tutorials/advanced-feature/generic-call/thrift_idl_annotation_standards/>.

use crate::schema::Annotations;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Delete,
    Patch,
    Head,
    Options,
    /// `api.any`: every method.
    Any,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Any => "ANY",
        }
    }
}

/// One HTTP route of a method, path in Hertz syntax (`:name`, `*rest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRule {
    pub method: HttpMethod,
    pub path: String,
}

/// Where a request field's value comes from, or where a response field goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Binding {
    /// From (or to) the JSON body under the field's JSON name.
    #[default]
    Body,
    Path(String),
    Query(String),
    Header(String),
    Cookie(String),
    /// A field of a form body (`api.form`): URL-encoded or multipart. A
    /// multipart file's content binds by its part name; `name.filename`
    /// and `name.content_type` bind the file name and type of part `name`.
    Form(String),
    /// The raw request body bytes (`api.raw_body`).
    RawBody,
    /// The request URI as received: path and query (`api.raw_uri`).
    RawUri,
    /// Response only: the HTTP status code (`api.http_code`).
    HttpCode,
    /// Neither read from nor written to HTTP (`api.none`).
    None,
}

/// The body format of a method (`api.serializer`): what a body whose
/// `Content-Type` names no format is read as. A request that names JSON
/// or a form is read as it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFormat {
    #[default]
    Json,
    Form,
}

impl BodyFormat {
    /// The format `api.serializer` names, or why it is not one kitegate reads.
    pub(crate) fn of(annotations: &Annotations) -> Result<BodyFormat, String> {
        body_format(annotations.get("api.serializer"))
    }
}

/// The body format an `api.serializer` value names.
pub(crate) fn body_format(value: Option<&str>) -> Result<BodyFormat, String> {
    match value {
        None | Some("") | Some("json") => Ok(BodyFormat::Json),
        Some("form") => Ok(BodyFormat::Form),
        Some(other) => Err(format!(
            "api.serializer = \"{other}\": the body formats are json and form"
        )),
    }
}

pub(crate) const METHOD_ANNOTATIONS: [(&str, HttpMethod); 8] = [
    ("api.get", HttpMethod::Get),
    ("api.post", HttpMethod::Post),
    ("api.put", HttpMethod::Put),
    ("api.delete", HttpMethod::Delete),
    ("api.patch", HttpMethod::Patch),
    ("api.head", HttpMethod::Head),
    ("api.options", HttpMethod::Options),
    ("api.any", HttpMethod::Any),
];

pub(crate) fn method_rules(annotations: &Annotations) -> Vec<HttpRule> {
    let mut rules = Vec::new();
    for (key, value) in &annotations.0 {
        if let Some((_, m)) = METHOD_ANNOTATIONS.iter().find(|(k, _)| k == key) {
            rules.push(HttpRule {
                method: *m,
                path: value.clone(),
            });
        }
    }
    rules
}

pub(crate) fn field_binding(annotations: &Annotations, field_name: &str) -> Binding {
    let name = |v: &str| {
        if v.is_empty() {
            field_name.to_string()
        } else {
            v.to_string()
        }
    };
    for (key, value) in &annotations.0 {
        match key.as_str() {
            "api.path" => return Binding::Path(name(value)),
            "api.query" => return Binding::Query(name(value)),
            "api.header" => return Binding::Header(name(value)),
            "api.cookie" => return Binding::Cookie(name(value)),
            "api.form" => return Binding::Form(name(value)),
            "api.raw_body" => return Binding::RawBody,
            "api.raw_uri" => return Binding::RawUri,
            "api.http_code" => return Binding::HttpCode,
            "api.none" if value != "false" => return Binding::None,
            _ => {}
        }
    }
    Binding::Body
}

/// The JSON key of a field: `api.body`/`api.key` name it, then a `go.tag` json name, then the IDL name.
pub(crate) fn json_name(annotations: &Annotations, field_name: &str) -> String {
    for key in ["api.body", "api.key"] {
        if let Some(v) = annotations.get(key).filter(|v| !v.is_empty()) {
            return v.to_string();
        }
    }
    if let Some(name) = annotations.get("go.tag").and_then(go_tag_json) {
        return name.to_string();
    }
    field_name.to_string()
}

/// The json name in a Go struct tag (`json:"name,omitempty"` -> `name`).
pub(crate) fn go_tag_json(tag: &str) -> Option<&str> {
    let rest = tag.split("json:\"").nth(1)?;
    let name = rest.split(['"', ',']).next().unwrap_or("");
    (!name.is_empty() && name != "-").then_some(name)
}
