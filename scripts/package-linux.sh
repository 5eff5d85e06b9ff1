#!/usr/bin/env bash
# Builds the Linux desktop tarball: dist/latchkey-desktop-VERSION-x86_64-linux.tar.gz with the
# release binary, the .desktop file, the AppStream metadata and the icon in the usual
# prefix layout (unpack into ~/.local or /usr/local). Validates the metadata when the tools are
# installed (Debian: desktop-file-utils, appstream).
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="latchkey-desktop"))')"
cargo build --release -p latchkey-desktop --bin latchkey-desktop
name="latchkey-desktop-$version-x86_64-linux"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/$name"
install -Dm755 target/release/latchkey-desktop "$root/bin/latchkey-desktop"
strip "$root/bin/latchkey-desktop" 2>/dev/null || true
install -Dm644 windows/packaging/org.latchkey.Latchkey.desktop "$root/share/applications/org.latchkey.Latchkey.desktop"
install -Dm644 windows/packaging/org.latchkey.Latchkey.metainfo.xml "$root/share/metainfo/org.latchkey.Latchkey.metainfo.xml"
install -Dm644 windows/packaging/org.latchkey.Latchkey.svg "$root/share/icons/hicolor/scalable/apps/org.latchkey.Latchkey.svg"
install -Dm644 windows/README.md "$root/share/doc/latchkey-desktop/README.md"
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$root/share/applications/org.latchkey.Latchkey.desktop"
else
  echo "desktop-file-validate not installed (Debian: desktop-file-utils): .desktop file not validated"
fi
if command -v appstreamcli >/dev/null; then
  appstreamcli validate --no-net --explain "$root/share/metainfo/org.latchkey.Latchkey.metainfo.xml"
else
  echo "appstreamcli not installed (Debian: appstream): metadata not validated"
fi
mkdir -p dist
tar -C "$stage" -czf "dist/$name.tar.gz" "$name"
ls -l "dist/$name.tar.gz"
tar -tzf "dist/$name.tar.gz"
