#!/usr/bin/env bash
# Installs the npm packages of one folder of Node test code (its
# package.json, exact versions from package-lock.json once it exists) into
# its node_modules. Idempotent: a stamp of both files says when nothing
# changed.
#
#   e2e/peers/npm_install.sh DIR
set -euo pipefail
dir="$(cd "$1" && pwd)"
stamp="$dir/node_modules/.kitegate.stamp"
sum() { { cat "$dir/package.json"; cat "$dir/package-lock.json" 2>/dev/null || true; } | sha256sum | cut -c1-16; }
if [[ -f "$stamp" && "$(cat "$stamp")" == "$(sum)" ]]; then
    echo "npm_install.sh: $dir is up to date"
    exit 0
fi
cd "$dir"
if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error
else
    npm install --no-audit --no-fund --loglevel=error
fi
sum >"$stamp"
echo "npm_install.sh: installed $dir/node_modules"
