//! The vault: one record per enrolled account, in the data directory, exactly as DESIGN.md's
//! construction says.
//!
//! A record holds who the account is (server, ids, label, the pinned server key), which
//! device key signs for it, the signature counter, and the approval key sealed twice: inner
//! AES-256-GCM under the server-hardened PIN key ([`approval`]), outer AES-256-GCM under a
//! random wrapping key in the OS [`KeyStore`]. Nothing stored is derived from the approval
//! public key; ids are random.
//!
//! A PIN change or reset writes a fresh approval key into a **staged** slot beside the active
//! one ([`Vault::stage`]); the server's commit is followed by [`Vault::promote`], an abandoned
//! one by [`Vault::discard`]. Every change is one atomic file replacement, so a crash at any
//! point leaves the old state, or the old state plus a staged slot, or the new state (P10).
//!
//! Files: `DIR/accounts/<record id>.json`, 0600, with an explicit `format` version. A file
//! that is damaged or of an unknown format is reported and never modified or deleted.
//!
//! Everything a record stores in clear — the server URL, the ids, the label, the pinned server
//! key, the device key reference, the state, the counter mark, the keystore entry name and the
//! staged operation — is authenticated: it is part of the associated data of the outer seal of
//! every slot ([`record_binding`]), under the keystore-held wrapping key. Whoever can write the
//! app's files but not read its keystore cannot re-point an account at another server or key,
//! roll its counter back, or swap slots: the changed record no longer opens and is reported
//! damaged ([`Error::Corrupt`]).

pub mod approval;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use latchkey_protocol::b64;
use latchkey_protocol::secret::{OprfOutput, Pin};
use latchkey_protocol::signed::Canonical;
use latchkey_protocol::types::{AccountId, Assurance, DeviceId, OperationId, PublicKey};
use rand_core::{CryptoRngCore, OsRng};
use serde::{Deserialize, Serialize};

use crate::aead::{self, Sealed};
use crate::error::{Error, Result};
#[cfg(feature = "test-support")]
use crate::fsio::FaultPlan;
use crate::fsio::Fs;
use crate::keystore::{KeyId, KeyStore, WrappingKey};
use crate::signer::KeyAlias;
use approval::{ApprovalKey, InnerSealed, SealContext};

/// The record format this build writes and reads.
///
/// 2: the clear fields are bound into the outer seal ([`record_binding`]). Format 1 records
/// (development builds before that) are not migrated — there are no deployed users — and are
/// reported damaged with the advice to enrol again.
pub const RECORD_FORMAT: u32 = 2;

/// A record's random id (`ac-` and 16 random bytes, base64url); also its file name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordId(String);

impl RecordId {
    fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        Self(format!("ac-{}", b64::encode(&bytes)))
    }

    /// Parses an id (for example from a file name or the command line).
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("ac-")?;
        (b64::decode(rest)?.len() == 16).then(|| Self(text.to_owned()))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who the account is and how to reach its server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountIdentity {
    /// The API base, `https://HOST[:PORT]/[PREFIX/]`, from the enrolment link.
    pub server: String,
    /// The account id on that server.
    pub account: AccountId,
    /// This device's id on that server.
    pub device: DeviceId,
    /// The account label people see.
    pub label: String,
    /// The server's challenge-signing key, pinned at enrolment (P4, P5).
    pub server_key: PublicKey,
    /// PIN digits (4 or 6).
    pub pin_digits: u8,
}

/// Which device key signs for this account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKeyRef {
    /// The key's alias in its signer.
    pub alias: KeyAlias,
    /// The device public key (registered with the server; not the approval key).
    pub public_key: PublicKey,
    /// How the key is held.
    pub assurance: Assurance,
}

/// Where an account is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    /// Sealed locally; the server has not confirmed the enrolment yet.
    Enrolling,
    /// Enrolled.
    Active,
}

/// What a staged slot is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RekeyKind {
    /// A PIN change (the old PIN was known).
    Change,
    /// A forgotten-PIN reset.
    Reset,
}

/// One sealed approval key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The epoch the key belongs to.
    pub epoch: u32,
    /// The slot's random id (bound into both seals).
    pub key_id: KeyId,
    /// The inner seal (under the PIN key).
    pub sealed: InnerSealed,
}

impl Slot {
    /// Seals `key` for `account`/`device`/`epoch` under the PIN and its OPRF output, with a
    /// fresh random key id.
    pub fn seal(
        key: &ApprovalKey,
        output: &OprfOutput,
        pin: &Pin,
        account: AccountId,
        device: DeviceId,
        epoch: u32,
    ) -> Self {
        let key_id = KeyId::random(&mut OsRng);
        let context = SealContext {
            account,
            device,
            epoch,
            key_id: key_id.clone(),
        };
        let sealed = approval::seal(key, output, pin, &context, &mut OsRng);
        Self {
            epoch,
            key_id,
            sealed,
        }
    }

    /// Opens the approval key with the PIN and its OPRF output.
    ///
    /// # Errors
    /// [`Error::WrongPin`] if they do not open it.
    pub fn open(
        &self,
        output: &OprfOutput,
        pin: &Pin,
        account: AccountId,
        device: DeviceId,
    ) -> Result<ApprovalKey> {
        approval::open(&self.sealed, output, pin, &self.context(account, device)).ok_or(
            Error::WrongPin {
                attempts_left: None,
            },
        )
    }

    /// The seal context of this slot.
    pub fn context(&self, account: AccountId, device: DeviceId) -> SealContext {
        SealContext {
            account,
            device,
            epoch: self.epoch,
            key_id: self.key_id.clone(),
        }
    }
}

/// A fresh approval key waiting for the server's commit. Its Debug form leaves the commit
/// out (it holds the approval-key signatures, P9).
#[derive(Clone, PartialEq, Eq)]
pub struct Staged {
    /// The sealed fresh key.
    pub slot: Slot,
    /// The server operation it belongs to.
    pub operation: OperationId,
    /// Change or reset.
    pub kind: RekeyKind,
    /// The commit request body, kept so it can be re-sent after a crash (signatures only).
    pub commit: Option<String>,
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Redacted;
        impl std::fmt::Debug for Redacted {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("<redacted>")
            }
        }
        f.debug_struct("Staged")
            .field("operation", &self.operation)
            .field("kind", &self.kind)
            .field("commit", &self.commit.as_ref().map(|_| Redacted))
            .finish_non_exhaustive()
    }
}

/// An account record as the rest of the core sees it (outer layer already removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    /// The record id.
    pub id: RecordId,
    /// Who the account is.
    pub identity: AccountIdentity,
    /// The device key.
    pub device_key: DeviceKeyRef,
    /// Enrolling or active.
    pub state: RecordState,
    /// The durably reserved signature-counter mark (every counter used is at most this).
    pub counter: u64,
    /// The active approval key.
    pub active: Slot,
    /// A PIN change or reset in progress.
    pub staged: Option<Staged>,
    wrap_key: KeyId,
}

/// Signature counters are reserved durably in blocks of this size: one file write per block
/// instead of per approval. After a restart counting resumes above the reserved mark, so a
/// counter value is never used twice (unused values are simply skipped).
pub const COUNTER_BLOCK: u64 = 64;

/// The vault over a data directory and a keystore.
pub struct Vault {
    dir: PathBuf,
    keystore: Arc<dyn KeyStore>,
    fs: Fs,
    /// Writers within this process.
    lock: Mutex<()>,
    /// Writers across processes (two `latchkey` commands, or one beside a running
    /// `latchkey wait`): an advisory lock on `<dir>/.lock`, held only while a record is
    /// read, changed and written.
    lock_file: File,
    lock_path: PathBuf,
    /// Per record: (last counter handed out, durably reserved mark).
    counters: Mutex<std::collections::HashMap<RecordId, (u64, u64)>>,
}

impl Vault {
    /// Opens (creating if needed) the vault in `dir`.
    ///
    /// # Errors
    /// [`Error::Storage`] if the directory cannot be created.
    pub fn open(dir: impl Into<PathBuf>, keystore: Arc<dyn KeyStore>) -> Result<Self> {
        Self::open_with(dir.into(), keystore, Fs::default())
    }

    /// The same, failing at a planned step (crash simulation).
    ///
    /// # Errors
    /// As [`Vault::open`].
    #[cfg(feature = "test-support")]
    pub fn open_with_faults(
        dir: impl Into<PathBuf>,
        keystore: Arc<dyn KeyStore>,
        faults: Arc<FaultPlan>,
    ) -> Result<Self> {
        Self::open_with(dir.into(), keystore, Fs::with_faults(Some(faults)))
    }

    fn open_with(dir: PathBuf, keystore: Arc<dyn KeyStore>, fs: Fs) -> Result<Self> {
        let accounts = dir.join("accounts");
        fs.create_dir(&accounts)
            .map_err(|e| Error::storage("create", &accounts, e))?;
        let lock_path = dir.join(".lock");
        let lock_file = crate::fsio::open_lock_file(&lock_path)
            .map_err(|e| Error::storage("open", &lock_path, e))?;
        let vault = Self {
            dir,
            keystore,
            fs,
            lock: Mutex::new(()),
            lock_file,
            lock_path,
            counters: Mutex::new(Default::default()),
        };
        {
            // Every record write runs under the write lock, so a temp file seen while holding
            // it is a crash's leftover. Best effort: a leftover is ignored by readers anyway.
            let _guard = vault.exclusive()?;
            let _ = crate::fsio::remove_stale_temps(&accounts);
        }
        Ok(vault)
    }

    /// Waits until no other thread or process is changing records, and keeps them out until
    /// the guard is dropped.
    fn exclusive(&self) -> Result<Exclusive<'_>> {
        let thread = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.lock_file
            .lock()
            .map_err(|e| Error::storage("lock", &self.lock_path, e))?;
        Ok(Exclusive {
            _thread: thread,
            file: &self.lock_file,
        })
    }

    /// Claims the account's staged PIN change or reset for this handle, so that no other
    /// handle or process settles it while it runs (one could otherwise resend or discard the
    /// very operation another is committing). `None` when someone else holds it. The claim
    /// is an advisory lock on `accounts/<id>.op`, released when the claim is dropped or the
    /// process ends — a crashed process never leaves a stale claim.
    ///
    /// # Errors
    /// [`Error::Storage`] if the lock file cannot be opened or locked.
    pub fn claim_operation(&self, id: &RecordId) -> Result<Option<OperationClaim>> {
        let path = self.operation_lock_path(id);
        let file =
            crate::fsio::open_lock_file(&path).map_err(|e| Error::storage("open", &path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(OperationClaim { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::storage("lock", &path, e)),
        }
    }

    fn operation_lock_path(&self, id: &RecordId) -> PathBuf {
        self.dir
            .join("accounts")
            .join(format!("{}.op", id.as_str()))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The ids of all records, sorted. Stale temp files are ignored (and removed when the
    /// vault is opened).
    ///
    /// # Errors
    /// [`Error::Storage`] if the directory cannot be read.
    pub fn list(&self) -> Result<Vec<RecordId>> {
        let accounts = self.dir.join("accounts");
        let entries =
            std::fs::read_dir(&accounts).map_err(|e| Error::storage("list", &accounts, e))?;
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::storage("list", &accounts, e))?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if let Some(id) = RecordId::parse(stem) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Checks that the data directory has room for a record and is writable, before a flow
    /// spends anything on the server (P2 attempts, single-use codes).
    ///
    /// # Errors
    /// [`Error::Storage`] (disk full, read-only, permissions).
    pub fn check_room(&self) -> Result<()> {
        let accounts = self.dir.join("accounts");
        self.fs
            .probe(&accounts)
            .map_err(|e| Error::storage("check for room in", &accounts, e))
    }

    /// Reads a record and removes its outer layer.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Corrupt`], [`Error::UnsupportedFormat`],
    /// [`Error::KeyMissing`] or [`Error::Storage`]; the file is never changed.
    pub fn load(&self, id: &RecordId) -> Result<AccountRecord> {
        let (path, bytes) = self.read(id)?;
        let corrupt = |reason: String| Error::Corrupt {
            path: path.clone(),
            reason,
        };
        let format = crate::stored::peek_format(&bytes).map_err(corrupt)?;
        if format < RECORD_FORMAT {
            return Err(corrupt(format!(
                "format {format} from a development version, whose account details were not \
                 authenticated; remove the account and enrol again"
            )));
        }
        if format != RECORD_FORMAT {
            return Err(Error::UnsupportedFormat {
                path,
                found: format,
            });
        }
        let file: RecordFile = serde_json::from_slice(&bytes).map_err(|e| {
            corrupt(format!(
                "invalid at line {} column {}",
                e.line(),
                e.column()
            ))
        })?;
        if &file.id != id {
            return Err(corrupt("record id does not match its file name".into()));
        }
        let wrap = self.wrapping_key(&file.wrap_key, &file.identity)?;
        let identity = &file.identity;
        let binding = record_binding(&Header {
            id: &file.id,
            identity,
            device_key: &file.device_key,
            state: file.state,
            counter: file.counter,
            wrap_key: &file.wrap_key,
            active: (file.active.epoch, &file.active.key_id),
            staged: file.staged.as_ref().map(|s| StagedHeader {
                operation: &s.operation,
                kind: s.kind,
                commit: s.commit.as_deref(),
                epoch: s.slot.epoch,
                key_id: &s.slot.key_id,
            }),
        });
        let unwrap = |slot: &SlotFile| -> Result<Slot> {
            let context = SealContext {
                account: identity.account,
                device: identity.device,
                epoch: slot.epoch,
                key_id: slot.key_id.clone(),
            };
            let inner = aead::open(
                // EXPOSE: the wrapping key opens the record's outer seal.
                wrap.expose_secret(),
                &outer_aad(&context, &binding),
                &slot.sealed,
            )
            .and_then(|b| InnerSealed::from_bytes(&b))
            .ok_or_else(|| {
                corrupt(
                    "the sealed key does not decrypt, or the account details stored beside it \
                     were changed"
                        .into(),
                )
            })?;
            Ok(Slot {
                epoch: slot.epoch,
                key_id: slot.key_id.clone(),
                sealed: inner,
            })
        };
        let active = unwrap(&file.active)?;
        let staged = match &file.staged {
            None => None,
            Some(s) => Some(Staged {
                slot: unwrap(&s.slot)?,
                operation: s.operation,
                kind: s.kind,
                commit: s.commit.clone(),
            }),
        };
        Ok(AccountRecord {
            id: file.id,
            identity: file.identity,
            device_key: file.device_key,
            state: file.state,
            counter: file.counter,
            active,
            staged,
            wrap_key: file.wrap_key,
        })
    }

    /// Stores a new account in the [`RecordState::Enrolling`] state.
    ///
    /// # Errors
    /// [`Error::KeyStore`] or [`Error::Storage`]; on error nothing usable was written.
    pub fn create(
        &self,
        identity: AccountIdentity,
        device_key: DeviceKeyRef,
        active: Slot,
    ) -> Result<AccountRecord> {
        let _guard = self.exclusive()?;
        let wrap_key = KeyId::random(&mut OsRng);
        let wrap = WrappingKey::generate(&mut OsRng);
        // Keystore first: a crash after it leaves an unused entry, never a record whose key
        // is missing.
        self.keystore.put(&wrap_key, &wrap)?;
        let record = AccountRecord {
            id: RecordId::random(&mut OsRng),
            identity,
            device_key,
            state: RecordState::Enrolling,
            counter: 0,
            active,
            staged: None,
            wrap_key,
        };
        self.write(&record, &wrap)?;
        Ok(record)
    }

    /// Marks an enrolment as confirmed by the server.
    ///
    /// # Errors
    /// As [`Vault::load`], plus [`Error::Storage`].
    pub fn activate(&self, id: &RecordId) -> Result<AccountRecord> {
        self.update(id, |record| {
            record.state = RecordState::Active;
            Ok(())
        })
    }

    /// The next signature counter, durably reserved before any signature uses it (see
    /// [`COUNTER_BLOCK`]); always larger than every value handed out before, across restarts.
    ///
    /// # Errors
    /// As [`Vault::load`], plus [`Error::Storage`].
    pub fn next_counter(&self, id: &RecordId) -> Result<u64> {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let _guard = self.exclusive()?;
        // The stored mark tells whether another process reserved a block since ours: then
        // our remaining values are below its and must not be used (the server only accepts
        // a counter above the last one it saw).
        let stored = self.stored_counter(id)?;
        if let Some((last, reserved)) = counters.get_mut(id) {
            if *reserved == stored && *last < *reserved {
                *last += 1;
                return Ok(*last);
            }
        }
        let mut start = 0;
        let record = self.change_locked(id, |record| {
            start = record.counter;
            record.counter += COUNTER_BLOCK;
            Ok(())
        })?;
        counters.insert(id.clone(), (start + 1, record.counter));
        Ok(start + 1)
    }

    /// The reserved counter mark as stored, without opening the sealed keys.
    fn stored_counter(&self, id: &RecordId) -> Result<u64> {
        #[derive(Deserialize)]
        struct Peek {
            counter: u64,
        }
        let (path, bytes) = self.read(id)?;
        crate::stored::peek::<Peek>(&bytes)
            .map(|p| p.counter)
            .map_err(|reason| Error::Corrupt { path, reason })
    }

    /// Writes a fresh approval key into the staged slot (phase one of a PIN change or reset).
    /// Staging the same operation again replaces it (a retry); another operation is refused.
    ///
    /// # Errors
    /// [`Error::AlreadyStaged`] if another operation is staged; as [`Vault::load`].
    pub fn stage(&self, id: &RecordId, staged: Staged) -> Result<AccountRecord> {
        self.update(id, |record| {
            if let Some(existing) = &record.staged {
                if existing.operation != staged.operation {
                    return Err(Error::AlreadyStaged);
                }
            }
            record.staged = Some(staged);
            Ok(())
        })
    }

    /// Remembers the commit request of the staged operation so it can be re-sent.
    ///
    /// # Errors
    /// [`Error::NothingStaged`]; as [`Vault::load`].
    pub fn set_commit(&self, id: &RecordId, commit: String) -> Result<AccountRecord> {
        self.update(id, |record| {
            let staged = record.staged.as_mut().ok_or(Error::NothingStaged)?;
            staged.commit = Some(commit);
            Ok(())
        })
    }

    /// Makes the staged key the active one (after the server committed). The old key is gone.
    ///
    /// # Errors
    /// [`Error::NothingStaged`]; as [`Vault::load`].
    pub fn promote(&self, id: &RecordId) -> Result<AccountRecord> {
        self.update(id, |record| {
            let staged = record.staged.take().ok_or(Error::NothingStaged)?;
            record.active = staged.slot;
            Ok(())
        })
    }

    /// Drops the staged key (the server never committed); the active key is untouched.
    ///
    /// # Errors
    /// As [`Vault::load`].
    pub fn discard(&self, id: &RecordId) -> Result<AccountRecord> {
        self.update(id, |record| {
            record.staged = None;
            Ok(())
        })
    }

    /// Deletes the record and its wrapping key.
    ///
    /// # Errors
    /// [`Error::Storage`] or [`Error::KeyStore`]. A damaged record is still removed, since
    /// removal is what the person asked for; its keystore entry may then remain.
    pub fn remove(&self, id: &RecordId) -> Result<()> {
        // Lock order as in `next_counter`: counters, then the write lock.
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let _guard = self.exclusive()?;
        counters.remove(id);
        let path = self.path(id);
        let wrap_key = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<RecordFile>(&bytes).ok())
            .map(|file| file.wrap_key);
        self.fs
            .remove(&path)
            .map_err(|e| Error::storage("remove", &path, e))?;
        // Only a lock file; a failure leaves a few empty bytes behind.
        let _ = std::fs::remove_file(self.operation_lock_path(id));
        if let Some(wrap_key) = wrap_key {
            self.keystore.delete(&wrap_key)?;
        }
        Ok(())
    }

    /// Changes a stored record through the vault (re-sealed, so it still loads): how the
    /// tests put an account into a state the flows never make, such as a plain-HTTP server.
    ///
    /// # Errors
    /// As [`Vault::load`], plus [`Error::Storage`].
    #[cfg(feature = "test-support")]
    pub fn edit_for_tests(
        &self,
        id: &RecordId,
        change: impl FnOnce(&mut AccountRecord),
    ) -> Result<AccountRecord> {
        self.update(id, |record| {
            change(record);
            Ok(())
        })
    }

    fn update(
        &self,
        id: &RecordId,
        change: impl FnOnce(&mut AccountRecord) -> Result<()>,
    ) -> Result<AccountRecord> {
        let _guard = self.exclusive()?;
        self.change_locked(id, change)
    }

    /// Load, change, write; the caller holds [`Vault::exclusive`].
    fn change_locked(
        &self,
        id: &RecordId,
        change: impl FnOnce(&mut AccountRecord) -> Result<()>,
    ) -> Result<AccountRecord> {
        let mut record = self.load(id)?;
        change(&mut record)?;
        self.write(
            &record,
            &self.wrapping_key(&record.wrap_key, &record.identity)?,
        )?;
        Ok(record)
    }

    fn write(&self, record: &AccountRecord, wrap: &WrappingKey) -> Result<()> {
        let identity = &record.identity;
        let binding = record_binding(&Header {
            id: &record.id,
            identity,
            device_key: &record.device_key,
            state: record.state,
            counter: record.counter,
            wrap_key: &record.wrap_key,
            active: (record.active.epoch, &record.active.key_id),
            staged: record.staged.as_ref().map(|s| StagedHeader {
                operation: &s.operation,
                kind: s.kind,
                commit: s.commit.as_deref(),
                epoch: s.slot.epoch,
                key_id: &s.slot.key_id,
            }),
        });
        let outer = |slot: &Slot| SlotFile {
            epoch: slot.epoch,
            key_id: slot.key_id.clone(),
            sealed: aead::seal(
                // EXPOSE: the wrapping key seals the record's outer layer.
                wrap.expose_secret(),
                &outer_aad(&slot.context(identity.account, identity.device), &binding),
                &slot.sealed.to_bytes(),
                &mut OsRng,
            ),
        };
        let file = RecordFile {
            format: RECORD_FORMAT,
            id: record.id.clone(),
            identity: record.identity.clone(),
            device_key: record.device_key.clone(),
            state: record.state,
            counter: record.counter,
            wrap_key: record.wrap_key.clone(),
            active: outer(&record.active),
            staged: record.staged.as_ref().map(|s| StagedFile {
                slot: outer(&s.slot),
                operation: s.operation,
                kind: s.kind,
                commit: s.commit.clone(),
            }),
        };
        let bytes = serde_json::to_vec_pretty(&file)
            .unwrap_or_else(|_| unreachable!("records always serialise"));
        let path = self.path(&record.id);
        self.fs
            .write_atomic(&path, &bytes)
            .map_err(|e| Error::storage("write", &path, e))
    }

    fn wrapping_key(&self, key: &KeyId, identity: &AccountIdentity) -> Result<WrappingKey> {
        self.keystore.get(key)?.ok_or_else(|| Error::KeyMissing {
            what: format!("account {}", identity.label),
        })
    }

    fn read(&self, id: &RecordId) -> Result<(PathBuf, Vec<u8>)> {
        let path = self.path(id);
        match std::fs::read(&path) {
            Ok(bytes) => Ok((path, bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::NotFound(id.as_str().to_owned()))
            }
            Err(e) => Err(Error::storage("read", &path, e)),
        }
    }

    fn path(&self, id: &RecordId) -> PathBuf {
        self.dir
            .join("accounts")
            .join(format!("{}.json", id.as_str()))
    }
}

/// This handle's claim on an account's staged operation ([`Vault::claim_operation`]).
#[derive(Debug)]
pub struct OperationClaim {
    _file: File,
}

/// Holds the vault's write lock (thread and process); released on drop.
struct Exclusive<'a> {
    _thread: std::sync::MutexGuard<'a, ()>,
    file: &'a File,
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        // Runs before `_thread` is released. Closing the file would also release it.
        let _ = self.file.unlock();
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordFile {
    format: u32,
    id: RecordId,
    identity: AccountIdentity,
    device_key: DeviceKeyRef,
    state: RecordState,
    counter: u64,
    wrap_key: KeyId,
    active: SlotFile,
    staged: Option<StagedFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotFile {
    epoch: u32,
    key_id: KeyId,
    sealed: Sealed,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StagedFile {
    slot: SlotFile,
    operation: OperationId,
    kind: RekeyKind,
    commit: Option<String>,
}

/// The clear part of a record, as [`record_binding`] reads it.
struct Header<'a> {
    id: &'a RecordId,
    identity: &'a AccountIdentity,
    device_key: &'a DeviceKeyRef,
    state: RecordState,
    counter: u64,
    wrap_key: &'a KeyId,
    /// Epoch and key id of the active slot.
    active: (u32, &'a KeyId),
    staged: Option<StagedHeader<'a>>,
}

/// The clear part of a staged slot.
struct StagedHeader<'a> {
    operation: &'a OperationId,
    kind: RekeyKind,
    commit: Option<&'a str>,
    epoch: u32,
    key_id: &'a KeyId,
}

/// Canonical bytes of every field a record stores in clear (all but the two sealed keys). The
/// outer seal of each slot authenticates them ([`outer_aad`]), so changing any of them — or
/// swapping the slots — makes the record fail to open.
fn record_binding(h: &Header<'_>) -> Vec<u8> {
    let i = h.identity;
    let d = h.device_key;
    let staged = h.staged.as_ref().map(|s| {
        Canonical::new("record-staged")
            .bytes(s.operation.as_bytes())
            .str(match s.kind {
                RekeyKind::Change => "change",
                RekeyKind::Reset => "reset",
            })
            .opt(s.commit.map(str::as_bytes))
            .u64(u64::from(s.epoch))
            .str(s.key_id.as_str())
            .finish()
    });
    Canonical::new("record")
        .u64(u64::from(RECORD_FORMAT))
        .str(h.id.as_str())
        .str(&i.server)
        .bytes(i.account.as_bytes())
        .bytes(i.device.as_bytes())
        .str(&i.label)
        .bytes(&i.server_key.to_sec1())
        .u64(u64::from(i.pin_digits))
        .str(d.alias.as_str())
        .bytes(&d.public_key.to_sec1())
        .str(d.assurance.as_str())
        .str(match h.state {
            RecordState::Enrolling => "enrolling",
            RecordState::Active => "active",
        })
        .u64(h.counter)
        .str(h.wrap_key.as_str())
        .u64(u64::from(h.active.0))
        .str(h.active.1.as_str())
        .opt(staged.as_deref())
        .finish()
}

/// AAD of a slot's outer seal: the slot's own context and the record's clear fields.
fn outer_aad(context: &SealContext, binding: &[u8]) -> Vec<u8> {
    Canonical::new("record-slot-outer")
        .bytes(&context.outer_aad())
        .bytes(binding)
        .finish()
}
