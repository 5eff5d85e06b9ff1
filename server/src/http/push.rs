//! The device asks which push services the server uses, and registers, rotates or drops its
//! push target — parsed and authenticated here, stored by [`crate::push::targets`].

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use latchkey_protocol::wire::{
    DeviceRequest, PushConfigResponse, RequestBody as _, SetPushTarget, SetPushTargetResponse,
    PUSH_CONFIG_PATH,
};

use super::error::ApiResult;
use crate::devices::states;
use crate::error::ServerError;
use crate::{push, requests, AppState};

/// Push routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(SetPushTarget::PATH, post(set_target))
        .route(PUSH_CONFIG_PATH, get(config))
}

/// The services this server pushes through, and its VAPID key.
async fn config(State(state): State<Arc<AppState>>) -> Json<PushConfigResponse> {
    Json(state.providers.describe())
}

async fn set_target(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<SetPushTarget>>,
) -> ApiResult<SetPushTargetResponse> {
    let target = request.body.target.as_ref();
    if let Some(t) = target {
        t.check().map_err(ServerError::bad_request)?;
        match state.providers.get(t.kind) {
            None => {
                return Err(ServerError::bad_request(format!(
                "this server does not push through {}; sign-in requests still arrive by long-poll",
                t.kind.as_str()
            )))
            }
            Some(provider) if !provider.accepts(&t.token) => {
                return Err(ServerError::bad_request(format!(
                    "this server does not push to that {} address",
                    t.kind.as_str()
                )))
            }
            Some(_) => {}
        }
    }
    let device = requests::authenticate(&state, &request, &[states::ACTIVE]).await?;
    push::targets::set(&state, &device.account, &device.id, target).await?;
    Ok(Json(SetPushTargetResponse {
        registered: target.is_some(),
    }))
}
