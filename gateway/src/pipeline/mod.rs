//! The call pipeline: how every backend call is made, whatever its
//! protocol. A protocol module encodes a request and hands it to its
//! backend's [`Client`], a `tower` stack built once per backend by
//! [`client`] from the same layers for every protocol:
//!
//! ```text
//! limit ▸ breaker ▸ retry (budget, backup) ▸ failover ▸ balance ▸ endpoint
//! ```
//!
//! - [`limit`]: the route's token bucket (429) and the backend's
//!   concurrency limit (503 `overloaded`);
//! - [`breaker`]: the backend's circuit breaker (503 `circuit_open`);
//! - [`retry`]: another try after a failure of a class the settings name,
//!   within a budget, and only if nothing was sent or the method is
//!   idempotent; a backup try of an idempotent call that is slow to answer;
//! - [`failover`]: a try that cannot have reached a server (no connection
//!   could be made) goes to the next endpoint, until each was tried once;
//! - [`balance`]: the endpoint of each try (round robin, weighted round
//!   robin, least in flight, consistent hash), skipping the endpoints that
//!   are ejected, whose breaker is open or that failed this call; it bounds
//!   each try by its deadline and records its outcome in [`health`].
//!
//! A call's deadline is the method's timeout (or the client's
//! `x-kitegate-timeout-ms`, capped by it); what is left of it travels to the
//! backend in the protocol's own field. A new concern is one more
//! [`stage::Step`] in a file here and one line in [`client`]; the protocol
//! modules do not change.

pub mod balance;
pub mod breaker;
pub mod failover;
pub mod health;
pub mod limit;
mod probe;
pub mod retry;
pub mod settings;
pub mod stage;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::http::HeaderMap;
use tokio::time::Instant;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt as _};

use crate::config::BackendConfig;
use crate::error::{ApiError, Failure};
use crate::observe::metrics::MethodMetrics;
use crate::observe::trace::{Carry, Propagated};
use crate::transport::{Answer, Connections, TransportError};
use health::Health;
use settings::{KeySource, Policy, RetryOn};
use stage::StageLayer;

/// The request header with which a client shortens a call's deadline.
pub const TIMEOUT_HEADER: &str = "x-kitegate-timeout-ms";

/// One call on its way through the stack: the protocol's request (cloned
/// when a try is made again), and what the layers need to know of it.
#[derive(Debug, Clone)]
pub struct Call<R> {
    pub request: R,
    pub policy: Arc<CallPolicy>,
    /// When the whole call must end.
    pub deadline: Instant,
    /// When the current try must end (set by the retry layer).
    pub try_deadline: Instant,
    /// The consistent-hash key, when the policy uses one.
    pub hash: Option<u64>,
    /// The rate-limit bucket, when buckets are keyed.
    pub rate_key: Option<Box<str>>,
    /// Endpoints (by index) this call already failed on.
    pub failed: Vec<usize>,
    /// Endpoints (as bits) its tries were sent to, while a backup try may
    /// need to avoid them.
    pub picked: Option<Arc<AtomicU64>>,
}

/// What the layers read of one method, resolved once when routes are built.
#[derive(Debug)]
pub struct CallPolicy {
    /// `Service.method`.
    pub name: String,
    /// Safe to run twice.
    pub idempotent: bool,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub retry_on: Vec<RetryOn>,
    pub try_timeout: Option<Duration>,
    pub backup_after: Option<Duration>,
    pub rate: Option<Arc<limit::RateLimit>>,
    /// Its tries and retries in the metrics.
    pub metrics: MethodMetrics,
}

impl CallPolicy {
    /// A policy with no retries, no backup and no rate limit (tests, tools).
    pub fn plain(name: &str, timeout: Duration, idempotent: bool) -> Arc<CallPolicy> {
        Arc::new(CallPolicy {
            name: name.to_string(),
            idempotent,
            timeout,
            max_attempts: 1,
            retry_on: Vec::new(),
            try_timeout: None,
            backup_after: None,
            rate: None,
            metrics: MethodMetrics::new("", name, Vec::new()),
        })
    }

    /// The timeout in whole milliseconds, as protocols write it.
    pub fn timeout_ms(&self) -> u64 {
        self.timeout.as_millis() as u64
    }
}

/// What a call carries besides its request, read from the HTTP request.
#[derive(Debug, Clone)]
pub struct CallMeta {
    pub deadline: Instant,
    pub hash: Option<u64>,
    pub rate_key: Option<Box<str>>,
    /// The request's `x-request-id`, which protocols with metadata forward.
    pub request_id: Option<axum::http::HeaderValue>,
    /// The trace context to send the backend.
    pub trace: Option<Propagated>,
    /// Claims of the request's token to send as metadata (`auth.forward_claims`).
    pub claims: Option<crate::edge::auth::Claims>,
}

/// The keys under which a protocol's metadata carries a call's context.
#[derive(Debug, Clone, Copy)]
pub struct ContextKeys {
    pub request_id: &'static str,
    pub traceparent: &'static str,
    pub tracestate: &'static str,
}

/// A call's context as key/value pairs of its protocol's metadata.
pub struct ContextPairs<'a> {
    pairs: [(&'a str, &'a str); 3],
    len: usize,
    /// Every pair, forwarded claims included, when there are claims.
    all: Vec<(&'a str, &'a str)>,
}

impl<'a> ContextPairs<'a> {
    pub fn as_slice(&self) -> &[(&'a str, &'a str)] {
        if self.all.is_empty() {
            &self.pairs[..self.len]
        } else {
            &self.all
        }
    }

    /// About the bytes the pairs take on a wire (each with room for its
    /// length prefixes): what a frame's buffer is to have room for, so
    /// that writing them does not grow it.
    pub fn wire_len(&self) -> usize {
        self.as_slice()
            .iter()
            .map(|(k, v)| k.len() + v.len() + 8)
            .sum()
    }
}

impl CallMeta {
    /// A call with `timeout` from now, no hash and no rate bucket.
    pub fn after(timeout: Duration) -> CallMeta {
        CallMeta {
            deadline: Instant::now() + timeout,
            hash: None,
            rate_key: None,
            request_id: None,
            trace: None,
            claims: None,
        }
    }

    /// The request id and trace context, under `keys`, those the call has.
    pub fn context(&self, keys: &ContextKeys) -> ContextPairs<'_> {
        let mut out = ContextPairs {
            pairs: [("", ""); 3],
            len: 0,
            all: Vec::new(),
        };
        let mut push = |k, v| {
            out.pairs[out.len] = (k, v);
            out.len += 1;
        };
        if let Some(id) = self.request_id() {
            push(keys.request_id, id);
        }
        if let Some(t) = &self.trace {
            push(keys.traceparent, t.traceparent());
            if let Some(state) = t.tracestate() {
                push(keys.tracestate, state);
            }
        }
        if let Some(c) = &self.claims {
            out.all = out.pairs[..out.len].to_vec();
            out.all.extend(c.pairs());
        }
        out
    }

    /// The request id as text, when there is one that is.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_ref().and_then(|v| v.to_str().ok())
    }

    /// What is left of the deadline, at least 1 ms (for the wire).
    pub fn remaining(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    }

    /// [`CallMeta::remaining`] in whole milliseconds.
    pub fn remaining_ms(&self) -> u64 {
        self.remaining().as_millis().max(1) as u64
    }
}

/// How a try failed, and on which endpoint.
#[derive(Debug, Clone)]
pub struct CallError {
    pub error: TransportError,
    /// The endpoint that failed, when one was chosen.
    pub endpoint: Option<usize>,
}

impl From<TransportError> for CallError {
    fn from(error: TransportError) -> Self {
        CallError {
            error,
            endpoint: None,
        }
    }
}

/// A backend's client: the whole stack, cloned per call (a few reference
/// counts).
pub type Client<R, S> = BoxCloneSyncService<Call<R>, S, CallError>;

/// A backend's traffic management: its settings, resolved, and the state
/// its layers share (endpoint health, retry budget, limits).
pub struct Traffic {
    pub health: Arc<Health>,
    /// `None` when no method of the backend retries or backs up.
    pub(crate) budget: Option<Arc<retry::Budget>>,
    pub(crate) concurrency: Option<Arc<tokio::sync::Semaphore>>,
    pub(crate) policy: Policy,
    hash_key: Option<KeySource>,
    rate_key: Option<KeySource>,
    pub(crate) settings: BackendConfig,
    timeout: Duration,
    /// The rate limit of each method that has one, by name (kept when the
    /// backend is rebuilt for a new endpoint set).
    rates: std::sync::Mutex<std::collections::HashMap<String, Arc<limit::RateLimit>>>,
    /// The endpoints' connections, as [`client`] was given them.
    connections: std::sync::OnceLock<Vec<Box<dyn Connections>>>,
    /// Stops the active probes when the backend goes.
    _probe: Option<probe::Probe>,
}

impl std::fmt::Debug for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traffic")
            .field("policy", &self.policy)
            .field("endpoints", &self.settings.endpoints)
            .finish_non_exhaustive()
    }
}

impl Traffic {
    /// Resolves a backend's checked settings (see [`settings::check`]).
    pub fn new(cfg: &BackendConfig, timeout: Duration, connect_timeout: Duration) -> Traffic {
        Traffic::build(cfg, timeout, connect_timeout, None)
    }

    /// The traffic of the same backend over a new endpoint set (from its
    /// discovery): the endpoints it keeps keep their health and calls in
    /// flight, and the backend keeps its breaker, retry budget,
    /// concurrency limit and rate limits.
    pub fn after(
        cfg: &BackendConfig,
        timeout: Duration,
        connect_timeout: Duration,
        previous: &Traffic,
    ) -> Traffic {
        Traffic::build(cfg, timeout, connect_timeout, Some(previous))
    }

    fn build(
        cfg: &BackendConfig,
        timeout: Duration,
        connect_timeout: Duration,
        previous: Option<&Traffic>,
    ) -> Traffic {
        let health = Arc::new(Health::new(
            &cfg.endpoints,
            cfg.breaker.as_ref(),
            cfg.outlier.as_ref(),
            previous.map(|p| &*p.health),
        ));
        let probe = (cfg.health.interval_ms > 0).then(|| {
            probe::Probe::start(
                &health,
                Duration::from_millis(cfg.health.interval_ms),
                connect_timeout,
            )
        });
        let parse = |s: &str, fields| (!s.is_empty()).then(|| KeySource::parse(s, fields).ok())?;
        Traffic {
            budget: match previous {
                Some(p) => p.budget.clone(),
                None => retries(cfg).then(|| Arc::new(retry::Budget::new(&cfg.retry))),
            },
            concurrency: match previous {
                Some(p) => p.concurrency.clone(),
                None => (cfg.limit.max_concurrency > 0).then(|| {
                    Arc::new(tokio::sync::Semaphore::new(
                        cfg.limit.max_concurrency as usize,
                    ))
                }),
            },
            rates: std::sync::Mutex::new(
                previous
                    .map(|p| p.rates.lock().expect("rates lock").clone())
                    .unwrap_or_default(),
            ),
            policy: cfg.balance.policy,
            hash_key: parse(&cfg.balance.hash_key, true),
            rate_key: parse(&cfg.limit.rate_key, false),
            health,
            settings: cfg.clone(),
            timeout,
            connections: Default::default(),
            _probe: probe,
        }
    }

    /// Open connections per endpoint, in the order of the settings (empty
    /// before the client is built).
    pub fn open_connections(&self) -> Vec<usize> {
        self.connections
            .get()
            .map(|c| c.iter().map(|e| e.open_connections()).collect())
            .unwrap_or_default()
    }

    /// The policy of one method: the backend's settings, the method's
    /// overrides (`methods.NAME` or `methods."Service.NAME"`), and whether
    /// its IDL marks it idempotent.
    pub fn method(&self, service: &str, method: &str, idl_idempotent: bool) -> Arc<CallPolicy> {
        let s = &self.settings;
        let over = s
            .methods
            .get(&format!("{service}.{method}"))
            .or_else(|| s.methods.get(method));
        let retry = over.and_then(|m| m.retry.as_ref()).unwrap_or(&s.retry);
        let idempotent = over.and_then(|m| m.idempotent).unwrap_or_else(|| {
            idl_idempotent || settings::matches_method(&retry.idempotent, service, method)
        });
        let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
        let name = format!("{service}.{method}");
        let rate = (s.limit.rate_per_s > 0).then(|| {
            let mut rates = self.rates.lock().expect("rates lock");
            rates
                .entry(name.clone())
                .or_insert_with(|| Arc::new(limit::RateLimit::new(&s.limit)))
                .clone()
        });
        let endpoints = s.endpoints.iter().map(|e| e.addr.clone()).collect();
        Arc::new(CallPolicy {
            metrics: MethodMetrics::new(&s.name, &name, endpoints),
            name,
            idempotent,
            timeout: over
                .and_then(|m| m.timeout_ms)
                .map_or(self.timeout, Duration::from_millis),
            max_attempts: retry.max_attempts,
            retry_on: retry.on.clone(),
            try_timeout: ms(retry.attempt_timeout_ms),
            backup_after: ms(retry.backup_after_ms).filter(|_| idempotent),
            rate,
        })
    }

    /// What a call of `policy` carries, from the HTTP request's headers and
    /// JSON body (empty when the body is a stream).
    pub fn meta(
        &self,
        policy: &CallPolicy,
        parts: &axum::http::request::Parts,
        body: &[u8],
    ) -> Result<CallMeta, ApiError> {
        let headers = &parts.headers;
        let mut timeout = policy.timeout;
        if let Some(v) = headers.get(TIMEOUT_HEADER) {
            let ms = v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|&ms| ms > 0)
                .ok_or_else(|| {
                    ApiError::from(Failure::Input(format!(
                        "{TIMEOUT_HEADER} must be a whole number of milliseconds above 0"
                    )))
                })?;
            timeout = timeout.min(Duration::from_millis(ms));
        }
        Ok(CallMeta {
            deadline: Instant::now() + timeout,
            hash: self
                .hash_key
                .as_ref()
                .and_then(|k| key_of(k, headers, body))
                .map(|k| balance::hash_bytes(k.as_bytes())),
            rate_key: self
                .rate_key
                .as_ref()
                .map(|k| key_of(k, headers, body).unwrap_or_default().into()),
            request_id: headers.get(&crate::observe::access::REQUEST_ID).cloned(),
            trace: Propagated::of_request(headers),
            claims: parts.extensions.get::<crate::edge::auth::Claims>().cloned(),
        })
    }
}

/// Whether any method of the backend may be tried more than once.
fn retries(cfg: &BackendConfig) -> bool {
    let tries = |r: &settings::RetryConfig| r.max_attempts > 1 || r.backup_after_ms > 0;
    tries(&cfg.retry)
        || cfg
            .methods
            .values()
            .any(|m| m.retry.as_ref().is_some_and(tries))
}

/// The value a key source names in a request, as text.
fn key_of(k: &KeySource, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    match k {
        KeySource::Header(name) => headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        KeySource::Field(path) => {
            let v: serde_json::Value = serde_json::from_slice(body).ok()?;
            let mut at = &v;
            for p in path {
                at = at.get(p)?;
            }
            Some(match at {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        }
    }
}

/// Builds the client stack over `endpoints` (one protocol connection each,
/// in the order of the backend's settings).
pub fn client<R, E>(traffic: &Traffic, endpoints: Vec<E>) -> Client<R, E::Response>
where
    R: Carry + Clone + Send + Sync + 'static,
    E: tower::Service<R, Error = TransportError> + Connections + Clone + Send + Sync + 'static,
    E::Response: Answer + Send + 'static,
    E::Future: Send + 'static,
{
    let _ = traffic.connections.set(
        endpoints
            .iter()
            .map(|e| Box::new(e.clone()) as Box<dyn Connections>)
            .collect(),
    );
    let stack = ServiceBuilder::new()
        .layer(StageLayer(limit::Limit::new(traffic)))
        .layer(StageLayer(breaker::Breaker::new(traffic)))
        .layer(StageLayer(retry::Retry::new(traffic)))
        .layer(StageLayer(failover::Failover::new(endpoints.len())))
        .service(balance::Balance::new(traffic, endpoints));
    BoxCloneSyncService::new(stack)
}

/// Sends one call of `policy` through `client`.
pub async fn send<R, S>(
    client: &Client<R, S>,
    request: R,
    policy: &Arc<CallPolicy>,
    meta: CallMeta,
) -> Result<S, ApiError> {
    let call = Call {
        request,
        policy: policy.clone(),
        deadline: meta.deadline,
        try_deadline: meta.deadline,
        hash: meta.hash,
        rate_key: meta.rate_key,
        failed: Vec::new(),
        picked: None,
    };
    client
        .clone()
        .oneshot(call)
        .await
        .map_err(|e| ApiError::from(e.error))
}

#[cfg(test)]
mod tests;
