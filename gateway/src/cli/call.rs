//! `kitegate call` and `kitegate describe`. A method is found by name in
//! its backend's OpenAPI document: the running gateway's (from the admin
//! API, called at the front door the document names), or, for a direct
//! call with `--idl`, one built here from the IDL for a gateway that runs
//! in this process with that one backend and no listener, so the call
//! goes through the same routes, codecs and call pipeline. The request is
//! made from what the document says of the method's first route: path
//! variables and query parameters taken from the JSON input, the rest as
//! the body (one line per message for a client stream).

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value, json};

use super::admin_client::{Admin, segment};
use super::{AdminArgs, Failure};

/// The name a direct call's backend goes by.
const DIRECT: &str = "call";

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    kitegate call hello Hello.add '{\"first\": 512, \"second\": 512}'\n  \
    echo '{\"to\": 3}' | kitegate call hello-grpc Count - --stream\n  \
    kitegate call --idl idl/hello.thrift --protocol thrift --transport ttheader \\\n      \
    --endpoint 127.0.0.1:8889 Hello.add '{\"first\": 1, \"second\": 2}'")]
pub struct CallArgs {
    /// BACKEND METHOD [JSON]: through a running gateway; with --idl, METHOD
    /// [JSON] straight to the backend. METHOD is `Service.method` or
    /// `method`; JSON is the request (path and query fields included), `-`
    /// to read it from standard input, `{}` when left out. For a client
    /// stream, a JSON array or one message per line.
    #[arg(value_name = "ARGS", num_args = 1..=3, required = true)]
    pub args: Vec<String>,
    /// Print a streamed answer line by line as it arrives.
    #[arg(long)]
    pub stream: bool,
    /// Call the backend directly, with no gateway running: its main IDL file.
    #[arg(long, value_name = "FILE")]
    pub idl: Option<PathBuf>,
    /// Directory searched for includes and imports (repeatable).
    #[arg(long = "include-dir", short = 'I', value_name = "DIR")]
    pub include_dirs: Vec<PathBuf>,
    /// A direct call's protocol.
    #[arg(long, value_name = "P", default_value = gateway::protocol::builtin::DEFAULT_PROTOCOL, value_parser = clap::builder::PossibleValuesParser::new(gateway::protocol::names()))]
    pub protocol: String,
    /// A direct call's transport.
    #[arg(long, value_name = "T", default_value = gateway::protocol::builtin::DEFAULT_TRANSPORT, value_parser = clap::builder::PossibleValuesParser::new(gateway::protocol::transport_names()))]
    pub transport: String,
    /// A direct call's backend address (repeatable).
    #[arg(long = "endpoint", value_name = "HOST:PORT")]
    pub endpoints: Vec<String>,
    /// A direct call's backend option (repeatable), as `register --option`.
    #[arg(long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// A direct call's reply timeout in milliseconds.
    #[arg(long, value_name = "N")]
    pub timeout_ms: Option<u64>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// The backend.
    #[arg(value_name = "BACKEND")]
    pub backend: String,
    /// Only this method (`Service.method` or `method`).
    #[arg(value_name = "METHOD")]
    pub method: Option<String>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// One operation of a document: its path, HTTP method and object.
struct Op<'a> {
    path: &'a str,
    verb: &'a str,
    op: &'a Value,
}

fn operations(doc: &Value) -> Vec<Op<'_>> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (verb, op) in item.as_object().into_iter().flatten() {
            out.push(Op { path, verb, op });
        }
    }
    out
}

/// The `Service.method` of an operation.
fn method_of<'a>(op: &Op<'a>) -> &'a str {
    op.op["summary"].as_str().unwrap_or("")
}

fn matches(op: &Op, method: &str) -> bool {
    let m = method_of(op);
    m == method || m.rsplit_once('.').is_some_and(|(_, name)| name == method)
}

/// The operations of `method` in `doc`, its first route first; an error
/// naming the methods there are when none or several methods match.
fn find<'a>(doc: &'a Value, backend: &str, method: &str) -> Result<Vec<Op<'a>>, Failure> {
    let ops: Vec<Op> = operations(doc)
        .into_iter()
        .filter(|o| matches(o, method))
        .collect();
    let mut names: Vec<&str> = ops.iter().map(method_of).collect();
    names.sort();
    names.dedup();
    match names.len() {
        0 => {
            let mut all: Vec<&str> = operations(doc).iter().map(method_of).collect();
            all.sort();
            all.dedup();
            Err(Failure::Failed(format!(
                "backend `{backend}` has no method `{method}`; its methods: {}",
                all.join(", ")
            )))
        }
        1 => {
            let first = format!("{backend}.{}", names[0]);
            let mut ops = ops;
            ops.sort_by_key(|o| o.op["operationId"] != first.as_str());
            Ok(ops)
        }
        _ => Err(Failure::Failed(format!(
            "`{method}` is ambiguous in backend `{backend}`: {}",
            names.join(", ")
        ))),
    }
}

/// The value at a dotted path of `input`.
fn lookup<'a>(input: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(input, |v, k| v.get(k))
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Percent-encodes a path value; `/` stays when the route takes several segments.
fn encode(s: &str, keep_slash: bool, query: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else if query && b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An HTTP request made from an operation and the JSON input.
struct Built {
    verb: String,
    /// Path and query.
    target: String,
    headers: Vec<(String, String)>,
    body: Option<(&'static str, Vec<u8>)>,
}

/// The request input: JSON text, or for a client stream NDJSON lines.
enum Input {
    Json(Value),
    Lines(String),
}

fn build(op: &Op, input: &Input) -> Result<Built, Failure> {
    let empty = json!({});
    let first = match input {
        Input::Json(v) => v,
        Input::Lines(_) => &empty,
    };
    let obj = match first {
        Value::Array(a) => a.first().unwrap_or(&empty),
        v => v,
    };
    let mut path = op.path.to_string();
    let mut query = Vec::new();
    let mut headers = Vec::new();
    let mut used = Vec::new();
    for p in op.op["parameters"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("");
        let value = lookup(obj, name);
        match (p["in"].as_str(), value) {
            (Some("path"), Some(v)) => {
                let several = p["schema"]["pattern"].is_string();
                path = path.replace(&format!("{{{name}}}"), &encode(&text_of(v), several, false));
            }
            (Some("path"), None) => {
                return Err(Failure::Usage(format!(
                    "the route {} {} needs `{name}` in the request",
                    op.verb.to_ascii_uppercase(),
                    op.path
                )));
            }
            (Some("query"), Some(Value::Array(items))) => {
                for i in items {
                    query.push(format!(
                        "{}={}",
                        encode(name, false, true),
                        encode(&text_of(i), false, true)
                    ));
                }
            }
            (Some("query"), Some(v)) => {
                query.push(format!(
                    "{}={}",
                    encode(name, false, true),
                    encode(&text_of(v), false, true)
                ));
            }
            (Some("header"), Some(v)) => headers.push((name.to_string(), text_of(v))),
            (Some("cookie"), Some(v)) => {
                headers.push(("cookie".into(), format!("{name}={}", text_of(v))))
            }
            _ => {}
        }
        if value.is_some() {
            used.push(name.split('.').next().unwrap_or(name).to_string());
        }
    }
    let body = &op.op["requestBody"];
    let content = &body["content"];
    let body = if content.get("application/x-ndjson").is_some() {
        let text = match input {
            Input::Lines(t) => t.clone(),
            Input::Json(Value::Array(items)) => items.iter().map(|i| format!("{i}\n")).collect(),
            Input::Json(v) => format!("{v}\n"),
        };
        Some(("application/x-ndjson", text.into_bytes()))
    } else if content.get("application/json").is_some() {
        let value = match body["x-body-field"].as_str() {
            Some(field) => lookup(obj, field).cloned().unwrap_or(json!({})),
            None => match obj {
                Value::Object(m) => Value::Object(
                    m.iter()
                        .filter(|(k, _)| !used.contains(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<Map<_, _>>(),
                ),
                other => other.clone(),
            },
        };
        Some(("application/json", value.to_string().into_bytes()))
    } else {
        None
    };
    let target = if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    };
    Ok(Built {
        verb: op.verb.to_ascii_uppercase(),
        target,
        headers,
        body,
    })
}

/// Reads the request argument: JSON text, `-` for standard input, `{}` when absent.
fn read_input(arg: Option<&str>, streaming_request: bool) -> Result<Input, Failure> {
    let text = match arg {
        None => "{}".to_string(),
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Failure::Usage(format!("cannot read standard input: {e}")))?;
            s
        }
        Some(t) => t.to_string(),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => Ok(Input::Json(v)),
        Err(_) if streaming_request => Ok(Input::Lines(text)),
        Err(e) => Err(Failure::Usage(format!("the request is not JSON: {e}"))),
    }
}

/// Whether the operation answers a stream.
fn streams(op: &Op) -> bool {
    op.op["responses"]["200"]["content"]
        .get("application/x-ndjson")
        .is_some()
}

/// Prints an answer read from `body` with `status`; a failure (a status
/// that is not 2xx, or an error item ending a stream) goes to standard
/// error with the status, and is the command's failure.
fn print_answer(
    status: u16,
    body: &mut dyn Read,
    stream: bool,
    compact: bool,
) -> Result<(), Failure> {
    let out = std::io::stdout();
    let pretty = !compact && out.is_terminal();
    if (200..300).contains(&status) && stream {
        let mut failed = None;
        for line in BufReader::new(body).lines() {
            let line = line.map_err(|e| Failure::Failed(format!("the stream broke: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            let item = line.strip_prefix("data: ").unwrap_or(&line);
            if let Ok(v) = serde_json::from_str::<Value>(item)
                && v.get("error").is_some()
            {
                failed = Some(v);
                break;
            }
            let mut o = out.lock();
            let _ = writeln!(o, "{item}");
            let _ = o.flush();
        }
        return match failed {
            None => Ok(()),
            Some(e) => {
                let code = e["error"]["http_status"].as_u64().unwrap_or(0);
                Err(Failure::Failed(format!(
                    "the stream ended with an error (HTTP {code}):\n{}",
                    serde_json::to_string_pretty(&e).unwrap_or_default()
                )))
            }
        };
    }
    let mut text = String::new();
    body.read_to_string(&mut text)
        .map_err(|e| Failure::Failed(format!("cannot read the answer: {e}")))?;
    let shown = match serde_json::from_str::<Value>(&text) {
        Ok(v) if pretty || !(200..300).contains(&status) => {
            serde_json::to_string_pretty(&v).unwrap_or(text)
        }
        _ => text.trim_end().to_string(),
    };
    if (200..300).contains(&status) {
        println!("{shown}");
        Ok(())
    } else {
        Err(Failure::Failed(format!("HTTP {status}\n{shown}")))
    }
}

pub(super) fn call(a: CallArgs) -> Result<(), Failure> {
    let direct = a.idl.is_some() || !a.endpoints.is_empty();
    let (backend, method, json) = match (direct, a.args.as_slice()) {
        (true, [m]) => (DIRECT.to_string(), m.clone(), None),
        (true, [m, j]) => (DIRECT.to_string(), m.clone(), Some(j.clone())),
        (false, [b, m]) => (b.clone(), m.clone(), None),
        (false, [b, m, j]) => (b.clone(), m.clone(), Some(j.clone())),
        (true, _) => {
            return Err(Failure::Usage(
                "a direct call takes METHOD [JSON] (no backend name)".into(),
            ));
        }
        (false, _) => {
            return Err(Failure::Usage(
                "expected BACKEND METHOD [JSON] (or --idl and --endpoint for a direct call)".into(),
            ));
        }
    };
    if direct {
        return direct_call(&a, &method, json.as_deref());
    }
    let admin = Admin::new(&a.admin)?;
    let (_, doc) = admin.send(
        "GET",
        &format!("/admin/backends/{}/openapi.json", segment(&backend)),
        None,
    )?;
    let ops = find(&doc, &backend, &method)?;
    let op = &ops[0];
    let input = read_input(
        json.as_deref(),
        op.op["requestBody"]["content"]
            .get("application/x-ndjson")
            .is_some(),
    )?;
    let built = build(op, &input)?;
    let Some(front) = doc["servers"][0]["url"].as_str() else {
        return Err(Failure::Failed(
            "the gateway's document names no front door URL".into(),
        ));
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(std::time::Duration::from_secs(5)))
        .tls_config(super::admin_client::tls_config(&a.admin)?)
        .build()
        .into();
    let url = format!("{}{}", front.trim_end_matches('/'), built.target);
    let http = ureq::http::Request::builder()
        .method(built.verb.as_str())
        .uri(&url);
    let http = built
        .headers
        .iter()
        .fold(http, |r, (k, v)| r.header(k.as_str(), v.as_str()));
    let sent = match built.body {
        Some((ct, bytes)) => agent.run(
            http.header("content-type", ct)
                .body(bytes)
                .map_err(|e| Failure::Usage(e.to_string()))?,
        ),
        None => agent.run(http.body(()).map_err(|e| Failure::Usage(e.to_string()))?),
    };
    let mut resp =
        sent.map_err(|e| Failure::Failed(format!("cannot reach the front door at {front}: {e}")))?;
    let status = resp.status().as_u16();
    let mut body = resp.body_mut().as_reader();
    print_answer(status, &mut body, a.stream || streams(op), a.admin.json)
}

/// A call straight to a backend: a gateway with that one backend runs in
/// this process, with no listener, and takes the request.
fn direct_call(a: &CallArgs, method: &str, json: Option<&str>) -> Result<(), Failure> {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    if a.endpoints.is_empty() {
        return Err(Failure::Usage(
            "a direct call needs --endpoint HOST:PORT".into(),
        ));
    }
    let options = super::commands::parse_options(&a.options)?;
    let cfg = gateway::config::BackendConfig {
        name: DIRECT.into(),
        protocol: a.protocol.clone(),
        transport: a.transport.clone(),
        endpoints: serde_json::from_value(json!(a.endpoints))
            .map_err(|e| Failure::Usage(format!("--endpoint: {e}")))?,
        idl: a.idl.clone().unwrap_or_default(),
        include_dirs: a.include_dirs.clone(),
        timeout_ms: a.timeout_ms,
        options: serde_json::from_value(Value::Object(options))
            .map_err(|e| Failure::Usage(format!("--option: {e}")))?,
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async {
        let top = gateway::config::Config::default();
        let cache = gateway::transport::EndpointCache::default();
        let (backend, _) =
            gateway::load_backend(&cfg, &top, &cache, None).map_err(Failure::Failed)?;
        let doc = gateway::openapi::document(std::slice::from_ref(&backend), None);
        let ops = find(&doc, DIRECT, method)?;
        let op = &ops[0];
        let input = read_input(
            json,
            op.op["requestBody"]["content"]
                .get("application/x-ndjson")
                .is_some(),
        )?;
        let built = build(op, &input)?;
        let gw = gateway::Gateway::new(top.body_limit);
        gw.set_backends(vec![backend]).map_err(Failure::Failed)?;
        let req = built.headers.iter().fold(
            axum::http::Request::builder()
                .method(built.verb.as_str())
                .uri(&built.target),
            |r, (k, v)| r.header(k.as_str(), v.as_str()),
        );
        let req = match built.body {
            Some((ct, bytes)) => req
                .header("content-type", ct)
                .body(axum::body::Body::from(bytes)),
            None => req.body(axum::body::Body::empty()),
        }
        .map_err(|e| Failure::Usage(e.to_string()))?;
        let resp = gateway::app(gw)
            .oneshot(req)
            .await
            .map_err(|e| Failure::Failed(e.to_string()))?;
        let status = resp.status().as_u16();
        let stream = a.stream || streams(op);
        let mut body = resp.into_body();
        if stream && (200..300).contains(&status) {
            // Each frame is printed as it comes.
            let mut pending = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| Failure::Failed(format!("the stream broke: {e}")))?;
                if let Some(data) = frame.data_ref() {
                    pending.extend_from_slice(data);
                    if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
                        let lines: Vec<u8> = pending.drain(..=end).collect();
                        print_answer(status, &mut lines.as_slice(), true, a.admin.json)?;
                    }
                }
            }
            return print_answer(status, &mut pending.as_slice(), true, a.admin.json);
        }
        let bytes = body
            .collect()
            .await
            .map_err(|e| Failure::Failed(format!("cannot read the answer: {e}")))?
            .to_bytes();
        print_answer(status, &mut bytes.as_ref(), false, a.admin.json)
    })
}

pub(super) fn describe(a: DescribeArgs) -> Result<(), Failure> {
    let admin = Admin::new(&a.admin)?;
    let (_, doc) = admin.send(
        "GET",
        &format!("/admin/backends/{}/openapi.json", segment(&a.backend)),
        None,
    )?;
    let ops = match &a.method {
        Some(m) => find(&doc, &a.backend, m)?,
        None => operations(&doc),
    };
    let mut methods: Vec<(&str, Vec<&Op>)> = Vec::new();
    for op in &ops {
        let m = method_of(op);
        match methods.iter_mut().find(|(name, _)| *name == m) {
            Some((_, list)) => list.push(op),
            None => methods.push((m, vec![op])),
        }
    }
    methods.sort_by_key(|(m, _)| *m);
    if a.admin.json {
        let out: Vec<Value> = methods
            .iter()
            .map(|(m, ops)| {
                let op = ops[0].op;
                json!({
                    "method": m,
                    "routes": ops.iter().map(|o| json!({"method": o.verb.to_ascii_uppercase(), "path": o.path})).collect::<Vec<_>>(),
                    "parameters": op.get("parameters").cloned().unwrap_or(json!([])),
                    "request": request_schema(op).map(|s| inline(&doc, s, 0)),
                    "response": response_schema(op).map(|s| inline(&doc, s, 0)),
                    "example": example_of(&doc, op),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(());
    }
    for (m, ops) in &methods {
        let op = ops[0].op;
        println!("{m}");
        for o in ops {
            println!("  {} {}", o.verb.to_ascii_uppercase(), o.path);
        }
        for p in op["parameters"].as_array().into_iter().flatten() {
            println!(
                "  {} parameter {}: {}",
                p["in"].as_str().unwrap_or(""),
                p["name"].as_str().unwrap_or(""),
                render(&doc, &p["schema"], 0)
            );
        }
        if let Some(s) = request_schema(op) {
            println!("  request:  {}", render(&doc, s, 0));
        }
        if let Some(s) = response_schema(op) {
            let stream = if op["responses"]["200"]["content"]
                .get("application/x-ndjson")
                .is_some()
            {
                "stream of "
            } else {
                ""
            };
            println!("  response: {stream}{}", render(&doc, s, 0));
        }
        if let Some(e) = example_of(&doc, op) {
            println!("  example:  {e}");
        }
    }
    Ok(())
}

fn request_schema(op: &Value) -> Option<&Value> {
    let c = &op["requestBody"]["content"];
    c["application/json"]["schema"]
        .as_object()
        .or_else(|| c["application/x-ndjson"]["schema"].as_object())
        .map(|_| {
            if c["application/json"].get("schema").is_some() {
                &c["application/json"]["schema"]
            } else {
                &c["application/x-ndjson"]["schema"]
            }
        })
}

fn response_schema(op: &Value) -> Option<&Value> {
    let c = &op["responses"]["200"]["content"];
    ["application/json", "application/x-ndjson"]
        .iter()
        .find_map(|m| c[*m].get("schema"))
}

/// The request body's example (the document carries one), with the
/// parameters' fields put back in, as `call` takes it.
fn example_of(doc: &Value, op: &Value) -> Option<Value> {
    let c = &op["requestBody"]["content"];
    let body = ["application/json", "application/x-ndjson"]
        .iter()
        .find_map(|m| c[*m].get("example").cloned());
    let mut out = match (body, op["requestBody"]["x-body-field"].as_str()) {
        (Some(b), Some(field)) => json!({ field: b }),
        (Some(b), None) => b,
        (None, _) => json!({}),
    };
    for p in op["parameters"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("");
        if let Value::Object(o) = &mut out
            && !name.contains('.')
            && !o.contains_key(name)
            && p["required"] == true
        {
            o.insert(
                name.to_string(),
                gateway::openapi::example(doc, &p["schema"]),
            );
        }
    }
    Some(out)
}

/// A schema with its references replaced by what they point to, three deep.
fn inline(doc: &Value, s: &Value, depth: usize) -> Value {
    match s {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str)
                && depth < 3
                && let Some(t) = r.strip_prefix('#').and_then(|p| doc.pointer(p))
            {
                return inline(doc, t, depth + 1);
            }
            Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), inline(doc, v, depth)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| inline(doc, v, depth)).collect()),
        other => other.clone(),
    }
}

/// A schema as a short type expression: `AddRequest {first: int64, second: int64}`.
fn render(doc: &Value, s: &Value, depth: usize) -> String {
    if let Some(r) = s["$ref"].as_str() {
        let Some(t) = r.strip_prefix('#').and_then(|p| doc.pointer(p)) else {
            return r.to_string();
        };
        let title = t["title"].as_str().unwrap_or("");
        if depth >= 2 || t.get("properties").is_none() {
            return if title.is_empty() {
                render(doc, t, depth + 1)
            } else {
                title.to_string()
            };
        }
        return format!("{title} {}", render(doc, t, depth + 1));
    }
    if let Some(e) = s["enum"].as_array() {
        return e
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    if let Some(any) = s["anyOf"].as_array().or_else(|| s["oneOf"].as_array()) {
        return any
            .first()
            .map(|f| render(doc, f, depth))
            .unwrap_or_default();
    }
    let ty = match &s["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts.first().and_then(Value::as_str).unwrap_or("").to_string(),
        _ if s.get("properties").is_some() => "object".into(),
        _ => "any".into(),
    };
    match ty.as_str() {
        "array" => format!("[{}]", render(doc, &s["items"], depth)),
        "object" => match s["properties"].as_object() {
            Some(p) if !p.is_empty() => {
                let fields: Vec<String> = p
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", render(doc, v, depth + 1)))
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }
            _ => match s.get("additionalProperties") {
                Some(v) if v.is_object() => format!("{{string: {}}}", render(doc, v, depth)),
                _ => "{}".into(),
            },
        },
        "integer" | "string" => s["format"]
            .as_str()
            .filter(|f| !f.is_empty())
            .map_or(ty.clone(), str::to_string),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "paths": {
                "/v1/items/{item_id}": {"get": {"operationId": "b.S.Get", "summary": "S.Get", "parameters": [
                    {"name": "item_id", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "tags", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                    {"name": "page.size", "in": "query", "schema": {"type": "integer"}},
                ]}},
                "/v1/{item.name}": {"patch": {"operationId": "b.S.Update", "summary": "S.Update", "parameters": [
                    {"name": "item.name", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^items/[^/]+$"}},
                ], "requestBody": {"x-body-field": "item", "content": {"application/json": {"schema": {}}}}}},
                "/S/Collect": {"post": {"operationId": "b.S.Collect", "summary": "S.Collect",
                    "requestBody": {"content": {"application/x-ndjson": {"schema": {}}}}}},
                "/add": {"post": {"operationId": "b.S.add", "summary": "S.add",
                    "requestBody": {"content": {"application/json": {"schema": {}}}}}},
                "/T/add": {"post": {"operationId": "b.T.add", "summary": "T.add"}},
            }
        })
    }

    #[test]
    fn requests_are_made_from_the_document() {
        let d = doc();
        let get = &find(&d, "b", "Get").unwrap()[0];
        let b = build(
            get,
            &Input::Json(json!({"item_id": "a b", "tags": ["x", "y"], "page": {"size": 3}})),
        )
        .unwrap();
        assert_eq!(
            (b.verb.as_str(), b.target.as_str()),
            ("GET", "/v1/items/a%20b?tags=x&tags=y&page.size=3")
        );
        assert!(b.body.is_none());
        let up = &find(&d, "b", "S.Update").unwrap()[0];
        let b = build(
            up,
            &Input::Json(json!({"item": {"name": "items/7", "title": "t"}})),
        )
        .unwrap();
        assert_eq!(b.target, "/v1/items/7");
        assert_eq!(b.body.unwrap().1, br#"{"name":"items/7","title":"t"}"#);
        let c = &find(&d, "b", "Collect").unwrap()[0];
        let b = build(c, &Input::Json(json!([{"n": 1}, {"n": 2}]))).unwrap();
        assert_eq!(
            b.body.unwrap(),
            ("application/x-ndjson", b"{\"n\":1}\n{\"n\":2}\n".to_vec())
        );
        assert!(
            build(get, &Input::Json(json!({}))).is_err(),
            "a path variable is needed"
        );
        // `add` names two methods; the qualified name picks one.
        assert!(find(&d, "b", "add").is_err());
        let add = &find(&d, "b", "S.add").unwrap()[0];
        let b = build(add, &Input::Json(json!({"first": 1}))).unwrap();
        assert_eq!(b.body.unwrap().1, br#"{"first":1}"#);
        assert!(find(&d, "b", "nope").is_err());
    }
}
