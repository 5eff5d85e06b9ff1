//! Faults end to end (issue 23): the device's clock far from the server's.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_core::ErrorKind;
use latchkey_e2e::*;
use latchkey_protocol::secret::Pin;

/// A device whose clock is hours off is refused with "set your clock" guidance that says by
/// how much, typed (`ClockSkew`) for the shells, in the person's language, and the refused
/// request leaves nothing behind. (A server clock that jumps is the server's business:
/// challenges expire by its clock only, `p4_expiry_by_server_clock`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn device_clock_skew_is_explained() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let browser = Browser::register(&server, "clock@example.org", PASSWORD).await;
    let (html, _) = browser.add_device("Phone", "4831").await;
    let account = core
        .enrol(&scan_page(&html), &Pin::new("4831"), None)
        .await
        .expect("enrolled while the clocks agree");

    // The server's clock three hours ahead: this device is three hours behind.
    server.state.clock.advance(3 * 3600);
    let e = core
        .pending(&account.id, 0)
        .await
        .expect_err("refused: the device's clock is off");
    assert_eq!(e.kind(), ErrorKind::ClockSkew, "{e:?}");
    let message = e.to_string();
    assert!(
        message.contains("180 minutes behind") || message.contains("181 minutes behind"),
        "{message}"
    );
    assert!(
        message.contains("set the date and time automatically"),
        "{message}"
    );
    for (lang, words) in [
        ("en", "minutes slow"),
        ("fr", "retarde de"),
        ("de", "Minuten nach"),
    ] {
        let said = latchkey_app::words::Words::negotiate(&[lang.to_owned()])
            .get(&latchkey_app::words::error_text(&e));
        assert!(
            said.contains(words) && said.contains("18"),
            "{lang}: {said}"
        );
    }
    // A refused request records nothing (no request id to sweep, no replay state).
    let requests: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_ids")
        .fetch_one(&server.state.db)
        .await
        .unwrap();
    let answer = core.pending(&account.id, 0).await;
    assert!(matches!(answer, Err(ref e) if e.kind() == ErrorKind::ClockSkew));
    let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_ids")
        .fetch_one(&server.state.db)
        .await
        .unwrap();
    assert_eq!(requests, after, "a refused request records nothing");
    server.stop().await;
}
