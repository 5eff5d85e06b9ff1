//! The device side of enrolment (`/api/v1/enrol/*`) and the counted OPRF evaluation
//! (`/api/v1/evaluate`) — parsed here, decided in [`crate::enrolments`] and [`crate::devices`].

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use latchkey_protocol::wire::{
    DeviceRequest, EnrolBeginRequest, EnrolBeginResponse, EnrolFinish, EnrolFinishResponse,
    Evaluate, EvaluateResponse, RequestBody as _, ENROL_BEGIN_PATH,
};

use super::error::ApiResult;
use crate::{devices, enrolments, AppState};

/// Enrolment and evaluation routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(ENROL_BEGIN_PATH, post(begin))
        .route(EnrolFinish::PATH, post(finish))
        .route(Evaluate::PATH, post(evaluate))
}

async fn begin(
    State(state): State<Arc<AppState>>,
    Json(request): Json<EnrolBeginRequest>,
) -> ApiResult<EnrolBeginResponse> {
    Ok(Json(enrolments::begin(&state, &request).await?))
}

async fn finish(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<EnrolFinish>>,
) -> ApiResult<EnrolFinishResponse> {
    Ok(Json(enrolments::finish(&state, &request).await?))
}

async fn evaluate(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<Evaluate>>,
) -> ApiResult<EvaluateResponse> {
    Ok(Json(devices::evaluate(&state, &request).await?))
}
