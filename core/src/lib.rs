//! Latchkey core.
#![forbid(unsafe_code)]
