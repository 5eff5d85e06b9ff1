//! `latchkey-desktop`: the Latchkey app in a window (Linux now; Windows when its keystore and
//! signer land). `--data-dir DIR` and `--ca FILE` as for the CLI (`LATCHKEY_HOME`,
//! `LATCHKEY_CA`).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use eframe::egui;
use latchkey_app::{App, Options as AppOptions};
use latchkey_core::os_keystore::{self, StoreKind};
use latchkey_core::{Latchkey, Options, StaticPlatform};
use latchkey_desktop::platform::System;
use latchkey_desktop::{draw, Mailbox, Shell};

struct Window {
    shell: Shell,
}

impl eframe::App for Window {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| draw(ui, &mut self.shell));
    }
}

fn arg(name: &str, env: &str) -> Option<PathBuf> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == name {
            return args.next().map(PathBuf::from);
        }
    }
    std::env::var_os(env).map(PathBuf::from)
}

fn languages() -> Vec<String> {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .filter(|v| !v.is_empty())
        .map(|v| {
            let base = v.split(['.', '@']).next().unwrap_or(&v).to_owned();
            if base == "C" || base == "POSIX" {
                "en".into()
            } else {
                base.replace('_', "-")
            }
        })
        .collect()
}

/// The data directory's OS keystore: the Secret Service on Linux, the Credential Manager on
/// Windows, unless `--keystore`/`LATCHKEY_KEYSTORE` or the directory's record says otherwise.
fn keystore(
    data_dir: &std::path::Path,
) -> Result<Arc<dyn latchkey_core::keystore::KeyStore>, String> {
    let asked = match arg("--keystore", "LATCHKEY_KEYSTORE") {
        None => None,
        Some(name) => {
            let name = name.to_string_lossy();
            Some(StoreKind::parse(&name).ok_or_else(|| format!("no keystore named {name}"))?)
        }
    };
    let opened = os_keystore::open(data_dir, asked, "latchkey").map_err(|e| e.to_string())?;
    if !opened.kind.survives_reboot() {
        eprintln!("note: the kernel keyring forgets these keys when the computer restarts");
    }
    Ok(opened.store)
}

fn main() -> ExitCode {
    let data_dir = arg("--data-dir", "LATCHKEY_HOME").unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".local/share/latchkey")
    });
    let run = || -> Result<(), String> {
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        let mut options = Options::new(
            data_dir.clone(),
            keystore(&data_dir)?,
            Arc::new(StaticPlatform {
                screen_lock: true,
                model: "Desktop computer (latchkey-desktop)".into(),
            }),
        );
        #[cfg(windows)]
        {
            // Device keys in the TPM where there is one; otherwise the core's software signer,
            // which the server is told is software.
            match latchkey_desktop::tpm::TpmSigner::open() {
                Ok(tpm) => options.signer = Some(Arc::new(tpm)),
                Err(e) => eprintln!("note: no TPM ({e}); device keys are kept in software"),
            }
        }
        if let Some(ca) = arg("--ca", "LATCHKEY_CA") {
            options.extra_ca_pem =
                Some(std::fs::read(&ca).map_err(|e| format!("{}: {e}", ca.display()))?);
        }
        let core = Latchkey::open(options).map_err(|e| e.to_string())?;
        let mailbox = Arc::new(Mailbox::default());
        let app = App::new(
            Arc::new(core),
            mailbox.clone(),
            runtime.handle().clone(),
            AppOptions {
                languages: languages(),
                screens: true,
                clipboard_images: true,
                ..AppOptions::default()
            },
        );
        let window = eframe::NativeOptions {
            viewport: egui::ViewportBuilder::default()
                .with_title("Latchkey")
                .with_app_id("latchkey")
                .with_inner_size([440.0, 640.0])
                .with_min_inner_size([320.0, 420.0]),
            ..Default::default()
        };
        eframe::run_native(
            "Latchkey",
            window,
            Box::new(move |cc| {
                cc.egui_ctx.set_theme(egui::ThemePreference::System);
                mailbox.attach(cc.egui_ctx.clone());
                Ok(Box::new(Window {
                    shell: Shell::new(app, mailbox, Arc::new(System::default())),
                }))
            }),
        )
        .map_err(|e| e.to_string())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
