#!/usr/bin/env bash
# Installs the Node peers' packages from npm into e2e/peers/node/node_modules
# (exact versions, from package-lock.json once it exists). Idempotent: does
# nothing when they are there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stamp="$here/node_modules/.kitegate.stamp"
want="$( { cat "$here/package.json"; cat "$here/package-lock.json" 2>/dev/null || true; } | sha256sum | cut -c1-16)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "setup.sh: node peers are up to date"
    exit 0
fi
cd "$here"
if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error
else
    npm install --no-audit --no-fund --loglevel=error
fi
want="$( { cat "$here/package.json"; cat "$here/package-lock.json"; } | sha256sum | cut -c1-16)"
echo "$want" > "$stamp"
echo "setup.sh: node peers installed (@connectrpc/connect-web $(node -p 'require("./node_modules/@connectrpc/connect-web/package.json").version'))"
