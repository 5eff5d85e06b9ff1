//! `qrbench`: Latchkey's `scan_frame` against plain rqrr and zxing-cpp on the same frames.
//!
//! ```text
//! cargo run --release -p latchkey-qrbench -- [--count 150] [--seed 1] [--frames DIR]
//!     [--python PATH] [--no-zxing] [--ablation] [--misses] [--repeat 3]
//! ```
//!
//! Frames come from the seeded corpus (720p and 1080p) or from `--frames DIR` (PNG/JPEG, each
//! with a sidecar `NAME.txt` holding the expected payload; no sidecar = must read nothing).
//! The peers: rqrr and rxing alone on the raw frame, and
//! zxing-cpp through its Python package (`pip install zxing-cpp numpy`), timing only the
//! `read_barcodes` call; everything runs on one thread. Every decoder reads each frame
//! `--repeat` times and is timed by its quickest run (the same for all, so a busy machine
//! skews no one). Prints one table per frame size.
#![allow(clippy::print_stdout, clippy::cast_precision_loss)]

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use latchkey_core::qr::{self, Steps};
use latchkey_qrbench::{corpus, Frame, SIZES};

const ZXING_SCRIPT: &str = r#"
import sys, time, pathlib
import numpy as np
import zxingcpp
out = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.pgm")):
    data = path.read_bytes()
    # P5\n W H\n 255\n
    parts = data.split(b"\n", 3)
    w, h = map(int, parts[1].split())
    img = np.frombuffer(parts[3], dtype=np.uint8).reshape(h, w)
    ms = float("inf")
    for _ in range(int(sys.argv[2])):
        start = time.perf_counter()
        found = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
        ms = min(ms, (time.perf_counter() - start) * 1000.0)
    text = found[0].text if found else ""
    out.append(f"{path.stem}\t{ms:.4f}\t{int(bool(found))}\t{text.encode('unicode_escape').decode()}")
print("\n".join(out))
"#;

struct Args {
    count: usize,
    seed: u64,
    frames: Option<PathBuf>,
    python: String,
    zxing: bool,
    ablation: bool,
    misses: bool,
    repeat: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        count: 150,
        seed: 1,
        frames: None,
        python: std::env::var("QRBENCH_PYTHON").unwrap_or_else(|_| "python3".into()),
        zxing: true,
        ablation: false,
        misses: false,
        repeat: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--count" => args.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--frames" => args.frames = Some(PathBuf::from(value()?)),
            "--python" => args.python = value()?,
            "--no-zxing" => args.zxing = false,
            "--ablation" => args.ablation = true,
            "--misses" => args.misses = true,
            "--repeat" => {
                args.repeat = value()?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--repeat needs a whole number of at least 1")?;
            }
            "-h" | "--help" => {
                println!("usage: qrbench [--count N] [--seed N] [--frames DIR] [--python PATH] [--no-zxing] [--ablation] [--misses] [--repeat N]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}; see --help")),
        }
    }
    Ok(args)
}

/// One decoder's answer for one frame.
#[derive(Clone)]
struct Outcome {
    text: Option<String>,
    ms: f64,
}

/// Each frame decoded `repeat` times; its time is the quickest run (the least disturbed by
/// the rest of the machine), its answer the first run's.
fn time_rust(frames: &[Frame], repeat: usize, f: impl Fn(&Frame) -> Vec<String>) -> Vec<Outcome> {
    frames
        .iter()
        .map(|frame| {
            let mut best = f64::INFINITY;
            let mut text = None;
            for run in 0..repeat {
                let start = Instant::now();
                let found = f(frame);
                best = best.min(start.elapsed().as_secs_f64() * 1000.0);
                if run == 0 {
                    text = found.into_iter().next();
                }
            }
            Outcome { text, ms: best }
        })
        .collect()
}

/// rqrr on the raw frame with its own threshold.
fn read_rqrr(f: &Frame) -> Vec<String> {
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(f.width, f.height, |x, y| {
        f.luma[y * f.width + x]
    });
    prepared
        .detect_grids()
        .iter()
        .filter_map(|g| g.decode().ok().map(|(_, text)| text))
        .collect()
}

fn run_zxing(frames: &[Frame], python: &str, repeat: usize) -> Result<Vec<Outcome>, String> {
    let dir = std::env::temp_dir().join(format!("qrbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for f in frames {
        let mut file = std::fs::File::create(dir.join(format!("{}.pgm", f.name)))
            .map_err(|e| e.to_string())?;
        write!(file, "P5\n{} {}\n255\n", f.width, f.height).map_err(|e| e.to_string())?;
        file.write_all(&f.luma).map_err(|e| e.to_string())?;
    }
    let script = dir.join("zxing_bench.py");
    std::fs::write(&script, ZXING_SCRIPT).map_err(|e| e.to_string())?;
    let out = Command::new(python)
        .arg(&script)
        .arg(&dir)
        .arg(repeat.to_string())
        .env("OMP_NUM_THREADS", "1")
        .output()
        .map_err(|e| format!("could not run {python}: {e}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        return Err(format!(
            "zxing-cpp failed (pip install zxing-cpp numpy into {python}'s environment): {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let by_name: HashMap<&str, Outcome> = text
        .lines()
        .filter_map(|line| {
            let mut p = line.splitn(4, '\t');
            let name = p.next()?;
            let ms = p.next()?.parse().ok()?;
            let found = p.next()? == "1";
            let text = unescape(p.next().unwrap_or(""));
            Some((
                name,
                Outcome {
                    text: found.then_some(text),
                    ms,
                },
            ))
        })
        .collect();
    frames
        .iter()
        .map(|f| {
            by_name
                .get(f.name.as_str())
                .cloned()
                .ok_or(format!("zxing-cpp gave no result for {}", f.name))
        })
        .collect()
}

/// Python's `unicode_escape` back to text (payloads are ASCII here; others pass through).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                if let Ok(v) = u8::from_str_radix(&hex, 16) {
                    out.push(char::from(v));
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

struct Row {
    name: String,
    correct: f64,
    wrong: f64,
    false_pos: usize,
    p50: f64,
    p95: f64,
}

fn score(name: &str, frames: &[Frame], outcomes: &[Outcome]) -> Row {
    let with_code = frames
        .iter()
        .filter(|f| f.expected.is_some())
        .count()
        .max(1);
    let mut correct = 0;
    let mut wrong = 0;
    let mut false_pos = 0;
    for (f, o) in frames.iter().zip(outcomes) {
        match (&f.expected, &o.text) {
            (Some(e), Some(t)) if e == t => correct += 1,
            (Some(_), Some(_)) => wrong += 1,
            (None, Some(_)) => false_pos += 1,
            _ => {}
        }
    }
    let mut ms: Vec<f64> = outcomes.iter().map(|o| o.ms).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    Row {
        name: name.into(),
        correct: 100.0 * f64::from(correct) / with_code as f64,
        wrong: 100.0 * f64::from(wrong) / with_code as f64,
        false_pos,
        p50: pct(0.5),
        p95: pct(0.95),
    }
}

fn load_dir(dir: &Path) -> Result<Vec<Frame>, String> {
    let mut frames = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    entries.sort();
    for path in entries {
        let img = image::open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .to_luma8();
        let expected = std::fs::read_to_string(path.with_extension("txt"))
            .ok()
            .map(|t| t.trim_end_matches(['\n', '\r']).to_owned());
        frames.push(Frame {
            name: path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("frame")
                .to_owned(),
            width: img.width() as usize,
            height: img.height() as usize,
            luma: img.into_raw(),
            expected,
            traits: String::new(),
        });
    }
    Ok(frames)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let sets: Vec<(String, Vec<Frame>)> = match &args.frames {
        Some(dir) => match load_dir(dir) {
            Ok(f) => vec![(dir.display().to_string(), f)],
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => SIZES
            .iter()
            .map(|&(w, h, label)| {
                eprint!(
                    "generating {} {label} frames (seed {}) … ",
                    args.count, args.seed
                );
                let start = Instant::now();
                let frames = corpus(args.seed, w, h, label, args.count);
                eprintln!("{:.1} s", start.elapsed().as_secs_f64());
                (label.to_owned(), frames)
            })
            .collect(),
    };
    for (label, frames) in &sets {
        let with_code = frames.iter().filter(|f| f.expected.is_some()).count();
        println!(
            "\n{label}: {} frames ({with_code} with a code, {} without)",
            frames.len(),
            frames.len() - with_code
        );
        let mut rows = Vec::new();
        let latchkey = time_rust(frames, args.repeat, |f| {
            qr::read_with(&f.luma, f.width, f.height, f.width, Steps::ALL)
        });
        rows.push(score("latchkey scan_frame", frames, &latchkey));
        let plain = time_rust(frames, args.repeat, read_rqrr);
        rows.push(score("rqrr (raw frame)", frames, &plain));
        // rxing alone: the core's first pass without the inverted image or any other pass.
        let alone = Steps {
            inverted: false,
            half_size: false,
            normalised: false,
            blurred: false,
            try_harder: true,
        };
        let rx = time_rust(frames, args.repeat, |f| {
            qr::read_with(&f.luma, f.width, f.height, f.width, alone)
        });
        rows.push(score("rxing alone (try harder)", frames, &rx));
        if args.ablation {
            let variants = [
                (
                    "  without inverted pass",
                    Steps {
                        inverted: false,
                        ..Steps::ALL
                    },
                ),
                (
                    "  without half-size pass",
                    Steps {
                        half_size: false,
                        ..Steps::ALL
                    },
                ),
                (
                    "  without try-harder",
                    Steps {
                        try_harder: false,
                        ..Steps::ALL
                    },
                ),
                (
                    "  without blur",
                    Steps {
                        blurred: false,
                        ..Steps::ALL
                    },
                ),
                (
                    "  without normalised pass",
                    Steps {
                        normalised: false,
                        ..Steps::ALL
                    },
                ),
            ];
            for (name, steps) in variants {
                let o = time_rust(frames, args.repeat, |f| {
                    qr::read_with(&f.luma, f.width, f.height, f.width, steps)
                });
                rows.push(score(name, frames, &o));
            }
        }
        let mut zx = None;
        if args.zxing {
            match run_zxing(frames, &args.python, args.repeat) {
                Ok(o) => {
                    rows.push(score("zxing-cpp (Python)", frames, &o));
                    zx = Some(o);
                }
                Err(e) => eprintln!("zxing-cpp skipped: {e}"),
            }
        }
        println!("| decoder | decoded % | wrong % | false positives | p50 ms | p95 ms |");
        println!("|---|---:|---:|---:|---:|---:|");
        for r in &rows {
            println!(
                "| {} | {:.1} | {:.1} | {} | {:.2} | {:.2} |",
                r.name, r.correct, r.wrong, r.false_pos, r.p50, r.p95
            );
        }
        if let Some(z) = rows.iter().find(|r| r.name.starts_with("zxing")) {
            let l = &rows[0];
            println!(
                "latchkey / zxing-cpp: decoded {:+.1} points, p50 time × {:.2}, p95 time × {:.2}",
                l.correct - z.correct,
                l.p50 / z.p50,
                l.p95 / z.p95
            );
        }
        if args.misses {
            for (i, f) in frames.iter().enumerate() {
                let ours = latchkey[i].text.is_some();
                let theirs = zx.as_ref().is_some_and(|z| z[i].text.is_some());
                if f.expected.is_some() && (!ours || !theirs) {
                    println!(
                        "  {} latchkey={} zxing={} {}",
                        f.name,
                        if ours { "ok" } else { "MISS" },
                        if theirs { "ok" } else { "MISS" },
                        f.traits
                    );
                }
            }
        }
    }
    ExitCode::SUCCESS
}
