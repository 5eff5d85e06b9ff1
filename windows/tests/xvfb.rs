//! The real window, once, end to end, under Xvfb: real OpenGL (Mesa), real X11 input path,
//! the real screen capture (the page's QR code is in a second window on the same X screen, as
//! a browser would show it), against the real server on loopback. A screenshot of every
//! screen goes to `LATCHKEY_SCREENS_DIR` (`scripts/screenshots.sh` sets `docs/screens`).
//!
//! It starts its own Xvfb and runs itself again inside it (so `cargo test` needs no display);
//! without Xvfb it says it skipped, and fails instead when `LATCHKEY_REQUIRE_XVFB` is set.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::collections::VecDeque;
use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui;
use latchkey_app::{App, AppView, Options, Screen};
use latchkey_desktop::platform::System;
use latchkey_desktop::{draw, Mailbox, Shell};
use latchkey_e2e::server::{self, Backend, Browser, TestServer};
use latchkey_e2e::{Phone, PASSWORD};

const CHILD: &str = "LATCHKEY_TOUR_IN_XVFB";

fn main() -> ExitCode {
    // `cargo test -- --list` and filters: this file has one test, "tour".
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("tour: test");
        return ExitCode::SUCCESS;
    }
    if args
        .iter()
        .any(|a| !a.starts_with('-') && !"tour".contains(a.as_str()))
    {
        return ExitCode::SUCCESS;
    }
    if std::env::var_os(CHILD).is_some() {
        return tour();
    }
    let xvfb = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut xvfb) = xvfb else {
        assert!(
            std::env::var_os("LATCHKEY_REQUIRE_XVFB").is_none(),
            "the window tour needs Xvfb (Debian: xvfb)"
        );
        println!("tour ... skipped: no Xvfb (Debian: xvfb)");
        return ExitCode::SUCCESS;
    };
    let mut display = String::new();
    std::io::BufReader::new(xvfb.stdout.take().expect("stdout"))
        .read_line(&mut display)
        .expect("display number");
    let status = Command::new(std::env::current_exe().expect("self"))
        .env(CHILD, "1")
        .env("DISPLAY", format!(":{}", display.trim()))
        .env_remove("WAYLAND_DISPLAY")
        .status()
        .expect("the tour");
    let _ = xvfb.kill();
    let _ = xvfb.wait();
    println!(
        "tour ... {}",
        if status.success() { "ok" } else { "FAILED" }
    );
    if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One step of the tour.
enum Step {
    /// Wait until the view passes the test.
    Until(&'static str, fn(&AppView) -> bool),
    /// Save a screenshot of the window.
    Shot(&'static str),
    /// Click the control with this accessible name (or the start of it).
    Click(&'static str),
    /// Click into a field and type.
    Type(&'static str, Typed),
    /// Sign in on the web (the request arrives by long-poll).
    SignIn,
    /// Open the waiting request from the account, unless it is open already.
    OpenRequest,
    /// Open the account, unless it is open already.
    OpenAccount,
    /// Press the header's Back (or Cancel).
    Back,
    /// Switch to the dark theme.
    Dark,
    /// Close the window.
    Close,
}

enum Typed {
    Text(&'static str),
    /// The number the login page shows.
    Number,
}

struct Tour {
    shell: Shell,
    runtime: tokio::runtime::Handle,
    server: Arc<TestServer>,
    steps: VecDeque<Step>,
    input: Vec<egui::Event>,
    /// The page's QR code, in a second window, until the account is added.
    page: Option<(egui::ColorImage, Option<egui::TextureHandle>)>,
    shots: PathBuf,
    saved: Arc<Mutex<Vec<String>>>,
    /// The current step began (a screenshot asked for, a field clicked into).
    shot_asked: bool,
    settle: u32,
    number: String,
    step_started: Instant,
    failure: Arc<Mutex<Option<String>>>,
}

impl Tour {
    fn next(&mut self) {
        self.steps.pop_front();
        self.settle = 0;
        self.shot_asked = false;
        self.step_started = Instant::now();
    }

    fn click_at(&mut self, rect: egui::Rect) {
        let pos = rect.center();
        self.input.push(egui::Event::PointerMoved(pos));
        for pressed in [true, false] {
            self.input.push(egui::Event::PointerButton {
                pos,
                button: egui::PointerButton::Primary,
                pressed,
                modifiers: egui::Modifiers::NONE,
            });
        }
    }

    fn fail(&mut self, ctx: &egui::Context, why: String) {
        *self.failure.lock().unwrap() = Some(why);
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }

    fn run(&mut self, ctx: &egui::Context) {
        let view = self.shell.view();
        if self.step_started.elapsed() > Duration::from_secs(20) {
            let what = match self.steps.front() {
                Some(Step::Until(what, _)) => format!("waiting for {what}"),
                Some(Step::Click(name) | Step::Type(name, _)) => format!("the control {name}"),
                Some(Step::Shot(name)) => format!("the screenshot {name}"),
                _ => "a step".into(),
            };
            return self.fail(ctx, format!("timed out: {what}; view: {view:#?}"));
        }
        // Let a new screen lay out before acting on it.
        self.settle += 1;
        if self.settle < 3 {
            return;
        }
        let Some(step) = self.steps.front() else {
            return;
        };
        match step {
            Step::Until(_, test) => {
                if test(&view) {
                    self.next();
                }
            }
            Step::Shot(name) => {
                if !self.shot_asked {
                    self.shot_asked = true;
                    let path = self.shots.join(format!("{name}.png"));
                    let (saved, name) = (Arc::clone(&self.saved), (*name).to_owned());
                    ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(
                        egui::ScreenshotCallback::new(move |image| {
                            let [w, h] = image.size;
                            let rgba: Vec<u8> =
                                image.pixels.iter().flat_map(|p| p.to_array()).collect();
                            image::RgbaImage::from_raw(w as u32, h as u32, rgba)
                                .expect("pixels")
                                .save(&path)
                                .expect("save the screenshot");
                            saved.lock().unwrap().push(name);
                        }),
                    ));
                } else if self.saved.lock().unwrap().len() == self.shot_count() {
                    self.next();
                }
            }
            Step::Click(name) => {
                if let Some(rect) = self.shell.control(name) {
                    self.click_at(rect);
                    self.next();
                }
            }
            Step::Type(name, typed) => {
                let text = match typed {
                    Typed::Text(t) => (*t).to_owned(),
                    Typed::Number => self.number.clone(),
                };
                if self.shot_asked {
                    // Clicked into the field frames ago: it has the focus now.
                    self.input.push(egui::Event::Text(text));
                    self.next();
                } else if let Some(rect) = self.shell.control(name) {
                    self.click_at(rect);
                    self.shot_asked = true;
                    self.settle = 0;
                }
            }
            Step::SignIn => {
                let server = Arc::clone(&self.server);
                let (_, _, number) = self.runtime.block_on(async move {
                    Browser::sign_in(&server, "ana@example.org", PASSWORD).await
                });
                self.number = number;
                self.next();
            }
            Step::OpenRequest => match &view.screen {
                Screen::Request(_) => self.next(),
                Screen::Accounts(a) => {
                    if let Some(rect) = self.shell.control(&a.accounts[0].open.a11y) {
                        self.click_at(rect);
                        self.settle = 0;
                    }
                }
                Screen::Account(a) => {
                    if let Some(rect) = a
                        .requests
                        .first()
                        .and_then(|r| self.shell.control(&r.open.a11y))
                    {
                        self.click_at(rect);
                        self.settle = 0;
                    }
                }
                _ => {}
            },
            Step::OpenAccount => match &view.screen {
                Screen::Account(_) => self.next(),
                Screen::Accounts(a) => {
                    if let Some(rect) = self.shell.control(&a.accounts[0].open.a11y) {
                        self.click_at(rect);
                        self.settle = 0;
                    }
                }
                _ => {}
            },
            Step::Back => {
                if let Some(rect) = view.back.as_ref().and_then(|b| self.shell.control(&b.a11y)) {
                    self.click_at(rect);
                    self.next();
                }
            }
            Step::Dark => {
                ctx.set_theme(egui::Theme::Dark);
                self.next();
            }
            Step::Close => {
                self.page = None;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                self.next();
            }
        }
    }

    /// How many screenshots should exist once the current one is saved.
    fn shot_count(&self) -> usize {
        let total = all_steps()
            .iter()
            .filter(|s| matches!(s, Step::Shot(_)))
            .count();
        total
            - self
                .steps
                .iter()
                .filter(|s| matches!(s, Step::Shot(_)))
                .count()
            + 1
    }
}

impl eframe::App for Tour {
    fn raw_input_hook(&mut self, _ctx: &egui::Context, raw_input: &mut egui::RawInput) {
        raw_input.events.append(&mut self.input);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        egui::CentralPanel::default().show(ui, |ui| draw(ui, &mut self.shell));
        // The "browser": the Add a device page's code, beside the app on the same screen.
        let before_enrolment = match &self.shell.view().screen {
            Screen::Scan(_) => true,
            Screen::Accounts(a) => a.accounts.is_empty(),
            _ => false,
        };
        if !before_enrolment {
            self.page = None;
        }
        if let Some((image, texture)) = &mut self.page {
            let size = egui::vec2(image.size[0] as f32, image.size[1] as f32);
            let texture = texture
                .get_or_insert_with(|| {
                    ctx.load_texture("page-qr", image.clone(), egui::TextureOptions::NEAREST)
                })
                .clone();
            ctx.show_viewport_immediate(
                egui::ViewportId::from_hash_of("page"),
                egui::ViewportBuilder::default()
                    .with_title("Add a mobile device - Latchkey demo")
                    .with_position([560.0, 40.0])
                    .with_inner_size(size + egui::vec2(40.0, 40.0)),
                |ui, _| {
                    egui::CentralPanel::default()
                        .frame(
                            egui::Frame::new()
                                .fill(egui::Color32::WHITE)
                                .inner_margin(20),
                        )
                        .show(ui, |ui| ui.image((texture.id(), size)));
                },
            );
        }
        self.run(&ctx);
        ctx.request_repaint_after(Duration::from_millis(30));
    }
}

fn all_steps() -> Vec<Step> {
    use Step::*;
    fn screen(v: &AppView) -> &Screen {
        &v.screen
    }
    vec![
        Until(
            "home",
            |v| matches!(screen(v), Screen::Accounts(a) if a.empty.is_some()),
        ),
        Shot("01-accounts-empty"),
        Click("Initialise (add an account)"),
        Until("scan", |v| matches!(screen(v), Screen::Scan(_))),
        Shot("02-scan"),
        // The real webcam path (V4L2): on a machine without a camera (CI) it says so and
        // offers the other ways; with one, its picture shows until the screen scan below.
        Click("Use my camera"),
        Until("the camera's answer", |v| match screen(v) {
            Screen::Scan(s) => {
                let label = s.webcam.as_ref().map(|b| b.label.as_str());
                (label == Some("Use my camera") && s.guidance.starts_with("No camera"))
                    || (label == Some("Stop the camera") && s.camera_view)
            }
            _ => false,
        }),
        Shot("02b-scan-camera"),
        Click("Scan my screens"),
        Until("enrol", |v| matches!(screen(v), Screen::Enrol(_))),
        Type("PIN:", Typed::Text("4831")),
        Until(
            "PIN typed",
            |v| matches!(screen(v), Screen::Enrol(e) if e.pin.filled == 4),
        ),
        Shot("03-enrol"),
        Click("Add the account"),
        Until("enrolled", |v| {
            v.notice.as_ref().is_some_and(|n| n.text.contains("ready"))
        }),
        Shot("04-enrolled"),
        Click("Done"),
        Until(
            "the account",
            |v| matches!(screen(v), Screen::Accounts(a) if a.accounts.len() == 1),
        ),
        Shot("05-accounts"),
        SignIn,
        // The request opens by itself in a focused window; without a window manager the
        // window may not have the focus, so open it from the account as a person would.
        Until("the request", |v| {
            matches!(screen(v), Screen::Request(_))
                || matches!(screen(v), Screen::Accounts(a) if a.accounts[0].pending > 0)
        }),
        OpenRequest,
        Type("The number shown on the login page", Typed::Number),
        Type("Your PIN", Typed::Text("4831")),
        Until(
            "number and PIN typed",
            |v| matches!(screen(v), Screen::Request(r) if r.pin.filled == 4 && r.code.filled > 0),
        ),
        Shot("06-request"),
        Click("Approve"),
        Until("approved", |v| {
            v.notice
                .as_ref()
                .is_some_and(|n| n.text.contains("Approved"))
        }),
        Shot("07-approved"),
        Click("Done"),
        Until("home", |v| {
            matches!(screen(v), Screen::Accounts(_) | Screen::Account(_))
        }),
        OpenAccount,
        Until("the account screen", |v| {
            matches!(screen(v), Screen::Account(_))
        }),
        Shot("08-account"),
        Click("Change PIN"),
        Until("change PIN", |v| matches!(screen(v), Screen::ChangePin(_))),
        Shot("09-change-pin"),
        Back,
        Until("the account screen", |v| {
            matches!(screen(v), Screen::Account(_))
        }),
        Click("Forgot PIN"),
        Until("forgot PIN", |v| matches!(screen(v), Screen::ForgotPin(_))),
        Shot("10-forgot-pin"),
        Back,
        Until("the account screen", |v| {
            matches!(screen(v), Screen::Account(_))
        }),
        Click("Remove this account"),
        Until("remove", |v| matches!(screen(v), Screen::Remove(_))),
        Shot("11-remove"),
        Back,
        Until("the account screen", |v| {
            matches!(screen(v), Screen::Account(_))
        }),
        Back,
        Until("home", |v| matches!(screen(v), Screen::Accounts(_))),
        Click("Settings"),
        Until("settings", |v| matches!(screen(v), Screen::Settings(_))),
        Shot("12-settings"),
        Back,
        Until("home", |v| matches!(screen(v), Screen::Accounts(_))),
        Dark,
        Shot("13-accounts-dark"),
        Close,
    ]
}

fn tour() -> ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = Arc::new(runtime.block_on(TestServer::start(Backend::Sqlite)));
    let html = runtime.block_on(async {
        let browser = Browser::register(&server, "ana@example.org", PASSWORD).await;
        browser.add_device("Desktop", "4831").await.0
    });
    let (w, h, luma) = server::rasterise(server::page_svg(&html));
    let phone = Phone::new(&server);
    let mailbox = Arc::new(Mailbox::default());
    let app = App::new(
        Arc::new(phone.open()),
        mailbox.clone(),
        runtime.handle().clone(),
        Options {
            languages: vec!["en".into()],
            screens: true,
            clipboard_images: true,
            webcam: true,
            ..Options::default()
        },
    );
    let shots = std::env::var_os("LATCHKEY_SCREENS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("latchkey-screens"));
    std::fs::create_dir_all(&shots).expect("screens dir");
    let saved = Arc::new(Mutex::new(Vec::new()));
    let failure = Arc::new(Mutex::new(None));
    let tour = Tour {
        shell: Shell::new(app, mailbox.clone(), Arc::new(System::default())),
        runtime: runtime.handle().clone(),
        server: Arc::clone(&server),
        steps: all_steps().into(),
        input: Vec::new(),
        page: Some((egui::ColorImage::from_gray([w, h], &luma), None)),
        shots: shots.clone(),
        saved: Arc::clone(&saved),
        shot_asked: false,
        settle: 0,
        number: String::new(),
        step_started: Instant::now(),
        failure: Arc::clone(&failure),
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Latchkey")
            .with_position([0.0, 0.0])
            .with_inner_size([440.0, 640.0]),
        ..Default::default()
    };
    let started = Instant::now();
    eframe::run_native(
        "Latchkey tour",
        options,
        Box::new(move |cc| {
            cc.egui_ctx.set_theme(egui::Theme::Light);
            // No window manager on Xvfb: give the window the keyboard focus as one would.
            cc.egui_ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
            mailbox.attach(cc.egui_ctx.clone());
            Ok(Box::new(tour))
        }),
    )
    .expect("the window");
    if let Some(why) = failure.lock().unwrap().take() {
        eprintln!("the tour failed: {why}");
        return ExitCode::FAILURE;
    }
    let saved = saved.lock().unwrap().clone();
    let expected = all_steps()
        .iter()
        .filter(|s| matches!(s, Step::Shot(_)))
        .count();
    if saved.len() != expected {
        eprintln!(
            "the tour ended after {} of {expected} screenshots: {saved:?}",
            saved.len()
        );
        return ExitCode::FAILURE;
    }
    // A screenshot is a drawn window, not an empty buffer.
    for name in &saved {
        let image = image::open(shots.join(format!("{name}.png")))
            .expect("screenshot")
            .to_luma8();
        let distinct = image
            .pixels()
            .map(|p| p.0[0])
            .collect::<std::collections::BTreeSet<u8>>()
            .len();
        if distinct < 8 {
            eprintln!("{name}.png is blank ({distinct} grey levels)");
            return ExitCode::FAILURE;
        }
    }
    println!(
        "the window tour took {:.1} s; {} screenshots in {}",
        started.elapsed().as_secs_f64(),
        saved.len(),
        shots.display()
    );
    runtime.block_on(async move {
        if let Ok(server) = Arc::try_unwrap(server) {
            server.stop().await;
        }
    });
    ExitCode::SUCCESS
}
