//! Bad input and misbehaving backends: each gets a precise status and JSON
//! error, and the gateway keeps serving afterwards.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use e2e::{Gateway, TempDir, free_port, repo_path};
use serde_json::{Value, json};

/// A TCP server on 127.0.0.1 that answers every connection with `reply` (after reading a little).
fn fake_backend(reply: &'static [u8], close: bool) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { break };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                c.set_read_timeout(Some(Duration::from_millis(500))).ok();
                let _ = c.read(&mut buf);
                let _ = c.write_all(reply);
                if close {
                    return;
                }
                // keep it open, say nothing more
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    addr
}

fn backend(name: &str, addr: &str, transport: &str, extra: &str) -> String {
    format!(
        "[[backends]]\nname = \"{name}\"\nprotocol = \"thrift\"\ntransport = \"{transport}\"\nendpoints = [\"{addr}\"]\nidl = \"{}\"\nprefix = \"/{name}\"\ntimeout_ms = 400\n{extra}\n",
        repo_path("examples/idl/hello.thrift")
    )
}

fn assert_error(resp: (u16, Value), status: u16, code: &str) -> Value {
    assert_eq!(resp.0, status, "{}", resp.1);
    assert_eq!(resp.1["error"]["code"], code, "{}", resp.1);
    assert!(
        resp.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        resp.1
    );
    resp.1
}

#[test]
fn misbehaving_backends_get_precise_errors() {
    let dead = format!("127.0.0.1:{}", free_port());
    let silent = fake_backend(b"", false);
    let garbage = fake_backend(
        b"HTTP/1.1 400 Bad Request\r\n\r\nthis is not thrift at all",
        true,
    );
    // a framed reply claiming 2 GiB
    let huge = fake_backend(&[0x7f, 0xff, 0xff, 0xff, 0x80, 0x01, 0x00, 0x02], false);
    // a TTHeader frame whose payload is cut short, then the connection closes
    let truncated = fake_backend(&[0x00, 0x00, 0x00, 0x40, 0x10, 0x00, 0x00, 0x00], true);
    let cfg = [
        backend("dead", &dead, "framed", ""),
        backend("silent", &silent, "framed", ""),
        backend("garbage", &garbage, "buffered", ""),
        backend("huge", &huge, "framed", ""),
        backend("truncated", &truncated, "ttheader", ""),
    ]
    .concat();
    let gw = Gateway::start(&cfg, &[]);
    let add = r#"{"first":1,"second":2}"#;

    let e = assert_error(gw.post("/dead/add", add), 502, "backend_unavailable");
    assert_eq!(e["error"]["backend"], "dead");
    assert_eq!(e["error"]["method"], "Hello.add");
    assert_error(gw.post("/silent/add", add), 504, "backend_timeout");
    assert_error(gw.post("/garbage/add", add), 502, "bad_gateway");
    let e = assert_error(gw.post("/huge/add", add), 502, "bad_gateway");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2147483647"),
        "{e}"
    );
    assert_error(gw.post("/truncated/add", add), 502, "bad_gateway");

    // still serving, on the built-in backend
    assert_eq!(
        gw.post("/add", r#"{"first":512,"second":512}"#),
        (200, json!({"sum": 1024}))
    );
}

#[test]
fn bad_requests_get_precise_errors() {
    let dir = TempDir::new("idl");
    let idl = dir.path().join("strict.thrift");
    std::fs::write(
        &idl,
        r#"struct Req { 1: required i32 n, 2: list<i64> xs, 3: optional string s }
           service Strict { i32 take(1: Req req) (api.post = "/take") }"#,
    )
    .unwrap();
    let dead = format!("127.0.0.1:{}", free_port());
    let cfg = format!(
        "body_limit = 1024\n[[backends]]\nname = \"strict\"\nendpoints = [\"{dead}\"]\nidl = \"{}\"\n[backends.options]\nreject_unknown_fields = true\n",
        idl.display()
    );
    let gw = Gateway::start(&cfg, &[]);

    let e = assert_error(gw.post("/add", r#"{"first":1,"#), 400, "invalid_request");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("EOF"),
        "{e}"
    );
    let e = assert_error(
        gw.post("/add", r#"{"first":"one","second":2}"#),
        400,
        "invalid_request",
    );
    assert_eq!(
        e["error"]["message"],
        "$.first: expected i64, found \"one\""
    );
    let e = assert_error(gw.post("/add", r#"{"first":[1]}"#), 400, "invalid_request");
    assert_eq!(
        e["error"]["message"],
        "$.first: expected i64, found an array"
    );
    let e = assert_error(gw.post("/add", r#"[1,2]"#), 400, "invalid_request");
    assert!(
        e["error"]["message"].as_str().unwrap().starts_with("$: "),
        "{e}"
    );
    let e = assert_error(gw.post("/take", r#"{"xs":[1]}"#), 400, "invalid_request");
    assert_eq!(e["error"]["message"], "$.n: missing required field `n`");
    let e = assert_error(
        gw.post("/take", r#"{"n":1,"xs":[1,"x"]}"#),
        400,
        "invalid_request",
    );
    assert_eq!(e["error"]["message"], "$.xs[1]: expected i64, found \"x\"");
    let e = assert_error(
        gw.post("/take", r#"{"n":4294967296}"#),
        400,
        "invalid_request",
    );
    assert_eq!(
        e["error"]["message"],
        "$.n: 4294967296 is out of range for i32"
    );
    let e = assert_error(
        gw.post("/take", r#"{"n":1,"bogus":true}"#),
        400,
        "invalid_request",
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `bogus`"),
        "{e}"
    );

    assert_error(gw.post("/no/such/route", "{}"), 404, "not_found");
    let ((status, body), headers) = gw.call_h("DELETE", "/add", None, &[]);
    assert_error((status, body), 405, "method_not_allowed");
    assert!(
        headers.iter().any(|(k, v)| k == "allow" && v == "POST"),
        "{headers:?}"
    );
    let big = format!(r#"{{"message":"{}"}}"#, "x".repeat(2000));
    assert_error(gw.post("/echo", &big), 413, "payload_too_large");

    // The gateway still answers.
    assert_eq!(
        gw.post("/add", r#"{"first":512,"second":512}"#),
        (200, json!({"sum": 1024}))
    );
}

#[test]
fn route_conflict_is_a_startup_error_naming_both() {
    let (code, err) = e2e::refused_config(&format!(
        "listen = \"127.0.0.1:{}\"\n[[backends]]\nname = \"twin\"\nendpoints = [\"127.0.0.1:1\"]\nidl = \"{}\"\n",
        free_port(),
        repo_path("examples/idl/hello.thrift")
    ));
    assert_eq!(code, 2);
    assert!(
        err.contains("backend `twin`")
            && err.contains("backend `hello`")
            && err.contains("GET /hello"),
        "{err}"
    );
}

#[test]
fn a_graceful_stop_lets_requests_in_flight_finish() {
    // The backend never answers: the call is in flight for its 400 ms timeout.
    let silent = fake_backend(b"", false);
    let gw = Gateway::start(
        &format!(
            "builtin_hello = false\n{}",
            backend("silent", &silent, "framed", "")
        ),
        &[],
    );
    let base = gw.base.clone();
    let in_flight = std::thread::spawn(move || {
        e2e::http(
            "POST",
            &format!("{base}/silent/add"),
            Some(r#"{"first":1,"second":2}"#),
            &[],
        )
    });
    std::thread::sleep(Duration::from_millis(150));
    let started = std::time::Instant::now();
    gw.stop(); // SIGTERM
    let stopped_after = started.elapsed();
    // Answered (504 from the backend timeout), not cut off by the stop.
    let (status, _, text) = in_flight
        .join()
        .expect("request thread")
        .expect("the request in flight got an answer");
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "backend_timeout", "{body}");
    assert!(
        stopped_after >= Duration::from_millis(100),
        "the gateway exited {stopped_after:?} after SIGTERM, before its request finished"
    );
}

#[test]
fn oversized_request_heads_get_431_and_the_gateway_keeps_serving() {
    let gw = Gateway::start("", &[]);
    let add_with_header = |len: usize| {
        let (status, _, text) = e2e::http(
            "POST",
            &format!("{}/add", gw.base),
            Some(r#"{"first":1,"second":2}"#),
            &[("x-big", &"x".repeat(len))],
        )
        .expect("an answer");
        (status, text)
    };
    assert_eq!(add_with_header(40 * 1024).0, 431);
    // A head just under the limit is fine.
    assert_eq!(
        add_with_header(24 * 1024),
        (200, r#"{"sum":3}"#.to_string())
    );
}
