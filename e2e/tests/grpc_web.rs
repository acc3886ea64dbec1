//! gRPC-Web on the real binary: Connect's gRPC-Web client
//! (@connectrpc/connect-web in Node, with the service read from a
//! FileDescriptorSet) against a grpcio server behind the gateway (unary
//! calls, metadata, status details, server streams, deadlines, a dead
//! backend), and requests framed by hand after the gRPC-Web spec against
//! the built-in backend, in both flavours.

use std::process::Command;

use e2e::{Gateway, Proc, TempDir, http, python, register_rich_grpc, repo_path};
use serde_json::{Value, json};

/// The Connect client's output lines for one call (its packages come from
/// e2e/peers/node/setup.sh, which test.sh runs).
fn connect_web(
    set: &str,
    base: &str,
    method: &str,
    request: Value,
    headers: &[&str],
) -> Vec<Value> {
    let mut cmd = Command::new("node");
    cmd.arg(repo_path("e2e/peers/node/grpc_web_client.mjs"))
        .args([
            set,
            base,
            "rich.v1.RichService",
            method,
            &request.to_string(),
        ])
        .args(headers);
    e2e::json_lines(cmd)
}

#[test]
fn connect_web_client_through_the_gateway_to_grpcio() {
    let dir = TempDir::new("grpc-web");
    let set = dir.path().join("rich.pb").display().to_string();
    let mut cmd = Command::new(python());
    cmd.arg(repo_path("e2e/peers/python/grpc_server.py"))
        .args(["--port", "0", "--descriptor-set", &set, "--proto"])
        .arg(repo_path("e2e/idl/rich.proto"));
    let (_server, line) = Proc::start("grpc_server", cmd, Some("READY "));
    let addr = format!("127.0.0.1:{}", line["READY ".len()..].trim());
    let gw = Gateway::start("", &[]);
    register_rich_grpc(&gw, "rich", &addr, "/rich", json!({}));
    register_rich_grpc(&gw, "dead", "127.0.0.1:1", "/dead", json!({}));
    let base = format!("{}/rich", gw.base);
    let call = |method: &str, request: Value, headers: &[&str]| {
        connect_web(&set, &base, method, request, headers)
    };

    // GetItem's rules put its JSON routes under /v1/items; gRPC-Web still
    // reaches it at /rich.v1.RichService/GetItem.
    let out = call(
        "GetItem",
        json!({"itemId": "7", "tags": ["a", "b"], "pageSize": 3}),
        &[],
    );
    assert_eq!(out[0]["message"]["name"], "items/7", "{out:?}");
    assert_eq!(out[0]["message"]["tags"], json!(["a", "b"]));
    assert_eq!(out[0]["message"]["pageSize"], 3);
    assert!(out[1].get("end").is_some(), "{out:?}");

    // Every field kind goes through unchanged (the message is not transcoded).
    let all = json!({
        "fInt32": -5, "fInt64": "-9007199254740993", "fUint64": "18446744073709551615",
        "fSint64": "-3", "fFixed64": "77", "fFloat": 1.5, "fDouble": -2.25, "fBool": true,
        "fString": "héllo", "fBytes": "AAEC/w==", "color": "COLOR_BLUE",
        "nested": {"deeper": {"s": "d", "n": "-1"}}, "rString": ["x", "y"],
        "counts": {"k": "4"}, "byFlag": {"true": "t"}, "choiceText": "picked",
    });
    let out = call("Echo", all.clone(), &[]);
    let got = &out[0]["message"];
    for (k, v) in all.as_object().unwrap() {
        assert_eq!(&got[k], v, "{k}: {out:?}");
    }

    // Request headers are metadata; the JSON route's forwarding list does not apply.
    let out = call("Ping", json!({"text": "hi"}), &["x-tenant=blue"]);
    assert_eq!(
        out[0]["message"]["reply"], "pong: hi tenant=blue",
        "{out:?}"
    );

    // A status with details, read by the client from the trailer frame.
    let out = call(
        "Fail",
        json!({"code": 5, "message": "details: no such thing"}),
        &[],
    );
    let e = &out[0]["error"];
    assert_eq!(e["code"], 5, "{out:?}");
    assert_eq!(e["message"], "details: no such thing");
    assert_eq!(e["details"][0]["type"], "rich.v1.PingReply", "{out:?}");
    assert_eq!(e["details"][0]["value"]["seq"], "7");

    // A server stream: each message as it comes, then the status.
    let out = call("Count", json!({"to": 3}), &[]);
    let ns: Vec<&Value> = out.iter().filter_map(|o| o["message"].get("n")).collect();
    assert_eq!(ns, [&json!(1), &json!(2), &json!(3)], "{out:?}");
    assert!(out[3].get("end").is_some(), "{out:?}");
    let out = call("Count", json!({"to": 2, "failCode": 9}), &[]);
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[2]["error"]["code"], 9);
    assert_eq!(out[2]["error"]["message"], "count failed after 2");

    // The client's deadline (grpc-timeout) holds: DEADLINE_EXCEEDED.
    let out = call("Slow", json!({"millis": 3000}), &["grpc-timeout=300m"]);
    assert_eq!(out[0]["error"]["code"], 4, "{out:?}");

    // No endpoint answers: UNAVAILABLE, in gRPC-Web terms.
    let dead = connect_web(
        &set,
        &format!("{}/dead", gw.base),
        "Ping",
        json!({"text": "x"}),
        &[],
    );
    assert_eq!(dead[0]["error"]["code"], 14, "{dead:?}");
    assert!(
        dead[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:1"),
        "{dead:?}"
    );

    // The JSON routes are unchanged, and the gRPC-Web-only path says what it takes.
    let (s, body) = gw.call("GET", "/rich/v1/items/7", None);
    assert_eq!((s, &body["name"]), (200, &json!("items/7")), "{body}");
    let (s, body) = gw.post("/rich/rich.v1.RichService/GetItem", r#"{"itemId": "7"}"#);
    assert_eq!(s, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gRPC-Web"),
        "{body}"
    );
}

/// Frames of a gRPC-Web response body: (flag, payload).
fn frames(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !body.is_empty() {
        assert!(body.len() >= 5, "a frame is cut short: {body:?}");
        let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        out.push((body[0], body[5..5 + len].to_vec()));
        body = &body[5 + len..];
    }
    out
}

fn frame(message: &[u8]) -> Vec<u8> {
    let mut f = vec![0];
    f.extend_from_slice(&(message.len() as u32).to_be_bytes());
    f.extend_from_slice(message);
    f
}

/// One raw request: status, headers, body bytes.
fn post_raw(url: &str, ctype: &str, body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .post(url)
        .header("content-type", ctype)
        .header("x-grpc-web", "1")
        .send(body)
        .unwrap();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let status = resp.status().as_u16();
    (status, headers, resp.body_mut().read_to_vec().unwrap())
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    h.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

#[test]
fn hand_framed_requests_in_both_flavours() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let gw = Gateway::start("", &[]);
    let add = format!("{}/grpc/hello.Hello/Add", gw.base);
    // AddRequest{first: 512, second: 512}; AddResponse{sum: 1024} is 08 80 08.
    let request = frame(&[0x08, 0x80, 0x04, 0x10, 0x80, 0x04]);

    let (status, h, body) = post_raw(&add, "application/grpc-web+proto", &request);
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), "application/grpc-web+proto");
    let f = frames(&body);
    assert_eq!(f[0], (0x00, vec![0x08, 0x80, 0x08]), "{f:?}");
    assert_eq!(f[1], (0x80, b"grpc-status:0\r\n".to_vec()), "{f:?}");
    assert_eq!(f.len(), 2);

    // -text: base64 both ways; a body sent in two padded runs is read too.
    let mut text = b64.encode(&request[..4]).into_bytes();
    text.extend(b64.encode(&request[4..]).into_bytes());
    let (status, h, body) = post_raw(&add, "application/grpc-web-text", &text);
    assert_eq!(status, 200);
    assert_eq!(
        header(&h, "content-type"),
        "application/grpc-web-text+proto"
    );
    let f = frames(&b64.decode(&body).unwrap());
    assert_eq!(f[0].1, vec![0x08, 0x80, 0x08]);
    assert_eq!(f[1].1, b"grpc-status:0\r\n");

    // A server stream: one frame per message, then the trailers.
    let count = format!("{}/grpc/hello.Hello/Count", gw.base);
    let (status, _, body) = post_raw(&count, "application/grpc-web", &frame(&[0x08, 0x03]));
    assert_eq!(status, 200);
    let f = frames(&body);
    let messages: Vec<&[u8]> = f
        .iter()
        .filter(|(fl, _)| *fl == 0)
        .map(|(_, m)| &m[..])
        .collect();
    assert_eq!(messages, [&[0x08, 1][..], &[0x08, 2], &[0x08, 3]], "{f:?}");
    assert_eq!(f.last().unwrap(), &(0x80, b"grpc-status:0\r\n".to_vec()));

    // Bad frames get a gRPC status (INVALID_ARGUMENT), not a JSON body.
    for (bad, why) in [
        (vec![0u8, 0, 0, 0], "cut short"),
        (
            [request.clone(), request.clone()].concat(),
            "more than one message",
        ),
        (vec![0x80, 0, 0, 0, 0], "no trailer frame"),
    ] {
        let (status, h, body) = post_raw(&add, "application/grpc-web", &bad);
        assert_eq!(
            (status, header(&h, "content-type")),
            (200, "application/grpc-web+proto")
        );
        let f = frames(&body);
        let trailers = String::from_utf8(f[0].1.clone()).unwrap();
        assert!(
            trailers.starts_with("grpc-status:3\r\ngrpc-message:"),
            "{trailers}"
        );
        assert!(trailers.contains(why), "{why}: {trailers}");
    }
    // The JSON route beside it still answers JSON.
    let (status, _, text) = http(
        "POST",
        &format!("{}/grpc/add", gw.base),
        Some(r#"{"first":512,"second":512}"#),
        &[],
    )
    .unwrap();
    assert_eq!((status, text.as_str()), (200, r#"{"sum":1024}"#));
}

/// The same calls from a real browser's fetch (Chromium, headless): the
/// binary flavour, and a -text server stream read chunk by chunk.
#[test]
fn a_browser_calls_grpc_web() {
    assert!(
        e2e::root()
            .join("e2e/ui/node_modules/playwright-core")
            .exists(),
        "run e2e/ui/setup.sh (chromium and playwright-core)"
    );
    let gw = Gateway::start("", &[]);
    let out = Command::new("node")
        .arg(repo_path("e2e/ui/grpc_web.mjs"))
        .current_dir(repo_path("e2e/ui"))
        .env("FRONT", &gw.base)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["add"]["status"], 200, "{r}");
    assert_eq!(r["add"]["type"], "application/grpc-web+proto");
    assert_eq!(
        r["add"]["frames"][0]["message"],
        json!([0x08, 0x80, 0x08]),
        "{r}"
    );
    assert_eq!(r["add"]["frames"][1]["trailers"], "grpc-status:0\r\n");
    let count = &r["count"];
    assert_eq!(count["type"], "application/grpc-web-text+proto", "{r}");
    let messages: Vec<&Value> = count["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.get("message"))
        .collect();
    assert_eq!(
        messages,
        [&json!([8, 1]), &json!([8, 2]), &json!([8, 3])],
        "{r}"
    );
    assert_eq!(count["frames"][3]["trailers"], "grpc-status:0\r\n", "{r}");
}
