//! Removing this device from an account (needs the PIN, P7).

use super::*;

impl Latchkey {
    /// Removes the account from the server and from this device. An enrolled device proves
    /// the PIN (P7: a thief holding the phone cannot clear it away): one counted evaluation,
    /// then the approval key signs the removal with the next signature counter. An enrolment
    /// the server never confirmed is cancelled without one. A person who forgot the PIN uses
    /// "Forgot PIN" first, or removes the device on the account's web page.
    ///
    /// If the server no longer knows the device (it was removed on the web page), the account
    /// is deleted here whatever PIN was typed: there is nothing left to protect.
    ///
    /// # Errors
    /// [`Error::WrongPin`] with attempts left, [`Error::Locked`], network (nothing is deleted
    /// locally then, so the person can retry).
    pub async fn remove(&self, account: &RecordId, pin: &Pin) -> Result<()> {
        let mut record = self.record(account)?;
        if record.state == RecordState::Enrolling
            && self.settle_one(&record).await? == Settled::Activated
        {
            // The server had confirmed the enrolment (its last local write was lost): the
            // device is enrolled, so its removal needs the PIN.
            record = self.record(account)?;
        }
        match self.remove_on_server(&record, pin).await {
            Ok(()) => {}
            // Already removed on the web page: finish locally.
            Err(Error::Server {
                code: ErrorCode::Unauthorized,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
        self.vault.remove(account)?;
        self.signer.delete(&record.device_key.alias)?;
        tracing::info!(account = account.as_str(), "removed");
        Ok(())
    }

    pub(super) async fn remove_on_server(&self, record: &AccountRecord, pin: &Pin) -> Result<()> {
        let body = match record.state {
            // No approval key on the server yet: the unfinished enrolment is cancelled.
            RecordState::Enrolling => RemoveDevice {
                counter: 0,
                approval_signature: None,
            },
            RecordState::Active => {
                let key = self.unlock(record, pin, EvaluatePurpose::Remove).await?;
                let counter = self.vault.next_counter(&record.id)?;
                let bytes =
                    signed::removal(&record.identity.account, &record.identity.device, counter);
                let signature = key.sign(&bytes);
                drop(key);
                RemoveDevice {
                    counter,
                    approval_signature: Some(signature),
                }
            }
        };
        self.send(record, &body, REQUEST_TIMEOUT).await.map(|_| ())
    }
}
