//! etcd discovery in kitex-contrib/registry-etcd's layout: a Kitex server
//! puts `kitex/registry-etcd/{service}/{host:port}` under a lease it keeps
//! alive, with the JSON value `{"network","address","weight","tags"}`
//! (registry-etcd `etcd_registry.go`: `serviceKey`, `instanceInfo`; its
//! resolver lists the prefix `kitex/registry-etcd/{service}/`). The key
//! goes when the server deregisters or its lease expires.
//!
//! The prefix is listed, then watched from the listed revision on; a
//! watch that is cancelled or compacted away, or a connection that breaks,
//! makes it list again (the set is replaced only by a listing, so nothing
//! is missed between the two).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, EventType, GetOptions, WatchOptions};
use serde::{Deserialize, Serialize};

use super::{Backoff, Feed, KITEX_DEFAULT_WEIGHT, tags_match, weight_or};
use crate::config::Endpoint;

/// registry-etcd's key prefix (`etcdPrefixTpl`).
pub const KITEX_PREFIX: &str = "kitex/registry-etcd/";

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdConfig {
    /// etcd members, `host:port` or URLs.
    pub endpoints: Vec<String>,
    /// The Kitex service name.
    pub service: String,
    /// Only instances whose tags hold all of these.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Another key prefix than registry-etcd's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

impl EtcdConfig {
    pub(super) fn check(&self) -> Result<(), String> {
        if self.endpoints.is_empty() {
            return Err("no etcd endpoints".into());
        }
        if self.service.is_empty() || self.service.contains('/') {
            return Err(format!(
                "service `{}` must be a name without `/`",
                self.service
            ));
        }
        Ok(())
    }

    fn key_prefix(&self) -> String {
        format!(
            "{}{}/",
            self.prefix.as_deref().unwrap_or(KITEX_PREFIX),
            self.service
        )
    }
}

/// registry-etcd's `instanceInfo`.
#[derive(Deserialize)]
struct Instance {
    #[serde(default)]
    network: String,
    address: String,
    #[serde(default)]
    weight: i64,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
}

/// The endpoint a key's value describes, if it is one this backend takes.
fn endpoint_of(cfg: &EtcdConfig, value: &[u8]) -> Result<Option<Endpoint>, String> {
    let i: Instance = serde_json::from_slice(value).map_err(|e| e.to_string())?;
    if !i.network.is_empty() && i.network != "tcp" {
        return Ok(None);
    }
    if !tags_match(&cfg.tags, &i.tags.unwrap_or_default()) {
        return Ok(None);
    }
    Ok(Some(Endpoint {
        addr: i.address,
        weight: weight_or(i.weight, KITEX_DEFAULT_WEIGHT),
    }))
}

/// How every etcd client of the gateway connects: a member that does not
/// answer within 2 s is given up, a request within 5 s, and a silent
/// connection is found by keep-alive pings.
pub(crate) fn connect_options() -> ConnectOptions {
    ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5))
        .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3))
}

/// Why a watch response ends the watch (compacted away past `from`, or
/// cancelled by etcd), if it does: the follower lists again.
pub(crate) fn watch_ended(resp: &etcd_client::WatchResponse, from: i64) -> Option<String> {
    if resp.compact_revision() != 0 {
        return Some(format!(
            "watch compacted at revision {} (was at {from}); listing again",
            resp.compact_revision()
        ));
    }
    resp.canceled()
        .then(|| format!("watch cancelled: {}", resp.cancel_reason()))
}

pub(super) async fn follow(cfg: EtcdConfig, feed: Feed) {
    let prefix = cfg.key_prefix();
    let mut backoff = Backoff::new();
    let options = connect_options();
    let mut client = loop {
        match Client::connect(&cfg.endpoints, Some(options.clone())).await {
            Ok(c) => break c,
            Err(e) => {
                feed.lost(format!("etcd {}: {e}", cfg.endpoints.join(",")));
                backoff.wait().await;
            }
        }
    };
    loop {
        match list_and_watch(&cfg, &prefix, &mut client, &feed, &mut backoff).await {
            Ok(()) => {}
            Err(e) => feed.lost(format!("etcd {}: {e}", cfg.endpoints.join(","))),
        }
        backoff.wait().await;
    }
}

/// Lists the prefix, publishes it, then follows the watch until it ends.
async fn list_and_watch(
    cfg: &EtcdConfig,
    prefix: &str,
    client: &mut Client,
    feed: &Feed,
    backoff: &mut Backoff,
) -> Result<(), String> {
    let listed = client
        .get(prefix, Some(GetOptions::new().with_prefix()))
        .await
        .map_err(|e| e.to_string())?;
    let mut revision = listed.header().map_or(0, |h| h.revision());
    let mut keys: HashMap<Vec<u8>, Endpoint> = HashMap::new();
    for kv in listed.kvs() {
        put(cfg, feed, &mut keys, kv.key(), kv.value());
    }
    feed.set(keys.values().cloned().collect());
    let mut stream = client
        .watch(
            prefix,
            Some(
                WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(revision + 1)
                    .with_progress_notify(),
            ),
        )
        .await
        .map_err(|e| e.to_string())?;
    backoff.reset();
    while let Some(resp) = stream.message().await.map_err(|e| e.to_string())? {
        if let Some(why) = watch_ended(&resp, revision) {
            return Err(why);
        }
        if let Some(h) = resp.header() {
            revision = revision.max(h.revision());
        }
        if resp.events().is_empty() {
            continue;
        }
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            match ev.event_type() {
                EventType::Put => put(cfg, feed, &mut keys, kv.key(), kv.value()),
                EventType::Delete => {
                    keys.remove(kv.key());
                }
            }
        }
        feed.set(keys.values().cloned().collect());
    }
    Err("watch ended".into())
}

fn put(
    cfg: &EtcdConfig,
    feed: &Feed,
    keys: &mut HashMap<Vec<u8>, Endpoint>,
    key: &[u8],
    value: &[u8],
) {
    match endpoint_of(cfg, value) {
        Ok(Some(ep)) => {
            keys.insert(key.to_vec(), ep);
        }
        Ok(None) => {
            keys.remove(key);
        }
        Err(e) => {
            keys.remove(key);
            tracing::warn!(backend = %feed.backend(), key = %String::from_utf8_lossy(key), error = %e, "left out an instance whose value is not registry-etcd's JSON");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(tags: &[(&str, &str)]) -> EtcdConfig {
        EtcdConfig {
            endpoints: vec!["127.0.0.1:2379".into()],
            service: "hello".into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            prefix: None,
        }
    }

    #[test]
    fn values_in_registry_etcds_json() {
        let c = cfg(&[]);
        assert_eq!(c.key_prefix(), "kitex/registry-etcd/hello/");
        let ep = endpoint_of(
            &c,
            br#"{"network":"tcp","address":"127.0.0.1:8888","weight":3,"tags":{"env":"prod"}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!((ep.addr.as_str(), ep.weight), ("127.0.0.1:8888", 3));
        let ep = endpoint_of(
            &c,
            br#"{"network":"tcp","address":"127.0.0.1:1","weight":0,"tags":null}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(ep.weight, KITEX_DEFAULT_WEIGHT);
        assert!(
            endpoint_of(&c, br#"{"network":"unix","address":"/tmp/s","weight":1}"#)
                .unwrap()
                .is_none()
        );
        assert!(endpoint_of(&c, b"not json").is_err());
        let prod = cfg(&[("env", "prod")]);
        assert!(
            endpoint_of(
                &prod,
                br#"{"network":"tcp","address":"a:1","weight":1,"tags":{"env":"dev"}}"#
            )
            .unwrap()
            .is_none()
        );
    }
}
