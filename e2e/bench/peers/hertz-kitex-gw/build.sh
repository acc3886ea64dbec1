#!/usr/bin/env bash
# Build the Hertz + Kitex generic-call gateway benchmark peer (HTTP/JSON ->
# Thrift over TTHeader, routes and mapping read from the IDL at run time).
#
#   e2e/bench/peers/hertz-kitex-gw/build.sh          # -> e2e/.cache/bin/hertz-kitex-gw
#   FORCE=1 e2e/bench/peers/hertz-kitex-gw/build.sh  # rebuild even if up to date
#
# No code generation: Kitex's HTTP generic call (generic.HTTPThriftGeneric
# with dynamicgo) reads the IDL when the gateway starts (-idl). The build is
# one `go build` with the versions go.mod/go.sum pin, written to
# e2e/.cache/bin (nothing is committed). Skipped entirely when the binary is
# newer than main.go, go.mod, go.sum and this script. Needs only Go >= 1.24
# and the Go module proxy; the module and build caches are the defaults
# (GOMODCACHE, GOCACHE), shared with e2e/peers/kitex, so later builds reuse
# them.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$here/../../../.cache"
cache="$(cd "$here/../../../.cache" && pwd)"
out="$cache/bin/hertz-kitex-gw"

ms() { date +%s%N | cut -c1-13; }
t_start=$(ms)
elapsed() { local t=$(( $(ms) - $1 )); printf '%d.%03ds' $((t / 1000)) $((t % 1000)); }

sources=("$here/main.go" "$here/go.mod" "$here/go.sum" "$here/build.sh")
for f in "${sources[@]}"; do
    [[ -f "$f" ]] || { echo "build.sh: missing source $f" >&2; exit 1; }
done

up_to_date() {
    [[ -x "$out" ]] || return 1
    local f
    for f in "${sources[@]}"; do
        [[ "$out" -nt "$f" ]] || return 1
    done
}

if [[ -z "${FORCE:-}" ]] && up_to_date; then
    echo "build.sh: $out is up to date; nothing to do ($(elapsed "$t_start"))"
    exit 0
fi

mkdir -p "$cache/bin"

# Serialise concurrent builds when flock is available.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/hertz-kitex-gw.lock"
    flock 9
    if [[ -z "${FORCE:-}" ]] && up_to_date; then
        echo "build.sh: built by a concurrent run; nothing to do ($(elapsed "$t_start"))"
        exit 0
    fi
fi

cd "$here"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"

# The binary (written atomically).
trap 'rm -f "$out.tmp.$$"' EXIT
go build -o "$out.tmp.$$" .
mv -f "$out.tmp.$$" "$out"
echo "build.sh: built $out (hertz $(go list -m -f '{{.Version}}' github.com/cloudwego/hertz), kitex $(go list -m -f '{{.Version}}' github.com/cloudwego/kitex), dynamicgo $(go list -m -f '{{.Version}}' github.com/cloudwego/dynamicgo); $(elapsed "$t_start"))"
