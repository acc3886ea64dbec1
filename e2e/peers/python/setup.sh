#!/usr/bin/env bash
# Create/refresh the Python venv used by the e2e Thrift peers.
#
#   e2e/peers/python/setup.sh            # venv at <repo>/.venv
#   KITEGATE_VENV=/path setup.sh         # override the venv location
#
# Idempotent: a stamp file inside the venv records the sha256 of
# requirements.txt (plus the interpreter version); when it matches, nothing is
# installed and the script exits in a few milliseconds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="${KITEGATE_VENV:-$repo/.venv}"
req="$here/requirements.txt"
python="${PYTHON:-python3}"
stamp="$venv/.kitegate-peers-python.stamp"

py_version="$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
want="$( { sha256sum "$req" | cut -d' ' -f1; echo "python $py_version"; } )"

if [[ -x "$venv/bin/python" && -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$want" ]]; then
    echo "setup.sh: $venv is up to date (requirements $(head -n1 <<<"$want" | cut -c1-12), python $py_version); nothing to do"
    exit 0
fi

if [[ -x "$venv/bin/python" ]] && \
   [[ "$("$venv/bin/python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || true)" == "$py_version" ]]; then
    echo "setup.sh: reusing venv $venv (requirements changed or no stamp)"
else
    if [[ -e "$venv" && ! -f "$venv/pyvenv.cfg" ]] && [[ -n "$(ls -A "$venv" 2>/dev/null)" ]]; then
        echo "setup.sh: $venv exists and is not a venv; refusing to replace it" >&2
        exit 1
    fi
    echo "setup.sh: creating venv $venv with $python ($py_version)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi

rm -f "$stamp"
echo "setup.sh: installing $req"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req"
"$venv/bin/python" -c 'import thriftpy2, sys; print("setup.sh: thriftpy2", thriftpy2.__version__, "on python", sys.version.split()[0])'
printf '%s\n' "$want" > "$stamp"
echo "setup.sh: done ($venv)"
