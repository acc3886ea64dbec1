//! What the call pipeline costs when none of its layers fires: one call
//! through the whole client stack (limit, breaker, retry, failover,
//! balance) to an endpoint that answers at once, against calling that
//! endpoint directly. All run on one current-thread runtime, so the
//! difference is the stack.
//!
//! `cargo bench -p gateway --bench pipeline`: prints criterion's times for
//! `direct`, the default stack with 1 and 3 endpoints, and the stack with
//! every layer configured (breakers, ejection, limits, retries with a
//! budget, least in flight) over 3 endpoints.

use std::hint::black_box;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use gateway::config::BackendConfig;
use gateway::pipeline::{self, CallMeta, Traffic};
use gateway::transport::TransportError;
use gateway::transport::pool::Exchange;
use tower::ServiceExt as _;

/// An endpoint that answers every request with its length, at once.
#[derive(Clone)]
struct Instant;

/// The length of a request, as a reply.
struct Len(usize);

impl gateway::transport::Answer for Len {
    fn remote_error(&self) -> bool {
        false
    }
}

impl gateway::transport::Connections for Instant {
    fn open_connections(&self) -> usize {
        1
    }
}

impl tower::Service<Exchange> for Instant {
    type Response = Len;
    type Error = TransportError;
    type Future = std::future::Ready<Result<Len, TransportError>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Exchange) -> Self::Future {
        std::future::ready(Ok(Len(req.frame.len())))
    }
}

fn calls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let request = Exchange {
        frame: Bytes::from_static(b"a request of some bytes"),
        oneway: false,
        idempotent: false,
        trace_at: None,
    };
    let mut g = c.benchmark_group("pipeline");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("direct", |b| {
        b.iter(|| {
            rt.block_on(Instant.oneshot(black_box(request.clone())))
                .unwrap()
                .0
        })
    });
    let every_layer = "[balance]\npolicy = \"least_inflight\"\n\
        [retry]\nmax_attempts = 2\n[breaker]\n[outlier]\n\
        [limit]\nmax_concurrency = 100000\nrate_per_s = 1000000000";
    for (name, n, sections) in [
        ("stack_1_endpoints", 1, ""),
        ("stack_3_endpoints", 3, ""),
        ("every_layer_3_endpoints", 3, every_layer),
    ] {
        let endpoints: Vec<String> = (0..n).map(|i| format!("\"10.0.0.{i}:1\"")).collect();
        let cfg: BackendConfig = toml::from_str(&format!(
            "name = \"b\"\nendpoints = [{}]\n{sections}",
            endpoints.join(", ")
        ))
        .unwrap();
        let timeout = Duration::from_secs(3);
        let traffic = rt.block_on(async { Traffic::new(&cfg, timeout, timeout) });
        let client = pipeline::client(&traffic, vec![Instant; n]);
        let policy = traffic.method("Svc", "m", false);
        g.bench_function(name, |b| {
            b.iter(|| {
                let meta = CallMeta::after(timeout);
                rt.block_on(pipeline::send(
                    &client,
                    black_box(request.clone()),
                    &policy,
                    meta,
                ))
                .unwrap()
                .0
            })
        });
    }
    g.finish();
}

criterion_group!(benches, calls);
criterion_main!(benches);
