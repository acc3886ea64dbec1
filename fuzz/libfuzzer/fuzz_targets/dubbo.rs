//! libFuzzer entry of the `dubbo` target (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::dubbo(data));
