#!/usr/bin/env bash
# Installs the Node peers' packages (Connect's gRPC-Web client) from npm
# into e2e/peers/node/node_modules. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/../npm_install.sh" "$here"
