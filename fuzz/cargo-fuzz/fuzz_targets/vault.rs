//! libFuzzer entry for the `vault` target (latchkey_fuzz::vault).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz::vault(data));
