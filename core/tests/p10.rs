//! P10: a crash at any durable step of enrolment or a PIN change leaves the device in the old
//! or the new state, both usable, and never locks the person out.
//!
//! Each run lets `n` steps succeed (file writes are four steps each: temp write, fsync,
//! rename, directory fsync; keystore puts and deletes are one) and crashes at the next, then
//! "restarts" with fresh objects over the same directory and keystore, settles as the app
//! will (promote if the server committed, otherwise discard), and checks the PINs.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers panic on failure

mod common;

use std::sync::Arc;

use common::{stage_change, unlock, Device, ServerHalf};
use latchkey_core::keystore::{KeyId, KeyStore, KeyStoreError, MemoryKeyStore, WrappingKey};
use latchkey_core::signer::{DeviceSigner, KeyAlias, SoftwareSigner};
use latchkey_core::vault::approval::ApprovalKey;
use latchkey_core::vault::{DeviceKeyRef, RecordState, Slot, Vault};
use latchkey_core::FaultPlan;
use latchkey_protocol::secret::Pin;
use rand_core::OsRng;

/// A keystore whose writes are crash points too.
struct FaultyKeyStore {
    inner: Arc<MemoryKeyStore>,
    plan: Arc<FaultPlan>,
}

impl KeyStore for FaultyKeyStore {
    fn put(&self, id: &KeyId, key: &WrappingKey) -> Result<(), KeyStoreError> {
        self.plan
            .step("keystore put")
            .map_err(|e| KeyStoreError::Failure(e.to_string()))?;
        self.inner.put(id, key)
    }
    fn get(&self, id: &KeyId) -> Result<Option<WrappingKey>, KeyStoreError> {
        self.inner.get(id)
    }
    fn delete(&self, id: &KeyId) -> Result<(), KeyStoreError> {
        self.plan
            .step("keystore delete")
            .map_err(|e| KeyStoreError::Failure(e.to_string()))?;
        self.inner.delete(id)
    }
}

/// Enrolment as the flow will run it: device key, OPRF, seal, record, then activation.
fn enrol_steps(
    vault: &Vault,
    signer: &dyn DeviceSigner,
    server: &mut ServerHalf,
    pin: &Pin,
) -> latchkey_core::Result<()> {
    let identity = common::identity(server);
    let alias = KeyAlias::random(&mut OsRng);
    let public_key = signer.generate(&alias)?;
    let output = server.harden(pin);
    let approval = ApprovalKey::generate(&mut OsRng);
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
        public_key,
        assurance: signer.assurance(),
    };
    let record = vault.create(identity, device_key, slot)?;
    server.approval_key = Some(approval.public_key());
    vault.activate(&record.id)?;
    Ok(())
}

#[test]
fn p10_crash_at_every_write() {
    let pin = Pin::new("4831");
    let mut crash_points = 0;
    for n in 0.. {
        let dir = tempfile::tempdir().expect("tempdir");
        let keystore = MemoryKeyStore::new();
        let plan = FaultPlan::crash_after(n);
        let faulty: Arc<dyn KeyStore> = Arc::new(FaultyKeyStore {
            inner: keystore.clone(),
            plan: plan.clone(),
        });
        let vault =
            Vault::open_with_faults(dir.path(), faulty.clone(), plan.clone()).expect("open");
        let signer =
            SoftwareSigner::with_faults(dir.path().join("device-keys"), faulty, plan.clone());
        let mut server = ServerHalf::new();
        let result = enrol_steps(&vault, &signer, &mut server, &pin);
        if !plan.crashed() {
            result.expect("enrolment without a crash succeeds");
            break;
        }
        assert!(result.is_err(), "a crash must surface as an error");
        crash_points += 1;

        // Restart over the same directory and keystore.
        let device = Device::open(dir.path(), keystore.clone_store());
        let ids = device.vault.list().expect("list after crash");
        match ids.as_slice() {
            // Old state: not enrolled; enrolling again works.
            [] => {
                common::enrol(&device.vault, &device.signer, &mut server, &pin)
                    .expect("enrol again after a crash");
            }
            // New state (possibly awaiting the server's confirmation): the PIN opens it.
            [id] => {
                let record = device.vault.load(id).expect("record loads after crash");
                assert!(matches!(
                    record.state,
                    RecordState::Enrolling | RecordState::Active
                ));
                unlock(&device.vault, id, &mut server, &pin).expect("PIN opens after crash");
                device
                    .signer
                    .sign(&record.device_key.alias, b"x")
                    .expect("device key usable");
            }
            more => panic!("crash point {n}: {} records", more.len()),
        }
    }
    eprintln!("enrolment: {crash_points} crash points");
    assert!(
        crash_points >= 10,
        "enrolment has {crash_points} crash points"
    );

    let (old, new) = (Pin::new("4831"), Pin::new("5038"));
    let mut change_points = 0;
    for n in 0.. {
        let dir = tempfile::tempdir().expect("tempdir");
        let keystore = MemoryKeyStore::new();
        let mut server = ServerHalf::new();
        let id = {
            let device = Device::open(dir.path(), keystore.clone());
            common::enrol(&device.vault, &device.signer, &mut server, &old)
                .expect("enrol")
                .id
        };
        let plan = FaultPlan::crash_after(n);
        let faulty: Arc<dyn KeyStore> = Arc::new(FaultyKeyStore {
            inner: keystore.clone(),
            plan: plan.clone(),
        });
        let vault = Vault::open_with_faults(dir.path(), faulty, plan.clone()).expect("open");
        // Phase one (stage), the server's commit, phase two (promote).
        let result = stage_change(&vault, &id, &mut server, &old, &new).and_then(|(_, public)| {
            server.commit_staged(public);
            vault.promote(&id)
        });
        if !plan.crashed() {
            result.expect("PIN change without a crash succeeds");
            break;
        }
        change_points += 1;

        let device = Device::open(dir.path(), keystore.clone_store());
        let record = device.vault.load(&id).expect("record loads after crash");
        match &record.staged {
            None => {
                // Old or new state: exactly one of the PINs opens the active key.
                let opened_old = unlock(&device.vault, &id, &mut server, &old).is_ok();
                let opened_new = unlock(&device.vault, &id, &mut server, &new).is_ok();
                assert!(
                    opened_old ^ opened_new,
                    "crash point {n}: old {opened_old} new {opened_new}"
                );
            }
            // A staged key exists, so the server staged one too; it committed iff its staged
            // key was consumed. Settle asks the server and follows it.
            Some(_) if server.staged_key.is_none() => {
                device.vault.promote(&id).expect("settle: promote");
                unlock(&device.vault, &id, &mut server, &new).expect("new PIN after settle");
            }
            Some(_) => {
                server.staged_key = None;
                device.vault.discard(&id).expect("settle: discard");
                unlock(&device.vault, &id, &mut server, &old).expect("old PIN after settle");
            }
        }
    }
    eprintln!("PIN change: {change_points} crash points");
    assert!(
        change_points >= 8,
        "PIN change has {change_points} crash points"
    );
}
