//! libFuzzer entry of the `grpc_frame` target (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::grpc_frame(data));
