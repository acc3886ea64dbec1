//! The gateway's Prometheus metrics: the families, the handles the hot path
//! holds, and the exposition (`GET /metrics` on the admin listener) in the
//! Prometheus text format or, when the scraper asks for it, OpenMetrics.
//!
//! Families and the exposition are `prometheus-client`'s. The histogram and
//! the counters the hot path adds to are written here: the crate's
//! histogram takes a lock on every observation, and its counter is one
//! atomic that every core writes. [`Histogram`] and [`Counter`] keep
//! per-thread cells ([`super::shards`]) that the crate's encoder writes like
//! its own.
//!
//! Hot-path cost: a route and a method resolve their series once (when the
//! route table is built) or on first use (a status code or endpoint seen for
//! the first time, through [`Lazy`]); after that an update is an atomic add
//! on the thread's own cache line, never a lookup in a family. A route's
//! series are kept once per label set for the life of the process, as the
//! families keep them, so a request borrows them without a reference
//! count. Gauges of state (calls in flight, endpoint states, backends,
//! routes) are read from that state at scrape time. With `metrics = false`
//! in the config nothing is recorded and `GET /metrics` answers 404.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter as PlainCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

pub use super::shards::Counter;
use super::shards::Shards;

static OFF: AtomicBool = AtomicBool::new(false);

/// Turns recording off (once, at start, for `metrics = false`).
pub fn disable() {
    OFF.store(true, Ordering::Relaxed);
}

/// Whether metrics are recorded and served.
pub fn enabled() -> bool {
    !OFF.load(Ordering::Relaxed)
}

/// Upper bounds (seconds) of the duration histograms' buckets: from half a
/// millisecond (a call on the same host) to ten seconds (past most
/// timeouts).
const BOUNDS_S: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A duration histogram over [`BOUNDS_S`], updated without a lock, in
/// per-thread cells. Clones share their counts.
#[derive(Debug, Clone, Default)]
pub struct Histogram(Arc<Shards<HistogramCells>>);

/// One thread's counts: 16 words, one cache line of 128 bytes.
#[derive(Debug, Default)]
struct HistogramCells {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; BOUNDS_S.len() + 1],
    sum_ns: AtomicU64,
}

/// [`BOUNDS_S`] in nanoseconds, for the comparison on each observation.
const BOUNDS_NS: [u64; BOUNDS_S.len()] = {
    let mut out = [0u64; BOUNDS_S.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = (BOUNDS_S[i] * 1e9) as u64;
        i += 1;
    }
    out
};

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = BOUNDS_NS.partition_point(|&b| b < ns);
        let cells = self.0.local();
        cells.buckets[i].fetch_add(1, Ordering::Relaxed);
        cells.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0
            .all()
            .flat_map(|c| &c.buckets)
            .map(|b| b.load(Ordering::Relaxed))
            .sum()
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // Counts per bucket: the encoder writes them cumulative.
        let mut count = 0;
        let mut sum_ns = 0u64;
        let mut buckets = [(0.0, 0); BOUNDS_S.len() + 1];
        for (i, b) in buckets.iter_mut().enumerate() {
            *b = (BOUNDS_S.get(i).copied().unwrap_or(f64::INFINITY), 0);
        }
        for cells in self.0.all() {
            for (i, b) in cells.buckets.iter().enumerate() {
                let n = b.load(Ordering::Relaxed);
                count += n;
                buckets[i].1 += n;
            }
            sum_ns = sum_ns.wrapping_add(cells.sum_ns.load(Ordering::Relaxed));
        }
        let sum = sum_ns as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// A series resolved on first use and kept: one lookup in its family, then
/// only the handle.
#[derive(Debug, Default)]
pub struct Lazy<M>(OnceLock<M>);

impl<M: Clone> Lazy<M> {
    pub fn get(&self, make: impl FnOnce() -> M) -> &M {
        self.0.get_or_init(make)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteCode {
    pub backend: String,
    pub method: String,
    pub route: String,
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    pub backend: String,
    pub method: String,
    pub route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct BackendRoute {
    pub backend: String,
    pub route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TryLabels {
    pub backend: String,
    pub method: String,
    pub endpoint: String,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RetryLabels {
    pub backend: String,
    pub method: String,
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DiscoveryLabels {
    pub backend: String,
    pub kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EndpointLabels {
    pub backend: String,
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EndpointState {
    pub backend: String,
    pub endpoint: String,
    pub state: &'static str,
}

/// The families that live as long as the process.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteCode, Counter>,
    pub request_duration: Family<RouteLabels, Histogram>,
    pub backend_duration: Family<TryLabels, Histogram>,
    pub retries: Family<RetryLabels, Counter>,
    pub rate_limited: Family<BackendRoute, Counter>,
    pub request_bytes: Family<BackendRoute, Counter>,
    pub response_bytes: Family<BackendRoute, Counter>,
    pub registrations: Family<ResultLabel, PlainCounter>,
}

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("kitegate"),
            requests: Family::default(),
            request_duration: Family::default(),
            backend_duration: Family::default(),
            retries: Family::default(),
            rate_limited: Family::default(),
            request_bytes: Family::default(),
            response_bytes: Family::default(),
            registrations: Family::default(),
        };
        let registry = &mut m.registry;
        registry.register(
            "requests",
            "HTTP requests answered, by route and status code",
            m.requests.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "The whole HTTP exchange, from its head to the end of the answer",
            Unit::Seconds,
            m.request_duration.clone(),
        );
        registry.register_with_unit(
            "backend_duration",
            "One try of a backend call, by endpoint and outcome (ok, remote_error, timeout, unavailable, bad_reply)",
            Unit::Seconds,
            m.backend_duration.clone(),
        );
        registry.register(
            "backend_retries",
            "Tries made again (or backup tries), by the failure that caused them",
            m.retries.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a route's token bucket",
            m.rate_limited.clone(),
        );
        registry.register_with_unit(
            "request",
            "Bytes of HTTP request bodies",
            Unit::Bytes,
            m.request_bytes.clone(),
        );
        registry.register_with_unit(
            "response",
            "Bytes of HTTP response bodies",
            Unit::Bytes,
            m.response_bytes.clone(),
        );
        registry.register(
            "registrations",
            "Backend registrations through the admin API, by result (created, replaced, removed, rejected)",
            m.registrations.clone(),
        );
        registry.register(
            "build",
            "The kitegate build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        m
    }
}

/// Gauges read from the gateway's state at scrape time.
#[derive(Default)]
pub struct Snapshot {
    pub backends: i64,
    pub routes: i64,
    /// Tasks alive in the runtime (connections, streams, probes, watchers).
    pub tasks: i64,
    /// (backend, endpoint, calls in flight, state)
    pub endpoints: Vec<(String, String, i64, &'static str)>,
    /// (backend, endpoint, open connections)
    pub connections: Vec<(String, String, i64)>,
    /// (backend, discovery kind, registry reachable, endpoints found,
    /// changes seen)
    pub discovery: Vec<(String, &'static str, bool, i64, u64)>,
    /// Cluster mode: (store watched, store revision seen, records not
    /// applied, relists)
    pub store: Option<(bool, i64, i64, u64)>,
}

/// The endpoint states a gauge is written for (one of them is 1).
const STATES: [&str; 3] = ["healthy", "ejected", "open"];

/// The content type of an answer to a scrape with this `Accept` header.
pub fn content_type(accept: Option<&str>) -> &'static str {
    if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    }
}

/// The exposition: the process's families and `snap`'s gauges, as
/// OpenMetrics when `openmetrics`, else the Prometheus text format.
pub fn render(snap: &Snapshot, openmetrics: bool) -> String {
    let mut state = Registry::with_prefix("kitegate");
    let gauge = |state: &mut Registry, name: &str, help: &str, v: i64| {
        let g: Gauge = Gauge::default();
        g.set(v);
        state.register(name, help, g);
    };
    gauge(&mut state, "backends", "Backends registered", snap.backends);
    gauge(&mut state, "routes", "HTTP routes served", snap.routes);
    gauge(
        &mut state,
        "runtime_tasks",
        "Tasks alive in the runtime",
        snap.tasks,
    );
    let inflight = Family::<EndpointLabels, Gauge>::default();
    let states = Family::<EndpointState, Gauge>::default();
    for (backend, endpoint, n, st) in &snap.endpoints {
        let at = EndpointLabels {
            backend: backend.clone(),
            endpoint: endpoint.clone(),
        };
        inflight.get_or_create(&at).set(*n);
        for s in STATES {
            states
                .get_or_create(&EndpointState {
                    backend: backend.clone(),
                    endpoint: endpoint.clone(),
                    state: s,
                })
                .set(i64::from(s == *st));
        }
    }
    let connections = Family::<EndpointLabels, Gauge>::default();
    for (backend, endpoint, n) in &snap.connections {
        connections
            .get_or_create(&EndpointLabels {
                backend: backend.clone(),
                endpoint: endpoint.clone(),
            })
            .set(*n);
    }
    state.register(
        "backend_inflight",
        "Backend calls in flight, by endpoint",
        inflight,
    );
    state.register(
        "backend_connections",
        "Open connections, by endpoint",
        connections,
    );
    state.register(
        "endpoint_state",
        "1 for the state each endpoint is in: healthy, ejected (outlier or failed probe) or open (breaker)",
        states,
    );
    let up = Family::<DiscoveryLabels, Gauge>::default();
    let found = Family::<DiscoveryLabels, Gauge>::default();
    let changes = Family::<DiscoveryLabels, PlainCounter>::default();
    for (backend, kind, reachable, n, changed) in &snap.discovery {
        let at = DiscoveryLabels {
            backend: backend.clone(),
            kind,
        };
        up.get_or_create(&at).set(i64::from(*reachable));
        found.get_or_create(&at).set(*n);
        changes.get_or_create(&at).inc_by(*changed);
    }
    state.register(
        "discovery_up",
        "1 while the backend's registry answers, 0 while its last endpoint set is kept without it",
        up,
    );
    state.register(
        "discovery_endpoints",
        "Endpoints the backend's discovery last found",
        found,
    );
    state.register(
        "discovery_changes",
        "Changes of the discovered endpoint set since the start",
        changes,
    );
    if let Some((up, revision, errors, relists)) = snap.store {
        gauge(
            &mut state,
            "store_up",
            "Cluster mode: 1 while the store's watch runs, 0 while the registrations applied so far are kept without it",
            i64::from(up),
        );
        gauge(
            &mut state,
            "store_revision",
            "Cluster mode: the last store revision seen",
            revision,
        );
        gauge(
            &mut state,
            "store_apply_errors",
            "Cluster mode: backends whose current record this gateway could not apply",
            errors,
        );
        let c: PlainCounter = PlainCounter::default();
        c.inc_by(relists);
        state.register(
            "store_relists",
            "Cluster mode: listings of the store after a watch ended",
            c,
        );
    }
    let mut out = String::with_capacity(16 << 10);
    let r = if openmetrics {
        prometheus_client::encoding::text::encode_registry(&mut out, &METRICS.registry)
            .and_then(|()| prometheus_client::encoding::text::encode_registry(&mut out, &state))
            .and_then(|()| prometheus_client::encoding::text::encode_eof(&mut out))
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, &METRICS.registry)
            .and_then(|()| prometheus_client::encoding::prometheus_text::encode(&mut out, &state))
    };
    r.expect("writing to a String cannot fail");
    out
}

/// The outcome of one try, as `kitegate_backend_duration_seconds` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A reply came (an error reply of the server is a reply too).
    Ok,
    RemoteError,
    Timeout,
    Unavailable,
    BadReply,
}

impl Outcome {
    const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::RemoteError,
        Outcome::Timeout,
        Outcome::Unavailable,
        Outcome::BadReply,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::RemoteError => "remote_error",
            Outcome::Timeout => "timeout",
            Outcome::Unavailable => "unavailable",
            Outcome::BadReply => "bad_reply",
        }
    }
}

/// The series of one backend method: its tries per endpoint and outcome,
/// and its retries per reason.
#[derive(Debug)]
pub struct MethodMetrics {
    backend: String,
    method: String,
    endpoints: Vec<String>,
    /// `[endpoint][outcome]`.
    tries: Box<[[Lazy<Histogram>; 5]]>,
    retries: [Lazy<Counter>; RETRY_REASONS.len()],
}

/// Why a try was made again, as `kitegate_backend_retries_total` names it.
pub const RETRY_REASONS: [&str; 6] = [
    "connect",
    "unavailable",
    "timeout",
    "bad_reply",
    "backup",
    "circuit_open",
];

impl MethodMetrics {
    pub fn new(backend: &str, method: &str, endpoints: Vec<String>) -> MethodMetrics {
        MethodMetrics {
            backend: backend.to_string(),
            method: method.to_string(),
            tries: endpoints.iter().map(|_| Default::default()).collect(),
            endpoints,
            retries: Default::default(),
        }
    }

    /// Records one try on endpoint `i`.
    pub fn record_try(&self, i: usize, outcome: Outcome, took: Duration) {
        let Some(row) = self.tries.get(i).filter(|_| enabled()) else {
            return;
        };
        let k = Outcome::ALL.iter().position(|&o| o == outcome).unwrap_or(0);
        row[k]
            .get(|| {
                METRICS.backend_duration.get_or_create_owned(&TryLabels {
                    backend: self.backend.clone(),
                    method: self.method.clone(),
                    endpoint: self.endpoints[i].clone(),
                    outcome: outcome.name(),
                })
            })
            .observe(took);
    }

    /// The backend's name.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// Counts one retry (or backup try) for `reason`, one of
    /// [`RETRY_REASONS`], and notes it for the next try's span.
    pub fn record_retry(&self, reason: &'static str) {
        super::access::note_retry(reason);
        if !enabled() {
            return;
        }
        let k = RETRY_REASONS.iter().position(|&r| r == reason).unwrap_or(0);
        self.retries[k]
            .get(|| {
                METRICS.retries.get_or_create_owned(&RetryLabels {
                    backend: self.backend.clone(),
                    method: self.method.clone(),
                    reason: RETRY_REASONS[k],
                })
            })
            .inc();
    }
}

/// Status codes given their own slot in [`RouteMetrics`]; others are looked
/// up in the family.
const CODES: [u16; 16] = [
    200, 201, 202, 204, 400, 401, 403, 404, 405, 413, 429, 499, 500, 502, 503, 504,
];

/// The series of one route (or of requests that matched none).
#[derive(Debug)]
pub struct RouteMetrics {
    labels: RouteLabels,
    codes: [Lazy<Counter>; CODES.len()],
    duration: Histogram,
    request_bytes: Counter,
    response_bytes: Counter,
    rate_limited: Lazy<Counter>,
}

/// Every route's series, once per label set.
static ROUTES: LazyLock<DashMap<RouteLabels, &'static RouteMetrics>> = LazyLock::new(DashMap::new);

impl RouteMetrics {
    /// The series of a route, made on first use and kept: a table built
    /// again (on each registration) finds those of its unchanged routes.
    pub fn of(backend: &str, method: &str, route: &str) -> &'static RouteMetrics {
        let labels = RouteLabels {
            backend: backend.to_string(),
            method: method.to_string(),
            route: route.to_string(),
        };
        *ROUTES
            .entry(labels)
            .or_insert_with(|| Box::leak(Box::new(RouteMetrics::new(backend, method, route))))
    }

    fn new(backend: &str, method: &str, route: &str) -> RouteMetrics {
        let labels = RouteLabels {
            backend: backend.to_string(),
            method: method.to_string(),
            route: route.to_string(),
        };
        let br = BackendRoute {
            backend: labels.backend.clone(),
            route: labels.route.clone(),
        };
        RouteMetrics {
            duration: METRICS.request_duration.get_or_create_owned(&labels),
            request_bytes: METRICS.request_bytes.get_or_create_owned(&br),
            response_bytes: METRICS.response_bytes.get_or_create_owned(&br),
            labels,
            codes: Default::default(),
            rate_limited: Lazy::default(),
        }
    }

    /// Its backend, method and route labels.
    pub fn labels(&self) -> &RouteLabels {
        &self.labels
    }

    /// Records one finished exchange.
    pub fn record(&self, status: u16, took: Duration, request_bytes: u64, response_bytes: u64) {
        if !enabled() {
            return;
        }
        let counter = |code: u16| {
            METRICS.requests.get_or_create_owned(&RouteCode {
                backend: self.labels.backend.clone(),
                method: self.labels.method.clone(),
                route: self.labels.route.clone(),
                code: code.to_string(),
            })
        };
        match CODES.iter().position(|&c| c == status) {
            Some(k) => self.codes[k].get(|| counter(status)).inc(),
            None => counter(status).inc(),
        };
        self.duration.observe(took);
        self.request_bytes.inc_by(request_bytes);
        self.response_bytes.inc_by(response_bytes);
    }

    /// Counts a request refused by the route's token bucket.
    pub fn record_rate_limited(&self) {
        if !enabled() {
            return;
        }
        self.rate_limited
            .get(|| {
                METRICS.rate_limited.get_or_create_owned(&BackendRoute {
                    backend: self.labels.backend.clone(),
                    route: self.labels.route.clone(),
                })
            })
            .inc();
    }
}

/// Counts one registration through the admin API.
pub fn record_registration(result: &'static str) {
    METRICS
        .registrations
        .get_or_create(&ResultLabel { result })
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_in_the_exposition() {
        let m = RouteMetrics::of("metrics-test", "S.m", "/metrics-test");
        assert!(std::ptr::eq(
            m,
            RouteMetrics::of("metrics-test", "S.m", "/metrics-test")
        ));
        m.record(200, Duration::from_micros(300), 10, 20);
        m.record(200, Duration::from_millis(3), 10, 20);
        m.record(404, Duration::from_secs(30), 1, 2);
        let text = render(&Snapshot::default(), false);
        let series = |name: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.starts_with(name) && l.contains("route=\"/metrics-test\""))
                .map(str::to_string)
                .collect()
        };
        let buckets = series("kitegate_request_duration_seconds_bucket");
        assert_eq!(buckets.len(), BOUNDS_S.len() + 1, "{buckets:?}");
        let at = |le: &str| {
            buckets
                .iter()
                .find(|l| l.contains(&format!("le=\"{le}\"")))
                .unwrap_or_else(|| panic!("le={le} in {buckets:?}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(at("0.0005"), "1");
        assert_eq!(at("0.005"), "2");
        assert_eq!(at("10"), "2");
        assert_eq!(at("+Inf"), "3");
        assert!(
            series("kitegate_request_duration_seconds_count")[0].ends_with(" 3"),
            "{text}"
        );
        let codes = series("kitegate_requests_total");
        assert!(
            codes
                .iter()
                .any(|l| l.contains("code=\"200\"") && l.ends_with(" 2"))
        );
        assert!(
            codes
                .iter()
                .any(|l| l.contains("code=\"404\"") && l.ends_with(" 1"))
        );
        assert!(series("kitegate_request_bytes_total")[0].ends_with(" 21"));
        assert!(!text.contains("# EOF"));
        let om = render(&Snapshot::default(), true);
        assert!(om.ends_with("# EOF\n"), "{om}");
    }

    #[test]
    fn endpoint_states_are_one_hot() {
        let snap = Snapshot {
            backends: 1,
            routes: 2,
            tasks: 7,
            endpoints: vec![("b".into(), "10.0.0.1:1".into(), 3, "ejected")],
            connections: vec![("b".into(), "10.0.0.1:1".into(), 1)],
            discovery: vec![("b".into(), "etcd", false, 2, 5)],
            store: Some((true, 42, 1, 3)),
        };
        let text = render(&snap, false);
        assert!(text.contains("kitegate_backends 1\n"), "{text}");
        assert!(
            text.contains("kitegate_discovery_up{backend=\"b\",kind=\"etcd\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("kitegate_discovery_endpoints{backend=\"b\",kind=\"etcd\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("kitegate_discovery_changes_total{backend=\"b\",kind=\"etcd\"} 5\n"),
            "{text}"
        );
        assert!(text.contains("kitegate_routes 2\n"), "{text}");
        assert!(text.contains("kitegate_runtime_tasks 7\n"), "{text}");
        for line in [
            "kitegate_store_up 1\n",
            "kitegate_store_revision 42\n",
            "kitegate_store_apply_errors 1\n",
            "kitegate_store_relists_total 3\n",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
        let state = |s: &str| {
            text.lines()
                .find(|l| l.starts_with("kitegate_endpoint_state{") && l.contains(s))
                .unwrap()
                .to_string()
        };
        assert!(state("\"ejected\"").ends_with(" 1"));
        assert!(state("\"healthy\"").ends_with(" 0"));
        assert!(state("\"open\"").ends_with(" 0"));
        assert!(
            text.contains("kitegate_backend_inflight{backend=\"b\",endpoint=\"10.0.0.1:1\"} 3")
        );
    }
}
