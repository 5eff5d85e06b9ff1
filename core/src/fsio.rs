//! Durable file writes: temp file, fsync, rename, fsync directory (P10). Files are 0600,
//! directories 0700.
//!
//! With the `test-support` feature a [`FaultPlan`] can stop the process model at any step,
//! exactly as a crash would: the bytes already written stay, nothing else happens.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counts durable steps and fails the n-th one, to simulate a crash at every point.
#[derive(Debug, Default)]
pub struct FaultPlan {
    remaining: AtomicU64,
    armed: std::sync::atomic::AtomicBool,
    steps: AtomicU64,
}

#[cfg_attr(not(feature = "test-support"), allow(dead_code))]
impl FaultPlan {
    /// A plan that lets `n` steps succeed and fails the next one.
    pub fn crash_after(n: u64) -> Arc<Self> {
        let plan = Self::default();
        plan.remaining.store(n, Ordering::SeqCst);
        plan.armed.store(true, Ordering::SeqCst);
        Arc::new(plan)
    }

    /// A plan that never fails and only counts steps.
    pub fn counting() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// How many steps were taken (including a failed one).
    pub fn steps(&self) -> u64 {
        self.steps.load(Ordering::SeqCst)
    }

    /// Whether the planned crash has happened.
    pub fn crashed(&self) -> bool {
        self.armed.load(Ordering::SeqCst) && self.remaining.load(Ordering::SeqCst) == u64::MAX
    }

    /// Takes one step; `Err` when this is the step that crashes (and every step after it).
    pub fn step(&self, what: &'static str) -> io::Result<()> {
        self.steps.fetch_add(1, Ordering::SeqCst);
        if !self.armed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let left = self.remaining.load(Ordering::SeqCst);
        if left == 0 || left == u64::MAX {
            self.remaining.store(u64::MAX, Ordering::SeqCst);
            return Err(io::Error::other(format!("simulated crash before: {what}")));
        }
        self.remaining.store(left - 1, Ordering::SeqCst);
        Ok(())
    }
}

/// Filesystem access for the vault and the software signer.
#[derive(Clone, Debug, Default)]
pub(crate) struct Fs {
    faults: Option<Arc<FaultPlan>>,
}

impl Fs {
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))]
    pub(crate) fn with_faults(faults: Option<Arc<FaultPlan>>) -> Self {
        Self { faults }
    }

    fn step(&self, what: &'static str) -> io::Result<()> {
        match &self.faults {
            Some(plan) => plan.step(what),
            None => Ok(()),
        }
    }

    /// Creates a private directory (0700) and its parents.
    pub(crate) fn create_dir(&self, dir: &Path) -> io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder.create(dir)
    }

    /// Replaces `path` with `bytes` atomically: after a crash at any point the file holds
    /// either its old content or the new, never a mix.
    pub(crate) fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let tmp = temp_path(path);
        let mut file = open_private(&tmp)?;
        if let Err(e) = self.step("write temporary file") {
            // A crash mid-write leaves a torn temp file behind.
            let _ = file.write_all(&bytes[..bytes.len() / 2]);
            return Err(e);
        }
        file.write_all(bytes)?;
        self.step("fsync temporary file")?;
        file.sync_all()?;
        drop(file);
        self.step("rename into place")?;
        fs::rename(&tmp, path)?;
        self.step("fsync directory")?;
        sync_dir(path)
    }

    /// Removes `path` durably. Missing files are not an error.
    pub(crate) fn remove(&self, path: &Path) -> io::Result<()> {
        self.step("remove file")?;
        match fs::remove_file(path) {
            Ok(()) => sync_dir(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The temp file beside `path` (`name.tmp`); stale ones are ignored when reading and
/// overwritten by the next write.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Opens (creating, private) the file a vault locks; its content is never used.
pub(crate) fn open_lock_file(path: &Path) -> io::Result<File> {
    private_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

fn open_private(path: &Path) -> io::Result<File> {
    private_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

/// Options that create files readable by this user only (0600 on Unix).
fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
}

fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_is_private_and_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.json");
        let fs = Fs::default();
        fs.write_atomic(&path, b"one").expect("write");
        fs.write_atomic(&path, b"two").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn crash_at_each_step_keeps_old_or_new() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.json");
        Fs::default()
            .write_atomic(&path, b"old content")
            .expect("write");
        for n in 0..4 {
            let fs = Fs::with_faults(Some(FaultPlan::crash_after(n)));
            assert!(fs.write_atomic(&path, b"new content").is_err());
            let now = std::fs::read(&path).expect("read");
            assert!(
                now == b"old content" || now == b"new content",
                "step {n}: {now:?}"
            );
            Fs::default()
                .write_atomic(&path, b"old content")
                .expect("reset");
        }
    }
}
