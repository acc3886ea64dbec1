//! The layers of the call pipeline over fake endpoints.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::HeaderMap;
use futures_util::future::BoxFuture;

use super::*;

/// An endpoint that answers with its index, or fails as told, after a
/// delay; counts the calls it got.
#[derive(Clone)]
struct Fake {
    index: usize,
    fail: Arc<std::sync::Mutex<Option<TransportError>>>,
    delay: Arc<std::sync::Mutex<Duration>>,
    calls: Arc<AtomicUsize>,
}

impl crate::transport::Connections for Fake {
    fn open_connections(&self) -> usize {
        1
    }
}

impl crate::transport::Answer for (usize, u32) {
    fn remote_error(&self) -> bool {
        false
    }
}

impl crate::observe::trace::Carry for u32 {
    fn carry(&mut self, _: &[u8; crate::observe::trace::TRACEPARENT_LEN]) {}
}

impl tower::Service<u32> for Fake {
    type Response = (usize, u32);
    type Error = TransportError;
    type Future = BoxFuture<'static, Result<(usize, u32), TransportError>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let fail = self.fail.lock().unwrap().clone();
        let delay = *self.delay.lock().unwrap();
        let index = self.index;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            match fail {
                Some(e) => Err(e),
                None => Ok((index, req)),
            }
        })
    }
}

impl Fake {
    fn fail(&self, e: Option<TransportError>) {
        *self.fail.lock().unwrap() = e;
    }
    fn slow(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn refused() -> TransportError {
    TransportError::Connect {
        addr: "127.0.0.1:1".into(),
        message: "connection refused".into(),
    }
}

fn closed() -> TransportError {
    TransportError::Closed {
        addr: "127.0.0.1:1".into(),
    }
}

/// A backend of `n` fake endpoints with the traffic `sections` (TOML).
struct Setup {
    /// By method, made once as a route makes them.
    policies: std::sync::Mutex<std::collections::HashMap<String, Arc<CallPolicy>>>,
    fakes: Vec<Fake>,
    traffic: Traffic,
    client: Client<u32, (usize, u32)>,
}

fn setup(n: usize, endpoints: &str, sections: &str) -> Setup {
    let endpoints = if endpoints.is_empty() {
        (0..n)
            .map(|i| format!("\"10.0.0.{i}:1\""))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        endpoints.to_string()
    };
    let cfg: BackendConfig = toml::from_str(&format!(
        "name = \"b\"\nendpoints = [{endpoints}]\n{sections}"
    ))
    .unwrap();
    settings::check(&cfg).unwrap();
    let traffic = Traffic::new(&cfg, Duration::from_secs(5), Duration::from_millis(50));
    let fakes: Vec<Fake> = (0..n)
        .map(|index| Fake {
            index,
            fail: Default::default(),
            delay: Default::default(),
            calls: Default::default(),
        })
        .collect();
    let client = client(&traffic, fakes.clone());
    Setup {
        policies: Default::default(),
        fakes,
        traffic,
        client,
    }
}

impl Setup {
    fn policy(&self, method: &str) -> Arc<CallPolicy> {
        let mut p = self.policies.lock().unwrap();
        p.entry(method.to_string())
            .or_insert_with(|| self.traffic.method("Svc", method, false))
            .clone()
    }
    async fn call(&self, method: &str, req: u32) -> Result<(usize, u32), ApiError> {
        self.call_with(method, req, &HeaderMap::new(), b"").await
    }
    async fn call_with(
        &self,
        method: &str,
        req: u32,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(usize, u32), ApiError> {
        let policy = self.policy(method);
        let mut parts = axum::http::Request::new(()).into_parts().0;
        parts.headers = headers.clone();
        let meta = self.traffic.meta(&policy, &parts, body)?;
        send(&self.client, req, &policy, meta).await
    }
}

#[tokio::test]
async fn round_robin_over_the_endpoints() {
    let s = setup(2, "", "[balance]\npolicy = \"round_robin\"");
    let mut seen = Vec::new();
    for i in 0..4 {
        seen.push(s.call("m", i).await.unwrap().0);
    }
    assert_eq!(seen, [0, 1, 0, 1]);
}

#[tokio::test]
async fn weighted_round_robin_splits_by_weight() {
    let s = setup(2, r#""a:1", { addr = "b:1", weight = 3 }"#, "");
    let mut per = [0; 2];
    for i in 0..400 {
        per[s.call("m", i).await.unwrap().0] += 1;
    }
    assert_eq!(per, [100, 300]);
}

#[tokio::test]
async fn a_connect_failure_goes_to_the_next_endpoint() {
    let s = setup(2, "", "");
    s.fakes[0].fail(Some(refused()));
    for i in 0..4 {
        assert_eq!(s.call("m", i).await.unwrap(), (1, i));
    }
    assert_eq!(s.fakes[0].calls(), 4, "no ejection set: tried in its turn");
}

#[tokio::test]
async fn every_endpoint_refusing_is_backend_unavailable() {
    let s = setup(3, "", "");
    for f in &s.fakes {
        f.fail(Some(refused()));
    }
    let e = s.call("m", 1).await.unwrap_err();
    assert_eq!(e.code(), "backend_unavailable", "{e:?}");
    assert!(s.fakes.iter().all(|f| f.calls() == 1));
}

#[tokio::test]
async fn a_call_that_may_have_run_is_not_sent_again() {
    let s = setup(2, "", "[retry]\nmax_attempts = 3");
    s.fakes[0].fail(Some(closed()));
    s.fakes[1].fail(Some(closed()));
    let e = s.call("m", 1).await.unwrap_err();
    assert_eq!(e.code(), "bad_gateway");
    assert_eq!(s.fakes[0].calls() + s.fakes[1].calls(), 1);
}

#[tokio::test]
async fn an_idempotent_call_is_retried_on_another_endpoint() {
    let s = setup(
        2,
        "",
        "[balance]\npolicy = \"round_robin\"\n[retry]\nmax_attempts = 2\nidempotent = [\"get*\"]",
    );
    s.fakes[0].fail(Some(closed()));
    assert_eq!(s.call("getUser", 7).await.unwrap(), (1, 7));
    assert_eq!(s.fakes[0].calls(), 1);
    // Not idempotent: the failure is answered, nothing is sent again.
    assert_eq!(
        s.call("setUser", 7).await.unwrap_err().code(),
        "bad_gateway"
    );
    assert_eq!((s.fakes[0].calls(), s.fakes[1].calls()), (2, 1));
}

#[tokio::test]
async fn the_retry_budget_caps_retries_when_every_call_fails() {
    let s = setup(
        2,
        "",
        "[retry]\nmax_attempts = 3\nbudget_percent = 10\nmin_retries_per_s = 0\nidempotent = [\"*\"]",
    );
    for f in &s.fakes {
        f.fail(Some(closed()));
    }
    let calls = 200;
    for i in 0..calls {
        assert!(s.call("m", i).await.is_err());
    }
    let sent: usize = s.fakes.iter().map(Fake::calls).sum();
    let retries = sent - calls as usize;
    assert!(retries <= 20, "{retries} retries for {calls} calls");
    assert!(retries >= 15, "the budget allows about 10%: {retries}");
}

#[tokio::test(start_paused = true)]
async fn a_backup_try_answers_when_the_first_endpoint_is_slow() {
    let s = setup(
        2,
        "",
        "[balance]\npolicy = \"round_robin\"\n\
         [retry]\nidempotent = [\"echo\"]\nbackup_after_ms = 20\nmin_retries_per_s = 10",
    );
    s.fakes[0].slow(Duration::from_secs(2));
    let t0 = tokio::time::Instant::now();
    assert_eq!(s.call("echo", 1).await.unwrap(), (1, 1));
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(100), "{took:?}");
    assert_eq!(s.fakes[1].calls(), 1);
    // A method that is not idempotent waits for its one try.
    let t0 = tokio::time::Instant::now();
    s.call("add", 1).await.unwrap();
    s.call("add", 2).await.unwrap();
    assert!(t0.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn consistent_hash_keeps_a_key_on_one_endpoint() {
    let s = setup(
        4,
        "",
        "[balance]\npolicy = \"consistent_hash\"\nhash_key = \"header:x-user\"",
    );
    let mut owners = std::collections::HashMap::new();
    for round in 0..3 {
        for user in 0..40 {
            let mut h = HeaderMap::new();
            h.insert("x-user", format!("u{user}").parse().unwrap());
            let (ep, _) = s.call_with("m", round, &h, b"").await.unwrap();
            assert_eq!(*owners.entry(user).or_insert(ep), ep, "user {user}");
        }
    }
    let distinct: std::collections::HashSet<_> = owners.values().collect();
    assert!(distinct.len() >= 3, "keys spread: {owners:?}");
    // A field of the JSON body works the same way.
    let s = setup(
        4,
        "",
        "[balance]\npolicy = \"consistent_hash\"\nhash_key = \"field:user.id\"",
    );
    let body = br#"{"user": {"id": 42}}"#;
    let first = s
        .call_with("m", 0, &HeaderMap::new(), body)
        .await
        .unwrap()
        .0;
    for i in 0..10 {
        let again = s
            .call_with("m", i, &HeaderMap::new(), body)
            .await
            .unwrap()
            .0;
        assert_eq!(again, first);
    }
}

#[tokio::test(start_paused = true)]
async fn least_inflight_prefers_the_fast_endpoint() {
    let s = Arc::new(setup(2, "", "[balance]\npolicy = \"least_inflight\""));
    s.fakes[0].slow(Duration::from_millis(20));
    s.fakes[1].slow(Duration::from_millis(1));
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                s.call("m", worker * 100 + i).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (slow, fast) = (s.fakes[0].calls(), s.fakes[1].calls());
    assert!(fast > slow * 3, "fast {fast}, slow {slow}");
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_answers_at_once_and_half_open_probes_close_it() {
    let s = setup(
        1,
        "",
        "[breaker]\nerror_rate = 0.5\nmin_requests = 4\nwindow_ms = 1000\nopen_ms = 100",
    );
    s.fakes[0].fail(Some(closed()));
    for i in 0..4 {
        assert_eq!(s.call("m", i).await.unwrap_err().code(), "bad_gateway");
    }
    let sent = s.fakes[0].calls();
    let e = s.call("m", 9).await.unwrap_err();
    assert_eq!(e.code(), "circuit_open");
    assert_eq!(e.status(), 503);
    assert_eq!(s.fakes[0].calls(), sent, "nothing sent while open");
    s.fakes[0].fail(None);
    tokio::time::advance(Duration::from_millis(150)).await;
    for i in 0..5 {
        assert!(
            s.call("m", i).await.is_ok(),
            "half-open probes, then closed"
        );
    }
    let state = s.traffic.health.snapshot();
    assert_eq!(state[0]["state"], "healthy", "{state:?}");
}

#[tokio::test(start_paused = true)]
async fn failing_endpoints_are_ejected_and_return() {
    let s = setup(
        2,
        "",
        "[balance]\npolicy = \"round_robin\"\n\
         [outlier]\nconsecutive_failures = 2\neject_ms = 1000\nmax_ejected_percent = 100",
    );
    s.fakes[0].fail(Some(refused()));
    for i in 0..4 {
        assert_eq!(s.call("m", i).await.unwrap().0, 1);
    }
    let before = s.fakes[0].calls();
    for i in 0..10 {
        s.call("m", i).await.unwrap();
    }
    assert_eq!(s.fakes[0].calls(), before, "ejected: no calls");
    assert_eq!(s.traffic.health.snapshot()[0]["state"], "ejected");
    // Every endpoint ejected: 503 at once.
    s.fakes[1].fail(Some(refused()));
    for i in 0..2 {
        let _ = s.call("m", i).await;
    }
    let e = s.call("m", 1).await.unwrap_err();
    assert_eq!(e.code(), "no_healthy_endpoint", "{e:?}");
    s.fakes[0].fail(None);
    s.fakes[1].fail(None);
    tokio::time::advance(Duration::from_millis(1001)).await;
    let mut seen = [0; 2];
    for i in 0..4 {
        seen[s.call("m", i).await.unwrap().0] += 1;
    }
    assert_eq!(seen, [2, 2], "both back");
}

#[tokio::test]
async fn a_token_bucket_per_route_and_key_answers_429() {
    let s = setup(
        1,
        "",
        "[limit]\nrate_per_s = 1\nburst = 2\nrate_key = \"header:x-tenant\"",
    );
    let tenant = |t: &str| {
        let mut h = HeaderMap::new();
        h.insert("x-tenant", t.parse().unwrap());
        h
    };
    let a = tenant("a");
    assert!(s.call_with("m", 1, &a, b"").await.is_ok());
    assert!(s.call_with("m", 2, &a, b"").await.is_ok());
    let e = s.call_with("m", 3, &a, b"").await.unwrap_err();
    assert_eq!(e.code(), "rate_limited");
    let resp = axum::response::IntoResponse::into_response(e);
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(
        s.call_with("m", 4, &tenant("b"), b"").await.is_ok(),
        "own bucket"
    );
    assert_eq!(s.fakes[0].calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn past_max_concurrency_is_overloaded_at_once() {
    let s = Arc::new(setup(1, "", "[limit]\nmax_concurrency = 2"));
    s.fakes[0].slow(Duration::from_millis(100));
    let busy: Vec<_> = (0..2)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.call("m", i).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let e = s.call("m", 9).await.unwrap_err();
    assert_eq!((e.status().as_u16(), e.code()), (503, "overloaded"));
    for b in busy {
        assert!(b.await.unwrap().is_ok());
    }
    assert!(s.call("m", 3).await.is_ok(), "room again");
}

#[tokio::test(start_paused = true)]
async fn the_deadline_bounds_the_call_and_a_shorter_one_may_be_asked() {
    let s = setup(1, "", "[methods.slow]\ntimeout_ms = 50");
    s.fakes[0].slow(Duration::from_secs(1));
    let t0 = tokio::time::Instant::now();
    let e = s.call("slow", 1).await.unwrap_err();
    assert_eq!(e.code(), "backend_timeout");
    assert!(t0.elapsed() < Duration::from_millis(60));
    let mut h = HeaderMap::new();
    h.insert(TIMEOUT_HEADER, "10".parse().unwrap());
    let t0 = tokio::time::Instant::now();
    assert_eq!(
        s.call_with("other", 1, &h, b"").await.unwrap_err().code(),
        "backend_timeout"
    );
    assert!(t0.elapsed() < Duration::from_millis(20));
    h.insert(TIMEOUT_HEADER, "soon".parse().unwrap());
    let e = s.call_with("other", 1, &h, b"").await.unwrap_err();
    assert_eq!(e.code(), "invalid_request");
}

#[tokio::test(start_paused = true)]
async fn a_try_timeout_lets_an_idempotent_call_try_elsewhere() {
    let s = setup(
        2,
        "",
        "[balance]\npolicy = \"round_robin\"\n\
         [retry]\nmax_attempts = 2\nattempt_timeout_ms = 30\nidempotent = [\"get\"]\nmin_retries_per_s = 10",
    );
    s.fakes[0].slow(Duration::from_secs(1));
    assert_eq!(s.call("get", 1).await.unwrap(), (1, 1));
    let state = s.traffic.health.snapshot();
    assert_eq!(state[0]["recent_calls"], 1);
    assert_eq!(state[0]["recent_error_rate"], 1.0);
}

#[test]
fn method_policies_read_overrides_and_idl_marks() {
    let s = setup(
        1,
        "",
        "[retry]\nmax_attempts = 2\nidempotent = [\"get*\"]\n\
         [methods.echo]\ntimeout_ms = 200\nidempotent = true\n\
         [methods.\"Svc.add\"]\nretry = { max_attempts = 1 }",
    );
    let echo = s.traffic.method("Svc", "echo", false);
    assert!(echo.idempotent);
    assert_eq!(echo.timeout, Duration::from_millis(200));
    assert_eq!(s.traffic.method("Svc", "add", false).max_attempts, 1);
    assert_eq!(s.traffic.method("Other", "add", false).max_attempts, 2);
    assert!(s.traffic.method("Svc", "getX", false).idempotent);
    assert!(
        s.traffic.method("Svc", "put", true).idempotent,
        "marked in the IDL"
    );
    assert!(!s.traffic.method("Svc", "put", false).idempotent);
}

/// A backend rebuilt over a new endpoint set (discovery) keeps what it
/// knew of the endpoints that stay, and its own limits and budget.
#[test]
fn a_new_endpoint_set_keeps_the_state_of_the_endpoints_that_stay() {
    let text = |eps: &str| {
        format!(
            "name = \"b\"\nendpoints = [{eps}]\n\
             [retry]\nmax_attempts = 2\n[limit]\nmax_concurrency = 4\nrate_per_s = 10\n\
             [breaker]\nerror_rate = 0.5\nmin_requests = 2\n"
        )
    };
    let before: BackendConfig = toml::from_str(&text(r#""10.0.0.1:1", "10.0.0.2:1""#)).unwrap();
    let after: BackendConfig = toml::from_str(&text(
        r#""10.0.0.1:1", { addr = "10.0.0.3:1", weight = 2 }"#,
    ))
    .unwrap();
    let old = Traffic::new(&before, Duration::from_secs(5), Duration::from_millis(50));
    let old_rate = old.method("S", "m", false).rate.clone().unwrap();
    old.health.endpoints[0]
        .inflight
        .store(3, std::sync::atomic::Ordering::Relaxed);
    let new = Traffic::after(
        &after,
        Duration::from_secs(5),
        Duration::from_millis(50),
        &old,
    );
    let (o, n) = (&old.health.endpoints, &new.health.endpoints);
    assert!(Arc::ptr_eq(&o[0], &n[0]), "10.0.0.1 stays: the same health");
    assert_eq!(n[0].inflight.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert_eq!((n[1].addr.as_str(), n[1].weight), ("10.0.0.3:1", 2));
    assert!(!o.iter().any(|e| Arc::ptr_eq(e, &n[1])));
    fn same<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
        matches!((a, b), (Some(a), Some(b)) if Arc::ptr_eq(a, b))
    }
    assert!(same(
        &old.health.backend_breaker,
        &new.health.backend_breaker
    ));
    assert!(same(&old.budget, &new.budget));
    assert!(same(&old.concurrency, &new.concurrency));
    let new_rate = new.method("S", "m", false).rate.clone().unwrap();
    assert!(
        Arc::ptr_eq(&old_rate, &new_rate),
        "the method's bucket is kept"
    );
    // Without a previous set, nothing is shared.
    let fresh = Traffic::new(&after, Duration::from_secs(5), Duration::from_millis(50));
    assert!(!Arc::ptr_eq(&fresh.health.endpoints[0], &o[0]));
}
