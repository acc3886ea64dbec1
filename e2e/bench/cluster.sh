#!/usr/bin/env bash
# Cluster-mode benchmark against a real three-member etcd cluster (Debian's
# etcd-server; e2e/peers/stores/setup.sh), 127.0.0.1 only: the time from a
# registration's PUT answer on gateway A to the first request served by
# gateway B, over 20 registrations per round (median, min, max), ROUNDS
# rounds with fresh clusters. The gateways are the debug build the e2e
# tests use, so the times are an upper bound.
#
#   e2e/bench/cluster.sh            # ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
e2e/peers/stores/setup.sh >/dev/null
e2e/peers/python/setup.sh >/dev/null
cargo build -q --workspace --bins
out="e2e/bench/results/cluster-$(date -u +%Y%m%dT%H%M%SZ).txt"
for r in $(seq "$ROUNDS"); do
    cargo test -q -p e2e --test cluster propagation_timing -- --ignored --nocapture 2>/dev/null \
        | grep '^PROPAGATION' | sed "s/^/round=$r /" | tee -a "$out"
done
echo "raw: $out"
