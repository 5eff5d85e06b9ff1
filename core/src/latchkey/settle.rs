//! Settling what a crash interrupted (run at start-up).

use super::*;

impl Latchkey {
    /// Finishes or rolls back anything a crash interrupted (run at start-up).
    ///
    /// # Errors
    /// Storage errors; an unreachable server leaves the account [`Settled::Pending`].
    pub async fn settle(&self) -> Result<Vec<(RecordId, Settled)>> {
        let mut out = Vec::new();
        for id in self.vault.list()? {
            let record = self.vault.load(&id)?;
            let settled = self.settle_one(&record).await?;
            out.push((id, settled));
        }
        Ok(out)
    }

    pub(super) async fn settle_one(&self, record: &AccountRecord) -> Result<Settled> {
        if record.state == RecordState::Enrolling {
            // If the server already finished the enrolment, device requests work.
            return match self
                .send(record, &ListChallenges { wait_seconds: 0 }, REQUEST_TIMEOUT)
                .await
            {
                Ok(_) => {
                    self.vault.activate(&record.id)?;
                    Ok(Settled::Activated)
                }
                Err(_) => Ok(Settled::Pending),
            };
        }
        if record.staged.is_none() {
            return Ok(Settled::Nothing);
        }
        // Another handle or process may be committing this very operation right now: leave
        // it to that one (it finishes it, or its crash releases the claim).
        let Some(_claim) = self.vault.claim_operation(&record.id)? else {
            return Ok(Settled::Pending);
        };
        // As the record is now that the operation is ours (the other may just have finished).
        let record = &self.record(&record.id)?;
        let Some(staged) = &record.staged else {
            return Ok(Settled::Nothing);
        };
        let status = match self
            .send(
                record,
                &OperationStatus {
                    operation: staged.operation,
                },
                REQUEST_TIMEOUT,
            )
            .await
        {
            Ok(s) => s,
            Err(Error::Network(_)) => return Ok(Settled::Pending),
            Err(e) => return Err(e),
        };
        match status.state {
            OperationState::Committed => {
                self.vault.promote(&record.id)?;
                Ok(Settled::Promoted)
            }
            OperationState::Pending => {
                let resent = match (&staged.commit, staged.kind) {
                    (Some(json), RekeyKind::Change) => {
                        self.resend::<PinChangeCommit>(record, json).await
                    }
                    (Some(json), RekeyKind::Reset) => {
                        self.resend::<PinResetCommit>(record, json).await
                    }
                    (None, _) => Err(Error::NothingStaged),
                };
                match resent {
                    Ok(()) => {
                        self.vault.promote(&record.id)?;
                        Ok(Settled::Promoted)
                    }
                    Err(Error::Network(_)) => Ok(Settled::Pending),
                    Err(_) => {
                        self.vault.discard(&record.id)?;
                        Ok(Settled::Discarded)
                    }
                }
            }
            OperationState::Aborted | OperationState::Unknown => {
                self.vault.discard(&record.id)?;
                Ok(Settled::Discarded)
            }
        }
    }

    pub(super) async fn resend<B: RequestBody>(
        &self,
        record: &AccountRecord,
        json: &str,
    ) -> Result<()> {
        let body: B = serde_json::from_str(json).map_err(|_| Error::Corrupt {
            path: self.vault.dir().to_owned(),
            reason: "the stored commit is unreadable".into(),
        })?;
        self.send(record, &body, REQUEST_TIMEOUT).await.map(|_| ())
    }
}
