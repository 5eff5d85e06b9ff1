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
    /// whose clock is off still shows the right time).
    #[must_use]
    pub fn seconds_left(&self) -> u64 {
        self.challenge.expires_at.saturating_sub(self.server_time)
    }

    /// Whether the server key pinned in `record` signed this challenge for `record`'s
    /// account and device.
    fn is_authentic(&self, record: &AccountRecord) -> bool {
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
    fn step(&self, _what: &'static str) -> Result<()> {
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

    fn record(&self, id: &RecordId) -> Result<AccountRecord> {
        match self.vault.load(id) {
            Err(Error::NotFound(_)) => Err(Error::UnknownAccount(id.as_str().to_owned())),
            other => other,
        }
    }

    async fn send<B: RequestBody>(
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

    // -----------------------------------------------------------------------------------------
    // Enrolment

    /// Enrols this device with the account in `link`, protected by `pin`.
    ///
    /// With a PIN chosen in the app (`p=app`), `confirm` must repeat it. The PIN policy and
    /// the screen lock are checked before any network use.
    ///
    /// # Errors
    /// [`Error::ScreenLockMissing`], [`Error::PinPolicy`], [`Error::WrongPin`] (the PIN is not
    /// the one set on the web page; the account is kept so [`Latchkey::finish_enrolment`] can
    /// retry), server and network errors.
    pub async fn enrol(
        &self,
        link: &EnrolmentLink,
        pin: &Pin,
        confirm: Option<&Pin>,
    ) -> Result<Account> {
        if !self.platform.has_screen_lock() {
            return Err(Error::ScreenLockMissing);
        }
        PinPolicy {
            digits: link.pin_digits,
        }
        .check(pin)?;
        if link.pin_source == PinSource::App && !confirm.is_some_and(|c| c.ct_eq(pin)) {
            return Err(Error::InvalidInput("the two PINs are different".into()));
        }
        let alias = KeyAlias::random(&mut OsRng);
        let device_public = self.signer.generate(&alias)?;
        let assurance = self.signer.assurance();
        let model: String = self.platform.device_model().chars().take(64).collect();
        let (state, blinded) = oprf::blind(pin, &mut OsRng)?;
        let bytes = EnrolBeginRequest::signed_bytes(
            &link.code,
            &device_public,
            assurance,
            &model,
            &blinded,
        );
        let request = EnrolBeginRequest {
            v: latchkey_protocol::PROTOCOL_VERSION,
            code: link.code.clone(),
            device_key: device_public,
            assurance,
            device_model: model,
            blinded_pin: blinded,
            signature: self.signer.sign(&alias, &bytes)?,
        };
        let begun: EnrolBeginResponse = match self
            .client
            .post(
                &link.api_base(),
                wire::ENROL_BEGIN_PATH,
                &request,
                REQUEST_TIMEOUT,
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let _ = self.signer.delete(&alias);
                return Err(e);
            }
        };
        let output = state.finalize(pin, &begun.evaluated_pin)?;
        let identity = AccountIdentity {
            server: link.api_base(),
            account: begun.account,
            device: begun.device,
            label: begun.account_label.clone(),
            server_key: link.server_key,
            pin_digits: link.pin_digits,
        };
        let approval = ApprovalKey::generate(&mut OsRng);
        let slot = Slot::seal(&approval, &output, pin, begun.account, begun.device, 1);
        let device_key = DeviceKeyRef {
            alias,
            public_key: device_public,
            assurance,
        };
        let record = self.vault.create(identity, device_key, slot)?;
        self.step("after the enrolment record is written")?;
        let check = (begun.pin_source == PinSource::Web)
            .then(|| oprf::pin_check(&output, &begun.account, &begun.device));
        self.finish(&record, &approval, check).await
    }

    /// Retries the PIN of an enrolment that was refused for a wrong PIN (or interrupted).
    ///
    /// # Errors
    /// As [`Latchkey::enrol`].
    pub async fn finish_enrolment(&self, account: &RecordId, pin: &Pin) -> Result<Account> {
        let record = self.record(account)?;
        if record.state == RecordState::Active {
            return Ok(account_view(&record));
        }
        let (state, blinded) = oprf::blind(pin, &mut OsRng)?;
        let evaluated = self
            .send(
                &record,
                &Evaluate {
                    purpose: EvaluatePurpose::Enrol,
                    blinded_pin: blinded,
                },
                REQUEST_TIMEOUT,
            )
            .await?;
        let output = state.finalize(pin, &evaluated.evaluated_pin)?;
        let (a, d) = (record.identity.account, record.identity.device);
        let approval = ApprovalKey::generate(&mut OsRng);
        let slot = Slot::seal(&approval, &output, pin, a, d, 1);
        let staged = Staged {
            slot,
            operation: OperationId::random(&mut OsRng),
            kind: RekeyKind::Change,
            commit: None,
        };
        self.vault.stage(account, staged)?;
        let record = self.vault.promote(account)?;
        self.finish(&record, &approval, Some(oprf::pin_check(&output, &a, &d)))
            .await
    }

    async fn finish(
        &self,
        record: &AccountRecord,
        approval: &ApprovalKey,
        check: Option<latchkey_protocol::secret::PinCheck>,
    ) -> Result<Account> {
        let (a, d) = (record.identity.account, record.identity.device);
        let proof = signed::enrol_proof(
            &a,
            &d,
            &approval.public_key(),
            &record.device_key.public_key,
        );
        let finish = EnrolFinish {
            pin_check: check,
            approval_key: approval.public_key(),
            approval_proof: approval.sign(&proof),
        };
        self.send(record, &finish, REQUEST_TIMEOUT).await?;
        self.step("after the server confirmed the enrolment")?;
        let record = self.vault.activate(&record.id)?;
        tracing::info!(account = record.id.as_str(), "enrolled");
        Ok(account_view(&record))
    }

    // -----------------------------------------------------------------------------------------
    // Sign-ins

    /// Pending sign-in requests, waiting up to `wait_seconds` for one (long-poll; for devices
    /// without a push service).
    ///
    /// # Errors
    /// Server and network errors.
    pub async fn pending(&self, account: &RecordId, wait_seconds: u16) -> Result<Vec<ChallengeId>> {
        let record = self.record(account)?;
        let wait = wait_seconds.min(wire::MAX_WAIT_SECS);
        let timeout = Duration::from_secs(u64::from(wait)) + LONG_POLL_SLACK;
        Ok(self
            .send(&record, &ListChallenges { wait_seconds: wait }, timeout)
            .await?
            .challenges)
    }

    /// The live sign-in requests of an account, newest first, each fetched and verified (a
    /// request that ended between the listing and its fetch is left out).
    ///
    /// # Errors
    /// As [`Latchkey::pending`] and [`Latchkey::challenge`] (except a request that ended).
    pub async fn requests(&self, account: &RecordId) -> Result<Vec<ChallengeView>> {
        let mut views = Vec::new();
        for id in self.pending(account, 0).await? {
            match self.challenge(account, &id).await {
                Ok(view) => views.push(view),
                Err(Error::Server {
                    code: ErrorCode::Expired | ErrorCode::AlreadyAnswered | ErrorCode::NotFound,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(views)
    }

    /// Waits for the next sign-in request on any active account, up to `wait_seconds`.
    ///
    /// # Errors
    /// As [`Latchkey::pending`].
    pub async fn wait_for_challenge(
        &self,
        account: &RecordId,
        wait_seconds: u16,
    ) -> Result<Option<ChallengeView>> {
        match self.pending(account, wait_seconds).await?.first() {
            Some(id) => self.challenge(account, id).await.map(Some),
            None => Ok(None),
        }
    }

    /// Fetches a sign-in request (for example by the id a push carried) and verifies it with
    /// the server key pinned at enrolment.
    ///
    /// # Errors
    /// [`Error::ServerUntrusted`] if the signature does not verify; server and network errors.
    pub async fn challenge(&self, account: &RecordId, id: &ChallengeId) -> Result<ChallengeView> {
        let record = self.record(account)?;
        let signed: SignedChallenge = self
            .send(&record, &FetchChallenge { challenge: *id }, REQUEST_TIMEOUT)
            .await?;
        let view = ChallengeView {
            account: account.clone(),
            challenge: signed.challenge,
            signature: signed.signature,
            server_time: signed.server_time,
        };
        if view.challenge.id != *id || !view.is_authentic(&record) {
            return Err(untrusted_challenge());
        }
        Ok(view)
    }

    /// The record a view is for, once the view proved authentic (before any network use).
    fn record_for(&self, view: &ChallengeView) -> Result<AccountRecord> {
        let record = self.record(&view.account)?;
        if !view.is_authentic(&record) {
            return Err(untrusted_challenge());
        }
        Ok(record)
    }

    /// Approves with the code shown on the login page and the PIN.
    ///
    /// # Errors
    /// [`Error::ServerUntrusted`] if the view is not signed by the pinned server key (nothing
    /// is sent then), [`Error::WrongPin`] with attempts left, [`Error::Locked`], code
    /// mismatch, expired, already answered, network.
    pub async fn approve(&self, view: &ChallengeView, typed_code: &str, pin: &Pin) -> Result<()> {
        let record = self.record_for(view)?;
        let key = self
            .unlock(
                &record,
                pin,
                EvaluatePurpose::Approve {
                    challenge: view.challenge.id,
                },
            )
            .await?;
        let counter = self.vault.next_counter(&record.id)?;
        let c = &view.challenge;
        let typed = typed_code.trim();
        let bytes = signed::answer(
            &c.account,
            &c.device,
            &c.id,
            &c.digest(),
            typed,
            Decision::Approve,
            counter,
        );
        let answer = Answer {
            challenge: c.id,
            challenge_digest: c.digest(),
            decision: Decision::Approve,
            typed_code: typed.to_owned(),
            counter,
            approval_signature: Some(key.sign(&bytes)),
        };
        drop(key);
        self.send(&record, &answer, REQUEST_TIMEOUT).await?;
        tracing::info!(account = record.id.as_str(), "sign-in approved");
        Ok(())
    }

    /// Denies a sign-in (no PIN needed); `not_me` reports it ("this wasn't me").
    ///
    /// # Errors
    /// [`Error::ServerUntrusted`] if the view is not signed by the pinned server key (nothing
    /// is sent then); expired, already answered, network.
    pub async fn deny(&self, view: &ChallengeView, not_me: bool) -> Result<AnswerOutcome> {
        let record = self.record_for(view)?;
        let c = &view.challenge;
        let answer = Answer {
            challenge: c.id,
            challenge_digest: c.digest(),
            decision: if not_me {
                Decision::Report
            } else {
                Decision::Deny
            },
            typed_code: String::new(),
            counter: 0,
            approval_signature: None,
        };
        let response = self.send(&record, &answer, REQUEST_TIMEOUT).await?;
        Ok(response.outcome)
    }

    /// One counted evaluation, then the approval key opened with the PIN.
    async fn unlock(
        &self,
        record: &AccountRecord,
        pin: &Pin,
        purpose: EvaluatePurpose,
    ) -> Result<ApprovalKey> {
        let (state, blinded) = oprf::blind(pin, &mut OsRng)?;
        let evaluated = self
            .send(
                record,
                &Evaluate {
                    purpose,
                    blinded_pin: blinded,
                },
                REQUEST_TIMEOUT,
            )
            .await?;
        let output = state.finalize(pin, &evaluated.evaluated_pin)?;
        record
            .active
            .open(
                &output,
                pin,
                record.identity.account,
                record.identity.device,
            )
            .map_err(|_| Error::WrongPin {
                attempts_left: Some(evaluated.attempts_left),
            })
    }

    // -----------------------------------------------------------------------------------------
    // PIN change and reset

    /// Changes the PIN (knows the old one). A fresh approval key is made; the old one is gone.
    ///
    /// # Errors
    /// [`Error::WrongPin`], [`Error::PinPolicy`], network (then [`Latchkey::settle`] finishes
    /// or rolls back; the old PIN keeps working until the server commits).
    pub async fn change_pin(&self, account: &RecordId, old: &Pin, new: &Pin) -> Result<()> {
        let record = self.settled_record(account).await?;
        PinPolicy {
            digits: record.identity.pin_digits,
        }
        .check(new)?;
        let operation = OperationId::random(&mut OsRng);
        let (old_state, old_blinded) = oprf::blind(old, &mut OsRng)?;
        let (new_state, new_blinded) = oprf::blind(new, &mut OsRng)?;
        let started = self
            .send(
                &record,
                &PinChangeStart {
                    operation,
                    old_blinded_pin: old_blinded,
                    new_blinded_pin: new_blinded,
                },
                REQUEST_TIMEOUT,
            )
            .await?;
        let (a, d) = (record.identity.account, record.identity.device);
        let old_output = old_state.finalize(old, &started.old_evaluated_pin)?;
        let old_key = record
            .active
            .open(&old_output, old, a, d)
            .map_err(|_| Error::WrongPin {
                attempts_left: Some(started.attempts_left),
            })?;
        let new_output = new_state.finalize(new, &started.new_evaluated_pin)?;
        let fresh = ApprovalKey::generate(&mut OsRng);
        let slot = Slot::seal(&fresh, &new_output, new, a, d, started.new_epoch);
        let bytes =
            signed::pin_change_proof(&a, &d, &operation, &fresh.public_key(), started.new_epoch);
        let commit = PinChangeCommit {
            operation,
            new_approval_key: fresh.public_key(),
            old_proof: old_key.sign(&bytes),
            new_proof: fresh.sign(&bytes),
        };
        drop((old_key, fresh));
        self.stage_and_commit(&record, slot, operation, RekeyKind::Change, &commit)
            .await
    }

    /// Forgotten PIN, step 1: the account password; a one-time code is e-mailed (P7).
    ///
    /// # Errors
    /// Wrong password (`Server` with `bad_credentials`), rate limits, network.
    pub async fn forgot_pin_start(
        &self,
        account: &RecordId,
        password: &Password,
    ) -> Result<ResetTicket> {
        let record = self.settled_record(account).await?;
        let operation = OperationId::random(&mut OsRng);
        let started = self
            .send(
                &record,
                &PinResetStart {
                    operation,
                    password: password.clone(),
                },
                REQUEST_TIMEOUT,
            )
            .await?;
        Ok(ResetTicket {
            operation,
            sent_to: started.sent_to,
            expires_at: started.expires_at,
        })
    }

    /// Forgotten PIN, step 2: the e-mailed code and the new PIN. Fresh keys; the device is
    /// unlocked.
    ///
    /// # Errors
    /// Wrong or expired code, PIN policy, network (then [`Latchkey::settle`]).
    pub async fn forgot_pin_finish(
        &self,
        account: &RecordId,
        ticket: &ResetTicket,
        code: &OneTimeCode,
        new: &Pin,
    ) -> Result<()> {
        let record = self.record(account)?;
        PinPolicy {
            digits: record.identity.pin_digits,
        }
        .check(new)?;
        let operation = ticket.operation;
        let (state, blinded) = oprf::blind(new, &mut OsRng)?;
        let verified = self
            .send(
                &record,
                &PinResetVerify {
                    operation,
                    code: code.clone(),
                    new_blinded_pin: blinded,
                },
                REQUEST_TIMEOUT,
            )
            .await?;
        let (a, d) = (record.identity.account, record.identity.device);
        let output = state.finalize(new, &verified.new_evaluated_pin)?;
        let fresh = ApprovalKey::generate(&mut OsRng);
        let slot = Slot::seal(&fresh, &output, new, a, d, verified.new_epoch);
        let bytes =
            signed::pin_reset_proof(&a, &d, &operation, &fresh.public_key(), verified.new_epoch);
        let commit = PinResetCommit {
            operation,
            new_approval_key: fresh.public_key(),
            new_proof: fresh.sign(&bytes),
        };
        drop(fresh);
        self.stage_and_commit(&record, slot, operation, RekeyKind::Reset, &commit)
            .await
    }

    /// Phase one (durable staged slot with the commit kept for re-sending), the commit, and
    /// phase two (promote).
    async fn stage_and_commit<B: RequestBody>(
        &self,
        record: &AccountRecord,
        slot: Slot,
        operation: OperationId,
        kind: RekeyKind,
        commit: &B,
    ) -> Result<()> {
        let commit_json =
            serde_json::to_string(commit).map_err(|e| Error::InvalidInput(e.to_string()))?;
        // Held until the new key is promoted, so no other process settles the operation
        // half-way (see `settle_one`).
        let _claim = self
            .vault
            .claim_operation(&record.id)?
            .ok_or(Error::AlreadyStaged)?;
        self.vault.stage(
            &record.id,
            Staged {
                slot,
                operation,
                kind,
                commit: Some(commit_json),
            },
        )?;
        self.step("before sending the commit")?;
        self.send(record, commit, REQUEST_TIMEOUT).await?;
        self.step("after the server committed")?;
        self.vault.promote(&record.id)?;
        tracing::info!(account = record.id.as_str(), ?kind, "PIN replaced");
        Ok(())
    }

    /// Settles a leftover staged slot before starting a new operation; refuses while one
    /// stays unsettled (server unreachable, or another process is committing it).
    async fn settled_record(&self, account: &RecordId) -> Result<AccountRecord> {
        let record = self.record(account)?;
        if record.staged.is_none() {
            return Ok(record);
        }
        self.settle_one(&record).await?;
        let record = self.record(account)?;
        if record.staged.is_some() {
            return Err(Error::AlreadyStaged);
        }
        Ok(record)
    }

    // -----------------------------------------------------------------------------------------
    // Removal and settling

    /// Removes the account from the server and from this device. An enrolled device proves
    /// the PIN (P7: a thief holding the phone cannot clear it away): one counted evaluation,
    /// then the approval key signs the removal with the next signature counter. An enrolment
    /// the server never confirmed is cancelled without one. A person who forgot the PIN uses
    /// "Forgot PIN" first, or removes the device on the account's web page.
    ///
    /// If the server no longer knows the device (it was removed on the web page), the account
    /// is deleted here whatever PIN was typed: there is nothing left to protect.
    ///
    /// # Errors
    /// [`Error::WrongPin`] with attempts left, [`Error::Locked`], network (nothing is deleted
    /// locally then, so the person can retry).
    pub async fn remove(&self, account: &RecordId, pin: &Pin) -> Result<()> {
        let mut record = self.record(account)?;
        if record.state == RecordState::Enrolling
            && self.settle_one(&record).await? == Settled::Activated
        {
            // The server had confirmed the enrolment (its last local write was lost): the
            // device is enrolled, so its removal needs the PIN.
            record = self.record(account)?;
        }
        match self.remove_on_server(&record, pin).await {
            Ok(()) => {}
            // Already removed on the web page: finish locally.
            Err(Error::Server {
                code: ErrorCode::Unauthorized,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
        self.vault.remove(account)?;
        self.signer.delete(&record.device_key.alias)?;
        tracing::info!(account = account.as_str(), "removed");
        Ok(())
    }

    async fn remove_on_server(&self, record: &AccountRecord, pin: &Pin) -> Result<()> {
        let body = match record.state {
            // No approval key on the server yet: the unfinished enrolment is cancelled.
            RecordState::Enrolling => RemoveDevice {
                counter: 0,
                approval_signature: None,
            },
            RecordState::Active => {
                let key = self.unlock(record, pin, EvaluatePurpose::Remove).await?;
                let counter = self.vault.next_counter(&record.id)?;
                let bytes =
                    signed::removal(&record.identity.account, &record.identity.device, counter);
                let signature = key.sign(&bytes);
                drop(key);
                RemoveDevice {
                    counter,
                    approval_signature: Some(signature),
                }
            }
        };
        self.send(record, &body, REQUEST_TIMEOUT).await.map(|_| ())
    }

    /// Finishes or rolls back anything a crash interrupted (run at start-up).
    ///
    /// # Errors
    /// Storage errors; an unreachable server leaves the account [`Settled::Pending`].
    pub async fn settle(&self) -> Result<Vec<(RecordId, Settled)>> {
        let mut out = Vec::new();
        for id in self.vault.list()? {
            let record = self.vault.load(&id)?;
            let settled = self.settle_one(&record).await?;
            out.push((id, settled));
        }
        Ok(out)
    }

    async fn settle_one(&self, record: &AccountRecord) -> Result<Settled> {
        if record.state == RecordState::Enrolling {
            // If the server already finished the enrolment, device requests work.
            return match self
                .send(record, &ListChallenges { wait_seconds: 0 }, REQUEST_TIMEOUT)
                .await
            {
                Ok(_) => {
                    self.vault.activate(&record.id)?;
                    Ok(Settled::Activated)
                }
                Err(_) => Ok(Settled::Pending),
            };
        }
        if record.staged.is_none() {
            return Ok(Settled::Nothing);
        }
        // Another handle or process may be committing this very operation right now: leave
        // it to that one (it finishes it, or its crash releases the claim).
        let Some(_claim) = self.vault.claim_operation(&record.id)? else {
            return Ok(Settled::Pending);
        };
        // As the record is now that the operation is ours (the other may just have finished).
        let record = &self.record(&record.id)?;
        let Some(staged) = &record.staged else {
            return Ok(Settled::Nothing);
        };
        let status = match self
            .send(
                record,
                &OperationStatus {
                    operation: staged.operation,
                },
                REQUEST_TIMEOUT,
            )
            .await
        {
            Ok(s) => s,
            Err(Error::Network(_)) => return Ok(Settled::Pending),
            Err(e) => return Err(e),
        };
        match status.state {
            OperationState::Committed => {
                self.vault.promote(&record.id)?;
                Ok(Settled::Promoted)
            }
            OperationState::Pending => {
                let resent = match (&staged.commit, staged.kind) {
                    (Some(json), RekeyKind::Change) => {
                        self.resend::<PinChangeCommit>(record, json).await
                    }
                    (Some(json), RekeyKind::Reset) => {
                        self.resend::<PinResetCommit>(record, json).await
                    }
                    (None, _) => Err(Error::NothingStaged),
                };
                match resent {
                    Ok(()) => {
                        self.vault.promote(&record.id)?;
                        Ok(Settled::Promoted)
                    }
                    Err(Error::Network(_)) => Ok(Settled::Pending),
                    Err(_) => {
                        self.vault.discard(&record.id)?;
                        Ok(Settled::Discarded)
                    }
                }
            }
            OperationState::Aborted | OperationState::Unknown => {
                self.vault.discard(&record.id)?;
                Ok(Settled::Discarded)
            }
        }
    }

    async fn resend<B: RequestBody>(&self, record: &AccountRecord, json: &str) -> Result<()> {
        let body: B = serde_json::from_str(json).map_err(|_| Error::Corrupt {
            path: self.vault.dir().to_owned(),
            reason: "the stored commit is unreadable".into(),
        })?;
        self.send(record, &body, REQUEST_TIMEOUT).await.map(|_| ())
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
