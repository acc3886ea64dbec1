//! libFuzzer entry of the `json_to_thrift` target (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::json_to_thrift(data));
