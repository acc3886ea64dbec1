//! What the call pipeline costs when none of its layers fires: one call
//! through the whole client stack (timeout, failover, balance) to an
//! endpoint that answers at once, against calling that endpoint directly.
//! Both run on one current-thread runtime, so the difference is the stack.
//!
//! `cargo bench -p gateway --bench pipeline`: prints criterion's times for
//! `direct` and `stack` with 1 and 3 endpoints.

use std::hint::black_box;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use gateway::pipeline::{self, Settings};
use gateway::transport::TransportError;
use tower::ServiceExt as _;

/// An endpoint that answers every request with its length, at once.
#[derive(Clone)]
struct Instant;

impl tower::Service<Bytes> for Instant {
    type Response = usize;
    type Error = TransportError;
    type Future = std::future::Ready<Result<usize, TransportError>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Bytes) -> Self::Future {
        std::future::ready(Ok(req.len()))
    }
}

fn calls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let request = Bytes::from_static(b"a request of some bytes");
    let mut g = c.benchmark_group("pipeline");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("direct", |b| {
        b.iter(|| {
            rt.block_on(Instant.oneshot(black_box(request.clone())))
                .unwrap()
        })
    });
    for n in [1, 3] {
        let settings = Settings {
            timeout: Duration::from_secs(3),
        };
        let client = pipeline::client(&settings, vec![Instant; n]);
        g.bench_function(format!("stack_{n}_endpoints"), |b| {
            b.iter(|| {
                rt.block_on(pipeline::send(&client, black_box(request.clone()), false))
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, calls);
criterion_main!(benches);
