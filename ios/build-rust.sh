#!/usr/bin/env bash
# Xcode "Run Script" build phase of the iOS shell (project.yml runs it before compiling). Builds latchkey-ffi as
# a static library for the SDK Xcode is building for, and generates the Swift bindings.
# Needs: rustup targets aarch64-apple-ios aarch64-apple-ios-sim. Not exercised on the CI
# machine (no Swift toolchain there); the generated C header is compiled by generate.sh.
set -euo pipefail
cd "${SRCROOT:-$(dirname "$0")}/.."

case "${PLATFORM_NAME:-iphonesimulator}" in
    iphoneos) target=aarch64-apple-ios ;;
    *) target=aarch64-apple-ios-sim ;;
esac
cargo build --profile release-ffi -p latchkey-ffi --target "$target"
cargo build -p latchkey-uniffi-bindgen
out=ios/Generated
mkdir -p "$out"
./target/debug/uniffi-bindgen generate "target/$target/release-ffi/liblatchkey_ffi.a" \
    --language swift --no-format --out-dir "$out"
cp "target/$target/release-ffi/liblatchkey_ffi.a" "$out/"
# project.yml links ios/Generated/liblatchkey_ffi.a, compiles latchkey.swift and imports the
# module map from ios/Generated.
