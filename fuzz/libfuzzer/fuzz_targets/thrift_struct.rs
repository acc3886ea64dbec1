//! libFuzzer entry of the `thrift_struct` target (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::thrift_struct(data));
