#!/usr/bin/env bash
# Runs every Latchkey test, exactly as CI does. Installs what is missing first (a fresh machine
# has only Rust) and fails loudly on anything wrong.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# --- system packages -----------------------------------------------------------------------
apt_missing=()
command -v keyctl >/dev/null 2>&1 || apt_missing+=(keyutils)
if [ ${#apt_missing[@]} -gt 0 ]; then
  step "installing with apt: ${apt_missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${apt_missing[@]}"
fi

# --- Rust -------------------------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo test (inside a fresh kernel session keyring, so the real keyutils keystore is tested)"
LATCHKEY_REQUIRE_KEYUTILS=1 keyctl session latchkey-tests \
  cargo test --workspace --all-features

step "main job smoke run (README quick start, debug build)"
cargo run -q -p latchkey-core --example vault_demo >/dev/null

step "all tests passed"
