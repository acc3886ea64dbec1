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
"$here/../peers/npm_install.sh" "$here"
