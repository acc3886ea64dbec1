//! Protobuf IDL loading: `.proto` files compiled with protox into a
//! prost-reflect [`DescriptorPool`], the services of the main file listed with
//! their `google.api.http` routes.
//!
//! The well-known types (`google/protobuf/*.proto`) and
//! `google/api/annotations.proto` + `google/api/http.proto` are available
//! without the user shipping them; files the user does ship take precedence.
//!
//! Import names are resolved as protoc does, relative to import roots: on disk
//! the import paths, then the main file's directory; in memory the main file's
//! directory, then the root of the upload. An import name must be relative
//! and free of `.` and `..` segments, so an upload can never reach outside
//! itself.
//!
//! ```
//! let files = idl::MemoryFiles::new([(
//!     "echo.proto",
//!     r#"syntax = "proto3";
//!     package demo;
//!     import "google/api/annotations.proto";
//!     message Msg { string text = 1; }
//!     service Echo {
//!       rpc Say(Msg) returns (Msg) { option (google.api.http) = { post: "/v1/say" body: "*" }; }
//!     }"#,
//! )]);
//! let schema = idl::proto::load("echo.proto", &files).unwrap();
//! let m = &schema.services[0].methods[0];
//! assert_eq!(schema.services[0].full_name, "demo.Echo");
//! assert_eq!((m.http[0].method.as_str(), m.http[0].template.as_str()), ("POST", "/v1/say"));
//! ```

mod load;
mod template;

use std::path::{Component, Path, PathBuf};

use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor,
    MethodDescriptor, Value,
};

use crate::{FileSource, IdlError, IdlErrors};

pub use load::supplied;
pub use template::PathTemplate;

/// The full name of the `google.api.http` extension of `MethodOptions` (field 72295728).
const HTTP_EXTENSION: &str = "google.api.http";

/// A compiled set of `.proto` files.
#[derive(Debug, Clone)]
pub struct ProtoSchema {
    /// Every message, enum and service of the main file and its imports.
    pub pool: DescriptorPool,
    /// Services declared in the main file, in order.
    pub services: Vec<ProtoService>,
    /// Every user file the load read, main first (well-known and
    /// `google/api` files kitegate supplies itself are not listed).
    pub files: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ProtoService {
    /// `package.Service`.
    pub full_name: String,
    pub name: String,
    pub methods: Vec<ProtoMethod>,
}

#[derive(Debug, Clone)]
pub struct ProtoMethod {
    pub name: String,
    pub descriptor: MethodDescriptor,
    pub client_streaming: bool,
    pub server_streaming: bool,
    /// The `google.api.http` rule and its `additional_bindings`, in order,
    /// then the routes of Hertz's `api.get` … `api.any` options; empty
    /// when the method has none.
    pub http: Vec<ProtoHttpRule>,
    /// Request fields Hertz's `api.query`, `api.header` and `api.cookie`
    /// options bind, by field name.
    pub binds: Vec<(String, crate::Binding)>,
    /// `(api.vd)` rules of the request message's fields and of the
    /// messages it holds: (message full name, field name, rule).
    pub rules: Vec<(String, String, std::sync::Arc<crate::vd::Rule>)>,
    /// What a body that names no format is read as (`(api.serializer)`).
    pub body_format: crate::BodyFormat,
}

/// One HTTP binding of a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoHttpRule {
    /// `GET`, `POST`, `PUT`, `DELETE`, `PATCH`, a custom pattern's kind as
    /// written, or (Hertz's `api.any`) `ANY`: every method.
    pub method: String,
    pub template: PathTemplate,
    /// `None` (no body), `"*"` (every field not bound by the path) or a
    /// top-level request field name.
    pub body: Option<String>,
    /// A top-level response field written as the whole response body.
    pub response_body: Option<String>,
}

/// The field of `m` at a dotted path of proto (or JSON) names
/// (`sub.subfield`), through singular message fields.
pub fn field_at(m: &MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    let mut cur = m.clone();
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        let f = cur
            .get_field_by_name(p)
            .or_else(|| cur.get_field_by_json_name(p))?;
        if parts.peek().is_none() {
            return Some(f);
        }
        match f.kind() {
            Kind::Message(sub) if !f.is_list() && !f.is_map() => cur = sub,
            _ => return None,
        }
    }
    None
}

/// Loads `main` and its imports from `files` (an upload: imports resolve
/// against the set only).
pub fn load(main: &str, files: &dyn FileSource) -> Result<ProtoSchema, IdlErrors> {
    let Some(main) = files.resolve(None, main) else {
        return Err(IdlErrors::single(main, 0, "file not found"));
    };
    let text = files
        .read(&main)
        .map_err(|e| IdlErrors::single(&main, 0, format!("cannot read file: {e}")))?;

    struct Source<'a> {
        files: &'a dyn FileSource,
        main: &'a str,
    }
    impl load::Lookup for Source<'_> {
        fn find(&self, import: &str) -> Option<String> {
            self.files.resolve(Some(self.main), import)
        }
        fn read(&self, found: &str) -> std::io::Result<String> {
            self.files.read(found)
        }
    }
    let compiled = load::compile(&main, &main, &text, &Source { files, main: &main })?;
    build(compiled, &main)
}

/// Loads a `.proto` file from disk. Imports are looked up in `import_paths`
/// in order, then in the main file's directory. The main file's proto name
/// (what other files import it as) is its path relative to the first import
/// path that contains it, else its file name. Errors name files by their path
/// on disk.
pub fn load_path(
    main: impl AsRef<Path>,
    import_paths: &[PathBuf],
) -> Result<ProtoSchema, IdlErrors> {
    let main = main.as_ref();
    let display = main.to_string_lossy().into_owned();
    let text = std::fs::read_to_string(main).map_err(|e| {
        let message = if e.kind() == std::io::ErrorKind::NotFound {
            "file not found".to_string()
        } else {
            format!("cannot read file: {e}")
        };
        IdlErrors::single(&display, 0, message)
    })?;

    let mut dirs: Vec<PathBuf> = import_paths.to_vec();
    let parent = main.parent().unwrap_or(Path::new("")).to_path_buf();
    let name = dirs
        .iter()
        .find_map(|d| relative_name(main, d))
        .or_else(|| main.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| display.clone());
    if !dirs
        .iter()
        .any(|d| crate::normalize_path(d) == crate::normalize_path(&parent))
    {
        dirs.push(parent);
    }

    struct Disk(Vec<PathBuf>);
    impl load::Lookup for Disk {
        fn find(&self, import: &str) -> Option<String> {
            self.0
                .iter()
                .map(|d| d.join(import))
                .find(|p| p.is_file())
                .map(|p| crate::normalize_path(&p).to_string_lossy().into_owned())
        }
        fn read(&self, found: &str) -> std::io::Result<String> {
            std::fs::read_to_string(found)
        }
    }
    let compiled = load::compile(&name, &display, &text, &Disk(dirs))?;
    build(compiled, &name)
}

/// `main`'s proto name under import path `dir`, if it lies there.
fn relative_name(main: &Path, dir: &Path) -> Option<String> {
    let rel = crate::normalize_path(main)
        .strip_prefix(crate::normalize_path(dir))
        .ok()
        .map(Path::to_path_buf)
        .or_else(|| {
            let main = main.canonicalize().ok()?;
            let dir = dir.canonicalize().ok()?;
            main.strip_prefix(dir).ok().map(Path::to_path_buf)
        })?;
    let parts: Option<Vec<&str>> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect();
    let parts = parts?;
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Lists the main file's services and reads their HTTP rules.
fn build(compiled: load::Compiled, main_name: &str) -> Result<ProtoSchema, IdlErrors> {
    let display = compiled
        .display
        .get(main_name)
        .cloned()
        .unwrap_or_else(|| main_name.to_string());
    // Options (HTTP rules, Hertz's) are read from the compiled pool; the
    // descriptors calls use come from the one with Hertz's JSON keys.
    let pool = compiled.pool;
    let keyed = hertz_json_names(pool.clone())
        .map_err(|e| IdlErrors::single(&display, 0, format!("(api.body) / (api.go_tag): {e}")))?;
    let file = pool
        .get_file_by_name(main_name)
        .ok_or_else(|| IdlErrors::single(&display, 0, "file was not compiled"))?;
    let ext = pool.get_extension_by_name(HTTP_EXTENSION);

    let mut errors = Vec::new();
    let mut services = Vec::new();
    for svc in file.services() {
        let mut methods = Vec::new();
        for m in svc.methods() {
            let http = match &ext {
                Some(ext) => http_rules(&m, ext).unwrap_or_else(|message| {
                    errors.push(IdlError {
                        file: display.clone(),
                        line: method_line(&m, ext),
                        message: format!("{}: {message}", m.full_name()),
                    });
                    Vec::new()
                }),
                None => Vec::new(),
            };
            let mut http = http;
            let hertz = hertz_rules(&m, &pool).and_then(|routes| {
                let (binds, rules) = hertz_binds(&m.input(), &pool)?;
                let format = match string_option(&m.options(), &pool, "api.serializer") {
                    None => crate::BodyFormat::Json,
                    Some(v) => crate::http::body_format(Some(&v))?,
                };
                Ok((routes, binds, rules, format))
            });
            let (binds, rules, body_format) = match hertz {
                Ok((routes, binds, rules, format)) => {
                    http.extend(routes);
                    (binds, rules, format)
                }
                Err(message) => {
                    errors.push(IdlError {
                        file: display.clone(),
                        line: hertz_line(&m),
                        message: format!("{}: {message}", m.full_name()),
                    });
                    (Vec::new(), Vec::new(), crate::BodyFormat::Json)
                }
            };
            methods.push(ProtoMethod {
                binds,
                rules,
                body_format,
                name: m.name().to_string(),
                client_streaming: m.is_client_streaming(),
                server_streaming: m.is_server_streaming(),
                descriptor: keyed
                    .get_service_by_name(svc.full_name())
                    .and_then(|s| s.methods().find(|k| k.name() == m.name()))
                    .unwrap_or(m),
                http,
            });
        }
        services.push(ProtoService {
            full_name: svc.full_name().to_string(),
            name: svc.name().to_string(),
            methods,
        });
    }
    if !errors.is_empty() {
        return Err(IdlErrors(errors));
    }
    Ok(ProtoSchema {
        pool: keyed,
        services,
        files: compiled.files,
    })
}

/// 1-based line of the method's `google.api.http` option, else of the method.
fn method_line(m: &MethodDescriptor, ext: &ExtensionDescriptor) -> usize {
    let file = m.parent_file();
    let Some(sci) = &file.file_descriptor_proto().source_code_info else {
        return 0;
    };
    let path = m.path();
    let mut option_path = path.to_vec();
    option_path.extend([4, ext.number() as i32]);
    let find = |p: &[i32]| {
        sci.location
            .iter()
            .find(|l| l.path.starts_with(p))
            .and_then(|l| l.span.first())
            .map(|&l| l as usize + 1)
    };
    find(&option_path).or_else(|| find(path)).unwrap_or(0)
}

fn http_rules(
    m: &MethodDescriptor,
    ext: &ExtensionDescriptor,
) -> Result<Vec<ProtoHttpRule>, String> {
    let options = m.options();
    if !options.has_extension(ext) {
        return Ok(Vec::new());
    }
    let Value::Message(rule) = &*options.get_extension(ext) else {
        return Ok(Vec::new());
    };
    let (input, output) = (m.input(), m.output());
    let mut rules = vec![http_rule(rule, &input, &output)?];
    if let Some(Value::List(extra)) = rule.get_field_by_name("additional_bindings").as_deref() {
        for r in extra {
            if let Value::Message(r) = r {
                rules.push(http_rule(r, &input, &output)?);
            }
        }
    }
    Ok(rules)
}

/// One `HttpRule` (its nested `additional_bindings` aside), checked against
/// the method's request and response messages.
fn http_rule(
    rule: &DynamicMessage,
    input: &MessageDescriptor,
    output: &MessageDescriptor,
) -> Result<ProtoHttpRule, String> {
    let string = |name: &str| match rule.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let mut pattern = None;
    for (field, method) in [
        ("get", "GET"),
        ("put", "PUT"),
        ("post", "POST"),
        ("delete", "DELETE"),
        ("patch", "PATCH"),
    ] {
        if rule.has_field_by_name(field) {
            pattern = Some((method.to_string(), string(field)));
        }
    }
    if rule.has_field_by_name("custom")
        && let Some(Value::Message(custom)) = rule.get_field_by_name("custom").as_deref()
    {
        let get = |name: &str| match custom.get_field_by_name(name).as_deref() {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let kind = get("kind");
        if kind.is_empty() {
            return Err("google.api.http custom pattern has an empty kind".into());
        }
        pattern = Some((kind, get("path")));
    }
    let Some((method, path)) = pattern else {
        return Err("google.api.http sets none of get, put, post, delete, patch or custom".into());
    };
    let template = PathTemplate::parse(&path)?;
    for field_path in template.field_paths() {
        check_field_path(input, field_path)
            .map_err(|e| format!("path variable {{{field_path}}} in \"{path}\": {e}"))?;
    }
    let body = match string("body") {
        b if b.is_empty() => None,
        b if b == "*" => Some(b),
        b => {
            if input.get_field_by_name(&b).is_none() {
                return Err(format!(
                    "body \"{b}\" is not a field of {}",
                    input.full_name()
                ));
            }
            Some(b)
        }
    };
    let response_body = match string("response_body") {
        b if b.is_empty() => None,
        b => {
            if output.get_field_by_name(&b).is_none() {
                return Err(format!(
                    "response_body \"{b}\" is not a field of {}",
                    output.full_name()
                ));
            }
            Some(b)
        }
    };
    Ok(ProtoHttpRule {
        method,
        template,
        body,
        response_body,
    })
}

/// The pool with the JSON keys Hertz options give fields, `(api.body) =
/// "key"` or a json name in `(api.go_tag)`, as those fields' JSON names:
/// requests and replies then use them, nested messages included, as the
/// code hz generates does.
fn hertz_json_names(pool: DescriptorPool) -> Result<DescriptorPool, String> {
    if pool.get_extension_by_name("api.body").is_none() {
        return Ok(pool);
    }
    let mut renames: Vec<(String, String, String)> = Vec::new();
    for msg in pool.all_messages() {
        for f in msg.fields() {
            let options = f.options();
            let key = string_option(&options, &pool, "api.body")
                .filter(|k| !k.is_empty())
                .or_else(|| {
                    string_option(&options, &pool, "api.go_tag")
                        .and_then(|t| crate::http::go_tag_json(&t).map(str::to_string))
                });
            if let Some(key) = key
                && key != f.json_name()
            {
                renames.push((msg.full_name().to_string(), f.name().to_string(), key));
            }
        }
    }
    if renames.is_empty() {
        return Ok(pool);
    }
    fn walk(
        prefix: &str,
        msgs: &mut [prost_reflect::prost_types::DescriptorProto],
        renames: &[(String, String, String)],
    ) {
        for m in msgs {
            let full = format!("{prefix}{}", m.name());
            for f in &mut m.field {
                if let Some((_, _, key)) = renames
                    .iter()
                    .find(|(msg, field, _)| *msg == full && field == f.name())
                {
                    f.json_name = Some(key.clone());
                }
            }
            walk(&format!("{full}."), &mut m.nested_type, renames);
        }
    }
    let mut files: Vec<_> = pool.file_descriptor_protos().cloned().collect();
    for file in &mut files {
        let prefix = match file.package() {
            "" => String::new(),
            p => format!("{p}."),
        };
        walk(&prefix, &mut file.message_type, &renames);
    }
    let mut out = DescriptorPool::new();
    out.add_file_descriptor_protos(files)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Hertz's method options (`api.proto`) and the HTTP method each names.
const HERTZ_METHODS: [(&str, &str); 8] = [
    ("api.get", "GET"),
    ("api.post", "POST"),
    ("api.put", "PUT"),
    ("api.delete", "DELETE"),
    ("api.patch", "PATCH"),
    ("api.options", "OPTIONS"),
    ("api.head", "HEAD"),
    ("api.any", "ANY"),
];

/// A string option of `options` by extension name, if the pool has the
/// extension and the options set it.
fn string_option(options: &DynamicMessage, pool: &DescriptorPool, name: &str) -> Option<String> {
    let ext = pool.get_extension_by_name(name)?;
    if !options.has_extension(&ext) {
        return None;
    }
    match &*options.get_extension(&ext) {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The routes of a method's Hertz options: Hertz paths (`/a/:id/*rest`)
/// made templates whose variables are the fields `api.path` names (else
/// the fields of those names); the body is the rest of the message.
fn hertz_rules(m: &MethodDescriptor, pool: &DescriptorPool) -> Result<Vec<ProtoHttpRule>, String> {
    let options = m.options();
    let input = m.input();
    let mut rules = Vec::new();
    for (ext, verb) in HERTZ_METHODS {
        let Some(path) = string_option(&options, pool, ext) else {
            continue;
        };
        let mut template = String::new();
        for seg in path.trim_start_matches('/').split('/') {
            template.push('/');
            let (var, rest) = match seg.as_bytes().first() {
                Some(b':') => (&seg[1..], false),
                Some(b'*') => (&seg[1..], true),
                _ => {
                    template.push_str(seg);
                    continue;
                }
            };
            let field = input
                .fields()
                .find(|f| string_option(&f.options(), pool, "api.path").as_deref() == Some(var))
                .or_else(|| input.get_field_by_name(var))
                .ok_or_else(|| {
                    format!(
                        "{ext} = \"{path}\": no field of {} for :{var} (by api.path or by name)",
                        input.full_name()
                    )
                })?;
            template.push('{');
            template.push_str(field.name());
            if rest {
                template.push_str("=**");
            }
            template.push('}');
        }
        let template =
            PathTemplate::parse(&template).map_err(|e| format!("{ext} = \"{path}\": {e}"))?;
        for field_path in template.field_paths() {
            check_field_path(&input, field_path).map_err(|e| format!("{ext} = \"{path}\": {e}"))?;
        }
        rules.push(ProtoHttpRule {
            method: verb.to_string(),
            template,
            body: Some("*".to_string()),
            response_body: None,
        });
    }
    Ok(rules)
}

/// The request fields bound to HTTP values by Hertz field options, and the
/// `(api.vd)` rules of request fields.
type HertzFields = (
    Vec<(String, crate::Binding)>,
    Vec<(String, String, std::sync::Arc<crate::vd::Rule>)>,
);

/// Hertz field options of a request message that bind HTTP values:
/// `api.query`, `api.header`, `api.cookie` (and `api.path`, which the
/// route's template binds), and its `api.vd` rules. The options kitegate
/// does not serve on protobuf backends are refused rather than ignored.
fn hertz_binds(input: &MessageDescriptor, pool: &DescriptorPool) -> Result<HertzFields, String> {
    let mut out = Vec::new();
    let mut rules = Vec::new();
    message_rules(input, pool, &mut rules, &mut Vec::new())?;
    for f in input.fields() {
        let options = f.options();
        let name = |v: String| {
            if v.is_empty() {
                f.name().to_string()
            } else {
                v
            }
        };
        if let Some(v) = string_option(&options, pool, "api.query") {
            out.push((f.name().to_string(), crate::Binding::Query(name(v))));
        } else if let Some(v) = string_option(&options, pool, "api.header") {
            out.push((
                f.name().to_string(),
                crate::Binding::Header(name(v).to_ascii_lowercase()),
            ));
        } else if let Some(v) = string_option(&options, pool, "api.cookie") {
            out.push((f.name().to_string(), crate::Binding::Cookie(name(v))));
        }
        for unserved in ["api.raw_body", "api.form", "api.file_name"] {
            if string_option(&options, pool, unserved).is_some() {
                return Err(format!(
                    "field {}: ({unserved}) is not served on protobuf backends (it is on Thrift ones; form bodies set fields by their paths)",
                    f.name()
                ));
            }
        }
    }
    Ok((out, rules))
}

/// The `(api.vd)` rules of `msg`'s fields and of every message it holds
/// (once each, recursion included).
fn message_rules(
    msg: &MessageDescriptor,
    pool: &DescriptorPool,
    out: &mut Vec<(String, String, std::sync::Arc<crate::vd::Rule>)>,
    seen: &mut Vec<String>,
) -> Result<(), String> {
    if seen.iter().any(|s| s == msg.full_name()) {
        return Ok(());
    }
    seen.push(msg.full_name().to_string());
    for f in msg.fields() {
        if let Some(rule) = string_option(&f.options(), pool, "api.vd") {
            let parsed = crate::vd::Rule::parse(&rule).map_err(|e| {
                format!(
                    "field {}.{}: (api.vd) = \"{rule}\": {e}",
                    msg.name(),
                    f.name()
                )
            })?;
            out.push((
                msg.full_name().to_string(),
                f.name().to_string(),
                std::sync::Arc::new(parsed),
            ));
        }
        let inner = match f.kind() {
            Kind::Message(m) if f.is_map() => {
                m.map_entry_value_field().kind().as_message().cloned()
            }
            Kind::Message(m) => Some(m),
            _ => None,
        };
        if let Some(m) = inner
            && m.package_name() != "google.protobuf"
        {
            message_rules(&m, pool, out, seen)?;
        }
    }
    Ok(())
}

/// 1-based line of a method (its Hertz options are on it).
fn hertz_line(m: &MethodDescriptor) -> usize {
    let file = m.parent_file();
    let Some(sci) = &file.file_descriptor_proto().source_code_info else {
        return 0;
    };
    sci.location
        .iter()
        .find(|l| l.path == m.path())
        .and_then(|l| l.span.first())
        .map_or(0, |&l| l as usize + 1)
}

/// Checks that `a.b.c` names a field of `msg`, through singular message fields.
fn check_field_path(msg: &MessageDescriptor, path: &str) -> Result<(), String> {
    let mut msg = msg.clone();
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let Some(field) = msg.get_field_by_name(part) else {
            return Err(format!("no field \"{part}\" in {}", msg.full_name()));
        };
        if parts.peek().is_some() {
            match field.kind().as_message() {
                Some(m) if !field.is_list() && !field.is_map() => msg = m.clone(),
                _ => {
                    return Err(format!(
                        "field \"{part}\" of {} is not a singular message",
                        msg.full_name()
                    ));
                }
            }
        } else if field.is_list() || field.is_map() {
            return Err(format!(
                "field \"{part}\" of {} is repeated",
                msg.full_name()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
