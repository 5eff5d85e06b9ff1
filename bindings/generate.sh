#!/usr/bin/env bash
# Builds latchkey-ffi and generates its Kotlin, Swift and Python bindings into target/bindings.
#
#   bindings/generate.sh            # debug library (tests)
#   bindings/generate.sh --release  # release library (apps; prints the stripped size)
#
# Called by test.sh, by the Android Gradle task (android/README.md) and the Xcode build phase
# (ios/README.md). The bindgen CLI is its own crate, so the library never links it.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
cargo_flags=()
if [[ "${1:-}" == "--release" ]]; then
    # Cargo.toml's [profile.release-ffi]: opt-level s, fat LTO, one codegen unit, stripped.
    profile=release-ffi
    cargo_flags=(--profile release-ffi)
fi
out=target/bindings

if [[ "$profile" == debug ]]; then
    cargo build -p latchkey-ffi
else
    # Identical code folding: Rust does not promise distinct addresses for distinct functions,
    # so folding identical machine code is safe, and it saves about 80 KiB of the ~4 MiB
    # (monomorphised copies). gold here; Android's lld takes the same flag; Apple's ld-prime
    # deduplicates by default.
    icf=()
    if command -v ld.gold >/dev/null 2>&1; then
        icf=(-C link-arg=-fuse-ld=gold -C link-arg=-Wl,--icf=all)
    else
        echo "note: ld.gold not found; building without identical code folding" >&2
    fi
    RUSTFLAGS="${RUSTFLAGS:-} ${icf[*]}" cargo build "${cargo_flags[@]}" -p latchkey-ffi
fi
cargo build --profile bindgen -p latchkey-uniffi-bindgen
lib="target/$profile/liblatchkey_ffi.so"
rm -rf "$out"
mkdir -p "$out"
./target/bindgen/uniffi-bindgen generate "$lib" \
    --language kotlin --language swift --language python \
    --no-format --out-dir "$out"
cp "$lib" "$out/"

# Swift: no Swift compiler on Debian; the generated C header (what Swift imports through the
# module map) must at least compile as C.
printf '#include <stdint.h>\n#include <stdbool.h>\n#include "latchkeyFFI.h"\n' >"$out/header-check.c"
gcc -fsyntax-only -Wall -Werror -D_Nullable= -D_Nonnull= -I "$out" "$out/header-check.c"
echo "generated: $(cd "$out" && ls | tr '\n' ' ')"
echo "C header latchkeyFFI.h compiles (gcc -fsyntax-only -Wall -Werror)"

if [[ "$profile" != debug ]]; then
    strip -o "$out/liblatchkey_ffi.stripped.so" "$lib"
    bytes=$(stat -c %s "$out/liblatchkey_ffi.stripped.so")
    awk -v b="$bytes" 'BEGIN { printf "stripped release cdylib (x86_64 Linux): %d bytes = %.3f MiB (target <= 4 MiB: %s)\n", b, b/1048576, (b <= 4194304 ? "met" : "MISSED by " int((b-4194304)/1024) " KiB") }'
    if (( bytes > 4194304 )); then
        echo "error: the release cdylib is over 4 MiB; see [profile.release-ffi] and cargo tree -p latchkey-ffi" >&2
        exit 1
    fi
fi
