//! Firebase Cloud Messaging HTTP v1: the service account signs an RS256 JWT, Google's token
//! endpoint trades it for an OAuth2 access token (cached until a minute before it expires,
//! refreshed once on a 401), and `POST {endpoint}/v1/projects/{id}/messages:send` delivers a
//! data-only, high-priority message whose only datum is the challenge id.

use std::time::{SystemTime, UNIX_EPOCH};

use latchkey_protocol::wire::PushKind;
use serde::{Deserialize, Serialize};

use super::{retry_after, Delivery, Outcome, Provider, Sending};

/// Google's OAuth scope for FCM.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// The collapse key: a newer push replaces an undelivered older one (the device lists every
/// waiting request when woken).
pub const COLLAPSE_KEY: &str = "latchkey-signin";

/// The fields of a Firebase service-account JSON file that FCM needs.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    /// The Firebase project.
    pub project_id: String,
    /// Names the key in the JWT header.
    pub private_key_id: String,
    /// PKCS#8 PEM.
    pub private_key: String,
    /// The JWT issuer.
    pub client_email: String,
    /// Where the JWT is traded for an access token.
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// The FCM sender.
pub struct Fcm {
    account: ServiceAccount,
    key: jsonwebtoken::EncodingKey,
    endpoint: String,
    http: reqwest::Client,
    /// The access token.
    token: super::TokenCache,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Fcm {
    /// A sender for `account`, posting to `endpoint` (`https://fcm.googleapis.com`, or a proxy).
    ///
    /// # Errors
    /// The private key does not parse.
    pub fn new(
        account: ServiceAccount,
        endpoint: &str,
        http: reqwest::Client,
    ) -> Result<Self, String> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|e| format!("the FCM service account's private key: {e}"))?;
        Ok(Self {
            account,
            key,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            http,
            token: super::TokenCache::default(),
        })
    }

    /// A valid access token: the cached one, or a new one when it expired or is the one FCM
    /// just `refused` (another send may have replaced it already: then that one is used).
    async fn access_token(&self, refused: Option<&str>) -> Result<String, Outcome> {
        let now = unix_now();
        self.token
            .get(now, refused, async {
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                header.kid = Some(self.account.private_key_id.clone());
                let claims = Claims {
                    iss: &self.account.client_email,
                    scope: SCOPE,
                    aud: &self.account.token_uri,
                    iat: now,
                    exp: now + 3600,
                };
                let assertion = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| {
                    Outcome::Refused(format!("cannot sign the FCM token request: {e}"))
                })?;
                let form = [
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", assertion.as_str()),
                ];
                super::oauth_token(&self.http, &self.account.token_uri, &form, "FCM").await
            })
            .await
    }

    /// One send with the current access token (or a new one if `refused` is the current one);
    /// the outcome and the token used.
    async fn send_once(
        &self,
        delivery: &Delivery<'_>,
        refused: Option<&str>,
    ) -> Result<(Outcome, String), Outcome> {
        let token = self.access_token(refused).await?;
        let used = token.clone();
        let body = serde_json::json!({
            "message": {
                "token": delivery.target.token,
                "data": { "challenge": delivery.challenge.to_string() },
                "android": {
                    "priority": "HIGH",
                    "ttl": format!("{}s", delivery.ttl_secs),
                    "collapse_key": COLLAPSE_KEY,
                },
            }
        });
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.endpoint, self.account.project_id
        );
        let answer = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| Outcome::Retry {
                after: None,
                reason: format!("FCM: {}", e.without_url()),
            })?;
        let status = answer.status().as_u16();
        let after = retry_after(answer.headers(), SystemTime::now());
        if status == 200 {
            return Ok((Outcome::Sent, used));
        }
        let text = answer.text().await.unwrap_or_default();
        let code = error_code(&text);
        let outcome = match (status, code.as_deref()) {
            (401, _) => Outcome::AuthRefused("FCM: access token refused (401)".into()),
            (_, Some("UNREGISTERED")) => Outcome::Gone(format!("FCM {status} UNREGISTERED")),
            // A 404 without UNREGISTERED is a wrong project or endpoint, not a gone token:
            // dropping every device's target over it would be a disaster.
            (404, _) => Outcome::Refused(format!(
                "FCM 404 {}: check the project id and --fcm-endpoint",
                code.unwrap_or_default()
            )),
            (403, Some("SENDER_ID_MISMATCH")) | (_, Some("SENDER_ID_MISMATCH")) => Outcome::Refused(
                "FCM SENDER_ID_MISMATCH: the token belongs to another Firebase project (check the \
                 service account and the app's google-services.json)"
                    .into(),
            ),
            (429, _) | (500..=599, _) => Outcome::Retry {
                after,
                reason: format!("FCM {status} {}", code.unwrap_or_default()),
            },
            _ => Outcome::Refused(format!("FCM {status} {}", code.unwrap_or_default())),
        };
        Ok((outcome, used))
    }
}

/// The `errorCode` of an FCM error body (`error.details[].errorCode`), or its `error.status`.
fn error_code(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let error = v.get("error")?;
    error
        .get("details")
        .and_then(|d| d.as_array())
        .and_then(|d| d.iter().find_map(|e| e.get("errorCode")?.as_str()))
        .or_else(|| error.get("status")?.as_str())
        .map(str::to_owned)
}

impl Provider for Fcm {
    fn kind(&self) -> PushKind {
        PushKind::Fcm
    }

    fn send<'a>(&'a self, delivery: Delivery<'a>) -> Sending<'a> {
        Box::pin(async move {
            match self.send_once(&delivery, None).await {
                // A refused access token (revoked, clock skew): a new one, once.
                Ok((Outcome::AuthRefused(_), used)) => {
                    match self.send_once(&delivery, Some(&used)).await {
                        Ok((Outcome::AuthRefused(reason), _)) => Outcome::Retry {
                            after: None,
                            reason,
                        },
                        Ok((outcome, _)) | Err(outcome) => outcome,
                    }
                }
                Ok((outcome, _)) | Err(outcome) => outcome,
            }
        })
    }
}
