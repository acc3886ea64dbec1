//! Route lookup cost against the size of the route table.
//!
//! One Thrift backend whose IDL has N methods (N = 10, 1,000, 10,000), built
//! from generated IDL text through the public API (`idl::thrift::load` +
//! `MemoryFiles`, `Backend::new`, `RouteTable::build`): even methods are
//! `api.post = "/svc/mN"` (static paths), odd ones `api.get = "/items/:id/mN"`
//! (a path variable). Timed: `RouteTable::lookup` of a fixed static route
//! (`POST /svc/m4`) and of a fixed parameterized one (`GET /items/42/m5`),
//! both present in every table.
//!
//! `cargo bench -p gateway --bench routes`; after criterion's output it
//! prints the median ns per lookup and the ratios 1000/10 and 10000/10 (the
//! cost per lookup must stay flat: a radix tree per verb).

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::Method as HttpVerb;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gateway::backend::Backend;
use gateway::config::BackendConfig;
use gateway::routes::{Lookup, RouteTable};

const SIZES: [usize; 3] = [10, 1_000, 10_000];

/// The routes looked up, as (name, verb, path).
const PROBES: [(&str, HttpVerb, &str); 2] = [
    ("static", HttpVerb::POST, "/svc/m4"),
    ("param", HttpVerb::GET, "/items/42/m5"),
];

/// An IDL with `n` annotated methods.
fn idl_text(n: usize) -> String {
    let mut s = String::from(
        "namespace go bench\n\
         struct Req { 1: i64 id (api.path = \"id\") 2: string name }\n\
         struct Resp { 1: string value }\n\
         service Svc {\n",
    );
    for i in 0..n {
        if i % 2 == 0 {
            writeln!(s, "    Resp m{i}(1: Req req) (api.post = \"/svc/m{i}\")").unwrap();
        } else {
            writeln!(
                s,
                "    Resp m{i}(1: Req req) (api.get = \"/items/:id/m{i}\")"
            )
            .unwrap();
        }
    }
    s.push_str("}\n");
    s
}

/// The route table of one backend serving an IDL of `n` methods.
fn table(n: usize) -> RouteTable {
    let files = idl::MemoryFiles::new([("svc.thrift", idl_text(n))]);
    let schema = Arc::new(idl::thrift::load("svc.thrift", &files).expect("generated IDL loads"));
    let cfg = BackendConfig {
        name: "svc".into(),
        protocol: "thrift".into(),
        transport: "ttheader".into(),
        // Never dialled: building a backend does not connect.
        endpoints: vec!["127.0.0.1:9".into()],
        idl: "svc.thrift".into(),
        ..Default::default()
    };
    let backend = Arc::new(Backend::new(&cfg, schema, 3000, 1000).expect("backend builds"));
    let t = RouteTable::build(&[backend]).expect("routes build");
    assert_eq!(t.listing.len(), n);
    t
}

/// ns per lookup of every measured batch, by (probe, size): the ratios are
/// computed from the same loops criterion times.
type Samples = Vec<((&'static str, usize), f64)>;
static SAMPLES: Mutex<Samples> = Mutex::new(Vec::new());

fn lookups(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_lookup");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in SIZES {
        let t = table(n);
        for (probe, verb, path) in &PROBES {
            let Lookup::Found(_, params) = t.lookup(verb, path) else {
                panic!("{verb} {path} not found in the table of {n} routes");
            };
            assert_eq!(params.is_empty(), *probe == "static");
            group.bench_with_input(BenchmarkId::new(*probe, n), &n, |b, _| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        match t.lookup(black_box(verb), black_box(path)) {
                            Lookup::Found(r, p) => {
                                black_box((r, p));
                            }
                            _ => unreachable!(),
                        }
                    }
                    let elapsed = start.elapsed();
                    SAMPLES
                        .lock()
                        .unwrap()
                        .push(((*probe, n), elapsed.as_nanos() as f64 / iters as f64));
                    elapsed
                })
            });
        }
    }
    group.finish();
}

/// Prints the median ns per lookup by table size, and the ratios to the
/// 10-route table.
fn ratios() {
    let samples = SAMPLES.lock().unwrap();
    let median = |key: (&str, usize)| {
        let mut v: Vec<f64> = samples
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, ns)| *ns)
            .collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    println!();
    println!("| lookup | 10 routes | 1,000 routes | 10,000 routes | 1000/10 | 10000/10 |");
    println!("|---|---|---|---|---|---|");
    for (probe, verb, path) in &PROBES {
        let m: Vec<Option<f64>> = SIZES.iter().map(|&n| median((probe, n))).collect();
        let (Some(a), Some(b), Some(c)) = (m[0], m[1], m[2]) else {
            continue;
        };
        println!(
            "| {probe} ({verb} {path}) | {a:.1} ns | {b:.1} ns | {c:.1} ns | {:.2} | {:.2} |",
            b / a,
            c / a
        );
    }
}

criterion_group!(routes, lookups);
criterion_main!(routes, ratios);
