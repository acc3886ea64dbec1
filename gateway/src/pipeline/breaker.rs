//! The backend's circuit breaker (`[backends.breaker]`): over every call of
//! the backend, after its retries, next to each endpoint's own breaker
//! (which the balancer reads). Open, it answers 503 `circuit_open` at
//! once; half-open, a few calls probe. Only failures to get a reply count
//! (connect, connection, timeout, bad reply): a backend that answers with
//! an error status is working. The state machine is [`health::Breaker`].
//!
//! [`health::Breaker`]: super::health::Breaker

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tower::Layer;

use super::health::Health;
use super::{Call, CallError, Traffic};
use crate::transport::TransportError;

#[derive(Clone)]
pub struct BreakerLayer {
    health: Option<Arc<Health>>,
}

impl BreakerLayer {
    pub fn new(traffic: &Traffic) -> Self {
        BreakerLayer {
            health: traffic
                .health
                .backend_breaker
                .is_some()
                .then(|| traffic.health.clone()),
        }
    }
}

impl<S> Layer<S> for BreakerLayer {
    type Service = Breaker<S>;
    fn layer(&self, inner: S) -> Breaker<S> {
        Breaker {
            inner,
            health: self.health.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Breaker<S> {
    inner: S,
    health: Option<Arc<Health>>,
}

/// Whether a failure says the backend did not answer (what breakers count).
fn counts(e: &TransportError) -> bool {
    matches!(
        e,
        TransportError::Connect { .. }
            | TransportError::Io { .. }
            | TransportError::Closed { .. }
            | TransportError::Protocol { .. }
            | TransportError::Timeout(_)
    )
}

impl<R, S> tower::Service<Call<R>> for Breaker<S>
where
    S: tower::Service<Call<R>, Error = CallError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = CallError;
    type Future = BoxFuture<'static, Result<S::Response, CallError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), CallError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: Call<R>) -> Self::Future {
        let Some(health) = self.health.clone() else {
            return Box::pin(self.inner.call(call));
        };
        let breaker = health.backend_breaker.as_ref().expect("checked in new");
        if !breaker.allow() {
            return Box::pin(std::future::ready(Err(TransportError::CircuitOpen.into())));
        }
        let fut = self.inner.call(call);
        Box::pin(async move {
            let out = fut.await;
            let breaker = health.backend_breaker.as_ref().expect("checked in new");
            match &out {
                Ok(_) => breaker.record(true),
                Err(e) if counts(&e.error) => breaker.record(false),
                Err(_) => {}
            }
            out
        })
    }
}
