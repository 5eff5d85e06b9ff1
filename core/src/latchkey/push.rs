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
