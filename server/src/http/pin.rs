//! The device side of PIN change, forgotten-PIN reset, removal and the operation status —
//! parsed and authenticated here, decided in [`crate::operations`] and [`crate::devices`].

use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::routing::post;
use axum::{Json, Router};
use latchkey_protocol::wire::{
    CommitResponse, DeviceRequest, OperationStatus, OperationStatusResponse, PinChangeCommit,
    PinChangeStart, PinChangeStartResponse, PinResetCommit, PinResetStart, PinResetStartResponse,
    PinResetVerify, PinResetVerifyResponse, RemoveDevice, RemoveDeviceResponse, RequestBody as _,
};

use super::error::ApiResult;
use crate::devices::{self, states};
use crate::{operations, requests, AppState};

/// PIN and device-lifecycle routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(PinChangeStart::PATH, post(change_start))
        .route(PinChangeCommit::PATH, post(change_commit))
        .route(PinResetStart::PATH, post(reset_start))
        .route(PinResetVerify::PATH, post(reset_verify))
        .route(PinResetCommit::PATH, post(reset_commit))
        .route(RemoveDevice::PATH, post(remove))
        .route(OperationStatus::PATH, post(status))
}

async fn change_start(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<PinChangeStart>>,
) -> ApiResult<PinChangeStartResponse> {
    let device = requests::authenticate(&state, &request, &[states::ACTIVE]).await?;
    Ok(Json(
        operations::change_start(&state, &device, &request.body).await?,
    ))
}

async fn change_commit(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<PinChangeCommit>>,
) -> ApiResult<CommitResponse> {
    let device = requests::authenticate(&state, &request, &[states::ACTIVE]).await?;
    Ok(Json(
        operations::commit(&state, &device, &request.body).await?,
    ))
}

async fn reset_start(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Json(request): Json<DeviceRequest<PinResetStart>>,
) -> ApiResult<PinResetStartResponse> {
    let device = requests::authenticate(&state, &request, &[states::ACTIVE]).await?;
    Ok(Json(
        operations::reset_start(&state, &device, peer.ip(), &request.body).await?,
    ))
}

async fn reset_verify(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<PinResetVerify>>,
) -> ApiResult<PinResetVerifyResponse> {
    let device = requests::authenticate(&state, &request, &[states::ACTIVE]).await?;
    Ok(Json(
        operations::reset_verify(&state, &device, &request.body).await?,
    ))
}

async fn reset_commit(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<PinResetCommit>>,
) -> ApiResult<CommitResponse> {
    let device = requests::authenticate(&state, &request, &[states::ACTIVE]).await?;
    Ok(Json(
        operations::commit(&state, &device, &request.body).await?,
    ))
}

async fn remove(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<RemoveDevice>>,
) -> ApiResult<RemoveDeviceResponse> {
    Ok(Json(devices::remove_from_app(&state, &request).await?))
}

async fn status(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<OperationStatus>>,
) -> ApiResult<OperationStatusResponse> {
    let device = requests::authenticate(&state, &request, &[states::ACTIVE]).await?;
    Ok(Json(
        operations::status(&state, &device, &request.body).await?,
    ))
}
