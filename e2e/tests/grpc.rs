//! gRPC backends against a peer nobody here wrote: grpcio (PyPI) serving
//! `RichService` from `e2e/idl/rich.proto` (`e2e/peers/python/grpc_server.py`
//! compiles the .proto at run time with grpc_tools). Each backend is
//! registered through the admin API with the two .proto files uploaded; the
//! tests go through every field kind and well-known type, the
//! `google.api.http` forms (path, query, body field, default route), server,
//! client and bidirectional streaming, metadata both ways, gzip, gRPC status
//! codes with details, deadlines and bad input.

#![recursion_limit = "256"]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{Gateway, Proc, free_port, python, root};
use serde_json::{Value, json};

/// Registers backend `name` (protocol grpc, both .proto files) with extra settings.
fn register(gw: &Gateway, name: &str, endpoint: &str, prefix: &str, extra: Value) {
    e2e::register_rich_grpc(gw, name, endpoint, prefix, extra);
}

/// A gateway with no built-in backend.
fn gateway() -> Gateway {
    Gateway::start("builtin_hello = false\n", &[])
}

/// Compares JSON field by field, reporting the first difference with its
/// path. Numbers are equal when they are the same integer or the same double
/// (a `google.protobuf.Struct` number comes back as `1.0` for `1`).
fn same(path: &str, want: &Value, got: &Value) -> Result<(), String> {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => {
            let eq = match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => a.as_f64() == b.as_f64() && (a.is_f64() || b.is_f64()),
            };
            if eq {
                Ok(())
            } else {
                Err(format!("{path}: want {a}, got {b}"))
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Err(format!("{path}: want {want}, got {got}"));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same(&format!("{path}[{i}]"), x, y)?;
            }
            Ok(())
        }
        (Value::Object(a), Value::Object(b)) => {
            for (k, x) in a {
                match b.get(k) {
                    Some(y) => same(&format!("{path}.{k}"), x, y)?,
                    None => return Err(format!("{path}.{k}: missing (want {x})")),
                }
            }
            if let Some(k) = b.keys().find(|k| !a.contains_key(*k)) {
                return Err(format!("{path}.{k}: unexpected {}", b[k]));
            }
            Ok(())
        }
        _ if want == got => Ok(()),
        _ => Err(format!("{path}: want {want}, got {got}")),
    }
}

#[track_caller]
fn assert_same(what: &str, want: &Value, got: &Value) {
    if let Err(e) = same("$", want, got) {
        panic!("{what}: {e}\nwant: {want}\n got: {got}");
    }
}

/// One `AllKinds` with a value in every field, in the forms a client may
/// send: JSON and .proto field names, 64-bit integers as numbers and
/// strings, enums as names and numbers, URL-safe base64.
fn all_kinds_request() -> Value {
    json!({
        "fInt32": -2147483648,
        "fInt64": "-9223372036854775808",
        "fUint32": 4294967295u32,
        "fUint64": "18446744073709551615",
        "fSint32": -123,
        "f_sint64": -9007199254740993i64,
        "fFixed32": 4000000000u32,
        "fFixed64": "1234567890123456789",
        "fSfixed32": -5,
        "fSfixed64": -6,
        "fFloat": -2.5,
        "fDouble": -1234.5,
        "fBool": true,
        "fString": "h\u{e9}llo \"w\u{f6}rld\" \u{2603} \u{1f600}\n",
        "fBytes": "AAEC/w==",
        "color": "COLOR_GREEN",
        "inner": {"label": "in", "weight": 7, "notes": ["a", "b"], "color": 3},
        "nested": {"deeper": {"s": "deep", "n": "-42"}, "deepers": [{"s": "x"}, {}]},
        "rInt32": [1, -1, 2147483647],
        "rInt64": ["1", -2, "9223372036854775807"],
        "r_uint64": [0, "18446744073709551615"],
        "rDouble": [1.5, "Infinity", "-Infinity", "NaN", 1e300],
        "rBool": [true, false, true],
        "rString": ["", "x"],
        "rBytes": ["", "aGk=", "-_8"],
        "rColor": ["COLOR_RED", 3, "COLOR_UNSPECIFIED"],
        "rInner": [{"label": "one"}, {"weight": 2}],
        "counts": {"a": "1", "b": -2, "big": "9223372036854775807"},
        "byId": {"7": {"label": "seven"}, "-1": {"weight": -1}},
        "byFlag": {"true": "yes", "false": "no"},
        "colors": {"r": "COLOR_RED", "z": "COLOR_UNSPECIFIED"},
        "choiceInner": {"label": "picked"},
        "optInt32": 0,
        "optString": "",
        "optBool": false,
        "optColor": "COLOR_UNSPECIFIED",
        "ts": "2024-05-06T07:08:09.123Z",
        "dur": "-1.500s",
        "st": {"n": 1, "s": "x", "b": true, "nil": null, "l": [1, "two"], "o": {"k": "v"}},
        "val": {"k": [1.5, "s", true, null]},
        "lv": [1, "a", {"b": false}, null],
        "wInt64": "42",
        "wString": "",
        "wBool": false,
        "mask": "fInt32,inner.label,nested.deeper.s",
        "empty": {},
        "rTs": ["1970-01-01T00:00:00Z", "2038-01-19T03:14:08.000001Z"],
        "price": {"currencyCode": "EUR", "units": "12", "nanos": 500000000},
        "level": "LEVEL_LOW",
        "prices": {"net": {"currency_code": "USD", "units": 3}},
    })
}

/// The reply to [`all_kinds_request`] with the default options: int64 and
/// enums as numbers; JSON names; standard base64 with padding.
fn all_kinds_default() -> Value {
    json!({
        "fInt32": -2147483648,
        "fInt64": -9223372036854775808i64,
        "fUint32": 4294967295u32,
        "fUint64": 18446744073709551615u64,
        "fSint32": -123,
        "fSint64": -9007199254740993i64,
        "fFixed32": 4000000000u32,
        "fFixed64": 1234567890123456789u64,
        "fSfixed32": -5,
        "fSfixed64": -6,
        "fFloat": -2.5,
        "fDouble": -1234.5,
        "fBool": true,
        "fString": "h\u{e9}llo \"w\u{f6}rld\" \u{2603} \u{1f600}\n",
        "fBytes": "AAEC/w==",
        "color": 2,
        "inner": {"label": "in", "weight": 7, "notes": ["a", "b"], "color": 3},
        "nested": {"deeper": {"s": "deep", "n": -42}, "deepers": [{"s": "x"}, {}]},
        "rInt32": [1, -1, 2147483647],
        "rInt64": [1, -2, 9223372036854775807i64],
        "rUint64": [0, 18446744073709551615u64],
        "rDouble": [1.5, "Infinity", "-Infinity", "NaN", 1e300],
        "rBool": [true, false, true],
        "rString": ["", "x"],
        "rBytes": ["", "aGk=", "+/8="],
        "rColor": [1, 3, 0],
        "rInner": [{"label": "one"}, {"weight": 2}],
        "counts": {"a": 1, "b": -2, "big": 9223372036854775807i64},
        "byId": {"7": {"label": "seven"}, "-1": {"weight": -1}},
        "byFlag": {"true": "yes", "false": "no"},
        "colors": {"r": 1, "z": 0},
        "choiceInner": {"label": "picked"},
        "optInt32": 0,
        "optString": "",
        "optBool": false,
        "optColor": 0,
        "ts": "2024-05-06T07:08:09.123Z",
        "dur": "-1.500s",
        "st": {"n": 1.0, "s": "x", "b": true, "nil": null, "l": [1.0, "two"], "o": {"k": "v"}},
        "val": {"k": [1.5, "s", true, null]},
        "lv": [1.0, "a", {"b": false}, null],
        "wInt64": 42,
        "wString": "",
        "wBool": false,
        "mask": "fInt32,inner.label,nested.deeper.s",
        "empty": {},
        "rTs": ["1970-01-01T00:00:00Z", "2038-01-19T03:14:08.000001Z"],
        "price": {"currencyCode": "EUR", "units": 12, "nanos": 500000000},
        "level": 1,
        "prices": {"net": {"currencyCode": "USD", "units": 3}},
    })
}

/// The same reply in canonical proto3 JSON (`i64_as_string`, `enum_as_name`).
fn all_kinds_canonical() -> Value {
    let mut v = all_kinds_default();
    let s = |x: &str| Value::String(x.to_string());
    for (k, x) in [
        ("fInt64", "-9223372036854775808"),
        ("fUint64", "18446744073709551615"),
        ("fSint64", "-9007199254740993"),
        ("fFixed64", "1234567890123456789"),
        ("fSfixed64", "-6"),
        ("wInt64", "42"),
        ("color", "COLOR_GREEN"),
        ("optColor", "COLOR_UNSPECIFIED"),
        ("level", "LEVEL_LOW"),
    ] {
        v[k] = s(x);
    }
    v["inner"]["color"] = s("COLOR_BLUE");
    v["nested"]["deeper"]["n"] = s("-42");
    v["rInt64"] = json!(["1", "-2", "9223372036854775807"]);
    v["rUint64"] = json!(["0", "18446744073709551615"]);
    v["rColor"] = json!(["COLOR_RED", "COLOR_BLUE", "COLOR_UNSPECIFIED"]);
    v["counts"] = json!({"a": "1", "b": "-2", "big": "9223372036854775807"});
    v["colors"] = json!({"r": "COLOR_RED", "z": "COLOR_UNSPECIFIED"});
    v["price"]["units"] = s("12");
    v["prices"]["net"]["units"] = s("3");
    v
}

#[test]
fn echo_every_field_kind_through_grpcio() {
    let (_peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    register(&gw, "rich", &addr, "/g", json!({}));
    register(
        &gw,
        "rich-canonical",
        &addr,
        "/gc",
        json!({"options": {"i64_as_string": true, "enum_as_name": true}}),
    );
    let req = all_kinds_request().to_string();

    let (status, got) = gw.post("/g/v1/echo", &req);
    assert_eq!(status, 200, "{got}");
    assert_same("default options", &all_kinds_default(), &got);

    let (status, got) = gw.post("/gc/v1/echo", &req);
    assert_eq!(status, 200, "{got}");
    assert_same("canonical proto3 JSON", &all_kinds_canonical(), &got);

    // What the gateway answers it accepts again, unchanged.
    let (status, again) = gw.post("/gc/v1/echo", &got.to_string());
    assert_eq!(status, 200, "{again}");
    assert_same("canonical round trip", &got, &again);
    let (status, again) = gw.post("/g/v1/echo", &all_kinds_default().to_string());
    assert_eq!(status, 200, "{again}");
    assert_same("default round trip", &all_kinds_default(), &again);

    // Default values are left out; a message field that is set stays, even
    // empty; JSON null means absent, except for google.protobuf.Value where
    // it is the null value; a wrapper holding its default stays.
    let (status, got) = gw.post(
        "/g/v1/echo",
        r#"{"fInt32":0,"fInt64":"0","fDouble":0.0,"fBool":false,"fString":"","fBytes":"",
            "color":"COLOR_UNSPECIFIED","rInt32":[],"counts":{},"inner":{},"fFloat":null,
            "val":null,"wInt64":0,"choiceText":""}"#,
    );
    assert_eq!(status, 200, "{got}");
    assert_same(
        "defaults",
        &json!({"inner": {}, "val": null, "wInt64": 0, "choiceText": ""}),
        &got,
    );

    // Normalised forms: a timestamp with an offset comes back in UTC,
    // durations with 0, 3, 6 or 9 fractional digits, numbers given as strings.
    let (status, got) = gw.post(
        "/gc/v1/echo",
        r#"{"ts":"2024-05-06T09:08:09+02:00","dur":"1.5s","fInt32":"17","fDouble":"2.5","choiceNumber":7}"#,
    );
    assert_eq!(status, 200, "{got}");
    assert_same(
        "normalised",
        &json!({"ts": "2024-05-06T07:08:09Z", "dur": "1.500s", "fInt32": 17, "fDouble": 2.5, "choiceNumber": "7"}),
        &got,
    );

    // A large message (many HTTP/2 DATA frames and window updates each way).
    let big = json!({
        "fString": "x".repeat(1_500_000),
        "rInt64": (0..50_000i64).map(|i| i * 1_000_003).collect::<Vec<_>>(),
        "rInner": (1..=2_000).map(|i| json!({"label": format!("n{i}"), "weight": i})).collect::<Vec<_>>(),
    });
    let (status, got) = gw.post("/g/v1/echo", &big.to_string());
    assert_eq!(status, 200, "large echo");
    if let Err(e) = same("$", &big, &got) {
        panic!("large echo: {e}");
    }

    // Concurrent calls share the one HTTP/2 connection; each gets its own answer.
    std::thread::scope(|s| {
        let gw = &gw;
        let calls: Vec<_> = (1..=16)
            .map(|i| {
                s.spawn(move || {
                    let body = json!({"fInt64": i, "fString": format!("call {i}"), "rInt32": vec![i; 100]});
                    let (status, got) = gw.post("/g/v1/echo", &body.to_string());
                    assert_eq!(status, 200, "{got}");
                    assert_same(&format!("concurrent call {i}"), &body, &got);
                })
            })
            .collect();
        for c in calls {
            c.join().unwrap();
        }
    });

    // emit_defaults and proto_field_names.
    register(
        &gw,
        "rich-defaults",
        &addr,
        "/gd",
        json!({"options": {"emit_defaults": true, "proto_field_names": true}}),
    );
    let (status, got) = gw.post("/gd/v1/echo", r#"{"fInt32":5}"#);
    assert_eq!(status, 200, "{got}");
    for (k, v) in [
        ("f_int32", json!(5)),
        ("f_int64", json!(0)),
        ("f_bool", json!(false)),
        ("f_string", json!("")),
        ("f_bytes", json!("")),
        ("color", json!(0)),
        ("r_int32", json!([])),
        ("counts", json!({})),
    ] {
        assert_eq!(got[k], v, "emit_defaults {k}: {got}");
    }
    assert!(got.get("fInt32").is_none(), "{got}");
}

#[test]
fn http_rules_default_route_and_streaming() {
    let (_peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    register(&gw, "rich", &addr, "/g", json!({}));
    register(
        &gw,
        "rich-canonical",
        &addr,
        "/gc",
        json!({"options": {"i64_as_string": true, "enum_as_name": true}}),
    );

    // Path variable + query parameters (repeated by repetition, nested
    // fields with dots, JSON and proto names, enum names); the path
    // variable wins over a query parameter of the same field; unknown query
    // parameters are ignored.
    let q = "view=FULL&tags=a&tags=b&pageSize=10&filter.label=x&filter.weight=3&archived=true&item_id=99&bogus=1";
    let want = json!({
        "name": "items/42", "itemId": "42", "view": 2, "tags": ["a", "b"], "pageSize": 10,
        "filter": {"label": "x", "weight": 3}, "archived": true, "title": "item 42",
    });
    let (status, got) = gw.get(&format!("/g/v1/items/42?{q}"));
    assert_eq!(status, 200, "{got}");
    assert_same("GetItem", &want, &got);
    let mut want_c = want.clone();
    want_c["view"] = json!("FULL");
    let (status, got) = gw.get(&format!("/gc/v1/items/42?{q}"));
    assert_eq!(status, 200, "{got}");
    assert_same("GetItem canonical", &want_c, &got);
    let (status, got) = gw.get("/g/v1/items/7?view=BASIC&page_size=2&filter.color=COLOR_RED");
    assert_eq!(status, 200, "{got}");
    assert_same(
        "GetItem proto names",
        &json!({"name": "items/7", "itemId": "7", "view": 1, "pageSize": 2, "filter": {"color": 1}, "title": "item 7"}),
        &got,
    );
    // Percent-encoding: a single-segment variable is decoded fully (%2F
    // too); query values as forms are (`+` is a space).
    let (status, got) = gw.get("/g/v1/items/a%2Fb%20%E2%98%83?tags=a+b&tags=%E2%98%83&tags=");
    assert_eq!(status, 200, "{got}");
    assert_same(
        "GetItem percent-encoded",
        &json!({"name": "items/a/b \u{2603}", "itemId": "a/b \u{2603}", "tags": ["a b", "\u{2603}", ""], "title": "item a/b \u{2603}"}),
        &got,
    );
    // additional_bindings: an enum path variable by name; response_body.
    let (status, got) = gw.get("/gc/v1/items/7/views/BASIC");
    assert_eq!(status, 200, "{got}");
    assert_same(
        "GetItem views/BASIC",
        &json!({"name": "items/7", "itemId": "7", "view": "BASIC", "title": "item 7"}),
        &got,
    );
    assert_eq!(gw.get("/g/v1/items/7/title"), (200, json!("item 7")));

    // body: "item" + {item.name=items/*}: the path wins over the body; the
    // FieldMask comes from a query parameter.
    let (status, got) = gw.call(
        "PATCH",
        "/g/v1/items/abc?updateMask=title,price.units",
        Some(r#"{"name":"items/zzz","title":"new","tags":["x"],"price":{"currencyCode":"EUR","units":"5"}}"#),
    );
    assert_eq!(status, 200, "{got}");
    assert_same(
        "UpdateItem",
        &json!({"name": "items/abc", "itemId": "abc", "title": "new", "tags": ["x"],
                "price": {"currencyCode": "EUR", "units": 5}, "etag": "v2",
                "updatedFields": ["title", "price.units"]}),
        &got,
    );
    // Without a mask from the client, the mask is the body's keys, as
    // grpc-gateway fills it: relative to the item, nested messages walked,
    // lists and well-known types leaves, path variables not counted.
    let (status, got) = gw.call(
        "PATCH",
        "/g/v1/items/abc",
        Some(r#"{"title":"new","tags":["x"],"price":{"currencyCode":"EUR","units":"5"},"updateTime":"2024-01-02T03:04:05Z"}"#),
    );
    assert_eq!(status, 200, "{got}");
    let mut fields: Vec<&str> = got["updatedFields"]
        .as_array()
        .unwrap_or_else(|| panic!("{got}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "price.currency_code",
            "price.units",
            "tags",
            "title",
            "update_time"
        ],
        "{got}"
    );
    // A multi-segment variable keeps %2F encoded (and decodes the rest).
    let (status, got) = gw.call("PATCH", "/g/v1/items/a%2Fb%20c", Some("{}"));
    assert_eq!(status, 200, "{got}");
    assert_same(
        "UpdateItem %2F",
        &json!({"name": "items/a%2Fb c", "itemId": "a%2Fb c", "etag": "v2"}),
        &got,
    );
    // The template needs items/*: another collection is no route.
    assert_eq!(
        gw.call("PATCH", "/g/v1/users/abc", Some("{}")).0,
        404,
        "PATCH /g/v1/users/abc"
    );

    // A method without a rule: POST /{package.Service}/{Method}, body "*".
    let (status, got) = gw.post("/g/rich.v1.RichService/Ping", r#"{"text":"hi","seq":41}"#);
    assert_eq!(status, 200, "{got}");
    assert_same(
        "Ping",
        &json!({"reply": "pong: hi", "seq": 42, "level": 2}),
        &got,
    );
    let (status, got) = gw.post(
        "/gc/rich.v1.RichService/Ping",
        r#"{"seq":"9007199254740993"}"#,
    );
    assert_eq!(status, 200, "{got}");
    assert_same(
        "Ping canonical",
        &json!({"reply": "pong: ", "seq": "9007199254740994", "level": "LEVEL_HIGH"}),
        &got,
    );

    let ((status, _), headers) = gw.call_h("GET", "/g/rich.v1.RichService/Ping", None, &[]);
    assert_eq!((status, header(&headers, "allow")), (405, "POST"));

    // Routes: every method, streaming ones included.
    let (status, routes) = gw.admin_call("GET", "/admin/routes", None, &[]);
    assert_eq!(status, 200, "{routes}");
    let text = routes.to_string();
    for m in [
        "Echo",
        "GetItem",
        "UpdateItem",
        "Fail",
        "Slow",
        "Ping",
        "Count",
        "Collect",
        "Chat",
    ] {
        assert!(
            text.contains(&format!("\"{m}\"")),
            "no route for {m}: {routes}"
        );
    }

    // Server streaming: newline-delimited JSON, or Server-Sent Events.
    let url = format!("{}/g/v1/count?to=3", gw.base);
    let (status, headers, body) = e2e::http("GET", &url, None, &[]).unwrap();
    assert_eq!(status, 200, "{body}");
    let ctype = header(&headers, "content-type");
    assert!(ctype.starts_with("application/x-ndjson"), "{ctype}");
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            json!({"n": 1, "label": "#1"}),
            json!({"n": 2, "label": "#2"}),
            json!({"n": 3, "label": "#3"})
        ]
    );
    let (status, headers, body) =
        e2e::http("GET", &url, None, &[("accept", "text/event-stream")]).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(header(&headers, "content-type").starts_with("text/event-stream"));
    let events: Vec<&str> = body.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 3, "{body}");
    assert_eq!(events[0], r##"data: {"n":1,"label":"#1"}"##, "{body}");
    // A status other than OK after two messages ends the stream with an error item.
    let (status, _, body) = e2e::http(
        "GET",
        &format!("{}/g/v1/count?to=2&failCode=5", gw.base),
        None,
        &[],
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{body}");
    let e = &lines[2]["error"];
    assert_eq!(
        (
            &e["code"],
            &e["grpc_code"],
            &e["grpc_status"],
            &e["http_status"]
        ),
        (
            &json!("grpc_error"),
            &json!("NOT_FOUND"),
            &json!(5),
            &json!(404)
        ),
        "{body}"
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap_or("")
            .contains("count failed after 2"),
        "{body}"
    );
    // An empty stream is an empty body.
    let (status, _, body) =
        e2e::http("GET", &format!("{}/g/v1/count?to=0", gw.base), None, &[]).unwrap();
    assert_eq!((status, body.as_str()), (200, ""));

    // Accept: application/json: one JSON array, written as it streams.
    let json_accept = [("accept", "application/json")];
    let (status, headers, body) = e2e::http("GET", &url, None, &json_accept).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(header(&headers, "content-type").starts_with("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!([{"n": 1, "label": "#1"}, {"n": 2, "label": "#2"}, {"n": 3, "label": "#3"}]),
        "{body}"
    );
    let (_, _, body) = e2e::http(
        "GET",
        &format!("{}/g/v1/count?to=0", gw.base),
        None,
        &json_accept,
    )
    .unwrap();
    assert_eq!(body, "[]");
    // The error that ends a stream is its last element.
    let (_, _, body) = e2e::http(
        "GET",
        &format!("{}/g/v1/count?to=2&failCode=5", gw.base),
        None,
        &json_accept,
    )
    .unwrap();
    let items: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(items.as_array().unwrap().len(), 3, "{body}");
    assert_eq!(items[2]["error"]["grpc_code"], json!("NOT_FOUND"), "{body}");
    // Both listed: newline-delimited JSON, the default.
    let (_, headers, _) = e2e::http(
        "GET",
        &url,
        None,
        &[("accept", "application/x-ndjson, application/json")],
    )
    .unwrap();
    assert!(header(&headers, "content-type").starts_with("application/x-ndjson"));
}

/// A long stream of small messages (grpcio writes many of them in DATA
/// frames of a few dozen bytes), with a unary call in flight on the same
/// HTTP/2 connection: both complete.
#[test]
fn long_stream_of_small_messages() {
    let (_peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    // The stream's length is the point, not its speed: a timeout that no
    // machine, however busy, runs into.
    register(&gw, "rich", &addr, "/g", json!({"timeout_ms": 600_000}));
    for round in 0..5 {
        std::thread::scope(|s| {
            let unary = s.spawn(|| gw.post("/g/v1/slow", r#"{"millis":1000}"#));
            std::thread::sleep(Duration::from_millis(100));
            let url = format!("{}/g/v1/count?to=20000", gw.base);
            let (status, _, body) = e2e::http("GET", &url, None, &[]).unwrap();
            let lines: Vec<&str> = body.lines().collect();
            let last = lines.last().copied().unwrap_or("");
            let (unary_status, unary_body) = unary.join().unwrap();
            assert_eq!(
                (status, lines.len(), last, unary_status),
                (200, 20000, r##"{"n":20000,"label":"#20000"}"##, 200),
                "round {round}: (stream status, lines, last line, unary status); unary answered {unary_body}"
            );
        });
    }
}

/// A first endpoint nobody listens on: every call, unary and streaming,
/// goes on to the live one (nothing was sent to the dead one).
#[test]
fn a_dead_first_endpoint_fails_over() {
    let (_peer, addr) = e2e::grpc_rich_server();
    let dead = format!("127.0.0.1:{}", free_port());
    let gw = gateway();
    register(
        &gw,
        "fo",
        &addr,
        "/fo",
        json!({"endpoints": [dead, addr], "timeout_ms": 60_000}),
    );
    for i in 0..6 {
        let (status, v) = gw.post(
            "/fo/rich.v1.RichService/Ping",
            &format!(r#"{{"text":"{i}"}}"#),
        );
        assert_eq!(status, 200, "call {i}: {v}");
        let (status, _, body) =
            e2e::http("GET", &format!("{}/fo/v1/count?to=3", gw.base), None, &[]).unwrap();
        assert_eq!(
            (status, body.lines().count()),
            (200, 3),
            "stream {i}: {body}"
        );
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// A JSON number reaches the backend as the nearest double (RFC 8259 /
/// IEEE 754 round to nearest, as Go's strconv.ParseFloat, protobuf's own JSON
/// parsers and Rust's `str::parse` read it), so a double written with its
/// shortest round-trip digits comes back as the same text.
#[test]
fn doubles_keep_every_bit() {
    let (_peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    register(&gw, "rich", &addr, "/g", json!({}));
    let values = [
        "1234.5678901234567",
        "14871.466378840501",
        "-906834.6387644875",
        "95488.93141911575",
        "0.30000000000000004",
        "2.2250738585072014e-308",
        "5e-324",
    ];
    let mut wrong = Vec::new();
    for v in values {
        let (status, _, body) = e2e::http(
            "POST",
            &format!("{}/g/v1/echo", gw.base),
            Some(&format!(r#"{{"fDouble":{v}}}"#)),
            &[],
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
        // Read the number from the text, with Rust's correctly rounded parser.
        let text = body
            .strip_prefix(r#"{"fDouble":"#)
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or_else(|| panic!("{body}"));
        let got: f64 = text.parse().unwrap();
        let want: f64 = v.parse().unwrap();
        if got.to_bits() != want.to_bits() {
            wrong.push(format!("{v} came back as {text}"));
        }
    }
    assert!(wrong.is_empty(), "doubles changed: {wrong:?}");
}

/// grpc-gateway reads an enum query parameter (or path variable) by name or
/// by number (runtime/query.go `parseField`: `ByName`, else `ParseInt` and
/// `ByNumber`).
#[test]
fn enum_numbers_in_query_parameters() {
    let (_peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    register(&gw, "rich", &addr, "/g", json!({}));
    register(
        &gw,
        "strict",
        &addr,
        "/gr",
        json!({"options": {"reject_unknown_fields": true}}),
    );
    for prefix in ["/g", "/gr"] {
        let (status, got) = gw.get(&format!("{prefix}/v1/items/7?view=1&filter.color=2"));
        assert_eq!(status, 200, "{prefix}: {got}");
        assert_same(
            &format!("{prefix} enum numbers in the query"),
            &json!({"name": "items/7", "itemId": "7", "view": 1, "filter": {"color": 2}, "title": "item 7"}),
            &got,
        );
        let (status, got) = gw.get(&format!("{prefix}/v1/items/7/views/2"));
        assert_eq!(status, 200, "{prefix}: {got}");
        assert_same(
            &format!("{prefix} enum number in the path"),
            &json!({"name": "items/7", "itemId": "7", "view": 2, "title": "item 7"}),
            &got,
        );
    }
}

#[test]
fn grpc_status_codes_deadlines_and_dead_backends() {
    let (mut peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    register(&gw, "rich", &addr, "/g", json!({}));

    for (code, name, http) in [
        (3, "INVALID_ARGUMENT", 400),
        (5, "NOT_FOUND", 404),
        (6, "ALREADY_EXISTS", 409),
        (7, "PERMISSION_DENIED", 403),
        (16, "UNAUTHENTICATED", 401),
        (8, "RESOURCE_EXHAUSTED", 429),
        (9, "FAILED_PRECONDITION", 400),
        (10, "ABORTED", 409),
        (11, "OUT_OF_RANGE", 400),
        (12, "UNIMPLEMENTED", 501),
        (14, "UNAVAILABLE", 503),
        (13, "INTERNAL", 500),
        (2, "UNKNOWN", 500),
        (15, "DATA_LOSS", 500),
    ] {
        let msg = format!("failing with {name} \u{2603}");
        let body = json!({"code": code, "message": msg}).to_string();
        let (status, e) = gw.post("/g/v1/fail", &body);
        assert_eq!(status, http, "{name}: {e}");
        let e = &e["error"];
        assert_eq!(
            (&e["code"], &e["grpc_code"], &e["grpc_status"]),
            (&json!("grpc_error"), &json!(name), &json!(code)),
            "{name}: {e}"
        );
        assert_eq!(e["message"], json!(msg), "{name}: {e}");
        assert_eq!(
            (&e["backend"], &e["method"]),
            (&json!("rich"), &json!("RichService.Fail")),
            "{name}: {e}"
        );
    }
    // grpc-message is percent-encoded on the wire: any text comes through.
    let msg = "100% sure: a%2Fb\nline2\ttab \"q\" \u{2603}";
    let (status, e) = gw.post(
        "/g/v1/fail",
        &json!({"code": 5, "message": msg}).to_string(),
    );
    assert_eq!((status, &e["error"]["message"]), (404, &json!(msg)), "{e}");
    let (status, e) = gw.post("/g/v1/fail", r#"{"code":5}"#);
    assert_eq!((status, &e["error"]["message"]), (404, &json!("")), "{e}");
    // Code 0: the Empty reply.
    assert_eq!(gw.post("/g/v1/fail", r#"{"code":0}"#), (200, json!({})));

    // Past the backend's timeout: 504, in about the timeout, and the
    // connection stays usable.
    register(&gw, "slow", &addr, "/gs", json!({"timeout_ms": 300}));
    // grpc-timeout carries the backend timeout (300 ms here, 3000 ms by default).
    let (status, got) = gw.post("/gs/v1/slow", r#"{"millis":20}"#);
    assert_eq!((status, &got["sleptMillis"]), (200, &json!(20)), "{got}");
    let left = got["deadlineMillis"].as_i64().unwrap_or(-1);
    assert!(
        (100..=300).contains(&left),
        "deadline seen by grpcio: {got}"
    );
    let (status, got) = gw.post("/g/v1/slow", r#"{"millis":1}"#);
    assert_eq!(status, 200, "{got}");
    let left = got["deadlineMillis"].as_i64().unwrap_or(-1);
    assert!(
        (2000..=3000).contains(&left),
        "deadline seen by grpcio: {got}"
    );
    // A client's shorter deadline (x-kitegate-timeout-ms) travels as
    // grpc-timeout; a longer one is capped by the backend's timeout.
    for (asked, range) in [("150", 50..=150), ("60000", 100..=300)] {
        let ((status, got), _) = gw.call_h(
            "POST",
            "/gs/v1/slow",
            Some(r#"{"millis":1}"#),
            &[("x-kitegate-timeout-ms", asked)],
        );
        assert_eq!(status, 200, "{got}");
        let left = got["deadlineMillis"].as_i64().unwrap_or(-1);
        assert!(range.contains(&left), "asked {asked} ms, grpcio saw {got}");
    }
    let ((status, e), _) = gw.call_h(
        "POST",
        "/gs/v1/slow",
        Some(r#"{"millis":1}"#),
        &[("x-kitegate-timeout-ms", "soon")],
    );
    assert_eq!(
        (status, &e["error"]["code"]),
        (400, &json!("invalid_request")),
        "{e}"
    );
    let t = Instant::now();
    let (status, e) = gw.post("/gs/v1/slow", r#"{"millis":3000}"#);
    let took = t.elapsed();
    assert_eq!(status, 504, "{e}");
    let code = e["error"]["code"].as_str().unwrap_or("");
    assert!(
        code == "backend_timeout"
            || (code == "grpc_error" && e["error"]["grpc_code"] == "DEADLINE_EXCEEDED"),
        "{e}"
    );
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(2500),
        "took {took:?}: {e}"
    );
    assert_eq!(gw.post("/gs/v1/slow", r#"{"millis":1}"#).0, 200);
    assert_eq!(
        gw.post("/g/rich.v1.RichService/Ping", r#"{"text":"after"}"#)
            .0,
        200
    );

    // Nobody listens: 502 backend_unavailable.
    let dead = format!("127.0.0.1:{}", free_port());
    register(&gw, "down", &dead, "/gx", json!({"timeout_ms": 2000}));
    let (status, e) = gw.post("/gx/v1/echo", r#"{"fInt32":1}"#);
    assert_eq!(
        (status, &e["error"]["code"]),
        (502, &json!("backend_unavailable")),
        "{e}"
    );
    assert_eq!(e["error"]["backend"], "down", "{e}");
    let (status, _, body) =
        e2e::http("GET", &format!("{}/gx/v1/count?to=1", gw.base), None, &[]).unwrap();
    assert_eq!(status, 502, "streaming to a dead backend: {body}");

    // The peer stops: the next call is 502 too (after the connection drops).
    peer.stop();
    let (status, e) = gw.post("/g/v1/echo", r#"{"fInt32":1}"#);
    assert_eq!(status, 502, "{e}");
    assert!(
        e["error"]["code"] == "backend_unavailable" || e["error"]["code"] == "bad_gateway",
        "{e}"
    );
}

#[test]
fn bad_input_is_400_naming_the_field() {
    let (_peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    register(&gw, "rich", &addr, "/g", json!({}));
    register(
        &gw,
        "strict",
        &addr,
        "/gr",
        json!({"options": {"reject_unknown_fields": true}}),
    );

    let bad = |prefix: &str, method: &str, path: &str, body: Option<&str>, at: &str| {
        let full = format!("{prefix}{path}");
        let (status, e) = gw.call(method, &full, body);
        assert_eq!(
            (status, &e["error"]["code"]),
            (400, &json!("invalid_request")),
            "{method} {full} {body:?}: {e}"
        );
        let m = e["error"]["message"].as_str().unwrap_or("");
        assert!(
            m.starts_with(at),
            "{method} {full} {body:?}: message should start with {at:?}: {e}"
        );
    };
    for (body, at) in [
        (r#"{"inner":{"weight":"heavy"}}"#, "$.inner.weight"),
        (r#"{"rInt32":[1,"x"]}"#, "$.rInt32[1]"),
        (r#"{"fInt32":2147483648}"#, "$.fInt32"),
        (r#"{"fUint32":-1}"#, "$.fUint32"),
        (r#"{"fInt64":"12x"}"#, "$.fInt64"),
        (r#"{"fBool":"yes"}"#, "$.fBool"),
        (r#"{"fString":5}"#, "$.fString"),
        (r#"{"fBytes":"!!!"}"#, "$.fBytes"),
        (r#"{"color":true}"#, "$.color"),
        // An enum name the enum does not declare: rejected, as protojson does.
        (r#"{"color":"PUCE"}"#, "$.color"),
        (r#"{"inner":[1]}"#, "$.inner"),
        (r#"{"byId":{"x":{}}}"#, "$.byId"),
        (r#"{"counts":{"a":"b"}}"#, "$.counts.a"),
        (r#"{"ts":"yesterday"}"#, "$.ts"),
        (r#"{"dur":"5 minutes"}"#, "$.dur"),
        (r#"{"st":[1]}"#, "$.st"),
        (r#"{"wBool":"no"}"#, "$.wBool"),
        (
            r#"{"nested":{"deepers":[{},{"n":"x"}]}}"#,
            "$.nested.deepers[1].n",
        ),
        (r#"{"price":{"units":1.5}}"#, "$.price.units"),
        (r#"{"choiceText":"a","choiceNumber":1}"#, "$"),
        (r#"{"fInt32":1"#, "$"),
        (r#"[1]"#, "$"),
        (r#"{"fInt32":1} x"#, "$"),
    ] {
        bad("/g", "POST", "/v1/echo", Some(body), at);
    }
    // Query parameters and path variables are checked the same way.
    bad("/g", "GET", "/v1/items/1?pageSize=abc", None, "$.pageSize");
    bad(
        "/g",
        "GET",
        "/v1/items/1?archived=maybe",
        None,
        "$.archived",
    );
    bad("/g", "GET", "/v1/count?to=x", None, "$.to");

    // Unknown enum names and unknown fields: 400 with reject_unknown_fields.
    bad(
        "/gr",
        "POST",
        "/v1/echo",
        Some(r#"{"color":"COLOR_PURPLE"}"#),
        "$.color",
    );
    bad(
        "/gr",
        "POST",
        "/v1/echo",
        Some(r#"{"rColor":["COLOR_RED","NOPE"]}"#),
        "$.rColor",
    );
    bad("/gr", "GET", "/v1/items/1?view=EVERYTHING", None, "$.view");
    bad("/gr", "POST", "/v1/echo", Some(r#"{"noSuchField":1}"#), "$");
    // Without it unknown fields are dropped, as grpc-gateway (protojson
    // DiscardUnknown) does; an unknown enum name is still a 400 (protojson
    // drops it only under DiscardUnknown, which `ignore_unknown_enum_values`
    // asks for alone, below).
    assert_eq!(
        gw.post("/g/v1/echo", r#"{"noSuchField":1,"fInt32":3}"#),
        (200, json!({"fInt32": 3}))
    );
    bad(
        "/g",
        "POST",
        "/v1/echo",
        Some(r#"{"color":"COLOR_PURPLE","noSuchField":1,"fInt32":3}"#),
        "$.color",
    );
    // An enum number the .proto does not declare is kept (proto3 enums are open).
    assert_eq!(
        gw.post("/g/v1/echo", r#"{"color":42}"#),
        (200, json!({"color": 42}))
    );

    // Only an explicit option drops unknown enum names (protojson's DiscardUnknown).
    register(
        &gw,
        "lenient",
        &addr,
        "/gl",
        json!({"options": {"ignore_unknown_enum_values": true}}),
    );
    assert_eq!(
        gw.post(
            "/gl/v1/echo",
            r#"{"color":"COLOR_PURPLE","noSuchField":1,"fInt32":3}"#
        ),
        (200, json!({"fInt32": 3}))
    );
}

/// The peer goes away and comes back on the same port; a call in flight
/// when it dies or shuts down fails at once instead of waiting for the timeout.
#[test]
fn peer_restarts_and_crashes() {
    let port = free_port();
    let start = || {
        let mut cmd = Command::new(python());
        cmd.arg(root().join("e2e/peers/python/grpc_server.py"))
            .args(["--port", &port.to_string(), "--proto"])
            .arg(root().join("e2e/idl/rich.proto"));
        Proc::start("grpc_server", cmd, Some("READY ")).0
    };
    let mut peer = start();
    let gw = gateway();
    register(
        &gw,
        "rich",
        &format!("127.0.0.1:{port}"),
        "/g",
        json!({"timeout_ms": 5000}),
    );
    let ping = || gw.post("/g/rich.v1.RichService/Ping", r#"{"text":"x"}"#);
    assert_eq!(ping().0, 200);
    let (status, e) = gw.admin_call("GET", "/admin/backends/rich", None, &[]);
    assert_eq!(
        (status, &e["endpoint_health"][0]["reachable"]),
        (200, &json!(true)),
        "{e}"
    );

    peer.stop();
    let (status, e) = ping();
    assert_eq!(
        (status, &e["error"]["code"]),
        (502, &json!("backend_unavailable")),
        "{e}"
    );
    let (_, e) = gw.admin_call("GET", "/admin/backends/rich", None, &[]);
    assert_eq!(e["endpoint_health"][0]["reachable"], json!(false), "{e}");

    let mut peer = start();
    assert_eq!(
        ping(),
        (200, json!({"reply": "pong: x", "seq": 1, "level": 2}))
    );

    // Killed mid-call: 502 bad_gateway at once.
    let slow = |peer: &mut Proc, kill: bool| {
        std::thread::scope(|s| {
            let call = s.spawn(|| {
                let t = Instant::now();
                (gw.post("/g/v1/slow", r#"{"millis":4000}"#), t.elapsed())
            });
            std::thread::sleep(Duration::from_millis(300));
            if kill {
                peer.kill9();
            } else {
                peer.stop();
            }
            call.join().unwrap()
        })
    };
    let ((status, e), took) = slow(&mut peer, true);
    assert_eq!(
        (status, &e["error"]["code"]),
        (502, &json!("bad_gateway")),
        "{e}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");

    // Shut down mid-call (grpcio cancels its calls with UNAVAILABLE): 503.
    let mut peer = start();
    assert_eq!(ping().0, 200);
    let ((status, e), took) = slow(&mut peer, false);
    assert!(took < Duration::from_secs(3), "took {took:?}: {e}");
    assert!(
        (status == 503 && e["error"]["grpc_code"] == "UNAVAILABLE")
            || (status == 502 && e["error"]["code"] == "bad_gateway"),
        "{status} {e}"
    );
}

/// Client streaming: a newline-delimited JSON body, one message per line,
/// answered with one JSON object; a bad line is a 400 naming the line.
#[test]
fn client_streaming_from_ndjson() {
    let (_peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    register(&gw, "rich", &addr, "/g", json!({}));
    let body = "{\"n\":1}\n{\"n\":2,\"label\":\"x\"}\n\n{\"n\":39}";
    let (status, got) = gw.post("/g/rich.v1.RichService/Collect", body);
    assert_eq!((status, &got), (200, &json!({"total": 42})), "{got}");
    // No messages: the sum of nothing.
    let (status, got) = gw.post("/g/rich.v1.RichService/Collect", "");
    assert_eq!((status, &got), (200, &json!({})), "{got}");
    // Many messages.
    let many: String = (1..=2000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    let (status, got) = gw.post("/g/rich.v1.RichService/Collect", &many);
    assert_eq!((status, &got), (200, &json!({"total": 2001000})), "{got}");
    // A wrong type on line 2: 400, the call cancelled.
    let (status, e) = gw.post(
        "/g/rich.v1.RichService/Collect",
        "{\"n\":1}\n{\"n\":\"two\"}\n{\"n\":3}\n",
    );
    assert_eq!(status, 400, "{e}");
    let msg = e["error"]["message"].as_str().unwrap_or("");
    assert!(msg.starts_with("request line 2: $.n"), "{e}");
    // Not JSON at all.
    let (status, e) = gw.post("/g/rich.v1.RichService/Collect", "{\"n\":1}\n[oops\n");
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("request line 2: "),
        "{e}"
    );
    // The gateway and the connection still serve.
    let (status, got) = gw.post("/g/rich.v1.RichService/Collect", "{\"n\":5}");
    assert_eq!((status, &got), (200, &json!({"total": 5})), "{got}");
}

/// Sends an HTTP/1.1 request with a chunked body over `tcp` (headers only).
fn start_chunked(tcp: &mut TcpStream, host: &str, path: &str) {
    write!(
        tcp,
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    .unwrap();
}

fn send_chunk(tcp: &mut TcpStream, data: &str) {
    write!(tcp, "{:x}\r\n{data}\r\n", data.len()).unwrap();
    tcp.flush().unwrap();
}

/// Reads the response head; returns the status line and headers.
fn read_head(r: &mut BufReader<TcpStream>) -> (String, Vec<String>) {
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        if l == "\r\n" || l.is_empty() {
            break;
        }
        headers.push(l.trim_end().to_ascii_lowercase());
    }
    (status, headers)
}

/// Reads one chunk of a chunked response body ("" at the last chunk).
fn read_chunk(r: &mut BufReader<TcpStream>) -> String {
    let mut size = String::new();
    r.read_line(&mut size).unwrap();
    let n =
        usize::from_str_radix(size.trim(), 16).unwrap_or_else(|_| panic!("chunk size {size:?}"));
    let mut data = vec![0; n + 2];
    r.read_exact(&mut data).unwrap();
    data.truncate(n);
    String::from_utf8(data).unwrap()
}

/// Reads response body chunks until they hold `lines` complete lines.
fn read_lines(r: &mut BufReader<TcpStream>, lines: usize) -> Vec<Value> {
    let mut text = String::new();
    while text.matches('\n').count() < lines {
        let c = read_chunk(r);
        assert!(!c.is_empty(), "the stream ended early after {text:?}");
        text.push_str(&c);
    }
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Bidirectional streaming: each reply arrives while the request body is
/// still open (the next request line is only written after the previous
/// reply was read), over one HTTP/1.1 exchange with a chunked body.
#[test]
fn bidirectional_streaming_interleaves() {
    let (_peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    register(&gw, "rich", &addr, "/g", json!({}));
    let host = gw.base.trim_start_matches("http://").to_string();
    let mut tcp = TcpStream::connect(&host).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(tcp.try_clone().unwrap());
    start_chunked(&mut tcp, &host, "/g/v1/chat");
    send_chunk(&mut tcp, "{\"text\":\"a\",\"seq\":1}\n");
    let (status, headers) = read_head(&mut r);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(
        headers
            .iter()
            .any(|h| h.starts_with("content-type: application/x-ndjson")),
        "{headers:?}"
    );
    assert_eq!(
        read_lines(&mut r, 1),
        vec![json!({"reply": "chat: a", "seq": 2, "level": 2})]
    );
    // A message split across two chunks.
    send_chunk(&mut tcp, "{\"text\":\"b\",");
    send_chunk(&mut tcp, "\"seq\":10}\n");
    assert_eq!(
        read_lines(&mut r, 1),
        vec![json!({"reply": "chat: b", "seq": 11, "level": 2})]
    );
    // Two at once, the last one without a newline, then the end of the body.
    send_chunk(&mut tcp, "{\"text\":\"c\"}\n{\"text\":\"d\"}");
    send_chunk(&mut tcp, "");
    let rest = read_lines(&mut r, 2);
    assert_eq!(rest[0]["reply"], "chat: c");
    assert_eq!(rest[1]["reply"], "chat: d");
    assert_eq!(
        read_chunk(&mut r),
        "",
        "the stream ends after the last reply"
    );

    // The server fails the call mid-way: an error item ends the stream.
    let body = "{\"text\":\"x\"}\n{\"text\":\"fail\",\"seq\":4}\n{\"text\":\"never\"}\n";
    let (status, _, text) =
        e2e::http("POST", &format!("{}/g/v1/chat", gw.base), Some(body), &[]).unwrap();
    assert_eq!(status, 200, "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["reply"], "chat: x");
    let e = &lines[1]["error"];
    assert_eq!(
        (&e["grpc_code"], &e["http_status"], &e["message"]),
        (
            &json!("INVALID_ARGUMENT"),
            &json!(400),
            &json!("chat failed at seq 4")
        ),
        "{text}"
    );

    // A request line that is not a message: its error ends the stream.
    let body = "{\"text\":\"y\"}\n{\"seq\":\"not a number\"}\n";
    let (status, _, text) =
        e2e::http("POST", &format!("{}/g/v1/chat", gw.base), Some(body), &[]).unwrap();
    assert_eq!(status, 200, "{text}");
    let last: Value = serde_json::from_str(text.lines().last().unwrap_or("null")).unwrap();
    let e = &last["error"];
    assert_eq!(
        (&e["code"], &e["http_status"]),
        (&json!("invalid_request"), &json!(400)),
        "{text}"
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("request line 2: $.seq"),
        "{text}"
    );

    // Server-Sent Events work for bidirectional calls too.
    let (status, headers, text) = e2e::http(
        "POST",
        &format!("{}/g/v1/chat", gw.base),
        Some("{\"text\":\"s\"}"),
        &[("accept", "text/event-stream")],
    )
    .unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(header(&headers, "content-type").starts_with("text/event-stream"));
    assert_eq!(
        text,
        "data: {\"reply\":\"chat: s\",\"seq\":1,\"level\":2}\n\n"
    );
}

/// Request headers reach the server as metadata (authorization,
/// grpc-metadata-*, configured names; nothing else), response metadata
/// comes back as grpc-metadata-* / grpc-trailer-* headers, and a
/// gzip-compressed response is inflated.
#[test]
fn metadata_both_ways_and_gzip() {
    let (_peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    register(&gw, "rich", &addr, "/g", json!({}));
    register(
        &gw,
        "rich2",
        &addr,
        "/g2",
        json!({"options": {"forward_headers": ["X-Tenant"], "omit_response_metadata": true}}),
    );
    let ((status, got), headers) = gw.call_h(
        "POST",
        "/g/rich.v1.RichService/Ping",
        Some(r#"{"text":"hi","seq":1}"#),
        &[
            ("authorization", "Bearer t0k"),
            ("x-tenant", "acme"),
            ("grpc-metadata-x-tenant", "via-prefix"),
            ("grpc-metadata-grpc-timeout", "1S"),
            ("x-request-id", "rid-grpc-7"),
        ],
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        header(&headers, "grpc-metadata-x-seen-request-id"),
        "rid-grpc-7",
        "the request id reaches the server as metadata: {headers:?}"
    );
    assert_eq!(
        got["reply"], "pong: hi tenant=via-prefix auth=Bearer t0k",
        "{got}"
    );
    assert_eq!(
        header(&headers, "grpc-metadata-x-served-by"),
        "grpcio",
        "{headers:?}"
    );
    assert_eq!(
        header(&headers, "grpc-trailer-x-next-seq"),
        "2",
        "{headers:?}"
    );
    assert_eq!(
        header(&headers, "grpc-metadata-content-type"),
        "",
        "{headers:?}"
    );
    assert_eq!(
        header(&headers, "grpc-trailer-grpc-status"),
        "",
        "{headers:?}"
    );

    // A configured header is forwarded as is; response metadata omitted.
    let ((status, got), headers) = gw.call_h(
        "POST",
        "/g2/rich.v1.RichService/Ping",
        Some(r#"{"text":"hi"}"#),
        &[("x-tenant", "acme")],
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["reply"], "pong: hi tenant=acme", "{got}");
    assert_eq!(
        header(&headers, "grpc-metadata-x-served-by"),
        "",
        "{headers:?}"
    );

    // gzip: grpcio compresses this reply (with or without accept_gzip,
    // which advertises gzip in grpc-accept-encoding); it is inflated.
    register(
        &gw,
        "rich3",
        &addr,
        "/g3",
        json!({"options": {"accept_gzip": true}}),
    );
    let reply = format!("pong: gzip {}", "gzip".repeat(1000));
    for prefix in ["/g3", "/g"] {
        let (status, got) = gw.post(
            &format!("{prefix}/rich.v1.RichService/Ping"),
            r#"{"text":"gzip","seq":41}"#,
        );
        assert_eq!(
            (status, &got),
            (200, &json!({"reply": reply, "seq": 42, "level": 2})),
            "{prefix}: {got}"
        );
    }
}

/// google.rpc.Status details from grpc-status-details-bin: a type the
/// backend's .proto declares is shown field by field, an unknown one as base64.
#[test]
fn status_details_in_errors() {
    let (_peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    register(&gw, "rich", &addr, "/g", json!({}));
    let (status, e) = gw.post("/g/v1/fail", r#"{"code":9,"message":"details: no stock"}"#);
    assert_eq!(status, 400, "{e}");
    let e = &e["error"];
    assert_eq!(
        (&e["grpc_code"], &e["message"]),
        (&json!("FAILED_PRECONDITION"), &json!("details: no stock")),
        "{e}"
    );
    assert_eq!(
        e["details"],
        json!([
            {"@type": "type.googleapis.com/rich.v1.PingReply", "reply": "details: no stock", "seq": 7, "level": 2},
            {"@type": "type.googleapis.com/unknown.v1.Thing", "value": "CAE="}
        ]),
        "{e}"
    );
    // Without details there is no `details` member.
    let (_, e) = gw.post("/g/v1/fail", r#"{"code":9,"message":"plain"}"#);
    assert!(e["error"].get("details").is_none(), "{e}");
}

/// A grpcio client (stubs compiled from examples/idl/hello.proto at run
/// time) calls the built-in hello backend's gRPC server.
#[test]
fn grpcio_client_calls_the_builtin_grpc_backend() {
    let grpc_port = free_port();
    let mut cmd = Command::new(e2e::bin("hello_backend"));
    cmd.args(["127.0.0.1:0", &format!("127.0.0.1:{grpc_port}")]);
    let (_backend, _) = Proc::start("hello_backend", cmd, Some("READY "));
    let out = Command::new(python())
        .arg(root().join("e2e/peers/python/hello_grpc_client.py"))
        .args(["--target", &format!("127.0.0.1:{grpc_port}")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "grpcio client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        got,
        json!({"echo": "from grpcio", "echo_default": "hello world", "sum": 1024, "count": [1, 2, 3]})
    );
}

/// A server stream cut mid-way by the backend (killed): the messages so far,
/// then one error item; the gateway serves on.
#[test]
fn stream_cut_mid_way_by_the_backend() {
    let (mut peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    register(&gw, "rich", &addr, "/g", json!({"timeout_ms": 60000}));
    let (status, body) = std::thread::scope(|s| {
        let call = s.spawn(|| {
            let url = format!("{}/g/v1/count?to=5000000", gw.base);
            let (status, _, body) = e2e::http("GET", &url, None, &[]).unwrap();
            (status, body)
        });
        std::thread::sleep(Duration::from_millis(800));
        peer.kill9();
        call.join().unwrap()
    });
    assert_eq!(status, 200);
    let lines: Vec<&str> = body.lines().collect();
    assert!(lines.len() > 1, "{} lines", lines.len());
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first, json!({"n": 1, "label": "#1"}));
    let last: Value = serde_json::from_str(lines[lines.len() - 1]).unwrap();
    assert_eq!(last["error"]["code"], "bad_gateway", "{last}");
    assert!(lines.len() < 5_000_000, "the stream was not cut");
    // Every line before the error is a whole message, in order.
    for (i, l) in lines[..lines.len() - 1].iter().enumerate() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["n"], json!(i + 1));
    }
    assert_eq!(gw.get("/healthz").0, 200);
}

/// An IDL written for hz (Hertz's `api.proto` options) loads unchanged
/// and serves its routes against grpcio: path, query, header and cookie
/// fields, `api.any` on every method; `[backends.bind]` binds headers on
/// a grpc-gateway IDL, over the query and under the path.
#[test]
fn hertz_options_and_header_binding() {
    let (_peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    let hz = std::fs::read_to_string(e2e::repo_path("e2e/idl/hertz.proto")).unwrap();
    let reg = json!({"protocol": "grpc", "endpoints": [addr], "main": "hertz.proto", "files": {"hertz.proto": hz}});
    let (status, body) = gw.admin_call(
        "PUT",
        "/admin/backends/hz",
        Some(&reg.to_string()),
        &[("content-type", "application/json")],
    );
    assert!(status == 201 || status == 200, "{status} {body}");
    let headers = [("x-page-size", "25"), ("cookie", "a=b; archived=true")];
    let url = format!("{}/hz/items/7?v=2&tag=a&tag=b", gw.base);
    let (s, _, text) = e2e::http("GET", &url, None, &headers).unwrap();
    assert_eq!(s, 200, "{text}");
    let got: Value = serde_json::from_str(&text).unwrap();
    assert_same(
        "hz route",
        &json!({"name": "items/7", "itemId": "7", "view": 2, "tags": ["a", "b"], "pageSize": 25, "archived": true, "item_title": "item 7"}),
        &got,
    );
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
        let (s, _, text) = e2e::http(method, &format!("{}/hz/any/8", gw.base), None, &[]).unwrap();
        assert_eq!(s, 200, "{method}: {text}");
        assert!(text.contains("\"itemId\":\"8\""), "{method}: {text}");
    }
    // (api.head) and (api.options): HEAD answers the call's status alone.
    let ping = format!("{}/hz/ping", gw.base);
    let (s, _, text) = e2e::http("OPTIONS", &ping, Some(r#"{"msg":"hi","seq":1}"#), &[]).unwrap();
    assert_eq!(s, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["reply"],
        json!("pong: hi")
    );
    // (api.serializer) = "form": a body that names no type is a form.
    let (s, _, text) = e2e::http("OPTIONS", &ping, Some("text=form&seq=2"), &[]).unwrap();
    assert_eq!(s, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["reply"],
        json!("pong: form")
    );
    let (s, _, text) = e2e::http("HEAD", &ping, None, &[]).unwrap();
    assert_eq!((s, text.as_str()), (200, ""));
    let (s, _, _) = e2e::http("GET", &ping, None, &[]).unwrap();
    assert_eq!(s, 405);
    // (api.vd) rules, checked before the call.
    for (path, want) in [
        (
            "/hz/items/123456789",
            "$.itemId: fails api.vd \"len($)<=8\"",
        ),
        ("/hz/items/7?v=5", "$.view: v is 0, 1 or 2"),
    ] {
        let (s, _, text) = e2e::http("GET", &format!("{}{path}", gw.base), None, &[]).unwrap();
        assert_eq!(s, 400, "{path}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["message"], json!(want), "{text}");
    }
    // Rules of nested messages too.
    let post =
        |body: &str| e2e::http("POST", &format!("{}/hz/any/7", gw.base), Some(body), &[]).unwrap();
    let (s, _, text) = post(r#"{"filter":{"label":"long"}}"#);
    assert_eq!(s, 400, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["error"]["message"],
        json!("$.filter.label: fails api.vd \"len($)<=3\""),
        "{text}"
    );
    assert_eq!(post(r#"{"filter":{"label":"ok"}}"#).0, 200);
    // A field option kitegate does not serve on protobuf backends: 422.
    let bad = r#"syntax = "proto3"; package x; import "api.proto";
message R { string a = 1 [(api.raw_body) = ""]; }
service S { rpc M(R) returns (R) { option (api.post) = "/m"; } }"#;
    let reg = json!({"protocol": "grpc", "endpoints": [addr], "main": "x.proto", "files": {"x.proto": bad}});
    let (status, body) = gw.admin_call(
        "PUT",
        "/admin/backends/bad",
        Some(&reg.to_string()),
        &[("content-type", "application/json")],
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("api.raw_body"), "{body}");
    // A path variable with no field behind it: 422.
    let bad = r#"syntax = "proto3"; package x; import "api.proto";
message R { string a = 1; }
service S { rpc M(R) returns (R) { option (api.get) = "/m/:nope"; } }"#;
    let reg = json!({"protocol": "grpc", "endpoints": [addr], "main": "x.proto", "files": {"x.proto": bad}});
    let (status, body) = gw.admin_call(
        "PUT",
        "/admin/backends/bad",
        Some(&reg.to_string()),
        &[("content-type", "application/json")],
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains(":nope"), "{body}");

    // [backends.bind] on the grpc-gateway IDL.
    register(
        &gw,
        "rich",
        &addr,
        "/g",
        json!({"bind": {"X-Page-Size": "page_size", "x-item": "item_id"}}),
    );
    let (s, _, text) = e2e::http(
        "GET",
        &format!("{}/g/v1/items/9?page_size=5", gw.base),
        None,
        &[("x-page-size", "30"), ("x-item", "not-this")],
    )
    .unwrap();
    assert_eq!(s, 200, "{text}");
    let got: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        got["pageSize"],
        json!(30),
        "the header wins over the query: {got}"
    );
    assert_eq!(
        got["itemId"],
        json!("9"),
        "the path wins over the header: {got}"
    );
}

/// Registers `file` (from e2e/idl) as gRPC backend `name` with `extra` settings.
fn register_file(gw: &Gateway, name: &str, endpoint: &str, file: &str, extra: Value) {
    let text = std::fs::read_to_string(e2e::repo_path(&format!("e2e/idl/{file}"))).unwrap();
    let mut reg =
        json!({"protocol": "grpc", "endpoints": [endpoint], "main": file, "files": {file: text}});
    for (k, v) in extra.as_object().into_iter().flatten() {
        reg[k] = v.clone();
    }
    let (status, body) = gw.admin_call(
        "PUT",
        &format!("/admin/backends/{name}"),
        Some(&reg.to_string()),
        &[("content-type", "application/json")],
    );
    assert!(
        status == 201 || status == 200,
        "register {name}: {status} {body}"
    );
}

/// An IDL written for grpc-gateway (google/api/httpbody.proto, a FieldMask
/// PATCH) loads unchanged against grpcio: HttpBody in and out with its
/// content type, the mask filled from the body; and with
/// options.query_brackets, query keys that index maps and lists.
#[test]
fn http_body_field_mask_and_bracketed_query() {
    let (_peer, addr) = e2e::grpc_rich_server();
    let gw = gateway();
    register_file(&gw, "gw", &addr, "grpc_gateway.proto", json!({}));
    let bytes = "\u{0}\u{1}binary, not JSON {";
    let (s, headers, text) = e2e::http(
        "POST",
        &format!("{}/gw/raw", gw.base),
        Some(bytes),
        &[("content-type", "image/x-test")],
    )
    .unwrap();
    assert_eq!(s, 200, "{text}");
    assert_eq!(header(&headers, "content-type"), "image/x-test");
    assert_eq!(text, bytes);
    let (s, _, text) = e2e::http(
        "PATCH",
        &format!("{}/gw/items/abc", gw.base),
        Some(r#"{"title":"t","price":{"units":"3"}}"#),
        &[],
    )
    .unwrap();
    assert_eq!(s, 200, "{text}");
    let got: Value = serde_json::from_str(&text).unwrap();
    let mut fields: Vec<&str> = got["updatedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["price.units", "title"], "{got}");

    register_file(
        &gw,
        "qb",
        &addr,
        "query_brackets.proto",
        json!({"prefix": "/b", "options": {"query_brackets": true}}),
    );
    let q = "counts[a]=1&counts[b]=2&r_inner[0].label=x&r_inner[0].notes=n1&r_inner[0].notes=n2&r_inner[1].weight=5&by_id[7].label=seven&r_string=s1&r_string=s2";
    let (s, _, text) = e2e::http("GET", &format!("{}/b/qb/echo?{q}", gw.base), None, &[]).unwrap();
    assert_eq!(s, 200, "{text}");
    let got: Value = serde_json::from_str(&text).unwrap();
    assert_same(
        "bracketed query",
        &json!({
            "counts": {"a": 1, "b": 2},
            "rInner": [{"label": "x", "notes": ["n1", "n2"]}, {"weight": 5}],
            "byId": {"7": {"label": "seven"}},
            "rString": ["s1", "s2"],
        }),
        &got,
    );
    // Indexes count up from 0.
    let (s, _, text) = e2e::http(
        "GET",
        &format!("{}/b/qb/echo?r_inner[1].label=x", gw.base),
        None,
        &[],
    )
    .unwrap();
    assert_eq!(s, 400, "{text}");
    assert!(text.contains("before `r_inner[0]`"), "{text}");
    // A form body on a proto route: names are field paths, bytes fields
    // take a file's content.
    register(&gw, "rich", &addr, "/r", json!({}));
    let (s, _, text) = e2e::http(
        "POST",
        &format!("{}/r/v1/echo", gw.base),
        Some("fString=hi&f_int32=5&r_string=a&r_string=b&inner.label=in&f_bytes=%00%FF&unknown=1"),
        &[("content-type", "application/x-www-form-urlencoded")],
    )
    .unwrap();
    assert_eq!(s, 200, "{text}");
    let got: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(got["fString"], json!("hi"), "{got}");
    assert_eq!(got["fInt32"], json!(5), "{got}");
    assert_eq!(got["rString"], json!(["a", "b"]), "{got}");
    assert_eq!(got["inner"]["label"], json!("in"), "{got}");
    assert_eq!(got["fBytes"], json!("AP8="), "{got}");
    // A stream of HttpBody: the chunks raw, under the first one's type.
    let (s, headers, text) =
        e2e::http("GET", &format!("{}/r/v1/download?to=3", gw.base), None, &[]).unwrap();
    assert_eq!(s, 200, "{text}");
    assert_eq!(header(&headers, "content-type"), "text/plain");
    assert_eq!(text, "chunk-1\nchunk-2\nchunk-3\n");
    let (s, headers, text) =
        e2e::http("GET", &format!("{}/r/v1/download?to=0", gw.base), None, &[]).unwrap();
    assert_eq!((s, text.as_str()), (200, ""));
    assert_eq!(header(&headers, "content-type"), "application/octet-stream");
    // JSON labelled URL-encoded (what `curl -d` sends) is JSON.
    let (s, _, text) = e2e::http(
        "POST",
        &format!("{}/r/v1/echo", gw.base),
        Some(r#"{"fString":"json"}"#),
        &[("content-type", "application/x-www-form-urlencoded")],
    )
    .unwrap();
    assert_eq!(s, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["fString"],
        json!("json")
    );
    let (s, _, text) = e2e::http(
        "POST",
        &format!("{}/r/v1/echo", gw.base),
        Some("f_int32=five"),
        &[("content-type", "application/x-www-form-urlencoded")],
    )
    .unwrap();
    assert_eq!(s, 400, "{text}");
    // Off by default: the bracketed keys are unknown parameters.
    register_file(
        &gw,
        "qb2",
        &addr,
        "query_brackets.proto",
        json!({"prefix": "/off"}),
    );
    let (s, _, text) = e2e::http(
        "GET",
        &format!("{}/off/qb/echo?counts[a]=1&r_string=s", gw.base),
        None,
        &[],
    )
    .unwrap();
    assert_eq!(s, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"rString": ["s"]})
    );
}
