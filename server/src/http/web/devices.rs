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
use latchkey_protocol::link::EnrolmentLink;
use latchkey_protocol::oprf;
use latchkey_protocol::pin::PinPolicy;
use latchkey_protocol::secret::{EnrolmentCode, OprfKey, Pin};
use latchkey_protocol::types::{AccountId, DeviceId};
use latchkey_protocol::wire::PinSource;
use rand_core::OsRng;
use serde::Deserialize;
use sqlx::Row as _;
use zeroize::Zeroizing;

use super::confirm::{self, Gate};
use super::session::{self, Session};
use super::{csrf_refused, format_time, render, PageError};
use crate::attempts::Attempts;
use crate::devices::states;
use crate::http::enrol;
use crate::AppState;

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
    let email: String = sqlx::query("SELECT email FROM accounts WHERE id = $1")
        .bind(account.to_string())
        .fetch_one(&state.db)
        .await?
        .try_get("email")?;
    let rows = sqlx::query(
        "SELECT id, name, model, state, assurance, created_at, last_used_at, failures FROM devices \
         WHERE account_id = $1 AND state IN ('active', 'enrolling') ORDER BY created_at",
    )
    .bind(account.to_string())
    .fetch_all(&state.db)
    .await?;
    let mut devices = Vec::new();
    for r in &rows {
        let attempts = Attempts::new(r.try_get("failures")?, &state.config.policy);
        let dev_state: String = r.try_get("state")?;
        let (label, class) = if attempts.locked() {
            ("Locked: use \"Forgot PIN\" in the app".to_owned(), "locked")
        } else if dev_state == states::ENROLLING {
            ("Enrolling…".to_owned(), "")
        } else {
            ("Active".to_owned(), "")
        };
        devices.push(DeviceView {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            model: r.try_get::<Option<String>, _>("model")?.unwrap_or_default(),
            added: format_time(r.try_get("created_at")?),
            last_used: r
                .try_get::<Option<i64>, _>("last_used_at")?
                .map(format_time)
                .unwrap_or_else(|| "never".into()),
            assurance: match r.try_get::<Option<String>, _>("assurance")?.as_deref() {
                Some("software") => "software (encrypted on the device)".into(),
                Some("hardware") => "hardware key".into(),
                Some("secure_element") => "secure element".into(),
                _ => "—".into(),
            },
            state: label,
            state_class: class,
        });
    }
    let notice =
        match &query.removed {
            Some(id) => sqlx::query(
                "SELECT name FROM devices WHERE id = $1 AND account_id = $2 AND state = $3",
            )
            .bind(id)
            .bind(account.to_string())
            .bind(states::REMOVED)
            .fetch_optional(&state.db)
            .await?
            .map(|r| r.try_get::<String, _>("name"))
            .transpose()?
            .map(|name| format!("\"{name}\" was removed. Every address of the account was told.")),
            None => None,
        };
    let events = sqlx::query(
        "SELECT event, detail, at FROM audit WHERE account_id = $1 ORDER BY at DESC LIMIT 20",
    )
    .bind(account.to_string())
    .fetch_all(&state.db)
    .await?
    .iter()
    .map(|r| -> Result<EventView, sqlx::Error> {
        Ok(EventView {
            at: format_time(r.try_get("at")?),
            what: describe_event(
                &r.try_get::<String, _>("event")?,
                &r.try_get::<String, _>("detail")?,
            ),
        })
    })
    .collect::<Result<Vec<_>, _>>()?;
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
    let first_device = match confirm::gate(&state, &session, &account, "/devices/add").await? {
        Gate::FirstDevice => true,
        Gate::Confirmed => false,
        Gate::NeedsConfirmation(redirect) => return Ok(redirect),
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
    let first_device = match confirm::gate(&state, &session, &account, "/devices/add").await? {
        Gate::FirstDevice => true,
        Gate::Confirmed => false,
        Gate::NeedsConfirmation(redirect) => return Ok(redirect),
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
    let device = DeviceId::random(&mut OsRng);
    let oprf_key = OprfKey::generate(&mut OsRng);
    let device_text = device.to_string();
    let pin_check = if pin_on_web {
        let pin = Pin::new(form.pin.as_str());
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
        // The PIN is evaluated once under the new device's key; only the check is kept (P1).
        let output = oprf::evaluate(&oprf_key, &pin).map_err(|_| {
            PageError::new(
                StatusCode::BAD_REQUEST,
                "Invalid PIN",
                "Choose another PIN.",
            )
        })?;
        let check = oprf::pin_check(&output, &account, &device);
        // EXPOSE: the check is sealed under the master key until the device presents its own.
        Some(
            state
                .keys
                .seal("pin-check", &device_text, check.expose_secret()),
        )
    } else {
        None
    };
    let code = EnrolmentCode::generate(&mut OsRng);
    let email: String = sqlx::query("SELECT email FROM accounts WHERE id = $1")
        .bind(account.to_string())
        .fetch_one(&state.db)
        .await?
        .try_get("email")?;
    let link = EnrolmentLink::new(
        &state.public_url,
        code.clone(),
        state.keys.challenge_public(),
        policy.pin_source,
        policy.pin_digits,
        enrol::account_label(&policy.service_name, &email),
    )
    .map_err(|e| crate::error::ServerError::internal("enrolment link", e))?;
    let now = state.clock.now_i64();
    // EXPOSE: the code is stored only as its hash; the link (with the code) is sealed for
    // the owner's QR page and deleted once the device enrols.
    let code_hash = crate::codes::code_hash(code.expose_secret());
    sqlx::query(
        "INSERT INTO devices (id, account_id, name, state, pin_source, oprf_key, created_at, code_hash, \
         code_expires_at, pin_check, enrol_link, bootstrap) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&device_text)
    .bind(account.to_string())
    .bind(&name)
    .bind(states::PENDING)
    .bind(policy.pin_source.as_str())
    // EXPOSE: the OPRF key is stored only sealed under the master key.
    .bind(state.keys.seal("oprf", &device_text, oprf_key.expose_secret()))
    .bind(now)
    .bind(code_hash)
    .bind(now + i64::try_from(policy.enrol_ttl).unwrap_or(600))
    .bind(pin_check)
    .bind(state.keys.seal("enrol-link", &device_text, link.render().as_bytes()))
    .bind(i64::from(first_device))
    .execute(&state.db)
    .await?;
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
    let row = sqlx::query(
        "SELECT name, state, pin_source, code_expires_at, enrol_link FROM devices WHERE id = $1 AND account_id = $2",
    )
    .bind(&id)
    .bind(account.to_string())
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, "No such device", "This device does not exist."))?;
    let dev_state: String = row.try_get("state")?;
    let expires_at: i64 = row.try_get("code_expires_at")?;
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
    let sealed: Option<String> = row.try_get("enrol_link")?;
    let link = sealed
        .and_then(|s| state.keys.open("enrol-link", &id, &s))
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .ok_or_else(|| {
            PageError::new(
                StatusCode::GONE,
                "Code no longer valid",
                "Add the device again.",
            )
        })?;
    let name: String = row.try_get("name")?;
    let page = QrPage {
        service: &state.config.policy.service_name,
        csrf: &session.csrf,
        id: &id,
        name: &name,
        svg: qr_svg(&link)?,
        link: &link,
        expires_at,
        pin_on_web: row.try_get::<String, _>("pin_source")? == "web",
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
        (state, account, id, None::<(bool, bool, &'static str)>),
        |(state, account, id, last)| async move {
            if last.is_some_and(|(done, _, _)| done) {
                return None;
            }
            let key = crate::events::enrolment_key(&id);
            let current = || async {
                let row = sqlx::query(
                    "SELECT state, code_expires_at FROM devices WHERE id = $1 AND account_id = $2",
                )
                .bind(&id)
                .bind(account.to_string())
                .fetch_optional(&state.db)
                .await
                .ok()?;
                let Some(row) = row else {
                    return Some((
                        true,
                        false,
                        "This enrolment no longer exists. Add the device again.",
                    ));
                };
                let dev_state: String = row.try_get("state").ok()?;
                let expires: i64 = row.try_get("code_expires_at").ok()?;
                Some(match dev_state.as_str() {
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
                })
            };
            let changed = state
                .signals
                .wait_for(&key, Duration::from_secs(25), || async {
                    let now = current().await?;
                    (Some(now) != last).then_some(now)
                })
                .await;
            let (done, ok, message) = match changed {
                Some(now) => now,
                None => current()
                    .await
                    .unwrap_or((false, false, "Waiting for your device…")),
            };
            let data =
                serde_json::json!({ "done": done, "ok": ok, "message": message }).to_string();
            Some((
                Ok(Event::default().event("state").data(data)),
                (state, account, id, Some((done, ok, message))),
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
    if let Gate::NeedsConfirmation(redirect) =
        confirm::gate(&state, &session, &account, "/account").await?
    {
        return Ok(redirect);
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
    let rows = sqlx::query(
        "SELECT id, name, state, failures FROM devices WHERE account_id = $1 \
         AND state IN ('active', 'enrolling', 'pending')",
    )
    .bind(account.to_string())
    .fetch_all(&state.db)
    .await?;
    let usable = |r: &sqlx::any::AnyRow| {
        r.try_get::<String, _>("state")
            .is_ok_and(|s| s == states::ACTIVE)
            && r.try_get::<i64, _>("failures")
                .is_ok_and(|f| !Attempts::new(f, &state.config.policy).locked())
    };
    let Some(device) = rows
        .iter()
        .find(|r| r.try_get::<String, _>("id").is_ok_and(|d| d == id))
    else {
        return Ok(super::message(
            &state,
            "No such device",
            "This device is not on your account (it may have been removed already).",
            ("/account", "My devices"),
        ));
    };
    let name: String = device.try_get("name")?;
    Ok(render(&RemovePage {
        service: &state.config.policy.service_name,
        csrf: &session.csrf,
        id: &id,
        name: &name,
        last_usable: usable(device) && rows.iter().filter(|r| usable(r)).count() == 1,
    }))
}
