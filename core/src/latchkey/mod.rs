//! The `Latchkey` handle: every flow a person runs, once, for every shell.
//!
//! It owns the data directory ([`Vault`]), the [`KeyStore`], the [`DeviceSigner`] and the
//! [`Platform`], and talks HTTPS to each account's server. Each flow is one call.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use latchkey_protocol::link::{EnrolmentLink, LinkPolicy};
use latchkey_protocol::oprf;
use latchkey_protocol::pin::PinPolicy;
use latchkey_protocol::secret::{OneTimeCode, Password, Pin};
use latchkey_protocol::signed::{self, Decision};
use latchkey_protocol::types::{Assurance, ChallengeId, OperationId, RequestId, Signature};
use latchkey_protocol::wire::{
    self, Answer, AnswerOutcome, Challenge, DeviceRequest, EnrolBeginRequest, EnrolBeginResponse,
    EnrolFinish, ErrorCode, Evaluate, EvaluatePurpose, FetchChallenge, ListChallenges,
    OperationState, OperationStatus, PinChangeCommit, PinChangeStart, PinResetCommit,
    PinResetStart, PinResetVerify, PinSource, RemoveDevice, RequestBody, RequestHeader,
    SignedChallenge,
};
use rand_core::OsRng;

use crate::client::Client;
use crate::error::{Error, Result};
#[cfg(feature = "test-support")]
use crate::fsio::FaultPlan;
use crate::keystore::KeyStore;
use crate::platform::Platform;
use crate::signer::{DeviceSigner, KeyAlias, SoftwareSigner};
use crate::vault::approval::ApprovalKey;
use crate::vault::{
    AccountIdentity, AccountRecord, DeviceKeyRef, RecordId, RecordState, RekeyKind, Slot, Staged,
    Vault,
};

mod approve;
mod enrol;
mod pin;
mod push;
pub use push::challenge_in_push;
mod remove;
mod settle;

/// How to open a [`Latchkey`].
pub struct Options {
    /// The data directory (records, software device keys).
    pub data_dir: PathBuf,
    /// Where wrapping keys live.
    pub keystore: Arc<dyn KeyStore>,
    /// The device signer; `None` uses the software signer in `DATA/device-keys`.
    pub signer: Option<Arc<dyn DeviceSigner>>,
    /// The shell's view of the device.
    pub platform: Arc<dyn Platform>,
    /// Extra trust anchors (PEM): a deployment's private CA, the tests' CA.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// The vendor's link policy (host allow-list).
    pub link_policy: LinkPolicy,
    /// Crash simulation (tests only).
    #[cfg(feature = "test-support")]
    pub faults: Option<Arc<FaultPlan>>,
}

impl Options {
    /// Options with the software signer, no extra CA and no host allow-list.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        keystore: Arc<dyn KeyStore>,
        platform: Arc<dyn Platform>,
    ) -> Self {
        Self {
            data_dir: data_dir.into(),
            keystore,
            signer: None,
            platform,
            extra_ca_pem: None,
            link_policy: LinkPolicy::default(),
            #[cfg(feature = "test-support")]
            faults: None,
        }
    }
}

/// An account as the shells show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The record id (what every call takes).
    pub id: RecordId,
    /// "Service — address".
    pub label: String,
    /// The server's API base.
    pub server: String,
    /// Enrolling or active.
    pub state: RecordState,
    /// PIN digits.
    pub pin_digits: u8,
    /// How the device key is held.
    pub assurance: Assurance,
    /// A PIN change or reset is waiting to be settled.
    pub unsettled: bool,
}

/// A sign-in request, verified against the server key pinned at enrolment.
///
/// It carries the server's signature: [`Latchkey::approve`] and [`Latchkey::deny`] verify it
/// again against the account's pinned key before anything is sent, so a view that was changed
/// (or made up) on its way through a shell never spends a PIN attempt (P4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeView {
    /// The account it is for.
    pub account: RecordId,
    /// What the server signed (service, browser, IP, location, times, code digits).
    pub challenge: Challenge,
    /// The server's challenge-key signature over [`Challenge::signed_bytes`].
    pub signature: Signature,
    /// The server's clock when the request was fetched (unsigned; only for the time left).
    pub server_time: u64,
}

impl ChallengeView {
    /// Seconds the request had left when it was fetched, by the server's clock (so a device
    /// whose clock is off still shows the right time). For display only: the server judges
    /// expiry. Never more than the request's lifetime; a server that sent no time (0) or a time
    /// before the request shows the whole lifetime.
    #[must_use]
    pub fn seconds_left(&self) -> u64 {
        let c = &self.challenge;
        let lifetime = c.expires_at.saturating_sub(c.created_at);
        // A time before the request (or none, 0) leaves more than the lifetime: clamped.
        c.expires_at.saturating_sub(self.server_time).min(lifetime)
    }

    /// Whether the server key pinned in `record` signed this challenge for `record`'s
    /// account and device.
    pub(super) fn is_authentic(&self, record: &AccountRecord) -> bool {
        let c = &self.challenge;
        self.account == record.id
            && c.account == record.identity.account
            && c.device == record.identity.device
            && record
                .identity
                .server_key
                .verify(&c.signed_bytes(), &self.signature)
    }
}

fn untrusted_challenge() -> Error {
    Error::ServerUntrusted(
        "the sign-in request is not signed by the key this device trusted at enrolment".into(),
    )
}

/// What a forgotten-PIN reset needs between its two steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResetTicket {
    /// The operation.
    pub operation: OperationId,
    /// Where the code went (masked).
    pub sent_to: Vec<String>,
    /// Unix seconds.
    pub expires_at: u64,
}

/// What [`Latchkey::settle`] did for one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Nothing was pending.
    Nothing,
    /// An interrupted PIN change or reset was completed: the new PIN works.
    Promoted,
    /// An interrupted PIN change or reset was rolled back: the old PIN still works.
    Discarded,
    /// An interrupted enrolment turned out complete.
    Activated,
    /// Still undecided (server unreachable); the old PIN works until then.
    Pending,
}

/// The handle.
pub struct Latchkey {
    vault: Vault,
    signer: Arc<dyn DeviceSigner>,
    platform: Arc<dyn Platform>,
    client: Client,
    link_policy: LinkPolicy,
    #[cfg(feature = "test-support")]
    faults: Option<Arc<FaultPlan>>,
}

const LONG_POLL_SLACK: Duration = Duration::from_secs(15);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Latchkey {
    /// Opens the data directory.
    ///
    /// # Errors
    /// [`Error::Storage`] or an invalid extra CA.
    pub fn open(options: Options) -> Result<Self> {
        #[cfg(feature = "test-support")]
        let vault = match &options.faults {
            Some(plan) => {
                Vault::open_with_faults(&options.data_dir, options.keystore.clone(), plan.clone())?
            }
            None => Vault::open(&options.data_dir, options.keystore.clone())?,
        };
        #[cfg(not(feature = "test-support"))]
        let vault = Vault::open(&options.data_dir, options.keystore.clone())?;
        let signer = match options.signer {
            Some(signer) => signer,
            None => Arc::new(SoftwareSigner::new(
                options.data_dir.join("device-keys"),
                options.keystore.clone(),
            )),
        };
        Ok(Self {
            vault,
            signer,
            platform: options.platform,
            client: Client::new(options.extra_ca_pem.as_deref())?,
            link_policy: options.link_policy,
            #[cfg(feature = "test-support")]
            faults: options.faults,
        })
    }

    /// The vendor's link policy (for scanning).
    pub fn link_policy(&self) -> &LinkPolicy {
        &self.link_policy
    }

    /// A crash point for the P10 tests (no-op otherwise).
    pub(super) fn step(&self, _what: &'static str) -> Result<()> {
        #[cfg(feature = "test-support")]
        if let Some(plan) = &self.faults {
            plan.step(_what)
                .map_err(|e| Error::Network(e.to_string()))?;
        }
        Ok(())
    }

    /// The accounts on this device, in a stable order.
    ///
    /// # Errors
    /// [`Error::Storage`]; a damaged record is reported, not skipped.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        self.vault
            .list()?
            .iter()
            .map(|id| self.vault.load(id).map(|r| account_view(&r)))
            .collect()
    }

    pub(super) fn record(&self, id: &RecordId) -> Result<AccountRecord> {
        match self.vault.load(id) {
            Err(Error::NotFound(_)) => Err(Error::UnknownAccount(id.as_str().to_owned())),
            other => other,
        }
    }

    pub(super) async fn send<B: RequestBody>(
        &self,
        record: &AccountRecord,
        body: &B,
        timeout: Duration,
    ) -> Result<B::Response> {
        let header = RequestHeader::new(
            record.identity.account,
            record.identity.device,
            RequestId::random(&mut OsRng),
            now(),
        );
        let signature = self.signer.sign(
            &record.device_key.alias,
            &DeviceRequest::signed_bytes(&header, body),
        )?;
        let request = DeviceRequest {
            header,
            body,
            signature,
        };
        self.client
            .post(&record.identity.server, B::PATH, &request, timeout)
            .await
    }
}

fn account_view(record: &AccountRecord) -> Account {
    Account {
        id: record.id.clone(),
        label: record.identity.label.clone(),
        server: record.identity.server.clone(),
        state: record.state,
        pin_digits: record.identity.pin_digits,
        assurance: record.device_key.assurance,
        unsettled: record.staged.is_some(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

    use latchkey_protocol::secret::SigningSecret;
    use latchkey_protocol::types::{AccountId, DeviceId};

    use super::*;

    fn view(created_at: u64, expires_at: u64, server_time: u64) -> ChallengeView {
        let challenge = Challenge {
            v: latchkey_protocol::PROTOCOL_VERSION,
            id: ChallengeId::random(&mut OsRng),
            account: AccountId::random(&mut OsRng),
            device: DeviceId::random(&mut OsRng),
            service: "Example".into(),
            browser: "Firefox on Linux".into(),
            ip: "192.0.2.1".into(),
            location: None,
            created_at,
            expires_at,
            code_digits: 2,
        };
        let signature = SigningSecret::generate(&mut OsRng).sign(&challenge.signed_bytes());
        ChallengeView {
            account: RecordId::parse("ac-AAAAAAAAAAAAAAAAAAAAAA").expect("record id"),
            challenge,
            signature,
            server_time,
        }
    }

    /// The time left is by the server's clock, never more than the request's lifetime, and a
    /// missing or earlier server time shows the whole lifetime (display only).
    #[test]
    fn seconds_left_is_by_the_server_clock_and_clamped_to_the_lifetime() {
        assert_eq!(view(1_000, 1_120, 1_030).seconds_left(), 90);
        assert_eq!(view(1_000, 1_120, 1_000).seconds_left(), 120);
        assert_eq!(view(1_000, 1_120, 1_119).seconds_left(), 1);
        assert_eq!(view(1_000, 1_120, 1_120).seconds_left(), 0);
        assert_eq!(view(1_000, 1_120, 5_000).seconds_left(), 0, "expired");
        assert_eq!(view(1_000, 1_120, 0).seconds_left(), 120, "no server time");
        assert_eq!(
            view(1_000, 1_120, 999).seconds_left(),
            120,
            "before the request"
        );
    }
}
