//! Writes the seeds of every target (`fuzz_targets::seeds`) into
//! `DIR/<target>/seed-<n>` (the corpus folders of `e2e/fuzz.sh`).
fn main() {
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    for (i, (target, input)) in fuzz_targets::seeds().into_iter().enumerate() {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).expect("corpus folder");
        std::fs::write(d.join(format!("seed-{i:04}")), input).expect("seed file");
    }
}
