//! Shared pieces of the end-to-end suites: the server harness (the server crate's own test
//! helpers, reused), a device opened through `latchkey-core`, and QR rendering.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)] // test support panics on failure

#[path = "../../server/tests/common/mod.rs"]
pub mod server;

use std::path::Path;
use std::sync::Arc;

use latchkey_core::keystore::MemoryKeyStore;
use latchkey_core::{Latchkey, Options, StaticPlatform};
use latchkey_protocol::link::LinkPolicy;

pub use server::{Backend, Browser, TestServer};

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

    /// Opens (or reopens, after a "crash") the core on this device's data.
    pub fn open(&self) -> Latchkey {
        self.open_with(Some(self.ca.clone()), None)
    }

    pub fn open_with(
        &self,
        ca: Option<Vec<u8>>,
        faults: Option<Arc<latchkey_core::FaultPlan>>,
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
            link_policy: LinkPolicy::default(),
            faults,
        })
        .expect("open core")
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }
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
