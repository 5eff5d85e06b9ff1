//! `latchkey-ffi`: the one API the Android, iOS and Windows shells use, generated for Kotlin,
//! Swift and Python by UniFFI.
//!
//! Conversions only: every flow is a call into [`latchkey_core::Latchkey`]. The shells
//! implement three foreign traits — [`KeyStore`] (Android Keystore, iOS Keychain, Windows
//! Credential Locker), [`DeviceSigner`] (StrongBox, Secure Enclave, TPM) and [`Platform`] —
//! and get back records, enums and one error type, [`LatchkeyError`] (`LatchkeyException` in
//! Kotlin), whose variants carry the sentence to show.
//!
//! Secrets: PINs, passwords and codes arrive as foreign strings (which the foreign runtime
//! cannot wipe); they are moved into zeroizing core types at once. The enrolment code never
//! leaves Rust: a scanned link is an opaque [`EnrolmentOffer`].

use std::path::PathBuf;
use std::sync::Arc;

use latchkey_core::keystore::{self as core_ks, KeyId, KeyStoreError, WrappingKey};
use latchkey_core::signer::{self as core_signer, KeyAlias, SignerError};
use latchkey_core::vault::{RecordId, RecordState};
use latchkey_core::{Error, ErrorKind};
use latchkey_protocol::link::{EnrolmentLink, LinkPolicy};
use latchkey_protocol::secret::{OneTimeCode, Password, Pin};
use latchkey_protocol::types::{self as ptypes, ChallengeId, OperationId};
use latchkey_protocol::wire::{self, PinSource};
use zeroize::Zeroize as _;

uniffi::setup_scaffolding!("latchkey");

// ---------------------------------------------------------------------------------------------
// Errors

/// Everything a flow can fail with. Each variant carries `reason`, a sentence for the person
/// that says what to do next; it never contains secret material.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum LatchkeyError {
    /// The PIN was wrong; `attempts_left` before the device locks, when the server said.
    #[error("{reason}")]
    WrongPin {
        /// Attempts left (0 means this was the last one).
        attempts_left: Option<u8>,
        /// What to show.
        reason: String,
    },
    /// Too many wrong PINs: locked until "Forgot PIN".
    #[error("{reason}")]
    Locked {
        /// What to show.
        reason: String,
    },
    /// The PIN breaks the policy (too short, a sequence, a repeated digit …).
    #[error("{reason}")]
    PinPolicy {
        /// What to show.
        reason: String,
    },
    /// The sign-in or operation expired.
    #[error("{reason}")]
    Expired {
        /// What to show.
        reason: String,
    },
    /// Another answer already won.
    #[error("{reason}")]
    AlreadyAnswered {
        /// What to show.
        reason: String,
    },
    /// The typed number does not match the login page.
    #[error("{reason}")]
    CodeMismatch {
        /// What to show.
        reason: String,
    },
    /// The scanned or typed code is not a Latchkey enrolment code, and why.
    #[error("{reason}")]
    NotLatchkeyQr {
        /// What to show.
        reason: String,
    },
    /// The server's certificate or signature is not trusted: approve nothing.
    #[error("{reason}")]
    ServerUntrusted {
        /// What to show.
        reason: String,
    },
    /// The server could not be reached.
    #[error("{reason}")]
    Network {
        /// What to show.
        reason: String,
    },
    /// The server refused the request.
    #[error("{reason}")]
    Rejected {
        /// What to show.
        reason: String,
    },
    /// The device has no screen lock.
    #[error("{reason}")]
    ScreenLockMissing {
        /// What to show.
        reason: String,
    },
    /// The data directory could not be read or written.
    #[error("{reason}")]
    Storage {
        /// What to show.
        reason: String,
    },
    /// A stored file is damaged or from a newer version; it was left untouched.
    #[error("{reason}")]
    Corrupt {
        /// What to show.
        reason: String,
    },
    /// The OS keystore is unreachable or lost a key.
    #[error("{reason}")]
    KeyStore {
        /// What to show.
        reason: String,
    },
    /// The device signer failed.
    #[error("{reason}")]
    Signer {
        /// What to show.
        reason: String,
    },
    /// No such account or operation.
    #[error("{reason}")]
    NotFound {
        /// What to show.
        reason: String,
    },
    /// An argument was invalid.
    #[error("{reason}")]
    Invalid {
        /// What to show.
        reason: String,
    },
}

impl From<Error> for LatchkeyError {
    fn from(e: Error) -> Self {
        let attempts_left = match &e {
            Error::WrongPin { attempts_left } | Error::Server { attempts_left, .. } => {
                *attempts_left
            }
            _ => None,
        };
        let reason = e.to_string();
        match e.kind() {
            ErrorKind::WrongPin => Self::WrongPin {
                attempts_left,
                reason,
            },
            ErrorKind::Locked => Self::Locked { reason },
            ErrorKind::PinPolicy => Self::PinPolicy { reason },
            ErrorKind::Expired => Self::Expired { reason },
            ErrorKind::AlreadyAnswered => Self::AlreadyAnswered { reason },
            ErrorKind::CodeMismatch => Self::CodeMismatch { reason },
            ErrorKind::NotLatchkeyQr => Self::NotLatchkeyQr { reason },
            ErrorKind::ServerUntrusted => Self::ServerUntrusted { reason },
            ErrorKind::Network => Self::Network { reason },
            ErrorKind::ScreenLockMissing => Self::ScreenLockMissing { reason },
            ErrorKind::Storage => Self::Storage { reason },
            ErrorKind::Corrupt => Self::Corrupt { reason },
            ErrorKind::KeyStore => Self::KeyStore { reason },
            ErrorKind::Signer => Self::Signer { reason },
            ErrorKind::NotFound => Self::NotFound { reason },
            ErrorKind::Invalid => Self::Invalid { reason },
            // `Rejected` and any kind a newer core adds.
            _ => Self::Rejected { reason },
        }
    }
}

fn invalid(what: &str) -> LatchkeyError {
    LatchkeyError::Invalid {
        reason: format!("{what} is not valid; pass the value the library returned"),
    }
}

/// What a shell's [`KeyStore`] or [`DeviceSigner`] reports when it fails.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ShellError {
    /// The store cannot be used right now (device locked, user not authenticated).
    #[error("{reason}")]
    Unavailable {
        /// What the platform said (no secrets).
        reason: String,
    },
    /// There is no key under this name.
    #[error("{reason}")]
    Missing {
        /// What the platform said.
        reason: String,
    },
    /// Anything else.
    #[error("{reason}")]
    Failed {
        /// What the platform said.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ShellError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed { reason: e.reason }
    }
}

// ---------------------------------------------------------------------------------------------
// Foreign traits

/// Stores 32-byte wrapping keys by id (Android Keystore-wrapped preferences, iOS Keychain with
/// `ThisDeviceOnly`, Windows Credential Locker with local persistence).
#[uniffi::export(with_foreign)]
pub trait KeyStore: Send + Sync {
    /// Stores (or replaces) `key` under `id`.
    fn put(&self, id: String, key: Vec<u8>) -> Result<(), ShellError>;
    /// The key under `id`, or `None`.
    fn get(&self, id: String) -> Result<Option<Vec<u8>>, ShellError>;
    /// Deletes the key; deleting a missing key succeeds.
    fn delete(&self, id: String) -> Result<(), ShellError>;
}

/// Non-exportable P-256 device keys (StrongBox, Secure Enclave, TPM).
#[uniffi::export(with_foreign)]
pub trait DeviceSigner: Send + Sync {
    /// How this signer holds keys (reported to the server at enrolment).
    fn assurance(&self) -> Assurance;
    /// Creates a key under `alias`; returns its public key as SEC1 (33 or 65 bytes) or
    /// X.509 SubjectPublicKeyInfo DER (Java's `PublicKey.getEncoded()`).
    fn generate(&self, alias: String) -> Result<Vec<u8>, ShellError>;
    /// ECDSA P-256 with SHA-256 over `message` (Java's `SHA256withECDSA`); DER or raw r‖s.
    fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, ShellError>;
    /// Deletes the key; deleting a missing key succeeds.
    fn delete(&self, alias: String) -> Result<(), ShellError>;
}

/// What the shell knows about the device.
#[uniffi::export(with_foreign)]
pub trait Platform: Send + Sync {
    /// Whether a screen lock (PIN, pattern, password, biometrics) is set.
    fn has_screen_lock(&self) -> bool;
    /// The model, shown on the account's devices page ("Pixel 8").
    fn device_model(&self) -> String;
}

/// How a device key is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Assurance {
    /// In software, sealed at rest under a keystore-held key.
    Software,
    /// Non-exportable, in a trusted execution environment (Android Keystore TEE, TPM).
    Hardware,
    /// Non-exportable, in a discrete secure element (StrongBox, Secure Enclave).
    SecureElement,
}

impl From<ptypes::Assurance> for Assurance {
    fn from(a: ptypes::Assurance) -> Self {
        match a {
            ptypes::Assurance::Hardware => Self::Hardware,
            ptypes::Assurance::SecureElement => Self::SecureElement,
            // Software, and anything newer: claim no more than software.
            _ => Self::Software,
        }
    }
}

impl From<Assurance> for ptypes::Assurance {
    fn from(a: Assurance) -> Self {
        match a {
            Assurance::Software => Self::Software,
            Assurance::Hardware => Self::Hardware,
            Assurance::SecureElement => Self::SecureElement,
        }
    }
}

struct ForeignKeyStore(Arc<dyn KeyStore>);

fn keystore_error(e: ShellError) -> KeyStoreError {
    match e {
        ShellError::Unavailable { reason } => KeyStoreError::Unavailable {
            detail: reason,
            advice: "unlock the device and try again".into(),
        },
        ShellError::Missing { reason } | ShellError::Failed { reason } => {
            KeyStoreError::Failure(reason)
        }
    }
}

impl core_ks::KeyStore for ForeignKeyStore {
    fn put(&self, id: &KeyId, key: &WrappingKey) -> Result<(), KeyStoreError> {
        self.0
            // EXPOSE: the shell's keystore (Android Keystore, Keychain) stores the wrapping key.
            .put(id.as_str().to_owned(), key.expose_secret().to_vec())
            .map_err(keystore_error)
    }

    fn get(&self, id: &KeyId) -> Result<Option<WrappingKey>, KeyStoreError> {
        match self.0.get(id.as_str().to_owned()) {
            Ok(Some(mut bytes)) => {
                let key = WrappingKey::from_bytes(&bytes);
                bytes.zeroize();
                key.map(Some).ok_or_else(|| {
                    KeyStoreError::Failure("the keystore returned a key of the wrong length".into())
                })
            }
            Ok(None) | Err(ShellError::Missing { .. }) => Ok(None),
            Err(e) => Err(keystore_error(e)),
        }
    }

    fn delete(&self, id: &KeyId) -> Result<(), KeyStoreError> {
        match self.0.delete(id.as_str().to_owned()) {
            Ok(()) | Err(ShellError::Missing { .. }) => Ok(()),
            Err(e) => Err(keystore_error(e)),
        }
    }
}

struct ForeignSigner(Arc<dyn DeviceSigner>);

fn signer_error(alias: &KeyAlias, e: ShellError) -> SignerError {
    match e {
        ShellError::Missing { .. } => SignerError::Missing(alias.as_str().to_owned()),
        ShellError::Unavailable { reason } | ShellError::Failed { reason } => {
            SignerError::Platform(reason)
        }
    }
}

fn public_key_from_shell(bytes: &[u8]) -> Option<ptypes::PublicKey> {
    use p256::pkcs8::DecodePublicKey as _;
    ptypes::PublicKey::from_sec1(bytes).or_else(|| {
        let key = p256::PublicKey::from_public_key_der(bytes).ok()?;
        ptypes::PublicKey::from_sec1(
            &p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key, true).to_bytes(),
        )
    })
}

fn signature_from_shell(bytes: &[u8]) -> Option<ptypes::Signature> {
    let sig = if bytes.len() == 64 {
        p256::ecdsa::Signature::from_slice(bytes).ok()?
    } else {
        p256::ecdsa::Signature::from_der(bytes).ok()?
    };
    // Java and most platform signers do not normalise s; the low-s form is equally valid.
    Some(ptypes::Signature::from_ecdsa(
        &sig.normalize_s().unwrap_or(sig),
    ))
}

impl core_signer::DeviceSigner for ForeignSigner {
    fn assurance(&self) -> ptypes::Assurance {
        self.0.assurance().into()
    }

    fn generate(&self, alias: &KeyAlias) -> Result<ptypes::PublicKey, SignerError> {
        let bytes = self
            .0
            .generate(alias.as_str().to_owned())
            .map_err(|e| signer_error(alias, e))?;
        public_key_from_shell(&bytes).ok_or_else(|| {
            SignerError::Platform("the device signer returned an invalid P-256 public key".into())
        })
    }

    fn sign(&self, alias: &KeyAlias, message: &[u8]) -> Result<ptypes::Signature, SignerError> {
        let bytes = self
            .0
            .sign(alias.as_str().to_owned(), message.to_vec())
            .map_err(|e| signer_error(alias, e))?;
        signature_from_shell(&bytes).ok_or_else(|| {
            SignerError::Platform("the device signer returned an invalid ECDSA signature".into())
        })
    }

    fn delete(&self, alias: &KeyAlias) -> Result<(), SignerError> {
        match self.0.delete(alias.as_str().to_owned()) {
            Ok(()) | Err(ShellError::Missing { .. }) => Ok(()),
            Err(e) => Err(signer_error(alias, e)),
        }
    }
}

struct ForeignPlatform(Arc<dyn Platform>);

impl latchkey_core::Platform for ForeignPlatform {
    fn has_screen_lock(&self) -> bool {
        self.0.has_screen_lock()
    }
    fn device_model(&self) -> String {
        self.0.device_model()
    }
}

// ---------------------------------------------------------------------------------------------
// Records

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
pub struct Challenge(latchkey_core::ChallengeView);

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
pub struct EnrolmentOffer(EnrolmentLink);

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

fn record_id(text: &str) -> Result<RecordId, LatchkeyError> {
    RecordId::parse(text).ok_or_else(|| invalid("the account id"))
}

fn pin(mut text: String) -> Pin {
    let pin = Pin::new(text.as_str());
    text.zeroize();
    pin
}

// ---------------------------------------------------------------------------------------------
// The handle

/// The library handle: owns the data directory and runs every flow. Open one per app.
#[derive(uniffi::Object)]
pub struct Latchkey {
    inner: latchkey_core::Latchkey,
}

#[uniffi::export(async_runtime = "tokio")]
impl Latchkey {
    /// Opens the data directory. `signer` is the platform's hardware signer; without one the
    /// library keeps device keys in software, sealed under `keystore` keys.
    #[uniffi::constructor]
    pub fn new(
        config: Config,
        keystore: Arc<dyn KeyStore>,
        signer: Option<Arc<dyn DeviceSigner>>,
        platform: Arc<dyn Platform>,
    ) -> Result<Arc<Self>, LatchkeyError> {
        let mut options = latchkey_core::Options::new(
            PathBuf::from(config.data_dir),
            Arc::new(ForeignKeyStore(keystore)),
            Arc::new(ForeignPlatform(platform)),
        );
        options.signer =
            signer.map(|s| Arc::new(ForeignSigner(s)) as Arc<dyn core_signer::DeviceSigner>);
        options.extra_ca_pem = config.extra_ca_pem.map(String::into_bytes);
        options.link_policy = LinkPolicy {
            allowed_hosts: config.allowed_hosts,
        };
        Ok(Arc::new(Self {
            inner: latchkey_core::Latchkey::open(options)?,
        }))
    }

    /// Scans one camera frame: its luma (Y) plane, `width` × `height`, rows `row_stride`
    /// bytes apart (Android `ImageProxy.planes[0]`, iOS `CVPixelBuffer` plane 0).
    pub fn scan_frame(
        &self,
        luma: Vec<u8>,
        width: u32,
        height: u32,
        row_stride: u32,
    ) -> Result<ScanResult, LatchkeyError> {
        Ok(latchkey_core::scan_frame(
            &luma,
            width as usize,
            height as usize,
            row_stride as usize,
            self.inner.link_policy(),
        )?
        .into())
    }

    /// Parses a link typed or pasted by hand (when the camera cannot be used).
    pub fn parse_link(&self, text: String) -> Result<Arc<EnrolmentOffer>, LatchkeyError> {
        latchkey_protocol::link::parse_with(&text, self.inner.link_policy())
            .map(|link| Arc::new(EnrolmentOffer(link)))
            .map_err(|e| Error::from(e).into())
    }

    /// The accounts on this device.
    pub fn accounts(&self) -> Result<Vec<Account>, LatchkeyError> {
        Ok(self
            .inner
            .accounts()?
            .into_iter()
            .map(Account::from)
            .collect())
    }

    /// Enrols this device. `confirm_pin` repeats the PIN when the offer says it is chosen in
    /// the app. A `WrongPin` keeps the account so `finish_enrolment` can retry.
    pub async fn enrol(
        &self,
        offer: Arc<EnrolmentOffer>,
        pin_text: String,
        confirm_pin: Option<String>,
    ) -> Result<Account, LatchkeyError> {
        let confirm = confirm_pin.map(pin);
        Ok(self
            .inner
            .enrol(&offer.0, &pin(pin_text), confirm.as_ref())
            .await?
            .into())
    }

    /// Retries an enrolment refused for a PIN different from the one set on the web page.
    pub async fn finish_enrolment(
        &self,
        account: String,
        pin_text: String,
    ) -> Result<Account, LatchkeyError> {
        Ok(self
            .inner
            .finish_enrolment(&record_id(&account)?, &pin(pin_text))
            .await?
            .into())
    }

    /// Ids of pending sign-ins, waiting up to `wait_seconds` for one (long-poll).
    pub async fn pending(
        &self,
        account: String,
        wait_seconds: u16,
    ) -> Result<Vec<String>, LatchkeyError> {
        Ok(self
            .inner
            .pending(&record_id(&account)?, wait_seconds)
            .await?
            .iter()
            .map(ToString::to_string)
            .collect())
    }

    /// Waits up to `wait_seconds` for the next sign-in and fetches it.
    pub async fn wait_for_challenge(
        &self,
        account: String,
        wait_seconds: u16,
    ) -> Result<Option<Arc<Challenge>>, LatchkeyError> {
        Ok(self
            .inner
            .wait_for_challenge(&record_id(&account)?, wait_seconds)
            .await?
            .map(|view| Arc::new(Challenge(view))))
    }

    /// The live sign-in requests of an account, newest first, each verified.
    pub async fn requests(&self, account: String) -> Result<Vec<Arc<Challenge>>, LatchkeyError> {
        Ok(self
            .inner
            .requests(&record_id(&account)?)
            .await?
            .into_iter()
            .map(|view| Arc::new(Challenge(view)))
            .collect())
    }

    /// Fetches the sign-in a push notification named, verified against the pinned key.
    pub async fn challenge(
        &self,
        account: String,
        challenge_id: String,
    ) -> Result<Arc<Challenge>, LatchkeyError> {
        let id = ChallengeId::parse(&challenge_id).ok_or_else(|| invalid("the challenge id"))?;
        Ok(Arc::new(Challenge(
            self.inner.challenge(&record_id(&account)?, &id).await?,
        )))
    }

    /// Approves with the number shown on the login page and the PIN. The request's server
    /// signature is checked again first (`ServerUntrusted` if it does not hold).
    pub async fn approve(
        &self,
        challenge: Arc<Challenge>,
        typed_code: String,
        pin_text: String,
    ) -> Result<(), LatchkeyError> {
        Ok(self
            .inner
            .approve(&challenge.0, &typed_code, &pin(pin_text))
            .await?)
    }

    /// Denies a sign-in (no PIN); `not_me` reports it as "this wasn't me".
    pub async fn deny(
        &self,
        challenge: Arc<Challenge>,
        not_me: bool,
    ) -> Result<AnswerOutcome, LatchkeyError> {
        Ok(self.inner.deny(&challenge.0, not_me).await?.into())
    }

    /// Changes the PIN (both PINs are checked; the old one is counted like an approval).
    pub async fn change_pin(
        &self,
        account: String,
        old_pin: String,
        new_pin: String,
    ) -> Result<(), LatchkeyError> {
        Ok(self
            .inner
            .change_pin(&record_id(&account)?, &pin(old_pin), &pin(new_pin))
            .await?)
    }

    /// Forgotten PIN, step 1: the account password; a one-time code is sent by e-mail.
    pub async fn forgot_pin_start(
        &self,
        account: String,
        mut password: String,
    ) -> Result<ResetTicket, LatchkeyError> {
        let secret = Password::new(password.as_str());
        password.zeroize();
        let t = self
            .inner
            .forgot_pin_start(&record_id(&account)?, &secret)
            .await?;
        Ok(ResetTicket {
            operation: t.operation.to_string(),
            sent_to: t.sent_to,
            expires_at: t.expires_at,
        })
    }

    /// Forgotten PIN, step 2: the code from the e-mail and the new PIN. Unlocks the device.
    pub async fn forgot_pin_finish(
        &self,
        account: String,
        ticket: ResetTicket,
        mut code: String,
        new_pin: String,
    ) -> Result<(), LatchkeyError> {
        let ticket = latchkey_core::ResetTicket {
            operation: OperationId::parse(&ticket.operation)
                .ok_or_else(|| invalid("the reset ticket"))?,
            sent_to: ticket.sent_to,
            expires_at: ticket.expires_at,
        };
        let secret = OneTimeCode::new(code.trim());
        code.zeroize();
        Ok(self
            .inner
            .forgot_pin_finish(&record_id(&account)?, &ticket, &secret, &pin(new_pin))
            .await?)
    }

    /// Removes the account from the server and this device; needs the PIN (a wrong one is
    /// counted like an approval). Someone who forgot the PIN uses "Forgot PIN" first, or
    /// removes the device on the account's web page (then any PIN finishes the removal here).
    pub async fn remove(&self, account: String, pin_text: String) -> Result<(), LatchkeyError> {
        Ok(self
            .inner
            .remove(&record_id(&account)?, &pin(pin_text))
            .await?)
    }

    /// Finishes or rolls back whatever a crash interrupted; call at start-up.
    pub async fn settle(&self) -> Result<Vec<SettleReport>, LatchkeyError> {
        Ok(self
            .inner
            .settle()
            .await?
            .into_iter()
            .map(SettleReport::from)
            .collect())
    }
}
