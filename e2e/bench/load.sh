#!/usr/bin/env bash
# Load benchmark: `POST /add` through kitegate (release build) to the hello
# backend over Thrift/TTHeader, Kitex Protobuf/TTHeader, gRPC and Dubbo, and the
# same backend called directly by a native Thrift load client, in one run on
# this machine.
#
#   e2e/bench/load.sh            # 32 connections, 10 s each
#   CONNS=128 DURATION=20 e2e/bench/load.sh
#
# Prints requests/s, p50/p99 latency and the gateway's peak RSS, and keeps the
# raw output under e2e/bench/results/. Everything binds 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS=${CONNS:-32}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}

if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)"
    (apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; })
fi
cargo build --release -q --bin kitegate --bin hello_backend --bin thrift_load

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

backend_port=$(free_port)
target/release/hello_backend "127.0.0.1:$backend_port" >"$tmp/backend.out" 2>&1 &
pids+=($!)
gw_port=$(free_port)
cat >"$tmp/kitegate.toml" <<TOML
listen = "127.0.0.1:$gw_port"
builtin_hello = false
[[backends]]
name = "hello"
protocol = "thrift"
transport = "ttheader"
endpoints = ["127.0.0.1:$backend_port"]
idl = "$PWD/examples/idl/hello.thrift"
[[backends]]
name = "hello-pb"
protocol = "kitex-protobuf"
transport = "ttheader"
endpoints = ["127.0.0.1:$backend_port"]
idl = "$PWD/examples/idl/hello.proto"
prefix = "/kitex-pb"
[[backends]]
name = "hello-grpc"
protocol = "grpc"
endpoints = ["GRPC_ADDR"]
idl = "$PWD/examples/idl/hello.proto"
prefix = "/grpc"
[[backends]]
name = "hello-dubbo"
protocol = "dubbo"
endpoints = ["DUBBO_ADDR"]
idl = "$PWD/examples/idl/hello.thrift"
prefix = "/dubbo"
TOML
for _ in $(seq 100); do grep -q DUBBO "$tmp/backend.out" 2>/dev/null && break; sleep 0.05; done
grpc_addr=$(awk '/^GRPC / {print $2}' "$tmp/backend.out")
dubbo_addr=$(awk '/^DUBBO / {print $2}' "$tmp/backend.out")
sed -i "s/GRPC_ADDR/$grpc_addr/; s/DUBBO_ADDR/$dubbo_addr/" "$tmp/kitegate.toml"
RUST_LOG=warn target/release/kitegate --config "$tmp/kitegate.toml" >"$tmp/gw.out" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$gw_port/healthz" >/dev/null && break; sleep 0.05; done
test "$(curl -s -X POST "http://127.0.0.1:$gw_port/add" -d '{"first":512,"second":512}')" = '{"sum":1024}'

echo "warming up"
wrk -t"$THREADS" -c"$CONNS" -d2s -s e2e/bench/add.lua "http://127.0.0.1:$gw_port/add" >/dev/null
target/release/thrift_load "127.0.0.1:$backend_port" --transport ttheader --connections "$CONNS" --seconds 2 >/dev/null

stamp=$(date -u +%Y%m%dT%H%M%SZ)
raw="e2e/bench/results/load-$stamp-c$CONNS.txt"
{
    echo "# $(date -u) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "# kitegate: wrk -t$THREADS -c$CONNS -d${DURATION}s --latency POST /add"
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s e2e/bench/add.lua "http://127.0.0.1:$gw_port/add"
    echo "# gateway peak RSS: $(grep VmHWM /proc/$gw_pid/status)"
    for route in kitex-pb grpc dubbo; do
        echo "# kitegate /$route/add: wrk -t$THREADS -c$CONNS -d${DURATION}s --latency"
        wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s e2e/bench/add.lua "http://127.0.0.1:$gw_port/$route/add"
    done
    echo "# direct: thrift_load --transport ttheader --connections $CONNS --seconds $DURATION"
    target/release/thrift_load "127.0.0.1:$backend_port" --transport ttheader --connections "$CONNS" --seconds "$DURATION"
} | tee "$raw"

rps=$(awk '/Requests\/sec/ {print $2; exit}' "$raw")
p50=$(awk '/^ +50%/ {print $2; exit}' "$raw")
p99=$(awk '/^ +99%/ {print $2; exit}' "$raw")
nth() { awk -v n="$2" -v pat="$1" '$0 ~ pat {i++; if (i == n) {print $2; exit}}' "$raw"; }
rss=$(awk '/VmHWM/ {print $(NF-1)/1024 " MB"}' "$raw")
direct=$(tail -n1 "$raw")
echo
echo "| system | connections | requests/s | p50 | p99 | peak RSS |"
echo "|---|---|---|---|---|---|"
echo "| kitegate -> hello (Thrift/TTHeader) | $CONNS | $rps | $p50 | $p99 | $rss |"
echo "| kitegate -> hello (Kitex Protobuf/TTHeader) | $CONNS | $(nth 'Requests/sec' 2) | $(nth '^ +50%' 2) | $(nth '^ +99%' 2) | |"
echo "| kitegate -> hello (gRPC) | $CONNS | $(nth 'Requests/sec' 3) | $(nth '^ +50%' 3) | $(nth '^ +99%' 3) | |"
echo "| kitegate -> hello (Dubbo/Hessian2) | $CONNS | $(nth 'Requests/sec' 4) | $(nth '^ +50%' 4) | $(nth '^ +99%' 4) | |"
python3 - "$direct" "$CONNS" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
print(f"| hello called directly (thrift_load) | {sys.argv[2]} | {d['rps']:.0f} | {d['p50_ms']:.2f}ms | {d['p99_ms']:.2f}ms | - |")
PY
echo "raw output: $raw"
