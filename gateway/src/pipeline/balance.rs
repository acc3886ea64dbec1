//! Endpoint choice, by the backend's policy, over the endpoints that may
//! take a call (not ejected, breaker not open, not already failed by this
//! call); each try bounded by its deadline, its outcome recorded in the
//! endpoint's [`Health`].
//!
//! Hand-written rather than `tower::balance::p2c`: that balancer discovers
//! endpoints through a `Discover` stream and chooses by readiness, while
//! these endpoints are always ready (their connections queue or dial on
//! demand), a try must skip endpoints by this call's history and their
//! health, and weighted and hashed choice are not in tower.
//! - `round_robin`: in turn.
//! - `weighted_round_robin`: in turn by weight, interleaved (the smooth
//!   order nginx uses: weights 1 and 3 give `b a b b`, not `a b b b`),
//!   precomputed so that a choice is one atomic increment.
//! - `least_inflight`: the power of two choices: of two endpoints drawn at
//!   random, the one with fewer calls in flight per weight.
//! - `consistent_hash`: a ring of 160 points per unit of weight, placed by
//!   each endpoint's address, so an endpoint that leaves moves only its own
//!   keys; a call without a key goes round robin.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tower::ServiceExt as _;

use super::health::{Health, Unavailable};
use super::settings::{Endpoint, Policy};
use super::{Call, CallError, Traffic};
use crate::observe::access;
use crate::observe::metrics::Outcome;
use crate::observe::trace::{Carry, TrySpan};
use crate::transport::{Answer, TransportError};

/// Points on the hash ring per unit of weight.
const RING_POINTS: u32 = 160;

#[derive(Clone)]
pub struct Balance<E> {
    endpoints: Arc<[E]>,
    picker: Arc<Picker>,
    health: Arc<Health>,
}

struct Picker {
    next: AtomicUsize,
    how: How,
}

enum How {
    RoundRobin,
    /// Endpoint indexes in the interleaved weighted order.
    Weighted(Box<[u32]>),
    LeastInflight,
    /// (point, endpoint), sorted by point.
    Ring(Box<[(u64, u32)]>),
}

impl<E> Balance<E> {
    pub fn new(traffic: &Traffic, endpoints: Vec<E>) -> Self {
        let eps = &traffic.settings.endpoints;
        let weights: Vec<u32> = eps.iter().map(|e| e.weight).collect();
        let how = match traffic.policy {
            Policy::RoundRobin => How::RoundRobin,
            Policy::WeightedRoundRobin if weights.iter().all(|&w| w == weights[0]) => {
                How::RoundRobin
            }
            Policy::WeightedRoundRobin => How::Weighted(smooth_order(&weights)),
            Policy::LeastInflight => How::LeastInflight,
            Policy::ConsistentHash => How::Ring(ring(eps)),
        };
        Balance {
            endpoints: endpoints.into(),
            picker: Arc::new(Picker {
                next: AtomicUsize::new(0),
                how,
            }),
            health: traffic.health.clone(),
        }
    }

    /// The endpoint for this try, or why there is none.
    fn pick<R>(&self, call: &Call<R>) -> Result<usize, TransportError> {
        let n = self.endpoints.len();
        if n == 0 {
            // Only a discovered set can be empty (a fixed one is checked).
            return Err(TransportError::NoneDiscovered);
        }
        let ok = |i: usize| !call.failed.contains(&i) && self.health.usable(i).is_ok();
        let p = &self.picker;
        let found = match &p.how {
            How::RoundRobin => {
                let first = p.next.fetch_add(1, Ordering::Relaxed);
                (0..n).map(|k| (first + k) % n).find(|&i| ok(i))
            }
            How::Weighted(order) => {
                let first = p.next.fetch_add(1, Ordering::Relaxed);
                (0..order.len())
                    .map(|k| order[(first + k) % order.len()] as usize)
                    .find(|&i| ok(i))
            }
            How::LeastInflight => self.two_choices(ok),
            How::Ring(ring) => match call.hash {
                Some(h) => {
                    let at = ring.partition_point(|&(point, _)| point < h);
                    (0..ring.len())
                        .map(|k| ring[(at + k) % ring.len()].1 as usize)
                        .find(|&i| ok(i))
                }
                None => {
                    let first = p.next.fetch_add(1, Ordering::Relaxed);
                    (0..n).map(|k| (first + k) % n).find(|&i| ok(i))
                }
            },
        };
        match found {
            Some(i) => Ok(i),
            None if (0..n).all(|i| call.failed.contains(&i)) => Err(TransportError::NoEndpoints),
            None => Err(
                match self
                    .health
                    .why_none((0..n).filter(|i| !call.failed.contains(i)))
                {
                    Unavailable::CircuitOpen => TransportError::CircuitOpen,
                    Unavailable::NoHealthy => TransportError::NoHealthy,
                },
            ),
        }
    }

    /// Power of two choices over the endpoints `ok` accepts.
    fn two_choices(&self, ok: impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.endpoints.len();
        let r = mix(self.picker.next.fetch_add(1, Ordering::Relaxed) as u64);
        let a = (r % n as u64) as usize;
        let b = if n > 1 {
            (a + 1 + ((r >> 32) % (n as u64 - 1)) as usize) % n
        } else {
            a
        };
        let load = |i: usize| {
            let e = &self.health.endpoints[i];
            // In flight per unit of weight, compared without division.
            (u64::from(e.inflight.load(Ordering::Relaxed)) + 1) * 1_000_000 / u64::from(e.weight)
        };
        match (ok(a), ok(b)) {
            (true, true) => Some(if load(b) < load(a) { b } else { a }),
            (true, false) => Some(a),
            (false, true) => Some(b),
            (false, false) => (0..n).map(|k| (a + k) % n).find(|&i| ok(i)),
        }
    }
}

impl<R, E> tower::Service<Call<R>> for Balance<E>
where
    R: Carry + Send + 'static,
    E: tower::Service<R, Error = TransportError> + Clone + Send + Sync + 'static,
    E::Future: Send + 'static,
    E::Response: Answer + Send + 'static,
{
    type Response = E::Response;
    type Error = CallError;
    type Future = BoxFuture<'static, Result<E::Response, CallError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), CallError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call<R>) -> Self::Future {
        let i = match self.pick(&call) {
            Ok(i) => i,
            Err(e) => return Box::pin(std::future::ready(Err(e.into()))),
        };
        if !self.health.admit(i) {
            // Its breaker turned half-open and its probes are taken.
            return Box::pin(std::future::ready(Err(CallError {
                error: TransportError::CircuitOpen,
                endpoint: Some(i),
            })));
        }
        if let Some(p) = &call.picked
            && i < 64
        {
            p.fetch_or(1 << i, Ordering::Relaxed);
        }
        let endpoint = self.endpoints[i].clone();
        let health = self.health.clone();
        let deadline = call.try_deadline;
        let policy = call.policy;
        let mut request = call.request;
        let addr = &health.endpoints[i].addr;
        let span = TrySpan::start(policy.metrics.backend(), &policy.name, addr).map(|(s, tp)| {
            request.carry(&tp);
            s
        });
        Box::pin(async move {
            let _inflight = Inflight::start(&health, i);
            let started = tokio::time::Instant::now();
            let outcome = tokio::time::timeout_at(deadline, endpoint.oneshot(request)).await;
            let addr = &health.endpoints[i].addr;
            let error = match outcome {
                Ok(Ok(reply)) => {
                    health.record(i, true);
                    let o = if reply.remote_error() {
                        Outcome::RemoteError
                    } else {
                        Outcome::Ok
                    };
                    let took = started.elapsed();
                    policy.metrics.record_try(i, o, took);
                    access::record_try(addr, took);
                    if let Some(s) = span {
                        let failed = (o != Outcome::Ok).then(|| o.name());
                        s.end(failed, || "the server answered with an error".into());
                    }
                    return Ok(reply);
                }
                Ok(Err(error)) => error,
                Err(_) => TransportError::Timeout(deadline.saturating_duration_since(started)),
            };
            health.record(i, false);
            let took = started.elapsed();
            let o = outcome_of(&error);
            policy.metrics.record_try(i, o, took);
            access::record_try(addr, took);
            if let Some(s) = span {
                s.end(Some(o.name()), || error.to_string());
            }
            Err(CallError {
                error,
                endpoint: Some(i),
            })
        })
    }
}

/// The metrics' name for a failed try.
fn outcome_of(e: &TransportError) -> Outcome {
    match e {
        TransportError::Timeout(_) => Outcome::Timeout,
        TransportError::Protocol { .. } => Outcome::BadReply,
        _ => Outcome::Unavailable,
    }
}

/// Counts a try in its endpoint's calls in flight while it lives.
struct Inflight<'a>(&'a Health, usize);

impl<'a> Inflight<'a> {
    fn start(h: &'a Health, i: usize) -> Self {
        h.endpoints[i].inflight.fetch_add(1, Ordering::Relaxed);
        Inflight(h, i)
    }
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.0.endpoints[self.1]
            .inflight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// The smooth weighted round-robin order for `weights` (each endpoint
/// appears `weight / gcd` times).
fn smooth_order(weights: &[u32]) -> Box<[u32]> {
    let g = weights.iter().fold(0, |a, &w| gcd(a, w)).max(1);
    let w: Vec<i64> = weights.iter().map(|&x| i64::from(x / g)).collect();
    let total: i64 = w.iter().sum();
    let mut current = vec![0i64; w.len()];
    let mut order = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, wi) in current.iter_mut().zip(&w) {
            *c += wi;
        }
        let (best, _) = current
            .iter()
            .enumerate()
            .max_by_key(|&(i, c)| (*c, std::cmp::Reverse(i)))
            .expect("at least one endpoint");
        current[best] -= total;
        order.push(best as u32);
    }
    order.into()
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn ring(endpoints: &[Endpoint]) -> Box<[(u64, u32)]> {
    let mut ring = Vec::new();
    for (i, e) in endpoints.iter().enumerate() {
        for p in 0..RING_POINTS * e.weight {
            ring.push((hash_bytes(format!("{}#{p}", e.addr).as_bytes()), i as u32));
        }
    }
    ring.sort_unstable();
    ring.into()
}

/// FNV-1a, then a 64-bit finalizer: stable across builds and runs, so a key
/// keeps its endpoint over restarts.
pub fn hash_bytes(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_order_interleaves() {
        assert_eq!(&*smooth_order(&[1, 3]), &[1, 0, 1, 1]);
        assert_eq!(&*smooth_order(&[5, 1, 1]), &[0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(&*smooth_order(&[2, 4]), &[1, 0, 1], "reduced by the gcd");
    }

    #[test]
    fn a_ring_moves_only_the_keys_of_the_endpoint_that_left() {
        let eps: Vec<Endpoint> = (0..5).map(|i| format!("10.0.0.{i}:80").into()).collect();
        let full = ring(&eps);
        let less = ring(&eps[..4]);
        let owner = |r: &[(u64, u32)], h: u64| r[r.partition_point(|&(p, _)| p < h) % r.len()].1;
        let mut moved = 0;
        let mut share = [0u32; 5];
        for k in 0..10_000u32 {
            let h = hash_bytes(format!("user-{k}").as_bytes());
            let (a, b) = (owner(&full, h), owner(&less, h));
            share[a as usize] += 1;
            if a != b {
                assert_eq!(a, 4, "only the keys of the endpoint that left move");
                moved += 1;
            }
        }
        assert_eq!(moved, share[4]);
        for s in share {
            assert!((1_400..=2_600).contains(&s), "about 1/5 each: {share:?}");
        }
    }
}
