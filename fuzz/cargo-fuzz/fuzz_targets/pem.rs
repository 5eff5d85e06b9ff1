//! libFuzzer entry for the `pem` target (latchkey_fuzz::pem).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz::pem(data));
