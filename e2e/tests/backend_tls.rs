//! TLS from the gateway to its backends, against servers nobody here
//! wrote: grpcio with client certificates required (mTLS), thriftpy2's
//! TLS server socket, and the Apache Dubbo provider behind Python's ssl
//! (OpenSSL) with client certificates required. Settings that cannot
//! work fail the call with a clear answer, and the gateway goes on.

use std::process::Command;

use e2e::{Gateway, Proc, free_port, make_certs, python, register_rich_grpc, repo_path};
use serde_json::{Value, json};

fn tls(ca: &str, client: Option<(&str, &str)>, server_name: Option<&str>) -> Value {
    let mut t = json!({ "ca": ca });
    if let Some((cert, key)) = client {
        t["cert"] = json!(cert);
        t["key"] = json!(key);
    }
    if let Some(n) = server_name {
        t["server_name"] = json!(n);
    }
    t
}

#[test]
fn grpc_thrift_and_dubbo_backends_over_tls() {
    let certs = make_certs();
    let c = |f: &str| certs.path().join(f).display().to_string();
    let client = (c("client.pem"), c("client.key"));
    let client = Some((client.0.as_str(), client.1.as_str()));

    // grpcio, client certificates required.
    let mut cmd = Command::new(python());
    cmd.arg(repo_path("e2e/peers/python/grpc_server.py"))
        .args([
            "--port",
            "0",
            "--tls-cert",
            &c("server.pem"),
            "--tls-key",
            &c("server.key"),
        ])
        .args(["--tls-client-ca", &c("ca.pem"), "--proto"])
        .arg(repo_path("e2e/idl/rich.proto"));
    let (_grpc, line) = Proc::start("grpc_server tls", cmd, Some("READY "));
    let grpc = format!("127.0.0.1:{}", line["READY ".len()..].trim());

    // thriftpy2 over TLS (framed, binary).
    let mut cmd = Command::new(python());
    cmd.arg(repo_path("e2e/peers/python/rich_server.py"))
        .args([
            "--port",
            "0",
            "--transport",
            "framed",
            "--tls-cert",
            &c("server.pem"),
        ])
        .args(["--tls-key", &c("server.key"), "--idl"])
        .arg(repo_path("e2e/idl/rich.thrift"));
    let (_thrift, line) = Proc::start("rich_server tls", cmd, Some("READY "));
    let thrift = format!("127.0.0.1:{}", line["READY ".len()..].trim());

    // The Apache Dubbo provider, behind a TLS front that wants client certificates.
    let mut cmd = Command::new("java");
    let dubbo_port = free_port();
    cmd.arg("-jar")
        .arg(repo_path("e2e/.cache/bin/kitegate-dubbo-peer.jar"))
        .args(["provider", &dubbo_port.to_string(), "--no-stdin-watch"]);
    let (_dubbo, _) = Proc::start("dubbo provider", cmd, Some("READY "));
    let mut cmd = Command::new(python());
    cmd.arg(repo_path("e2e/peers/python/tls_proxy.py"))
        .args(["--upstream", &format!("127.0.0.1:{dubbo_port}")])
        .args([
            "--cert",
            &c("server.pem"),
            "--key",
            &c("server.key"),
            "--client-ca",
            &c("ca.pem"),
        ]);
    let (_front, line) = Proc::start("tls_proxy", cmd, Some("READY "));
    let dubbo = format!("127.0.0.1:{}", line["READY ".len()..].trim());

    let gw = Gateway::start("builtin_hello = false\n", &[]);
    let put = |name: &str, reg: Value| {
        let (status, body) = gw.admin_call(
            "PUT",
            &format!("/admin/backends/{name}"),
            Some(&reg.to_string()),
            &[("content-type", "application/json")],
        );
        assert!(status == 201 || status == 200, "{name}: {status} {body}");
    };

    register_rich_grpc(
        &gw,
        "grpc",
        &grpc,
        "/grpc",
        json!({"tls": tls(&c("ca.pem"), client, None)}),
    );
    let (s, body) = gw.call("GET", "/grpc/v1/items/7", None);
    assert_eq!((s, &body["name"]), (200, &json!("items/7")), "{body}");
    // A server stream over the same TLS connection.
    let (s, body) = gw.call("GET", "/grpc/v1/count?to=2", None);
    assert_eq!(s, 200, "{body}");

    let files = || {
        let mut f = json!({});
        for name in ["rich.thrift", "rich_base.thrift", "rich_common.thrift"] {
            f[name] =
                json!(std::fs::read_to_string(repo_path(&format!("e2e/idl/{name}"))).unwrap());
        }
        f
    };
    put(
        "thrift",
        json!({"protocol": "thrift", "transport": "framed", "endpoints": [thrift], "prefix": "/thrift",
               "main": "rich.thrift", "files": files(), "tls": tls(&c("ca.pem"), None, Some("localhost"))}),
    );
    let (s, body) = gw.call("GET", "/thrift/rich/ping", None);
    assert_eq!(s, 200, "{body}");

    let idl = std::fs::read_to_string(repo_path("e2e/idl/rich_dubbo.thrift")).unwrap();
    put(
        "dubbo",
        json!({"protocol": "dubbo", "endpoints": [dubbo], "prefix": "/dubbo",
               "files": {"rich_dubbo.thrift": idl}, "tls": tls(&c("ca.pem"), client, None)}),
    );
    assert_eq!(
        gw.post("/dubbo/RichService/add", r#"{"a":40,"b":2}"#),
        (200, json!(42))
    );
    assert_eq!(
        gw.post("/dubbo/RichService/greet", r#"{"name":"tls"}"#),
        (200, json!("hello tls"))
    );

    // What cannot work: a server name the certificate does not carry, a
    // CA that did not sign it (both refused in the handshake: nothing
    // sent), and no client certificate where one is required.
    register_rich_grpc(
        &gw,
        "wrong-name",
        &grpc,
        "/wn",
        json!({"tls": tls(&c("ca.pem"), client, Some("elsewhere.test"))}),
    );
    let (s, e) = gw.call("GET", "/wn/v1/items/7", None);
    assert_eq!(
        (s, &e["error"]["code"]),
        (502, &json!("backend_unavailable")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TLS handshake"),
        "{e}"
    );
    put(
        "other-ca",
        json!({"protocol": "thrift", "transport": "framed", "endpoints": [thrift], "prefix": "/oc",
               "main": "rich.thrift", "files": files(), "tls": tls(&c("stranger.pem"), None, None)}),
    );
    let (s, e) = gw.call("GET", "/oc/rich/ping", None);
    assert_eq!(
        (s, &e["error"]["code"]),
        (502, &json!("backend_unavailable")),
        "{e}"
    );
    register_rich_grpc(
        &gw,
        "no-cert",
        &grpc,
        "/nc",
        json!({"tls": tls(&c("ca.pem"), None, None)}),
    );
    let (s, e) = gw.call("GET", "/nc/v1/items/7", None);
    assert_eq!(s, 502, "{e}");
    // A CA file that is not there: the registration is refused.
    let (status, body) = gw.admin_call(
        "PUT",
        "/admin/backends/missing-ca",
        Some(&json!({"protocol": "dubbo", "endpoints": [dubbo], "prefix": "/m",
                     "files": {"rich_dubbo.thrift": std::fs::read_to_string(repo_path("e2e/idl/rich_dubbo.thrift")).unwrap()},
                     "tls": {"ca": "/nonexistent/ca.pem"}}).to_string()),
        &[("content-type", "application/json")],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("/nonexistent/ca.pem"), "{body}");
    // The TLS backends still answer.
    let (s, _) = gw.call("GET", "/grpc/v1/items/8", None);
    assert_eq!(s, 200);
}
