//! Generates the static types of `examples/idl/hello.thrift` (the built-in
//! hello service every gateway of the head-to-head benchmark calls) with
//! pilota-build and its serde plugin into `$OUT_DIR/hello.rs`: the structs,
//! and per method the `{Service}{Method}ArgsSend` / `ResultRecv` types a
//! volo-thrift client would encode and decode.

use std::path::PathBuf;

fn main() {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let idl = PathBuf::from("../../../examples/idl/hello.thrift");
    println!("cargo:rerun-if-changed=../../../examples/idl/hello.thrift");
    pilota_build::Builder::thrift()
        .plugin(pilota_build::plugin::SerdePlugin)
        .ignore_unused(false)
        .compile_with_config(
            vec![pilota_build::IdlService::from_path(idl)],
            pilota_build::Output::File(out_dir.join("hello.rs")),
        );
}
