//! Per-backend limits on the real binary, on every protocol: JSON request
//! bounds (nesting, string length, elements), reply frames past
//! `max_frame`, and against grpcio the messages of one stream each way and
//! the inflation ratio of gzip replies. Past each: its status and the JSON
//! error shape (or the error item ending a stream), and the gateway goes
//! on serving.

use std::process::Command;

use e2e::{Gateway, Proc, bin, free_port, grpc_rich_server, register_rich_grpc, repo_path};
use serde_json::{Value, json};

/// The built-in hello backend on its own: Thrift and Kitex Protobuf,
/// gRPC, Dubbo addresses.
fn hello() -> (Proc, [String; 3]) {
    let addrs = [0; 3].map(|_| format!("127.0.0.1:{}", free_port()));
    let mut cmd = Command::new(bin("hello_backend"));
    cmd.args(&addrs);
    let (p, _) = Proc::start("hello_backend", cmd, Some("READY "));
    (p, addrs)
}

fn error(resp: &(u16, Value)) -> (u16, String, String) {
    let e = &resp.1["error"];
    (
        resp.0,
        e["code"].as_str().unwrap_or("").to_string(),
        e["message"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn json_bounds_and_reply_frames_on_every_protocol() {
    let (_hello, [pooled, grpc, dubbo]) = hello();
    let gw = Gateway::start("builtin_hello = false\n", &[]);
    let thrift_idl = std::fs::read_to_string(repo_path("examples/idl/hello.thrift")).unwrap();
    let proto_idl = std::fs::read_to_string(repo_path("examples/idl/hello.proto")).unwrap();
    let json_limits = json!({"max_json_depth": 3, "max_json_string": 8, "max_json_items": 2});
    let small_frames = json!({"max_frame": 64});
    let backends = [
        ("thrift", "framed", &pooled, "hello.thrift", &thrift_idl),
        (
            "kitex-protobuf",
            "framed",
            &pooled,
            "hello.proto",
            &proto_idl,
        ),
        ("grpc", "http2", &grpc, "hello.proto", &proto_idl),
        ("dubbo", "dubbo", &dubbo, "hello.thrift", &thrift_idl),
    ];
    for (protocol, transport, addr, file, idl) in backends {
        for (kind, options) in [("json", &json_limits), ("frame", &small_frames)] {
            let name = format!("{}-{kind}", protocol.replace("kitex-protobuf", "kpb"));
            let reg = json!({"protocol": protocol, "transport": transport, "endpoints": [addr],
                "prefix": format!("/{name}"), "files": {file: idl}, "options": options});
            let (s, body) = gw.admin_call(
                "PUT",
                &format!("/admin/backends/{name}"),
                Some(&reg.to_string()),
                &[("content-type", "application/json")],
            );
            assert_eq!(s, 201, "{name}: {body}");
        }
        let p = protocol.replace("kitex-protobuf", "kpb");
        let echo = |kind: &str, body: &str| gw.post(&format!("/{p}-{kind}/echo"), body);

        // Within every bound: served.
        assert_eq!(echo("json", r#"{"message":"12345678"}"#).0, 200, "{p}");
        // A string past its bound.
        let (s, code, m) = error(&echo("json", r#"{"message":"123456789"}"#));
        assert_eq!((s, code.as_str()), (400, "invalid_request"), "{p}: {m}");
        assert!(
            m.contains("a string of 9 bytes; the limit is 8"),
            "{p}: {m}"
        );
        if protocol != "kitex-protobuf" && protocol != "grpc" {
            // hello.thrift's echoItems takes lists of structs holding lists.
            let items =
                |body: Value| error(&gw.post(&format!("/{p}-json/items"), &body.to_string()));
            let (s, _, m) = items(json!({"items": [{}, {}, {}]}));
            assert!(s == 400 && m.contains("more than 2 elements"), "{p}: {m}");
            let (s, _, m) = items(json!({"items": [{"tags": ["a"]}]}));
            assert!(s == 400 && m.contains("nesting deeper than 3"), "{p}: {m}");
        }
        // A reply past max_frame: 502, and the next small one is served.
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(200));
        let (s, code, m) = error(&echo("frame", &long));
        assert_eq!((s, code.as_str()), (502, "bad_gateway"), "{p}: {m}");
        assert!(m.contains("64"), "{p}: {m}");
        assert_eq!(echo("frame", r#"{"message":"hi"}"#).0, 200, "{p}");
    }
}

#[test]
fn grpc_streams_and_gzip_replies_are_bounded() {
    let (_grpc, addr) = grpc_rich_server();
    let gw = Gateway::start("builtin_hello = false\n", &[]);
    register_rich_grpc(
        &gw,
        "s",
        &addr,
        "/s",
        json!({"options": {"max_stream_messages": 3}}),
    );
    register_rich_grpc(
        &gw,
        "z",
        &addr,
        "/z",
        json!({"options": {"accept_gzip": true, "max_inflate_ratio": 10}}),
    );
    register_rich_grpc(
        &gw,
        "zz",
        &addr,
        "/zz",
        json!({"options": {"accept_gzip": true}}),
    );

    // Replies: three messages, then the error item that ends the stream.
    let (s, _, text) =
        e2e::http("GET", &format!("{}/s/v1/count?to=5", gw.base), None, &[]).unwrap();
    assert_eq!(s, 200);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[2]["n"], 3);
    let m = lines[3]["error"]["message"].as_str().unwrap();
    assert!(m.contains("more than 3 messages in one stream"), "{m}");
    let (s, _, text) =
        e2e::http("GET", &format!("{}/s/v1/count?to=3", gw.base), None, &[]).unwrap();
    assert_eq!((s, text.lines().count()), (200, 3), "{text}");

    // Requests: a client stream of four messages is refused at the fourth.
    let body = (1..=4)
        .map(|n| format!("{{\"n\":{n}}}\n"))
        .collect::<String>();
    let (s, _, text) = e2e::http(
        "POST",
        &format!("{}/s/rich.v1.RichService/Collect", gw.base),
        Some(&body),
        &[],
    )
    .unwrap();
    assert!(
        s == 413 || text.contains("more than 3 request messages"),
        "{s} {text}"
    );
    assert!(
        text.contains("more than 3 request messages in one stream"),
        "{text}"
    );
    let body = (1..=3)
        .map(|n| format!("{{\"n\":{n}}}\n"))
        .collect::<String>();
    let (s, _, text) = e2e::http(
        "POST",
        &format!("{}/s/rich.v1.RichService/Collect", gw.base),
        Some(&body),
        &[],
    )
    .unwrap();
    assert_eq!((s, text.as_str()), (200, r#"{"total":6}"#));

    // gzip: a reply that inflates past ten times its size is refused; the
    // same reply without the ratio bound is served.
    let ping = |prefix: &str| {
        gw.post(
            &format!("/{prefix}/rich.v1.RichService/Ping"),
            r#"{"text":"gzip"}"#,
        )
    };
    let (s, code, m) = error(&ping("z"));
    assert_eq!((s, code.as_str()), (502, "bad_gateway"), "{m}");
    assert!(m.contains("max_inflate_ratio"), "{m}");
    let (s, body) = ping("zz");
    assert_eq!(s, 200, "{body}");
    assert!(body["reply"].as_str().unwrap().len() > 4000, "{body}");
}

/// A Dubbo provider nobody would write: every reply is one list of a
/// thousand elements, the first a map holding a 1,000-byte string and
/// the rest Hessian references to it (about 3 KB that stand for 1 MB).
fn reference_bomb() -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let mut body = vec![0x91, 0x58, 0xcb, 0xe8, 0x48, 0x01, b'k', 0x33, 0xe8];
    body.extend(std::iter::repeat_n(b'x', 1000));
    body.push(b'Z');
    for _ in 1..1000 {
        body.extend_from_slice(&[0x51, 0x91]);
    }
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { break };
            let body = body.clone();
            std::thread::spawn(move || {
                let mut head = [0u8; 16];
                while c.read_exact(&mut head).is_ok() {
                    let len = u32::from_be_bytes(head[12..16].try_into().unwrap()) as usize;
                    let mut req = vec![0; len];
                    if c.read_exact(&mut req).is_err() {
                        return;
                    }
                    let mut reply = vec![0xda, 0xbb, 0x02, 20];
                    reply.extend_from_slice(&head[4..12]);
                    reply.extend_from_slice(&(body.len() as u32).to_be_bytes());
                    reply.extend_from_slice(&body);
                    if c.write_all(&reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn hessian_references_are_bounded() {
    let addr = reference_bomb();
    let gw = Gateway::start("builtin_hello = false\n", &[]);
    for (name, extra) in [
        ("bounded", json!({"max_reply_json": 100_000})),
        ("default", json!({})),
    ] {
        let mut options = json!({"java_interface": "com.example.Bomb"});
        options
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let reg = json!({"protocol": "dubbo", "endpoints": [addr], "prefix": format!("/{name}"), "options": options});
        let (s, body) = gw.admin_call(
            "PUT",
            &format!("/admin/backends/{name}"),
            Some(&reg.to_string()),
            &[("content-type", "application/json")],
        );
        assert_eq!(s, 201, "{body}");
    }
    let invoke = r#"{"method": "get", "types": [], "args": []}"#;
    let (s, code, m) = error(&gw.post("/bounded/$invoke", invoke));
    assert_eq!((s, code.as_str()), (502, "bad_gateway"), "{m}");
    assert!(m.contains("100000"), "{m}");
    // Within the default bound (4 × max_frame) the whole tree is written.
    let (s, body) = gw.post("/default/$invoke", invoke);
    assert_eq!(s, 200);
    let items = body.as_array().unwrap();
    assert_eq!(items.len(), 1000);
    assert_eq!(items[999]["k"].as_str().unwrap().len(), 1000);
}
