//! My account → Manage my devices: the list (name, added, last used, key assurance, locked),
//! removal, the security events, and "Add a device": name and PIN (typed twice, blocklist
//! feedback), then the QR page with a countdown and live "enrolled" status.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use futures_util::stream::{self, Stream};
use latchkey_protocol::pin::PinPolicy;
use latchkey_protocol::secret::Pin;
use latchkey_protocol::types::AccountId;
use latchkey_protocol::wire::{ErrorCode, PinSource};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::session::{self, Session};
use super::{csrf_refused, format_time, render, PageError};
use crate::attestation::apple::LABEL as APP_ATTEST;
use crate::devices::states;
use crate::sessions::{self, Gate};
use crate::AppState;
use crate::{accounts, audit, devices, enrolments};

/// Device page routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/account", get(account))
        .route("/devices/add", get(add_page).post(add))
        .route("/devices/add/{id}", get(qr_page))
        .route("/devices/add/{id}/events", get(enrol_events))
        .route("/devices/{id}/remove", get(remove_page).post(remove))
}

async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Session, AccountId), Response> {
    match session::current(state, headers).await {
        Ok(Some(s)) => match s.signed_in() {
            Some(account) => Ok((s, account)),
            None => Err(Redirect::to("/login").into_response()),
        },
        Ok(None) => Err(Redirect::to("/login").into_response()),
        Err(e) => Err(PageError::from(e).into_response()),
    }
}

struct DeviceView {
    id: String,
    name: String,
    model: String,
    added: String,
    last_used: String,
    assurance: String,
    state: String,
    state_class: &'static str,
}

struct EventView {
    at: String,
    what: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    service: &'a str,
    csrf: &'a str,
    email: &'a str,
    notice: Option<&'a str>,
    devices: Vec<DeviceView>,
    events: Vec<EventView>,
}

fn describe_event(event: &str, detail: &str) -> String {
    let what = match event {
        "account_created" => "Account created",
        "device_added" => "Device added",
        "device_removed" => "Device removed",
        "enrolment_started" => "Enrolment started on a device",
        "enrolment_cancelled" => "Enrolment cancelled after wrong PINs",
        "signin_approved" => "Sign-in approved",
        "signin_denied" => "Sign-in denied",
        "signin_reported" => "Sign-in reported as \"this wasn't me\"",
        "signin_code_mismatch" => "Sign-in refused: wrong number typed",
        "signin_password_only" => "Signed in with the password only",
        "signin_mailed_code" => "Signed in with the password and a code sent by e-mail",
        "mailed_code_sent" => "One-time code e-mailed",
        "confirmed_mailed_code" => "Confirmed with a code sent by e-mail",
        "pin_locked" => "Device locked after too many wrong PINs",
        "pin_changed" => "PIN changed",
        "pin_reset" => "PIN reset with password and e-mailed code",
        "pin_reset_code_sent" => "PIN reset code e-mailed",
        "pin_reset_bad_password" => "PIN reset refused: wrong password",
        "attestation_verified" => "Device key verified as held in secure hardware",
        "app_attest_verified" => "Device enrolled by the genuine app, verified by Apple",
        "attestation_refused" => "Device key's hardware attestation not accepted",
        "attestation_revoked" => "Device key no longer shown as verified: Google revoked a certificate of its attestation",
        other => other,
    };
    if detail.is_empty() {
        what.to_owned()
    } else {
        format!("{what} ({detail})")
    }
}

/// `/account?removed=DEVICE`: after a removal, the page names the device, if it really is a
/// removed device of this account (a crafted link shows nothing).
#[derive(Deserialize)]
pub struct AccountQuery {
    removed: Option<String>,
}

async fn account(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<AccountQuery>,
) -> Result<Response, PageError> {
    let (session, account) = match signed_in(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let email = accounts::email(&state, &account).await?;
    let mut devices = Vec::new();
    for d in devices::summaries(&state, &account, &[states::ACTIVE, states::ENROLLING]).await? {
        let (label, class) = if d.attempts.locked() {
            ("Locked: use \"Forgot PIN\" in the app".to_owned(), "locked")
        } else if d.state == states::ENROLLING {
            ("Enrolling…".to_owned(), "")
        } else {
            ("Active".to_owned(), "")
        };
        devices.push(DeviceView {
            id: d.id,
            name: d.name,
            model: d.model.unwrap_or_default(),
            added: format_time(d.created_at),
            last_used: d
                .last_used_at
                .map(format_time)
                .unwrap_or_else(|| "never".into()),
            assurance: match (d.assurance.as_deref(), d.attestation.as_deref()) {
                (Some("software"), _) => "software (encrypted on the device)".into(),
                (Some("secure_element"), Some(APP_ATTEST)) => {
                    "secure element (genuine app, verified by Apple)".into()
                }
                (Some("hardware"), Some(_)) => "hardware key (verified by Android)".into(),
                (Some("hardware"), None) => "hardware key (as the app says)".into(),
                (Some("secure_element"), Some(_)) => "secure element (verified by Android)".into(),
                (Some("secure_element"), None) => "secure element (as the app says)".into(),
                _ => "—".into(),
            },
            state: label,
            state_class: class,
        });
    }
    let notice = match &query.removed {
        Some(id) => devices::summary(&state, &account, id)
            .await?
            .filter(|d| d.state == states::REMOVED)
            .map(|d| {
                format!(
                    "\"{}\" was removed. Every address of the account was told.",
                    d.name
                )
            }),
        None => None,
    };
    let events = audit::recent(&state, &account, 20)
        .await?
        .into_iter()
        .map(|e| EventView {
            at: format_time(e.at),
            what: describe_event(&e.event, &e.detail),
        })
        .collect();
    Ok(render(&AccountPage {
        service: &state.config.policy.service_name,
        csrf: &session.csrf,
        email: &email,
        notice: notice.as_deref(),
        devices,
        events,
    }))
}

#[derive(Template)]
#[template(path = "add_device.html")]
struct AddPage<'a> {
    service: &'a str,
    csrf: &'a str,
    name: &'a str,
    pin_on_web: bool,
    pin_digits: u8,
    first_device: bool,
    error: Option<String>,
    /// The error is about the PIN (focus goes to the PIN field).
    pin_error: bool,
}

async fn add_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (session, account) = match signed_in(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let first_device = match sessions::gate(&state, &session, &account).await? {
        Gate::FirstDevice => true,
        Gate::Confirmed => false,
        Gate::NeedsConfirmation => return Ok(super::confirm_first("/devices/add")),
    };
    let policy = &state.config.policy;
    Ok(render(&AddPage {
        service: &policy.service_name,
        csrf: &session.csrf,
        name: "",
        pin_on_web: policy.pin_source == PinSource::Web,
        pin_digits: policy.pin_digits,
        first_device,
        error: None,
        pin_error: false,
    }))
}

/// The "Add a device" form.
#[derive(Deserialize)]
pub struct AddForm {
    csrf: String,
    name: String,
    #[serde(default)]
    pin: Zeroizing<String>,
    #[serde(default)]
    pin2: Zeroizing<String>,
}

async fn add(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<AddForm>,
) -> Result<Response, PageError> {
    let (session, account) = match signed_in(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    if !session.csrf_ok(&form.csrf) {
        return Err(csrf_refused());
    }
    let first_device = match sessions::gate(&state, &session, &account).await? {
        Gate::FirstDevice => true,
        Gate::Confirmed => false,
        Gate::NeedsConfirmation => return Ok(super::confirm_first("/devices/add")),
    };
    let policy = &state.config.policy;
    let pin_on_web = policy.pin_source == PinSource::Web;
    let name = form.name.trim().to_owned();
    let refuse = |error: String, pin_error: bool| {
        let page = AddPage {
            service: &policy.service_name,
            csrf: &session.csrf,
            name: &name,
            pin_on_web,
            pin_digits: policy.pin_digits,
            first_device,
            error: Some(error),
            pin_error,
        };
        Ok((StatusCode::BAD_REQUEST, render(&page)).into_response())
    };
    if name.is_empty() || name.chars().count() > 40 || name.chars().any(char::is_control) {
        return refuse(
            "Give the device a name of 1 to 40 characters.".into(),
            false,
        );
    }
    let pin = Pin::new(form.pin.as_str());
    if pin_on_web {
        if let Err(refusal) = (PinPolicy {
            digits: policy.pin_digits,
        })
        .check(&pin)
        {
            return refuse(
                format!(
                    "{}{}.",
                    refusal.to_string()[..1].to_uppercase(),
                    &refusal.to_string()[1..]
                ),
                true,
            );
        }
        if !pin.ct_eq(&Pin::new(form.pin2.as_str())) {
            return refuse(
                "The two PINs are different. Type the same PIN twice.".into(),
                true,
            );
        }
    }
    let device = enrolments::create(
        &state,
        &account,
        &name,
        pin_on_web.then_some(&pin),
        first_device,
    )
    .await
    .map_err(|e| match e.code() {
        ErrorCode::BadRequest => PageError::new(
            StatusCode::BAD_REQUEST,
            "Invalid PIN",
            "Choose another PIN.",
        ),
        _ => e.into(),
    })?;
    let device_text = device.to_string();
    Ok(Redirect::to(&format!("/devices/add/{device_text}")).into_response())
}

#[derive(Template)]
#[template(path = "qr.html")]
struct QrPage<'a> {
    service: &'a str,
    csrf: &'a str,
    id: &'a str,
    name: &'a str,
    svg: String,
    link: &'a str,
    expires_at: i64,
    pin_on_web: bool,
}

/// The QR code of `text` as SVG.
pub fn qr_svg(text: &str) -> Result<String, PageError> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| {
            PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "QR code failed",
                e.to_string(),
            )
        })?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(288, 288)
        .quiet_zone(true)
        .build();
    // Inline in HTML: drop the XML declaration, and name the image for screen readers.
    let svg = svg
        .find("<svg")
        .map(|at| svg[at..].to_owned())
        .unwrap_or(svg);
    Ok(svg.replacen(
        "<svg",
        "<svg role=\"img\" aria-label=\"QR code to scan with the Latchkey app\"",
        1,
    ))
}

async fn qr_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let (session, account) = match signed_in(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let device = devices::summary(&state, &account, &id)
        .await?
        .ok_or_else(|| {
            PageError::new(
                StatusCode::NOT_FOUND,
                "No such device",
                "This device does not exist.",
            )
        })?;
    let dev_state = device.state.as_str();
    let expires_at = device.code_expires_at;
    if dev_state != states::PENDING || state.clock.now_i64() >= expires_at {
        let text = if dev_state == states::ACTIVE || dev_state == states::ENROLLING {
            "This code was already used: the device is enrolled."
        } else {
            "This code expired. Add the device again to get a new code."
        };
        return Ok(super::message(
            &state,
            "Code no longer valid",
            text,
            ("/account", "My devices"),
        ));
    }
    let link = device
        .sealed_link
        .and_then(|s| state.keys.open("enrol-link", &id, &s))
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .ok_or_else(|| {
            PageError::new(
                StatusCode::GONE,
                "Code no longer valid",
                "Add the device again.",
            )
        })?;
    let name = device.name.as_str();
    let page = QrPage {
        service: &state.config.policy.service_name,
        csrf: &session.csrf,
        id: &id,
        name,
        svg: qr_svg(&link)?,
        link: &link,
        expires_at,
        pin_on_web: device.pin_source == "web",
    };
    Ok(render(&page))
}

async fn enrol_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, PageError> {
    let (_, account) = signed_in(&state, &headers)
        .await
        .map_err(|_| PageError::new(StatusCode::UNAUTHORIZED, "Signed out", "Sign in again."))?;
    // Sends the state whenever it changes (the first one at once), until it is final.
    let stream = stream::unfold(
        (
            state,
            account,
            id,
            None::<(bool, bool, &'static str)>,
            i64::MAX,
        ),
        |(state, account, id, last, expires_at)| async move {
            if last.is_some_and(|(done, _, _)| done) {
                return None;
            }
            let key = crate::events::enrolment_key(&id);
            let current = || async {
                let device = devices::summary(&state, &account, &id).await.ok()?;
                let Some(device) = device else {
                    return Some((
                        (
                            true,
                            false,
                            "This enrolment no longer exists. Add the device again.",
                        ),
                        i64::MAX,
                    ));
                };
                let dev_state = device.state;
                let expires = device.code_expires_at;
                let shown = match dev_state.as_str() {
                    "active" => (
                        true,
                        true,
                        "Enrolled. The device is ready to approve sign-ins.",
                    ),
                    "removed" => (
                        true,
                        false,
                        "The enrolment was cancelled (too many wrong PINs). Add the device again.",
                    ),
                    _ if state.clock.now_i64() >= expires => (
                        true,
                        false,
                        "The code expired. Add the device again to get a new one.",
                    ),
                    "enrolling" => (false, false, "Scanned. Waiting for the PIN on your device…"),
                    _ => (false, false, "Waiting for your device…"),
                };
                Some((shown, expires))
            };
            // Expiry has no signal: look again just after it.
            let until_expiry = expires_at.saturating_sub(state.clock.now_i64()).max(0) + 1;
            let wait = Duration::from_secs(u64::try_from(until_expiry.min(25)).unwrap_or(25));
            let changed = state
                .signals
                .wait_for(&key, wait, || async {
                    let now = current().await?;
                    (Some(now.0) != last).then_some(now)
                })
                .await;
            let ((done, ok, message), expires_at) = match changed {
                Some(now) => now,
                None => current()
                    .await
                    .unwrap_or(((false, false, "Waiting for your device…"), expires_at)),
            };
            let data =
                serde_json::json!({ "done": done, "ok": ok, "message": message }).to_string();
            Some((
                Ok(Event::default().event("state").data(data)),
                (state, account, id, Some((done, ok, message)), expires_at),
            ))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

async fn remove(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let (session, account) = match signed_in(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    if !session.csrf_ok(&form.csrf) {
        return Err(csrf_refused());
    }
    // P7: removing from the web needs a recent approval on a device or a mailed code (a
    // brand-new account has no enrolled device to remove, only unfinished enrolments).
    if let Gate::NeedsConfirmation = sessions::gate(&state, &session, &account).await? {
        return Ok(super::confirm_first("/account"));
    }
    crate::devices::remove_device(&state, &account, &id, "removed on the web page").await?;
    Ok(Redirect::to(&format!("/account?removed={id}")).into_response())
}

#[derive(Template)]
#[template(path = "remove_device.html")]
struct RemovePage<'a> {
    service: &'a str,
    csrf: &'a str,
    id: &'a str,
    name: &'a str,
    /// The only device that can still approve sign-ins.
    last_usable: bool,
}

/// "Remove this device?": the confirmation before the removal (which may then ask for a
/// mailed code, P7).
async fn remove_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let (session, account) = match signed_in(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let listed = devices::summaries(
        &state,
        &account,
        &[states::ACTIVE, states::ENROLLING, states::PENDING],
    )
    .await?;
    let Some(device) = listed.iter().find(|d| d.id == id) else {
        return Ok(super::message(
            &state,
            "No such device",
            "This device is not on your account (it may have been removed already).",
            ("/account", "My devices"),
        ));
    };
    Ok(render(&RemovePage {
        service: &state.config.policy.service_name,
        csrf: &session.csrf,
        id: &id,
        name: &device.name,
        last_usable: device.usable() && listed.iter().filter(|d| d.usable()).count() == 1,
    }))
}
