//! Ping-pong connections (Thrift and Kitex Protobuf over buffered, framed
//! or TTHeader): one request at a time per connection, idle connections
//! kept per endpoint, the reply's framing read with `codecs::framing`.
//!
//! A request is sent once. It is sent again on a fresh connection only
//! when it cannot have run: the write to a pooled connection failed, or the
//! pooled connection was already closed when taken (seen by a readiness
//! check that costs no system call while the connection is healthy). A
//! pooled connection that closes after the request was written fails the
//! call, unless the call is idempotent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use codecs::framing::{Frame, Transport, decode_frame};
use codecs::thrift::Protocol;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tls::{Stream, TlsClient};
use super::{Connections, EndpointCache, OpenConn, TransportError};

/// How the connections of one endpoint frame their messages.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub transport: Transport,
    pub protocol: Protocol,
    pub connect_timeout: Duration,
    /// Largest reply frame accepted (bytes).
    pub max_frame: usize,
    /// Idle connections kept per endpoint.
    pub max_idle: usize,
    /// TLS to the endpoint, when the backend has `tls` settings.
    pub tls: Option<Arc<TlsClient>>,
}

/// One request: the whole frame, and whether a reply is expected.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub frame: Bytes,
    pub oneway: bool,
    /// Safe to send again if a connection closes after the write.
    pub idempotent: bool,
    /// Where the frame's `traceparent` is, when it carries one.
    pub trace_at: Option<u32>,
}

impl crate::observe::trace::Carry for Exchange {
    fn carry(&mut self, traceparent: &[u8; crate::observe::trace::TRACEPARENT_LEN]) {
        crate::observe::trace::rewrite(&mut self.frame, self.trace_at, traceparent);
    }
}

/// A reply frame; the message is [`Reply::payload`].
#[derive(Debug)]
pub struct Reply {
    pub data: Vec<u8>,
    pub frame: Frame,
    /// The endpoint that answered.
    pub addr: Arc<str>,
}

impl Reply {
    pub fn payload(&self) -> &[u8] {
        &self.data[self.frame.payload.clone()]
    }
}

struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    _open: OpenConn,
}

struct Inner {
    addr: Arc<str>,
    cfg: PoolConfig,
    idle: Mutex<Vec<Conn>>,
    open: Arc<AtomicUsize>,
}

/// One endpoint: its address and idle connections.
#[derive(Clone)]
pub struct PoolEndpoint {
    inner: Arc<Inner>,
}

/// Bytes requested from the socket per read.
const READ_CHUNK: usize = 8 * 1024;
/// Replies up to this size are copied out of the connection's read buffer
/// (which is kept for the next call); larger ones take the buffer.
const KEEP_BUFFER_MAX: usize = 64 * 1024;

impl PoolEndpoint {
    /// The endpoint `addr` with these settings, shared through `cache`.
    pub fn shared(cache: &EndpointCache, addr: &str, cfg: PoolConfig) -> PoolEndpoint {
        let key = format!(
            "pool|{addr}|{}|{:?}|{}|{}|{}",
            cfg.transport.name(),
            cfg.protocol,
            cfg.max_frame,
            cfg.connect_timeout.as_millis(),
            cfg.tls.as_ref().map_or("", |t| t.key())
        );
        let inner = cache.get(key, || Inner {
            addr: addr.into(),
            cfg,
            idle: Mutex::new(Vec::new()),
            open: Arc::default(),
        });
        PoolEndpoint { inner }
    }

    pub fn addr(&self) -> &str {
        &self.inner.addr
    }
}

impl Connections for PoolEndpoint {
    fn open_connections(&self) -> usize {
        self.inner.open.load(Ordering::Relaxed)
    }
}

impl tower::Service<Exchange> for PoolEndpoint {
    type Response = Option<Reply>;
    type Error = TransportError;
    type Future = BoxFuture<'static, Result<Option<Reply>, TransportError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Exchange) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { inner.call(&req).await })
    }
}

/// How an exchange on one connection ended.
enum Outcome {
    Done(Result<Option<Reply>, TransportError>),
    /// The write failed: nothing reached the server.
    NotSent,
    /// The connection closed after the write, before any reply byte.
    ClosedAfterWrite,
}

impl Inner {
    async fn call(&self, req: &Exchange) -> Result<Option<Reply>, TransportError> {
        if let Some(conn) = self.take_idle() {
            match self.exchange(conn, req).await {
                Outcome::Done(r) => return r,
                Outcome::NotSent => {}
                Outcome::ClosedAfterWrite if req.idempotent => {}
                Outcome::ClosedAfterWrite => return Err(self.closed()),
            }
        }
        let stream = super::tls::open(
            &self.addr,
            self.cfg.connect_timeout,
            self.cfg.tls.as_deref(),
        )
        .await?;
        let conn = Conn {
            stream,
            buf: Vec::new(),
            _open: OpenConn::new(&self.open),
        };
        match self.exchange(conn, req).await {
            Outcome::Done(r) => r,
            Outcome::NotSent | Outcome::ClosedAfterWrite => Err(self.closed()),
        }
    }

    fn closed(&self) -> TransportError {
        TransportError::Closed {
            addr: self.addr.clone(),
        }
    }

    /// An idle connection that is still open.
    fn take_idle(&self) -> Option<Conn> {
        loop {
            let conn = self.idle.lock().expect("pool lock").pop()?;
            if still_open(conn.stream.tcp()) {
                return Some(conn);
            }
        }
    }

    async fn exchange(&self, mut conn: Conn, req: &Exchange) -> Outcome {
        let io_err = |e: std::io::Error| TransportError::Io {
            addr: self.addr.clone(),
            message: e.to_string(),
        };
        if let Err(e) = conn.stream.write_all(&req.frame).await {
            return match e.kind() {
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                    Outcome::NotSent
                }
                _ => Outcome::Done(Err(io_err(e))),
            };
        }
        if req.oneway {
            self.release(conn);
            return Outcome::Done(Ok(None));
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
                    return Outcome::ClosedAfterWrite;
                }
                Err(e) => return Outcome::Done(Err(io_err(e))),
            };
            if n == 0 {
                return if conn.buf.is_empty() {
                    Outcome::ClosedAfterWrite
                } else {
                    Outcome::Done(Err(self.closed()))
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
                        self.release(conn);
                    }
                    return Outcome::Done(Ok(Some(Reply {
                        data,
                        frame,
                        addr: self.addr.clone(),
                    })));
                }
                Err(e) => {
                    return Outcome::Done(Err(TransportError::Protocol {
                        addr: self.addr.clone(),
                        message: e.to_string(),
                    }));
                }
            }
        }
    }

    fn release(&self, conn: Conn) {
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < self.cfg.max_idle {
            idle.push(conn);
        }
    }
}

/// Whether an idle connection can take a request: nothing to read on it.
/// A healthy idle connection is not read-ready (its last read drained it),
/// so this asks the socket only when the runtime saw an event (a close,
/// or bytes nobody asked for), which both make the connection unusable.
fn still_open(stream: &TcpStream) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match stream.poll_read_ready(&mut cx) {
        Poll::Pending => true,
        Poll::Ready(Err(_)) => false,
        Poll::Ready(Ok(())) => {
            let mut probe = [0u8; 1];
            matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tower::ServiceExt as _;

    use super::*;

    fn cfg() -> PoolConfig {
        PoolConfig {
            transport: Transport::Framed,
            protocol: Protocol::Binary,
            connect_timeout: Duration::from_secs(1),
            max_frame: 1 << 20,
            max_idle: 4,
            tls: None,
        }
    }

    const FRAME: [u8; 6] = [0, 0, 0, 2, 0x80, 0x01];

    fn exchange(idempotent: bool) -> Exchange {
        Exchange {
            frame: Bytes::from_static(&FRAME),
            oneway: false,
            idempotent,
            trace_at: None,
        }
    }

    /// A framed echo server that counts connections and requests; with
    /// `close_after`, it closes each connection after that many replies, and
    /// on the next request reads it and closes without replying.
    async fn server(close_after: Option<usize>) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (a, r) = (accepted.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                a.fetch_add(1, Ordering::SeqCst);
                let r = r.clone();
                tokio::spawn(async move {
                    let mut replies = 0;
                    let mut buf = [0u8; 6];
                    while s.read_exact(&mut buf).await.is_ok() {
                        r.fetch_add(1, Ordering::SeqCst);
                        if close_after == Some(replies) {
                            return; // read the request, then close: it ran
                        }
                        if s.write_all(&buf).await.is_err() {
                            return;
                        }
                        replies += 1;
                    }
                });
            }
        });
        (addr, accepted, requests)
    }

    #[tokio::test]
    async fn endpoints_sharing_a_cache_reuse_idle_connections() {
        let (addr, accepted, _) = server(None).await;
        let cache = EndpointCache::default();
        let first = PoolEndpoint::shared(&cache, &addr, cfg());
        for _ in 0..3 {
            let r = first
                .clone()
                .oneshot(exchange(false))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(r.payload(), &[0x80, 0x01]);
        }
        // A backend rebuilt over the same endpoint (an IDL replaced at run time).
        let second = PoolEndpoint::shared(&cache, &addr, cfg());
        drop(first);
        second.oneshot(exchange(false)).await.unwrap().unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        // Another cache connects anew.
        PoolEndpoint::shared(&EndpointCache::default(), &addr, cfg())
            .oneshot(exchange(false))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// A pooled connection that the server closes after reading the
    /// request: the call fails and is not sent again (it may have run).
    #[tokio::test]
    async fn a_call_that_reached_the_server_is_not_sent_again() {
        let (addr, _, requests) = server(Some(1)).await;
        let ep = PoolEndpoint::shared(&EndpointCache::default(), &addr, cfg());
        ep.clone().oneshot(exchange(false)).await.unwrap().unwrap();
        let r = ep.clone().oneshot(exchange(false)).await;
        assert!(
            matches!(r, Err(TransportError::Closed { .. })),
            "{:?}",
            r.map(|_| ())
        );
        assert_eq!(requests.load(Ordering::SeqCst), 2, "sent once");
        // The next call connects anew and succeeds.
        ep.clone().oneshot(exchange(false)).await.unwrap().unwrap();
        assert_eq!(requests.load(Ordering::SeqCst), 3);
    }

    /// The same failure on an idempotent call: sent again on a new connection.
    #[tokio::test]
    async fn an_idempotent_call_is_sent_again() {
        let (addr, accepted, requests) = server(Some(1)).await;
        let ep = PoolEndpoint::shared(&EndpointCache::default(), &addr, cfg());
        ep.clone().oneshot(exchange(true)).await.unwrap().unwrap();
        ep.clone().oneshot(exchange(true)).await.unwrap().unwrap();
        assert_eq!(requests.load(Ordering::SeqCst), 3);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// A pooled connection the server closed while it was idle is noticed
    /// before anything is written to it.
    #[tokio::test]
    async fn a_connection_closed_while_idle_is_not_used() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let requests = Arc::new(AtomicUsize::new(0));
        let r = requests.clone();
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                n += 1;
                let r = r.clone();
                let first = n == 1;
                tokio::spawn(async move {
                    let mut buf = [0u8; 6];
                    while s.read_exact(&mut buf).await.is_ok() {
                        r.fetch_add(1, Ordering::SeqCst);
                        s.write_all(&buf).await.unwrap();
                        if first {
                            return; // close while the client holds it idle
                        }
                    }
                });
            }
        });
        let ep = PoolEndpoint::shared(&EndpointCache::default(), &addr, cfg());
        ep.clone().oneshot(exchange(false)).await.unwrap().unwrap();
        // Wait until the close has arrived (no timing: poll the socket state).
        for _ in 0..200 {
            let closed = {
                let idle = ep.inner.idle.lock().unwrap();
                idle.first().is_some_and(|c| !still_open(c.stream.tcp()))
            };
            if closed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        ep.clone().oneshot(exchange(false)).await.unwrap().unwrap();
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }
}
