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
    ///
    /// The new content goes to a temp file of its own (a random name beside `path`, created
    /// exclusively, so two writers never share one and no planted file or link is reused),
    /// forced to 0600, then renamed over `path`. A symbolic link at `path` is refused rather
    /// than replaced (the data directory holds none of its own).
    pub(crate) fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        refuse_symlink(path)?;
        let (tmp, mut file) = create_temp(path)?;
        if let Err(e) = self.step("write temporary file") {
            // A crash mid-write leaves a torn temp file behind.
            let _ = file.write_all(&bytes[..bytes.len() / 2]);
            return Err(e);
        }
        // A real failure from here on removes the temp file; a simulated crash (a failed
        // step) leaves it, as a crash would.
        let written = (|| {
            file.write_all(bytes)?;
            make_private(&file)
        })();
        if let Err(e) = written {
            drop(file);
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.step("fsync temporary file")?;
        if let Err(e) = file.sync_all() {
            drop(file);
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        drop(file);
        self.step("rename into place")?;
        if let Err(e) = refuse_symlink(path).and_then(|()| fs::rename(&tmp, path)) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
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

/// The suffix of every temp file [`Fs::write_atomic`] makes.
const TEMP_SUFFIX: &str = ".tmp";

/// A fresh temp file beside `path`: `.NAME.RANDOM.tmp`, created exclusively (`O_CREAT |
/// O_EXCL`, which also refuses to follow a symbolic link at that name) with mode 0600. Readers
/// ignore these names (they do not end in `.json`); [`remove_stale_temps`] deletes leftovers.
fn create_temp(path: &Path) -> io::Result<(PathBuf, File)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    loop {
        let mut random = [0u8; 12];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut random);
        let mut temp = std::ffi::OsString::from(".");
        temp.push(name);
        temp.push(".");
        temp.push(latchkey_protocol::b64::encode(&random));
        temp.push(TEMP_SUFFIX);
        let tmp = path.with_file_name(temp);
        match private_options().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            // 96 random bits: only a planted file can collide; pick another name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

impl Fs {
    /// Checks that `dir` takes a write of a record's size (16 KiB, synced, then removed): a
    /// full or read-only disk is found before a flow spends anything on the server (a counted
    /// PIN evaluation, a single-use enrolment code).
    pub(crate) fn probe(&self, dir: &Path) -> io::Result<()> {
        let (tmp, mut file) = create_temp(&dir.join("room-check"))?;
        let written = file
            .write_all(&[0u8; 16 * 1024])
            .and_then(|()| file.sync_all());
        drop(file);
        let removed = fs::remove_file(&tmp);
        written?;
        removed
    }
}

/// Whether `name` is a temp file [`Fs::write_atomic`] made (for any target), or one an
/// earlier version made (`NAME.tmp`).
pub(crate) fn is_temp_name(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.ends_with(TEMP_SUFFIX))
}

/// Deletes the temp files a crash left in `dir` (never anything else). Call it only while no
/// other writer can be writing in `dir` (the vault holds its write lock).
pub(crate) fn remove_stale_temps(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if is_temp_name(&entry.file_name()) && !entry.file_type()?.is_dir() {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Refuses a symbolic link at `path`: replacing it would let whoever planted it choose where
/// the device's data ends up (or make a record vanish behind a link).
fn refuse_symlink(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a symbolic link, which Latchkey never writes through or replaces",
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Forces 0600 on a file this process wrote (the creation mode is reduced by the umask, and
/// the result of a replacement must not depend on it).
fn make_private(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
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

/// Options that create files readable by this user only (0600 on Unix; on Windows the
/// profile directory's access list already keeps them to the user).
fn private_options() -> OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut options = OpenOptions::new();
        options.mode(0o600);
        options
    }
    #[cfg(not(unix))]
    {
        OpenOptions::new()
    }
}

/// Makes a rename in `path`'s directory durable (Unix: fsync the directory; Windows has no
/// directory handle to sync and makes renames durable with the file system's journal).
fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        fs::metadata(path).expect("meta").permissions().mode() & 0o777
    }

    #[test]
    fn atomic_write_is_private_and_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.json");
        let fs = Fs::default();
        fs.write_atomic(&path, b"one").expect("write");
        fs.write_atomic(&path, b"two").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            names(dir.path()),
            vec!["a.json".to_owned()],
            "no temp file left"
        );
    }

    #[test]
    fn temp_names_are_unique_and_hidden() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.json");
        let (one, _f1) = create_temp(&path).expect("temp");
        let (two, _f2) = create_temp(&path).expect("temp");
        assert_ne!(one, two);
        for tmp in [&one, &two] {
            assert_eq!(tmp.parent(), Some(dir.path()), "beside the target");
            let name = tmp.file_name().expect("name");
            assert!(is_temp_name(name), "{name:?}");
            assert!(!name.to_string_lossy().ends_with(".json"));
            #[cfg(unix)]
            assert_eq!(mode(tmp), 0o600);
        }
    }

    /// The old fixed temp name (`a.json.tmp`) let anyone who can write the directory plant a
    /// link there and have the next write truncate and fill its target.
    #[cfg(unix)]
    #[test]
    fn a_planted_link_at_the_old_temp_name_is_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"victim").expect("victim");
        let path = dir.path().join("a.json");
        std::os::unix::fs::symlink(&victim, dir.path().join("a.json.tmp")).expect("link");
        Fs::default().write_atomic(&path, b"new").expect("write");
        assert_eq!(fs::read(&victim).expect("victim"), b"victim");
        assert_eq!(fs::read(&path).expect("read"), b"new");
        assert!(!fs::symlink_metadata(&path)
            .expect("meta")
            .file_type()
            .is_symlink());
    }

    #[cfg(unix)]
    #[test]
    fn a_link_at_the_target_is_refused_not_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"victim").expect("victim");
        let path = dir.path().join("a.json");
        std::os::unix::fs::symlink(&victim, &path).expect("link");
        let refused = Fs::default()
            .write_atomic(&path, b"new")
            .expect_err("a link");
        assert!(refused.to_string().contains("symbolic link"), "{refused}");
        assert_eq!(fs::read(&victim).expect("victim"), b"victim");
        assert!(fs::symlink_metadata(&path)
            .expect("meta")
            .file_type()
            .is_symlink());
        assert_eq!(
            names(dir.path()),
            vec!["a.json".to_owned(), "victim".to_owned()],
            "no temp file left"
        );
    }

    /// Whatever mode a file (or a leftover temp file) had, what a write leaves is 0600.
    #[cfg(unix)]
    #[test]
    fn the_result_is_0600_whatever_was_there() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.json");
        fs::write(&path, b"old").expect("old");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let stale = dir.path().join("a.json.tmp");
        fs::write(&stale, b"stale").expect("stale");
        fs::set_permissions(&stale, fs::Permissions::from_mode(0o666)).expect("chmod");
        Fs::default().write_atomic(&path, b"new").expect("write");
        assert_eq!(fs::read(&path).expect("read"), b"new");
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn stale_temps_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.json");
        Fs::default().write_atomic(&path, b"old").expect("write");
        // A crash after the temp file was written leaves it behind.
        let fs = Fs::with_faults(Some(FaultPlan::crash_after(2)));
        assert!(fs.write_atomic(&path, b"new").is_err());
        fs::write(dir.path().join("a.json.tmp"), b"old-style leftover").expect("write");
        fs::write(dir.path().join("a.op"), b"").expect("write");
        assert_eq!(names(dir.path()).len(), 4);
        assert_eq!(remove_stale_temps(dir.path()).expect("clean"), 2);
        assert_eq!(
            names(dir.path()),
            vec!["a.json".to_owned(), "a.op".to_owned()]
        );
        assert_eq!(fs::read(&path).expect("read"), b"old");
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
