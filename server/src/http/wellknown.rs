//! `/.well-known/assetlinks.json` (Android App Links) and
//! `/.well-known/apple-app-site-association` (iOS Universal Links), from `Config::app_links`:
//! the apps named there open this server's enrolment links (`…/e#v=1&c=…`) straight from the
//! phone's camera or a mail. Unconfigured, both answer 404 and such a link opens the `/e` page.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::config::AppLinks;
use crate::AppState;

/// The two routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/.well-known/assetlinks.json", get(assetlinks))
        .route("/.well-known/apple-app-site-association", get(apple))
}

/// Android's statement list: each app may handle all of this site's links (its manifest's
/// intent filter narrows that to the enrolment path).
pub fn assetlinks_json(links: &AppLinks) -> Option<Value> {
    if links.android.is_empty() {
        return None;
    }
    Some(Value::Array(
        links
            .android
            .iter()
            .map(|app| {
                json!({
                    "relation": ["delegate_permission/common.handle_all_urls"],
                    "target": {
                        "namespace": "android_app",
                        "package_name": app.package,
                        "sha256_cert_fingerprints": app.fingerprints,
                    }
                })
            })
            .collect(),
    ))
}

/// Apple's association file: the apps open the enrolment path only (`PREFIX/e`, whatever
/// its fragment); every other page stays in the browser.
pub fn apple_json(links: &AppLinks, public_url: &str) -> Option<Value> {
    if links.apple_app_ids.is_empty() {
        return None;
    }
    let prefix = url::Url::parse(public_url)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    // Apple reads `*` and `?` in a path as wildcards, with no escape: such a prefix would
    // hand the app more than enrolment links.
    if prefix.contains(['*', '?']) {
        tracing::error!(
            public_url,
            "no Universal Links: the public URL's path has * or ?"
        );
        return None;
    }
    Some(json!({
        "applinks": {
            "details": [{
                "appIDs": links.apple_app_ids,
                "components": [{
                    "/": format!("{prefix}/e"),
                    "comment": "Latchkey enrolment links",
                }],
            }],
        },
    }))
}

fn answer(body: Option<Value>) -> Response {
    let Some(body) = body else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = axum::Json(body).into_response();
    // Fetched by the platforms' verifiers and CDNs, not by people: caching is wanted.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

async fn assetlinks(State(state): State<Arc<AppState>>) -> Response {
    answer(assetlinks_json(&state.config.app_links))
}

async fn apple(State(state): State<Arc<AppState>>) -> Response {
    answer(apple_json(&state.config.app_links, &state.public_url))
}
