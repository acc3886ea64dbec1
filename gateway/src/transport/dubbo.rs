//! Dubbo connections: many requests multiplexed over one TCP connection per
//! endpoint, replies matched by request id, the provider's heartbeats
//! answered and our own sent when idle. The connection closes once its
//! endpoint is dropped (no backend uses it) and the calls on it finished,
//! and when a call on it got no reply in time and a heartbeat sent then is
//! not answered either (the provider is gone without a FIN, or wedged).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use codecs::dubbo::{self, HEADER_LEN, Header};
use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::tls::Stream;
use super::{EndpointCache, TransportError};

/// Waiters by request id: a reply frame, or why the reply cannot be read.
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Vec<u8>, String>>>>>;

/// Request ids, unique in the process: a request encoded once may go to
/// any endpoint, and endpoints are shared between backends.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh request id.
pub fn next_request_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// How long a connection suspected dead has to answer a heartbeat.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// One live connection: its queue of frames to write and its waiters.
struct Conn {
    tx: mpsc::UnboundedSender<Bytes>,
    pending: Pending,
    /// Ends the connection's task.
    kill: Arc<tokio::sync::Notify>,
    probing: std::sync::atomic::AtomicBool,
    addr: Arc<str>,
}

impl Conn {
    /// After a call got no reply in time: a heartbeat that is not answered
    /// within [`PROBE_TIMEOUT`] closes the connection, so the next call
    /// dials a new one. One probe at a time.
    fn probe(self: &Arc<Self>) {
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let id = next_request_id();
            let (tx, rx) = oneshot::channel();
            me.pending.lock().expect("pending lock").insert(id, tx);
            let sent = me
                .tx
                .send(Bytes::from(dubbo::heartbeat_request(id)))
                .is_ok();
            let answered =
                sent && matches!(tokio::time::timeout(PROBE_TIMEOUT, rx).await, Ok(Ok(Ok(_))));
            me.pending.lock().expect("pending lock").remove(&id);
            if !answered {
                tracing::warn!(addr = %me.addr, "Dubbo connection does not answer a heartbeat; closing it");
                me.kill.notify_one();
            }
            me.probing.store(false, Ordering::Release);
        });
    }
}

/// Settings of the connections to one endpoint.
#[derive(Debug, Clone)]
pub struct DubboConfig {
    pub connect_timeout: Duration,
    /// Largest reply body accepted.
    pub max_body: usize,
    /// A heartbeat goes out after this long without traffic.
    pub heartbeat: Duration,
    /// TLS to the endpoint, when the backend has `tls` settings.
    pub tls: Option<Arc<super::tls::TlsClient>>,
}

impl Default for DubboConfig {
    fn default() -> Self {
        DubboConfig {
            connect_timeout: Duration::from_secs(1),
            max_body: dubbo::DEFAULT_MAX_BODY,
            heartbeat: Duration::from_secs(60),
            tls: None,
        }
    }
}

struct Inner {
    addr: Arc<str>,
    cfg: DubboConfig,
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
    open: Arc<AtomicUsize>,
}

/// One Dubbo endpoint and its multiplexed connection.
#[derive(Clone)]
pub struct DubboEndpoint {
    inner: Arc<Inner>,
}

/// One request frame (whose id is `id`).
#[derive(Debug, Clone)]
pub struct DubboCall {
    pub id: u64,
    pub frame: Bytes,
    /// Where the frame's `traceparent` attachment is, when it has one.
    pub trace_at: Option<u32>,
}

impl crate::observe::trace::Carry for DubboCall {
    fn carry(&mut self, traceparent: &[u8; crate::observe::trace::TRACEPARENT_LEN]) {
        crate::observe::trace::rewrite(&mut self.frame, self.trace_at, traceparent);
    }
}

/// A reply frame and the endpoint that sent it.
#[derive(Debug)]
pub struct DubboReply {
    pub frame: Vec<u8>,
    pub addr: Arc<str>,
}

impl super::Connections for DubboEndpoint {
    fn open_connections(&self) -> usize {
        self.inner.open.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl DubboEndpoint {
    /// The endpoint `addr` with these settings, shared through `cache`.
    pub fn shared(cache: &EndpointCache, addr: &str, cfg: DubboConfig) -> DubboEndpoint {
        let key = format!(
            "dubbo|{addr}|{}|{}|{}|{}",
            cfg.max_body,
            cfg.heartbeat.as_millis(),
            cfg.connect_timeout.as_millis(),
            cfg.tls.as_ref().map_or("", |t| t.key())
        );
        let inner = cache.get(key, || Inner {
            addr: addr.into(),
            cfg,
            conn: tokio::sync::Mutex::new(None),
            open: Arc::default(),
        });
        DubboEndpoint { inner }
    }

    pub fn addr(&self) -> &str {
        &self.inner.addr
    }
}

impl tower::Service<DubboCall> for DubboEndpoint {
    type Response = DubboReply;
    type Error = TransportError;
    type Future = BoxFuture<'static, Result<DubboReply, TransportError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: DubboCall) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { inner.call(req).await })
    }
}

impl Inner {
    /// Sends one request and waits for its reply. The caller bounds the
    /// wait; dropping the future forgets the id.
    async fn call(&self, req: DubboCall) -> Result<DubboReply, TransportError> {
        let conn = self.connection().await?;
        let (tx, rx) = oneshot::channel();
        conn.pending
            .lock()
            .expect("pending lock")
            .insert(req.id, tx);
        let guard = Forget {
            conn: &conn,
            id: req.id,
        };
        let closed = || TransportError::Closed {
            addr: self.addr.clone(),
        };
        conn.tx.send(req.frame).map_err(|_| closed())?;
        let frame =
            rx.await
                .map_err(|_| closed())?
                .map_err(|message| TransportError::Protocol {
                    addr: self.addr.clone(),
                    message,
                })?;
        drop(guard);
        Ok(DubboReply {
            frame,
            addr: self.addr.clone(),
        })
    }

    async fn connection(&self) -> Result<Arc<Conn>, TransportError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref()
            && !c.tx.is_closed()
        {
            return Ok(c.clone());
        }
        let stream = super::tls::open(
            &self.addr,
            self.cfg.connect_timeout,
            self.cfg.tls.as_deref(),
        )
        .await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        let kill = Arc::new(tokio::sync::Notify::new());
        let conn = Arc::new(Conn {
            tx,
            pending: pending.clone(),
            kill: kill.clone(),
            probing: Default::default(),
            addr: self.addr.clone(),
        });
        let open = super::OpenConn::new(&self.open);
        let (cfg, addr) = (self.cfg.clone(), self.addr.clone());
        tokio::spawn(async move {
            let _open = open;
            match stream {
                Stream::Plain(tcp) => {
                    let (rd, wr) = tcp.into_split();
                    run_connection(rd, wr, rx, pending, kill, cfg, addr).await
                }
                Stream::Tls(tls) => {
                    let (rd, wr) = tokio::io::split(tls);
                    run_connection(rd, wr, rx, pending, kill, cfg, addr).await
                }
            }
        });
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

/// Removes a waiter whose caller gave up (timeout, cancelled request), and
/// has the connection probed: it may be dead.
struct Forget<'a> {
    conn: &'a Arc<Conn>,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        let waited = self
            .conn
            .pending
            .lock()
            .expect("pending lock")
            .remove(&self.id);
        if waited.is_some() && !self.conn.tx.is_closed() {
            self.conn.probe();
        }
    }
}

/// Drives one connection: writes queued frames (and heartbeats when idle),
/// reads frames and hands replies to their waiters. Ends on any I/O or
/// framing error, and when every sender of `rx` is gone (the endpoint was
/// dropped and no call is under way), failing every waiter.
async fn run_connection(
    mut rd: impl tokio::io::AsyncRead + Unpin,
    mut wr: impl tokio::io::AsyncWrite + Unpin,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    pending: Pending,
    kill: Arc<tokio::sync::Notify>,
    cfg: DubboConfig,
    addr: Arc<str>,
) {
    // Answers to the provider's heartbeats: a queue of the connection's
    // own, so that it holds no sender of `rx` and cannot keep itself alive.
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = async move {
        let mut batch = Vec::new();
        loop {
            batch.clear();
            tokio::select! {
                biased;
                answer = answers.recv() => match answer {
                    Some(a) => batch.extend_from_slice(&a),
                    None => return,
                },
                first = tokio::time::timeout(cfg.heartbeat, rx.recv()) => match first {
                    Ok(Some(f)) => batch.extend_from_slice(&f),
                    Ok(None) => return,
                    Err(_) => batch.extend_from_slice(&dubbo::heartbeat_request(next_request_id())),
                },
            }
            while batch.len() < 64 * 1024 {
                match rx.try_recv() {
                    Ok(f) => batch.extend_from_slice(&f),
                    Err(_) => break,
                }
            }
            if wr.write_all(&batch).await.is_err() {
                return;
            }
        }
    };
    let reader = async {
        let mut head = [0u8; HEADER_LEN];
        loop {
            if rd.read_exact(&mut head).await.is_err() {
                return;
            }
            let h = match Header::read(&head, cfg.max_body) {
                Ok(Some(h)) => h,
                Ok(None) => return,
                Err(e) => {
                    // The reply's waiter learns why (bytes 4..12 are its id).
                    let id = u64::from_be_bytes(head[4..12].try_into().expect("8 bytes"));
                    if let Some(w) = pending.lock().expect("pending lock").remove(&id) {
                        w.send(Err(e.to_string())).ok();
                    }
                    tracing::debug!(%addr, error = %e, "dropping the Dubbo connection");
                    return;
                }
            };
            let mut frame = Vec::with_capacity(HEADER_LEN + h.body_len as usize);
            frame.extend_from_slice(&head);
            frame.resize(HEADER_LEN + h.body_len as usize, 0);
            if rd.read_exact(&mut frame[HEADER_LEN..]).await.is_err() {
                return;
            }
            if h.is_request() {
                // The provider's heartbeat (or other event): answer it.
                if h.is_event()
                    && h.is_two_way()
                    && answers_tx.send(dubbo::heartbeat_response(h.id)).is_err()
                {
                    return;
                }
                continue;
            }
            let waiter = pending.lock().expect("pending lock").remove(&h.id);
            match waiter {
                Some(w) => {
                    w.send(Ok(frame)).ok();
                }
                None if h.is_event() => {} // the reply to our heartbeat
                None => tracing::debug!(%addr, id = h.id, "Dubbo reply nobody waits for"),
            }
        }
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
        () = kill.notified() => {}
    }
    // Waiters learn of the end when their senders drop.
    pending.lock().expect("pending lock").clear();
}

#[cfg(test)]
mod tests {
    use codecs::dubbo::{Invocation, Outcome, begin_request, decode_response, finish_request};
    use codecs::hessian2::{Limits, Value};
    use tokio::net::TcpListener;
    use tower::ServiceExt as _;

    use super::*;

    fn request(text: &str) -> DubboCall {
        let inv = Invocation {
            interface: "x.Echo",
            method: "echo",
            descriptor: "Ljava/lang/String;",
            ..Default::default()
        };
        let id = next_request_id();
        let mut out = Vec::new();
        let (start, mut w) = begin_request(&inv, &mut out);
        w.write_string(text);
        finish_request(&inv, id, start, w, &[]);
        DubboCall {
            id,
            frame: out.into(),
            trace_at: None,
        }
    }

    /// Reads one whole frame, as a provider does.
    async fn read_frame(tcp: &mut tokio::net::TcpStream) -> (Header, Vec<u8>) {
        let mut head = [0u8; HEADER_LEN];
        tcp.read_exact(&mut head).await.unwrap();
        let h = Header::read(&head, 1 << 20).unwrap().unwrap();
        let mut frame = head.to_vec();
        frame.resize(HEADER_LEN + h.body_len as usize, 0);
        tcp.read_exact(&mut frame[HEADER_LEN..]).await.unwrap();
        (h, frame)
    }

    fn endpoint(addr: &str, cfg: DubboConfig) -> DubboEndpoint {
        DubboEndpoint::shared(&EndpointCache::default(), addr, cfg)
    }

    /// A provider that first sends a heartbeat (and checks the answer),
    /// then answers two requests in reverse order.
    #[tokio::test]
    async fn replies_out_of_order_and_heartbeats() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            tcp.write_all(&dubbo::heartbeat_request(900)).await.unwrap();
            let mut frames = Vec::new();
            let mut heartbeat_answered = false;
            while frames.len() < 2 || !heartbeat_answered {
                let (h, frame) = read_frame(&mut tcp).await;
                if h.is_event() && !h.is_request() {
                    assert_eq!(h.id, 900);
                    heartbeat_answered = true;
                } else {
                    frames.push(codecs::dubbo::decode_request(&frame, Limits::default()).unwrap());
                }
            }
            for req in frames.iter().rev() {
                let text = req.args[0].as_str().unwrap().to_uppercase();
                let mut out = Vec::new();
                codecs::dubbo::encode_response(req.id, true, &mut out, |w| w.write_string(&text));
                tcp.write_all(&out).await.unwrap();
            }
            // Then the provider goes away.
        });
        let client = endpoint(&addr, DubboConfig::default());
        let (r1, r2) = tokio::join!(
            client.clone().oneshot(request("one")),
            client.clone().oneshot(request("two"))
        );
        for (r, want) in [(r1, "ONE"), (r2, "TWO")] {
            let resp = decode_response(&r.unwrap().frame, Limits::default()).unwrap();
            match resp.outcome {
                Outcome::Value(Value::String(s)) => assert_eq!(s, want),
                other => panic!("{other:?}"),
            }
        }
        server.await.unwrap();
        // The connection is gone: the next call reconnects and fails to connect, or sees it closed.
        let r = tokio::time::timeout(Duration::from_secs(5), client.oneshot(request("three")))
            .await
            .unwrap();
        assert!(r.is_err(), "{r:?}");
    }

    /// The client's own heartbeat goes out when idle.
    #[tokio::test]
    async fn idle_heartbeat() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let client = endpoint(
            &addr,
            DubboConfig {
                heartbeat: Duration::from_millis(50),
                ..Default::default()
            },
        );
        let call = tokio::spawn(async move {
            tokio::time::timeout(Duration::from_millis(500), client.oneshot(request("x"))).await
        });
        let (mut tcp, _) = listener.accept().await.unwrap();
        let (h, _) = read_frame(&mut tcp).await;
        assert!(!h.is_event());
        // No reply: the next frame is a heartbeat.
        let (h, _) = read_frame(&mut tcp).await;
        assert!(h.is_event() && h.is_request() && h.is_two_way(), "{h:?}");
        assert!(call.await.unwrap().is_err(), "the call times out");
    }

    /// Dropping the last holder of an endpoint closes its connection: a
    /// replaced or removed backend leaves no connection behind.
    #[tokio::test]
    async fn dropping_the_endpoint_closes_the_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let cache = EndpointCache::default();
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let (h, _) = read_frame(&mut tcp).await;
            let mut out = Vec::new();
            codecs::dubbo::encode_response(h.id, true, &mut out, |w| w.write_string("ok"));
            tcp.write_all(&out).await.unwrap();
            // Then the client must close: read until EOF.
            let mut rest = Vec::new();
            tcp.read_to_end(&mut rest).await.unwrap();
        });
        let ep = DubboEndpoint::shared(&cache, &addr, DubboConfig::default());
        let again = DubboEndpoint::shared(&cache, &addr, DubboConfig::default());
        ep.clone().oneshot(request("x")).await.unwrap();
        assert_eq!(cache.live(), 1, "one endpoint for both holders");
        drop(ep);
        drop(again);
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the connection is closed once the endpoint is dropped")
            .unwrap();
        assert_eq!(cache.live(), 0);
    }
}
