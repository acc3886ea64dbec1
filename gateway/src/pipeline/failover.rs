//! Failover: an attempt that cannot have reached a server (no connection
//! could be made) is made again on another endpoint, until every endpoint
//! was tried once. Never resends a call that may have run: that is the
//! retry layer's decision, which knows budgets and idempotency. Each try
//! after the first counts in `kitegate_backend_retries_total`.

use tower::ServiceExt as _;

use super::stage::{Next, Step, StepFuture};
use super::{Call, CallError};

#[derive(Clone)]
pub struct Failover {
    endpoints: usize,
}

impl Failover {
    pub fn new(endpoints: usize) -> Self {
        Failover { endpoints }
    }
}

impl<R, S> Step<R, S> for Failover
where
    R: Clone + Send + 'static,
    S: Next<R> + Clone,
{
    fn step(&self, next: &mut S, mut call: Call<R>) -> StepFuture<S::Response> {
        let inner = next.clone();
        let endpoints = self.endpoints;
        Box::pin(async move {
            loop {
                // Only a call that may be made again needs its request kept.
                let again = call.failed.len() + 1 < endpoints;
                let attempt = if again {
                    call.clone()
                } else {
                    return inner.oneshot(call).await;
                };
                match inner.clone().oneshot(attempt).await {
                    Err(CallError {
                        error,
                        endpoint: Some(i),
                    }) if error.nothing_sent() => {
                        tracing::debug!(endpoint = i, %error, "trying the next endpoint");
                        let reason =
                            super::retry::class(&error).map_or("circuit_open", |c| c.name());
                        call.policy.metrics.record_retry(reason);
                        call.failed.push(i);
                    }
                    other => return other,
                }
            }
        })
    }
}
