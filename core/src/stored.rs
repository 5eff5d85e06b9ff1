//! Reading stored JSON files defensively: their `format` first, then only the fields a caller
//! asks for, with errors that never quote the file. Used by the vault and the software signer
//! (each reads its own files; neither depends on the other for this).

use serde::Deserialize;

/// Reads only the `format` field of a stored JSON file, so an unknown version is reported as
/// such rather than as damage. Never returns file content in the error.
pub(crate) fn peek_format(bytes: &[u8]) -> std::result::Result<u32, String> {
    #[derive(Deserialize)]
    struct Peek {
        format: u32,
    }
    peek::<Peek>(bytes).map(|p| p.format)
}

/// Reads only the fields of `T` from a stored JSON file. Never returns file content in the
/// error.
pub(crate) fn peek<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
    serde_json::from_slice::<T>(bytes).map_err(|e| {
        format!(
            "not a readable file: line {} column {}",
            e.line(),
            e.column()
        )
    })
}
