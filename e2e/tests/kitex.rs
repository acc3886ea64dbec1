//! Interop with a CloudWeGo Kitex server (Go, `e2e/peers/kitex`, built by
//! `e2e/peers/kitex/build.sh`) serving the hello IDL, reached through the
//! gateway over TTHeader and over framed.

use e2e::{Gateway, kitex_server, repo_path};
use serde_json::json;

fn backend(name: &str, transport: &str, addr: &str) -> String {
    format!(
        "[[backends]]\nname = \"{name}\"\nprotocol = \"thrift\"\ntransport = \"{transport}\"\nendpoints = [\"{addr}\"]\nidl = \"{}\"\nprefix = \"/{name}\"\ntimeout_ms = 5000\n",
        repo_path("examples/idl/hello.thrift")
    )
}

#[test]
fn kitex_server_over_ttheader_and_framed() {
    let (_kitex, addr) = kitex_server();
    let cfg = [
        "builtin_hello = false\n".to_string(),
        backend("tth", "ttheader", &addr),
        backend("tthf", "ttheader-framed", &addr),
        backend("framed", "framed", &addr),
        backend("buffered", "buffered", &addr),
    ]
    .concat();
    let gw = Gateway::start(&cfg, &[]);
    for name in ["tth", "tthf", "framed", "buffered"] {
        let at = |p: &str| format!("/{name}{p}");
        assert_eq!(
            gw.post(&at("/add"), r#"{"first":512,"second":512}"#),
            (200, json!({"sum": 1024})),
            "{name}"
        );
        assert_eq!(
            gw.post(&at("/echo"), r#"{"message":"my request"}"#),
            (200, json!({"message": "my request"})),
            "{name}"
        );
        assert_eq!(
            gw.get(&at("/hello")),
            (200, json!({"message": "hello world"})),
            "{name}"
        );
        assert_eq!(
            gw.get(&at("/hello?message=from%20kitex")),
            (200, json!({"message": "from kitex"})),
            "{name}"
        );

        // A handler error: Kitex answers with a TApplicationException (internal error, 6).
        let (status, e) = gw.post(&at("/echo"), r#"{"message":"raise-error"}"#);
        assert_eq!(status, 500, "{name}: {e}");
        assert_eq!(e["error"]["code"], "application_exception", "{name}: {e}");
        assert_eq!(e["error"]["type"], 6, "{name}: {e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("kitex says no"),
            "{name}: {e}"
        );

        // A declared exception.
        let (status, e) = gw.post(&at("/add"), r#"{"first":9223372036854775807,"second":1}"#);
        assert_eq!(status, 500, "{name}: {e}");
        assert_eq!(e["error"]["code"], "backend_exception", "{name}: {e}");
        assert_eq!(e["error"]["exception"], "HelloError");
        assert_eq!(e["error"]["detail"]["code"], 1);
        assert_eq!(e["error"]["detail"]["message"], "overflow");
    }
    // Business status errors travel in TTHeader only.
    for name in ["tth", "tthf"] {
        let (status, e) = gw.post(&format!("/{name}/echo"), r#"{"message":"biz-error"}"#);
        assert_eq!(status, 500, "{name}: {e}");
        assert_eq!(e["error"]["code"], "biz_error", "{name}: {e}");
        assert_eq!(e["error"]["biz_status"], 404, "{name}: {e}");
        assert_eq!(e["error"]["message"], "not found here", "{name}: {e}");
    }
}
