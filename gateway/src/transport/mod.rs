//! Connections to backends, one module per way a connection is used:
//! [`pool`] (one call at a time per connection, idle connections pooled:
//! Thrift and Kitex Protobuf), [`dubbo`] (many calls multiplexed over one
//! connection by request id) and [`grpc`] (HTTP/2 streams). Each offers one
//! endpoint as a `tower::Service` that the call pipeline balances over;
//! none knows an IDL or a route. Endpoints are shared through an
//! [`EndpointCache`], so a backend rebuilt with the same endpoints keeps its
//! connections, and a connection closes once no backend uses its endpoint.

pub mod dubbo;
pub mod grpc;
pub mod pool;
pub mod tls;

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::net::TcpStream;

/// Why an exchange with one endpoint failed. [`TransportError::nothing_sent`]
/// tells whether the request can have reached the server.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// No connection could be made: nothing was sent.
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: Arc<str>, message: String },
    /// The connection failed after the request was (maybe) written.
    #[error("connection to {addr} failed: {message}")]
    Io { addr: Arc<str>, message: String },
    /// The peer closed the connection before it replied.
    #[error("{addr} closed the connection before replying")]
    Closed { addr: Arc<str> },
    /// The reply is not a valid frame of the connection's protocol.
    #[error("bad reply from {addr}: {message}")]
    Protocol { addr: Arc<str>, message: String },
    /// Every endpoint was tried by this call and none could take it.
    #[error("no endpoint left to try")]
    NoEndpoints,
    /// The backend's discovery lists no endpoint at the moment.
    #[error("no endpoints: the backend's discovery lists none")]
    NoneDiscovered,
    /// Every endpoint left has its circuit breaker open (or the backend's is).
    #[error("circuit open: the backend's recent calls failed too often")]
    CircuitOpen,
    /// Every endpoint left is ejected or failed its health probe.
    #[error("no healthy endpoint: every endpoint is ejected or failed its probe")]
    NoHealthy,
    /// The backend's limit of calls in flight is reached.
    #[error("more than {limit} calls in flight to this backend")]
    Overloaded { limit: u32 },
    /// The route's token bucket is empty.
    #[error("rate limit reached; retry in {} ms", .retry_after.as_millis())]
    RateLimited { retry_after: Duration },
    /// No reply within the call's timeout.
    #[error("no reply within {} ms", .0.as_millis())]
    Timeout(Duration),
}

impl TransportError {
    /// Whether the request cannot have reached any server, so that sending
    /// it elsewhere never runs it twice.
    pub fn nothing_sent(&self) -> bool {
        matches!(
            self,
            TransportError::Connect { .. }
                | TransportError::NoEndpoints
                | TransportError::NoneDiscovered
                | TransportError::CircuitOpen
                | TransportError::NoHealthy
                | TransportError::Overloaded { .. }
                | TransportError::RateLimited { .. }
        )
    }
}

/// A reply as the metrics see it: whether the server answered with an
/// error (`kitegate_backend_duration_seconds{outcome="remote_error"}`).
/// Declared exceptions and business errors inside a reply are replies.
pub trait Answer {
    fn remote_error(&self) -> bool;
}

impl<T: Answer> Answer for Option<T> {
    fn remote_error(&self) -> bool {
        self.as_ref().is_some_and(T::remote_error)
    }
}

/// An endpoint's open connections, for `kitegate_backend_connections`.
pub trait Connections: Send + Sync {
    fn open_connections(&self) -> usize;
}

/// Counts one open connection of an endpoint while it lives (held by the
/// connection, or by the task that drives it).
pub(crate) struct OpenConn(Arc<AtomicUsize>);

impl OpenConn {
    pub(crate) fn new(count: &Arc<AtomicUsize>) -> OpenConn {
        count.fetch_add(1, Ordering::Relaxed);
        OpenConn(count.clone())
    }
}

impl Drop for OpenConn {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Opens a TCP connection to `addr` within `timeout`, with `TCP_NODELAY`
/// (requests are written whole, and waiting for more would add latency).
pub async fn connect(addr: &Arc<str>, timeout: Duration) -> Result<TcpStream, TransportError> {
    let fail = |message: String| TransportError::Connect {
        addr: addr.clone(),
        message,
    };
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(&**addr))
        .await
        .map_err(|_| {
            fail(format!(
                "connect timed out after {} ms",
                timeout.as_millis()
            ))
        })?
        .map_err(|e| fail(e.to_string()))?;
    tcp.set_nodelay(true).ok();
    Ok(tcp)
}

/// Endpoints shared between backends, keyed by what makes a connection
/// reusable (kind, address and settings). Held weakly: an endpoint lives as
/// long as some backend uses it.
#[derive(Default)]
pub struct EndpointCache {
    by_key: Mutex<HashMap<String, Weak<dyn Any + Send + Sync>>>,
}

impl EndpointCache {
    /// The endpoint under `key`, made by `make` if no backend holds one.
    pub fn get<T: Any + Send + Sync>(&self, key: String, make: impl FnOnce() -> T) -> Arc<T> {
        let mut map = self.by_key.lock().expect("endpoint cache lock");
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(ep) = map
            .get(&key)
            .and_then(Weak::upgrade)
            .and_then(|a| a.downcast::<T>().ok())
        {
            return ep;
        }
        let ep = Arc::new(make());
        let shared: Arc<dyn Any + Send + Sync> = ep.clone();
        map.insert(key, Arc::downgrade(&shared));
        ep
    }

    /// How many endpoints are alive (for tests).
    pub fn live(&self) -> usize {
        let map = self.by_key.lock().expect("endpoint cache lock");
        map.values().filter(|w| w.strong_count() > 0).count()
    }
}
