//! Dynamic vs static Protobuf transcoding, side by side.
//!
//! - `dynamic/*`: kitegate's transcoder (`codecs::protobuf`, canonical proto3
//!   JSON through a prost-reflect `DynamicMessage`) driven by the `.proto`
//!   loaded at run time with `idl::proto::load`.
//! - `static/*`: serde_json + prost-generated types with pbjson-generated
//!   serde impls + prost's encoder/decoder (crate `static-bench`, generated
//!   by prost-build and pbjson-build from the same `.proto` text).
//!
//! Before timing, each workload checks that both paths produce the same
//! Protobuf bytes from the same JSON (up to the order of map entries, which
//! the dynamic path keeps in a `HashMap`), and JSON that parses to the same
//! value. Throughput is the input size of each direction (JSON in for
//! `json_to_protobuf`, Protobuf in for `protobuf_to_json`).

use std::hint::black_box;
use std::time::Duration;

use codecs::protobuf::{PbDecodeOptions, PbEncodeOptions, json_to_message, message_to_json};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idl::MemoryFiles;
use idl::proto::ProtoSchema;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use static_bench::protobuf::{self as pb, AddRequest, LargeMessage};

fn schema() -> ProtoSchema {
    idl::proto::load(pb::IDL_NAME, &MemoryFiles::new([(pb::IDL_NAME, pb::IDL)]))
        .expect("bench .proto loads")
}

/// Runs the four measurements of one workload; `M` is the generated type
/// of the root message `root`. `map_entries` tells whether the message holds
/// maps with more than one entry, whose order on the wire the dynamic path
/// does not fix.
fn workload<M>(
    c: &mut Criterion,
    schema: &ProtoSchema,
    group: &str,
    root: &str,
    json: &[u8],
    map_entries: bool,
) where
    M: Message + Default + Serialize + DeserializeOwned,
{
    let desc = schema
        .pool
        .get_message_by_name(root)
        .expect("root message in the .proto");
    let enc = PbEncodeOptions::default();
    let dec = PbDecodeOptions::default();

    // Same bytes from both encoders.
    let mut dyn_bin = Vec::new();
    json_to_message(&desc, json, &enc, &mut dyn_bin).expect("dynamic encode");
    let mut static_bin = Vec::new();
    pb::json_to_protobuf::<M>(json, &mut static_bin).expect("static encode");
    if map_entries {
        // Re-encoding through the generated type (maps are BTreeMaps there)
        // puts map entries in key order; everything else must be as written.
        let sorted = M::decode(&dyn_bin[..])
            .expect("dynamic bytes decode statically")
            .encode_to_vec();
        assert!(
            dyn_bin.len() == static_bin.len() && sorted == static_bin,
            "{group}: dynamic and static Protobuf bytes differ beyond map entry order \
             ({} vs {} bytes)",
            dyn_bin.len(),
            static_bin.len()
        );
    } else {
        assert!(
            dyn_bin == static_bin,
            "{group}: dynamic and static Protobuf bytes differ ({} vs {} bytes)",
            dyn_bin.len(),
            static_bin.len()
        );
    }
    // The static bytes are deterministic: both decoders read them.
    let bin = static_bin;

    // Same JSON value from both decoders (and equal to the input).
    let mut dyn_json = Vec::new();
    message_to_json(&desc, &bin, &dec, &mut dyn_json).expect("dynamic decode");
    let mut static_json = Vec::new();
    pb::protobuf_to_json::<M>(&bin, &mut static_json).expect("static decode");
    let want: serde_json::Value = serde_json::from_slice(json).expect("input JSON");
    let got_dyn: serde_json::Value =
        serde_json::from_slice(&dyn_json).expect("dynamic JSON output");
    let got_static: serde_json::Value =
        serde_json::from_slice(&static_json).expect("static JSON output");
    assert!(
        got_dyn == want,
        "{group}: dynamic decode output differs from the input"
    );
    assert!(
        got_static == want,
        "{group}: static decode output differs from the input"
    );
    eprintln!(
        "{group}: {} bytes JSON in, {} bytes Protobuf, {} / {} bytes JSON out (dynamic / static)",
        json.len(),
        bin.len(),
        dyn_json.len(),
        static_json.len()
    );

    let mut g = c.benchmark_group(group);
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);

    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("dynamic/json_to_protobuf", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            json_to_message(&desc, black_box(json), &enc, &mut out).unwrap();
            black_box(&out);
        })
    });
    g.bench_function("static/json_to_protobuf", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            pb::json_to_protobuf::<M>(black_box(json), &mut out).unwrap();
            black_box(&out);
        })
    });

    g.throughput(Throughput::Bytes(bin.len() as u64));
    g.bench_function("dynamic/protobuf_to_json", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            message_to_json(&desc, black_box(&bin), &dec, &mut out).unwrap();
            black_box(&out);
        })
    });
    g.bench_function("static/protobuf_to_json", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            pb::protobuf_to_json::<M>(black_box(&bin), &mut out).unwrap();
            black_box(&out);
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let schema = schema();
    workload::<AddRequest>(
        c,
        &schema,
        "pb_add_request",
        "bench.AddRequest",
        &pb::add_request_json(),
        false,
    );
    workload::<LargeMessage>(
        c,
        &schema,
        "pb_large_1000_items",
        "bench.LargeMessage",
        &pb::large_json(1000),
        true,
    );
}

criterion_group!(protobuf, benches);
criterion_main!(protobuf);
