//! The desktop shell: draws the app model's views with egui and sends the person's actions
//! back. Every word, state and step comes from `latchkey-app`; this crate decides nothing.
//! It performs the desktop's effects (window attention, the file picker) and holds the one
//! frame of typed digits it forwards.
#![deny(unsafe_code)] // allowed only in `tpm` (NCrypt) and the Windows webcam (Media Foundation)

pub mod camera;
mod draw;
#[cfg(all(unix, not(target_os = "macos")))]
pub mod notifications;
pub mod platform;
#[cfg(all(unix, not(target_os = "macos")))]
pub mod portal;
pub mod toast;
#[cfg(windows)]
pub mod tpm;
#[cfg(all(unix, not(target_os = "macos")))]
pub mod tray;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use eframe::egui;
use latchkey_app::{App, AppEffect, AppEvent, AppView, ImageSource, Listener};
use platform::{Desktop, Notification};

pub use draw::draw;

/// What the app told the shell last.
#[derive(Default)]
struct Latest {
    view: Option<AppView>,
    effects: Vec<AppEffect>,
}

/// The listener: keeps the newest view (by revision) and wakes the UI.
#[derive(Default)]
pub struct Mailbox {
    latest: Mutex<Latest>,
    ctx: Mutex<Option<egui::Context>>,
}

impl Mailbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Latest> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The UI to wake when something changes.
    pub fn attach(&self, ctx: egui::Context) {
        *self.ctx.lock().unwrap_or_else(PoisonError::into_inner) = Some(ctx);
    }

    fn wake(&self) {
        if let Some(ctx) = &*self.ctx.lock().unwrap_or_else(PoisonError::into_inner) {
            ctx.request_repaint();
        }
    }

    /// Effects received since the last call (the shell performs them).
    fn take_effects(&self) -> Vec<AppEffect> {
        std::mem::take(&mut self.lock().effects)
    }
}

impl Listener for Mailbox {
    fn view_changed(&self, view: AppView) {
        let changed = {
            let mut latest = self.lock();
            // Views can arrive from two threads: draw only a newer one. A view that differs
            // only in its revision (a long-poll that found nothing) needs no repaint.
            match &latest.view {
                Some(v) if v.revision > view.revision => false,
                Some(v) => {
                    let same = AppView {
                        revision: v.revision,
                        ..view.clone()
                    } == *v;
                    latest.view = Some(view);
                    !same
                }
                None => {
                    latest.view = Some(view);
                    true
                }
            }
        };
        if changed {
            self.wake();
        }
    }

    fn perform(&self, effect: AppEffect) {
        self.lock().effects.push(effect);
        self.wake();
    }
}

/// The shell's state: the app, the desktop's effects, the newest view, and the text fields'
/// contents while typed.
pub struct Shell {
    app: Arc<App>,
    mailbox: Arc<Mailbox>,
    desktop: Arc<dyn Desktop>,
    /// One frame of digits typed on the keyboard, forwarded then wiped.
    pub(crate) typed: zeroize::Zeroizing<String>,
    /// A password or link being typed (egui edits it in place); sent whole on each change.
    pub(crate) text: zeroize::Zeroizing<String>,
    /// Where each control was drawn in the last frame, by accessible name (for drivers that
    /// point and click, like the Xvfb tour).
    pub(crate) placed: Vec<(String, egui::Rect)>,
    /// Whether the window had the focus at the last frame (the app is "foregrounded" then).
    focused: Option<bool>,
    /// The webcam while it runs: its stop flag and its thread.
    camera: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    /// The webcam's newest picture, small, for the scan screen.
    picture: Arc<Mutex<Option<Picture>>>,
    /// That picture as a texture, and which picture it is.
    texture: Option<(u64, egui::TextureHandle)>,
}

/// A small grey copy of the webcam's newest frame.
struct Picture {
    number: u64,
    width: usize,
    height: usize,
    luma: Vec<u8>,
}

/// The picture's width on screen, in pixels of the frame copy.
const PICTURE_WIDTH: u32 = 400;

impl Shell {
    /// The shell over an app whose listener is `mailbox`, performing effects on `desktop`.
    pub fn new(app: App, mailbox: Arc<Mailbox>, desktop: Arc<dyn Desktop>) -> Self {
        app.send(AppEvent::Started);
        // The desktop is unlocked while the app runs; the OS hides notifications on its lock
        // screen itself.
        app.send(AppEvent::DeviceLocked { locked: false });
        Self {
            app: Arc::new(app),
            mailbox,
            desktop,
            typed: zeroize::Zeroizing::default(),
            text: zeroize::Zeroizing::default(),
            focused: None,
            placed: Vec::new(),
            camera: None,
            picture: Arc::default(),
            texture: None,
        }
    }

    /// The webcam's newest picture, while it runs.
    pub(crate) fn camera_picture(&mut self, ctx: &egui::Context) -> Option<egui::TextureHandle> {
        let picture = self.picture.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(picture) = picture.as_ref() else {
            self.texture = None;
            return None;
        };
        if self.texture.as_ref().map(|(n, _)| *n) != Some(picture.number) {
            let image = egui::ColorImage::from_gray([picture.width, picture.height], &picture.luma);
            match &mut self.texture {
                Some((number, texture)) => {
                    texture.set(image, egui::TextureOptions::LINEAR);
                    *number = picture.number;
                }
                None => {
                    let texture = ctx.load_texture("camera", image, egui::TextureOptions::LINEAR);
                    self.texture = Some((picture.number, texture));
                }
            }
        }
        self.texture.as_ref().map(|(_, t)| t.clone())
    }

    /// Starts the webcam on its own thread: it opens the camera, tells the app, then hands
    /// every frame's luma to the app's scanner until stopped. A camera still closing is
    /// waited for first (it holds the device).
    fn start_camera(&mut self, ctx: &egui::Context) {
        let previous = self.camera.take();
        if let Some((stop, _)) = &previous {
            stop.store(true, Ordering::SeqCst);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (desktop, app, picture, ctx) = (
            Arc::clone(&self.desktop),
            Arc::clone(&self.app),
            Arc::clone(&self.picture),
            ctx.clone(),
        );
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            if let Some((_, thread)) = previous {
                let _ = thread.join();
            }
            // A driver or decoder that panics ends the camera, said as "cannot be used".
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read_camera(&*desktop, &app, &picture, &ctx, &stopped);
            }));
            if run.is_err() && !stopped.load(Ordering::SeqCst) {
                app.send(AppEvent::CameraUnavailable { denied: false });
            }
            set_picture(&picture, None);
            ctx.request_repaint();
        });
        self.camera = Some((stop, thread));
    }

    /// Stops the webcam (its thread closes the device and ends).
    fn stop_camera(&mut self) {
        if let Some((stop, _)) = &self.camera {
            stop.store(true, Ordering::SeqCst);
        }
    }

    /// The app.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The view to draw.
    pub fn view(&self) -> AppView {
        self.mailbox
            .lock()
            .view
            .clone()
            .unwrap_or_else(|| self.app.view())
    }

    /// Where the control named `name` (its accessible name, or the start of it) was drawn
    /// in the last frame.
    pub fn control(&self, name: &str) -> Option<egui::Rect> {
        self.placed
            .iter()
            .find(|(n, _)| n == name)
            .or_else(|| self.placed.iter().find(|(n, _)| n.starts_with(name)))
            .map(|(_, rect)| *rect)
    }

    /// Sends an event to the app.
    pub fn send(&self, event: AppEvent) {
        self.app.send(event);
    }

    /// The app's language now (the tray's words follow it).
    pub fn language(&self) -> String {
        match &self.mailbox.lock().view {
            Some(view) => view.language.clone(),
            None => self.app.view().language,
        }
    }

    /// A request to close the window, where a tray icon keeps the app running: the close is
    /// cancelled, the window hidden, and the app is in the background (a webcam stops;
    /// requests notify). Not when `quitting` ("Quit" was chosen). Returns whether it hid the
    /// window.
    pub fn close_to_tray(&mut self, ctx: &egui::Context, quitting: bool) -> bool {
        if quitting || !ctx.input(|i| i.viewport().close_requested()) {
            return false;
        }
        ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
        ctx.send_viewport_cmd(egui::ViewportCommand::Visible(false));
        self.window_hidden();
        true
    }

    /// The window was hidden: the app is in the background until the window has the focus
    /// again.
    fn window_hidden(&mut self) {
        self.focused = Some(false);
        self.app.send(AppEvent::Backgrounded {
            stop_polling: false,
        });
    }

    /// Performs the effects the app asked for since the last frame. Slow ones (captures, the
    /// file dialog) run on a worker thread and answer the app from there.
    pub fn perform(&mut self, ctx: &egui::Context) {
        // A window without the focus is "in the background": requests then raise a system
        // notification instead of only opening in the window. Polling goes on.
        let focused = ctx.input(|i| i.viewport().focused);
        if focused.is_some() && focused != self.focused {
            self.focused = focused;
            self.app.send(if focused == Some(true) {
                AppEvent::Foregrounded
            } else {
                AppEvent::Backgrounded {
                    stop_polling: false,
                }
            });
        }
        for effect in self.mailbox.take_effects() {
            match effect {
                AppEffect::Notify {
                    request,
                    title,
                    public_body,
                    approve,
                    deny,
                    ..
                } => {
                    // A desktop cannot tell whether its lock screen shows notifications: they
                    // carry no details (the window shows them).
                    let body = public_body;
                    ctx.send_viewport_cmd(egui::ViewportCommand::RequestUserAttention(
                        egui::UserAttentionType::Informational,
                    ));
                    let app = Arc::clone(&self.app);
                    let answered = request.clone();
                    let window = ctx.clone();
                    self.desktop.notify(
                        Notification {
                            request,
                            title,
                            body,
                            approve,
                            deny,
                        },
                        Box::new(move |action| {
                            if action.is_none() {
                                // Opened (or Approve, which needs the PIN): the window comes
                                // back, also from the tray.
                                window.send_viewport_cmd(egui::ViewportCommand::Visible(true));
                                window.send_viewport_cmd(egui::ViewportCommand::Focus);
                            }
                            app.send(AppEvent::NotificationPressed {
                                request: answered,
                                action,
                            });
                        }),
                    );
                }
                AppEffect::CancelNotification { request } => self.desktop.withdraw(&request),
                AppEffect::OpenUrl { url } => ctx.open_url(egui::OpenUrl::new_tab(url)),
                AppEffect::PickImage => self.worker(|desktop, app| {
                    match desktop.pick_image() {
                        Ok(Some(bytes)) => app.send(AppEvent::ImageOpened { bytes }),
                        Ok(None) => {}
                        // The app reads the bytes and says what is wrong with them.
                        Err(_) => app.send(AppEvent::ImageOpened { bytes: Vec::new() }),
                    }
                }),
                AppEffect::CaptureScreens => self.worker(|desktop, app| {
                    let (images, failure) = match desktop.capture_screens() {
                        Ok(images) => (images, None),
                        Err(e) => (Vec::new(), Some(e)),
                    };
                    app.send(AppEvent::ImagesCaptured {
                        source: ImageSource::Screens,
                        images,
                        failure,
                    });
                }),
                AppEffect::ReadClipboardImage => self.worker(|desktop, app| {
                    let (images, failure) = match desktop.clipboard_image() {
                        Ok(image) => (image.into_iter().collect(), None),
                        Err(e) => (Vec::new(), Some(e)),
                    };
                    app.send(AppEvent::ImagesCaptured {
                        source: ImageSource::Clipboard,
                        images,
                        failure,
                    });
                }),
                AppEffect::OpenCamera => self.start_camera(ctx),
                AppEffect::CloseCamera => self.stop_camera(),
                // No camera light and no vibration on a desktop.
                _ => {}
            }
        }
    }

    fn worker(&self, job: impl FnOnce(&dyn Desktop, &App) + Send + 'static) {
        let (desktop, app) = (Arc::clone(&self.desktop), Arc::clone(&self.app));
        std::thread::spawn(move || job(&*desktop, &app));
    }
}

/// Opens the webcam, tells the app, then hands every frame's luma to the app's scanner and a
/// small copy to the scan screen, until `stopped`.
fn read_camera(
    desktop: &dyn Desktop,
    app: &App,
    picture: &Mutex<Option<Picture>>,
    ctx: &egui::Context,
    stopped: &AtomicBool,
) {
    let mut webcam = match desktop.open_webcam() {
        Ok(webcam) => webcam,
        Err(e) => {
            if !stopped.load(Ordering::SeqCst) {
                let denied = e == camera::OpenError::Denied;
                app.send(AppEvent::CameraUnavailable { denied });
            }
            return;
        }
    };
    if !stopped.load(Ordering::SeqCst) {
        app.send(AppEvent::CameraOpened { torch: false });
    }
    let mut number = 0;
    while !stopped.load(Ordering::SeqCst) {
        let read = webcam.next_frame(&mut |frame| {
            // A frame that does not convert is skipped; the next one may.
            let Ok(luma) = camera::luma(&frame) else {
                return;
            };
            app.scan_frame(&luma.pixels, luma.width, luma.height, luma.stride);
            let (width, height, small) = camera::picture(&luma, PICTURE_WIDTH);
            number += 1;
            set_picture(
                picture,
                Some(Picture {
                    number,
                    width,
                    height,
                    luma: small,
                }),
            );
            ctx.request_repaint();
        });
        if read.is_err() {
            if !stopped.load(Ordering::SeqCst) {
                app.send(AppEvent::CameraUnavailable { denied: false });
            }
            break;
        }
    }
}

/// Replaces the camera's picture, wiping the one before.
fn set_picture(slot: &Mutex<Option<Picture>>, picture: Option<Picture>) {
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(old) = slot.as_mut() {
        zeroize::Zeroize::zeroize(&mut old.luma);
    }
    *slot = picture;
}

impl Drop for Shell {
    fn drop(&mut self) {
        self.stop_camera();
    }
}
