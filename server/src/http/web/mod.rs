//! The web pages: register, sign in, "Approve on your device" with the number to type, My
//! account → Manage my devices, Add a device with its QR code, the `/e` landing page for
//! generic QR readers, and the dev-only outbox. Server-rendered (askama); a little JS only
//! for live status; every form carries the session's CSRF token.

pub mod auth;
pub mod confirm;
pub mod devices;
pub mod session;

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ServerError;
use latchkey_protocol::types::AccountId;

use crate::sessions::{send_code, stages, Session, CODE_TTL};
use crate::AppState;

/// Page routes (`dev` adds `/dev/outbox`).
pub fn router(dev: bool) -> Router<Arc<AppState>> {
    let router = Router::new()
        .route("/", get(home))
        .route("/e", get(landing))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .route("/favicon.ico", get(icon))
        .merge(auth::router())
        .merge(confirm::router())
        .merge(devices::router());
    if dev {
        router.route("/dev/outbox", get(outbox))
    } else {
        router
    }
}

/// A page that failed: a message for people, details in the log.
pub struct PageError {
    status: StatusCode,
    title: &'static str,
    message: String,
}

impl PageError {
    /// A page-level refusal with a message.
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            title,
            message: message.into(),
        }
    }
}

impl From<ServerError> for PageError {
    fn from(e: ServerError) -> Self {
        // The body's sentence: a refusal as it is, anything else the one generic sentence (a
        // mail, key or storage failure's detail went to the log, never to a page).
        if e.kind() == crate::error::ErrorKind::Unavailable {
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again in a moment",
                e.body().message,
            );
        }
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            e.body().message,
        )
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    service: &'a str,
    title: &'a str,
    message: &'a str,
    kind: &'a str,
    next_href: &'a str,
    next_label: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = MessagePage {
            service: "Latchkey",
            title: self.title,
            message: &self.message,
            kind: "error",
            next_href: "/",
            next_label: "Back",
        };
        (self.status, render(&page)).into_response()
    }
}

/// Renders a template, or a plain error if the template fails.
pub fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render").into_response()
        }
    }
}

/// Adds a `Set-Cookie` header when there is one.
pub fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A message page.
pub fn message(state: &AppState, title: &str, text: &str, next: (&str, &str)) -> Response {
    render(&MessagePage {
        service: &state.config.policy.service_name,
        title,
        message: text,
        kind: "notice",
        next_href: next.0,
        next_label: next.1,
    })
}

/// The session a form was posted from, its CSRF token checked; refused without a session.
///
/// # Errors
/// The CSRF refusal; storage errors.
pub async fn posting_session(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    csrf: &str,
) -> Result<session::Session, PageError> {
    let session = session::current(state, headers)
        .await?
        .ok_or_else(csrf_refused)?;
    if !session.csrf_ok(csrf) {
        return Err(csrf_refused());
    }
    Ok(session)
}

/// "Your session expired or the form is stale": the CSRF refusal.
pub fn csrf_refused() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form expired or did not come from this site. Go back, reload the page and try again.",
    )
}

async fn home(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    let session = session::current(&state, &headers).await?;
    Ok(match session.and_then(|s| s.signed_in()) {
        Some(_) => Redirect::to("/account").into_response(),
        None => Redirect::to("/login").into_response(),
    })
}

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing<'a> {
    service: &'a str,
}

async fn landing(State(state): State<Arc<AppState>>) -> Response {
    render(&Landing {
        service: &state.config.policy.service_name,
    })
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct Outbox<'a> {
    service: &'a str,
    mails: Vec<crate::mail::OutboxMail>,
}

async fn outbox(State(state): State<Arc<AppState>>) -> Response {
    let mails = crate::mail::read_outbox(&state.config.data_dir)
        .into_iter()
        .map(|(file, text)| crate::mail::OutboxMail::parse(file, &text))
        .collect();
    render(&Outbox {
        service: &state.config.policy.service_name,
        mails,
    })
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../../static/app.css"),
    )
}

async fn icon() -> Response {
    asset("image/svg+xml", include_str!("../../../static/icon.svg"))
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../static/app.js"),
    )
}

/// Unix seconds as an HTTP date ("Mon, 23 Nov 2026 18:04:00 GMT").
pub fn format_time(secs: i64) -> String {
    let secs = u64::try_from(secs).unwrap_or(0);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Unix seconds as a time of day in UTC ("09:42:13 UTC"), to tell sign-in requests apart.
pub fn clock_time(secs: i64) -> String {
    let day = secs.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", day / 3600, day / 60 % 60, day % 60)
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

#[derive(Template)]
#[template(path = "code.html")]
pub(crate) struct CodePage<'a> {
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
pub(crate) async fn start_code_login(
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

pub(crate) fn code_login_page(
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

/// Sends a session that must confirm (P7) to the confirmation page, then back to `next`.
pub(crate) fn confirm_first(next: &str) -> Response {
    Redirect::to(&format!("/confirm?next={next}")).into_response()
}
