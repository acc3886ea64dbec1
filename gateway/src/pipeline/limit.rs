//! Limits, checked before anything is sent: the route's token bucket
//! (`limit.rate_per_s`, `burst`, one bucket per value of `rate_key`; past
//! it 429 with `Retry-After`) and the backend's calls in flight
//! (`limit.max_concurrency`; past it 503 `overloaded` at once, never a
//! queue). Buckets are `governor`'s; the in-flight limit is a semaphore
//! taken without waiting, which `tower::limit` does not offer (it waits).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use super::settings::LimitConfig;
use super::stage::{Next, Step, StepFuture, now};
use super::{Call, Traffic};
use crate::transport::TransportError;

/// Keyed buckets past this many are pruned of the ones that are full again.
const MAX_BUCKETS: usize = 10_000;

/// Keyed calls between two checks of the number of buckets (the count
/// visits every shard of the map).
const PRUNE_EVERY: u32 = 1024;

/// One route's token buckets: one bucket, or one per key.
pub struct RateLimit {
    one: DefaultDirectRateLimiter,
    buckets: DefaultKeyedRateLimiter<Box<str>>,
    keyed_calls: AtomicU32,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimit")
    }
}

impl RateLimit {
    /// Buckets of `rate_per_s` (which must be above 0) holding `burst`
    /// tokens (at least one second's worth when 0).
    pub fn new(cfg: &LimitConfig) -> Self {
        let rate = NonZeroU32::new(cfg.rate_per_s).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(cfg.burst).unwrap_or(rate);
        let quota = Quota::per_second(rate).allow_burst(burst);
        RateLimit {
            one: RateLimiter::direct(quota),
            buckets: RateLimiter::keyed(quota),
            keyed_calls: AtomicU32::new(0),
            clock: DefaultClock::default(),
        }
    }

    /// Takes a token from the bucket (`key`'s, when buckets are keyed), or
    /// says how long until one.
    pub fn take(&self, key: Option<&str>) -> Result<(), Duration> {
        let wait = |not_until: governor::NotUntil<_>| not_until.wait_time_from(self.clock.now());
        let Some(key) = key else {
            return self.one.check().map_err(wait);
        };
        if self.keyed_calls.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == 0
            && self.buckets.len() > MAX_BUCKETS
        {
            self.buckets.retain_recent();
        }
        self.buckets.check_key(&Box::from(key)).map_err(wait)
    }
}

#[derive(Clone)]
pub struct Limit {
    concurrency: Option<(Arc<Semaphore>, u32)>,
}

impl Limit {
    pub fn new(traffic: &Traffic) -> Self {
        Limit {
            concurrency: traffic
                .concurrency
                .clone()
                .map(|s| (s, traffic.settings.limit.max_concurrency)),
        }
    }
}

impl<R, S> Step<R, S> for Limit
where
    S: Next<R>,
{
    fn step(&self, next: &mut S, call: Call<R>) -> StepFuture<S::Response> {
        if self.concurrency.is_none() && call.policy.rate.is_none() {
            return Box::pin(next.call(call));
        }
        if let Some(rate) = &call.policy.rate
            && let Err(wait) = rate.take(call.rate_key.as_deref())
        {
            return now(Err(TransportError::RateLimited { retry_after: wait }.into()));
        }
        let permit = match &self.concurrency {
            None => None,
            Some((s, limit)) => match s.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => return now(Err(TransportError::Overloaded { limit: *limit }.into())),
            },
        };
        let fut = next.call(call);
        Box::pin(async move {
            let out = fut.await;
            drop(permit);
            out
        })
    }
}
