//! libFuzzer entry of the `hessian2` target (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::hessian2(data));
