//! The default run: kitegate with the built-in hello backend answers the
//! three hello-tutorial requests with a real RPC round trip, on every framing.

use e2e::Gateway;
use serde_json::json;

#[test]
fn hello_echo_add_on_every_builtin_framing() {
    for transport in ["ttheader", "buffered", "framed", "ttheader-framed"] {
        let gw = Gateway::start("", &["--builtin-transport", transport]);
        assert_eq!(
            gw.get("/hello"),
            (200, json!({"message": "hello world"})),
            "{transport}"
        );
        assert_eq!(
            gw.post("/add", r#"{"first":512,"second":512}"#),
            (200, json!({"sum": 1024})),
            "{transport}"
        );
        assert_eq!(
            gw.post("/echo", r#"{"message":"my request"}"#),
            (200, json!({"message": "my request"})),
            "{transport}"
        );
        assert_eq!(
            gw.get("/hello?message=hi%20there"),
            (200, json!({"message": "hi there"})),
            "{transport}"
        );
        // i64 as strings are accepted
        assert_eq!(
            gw.post("/add", r#"{"first":"-5","second":2}"#),
            (200, json!({"sum": -3})),
            "{transport}"
        );
    }
}

#[test]
fn declared_exception_is_a_json_error() {
    let gw = Gateway::start("", &[]);
    let (status, body) = gw.post("/add", r#"{"first":9223372036854775807,"second":1}"#);
    assert_eq!(status, 500);
    assert_eq!(body["error"]["code"], "backend_exception");
    assert_eq!(body["error"]["exception"], "HelloError");
    assert_eq!(body["error"]["backend"], "hello");
    assert_eq!(body["error"]["method"], "Hello.add");
    assert_eq!(body["error"]["detail"]["code"], 1);
}

#[test]
fn many_concurrent_requests_share_the_pool() {
    let gw = Gateway::start("", &[]);
    std::thread::scope(|s| {
        for t in 0..8 {
            let gw = &gw;
            s.spawn(move || {
                for i in 0..50 {
                    let (status, body) =
                        gw.post("/add", &format!(r#"{{"first":{t},"second":{i}}}"#));
                    assert_eq!((status, body), (200, json!({"sum": t + i})));
                }
            });
        }
    });
}

#[test]
fn kitex_protobuf_routes_of_the_builtin_backend() {
    for transport in ["ttheader", "framed"] {
        let gw = Gateway::start("", &["--builtin-transport", transport]);
        assert_eq!(
            gw.get("/kitex-pb/hello"),
            (200, json!({"message": "hello world"})),
            "{transport}"
        );
        assert_eq!(
            gw.get("/kitex-pb/hello?message=q%20r"),
            (200, json!({"message": "q r"})),
            "{transport}"
        );
        assert_eq!(
            gw.post("/kitex-pb/add", r#"{"first":512,"second":512}"#),
            (200, json!({"sum": 1024})),
            "{transport}"
        );
        assert_eq!(
            gw.post("/kitex-pb/echo", r#"{"message":"my request"}"#),
            (200, json!({"message": "my request"})),
            "{transport}"
        );
        let (status, e) = gw.post(
            "/kitex-pb/add",
            r#"{"first":9223372036854775807,"second":1}"#,
        );
        assert_eq!(
            (status, &e["error"]["code"], &e["error"]["type"]),
            (500, &json!("application_exception"), &json!(6)),
            "{e}"
        );
        let (status, e) = gw.post("/kitex-pb/add", r#"{"first":[1]}"#);
        assert_eq!(status, 400, "{e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("$.first"),
            "{e}"
        );
        assert_eq!(gw.call("DELETE", "/kitex-pb/add", None).0, 405);
    }
}

#[test]
fn grpc_routes_of_the_builtin_backend() {
    let gw = Gateway::start("", &[]);
    assert_eq!(
        gw.get("/grpc/hello"),
        (200, json!({"message": "hello world"}))
    );
    assert_eq!(
        gw.post("/grpc/add", r#"{"first":512,"second":512}"#),
        (200, json!({"sum": 1024}))
    );
    assert_eq!(
        gw.post("/grpc/echo", r#"{"message":"my request"}"#),
        (200, json!({"message": "my request"}))
    );
    let (status, e) = gw.post("/grpc/add", r#"{"first":9223372036854775807,"second":1}"#);
    assert_eq!(status, 500, "{e}");
    assert_eq!(
        (&e["error"]["code"], &e["error"]["grpc_code"]),
        (&json!("grpc_error"), &json!("INTERNAL")),
        "{e}"
    );
    assert_eq!(gw.post("/grpc/add", r#"{"first":"x"}"#).0, 400);
}

#[test]
fn grpc_server_streaming_as_ndjson_and_sse() {
    let gw = Gateway::start("", &[]);
    let (status, headers, body) =
        e2e::http("GET", &format!("{}/grpc/count?to=3", gw.base), None, &[]).unwrap();
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/x-ndjson"),
        "{headers:?}"
    );
    assert_eq!(body, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
    let (_, headers, body) = e2e::http(
        "GET",
        &format!("{}/grpc/count?to=2", gw.base),
        None,
        &[("accept", "text/event-stream")],
    )
    .unwrap();
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "text/event-stream"),
        "{headers:?}"
    );
    assert_eq!(body, "data: {\"n\":1}\n\ndata: {\"n\":2}\n\n");
    // A status other than OK ends the stream with the error shape.
    let (_, _, body) = e2e::http(
        "GET",
        &format!("{}/grpc/count?to=20000", gw.base),
        None,
        &[],
    )
    .unwrap();
    let last: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert_eq!(last["error"]["grpc_code"], "INVALID_ARGUMENT", "{body}");
    // Kitex Protobuf has no streaming: no route.
    assert_eq!(gw.get("/kitex-pb/count?to=1").0, 404);
}
