//! libFuzzer entry for the `wire` target (latchkey_fuzz::wire).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz::wire(data));
