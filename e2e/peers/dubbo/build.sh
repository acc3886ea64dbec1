#!/usr/bin/env bash
# Build the Apache Dubbo interop peer (one runnable fat jar).
#
#   e2e/peers/dubbo/build.sh          # -> e2e/.cache/bin/kitegate-dubbo-peer.jar
#   FORCE=1 e2e/peers/dubbo/build.sh  # rebuild even if up to date
#
# Runs `mvn -q -B package` with the local Maven repository in
# e2e/.cache/m2 and the build directory in e2e/.cache/dubbo-target, so
# nothing is written into the source tree and nothing is committed. Maven
# still reads ~/.m2/settings.xml (mirrors, proxies) when it exists.
# Skipped when the jar exists and the SHA-256 of pom.xml, build.sh and every
# file under src/ matches the stamp written by the last successful build.
# Needs Java >= 17 and Maven >= 3.6 on PATH, and Maven Central.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$here/../../.cache"
cache="$(cd "$here/../../.cache" && pwd)"
out="$cache/bin/kitegate-dubbo-peer.jar"
stamp="$out.stamp"
repo="${KITEGATE_M2_REPO:-$cache/m2}"
target="$cache/dubbo-target"

ms() { date +%s%N | cut -c1-13; }
t_start=$(ms)
elapsed() { local t=$(( $(ms) - $1 )); printf '%d.%03ds' $((t / 1000)) $((t % 1000)); }

sources_hash() {
    (
        cd "$here"
        { echo pom.xml; echo build.sh; find src -type f; } | LC_ALL=C sort | while read -r f; do
            printf '%s  %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$f"
        done
    ) | sha256sum | cut -d' ' -f1
}

up_to_date() {
    [[ -f "$out" && -f "$stamp" ]] || return 1
    [[ "$(cat "$stamp")" == "$(sources_hash)" ]]
}

if [[ -z "${FORCE:-}" ]] && up_to_date; then
    echo "build.sh: $out is up to date; nothing to do ($(elapsed "$t_start"))"
    exit 0
fi

for tool in java mvn; do
    command -v "$tool" >/dev/null 2>&1 || { echo "build.sh: $tool not found on PATH" >&2; exit 1; }
done
jv="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
if [[ -z "$jv" || "${jv%%.*}" -lt 17 ]]; then
    echo "build.sh: need Java >= 17, found '${jv:-unknown}'" >&2
    exit 1
fi

mkdir -p "$cache/bin" "$repo"

# Serialise concurrent builds (parallel test runs) when flock is available.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/kitegate-dubbo-peer.lock"
    flock 9
    if [[ -z "${FORCE:-}" ]] && up_to_date; then
        echo "build.sh: built by a concurrent run; nothing to do ($(elapsed "$t_start"))"
        exit 0
    fi
fi

hash="$(sources_hash)"
t=$(ms)
echo "build.sh: mvn package (local repository $repo)"
log="$cache/kitegate-dubbo-peer.build.log"
# Debian's Maven 3.8 prints stray colour resets even with -B -q: keep its
# output in a log and show it (escapes stripped) only when the build fails.
if ! mvn -q -B -f "$here/pom.xml" \
        -Dstyle.color=never \
        -Dmaven.repo.local="$repo" \
        -Dkitegate.build.dir="$target" \
        package >"$log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$log" >&2
    echo "build.sh: mvn package failed (log: $log)" >&2
    exit 1
fi
built="$target/kitegate-dubbo-peer.jar"
[[ -f "$built" ]] || { echo "build.sh: maven produced no $built" >&2; exit 1; }

# Install atomically, then record what it was built from.
trap 'rm -f "$out.tmp.$$"' EXIT
cp "$built" "$out.tmp.$$"
mv -f "$out.tmp.$$" "$out"
printf '%s\n' "$hash" > "$stamp"
echo "build.sh: built $out ($(du -h "$out" | cut -f1); mvn $(elapsed "$t"); total $(elapsed "$t_start"))"
