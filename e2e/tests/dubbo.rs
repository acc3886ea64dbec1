//! Dubbo backends against Apache Dubbo 3.3 itself (e2e/peers/dubbo, Java,
//! dubbo protocol with Hessian2, direct connection): a provider of
//! `com.kitegate.e2e.api.RichService` described by e2e/idl/rich_dubbo.thrift
//! and called through the gateway, a Dubbo consumer calling the built-in
//! hello backend, and a fake provider sending broken frames.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{Gateway, Proc, free_port, repo_path, root};
use serde_json::{Value, json};

fn jar() -> std::path::PathBuf {
    root().join("e2e/.cache/bin/kitegate-dubbo-peer.jar")
}

/// Starts the Java provider; returns it and its `127.0.0.1:PORT`.
fn provider() -> (Proc, String) {
    let port = free_port();
    let mut cmd = Command::new("java");
    cmd.arg("-jar")
        .arg(jar())
        .args(["provider", &port.to_string(), "--no-stdin-watch"]);
    let (p, line) = Proc::start("dubbo provider", cmd, Some("READY "));
    (p, format!("127.0.0.1:{}", line["READY ".len()..].trim()))
}

fn backend(name: &str, addr: &str, extra: &str) -> String {
    format!(
        "[[backends]]\nname = \"{name}\"\nprotocol = \"dubbo\"\nendpoints = [\"{addr}\"]\nidl = \"{}\"\nprefix = \"/{name}\"\n{extra}\n",
        repo_path("e2e/idl/rich_dubbo.thrift")
    )
}

#[test]
fn rich_service_through_the_gateway() {
    let (_provider, addr) = provider();
    let cfg = format!(
        "builtin_hello = false\n{}{}{}",
        backend("d", &addr, ""),
        backend(
            "dn",
            &addr,
            "[backends.options]\nenum_as_name = true\ni64_as_string = true"
        ),
        backend("ds", &addr, "timeout_ms = 1000"),
    );
    let gw = Gateway::start(&cfg, &[]);
    let call =
        |path: &str, body: Value| gw.post(&format!("/d/RichService/{path}"), &body.to_string());
    let ok = |path: &str, body: Value, want: Value| {
        let (status, got) = call(path, body.clone());
        assert_eq!((status, &got), (200, &want), "{path} {body}");
    };
    ok("add", json!({"a": 2, "b": 3}), json!(5));
    ok("add", json!({"a": i32::MAX, "b": 1}), json!(i32::MIN));
    ok(
        "addLong",
        json!({"a": 9007199254740993i64, "b": 1}),
        json!(9007199254740994i64),
    );
    ok("scale", json!({"x": 1.5, "factor": 2.25}), json!(3.375));
    ok("negate", json!({"b": true}), json!(false));
    ok(
        "greet",
        json!({"name": "wörld 😀"}),
        json!("hello wörld 😀"),
    );
    ok("addBoxed", json!({"a": 1, "b": 2}), json!(3));
    ok("addBoxed", json!({"a": null, "b": 2}), json!(null));
    ok("addBoxed", json!({"b": 2}), json!(null));
    ok(
        "doubled",
        json!({"xs": [1, 2, null, -7]}),
        json!([2, 4, null, -14]),
    );
    ok(
        "lengths",
        json!({"words": ["a", "héllo", "😀"]}),
        json!({"a": 1, "héllo": 5, "😀": 1}),
    );
    ok(
        "counts",
        json!({"m": {"x": 1, "y": -1}}),
        json!({"x": 2, "y": 0}),
    );
    let order = json!({
        "id": "o-1", "amount": 1500,
        "items": [{"sku": "sku-1", "qty": 2, "price": 9.99}, {"sku": "sku-2", "qty": 1, "price": 100.0}],
        "status": "NEW", "createdAt": "2023-11-14T22:13:20.123Z"
    });
    let mut want = order.clone();
    want["status"] = json!(1);
    want["total"] = json!(120);
    ok("process", order.clone(), want);
    ok("next", json!({"s": "NEW"}), json!(1));
    ok("next", json!({"s": 1}), json!(2));
    ok(
        "plusDays",
        json!({"d": 1700000000123i64, "days": 2}),
        json!(1700172800123i64),
    );
    ok(
        "plusDays",
        json!({"d": "2023-11-14T22:13:20.123Z", "days": 1}),
        json!(1700086400123i64),
    );
    ok("reverse", json!({"b": "AQID"}), json!("AwIB"));
    ok("ping", json!({}), json!(null));
    ok("nothing", json!({}), json!(null));

    // Names and strings for JavaScript clients.
    let (status, got) = gw.post("/dn/RichService/process", &order.to_string());
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        (&got["status"], &got["total"], &got["amount"]),
        (&json!("PAID"), &json!("120"), &json!("1500"))
    );
    assert_eq!(
        gw.post("/dn/RichService/next", r#"{"s":"PAID"}"#),
        (200, json!("SHIPPED"))
    );

    // Java exceptions: the class and message.
    let (status, e) = call("fail", json!({"msg": "boom"}));
    assert_eq!(status, 500, "{e}");
    assert_eq!(
        (
            &e["error"]["code"],
            &e["error"]["exception"],
            &e["error"]["message"]
        ),
        (
            &json!("backend_exception"),
            &json!("java.lang.IllegalArgumentException"),
            &json!("boom")
        ),
        "{e}"
    );
    let (status, e) = call("failChecked", json!({"msg": "nope"}));
    assert_eq!(status, 500, "{e}");
    assert_eq!(
        e["error"]["exception"], "com.kitegate.e2e.api.RichException",
        "{e}"
    );
    assert_eq!(e["error"]["message"], "nope", "{e}");

    // JSON that does not fit the Java types: 400 naming the field.
    for (path, body, at) in [
        ("add", json!({"a": "x", "b": 1}), "$.a"),
        ("add", json!({"a": 1u64 << 40, "b": 1}), "$.a"),
        ("doubled", json!({"xs": [1, "two"]}), "$.xs[1]"),
        (
            "process",
            json!({"id": "o", "items": [{"qty": 1.5}]}),
            "$.items[0].qty",
        ),
        ("next", json!({"s": "LOST"}), "$.s"),
        ("reverse", json!({"b": "%%%"}), "$.b"),
        ("plusDays", json!({"d": "yesterday", "days": 1}), "$.d"),
    ] {
        let (status, e) = call(path, body.clone());
        assert_eq!(status, 400, "{path} {body}: {e}");
        let msg = e["error"]["message"].as_str().unwrap_or("");
        assert!(msg.starts_with(&format!("{at}: ")), "{path} {body}: {e}");
    }

    // Past the backend's timeout: 504 long before the provider would
    // answer (a margin no busy machine eats), then it serves again.
    let t = Instant::now();
    let (status, e) = gw.post("/ds/RichService/sleep", r#"{"millis":20000}"#);
    assert_eq!(
        (status, &e["error"]["code"]),
        (504, &json!("backend_timeout")),
        "{e}"
    );
    assert!(
        t.elapsed() < Duration::from_millis(15000),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        gw.post("/ds/RichService/sleep", r#"{"millis":1}"#),
        (200, json!("slept 1"))
    );

    // Many requests in flight on the one connection.
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| s.spawn(move || call("add", json!({"a": i, "b": 1000}))))
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), (200, json!(i as i64 + 1000)));
        }
    });
}

/// A Dubbo consumer (the same Java stack) calls the built-in hello backend.
/// A first endpoint nobody listens on: every call goes on to the live
/// provider (nothing was sent to the dead one).
#[test]
fn a_dead_first_endpoint_fails_over() {
    let (_provider, addr) = provider();
    let dead = format!("127.0.0.1:{}", free_port());
    let cfg = format!(
        "builtin_hello = false\n[[backends]]\nname = \"fo\"\nprotocol = \"dubbo\"\nendpoints = [\"{dead}\", \"{addr}\"]\nidl = \"{}\"\nprefix = \"/fo\"\ntimeout_ms = 60000\n",
        repo_path("e2e/idl/rich_dubbo.thrift")
    );
    let gw = Gateway::start(&cfg, &[]);
    for i in 0..6 {
        assert_eq!(
            gw.post("/fo/RichService/add", &json!({"a": i, "b": 1}).to_string()),
            (200, json!(i + 1)),
            "call {i}"
        );
    }
}

#[test]
fn java_consumer_calls_the_builtin_backend() {
    let port = free_port();
    let mut cmd = Command::new(e2e::bin("hello_backend"));
    cmd.args(["127.0.0.1:0", "127.0.0.1:0", &format!("127.0.0.1:{port}")]);
    let (_backend, _) = Proc::start("hello_backend", cmd, Some("READY "));
    let out = Command::new("java")
        .arg("-jar")
        .arg(jar())
        .args(["consumer", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "consumer failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![json!({"sum": 1024}), json!({"message": "my request"})]
    );
}

/// The built-in backend's Dubbo routes.
#[test]
fn builtin_dubbo_routes() {
    let gw = Gateway::start("", &[]);
    assert_eq!(
        gw.get("/dubbo/hello"),
        (200, json!({"message": "hello world"}))
    );
    assert_eq!(
        gw.post("/dubbo/add", r#"{"first":512,"second":512}"#),
        (200, json!({"sum": 1024}))
    );
    assert_eq!(
        gw.post("/dubbo/echo", r#"{"message":"my request"}"#),
        (200, json!({"message": "my request"}))
    );
    let (status, e) = gw.post(
        "/dubbo/add",
        &format!(r#"{{"first":{},"second":1}}"#, i64::MAX),
    );
    assert_eq!(
        (status, &e["error"]["exception"]),
        (500, &json!("kitegate.hello.HelloError")),
        "{e}"
    );
}

/// A fake provider answering each request with `reply(request id)`.
fn fake_provider(reply: fn(u64) -> Vec<u8>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            std::thread::spawn(move || {
                loop {
                    let mut head = [0u8; 16];
                    if c.read_exact(&mut head).is_err() {
                        return;
                    }
                    let len = u32::from_be_bytes(head[12..16].try_into().unwrap()) as usize;
                    let mut body = vec![0; len];
                    if c.read_exact(&mut body).is_err() {
                        return;
                    }
                    let id = u64::from_be_bytes(head[4..12].try_into().unwrap());
                    if c.write_all(&reply(id)).is_err() {
                        return;
                    }
                    if reply(id).len() < 16 {
                        return; // a cut frame: hang up
                    }
                }
            });
        }
    });
    addr
}

fn frame(id: u64, status: u8, body: &[u8], claimed: Option<u32>) -> Vec<u8> {
    let mut f = vec![0xda, 0xbb, 0x02, status];
    f.extend(id.to_be_bytes());
    f.extend(claimed.unwrap_or(body.len() as u32).to_be_bytes());
    f.extend(body);
    f
}

#[test]
fn dead_and_misbehaving_providers() {
    let unknown_flag = fake_provider(|id| frame(id, 20, &[0x97], None));
    let huge = fake_provider(|id| frame(id, 20, &[0x91], Some(0x7fff_ff00)));
    let cut = fake_provider(|id| frame(id, 20, &[0x91, 0x05, b'h'], None)[..10].to_vec());
    let not_found = fake_provider(|id| {
        let mut body = vec![0x11];
        body.extend(b"Service not found");
        frame(id, 60, &body, None)
    });
    let dead = format!("127.0.0.1:{}", free_port());
    let cfg = format!(
        "builtin_hello = false\ntimeout_ms = 2000\n{}{}{}{}{}",
        backend("flag", &unknown_flag, ""),
        backend("huge", &huge, ""),
        backend("cut", &cut, ""),
        backend("nf", &not_found, ""),
        backend("dead", &dead, ""),
    );
    let gw = Gateway::start(&cfg, &[]);
    for (name, status, code, text) in [
        ("flag", 502, "bad_gateway", "unknown response flag 7"),
        ("huge", 502, "bad_gateway", ""),
        ("cut", 502, "bad_gateway", ""),
        ("nf", 502, "service_not_found", "Service not found"),
        ("dead", 502, "backend_unavailable", ""),
    ] {
        let (s, e) = gw.post(&format!("/{name}/RichService/add"), r#"{"a":1,"b":2}"#);
        assert_eq!(
            (s, &e["error"]["code"]),
            (status, &json!(code)),
            "{name}: {e}"
        );
        assert!(
            e["error"]["message"].as_str().unwrap_or("").contains(text),
            "{name}: {e}"
        );
    }
    // The gateway still serves.
    assert_eq!(gw.get("/healthz").0, 200);
}

/// Dubbo backends registered at run time: described by an uploaded IDL,
/// and without one (generic calls only); `$invoke` on both.
#[test]
fn generic_calls_and_registration_at_run_time() {
    let (_provider, addr) = provider();
    let gw = Gateway::start("builtin_hello = false\n", &[]);
    let idl = std::fs::read_to_string(repo_path("e2e/idl/rich_dubbo.thrift")).unwrap();
    let put = |name: &str, reg: Value| {
        gw.admin_call(
            "PUT",
            &format!("/admin/backends/{name}"),
            Some(&reg.to_string()),
            &[("content-type", "application/json")],
        )
    };
    let (status, body) = put(
        "rich",
        json!({"protocol": "dubbo", "endpoints": [addr], "prefix": "/r", "files": {"rich_dubbo.thrift": idl}}),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        gw.post("/r/RichService/add", r#"{"a":40,"b":2}"#),
        (200, json!(42))
    );
    // No IDL and no interface: refused, naming what is missing.
    let (status, body) = put("bad", json!({"protocol": "dubbo", "endpoints": [addr]}));
    assert_eq!(status, 400, "{body}");
    let (status, body) = put(
        "gen",
        json!({"protocol": "dubbo", "endpoints": [addr], "prefix": "/g",
               "options": {"java_interface": "com.kitegate.e2e.api.RichService"}}),
    );
    assert_eq!(status, 201, "{body}");

    for prefix in ["/g", "/r"] {
        let call = |body: Value| gw.post(&format!("{prefix}/$invoke"), &body.to_string());
        assert_eq!(
            call(json!({"method": "greet", "types": ["java.lang.String"], "args": ["generic"]})),
            (200, json!("hello generic")),
            "{prefix}"
        );
        assert_eq!(
            call(json!({"method": "add", "types": ["int", "int"], "args": [2, 3]})),
            (200, json!(5))
        );
        assert_eq!(
            call(
                json!({"method": "addLong", "types": ["long", "long"], "args": [1, 9007199254740993i64]})
            ),
            (200, json!(9007199254740994i64))
        );
        assert_eq!(
            call(json!({"method": "doubled", "types": ["java.util.List"], "args": [[1, 2]]})),
            (200, json!([2, 4]))
        );
        // A POJO argument as a map; the POJO result comes back as a map
        // with its class, as Dubbo's generic service answers.
        let (status, got) = call(
            json!({"method": "process", "types": ["com.kitegate.e2e.api.Order"],
            "args": [{"id": "g-1", "amount": 5, "items": [{"sku": "s", "qty": 3, "price": 2.5}], "status": "NEW"}]}),
        );
        assert_eq!(status, 200, "{got}");
        assert_eq!(
            (&got["id"], &got["status"], &got["total"], &got["class"]),
            (
                &json!("g-1"),
                &json!("PAID"),
                &json!(8),
                &json!("com.kitegate.e2e.api.Order")
            ),
            "{got}"
        );
        // A Java exception, a method that does not exist, bad requests.
        let (status, e) =
            call(json!({"method": "fail", "types": ["java.lang.String"], "args": ["gen-boom"]}));
        assert_eq!(
            (status, &e["error"]["message"]),
            (500, &json!("gen-boom")),
            "{e}"
        );
        let (status, e) = call(json!({"method": "nope", "types": [], "args": []}));
        assert!(status == 500 || status == 502, "{status} {e}");
        assert_eq!(call(json!({"types": []})).0, 400);
        assert_eq!(
            call(json!({"method": "add", "types": ["int"], "args": [1, 2]})).0,
            400
        );
    }
    let (_, routes) = gw.admin_call("GET", "/admin/routes", None, &[]);
    assert!(routes.to_string().contains("/g/$invoke"), "{routes}");
}

/// The CLI registers Dubbo backends: with an IDL, and generic-only.
#[test]
fn cli_registers_dubbo_backends() {
    let (_provider, addr) = provider();
    let gw = Gateway::start("builtin_hello = false\n", &[]);
    let run = |args: &[&str]| {
        let out = Command::new(e2e::bin("kitegate"))
            .args(args)
            .args(["--admin", &gw.admin])
            .env_remove("KITEGATE_ADMIN_TOKEN")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let idl = repo_path("e2e/idl/rich_dubbo.thrift");
    let (code, out, err) = run(&[
        "register",
        "--name",
        "rich",
        "--protocol",
        "dubbo",
        "--idl",
        &idl,
        "--endpoint",
        &addr,
        "--prefix",
        "/rc",
        "--option",
        "enum_as_name=true",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("registered backend rich (1 file"), "{out}");
    assert_eq!(
        gw.post("/rc/RichService/next", r#"{"s":"NEW"}"#),
        (200, json!("PAID"))
    );
    let (code, out, err) = run(&[
        "register",
        "--name",
        "gen",
        "--protocol",
        "dubbo",
        "--endpoint",
        &addr,
        "--prefix",
        "/gc",
        "--option",
        "java_interface=com.kitegate.e2e.api.RichService",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        gw.post(
            "/gc/$invoke",
            r#"{"method":"greet","types":["String"],"args":["cli"]}"#
        ),
        (200, json!("hello cli"))
    );
    // Without an IDL and without an interface: a usage error, nothing sent.
    let (code, _, err) = run(&[
        "register",
        "--name",
        "x",
        "--protocol",
        "dubbo",
        "--endpoint",
        &addr,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("java_interface"), "{err}");
}
