//! ZooKeeper discovery, in the two layouts services write:
//! - Apache Dubbo's ZooKeeper registry (interface level): each provider is
//!   an ephemeral child of `/dubbo/{interface}/providers` named by its
//!   URL, URL-encoded (`dubbo://host:port/{interface}?version=…&group=…&
//!   weight=…`; Dubbo's `ZookeeperRegistry.toUrlPath`/`toCategoryPath`).
//!   A provider is taken when its protocol is `dubbo`, it is not
//!   `enabled=false`, and its group and version match the backend's as
//!   Dubbo's `UrlUtils.isMatch` matches them (`*` takes any); its weight is
//!   the `weight` parameter (default 100, Dubbo's `DEFAULT_WEIGHT`).
//! - kitex-contrib/registry-zookeeper: each instance is an ephemeral child
//!   `/{service}/{host:port}` whose data is `{"Weight":…,"Tags":{…}}`
//!   (`entity.RegistryEntity`, no JSON tags; `entity.buildPath`).
//!
//! A persistent recursive watch on the parent (ZooKeeper 3.6+) reports
//! children that come and go and data that changes; each event, and each
//! reconnection, lists the parent again. A disconnected session keeps the
//! last set; an expired one is replaced by a new session.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zookeeper_client::{AddWatchMode, Client, EventType, SessionState};

use super::{Backoff, Feed, KITEX_DEFAULT_WEIGHT, tags_match, weight_or};
use crate::config::Endpoint;
use crate::protocol::Listing;

/// Dubbo's default provider weight (`Constants.DEFAULT_WEIGHT`).
const DUBBO_DEFAULT_WEIGHT: u32 = 100;

fn default_session_ms() -> u64 {
    10_000
}

fn default_root() -> String {
    "/dubbo".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DubboConfig {
    /// ZooKeeper servers, `host:port`.
    pub endpoints: Vec<String>,
    /// The Java interface.
    pub service: String,
    /// The provider group to take (default: the backend's `dubbo_group`;
    /// `*` takes any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The provider version to take (default: the backend's
    /// `dubbo_version`; `*` takes any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The registry's root (Dubbo's registry `group`, default `/dubbo`).
    #[serde(default = "default_root")]
    pub root: String,
    #[serde(default = "default_session_ms")]
    pub session_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KitexConfig {
    /// ZooKeeper servers, `host:port`.
    pub endpoints: Vec<String>,
    /// The Kitex service name.
    pub service: String,
    /// Only instances whose tags hold all of these.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default = "default_session_ms")]
    pub session_timeout_ms: u64,
}

fn check_common(endpoints: &[String], service: &str, session_ms: u64) -> Result<(), String> {
    if endpoints.is_empty() {
        return Err("no ZooKeeper endpoints".into());
    }
    if service.is_empty() || service.contains('/') {
        return Err(format!("service `{service}` must be a name without `/`"));
    }
    if !(1000..=600_000).contains(&session_ms) {
        return Err("session_timeout_ms must be within 1000..=600000".into());
    }
    Ok(())
}

impl DubboConfig {
    pub(super) fn check(&self) -> Result<(), String> {
        check_common(&self.endpoints, &self.service, self.session_timeout_ms)?;
        if !self.root.starts_with('/') {
            return Err(format!("root `{}` must start with `/`", self.root));
        }
        Ok(())
    }
}

impl KitexConfig {
    pub(super) fn check(&self) -> Result<(), String> {
        check_common(&self.endpoints, &self.service, self.session_timeout_ms)
    }
}

/// What one layout reads from a parent's children.
trait Layout: Send + Sync {
    fn parent(&self) -> String;
    /// Whether each child's data must be read.
    fn reads_data(&self) -> bool;
    /// The endpoint a child stands for, if this backend takes it.
    fn endpoint(&self, child: &str, data: &[u8]) -> Result<Option<Endpoint>, String>;
}

/// The Dubbo layout, with the scheme, group and version the backend takes.
struct Dubbo {
    root: String,
    interface: String,
    scheme: &'static str,
    group: String,
    version: String,
}

impl Layout for Dubbo {
    fn parent(&self) -> String {
        format!(
            "{}/{}/providers",
            self.root.trim_end_matches('/'),
            self.interface
        )
    }

    fn reads_data(&self) -> bool {
        false
    }

    fn endpoint(&self, child: &str, _data: &[u8]) -> Result<Option<Endpoint>, String> {
        // Java's URLEncoder (Dubbo's `URL.encode`) writes a space as `+`.
        let child = child.replace('+', " ");
        let url = percent_encoding::percent_decode_str(&child)
            .decode_utf8()
            .map_err(|e| format!("not UTF-8: {e}"))?;
        let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
        let (authority, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let query = rest.split_once('?').map_or("", |(_, q)| q);
        let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let param = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        if scheme != self.scheme
            || param("enabled") == "false"
            || !matches!(param("category"), "" | "providers")
            || (!param("interface").is_empty() && param("interface") != self.interface)
        {
            return Ok(None);
        }
        let group_ok = self.group == "*"
            || self.group == param("group")
            || self.group.split(',').any(|g| g == param("group"));
        let version_ok = self.version == "*" || self.version == param("version");
        if !group_ok || !version_ok {
            return Ok(None);
        }
        if authority
            .rsplit_once(':')
            .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        {
            return Err(format!("address `{authority}` is not host:port"));
        }
        let weight = match param("weight").parse::<i64>() {
            // Dubbo sends a provider of weight 0 nothing.
            Ok(w) if w <= 0 => return Ok(None),
            Ok(w) => weight_or(w, DUBBO_DEFAULT_WEIGHT),
            Err(_) => DUBBO_DEFAULT_WEIGHT,
        };
        Ok(Some(Endpoint {
            addr: authority.to_string(),
            weight,
        }))
    }
}

/// The registry-zookeeper layout.
struct Kitex {
    service: String,
    tags: BTreeMap<String, String>,
}

/// registry-zookeeper's `RegistryEntity`.
#[derive(Deserialize)]
struct KitexEntity {
    #[serde(rename = "Weight", default)]
    weight: i64,
    #[serde(rename = "Tags", default)]
    tags: Option<BTreeMap<String, String>>,
}

impl Layout for Kitex {
    fn parent(&self) -> String {
        format!("/{}", self.service)
    }

    fn reads_data(&self) -> bool {
        true
    }

    fn endpoint(&self, child: &str, data: &[u8]) -> Result<Option<Endpoint>, String> {
        if child
            .rsplit_once(':')
            .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        {
            return Err(format!("child `{child}` is not host:port"));
        }
        let e: KitexEntity = if data.is_empty() {
            KitexEntity {
                weight: 0,
                tags: None,
            }
        } else {
            serde_json::from_slice(data).map_err(|e| e.to_string())?
        };
        if !tags_match(&self.tags, &e.tags.unwrap_or_default()) {
            return Ok(None);
        }
        Ok(Some(Endpoint {
            addr: child.to_string(),
            weight: weight_or(e.weight, KITEX_DEFAULT_WEIGHT),
        }))
    }
}

/// Follows Dubbo providers of the backend's `listing`, whose group and
/// version (those the backend's calls name) apply where the settings give
/// none.
pub(super) async fn follow_dubbo(cfg: DubboConfig, listing: Listing, feed: Feed) {
    let layout = Dubbo {
        root: cfg.root.clone(),
        interface: cfg.service.clone(),
        scheme: listing.scheme,
        group: cfg.group.clone().or(listing.group).unwrap_or_default(),
        version: cfg.version.clone().or(listing.version).unwrap_or_default(),
    };
    follow(&cfg.endpoints, cfg.session_timeout_ms, &layout, &feed).await
}

pub(super) async fn follow_kitex(cfg: KitexConfig, feed: Feed) {
    let layout = Kitex {
        service: cfg.service.clone(),
        tags: cfg.tags.clone(),
    };
    follow(&cfg.endpoints, cfg.session_timeout_ms, &layout, &feed).await
}

async fn follow(servers: &[String], session_ms: u64, layout: &dyn Layout, feed: &Feed) {
    let cluster = servers.join(",");
    let mut backoff = Backoff::new();
    loop {
        let connected = Client::connector()
            .with_session_timeout(Duration::from_millis(session_ms))
            .with_connection_timeout(Duration::from_secs(2))
            .connect(&cluster)
            .await;
        match connected {
            Ok(zk) => {
                let why = session(&zk, layout, feed, &mut backoff).await;
                feed.lost(format!("ZooKeeper {cluster}: {why}"));
            }
            Err(e) => feed.lost(format!("ZooKeeper {cluster}: {e}")),
        }
        backoff.wait().await;
    }
}

/// Follows the parent for as long as the session lives; says why it ended.
async fn session(zk: &Client, layout: &dyn Layout, feed: &Feed, backoff: &mut Backoff) -> String {
    let parent = layout.parent();
    let mut watch = match zk.watch(&parent, AddWatchMode::PersistentRecursive).await {
        Ok(w) => w,
        Err(e) => return format!("cannot watch {parent}: {e}"),
    };
    let mut states = zk.state_watcher();
    loop {
        match list(zk, layout, feed, &parent).await {
            Ok(set) => {
                feed.set(set);
                backoff.reset();
            }
            Err(e) => {
                feed.lost(format!("listing {parent}: {e}"));
                if zk.state().is_terminated() {
                    return format!("session {:?}", zk.state());
                }
            }
        }
        // Wait for a change under the parent, or for the session to come back.
        loop {
            tokio::select! {
                ev = watch.changed() => {
                    if ev.event_type == EventType::Session {
                        if ev.session_state.is_terminated() {
                            return format!("session {:?}", ev.session_state);
                        }
                        continue;
                    }
                    break;
                }
                st = states.changed() => match st {
                    SessionState::SyncConnected => break,
                    SessionState::Disconnected => feed.lost("disconnected; reconnecting"),
                    s if s.is_terminated() => return format!("session {s:?}"),
                    _ => {}
                },
            }
        }
    }
}

/// The parent's children as endpoints (none when it does not exist yet).
async fn list(
    zk: &Client,
    layout: &dyn Layout,
    feed: &Feed,
    parent: &str,
) -> Result<Vec<Endpoint>, zookeeper_client::Error> {
    let children = match zk.list_children(parent).await {
        Ok(c) => c,
        Err(zookeeper_client::Error::NoNode) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut set = Vec::new();
    for child in children {
        let data = if layout.reads_data() {
            match zk.get_data(&format!("{parent}/{child}")).await {
                Ok((d, _)) => d,
                // Gone between the listing and the read.
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) => return Err(e),
            }
        } else {
            Vec::new()
        };
        match layout.endpoint(&child, &data) {
            Ok(Some(ep)) => set.push(ep),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(backend = %feed.backend(), node = %child, error = %e, "left out a registry node it cannot read")
            }
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dubbo(group: &str, version: &str) -> Dubbo {
        Dubbo {
            root: "/dubbo".into(),
            interface: "com.example.Api".into(),
            scheme: "dubbo",
            group: group.into(),
            version: version.into(),
        }
    }

    fn encoded(url: &str) -> String {
        percent_encoding::utf8_percent_encode(url, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    #[test]
    fn dubbo_provider_urls() {
        let d = dubbo("", "");
        assert_eq!(d.parent(), "/dubbo/com.example.Api/providers");
        let url = "dubbo://127.0.0.1:20880/com.example.Api?anyhost=true&application=demo&interface=com.example.Api&methods=add,echo&side=provider&weight=5";
        let ep = d.endpoint(&encoded(url), b"").unwrap().unwrap();
        assert_eq!((ep.addr.as_str(), ep.weight), ("127.0.0.1:20880", 5));
        let plain = "dubbo://10.0.0.2:20880/com.example.Api?interface=com.example.Api";
        assert_eq!(
            d.endpoint(&encoded(plain), b"").unwrap().unwrap().weight,
            100
        );
        // Another protocol, disabled, another group or version: left out.
        for other in [
            "tri://10.0.0.2:50051/com.example.Api?interface=com.example.Api",
            "dubbo://10.0.0.2:20880/com.example.Api?enabled=false",
            "dubbo://10.0.0.2:20880/com.example.Api?group=blue",
            "dubbo://10.0.0.2:20880/com.example.Api?version=2.0.0",
        ] {
            assert!(
                d.endpoint(&encoded(other), b"").unwrap().is_none(),
                "{other}"
            );
        }
        let blue = dubbo("blue", "2.0.0");
        let url = "dubbo://10.0.0.2:20880/com.example.Api?group=blue&version=2.0.0";
        assert!(blue.endpoint(&encoded(url), b"").unwrap().is_some());
        assert!(
            dubbo("*", "*")
                .endpoint(&encoded(url), b"")
                .unwrap()
                .is_some()
        );
        assert!(
            dubbo("red,blue", "2.0.0")
                .endpoint(&encoded(url), b"")
                .unwrap()
                .is_some()
        );
        assert!(d.endpoint("not-a-url", b"").is_err());
    }

    #[test]
    fn kitex_instances() {
        let k = Kitex {
            service: "hello".into(),
            tags: [("zone".to_string(), "z1".to_string())].into(),
        };
        assert_eq!(k.parent(), "/hello");
        let ep = k
            .endpoint(
                "127.0.0.1:18901",
                br#"{"Weight":7,"Tags":{"cluster":"c-a","zone":"z1"}}"#,
            )
            .unwrap()
            .unwrap();
        assert_eq!((ep.addr.as_str(), ep.weight), ("127.0.0.1:18901", 7));
        assert!(
            k.endpoint("127.0.0.1:18902", br#"{"Weight":7,"Tags":{"zone":"z2"}}"#)
                .unwrap()
                .is_none()
        );
        let any = Kitex {
            service: "hello".into(),
            tags: BTreeMap::new(),
        };
        assert_eq!(
            any.endpoint("127.0.0.1:1", br#"{"Weight":0,"Tags":null}"#)
                .unwrap()
                .unwrap()
                .weight,
            KITEX_DEFAULT_WEIGHT
        );
        assert!(any.endpoint("nohost", b"{}").is_err());
    }
}
