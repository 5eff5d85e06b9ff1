//! The tray icon on Linux desktops (a StatusNotifierItem over the session bus, `ksni`; no
//! GTK): the app keeps running with its window closed, long-polling, and the tray brings the
//! window back or quits. Its words come from the app's catalogue, in the app's language.
//! Where no tray host runs (no StatusNotifierWatcher on the bus), [`spawn`] says so and the
//! window's close button quits as before.

use latchkey_app::words::Words;

/// What the person chose in the tray.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrayAction {
    /// Show the window (the icon clicked, or "Open Latchkey").
    Open,
    /// Quit the app.
    Quit,
}

/// The tray's words in one language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrayWords {
    /// The app's name (the icon's title and tooltip).
    pub name: String,
    /// "Open Latchkey".
    pub open: String,
    /// "Quit Latchkey".
    pub quit: String,
}

impl TrayWords {
    /// The words in the language with this tag (`en`, `fr`, `de`; English otherwise).
    pub fn in_language(tag: &str) -> Self {
        let words = Words::negotiate(&[tag.to_owned()]);
        Self {
            name: words.say("app-name"),
            open: words.say("tray-open"),
            quit: words.say("tray-quit"),
        }
    }
}

type OnAction = Box<dyn Fn(TrayAction) + Send + Sync>;

struct Item {
    words: TrayWords,
    on: OnAction,
}

impl ksni::Tray for Item {
    fn id(&self) -> String {
        "org.latchkey.Latchkey".into()
    }

    fn title(&self) -> String {
        self.words.name.clone()
    }

    fn icon_name(&self) -> String {
        // The icon installed with the .desktop file (windows/packaging); the pixmap below
        // where it is not installed.
        "org.latchkey.Latchkey".into()
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        vec![icon(32)]
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: self.words.name.clone(),
            ..Default::default()
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        (self.on)(TrayAction::Open);
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        use ksni::menu::StandardItem;
        vec![
            StandardItem {
                label: self.words.open.clone(),
                activate: Box::new(|item: &mut Self| (item.on)(TrayAction::Open)),
                ..Default::default()
            }
            .into(),
            ksni::MenuItem::Separator,
            StandardItem {
                label: self.words.quit.clone(),
                activate: Box::new(|item: &mut Self| (item.on)(TrayAction::Quit)),
                ..Default::default()
            }
            .into(),
        ]
    }
}

/// The running tray; dropped, it leaves the bus.
pub struct Tray {
    handle: ksni::blocking::Handle<Item>,
    language: String,
}

impl Tray {
    /// Shows the words of another language (when the person changes it in the settings).
    pub fn set_language(&mut self, tag: &str) {
        if self.language != tag {
            self.language = tag.to_owned();
            let words = TrayWords::in_language(tag);
            self.handle.update(|item| item.words = words);
        }
    }
}

impl Drop for Tray {
    fn drop(&mut self) {
        self.handle.shutdown().wait();
    }
}

/// Puts the icon in the tray; `on` is called (on the tray's thread) for each choice.
///
/// # Errors
/// No session bus, or no tray host on it (the message says which).
pub fn spawn(
    language: &str,
    on: impl Fn(TrayAction) + Send + Sync + 'static,
) -> Result<Tray, String> {
    use ksni::blocking::TrayMethods as _;
    let item = Item {
        words: TrayWords::in_language(language),
        on: Box::new(on),
    };
    let handle = item.spawn().map_err(|e| match e {
        ksni::Error::Watcher(_) => "no tray on this desktop (no StatusNotifierWatcher)".to_owned(),
        ksni::Error::WontShow => {
            "the desktop's tray shows no icons (no StatusNotifierHost)".to_owned()
        }
        other => other.to_string(),
    })?;
    Ok(Tray {
        handle,
        language: language.to_owned(),
    })
}

/// The icon drawn: a round badge with a keyhole, ARGB32 in network byte order.
fn icon(size: i32) -> ksni::Icon {
    let s = f64::from(size);
    let mut data = Vec::with_capacity(usize::try_from(size * size * 4).unwrap_or(0));
    for y in 0..size {
        for x in 0..size {
            let (px, py) = (f64::from(x) + 0.5 - s / 2.0, f64::from(y) + 0.5 - s / 2.0);
            let inside = px.hypot(py) <= s / 2.0 - 0.5;
            let hole = px.hypot(py + s * 0.08) <= s * 0.12
                || (px.abs() <= s * 0.06 && py >= 0.0 && py <= s * 0.25);
            let pixel: [u8; 4] = match (inside, hole) {
                (false, _) => [0, 0, 0, 0],
                (true, false) => [255, 0x1f, 0x4e, 0x8c],
                (true, true) => [255, 255, 255, 255],
            };
            data.extend_from_slice(&pixel);
        }
    }
    ksni::Icon {
        width: size,
        height: size,
        data,
    }
}
