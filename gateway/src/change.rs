//! The one path of every change to the set of backends, whether an admin
//! request, a rollback or the cluster store's watch asks for it: the
//! registration is validated (settings, then IDL), built off to the side
//! with its route table, written where registrations are kept (the state
//! directory, or the cluster store in a transaction), and only then
//! swapped in whole. A change refused at any step leaves everything as it
//! was.

use std::sync::Arc;

use serde_json::Value;

use crate::Gateway;
use crate::discovery::{self, Discovery};
use crate::error::{ApiError, Failure};
use crate::registry::Registration;

/// Who asks for a change.
#[derive(Debug, Clone, Copy)]
pub enum Origin {
    /// An admin request; it is written to the store. `expect` is the
    /// version its writer read (`If-Match`); `rollback_of` the version a
    /// rollback restores.
    Admin {
        expect: Option<u64>,
        rollback_of: Option<u64>,
    },
    /// A record of the cluster store, written at `revision`.
    Store { revision: i64, version: u64 },
}

impl Origin {
    /// The store revision of a change that came from the store.
    fn revision(self) -> Option<i64> {
        match self {
            Origin::Store { revision, .. } => Some(revision),
            Origin::Admin { .. } => None,
        }
    }
}

/// A registration swapped in.
pub struct Registered {
    /// What `GET /admin/backends/{name}` says of it.
    pub summary: Value,
    /// No backend had its name before.
    pub created: bool,
    /// Its version in the cluster store.
    pub version: Option<u64>,
}

impl Gateway {
    /// Registers `reg` as backend `name`, in place of any namesake. `None`
    /// when the store's record was applied already.
    pub(crate) async fn register(
        &self,
        name: &str,
        reg: Registration,
        origin: Origin,
    ) -> Result<Option<Registered>, ApiError> {
        let discovery = self.discover(name, &reg).await?;
        let cluster = self.inner.cluster.get().cloned();
        let mut registry = self.inner.registry.lock().await;
        if let Some(rev) = origin.revision()
            && registry.applied_at(name) >= rev
        {
            return Ok(None);
        }
        // Parsing the IDL and the fsync of the state file are blocking work:
        // keep them off the threads that serve requests.
        let (entry, reg) = tokio::task::block_in_place(|| registry.build(name, reg, discovery))?;
        let (mut next, table, created) = registry.with(entry)?;
        let (version, revision) = match (origin, &cluster) {
            (Origin::Store { revision, version }, _) => (Some(version), Some(revision)),
            (
                Origin::Admin {
                    expect,
                    rollback_of,
                },
                Some(c),
            ) => {
                let (record, revision) =
                    c.store.write(name, Some(&reg), expect, rollback_of).await?;
                (Some(record.version), Some(revision))
            }
            (Origin::Admin { .. }, None) => {
                tokio::task::block_in_place(|| registry.persist(name, &reg))?;
                (None, None)
            }
        };
        let i = next
            .iter()
            .position(|e| e.backend.name == name)
            .ok_or_else(|| Failure::Internal(format!("`{name}` went missing")))?;
        next[i].version = version;
        let summary = crate::admin::summary(&next[i]);
        self.inner.table.store(Arc::new(table));
        registry.entries = next;
        if let Some(rev) = revision {
            registry.applied.insert(name.to_string(), rev);
            registry.store_errors.remove(name);
        }
        Ok(Some(Registered {
            summary,
            created,
            version,
        }))
    }

    /// Removes backend `name`; its routes stop at once. In cluster mode a
    /// removal is a version too. `None` when the store's record was
    /// applied already; the new version otherwise (cluster mode).
    pub(crate) async fn unregister(
        &self,
        name: &str,
        origin: Origin,
    ) -> Result<Option<Option<u64>>, ApiError> {
        let cluster = self.inner.cluster.get().cloned();
        let mut registry = self.inner.registry.lock().await;
        if let Some(rev) = origin.revision()
            && registry.applied_at(name) >= rev
        {
            return Ok(None);
        }
        let found = registry.without(name);
        let (version, revision) = match (origin, &cluster) {
            (Origin::Store { revision, version }, _) => {
                if let Err(e) = &found
                    && !matches!(e.failure, Failure::NotFound(_))
                {
                    return Err(e.clone());
                }
                (Some(version), Some(revision))
            }
            (
                Origin::Admin {
                    expect,
                    rollback_of,
                },
                Some(c),
            ) => {
                // A record this gateway could not build is still the store's
                // to remove.
                if found.is_err() {
                    let live = c
                        .store
                        .current(name)
                        .await?
                        .is_some_and(|cur| cur.record.is_ok_and(|r| !r.removed));
                    if !live {
                        return Err(found.err().unwrap_or_else(|| no_backend(name)));
                    }
                }
                let (record, revision) = c.store.write(name, None, expect, rollback_of).await?;
                (Some(record.version), Some(revision))
            }
            (Origin::Admin { .. }, None) => {
                let (_, _, removed) = found.as_ref().map_err(Clone::clone)?;
                tokio::task::block_in_place(|| registry.persist_removal(removed))?;
                (None, None)
            }
        };
        if let Ok((next, table, _)) = found {
            self.inner.table.store(Arc::new(table));
            registry.entries = next;
        }
        if let Some(rev) = revision {
            registry.applied.insert(name.to_string(), rev);
            registry.store_errors.remove(name);
        }
        Ok(Some(version))
    }

    /// The running discovery of a registration that has one: its settings
    /// and IDL checked first (so a bad upload is refused at once), then its
    /// source started and given [`discovery::FIRST_ANSWER`] to answer. The
    /// registry is not locked meanwhile.
    async fn discover(
        &self,
        name: &str,
        reg: &Registration,
    ) -> Result<Option<Arc<Discovery>>, ApiError> {
        if reg.settings.discovery.is_none() {
            return Ok(None);
        }
        {
            let registry = self.inner.registry.lock().await;
            tokio::task::block_in_place(|| registry.build(name, reg.clone(), None))?;
        }
        let settings = crate::config::BackendConfig {
            name: name.to_string(),
            ..reg.settings.clone()
        };
        let d = Discovery::start_and_wait(&settings, self.changes(), discovery::FIRST_ANSWER)
            .await
            .map_err(|e| ApiError::from(Failure::InvalidSettings(e)))?;
        Ok(Some(d))
    }
}

pub fn no_backend(name: &str) -> ApiError {
    Failure::NotFound(format!("no backend named `{name}`")).into()
}
