//! HTTP: the device API (`/api/v1/…`) and the web pages, behind one set of security headers.

pub mod challenge;
pub mod enrol;
pub mod error;
pub mod pin;
pub mod push;
pub mod rp;
pub mod web;
pub mod wellknown;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

use crate::AppState;

/// All routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(enrol::router())
        .merge(challenge::router())
        .merge(pin::router())
        .merge(push::router())
        .merge(rp::router(state.clone()))
        .merge(web::router(state.config.dev))
        .merge(wellknown::router())
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Content Security Policy: no inline script or style, nothing from elsewhere.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(
        headers,
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=31536000",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    headers.insert(
        header::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    response
}
