//! Windows Push Notification Services: an OAuth client-credentials access token (cached until
//! a minute before it expires, refreshed once on a 401), then a raw notification
//! (`X-WNS-Type: wns/raw`) to the device's channel URI whose body is `{"challenge":"<id>"}`.
//! Channel URIs come from devices: only hosts on the allow-list (by default WNS's own,
//! `*.notify.windows.com`) are ever contacted — an SSRF guard.

use std::time::SystemTime;

use latchkey_protocol::wire::PushKind;

use super::{retry_after, Delivery, Outcome, Provider, Sending};

/// WNS's channel hosts end in one of these by default.
pub const DEFAULT_CHANNEL_HOSTS: &[&str] = &["notify.windows.com"];

/// Client credentials.
#[derive(Clone)]
pub struct WnsCredentials {
    /// The package SID or Azure application id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: zeroize::Zeroizing<String>,
    /// Where tokens come from (`https://login.live.com/accesstoken.srf`, or the Azure AD
    /// tenant's token endpoint).
    pub token_uri: String,
    /// The OAuth scope (`notify.windows.com`, or `https://wns.windows.com/.default`).
    pub scope: String,
}

impl std::fmt::Debug for WnsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WnsCredentials")
            .field("client_id", &self.client_id)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// Whether `host` is `allowed` or a subdomain of it.
fn host_allowed(host: &str, allow: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    allow.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        host == a || host.ends_with(&format!(".{a}"))
    })
}

/// Whether a channel URI may be pushed to: `https` on an allowed host.
pub fn channel_allowed(uri: &str, allow: &[String]) -> bool {
    reqwest::Url::parse(uri).is_ok_and(|u| {
        u.scheme() == "https" && u.host_str().is_some_and(|h| host_allowed(h, allow))
    })
}

/// The WNS sender.
pub struct Wns {
    credentials: WnsCredentials,
    channel_hosts: Vec<String>,
    http: reqwest::Client,
    token: super::TokenCache,
}

impl Wns {
    /// A sender that pushes only to channel URIs on `channel_hosts` (or their subdomains).
    pub fn new(
        credentials: WnsCredentials,
        channel_hosts: Vec<String>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            credentials,
            channel_hosts,
            http,
            token: super::TokenCache::default(),
        }
    }

    /// Whether this sender would push to `uri` (checked when a device registers it, too).
    pub fn allows(&self, uri: &str) -> bool {
        channel_allowed(uri, &self.channel_hosts)
    }

    /// The cached access token, or a new one when it expired or is the one WNS just `refused`.
    async fn access_token(&self, now: u64, refused: Option<&str>) -> Result<String, Outcome> {
        let c = &self.credentials;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", c.client_id.as_str()),
            // EXPOSE: the client secret authenticates this server to WNS's token endpoint.
            ("client_secret", c.client_secret.as_str()),
            ("scope", c.scope.as_str()),
        ];
        self.token
            .get(
                now,
                refused,
                super::oauth_token(&self.http, &c.token_uri, &form, "WNS"),
            )
            .await
    }

    /// One send; the outcome and the access token used.
    async fn send_once(&self, delivery: &Delivery<'_>, refused: Option<&str>) -> (Outcome, String) {
        let token = match self.access_token(delivery.now, refused).await {
            Ok(token) => token,
            Err(outcome) => return (outcome, String::new()),
        };
        let used = token.clone();
        // Serialising one id cannot fail.
        let body = serde_json::to_string(&latchkey_protocol::wire::PushPayload {
            challenge: *delivery.challenge,
        })
        .unwrap_or_default();
        let answer = self
            .http
            .post(&delivery.target.token)
            .bearer_auth(token)
            .header("X-WNS-Type", "wns/raw")
            .header("Content-Type", "application/octet-stream")
            .header("X-WNS-TTL", delivery.ttl_secs.to_string())
            .header("X-WNS-RequestForStatus", "true")
            .body(body)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                return (
                    Outcome::Retry {
                        after: None,
                        reason: format!("WNS: {}", e.without_url()),
                    },
                    used,
                )
            }
        };
        let status = answer.status().as_u16();
        let after = retry_after(answer.headers(), SystemTime::now());
        let outcome = match status {
            200 => Outcome::Sent,
            401 => Outcome::AuthRefused("WNS: access token refused (401)".into()),
            404 | 410 => Outcome::Gone(format!("WNS {status}: channel gone")),
            406 | 429 | 500..=599 => Outcome::Retry {
                after,
                reason: format!("WNS {status}"),
            },
            _ => Outcome::Refused(format!("WNS {status}")),
        };
        (outcome, used)
    }
}

impl Provider for Wns {
    fn kind(&self) -> PushKind {
        PushKind::Wns
    }

    fn accepts(&self, token: &str) -> bool {
        self.allows(token)
    }

    fn send<'a>(&'a self, delivery: Delivery<'a>) -> Sending<'a> {
        Box::pin(async move {
            if !self.allows(&delivery.target.token) {
                return Outcome::Refused("WNS channel URI outside the allowed hosts".into());
            }
            match self.send_once(&delivery, None).await {
                (Outcome::AuthRefused(_), used) => {
                    match self.send_once(&delivery, Some(&used)).await {
                        (Outcome::AuthRefused(reason), _) => Outcome::Retry {
                            after: None,
                            reason,
                        },
                        (outcome, _) => outcome,
                    }
                }
                (outcome, _) => outcome,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_hosts() {
        let allow = vec!["notify.windows.com".to_owned()];
        assert!(channel_allowed(
            "https://wns2-by3p.notify.windows.com/w/?token=AwY",
            &allow
        ));
        assert!(!channel_allowed(
            "http://wns2-by3p.notify.windows.com/w/",
            &allow
        ));
        assert!(!channel_allowed(
            "https://notify.windows.com.evil.example/w/",
            &allow
        ));
        assert!(!channel_allowed(
            "https://evilnotify.windows.com/w/",
            &allow
        ));
        assert!(!channel_allowed(
            "https://169.254.169.254/latest/meta-data",
            &allow
        ));
        assert!(!channel_allowed("not a url", &allow));
    }
}
