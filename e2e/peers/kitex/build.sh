#!/usr/bin/env bash
# Build the Kitex interop peer (CloudWeGo Kitex Thrift server for hello.thrift).
#
#   e2e/peers/kitex/build.sh          # -> e2e/.cache/bin/kitex-hello
#   FORCE=1 e2e/peers/kitex/build.sh  # rebuild even if up to date
#
# Steps (all outputs under e2e/.cache, nothing is committed):
#   1. install the Kitex code generator, pinned by this module's go.mod/go.sum
#      (`tool` directive), into e2e/.cache/gobin;
#   2. generate kitex_gen for examples/idl/hello.thrift into
#      e2e/.cache/kitex-gen (module kitegate.test/kitexgen, wired in by the
#      `replace` in go.mod);
#   3. go build the server to e2e/.cache/bin/kitex-hello.
# Skipped entirely when the binary is newer than main.go, go.mod, go.sum, the
# IDL and this script. Needs only Go >= 1.24 and the Go module proxy; the
# module cache stays in the default GOMODCACHE, so later runs reuse it.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$here/../../.cache"
cache="$(cd "$here/../../.cache" && pwd)"
idl="$(cd "$here/../../../examples/idl" && pwd)/hello.thrift"
counter_idl="$(cd "$here/../../idl" && pwd)/counter.thrift"
out="$cache/bin/kitex-hello"
gen="$cache/kitex-gen"
gobin="$cache/gobin"

ms() { date +%s%N | cut -c1-13; }
t_start=$(ms)
elapsed() { local t=$(( $(ms) - $1 )); printf '%d.%03ds' $((t / 1000)) $((t % 1000)); }

sources=("$here/main.go" "$here/go.mod" "$here/go.sum" "$idl" "$counter_idl" "$here/build.sh")
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

mkdir -p "$cache/bin" "$gobin" "$gen"

# Serialise concurrent builds (parallel test runs) when flock is available.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/kitex-hello.lock"
    flock 9
    if [[ -z "${FORCE:-}" ]] && up_to_date; then
        echo "build.sh: built by a concurrent run; nothing to do ($(elapsed "$t_start"))"
        exit 0
    fi
fi

cd "$here"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"

# The replace target must be a module before any go command loads go.mod.
printf 'module kitegate.test/kitexgen\n\ngo 1.24\n' > "$gen/go.mod"

# 1. Kitex code generator, at the version go.mod pins.
t=$(ms)
want="$(go list -m -f '{{.Version}}' github.com/cloudwego/kitex)"
have="$("$gobin/kitex" --version 2>&1 || true)"   # kitex prints it on stderr
if [[ "$have" != "$want" ]]; then
    echo "build.sh: installing kitex tool $want into $gobin"
    GOBIN="$gobin" go install github.com/cloudwego/kitex/tool/cmd/kitex
fi
echo "build.sh: kitex tool $("$gobin/kitex" --version 2>&1) ready ($(elapsed "$t"))"

# 2. Code generation (fresh every build; takes well under a second).
t=$(ms)
rm -rf "$gen/kitex_gen"
for f in "$idl" "$counter_idl"; do
    if ! log="$(cd "$gen" && "$gobin/kitex" -module kitegate.test/kitexgen "$f" 2>&1)"; then
        printf '%s\n' "$log" >&2
        echo "build.sh: kitex code generation failed for $f" >&2
        exit 1
    fi
done
for f in api/hello/server.go counter/counter/server.go; do
    [[ -f "$gen/kitex_gen/$f" ]] || { echo "build.sh: kitex generated no $f" >&2; exit 1; }
done
echo "build.sh: generated $gen/kitex_gen ($(elapsed "$t"))"

# 3. The server binary (written atomically).
t=$(ms)
trap 'rm -f "$out.tmp.$$"' EXIT
go build -o "$out.tmp.$$" .
mv -f "$out.tmp.$$" "$out"
echo "build.sh: built $out ($(elapsed "$t"); total $(elapsed "$t_start"))"
