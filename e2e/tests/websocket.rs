//! WebSocket streaming for gRPC client-streaming and bidirectional methods,
//! against grpcio serving `e2e/idl/rich.proto`: one text frame per JSON
//! message each way, interleaved on a bidirectional call; an empty frame
//! ends the request stream; the close frame carries the gRPC status, and a
//! failure comes first as the gateway's JSON error.

use std::net::TcpStream;

use e2e::Gateway;
use serde_json::{Value, json};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

fn open(gw: &Gateway, path: &str) -> Socket {
    let url = format!("{}{path}", gw.base.replace("http://", "ws://"));
    let (ws, resp) = tungstenite::connect(url.as_str()).unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(resp.status(), 101);
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
    }
    ws
}

fn send(ws: &mut Socket, v: &str) {
    ws.send(Message::text(v)).unwrap();
}

/// The next text frame as JSON, or the close frame's code and reason.
fn next(ws: &mut Socket) -> Result<Value, (u16, String)> {
    loop {
        match ws.read().expect("read a frame") {
            Message::Text(t) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
            Message::Close(c) => {
                let c = c.expect("a close frame with a status");
                return Err((u16::from(c.code), c.reason.to_string()));
            }
            _ => continue,
        }
    }
}

#[test]
fn grpc_streams_over_websocket() {
    let (_grpc, addr) = e2e::grpc_rich_server();
    let gw = Gateway::start("builtin_hello = false\n", &[]);
    e2e::register_rich_grpc(&gw, "rich", &addr, "/rich", json!({}));

    // Bidirectional (POST /v1/chat, reached by the upgrade's GET): each reply
    // arrives before the next message is sent.
    let mut ws = open(&gw, "/rich/v1/chat");
    for (i, text) in ["a", "b", "c"].iter().enumerate() {
        send(&mut ws, &json!({"text": text, "seq": i}).to_string());
        let reply = next(&mut ws).unwrap();
        assert_eq!(reply["reply"], format!("chat: {text}"), "{reply}");
        assert_eq!(reply["seq"], json!(i + 1));
    }
    send(&mut ws, "");
    assert_eq!(next(&mut ws), Err((1000, "OK".to_string())));

    // Client streaming (the default route): the one reply after the end of the requests.
    let mut ws = open(&gw, "/rich/rich.v1.RichService/Collect");
    for n in [1, 2, 4] {
        send(&mut ws, &json!({"n": n}).to_string());
    }
    send(&mut ws, "");
    assert_eq!(next(&mut ws).unwrap(), json!({"total": 7}));
    assert_eq!(next(&mut ws), Err((1000, "OK".to_string())));

    // A status from the server: the error in the JSON shape, then 4000 + the code.
    let mut ws = open(&gw, "/rich/v1/chat");
    send(&mut ws, r#"{"text": "ok", "seq": 1}"#);
    assert_eq!(next(&mut ws).unwrap()["reply"], "chat: ok");
    send(&mut ws, r#"{"text": "fail", "seq": 2}"#);
    let e = next(&mut ws).unwrap();
    assert_eq!(
        (&e["error"]["code"], &e["error"]["grpc_code"]),
        (&json!("grpc_error"), &json!("INVALID_ARGUMENT")),
        "{e}"
    );
    let (code, reason) = next(&mut ws).unwrap_err();
    assert_eq!(code, 4003);
    assert!(
        reason.starts_with("INVALID_ARGUMENT: chat failed at seq 2"),
        "{reason}"
    );

    // A message that is not valid for the method: 400's shape, close 1011.
    let mut ws = open(&gw, "/rich/v1/chat");
    send(&mut ws, r#"{"seq": "not a number"}"#);
    let e = next(&mut ws).unwrap();
    assert_eq!(e["error"]["code"], "invalid_request", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("request line 1"),
        "{e}"
    );
    let (code, _) = next(&mut ws).unwrap_err();
    assert_eq!(code, u16::from(CloseCode::Error));

    // A unary route is not upgraded; the streaming route still takes NDJSON over POST.
    let url = format!("{}/rich/v1/echo", gw.base.replace("http://", "ws://"));
    assert!(tungstenite::connect(url.as_str()).is_err());
    let (status, _, text) = e2e::http(
        "POST",
        &format!("{}/rich/rich.v1.RichService/Collect", gw.base),
        Some("{\"n\": 5}\n{\"n\": 6}\n"),
        &[],
    )
    .unwrap();
    assert_eq!(
        (status, serde_json::from_str::<Value>(&text).unwrap()),
        (200, json!({"total": 11}))
    );
}
