//! Dubbo/Hessian2 transcoding throughput: a whole request frame from the
//! HTTP body (JSON parse, arguments as Hessian2 objects, attachments,
//! header), and a whole response frame back to JSON text, for a small DTO
//! (`AddRequest`) and a large one (1,000 items, ~100 KB of JSON).

use std::hint::black_box;
use std::time::Duration;

use codecs::dubbo::mapping::{self, DubboJsonOptions};
use codecs::dubbo::{self, Invocation, Outcome};
use codecs::hessian2::{Limits, Writer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idl::{MemoryFiles, Schema, Type};

const IDL: &str = r#"
namespace java bench
struct AddRequest { 1: i64 first, 2: i64 second }
struct Item { 1: i64 id, 2: string name, 3: double price, 4: list<string> tags, 5: bool active }
struct ItemList { 1: list<Item> items }
service Bench {
    AddRequest add(1: AddRequest req)
    ItemList items(1: ItemList req)
}
"#;

fn large_json(n: usize) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"id":{},"name":"item number {i}","price":{}.25,"tags":["red","green","t{}"],"active":{}}}"#,
                1_000_000 + i,
                i % 997,
                i % 13,
                i % 2 == 0
            )
        })
        .collect();
    format!(r#"{{"items":[{}]}}"#, items.join(","))
}

/// JSON body -> a Dubbo request frame, as the gateway builds it.
fn encode_request(
    schema: &Schema,
    ty: &Type,
    sig: &mapping::JavaSignature,
    body: &[u8],
    out: &mut Vec<u8>,
) {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap();
    let inv = Invocation {
        interface: "bench.Bench",
        method: &sig.method,
        descriptor: &sig.descriptor,
        timeout_ms: Some(3000),
        ..Default::default()
    };
    let (start, mut w) = dubbo::begin_request(&inv, out);
    let mut path = String::from("$");
    mapping::write_value(&mut w, schema, ty, None, &value, &mut path, 0).unwrap();
    dubbo::finish_request(&inv, 1, start, w, &[]);
}

/// A Dubbo response frame -> JSON text, as the gateway answers.
fn decode_response(schema: &Schema, ty: &Type, frame: &[u8], out: &mut Vec<u8>) {
    let r = dubbo::decode_response(frame, Limits::default()).unwrap();
    let Outcome::Value(v) = r.outcome else {
        panic!("not a value")
    };
    mapping::write_json(
        &v,
        &r.refs,
        schema,
        Some(ty),
        None,
        &DubboJsonOptions::default(),
        out,
        64 << 20,
    )
    .unwrap();
}

fn workload(c: &mut Criterion, schema: &Schema, group: &str, method: &str, json: &str) {
    let svc = schema.service("Bench").unwrap();
    let m = svc.methods.iter().find(|m| m.name == method).unwrap();
    let sig = mapping::signature(schema, m);
    let ty = m.result_type.clone().unwrap();
    // The reply: the same value, written as the provider would.
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut reply = Vec::new();
    dubbo::encode_response(1, true, &mut reply, |w: &mut Writer<&mut Vec<u8>>| {
        let mut path = String::from("$");
        mapping::write_value(w, schema, &ty, None, &value, &mut path, 0).unwrap();
    });
    let mut out = Vec::new();
    decode_response(schema, &ty, &reply, &mut out);
    let back: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        back, value,
        "{group}: JSON -> Hessian2 -> JSON changed the value"
    );
    let mut req = Vec::new();
    encode_request(schema, &ty, &sig, json.as_bytes(), &mut req);
    eprintln!(
        "{group}: {} bytes JSON, request frame {} bytes, response frame {} bytes",
        json.len(),
        req.len(),
        reply.len()
    );

    let mut g = c.benchmark_group(group);
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("json_to_dubbo_request", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            encode_request(schema, &ty, &sig, black_box(json.as_bytes()), &mut out);
            black_box(&out);
        })
    });
    g.throughput(Throughput::Bytes(reply.len() as u64));
    g.bench_function("dubbo_response_to_json", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            decode_response(schema, &ty, black_box(&reply), &mut out);
            black_box(&out);
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let schema =
        idl::thrift::load("bench.thrift", &MemoryFiles::new([("bench.thrift", IDL)])).unwrap();
    workload(
        c,
        &schema,
        "dubbo_add_request",
        "add",
        r#"{"first":512,"second":512}"#,
    );
    workload(
        c,
        &schema,
        "dubbo_large_1000_items",
        "items",
        &large_json(1000),
    );
}

criterion_group!(dubbo_benches, benches);
criterion_main!(dubbo_benches);
