//! Codes people type or scan: uniformly random numbers (the number on the login page, the
//! mailed one-time codes) and the stored form of an enrolment code (its hash; the code itself
//! is never stored).

use latchkey_protocol::b64;
use latchkey_protocol::types::Digest;
use rand_core::{OsRng, RngCore as _};

/// A uniformly random number with exactly `digits` digits (no leading zero).
pub fn random_code(digits: u8) -> String {
    let low = 10u32.pow(u32::from(digits) - 1);
    let span = 10u32.pow(u32::from(digits)) - low;
    let zone = u32::MAX - u32::MAX % span;
    loop {
        let n = OsRng.next_u32();
        if n < zone {
            return (low + n % span).to_string();
        }
    }
}

/// SHA-256 of an enrolment code, as stored (the code itself never is).
pub fn code_hash(code: &[u8]) -> String {
    b64::encode(Digest::of(code).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::random_code;

    /// Exactly `digits` digits, no leading zero, and the whole range in use (2 digits: 10–99;
    /// 8 digits: every leading digit 1–9).
    #[test]
    fn random_codes_have_their_digits_and_cover_the_range() {
        for digits in [2u8, 4, 6, 8] {
            let codes: Vec<String> = (0..3000).map(|_| random_code(digits)).collect();
            for code in &codes {
                assert_eq!(code.len(), usize::from(digits), "{code}");
                assert!(!code.starts_with('0'), "{code}");
                assert!(code.chars().all(|c| c.is_ascii_digit()), "{code}");
            }
            let leading: std::collections::BTreeSet<char> =
                codes.iter().filter_map(|c| c.chars().next()).collect();
            assert_eq!(
                leading.len(),
                9,
                "{digits} digits: leading digits {leading:?}"
            );
        }
        let two: std::collections::BTreeSet<String> = (0..5000).map(|_| random_code(2)).collect();
        assert_eq!(two.len(), 90, "every two-digit number comes up");
    }
}
