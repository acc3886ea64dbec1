//! The OpenAPI 3.1 documents of the admin API (`GET /admin/openapi.json`,
//! `GET /admin/backends/{name}/openapi.json`) for the rich IDL (served by
//! thriftpy2) and the built-in hello backend: each one passes
//! openapi-spec-validator (`e2e/peers/python/validate_openapi.py`), and
//! requests built only from what a document says get the answers the
//! gateway promises.

use std::process::Command;

use e2e::{Gateway, TempDir, http, python, repo_path, rich_server, root};
use serde_json::{Value, json};

/// Writes `doc` to `dir/{name}.json` and runs the validator on it.
fn validate(dir: &TempDir, name: &str, doc: &Value) {
    let file = dir.path().join(format!("{name}.json"));
    std::fs::write(&file, serde_json::to_string_pretty(doc).unwrap()).unwrap();
    let out = Command::new(python())
        .arg(root().join("e2e/peers/python/validate_openapi.py"))
        .arg(&file)
        .output()
        .expect("run validate_openapi.py");
    assert!(
        out.status.success(),
        "{name}: not a valid OpenAPI 3.1 document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The operation with this operationId: its path, HTTP method and body.
fn operation<'a>(doc: &'a Value, id: &str) -> (&'a str, &'a str, &'a Value) {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .map(move |(verb, op)| (path.as_str(), verb.as_str(), op))
        })
        .find(|(_, _, op)| op["operationId"] == id)
        .unwrap_or_else(|| panic!("no operation {id}"))
}

/// Follows a local `$ref`.
fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.strip_prefix('#').unwrap())
            .unwrap_or_else(|| panic!("{r} does not resolve")),
        None => v,
    }
}

/// Whether `schema` admits JSON type `t` (`type` is a string or a list).
fn admits(schema: &Value, t: &str) -> bool {
    match &schema["type"] {
        Value::String(s) => s == t,
        Value::Array(a) => a.iter().any(|x| x == t),
        _ => false,
    }
}

/// A value for `schema`: its default, else `int` for integers, `text` for strings, arrays of both.
fn sample(doc: &Value, schema: &Value, int: i64, text: &str) -> Value {
    let s = deref(doc, schema);
    if let Some(d) = s.get("default") {
        return d.clone();
    }
    if admits(s, "integer") {
        json!(int)
    } else if admits(s, "string") {
        json!(text)
    } else if admits(s, "boolean") {
        json!(true)
    } else if admits(s, "array") {
        json!([sample(doc, &s["items"], int, text)])
    } else if admits(s, "object") {
        let mut o = serde_json::Map::new();
        for (k, p) in s["properties"].as_object().into_iter().flatten() {
            o.insert(k.clone(), sample(doc, p, int, text));
        }
        Value::Object(o)
    } else {
        panic!("no sample for {s}")
    }
}

#[test]
fn documents_validate_and_describe_real_requests() {
    let (_rich, addr) = rich_server("binary", "framed");
    let cfg = format!(
        "[[backends]]\nname = \"rich\"\nprotocol = \"thrift\"\ntransport = \"framed\"\nendpoints = [\"{addr}\"]\nidl = \"{}\"\nprefix = \"/rich\"\ntimeout_ms = 5000\n",
        repo_path("e2e/idl/rich.thrift")
    );
    let gw = Gateway::start(&cfg, &[]);
    let dir = TempDir::new("openapi");

    // Every backend: the built-in hello and rich.
    let (status, doc) = gw.admin_call("GET", "/admin/openapi.json", None, &[]);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["openapi"], "3.1.0");
    validate(&dir, "all", &doc);
    let server = doc["servers"][0]["url"].as_str().expect("servers[0].url");
    assert_eq!(server, gw.base);
    let tags: Vec<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        tags.contains(&"hello") && tags.contains(&"rich"),
        "{tags:?}"
    );

    // hello.Hello.add, called from what the document says: path, method, body properties.
    let (path, verb, op) = operation(&doc, "hello.Hello.add");
    assert_eq!((path, verb), ("/add", "post"));
    let body_schema = deref(
        &doc,
        &op["requestBody"]["content"]["application/json"]["schema"],
    );
    let props = body_schema["properties"].as_object().unwrap();
    assert_eq!(props.len(), 2, "{body_schema}");
    let (status, reply) = call_documented(&doc, server, "hello.Hello.add", 512);
    assert_eq!((status, &reply), (200, &json!({"sum": 1024})));
    let ok = deref(
        &doc,
        &op["responses"]["200"]["content"]["application/json"]["schema"],
    );
    for k in reply.as_object().unwrap().keys() {
        assert!(ok["properties"].get(k).is_some(), "{k} not in {ok}");
    }
    // A failure has the documented `Error` shape.
    let (status, _, text) = http(
        "POST",
        &format!("{server}{path}"),
        Some(r#"{"first": "x"}"#),
        &[],
    )
    .unwrap();
    assert_eq!(status, 400);
    assert!(op["responses"]["400"]["$ref"].is_string());
    let err: Value = serde_json::from_str(&text).unwrap();
    let shape = &doc["components"]["schemas"]["Error"]["properties"]["error"];
    for k in shape["required"].as_array().unwrap() {
        assert!(err["error"].get(k.as_str().unwrap()).is_some(), "{err}");
    }
    for k in err["error"].as_object().unwrap().keys() {
        assert!(shape["properties"].get(k).is_some(), "{k} of {err}");
    }

    // The rich backend alone.
    let (status, rich) = gw.admin_call("GET", "/admin/backends/rich/openapi.json", None, &[]);
    assert_eq!(status, 200, "{rich}");
    validate(&dir, "rich", &rich);
    assert!(rich["paths"].get("/add").is_none());
    assert_eq!(rich["tags"].as_array().unwrap().len(), 1);

    // concatReq over GET: path, repeated query and header parameters, from the document.
    let (path, verb, op) = operation(&rich, "rich.RichService.concatReq");
    assert_eq!(verb, "get");
    let mut url = format!("{server}{path}");
    let mut query = Vec::new();
    let mut headers = Vec::new();
    for p in op["parameters"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let schema = &p["schema"];
        match p["in"].as_str().unwrap() {
            "path" => url = url.replace(&format!("{{{name}}}"), "x"),
            "query" if admits(schema, "array") => {
                assert_eq!((&p["style"], &p["explode"]), (&json!("form"), &json!(true)));
                query.push(format!("{name}=1&{name}=2"));
            }
            "query" => {
                assert_eq!(schema["default"], 1, "{p}");
                query.push(format!("{name}=3"));
            }
            "header" => headers.push((name.to_string(), "t-9".to_string())),
            other => panic!("unexpected parameter in {other}: {p}"),
        }
    }
    assert!(!url.contains('{'), "{url}");
    let url = format!("{url}?{}", query.join("&"));
    let hs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, resp_headers, text) = http("GET", &url, None, &hs).unwrap();
    assert_eq!(
        (status, serde_json::from_str::<Value>(&text).unwrap()),
        (200, json!({"result": "x|3|1,2"})),
        "{url}"
    );
    // The documented response header comes back.
    let documented: Vec<&String> = op["responses"]["200"]["headers"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(documented, ["X-Trace"]);
    assert!(
        resp_headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("x-trace") && v == "t-9"),
        "{resp_headers:?}"
    );

    // A declared exception: its type and detail are documented under 500.
    let (path, verb, op) = operation(&rich, "rich.RichService.fail");
    let (status, _, text) = http(
        &verb.to_ascii_uppercase(),
        &format!("{server}{path}"),
        Some(r#"{"msg": "boom"}"#),
        &[],
    )
    .unwrap();
    assert_eq!(status, 500);
    let err: Value = serde_json::from_str(&text).unwrap();
    let documented = &op["responses"]["500"]["content"]["application/json"]["schema"]["allOf"][1]["properties"]
        ["error"]["properties"];
    assert_eq!(
        documented["exception"]["enum"],
        json!([err["error"]["exception"]])
    );
    let detail = deref(&rich, &documented["detail"]);
    for k in err["error"]["detail"].as_object().unwrap().keys() {
        assert!(detail["properties"].get(k).is_some(), "{k} not in {detail}");
    }

    let (status, body) = gw.admin_call("GET", "/admin/backends/nope/openapi.json", None, &[]);
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
}

/// Calls `id`'s route on `server` with a body built from `doc` alone.
fn call_documented(doc: &Value, server: &str, id: &str, int: i64) -> (u16, Value) {
    let (path, verb, op) = operation(doc, id);
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    let body = sample(doc, schema, int, "x");
    let (status, _, text) = http(
        &verb.to_ascii_uppercase(),
        &format!("{server}{path}"),
        Some(&body.to_string()),
        &[("content-type", "application/json")],
    )
    .unwrap();
    (status, serde_json::from_str(&text).unwrap_or(json!(text)))
}

/// The documents of protobuf backends (gRPC on grpcio, Kitex Protobuf on a
/// Kitex server, the built-in ones) and of a Dubbo backend's generic
/// calls (on the Apache Dubbo provider) pass the validator, and requests
/// built from them get their documented answers.
#[test]
fn protobuf_and_dubbo_documents_validate_and_describe_real_requests() {
    let (_grpc, grpc_addr) = e2e::grpc_rich_server();
    let kitex_bin = root().join("e2e/.cache/bin/kitex-pb-hello");
    assert!(kitex_bin.exists(), "run e2e/peers/kitex-pb/build.sh");
    let kitex_addr = format!("127.0.0.1:{}", e2e::free_port());
    let mut cmd = Command::new(kitex_bin);
    cmd.args(["-addr", &kitex_addr]);
    let (_kitex, _) = e2e::Proc::start("kitex-pb-hello", cmd, Some("READY"));
    let (_dubbo, dubbo_addr) = e2e::dubbo_provider(e2e::free_port());
    let cfg = format!(
        "[[backends]]\nname = \"kpb\"\nprotocol = \"kitex-protobuf\"\ntransport = \"ttheader\"\nendpoints = [\"{kitex_addr}\"]\nidl = \"{}\"\nprefix = \"/kpb\"\n\
         [[backends]]\nname = \"generic\"\nprotocol = \"dubbo\"\nendpoints = [\"{dubbo_addr}\"]\nprefix = \"/g\"\ntimeout_ms = 10000\n\
         [backends.options]\njava_interface = \"com.kitegate.e2e.api.RichService\"\n\
         [[backends]]\nname = \"rdubbo\"\nprotocol = \"dubbo\"\nendpoints = [\"{dubbo_addr}\"]\nidl = \"{}\"\nprefix = \"/rd\"\ntimeout_ms = 10000\n",
        repo_path("examples/idl/hello.proto"),
        repo_path("e2e/idl/rich_dubbo.thrift")
    );
    let gw = Gateway::start(&cfg, &[]);
    e2e::register_rich_grpc(&gw, "rich-grpc", &grpc_addr, "/rich", json!({}));

    let dir = TempDir::new("openapi-proto");
    let (status, doc) = gw.admin_call("GET", "/admin/openapi.json", None, &[]);
    assert_eq!(status, 200, "{doc}");
    validate(&dir, "all", &doc);
    let server = gw.base.clone();
    for name in [
        "kpb",
        "generic",
        "rdubbo",
        "rich-grpc",
        "hello-grpc",
        "hello-kitex-pb",
        "hello-dubbo",
    ] {
        let (status, one) = gw.admin_call(
            "GET",
            &format!("/admin/backends/{name}/openapi.json"),
            None,
            &[],
        );
        assert_eq!(status, 200, "{one}");
        validate(&dir, name, &one);
    }

    // Add on the Kitex server and on the built-in backend's protobuf and Dubbo servers.
    for id in [
        "kpb.Hello.Add",
        "hello-kitex-pb.Hello.Add",
        "hello-grpc.Hello.Add",
    ] {
        assert_eq!(
            call_documented(&doc, &server, id, 512),
            (200, json!({"sum": 1024})),
            "{id}"
        );
    }

    // Each request body's example (what the console's form starts from) is answered.
    for id in [
        "kpb.Hello.Add",
        "hello-kitex-pb.Hello.Add",
        "hello-grpc.Hello.Add",
        "rich-grpc.RichService.Echo",
        "rich-grpc.RichService.UpdateItem",
        "hello-dubbo.Hello.add",
    ] {
        let (path, verb, op) = operation(&doc, id);
        let example = &op["requestBody"]["content"]["application/json"]["example"];
        assert!(!example.is_null(), "{id}: {op}");
        let path = path.replace("{item.name}", "items/7");
        let (status, _, text) = http(
            &verb.to_ascii_uppercase(),
            &format!("{server}{path}"),
            Some(&example.to_string()),
            &[("content-type", "application/json")],
        )
        .unwrap();
        assert_eq!(status, 200, "{id} {example}: {text}");
    }

    // An IDL-typed Dubbo route on the Apache Dubbo provider, from its document.
    let (status, reply) = call_documented(&doc, &server, "rdubbo.RichService.greet", 0);
    assert_eq!((status, reply), (200, json!("hello x")));

    // The generic call on the Apache Dubbo provider, as its schema says.
    let (path, verb, op) = operation(&doc, "generic.com.kitegate.e2e.api.RichService.$invoke");
    assert_eq!((path, verb), ("/g/$invoke", "post"));
    let props = op["requestBody"]["content"]["application/json"]["schema"]["properties"]
        .as_object()
        .unwrap();
    assert!(
        ["method", "types", "args"]
            .iter()
            .all(|k| props.contains_key(*k)),
        "{op}"
    );
    let (status, _, text) = http(
        "POST",
        &format!("{server}{path}"),
        Some(r#"{"method": "greet", "types": ["java.lang.String"], "args": ["doc"]}"#),
        &[],
    )
    .unwrap();
    assert_eq!((status, text.as_str()), (200, r#""hello doc""#));

    // GetItem on grpcio: a path variable and query parameters, from the document.
    let (path, verb, op) = operation(&doc, "rich-grpc.RichService.GetItem");
    assert_eq!((path, verb), ("/rich/v1/items/{item_id}", "get"));
    let params = op["parameters"].as_array().unwrap();
    let named = |n: &str| {
        params
            .iter()
            .find(|p| p["name"] == n)
            .unwrap_or_else(|| panic!("{n} in {op}"))
    };
    assert_eq!(named("item_id")["in"], "path");
    assert_eq!(
        (&named("tags")["in"], &named("tags")["explode"]),
        (&json!("query"), &json!(true))
    );
    let view = deref(&doc, &named("view")["schema"]);
    let names = view["anyOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "string")
        .unwrap();
    assert!(
        names["enum"].as_array().unwrap().contains(&json!("FULL")),
        "{view}"
    );
    let url = format!(
        "{server}{}?view=FULL&tags=a&tags=b",
        path.replace("{item_id}", "i-7")
    );
    let (status, _, text) = http("GET", &url, None, &[]).unwrap();
    assert_eq!(status, 200, "{url}: {text}");
    let item: Value = serde_json::from_str(&text).unwrap();
    let item_schema = deref(
        &doc,
        &op["responses"]["200"]["content"]["application/json"]["schema"],
    );
    for k in item.as_object().unwrap().keys() {
        assert!(
            item_schema["properties"].get(k).is_some(),
            "{k} not in {item_schema}"
        );
    }
    // The binding with response_body answers the one field.
    let (path, _, op) = operation(&doc, "rich-grpc.RichService.GetItem.2");
    assert_eq!(path, "/rich/v1/items/{item_id}/title");
    assert_eq!(
        op["responses"]["200"]["content"]["application/json"]["schema"]["type"],
        "string"
    );
    let (status, _, text) = http(
        "GET",
        &format!("{server}/rich/v1/items/i-7/title"),
        None,
        &[],
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(
        serde_json::from_str::<Value>(&text).unwrap().is_string(),
        "{text}"
    );

    // A server stream is documented as NDJSON and SSE; the lines are the reply message.
    let (path, verb, op) = operation(&doc, "rich-grpc.RichService.Count");
    assert_eq!((path, verb), ("/rich/v1/count", "get"));
    let content = op["responses"]["200"]["content"].as_object().unwrap();
    assert!(
        content.contains_key("application/x-ndjson") && content.contains_key("text/event-stream")
    );
    let reply = deref(&doc, &content["application/x-ndjson"]["schema"]);
    let params: Vec<&str> = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["to", "fail_code"], "{op}");
    let (status, _, text) = http("GET", &format!("{server}{path}?to=3"), None, &[]).unwrap();
    assert_eq!(status, 200, "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    for l in &lines {
        for k in l.as_object().unwrap().keys() {
            assert!(reply["properties"].get(k).is_some(), "{k} not in {reply}");
        }
    }
    // A client stream takes NDJSON.
    let (_, _, op) = operation(&doc, "rich-grpc.RichService.Collect");
    assert!(
        op["requestBody"]["content"]["application/x-ndjson"].is_object(),
        "{op}"
    );
}
