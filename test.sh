#!/usr/bin/env bash
# Runs every test of kitegate on a fresh machine: installs the third-party
# test peers (thriftpy2 and grpcio in .venv, the Kitex servers and the Apache
# Dubbo peer in e2e/.cache, etcd, ZooKeeper and Chromium from Debian,
# playwright-core and Connect's gRPC-Web client from npm), checks format and lints, builds the binaries,
# runs unit, integration and end-to-end tests, and compiles the benchmarks
# so they never rot.
set -euo pipefail
# Incremental caches only help repeated local builds; a test run skips them
# to save disk and time.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
cd "$(dirname "$0")"
start=$SECONDS
step() { printf '\n== %s (%ss)\n' "$*" "$((SECONDS - start))"; }

step "python peers"; e2e/peers/python/setup.sh
step "kitex peers"; e2e/peers/kitex/build.sh; e2e/peers/kitex-pb/build.sh
step "dubbo peer"; e2e/peers/dubbo/build.sh
step "stores"; e2e/peers/stores/setup.sh
step "console test browser"; e2e/ui/setup.sh
step "node peers"; e2e/peers/node/setup.sh
step "curl"; command -v curl >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q curl >/dev/null; }
step "format"; cargo fmt --all -- --check
step "build"; cargo build --workspace --bins
step "clippy"; cargo clippy --workspace --all-targets -- -D warnings
# The benchmarks are built in the dev profile: they must compile and link;
# their optimized build is `cargo bench`'s, when they are run.
step "benchmarks compile"; cargo build --workspace --benches
step "tests"; cargo test --workspace
step "done"
