#!/usr/bin/env bash
# Build the Kitex Protobuf interop peer (CloudWeGo Kitex server speaking Kitex
# Protobuf, and gRPC on the same port, for examples/idl/hello.proto).
#
#   e2e/peers/kitex-pb/build.sh          # -> e2e/.cache/bin/kitex-pb-hello
#   FORCE=1 e2e/peers/kitex-pb/build.sh  # rebuild even if up to date
#
# Steps (all outputs under e2e/.cache, nothing is committed):
#   1. install the Kitex code generator, pinned by this module's go.mod/go.sum
#      (`tool` directive), into e2e/.cache/gobin (shared with e2e/peers/kitex;
#      reused when it already has the pinned version);
#   2. copy hello.proto to e2e/.cache/kitex-pb-gen/hello.proto without the
#      google/api/annotations.proto import and the `option (google.api.http)`
#      blocks, with go_package set to "hello" (Kitex wants it under its
#      kitex_gen prefix); messages and service are unchanged;
#   3. generate kitex_gen from that copy (Kitex's built-in pure-Go protobuf
#      parser, prutal: no protoc) as module kitegate.test/kitexpbgen, wired in
#      by the `replace` in go.mod;
#   4. go build the server to e2e/.cache/bin/kitex-pb-hello.
# Skipped entirely when the binary is newer than main.go, go.mod, go.sum, the
# IDL and this script. Needs only Go >= 1.24, awk and the Go module proxy.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$here/../../.cache"
cache="$(cd "$here/../../.cache" && pwd)"
idl="$(cd "$here/../../../examples/idl" && pwd)/hello.proto"
out="$cache/bin/kitex-pb-hello"
gen="$cache/kitex-pb-gen"
gobin="$cache/gobin"

ms() { date +%s%N | cut -c1-13; }
t_start=$(ms)
elapsed() { local t=$(( $(ms) - $1 )); printf '%d.%03ds' $((t / 1000)) $((t % 1000)); }

sources=("$here/main.go" "$here/go.mod" "$here/go.sum" "$idl" "$here/build.sh")
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
    exec 9>"$cache/kitex-pb-hello.lock"
    flock 9
    if [[ -z "${FORCE:-}" ]] && up_to_date; then
        echo "build.sh: built by a concurrent run; nothing to do ($(elapsed "$t_start"))"
        exit 0
    fi
fi

cd "$here"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"

# The replace target must be a module before any go command loads go.mod.
printf 'module kitegate.test/kitexpbgen\n\ngo 1.24\n' > "$gen/go.mod"

# 1. Kitex code generator, at the version go.mod pins. `go install` replaces
#    the binary by rename, so a concurrent install by e2e/peers/kitex is safe.
t=$(ms)
want="$(go list -m -f '{{.Version}}' github.com/cloudwego/kitex)"
have="$("$gobin/kitex" --version 2>&1 || true)"   # kitex prints it on stderr
if [[ "$have" != "$want" ]]; then
    echo "build.sh: installing kitex tool $want into $gobin"
    GOBIN="$gobin" go install github.com/cloudwego/kitex/tool/cmd/kitex
fi
echo "build.sh: kitex tool $("$gobin/kitex" --version 2>&1) ready ($(elapsed "$t"))"

# 2. The IDL copy without the google.api.http annotations.
awk '
    /returns[[:space:]]*\([[:space:]]*stream[[:space:]]/ { next }
    /^[[:space:]]*import[[:space:]]+"google\/api\/annotations\.proto"[[:space:]]*;/ { next }
    /^[[:space:]]*option[[:space:]]+go_package[[:space:]]*=/ { print "option go_package = \"hello\";"; next }
    !skip && /option[[:space:]]*\([[:space:]]*google\.api\.http[[:space:]]*\)/ { skip = 1; depth = 0 }
    skip {
        depth += gsub(/\{/, "{") - gsub(/\}/, "}")
        if (depth <= 0 && /;[[:space:]]*$/) skip = 0
        next
    }
    { print }
' "$idl" > "$gen/hello.proto.tmp"
if grep -Eq 'import[[:space:]]+"google/|\([[:space:]]*google\.api' "$gen/hello.proto.tmp" || ! grep -q '^option go_package = "hello";' "$gen/hello.proto.tmp"; then
    echo "build.sh: could not strip the google.api annotations from $idl" >&2
    exit 1
fi
mv -f "$gen/hello.proto.tmp" "$gen/hello.proto"

# 3. Code generation (fresh every build; takes well under a second).
t=$(ms)
rm -rf "$gen/kitex_gen"
if ! log="$(cd "$gen" && "$gobin/kitex" -module kitegate.test/kitexpbgen hello.proto 2>&1)"; then
    printf '%s\n' "$log" >&2
    echo "build.sh: kitex code generation failed" >&2
    exit 1
fi
for f in kitex_gen/hello/hello.pb.go kitex_gen/hello/hello/server.go; do
    [[ -f "$gen/$f" ]] || { printf '%s\n' "$log" >&2; echo "build.sh: kitex generated no $f" >&2; exit 1; }
done
echo "build.sh: generated $gen/kitex_gen ($(elapsed "$t"))"

# 4. The server binary (written atomically).
t=$(ms)
trap 'rm -f "$out.tmp.$$"' EXIT
go build -o "$out.tmp.$$" .
mv -f "$out.tmp.$$" "$out"
echo "build.sh: built $out ($(elapsed "$t"); total $(elapsed "$t_start"))"
