//! The backend's circuit breaker (`[backends.breaker]`): over every call of
//! the backend, after its retries, next to each endpoint's own breaker
//! (which the balancer reads). Open, it answers 503 `circuit_open` at
//! once; half-open, a few calls probe. Only failures to get a reply count
//! (connect, connection, timeout, bad reply): a backend that answers with
//! an error status is working. The state machine is [`health::Breaker`].
//!
//! [`health::Breaker`]: super::health::Breaker

use super::health::Health;
use super::stage::{Next, Step, StepFuture, now};
use super::{Call, Traffic};
use crate::transport::TransportError;
use std::sync::Arc;

#[derive(Clone)]
pub struct Breaker {
    health: Option<Arc<Health>>,
}

impl Breaker {
    pub fn new(traffic: &Traffic) -> Self {
        Breaker {
            health: traffic
                .health
                .backend_breaker
                .is_some()
                .then(|| traffic.health.clone()),
        }
    }
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

impl<R, S> Step<R, S> for Breaker
where
    S: Next<R>,
{
    fn step(&self, next: &mut S, call: Call<R>) -> StepFuture<S::Response> {
        let Some(health) = self.health.clone() else {
            return Box::pin(next.call(call));
        };
        let breaker = health.backend_breaker.as_ref().expect("checked in new");
        if !breaker.allow() {
            return now(Err(TransportError::CircuitOpen.into()));
        }
        let fut = next.call(call);
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
