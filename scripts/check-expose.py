#!/usr/bin/env python3
"""Lists every production `expose_secret()` call without a one-line `// EXPOSE:` reason.

A secret leaves its wrapper only where a reviewer can see why (bitwarden's habit): the call's
line, or the comment lines right above its statement, must say `EXPOSE: <why>`. Test code (files
under tests/, and everything after a file's `#[cfg(test)]`) is exempt. Exit status 1 lists the
places; run by test.sh.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRATES = ["protocol/src", "core/src", "server/src", "cli/src", "bindings/src", "app/src", "windows/src"]
CALL = re.compile(r"\.expose_secret\(\)")
# How far above a call its reason may sit (a multi-line statement with the comment on top).
REACH = 8


def missing(path: pathlib.Path):
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("#[cfg(test)]"):
            return
        if not CALL.search(line) or line.lstrip().startswith("//"):
            continue
        if "EXPOSE:" in line:
            continue
        # Walk up through the statement to the comment block right above it.
        j = i - 1
        found = False
        while j >= 0 and i - j <= REACH:
            text = lines[j].strip()
            if "EXPOSE:" in text:
                found = True
                break
            if text.endswith(";") or text.endswith("{") and not text.startswith("//") or text == "":
                break
            j -= 1
        if not found:
            yield i + 1, line.strip()


def main() -> int:
    bad = []
    for crate in CRATES:
        base = ROOT / crate
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.rs")):
            for number, text in missing(path):
                bad.append(f"{path.relative_to(ROOT)}:{number}: {text}")
    if bad:
        print("expose_secret() without a `// EXPOSE:` reason (say why the secret leaves its wrapper):")
        print("\n".join(bad))
        return 1
    print("every production expose_secret() says why (// EXPOSE:)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
