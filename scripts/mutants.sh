#!/usr/bin/env bash
# Mutation testing of the security-critical code (issue 13, section 4), scoped by file and run
# in chunks that fit a 2-core machine. Not part of test.sh or CI: a chunk takes from minutes
# (protocol) to hours (server, core).
#
#   scripts/mutants.sh protocol        # signed bytes, link, OPRF, PIN policy
#   scripts/mutants.sh core            # core-vault (vault, approval key) and core-flows (client,
#                                      # enrol/approve/pin/remove/settle against the real server)
#   scripts/mutants.sh server          # device, challenge, enrolment, PIN and P7 handlers
#   scripts/mutants.sh all
#
# Results: target/mutants/<chunk>/mutants.out/{caught,missed,unviable,timeout}.txt. Every
# missed mutant is killed by a new test or explained, one line each, in docs/SECURITY.md
# ("Mutation testing"). The server chunk runs the SQLite suites only (PostgreSQL tests return
# early without LATCHKEY_TEST_POSTGRES_URL), which exercise the same handlers.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-mutants >/dev/null 2>&1; then
  echo "==> installing cargo-mutants"
  cargo install --locked cargo-mutants
fi
unset LATCHKEY_TEST_POSTGRES_URL LATCHKEY_REQUIRE_POSTGRES

run() {
  local chunk=$1; shift
  echo "==> mutants: $chunk"
  mkdir -p "target/mutants/$chunk"
  # 2: some mutants were missed, 3: some timed out; report both and go on. Anything else
  # (1 usage, 4 the unmutated tests fail) stops here.
  local rc=0
  cargo mutants --no-shuffle --jobs 1 --timeout-multiplier 3 \
    --output "target/mutants/$chunk" "$@" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ] && [ "$rc" -ne 3 ]; then
    echo "cargo mutants failed ($rc) in chunk $chunk" >&2
    exit "$rc"
  fi
  for kind in caught missed unviable timeout; do
    printf '%-9s %s\n' "$kind" "$(wc -l < "target/mutants/$chunk/mutants.out/$kind.txt" 2>/dev/null || echo 0)"
  done
}

chunk_protocol() {
  run protocol --package latchkey-protocol \
    --file protocol/src/signed.rs --file protocol/src/link.rs \
    --file protocol/src/oprf.rs --file protocol/src/pin.rs
}

# The vault is tested by the core's own suites (fast: about 5 s a mutant); the flows need the
# end-to-end suites against the real server (slower).
chunk_core_vault() {
  LATCHKEY_REQUIRE_KEYUTILS= run core-vault --package latchkey-core --test-package latchkey-core \
    --file core/src/vault/mod.rs --file core/src/vault/approval.rs
}

chunk_core_flows() {
  LATCHKEY_REQUIRE_KEYUTILS= run core-flows --package latchkey-core \
    --test-package latchkey-core --test-package latchkey-e2e \
    --file core/src/client.rs --file "core/src/latchkey/*.rs"
}

chunk_core() { chunk_core_vault; chunk_core_flows; }

chunk_server() {
  run server --package latchkey-server \
    --file server/src/attempts.rs --file server/src/requests.rs \
    --file server/src/devices.rs --file server/src/signins.rs \
    --file server/src/enrolments.rs --file server/src/operations.rs \
    --file server/src/sessions.rs --file server/src/accounts.rs
}

case "${1:-}" in
  protocol) chunk_protocol ;;
  core) chunk_core ;;
  core-vault) chunk_core_vault ;;
  core-flows) chunk_core_flows ;;
  server) chunk_server ;;
  all) chunk_protocol; chunk_core; chunk_server ;;
  *) echo "usage: $0 protocol|core|core-vault|core-flows|server|all" >&2; exit 64 ;;
esac
