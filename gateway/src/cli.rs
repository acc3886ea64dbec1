//! The command-line client: `register`, `backends`, `routes`, `remove` talk
//! to a running gateway's admin API; `check` loads an IDL file locally and
//! prints its methods and routes.
//!
//! Exit codes: 0 on success, 1 when the admin API refused the request (its
//! message is printed), could not be reached, or (for `check`) the IDL has
//! errors; 2 on usage and local errors (bad flags, unreadable files,
//! includes that cannot be found).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use idl::{FileSource, MemoryFiles};
use serde_json::{Map, Value, json};

use gateway::routes::{method_routes, to_matchit};

const DEFAULT_ADMIN: &str = "http://127.0.0.1:9888";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Register (or replace) a backend on a running gateway, uploading its IDL with every file it includes.
    ///
    /// Includes are looked up next to the including file, then in each --include-dir
    /// in order (as the Thrift compiler's -I), following the `include "..."` lines of
    /// every file; all of them are uploaded with the main file.
    #[command(
        after_help = "Example:\n  kitegate register --name users --idl idl/user.thrift --include-dir idl/common \\\n      --protocol thrift --transport ttheader --endpoint 10.0.0.5:9090 --prefix /users"
    )]
    Register(RegisterArgs),
    /// List the backends of a running gateway.
    Backends(ListArgs),
    /// List every HTTP route of a running gateway and the method it calls.
    Routes(ListArgs),
    /// Remove a backend from a running gateway (its routes stop at once).
    Remove(RemoveArgs),
    /// Parse an IDL file and print its methods and HTTP routes, without a server.
    ///
    /// Prints every IDL problem as `file:line: message` and exits 1 when there is one;
    /// also exits 1 when two methods claim the same HTTP route.
    Check(CheckArgs),
}

/// How to reach the admin API.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Admin API base URL. The token, if the gateway wants one, is read from
    /// KITEGATE_ADMIN_TOKEN and sent as `Authorization: Bearer <token>`.
    #[arg(long, env = "KITEGATE_ADMIN", default_value = DEFAULT_ADMIN, value_name = "URL")]
    pub admin: String,
    /// Print the admin API's raw JSON answer instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// Backend name (replaces a backend registered earlier under this name).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Main IDL file (.thrift, or .proto for kitex-protobuf and grpc); a
    /// dubbo backend may leave it out with --option java_interface=… (generic calls only).
    #[arg(long, value_name = "FILE")]
    pub idl: Option<PathBuf>,
    /// Directory searched for includes not found next to the including file (repeatable).
    #[arg(long = "include-dir", short = 'I', value_name = "DIR")]
    pub include_dirs: Vec<PathBuf>,
    /// Protocol the backend speaks.
    #[arg(long, value_name = "P", value_parser = ["thrift", "thrift-compact", "kitex-protobuf", "grpc", "dubbo"])]
    pub protocol: String,
    /// Framing on the connection (use ttheader for Kitex servers; ignored by grpc and dubbo).
    #[arg(long, value_name = "T", default_value = "framed", value_parser = ["buffered", "framed", "ttheader", "ttheader-framed"])]
    pub transport: String,
    /// Backend address; repeat for several (called round robin).
    #[arg(long = "endpoint", value_name = "HOST:PORT", required = true)]
    pub endpoints: Vec<String>,
    /// Path prefix put before every route of this backend, e.g. /users.
    #[arg(long, value_name = "/P")]
    pub prefix: Option<String>,
    /// Only expose this service of the main file (repeatable; default: every service).
    #[arg(long = "service", value_name = "S")]
    pub services: Vec<String>,
    /// Reply timeout in milliseconds (default: the gateway's).
    #[arg(long, value_name = "N")]
    pub timeout_ms: Option<u64>,
    /// Backend option (repeatable): enum_as_name=BOOL, i64_as_string=BOOL,
    /// reject_unknown_fields=BOOL, emit_defaults=BOOL, proto_field_names=BOOL,
    /// omit_response_metadata=BOOL, accept_gzip=BOOL, max_frame=BYTES,
    /// forward_headers=NAME,NAME, java_interface=NAME, dubbo_version=V, dubbo_group=G.
    #[arg(long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Args, Debug)]
pub struct RemoveArgs {
    /// Name of the backend to remove.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Main Thrift IDL file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Directory searched for includes not found next to the including file (repeatable).
    #[arg(long = "include-dir", short = 'I', value_name = "DIR")]
    pub include_dirs: Vec<PathBuf>,
    /// Path prefix put before every route, as `register --prefix` would.
    #[arg(long, value_name = "/P")]
    pub prefix: Option<String>,
    /// Print the methods and routes as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Why a command failed, which decides the exit code.
enum Failure {
    /// Exit 1: the server said no, could not be reached, or the IDL is wrong.
    Failed(String),
    /// Exit 2: the command line or a local file is wrong.
    Usage(String),
}

/// Runs a subcommand; returns the process exit code.
pub fn run(cmd: Command) -> i32 {
    let result = match cmd {
        Command::Register(a) => register(a),
        Command::Backends(a) => backends(a),
        Command::Routes(a) => routes(a),
        Command::Remove(a) => remove(a),
        Command::Check(a) => check(a),
    };
    match result {
        Ok(()) => 0,
        Err(Failure::Failed(m)) => {
            eprintln!("kitegate: {m}");
            1
        }
        Err(Failure::Usage(m)) => {
            eprintln!("kitegate: {m}");
            2
        }
    }
}

// ---------------------------------------------------------------- admin API

struct Admin {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Admin {
    fn new(args: &AdminArgs) -> Result<Admin, Failure> {
        let base = args.admin.trim().trim_end_matches('/').to_string();
        let Some(rest) = base.strip_prefix("http://") else {
            let hint = if base.starts_with("https://") {
                "this build speaks plain http only"
            } else {
                "expected http://HOST:PORT"
            };
            return Err(Failure::Usage(format!(
                "bad --admin URL `{}`: {hint} (set --admin or KITEGATE_ADMIN)",
                args.admin
            )));
        };
        if rest.is_empty() {
            return Err(Failure::Usage(format!(
                "bad --admin URL `{}`: no host (set --admin or KITEGATE_ADMIN)",
                args.admin
            )));
        }
        let token = std::env::var("KITEGATE_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty());
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .into();
        Ok(Admin { base, token, agent })
    }

    /// Sends a request; returns the status and the answer as JSON, or a
    /// [`Failure`] for transport problems and non-2xx answers.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Failure> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let result = match method {
            "GET" => with_auth(self.agent.get(&url), &auth).call(),
            "DELETE" => with_auth(self.agent.delete(&url), &auth).call(),
            "PUT" => {
                let req = self.agent.put(&url);
                let req = match &auth {
                    Some(a) => req.header("Authorization", a),
                    None => req,
                };
                req.send_json(body.unwrap_or(&Value::Null))
            }
            other => unreachable!("admin method {other}"),
        };
        let mut resp = result.map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| self.unreachable(e))?;
        let value: Option<Value> = serde_json::from_str(&text).ok();
        if (200..300).contains(&status) {
            return value.map(|v| (status, v)).ok_or_else(|| {
                Failure::Failed(format!(
                    "the admin API at {} answered {method} {path} with something that is not JSON: {}",
                    self.base,
                    snippet(&text)
                ))
            });
        }
        Err(Failure::Failed(api_error(
            status,
            value.as_ref(),
            &text,
            self.token.is_some(),
        )))
    }

    fn unreachable(&self, e: ureq::Error) -> Failure {
        let why = match &e {
            ureq::Error::Io(io) => match io.kind() {
                ErrorKind::ConnectionRefused => "connection refused".to_string(),
                ErrorKind::ConnectionReset => "connection reset".to_string(),
                ErrorKind::TimedOut => "timed out".to_string(),
                _ => io.to_string(),
            },
            ureq::Error::Timeout(_) => "timed out".to_string(),
            ureq::Error::HostNotFound => "host not found".to_string(),
            other => other.to_string(),
        };
        Failure::Failed(format!(
            "cannot reach the admin API at {}: {why} — is kitegate running? set --admin or KITEGATE_ADMIN",
            self.base
        ))
    }
}

fn with_auth(
    req: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    auth: &Option<String>,
) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
    match auth {
        Some(a) => req.header("Authorization", a),
        None => req,
    }
}

/// The message for a non-2xx answer: the server's `error.message`, IDL
/// problems one per line, and a hint where one helps.
fn api_error(status: u16, v: Option<&Value>, text: &str, had_token: bool) -> String {
    let err = v.and_then(|v| v.get("error"));
    let message = err
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("the admin API answered {status}: {}", snippet(text)));
    let mut out = message;
    if let Some(details) = err.and_then(|e| e.get("details")).and_then(Value::as_array) {
        for d in details {
            let file = d.get("file").and_then(Value::as_str).unwrap_or("?");
            let line = d.get("line").and_then(Value::as_u64).unwrap_or(0);
            let msg = d.get("message").and_then(Value::as_str).unwrap_or("");
            if !out.contains(&format!("{file}:{line}: {msg}")) {
                out.push_str(&format!("\n  {file}:{line}: {msg}"));
            }
        }
    }
    match status {
        401 if had_token => out.push_str("\n  (the token in KITEGATE_ADMIN_TOKEN was refused)"),
        401 => out.push_str("\n  (set KITEGATE_ADMIN_TOKEN to the gateway's admin token)"),
        _ => {}
    }
    out
}

fn snippet(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        return "(empty body)".into();
    }
    let mut s: String = t.chars().take(300).collect();
    if s.len() < t.len() {
        s.push('…');
    }
    s
}

/// Percent-encodes a path segment (a backend name).
fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

// ---------------------------------------------------------------- commands

fn register(a: RegisterArgs) -> Result<(), Failure> {
    let options = parse_options(&a.options)?;
    if a.name.trim().is_empty() {
        return Err(Failure::Usage("--name must not be empty".into()));
    }
    if let Some(p) = a
        .prefix
        .as_deref()
        .filter(|p| !p.is_empty() && !p.starts_with('/'))
    {
        return Err(Failure::Usage(format!(
            "--prefix `{p}` must start with /, e.g. /{p}"
        )));
    }
    let admin = Admin::new(&a.admin)?;
    let mut body = json!({
        "protocol": a.protocol,
        "transport": a.transport,
        "endpoints": a.endpoints,
    });
    match &a.idl {
        Some(idl) => {
            let upload = collect_upload(idl, &a.include_dirs)?;
            body["main"] = json!(upload.main);
            body["files"] = json!(upload.files);
        }
        None if a.protocol == "dubbo" && options.contains_key("java_interface") => {}
        None => {
            return Err(Failure::Usage(
                "--idl is required (a dubbo backend may instead give --option java_interface=…)"
                    .into(),
            ));
        }
    }
    if !a.services.is_empty() {
        body["services"] = json!(a.services);
    }
    if let Some(p) = &a.prefix {
        body["prefix"] = json!(p);
    }
    if let Some(t) = a.timeout_ms {
        body["timeout_ms"] = json!(t);
    }
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    let path = format!("/admin/backends/{}", segment(&a.name));
    let (status, v) = admin.send("PUT", &path, Some(&body))?;
    if a.admin.json {
        print_json(&v);
        return Ok(());
    }
    let how = if status == 201 {
        "registered"
    } else {
        "replaced"
    };
    let b = v.get("backend").unwrap_or(&Value::Null);
    let rows = method_rows(b);
    let files = body["files"].as_object().map_or(0, |f| f.len());
    println!(
        "{how} backend {} ({} file{}, {} route{})",
        a.name,
        files,
        plural(files),
        rows.len(),
        plural(rows.len())
    );
    print!("{}", table(&[], &rows));
    Ok(())
}

fn backends(a: ListArgs) -> Result<(), Failure> {
    let admin = Admin::new(&a.admin)?;
    let (_, v) = admin.send("GET", "/admin/backends", None)?;
    if a.admin.json {
        print_json(&v);
        return Ok(());
    }
    let list = v
        .get("backends")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        println!("no backends");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|b| {
            let methods = b.get("methods").and_then(Value::as_array);
            let routes: usize = methods
                .map(|ms| {
                    ms.iter()
                        .map(|m| {
                            m.get("routes")
                                .and_then(Value::as_array)
                                .map_or(0, Vec::len)
                        })
                        .sum()
                })
                .unwrap_or(0);
            let endpoints = b
                .get("endpoints")
                .and_then(Value::as_array)
                .map(|es| es.iter().map(text).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            vec![
                str_of(b, "name"),
                str_of(b, "source"),
                str_of(b, "protocol"),
                str_of(b, "transport"),
                or_dash(str_of(b, "prefix")),
                methods.map_or(0, Vec::len).to_string(),
                routes.to_string(),
                or_dash(endpoints),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "NAME",
                "SOURCE",
                "PROTOCOL",
                "TRANSPORT",
                "PREFIX",
                "METHODS",
                "ROUTES",
                "ENDPOINTS"
            ],
            &rows
        )
    );
    Ok(())
}

fn routes(a: ListArgs) -> Result<(), Failure> {
    let admin = Admin::new(&a.admin)?;
    let (_, v) = admin.send("GET", "/admin/routes", None)?;
    if a.admin.json {
        print_json(&v);
        return Ok(());
    }
    let list = v
        .get("routes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        println!("no routes");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            vec![
                str_of(r, "http_method"),
                str_of(r, "path"),
                str_of(r, "backend"),
                format!("{}.{}", str_of(r, "service"), str_of(r, "method")),
            ]
        })
        .collect();
    print!("{}", table(&["METHOD", "PATH", "BACKEND", "CALLS"], &rows));
    Ok(())
}

fn remove(a: RemoveArgs) -> Result<(), Failure> {
    let admin = Admin::new(&a.admin)?;
    let path = format!("/admin/backends/{}", segment(&a.name));
    let (_, v) = admin.send("DELETE", &path, None)?;
    if a.admin.json {
        print_json(&v);
    } else {
        println!("removed backend {}", a.name);
    }
    Ok(())
}

fn check(a: CheckArgs) -> Result<(), Failure> {
    let prefix = a.prefix.clone().unwrap_or_default();
    if !prefix.is_empty() && !prefix.starts_with('/') {
        return Err(Failure::Usage(format!(
            "--prefix `{prefix}` must start with /, e.g. /{prefix}"
        )));
    }
    let main = main_file(&a.file)?;
    check_dirs(&a.include_dirs)?;
    let source = Collector::new(&a.include_dirs);
    if main.ends_with(".proto") {
        return check_proto(&main, &source, &prefix);
    }
    let schema = match idl::thrift::load(&main, &source) {
        Ok(s) => s,
        Err(errs) => {
            let misses = source.misses();
            let mut lines: Vec<String> = misses.iter().map(|m| m.to_string()).collect();
            for e in &errs.0 {
                let is_miss = misses.iter().any(|m| {
                    m.file == e.file
                        && m.line == e.line
                        && e.message.contains(&format!("\"{}\"", m.include))
                });
                if !is_miss {
                    lines.push(e.to_string());
                }
            }
            for l in &lines {
                eprintln!("{l}");
            }
            return Err(Failure::Failed(format!(
                "{}: {} problem{}",
                main,
                lines.len(),
                plural(lines.len())
            )));
        }
    };

    // Every route of every method, and the clashes the gateway would refuse.
    let mut rows = Vec::new();
    let mut services = Vec::new();
    let mut routers: HashMap<String, matchit::Router<usize>> = HashMap::new();
    let mut seen: Vec<(String, String, String)> = Vec::new(); // verb, path, Service.method
    let mut clashes = Vec::new();
    let mut method_count = 0;
    for svc in &schema.services {
        let mut methods = Vec::new();
        for m in &svc.methods {
            method_count += 1;
            let target = format!("{}.{}", svc.name, m.name);
            let mut routes = Vec::new();
            for (verb, path) in method_routes(&prefix, &svc.name, m) {
                let verb = verb.as_str().to_string();
                let router = routers.entry(verb.clone()).or_default();
                if let Err(e) = router.insert(to_matchit(&path), seen.len()) {
                    let other = match &e {
                        matchit::InsertError::Conflict { with } => seen
                            .iter()
                            .find(|(v, p, _)| *v == verb && to_matchit(p) == *with)
                            .map(|(v, p, t)| format!("{v} {p} of {t}")),
                        _ => None,
                    };
                    clashes.push(match other {
                        Some(o) => format!("{verb} {path} of {target} clashes with {o}"),
                        None => format!("{verb} {path} of {target}: {e}"),
                    });
                }
                seen.push((verb.clone(), path.clone(), target.clone()));
                let mut row = vec![verb.clone(), path.clone(), "->".into(), target.clone()];
                if m.oneway {
                    row.push("(oneway: answers 202 without waiting)".into());
                }
                rows.push(row);
                routes.push(json!({"http_method": verb, "path": path}));
            }
            methods.push(json!({"name": m.name, "oneway": m.oneway, "routes": routes}));
        }
        services.push(json!({"name": svc.name, "methods": methods}));
    }

    if a.json {
        print_json(&json!({
            "file": main,
            "files": schema.files,
            "services": services,
            "conflicts": clashes,
        }));
    } else {
        print!("{}", table(&[], &rows));
        let includes = schema.files.len().saturating_sub(1);
        println!(
            "{main}: {} service{}, {method_count} method{}, {} route{}{}",
            schema.services.len(),
            plural(schema.services.len()),
            plural(method_count),
            rows.len(),
            plural(rows.len()),
            if includes > 0 {
                format!(", {includes} included file{}", plural(includes))
            } else {
                String::new()
            }
        );
        if schema.services.is_empty() {
            println!("note: the main file declares no service, so nothing would be served");
        }
    }
    if clashes.is_empty() {
        Ok(())
    } else {
        for c in &clashes {
            eprintln!("route conflict: {c}");
        }
        Err(Failure::Failed(format!(
            "{} route conflict{}: the gateway would refuse this IDL",
            clashes.len(),
            plural(clashes.len())
        )))
    }
}

fn parse_options(opts: &[String]) -> Result<Map<String, Value>, Failure> {
    const BOOLS: [&str; 7] = [
        "enum_as_name",
        "i64_as_string",
        "reject_unknown_fields",
        "emit_defaults",
        "proto_field_names",
        "omit_response_metadata",
        "accept_gzip",
    ];
    const TEXTS: [&str; 3] = ["java_interface", "dubbo_version", "dubbo_group"];
    let mut out = Map::new();
    for o in opts {
        let Some((k, v)) = o.split_once('=') else {
            return Err(Failure::Usage(format!(
                "--option `{o}`: expected KEY=VALUE, e.g. --option enum_as_name=true"
            )));
        };
        let (k, v) = (k.trim(), v.trim());
        let value = if BOOLS.contains(&k) {
            match v {
                "true" | "1" | "yes" | "on" => Value::Bool(true),
                "false" | "0" | "no" | "off" => Value::Bool(false),
                _ => {
                    return Err(Failure::Usage(format!(
                        "--option {k}={v}: expected true or false"
                    )));
                }
            }
        } else if k == "max_frame" {
            match v.parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => {
                    return Err(Failure::Usage(format!(
                        "--option max_frame={v}: expected a number of bytes"
                    )));
                }
            }
        } else if TEXTS.contains(&k) {
            json!(v)
        } else if k == "forward_headers" {
            json!(
                v.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .collect::<Vec<_>>()
            )
        } else {
            return Err(Failure::Usage(format!(
                "--option `{k}`: unknown option; known: {}, {}, forward_headers, max_frame",
                BOOLS.join(", "),
                TEXTS.join(", ")
            )));
        };
        out.insert(k.to_string(), value);
    }
    Ok(out)
}

// ---------------------------------------------------------------- output

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).map(text).unwrap_or_default()
}

fn or_dash(s: String) -> String {
    if s.is_empty() { "-".into() } else { s }
}

/// `VERB  PATH  ->  Service.method` rows of a backend summary.
fn method_rows(b: &Value) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for m in b
        .get("methods")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let target = format!("{}.{}", str_of(m, "service"), str_of(m, "method"));
        let oneway = m.get("oneway").and_then(Value::as_bool).unwrap_or(false);
        for r in m
            .get("routes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut row = vec![
                str_of(r, "http_method"),
                str_of(r, "path"),
                "->".into(),
                target.clone(),
            ];
            if oneway {
                row.push("(oneway)".into());
            }
            rows.push(row);
        }
    }
    rows
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut all: Vec<Vec<String>> = Vec::new();
    if !headers.is_empty() {
        all.push(headers.iter().map(|h| h.to_string()).collect());
    }
    all.extend(rows.iter().cloned());
    let cols = all.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in &all {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &all {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            if i + 1 < r.len() {
                line.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------- IDL files

fn main_file(p: &Path) -> Result<String, Failure> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => Ok(p.to_string_lossy().into_owned()),
        Ok(_) => Err(Failure::Usage(format!("{} is not a file", p.display()))),
        Err(e) => Err(Failure::Usage(format!(
            "cannot read {}: {}",
            p.display(),
            io_reason(&e)
        ))),
    }
}

fn builtin_proto(import: &str) -> bool {
    import.starts_with("google/protobuf/")
        || import == "google/api/annotations.proto"
        || import == "google/api/http.proto"
}

/// `check` for a .proto file: its services, methods and `google.api.http` routes.
fn check_proto(main: &str, source: &Collector, prefix: &str) -> Result<(), Failure> {
    let schema = idl::proto::load(main, source).map_err(|errs| {
        for e in &errs.0 {
            eprintln!("{e}");
        }
        Failure::Failed(format!(
            "{main}: {} problem{}",
            errs.0.len(),
            plural(errs.0.len())
        ))
    })?;
    let mut count = 0;
    for svc in &schema.services {
        println!("service {}", svc.full_name);
        for m in &svc.methods {
            count += 1;
            let streaming = match (m.client_streaming, m.server_streaming) {
                (false, false) => "",
                (false, true) => "  (server streaming: routed for grpc backends)",
                _ => "  (client streaming: not routed)",
            };
            if m.http.is_empty() {
                println!(
                    "  POST  {prefix}/{}/{}  ->  {}.{}{streaming}",
                    svc.full_name, m.name, svc.name, m.name
                );
            }
            for r in &m.http {
                println!(
                    "  {}  {prefix}{}  ->  {}.{}{streaming}",
                    r.method,
                    r.template.as_str(),
                    svc.name,
                    m.name
                );
            }
        }
    }
    println!("{count} method{} in {main}", plural(count));
    Ok(())
}

fn check_dirs(dirs: &[PathBuf]) -> Result<(), Failure> {
    for d in dirs {
        if !d.is_dir() {
            return Err(Failure::Usage(format!(
                "--include-dir {}: no such directory",
                d.display()
            )));
        }
    }
    Ok(())
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound => "no such file".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Where a resolved include was found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    /// Next to the including file (or an absolute path).
    Beside,
    /// In an include directory.
    IncludeDir,
}

#[derive(Debug)]
struct Edge {
    from: String,
    include: String,
    found: Option<(String, Via)>,
}

/// An include that was not found.
struct Miss {
    file: String,
    line: usize,
    include: String,
    tried: Vec<String>,
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: include \"{}\" of {} not found next to it or in --include-dir (looked for {})",
            self.file,
            self.line,
            self.include,
            self.file,
            self.tried.join(", ")
        )
    }
}

/// Files on disk, resolved as `idl::DiskFiles` does (next to the including
/// file, then each include directory in order), recording every include it
/// was asked about and every file it read.
struct Collector {
    include_dirs: Vec<PathBuf>,
    edges: RefCell<Vec<Edge>>,
    texts: RefCell<HashMap<String, String>>,
}

impl Collector {
    fn new(include_dirs: &[PathBuf]) -> Collector {
        Collector {
            include_dirs: include_dirs.to_vec(),
            edges: RefCell::new(Vec::new()),
            texts: RefCell::new(HashMap::new()),
        }
    }

    fn candidates(&self, from: Option<&str>, include: &str) -> Vec<(PathBuf, Via)> {
        let inc = Path::new(include);
        match from {
            None => vec![(inc.to_path_buf(), Via::Beside)],
            Some(_) if inc.is_absolute() => vec![(inc.to_path_buf(), Via::Beside)],
            Some(from) => {
                let dir = Path::new(from).parent().unwrap_or(Path::new(""));
                let mut c = vec![(dir.join(inc), Via::Beside)];
                c.extend(
                    self.include_dirs
                        .iter()
                        .map(|d| (d.join(inc), Via::IncludeDir)),
                );
                c
            }
        }
    }

    fn misses(&self) -> Vec<Miss> {
        let texts = self.texts.borrow();
        self.edges
            .borrow()
            .iter()
            // The gateway supplies the well-known types and google/api/{annotations,http}.proto.
            .filter(|e| e.found.is_none() && !builtin_proto(&e.include))
            .map(|e| Miss {
                file: e.from.clone(),
                line: texts
                    .get(&e.from)
                    .map_or(0, |t| line_of(t, &format!("\"{}\"", e.include))),
                include: e.include.clone(),
                tried: self
                    .candidates(Some(&e.from), &e.include)
                    .into_iter()
                    .map(|(p, _)| normalize(&p).to_string_lossy().into_owned())
                    .collect(),
            })
            .collect()
    }
}

impl FileSource for Collector {
    fn resolve(&self, from: Option<&str>, include: &str) -> Option<String> {
        let found = self
            .candidates(from, include)
            .into_iter()
            .find(|(p, _)| p.is_file())
            .map(|(p, via)| (normalize(&p).to_string_lossy().into_owned(), via));
        if let Some(from) = from {
            self.edges.borrow_mut().push(Edge {
                from: from.to_string(),
                include: include.to_string(),
                found: found.clone(),
            });
        }
        found.map(|(name, _)| name)
    }

    fn read(&self, name: &str) -> std::io::Result<String> {
        let t = std::fs::read_to_string(name)?;
        self.texts.borrow_mut().insert(name.to_string(), t.clone());
        Ok(t)
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map_or(0, |at| text[..at].matches('\n').count() + 1)
}

/// Lexically normalizes a path ("a/./b/../c" -> "a/c"), keeping leading "..".
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !matches!(out.components().next_back(), Some(Component::Normal(_))) || !out.pop()
                {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// What `register` uploads: the main file's name and every file by its name in the upload.
struct Upload {
    main: String,
    files: BTreeMap<String, String>,
}

/// Which tree a file's upload name is relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Tree {
    /// The main file's directory.
    Main,
    /// The root of the upload, where files found in include directories go
    /// under their include string.
    Root,
}

type Key = (Tree, Vec<String>);

/// `base` joined with the relative path `rel`, lexically; leading ".." kept.
fn join_rel(base: &[String], rel: &str) -> Option<Vec<String>> {
    let mut out = base.to_vec();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                if out.last().is_some_and(|l| l != "..") {
                    out.pop();
                } else {
                    out.push("..".into());
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn climbs(comps: &[String]) -> usize {
    comps.iter().take_while(|c| *c == "..").count()
}

/// Loads the IDL locally to find every file it includes, then names each
/// file inside the upload so that the server resolves every include to the
/// same file: files below the main file's directory by their path relative
/// to it, files found through an include directory by their include string
/// (the server looks there when a path relative to the including file
/// misses).
fn collect_upload(idl: &Path, include_dirs: &[PathBuf]) -> Result<Upload, Failure> {
    let main = main_file(idl)?;
    check_dirs(include_dirs)?;
    let source = Collector::new(include_dirs);
    // Problems other than missing includes are the server's to report (422),
    // from the files as uploaded.
    if main.ends_with(".proto") {
        let _ = idl::proto::load(&main, &source);
    } else {
        let _ = idl::thrift::load(&main, &source);
    }
    let misses = source.misses();
    if !misses.is_empty() {
        let lines: Vec<String> = misses.iter().map(|m| m.to_string()).collect();
        return Err(Failure::Usage(lines.join("\n")));
    }
    let edges = source.edges.into_inner();
    let texts = source.texts.into_inner();
    let main_disk = normalize(Path::new(&main)).to_string_lossy().into_owned();
    if !texts.contains_key(&main_disk) {
        return Err(Failure::Usage(format!("cannot read {main}")));
    }

    let mut by_from: HashMap<&str, Vec<&Edge>> = HashMap::new();
    for e in &edges {
        by_from.entry(e.from.as_str()).or_default().push(e);
    }
    let base_name = Path::new(&main_disk)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| main_disk.clone());
    let start: Key = (Tree::Main, vec![base_name]);
    let mut names: HashMap<Key, String> = HashMap::new(); // key -> disk file
    names.insert(start.clone(), main_disk.clone());
    let mut links: Vec<(Key, String, Key)> = Vec::new();
    let mut queue = VecDeque::from([(start.clone(), main_disk.clone())]);
    while let Some((key, disk)) = queue.pop_front() {
        for e in by_from.get(disk.as_str()).into_iter().flatten() {
            let Some((target, via)) = &e.found else {
                continue;
            };
            let outside = || {
                Failure::Usage(format!(
                    "include \"{}\" of {} points outside the directories that can be uploaded; \
                     pass the directory holding it as --include-dir and include it by a path below that",
                    e.include, e.from
                ))
            };
            let tkey: Key = match via {
                Via::Beside => {
                    let dir = &key.1[..key.1.len() - 1];
                    let comps = join_rel(dir, &e.include).ok_or_else(outside)?;
                    if key.0 == Tree::Root && climbs(&comps) > 0 {
                        return Err(outside());
                    }
                    (key.0, comps)
                }
                Via::IncludeDir => {
                    let comps = join_rel(&[], &e.include).ok_or_else(outside)?;
                    if climbs(&comps) > 0 {
                        return Err(outside());
                    }
                    (Tree::Root, comps)
                }
            };
            links.push((key.clone(), e.include.clone(), tkey.clone()));
            match names.get(&tkey) {
                Some(d) if d == target => {}
                Some(d) => return Err(same_name(&tkey.1.join("/"), d, target)),
                None => {
                    names.insert(tkey.clone(), target.clone());
                    queue.push_back((tkey, target.clone()));
                }
            }
        }
    }

    // Files reached through "../" from the main file: root the upload higher up.
    let up = names
        .keys()
        .filter(|k| k.0 == Tree::Main)
        .map(|k| climbs(&k.1))
        .max()
        .unwrap_or(0);
    let mut prefix: Vec<String> = Vec::new();
    if up > 0 {
        let abs = std::path::absolute(&main_disk)
            .map_err(|e| Failure::Usage(format!("cannot resolve {main}: {e}")))?;
        let dirs: Vec<String> = normalize(abs.parent().unwrap_or(Path::new("/")))
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        if dirs.len() < up {
            return Err(Failure::Usage(format!(
                "{main} includes files above the file system root"
            )));
        }
        prefix = dirs[dirs.len() - up..].to_vec();
    }
    let final_name = |k: &Key| -> String {
        match k.0 {
            Tree::Main => join_rel(&prefix, &k.1.join("/"))
                .unwrap_or_default()
                .join("/"),
            Tree::Root => k.1.join("/"),
        }
    };

    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut disk_of: HashMap<String, String> = HashMap::new();
    for (k, disk) in &names {
        let name = final_name(k);
        if let Some(other) = disk_of.get(&name) {
            if !same_file(other, disk) {
                return Err(same_name(&name, other, disk));
            }
            continue;
        }
        let text = texts
            .get(disk)
            .cloned()
            .map_or_else(|| std::fs::read_to_string(disk), Ok)
            .map_err(|e| Failure::Usage(format!("cannot read {disk}: {}", io_reason(&e))))?;
        disk_of.insert(name.clone(), disk.clone());
        files.insert(name, text);
    }

    // The server resolves includes in the upload like this; check that each
    // lands on the file found on disk.
    let mem = MemoryFiles::new(files.keys().map(|k| (k.clone(), String::new())));
    for (from, inc, to) in &links {
        let (from, want) = (final_name(from), final_name(to));
        let got = mem.resolve(Some(&from), inc);
        if got.as_deref() != Some(want.as_str()) {
            return Err(Failure::Usage(format!(
                "cannot upload {main}: on the server, include \"{inc}\" of {from} would find {} instead of {} ({}); \
                 rename one of the files",
                got.as_deref().unwrap_or("nothing"),
                want,
                disk_of.get(&want).map(String::as_str).unwrap_or("?"),
            )));
        }
    }
    Ok(Upload {
        main: final_name(&start),
        files,
    })
}

fn same_file(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

fn same_name(name: &str, a: &str, b: &str) -> Failure {
    Failure::Usage(format!(
        "cannot upload: two different files would both be named {name} in the upload ({a} and {b}); \
         rename one of them or include them by distinct paths"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("kitegate-cli-{tag}-{}", std::process::id()));
        std::fs::remove_dir_all(&p).ok();
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn write(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn upload_names_follow_the_servers_resolution() {
        let d = tmp("names");
        write(
            &d.join("a/main.thrift"),
            "include \"sub/x.thrift\"\ninclude \"t.thrift\"\nstruct M { 1: x.X a 2: t.T b }",
        );
        write(
            &d.join("a/sub/x.thrift"),
            "include \"y.thrift\"\ninclude \"t.thrift\"\nstruct X { 1: y.Y y }",
        );
        write(&d.join("a/sub/y.thrift"), "struct Y {}");
        write(
            &d.join("inc/t.thrift"),
            "include \"u.thrift\"\nstruct T { 1: u.U u }",
        );
        write(&d.join("inc/u.thrift"), "struct U {}");
        let up = collect_upload(&d.join("a/main.thrift"), &[d.join("inc")])
            .ok()
            .unwrap();
        assert_eq!(up.main, "main.thrift");
        let names: Vec<&str> = up.files.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "main.thrift",
                "sub/x.thrift",
                "sub/y.thrift",
                "t.thrift",
                "u.thrift"
            ]
        );
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn parent_includes_root_the_upload_higher() {
        let d = tmp("parent");
        write(
            &d.join("p/svc/main.thrift"),
            "include \"../common/c.thrift\"\nstruct M { 1: c.C c }",
        );
        write(&d.join("p/common/c.thrift"), "struct C {}");
        let up = collect_upload(&d.join("p/svc/main.thrift"), &[])
            .ok()
            .unwrap();
        assert_eq!(up.main, "svc/main.thrift");
        let names: Vec<&str> = up.files.keys().map(String::as_str).collect();
        assert_eq!(names, ["common/c.thrift", "svc/main.thrift"]);
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn missing_include_is_named() {
        let d = tmp("missing");
        write(&d.join("main.thrift"), "\ninclude \"base.thrift\"\n");
        let Err(Failure::Usage(m)) = collect_upload(&d.join("main.thrift"), &[]) else {
            panic!("expected a usage error")
        };
        assert!(m.contains(":2: include \"base.thrift\" of "), "{m}");
        assert!(
            m.contains("not found next to it or in --include-dir"),
            "{m}"
        );
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
