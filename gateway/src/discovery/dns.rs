//! DNS discovery: `name = "host:port"` resolved through the system
//! resolver (getaddrinfo, so `/etc/hosts` and `resolv.conf` apply, as for
//! any other program on the host) every `refresh_ms`; every A and AAAA
//! address is an endpoint of weight 1. A failed lookup keeps the last set.
//!
//! The system resolver rather than a DNS client crate: it is what the host's
//! other programs see (search domains, hosts file, nsswitch), and a lookup
//! every few seconds per backend costs nothing worth a dependency.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Feed;
use crate::config::Endpoint;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// `host:port`.
    pub name: String,
    #[serde(default = "default_refresh_ms")]
    pub refresh_ms: u64,
}

fn default_refresh_ms() -> u64 {
    5000
}

impl DnsConfig {
    pub(super) fn check(&self) -> Result<(), String> {
        match self.name.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
            _ => return Err(format!("name `{}` must be host:port", self.name)),
        }
        if self.refresh_ms < 100 {
            return Err("refresh_ms must be at least 100".into());
        }
        Ok(())
    }
}

pub(super) async fn follow(cfg: DnsConfig, feed: Feed) {
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.refresh_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match tokio::net::lookup_host(cfg.name.as_str()).await {
            Ok(addrs) => {
                let set: Vec<Endpoint> = addrs.map(|a| Endpoint::from(a.to_string())).collect();
                if set.is_empty() {
                    feed.lost(format!("{} resolves to no address", cfg.name));
                } else {
                    feed.set(set);
                }
            }
            Err(e) => feed.lost(format!("cannot resolve {}: {e}", cfg.name)),
        }
    }
}
