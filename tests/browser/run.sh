#!/usr/bin/env bash
# Browser end-to-end suite: the real latchkey-server --dev and the real `latchkey` CLI as the
# device, driven through the web pages in headless Debian Chromium (playwright-core), with
# axe-core, console/CSP and layout checks on every page state. See README.md.
# Uses the binaries in target/debug (build them first; this script never builds).
# Extra arguments go to `node --test` (e.g. --test-name-pattern=deny).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "browser suite: $*" >&2; exit 1; }

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# Debian packages: Chromium (no browser download ever), fonts, keyutils for the CLI's keys.
missing=()
for pkg in chromium chromium-driver fonts-liberation keyutils; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "browser suite: installing ${missing[*]}" >&2
    as_root apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
        || fail "apt-get install ${missing[*]} failed"
fi
[[ -x /usr/bin/chromium ]] || fail "/usr/bin/chromium is missing"

# Node packages, pinned by package-lock.json (npm ci).
command -v node >/dev/null || fail "node is not installed"
dir=tests/browser
# (Re)installed when missing or when an installed version differs from the lock file.
if ! node -e '
    const fs = require("fs"), dir = process.argv[1];
    const lock = JSON.parse(fs.readFileSync(dir + "/package-lock.json", "utf8")).packages;
    for (const [p, v] of Object.entries(lock)) {
        if (!p) continue;
        const got = JSON.parse(fs.readFileSync(dir + "/" + p + "/package.json", "utf8")).version;
        if (got !== v.version) process.exit(1);
    }' "$dir" 2>/dev/null; then
    (cd $dir && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed in $dir"
fi

for bin in latchkey-server latchkey; do
    [[ -x target/debug/$bin ]] || fail "target/debug/$bin is missing: build it first (cargo build -p ...)"
done

# Data directories of failed scenarios are kept for their logs; drop those of earlier runs.
find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'latchkey-browser-*' -mmin +60 -exec rm -rf {} + 2>/dev/null || true

export LATCHKEY_SERVER_BIN=$PWD/target/debug/latchkey-server
export LATCHKEY_CLI_BIN=$PWD/target/debug/latchkey
start=$SECONDS
# A fresh session keyring: the CLI keeps its device keys in the kernel keyring (keyutils).
if keyctl session latchkey-browser node --test --test-concurrency=1 --test-reporter=spec "$@" $dir/suite.test.mjs; then
    echo "browser suite: passed in $((SECONDS - start)) s" >&2
else
    fail "FAILED after $((SECONDS - start)) s (problems listed above, per page state)"
fi
