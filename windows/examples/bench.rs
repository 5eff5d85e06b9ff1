//! The desktop app's numbers (issue 17, item 6), printed as a table: cold start to the first
//! frame, idle CPU and wake-ups over 60 s with three accounts long-polling, memory, the
//! release binary's size, and the screen scan time on a 2560×1440 capture.
//!
//! `scripts/bench-desktop.sh` builds the release binary and runs this under Xvfb and a kernel
//! session keyring. Not part of test.sh.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use latchkey_core::os_keystore::{self, StoreKind};
use latchkey_core::protocol::secret::Pin;
use latchkey_core::{Latchkey, Options, StaticPlatform};
use latchkey_e2e::server::{self, Backend, Browser, TestServer};
use latchkey_e2e::PASSWORD;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A field of /proc/PID/status (kB or a count), summed over the process's threads for
/// context switches.
fn status(pid: u32, key: &str) -> u64 {
    let read = |path: &Path| -> u64 {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().split(' ').next().and_then(|n| n.parse().ok()))
            .unwrap_or(0)
    };
    if key.contains("ctxt") {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("tasks")
            .map(|t| read(&t.expect("task").path().join("status")))
            .sum()
    } else {
        read(Path::new(&format!("/proc/{pid}/status")))
    }
}

fn main() {
    let bin = PathBuf::from(std::env::var("LATCHKEY_DESKTOP_BIN").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/release/latchkey-desktop"
        )
        .into()
    }));
    assert!(
        bin.exists(),
        "build it first: cargo build --release -p latchkey-desktop"
    );
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "run under a display (scripts/bench-desktop.sh starts Xvfb)"
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(TestServer::start(Backend::Sqlite));
    let ca = server.dir.path().join("tls/dev-ca.pem");
    let data = tempfile::tempdir().expect("data");

    // Three accounts, enrolled through the core into the data directory the app will open.
    let policy = {
        let store = os_keystore::open(data.path(), Some(StoreKind::KernelKeyring), "latchkey")
            .expect("the kernel keyring (run inside `keyctl session`)");
        let mut options = Options::new(
            data.path(),
            store.store,
            std::sync::Arc::new(StaticPlatform {
                screen_lock: true,
                model: "bench".into(),
            }),
        );
        options.extra_ca_pem = Some(std::fs::read(&ca).expect("ca"));
        let core = Latchkey::open(options).expect("core");
        for who in ["a", "b", "c"] {
            runtime.block_on(async {
                let email = format!("{who}@example.org");
                let browser = Browser::register(&server, &email, PASSWORD).await;
                let (html, _) = browser.add_device("Desktop", "4831").await;
                let link = latchkey_e2e::scan_page(&html);
                core.enrol(&link, &Pin::new("4831"), None)
                    .await
                    .expect("enrol");
            });
        }
        core.link_policy().clone()
    };
    let app = |extra: &[&str]| {
        Command::new(&bin)
            .arg("--data-dir")
            .arg(data.path())
            .arg("--ca")
            .arg(&ca)
            .args(["--keystore", "kernel-keyring"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("latchkey-desktop")
    };

    // Cold start: process start to the first frame drawn (the app opens its vault, its
    // keystore, GL and fonts), median of 7.
    let mut starts = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let mut child = app(&["--first-frame"]);
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("first frame");
        assert!(line.contains("first frame"), "{line}");
        starts.push(t.elapsed().as_secs_f64() * 1000.0);
        child.wait().expect("exit");
    }

    // Idle: three accounts long-polling (25 s each), no request, the window open.
    let mut child = app(&[]);
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(5));
    let (cpu0, sw0) = (cpu_ticks(pid), status(pid, "voluntary_ctxt_switches:"));
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(60));
    let seconds = t.elapsed().as_secs_f64();
    let (cpu1, sw1) = (cpu_ticks(pid), status(pid, "voluntary_ctxt_switches:"));
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let cpu_percent = (cpu1 - cpu0) as f64 / ticks_per_second / seconds * 100.0;
    let wakeups = (sw1 - sw0) as f64 / seconds;
    let (rss, hwm) = (status(pid, "VmRSS:"), status(pid, "VmHWM:"));
    child.kill().ok();
    child.wait().ok();

    // Size.
    let size = std::fs::metadata(&bin).expect("binary").len();
    let stripped = std::env::temp_dir().join("latchkey-desktop-stripped");
    let stripped_size = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(&bin)
        .status()
        .ok()
        .filter(std::process::ExitStatus::success)
        .and_then(|_| std::fs::metadata(&stripped).ok())
        .map(|m| m.len());

    // Screen scan: the page's code on a 2560×1440 screen, and a screen without one (most
    // screens of a multi-monitor desk), median of 9 each.
    let (html, _) = runtime.block_on(async {
        Browser::register(&server, "scan@example.org", PASSWORD)
            .await
            .add_device("Desktop", "4831")
            .await
    });
    let (cw, ch, code) = server::rasterise(server::page_svg(&html));
    let with_code = latchkey_e2e::virtual_screen(2560, 1440, &code, cw, ch, 1500, 500);
    let without = latchkey_e2e::virtual_screen(2560, 1440, &[], 0, 0, 1500, 500);
    let time_scan = |luma: &[u8], expect_code: bool| {
        median(
            (0..9)
                .map(|_| {
                    let t = Instant::now();
                    let r = latchkey_core::scan_frame(luma, 2560, 1440, 2560, &policy);
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    assert_eq!(
                        matches!(r, Ok(latchkey_core::ScanResult::Link(_))),
                        expect_code
                    );
                    ms
                })
                .collect(),
        )
    };
    let (scan_hit, scan_miss) = (time_scan(&with_code, true), time_scan(&without, false));

    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!(
        "| cold start to first frame (median of 7) | {:.0} ms | |",
        median(starts)
    );
    println!("| idle CPU, 60 s, 3 accounts long-polling | {cpu_percent:.2} % of a core | < 1 % |");
    println!("| idle voluntary wake-ups (all threads) | {wakeups:.2} /s | long-polls only |");
    println!(
        "| memory after 65 s (RSS / peak) | {:.1} / {:.1} MiB | |",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "| release binary | {:.1} MiB ({} stripped) | |",
        size as f64 / 1048576.0,
        stripped_size.map_or("strip unavailable".into(), |s| format!(
            "{:.1} MiB",
            s as f64 / 1048576.0
        ))
    );
    println!("| scan a 2560×1440 screen with the code (median of 9) | {scan_hit:.0} ms | |");
    println!("| scan a 2560×1440 screen without a code (median of 9) | {scan_miss:.0} ms | |");
    runtime.block_on(server.stop());
}
