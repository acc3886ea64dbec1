//! Where a backend's endpoints come from when they are not a fixed list:
//! a registry that the services write themselves into (etcd in Kitex's
//! layout, ZooKeeper in Dubbo's or Kitex's), or DNS names re-resolved.
//!
//! ```toml
//! [[backends]]
//! name = "hello"
//! discovery = { kind = "etcd", endpoints = ["127.0.0.1:2379"], service = "hello" }
//! # discovery = { kind = "zookeeper", endpoints = ["127.0.0.1:2181"], service = "com.example.Api" }
//! # discovery = { kind = "zookeeper-kitex", endpoints = ["127.0.0.1:2181"], service = "hello" }
//! # discovery = { kind = "dns", name = "hello.internal:8899", refresh_ms = 5000 }
//! ```
//!
//! Each source runs as a task that publishes the set it last saw in a
//! [`View`]. When the set changes, the registry rebuilds the backend over
//! the new set (the endpoints it keeps keep their health and connections)
//! and swaps it in, as an admin change is: new calls go to the new set at
//! once, calls in flight finish on the old one. A source that cannot reach
//! its registry keeps the last set it saw, says so in its view, and tries
//! again; it never empties the set for that reason.

pub mod dns;
pub mod etcd;
pub mod zookeeper;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

use crate::config::{BackendConfig, Endpoint};

/// How a backend finds its endpoints.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DiscoveryConfig {
    /// kitex-contrib/registry-etcd's layout.
    Etcd(etcd::EtcdConfig),
    /// Apache Dubbo's ZooKeeper registry (interface level).
    Zookeeper(zookeeper::DubboConfig),
    /// kitex-contrib/registry-zookeeper's layout.
    ZookeeperKitex(zookeeper::KitexConfig),
    /// A/AAAA records, re-resolved.
    Dns(dns::DnsConfig),
}

impl DiscoveryConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            DiscoveryConfig::Etcd(_) => "etcd",
            DiscoveryConfig::Zookeeper(_) => "zookeeper",
            DiscoveryConfig::ZookeeperKitex(_) => "zookeeper-kitex",
            DiscoveryConfig::Dns(_) => "dns",
        }
    }

    fn check(&self) -> Result<(), String> {
        match self {
            DiscoveryConfig::Etcd(c) => c.check(),
            DiscoveryConfig::Zookeeper(c) => c.check(),
            DiscoveryConfig::ZookeeperKitex(c) => c.check(),
            DiscoveryConfig::Dns(c) => c.check(),
        }
    }
}

/// What a source last saw.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The last set the registry gave; `None` before its first answer.
    pub endpoints: Option<Vec<Endpoint>>,
    /// The registry answered the last time it was asked (or the watch is up).
    pub reachable: bool,
    /// Why it is not reachable, or what it sent that was left out.
    pub error: Option<String>,
    /// Changes of the set seen since the start.
    pub changes: u64,
    /// When the set last changed (ms since the Unix epoch).
    pub changed_at_ms: u64,
}

/// Names of backends whose discovered set changed, for the task that
/// rebuilds them (one per gateway).
#[derive(Default)]
pub struct Changes {
    pending: Mutex<BTreeSet<String>>,
    notify: Notify,
}

impl Changes {
    pub fn mark(&self, backend: &str) {
        self.pending
            .lock()
            .expect("changes lock")
            .insert(backend.to_string());
        self.notify.notify_one();
    }

    /// The backends marked since the last call (waits for one).
    pub async fn next(&self) -> Vec<String> {
        loop {
            let names: Vec<String> =
                std::mem::take(&mut *self.pending.lock().expect("changes lock"))
                    .into_iter()
                    .collect();
            if !names.is_empty() {
                return names;
            }
            self.notify.notified().await;
        }
    }
}

/// Where a source writes what it sees.
pub struct Feed {
    backend: String,
    kind: &'static str,
    tx: watch::Sender<View>,
    changes: Arc<Changes>,
}

impl Feed {
    /// The registry gave this set (in any order): published if it differs.
    pub fn set(&self, mut endpoints: Vec<Endpoint>) {
        endpoints.sort_by(|a, b| a.addr.cmp(&b.addr));
        endpoints.dedup_by(|a, b| a.addr == b.addr);
        let mut changed = false;
        self.tx.send_modify(|v| {
            if !v.reachable {
                tracing::info!(backend = %self.backend, kind = self.kind, "registry reachable again");
            }
            v.reachable = true;
            v.error = None;
            if v.endpoints.as_ref() != Some(&endpoints) {
                tracing::info!(
                    backend = %self.backend,
                    kind = self.kind,
                    endpoints = %endpoints.iter().map(|e| e.addr.as_str()).collect::<Vec<_>>().join(","),
                    "discovered endpoints changed"
                );
                v.endpoints = Some(endpoints);
                v.changes += 1;
                v.changed_at_ms = unix_ms();
                changed = true;
            }
        });
        if changed {
            self.changes.mark(&self.backend);
        }
    }

    /// The registry cannot be reached: the last set stays.
    pub fn lost(&self, error: impl std::fmt::Display) {
        let error = error.to_string();
        self.tx.send_modify(|v| {
            if v.reachable || v.error.is_none() {
                tracing::warn!(backend = %self.backend, kind = self.kind, %error, "registry unreachable; keeping the last endpoints");
            }
            v.reachable = false;
            v.error = Some(error);
        });
    }

    /// The backend this feed is for (for logs).
    pub fn backend(&self) -> &str {
        &self.backend
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How long a source waits before it tries its registry again.
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff {
            next: Duration::from_millis(200),
        }
    }

    pub(crate) async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Duration::from_secs(5));
    }

    pub(crate) fn reset(&mut self) {
        self.next = Duration::from_millis(200);
    }
}

/// A running source; stops when dropped.
pub struct Discovery {
    pub config: DiscoveryConfig,
    rx: watch::Receiver<View>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Checks a backend's discovery settings (with no I/O).
pub fn check(cfg: &BackendConfig) -> Result<(), String> {
    let Some(d) = &cfg.discovery else {
        return Ok(());
    };
    if !cfg.endpoints.is_empty() {
        return Err("give `endpoints` or `discovery`, not both".into());
    }
    d.check()
        .and_then(|()| match d {
            DiscoveryConfig::Zookeeper(_) => listing_of(cfg).map(|_| ()),
            _ => Ok(()),
        })
        .map_err(|e| format!("discovery ({}): {e}", d.kind()))
}

/// How the registry of provider URLs lists the backend's providers.
fn listing_of(cfg: &BackendConfig) -> Result<crate::protocol::Listing, String> {
    let p = crate::backend::protocol_of(cfg)?;
    p.listing(cfg).ok_or_else(|| {
        format!(
            "it lists Apache Dubbo providers, and protocol `{}` is not listed there (Kitex servers: zookeeper-kitex)",
            p.name()
        )
    })
}

/// How long a registration waits for its source's first answer before it
/// is served with no endpoints (they arrive when the registry answers).
pub const FIRST_ANSWER: Duration = Duration::from_secs(3);

impl Discovery {
    /// Starts the source of `cfg` (which must have a discovery), telling
    /// `changes` when its set changes.
    pub fn start(cfg: &BackendConfig, changes: &Arc<Changes>) -> Result<Arc<Discovery>, String> {
        check(cfg)?;
        let config = cfg.discovery.clone().ok_or("no discovery settings")?;
        let (tx, rx) = watch::channel(View::default());
        let feed = Feed {
            backend: cfg.name.clone(),
            kind: config.kind(),
            tx,
            changes: changes.clone(),
        };
        let task = match &config {
            DiscoveryConfig::Etcd(c) => tokio::spawn(etcd::follow(c.clone(), feed)),
            DiscoveryConfig::Zookeeper(c) => {
                // The provider filter: what the calls name.
                let listing = listing_of(cfg)?;
                tokio::spawn(zookeeper::follow_dubbo(c.clone(), listing, feed))
            }
            DiscoveryConfig::ZookeeperKitex(c) => {
                tokio::spawn(zookeeper::follow_kitex(c.clone(), feed))
            }
            DiscoveryConfig::Dns(c) => tokio::spawn(dns::follow(c.clone(), feed)),
        };
        Ok(Arc::new(Discovery { config, rx, task }))
    }

    /// Starts it and waits, at most `wait`, for the registry's first answer.
    pub async fn start_and_wait(
        cfg: &BackendConfig,
        changes: &Arc<Changes>,
        wait: Duration,
    ) -> Result<Arc<Discovery>, String> {
        let d = Discovery::start(cfg, changes)?;
        let mut rx = d.rx.clone();
        let _ = tokio::time::timeout(wait, rx.wait_for(|v| v.endpoints.is_some())).await;
        Ok(d)
    }

    pub fn view(&self) -> View {
        self.rx.borrow().clone()
    }

    /// The endpoints to build the backend over now (none before the first answer).
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.rx.borrow().endpoints.clone().unwrap_or_default()
    }

    /// What the admin API shows.
    pub fn json(&self) -> Value {
        let v = self.view();
        let mut out = json!({
            "kind": self.config.kind(),
            "reachable": v.reachable,
            "answered": v.endpoints.is_some(),
            "endpoints": v.endpoints.as_ref().map_or(0, Vec::len),
            "changes": v.changes,
        });
        if let Ok(Value::Object(c)) = serde_json::to_value(&self.config) {
            out["settings"] = Value::Object(c);
        }
        if let Some(e) = v.error {
            out["error"] = json!(e);
        }
        if v.changed_at_ms > 0 {
            out["changed_at_ms"] = json!(v.changed_at_ms);
        }
        out
    }
}

/// Kitex's default instance weight (`discovery.DefaultWeight`), for
/// instances that register none (both Kitex registries).
pub(crate) const KITEX_DEFAULT_WEIGHT: u32 = 10;

/// A registry's weight as the balancer's: at most `u32::MAX`, and
/// `default` when it gives none (0 or less).
pub(crate) fn weight_or(w: i64, default: u32) -> u32 {
    if w <= 0 {
        default
    } else {
        w.min(i64::from(u32::MAX)) as u32
    }
}

/// Whether an instance's tags hold every tag of the filter.
pub(crate) fn tags_match(
    filter: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
) -> bool {
    filter.iter().all(|(k, v)| tags.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_by_kind() {
        let b: BackendConfig = toml::from_str(
            r#"
            name = "hello"
            endpoints = []
            discovery = { kind = "etcd", endpoints = ["127.0.0.1:2379"], service = "hello", tags = { env = "prod" } }
            "#,
        )
        .unwrap();
        let Some(DiscoveryConfig::Etcd(e)) = &b.discovery else {
            panic!("{:?}", b.discovery)
        };
        assert_eq!(e.service, "hello");
        assert_eq!(e.tags["env"], "prod");
        let dubbo_zk = r#"{ kind = "zookeeper", endpoints = ["127.0.0.1:2181"], service = "com.example.Api" }"#;
        for (protocol, text, kind) in [
            ("dubbo", dubbo_zk, "zookeeper"),
            (
                "thrift",
                r#"{ kind = "zookeeper-kitex", endpoints = ["127.0.0.1:2181"], service = "hello" }"#,
                "zookeeper-kitex",
            ),
            (
                "thrift",
                r#"{ kind = "dns", name = "hello.internal:8899", refresh_ms = 5000 }"#,
                "dns",
            ),
        ] {
            let b: BackendConfig = toml::from_str(&format!(
                "name = \"x\"\nprotocol = \"{protocol}\"\nendpoints = []\ndiscovery = {text}"
            ))
            .unwrap();
            assert_eq!(b.discovery.as_ref().unwrap().kind(), kind);
            assert!(check(&b).is_ok(), "{text}");
        }
        // Dubbo's registry lists Dubbo providers only.
        let b: BackendConfig = toml::from_str(&format!(
            "name = \"x\"\nprotocol = \"thrift\"\nendpoints = []\ndiscovery = {dubbo_zk}"
        ))
        .unwrap();
        let err = check(&b).unwrap_err();
        assert!(
            err.contains("protocol `thrift` is not listed there"),
            "{err}"
        );
        for bad in [
            r#"{ kind = "consul", service = "x" }"#,
            r#"{ kind = "etcd", endpoints = ["127.0.0.1:2379"], service = "x", colour = "red" }"#,
        ] {
            assert!(
                toml::from_str::<BackendConfig>(&format!(
                    "name = \"x\"\nendpoints = []\ndiscovery = {bad}"
                ))
                .is_err(),
                "{bad}"
            );
        }
        let both: BackendConfig = toml::from_str(
            r#"
            name = "x"
            endpoints = ["127.0.0.1:1"]
            discovery = { kind = "dns", name = "localhost:1" }
            "#,
        )
        .unwrap();
        assert!(check(&both).unwrap_err().contains("not both"));
    }

    #[test]
    fn tag_filters_need_every_tag() {
        let t = |p: &[(&str, &str)]| -> BTreeMap<String, String> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(tags_match(&t(&[]), &t(&[("a", "1")])));
        assert!(tags_match(&t(&[("a", "1")]), &t(&[("a", "1"), ("b", "2")])));
        assert!(!tags_match(&t(&[("a", "1")]), &t(&[("a", "2")])));
        assert!(!tags_match(&t(&[("c", "1")]), &t(&[("a", "1")])));
    }
}
