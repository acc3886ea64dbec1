//! Failover: an attempt that cannot have reached a server (no connection
//! could be made) is made again on another endpoint, until every endpoint
//! was tried once. Never resends a call that may have run: that is the
//! retry layer's decision, which knows budgets and idempotency.

use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tower::{Layer, ServiceExt as _};

use super::{Call, CallError};

#[derive(Clone)]
pub struct FailoverLayer {
    endpoints: usize,
}

impl FailoverLayer {
    pub fn new(endpoints: usize) -> Self {
        FailoverLayer { endpoints }
    }
}

impl<S> Layer<S> for FailoverLayer {
    type Service = Failover<S>;
    fn layer(&self, inner: S) -> Failover<S> {
        Failover {
            inner,
            endpoints: self.endpoints,
        }
    }
}

#[derive(Clone)]
pub struct Failover<S> {
    inner: S,
    endpoints: usize,
}

impl<R, S> tower::Service<Call<R>> for Failover<S>
where
    R: Clone + Send + 'static,
    S: tower::Service<Call<R>, Error = CallError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = CallError;
    type Future = BoxFuture<'static, Result<S::Response, CallError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), CallError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut call: Call<R>) -> Self::Future {
        let inner = self.inner.clone();
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
                        call.failed.push(i);
                    }
                    other => return other,
                }
            }
        })
    }
}
