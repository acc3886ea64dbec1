//! A Thrift client transport: round-robin over endpoints, a pool of idle
//! connections per endpoint, one request at a time per connection
//! (ping-pong), framing by configuration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::CodecError;
use crate::framing::{Frame, Transport, decode_frame};
use crate::thrift::Protocol;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub transport: Transport,
    pub protocol: Protocol,
    pub connect_timeout: Duration,
    /// Largest reply frame accepted (bytes).
    pub max_frame: usize,
    /// Idle connections kept per endpoint.
    pub max_idle: usize,
}

/// Why a call failed before a reply was decoded.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("connection to {addr} failed: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr} closed the connection before replying")]
    Closed { addr: String },
    #[error("bad reply from {addr}: {source}")]
    Codec { addr: String, source: CodecError },
    #[error("no endpoints configured")]
    NoEndpoints,
}

/// A reply frame; the Thrift message is `bytes()[frame.payload]`.
#[derive(Debug)]
pub struct Response {
    pub data: Vec<u8>,
    pub frame: Frame,
    /// The endpoint that answered.
    pub addr: Arc<str>,
}

impl Response {
    pub fn payload(&self) -> &[u8] {
        &self.data[self.frame.payload.clone()]
    }
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

pub struct Endpoint {
    addr: Arc<str>,
    idle: Mutex<Vec<Conn>>,
}

pub struct Client {
    cfg: ClientConfig,
    endpoints: Vec<Arc<Endpoint>>,
    next: AtomicUsize,
}

/// Idle-connection pools shared by clients, keyed by endpoint, framing and
/// protocol: a backend rebuilt with the same endpoints (an IDL replaced at
/// run time) keeps its warm connections.
#[derive(Default)]
pub struct Pools {
    by_key: Mutex<HashMap<String, Weak<Endpoint>>>,
}

impl Pools {
    fn get(&self, addr: String, cfg: &ClientConfig) -> Arc<Endpoint> {
        let key = format!("{addr}|{}|{:?}", cfg.transport.name(), cfg.protocol);
        let mut map = self.by_key.lock().expect("pools lock");
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(ep) = map.get(&key).and_then(Weak::upgrade) {
            return ep;
        }
        let ep = Arc::new(Endpoint {
            addr: addr.into(),
            idle: Mutex::new(Vec::new()),
        });
        map.insert(key, Arc::downgrade(&ep));
        ep
    }
}

/// Bytes requested from the socket per read.
const READ_CHUNK: usize = 8 * 1024;
/// Replies up to this size are copied out of the connection's read buffer
/// (which is kept for the next call); larger ones take the buffer.
const KEEP_BUFFER_MAX: usize = 64 * 1024;

impl Client {
    pub fn new(cfg: ClientConfig, endpoints: impl IntoIterator<Item = String>) -> Self {
        Client::with_pools(cfg, endpoints, &Pools::default())
    }

    /// A client whose endpoints share idle connections through `pools`.
    pub fn with_pools(
        cfg: ClientConfig,
        endpoints: impl IntoIterator<Item = String>,
        pools: &Pools,
    ) -> Self {
        let endpoints = endpoints.into_iter().map(|a| pools.get(a, &cfg)).collect();
        Client {
            cfg,
            endpoints,
            next: AtomicUsize::new(0),
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    pub fn endpoints(&self) -> impl Iterator<Item = &str> {
        self.endpoints.iter().map(|e| &*e.addr)
    }

    /// Sends one framed request and waits for its reply (`None` for oneway).
    /// Only connection failures move on to the next endpoint; once a request
    /// was written it is never sent again, except on a pooled connection the
    /// peer had already closed (nothing was read from it).
    pub async fn call(
        &self,
        request: &[u8],
        oneway: bool,
    ) -> Result<Option<Response>, TransportError> {
        if self.endpoints.is_empty() {
            return Err(TransportError::NoEndpoints);
        }
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last_err = None;
        for i in 0..self.endpoints.len() {
            let ep = &self.endpoints[(first + i) % self.endpoints.len()];
            let pooled = ep.idle.lock().expect("pool lock").pop();
            if let Some(conn) = pooled {
                match self.exchange(ep, conn, request, oneway).await {
                    Err(Stale) => {}
                    Ok(r) => return r,
                }
            }
            let conn =
                match tokio::time::timeout(self.cfg.connect_timeout, TcpStream::connect(&*ep.addr))
                    .await
                {
                    Ok(Ok(s)) => {
                        s.set_nodelay(true).ok();
                        Conn {
                            stream: s,
                            buf: Vec::new(),
                        }
                    }
                    Ok(Err(e)) => {
                        last_err = Some(TransportError::Connect {
                            addr: ep.addr.to_string(),
                            source: e,
                        });
                        continue;
                    }
                    Err(_) => {
                        last_err = Some(TransportError::Connect {
                            addr: ep.addr.to_string(),
                            source: std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                "connect timed out",
                            ),
                        });
                        continue;
                    }
                };
            match self.exchange(ep, conn, request, oneway).await {
                Ok(r) => return r,
                Err(Stale) => {
                    return Err(TransportError::Closed {
                        addr: ep.addr.to_string(),
                    });
                }
            }
        }
        Err(last_err.unwrap_or(TransportError::NoEndpoints))
    }

    /// `Err(Stale)`: the connection was dead before any reply byte arrived.
    async fn exchange(
        &self,
        ep: &Endpoint,
        mut conn: Conn,
        request: &[u8],
        oneway: bool,
    ) -> Result<Result<Option<Response>, TransportError>, Stale> {
        let io_err = |e| TransportError::Io {
            addr: ep.addr.to_string(),
            source: e,
        };
        if let Err(e) = conn.stream.write_all(request).await {
            return match e.kind() {
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => Err(Stale),
                _ => Ok(Err(io_err(e))),
            };
        }
        if oneway {
            self.release(ep, conn);
            return Ok(Ok(None));
        }
        conn.buf.clear();
        loop {
            if conn.buf.capacity() - conn.buf.len() < READ_CHUNK {
                conn.buf.reserve(READ_CHUNK);
            }
            let n = match conn.stream.read_buf(&mut conn.buf).await {
                Ok(n) => n,
                Err(e)
                    if conn.buf.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset =>
                {
                    return Err(Stale);
                }
                Err(e) => return Ok(Err(io_err(e))),
            };
            if n == 0 {
                return if conn.buf.is_empty() {
                    Err(Stale)
                } else {
                    Ok(Err(TransportError::Closed {
                        addr: ep.addr.to_string(),
                    }))
                };
            }
            match decode_frame(
                self.cfg.transport,
                self.cfg.protocol,
                &conn.buf,
                self.cfg.max_frame,
            ) {
                Ok(None) => continue,
                Ok(Some(frame)) => {
                    let clean = frame.consumed == conn.buf.len();
                    // Small replies are copied out so the connection keeps its buffer.
                    let data = if conn.buf.len() <= KEEP_BUFFER_MAX {
                        let d = conn.buf.clone();
                        conn.buf.clear();
                        d
                    } else {
                        std::mem::take(&mut conn.buf)
                    };
                    if clean {
                        self.release(ep, conn);
                    }
                    return Ok(Ok(Some(Response {
                        data,
                        frame,
                        addr: ep.addr.clone(),
                    })));
                }
                Err(e) => {
                    return Ok(Err(TransportError::Codec {
                        addr: ep.addr.to_string(),
                        source: e,
                    }));
                }
            }
        }
    }

    fn release(&self, ep: &Endpoint, conn: Conn) {
        let mut idle = ep.idle.lock().expect("pool lock");
        if idle.len() < self.cfg.max_idle {
            idle.push(conn);
        }
    }
}

struct Stale;

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A framed echo server that counts the connections it accepted.
    async fn echo_server(accepted: Arc<AtomicUsize>) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn cfg() -> ClientConfig {
        ClientConfig {
            transport: Transport::Framed,
            protocol: Protocol::Binary,
            connect_timeout: Duration::from_secs(1),
            max_frame: 1 << 20,
            max_idle: 4,
        }
    }

    #[tokio::test]
    async fn clients_sharing_pools_reuse_idle_connections() {
        let accepted = Arc::new(AtomicUsize::new(0));
        let addr = echo_server(accepted.clone()).await;
        let frame = [0, 0, 0, 2, 0x80, 0x01];
        let pools = Pools::default();
        let first = Client::with_pools(cfg(), [addr.clone()], &pools);
        for _ in 0..3 {
            let r = first.call(&frame, false).await.unwrap().unwrap();
            assert_eq!(r.payload(), &[0x80, 0x01]);
        }
        // A rebuilt client (an IDL replaced at run time) over the same endpoint.
        let second = Client::with_pools(cfg(), [addr.clone()], &pools);
        drop(first);
        second.call(&frame, false).await.unwrap().unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        // Separate pools connect anew.
        Client::new(cfg(), [addr])
            .call(&frame, false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }
}
