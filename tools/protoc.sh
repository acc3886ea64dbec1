#!/usr/bin/env bash
# protoc for build scripts (see tools/protoc/src/main.rs): built once into
# target/protoc with the same cargo, then run with the arguments given.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/../target/protoc/release/protoc-protox"
if [[ ! -x $bin || $here/protoc/src/main.rs -nt $bin ]]; then
    "${CARGO:-cargo}" build -q --release --locked \
        --manifest-path "$here/protoc/Cargo.toml" --target-dir "$here/../target/protoc" >&2
fi
exec "$bin" "$@"
