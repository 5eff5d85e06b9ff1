//! `latchkey demo`: the whole story against the reference server, started in this process on
//! loopback HTTPS with its own temporary CA. Every step is the real thing: the web pages over
//! HTTPS, the QR code rendered to a PNG and decoded by the core, the counted OPRF, the
//! signatures, the e-mailed reset code (from the dev outbox).
//!
//! Keys of this demo live in an in-memory keystore, which it says; the other commands use
//! the OS keystore.

use std::sync::Arc;
use std::time::Instant;

use latchkey_core::keystore::MemoryKeyStore;
use latchkey_core::{Latchkey, Options, ScanResult, StaticPlatform};
use latchkey_protocol::secret::{OneTimeCode, Password, Pin};
// The same server harness and scripted browser as the test suites (one browser, not two).
use latchkey_test_support::{reset_code, Backend, Browser, Policy, TestServer};

/// Whether the browser's approved sign-in became a session.
async fn signed_in(browser: &Browser) -> bool {
    browser
        .get_raw("/login/approve")
        .await
        .headers()
        .get("location")
        .is_some_and(|l| l == "/account")
}

fn step(n: u32, text: &str) {
    println!("\n{n}. {text}");
}

fn qr_png(text: &str, path: &std::path::Path) -> Result<(), String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| e.to_string())?;
    let modules = code.width();
    let colors = code.to_colors();
    let (scale, quiet) = (6u32, 4u32);
    let size = (u32::try_from(modules).map_err(|e| e.to_string())? + 2 * quiet) * scale;
    let image = image::GrayImage::from_fn(size, size, |x, y| {
        let (mx, my) = ((x / scale) as usize, (y / scale) as usize);
        let q = quiet as usize;
        let dark = mx >= q
            && my >= q
            && mx - q < modules
            && my - q < modules
            && colors[(my - q) * modules + (mx - q)] == qrcode::Color::Dark;
        image::Luma([if dark { 0 } else { 255 }])
    });
    image
        .save(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Runs the demo.
pub async fn run() -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    println!("Latchkey demo: a reference server in this process, this program as the device.");
    println!(
        "Working directory: {} (deleted at the end)",
        work.path().display()
    );

    step(
        1,
        "Starting the reference server on loopback HTTPS with a temporary CA",
    );
    let server = TestServer::start_with(
        Backend::Sqlite,
        Policy {
            service_name: "Example Corp".into(),
            ..Policy::default()
        },
    )
    .await;
    let ca = server.ca_pem.clone();
    println!(
        "   {} (trusting only its development CA, in {})",
        server.url,
        server.dir.path().display()
    );

    let email = "alice@example.org";
    let password = "correct horse battery staple";
    step(
        2,
        &format!("Registering {email} on the web page (and opening the link it mails)"),
    );
    let browser = Browser::register(&server, email, password).await;

    step(
        3,
        "My account → Manage my devices → Add a device: name \"Demo laptop\", PIN typed twice",
    );
    let pin = "4831";
    let (_, link) = browser.add_device("Demo laptop", pin).await;
    let png = work.path().join("add-device-qr.png");
    qr_png(&link, &png)?;
    println!("   The page shows a QR code (saved as {})", png.display());

    step(4, "Initialise: the device scans the QR image");
    let device_dir = work.path().join("device");
    let platform = Arc::new(StaticPlatform {
        screen_lock: true,
        model: "Demo laptop".into(),
    });
    let mut options = Options::new(&device_dir, MemoryKeyStore::new(), platform);
    options.extra_ca_pem = Some(ca.clone());
    let core = Latchkey::open(options).map_err(|e| e.to_string())?;
    println!(
        "   (this demo keeps its wrapping keys in memory; `latchkey enrol` uses the OS keystore)"
    );
    let bytes = std::fs::read(&png).map_err(|e| e.to_string())?;
    let parsed =
        match latchkey_core::scan_image(&bytes, core.link_policy()).map_err(|e| e.to_string())? {
            ScanResult::Link(link) => *link,
            other => return Err(format!("the QR code did not scan: {other:?}")),
        };
    println!(
        "   Found a Latchkey code for \"{}\" at {}",
        parsed.label,
        parsed.origin()
    );
    let weak = core
        .enrol(&parsed, &Pin::new("1234"), None)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    println!("   PIN 1234 is refused before anything is sent: {weak}");
    let account = core
        .enrol(&parsed, &Pin::new(pin), None)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "   Success: enrolled as {} (device key: software, sealed at rest)",
        account.id.as_str()
    );

    step(
        5,
        "Signing in on the web: password, then \"Approve on your device\"",
    );
    let (login, _, code) = Browser::sign_in(&server, email, password).await;
    println!("   The login page shows the number {code}");
    let view = core
        .wait_for_challenge(&account.id, 10)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no sign-in arrived")?;
    let c = &view.challenge;
    println!("   The device received a request (signature checked with the pinned key): {} from {} at {}", c.service, c.browser, c.ip);
    let started = Instant::now();
    core.approve(&view, &code, &Pin::new(pin))
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "   Typed {code} and the PIN: approved in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    println!("   Browser signed in: {}", signed_in(&login).await);

    step(6, "A wrong PIN is counted by the server");
    let (_, _, code) = Browser::sign_in(&server, email, password).await;
    let view = core
        .wait_for_challenge(&account.id, 10)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no sign-in arrived")?;
    let wrong = core
        .approve(&view, &code, &Pin::new("5038"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    println!("   {wrong}");
    core.deny(&view, false).await.map_err(|e| e.to_string())?;
    println!("   The request was then denied (no PIN needed to deny).");

    step(
        7,
        "Changing the PIN (a fresh approval key, committed in two phases)",
    );
    let new_pin = "5038";
    core.change_pin(&account.id, &Pin::new(pin), &Pin::new(new_pin))
        .await
        .map_err(|e| e.to_string())?;
    println!("   PIN changed.");

    step(
        8,
        "Forgot PIN: account password plus the code e-mailed to the account",
    );
    let ticket = core
        .forgot_pin_start(&account.id, &Password::new(password))
        .await
        .map_err(|e| e.to_string())?;
    println!("   Code sent to {}", ticket.sent_to.join(", "));
    let otc = reset_code(&server);
    println!("   (read from the dev outbox, as the person would from their mailbox)");
    let reset_pin = "7292";
    core.forgot_pin_finish(
        &account.id,
        &ticket,
        &OneTimeCode::new(otc.as_str()),
        &Pin::new(reset_pin),
    )
    .await
    .map_err(|e| e.to_string())?;
    println!("   New PIN set; every address on the account was told.");

    step(9, "Signing in again with the new PIN");
    let (login, _, code) = Browser::sign_in(&server, email, password).await;
    let view = core
        .wait_for_challenge(&account.id, 10)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no sign-in arrived")?;
    core.approve(&view, &code, &Pin::new(reset_pin))
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "   Approved; browser signed in: {}",
        signed_in(&login).await
    );

    server.stop().await;
    println!("\nDone. Everything above ran over real HTTPS with real keys; nothing was mocked.");
    Ok(())
}
