//! Push notifications. A push carries only the opaque challenge id (P4); the device fetches
//! the challenge over an authenticated request. The long-poll path (`/api/v1/challenges`) is
//! always available, so a device without a push service still gets a sign-in within a
//! second. FCM, APNs, WNS and UnifiedPush adapters implement [`Pusher`] later.

use latchkey_protocol::types::{ChallengeId, DeviceId};

/// Delivers "you have a challenge" to a device.
pub trait Pusher: Send + Sync {
    /// Sends the challenge id to the device's push channel; must not block.
    fn push(&self, device: &DeviceId, challenge: &ChallengeId);
}

/// Logs the push (ids only) and relies on the long-poll path.
pub struct LogPusher;

impl Pusher for LogPusher {
    fn push(&self, device: &DeviceId, challenge: &ChallengeId) {
        tracing::info!(%device, %challenge, "push: challenge available (long-poll delivers it)");
    }
}
