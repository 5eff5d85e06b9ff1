//! The web pages' form handlers fuzzed against the running server (issue 23): arbitrary bodies
//! (valid forms with hostile values, broken encodings, random bytes), anonymous and signed in,
//! with and without the right CSRF token. Every answer must be a page or a redirect, never a
//! server error, and nothing may panic. The inputs come from a seeded generator: a failure
//! prints its seed and input.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_test_support::*;

/// xorshift64*: reproducible from the seed printed on failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FIELDS: &[&str] = &[
    "csrf",
    "email",
    "password",
    "password2",
    "name",
    "pin",
    "pin2",
    "code",
    "next",
    "id",
];

const VALUES: &[&str] = &[
    "",
    "4831",
    "0000",
    "alice@example.org",
    "correct horse battery",
    "%",
    "%ZZ",
    "%00",
    "\u{202e}evil",
    "🔑🔑🔑",
    "a\r\nSet-Cookie: x=1",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "//evil.example/",
    "https://evil.example/",
    "9999999999999999999999",
    "-1",
];

/// One hostile body for a form.
fn body(rng: &mut Rng, csrf: &str) -> Vec<u8> {
    match rng.below(6) {
        // Random bytes.
        0 => (0..rng.below(300))
            .map(|_| (rng.next() & 0xff) as u8)
            .collect(),
        // A long value.
        1 => format!("csrf={csrf}&name={}", "A".repeat(rng.below(200_000))).into_bytes(),
        // Every field once, with the session's CSRF token: past extraction, into the
        // handlers' own checks.
        2 | 3 => {
            let mut parts = vec![format!("csrf={csrf}")];
            for field in FIELDS.iter().filter(|f| **f != "csrf") {
                let value = rng.pick(VALUES);
                let value: String =
                    url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
                parts.push(format!("{field}={value}"));
            }
            parts.join("&").into_bytes()
        }
        // Fields with hostile values, repeated or missing, encoded or not.
        _ => {
            let mut parts = Vec::new();
            for _ in 0..rng.below(8) {
                let field = rng.pick(FIELDS);
                let value = if field == "csrf" && rng.below(2) == 0 {
                    csrf.to_owned()
                } else {
                    rng.pick(VALUES).to_owned()
                };
                let value = if rng.below(2) == 0 {
                    url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
                } else {
                    value
                };
                parts.push(format!("{field}={value}"));
            }
            parts.join("&").into_bytes()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fuzz_form_handlers_never_fail() {
    let server = TestServer::start(Backend::Sqlite).await;
    let browser = Browser::register(&server, "fuzz@example.org", "correct horse battery").await;
    let (_, page) = browser.get("/devices/add").await;
    let csrf = csrf(&page);
    let anonymous = server.client();
    let seed = std::env::var("LATCHKEY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| latchkey_test_support::now() | 1);
    let mut rng = Rng(seed);
    let routes = [
        "register",
        "login",
        "login/cancel",
        "logout",
        "login/code",
        "login/code/resend",
        "login/nodevice",
        "confirm",
        "confirm/send",
        "devices/add",
        "devices/AAAAAAAAAAAAAAAAAAAAAA/remove",
        "devices/%2e%2e/remove",
    ];
    let types = [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-16",
        "multipart/form-data",
        "text/plain",
    ];
    let mut answered = 0;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for round in 0..480 {
        // Signed in most of the time (the handlers past the session check), else anonymous;
        // the signed-in session never posts the two forms that end it.
        let signed_in = rng.below(4) != 0;
        let route = loop {
            let route = routes[rng.below(routes.len())];
            if !(signed_in && (route == "logout" || route == "login/cancel")) {
                break route;
            }
        };
        let data = body(&mut rng, &csrf);
        let content_type = if rng.below(5) == 0 {
            types[rng.below(types.len())]
        } else {
            types[0]
        };
        let client = if signed_in {
            &browser.client
        } else {
            &anonymous
        };
        let response = client
            .post(format!("{}{route}", server.url))
            .header("content-type", content_type)
            .body(data.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("seed {seed} round {round}: {route}: {e}"));
        let status = response.status();
        assert!(
            !status.is_server_error(),
            "seed {seed} round {round}: POST /{route} answered {status} to {:?}",
            String::from_utf8_lossy(&data[..data.len().min(300)])
        );
        *statuses.entry(status.as_u16()).or_default() += 1;
        answered += 1;
    }
    assert_eq!(answered, 480);
    eprintln!("seed {seed}: statuses {statuses:?}");
    // The handlers were reached: refusals of bad input, not only session redirects.
    assert!(
        statuses.get(&400).copied().unwrap_or(0) + statuses.get(&403).copied().unwrap_or(0) > 20,
        "{statuses:?}"
    );
    // Still serving, and the account still works.
    let (status, _) = browser.get("/account").await;
    assert!(status.is_success() || status.is_redirection(), "{status}");
    server.stop().await;
}
