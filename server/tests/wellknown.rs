//! App Links and Universal Links (issue 21): the server names the apps that may open its
//! enrolment links, as Android's and Apple's verifiers fetch it, and nothing when none is
//! configured.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_server::config::AppLinks;
use latchkey_test_support::*;
use serde_json::Value;

const PLAY: &str = "14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5";

on_both_backends! {
    well_known_files_name_the_configured_apps => configured;
    well_known_files_are_absent_unless_configured => absent;
}

async fn get(
    server: &TestServer,
    path: &str,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, String) {
    let response = server
        .client()
        .get(format!("{}{}", server.url, path.trim_start_matches('/')))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

async fn configured(backend: Backend) {
    let mut links = AppLinks::default();
    // As keytool prints it, and lower-case without colons: one form is served.
    links
        .add_android(&format!("org.latchkey.app={PLAY}"))
        .unwrap();
    links
        .add_android(&format!("org.latchkey.app={}", "ab".repeat(32)))
        .unwrap();
    links
        .add_android(&format!(
            "org.latchkey.app={}",
            PLAY.replace(':', "").to_lowercase()
        ))
        .unwrap();
    links
        .add_android(&format!("com.example.corp={PLAY}"))
        .unwrap();
    links.add_apple("ABCDE12345.org.latchkey.app").unwrap();
    let server = TestServer::start_config(backend, |config| config.app_links = links).await;

    let (status, headers, body) = get(&server, "/.well-known/assetlinks.json").await;
    assert_eq!(status, 200, "served without a redirect");
    assert_eq!(headers["content-type"], "application/json");
    let statements: Value = serde_json::from_str(&body).unwrap();
    let statements = statements.as_array().unwrap();
    assert_eq!(statements.len(), 2, "one statement per app: {body}");
    assert_eq!(
        statements[0]["relation"][0],
        "delegate_permission/common.handle_all_urls"
    );
    assert_eq!(statements[0]["target"]["namespace"], "android_app");
    assert_eq!(statements[0]["target"]["package_name"], "org.latchkey.app");
    let prints = statements[0]["target"]["sha256_cert_fingerprints"]
        .as_array()
        .unwrap();
    assert_eq!(prints.len(), 2, "the same key given twice is listed once");
    assert_eq!(prints[0], PLAY);
    assert_eq!(prints[1], ["AB"; 32].join(":"));
    assert_eq!(statements[1]["target"]["package_name"], "com.example.corp");

    let (status, headers, body) = get(&server, "/.well-known/apple-app-site-association").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    let aasa: Value = serde_json::from_str(&body).unwrap();
    let details = &aasa["applinks"]["details"][0];
    assert_eq!(details["appIDs"][0], "ABCDE12345.org.latchkey.app");
    // The component is the path of the links this server makes.
    let link = {
        let browser =
            Browser::register(&server, "links@example.org", "correct horse battery").await;
        browser.add_device("Phone", "4831").await.1
    };
    let path = url::Url::parse(&link).unwrap().path().to_owned();
    assert_eq!(details["components"][0]["/"], path.as_str());
    assert_eq!(
        details["components"].as_array().unwrap().len(),
        1,
        "only enrolment links"
    );
    server.stop().await;
}

async fn absent(backend: Backend) {
    let server = TestServer::start(backend).await;
    for path in [
        "/.well-known/assetlinks.json",
        "/.well-known/apple-app-site-association",
    ] {
        let (status, _, _) = get(&server, path).await;
        assert_eq!(status, 404, "{path}");
    }
    server.stop().await;
}

/// Bad settings are refused with a sentence saying what is wanted.
#[test]
fn app_link_settings_are_checked() {
    let mut links = AppLinks::default();
    for bad in [
        "org.latchkey.app",                               // no fingerprint
        &format!("latchkey={PLAY}"),                      // one-part package
        &format!("org.1latchkey.app={PLAY}"),             // part starting with a digit
        &format!("org.latch-key.app={PLAY}"),             // hyphen
        "org.latchkey.app=AB:CD",                         // short
        &format!("org.latchkey.app={}", "zz".repeat(32)), // not hex
    ] {
        let e = links.add_android(bad).unwrap_err();
        assert!(!e.is_empty(), "{bad}");
    }
    for bad in [
        "org.latchkey.app",            // no team
        "abcde12345.org.latchkey.app", // lower-case team
        "ABCDE1234.org.latchkey.app",  // 9 characters
        "ABCDE12345.",                 // no bundle
        "ABCDE12345.org/latchkey",     // slash
    ] {
        assert!(links.add_apple(bad).is_err(), "{bad}");
    }
    assert_eq!(links, AppLinks::default(), "nothing half-added");
}
