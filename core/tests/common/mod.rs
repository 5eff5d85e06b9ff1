//! Shared test helpers: a device (vault + software signer over one keystore) and the server's
//! cryptographic half (per-device OPRF keys), both real; only the network is absent.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use latchkey_core::keystore::{KeyStore, MemoryKeyStore};
use latchkey_core::signer::{DeviceSigner, KeyAlias, SoftwareSigner};
use latchkey_core::vault::approval::ApprovalKey;
use latchkey_core::vault::{
    AccountIdentity, AccountRecord, DeviceKeyRef, RecordId, RekeyKind, Slot, Staged, Vault,
};
use latchkey_core::Result;
use latchkey_protocol::oprf;
use latchkey_protocol::secret::{OprfKey, OprfOutput, Pin};
use latchkey_protocol::types::{AccountId, DeviceId, OperationId, PublicKey};
use rand_core::OsRng;

/// The server's key material for one device.
pub struct ServerHalf {
    pub oprf_key: OprfKey,
    pub staged_key: Option<OprfKey>,
    pub approval_key: Option<PublicKey>,
    pub challenge_key: p256::ecdsa::SigningKey,
    pub evaluations: u32,
}

impl ServerHalf {
    pub fn new() -> Self {
        Self {
            oprf_key: OprfKey::generate(&mut OsRng),
            staged_key: None,
            approval_key: None,
            challenge_key: p256::ecdsa::SigningKey::random(&mut OsRng),
            evaluations: 0,
        }
    }

    /// The device-side OPRF round trip: blind, server evaluates (counted), finalize.
    pub fn harden(&mut self, pin: &Pin) -> OprfOutput {
        self.harden_with(pin, false)
    }

    pub fn harden_staged(&mut self, pin: &Pin) -> OprfOutput {
        self.harden_with(pin, true)
    }

    fn harden_with(&mut self, pin: &Pin, staged: bool) -> OprfOutput {
        self.evaluations += 1;
        let key = if staged {
            self.staged_key
                .get_or_insert_with(|| OprfKey::generate(&mut OsRng))
        } else {
            &self.oprf_key
        };
        let (state, blinded) = oprf::blind(pin, &mut OsRng).expect("blind");
        let evaluated = oprf::blind_evaluate(key, &blinded).expect("evaluate");
        state.finalize(pin, &evaluated).expect("finalize")
    }

    pub fn commit_staged(&mut self, approval_key: PublicKey) {
        self.oprf_key = self.staged_key.take().expect("staged key");
        self.approval_key = Some(approval_key);
    }
}

pub struct Device {
    pub keystore: Arc<MemoryKeyStore>,
    pub vault: Vault,
    pub signer: SoftwareSigner,
}

impl Device {
    pub fn open(dir: &Path, keystore: Arc<MemoryKeyStore>) -> Self {
        let ks: Arc<dyn KeyStore> = keystore.clone();
        Self {
            vault: Vault::open(dir, ks.clone()).expect("open vault"),
            signer: SoftwareSigner::new(dir.join("device-keys"), ks),
            keystore,
        }
    }
}

pub fn identity(server: &ServerHalf) -> AccountIdentity {
    AccountIdentity {
        server: "https://login.example.org/".into(),
        account: AccountId::random(&mut OsRng),
        device: DeviceId::random(&mut OsRng),
        label: "Example Corp — alice@example.org".into(),
        server_key: PublicKey::from(server.challenge_key.verifying_key()),
        pin_digits: 4,
    }
}

/// Enrols: device key, OPRF round trip, fresh approval key sealed under the PIN, record.
pub fn enrol(
    vault: &Vault,
    signer: &dyn DeviceSigner,
    server: &mut ServerHalf,
    pin: &Pin,
) -> Result<AccountRecord> {
    let identity = identity(server);
    let alias = KeyAlias::random(&mut OsRng);
    let device_public = signer.generate(&alias)?;
    let output = server.harden(pin);
    let approval = ApprovalKey::generate(&mut OsRng);
    server.approval_key = Some(approval.public_key());
    let slot = Slot::seal(
        &approval,
        &output,
        pin,
        identity.account,
        identity.device,
        1,
    );
    let device_key = DeviceKeyRef {
        alias,
        public_key: device_public,
        assurance: signer.assurance(),
    };
    let record = vault.create(identity, device_key, slot)?;
    vault.activate(&record.id)
}

/// Opens the active approval key with a PIN (one counted evaluation).
pub fn unlock(
    vault: &Vault,
    id: &RecordId,
    server: &mut ServerHalf,
    pin: &Pin,
) -> Result<ApprovalKey> {
    let record = vault.load(id)?;
    let output = server.harden(pin);
    record.active.open(
        &output,
        pin,
        record.identity.account,
        record.identity.device,
    )
}

/// PIN change phase one: open with the old PIN, seal a fresh key under the new one, stage.
pub fn stage_change(
    vault: &Vault,
    id: &RecordId,
    server: &mut ServerHalf,
    old: &Pin,
    new: &Pin,
) -> Result<(AccountRecord, PublicKey)> {
    let record = vault.load(id)?;
    let _old_key = unlock(vault, id, server, old)?;
    let output = server.harden_staged(new);
    let fresh = ApprovalKey::generate(&mut OsRng);
    let (account, device) = (record.identity.account, record.identity.device);
    let slot = Slot::seal(
        &fresh,
        &output,
        new,
        account,
        device,
        record.active.epoch + 1,
    );
    let staged = Staged {
        slot,
        operation: OperationId::random(&mut OsRng),
        kind: RekeyKind::Change,
        commit: None,
    };
    Ok((vault.stage(id, staged)?, fresh.public_key()))
}

/// Every file under `dir` with its bytes (what an attacker copying the device gets).
pub fn read_tree(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            read_tree(&path, out);
        } else {
            out.push((
                path.display().to_string(),
                std::fs::read(&path).expect("read"),
            ));
        }
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
