//! Which OS keystore a desktop data directory keeps its wrapping keys in (the CLI and the
//! desktop app share this choice; mobile shells pass their own keystore).
//!
//! - Linux: the Secret Service (GNOME Keyring, KWallet) over pure-Rust D-Bus; keys survive a
//!   reboot. Where none runs, opening refuses with the fix; it never falls back on its own.
//!   The kernel keyring (keyutils) is there when asked for, and says it forgets at reboot.
//! - Windows: the Credential Manager.
//!
//! The data directory records the store it was set up with (file `keystore`, created once and
//! never replaced), so a later run never looks for keys in a different store: asking for
//! another one is refused, with why. A directory that holds accounts but no record (set up
//! before the record existed, with the kernel keyring) must be told its store once.

use std::path::Path;
use std::sync::Arc;

use crate::keystore::{KeyId, KeyStore, KeyStoreError, WrappingKey};

/// The marker file's name inside the data directory.
const MARKER: &str = "keystore";

/// An OS keystore a desktop build can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKind {
    /// The freedesktop Secret Service (GNOME Keyring, KWallet).
    SecretService,
    /// The Linux kernel keyring: forgets keys at reboot.
    KernelKeyring,
    /// The Windows Credential Manager.
    WindowsCredentials,
}

impl StoreKind {
    /// Every kind, in the order a person is shown them.
    pub const ALL: [StoreKind; 3] = [
        StoreKind::SecretService,
        StoreKind::KernelKeyring,
        StoreKind::WindowsCredentials,
    ];

    /// The name used on the command line, in `LATCHKEY_KEYSTORE` and in the marker file.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::SecretService => "secret-service",
            StoreKind::KernelKeyring => "kernel-keyring",
            StoreKind::WindowsCredentials => "windows-credentials",
        }
    }

    /// The kind with this name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name.trim())
    }

    /// Whether keys stay after the computer restarts.
    pub fn survives_reboot(self) -> bool {
        !matches!(self, StoreKind::KernelKeyring)
    }

    /// This system's default.
    pub fn platform_default() -> Self {
        if cfg!(windows) {
            StoreKind::WindowsCredentials
        } else {
            StoreKind::SecretService
        }
    }
}

/// An opened OS keystore and which one it is.
pub struct OsKeyStore {
    /// The store.
    pub store: Arc<dyn KeyStore>,
    /// Which one.
    pub kind: StoreKind,
}

/// Opens the keystore of the data directory `data_dir`: the one it recorded, else `asked`,
/// else this system's default; checks that it works (a put and a delete of a throwaway key)
/// and records it. Entries are named `service` / key id.
///
/// # Errors
/// [`KeyStoreError::Unavailable`] with the fix when the store is not running or locked, when
/// `asked` differs from the recorded store, or when this build lacks it;
/// [`KeyStoreError::Failure`] when the marker cannot be read or written.
pub fn open(
    data_dir: &Path,
    asked: Option<StoreKind>,
    service: &str,
) -> Result<OsKeyStore, KeyStoreError> {
    let recorded = recorded(data_dir)?;
    if recorded.is_none() && asked.is_none() && has_accounts(data_dir)? {
        return Err(KeyStoreError::Unavailable {
            detail: format!(
                "{} has accounts but no record of its keystore",
                data_dir.display()
            ),
            advice: "choose its keystore once: earlier versions kept keys in the kernel keyring \
                     (`--keystore kernel-keyring`)"
                .into(),
        });
    }
    let kind = match (recorded, asked) {
        (Some(r), Some(a)) if r != a => {
            return Err(KeyStoreError::Unavailable {
                detail: format!(
                    "the keys of {} are in the {} store, not the {} store",
                    data_dir.display(),
                    r.name(),
                    a.name()
                ),
                advice: format!(
                    "leave out the keystore choice (or choose {}), or use another data directory",
                    r.name()
                ),
            })
        }
        (Some(r), _) => r,
        (None, Some(a)) => a,
        (None, None) => StoreKind::platform_default(),
    };
    let store = connect(kind, service)?;
    // Probe: an unreachable or locked store is reported now, with the fix, never later in
    // the middle of an enrolment.
    let probe = KeyId::random(&mut rand_core::OsRng);
    store.put(&probe, &WrappingKey::generate(&mut rand_core::OsRng))?;
    store.delete(&probe)?;
    if recorded.is_none() {
        record(data_dir, kind)?;
    }
    Ok(OsKeyStore { store, kind })
}

/// Writes the record once: a complete temporary file hard-linked into place, which fails if
/// another process recorded first (its choice then stands, and a different one is refused).
fn record(data_dir: &Path, kind: StoreKind) -> Result<(), KeyStoreError> {
    match record_once(data_dir, MARKER, kind.name())? {
        None => Ok(()),
        Some(other) if StoreKind::parse(&other) == Some(kind) => Ok(()),
        Some(other) => Err(KeyStoreError::Unavailable {
            detail: format!(
                "another Latchkey program set up {} with the {} store meanwhile",
                data_dir.display(),
                other.trim()
            ),
            advice: "start this program again".into(),
        }),
    }
}

/// Writes `name` into the marker file `marker` unless it exists: `None` when written, else
/// the text another process recorded first.
fn record_once(data_dir: &Path, marker: &str, name: &str) -> Result<Option<String>, KeyStoreError> {
    let fail =
        |e: std::io::Error| KeyStoreError::Failure(format!("cannot record the {marker}: {e}"));
    let fs = crate::fsio::Fs::with_faults(None);
    fs.create_dir(data_dir).map_err(fail)?;
    let temp = data_dir.join(format!(".{marker}.{}.tmp", std::process::id()));
    fs.write_atomic(&temp, format!("{name}\n").as_bytes())
        .map_err(fail)?;
    let linked = std::fs::hard_link(&temp, data_dir.join(marker));
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(data_dir.join(marker))
                .map(Some)
                .map_err(fail)
        }
        Err(e) => Err(fail(e)),
    }
}

/// The file that records which signer makes a data directory's device keys.
const SIGNER_MARKER: &str = "signer";

/// Which signer makes a data directory's device keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerKind {
    /// The platform's key hardware (a TPM on Windows): keys never leave it.
    Hardware,
    /// The core's software signer: keys wrapped by the OS keystore.
    Software,
}

impl SignerKind {
    /// The name in the record.
    pub fn name(self) -> &'static str {
        match self {
            SignerKind::Hardware => "hardware",
            SignerKind::Software => "software",
        }
    }
}

/// Chooses the signer of the data directory `data_dir` and records it once: the recorded kind
/// if there is one, else the platform's key hardware where `hardware` opened, else software.
/// Returns the hardware signer to use, or `None` for the software one.
///
/// The device keys of existing accounts are where the record says: a directory set up with
/// the hardware never silently goes on in software because the hardware did not open this
/// time, and one set up in software stays there when hardware appears.
///
/// # Errors
/// [`KeyStoreError::Unavailable`], with the platform's reason and the fix, when the record
/// says hardware and `hardware` failed; [`KeyStoreError::Failure`] when the record cannot be
/// read or written or names no known kind.
pub fn choose_signer<S>(
    data_dir: &Path,
    hardware: Result<S, String>,
) -> Result<Option<S>, KeyStoreError> {
    let path = data_dir.join(SIGNER_MARKER);
    let recorded = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(KeyStoreError::Failure(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let recorded = match recorded {
        Some(text) => Some(parse_signer(&text, &path)?),
        None => {
            if let Err(why) = &hardware {
                // Accounts made before the choice was recorded: their keys may be in the TPM,
                // so a failed TPM is not taken as "software".
                if has_accounts(data_dir)? {
                    return Err(KeyStoreError::Unavailable {
                        detail: format!(
                            "{} has accounts but no record of where their device keys are, \
                             and this computer's key hardware did not open ({why})",
                            data_dir.display()
                        ),
                        advice: format!(
                            "turn the TPM back on (the computer's firmware settings, or Windows \
                             Security, Device security), then start Latchkey again. If this \
                             computer has no TPM, its keys were made in software: write the word \
                             software into {} and start again",
                            path.display()
                        ),
                    });
                }
            }
            let kind = if hardware.is_ok() {
                SignerKind::Hardware
            } else {
                SignerKind::Software
            };
            // Another process may have recorded first: its choice stands.
            record_once(data_dir, SIGNER_MARKER, kind.name())?
                .map(|other| parse_signer(&other, &path))
                .transpose()?
        }
    };
    match (recorded, hardware) {
        (None | Some(SignerKind::Hardware), Ok(signer)) => Ok(Some(signer)),
        (None | Some(SignerKind::Software), _) => Ok(None),
        (Some(SignerKind::Hardware), Err(why)) => Err(KeyStoreError::Unavailable {
            detail: format!(
                "the device keys of {} are in this computer's key hardware, which did not \
                 open ({why})",
                data_dir.display()
            ),
            advice: "turn the TPM back on (the computer's firmware settings, or Windows \
                     Security, Device security), then start Latchkey again; the keys never \
                     leave it, so Latchkey does not go on without it"
                .into(),
        }),
    }
}

fn parse_signer(text: &str, path: &Path) -> Result<SignerKind, KeyStoreError> {
    [SignerKind::Hardware, SignerKind::Software]
        .into_iter()
        .find(|k| k.name() == text.trim())
        .ok_or_else(|| KeyStoreError::Failure(format!("{} names no known signer", path.display())))
}

/// Whether the data directory holds accounts (a missing directory holds none).
fn has_accounts(data_dir: &Path) -> Result<bool, KeyStoreError> {
    match std::fs::read_dir(data_dir.join("accounts")) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(KeyStoreError::Failure(format!(
            "cannot read {}: {e}",
            data_dir.join("accounts").display()
        ))),
    }
}

/// Where the data lives by default: `$XDG_DATA_HOME/latchkey` or `~/.local/share/latchkey`
/// (Unix), `%LOCALAPPDATA%\Latchkey` (Windows). `None` if the system names no such place
/// (never a directory relative to wherever the program was started).
pub fn default_data_dir() -> Option<std::path::PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if cfg!(windows) {
        absolute("LOCALAPPDATA").map(|p| p.join("Latchkey"))
    } else {
        absolute("XDG_DATA_HOME")
            .or_else(|| absolute("HOME").map(|h| h.join(".local/share")))
            .map(|p| p.join("latchkey"))
    }
}

/// The store a data directory recorded.
fn recorded(data_dir: &Path) -> Result<Option<StoreKind>, KeyStoreError> {
    match std::fs::read_to_string(data_dir.join(MARKER)) {
        Ok(text) => StoreKind::parse(&text).map(Some).ok_or_else(|| {
            KeyStoreError::Failure(format!(
                "{} names no known keystore",
                data_dir.join(MARKER).display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KeyStoreError::Failure(format!(
            "cannot read {}: {e}",
            data_dir.join(MARKER).display()
        ))),
    }
}

fn connect(kind: StoreKind, service: &str) -> Result<Arc<dyn KeyStore>, KeyStoreError> {
    let missing = |what: &str| KeyStoreError::Unavailable {
        detail: format!("this build has no {what} store"),
        advice: format!(
            "choose another keystore ({})",
            StoreKind::ALL.map(StoreKind::name).join(", ")
        ),
    };
    match kind {
        StoreKind::SecretService => {
            #[cfg(all(target_os = "linux", feature = "secret-service"))]
            {
                crate::keystore::KeyringKeyStore::secret_service(service)
                    .map(|s| Arc::new(s) as Arc<dyn KeyStore>)
            }
            #[cfg(not(all(target_os = "linux", feature = "secret-service")))]
            {
                let _ = service;
                Err(missing("Secret Service"))
            }
        }
        StoreKind::KernelKeyring => {
            #[cfg(all(target_os = "linux", feature = "keyutils"))]
            {
                crate::keystore::KeyringKeyStore::linux_keyutils(service)
                    .map(|s| Arc::new(s) as Arc<dyn KeyStore>)
            }
            #[cfg(not(all(target_os = "linux", feature = "keyutils")))]
            {
                let _ = service;
                Err(missing("kernel keyring"))
            }
        }
        StoreKind::WindowsCredentials => {
            #[cfg(all(windows, feature = "windows-store"))]
            {
                crate::keystore::KeyringKeyStore::windows_credentials(service)
                    .map(|s| Arc::new(s) as Arc<dyn KeyStore>)
            }
            #[cfg(not(all(windows, feature = "windows-store")))]
            {
                let _ = service;
                Err(missing("Windows Credential Manager"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in StoreKind::ALL {
            assert_eq!(StoreKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(StoreKind::parse("file"), None);
        assert!(!StoreKind::KernelKeyring.survives_reboot());
        assert!(StoreKind::SecretService.survives_reboot());
    }

    /// A recorded store wins; asking for another is refused, with the recorded name.
    #[test]
    fn recorded_store_is_kept_and_another_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(MARKER), "windows-credentials\n").expect("marker");
        let err = open(dir.path(), Some(StoreKind::KernelKeyring), "latchkey-test")
            .err()
            .expect("refused");
        assert!(err.to_string().contains("windows-credentials"), "{err}");
        // Not on this system: refused with the choices, never another store in its place.
        #[cfg(not(windows))]
        {
            let err = open(dir.path(), None, "latchkey-test")
                .err()
                .expect("refused");
            assert!(err.to_string().contains("kernel-keyring"), "{err}");
        }
    }

    #[test]
    fn unreadable_marker_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(MARKER), "a-file\n").expect("marker");
        assert!(matches!(
            open(dir.path(), None, "latchkey-test"),
            Err(KeyStoreError::Failure(_))
        ));
    }

    /// Accounts without a record (set up before it existed, or the record deleted): the store
    /// is never guessed; the person names it once.
    #[test]
    fn accounts_without_a_record_are_refused_until_the_store_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("accounts/a")).expect("accounts");
        let err = open(dir.path(), None, "latchkey-test")
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("has accounts but no record"),
            "{err}"
        );
        assert!(
            err.to_string().contains("--keystore kernel-keyring"),
            "{err}"
        );
        assert!(!dir.path().join(MARKER).exists(), "nothing recorded");
    }

    /// The record is created once: a second, different record loses and is refused.
    #[test]
    fn the_first_record_stands() {
        let dir = tempfile::tempdir().expect("tempdir");
        record(dir.path(), StoreKind::SecretService).expect("first");
        record(dir.path(), StoreKind::SecretService).expect("same again");
        assert!(matches!(
            record(dir.path(), StoreKind::KernelKeyring),
            Err(KeyStoreError::Unavailable { .. })
        ));
        assert_eq!(
            recorded(dir.path()).expect("read"),
            Some(StoreKind::SecretService)
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from(MARKER)],
            "no temporary left"
        );
    }

    /// The first choice is recorded; hardware recorded and not opening is refused with the
    /// fix (never software in its place); software recorded stays software.
    #[test]
    fn accounts_without_a_signer_record_are_not_guessed_software() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("accounts").join("a1")).expect("account");
        let err =
            choose_signer::<u8>(dir.path(), Err("TPM disabled".into())).expect_err("not guessed");
        let text = err.to_string();
        assert!(
            text.contains("no record") && text.contains("write the word software"),
            "{text}"
        );
        assert!(
            !dir.path().join(SIGNER_MARKER).exists(),
            "nothing recorded on a guess"
        );
        // With the TPM working, the accounts' keys are where they were made before: hardware.
        assert_eq!(
            choose_signer(dir.path(), Ok::<_, String>(3)).expect("hardware"),
            Some(3)
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join(SIGNER_MARKER)).expect("record"),
            "hardware\n"
        );
    }

    #[test]
    fn the_signer_choice_is_recorded_and_kept() {
        let hw = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            choose_signer(hw.path(), Ok::<_, String>(7)).expect("first"),
            Some(7)
        );
        assert_eq!(
            std::fs::read_to_string(hw.path().join(SIGNER_MARKER)).expect("record"),
            "hardware\n"
        );
        assert_eq!(
            choose_signer(hw.path(), Ok::<_, String>(8)).expect("again"),
            Some(8)
        );
        let err = choose_signer::<u8>(hw.path(), Err("TPM disabled".into())).expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("TPM disabled") && text.contains("turn the TPM back on"),
            "{text}"
        );

        let sw = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            choose_signer::<u8>(sw.path(), Err("no TPM".into())).expect("first"),
            None
        );
        assert_eq!(
            std::fs::read_to_string(sw.path().join(SIGNER_MARKER)).expect("record"),
            "software\n"
        );
        assert_eq!(
            choose_signer(sw.path(), Ok::<_, String>(1)).expect("hardware now"),
            None
        );

        std::fs::write(sw.path().join(SIGNER_MARKER), "enclave\n").expect("edit");
        assert!(matches!(
            choose_signer(sw.path(), Ok::<_, String>(1)),
            Err(KeyStoreError::Failure(_))
        ));
    }

    /// Under `keyctl session` the kernel keyring opens, is recorded, and is used next time
    /// even when nothing is asked.
    #[cfg(all(target_os = "linux", feature = "keyutils"))]
    #[test]
    fn kernel_keyring_is_recorded() {
        let dir = tempfile::tempdir().expect("tempdir");
        match open(dir.path(), Some(StoreKind::KernelKeyring), "latchkey-test") {
            Ok(opened) => {
                assert_eq!(opened.kind, StoreKind::KernelKeyring);
                assert_eq!(
                    recorded(dir.path()).expect("read"),
                    Some(StoreKind::KernelKeyring)
                );
                let again = open(dir.path(), None, "latchkey-test").expect("reopen");
                assert_eq!(again.kind, StoreKind::KernelKeyring);
            }
            Err(e) => assert!(
                std::env::var_os("LATCHKEY_REQUIRE_KEYUTILS").is_none(),
                "keyutils required but unavailable: {e}"
            ),
        }
    }
}
