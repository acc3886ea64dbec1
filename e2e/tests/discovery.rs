//! Endpoint discovery against real registries and real services: CloudWeGo
//! Kitex servers that register themselves in etcd (kitex-contrib/
//! registry-etcd) and in ZooKeeper (kitex-contrib/registry-zookeeper), and
//! DNS names re-resolved through the system resolver.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use e2e::stores::{Etcd, ZooKeeper};
use e2e::{Gateway, TempDir, kitex_registered, repo_path};
use serde_json::Value;

/// Polls `f` every 50 ms until it holds or `within` passes.
fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The backend's endpoint addresses as the admin API shows them, sorted.
fn endpoints(gw: &Gateway, backend: &str) -> Vec<String> {
    let (status, v) = gw.admin_call("GET", &format!("/admin/backends/{backend}"), None, &[]);
    assert_eq!(status, 200, "{v}");
    let mut eps: Vec<String> = v["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e {
            Value::String(s) => s.clone(),
            other => other["addr"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    eps.sort();
    eps
}

fn discovery(gw: &Gateway, backend: &str) -> Value {
    gw.admin_call("GET", &format!("/admin/backends/{backend}"), None, &[])
        .1["discovery"]
        .clone()
}

fn whoami(gw: &Gateway, prefix: &str) -> (u16, Value) {
    gw.post(&format!("{prefix}/whoami"), r#"{"sleep_ms":0}"#)
}

fn metrics(gw: &Gateway) -> String {
    let (s, v) = gw.admin_call("GET", "/metrics", None, &[]);
    assert_eq!(s, 200);
    v.as_str().unwrap_or_default().to_string()
}

fn backend_toml(name: &str, prefix: &str, transport: &str, discovery: &str) -> String {
    format!(
        r#"
[[backends]]
name = "{name}"
protocol = "thrift"
transport = "{transport}"
idl = "{idl}"
prefix = "{prefix}"
discovery = {discovery}
[backends.retry]
max_attempts = 3
on = ["connect", "unavailable"]
"#,
        idl = repo_path("e2e/idl/counter.thrift"),
    )
}

#[test]
fn kitex_servers_in_etcd_are_discovered_followed_and_drained() {
    let mut etcd = Etcd::start(1);
    let eps = etcd.toml_endpoints();
    let reg = format!("etcd://{}", etcd.endpoints().join(","));
    let config = format!(
        "builtin_hello = false\n{}{}",
        backend_toml(
            "counter",
            "/c",
            "ttheader",
            &format!(r#"{{ kind = "etcd", endpoints = {eps}, service = "counter" }}"#)
        ),
        backend_toml(
            "counter-z1",
            "/z1",
            "ttheader",
            &format!(
                r#"{{ kind = "etcd", endpoints = {eps}, service = "counter", tags = {{ zone = "z1" }} }}"#
            )
        ),
    );
    // The gateway starts before any server registered: no endpoints yet.
    let gw = Gateway::start(&config, &[]);
    assert!(endpoints(&gw, "counter").is_empty());
    assert_eq!(discovery(&gw, "counter")["reachable"], true);
    let (status, v) = whoami(&gw, "/c");
    assert_eq!(status, 503, "{v}");

    let (mut a, a_addr) = kitex_registered("a", &reg, "counter", "zone=z1");
    wait_until(
        "a in etcd, then in the balancer",
        Duration::from_secs(10),
        || endpoints(&gw, "counter") == vec![a_addr.clone()],
    );
    assert_eq!(whoami(&gw, "/c"), (200, Value::from("a")));
    // What Kitex wrote is what the gateway read.
    let stored = etcd.ctl(&["get", "--prefix", "kitex/registry-etcd/counter/"]);
    assert!(
        stored.contains(&format!("kitex/registry-etcd/counter/{a_addr}")),
        "{stored}"
    );
    assert!(stored.contains(r#""weight":10"#), "{stored}");

    let (_b, b_addr) = kitex_registered("b", &reg, "counter", "zone=z2");
    let mut both = vec![a_addr.clone(), b_addr.clone()];
    both.sort();
    wait_until("b added", Duration::from_secs(10), || {
        endpoints(&gw, "counter") == both
    });
    // The tag filter keeps b out of counter-z1.
    wait_until("counter-z1 sees a", Duration::from_secs(10), || {
        endpoints(&gw, "counter-z1") == vec![a_addr.clone()]
    });
    let names: std::collections::BTreeSet<String> = (0..20)
        .map(|_| whoami(&gw, "/c").1.as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // Traffic while a leaves: its SIGTERM deregisters it; every idempotent
    // call succeeds, on b once the gateway has seen the change.
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let base = gw.base.clone();
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, failed, calls, base) =
                (stop.clone(), failed.clone(), calls.clone(), base.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match e2e::http(
                        "POST",
                        &format!("{base}/c/whoami"),
                        Some(r#"{"sleep_ms":5}"#),
                        &[],
                    ) {
                        Ok((200, _, _)) => {}
                        other => {
                            eprintln!("failed call: {other:?}");
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    a.stop();
    wait_until("a drained", Duration::from_secs(5), || {
        endpoints(&gw, "counter") == vec![b_addr.clone()]
    });
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    assert!(calls.load(Ordering::Relaxed) > 20);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "idempotent calls failed while a left"
    );
    assert_eq!(whoami(&gw, "/c"), (200, Value::from("b")));
    wait_until("counter-z1 empty", Duration::from_secs(5), || {
        endpoints(&gw, "counter-z1").is_empty()
    });

    let m = metrics(&gw);
    assert!(
        m.contains(r#"kitegate_discovery_up{backend="counter",kind="etcd"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"kitegate_discovery_endpoints{backend="counter",kind="etcd"} 1"#),
        "{m}"
    );

    // etcd gone: the last set stays, traffic goes on, and it is reported.
    etcd.kill_all();
    wait_until("etcd reported unreachable", Duration::from_secs(15), || {
        discovery(&gw, "counter")["reachable"] == false
    });
    assert_eq!(endpoints(&gw, "counter"), vec![b_addr.clone()]);
    assert_eq!(whoami(&gw, "/c"), (200, Value::from("b")));
    let m = metrics(&gw);
    assert!(
        m.contains(r#"kitegate_discovery_up{backend="counter",kind="etcd"} 0"#),
        "{m}"
    );
    let d = discovery(&gw, "counter");
    assert!(
        d["error"].as_str().is_some_and(|e| e.contains("etcd")),
        "{d}"
    );

    // Back: followed again (b's key is still there, under its live lease).
    etcd.start_member(0);
    etcd.wait_healthy(0);
    wait_until("etcd reachable again", Duration::from_secs(15), || {
        discovery(&gw, "counter")["reachable"] == true
    });
    let (_c, c_addr) = kitex_registered("c", &reg, "counter", "");
    let mut bc = vec![b_addr.clone(), c_addr.clone()];
    bc.sort();
    wait_until("c added after the outage", Duration::from_secs(10), || {
        endpoints(&gw, "counter") == bc
    });
}

#[test]
fn a_registration_with_discovery_is_checked_and_followed() {
    let etcd = Etcd::start(1);
    let gw = Gateway::start("builtin_hello = false\n", &[]);
    let idl = std::fs::read_to_string(repo_path("e2e/idl/counter.thrift")).unwrap();
    let reg = |discovery: Value, endpoints: Option<Value>| {
        let mut v = serde_json::json!({
            "protocol": "thrift",
            "transport": "ttheader",
            "prefix": "/r",
            "discovery": discovery,
            "files": {"counter.thrift": idl},
        });
        if let Some(e) = endpoints {
            v["endpoints"] = e;
        }
        gw.admin_call("PUT", "/admin/backends/reg", Some(&v.to_string()), &[])
    };
    // Refused before anything runs: both sources, an unknown kind, a bad field.
    let (s, v) = reg(
        serde_json::json!({"kind": "dns", "name": "localhost:1"}),
        Some(serde_json::json!(["127.0.0.1:1"])),
    );
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("not both"),
        "{v}"
    );
    let (s, v) = reg(serde_json::json!({"kind": "consul", "service": "x"}), None);
    assert_eq!(s, 400, "{v}");
    let (s, v) = reg(
        serde_json::json!({"kind": "etcd", "endpoints": etcd.endpoints(), "service": "a/b"}),
        None,
    );
    assert_eq!(s, 400, "{v}");

    let url = format!("etcd://{}", etcd.endpoints().join(","));
    let (_a, a_addr) = kitex_registered("a", &url, "reg-svc", "");
    wait_until("a registered", Duration::from_secs(10), || {
        etcd.ctl(&[
            "get",
            "--prefix",
            "--keys-only",
            "kitex/registry-etcd/reg-svc/",
        ])
        .contains(&a_addr)
    });
    // Registered with its first answer in: served at once.
    let (s, v) = reg(
        serde_json::json!({"kind": "etcd", "endpoints": etcd.endpoints(), "service": "reg-svc"}),
        None,
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["backend"]["endpoints"][0]["addr"], a_addr.as_str(), "{v}");
    assert_eq!(v["backend"]["discovery"]["kind"], "etcd", "{v}");
    assert_eq!(whoami(&gw, "/r"), (200, Value::from("a")));

    // Restarted, the stored registration follows the registry again.
    let dir: TempDir = gw.stop();
    let gw = Gateway::start_in(dir, "builtin_hello = false\n", &[]);
    wait_until("restored and discovered", Duration::from_secs(10), || {
        endpoints(&gw, "reg") == vec![a_addr.clone()]
    });
    assert_eq!(whoami(&gw, "/r"), (200, Value::from("a")));
}

#[test]
fn kitex_servers_in_zookeeper_are_discovered_and_removed() {
    let zk = ZooKeeper::start();
    let config = format!(
        "builtin_hello = false\n{}",
        backend_toml(
            "zk",
            "/zk",
            "ttheader",
            &format!(
                r#"{{ kind = "zookeeper-kitex", endpoints = ["{}"], service = "zk-counter" }}"#,
                zk.addr()
            )
        )
    );
    let gw = Gateway::start(&config, &[]);
    let url = format!("zookeeper://{}", zk.addr());
    let (mut a, a_addr) = kitex_registered("a", &url, "zk-counter", "");
    wait_until(
        "a in ZooKeeper, then in the balancer",
        Duration::from_secs(15),
        || endpoints(&gw, "zk") == vec![a_addr.clone()],
    );
    assert_eq!(whoami(&gw, "/zk"), (200, Value::from("a")));
    let (_b, b_addr) = kitex_registered("b", &url, "zk-counter", "");
    let mut both = vec![a_addr.clone(), b_addr.clone()];
    both.sort();
    wait_until("b added", Duration::from_secs(15), || {
        endpoints(&gw, "zk") == both
    });
    a.stop();
    wait_until("a removed", Duration::from_secs(10), || {
        endpoints(&gw, "zk") == vec![b_addr.clone()]
    });
    assert_eq!(whoami(&gw, "/zk"), (200, Value::from("b")));
    let d = discovery(&gw, "zk");
    assert_eq!(d["kind"], "zookeeper-kitex", "{d}");
    assert_eq!(d["reachable"], true, "{d}");
}

#[test]
fn dubbo_providers_in_zookeeper_are_discovered_and_removed() {
    let zk = ZooKeeper::start();
    let backend = |name: &str, options: &str| {
        format!(
            "[[backends]]\nname = \"{name}\"\nprotocol = \"dubbo\"\nidl = \"{}\"\n\
             prefix = \"/{name}\"\ndiscovery = {{ kind = \"zookeeper\", endpoints = [\"{}\"], \
             service = \"com.kitegate.e2e.api.Counter\" }}\n\
             [backends.options]\n{options}\n\
             [backends.retry]\nmax_attempts = 3\non = [\"connect\", \"unavailable\"]\n",
            repo_path("e2e/idl/counter_dubbo.thrift"),
            zk.addr()
        )
    };
    // The provider's group and version, which its calls carry, also pick
    // the providers discovered (as Dubbo's consumers match them).
    let config = format!(
        "builtin_hello = false\n{}{}",
        backend("plain", ""),
        backend("blue", "dubbo_group = \"blue\"\ndubbo_version = \"1.0.0\""),
    );
    let gw = Gateway::start(&config, &[]);
    let ping = |name: &str| gw.post(&format!("/{name}/Counter/whoami"), r#"{"sleepMs":0}"#);
    let (mut plain, plain_addr) = e2e::dubbo_registered(&zk.addr(), &[]);
    let (_blue, blue_addr) = e2e::dubbo_registered(
        &zk.addr(),
        &["--group", "blue", "--version", "1.0.0", "--weight", "50"],
    );
    wait_until("the plain provider alone", Duration::from_secs(20), || {
        endpoints(&gw, "plain") == vec![plain_addr.clone()]
    });
    wait_until("the blue provider alone", Duration::from_secs(20), || {
        endpoints(&gw, "blue") == vec![blue_addr.clone()]
    });
    // The URL's weight is the endpoint's.
    let (s, v) = gw.admin_call("GET", "/admin/backends/blue", None, &[]);
    assert_eq!(s, 200);
    assert_eq!(v["endpoints"][0]["weight"], 50, "{v}");
    let port = |addr: &str| Value::from(addr.rsplit(':').next().unwrap());
    assert_eq!(ping("plain"), (200, port(&plain_addr)));
    assert_eq!(ping("blue"), (200, port(&blue_addr)));
    // A provider killed outright leaves when its session expires (3 s).
    plain.kill9();
    let gone = Instant::now();
    wait_until(
        "the killed provider removed",
        Duration::from_secs(15),
        || endpoints(&gw, "plain").is_empty(),
    );
    assert!(
        gone.elapsed() < Duration::from_secs(10),
        "{:?}",
        gone.elapsed()
    );
    assert_eq!(ping("plain").0, 503);
    assert_eq!(ping("blue"), (200, port(&blue_addr)));
    assert_eq!(discovery(&gw, "plain")["reachable"], true);
}

/// The gateway runs in its own mount namespace with a hosts file of the
/// test's over /etc/hosts, so the name's address can change under it.
#[test]
fn dns_discovery_follows_a_changed_address() {
    let dir = TempDir::new("dns");
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 counter.kitegate.test\n").unwrap();
    let port = e2e::free_port();
    let (_v4, _) = e2e::counter_server("v4", port);
    let (_v6, _) = e2e::counter_server_on("::1", "v6", port);
    let config = format!(
        "builtin_hello = false\n{}",
        backend_toml(
            "dns",
            "/d",
            "framed",
            &format!(
                r#"{{ kind = "dns", name = "counter.kitegate.test:{port}", refresh_ms = 200 }}"#
            )
        )
    );
    let script = format!("mount --bind {} /etc/hosts && exec \"$@\"", hosts.display());
    let gw = Gateway::start_wrapped(
        TempDir::new("gw"),
        &config,
        &[],
        &["unshare", "--mount", "sh", "-c", &script, "kitegate"],
    );
    wait_until("the v4 address", Duration::from_secs(10), || {
        endpoints(&gw, "dns") == vec![format!("127.0.0.1:{port}")]
    });
    assert_eq!(whoami(&gw, "/d"), (200, Value::from("v4")));
    // Written in place: the bind mount holds this file's inode.
    std::fs::write(&hosts, "::1 counter.kitegate.test\n").unwrap();
    wait_until("the v6 address", Duration::from_secs(10), || {
        endpoints(&gw, "dns") == vec![format!("[::1]:{port}")]
    });
    assert_eq!(whoami(&gw, "/d"), (200, Value::from("v6")));
    // A name that stops resolving keeps the last set.
    std::fs::write(&hosts, "# nothing\n").unwrap();
    wait_until("reported unresolvable", Duration::from_secs(10), || {
        discovery(&gw, "dns")["reachable"] == false
    });
    assert_eq!(endpoints(&gw, "dns"), vec![format!("[::1]:{port}")]);
    assert_eq!(whoami(&gw, "/d"), (200, Value::from("v6")));
}
