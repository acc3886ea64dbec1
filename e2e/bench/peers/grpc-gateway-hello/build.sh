#!/usr/bin/env bash
# Build the grpc-gateway v2 benchmark peer (HTTP/JSON -> gRPC reverse proxy
# generated from examples/idl/hello.proto).
#
#   e2e/bench/peers/grpc-gateway-hello/build.sh          # -> e2e/.cache/bin/grpc-gateway-hello
#   FORCE=1 e2e/bench/peers/grpc-gateway-hello/build.sh  # rebuild even if up to date
#
# Steps (all outputs under e2e/.cache, nothing is committed; no protoc):
#   1. install the protoc plugins protoc-gen-go, protoc-gen-go-grpc and
#      protoc-gen-grpc-gateway, pinned by this module's go.mod/go.sum (`tool`
#      directives), into e2e/.cache/gobin (skipped when the installed
#      binaries already carry the pinned versions);
#   2. build protogen (./protogen: a tiny protoc stand-in on the pure-Go
#      compiler github.com/bufbuild/protocompile) into e2e/.cache/gobin;
#   3. copy hello.proto and google/api/{annotations,http}.proto (from
#      idl/src/proto) to e2e/.cache/grpc-gateway-gen/proto and generate
#      hello/*.pb.go, *_grpc.pb.go and *.pb.gw.go into
#      e2e/.cache/grpc-gateway-gen (module kitegate.test/grpcgwgen, wired in
#      by the `replace` in go.mod);
#   4. go build the gateway to e2e/.cache/bin/grpc-gateway-hello.
# Skipped entirely when the binary is newer than every source (Go files,
# go.mod, go.sum, the protos and this script). Needs Go >= 1.26 (grpc-go
# v1.85 and grpc-gateway v2.33 require it) and the Go module proxy.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$here/../../../.cache"
cache="$(cd "$here/../../../.cache" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
proto="$root/examples/idl/hello.proto"
gapi="$root/idl/src/proto/google/api"
out="$cache/bin/grpc-gateway-hello"
gen="$cache/grpc-gateway-gen"
gobin="$cache/gobin"

ms() { date +%s%N | cut -c1-13; }
t_start=$(ms)
elapsed() { local t=$(( $(ms) - $1 )); printf '%d.%03ds' $((t / 1000)) $((t % 1000)); }

sources=("$here/main.go" "$here/protogen/main.go" "$here/go.mod" "$here/go.sum" "$here/build.sh"
         "$proto" "$gapi/annotations.proto" "$gapi/http.proto")
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

# Serialise concurrent builds when flock is available.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/grpc-gateway-hello.lock"
    flock 9
    if [[ -z "${FORCE:-}" ]] && up_to_date; then
        echo "build.sh: built by a concurrent run; nothing to do ($(elapsed "$t_start"))"
        exit 0
    fi
fi

cd "$here"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"

# The replace target must be a module before any go command loads go.mod.
printf 'module kitegate.test/grpcgwgen\n\ngo 1.24\n' > "$gen/go.mod"

# 1. The protoc plugins, at the versions go.mod pins. `go version -m` reads
#    the module version a binary was built from.
t=$(ms)
bin_version() { go version -m "$1" 2>/dev/null | awk -v m="$2" '$1 == "mod" && $2 == m { print $3 }'; }
tools=(
    "protoc-gen-go google.golang.org/protobuf google.golang.org/protobuf/cmd/protoc-gen-go"
    "protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc"
    "protoc-gen-grpc-gateway github.com/grpc-ecosystem/grpc-gateway/v2 github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway"
)
installed=()
for spec in "${tools[@]}"; do
    read -r name mod pkg <<<"$spec"
    want="$(go list -m -f '{{.Version}}' "$mod")"
    if [[ "$(bin_version "$gobin/$name" "$mod")" != "$want" ]]; then
        echo "build.sh: installing $name ($mod $want) into $gobin"
        GOBIN="$gobin" go install "$pkg"
    fi
    installed+=("$name $want")
done
echo "build.sh: plugins ready: $(IFS=,; echo "${installed[*]}") ($(elapsed "$t"))"

# 2. The protoc stand-in (cheap when the Go build cache is warm).
t=$(ms)
go build -o "$gobin/kitegate-protogen" ./protogen
echo "build.sh: protogen ready ($(elapsed "$t"))"

# 3. Code generation (fresh every build).
t=$(ms)
rm -rf "$gen/proto" "$gen/hello"
mkdir -p "$gen/proto/google/api"
cp "$proto" "$gen/proto/hello.proto"
cp "$gapi/annotations.proto" "$gapi/http.proto" "$gen/proto/google/api/"
# hello.proto's go_package names the Kitex peer's package; M maps it here.
param="module=kitegate.test/grpcgwgen,Mhello.proto=kitegate.test/grpcgwgen/hello"
"$gobin/kitegate-protogen" -I "$gen/proto" -out "$gen" \
    -plugin "$gobin/protoc-gen-go=$param" \
    -plugin "$gobin/protoc-gen-go-grpc=$param" \
    -plugin "$gobin/protoc-gen-grpc-gateway=$param" \
    hello.proto
for f in hello/hello.pb.go hello/hello_grpc.pb.go hello/hello.pb.gw.go; do
    [[ -f "$gen/$f" ]] || { echo "build.sh: code generation produced no $f" >&2; exit 1; }
done
echo "build.sh: generated $gen/hello ($(elapsed "$t"))"

# 4. The gateway binary (written atomically).
t=$(ms)
trap 'rm -f "$out.tmp.$$"' EXIT
go build -o "$out.tmp.$$" .
mv -f "$out.tmp.$$" "$out"
echo "build.sh: built $out ($(elapsed "$t"); total $(elapsed "$t_start"))"
