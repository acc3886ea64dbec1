//! The listeners' connection loop: accepting within the connection limits
//! (in total and per client IP), TLS (ALPN picks HTTP/2 or HTTP/1.1) or
//! plain HTTP/1.1 with h2c prior knowledge on the same port, the
//! header-read and idle timeouts, and the drain on a graceful stop.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::IntoResponse;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::limits::HeadLimits;
use super::tls::Tls;
use crate::error::{ApiError, Failure};

/// How a listener serves its connections.
#[derive(Clone)]
pub struct ServeSettings {
    pub head: HeadLimits,
    /// The time a client has to send a request head, counted from when
    /// the connection can take one (an idle HTTP/1.1 keep-alive
    /// connection closes after it too), and to finish a TLS handshake.
    pub header_read_timeout: Duration,
    /// A connection that moves no byte for this long is told to finish
    /// (HTTP/1.1 closes when idle, HTTP/2 sends GOAWAY), and closed if it
    /// stays silent for as long again. Zero: never.
    pub idle_timeout: Duration,
    /// Connections open at once; past it, 503 `overloaded`.
    pub max_connections: usize,
    /// Connections open at once from one client IP; past it, 429
    /// `too_many_connections`. Zero: no limit.
    pub max_connections_per_ip: usize,
    pub tls: Option<Arc<Tls>>,
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            head: HeadLimits::default(),
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_connections_per_ip: 0,
            tls: None,
        }
    }
}

/// Largest read buffer of one HTTP/1.1 connection, and so the largest
/// request head (431 past it; nginx's default total is the same). hyper's
/// default (about 400 KB) lets every connection that once received a large
/// body keep a buffer of that size; bodies larger than this arrive in
/// several reads.
const HTTP_READ_BUFFER_MAX: usize = 32 * 1024;

/// How long a graceful stop waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections over a limit that are being answered at once; past it,
/// more are closed unanswered.
const REFUSING_MAX: usize = 64;

/// How long a refused connection may take to get its answer.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Drives a connection to its end. Once `stopped` resolves, or the
/// connection moves no byte for an idle period, it is told to finish its
/// requests and take no more; if it then stays silent for another idle
/// period it is dropped.
macro_rules! drive {
    ($conn:expr, $stopped:expr, $activity:expr, $idle:expr) => {
        async {
            let conn = $conn;
            tokio::pin!(conn);
            tokio::select! {
                ended = conn.as_mut() => return ended,
                _ = $stopped => {}
                _ = $activity.quiet_for($idle) => {}
            }
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                ended = conn.as_mut() => ended,
                _ = $activity.quiet_for($idle) => Ok(()),
            }
        }
    };
}

/// Serves `app` on `listener` until `stop` resolves, then lets the
/// requests in flight finish, for at most [`DRAIN_TIMEOUT`] (idle
/// keep-alive connections close at once). hyper-util's graceful shutdown
/// does not take HTTP/1 connections with upgrades, so the drain is done
/// here: every connection ends gracefully on the stop signal, and the
/// tasks are awaited.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    settings: ServeSettings,
    stop: impl std::future::Future<Output = ()>,
) {
    let (stopping, stop_rx) = tokio::sync::watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .max_buf_size(HTTP_READ_BUFFER_MAX.max(settings.head.hyper_max_bytes()))
        .max_header_size(settings.head.hyper_max_bytes())
        .max_headers(settings.head.hyper_max_headers())
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    let mut http2 = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    http2
        .timer(hyper_util::rt::TokioTimer::new())
        .max_header_list_size(settings.head.hyper_max_bytes() as u32);
    let counts = Arc::new(Counts::new(&settings));
    let settings = Arc::new(settings);
    tokio::pin!(stop);
    loop {
        while conns.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        stream.set_nodelay(true).ok();
        let Some(admission) = counts.admit(peer.ip()) else {
            continue;
        };
        let conn = Conn {
            admission,
            settings: settings.clone(),
            http1: http1.clone(),
            http2: http2.clone(),
        };
        let mut stop_rx = stop_rx.clone();
        let app = app.clone();
        conns.spawn(async move {
            let stopped = async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            };
            conn.run(stream, app, stopped).await;
        });
    }
    drop(listener);
    stopping.send_replace(true);
    // Long streams (SSE, NDJSON) get a bounded drain, not an endless one.
    let drained = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
        tracing::warn!(
            "connections still open after {} s; closing them",
            DRAIN_TIMEOUT.as_secs()
        );
    }
}

/// One accepted connection and how to serve it.
struct Conn {
    admission: Admission,
    settings: Arc<ServeSettings>,
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<hyper_util::rt::TokioExecutor>,
}

impl Conn {
    async fn run(self, stream: TcpStream, app: axum::Router, stopped: impl Future<Output = ()>) {
        let refusal = self.admission.refusal.clone();
        let activity = Activity::default();
        let h2c = self.settings.tls.is_none()
            && opens_with_h2_preface(&stream, self.settings.header_read_timeout).await;
        let io = Counted {
            inner: stream,
            activity: activity.clone(),
        };
        let ended = match &self.settings.tls {
            Some(tls) => {
                let accepted = tokio::time::timeout(
                    self.settings.header_read_timeout,
                    tls.acceptor().accept(io),
                )
                .await;
                let stream = match accepted {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                };
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                self.serve(stream, h2, app, refusal, stopped, &activity)
                    .await
            }
            None => self.serve(io, h2c, app, refusal, stopped, &activity).await,
        };
        if let Err(e) = ended {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }

    async fn serve<I>(
        &self,
        io: I,
        h2: bool,
        app: axum::Router,
        refusal: Option<Failure>,
        stopped: impl Future<Output = ()>,
        activity: &Activity,
    ) -> Result<(), hyper::Error>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = hyper_util::rt::TokioIo::new(io);
        let idle = self.settings.idle_timeout;
        if let Some(failure) = refusal {
            // One answer, then the connection closes.
            let service = hyper::service::service_fn(move |_req| {
                let resp = ApiError::from(failure.clone()).into_response();
                std::future::ready(Ok::<_, Infallible>(resp))
            });
            let answered = async {
                if h2 {
                    let conn = self.http2.serve_connection(io, service);
                    drive!(conn, std::future::pending::<()>(), activity, idle).await
                } else {
                    let mut http1 = self.http1.clone();
                    http1.keep_alive(false);
                    http1.serve_connection(io, service).await
                }
            };
            return tokio::time::timeout(REFUSAL_TIMEOUT, answered)
                .await
                .unwrap_or(Ok(()));
        }
        let service = hyper_util::service::TowerToHyperService::new(app);
        if h2 {
            let conn = self.http2.serve_connection(io, service);
            drive!(conn, stopped, activity, idle).await
        } else {
            let conn = self.http1.serve_connection(io, service).with_upgrades();
            drive!(conn, stopped, activity, idle).await
        }
    }
}

/// Whether a connection opens with the HTTP/2 client preface
/// (`PRI * HTTP/2.0…`): its first four bytes, peeked without reading
/// them, tell it from every HTTP/1.1 method. A client that sends fewer at
/// first is waited for, up to the header-read timeout.
async fn opens_with_h2_preface(stream: &TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 4];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match stream.peek(&mut buf).await {
            Ok(n) if n >= 4 => return &buf == b"PRI ",
            Ok(0) | Err(_) => return false,
            Ok(n) if !b"PRI ".starts_with(&buf[..n]) => return false,
            Ok(_) if tokio::time::Instant::now() > deadline => return false,
            Ok(_) => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
}

/// The bytes a connection has moved, either way; the idle timeout
/// watches it change.
#[derive(Clone, Default)]
struct Activity(Arc<AtomicU64>);

/// Idle checks per idle period: a connection closes after between one
/// and 1 + 1/`IDLE_TICKS` periods of silence.
const IDLE_TICKS: u32 = 4;

impl Activity {
    fn moved(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Resolves once no byte has moved for `period` (never for zero).
    async fn quiet_for(&self, period: Duration) {
        if period.is_zero() {
            return std::future::pending().await;
        }
        let tick = period / IDLE_TICKS;
        let mut last = self.0.load(Ordering::Relaxed);
        let mut quiet = 0;
        loop {
            tokio::time::sleep(tick).await;
            let now = self.0.load(Ordering::Relaxed);
            if now == last {
                quiet += 1;
                if quiet >= IDLE_TICKS {
                    return;
                }
            } else {
                last = now;
                quiet = 0;
            }
        }
    }
}

/// A stream that counts the bytes it moves into its [`Activity`].
struct Counted<S> {
    inner: S,
    activity: Activity,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.activity.moved(n);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.activity.moved(n);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            self.activity.moved(n);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The connections open now, in total and per client IP.
struct Counts {
    max: usize,
    max_per_ip: usize,
    total: AtomicUsize,
    refusing: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection let in: served, or (over a limit) given one answer with
/// its refusal; the ticket holds its place among the open connections or
/// the refusals.
struct Admission {
    _ticket: Ticket,
    refusal: Option<Failure>,
}

/// A place among the open connections (or the refusals), given back
/// when the connection ends.
struct Ticket {
    counts: Arc<Counts>,
    ip: Option<IpAddr>,
    refusal: bool,
}

impl Counts {
    fn new(s: &ServeSettings) -> Self {
        Counts {
            max: s.max_connections,
            max_per_ip: s.max_connections_per_ip,
            total: AtomicUsize::new(0),
            refusing: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        }
    }

    /// Lets a connection from `ip` in, or refuses it; `None`: too many are
    /// being refused already, so it is closed unanswered.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admission> {
        let refuse = |failure: Failure| {
            if self.refusing.fetch_add(1, Ordering::Relaxed) >= REFUSING_MAX {
                self.refusing.fetch_sub(1, Ordering::Relaxed);
                return None;
            }
            let ticket = Ticket {
                counts: self.clone(),
                ip: None,
                refusal: true,
            };
            Some(Admission {
                _ticket: ticket,
                refusal: Some(failure),
            })
        };
        if self.total.load(Ordering::Relaxed) >= self.max {
            return refuse(Failure::Overload(format!(
                "the gateway has {} connections open, its limit",
                self.max
            )));
        }
        let ip = if self.max_per_ip > 0 {
            let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
            let n = per_ip.entry(ip).or_default();
            if *n >= self.max_per_ip {
                drop(per_ip);
                return refuse(Failure::ClientConnections(format!(
                    "{ip} has {} connections open, the limit per client",
                    self.max_per_ip
                )));
            }
            *n += 1;
            Some(ip)
        } else {
            None
        };
        self.total.fetch_add(1, Ordering::Relaxed);
        Some(Admission {
            _ticket: Ticket {
                counts: self.clone(),
                ip,
                refusal: false,
            },
            refusal: None,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.refusal {
            self.counts.refusing.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        self.counts.total.fetch_sub(1, Ordering::Relaxed);
        if let Some(ip) = self.ip {
            let mut per_ip = self.counts.per_ip.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_past_a_limit_are_refused_and_places_come_back() {
        let counts = Arc::new(Counts::new(&ServeSettings {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..Default::default()
        }));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let refusal = |a: &Option<Admission>| a.as_ref().expect("answered").refusal.clone();
        let a1 = counts.admit(a);
        let a2 = counts.admit(a);
        assert!(refusal(&a1).is_none() && refusal(&a2).is_none());
        let Some(Failure::ClientConnections(m)) = refusal(&counts.admit(a)) else {
            panic!("a third from one IP is refused");
        };
        assert!(m.contains("127.0.0.1"), "{m}");
        let b1 = counts.admit(b);
        assert!(refusal(&b1).is_none());
        assert!(matches!(
            refusal(&counts.admit(b)),
            Some(Failure::Overload(_))
        ));
        drop(a1);
        assert!(refusal(&counts.admit(b)).is_none());
        assert_eq!(counts.refusing.load(Ordering::Relaxed), 0);
        drop((a2, b1));
        assert_eq!(counts.total.load(Ordering::Relaxed), 0);
        assert!(counts.per_ip.lock().unwrap().is_empty());
    }

    #[test]
    fn refusals_are_bounded_too() {
        let counts = Arc::new(Counts::new(&ServeSettings {
            max_connections: 0,
            ..Default::default()
        }));
        let held: Vec<_> = (0..REFUSING_MAX)
            .map(|_| counts.admit("127.0.0.1".parse().unwrap()))
            .collect();
        assert!(held.iter().all(|a| matches!(
            a,
            Some(Admission {
                refusal: Some(_),
                ..
            })
        )));
        assert!(counts.admit("127.0.0.1".parse().unwrap()).is_none());
        drop(held);
        assert!(counts.admit("127.0.0.1".parse().unwrap()).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn silence_is_noticed_after_one_period() {
        let activity = Activity::default();
        let started = tokio::time::Instant::now();
        activity.quiet_for(Duration::from_secs(8)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(8));
        let a = activity.clone();
        let moving = tokio::spawn(async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                a.moved(1);
            }
        });
        let started = tokio::time::Instant::now();
        activity.quiet_for(Duration::from_secs(8)).await;
        assert!(
            started.elapsed() >= Duration::from_secs(18),
            "{:?}",
            started.elapsed()
        );
        moving.await.unwrap();
    }
}
