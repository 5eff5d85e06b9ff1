//! Register, sign in (password, then "Approve on your device" with the number to type),
//! sign out. Passwords are hashed with argon2id; attempts are throttled per address and IP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::session::{self, stages, Session};
use super::{csrf_refused, render, with_cookie, PageError};
use crate::accounts::Registered;
use crate::signins::{self, login_states, LoginView, Progress, SigninBlocked};
use crate::AppState;
use crate::{accounts, audit, throttle};

/// Auth routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/register", get(register_page).post(register))
        .route(
            "/register/finish",
            get(register_finish_page).post(register_finish),
        )
        .route("/login", get(login_page).post(login))
        .route("/login/approve", get(approve_page))
        .route("/login/approve/events", get(approve_events))
        .route("/login/cancel", post(end_session))
        .route("/logout", post(end_session))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    service: &'a str,
    csrf: &'a str,
    email: &'a str,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage<'a> {
    service: &'a str,
    csrf: &'a str,
    email: &'a str,
    error: Option<String>,
}

async fn register_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (session, cookie) = session::ensure(&state, &headers).await?;
    let page = RegisterPage {
        service: &state.config.policy.service_name,
        csrf: &session.csrf,
        email: "",
        error: None,
    };
    Ok(with_cookie(render(&page), cookie))
}

/// The registration form.
#[derive(Deserialize)]
pub struct RegisterForm {
    csrf: String,
    email: String,
    password: Zeroizing<String>,
    password2: Zeroizing<String>,
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

async fn register(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<RegisterForm>,
) -> Result<Response, PageError> {
    let session = super::posting_session(&state, &headers, &form.csrf).await?;
    throttle::count(
        &state,
        &format!("register:ip:{}", peer.ip()),
        state.config.policy.registrations_per_ip,
        3600,
    )
    .await
    .map_err(|e| {
        PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            e.message().to_owned(),
        )
    })?;
    let email = form.email.trim().to_lowercase();
    let refuse = |error: &str| {
        let page = RegisterPage {
            service: &state.config.policy.service_name,
            csrf: &session.csrf,
            email: &email,
            error: Some(error.to_owned()),
        };
        Ok((StatusCode::BAD_REQUEST, render(&page)).into_response())
    };
    if !valid_email(&email) {
        return refuse("Enter a valid e-mail address.");
    }
    if form.password.chars().count() < 10 {
        return refuse("Choose a password of at least 10 characters.");
    }
    if form.password != form.password2 {
        return refuse("The two passwords are different.");
    }
    throttle::count(&state, &format!("register:email:{email}"), 5, 3600)
        .await
        .map_err(|e| {
            PageError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                e.message().to_owned(),
            )
        })?;
    // The same work and the same answer whether the address has an account or not: the
    // page never tells; the mailbox does (a link to finish, or a notice to the owner).
    let hash = crate::passwords::hash_password(form.password.clone())
        .await
        .map_err(|e| PageError::from(crate::error::ServerError::internal("hash", e)))?;
    let exists = accounts::id_by_email(&state, &email).await?.is_some();
    let service = &state.config.policy.service_name;
    let (subject, body) = if exists {
        (
            format!("{service}: someone tried to create an account"),
            Zeroizing::new(format!(
                "Someone, maybe you, tried to create a {service} account with this address, \
                 which already has one. Sign in at {}login. If it was not you, ignore this \
                 mail: nothing was changed.",
                state.public_url
            )),
        )
    } else {
        // 128 bits (like an enrolment code, P6), short enough for the link to fit one line.
        let token = accounts::add_registration(&state, &email, &hash).await?;
        (
            format!("{service}: finish creating your account"),
            Zeroizing::new(format!(
                "To finish creating your {service} account, open this link\n\
                 within {} minutes:\n\n    {}register/finish?t={}\n\n\
                 If you did not ask for an account, ignore this mail.",
                accounts::REGISTRATION_TTL / 60,
                state.public_url,
                token.as_str()
            )),
        )
    };
    state
        .mailer
        .send(&email, &subject, &body)
        .await
        .map_err(|e| {
            PageError::from(crate::error::ServerError::internal("registration mail", e))
        })?;
    Ok(super::message(
        &state,
        "Check your e-mail",
        &format!(
            "We sent a mail to {email}. Open the link in it within {} minutes to finish creating \
             your account. If no mail arrives, check the spam folder.",
            accounts::REGISTRATION_TTL / 60
        ),
        ("/login", "Sign in"),
    ))
}

/// `?t=` / the finish form.
#[derive(Deserialize)]
pub struct FinishForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    t: Zeroizing<String>,
}

#[derive(Template)]
#[template(path = "register_finish.html")]
struct FinishPage<'a> {
    service: &'a str,
    csrf: &'a str,
    email: &'a str,
    token: &'a str,
}

fn registration_gone(state: &AppState) -> Response {
    super::message(
        state,
        "Link no longer valid",
        "This link expired or was already used. Register again to get a new one; if the \
         account exists already, sign in.",
        ("/register", "Register"),
    )
}

/// The link from the mail: a page with a button (a link prefetcher must not create accounts).
async fn register_finish_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Query(form): axum::extract::Query<FinishForm>,
) -> Result<Response, PageError> {
    let (session, cookie) = session::ensure(&state, &headers).await?;
    let email = accounts::registration_email(&state, &form.t).await?;
    let Some(email) = email else {
        return Ok(with_cookie(registration_gone(&state), cookie));
    };
    let page = FinishPage {
        service: &state.config.policy.service_name,
        csrf: &session.csrf,
        email: &email,
        token: &form.t,
    };
    Ok(with_cookie(render(&page), cookie))
}

async fn register_finish(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<FinishForm>,
) -> Result<Response, PageError> {
    let session = super::posting_session(&state, &headers, &form.csrf).await?;
    let account = match accounts::finish_registration(&state, &form.t).await? {
        Registered::Created(account) => account,
        Registered::Gone => return Ok(registration_gone(&state)),
        Registered::Exists => {
            return Ok(super::message(
                &state,
                "Account exists already",
                "An account with this address exists already. Sign in instead.",
                ("/login", "Sign in"),
            ))
        }
    };
    session::destroy(&state, &session).await?;
    let (_, cookie) = session::create(&state, Some(&account), stages::SIGNED_IN, None).await?;
    Ok(with_cookie(
        Redirect::to("/account").into_response(),
        Some(cookie),
    ))
}

async fn login_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (session, cookie) = session::ensure(&state, &headers).await?;
    if session.signed_in().is_some() {
        return Ok(Redirect::to("/account").into_response());
    }
    let page = LoginPage {
        service: &state.config.policy.service_name,
        csrf: &session.csrf,
        email: "",
        error: None,
    };
    Ok(with_cookie(render(&page), cookie))
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    email: String,
    password: Zeroizing<String>,
}

async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let session = super::posting_session(&state, &headers, &form.csrf).await?;
    let email = form.email.trim().to_lowercase();
    let service = state.config.policy.service_name.clone();
    let refuse = |status: StatusCode, error: String| {
        let page = LoginPage {
            service: &service,
            csrf: &session.csrf,
            email: &email,
            error: Some(error),
        };
        (status, render(&page)).into_response()
    };
    // Throttle per address and per IP before any password work; a sign-in that completes gives
    // its count back (`signins::completed`), so only failures and unfinished sign-ins count.
    if let Err(e) = signins::count_password_attempt(&state, &email, &peer.ip().to_string()).await {
        return Ok(refuse(
            StatusCode::TOO_MANY_REQUESTS,
            e.message().to_owned(),
        ));
    }
    let account = accounts::check_password(&state, &email, &form.password).await?;
    let Some(account) = account else {
        return Ok(refuse(
            StatusCode::UNAUTHORIZED,
            "The e-mail address or the password is wrong.".into(),
        ));
    };
    let browser = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(describe_browser)
        .unwrap_or_else(|| "unknown browser".into());
    // A new sign-in from this browser ends the one it was waiting for.
    end_signin(&state, &session).await?;
    session::destroy(&state, &session).await?;
    match signins::create_signin(&state, &account, &browser, &peer.ip().to_string()).await {
        Ok(signin) => {
            let (_, cookie) = session::create(
                &state,
                Some(&account),
                stages::APPROVING,
                Some(&signin.login_id),
            )
            .await?;
            Ok(with_cookie(
                Redirect::to("/login/approve").into_response(),
                Some(cookie),
            ))
        }
        Err(SigninBlocked::NoDevice) => {
            let had_device = accounts::had_device(&state, &account).await?;
            if had_device {
                // P7: once the account had a device, the password alone is never enough.
                return super::start_code_login(
                    &state,
                    &account,
                    "None of your devices can approve sign-ins (removed, or locked after wrong PINs).",
                )
                .await;
            }
            // A brand-new account: the password is the only factor until a device is added.
            signins::completed(
                &state,
                &account,
                Some(&peer.ip().to_string()),
                state.clock.now_i64(),
            )
            .await?;
            audit::record(
                &state,
                &account,
                None,
                "signin_password_only",
                "no device enrolled yet",
            )
            .await;
            let (_, cookie) =
                session::create(&state, Some(&account), stages::SIGNED_IN, None).await?;
            Ok(with_cookie(
                Redirect::to("/account").into_response(),
                Some(cookie),
            ))
        }
        Err(SigninBlocked::Muted(until)) => {
            let (fresh, cookie) = session::create(&state, None, stages::ANONYMOUS, None).await?;
            let page = LoginPage {
                service: &service,
                csrf: &fresh.csrf,
                email: &email,
                error: Some(format!(
                    "Sign-in requests to your devices are paused until {} because a recent request was reported as \"this wasn't me\". Change your password if you did not sign in.",
                    super::format_time(until)
                )),
            };
            Ok(with_cookie(
                (StatusCode::TOO_MANY_REQUESTS, render(&page)).into_response(),
                Some(cookie),
            ))
        }
        Err(SigninBlocked::TooManyPending) => {
            let (fresh, cookie) = session::create(&state, None, stages::ANONYMOUS, None).await?;
            let page = LoginPage {
                service: &service,
                csrf: &fresh.csrf,
                email: &email,
                error: Some("Several sign-in requests are already waiting on your device. Answer or let them expire (2 minutes), then try again.".into()),
            };
            Ok(with_cookie(
                (StatusCode::TOO_MANY_REQUESTS, render(&page)).into_response(),
                Some(cookie),
            ))
        }
        Err(SigninBlocked::Failed(e)) => Err(e.into()),
    }
}

/// "Firefox on Linux" from a User-Agent; never the raw string.
fn describe_browser(agent: &str) -> String {
    let browser = ["Edg/", "Firefox/", "Chrome/", "Safari/", "curl/", "reqwest"]
        .iter()
        .find(|b| agent.contains(*b))
        .map(|b| match *b {
            "Edg/" => "Edge",
            "Firefox/" => "Firefox",
            "Chrome/" => "Chrome",
            "Safari/" => "Safari",
            "curl/" => "curl",
            _ => "a program",
        })
        .unwrap_or("a browser");
    let os = ["Windows", "Android", "iPhone", "Mac OS", "Linux"]
        .iter()
        .find(|o| agent.contains(*o))
        .map(|o| if *o == "Mac OS" { "macOS" } else { o })
        .unwrap_or("an unknown system");
    format!("{browser} on {os}")
}

#[derive(Template)]
#[template(path = "approve.html")]
struct ApprovePage<'a> {
    service: &'a str,
    code: &'a str,
    browser: &'a str,
    ip: &'a str,
    requested: &'a str,
    expires_at: i64,
    csrf: &'a str,
    status: &'a str,
    status_class: &'a str,
}

async fn load_login(state: &AppState, session: &Session) -> Result<Option<LoginView>, PageError> {
    let (Some(login), Some(account)) = (&session.login_id, &session.account) else {
        return Ok(None);
    };
    Ok(signins::login_view(state, account, login).await?)
}

async fn approve_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some(session) = session::current_at(&state, &headers, stages::APPROVING).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let Some(login) = load_login(&state, &session).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let service = &state.config.policy.service_name;
    let expired = state.clock.now_i64() >= login.expires_at;
    match login.state.as_str() {
        login_states::APPROVED => {
            let account = session.account.ok_or_else(csrf_refused)?;
            // Redeemed once (two tabs cannot both turn one approval into a session), and the
            // session counts as confirmed from the approval, not from this page load.
            let redeemed = signins::redeem(
                &state,
                &account,
                session.login_id.as_deref().unwrap_or_default(),
            )
            .await?;
            session::destroy(&state, &session).await?;
            let Some(redeemed) = redeemed else {
                return Ok(Redirect::to("/login").into_response());
            };
            signins::completed(&state, &account, Some(&redeemed.ip), redeemed.created_at).await?;
            let (_, cookie) = session::create_confirmed(
                &state,
                &account,
                session::strengths::DEVICE,
                redeemed.answered_at,
            )
            .await?;
            Ok(with_cookie(
                Redirect::to("/account").into_response(),
                Some(cookie),
            ))
        }
        login_states::PENDING if !expired => {
            let status = Status::of(&login, false, state.config.policy.max_failures);
            Ok(render(&ApprovePage {
                service,
                code: &login.code,
                browser: &login.browser,
                ip: &login.ip,
                requested: &super::clock_time(login.created_at),
                expires_at: login.expires_at,
                csrf: &session.csrf,
                status: &status.message,
                status_class: status.class(),
            }))
        }
        other => {
            session::destroy(&state, &session).await?;
            let text = Status::outcome(other, expired).message;
            Ok(super::message(
                &state,
                "Sign-in not completed",
                &text,
                ("/login", "Sign in again"),
            ))
        }
    }
}

/// What the approve page says about a sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Status {
    /// Finished (approved, denied, reported, mismatched, cancelled or expired).
    done: bool,
    /// Finished with an approval.
    ok: bool,
    /// Something the person must act on (wrong PIN, locked).
    warning: bool,
    message: String,
}

impl Status {
    fn class(&self) -> &'static str {
        match (self.done, self.ok, self.warning) {
            (true, true, _) => "status done",
            (true, false, _) => "status failed",
            (false, _, true) => "status warning",
            _ => "status",
        }
    }

    /// A finished sign-in's outcome, or "waiting" while it is not finished.
    fn outcome(login_state: &str, expired: bool) -> Self {
        let done = |ok: bool, message: &str| Self {
            done: true,
            ok,
            warning: false,
            message: message.into(),
        };
        match login_state {
            login_states::APPROVED | login_states::USED => done(true, "Approved. Signing you in…"),
            login_states::DENIED => done(false, "The sign-in was denied on your device."),
            login_states::REPORTED => done(false, "The sign-in was reported as \"this wasn't me\" on your device. Sign-in requests are paused for a while."),
            login_states::MISMATCH => done(false, "The number typed on the device did not match. Sign in again and type the number shown here."),
            login_states::CANCELLED => done(false, "This sign-in was cancelled. Sign in again."),
            _ if expired => done(false, "The request expired before it was answered. Sign in again."),
            _ => Self {
                done: false,
                ok: false,
                warning: false,
                message: "Waiting for your device…".into(),
            },
        }
    }

    /// The status of `login` now (`expired` per the server clock).
    fn of(login: &LoginView, expired: bool, max_failures: u8) -> Self {
        let status = Self::outcome(&login.state, expired);
        if status.done {
            return status;
        }
        let warning = |message: String| Self {
            done: false,
            ok: false,
            warning: true,
            message,
        };
        match &login.progress {
            // Said as "waiting" too: a password holder watching this page learns nothing of
            // the device's PIN entry until it is known to be wrong.
            Progress::Waiting | Progress::Checking => status,
            Progress::WrongPin { left } => warning(format!(
                "A wrong PIN was entered on your device ({left} of {max_failures} attempts left). \
                 Type the number shown here and your PIN again."
            )),
            Progress::Locked => warning(
                "Your device is locked after too many wrong PINs, so it cannot approve this \
                 sign-in. Use \"Forgot PIN\" in the Latchkey app to choose a new PIN, or sign in \
                 with a code sent to your e-mail (the button below)."
                    .into(),
            ),
            Progress::Removed => warning(
                "The device this request was sent to was removed from your account, so it \
                 cannot approve this sign-in. Sign in with a code sent to your e-mail (the button \
                 below)."
                    .into(),
            ),
        }
    }
}

async fn approve_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, PageError> {
    let session = session::current_at(&state, &headers, stages::APPROVING)
        .await?
        .ok_or_else(|| {
            PageError::new(
                StatusCode::UNAUTHORIZED,
                "Not signing in",
                "Start the sign-in again.",
            )
        })?;
    let login_id = session.login_id.clone().unwrap_or_default();
    // Sends the status whenever it changes; the first event is sent at once.
    let stream = stream::unfold(
        (state, session, login_id, None::<Status>, false, i64::MAX),
        |(state, session, login_id, last, checking, expires_at)| async move {
            if last.as_ref().is_some_and(|s| s.done) {
                return None;
            }
            let key = crate::events::signin_key(&login_id);
            let max = state.config.policy.max_failures;
            // The status now and whether a PIN is being checked; `None` on a storage error
            // (the page keeps what it shows; a sign-in that is gone reads as cancelled).
            let current = || async {
                match load_login(&state, &session).await {
                    Ok(Some(view)) => {
                        let expired = state.clock.now_i64() >= view.expires_at;
                        Some((
                            Status::of(&view, expired, max),
                            view.progress == Progress::Checking,
                            view.expires_at,
                        ))
                    }
                    Ok(None) => Some((
                        Status::outcome(login_states::CANCELLED, false),
                        false,
                        i64::MAX,
                    )),
                    Err(_) => None,
                }
            };
            // A PIN being checked turns into "wrong PIN" without a signal: look again soon.
            // Expiry has no signal either: look again just after it.
            let until_expiry = expires_at.saturating_sub(state.clock.now_i64()).max(0) + 1;
            let wait = Duration::from_secs(if checking {
                1
            } else {
                u64::try_from(until_expiry.min(25)).unwrap_or(25)
            });
            let changed = state
                .signals
                .wait_for(&key, wait, || async {
                    let now = current().await?;
                    (Some(&now.0) != last.as_ref() || now.1 != checking).then_some(now)
                })
                .await;
            // Nothing changed: send it again (keeps the connection and the page alive).
            let (status, checking, expires_at) = match changed {
                Some(now) => now,
                None => current().await.unwrap_or_else(|| {
                    (
                        last.clone().unwrap_or_else(|| Status::outcome("", false)),
                        checking,
                        expires_at,
                    )
                }),
            };
            let data = serde_json::json!({
                "done": status.done,
                "ok": status.ok,
                "warning": status.warning,
                "message": status.message,
            })
            .to_string();
            Some((
                Ok(Event::default().event("state").data(data)),
                (state, session, login_id, Some(status), checking, expires_at),
            ))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Ends a session's waiting sign-in, if it has one: its request is refused on every device
/// at once and leaves their lists (cancel, sign out, or a new sign-in from the same browser).
async fn end_signin(state: &AppState, session: &Session) -> Result<(), PageError> {
    if let (Some(login), Some(account)) = (&session.login_id, &session.account) {
        signins::cancel_login(state, account, login).await?;
    }
    Ok(())
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// Ends the session: "Sign out", and "Cancel and start again" on the approve page.
async fn end_session(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let session = super::posting_session(&state, &headers, &form.csrf).await?;
    end_signin(&state, &session).await?;
    let cookie = session::destroy(&state, &session).await?;
    Ok(with_cookie(
        Redirect::to("/login").into_response(),
        Some(cookie),
    ))
}
