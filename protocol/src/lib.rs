//! Latchkey protocol: everything the device and the server must agree on, and nothing else.
//!
//! This crate is pure: no I/O, no async, no clock. Both `latchkey-core` (the device) and the
//! reference server depend on it.
//!
//! - [`link`]: the enrolment link carried by the "Add a device" QR code.
//! - [`wire`]: the JSON messages of every exchange.
//! - [`signed`]: the canonical, domain-separated bytes that get signed (never JSON text).
//! - [`oprf`]: the two halves of the RFC 9497 P256-SHA256 OPRF that hardens the PIN.
//! - [`pin`]: the PIN policy with its blocklist.
//! - [`secret`]: zeroizing newtypes for every secret that crosses this crate.
//! - [`types`]: identifiers, keys, signatures and digests as they appear on the wire.
#![forbid(unsafe_code)]

pub mod b64;
pub mod link;
pub mod oprf;
pub mod pin;
pub mod secret;
pub mod signed;
pub mod types;
pub mod wire;

/// The protocol version this crate speaks. It appears in the enrolment link, in every wire
/// message and in every domain-separation tag of the signed bytes.
pub const PROTOCOL_VERSION: u8 = 1;
