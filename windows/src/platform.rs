//! What only the desktop can do, behind one trait: capture the screens, read the clipboard's
//! image, ask for a file, show and withdraw notifications. [`System`] does it for real; the
//! tests pass a fake that draws the QR code on a virtual screen. None of it decides anything:
//! each answer goes back to the app as an event.

use latchkey_app::{CapturedImage, NotificationAction};

use crate::camera::{OpenError, Webcam};

/// A notification to show: the app's words for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The request it is for (its id; a later one replaces it).
    pub request: String,
    /// The title.
    pub title: String,
    /// The body.
    pub body: String,
    /// The Approve action's label (opens the app at the request).
    pub approve: String,
    /// The Deny action's label.
    pub deny: String,
}

/// What the person did with a notification: `None` opened it (or pressed Approve, which needs
/// the PIN in the app), `Some(Deny)` denied.
pub type OnNotification = Box<dyn FnOnce(Option<NotificationAction>) + Send>;

/// The desktop's effects. Calls may block (a capture, a file dialog): the shell makes them
/// from a worker thread.
pub trait Desktop: Send + Sync + 'static {
    /// Every screen, in the system's order, as luma planes.
    ///
    /// # Errors
    /// Why the screens cannot be captured, in the system's words.
    fn capture_screens(&self) -> Result<Vec<CapturedImage>, String>;

    /// The clipboard's image; `Ok(None)` if it holds none.
    ///
    /// # Errors
    /// Why the clipboard cannot be read.
    fn clipboard_image(&self) -> Result<Option<CapturedImage>, String>;

    /// Asks for an image file; its bytes, `Ok(None)` if the person cancelled.
    ///
    /// # Errors
    /// Why the file cannot be read.
    fn pick_image(&self) -> Result<Option<Vec<u8>>, String>;

    /// Shows (or replaces) a notification; `answer` is called once if the person acts on it.
    fn notify(&self, notification: Notification, answer: OnNotification);

    /// Withdraws a request's notification.
    fn withdraw(&self, request: &str);

    /// Opens the first webcam; called on the thread that then reads it.
    ///
    /// # Errors
    /// Why no camera can be used.
    fn open_webcam(&self) -> Result<Box<dyn Webcam>, OpenError> {
        Err(OpenError::Missing(
            "this system's cameras are not supported".into(),
        ))
    }
}

/// An RGBA (or BGRA, `bgra`) image as luma, BT.601 weights in integers.
pub fn luma(pixels: &[u8], width: usize, height: usize, bgra: bool) -> Vec<u8> {
    let (r, b) = if bgra { (2, 0) } else { (0, 2) };
    pixels
        .chunks_exact(4)
        .take(width * height)
        .map(|p| {
            let y = 299 * u32::from(p[r]) + 587 * u32::from(p[1]) + 114 * u32::from(p[b]);
            u8::try_from(y / 1000).unwrap_or(u8::MAX)
        })
        .collect()
}

/// The real desktop.
#[derive(Default)]
pub struct System {
    /// Each request's notification: its id and whether it still answers (a replaced or
    /// withdrawn one does not).
    #[cfg(all(unix, not(target_os = "macos")))]
    shown: std::sync::Mutex<std::collections::HashMap<String, Shown>>,
    #[cfg(all(unix, not(target_os = "macos")))]
    notifier: crate::notifications::Notifier,
    /// Toasts with Approve / Deny.
    #[cfg(windows)]
    toasts: crate::toast::Toasts,
}

#[cfg(all(unix, not(target_os = "macos")))]
struct Shown {
    id: u32,
    live: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[cfg(all(unix, not(target_os = "macos")))]
impl System {
    /// The desktop with notifications on this notifier's bus (tests: a private bus).
    pub fn with_notifier(notifier: crate::notifications::Notifier) -> Self {
        Self {
            shown: std::sync::Mutex::default(),
            notifier,
        }
    }

    fn shown(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Shown>> {
        self.shown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How long the person has to allow a screenshot when the desktop asks.
#[cfg(all(unix, not(target_os = "macos")))]
const SCREENSHOT_ANSWER: std::time::Duration = std::time::Duration::from_secs(120);

/// Every screen through the desktop portal (Wayland), as one image.
///
/// # Errors
/// See [`crate::portal::Failure`]; a PNG that does not decode is `Failed`.
#[cfg(all(unix, not(target_os = "macos")))]
pub fn portal_screens(
    conn: &zbus::blocking::Connection,
    answer_within: std::time::Duration,
) -> Result<Vec<CapturedImage>, crate::portal::Failure> {
    use crate::portal::Failure;
    let mut png = crate::portal::screenshot(conn, answer_within)?;
    let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png);
    zeroize::Zeroize::zeroize(&mut png);
    let mut decoded =
        decoded.map_err(|e| Failure::Failed(format!("the screenshot does not decode: {e}")))?;
    let mut luma = decoded.to_luma8();
    if let Some(rgba) = decoded.as_mut_rgba8() {
        zeroize::Zeroize::zeroize(&mut **rgba);
    } else if let Some(rgb) = decoded.as_mut_rgb8() {
        zeroize::Zeroize::zeroize(&mut **rgb);
    }
    let (width, height) = luma.dimensions();
    let captured = CapturedImage {
        name: "all screens".into(),
        width,
        height,
        luma: luma.to_vec(),
    };
    zeroize::Zeroize::zeroize(&mut *luma);
    Ok(vec![captured])
}

impl Desktop for System {
    fn capture_screens(&self) -> Result<Vec<CapturedImage>, String> {
        // Wayland: only the portal sees the screens (an X11 capture through XWayland would
        // see other X11 windows only). Where no portal answers, X11 is tried.
        #[cfg(all(unix, not(target_os = "macos")))]
        if std::env::var_os("WAYLAND_DISPLAY").is_some() {
            use crate::portal::Failure;
            if let Ok(conn) = self.notifier.connection() {
                match portal_screens(&conn, SCREENSHOT_ANSWER) {
                    Ok(screens) => return Ok(screens),
                    Err(Failure::Unavailable(_)) => {}
                    Err(Failure::Refused) => {
                        return Err("taking screenshots was not allowed".into());
                    }
                    Err(Failure::Failed(why)) => return Err(why),
                }
            }
        }
        capture::screens()
    }

    fn clipboard_image(&self) -> Result<Option<CapturedImage>, String> {
        let mut clipboard = arboard::Clipboard::new().map_err(|e| e.to_string())?;
        match clipboard.get_image() {
            Ok(image) => {
                let mut rgba = image.bytes.into_owned();
                let captured = CapturedImage {
                    name: "clipboard".into(),
                    width: u32::try_from(image.width).map_err(|e| e.to_string())?,
                    height: u32::try_from(image.height).map_err(|e| e.to_string())?,
                    luma: luma(&rgba, image.width, image.height, false),
                };
                zeroize::Zeroize::zeroize(&mut rgba);
                Ok(Some(captured))
            }
            Err(arboard::Error::ContentNotAvailable) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn pick_image(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(path) = rfd::FileDialog::new()
            .add_filter("PNG, JPEG", &["png", "jpg", "jpeg"])
            .pick_file()
        else {
            return Ok(None);
        };
        std::fs::read(&path)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    #[cfg(all(unix, not(target_os = "macos")))]
    fn notify(&self, notification: Notification, answer: OnNotification) {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;

        use crate::notifications::Outcome;

        let replaces = self.shown().remove(&notification.request).map_or(0, |old| {
            old.live.store(false, Ordering::SeqCst);
            old.id
        });
        let live = Arc::new(AtomicBool::new(true));
        let answers = Arc::clone(&live);
        let shown = self.notifier.show(
            replaces,
            &notification.title,
            &notification.body,
            &[
                ("default", &notification.approve),
                ("approve", &notification.approve),
                ("deny", &notification.deny),
            ],
            move |outcome| {
                let pressed = match outcome {
                    Outcome::Action(key) if key == "deny" => Some(NotificationAction::Deny),
                    Outcome::Action(key) if key == "default" || key == "approve" => None,
                    // Another key, or closed: nothing to tell the app.
                    _ => return,
                };
                if answers.swap(false, Ordering::SeqCst) {
                    answer(pressed);
                }
            },
        );
        match shown {
            Ok(id) => {
                self.shown()
                    .insert(notification.request, Shown { id, live });
            }
            // Not shown (no notification server; the window still asks for attention): the
            // notification it was to replace answers no more, so it goes too.
            Err(_) if replaces != 0 => self.notifier.close(replaces),
            Err(_) => {}
        }
    }

    #[cfg(windows)]
    fn notify(&self, notification: Notification, answer: OnNotification) {
        // Refused (no registered AUMID, notifications off): the window still asks for
        // attention, and the request opens there.
        let _ = self.toasts.show(notification, answer);
    }

    #[cfg(not(any(windows, all(unix, not(target_os = "macos")))))]
    fn notify(&self, _notification: Notification, _answer: OnNotification) {}

    #[cfg(all(unix, not(target_os = "macos")))]
    fn withdraw(&self, request: &str) {
        let shown = self.shown().remove(request);
        if let Some(shown) = shown {
            shown.live.store(false, std::sync::atomic::Ordering::SeqCst);
            self.notifier.close(shown.id);
        }
    }

    #[cfg(windows)]
    fn withdraw(&self, request: &str) {
        self.toasts.withdraw(request);
    }

    #[cfg(not(any(windows, all(unix, not(target_os = "macos")))))]
    fn withdraw(&self, _request: &str) {}

    #[cfg(target_os = "linux")]
    fn open_webcam(&self) -> Result<Box<dyn Webcam>, OpenError> {
        crate::camera::v4l2::open()
    }

    #[cfg(windows)]
    fn open_webcam(&self) -> Result<Box<dyn Webcam>, OpenError> {
        crate::camera::media_foundation::open()
    }
}

/// Screen capture on X11 (also XWayland): one image per RandR monitor, read from the root
/// window with `GetImage`.
#[cfg(all(unix, not(target_os = "macos")))]
mod capture {
    use latchkey_app::CapturedImage;
    use x11rb::connection::Connection as _;
    use x11rb::protocol::randr::ConnectionExt as _;
    use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat};

    pub(super) fn screens() -> Result<Vec<CapturedImage>, String> {
        let (conn, screen) = x11rb::connect(None).map_err(|e| e.to_string())?;
        let root = conn.setup().roots[screen].clone();
        let monitors = conn
            .randr_get_monitors(root.root, true)
            .ok()
            .and_then(|c| c.reply().ok())
            .map(|r| r.monitors)
            .unwrap_or_default();
        let mut areas: Vec<(String, i16, i16, u16, u16)> = monitors
            .iter()
            .map(|m| {
                let name = conn
                    .get_atom_name(m.name)
                    .ok()
                    .and_then(|c| c.reply().ok())
                    .map(|r| String::from_utf8_lossy(&r.name).into_owned())
                    .unwrap_or_default();
                (name, m.x, m.y, m.width, m.height)
            })
            .collect();
        if areas.is_empty() {
            areas.push((
                "screen".into(),
                0,
                0,
                root.width_in_pixels,
                root.height_in_pixels,
            ));
        }
        areas
            .into_iter()
            .map(|(name, x, y, width, height)| {
                let mut image = conn
                    .get_image(ImageFormat::Z_PIXMAP, root.root, x, y, width, height, !0)
                    .map_err(|e| e.to_string())?
                    .reply()
                    .map_err(|e| e.to_string())?;
                let (w, h) = (usize::from(width), usize::from(height));
                let captured =
                    (image.depth >= 24 && image.data.len() >= w * h * 4).then(|| CapturedImage {
                        name,
                        width: u32::from(width),
                        height: u32::from(height),
                        luma: super::luma(&image.data, w, h, true),
                    });
                zeroize::Zeroize::zeroize(&mut image.data);
                captured.ok_or_else(|| format!("unsupported screen depth {}", image.depth))
            })
            .collect()
    }
}

/// Screen capture on Windows: every monitor through `xcap`.
#[cfg(windows)]
mod capture {
    use latchkey_app::CapturedImage;

    pub(super) fn screens() -> Result<Vec<CapturedImage>, String> {
        xcap::Monitor::all()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|monitor| {
                let name = monitor.name().unwrap_or_default();
                let image = monitor.capture_image().map_err(|e| e.to_string())?;
                let (w, h) = (image.width(), image.height());
                let mut rgba = image.into_raw();
                let captured = CapturedImage {
                    name,
                    width: w,
                    height: h,
                    luma: super::luma(&rgba, w as usize, h as usize, false),
                };
                zeroize::Zeroize::zeroize(&mut rgba);
                Ok(captured)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_weights() {
        let px = [
            255, 255, 255, 255, 0, 0, 0, 255, 255, 0, 0, 255, 0, 0, 255, 0,
        ];
        assert_eq!(luma(&px, 4, 1, false), vec![255, 0, 76, 29]);
        assert_eq!(luma(&px, 4, 1, true), vec![255, 0, 29, 76]);
    }
}
