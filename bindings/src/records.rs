//! Records, enums and opaque objects handed to the shells (accounts, sign-in requests, enrolment offers, scan results, settle reports).

use super::*;

/// How to open the library.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Config {
    /// The app's private data directory (account records; software device keys).
    pub data_dir: String,
    /// Extra trust anchors in PEM: a deployment's private CA (the tests' dev CA).
    #[uniffi(default = None)]
    pub extra_ca_pem: Option<String>,
    /// If set, only enrolment links for these hosts are accepted (`*.example.org` allowed).
    #[uniffi(default = None)]
    pub allowed_hosts: Option<Vec<String>>,
}

/// An account on this device.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Account {
    /// The id every call takes.
    pub id: String,
    /// "Service — address".
    pub label: String,
    /// The server's API base URL.
    pub server: String,
    /// False while the server has not confirmed the enrolment (retry with the right PIN).
    pub enrolled: bool,
    /// PIN digits (4 or 6).
    pub pin_digits: u8,
    /// How the device key is held.
    pub assurance: Assurance,
    /// An interrupted PIN change or reset waits for `settle()`.
    pub unsettled: bool,
}

impl From<latchkey_core::Account> for Account {
    fn from(a: latchkey_core::Account) -> Self {
        Self {
            id: a.id.as_str().to_owned(),
            label: a.label,
            server: a.server,
            enrolled: a.state == RecordState::Active,
            pin_digits: a.pin_digits,
            assurance: a.assurance.into(),
            unsettled: a.unsettled,
        }
    }
}

/// A sign-in request, verified against the server key pinned at enrolment. Show service,
/// browser, IP, location and expiry; pass it back to `approve` or `deny`.
///
/// Opaque, like [`EnrolmentOffer`]: the library keeps the server's signature with it and checks
/// it again against the pinned key in `approve` and `deny`, so no shell can make the library
/// spend a PIN attempt on a request the server did not sign.
#[derive(uniffi::Object)]
pub struct Challenge(pub(crate) latchkey_core::ChallengeView);

#[uniffi::export]
impl Challenge {
    /// The account (as in [`Account::id`]).
    pub fn account(&self) -> String {
        self.0.account.as_str().to_owned()
    }
    /// The challenge id.
    pub fn id(&self) -> String {
        self.0.challenge.id.to_string()
    }
    /// The service being signed in to.
    pub fn service(&self) -> String {
        self.0.challenge.service.clone()
    }
    /// Browser and OS of the sign-in.
    pub fn browser(&self) -> String {
        self.0.challenge.browser.clone()
    }
    /// IP address of the sign-in.
    pub fn ip(&self) -> String {
        self.0.challenge.ip.clone()
    }
    /// A coarse location, if the server knows one.
    pub fn location(&self) -> Option<String> {
        self.0.challenge.location.clone()
    }
    /// Unix seconds (server clock).
    pub fn created_at(&self) -> u64 {
        self.0.challenge.created_at
    }
    /// Unix seconds (server clock).
    pub fn expires_at(&self) -> u64 {
        self.0.challenge.expires_at
    }
    /// How many digits the number on the login page has.
    pub fn code_digits(&self) -> u8 {
        self.0.challenge.code_digits
    }
    /// Seconds left when it was fetched, by the server's clock.
    pub fn seconds_left(&self) -> u64 {
        self.0.seconds_left()
    }
}

/// What became of a denied sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum AnswerOutcome {
    /// The sign-in goes ahead.
    Approved,
    /// The sign-in was refused.
    Denied,
    /// Refused and reported: the account's pushes are muted for a while.
    Reported,
}

impl From<wire::AnswerOutcome> for AnswerOutcome {
    fn from(o: wire::AnswerOutcome) -> Self {
        match o {
            wire::AnswerOutcome::Approved => Self::Approved,
            wire::AnswerOutcome::Denied => Self::Denied,
            wire::AnswerOutcome::Reported => Self::Reported,
        }
    }
}

/// What a forgotten-PIN reset needs between its two steps.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ResetTicket {
    /// The operation id.
    pub operation: String,
    /// Where the code was sent (masked addresses).
    pub sent_to: Vec<String>,
    /// Unix seconds.
    pub expires_at: u64,
}

/// What `settle()` did for one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Settled {
    /// Nothing was pending.
    Nothing,
    /// An interrupted PIN change or reset completed: the new PIN works.
    Promoted,
    /// An interrupted PIN change or reset was rolled back: the old PIN works.
    Discarded,
    /// An interrupted enrolment turned out complete.
    Activated,
    /// Undecided (server unreachable); the old PIN works until then.
    Pending,
}

/// One account's line in `settle()`'s report.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SettleReport {
    /// The account.
    pub account: String,
    /// What was done.
    pub outcome: Settled,
}

impl From<(RecordId, latchkey_core::Settled)> for SettleReport {
    fn from((id, s): (RecordId, latchkey_core::Settled)) -> Self {
        use latchkey_core::Settled as S;
        Self {
            account: id.as_str().to_owned(),
            outcome: match s {
                S::Nothing => Settled::Nothing,
                S::Promoted => Settled::Promoted,
                S::Discarded => Settled::Discarded,
                S::Activated => Settled::Activated,
                S::Pending => Settled::Pending,
            },
        }
    }
}

/// A scanned or typed enrolment link. The enrolment code inside never leaves the library.
#[derive(uniffi::Object)]
pub struct EnrolmentOffer(pub(crate) EnrolmentLink);

#[uniffi::export]
impl EnrolmentOffer {
    /// The account label ("Service — address").
    pub fn label(&self) -> String {
        self.0.label.clone()
    }
    /// The server's host: show it ("Add an account on login.example.org?").
    pub fn host(&self) -> String {
        self.0.host().to_owned()
    }
    /// PIN digits (4 or 6).
    pub fn pin_digits(&self) -> u8 {
        self.0.pin_digits
    }
    /// True when the PIN is chosen in the app (ask twice); false when it was set on the web
    /// page (ask once).
    pub fn pin_chosen_in_app(&self) -> bool {
        self.0.pin_source == PinSource::App
    }
}

/// What one camera frame or image held.
#[derive(uniffi::Enum)]
pub enum ScanResult {
    /// No readable QR code yet: keep the camera running.
    NoCode,
    /// A Latchkey enrolment code.
    Offer {
        /// The offer to confirm and enrol with.
        offer: Arc<EnrolmentOffer>,
    },
    /// A QR code that is not a Latchkey code; show `reason`.
    NotLatchkey {
        /// Why (an authenticator code of another app, a Wi-Fi code, plain HTTP …).
        reason: String,
    },
}

impl From<latchkey_core::ScanResult> for ScanResult {
    fn from(r: latchkey_core::ScanResult) -> Self {
        match r {
            latchkey_core::ScanResult::NoCode => Self::NoCode,
            latchkey_core::ScanResult::Link(link) => Self::Offer {
                offer: Arc::new(EnrolmentOffer(*link)),
            },
            latchkey_core::ScanResult::NotLatchkey(e) => Self::NotLatchkey {
                reason: e.to_string(),
            },
        }
    }
}
