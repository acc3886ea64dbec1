//! The call timeout: a whole call, every attempt included, within the
//! backend's `timeout_ms`. Hand-written over `tokio::time::timeout` rather
//! than `tower::timeout`, whose boxed error would have to be downcast
//! before the error table could classify it.

use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tower::Layer;

use super::{Call, CallError};
use crate::transport::TransportError;

#[derive(Clone)]
pub struct TimeoutLayer {
    after: Duration,
}

impl TimeoutLayer {
    pub fn new(after: Duration) -> Self {
        TimeoutLayer { after }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;
    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            after: self.after,
        }
    }
}

#[derive(Clone)]
pub struct Timeout<S> {
    inner: S,
    after: Duration,
}

impl<R, S> tower::Service<Call<R>> for Timeout<S>
where
    S: tower::Service<Call<R>, Error = CallError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = CallError;
    type Future = BoxFuture<'static, Result<S::Response, CallError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), CallError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: Call<R>) -> Self::Future {
        let after = self.after;
        let fut = self.inner.call(call);
        Box::pin(async move {
            tokio::time::timeout(after, fut)
                .await
                .unwrap_or_else(|_| Err(TransportError::Timeout(after).into()))
        })
    }
}
