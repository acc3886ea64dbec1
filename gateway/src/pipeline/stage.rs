//! One `tower` layer shape for every step of the stack: a step says what
//! it does with a call and the next service ([`Step::step`]); [`Stage`] is
//! the `Service` and [`StageLayer`] the `Layer` that put it in the stack.
//! A new concern is one `Step` impl, not a third copy of the plumbing.

use std::task::{Context, Poll};

use futures_util::future::BoxFuture;

use super::{Call, CallError};

/// The future a step answers with.
pub type StepFuture<T> = BoxFuture<'static, Result<T, CallError>>;

/// The next service of a step: the rest of the stack.
pub trait Next<R>:
    tower::Service<Call<R>, Error = CallError, Future: Send + 'static, Response: Send + 'static>
    + Send
    + 'static
{
}

impl<R, S> Next<R> for S
where
    S: tower::Service<Call<R>, Error = CallError> + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
}

/// What one layer does with a call, given the next service.
pub trait Step<R, S>: Clone + Send + Sync + 'static
where
    S: tower::Service<Call<R>, Error = CallError>,
{
    fn step(&self, next: &mut S, call: Call<R>) -> StepFuture<S::Response>;
}

/// A step in the stack over the next service.
#[derive(Clone)]
pub struct Stage<P, S> {
    step: P,
    next: S,
}

impl<R, S, P> tower::Service<Call<R>> for Stage<P, S>
where
    S: tower::Service<Call<R>, Error = CallError>,
    P: Step<R, S>,
{
    type Response = S::Response;
    type Error = CallError;
    type Future = StepFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), CallError>> {
        self.next.poll_ready(cx)
    }

    fn call(&mut self, call: Call<R>) -> Self::Future {
        self.step.step(&mut self.next, call)
    }
}

/// Puts a step in a `ServiceBuilder`.
#[derive(Clone)]
pub struct StageLayer<P>(pub P);

impl<P: Clone, S> tower::Layer<S> for StageLayer<P> {
    type Service = Stage<P, S>;
    fn layer(&self, next: S) -> Stage<P, S> {
        Stage {
            step: self.0.clone(),
            next,
        }
    }
}

/// An answer that is ready now (a refusal before anything is sent).
pub fn now<T: Send + 'static>(r: Result<T, CallError>) -> StepFuture<T> {
    Box::pin(std::future::ready(r))
}
