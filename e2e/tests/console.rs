//! The browser console (`/admin/ui`) in a real headless Chromium (Debian's
//! `chromium`, driven by `playwright-core` from npm: `e2e/ui/console.mjs`),
//! against a real gateway with the built-in backend, thriftpy2 serving
//! `e2e/idl/rich.thrift` (uploaded from the page with its includes) and
//! grpcio serving `e2e/idl/rich.proto` (a bidirectional stream over
//! WebSocket). Screenshots of each step are written under
//! `target/console-screenshots/`. Also: the console's files and its try-it
//! path under the token rules of the admin API.

use std::process::Command;

use e2e::{Gateway, TempDir, repo_path, rich_server, root};
use serde_json::json;

#[test]
fn the_console_in_chromium() {
    let node_modules = root().join("e2e/ui/node_modules/playwright-core");
    assert!(
        node_modules.exists(),
        "run e2e/ui/setup.sh (chromium and playwright-core)"
    );
    let (_thrift, thrift_addr) = rich_server("binary", "framed");
    let (_grpc, grpc_addr) = e2e::grpc_rich_server();
    let gw = Gateway::start("", &[]);
    e2e::register_rich_grpc(&gw, "rich-grpc", &grpc_addr, "/rich", json!({}));
    let dir = TempDir::new("console");
    let broken = dir.path().join("broken.thrift");
    std::fs::write(
        &broken,
        "namespace go broken\n\nstruct A {\n  1: i32 a\n  2: nosuchtype b\n}\n",
    )
    .unwrap();
    let shots = root().join("target/console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let files = ["rich.thrift", "rich_base.thrift", "rich_common.thrift"]
        .map(|f| repo_path(&format!("e2e/idl/{f}")))
        .join(",");
    let out = Command::new("node")
        .arg(root().join("e2e/ui/console.mjs"))
        .current_dir(root().join("e2e/ui"))
        .env("ADMIN", &gw.admin)
        .env("SHOTS", &shots)
        .env("RICH_FILES", files)
        .env("RICH_ENDPOINT", &thrift_addr)
        .env("BROKEN_IDL", &broken)
        .output()
        .expect("run node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    for shot in [
        "01-backends",
        "02-uploaded-routes",
        "03-add-1024",
        "04-stream-count",
        "05-websocket-chat",
        "06-idl-error",
        "07-traffic",
    ] {
        assert!(shots.join(format!("{shot}.png")).exists(), "{shot}: {text}");
    }
}

#[test]
fn console_files_are_open_and_its_calls_need_the_token() {
    let gw = Gateway::start("admin_token = \"s3cret\"\n", &[]);
    let url = |p: &str| format!("{}{p}", gw.admin);
    for (path, ctype) in [
        ("/admin/ui", "text/html"),
        ("/admin/ui/app.js", "text/javascript"),
        ("/admin/ui/app.css", "text/css"),
    ] {
        let (status, headers, _) = e2e::http("GET", &url(path), None, &[]).unwrap();
        assert_eq!(status, 200, "{path}");
        let ct = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .unwrap();
        assert!(ct.1.starts_with(ctype), "{path}: {ct:?}");
    }
    // The try-it path and the API behind it are the admin API's: the token is needed.
    let body = r#"{"first": 512, "second": 512}"#;
    let (status, _, _) = e2e::http("POST", &url("/admin/try/add"), Some(body), &[]).unwrap();
    assert_eq!(status, 401);
    let (status, _, _) = e2e::http("GET", &url("/admin/backends"), None, &[]).unwrap();
    assert_eq!(status, 401);
    let auth = [("authorization", "Bearer s3cret")];
    let (status, _, text) = e2e::http("POST", &url("/admin/try/add"), Some(body), &auth).unwrap();
    assert_eq!((status, text.as_str()), (200, r#"{"sum":1024}"#));
    // The protocol list the page's selects are filled from.
    let (status, _, text) = e2e::http("GET", &url("/admin/protocols"), None, &auth).unwrap();
    let list: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(status, 200);
    let grpc = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "grpc")
        .unwrap();
    // Its default transport first.
    assert_eq!(
        (&grpc["transports"][0], &grpc["idl"]),
        (&json!("http2"), &json!("proto")),
        "{list}"
    );
    // A stream comes through as it is.
    let (status, _, text) =
        e2e::http("GET", &url("/admin/try/grpc/count?to=3"), None, &auth).unwrap();
    assert_eq!((status, text.lines().count()), (200, 3), "{text}");
}
