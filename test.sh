#!/usr/bin/env bash
# Runs every Latchkey test, exactly as CI does. Installs what is missing first (a fresh machine
# has only Rust) and fails loudly on anything wrong.
set -euo pipefail
cd "$(dirname "$0")"

# Each step says how long the run has taken so far, so a slow step shows in CI's log.
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# --- system packages -----------------------------------------------------------------------
apt_missing=()
command -v keyctl >/dev/null 2>&1 || apt_missing+=(keyutils)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_missing+=(postgresql)
# Bindings: a C compiler (header check), a JDK + JNA + JUnit (Kotlin suite), npm (kotlinc),
# Python with venv (Python suite).
command -v gcc >/dev/null 2>&1 || apt_missing+=(gcc libc6-dev)
command -v javac >/dev/null 2>&1 || apt_missing+=(openjdk-17-jdk-headless)
[ -f /usr/share/java/jna.jar ] || apt_missing+=(libjna-java)
[ -f /usr/share/java/junit4.jar ] || apt_missing+=(junit4)
command -v npm >/dev/null 2>&1 || apt_missing+=(npm)
# Keycloak for the CIBA test comes from Maven Central; its scripts use curl and jq.
command -v mvn >/dev/null 2>&1 || apt_missing+=(maven)
command -v curl >/dev/null 2>&1 || apt_missing+=(curl)
command -v jq >/dev/null 2>&1 || apt_missing+=(jq)
# The Android shell's compile check unpacks AARs (android/check.sh).
command -v unzip >/dev/null 2>&1 || apt_missing+=(unzip)
# The desktop app: the Secret Service keystore on a private session bus (dbus-daemon,
# dbus-send, gnome-keyring), a real window under Xvfb, and the Windows type-check (ring's
# build script needs a MinGW C compiler).
command -v dbus-daemon >/dev/null 2>&1 || apt_missing+=(dbus-daemon)
command -v dbus-send >/dev/null 2>&1 || apt_missing+=(dbus-bin)
command -v gnome-keyring-daemon >/dev/null 2>&1 || apt_missing+=(gnome-keyring)
command -v Xvfb >/dev/null 2>&1 || apt_missing+=(xvfb)
# The window's OpenGL (Mesa's software renderer) and winit's keyboard under X11.
/sbin/ldconfig -p | grep -q 'libEGL.so.1 ' || apt_missing+=(libegl1 libgl1-mesa-dri)
/sbin/ldconfig -p | grep -q 'libxkbcommon-x11.so.0 ' || apt_missing+=(libxkbcommon-x11-0)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || apt_missing+=(gcc-mingw-w64-x86-64)
if ! command -v python3 >/dev/null 2>&1; then
  apt_missing+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  apt_missing+=(python3-venv)
fi
if [ ${#apt_missing[@]} -gt 0 ]; then
  step "installing with apt: ${apt_missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${apt_missing[@]}"
fi

# The Kotlin compiler (apt's is 1.3, too old): from npm into tools/ (git-ignored).
KOTLINC=tools/kt/node_modules/kotlin-compiler/bin/kotlinc
if [ ! -x "$KOTLINC" ]; then
  step "installing kotlinc 2.4.20 from npm into tools/kt"
  npm install --prefix tools/kt --no-audit --no-fund kotlin-compiler@2.4.20
fi

# --- a throwaway PostgreSQL cluster for the server suites ---------------------------------------
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
PG_DIR="$(mktemp -d /tmp/latchkey-pg.XXXXXX)"
PG_PORT="${LATCHKEY_PG_PORT:-55432}"
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
stop_pg() { as_pg "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m fast stop" >/dev/null 2>&1 || true; rm -rf "$PG_DIR"; }
trap stop_pg EXIT
step "starting PostgreSQL ($PG_BIN) on 127.0.0.1:$PG_PORT in $PG_DIR"
if [ "$(id -u)" -eq 0 ]; then chown postgres "$PG_DIR"; fi
as_pg "'$PG_BIN/initdb' -A trust -U postgres -D '$PG_DIR/data'" >/dev/null
as_pg "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -l '$PG_DIR/log' -w \
  -o \"-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off\" start" >/dev/null
export LATCHKEY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
export LATCHKEY_REQUIRE_POSTGRES=1
export LATCHKEY_REQUIRE_SECRET_SERVICE=1
export LATCHKEY_REQUIRE_XVFB=1
# The device disk-fault test mounts a small tmpfs: as root it must run, not skip.
if [ "$(id -u)" -eq 0 ]; then export LATCHKEY_REQUIRE_MOUNT=1; fi

# --- Keycloak (Maven Central's keycloak-quarkus-dist) for the OpenID CIBA test ------------------
step "Keycloak for the CIBA test (cached in ~/.cache/latchkey; needs a Java 21+ beside Java 17)"
bash scripts/keycloak.sh fetch
bash scripts/keycloak.sh check
export LATCHKEY_REQUIRE_KEYCLOAK=1

# --- Rust -------------------------------------------------------------------------------------
# One build from scratch: incremental state would only cost disk (GiBs) and time here.
export CARGO_INCREMENTAL=0
step "cargo fmt --check"
cargo fmt --all -- --check

step "secrets in review: every production expose_secret() carries a // EXPOSE: reason"
python3 scripts/check-expose.py

step "layering: the shipped latchkey CLI (default features) links no server crate"
if cargo tree -p latchkey-cli -e normal --prefix none | grep -E '^(latchkey-server|axum|sqlx|lettre|argon2) ' ; then
  echo "the default latchkey binary depends on server crates (listed above); keep them behind the demo feature" >&2
  exit 1
fi
# The CLI with its default features (no demo) is linted in the Windows step below, which
# checks it as shipped; only where that step cannot run is it linted here (a separate build
# of its dependencies with other features: 4 minutes of a fresh run).

step "cargo clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --exclude latchkey-uniffi-bindgen --all-targets --all-features -- -D warnings

step "Windows: the desktop app and the CLI type-check for x86_64-pc-windows-gnu (clippy, warnings are errors)"
windows_skipped=""
if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-pc-windows-gnu \
   && ! rustup target add x86_64-pc-windows-gnu; then
  windows_skipped="rustup could not add the x86_64-pc-windows-gnu target"
elif ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  windows_skipped="no MinGW C compiler (x86_64-w64-mingw32-gcc, Debian gcc-mingw-w64-x86-64) for ring's build script"
else
  # The CLI as shipped (default features, no demo) is linted here too.
  cargo clippy --target x86_64-pc-windows-gnu -p latchkey-desktop -p latchkey-cli -- -D warnings
fi
if [ -n "$windows_skipped" ]; then
  echo "Windows check skipped: $windows_skipped"
  echo "linting the shipped CLI (default features) for Linux instead"
  cargo clippy -p latchkey-cli --bins -- -D warnings
fi

step "cargo test (inside a fresh kernel session keyring, so the real keyutils keystore is tested)"
LATCHKEY_REQUIRE_KEYUTILS=1 keyctl session latchkey-tests \
  cargo test --workspace --exclude latchkey-uniffi-bindgen --all-features

# The binaries the `cargo test` above just built (a separate `cargo run -p`
# would resolve other features and recompile half the tree).
step "main job smoke run (README quick start: latchkey demo, debug build)"
./target/debug/latchkey demo >/dev/null
./target/debug/examples/vault_demo >/dev/null

# The same binaries, driven through every web page as a person would.
step "browser suite: the web pages in headless Chromium (axe-core, console and CSP, 1280 and 390 px, JavaScript off)"
tests/browser/run.sh

# --- bindings ---------------------------------------------------------------------------------
# The suites run against the release library apps ship (fat LTO, code folding), which is also
# quicker here than a second, differently featured debug build.
step "bindings: release library (size target <= 4 MiB), generate Kotlin/Swift/Python, compile the C header"
bindings/generate.sh --release

step "bindings: Kotlin on the JVM (kotlinc + JUnit against latchkey-server --dev)"
tests/kotlin/run.sh

step "bindings: Python (pytest against latchkey-server --dev)"
tests/python/run.sh

# --- the Android shell ------------------------------------------------------------------------
# Every Kotlin file of android/ compiled against the Android framework as a JVM jar (android-all
# and the push libraries' classes, from Maven Central, cached); its plain-Kotlin core ran above
# with the Kotlin suite (tests/kotlin/ShellCoreTest.kt).
step "android: compile the whole shell against android-all (API 36) with kotlinc"
android/check.sh

# The shell's activity and application under Robolectric 4.17 (Maven Central), over the real
# Rust library through JNA: drawn screens, permissions, FLAG_SECURE, a link from the system.
step "android: Robolectric (the real MainActivity over the real app model, Java 21+)"
android/robolectric/run.sh

step "all tests passed"
