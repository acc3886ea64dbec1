//! `kitegate call` and `kitegate describe` against peers nobody here wrote:
//! through a running gateway (grpcio serving `e2e/idl/rich.proto`, the
//! Apache Dubbo provider's generic calls), and straight to a backend with
//! no gateway (a Kitex Protobuf server, the grpcio server with a client
//! stream read from standard input).

use std::io::Write;
use std::process::{Command, Stdio};

use e2e::{Gateway, Proc, bin, dubbo_provider, free_port, kitegate, repo_path, root};
use serde_json::{Value, json};

/// Runs `kitegate ARGS` with `input` on its standard input.
fn kitegate_with_stdin(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(bin("kitegate"))
        .args(args)
        .current_dir(root())
        .env_remove("KITEGATE_ADMIN")
        .env_remove("KITEGATE_ADMIN_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kitegate");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn call_and_describe_through_a_gateway() {
    let (_grpc, grpc_addr) = e2e::grpc_rich_server();
    let (_dubbo, dubbo_addr) = dubbo_provider(free_port());
    let cfg = format!(
        "builtin_hello = false\n\
         [[backends]]\nname = \"generic\"\nprotocol = \"dubbo\"\nendpoints = [\"{dubbo_addr}\"]\nprefix = \"/g\"\ntimeout_ms = 10000\n\
         [backends.options]\njava_interface = \"com.kitegate.e2e.api.RichService\"\n"
    );
    let gw = Gateway::start(&cfg, &[]);
    let (code, out, err) = kitegate(&[
        "register",
        "--name",
        "rich",
        "--idl",
        &repo_path("e2e/idl/rich.proto"),
        "--protocol",
        "grpc",
        "--transport",
        "http2",
        "--endpoint",
        &grpc_addr,
        "--prefix",
        "/rich",
        "--admin",
        &gw.admin,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let admin = ["--admin", gw.admin.as_str()];

    // A GET route with a path variable and query parameters, filled from the JSON.
    let mut args = vec![
        "call",
        "rich",
        "GetItem",
        r#"{"item_id": "i 7", "view": "FULL", "tags": ["a", "b"]}"#,
    ];
    args.extend(admin);
    let (code, out, err) = kitegate(&args);
    assert_eq!(code, 0, "{out}{err}");
    let item = json_of(&out);
    assert_eq!(
        (&item["itemId"], &item["tags"]),
        (&json!("i 7"), &json!(["a", "b"])),
        "{item}"
    );
    assert!(
        item["view"] == json!(2) || item["view"] == json!("FULL"),
        "{item}"
    );

    // A body bound to one field (PATCH /v1/{item.name=items/*}, body "item").
    let mut args = vec![
        "call",
        "rich",
        "RichService.UpdateItem",
        r#"{"item": {"name": "items/9", "title": "new"}}"#,
    ];
    args.extend(admin);
    let (code, out, err) = kitegate(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json_of(&out)["name"], "items/9", "{out}");

    // A server stream, line by line.
    let mut args = vec!["call", "rich", "Count", r#"{"to": 3}"#, "--stream"];
    args.extend(admin);
    let (code, out, err) = kitegate(&args);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<Value> = out.lines().map(json_of).collect();
    assert_eq!(
        lines.iter().map(|l| l["n"].clone()).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    // A stream that ends with a status: its lines, then the error and exit 1.
    let mut args = vec!["call", "rich", "Count", r#"{"to": 2, "fail_code": 5}"#];
    args.extend(admin);
    let (code, out, err) = kitegate(&args);
    assert_eq!((code, out.lines().count()), (1, 2), "{out}{err}");
    assert!(
        err.contains("NOT_FOUND") && err.contains("HTTP 404"),
        "{err}"
    );

    // A failure: the status and the error shape on stderr, exit 1.
    let mut args = vec!["call", "rich", "Fail", r#"{"code": 5, "message": "gone"}"#];
    args.extend(admin);
    let (code, out, err) = kitegate(&args);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("HTTP 404") && err.contains("\"grpc_error\"") && err.contains("gone"),
        "{err}"
    );

    // Dubbo's generic call on the Apache Dubbo provider.
    let mut args = vec![
        "call",
        "generic",
        "$invoke",
        r#"{"method": "greet", "types": ["java.lang.String"], "args": ["cli"]}"#,
    ];
    args.extend(admin);
    let (code, out, err) = kitegate(&args);
    assert_eq!((code, out.trim()), (0, r#""hello cli""#), "{err}");

    // Unknown methods and backends say what there is.
    let mut args = vec!["call", "rich", "Nope"];
    args.extend(admin);
    let (code, _, err) = kitegate(&args);
    assert_eq!(code, 1);
    assert!(err.contains("RichService.GetItem"), "{err}");
    let mut args = vec!["call", "nope", "x"];
    args.extend(admin);
    assert_eq!(kitegate(&args).0, 1);

    // describe: routes, parameters, types and an example that `call` takes.
    let mut args = vec!["describe", "rich", "GetItem"];
    args.extend(admin);
    let (code, out, err) = kitegate(&args);
    assert_eq!(code, 0, "{err}");
    for want in [
        "RichService.GetItem",
        "GET /rich/v1/items/{item_id}",
        "GET /rich/v1/items/{item_id}/views/{view}",
        "path parameter item_id: string",
        "query parameter tags: [string]",
        "response: Item {",
        "example:  {",
    ] {
        assert!(out.contains(want), "{want} not in\n{out}");
    }
    let mut args = vec!["describe", "rich", "--json"];
    args.extend(admin);
    let (code, out, _) = kitegate(&args);
    assert_eq!(code, 0);
    let methods = json_of(&out);
    let echo = methods
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["method"] == "RichService.Echo")
        .unwrap();
    let example = echo["example"].to_string();
    let mut args = vec!["call", "rich", "Echo", example.as_str()];
    args.extend(admin);
    let (code, out, err) = kitegate(&args);
    assert_eq!(
        code, 0,
        "the described example is answered: {example}\n{out}{err}"
    );
}

#[test]
fn call_straight_to_a_backend() {
    let kitex = root().join("e2e/.cache/bin/kitex-pb-hello");
    assert!(kitex.exists(), "run e2e/peers/kitex-pb/build.sh");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(kitex);
    cmd.args(["-addr", &addr]);
    let (_kitex, _) = Proc::start("kitex-pb-hello", cmd, Some("READY"));
    let hello = repo_path("examples/idl/hello.proto");
    for transport in ["framed", "ttheader"] {
        let (code, out, err) = kitegate(&[
            "call",
            "--idl",
            &hello,
            "--protocol",
            "kitex-protobuf",
            "--transport",
            transport,
            "--endpoint",
            &addr,
            "Hello.Add",
            r#"{"first": 512, "second": 512}"#,
        ]);
        assert_eq!(
            (code, json_of(&out)),
            (0, json!({"sum": 1024})),
            "{transport}: {err}"
        );
    }
    // A client stream from standard input, one message per line, on grpcio.
    let (_grpc, grpc_addr) = e2e::grpc_rich_server();
    let rich = repo_path("e2e/idl/rich.proto");
    let (code, out, err) = kitegate_with_stdin(
        &[
            "call",
            "--idl",
            &rich,
            "--protocol",
            "grpc",
            "--transport",
            "http2",
            "--endpoint",
            &grpc_addr,
            "Collect",
            "-",
        ],
        "{\"n\": 1}\n{\"n\": 2}\n{\"n\": 4}\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json_of(&out)["total"], 7, "{out}");
    // Bad input is refused before anything is sent; a dead backend is a 502.
    let (code, _, err) = kitegate(&[
        "call",
        "--idl",
        &hello,
        "--protocol",
        "kitex-protobuf",
        "--endpoint",
        &addr,
        "Add",
        "{not json",
    ]);
    assert_eq!(code, 2, "{err}");
    let dead = format!("127.0.0.1:{}", free_port());
    let (code, _, err) = kitegate(&[
        "call",
        "--idl",
        &hello,
        "--protocol",
        "kitex-protobuf",
        "--transport",
        "framed",
        "--endpoint",
        &dead,
        "Add",
        "{}",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("HTTP 502") && err.contains("backend_unavailable"),
        "{err}"
    );
}
