//! What the pipeline knows of each endpoint and of the backend as a whole:
//! calls in flight, a sliding window of outcomes, a circuit breaker, passive
//! ejection (outlier detection) and the verdict of active probes. The
//! balancer reads it to skip endpoints; the admin API shows it.
//!
//! Hand-written: tower has no breaker or outlier detector, and the crates
//! that offer breakers keep their own clocks and error types; these are a
//! few atomics read on every call, on tokio's clock (so tests can pause it).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::settings::{BreakerConfig, OutlierConfig};

/// Milliseconds on tokio's clock since the first call (never 0).
pub(crate) fn now_ms() -> u64 {
    static BASE: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| tokio::time::Instant::now() - Duration::from_millis(1));
    tokio::time::Instant::now()
        .saturating_duration_since(base)
        .as_millis() as u64
}

const BUCKETS: usize = 10;

/// Outcomes of the last `window` in ten buckets. Updates race benignly: a
/// bucket being reset may lose a count, which a rate does not notice.
pub(crate) struct Window {
    bucket_ms: u64,
    epochs: [AtomicU64; BUCKETS],
    ok: [AtomicU32; BUCKETS],
    failed: [AtomicU32; BUCKETS],
}

impl Window {
    pub(crate) fn new(window: Duration) -> Self {
        Window {
            bucket_ms: (window.as_millis() as u64 / BUCKETS as u64).max(1),
            epochs: Default::default(),
            ok: Default::default(),
            failed: Default::default(),
        }
    }

    pub(crate) fn record(&self, ok: bool) {
        let epoch = now_ms() / self.bucket_ms + 1;
        let i = (epoch % BUCKETS as u64) as usize;
        let seen = self.epochs[i].load(Ordering::Relaxed);
        if seen != epoch
            && self.epochs[i]
                .compare_exchange(seen, epoch, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.ok[i].store(0, Ordering::Relaxed);
            self.failed[i].store(0, Ordering::Relaxed);
        }
        let counter = if ok { &self.ok[i] } else { &self.failed[i] };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// (calls, failed calls) over the window.
    pub(crate) fn totals(&self) -> (u64, u64) {
        let epoch = now_ms() / self.bucket_ms + 1;
        let mut calls = 0;
        let mut failed = 0;
        for i in 0..BUCKETS {
            let e = self.epochs[i].load(Ordering::Relaxed);
            if e != 0 && e + (BUCKETS as u64) > epoch && e <= epoch {
                let f = u64::from(self.failed[i].load(Ordering::Relaxed));
                calls += u64::from(self.ok[i].load(Ordering::Relaxed)) + f;
                failed += f;
            }
        }
        (calls, failed)
    }

    fn clear(&self) {
        for i in 0..BUCKETS {
            self.epochs[i].store(0, Ordering::Relaxed);
        }
    }
}

/// A breaker's state, as the admin API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open { until_ms: u64 },
    HalfOpen,
}

/// Probe calls let through while half-open; all must succeed to close.
const PROBES: u32 = 3;

/// A circuit breaker over a [`Window`]: opens when the error rate of at
/// least `min_requests` calls reaches `error_rate`, stays open for
/// `open_ms`, then lets [`PROBES`] calls through: if they all succeed it
/// closes, if one fails it opens again.
pub struct Breaker {
    cfg: BreakerConfig,
    window: Window,
    /// 0 closed; else the time it opened (ms), its probe phase after open_ms.
    opened_ms: AtomicU64,
    probes_started: AtomicU32,
    probes_ok: AtomicU32,
    /// Serializes state changes (rare); the hot path reads atomics only.
    turn: Mutex<()>,
}

impl Breaker {
    pub(crate) fn new(cfg: &BreakerConfig) -> Self {
        Breaker {
            cfg: cfg.clone(),
            window: Window::new(Duration::from_millis(cfg.window_ms)),
            opened_ms: AtomicU64::new(0),
            probes_started: AtomicU32::new(0),
            probes_ok: AtomicU32::new(0),
            turn: Mutex::new(()),
        }
    }

    pub(crate) fn state(&self) -> BreakerState {
        match self.opened_ms.load(Ordering::Acquire) {
            0 => BreakerState::Closed,
            at if now_ms() < at + self.cfg.open_ms => BreakerState::Open {
                until_ms: at + self.cfg.open_ms,
            },
            _ => BreakerState::HalfOpen,
        }
    }

    /// Whether a call may go now (a half-open breaker counts it as a probe).
    pub(crate) fn allow(&self) -> bool {
        match self.state() {
            BreakerState::Closed => true,
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen => {
                if self.probes_started.fetch_add(1, Ordering::AcqRel) < PROBES {
                    return true;
                }
                // Probes that never reported (cancelled calls) must not
                // keep it half-open for ever: a new round after open_ms.
                let opened = self.opened_ms.load(Ordering::Acquire);
                if now_ms() >= opened + 2 * self.cfg.open_ms {
                    self.open();
                }
                false
            }
        }
    }

    /// Whether a call could go now, without taking a probe.
    pub(crate) fn available(&self) -> bool {
        match self.state() {
            BreakerState::Closed => true,
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen => self.probes_started.load(Ordering::Acquire) < PROBES,
        }
    }

    pub(crate) fn record(&self, ok: bool) {
        match self.state() {
            BreakerState::Closed => {
                self.window.record(ok);
                if !ok {
                    let (calls, failed) = self.window.totals();
                    if calls >= u64::from(self.cfg.min_requests)
                        && failed as f64 >= self.cfg.error_rate * calls as f64
                    {
                        self.open();
                    }
                }
            }
            // Calls that started before it opened.
            BreakerState::Open { .. } => {}
            BreakerState::HalfOpen => {
                if !ok {
                    self.open();
                } else if self.probes_ok.fetch_add(1, Ordering::AcqRel) + 1 >= PROBES {
                    let _turn = self.turn.lock().expect("breaker lock");
                    self.window.clear();
                    self.opened_ms.store(0, Ordering::Release);
                }
            }
        }
    }

    /// The admin API's view of the breaker.
    pub fn json(&self) -> Value {
        breaker_json(self.state(), now_ms())
    }

    fn open(&self) {
        let _turn = self.turn.lock().expect("breaker lock");
        self.probes_started.store(0, Ordering::Release);
        self.probes_ok.store(0, Ordering::Release);
        self.opened_ms.store(now_ms(), Ordering::Release);
    }
}

/// One endpoint, as the balancer and the admin API see it.
pub struct EndpointHealth {
    pub addr: String,
    pub weight: u32,
    pub inflight: AtomicU32,
    /// Every outcome, for the admin API's error rate.
    recent: Window,
    breaker: Option<Breaker>,
    consecutive_failures: AtomicU32,
    /// Ejected until this time (ms), 0 when not.
    ejected_until_ms: AtomicU64,
    /// The last active probe failed.
    probe_down: AtomicBool,
}

impl EndpointHealth {
    /// Its state as the admin API names it: healthy, ejected, probe_failed
    /// or breaker_open.
    pub fn state(&self, now: u64) -> &'static str {
        if self.probe_down.load(Ordering::Relaxed) {
            "probe_failed"
        } else if self.ejected_until_ms.load(Ordering::Relaxed) > now {
            "ejected"
        } else if self
            .breaker
            .as_ref()
            .is_some_and(|b| b.state() != BreakerState::Closed)
        {
            "breaker_open"
        } else {
            "healthy"
        }
    }

    /// Its state as the metrics name it: healthy, ejected (an outlier, or
    /// its probe failed) or open (its breaker).
    pub fn metric_state(&self) -> &'static str {
        match self.state(now_ms()) {
            "healthy" => "healthy",
            "breaker_open" => "open",
            _ => "ejected",
        }
    }
}

/// Why no endpoint can take a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Every one left has its breaker open.
    CircuitOpen,
    /// Every one left is ejected or failed its probe.
    NoHealthy,
}

/// The endpoints of one backend, and its own breaker.
pub struct Health {
    pub endpoints: Box<[Arc<EndpointHealth>]>,
    pub backend_breaker: Option<Arc<Breaker>>,
    outlier: Option<OutlierConfig>,
}

impl Health {
    /// The health of `endpoints`. With `previous` (the same backend before
    /// its endpoint set changed), an endpoint it also had (same address and
    /// weight) keeps its state, calls in flight included, and so does the
    /// backend's breaker.
    pub fn new(
        endpoints: &[super::settings::Endpoint],
        breaker: Option<&BreakerConfig>,
        outlier: Option<&OutlierConfig>,
        previous: Option<&Health>,
    ) -> Self {
        let kept = |e: &super::settings::Endpoint| {
            previous?
                .endpoints
                .iter()
                .find(|p| p.addr == e.addr && p.weight == e.weight)
                .cloned()
        };
        Health {
            endpoints: endpoints
                .iter()
                .map(|e| {
                    kept(e).unwrap_or_else(|| {
                        Arc::new(EndpointHealth {
                            addr: e.addr.clone(),
                            weight: e.weight,
                            inflight: AtomicU32::new(0),
                            recent: Window::new(Duration::from_secs(10)),
                            breaker: breaker.map(Breaker::new),
                            consecutive_failures: AtomicU32::new(0),
                            ejected_until_ms: AtomicU64::new(0),
                            probe_down: AtomicBool::new(false),
                        })
                    })
                })
                .collect(),
            backend_breaker: previous
                .and_then(|p| p.backend_breaker.clone())
                .or_else(|| breaker.map(|b| Arc::new(Breaker::new(b)))),
            outlier: outlier.cloned(),
        }
    }

    /// Whether endpoint `i` may take a call now, and if not, why.
    #[inline]
    pub fn usable(&self, i: usize) -> Result<(), Unavailable> {
        let e = &self.endpoints[i];
        if e.probe_down.load(Ordering::Relaxed) {
            return Err(Unavailable::NoHealthy);
        }
        let ejected = e.ejected_until_ms.load(Ordering::Relaxed);
        if ejected != 0 && now_ms() < ejected {
            return Err(Unavailable::NoHealthy);
        }
        if let Some(b) = &e.breaker
            && !b.available()
        {
            return Err(Unavailable::CircuitOpen);
        }
        Ok(())
    }

    /// Takes endpoint `i` for one call (a probe, if its breaker is half-open).
    #[inline]
    pub fn admit(&self, i: usize) -> bool {
        self.endpoints[i]
            .breaker
            .as_ref()
            .is_none_or(Breaker::allow)
    }

    /// Records the outcome of a call on endpoint `i`.
    pub fn record(&self, i: usize, ok: bool) {
        let e = &self.endpoints[i];
        e.recent.record(ok);
        if let Some(b) = &e.breaker {
            b.record(ok);
        }
        if ok {
            if e.consecutive_failures.load(Ordering::Relaxed) != 0 {
                e.consecutive_failures.store(0, Ordering::Relaxed);
            }
            return;
        }
        let Some(o) = &self.outlier else { return };
        let n = e.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= o.consecutive_failures && self.may_eject(o) {
            e.consecutive_failures.store(0, Ordering::Relaxed);
            e.ejected_until_ms
                .store(now_ms() + o.eject_ms, Ordering::Relaxed);
            tracing::warn!(endpoint = %e.addr, failures = n, eject_ms = o.eject_ms, "endpoint ejected");
        }
    }

    /// Whether one more endpoint may be ejected (at least one may, when the
    /// share allows any).
    fn may_eject(&self, o: &OutlierConfig) -> bool {
        let now = now_ms();
        let ejected = self
            .endpoints
            .iter()
            .filter(|e| now < e.ejected_until_ms.load(Ordering::Relaxed))
            .count();
        let most = (self.endpoints.len() * o.max_ejected_percent as usize / 100)
            .max(usize::from(o.max_ejected_percent > 0));
        ejected < most
    }

    /// Sets endpoint `i`'s active probe verdict.
    pub fn probed(&self, i: usize, up: bool) {
        let e = &self.endpoints[i];
        if e.probe_down.swap(!up, Ordering::Relaxed) == up {
            tracing::info!(endpoint = %e.addr, up, "probe verdict changed");
        }
    }

    /// Why none of `candidates` is usable (the most hopeful reason).
    pub fn why_none(&self, candidates: impl Iterator<Item = usize>) -> Unavailable {
        let mut why = Unavailable::NoHealthy;
        for i in candidates {
            if self.usable(i) == Err(Unavailable::CircuitOpen) {
                why = Unavailable::CircuitOpen;
            }
        }
        why
    }

    /// The admin API's view of each endpoint.
    pub fn snapshot(&self) -> Vec<Value> {
        let now = now_ms();
        self.endpoints
            .iter()
            .map(|e| {
                let (calls, failed) = e.recent.totals();
                let ejected = e.ejected_until_ms.load(Ordering::Relaxed);
                let state = e.state(now);
                let mut v = json!({
                    "address": e.addr,
                    "weight": e.weight,
                    "state": state,
                    "inflight": e.inflight.load(Ordering::Relaxed),
                    "recent_calls": calls,
                    "recent_error_rate": if calls == 0 { 0.0 } else { failed as f64 / calls as f64 },
                });
                if ejected > now {
                    v["ejected_for_ms"] = json!(ejected - now);
                }
                if let Some(b) = &e.breaker {
                    v["breaker"] = breaker_json(b.state(), now);
                }
                v
            })
            .collect()
    }
}

pub(crate) fn breaker_json(state: BreakerState, now: u64) -> Value {
    match state {
        BreakerState::Closed => json!({"state": "closed"}),
        BreakerState::HalfOpen => json!({"state": "half_open"}),
        BreakerState::Open { until_ms } => {
            json!({"state": "open", "open_for_ms": until_ms.saturating_sub(now)})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(&BreakerConfig {
            error_rate: 0.5,
            min_requests: 4,
            window_ms: 1000,
            open_ms: 100,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_breaker_opens_on_the_error_rate_and_closes_after_good_probes() {
        let b = breaker();
        b.record(true);
        b.record(false);
        b.record(false);
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "3 calls are under min_requests"
        );
        b.record(false);
        assert!(matches!(b.state(), BreakerState::Open { .. }));
        assert!(!b.allow());
        tokio::time::advance(Duration::from_millis(101)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.allow() && b.allow() && b.allow());
        assert!(!b.allow(), "only {PROBES} probes");
        b.record(true);
        b.record(true);
        b.record(true);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.window.totals(), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_it_again() {
        let b = breaker();
        for _ in 0..4 {
            b.record(false);
        }
        tokio::time::advance(Duration::from_millis(101)).await;
        assert!(b.allow());
        b.record(false);
        assert!(matches!(b.state(), BreakerState::Open { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn old_outcomes_leave_the_window() {
        let w = Window::new(Duration::from_millis(1000));
        w.record(false);
        w.record(true);
        assert_eq!(w.totals(), (2, 1));
        tokio::time::advance(Duration::from_millis(600)).await;
        w.record(true);
        assert_eq!(w.totals(), (3, 1));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(w.totals(), (1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_eject_within_the_share() {
        let eps: Vec<_> = ["a:1", "b:1", "c:1", "d:1"]
            .into_iter()
            .map(super::super::settings::Endpoint::from)
            .collect();
        let h = Health::new(
            &eps,
            None,
            Some(&OutlierConfig {
                consecutive_failures: 2,
                eject_ms: 50,
                max_ejected_percent: 50,
            }),
            None,
        );
        for i in 0..3 {
            h.record(i, false);
            h.record(i, false);
        }
        assert_eq!(h.usable(0), Err(Unavailable::NoHealthy));
        assert_eq!(h.usable(1), Err(Unavailable::NoHealthy));
        assert_eq!(h.usable(2), Ok(()), "50% of 4 is 2 ejected at most");
        h.record(3, false);
        h.record(3, true);
        h.record(3, false);
        assert_eq!(h.usable(3), Ok(()), "a success resets the count");
        tokio::time::advance(Duration::from_millis(51)).await;
        assert_eq!(h.usable(0), Ok(()));
        assert_eq!(h.snapshot()[0]["state"], "healthy");
    }
}
