#!/usr/bin/env bash
# Runs the libFuzzer campaigns of fuzz/ (cargo fuzz, nightly), one target
# after another, each for SECONDS (default 1800) or RUNS (default 10M)
# whichever ends first, on the corpus in fuzz/corpus/<target> (seeded with
# the codecs' own encodings). libFuzzer's limits make runaway allocation a
# crash: no single allocation over MALLOC_MB (default 64), no more than
# RSS_MB (default 1024) in all. A crash is minimized into
# fuzz/regressions/<target>/ and the script goes on with the next target.
#
#   e2e/fuzz.sh                       # every target
#   SECONDS_EACH=60 e2e/fuzz.sh protobuf hessian2
#
# Prints one line per target: runs, time, corpus size, crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${SECONDS_EACH:-1800}
RUNS=${RUNS:-10000000}
MALLOC_MB=${MALLOC_MB:-64}
RSS_MB=${RSS_MB:-1024}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/libfuzzer/Cargo.toml | grep -v kitegate-fuzz)
fi
# Seeds: valid encodings made by the codecs' encoders.
cargo run -q -p fuzz-targets --bin seeds -- fuzz/corpus
cargo +nightly fuzz build --fuzz-dir fuzz/libfuzzer -O
log=$(mktemp -d)
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/regressions/$t"
    start=$SECONDS
    set +e
    cargo +nightly fuzz run --fuzz-dir fuzz/libfuzzer -O "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -runs="$RUNS" -malloc_limit_mb="$MALLOC_MB" \
        -rss_limit_mb="$RSS_MB" -print_final_stats=1 \
        -artifact_prefix="$log/$t-" >"$log/$t.out" 2>&1
    rc=$?
    set -e
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log/$t.out" | grep -o '[0-9]*$' | tail -1)
    crashes=0
    for a in "$log/$t"-crash-* "$log/$t"-oom-* "$log/$t"-leak-* "$log/$t"-timeout-*; do
        [[ -f $a ]] || continue
        crashes=$((crashes + 1))
        min="fuzz/regressions/$t/$(basename "$a" | sed "s/^$t-//")"
        cargo +nightly fuzz tmin --fuzz-dir fuzz/libfuzzer -O "$t" "$a" >/dev/null 2>&1 || true
        cp "$(ls -t fuzz/libfuzzer/artifacts/"$t"/minimized-* 2>/dev/null | head -1 || echo "$a")" "$min" 2>/dev/null || cp "$a" "$min"
    done
    printf '%-18s runs=%-10s seconds=%-6s corpus=%-6s crashes=%s rc=%s\n' "$t" "${runs:-?}" "$((SECONDS - start))" \
        "$(ls "fuzz/corpus/$t" | wc -l)" "$crashes" "$rc"
    [[ $crashes -eq 0 ]] || tail -40 "$log/$t.out"
done
