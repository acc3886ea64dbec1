//! Generates the static types of both benchmarked protocols into `$OUT_DIR`:
//! - Thrift: `idl/bench.thrift` with pilota-build (serde derives) into
//!   `bench.rs`;
//! - Protobuf: `idl/bench.proto` compiled with protox (no `protoc` needed)
//!   into a `FileDescriptorSet`, then prost-build (messages) and pbjson-build
//!   (canonical proto3 JSON serde impls) into `protobuf/bench.rs` and
//!   `protobuf/bench.serde.rs`.

use std::path::PathBuf;

fn main() {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    thrift(&out_dir);
    protobuf(&out_dir);
}

fn thrift(out_dir: &std::path::Path) {
    let idl = PathBuf::from("idl/bench.thrift");
    println!("cargo:rerun-if-changed=idl/bench.thrift");
    pilota_build::Builder::thrift()
        .plugin(pilota_build::plugin::SerdePlugin)
        .ignore_unused(false)
        .compile_with_config(
            vec![pilota_build::IdlService::from_path(idl)],
            pilota_build::Output::File(out_dir.join("bench.rs")),
        );
}

fn protobuf(out_dir: &std::path::Path) {
    println!("cargo:rerun-if-changed=idl/bench.proto");
    let out = out_dir.join("protobuf");
    std::fs::create_dir_all(&out).expect("create $OUT_DIR/protobuf");
    let fds = protox::compile(["bench.proto"], ["idl"]).expect("idl/bench.proto compiles");

    // Maps as BTreeMap on both sides: entries are then encoded in key order,
    // so the static bytes are deterministic.
    prost_build::Config::new()
        .out_dir(&out)
        .btree_map(["."])
        .compile_fds(fds.clone())
        .expect("prost-build");

    let mut json = pbjson_build::Builder::new();
    for file in fds.file {
        json.register_file_descriptor(file);
    }
    json.out_dir(&out)
        .btree_map(["."])
        .build(&[".bench"])
        .expect("pbjson-build");
}
