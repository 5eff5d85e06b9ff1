//! `latchkey-desktop`: the Latchkey app in a window (Linux; Windows type-checked). Options as
//! for the CLI: `--data-dir DIR` (`LATCHKEY_HOME`), `--ca FILE` (`LATCHKEY_CA`), `--keystore
//! secret-service|kernel-keyring|windows-credentials` (`LATCHKEY_KEYSTORE`).
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
    /// The tray icon, where the desktop has a tray: closing the window then hides it and the
    /// app keeps answering sign-ins.
    #[cfg(all(unix, not(target_os = "macos")))]
    tray: Option<latchkey_desktop::tray::Tray>,
    /// "Quit" was chosen in the tray: the window's close is not turned into hiding.
    #[cfg(all(unix, not(target_os = "macos")))]
    quitting: Arc<std::sync::atomic::AtomicBool>,
    /// `--first-frame`: say when the first frame was drawn (the benchmark's cold start), then
    /// close.
    first_frame: bool,
    frames: u64,
}

impl eframe::App for Window {
    /// Runs also while the window is hidden (eframe then draws nothing): the app's effects
    /// (a request's notification) are performed here.
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.shell.perform(ctx);
        #[cfg(all(unix, not(target_os = "macos")))]
        if let Some(tray) = &mut self.tray {
            tray.set_language(&self.shell.language());
            let quitting = self.quitting.load(std::sync::atomic::Ordering::SeqCst);
            self.shell.close_to_tray(ctx, quitting);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| draw(ui, &mut self.shell));
        self.frames += 1;
        if self.first_frame {
            if self.frames == 1 {
                // Presented once this returns; the second frame reports it.
                ui.ctx().request_repaint();
            } else {
                println!("first frame drawn");
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
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

/// The data directory's OS keystore: the Secret Service on Linux, the Credential Manager on
/// Windows, unless `--keystore`/`LATCHKEY_KEYSTORE` or the directory's record says otherwise.
fn keystore(data_dir: &std::path::Path) -> Result<os_keystore::OsKeyStore, String> {
    let asked = match arg("--keystore", "LATCHKEY_KEYSTORE") {
        None => None,
        Some(name) => {
            let name = name.to_string_lossy();
            Some(StoreKind::parse(&name).ok_or_else(|| format!("no keystore named {name}"))?)
        }
    };
    os_keystore::open(data_dir, asked, "latchkey").map_err(|e| e.to_string())
}

/// A window that says why the app could not start (launched from a menu, nobody reads
/// stderr). The reason is the core's, with its fix.
fn show_startup_error(message: &str) {
    let message = format!("Latchkey could not start.\n\n{message}");
    let _ = eframe::run_ui_native(
        "Latchkey",
        eframe::NativeOptions {
            viewport: egui::ViewportBuilder::default()
                .with_title("Latchkey")
                .with_app_id("org.latchkey.Latchkey")
                .with_inner_size([440.0, 260.0]),
            ..Default::default()
        },
        move |ui, _frame| {
            egui::CentralPanel::default().show(ui, |ui| {
                ui.label(&message);
                if ui.button("Close").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
        },
    );
}

/// The tray icon, if the desktop has a tray (otherwise closing the window quits, as said).
#[cfg(all(unix, not(target_os = "macos")))]
fn tray(
    ctx: &egui::Context,
    language: &str,
    quitting: &Arc<std::sync::atomic::AtomicBool>,
) -> Option<latchkey_desktop::tray::Tray> {
    use latchkey_desktop::tray::{self, TrayAction};
    let (ctx, quitting) = (ctx.clone(), Arc::clone(quitting));
    let shown = tray::spawn(language, move |action| {
        if action == TrayAction::Quit {
            quitting.store(true, std::sync::atomic::Ordering::SeqCst);
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        } else {
            ctx.send_viewport_cmd(egui::ViewportCommand::Visible(true));
            ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
        }
        ctx.request_repaint();
    });
    match shown {
        Ok(shown) => Some(shown),
        Err(why) => {
            eprintln!("note: {why}; closing the window quits Latchkey");
            None
        }
    }
}

fn main() -> ExitCode {
    let run = || -> Result<(), String> {
        let data_dir = arg("--data-dir", "LATCHKEY_HOME")
            .or_else(os_keystore::default_data_dir)
            .ok_or("no home directory: choose one with --data-dir")?;
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        let opened = keystore(&data_dir)?;
        let mut options = Options::new(
            data_dir.clone(),
            Arc::clone(&opened.store),
            Arc::new(StaticPlatform {
                screen_lock: true,
                model: "Desktop computer (latchkey-desktop)".into(),
            }),
        );
        #[cfg(windows)]
        {
            // Device keys in the TPM where there is one; otherwise the core's software signer,
            // which the server is told is software. The data directory keeps its first choice.
            let tpm = latchkey_desktop::tpm::TpmSigner::open().map_err(|e| e.to_string());
            if let Err(why) = &tpm {
                eprintln!("note: no TPM ({why})");
            }
            match os_keystore::choose_signer(&data_dir, tpm).map_err(|e| e.to_string())? {
                Some(tpm) => options.signer = Some(Arc::new(tpm)),
                None => eprintln!("note: device keys are kept in software"),
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
                languages: latchkey_app::words::posix_languages(),
                // The offset now (a change of daylight saving time shows after a restart).
                utc_offset_minutes: chrono::Local::now().offset().local_minus_utc() / 60,
                screens: true,
                clipboard_images: true,
                // Where this crate reads a webcam (camera.rs).
                webcam: cfg!(any(target_os = "linux", windows)),
                keys_forgotten_at_reboot: !opened.kind.survives_reboot(),
                ..AppOptions::default()
            },
        );
        let window = eframe::NativeOptions {
            viewport: egui::ViewportBuilder::default()
                .with_title("Latchkey")
                .with_app_id("org.latchkey.Latchkey")
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
                let first_frame = std::env::args().any(|a| a == "--first-frame");
                #[cfg(all(unix, not(target_os = "macos")))]
                let quitting = Arc::new(std::sync::atomic::AtomicBool::new(false));
                #[cfg(all(unix, not(target_os = "macos")))]
                let tray = (!first_frame)
                    .then(|| tray(&cc.egui_ctx, &app.view().language, &quitting))
                    .flatten();
                Ok(Box::new(Window {
                    shell: Shell::new(app, mailbox, Arc::new(System::default())),
                    #[cfg(all(unix, not(target_os = "macos")))]
                    tray,
                    #[cfg(all(unix, not(target_os = "macos")))]
                    quitting,
                    first_frame,
                    frames: 0,
                }))
            }),
        )
        .map_err(|e| e.to_string())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            if std::env::var_os("DISPLAY").is_some()
                || std::env::var_os("WAYLAND_DISPLAY").is_some()
                || cfg!(windows)
            {
                show_startup_error(&message);
            }
            ExitCode::FAILURE
        }
    }
}
