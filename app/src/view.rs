//! What a shell draws: one [`AppView`] per state, every text already in the person's language,
//! every control's label, state and accessible name decided here. Shells render these and send
//! back the [`crate::Action`] a pressed button carries; they decide nothing.

use crate::event::{Action, InputField};

/// The whole screen.
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The sentence.
    pub text: String,
    /// Its tone.
    pub tone: Tone,
}

/// How a notice looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ButtonView {
    /// The label.
    pub label: String,
    /// The accessible name (screen readers).
    pub a11y: String,
    /// Whether it can be pressed now.
    pub enabled: bool,
    /// What pressing it sends ([`crate::AppEvent::Press`]).
    pub action: Action,
}

/// A field of digits typed on a keypad (PINs, the number on the login page, a mailed code).
/// The digits live in the app; the shell shows `filled` dots, or `shown` when not secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigitsInput {
    /// Which field ([`crate::AppEvent::Digit`] and [`crate::AppEvent::Erase`] name it).
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

/// A text field (a password, a pasted link), set whole with [`crate::AppEvent::Input`].
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRow {
    /// "Sign-in from Firefox on Linux at 14:02".
    pub text: String,
    /// Opens it.
    pub open: ButtonView,
}

/// One account.
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
