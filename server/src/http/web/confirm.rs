//! The one-time code mailed to the account (P7): signing in when no device can approve
//! ("I can't use my device", all devices removed or locked), and confirming who you are
//! before adding or removing a device when the session has not proved it recently.
//!
//! A code is 8 digits, mailed to every address on the account, valid 10 minutes, bound to
//! one browser session (stored only as a hash with the session), at most 5 attempts, and at
//! most `Policy::mailed_codes_per_hour` codes per account an hour. Every sign-in made with a
//! code is told to every address.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use latchkey_protocol::b64;
use latchkey_protocol::types::{AccountId, Digest};
use serde::Deserialize;
use sqlx::Row as _;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::session::{self, stages, strengths, Session};
use super::{csrf_refused, render, with_cookie, PageError};

use crate::{accounts, audit, devices, signins, throttle};
use crate::error::ServerError;
use crate::AppState;

/// How long a mailed code is valid, seconds.
pub const CODE_TTL: i64 = 600;
/// Attempts per mailed code.
pub const CODE_ATTEMPTS: i64 = 5;

/// Routes of the mailed code.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/login/code", get(login_code_page).post(login_code))
        .route("/login/code/resend", post(login_code_resend))
        .route("/login/nodevice", post(no_device))
        .route("/confirm", get(confirm_page).post(confirm_code))
        .route("/confirm/send", post(confirm_send))
}

/// Where a confirmed session may be sent on (never an address from elsewhere).
fn safe_next(next: Option<&str>) -> &'static str {
    match next {
        Some("/devices/add") => "/devices/add",
        _ => "/account",
    }
}

fn code_hash(session: &Session, code: &str) -> String {
    let digest = Digest::of(
        format!("latchkey-mailed-code/{}/{}", session.id_hash(), code.trim()).as_bytes(),
    );
    b64::encode(digest.as_bytes())
}

/// Mails a fresh code for `session` to every address of `account` (rate-limited per account);
/// returns the masked addresses.
///
/// # Errors
/// `rate_limited` with the seconds to wait; storage and mail failures.
pub(crate) async fn send_code(
    state: &AppState,
    session: &Session,
    account: &AccountId,
    why: &str,
) -> Result<Vec<String>, ServerError> {
    throttle::count(
        state,
        &format!("mailcode:account:{account}"),
        state.config.policy.mailed_codes_per_hour,
        3600,
    )
    .await?;
    let code = Zeroizing::new(crate::codes::random_code(8));
    let now = state.clock.now_i64();
    sqlx::query(
        "UPDATE sessions SET code_hash = $1, code_expires_at = $2, code_attempts = 0 WHERE id_hash = $3",
    )
    .bind(code_hash(session, &code))
    .bind(now + CODE_TTL)
    .bind(session.id_hash())
    .execute(&state.db)
    .await?;
    let addresses = accounts::addresses(state, account).await?;
    let service = &state.config.policy.service_name;
    for address in &addresses {
        let body = Zeroizing::new(format!(
            "Your code to {why} on {service} is:\n\n    {}\n\n\
             It expires in {} minutes. If you did not ask for it, someone has your password: \
             change it now, and do not give this code to anyone.",
            code.as_str(),
            CODE_TTL / 60
        ));
        state
            .mailer
            .send(address, &format!("{service}: your one-time code"), &body)
            .await
            .map_err(|e| ServerError::internal("one-time code not delivered", e))?;
    }
    audit::record(state, account, None, "mailed_code_sent", why).await;
    Ok(addresses.iter().map(|a| accounts::mask_address(a)).collect())
}

/// What to tell a person whose code could not be sent.
fn send_failed(e: &ServerError) -> String {
    match e.retry_after() {
        Some(wait) => format!(
            "Too many codes were sent to this account in the last hour. Use the newest code you \
             received, or try again in {} minutes.",
            wait.div_ceil(60)
        ),
        None => "The code could not be sent. Try again in a moment.".into(),
    }
}

/// What checking a presented code found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CodeCheck {
    /// The code is right (and now used up).
    Right,
    /// Wrong; attempts remain.
    Wrong,
    /// No live code: none sent, expired, or its attempts used up.
    Gone,
}

/// Counts the attempt first, then compares in constant time; a right code is used up.
pub(crate) async fn check_code(
    state: &AppState,
    session: &Session,
    presented: &str,
) -> Result<CodeCheck, ServerError> {
    let counted = sqlx::query(
        "UPDATE sessions SET code_attempts = code_attempts + 1 WHERE id_hash = $1 \
         AND code_hash IS NOT NULL AND code_attempts < $2 AND code_expires_at > $3",
    )
    .bind(session.id_hash())
    .bind(CODE_ATTEMPTS)
    .bind(state.clock.now_i64())
    .execute(&state.db)
    .await?;
    if counted.rows_affected() != 1 {
        return Ok(CodeCheck::Gone);
    }
    let expected: Option<String> = sqlx::query("SELECT code_hash FROM sessions WHERE id_hash = $1")
        .bind(session.id_hash())
        .fetch_one(&state.db)
        .await?
        .try_get("code_hash")?;
    let presented = code_hash(session, presented);
    let right = expected.is_some_and(|e| bool::from(e.as_bytes().ct_eq(presented.as_bytes())));
    if !right {
        return Ok(CodeCheck::Wrong);
    }
    let used =
        sqlx::query("UPDATE sessions SET code_hash = NULL WHERE id_hash = $1 AND code_hash = $2")
            .bind(session.id_hash())
            .bind(&presented)
            .execute(&state.db)
            .await?;
    Ok(if used.rows_affected() == 1 {
        CodeCheck::Right
    } else {
        CodeCheck::Gone
    })
}

#[derive(Template)]
#[template(path = "code.html")]
struct CodePage<'a> {
    service: &'a str,
    title: &'a str,
    intro: String,
    csrf: &'a str,
    action: &'a str,
    resend: &'a str,
    next: &'a str,
    sent: bool,
    error: Option<String>,
}

/// Starts the mailed-code sign-in for a password-checked account with no usable device: a
/// new session in the `code` stage, the code mailed. Returns the page to show.
pub(crate) async fn start_login(
    state: &AppState,
    account: &AccountId,
    reason: &str,
) -> Result<Response, PageError> {
    let (session, cookie) = session::create(state, Some(account), stages::CODE, None).await?;
    let page = match send_code(state, &session, account, "sign in without your device").await {
        Ok(sent_to) => code_login_page(state, &session, reason, &sent_to, None),
        Err(e) => code_login_page(state, &session, reason, &[], Some(send_failed(&e))),
    };
    Ok(with_cookie(page, Some(cookie)))
}

fn code_login_page(
    state: &AppState,
    session: &Session,
    reason: &str,
    sent_to: &[String],
    error: Option<String>,
) -> Response {
    let intro = if sent_to.is_empty() {
        format!(
            "{reason} Sign in with a one-time code sent to the e-mail addresses of your account."
        )
    } else {
        format!(
            "{reason} We e-mailed a one-time code to {}. Type it here to sign in. It is valid for {} minutes.",
            sent_to.join(", "),
            CODE_TTL / 60
        )
    };
    let status = if error.is_some() {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::OK
    };
    (
        status,
        render(&CodePage {
            service: &state.config.policy.service_name,
            title: "Sign in with a code sent by e-mail",
            intro,
            csrf: &session.csrf,
            action: "/login/code",
            resend: "/login/code/resend",
            next: "",
            sent: !sent_to.is_empty(),
            error,
        }),
    )
        .into_response()
}

/// The code form.
#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    #[serde(default)]
    code: Zeroizing<String>,
    #[serde(default)]
    next: String,
}

/// A form with only the CSRF token (and where to go next).
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
    #[serde(default)]
    next: String,
}

/// The session of a password-checked sign-in waiting for its mailed code.
fn waiting_for_code(session: &Session) -> Option<AccountId> {
    (session.stage == stages::CODE)
        .then_some(session.account)
        .flatten()
}

/// The request's session with its account, if `pick` accepts it.
async fn session_for(
    state: &AppState,
    headers: &HeaderMap,
    pick: fn(&Session) -> Option<AccountId>,
) -> Result<Option<(Session, AccountId)>, PageError> {
    Ok(session::current(state, headers)
        .await?
        .and_then(|s| pick(&s).map(|a| (s, a))))
}

/// [`session_for`] for a posted form: its CSRF token must be the session's.
async fn posting_session(
    state: &AppState,
    headers: &HeaderMap,
    pick: fn(&Session) -> Option<AccountId>,
    csrf: &str,
) -> Result<Option<(Session, AccountId)>, PageError> {
    match session_for(state, headers, pick).await? {
        Some((session, _)) if !session.csrf_ok(csrf) => Err(csrf_refused()),
        found => Ok(found),
    }
}

/// A fresh session id for the session that just proved a mailed code (against fixation).
async fn mailed_session(
    state: &AppState,
    session: &Session,
    account: &AccountId,
) -> Result<axum::http::HeaderValue, PageError> {
    session::destroy(state, session).await?;
    let (_, cookie) = session::create_with(
        state,
        Some(account),
        stages::SIGNED_IN,
        None,
        strengths::MAILED,
    )
    .await?;
    Ok(cookie)
}

impl CodeCheck {
    /// What to tell the person when the code was not accepted.
    fn refusal(&self) -> Option<&'static str> {
        match self {
            Self::Right => None,
            Self::Wrong => {
                Some("That code is not right. Check the newest mail and type its 8 digits.")
            }
            Self::Gone => Some("This code expired or was tried too often. Ask for a new code."),
        }
    }
}

async fn login_code_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some((session, _)) = session_for(&state, &headers, waiting_for_code).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    Ok(code_login_page(
        &state,
        &session,
        "No device can approve this sign-in.",
        &[],
        None,
    ))
}

async fn login_code(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let Some((session, account)) =
        posting_session(&state, &headers, waiting_for_code, &form.csrf).await?
    else {
        return Ok(Redirect::to("/login").into_response());
    };
    let check = check_code(&state, &session, &form.code).await?;
    if let Some(refusal) = check.refusal() {
        return Ok(with_status(
            StatusCode::UNAUTHORIZED,
            code_login_page(&state, &session, "", &[], Some(refusal.into())),
        ));
    }
    let cookie = mailed_session(&state, &session, &account).await?;
    // Completed: the password attempt that asked for the code stops counting (its address key;
    // the mailed codes have their own, smaller limits).
    super::auth::signin_completed(&state, &account, None, state.clock.now_i64()).await?;
    audit::record(&state, &account, None, "signin_mailed_code", "").await;
    accounts::notify(
        &state,
        &account,
        "Signed in with a code sent by e-mail",
        &format!(
            "Someone signed in to your {} account with your password and a one-time \
             code sent by e-mail, without a device. If this was not you, change your \
             password and the password of this mailbox now, and check the \"Manage my \
             devices\" page.",
            state.config.policy.service_name
        ),
    )
    .await;
    Ok(with_cookie(
        Redirect::to("/account").into_response(),
        Some(cookie),
    ))
}

fn with_status(status: StatusCode, mut response: Response) -> Response {
    *response.status_mut() = status;
    response
}

async fn login_code_resend(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let Some((session, account)) =
        posting_session(&state, &headers, waiting_for_code, &form.csrf).await?
    else {
        return Ok(Redirect::to("/login").into_response());
    };
    Ok(
        match send_code(&state, &session, &account, "sign in without your device").await {
            Ok(sent_to) => code_login_page(
                &state,
                &session,
                "A new code is on its way.",
                &sent_to,
                None,
            ),
            Err(e) => code_login_page(&state, &session, "", &[], Some(send_failed(&e))),
        },
    )
}

/// "I can't use my device" on the approve page: the waiting sign-in is cancelled (its
/// request dies on every device) and a code is mailed instead.
async fn no_device(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let Some(session) = session::current_at(&state, &headers, stages::APPROVING).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    if !session.csrf_ok(&form.csrf) {
        return Err(csrf_refused());
    }
    let account = session.account.ok_or_else(csrf_refused)?;
    if let Some(login) = &session.login_id {
        signins::cancel_login(&state, &account, login).await?;
    }
    session::destroy(&state, &session).await?;
    start_login(
        &state,
        &account,
        "You chose to sign in without your device.",
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Confirming who you are before adding or removing a device

/// `?next=`
#[derive(Deserialize)]
pub struct Next {
    #[serde(default)]
    next: Option<String>,
}

fn confirm_view(
    state: &AppState,
    session: &Session,
    next: &str,
    intro: String,
    sent: bool,
    error: Option<String>,
) -> Response {
    render(&CodePage {
        service: &state.config.policy.service_name,
        title: "Confirm it is you",
        intro,
        csrf: &session.csrf,
        action: "/confirm",
        resend: "/confirm/send",
        next,
        sent,
        error,
    })
}

const CONFIRM_INTRO: &str = "Adding or removing a device needs more than your password: approve a new sign-in on one of your devices (sign out and in again), or use a one-time code sent to the e-mail addresses of your account.";

async fn confirm_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(next): Query<Next>,
) -> Result<Response, PageError> {
    let Some((session, _)) = session_for(&state, &headers, Session::signed_in).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let next = safe_next(next.next.as_deref());
    Ok(confirm_view(
        &state,
        &session,
        next,
        CONFIRM_INTRO.into(),
        false,
        None,
    ))
}

async fn confirm_send(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let Some((session, account)) =
        posting_session(&state, &headers, Session::signed_in, &form.csrf).await?
    else {
        return Ok(Redirect::to("/login").into_response());
    };
    let next = safe_next(Some(&form.next));
    Ok(
        match send_code(
            &state,
            &session,
            &account,
            "confirm a change to your devices",
        )
        .await
        {
            Ok(sent_to) => confirm_view(
                &state,
                &session,
                next,
                format!(
                    "We e-mailed a one-time code to {}. Type it here. It is valid for {} minutes.",
                    sent_to.join(", "),
                    CODE_TTL / 60
                ),
                true,
                None,
            ),
            Err(e) => with_status(
                StatusCode::TOO_MANY_REQUESTS,
                confirm_view(
                    &state,
                    &session,
                    next,
                    CONFIRM_INTRO.into(),
                    false,
                    Some(send_failed(&e)),
                ),
            ),
        },
    )
}

async fn confirm_code(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let Some((session, account)) =
        posting_session(&state, &headers, Session::signed_in, &form.csrf).await?
    else {
        return Ok(Redirect::to("/login").into_response());
    };
    let next = safe_next(Some(&form.next));
    let check = check_code(&state, &session, &form.code).await?;
    if let Some(refusal) = check.refusal() {
        return Ok(with_status(
            StatusCode::UNAUTHORIZED,
            confirm_view(
                &state,
                &session,
                next,
                CONFIRM_INTRO.into(),
                true,
                Some(refusal.into()),
            ),
        ));
    }
    let cookie = mailed_session(&state, &session, &account).await?;
    audit::record(&state, &account, None, "confirmed_mailed_code", "").await;
    Ok(with_cookie(
        Redirect::to(next).into_response(),
        Some(cookie),
    ))
}

/// Whether `session` may add or remove devices of `account` now (P7): a brand-new account
/// that never had a device may add its first one on the password alone; otherwise the session
/// must have proved, within `Policy::confirm_ttl`, a sign-in approved on a device or a mailed
/// code. `Err` is the redirect to the confirmation page.
pub(crate) async fn gate(
    state: &AppState,
    session: &Session,
    account: &AccountId,
    next: &str,
) -> Result<Gate, PageError> {
    let had_device: i64 = sqlx::query("SELECT had_device FROM accounts WHERE id = $1")
        .bind(account.to_string())
        .fetch_one(&state.db)
        .await?
        .try_get("had_device")?;
    if had_device == 0 {
        return Ok(Gate::FirstDevice);
    }
    let ttl = i64::try_from(state.config.policy.confirm_ttl).unwrap_or(600);
    if session.confirmed(state.clock.now_i64(), ttl) {
        Ok(Gate::Confirmed)
    } else {
        Ok(Gate::NeedsConfirmation(
            Redirect::to(&format!("/confirm?next={next}")).into_response(),
        ))
    }
}

/// What [`gate`] decided.
pub(crate) enum Gate {
    /// The account never had a device: its first one may be added on the password alone.
    FirstDevice,
    /// The session proved more than the password recently.
    Confirmed,
    /// Confirm first (the redirect to send).
    NeedsConfirmation(Response),
}
