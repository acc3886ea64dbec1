//! Retries and backup tries. A failed try is made again when:
//! - its class is in `retry.on` (connect, unavailable, timeout, bad reply);
//! - nothing can have reached a server, or the method is idempotent;
//! - tries are left (`max_attempts`) and so is time (the call's deadline);
//! - the backend's retry budget allows it.
//!
//! Replies are never retried here: declared exceptions, remote statuses and
//! business errors are replies. An idempotent method with `backup_after_ms`
//! gets a second try to another endpoint when the first has not answered
//! by then; the first answer wins and the other try is dropped.
//!
//! The budget is `tower::retry::budget::TpsBudget` (every call deposits,
//! every retry or backup withdraws). The loop is hand-written rather than
//! `tower::retry::Retry` because the decision needs the try's endpoint (so
//! the next try avoids it) and `tower::hedge` hedges at a latency
//! percentile rather than at a set delay.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use futures_util::future::{Either, select};
use tokio::time::Instant;
use tower::ServiceExt as _;
use tower::retry::budget::{Budget as _, TpsBudget};

use super::settings::{RetryConfig, RetryOn};
use super::stage::{Next, Step, StepFuture};
use super::{Call, CallError, Traffic};
use crate::transport::TransportError;

/// The backend's retry budget over the last 10 s.
pub struct Budget(TpsBudget);

impl Budget {
    /// A budget that allows nothing.
    fn empty() -> Self {
        Budget(TpsBudget::new(Duration::from_secs(1), 0, 0.0))
    }

    pub fn new(cfg: &RetryConfig) -> Self {
        Budget(TpsBudget::new(
            Duration::from_secs(10),
            cfg.min_retries_per_s,
            cfg.budget_percent / 100.0,
        ))
    }
}

#[derive(Clone)]
pub struct Retry {
    budget: Option<Arc<Budget>>,
    endpoints: usize,
}

impl Retry {
    pub fn new(traffic: &Traffic) -> Self {
        Retry {
            budget: traffic.budget.clone(),
            endpoints: traffic.settings.endpoints.len(),
        }
    }
}

/// The class of a failed try, as `retry.on` names it.
pub(super) fn class(e: &TransportError) -> Option<RetryOn> {
    Some(match e {
        TransportError::Connect { .. } => RetryOn::Connect,
        TransportError::Io { .. } | TransportError::Closed { .. } => RetryOn::Unavailable,
        TransportError::Timeout(_) => RetryOn::Timeout,
        TransportError::Protocol { .. } => RetryOn::BadReply,
        _ => return None,
    })
}

impl<R, S> Step<R, S> for Retry
where
    R: Clone + Send + 'static,
    S: Next<R> + Clone,
{
    fn step(&self, next: &mut S, mut call: Call<R>) -> StepFuture<S::Response> {
        let policy = &call.policy;
        let budget = match &self.budget {
            Some(b) => {
                b.0.deposit();
                b.clone()
            }
            None if policy.try_timeout.is_none() => return Box::pin(next.call(call)),
            // A try timeout alone: tries are bounded, never repeated.
            None => Arc::new(Budget::empty()),
        };
        let policy = policy.clone();
        let inner = next.clone();
        if policy.max_attempts <= 1 && policy.backup_after.is_none() && policy.try_timeout.is_none()
        {
            // Nothing to decide: no copy of the request is kept.
            return Box::pin(inner.oneshot(call));
        }
        let endpoints = self.endpoints;
        Box::pin(async move {
            let mut tries = 0;
            loop {
                tries += 1;
                call.try_deadline = match policy.try_timeout {
                    Some(t) => call.deadline.min(Instant::now() + t),
                    None => call.deadline,
                };
                let outcome = match policy.backup_after {
                    Some(after) if tries == 1 => {
                        with_backup(inner.clone(), call.clone(), after, &budget, &mut tries).await
                    }
                    _ => inner.clone().oneshot(call.clone()).await,
                };
                let e = match outcome {
                    Ok(reply) => return Ok(reply),
                    Err(e) => e,
                };
                let why = class(&e.error);
                let again = tries < policy.max_attempts
                    && why.is_some_and(|c| policy.retry_on.contains(&c))
                    && (policy.idempotent || e.error.nothing_sent())
                    && Instant::now() < call.deadline
                    && budget.0.withdraw();
                if !again {
                    return Err(e);
                }
                tracing::debug!(method = %policy.name, error = %e.error, tries, "retrying");
                if let Some(c) = why {
                    policy.metrics.record_retry(c.name());
                }
                if let Some(i) = e.endpoint {
                    call.failed.push(i);
                }
                if call.failed.len() >= endpoints {
                    // Every endpoint failed once: any may be tried again.
                    call.failed.clear();
                }
            }
        })
    }
}

/// The first try, and after `after` without an answer a second one to
/// another endpoint (if the budget allows); the first answer wins, else the
/// last failure.
async fn with_backup<R, S>(
    inner: S,
    call: Call<R>,
    after: Duration,
    budget: &Budget,
    tries: &mut u32,
) -> Result<S::Response, CallError>
where
    R: Clone + Send + 'static,
    S: tower::Service<Call<R>, Error = CallError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let picked = Arc::new(AtomicU64::new(0));
    let mut first_call = call.clone();
    first_call.picked = Some(picked.clone());
    let first = inner.clone().oneshot(first_call);
    let wait = tokio::time::sleep(after);
    let first = match select(Box::pin(first), Box::pin(wait)).await {
        Either::Left((outcome, _)) => return outcome,
        Either::Right(((), first)) => first,
    };
    if !budget.0.withdraw() {
        return first.await;
    }
    *tries += 1;
    let mut second_call = call.clone();
    let bits = picked.load(std::sync::atomic::Ordering::Relaxed);
    second_call
        .failed
        .extend((0..64).filter(|i| bits & (1 << i) != 0));
    tracing::debug!(method = %call.policy.name, "backup try");
    call.policy.metrics.record_retry("backup");
    let second = Box::pin(inner.clone().oneshot(second_call));
    match select(first, second).await {
        Either::Left((Ok(r), _)) | Either::Right((Ok(r), _)) => Ok(r),
        Either::Left((Err(_), other)) => other.await,
        Either::Right((Err(_), other)) => other.await,
    }
}
