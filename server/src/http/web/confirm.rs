//! The one-time code mailed to the account (P7): signing in when no device can approve
//! ("I can't use my device", all devices removed or locked), and confirming who you are
//! before adding or removing a device when the session has not proved it recently.
//!
//! A code is 8 digits, mailed to every address on the account, valid 10 minutes, bound to
//! one browser session (stored only as a hash with the session), at most 5 attempts, and at
//! most `Policy::mailed_codes_per_hour` codes per account an hour. Every sign-in made with a
//! code is told to every address.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use latchkey_protocol::types::AccountId;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::session::{self, stages, strengths, Session};
use super::{code_login_page, csrf_refused, render, send_failed, with_cookie, CodePage, PageError};

use crate::sessions::{check_code, send_code, CodeCheck, CODE_TTL};
use crate::AppState;
use crate::{accounts, audit, signins};

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
    signins::completed(&state, &account, None, state.clock.now_i64()).await?;
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
    super::start_code_login(
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
