//! Traffic management under faults, end to end: the gateway in front of
//! thriftpy2 counter peers (`rich_server.py --service Counter`), with a
//! toxic proxy between them. The peer counts every call it ran, so each
//! fault is checked for lost and duplicated calls as well as statuses.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use e2e::toxic::{Fault, Toxic};
use e2e::{
    Gateway, counter_server, dubbo_provider, free_port, grpc_counter_server, kitex_counter_server,
    repo_path,
};
use serde_json::{Value, json};

/// A config backend `name` of the counter IDL over `endpoints` (TOML
/// array items), with more TOML after it.
fn backend(name: &str, endpoints: &[String], extra: &str) -> String {
    backend_over(name, endpoints, "framed", extra)
}

/// [`backend`] over another Thrift transport.
fn backend_over(name: &str, endpoints: &[String], transport: &str, extra: &str) -> String {
    let eps: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        "[[backends]]\nname = \"{name}\"\nprotocol = \"thrift\"\ntransport = \"{transport}\"\n\
         endpoints = [{}]\nidl = \"{}\"\nprefix = \"/{name}\"\ntimeout_ms = 600\n{extra}\n",
        eps.join(", "),
        repo_path("e2e/idl/counter.thrift")
    )
}

fn bump(gw: &Gateway, prefix: &str, key: &str) -> (u16, Value) {
    gw.post(
        &format!("/{prefix}/bump"),
        &json!({ "key": key }).to_string(),
    )
}

fn count(gw: &Gateway, prefix: &str, key: &str) -> i64 {
    let (s, v) = gw.post(
        &format!("/{prefix}/count"),
        &json!({ "key": key }).to_string(),
    );
    assert_eq!(s, 200, "{v}");
    v.as_i64().unwrap_or_else(|| panic!("a count: {v}"))
}

fn whoami(gw: &Gateway, prefix: &str, sleep_ms: u32) -> (u16, Value) {
    gw.post(
        &format!("/{prefix}/whoami"),
        &json!({ "sleep_ms": sleep_ms }).to_string(),
    )
}

/// Each fault under a bounded load of non-idempotent calls: the statuses it
/// must give, no call lost or run twice (the peer's count), and recovery
/// within 1 s of the fault clearing.
#[test]
fn every_fault_gets_its_status_and_no_call_is_lost_or_run_twice() {
    let (_peer, peer) = counter_server("solo", 0);
    thrift_fault_matrix(&peer, "framed");
}

/// The same against a CloudWeGo Kitex server, over TTHeader.
#[test]
fn kitex_faults_get_their_status_and_no_call_is_lost_or_run_twice() {
    let (_peer, peer) = kitex_counter_server("kitex", 0);
    thrift_fault_matrix(&peer, "ttheader");
}

fn thrift_fault_matrix(peer: &str, transport: &str) {
    let toxic = Toxic::start(peer);
    // Retries are on for every class: a non-idempotent call must still
    // never be sent again once it may have reached the peer.
    let retries = "[backends.retry]\nmax_attempts = 3\nmin_retries_per_s = 100\n\
                   on = [\"connect\", \"unavailable\", \"timeout\", \"bad_reply\"]";
    let gw = Gateway::start(
        &backend_over("c", &[toxic.addr().to_string()], transport, retries),
        &[],
    );
    let cases = fault_cases(false, true);
    let peer = Peer {
        bump: &|key| bump(&gw, "c", key),
        ping: &|| whoami(&gw, "c", 0),
        count: &|key| count(&gw, "c", key),
    };
    run_faults(&toxic, &cases, 8, &peer);
}

/// A fault case: its name, the fault, the statuses it may give (`"200"` or
/// error codes), and whether the calls reach the peer (`None`: either).
type Case = (&'static str, Fault, &'static [&'static str], Option<bool>);

/// The fault matrix. `multiplexed`: one connection carries every call
/// (gRPC, Dubbo), and one that stops answering is closed after a probe, so
/// a call still on it may end 502. `exact`: whether the peer's count is
/// known (a grpcio server may or may not run a call whose connection is
/// reset right after it).
fn fault_cases(multiplexed: bool, exact: bool) -> Vec<Case> {
    let (gone, silent): (&'static [&'static str], &'static [&'static str]) = if multiplexed {
        (
            &["bad_gateway", "backend_unavailable"],
            &["backend_timeout", "bad_gateway"],
        )
    } else {
        (&["bad_gateway"], &["backend_timeout"])
    };
    let reach = |r: bool| exact.then_some(r);
    let drip = Duration::from_millis(if multiplexed { 1 } else { 3 });
    vec![
        ("none", Fault::None, &["200"], Some(true)),
        (
            "latency",
            Fault::Latency(Duration::from_millis(100)),
            &["200"],
            Some(true),
        ),
        ("slow_drip", Fault::SlowDrip(drip), &["200"], Some(true)),
        (
            "reset_before",
            Fault::ResetBefore,
            &["bad_gateway", "backend_unavailable"],
            reach(false),
        ),
        ("reset_after", Fault::ResetAfter, gone, reach(true)),
        ("half_open", Fault::HalfOpen, silent, reach(true)),
        ("blackhole", Fault::Blackhole, silent, reach(false)),
        ("garbage", Fault::Garbage, gone, reach(false)),
    ]
}

/// How a fault matrix reaches a counter peer through the gateway.
struct Peer<'a> {
    /// One non-idempotent call that counts under `key`.
    bump: &'a dyn Fn(&str) -> (u16, Value),
    /// One idempotent call.
    ping: &'a dyn Fn() -> (u16, Value),
    /// The peer's count under `key`.
    count: &'a dyn Fn(&str) -> i64,
}

/// Each case in turn: the fault under `n` bumps at about 20 a second, each
/// answering one of its statuses (`"200"` or an error code); recovery
/// within 1 s of the fault clearing; and the peer's count: `n` when the
/// calls reach it, 0 when not, and when that may go either way (a
/// multiplexed connection closed under a call) at most `n` and at least the
/// calls answered 200. Never more: no call ran twice.
fn run_faults(toxic: &Toxic, cases: &[Case], n: i64, peer: &Peer) {
    // The peer answers before any fault (a JVM's first calls can be slow).
    let up = Instant::now();
    while (peer.ping)().0 != 200 {
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "the peer never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (name, fault, want, reaches) in cases {
        toxic.set(*fault);
        let mut ok = 0;
        for i in 0..n {
            let (s, v) = (peer.bump)(name);
            let got = if s == 200 {
                ok += 1;
                "200".to_string()
            } else {
                v["error"]["code"].as_str().unwrap_or("?").to_string()
            };
            assert!(want.contains(&got.as_str()), "{name} call {i}: {s} {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
        toxic.set(Fault::None);
        let cleared = Instant::now();
        loop {
            let (s, v) = (peer.ping)();
            if s == 200 {
                break;
            }
            assert!(
                cleared.elapsed() < Duration::from_secs(1),
                "{name}: no recovery within 1 s: {s} {v}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let ran = (peer.count)(name);
        match reaches {
            Some(true) => assert_eq!(ran, n, "{name}: the peer ran {ran} of {n} calls"),
            Some(false) => assert_eq!(ran, 0, "{name}: the peer ran {ran} calls"),
            None => assert!(
                (ok..=n).contains(&ran),
                "{name}: {ok} answered, the peer ran {ran} of {n}"
            ),
        }
    }
}

/// Idempotent calls go to the healthy endpoint when the other one fails in
/// any way; every call answers 200.
#[test]
fn idempotent_calls_survive_every_fault_of_one_endpoint() {
    let (_a, a) = counter_server("a", 0);
    let (_b, b) = counter_server("b", 0);
    let toxic = Toxic::start(&a);
    let gw = Gateway::start(
        &backend(
            "c",
            &[toxic.addr().to_string(), b],
            "[backends.balance]\npolicy = \"round_robin\"\n\
             [backends.retry]\nmax_attempts = 2\nattempt_timeout_ms = 200\n\
             on = [\"connect\", \"unavailable\", \"timeout\", \"bad_reply\"]\nmin_retries_per_s = 100",
        ),
        &[],
    );
    for fault in [
        Fault::ResetBefore,
        Fault::ResetAfter,
        Fault::HalfOpen,
        Fault::Blackhole,
        Fault::Garbage,
    ] {
        toxic.set(fault);
        for i in 0..6 {
            let (s, v) = whoami(&gw, "c", 0);
            assert_eq!(s, 200, "{fault:?} call {i}: {v}");
        }
    }
}

/// One of three endpoints killed under load: no idempotent call fails; when
/// it is back, the health probes send it traffic again.
#[test]
fn a_killed_endpoint_costs_no_idempotent_call_and_gets_traffic_back() {
    let (_a, a) = counter_server("a", 0);
    let port_b = free_port();
    let (b_proc, b) = counter_server("b", port_b);
    let (_c, c) = counter_server("c", 0);
    let gw = Arc::new(Gateway::start(
        &backend(
            "k",
            &[a, b.clone(), c],
            "[backends.retry]\nmax_attempts = 2\nmin_retries_per_s = 100\n\
             [backends.outlier]\nconsecutive_failures = 2\neject_ms = 500\n\
             [backends.health]\ninterval_ms = 100",
        ),
        &[],
    ));
    let failed = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let load = |n: usize| {
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let (gw, failed, served) = (gw.clone(), failed.clone(), served.clone());
                std::thread::spawn(move || {
                    for _ in 0..n {
                        let (s, v) = whoami(&gw, "k", 0);
                        if s == 200 {
                            served.lock().unwrap().push(v.as_str().unwrap_or("").into());
                        } else {
                            eprintln!("failed: {s} {v}");
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
            })
            .collect();
        workers
    };
    let first = load(60);
    std::thread::sleep(Duration::from_millis(300));
    let mut b_proc = b_proc;
    b_proc.kill9();
    for w in first {
        w.join().unwrap();
    }
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "no call failed while b died"
    );
    // b comes back on its port; probes and the end of its ejection let it in.
    let (_b2, b2) = counter_server("b", port_b);
    assert_eq!(b2, b);
    std::thread::sleep(Duration::from_millis(800));
    served.lock().unwrap().clear();
    for w in load(40) {
        w.join().unwrap();
    }
    assert_eq!(failed.load(Ordering::SeqCst), 0);
    let tail = served.lock().unwrap().clone();
    let to_b = tail.iter().filter(|n| *n == "b").count();
    assert!(
        to_b >= tail.len() / 6,
        "b is back: {to_b} of {}",
        tail.len()
    );
}

/// Weighted round robin splits calls 1:3, within 5 %.
#[test]
fn weighted_round_robin_splits_one_to_three() {
    let (_a, a) = counter_server("a", 0);
    let (_b, b) = counter_server("b", 0);
    let cfg = format!(
        "[[backends]]\nname = \"w\"\nprotocol = \"thrift\"\ntransport = \"framed\"\n\
         endpoints = [\"{a}\", {{ addr = \"{b}\", weight = 3 }}]\nidl = \"{}\"\nprefix = \"/w\"\n",
        repo_path("e2e/idl/counter.thrift")
    );
    let gw = Gateway::start(&cfg, &[]);
    let mut per: HashMap<String, usize> = HashMap::new();
    for _ in 0..400 {
        let (s, v) = whoami(&gw, "w", 0);
        assert_eq!(s, 200, "{v}");
        *per.entry(v.as_str().unwrap().to_string()).or_default() += 1;
    }
    let (na, nb) = (per["a"] as f64, per["b"] as f64);
    assert!(
        (nb / na - 3.0).abs() <= 0.15,
        "a {na}, b {nb}: not 1:3 within 5%"
    );
}

/// Consistent hash: a key stays on one endpoint, and an endpoint that
/// leaves (the backend replaced without it) moves only its own keys.
#[test]
fn consistent_hash_moves_only_the_keys_of_an_endpoint_that_leaves() {
    let peers: Vec<_> = ["a", "b", "c", "d"]
        .into_iter()
        .map(|n| counter_server(n, 0))
        .collect();
    let addrs: Vec<String> = peers.iter().map(|(_, a)| a.clone()).collect();
    let gw = Gateway::start("", &[]);
    let register = |eps: &[String]| {
        let body = json!({
            "protocol": "thrift",
            "transport": "framed",
            "endpoints": eps,
            "prefix": "/h",
            "files": { "counter.thrift": std::fs::read_to_string(repo_path("e2e/idl/counter.thrift")).unwrap() },
            "balance": { "policy": "consistent_hash", "hash_key": "header:x-user" },
        });
        let (s, v) = gw.admin_call("PUT", "/admin/backends/h", Some(&body.to_string()), &[]);
        assert!(s == 200 || s == 201, "{s} {v}");
    };
    let owners = |gw: &Gateway| -> Vec<String> {
        (0..200)
            .map(|k| {
                let user = format!("user-{k}");
                let ((s, v), _) = gw.call_h(
                    "POST",
                    "/h/whoami",
                    Some(r#"{"sleep_ms":0}"#),
                    &[("x-user", &user)],
                );
                assert_eq!(s, 200, "{v}");
                v.as_str().unwrap().to_string()
            })
            .collect()
    };
    register(&addrs);
    let before = owners(&gw);
    assert_eq!(before, owners(&gw), "a key keeps its endpoint");
    register(&addrs[..3]);
    let after = owners(&gw);
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        if b != a {
            assert_eq!(b, "d", "only the keys of d move");
            moved += 1;
        }
    }
    let of_d = before.iter().filter(|o| *o == "d").count();
    assert_eq!(moved, of_d);
    assert!((20..=80).contains(&of_d), "about 1/4 of 200 keys: {of_d}");
}

/// Limits and an open breaker answer at once, without reaching the peer.
#[test]
fn limits_and_open_breakers_answer_at_once() {
    let (_p, peer) = counter_server("p", 0);
    let toxic = Toxic::start(&peer);
    let cfg = [
        backend(
            "rate",
            std::slice::from_ref(&peer),
            "[backends.limit]\nrate_per_s = 1\nburst = 2",
        ),
        backend(
            "busy",
            std::slice::from_ref(&peer),
            "[backends.limit]\nmax_concurrency = 2",
        ),
        backend(
            "brk",
            &[toxic.addr().to_string()],
            "[backends.breaker]\nmin_requests = 4\nerror_rate = 0.5\nopen_ms = 60000",
        ),
    ]
    .concat();
    let gw = Arc::new(Gateway::start(&cfg, &[]));
    // Token bucket: two in the burst, then 429 with Retry-After.
    assert_eq!(whoami(&gw, "rate", 0).0, 200);
    assert_eq!(whoami(&gw, "rate", 0).0, 200);
    let ((s, v), h) = gw.call_h("POST", "/rate/whoami", Some(r#"{"sleep_ms":0}"#), &[]);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (429, Some("rate_limited")),
        "{v}"
    );
    let retry_after = h
        .iter()
        .find(|(k, _)| k == "retry-after")
        .map(|(_, v)| v.clone());
    assert_eq!(retry_after.as_deref(), Some("1"));
    // Two calls in flight: a third is 503 overloaded.
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let gw = gw.clone();
            std::thread::spawn(move || whoami(&gw, "busy", 400).0)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    let (s, v) = whoami(&gw, "busy", 0);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (503, Some("overloaded")),
        "{v}"
    );
    for b in busy {
        assert_eq!(b.join().unwrap(), 200);
    }
    assert_eq!(whoami(&gw, "busy", 0).0, 200, "room again");
    // The breaker opens after failures, then answers without a try.
    toxic.set(Fault::Garbage);
    for _ in 0..4 {
        assert_eq!(whoami(&gw, "brk", 0).0, 502);
    }
    let conns = toxic.connections();
    for _ in 0..20 {
        let t0 = Instant::now();
        let (s, v) = whoami(&gw, "brk", 0);
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (503, Some("circuit_open")),
            "{v}"
        );
        eprintln!("circuit_open answered in {:?}", t0.elapsed());
    }
    assert_eq!(toxic.connections(), conns, "nothing was sent while open");
    let (s, v) = gw.admin_call("GET", "/admin/backends/brk", None, &[]);
    assert_eq!(s, 200);
    assert_eq!(v["endpoint_state"][0]["state"], "breaker_open", "{v}");
    assert_eq!(v["breaker"]["state"], "open", "{v}");
    // The settings as given, defaults filled in.
    assert_eq!(v["traffic"]["breaker"]["min_requests"], 4, "{v}");
    assert_eq!(v["traffic"]["breaker"]["window_ms"], 10000, "{v}");
    assert_eq!(v["endpoint_state"][0]["inflight"], 0, "{v}");
    assert!(
        v["endpoint_state"][0]["recent_error_rate"].as_f64() > Some(0.9),
        "{v}"
    );
}

/// The same faults between the gateway and a grpcio peer (one HTTP/2
/// connection carries every call): the statuses, no call run twice, and
/// recovery within 1 s, since a connection that stops answering is left.
#[test]
fn grpc_faults_get_their_status_and_no_call_runs_twice() {
    let (_peer, peer) = grpc_counter_server("g", 0);
    let toxic = Toxic::start(&peer);
    let cfg = format!(
        "[[backends]]\nname = \"g\"\nprotocol = \"grpc\"\ntransport = \"http2\"\n\
         endpoints = [\"{}\"]\nidl = \"{}\"\nprefix = \"/g\"\ntimeout_ms = 600\n\
         [backends.retry]\nmax_attempts = 3\nmin_retries_per_s = 100\n\
         on = [\"connect\", \"unavailable\", \"timeout\", \"bad_reply\"]\n",
        toxic.addr(),
        repo_path("e2e/idl/counter.proto")
    );
    let gw = Gateway::start(&cfg, &[]);
    let call = |method: &str, body: Value| {
        gw.post(
            &format!("/g/counter.v1.Counter/{method}"),
            &body.to_string(),
        )
    };
    let cases = fault_cases(true, false);
    let peer = Peer {
        bump: &|key| call("Bump", json!({ "key": key })),
        ping: &|| call("Whoami", json!({})),
        count: &|key| {
            let (s, v) = call("Get", json!({ "key": key }));
            assert_eq!(s, 200, "{v}");
            // int64 is a JSON string in protojson; absent when 0.
            match &v["n"] {
                Value::String(n) => n.parse().unwrap(),
                Value::Null => 0,
                other => other.as_i64().unwrap(),
            }
        },
    };
    run_faults(&toxic, &cases, 6, &peer);
}

/// The same faults between the gateway and an Apache Dubbo provider (calls
/// multiplexed over one connection by request id): the statuses, no call
/// lost or run twice, and recovery within 1 s.
#[test]
fn dubbo_faults_get_their_status_and_no_call_is_lost_or_run_twice() {
    let (_peer, peer) = dubbo_provider(0);
    let toxic = Toxic::start(&peer);
    let cfg = format!(
        "[[backends]]\nname = \"d\"\nprotocol = \"dubbo\"\n\
         endpoints = [\"{}\"]\nidl = \"{}\"\nprefix = \"/d\"\ntimeout_ms = 600\n\
         [backends.retry]\nmax_attempts = 3\nmin_retries_per_s = 100\n\
         on = [\"connect\", \"unavailable\", \"timeout\", \"bad_reply\"]\n",
        toxic.addr(),
        repo_path("e2e/idl/counter_dubbo.thrift")
    );
    let gw = Gateway::start(&cfg, &[]);
    let call =
        |method: &str, body: Value| gw.post(&format!("/d/Counter/{method}"), &body.to_string());
    let cases = fault_cases(true, true);
    let peer = Peer {
        bump: &|key| call("bump", json!({ "key": key })),
        ping: &|| call("whoami", json!({ "sleepMs": 0 })),
        count: &|key| {
            let (s, v) = call("count", json!({ "key": key }));
            assert_eq!(s, 200, "{v}");
            v.as_i64().unwrap_or_else(|| panic!("a count: {v}"))
        },
    };
    run_faults(&toxic, &cases, 6, &peer);
}

/// least_inflight sends most calls to the fast endpoint when the other is
/// slowed by 20 ms.
#[test]
fn least_inflight_prefers_the_fast_endpoint() {
    let (_a, a) = counter_server("slow", 0);
    let (_b, b) = counter_server("fast", 0);
    let toxic = Toxic::start(&a);
    toxic.set(Fault::Latency(Duration::from_millis(20)));
    let gw = Arc::new(Gateway::start(
        &backend(
            "l",
            &[toxic.addr().to_string(), b],
            "[backends.balance]\npolicy = \"least_inflight\"",
        ),
        &[],
    ));
    let per = Arc::new(std::sync::Mutex::new(HashMap::<String, usize>::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (gw, per) = (gw.clone(), per.clone());
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let (s, v) = whoami(&gw, "l", 0);
                    assert_eq!(s, 200, "{v}");
                    *per.lock()
                        .unwrap()
                        .entry(v.as_str().unwrap().into())
                        .or_default() += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let per = per.lock().unwrap();
    let (slow, fast) = (per.get("slow").copied().unwrap_or(0), per["fast"]);
    assert!(fast > 2 * slow, "fast {fast}, slow {slow}");
}

/// When every call fails, the retry budget keeps retries near its share
/// (10 % of calls, plus the per-second floor): each try is one connection
/// to a proxy that answers garbage and closes.
#[test]
fn the_retry_budget_holds_when_every_call_fails() {
    let (_p, peer) = counter_server("p", 0);
    let toxic = Toxic::start(&peer);
    toxic.set(Fault::Garbage);
    let gw = Gateway::start(
        &backend(
            "r",
            &[toxic.addr().to_string()],
            "[backends.retry]\nmax_attempts = 3\nbudget_percent = 10\nmin_retries_per_s = 0\n\
             on = [\"bad_reply\"]",
        ),
        &[],
    );
    let calls = 100;
    for _ in 0..calls {
        let (s, v) = whoami(&gw, "r", 0);
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (502, Some("bad_gateway")),
            "{v}"
        );
    }
    let tries = toxic.connections();
    let retries = tries - calls;
    assert!(
        (5..=12).contains(&retries),
        "{retries} retries for {calls} calls"
    );
}

/// A backup try to another endpoint answers when the first is slow: the
/// slowest answer is well under the slow endpoint's delay.
#[test]
fn backup_tries_cut_the_tail_when_one_endpoint_is_slow() {
    let (_a, a) = counter_server("slow", 0);
    let (_b, b) = counter_server("fast", 0);
    let toxic = Toxic::start(&a);
    toxic.set(Fault::Latency(Duration::from_millis(400)));
    let gw = Gateway::start(
        &backend(
            "b",
            &[toxic.addr().to_string(), b],
            "[backends.balance]\npolicy = \"round_robin\"\n\
             [backends.retry]\nbackup_after_ms = 50\nmin_retries_per_s = 100",
        ),
        &[],
    );
    let mut took = Vec::new();
    for _ in 0..20 {
        let t0 = Instant::now();
        let (s, v) = whoami(&gw, "b", 0);
        took.push(t0.elapsed());
        assert_eq!((s, v.as_str()), (200, Some("fast")), "{v}");
    }
    took.sort();
    let worst = *took.last().unwrap();
    eprintln!("backup tries: median {:?}, worst {worst:?}", took[10]);
    assert!(worst < Duration::from_millis(400), "worst {worst:?}");
}
