//! Web Push / UnifiedPush (RFC 8030): the body `{"challenge":"<id>"}` encrypted for the
//! subscription (RFC 8291, `aes128gcm`, by `web-push-native`), `TTL` = the time the challenge
//! has left, `Urgency: high`, a `Topic` so a newer push replaces an undelivered one, and a
//! VAPID authorization (RFC 8292: an ES256 JWT for the endpoint's origin, signed with the
//! server's VAPID key, by `jsonwebtoken`).
//!
//! Endpoints come from devices, so the sender is an open door to wherever they point: an
//! endpoint must be `https`, and its host must not resolve to a loopback, private, link-local
//! or otherwise internal address unless the operator allowed that host by name.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use latchkey_protocol::wire::PushKind;
use p256::pkcs8::EncodePrivateKey as _;
use serde::Serialize;

use super::{retry_after, Delivery, Outcome, Provider, Sending};

/// The topic every push carries (base64url, at most 32 characters).
pub const TOPIC: &str = "latchkey-signin";
/// How long a VAPID JWT is valid (RFC 8292: at most 24 hours).
const VAPID_LIFETIME: u64 = 12 * 3600;

/// The Web Push sender.
pub struct WebPush {
    key: jsonwebtoken::EncodingKey,
    /// The VAPID public key, uncompressed, base64url (the `k=` of the authorization).
    public_b64: String,
    subject: String,
    allow_hosts: Vec<String>,
    http: reqwest::Client,
}

#[derive(Serialize)]
struct VapidClaims<'a> {
    aud: &'a str,
    exp: u64,
    sub: &'a str,
}

/// Whether an address is one a push endpoint must never reach.
fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // 100.64/10, CGNAT
                || v4.octets()[0] == 0 // 0/8
                || v4.octets()[0] >= 240 // 240/4, reserved
                || v4.octets()[0] == 198 && (v4.octets()[1] & 0xfe) == 18 // 198.18/15
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local
                || (v6.segments()[0] & 0xffc0) == 0xfec0 // site local
                || v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] // NAT64
                || v6.segments()[0] == 0x2002 // 6to4
                || v6.segments()[..6] == [0; 6] // IPv4-compatible
                || v6.to_ipv4_mapped().is_some_and(|v4| internal(IpAddr::V4(v4)))
        }
    }
}

/// Resolves endpoint hosts for the Web Push client and drops internal addresses (unless the
/// host is allowed by name): the address checked is the address connected to, so a name that
/// answers a public address to the check and an internal one to the connection gets nowhere.
pub struct GuardedResolver {
    /// Hosts allowed to resolve to internal addresses.
    pub allow_hosts: Vec<String>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let allowed = self
            .allow_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host));
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allowed || !internal(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether a device may register `endpoint`: an `https` URL whose host, when written as an
/// address, is not internal (names are checked when resolved, at each send).
pub fn endpoint_acceptable(endpoint: &str, allow_hosts: &[String]) -> bool {
    let Ok(url) = reqwest::Url::parse(endpoint) else {
        return false;
    };
    let literal = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(url::Host::Domain(_)) => None,
        None => return false,
    };
    url.scheme() == "https"
        && url.username().is_empty()
        && url.password().is_none()
        && (literal.is_none_or(|ip| !internal(ip))
            || allow_hosts
                .iter()
                .any(|h| url.host_str().is_some_and(|u| h.eq_ignore_ascii_case(u))))
}

impl WebPush {
    /// A sender signing VAPID with the raw 32-byte P-256 private key `vapid_private`, naming
    /// `subject` (`mailto:` or `https:`) as its contact. `allow_hosts` may resolve to internal
    /// addresses (an on-premises distributor; the tests' loopback fake).
    ///
    /// # Errors
    /// The key is not a P-256 private key, or the subject is not `mailto:`/`https:`.
    pub fn new(
        vapid_private: &[u8],
        subject: &str,
        allow_hosts: Vec<String>,
        http: reqwest::Client,
    ) -> Result<Self, String> {
        if !(subject.starts_with("mailto:") || subject.starts_with("https://")) {
            return Err("the VAPID subject must be a mailto: or https: URL".into());
        }
        let secret = p256::SecretKey::from_slice(vapid_private)
            .map_err(|_| "the VAPID key is not a 32-byte P-256 private key".to_owned())?;
        let der = secret
            .to_pkcs8_der()
            .map_err(|e| format!("the VAPID key: {e}"))?;
        let public = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
            &secret.public_key(),
            false,
        );
        Ok(Self {
            key: jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()),
            public_b64: latchkey_protocol::b64::encode(public.as_bytes()),
            subject: subject.to_owned(),
            allow_hosts,
            http,
        })
    }

    /// The VAPID public key a subscription names (`applicationServerKey`), base64url.
    pub fn public_key(&self) -> &str {
        &self.public_b64
    }

    /// Refuses endpoints that would make the server reach inside its own network.
    async fn check_endpoint(&self, url: &reqwest::Url) -> Result<(), Outcome> {
        if url.scheme() != "https" {
            return Err(Outcome::Refused("Web Push endpoint is not https".into()));
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        if self
            .allow_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host))
        {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| Outcome::Retry {
                after: None,
                reason: format!("Web Push endpoint host: {e}"),
            })?;
        for addr in addrs {
            if internal(addr.ip()) {
                return Err(Outcome::Refused(format!(
                    "Web Push endpoint {host} resolves to an internal address"
                )));
            }
        }
        Ok(())
    }
}

impl Provider for WebPush {
    fn kind(&self) -> PushKind {
        PushKind::Webpush
    }

    fn vapid_public_key(&self) -> Option<String> {
        Some(self.public_b64.clone())
    }

    fn accepts(&self, token: &str) -> bool {
        endpoint_acceptable(token, &self.allow_hosts)
    }

    fn send<'a>(&'a self, delivery: Delivery<'a>) -> Sending<'a> {
        Box::pin(async move {
            let target = delivery.target;
            let Ok(url) = reqwest::Url::parse(&target.token) else {
                return Outcome::Gone("the Web Push endpoint is not a URL".into());
            };
            if let Err(outcome) = self.check_endpoint(&url).await {
                return outcome;
            }
            let (Some(p256dh), Some(auth)) = (&target.p256dh, &target.auth) else {
                return Outcome::Gone("the Web Push target has no keys".into());
            };
            let Ok(ua_public) = p256::PublicKey::from_sec1_bytes(p256dh) else {
                return Outcome::Gone("the subscription's p256dh is not a P-256 point".into());
            };
            let Ok(auth) = <[u8; 16]>::try_from(auth.as_slice()) else {
                return Outcome::Gone("the subscription's auth secret is not 16 bytes".into());
            };
            let auth = web_push_native::Auth::from(auth);
            // Serialising one id cannot fail.
            let body = serde_json::to_string(&latchkey_protocol::wire::PushPayload {
                challenge: *delivery.challenge,
            })
            .unwrap_or_default();
            let payload = match web_push_native::encrypt(body.into_bytes(), &ua_public, &auth) {
                Ok(payload) => payload,
                Err(e) => return Outcome::Refused(format!("Web Push encryption: {e}")),
            };
            let origin = url.origin().ascii_serialization();
            let exp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                + VAPID_LIFETIME;
            let claims = VapidClaims {
                aud: &origin,
                exp,
                sub: &self.subject,
            };
            let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            let jwt = match jsonwebtoken::encode(&header, &claims, &self.key) {
                Ok(jwt) => jwt,
                Err(e) => return Outcome::Refused(format!("VAPID signature: {e}")),
            };
            let answer = self
                .http
                .post(url)
                .header("TTL", delivery.ttl_secs.to_string())
                .header("Urgency", "high")
                .header("Topic", TOPIC)
                .header("Content-Encoding", "aes128gcm")
                .header("Content-Type", "application/octet-stream")
                .header(
                    "Authorization",
                    format!("vapid t={jwt}, k={}", self.public_b64),
                )
                .body(payload)
                .send()
                .await;
            let answer = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    return Outcome::Retry {
                        after: None,
                        reason: format!("Web Push: {}", e.without_url()),
                    }
                }
            };
            let status = answer.status().as_u16();
            let after = retry_after(answer.headers(), SystemTime::now());
            match status {
                200..=202 => Outcome::Sent,
                404 | 410 => Outcome::Gone(format!("Web Push {status}: subscription gone")),
                429 | 500..=599 => Outcome::Retry {
                    after: after.or(Some(Duration::from_secs(1)).filter(|_| status == 429)),
                    reason: format!("Web Push {status}"),
                },
                _ => Outcome::Refused(format!("Web Push {status}")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                internal(ip.parse().unwrap_or_else(|_| panic!("{ip}"))),
                "{ip}"
            );
        }
        for ip in ["8.8.8.8", "142.250.1.1", "2606:4700::1111"] {
            assert!(
                !internal(ip.parse().unwrap_or_else(|_| panic!("{ip}"))),
                "{ip}"
            );
        }
    }
}
