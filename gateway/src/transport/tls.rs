//! TLS to backends (rustls): a backend's `tls` settings load into a
//! [`TlsClient`] when it is built, and every connection to its endpoints
//! is then a [`Stream::Tls`], checked against the CA given (and with a
//! client certificate, for mTLS).
//!
//! ```toml
//! [backends.tls]
//! ca = "certs/ca.pem"          # the CA bundle the servers' certificates chain to
//! server_name = "rich.internal" # default: the endpoint's host
//! # cert = "certs/gw-client.pem" # a client certificate (mTLS), with key
//! # key = "certs/gw-client.key"
//! ```

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::TransportError;

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackendTls {
    pub ca: PathBuf,
    /// The name the certificate must carry (default: the endpoint's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// A client certificate (with `key`), for servers that ask for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

impl BackendTls {
    /// Resolves relative paths against the config file's directory.
    pub fn relative_to(&mut self, base: &Path) {
        for p in [&mut self.ca]
            .into_iter()
            .chain(self.cert.as_mut())
            .chain(self.key.as_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// A backend's TLS client: what its connections check and present.
pub struct TlsClient {
    connector: tokio_rustls::TlsConnector,
    server_name: Option<ServerName<'static>>,
    /// What tells its connections from others' in the endpoint cache.
    key: String,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key)
    }
}

impl TlsClient {
    /// Loads the files of `cfg`; `alpn` is what the protocol speaks over it
    /// (`h2` for gRPC, none for the others).
    pub fn load(cfg: &BackendTls, alpn: &[&[u8]]) -> Result<Arc<TlsClient>, String> {
        let identity = match (&cfg.cert, &cfg.key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            (None, None) => None,
            _ => return Err("tls: cert and key go together".into()),
        };
        let client = crate::edge::tls::client_config(&cfg.ca, identity, alpn)
            .map_err(|e| format!("tls: {e}"))?;
        let server_name = cfg
            .server_name
            .as_deref()
            .map(|n| {
                ServerName::try_from(n.to_string())
                    .map_err(|e| format!("tls.server_name `{n}`: {e}"))
            })
            .transpose()?;
        let key = format!(
            "tls:{}:{}:{}",
            cfg.ca.display(),
            cfg.server_name.as_deref().unwrap_or(""),
            cfg.cert
                .as_deref()
                .map(|c| c.display().to_string())
                .unwrap_or_default()
        );
        Ok(Arc::new(TlsClient {
            connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
            server_name,
            key,
        }))
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The name to check for `addr` (`host:port`).
    fn name_for(&self, addr: &str) -> Result<ServerName<'static>, String> {
        if let Some(n) = &self.server_name {
            return Ok(n.clone());
        }
        let host = match addr.rsplit_once(':') {
            Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
            None => addr,
        };
        ServerName::try_from(host.to_string()).map_err(|e| format!("server name `{host}`: {e}"))
    }
}

/// A connection to a backend: plain TCP, or TLS over it.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    /// The TCP connection under it.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

/// Connects to `addr` and, with `tls`, makes the handshake, both within
/// `timeout`. A failed handshake is a connect failure: nothing was sent.
pub async fn open(
    addr: &Arc<str>,
    timeout: Duration,
    tls: Option<&TlsClient>,
) -> Result<Stream, TransportError> {
    let started = tokio::time::Instant::now();
    let tcp = super::connect(addr, timeout).await?;
    let Some(tls) = tls else {
        return Ok(Stream::Plain(tcp));
    };
    let fail = |message: String| TransportError::Connect {
        addr: addr.clone(),
        message,
    };
    let name = tls.name_for(addr).map_err(fail)?;
    let left = timeout.saturating_sub(started.elapsed());
    match tokio::time::timeout(left, tls.connector.connect(name, tcp)).await {
        Ok(Ok(s)) => Ok(Stream::Tls(Box::new(s))),
        Ok(Err(e)) => Err(fail(format!("TLS handshake: {e}"))),
        Err(_) => Err(fail(format!(
            "TLS handshake timed out after {} ms",
            timeout.as_millis()
        ))),
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
