//! Interop with Apache-Thrift-compatible peers nobody here wrote: thriftpy2
//! (PyPI) loads `e2e/idl/rich.thrift` at run time and echoes; the gateway
//! round-trips JSON through it on binary and compact × buffered and framed.
//! The same library, as a client, calls kitegate's built-in hello backend.
//!
//! Normalisations (documented in the README): enums come back as numbers,
//! map keys as JSON strings, sets as arrays in wire order, binary as padded
//! base64, IDL defaults filled in.

use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{Gateway, Proc, hello_backend, python, repo_path, rich_server, root};
use serde_json::{Value, json};

const COMBOS: [(&str, &str, &str); 4] = [
    ("bb", "binary", "buffered"),
    ("bf", "binary", "framed"),
    ("cb", "compact", "buffered"),
    ("cf", "compact", "framed"),
];

fn backend(name: &str, protocol: &str, transport: &str, addr: &str, options: &str) -> String {
    let protocol = if protocol == "compact" {
        "thrift-compact"
    } else {
        "thrift"
    };
    format!(
        "[[backends]]\nname = \"{name}\"\nprotocol = \"{protocol}\"\ntransport = \"{transport}\"\nendpoints = [\"{addr}\"]\nidl = \"{}\"\nprefix = \"/{name}\"\ntimeout_ms = 5000\n[backends.options]\n{options}\n",
        repo_path("e2e/idl/rich.thrift")
    )
}

fn all_types() -> Value {
    json!({
        "a_bool": true, "a_byte": -128, "an_i8": 127, "an_i16": -32768, "an_i32": 2147483647,
        "an_i64": -9223372036854775807i64, "a_double": -1.25e-7,
        "a_string": "h\u{e9}llo \"q\" \\ \n\t \u{1F600} \u{1}", "a_binary": "AAEC/w==",
        "i32_list": [1, -2, 3], "string_list": ["a", ""], "string_set": ["x", "y"],
        "i64_set": [1, 9007199254740993i64], "bool_set": [true, false], "bool_list": [false, true, true],
        "double_list": [0.5, -2.0, 1e300], "binary_list": ["AQ==", ""], "byte_list": [1, -1],
        "string_map": {"k": -1, "": 0}, "i32_map": {"-7": "neg", "8": "pos"},
        "i64_map": {"9007199254740993": 1.5}, "enum_map": {"1": "active", "10": "deleted"},
        "i16_map": {"-1": true}, "binary_map": {"b": "AP8="},
        "status": 11, "color": 4, "pk": 123, "at": 1700000000000i64, "blob": "YmxvYg==",
        "counters": {"a": 1}, "item": {"id": 5, "name": "five", "color": 1, "level": 6},
        "far": "far away", "max_id": 7
    })
}

fn nested() -> Value {
    json!({
        "name": "n", "matrix": [[1, 2], []], "groups": {"g": [{"id": 1, "name": "a"}]},
        "list_of_maps": [{"x": 1}], "map_of_maps": {"m": {"1": "one"}}, "deep": {"5": [["s"], []]},
        "all": {"a_string": "inner", "status": 2},
        "choice": {"number": 3}, "choices": [{"text": "t"}, {"ratio": 0.25}, {"words": ["w"]}, {"flag": false}],
        "by_item": [[{"id": 2, "name": "b"}, "two"]], "item_set": [{"id": 3, "name": "c"}],
        "items": [{"id": 4, "name": "d"}],
        "tree": {"value": 1, "children": [{"value": 2, "children": []}]},
        "by_status": {"2": [{"id": 6, "name": "e"}]}, "by_color": {"2": {"z": 26}},
        "child": {"name": "kid", "child": {"name": "grandkid"}}
    })
}

#[test]
fn rich_idl_round_trips_on_every_protocol_and_transport() {
    let servers: Vec<(Proc, String)> = COMBOS.iter().map(|(_, p, t)| rich_server(p, t)).collect();
    let mut cfg = String::from("builtin_hello = false\n");
    for ((name, p, t), (_, addr)) in COMBOS.iter().zip(&servers) {
        cfg.push_str(&backend(name, p, t, addr, ""));
    }
    cfg.push_str(&backend(
        "named",
        "binary",
        "framed",
        &servers[1].1,
        "enum_as_name = true\ni64_as_string = true",
    ));
    let gw = Gateway::start(&cfg, &[]);

    for (name, ..) in COMBOS {
        let at = |p: &str| format!("/{name}{p}");
        let ctx = |what: &str| format!("{name}: {what}");

        let all = all_types();
        assert_eq!(
            gw.post(&at("/rich/all"), &all.to_string()),
            (200, all.clone()),
            "{}",
            ctx("echoAll")
        );
        let n = nested();
        assert_eq!(
            gw.post(&at("/rich/nested"), &n.to_string()),
            (200, n.clone()),
            "{}",
            ctx("echoNested")
        );

        // IDL defaults fill every absent field, before the peer sees the struct.
        let (status, d) = gw.post(&at("/rich/defaults"), r#"{"must": 1, "maybe": "m"}"#);
        assert_eq!(status, 200, "{d}");
        assert_eq!(
            d,
            json!({"count": 7, "big": 1234567890123i64, "name": "rich", "enabled": true, "ratio": 0.5, "status": 1,
                   "tags": ["alpha", "beta"], "counters": {"one": 1, "two": 2}, "color": 2, "small": -3, "neg": -125.0,
                   "greeting": "hello", "off": false, "literal_status": 10, "primes": [2, 3, 5, 7],
                   "names": {"1": "one", "2": "two"}, "letters": ["x", "y"], "item": {"id": 1, "name": "first"},
                   "magic": 42, "base_magic": 42, "level": 6, "since": 0, "raw": "cmF3", "must": 1, "maybe": "m",
                   "maybe_count": 5, "must_name": "anon"}),
            "{}",
            ctx("defaults")
        );
        let (status, e) = gw.post(&at("/rich/defaults"), "{}");
        assert_eq!(
            (status, &e["error"]["message"]),
            (400, &json!("$.must: missing required field `must`")),
            "{e}"
        );

        let u = json!({"item": {"id": 9, "name": "x"}});
        assert_eq!(
            gw.post(&at("/rich/union"), &u.to_string()),
            (200, u),
            "{}",
            ctx("union")
        );
        assert_eq!(
            gw.post(&at("/rich/union"), r#"{"text":"a","flag":true}"#).0,
            400,
            "{}",
            ctx("union with two")
        );

        // Several base-type arguments: the body is keyed by argument name.
        assert_eq!(
            gw.post(&at("/rich/concat"), r#"{"a":"x","b":3,"c":[1,2]}"#),
            (200, json!("x|3|1,2")),
            "{}",
            ctx("concat")
        );
        // Path, query (repeated), header bindings in; header binding out.
        let ((status, body), headers) = gw.call_h(
            "GET",
            &at("/rich/concat/hey?b=5&c=1&c=2"),
            None,
            &[("X-Trace", "t-1")],
        );
        assert_eq!(
            (status, body),
            (200, json!({"result": "hey|5|1,2"})),
            "{}",
            ctx("concatReq GET")
        );
        assert!(
            headers.iter().any(|(k, v)| k == "x-trace" && v == "t-1"),
            "{headers:?}"
        );
        // An annotated field absent from its source falls back to the body (as Hertz binds), then to the default.
        let (status, body) = gw.post(
            &at("/rich/concat/h%20y?c=7"),
            r#"{"id":"77","memo":"note","b":9}"#,
        );
        assert_eq!(
            (status, body),
            (
                200,
                json!({"result": "h y|9|7", "id": "77", "memo": "note"})
            ),
            "{}",
            ctx("concatReq POST")
        );
        let (status, body) = gw.post(&at("/rich/concat/z?b=2&c=1"), r#"{"b":9,"c":[5]}"#);
        assert_eq!(
            (status, body),
            (200, json!({"result": "z|2|1"})),
            "{}",
            ctx("query wins over body")
        );
        let (status, body) = gw.post(&at("/rich/concat/z"), "");
        assert_eq!(
            (status, body),
            (200, json!({"result": "z|1|"})),
            "{}",
            ctx("defaults")
        );

        // An unannotated method: POST /{Service}/{method}; arguments with non-contiguous ids.
        let scalars = json!({"a_bool": true, "a_byte": 1, "an_i8": 2, "an_i16": 3, "an_i32": 4, "an_i64": 5,
                             "a_double": 6.5, "a_string": "s", "a_binary": "AQI="});
        assert_eq!(
            gw.post(&at("/RichService/fromScalars"), &scalars.to_string()),
            (200, scalars),
            "{}",
            ctx("fromScalars")
        );

        assert_eq!(
            gw.get(&at("/rich/ping")),
            (200, Value::Null),
            "{}",
            ctx("void")
        );
        assert_eq!(
            gw.post(&at("/RichService/version"), ""),
            (200, json!("rich-1.0")),
            "{}",
            ctx("extends")
        );

        // oneway: answered at once, and the peer did receive it.
        let msg = format!("fired-{name}");
        assert_eq!(
            gw.post(&at("/rich/fire"), &json!({"msg": msg}).to_string()),
            (202, Value::Null),
            "{}",
            ctx("oneway")
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, last) = gw.get(&at("/rich/last-fired"));
            assert_eq!(status, 200);
            if last == json!(msg) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: oneway never arrived, last = {last}",
                ctx("oneway")
            );
            std::thread::sleep(Duration::from_millis(20));
        }

        // A declared exception.
        let (status, e) = gw.post(&at("/rich/fail"), r#"{"msg":"nope"}"#);
        assert_eq!(status, 500, "{e}");
        assert_eq!(e["error"]["code"], "backend_exception");
        assert_eq!(e["error"]["exception"], "RichError");
        assert_eq!(
            e["error"]["detail"],
            json!({"message": "nope", "code": 4242, "status": 2}),
            "{}",
            ctx("fail")
        );

        // Struct map keys travel as [key, value] pairs.
        let v = json!([[{"id": 1, "name": "a", "color": 4}, "A"], [{"id": 2}, "B"]]);
        assert_eq!(
            gw.post(
                &at("/RichService/echoStructKeys"),
                &json!({"v": v}).to_string()
            ),
            (200, v),
            "{}",
            ctx("struct keys")
        );
    }

    // Options: enums by name, i64 as strings.
    let (status, out) = gw.post(
        "/named/rich/all",
        r#"{"status":"ARCHIVED","an_i64":"-5","enum_map":{"ACTIVE":"a"},"color":"BLUE"}"#,
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out,
        json!({"status": "ARCHIVED", "an_i64": "-5", "enum_map": {"ACTIVE": "a"}, "color": "BLUE"})
    );
    drop(servers);
}

#[test]
fn thriftpy2_client_calls_the_builtin_backend() {
    let (_backend, addr) = hello_backend();
    let port = addr.rsplit(':').next().unwrap();
    for (_, protocol, transport) in COMBOS {
        let out = Command::new(python())
            .arg(root().join("e2e/peers/python/hello_client.py"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                port,
                "--protocol",
                protocol,
                "--transport",
                transport,
            ])
            .arg("--idl")
            .arg(root().join("examples/idl/hello.thrift"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{protocol}/{transport}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(v["sum"], 1024, "{protocol}/{transport}");
        assert_eq!(v["echo"], "from python");
        assert_eq!(v["overflow"]["code"], 1);
    }
}

/// Hertz's api.any, api.head and api.options against thriftpy2: the
/// api.any route answers every method, HEAD answers with no body, and
/// OPTIONS reaches the method (no CORS configured).
#[test]
fn any_head_and_options_routes() {
    let (_server, addr) = e2e::rich_server("binary", "framed");
    let cfg = format!(
        "builtin_hello = false\n[[backends]]\nname = \"verbs\"\nprotocol = \"thrift\"\ntransport = \"framed\"\nendpoints = [\"{addr}\"]\nidl = \"{}\"\n",
        repo_path("e2e/idl/verbs.thrift")
    );
    let gw = Gateway::start(&cfg, &[]);
    let body = r#"{"a":"x","b":2,"c":[3]}"#;
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
        let (s, _, text) =
            e2e::http(method, &format!("{}/any/concat", gw.base), Some(body), &[]).unwrap();
        assert_eq!(s, 200, "{method}: {text}");
        assert!(text.contains("x"), "{method}: {text}");
    }
    let (s, _, text) = e2e::http(
        "OPTIONS",
        &format!("{}/opt/concat", gw.base),
        Some(body),
        &[],
    )
    .unwrap();
    assert_eq!(s, 200, "{text}");
    assert!(text.contains("x"), "{text}");
    // HEAD: the call is made, the answer has its status and no body.
    let (s, _, text) = e2e::http("HEAD", &format!("{}/head/ping", gw.base), None, &[]).unwrap();
    assert_eq!((s, text.as_str()), (200, ""), "{text}");
    let (s, _, text) = e2e::http("HEAD", &format!("{}/any/ping", gw.base), None, &[]).unwrap();
    assert_eq!((s, text.as_str()), (200, ""));
    let (s, _, text) = e2e::http("GET", &format!("{}/any/ping", gw.base), None, &[]).unwrap();
    assert_eq!(s, 200, "{text}");
    // A method the path does not take still names the ones it does.
    let (s, h, _) = e2e::http("POST", &format!("{}/head/ping", gw.base), None, &[]).unwrap();
    assert_eq!(s, 405);
    let allow = h
        .iter()
        .find(|(k, _)| k == "allow")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(allow.contains("HEAD"), "{allow}");
}

/// Form bodies against thriftpy2: a multipart upload (curl -F) binds the
/// file, its name and type, repeated parts and body fields by JSON key;
/// URL-encoded bodies bind the same fields; a JSON body still does;
/// `api.serializer = "form"` reads a body that names no type as a form;
/// `api.raw_uri` gets the path and query as sent; `api.vd` rules answer 400.
#[test]
fn form_bodies_multipart_files_and_raw_uri() {
    let (_server, addr) = rich_server("binary", "framed");
    let cfg = format!(
        "builtin_hello = false\n[[backends]]\nname = \"forms\"\nprotocol = \"thrift\"\ntransport = \"framed\"\nendpoints = [\"{addr}\"]\nidl = \"{}\"\n",
        repo_path("e2e/idl/forms.thrift")
    );
    let gw = Gateway::start(&cfg, &[]);
    let dir = e2e::TempDir::new("forms");
    let file = dir.path().join("pic.png");
    let content: &[u8] = b"\x89PNG\r\n\x1a\n\x00\xff--not-a-boundary\r\n";
    std::fs::write(&file, content).unwrap();
    let url = format!("{}/form/upload", gw.base);
    let avatar = format!("avatar=@{};type=image/png", file.display());
    let (code, out, err) = e2e::curl(&[
        "-w",
        "\n%{http_code}",
        "-F",
        &avatar,
        "-F",
        "tags=a",
        "-F",
        "tags=b c",
        "-F",
        "an_i32=7",
        "-F",
        "i32_list=1",
        "-F",
        "i32_list=2",
        &url,
    ]);
    assert_eq!(code, 0, "{err}");
    let (body, status) = out.rsplit_once('\n').unwrap();
    assert_eq!(status, "200", "{body}");
    let v: Value = serde_json::from_str(body).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(content);
    assert_eq!(v["a_binary"], json!(b64), "{v}");
    assert_eq!(v["a_string"], json!("pic.png"), "{v}");
    assert_eq!(v["far"], json!("image/png"), "{v}");
    assert_eq!(v["string_list"], json!(["a", "b c"]), "{v}");
    assert_eq!(v["an_i32"], json!(7), "{v}");
    assert_eq!(v["i32_list"], json!([1, 2]), "{v}");

    // URL-encoded: the same fields by the same names.
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let (s, _, text) = e2e::http(
        "POST",
        &url,
        Some("an_i32=9&tags=x+y&tags=%E2%9C%93&avatar=raw%00bytes"),
        &form,
    )
    .unwrap();
    assert_eq!(s, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["an_i32"], json!(9), "{v}");
    assert_eq!(v["string_list"], json!(["x y", "✓"]), "{v}");
    assert_eq!(
        v["a_binary"],
        json!(base64::engine::general_purpose::STANDARD.encode(b"raw\x00bytes")),
        "{v}"
    );
    // A value that does not fit its field: 400 naming it.
    let (s, _, text) = e2e::http("POST", &url, Some("an_i32=nine"), &form).unwrap();
    assert_eq!(s, 400, "{text}");
    assert!(text.contains("an_i32"), "{text}");
    // A broken multipart body: 400.
    let (s, _, text) = e2e::http(
        "POST",
        &url,
        Some("--B\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\nno end"),
        &[("content-type", "multipart/form-data; boundary=B")],
    )
    .unwrap();
    assert_eq!(s, 400, "{text}");
    assert!(text.contains("closing boundary"), "{text}");
    // JSON as before.
    let (s, _, text) = e2e::http("POST", &url, Some(r#"{"an_i32":3}"#), &[]).unwrap();
    assert_eq!(s, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["an_i32"],
        json!(3)
    );

    // api.serializer = "form": a body that names no type is a form; the
    // note is the URI as sent.
    let concat = format!("{}/form/concat?x=%20y&z", gw.base);
    let (s, _, text) = e2e::http("POST", &concat, Some("first=hi&b=5"), &[]).unwrap();
    assert_eq!(s, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["result"], json!("hi|5|"), "{v}");
    assert_eq!(v["note"], json!("/form/concat?x=%20y&z"), "{v}");
    // api.vd: checked before the call, on form and JSON values alike.
    for (body, want) in [
        ("first=HI&b=5", "$.a: fails api.vd \"regexp('^[a-z]*$')\""),
        ("first=hi&b=500", "$.b: b is 1 to 99, not 500"),
        ("first=hi&b=0", "$.b: b is 1 to 99, not 0"),
    ] {
        let (s, _, text) = e2e::http("POST", &concat, Some(body), &[]).unwrap();
        assert_eq!(s, 400, "{body}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], json!("invalid_request"), "{text}");
        assert_eq!(v["error"]["message"], json!(want), "{text}");
    }
    // A body that says it is JSON is JSON.
    let (s, _, text) = e2e::http(
        "POST",
        &concat,
        Some(r#"{"b":6}"#),
        &[("content-type", "application/json")],
    )
    .unwrap();
    assert_eq!(s, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["result"],
        json!("|6|")
    );
}
