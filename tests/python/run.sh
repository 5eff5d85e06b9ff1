#!/usr/bin/env bash
# Runs the Python suite (pytest in target/py-venv) against target/debug/latchkey-server.
# Needs bindings/generate.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/py-venv
if [[ ! -x "$venv/bin/pytest" ]] || ! "$venv/bin/python" -c 'import cryptography' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet pytest cryptography
fi
"$venv/bin/pytest" -q tests/python "$@"
