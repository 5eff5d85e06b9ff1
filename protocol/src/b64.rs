//! Base64url without padding: the one binary-to-text encoding of the protocol (and of the
//! device's files).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Encodes bytes as base64url without padding.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; rejects padding, other alphabets and non-canonical
/// trailing bits (so every byte string has exactly one text form).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    (URL_SAFE_NO_PAD.encode(&bytes) == text).then_some(bytes)
}

/// Serde adapter for fixed-length byte arrays as base64url text.
pub(crate) mod array {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = super::decode(&text).ok_or_else(|| D::Error::custom("invalid base64url"))?;
        bytes
            .try_into()
            .map_err(|_| D::Error::custom(format_args!("expected {N} bytes")))
    }
}

/// Serde adapter for byte strings as base64url text.
pub(crate) mod vec {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::decode(&text).ok_or_else(|| D::Error::custom("invalid base64url"))
    }
}

/// Serde adapter for optional byte strings as base64url text.
pub(crate) mod opt_vec {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    #[allow(clippy::ref_option)] // serde's `with` hands over `&Option<_>`
    pub(crate) fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => serializer.serialize_some(&super::encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| super::decode(&text).ok_or_else(|| D::Error::custom("invalid base64url")))
            .transpose()
    }
}

/// Serde adapter for a list of byte strings (a certificate chain) as base64url texts.
pub(crate) mod vec_list {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    #[allow(clippy::ptr_arg)] // serde's `with` hands over `&Vec<_>`
    pub(crate) fn serialize<S: Serializer>(
        list: &Vec<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(list.iter().map(|bytes| super::encode(bytes)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|text| super::decode(text).ok_or_else(|| D::Error::custom("invalid base64url")))
            .collect()
    }
}
