#!/usr/bin/env bash
# Head-to-head benchmark: kitegate against the gateways people would use
# instead, and against floors, all in front of the same hello backend
# (target/release/hello_backend) on this machine.
#
#   e2e/bench/h2h.sh            # full: c32 and c128, 10 s runs, 2 s warm-up, 2 rounds (~12-15 min)
#   e2e/bench/h2h.sh --quick    # c32 only, 3 s runs, 1 s warm-up, 1 round (~1-2 min after builds)
#
# Systems (a Go peer whose binary is missing is skipped with a note):
#   kitegate      release build; backends: hello over Thrift binary/TTHeader
#                 (prefix "") and hello over gRPC (prefix /grpc)
#   hertz-kitex   e2e/.cache/bin/hertz-kitex-gw: Hertz + Kitex generic client
#                 (HTTP->Thrift, TTHeader), built by e2e/bench/peers/hertz-kitex*/build.sh
#   grpc-gateway  e2e/.cache/bin/grpc-gateway-hello: grpc-gateway v2 -> gRPC,
#                 built by e2e/bench/peers/grpc-gateway*/build.sh
#   static-rust   target/release/static_gateway: axum + pilota-generated types
#                 + kitegate's TTHeader client (the codegen ceiling)
#   floor-axum    target/release/floor_axum: axum answering a constant body
#                 (the HTTP server alone; it reads the request body)
#   floor-direct  target/release/thrift_load: a native Thrift client calling
#                 the backend's add directly (no gateway; add only)
#   kitegate-layers the same kitegate with every traffic layer configured
#                 and none firing: least-in-flight balancing, retries with a
#                 budget, breakers, outlier ejection, concurrency and rate
#                 limits (far above the load), health probes
#   kitegate-trace0, kitegate-trace1 the same kitegate with OpenTelemetry
#                 tracing at sample ratio 0 and 1.0, exporting to a live
#                 OTLP receiver (e2e/peers/python/otlp_receiver.py --count,
#                 from .venv: e2e/peers/python/setup.sh) started here; its
#                 CPU shows in foreign_cpu_pct (not in the default SYSTEMS)
#   kitegate-bare the same kitegate with observation off: metrics = false
#                 and no tracing (the access log is off in every kitegate
#                 run); against kitegate-trace0, what metrics on and tracing
#                 at ratio 0 cost (not in the default SYSTEMS)
#   kitegate-base another kitegate binary, $KITEGATE_BASE_BIN (e.g. a release
#                 build of an earlier commit), with the same config: before
#                 and after a change in one run (skipped when unset)
# Routes:
#   add           POST /add {"first":512,"second":512} -> {"sum":1024}
#   large         POST /items, a fixed 1,000-item ItemList (~100 KB), echoed
#   grpc-add      POST /grpc/add on kitegate, POST /add on grpc-gateway
#                 (which answers {"sum":"1024"}), any path on floor-axum
#   form-add      POST /add with first=512&second=512 as a URL-encoded form
#                 (kitegate only), against add in the same run
# A (system, route) pair that does not apply gets null numbers and a "note".
#
# Load: wrk -t$THREADS (2) at each connection count. Every measured run
# starts its gateway afresh (one gateway runs at a time, next to the one
# shared backend), warms it up with the same load, measures, and stops it.
# Runs alternate systems (every system for one (route, conns), then the
# next; every other round in reverse order), and the whole round is
# repeated ROUNDS times. Measured per run:
# requests/s, p50/p99/p99.9 latency (wrk's histogram via a lua done();
# thrift_load has no p99.9), gateway CPU seconds per 10,000 requests
# (utime+stime of the gateway process from /proc/<pid>/stat around the
# measured run) and the peak RSS during the measured run (VmHWM, reset
# through /proc/<pid>/clear_refs after the warm-up). Reported per pair with
# AGG=best (default): every number from the BEST round (the run with the
# most requests/s: on a shared machine the least disturbed one); AGG=mean:
# the mean over rounds (RSS: the max). rps_per_round and cpu_per_round
# keep every round; with more than one round, the median and the min-max
# of the round-by-round ratios to RATIO_TO are printed as well.
# The backend's CPU per 10k requests is reported too (backend_cpu_s_per_10k),
# and how busy the machine was with anything else during the runs
# (foreign_cpu_pct: CPU of processes other than the gateway, the backend and
# the load generator, and steal_pct, in % of the machine: of the reported run
# with AGG=best, the max over rounds with AGG=mean;
# a warning is printed above 5%: this is a shared 2-core machine).
#
# Outputs: raw output in e2e/bench/results/h2h-<UTC stamp>.txt, and
# e2e/bench/results/latest.json:
#   {"<system>": {"<route>": {"rps", "p50_ms", "p99_ms", "p999_ms",
#       "cpu_s_per_10k", "rss_mb", "backend_cpu_s_per_10k", "errors",
#       "foreign_cpu_pct", "steal_pct", "conns": 32, "rps_per_round": [...],
#       "cpu_per_round": [...],
#       "by_conns": {"c32": {same numbers}, "c128": {...}}}}}
# The route level holds the lowest connection count (32); by_conns holds
# every count measured. Also printed: a table with ratios to RATIO_TO
# (kitegate unless set).
#
# Overrides (env): DURATION, WARMUP (whole seconds), ROUNDS, AGG, RATIO_TO, CONNS_LIST
# ("32 128"), THREADS, SYSTEMS (subset, space separated), ROUTES (subset),
# H2H_NO_BUILD=1 (use target/release/* as they are), H2H_NO_PEER_BUILD=1
# (use the Go binaries as they are).
# Everything binds 127.0.0.1; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

MODE=full
for arg in "$@"; do
    case "$arg" in
        --quick) MODE=quick ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "h2h.sh: unknown argument $arg (use --quick)" >&2; exit 2 ;;
    esac
done
if [[ $MODE == quick ]]; then
    : "${DURATION:=3}" "${WARMUP:=1}" "${ROUNDS:=1}" "${CONNS_LIST:=32}"
else
    : "${DURATION:=10}" "${WARMUP:=2}" "${ROUNDS:=2}" "${CONNS_LIST:=32 128}"
fi
THREADS=${THREADS:-2}
AGG=${AGG:-best}
[[ $AGG == best || $AGG == mean ]] || { echo "h2h.sh: AGG must be best or mean" >&2; exit 2; }
ALL_SYSTEMS="kitegate kitegate-layers hertz-kitex grpc-gateway static-rust floor-axum floor-direct kitegate-base kitegate-bare kitegate-trace0 kitegate-trace1"
ALL_ROUTES="add large grpc-add form-add"
RATIO_TO=${RATIO_TO:-kitegate}
[[ " $ALL_SYSTEMS " == *" $RATIO_TO "* ]] || { echo "h2h.sh: RATIO_TO must be one of: $ALL_SYSTEMS" >&2; exit 2; }
SYSTEMS=${SYSTEMS:-${ALL_SYSTEMS% kitegate-bare kitegate-trace0 kitegate-trace1}}
ROUTES=${ROUTES:-$ALL_ROUTES}

ms() { date +%s%N | cut -c1-13; }
t_start=$(ms)
elapsed() { local t=$(( $(ms) - $1 )); printf '%d.%01ds' $((t / 1000)) $((t % 1000 / 100)); }

if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)"
    (apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; })
fi

# ---- builds ---------------------------------------------------------------
t=$(ms)
if [[ -z ${H2H_NO_BUILD:-} ]]; then
    cargo build --release -q --bin kitegate --bin hello_backend --bin thrift_load \
        --bin static_gateway --bin floor_axum
    echo "release builds ready ($(elapsed "$t"))"
else
    for b in kitegate hello_backend thrift_load static_gateway floor_axum; do
        [[ -x target/release/$b ]] || { echo "h2h.sh: target/release/$b missing (H2H_NO_BUILD set)" >&2; exit 1; }
    done
    echo "H2H_NO_BUILD: using the release binaries as they are"
fi

declare -A NOTE=()   # system -> why it is skipped
if [[ -z ${KITEGATE_BASE_BIN:-} || ! -x ${KITEGATE_BASE_BIN:-} ]]; then
    NOTE[kitegate-base]="skipped: KITEGATE_BASE_BIN is not set to an executable"
fi
peer_bin() {         # system name, binary, build script candidates...
    local sys=$1 bin=$2; shift 2
    local script=""
    for s in "$@"; do [[ -f $s ]] && { script=$s; break; }; done
    if [[ -z ${H2H_NO_PEER_BUILD:-} && -n $script ]]; then
        local t; t=$(ms)
        if bash "$script" >"$tmp/build-$sys.log" 2>&1; then
            echo "$sys: $script ok ($(elapsed "$t"))"
        else
            echo "$sys: $script failed ($(elapsed "$t")); last lines:"; tail -n 5 "$tmp/build-$sys.log" | sed 's/^/    /'
        fi
    elif [[ -z $script ]]; then
        echo "$sys: no build script ($*)"
    fi
    if [[ ! -x $bin ]]; then
        NOTE[$sys]="skipped: $bin missing (build script: ${script:-none})"
        echo "$sys: ${NOTE[$sys]}"
    fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tmp=$(mktemp -d)
declare -A PID=() URL=()   # the running gateway of a system (one at a time)
backend_pid=""
cleanup() {
    for p in "${PID[@]}" $backend_pid; do kill "$p" 2>/dev/null || true; done
    if [[ -n ${otlp_pid:-} ]]; then
        kill "$otlp_pid" 2>/dev/null || true
        wait "$otlp_pid" 2>/dev/null || true
        grep '^SPANS ' "$tmp/otlp.out" | sed 's/^/# otlp receiver: /' | tee -a "${raw:-/dev/null}" || true
    fi
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

want() { [[ " $SYSTEMS " == *" $1 "* ]]; }
HERTZ_BIN=e2e/.cache/bin/hertz-kitex-gw
GRPCGW_BIN=e2e/.cache/bin/grpc-gateway-hello
want hertz-kitex && peer_bin hertz-kitex "$HERTZ_BIN" \
    e2e/bench/peers/hertz-kitex/build.sh e2e/bench/peers/hertz-kitex-gw/build.sh
want grpc-gateway && peer_bin grpc-gateway "$GRPCGW_BIN" \
    e2e/bench/peers/grpc-gateway/build.sh e2e/bench/peers/grpc-gateway-hello/build.sh
t_built=$(ms)

# ---- inputs -----------------------------------------------------------------
printf '{"first":512,"second":512}' >"$tmp/add.json"
# 1,000 items, the same bytes every run (~100 KB).
python3 - "$tmp/large.json" <<'PY'
import json, sys
items = [{
    "id": 100000 + i,
    "name": f"item {i:04d}: a fixed name for the large benchmark body",
    "price": (i % 400) * 0.25 + 0.5,
    "tags": ["bench", f"group-{i % 7}", f"shelf-{i % 13:02d}"],
    "active": i % 3 != 0,
} for i in range(1000)]
with open(sys.argv[1], "w") as f:
    json.dump({"items": items}, f, separators=(",", ":"))
PY
printf 'first=512&second=512' >"$tmp/form-add.body"
cp "$tmp/add.json" "$tmp/add.body"
cp "$tmp/large.json" "$tmp/large.body"
content_type() { [[ $1 == form-add ]] && echo application/x-www-form-urlencoded || echo application/json; }
for r in add large form-add; do
    cat >"$tmp/$r.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "$(content_type "$r")"
local f = assert(io.open("$tmp/$r.body", "rb"))
wrk.body = f:read("*a")
f:close()
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("H2H requests=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d status_errors=%d socket_errors=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        latency:percentile(99.9), e.status, e.connect + e.read + e.write + e.timeout))
end
LUA
done

# ---- processes ----------------------------------------------------------------
# Each gateway is started afresh for every measured run (and once for the
# answer checks) and stopped after it: one gateway runs at a time, and its
# peak RSS belongs to that route alone.
wait_ready() { # file, seconds -> prints the READY address
    for _ in $(seq $(($2 * 20))); do
        grep -q '^READY ' "$1" 2>/dev/null && { awk '/^READY / {print $2; exit}' "$1"; return 0; }
        sleep 0.05
    done
    return 1
}

# The OTLP receiver of the traced systems.
otlp_pid="" otlp_port=""
if want kitegate-trace0 || want kitegate-trace1; then
    if [[ -x .venv/bin/python ]]; then
        .venv/bin/python e2e/peers/python/otlp_receiver.py --port 0 --count >"$tmp/otlp.out" 2>&1 &
        otlp_pid=$!
        otlp_port=$(wait_ready "$tmp/otlp.out" 20) || { cat "$tmp/otlp.out"; exit 1; }
    else
        NOTE[kitegate-trace0]="skipped: no .venv (run e2e/peers/python/setup.sh)"
        NOTE[kitegate-trace1]=${NOTE[kitegate-trace0]}
    fi
fi

backend_port=$(free_port)
target/release/hello_backend "127.0.0.1:$backend_port" >"$tmp/backend.out" 2>&1 &
backend_pid=$!
backend_addr=$(wait_ready "$tmp/backend.out" 10) || { cat "$tmp/backend.out"; exit 1; }
for _ in $(seq 100); do grep -q '^GRPC ' "$tmp/backend.out" && break; sleep 0.05; done
grpc_addr=$(awk '/^GRPC / {print $2}' "$tmp/backend.out")

# kitegate-layers: every traffic section, none firing at this load.
LAYERS='[SECTION.balance]
policy = "least_inflight"
[SECTION.retry]
max_attempts = 2
on = ["connect", "unavailable", "timeout"]
[SECTION.breaker]
[SECTION.outlier]
[SECTION.limit]
max_concurrency = 1000000
rate_per_s = 1000000000
[SECTION.health]
interval_ms = 1000'

# Starts a system's gateway on a free port: sets PID and URL; 1 if it did not come up.
launch() { # system
    local sys=$1 port addr
    port=$(free_port)
    case $sys in
        kitegate | kitegate-base | kitegate-bare | kitegate-layers | kitegate-trace*)
            local bin=target/release/kitegate layers="" tracing=""
            [[ $sys == kitegate-base ]] && bin=$KITEGATE_BASE_BIN
            [[ $sys == kitegate-bare ]] && tracing="metrics = false"
            [[ $sys == kitegate-layers ]] && layers=$LAYERS
            [[ $sys == kitegate-trace* ]] && tracing="[tracing]
otlp_endpoint = \"http://127.0.0.1:$otlp_port\"
sample_ratio = ${sys#kitegate-trace}.0"
            cat >"$tmp/kitegate.toml" <<TOML
listen = "127.0.0.1:$port"
builtin_hello = false
admin_listen = "off"
state_dir = "$tmp/kitegate-state"
$tracing
[[backends]]
name = "hello"
protocol = "thrift"
transport = "ttheader"
endpoints = ["$backend_addr"]
idl = "$PWD/examples/idl/hello.thrift"
${layers//SECTION/backends}
[[backends]]
name = "hello-grpc"
protocol = "grpc"
endpoints = ["$grpc_addr"]
idl = "$PWD/examples/idl/hello.proto"
prefix = "/grpc"
${layers//SECTION/backends}
TOML
            env RUST_LOG=warn "$bin" --config "$tmp/kitegate.toml" >"$tmp/$sys.out" 2>&1 & ;;
        static-rust) target/release/static_gateway "127.0.0.1:$port" "$backend_addr" >"$tmp/$sys.out" 2>&1 & ;;
        floor-axum) target/release/floor_axum "127.0.0.1:$port" >"$tmp/$sys.out" 2>&1 & ;;
        hertz-kitex)
            "$HERTZ_BIN" -listen "127.0.0.1:$port" -backend "$backend_addr" \
                -idl "$PWD/examples/idl/hello.thrift" >"$tmp/$sys.out" 2>&1 & ;;
        grpc-gateway) "$GRPCGW_BIN" -listen "127.0.0.1:$port" -backend "$grpc_addr" >"$tmp/$sys.out" 2>&1 & ;;
        *) return 1 ;;
    esac
    PID[$sys]=$!
    if [[ $sys == kitegate* ]]; then
        URL[$sys]="http://127.0.0.1:$port"
        for _ in $(seq 400); do curl -sf "${URL[$sys]}/healthz" >/dev/null && return 0; sleep 0.05; done
    elif addr=$(wait_ready "$tmp/$sys.out" 20); then
        URL[$sys]="http://$addr"
        return 0
    fi
    echo "$sys did not come up within 20 s; output:"; tail -n 5 "$tmp/$sys.out" | sed 's/^/    /'
    stop "$sys"
    return 1
}

# Stops a system's gateway (SIGTERM, SIGKILL after 5 s).
stop() { # system
    local pid=${PID[$1]:-}
    [[ -n $pid ]] || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        [[ $(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) =~ ^(Z|X|)$ ]] && break
        sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PID[$1]"
}

# ---- what runs where ----------------------------------------------------------
# path of a (system, route), empty when the pair does not apply
path_of() {
    case "$1:$2" in
        kitegate*:add | static-rust:add | hertz-kitex:add | floor-axum:add) echo /add ;;
        kitegate*:large | static-rust:large | hertz-kitex:large | floor-axum:large) echo /items ;;
        kitegate*:grpc-add | floor-axum:grpc-add) echo /grpc/add ;;
        kitegate*:form-add) echo /add ;;
        grpc-gateway:grpc-add) echo /add ;;
        floor-direct:add) echo direct ;;
        *) echo "" ;;
    esac
}
na_reason() { # system route
    [[ ${2:-} == form-add ]] && { echo "not applicable: form-add measures kitegate's form bodies"; return; }
    case "$1" in
        grpc-gateway) echo "not applicable: grpc-gateway fronts the gRPC backend only (grpc-add)" ;;
        hertz-kitex) echo "not applicable: hertz-kitex fronts the Thrift backend only" ;;
        static-rust) echo "not applicable: static-rust fronts the Thrift backend only" ;;
        floor-direct) echo "not applicable: thrift_load calls Thrift add only" ;;
        *) echo "not applicable" ;;
    esac
}

# Checks the answer of every pair once: semantic JSON equality.
check() { # system route path
    local sys=$1 route=$2 path=$3 body expect
    case $route in
        add | grpc-add) body=$tmp/add.json; expect='{"sum":1024}' ;;
        form-add) body=$tmp/form-add.body; expect='{"sum":1024}' ;;
        large) body=$tmp/large.json; expect=@$tmp/large.json ;;
    esac
    [[ $sys == grpc-gateway ]] && expect='{"sum":"1024"}'
    [[ $sys == floor-axum ]] && expect='{"sum":1024}'
    curl -s -o "$tmp/answer.json" -X POST -H "content-type: $(content_type "$route")" \
        --data-binary "@$body" "${URL[$sys]}$path" || return 1
    python3 - "$expect" "$tmp/answer.json" <<'PY'
import json, sys
e, g = sys.argv[1], open(sys.argv[2]).read()
if e.startswith("@"):
    e = open(e[1:]).read()
try:
    sys.exit(0 if json.loads(e) == json.loads(g) else 1)
except ValueError:
    print(f"not JSON: {g[:200]!r}", file=sys.stderr)
    sys.exit(1)
PY
}

declare -A RUN=()   # "sys route" -> path, for the pairs that run
records=$tmp/records.txt
: >"$records"
for sys in $SYSTEMS; do
    if [[ -z ${NOTE[$sys]:-} && $sys != floor-direct ]] && ! launch "$sys"; then
        NOTE[$sys]="skipped: did not start"
    fi
    for route in $ROUTES; do
        path=$(path_of "$sys" "$route")
        if [[ -z $path ]]; then
            echo "NOTE system=$sys route=$route $(na_reason "$sys" "$route")" >>"$records"
        elif [[ -n ${NOTE[$sys]:-} ]]; then
            echo "NOTE system=$sys route=$route ${NOTE[$sys]}" >>"$records"
        elif [[ $path != direct ]] && ! check "$sys" "$route" "$path"; then
            echo "$sys $route: unexpected answer from POST $path; skipped"
            echo "NOTE system=$sys route=$route skipped: unexpected answer from POST $path" >>"$records"
        else
            RUN["$sys $route"]=$path
        fi
    done
    stop "$sys"
done
for sys in $ALL_SYSTEMS; do
    want "$sys" && continue
    for route in $ALL_ROUTES; do
        echo "NOTE system=$sys route=$route skipped: not in SYSTEMS" >>"$records"
    done
done

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# Machine-wide ticks from /proc/stat: "total busy steal".
machine_ticks() { awk '/^cpu / {t = $2+$3+$4+$5+$6+$7+$8+$9; print t, t - $5 - $6 - $9, $9; exit}' /proc/stat; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
tck=$(getconf CLK_TCK)

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p e2e/bench/results
raw="e2e/bench/results/h2h-$stamp.txt"
{
    echo "# h2h $MODE $(date -u) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "# wrk -t$THREADS, connections: $CONNS_LIST, ${DURATION}s runs after ${WARMUP}s warm-up, $ROUNDS round(s); CLK_TCK $tck"
    echo "# large body: $(wc -c <"$tmp/large.json") bytes, 1,000 items"
    echo "# backend: hello_backend $backend_addr (gRPC $grpc_addr); git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    for sys in $SYSTEMS; do echo "# $sys: ${NOTE[$sys]:-ok}"; done
} >"$raw"

# ---- runs ---------------------------------------------------------------------
# One measured run on a freshly started gateway: appends a RECORD line;
# everything to the raw file.
measure() { # round system route path conns
    local round=$1 sys=$2 route=$3 path=$4 conns=$5 gw="" out=$tmp/run.out
    if [[ $sys != floor-direct ]]; then
        if ! launch "$sys"; then
            echo "NOTE system=$sys route=$route conns=$conns round $round: did not start" >>"$records"
            return
        fi
        gw=${PID[$sys]}
    fi
    # warm-up, then the measured run
    if [[ $sys == floor-direct ]]; then
        target/release/thrift_load "$backend_addr" --transport ttheader --connections "$conns" --seconds "$WARMUP" >/dev/null || true
    else
        wrk -t"$THREADS" -c"$conns" -d"${WARMUP}s" -s "$tmp/${route/grpc-add/add}.lua" "${URL[$sys]}$path" >/dev/null || true
        echo 5 >"/proc/$gw/clear_refs" 2>/dev/null || true
    fi
    local g0="" b0 g1="" b1 rss="" m0 m1
    [[ -n $gw ]] && g0=$(cpu_ticks "$gw")
    b0=$(cpu_ticks "$backend_pid")
    m0=$(machine_ticks)
    {
        echo
        echo "## round $round: $sys $route c$conns: ${URL[$sys]:-thrift_load $backend_addr}$([[ $path != direct ]] && echo "$path")"
    } >>"$raw"
    if [[ $sys == floor-direct ]]; then
        /usr/bin/time -f '%U %S' -o "$tmp/loadgen.time" \
            target/release/thrift_load "$backend_addr" --transport ttheader --connections "$conns" --seconds "$DURATION" >"$out" || true
    else
        /usr/bin/time -f '%U %S' -o "$tmp/loadgen.time" \
            wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency -s "$tmp/${route/grpc-add/add}.lua" "${URL[$sys]}$path" >"$out" || true
    fi
    m1=$(machine_ticks)
    b1=$(cpu_ticks "$backend_pid")
    if [[ -n $gw ]]; then
        g1=$(cpu_ticks "$gw" 2>/dev/null || echo "$g0")
        rss=$(hwm_kb "$gw" 2>/dev/null || true)
        stop "$sys"
    fi
    cat "$out" >>"$raw"
    local stats
    if [[ $sys == floor-direct ]]; then
        # thrift_load: {"requests", "rps", "p50_ms", "p99_ms", "errors"}; no p99.9
        stats=$(python3 - "$out" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
us = lambda ms: round(ms * 1000)
dur = round(d["requests"] / d["rps"] * 1e6) if d["rps"] else 0
print(f"requests={d['requests']} duration_us={dur} p50_us={us(d['p50_ms'])} "
      f"p99_us={us(d['p99_ms'])} p999_us=na status_errors=0 socket_errors={d['errors']}")
PY
)
    else
        stats=$(awk '/^H2H / {sub(/^H2H /, ""); print}' "$out")
    fi
    [[ -n $stats ]] || { echo "NOTE system=$sys route=$route conns=$conns round $round: no statistics" >>"$records"; return; }
    local rec="RECORD round=$round system=$sys route=$route conns=$conns $stats"
    rec+=" gw_ticks=$([[ -n $gw ]] && echo $((g1 - g0)) || echo na) backend_ticks=$((b1 - b0)) rss_kb=${rss:-na}"
    # The machine during the run: CPU of everything else (not the gateway,
    # the backend or the load generator) and steal, in % of its capacity.
    rec+=" $(awk -v a="$m0" -v b="$m1" -v g="$([[ -n $gw ]] && echo $((g1 - g0)) || echo 0)" \
        -v be="$((b1 - b0))" -v tck="$tck" -v lg="$(tail -n 1 "$tmp/loadgen.time")" 'BEGIN {
        split(a, x, " "); split(b, y, " "); split(lg, l, " ")
        t = y[1] - x[1]; busy = y[2] - x[2]; st = y[3] - x[3]
        other = busy - g - be - (l[1] + l[2]) * tck; if (other < 0) other = 0
        printf "loadgen_ticks=%d foreign_pct=%.1f steal_pct=%.1f", (l[1] + l[2]) * tck,
            t ? 100 * other / t : 0, t ? 100 * st / t : 0 }')"
    echo "$rec" | tee -a "$raw" >>"$records"
    printf '  %-13s %-9s c%-4s %s\n' "$sys" "$route" "$conns" \
        "$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^(requests|p99_us)=/) printf "%s ", $i}' <<<"$stats")"
}

t_bench=$(ms)
for round in $(seq "$ROUNDS"); do
    echo "round $round/$ROUNDS"
    for route in $ROUTES; do
        for conns in $CONNS_LIST; do
            order=$SYSTEMS
            # Every other round runs the systems in reverse, so that a
            # drift of the machine over a round weighs on each alike.
            (( round % 2 == 0 )) && order=$(printf '%s\n' $SYSTEMS | tac | xargs)
            for sys in $order; do
                path=${RUN["$sys $route"]:-}
                [[ -n $path ]] || continue
                measure "$round" "$sys" "$route" "$path" "$conns"
            done
        done
    done
done
bench_time=$(elapsed "$t_bench")

# ---- report ---------------------------------------------------------------------
python3 - "$records" "$tck" "e2e/bench/results/latest.json" "$ALL_SYSTEMS" "$ALL_ROUTES" "$CONNS_LIST" "$AGG" "$RATIO_TO" <<'PY' | tee -a "$raw"
import json, sys
from collections import defaultdict

records_file, tck, out, systems, routes, conns_list, AGG, REF = sys.argv[1:9]
tck = float(tck)
systems, routes = systems.split(), routes.split()
conns_list = sorted(int(c) for c in conns_list.split())

def num(v):
    return None if v == "na" else float(v)

runs = defaultdict(list)   # (sys, route, conns) -> [record]
notes = {}
for line in open(records_file):
    kind, _, rest = line.strip().partition(" ")
    if kind == "NOTE":
        words = rest.split(" ")
        kv = dict(w.split("=", 1) for w in words[:2])
        notes.setdefault((kv["system"], kv["route"]), " ".join(words[2:]))
        continue
    kv = dict(w.split("=", 1) for w in rest.split())
    runs[kv["system"], kv["route"], int(kv["conns"])].append(kv)

def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None

def summarize(rs):
    per = []
    for r in rs:
        req = num(r["requests"])
        dur = num(r["duration_us"]) / 1e6
        ms = lambda k: None if num(r[k]) is None else num(r[k]) / 1000
        per_10k = lambda k: None if num(r[k]) is None or not req else num(r[k]) / tck / req * 10000
        per.append({
            "rps": req / dur if dur else 0.0,
            "p50_ms": ms("p50_us"), "p99_ms": ms("p99_us"), "p999_ms": ms("p999_us"),
            "cpu_s_per_10k": per_10k("gw_ticks"),
            "backend_cpu_s_per_10k": per_10k("backend_ticks"),
            "rss_mb": None if num(r["rss_kb"]) is None else num(r["rss_kb"]) / 1024,
            "errors": int(num(r["status_errors"]) + num(r["socket_errors"])),
            "foreign_cpu_pct": num(r.get("foreign_pct", "na")),
            "steal_pct": num(r.get("steal_pct", "na")),
        })
    rnd = lambda v, n: None if v is None else round(v, n)
    if AGG == "best":
        # Every number from the one run with the most requests/s.
        best = max(per, key=lambda p: p["rps"])
        pick = lambda k: best[k]
        foreign, steal = best["foreign_cpu_pct"] or 0, best["steal_pct"] or 0
    else:
        rss = [p["rss_mb"] for p in per if p["rss_mb"] is not None]
        pick = lambda k: (max(rss) if rss else None) if k == "rss_mb" else mean(p[k] for p in per)
        foreign = max((p["foreign_cpu_pct"] or 0) for p in per)
        steal = max((p["steal_pct"] or 0) for p in per)
    return {
        "rps": rnd(pick("rps"), 0),
        "p50_ms": rnd(pick("p50_ms"), 3),
        "p99_ms": rnd(pick("p99_ms"), 3),
        "p999_ms": rnd(pick("p999_ms"), 3),
        "cpu_s_per_10k": rnd(pick("cpu_s_per_10k"), 4),
        "rss_mb": rnd(pick("rss_mb"), 1),
        "backend_cpu_s_per_10k": rnd(pick("backend_cpu_s_per_10k"), 4),
        "errors": sum(p["errors"] for p in per),
        "rps_per_round": [round(p["rps"]) for p in per],
        "cpu_per_round": [rnd(p["cpu_s_per_10k"], 4) for p in per],
        # CPU used by other processes on the machine during the run(s), %.
        "foreign_cpu_pct": foreign,
        "steal_pct": steal,
    }

EMPTY = dict.fromkeys(["rps", "p50_ms", "p99_ms", "p999_ms", "cpu_s_per_10k", "rss_mb"])
result = {}
for s in systems:
    result[s] = {}
    for r in routes:
        by = {f"c{c}": summarize(runs[s, r, c]) for c in conns_list if runs.get((s, r, c))}
        if by:
            first = next(iter(by.values()))
            entry = dict(first, conns=int(next(iter(by))[1:]), by_conns=by)
        else:
            entry = dict(EMPTY, note=notes.get((s, r), "no data"))
        result[s][r] = entry
with open(out, "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")

def fmt(v, unit="", n=2):
    return "-" if v is None else f"{v:.{n}f}{unit}"
def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"

print()
rounds = max((len(v) for v in runs.values()), default=0)
if rounds <= 1:
    print("One round per pair.", end=" ")
elif AGG == "best":
    print(f"Best of {rounds} rounds: every number from the run with the most req/s.", end=" ")
else:
    print(f"Means over {rounds} rounds (RSS: max).", end=" ")
print(f"Ratios: system / {REF}, same route and connections.")
print("| system | route | conns | req/s | p50 | p99 | p99.9 | CPU s/10k | RSS MB | req/s ratio | p99 ratio | CPU ratio |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in routes:
    for c in conns_list:
        base = result[REF][r].get("by_conns", {}).get(f"c{c}")
        for s in systems:
            e = result[s][r].get("by_conns", {}).get(f"c{c}")
            if not e:
                continue
            err = f" ({e['errors']} errors)" if e["errors"] else ""
            print(f"| {s} | {r} | {c} | {e['rps']:.0f}{err} | {fmt(e['p50_ms'], 'ms')} | {fmt(e['p99_ms'], 'ms')} | "
                  f"{fmt(e['p999_ms'], 'ms')} | {fmt(e['cpu_s_per_10k'], '', 3)} | {fmt(e['rss_mb'], '', 1)} | "
                  f"{ratio(e['rps'], base and base['rps'])} | {ratio(e['p99_ms'], base and base['p99_ms'])} | "
                  f"{ratio(e['cpu_s_per_10k'], base and base['cpu_s_per_10k'])} |")
if rounds > 1:
    # Rounds run the systems back to back, so a round's ratio compares
    # runs made under the same load of the machine: the median over rounds
    # and its spread (min-max) say more than one ratio of bests.
    print()
    print(f"Paired ratios to {REF}, round by round: median [min, max] over {rounds} rounds.")
    print("| system | route | conns | req/s ratio | CPU s/10k ratio |")
    print("|---|---|---|---|---|")
    def paired(a, b):
        q = sorted(x / y for x, y in zip(a, b) if x is not None and y)
        if not q:
            return "-"
        mid = len(q) // 2
        med = q[mid] if len(q) % 2 else (q[mid - 1] + q[mid]) / 2
        return f"{med:.3f} [{q[0]:.3f}, {q[-1]:.3f}]"
    for r in routes:
        for c in conns_list:
            base = result[REF][r].get("by_conns", {}).get(f"c{c}")
            for s in systems:
                e = result[s][r].get("by_conns", {}).get(f"c{c}")
                if not e or not base or s == REF:
                    continue
                print(f"| {s} | {r} | {c} | {paired(e['rps_per_round'], base['rps_per_round'])} | "
                      f"{paired(e['cpu_per_round'], base['cpu_per_round'])} |")
noisy = sorted({f"{s} {r} c{c} ({e['foreign_cpu_pct']:.0f}%)" for s in systems for r in routes
                for c, e in ((int(k[1:]), v) for k, v in result[s][r].get("by_conns", {}).items())
                if e["foreign_cpu_pct"] > 5})
if noisy:
    print(f"warning: other processes used more than 5% of the machine during: {', '.join(noisy)}")
skipped = sorted({n for (s, r), n in notes.items() if not n.startswith("not applicable")})
for n in skipped:
    print(f"note: {n}")
PY
echo "raw output: $raw; JSON: e2e/bench/results/latest.json"
echo "timing: builds $(( (t_built - t_start) / 1000 ))s, runs $bench_time, total $(elapsed "$t_start")"
