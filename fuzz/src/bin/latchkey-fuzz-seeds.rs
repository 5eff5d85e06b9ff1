//! Writes the generated seeds of a fuzz target into a directory (for libFuzzer, beside the
//! committed corpus): `latchkey-fuzz-seeds TARGET DIR`.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(target), Some(dir)) = (args.get(1), args.get(2)) else {
        eprintln!(
            "usage: latchkey-fuzz-seeds TARGET DIR (targets: {})",
            latchkey_fuzz::TARGETS.join(", ")
        );
        return std::process::ExitCode::from(2);
    };
    if !latchkey_fuzz::TARGETS.contains(&target.as_str()) {
        eprintln!(
            "no fuzz target {target} (targets: {})",
            latchkey_fuzz::TARGETS.join(", ")
        );
        return std::process::ExitCode::from(2);
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("cannot create {dir}: {e}");
        return std::process::ExitCode::FAILURE;
    }
    for (i, seed) in latchkey_fuzz::seeds(target).iter().enumerate() {
        let path = std::path::Path::new(dir).join(format!("seed-{i:03}"));
        if let Err(e) = std::fs::write(&path, seed) {
            eprintln!("cannot write {}: {e}", path.display());
            return std::process::ExitCode::FAILURE;
        }
    }
    std::process::ExitCode::SUCCESS
}
