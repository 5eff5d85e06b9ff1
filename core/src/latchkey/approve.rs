//! Sign-ins: the live requests, approving with the number and the PIN, denying, and the
//! counted unlock every PIN use goes through.

use super::*;

impl Latchkey {
    /// Pending sign-in requests, waiting up to `wait_seconds` for one (long-poll; for devices
    /// without a push service).
    ///
    /// # Errors
    /// Server and network errors.
    pub async fn pending(&self, account: &RecordId, wait_seconds: u16) -> Result<Vec<ChallengeId>> {
        let record = self.record(account)?;
        let wait = wait_seconds.min(wire::MAX_WAIT_SECS);
        let timeout = Duration::from_secs(u64::from(wait)) + LONG_POLL_SLACK;
        Ok(self
            .send(&record, &ListChallenges { wait_seconds: wait }, timeout)
            .await?
            .challenges)
    }

    /// The live sign-in requests of an account, newest first, each fetched and verified (a
    /// request that ended between the listing and its fetch is left out).
    ///
    /// # Errors
    /// As [`Latchkey::pending`] and [`Latchkey::challenge`] (except a request that ended).
    pub async fn requests(&self, account: &RecordId) -> Result<Vec<ChallengeView>> {
        let mut views = Vec::new();
        for id in self.pending(account, 0).await? {
            match self.challenge(account, &id).await {
                Ok(view) => views.push(view),
                Err(Error::Server {
                    code: ErrorCode::Expired | ErrorCode::AlreadyAnswered | ErrorCode::NotFound,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(views)
    }

    /// Waits for the next sign-in request on any active account, up to `wait_seconds`.
    ///
    /// # Errors
    /// As [`Latchkey::pending`].
    pub async fn wait_for_challenge(
        &self,
        account: &RecordId,
        wait_seconds: u16,
    ) -> Result<Option<ChallengeView>> {
        match self.pending(account, wait_seconds).await?.first() {
            Some(id) => self.challenge(account, id).await.map(Some),
            None => Ok(None),
        }
    }

    /// Fetches a sign-in request (for example by the id a push carried) and verifies it with
    /// the server key pinned at enrolment.
    ///
    /// # Errors
    /// [`Error::ServerUntrusted`] if the signature does not verify; server and network errors.
    pub async fn challenge(&self, account: &RecordId, id: &ChallengeId) -> Result<ChallengeView> {
        let record = self.record(account)?;
        let signed: SignedChallenge = self
            .send(&record, &FetchChallenge { challenge: *id }, REQUEST_TIMEOUT)
            .await?;
        let view = ChallengeView {
            account: account.clone(),
            challenge: signed.challenge,
            signature: signed.signature,
            server_time: signed.server_time,
        };
        if view.challenge.id != *id || !view.is_authentic(&record) {
            return Err(untrusted_challenge());
        }
        Ok(view)
    }

    /// The record a view is for, once the view proved authentic (before any network use).
    pub(super) fn record_for(&self, view: &ChallengeView) -> Result<AccountRecord> {
        let record = self.record(&view.account)?;
        if !view.is_authentic(&record) {
            return Err(untrusted_challenge());
        }
        Ok(record)
    }

    /// Approves with the code shown on the login page and the PIN.
    ///
    /// # Errors
    /// [`Error::ServerUntrusted`] if the view is not signed by the pinned server key (nothing
    /// is sent then), [`Error::WrongPin`] with attempts left, [`Error::Locked`], code
    /// mismatch, expired, already answered, network.
    pub async fn approve(&self, view: &ChallengeView, typed_code: &str, pin: &Pin) -> Result<()> {
        let record = self.record_for(view)?;
        // The counter first: when its block must be written and the disk cannot take it, no
        // PIN attempt is spent (a skipped counter value is harmless; it only has to increase).
        let counter = self.vault.next_counter(&record.id)?;
        let key = self
            .unlock(
                &record,
                pin,
                EvaluatePurpose::Approve {
                    challenge: view.challenge.id,
                },
            )
            .await?;
        let c = &view.challenge;
        let typed = typed_code.trim();
        let bytes = signed::answer(
            &c.account,
            &c.device,
            &c.id,
            &c.digest(),
            typed,
            Decision::Approve,
            counter,
        );
        let answer = Answer {
            challenge: c.id,
            challenge_digest: c.digest(),
            decision: Decision::Approve,
            typed_code: typed.to_owned(),
            counter,
            approval_signature: Some(key.sign(&bytes)),
        };
        drop(key);
        self.send(&record, &answer, REQUEST_TIMEOUT).await?;
        tracing::info!(account = record.id.as_str(), "sign-in approved");
        Ok(())
    }

    /// Denies a sign-in (no PIN needed); `not_me` reports it ("this wasn't me").
    ///
    /// # Errors
    /// [`Error::ServerUntrusted`] if the view is not signed by the pinned server key (nothing
    /// is sent then); expired, already answered, network.
    pub async fn deny(&self, view: &ChallengeView, not_me: bool) -> Result<AnswerOutcome> {
        let record = self.record_for(view)?;
        let c = &view.challenge;
        let answer = Answer {
            challenge: c.id,
            challenge_digest: c.digest(),
            decision: if not_me {
                Decision::Report
            } else {
                Decision::Deny
            },
            typed_code: String::new(),
            counter: 0,
            approval_signature: None,
        };
        let response = self.send(&record, &answer, REQUEST_TIMEOUT).await?;
        Ok(response.outcome)
    }

    /// One counted evaluation, then the approval key opened with the PIN.
    pub(super) async fn unlock(
        &self,
        record: &AccountRecord,
        pin: &Pin,
        purpose: EvaluatePurpose,
    ) -> Result<ApprovalKey> {
        let (state, blinded) = oprf::blind(pin, &mut OsRng)?;
        let evaluated = self
            .send(
                record,
                &Evaluate {
                    purpose,
                    blinded_pin: blinded,
                },
                REQUEST_TIMEOUT,
            )
            .await?;
        let output = state.finalize(pin, &evaluated.evaluated_pin)?;
        record
            .active
            .open(
                &output,
                pin,
                record.identity.account,
                record.identity.device,
            )
            .map_err(|_| Error::WrongPin {
                attempts_left: Some(evaluated.attempts_left),
            })
    }
}
