//! Sign-ins: creating one for the login page (a challenge per device that can approve),
//! cancelling it, the pending list of a device, the signed challenge, and answering (P4: bound,
//! single use, number matching, judged by the server's clock), "this wasn't me", and what the
//! login page shows and redeems.

use latchkey_protocol::signed::{self, Decision};
use latchkey_protocol::types::{AccountId, ChallengeId, DeviceId};
use latchkey_protocol::wire::{
    Answer, AnswerOutcome, Challenge, DeviceRequest, ErrorCode, SignedChallenge,
};
use latchkey_protocol::PROTOCOL_VERSION;
use rand_core::OsRng;
use sqlx::Row as _;
use subtle::ConstantTimeEq as _;

use crate::attempts::Attempts;
use crate::devices::{self, states, Device};
use crate::error::ServerError;
use crate::events::Event;
use crate::{accounts, audit, requests, throttle, AppState};

/// Login states.
pub(crate) mod login_states {
    /// Waiting for a device.
    pub const PENDING: &str = "pending";
    /// Approved with PIN and the right code.
    pub const APPROVED: &str = "approved";
    /// Denied on a device.
    pub const DENIED: &str = "denied";
    /// Denied with "this wasn't me".
    pub const REPORTED: &str = "reported";
    /// The typed code did not match.
    pub const MISMATCH: &str = "mismatch";
    /// Cancelled in the browser (or replaced by a mailed-code sign-in): refused on devices.
    pub const CANCELLED: &str = "cancelled";
    /// Approved, and the approval redeemed by the browser (once).
    pub const USED: &str = "used";
}

/// Why a sign-in could not push to a device.
#[derive(Debug)]
pub enum SigninBlocked {
    /// The account has no device that can approve (none active, or all locked).
    NoDevice,
    /// "This wasn't me" muted pushes until this time.
    Muted(i64),
    /// Too many sign-ins are already waiting.
    TooManyPending,
    /// Storage failed.
    Failed(ServerError),
}

impl SigninBlocked {
    /// The refusal as a server error (for callers outside the login page).
    pub fn into_error(self) -> ServerError {
        match self {
            Self::NoDevice => ServerError::new(
                ErrorCode::NotFound,
                "the account has no device that can approve a sign-in",
            ),
            Self::Muted(_) => ServerError::new(
                ErrorCode::RateLimited,
                "sign-in requests are paused after \"this wasn't me\"",
            ),
            Self::TooManyPending => ServerError::new(
                ErrorCode::RateLimited,
                "too many sign-ins are already waiting",
            ),
            Self::Failed(e) => e,
        }
    }
}

impl From<ServerError> for SigninBlocked {
    fn from(e: ServerError) -> Self {
        Self::Failed(e)
    }
}

impl From<sqlx::Error> for SigninBlocked {
    fn from(e: sqlx::Error) -> Self {
        Self::Failed(e.into())
    }
}

/// A created sign-in (its number and context are read back from the database by the page).
pub struct Signin {
    /// The sign-in's id.
    pub login_id: String,
}

/// What a sign-in shows on the device, and the number to type.
#[derive(Debug, Default, Clone, Copy)]
pub struct Context<'a> {
    /// The browser and OS asking.
    pub browser: &'a str,
    /// Its address.
    pub ip: &'a str,
    /// The service signed in to (default: the server's service name).
    pub service: Option<&'a str>,
    /// A coarse place.
    pub location: Option<&'a str>,
    /// The number to type, chosen by the caller (a CIBA binding message); default: random.
    pub code: Option<&'a str>,
}

/// Creates a sign-in for `account` and pushes a challenge to each active device.
pub async fn create_signin(
    state: &AppState,
    account: &AccountId,
    browser: &str,
    ip: &str,
) -> Result<Signin, SigninBlocked> {
    create_signin_with(
        state,
        account,
        &Context {
            browser,
            ip,
            ..Context::default()
        },
    )
    .await
}

/// [`create_signin`] with the service, place and number given by the caller (relying parties).
pub async fn create_signin_with(
    state: &AppState,
    account: &AccountId,
    context: &Context<'_>,
) -> Result<Signin, SigninBlocked> {
    let Context {
        browser,
        ip,
        service,
        location,
        code,
    } = *context;
    let now = state.clock.now_i64();
    let policy = &state.config.policy;
    let muted_until = accounts::muted_until(state, account).await?;
    if muted_until > now {
        return Err(SigninBlocked::Muted(muted_until));
    }
    let pending: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM logins WHERE account_id = $1 AND state = $2 AND expires_at > $3",
    )
    .bind(account.to_string())
    .bind(login_states::PENDING)
    .bind(now)
    .fetch_one(&state.db)
    .await?
    .try_get("n")?;
    if pending >= policy.max_pending_pushes {
        return Err(SigninBlocked::TooManyPending);
    }
    // Locked devices cannot approve: pushing to them only to fail would strand the person.
    let devices: Vec<String> =
        sqlx::query("SELECT id, failures FROM devices WHERE account_id = $1 AND state = $2")
            .bind(account.to_string())
            .bind(states::ACTIVE)
            .fetch_all(&state.db)
            .await?
            .iter()
            .filter(|r| {
                r.try_get("failures")
                    .is_ok_and(|f| !Attempts::new(f, policy).locked())
            })
            .filter_map(|r| r.try_get("id").ok())
            .collect();
    if devices.is_empty() {
        return Err(SigninBlocked::NoDevice);
    }
    let login_id = ChallengeId::random(&mut OsRng).to_string();
    let code = code.map_or_else(
        || crate::codes::random_code(policy.code_digits),
        str::to_owned,
    );
    let expires_at = now + i64::try_from(policy.challenge_ttl).unwrap_or(120);
    let browser: String = browser.chars().take(120).collect();
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO logins (id, account_id, code, state, browser, ip, created_at, expires_at, \
         created_ms, service, location) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&login_id)
    .bind(account.to_string())
    .bind(&code)
    .bind(login_states::PENDING)
    .bind(&browser)
    .bind(ip)
    .bind(now)
    .bind(expires_at)
    .bind(state.clock.now_millis())
    .bind(service)
    .bind(location)
    .execute(&mut *tx)
    .await?;
    let mut pushes = Vec::new();
    for device in &devices {
        let challenge = ChallengeId::random(&mut OsRng);
        sqlx::query("INSERT INTO challenges (id, login_id, device_id) VALUES ($1, $2, $3)")
            .bind(challenge.to_string())
            .bind(&login_id)
            .bind(device)
            .execute(&mut *tx)
            .await?;
        // The push job commits with its challenge: a challenge is never created without it,
        // and a push that fails later never undoes the challenge (long-poll still has it).
        let queued = crate::push::outbox::enqueue_in(
            &mut tx,
            device,
            &challenge.to_string(),
            expires_at,
            state.clock.now_millis(),
        )
        .await?;
        if let Some(id) = DeviceId::parse(device) {
            pushes.push((id, challenge, queued));
        }
    }
    tx.commit().await?;
    for (device, challenge, queued) in pushes {
        state.events.publish(Event::ChallengeCreated {
            device,
            challenge,
            queued,
        });
    }
    Ok(Signin { login_id })
}

/// Cancels a waiting sign-in of `account`: from now on its requests are refused on every
/// device ("already answered") and leave their lists.
pub(crate) async fn cancel_login(
    state: &AppState,
    account: &AccountId,
    login_id: &str,
) -> Result<(), ServerError> {
    sqlx::query("UPDATE logins SET state = $1 WHERE id = $2 AND account_id = $3 AND state = $4")
        .bind(login_states::CANCELLED)
        .bind(login_id)
        .bind(account.to_string())
        .bind(login_states::PENDING)
        .execute(&state.db)
        .await?;
    state.events.publish(Event::SigninChanged {
        login: login_id.to_owned(),
    });
    Ok(())
}

/// A challenge with its sign-in, as stored.
struct Stored {
    challenge: Challenge,
    login_id: String,
    code: String,
    state: String,
    /// Counted PIN evaluations bound to this challenge (an approval needs one).
    evaluations: i64,
}

async fn load_challenge(
    state: &AppState,
    device: &Device,
    id: &ChallengeId,
) -> Result<Stored, ServerError> {
    load_challenge_in(&state.db, state, device, id).await
}

async fn load_challenge_in<'c, E>(
    db: E,
    state: &AppState,
    device: &Device,
    id: &ChallengeId,
) -> Result<Stored, ServerError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row = sqlx::query(
        "SELECT l.id AS login_id, l.code, l.state, l.browser, l.ip, l.created_at, l.expires_at, \
         l.service, l.location, c.evaluations \
         FROM challenges c JOIN logins l ON l.id = c.login_id \
         WHERE c.id = $1 AND c.device_id = $2",
    )
    .bind(id.to_string())
    .bind(device.id.to_string())
    .fetch_optional(db)
    .await?
    .ok_or_else(|| {
        ServerError::new(
            ErrorCode::NotFound,
            "this sign-in request does not exist for this device",
        )
    })?;
    let secs = |col: &str| -> Result<u64, ServerError> {
        Ok(u64::try_from(row.try_get::<i64, _>(col)?).unwrap_or(0))
    };
    Ok(Stored {
        challenge: Challenge {
            v: PROTOCOL_VERSION,
            id: *id,
            account: device.account,
            device: device.id,
            service: row
                .try_get::<Option<String>, _>("service")?
                .unwrap_or_else(|| state.config.policy.service_name.clone()),
            browser: row.try_get("browser")?,
            ip: row.try_get("ip")?,
            location: row.try_get("location")?,
            created_at: secs("created_at")?,
            expires_at: secs("expires_at")?,
            code_digits: state.config.policy.code_digits,
        },
        login_id: row.try_get("login_id")?,
        code: row.try_get("code")?,
        state: row.try_get("state")?,
        evaluations: row.try_get("evaluations")?,
    })
}

fn expired() -> ServerError {
    ServerError::new(
        ErrorCode::Expired,
        "this sign-in request expired; start the sign-in again",
    )
}

fn already_answered() -> ServerError {
    ServerError::new(
        ErrorCode::AlreadyAnswered,
        "this sign-in request was already answered",
    )
}

/// The refusal for a request that is no longer pending: cancelled in the browser (or replaced
/// by a newer sign-in there), or answered.
fn not_pending(stored: &Stored) -> ServerError {
    if stored.state == login_states::CANCELLED {
        ServerError::new(
            ErrorCode::AlreadyAnswered,
            "this sign-in request was cancelled in the browser (or replaced by a newer one); \
             answer the request that matches the login page",
        )
    } else {
        already_answered()
    }
}

/// Checks that an approval evaluation is for a live challenge of this device (the counted
/// evaluation then records it).
pub(crate) async fn bind_evaluation(
    state: &AppState,
    device: &Device,
    id: &ChallengeId,
) -> Result<(), ServerError> {
    let stored = load_challenge(state, device, id).await?;
    if stored.state != login_states::PENDING {
        return Err(not_pending(&stored));
    }
    if state.clock.now() >= stored.challenge.expires_at {
        return Err(expired());
    }
    Ok(())
}

/// The live requests of `device`, newest first. From the account's waiting sign-ins (an
/// index on account, state and expiry), never from every sign-in the device ever had.
pub(crate) async fn pending_ids(
    state: &AppState,
    device: &Device,
) -> Result<Vec<ChallengeId>, ServerError> {
    let rows = sqlx::query(
        "SELECT c.id FROM logins l JOIN challenges c ON c.login_id = l.id \
         WHERE l.account_id = $1 AND l.state = $2 AND l.expires_at > $3 AND c.device_id = $4 \
         ORDER BY l.created_at DESC, l.created_ms DESC",
    )
    .bind(device.account.to_string())
    .bind(login_states::PENDING)
    .bind(state.clock.now_i64())
    .bind(device.id.to_string())
    .fetch_all(&state.db)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get::<String, _>("id").ok())
        .filter_map(|id| ChallengeId::parse(&id))
        .collect())
}

/// The approval signature and the evaluation binding (read-only checks).
fn approve_checks(stored: &Stored, device: &Device, body: &Answer) -> Result<(), ServerError> {
    let approval_key = device.approval_key.ok_or_else(ServerError::unauthorized)?;
    let signature = body
        .approval_signature
        .as_ref()
        .ok_or_else(|| ServerError::bad_request("approving needs the approval signature"))?;
    let bytes = signed::answer(
        &device.account,
        &device.id,
        &body.challenge,
        &body.challenge_digest,
        &body.typed_code,
        Decision::Approve,
        body.counter,
    );
    if !approval_key.verify(&bytes, signature) {
        return Err(ServerError::bad_request(
            "the approval signature is invalid",
        ));
    }
    if stored.evaluations == 0 {
        return Err(ServerError::bad_request(
            "no PIN evaluation was made for this sign-in request",
        ));
    }
    Ok(())
}

/// "This wasn't me": mute pushes for the account and tell every address.
async fn report(state: &AppState, device: &Device, stored: &Stored) -> Result<(), ServerError> {
    let until =
        state.clock.now_i64() + i64::try_from(state.config.policy.mute_secs).unwrap_or(1200);
    accounts::mute(state, &device.account, until).await?;
    audit::record(
        state,
        &device.account,
        Some(&device.id),
        "signin_reported",
        &stored.challenge.ip,
    )
    .await;
    accounts::notify(
        state,
        &device.account,
        "A sign-in to your account was reported",
        &format!(
            "Someone who knows your password tried to sign in to {} from {} ({}), and you \
             reported it. Change your password now. Sign-in requests are paused for {} minutes.",
            state.config.policy.service_name,
            stored.challenge.ip,
            stored.challenge.browser,
            state.config.policy.mute_secs / 60
        ),
    )
    .await;
    Ok(())
}

/// Answers a sign-in request from a device (P4): the request id first (a replay is refused as
/// such), the reads, the PIN proof for approvals (P2), first valid answer wins, the audit event
/// — one transaction, one commit.
pub(crate) async fn answer(
    state: &AppState,
    request: &DeviceRequest<Answer>,
) -> Result<AnswerOutcome, ServerError> {
    let (device, claim) = requests::verify(state, request, &[states::ACTIVE]).await?;
    let body = &request.body;
    // One transaction, one commit: the request id first (a replay is refused as such), the
    // reads, the counter (approvals), first valid answer wins, the audit event.
    let mut tx = state.db.begin().await?;
    claim.record(state, &mut *tx).await?;
    let stored = load_challenge_in(&mut *tx, state, &device, &body.challenge).await?;
    if !stored.challenge.digest().ct_eq(&body.challenge_digest) {
        return Err(ServerError::bad_request(
            "the answer is for a different version of this sign-in request; fetch it again",
        ));
    }
    let ended = if stored.state != login_states::PENDING {
        Some(not_pending(&stored))
    } else if state.clock.now() >= stored.challenge.expires_at {
        Some(expired())
    } else {
        None
    };
    if let Some(refusal) = ended {
        // The request ended while the person typed (cancelled or replaced in the browser,
        // answered elsewhere, expired). A valid approval signature still proves the PIN was
        // right, so it resets the failure counter (P2: only a successful PIN use does); nothing
        // is approved.
        if body.decision == Decision::Approve
            && approve_checks(&stored, &device, body).is_ok()
            && devices::advance_counter(&mut tx, state, &device, body.counter)
                .await
                .is_ok()
        {
            tx.commit().await?;
        }
        return Err(refusal);
    }
    let now = state.clock.now_i64();
    let (new_state, outcome) = match body.decision {
        Decision::Approve => {
            approve_checks(&stored, &device, body)?;
            let matches: bool = stored
                .code
                .as_bytes()
                .ct_eq(body.typed_code.as_bytes())
                .into();
            if matches {
                (login_states::APPROVED, AnswerOutcome::Approved)
            } else {
                (login_states::MISMATCH, AnswerOutcome::Denied)
            }
        }
        Decision::Deny => (login_states::DENIED, AnswerOutcome::Denied),
        Decision::Report => (login_states::REPORTED, AnswerOutcome::Reported),
    };
    if body.decision == Decision::Approve {
        devices::advance_counter(&mut tx, state, &device, body.counter).await?;
    }
    let won = sqlx::query(
        "UPDATE logins SET state = $1, answered_by = $2, answered_at = $3 WHERE id = $4 AND state = $5 \
         AND expires_at > $3",
    )
    .bind(new_state)
    .bind(device.id.to_string())
    .bind(now)
    .bind(&stored.login_id)
    .bind(login_states::PENDING)
    .execute(&mut *tx)
    .await?;
    if won.rows_affected() != 1 {
        return Err(already_answered());
    }
    // A relying party's transaction: its outcome goes to the feed and webhook in this commit.
    crate::rp::outcome_in(&mut tx, state, &stored.login_id, new_state).await?;
    let event = match new_state {
        login_states::APPROVED => Some("signin_approved"),
        login_states::MISMATCH => Some("signin_code_mismatch"),
        login_states::REPORTED => None, // report() records it and tells the account
        _ => Some("signin_denied"),
    };
    if let Some(event) = event {
        audit::record_in(
            &mut tx,
            state,
            &device.account,
            Some(&device.id),
            event,
            &stored.challenge.ip,
        )
        .await?;
    }
    tx.commit().await?;
    state.events.publish(Event::SigninChanged {
        login: stored.login_id.clone(),
    });
    // A relying party's webhook or CIBA callback may be due now.
    state.rp.wake();
    match new_state {
        login_states::MISMATCH => {
            return Err(ServerError::new(
                ErrorCode::CodeMismatch,
                "the number you typed is not the one on the login page; the sign-in was refused, start it again",
            ));
        }
        login_states::REPORTED => report(state, &device, &stored).await?,
        _ => {}
    }
    Ok(outcome)
}

/// The pending request `id` of `device`, signed with the key pinned at enrolment.
pub(crate) async fn signed_challenge(
    state: &AppState,
    device: &Device,
    id: &ChallengeId,
) -> Result<SignedChallenge, ServerError> {
    let stored = load_challenge(state, device, id).await?;
    if stored.state != login_states::PENDING {
        return Err(not_pending(&stored));
    }
    if state.clock.now() >= stored.challenge.expires_at {
        return Err(expired());
    }
    let signature = state.keys.sign_challenge(&stored.challenge.signed_bytes());
    Ok(SignedChallenge {
        challenge: stored.challenge,
        signature,
        server_time: state.clock.now(),
    })
}

/// The number shown with sign-in `login_id`.
pub(crate) async fn code(state: &AppState, login_id: &str) -> Result<String, ServerError> {
    Ok(sqlx::query("SELECT code FROM logins WHERE id = $1")
        .bind(login_id)
        .fetch_one(&state.db)
        .await?
        .try_get("code")?)
}

/// Seconds after a PIN evaluation during which it may still be a right PIN whose approval is
/// on its way; after that (or once another evaluation follows) it was a wrong PIN.
const PIN_CHECK_GRACE_SECS: i64 = 8;

/// What the devices asked to approve a waiting sign-in did so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Nothing to report.
    Waiting,
    /// A PIN was evaluated moments ago: the approval may be on its way.
    Checking,
    /// Wrong PINs were typed on a device, which has `left` attempts before it locks. (Not
    /// named: this page is shown before the sign-in is approved, to a password holder.)
    WrongPin { left: i64 },
    /// No device asked can approve any more, and at least one is locked after wrong PINs.
    Locked,
    /// Every device asked was removed (or its enrolment ended) meanwhile.
    Removed,
}

/// The state of a sign-in, for the page and its live updates.
pub(crate) struct LoginView {
    pub code: String,
    pub state: String,
    pub browser: String,
    pub ip: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub progress: Progress,
}

/// Sign-in `login` of `account`, as its page shows it.
pub(crate) async fn login_view(
    state: &AppState,
    account: &AccountId,
    login: &str,
) -> Result<Option<LoginView>, ServerError> {
    let row = sqlx::query(
        "SELECT code, state, browser, ip, created_at, expires_at FROM logins \
         WHERE id = $1 AND account_id = $2",
    )
    .bind(login)
    .bind(account.to_string())
    .fetch_optional(&state.db)
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let progress = progress(state, login).await?;
    Ok(Some(LoginView {
        code: r.try_get("code")?,
        state: r.try_get("state")?,
        browser: r.try_get("browser")?,
        ip: r.try_get("ip")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        progress,
    }))
}

/// Wrong PINs and locks on the devices a sign-in was sent to.
async fn progress(state: &AppState, login: &str) -> Result<Progress, ServerError> {
    let rows = sqlx::query(
        "SELECT c.evaluations, c.evaluated_at, d.failures, d.state FROM challenges c \
         JOIN devices d ON d.id = c.device_id WHERE c.login_id = $1",
    )
    .bind(login)
    .fetch_all(&state.db)
    .await?;
    let now = state.clock.now_i64();
    let mut usable = 0;
    let mut locked = 0;
    let mut checking = false;
    let mut wrong: Option<i64> = None;
    for r in &rows {
        let attempts = Attempts::new(r.try_get("failures")?, &state.config.policy);
        let device_state: String = r.try_get("state")?;
        if device_state != states::ACTIVE {
            continue;
        }
        if attempts.locked() {
            locked += 1;
            continue;
        }
        usable += 1;
        let evaluations: i64 = r.try_get("evaluations")?;
        let recent =
            evaluations > 0 && now - r.try_get::<i64, _>("evaluated_at")? < PIN_CHECK_GRACE_SECS;
        checking |= recent;
        if evaluations - i64::from(recent) > 0 {
            let left = i64::from(attempts.left());
            if wrong.is_none_or(|l| left < l) {
                wrong = Some(left);
            }
        }
    }
    Ok(if !rows.is_empty() && usable == 0 && locked > 0 {
        Progress::Locked
    } else if !rows.is_empty() && usable == 0 {
        Progress::Removed
    } else if let Some(left) = wrong {
        Progress::WrongPin { left }
    } else if checking {
        Progress::Checking
    } else {
        Progress::Waiting
    })
}

/// What redeeming an approved sign-in gives the browser.
pub(crate) struct Redeemed {
    /// When the device approved it (the session counts as confirmed from then).
    pub answered_at: i64,
    /// When the password was typed (its throttle count is given back).
    pub created_at: i64,
    /// The browser's address.
    pub ip: String,
}

/// The state of sign-in `login` once it is answered (no longer pending); `None` while it
/// waits or if there is no such sign-in.
pub(crate) async fn answered_state(
    state: &AppState,
    login: &str,
) -> Result<Option<String>, ServerError> {
    Ok(
        sqlx::query_scalar::<_, String>("SELECT state FROM logins WHERE id = $1 AND state <> $2")
            .bind(login)
            .bind(login_states::PENDING)
            .fetch_optional(&state.db)
            .await?,
    )
}

/// Turns an approved sign-in into a session, once: two tabs cannot both redeem one approval.
pub(crate) async fn redeem(
    state: &AppState,
    account: &AccountId,
    login: &str,
) -> Result<Option<Redeemed>, ServerError> {
    let row = sqlx::query(
        "UPDATE logins SET state = $1 WHERE id = $2 AND account_id = $3 AND state = $4 \
         RETURNING answered_at, created_at, ip",
    )
    .bind(login_states::USED)
    .bind(login)
    .bind(account.to_string())
    .bind(login_states::APPROVED)
    .fetch_optional(&state.db)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Redeemed {
        answered_at: r.try_get("answered_at")?,
        created_at: r.try_get("created_at")?,
        ip: r.try_get("ip")?,
    }))
}

/// Counts a password attempt for the login throttle, per address and per IP, before any
/// password work; a sign-in that completes gives its count back ([`completed`]), so only
/// failures and unfinished sign-ins count.
///
/// # Errors
/// `rate_limited` with the wait.
pub(crate) async fn count_password_attempt(
    state: &AppState,
    email: &str,
    ip: &str,
) -> Result<(), ServerError> {
    for key in [login_key_email(email), login_key_ip(ip)] {
        throttle::count(state, &key, state.config.policy.login_attempts, 900).await?;
    }
    Ok(())
}

fn login_key_email(email: &str) -> String {
    format!("login:email:{email}")
}

fn login_key_ip(ip: &str) -> String {
    format!("login:ip:{ip}")
}

/// A sign-in of `account` completed (approved on a device, a mailed code, or a brand-new
/// account's password): the password attempt made at `attempted_at` (from `ip`, when known) no
/// longer counts against the login throttle.
pub(crate) async fn completed(
    state: &AppState,
    account: &AccountId,
    ip: Option<&str>,
    attempted_at: i64,
) -> Result<(), ServerError> {
    let email = accounts::email(state, account).await?;
    throttle::refund(state, &login_key_email(&email), attempted_at).await?;
    if let Some(ip) = ip {
        throttle::refund(state, &login_key_ip(ip), attempted_at).await?;
    }
    Ok(())
}

/// Deletes sign-ins (and their challenges) a week after they expired, at most 10,000 per
/// call in batches: nothing needs them any more (the audit trail keeps what happened), and a
/// table that only grows slows every query that touches it.
///
/// # Errors
/// A storage failure.
pub(crate) async fn sweep_ended(state: &AppState) -> Result<u64, ServerError> {
    let before = state.clock.now_i64() - 7 * 86_400;
    crate::db::delete_older(&state.db, "logins", "expires_at", before).await
}
