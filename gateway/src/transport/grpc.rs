//! gRPC over HTTP/2 (h2): one endpoint's connections (two, so that one
//! connection task does not frame every call), each call a stream: unary,
//! server streaming, or opened for client and bidirectional streaming.
//! gzip-compressed replies are inflated. Moves whole protobuf messages and
//! knows no IDL. Spec: grpc/grpc `doc/PROTOCOL-HTTP2.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use codecs::protobuf::{
    grpc_binary_metadata, grpc_frame, grpc_gunzip, grpc_message_text, grpc_unframe,
};
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use tokio::sync::Mutex;

use super::{EndpointCache, OpenConn, TransportError};

/// Overhead budget for buffered small DATA frames per connection (bytes);
/// the per-stream flow-control window still bounds what a stream buffers.
const SMALL_FRAME_BUDGET: usize = 16 << 20;

/// The OK status code.
const OK: u32 = 0;

/// How long a connection suspected dead (a call on it got no reply in
/// time) has to answer a PING before it is closed and dialled again. Pings
/// are sent only then, never on a timer: grpc-go servers answer frequent
/// pings with GOAWAY (`too_many_pings`).
const PING_TIMEOUT: Duration = Duration::from_millis(500);

/// The outcome of a unary call: a status and, when OK, the response message.
#[derive(Debug)]
pub struct GrpcReply {
    pub status: GrpcStatus,
    pub body: Bytes,
    /// Response headers and trailers.
    pub headers: HeaderMap,
    pub trailers: HeaderMap,
}

/// HTTP/2 connections per endpoint: streams are spread over them, so one
/// connection's task is not the only one framing every call.
pub const CONNECTIONS_PER_ENDPOINT: usize = 2;

/// Settings of one endpoint's connections.
#[derive(Debug, Clone)]
pub struct GrpcConfig {
    pub connect_timeout: Duration,
    /// Largest response message (bytes), after inflating.
    pub max_message: usize,
    /// A gzip message may inflate to at most this many times its size.
    pub max_inflate_ratio: Option<usize>,
    /// Most response messages in one stream.
    pub max_stream_messages: Option<usize>,
    /// Advertise gzip in `grpc-accept-encoding`, so the server may compress
    /// replies. Off by default, as grpc-go clients do: some servers (Kitex)
    /// then pick gzip without a compressor for it and fail the call.
    /// Compressed replies are inflated either way.
    pub accept_gzip: bool,
    /// TLS to the endpoint (with ALPN `h2`), when the backend has `tls` settings.
    pub tls: Option<Arc<super::tls::TlsClient>>,
}

struct Inner {
    addr: Arc<str>,
    cfg: GrpcConfig,
    /// The live connections (cloned per call under a short lock).
    conns: std::sync::Mutex<Vec<Option<Conn>>>,
    /// Held while connecting, so that one slot is dialled once.
    dialing: Mutex<()>,
    next: AtomicUsize,
    open: Arc<AtomicUsize>,
}

/// One HTTP/2 connection: its request handle and its liveness probe.
#[derive(Clone)]
struct Conn {
    send: h2::client::SendRequest<Bytes>,
    probe: Arc<Probe>,
}

/// Checks that a connection still answers, and closes it if not.
struct Probe {
    addr: Arc<str>,
    ping: Mutex<Option<h2::PingPong>>,
    /// The task that drives the connection; aborting it closes the
    /// connection, failing its streams and its handles' readiness.
    task: tokio::task::AbortHandle,
}

impl Probe {
    /// One PING at a time; no PONG within [`PING_TIMEOUT`] closes the
    /// connection (its peer is gone without a FIN, or it is wedged).
    fn check(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            let Ok(mut ping) = me.ping.try_lock() else {
                return;
            };
            let Some(pp) = ping.as_mut() else { return };
            let answered = tokio::time::timeout(PING_TIMEOUT, pp.ping(h2::Ping::opaque())).await;
            if !matches!(answered, Ok(Ok(_))) {
                tracing::warn!(addr = %me.addr, "HTTP/2 connection does not answer a PING; closing it");
                me.task.abort();
            }
        });
    }
}

/// Armed while a call waits for its reply: dropped armed (the call's time
/// ran out), it has the connection probed.
struct Unanswered(Option<Arc<Probe>>);

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.check();
        }
    }
}

/// One gRPC endpoint.
#[derive(Clone)]
pub struct GrpcEndpoint {
    inner: Arc<Inner>,
}

/// One call: the method's path (`/package.Service/Method`), the request
/// metadata, the deadline sent as `grpc-timeout`, and what to do.
#[derive(Debug, Clone)]
pub struct GrpcCall {
    pub path: Arc<str>,
    pub metadata: HeaderMap,
    pub timeout: Duration,
    pub kind: GrpcCallKind,
}

impl crate::observe::trace::Carry for GrpcCall {
    fn carry(&mut self, traceparent: &[u8; crate::observe::trace::TRACEPARENT_LEN]) {
        if let Ok(v) = http::HeaderValue::from_bytes(traceparent) {
            self.metadata.insert("traceparent", v);
        }
    }
}

#[derive(Debug, Clone)]
pub enum GrpcCallKind {
    /// One request message, one reply.
    Unary(Bytes),
    /// One request message, a stream of replies.
    ServerStream(Bytes),
    /// Opened: request messages go through a [`GrpcSender`].
    Open,
}

/// What a call gives back, by its kind.
pub enum GrpcOutcome {
    Reply(GrpcReply),
    Stream(Box<GrpcStream>),
    Open(GrpcSender, GrpcResponse),
}

impl super::Connections for GrpcEndpoint {
    fn open_connections(&self) -> usize {
        self.inner.open.load(Ordering::Relaxed)
    }
}

impl GrpcEndpoint {
    /// The endpoint `addr` with these settings, shared through `cache`.
    pub fn shared(cache: &EndpointCache, addr: &str, cfg: GrpcConfig) -> GrpcEndpoint {
        let key = format!(
            "grpc|{addr}|{}|{:?}|{:?}|{}|{}|{}",
            cfg.max_message,
            cfg.max_inflate_ratio,
            cfg.max_stream_messages,
            cfg.accept_gzip,
            cfg.connect_timeout.as_millis(),
            cfg.tls.as_ref().map_or("", |t| t.key())
        );
        let inner = cache.get(key, || Inner {
            addr: addr.into(),
            cfg,
            conns: std::sync::Mutex::new(vec![None; CONNECTIONS_PER_ENDPOINT]),
            dialing: Mutex::new(()),
            next: AtomicUsize::new(0),
            open: Arc::default(),
        });
        GrpcEndpoint { inner }
    }

    pub fn addr(&self) -> &str {
        &self.inner.addr
    }
}

impl tower::Service<GrpcCall> for GrpcEndpoint {
    type Response = GrpcOutcome;
    type Error = TransportError;
    type Future = BoxFuture<'static, Result<GrpcOutcome, TransportError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: GrpcCall) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (mut send, resp, probe) = inner.open(&call).await?;
            let mut waiting = Unanswered(Some(probe));
            let outcome = match call.kind {
                GrpcCallKind::Open => Ok(GrpcOutcome::Open(send, resp)),
                GrpcCallKind::ServerStream(m) => {
                    async {
                        send.send_last(&m)?;
                        Ok(GrpcOutcome::Stream(Box::new(resp.stream().await?)))
                    }
                    .await
                }
                GrpcCallKind::Unary(m) => {
                    async {
                        send.send_last(&m)?;
                        Ok(GrpcOutcome::Reply(resp.stream().await?.single().await?))
                    }
                    .await
                }
            };
            // An answer, or a failure the connection itself reported.
            waiting.0 = None;
            outcome
        })
    }
}

impl Inner {
    fn transport(&self, e: impl std::fmt::Display) -> TransportError {
        TransportError::Io {
            addr: self.addr.clone(),
            message: e.to_string(),
        }
    }

    async fn sender(&self, slot: usize) -> Result<Conn, TransportError> {
        if let Some(s) = self.live(slot).await {
            return Ok(s);
        }
        let _dialing = self.dialing.lock().await;
        if let Some(s) = self.live(slot).await {
            return Ok(s);
        }
        let tcp = super::tls::open(
            &self.addr,
            self.cfg.connect_timeout,
            self.cfg.tls.as_deref(),
        )
        .await?;
        let (send, mut conn) = h2::client::Builder::new()
            .max_frame_size(1 << 20)
            // Streams of many small messages (one DATA frame each) waiting
            // for a slow HTTP client must not exhaust h2's default budget
            // for buffered small frames, which closes the whole connection.
            .data_frame_budget(SMALL_FRAME_BUDGET)
            .handshake::<_, Bytes>(tcp)
            .await
            .map_err(|e| TransportError::Connect {
                addr: self.addr.clone(),
                message: format!("HTTP/2 handshake: {e}"),
            })?;
        let ping = conn.ping_pong();
        let addr = self.addr.clone();
        let open = OpenConn::new(&self.open);
        let task = tokio::spawn(async move {
            let _open = open;
            if let Err(e) = conn.await {
                tracing::debug!(%addr, error = %e, "HTTP/2 connection closed");
            }
        });
        let c = Conn {
            send,
            probe: Arc::new(Probe {
                addr: self.addr.clone(),
                ping: Mutex::new(ping),
                task: task.abort_handle(),
            }),
        };
        self.conns.lock().expect("connections lock")[slot] = Some(c.clone());
        Ok(c)
    }

    /// The connection in `slot` if it is still usable.
    async fn live(&self, slot: usize) -> Option<Conn> {
        let mut c = self.conns.lock().expect("connections lock")[slot].clone()?;
        let s = &mut c.send;
        let usable = std::future::poll_fn(|cx| match s.poll_ready(cx) {
            Poll::Ready(r) => Poll::Ready(r.is_ok()),
            Poll::Pending => Poll::Ready(true),
        })
        .await;
        usable.then_some(c)
    }

    /// Opens the call's stream: request messages go through the returned
    /// sender, the response comes from [`GrpcResponse::stream`]. Both halves
    /// may be used at the same time (bidirectional streaming).
    async fn open(
        &self,
        call: &GrpcCall,
    ) -> Result<(GrpcSender, GrpcResponse, Arc<Probe>), TransportError> {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % CONNECTIONS_PER_ENDPOINT;
        let Conn { send, probe } = self.sender(slot).await?;
        let mut send = send.ready().await.map_err(|e| self.transport(e))?;
        let mut req = Request::post(format!("http://{}{}", self.addr, call.path))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header(
                "grpc-timeout",
                format!("{}m", call.timeout.as_millis().max(1)),
            )
            .body(())
            .map_err(|e| TransportError::Protocol {
                addr: self.addr.clone(),
                message: e.to_string(),
            })?;
        if self.cfg.accept_gzip {
            req.headers_mut()
                .insert("grpc-accept-encoding", HeaderValue::from_static("gzip"));
        }
        for (k, v) in &call.metadata {
            req.headers_mut().append(k, v.clone());
        }
        let (resp, stream) = send
            .send_request(req, false)
            .map_err(|e| self.transport(e))?;
        Ok((
            GrpcSender {
                addr: self.addr.clone(),
                stream,
            },
            GrpcResponse {
                addr: self.addr.clone(),
                resp,
                bounds: Bounds::of(&self.cfg),
            },
            probe,
        ))
    }
}

/// The request half of a call.
pub struct GrpcSender {
    addr: Arc<str>,
    stream: h2::SendStream<Bytes>,
}

impl GrpcSender {
    fn transport(&self, e: h2::Error) -> TransportError {
        TransportError::Io {
            addr: self.addr.clone(),
            message: e.to_string(),
        }
    }

    /// Sends one message, waiting for HTTP/2 flow-control window so a slow
    /// server holds the sender back instead of filling memory.
    pub async fn send(&mut self, message: &[u8]) -> Result<(), TransportError> {
        let mut framed = Vec::with_capacity(message.len() + 5);
        grpc_frame(message, &mut framed);
        let mut data = Bytes::from(framed);
        while !data.is_empty() {
            self.stream.reserve_capacity(data.len());
            let granted = std::future::poll_fn(|cx| self.stream.poll_capacity(cx)).await;
            match granted {
                Some(Ok(0)) => continue,
                Some(Ok(n)) => {
                    let chunk = data.split_to(n.min(data.len()));
                    self.stream
                        .send_data(chunk, false)
                        .map_err(|e| self.transport(e))?;
                }
                Some(Err(e)) => return Err(self.transport(e)),
                None => {
                    return Err(TransportError::Io {
                        addr: self.addr.clone(),
                        message: "the server closed the request stream".into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Sends one message and ends the request stream (h2 buffers it).
    pub fn send_last(&mut self, message: &[u8]) -> Result<(), TransportError> {
        let mut framed = Vec::with_capacity(message.len() + 5);
        grpc_frame(message, &mut framed);
        self.stream
            .send_data(Bytes::from(framed), true)
            .map_err(|e| self.transport(e))
    }

    /// Ends the request stream: the server has every message.
    pub fn close(&mut self) -> Result<(), TransportError> {
        self.stream
            .send_data(Bytes::new(), true)
            .map_err(|e| self.transport(e))
    }

    /// Abandons the call (RST_STREAM CANCEL): the server sees it cancelled.
    pub fn cancel(&mut self) {
        self.stream.send_reset(h2::Reason::CANCEL);
    }
}

/// What a response may hold.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    max_message: usize,
    max_inflate_ratio: Option<usize>,
    max_messages: Option<usize>,
}

impl Bounds {
    fn of(cfg: &GrpcConfig) -> Bounds {
        Bounds {
            max_message: cfg.max_message,
            max_inflate_ratio: cfg.max_inflate_ratio,
            max_messages: cfg.max_stream_messages,
        }
    }

    /// Inflates a gzip message within the size and ratio bounds.
    fn inflate(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        let by_ratio = self
            .max_inflate_ratio
            .map(|r| data.len().saturating_mul(r))
            .filter(|&cap| cap < self.max_message);
        match grpc_gunzip(data, by_ratio.unwrap_or(self.max_message)) {
            Err(codecs::CodecError::TooLarge { .. }) if by_ratio.is_some() => Err(format!(
                "a gzip message of {} bytes inflates past {} times its size (max_inflate_ratio)",
                data.len(),
                self.max_inflate_ratio.unwrap_or_default()
            )),
            r => r.map_err(|e| e.to_string()),
        }
    }
}

/// The response half of a call, before its headers arrived.
pub struct GrpcResponse {
    addr: Arc<str>,
    resp: h2::client::ResponseFuture,
    bounds: Bounds,
}

impl GrpcResponse {
    /// Waits for the response headers.
    pub async fn stream(self) -> Result<GrpcStream, TransportError> {
        let resp = self.resp.await.map_err(|e| TransportError::Io {
            addr: self.addr.clone(),
            message: e.to_string(),
        })?;
        let (head, body) = resp.into_parts();
        if head.status != StatusCode::OK {
            return Err(TransportError::Protocol {
                addr: self.addr,
                message: format!("HTTP status {}", head.status),
            });
        }
        let gzip = match head.headers.get("grpc-encoding").map(|v| v.as_bytes()) {
            None | Some(b"identity") => false,
            Some(b"gzip") => true,
            Some(other) => {
                return Err(TransportError::Protocol {
                    addr: self.addr,
                    message: format!(
                        "unsupported grpc-encoding `{}`",
                        String::from_utf8_lossy(other)
                    ),
                });
            }
        };
        Ok(GrpcStream {
            addr: self.addr,
            headers: head.headers,
            trailers: HeaderMap::new(),
            body,
            buf: Vec::new(),
            bounds: self.bounds,
            received: 0,
            gzip,
        })
    }
}

/// The status a call ended with.
#[derive(Debug, Clone, Default)]
pub struct GrpcStatus {
    pub code: u32,
    pub message: String,
    /// `grpc-status-details-bin`: a serialized `google.rpc.Status`.
    pub details: Option<Bytes>,
}

/// The response of a call: messages, then a status in the trailers.
pub struct GrpcStream {
    addr: Arc<str>,
    /// Response headers (all of them for a trailers-only response).
    pub headers: HeaderMap,
    /// Trailers, once [`GrpcStream::finish`] read them.
    pub trailers: HeaderMap,
    body: h2::RecvStream,
    buf: Vec<u8>,
    bounds: Bounds,
    /// Messages read so far.
    received: usize,
    gzip: bool,
}

impl GrpcStream {
    fn protocol(&self, message: impl Into<String>) -> TransportError {
        TransportError::Protocol {
            addr: self.addr.clone(),
            message: message.into(),
        }
    }

    /// The next response message, `None` after the last one.
    pub async fn next(&mut self) -> Result<Option<Bytes>, TransportError> {
        loop {
            let framed = grpc_unframe(&self.buf, self.bounds.max_message)
                .map_err(|e| self.protocol(e.to_string()))?;
            if let Some((range, consumed, compressed)) = framed {
                self.received += 1;
                if let Some(max) = self.bounds.max_messages
                    && self.received > max
                {
                    return Err(self.protocol(format!(
                        "more than {max} messages in one stream (max_stream_messages)"
                    )));
                }
                let msg = if !compressed {
                    Bytes::copy_from_slice(&self.buf[range])
                } else if self.gzip {
                    self.bounds
                        .inflate(&self.buf[range])
                        .map(Bytes::from)
                        .map_err(|e| self.protocol(e))?
                } else {
                    return Err(self.protocol("compressed message without a grpc-encoding"));
                };
                self.buf.drain(..consumed);
                return Ok(Some(msg));
            }
            match self.body.data().await {
                Some(Ok(chunk)) => {
                    self.body.flow_control().release_capacity(chunk.len()).ok();
                    self.buf.extend_from_slice(&chunk);
                }
                Some(Err(e)) => {
                    return Err(TransportError::Io {
                        addr: self.addr.clone(),
                        message: e.to_string(),
                    });
                }
                None if self.buf.is_empty() => return Ok(None),
                None => return Err(self.protocol("stream cut in the middle of a message")),
            }
        }
    }

    /// The call's status (from the trailers, or a trailers-only response).
    pub async fn finish(&mut self) -> Result<GrpcStatus, TransportError> {
        let trailers = self
            .body
            .trailers()
            .await
            .map_err(|e| TransportError::Io {
                addr: self.addr.clone(),
                message: e.to_string(),
            })?
            .unwrap_or_default();
        self.trailers = trailers;
        let get = |name: &str| self.trailers.get(name).or_else(|| self.headers.get(name));
        let code: u32 = get("grpc-status")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .ok_or_else(|| self.protocol("no grpc-status"))?;
        let message = get("grpc-message")
            .map(|v| grpc_message_text(v.as_bytes()))
            .unwrap_or_default();
        let details = get("grpc-status-details-bin")
            .and_then(|v| grpc_binary_metadata(v.as_bytes()))
            .map(Bytes::from);
        Ok(GrpcStatus {
            code,
            message,
            details,
        })
    }

    /// Reads a unary response: exactly one message when the status is OK.
    pub async fn single(mut self) -> Result<GrpcReply, TransportError> {
        let first = self.next().await?;
        let extra = match first {
            Some(_) => self.next().await?.is_some(),
            None => false,
        };
        let status = self.finish().await?;
        let body = match (status.code, first, extra) {
            (OK, Some(b), false) => b,
            (OK, None, _) => return Err(self.protocol("no response message")),
            (OK, Some(_), true) => {
                return Err(self.protocol("more than one response message"));
            }
            _ => Bytes::new(),
        };
        Ok(GrpcReply {
            status,
            body,
            headers: self.headers,
            trailers: self.trailers,
        })
    }
}
