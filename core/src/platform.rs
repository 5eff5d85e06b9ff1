//! What the shell tells the core about the device.

/// Implemented by each shell (Android, iOS, Windows, the CLI).
pub trait Platform: Send + Sync {
    /// Whether the device has a screen lock; `false` makes enrolment refuse (DESIGN flow 5).
    fn has_screen_lock(&self) -> bool;
    /// A human-readable model ("Pixel 8", "Linux desktop"), shown on the devices page.
    fn device_model(&self) -> String;
}

/// A fixed answer (tests, and desktops where a locked session is the screen lock).
#[derive(Clone, Debug)]
pub struct StaticPlatform {
    /// Whether there is a screen lock.
    pub screen_lock: bool,
    /// The model.
    pub model: String,
}

impl Platform for StaticPlatform {
    fn has_screen_lock(&self) -> bool {
        self.screen_lock
    }
    fn device_model(&self) -> String {
        self.model.clone()
    }
}
