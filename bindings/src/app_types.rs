//! The app model's types (`latchkey-app`: views, events, effects), declared for UniFFI exactly
//! as the app crate defines them (`#[uniffi::remote]`: a field that differs fails to compile).
//! Generated from `app/src/{view,event}.rs` by `bindings/app_types.py`; do not edit.

use latchkey_app::{
    AccountRow, AccountScreen, AccountsScreen, Action, AppEffect, AppEvent, AppView, ButtonView,
    CapturedImage, ChangePinScreen, DigitsInput, EnrolScreen, ForgotPinScreen, Haptic, ImageSource,
    InputField, Notice, NotificationAction, PushRegistration, PushService, RemoveScreen,
    RequestRow, RequestScreen, ScanScreen, Screen, SettingsScreen, TextInput, Tone,
};

/// The whole screen.
#[uniffi::remote(Record)]
pub struct AppView {
    /// Grows with every change: a shell that receives views from several threads draws only
    /// a view newer than the one it shows.
    pub revision: u64,
    /// The language the texts are in (`en`, `fr`, `de`).
    pub language: String,
    /// The screen's title.
    pub title: String,
    /// The screen.
    pub screen: Screen,
    /// A message above the screen (a result, an error, a warning).
    pub notice: Option<Notice>,
    /// Work in progress: what is being done (show a spinner; the controls are disabled).
    pub busy: Option<String>,
    /// "Back", when there is somewhere to go back to.
    pub back: Option<ButtonView>,
    /// The screen takes or shows what must not be captured (a PIN, a password, a mailed
    /// code, an enrolment code in the camera's view): keep it out of screenshots, screen
    /// recordings and the app switcher (Android `FLAG_SECURE`, iOS a privacy cover).
    pub secure: bool,
}

/// A message and how it should look.
#[uniffi::remote(Record)]
pub struct Notice {
    /// The sentence.
    pub text: String,
    /// Its tone.
    pub tone: Tone,
}

/// How a notice looks.
#[uniffi::remote(Enum)]
pub enum Tone {
    /// Neutral information.
    Info,
    /// Something worked.
    Success,
    /// Something needs attention.
    Warning,
    /// Something failed.
    Error,
}

/// A button: its label, its accessible name, whether it can be pressed, and what it sends.
#[uniffi::remote(Record)]
pub struct ButtonView {
    /// The label.
    pub label: String,
    /// The accessible name (screen readers).
    pub a11y: String,
    /// Whether it can be pressed now.
    pub enabled: bool,
    /// What pressing it sends (`AppEvent::Press`).
    pub action: Action,
}

/// A field of digits typed on a keypad (PINs, the number on the login page, a mailed code).
/// The digits live in the app; the shell shows `filled` dots, or `shown` when not secret.
#[uniffi::remote(Record)]
pub struct DigitsInput {
    /// Which field (`AppEvent::Digit` and `AppEvent::Erase` name it).
    pub field: InputField,
    /// The label.
    pub label: String,
    /// How many digits it takes.
    pub length: u8,
    /// How many are typed.
    pub filled: u8,
    /// The digits typed, when they are not secret (the login page's number).
    pub shown: Option<String>,
    /// The accessible description ("PIN: 2 of 4 digits typed").
    pub a11y: String,
    /// The erase key's name ("Erase the last digit").
    pub erase: String,
    /// Whether it takes input now.
    pub enabled: bool,
}

/// A text field (a password, a pasted link), set whole with `AppEvent::Input`.
#[uniffi::remote(Record)]
pub struct TextInput {
    /// Which field.
    pub field: InputField,
    /// The label.
    pub label: String,
    /// Hide what is typed.
    pub secret: bool,
    /// Whether it takes input now.
    pub enabled: bool,
}

/// The screens.
// Moved once, to the shell; boxing the big screens would change the FFI shape for nothing.
#[allow(clippy::large_enum_variant)]
#[uniffi::remote(Enum)]
pub enum Screen {
    /// Home: the accounts.
    Accounts(AccountsScreen),
    /// One account: its details, waiting requests and what can be done with it.
    Account(AccountScreen),
    /// Scanning a QR code ("Initialise").
    Scan(ScanScreen),
    /// Adding the scanned account: who asks, the PIN.
    Enrol(EnrolScreen),
    /// A sign-in to approve ("Authenticate").
    Request(RequestScreen),
    /// Changing the PIN.
    ChangePin(ChangePinScreen),
    /// "Forgot PIN": the password, then the mailed code and a new PIN.
    ForgotPin(ForgotPinScreen),
    /// Removing the account from this device.
    Remove(RemoveScreen),
    /// Settings: language, about, version.
    Settings(SettingsScreen),
}

/// An account as listed.
#[uniffi::remote(Record)]
pub struct AccountRow {
    /// The account's id on this device.
    pub id: String,
    /// The service ("Example Mail").
    pub service: String,
    /// The account at the service (an address).
    pub account: String,
    /// The server's host name.
    pub host: String,
    /// How the device key is kept.
    pub assurance: String,
    /// Ready, locked or unfinished.
    pub status: String,
    /// Locked after wrong PINs (show it prominently).
    pub locked: bool,
    /// Sign-in requests waiting.
    pub pending: u32,
    /// "2 sign-in requests waiting", when there are.
    pub pending_text: Option<String>,
    /// Opens the account.
    pub open: ButtonView,
}

/// Home.
#[uniffi::remote(Record)]
pub struct AccountsScreen {
    /// The accounts.
    pub accounts: Vec<AccountRow>,
    /// What to do when there is none.
    pub empty: Option<String>,
    /// A lasting warning about where keys are kept (the kernel keyring forgets at reboot).
    pub keystore_warning: Option<String>,
    /// Notifications are off: requests show only while the app is open (and how to turn
    /// them on).
    pub notifications_warning: Option<String>,
    /// "Initialise (add an account)".
    pub add: ButtonView,
    /// "Check for sign-in requests now".
    pub check_now: ButtonView,
    /// "Settings".
    pub settings: ButtonView,
}

/// A waiting request, as listed on its account.
#[uniffi::remote(Record)]
pub struct RequestRow {
    /// "Sign-in from Firefox on Linux at 14:02".
    pub text: String,
    /// Opens it.
    pub open: ButtonView,
}

/// One account.
#[uniffi::remote(Record)]
pub struct AccountScreen {
    /// The account.
    pub account: AccountRow,
    /// Its waiting requests, newest first.
    pub requests: Vec<RequestRow>,
    /// "No sign-in request is waiting.", when none.
    pub none: Option<String>,
    /// "Change PIN".
    pub change_pin: ButtonView,
    /// "Forgot PIN".
    pub forgot_pin: ButtonView,
    /// "Remove this account".
    pub remove: ButtonView,
}

/// Scanning.
#[uniffi::remote(Record)]
pub struct ScanScreen {
    /// What to do now, from the last frame ("hold steady", "this is not a Latchkey code: …").
    pub guidance: String,
    /// The tone of the guidance (a wrong code is a warning).
    pub tone: Tone,
    /// The camera view's accessible name.
    pub camera_a11y: String,
    /// The link field (desktops; phones without a camera).
    pub link: TextInput,
    /// "Use this link".
    pub use_link: ButtonView,
    /// "Open an image of the code", on builds that read image files.
    pub open_image: Option<ButtonView>,
    /// "Scan my screens", where the shell captures screens.
    pub scan_screens: Option<ButtonView>,
    /// "Paste an image of the code", where the shell reads clipboard images.
    pub paste_image: Option<ButtonView>,
    /// "Light on" / "Light off", once the camera said it has one.
    pub torch: Option<ButtonView>,
    /// "Use my camera" / "Stop the camera", where the shell has a webcam it starts on request.
    pub webcam: Option<ButtonView>,
    /// The camera's picture is shown: always on phones; with a webcam, while it runs.
    pub camera_view: bool,
}

/// Adding an account.
#[uniffi::remote(Record)]
pub struct EnrolScreen {
    /// Who asks: service, account, host.
    pub who: String,
    /// "Type the PIN you set on the page." or "Choose a 4-digit PIN…".
    pub instruction: String,
    /// The PIN.
    pub pin: DigitsInput,
    /// The PIN again, when the app chooses it.
    pub pin_again: Option<DigitsInput>,
    /// Live feedback on the PIN (too easy, different).
    pub feedback: Option<String>,
    /// "Add the account".
    pub submit: ButtonView,
    /// After success: "Done".
    pub done: Option<ButtonView>,
}

/// A sign-in request.
#[uniffi::remote(Record)]
pub struct RequestScreen {
    /// The account it is for.
    pub account: String,
    /// "Sign-in to Example Mail from Firefox on Linux".
    pub who: String,
    /// "IP address 203.0.113.7".
    pub ip: String,
    /// "Near Lyon", when known.
    pub place: Option<String>,
    /// "Requested at 14:02:11".
    pub time: String,
    /// "87 seconds left".
    pub countdown: String,
    /// Seconds left (0: expired).
    pub seconds_left: u32,
    /// The number shown on the login page.
    pub code: DigitsInput,
    /// The PIN.
    pub pin: DigitsInput,
    /// "Approve".
    pub approve: ButtonView,
    /// "Deny".
    pub deny: ButtonView,
    /// "This wasn't me".
    pub not_me: ButtonView,
    /// After an answer (or expiry): "Done".
    pub done: Option<ButtonView>,
    /// When the account is locked: "Forgot PIN".
    pub forgot_pin: Option<ButtonView>,
}

/// Changing the PIN.
#[uniffi::remote(Record)]
pub struct ChangePinScreen {
    /// The account.
    pub account: String,
    /// The current PIN.
    pub old: DigitsInput,
    /// The new PIN.
    pub new: DigitsInput,
    /// The new PIN again.
    pub again: DigitsInput,
    /// Live feedback on the new PIN.
    pub feedback: Option<String>,
    /// "Change PIN".
    pub submit: ButtonView,
    /// After success: "Done".
    pub done: Option<ButtonView>,
}

/// "Forgot PIN".
#[uniffi::remote(Record)]
pub struct ForgotPinScreen {
    /// The account.
    pub account: String,
    /// What to do now.
    pub intro: String,
    /// Step 1: the password.
    pub password: Option<TextInput>,
    /// Step 2: the mailed code.
    pub code: Option<DigitsInput>,
    /// Step 2: the new PIN.
    pub new: Option<DigitsInput>,
    /// Step 2: the new PIN again.
    pub again: Option<DigitsInput>,
    /// Live feedback on the new PIN.
    pub feedback: Option<String>,
    /// "Send the code" or "Set the new PIN".
    pub submit: ButtonView,
    /// After success: "Done".
    pub done: Option<ButtonView>,
}

/// Removing the account.
#[uniffi::remote(Record)]
pub struct RemoveScreen {
    /// The account.
    pub account: String,
    /// What happens, and the way out for a forgotten PIN.
    pub intro: String,
    /// The PIN.
    pub pin: DigitsInput,
    /// "Remove".
    pub submit: ButtonView,
}

/// Settings.
#[uniffi::remote(Record)]
pub struct SettingsScreen {
    /// "Language".
    pub language_label: String,
    /// The choices: the device's language, then each catalogue by its own name.
    pub languages: Vec<ButtonView>,
    /// About Latchkey.
    pub about: String,
    /// "Version 0.1.0".
    pub version: String,
}

/// A field the person types into.
#[uniffi::remote(Enum)]
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

/// What a button does (a `ButtonView` carries one; the shell sends it back as
/// `AppEvent::Press`).
#[uniffi::remote(Enum)]
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
    /// Turn the camera's light on or off while scanning: `AppEffect::SetTorch`.
    Torch,
    /// Ask the shell for an image of a code (desktops): `AppEffect::PickImage`.
    OpenImage,
    /// Look for the code on every screen (desktops): `AppEffect::CaptureScreens`.
    ScanScreens,
    /// Look for the code in an image on the clipboard (desktops):
    /// `AppEffect::ReadClipboardImage`.
    PasteImage,
    /// Start or stop a webcam (desktops: "Use my camera" / "Stop the camera"):
    /// `AppEffect::OpenCamera` or `AppEffect::CloseCamera`.
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
#[uniffi::remote(Enum)]
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
    /// Images to look for a code in: the answer to `AppEffect::CaptureScreens` (one per
    /// screen, in the system's order) or `AppEffect::ReadClipboardImage` (none when the
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
    /// The camera started (after `AppEffect::OpenCamera`); `torch`: it has a light the app
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
#[uniffi::remote(Enum)]
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
#[uniffi::remote(Record)]
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

/// Where captured images came from.
#[uniffi::remote(Enum)]
pub enum ImageSource {
    /// Every screen.
    Screens,
    /// The clipboard.
    Clipboard,
}

/// A captured image as a luma plane: one byte per pixel, `width` bytes per row. The app wipes
/// its pixels once scanned or refused (a screen may show anything; UniFFI records cannot wipe
/// on drop).
#[uniffi::remote(Record)]
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

/// A notification's action button.
#[uniffi::remote(Enum)]
pub enum NotificationAction {
    /// Deny without opening the app.
    Deny,
}

/// A vibration pattern.
#[uniffi::remote(Enum)]
pub enum Haptic {
    /// Something worked (approved, added).
    Success,
    /// Something failed (wrong PIN, refused).
    Failure,
    /// Attention: a request arrived.
    Attention,
}

/// What only the shell can do.
#[uniffi::remote(Enum)]
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
    /// the app has started (and before any `AppEffect::Notify`): iOS registers its
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
    /// Ask for an image file (desktops); answer with `AppEvent::ImageOpened`.
    PickImage,
    /// Capture every screen (desktops); answer with `AppEvent::ImagesCaptured`.
    CaptureScreens,
    /// Read the clipboard's image (desktops); answer with `AppEvent::ImagesCaptured`.
    ReadClipboardImage,
}
