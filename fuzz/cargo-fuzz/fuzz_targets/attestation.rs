//! libFuzzer entry for the `attestation` target (latchkey_fuzz::attestation).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz::attestation(data));
