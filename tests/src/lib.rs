//! Shared pieces of the end-to-end suites: the server harness (the server crate's own test
//! helpers, reused), a device opened through `latchkey-core`, and QR rendering.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)] // test support panics on failure

/// The shared test support (server harness, scripted browser, protocol-level device).
pub use latchkey_test_support as server;

use std::path::Path;
use std::sync::Arc;

use latchkey_core::keystore::MemoryKeyStore;
use latchkey_core::signer::{DeviceSigner as _, SoftwareSigner};
use latchkey_core::vault::approval::ApprovalKey;
use latchkey_core::vault::{AccountRecord, RecordId, Vault};
use latchkey_core::{Latchkey, Options, StaticPlatform};
use latchkey_protocol::link::LinkPolicy;
use latchkey_protocol::oprf;
use latchkey_protocol::secret::{OprfKey, Pin};
use latchkey_protocol::types::{ChallengeId, RequestId};
use latchkey_protocol::wire::{DeviceRequest, RequestBody, RequestHeader};

pub use server::{device_row, Backend, Browser, DeviceRow, Policy, TestServer};

/// A device: a data directory, an in-memory keystore (kept so a "restart" reuses it).
pub struct Phone {
    pub dir: tempfile::TempDir,
    pub keystore: Arc<MemoryKeyStore>,
    pub ca: Vec<u8>,
}

impl Phone {
    pub fn new(server: &TestServer) -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            keystore: MemoryKeyStore::new(),
            ca: server.ca_pem.clone(),
        }
    }

    /// A phone whose data directory is a fresh directory inside `parent` (a small disk).
    pub fn on_dir(server: &TestServer, parent: std::path::PathBuf) -> Self {
        std::fs::create_dir_all(&parent).expect("parent");
        Self {
            dir: tempfile::tempdir_in(parent).expect("tempdir"),
            keystore: MemoryKeyStore::new(),
            ca: server.ca_pem.clone(),
        }
    }

    /// A phone trusting the dev CA `ca` (a server in another process).
    pub fn with_ca(ca: Vec<u8>) -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            keystore: MemoryKeyStore::new(),
            ca,
        }
    }

    /// Opens (or reopens, after a "crash") the core on this device's data.
    pub fn open(&self) -> Latchkey {
        self.open_with(Some(self.ca.clone()), None)
    }

    pub fn open_with(
        &self,
        ca: Option<Vec<u8>>,
        faults: Option<Arc<latchkey_core::FaultPlan>>,
    ) -> Latchkey {
        self.open_full(ca, faults, LinkPolicy::default())
    }

    /// Opens the core with a vendor's link policy (a host allow-list).
    pub fn open_with_policy(&self, link_policy: LinkPolicy) -> Latchkey {
        self.open_full(Some(self.ca.clone()), None, link_policy)
    }

    fn open_full(
        &self,
        ca: Option<Vec<u8>>,
        faults: Option<Arc<latchkey_core::FaultPlan>>,
        link_policy: LinkPolicy,
    ) -> Latchkey {
        Latchkey::open(Options {
            data_dir: self.dir.path().to_owned(),
            keystore: self.keystore.clone(),
            signer: None,
            platform: Arc::new(StaticPlatform {
                screen_lock: true,
                model: "E2E phone".into(),
            }),
            extra_ca_pem: ca,
            link_policy,
            faults,
        })
        .expect("open core")
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    /// A second vault handle on this phone's data (the vault is safe to share between
    /// handles and processes).
    pub fn vault(&self) -> Vault {
        Vault::open(self.data(), self.keystore.clone()).expect("open vault")
    }

    /// The account's record as stored.
    pub fn record(&self, id: &RecordId) -> AccountRecord {
        self.vault().load(id).expect("record")
    }

    /// Sends `body` in this phone's device envelope, signed by its device key exactly as the
    /// core signs, bypassing the core: for requests the core never makes (a removal without
    /// a signature, an answer signed by a key it no longer has).
    pub async fn raw_call<B: RequestBody>(
        &self,
        server: &TestServer,
        id: &RecordId,
        body: B,
    ) -> server::Reply<B::Response> {
        let record = self.record(id);
        let signer = SoftwareSigner::new(self.data().join("device-keys"), self.keystore.clone());
        let header = RequestHeader::new(
            record.identity.account,
            record.identity.device,
            RequestId::random(&mut rand_core::OsRng),
            server::now(),
        );
        let signature = signer
            .sign(
                &record.device_key.alias,
                &DeviceRequest::signed_bytes(&header, &body),
            )
            .expect("device signature");
        let request = DeviceRequest {
            header,
            body,
            signature,
        };
        server::post_json(
            &server.client(),
            &format!(
                "{}{}",
                record.identity.server,
                B::PATH.trim_start_matches('/')
            ),
            &request,
        )
        .await
    }

    /// The account's active approval key, opened with `pin` and the server's own OPRF key:
    /// what only a breach of both the server and the device gives (tests only).
    pub async fn approval_key(&self, server: &TestServer, id: &RecordId, pin: &str) -> ApprovalKey {
        let record = self.record(id);
        let row = device_row(server, &record.identity.device).await;
        let sealed = server
            .state
            .keys
            .open("oprf", &record.identity.device.to_string(), &row.oprf_key)
            .expect("the server's OPRF key opens");
        let key = OprfKey::from_bytes(&sealed).expect("OPRF key");
        let pin = Pin::new(pin);
        let output = oprf::evaluate(&key, &pin).expect("evaluate");
        record
            .active
            .open(
                &output,
                &pin,
                record.identity.account,
                record.identity.device,
            )
            .expect("the PIN opens the active key")
    }
}

/// How many PIN evaluations the server counted for a sign-in request.
pub async fn challenge_evaluations(server: &TestServer, challenge: &ChallengeId) -> i64 {
    use sqlx::Row as _;
    sqlx::query("SELECT evaluations FROM challenges WHERE id = $1")
        .bind(challenge.to_string())
        .fetch_one(&server.state.db)
        .await
        .expect("challenge row")
        .try_get("evaluations")
        .expect("evaluations")
}

/// The password every suite registers with (the server harness's `enrolled` uses it too).
pub const PASSWORD: &str = "correct horse battery";

/// Signs in on `server`'s web page with [`PASSWORD`] and waits for the request to reach the
/// device: the browser, the number the page shows, and the request as the core verified it.
pub async fn sign_in_and_wait(
    server: &TestServer,
    core: &Latchkey,
    account: &latchkey_core::vault::RecordId,
    email: &str,
) -> (Browser, String, latchkey_core::ChallengeView) {
    let (browser, _, code) = Browser::sign_in(server, email, PASSWORD).await;
    let view = core
        .wait_for_challenge(account, 5)
        .await
        .expect("wait")
        .expect("a sign-in request reached the device");
    (browser, code, view)
}

/// Answers `attempts` sign-ins on `account` with a wrong PIN (each then denied): with the
/// default policy, five lock the device.
pub async fn lock_with_wrong_pins(
    server: &TestServer,
    core: &Latchkey,
    account: &latchkey_core::vault::RecordId,
    email: &str,
    attempts: usize,
) {
    for _ in 0..attempts {
        let (_, _, view) = sign_in_and_wait(server, core, account, email).await;
        let wrong = core
            .approve(&view, "00", &latchkey_protocol::secret::Pin::new("0000"))
            .await;
        assert!(wrong.is_err(), "a wrong PIN must not approve");
        let _ = core.deny(&view, false).await;
    }
}

/// Scans the QR code on an "Add a device" page the way a camera would: the page's SVG
/// rasterised to a luma plane, decoded by the core.
pub fn scan_page(html: &str) -> latchkey_protocol::link::EnrolmentLink {
    let (w, h, luma) = server::rasterise(server::page_svg(html));
    match latchkey_core::scan_frame(&luma, w, h, w, &LinkPolicy::default()).expect("scan") {
        latchkey_core::ScanResult::Link(link) => *link,
        other => panic!("the page's QR code did not scan: {other:?}"),
    }
}

/// A QR code of `text` as a luma plane (4 px modules, 4-module quiet zone).
pub fn qr_luma(text: &str) -> (usize, usize, Vec<u8>) {
    let code = qrcode::QrCode::new(text.as_bytes()).expect("encodable");
    let modules = code.width();
    let colors = code.to_colors();
    let scale = 4;
    let size = (modules + 8) * scale;
    let mut luma = vec![255u8; size * size];
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = (i % modules + 4, i / modules + 4);
            for y in my * scale..(my + 1) * scale {
                for x in mx * scale..(mx + 1) * scale {
                    luma[y * size + x] = 0;
                }
            }
        }
    }
    (size, size, luma)
}

/// A private D-Bus session bus with GNOME Keyring's Secret Service on it, unlocked from stdin,
/// in a throwaway home directory: the Secret Service keystore tested for real.
pub struct SecretServiceSession {
    pub home: tempfile::TempDir,
    pub bus_address: String,
    _bus: SessionBus,
    keyring: Option<std::process::Child>,
}

/// Whether every tool is installed; if one is missing, says so and returns false, or fails
/// when `LATCHKEY_REQUIRE_SECRET_SERVICE` is set (test.sh sets it: there, D-Bus tests must run).
pub fn tools_present(tools: &[&str], what: &str) -> bool {
    let missing = tools.iter().find(|tool| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
    });
    if let Some(tool) = missing {
        assert!(
            std::env::var_os("LATCHKEY_REQUIRE_SECRET_SERVICE").is_none(),
            "{what} needs {tool} (Debian: dbus-daemon, gnome-keyring)"
        );
        eprintln!("skipped: {tool} is not installed (Debian: dbus-daemon, gnome-keyring)");
        return false;
    }
    true
}

/// A private D-Bus session bus (`dbus-daemon --session`), stopped when dropped.
pub struct SessionBus {
    /// Its address, for `DBUS_SESSION_BUS_ADDRESS` or a connection builder.
    pub address: String,
    child: std::process::Child,
}

impl SessionBus {
    /// Starts a bus; `None` (after saying why) when `dbus-daemon` is missing, which fails
    /// instead when `LATCHKEY_REQUIRE_SECRET_SERVICE` is set.
    pub fn start(home: &std::path::Path) -> Option<Self> {
        tools_present(&["dbus-daemon"], "a D-Bus test").then(|| Self::spawn(home))
    }

    fn spawn(home: &std::path::Path) -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .env("HOME", home)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("dbus-daemon");
        let mut address = String::new();
        std::io::BufReader::new(child.stdout.take().expect("bus stdout"))
            .read_line(&mut address)
            .expect("bus address");
        Self {
            address: address.trim().to_owned(),
            child,
        }
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SecretServiceSession {
    const PASSWORD: &'static str = "keyring password for the test";

    /// Starts the bus and the keyring; `None` (after saying why) when `dbus-daemon` or
    /// `gnome-keyring-daemon` is missing, which fails instead when
    /// `LATCHKEY_REQUIRE_SECRET_SERVICE` is set (test.sh sets it).
    pub fn start() -> Option<Self> {
        if !tools_present(
            &["dbus-daemon", "gnome-keyring-daemon", "dbus-send"],
            "the Secret Service test",
        ) {
            return None;
        }
        let home = tempfile::tempdir().expect("home");
        let bus = SessionBus::spawn(home.path());
        let mut session = Self {
            home,
            bus_address: bus.address.clone(),
            _bus: bus,
            keyring: None,
        };
        session.start_keyring();
        Some(session)
    }

    /// The environment a program needs to find this bus and keyring.
    pub fn env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        vec![
            ("DBUS_SESSION_BUS_ADDRESS", self.bus_address.clone().into()),
            ("HOME", self.home.path().into()),
            ("XDG_DATA_HOME", self.home.path().join("data").into()),
            ("XDG_RUNTIME_DIR", self.home.path().join("run").into()),
        ]
    }

    /// Starts `gnome-keyring-daemon` (secrets only), unlocking the login keyring with the
    /// password on its stdin, and waits until it owns `org.freedesktop.secrets`.
    pub fn start_keyring(&mut self) {
        use std::io::Write as _;
        let run = self.home.path().join("run");
        std::fs::create_dir_all(&run).expect("runtime dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700))
                .expect("runtime dir mode");
        }
        let mut child = std::process::Command::new("gnome-keyring-daemon")
            .args([
                "--unlock",
                "--components=secrets",
                "--foreground",
                "--replace",
            ])
            .envs(self.env())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon");
        let mut stdin = child.stdin.take().expect("keyring stdin");
        stdin
            .write_all(Self::PASSWORD.as_bytes())
            .expect("keyring password");
        drop(stdin);
        self.keyring = Some(child);
        for _ in 0..100 {
            let owned = std::process::Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .envs(self.env())
                .output()
                .expect("dbus-send");
            if String::from_utf8_lossy(&owned.stdout).contains("boolean true") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("gnome-keyring-daemon did not take org.freedesktop.secrets within 5 s");
    }

    /// Stops the keyring daemon (its keyrings stay on disk).
    pub fn stop_keyring(&mut self) {
        if let Some(mut child) = self.keyring.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SecretServiceSession {
    fn drop(&mut self) {
        // The bus stops after the keyring (fields drop after this).
        self.stop_keyring();
    }
}

/// A virtual screen `width`×`height` (a grey desktop with a white browser window) with the
/// luma image `code` (`cw`×`ch`) drawn at (`x`, `y`): what a screen capture of the "Add a
/// device" page looks like.
#[allow(clippy::too_many_arguments)]
pub fn virtual_screen(
    width: usize,
    height: usize,
    code: &[u8],
    cw: usize,
    ch: usize,
    x: usize,
    y: usize,
) -> Vec<u8> {
    let mut screen = vec![0x5a_u8; width * height];
    // The browser window around the code, then the code itself.
    let (wx, wy) = (x.saturating_sub(200), y.saturating_sub(150));
    for row in wy..(y + ch + 150).min(height) {
        for col in wx..(x + cw + 200).min(width) {
            screen[row * width + col] = 0xff;
        }
    }
    for row in 0..ch.min(height.saturating_sub(y)) {
        let line = &code[row * cw..row * cw + cw.min(width.saturating_sub(x))];
        screen[(y + row) * width + x..(y + row) * width + x + line.len()].copy_from_slice(line);
    }
    screen
}
