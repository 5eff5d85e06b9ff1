//! The enrolment link: round trip by property test, and one test per refusal.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers panic on failure

use latchkey_protocol::link::{self, EnrolmentLink, LinkError, LinkPolicy};
use latchkey_protocol::secret::EnrolmentCode;
use latchkey_protocol::types::PublicKey;
use latchkey_protocol::wire::PinSource;
use proptest::prelude::*;
use serde::Deserialize;

/// A valid server key (P-256 generator multiple) in base64url.
const KEY: &str = "A2sX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOl8nS4cR";
/// 16 bytes: 00 01 … 0f.
const CODE: &str = "AAECAwQFBgcICQoLDA0ODw";

fn link_with(fragment: &str) -> String {
    format!("https://login.example.org/e#{fragment}")
}

fn good() -> String {
    link_with(&format!("v=1&c={CODE}&k={KEY}&p=web&n=4&l=Example%20Corp"))
}

fn err(text: &str) -> LinkError {
    link::parse(text).expect_err("must be refused")
}

#[test]
fn enrol_link_parses_good_link() {
    let parsed = link::parse(&good()).expect("valid link");
    assert_eq!(parsed.origin(), "https://login.example.org");
    assert_eq!(parsed.api_base(), "https://login.example.org/");
    assert_eq!(parsed.pin_source, PinSource::Web);
    assert_eq!(parsed.pin_digits, 4);
    assert_eq!(parsed.label, "Example Corp");
    assert_eq!(
        parsed.code.expose_secret(),
        (0u8..16).collect::<Vec<_>>().as_slice()
    );
    assert_eq!(parsed.render(), good());
    // Debug never shows the code.
    assert!(!format!("{parsed:?}").contains(CODE));
}

#[test]
fn enrol_link_with_port_and_prefix() {
    let text = format!("https://127.0.0.1:8443/auth/e#v=1&c={CODE}&k={KEY}&p=app&n=6&l=Dev");
    let parsed = link::parse(&text).expect("valid");
    assert_eq!(parsed.api_base(), "https://127.0.0.1:8443/auth/");
    assert_eq!(parsed.render(), text);
}

fn label_strategy() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9 .@_~&=#%+/éü—€中]{1,40}")
        .expect("regex")
        .prop_filter("valid label", |l| link::is_valid_label(l))
}

fn host_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::string::string_regex("[a-z][a-z0-9-]{0,10}[a-z0-9](\\.[a-z]{2,6}){1,2}")
            .expect("regex"),
        Just("127.0.0.1".to_owned()),
        Just("[::1]".to_owned()),
    ]
}

proptest! {
    #[test]
    fn enrol_link_roundtrip(
        host in host_strategy(),
        port in proptest::option::of(1u16..),
        prefix in proptest::string::string_regex("(/[a-z0-9]{1,8}){0,2}").expect("regex"),
        code in proptest::collection::vec(any::<u8>(), 14..=32),
        key_seed in 1u8..=127,
        web in any::<bool>(),
        six in any::<bool>(),
        label in label_strategy(),
    ) {
        let secret = p256::SecretKey::from_slice(&[key_seed; 32]).expect("valid scalar");
        let port = port.filter(|p| *p != 443);
        let base = match port {
            Some(port) => format!("https://{host}:{port}{prefix}/"),
            None => format!("https://{host}{prefix}/"),
        };
        let link = EnrolmentLink::new(
            &base,
            EnrolmentCode::from_bytes(code).expect("valid code"),
            PublicKey::from(secret.public_key()),
            if web { PinSource::Web } else { PinSource::App },
            if six { 6 } else { 4 },
            label,
        )
        .expect("valid link parts");
        let text = link.render();
        let parsed = link::parse(&text).expect("rendered link parses");
        prop_assert_eq!(&parsed, &link);
        prop_assert_eq!(parsed.render(), text);
    }
}

#[test]
fn enrol_link_rejects_not_https() {
    assert_eq!(
        err(&good().replacen("https", "http", 1)),
        LinkError::NotHttps
    );
}

#[test]
fn enrol_link_rejects_userinfo() {
    let text = good().replace("login.example.org", "login.example.org@evil.example");
    assert_eq!(err(&text), LinkError::UserInfo);
    let text = good().replace("login.example.org", "user:pw@login.example.org");
    assert_eq!(err(&text), LinkError::UserInfo);
}

#[test]
fn enrol_link_rejects_missing_code() {
    let text = link_with(&format!("v=1&k={KEY}&p=web&n=4&l=X"));
    assert_eq!(err(&text), LinkError::MissingCode);
    assert_eq!(
        err("https://login.example.org/e"),
        LinkError::MissingVersion
    );
}

#[test]
fn enrol_link_rejects_short_code() {
    // 13 bytes = 104 bits < 112.
    let text = good().replace(CODE, "AAECAwQFBgcICQoLDA");
    assert_eq!(err(&text), LinkError::CodeTooShort);
    let text = good().replace(CODE, "not*base64");
    assert_eq!(err(&text), LinkError::MalformedCode);
}

#[test]
fn enrol_link_rejects_unknown_version() {
    let text = good().replace("v=1", "v=2");
    assert_eq!(
        err(&text),
        LinkError::UnsupportedVersion { found: "2".into() }
    );
}

#[test]
fn enrol_link_rejects_tls_off_flag() {
    for flag in [
        "sslverify=0",
        "ssl_verify=false",
        "tls=off",
        "insecure=1",
        "verify=0",
    ] {
        let in_fragment = format!("{}&{flag}", good());
        assert!(
            matches!(err(&in_fragment), LinkError::TlsOff { .. }),
            "{flag} in fragment"
        );
        let in_query = good().replace("/e#", &format!("/e?{flag}#"));
        assert!(
            matches!(err(&in_query), LinkError::TlsOff { .. }),
            "{flag} in query"
        );
    }
}

#[test]
fn enrol_link_rejects_host_outside_allow_list() {
    let policy = LinkPolicy {
        allowed_hosts: Some(vec!["*.example.org".into(), "auth.example.com".into()]),
    };
    assert!(link::parse_with(&good(), &policy).is_ok());
    let other = good().replace("login.example.org", "login.example.net");
    assert_eq!(
        link::parse_with(&other, &policy).expect_err("refused"),
        LinkError::HostNotAllowed {
            host: "login.example.net".into()
        }
    );
    // The apex and look-alike suffixes are not subdomains.
    for host in ["example.org", "evilexample.org", "example.org.evil.net"] {
        let text = good().replace("login.example.org", host);
        assert!(link::parse_with(&text, &policy).is_err(), "{host}");
    }
}

#[test]
fn enrol_link_rejects_bad_key_and_parameters() {
    assert_eq!(
        err(&good().replace(KEY, "AAAA")),
        LinkError::InvalidServerKey
    );
    let no_key = link_with(&format!("v=1&c={CODE}&p=web&n=4&l=X"));
    assert_eq!(err(&no_key), LinkError::MissingServerKey);
    assert_eq!(
        err(&good().replace("n=4", "n=5")),
        LinkError::InvalidParameter { name: "n" }
    );
    assert_eq!(
        err(&good().replace("p=web", "p=sms")),
        LinkError::InvalidParameter { name: "p" }
    );
    assert_eq!(
        err(&format!("{}&c={CODE}", good())),
        LinkError::DuplicateParameter { name: "c".into() }
    );
    assert_eq!(
        err(&format!("{}&x=1", good())),
        LinkError::UnexpectedParameter { name: "x".into() }
    );
    // A right-to-left override would make a label read backwards.
    assert_eq!(
        err(&good().replace("Example%20Corp", "Bank%E2%80%AEmoc.live")),
        LinkError::InvalidParameter { name: "l" }
    );
}

/// The API base is the link's path without its last segment, so that segment must be exactly
/// `e`: anything else is refused, and the base drops exactly one `e`.
#[test]
fn enrol_link_path_must_end_in_segment_e() {
    let fragment = format!("v=1&c={CODE}&k={KEY}&p=web&n=4&l=Example%20Corp");
    for path in [
        "/xe", "/ee", "/e/", "/", "/api/", "/api/ee", "/e/x", "/E", "/e%20",
    ] {
        let text = format!("https://login.example.org{path}#{fragment}");
        assert_eq!(
            err(&text),
            LinkError::InvalidParameter { name: "path" },
            "{path}"
        );
    }
    // No path at all.
    assert_eq!(
        err(&format!("https://login.example.org#{fragment}")),
        LinkError::InvalidParameter { name: "path" }
    );
    // A prefix ending in `e` keeps its `e`: only the final segment goes.
    for (path, base) in [
        ("/e", "https://login.example.org/"),
        ("/e/e", "https://login.example.org/e/"),
        ("/adme/e", "https://login.example.org/adme/"),
        ("/ee/e", "https://login.example.org/ee/"),
    ] {
        let text = format!("https://login.example.org{path}#{fragment}");
        let parsed = link::parse(&text).unwrap_or_else(|e| panic!("{path}: {e:?}"));
        assert_eq!(parsed.api_base(), base, "{path}");
        assert_eq!(parsed.render(), text);
    }
    // The server's own constructor makes the same bases.
    let built = EnrolmentLink::new(
        "https://login.example.org/adme/",
        EnrolmentCode::from_bytes(vec![7; 16]).expect("code"),
        link::parse(&good()).expect("good").server_key,
        PinSource::Web,
        4,
        "Example",
    )
    .expect("link");
    assert_eq!(built.api_base(), "https://login.example.org/adme/");
}

#[derive(Deserialize)]
struct Corpus {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    what: String,
    expect: String,
    payload: String,
}

#[test]
fn enrol_link_rejects_foreign_qr_codes() {
    let corpus: Corpus =
        serde_json::from_str(include_str!("vectors/foreign-qr.json")).expect("corpus parses");
    assert!(corpus.cases.len() >= 20);
    for case in &corpus.cases {
        let error = err(&case.payload);
        let variant = format!("{error:?}");
        let variant = variant.split([' ', '{', '(']).next().unwrap_or_default();
        assert_eq!(variant, case.expect, "{}", case.what);
        // Every refusal is a readable sentence that never repeats the payload's secrets.
        let message = error.to_string();
        assert!(message.len() > 30, "{}: {message}", case.what);
        assert!(!message.contains("JBSWY3DPEHPK3PXP"));
        assert!(!message.contains(CODE));
    }
}

/// Kills what mutation testing found uncovered here (scripts/mutants.sh protocol).
#[test]
fn link_accessors_debug_and_code_equality() {
    let text =
        format!("https://Login.Example.org:8443/auth/e#v=1&c={CODE}&k={KEY}&p=app&n=6&l=Dev");
    let parsed = link::parse(&text).expect("valid");
    assert_eq!(parsed.host(), "login.example.org");
    assert_eq!(parsed.port(), Some(8443));
    assert_eq!(link::parse(&good()).expect("valid").port(), None);
    let debug = format!("{parsed:?}");
    assert!(
        debug.contains("EnrolmentLink") && debug.contains("login.example.org"),
        "{debug}"
    );
    assert!(!debug.contains(CODE));
    let (a, b) = (
        EnrolmentCode::generate(&mut rand_core::OsRng),
        EnrolmentCode::generate(&mut rand_core::OsRng),
    );
    assert!(a != b, "two random codes are not equal");
    assert!(a == a.clone());
}

#[test]
fn labels_with_control_or_invisible_characters_are_refused() {
    for bad in [
        "Bell\u{7}",
        "Zero\u{200B}width",
        "Bidi\u{202E}",
        "Iso\u{2066}late",
        " padded",
        "",
    ] {
        assert!(!link::is_valid_label(bad), "{bad:?}");
    }
    assert!(link::is_valid_label("Example Corp — alice@example.org"));
}

/// Only a link with a Latchkey shape (path ending in `e`, or both `c` and `k` in the fragment)
/// gets Latchkey-specific errors; any other link is "a link to something else".
#[test]
fn only_latchkey_shaped_links_get_latchkey_errors() {
    for other in [
        "https://example.org/x#c=AAAA",
        "https://example.org/x#k=AAAA",
        "https://example.org/x#x=1&k=2",
        "https://example.org/x#c=1&y=2",
    ] {
        assert_eq!(err(other), LinkError::OtherUrl, "{other}");
    }
    assert_ne!(err("https://example.org/x#c=1&k=2"), LinkError::OtherUrl);
    assert_eq!(err("http://example.org/x#c=1&k=2"), LinkError::NotHttps);
    assert_eq!(err("http://example.org/x#c=1"), LinkError::OtherUrl);
}
