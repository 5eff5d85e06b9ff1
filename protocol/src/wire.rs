//! The JSON messages of every exchange between a device and a server.
//!
//! Every device request except the first enrolment step travels in a [`DeviceRequest`]
//! envelope signed by the device key over canonical bytes ([`DeviceRequest::signed_bytes`]):
//! the tag `latchkey/v1/request/<kind>`, account, device, request id, issue time, then the
//! body's own fields ([`RequestBody::encode`]). Low-entropy secrets (password, one-time code)
//! are never part of signed bytes, so a captured signature cannot test guesses of them.
//!
//! Every endpoint is `POST` with a JSON body at [`RequestBody::PATH`]; failures answer with an
//! [`ErrorBody`]. See docs/PROTOCOL.md for the flows.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::pin::PinPolicy;
use crate::secret::{EnrolmentCode, OneTimeCode, Password, PinCheck};
use crate::signed::{Canonical, Decision};
use crate::types::{
    AccountId, Assurance, ChallengeId, DeviceId, Digest, Element, OperationId, PublicKey,
    RequestId, Signature,
};
use crate::PROTOCOL_VERSION;

/// How far a request's `issued_at` may differ from the server's clock, in seconds.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// The longest long-poll wait a device may ask for, in seconds.
pub const MAX_WAIT_SECS: u16 = 60;

/// Where the first enrolment step is posted.
pub const ENROL_BEGIN_PATH: &str = "/api/v1/enrol/begin";

/// A body that travels inside a signed [`DeviceRequest`].
pub trait RequestBody: Serialize + DeserializeOwned {
    /// The request kind, part of the domain-separation tag `latchkey/v1/request/<KIND>`.
    const KIND: &'static str;
    /// The endpoint path.
    const PATH: &'static str;
    /// The successful response's type.
    type Response: Serialize + DeserializeOwned;
    /// Appends this body's fields to the canonical signed bytes.
    fn encode(&self, c: Canonical) -> Canonical;
}

/// Who is asking, with a fresh request id and the device's idea of the time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestHeader {
    /// Protocol version; the server refuses versions it does not speak.
    pub v: u8,
    /// The account the device is enrolled in.
    pub account: AccountId,
    /// The device.
    pub device: DeviceId,
    /// A fresh random id; the server refuses one it has seen within the skew window.
    pub request_id: RequestId,
    /// Unix seconds when the device made the request; must be within
    /// [`MAX_CLOCK_SKEW_SECS`] of the server's clock.
    pub issued_at: u64,
}

impl RequestHeader {
    /// A header for the current protocol version.
    pub fn new(
        account: AccountId,
        device: DeviceId,
        request_id: RequestId,
        issued_at: u64,
    ) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            account,
            device,
            request_id,
            issued_at,
        }
    }
}

/// A device request: header, body, and the device key's signature over both.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeviceRequest<B> {
    /// Who is asking.
    #[serde(flatten)]
    pub header: RequestHeader,
    /// What is asked.
    pub body: B,
    /// Device-key signature over [`DeviceRequest::signed_bytes`].
    pub signature: Signature,
}

impl<B: RequestBody> DeviceRequest<B> {
    /// The canonical bytes the device key signs for this header and body.
    pub fn signed_bytes(header: &RequestHeader, body: &B) -> Vec<u8> {
        let c = Canonical::new(&format!("request/{}", B::KIND))
            .u64(u64::from(header.v))
            .bytes(header.account.as_bytes())
            .bytes(header.device.as_bytes())
            .bytes(header.request_id.as_bytes())
            .u64(header.issued_at);
        body.encode(c).finish()
    }

    /// Checks the device signature against the device's registered key.
    pub fn verify(&self, device_key: &PublicKey) -> bool {
        device_key.verify(
            &Self::signed_bytes(&self.header, &self.body),
            &self.signature,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Enrolment

/// Where the PIN comes from at enrolment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinSource {
    /// The person set the PIN on the "Add a device" web page and types the same PIN in the app.
    Web,
    /// The person chooses a new PIN in the app (typed twice there).
    App,
}

impl PinSource {
    /// The stable lowercase name used in the link and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::App => "app",
        }
    }
}

/// Enrolment step 1 (unauthenticated: the device is not known yet). Redeems the single-use
/// code from the QR, registers the device key and asks for the first OPRF evaluation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrolBeginRequest {
    /// Protocol version.
    pub v: u8,
    /// The enrolment code from the link (single use, ≥112 bits).
    pub code: EnrolmentCode,
    /// The device key (P3).
    pub device_key: PublicKey,
    /// How the device key is held.
    pub assurance: Assurance,
    /// A human-readable device model ("Pixel 8", "Linux desktop").
    pub device_model: String,
    /// The blinded PIN.
    pub blinded_pin: Element,
    /// Device-key signature over [`EnrolBeginRequest::signed_bytes`] (proof of possession).
    pub signature: Signature,
    /// The platform's attestation of the device key (Android key attestation): its
    /// certificate chain, DER, leaf first, made with [`EnrolBeginRequest::attestation_challenge`]
    /// of the code. Empty where the platform attests nothing; the server then records the
    /// assurance as claimed, not verified. Not in the signed bytes: the chain binds itself to
    /// the key and the code.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::b64::vec_list"
    )]
    pub attestation: Vec<Vec<u8>>,
    /// iOS App Attest (`DCAppAttestService.attestKey`): the genuine app, on a genuine Apple
    /// device, vouches for this device key and this enrolment through
    /// [`EnrolBeginRequest::app_attest_client_data_hash`]. Absent elsewhere. Not in the signed
    /// bytes, for the same reason as `attestation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_attest: Option<AppAttestation>,
}

/// An App Attest key's attestation, as the iOS app got it from `DCAppAttestService`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppAttestation {
    /// The App Attest key's id (`generateKey`'s answer: the SHA-256 of its public key).
    #[serde(with = "crate::b64::array")]
    pub key_id: [u8; 32],
    /// The attestation object (CBOR, format `apple-appattest`) `attestKey` returned.
    #[serde(with = "crate::b64::vec")]
    pub object: Vec<u8>,
}

/// The largest App Attest attestation object, bytes (Apple's are about 5 KiB with the
/// receipt).
pub const MAX_APP_ATTESTATION_BYTES: usize = 16384;

/// The most certificates an attestation chain may hold.
pub const MAX_ATTESTATION_CERTS: usize = 8;

/// The largest certificate of an attestation chain, bytes.
pub const MAX_ATTESTATION_CERT_BYTES: usize = 8192;

impl EnrolBeginRequest {
    /// The challenge a platform's key attestation must carry for this enrolment: SHA-256 of
    /// the tag `attestation-challenge` and the SHA-256 of the code. Only the device that
    /// scanned the code and the server that issued it can make it, and it names this
    /// enrolment alone (a chain recorded for another code is refused).
    pub fn attestation_challenge(code: &EnrolmentCode) -> [u8; 32] {
        // EXPOSE: only a hash of the 128-bit code enters the challenge.
        let code_digest = Digest::of(code.expose_secret());
        *Digest::of(
            &Canonical::new("attestation-challenge")
                .u64(u64::from(PROTOCOL_VERSION))
                .bytes(code_digest.as_bytes())
                .finish(),
        )
        .as_bytes()
    }

    /// The client data hash an iOS app gives `DCAppAttestService.attestKey`: SHA-256 of the
    /// tag `app-attest-client-data`, this enrolment's [`attestation_challenge`] and the device
    /// key (SEC1 compressed). Apple's attestation then names this device key for this
    /// enrolment alone; the app's App Attest key is a different key (it attests the app).
    ///
    /// [`attestation_challenge`]: EnrolBeginRequest::attestation_challenge
    pub fn app_attest_client_data_hash(challenge: &[u8; 32], device_key: &PublicKey) -> [u8; 32] {
        *Digest::of(
            &Canonical::new("app-attest-client-data")
                .u64(u64::from(PROTOCOL_VERSION))
                .bytes(challenge)
                .bytes(&device_key.to_sec1())
                .finish(),
        )
        .as_bytes()
    }

    /// Canonical bytes: tag `enrol-begin`, version, SHA-256 of the code, device key,
    /// assurance, device model, blinded PIN.
    pub fn signed_bytes(
        code: &EnrolmentCode,
        device_key: &PublicKey,
        assurance: Assurance,
        device_model: &str,
        blinded_pin: &Element,
    ) -> Vec<u8> {
        // EXPOSE: only a hash of the 128-bit code is signed; the code itself is never in
        // signed bytes.
        let code_digest = Digest::of(code.expose_secret());
        Canonical::new("enrol-begin")
            .u64(u64::from(PROTOCOL_VERSION))
            .bytes(code_digest.as_bytes())
            .bytes(&device_key.to_sec1())
            .str(assurance.as_str())
            .str(device_model)
            .bytes(blinded_pin.as_bytes())
            .finish()
    }

    /// Checks the proof of possession of the device key.
    pub fn verify(&self) -> bool {
        let bytes = Self::signed_bytes(
            &self.code,
            &self.device_key,
            self.assurance,
            &self.device_model,
            &self.blinded_pin,
        );
        self.device_key.verify(&bytes, &self.signature)
    }
}

/// The server's answer to enrolment step 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolBeginResponse {
    /// The account the device is joining.
    pub account: AccountId,
    /// The id the server gave the new device.
    pub device: DeviceId,
    /// The account as people see it ("Example Corp — alice@example.org").
    pub account_label: String,
    /// Where the PIN comes from.
    pub pin_source: PinSource,
    /// The deployment's PIN policy.
    pub pin_policy: PinPolicy,
    /// The OPRF evaluation of the blinded PIN under the new device's key.
    pub evaluated_pin: Element,
    /// PIN attempts left before the pending enrolment is cancelled.
    pub attempts_left: u8,
    /// Unix seconds when the pending enrolment expires.
    pub expires_at: u64,
}

/// Enrolment step 2: registers the approval key and, for a PIN set on the web, proves the
/// device typed the same PIN.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrolFinish {
    /// Present when the PIN was set on the web page ([`PinSource::Web`]).
    pub pin_check: Option<PinCheck>,
    /// The approval public key (its private half is sealed under the PIN on the device).
    pub approval_key: PublicKey,
    /// Approval-key signature over [`crate::signed::enrol_proof`].
    pub approval_proof: Signature,
}

impl RequestBody for EnrolFinish {
    const KIND: &'static str = "enrol-finish";
    const PATH: &'static str = "/api/v1/enrol/finish";
    type Response = EnrolFinishResponse;
    fn encode(&self, c: Canonical) -> Canonical {
        // EXPOSE: a hash of the 256-bit PIN check binds it without putting it in signed bytes.
        let check = self
            .pin_check
            .as_ref()
            .map(|p| Digest::of(p.expose_secret()));
        c.opt(check.as_ref().map(|d| d.as_bytes().as_slice()))
            .bytes(&self.approval_key.to_sec1())
            .bytes(self.approval_proof.as_bytes())
    }
}

/// The server's answer to enrolment step 2.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolFinishResponse {
    /// The approval key epoch (1 at enrolment; +1 at each PIN change or reset).
    pub epoch: u32,
    /// Unix seconds.
    pub enrolled_at: u64,
}

// ---------------------------------------------------------------------------------------------
// OPRF evaluation

/// What an OPRF evaluation is for; each evaluation is bound to one purpose and counted (P2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EvaluatePurpose {
    /// Redo the enrolment evaluation after an interruption between the two enrolment steps.
    Enrol,
    /// Open the approval key to answer this challenge.
    Approve {
        /// The challenge being answered.
        challenge: ChallengeId,
    },
    /// Open the approval key to remove this device ([`RemoveDevice`]).
    Remove,
}

/// Asks the server to evaluate a blinded PIN. The server checks the lock and increments the
/// failure counter before evaluating; only a following valid approval-key signature resets it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Evaluate {
    /// What the PIN is for.
    pub purpose: EvaluatePurpose,
    /// The blinded PIN.
    pub blinded_pin: Element,
}

impl RequestBody for Evaluate {
    const KIND: &'static str = "evaluate";
    const PATH: &'static str = "/api/v1/evaluate";
    type Response = EvaluateResponse;
    fn encode(&self, c: Canonical) -> Canonical {
        let c = match &self.purpose {
            EvaluatePurpose::Enrol => c.str("enrol").opt(None),
            EvaluatePurpose::Approve { challenge } => {
                c.str("approve").opt(Some(challenge.as_bytes()))
            }
            EvaluatePurpose::Remove => c.str("remove").opt(None),
        };
        c.bytes(self.blinded_pin.as_bytes())
    }
}

/// The evaluated PIN and how many attempts remain if it turns out wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluateResponse {
    /// The OPRF evaluation.
    pub evaluated_pin: Element,
    /// Attempts left after this one, should this one be wrong.
    pub attempts_left: u8,
}

// ---------------------------------------------------------------------------------------------
// Challenges

/// Lists pending challenges, waiting up to `wait_seconds` for one to arrive (long-poll).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListChallenges {
    /// 0 answers at once; at most [`MAX_WAIT_SECS`].
    pub wait_seconds: u16,
}

impl RequestBody for ListChallenges {
    const KIND: &'static str = "list-challenges";
    const PATH: &'static str = "/api/v1/challenges";
    type Response = ChallengeList;
    fn encode(&self, c: Canonical) -> Canonical {
        c.u64(u64::from(self.wait_seconds))
    }
}

/// The ids of the pending challenges for this device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeList {
    /// Live (pending, unexpired) challenge ids, newest first: the request a person just
    /// started in a browser comes first.
    pub challenges: Vec<ChallengeId>,
    /// The server's clock, unix seconds.
    pub server_time: u64,
}

/// Fetches one challenge by id (an id from a push notification or from [`ListChallenges`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchChallenge {
    /// The challenge.
    pub challenge: ChallengeId,
}

impl RequestBody for FetchChallenge {
    const KIND: &'static str = "fetch-challenge";
    const PATH: &'static str = "/api/v1/challenge";
    type Response = SignedChallenge;
    fn encode(&self, c: Canonical) -> Canonical {
        c.bytes(self.challenge.as_bytes())
    }
}

/// A sign-in attempt as the person will see it. The code shown on the login page is not here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Protocol version.
    pub v: u8,
    /// The challenge id.
    pub id: ChallengeId,
    /// The account signing in.
    pub account: AccountId,
    /// The device asked.
    pub device: DeviceId,
    /// The service being signed in to.
    pub service: String,
    /// The browser and OS of the sign-in, as the server saw it.
    pub browser: String,
    /// The IP address of the sign-in.
    pub ip: String,
    /// A coarse location, if the server knows one.
    pub location: Option<String>,
    /// Unix seconds, server clock.
    pub created_at: u64,
    /// Unix seconds, server clock; the server judges expiry.
    pub expires_at: u64,
    /// How many digits the code on the login page has (2 to 6).
    pub code_digits: u8,
}

impl Challenge {
    /// Canonical bytes the server's challenge key signs (tag `challenge`).
    pub fn signed_bytes(&self) -> Vec<u8> {
        Canonical::new("challenge")
            .u64(u64::from(self.v))
            .bytes(self.id.as_bytes())
            .bytes(self.account.as_bytes())
            .bytes(self.device.as_bytes())
            .str(&self.service)
            .str(&self.browser)
            .str(&self.ip)
            .opt(self.location.as_deref().map(str::as_bytes))
            .u64(self.created_at)
            .u64(self.expires_at)
            .u64(u64::from(self.code_digits))
            .finish()
    }

    /// SHA-256 of [`Challenge::signed_bytes`], bound into the answer.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.signed_bytes())
    }
}

/// A challenge with the server's signature (by the key pinned from the enrolment QR, P4/P5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedChallenge {
    /// The challenge.
    pub challenge: Challenge,
    /// Server challenge-key signature over [`Challenge::signed_bytes`].
    pub signature: Signature,
    /// The server's clock when it sent this, unix seconds (not signed: only for showing the
    /// time left, `expires_at - server_time`, whatever the device's own clock says).
    #[serde(default)]
    pub server_time: u64,
}

impl SignedChallenge {
    /// Verifies the server's signature with the pinned key.
    pub fn verify(&self, server_key: &PublicKey) -> bool {
        server_key.verify(&self.challenge.signed_bytes(), &self.signature)
    }
}

/// Answers a challenge. Approving carries the approval-key signature over
/// [`crate::signed::answer`]; denying needs only the envelope's device signature.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Answer {
    /// The challenge.
    pub challenge: ChallengeId,
    /// Digest of the challenge as the device verified it.
    pub challenge_digest: Digest,
    /// Approve, deny, or deny and report.
    pub decision: Decision,
    /// The code the person typed from the login page (empty when denying).
    pub typed_code: String,
    /// The device's signature counter; must exceed the last one the server accepted.
    pub counter: u64,
    /// Approval-key signature (present exactly when approving).
    pub approval_signature: Option<Signature>,
}

impl RequestBody for Answer {
    const KIND: &'static str = "answer";
    const PATH: &'static str = "/api/v1/answer";
    type Response = AnswerResponse;
    fn encode(&self, c: Canonical) -> Canonical {
        c.bytes(self.challenge.as_bytes())
            .bytes(self.challenge_digest.as_bytes())
            .str(self.decision.as_str())
            .str(&self.typed_code)
            .u64(self.counter)
            .opt(
                self.approval_signature
                    .as_ref()
                    .map(|s| s.as_bytes().as_slice()),
            )
    }
}

/// What became of the sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerOutcome {
    /// The sign-in goes ahead.
    Approved,
    /// The sign-in was refused.
    Denied,
    /// Refused and reported; pushes for the account are muted for a while.
    Reported,
}

/// The server's answer to [`Answer`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerResponse {
    /// What became of the sign-in.
    pub outcome: AnswerOutcome,
}

// ---------------------------------------------------------------------------------------------
// PIN change (two-phase) and forgotten PIN

/// PIN change phase 1: evaluates the old PIN under the current key (counted, P2) and the new
/// PIN under a fresh OPRF key the server stages for this operation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PinChangeStart {
    /// A fresh operation id chosen by the device (so it can ask about it after a crash).
    pub operation: OperationId,
    /// The blinded old PIN.
    pub old_blinded_pin: Element,
    /// The blinded new PIN.
    pub new_blinded_pin: Element,
}

impl RequestBody for PinChangeStart {
    const KIND: &'static str = "pin-change-start";
    const PATH: &'static str = "/api/v1/pin/change/start";
    type Response = PinChangeStartResponse;
    fn encode(&self, c: Canonical) -> Canonical {
        c.bytes(self.operation.as_bytes())
            .bytes(self.old_blinded_pin.as_bytes())
            .bytes(self.new_blinded_pin.as_bytes())
    }
}

/// Evaluations for a PIN change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinChangeStartResponse {
    /// The old PIN under the current key.
    pub old_evaluated_pin: Element,
    /// The new PIN under the staged key.
    pub new_evaluated_pin: Element,
    /// The epoch the new approval key will have.
    pub new_epoch: u32,
    /// Attempts left should the old PIN be wrong.
    pub attempts_left: u8,
    /// Unix seconds when the staged operation lapses.
    pub expires_at: u64,
}

/// PIN change phase 2: the old approval key signs (proving the old PIN; resets the counter)
/// and the fresh approval key signs (proof of possession). The server swaps keys atomically.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PinChangeCommit {
    /// The operation.
    pub operation: OperationId,
    /// The fresh approval public key.
    pub new_approval_key: PublicKey,
    /// Old approval key over [`crate::signed::pin_change_proof`].
    pub old_proof: Signature,
    /// New approval key over the same bytes.
    pub new_proof: Signature,
}

impl RequestBody for PinChangeCommit {
    const KIND: &'static str = "pin-change-commit";
    const PATH: &'static str = "/api/v1/pin/change/commit";
    type Response = CommitResponse;
    fn encode(&self, c: Canonical) -> Canonical {
        c.bytes(self.operation.as_bytes())
            .bytes(&self.new_approval_key.to_sec1())
            .bytes(self.old_proof.as_bytes())
            .bytes(self.new_proof.as_bytes())
    }
}

/// A committed key change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitResponse {
    /// The approval key's new epoch.
    pub epoch: u32,
}

/// Forgotten PIN step 1: the account password (P7: not enough on its own). The server sends
/// a one-time code to the account's addresses.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PinResetStart {
    /// A fresh operation id chosen by the device.
    pub operation: OperationId,
    /// The account password (never part of the signed bytes).
    pub password: Password,
}

impl RequestBody for PinResetStart {
    const KIND: &'static str = "pin-reset-start";
    const PATH: &'static str = "/api/v1/pin/reset/start";
    type Response = PinResetStartResponse;
    fn encode(&self, c: Canonical) -> Canonical {
        c.bytes(self.operation.as_bytes())
    }
}

/// Where the one-time code went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinResetStartResponse {
    /// Masked addresses ("a•••@example.org").
    pub sent_to: Vec<String>,
    /// Unix seconds when the code lapses.
    pub expires_at: u64,
}

/// Forgotten PIN step 2: the one-time code and the blinded new PIN.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PinResetVerify {
    /// The operation.
    pub operation: OperationId,
    /// The one-time code (never part of the signed bytes).
    pub code: OneTimeCode,
    /// The blinded new PIN, evaluated under a fresh staged key.
    pub new_blinded_pin: Element,
}

impl RequestBody for PinResetVerify {
    const KIND: &'static str = "pin-reset-verify";
    const PATH: &'static str = "/api/v1/pin/reset/verify";
    type Response = PinResetVerifyResponse;
    fn encode(&self, c: Canonical) -> Canonical {
        c.bytes(self.operation.as_bytes())
            .bytes(self.new_blinded_pin.as_bytes())
    }
}

/// The new PIN's evaluation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinResetVerifyResponse {
    /// The new PIN under the staged key.
    pub new_evaluated_pin: Element,
    /// The epoch the new approval key will have.
    pub new_epoch: u32,
    /// Unix seconds when the staged operation lapses.
    pub expires_at: u64,
}

/// Forgotten PIN step 3: the fresh approval key signs; the server swaps keys, unlocks the
/// device and notifies every address on the account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PinResetCommit {
    /// The operation.
    pub operation: OperationId,
    /// The fresh approval public key.
    pub new_approval_key: PublicKey,
    /// New approval key over [`crate::signed::pin_reset_proof`].
    pub new_proof: Signature,
}

impl RequestBody for PinResetCommit {
    const KIND: &'static str = "pin-reset-commit";
    const PATH: &'static str = "/api/v1/pin/reset/commit";
    type Response = CommitResponse;
    fn encode(&self, c: Canonical) -> Canonical {
        c.bytes(self.operation.as_bytes())
            .bytes(&self.new_approval_key.to_sec1())
            .bytes(self.new_proof.as_bytes())
    }
}

// ---------------------------------------------------------------------------------------------
// Device removal and operation status

/// Removes this device from the account (the device deletes its own record afterwards).
///
/// An enrolled device proves the PIN (P7): it opens its approval key through a counted
/// evaluation ([`EvaluatePurpose::Remove`]) and signs [`crate::signed::removal`] with the next
/// signature counter. A device whose enrolment is unfinished sends no signature (it has no
/// approval key on the server yet); its enrolment is cancelled. Every address is told.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveDevice {
    /// The signature counter (greater than any used before by this device).
    pub counter: u64,
    /// Approval key over [`crate::signed::removal`]; `None` only for an unfinished enrolment.
    pub approval_signature: Option<Signature>,
}

impl RequestBody for RemoveDevice {
    const KIND: &'static str = "remove-device";
    const PATH: &'static str = "/api/v1/device/remove";
    type Response = RemoveDeviceResponse;
    fn encode(&self, c: Canonical) -> Canonical {
        c.u64(self.counter).opt(
            self.approval_signature
                .as_ref()
                .map(|s| s.as_bytes().as_slice()),
        )
    }
}

/// Confirmation of removal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveDeviceResponse {
    /// Unix seconds.
    pub removed_at: u64,
}

/// Asks what became of an operation (settles a PIN change or reset interrupted by a crash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationStatus {
    /// The operation.
    pub operation: OperationId,
}

impl RequestBody for OperationStatus {
    const KIND: &'static str = "operation-status";
    const PATH: &'static str = "/api/v1/operation/status";
    type Response = OperationStatusResponse;
    fn encode(&self, c: Canonical) -> Canonical {
        c.bytes(self.operation.as_bytes())
    }
}

/// An operation's state on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    /// Started, not committed, not expired: the device may still commit.
    Pending,
    /// Committed: the device must promote its staged key.
    Committed,
    /// Expired or cancelled: the device must discard its staged key; the old PIN still works.
    Aborted,
    /// The server never saw it: the device discards its staged key.
    Unknown,
}

/// The server's answer to [`OperationStatus`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationStatusResponse {
    /// The state.
    pub state: OperationState,
    /// The device's current approval key epoch on the server.
    pub epoch: u32,
}

// ---------------------------------------------------------------------------------------------
// Push

/// The longest push token, channel URI or endpoint accepted, in bytes.
pub const MAX_PUSH_TOKEN_LEN: usize = 2048;

/// A push service a device can be woken through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushKind {
    /// Firebase Cloud Messaging (Android): a registration token.
    Fcm,
    /// Apple Push Notification service (iOS): a device token (hex).
    Apns,
    /// Windows Push Notification Services: a channel URI.
    Wns,
    /// Web Push / UnifiedPush (RFC 8030): an endpoint URL and the subscription's keys.
    Webpush,
}

impl PushKind {
    /// The stable lowercase name (the wire and the signed bytes).
    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::Fcm => "fcm",
            PushKind::Apns => "apns",
            PushKind::Wns => "wns",
            PushKind::Webpush => "webpush",
        }
    }
}

/// What a push carries (P4): the waiting request's id, nothing else. Web Push and WNS send it
/// as the whole body, FCM as its data, APNs beside the alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPayload {
    /// The waiting request.
    pub challenge: ChallengeId,
}

/// Where to push a device. The push itself only ever carries an opaque challenge id (P4).
/// Its `Debug` shows the kind only: a token wakes the device, the auth secret decrypts.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushTarget {
    /// The service.
    pub kind: PushKind,
    /// The FCM registration token, APNs device token, WNS channel URI or Web Push endpoint.
    pub token: String,
    /// Web Push: the subscription's P-256 public key (uncompressed SEC1, 65 bytes).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::b64::opt_vec"
    )]
    pub p256dh: Option<Vec<u8>>,
    /// Web Push: the subscription's authentication secret (16 bytes).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::b64::opt_vec"
    )]
    pub auth: Option<Vec<u8>>,
}

impl std::fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushTarget")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl PushTarget {
    /// Checks the shape: a token of sane length, and for Web Push an `https` endpoint with
    /// both keys of the right sizes (other kinds carry no keys).
    ///
    /// # Errors
    /// What is wrong, for the person reading the server's answer.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.token.is_empty() || self.token.len() > MAX_PUSH_TOKEN_LEN {
            return Err("the push token is empty or too long");
        }
        if self.token.chars().any(char::is_control) {
            return Err("the push token holds control characters");
        }
        match self.kind {
            PushKind::Webpush => {
                if !self.token.starts_with("https://") {
                    return Err("a Web Push endpoint must be an https URL");
                }
                if self.p256dh.as_ref().map(Vec::len) != Some(65)
                    || self.auth.as_ref().map(Vec::len) != Some(16)
                {
                    return Err(
                        "a Web Push target needs its p256dh (65 bytes) and auth (16 bytes) keys",
                    );
                }
            }
            PushKind::Wns if !self.token.starts_with("https://") => {
                return Err("a WNS channel URI must be an https URL");
            }
            // It goes into the APNs request path: hex only.
            PushKind::Apns
                if !(64..=200).contains(&self.token.len())
                    || !self.token.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                return Err("an APNs device token is 64 to 200 hexadecimal digits");
            }
            _ if self.p256dh.is_some() || self.auth.is_some() => {
                return Err("only Web Push targets carry keys");
            }
            _ => {}
        }
        Ok(())
    }
}

/// Registers this device's push target, replaces it (token rotation), or drops it
/// (`target: None`): from then on sign-in requests wake the device through it. Long-poll keeps
/// working either way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPushTarget {
    /// The target, or `None` to stop pushes.
    pub target: Option<PushTarget>,
}

impl RequestBody for SetPushTarget {
    const KIND: &'static str = "set-push-target";
    const PATH: &'static str = "/api/v1/push/target";
    type Response = SetPushTargetResponse;
    fn encode(&self, c: Canonical) -> Canonical {
        match &self.target {
            None => c.u64(0),
            Some(t) => c
                .u64(1)
                .str(t.kind.as_str())
                .str(&t.token)
                .opt(t.p256dh.as_deref())
                .opt(t.auth.as_deref()),
        }
    }
}

/// Where a device asks which push services a server uses (`GET`, no envelope): it registers a
/// target only for one of them, and subscribes to Web Push with the server's VAPID key.
pub const PUSH_CONFIG_PATH: &str = "/api/v1/push/config";

/// The answer at [`PUSH_CONFIG_PATH`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushConfigResponse {
    /// The services this server pushes through (none: long-poll only).
    pub services: Vec<PushKind>,
    /// The VAPID public key (uncompressed P-256, base64url) a Web Push subscription must name
    /// as its `applicationServerKey`; present when Web Push is among the services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webpush_vapid_key: Option<String>,
}

/// The server's answer to [`SetPushTarget`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPushTargetResponse {
    /// Whether a target is now registered.
    pub registered: bool,
}

// ---------------------------------------------------------------------------------------------
// Errors

/// A stable, machine-readable error code. Clients branch on it; the message is for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request was malformed.
    BadRequest,
    /// The server does not speak this protocol version.
    UnsupportedVersion,
    /// The device signature did not verify, or the device is unknown or removed.
    Unauthorized,
    /// The request id was seen before.
    Replayed,
    /// The device's `issued_at` is more than five minutes from the server's clock;
    /// `server_time` says the server's time, so the app can tell the person how far off the
    /// device is and to set the date and time automatically.
    ClockSkew,
    /// The enrolment code is unknown, used or expired (one answer for all three).
    EnrolmentCodeInvalid,
    /// The PIN was wrong (counted); `attempts_left` says how many remain.
    WrongPin,
    /// Too many wrong PINs: the approval key is locked until a forgotten-PIN reset.
    Locked,
    /// The challenge or operation expired (server clock).
    Expired,
    /// Another answer to this challenge already won.
    AlreadyAnswered,
    /// The typed code did not match the code on the login page.
    CodeMismatch,
    /// The signature counter did not increase.
    CounterReused,
    /// The new PIN breaks the deployment's PIN policy.
    PinPolicy,
    /// The challenge or operation does not exist for this device.
    NotFound,
    /// Too many attempts; `retry_after` says when to try again.
    RateLimited,
    /// Password or one-time code wrong (one answer for both).
    BadCredentials,
    /// Something failed on the server; nothing was changed.
    Internal,
}

/// Every failed request's body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for programs.
    pub error: ErrorCode,
    /// What went wrong and what to do next, for people. Never contains a secret.
    pub message: String,
    /// For [`ErrorCode::WrongPin`]: attempts left before the lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u8>,
    /// For [`ErrorCode::RateLimited`]: seconds to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// For [`ErrorCode::ClockSkew`]: the server's time, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<u64>,
}
