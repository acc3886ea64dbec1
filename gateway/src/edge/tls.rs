//! TLS for the listeners (rustls with ring; no OpenSSL): certificates from
//! PEM files, ALPN `h2` and `http/1.1`, optional client-certificate checks
//! against a CA (mTLS), and reloads on SIGHUP or when a file changes, for
//! the connections that come next (those open keep their session).
//!
//! ```toml
//! [tls]                       # the front door (`listen`)
//! cert = "certs/gw.pem"       # chain, leaf first
//! key = "certs/gw.key"        # PKCS#8, PKCS#1 or SEC1
//! # client_ca = "certs/ca.pem" # set: clients must present a certificate it signed
//! [admin_tls]                 # the admin listener, same keys
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Clients must present a certificate this CA bundle signed.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

impl TlsConfig {
    /// Resolves relative paths against the config file's directory.
    pub fn relative_to(&mut self, base: &Path) {
        for p in [&mut self.cert, &mut self.key]
            .into_iter()
            .chain(self.client_ca.as_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    fn files(&self) -> impl Iterator<Item = &Path> {
        [self.cert.as_path(), self.key.as_path()]
            .into_iter()
            .chain(self.client_ca.as_deref())
    }
}

/// A listener's TLS settings as last loaded; [`Tls::reload`] swaps in new
/// ones when the files changed (or when told to), and keeps the old ones
/// when the new files do not load.
pub struct Tls {
    cfg: TlsConfig,
    current: ArcSwap<ServerConfig>,
    /// The files' modification times and sizes when last loaded.
    stamp: Mutex<Vec<Option<(SystemTime, u64)>>>,
    /// The listener's name, for the log.
    name: &'static str,
}

impl Tls {
    pub fn load(cfg: &TlsConfig, name: &'static str) -> Result<Arc<Tls>, String> {
        let stamp = stamp(cfg);
        let server = server_config(cfg).map_err(|e| format!("{name} TLS: {e}"))?;
        Ok(Arc::new(Tls {
            cfg: cfg.clone(),
            current: ArcSwap::from_pointee(server),
            stamp: Mutex::new(stamp),
            name,
        }))
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }

    /// Loads the files again if they changed since the last load, or
    /// always with `force`; true when new settings were swapped in.
    pub fn reload(&self, force: bool) -> bool {
        let now = stamp(&self.cfg);
        let mut last = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
        if !force && *last == now {
            return false;
        }
        *last = now;
        match server_config(&self.cfg) {
            Ok(server) => {
                self.current.store(Arc::new(server));
                tracing::info!(listener = self.name, "TLS certificates reloaded");
                true
            }
            Err(e) => {
                tracing::error!(listener = self.name, error = %e, "TLS certificates not reloaded; the previous ones stay");
                false
            }
        }
    }
}

/// How often the certificate files are looked at.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Reloads each listener's certificates on SIGHUP, and when their files
/// change, until the process ends.
pub fn watch(listeners: Vec<Arc<Tls>>) {
    if listeners.is_empty() {
        return;
    }
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let force = tokio::select! {
                _ = tick.tick() => false,
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
            };
            #[cfg(not(unix))]
            let force = {
                tick.tick().await;
                false
            };
            for l in &listeners {
                l.reload(force);
            }
        }
    });
}

fn stamp(cfg: &TlsConfig) -> Vec<Option<(SystemTime, u64)>> {
    cfg.files()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

/// ring builds with a C compiler alone (aws-lc-rs also needs cmake), and
/// offers X25519, P-256 and P-384 key exchange; rustls marks it deprecated
/// only because it lacks the post-quantum hybrid groups.
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a PEM file of certificates (at least one).
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", path.display()));
    }
    Ok(certs)
}

/// Reads a PEM private key.
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// A root store of every certificate in a PEM file.
pub fn roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certificates(path)? {
        roots
            .add(c)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(roots)
}

fn server_config(cfg: &TlsConfig) -> Result<ServerConfig, String> {
    let certs = certificates(&cfg.cert)?;
    let key = private_key(&cfg.key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &cfg.client_ca {
        Some(ca) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca)?),
                provider(),
            )
            .build()
            .map_err(|e| format!("{}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut server = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("{} and {}: {e}", cfg.cert.display(), cfg.key.display()))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(server)
}

/// A client configuration trusting `ca` (else nothing: a CA is required),
/// with a client certificate when both `cert` and `key` are given.
pub fn client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
    alpn: &[&[u8]],
) -> Result<rustls::ClientConfig, String> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots(ca)?);
    let mut client = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(certificates(cert)?, private_key(key)?)
            .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))?,
        None => builder.with_no_client_auth(),
    };
    client.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(client)
}
