//! libFuzzer entry for the `pin` target (latchkey_fuzz::pin).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz::pin(data));
