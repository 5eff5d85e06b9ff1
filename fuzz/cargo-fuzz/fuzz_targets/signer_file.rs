//! libFuzzer entry for the `signer_file` target (latchkey_fuzz::signer_file).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz::signer_file(data));
