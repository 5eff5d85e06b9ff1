//! PIN change and reset (forgot PIN): a fresh approval key, staged and committed in two phases.

use super::*;

impl Latchkey {
    /// Changes the PIN (knows the old one). A fresh approval key is made; the old one is gone.
    ///
    /// # Errors
    /// [`Error::WrongPin`], [`Error::PinPolicy`], network (then [`Latchkey::settle`] finishes
    /// or rolls back; the old PIN keeps working until the server commits).
    pub async fn change_pin(&self, account: &RecordId, old: &Pin, new: &Pin) -> Result<()> {
        let record = self.settled_record(account).await?;
        PinPolicy {
            digits: record.identity.pin_digits,
        }
        .check(new)?;
        // Room for the staged key before the server counts the old PIN.
        self.vault.check_room()?;
        let operation = OperationId::random(&mut OsRng);
        let (old_state, old_blinded) = oprf::blind(old, &mut OsRng)?;
        let (new_state, new_blinded) = oprf::blind(new, &mut OsRng)?;
        let started = self
            .send(
                &record,
                &PinChangeStart {
                    operation,
                    old_blinded_pin: old_blinded,
                    new_blinded_pin: new_blinded,
                },
                REQUEST_TIMEOUT,
            )
            .await?;
        let (a, d) = (record.identity.account, record.identity.device);
        let old_output = old_state.finalize(old, &started.old_evaluated_pin)?;
        let old_key = record
            .active
            .open(&old_output, old, a, d)
            .map_err(|_| Error::WrongPin {
                attempts_left: Some(started.attempts_left),
            })?;
        let new_output = new_state.finalize(new, &started.new_evaluated_pin)?;
        let fresh = ApprovalKey::generate(&mut OsRng);
        let slot = Slot::seal(&fresh, &new_output, new, a, d, started.new_epoch);
        let bytes =
            signed::pin_change_proof(&a, &d, &operation, &fresh.public_key(), started.new_epoch);
        let commit = PinChangeCommit {
            operation,
            new_approval_key: fresh.public_key(),
            old_proof: old_key.sign(&bytes),
            new_proof: fresh.sign(&bytes),
        };
        drop((old_key, fresh));
        self.stage_and_commit(&record, slot, operation, RekeyKind::Change, &commit)
            .await
    }

    /// Forgotten PIN, step 1: the account password; a one-time code is e-mailed (P7).
    ///
    /// # Errors
    /// Wrong password (`Server` with `bad_credentials`), rate limits, network.
    pub async fn forgot_pin_start(
        &self,
        account: &RecordId,
        password: &Password,
    ) -> Result<ResetTicket> {
        let record = self.settled_record(account).await?;
        let operation = OperationId::random(&mut OsRng);
        let started = self
            .send(
                &record,
                &PinResetStart {
                    operation,
                    password: password.clone(),
                },
                REQUEST_TIMEOUT,
            )
            .await?;
        Ok(ResetTicket {
            operation,
            sent_to: started.sent_to,
            expires_at: started.expires_at,
        })
    }

    /// Forgotten PIN, step 2: the e-mailed code and the new PIN. Fresh keys; the device is
    /// unlocked.
    ///
    /// # Errors
    /// Wrong or expired code, PIN policy, network (then [`Latchkey::settle`]).
    pub async fn forgot_pin_finish(
        &self,
        account: &RecordId,
        ticket: &ResetTicket,
        code: &OneTimeCode,
        new: &Pin,
    ) -> Result<()> {
        let record = self.record(account)?;
        PinPolicy {
            digits: record.identity.pin_digits,
        }
        .check(new)?;
        // Room for the staged key before the mailed code is tried.
        self.vault.check_room()?;
        let operation = ticket.operation;
        let (state, blinded) = oprf::blind(new, &mut OsRng)?;
        let verified = self
            .send(
                &record,
                &PinResetVerify {
                    operation,
                    code: code.clone(),
                    new_blinded_pin: blinded,
                },
                REQUEST_TIMEOUT,
            )
            .await?;
        let (a, d) = (record.identity.account, record.identity.device);
        let output = state.finalize(new, &verified.new_evaluated_pin)?;
        let fresh = ApprovalKey::generate(&mut OsRng);
        let slot = Slot::seal(&fresh, &output, new, a, d, verified.new_epoch);
        let bytes =
            signed::pin_reset_proof(&a, &d, &operation, &fresh.public_key(), verified.new_epoch);
        let commit = PinResetCommit {
            operation,
            new_approval_key: fresh.public_key(),
            new_proof: fresh.sign(&bytes),
        };
        drop(fresh);
        self.stage_and_commit(&record, slot, operation, RekeyKind::Reset, &commit)
            .await
    }

    /// Phase one (durable staged slot with the commit kept for re-sending), the commit, and
    /// phase two (promote).
    pub(super) async fn stage_and_commit<B: RequestBody>(
        &self,
        record: &AccountRecord,
        slot: Slot,
        operation: OperationId,
        kind: RekeyKind,
        commit: &B,
    ) -> Result<()> {
        let commit_json =
            serde_json::to_string(commit).map_err(|e| Error::InvalidInput(e.to_string()))?;
        // Held until the new key is promoted, so no other process settles the operation
        // half-way (see `settle_one`).
        let _claim = self
            .vault
            .claim_operation(&record.id)?
            .ok_or(Error::AlreadyStaged)?;
        self.vault.stage(
            &record.id,
            Staged {
                slot,
                operation,
                kind,
                commit: Some(commit_json),
            },
        )?;
        self.step("before sending the commit")?;
        self.send(record, commit, REQUEST_TIMEOUT).await?;
        self.step("after the server committed")?;
        self.vault.promote(&record.id)?;
        tracing::info!(account = record.id.as_str(), ?kind, "PIN replaced");
        Ok(())
    }

    /// Settles a leftover staged slot before starting a new operation; refuses while one
    /// stays unsettled (server unreachable, or another process is committing it).
    pub(super) async fn settled_record(&self, account: &RecordId) -> Result<AccountRecord> {
        let record = self.record(account)?;
        if record.staged.is_none() {
            return Ok(record);
        }
        self.settle_one(&record).await?;
        let record = self.record(account)?;
        if record.staged.is_some() {
            return Err(Error::AlreadyStaged);
        }
        Ok(record)
    }
}
