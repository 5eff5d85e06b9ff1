//! The library handle: every flow, one async call each.

use super::*;

pub(crate) fn record_id(text: &str) -> Result<RecordId, LatchkeyError> {
    RecordId::parse(text).ok_or_else(|| invalid("the account id"))
}

pub(crate) fn pin(mut text: String) -> Pin {
    let pin = Pin::new(text.as_str());
    text.zeroize();
    pin
}

/// Opens the core over the shell's keystore, signer and platform.
pub(crate) fn open_core(
    config: Config,
    keystore: Arc<dyn KeyStore>,
    signer: Option<Arc<dyn DeviceSigner>>,
    platform: Arc<dyn Platform>,
) -> Result<latchkey_core::Latchkey, LatchkeyError> {
    let mut options = latchkey_core::Options::new(
        PathBuf::from(config.data_dir),
        Arc::new(ForeignKeyStore(keystore)),
        Arc::new(ForeignPlatform(platform)),
    );
    options.signer =
        signer.map(|s| Arc::new(ForeignSigner(s)) as Arc<dyn core_signer::DeviceSigner>);
    options.extra_ca_pem = config.extra_ca_pem.map(String::into_bytes);
    options.link_policy = LinkPolicy {
        allowed_hosts: config.allowed_hosts,
    };
    Ok(latchkey_core::Latchkey::open(options)?)
}

/// The library handle: owns the data directory and runs every flow. Open one per app.
#[derive(uniffi::Object)]
pub struct Latchkey {
    inner: latchkey_core::Latchkey,
}

#[uniffi::export(async_runtime = "tokio")]
impl Latchkey {
    /// Opens the data directory. `signer` is the platform's hardware signer; without one the
    /// library keeps device keys in software, sealed under `keystore` keys.
    #[uniffi::constructor]
    pub fn new(
        config: Config,
        keystore: Arc<dyn KeyStore>,
        signer: Option<Arc<dyn DeviceSigner>>,
        platform: Arc<dyn Platform>,
    ) -> Result<Arc<Self>, LatchkeyError> {
        Ok(Arc::new(Self {
            inner: open_core(config, keystore, signer, platform)?,
        }))
    }

    /// Scans one camera frame: its luma (Y) plane, `width` × `height`, rows `row_stride`
    /// bytes apart (Android `ImageProxy.planes[0]`, iOS `CVPixelBuffer` plane 0).
    pub fn scan_frame(
        &self,
        luma: Vec<u8>,
        width: u32,
        height: u32,
        row_stride: u32,
    ) -> Result<ScanResult, LatchkeyError> {
        Ok(latchkey_core::scan_frame(
            &luma,
            width as usize,
            height as usize,
            row_stride as usize,
            self.inner.link_policy(),
        )?
        .into())
    }

    /// Parses a link typed or pasted by hand (when the camera cannot be used).
    pub fn parse_link(&self, text: String) -> Result<Arc<EnrolmentOffer>, LatchkeyError> {
        latchkey_core::protocol::link::parse_with(&text, self.inner.link_policy())
            .map(|link| Arc::new(EnrolmentOffer(link)))
            .map_err(|e| Error::from(e).into())
    }

    /// The accounts on this device.
    pub fn accounts(&self) -> Result<Vec<Account>, LatchkeyError> {
        Ok(self
            .inner
            .accounts()?
            .into_iter()
            .map(Account::from)
            .collect())
    }

    /// Enrols this device. `confirm_pin` repeats the PIN when the offer says it is chosen in
    /// the app. A `WrongPin` keeps the account so `finish_enrolment` can retry.
    pub async fn enrol(
        &self,
        offer: Arc<EnrolmentOffer>,
        pin_text: String,
        confirm_pin: Option<String>,
    ) -> Result<Account, LatchkeyError> {
        let confirm = confirm_pin.map(pin);
        Ok(self
            .inner
            .enrol(&offer.0, &pin(pin_text), confirm.as_ref())
            .await?
            .into())
    }

    /// Retries an enrolment refused for a PIN different from the one set on the web page.
    pub async fn finish_enrolment(
        &self,
        account: String,
        pin_text: String,
    ) -> Result<Account, LatchkeyError> {
        Ok(self
            .inner
            .finish_enrolment(&record_id(&account)?, &pin(pin_text))
            .await?
            .into())
    }

    /// Ids of pending sign-ins, waiting up to `wait_seconds` for one (long-poll).
    pub async fn pending(
        &self,
        account: String,
        wait_seconds: u16,
    ) -> Result<Vec<String>, LatchkeyError> {
        Ok(self
            .inner
            .pending(&record_id(&account)?, wait_seconds)
            .await?
            .iter()
            .map(ToString::to_string)
            .collect())
    }

    /// Waits up to `wait_seconds` for the next sign-in and fetches it.
    pub async fn wait_for_challenge(
        &self,
        account: String,
        wait_seconds: u16,
    ) -> Result<Option<Arc<Challenge>>, LatchkeyError> {
        Ok(self
            .inner
            .wait_for_challenge(&record_id(&account)?, wait_seconds)
            .await?
            .map(|view| Arc::new(Challenge(view))))
    }

    /// The live sign-in requests of an account, newest first, each verified.
    pub async fn requests(&self, account: String) -> Result<Vec<Arc<Challenge>>, LatchkeyError> {
        Ok(self
            .inner
            .requests(&record_id(&account)?)
            .await?
            .into_iter()
            .map(|view| Arc::new(Challenge(view)))
            .collect())
    }

    /// Fetches the sign-in a push notification named, verified against the pinned key.
    pub async fn challenge(
        &self,
        account: String,
        challenge_id: String,
    ) -> Result<Arc<Challenge>, LatchkeyError> {
        let id = ChallengeId::parse(&challenge_id).ok_or_else(|| invalid("the challenge id"))?;
        Ok(Arc::new(Challenge(
            self.inner.challenge(&record_id(&account)?, &id).await?,
        )))
    }

    /// Approves with the number shown on the login page and the PIN. The request's server
    /// signature is checked again first (`ServerUntrusted` if it does not hold).
    pub async fn approve(
        &self,
        challenge: Arc<Challenge>,
        typed_code: String,
        pin_text: String,
    ) -> Result<(), LatchkeyError> {
        Ok(self
            .inner
            .approve(&challenge.0, &typed_code, &pin(pin_text))
            .await?)
    }

    /// Denies a sign-in (no PIN); `not_me` reports it as "this wasn't me".
    pub async fn deny(
        &self,
        challenge: Arc<Challenge>,
        not_me: bool,
    ) -> Result<AnswerOutcome, LatchkeyError> {
        Ok(self.inner.deny(&challenge.0, not_me).await?.into())
    }

    /// Changes the PIN (both PINs are checked; the old one is counted like an approval).
    pub async fn change_pin(
        &self,
        account: String,
        old_pin: String,
        new_pin: String,
    ) -> Result<(), LatchkeyError> {
        Ok(self
            .inner
            .change_pin(&record_id(&account)?, &pin(old_pin), &pin(new_pin))
            .await?)
    }

    /// Forgotten PIN, step 1: the account password; a one-time code is sent by e-mail.
    pub async fn forgot_pin_start(
        &self,
        account: String,
        mut password: String,
    ) -> Result<ResetTicket, LatchkeyError> {
        let secret = Password::new(password.as_str());
        password.zeroize();
        let t = self
            .inner
            .forgot_pin_start(&record_id(&account)?, &secret)
            .await?;
        Ok(ResetTicket {
            operation: t.operation.to_string(),
            sent_to: t.sent_to,
            expires_at: t.expires_at,
        })
    }

    /// Forgotten PIN, step 2: the code from the e-mail and the new PIN. Unlocks the device.
    pub async fn forgot_pin_finish(
        &self,
        account: String,
        ticket: ResetTicket,
        mut code: String,
        new_pin: String,
    ) -> Result<(), LatchkeyError> {
        let ticket = latchkey_core::ResetTicket {
            operation: OperationId::parse(&ticket.operation)
                .ok_or_else(|| invalid("the reset ticket"))?,
            sent_to: ticket.sent_to,
            expires_at: ticket.expires_at,
        };
        let secret = OneTimeCode::new(code.trim());
        code.zeroize();
        Ok(self
            .inner
            .forgot_pin_finish(&record_id(&account)?, &ticket, &secret, &pin(new_pin))
            .await?)
    }

    /// Removes the account from the server and this device; needs the PIN (a wrong one is
    /// counted like an approval). Someone who forgot the PIN uses "Forgot PIN" first, or
    /// removes the device on the account's web page (then any PIN finishes the removal here).
    pub async fn remove(&self, account: String, pin_text: String) -> Result<(), LatchkeyError> {
        Ok(self
            .inner
            .remove(&record_id(&account)?, &pin(pin_text))
            .await?)
    }

    /// Finishes or rolls back whatever a crash interrupted; call at start-up.
    pub async fn settle(&self) -> Result<Vec<SettleReport>, LatchkeyError> {
        Ok(self
            .inner
            .settle()
            .await?
            .into_iter()
            .map(SettleReport::from)
            .collect())
    }
}
