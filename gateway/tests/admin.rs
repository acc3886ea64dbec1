//! In-process tests of the admin API and the registry, with backends served
//! in this process: a Dubbo provider that counts its connections (a
//! replaced backend leaves none behind) and can answer a reference bomb,
//! large multipart uploads, the loopback `Host` check, and the state
//! directory (a corrupt file moved aside and reported, leftovers removed).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use codecs::dubbo::{HEADER_LEN, Header, encode_response};
use gateway::registry::{Limits, Registry};
use gateway::{AdminSettings, Gateway};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

const IDL: &str = r#"
namespace java kitegate.test
struct AddRequest { 1: i64 first 2: i64 second }
struct AddResponse { 1: i64 sum }
service Calc {
  AddResponse add(1: AddRequest req) (api.post = "/add")
  list<i32> bomb(1: AddRequest req) (api.post = "/bomb")
}
"#;

/// A Dubbo provider: `add` answers `{sum}`, `bomb` a reply of a few
/// hundred bytes whose references expand to 2^40 values. Returns its
/// address and how many of its connections are open.
async fn provider() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let open = Arc::new(AtomicUsize::new(0));
    let counter = open.clone();
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut head = [0u8; HEADER_LEN];
                while tcp.read_exact(&mut head).await.is_ok() {
                    let h = Header::read(&head, 1 << 20).unwrap().unwrap();
                    let mut frame = head.to_vec();
                    frame.resize(HEADER_LEN + h.body_len as usize, 0);
                    if tcp.read_exact(&mut frame[HEADER_LEN..]).await.is_err() {
                        break;
                    }
                    if h.is_event() {
                        continue;
                    }
                    let req = codecs::dubbo::decode_request(&frame, Default::default()).unwrap();
                    let mut out = Vec::new();
                    if req.method == "bomb" {
                        // Each of 26 lists holds three references to the
                        // one before: 3^26 values once expanded.
                        encode_response(h.id, false, &mut out, |w| {
                            w.begin_list(None, Some(27));
                            w.begin_list(None, Some(1));
                            w.write_int(0);
                            let mut levels = 0..26;
                            while levels.next().is_some() {
                                let below = w.ref_count() - 1;
                                w.begin_list(None, Some(3));
                                (0..3).for_each(|_| w.write_ref(below));
                            }
                        });
                    } else {
                        encode_response(h.id, false, &mut out, |w| {
                            w.begin_map(Some("kitegate.test.AddResponse"));
                            w.write_string("sum");
                            w.write_long(3);
                            w.end_map();
                        });
                    }
                    if tcp.write_all(&out).await.is_err() {
                        break;
                    }
                }
                counter.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, open)
}

fn gateway(state_dir: Option<std::path::PathBuf>) -> (Gateway, axum::Router, axum::Router) {
    let mut registry = Registry::new(
        state_dir,
        Limits {
            timeout_ms: 5000,
            connect_timeout_ms: 1000,
        },
    );
    registry.restore();
    let gw = Gateway::with_registry(
        1 << 20,
        registry,
        AdminSettings {
            token: None,
            body_limit: 8 << 20,
            front_url: None,
        },
    );
    let admin = gateway::admin::admin_app(gw.clone());
    let front = gateway::app(gw.clone());
    (gw, admin, front)
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())),
    )
}

fn put(name: &str, body: &Value) -> Request<Body> {
    Request::put(format!("/admin/backends/{name}"))
        .header("host", "127.0.0.1:9888")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn post(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// Waits (by polling, not by timing) until `f` holds.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_a_dubbo_backend_leaves_no_connection_behind() {
    let (addr, open) = provider().await;
    let (_gw, admin, front) = gateway(None);
    for i in 0..50 {
        // Each replacement changes the settings, so the route table is rebuilt.
        let reg = json!({"protocol": "dubbo", "endpoints": [addr], "prefix": "/calc",
            "timeout_ms": 5000 + i, "files": {"calc.thrift": IDL}});
        let (status, body) = call(&admin, put("calc", &reg)).await;
        assert!(status.is_success(), "{status} {body}");
        let (status, body) = call(&front, post("/calc/add", r#"{"first":1,"second":2}"#)).await;
        assert_eq!(
            (status, &body),
            (StatusCode::OK, &json!({"sum": 3})),
            "round {i}"
        );
        assert!(
            open.load(Ordering::SeqCst) <= 2,
            "round {i}: {} open",
            open.load(Ordering::SeqCst)
        );
    }
    eventually("one connection to the provider", || {
        open.load(Ordering::SeqCst) <= 1
    })
    .await;
    let remove = Request::delete("/admin/backends/calc")
        .header("host", "localhost")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&admin, remove).await.0, StatusCode::OK);
    eventually("no connection once the backend is removed", || {
        open.load(Ordering::SeqCst) == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dubbo_reply_that_expands_past_the_limit_is_a_502() {
    let (addr, _) = provider().await;
    let (_gw, admin, front) = gateway(None);
    let reg = json!({"protocol": "dubbo", "endpoints": [addr], "prefix": "/calc",
        "options": {"max_frame": 65536}, "files": {"calc.thrift": IDL}});
    let (status, body) = call(&admin, put("calc", &reg)).await;
    assert!(status.is_success(), "{status} {body}");
    let (status, body) = call(&front, post("/calc/bomb", r#"{}"#)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "bad_gateway", "{body}");
    // The gateway keeps serving.
    let (status, _) = call(&front, post("/calc/add", r#"{}"#)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_up_to_the_admin_limit_is_taken() {
    let (addr, _) = provider().await;
    let (_gw, admin, _) = gateway(None);
    // A 3 MiB IDL: over axum's 2 MiB default, under admin_body_limit (8 MiB).
    let mut idl = String::from(IDL);
    while idl.len() < 3 << 20 {
        idl.push_str("// padding padding padding padding padding padding padding padding\n");
    }
    let settings = json!({"protocol": "dubbo", "endpoints": [addr], "prefix": "/big"}).to_string();
    let boundary = "kitegate-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"settings\"\r\n\r\n{settings}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"calc.thrift\"\r\n\r\n{idl}\r\n\
         --{boundary}--\r\n"
    );
    let req = Request::put("/admin/backends/big")
        .header("host", "localhost:9888")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap();
    let (status, body) = call(&admin, req).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_only_loopback_hosts_are_answered() {
    let (_gw, admin, _) = gateway(None);
    let get = |host: &str| {
        Request::get("/admin/backends")
            .header("host", host)
            .body(Body::empty())
            .unwrap()
    };
    let (status, body) = call(&admin, get("rebound.example:9888")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    for host in ["127.0.0.1:9888", "localhost:9888", "[::1]:9888"] {
        assert_eq!(call(&admin, get(host)).await.0, StatusCode::OK, "{host}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_is_moved_aside_and_reported() {
    let dir = std::env::temp_dir().join(format!("kitegate-state-test-{}", std::process::id()));
    let backends = dir.join("backends");
    std::fs::create_dir_all(&backends).unwrap();
    std::fs::write(backends.join("broken.json"), b"{ not json").unwrap();
    std::fs::write(backends.join(".ok.json.tmp-123"), b"half a write").unwrap();
    let (_gw, admin, _) = gateway(Some(dir.clone()));
    assert!(!backends.join("broken.json").exists());
    assert!(backends.join("broken.json.corrupt").exists());
    assert!(
        !backends.join(".ok.json.tmp-123").exists(),
        "leftover temporary removed"
    );
    let req = Request::get("/admin/backends")
        .header("host", "localhost")
        .body(Body::empty())
        .unwrap();
    let (status, body) = call(&admin, req).await;
    assert_eq!(status, StatusCode::OK);
    let errors = body["restore_errors"]
        .as_array()
        .expect("restore_errors listed");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["backend"], "broken");
    assert!(
        errors[0]["moved_to"]
            .as_str()
            .unwrap()
            .ends_with("broken.json.corrupt")
    );
    // Restarting again finds nothing to report.
    let (_gw, admin, _) = gateway(Some(dir.clone()));
    let req = Request::get("/admin/backends")
        .header("host", "localhost")
        .body(Body::empty())
        .unwrap();
    assert!(call(&admin, req).await.1.get("restore_errors").is_none());
    std::fs::remove_dir_all(&dir).ok();
}
