//! Cluster mode on a real three-member etcd cluster (Debian's etcd-server):
//! three gateways share every registration through the store, see a
//! rollback made through any of them, keep serving with a member killed,
//! catch up after a restart, serialize concurrent writers (409), store a
//! 3 MiB IDL past etcd's 1.5 MiB request limit, and refuse to start
//! without the store.

use std::time::{Duration, Instant};

use e2e::stores::Etcd;
use e2e::{Gateway, counter_server, free_port, kitegate, refused_config, repo_path};
use serde_json::{Value, json};

fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    t0.elapsed()
}

fn whoami(gw: &Gateway, prefix: &str) -> (u16, Value) {
    gw.post(&format!("{prefix}/whoami"), r#"{"sleep_ms":0}"#)
}

/// A registration of the counter service at `endpoint` under `prefix`.
fn counter_registration(endpoint: &str, prefix: &str) -> String {
    json!({
        "protocol": "thrift",
        "transport": "framed",
        "endpoints": [endpoint],
        "prefix": prefix,
        "files": {"counter.thrift": std::fs::read_to_string(repo_path("e2e/idl/counter.thrift")).unwrap()},
    })
    .to_string()
}

fn put(gw: &Gateway, name: &str, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    gw.admin_call(
        "PUT",
        &format!("/admin/backends/{name}"),
        Some(body),
        headers,
    )
}

fn version(gw: &Gateway, name: &str) -> Option<u64> {
    let (s, v) = gw.admin_call("GET", &format!("/admin/backends/{name}"), None, &[]);
    (s == 200).then(|| v["version"].as_u64()).flatten()
}

fn cli(gw: &Gateway, args: &[&str]) -> String {
    let args: Vec<&str> = args.iter().copied().chain(["--admin", &gw.admin]).collect();
    let (code, out, err) = kitegate(&args);
    assert_eq!(code, 0, "kitegate {args:?}: {err}");
    out
}

fn gateway(store: &str) -> Gateway {
    Gateway::start(
        &format!("builtin_hello = false\nstore = \"{store}\"\n"),
        &[],
    )
}

#[test]
fn three_gateways_share_versioned_registrations_on_three_etcd_members() {
    let mut etcd = Etcd::start(3);
    let store = format!("etcd://{}/kitegate-e2e", etcd.endpoints().join(","));
    let (_one, one) = counter_server("one", 0);
    let (_two, two) = counter_server("two", 0);
    let a = gateway(&store);
    let b = gateway(&store);
    let mut c = gateway(&store);

    // A registration through A serves on B and C within 1 s.
    let (s, v) = put(&a, "counter", &counter_registration(&one, "/c"), &[]);
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["backend"]["version"], 1, "{v}");
    for (name, gw) in [("B", &b), ("C", &c)] {
        let took = wait_until(
            &format!("{name} serving /c"),
            Duration::from_secs(1),
            || whoami(gw, "/c") == (200, Value::from("one")),
        );
        eprintln!("registration on A served on {name} after {took:?}");
        assert_eq!(version(gw, "counter"), Some(1));
    }
    assert_eq!(whoami(&a, "/c"), (200, Value::from("one")));

    // A change through B (version 2), then a rollback through C's CLI.
    let (s, v) = put(&b, "counter", &counter_registration(&two, "/c"), &[]);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["backend"]["version"], 2, "{v}");
    for gw in [&a, &b, &c] {
        wait_until("version 2 everywhere", Duration::from_secs(1), || {
            whoami(gw, "/c") == (200, Value::from("two"))
        });
    }
    let said = cli(&c, &["rollback", "counter"]);
    assert!(
        said.contains("rolled back to version 1, written as version 3"),
        "{said}"
    );
    for gw in [&a, &b, &c] {
        wait_until("the rollback everywhere", Duration::from_secs(1), || {
            whoami(gw, "/c") == (200, Value::from("one")) && version(gw, "counter") == Some(3)
        });
    }
    let history = cli(&a, &["history", "counter"]);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 4, "{history}");
    assert!(
        lines[3].starts_with("3 *") && lines[3].contains("rollback to 1"),
        "{history}"
    );
    let (s, h) = b.admin_call("GET", "/admin/backends/counter/history", None, &[]);
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["current"], 3);
    assert_eq!(h["versions"][2]["rollback_of"], 1, "{h}");
    assert_eq!(
        h["versions"][0]["settings"]["endpoints"],
        h["versions"][2]["settings"]["endpoints"]
    );

    // A change that fails validation is refused before it is written.
    let bad = json!({"protocol": "thrift", "transport": "framed", "endpoints": [one],
        "files": {"counter.thrift": "service Counter { i64 bump(1: string key) "}})
    .to_string();
    let (s, v) = put(&a, "counter", &bad, &[]);
    assert_eq!(s, 422, "{v}");
    assert_eq!(version(&b, "counter"), Some(3));
    assert!(
        !etcd
            .ctl(&[
                "get",
                "--prefix",
                "--keys-only",
                "/kitegate-e2e/history/counter/"
            ])
            .contains("0000000004")
    );

    // Writers are serialized: a stale If-Match loses with 409, and of
    // several writers racing on one version exactly one wins.
    let (s, v) = put(
        &a,
        "counter",
        &counter_registration(&two, "/c"),
        &[("if-match", "\"2\"")],
    );
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("version_conflict")),
        "{v}"
    );
    let outcomes: Vec<(u16, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let gw = [&a, &b, &c][i % 3];
                let reg = counter_registration(if i % 2 == 0 { &one } else { &two }, "/c");
                s.spawn(move || put(gw, "counter", &reg, &[("if-match", "\"3\"")]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<_> = outcomes.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(won.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|(s, v)| *s == 200 || (*s == 409 && v["error"]["code"] == "version_conflict")),
        "{outcomes:?}"
    );
    // Without If-Match, racing writers each either commit a version of
    // their own or get 409: none is lost silently.
    let outcomes: Vec<(u16, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let gw = [&a, &b, &c][i % 3];
                let reg = counter_registration(&one, "/c");
                s.spawn(move || put(gw, "counter", &reg, &[]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut versions: Vec<u64> = outcomes
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, v)| v["backend"]["version"].as_u64().unwrap())
        .collect();
    versions.sort();
    assert!(
        outcomes.iter().all(|(s, _)| *s == 200 || *s == 409),
        "{outcomes:?}"
    );
    let (_, h) = a.admin_call("GET", "/admin/backends/counter/history", None, &[]);
    let current = h["current"].as_u64().unwrap();
    assert_eq!(current, 4 + versions.len() as u64, "{outcomes:?}");
    assert_eq!(versions, (5..=current).collect::<Vec<_>>());
    for gw in [&a, &b, &c] {
        wait_until(
            "the last version everywhere",
            Duration::from_secs(2),
            || version(gw, "counter") == Some(current),
        );
    }

    // One member killed changes nothing for registrations or traffic.
    etcd.kill(0);
    let (s, v) = put(&c, "second", &counter_registration(&two, "/s"), &[]);
    assert_eq!(s, 201, "a registration with a member down: {v}");
    for gw in [&a, &b, &c] {
        wait_until(
            "a registration with a member down",
            Duration::from_secs(2),
            || whoami(gw, "/s") == (200, Value::from("two")),
        );
        assert_eq!(whoami(gw, "/c"), (200, Value::from("one")));
    }

    // A gateway stopped while a change is made catches up when it comes back.
    let dir = c.stop();
    let (s, v) = a.admin_call("DELETE", "/admin/backends/second", None, &[]);
    assert_eq!(s, 200, "{v}");
    let (s, v) = put(&a, "counter", &counter_registration(&two, "/c2"), &[]);
    assert_eq!(s, 200, "{v}");
    etcd.start_member(0);
    etcd.wait_healthy(0);
    c = Gateway::start_in(
        dir,
        &format!("builtin_hello = false\nstore = \"{store}\"\n"),
        &[],
    );
    assert_eq!(whoami(&c, "/c2"), (200, Value::from("two")));
    assert_eq!(whoami(&c, "/s").0, 404);
    assert_eq!(whoami(&c, "/c").0, 404);
    let (_, cl) = c.admin_call("GET", "/admin/cluster", None, &[]);
    assert_eq!(cl["reachable"], true, "{cl}");
    assert_eq!(cl["errors"], json!({}), "{cl}");

    // A record a gateway cannot build (settings of a later version, written
    // straight into the store) is reported by each gateway and skipped;
    // they keep serving and applying the rest.
    let future = json!({"version": 1, "registration": {"protocol": "thrift",
        "endpoints": [one], "quantum_routing": true}, "written_by": "a later kitegate",
        "written_at_ms": 0})
    .to_string();
    etcd.ctl(&["put", "/kitegate-e2e/backends/future", &future]);
    for gw in [&a, &b, &c] {
        wait_until(
            "the unbuildable record reported",
            Duration::from_secs(2),
            || {
                let (_, cl) = gw.admin_call("GET", "/admin/cluster", None, &[]);
                cl["errors"]["future"]["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("quantum_routing"))
            },
        );
        let (_, list) = gw.admin_call("GET", "/admin/backends", None, &[]);
        assert!(list["store_errors"]["future"].is_object(), "{list}");
        assert_eq!(whoami(gw, "/c2"), (200, Value::from("two")));
    }
    let m = a.admin_call("GET", "/metrics", None, &[]).1;
    assert!(
        m.as_str()
            .unwrap()
            .contains("kitegate_store_apply_errors 1"),
        "{m}"
    );
    let (s, v) = a.admin_call("DELETE", "/admin/backends/future", None, &[]);
    assert_eq!(s, 200, "the store's to remove: {v}");
    for gw in [&a, &b, &c] {
        wait_until("the report cleared", Duration::from_secs(2), || {
            gw.admin_call("GET", "/admin/cluster", None, &[]).1["errors"] == json!({})
        });
    }

    // A gateway cut off from its only member while changes are made and
    // the store is compacted past its revision lists again and catches up.
    let only_m2 = format!("etcd://{}/kitegate-e2e", etcd.endpoints()[2]);
    let d = gateway(&only_m2);
    assert_eq!(whoami(&d, "/c2"), (200, Value::from("two")));
    etcd.kill(2);
    let (s, v) = put(&a, "counter", &counter_registration(&one, "/c3"), &[]);
    assert_eq!(s, 200, "{v}");
    let rev = etcd.ctl(&["get", "/kitegate-e2e/backends/counter", "-w", "json"]);
    let rev: Value = serde_json::from_str(&rev).unwrap();
    let rev = rev["header"]["revision"].as_i64().unwrap().to_string();
    etcd.ctl(&["compact", &rev]);
    wait_until(
        "the cut-off gateway to notice",
        Duration::from_secs(10),
        || d.admin_call("GET", "/admin/cluster", None, &[]).1["reachable"] == false,
    );
    assert_eq!(
        whoami(&d, "/c2"),
        (200, Value::from("two")),
        "served while cut off"
    );
    etcd.start_member(2);
    etcd.wait_healthy(2);
    wait_until(
        "the cut-off gateway catching up",
        Duration::from_secs(15),
        || whoami(&d, "/c3") == (200, Value::from("one")),
    );
    let (_, cl) = d.admin_call("GET", "/admin/cluster", None, &[]);
    assert_eq!(cl["reachable"], true, "{cl}");
    assert!(cl["relists"].as_u64().unwrap() >= 1, "{cl}");
    let m = d.admin_call("GET", "/metrics", None, &[]).1;
    assert!(m.as_str().unwrap().contains("kitegate_store_up 1"), "{m}");

    // A 3 MiB IDL is stored in chunks under etcd's 1.5 MiB request limit.
    let mut big = std::fs::read_to_string(repo_path("e2e/idl/counter.thrift")).unwrap();
    let doc = format!("// {}\n", "x".repeat(1500));
    let mut i = 0;
    while big.len() < 3 << 20 {
        big.push_str(&doc);
        big.push_str(&format!("struct Filler{i} {{ 1: string note }}\n"));
        i += 1;
    }
    let reg = json!({"protocol": "thrift", "transport": "framed", "endpoints": [one],
        "prefix": "/big", "files": {"big.thrift": big}})
    .to_string();
    let t0 = Instant::now();
    let (s, v) = put(&b, "big", &reg, &[]);
    assert_eq!(s, 201, "{v}");
    eprintln!("3 MiB registration took {:?}", t0.elapsed());
    for gw in [&a, &c] {
        let took = wait_until("the 3 MiB IDL everywhere", Duration::from_secs(30), || {
            whoami(gw, "/big") == (200, Value::from("one"))
        });
        eprintln!("3 MiB registration served after {took:?}");
    }
    let chunks = etcd.ctl(&["get", "--prefix", "--keys-only", "/kitegate-e2e/idl/"]);
    assert!(
        chunks.lines().filter(|l| !l.is_empty()).count() >= 4,
        "{chunks}"
    );
}

#[test]
fn a_gateway_whose_store_does_not_answer_does_not_start() {
    let dead = free_port();
    let t0 = Instant::now();
    let (code, err) = refused_config(&format!(
        "listen = \"127.0.0.1:{}\"\nadmin_listen = \"127.0.0.1:{}\"\nbuiltin_hello = false\nstore = \"etcd://127.0.0.1:{dead}/x\"\n",
        free_port(),
        free_port()
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("etcd://127.0.0.1:{dead}/x")), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(30));
}

/// The time from a registration's PUT answer on one gateway to the first
/// request served by another, over 20 registrations (run by
/// `e2e/bench/cluster.sh`).
#[test]
#[ignore]
fn propagation_timing() {
    let etcd = Etcd::start(3);
    let store = format!("etcd://{}/kitegate-bench", etcd.endpoints().join(","));
    let (_one, one) = counter_server("one", 0);
    let a = gateway(&store);
    let b = gateway(&store);
    let mut took = Vec::new();
    for i in 0..20 {
        let prefix = format!("/p{i}");
        let (s, v) = put(
            &a,
            &format!("b{i}"),
            &counter_registration(&one, &prefix),
            &[],
        );
        assert_eq!(s, 201, "{v}");
        let t0 = Instant::now();
        while whoami(&b, &prefix).0 != 200 {
            assert!(t0.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_micros(500));
        }
        took.push(t0.elapsed());
    }
    took.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "PROPAGATION n=20 median_ms={:.2} min_ms={:.2} max_ms={:.2}",
        ms(took[10]),
        ms(took[0]),
        ms(took[19])
    );
}
