//! `qrbench`: Latchkey's `scan_frame` against plain rqrr and zxing-cpp on the same frames.
//!
//! ```text
//! cargo run --release -p latchkey-qrbench -- [--count 150] [--only NAME] [--frames DIR]
//!     [--real DIR] [--dump DIR] [--python PATH] [--no-zxing] [--ablation] [--passes] [--misses] [--repeat 3]
//! ```
//!
//! One run reports every corpus, each in its own table and then side by side:
//! - `seeded` 720p and 1080p (seed 1): the corpus the pipeline was first tuned on;
//! - `wide` 720p and 1080p, the generator widened to what phones produce (issue 22), in two
//!   splits: `tune` (seed 11, looked at while tuning) and `held-out` (seed 12, not looked at);
//! - `real`: zxing-cpp's blackbox QR photos (`--real DIR`, default
//!   `~/.cache/latchkey/zxing-cpp-samples`: a copy of its repository's `test/samples`), split
//!   by folder:
//!   `real tune` is qrcode-2 and qrcode-3, `real held-out` qrcode-1, 4, 5 and 6;
//! - `--frames DIR`: your own PNG/JPEG, each with a sidecar `NAME.txt` holding the expected
//!   payload (no sidecar = must read nothing).
//!
//! `--only NAME` keeps the corpora whose name contains NAME; `--dump DIR` writes their frames
//! as PNG with sidecars (to look at them, or to feed another decoder) and stops.
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
use latchkey_qrbench::{corpus_in, sequence, Frame, Profile, SEQUENCE_FPS, SIZES};

const ZXING_SCRIPT: &str = r#"
import sys, time, pathlib, json
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
        found = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode, text_mode=zxingcpp.TextMode.Plain)
        ms = min(ms, (time.perf_counter() - start) * 1000.0)
    text = found[0].text if found else ""
    out.append(f"{path.stem}\t{ms:.4f}\t{int(bool(found))}\t{json.dumps(text)}")
print("\n".join(out))
"#;

struct Args {
    count: usize,
    only: Vec<String>,
    frames: Option<PathBuf>,
    real: Option<PathBuf>,
    dump: Option<PathBuf>,
    python: String,
    zxing: bool,
    ablation: bool,
    passes: bool,
    sequences: usize,
    misses: bool,
    repeat: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        count: 150,
        only: Vec::new(),
        frames: None,
        real: std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".cache/latchkey/zxing-cpp-samples"))
            .filter(|dir| dir.is_dir()),
        dump: None,
        python: std::env::var("QRBENCH_PYTHON").unwrap_or_else(|_| "python3".into()),
        zxing: true,
        ablation: false,
        passes: false,
        sequences: 24,
        misses: false,
        repeat: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--count" => args.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--only" => args.only.push(value()?),
            "--frames" => args.frames = Some(PathBuf::from(value()?)),
            "--real" => args.real = Some(PathBuf::from(value()?)),
            "--dump" => args.dump = Some(PathBuf::from(value()?)),
            "--python" => args.python = value()?,
            "--no-zxing" => args.zxing = false,
            "--ablation" => args.ablation = true,
            "--passes" => args.passes = true,
            "--sequences" => {
                args.sequences = value()?.parse().map_err(|e| format!("--sequences: {e}"))?;
            }
            "--misses" => args.misses = true,
            "--repeat" => {
                args.repeat = value()?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--repeat needs a whole number of at least 1")?;
            }
            "-h" | "--help" => {
                println!("usage: qrbench [--count N] [--only NAME]... [--frames DIR] [--real DIR] [--dump DIR] [--python PATH] [--no-zxing] [--ablation] [--passes] [--sequences N] [--misses] [--repeat N]");
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

/// The camera loop's reader ([`qr::CameraReader`]) on each frame held still for as many
/// frames as the deeper passes take turns (a fresh reader per frame): read if any of those
/// frames read it; the time is the mean per camera frame, the quickest of `repeat` runs.
fn time_camera(frames: &[Frame], repeat: usize) -> Vec<Outcome> {
    frames
        .iter()
        .map(|f| {
            let turns = qr::CameraReader::BLIND_EVERY
                * qr::CameraReader::deep_passes(f.width, f.height).len();
            let mut best = f64::INFINITY;
            let mut text = None;
            for run in 0..repeat {
                let mut reader = qr::CameraReader::new();
                let start = Instant::now();
                let mut found = None;
                let mut calls = 0;
                for _ in 0..turns {
                    calls += 1;
                    found = reader
                        .read(&f.luma, f.width, f.height, f.width)
                        .into_iter()
                        .next();
                    if found.is_some() {
                        break;
                    }
                }
                best = best.min(start.elapsed().as_secs_f64() * 1000.0 / f64::from(calls));
                if run == 0 {
                    text = found;
                }
            }
            Outcome { text, ms: best }
        })
        .collect()
}

/// rqrr on the raw frame with its own threshold. It panics on some real photos
/// (`assertion failed: scan >= 1` in `rqrr::identify::grid`): a panic counts as no read.
fn read_rqrr(f: &Frame) -> Vec<String> {
    std::panic::catch_unwind(|| {
        let mut prepared =
            rqrr::PreparedImage::prepare_from_greyscale(f.width, f.height, |x, y| {
                f.luma[y * f.width + x]
            });
        prepared
            .detect_grids()
            .iter()
            .filter_map(|g| g.decode().ok().map(|(_, text)| text))
            .collect()
    })
    .unwrap_or_default()
}

/// Frames per turn in [`camera_and_zxing`].
const TURN: usize = 25;

/// The camera reader ([`time_camera`]) and, unless `--no-zxing`, zxing-cpp on the same
/// frames, taking turns over [`TURN`] frames at a time.
fn camera_and_zxing(
    frames: &[Frame],
    args: &Args,
) -> (Vec<Outcome>, Option<Result<Vec<Outcome>, String>>) {
    let mut camera = Vec::with_capacity(frames.len());
    let mut zxing = args.zxing.then(|| Ok(Vec::with_capacity(frames.len())));
    for chunk in frames.chunks(TURN) {
        camera.extend(time_camera(chunk, args.repeat));
        if let Some(Ok(done)) = &mut zxing {
            match run_zxing(chunk, &args.python, args.repeat) {
                Ok(o) => done.extend(o),
                Err(e) => zxing = Some(Err(e)),
            }
        }
    }
    (camera, zxing)
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
            let text: String = serde_json::from_str(p.next()?).ok()?;
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

#[derive(Clone)]
struct Row {
    name: String,
    correct: f64,
    anything: f64,
    wrong: f64,
    false_pos: usize,
    p50: f64,
    p95: f64,
    /// Median time on the frames without a code (every frame while the person aims).
    p50_empty: f64,
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
            (Some(e), Some(t)) if same_text(e, t) => correct += 1,
            (Some(_), Some(_)) => wrong += 1,
            (None, Some(_)) => false_pos += 1,
            _ => {}
        }
    }
    let mut ms: Vec<f64> = outcomes.iter().map(|o| o.ms).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    let mut empty: Vec<f64> = frames
        .iter()
        .zip(outcomes)
        .filter(|(f, _)| f.expected.is_none())
        .map(|(_, o)| o.ms)
        .collect();
    empty.sort_by(f64::total_cmp);
    Row {
        name: name.into(),
        correct: 100.0 * f64::from(correct) / with_code as f64,
        anything: 100.0 * f64::from(correct + wrong) / with_code as f64,
        wrong: 100.0 * f64::from(wrong) / with_code as f64,
        false_pos,
        p50: pct(0.5),
        p95: pct(0.95),
        p50_empty: empty.get(empty.len() / 2).copied().unwrap_or(f64::NAN),
    }
}

/// The expected text, ignoring line ends at the end (sidecar files end with one or not).
fn same_text(expected: &str, read: &str) -> bool {
    expected.trim_end_matches(['\n', '\r']) == read.trim_end_matches(['\n', '\r'])
}

fn load_dir(dir: &Path) -> Result<Vec<Frame>, String> {
    let mut frames = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                ["png", "jpg", "jpeg", "webp"].contains(&e.to_ascii_lowercase().as_str())
            })
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
            traits: std::fs::read_to_string(path.with_extension("traits")).unwrap_or_default(),
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
    let sets = match corpora(&args) {
        Ok(sets) => sets,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(dir) = &args.dump {
        return match dump(dir, &sets) {
            Ok(n) => {
                eprintln!("wrote {n} frames to {}", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // rqrr asserts on some real photos; its panics are caught and counted as no read, so
    // only other panics are printed.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.location().is_some_and(|l| l.file().contains("rqrr")) {
            default_hook(info);
        }
    }));
    let mut summary = Vec::new();
    for (label, frames) in &sets {
        let with_code = frames.iter().filter(|f| f.expected.is_some()).count();
        println!(
            "\n{label}: {} frames ({with_code} with a code, {} without)",
            frames.len(),
            frames.len() - with_code
        );
        let mut rows = Vec::new();
        // The camera reader and zxing-cpp take turns over chunks of frames, so a machine
        // that speeds up or slows down during the run moves both (on a shared VM the speed
        // drifted by half within minutes; timed one after the other, the ratio wandered from
        // x 0.8 to x 1.5 between identical runs).
        let (camera, zxing) = camera_and_zxing(frames, &args);
        rows.push(score(
            "latchkey camera: per frame, the frame held for the passes' turn",
            frames,
            &camera,
        ));
        let latchkey = time_rust(frames, args.repeat, |f| {
            qr::read_with(&f.luma, f.width, f.height, f.width, Steps::ALL)
        });
        rows.push(score(
            "latchkey still image (every pass)",
            frames,
            &latchkey,
        ));
        let plain = time_rust(frames, args.repeat, read_rqrr);
        rows.push(score("rqrr (raw frame)", frames, &plain));
        // rxing alone: one plain full-size pass, without the inverted image or any other pass.
        let rx = time_rust(frames, args.repeat, |f| {
            qr::read_with(&f.luma, f.width, f.height, f.width, Steps::PLAIN)
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
        if args.passes {
            let mut each = Vec::new();
            for pass in qr::Pass::ALL {
                let o = time_rust(frames, args.repeat, |f| {
                    qr::read_pass(&f.luma, f.width, f.height, f.width, pass)
                });
                rows.push(score(&format!("  {pass:?} pass alone"), frames, &o));
                each.push((pass, o));
            }
            let read = |o: &Outcome, f: &Frame| matches!((&f.expected, &o.text), (Some(e), Some(t)) if same_text(e, t));
            let union = (0..frames.len())
                .filter(|&i| each.iter().any(|(_, o)| read(&o[i], &frames[i])))
                .count();
            eprintln!("passes: {union} frames read by some pass");
            for (pass, o) in &each {
                let only = (0..frames.len())
                    .filter(|&i| {
                        read(&o[i], &frames[i])
                            && each
                                .iter()
                                .all(|(p, other)| p == pass || !read(&other[i], &frames[i]))
                    })
                    .count();
                eprintln!("passes: {pass:?} reads {only} frames no other pass reads");
            }
        }
        let zx = match zxing {
            Some(Ok(o)) => {
                rows.push(score("zxing-cpp (Python)", frames, &o));
                Some(o)
            }
            Some(Err(e)) => {
                eprintln!("zxing-cpp skipped: {e}");
                None
            }
            None => None,
        };
        println!("| decoder | decoded % | decoded anything % | wrong % | false positives | p50 ms | p95 ms | p50 ms without a code |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in &rows {
            println!(
                "| {} | {:.1} | {:.1} | {:.1} | {} | {:.2} | {:.2} | {:.2} |",
                r.name, r.correct, r.anything, r.wrong, r.false_pos, r.p50, r.p95, r.p50_empty
            );
        }
        let z = rows.iter().find(|r| r.name.starts_with("zxing"));
        if let Some(z) = z {
            let l = &rows[0];
            println!(
                "latchkey / zxing-cpp: decoded {:+.1} points, p50 time × {:.2}, p95 time × {:.2}",
                l.correct - z.correct,
                l.p50 / z.p50,
                l.p95 / z.p95
            );
        }
        summary.push((
            label.clone(),
            frames.len(),
            rows[0].clone(),
            rows[1].clone(),
            rows[3].clone(),
            z.cloned(),
        ));
        if args.misses {
            let verdict = |expected: &str, text: &Option<String>| match text {
                Some(t) if same_text(expected, t) => "ok".to_owned(),
                Some(t) => format!("WRONG {:?}", t.chars().take(60).collect::<String>()),
                None => "MISS".to_owned(),
            };
            for (i, f) in frames.iter().enumerate() {
                let Some(expected) = &f.expected else {
                    continue;
                };
                let ours = verdict(expected, &latchkey[i].text);
                let theirs = zx
                    .as_ref()
                    .map_or("–".to_owned(), |z| verdict(expected, &z[i].text));
                if ours != "ok" || theirs != "ok" {
                    println!("  {} latchkey={ours} zxing={theirs} {}", f.name, f.traits);
                }
            }
        }
    }
    if !summary.is_empty() {
        print_summary(&summary);
    }
    if args.sequences > 0
        && (args.only.is_empty() || args.only.iter().any(|o| "sequences".contains(o.as_str())))
    {
        if let Err(e) = run_sequences(&args) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// When a reader running live over a sequence reads it: frame i arrives at i / fps; the
/// reader takes the newest frame once it is free again (frames that arrive while it works
/// are dropped, as a camera does). `read(i)` reads frame i and says how long it took.
/// Returns the second at which the correct payload came out, and the wrong payloads read
/// before it.
fn live(frames: &[Frame], mut read: impl FnMut(usize) -> Outcome) -> (Option<f64>, usize) {
    let mut wrong = 0;
    let mut i = 0;
    while i < frames.len() {
        let arrived = i as f64 / SEQUENCE_FPS;
        let o = read(i);
        let done = arrived + o.ms / 1000.0;
        match (&frames[i].expected, &o.text) {
            (Some(e), Some(t)) if same_text(e, t) => return (Some(done), wrong),
            (_, Some(_)) => wrong += 1,
            _ => {}
        }
        // The newest frame that has arrived by then (at least the next one).
        i = ((done * SEQUENCE_FPS).floor() as usize).max(i + 1);
    }
    (None, wrong)
}

/// One sequence read live: seconds from its start (`None`: never).
struct Live {
    hard: bool,
    /// The first frame Latchkey (every pass) or zxing-cpp reads, given every frame.
    readable: Option<f64>,
    /// When the camera reader, live, read it.
    ours: Option<f64>,
    /// When zxing-cpp, live, read it.
    theirs: Option<f64>,
    our_wrong: usize,
    their_wrong: usize,
}

/// The sequence benchmark: a person bringing the phone to the screen (issue 22, item 4).
fn run_sequences(args: &Args) -> Result<(), String> {
    let (w, h) = (1280, 720);
    println!(
        "\n## Reading while aiming: {} sequences of {:.1} s at {SEQUENCE_FPS} fps, {w}x{h} (seed 21)\n",
        args.sequences,
        latchkey_qrbench::SEQUENCE_SECONDS
    );
    println!("Readable = the first frame that Latchkey (every pass) or zxing-cpp reads when given every frame. Live = the reader keeps up in real time, dropping frames while busy.\n");
    let mut results = Vec::new();
    for index in 0..args.sequences {
        let seq = sequence(21, index, w, h, "seq-720p");
        let still = time_rust(&seq.frames, 1, |f| {
            qr::read_with(&f.luma, f.width, f.height, f.width, Steps::ALL)
        });
        let zx = if args.zxing {
            Some(run_zxing(&seq.frames, &args.python, 1)?)
        } else {
            None
        };
        let correct = |o: &Outcome, f: &Frame| matches!((&f.expected, &o.text), (Some(e), Some(t)) if same_text(e, t));
        let readable = (0..seq.frames.len())
            .find(|&i| {
                correct(&still[i], &seq.frames[i])
                    || zx.as_ref().is_some_and(|z| correct(&z[i], &seq.frames[i]))
            })
            .map(|i| i as f64 / SEQUENCE_FPS);
        let mut reader = qr::CameraReader::new();
        let (ours, our_wrong) = live(&seq.frames, |i| {
            let f = &seq.frames[i];
            let start = Instant::now();
            let text = reader
                .read(&f.luma, f.width, f.height, f.width)
                .into_iter()
                .next();
            Outcome {
                text,
                ms: start.elapsed().as_secs_f64() * 1000.0,
            }
        });
        let (theirs, their_wrong) = match &zx {
            Some(z) => live(&seq.frames, |i| z[i].clone()),
            None => (None, 0),
        };
        let show = |t: Option<f64>| t.map_or("never".to_owned(), |t| format!("{t:.2} s"));
        eprintln!(
            "{}: readable {} latchkey {} zxing-cpp {} ({})",
            seq.name,
            show(readable),
            show(ours),
            show(theirs),
            seq.traits
        );
        if args.misses {
            println!(
                "  {}: readable {} latchkey {} zxing-cpp {} ({})",
                seq.name,
                show(readable),
                show(ours),
                show(theirs),
                seq.traits
            );
        }
        results.push(Live {
            hard: seq.hard,
            readable,
            ours,
            theirs,
            our_wrong,
            their_wrong,
        });
    }
    println!("| sequences | count | readable by either | latchkey live within 0.5 s of readable | zxing-cpp live within 0.5 s | latchkey median s after readable | zxing-cpp median s after readable | latchkey never | zxing-cpp never | wrong reads latchkey / zxing-cpp |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (kind, keep) in [
        ("easy (settle comfortably)", Some(false)),
        ("hard (never get easy)", Some(true)),
        ("all", None),
    ] {
        let rows: Vec<_> = results
            .iter()
            .filter(|r| keep.is_none_or(|hard| r.hard == hard))
            .collect();
        let readable: Vec<&Live> = rows
            .iter()
            .copied()
            .filter(|r| r.readable.is_some())
            .collect();
        let within = |pick: fn(&Live) -> Option<f64>| {
            let n = readable
                .iter()
                .filter(|r| pick(r).is_some_and(|t| t - r.readable.unwrap_or(0.0) <= 0.5))
                .count();
            format!(
                "{n} of {} ({:.0} %)",
                readable.len(),
                100.0 * n as f64 / readable.len().max(1) as f64
            )
        };
        let median = |pick: fn(&Live) -> Option<f64>| {
            let mut lag: Vec<f64> = readable
                .iter()
                .filter_map(|r| pick(r).map(|t| t - r.readable.unwrap_or(0.0)))
                .collect();
            lag.sort_by(f64::total_cmp);
            lag.get(lag.len() / 2)
                .map_or("–".to_owned(), |l| format!("{l:.2}"))
        };
        println!(
            "| {kind} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |",
            rows.len(),
            readable.len(),
            within(|r| r.ours),
            within(|r| r.theirs),
            median(|r| r.ours),
            median(|r| r.theirs),
            rows.iter().filter(|r| r.ours.is_none()).count(),
            rows.iter().filter(|r| r.theirs.is_none()).count(),
            rows.iter().map(|r| r.our_wrong).sum::<usize>(),
            rows.iter().map(|r| r.their_wrong).sum::<usize>(),
        );
    }
    Ok(())
}

/// Every corpus side by side: Latchkey, rxing alone and zxing-cpp, with the gaps.
/// One corpus in the summary: its name, frame count, and the camera reader's, every pass's,
/// rxing alone's and zxing-cpp's rows.
type Summary = (String, usize, Row, Row, Row, Option<Row>);

fn print_summary(summary: &[Summary]) {
    println!("\n## Every corpus\n");
    println!("Latchkey = the camera reader, each frame held for the passes' turn (still = every pass at once).\n");
    println!("| corpus | frames | latchkey % | still % | rxing alone % | zxing-cpp % | points vs zxing-cpp | latchkey p50 ms | still p50 ms | zxing-cpp p50 ms | p50 ratio | latchkey wrong % / false pos | zxing-cpp wrong % / false pos |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
    for (label, n, l, still, rx, z) in summary {
        let (zc, zp, gap, ratio, zw) = match z {
            Some(z) => (
                format!("{:.1}", z.correct),
                format!("{:.2}", z.p50),
                format!("{:+.1}", l.correct - z.correct),
                format!("× {:.2}", l.p50 / z.p50),
                format!("{:.1} / {}", z.wrong, z.false_pos),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into(), "–".into()),
        };
        println!(
            "| {label} | {n} | {:.1} | {:.1} | {:.1} | {zc} | {gap} | {:.2} | {:.2} | {zp} | {ratio} | {:.1} / {} | {zw} |",
            l.correct, still.correct, rx.correct, l.p50, still.p50, l.wrong.max(still.wrong), l.false_pos.max(still.false_pos)
        );
    }
}

/// zxing-cpp's blackbox QR samples: `DIR/qrcode-N/` for N in 1..=6 as in its repository's
/// `test/samples` (images with a `NAME.txt` expected text; those without one, such as the
/// structured-append parts, are skipped), named `qrcode-N-NAME`.
fn load_real(dir: &Path) -> Result<Vec<Frame>, String> {
    let mut frames = Vec::new();
    for n in 1..=6 {
        let sub = dir.join(format!("qrcode-{n}"));
        if !sub.is_dir() {
            return Err(format!(
                "{} is missing: --real wants zxing-cpp's test/samples (see qrbench/README.md)",
                sub.display()
            ));
        }
        for mut f in load_dir(&sub)? {
            if f.expected.is_some() {
                f.name = format!("qrcode-{n}-{}", f.name);
                frames.push(f);
            }
        }
    }
    Ok(frames)
}

/// Writes every frame as `DIR/NAME.png` with `NAME.txt` (the expected payload) beside it.
fn dump(dir: &Path, sets: &[(String, Vec<Frame>)]) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut n = 0;
    for f in sets.iter().flat_map(|(_, frames)| frames) {
        let png = dir.join(format!("{}.png", f.name));
        image::GrayImage::from_raw(f.width as u32, f.height as u32, f.luma.clone())
            .ok_or("frame size")?
            .save(&png)
            .map_err(|e| format!("{}: {e}", png.display()))?;
        if let Some(text) = &f.expected {
            std::fs::write(png.with_extension("txt"), text).map_err(|e| e.to_string())?;
        }
        std::fs::write(png.with_extension("traits"), &f.traits).map_err(|e| e.to_string())?;
        n += 1;
    }
    Ok(n)
}

/// The corpora this run reports (see the module comment), filtered by `--only`.
fn corpora(args: &Args) -> Result<Vec<(String, Vec<Frame>)>, String> {
    let wanted =
        |name: &str| args.only.is_empty() || args.only.iter().any(|o| name.contains(o.as_str()));
    let mut sets = Vec::new();
    for (profile, seed, split) in [
        (Profile::Seeded, 1, "seeded"),
        (Profile::Wide, 11, "wide tune"),
        (Profile::Wide, 12, "wide held-out"),
    ] {
        for &(w, h, size) in &SIZES {
            let name = format!("{split} {size}");
            if !wanted(&name) {
                continue;
            }
            eprint!("generating {} {name} frames (seed {seed}) … ", args.count);
            let start = Instant::now();
            let frames = corpus_in(profile, seed, w, h, &name.replace(' ', "-"), args.count);
            eprintln!("{:.1} s", start.elapsed().as_secs_f64());
            sets.push((name, frames));
        }
    }
    if let Some(dir) = &args.real {
        let wants_tune = wanted("real tune");
        let wants_held = wanted("real held-out");
        if wants_tune || wants_held {
            let (tune, held): (Vec<Frame>, Vec<Frame>) = load_real(dir)?
                .into_iter()
                .partition(|f| f.name.starts_with("qrcode-2-") || f.name.starts_with("qrcode-3-"));
            if wants_tune {
                sets.push(("real tune (zxing-cpp qrcode-2, 3)".into(), tune));
            }
            if wants_held {
                sets.push(("real held-out (zxing-cpp qrcode-1, 4, 5, 6)".into(), held));
            }
        }
    }
    if let Some(dir) = &args.frames {
        sets.push((dir.display().to_string(), load_dir(dir)?));
    }
    if sets.iter().all(|(_, frames)| frames.is_empty()) && !wanted("sequences") {
        return Err("no frames: check --only, --real and --frames".into());
    }
    sets.retain(|(_, frames)| !frames.is_empty());
    Ok(sets)
}
