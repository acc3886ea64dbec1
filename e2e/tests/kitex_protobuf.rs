//! Kitex Protobuf backends described by .proto files: google.api.http
//! routes (path templates, body `*` and field, query parameters,
//! additional bindings, custom verbs, response_body) registered through the
//! admin API against the built-in backend's Kitex Protobuf server, and a real
//! CloudWeGo Kitex protobuf server (e2e/peers/kitex-pb).

use std::process::Command;

use e2e::{Gateway, Proc, free_port, hello_backend, root};
use serde_json::json;

/// Same messages and methods as examples/idl/hello.proto, other HTTP rules.
const ROUTES_PROTO: &str = r#"
syntax = "proto3";
package hello;
import "google/api/annotations.proto";
import "sub/add.proto";
message Request { string message = 1; }
message Response { string message = 1; }
service Hello {
  rpc Echo(Request) returns (Response) {
    option (google.api.http) = {
      get: "/v1/{message=messages/*}"
      additional_bindings { post: "/v1/echo:shout" body: "message" }
      additional_bindings { get: "/v1/echo/{message}/text" response_body: "message" }
    };
  }
  rpc Add(AddRequest) returns (AddResponse) {
    option (google.api.http) = {
      put: "/v1/add/{first}"
      body: "*"
      additional_bindings { get: "/v1/add/{first}/{second}" }
      additional_bindings { get: "/v1/sum" }
    };
  }
}
"#;

const ADD_PROTO: &str = r#"
syntax = "proto3";
package hello;
message AddRequest { int64 first = 1; int64 second = 2; }
message AddResponse { int64 sum = 1; }
"#;

#[test]
fn google_api_http_rules_registered_at_run_time() {
    let (_hello, addr) = hello_backend();
    let gw = Gateway::start("builtin_hello = false\n", &[]);
    for transport in ["framed", "ttheader"] {
        let reg = json!({"protocol": "kitex-protobuf", "transport": transport, "endpoints": [addr], "prefix": "/t",
                         "main": "routes.proto", "files": {"routes.proto": ROUTES_PROTO, "sub/add.proto": ADD_PROTO}});
        let (status, body) = gw.admin_call(
            "PUT",
            "/admin/backends/pb",
            Some(&reg.to_string()),
            &[("content-type", "application/json")],
        );
        assert!(status == 201 || status == 200, "{body}");

        // {message=messages/*}: a multi-segment variable
        assert_eq!(
            gw.get("/t/v1/messages/abc"),
            (200, json!({"message": "messages/abc"})),
            "{transport}"
        );
        // body: "message" with a custom verb
        assert_eq!(
            gw.post("/t/v1/echo:shout", r#""hi""#),
            (200, json!({"message": "hi"})),
            "{transport}"
        );
        // response_body
        assert_eq!(
            gw.get("/t/v1/echo/yo/text"),
            (200, json!("yo")),
            "{transport}"
        );
        // body "*" with a path variable that wins over the body
        assert_eq!(
            gw.call("PUT", "/t/v1/add/5", Some(r#"{"first":100,"second":6}"#)),
            (200, json!({"sum": 11}))
        );
        // two path variables
        assert_eq!(
            gw.get("/t/v1/add/2/3"),
            (200, json!({"sum": 5})),
            "{transport}"
        );
        // query parameters for the rest
        assert_eq!(
            gw.get("/t/v1/sum?first=7&second=8"),
            (200, json!({"sum": 15})),
            "{transport}"
        );
        assert_eq!(gw.get("/t/v1/add/x/3").0, 400, "{transport}");
        assert_eq!(gw.call("POST", "/t/v1/sum", None).0, 405, "{transport}");
    }
    // A broken .proto is a 422 with its line.
    let reg = json!({"protocol": "kitex-protobuf", "endpoints": [addr], "files": {"b.proto": "syntax = \"proto3\";\nmessage A {\n  int32 a = 1\n}\n"}});
    let (status, e) = gw.admin_call(
        "PUT",
        "/admin/backends/bad",
        Some(&reg.to_string()),
        &[("content-type", "application/json")],
    );
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["details"][0]["file"], "b.proto");
    assert!(
        e["error"]["details"][0]["line"].as_u64().unwrap() >= 3,
        "{e}"
    );
}

fn kitex_pb_server() -> (Proc, String) {
    let bin = root().join("e2e/.cache/bin/kitex-pb-hello");
    assert!(
        bin.exists(),
        "{} is missing: run e2e/peers/kitex-pb/build.sh",
        bin.display()
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(bin);
    cmd.args(["-addr", &addr]);
    let (p, _) = Proc::start("kitex-pb-hello", cmd, Some("READY"));
    (p, addr)
}

#[test]
fn kitex_protobuf_server_over_framed_and_ttheader() {
    let (_kitex, addr) = kitex_pb_server();
    let hello = root().join("examples/idl/hello.proto");
    let mut cfg = String::from("builtin_hello = false\n");
    // The Kitex server answers gRPC on the same port.
    for (name, protocol, transport) in [
        ("kf", "kitex-protobuf", "framed"),
        ("kt", "kitex-protobuf", "ttheader"),
        ("kg", "grpc", "framed"),
    ] {
        cfg.push_str(&format!(
            "[[backends]]\nname = \"{name}\"\nprotocol = \"{protocol}\"\ntransport = \"{transport}\"\nendpoints = [\"{addr}\"]\nidl = \"{}\"\nprefix = \"/{name}\"\n",
            hello.display()
        ));
    }
    let gw = Gateway::start(&cfg, &[]);
    let (status, e) = gw.post("/kg/echo", r#"{"message":"raise-error"}"#);
    assert_eq!(
        (status, &e["error"]["code"], &e["error"]["grpc_code"]),
        (500, &json!("grpc_error"), &json!("INTERNAL")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kitex says no"),
        "{e}"
    );
    for name in ["kf", "kt", "kg"] {
        if name == "kg" {
            assert_eq!(
                gw.post("/kg/add", r#"{"first":512,"second":512}"#),
                (200, json!({"sum": 1024}))
            );
            assert_eq!(
                gw.get("/kg/hello?message=via%20grpc"),
                (200, json!({"message": "via grpc"}))
            );
            continue;
        }
        let at = |p: &str| format!("/{name}{p}");
        assert_eq!(
            gw.post(&at("/add"), r#"{"first":512,"second":512}"#),
            (200, json!({"sum": 1024})),
            "{name}"
        );
        assert_eq!(
            gw.post(&at("/echo"), r#"{"message":"my request"}"#),
            (200, json!({"message": "my request"})),
            "{name}"
        );
        assert_eq!(
            gw.get(&at("/hello")),
            (200, json!({"message": "hello world"})),
            "{name}"
        );
        let (status, e) = gw.post(&at("/echo"), r#"{"message":"raise-error"}"#);
        assert_eq!(
            (status, &e["error"]["code"]),
            (500, &json!("application_exception")),
            "{name}: {e}"
        );
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("kitex says no"),
            "{name}: {e}"
        );
    }
    let (status, e) = gw.post("/kt/echo", r#"{"message":"biz-error"}"#);
    assert_eq!(
        (status, &e["error"]["code"], &e["error"]["biz_status"]),
        (500, &json!("biz_error"), &json!(404)),
        "{e}"
    );
}

#[test]
fn cli_checks_and_registers_a_proto_backend() {
    let (_hello, addr) = hello_backend();
    let gw = Gateway::start("builtin_hello = false\n", &[]);
    let proto = root().join("examples/idl/hello.proto");
    let out = Command::new(e2e::bin("kitegate"))
        .arg("check")
        .arg(&proto)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("POST  /add  ->  Hello.Add"),
        "{text}"
    );
    let out = Command::new(e2e::bin("kitegate"))
        .args([
            "register",
            "--admin",
            &gw.admin,
            "--name",
            "pb-cli",
            "--protocol",
            "kitex-protobuf",
        ])
        .args([
            "--transport",
            "ttheader",
            "--endpoint",
            &addr,
            "--prefix",
            "/pbc",
            "--idl",
        ])
        .arg(&proto)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        gw.post("/pbc/add", r#"{"first":40,"second":2}"#),
        (200, json!({"sum": 42}))
    );
}
