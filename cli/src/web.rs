//! A minimal browser for `latchkey demo`: register, sign in and add a device on the reference
//! server's pages over HTTPS, exactly as a person would (forms with CSRF tokens, cookies).

use reqwest::{Client, StatusCode};

/// A browser session against one server.
pub struct Browser {
    client: Client,
    base: String,
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let at = html.find(start)? + start.len();
    let rest = &html[at..];
    Some(&rest[..rest.find(end)?])
}

fn unescape(text: &str) -> String {
    text.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
}

impl Browser {
    /// A browser trusting only `ca_pem`.
    pub fn new(base: &str, ca_pem: &[u8]) -> Result<Self, String> {
        let ca = reqwest::Certificate::from_pem(ca_pem).map_err(|e| e.to_string())?;
        let client = Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            base: base.to_owned(),
        })
    }

    async fn page(&self, path: &str) -> Result<String, String> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        r.text().await.map_err(|e| e.to_string())
    }

    async fn form(
        &self,
        page: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<reqwest::Response, String> {
        let html = self.page(page).await?;
        let csrf = between(&html, "name=\"csrf\" value=\"", "\"")
            .ok_or("no CSRF token on the page")?
            .to_owned();
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend_from_slice(fields);
        self.client
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .map_err(|e| e.to_string())
    }

    /// Registers an account and follows the link the server mails to the address (read from
    /// the dev outbox in `server_data_dir`, as the person would from their mailbox); signed in
    /// afterwards.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        server_data_dir: &std::path::Path,
    ) -> Result<(), String> {
        let r = self
            .form(
                "register",
                "register",
                &[
                    ("email", email),
                    ("password", password),
                    ("password2", password),
                ],
            )
            .await?;
        if r.status() != StatusCode::OK {
            return Err(format!("registration refused ({})", r.status()));
        }
        let mail = latchkey_server::mail::read_outbox(server_data_dir)
            .into_iter()
            .map(|(_, text)| text)
            .find(|m| m.contains("finish creating your account") && m.contains(email))
            .ok_or("no registration mail in the outbox")?;
        let token = between(&mail, "/register/finish?t=", "\n")
            .map(str::trim)
            .ok_or("no link in the registration mail")?;
        // The link opens a page with a "Create my account" button; press it.
        let r = self
            .form(
                &format!("register/finish?t={token}"),
                "register/finish",
                &[("t", token)],
            )
            .await?;
        (r.status() == StatusCode::SEE_OTHER)
            .then_some(())
            .ok_or_else(|| format!("registration not finished ({})", r.status()))
    }

    /// Adds a device with a PIN set on the page; returns the link the QR code carries.
    pub async fn add_device(&self, name: &str, pin: &str) -> Result<String, String> {
        let r = self
            .form(
                "devices/add",
                "devices/add",
                &[("name", name), ("pin", pin), ("pin2", pin)],
            )
            .await?;
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or("the add-device form was refused")?
            .to_owned();
        let html = self.page(location.trim_start_matches('/')).await?;
        let link = between(&html, "<p class=\"link\"><code>", "</code>")
            .ok_or("no link on the QR page")?;
        Ok(unescape(link))
    }

    /// Signs in with the password; returns the number the approve page shows.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<String, String> {
        let r = self
            .form(
                "login",
                "login",
                &[("email", email), ("password", password)],
            )
            .await?;
        if r.status() != StatusCode::SEE_OTHER {
            return Err(format!("sign-in refused ({})", r.status()));
        }
        let html = self.page("login/approve").await?;
        between(&html, "aria-describedby=\"code-label\">", "</p>")
            .map(str::to_owned)
            .ok_or_else(|| "no number on the approve page".into())
    }

    /// Whether the approved sign-in now opens the account page.
    pub async fn signed_in(&self) -> Result<bool, String> {
        let r = self
            .client
            .get(format!("{}login/approve", self.base))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok(r.headers().get("location").and_then(|v| v.to_str().ok()) == Some("/account"))
    }
}
