//! The Latchkey app, written once for every shell (DESIGN.md "Shells are thin").
//!
//! The shape is Crux's (docs/adr/0006): a model that turns events into a new view and
//! effects. [`App`] takes [`AppEvent`]s (the person's actions, the platform's events), runs every
//! network call, timer, retry and long-poll itself on the core, and tells the shell's
//! [`Listener`] each new [`AppView`] (every text localised through [`words`], every control
//! decided) and each [`AppEffect`] only the platform can perform (notifications, the camera,
//! vibration). Shells draw and perform; they decide nothing.
#![forbid(unsafe_code)]

mod app;
mod event;
mod model;
mod render;
mod view;
pub mod words;

pub use app::{App, Clock, Listener, Options, SystemClock};
pub use event::{
    Action, AppEffect, AppEvent, CapturedImage, Haptic, ImageSource, InputField,
    NotificationAction, PushRegistration, PushService,
};
pub use view::{
    AccountRow, AccountScreen, AccountsScreen, AppView, ButtonView, ChangePinScreen, DigitsInput,
    EnrolScreen, ForgotPinScreen, Notice, RemoveScreen, RequestRow, RequestScreen, ScanScreen,
    Screen, SettingsScreen, TextInput, Tone,
};
