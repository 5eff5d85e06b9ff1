#!/usr/bin/env bash
# Runs the browser suite and saves a full-page PNG of each named page state in docs/screens/web/
# (desktop 1280x800 and, with -phone, 390x844). The suite's checks still apply: the exit status
# is the suite's, the screenshots are written either way.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p docs/screens/web
LATCHKEY_SCREENS_DIR="$PWD/docs/screens/web" exec bash tests/browser/run.sh "$@"
