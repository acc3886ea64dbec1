//! libFuzzer entry of the `thrift_roundtrip` target (fuzz/src/roundtrip.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::thrift_roundtrip(data));
