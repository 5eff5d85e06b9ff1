#!/usr/bin/env bash
# Drives the real desktop window once under Xvfb (windows/tests/xvfb.rs: the page's QR code in
# a second window, scanned from the X screen; enrol, approve, every screen) and saves a PNG of
# each screen in docs/screens/desktop/. The tour's checks still apply: the exit status is its.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/screens/desktop
LATCHKEY_REQUIRE_XVFB=1 LATCHKEY_SCREENS_DIR="$PWD/docs/screens/desktop" \
  exec cargo test -p latchkey-desktop --test xvfb
