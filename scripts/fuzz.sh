#!/usr/bin/env bash
# Runs one fuzz target under libFuzzer (cargo fuzz, nightly Rust) for MINUTES minutes:
#
#   scripts/fuzz.sh TARGET MINUTES      # targets: link wire vault signer_file scan pem pin attestation
#   scripts/fuzz.sh all MINUTES         # each target in turn, MINUTES each
#
# The targets are the functions in fuzz/src/lib.rs that `cargo test -p latchkey-fuzz` runs
# bounded on every CI run. The working corpus grows in ${LATCHKEY_CACHE:-~/.cache/latchkey}/
# fuzz-corpus/TARGET (thousands of files: not committed); fuzz/corpus/TARGET holds a small
# committed sample (the smallest files of a set-cover merge, replayed by every CI run). A crash
# is saved under fuzz/cargo-fuzz/artifacts/TARGET/ and stops the run: fix it and commit the
# input to fuzz/corpus/TARGET/ as its regression test. Not part of test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

targets="link wire vault signer_file scan pem pin attestation"
usage() { echo "usage: $0 TARGET|all MINUTES   (targets: $targets)" >&2; exit 2; }
[ $# -eq 2 ] || usage
target=$1 minutes=$2
[[ $minutes =~ ^[0-9]+$ ]] && [ "$minutes" -gt 0 ] || usage
if [ "$target" = all ]; then
  for t in $targets; do "$0" "$t" "$minutes"; done
  exit 0
fi
[[ " $targets " == *" $target "* ]] || usage

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "==> installing a nightly toolchain (libFuzzer needs -Z sanitizer flags)"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

seeds="target/fuzz-seeds/$target"
rm -rf "$seeds"
cargo run -q -p latchkey-fuzz --bin latchkey-fuzz-seeds -- "$target" "$seeds"
work="${LATCHKEY_CACHE:-$HOME/.cache/latchkey}/fuzz-corpus/$target"
mkdir -p "$work" "fuzz/corpus/$target"
before=$(ls "$work" | wc -l)
echo "==> fuzzing $target for $minutes min (working corpus $before, committed $(ls "fuzz/corpus/$target" | wc -l), seeds $(ls "$seeds" | wc -l))"
start=$SECONDS
cargo +nightly fuzz run --fuzz-dir fuzz/cargo-fuzz "$target" "$work" "fuzz/corpus/$target" "$seeds" -- \
  -max_total_time=$((minutes * 60)) -rss_limit_mb=4096 -max_len=65536 -timeout=10 -print_final_stats=1
echo "==> $target: no crash in $(( (SECONDS - start) / 60 )) min; working corpus $before -> $(ls "$work" | wc -l) files"
