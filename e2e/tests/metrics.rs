//! `GET /metrics` end to end: after a known mix of requests (ok, 400, 404,
//! 502, 504, retried) to a real Thrift peer (thriftpy2), the scrape is
//! parsed by the Prometheus project's own Python parser, in the text format
//! and in OpenMetrics, and its counters and histogram counts equal what was
//! sent. With `metrics = false` nothing is recorded and the path answers
//! 404 in the JSON error shape, while requests are served as before.

use std::process::{Command, Stdio};

use e2e::{Gateway, counter_server, free_port, http, python, repo_path, root};
use serde_json::{Value, json};

/// A counter-IDL backend `name` over `endpoints`, routes under `/name`.
fn backend(name: &str, endpoints: &[&str], extra: &str) -> String {
    let eps: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        "[[backends]]\nname = \"{name}\"\nprotocol = \"thrift\"\ntransport = \"framed\"\n\
         endpoints = [{}]\nidl = \"{}\"\nprefix = \"/{name}\"\ntimeout_ms = 300\n{extra}\n",
        eps.join(", "),
        repo_path("e2e/idl/counter.thrift")
    )
}

/// Scrapes the gateway, asking for OpenMetrics or not; returns the content
/// type and the families as the Python parser read them.
fn scrape(gw: &Gateway, openmetrics: bool) -> (String, Vec<Value>) {
    let accept = if openmetrics {
        "application/openmetrics-text; version=1.0.0"
    } else {
        "text/plain"
    };
    let (status, headers, text) = http(
        "GET",
        &format!("{}/metrics", gw.admin),
        None,
        &[("accept", accept)],
    )
    .unwrap();
    assert_eq!(status, 200, "{text}");
    if std::env::var_os("DUMP").is_some() {
        eprintln!("{text}");
    }
    let ctype = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut child = Command::new(python())
        .arg(root().join("e2e/peers/python/parse_metrics.py"))
        .arg(if openmetrics { "openmetrics" } else { "text" })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (ctype, v["families"].as_array().unwrap().clone())
}

/// The value of the sample `name` whose labels include `labels`; `None`
/// when there is none.
fn sample(families: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families
        .iter()
        .flat_map(|f| f["samples"].as_array().unwrap())
        .find(|s| {
            s["name"] == name
                && labels
                    .iter()
                    .all(|(k, v)| s["labels"].get(*k).and_then(Value::as_str) == Some(*v))
        })
        .map(|s| s["value"].as_f64().unwrap())
}

/// Like [`sample`], 0 when absent.
fn value(families: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(families, name, labels).unwrap_or(0.0)
}

#[test]
fn a_scrape_counts_what_was_sent() {
    let (_peer, live) = counter_server("metrics", 0);
    let dead = format!("127.0.0.1:{}", free_port());
    let config = [
        "builtin_hello = false\n".to_string(),
        backend("m", &[&live], ""),
        backend("d", &[&dead], ""),
        backend(
            "r",
            &[&dead, &live],
            "[backends.balance]\npolicy = \"round_robin\"",
        ),
        backend("l", &[&live], "[backends.limit]\nrate_per_s = 1\nburst = 1"),
    ]
    .concat();
    let gw = Gateway::start(&config, &[]);

    let ok_body = json!({"key": "k"}).to_string();
    let mut sent_bytes = 0;
    for _ in 0..5 {
        let (s, v) = gw.post("/m/bump", &ok_body);
        assert_eq!(s, 200, "{v}");
        sent_bytes += ok_body.len();
    }
    for _ in 0..2 {
        let (s, v) = gw.post("/m/bump", "{not json");
        assert_eq!(s, 400, "{v}");
        sent_bytes += "{not json".len();
    }
    for _ in 0..3 {
        assert_eq!(gw.get("/no/such/route").0, 404);
    }
    for _ in 0..2 {
        let (s, v) = gw.post("/d/bump", &ok_body);
        assert_eq!(s, 502, "{v}");
    }
    let (s, v) = gw.post("/m/whoami", &json!({"sleep_ms": 2000}).to_string());
    assert_eq!(s, 504, "{v}");
    // Round robin over a dead and a live endpoint: the calls that start on
    // the dead one go on to the live one (nothing was sent).
    for _ in 0..4 {
        let (s, v) = gw.post("/r/count", &ok_body);
        assert_eq!(s, 200, "{v}");
    }

    // A bucket of one token a second: the second call at once is refused.
    assert_eq!(gw.post("/l/count", &ok_body).0, 200);
    let (s, v) = gw.post("/l/count", &ok_body);
    assert_eq!(s, 429, "{v}");

    let (ctype, f) = scrape(&gw, false);
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let requests = |backend: &str, route: &str, code: &str| {
        value(
            &f,
            "kitegate_requests_total",
            &[("backend", backend), ("route", route), ("code", code)],
        )
    };
    assert_eq!(requests("m", "/m/bump", "200"), 5.0);
    assert_eq!(requests("m", "/m/bump", "400"), 2.0);
    assert_eq!(requests("", "", "404"), 3.0);
    assert_eq!(requests("d", "/d/bump", "502"), 2.0);
    assert_eq!(requests("m", "/m/whoami", "504"), 1.0);
    assert_eq!(requests("r", "/r/count", "200"), 4.0);
    let method = |m: &str| sample(&f, "kitegate_requests_total", &[("method", m)]);
    assert!(method("Counter.bump").is_some(), "method label");

    // The whole exchange: one observation per request.
    let duration_count = |route: &str| {
        value(
            &f,
            "kitegate_request_duration_seconds_count",
            &[("route", route)],
        )
    };
    assert_eq!(duration_count("/m/bump"), 7.0);
    assert_eq!(duration_count("/m/whoami"), 1.0);
    assert_eq!(duration_count(""), 3.0);
    let inf = value(
        &f,
        "kitegate_request_duration_seconds_bucket",
        &[("route", "/m/whoami"), ("le", "+Inf")],
    );
    assert_eq!(inf, 1.0);
    let below_250ms = value(
        &f,
        "kitegate_request_duration_seconds_bucket",
        &[("route", "/m/whoami"), ("le", "0.25")],
    );
    assert_eq!(below_250ms, 0.0, "the 504 took the 300 ms timeout");
    assert_eq!(
        value(
            &f,
            "kitegate_request_bytes_total",
            &[("backend", "m"), ("route", "/m/bump")]
        ),
        sent_bytes as f64
    );
    assert!(
        value(
            &f,
            "kitegate_response_bytes_total",
            &[("backend", "m"), ("route", "/m/bump")]
        ) > 0.0
    );

    // Per try: the 5 calls that reached the peer, the 400s never left.
    let tries = |backend: &str, endpoint: &str, method: &str, outcome: &str| {
        value(
            &f,
            "kitegate_backend_duration_seconds_count",
            &[
                ("backend", backend),
                ("endpoint", endpoint),
                ("method", method),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(tries("m", &live, "Counter.bump", "ok"), 5.0);
    assert_eq!(tries("m", &live, "Counter.whoami", "timeout"), 1.0);
    assert_eq!(tries("d", &dead, "Counter.bump", "unavailable"), 2.0);
    assert_eq!(tries("r", &live, "Counter.count", "ok"), 4.0);
    let on_dead = tries("r", &dead, "Counter.count", "unavailable");
    assert!(
        on_dead >= 1.0,
        "round robin put some calls on the dead endpoint"
    );
    assert_eq!(
        value(
            &f,
            "kitegate_backend_retries_total",
            &[
                ("backend", "r"),
                ("method", "Counter.count"),
                ("reason", "connect")
            ]
        ),
        on_dead,
        "each try on the dead endpoint was followed by one more"
    );

    assert_eq!(
        value(
            &f,
            "kitegate_rate_limited_total",
            &[("backend", "l"), ("route", "/l/count")]
        ),
        1.0
    );
    assert_eq!(requests("l", "/l/count", "429"), 1.0);

    // State read at scrape time.
    assert_eq!(value(&f, "kitegate_backends", &[]), 4.0);
    assert_eq!(value(&f, "kitegate_routes", &[]), 12.0);
    // Both accept loops and the connection of this scrape, at least.
    assert!(value(&f, "kitegate_runtime_tasks", &[]) >= 3.0);
    assert_eq!(
        value(
            &f,
            "kitegate_endpoint_state",
            &[("backend", "m"), ("endpoint", &live), ("state", "healthy")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &f,
            "kitegate_backend_inflight",
            &[("backend", "m"), ("endpoint", &live)]
        ),
        0.0
    );
    let open = |backend: &str, endpoint: &str| {
        value(
            &f,
            "kitegate_backend_connections",
            &[("backend", backend), ("endpoint", endpoint)],
        )
    };
    assert!(open("m", &live) >= 1.0, "an idle pooled connection");
    assert_eq!(open("d", &dead), 0.0);
    assert!(
        sample(
            &f,
            "kitegate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        )
        .is_some()
    );

    // Registrations through the admin API, by result.
    let (s, _) = gw.admin_call("PUT", "/admin/backends/broken", Some("{"), &[]);
    assert_eq!(s, 400);
    let good = json!({"protocol": "thrift", "transport": "framed", "endpoints": [live],
        "prefix": "/added",
        "files": {"counter.thrift": std::fs::read_to_string(repo_path("e2e/idl/counter.thrift")).unwrap()}});
    let (s, v) = gw.admin_call(
        "PUT",
        "/admin/backends/added",
        Some(&good.to_string()),
        &[("content-type", "application/json")],
    );
    assert_eq!(s, 201, "{v}");

    // The same counters in OpenMetrics, read by the strict parser.
    let (ctype, om) = scrape(&gw, true);
    assert!(
        ctype.starts_with("application/openmetrics-text; version=1.0.0"),
        "{ctype}"
    );
    assert_eq!(
        value(
            &om,
            "kitegate_requests_total",
            &[("backend", "m"), ("route", "/m/bump"), ("code", "200")]
        ),
        5.0
    );
    assert_eq!(
        value(
            &om,
            "kitegate_registrations_total",
            &[("result", "rejected")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &om,
            "kitegate_registrations_total",
            &[("result", "created")]
        ),
        1.0
    );
    assert_eq!(value(&om, "kitegate_backends", &[]), 5.0);
}

#[test]
fn metrics_off_answers_404_and_serves_requests() {
    let (_peer, live) = counter_server("metrics-off", 0);
    let config = [
        "builtin_hello = false\nmetrics = false\n".to_string(),
        backend("m", &[&live], ""),
    ]
    .concat();
    let gw = Gateway::start(&config, &[]);
    let (s, v) = gw.post("/m/bump", &json!({"key": "k"}).to_string());
    assert_eq!(s, 200, "{v}");
    let (s, v) = gw.admin_call("GET", "/metrics", None, &[]);
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"]["code"], "not_found", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("metrics = false")),
        "{v}"
    );
}
