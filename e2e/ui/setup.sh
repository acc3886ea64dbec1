#!/usr/bin/env bash
# Installs what the console test needs: Debian's chromium, and playwright-core
# from npm into e2e/ui/node_modules (it drives the installed browser; it
# downloads none). Idempotent: does nothing when both are there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v chromium >/dev/null; then
    echo "setup.sh: installing chromium (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
fi
stamp="$here/node_modules/.kitegate.stamp"
want="$( { cat "$here/package.json"; cat "$here/package-lock.json" 2>/dev/null || true; } | sha256sum | cut -c1-16)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "setup.sh: playwright-core is up to date"
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
echo "setup.sh: playwright-core installed ($(node -p 'require("playwright-core/package.json").version'))"
