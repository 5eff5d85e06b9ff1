//! The relying-party API (`/rp/v1/…`, docs/RP-API.md, docs/rp-api.openapi.json): JSON over
//! HTTPS, an application's API key as a bearer token, a request budget per application, and
//! every call recorded (`rp_audit`). The rules live in [`crate::rp`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use latchkey_protocol::secret::Pin;
use latchkey_protocol::wire::ErrorCode;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::ServerError;
use crate::rp::{self, Caller, Proof};
use crate::AppState;

/// Every route of the API, as the OpenAPI file lists them (a test compares the two).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/rp/v1/users/{user}"),
    ("put", "/rp/v1/users/{user}"),
    ("post", "/rp/v1/users/{user}/codes"),
    ("post", "/rp/v1/users/{user}/enrolments"),
    ("get", "/rp/v1/users/{user}/enrolments/{enrolment}"),
    ("get", "/rp/v1/users/{user}/enrolments/{enrolment}/qr.png"),
    ("get", "/rp/v1/users/{user}/devices"),
    ("post", "/rp/v1/users/{user}/devices/{device}/remove"),
    ("post", "/rp/v1/authentications"),
    ("get", "/rp/v1/authentications/{transaction}"),
    ("post", "/rp/v1/authentications/{transaction}/cancel"),
    ("get", "/rp/v1/events"),
    ("post", "/rp/v1/ciba/keycloak/{app}"),
];

/// The routes, behind the key check.
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/rp/v1/users/{user}", get(get_user).put(put_user))
        .route("/rp/v1/users/{user}/codes", post(send_code))
        .route("/rp/v1/users/{user}/enrolments", post(start_enrolment))
        .route(
            "/rp/v1/users/{user}/enrolments/{enrolment}",
            get(enrolment_status),
        )
        .route(
            "/rp/v1/users/{user}/enrolments/{enrolment}/qr.png",
            get(enrolment_png),
        )
        .route("/rp/v1/users/{user}/devices", get(list_devices))
        .route(
            "/rp/v1/users/{user}/devices/{device}/remove",
            post(remove_device),
        )
        .route("/rp/v1/authentications", post(start))
        .route("/rp/v1/authentications/{transaction}", get(status))
        .route("/rp/v1/authentications/{transaction}/cancel", post(cancel))
        .route("/rp/v1/events", get(events))
        .route_layer(middleware::from_fn_with_state(state, authenticate))
        // Keycloak's authentication channel: its own bearer token, checked in `rp::ciba`.
        .route("/rp/v1/ciba/keycloak/{app}", post(ciba_request))
}

/// One CIBA request from Keycloak: 201 once taken (Keycloak needs exactly that), the outcome
/// later through its callback.
async fn ciba_request(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(bearer) = bearer(&headers) else {
        return RpError(ServerError::new(
            ErrorCode::Unauthorized,
            "a CIBA request carries the OpenID provider's bearer token",
        ))
        .into_response();
    };
    match rp::ciba::take_request(&state, &app, bearer, &body).await {
        Ok(caller) => {
            rp::audit_call(
                &state,
                &caller,
                "POST",
                "/rp/v1/ciba/keycloak/{app}",
                201,
                &peer.ip().to_string(),
            )
            .await;
            StatusCode::CREATED.into_response()
        }
        Err(e) => {
            tracing::info!(app = ?app, error = %e, "CIBA request refused");
            RpError(e).into_response()
        }
    }
}

/// An error as the API answers it: the device API's body, 403 for a refused proof,
/// `Retry-After` when rate-limited, `WWW-Authenticate` for a bad key.
pub struct RpError(ServerError);

impl From<ServerError> for RpError {
    fn from(e: ServerError) -> Self {
        Self(e)
    }
}

impl IntoResponse for RpError {
    fn into_response(self) -> Response {
        let code = self.0.code();
        let retry = self.0.retry_after();
        let mut response = if code == ErrorCode::BadCredentials {
            (StatusCode::FORBIDDEN, Json(self.0.body())).into_response()
        } else {
            self.0.into_response()
        };
        let headers = response.headers_mut();
        if let Some(secs) = retry {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if code == ErrorCode::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"latchkey-rp\""),
            );
        }
        response
    }
}

type RpResult<T> = Result<T, RpError>;

/// The bearer token of a request (an application's API key, or an OpenID provider's token).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// A JSON body; a malformed one answers `bad_request` in the API's error form.
struct Body<T>(T);

impl<T, S> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = RpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(RpError(ServerError::bad_request(rejection.body_text()))),
        }
    }
}

/// An optional JSON body (none, or empty): the default.
struct OptionalBody<T>(T);

impl<T, S> axum::extract::FromRequest<S> for OptionalBody<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = RpError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(request.into_body(), 64 * 1024)
            .await
            .map_err(|_| RpError(ServerError::bad_request("the body is too large")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| RpError(ServerError::bad_request(format!("invalid JSON body: {e}"))))
    }
}

/// The key check, the budget, then the call, then its record.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let bearer = bearer(request.headers()).unwrap_or_default().to_owned();
    let caller = match rp::authenticate(&state, &bearer).await {
        Ok(caller) => caller,
        Err(e) => {
            // The key's id only (never its secret), for an operator looking for a stale key.
            let key = rp::parse_key(&bearer).map(|k| k.id.to_owned());
            tracing::info!(ip = %peer.ip(), key = ?key, path = %request.uri().path(), "RP call refused: {e}");
            return RpError(e).into_response();
        }
    };
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let response = match rp::count_request(&state, &caller).await {
        Ok(()) => {
            request.extensions_mut().insert(caller.clone());
            next.run(request).await
        }
        Err(e) => RpError(e).into_response(),
    };
    rp::audit_call(
        &state,
        &caller,
        &method,
        &route,
        response.status().as_u16(),
        &peer.ip().to_string(),
    )
    .await;
    response
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PutUser {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    addresses: Option<Vec<String>>,
}

async fn put_user(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(user): Path<String>,
    OptionalBody(body): OptionalBody<PutUser>,
) -> RpResult<Response> {
    let (user, created) = rp::put_user(
        &state,
        &caller,
        &user,
        body.display_name.as_deref(),
        body.addresses.as_deref(),
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(user)).into_response())
}

async fn get_user(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(user): Path<String>,
) -> RpResult<Json<rp::User>> {
    Ok(Json(rp::user(&state, &caller, &user).await?))
}

async fn send_code(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(user): Path<String>,
) -> RpResult<Json<rp::CodeSent>> {
    Ok(Json(rp::send_code(&state, &caller, &user).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartEnrolment {
    device_name: String,
    #[serde(default)]
    pin: Option<Zeroizing<String>>,
    #[serde(default)]
    proof: Option<Proof>,
}

async fn start_enrolment(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(user): Path<String>,
    Body(body): Body<StartEnrolment>,
) -> RpResult<Response> {
    let pin = body.pin.as_ref().map(|p| Pin::new(p.as_str()));
    let enrolment = rp::start_enrolment(
        &state,
        &caller,
        &user,
        &body.device_name,
        pin.as_ref(),
        body.proof.as_ref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(enrolment)).into_response())
}

#[derive(Deserialize)]
struct Wait {
    /// Seconds to wait for a change (at most 30).
    #[serde(default)]
    wait: Option<u64>,
}

impl Wait {
    fn duration(&self) -> Duration {
        Duration::from_secs(self.wait.unwrap_or(0).min(30))
    }
}

async fn enrolment_status(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((user, enrolment)): Path<(String, String)>,
    Query(wait): Query<Wait>,
) -> RpResult<Json<rp::EnrolmentStatus>> {
    Ok(Json(
        rp::enrolment_status(&state, &caller, &user, &enrolment, wait.duration()).await?,
    ))
}

async fn enrolment_png(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((user, enrolment)): Path<(String, String)>,
) -> RpResult<Response> {
    let png = rp::enrolment_png(&state, &caller, &user, &enrolment).await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

async fn list_devices(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(user): Path<String>,
) -> RpResult<Json<Vec<rp::DeviceView>>> {
    Ok(Json(rp::list_devices(&state, &caller, &user).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RemoveDevice {
    #[serde(default)]
    proof: Option<Proof>,
}

async fn remove_device(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((user, device)): Path<(String, String)>,
    OptionalBody(body): OptionalBody<RemoveDevice>,
) -> RpResult<StatusCode> {
    rp::remove_device(&state, &caller, &user, &device, body.proof.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn start(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Body(body): Body<rp::StartAuth>,
) -> RpResult<Response> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ServerError::bad_request("the Idempotency-Key must be ASCII"))?,
        ),
        None => None,
    };
    let started = rp::start(&state, &caller, &body, key).await?;
    Ok((StatusCode::CREATED, Json(started)).into_response())
}

async fn status(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(transaction): Path<String>,
    Query(wait): Query<Wait>,
) -> RpResult<Json<rp::Status>> {
    Ok(Json(
        rp::status(&state, &caller, &transaction, wait.duration()).await?,
    ))
}

async fn cancel(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(transaction): Path<String>,
) -> RpResult<Json<rp::Status>> {
    Ok(Json(rp::cancel(&state, &caller, &transaction).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    #[serde(default)]
    since: i64,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

async fn events(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<EventsQuery>,
) -> RpResult<Json<serde_json::Value>> {
    let events = rp::events(
        &state,
        &caller,
        query.since,
        query.user.as_deref(),
        query.limit.unwrap_or(100),
    )
    .await?;
    let next_since = events.last().map_or(query.since, |e| e.created_ms);
    Ok(Json(
        serde_json::json!({ "events": events, "next_since": next_since }),
    ))
}
