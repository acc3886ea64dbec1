//! The cluster store: registrations as versioned records in etcd, their IDL
//! files as content-addressed chunks, and the transactions that keep two
//! writers from losing one another's change.
//!
//! Layout under the prefix `P` of the store URL:
//!
//! | key | value |
//! |---|---|
//! | `P/backends/{name}` | the current [`Record`] (JSON): version, settings, file references; a removal is a record too (`removed`) |
//! | `P/history/{name}/{version:010}` | every version's record, the last [`KEEP_VERSIONS`] of them |
//! | `P/idl/{sha256}` | at most [`CHUNK`] bytes of an IDL file, named by their SHA-256 |
//!
//! etcd refuses a request over 1.5 MiB by default (`--max-request-bytes`);
//! a chunk is one request of at most 1 MiB, and a record (written twice in
//! one transaction, current and history) is refused with 413 past
//! [`MAX_RECORD`]. Chunks are shared by every version and backend with the
//! same content; they are written before the record that names them and are
//! not deleted (a record in the history may still name them).
//!
//! A write reads the current record, and commits the next version in a
//! transaction that compares the key's `mod_revision` with the one read
//! (etcd's compare-and-swap): of two writers that read the same version,
//! one commits and the other gets [`StoreError::Conflict`].

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, GetOptions, GetResponse, Txn, TxnOp, WatchOptions, WatchStream,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::registry::Registration;

/// The largest piece of an IDL file in one key.
pub const CHUNK: usize = 1 << 20;
/// The largest record (its settings; files are chunks): it is written twice
/// in one transaction, well within etcd's 1.5 MiB request limit.
pub const MAX_RECORD: usize = 512 << 10;
/// How many versions of a backend the history keeps.
pub const KEEP_VERSIONS: u64 = 100;

/// `etcd://host:port,host:port/prefix`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreUrl {
    pub endpoints: Vec<String>,
    /// Without a trailing `/`; `/kitegate` when the URL names none.
    pub prefix: String,
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "etcd://{}{}", self.endpoints.join(","), self.prefix)
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("etcd://")
            .ok_or_else(|| format!("store `{s}`: use etcd://HOST:PORT[,HOST:PORT…][/PREFIX]"))?;
        let (hosts, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let endpoints: Vec<String> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect();
        if endpoints.is_empty() {
            return Err(format!("store `{s}`: no etcd endpoints"));
        }
        if let Some(bad) = endpoints.iter().find(|h| !h.contains(':')) {
            return Err(format!("store `{s}`: endpoint `{bad}` needs a port"));
        }
        let prefix = if prefix.is_empty() {
            "/kitegate".to_string()
        } else {
            prefix.to_string()
        };
        Ok(StoreUrl { endpoints, prefix })
    }
}

/// One version of a backend's registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub version: u64,
    /// This version removes the backend.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    /// The registration's JSON without the files' contents.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub registration: Value,
    /// File name -> where its contents are.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, FileRef>,
    /// The gateway that wrote it (host and admin address).
    pub written_by: String,
    /// Unix time, milliseconds.
    pub written_at_ms: u64,
    /// The version this one restored, when it is a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    pub size: usize,
    /// SHA-256 of the whole file, hex.
    pub sha256: String,
    /// The chunks' SHA-256s, in order.
    pub chunks: Vec<String>,
}

/// Why a store operation failed.
#[derive(Debug, Clone)]
pub enum StoreError {
    /// Another writer changed the backend since the version this write read.
    Conflict(String),
    /// etcd could not be reached or did not answer.
    Unavailable(String),
    /// The record is over [`MAX_RECORD`], or etcd said the request is too large.
    TooLarge(String),
    /// What the store holds cannot be read (bad JSON, a missing chunk).
    Corrupt(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Conflict(m)
            | StoreError::Unavailable(m)
            | StoreError::TooLarge(m)
            | StoreError::Corrupt(m) => f.write_str(m),
        }
    }
}

/// etcd refused a request over its `--max-request-bytes`.
fn too_large(e: &etcd_client::Error) -> bool {
    e.to_string().contains("too large")
}

fn etcd_error(e: etcd_client::Error) -> StoreError {
    if too_large(&e) {
        StoreError::TooLarge(format!("etcd refused the write: {e}"))
    } else {
        StoreError::Unavailable(format!("etcd: {e}"))
    }
}

/// Whether a failed request never reached etcd (no connection could be
/// made to the member the client picked), so that sending it again cannot
/// apply it twice.
fn not_sent(e: &etcd_client::Error) -> bool {
    e.to_string().contains("connect error")
}

/// Retries past the first try, beyond one per member.
const EXTRA_ATTEMPTS: usize = 2;

/// Reads, and writes that are the same however often they are done, may be
/// sent again after any transport failure.
fn transport_failure(e: &etcd_client::Error) -> bool {
    matches!(
        e,
        etcd_client::Error::TransportError(_) | etcd_client::Error::GRpcStatus(_)
    ) && !too_large(e)
}

/// What a read asks for.
#[derive(Clone, Copy)]
enum Read {
    Key,
    Prefix,
    Count,
}

/// The current record of a backend and the revision it was written at.
#[derive(Debug, Clone)]
pub struct Current {
    pub record: Result<Record, String>,
    pub mod_revision: i64,
    /// etcd's count of writes to the key (a fallback version when the
    /// record cannot be read).
    pub key_version: i64,
}

impl Current {
    fn of(kv: &etcd_client::KeyValue) -> Current {
        Current {
            record: parse_record(kv.value()),
            mod_revision: kv.mod_revision(),
            key_version: kv.version(),
        }
    }

    fn version(&self) -> u64 {
        match &self.record {
            Ok(r) => r.version,
            Err(_) => self.key_version.max(0) as u64,
        }
    }
}

/// A connection to the store, and the names of its keys.
#[derive(Clone)]
pub struct Store {
    /// Balanced over every member.
    client: Client,
    /// One per member, tried in turn when a request meets a member that is
    /// down: the balanced client may pick the same dead member again (to
    /// its balancer a member that fails at once looks least loaded).
    members: Vec<Client>,
    pub url: StoreUrl,
    /// Who this gateway is in [`Record::written_by`].
    pub id: String,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Store {
    /// Connects to the store's members (one that answers is enough).
    pub async fn connect(url: StoreUrl, id: String) -> Result<Store, String> {
        let options = crate::discovery::etcd::connect_options();
        let client = Client::connect(&url.endpoints, Some(options.clone()))
            .await
            .map_err(|e| format!("cannot reach the store {url}: {e}"))?;
        let mut members = Vec::new();
        for e in &url.endpoints {
            members.push(
                Client::connect([e], Some(options.clone()))
                    .await
                    .map_err(|err| format!("cannot reach the store {url}: {e}: {err}"))?,
            );
        }
        Ok(Store {
            client,
            members,
            url,
            id,
        })
    }

    pub fn backends_prefix(&self) -> String {
        format!("{}/backends/", self.url.prefix)
    }

    fn backend_key(&self, name: &str) -> String {
        format!("{}{name}", self.backends_prefix())
    }

    fn history_prefix(&self, name: &str) -> String {
        format!("{}/history/{name}/", self.url.prefix)
    }

    fn history_key(&self, name: &str, version: u64) -> String {
        format!("{}{version:010}", self.history_prefix(name))
    }

    fn chunk_key(&self, digest: &str) -> String {
        format!("{}/idl/{digest}", self.url.prefix)
    }

    /// The backend name a key under [`Store::backends_prefix`] is for.
    pub fn name_of(&self, key: &[u8]) -> Option<String> {
        let key = std::str::from_utf8(key).ok()?;
        let name = key.strip_prefix(&self.backends_prefix())?;
        crate::registry::valid_name(name).then(|| name.to_string())
    }

    /// The current record of `name`, if the store has one.
    pub async fn current(&self, name: &str) -> Result<Option<Current>, StoreError> {
        let resp = self.get(&self.backend_key(name), Read::Key).await?;
        Ok(resp.kvs().first().map(Current::of))
    }

    /// Every current record, and the revision of the listing.
    pub async fn list(&self) -> Result<(Vec<(String, Current)>, i64), StoreError> {
        let resp = self.get(&self.backends_prefix(), Read::Prefix).await?;
        let revision = resp.header().map_or(0, |h| h.revision());
        let mut out = Vec::new();
        for kv in resp.kvs() {
            let Some(name) = self.name_of(kv.key()) else {
                tracing::warn!(key = %String::from_utf8_lossy(kv.key()), "ignoring a store key that names no backend");
                continue;
            };
            out.push((name, Current::of(kv)));
        }
        Ok((out, revision))
    }

    /// Watches the current records from `revision` on.
    pub async fn watch(&self, revision: i64) -> Result<WatchStream, StoreError> {
        self.retrying(transport_failure, |mut c| {
            let prefix = self.backends_prefix();
            async move {
                c.watch(
                    prefix,
                    Some(
                        WatchOptions::new()
                            .with_prefix()
                            .with_start_revision(revision)
                            .with_progress_notify(),
                    ),
                )
                .await
            }
        })
        .await
    }

    /// Every version the history keeps, oldest first.
    pub async fn history(&self, name: &str) -> Result<Vec<Record>, StoreError> {
        let resp = self.get(&self.history_prefix(name), Read::Prefix).await?;
        let mut out = Vec::new();
        for kv in resp.kvs() {
            match parse_record(kv.value()) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::warn!(key = %String::from_utf8_lossy(kv.key()), error = %e, "unreadable history record left out")
                }
            }
        }
        out.sort_by_key(|r| r.version);
        Ok(out)
    }

    /// Writes the next version of `name`: `reg`, or a removal when `None`.
    /// `expect` is the version the writer based its change on (none: the
    /// current one, whatever it is). Returns the record and the revision it
    /// was committed at.
    pub async fn write(
        &self,
        name: &str,
        reg: Option<&Registration>,
        expect: Option<u64>,
        rollback_of: Option<u64>,
    ) -> Result<(Record, i64), StoreError> {
        let current = self.current(name).await?;
        let at = current.as_ref().map_or(0, Current::version);
        if let Some(want) = expect
            && want != at
        {
            return Err(StoreError::Conflict(format!(
                "backend `{name}` is at version {at}, not {want}: read it again and retry"
            )));
        }
        let mut record = Record {
            version: at + 1,
            removed: reg.is_none(),
            registration: Value::Null,
            files: BTreeMap::new(),
            written_by: self.id.clone(),
            written_at_ms: now_ms(),
            rollback_of,
        };
        if let Some(reg) = reg {
            let mut v = serde_json::to_value(reg)
                .map_err(|e| StoreError::Corrupt(format!("registration: {e}")))?;
            if let Some(m) = v.as_object_mut() {
                m.remove("files");
            }
            record.registration = v;
            let text = serde_json::to_vec(&record.registration).unwrap_or_default();
            if text.len() > MAX_RECORD {
                return Err(StoreError::TooLarge(format!(
                    "the settings of `{name}` take {} bytes; the store takes at most {MAX_RECORD} (IDL files do not count)",
                    text.len()
                )));
            }
            for (file, contents) in &reg.files {
                record
                    .files
                    .insert(file.clone(), self.put_file(contents.as_bytes()).await?);
            }
        }
        let value = serde_json::to_vec(&record).unwrap_or_default();
        let key = self.backend_key(name);
        let guard = match &current {
            Some(c) => Compare::mod_revision(key.clone(), CompareOp::Equal, c.mod_revision),
            None => Compare::version(key.clone(), CompareOp::Equal, 0),
        };
        let mut ops = vec![
            TxnOp::put(key, value.clone(), None),
            TxnOp::put(self.history_key(name, record.version), value, None),
        ];
        if record.version > KEEP_VERSIONS {
            ops.push(TxnOp::delete(
                self.history_key(name, record.version - KEEP_VERSIONS),
                None,
            ));
        }
        // A transaction whose answer was lost may have committed: it is sent
        // again only when it never left.
        let txn = Txn::new().when([guard]).and_then(ops);
        let resp = self
            .retrying(not_sent, |mut c| {
                let txn = txn.clone();
                async move { c.txn(txn).await }
            })
            .await?;
        if !resp.succeeded() {
            return Err(StoreError::Conflict(format!(
                "backend `{name}` was changed by another writer after version {at}: read it again and retry"
            )));
        }
        let revision = resp.header().map_or(0, |h| h.revision());
        Ok((record, revision))
    }

    /// Runs `op` on the balanced client, then on each member in turn, until
    /// it succeeds or fails for another reason than `retry_on` allows.
    async fn retrying<T, F, Fut>(
        &self,
        retry_on: fn(&etcd_client::Error) -> bool,
        mut op: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let attempts = self.members.len() + EXTRA_ATTEMPTS;
        let mut attempt = 1;
        loop {
            let client = match attempt {
                1 => self.client.clone(),
                n => self.members[(n - 2) % self.members.len()].clone(),
            };
            match op(client).await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < attempts && retry_on(&e) => {
                    tracing::debug!(error = %e, attempt, "etcd request failed; trying another member");
                    tokio::time::sleep(Duration::from_millis(10 * attempt as u64)).await;
                    attempt += 1;
                }
                Err(e) => return Err(etcd_error(e)),
            }
        }
    }

    /// A read, sent again while members are down.
    async fn get(&self, key: &str, how: Read) -> Result<GetResponse, StoreError> {
        self.retrying(transport_failure, |mut c| {
            let key = key.to_string();
            let options = match how {
                Read::Key => GetOptions::new(),
                Read::Prefix => GetOptions::new().with_prefix(),
                Read::Count => GetOptions::new().with_count_only(),
            };
            async move { c.get(key, Some(options)).await }
        })
        .await
    }

    /// Stores a file's chunks (those the store lacks) and returns its reference.
    async fn put_file(&self, bytes: &[u8]) -> Result<FileRef, StoreError> {
        let mut chunks = Vec::new();
        for piece in bytes.chunks(CHUNK) {
            let digest = sha256_hex(piece);
            let key = self.chunk_key(&digest);
            if self.get(&key, Read::Count).await?.count() == 0 {
                self.retrying(transport_failure, |mut c| {
                    let key = key.clone();
                    async move { c.put(key, piece, None).await }
                })
                .await?;
            }
            chunks.push(digest);
        }
        Ok(FileRef {
            size: bytes.len(),
            sha256: sha256_hex(bytes),
            chunks,
        })
    }

    /// The registration a record holds, its files read back from their
    /// chunks and checked against their digests.
    pub async fn registration(&self, record: &Record) -> Result<Registration, StoreError> {
        let mut files = BTreeMap::new();
        for (file, r) in &record.files {
            let mut bytes = Vec::with_capacity(r.size);
            for digest in &r.chunks {
                let resp = self.get(&self.chunk_key(digest), Read::Key).await?;
                let kv = resp.kvs().first().ok_or_else(|| {
                    StoreError::Corrupt(format!("chunk {digest} of `{file}` is not in the store"))
                })?;
                bytes.extend_from_slice(kv.value());
            }
            if sha256_hex(&bytes) != r.sha256 || bytes.len() != r.size {
                return Err(StoreError::Corrupt(format!(
                    "`{file}` read back from the store does not match its digest"
                )));
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| StoreError::Corrupt(format!("`{file}` is not UTF-8")))?;
            files.insert(file.clone(), text);
        }
        let mut v = record.registration.clone();
        if !v.is_object() {
            return Err(StoreError::Corrupt(format!(
                "version {} has no registration",
                record.version
            )));
        }
        v["files"] = serde_json::to_value(files).unwrap_or_default();
        serde_json::from_value(v).map_err(|e| {
            StoreError::Corrupt(format!(
                "version {} is not a registration this gateway reads: {e}",
                record.version
            ))
        })
    }
}

pub fn parse_record(bytes: &[u8]) -> Result<Record, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("unreadable record: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        let u: StoreUrl = "etcd://127.0.0.1:2379,127.0.0.1:22379/kitegate/prod/"
            .parse()
            .unwrap();
        assert_eq!(u.endpoints, ["127.0.0.1:2379", "127.0.0.1:22379"]);
        assert_eq!(u.prefix, "/kitegate/prod");
        assert_eq!(
            u.to_string(),
            "etcd://127.0.0.1:2379,127.0.0.1:22379/kitegate/prod"
        );
        let u: StoreUrl = "etcd://h:1".parse().unwrap();
        assert_eq!(u.prefix, "/kitegate");
        for bad in ["http://h:1/x", "etcd:///x", "etcd://h/x"] {
            assert!(bad.parse::<StoreUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn records_round_trip() {
        let r = Record {
            version: 3,
            removed: false,
            registration: serde_json::json!({"protocol": "thrift"}),
            files: BTreeMap::from([(
                "a.thrift".into(),
                FileRef {
                    size: 3,
                    sha256: sha256_hex(b"abc"),
                    chunks: vec![sha256_hex(b"abc")],
                },
            )]),
            written_by: "h/127.0.0.1:9888".into(),
            written_at_ms: 1,
            rollback_of: Some(1),
        };
        let bytes = serde_json::to_vec(&r).unwrap();
        assert_eq!(parse_record(&bytes).unwrap(), r);
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
