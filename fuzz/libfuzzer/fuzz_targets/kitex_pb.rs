//! libFuzzer entry of the `kitex_pb` target (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::kitex_pb(data));
