//! Runs the `latchkey` binary with secrets on stdin.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// `latchkey --data-dir D --ca CA --stdin ARGS` in English with `env` added; returns
/// (success, stdout, stderr).
pub fn latchkey_env(
    data: &std::path::Path,
    ca: &std::path::Path,
    args: &[&str],
    stdin: &str,
    env: &[(&str, std::ffi::OsString)],
) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .arg("--data-dir")
        .arg(data)
        .arg("--ca")
        .arg(ca)
        .arg("--stdin")
        .args(args)
        .env_remove("LATCHKEY_KEYSTORE")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run latchkey");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
