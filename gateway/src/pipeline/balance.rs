//! Endpoint choice: round robin over a backend's endpoints, skipping the
//! ones the call already failed on. Hand-written because `tower::balance`
//! balances by load over `Discover` streams and needs services that report
//! readiness; these endpoints are always ready (their connections queue or
//! dial on demand), and the next policies (weighted, consistent hash) slot
//! in here.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tower::ServiceExt as _;

use super::{Call, CallError};
use crate::transport::TransportError;

#[derive(Clone)]
pub struct Balance<E> {
    endpoints: Arc<[E]>,
    next: Arc<AtomicUsize>,
}

impl<E> Balance<E> {
    pub fn new(endpoints: Vec<E>) -> Self {
        Balance {
            endpoints: endpoints.into(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The next endpoint in turn that `failed` does not name.
    fn pick(&self, failed: &[usize]) -> Option<usize> {
        let n = self.endpoints.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| (first + i) % n)
            .find(|i| !failed.contains(i))
    }
}

impl<R, E> tower::Service<Call<R>> for Balance<E>
where
    R: Send + 'static,
    E: tower::Service<R, Error = TransportError> + Clone + Send + Sync + 'static,
    E::Future: Send + 'static,
    E::Response: Send + 'static,
{
    type Response = E::Response;
    type Error = CallError;
    type Future = BoxFuture<'static, Result<E::Response, CallError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), CallError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call<R>) -> Self::Future {
        let Some(i) = self.pick(&call.failed) else {
            return Box::pin(std::future::ready(Err(TransportError::NoEndpoints.into())));
        };
        let endpoint = self.endpoints[i].clone();
        Box::pin(async move {
            endpoint
                .oneshot(call.request)
                .await
                .map_err(|error| CallError {
                    error,
                    endpoint: Some(i),
                })
        })
    }
}
