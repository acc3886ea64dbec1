//! gRPC over HTTP/2 (h2): a client with one multiplexed connection per
//! endpoint for unary and streaming calls (gzip-compressed responses
//! inflated), and a server loop for unary and server-streaming methods.
//! Both move whole protobuf messages; neither knows any IDL.
//! Spec: grpc/grpc `doc/PROTOCOL-HTTP2.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

use crate::protobuf::{grpc_frame, grpc_unframe};

/// Overhead budget for buffered small DATA frames per connection (bytes);
/// the per-stream flow-control window still bounds what a stream buffers.
const SMALL_FRAME_BUDGET: usize = 16 << 20;

/// gRPC status codes (grpc/grpc `doc/statuscodes.md`).
pub mod code {
    pub const OK: u32 = 0;
    pub const UNKNOWN: u32 = 2;
    pub const INVALID_ARGUMENT: u32 = 3;
    pub const DEADLINE_EXCEEDED: u32 = 4;
    pub const UNIMPLEMENTED: u32 = 12;
    pub const INTERNAL: u32 = 13;
    pub const UNAVAILABLE: u32 = 14;
}

/// Why a gRPC call failed before a status was read.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("HTTP/2 exchange with {addr} failed: {message}")]
    Transport { addr: String, message: String },
    #[error("bad gRPC reply from {addr}: {message}")]
    Protocol { addr: String, message: String },
}

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

struct Endpoint {
    addr: String,
    /// The live connections (cloned per call under a short lock).
    conns: std::sync::Mutex<Vec<Option<h2::client::SendRequest<Bytes>>>>,
    /// Held while connecting, so that one slot is dialled once.
    dialing: Mutex<()>,
}

pub struct GrpcClient {
    endpoints: Vec<Endpoint>,
    next: AtomicUsize,
    connect_timeout: Duration,
    max_message: usize,
    accept_gzip: bool,
}

impl GrpcClient {
    pub fn new(
        endpoints: impl IntoIterator<Item = String>,
        connect_timeout: Duration,
        max_message: usize,
    ) -> Self {
        GrpcClient {
            endpoints: endpoints
                .into_iter()
                .map(|addr| Endpoint {
                    addr,
                    conns: std::sync::Mutex::new(vec![None; CONNECTIONS_PER_ENDPOINT]),
                    dialing: Mutex::new(()),
                })
                .collect(),
            next: AtomicUsize::new(0),
            connect_timeout,
            max_message,
            accept_gzip: false,
        }
    }

    /// Advertises gzip in `grpc-accept-encoding`, so the server may
    /// compress replies. Off by default, as grpc-go clients do: some servers
    /// (Kitex) then pick gzip without a compressor for it and fail the call.
    /// Compressed replies are inflated either way.
    pub fn accept_gzip(mut self, yes: bool) -> Self {
        self.accept_gzip = yes;
        self
    }

    async fn sender(
        &self,
        ep: &Endpoint,
        slot: usize,
    ) -> Result<h2::client::SendRequest<Bytes>, GrpcError> {
        if let Some(s) = live(ep, slot).await {
            return Ok(s);
        }
        let _dialing = ep.dialing.lock().await;
        if let Some(s) = live(ep, slot).await {
            return Ok(s);
        }
        let err = |m: String| GrpcError::Connect {
            addr: ep.addr.clone(),
            message: m,
        };
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(ep.addr.as_str()))
            .await
            .map_err(|_| err("connect timed out".into()))?
            .map_err(|e| err(e.to_string()))?;
        tcp.set_nodelay(true).ok();
        let (send, conn) = h2::client::Builder::new()
            .max_frame_size(1 << 20)
            // Streams of many small messages (one DATA frame each) waiting
            // for a slow HTTP client must not exhaust h2's default budget
            // for buffered small frames, which closes the whole connection.
            .data_frame_budget(SMALL_FRAME_BUDGET)
            .handshake::<_, Bytes>(tcp)
            .await
            .map_err(|e| err(e.to_string()))?;
        let addr = ep.addr.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%addr, error = %e, "HTTP/2 connection closed");
            }
        });
        ep.conns.lock().expect("connections lock")[slot] = Some(send.clone());
        Ok(send)
    }

    /// Opens a call of `path` (`/package.Service/Method`): request
    /// messages go through the returned sender, the response comes from
    /// [`GrpcResponse::stream`]. Both halves may be used at the same time
    /// (bidirectional streaming).
    pub async fn open(
        &self,
        path: &str,
        timeout: Duration,
        headers: &HeaderMap,
    ) -> Result<(GrpcSender, GrpcResponse), GrpcError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let i = n % self.endpoints.len().max(1);
        let ep = self.endpoints.get(i).ok_or_else(|| GrpcError::Connect {
            addr: String::new(),
            message: "no endpoints".into(),
        })?;
        let slot = (n / self.endpoints.len().max(1)) % CONNECTIONS_PER_ENDPOINT;
        let send = self.sender(ep, slot).await?;
        let t = |e: h2::Error| GrpcError::Transport {
            addr: ep.addr.clone(),
            message: e.to_string(),
        };
        let mut send = send.ready().await.map_err(t)?;
        let mut req = Request::post(format!("http://{}{path}", ep.addr))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("grpc-timeout", format!("{}m", timeout.as_millis().max(1)))
            .body(())
            .map_err(|e| GrpcError::Protocol {
                addr: ep.addr.clone(),
                message: e.to_string(),
            })?;
        if self.accept_gzip {
            req.headers_mut()
                .insert("grpc-accept-encoding", HeaderValue::from_static("gzip"));
        }
        for (k, v) in headers {
            req.headers_mut().append(k, v.clone());
        }
        let (resp, stream) = send.send_request(req, false).map_err(t)?;
        Ok((
            GrpcSender {
                addr: ep.addr.clone(),
                stream,
            },
            GrpcResponse {
                addr: ep.addr.clone(),
                resp,
                max_message: self.max_message,
            },
        ))
    }

    /// A call with exactly one request message; returns the response stream.
    pub async fn server_stream(
        &self,
        path: &str,
        message: &[u8],
        timeout: Duration,
        headers: &HeaderMap,
    ) -> Result<GrpcStream, GrpcError> {
        let (mut send, resp) = self.open(path, timeout, headers).await?;
        send.send_last(message)?;
        resp.stream().await
    }

    /// A unary call of `path` (`/package.Service/Method`) with `message`.
    pub async fn unary(
        &self,
        path: &str,
        message: &[u8],
        timeout: Duration,
        headers: &HeaderMap,
    ) -> Result<GrpcReply, GrpcError> {
        let stream = self.server_stream(path, message, timeout, headers).await?;
        stream.single().await
    }
}

/// The request half of a call.
pub struct GrpcSender {
    addr: String,
    stream: h2::SendStream<Bytes>,
}

impl GrpcSender {
    fn transport(&self, e: h2::Error) -> GrpcError {
        GrpcError::Transport {
            addr: self.addr.clone(),
            message: e.to_string(),
        }
    }

    /// Sends one message, waiting for HTTP/2 flow-control window so a slow
    /// server holds the sender back instead of filling memory.
    pub async fn send(&mut self, message: &[u8]) -> Result<(), GrpcError> {
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
                    return Err(GrpcError::Transport {
                        addr: self.addr.clone(),
                        message: "the server closed the request stream".into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Sends one message and ends the request stream (h2 buffers it).
    pub fn send_last(&mut self, message: &[u8]) -> Result<(), GrpcError> {
        let mut framed = Vec::with_capacity(message.len() + 5);
        grpc_frame(message, &mut framed);
        self.stream
            .send_data(Bytes::from(framed), true)
            .map_err(|e| self.transport(e))
    }

    /// Ends the request stream: the server has every message.
    pub fn close(&mut self) -> Result<(), GrpcError> {
        self.stream
            .send_data(Bytes::new(), true)
            .map_err(|e| self.transport(e))
    }

    /// Abandons the call (RST_STREAM CANCEL): the server sees it cancelled.
    pub fn cancel(&mut self) {
        self.stream.send_reset(h2::Reason::CANCEL);
    }
}

/// The response half of a call, before its headers arrived.
pub struct GrpcResponse {
    addr: String,
    resp: h2::client::ResponseFuture,
    max_message: usize,
}

impl GrpcResponse {
    /// Waits for the response headers.
    pub async fn stream(self) -> Result<GrpcStream, GrpcError> {
        let resp = self.resp.await.map_err(|e| GrpcError::Transport {
            addr: self.addr.clone(),
            message: e.to_string(),
        })?;
        let (head, body) = resp.into_parts();
        if head.status != StatusCode::OK {
            return Err(GrpcError::Protocol {
                addr: self.addr,
                message: format!("HTTP status {}", head.status),
            });
        }
        let gzip = match head.headers.get("grpc-encoding").map(|v| v.as_bytes()) {
            None | Some(b"identity") => false,
            Some(b"gzip") => true,
            Some(other) => {
                return Err(GrpcError::Protocol {
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
            max_message: self.max_message,
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
    addr: String,
    /// Response headers (all of them for a trailers-only response).
    pub headers: HeaderMap,
    /// Trailers, once [`GrpcStream::finish`] read them.
    pub trailers: HeaderMap,
    body: h2::RecvStream,
    buf: Vec<u8>,
    max_message: usize,
    gzip: bool,
}

impl GrpcStream {
    fn protocol(&self, message: impl Into<String>) -> GrpcError {
        GrpcError::Protocol {
            addr: self.addr.clone(),
            message: message.into(),
        }
    }

    /// The next response message, `None` after the last one.
    pub async fn next(&mut self) -> Result<Option<Bytes>, GrpcError> {
        loop {
            let framed = grpc_unframe(&self.buf, self.max_message)
                .map_err(|e| self.protocol(e.to_string()))?;
            if let Some((range, consumed, compressed)) = framed {
                let msg = if !compressed {
                    Bytes::copy_from_slice(&self.buf[range])
                } else if self.gzip {
                    gunzip(&self.buf[range], self.max_message)
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
                    return Err(GrpcError::Transport {
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
    pub async fn finish(&mut self) -> Result<GrpcStatus, GrpcError> {
        let trailers = self
            .body
            .trailers()
            .await
            .map_err(|e| GrpcError::Transport {
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
            .map(|v| percent_decode(v.as_bytes()))
            .unwrap_or_default();
        let details = get("grpc-status-details-bin").and_then(|v| {
            use base64::Engine as _;
            // Binary metadata is base64, padded or not.
            let text = v.as_bytes().strip_suffix(b"==").unwrap_or(v.as_bytes());
            let text = text.strip_suffix(b"=").unwrap_or(text);
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(text)
                .ok()
                .map(Bytes::from)
        });
        Ok(GrpcStatus {
            code,
            message,
            details,
        })
    }

    /// Reads a unary response: exactly one message when the status is OK.
    pub async fn single(mut self) -> Result<GrpcReply, GrpcError> {
        let first = self.next().await?;
        let extra = match first {
            Some(_) => self.next().await?.is_some(),
            None => false,
        };
        let status = self.finish().await?;
        let body = match (status.code, first, extra) {
            (code::OK, Some(b), false) => b,
            (code::OK, None, _) => return Err(self.protocol("no response message")),
            (code::OK, Some(_), true) => {
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

/// Inflates one gzip-compressed message, refusing output over `max` bytes.
fn gunzip(data: &[u8], max: usize) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let mut out = Vec::with_capacity(data.len().saturating_mul(2).min(max));
    let mut dec = flate2::read::GzDecoder::new(data).take(max as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| format!("bad gzip message: {e}"))?;
    if out.len() > max {
        return Err(format!("gzip message inflates past {max} bytes"));
    }
    Ok(out)
}

/// The connection in `slot` if it is still usable.
async fn live(ep: &Endpoint, slot: usize) -> Option<h2::client::SendRequest<Bytes>> {
    let mut s = ep.conns.lock().expect("connections lock")[slot].clone()?;
    futures_ready(&mut s).await.then_some(s)
}

async fn futures_ready(s: &mut h2::client::SendRequest<Bytes>) -> bool {
    std::future::poll_fn(|cx| match s.poll_ready(cx) {
        std::task::Poll::Ready(r) => std::task::Poll::Ready(r.is_ok()),
        std::task::Poll::Pending => std::task::Poll::Ready(true),
    })
    .await
}

fn percent_decode(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Handles one call with a single request message: gets the path and the
/// request, returns the response messages (one for unary methods, any
/// number for server-streaming ones) or a status code and message.
pub type GrpcHandler =
    Arc<dyn Fn(&str, &[u8]) -> Result<Vec<Vec<u8>>, (u32, String)> + Send + Sync>;

/// Serves unary gRPC calls on `listener` until it fails.
pub async fn serve_grpc(listener: TcpListener, handler: GrpcHandler, max_message: usize) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tcp.set_nodelay(true).ok();
        let handler = handler.clone();
        tokio::spawn(async move {
            let Ok(mut conn) = h2::server::handshake(tcp).await else {
                return;
            };
            while let Some(Ok((req, respond))) = conn.accept().await {
                let handler = handler.clone();
                tokio::spawn(answer(req, respond, handler, max_message));
            }
        });
    }
}

async fn answer(
    req: Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    handler: GrpcHandler,
    max_message: usize,
) {
    let path = req.uri().path().to_string();
    let mut body = req.into_body();
    let mut data = Vec::new();
    while let Some(Ok(chunk)) = body.data().await {
        body.flow_control().release_capacity(chunk.len()).ok();
        data.extend_from_slice(&chunk);
    }
    let result = match grpc_unframe(&data, max_message) {
        Ok(Some((range, _, false))) => handler(&path, &data[range]),
        Ok(Some((_, _, true))) => Err((code::UNIMPLEMENTED, "compression is not supported".into())),
        Ok(None) => Err((code::INVALID_ARGUMENT, "truncated request message".into())),
        Err(e) => Err((code::INVALID_ARGUMENT, e.to_string())),
    };
    let head = Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .expect("response head");
    let Ok(mut stream) = respond.send_response(head, false) else {
        return;
    };
    let mut trailers = HeaderMap::new();
    match result {
        Ok(msgs) => {
            for msg in msgs {
                let mut out = Vec::with_capacity(msg.len() + 5);
                grpc_frame(&msg, &mut out);
                if stream.send_data(Bytes::from(out), false).is_err() {
                    return;
                }
            }
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
        }
        Err((code, message)) => {
            trailers.insert("grpc-status", HeaderValue::from(code));
            if let Ok(v) = HeaderValue::from_str(
                &message.replace(|c: char| !c.is_ascii() || c.is_ascii_control(), "?"),
            ) {
                trailers.insert("grpc-message", v);
            }
        }
    }
    stream.send_trailers(trailers).ok();
}
