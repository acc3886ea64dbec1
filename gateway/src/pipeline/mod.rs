//! The call pipeline: how every backend call is made, whatever its
//! protocol. A protocol module encodes a request and hands it to its
//! backend's [`Client`], a `tower` stack built once per backend by
//! [`client`] from the same layers for every protocol:
//!
//! ```text
//! timeout ▸ failover ▸ balance ▸ endpoint (the protocol's connection)
//! ```
//!
//! - [`timeout`]: the backend's call timeout over the whole call, every
//!   attempt included;
//! - [`failover`]: a call that cannot have reached a server (no connection
//!   could be made) goes to the next endpoint, until each was tried once;
//! - [`balance`]: the endpoint of each attempt, round robin, skipping the
//!   endpoints this call already failed on.
//!
//! A new concern (retries, breakers, limits, metrics) is one more layer
//! file here and one line in [`client`]; the protocol modules do not change.

pub mod balance;
pub mod failover;
pub mod timeout;

use std::time::Duration;

use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt as _};

use crate::transport::TransportError;

/// One call on its way through the stack: the protocol's request (cloned
/// when an attempt is made again), and what the layers need to know of it.
#[derive(Debug, Clone)]
pub struct Call<R> {
    pub request: R,
    /// Safe to run twice (the next layers' retries may resend it).
    pub idempotent: bool,
    /// Endpoints (by index) this call already failed on.
    pub failed: Vec<usize>,
}

impl<R> Call<R> {
    pub fn new(request: R, idempotent: bool) -> Self {
        Call {
            request,
            idempotent,
            failed: Vec::new(),
        }
    }
}

/// How an attempt failed, and on which endpoint.
#[derive(Debug, Clone)]
pub struct CallError {
    pub error: TransportError,
    /// The endpoint that failed, when one was chosen.
    pub endpoint: Option<usize>,
}

impl From<TransportError> for CallError {
    fn from(error: TransportError) -> Self {
        CallError {
            error,
            endpoint: None,
        }
    }
}

/// A backend's client: the whole stack, cloned per call (a few reference
/// counts).
pub type Client<R, S> = BoxCloneSyncService<Call<R>, S, CallError>;

/// The settings every layer reads, from the backend's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Duration,
}

/// Builds the client stack over `endpoints` (one protocol connection each).
pub fn client<R, E>(settings: &Settings, endpoints: Vec<E>) -> Client<R, E::Response>
where
    R: Clone + Send + Sync + 'static,
    E: tower::Service<R, Error = TransportError> + Clone + Send + Sync + 'static,
    E::Response: Send + 'static,
    E::Future: Send + 'static,
{
    let stack = ServiceBuilder::new()
        .layer(timeout::TimeoutLayer::new(settings.timeout))
        .layer(failover::FailoverLayer::new(endpoints.len()))
        .service(balance::Balance::new(endpoints));
    BoxCloneSyncService::new(stack)
}

/// Sends one call through `client`.
pub async fn send<R, S>(
    client: &Client<R, S>,
    request: R,
    idempotent: bool,
) -> Result<S, TransportError> {
    client
        .clone()
        .oneshot(Call::new(request, idempotent))
        .await
        .map_err(|e| e.error)
}

#[cfg(test)]
mod tests;
