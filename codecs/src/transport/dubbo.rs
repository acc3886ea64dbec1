//! Dubbo connections: a client that multiplexes many requests over one TCP
//! connection per endpoint, matching replies by request id, answering the
//! provider's heartbeats and sending its own when idle; and a server loop
//! that answers requests concurrently on each connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::TransportError;
use crate::dubbo::{self, HEADER_LEN, Header};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>>;

/// One live connection.
struct Conn {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    pending: Pending,
}

impl Conn {
    fn is_open(&self) -> bool {
        !self.tx.is_closed()
    }
}

struct Endpoint {
    addr: Arc<str>,
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
}

/// Settings of a [`DubboClient`].
#[derive(Debug, Clone)]
pub struct DubboClientConfig {
    pub connect_timeout: Duration,
    /// Largest reply body accepted.
    pub max_body: usize,
    /// A heartbeat goes out after this long without traffic.
    pub heartbeat: Duration,
}

impl Default for DubboClientConfig {
    fn default() -> Self {
        DubboClientConfig {
            connect_timeout: Duration::from_secs(1),
            max_body: dubbo::DEFAULT_MAX_BODY,
            heartbeat: Duration::from_secs(60),
        }
    }
}

/// A Dubbo client over a set of endpoints (round robin).
pub struct DubboClient {
    endpoints: Vec<Endpoint>,
    next: AtomicUsize,
    ids: Arc<AtomicU64>,
    cfg: DubboClientConfig,
}

/// A reply frame and the endpoint that sent it.
#[derive(Debug)]
pub struct DubboReply {
    pub frame: Vec<u8>,
    pub addr: Arc<str>,
}

impl DubboClient {
    pub fn new(endpoints: impl IntoIterator<Item = String>, cfg: DubboClientConfig) -> Self {
        DubboClient {
            endpoints: endpoints
                .into_iter()
                .map(|a| Endpoint {
                    addr: a.into(),
                    conn: tokio::sync::Mutex::new(None),
                })
                .collect(),
            next: AtomicUsize::new(0),
            ids: Arc::new(AtomicU64::new(1)),
            cfg,
        }
    }

    /// A fresh request id (unique per client).
    pub fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends request frame `frame` (whose id is `id`) and waits for its
    /// reply. The caller bounds the wait (dropping the future forgets the id).
    pub async fn call(&self, id: u64, frame: Vec<u8>) -> Result<DubboReply, TransportError> {
        if self.endpoints.is_empty() {
            return Err(TransportError::NoEndpoints);
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len();
        let ep = &self.endpoints[i];
        let conn = self.connection(ep).await?;
        let (tx, rx) = oneshot::channel();
        conn.pending.lock().expect("pending lock").insert(id, tx);
        let guard = Forget {
            pending: &conn.pending,
            id,
        };
        if conn.tx.send(frame).is_err() {
            return Err(TransportError::Closed {
                addr: ep.addr.to_string(),
            });
        }
        let frame = rx.await.map_err(|_| TransportError::Closed {
            addr: ep.addr.to_string(),
        })?;
        drop(guard);
        Ok(DubboReply {
            frame,
            addr: ep.addr.clone(),
        })
    }

    async fn connection(&self, ep: &Endpoint) -> Result<Arc<Conn>, TransportError> {
        let mut slot = ep.conn.lock().await;
        if let Some(c) = slot.as_ref()
            && c.is_open()
        {
            return Ok(c.clone());
        }
        let addr = ep.addr.to_string();
        let tcp = tokio::time::timeout(self.cfg.connect_timeout, TcpStream::connect(&addr))
            .await
            .map_err(|_| TransportError::Connect {
                addr: addr.clone(),
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
            })?
            .map_err(|source| TransportError::Connect {
                addr: addr.clone(),
                source,
            })?;
        tcp.set_nodelay(true).ok();
        let (tx, rx) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        let conn = Arc::new(Conn {
            tx: tx.clone(),
            pending: pending.clone(),
        });
        tokio::spawn(run_connection(
            tcp,
            rx,
            tx,
            pending,
            self.cfg.clone(),
            self.ids.clone(),
            ep.addr.clone(),
        ));
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

/// Removes a waiter whose caller gave up (timeout, cancelled request).
struct Forget<'a> {
    pending: &'a Pending,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.pending.lock().expect("pending lock").remove(&self.id);
    }
}

/// Drives one connection: writes queued frames (and heartbeats when idle),
/// reads frames and hands replies to their waiters. Ends on any I/O or
/// framing error, failing every waiter (their senders drop).
async fn run_connection(
    tcp: TcpStream,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    pending: Pending,
    cfg: DubboClientConfig,
    ids: Arc<AtomicU64>,
    addr: Arc<str>,
) {
    let (mut rd, mut wr) = tcp.into_split();
    let writer = async move {
        let mut batch = Vec::new();
        loop {
            let first = match tokio::time::timeout(cfg.heartbeat, rx.recv()).await {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(_) => dubbo::heartbeat_request(ids.fetch_add(1, Ordering::Relaxed)),
            };
            batch.clear();
            batch.extend_from_slice(&first);
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
        let mut buf = [0u8; HEADER_LEN];
        loop {
            if rd.read_exact(&mut buf[..HEADER_LEN]).await.is_err() {
                return;
            }
            let h = match Header::read(&buf[..HEADER_LEN], cfg.max_body) {
                Ok(Some(h)) => h,
                Ok(None) => return,
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "dropping the Dubbo connection");
                    return;
                }
            };
            let mut frame = Vec::with_capacity(HEADER_LEN + h.body_len as usize);
            frame.extend_from_slice(&buf[..HEADER_LEN]);
            frame.resize(HEADER_LEN + h.body_len as usize, 0);
            if rd.read_exact(&mut frame[HEADER_LEN..]).await.is_err() {
                return;
            }
            if h.is_request() {
                // The provider's heartbeat (or other event): answer it.
                if h.is_event()
                    && h.is_two_way()
                    && tx.send(dubbo::heartbeat_response(h.id)).is_err()
                {
                    return;
                }
                continue;
            }
            let waiter = pending.lock().expect("pending lock").remove(&h.id);
            match waiter {
                Some(w) => {
                    w.send(frame).ok();
                }
                None if h.is_event() => {} // the reply to our heartbeat
                None => tracing::debug!(%addr, id = h.id, "Dubbo reply nobody waits for"),
            }
        }
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
    // Waiters learn of the end when their senders drop.
    pending.lock().expect("pending lock").clear();
}

/// Answers one request frame: returns the reply frame, or `None` for a
/// one-way request.
pub type DubboHandler = Arc<dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// Serves Dubbo on `listener` until it fails: heartbeats answered, each
/// request handed to `handler`, replies written as they are ready.
pub async fn serve_dubbo(listener: TcpListener, handler: DubboHandler, max_body: usize) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tcp.set_nodelay(true).ok();
        let handler = handler.clone();
        tokio::spawn(async move {
            let (mut rd, mut wr) = tcp.into_split();
            let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
            tokio::spawn(async move {
                while let Some(f) = rx.recv().await {
                    if wr.write_all(&f).await.is_err() {
                        return;
                    }
                }
            });
            let mut head = [0u8; HEADER_LEN];
            loop {
                if rd.read_exact(&mut head).await.is_err() {
                    return;
                }
                let h = match Header::read(&head, max_body) {
                    Ok(Some(h)) => h,
                    _ => return,
                };
                let mut frame = head.to_vec();
                frame.resize(HEADER_LEN + h.body_len as usize, 0);
                if rd.read_exact(&mut frame[HEADER_LEN..]).await.is_err() {
                    return;
                }
                if !h.is_request() {
                    continue; // a reply to a heartbeat of the peer's
                }
                if h.is_event() {
                    if h.is_two_way() {
                        tx.send(dubbo::heartbeat_response(h.id)).ok();
                    }
                    continue;
                }
                let handler = handler.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Some(reply) = handler(&frame) {
                        tx.send(reply).ok();
                    }
                });
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dubbo::{Invocation, Outcome, begin_request, decode_response, finish_request};
    use crate::hessian2::{Limits, Value};

    fn request(client: &DubboClient, text: &str) -> (u64, Vec<u8>) {
        let inv = Invocation {
            interface: "x.Echo",
            method: "echo",
            descriptor: "Ljava/lang/String;",
            ..Default::default()
        };
        let id = client.next_id();
        let mut out = Vec::new();
        let (start, mut w) = begin_request(&inv, &mut out);
        w.write_string(text);
        finish_request(&inv, id, start, w, &[]);
        (id, out)
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
                let mut head = [0u8; HEADER_LEN];
                tcp.read_exact(&mut head).await.unwrap();
                let h = Header::read(&head, 1 << 20).unwrap().unwrap();
                let mut frame = head.to_vec();
                frame.resize(HEADER_LEN + h.body_len as usize, 0);
                tcp.read_exact(&mut frame[HEADER_LEN..]).await.unwrap();
                if h.is_event() && !h.is_request() {
                    assert_eq!(h.id, 900);
                    heartbeat_answered = true;
                } else {
                    frames.push(crate::dubbo::decode_request(&frame, Limits::default()).unwrap());
                }
            }
            for req in frames.iter().rev() {
                let text = req.args[0].as_str().unwrap().to_uppercase();
                let mut out = Vec::new();
                crate::dubbo::encode_response(req.id, true, &mut out, |w| w.write_string(&text));
                tcp.write_all(&out).await.unwrap();
            }
            // Then the provider goes away.
        });
        let client = DubboClient::new([addr], DubboClientConfig::default());
        let (id1, f1) = request(&client, "one");
        let (id2, f2) = request(&client, "two");
        let (r1, r2) = tokio::join!(client.call(id1, f1), client.call(id2, f2));
        for (r, want) in [(r1, "ONE"), (r2, "TWO")] {
            let resp = decode_response(&r.unwrap().frame, Limits::default()).unwrap();
            match resp.outcome {
                Outcome::Value(Value::String(s)) => assert_eq!(s, want),
                other => panic!("{other:?}"),
            }
        }
        server.await.unwrap();
        // The connection is gone: the next call reconnects and fails to connect, or sees it closed.
        let (id3, f3) = request(&client, "three");
        let r = tokio::time::timeout(Duration::from_secs(5), client.call(id3, f3))
            .await
            .unwrap();
        assert!(r.is_err(), "{r:?}");
    }

    /// The client's own heartbeat goes out when idle.
    #[tokio::test]
    async fn idle_heartbeat() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let client = DubboClient::new(
            [addr],
            DubboClientConfig {
                heartbeat: Duration::from_millis(50),
                ..Default::default()
            },
        );
        let (id, f) = request(&client, "x");
        let call = tokio::spawn(async move {
            tokio::time::timeout(Duration::from_millis(500), client.call(id, f)).await
        });
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut head = [0u8; HEADER_LEN];
        tcp.read_exact(&mut head).await.unwrap();
        let h = Header::read(&head, 1 << 20).unwrap().unwrap();
        let mut body = vec![0; h.body_len as usize];
        tcp.read_exact(&mut body).await.unwrap();
        assert!(!h.is_event());
        // No reply: the next frame is a heartbeat.
        tcp.read_exact(&mut head).await.unwrap();
        let h = Header::read(&head, 1 << 20).unwrap().unwrap();
        assert!(h.is_event() && h.is_request() && h.is_two_way(), "{h:?}");
        assert!(call.await.unwrap().is_err(), "the call times out");
    }
}
