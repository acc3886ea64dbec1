//! OpenTelemetry traces end to end. A real OTLP receiver (the collector's
//! TraceService from the `opentelemetry-proto` PyPI package, served with
//! grpcio: `e2e/peers/python/otlp_receiver.py`) captures what the gateway
//! exports; real backends report the context they received: grpcio from
//! gRPC metadata, Kitex through kitex-contrib/obs-opentelemetry from
//! TTHeader, Apache Dubbo from its attachments.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{Gateway, Proc, TempDir, counter_server, free_port, http, python, repo_path, root};
use serde_json::{Value, json};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn traceparent(trace: &str, sampled: bool) -> String {
    format!(
        "00-{trace}-{CALLER_SPAN}-{}",
        if sampled { "01" } else { "00" }
    )
}

/// The OTLP receiver and the file its spans go to.
struct Receiver {
    _proc: Proc,
    _dir: TempDir,
    port: String,
    out: PathBuf,
}

impl Receiver {
    fn start() -> Receiver {
        let dir = TempDir::new("otlp");
        let out = dir.path().join("spans.jsonl");
        let mut cmd = Command::new(python());
        cmd.arg(root().join("e2e/peers/python/otlp_receiver.py"))
            .args(["--port", "0", "--out"])
            .arg(&out);
        let (proc, line) = Proc::start("otlp_receiver", cmd, Some("READY "));
        Receiver {
            _proc: proc,
            _dir: dir,
            port: line["READY ".len()..].trim().to_string(),
            out,
        }
    }

    /// The `[tracing]` section that exports to this receiver.
    fn config(&self, ratio: f64) -> String {
        format!(
            "[tracing]\notlp_endpoint = \"http://127.0.0.1:{}\"\nsample_ratio = {ratio}\nservice_name = \"kitegate-e2e\"\n",
            self.port
        )
    }

    fn all(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The spans of `trace`, once there are at least `n` (the gateway
    /// exports in batches, every half second).
    fn trace(&self, trace: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got: Vec<Value> = self
                .all()
                .into_iter()
                .filter(|s| s["trace_id"] == trace)
                .collect();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} spans of {trace}: {got:#?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn one<'a>(spans: &'a [Value], kind: &str) -> &'a Value {
    let of: Vec<&Value> = spans.iter().filter(|s| s["kind"] == kind).collect();
    assert_eq!(of.len(), 1, "one {kind} span: {spans:#?}");
    of[0]
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// The access lines written so far, once there are `n`.
fn access_lines(gw: &Gateway, n: usize) -> Vec<Value> {
    let path = gw.dir.path().join("access.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let got: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn server_and_client_spans_continue_the_callers_trace() {
    let rx = Receiver::start();
    let (_peer, live) = counter_server("traced", 0);
    let dead = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "access_log = \"access.log\"\n{}\
         [[backends]]\nname = \"r\"\nprotocol = \"thrift\"\ntransport = \"framed\"\n\
         endpoints = [\"{dead}\", \"{live}\"]\nidl = \"{}\"\nprefix = \"/r\"\n\
         [backends.balance]\npolicy = \"round_robin\"\n",
        rx.config(1.0),
        repo_path("e2e/idl/counter.thrift")
    );
    let gw = Gateway::start(&config, &[]);

    // A caller's sampled trace, continued: the server span is the caller's
    // child, the try's client span the server span's.
    let tp = traceparent(TRACE, true);
    let ((status, body), h) = gw.call_h(
        "POST",
        "/add",
        Some(r#"{"first":512,"second":512}"#),
        &[("traceparent", &tp), ("tracestate", "vendor=a1")],
    );
    assert_eq!((status, &body), (200, &json!({"sum": 1024})));
    let spans = rx.trace(TRACE, 2);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let server = one(&spans, "server");
    let client = one(&spans, "client");
    assert_eq!(server["parent_span_id"], CALLER_SPAN);
    assert_eq!(server["name"], "POST /add");
    assert_eq!(server["service"], "kitegate-e2e");
    assert_eq!(server["attributes"]["http.route"], "/add");
    assert_eq!(server["attributes"]["http.request.method"], "POST");
    assert_eq!(server["attributes"]["http.response.status_code"], 200);
    assert_eq!(client["parent_span_id"], server["span_id"]);
    assert_eq!(client["name"], "Hello/add");
    assert_eq!(client["attributes"]["rpc.service"], "Hello");
    assert_eq!(client["attributes"]["rpc.method"], "add");
    assert_eq!(client["attributes"]["kitegate.backend"], "hello");
    assert_eq!(client["attributes"]["kitegate.attempt"], 1);
    assert_eq!(client["attributes"]["server.address"], "127.0.0.1");
    assert_ne!(client["status"], "error");

    // The access line names the same trace and server span.
    let request_id = header(&h, "x-request-id");
    let lines = access_lines(&gw, 1);
    let line = lines
        .iter()
        .find(|l| l["request_id"] == request_id)
        .expect("the access line");
    assert_eq!(line["trace_id"], TRACE);
    assert_eq!(line["span_id"], server["span_id"]);

    // A try that cannot connect and the one that follows on the next
    // endpoint: two client spans, the first failed, the second saying why
    // it was made.
    let retried = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
    let ((status, _), _) = gw.call_h(
        "POST",
        "/r/bump",
        Some(r#"{"key":"k"}"#),
        &[("traceparent", &traceparent(retried, true))],
    );
    assert_eq!(status, 200);
    let spans = rx.trace(retried, 3);
    let server = one(&spans, "server");
    let mut tries: Vec<&Value> = spans.iter().filter(|s| s["kind"] == "client").collect();
    tries.sort_by_key(|s| s["attributes"]["kitegate.attempt"].as_i64());
    assert_eq!(tries.len(), 2, "{spans:#?}");
    for t in &tries {
        assert_eq!(t["parent_span_id"], server["span_id"]);
        assert_eq!(t["name"], "Counter/bump");
    }
    assert_eq!(tries[0]["attributes"]["kitegate.attempt"], 1);
    assert_eq!(tries[0]["status"], "error");
    assert_eq!(tries[0]["attributes"]["error.type"], "unavailable");
    assert_eq!(
        tries[0]["attributes"]["server.port"].to_string(),
        dead.rsplit(':').next().unwrap()
    );
    assert_eq!(tries[1]["attributes"]["kitegate.attempt"], 2);
    assert_eq!(tries[1]["attributes"]["kitegate.retry_reason"], "connect");
    assert_ne!(tries[1]["status"], "error");

    // An error answer: the server span says so; a request without a
    // traceparent starts a trace of its own.
    let ((status, _), h) = gw.call_h("GET", "/no/such/route", None, &[]);
    assert_eq!(status, 404);
    let rid = header(&h, "x-request-id").to_string();
    let line = access_lines(&gw, 3)
        .into_iter()
        .find(|l| l["request_id"] == rid.as_str())
        .expect("the 404's access line");
    let own = line["trace_id"].as_str().unwrap().to_string();
    assert_eq!(own.len(), 32);
    assert_ne!(own, TRACE);
    let spans = rx.trace(&own, 1);
    let server = one(&spans, "server");
    assert_eq!(server["parent_span_id"], "");
    assert_eq!(server["attributes"]["http.response.status_code"], 404);
    assert_eq!(server["attributes"]["error.type"], "not_found");

    // A caller's trace that is not sampled is not recorded: nothing of it
    // is exported, while a sampled one sent after it is.
    let unsampled = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2";
    let later = "ccccccccccccccccccccccccccccccc3";
    for (t, sampled) in [(unsampled, false), (later, true)] {
        let ((status, _), _) = gw.call_h(
            "GET",
            "/hello",
            None,
            &[("traceparent", &traceparent(t, sampled))],
        );
        assert_eq!(status, 200);
    }
    rx.trace(later, 2);
    assert!(
        rx.all().iter().all(|s| s["trace_id"] != unsampled),
        "an unsampled trace was exported"
    );
}

#[test]
fn sample_ratio_zero_records_no_new_trace_but_follows_sampled_callers() {
    let rx = Receiver::start();
    let gw = Gateway::start(&rx.config(0.0), &[]);
    for _ in 0..20 {
        assert_eq!(gw.get("/hello").0, 200);
    }
    let caller = "ddddddddddddddddddddddddddddddd4";
    let ((status, _), _) = gw.call_h(
        "GET",
        "/hello",
        None,
        &[("traceparent", &traceparent(caller, true))],
    );
    assert_eq!(status, 200);
    rx.trace(caller, 2);
    assert!(
        rx.all().iter().all(|s| s["trace_id"] == caller),
        "ratio 0 recorded a new trace: {:#?}",
        rx.all()
    );
}

/// Backends on the three peers: Kitex over TTHeader at `/kx`, grpcio at
/// `/g`, Dubbo at `/d`.
fn peers_config(kitex: &str, grpc: &str, dubbo: &str) -> String {
    format!(
        "builtin_hello = false\n\
         [[backends]]\nname = \"kx\"\nprotocol = \"thrift\"\ntransport = \"ttheader\"\n\
         endpoints = [\"{kitex}\"]\nidl = \"{hello}\"\nprefix = \"/kx\"\ntimeout_ms = 5000\n\
         [[backends]]\nname = \"g\"\nprotocol = \"grpc\"\nendpoints = [\"{grpc}\"]\n\
         idl = \"{rich}\"\nprefix = \"/g\"\ntimeout_ms = 5000\n\
         [[backends]]\nname = \"d\"\nprotocol = \"dubbo\"\nendpoints = [\"{dubbo}\"]\n\
         idl = \"{hello}\"\nprefix = \"/d\"\ntimeout_ms = 10000\n",
        hello = repo_path("examples/idl/hello.thrift"),
        rich = repo_path("e2e/idl/rich.proto"),
    )
}

/// What each peer says it received for one request with `headers`: the
/// grpcio server's `traceparent` and `tracestate` metadata, the Kitex
/// server span's ids and request id, the Dubbo attachments.
struct Seen {
    grpc: (String, String, String),
    kitex: Value,
    dubbo: Value,
}

fn seen(gw: &Gateway, headers: &[(&str, &str)]) -> Seen {
    let ((status, body), h) = gw.call_h(
        "POST",
        "/g/rich.v1.RichService/Ping",
        Some(r#"{"text":"hi","seq":1}"#),
        headers,
    );
    assert_eq!(status, 200, "{body}");
    let grpc = (
        header(&h, "grpc-metadata-x-seen-traceparent").to_string(),
        header(&h, "grpc-metadata-x-seen-tracestate").to_string(),
        header(&h, "grpc-metadata-x-seen-request-id").to_string(),
    );
    let report = |path: &str| {
        let url = format!("{}{path}", gw.base);
        let (status, _, text) = http("GET", &url, None, headers).unwrap();
        assert_eq!(status, 200, "{path}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        serde_json::from_str::<Value>(v["message"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{path}: {e}: {v}"))
    };
    Seen {
        grpc,
        kitex: report("/kx/hello?message=trace"),
        dubbo: report("/d/hello?message=trace"),
    }
}

#[test]
fn grpcio_kitex_and_dubbo_servers_read_the_propagated_context() {
    let rx = Receiver::start();
    let (_k, kitex) = e2e::kitex_server();
    let (_g, grpc) = e2e::grpc_rich_server();
    let (_d, dubbo) = e2e::dubbo_hello_provider();
    let gw = Gateway::start(
        &format!("{}{}", peers_config(&kitex, &grpc, &dubbo), rx.config(1.0)),
        &[],
    );
    let tp = traceparent(TRACE, true);
    let s = seen(
        &gw,
        &[
            ("traceparent", &tp),
            ("tracestate", "vendor=a1"),
            ("x-request-id", "rid-traced"),
        ],
    );
    // Three calls of one trace: a server and a client span each.
    let spans = rx.trace(TRACE, 6);
    let tries: Vec<&Value> = spans.iter().filter(|s| s["kind"] == "client").collect();
    let try_of = |name: &str| -> &Value {
        tries
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no client span {name}: {spans:#?}"))
    };

    // grpcio: the try's span is the parent, the caller's tracestate kept.
    let (g_tp, g_state, g_rid) = &s.grpc;
    let g_try = try_of("RichService/Ping");
    assert_eq!(
        g_tp,
        &format!("00-{TRACE}-{}-01", g_try["span_id"].as_str().unwrap())
    );
    assert_eq!(g_state, "vendor=a1");
    assert_eq!(g_rid, "rid-traced");

    // Kitex: obs-opentelemetry's server span is the try's child.
    let k_try = try_of("Hello/echo");
    assert_eq!(s.kitex["trace_id"], TRACE, "{}", s.kitex);
    assert_eq!(s.kitex["parent_span_id"], k_try["span_id"], "{}", s.kitex);
    assert_eq!(s.kitex["sampled"], true);
    assert_eq!(s.kitex["request_id"], "rid-traced");
    assert_eq!(k_try["attributes"]["kitegate.backend"], "kx");

    // Dubbo: the attachments carry the try's context.
    let d_try = tries
        .iter()
        .find(|t| t["attributes"]["kitegate.backend"] == "d")
        .expect("the Dubbo try");
    assert_eq!(
        s.dubbo["traceparent"],
        format!("00-{TRACE}-{}-01", d_try["span_id"].as_str().unwrap())
    );
    assert_eq!(s.dubbo["tracestate"], "vendor=a1");
    assert_eq!(s.dubbo["request_id"], "rid-traced");

    // Without a traceparent each request starts a trace of the gateway's
    // own, and that is the one its backend continues.
    let s = seen(&gw, &[("x-request-id", "rid-new")]);
    let grpc_trace = s.grpc.0.get(3..35).expect("a traceparent").to_string();
    for (trace, route, parent) in [
        (grpc_trace.as_str(), "/g/rich.v1.RichService/Ping", None),
        (
            s.kitex["trace_id"].as_str().unwrap(),
            "/kx/hello",
            s.kitex["parent_span_id"].as_str(),
        ),
    ] {
        assert_ne!(trace, TRACE);
        let spans = rx.trace(trace, 2);
        let server = one(&spans, "server");
        assert_eq!(server["parent_span_id"], "");
        assert_eq!(server["attributes"]["http.route"], route);
        let client = one(&spans, "client");
        assert_eq!(client["parent_span_id"], server["span_id"]);
        if let Some(p) = parent {
            assert_eq!(client["span_id"], p);
        }
    }
}

#[test]
fn without_tracing_the_callers_context_passes_through() {
    let (_k, kitex) = e2e::kitex_server();
    let (_g, grpc) = e2e::grpc_rich_server();
    let (_d, dubbo) = e2e::dubbo_hello_provider();
    let gw = Gateway::start(&peers_config(&kitex, &grpc, &dubbo), &[]);
    let tp = traceparent(TRACE, true);
    let s = seen(&gw, &[("traceparent", &tp), ("tracestate", "vendor=a1")]);
    assert_eq!(s.grpc.0, tp);
    assert_eq!(s.grpc.1, "vendor=a1");
    assert_eq!(s.kitex["trace_id"], TRACE);
    assert_eq!(s.kitex["parent_span_id"], CALLER_SPAN);
    assert_eq!(s.dubbo["traceparent"], tp.as_str());
    assert_eq!(s.dubbo["tracestate"], "vendor=a1");

    // No context: none is made up.
    let s = seen(&gw, &[]);
    assert_eq!(s.grpc.0, "");
    assert_eq!(s.dubbo["traceparent"], "");
    // (Kitex's own server span then starts a trace of its own.)
    assert_ne!(s.kitex["trace_id"], TRACE);
    assert_eq!(s.kitex["parent_span_id"], "0000000000000000", "{}", s.kitex);
}
