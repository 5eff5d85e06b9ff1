//! libFuzzer entry for the `scan` target (latchkey_fuzz::scan).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz::scan(data));
