//! HTTPS to the server (P5): rustls only, no plain-HTTP path, redirects never followed,
//! hostnames verified, timeouts, and an optional extra trust anchor (a deployment's private
//! CA, the tests' CA).

use std::time::Duration;

use latchkey_protocol::wire::{ErrorBody, ErrorCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// The HTTP client every flow uses.
#[derive(Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
}

impl Client {
    /// Builds the client; `extra_ca_pem` adds trust anchors to the public roots.
    pub(crate) fn new(extra_ca_pem: Option<&[u8]>) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                Error::InvalidInput(format!("the extra CA certificate is not valid PEM: {e}"))
            })?;
            if certs.is_empty() {
                return Err(Error::InvalidInput(
                    "the extra CA file holds no certificate".into(),
                ));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| Error::Network(e.to_string()))?;
        Ok(Self { http })
    }

    /// POSTs JSON to `base` + `path` and decodes the answer or the server's error.
    pub(crate) async fn post<T: Serialize, R: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        body: &T,
        timeout: Duration,
    ) -> Result<R> {
        if !base.starts_with("https://") {
            return Err(Error::ServerUntrusted("plain HTTP is never used".into()));
        }
        let url = format!("{}{}", base, path.trim_start_matches('/'));
        let response = self
            .http
            .post(&url)
            .json(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(map_send_error)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(Error::ServerUntrusted(format!(
                "the server answered with a redirect ({status}), which Latchkey never follows"
            )));
        }
        let bytes = response.bytes().await.map_err(map_send_error)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                Error::Network(format!(
                    "the server's answer was not understood (line {} column {})",
                    e.line(),
                    e.column()
                ))
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(server_error(body)),
            Err(_) => Err(Error::Network(format!("the server answered {status}"))),
        }
    }
}

/// Maps the server's error body to the core's error.
pub(crate) fn server_error(body: ErrorBody) -> Error {
    match body.error {
        ErrorCode::WrongPin => Error::WrongPin {
            attempts_left: body.attempts_left,
        },
        ErrorCode::Locked => Error::Locked,
        ErrorCode::ClockSkew => Error::ClockSkew {
            off_by_secs: body.server_time.and_then(|server| {
                let device = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_secs();
                Some(i64::try_from(device).ok()? - i64::try_from(server).ok()?)
            }),
        },
        code => Error::Server {
            code,
            message: body.message,
            attempts_left: body.attempts_left,
        },
    }
}

/// Whether an error chain (rustls through hyper and reqwest) says the server's certificate was
/// refused: reported as "not trusted" (P5), not as a network failure to retry.
fn untrusted_tls(chain: &str) -> bool {
    let lower = chain.to_lowercase();
    lower.contains("certificate")
        || lower.contains("unknownissuer")
        || lower.contains("tls") && lower.contains("invalid")
}

fn map_send_error(error: reqwest::Error) -> Error {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(e) = source {
        chain.push_str(&e.to_string());
        chain.push_str(": ");
        source = e.source();
    }
    if untrusted_tls(&chain) {
        return Error::ServerUntrusted("its TLS certificate is not trusted".into());
    }
    if error.is_timeout() {
        return Error::Network("the server did not answer in time".into());
    }
    if error.is_connect() {
        return Error::Network("the connection failed".into());
    }
    Error::Network(error.without_url().to_string())
}

#[cfg(test)]
mod tests {
    use super::untrusted_tls;

    #[test]
    fn certificate_refusals_are_told_from_network_failures() {
        for refused in [
            "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer",
            "invalid peer certificate: Expired",
            "received corrupt message: UnknownIssuer",
            "tls handshake eof: InvalidMessage",
        ] {
            assert!(untrusted_tls(refused), "{refused}");
        }
        for network in [
            "error sending request: client error (Connect): tcp connect error: Connection refused",
            "operation timed out",
            "tls handshake eof",
            "invalid HTTP version",
        ] {
            assert!(!untrusted_tls(network), "{network}");
        }
    }
}
