//! gRPC over HTTP/2 (h2): a client with one multiplexed connection per
//! endpoint for unary calls, and a server loop for unary methods. Both move
//! whole protobuf messages; neither knows any IDL.
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
    pub status: u32,
    pub message: String,
    pub body: Bytes,
    /// Response headers and trailers.
    pub metadata: HeaderMap,
}

struct Endpoint {
    addr: String,
    conn: Mutex<Option<h2::client::SendRequest<Bytes>>>,
}

pub struct GrpcClient {
    endpoints: Vec<Endpoint>,
    next: AtomicUsize,
    connect_timeout: Duration,
    max_message: usize,
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
                    conn: Mutex::new(None),
                })
                .collect(),
            next: AtomicUsize::new(0),
            connect_timeout,
            max_message,
        }
    }

    async fn sender(&self, ep: &Endpoint) -> Result<h2::client::SendRequest<Bytes>, GrpcError> {
        let mut guard = ep.conn.lock().await;
        if let Some(s) = guard.as_ref() {
            let mut s = s.clone();
            if futures_ready(&mut s).await {
                return Ok(s);
            }
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
        *guard = Some(send.clone());
        Ok(send)
    }

    /// Starts a call of `path` with one request `message`; returns the
    /// endpoint address, the response head and its body stream.
    async fn start(
        &self,
        path: &str,
        message: &[u8],
        timeout: Duration,
        headers: &HeaderMap,
    ) -> Result<(String, http::response::Parts, h2::RecvStream), GrpcError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len().max(1);
        let ep = self.endpoints.get(i).ok_or_else(|| GrpcError::Connect {
            addr: String::new(),
            message: "no endpoints".into(),
        })?;
        let send = self.sender(ep).await?;
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
        for (k, v) in headers {
            req.headers_mut().append(k, v.clone());
        }
        let (resp, mut stream) = send.send_request(req, false).map_err(t)?;
        let mut framed = Vec::with_capacity(message.len() + 5);
        grpc_frame(message, &mut framed);
        stream.send_data(Bytes::from(framed), true).map_err(t)?;
        let resp = resp.await.map_err(t)?;
        let (head, body) = resp.into_parts();
        if head.status != StatusCode::OK {
            return Err(GrpcError::Protocol {
                addr: ep.addr.clone(),
                message: format!("HTTP status {}", head.status),
            });
        }
        Ok((ep.addr.clone(), head, body))
    }

    /// A server-streaming call: the response messages arrive through the returned stream.
    pub async fn server_stream(
        &self,
        path: &str,
        message: &[u8],
        timeout: Duration,
        headers: &HeaderMap,
    ) -> Result<GrpcStream, GrpcError> {
        let (addr, head, body) = self.start(path, message, timeout, headers).await?;
        Ok(GrpcStream {
            addr,
            headers: head.headers,
            body,
            buf: Vec::new(),
            max_message: self.max_message,
        })
    }

    /// A unary call of `path` (`/package.Service/Method`) with `message`.
    pub async fn unary(
        &self,
        path: &str,
        message: &[u8],
        timeout: Duration,
        headers: &HeaderMap,
    ) -> Result<GrpcReply, GrpcError> {
        let mut stream = self.server_stream(path, message, timeout, headers).await?;
        let first = stream.next().await?;
        let extra = match first {
            Some(_) => stream.next().await?.is_some(),
            None => false,
        };
        let (status, message) = stream.finish().await?;
        let proto = |m: &str| GrpcError::Protocol {
            addr: stream.addr.clone(),
            message: m.to_string(),
        };
        let body = match (status, first, extra) {
            (code::OK, Some(b), false) => b,
            (code::OK, None, _) => return Err(proto("no response message")),
            (code::OK, Some(_), true) => return Err(proto("more than one response message")),
            _ => Bytes::new(),
        };
        Ok(GrpcReply {
            status,
            message,
            body,
            metadata: std::mem::take(&mut stream.headers),
        })
    }
}

/// The response of a call: messages, then a status in the trailers.
pub struct GrpcStream {
    addr: String,
    /// Response headers, and the trailers once [`GrpcStream::finish`] read them.
    pub headers: HeaderMap,
    body: h2::RecvStream,
    buf: Vec<u8>,
    max_message: usize,
}

impl GrpcStream {
    /// The next response message, `None` after the last one.
    pub async fn next(&mut self) -> Result<Option<Bytes>, GrpcError> {
        loop {
            let framed =
                grpc_unframe(&self.buf, self.max_message).map_err(|e| GrpcError::Protocol {
                    addr: self.addr.clone(),
                    message: e.to_string(),
                })?;
            if let Some((range, consumed, compressed)) = framed {
                if compressed {
                    return Err(GrpcError::Protocol {
                        addr: self.addr.clone(),
                        message: "compressed messages are not supported".into(),
                    });
                }
                let msg = Bytes::copy_from_slice(&self.buf[range]);
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
                None => {
                    return Err(GrpcError::Protocol {
                        addr: self.addr.clone(),
                        message: "stream cut in the middle of a message".into(),
                    });
                }
            }
        }
    }

    /// The call's status and message (from the trailers, or a trailers-only response).
    pub async fn finish(&mut self) -> Result<(u32, String), GrpcError> {
        let trailers = self
            .body
            .trailers()
            .await
            .map_err(|e| GrpcError::Transport {
                addr: self.addr.clone(),
                message: e.to_string(),
            })?
            .unwrap_or_default();
        self.headers.extend(trailers);
        let status: u32 = self
            .headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .ok_or_else(|| GrpcError::Protocol {
                addr: self.addr.clone(),
                message: "no grpc-status".into(),
            })?;
        let message = self
            .headers
            .get("grpc-message")
            .map(|v| percent_decode(v.as_bytes()))
            .unwrap_or_default();
        Ok((status, message))
    }
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
