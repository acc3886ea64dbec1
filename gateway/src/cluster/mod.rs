//! Cluster mode: the registrations of every gateway on one etcd prefix
//! (`store = "etcd://…/prefix"`, or `--store`), versioned, with history and
//! rollback. The records and their layout are [`store`]'s; this module
//! follows them.
//!
//! A gateway lists the prefix at start (and fails to start when the store
//! does not answer: a gateway that served a snapshot of its own could serve
//! registrations the others have since replaced or removed, with nothing
//! to tell a client which answer is current), applies every record, then
//! watches from the listed revision on. Each record is applied through the
//! same path as an admin PUT ([`crate::Gateway::register`]): validated,
//! built off to the side, swapped in. A record this gateway cannot build is
//! logged and listed in `GET /admin/cluster`; it does not stop the others.
//! A watch that is compacted away, cancelled or cut off makes the gateway
//! list again and apply what changed; it never stops following the store.

pub mod store;

use std::sync::{Arc, Mutex, Weak};

use etcd_client::EventType;
use serde::Serialize;
use serde_json::{Value, json};

pub use self::store::{Record, Store, StoreError, StoreUrl};
use crate::change::Origin;
use crate::discovery::Backoff;
use crate::error::{ApiError, Failure};
use crate::{Gateway, Inner};

/// The store of a gateway in cluster mode, and how following it goes.
pub struct Cluster {
    pub store: Store,
    status: Mutex<Status>,
}

/// What `GET /admin/cluster` and the metrics say about the store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// The watch is running (or the last listing answered).
    pub reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The last store revision seen.
    pub revision: i64,
    /// How many times the prefix was listed again after a watch ended.
    pub relists: u64,
}

/// A record this gateway could not apply.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyError {
    pub version: u64,
    pub revision: i64,
    pub error: String,
}

impl Cluster {
    pub fn status(&self) -> Status {
        self.status.lock().expect("status").clone()
    }

    fn seen(&self, revision: i64) {
        let mut s = self.status.lock().expect("status");
        s.reachable = true;
        s.error = None;
        s.revision = s.revision.max(revision);
    }

    fn lost(&self, error: String) {
        tracing::warn!(store = %self.store.url, %error, "lost the cluster store's watch; keeping the registrations applied so far");
        let mut s = self.status.lock().expect("status");
        s.reachable = false;
        s.error = Some(error);
    }

    /// `GET /admin/backends/{name}/history`.
    pub async fn history(&self, name: &str) -> Result<Value, ApiError> {
        let versions = self.store.history(name).await?;
        if versions.is_empty() {
            return Err(Failure::NotFound(format!("the store has no history of `{name}`")).into());
        }
        let current = self.store.current(name).await?.map(|c| c.mod_revision);
        let list: Vec<Value> = versions
            .iter()
            .map(|r| {
                let mut v = json!({
                    "version": r.version,
                    "removed": r.removed,
                    "written_by": r.written_by,
                    "written_at_ms": r.written_at_ms,
                    "files": r.files.iter().map(|(f, x)| json!({"name": f, "size": x.size, "sha256": x.sha256})).collect::<Vec<_>>(),
                });
                if let Some(of) = r.rollback_of {
                    v["rollback_of"] = json!(of);
                }
                if !r.registration.is_null() {
                    v["settings"] = r.registration.clone();
                }
                v
            })
            .collect();
        Ok(json!({
            "backend": name,
            "current": versions.last().map(|r| r.version),
            "revision": current,
            "versions": list,
        }))
    }
}

/// The name this gateway writes into records: its host and admin address.
pub fn gateway_id(admin_listen: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kitegate".into());
    format!("{host}/{admin_listen}/{}", std::process::id())
}

/// Connects to the store, applies every record, then follows the prefix.
/// Fails when the store cannot be listed within its request timeout.
pub async fn start(gw: &Gateway, url: StoreUrl, id: String) -> Result<Arc<Cluster>, String> {
    let store = Store::connect(url.clone(), id).await?;
    let (records, revision) = store
        .list()
        .await
        .map_err(|e| format!("cannot read the cluster store {url}: {e}"))?;
    let cluster = Arc::new(Cluster {
        store,
        status: Mutex::new(Status {
            reachable: true,
            revision,
            ..Default::default()
        }),
    });
    gw.inner.cluster.set(cluster.clone()).ok();
    tracing::info!(store = %url, records = records.len(), revision, "cluster store listed");
    if let Err(e) = apply_listing(gw, &cluster, records, revision).await {
        return Err(format!("cannot read the cluster store {url}: {e}"));
    }
    tokio::spawn(follow(Arc::downgrade(&gw.inner), cluster.clone(), revision));
    Ok(cluster)
}

/// Applies each record of a listing that this gateway has not applied yet,
/// and removes the backends whose keys are gone.
async fn apply_listing(
    gw: &Gateway,
    cluster: &Cluster,
    records: Vec<(String, store::Current)>,
    revision: i64,
) -> Result<(), StoreError> {
    let gone: Vec<String> = {
        let registry = gw.inner.registry.lock().await;
        registry
            .applied
            .keys()
            .filter(|n| !records.iter().any(|(name, _)| name == *n))
            .cloned()
            .collect()
    };
    for (name, current) in records {
        apply(gw, cluster, &name, current.mod_revision, current.record).await?;
    }
    for name in gone {
        removed_by_hand(gw, &name, revision).await;
    }
    Ok(())
}

/// Applies one record; a record that cannot be built is reported and
/// skipped. Fails only when the store stops answering meanwhile.
async fn apply(
    gw: &Gateway,
    cluster: &Cluster,
    name: &str,
    revision: i64,
    record: Result<Record, String>,
) -> Result<(), StoreError> {
    if gw.inner.registry.lock().await.applied_at(name) >= revision {
        return Ok(());
    }
    let (version, result) = match record {
        Err(e) => (0, Err(e)),
        Ok(r) => {
            let origin = Origin::Store {
                revision,
                version: r.version,
            };
            let result = if r.removed {
                gw.unregister(name, origin).await.map(|_| ())
            } else {
                match cluster.store.registration(&r).await {
                    Ok(reg) => gw.register(name, reg, origin).await.map(|_| ()),
                    Err(e @ StoreError::Unavailable(_)) => return Err(e),
                    Err(e) => Err(ApiError::from(e)),
                }
            };
            (r.version, result.map_err(|e| e.message().to_string()))
        }
    };
    match result {
        Ok(()) => {
            tracing::info!(backend = %name, version, revision, "applied a change from the cluster store")
        }
        Err(error) => {
            tracing::error!(backend = %name, version, revision, %error, "cannot apply a change from the cluster store; keeping what was served before");
            let mut registry = gw.inner.registry.lock().await;
            registry.applied.insert(name.to_string(), revision);
            registry.store_errors.insert(
                name.to_string(),
                ApplyError {
                    version,
                    revision,
                    error,
                },
            );
        }
    }
    Ok(())
}

/// A current record deleted from the store by hand removes its backend.
async fn removed_by_hand(gw: &Gateway, name: &str, revision: i64) {
    tracing::warn!(backend = %name, "its record was deleted from the cluster store; removing it");
    if let Err(e) = gw
        .unregister(
            name,
            Origin::Store {
                revision,
                version: 0,
            },
        )
        .await
    {
        tracing::error!(backend = %name, error = %e.message(), "cannot remove the backend");
    }
    gw.inner.registry.lock().await.applied.remove(name);
}

/// Watches the prefix from `revision` on; lists it again whenever the watch
/// ends, until the gateway goes.
async fn follow(inner: Weak<Inner>, cluster: Arc<Cluster>, revision: i64) {
    let mut from = revision;
    let mut backoff = Backoff::new();
    loop {
        if let Err(e) = watch(&inner, &cluster, from, &mut backoff).await {
            cluster.lost(e.to_string());
        }
        if inner.strong_count() == 0 {
            return;
        }
        backoff.wait().await;
        match cluster.store.list().await {
            Ok((records, revision)) => {
                let Some(inner) = inner.upgrade() else { return };
                let gw = Gateway { inner };
                match apply_listing(&gw, &cluster, records, revision).await {
                    Ok(()) => {
                        from = revision;
                        cluster.seen(revision);
                        cluster.status.lock().expect("status").relists += 1;
                        tracing::info!(store = %cluster.store.url, revision, "cluster store listed again");
                    }
                    Err(e) => cluster.lost(e.to_string()),
                }
            }
            Err(e) => cluster.lost(e.to_string()),
        }
    }
}

/// Follows one watch until it ends (always with an error: a watch that is
/// compacted away, cancelled or cut off).
async fn watch(
    inner: &Weak<Inner>,
    cluster: &Cluster,
    from: i64,
    backoff: &mut Backoff,
) -> Result<(), StoreError> {
    let mut stream = cluster.store.watch(from + 1).await?;
    let lost = |e: etcd_client::Error| StoreError::Unavailable(format!("watch: {e}"));
    while let Some(resp) = stream.message().await.map_err(lost)? {
        if let Some(why) = crate::discovery::etcd::watch_ended(&resp, from) {
            return Err(StoreError::Unavailable(why));
        }
        backoff.reset();
        if let Some(h) = resp.header() {
            cluster.seen(h.revision());
        }
        let Some(inner) = inner.upgrade() else {
            return Ok(());
        };
        let gw = Gateway { inner };
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            let Some(name) = cluster.store.name_of(kv.key()) else {
                continue;
            };
            match ev.event_type() {
                EventType::Put => {
                    apply(
                        &gw,
                        cluster,
                        &name,
                        kv.mod_revision(),
                        store::parse_record(kv.value()),
                    )
                    .await?
                }
                EventType::Delete => removed_by_hand(&gw, &name, kv.mod_revision()).await,
            }
        }
    }
    Err(StoreError::Unavailable("watch ended".into()))
}

/// A rollback done.
pub struct RolledBack {
    /// The backend as it is now (`null` when the restored version is a removal).
    pub summary: Value,
    /// The version restored.
    pub to: u64,
    /// The version the rollback was written as.
    pub version: u64,
}

/// Writes version `to` of `name` (the one before the current, by default)
/// again as its next version, through the path of an admin PUT; 409 when
/// another writer changes it meanwhile.
pub async fn rollback(
    gw: &Gateway,
    cluster: &Cluster,
    name: &str,
    to: Option<u64>,
) -> Result<RolledBack, ApiError> {
    let at = match cluster.store.current(name).await? {
        Some(c) => c.record.map(|r| r.version).map_err(Failure::Internal)?,
        None => return Err(Failure::NotFound(format!("the store has no backend `{name}`")).into()),
    };
    let to = to.unwrap_or(at.saturating_sub(1));
    if to == at {
        return Err(
            Failure::InvalidSettings(format!("`{name}` is at version {to} already")).into(),
        );
    }
    let versions = cluster.store.history(name).await?;
    let Some(record) = versions.iter().find(|r| r.version == to) else {
        let kept = match (versions.first(), versions.last()) {
            (Some(a), Some(b)) => format!("{}–{}", a.version, b.version),
            _ => "none".into(),
        };
        return Err(Failure::NotFound(format!(
            "version {to} of `{name}` is not in the history (versions kept: {kept})"
        ))
        .into());
    };
    let origin = Origin::Admin {
        expect: Some(at),
        rollback_of: Some(to),
    };
    let missing = || ApiError::from(Failure::Internal("the change was not applied".into()));
    if record.removed {
        let version = gw
            .unregister(name, origin)
            .await?
            .flatten()
            .ok_or_else(missing)?;
        return Ok(RolledBack {
            summary: Value::Null,
            to,
            version,
        });
    }
    let reg = cluster.store.registration(record).await?;
    let done = gw.register(name, reg, origin).await?.ok_or_else(missing)?;
    Ok(RolledBack {
        summary: done.summary,
        to,
        version: done.version.ok_or_else(missing)?,
    })
}
