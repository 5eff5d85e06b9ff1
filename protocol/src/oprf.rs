//! The two halves of the OPRF that hardens the PIN: RFC 9497, P256-SHA256, OPRF mode.
//!
//! The device [`blind`]s the PIN and later [`BlindState::finalize`]s the server's answer into
//! the [`OprfOutput`]; the server [`blind_evaluate`]s with its per-device key and learns
//! nothing about the PIN. For a PIN set on the web page the server computes the output
//! directly ([`evaluate`]) and keeps only the [`pin_check`] value.
//!
//! Group arithmetic is the `voprf` crate's (on RustCrypto `p256`); this module only adapts
//! types, wipes outputs and derives the PIN check.

use hkdf::Hkdf;
use p256::NistP256;
use rand_core::CryptoRngCore;
use sha2::Sha256;
use zeroize::Zeroize as _;

use crate::secret::{OprfKey, OprfOutput, Pin, PinCheck};
use crate::signed::Canonical;
use crate::types::{AccountId, DeviceId, Element};

type Client = voprf::OprfClient<NistP256>;
type Server = voprf::OprfServer<NistP256>;

/// Why an OPRF step failed. Deliberately coarse: no detail that could help an attacker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OprfError {
    /// The input was empty or longer than 65535 bytes.
    #[error("invalid OPRF input")]
    Input,
    /// A received element or key did not decode to a valid group element or scalar.
    #[error("invalid OPRF element")]
    Element,
}

/// The device's secret blinding state between [`blind`] and [`BlindState::finalize`].
pub struct BlindState(Client);

impl std::fmt::Debug for BlindState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindState(..)")
    }
}

/// Blinds a PIN for evaluation by the server.
///
/// # Errors
/// [`OprfError::Input`] if the PIN is empty.
pub fn blind(pin: &Pin, rng: &mut impl CryptoRngCore) -> Result<(BlindState, Element), OprfError> {
    // EXPOSE: the PIN is the OPRF input; voprf hashes it to the curve and keeps no copy.
    blind_input(pin.expose_secret().as_bytes(), rng)
}

/// Blinds arbitrary input (the RFC 9497 test vectors use this directly).
///
/// # Errors
/// [`OprfError::Input`] if `input` is empty or longer than 65535 bytes.
pub fn blind_input(
    input: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<(BlindState, Element), OprfError> {
    let result = Client::blind(input, rng).map_err(|_| OprfError::Input)?;
    let element = Element::from_bytes(&result.message.serialize()).ok_or(OprfError::Element)?;
    Ok((BlindState(result.state), element))
}

impl BlindState {
    /// Unblinds the server's evaluation of the PIN into the OPRF output.
    ///
    /// # Errors
    /// [`OprfError::Element`] if `evaluated` is not a valid element.
    pub fn finalize(self, pin: &Pin, evaluated: &Element) -> Result<OprfOutput, OprfError> {
        // EXPOSE: the PIN is hashed into the OPRF output (RFC 9497 Finalize).
        self.finalize_input(pin.expose_secret().as_bytes(), evaluated)
    }

    /// Unblinds for arbitrary input (test vectors).
    ///
    /// # Errors
    /// [`OprfError::Element`] if `evaluated` is not a valid element; [`OprfError::Input`] if the
    /// input is empty.
    pub fn finalize_input(
        self,
        input: &[u8],
        evaluated: &Element,
    ) -> Result<OprfOutput, OprfError> {
        let evaluation = voprf::EvaluationElement::<NistP256>::deserialize(evaluated.as_bytes())
            .map_err(|_| OprfError::Element)?;
        let mut output = self
            .0
            .finalize(input, &evaluation)
            .map_err(|_| OprfError::Input)?;
        Ok(take_output(&mut output))
    }
}

/// The server's half: multiplies the blinded element by the device's OPRF key.
///
/// # Errors
/// [`OprfError::Element`] if the key or element is invalid.
pub fn blind_evaluate(key: &OprfKey, blinded: &Element) -> Result<Element, OprfError> {
    // EXPOSE: the server's OPRF key goes into voprf's evaluator for this one evaluation.
    let server = Server::new_with_key(key.expose_secret()).map_err(|_| OprfError::Element)?;
    let blinded = voprf::BlindedElement::<NistP256>::deserialize(blinded.as_bytes())
        .map_err(|_| OprfError::Element)?;
    let evaluated = server.blind_evaluate(&blinded);
    Element::from_bytes(&evaluated.serialize()).ok_or(OprfError::Element)
}

/// The server computing the OPRF output of a PIN it was given (a PIN set on the web page).
///
/// # Errors
/// [`OprfError::Input`] if the PIN is empty.
pub fn evaluate(key: &OprfKey, pin: &Pin) -> Result<OprfOutput, OprfError> {
    // EXPOSE: the web page handed the server this PIN once; it is hashed and then dropped.
    evaluate_input(key, pin.expose_secret().as_bytes())
}

/// Direct evaluation for arbitrary input (test vectors).
///
/// # Errors
/// [`OprfError::Input`] if `input` is empty or too long.
pub fn evaluate_input(key: &OprfKey, input: &[u8]) -> Result<OprfOutput, OprfError> {
    // EXPOSE: the OPRF key goes into voprf's evaluator (direct evaluation, test vectors and web PINs).
    let server = Server::new_with_key(key.expose_secret()).map_err(|_| OprfError::Element)?;
    let mut output = server.evaluate(input).map_err(|_| OprfError::Input)?;
    Ok(take_output(&mut output))
}

/// The value proving "the PIN typed on the device is the PIN set on the web page":
/// `HKDF-SHA256(salt = "latchkey/v1/pin-check", ikm = output, info = canonical(account, device))`.
pub fn pin_check(output: &OprfOutput, account: &AccountId, device: &DeviceId) -> PinCheck {
    let info = Canonical::new("pin-check")
        .bytes(account.as_bytes())
        .bytes(device.as_bytes())
        .finish();
    // EXPOSE: the OPRF output is the HKDF input key material.
    let hkdf = Hkdf::<Sha256>::new(Some(b"latchkey/v1/pin-check"), output.expose_secret());
    let mut check = vec![0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    if hkdf.expand(&info, &mut check).is_err() {
        unreachable!("HKDF-SHA256 expand of 32 bytes");
    }
    PinCheck::from_bytes(check).unwrap_or_else(|| unreachable!("32-byte PIN check"))
}

fn take_output<T: AsRef<[u8]> + AsMut<[u8]>>(output: &mut T) -> OprfOutput {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(output.as_ref());
    output.as_mut().zeroize();
    OprfOutput(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p9_blind_state_debug_is_redacted() {
        let (state, _) = blind(&Pin::new("4831"), &mut rand_core::OsRng).expect("blind");
        assert_eq!(format!("{state:?}"), "BlindState(..)");
    }

    #[test]
    fn blind_evaluate_finalize_matches_direct_evaluation() {
        let key = OprfKey::generate(&mut rand_core::OsRng);
        let pin = Pin::new("4831");
        let (state, blinded) = blind(&pin, &mut rand_core::OsRng).expect("blind");
        let evaluated = blind_evaluate(&key, &blinded).expect("evaluate");
        let output = state.finalize(&pin, &evaluated).expect("finalize");
        let direct = evaluate(&key, &pin).expect("direct");
        assert_eq!(output.expose_secret(), direct.expose_secret());
        let other = evaluate(&key, &Pin::new("4832")).expect("direct");
        assert_ne!(output.expose_secret(), other.expose_secret());
    }

    #[test]
    fn pin_check_binds_account_and_device() {
        let key = OprfKey::generate(&mut rand_core::OsRng);
        let output = evaluate(&key, &Pin::new("4831")).expect("direct");
        let (a, d) = (
            AccountId::from_bytes([1; 16]),
            DeviceId::from_bytes([2; 16]),
        );
        let check = pin_check(&output, &a, &d);
        assert!(check.ct_eq(&pin_check(&output, &a, &d)));
        assert!(!check.ct_eq(&pin_check(&output, &a, &DeviceId::from_bytes([3; 16]))));
    }
}
