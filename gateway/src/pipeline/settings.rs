//! The traffic settings of a backend, as the TOML config and the admin
//! API's JSON write them (the same keys in both), their defaults and their
//! checks. Each section is read by one layer of the stack.
//!
//! ```toml
//! endpoints = ["127.0.0.1:9001", { addr = "127.0.0.1:9002", weight = 3 }]
//! [backends.balance]
//! policy = "weighted_round_robin"  # round_robin | weighted_round_robin | least_inflight | consistent_hash
//! hash_key = "header:x-user-id"    # consistent_hash: "header:NAME" or "field:json.path"
//! [backends.retry]
//! max_attempts = 1                 # tries in all; 1 = no retry after a possible send
//! budget_percent = 10              # retries: at most this share of the calls of the last 10 s
//! min_retries_per_s = 1            # besides the share, for quiet backends
//! on = ["connect", "unavailable", "timeout"]
//! attempt_timeout_ms = 0           # one try's limit (0: what is left of the call's deadline)
//! idempotent = ["echo", "get*"]
//! backup_after_ms = 0
//! [backends.breaker]               # present = on
//! error_rate = 0.5
//! min_requests = 20
//! window_ms = 10000
//! open_ms = 5000
//! [backends.outlier]               # present = on
//! consecutive_failures = 5
//! eject_ms = 10000
//! max_ejected_percent = 50
//! [backends.limit]
//! max_concurrency = 0
//! rate_per_s = 0
//! burst = 0
//! rate_key = ""                    # "header:NAME": one bucket per value
//! [backends.health]
//! interval_ms = 0
//! [backends.methods.echo]
//! timeout_ms = 200
//! ```

use serde::{Deserialize, Serialize};

use crate::config::BackendConfig;

/// One endpoint: an address and its weight (1 unless given).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(from = "EndpointForm", into = "EndpointForm")]
pub struct Endpoint {
    pub addr: String,
    pub weight: u32,
}

impl From<&str> for Endpoint {
    fn from(addr: &str) -> Self {
        Endpoint {
            addr: addr.to_string(),
            weight: 1,
        }
    }
}

impl From<String> for Endpoint {
    fn from(addr: String) -> Self {
        Endpoint { addr, weight: 1 }
    }
}

/// How an endpoint is written: an address alone, or a table with a weight.
#[derive(Deserialize, Serialize)]
#[serde(untagged)]
enum EndpointForm {
    Addr(String),
    Weighted {
        addr: String,
        #[serde(default = "one")]
        weight: u32,
    },
}

fn one() -> u32 {
    1
}

impl From<EndpointForm> for Endpoint {
    fn from(f: EndpointForm) -> Self {
        match f {
            EndpointForm::Addr(addr) => Endpoint { addr, weight: 1 },
            EndpointForm::Weighted { addr, weight } => Endpoint { addr, weight },
        }
    }
}

impl From<Endpoint> for EndpointForm {
    fn from(e: Endpoint) -> Self {
        if e.weight == 1 {
            EndpointForm::Addr(e.addr)
        } else {
            EndpointForm::Weighted {
                addr: e.addr,
                weight: e.weight,
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    RoundRobin,
    #[default]
    WeightedRoundRobin,
    /// Power of two choices over the calls in flight.
    LeastInflight,
    ConsistentHash,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceConfig {
    #[serde(default)]
    pub policy: Policy,
    /// `header:NAME` or `field:json.path`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash_key: String,
}

/// A failure class that the retry layer may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryOn {
    /// No connection could be made (nothing was sent).
    Connect,
    /// The connection broke or closed before the reply.
    Unavailable,
    /// The attempt's time ran out.
    Timeout,
    /// The reply was not a valid frame.
    BadReply,
}

impl RetryOn {
    /// Its name in the settings and in the metrics.
    pub fn name(self) -> &'static str {
        match self {
            RetryOn::Connect => "connect",
            RetryOn::Unavailable => "unavailable",
            RetryOn::Timeout => "timeout",
            RetryOn::BadReply => "bad_reply",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub max_attempts: u32,
    pub budget_percent: f32,
    pub min_retries_per_s: u32,
    pub on: Vec<RetryOn>,
    pub attempt_timeout_ms: u64,
    /// Method names (a trailing `*` matches a prefix) that are idempotent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub idempotent: Vec<String>,
    pub backup_after_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 1,
            budget_percent: 10.0,
            min_retries_per_s: 1,
            on: vec![RetryOn::Connect, RetryOn::Unavailable, RetryOn::Timeout],
            attempt_timeout_ms: 0,
            idempotent: Vec::new(),
            backup_after_ms: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    pub error_rate: f64,
    pub min_requests: u32,
    pub window_ms: u64,
    pub open_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            error_rate: 0.5,
            min_requests: 20,
            window_ms: 10_000,
            open_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutlierConfig {
    pub consecutive_failures: u32,
    pub eject_ms: u64,
    pub max_ejected_percent: u32,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_failures: 5,
            eject_ms: 10_000,
            max_ejected_percent: 50,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitConfig {
    pub max_concurrency: u32,
    pub rate_per_s: u32,
    pub burst: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rate_key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    pub interval_ms: u64,
}

/// Per-method overrides.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MethodConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryConfig>,
    /// The method's routes' own authentication (`crate::edge::auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<crate::edge::auth::MethodAuth>,
}

pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Where a per-call key (hash or rate bucket) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Header(axum::http::HeaderName),
    /// A dotted path into the JSON body.
    Field(Vec<String>),
}

impl KeySource {
    /// Parses `header:NAME` or (when `fields` is allowed) `field:a.b`.
    pub fn parse(s: &str, fields: bool) -> Result<KeySource, String> {
        if let Some(h) = s.strip_prefix("header:") {
            return axum::http::HeaderName::try_from(h.trim())
                .map(KeySource::Header)
                .map_err(|_| format!("`{s}`: not a header name"));
        }
        if fields && let Some(f) = s.strip_prefix("field:") {
            let path: Vec<String> = f.split('.').map(str::to_string).collect();
            if path.iter().any(String::is_empty) {
                return Err(format!("`{s}`: an empty path segment"));
            }
            return Ok(KeySource::Field(path));
        }
        Err(if fields {
            format!("`{s}`: expected `header:NAME` or `field:json.path`")
        } else {
            format!("`{s}`: expected `header:NAME`")
        })
    }
}

impl RetryConfig {
    fn check(&self, at: &str) -> Result<(), String> {
        if !(1..=5).contains(&self.max_attempts) {
            return Err(format!("{at}retry.max_attempts must be 1 to 5"));
        }
        if !(0.0..=100.0).contains(&self.budget_percent) {
            return Err(format!("{at}retry.budget_percent must be 0 to 100"));
        }
        if self.min_retries_per_s > 10_000 {
            return Err(format!("{at}retry.min_retries_per_s must be at most 10000"));
        }
        Ok(())
    }
}

/// Checks a backend's traffic sections against each other and their ranges.
pub fn check(cfg: &BackendConfig) -> Result<(), String> {
    cfg.check_traffic()
}

impl BackendConfig {
    fn check_traffic(&self) -> Result<(), String> {
        if self.endpoints.iter().any(|e| e.weight == 0) {
            return Err("an endpoint's weight must be at least 1".into());
        }
        if self.balance.policy == Policy::ConsistentHash {
            if self.balance.hash_key.is_empty() {
                return Err("balance.policy `consistent_hash` needs balance.hash_key".into());
            }
            KeySource::parse(&self.balance.hash_key, true)
                .map_err(|e| format!("balance.hash_key {e}"))?;
        } else if !self.balance.hash_key.is_empty() {
            return Err("balance.hash_key is read only by `consistent_hash`".into());
        }
        self.retry.check("")?;
        if let Some(b) = &self.breaker {
            if !(b.error_rate > 0.0 && b.error_rate <= 1.0) {
                return Err("breaker.error_rate must be above 0 and at most 1".into());
            }
            if b.min_requests == 0 || b.window_ms == 0 || b.open_ms == 0 {
                return Err("breaker.min_requests, window_ms and open_ms must be above 0".into());
            }
        }
        if let Some(o) = &self.outlier {
            if o.consecutive_failures == 0 || o.eject_ms == 0 {
                return Err("outlier.consecutive_failures and eject_ms must be above 0".into());
            }
            if o.max_ejected_percent > 100 {
                return Err("outlier.max_ejected_percent must be at most 100".into());
            }
        }
        if self.limit.rate_per_s == 0 && (self.limit.burst > 0 || !self.limit.rate_key.is_empty()) {
            return Err("limit.burst and limit.rate_key need limit.rate_per_s".into());
        }
        if !self.limit.rate_key.is_empty() {
            KeySource::parse(&self.limit.rate_key, false)
                .map_err(|e| format!("limit.rate_key {e}"))?;
        }
        for (name, m) in &self.methods {
            if m.timeout_ms == Some(0) {
                return Err(format!("methods.{name}.timeout_ms must be at least 1"));
            }
            if let Some(r) = &m.retry {
                r.check(&format!("methods.{name}."))?;
            }
        }
        Ok(())
    }
}

/// Whether `method` matches a pattern of `retry.idempotent` (`get*` is a
/// prefix); a pattern may name the service too (`Hello.echo`).
pub fn matches_method(patterns: &[String], service: &str, method: &str) -> bool {
    patterns.iter().any(|p| {
        let (svc, pat) = match p.split_once('.') {
            Some((s, m)) => (Some(s), m),
            None => (None, p.as_str()),
        };
        svc.is_none_or(|s| s == service)
            && match pat.strip_suffix('*') {
                Some(prefix) => method.starts_with(prefix),
                None => method == pat,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend's settings with `sections` after its name and endpoint.
    fn backend(sections: &str) -> BackendConfig {
        toml::from_str(&format!("name = \"b\"\nendpoints = [\"a:1\"]\n{sections}")).unwrap()
    }

    #[test]
    fn endpoints_read_as_strings_or_tables_and_write_back_the_same() {
        #[derive(Deserialize, Serialize)]
        struct E {
            endpoints: Vec<Endpoint>,
        }
        let e: E = toml::from_str(
            r#"endpoints = ["a:1", { addr = "b:2", weight = 3 }, { addr = "c:3" }]"#,
        )
        .unwrap();
        assert_eq!(e.endpoints[0], Endpoint::from("a:1"));
        assert_eq!(e.endpoints[1].weight, 3);
        assert_eq!(e.endpoints[2].weight, 1);
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"endpoints": ["a:1", {"addr": "b:2", "weight": 3}, "c:3"]})
        );
    }

    #[test]
    fn defaults_are_left_out_when_written() {
        let written = serde_json::to_value(backend("")).unwrap();
        for key in [
            "balance", "retry", "breaker", "outlier", "limit", "health", "methods",
        ] {
            assert!(written.get(key).is_none(), "{key} written: {written}");
        }
        let t = backend("[breaker]\n");
        assert_eq!(t.breaker, Some(BreakerConfig::default()));
    }

    #[test]
    fn checks() {
        let bad = [
            "[balance]\npolicy = \"consistent_hash\"",
            "[balance]\npolicy = \"consistent_hash\"\nhash_key = \"cookie:x\"",
            "[balance]\nhash_key = \"header:x\"",
            "[retry]\nmax_attempts = 0",
            "[retry]\nmax_attempts = 9",
            "[breaker]\nerror_rate = 0",
            "[outlier]\nmax_ejected_percent = 101",
            "[limit]\nburst = 3",
            "[limit]\nrate_per_s = 3\nrate_key = \"field:a\"",
            "[methods.echo]\ntimeout_ms = 0",
        ];
        for b in bad {
            assert!(check(&backend(b)).is_err(), "{b}");
        }
        let good = "[balance]\npolicy = \"consistent_hash\"\nhash_key = \"field:user.id\"\n\
                    [limit]\nrate_per_s = 5\nrate_key = \"header:x-user\"";
        check(&backend(good)).unwrap();
        assert!(
            toml::from_str::<BackendConfig>(
                "name = \"b\"\nendpoints = [\"a:1\"]\n[retry]\non = [\"exception\"]"
            )
            .is_err()
        );
        let zero = "name = \"b\"\nendpoints = [{ addr = \"a:1\", weight = 0 }]";
        assert!(check(&toml::from_str(zero).unwrap()).is_err());
    }

    #[test]
    fn idempotent_patterns() {
        let p = vec!["echo".to_string(), "get*".into(), "Other.add".into()];
        assert!(matches_method(&p, "Hello", "echo"));
        assert!(matches_method(&p, "Hello", "getUser"));
        assert!(!matches_method(&p, "Hello", "add"));
        assert!(matches_method(&p, "Other", "add"));
        assert!(!matches_method(&p, "Hello", "echo2"));
    }
}
