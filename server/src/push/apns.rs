//! Apple Push Notification service over HTTP/2 with token authentication: an ES256 JWT
//! (`kid` = the key id, `iss` = the team id, `iat`) signed with the `.p8` key, used for 40
//! minutes and then re-minted (Apple refuses tokens older than an hour and throttles
//! re-minting more often than every 20 minutes). A visible alert that says only that a sign-in
//! request is waiting, plus the challenge id: the service name is never in the push.

use std::time::SystemTime;

use latchkey_protocol::wire::PushKind;
use serde::Serialize;

use super::{retry_after, Delivery, Outcome, Provider, Sending};

/// The alert every push shows (the request itself is fetched, verified and shown by the app).
pub const ALERT: &str = "Sign-in request \u{2014} open to review";

/// The notification category the iOS app registers (with Approve and Deny, in its words):
/// a push iOS shows while the app is not running offers them too.
pub const CATEGORY: &str = "org.latchkey.signin";
/// Collapses an undelivered older push.
pub const COLLAPSE_ID: &str = "latchkey-signin";
/// How long a provider token is used before a new one is minted (between Apple's 20 and 60).
pub const TOKEN_AGE: u64 = 40 * 60;

/// Token-based APNs credentials.
#[derive(Clone)]
pub struct ApnsCredentials {
    /// The 10-character key id.
    pub key_id: String,
    /// The team id.
    pub team_id: String,
    /// The `.p8` private key (PKCS#8 PEM).
    pub private_key_pem: zeroize::Zeroizing<String>,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
}

impl std::fmt::Debug for ApnsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsCredentials")
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

/// The APNs sender.
pub struct Apns {
    credentials: ApnsCredentials,
    key: jsonwebtoken::EncodingKey,
    endpoint: String,
    http: reqwest::Client,
    /// The provider token and when it was minted (server clock, unix seconds).
    token: tokio::sync::Mutex<Option<(String, u64)>>,
}

impl Apns {
    /// A sender posting to `endpoint` (`https://api.push.apple.com`, the sandbox, or a proxy).
    ///
    /// # Errors
    /// The key does not parse.
    pub fn new(
        credentials: ApnsCredentials,
        endpoint: &str,
        http: reqwest::Client,
    ) -> Result<Self, String> {
        let key = jsonwebtoken::EncodingKey::from_ec_pem(credentials.private_key_pem.as_bytes())
            .map_err(|e| format!("the APNs key: {e}"))?;
        Ok(Self {
            credentials,
            key,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            http,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// The provider token: the current one until it is [`TOKEN_AGE`] old (or `fresh`, after
    /// Apple refused it, if it is at least 20 minutes old), else a new one.
    async fn token(&self, now: u64, fresh: bool) -> Result<String, Outcome> {
        let mut cached = self.token.lock().await;
        if let Some((token, minted)) = &*cached {
            let age = now.saturating_sub(*minted);
            if age < TOKEN_AGE && !(fresh && age >= 20 * 60) {
                return Ok(token.clone());
            }
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.credentials.key_id.clone());
        let claims = Claims {
            iss: &self.credentials.team_id,
            iat: now,
        };
        let token = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| Outcome::Refused(format!("cannot sign the APNs token: {e}")))?;
        *cached = Some((token.clone(), now));
        Ok(token)
    }

    async fn send_once(&self, delivery: &Delivery<'_>, fresh: bool) -> Outcome {
        let token = match self.token(delivery.now, fresh).await {
            Ok(token) => token,
            Err(outcome) => return outcome,
        };
        let body = serde_json::json!({
            "aps": { "alert": ALERT, "sound": "default", "category": CATEGORY },
            "challenge": delivery.challenge.to_string(),
        });
        let url = format!("{}/3/device/{}", self.endpoint, delivery.target.token);
        let answer = self
            .http
            .post(url)
            .version(reqwest::Version::HTTP_2)
            .bearer_auth(token)
            .header("apns-push-type", "alert")
            .header("apns-priority", "10")
            .header(
                "apns-expiration",
                (delivery.now + delivery.ttl_secs).to_string(),
            )
            .header("apns-collapse-id", COLLAPSE_ID)
            .header("apns-topic", &self.credentials.topic)
            .json(&body)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                return Outcome::Retry {
                    after: None,
                    reason: format!("APNs: {}", e.without_url()),
                }
            }
        };
        let status = answer.status().as_u16();
        let after = retry_after(answer.headers(), SystemTime::now());
        if status == 200 {
            return Outcome::Sent;
        }
        let text = answer.text().await.unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let reason = json["reason"].as_str().unwrap_or_default().to_owned();
        match (status, reason.as_str()) {
            // Unregistered since `timestamp` (ms): gone, unless the device registered this
            // token again afterwards.
            (410, _) => {
                let since = json["timestamp"].as_i64().unwrap_or(i64::MAX) / 1000;
                if since >= delivery.registered_at {
                    Outcome::Gone(format!("APNs 410 {reason}"))
                } else {
                    Outcome::Refused(format!(
                        "APNs 410 {reason} before the token was registered again"
                    ))
                }
            }
            (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => {
                Outcome::Gone(format!("APNs {reason}"))
            }
            (403, "ExpiredProviderToken" | "InvalidProviderToken") => {
                Outcome::AuthRefused(format!("APNs {reason}"))
            }
            (429 | 500..=599, _) => Outcome::Retry {
                after,
                reason: format!("APNs {status} {reason}"),
            },
            _ => Outcome::Refused(format!("APNs {status} {reason}")),
        }
    }
}

impl Provider for Apns {
    fn kind(&self) -> PushKind {
        PushKind::Apns
    }

    fn send<'a>(&'a self, delivery: Delivery<'a>) -> Sending<'a> {
        Box::pin(async move {
            match self.send_once(&delivery, false).await {
                // A refused provider token: a new one (if the old is old enough), once.
                Outcome::AuthRefused(_) => match self.send_once(&delivery, true).await {
                    Outcome::AuthRefused(reason) => Outcome::Retry {
                        after: None,
                        reason,
                    },
                    other => other,
                },
                other => other,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    /// The category the alert names is the one the iOS app registers its actions under.
    #[test]
    fn the_category_is_the_ios_apps() {
        let swift = include_str!("../../../ios/Latchkey/Notifications.swift");
        assert!(
            swift.contains(&format!("static let category = \"{}\"", super::CATEGORY)),
            "ios/Latchkey/Notifications.swift names another category"
        );
    }
}
