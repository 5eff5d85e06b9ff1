//! What comes in (the person's actions, the platform's events) and what goes out to the shell
//! (effects only the platform can perform).

/// A field the person types into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputField {
    /// The PIN (enrolment, approval, removal) or the current PIN (change).
    Pin,
    /// The PIN again (enrolment with a PIN chosen in the app).
    PinAgain,
    /// A new PIN (change, forgotten PIN).
    NewPin,
    /// The new PIN again.
    NewPinAgain,
    /// The number shown on the login page.
    Code,
    /// The code mailed for a forgotten PIN.
    MailedCode,
    /// The account password (forgotten PIN).
    Password,
    /// An enrolment link typed or pasted.
    Link,
}

/// What a button does (a [`crate::ButtonView`] carries one; the shell sends it back as
/// [`AppEvent::Press`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Back to the previous screen (or cancel the current flow).
    Back,
    /// "Initialise": scan a code to add an account.
    AddAccount,
    /// Open an account.
    OpenAccount {
        /// The account's id.
        account: String,
    },
    /// Open a waiting sign-in request.
    OpenRequest {
        /// The request (the app's id for it: account and challenge).
        request: String,
    },
    /// Check every account for requests now.
    CheckNow,
    /// Open the settings.
    OpenSettings,
    /// Change the PIN of an account.
    ChangePin {
        /// The account's id.
        account: String,
    },
    /// "Forgot PIN" for an account.
    ForgotPin {
        /// The account's id.
        account: String,
    },
    /// Remove an account from this device.
    RemoveAccount {
        /// The account's id.
        account: String,
    },
    /// Submit the current form (enrol, change, send the code, set the PIN, remove).
    Submit,
    /// Use the link typed in the link field.
    UseLink,
    /// Turn the camera's light on or off while scanning: [`AppEffect::SetTorch`].
    Torch,
    /// Ask the shell for an image of a code (desktops): [`AppEffect::PickImage`].
    OpenImage,
    /// Look for the code on every screen (desktops): [`AppEffect::CaptureScreens`].
    ScanScreens,
    /// Look for the code in an image on the clipboard (desktops):
    /// [`AppEffect::ReadClipboardImage`].
    PasteImage,
    /// Start or stop a webcam (desktops: "Use my camera" / "Stop the camera"):
    /// [`AppEffect::OpenCamera`] or [`AppEffect::CloseCamera`].
    Webcam,
    /// Approve this request (refused unless it is the one on screen).
    Approve {
        /// The request.
        request: String,
    },
    /// Deny this request (refused unless it is the one on screen).
    Deny {
        /// The request.
        request: String,
    },
    /// "This wasn't me" on this request (refused unless it is the one on screen).
    NotMe {
        /// The request.
        request: String,
    },
    /// Leave a finished screen.
    Done,
    /// Choose a language (`None`: the device's).
    SetLanguage {
        /// A catalogue's tag (`en`, `fr`, `de`).
        tag: Option<String>,
    },
}

/// Everything the app is told. Its `Debug` hides typed digits and text (PINs, passwords).
#[derive(Clone, PartialEq, Eq)]
pub enum AppEvent {
    /// The app started (or the shell attached): load accounts, settle, start polling.
    Started,
    /// A button was pressed.
    Press(Action),
    /// A digit was typed into a digits field.
    Digit {
        /// The field.
        field: InputField,
        /// 0 to 9.
        digit: u8,
    },
    /// The last digit was erased.
    Erase {
        /// The field.
        field: InputField,
    },
    /// A text field's whole content (passwords, links). Zeroized once used.
    Input {
        /// The field.
        field: InputField,
        /// Its text.
        text: String,
    },
    /// An image of a QR code was opened (desktops): its PNG or JPEG bytes.
    ImageOpened {
        /// The file's bytes.
        bytes: Vec<u8>,
    },
    /// Images to look for a code in: the answer to [`AppEffect::CaptureScreens`] (one per
    /// screen, in the system's order) or [`AppEffect::ReadClipboardImage`] (none when the
    /// clipboard holds no image). `failure`: why there are none, in the platform's words.
    /// Nothing captured is kept: the images are dropped once scanned.
    ImagesCaptured {
        /// Where they came from.
        source: ImageSource,
        /// The images.
        images: Vec<CapturedImage>,
        /// Why the capture failed, if it did.
        failure: Option<String>,
    },
    /// The platform gave this device a push token (at every start, and when it rotates), or
    /// took it away (`None`): every account's server is told, and accounts added later too.
    PushTokenChanged {
        /// Where to wake this device.
        registration: Option<PushRegistration>,
    },
    /// A push arrived carrying only a request id (P4); the account, when the push says.
    PushReceived {
        /// The account's id on this device, if known.
        account: Option<String>,
        /// The request's id.
        challenge: String,
    },
    /// The person tapped a notification (open the request) or one of its actions.
    NotificationPressed {
        /// The request, as the notification named it.
        request: String,
        /// `Some(Deny)` for the notification's Deny action; `None` opens the request.
        action: Option<NotificationAction>,
    },
    /// The system opened the app with a link (an Android App Link, an iOS Universal Link, a
    /// desktop URL handler): an enrolment link read as if scanned, anything else explained.
    /// Zeroized once used (it holds an enrolment code).
    LinkOpened {
        /// The link as the system gave it.
        url: String,
    },
    /// The camera started (after [`AppEffect::OpenCamera`]); `torch`: it has a light the app
    /// can turn on (the scan screen then offers it).
    CameraOpened {
        /// A light is available.
        torch: bool,
    },
    /// The camera cannot be used while scanning: `denied` when the person refused the
    /// permission, otherwise the device has none or it failed. The scan screen says what to
    /// do instead.
    CameraUnavailable {
        /// The permission was refused.
        denied: bool,
    },
    /// Whether the system lets the app post notifications (Android 13's permission, iOS's
    /// authorisation), at every start and when it changes. Off: home says that requests
    /// show only while the app is open.
    NotificationsAllowed {
        /// Allowed.
        allowed: bool,
    },
    /// The app came to the foreground.
    Foregrounded,
    /// The app went to the background; `stop_polling` when the platform limits background
    /// work (requests then arrive by push).
    Backgrounded {
        /// Stop the long-polls until foregrounded.
        stop_polling: bool,
    },
    /// The device was locked or unlocked (notifications show no details while locked).
    DeviceLocked {
        /// Locked now.
        locked: bool,
    },
    /// A second passed (shells that drive time themselves; the app has its own timer too).
    Tick,
}

/// A push service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushService {
    /// Firebase Cloud Messaging (Android).
    Fcm,
    /// Apple Push Notification service (iOS).
    Apns,
    /// Windows Push Notification Services.
    Wns,
    /// Web Push / UnifiedPush.
    WebPush,
}

/// Where the platform's push service reaches this device.
#[derive(Clone, PartialEq, Eq)]
pub struct PushRegistration {
    /// The service.
    pub service: PushService,
    /// The FCM registration token, APNs device token (hex), WNS channel URI or Web Push
    /// endpoint.
    pub token: String,
    /// Web Push: the subscription's P-256 public key (65 bytes).
    pub p256dh: Option<Vec<u8>>,
    /// Web Push: the subscription's authentication secret (16 bytes).
    pub auth: Option<Vec<u8>>,
}

impl std::fmt::Debug for PushRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A token wakes the device: not for logs.
        write!(f, "PushRegistration {{ {:?}, token: .. }}", self.service)
    }
}

/// Where captured images came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// Every screen.
    Screens,
    /// The clipboard.
    Clipboard,
}

/// A captured image as a luma plane: one byte per pixel, `width` bytes per row. The app wipes
/// its pixels once scanned or refused (a screen may show anything; UniFFI records cannot wipe
/// on drop).
#[derive(Clone, PartialEq, Eq)]
pub struct CapturedImage {
    /// What the system calls it (a screen's connector or model name, "clipboard").
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels.
    pub luma: Vec<u8>,
}

impl CapturedImage {
    /// Wipes the pixels.
    pub(crate) fn wipe(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.luma);
    }
}

impl std::fmt::Debug for CapturedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CapturedImage {{ {}: {}x{} }}",
            self.name, self.width, self.height
        )
    }
}

/// A notification's action button.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationAction {
    /// Deny without opening the app.
    Deny,
}

/// A vibration pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Haptic {
    /// Something worked (approved, added).
    Success,
    /// Something failed (wrong PIN, refused).
    Failure,
    /// Attention: a request arrived.
    Attention,
}

/// What only the shell can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppEffect {
    /// Show (or replace) a system notification for a request, with Approve (opens the app at
    /// the request) and Deny actions.
    Notify {
        /// The request (the notification's id; a later effect replaces or cancels it).
        request: String,
        /// The title.
        title: String,
        /// The body (no details while the device is locked).
        body: String,
        /// What the lock screen may show (Android `setPublicVersion`, iOS hidden previews).
        public_body: String,
        /// The Approve action's label.
        approve: String,
        /// The Deny action's label.
        deny: String,
        /// The name of the notification channel it goes to (Android's settings list it).
        channel: String,
    },
    /// The words of the Approve and Deny actions and of the hidden lock-screen text, given once
    /// the app has started (and before any [`AppEffect::Notify`]): iOS registers its
    /// notification category with them, so a push shown by the system while the app is not
    /// running already offers Approve / Deny. Shells that build each notification themselves
    /// ignore it.
    NotificationActions {
        /// The Approve action's label.
        approve: String,
        /// The Deny action's label.
        deny: String,
        /// What the lock screen may show.
        public_body: String,
    },
    /// Remove a request's notification.
    CancelNotification {
        /// The request.
        request: String,
    },
    /// Start the camera and send frames to `App::scan_frame`.
    OpenCamera,
    /// Stop the camera.
    CloseCamera,
    /// Turn the camera's light on or off.
    SetTorch {
        /// On.
        on: bool,
    },
    /// Vibrate.
    Vibrate {
        /// The pattern.
        pattern: Haptic,
    },
    /// Open a URL in the browser.
    OpenUrl {
        /// The URL (https).
        url: String,
    },
    /// Ask for an image file (desktops); answer with [`AppEvent::ImageOpened`].
    PickImage,
    /// Capture every screen (desktops); answer with [`AppEvent::ImagesCaptured`].
    CaptureScreens,
    /// Read the clipboard's image (desktops); answer with [`AppEvent::ImagesCaptured`].
    ReadClipboardImage,
}

impl std::fmt::Debug for AppEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Digit { field, .. } => write!(f, "Digit {{ field: {field:?}, digit: .. }}"),
            Self::Input { field, .. } => write!(f, "Input {{ field: {field:?}, text: .. }}"),
            Self::ImageOpened { bytes } => write!(f, "ImageOpened {{ {} bytes }}", bytes.len()),
            Self::ImagesCaptured {
                source,
                images,
                failure,
            } => write!(
                f,
                "ImagesCaptured {{ source: {source:?}, images: {}, failure: {failure:?} }}",
                images.len()
            ),
            Self::PushTokenChanged { registration } => {
                write!(f, "PushTokenChanged {{ {registration:?} }}")
            }
            Self::Started => f.write_str("Started"),
            Self::Press(action) => write!(f, "Press({action:?})"),
            Self::Erase { field } => write!(f, "Erase {{ field: {field:?} }}"),
            Self::PushReceived { account, challenge } => {
                write!(
                    f,
                    "PushReceived {{ account: {account:?}, challenge: {challenge:?} }}"
                )
            }
            Self::NotificationPressed { request, action } => write!(
                f,
                "NotificationPressed {{ request: {request:?}, action: {action:?} }}"
            ),
            Self::LinkOpened { .. } => f.write_str("LinkOpened { url: .. }"),
            Self::CameraOpened { torch } => write!(f, "CameraOpened {{ torch: {torch} }}"),
            Self::CameraUnavailable { denied } => {
                write!(f, "CameraUnavailable {{ denied: {denied} }}")
            }
            Self::NotificationsAllowed { allowed } => {
                write!(f, "NotificationsAllowed {{ allowed: {allowed} }}")
            }
            Self::Foregrounded => f.write_str("Foregrounded"),
            Self::Backgrounded { stop_polling } => {
                write!(f, "Backgrounded {{ stop_polling: {stop_polling} }}")
            }
            Self::DeviceLocked { locked } => write!(f, "DeviceLocked {{ locked: {locked} }}"),
            Self::Tick => f.write_str("Tick"),
        }
    }
}
