//! The access log and request ids end to end: one JSON line per request in
//! the config's `access_log` file, with every field the line promises, and
//! `x-request-id` taken from the request or made, and answered.

use std::time::{Duration, Instant};

use e2e::{Gateway, counter_server, free_port, http, repo_path};
use serde_json::{Value, json};

fn backend(name: &str, endpoints: &[&str]) -> String {
    let eps: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        "[[backends]]\nname = \"{name}\"\nprotocol = \"thrift\"\ntransport = \"framed\"\n\
         endpoints = [{}]\nidl = \"{}\"\nprefix = \"/{name}\"\n\
         [backends.balance]\npolicy = \"round_robin\"\n",
        eps.join(", "),
        repo_path("e2e/idl/counter.thrift")
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The access lines written so far, once there are `n`.
fn lines(gw: &Gateway, n: usize) -> Vec<Value> {
    let path = gw.dir.path().join("access.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let got: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_request_gets_an_access_line_and_a_request_id() {
    let (_peer, live) = counter_server("access", 0);
    let dead = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "builtin_hello = false\naccess_log = \"access.log\"\n{}{}",
        backend("m", &[&live]),
        backend("r", &[&dead, &live])
    );
    let gw = Gateway::start(&config, &[]);
    let body = json!({"key": "k"}).to_string();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    let (status, h, _) = http(
        "POST",
        &format!("{}/m/bump", gw.base),
        Some(&body),
        &[
            ("x-request-id", "client-id-1"),
            ("traceparent", traceparent),
        ],
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(header(&h, "x-request-id"), Some("client-id-1"));

    // No id, or one that is not a token: a new one.
    let (status, h, _) = http(
        "POST",
        &format!("{}/r/count", gw.base),
        Some(&body),
        &[("x-request-id", "two words")],
    )
    .unwrap();
    assert_eq!(status, 200);
    let made = header(&h, "x-request-id").unwrap().to_string();
    assert_eq!(made.len(), 32, "{made}");
    assert!(made.bytes().all(|b| b.is_ascii_hexdigit()));

    let ((status, _), h) = gw.call_h("GET", "/nowhere", None, &[]);
    assert_eq!(status, 404);
    let unrouted_id = header(&h, "x-request-id").unwrap().to_string();
    assert_ne!(unrouted_id, made);

    let got = lines(&gw, 3);
    assert_eq!(got.len(), 3, "{got:#?}");
    let fields = [
        "timestamp",
        "method",
        "route",
        "path",
        "backend",
        "service",
        "idl_method",
        "status",
        "error_code",
        "duration_ms",
        "backend_ms",
        "tries",
        "endpoint",
        "request_bytes",
        "response_bytes",
        "request_id",
        "trace_id",
        "span_id",
    ];
    for line in &got {
        for f in fields {
            assert!(line.get(f).is_some(), "{f} missing in {line}");
        }
    }
    let ok = &got[0];
    assert_eq!(ok["method"], "POST");
    assert_eq!(ok["route"], "/m/bump");
    assert_eq!(ok["path"], "/m/bump");
    assert_eq!(ok["backend"], "m");
    assert_eq!(ok["service"], "Counter");
    assert_eq!(ok["idl_method"], "bump");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["error_code"], "");
    assert_eq!(ok["tries"], 1);
    assert_eq!(ok["endpoint"], live.as_str());
    assert_eq!(ok["request_bytes"], body.len());
    assert!(ok["response_bytes"].as_u64().unwrap() > 0);
    assert!(ok["duration_ms"].as_f64().unwrap() >= ok["backend_ms"].as_f64().unwrap());
    assert!(ok["backend_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(ok["request_id"], "client-id-1");
    assert_eq!(ok["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");

    // Round robin starts on the dead endpoint: two tries, the last on the live one.
    let retried = &got[1];
    assert_eq!(retried["route"], "/r/count");
    assert_eq!(retried["tries"], 2, "{retried}");
    assert_eq!(retried["endpoint"], live.as_str());
    assert_eq!(retried["request_id"], made.as_str());

    let unrouted = &got[2];
    assert_eq!(unrouted["status"], 404);
    assert_eq!(unrouted["error_code"], "not_found");
    assert_eq!(unrouted["path"], "/nowhere");
    assert_eq!(unrouted["route"], "");
    assert_eq!(unrouted["tries"], 0);
    assert_eq!(unrouted["request_id"], unrouted_id.as_str());
}

/// Without an `access_log` file, `--log-json` writes the access lines into
/// the JSON log on stderr, whatever the level of the rest (the tests run
/// the gateway at `warn`); a text log has none.
#[test]
fn log_json_carries_the_access_lines_and_the_text_log_does_not() {
    for (flags, want) in [(&["--log-json"][..], true), (&[][..], false)] {
        let mut gw = Gateway::start("", flags);
        let ((status, _), h) = gw.call_h("GET", "/hello", None, &[("x-request-id", "rid-log")]);
        assert_eq!(status, 200);
        assert_eq!(header(&h, "x-request-id"), Some("rid-log"));
        let stderr = gw.proc.stop();
        let line = stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["target"] == "kitegate::access");
        match (want, line) {
            (true, Some(v)) => {
                assert_eq!(v["request_id"], "rid-log", "{v}");
                assert_eq!(v["route"], "/hello", "{v}");
                assert_eq!(v["backend"], "hello", "{v}");
                assert_eq!(v["tries"], 1, "{v}");
            }
            (false, None) => {
                assert!(!stderr.contains("rid-log"), "{stderr}");
            }
            (want, got) => panic!("--log-json {want}: access line {got:?} in\n{stderr}"),
        }
    }
}
