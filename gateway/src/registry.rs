//! The set of backends and how it changes: from the config file at start,
//! and through the admin API at run time. Every change builds the new
//! backend and route table off to the side, persists it, then swaps the
//! table in whole; a rejected change leaves everything as it was.
//!
//! Precedence: registrations stored in the state directory (made through
//! the admin API) replace config-file backends of the same name; removing a
//! config-file or built-in backend through the admin API leaves a tombstone
//! so that it stays removed after a restart.
//!
//! State directory layout: `backends/<name>.json` (settings plus the IDL
//! files as uploaded) and `removed/<name>` (tombstones), each written to a
//! temporary file and renamed into place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use idl::{IdlErrors, MemoryFiles};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::backend::{Backend, BuildContext, Idl};
use crate::config::BackendConfig;
use crate::discovery::{Changes, Discovery};
use crate::error::{ApiError, Failure};
use crate::routes::RouteTable;
use crate::transport::EndpointCache;

/// Where a backend came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Builtin,
    Config,
    Admin,
}

/// A backend as registered through the admin API: settings and IDL files.
/// Its JSON is a backend's settings (the keys of a config file's
/// `[[backends]]`, but `name`, `idl` and `include_dirs`) plus `main` and
/// `files`.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The main IDL file: a key of `files` (default: the only file, or the first uploaded).
    pub main: String,
    /// Relative file name -> contents, exactly as uploaded.
    pub files: BTreeMap<String, String>,
    /// The settings; `name` and `idl` are set when it is built.
    pub settings: BackendConfig,
}

/// Keys of a backend's settings that an upload does not give.
const NOT_UPLOADED: &[&str] = &["name", "idl", "include_dirs"];

impl<'de> Deserialize<'de> for Registration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut map = serde_json::Map::<String, Value>::deserialize(d)?;
        if let Some(k) = NOT_UPLOADED.iter().find(|k| map.contains_key(**k)) {
            return Err(D::Error::custom(format!(
                "unknown field `{k}`: a registration names its backend in the path and uploads its IDL files"
            )));
        }
        let main = match map.remove("main") {
            None | Some(Value::Null) => String::new(),
            Some(v) => serde_json::from_value(v).map_err(D::Error::custom)?,
        };
        let files = match map.remove("files") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(v) => serde_json::from_value(v).map_err(D::Error::custom)?,
        };
        map.insert("name".into(), Value::String(String::new()));
        let settings = serde_json::from_value(Value::Object(map)).map_err(D::Error::custom)?;
        Ok(Registration {
            main,
            files,
            settings,
        })
    }
}

impl Serialize for Registration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let Value::Object(mut map) =
            serde_json::to_value(&self.settings).map_err(S::Error::custom)?
        else {
            return Err(S::Error::custom("settings are an object"));
        };
        for k in NOT_UPLOADED {
            map.remove(*k);
        }
        map.insert("main".into(), Value::String(self.main.clone()));
        map.insert(
            "files".into(),
            serde_json::to_value(&self.files).map_err(S::Error::custom)?,
        );
        map.serialize(s)
    }
}

/// One registered backend.
#[derive(Clone)]
pub struct Entry {
    pub backend: Arc<Backend>,
    pub source: Source,
    /// IDL file names (as uploaded, or the paths read at start).
    pub files: Vec<String>,
    /// The source of its endpoints, when they are discovered; it stops
    /// when the last entry holding it goes.
    pub discovery: Option<Arc<Discovery>>,
    /// Its version in the cluster store (cluster mode).
    pub version: Option<u64>,
}

/// Registry-wide settings.
pub struct Limits {
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
}

/// The backends; changed by one writer at a time.
pub struct Registry {
    pub entries: Vec<Entry>,
    pub state_dir: Option<PathBuf>,
    pub limits: Limits,
    /// Endpoints shared by the backends (kept across replacements).
    pub endpoints: EndpointCache,
    /// Stored registrations that could not be restored at start, and why.
    pub restore_errors: Vec<RestoreError>,
    /// Backends whose discovered endpoints changed, for the gateway to
    /// rebuild ([`Registry::rediscovered`]).
    pub changes: Arc<Changes>,
    /// Cluster mode: the store revision of the last record applied for
    /// each backend name.
    pub applied: std::collections::HashMap<String, i64>,
    /// Cluster mode: records this gateway could not apply, by backend.
    pub store_errors: BTreeMap<String, crate::cluster::ApplyError>,
}

/// A stored registration that did not come back at start.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreError {
    pub backend: String,
    pub error: String,
    /// Where the unreadable file was moved, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<String>,
}

/// Backend names become file names: keep them plain.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// A file name inside an upload: relative, no `..`, no backslashes.
pub fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains('\0')
        && name
            .split('/')
            .all(|seg| !seg.is_empty() && seg != ".." && seg != ".")
}

fn bad_request(message: impl Into<String>) -> ApiError {
    Failure::InvalidSettings(message.into()).into()
}

/// Why a backend name cannot be used, if it cannot.
pub fn check_name(name: &str) -> Result<(), String> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(format!(
            "invalid backend name `{name}`: use letters, digits, `-`, `_` and `.` (at most 64, not starting with `.`)"
        ))
    }
}

/// 422 with every IDL problem as `{file, line, message}`.
pub fn idl_error(errors: &IdlErrors) -> ApiError {
    let details: Vec<_> = errors
        .0
        .iter()
        .map(|e| json!({"file": e.file, "line": e.line, "message": e.message}))
        .collect();
    ApiError::from(Failure::InvalidIdl(errors.to_string())).with("details", json!(details))
}

impl Registry {
    /// A registry of no backends.
    pub fn new(state_dir: Option<PathBuf>, limits: Limits) -> Registry {
        Registry {
            entries: Vec::new(),
            state_dir,
            limits,
            endpoints: Default::default(),
            restore_errors: Vec::new(),
            changes: Default::default(),
            applied: Default::default(),
            store_errors: BTreeMap::new(),
        }
    }

    /// The store revision of the last record applied for `name` (0: none).
    pub fn applied_at(&self, name: &str) -> i64 {
        self.applied.get(name).copied().unwrap_or(0)
    }

    pub fn backends(&self) -> Vec<Arc<Backend>> {
        self.entries.iter().map(|e| e.backend.clone()).collect()
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.backend.name == name)
    }

    /// Validates a registration and builds its entry (nothing changes
    /// yet). A registration with `discovery` is built over the endpoints
    /// `discovery` has found so far (none when it is `None`: a check only).
    pub fn build(
        &self,
        name: &str,
        mut reg: Registration,
        discovery: Option<Arc<Discovery>>,
    ) -> Result<(Entry, Registration), ApiError> {
        check_name(name).map_err(bad_request)?;
        let mut settings = BackendConfig {
            name: name.to_string(),
            idl: PathBuf::from(&reg.main),
            include_dirs: Vec::new(),
            ..reg.settings.clone()
        };
        // Settings first (cheap), then the IDL.
        crate::discovery::check(&settings).map_err(bad_request)?;
        if let Some(d) = &discovery {
            settings.endpoints = d.endpoints();
        }
        let protocol = crate::backend::check_settings(&settings)
            .map_err(|e| bad_request(e.replace(&format!("backend `{name}`: "), "")))?;
        // Some protocols allow no IDL (generic calls only).
        let generic_only = reg.files.is_empty() && protocol.idl_optional(&settings);
        if reg.files.is_empty() && !generic_only {
            return Err(bad_request("no IDL files in the upload"));
        }
        if let Some(bad) = reg.files.keys().find(|f| !valid_file_name(f)) {
            return Err(bad_request(format!(
                "file name `{bad}` escapes the upload: use relative paths without `..`"
            )));
        }
        if reg.main.is_empty() && !generic_only {
            if reg.files.len() == 1 {
                reg.main = reg.files.keys().next().cloned().unwrap_or_default();
            } else {
                return Err(bad_request(format!(
                    "several files uploaded ({}): say which is the main one with `main`",
                    reg.files.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        if !generic_only && !reg.files.contains_key(&reg.main) {
            return Err(bad_request(format!(
                "main file `{}` is not among the uploaded files",
                reg.main
            )));
        }
        settings.idl = PathBuf::from(&reg.main);
        let files = MemoryFiles::new(reg.files.iter().map(|(k, v)| (k.clone(), v.clone())));
        let idl = if reg.main.is_empty() {
            Idl::None
        } else {
            Idl::load(protocol.idl(), &reg.main, &files).map_err(|e| idl_error(&e))?
        };
        let backend = Backend::build(
            &settings,
            idl,
            &BuildContext {
                endpoints: &self.endpoints,
                timeout_ms: self.limits.timeout_ms,
                connect_timeout_ms: self.limits.connect_timeout_ms,
                previous: None,
            },
        )
        .map_err(bad_request)?;
        let entry = Entry {
            backend: Arc::new(backend),
            source: Source::Admin,
            files: reg.files.keys().cloned().collect(),
            discovery,
            version: None,
        };
        Ok((entry, reg))
    }

    /// The entries and route table with backend `name` rebuilt over the
    /// endpoints its discovery found, or `None` when nothing changed (no
    /// such backend, no discovery, no answer yet, or the same set). The
    /// endpoints it keeps keep their health and connections.
    pub fn rediscovered(&self, name: &str) -> Result<Option<(Vec<Entry>, RouteTable)>, String> {
        let Some(entry) = self.get(name) else {
            return Ok(None);
        };
        let Some(found) = entry.discovery.as_ref().and_then(|d| d.view().endpoints) else {
            return Ok(None);
        };
        let old = &entry.backend;
        if found == old.settings.endpoints {
            return Ok(None);
        }
        let settings = BackendConfig {
            endpoints: found,
            ..old.settings.clone()
        };
        let backend = Backend::build(
            &settings,
            old.idl.clone(),
            &BuildContext {
                endpoints: &self.endpoints,
                timeout_ms: self.limits.timeout_ms,
                connect_timeout_ms: self.limits.connect_timeout_ms,
                previous: Some(&old.spec.traffic),
            },
        )?;
        let (next, table, _) = self
            .with(Entry {
                backend: Arc::new(backend),
                ..entry.clone()
            })
            .map_err(|e| e.message().to_string())?;
        Ok(Some((next, table)))
    }

    /// The entries with `entry` added or put in place of its namesake, and
    /// their route table; a route conflict is a 409 naming both owners.
    pub fn with(&self, entry: Entry) -> Result<(Vec<Entry>, RouteTable, bool), ApiError> {
        let mut next = self.entries.clone();
        let created = match next
            .iter()
            .position(|e| e.backend.name == entry.backend.name)
        {
            Some(i) => {
                next[i] = entry;
                false
            }
            None => {
                next.push(entry);
                true
            }
        };
        let table = table_of(&next)?;
        Ok((next, table, created))
    }

    pub fn without(&self, name: &str) -> Result<(Vec<Entry>, RouteTable, Entry), ApiError> {
        let Some(i) = self.entries.iter().position(|e| e.backend.name == name) else {
            return Err(Failure::NotFound(format!("no backend named `{name}`")).into());
        };
        let mut next = self.entries.clone();
        let removed = next.remove(i);
        let table = table_of(&next)?;
        Ok((next, table, removed))
    }

    // === persistence ===

    pub fn persist(&self, name: &str, reg: &Registration) -> Result<(), ApiError> {
        let Some(dir) = &self.state_dir else {
            return Ok(());
        };
        let io = |e: std::io::Error| {
            internal(format!(
                "cannot write the state directory {}: {e}",
                dir.display()
            ))
        };
        let text = serde_json::to_vec_pretty(reg).map_err(|e| internal(e.to_string()))?;
        write_atomic(&dir.join("backends"), &format!("{name}.json"), &text).map_err(io)?;
        remove_if_exists(&dir.join("removed").join(name)).map_err(io)
    }

    pub fn persist_removal(&self, entry: &Entry) -> Result<(), ApiError> {
        let Some(dir) = &self.state_dir else {
            return Ok(());
        };
        let name = &entry.backend.name;
        let io = |e: std::io::Error| {
            internal(format!(
                "cannot write the state directory {}: {e}",
                dir.display()
            ))
        };
        remove_if_exists(&dir.join("backends").join(format!("{name}.json"))).map_err(io)?;
        // Config-file and built-in backends would come back on restart without a tombstone.
        let stored_only = entry.source == Source::Admin && !self.config_names().contains(name);
        if !stored_only {
            write_atomic(&dir.join("removed"), name, b"").map_err(io)?;
        }
        Ok(())
    }

    fn config_names(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.source != Source::Admin)
            .map(|e| e.backend.name.clone())
            .collect()
    }

    /// Applies the state directory over the start-up backends: tombstones
    /// remove, stored registrations replace or add. A stored file that
    /// cannot be read or parsed is moved aside (`<name>.json.corrupt`); one
    /// that no longer builds is kept. Both are logged and listed in
    /// [`Registry::restore_errors`]. Temporary files that an interrupted
    /// write left behind are removed.
    pub fn restore(&mut self) {
        let Some(dir) = self.state_dir.clone() else {
            return;
        };
        for sub in ["backends", "removed"] {
            remove_temporaries(&dir.join(sub));
        }
        if let Ok(rd) = std::fs::read_dir(dir.join("removed")) {
            for f in rd.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                if !name.starts_with('.') {
                    self.entries.retain(|e| e.backend.name != name);
                    tracing::info!(backend = %name, "removed by an earlier admin request");
                }
            }
        }
        let mut stored: Vec<PathBuf> = match std::fs::read_dir(dir.join("backends")) {
            Ok(rd) => rd
                .flatten()
                .map(|f| f.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect(),
            Err(_) => Vec::new(),
        };
        stored.sort();
        for path in stored {
            let name = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let reg: Registration = match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => r,
                Err(e) => {
                    let aside = path.with_extension("json.corrupt");
                    let moved = std::fs::rename(&path, &aside).is_ok();
                    sync_dir(&dir.join("backends"));
                    tracing::error!(file = %path.display(), error = %e, moved_to = %aside.display(), "unreadable stored backend moved aside");
                    self.restore_errors.push(RestoreError {
                        backend: name,
                        error: e,
                        moved_to: moved.then(|| aside.display().to_string()),
                    });
                    continue;
                }
            };
            let discovery = if reg.settings.discovery.is_some() {
                let settings = BackendConfig {
                    name: name.clone(),
                    ..reg.settings.clone()
                };
                match Discovery::start(&settings, &self.changes) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        tracing::error!(backend = %name, error = %e, "skipping stored backend");
                        self.restore_errors.push(RestoreError {
                            backend: name,
                            error: e,
                            moved_to: None,
                        });
                        continue;
                    }
                }
            } else {
                None
            };
            match self
                .build(&name, reg, discovery)
                .and_then(|(entry, _)| self.with(entry))
            {
                Ok((next, _, _)) => {
                    self.entries = next;
                    tracing::info!(backend = %name, "restored from the state directory");
                }
                Err(e) => {
                    tracing::error!(backend = %name, error = %e.message(), "skipping stored backend");
                    self.restore_errors.push(RestoreError {
                        backend: name,
                        error: e.message().to_string(),
                        moved_to: None,
                    });
                }
            }
        }
    }
}

fn table_of(entries: &[Entry]) -> Result<RouteTable, ApiError> {
    let backends: Vec<_> = entries.iter().map(|e| e.backend.clone()).collect();
    RouteTable::build(&backends).map_err(|m| Failure::Conflict(m).into())
}

fn internal(message: String) -> ApiError {
    tracing::error!(%message, "admin change failed");
    Failure::Internal(message).into()
}

/// Writes `dir/name` through a temporary file, fsync and rename.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir);
    Ok(())
}

/// Makes a change to `dir`'s entries (a rename, a removal) durable.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        d.sync_all().ok();
    }
}

/// Removes `path`, and makes the removal durable (the directory is synced).
fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        Err(_) => Ok(()),
        Ok(()) => {
            if let Some(dir) = path.parent() {
                sync_dir(dir);
            }
            Ok(())
        }
    }
}

/// Removes the temporary files of writes that never finished
/// (`.<name>.tmp-<pid>`, see [`write_atomic`]).
fn remove_temporaries(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for f in rd.flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp-") {
            match std::fs::remove_file(f.path()) {
                Ok(()) => {
                    tracing::info!(file = %f.path().display(), "removed a leftover temporary file")
                }
                Err(e) => {
                    tracing::warn!(file = %f.path().display(), error = %e, "cannot remove a leftover temporary file")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_file_names() {
        assert!(valid_name("users-v2.prod"));
        assert!(
            !valid_name("../x") && !valid_name(".hidden") && !valid_name("a/b") && !valid_name("")
        );
        assert!(valid_file_name("a/b.thrift") && valid_file_name("main.thrift"));
        for bad in [
            "../a.thrift",
            "/etc/passwd",
            "a/../../b",
            "a//b",
            "./a",
            "a\\b",
        ] {
            assert!(!valid_file_name(bad), "{bad}");
        }
    }
}
