//! `uniffi-bindgen` for `latchkey-ffi`: generates Kotlin, Swift and Python from the built
//! library (`bindings/generate.sh`). A separate crate so the library never links the CLI.

fn main() {
    uniffi::uniffi_bindgen_main();
}
