//! Generates the static Thrift types for `idl/bench.thrift` with pilota-build,
//! with serde derives, into `$OUT_DIR/bench.rs`.

use std::path::PathBuf;

fn main() {
    let idl = PathBuf::from("idl/bench.thrift");
    println!("cargo:rerun-if-changed=idl/bench.thrift");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("bench.rs");
    pilota_build::Builder::thrift()
        .plugin(pilota_build::plugin::SerdePlugin)
        .ignore_unused(false)
        .compile_with_config(
            vec![pilota_build::IdlService::from_path(idl)],
            pilota_build::Output::File(out),
        );
}
