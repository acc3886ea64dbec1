//! Registration at run time through the admin API: register, call at once,
//! replace, remove; nothing lost under load while backends are swapped;
//! registrations survive restarts (graceful and kill -9); every rejection.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use e2e::{Gateway, TempDir, free_port, hello_backend, multipart, rich_server, root};
use serde_json::{Value, json};

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap()
}

/// The hello IDL with its routes moved under `/{prefix}`.
fn hello_idl(prefix: &str) -> String {
    read("examples/idl/hello.thrift")
        .replace("\"/hello\"", &format!("\"/{prefix}/hello\""))
        .replace("\"/echo\"", &format!("\"/{prefix}/echo\""))
        .replace("\"/add\"", &format!("\"/{prefix}/add\""))
        .replace("\"/items\"", &format!("\"/{prefix}/items\""))
}

fn put_json(gw: &Gateway, name: &str, reg: &Value) -> (u16, Value) {
    gw.admin_call(
        "PUT",
        &format!("/admin/backends/{name}"),
        Some(&reg.to_string()),
        &[("content-type", "application/json")],
    )
}

#[test]
fn register_call_replace_remove_through_json_and_multipart() {
    let (_rich, addr) = rich_server("binary", "framed");
    let gw = Gateway::start("builtin_hello = false\n", &[]);

    // A first IDL with only `concat`, as one JSON document.
    let small = "service RichService { string concat(1: string a, 2: i32 b, 3: list<i64> c) (api.post = \"/rich/concat\") }";
    let reg = json!({"protocol": "thrift", "transport": "framed", "endpoints": [addr], "files": {"small.thrift": small}});
    let (status, body) = put_json(&gw, "rich", &reg);
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["backend"]["methods"][0]["routes"][0]["path"],
        "/rich/concat"
    );
    assert_eq!(
        gw.post("/rich/concat", r#"{"a":"x","b":1,"c":[2]}"#),
        (200, json!("x|1|2"))
    );
    assert_eq!(gw.post("/rich/all", "{}").0, 404);

    // Replaced by the full IDL, with its includes, as a multipart upload: the new methods answer at once.
    let settings = json!({"protocol": "thrift", "transport": "framed", "endpoints": [addr], "main": "rich.thrift"}).to_string();
    let (ctype, body) = multipart(&[
        ("settings", None, &settings),
        ("file", Some("rich.thrift"), &read("e2e/idl/rich.thrift")),
        (
            "file",
            Some("rich_base.thrift"),
            &read("e2e/idl/rich_base.thrift"),
        ),
        (
            "file",
            Some("rich_common.thrift"),
            &read("e2e/idl/rich_common.thrift"),
        ),
    ]);
    let (status, out) = gw.admin_call(
        "PUT",
        "/admin/backends/rich",
        Some(&body),
        &[("content-type", &ctype)],
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["backend"]["files"],
        json!(["rich.thrift", "rich_base.thrift", "rich_common.thrift"])
    );
    assert_eq!(
        gw.post("/rich/union", r#"{"text":"t"}"#),
        (200, json!({"text": "t"}))
    );
    assert_eq!(
        gw.post("/RichService/version", ""),
        (200, json!("rich-1.0"))
    );

    let (status, list) = gw.admin_call("GET", "/admin/backends", None, &[]);
    assert_eq!(status, 200);
    assert_eq!(list["backends"][0]["name"], "rich");
    assert_eq!(list["backends"][0]["source"], "admin");
    let (_, one) = gw.admin_call("GET", "/admin/backends/rich", None, &[]);
    assert_eq!(one["endpoint_health"][0]["reachable"], true, "{one}");
    let (_, routes) = gw.admin_call("GET", "/admin/routes", None, &[]);
    assert!(
        routes["routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == "/rich/all" && r["method"] == "echoAll")
    );

    let (status, out) = gw.admin_call("DELETE", "/admin/backends/rich", None, &[]);
    assert_eq!((status, out), (200, json!({"deleted": "rich"})));
    assert_eq!(gw.post("/rich/concat", r#"{"a":"x"}"#).0, 404);
    assert_eq!(
        gw.admin_call("DELETE", "/admin/backends/rich", None, &[]).0,
        404
    );
}

#[test]
fn nothing_is_lost_under_load_while_backends_are_swapped() {
    let (_hello, addr) = hello_backend();
    let gw = Gateway::start("", &[]);
    let reg = |prefix: &str| json!({"transport": "ttheader", "endpoints": [addr], "files": {"hello.thrift": hello_idl(prefix)}});
    assert_eq!(put_json(&gw, "swapped", &reg("swapped")).0, 201);

    let stop = AtomicBool::new(false);
    let (ok, failed) = (AtomicU64::new(0), AtomicU64::new(0));
    let failures = std::sync::Mutex::new(Vec::new());
    let start = Instant::now();
    let duration = Duration::from_secs(20);
    std::thread::scope(|s| {
        // Load: 4 workers, each paced at 100 requests/s, alternating the built-in
        // route and a route of the backend being replaced.
        for w in 0..4 {
            let (gw, stop, ok, failed, failures) = (&gw, &stop, &ok, &failed, &failures);
            s.spawn(move || {
                let mut i = 0u64;
                let t0 = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let path = if (i + w) % 2 == 0 {
                        "/add"
                    } else {
                        "/swapped/add"
                    };
                    let (status, body) = gw.post(path, &format!(r#"{{"first":{i},"second":{w}}}"#));
                    if (status, &body) == (200, &json!({"sum": i + w})) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{path}: {status} {body}"));
                    }
                    i += 1;
                    let next = t0 + Duration::from_millis(10 * i);
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            });
        }
        // 100 changes spread over the run: valid replacements and rejected uploads.
        let mut accepted = 0;
        for n in 0..100 {
            let (status, body) = match n % 4 {
                0 | 1 => put_json(&gw, "swapped", &reg("swapped")),
                2 => put_json(
                    &gw,
                    "swapped",
                    &json!({"endpoints": [addr], "files": {"bad.thrift": "struct {"}}),
                ),
                _ => put_json(&gw, "other", &reg("swapped")),
            };
            match n % 4 {
                0 | 1 => {
                    assert_eq!(status, 200, "{body}");
                    accepted += 1;
                }
                2 => assert_eq!(status, 422, "{body}"),
                _ => assert_eq!(status, 409, "{body}"),
            }
            std::thread::sleep(duration / 110);
        }
        assert_eq!(accepted, 50);
        while start.elapsed() < duration {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let (ok, failed) = (ok.into_inner(), failed.into_inner());
    let rate = ok as f64 / start.elapsed().as_secs_f64();
    eprintln!("load: {ok} requests succeeded, {failed} failed, {rate:.0} requests/s");
    assert_eq!(
        failed,
        0,
        "{:?}",
        failures.lock().unwrap().iter().take(5).collect::<Vec<_>>()
    );
    assert!(rate >= 200.0, "load was only {rate:.0} requests/s");
}

#[test]
fn registrations_survive_graceful_and_hard_restarts() {
    let (_hello, addr) = hello_backend();
    let reg = json!({"transport": "framed", "endpoints": [addr], "files": {"hello.thrift": hello_idl("kept")}});
    let gw = Gateway::start("", &[]);
    assert_eq!(put_json(&gw, "kept", &reg).0, 201);
    // A config-file backend removed through the API stays removed.
    assert_eq!(
        gw.admin_call("DELETE", "/admin/backends/hello", None, &[])
            .0,
        200
    );
    assert_eq!(gw.post("/add", r#"{"first":1,"second":1}"#).0, 404);

    let dir = gw.stop();
    let gw = Gateway::start_in(dir, "", &[]);
    assert_eq!(
        gw.post("/kept/add", r#"{"first":512,"second":512}"#),
        (200, json!({"sum": 1024}))
    );
    assert_eq!(
        gw.post("/add", r#"{"first":1,"second":1}"#).0,
        404,
        "removed stays removed"
    );

    let dir = gw.kill9();
    let gw = Gateway::start_in(dir, "", &[]);
    assert_eq!(
        gw.post("/kept/add", r#"{"first":2,"second":3}"#),
        (200, json!({"sum": 5}))
    );
    let (_, list) = gw.admin_call("GET", "/admin/backends", None, &[]);
    let names: Vec<&str> = list["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["hello-kitex-pb", "hello-grpc", "hello-dubbo", "kept"]
    );
}

#[test]
fn rejections_leave_the_running_configuration_untouched() {
    let (_hello, addr) = hello_backend();
    let gw = Gateway::start("admin_token = \"s3cret\"\nadmin_body_limit = 65536\n", &[]);
    let auth = [
        ("authorization", "Bearer s3cret"),
        ("content-type", "application/json"),
    ];
    let put = |name: &str, reg: &Value| {
        gw.admin_call(
            "PUT",
            &format!("/admin/backends/{name}"),
            Some(&reg.to_string()),
            &auth,
        )
    };

    // Token: missing, wrong.
    let (status, e) = gw.admin_call("GET", "/admin/backends", None, &[]);
    assert_eq!(
        (status, &e["error"]["code"]),
        (401, &json!("unauthorized")),
        "{e}"
    );
    let (status, _) = gw.admin_call(
        "GET",
        "/admin/backends",
        None,
        &[("authorization", "Bearer nope")],
    );
    assert_eq!(status, 401);

    // Broken IDL: 422 with file and line.
    let (status, e) = put(
        "broken",
        &json!({"endpoints": [addr], "files": {"b.thrift": "struct A {\n  1: i32 a\n}\nstruct B {\n  1: Missing m\n}\n"}}),
    );
    assert_eq!(status, 422, "{e}");
    assert_eq!(
        e["error"]["details"][0],
        json!({"file": "b.thrift", "line": 5, "message": "B.m: unknown type `Missing`"})
    );
    let (status, e) = put(
        "broken",
        &json!({"endpoints": [addr], "files": {"b.thrift": "struct A {\n  1: i32 a\n\nstruct B {}"}}),
    );
    assert_eq!(status, 422, "{e}");
    assert!(
        e["error"]["details"][0]["line"].as_u64().unwrap() > 0,
        "{e}"
    );

    // An api.vd rule kitegate cannot check, an api.serializer it does
    // not read: 422 at the field's or method's line, never ignored.
    let (status, e) = put(
        "broken",
        &json!({"endpoints": [addr], "files": {"b.thrift": "struct A {\n  1: i32 a\n  2: string p (api.vd = \"phone($)\")\n}\nservice S {\n  A m(1: A a) (api.serializer = \"xml\")\n}\n"}}),
    );
    assert_eq!(status, 422, "{e}");
    let details = &e["error"]["details"];
    assert_eq!(details[0]["line"], 3, "{e}");
    assert!(
        details[0]["message"]
            .as_str()
            .unwrap()
            .contains("`phone` is not one kitegate checks"),
        "{e}"
    );
    assert_eq!(details[1]["line"], 6, "{e}");
    assert!(
        details[1]["message"]
            .as_str()
            .unwrap()
            .contains("api.serializer = \"xml\""),
        "{e}"
    );

    // Includes resolve against the upload only.
    let (status, e) = put(
        "esc",
        &json!({"endpoints": [addr], "main": "a/main.thrift",
        "files": {"a/main.thrift": "include \"../../etc/base.thrift\"\nstruct A { 1: i32 a }", "etc/base.thrift": "struct B {}"}}),
    );
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["details"][0]["line"], 1);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{e}"
    );
    for bad in ["../x.thrift", "/etc/passwd"] {
        let (status, e) = put(
            "esc",
            &json!({"endpoints": [addr], "files": {bad: "struct A {}"}}),
        );
        assert_eq!(status, 400, "{bad}: {e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("escapes the upload"),
            "{e}"
        );
    }

    // Route conflict with the built-in backend: 409 naming both.
    let (status, e) = put(
        "clash",
        &json!({"endpoints": [addr], "files": {"hello.thrift": read("examples/idl/hello.thrift")}}),
    );
    assert_eq!(status, 409, "{e}");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("`clash`") && msg.contains("`hello`"), "{msg}");

    // Unknown protocol or transport.
    let (status, e) = put(
        "p",
        &json!({"protocol": "grpcx", "endpoints": [addr], "files": {"a.thrift": "struct A {}"}}),
    );
    assert_eq!(
        (status, &e["error"]["code"]),
        (400, &json!("invalid_settings")),
        "{e}"
    );
    let (status, _) = put(
        "p",
        &json!({"transport": "carrier-pigeon", "endpoints": [addr], "files": {"a.thrift": "struct A {}"}}),
    );
    assert_eq!(status, 400);

    // Oversized upload.
    let big = "// padding\n".repeat(10_000);
    let (status, e) = put(
        "big",
        &json!({"endpoints": [addr], "files": {"a.thrift": big}}),
    );
    assert_eq!(
        (status, &e["error"]["code"]),
        (413, &json!("payload_too_large")),
        "{e}"
    );

    // Nothing changed: the built-in backends (Thrift, Kitex Protobuf, gRPC, Dubbo) alone are there.
    let (_, list) = gw.admin_call("GET", "/admin/backends", None, &auth);
    assert_eq!(list["backends"].as_array().unwrap().len(), 4, "{list}");
    assert_eq!(
        gw.post("/add", r#"{"first":512,"second":512}"#),
        (200, json!({"sum": 1024}))
    );
}

#[test]
fn admin_off_loopback_without_token_refuses_to_start() {
    let dir = TempDir::new("cfg");
    let cfg = dir.path().join("k.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:{}\"\nadmin_listen = \"0.0.0.0:{}\"\n",
            free_port(),
            free_port()
        ),
    )
    .unwrap();
    let out = Command::new(e2e::bin("kitegate"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without a token"), "{err}");
}
