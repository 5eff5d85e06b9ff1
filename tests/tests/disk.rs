//! Disk faults on the device (issue 23): the phone's data directory on a real, small tmpfs that
//! is filled up or remounted read-only during enrolment, approval (the counter block) and PIN
//! change. Each refusal is a typed storage error in words that say what to do; the previous
//! state stays usable once the disk has room again; no PIN attempt is spent on a full disk.
//! Needs root (mount); test.sh runs as root and sets LATCHKEY_REQUIRE_MOUNT=1.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use std::path::{Path, PathBuf};
use std::process::Command;

use latchkey_core::ErrorKind;
use latchkey_e2e::*;
use latchkey_protocol::secret::Pin;

/// A tmpfs of `size_kib` mounted on a fresh directory; unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size_kib: u32) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_kib}k,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var_os("LATCHKEY_REQUIRE_MOUNT").is_none(),
                "LATCHKEY_REQUIRE_MOUNT is set but a tmpfs cannot be mounted (root needed)"
            );
            eprintln!("disk fault test skipped: cannot mount a tmpfs (needs root)");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk: a file grows until the filesystem refuses.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("filler");
        let block = vec![0u8; 4096];
        while file.write_all(&block).and_then(|()| file.flush()).is_ok() {}
        let _ = file.sync_all();
        path
    }

    /// Read-only from now on: a read-only bind mount over the disk (a plain remount is refused
    /// while the core holds its lock file open); [`SmallDisk::writable`] takes it away.
    fn read_only(&self) {
        let run = |args: &[&str]| {
            Command::new("mount")
                .args(args)
                .arg(self.path())
                .arg(self.path())
                .status()
                .is_ok_and(|s| s.success())
        };
        assert!(run(&["--bind"]), "bind mount");
        let ro = Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ro, "read-only bind mount");
    }

    fn writable(&self) {
        let ok = Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "the read-only bind mount goes away");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // The bind mount, if a failed test left it, then the disk.
        while Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {}
    }
}

/// The server's consecutive-failure count of the device (P2's counter).
async fn failures(server: &TestServer) -> i64 {
    sqlx::query_scalar("SELECT failures FROM devices WHERE state = 'active'")
        .fetch_one(&server.state.db)
        .await
        .unwrap()
}

/// The words the app shows for `e`, in English.
fn said(e: &latchkey_core::Error) -> String {
    latchkey_app::words::Words::negotiate(&["en".to_owned()])
        .get(&latchkey_app::words::error_text(e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disk_full_keeps_previous_state() {
    let Some(disk) = SmallDisk::mount(512) else {
        return;
    };
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::on_dir(&server, disk.path().join("phone"));
    let core = phone.open();
    let browser = Browser::register(&server, "disk@example.org", PASSWORD).await;
    let (html, _) = browser.add_device("Phone", "4831").await;
    let account = core
        .enrol(&scan_page(&html), &Pin::new("4831"), None)
        .await
        .expect("enrolled while there is room");

    // Approval with the disk full: the counter block cannot be written. Typed, explained,
    // nothing sent, no PIN attempt spent; the sign-in still waits.
    let filler = disk.fill();
    let (browser_in, code, view) =
        sign_in_and_wait(&server, &core, &account.id, "disk@example.org").await;
    let e = core
        .approve(&view, &code, &Pin::new("4831"))
        .await
        .expect_err("no room for the counter block");
    assert_eq!(e.kind(), ErrorKind::Storage, "{e:?}");
    assert!(said(&e).contains("Free some space"), "{}", said(&e));
    assert_eq!(
        failures(&server).await,
        0,
        "no PIN attempt spent on a full disk"
    );
    // PIN change with the disk full: refused before anything is staged; the old PIN stands.
    let e = core
        .change_pin(&account.id, &Pin::new("4831"), &Pin::new("7392"))
        .await
        .expect_err("no room to stage the new key");
    assert_eq!(e.kind(), ErrorKind::Storage, "{e:?}");
    // A second account cannot be enrolled: refused, and no half-made account is left.
    let (html2, _) = {
        let other = Browser::register(&server, "disk2@example.org", PASSWORD).await;
        other.add_device("Phone", "2946").await
    };
    let e = core
        .enrol(&scan_page(&html2), &Pin::new("2946"), None)
        .await
        .expect_err("no room for a new account");
    assert_eq!(e.kind(), ErrorKind::Storage, "{e:?}");
    assert_eq!(
        core.accounts().unwrap().len(),
        1,
        "only the account that was there"
    );

    // Room again: the same device approves with the old PIN, and the PIN change goes through.
    std::fs::remove_file(&filler).unwrap();
    core.approve(&view, &code, &Pin::new("4831"))
        .await
        .expect("approves once there is room");
    let r = browser_in.get_raw("/login/approve").await;
    assert_eq!(r.headers()["location"], "/account", "signed in");
    core.change_pin(&account.id, &Pin::new("4831"), &Pin::new("7392"))
        .await
        .expect("PIN change once there is room");

    // Read-only: an approval whose counter block has room needs no write and goes through; a
    // PIN change (it stages a key) is refused, typed, and goes through once writable again.
    disk.read_only();
    let (_, code, view) = sign_in_and_wait(&server, &core, &account.id, "disk@example.org").await;
    core.approve(&view, &code, &Pin::new("7392"))
        .await
        .expect("an approval within the reserved counter block writes nothing");
    let e = core
        .change_pin(&account.id, &Pin::new("7392"), &Pin::new("5183"))
        .await
        .expect_err("a read-only disk refuses the staged key");
    assert_eq!(e.kind(), ErrorKind::Storage, "{e:?}");
    assert!(said(&e).contains("could not save"), "{}", said(&e));
    disk.writable();
    core.change_pin(&account.id, &Pin::new("7392"), &Pin::new("5183"))
        .await
        .expect("PIN change once the disk is writable again");
    let (_, code, view) = sign_in_and_wait(&server, &core, &account.id, "disk@example.org").await;
    core.approve(&view, &code, &Pin::new("5183"))
        .await
        .expect("the new PIN approves");
    server.stop().await;
}
