//! What observing one request costs the front door: the measured exchange
//! (request id, metrics of the route, the answer's `x-request-id`) and one
//! try's metrics, against building the same answer alone. With the access
//! log off (the default) and on (no subscriber: the line is built and
//! dropped).
//!
//! `cargo bench -p gateway --bench observe`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use criterion::{Criterion, criterion_group, criterion_main};
use gateway::observe::access;
use gateway::observe::exchange::Exchange;
use gateway::observe::metrics::{MethodMetrics, Outcome, RouteMetrics};

fn answer() -> Response {
    let mut r = Response::new(Body::from(b"{\"sum\":1024}".to_vec()));
    *r.status_mut() = StatusCode::OK;
    r
}

fn exchange(route: &Arc<RouteMetrics>, method: &MethodMetrics) -> Response {
    let started = Instant::now();
    let mut headers = HeaderMap::new();
    let id = access::request_id(&mut headers);
    let (mut ex, body) = Exchange::start(route.clone(), started, id, Body::empty(), Some(30));
    let record = ex.log(&Method::POST, "/add", &headers);
    drop(body);
    method.record_try(0, Outcome::Ok, Duration::from_micros(40));
    if record.is_some() {
        access::record_try("127.0.0.1:9000", Duration::from_micros(40));
    }
    ex.finish(answer())
}

fn calls(c: &mut Criterion) {
    let route = Arc::new(RouteMetrics::new("hello", "Hello.add", "/add"));
    let method = MethodMetrics::new("hello", "Hello.add", vec!["127.0.0.1:9000".into()]);
    let mut g = c.benchmark_group("observe");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("answer_alone", |b| b.iter(|| black_box(answer())));
    g.bench_function("exchange_metrics", |b| {
        b.iter(|| black_box(exchange(&route, &method)))
    });
    access::enable();
    g.bench_function("exchange_metrics_access_log", |b| {
        b.iter(|| black_box(exchange(&route, &method)))
    });
    g.finish();
}

criterion_group!(benches, calls);
criterion_main!(benches);
