//! What observing one request costs the front door: the measured exchange
//! (request id, metrics of the route, the answer's `x-request-id`) and one
//! try's metrics, against building the same answer alone. Then with
//! tracing on at sample ratio 0 (exporting to a port nobody listens on),
//! the `traceparent` the call sends included: a request with no
//! `traceparent` (a new trace, not recorded: what ratio 0 costs), one
//! whose parent is not sampled, and one whose parent is (the server span
//! built, ended and queued for export; the exporter's thread aside); last,
//! a new trace with the access log on as well (no subscriber: the line is
//! built and dropped).
//!
//! `exchange_metrics_threads` runs the metrics-only exchange on as many
//! threads as there are cores at once, on one route (the time is per
//! exchange per thread): what the route's counters cost when every core
//! writes them.
//!
//! `cargo bench -p gateway --bench observe`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use criterion::{Criterion, criterion_group, criterion_main};
use gateway::observe::access;
use gateway::observe::exchange::Exchange;
use gateway::observe::metrics::{MethodMetrics, Outcome, RouteMetrics};
use gateway::observe::trace::Propagated;

fn answer() -> Response {
    let mut r = Response::new(Body::from(b"{\"sum\":1024}".to_vec()));
    *r.status_mut() = StatusCode::OK;
    r
}

fn exchange(route: &'static RouteMetrics, method: &MethodMetrics, headers: &HeaderMap) -> Response {
    let started = Instant::now();
    let mut headers = headers.clone();
    let id = access::request_id(&mut headers);
    let (mut ex, body) = Exchange::start(route, started, id, Body::empty(), Some(30));
    let record = ex.log(&Method::POST, "/add", &headers);
    drop(body);
    let call = async {
        // What the call sends its backend, and its try's records.
        black_box(Propagated::of_request(&headers));
        method.record_try(0, Outcome::Ok, Duration::from_micros(40));
        access::record_try("127.0.0.1:9000", Duration::from_micros(40));
    };
    match record {
        Some(r) => run(access::with_record(r, call)),
        None => run(call),
    }
    ex.finish(answer())
}

/// Runs a future that does not wait to its end, on this thread.
fn run(f: impl Future<Output = ()>) {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(f.as_mut().poll(&mut cx).is_ready());
}

fn calls(c: &mut Criterion) {
    let route = RouteMetrics::of("hello", "Hello.add", "/add");
    let method = MethodMetrics::new("hello", "Hello.add", vec!["127.0.0.1:9000".into()]);
    let mut g = c.benchmark_group("observe");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("answer_alone", |b| b.iter(|| black_box(answer())));
    let none = HeaderMap::new();
    g.bench_function("exchange_metrics", |b| {
        b.iter(|| black_box(exchange(route, &method, &none)))
    });
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    g.bench_function("exchange_metrics_threads", |b| {
        b.iter_custom(|iters| {
            let start = std::sync::Barrier::new(threads);
            let took: Vec<Duration> = std::thread::scope(|s| {
                let runs: Vec<_> = (0..threads)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            let t = Instant::now();
                            for _ in 0..iters {
                                black_box(exchange(route, &method, &none));
                            }
                            t.elapsed()
                        })
                    })
                    .collect();
                runs.into_iter().map(|r| r.join().unwrap()).collect()
            });
            took.into_iter().max().unwrap_or_default()
        })
    });
    let _rt = rt_with_tracing_at_ratio_0();
    g.bench_function("exchange_metrics_trace0", |b| {
        b.iter(|| black_box(exchange(route, &method, &none)))
    });
    let mut unsampled = HeaderMap::new();
    unsampled.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
            .parse()
            .unwrap(),
    );
    g.bench_function("exchange_metrics_trace0_unsampled_parent", |b| {
        b.iter(|| black_box(exchange(route, &method, &unsampled)))
    });
    let mut sampled = HeaderMap::new();
    sampled.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    g.bench_function("exchange_metrics_trace_sampled_parent", |b| {
        b.iter(|| black_box(exchange(route, &method, &sampled)))
    });
    access::enable();
    g.bench_function("exchange_metrics_trace0_access_log", |b| {
        b.iter(|| black_box(exchange(route, &method, &none)))
    });
    g.finish();
}

/// Tracing on at sample ratio 0, exporting to a port nobody listens on;
/// the runtime the exporter's client was made in.
fn rt_with_tracing_at_ratio_0() -> tokio::runtime::Runtime {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    {
        let _in = rt.enter();
        let cfg = gateway::config::TracingConfig {
            otlp_endpoint: format!("http://127.0.0.1:{port}"),
            sample_ratio: 0.0,
            ..Default::default()
        };
        gateway::observe::trace::init(&cfg).unwrap();
    }
    rt
}

criterion_group!(benches, calls);
criterion_main!(benches);
