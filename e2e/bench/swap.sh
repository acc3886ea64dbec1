#!/usr/bin/env bash
# Swap benchmark (release build, 127.0.0.1 only):
#  1. time from a `PUT /admin/backends/{name}` answered to the first request
#     served on the new route (20 registrations, each with a fresh route);
#  2. latency of a steady load on `POST /add` (wrk, 32 connections) for
#     DURATION seconds without changes, then for DURATION seconds while a
#     backend is replaced every 100 ms.
#
#   e2e/bench/swap.sh            # DURATION=10
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
if ! command -v wrk >/dev/null; then
    (apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; })
fi
cargo build --release -q --bin kitegate --bin hello_backend

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

bport=$(free_port); gport=$(free_port); aport=$(free_port)
target/release/hello_backend "127.0.0.1:$bport" >"$tmp/b.out" 2>&1 &
pids+=($!)
cat >"$tmp/k.toml" <<TOML
listen = "127.0.0.1:$gport"
admin_listen = "127.0.0.1:$aport"
state_dir = "$tmp/state"
TOML
RUST_LOG=warn target/release/kitegate --config "$tmp/k.toml" >"$tmp/gw.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$gport/healthz" >/dev/null && break; sleep 0.05; done

python3 - "$bport" "$gport" "$aport" "$DURATION" "$CONNS" <<'PY' | tee "e2e/bench/results/swap-$(date -u +%Y%m%dT%H%M%SZ).txt"
import json, subprocess, sys, threading, time, urllib.request, statistics

bport, gport, aport, duration, conns = sys.argv[1:6]
hello = open("examples/idl/hello.thrift").read()

def put(name, prefix):
    idl = hello.replace('"/hello"', f'"/{prefix}/hello"').replace('"/echo"', f'"/{prefix}/echo"').replace('"/add"', f'"/{prefix}/add"')
    body = json.dumps({"transport": "ttheader", "endpoints": [f"127.0.0.1:{bport}"], "files": {"hello.thrift": idl}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{aport}/admin/backends/{name}", data=body, method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        assert r.status in (200, 201), r.status

def call(path):
    req = urllib.request.Request(f"http://127.0.0.1:{gport}{path}", data=b'{"first":1,"second":2}', method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code

visible = []
for i in range(20):
    put(f"b{i}", f"p{i}")
    t0 = time.perf_counter()
    while call(f"/p{i}/add") != 200:
        pass
    visible.append((time.perf_counter() - t0) * 1000)
print(f"# PUT answered -> first request served on the new route, 20 registrations: "
      f"median {statistics.median(visible):.2f} ms, max {max(visible):.2f} ms")

def wrk():
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "--latency", "-s", "e2e/bench/add.lua",
                          f"http://127.0.0.1:{gport}/add"], capture_output=True, text=True, check=True).stdout
    lat = {l.split()[0]: l.split()[1] for l in out.splitlines() if l.strip().endswith(("ms", "us", "s")) and l.strip()[:3] in ("50%", "99%")}
    rps = next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec"))
    errors = [l.strip() for l in out.splitlines() if "Non-2xx" in l or "Socket errors" in l]
    return rps, lat.get("50%"), lat.get("99%"), errors

steady = wrk()
stop = threading.Event()
swaps = [0]
def swapper():
    while not stop.is_set():
        put("swapped", "swapped")
        swaps[0] += 1
        time.sleep(0.1)
t = threading.Thread(target=swapper); t.start()
during = wrk()
stop.set(); t.join()
print("| load on POST /add | requests/s | p50 | p99 | errors |")
print("|---|---|---|---|---|")
print(f"| steady | {steady[0]} | {steady[1]} | {steady[2]} | {steady[3] or 'none'} |")
print(f"| while replacing a backend every 100 ms ({swaps[0]} swaps) | {during[0]} | {during[1]} | {during[2]} | {during[3] or 'none'} |")
PY
