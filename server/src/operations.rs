//! PIN change and forgotten-PIN reset: two-phase, with a fresh OPRF key and a fresh approval
//! key, committed once (one commit for both), and the status that settles an interrupted one.

use latchkey_protocol::b64;
use latchkey_protocol::oprf;
use latchkey_protocol::secret::{OneTimeCode, OprfKey};
use latchkey_protocol::signed;
use latchkey_protocol::types::{Digest, Element, OperationId, PublicKey, Signature};
use latchkey_protocol::wire::{
    CommitResponse, ErrorCode, OperationState, OperationStatus, OperationStatusResponse,
    PinChangeCommit, PinChangeStart, PinChangeStartResponse, PinResetCommit, PinResetStart,
    PinResetStartResponse, PinResetVerify, PinResetVerifyResponse,
};
use rand_core::OsRng;
use sqlx::Row as _;

use crate::devices::{self, states, Device};
use crate::error::ServerError;
use crate::{accounts, audit, throttle, AppState};

mod op_states {
    pub const STARTED: &str = "started";
    pub const STAGED: &str = "staged";
    pub const COMMITTED: &str = "committed";
    pub const ABORTED: &str = "aborted";
}

struct Operation {
    kind: String,
    state: String,
    staged_key: Option<String>,
    new_epoch: u32,
    code_hash: Option<String>,
    expires_at: i64,
}

async fn load_op(
    state: &AppState,
    device: &Device,
    op: &OperationId,
) -> Result<Option<Operation>, ServerError> {
    let row = sqlx::query(
        "SELECT kind, state, staged_key, new_epoch, code_hash, expires_at FROM operations \
         WHERE device_id = $1 AND id = $2",
    )
    .bind(device.id.to_string())
    .bind(op.to_string())
    .fetch_optional(&state.db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Operation {
        kind: row.try_get("kind")?,
        state: row.try_get("state")?,
        staged_key: row.try_get("staged_key")?,
        new_epoch: u32::try_from(row.try_get::<i64, _>("new_epoch")?).unwrap_or(0),
        code_hash: row.try_get("code_hash")?,
        expires_at: row.try_get("expires_at")?,
    }))
}

fn op_missing() -> ServerError {
    ServerError::new(
        ErrorCode::NotFound,
        "this PIN change or reset is not in progress; start it again",
    )
}

fn op_expired() -> ServerError {
    ServerError::new(ErrorCode::Expired, "this PIN change or reset took too long and expired; start again; your old PIN is unchanged")
}

/// A fresh OPRF key for `device`, sealed for the operation, and the new PIN's evaluation.
fn stage_key(
    state: &AppState,
    device: &Device,
    blinded: &Element,
) -> Result<(String, Element), ServerError> {
    let fresh = OprfKey::generate(&mut OsRng);
    let evaluated = oprf::blind_evaluate(&fresh, blinded)
        .map_err(|_| ServerError::bad_request("invalid blinded PIN"))?;
    // EXPOSE: the staged OPRF key is sealed under the master key for the database.
    Ok((
        state
            .keys
            .seal("oprf", &device.id.to_string(), fresh.expose_secret()),
        evaluated,
    ))
}

/// Starts a PIN change: the old PIN counted (P2), the new one evaluated under a fresh key.
pub(crate) async fn change_start(
    state: &AppState,
    device: &Device,
    body: &PinChangeStart,
) -> Result<PinChangeStartResponse, ServerError> {
    if load_op(state, device, &body.operation).await?.is_some() {
        return Err(ServerError::bad_request(
            "this operation id was already used; choose a new one",
        ));
    }
    let (old_evaluated_pin, attempts_left) =
        devices::counted_evaluate(state, device, &body.old_blinded_pin, None, None).await?;
    let (sealed, new_evaluated_pin) = stage_key(state, device, &body.new_blinded_pin)?;
    let now = state.clock.now_i64();
    let expires_at = now + i64::try_from(state.config.policy.operation_ttl).unwrap_or(900);
    let new_epoch = device.epoch + 1;
    sqlx::query(
        "INSERT INTO operations (device_id, id, kind, state, staged_key, new_epoch, created_at, expires_at) \
         VALUES ($1, $2, 'change', $3, $4, $5, $6, $7)",
    )
    .bind(device.id.to_string())
    .bind(body.operation.to_string())
    .bind(op_states::STAGED)
    .bind(sealed)
    .bind(i64::from(new_epoch))
    .bind(now)
    .bind(expires_at)
    .execute(&state.db)
    .await?;
    Ok(PinChangeStartResponse {
        old_evaluated_pin,
        new_evaluated_pin,
        new_epoch,
        attempts_left,
        expires_at: u64::try_from(expires_at).unwrap_or(0),
    })
}

/// Swaps the device to the staged OPRF key and the new approval key, atomically with the
/// operation's commit. Idempotent for a resent commit of the same key.
async fn commit_swap(
    state: &AppState,
    device: &Device,
    operation: &OperationId,
    op: &Operation,
    new_key: &PublicKey,
) -> Result<CommitResponse, ServerError> {
    let sealed = op.staged_key.as_ref().ok_or_else(op_missing)?;
    if device.approval_key.as_ref() == Some(new_key) {
        // A PIN change or reset issues a fresh key: the old one must stop working.
        return Err(ServerError::bad_request(
            "the new approval key is the current one; a PIN change needs a fresh key",
        ));
    }
    let mut tx = state.durable_db.begin().await?;
    let swapped = sqlx::query(
        "UPDATE devices SET oprf_key = $1, approval_key = $2, epoch = $3, last_used_at = $4 \
         WHERE id = $5 AND epoch = $6 AND state = $7",
    )
    .bind(sealed)
    .bind(devices::key_text(new_key))
    .bind(i64::from(op.new_epoch))
    .bind(state.clock.now_i64())
    .bind(device.id.to_string())
    .bind(i64::from(op.new_epoch) - 1)
    .bind(states::ACTIVE)
    .execute(&mut *tx)
    .await?;
    let committed = sqlx::query(
        "UPDATE operations SET state = $1, staged_key = NULL WHERE device_id = $2 AND id = $3 AND state = $4",
    )
    .bind(op_states::COMMITTED)
    .bind(device.id.to_string())
    .bind(operation.to_string())
    .bind(op_states::STAGED)
    .execute(&mut *tx)
    .await?;
    if swapped.rows_affected() != 1 || committed.rows_affected() != 1 {
        return Err(ServerError::new(
            ErrorCode::BadRequest,
            "the PIN was changed in the meantime; start again",
        ));
    }
    // The new key was proven (pin-change or pin-reset proof by the new key): the counter starts
    // from zero, and a device locked by wrong PINs is unlocked by "Forgot PIN" (P2, P7).
    crate::attempts::reset(&mut tx, &device.id).await?;
    tx.commit().await?;
    Ok(CommitResponse {
        epoch: op.new_epoch,
    })
}

/// A resent commit after the first one succeeded (crash between commit and promote).
fn already_committed(
    device: &Device,
    op: &Operation,
    new_key: &PublicKey,
) -> Option<CommitResponse> {
    (op.state == op_states::COMMITTED
        && device.approval_key.as_ref() == Some(new_key)
        && device.epoch == op.new_epoch)
        .then_some(CommitResponse {
            epoch: op.new_epoch,
        })
}

/// The staged operation a commit names, or what to answer instead: the resent commit of an
/// already committed operation (`Ok(Err(response))`), or an error.
async fn staged_for_commit(
    state: &AppState,
    device: &Device,
    operation: &OperationId,
    kind: &str,
    new_key: &PublicKey,
) -> Result<Result<Operation, CommitResponse>, ServerError> {
    let op = load_op(state, device, operation)
        .await?
        .filter(|o| o.kind == kind)
        .ok_or_else(op_missing)?;
    if let Some(done) = already_committed(device, &op, new_key) {
        return Ok(Err(done));
    }
    if op.state != op_states::STAGED {
        return Err(op_missing());
    }
    if state.clock.now_i64() >= op.expires_at {
        return Err(op_expired());
    }
    Ok(Ok(op))
}

fn reset_code_hash(operation: &OperationId, code: &str) -> String {
    let digest = Digest::of(format!("latchkey-reset/{operation}/{code}").as_bytes());
    b64::encode(digest.as_bytes())
}

/// Starts a forgotten-PIN reset: throttled (P7), the password checked, a code mailed.
pub(crate) async fn reset_start(
    state: &AppState,
    device: &Device,
    peer: std::net::IpAddr,
    body: &PinResetStart,
) -> Result<PinResetStartResponse, ServerError> {
    // Resets are rate-limited per account and per IP (P7), before the password is checked.
    throttle::count(state, &format!("reset:account:{}", device.account), 3, 3600).await?;
    throttle::count(
        state,
        &format!("reset:ip:{}", peer),
        state.config.policy.resets_per_ip,
        3600,
    )
    .await?;
    // EXPOSE: the password is verified against its argon2id hash and dropped.
    let password = body.password.expose_secret();
    if !accounts::password_matches(state, &device.account, password).await? {
        audit::record(
            state,
            &device.account,
            Some(&device.id),
            "pin_reset_bad_password",
            "",
        )
        .await;
        return Err(ServerError::new(
            ErrorCode::BadCredentials,
            "the password or the code is wrong",
        ));
    }
    if load_op(state, device, &body.operation).await?.is_some() {
        return Err(ServerError::bad_request(
            "this operation id was already used; choose a new one",
        ));
    }
    let code = zeroize::Zeroizing::new(crate::codes::random_code(8));
    let now = state.clock.now_i64();
    let expires_at = now + i64::try_from(state.config.policy.operation_ttl).unwrap_or(900);
    sqlx::query(
        "INSERT INTO operations (device_id, id, kind, state, new_epoch, code_hash, created_at, expires_at) \
         VALUES ($1, $2, 'reset', $3, $4, $5, $6, $7)",
    )
    .bind(device.id.to_string())
    .bind(body.operation.to_string())
    .bind(op_states::STARTED)
    .bind(i64::from(device.epoch + 1))
    .bind(reset_code_hash(&body.operation, &code))
    .bind(now)
    .bind(expires_at)
    .execute(&state.db)
    .await?;
    let addresses = accounts::addresses(state, &device.account).await?;
    let service = &state.config.policy.service_name;
    for address in &addresses {
        let body = zeroize::Zeroizing::new(format!(
            "Your code to choose a new {service} PIN on the device \"{}\" is:\n\n    {}\n\n\
             It expires in {} minutes. If you did not ask for it, someone has your password: \
             change it now, and do not give this code to anyone.",
            device.name,
            code.as_str(),
            state.config.policy.operation_ttl / 60
        ));
        if let Err(e) = state
            .mailer
            .send(
                address,
                &format!("{service}: your code to reset your PIN"),
                &body,
            )
            .await
        {
            return Err(ServerError::internal("reset code not delivered", e));
        }
    }
    audit::record(
        state,
        &device.account,
        Some(&device.id),
        "pin_reset_code_sent",
        "",
    )
    .await;
    Ok(PinResetStartResponse {
        sent_to: addresses
            .iter()
            .map(|a| accounts::mask_address(a))
            .collect(),
        expires_at: u64::try_from(expires_at).unwrap_or(0),
    })
}

/// Checks the mailed code (5 tries) and stages the new PIN under a fresh key.
pub(crate) async fn reset_verify(
    state: &AppState,
    device: &Device,
    body: &PinResetVerify,
) -> Result<PinResetVerifyResponse, ServerError> {
    let bad = || {
        ServerError::new(
            ErrorCode::BadCredentials,
            "the password or the code is wrong",
        )
    };
    // Count the attempt first (at most 5 per operation), then compare in constant time.
    let counted = sqlx::query(
        "UPDATE operations SET attempts = attempts + 1 WHERE device_id = $1 AND id = $2 AND kind = 'reset' \
         AND state = $3 AND attempts < 5 AND expires_at > $4",
    )
    .bind(device.id.to_string())
    .bind(body.operation.to_string())
    .bind(op_states::STARTED)
    .bind(state.clock.now_i64())
    .execute(&state.db)
    .await?;
    let op = load_op(state, device, &body.operation).await?;
    let Some(op) = op.filter(|_| counted.rows_affected() == 1) else {
        return Err(bad());
    };
    let expected = op.code_hash.clone().unwrap_or_default();
    let presented = reset_code_hash(&body.operation, code_text(&body.code));
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        presented.as_bytes(),
    )) {
        return Err(bad());
    }
    let (sealed, new_evaluated_pin) = stage_key(state, device, &body.new_blinded_pin)?;
    let staged = sqlx::query(
        "UPDATE operations SET state = $1, staged_key = $2, code_hash = NULL WHERE device_id = $3 AND id = $4 AND state = $5",
    )
    .bind(op_states::STAGED)
    .bind(sealed)
    .bind(device.id.to_string())
    .bind(body.operation.to_string())
    .bind(op_states::STARTED)
    .execute(&state.db)
    .await?;
    if staged.rows_affected() != 1 {
        // A concurrent verify staged its own key first: this evaluation's key was never kept,
        // so a PIN sealed with it would not open after the commit.
        return Err(bad());
    }
    Ok(PinResetVerifyResponse {
        new_evaluated_pin,
        new_epoch: op.new_epoch,
        expires_at: u64::try_from(op.expires_at).unwrap_or(0),
    })
}

fn code_text(code: &OneTimeCode) -> &str {
    // EXPOSE: the one-time code is hashed for the comparison.
    code.expose_secret().trim()
}

/// Where an operation of this device stands (after an interrupted change or reset).
pub(crate) async fn status(
    state: &AppState,
    device: &Device,
    body: &OperationStatus,
) -> Result<OperationStatusResponse, ServerError> {
    let op = load_op(state, device, &body.operation).await?;
    let now = state.clock.now_i64();
    let state_now = match op {
        None => OperationState::Unknown,
        Some(op) if op.state == op_states::COMMITTED => OperationState::Committed,
        Some(op) if op.state == op_states::ABORTED || now >= op.expires_at => {
            OperationState::Aborted
        }
        Some(_) => OperationState::Pending,
    };
    Ok(OperationStatusResponse {
        state: state_now,
        epoch: device.epoch,
    })
}

/// The two operations that replace a device's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A PIN change (the old PIN proven by the old key).
    Change,
    /// A forgotten-PIN reset (the password and the mailed code proven at verify).
    Reset,
}

impl Kind {
    fn stored(self) -> &'static str {
        match self {
            Self::Change => "change",
            Self::Reset => "reset",
        }
    }
}

/// A commit's body: the operation, the new approval key and what proves it.
pub(crate) trait CommitBody {
    /// The operation, the new key and the proof.
    fn parts(&self) -> (&OperationId, &PublicKey, Proof<'_>);
}

impl CommitBody for PinChangeCommit {
    fn parts(&self) -> (&OperationId, &PublicKey, Proof<'_>) {
        let proof = Proof::Change {
            old: &self.old_proof,
            new: &self.new_proof,
        };
        (&self.operation, &self.new_approval_key, proof)
    }
}

impl CommitBody for PinResetCommit {
    fn parts(&self) -> (&OperationId, &PublicKey, Proof<'_>) {
        let proof = Proof::Reset {
            new: &self.new_proof,
        };
        (&self.operation, &self.new_approval_key, proof)
    }
}

/// What a commit proves: the statement signed by the new key (and, for a change, the old one).
pub(crate) enum Proof<'a> {
    Change {
        old: &'a Signature,
        new: &'a Signature,
    },
    Reset {
        new: &'a Signature,
    },
}

impl Proof<'_> {
    fn kind(&self) -> Kind {
        match self {
            Self::Change { .. } => Kind::Change,
            Self::Reset { .. } => Kind::Reset,
        }
    }

    /// Checks the signatures over the operation's statement.
    fn check(
        &self,
        device: &Device,
        operation: &OperationId,
        new_key: &PublicKey,
        new_epoch: u32,
    ) -> Result<(), ServerError> {
        match self {
            Self::Change { old, new } => {
                let bytes = signed::pin_change_proof(
                    &device.account,
                    &device.id,
                    operation,
                    new_key,
                    new_epoch,
                );
                let old_key = device.approval_key.ok_or_else(ServerError::unauthorized)?;
                if !old_key.verify(&bytes, old) || !new_key.verify(&bytes, new) {
                    return Err(ServerError::bad_request(
                        "the PIN change proofs are invalid",
                    ));
                }
            }
            Self::Reset { new } => {
                let bytes = signed::pin_reset_proof(
                    &device.account,
                    &device.id,
                    operation,
                    new_key,
                    new_epoch,
                );
                if !new_key.verify(&bytes, new) {
                    return Err(ServerError::bad_request("the PIN reset proof is invalid"));
                }
            }
        }
        Ok(())
    }
}

/// The second phase of a change or a reset, written once: the staged operation (or the answer
/// to a resent commit), the proofs, the swap, the audit event and the notice to every address.
pub(crate) async fn commit(
    state: &AppState,
    device: &Device,
    body: &impl CommitBody,
) -> Result<CommitResponse, ServerError> {
    let (operation, new_key, proof) = body.parts();
    let kind = proof.kind();
    let op = match staged_for_commit(state, device, operation, kind.stored(), new_key).await? {
        Ok(op) => op,
        Err(done) => return Ok(done),
    };
    proof.check(device, operation, new_key, op.new_epoch)?;
    let response = commit_swap(state, device, operation, &op, new_key).await?;
    let service = &state.config.policy.service_name;
    let (event, subject, body) = match kind {
        Kind::Change => (
            "pin_changed",
            "Your PIN was changed",
            format!(
                "The PIN of the device \"{}\" on your {service} account was changed. If this was \
                 not you, remove the device on the \"Manage my devices\" page and change your \
                 password now.",
                device.name
            ),
        ),
        Kind::Reset => (
            "pin_reset",
            "Your PIN was reset",
            format!(
                "The PIN of the device \"{}\" on your {service} account was reset with your \
                 password and a code sent to this address. If this was not you, remove the \
                 device on the \"Manage my devices\" page and change your password now.",
                device.name
            ),
        ),
    };
    audit::record(
        state,
        &device.account,
        Some(&device.id),
        event,
        &device.name,
    )
    .await;
    accounts::notify(state, &device.account, subject, &body).await;
    Ok(response)
}
