#!/usr/bin/env bash
# Discovery benchmark (release build, 127.0.0.1 only), against a real etcd
# (Debian's etcd-server; e2e/peers/stores/setup.sh):
#  1. time from an etcd key change (registry-etcd's layout, written through
#     etcd's JSON gateway) to the balancer seeing it in the admin API, for
#     20 additions and 20 removals;
#  2. throughput of `POST /add` over the same two hello backends, as fixed
#     endpoints and as endpoints discovered in etcd, alternating ROUNDS
#     times (wrk -t2, CONNS connections, DURATION seconds each).
#
#   e2e/bench/discovery.sh            # ROUNDS=3 DURATION=5 CONNS=32
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-5}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-3}
e2e/peers/stores/setup.sh >/dev/null
if ! command -v wrk >/dev/null; then
    (apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; })
fi
[[ -n ${NO_BUILD:-} ]] || cargo build --release -q --bin kitegate --bin hello_backend

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

ec=$(free_port); ep=$(free_port)
etcd --name b --data-dir "$tmp/etcd" --log-level warn \
    --listen-client-urls "http://127.0.0.1:$ec" --advertise-client-urls "http://127.0.0.1:$ec" \
    --listen-peer-urls "http://127.0.0.1:$ep" --initial-advertise-peer-urls "http://127.0.0.1:$ep" \
    --initial-cluster "b=http://127.0.0.1:$ep" >"$tmp/etcd.out" 2>&1 &
pids+=($!)
backends=()
for i in 1 2 3; do
    p=$(free_port)
    target/release/hello_backend "127.0.0.1:$p" >"$tmp/b$i.out" 2>&1 &
    pids+=($!)
    backends+=("127.0.0.1:$p")
done
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ec/health" | grep -q true && break; sleep 0.1; done
gport=$(free_port); aport=$(free_port)
cat >"$tmp/k.toml" <<TOML
listen = "127.0.0.1:$gport"
admin_listen = "127.0.0.1:$aport"
state_dir = "$tmp/state"
builtin_hello = false

[[backends]]
name = "static"
transport = "ttheader"
idl = "$PWD/examples/idl/hello.thrift"
prefix = "/s"
endpoints = ["${backends[0]}", "${backends[1]}"]

[[backends]]
name = "discovered"
transport = "ttheader"
idl = "$PWD/examples/idl/hello.thrift"
prefix = "/d"
discovery = { kind = "etcd", endpoints = ["127.0.0.1:$ec"], service = "hello" }
TOML

python3 - "$ec" "$gport" "$aport" "$DURATION" "$CONNS" "$ROUNDS" "${backends[@]}" "$tmp/k.toml" <<'PY' | tee "e2e/bench/results/discovery-$(date -u +%Y%m%dT%H%M%SZ).txt"
import base64, json, statistics, subprocess, sys, time, urllib.request

ec, gport, aport, duration, conns, rounds = sys.argv[1:7]
b1, b2, b3, cfg = sys.argv[7:11]

def etcd(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{ec}{path}", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req) as r:
        return json.load(r)

def b64(s):
    return base64.b64encode(s.encode()).decode()

def put(addr):
    value = json.dumps({"network": "tcp", "address": addr, "weight": 10, "tags": {}})
    etcd("/v3/kv/put", {"key": b64(f"kitex/registry-etcd/hello/{addr}"), "value": b64(value)})

def delete(addr):
    etcd("/v3/kv/deleterange", {"key": b64(f"kitex/registry-etcd/hello/{addr}")})

def seen():
    with urllib.request.urlopen(f"http://127.0.0.1:{aport}/admin/backends/discovered") as r:
        return {e["addr"] if isinstance(e, dict) else e for e in json.load(r)["endpoints"]}

put(b1); put(b2)
gw = subprocess.Popen(["target/release/kitegate", "--config", cfg], stderr=subprocess.DEVNULL,
                      env={"RUST_LOG": "warn", "PATH": "/usr/bin:/bin"})
try:
    for _ in range(200):
        try:
            if seen() == {b1, b2}:
                break
        except Exception:
            pass
        time.sleep(0.05)
    added, removed = [], []
    for _ in range(20):
        t0 = time.perf_counter(); put(b3)
        while b3 not in seen():
            pass
        added.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter(); delete(b3)
        while b3 in seen():
            pass
        removed.append((time.perf_counter() - t0) * 1000)
    print("# etcd key change (put answered) -> the balancer's set in the admin API, 20 each:")
    print(f"#   added:   median {statistics.median(added):.2f} ms, max {max(added):.2f} ms")
    print(f"#   removed: median {statistics.median(removed):.2f} ms, max {max(removed):.2f} ms")

    def wrk(prefix):
        out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "-s", "e2e/bench/add.lua",
                              f"http://127.0.0.1:{gport}{prefix}/add"], capture_output=True, text=True, check=True).stdout
        bad = [l.strip() for l in out.splitlines() if "Non-2xx" in l or "Socket errors" in l]
        assert not bad, bad
        return float(next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec")))

    wrk("/s")  # warm-up
    rows = {"/s": [], "/d": []}
    for _ in range(int(rounds)):
        for p in ("/s", "/d"):
            rows[p].append(wrk(p))
    print(f"| POST /add, {conns} connections, {duration} s rounds | req/s per round | mean | spread |")
    print("|---|---|---|---|")
    for p, name in (("/s", "fixed endpoints"), ("/d", "discovered in etcd")):
        v = rows[p]
        print(f"| {name} | {' '.join(f'{x:,.0f}' for x in v)} | {statistics.mean(v):,.0f} | "
              f"{statistics.stdev(v) / statistics.mean(v) * 100 if len(v) > 1 else 0:.0f} % |")
    ratios = [d / s for d, s in zip(rows["/d"], rows["/s"])]
    print(f"# discovered / fixed, paired by round: median {statistics.median(ratios):.2f} "
          f"({min(ratios):.2f}-{max(ratios):.2f})")
finally:
    gw.terminate(); gw.wait()
PY
