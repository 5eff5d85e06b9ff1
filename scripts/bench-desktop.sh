#!/usr/bin/env bash
# The desktop app's benchmark (windows/examples/bench.rs): builds the release binary, then runs
# the bench under a private Xvfb and a kernel session keyring. Prints a table; ~2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p latchkey-desktop --bin latchkey-desktop
cargo build --release -p latchkey-desktop --example bench
exec 3< <(exec Xvfb -displayfd 1 -screen 0 1280x800x24 -nolisten tcp 2>/dev/null)
xvfb=$!
read -r display <&3
trap 'kill "$xvfb" 2>/dev/null || true' EXIT
DISPLAY=":$display" keyctl session latchkey-bench ./target/release/examples/bench
