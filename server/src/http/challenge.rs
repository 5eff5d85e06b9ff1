//! The device side of sign-ins: the long-poll list, fetching one request (signed), and
//! answering — parsed here, decided in [`crate::signins`].

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use latchkey_protocol::wire::{
    Answer, AnswerResponse, ChallengeList, DeviceRequest, FetchChallenge, ListChallenges,
    RequestBody as _, SignedChallenge, MAX_WAIT_SECS,
};

use super::error::ApiResult;
use crate::devices::states;
use crate::events;
use crate::{requests, signins, AppState};

/// Challenge routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(ListChallenges::PATH, post(list))
        .route(FetchChallenge::PATH, post(fetch))
        .route(Answer::PATH, post(answer))
}

async fn list(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<ListChallenges>>,
) -> ApiResult<ChallengeList> {
    let device = requests::authenticate(&state, &request, &[states::ACTIVE]).await?;
    let wait = Duration::from_secs(u64::from(request.body.wait_seconds.min(MAX_WAIT_SECS)));
    let key = events::device_key(&device.id);
    let found = state
        .signals
        .wait_for(&key, wait, || async {
            match signins::pending_ids(&state, &device).await {
                Ok(ids) if ids.is_empty() => None,
                other => Some(other),
            }
        })
        .await;
    let challenges = match found {
        Some(result) => result?,
        None => Vec::new(),
    };
    Ok(Json(ChallengeList {
        challenges,
        server_time: state.clock.now(),
    }))
}

async fn fetch(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<FetchChallenge>>,
) -> ApiResult<SignedChallenge> {
    let device = requests::authenticate(&state, &request, &[states::ACTIVE]).await?;
    Ok(Json(
        signins::signed_challenge(&state, &device, &request.body.challenge).await?,
    ))
}

async fn answer(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<Answer>>,
) -> ApiResult<AnswerResponse> {
    let outcome = signins::answer(&state, &request).await?;
    Ok(Json(AnswerResponse { outcome }))
}
