//! In-process tests of the HTTP front door: `gateway::app(state).oneshot(..)`
//! against a Thrift backend served by the same codecs in this process.
//! Covers the bindings the e2e peers do not: cookies, wildcard paths,
//! `api.http_code` and response headers, PUT routes, api.none.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use codecs::thrift::{self, DecodeOptions, Protocol};
use gateway::backend::Backend;
use gateway::config::BackendConfig;
use http_body_util::BodyExt;
use idl::MemoryFiles;
use serde_json::{Value, json};
use tower::ServiceExt;

const IDL: &str = r#"
struct Req {
  1: i64 id (api.path = "id")
  2: string session (api.cookie = "sid")
  3: string who (api.header = "X-Who")
  4: string rest (api.path = "rest")
  5: list<string> tags (api.query = "tag")
  6: string note
  7: string secret = "unset" (api.none = "true")
}
struct Resp {
  1: i32 code (api.http_code = "")
  2: string loc (api.header = "Location")
  3: Req echoed
}
exception Oops {
  1: i64 status (api.http_code = "")
  2: string why
}
service Items {
  Resp get(1: Req req) (api.get = "/items/:id/*rest")
  Resp put(1: Req req) (api.put = "/items/:id")
  Resp fail(1: Req req) throws (1: Oops oops) (api.post = "/fail/:id")
}
"#;

/// A backend answering every call with `{code: 201, loc: "/items/<id>", echoed: <the request>}`.
async fn start_backend(schema: Arc<idl::Schema>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handler: examples::serve::thrift::Handler = Arc::new(move |proto: Protocol, msg: &[u8]| {
        let h = thrift::read_message_header(proto, msg).unwrap();
        let method = schema.services[0]
            .methods
            .iter()
            .find(|m| m.name == h.name)
            .unwrap();
        let mut args = Vec::new();
        thrift::decode_struct(
            proto,
            &schema,
            method.args,
            &msg[h.body_offset..],
            &DecodeOptions::default(),
            &mut args,
        )
        .unwrap();
        let args: Value = serde_json::from_slice(&args).unwrap();
        let req = &args["req"];
        let result = if h.name == "fail" {
            json!({"oops": {"status": req["id"], "why": "asked to"}})
        } else {
            json!({"success": {"code": 201, "loc": format!("/items/{}", req["id"]), "echoed": req}})
        };
        let mut out = Vec::new();
        thrift::encode_reply(
            proto,
            &schema,
            method,
            h.seqid,
            result.to_string().as_bytes(),
            &mut out,
        )
        .unwrap();
        Some(out)
    });
    tokio::spawn(examples::serve::thrift::serve(listener, handler, 1 << 20));
    addr
}

async fn gateway() -> axum::Router {
    let files = MemoryFiles::new([("items.thrift", IDL)]);
    let schema = Arc::new(idl::thrift::load("items.thrift", &files).unwrap());
    let addr = start_backend(schema.clone()).await;
    let cfg: BackendConfig = toml::from_str(&format!(
        "name = \"items\"\ntransport = \"framed\"\nendpoints = [\"{addr}\"]\nidl = \"items.thrift\"\nprefix = \"/v1\""
    ))
    .unwrap();
    let backend = Arc::new(Backend::new(&cfg, schema, 2000, 500).unwrap());
    let gw = gateway::Gateway::new(1 << 20);
    gw.set_backends(vec![backend]).unwrap();
    gateway::app(gw)
}

async fn send(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn path_wildcard_cookie_header_query_and_response_bindings() {
    let app = gateway().await;
    let req = Request::get("/v1/items/42/a/b%20c?tag=x&tag=y")
        .header("cookie", "theme=dark; sid=s-1")
        .header("x-who", "me")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers["location"], "/items/42");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        body,
        json!({"echoed": {"id": 42, "session": "s-1", "who": "me", "rest": "a/b c", "tags": ["x", "y"], "secret": "unset"}})
    );
}

#[tokio::test]
async fn put_route_with_body_and_none_field() {
    let app = gateway().await;
    let req = Request::put("/v1/items/7")
        .body(Body::from(
            r#"{"note":"n","secret":"from-body","id":99,"tags":["t"]}"#,
        ))
        .unwrap();
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // path wins over the body's id; api.none ignores the body; tags come from the body when the query lacks them
    assert_eq!(
        body["echoed"],
        json!({"id": 7, "note": "n", "secret": "unset", "tags": ["t"]})
    );

    let (status, _, body) = send(
        &app,
        Request::put("/v1/items/x7").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "$.id: expected i64, found \"x7\"");
    assert_eq!(body["error"]["method"], "Items.put");

    let (status, headers, body) = send(
        &app,
        Request::post("/v1/items/7").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(headers["allow"], "PUT");
}

/// An exception's `api.http_code` field sets the status only when it is a
/// status (100-599); anything else answers 500, never a wrapped-around code.
#[tokio::test]
async fn exception_http_codes_out_of_range_answer_500() {
    let app = gateway().await;
    for (code, want) in [
        (404, 404),
        (503, 503),
        (65736, 500),
        (600, 500),
        (99, 500),
        (-1, 500),
    ] {
        let req = Request::post(format!("/v1/fail/{code}"))
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = send(&app, req).await;
        assert_eq!(status.as_u16(), want, "{code}: {body}");
        assert_eq!(body["error"]["code"], "backend_exception", "{body}");
        assert_eq!(body["error"]["detail"]["status"], code, "{body}");
    }
}
