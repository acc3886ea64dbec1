//! The `kitegate` command-line client: `check` without a server, and
//! `register`, `backends`, `routes`, `remove` against a running gateway's
//! admin API, with an IDL whose includes come from next to it and from an
//! include directory.

use std::path::Path;
use std::process::Command;

use e2e::{Gateway, TempDir, bin, hello_backend, kitegate, rich_server, root};
use serde_json::{Value, json};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A route line of the human output: verb, path, `->`, target, whitespace-insensitive.
fn has_route(out: &str, verb: &str, path: &str, target: &str) -> bool {
    out.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.len() >= 4 && w[0] == verb && w[1] == path && w[2] == "->" && w[3] == target
    })
}

#[test]
fn check_lists_routes_and_reports_problems() {
    let (code, out, err) = kitegate(&["check", "examples/idl/hello.thrift"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(has_route(&out, "GET", "/hello", "Hello.echo"), "{out}");
    assert!(has_route(&out, "POST", "/echo", "Hello.echo"), "{out}");
    assert!(has_route(&out, "POST", "/add", "Hello.add"), "{out}");

    // With a prefix, as `register --prefix` would serve them.
    let (code, out, _) = kitegate(&["check", "examples/idl/hello.thrift", "--prefix", "/v1"]);
    assert_eq!(code, 0);
    assert!(has_route(&out, "POST", "/v1/add", "Hello.add"), "{out}");

    // JSON output.
    let (code, out, _) = kitegate(&["check", "examples/idl/hello.thrift", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["services"][0]["name"], "Hello");
    assert_eq!(v["services"][0]["methods"][1]["name"], "add");
    assert_eq!(
        v["services"][0]["methods"][1]["routes"],
        json!([{"http_method": "POST", "path": "/add"}])
    );

    let dir = TempDir::new("cli-check");
    // A syntax error: exit 1 with file:line.
    let broken = dir.path().join("broken.thrift");
    write(&broken, "struct A {\n  1: i32 x\n  2: string y =\n}\n");
    let (code, out, err) = kitegate(&["check", s(&broken)]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains(&format!("{}:", broken.display())), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("{}:3:", broken.display()))
                || l.starts_with(&format!("{}:4:", broken.display()))),
        "{err}"
    );

    // A missing include is named, with its file and line.
    let main = dir.path().join("a/main.thrift");
    write(
        &main,
        "namespace go a\ninclude \"base.thrift\"\nservice S { void f() }\n",
    );
    let (code, _, err) = kitegate(&["check", s(&main)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("{}:2:", main.display())), "{err}");
    assert!(err.contains("include \"base.thrift\""), "{err}");
    assert!(err.contains("not found"), "{err}");

    // ... and found through --include-dir.
    write(&dir.path().join("inc/base.thrift"), "struct B {}\n");
    let inc = dir.path().join("inc");
    let (code, out, err) = kitegate(&["check", s(&main), "--include-dir", s(&inc)]);
    assert_eq!(code, 0, "{err}");
    assert!(has_route(&out, "POST", "/S/f", "S.f"), "{out}");

    // Two methods on one route: reported, exit 1.
    let dup = dir.path().join("dup.thrift");
    write(
        &dup,
        "service S {\n  void a() (api.post = \"/x\")\n  void b() (api.post = \"/x\")\n  oneway void c() (api.post = \"/c\")\n}\n",
    );
    let (code, out, err) = kitegate(&["check", s(&dup)]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("POST /x of S.b clashes with POST /x of S.a"),
        "{err}"
    );
    let oneway = out.lines().find(|l| l.contains("S.c")).unwrap_or("");
    assert!(oneway.contains("oneway"), "{out}");

    // Usage errors exit 2.
    let (code, _, err) = kitegate(&["check", "no/such/file.thrift"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no/such/file.thrift"), "{err}");
}

#[test]
fn admin_commands_without_a_gateway_say_how_to_reach_one() {
    let port = e2e::free_port();
    let admin = format!("http://127.0.0.1:{port}");
    let (code, _, err) = kitegate(&["backends", "--admin", &admin]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("cannot reach the admin API at {admin}")),
        "{err}"
    );
    assert!(err.contains("KITEGATE_ADMIN"), "{err}");

    let (code, _, err) = kitegate(&["register", "--name", "x"]);
    assert_eq!(code, 2, "{err}");
}

/// The hello service split in three: the service in `svc/main.thrift`, its
/// types in `incdir/types.thrift` (found through --include-dir), which
/// includes `errors.thrift` next to it.
fn split_hello(dir: &Path) {
    write(
        &dir.join("svc/main.thrift"),
        r#"include "types.thrift"

service Hello {
    types.Response echo(1: types.Request req) (api.post = "/x/echo")
    types.AddResponse add(1: types.AddRequest req) throws (1: types.HelloError err) (api.post = "/x/add")
}
"#,
    );
    write(
        &dir.join("incdir/types.thrift"),
        r#"include "errors.thrift"

struct Request {
    1: string message = "hello world"
}
struct Response {
    1: string message
}
struct AddRequest {
    1: i64 first
    2: i64 second
}
struct AddResponse {
    1: i64 sum
}
exception HelloError {
    1: i32 code = errors.OVERFLOW
    2: string message
}
"#,
    );
    write(
        &dir.join("incdir/errors.thrift"),
        "const i32 OVERFLOW = 1\n",
    );
}

#[test]
fn register_list_and_remove_through_the_cli() {
    let (_backend, addr) = hello_backend();
    let gw = Gateway::start("builtin_hello = false\n", &[]);
    let dir = TempDir::new("cli-register");
    split_hello(dir.path());
    let main = dir.path().join("svc/main.thrift");
    let inc = dir.path().join("incdir");

    let (code, out, err) = kitegate(&[
        "register",
        "--admin",
        &gw.admin,
        "--name",
        "h2",
        "--idl",
        s(&main),
        "--include-dir",
        s(&inc),
        "--protocol",
        "thrift",
        "--transport",
        "framed",
        "--endpoint",
        &addr,
        "--prefix",
        "/h2",
    ]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("h2"), "{out}");
    assert!(has_route(&out, "POST", "/h2/x/add", "Hello.add"), "{out}");

    assert_eq!(
        gw.post("/h2/x/add", r#"{"first":512,"second":512}"#),
        (200, json!({"sum": 1024}))
    );
    assert_eq!(
        gw.post("/h2/x/echo", r#"{"message":"split"}"#),
        (200, json!({"message": "split"}))
    );

    // Listed, as tables and as JSON.
    let (code, out, err) = kitegate(&["backends", "--admin", &gw.admin]);
    assert_eq!(code, 0, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("h2 "))
        .unwrap_or_default();
    assert!(
        row.contains("admin") && row.contains(&addr) && row.contains("/h2"),
        "{out}"
    );
    let (code, out, _) = kitegate(&["backends", "--admin", &gw.admin, "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("json");
    let h2 = v["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "h2")
        .expect("h2 listed");
    assert_eq!(h2["source"], "admin");
    assert_eq!(h2["endpoints"], json!([addr]));

    let (code, out, err) = kitegate(&["routes", "--admin", &gw.admin]);
    assert_eq!(code, 0, "{err}");
    let add = out
        .lines()
        .find(|l| l.contains("/h2/x/add"))
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(add, ["POST", "/h2/x/add", "h2", "Hello.add"], "{out}");

    // Registering again replaces.
    let (code, out, err) = kitegate(&[
        "register",
        "--admin",
        &gw.admin,
        "--name",
        "h2",
        "--idl",
        s(&main),
        "-I",
        s(&inc),
        "--protocol",
        "thrift",
        "--transport",
        "buffered",
        "--endpoint",
        &addr,
        "--prefix",
        "/h3",
        "--option",
        "i64_as_string=true",
    ]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("replaced"), "{out}");
    assert_eq!(
        gw.post("/h3/x/add", r#"{"first":1,"second":2}"#),
        (200, json!({"sum": "3"}))
    );
    assert_eq!(gw.post("/h2/x/add", "{}").0, 404);

    // Removed: the route is gone; removing again is a readable error.
    let (code, out, err) = kitegate(&["remove", "h2", "--admin", &gw.admin]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(gw.post("/h3/x/add", r#"{"first":1,"second":2}"#).0, 404);
    let (code, _, err) = kitegate(&["remove", "h2", "--admin", &gw.admin]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("h2"), "{err}");
    assert!(!err.contains('{'), "not raw JSON: {err}");
}

#[test]
fn register_a_python_thrift_server_through_the_cli() {
    // thriftpy2 speaking compact/buffered; the rich IDL pulls its two includes
    // from next to the main file.
    let (_rich, addr) = rich_server("compact", "buffered");
    let gw = Gateway::start("builtin_hello = false\n", &[]);
    let idl = root().join("e2e/idl/rich.thrift");
    let (code, out, err) = kitegate(&[
        "register",
        "--admin",
        &gw.admin,
        "--name",
        "rich",
        "--idl",
        s(&idl),
        "--protocol",
        "thrift-compact",
        "--transport",
        "buffered",
        "--endpoint",
        &addr,
    ]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        has_route(&out, "POST", "/rich/concat", "RichService.concat"),
        "{out}"
    );
    assert_eq!(
        gw.post("/rich/concat", r#"{"a":"x","b":1,"c":[2,3]}"#),
        (200, json!("x|1|2,3"))
    );
    assert_eq!(
        gw.post("/rich/union", r#"{"text":"t"}"#),
        (200, json!({"text": "t"}))
    );
    let (code, out, err) = kitegate(&["remove", "rich", "--admin", &gw.admin]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(gw.post("/rich/concat", r#"{"a":"x","b":1,"c":[2]}"#).0, 404);
}

#[test]
fn register_errors_are_readable() {
    let (_backend, addr) = hello_backend();
    let gw = Gateway::start("builtin_hello = false\n", &[]);
    let dir = TempDir::new("cli-register-errors");
    split_hello(dir.path());
    let main = dir.path().join("svc/main.thrift");
    let inc = dir.path().join("incdir");
    let register = |extra: &[&str]| {
        let mut args = vec![
            "register",
            "--admin",
            &gw.admin,
            "--name",
            "h2",
            "--idl",
            s(&main),
            "--protocol",
            "thrift",
            "--transport",
            "framed",
            "--endpoint",
            &addr,
        ];
        args.extend_from_slice(extra);
        kitegate(&args)
    };

    // Without the include dir the include cannot be found: a local error.
    let (code, _, err) = register(&[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("include \"types.thrift\""), "{err}");
    assert!(err.contains("--include-dir"), "{err}");

    // An IDL error is the server's (422): printed with file and line, exit 1.
    let bad = dir.path().join("bad/main.thrift");
    write(&bad, "service S {\n  Nope f()\n}\n");
    let (code, _, err) = kitegate(&[
        "register",
        "--admin",
        &gw.admin,
        "--name",
        "bad",
        "--idl",
        s(&bad),
        "--protocol",
        "thrift",
        "--transport",
        "framed",
        "--endpoint",
        &addr,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("main.thrift:2"), "{err}");

    // A route taken by another backend (409).
    let (code, _, err) = register(&["-I", s(&inc)]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = kitegate(&[
        "register",
        "--admin",
        &gw.admin,
        "--name",
        "other",
        "--idl",
        s(&main),
        "-I",
        s(&inc),
        "--protocol",
        "thrift",
        "--transport",
        "framed",
        "--endpoint",
        &addr,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("conflict") && err.contains("h2"), "{err}");

    // A prefix without its slash: usage error before anything is sent.
    let (code, _, err) = register(&["-I", s(&inc), "--prefix", "v2"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--prefix"), "{err}");

    // Bad option: usage error before anything is sent.
    let (code, _, err) = register(&["-I", s(&inc), "--option", "nope=1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn token_is_sent_from_the_environment() {
    let gw = Gateway::start("builtin_hello = false\nadmin_token = \"s3cret\"\n", &[]);
    let (code, _, err) = kitegate(&["backends", "--admin", &gw.admin]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("KITEGATE_ADMIN_TOKEN"), "{err}");
    let out = Command::new(bin("kitegate"))
        .args(["routes", "--json"])
        .env("KITEGATE_ADMIN", &gw.admin)
        .env("KITEGATE_ADMIN_TOKEN", "s3cret")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["routes"], json!([]));
}

/// The `VERB PATH -> Service.method` lines of `register`'s output, and the
/// route count of its summary line.
fn registered_routes(out: &str) -> (usize, Vec<(String, String, String)>) {
    let count = out
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(", ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no route count in:\n{out}"));
    let mut rows: Vec<_> = out
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [v, p, "->", t, ..] => Some((v.to_string(), p.to_string(), t.to_string())),
            _ => None,
        })
        .collect();
    rows.sort();
    (count, rows)
}

#[test]
fn register_counts_every_route_of_a_proto_backend() {
    // Two methods with `google.api.http` rules, four without (served on their
    // default `POST /{package.Service}/{Method}` route), and a server-streaming
    // one that a Kitex Protobuf backend does not serve.
    let dir = TempDir::new("cli-proto");
    let idl = dir.path().join("mixed.proto");
    write(
        &idl,
        r#"syntax = "proto3";
package mix.v1;
import "google/api/annotations.proto";
message Req { string id = 1; }
message Rep { string id = 1; }
service Mixed {
  rpc Get(Req) returns (Rep) { option (google.api.http) = { get: "/items/{id}" }; }
  rpc Put(Req) returns (Rep) { option (google.api.http) = { put: "/items/{id}" body: "*" }; }
  rpc A(Req) returns (Rep);
  rpc B(Req) returns (Rep);
  rpc C(Req) returns (Rep);
  rpc D(Req) returns (Rep);
  rpc Watch(Req) returns (stream Rep) { option (google.api.http) = { get: "/watch/{id}" }; }
}
"#,
    );
    let gw = Gateway::start("builtin_hello = false\n", &[]);
    let port = e2e::free_port().to_string();
    let endpoint = format!("127.0.0.1:{port}");
    let (code, out, err) = kitegate(&[
        "register",
        "--admin",
        &gw.admin,
        "--name",
        "mixed",
        "--idl",
        s(&idl),
        "--protocol",
        "kitex-protobuf",
        "--endpoint",
        &endpoint,
        "--prefix",
        "/m",
    ]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let (count, printed) = registered_routes(&out);
    assert_eq!(count, 6, "{out}");
    assert_eq!(printed.len(), 6, "{out}");
    assert!(
        has_route(&out, "GET", "/m/items/{id}", "Mixed.Get"),
        "{out}"
    );
    assert!(
        has_route(&out, "POST", "/m/mix.v1.Mixed/A", "Mixed.A"),
        "{out}"
    );
    assert!(!out.contains("Watch"), "{out}");

    // Exactly what the gateway serves.
    let (code, out, err) = kitegate(&["routes", "--admin", &gw.admin]);
    assert_eq!(code, 0, "{err}");
    let mut served: Vec<_> = out
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [v, p, "mixed", t] => Some((v.to_string(), p.to_string(), t.to_string())),
            _ => None,
        })
        .collect();
    served.sort();
    assert_eq!(printed, served, "{out}");

    // `backends` counts the same routes.
    let (code, out, err) = kitegate(&["backends", "--admin", &gw.admin]);
    assert_eq!(code, 0, "{err}");
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("mixed "))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row.get(6), Some(&"6"), "{out}");
}

#[test]
fn help_names_every_backend_protocol() {
    for flag in ["--help", "-h"] {
        let (code, out, err) = kitegate(&[flag]);
        assert_eq!(code, 0, "{err}");
        for p in ["Thrift", "Kitex Protobuf", "gRPC", "Dubbo"] {
            assert!(out.contains(p), "{flag} does not name {p}:\n{out}");
        }
    }
}
