//! Push: telling an account's server where to wake this device.

use latchkey_protocol::wire::{PushTarget, SetPushTarget};

use super::*;

impl Latchkey {
    /// Registers this device's push target with the server of `account` (a new or rotated
    /// token), or drops it (`None`). Pushes carry only a request id; long-poll keeps working
    /// whatever happens here.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a target of the wrong shape (checked before anything is
    /// sent); server errors (a server that does not push through this service says so) and
    /// network errors.
    pub async fn set_push_target(
        &self,
        account: &RecordId,
        target: Option<&PushTarget>,
    ) -> Result<bool> {
        if let Some(t) = target {
            t.check().map_err(|e| Error::InvalidInput(e.into()))?;
        }
        let record = self.record(account)?;
        let body = SetPushTarget {
            target: target.cloned(),
        };
        Ok(self.send(&record, &body, REQUEST_TIMEOUT).await?.registered)
    }
}

/// The request id a push body carries (a decrypted Web Push / UnifiedPush payload, a WNS raw
/// notification: `{"challenge":"…"}`), for the app's `PushReceived`; `None` for any other
/// body.
pub fn challenge_in_push(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<latchkey_protocol::wire::PushPayload>(body)
        .ok()
        .map(|p| p.challenge.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_bodies_give_their_challenge_only() {
        let id = latchkey_protocol::types::ChallengeId::random(&mut rand_core::OsRng);
        let body = format!(r#"{{"challenge":"{id}","extra":1}}"#);
        assert_eq!(challenge_in_push(body.as_bytes()), Some(id.to_string()));
        for bad in [&b"{}"[..], b"not json", br#"{"challenge":"short"}"#, b""] {
            assert_eq!(challenge_in_push(bad), None);
        }
    }
}
