//! The PIN policy (P8): four digits by default, six allowed, and a blocklist of the PINs people
//! pick most.
//!
//! Why a blocklist: with five guesses and no blocklist, an attacker trying the five most
//! common four-digit PINs (1234, 1111, 0000, 1212, 7777) opens roughly one account in five
//! (Berry's 3.4-million-PIN study; Bonneau et al., "A birthday present every eleven wallets?",
//! 2012). Refusing these shapes flattens the distribution an attacker can exploit:
//!
//! | refusal | four-digit examples | why |
//! |---|---|---|
//! | [`PinRefusal::Repeated`] | 0000, 1111, 7777 | one digit repeated: top of every leaked list |
//! | [`PinRefusal::Sequence`] | 1234, 4321, 0123, 6789, 8901 | runs up or down, with wrap-around |
//! | [`PinRefusal::Pattern`] | 1212, 6969, 1122, 1221, 1010 | two digits in pairs or mirrored |
//! | [`PinRefusal::Year`] | 1987, 2004 | 19xx and 20xx: birth years and anniversaries |
//! | [`PinRefusal::KeypadPattern`] | 2580, 1470, 1379, 2468, 1590 | lines and shapes on the keypad |
//! | [`PinRefusal::Common`] | 1004, 1231, 0007, 4869 | other entries of the most common lists |
//!
//! For six digits the same shapes apply (111111, 123456, 121212, 112233, 123123, 147258,
//! 198712 year-prefixed) plus common six-digit PINs (102030, 142536, 112358).
//! `p8_pin_blocklist` checks the table and counts how much of the space is refused.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::secret::Pin;

/// A deployment's PIN policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinPolicy {
    /// 4 (default) or 6.
    pub digits: u8,
}

impl Default for PinPolicy {
    fn default() -> Self {
        Self { digits: 4 }
    }
}

/// Why a PIN was refused. The message says what to do instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinRefusal {
    /// Not exactly the required number of characters.
    #[error("the PIN must have exactly {expected} digits")]
    WrongLength {
        /// The policy's length.
        expected: u8,
    },
    /// Contains something other than the digits 0–9.
    #[error("the PIN may contain only the digits 0 to 9")]
    NotDigits,
    /// One digit repeated (0000).
    #[error("the PIN repeats one digit; choose digits that are not all the same")]
    Repeated,
    /// A run up or down (1234, 9876).
    #[error("the PIN is a sequence such as 1234 or 4321; choose one that is hard to guess")]
    Sequence,
    /// Repeated or mirrored pairs (1212, 1122, 1221, 123123).
    #[error(
        "the PIN repeats a short pattern such as 1212 or 1122; choose one that is hard to guess"
    )]
    Pattern,
    /// Looks like a year (19xx, 20xx).
    #[error("the PIN looks like a year; choose one that is not a date")]
    Year,
    /// A line or shape on the keypad (2580, 1379).
    #[error("the PIN is a line or shape on the keypad; choose one that is hard to guess")]
    KeypadPattern,
    /// On the list of most common PINs.
    #[error("the PIN is one of the most common PINs; choose one that is hard to guess")]
    Common,
    /// The policy itself is invalid (only 4 or 6 digits are supported).
    #[error("the PIN policy asks for {digits} digits; only 4 or 6 are supported")]
    UnsupportedPolicy {
        /// The configured length.
        digits: u8,
    },
}

/// Common four-digit PINs not caught by the shape rules (from the published top-100 lists).
const COMMON_4: &[&str] = &[
    "1004", "1231", "0007", "4869", "1123", "1230", "0911", "1225", "0420", "1024", "0069", "4200",
    "3141", "5683", "1017", "1125",
];

/// Common six-digit PINs not caught by the shape rules.
const COMMON_6: &[&str] = &[
    "102030", "000007", "142536", "121314", "112358", "131415", "010203", "246810", "100200",
];

/// Lines and shapes on a phone keypad (1 2 3 / 4 5 6 / 7 8 9 / _ 0 _), both directions.
const KEYPAD_4: &[&str] = &[
    "2580", "0852", "1470", "0741", "3690", "0963", "1478", "8741", "3698", "8963", "1236", "6321",
    "7896", "6987", "1379", "9731", "1397", "7931", "3179", "9713", "7913", "3197", "2468", "8642",
    "1357", "7531", "1590", "0951", "3570", "0753", "1793", "3971", "7139", "9317", "2684", "4862",
    "1595", "7535", "1258", "8521", "3256", "6523", "7415", "9635", "1593", "3571", "7539", "9517",
    "1739", "5280", "4560", "6540", "0258", "8520", "7410", "9630", "0147", "0369",
];

impl PinPolicy {
    /// Checks a PIN against the policy.
    ///
    /// # Errors
    /// The first [`PinRefusal`] that applies.
    pub fn check(&self, pin: &Pin) -> Result<(), PinRefusal> {
        if self.digits != 4 && self.digits != 6 {
            return Err(PinRefusal::UnsupportedPolicy {
                digits: self.digits,
            });
        }
        // EXPOSE: the policy reads the digits; nothing is copied out of this function.
        let text = pin.expose_secret();
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PinRefusal::NotDigits);
        }
        if text.len() != usize::from(self.digits) {
            return Err(PinRefusal::WrongLength {
                expected: self.digits,
            });
        }
        classify(text, &Digits::of(text))
    }
}

/// The PIN's digits as numbers (0–9), wiped when dropped: they are the PIN (P9).
struct Digits(Zeroizing<Vec<u8>>);

impl Digits {
    /// `text` holds ASCII digits only (checked by the caller).
    fn of(text: &str) -> Self {
        Self(Zeroizing::new(text.bytes().map(|b| b - b'0').collect()))
    }
}

impl std::ops::Deref for Digits {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl zeroize::ZeroizeOnDrop for Digits {}

fn classify(text: &str, d: &[u8]) -> Result<(), PinRefusal> {
    if d.iter().all(|&x| x == d[0]) {
        return Err(PinRefusal::Repeated);
    }
    if is_sequence(d) {
        return Err(PinRefusal::Sequence);
    }
    if is_pattern(d) {
        return Err(PinRefusal::Pattern);
    }
    if (text.starts_with("19") || text.starts_with("20")) && (d.len() == 4 || is_year_date(d)) {
        return Err(PinRefusal::Year);
    }
    let keypad = match d.len() {
        4 => KEYPAD_4.contains(&text),
        _ => is_keypad_6(text),
    };
    if keypad {
        return Err(PinRefusal::KeypadPattern);
    }
    let common = if d.len() == 4 { COMMON_4 } else { COMMON_6 };
    if common.contains(&text) {
        return Err(PinRefusal::Common);
    }
    Ok(())
}

/// Every step +1 or every step −1, modulo 10 (so 8901 and 1098 count).
fn is_sequence(d: &[u8]) -> bool {
    // The steps between digits say as much as the digits: wiped too.
    let steps: Zeroizing<Vec<u8>> =
        Zeroizing::new(d.windows(2).map(|w| (w[1] + 10 - w[0]) % 10).collect());
    steps.iter().all(|&s| s == 1) || steps.iter().all(|&s| s == 9)
}

/// ABAB, AABB, ABBA (four digits); ABABAB, AABBCC, ABCABC, ABCCBA, AAABBB (six digits).
fn is_pattern(d: &[u8]) -> bool {
    match d.len() {
        4 => {
            (d[0] == d[2] && d[1] == d[3])
                || (d[0] == d[1] && d[2] == d[3])
                || (d[0] == d[3] && d[1] == d[2])
        }
        6 => {
            d[..2] == d[2..4] && d[2..4] == d[4..]
                || (d[0] == d[1] && d[2] == d[3] && d[4] == d[5])
                || d[..3] == d[3..]
                || (d[0] == d[5] && d[1] == d[4] && d[2] == d[3])
                || (d[0] == d[1] && d[1] == d[2] && d[3] == d[4] && d[4] == d[5])
        }
        _ => false,
    }
}

/// Six digits starting with a year and followed by a month (19xxMM / 20xxMM).
fn is_year_date(d: &[u8]) -> bool {
    let month = d[4] * 10 + d[5];
    (1..=12).contains(&month)
}

/// Six-digit keypad shapes: two three-key lines (147258, 123456 is a sequence), columns.
fn is_keypad_6(text: &str) -> bool {
    const LINES: &[&str] = &[
        "123", "456", "789", "147", "258", "369", "159", "357", "321", "654", "987", "741", "852",
        "963", "951", "753",
    ];
    let (a, b) = text.split_at(3);
    LINES.contains(&a) && LINES.contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(digits: u8, pin: &str) -> Option<PinRefusal> {
        PinPolicy { digits }.check(&Pin::new(pin)).err()
    }

    #[test]
    fn p8_pin_blocklist() {
        // The five most common PINs, each refused for its own reason.
        assert_eq!(refusal(4, "1234"), Some(PinRefusal::Sequence));
        assert_eq!(refusal(4, "1111"), Some(PinRefusal::Repeated));
        assert_eq!(refusal(4, "0000"), Some(PinRefusal::Repeated));
        assert_eq!(refusal(4, "1212"), Some(PinRefusal::Pattern));
        assert_eq!(refusal(4, "7777"), Some(PinRefusal::Repeated));
        // Every shape in DESIGN.md P8.
        for seq in ["4321", "0123", "6789", "8901", "2109", "9876"] {
            assert_eq!(refusal(4, seq), Some(PinRefusal::Sequence), "{seq}");
        }
        for pat in ["1122", "1221", "6969", "1010", "1313"] {
            assert_eq!(refusal(4, pat), Some(PinRefusal::Pattern), "{pat}");
        }
        for year in ["1900", "1987", "1999", "2000", "2004", "2026", "2099"] {
            assert_eq!(refusal(4, year), Some(PinRefusal::Year), "{year}");
        }
        for keypad in [
            "2580", "0852", "1470", "3690", "1379", "2468", "1590", "7410",
        ] {
            assert_eq!(
                refusal(4, keypad),
                Some(PinRefusal::KeypadPattern),
                "{keypad}"
            );
        }
        assert_eq!(refusal(4, "1004"), Some(PinRefusal::Common));
        // Length and character rules.
        assert_eq!(
            refusal(4, "123"),
            Some(PinRefusal::WrongLength { expected: 4 })
        );
        assert_eq!(
            refusal(4, "48315"),
            Some(PinRefusal::WrongLength { expected: 4 })
        );
        assert_eq!(refusal(4, "48a1"), Some(PinRefusal::NotDigits));
        assert_eq!(refusal(4, "４８３１"), Some(PinRefusal::NotDigits));
        assert_eq!(
            refusal(5, "48315"),
            Some(PinRefusal::UnsupportedPolicy { digits: 5 })
        );
        // Ordinary PINs pass.
        for ok in ["4831", "7292", "5038", "8146", "3905"] {
            assert_eq!(refusal(4, ok), None, "{ok}");
        }
        // Six digits.
        assert_eq!(refusal(6, "123456"), Some(PinRefusal::Sequence));
        assert_eq!(refusal(6, "111111"), Some(PinRefusal::Repeated));
        assert_eq!(refusal(6, "121212"), Some(PinRefusal::Pattern));
        assert_eq!(refusal(6, "112233"), Some(PinRefusal::Pattern));
        assert_eq!(refusal(6, "123123"), Some(PinRefusal::Pattern));
        assert_eq!(refusal(6, "147258"), Some(PinRefusal::KeypadPattern));
        assert_eq!(refusal(6, "198712"), Some(PinRefusal::Year));
        assert_eq!(refusal(6, "102030"), Some(PinRefusal::Common));
        // Each listed entry is there because no shape rule catches it.
        for pin in COMMON_4 {
            assert_eq!(refusal(4, pin), Some(PinRefusal::Common), "{pin}");
        }
        for pin in COMMON_6 {
            assert_eq!(refusal(6, pin), Some(PinRefusal::Common), "{pin}");
        }
        for pin in KEYPAD_4 {
            assert_eq!(refusal(4, pin), Some(PinRefusal::KeypadPattern), "{pin}");
        }
        assert_eq!(refusal(6, "483150"), None);
        // Every six-digit shape on its own (found uncovered by mutation testing).
        assert_eq!(refusal(6, "123321"), Some(PinRefusal::Pattern));
        assert_eq!(refusal(6, "111222"), Some(PinRefusal::Pattern));
        assert_eq!(refusal(6, "199001"), Some(PinRefusal::Year));
        assert_eq!(refusal(6, "199013"), None, "13 is no month");
        assert_eq!(refusal(6, "123907"), None, "one keypad line is not a shape");
        assert_eq!(
            refusal(6, "4831"),
            Some(PinRefusal::WrongLength { expected: 6 })
        );

        // The blocklist refuses a small, documented share of the space (docs/PROTOCOL.md).
        let refused = (0..10_000)
            .filter(|n| refusal(4, &format!("{n:04}")).is_some())
            .count();
        assert_eq!(refused, BLOCKED_4, "update docs/PROTOCOL.md and BLOCKED_4");
    }

    /// The digits the blocklist reads are held in a buffer that wipes itself (P9); a plain
    /// `Vec<u8>` there would not compile here.
    #[test]
    fn p9_pin_digits_are_wiped() {
        fn wipes_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
        let digits = Digits::of("4831");
        wipes_on_drop(&digits);
        wipes_on_drop(&digits.0);
        assert_eq!(&*digits, &[4, 8, 3, 1]);
    }

    /// How many of the 10,000 four-digit PINs the policy refuses (documented in PROTOCOL.md).
    const BLOCKED_4: usize = 570;
}
