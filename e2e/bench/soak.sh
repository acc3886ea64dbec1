#!/usr/bin/env bash
# Soak: DURATION seconds (default 600) of mixed load on a release kitegate
# with the built-in backend on every protocol, 127.0.0.1 only:
#   add over Thrift/TTHeader, Kitex Protobuf, gRPC and Dubbo; ~100 KB bodies
#   over Thrift (a 1,000-item list), gRPC and Dubbo (a 100 KB string echoed);
#   the gRPC server stream (20 messages); bad JSON
#   (400) and unknown routes (404); a route whose backend is registered
#   again every SWAP_EVERY seconds (default 5) through the admin API, with
#   its endpoint, framing and settings changed each time.
# Each kind of request is its own wrk run (CONNS connections, default 4;
# e2e/bench/soak.lua) that counts answers with another status than the
# one expected. Every 10 s the gateway's RSS, open file descriptors and
# tasks (kitegate_runtime_tasks) are sampled.
#
#   e2e/bench/soak.sh                       # 10 minutes
#   DURATION=120 WARMUP=30 e2e/bench/soak.sh
#
# Pass: no unexpected status and no socket error, and after WARMUP
# (default 60 s) RSS and file descriptors stay within 10% of their value
# at the end of the warm-up, while the load runs. Once it stops, one more
# sample shows what the idle gateway holds (after-load.csv). Writes the samples (CSV), the wrk outputs and
# an SVG chart under e2e/bench/results/soak-<time>/; exits 1 on a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-600}
WARMUP=${WARMUP:-60}
CONNS=${CONNS:-4}
SWAP_EVERY=${SWAP_EVERY:-5}
if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)"
    (apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; })
fi
cargo build --release -q --bin kitegate --bin hello_backend

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
out="e2e/bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# A second hello backend for the swapped registration to move between.
b1=$(free_port); b2=$(free_port)
target/release/hello_backend "127.0.0.1:$b1" >"$tmp/b1.out" 2>&1 & pids+=($!)
target/release/hello_backend "127.0.0.1:$b2" >"$tmp/b2.out" 2>&1 & pids+=($!)
gport=$(free_port); aport=$(free_port)
cat >"$tmp/k.toml" <<TOML
listen = "127.0.0.1:$gport"
admin_listen = "127.0.0.1:$aport"
state_dir = "$tmp/state"
TOML
RUST_LOG=warn target/release/kitegate --config "$tmp/k.toml" >"$out/kitegate.log" 2>&1 &
gw=$!; pids+=($gw)
base="http://127.0.0.1:$gport"; admin="http://127.0.0.1:$aport"
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
for _ in $(seq 100); do grep -q READY "$tmp/b1.out" && grep -q READY "$tmp/b2.out" && break; sleep 0.1; done

idl=$(python3 -c 'import json,sys; print(json.dumps(open("examples/idl/hello.thrift").read()))')
register() {  # endpoint, transport, timeout
    curl -sf -X PUT "$admin/admin/backends/swap" -H 'content-type: application/json' \
        -d "{\"protocol\":\"thrift\",\"transport\":\"$2\",\"endpoints\":[\"127.0.0.1:$1\"],\"prefix\":\"/swap\",\"timeout_ms\":$3,\"files\":{\"hello.thrift\":$idl}}" >/dev/null
}
register "$b1" framed 3000

printf '{"first":512,"second":512}' >"$tmp/add.json"
printf '{"first":512,' >"$tmp/bad.json"
python3 - "$tmp/large.json" <<'PY'
import json, sys
items = [{"id": 100000 + i, "name": f"item {i:04d}: a fixed name for the soak body",
          "price": (i % 400) * 0.25 + 0.5, "tags": ["soak", f"group-{i % 7}"],
          "active": i % 3 != 0} for i in range(1000)]
json.dump({"items": items}, open(sys.argv[1], "w"), separators=(",", ":"))
PY
python3 -c 'import json; print(json.dumps({"message": "soak " * 20000}))' >"$tmp/long.json"

# kind  method  path  body  expected status
loads=(
    "thrift-add POST /add $tmp/add.json 200"
    "kitex-pb-add POST /kitex-pb/add $tmp/add.json 200"
    "grpc-add POST /grpc/add $tmp/add.json 200"
    "dubbo-add POST /dubbo/add $tmp/add.json 200"
    "thrift-large POST /items $tmp/large.json 200"
    "grpc-large POST /grpc/echo $tmp/long.json 200"
    "dubbo-large POST /dubbo/echo $tmp/long.json 200"
    "grpc-stream GET /grpc/count?to=20 - 200"
    "bad-json POST /add $tmp/bad.json 400"
    "no-route GET /no/such/route - 404"
    "swapped POST /swap/add $tmp/add.json 200"
)
for l in "${loads[@]}"; do
    read -r kind method path body expect <<<"$l"
    [[ $body == - ]] && body=""
    SOAK_METHOD=$method SOAK_BODY=$body SOAK_EXPECT=$expect \
        wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s e2e/bench/soak.lua "$base$path" \
        >"$out/wrk-$kind.txt" 2>&1 &
    pids+=($!)
done

# Registrations swapped now and then, and the samples.
echo "t_s,rss_kb,fds,tasks" >"$out/samples.csv"
start=$SECONDS; next_sample=0; n=0
while (( SECONDS - start < DURATION )); do
    t=$((SECONDS - start))
    if (( t >= next_sample )); then
        rss=$(awk '/VmRSS/{print $2}' "/proc/$gw/status")
        fds=$(ls "/proc/$gw/fd" | wc -l)
        tasks=$(curl -s "$admin/metrics" | awk '/^kitegate_runtime_tasks /{print $2}')
        echo "$t,$rss,$fds,${tasks:-0}" >>"$out/samples.csv"
        next_sample=$((next_sample + 10))
    fi
    n=$((n + 1))
    if (( n % 2 )); then register "$b2" ttheader 2000; else register "$b1" framed 3000; fi
    sleep "$SWAP_EVERY"
done
wait "${pids[@]:3}" 2>/dev/null || true
# Once the load has stopped: what the gateway holds when idle again (not
# part of the flatness check; its connections are gone).
sleep 2
rss=$(awk '/VmRSS/{print $2}' "/proc/$gw/status"); fds=$(ls "/proc/$gw/fd" | wc -l)
tasks=$(curl -s "$admin/metrics" | awk '/^kitegate_runtime_tasks /{print $2}')
printf 't_s,rss_kb,fds,tasks\n%s,%s,%s,%s\n' "$((SECONDS - start))" "$rss" "$fds" "${tasks:-0}" >"$out/after-load.csv"
python3 e2e/bench/soak_chart.py "$out/samples.csv" "$out/soak.svg" "$WARMUP"

fail=0
echo "# soak: ${DURATION}s, $CONNS connections per kind, registration swapped every ${SWAP_EVERY}s ($n swaps)"
for l in "${loads[@]}"; do
    read -r kind _ _ _ _ <<<"$l"
    line=$(grep '^SOAK ' "$out/wrk-$kind.txt" || echo "SOAK seen=0 unexpected=? errors=?")
    rps=$(awk '/Requests\/sec/{print $2}' "$out/wrk-$kind.txt")
    printf '%-14s %s req/s=%s\n' "$kind" "$line" "${rps:-?}"
    [[ $line =~ unexpected=0\ errors=0$ ]] || fail=1
done
python3 - "$out/samples.csv" "$WARMUP" <<'PY' || fail=1
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
warm = float(sys.argv[2])
base = next(r for r in rows if float(r["t_s"]) >= warm)
after = [r for r in rows if float(r["t_s"]) >= warm]
ok = True
for k in ("rss_kb", "fds"):
    b = float(base[k]); hi = max(float(r[k]) for r in after); lo = min(float(r[k]) for r in after)
    drift = max(hi - b, b - lo) / b
    print(f"{k}: at warm-up end {b:.0f}, after it {lo:.0f}..{hi:.0f} ({drift:.1%} off){'' if drift <= 0.10 else '  FAIL'}")
    ok &= drift <= 0.10
t = [float(r["tasks"]) for r in after]
print(f"tasks: after warm-up {min(t):.0f}..{max(t):.0f}")
idle = list(csv.DictReader(open(sys.argv[1].replace("samples.csv", "after-load.csv"))))[0]
print(f"after the load: rss_kb {idle['rss_kb']}, fds {idle['fds']}, tasks {idle['tasks']}")
sys.exit(0 if ok else 1)
PY
echo "# results in $out"
if (( fail )); then echo "soak: FAIL"; exit 1; fi
echo "soak: pass"
