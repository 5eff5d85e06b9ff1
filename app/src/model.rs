//! The app's state and its one transition function: `update(input) -> work and effects`. It is
//! synchronous and does no I/O; the driver ([`crate::App`]) runs the [`Work`] it asks for on
//! the core and feeds the results back as [`Input::Done`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use latchkey_core::protocol::link::{self, EnrolmentLink, LinkError, LinkPolicy};
use latchkey_core::protocol::pin::PinPolicy;
use latchkey_core::protocol::secret::{OneTimeCode, Password, Pin};
use latchkey_core::protocol::types::{Assurance, ChallengeId};
use latchkey_core::protocol::wire::{AnswerOutcome, ErrorCode, PinSource};
use latchkey_core::vault::{RecordId, RecordState};
use latchkey_core::{Account, ChallengeView, Error, ErrorKind, ResetTicket, ScanResult, Settled};
use zeroize::Zeroizing;

use crate::event::{
    Action, AppEffect, AppEvent, CapturedImage, Haptic, ImageSource, InputField,
    NotificationAction, PushRegistration,
};
use crate::view::Tone;
use crate::words::{error_text, link_reason, Text, Words};

/// Digits of a mailed reset code.
pub(crate) const MAILED_CODE_DIGITS: u8 = 8;
/// Frames without a code before "hold steady" replaces "point the camera".
const STEADY_AFTER_FRAMES: u32 = 15;
/// The longest password or link kept.
const MAX_TEXT: usize = 4096;

/// Work the driver runs on the core; its result comes back as [`Done`].
pub(crate) enum Work {
    /// List the accounts.
    LoadAccounts,
    /// Finish or roll back interrupted PIN changes, resets and enrolments.
    Settle,
    /// Keep one long-poll per account in this set (and none for the others).
    Poll(Vec<RecordId>),
    /// Ask every account once, now.
    CheckNow(Vec<RecordId>),
    /// Fetch and verify a request of `account` (only its own server is asked: ids never go to
    /// another account's server).
    Fetch {
        /// The account.
        account: RecordId,
        /// The request.
        challenge: ChallengeId,
    },
    /// Enrol with a scanned link.
    Enrol {
        /// The link.
        link: Box<EnrolmentLink>,
        /// The PIN.
        pin: Pin,
        /// The PIN again (app-chosen PINs).
        again: Option<Pin>,
    },
    /// Retry the PIN of an enrolment refused for a wrong PIN.
    FinishEnrolment {
        /// The enrolling account.
        account: RecordId,
        /// The PIN.
        pin: Pin,
    },
    /// Approve a request.
    Approve {
        /// The verified request.
        view: Box<ChallengeView>,
        /// The number typed.
        code: String,
        /// The PIN.
        pin: Pin,
    },
    /// Deny a request (`not_me`: report it).
    Deny {
        /// The verified request.
        view: Box<ChallengeView>,
        /// "This wasn't me".
        not_me: bool,
    },
    /// Change a PIN.
    ChangePin {
        /// The account.
        account: RecordId,
        /// The current PIN.
        old: Pin,
        /// The new PIN.
        new: Pin,
    },
    /// "Forgot PIN", step 1.
    ForgotStart {
        /// The account.
        account: RecordId,
        /// The account password.
        password: Password,
    },
    /// "Forgot PIN", step 2.
    ForgotFinish {
        /// The account.
        account: RecordId,
        /// From step 1.
        ticket: ResetTicket,
        /// The mailed code.
        code: OneTimeCode,
        /// The new PIN.
        new: Pin,
    },
    /// Remove an account (with its PIN).
    Remove {
        /// The account.
        account: RecordId,
        /// The PIN.
        pin: Pin,
    },
    /// Read a QR code from an image file.
    ScanImage(Vec<u8>),
    /// Tell these accounts' servers where to wake this device (or to stop).
    RegisterPush {
        /// The accounts.
        accounts: Vec<RecordId>,
        /// The target (`None`: stop pushing).
        target: Option<PushRegistration>,
    },
    /// Look for a code in captured images (screens, the clipboard).
    ScanImages {
        /// Where they came from.
        source: ImageSource,
        /// The images (dropped once scanned).
        images: Vec<CapturedImage>,
    },
}

/// What [`Work`] produced.
pub(crate) enum Done {
    /// [`Work::LoadAccounts`].
    Accounts(Result<Vec<Account>, Error>),
    /// [`Work::Settle`].
    Settled(Result<Vec<(RecordId, Settled)>, Error>),
    /// A long-poll (or "check now") answered: the requests waiting for `account`.
    Pending {
        /// The account.
        account: RecordId,
        /// Its waiting requests.
        challenges: Vec<ChallengeId>,
    },
    /// A long-poll failed (it retries by itself).
    PollFailed {
        /// The account.
        account: RecordId,
    },
    /// "Check now" finished.
    CheckedNow,
    /// [`Work::Fetch`].
    Fetched {
        /// The account.
        account: RecordId,
        /// The request.
        challenge: ChallengeId,
        /// Its verified view.
        result: Result<ChallengeView, Error>,
    },
    /// [`Work::Enrol`] or [`Work::FinishEnrolment`]; `retry` is the enrolling account to
    /// retry the PIN with after a wrong one.
    Enrolled {
        /// The account.
        result: Result<Account, Error>,
        /// The enrolling account, after a wrong PIN.
        retry: Option<RecordId>,
    },
    /// [`Work::Approve`] or [`Work::Deny`].
    Answered {
        /// The request's key.
        request: String,
        /// What the server said.
        result: Result<AnswerOutcome, Error>,
    },
    /// [`Work::ChangePin`].
    PinChanged(Result<(), Error>),
    /// [`Work::ForgotStart`].
    ResetStarted(Result<ResetTicket, Error>),
    /// [`Work::ForgotFinish`].
    ResetFinished(Result<(), Error>),
    /// [`Work::RegisterPush`] finished (failures are logged: long-poll delivers anyway).
    PushRegistered,
    /// [`Work::ScanImages`]: each image's name and what it held, in order.
    ImagesScanned {
        /// Where they came from.
        source: ImageSource,
        /// Per image.
        results: Vec<(String, Result<ScanResult, Error>)>,
    },
    /// [`Work::Remove`].
    Removed {
        /// The account.
        account: RecordId,
        /// The result.
        result: Result<(), Error>,
    },
}

/// Everything `update` takes.
// Inputs are moved once, straight into `update`: boxing the large one buys nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Input {
    /// From the shell.
    AppEvent(AppEvent),
    /// A scanned frame or image.
    Scanned(Result<ScanResult, Error>),
    /// From the driver.
    Done(Done),
}

/// What `update` asks for.
pub(crate) enum Out {
    /// Run on the core.
    Work(Work),
    /// Perform on the platform.
    AppEffect(AppEffect),
}

/// Typed digits, wiped when dropped.
#[derive(Default)]
pub(crate) struct Digits(Zeroizing<String>);

impl Digits {
    fn push(&mut self, digit: u8, max: u8) {
        if digit <= 9 && self.0.len() < usize::from(max) {
            self.0.push(char::from(b'0' + digit));
        }
    }
    fn pop(&mut self) {
        self.0.pop();
    }
    pub(crate) fn len(&self) -> u8 {
        u8::try_from(self.0.len()).unwrap_or(u8::MAX)
    }
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
    /// The digits as a PIN, and the field emptied.
    fn take_pin(&mut self) -> Pin {
        let pin = Pin::new(self.0.as_str());
        self.0 = Zeroizing::default();
        pin
    }
    fn clear(&mut self) {
        self.0 = Zeroizing::default();
    }
}

/// The app's id for a request: its account and the server's challenge id (two accounts'
/// servers cannot collide, and one cannot answer for the other).
pub(crate) fn request_key(account: &RecordId, challenge: &str) -> String {
    format!("{}/{challenge}", account.as_str())
}

/// A request key's account and challenge id.
fn split_key(key: &str) -> Option<(RecordId, String)> {
    let (account, challenge) = key.split_once('/')?;
    Some((RecordId::parse(account)?, challenge.to_owned()))
}

/// A sign-in request the app knows of.
pub(crate) struct Request {
    /// The account it is for.
    pub account: RecordId,
    /// Its verified view, once fetched.
    pub view: Option<ChallengeView>,
    /// When it expires, on the app's clock (seconds).
    pub deadline: u64,
    /// The number typed.
    pub code: Digits,
    /// The PIN typed.
    pub pin: Digits,
    /// How it ended (approved, denied, expired, …); no more answers then.
    pub outcome: Option<(Text, Tone)>,
    /// A notification is showing for it.
    pub notified: bool,
    /// When it was first heard of (newest first in lists).
    pub seen: u64,
}

/// Where codes can come from besides the camera and a pasted link (what the build and the
/// shell can do).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sources {
    /// Image files (PNG, JPEG).
    pub files: bool,
    /// Captures of every screen.
    pub screens: bool,
    /// Images on the clipboard.
    pub clipboard: bool,
    /// A webcam the person starts ("Use my camera"; desktops) instead of a camera that opens
    /// with the scan screen (phones).
    pub webcam: bool,
    /// The keystore forgets keys at reboot (say so on the home screen).
    pub keys_forgotten_at_reboot: bool,
}

/// Scanning.
#[derive(Default)]
pub(crate) struct Scan {
    pub guidance: Option<(Text, Tone)>,
    pub frames_without_code: u32,
    pub link: Zeroizing<String>,
    /// The camera's light: `None` without one, else whether it is on.
    pub torch: Option<bool>,
    /// A webcam's state (desktops start it on request; phones' cameras open with the screen).
    pub webcam: Webcam,
}

impl Scan {
    /// The webcam is off (its light too), with this guidance; `update` tells the shell to
    /// close the camera.
    fn webcam_off(&mut self, guidance: Option<(Text, Tone)>) {
        self.webcam = Webcam::Off;
        self.torch = None;
        self.guidance = guidance;
    }
}

/// A webcam started on request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Webcam {
    /// Not running.
    #[default]
    Off,
    /// Asked for; not yet opened.
    Starting,
    /// Sending frames.
    On,
}

/// Adding a scanned account.
pub(crate) struct Enrol {
    pub link: Box<EnrolmentLink>,
    pub pin: Digits,
    pub again: Digits,
    pub feedback: Option<Text>,
    /// The enrolling account, after a wrong PIN (retried with `finish_enrolment`).
    pub retry: Option<RecordId>,
    pub done: bool,
}

/// Changing a PIN.
pub(crate) struct Change {
    pub account: RecordId,
    pub old: Digits,
    pub new: Digits,
    pub again: Digits,
    pub feedback: Option<Text>,
    pub done: bool,
}

/// "Forgot PIN".
pub(crate) struct Forgot {
    pub account: RecordId,
    pub password: Zeroizing<String>,
    pub ticket: Option<ResetTicket>,
    pub code: Digits,
    pub new: Digits,
    pub again: Digits,
    pub feedback: Option<Text>,
    pub done: bool,
}

/// Removing an account.
pub(crate) struct Remove {
    pub account: RecordId,
    pub pin: Digits,
}

/// Where the person is.
pub(crate) enum Route {
    Accounts,
    Account(RecordId),
    Scan(Scan),
    Enrol(Enrol),
    Request(String),
    ChangePin(Change),
    Forgot(Forgot),
    Remove(Remove),
    Settings,
}

/// The app's state.
pub(crate) struct Model {
    pub words: Words,
    /// The platform's preferred languages.
    pub preferred: Vec<String>,
    /// The language chosen in Settings (`None`: the device's).
    pub language: Option<String>,
    /// Minutes east of UTC, for times shown.
    pub utc_offset_minutes: i32,
    pub link_policy: LinkPolicy,
    /// Where codes can come from besides the camera and the link.
    pub sources: Sources,
    /// A capture asked of the shell and not answered yet.
    pub capturing: Option<ImageSource>,
    /// Where the platform's push service reaches this device (the shell's last word).
    pub push: Option<PushRegistration>,
    pub accounts: Vec<Account>,
    /// Accounts locked after wrong PINs (learnt from the server's answers).
    pub locked: BTreeSet<RecordId>,
    /// Accounts whose long-poll is failing.
    pub offline: BTreeSet<RecordId>,
    /// Known requests by id.
    pub requests: BTreeMap<String, Request>,
    pub route: Route,
    pub notice: Option<(Text, Tone)>,
    pub busy: Option<Text>,
    pub foreground: bool,
    pub polling_stopped: bool,
    pub device_locked: bool,
    /// The system refuses the app's notifications (the shell's last word).
    pub notifications_off: bool,
    pub checking: bool,
    /// The app's clock (seconds, monotonic), set by the driver before each update.
    pub now: u64,
    /// Grows with every update (views carry it).
    pub revision: u64,
    /// The accounts were loaded once (pushes wait for it).
    pub loaded: bool,
    /// Events that wait for the work in flight (or the accounts) to finish.
    pub deferred: VecDeque<AppEvent>,
    /// Requests to deny as soon as they are fetched (a notification's Deny).
    pub deny_when_fetched: BTreeSet<String>,
    /// Requests (by challenge id) to open as soon as they are fetched: a notification the
    /// system showed for a push, pressed.
    pub open_when_fetched: BTreeSet<String>,
    /// Requests whose signature did not verify (P4): never fetched again.
    pub refused: BTreeSet<String>,
    /// Unix seconds, set by the driver before each update.
    pub unix_now: u64,
}

impl Model {
    pub(crate) fn new(
        preferred: Vec<String>,
        utc_offset_minutes: i32,
        link_policy: LinkPolicy,
        sources: Sources,
    ) -> Self {
        Self {
            words: Words::negotiate(&preferred),
            preferred,
            language: None,
            utc_offset_minutes,
            link_policy,
            sources,
            capturing: None,
            push: None,
            accounts: Vec::new(),
            locked: BTreeSet::new(),
            offline: BTreeSet::new(),
            requests: BTreeMap::new(),
            route: Route::Accounts,
            notice: None,
            busy: None,
            foreground: true,
            polling_stopped: false,
            // Until the shell says otherwise, notifications show no details.
            device_locked: true,
            notifications_off: false,
            checking: false,
            now: 0,
            unix_now: 0,
            revision: 0,
            loaded: false,
            deferred: VecDeque::new(),
            deny_when_fetched: BTreeSet::new(),
            open_when_fetched: BTreeSet::new(),
            refused: BTreeSet::new(),
        }
    }

    pub(crate) fn account(&self, id: &RecordId) -> Option<&Account> {
        self.accounts.iter().find(|a| &a.id == id)
    }

    fn active_accounts(&self) -> Vec<RecordId> {
        self.accounts
            .iter()
            .filter(|a| a.state == RecordState::Active)
            .map(|a| a.id.clone())
            .collect()
    }

    fn poll_set(&self) -> Vec<RecordId> {
        if self.polling_stopped {
            Vec::new()
        } else {
            self.active_accounts()
        }
    }

    /// A countdown is showing (the timer ticks only then).
    pub(crate) fn counting_down(&self) -> bool {
        self.requests
            .values()
            .any(|r| r.view.is_some() && r.outcome.is_none())
    }

    /// The camera is wanted (a webcam: once started).
    pub(crate) fn scanning(&self) -> bool {
        match &self.route {
            Route::Scan(scan) => !self.sources.webcam || scan.webcam != Webcam::Off,
            _ => false,
        }
    }

    /// Asks for the camera when the scan screen opens, except for a webcam, which waits for
    /// "Use my camera".
    fn open_camera(&self, out: &mut Vec<Out>) {
        if !self.sources.webcam {
            out.push(Out::AppEffect(AppEffect::OpenCamera));
        }
    }

    fn go(&mut self, route: Route) {
        // A PIN typed for one request never waits, ready, for when it is reopened.
        for r in self.requests.values_mut() {
            r.pin.clear();
        }
        self.route = route;
        self.notice = None;
        // A capture answered after its screen was left is dropped.
        self.capturing = None;
    }

    /// The one transition.
    pub(crate) fn update(&mut self, input: Input) -> Vec<Out> {
        self.revision += 1;
        let mut out = Vec::new();
        let camera_wanted = self.scanning();
        match input {
            Input::AppEvent(event) => self.event(event, &mut out),
            Input::Scanned(result) => self.scanned(result, &mut out),
            Input::Done(done) => self.done(done, &mut out),
        }
        // Events that waited for the work in flight, one at a time.
        while self.busy.is_none() && self.loaded {
            let Some(event) = self.deferred.pop_front() else {
                break;
            };
            self.event(event, &mut out);
        }
        self.expire(&mut out);
        // Whatever the way out of scanning (another screen, a request, a new scan screen),
        // the camera is told to close.
        let closed = |o: &Out| matches!(o, Out::AppEffect(AppEffect::CloseCamera));
        if camera_wanted && !self.scanning() && !out.iter().any(closed) {
            out.push(Out::AppEffect(AppEffect::CloseCamera));
        }
        out
    }

    fn event(&mut self, event: AppEvent, out: &mut Vec<Out>) {
        match event {
            AppEvent::Started => {
                out.push(Out::Work(Work::LoadAccounts));
                out.push(Out::Work(Work::Settle));
            }
            AppEvent::Press(action) => self.press(action, out),
            AppEvent::Digit { field, digit } => self.digit(field, Some(digit)),
            AppEvent::Erase { field } => self.digit(field, None),
            AppEvent::Input { field, mut text } => {
                let mut kept = Zeroizing::new(String::with_capacity(MAX_TEXT.min(text.len())));
                for c in text.chars() {
                    if kept.len() + c.len_utf8() > MAX_TEXT {
                        break;
                    }
                    kept.push(c);
                }
                zeroize::Zeroize::zeroize(&mut text);
                match (&mut self.route, field) {
                    (Route::Scan(scan), InputField::Link) => scan.link = kept,
                    (Route::Forgot(forgot), InputField::Password) => forgot.password = kept,
                    _ => {}
                }
            }
            AppEvent::PushTokenChanged { registration } => {
                self.push = registration.clone();
                let accounts = self.active_accounts();
                // Before the accounts are known, the list that loads next registers them.
                if self.loaded && !accounts.is_empty() {
                    out.push(Out::Work(Work::RegisterPush {
                        accounts,
                        target: registration,
                    }));
                }
            }
            AppEvent::ImagesCaptured {
                source,
                mut images,
                failure,
            } => {
                let Route::Scan(scan) = &mut self.route else {
                    images.iter_mut().for_each(CapturedImage::wipe);
                    return;
                };
                if self.capturing != Some(source) {
                    // Nobody asked (or the screen was left and entered again): dropped unseen.
                    images.iter_mut().for_each(CapturedImage::wipe);
                    return;
                }
                self.capturing = None;
                match failure {
                    Some(reason) if images.is_empty() => {
                        let id = match source {
                            ImageSource::Screens => "scan-capture-failed",
                            ImageSource::Clipboard => "scan-clipboard-failed",
                        };
                        scan.guidance = Some((Text::of(id).with("reason", reason), Tone::Warning));
                    }
                    _ => {
                        self.busy = Some(Text::of(match source {
                            ImageSource::Screens => "scan-screens-busy",
                            ImageSource::Clipboard => "scan-clipboard-busy",
                        }));
                        out.push(Out::Work(Work::ScanImages { source, images }));
                    }
                }
            }
            AppEvent::ImageOpened { bytes } => {
                if matches!(self.route, Route::Scan(_)) {
                    out.push(Out::Work(Work::ScanImage(bytes)));
                }
            }
            AppEvent::PushReceived { account, challenge } => {
                if !self.loaded {
                    // A cold start by push: heard once the accounts are known.
                    self.deferred
                        .push_back(AppEvent::PushReceived { account, challenge });
                    return;
                }
                let account = account.and_then(|a| RecordId::parse(&a));
                self.heard(account, &challenge, out);
            }
            AppEvent::NotificationPressed { request, action } => {
                if self.busy.is_some() || !self.loaded {
                    // Never while work is in flight: its result belongs to the screen shown.
                    self.deferred
                        .push_back(AppEvent::NotificationPressed { request, action });
                    return;
                }
                let known = self
                    .requests
                    .get(&request)
                    .is_some_and(|r| r.view.is_some());
                if split_key(&request).is_none() && ChallengeId::parse(&request).is_some() {
                    // A push the system showed while the app was not running (iOS): it names
                    // the request alone. Already fetched (the app was opened meanwhile):
                    // answered or opened as the app's own notification would be.
                    let fetched = self
                        .requests
                        .iter()
                        .find(|(key, r)| {
                            r.view.is_some() && split_key(key).is_some_and(|(_, c)| c == request)
                        })
                        .map(|(key, _)| key.clone());
                    if let Some(key) = fetched {
                        match action {
                            Some(NotificationAction::Deny) => self.answer(&key, Answer::Deny, out),
                            None => self.go(Route::Request(key)),
                        }
                        return;
                    }
                    // Else fetched (and verified) for whichever account it is, then opened as
                    // any new request, or denied.
                    if action == Some(NotificationAction::Deny) {
                        self.deny_when_fetched.insert(request.clone());
                    } else {
                        self.open_when_fetched.insert(request.clone());
                    }
                    self.heard(None, &request, out);
                    return;
                }
                match action {
                    None if known => self.go(Route::Request(request)),
                    None => {
                        if let Some((account, challenge)) = split_key(&request) {
                            self.heard(Some(account), &challenge, out);
                        }
                    }
                    Some(NotificationAction::Deny) if known => {
                        self.answer(&request, Answer::Deny, out);
                    }
                    Some(NotificationAction::Deny) => {
                        // Fetched first (the answer must name the verified request), then denied.
                        if let Some((account, challenge)) = split_key(&request) {
                            self.deny_when_fetched.insert(request.clone());
                            self.heard(Some(account), &challenge, out);
                        }
                    }
                }
            }
            AppEvent::LinkOpened { mut url } => {
                if self.busy.is_some() || !self.loaded {
                    // Never while work is in flight (a cold start by link: once loaded).
                    self.deferred.push_back(AppEvent::LinkOpened { url });
                    return;
                }
                let result = link::parse_with(url.trim(), &self.link_policy);
                zeroize::Zeroize::zeroize(&mut url);
                // Read as if scanned: the add-account screen, then the PIN, or the scan
                // screen saying why this link is not one (with the camera to scan instead).
                self.go(Route::Scan(Scan::default()));
                if result.is_err() {
                    self.open_camera(out);
                }
                self.scanned_link(result, out);
            }
            AppEvent::CameraOpened { torch } => {
                if let Route::Scan(scan) = &mut self.route {
                    scan.torch = torch.then_some(false);
                    if scan.webcam == Webcam::Starting {
                        scan.webcam = Webcam::On;
                        scan.guidance = Some((Text::of("scan-webcam-point"), Tone::Info));
                    }
                }
            }
            AppEvent::CameraUnavailable { denied } => {
                let webcam = self.sources.webcam;
                if let Route::Scan(scan) = &mut self.route {
                    let why = match (denied, webcam) {
                        (true, false) => "scan-camera-denied",
                        (false, false) => "scan-camera-missing",
                        (true, true) => "scan-webcam-denied",
                        (false, true) => "scan-webcam-missing",
                    };
                    scan.webcam_off(Some((Text::of(why), Tone::Warning)));
                }
            }
            AppEvent::NotificationsAllowed { allowed } => self.notifications_off = !allowed,
            AppEvent::Foregrounded => {
                self.foreground = true;
                if self.polling_stopped {
                    self.polling_stopped = false;
                }
                out.push(Out::Work(Work::LoadAccounts));
            }
            AppEvent::Backgrounded { stop_polling } => {
                self.foreground = false;
                // A webcam never watches for a window the person left (also hidden to the
                // tray); it starts again on request.
                if let (Route::Scan(scan), true) = (&mut self.route, self.sources.webcam) {
                    if scan.webcam != Webcam::Off {
                        scan.webcam_off(Some((Text::of("scan-webcam-stopped"), Tone::Info)));
                    }
                }
                if stop_polling {
                    self.polling_stopped = true;
                    out.push(Out::Work(Work::Poll(Vec::new())));
                }
            }
            AppEvent::DeviceLocked { locked } => {
                self.device_locked = locked;
                if locked {
                    // Notifications already shown lose their details too.
                    let shown: Vec<String> = self
                        .requests
                        .iter()
                        .filter(|(_, r)| r.notified)
                        .map(|(key, _)| key.clone())
                        .collect();
                    for key in shown {
                        self.notify(&key, out);
                    }
                }
            }
            AppEvent::Tick => {}
        }
    }

    fn press(&mut self, action: Action, out: &mut Vec<Out>) {
        if self.busy.is_some() && !matches!(action, Action::Back) {
            return;
        }
        match action {
            Action::Back => self.back(out),
            Action::AddAccount => {
                self.go(Route::Scan(Scan::default()));
                self.open_camera(out);
            }
            Action::OpenAccount { account } => {
                if let Some(id) = RecordId::parse(&account).filter(|id| self.account(id).is_some())
                {
                    self.go(Route::Account(id));
                }
            }
            Action::OpenRequest { request } => {
                if self.requests.contains_key(&request) {
                    self.go(Route::Request(request));
                }
            }
            Action::CheckNow => {
                if self.checking {
                    return;
                }
                self.checking = true;
                out.push(Out::Work(Work::CheckNow(self.active_accounts())));
            }
            Action::OpenSettings => self.go(Route::Settings),
            Action::ChangePin { account } => {
                if let Some(account) = self.known(&account) {
                    self.go(Route::ChangePin(Change {
                        account,
                        old: Digits::default(),
                        new: Digits::default(),
                        again: Digits::default(),
                        feedback: None,
                        done: false,
                    }));
                }
            }
            Action::ForgotPin { account } => {
                if let Some(account) = self.known(&account) {
                    self.go(Route::Forgot(Forgot {
                        account,
                        password: Zeroizing::default(),
                        ticket: None,
                        code: Digits::default(),
                        new: Digits::default(),
                        again: Digits::default(),
                        feedback: None,
                        done: false,
                    }));
                }
            }
            Action::RemoveAccount { account } => {
                if let Some(account) = self.known(&account) {
                    self.go(Route::Remove(Remove {
                        account,
                        pin: Digits::default(),
                    }));
                }
            }
            Action::Submit => self.submit(out),
            Action::Torch => {
                if let Route::Scan(Scan {
                    torch: Some(on), ..
                }) = &mut self.route
                {
                    *on = !*on;
                    out.push(Out::AppEffect(AppEffect::SetTorch { on: *on }));
                }
            }
            Action::Webcam => {
                if let (Route::Scan(scan), true) = (&mut self.route, self.sources.webcam) {
                    if scan.webcam == Webcam::Off {
                        scan.webcam = Webcam::Starting;
                        scan.guidance = Some((Text::of("scan-webcam-starting"), Tone::Info));
                        scan.frames_without_code = 0;
                        out.push(Out::AppEffect(AppEffect::OpenCamera));
                    } else {
                        scan.webcam_off(None);
                    }
                }
            }
            Action::UseLink => {
                if let Route::Scan(scan) = &mut self.route {
                    let result = link::parse_with(scan.link.trim(), &self.link_policy);
                    self.scanned_link(result, out);
                }
            }
            Action::OpenImage => out.push(Out::AppEffect(AppEffect::PickImage)),
            Action::ScanScreens | Action::PasteImage => {
                let (source, offered, effect, looking) = if action == Action::ScanScreens {
                    let s = ImageSource::Screens;
                    (
                        s,
                        self.sources.screens,
                        AppEffect::CaptureScreens,
                        "scan-screens-busy",
                    )
                } else {
                    let s = ImageSource::Clipboard;
                    (
                        s,
                        self.sources.clipboard,
                        AppEffect::ReadClipboardImage,
                        "scan-clipboard-busy",
                    )
                };
                if let (Route::Scan(scan), true, None) = (&mut self.route, offered, self.capturing)
                {
                    scan.guidance = Some((Text::of(looking), Tone::Info));
                    self.capturing = Some(source);
                    out.push(Out::AppEffect(effect));
                }
            }
            // An answer names its request and counts only for the one on screen: a press made
            // while looking at one request never answers another.
            Action::Approve { request } => {
                if matches!(&self.route, Route::Request(open) if *open == request) {
                    self.answer(&request, Answer::Approve, out);
                }
            }
            Action::Deny { request } => {
                if matches!(&self.route, Route::Request(open) if *open == request) {
                    self.answer(&request, Answer::Deny, out);
                }
            }
            Action::NotMe { request } => {
                if matches!(&self.route, Route::Request(open) if *open == request) {
                    self.answer(&request, Answer::NotMe, out);
                }
            }
            Action::Done => {
                let next = match &self.route {
                    Route::Request(id) => {
                        let account = self.requests.get(id).map(|r| r.account.clone());
                        self.requests.remove(id);
                        match account {
                            Some(a) if self.account(&a).is_some() => Route::Account(a),
                            _ => Route::Accounts,
                        }
                    }
                    Route::ChangePin(c) => Route::Account(c.account.clone()),
                    Route::Forgot(f) => Route::Account(f.account.clone()),
                    _ => Route::Accounts,
                };
                self.go(next);
            }
            Action::SetLanguage { tag } => {
                self.language = tag;
                self.words = match &self.language {
                    Some(tag) => Words::negotiate(std::slice::from_ref(tag)),
                    None => Words::negotiate(&self.preferred),
                };
            }
        }
    }

    fn known(&self, account: &str) -> Option<RecordId> {
        RecordId::parse(account).filter(|id| self.account(id).is_some())
    }

    fn back(&mut self, out: &mut Vec<Out>) {
        if self.busy.is_some() {
            // Work in flight finishes on its own; its result lands wherever the person is.
            return;
        }
        let next = match &self.route {
            Route::Accounts => return,
            Route::Scan(_) => {
                out.push(Out::AppEffect(AppEffect::CloseCamera));
                Route::Accounts
            }
            Route::Account(_) | Route::Settings | Route::Enrol(_) => Route::Accounts,
            Route::Request(id) => match self.requests.get(id) {
                Some(r) if self.account(&r.account).is_some() => Route::Account(r.account.clone()),
                _ => Route::Accounts,
            },
            Route::ChangePin(Change { account, .. })
            | Route::Forgot(Forgot { account, .. })
            | Route::Remove(Remove { account, .. }) => Route::Account(account.clone()),
        };
        if let Route::Request(id) = &self.route {
            if let Some(r) = self.requests.get_mut(id) {
                r.pin.clear();
            }
            // A finished request leaves the lists.
            if self.requests.get(id).is_some_and(|r| r.outcome.is_some()) {
                self.requests.remove(id);
            }
        }
        self.go(next);
    }

    /// The PIN length of the account the current screen is about, and the request's code
    /// length.
    fn lengths(&self) -> (u8, u8) {
        let account = match &self.route {
            Route::Request(id) => self.requests.get(id).map(|r| r.account.clone()),
            Route::ChangePin(c) => Some(c.account.clone()),
            Route::Forgot(f) => Some(f.account.clone()),
            Route::Remove(r) => Some(r.account.clone()),
            _ => None,
        };
        let pin = account
            .and_then(|a| self.account(&a).map(|a| a.pin_digits))
            .unwrap_or(4);
        let code = match &self.route {
            Route::Request(id) => self
                .requests
                .get(id)
                .and_then(|r| r.view.as_ref())
                .map_or(0, |v| v.challenge.code_digits),
            _ => 0,
        };
        (pin, code)
    }

    fn digit(&mut self, field: InputField, digit: Option<u8>) {
        if self.busy.is_some() {
            return;
        }
        let (n, code_n) = self.lengths();
        let target: Option<(&mut Digits, u8)> = match &mut self.route {
            Route::Enrol(e) => {
                let n = e.link.pin_digits;
                match field {
                    InputField::Pin => Some((&mut e.pin, n)),
                    InputField::PinAgain => Some((&mut e.again, n)),
                    _ => None,
                }
            }
            Route::Request(id) => match self.requests.get_mut(id.as_str()) {
                Some(r) if r.outcome.is_none() => match field {
                    InputField::Code => Some((&mut r.code, code_n)),
                    InputField::Pin => Some((&mut r.pin, n)),
                    _ => None,
                },
                _ => None,
            },
            Route::ChangePin(c) => match field {
                InputField::Pin => Some((&mut c.old, n)),
                InputField::NewPin => Some((&mut c.new, n)),
                InputField::NewPinAgain => Some((&mut c.again, n)),
                _ => None,
            },
            Route::Forgot(f) => match field {
                InputField::MailedCode => Some((&mut f.code, MAILED_CODE_DIGITS)),
                InputField::NewPin => Some((&mut f.new, n)),
                InputField::NewPinAgain => Some((&mut f.again, n)),
                _ => None,
            },
            Route::Remove(r) => (field == InputField::Pin).then_some((&mut r.pin, n)),
            _ => None,
        };
        if let Some((digits, max)) = target {
            match digit {
                Some(d) => digits.push(d, max),
                None => digits.pop(),
            }
        }
        self.live_feedback();
    }

    /// Feedback while typing a new PIN: too easy, or the two differ.
    fn live_feedback(&mut self) {
        let policy = PinPolicy {
            digits: self.lengths().0,
        };
        let (policy, new, again, feedback): (PinPolicy, &Digits, &Digits, &mut Option<Text>) =
            match &mut self.route {
                Route::Enrol(e) => {
                    if e.link.pin_source != PinSource::App {
                        return;
                    }
                    let policy = PinPolicy {
                        digits: e.link.pin_digits,
                    };
                    (policy, &e.pin, &e.again, &mut e.feedback)
                }
                Route::ChangePin(c) => (policy, &c.new, &c.again, &mut c.feedback),
                Route::Forgot(f) => (policy, &f.new, &f.again, &mut f.feedback),
                _ => return,
            };
        *feedback = new_pin_feedback(policy, new, again);
    }

    fn submit(&mut self, out: &mut Vec<Out>) {
        // The PIN length of the account the screen is about (enrolment reads its link's).
        let policy = PinPolicy {
            digits: self.lengths().0,
        };
        match &mut self.route {
            Route::Enrol(e) => {
                if e.done {
                    return;
                }
                let policy = PinPolicy {
                    digits: e.link.pin_digits,
                };
                if e.pin.len() != policy.digits {
                    e.feedback = Some(Text::of("pin-length").num("digits", policy.digits));
                    return;
                }
                let chosen = e.link.pin_source == PinSource::App;
                if chosen {
                    if let Some(problem) = new_pin_feedback(policy, &e.pin, &e.again) {
                        e.feedback = Some(problem);
                        return;
                    }
                }
                let pin = e.pin.take_pin();
                let again = e.again.take_pin();
                e.feedback = None;
                let work = match &e.retry {
                    Some(account) => Work::FinishEnrolment {
                        account: account.clone(),
                        pin,
                    },
                    None => Work::Enrol {
                        link: e.link.clone(),
                        pin,
                        again: chosen.then_some(again),
                    },
                };
                self.busy = Some(Text::of("enrol-busy"));
                self.notice = None;
                out.push(Out::Work(work));
            }
            Route::ChangePin(c) => {
                if c.done {
                    return;
                }
                let account = c.account.clone();
                if c.old.len() != policy.digits {
                    c.feedback = Some(Text::of("pin-length").num("digits", policy.digits));
                    return;
                }
                if let Some(problem) = new_pin_feedback(policy, &c.new, &c.again) {
                    c.feedback = Some(problem);
                    return;
                }
                let work = Work::ChangePin {
                    account,
                    old: c.old.take_pin(),
                    new: c.new.take_pin(),
                };
                c.again.clear();
                self.busy = Some(Text::of("change-busy"));
                self.notice = None;
                out.push(Out::Work(work));
            }
            Route::Forgot(f) => {
                if f.done {
                    return;
                }
                match f.ticket.clone() {
                    None => {
                        if f.password.is_empty() {
                            return;
                        }
                        let password = Password::new(f.password.as_str());
                        f.password = Zeroizing::default();
                        let account = f.account.clone();
                        self.busy = Some(Text::of("forgot-busy-send"));
                        self.notice = None;
                        out.push(Out::Work(Work::ForgotStart { account, password }));
                    }
                    Some(ticket) => {
                        let account = f.account.clone();
                        if f.code.len() != MAILED_CODE_DIGITS {
                            return;
                        }
                        if let Some(problem) = new_pin_feedback(policy, &f.new, &f.again) {
                            f.feedback = Some(problem);
                            return;
                        }
                        let code = OneTimeCode::new(f.code.as_str());
                        f.code.clear();
                        let new = f.new.take_pin();
                        f.again.clear();
                        self.busy = Some(Text::of("forgot-busy-set"));
                        self.notice = None;
                        out.push(Out::Work(Work::ForgotFinish {
                            account,
                            ticket,
                            code,
                            new,
                        }));
                    }
                }
            }
            Route::Remove(r) => {
                let account = r.account.clone();
                if r.pin.len() != policy.digits {
                    return;
                }
                let pin = r.pin.take_pin();
                self.busy = Some(Text::of("remove-busy"));
                self.notice = None;
                out.push(Out::Work(Work::Remove { account, pin }));
            }
            _ => {}
        }
    }

    /// A request id heard of by push or poll: fetched once, whatever way it came first, and
    /// only from its own account's server. A push that does not say which account asks every
    /// account's server for its own list instead (an id never goes to another server).
    fn heard(&mut self, account: Option<RecordId>, challenge: &str, out: &mut Vec<Out>) {
        let Some(id) = ChallengeId::parse(challenge) else {
            return;
        };
        let active = self.active_accounts();
        let account = match account {
            Some(a) if active.contains(&a) => a,
            _ if active.len() == 1 => active[0].clone(),
            _ => {
                if !self.checking && !active.is_empty() {
                    self.checking = true;
                    out.push(Out::Work(Work::CheckNow(active)));
                }
                return;
            }
        };
        let key = request_key(&account, challenge);
        if self.requests.contains_key(&key) || self.refused.contains(&key) {
            return;
        }
        self.requests.insert(
            key,
            Request {
                account: account.clone(),
                view: None,
                deadline: self.now.saturating_add(120),
                code: Digits::default(),
                pin: Digits::default(),
                outcome: None,
                notified: false,
                seen: self.now,
            },
        );
        out.push(Out::Work(Work::Fetch {
            account,
            challenge: id,
        }));
    }

    fn answer(&mut self, id: &str, how: Answer, out: &mut Vec<Out>) {
        let pin_digits = self
            .requests
            .get(id)
            .and_then(|r| self.account(&r.account))
            .map_or(4, |a| a.pin_digits);
        let Some(r) = self.requests.get_mut(id) else {
            return;
        };
        if r.outcome.is_some() {
            return;
        }
        let Some(view) = r.view.clone() else {
            return;
        };
        let work = match how {
            Answer::Approve => {
                if r.code.len() != view.challenge.code_digits || r.pin.len() != pin_digits {
                    return;
                }
                let code = r.code.as_str().to_owned();
                Work::Approve {
                    view: Box::new(view),
                    code,
                    pin: r.pin.take_pin(),
                }
            }
            Answer::Deny | Answer::NotMe => Work::Deny {
                view: Box::new(view),
                not_me: how == Answer::NotMe,
            },
        };
        self.busy = Some(Text::of("request-busy"));
        self.notice = None;
        out.push(Out::Work(work));
    }

    fn scanned(&mut self, result: Result<ScanResult, Error>, out: &mut Vec<Out>) {
        // A frame read while the camera was being stopped counts for nothing.
        if !self.scanning() {
            return;
        }
        let Route::Scan(scan) = &mut self.route else {
            return;
        };
        match result {
            Ok(ScanResult::NoCode) => {
                scan.frames_without_code = scan.frames_without_code.saturating_add(1);
                if scan.frames_without_code >= STEADY_AFTER_FRAMES
                    && !matches!(&scan.guidance, Some((_, Tone::Warning)))
                {
                    scan.guidance = Some((Text::of("scan-steady"), Tone::Info));
                }
            }
            Ok(ScanResult::Link(link)) => self.scanned_link(Ok(*link), out),
            Ok(ScanResult::NotLatchkey(e)) => self.scanned_link(Err(e), out),
            Err(e) => {
                scan.guidance = Some((error_text(&e), Tone::Warning));
            }
        }
    }

    /// What captured images held: the first Latchkey code wins (and says which screen it
    /// was on); else the first other code's reason; else why nothing was found.
    fn images_scanned(
        &mut self,
        source: ImageSource,
        results: Vec<(String, Result<ScanResult, Error>)>,
        out: &mut Vec<Out>,
    ) {
        if !matches!(self.route, Route::Scan(_)) {
            return;
        }
        let count = results.len();
        let mut other = None;
        let mut failed = None;
        for (index, (name, result)) in results.into_iter().enumerate() {
            match result {
                Ok(ScanResult::Link(link)) => {
                    self.scanned_link(Ok(*link), out);
                    if source == ImageSource::Screens && count > 1 {
                        self.notice = Some((
                            Text::of("scan-found-on-screen")
                                .num("number", i64::try_from(index + 1).unwrap_or(i64::MAX))
                                .with("name", name),
                            Tone::Info,
                        ));
                    }
                    return;
                }
                Ok(ScanResult::NotLatchkey(e)) => {
                    other.get_or_insert(e);
                }
                Ok(ScanResult::NoCode) => {}
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = other {
            return self.scanned_link(Err(e), out);
        }
        let guidance = match (failed, source) {
            (Some(e), _) => (error_text(&e), Tone::Warning),
            (None, ImageSource::Screens) => (
                Text::of("scan-screens-none").num("count", i64::try_from(count).unwrap_or(0)),
                Tone::Warning,
            ),
            (None, ImageSource::Clipboard) => (Text::of("scan-clipboard-none"), Tone::Warning),
        };
        if let Route::Scan(scan) = &mut self.route {
            scan.guidance = Some(guidance);
        }
    }

    fn scanned_link(&mut self, result: Result<EnrolmentLink, LinkError>, out: &mut Vec<Out>) {
        match result {
            Ok(link) => {
                out.push(Out::AppEffect(AppEffect::CloseCamera));
                out.push(Out::AppEffect(AppEffect::Vibrate {
                    pattern: Haptic::Success,
                }));
                self.go(Route::Enrol(Enrol {
                    link: Box::new(link),
                    pin: Digits::default(),
                    again: Digits::default(),
                    feedback: None,
                    retry: None,
                    done: false,
                }));
            }
            Err(e) => {
                if let Route::Scan(scan) = &mut self.route {
                    scan.guidance = Some((
                        Text::of("scan-not-latchkey").text("reason", link_reason(&e)),
                        Tone::Warning,
                    ));
                    scan.frames_without_code = 0;
                }
            }
        }
    }

    fn done(&mut self, done: Done, out: &mut Vec<Out>) {
        match done {
            Done::Accounts(Ok(accounts)) => {
                let first = !self.loaded;
                let before: BTreeSet<RecordId> =
                    self.accounts.iter().map(|a| a.id.clone()).collect();
                self.accounts = accounts;
                self.loaded = true;
                if first {
                    self.notification_actions(out);
                }
                // Accounts new to the app (the first list, or one just added) learn the push
                // target; the others were told when it changed.
                if self.push.is_some() {
                    let new: Vec<RecordId> = self
                        .active_accounts()
                        .into_iter()
                        .filter(|a| first || !before.contains(a))
                        .collect();
                    if !new.is_empty() {
                        out.push(Out::Work(Work::RegisterPush {
                            accounts: new,
                            target: self.push.clone(),
                        }));
                    }
                }
                let known: BTreeSet<RecordId> =
                    self.accounts.iter().map(|a| a.id.clone()).collect();
                self.requests.retain(|_, r| known.contains(&r.account));
                self.locked.retain(|a| known.contains(a));
                self.offline.retain(|a| known.contains(a));
                out.push(Out::Work(Work::Poll(self.poll_set())));
            }
            Done::Accounts(Err(e)) => {
                // Pushes must not wait forever for a list that cannot be read.
                if !self.loaded {
                    self.notification_actions(out);
                }
                self.loaded = true;
                self.notice = Some((error_text(&e), Tone::Error));
            }
            Done::Settled(Ok(report)) => {
                for (id, settled) in report {
                    let label = self
                        .account(&id)
                        .map_or_else(|| id.as_str().to_owned(), |a| split_label(&a.label).1);
                    let (message, tone) = match settled {
                        Settled::Nothing => continue,
                        Settled::Promoted => ("settle-promoted", Tone::Success),
                        Settled::Discarded => ("settle-discarded", Tone::Info),
                        Settled::Activated => ("settle-activated", Tone::Success),
                        Settled::Pending => ("settle-pending", Tone::Warning),
                    };
                    if settled == Settled::Promoted {
                        self.locked.remove(&id);
                    }
                    self.notice = Some((Text::of(message).with("account", label), tone));
                }
                out.push(Out::Work(Work::LoadAccounts));
            }
            Done::Settled(Err(e)) => self.notice = Some((error_text(&e), Tone::Warning)),
            Done::Pending {
                account,
                challenges,
            } => {
                self.offline.remove(&account);
                let live: BTreeSet<String> = challenges
                    .iter()
                    .map(|c| request_key(&account, &c.to_string()))
                    .collect();
                // Requests that left the server's list were answered elsewhere or cancelled.
                let gone: Vec<String> = self
                    .requests
                    .iter()
                    .filter(|(id, r)| {
                        r.account == account
                            && r.view.is_some()
                            && r.outcome.is_none()
                            && !live.contains(*id)
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in gone {
                    self.ended_elsewhere(&id, out);
                }
                for challenge in challenges {
                    self.heard(Some(account.clone()), &challenge.to_string(), out);
                }
            }
            Done::PollFailed { account } => {
                self.offline.insert(account);
            }
            Done::CheckedNow => self.checking = false,
            Done::Fetched {
                account,
                challenge,
                result,
            } => self.fetched(&request_key(&account, &challenge.to_string()), result, out),
            Done::Enrolled { result, retry } => {
                self.busy = None;
                out.push(Out::Work(Work::LoadAccounts));
                let Route::Enrol(e) = &mut self.route else {
                    return;
                };
                match result {
                    Ok(account) => {
                        e.done = true;
                        let (service, _) = split_label(&account.label);
                        self.notice = Some((
                            Text::of("enrol-done").with("service", service),
                            Tone::Success,
                        ));
                        out.push(Out::AppEffect(AppEffect::Vibrate {
                            pattern: Haptic::Success,
                        }));
                    }
                    Err(err) => {
                        if retry.is_some() {
                            e.retry = retry;
                        }
                        if is_code_gone(&err) {
                            self.go(Route::Scan(Scan {
                                guidance: Some((Text::of("scan-expired"), Tone::Warning)),
                                ..Scan::default()
                            }));
                            self.open_camera(out);
                        } else {
                            self.notice = Some((error_text(&err), Tone::Error));
                        }
                        out.push(Out::AppEffect(AppEffect::Vibrate {
                            pattern: Haptic::Failure,
                        }));
                    }
                }
            }
            Done::Answered { request, result } => self.answered(&request, result, out),
            Done::PinChanged(result) => {
                self.busy = None;
                let Route::ChangePin(c) = &mut self.route else {
                    return;
                };
                let account = c.account.clone();
                match result {
                    Ok(()) => {
                        c.done = true;
                        self.locked.remove(&account);
                        self.notice = Some((Text::of("change-done"), Tone::Success));
                        out.push(Out::AppEffect(AppEffect::Vibrate {
                            pattern: Haptic::Success,
                        }));
                    }
                    Err(e) => self.failed(&account, &e, out),
                }
            }
            Done::ResetStarted(result) => {
                self.busy = None;
                let Route::Forgot(f) = &mut self.route else {
                    return;
                };
                let account = f.account.clone();
                match result {
                    Ok(ticket) => {
                        let minutes = ticket.expires_at.saturating_sub(self.unix_now).div_ceil(60);
                        self.notice = Some((
                            Text::of("forgot-sent")
                                .with("addresses", ticket.sent_to.join(", "))
                                .num("minutes", i64::try_from(minutes).unwrap_or(15)),
                            Tone::Info,
                        ));
                        f.ticket = Some(ticket);
                    }
                    Err(e) => self.failed(&account, &e, out),
                }
            }
            Done::ResetFinished(result) => {
                self.busy = None;
                let Route::Forgot(f) = &mut self.route else {
                    return;
                };
                let account = f.account.clone();
                match result {
                    Ok(()) => {
                        f.done = true;
                        self.locked.remove(&account);
                        self.notice = Some((Text::of("forgot-done"), Tone::Success));
                        out.push(Out::AppEffect(AppEffect::Vibrate {
                            pattern: Haptic::Success,
                        }));
                    }
                    Err(e) => self.failed(&account, &e, out),
                }
            }
            Done::PushRegistered => {}
            Done::ImagesScanned { source, results } => {
                self.busy = None;
                self.images_scanned(source, results, out);
            }
            Done::Removed { account, result } => {
                self.busy = None;
                match result {
                    Ok(()) => {
                        let label = self
                            .account(&account)
                            .map_or_else(String::new, |a| split_label(&a.label).1);
                        let ended: Vec<String> = self
                            .requests
                            .iter()
                            .filter(|(_, r)| r.account == account)
                            .map(|(id, _)| id.clone())
                            .collect();
                        for id in ended {
                            self.requests.remove(&id);
                            out.push(Out::AppEffect(AppEffect::CancelNotification {
                                request: id,
                            }));
                        }
                        self.accounts.retain(|a| a.id != account);
                        self.go(Route::Accounts);
                        self.notice = Some((
                            Text::of("remove-done").with("account", label),
                            Tone::Success,
                        ));
                        out.push(Out::Work(Work::LoadAccounts));
                    }
                    Err(e) => self.failed(&account, &e, out),
                }
            }
        }
    }

    /// A PIN flow failed: the message, the lock, the vibration.
    fn failed(&mut self, account: &RecordId, e: &Error, out: &mut Vec<Out>) {
        if e.kind() == ErrorKind::Locked {
            self.locked.insert(account.clone());
        }
        if let Error::WrongPin {
            attempts_left: Some(0),
        } = e
        {
            self.locked.insert(account.clone());
        }
        self.notice = Some((error_text(e), Tone::Error));
        out.push(Out::AppEffect(AppEffect::Vibrate {
            pattern: Haptic::Failure,
        }));
    }

    fn fetched(&mut self, id: &str, result: Result<ChallengeView, Error>, out: &mut Vec<Out>) {
        match result {
            Ok(view) => {
                let Some(r) = self.requests.get_mut(id) else {
                    return;
                };
                r.deadline = self.now.saturating_add(view.seconds_left());
                r.view = Some(view);
                let pushed_deny = split_key(id)
                    .is_some_and(|(_, challenge)| self.deny_when_fetched.remove(&challenge));
                if self.deny_when_fetched.remove(id) || pushed_deny {
                    // The notification's Deny, now that the request is verified.
                    self.answer(id, Answer::Deny, out);
                    return;
                }
                let pressed = split_key(id)
                    .is_some_and(|(_, challenge)| self.open_when_fetched.remove(&challenge));
                if pressed && self.busy.is_none() {
                    // The pressed notification's request, verified: shown (never over work in
                    // flight, whose result belongs to the screen shown).
                    self.go(Route::Request(id.to_owned()));
                    return;
                }
                let calm = self.busy.is_none()
                    && matches!(self.route, Route::Accounts | Route::Account(_));
                // The only live request opens by itself (EU Login's habit); with several, the
                // person chooses from the list, so a stranger's request cannot jump in front.
                let live = self
                    .requests
                    .values()
                    .filter(|r| r.view.is_some() && r.outcome.is_none())
                    .count();
                if self.foreground && calm && live == 1 {
                    self.go(Route::Request(id.to_owned()));
                    out.push(Out::AppEffect(AppEffect::Vibrate {
                        pattern: Haptic::Attention,
                    }));
                } else if !matches!(&self.route, Route::Request(open) if open == id) {
                    self.notify(id, out);
                }
            }
            Err(e) => {
                self.deny_when_fetched.remove(id);
                if let Some((_, challenge)) = split_key(id) {
                    self.deny_when_fetched.remove(&challenge);
                    self.open_when_fetched.remove(&challenge);
                }
                if e.kind() == ErrorKind::ServerUntrusted {
                    // P4: a request not signed by the pinned key is never shown, never fetched
                    // again, and the person is warned.
                    self.refused.insert(id.to_owned());
                    self.requests.remove(id);
                    self.notice = Some((error_text(&e), Tone::Error));
                    return;
                }
                // Gone (answered, cancelled, expired) or unreadable: forget it; a poll that
                // still lists it fetches it again.
                let open = matches!(&self.route, Route::Request(open) if open == id);
                if open {
                    if let Some(r) = self.requests.get_mut(id) {
                        r.outcome = Some(outcome_of_error(&e));
                    }
                } else {
                    self.requests.remove(id);
                }
            }
        }
    }

    fn notification_actions(&self, out: &mut Vec<Out>) {
        out.push(Out::AppEffect(AppEffect::NotificationActions {
            approve: self.words.say("notify-approve"),
            deny: self.words.say("notify-deny"),
            public_body: self.words.say("notify-body-private"),
        }));
    }

    fn notify(&mut self, id: &str, out: &mut Vec<Out>) {
        let Some(r) = self.requests.get_mut(id) else {
            return;
        };
        let Some(view) = &r.view else { return };
        let words = &self.words;
        let public_body = words.say("notify-body-private");
        let body = if self.device_locked {
            public_body.clone()
        } else {
            words.get(
                &Text::of("notify-body")
                    .with("service", view.challenge.service.clone())
                    .with("browser", view.challenge.browser.clone()),
            )
        };
        r.notified = true;
        out.push(Out::AppEffect(AppEffect::Notify {
            request: id.to_owned(),
            title: words.say("notify-title"),
            body,
            public_body,
            approve: words.say("notify-approve"),
            deny: words.say("notify-deny"),
            channel: words.say("notify-channel"),
        }));
    }

    fn ended_elsewhere(&mut self, id: &str, out: &mut Vec<Out>) {
        let open = matches!(&self.route, Route::Request(open) if open == id);
        if let Some(r) = self.requests.get_mut(id) {
            if r.notified {
                out.push(Out::AppEffect(AppEffect::CancelNotification {
                    request: id.to_owned(),
                }));
                r.notified = false;
            }
            if open && self.busy.is_none() {
                r.pin.clear();
                r.outcome = Some((Text::of("outcome-answered"), Tone::Info));
                return;
            }
        }
        if !open {
            self.requests.remove(id);
        }
    }

    fn answered(&mut self, id: &str, result: Result<AnswerOutcome, Error>, out: &mut Vec<Out>) {
        self.busy = None;
        let Some(r) = self.requests.get_mut(id) else {
            return;
        };
        let account = r.account.clone();
        r.pin.clear();
        if r.notified {
            out.push(Out::AppEffect(AppEffect::CancelNotification {
                request: id.to_owned(),
            }));
            r.notified = false;
        }
        match result {
            Ok(outcome) => {
                r.outcome = Some(match outcome {
                    AnswerOutcome::Approved => (Text::of("outcome-approved"), Tone::Success),
                    AnswerOutcome::Denied => (Text::of("outcome-denied"), Tone::Info),
                    AnswerOutcome::Reported => (Text::of("outcome-reported"), Tone::Warning),
                });
                if outcome == AnswerOutcome::Approved {
                    // A proven PIN unlocked the counter (P2).
                    self.locked.remove(&account);
                }
                out.push(Out::AppEffect(AppEffect::Vibrate {
                    pattern: Haptic::Success,
                }));
            }
            Err(e) => {
                match e.kind() {
                    ErrorKind::Expired | ErrorKind::AlreadyAnswered | ErrorKind::CodeMismatch => {
                        r.outcome = Some(outcome_of_error(&e));
                    }
                    _ => {}
                }
                if r.outcome.is_none() {
                    self.failed(&account, &e, out);
                } else {
                    out.push(Out::AppEffect(AppEffect::Vibrate {
                        pattern: Haptic::Failure,
                    }));
                }
            }
        }
    }

    /// Requests whose time ran out (on the app's clock, from the server's time left) end.
    fn expire(&mut self, out: &mut Vec<Out>) {
        let now = self.now;
        let busy_with: Option<String> = match (&self.busy, &self.route) {
            (Some(_), Route::Request(id)) => Some(id.clone()),
            _ => None,
        };
        for (id, r) in &mut self.requests {
            if r.view.is_some()
                && r.outcome.is_none()
                && now >= r.deadline
                && busy_with.as_deref() != Some(id.as_str())
            {
                r.outcome = Some((Text::of("outcome-expired"), Tone::Info));
                r.pin.clear();
                if r.notified {
                    r.notified = false;
                    out.push(Out::AppEffect(AppEffect::CancelNotification {
                        request: id.clone(),
                    }));
                }
            }
        }
        // Ended requests nobody is looking at leave the lists.
        let open = match &self.route {
            Route::Request(id) => Some(id.clone()),
            _ => None,
        };
        self.requests
            .retain(|id, r| r.outcome.is_none() || open.as_deref() == Some(id.as_str()));
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Approve,
    Deny,
    NotMe,
}

/// What is wrong with a new PIN and its repetition, once both are typed.
fn new_pin_feedback(policy: PinPolicy, new: &Digits, again: &Digits) -> Option<Text> {
    if new.len() < policy.digits {
        return None;
    }
    if policy.check(&Pin::new(new.as_str())).is_err() {
        return Some(Text::of("pin-weak"));
    }
    if again.len() == policy.digits && new.as_str() != again.as_str() {
        return Some(Text::of("pins-differ"));
    }
    if again.len() < policy.digits {
        return None;
    }
    None
}

/// "Example Mail — ana@example.org" → ("Example Mail", "ana@example.org").
pub(crate) fn split_label(label: &str) -> (String, String) {
    match label.split_once(" — ") {
        Some((service, account)) => (service.trim().to_owned(), account.trim().to_owned()),
        None => (label.to_owned(), label.to_owned()),
    }
}

/// The host of an API base URL.
pub(crate) fn host_of(url: &str) -> String {
    let rest = url.strip_prefix("https://").unwrap_or(url);
    rest.split(['/', '?', '#'])
        .next()
        .unwrap_or(rest)
        .to_owned()
}

pub(crate) fn assurance_text(assurance: Assurance) -> Text {
    Text::of(match assurance {
        Assurance::Software => "account-assurance-software",
        Assurance::Hardware => "account-assurance-hardware",
        Assurance::SecureElement => "account-assurance-secure-element",
        _ => "account-assurance-software",
    })
}

fn is_code_gone(e: &Error) -> bool {
    matches!(
        e,
        Error::Server {
            code: ErrorCode::EnrolmentCodeInvalid,
            ..
        }
    )
}

fn outcome_of_error(e: &Error) -> (Text, Tone) {
    match e.kind() {
        ErrorKind::Expired => (Text::of("outcome-expired"), Tone::Info),
        ErrorKind::CodeMismatch => (Text::of("outcome-mismatch"), Tone::Warning),
        ErrorKind::AlreadyAnswered | ErrorKind::NotFound => {
            (Text::of("outcome-answered"), Tone::Info)
        }
        _ => (error_text(e), Tone::Error),
    }
}
