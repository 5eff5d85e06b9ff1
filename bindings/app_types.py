#!/usr/bin/env python3
"""Writes bindings/src/app_types.rs: the app model's view, event and effect types (app/src/
view.rs and event.rs) redeclared under #[uniffi::remote], so UniFFI exports them as the app
crate defines them. A field or variant that differs fails to compile, so a stale file cannot
ship; run this after changing those two files."""
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent
out, names = [], []
for path in ["app/src/view.rs", "app/src/event.rs"]:
    s = (root / path).read_text()
    s = "\n".join(l for l in s.split("\n") if not l.startswith("//!") and not l.startswith("use "))
    # Trait impls (a redacting Debug) stay in the app crate.
    s = re.sub(r"\nimpl [^\n]*\{\n.*?\n\}\n", "\n", s, flags=re.S)
    s = re.sub(r"#\[derive\([^)]*\)\]\n(pub struct)", r"#[uniffi::remote(Record)]\n\1", s)
    s = re.sub(r"#\[derive\([^)]*\)\]\n(pub enum)", r"#[uniffi::remote(Enum)]\n\1", s)
    names += re.findall(r"pub (?:struct|enum) (\w+)", s)
    s = re.sub(r"\[`crate::(\w+(?:::\w+)?)`\]", r"`\1`", s)
    s = re.sub(r"\[`(AppEvent::\w+|AppEffect::\w+)`\]", r"`\1`", s)
    s = s.replace("[`App::scan_frame`]", "`scan_frame`")
    out.append(s.strip("\n"))
header = """//! The app model's types (`latchkey-app`: views, events, effects), declared for UniFFI exactly
//! as the app crate defines them (`#[uniffi::remote]`: a field that differs fails to compile).
//! Generated from `app/src/{view,event}.rs` by `bindings/app_types.py`; do not edit.

use latchkey_app::{
    %s,
};

""" % ", ".join(sorted(names))
(root / "bindings/src/app_types.rs").write_text(header + "\n\n".join(out) + "\n")
import subprocess
subprocess.run(["rustfmt", "--edition", "2021", str(root / "bindings/src/app_types.rs")], check=True)
