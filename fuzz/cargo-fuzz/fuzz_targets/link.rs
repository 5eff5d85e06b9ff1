//! libFuzzer entry for the `link` target (latchkey_fuzz::link).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz::link(data));
