//! Enrolment: scan, PIN, and the two steps with the server.

use super::*;

impl Latchkey {
    /// Enrols this device with the account in `link`, protected by `pin`.
    ///
    /// With a PIN chosen in the app (`p=app`), `confirm` must repeat it. The PIN policy and
    /// the screen lock are checked before any network use.
    ///
    /// # Errors
    /// [`Error::ScreenLockMissing`], [`Error::PinPolicy`], [`Error::WrongPin`] (the PIN is not
    /// the one set on the web page; the account is kept so [`Latchkey::finish_enrolment`] can
    /// retry), server and network errors.
    pub async fn enrol(
        &self,
        link: &EnrolmentLink,
        pin: &Pin,
        confirm: Option<&Pin>,
    ) -> Result<Account> {
        if !self.platform.has_screen_lock() {
            return Err(Error::ScreenLockMissing);
        }
        PinPolicy {
            digits: link.pin_digits,
        }
        .check(pin)?;
        if link.pin_source == PinSource::App && !confirm.is_some_and(|c| c.ct_eq(pin)) {
            return Err(Error::InvalidInput("the two PINs are different".into()));
        }
        // Room for the device key and the record before the single-use code is redeemed and
        // the PIN counted.
        self.vault.check_room()?;
        let alias = KeyAlias::random(&mut OsRng);
        let (device_public, attestation) = self.signer.generate_attested(
            &alias,
            &EnrolBeginRequest::attestation_challenge(&link.code),
        )?;
        let assurance = self.signer.assurance();
        let model: String = self.platform.device_model().chars().take(64).collect();
        let (state, blinded) = oprf::blind(pin, &mut OsRng)?;
        let bytes = EnrolBeginRequest::signed_bytes(
            &link.code,
            &device_public,
            assurance,
            &model,
            &blinded,
        );
        let request = EnrolBeginRequest {
            v: latchkey_protocol::PROTOCOL_VERSION,
            code: link.code.clone(),
            device_key: device_public,
            assurance,
            device_model: model,
            blinded_pin: blinded,
            signature: self.signer.sign(&alias, &bytes)?,
            attestation: attestation.chain,
            app_attest: attestation.app_attest,
        };
        let begun: EnrolBeginResponse = match self
            .client
            .post(
                &link.api_base(),
                wire::ENROL_BEGIN_PATH,
                &request,
                REQUEST_TIMEOUT,
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let _ = self.signer.delete(&alias);
                return Err(e);
            }
        };
        // The link (the page the person scanned) says where the PIN comes from. A server that
        // answers otherwise would get the PIN check of a PIN chosen here for no PIN it set: a
        // check it could search offline. Only the link's word counts.
        if begun.pin_source != link.pin_source {
            let _ = self.signer.delete(&alias);
            return Err(Error::ServerUntrusted(
                "its answer does not match the code scanned".into(),
            ));
        }
        let output = state.finalize(pin, &begun.evaluated_pin)?;
        let identity = AccountIdentity {
            server: link.api_base(),
            account: begun.account,
            device: begun.device,
            label: begun.account_label.clone(),
            server_key: link.server_key,
            pin_digits: link.pin_digits,
        };
        let approval = ApprovalKey::generate(&mut OsRng);
        let slot = Slot::seal(&approval, &output, pin, begun.account, begun.device, 1);
        let device_key = DeviceKeyRef {
            alias,
            public_key: device_public,
            assurance,
        };
        let record = self.vault.create(identity, device_key, slot)?;
        self.step("after the enrolment record is written")?;
        let check = (begun.pin_source == PinSource::Web)
            .then(|| oprf::pin_check(&output, &begun.account, &begun.device));
        self.finish(&record, &approval, check).await
    }

    /// Retries the PIN of an enrolment that was refused for a wrong PIN (or interrupted).
    ///
    /// # Errors
    /// As [`Latchkey::enrol`].
    pub async fn finish_enrolment(&self, account: &RecordId, pin: &Pin) -> Result<Account> {
        let record = self.record(account)?;
        if record.state == RecordState::Active {
            return Ok(account_view(&record));
        }
        let (state, blinded) = oprf::blind(pin, &mut OsRng)?;
        let evaluated = self
            .send(
                &record,
                &Evaluate {
                    purpose: EvaluatePurpose::Enrol,
                    blinded_pin: blinded,
                },
                REQUEST_TIMEOUT,
            )
            .await?;
        let output = state.finalize(pin, &evaluated.evaluated_pin)?;
        let (a, d) = (record.identity.account, record.identity.device);
        let approval = ApprovalKey::generate(&mut OsRng);
        let slot = Slot::seal(&approval, &output, pin, a, d, 1);
        let staged = Staged {
            slot,
            operation: OperationId::random(&mut OsRng),
            kind: RekeyKind::Change,
            commit: None,
        };
        self.vault.stage(account, staged)?;
        let record = self.vault.promote(account)?;
        self.finish(&record, &approval, Some(oprf::pin_check(&output, &a, &d)))
            .await
    }

    pub(super) async fn finish(
        &self,
        record: &AccountRecord,
        approval: &ApprovalKey,
        check: Option<latchkey_protocol::secret::PinCheck>,
    ) -> Result<Account> {
        let (a, d) = (record.identity.account, record.identity.device);
        let proof = signed::enrol_proof(
            &a,
            &d,
            &approval.public_key(),
            &record.device_key.public_key,
        );
        let finish = EnrolFinish {
            pin_check: check,
            approval_key: approval.public_key(),
            approval_proof: approval.sign(&proof),
        };
        self.send(record, &finish, REQUEST_TIMEOUT).await?;
        self.step("after the server confirmed the enrolment")?;
        let record = self.vault.activate(&record.id)?;
        tracing::info!(account = record.id.as_str(), "enrolled");
        Ok(account_view(&record))
    }
}
