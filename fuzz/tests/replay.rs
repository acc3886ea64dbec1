//! Every corpus and regression file (`fuzz/corpus/<target>/`,
//! `fuzz/regressions/<target>/`) and every seed, through the same target
//! functions the libFuzzer campaigns run, on stable: what once crashed
//! stays fixed, and the targets keep building.

use std::path::Path;

#[test]
fn corpora_and_regressions_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut ran = 0;
    for (name, target) in fuzz_targets::TARGETS {
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for e in entries {
                let path = e.unwrap().path();
                if path.is_file() {
                    target(&std::fs::read(&path).unwrap());
                    ran += 1;
                }
            }
        }
    }
    for (name, input) in fuzz_targets::seeds() {
        let (_, target) = fuzz_targets::TARGETS
            .iter()
            .find(|(n, _)| *n == name)
            .expect("a seed's target exists");
        target(&input);
        ran += 1;
    }
    assert!(ran > 100, "only {ran} inputs");
}

#[test]
fn every_target_has_a_libfuzzer_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in fuzz_targets::TARGETS {
        let bin = root
            .join("libfuzzer/fuzz_targets")
            .join(format!("{name}.rs"));
        let text =
            std::fs::read_to_string(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        assert!(
            text.contains(&format!("fuzz_targets::{name}(")),
            "{}",
            bin.display()
        );
    }
}

/// The structure-aware targets on a few thousand inputs of a fixed
/// pseudo-random sequence: their generated IDLs load, and every value
/// they build comes back unchanged.
#[test]
fn roundtrip_targets_on_random_inputs() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (name, target) in [
        (
            "thrift_roundtrip",
            fuzz_targets::thrift_roundtrip as fuzz_targets::Target,
        ),
        ("protobuf_roundtrip", fuzz_targets::protobuf_roundtrip),
    ] {
        for i in 0..1500 {
            let len = 16 + (next() % 512) as usize;
            let input: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let r = std::panic::catch_unwind(|| target(&input));
            assert!(r.is_ok(), "{name}: input {i} ({len} bytes) failed");
        }
    }
}
