//! The front door's edge settings on the real binary: a CORS preflight and
//! the headers of an allowed origin's answer; another origin gets none;
//! settings that cannot work are refused at start.

use e2e::{Gateway, http, refused_config};

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn cors_preflight_and_answers() {
    let gw = Gateway::start(
        "[cors]\nallow_origins = [\"https://app.example.com\"]\nallow_headers = [\"content-type\", \"authorization\"]\nmax_age_s = 600\n",
        &[],
    );
    let url = format!("{}/add", gw.base);
    let preflight = |origin: &str| {
        http(
            "OPTIONS",
            &url,
            None,
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
        )
        .unwrap()
    };
    let (status, headers, _) = preflight("https://app.example.com");
    assert_eq!(status, 200, "{headers:?}");
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        header(&headers, "access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        header(&headers, "access-control-allow-headers")
            .unwrap()
            .contains("content-type")
    );
    assert_eq!(header(&headers, "access-control-max-age"), Some("600"));
    // Another origin is not allowed.
    let (_, headers, _) = preflight("https://evil.example.com");
    assert_eq!(header(&headers, "access-control-allow-origin"), None);

    // The call itself: the answer names the origin and lets the page read the request id.
    let (status, headers, body) = http(
        "POST",
        &url,
        Some(r#"{"first": 512, "second": 512}"#),
        &[
            ("origin", "https://app.example.com"),
            ("content-type", "application/json"),
        ],
    )
    .unwrap();
    assert_eq!((status, body.as_str()), (200, r#"{"sum":1024}"#));
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        header(&headers, "access-control-expose-headers")
            .unwrap()
            .contains("x-request-id")
    );
    // Without an Origin nothing changes.
    let (status, headers, _) =
        http("POST", &url, Some(r#"{"first": 1, "second": 2}"#), &[]).unwrap();
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
}

#[test]
fn cors_settings_that_cannot_work_are_refused() {
    for (cfg, says) in [
        (
            "[cors]\nallow_origins = [\"app.example.com\"]\n",
            "scheme://host",
        ),
        (
            "[cors]\nallow_origins = [\"*\"]\nallow_credentials = true\n",
            "allow_credentials",
        ),
        ("[cors]\nallow_origins = []\n", "empty"),
    ] {
        let (code, err) = refused_config(cfg);
        assert_ne!(code, 0, "{cfg}");
        assert!(err.contains(says), "{cfg}: {err}");
    }
}

/// API keys and JWTs on one backend: keys from the environment, a JWKS
/// file and tokens made by PyJWT (`e2e/peers/python/make_jwt.py`) as an
/// identity provider makes them; every other backend stays open.
#[test]
fn api_keys_and_jwts() {
    let dir = e2e::TempDir::new("auth");
    let jwks = dir.path().join("jwks.json");
    let tokens = e2e::make_jwt(&jwks);
    let hello = e2e::repo_path("examples/idl/hello.thrift");
    let (_backend, addr) = e2e::hello_backend();
    let cfg = format!(
        "builtin_hello = false\n\
         [[backends]]\nname = \"locked\"\nprotocol = \"thrift\"\ntransport = \"framed\"\nendpoints = [\"{addr}\"]\nidl = \"{hello}\"\nprefix = \"/locked\"\n\
         [backends.auth]\napi_keys = [\"env:KITEGATE_TEST_KEYS\"]\njwt = {{ jwks_file = \"{}\", issuer = \"https://issuer.test\", audience = \"kitegate\" }}\n\
         [[backends]]\nname = \"open\"\nprotocol = \"thrift\"\ntransport = \"framed\"\nendpoints = [\"{addr}\"]\nidl = \"{hello}\"\nprefix = \"/open\"\n",
        jwks.display()
    );
    // The keys come from the gateway's environment.
    let gw = Gateway::start_wrapped(
        e2e::TempDir::new("gw"),
        &cfg,
        &[],
        &["env", "KITEGATE_TEST_KEYS=k-one,k-two"],
    );
    let body = r#"{"first": 512, "second": 512}"#;
    let call = |path: &str, headers: &[(&str, &str)]| {
        let (status, _, text) =
            http("POST", &format!("{}{path}", gw.base), Some(body), headers).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        (status, v)
    };
    assert_eq!(
        call("/open/add", &[]),
        (200, serde_json::json!({"sum": 1024}))
    );
    let (status, e) = call("/locked/add", &[]);
    assert_eq!(
        (status, &e["error"]["code"]),
        (401, &serde_json::json!("unauthorized")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-api-key"),
        "{e}"
    );
    for key in ["k-one", "k-two"] {
        assert_eq!(call("/locked/add", &[("x-api-key", key)]).0, 200, "{key}");
    }
    assert_eq!(call("/locked/add", &[("x-api-key", "k-three")]).0, 401);
    for (name, want) in [
        ("rs256", 200),
        ("eddsa", 200),
        ("expired", 401),
        ("not_yet", 401),
        ("wrong_audience", 403),
        ("wrong_issuer", 403),
        ("other_key", 401),
        ("hs256", 401),
        ("none", 401),
    ] {
        let bearer = format!("Bearer {}", tokens[name].as_str().unwrap());
        let (status, e) = call("/locked/add", &[("authorization", &bearer)]);
        assert_eq!(status, want, "{name}: {e}");
        if want != 200 {
            assert!(
                e["error"]["message"].is_string() && e["error"]["backend"] == "locked",
                "{name}: {e}"
            );
        }
    }
}

/// HTTP/1.1 and h2c with prior knowledge on the one plain port, from curl
/// (nghttp2): a unary call and a server stream over HTTP/2.
#[test]
fn h2c_with_prior_knowledge() {
    let gw = Gateway::start("", &[]);
    let curl = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-s", "-S", "-w", "\n%{http_version} %{http_code}"])
            .args(args)
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let add = format!("{}/add", gw.base);
    let body = r#"{"first": 512, "second": 512}"#;
    assert_eq!(
        curl(&["--http2-prior-knowledge", "-X", "POST", "-d", body, &add]),
        "{\"sum\":1024}\n2 200"
    );
    assert_eq!(
        curl(&["--http1.1", "-X", "POST", "-d", body, &add]),
        "{\"sum\":1024}\n1.1 200"
    );
    let count = format!("{}/grpc/count?to=3", gw.base);
    let out = curl(&["--http2-prior-knowledge", &count]);
    assert_eq!(out, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n\n2 200", "{out}");
    // An error keeps its shape over HTTP/2.
    let out = curl(&["--http2-prior-knowledge", "-X", "POST", "-d", "{", &add]);
    assert!(
        out.contains("\"invalid_request\"") && out.ends_with("2 400"),
        "{out}"
    );
}

/// The request head's limits: past the configured header count or size
/// the answer is 431 in the JSON shape (not hyper's empty one), and the
/// gateway goes on serving.
#[test]
fn request_heads_past_their_limits() {
    let gw = Gateway::start("max_header_bytes = 4096\nmax_headers = 20\n", &[]);
    let add = format!("{}/add", gw.base);
    let body = r#"{"first": 512, "second": 512}"#;
    let big = "v".repeat(5000);
    let (status, _, text) = http("POST", &add, Some(body), &[("x-big", &big)]).unwrap();
    let e: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (status, &e["error"]["code"]),
        (431, &serde_json::json!("headers_too_large")),
        "{text}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the limit is 4096"),
        "{e}"
    );
    let names: Vec<String> = (0..25).map(|i| format!("x-h{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let (status, _, text) = http("POST", &add, Some(body), &many).unwrap();
    assert_eq!(status, 431, "{text}");
    assert!(
        text.contains("25 headers") || text.contains("headers; the limit is 20"),
        "{text}"
    );
    // Within the limits, and after the refusals, requests are served.
    let few: Vec<(&str, &str)> = many[..10].to_vec();
    let (status, _, text) = http("POST", &add, Some(body), &few).unwrap();
    assert_eq!((status, text.as_str()), (200, r#"{"sum":1024}"#));
}

/// Reads what the gateway sends until it closes the connection, or
/// `within` passes (then `None`).
fn read_to_close(s: &mut std::net::TcpStream, within: std::time::Duration) -> Option<String> {
    use std::io::Read;
    s.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&got).into_owned());
            }
            Err(_) => return None,
        }
    }
}

fn connect(base: &str) -> std::net::TcpStream {
    std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap()
}

/// The slow-client limits: a body that stops arriving gets 408 in the
/// JSON shape; a request head trickled in past the header-read timeout,
/// and a connection that goes quiet past the idle timeout, are closed;
/// the gateway serves everyone else all along.
#[test]
fn slow_clients_are_cut_off() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let gw = Gateway::start(
        "body_read_timeout_ms = 400\nheader_read_timeout_ms = 800\nidle_timeout_ms = 600\n",
        &[],
    );
    let add = format!("{}/add", gw.base);
    let served = || {
        let (status, _, text) = http("POST", &add, Some(r#"{"first":1,"second":2}"#), &[]).unwrap();
        assert_eq!((status, text.as_str()), (200, r#"{"sum":3}"#));
    };

    // Half a body, then nothing: 408 request_timeout after the gap.
    let mut s = connect(&gw.base);
    let started = Instant::now();
    s.write_all(b"POST /add HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 24\r\n\r\n{\"first\":1,").unwrap();
    served();
    let answer = read_to_close(&mut s, Duration::from_secs(5)).expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("\"code\":\"request_timeout\"") && answer.contains("400 ms"),
        "{answer}"
    );
    assert!(started.elapsed() >= Duration::from_millis(400));

    // A head trickled a header at a time (bytes keep moving, so the idle
    // timeout never fires): closed at the header-read timeout, unanswered.
    let mut s = connect(&gw.base);
    let started = Instant::now();
    s.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n").unwrap();
    let mut closed = None;
    for i in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        if s.write_all(format!("x-slow-{i}: 1\r\n").as_bytes())
            .is_err()
        {
            closed = Some(started.elapsed());
            break;
        }
        if let Some(rest) = read_to_close(&mut s, Duration::from_millis(1)) {
            assert!(
                rest.is_empty() || rest.starts_with("HTTP/1.1 408"),
                "{rest}"
            );
            closed = Some(started.elapsed());
            break;
        }
    }
    let closed = closed.expect("the slow head was cut off");
    assert!(
        closed >= Duration::from_millis(750) && closed < Duration::from_secs(3),
        "{closed:?}"
    );
    served();

    // An answered request, then silence: closed after the idle timeout.
    let mut s = connect(&gw.base);
    s.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut first = [0u8; 12];
    std::io::Read::read_exact(&mut s, &mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    read_to_close(&mut s, Duration::from_secs(5)).expect("closed when idle");
    let idle = started.elapsed();
    assert!(
        idle >= Duration::from_millis(550) && idle < Duration::from_secs(2),
        "{idle:?}"
    );
    served();

    // HTTP/2 (h2c, the h2 package): a GOAWAY after the idle timeout, then the close.
    let port = gw.base.rsplit(':').next().unwrap();
    let out = std::process::Command::new(e2e::python())
        .arg(e2e::repo_path("e2e/peers/python/h2c_idle.py"))
        .args([port, "/hello"])
        .output()
        .expect("run h2c_idle.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&r["status"], &r["ended"]),
        (&200.into(), &true.into()),
        "{r}"
    );
    let goaway = r["goaway_after"].as_f64().expect("a GOAWAY");
    assert!((0.55..2.0).contains(&goaway), "{r}");
    assert!(
        r["closed_after"].as_f64().is_some_and(|c| c >= goaway),
        "{r}"
    );
    served();
}

/// Connections per client IP and in total: past either the next one is
/// answered (429 too_many_connections, 503 overloaded) in the JSON shape
/// and closed; a place that frees up is given again.
#[test]
fn connection_limits() {
    use std::io::Write;
    use std::time::Duration;
    let refused = |base: &str| {
        let mut s = connect(base);
        s.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        read_to_close(&mut s, Duration::from_secs(5)).expect("answered and closed")
    };
    // The readiness probe's connection closes first.
    let settle = || std::thread::sleep(Duration::from_millis(300));
    let gw = Gateway::start("max_connections_per_ip = 3\n", &[]);
    settle();
    let held: Vec<_> = (0..3).map(|_| connect(&gw.base)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let answer = refused(&gw.base);
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(
        answer.contains("\"code\":\"too_many_connections\""),
        "{answer}"
    );
    assert!(
        answer.contains("127.0.0.1 has 3 connections open"),
        "{answer}"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let (status, _, text) = http("GET", &format!("{}/hello", gw.base), None, &[]).unwrap();
    assert_eq!(status, 200, "{text}");

    let gw = Gateway::start("max_connections = 4\n", &[]);
    settle();
    let held: Vec<_> = (0..4).map(|_| connect(&gw.base)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let answer = refused(&gw.base);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"code\":\"overloaded\""), "{answer}");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let (status, _, text) = http("GET", &format!("{}/hello", gw.base), None, &[]).unwrap();
    assert_eq!(status, 200, "{text}");
}

/// A verified token's claims go to backends as call metadata, named per
/// backend: Kitex reads them from metainfo (TTHeader string info),
/// grpcio from its metadata, Apache Dubbo from its attachments; a
/// client's own header under the same key is replaced. Methods may open
/// their routes or have checks of their own.
#[test]
fn claims_as_metadata_and_per_method_auth() {
    let dir = e2e::TempDir::new("claims");
    let jwks = dir.path().join("jwks.json");
    let tokens = e2e::make_jwt(&jwks);
    let (_kitex, kitex) = e2e::kitex_server();
    let (_dubbo, dubbo) = e2e::dubbo_hello_provider();
    let (_grpc, grpc) = e2e::grpc_rich_server();
    let jwt = format!(
        "jwt = {{ jwks_file = \"{}\", issuer = \"https://issuer.test\", audience = \"kitegate\" }}",
        jwks.display()
    );
    let cfg = format!(
        "builtin_hello = false\n\
         [[backends]]\nname = \"k\"\nprotocol = \"thrift\"\ntransport = \"ttheader\"\nendpoints = [\"{kitex}\"]\nidl = \"{hello}\"\nprefix = \"/k\"\n\
         [backends.auth]\n{jwt}\nforward_claims = {{ tenant = \"RPC_TRANSIT_tenant\", sub = \"RPC_PERSIST_user\" }}\n\
         [backends.methods.add]\nauth = false\n\
         [backends.methods.echoItems]\nauth = {{ api_keys = [\"items-key\"] }}\n\
         [[backends]]\nname = \"d\"\nprotocol = \"dubbo\"\nendpoints = [\"{dubbo}\"]\nidl = \"{hello}\"\nprefix = \"/d\"\ntimeout_ms = 10000\n\
         [backends.auth]\n{jwt}\nforward_claims = {{ tenant = \"x-tenant\", roles = \"x-roles\" }}\n\
         [[backends]]\nname = \"g\"\nprotocol = \"grpc\"\nendpoints = [\"{grpc}\"]\nidl = \"{rich}\"\nprefix = \"/g\"\n\
         [backends.auth]\n{jwt}\nforward_claims = {{ tenant = \"x-tenant\" }}\n",
        hello = e2e::repo_path("examples/idl/hello.thrift"),
        rich = e2e::repo_path("e2e/idl/rich.proto"),
    );
    let gw = Gateway::start(&cfg, &[]);
    let bearer = format!("Bearer {}", tokens["claims"].as_str().unwrap());
    let auth = [("authorization", bearer.as_str())];
    let post = |path: &str, body: &str, headers: &[(&str, &str)]| {
        let (s, _, text) =
            http("POST", &format!("{}{path}", gw.base), Some(body), headers).unwrap();
        (s, text)
    };

    // Kitex: transient and persistent metainfo values.
    let (s, text) = post("/k/echo", r#"{"message":"metainfo"}"#, &auth);
    assert_eq!(s, 200, "{text}");
    let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
    let seen: serde_json::Value = serde_json::from_str(reply["message"].as_str().unwrap()).unwrap();
    assert_eq!(seen["transient"]["tenant"], "blue", "{seen}");
    assert_eq!(seen["persistent"]["user"], "user-7", "{seen}");

    // Dubbo: attachments; a list claim goes as its JSON text.
    let (s, text) = post("/d/echo", r#"{"message":"attachments"}"#, &auth);
    assert_eq!(s, 200, "{text}");
    let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
    let att: serde_json::Value = serde_json::from_str(reply["message"].as_str().unwrap()).unwrap();
    assert_eq!(att["x-tenant"], "blue", "{att}");
    assert_eq!(att["x-roles"], r#"["a","b"]"#, "{att}");

    // grpcio: metadata; the client's own x-tenant is replaced by the claim.
    let spoof = [auth[0], ("grpc-metadata-x-tenant", "red")];
    let (s, text) = post("/g/rich.v1.RichService/Ping", r#"{"text":"hi"}"#, &spoof);
    assert_eq!(s, 200, "{text}");
    assert!(
        text.contains("tenant=blue") && !text.contains("red"),
        "{text}"
    );

    // Per method: add is open, echo still needs the token, echoItems has its own key.
    assert_eq!(
        post("/k/add", r#"{"first":1,"second":2}"#, &[]),
        (200, r#"{"sum":3}"#.to_string())
    );
    assert_eq!(post("/k/echo", r#"{"message":"x"}"#, &[]).0, 401);
    let items = r#"{"items":[]}"#;
    assert_eq!(
        post("/k/items", items, &[("x-api-key", "items-key")]).0,
        200
    );
    let (s, text) = post("/k/items", items, &auth);
    assert_eq!(s, 401, "its own checks replace the backend's: {text}");
    assert!(text.contains("x-api-key"), "{text}");
}

/// CORS per backend: a backend's `[backends.cors]` answers preflights for
/// its routes and gives its answers (a 401 included) their headers; a
/// backend without one gets none, and with `[cors]` too the config is
/// refused.
#[test]
fn cors_per_backend() {
    let (_backend, addr) = e2e::hello_backend();
    let hello = e2e::repo_path("examples/idl/hello.thrift");
    let cfg = format!(
        "builtin_hello = false\n\
         [[backends]]\nname = \"web\"\nprotocol = \"thrift\"\ntransport = \"framed\"\nendpoints = [\"{addr}\"]\nidl = \"{hello}\"\nprefix = \"/web\"\n\
         [backends.cors]\nallow_origins = [\"https://app.example.com\"]\nallow_headers = [\"content-type\", \"x-api-key\"]\nmax_age_s = 60\n\
         [backends.auth]\napi_keys = [\"k1\"]\n\
         [backends.methods.add]\nauth = false\n\
         [[backends]]\nname = \"plain\"\nprotocol = \"thrift\"\ntransport = \"framed\"\nendpoints = [\"{addr}\"]\nidl = \"{hello}\"\nprefix = \"/plain\"\n"
    );
    let gw = Gateway::start(&cfg, &[]);
    let preflight = |path: &str| {
        http(
            "OPTIONS",
            &format!("{}{path}", gw.base),
            None,
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
        )
        .unwrap()
    };
    let (s, h, _) = preflight("/web/add");
    assert_eq!(s, 200);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(header(&h, "access-control-max-age"), Some("60"));
    let (s, h, _) = preflight("/plain/add");
    assert_eq!(s, 405, "no CORS on that backend");
    assert_eq!(header(&h, "access-control-allow-origin"), None);

    let origin = [("origin", "https://app.example.com")];
    let body = Some(r#"{"first":1,"second":2}"#);
    let (s, h, text) = http("POST", &format!("{}/web/add", gw.base), body, &origin).unwrap();
    assert_eq!((s, text.as_str()), (200, r#"{"sum":3}"#));
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    // A refusal is readable by the page too.
    let (s, h, _) = http(
        "POST",
        &format!("{}/web/echo", gw.base),
        Some("{}"),
        &origin,
    )
    .unwrap();
    assert_eq!(s, 401);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let other = [("origin", "https://evil.example")];
    let (_, h, _) = http("POST", &format!("{}/web/add", gw.base), body, &other).unwrap();
    assert_eq!(header(&h, "access-control-allow-origin"), None);
    let (_, h, _) = http("POST", &format!("{}/plain/add", gw.base), body, &origin).unwrap();
    assert_eq!(header(&h, "access-control-allow-origin"), None);

    let (code, err) = refused_config(&format!(
        "[cors]\nallow_origins = [\"*\"]\n{}",
        cfg.replace("builtin_hello = false\n", "")
    ));
    assert_ne!(code, 0);
    assert!(err.contains("use one or the other"), "{err}");
}
