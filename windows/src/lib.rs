//! The desktop shell: draws the app model's views with egui and sends the person's actions
//! back. Every word, state and step comes from `latchkey-app`; this crate decides nothing.
//! It performs the desktop's effects (window attention, the file picker) and holds the one
//! frame of typed digits it forwards.
#![deny(unsafe_code)] // allowed only in `tpm`, which calls NCrypt

mod draw;
#[cfg(windows)]
pub mod tpm;

use std::sync::{Arc, Mutex, PoisonError};

use eframe::egui;
use latchkey_app::{App, AppEffect, AppEvent, AppView, Listener};

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
    pub fn take_effects(&self) -> Vec<AppEffect> {
        std::mem::take(&mut self.lock().effects)
    }
}

impl Listener for Mailbox {
    fn view_changed(&self, view: AppView) {
        {
            let mut latest = self.lock();
            // Views can arrive from two threads: draw only a newer one.
            if latest
                .view
                .as_ref()
                .is_none_or(|v| v.revision <= view.revision)
            {
                latest.view = Some(view);
            }
        }
        self.wake();
    }

    fn perform(&self, effect: AppEffect) {
        self.lock().effects.push(effect);
        self.wake();
    }
}

/// The shell's state: the app, the newest view, and the text fields' contents while typed.
pub struct Shell {
    app: App,
    mailbox: Arc<Mailbox>,
    /// One frame of digits typed on the keyboard, forwarded then wiped.
    pub(crate) typed: zeroize::Zeroizing<String>,
    /// A password or link being typed (egui edits it in place); sent whole on each change.
    pub(crate) text: zeroize::Zeroizing<String>,
}

impl Shell {
    /// The shell over an app whose listener is `mailbox`.
    pub fn new(app: App, mailbox: Arc<Mailbox>) -> Self {
        app.send(AppEvent::Started);
        // The desktop is unlocked while the app runs; the OS hides notifications on its lock
        // screen itself.
        app.send(AppEvent::DeviceLocked { locked: false });
        Self {
            app,
            mailbox,
            typed: zeroize::Zeroizing::default(),
            text: zeroize::Zeroizing::default(),
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

    /// Sends an event to the app.
    pub fn send(&self, event: AppEvent) {
        self.app.send(event);
    }

    /// Effects to perform.
    pub fn take_effects(&self) -> Vec<AppEffect> {
        self.mailbox.take_effects()
    }
}
