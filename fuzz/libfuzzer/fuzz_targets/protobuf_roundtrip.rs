//! libFuzzer entry of the `protobuf_roundtrip` target (fuzz/src/roundtrip.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::protobuf_roundtrip(data));
